/* test_media_cache_audio.c - the model's media cache for clips (mmgpt_model_params.media_cache_bytes):
 *   - the second encode of the same clip (file or memory, any context of the model) costs no decode and no
 *     encoder pass (audio_decode_ms / audio_encode_ms unchanged, n_media_cached + 1) and gives the rows the
 *     first encode gave, bit for bit (also equal to a model without cache); another clip is encoded;
 *   - a cached clip whose rows do not fit a smaller context is refused as the first encode would be
 *     (MMGPT_ERR_CONTEXT);
 *   - the same bytes asked for as a picture are not taken from the audio entry.
 * usage: test_media_cache_audio MODEL CLIP_A CLIP_B */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmgpt.h"

#include "mm_check.h"
#include "media_cache_util.h"

/* Encode as a clip (media_cache_util.h). */
static mmgpt_media *enc(mmgpt_ctx *c, const char *path, const void *data, size_t size, int want_cached,
                        const char *what) {
    return mc_enc(c, MMGPT_MEDIA_AUDIO, path, data, size, want_cached, what);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: test_media_cache_audio MODEL CLIP_A CLIP_B\n");
        return 2;
    }
    const char *A = argv[2], *B = argv[3];
    static unsigned char bytes[4 << 20];
    const size_t         n = mc_read(A, bytes, sizeof bytes);
    if (n == 0) return 1;

    mmgpt_model *m = mc_load(argv[1], MMGPT_MEDIA_CACHE_BYTES, false), *off = mc_load(argv[1], 0, false);
    if (!m || !off) return 1;
    const int64_t d = mmgpt_model_d_model(m);
    mmgpt_ctx    *c1 = mc_ctx(m, 0), *c2 = mc_ctx(m, 0), *c0 = mc_ctx(off, 0);
    if (!c1 || !c2 || !c0) return 1;
    mmgpt_media *a1 = enc(c1, A, NULL, 0, 0, "A from file (first time)");
    mmgpt_media *a2 = enc(c1, A, NULL, 0, 1, "A from file again");
    mmgpt_media *a3 = enc(c1, NULL, bytes, n, 1, "A's bytes from memory");
    mmgpt_media *a4 = enc(c2, A, NULL, 0, 1, "A in another context of the model");
    mmgpt_media *b1 = enc(c1, B, NULL, 0, 0, "B (another clip)");
    mmgpt_media *z1 = enc(c0, A, NULL, 0, 0, "A, model without cache");
    CHECK(mc_same_rows(a1, a2, d) && mc_same_rows(a1, a3, d) && mc_same_rows(a1, a4, d),
          "cached rows differ from the first");
    CHECK(mc_same_rows(a1, z1, d), "rows differ from the model without cache");
    CHECK(!mc_same_rows(a1, b1, d), "B's rows equal A's");

    /* a context too small for A's rows: refused, cached or not */
    char          err[MMGPT_ERR_SIZE] = "";
    mmgpt_media  *md = NULL;
    const int64_t small = mmgpt_media_n_rows(a1) - 1;
    mmgpt_ctx    *cs = small > 0 ? mc_ctx(m, small) : NULL, *cs0 = small > 0 ? mc_ctx(off, small) : NULL;
    if (!cs || !cs0) return 1;
    int rc = mmgpt_media_from_file(cs, A, MMGPT_MEDIA_AUDIO, &md, err);
    CHECK(rc == MMGPT_ERR_CONTEXT && !md && strstr(err, "over the context"), "cached A in %lld positions: %d %s",
          (long long)small, rc, err);
    rc = mmgpt_media_from_file(cs0, A, MMGPT_MEDIA_AUDIO, &md, err);
    CHECK(rc == MMGPT_ERR_CONTEXT && !md, "A in %lld positions without cache: %d %s", (long long)small, rc, err);
    /* the same bytes as a picture: not the audio entry (the image decoder refuses them) */
    rc = mmgpt_media_from_file(c1, A, MMGPT_MEDIA_IMAGE, &md, err);
    CHECK(rc != MMGPT_OK && !md, "A as a picture came back from the cache");

    mmgpt_media *all[] = {a1, a2, a3, a4, b1, z1};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) mmgpt_media_free(all[i]);
    mmgpt_ctx_free(cs);
    mmgpt_ctx_free(cs0);
    mmgpt_ctx_free(c1);
    mmgpt_ctx_free(c2);
    mmgpt_ctx_free(c0);
    mmgpt_model_free(m);
    mmgpt_model_free(off);
    if (n_fail) return 1;
    printf("all ok\n");
    return 0;
}
