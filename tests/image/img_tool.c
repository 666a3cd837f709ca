/* img_tool.c - test helper exposing the image stages alone (used by the Python image tests).
 *   img_tool decode IMAGE OUT.npy                          -> [h, w, 3] float32 in [0, 1] (mm_image_get_rgb)
 *   img_tool preprocess IMAGE OUT.npy S MODE m0 m1 m2 s0 s1 s2   -> [3, S, S] normalised
 *   img_tool rgb8 IMAGE OUT.npy drop|white                  -> [h, w, 3] 8-bit RGB values (mm_image_to_rgb8)
 *   img_tool resize IN.npy OUT.npy OW OH bilinear|bicubic|lanczos -> [OH, OW, 3] (mm_image_resize_rgb8 of the
 *                                                              [h, w, 3] float32 values 0..255 in IN.npy)
 *   img_tool process IMAGE OUT.npy plain|llava|idefics3 S LONGEST MAX_TILES
 *                                                            -> [n, 3, S, S]; prints "rows cols" on stdout
 * Exit 0 on success, 3 with the error on stderr when the library refuses the input, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_image.h"

int main(int argc, char **argv) {
    char err[MM_ERR_SIZE];
    if (argc >= 4 && !strcmp(argv[1], "decode")) {
        mm_image img;
        if (mm_image_load_file(argv[2], &img, err)) {
            fprintf(stderr, "%s\n", err);
            return 3;
        }
        int64_t shp[3] = {img.h, img.w, 3};
        float *rgb = malloc((size_t)img.w * img.h * 3 * sizeof(float));
        if (rgb) mm_image_get_rgb(&img, 0, 0, img.w, img.h, rgb);
        int rc = rgb ? mm_npy_write(argv[3], rgb, 3, shp, err) : mm_err(err, "out of memory");
        if (rc) fprintf(stderr, "%s\n", err);
        free(rgb);
        mm_image_free(&img);
        return rc ? 5 : 0;
    }
    if (argc >= 12 && !strcmp(argv[1], "preprocess")) {
        mm_image_preproc pp;
        pp.image_size = atoi(argv[4]);
        int md = mm_resize_mode_from_name(argv[5], strlen(argv[5]));
        if (md < 0) return 2;
        pp.mode = (mm_resize_mode)md;
        for (int c = 0; c < 3; c++) {
            pp.mean[c] = strtof(argv[6 + c], NULL);
            pp.std[c] = strtof(argv[9 + c], NULL);
        }
        mm_image img;
        if (mm_image_load_file(argv[2], &img, err)) {
            fprintf(stderr, "%s\n", err);
            return 3;
        }
        const int S = pp.image_size;
        float *out = malloc((size_t)3 * S * S * sizeof(float));
        int rc = out ? mm_image_preprocess(&img, &pp, out, err) : -1;
        if (rc == 0) {
            int64_t shp[3] = {3, S, S};
            rc = mm_npy_write(argv[3], out, 3, shp, err);
        }
        if (rc) fprintf(stderr, "%s\n", err);
        free(out);
        mm_image_free(&img);
        return rc ? 3 : 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "rgb8")) {
        mm_image img;
        if (mm_image_load_file(argv[2], &img, err)) {
            fprintf(stderr, "%s\n", err);
            return 3;
        }
        const size_t n = (size_t)img.w * img.h * 3;
        uint8_t *b = malloc(n);
        float *f = malloc(n * sizeof(float));
        int rc = b && f ? mm_image_to_rgb8(&img, strcmp(argv[4], "white") ? MM_ALPHA_DROP : MM_ALPHA_WHITE, b, err)
                        : mm_err(err, "out of memory");
        if (rc == 0) {
            for (size_t i = 0; i < n; i++) f[i] = b[i];
            int64_t shp[3] = {img.h, img.w, 3};
            rc = mm_npy_write(argv[3], f, 3, shp, err);
        }
        if (rc) fprintf(stderr, "%s\n", err);
        free(b);
        free(f);
        mm_image_free(&img);
        return rc ? 3 : 0;
    }
    if (argc >= 7 && !strcmp(argv[1], "resize")) {
        float *f = NULL;
        int nd = 0;
        int64_t shp[4];
        if (mm_npy_read(argv[2], &f, &nd, shp, err) || nd != 3 || shp[2] != 3) {
            fprintf(stderr, "resize: %s\n", nd == 3 ? err : "input must be [h, w, 3]");
            free(f);
            return 3;
        }
        const int w = (int)shp[1], h = (int)shp[0], ow = atoi(argv[4]), oh = atoi(argv[5]);
        const mm_resample_filter flt = !strcmp(argv[6], "bilinear") ? MM_RESAMPLE_BILINEAR
                                       : !strcmp(argv[6], "bicubic") ? MM_RESAMPLE_BICUBIC : MM_RESAMPLE_LANCZOS;
        uint8_t *src = malloc((size_t)w * h * 3), *dst = malloc((size_t)(ow > 0 ? ow : 1) * (oh > 0 ? oh : 1) * 3);
        float *o = malloc((size_t)(ow > 0 ? ow : 1) * (oh > 0 ? oh : 1) * 3 * sizeof(float));
        int rc = src && dst && o ? 0 : mm_err(err, "out of memory");
        if (rc == 0) {
            for (size_t i = 0; i < (size_t)w * h * 3; i++) src[i] = (uint8_t)f[i];
            rc = mm_image_resize_rgb8(src, w, h, dst, ow, oh, flt, err);
        }
        if (rc == 0) {
            for (size_t i = 0; i < (size_t)ow * oh * 3; i++) o[i] = dst[i];
            int64_t os[3] = {oh, ow, 3};
            rc = mm_npy_write(argv[3], o, 3, os, err);
        }
        if (rc) fprintf(stderr, "%s\n", err);
        free(f);
        free(src);
        free(dst);
        free(o);
        return rc ? 3 : 0;
    }
    if (argc >= 8 && !strcmp(argv[1], "process")) {
        const mm_image_proc_kind kind = !strcmp(argv[4], "llava")      ? MM_IMGPROC_LLAVA
                                        : !strcmp(argv[4], "idefics3") ? MM_IMGPROC_IDEFICS3 : MM_IMGPROC_PLAIN;
        mm_image_proc_params p = mm_image_proc_default_params(kind);
        p.size = atoi(argv[5]);
        p.longest_edge = atoi(argv[6]);
        p.max_tiles = atoi(argv[7]);
        mm_image img;
        if (mm_image_load_file(argv[2], &img, err)) {
            fprintf(stderr, "%s\n", err);
            return 3;
        }
        mm_image_tiles t;
        int rc = mm_image_process(&img, &p, &t, err);
        if (rc == 0) {
            int64_t shp[4] = {t.n_images, 3, t.size, t.size};
            rc = mm_npy_write(argv[3], t.pixels, 4, shp, err);
            printf("%d %d\n", t.n_rows, t.n_cols);
        }
        if (rc) fprintf(stderr, "%s\n", err);
        mm_image_tiles_free(&t);
        mm_image_free(&img);
        return rc ? 3 : 0;
    }
    fprintf(stderr, "usage: img_tool decode IMAGE OUT.npy | preprocess IMAGE OUT.npy S MODE m0 m1 m2 s0 s1 s2 | rgb8 | resize | process "
                    "(see img_tool.c)\n");
    return 2;
}
