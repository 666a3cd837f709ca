/* cmd_encode_image.c - `mmgpt encode-image -m MODEL IMAGE -o OUT.npy [--preprocessed PRE.npy]
 * [--projected PROJ.npy]`: ViT encoder output [n_tokens, d_enc] (before the projector), the normalised pixels
 * and the projector's rows [n_rows, d_out], each as float32 .npy. MODEL may be a llama.cpp mmproj file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "mm_fusion.h"
#include "mm_gguf.h"
#include "mm_image.h"

static int encode_image(mm_task_opts *o) {
    const char *in = mm_cli_input(o->pos[0]), *outp = o->out, *prep = o->preprocessed, *projp = o->projected;
    if (!outp) return mm_cli_fail(MM_EXIT_USAGE, "encode-image: no output given (-o OUT.npy)");
    const char *model_path = o->mmproj ? o->mmproj : mm_cli_model_path(o->model);
    if (!model_path) return MM_EXIT_MODEL;

    char err[MM_ERR_SIZE];
    int rc = MM_EXIT_OK;
    mm_gguf *g = NULL;
    mm_vit_model *m = NULL;
    mm_vit_state *st = NULL;
    mm_pool *pool = NULL;
    float *pix = NULL, *out = NULL, *proj = NULL;
    void *proj_scratch = NULL;
    mm_projector pj = {0};
    mm_image img = {0};

    double t0 = mm_time_ms();
    if (!(g = mm_gguf_open(model_path, err))) {
        rc = mm_cli_fail(MM_EXIT_MODEL, "%s", err);
        goto done;
    }
    if (!(m = mm_vit_model_load(g, err))) {
        rc = mm_cli_fail(MM_EXIT_MODEL, "%s", err); /* the loader names the file */
        goto done;
    }
    if (projp && mm_projector_load(&pj, g, MMGPT_MEDIA_IMAGE, mm_vit_d_enc(m), 0, err)) {
        rc = mm_cli_fail(MM_EXIT_MODEL, "%s", err);
        goto done;
    }
    const int64_t n_patch = mm_vit_n_tokens(m) - (mm_vit_has_cls(m) ? 1 : 0);
    if (projp && pj.merge > 1 && n_patch != pj.grid * pj.grid) {
        rc = mm_cli_fail(MM_EXIT_MODEL, "%s: the image encoder gives %lld patch rows, not the %lld x %lld grid that "
                         "clip.vision.projector.scale_factor merges", model_path, (long long)n_patch,
                         (long long)pj.grid, (long long)pj.grid);
        goto done;
    }
    double t1 = mm_time_ms();
    if (mm_image_load_file(in, &img, err)) {
        rc = mm_cli_fail(MM_EXIT_INPUT, "%s", err);
        goto done;
    }
    if (!(pool = mm_pool_create((int)o->threads, err)) || !(st = mm_vit_state_create(m, pool, err))) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
        goto done;
    }
    const int S = mm_vit_image_size(m), nt = mm_vit_n_tokens(m), d = mm_vit_d_enc(m);
    /* the model's processor (LLaVA-1.5 / SmolVLM tiles for llama.cpp mmproj files; mmgpt's own: one image) */
    mm_image_proc_params pp = mm_image_proc_for_model(g, m);
    pp.max_tiles = (int)o->max_tiles;
    mm_image_tiles tiles = {0};
    double t2 = mm_time_ms();
    if (mm_image_process(&img, &pp, &tiles, err)) {
        rc = mm_cli_fail(MM_EXIT_INPUT, "%s: %s", in, err);
        goto done;
    }
    const int     n_img = tiles.n_images;
    const bool    lead = pp.kind == MM_IMGPROC_IDEFICS3; /* outputs get a leading [n_images] axis */
    pix = tiles.pixels;
    tiles.pixels = NULL;
    out = malloc((size_t)n_img * nt * d * sizeof(float));
    const int64_t n_proj = projp ? mm_projector_n_out(&pj, n_patch) : 0;
    if (projp) {
        proj = malloc((size_t)(n_img * n_proj * pj.d_out) * sizeof(float));
        proj_scratch = aligned_alloc(64, (mm_projector_scratch_bytes(&pj, n_patch) + 127) & ~(size_t)63);
    }
    if (!pix || !out || (projp && (!proj || !proj_scratch))) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "encode-image: out of memory");
        goto done;
    }
    double t3 = mm_time_ms();
    for (int i = 0; i < n_img; i++) {
        int erc = mm_vit_encode(st, pix + (size_t)i * 3 * S * S, out + (size_t)i * nt * d, err);
        if (erc) {
            rc = erc == MM_ERR_NONFINITE ? mm_cli_fail(MM_EXIT_MODEL, "%s: %s", model_path, err)
                                         : mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
            goto done;
        }
    }
    double t4 = mm_time_ms();
    if (projp) {
        for (int i = 0; i < n_img; i++)
            mm_projector_apply(&pj, pool, out + ((size_t)i * nt + (nt - n_patch)) * d, n_patch,
                               proj + (size_t)i * n_proj * pj.d_out, proj_scratch);
        if (mm_find_nonfinite(proj, n_img * n_proj * pj.d_out) >= 0) {
            rc = mm_cli_fail(MM_EXIT_MODEL, "%s: the image projector's output is not finite: the mm.* weights hold "
                             "NaN/Inf values or overflow", model_path);
            goto done;
        }
        int64_t shpp[3] = {n_img, n_proj, pj.d_out};
        if (mm_npy_write(projp, proj, lead ? 3 : 2, shpp + !lead, err)) {
            rc = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
            goto done;
        }
    }
    double t5 = mm_time_ms();
    int64_t shp[3] = {n_img, nt, d};
    if (mm_npy_write(outp, out, lead ? 3 : 2, shp + !lead, err)) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
        goto done;
    }
    if (prep) {
        int64_t shp3[4] = {n_img, 3, S, S};
        if (mm_npy_write(prep, pix, lead ? 4 : 3, shp3 + !lead, err)) {
            rc = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
            goto done;
        }
    }
    fprintf(stderr,
            "encode-image: %s %dx%d -> %s %d x %dx%d (%d x %d tiles) -> [%d, %d] each (%d blocks) | load model %.1f ms, "
            "decode %.1f ms, preprocess %.1f ms, encode %.1f ms, project %.1f ms (%d threads)\n",
            in, img.w, img.h, pp.kind == MM_IMGPROC_LLAVA ? "llava" : pp.kind == MM_IMGPROC_IDEFICS3 ? "idefics3"
            : mm_resize_mode_name(pp.mode), n_img, S, S, tiles.n_rows, tiles.n_cols, nt, d, mm_vit_n_layers_run(m),
            t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, mm_pool_n_threads(pool));
done:
    free(proj);
    free(proj_scratch);
    mm_projector_free(&pj);
    free(pix);
    free(out);
    mm_image_free(&img);
    mm_vit_state_free(st);
    mm_pool_free(pool);
    mm_vit_model_free(m);
    mm_gguf_close(g);
    return rc;
}

static const mm_cmd_spec k_encode_image = {
    .name = "encode-image",
    .usage = "[-m MODEL] IMAGE -o OUT.npy [options]",
    .about = "Decode IMAGE (- = stdin; JPEG, PNG, BMP, GIF, TGA, PSD, HDR, PNM), preprocess it as the model says\n"
             "(clip.vision.image_size/image_mean/image_std, mmgpt.vision.resize_mode) and run the ViT encoder.\n"
             "Writes the encoder output (before the projector) as float32 .npy [n_tokens, d_enc]; the class\n"
             "token, when the model has one, is row 0. Transparent pixels are composited on white.\n"
             "MODEL may be a llama.cpp mmproj file (clip.* keys, v.* and mm.* tensors).\n",
    .opts = (const mm_opt_id[]){MM_O_MODEL, MM_O_MMPROJ, MM_O_THREADS, MM_O_MAX_TILES, MM_O_OUTPUT,
                                MM_O_PREPROCESSED, MM_O_PROJECTED, MM_O_COUNT},
    .texts = (const mm_opt_text[]){{MM_O_PROJECTED, "[n_rows, d_out]\n(class token dropped, patches merged by the "
                                                    "scale factor)"},
                                   {MM_O_COUNT, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .pos_name = "IMAGE",
    .exits = MM_CMD_TOOL_EXITS,
};

int mm_cmd_encode_image(int argc, char **argv) { return mm_cmd_main(&k_encode_image, argc, argv, encode_image); }
