/* vlm_tool.c - what mmgpt evaluates for a question about pictures or clips with a text model + llama.cpp mmproj
 * pair, through the library API (tests/fusion/test_vlm_prompt.py and tests/audio/test_aud_prompt.py compare it
 * with a reconstruction of llama.cpp's prompt):
 *   vlm_tool TEXT.gguf MMPROJ.gguf MAX_TILES OUT_PREFIX QUESTION MEDIA...   (images or clips, told by content)
 * The user turn is one <__media__> per image, immediately followed by QUESTION (as `mmgpt ask` and llama.cpp's
 * multimodal CLI write it). Writes OUT_PREFIX.ids.npy [n_pos] (token ids as float32, -1 at media rows),
 * OUT_PREFIX.rows.npy [n_media_rows, d_model] (the images' projected rows, in image order) and
 * OUT_PREFIX.logits.npy [n_pos, n_vocab] (every position, the chat template applied). Exit 1 on any error.
 * VLM_NO_MARKER=1 in the environment: no markers (the media then go first, as `mmgpt chat` adds them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_core.h"
#include "mmgpt.h"

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s TEXT MMPROJ MAX_TILES OUT_PREFIX QUESTION IMAGE...\n", argv[0]);
        return 2;
    }
    char               err[MMGPT_ERR_SIZE], path[4096];
    mmgpt_model_params mp = mmgpt_model_default_params();
    mp.mmproj_path = argv[2];
    mmgpt_model *m = mmgpt_model_load(argv[1], mp, err);
    if (!m) return fprintf(stderr, "load: %s\n", err), 1;
    mmgpt_ctx_params cp = mmgpt_ctx_default_params();
    cp.n_threads = 2;
    cp.max_tiles = atoi(argv[3]);
    mmgpt_ctx *c = mmgpt_ctx_create(m, cp, err);
    int        n_img = argc - 6, rc = c ? 0 : 1;
    const int64_t d = mmgpt_model_d_model(m);
    mmgpt_media **md = calloc((size_t)n_img, sizeof *md);
    int64_t       n_rows = 0;
    for (int i = 0; rc == 0 && i < n_img; i++) {
        rc = mmgpt_media_from_file(c, argv[6 + i], MMGPT_MEDIA_AUTO, &md[i], err);
        if (rc == 0) rc = mmgpt_add_media(c, md[i], err);
        if (rc == 0 && !getenv("VLM_NO_MARKER")) rc = mmgpt_add_text(c, "<__media__>", err);
        if (rc == 0) n_rows += mmgpt_media_n_rows(md[i]);
    }
    if (rc == 0) rc = mmgpt_add_text_literal(c, argv[5], err);
    int32_t *ids = NULL;
    int64_t  n = 0, n2 = 0;
    float   *logits = NULL;
    if (rc == 0) rc = mmgpt_tokenize_turn(c, false, &ids, &n, err);
    if (rc == 0) rc = mmgpt_eval(c, false, &logits, &n2, err);
    if (rc == 0 && n2 != n) rc = 1, snprintf(err, sizeof err, "tokenize_turn %lld positions, eval %lld", (long long)n, (long long)n2);
    if (rc == 0) {
        float   *fid = malloc((size_t)n * sizeof *fid);
        float   *rows = malloc((size_t)(n_rows > 0 ? n_rows : 1) * (size_t)d * sizeof *rows);
        int64_t  r = 0;
        for (int64_t i = 0; fid && i < n; i++) fid[i] = (float)ids[i];
        for (int i = 0; rows && i < n_img; i++) {
            memcpy(rows + r * d, mmgpt_media_rows(md[i]), (size_t)(mmgpt_media_n_rows(md[i]) * d) * sizeof *rows);
            r += mmgpt_media_n_rows(md[i]);
        }
        int64_t s1[1] = {n}, s2[2] = {n_rows, d}, s3[2] = {n, mmgpt_model_n_vocab(m)};
        snprintf(path, sizeof path, "%s.ids.npy", argv[4]);
        rc = !fid || !rows || mm_npy_write(path, fid, 1, s1, err);
        snprintf(path, sizeof path, "%s.rows.npy", argv[4]);
        if (rc == 0) rc = mm_npy_write(path, rows, 2, s2, err);
        snprintf(path, sizeof path, "%s.logits.npy", argv[4]);
        if (rc == 0) rc = mm_npy_write(path, logits, 2, s3, err);
        free(fid);
        free(rows);
    }
    if (rc) fprintf(stderr, "vlm_tool: %s\n", err);
    free(ids);
    free(logits);
    for (int i = 0; i < n_img; i++) mmgpt_media_free(md[i]);
    free(md);
    mmgpt_ctx_free(c);
    mmgpt_model_free(m);
    return rc ? 1 : 0;
}
