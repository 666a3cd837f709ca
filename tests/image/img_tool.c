/* img_tool.c - test helper exposing the image stages alone (used by the Python image tests).
 *   img_tool decode IMAGE OUT.npy                          -> [h, w, 3] float32 in [0, 1] (mm_image_get_rgb)
 *   img_tool preprocess IMAGE OUT.npy S MODE m0 m1 m2 s0 s1 s2   -> [3, S, S] normalised
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
    fprintf(stderr, "usage: img_tool decode IMAGE OUT.npy | preprocess IMAGE OUT.npy S MODE m0 m1 m2 s0 s1 s2\n");
    return 2;
}
