/* tok_test_util.h - small helpers shared by the tokenizer C tests (header-only). */
#ifndef TOK_TEST_UTIL_H
#define TOK_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mm_tokenizer.h"

#include "mm_check.h"
#include "test_data.h"

/* $MMGPT_REFDATA/gpt2_bpe, the real GPT-2 vocabulary (tests/data); exits 1 when encoder.json is missing */
/* A growing NUL-terminated byte buffer for building test strings (exits on out of memory). */
typedef struct {
    char  *b;
    size_t n, cap;
} sbuf;
static inline void sb_put(sbuf *s, const void *p, size_t n) {
    if (s->n + n + 1 > s->cap) {
        s->cap = (s->n + n + 1) * 2;
        s->b = realloc(s->b, s->cap);
        if (!s->b) exit(1);
    }
    memcpy(s->b + s->n, p, n);
    s->n += n;
    s->b[s->n] = 0;
}
static inline void sb_str(sbuf *s, const char *z) { sb_put(s, z, strlen(z)); }
static inline void sb_cp(sbuf *s, uint32_t cp) {
    uint8_t u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (uint8_t)cp; n = 1; }
    else if (cp < 0x800) { u[0] = 0xC0 | (cp >> 6); u[1] = 0x80 | (cp & 0x3F); n = 2; }
    else if (cp < 0x10000) { u[0] = 0xE0 | (cp >> 12); u[1] = 0x80 | ((cp >> 6) & 0x3F); u[2] = 0x80 | (cp & 0x3F); n = 3; }
    else { u[0] = 0xF0 | (cp >> 18); u[1] = 0x80 | ((cp >> 12) & 0x3F); u[2] = 0x80 | ((cp >> 6) & 0x3F); u[3] = 0x80 | (cp & 0x3F); n = 4; }
    sb_put(s, u, n);
}

static inline const char *tt_refdir(void) {
    static char buf[4096];
    td_path("gpt2_bpe/encoder.json");
    snprintf(buf, sizeof buf, "%s", td_path("gpt2_bpe"));
    return buf;
}

static inline const char *tt_tmpdir(void) {
    const char *t = getenv("MMGPT_TEST_TMP");
    return t && *t ? t : "/tmp";
}

static inline char *tt_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    b[n] = 0;
    if (len) *len = (size_t)n;
    return b;
}

/* encode into a malloc'd array, aborting the test on error */
static inline int32_t *tt_encode(const mm_tokenizer *t, const char *s, size_t n, bool special, int64_t *n_ids) {
    char err[MM_ERR_SIZE];
    int32_t *ids;
    if (mm_tokenizer_encode_alloc(t, s, n, special, &ids, n_ids, err)) {
        fprintf(stderr, "encode failed: %s\n", err);
        exit(1);
    }
    return ids;
}

static inline bool tt_roundtrip(const mm_tokenizer *t, const char *s, size_t n, bool special) {
    int64_t k;
    int32_t *ids = tt_encode(t, s, n, special, &k);
    char *out;
    size_t len;
    char err[MM_ERR_SIZE];
    bool ok = !mm_tokenizer_decode_alloc(t, ids, k, &out, &len, err) && len == n && !memcmp(out, s, n);
    if (ok) free(out);
    free(ids);
    return ok;
}

#endif
