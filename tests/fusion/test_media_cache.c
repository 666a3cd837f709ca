/* test_media_cache.c - the model's media cache (mmgpt_model_params.media_cache_bytes, include/mmgpt.h):
 *   - the second encode of the same bytes (file or memory, any context of the model) costs no decode and no
 *     encoder pass (image_decode_ms / image_encode_ms unchanged, n_media_cached + 1) and gives the rows the
 *     first encode gave, bit for bit (also equal to a model without cache);
 *   - a different picture of the same size (512 x 512) is encoded;
 *   - the bound holds: with room for one image's rows, a second image evicts the first; an image larger than
 *     the bound is never kept; 0 = off;
 *   - errors are unchanged (missing file: an input error naming it).
 * usage: test_media_cache MODEL IMAGE_A IMAGE_B   (A and B: different pictures of the same size)
 *
 * Second mode (test_media_cache_tiles.py makes the llama.cpp-layout pairs): the processing is part of the key.
 *   test_media_cache --tiles TEXT SMOLVLM_MMPROJ LLAVA_MMPROJ IMAGE
 *   SmolVLM (idefics3 processor): contexts with --max-tiles 0 (default), 4 and 1 each encode the image (a
 *   different tiling misses the cache, and gives another number of rows), a second context with the same
 *   setting takes it from the cache (the rows of the first, bit for bit), the default again still hits;
 *   LLaVA (its processor has no tiles): a context with max_tiles 2 takes the image the default context
 *   encoded from the cache (the setting does not change what the tower is fed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmgpt.h"

#include "mm_check.h"
#include "media_cache_util.h"

/* Encode as a picture (media_cache_util.h). */
static mmgpt_media *enc(mmgpt_ctx *c, const char *path, const void *data, size_t size, int want_cached,
                        const char *what) {
    return mc_enc(c, MMGPT_MEDIA_IMAGE, path, data, size, want_cached, what);
}

/* --tiles TEXT SMOLVLM_MMPROJ LLAVA_MMPROJ IMAGE: the processing settings in the key */
static int tiles_mode(const char *text, const char *smol, const char *llava, const char *img) {
    mmgpt_model *m = mc_load_pair(text, smol, MMGPT_MEDIA_CACHE_BYTES, true);
    if (!m) return 1;
    const int64_t d = mmgpt_model_d_model(m);
    enum { N = 5 };
    static const int tiles[N] = {0, 4, 4, 1, 0};
    static const int cached[N] = {0, 0, 1, 0, 1};
    static const char *what[N] = {"SmolVLM --max-tiles default", "SmolVLM --max-tiles 4 (other tiling)",
                                  "SmolVLM --max-tiles 4 again (another ctx)", "SmolVLM --max-tiles 1",
                                  "SmolVLM --max-tiles default again (another ctx)"};
    mmgpt_ctx   *c[N];
    mmgpt_media *md[N];
    for (int i = 0; i < N; i++) {
        c[i] = mc_ctx_tiles(m, 0, tiles[i]);
        if (!c[i]) return 1;
        md[i] = enc(c[i], img, NULL, 0, cached[i], what[i]);
    }
    CHECK(md[0] && md[1] && md[3] && mmgpt_media_n_rows(md[0]) > mmgpt_media_n_rows(md[1]) &&
              mmgpt_media_n_rows(md[1]) > mmgpt_media_n_rows(md[3]),
          "rows per tiling: %lld (default) %lld (4 tiles) %lld (1 tile) should fall", md[0] ? (long long)mmgpt_media_n_rows(md[0]) : -1,
          md[1] ? (long long)mmgpt_media_n_rows(md[1]) : -1, md[3] ? (long long)mmgpt_media_n_rows(md[3]) : -1);
    CHECK(mc_same_rows(md[1], md[2], d) && mc_same_rows(md[0], md[4], d), "cached rows differ from the first encode");
    for (int i = 0; i < N; i++) {
        mmgpt_media_free(md[i]);
        mmgpt_ctx_free(c[i]);
    }
    mmgpt_model_free(m);

    m = mc_load_pair(text, llava, MMGPT_MEDIA_CACHE_BYTES, true);
    mmgpt_ctx *l0 = m ? mc_ctx_tiles(m, 0, 0) : NULL, *l2 = m ? mc_ctx_tiles(m, 0, 2) : NULL;
    if (!l0 || !l2) return 1;
    mmgpt_media *x = enc(l0, img, NULL, 0, 0, "LLaVA default");
    mmgpt_media *y = enc(l2, img, NULL, 0, 1, "LLaVA max_tiles 2 (no tiles in its processor)");
    CHECK(mc_same_rows(x, y, mmgpt_model_d_model(m)), "LLaVA cached rows differ");
    mmgpt_media_free(x);
    mmgpt_media_free(y);
    mmgpt_ctx_free(l0);
    mmgpt_ctx_free(l2);
    mmgpt_model_free(m);
    if (n_fail) return 1;
    printf("all ok\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && !strcmp(argv[1], "--tiles")) return tiles_mode(argv[2], argv[3], argv[4], argv[5]);
    if (argc != 4) {
        fprintf(stderr, "usage: test_media_cache MODEL IMAGE_A IMAGE_B\n");
        return 2;
    }
    const char *A = argv[2], *B = argv[3];
    static unsigned char bytes[4 << 20];
    const size_t         n = mc_read(A, bytes, sizeof bytes);
    if (n == 0) return 1;

    mmgpt_model *m = mc_load(argv[1], MMGPT_MEDIA_CACHE_BYTES, true), *off = mc_load(argv[1], 0, true);
    if (!m || !off) return 1;
    const int64_t d = mmgpt_model_d_model(m);
    mmgpt_ctx    *c1 = mc_ctx(m, 0), *c2 = mc_ctx(m, 0), *c0 = mc_ctx(off, 0);
    if (!c1 || !c2 || !c0) return 1;

    mmgpt_media *a1 = enc(c1, A, NULL, 0, 0, "A from file (first time)");
    mmgpt_media *a2 = enc(c1, A, NULL, 0, 1, "A from file again");
    mmgpt_media *a3 = enc(c1, NULL, bytes, n, 1, "A's bytes from memory");
    mmgpt_media *a4 = enc(c2, A, NULL, 0, 1, "A in another context of the model");
    mmgpt_media *b1 = enc(c1, B, NULL, 0, 0, "B (another picture, same size)");
    mmgpt_media *b2 = enc(c2, B, NULL, 0, 1, "B again");
    mmgpt_media *z1 = enc(c0, A, NULL, 0, 0, "A, model without cache");
    mmgpt_media *z2 = enc(c0, A, NULL, 0, 0, "A again, model without cache");
    CHECK(mc_same_rows(a1, a2, d) && mc_same_rows(a1, a3, d) && mc_same_rows(a1, a4, d),
          "cached rows differ from the first");
    CHECK(mc_same_rows(a1, z1, d) && mc_same_rows(z1, z2, d), "rows differ from the model without cache");
    CHECK(mc_same_rows(b1, b2, d) && !mc_same_rows(a1, b1, d), "B's rows");
    const int64_t img_bytes = mmgpt_media_n_rows(a1) * d * (int64_t)sizeof(float);
    mmgpt_media  *all[] = {a1, a2, a3, a4, b1, b2, z1, z2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) mmgpt_media_free(all[i]);

    /* bound: room for exactly one image */
    mmgpt_model *one = mc_load(argv[1], img_bytes, true);
    mmgpt_ctx   *c3 = one ? mc_ctx(one, 0) : NULL;
    if (!c3) return 1;
    mmgpt_media *s[] = {enc(c3, A, NULL, 0, 0, "bound 1 image: A"), enc(c3, A, NULL, 0, 1, "bound 1 image: A again"),
                        enc(c3, B, NULL, 0, 0, "bound 1 image: B evicts A"),
                        enc(c3, A, NULL, 0, 0, "bound 1 image: A encoded again"),
                        enc(c3, A, NULL, 0, 1, "bound 1 image: A from the cache")};
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) mmgpt_media_free(s[i]);
    mmgpt_ctx_free(c3);
    mmgpt_model_free(one);
    /* an image over the bound is not kept */
    mmgpt_model *tiny = mc_load(argv[1], img_bytes - 1, true);
    mmgpt_ctx   *c4 = tiny ? mc_ctx(tiny, 0) : NULL;
    if (!c4) return 1;
    mmgpt_media_free(enc(c4, A, NULL, 0, 0, "bound below one image: A"));
    mmgpt_media_free(enc(c4, A, NULL, 0, 0, "bound below one image: A again"));
    mmgpt_ctx_free(c4);
    mmgpt_model_free(tiny);

    /* errors are as without cache */
    char         err[MMGPT_ERR_SIZE] = "";
    mmgpt_media *md = NULL;
    int          rc = mmgpt_media_from_file(c1, "/nonexistent/x.png", MMGPT_MEDIA_IMAGE, &md, err);
    CHECK(rc == MMGPT_ERR_INPUT && !md && strstr(err, "/nonexistent/x.png"), "missing file: %d %s", rc, err);

    mmgpt_ctx_free(c1);
    mmgpt_ctx_free(c2);
    mmgpt_ctx_free(c0);
    mmgpt_model_free(m);
    mmgpt_model_free(off);
    if (n_fail) return 1;
    printf("all ok\n");
    return 0;
}
