/* media_cache_util.h - the set-up test_media_cache.c (pictures) and test_media_cache_audio.c (clips) share: a
 * model with a media cache of some bytes, a one-thread context, an encode that checks whether its media came
 * from the cache (by the timings of its kind: decode and encode time unchanged, n_media_cached + 1) or went
 * through the encoder, row equality, a file's bytes. Header-only, one per test program, after mm_check.h. */
#ifndef MEDIA_CACHE_UTIL_H
#define MEDIA_CACHE_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mmgpt.h"

/* A model (with a separate mmproj when not NULL) whose media cache holds cache_bytes. */
static mmgpt_model *mc_load_pair(const char *path, const char *mmproj, int64_t cache_bytes, bool no_audio) {
    char               err[MMGPT_ERR_SIZE];
    mmgpt_model_params mp = mmgpt_model_default_params();
    mp.media_cache_bytes = cache_bytes;
    mp.mmproj_path = mmproj;
    mp.no_audio = no_audio;
    mmgpt_model *m = mmgpt_model_load(path, mp, err);
    if (!m) fprintf(stderr, "FAIL: load %s: %s\n", path, err);
    return m;
}

static mmgpt_model *mc_load(const char *path, int64_t cache_bytes, bool no_audio) {
    return mc_load_pair(path, NULL, cache_bytes, no_audio);
}

/* n_ctx 0: the model's context; max_tiles 0: the image processor's default. */
static mmgpt_ctx *mc_ctx_tiles(const mmgpt_model *m, int64_t n_ctx, int max_tiles) {
    char             err[MMGPT_ERR_SIZE];
    mmgpt_ctx_params cp = mmgpt_ctx_default_params();
    cp.n_threads = 1;
    cp.n_ctx = n_ctx;
    cp.max_tiles = max_tiles;
    mmgpt_ctx *c = mmgpt_ctx_create(m, cp, err);
    if (!c) fprintf(stderr, "FAIL: ctx: %s\n", err);
    return c;
}

static mmgpt_ctx *mc_ctx(const mmgpt_model *m, int64_t n_ctx) { return mc_ctx_tiles(m, n_ctx, 0); }

/* The media count, decode and encode time of one kind. */
static void mc_kind_timings(const mmgpt_timings *t, mmgpt_media_kind kind, long long *n, double *dec, double *encd) {
    const bool a = kind == MMGPT_MEDIA_AUDIO;
    *n = (long long)(a ? t->n_audio : t->n_images);
    *dec = a ? t->audio_decode_ms : t->image_decode_ms;
    *encd = a ? t->audio_encode_ms : t->image_encode_ms;
}

/* Encode path (or data[size], from memory) as kind and check whether it came from the cache. */
static mmgpt_media *mc_enc(mmgpt_ctx *c, mmgpt_media_kind kind, const char *path, const void *data, size_t size,
                           int want_cached, const char *what) {
    char          err[MMGPT_ERR_SIZE];
    mmgpt_timings t0, t1;
    mmgpt_media  *md = NULL;
    mmgpt_get_timings(c, &t0);
    int rc = data ? mmgpt_media_from_memory(c, data, size, kind, "mem", &md, err)
                  : mmgpt_media_from_file(c, path, kind, &md, err);
    mmgpt_get_timings(c, &t1);
    long long n0, n1;
    double    dec0, dec1, enc0, enc1;
    mc_kind_timings(&t0, kind, &n0, &dec0, &enc0);
    mc_kind_timings(&t1, kind, &n1, &dec1, &enc1);
    CHECK(rc == MMGPT_OK && md, "%s: %s", what, err);
    CHECK(n1 == n0 + 1, "%s: media count %lld -> %lld", what, n0, n1);
    if (want_cached) {
        CHECK(t1.n_media_cached == t0.n_media_cached + 1, "%s: not taken from the cache", what);
        CHECK(enc1 == enc0 && dec1 == dec0, "%s: a cached media was decoded / encoded (%.3f -> %.3f ms)", what, enc0,
              enc1);
    } else {
        CHECK(t1.n_media_cached == t0.n_media_cached, "%s: taken from the cache", what);
        CHECK(enc1 > enc0, "%s: no encoder pass", what);
    }
    printf("%-52s %s\n", what, t1.n_media_cached > t0.n_media_cached ? "cache" : "encoded");
    return md;
}

static int mc_same_rows(const mmgpt_media *a, const mmgpt_media *b, int64_t d) {
    return a && b && mmgpt_media_n_rows(a) == mmgpt_media_n_rows(b) &&
           !memcmp(mmgpt_media_rows(a), mmgpt_media_rows(b), (size_t)(mmgpt_media_n_rows(a) * d) * sizeof(float));
}

/* The first cap bytes of path into buf; 0 when it cannot be opened (message on stderr). */
static size_t mc_read(const char *path, unsigned char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return fprintf(stderr, "FAIL: cannot open %s\n", path), 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

#endif /* MEDIA_CACHE_UTIL_H */
