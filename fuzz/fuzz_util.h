/* fuzz_util.h - the set-up the model fuzz targets share: the input bytes as an exact-size copy (so that ASan
 * catches a read one byte past the end) opened as a GGUF, and the rule that every refusal is one line. */
#ifndef MM_FUZZ_UTIL_H
#define MM_FUZZ_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mm_gguf.h"

/* A refusal must say why, on one line. */
static inline void fuzz_one_line(const char *err) {
    if (!err[0] || strchr(err, '\n')) abort();
}

/* The bytes as the GGUF "fuzz": NULL when they are not one (its one-line message in err), else the handle,
 * with *buf the copy it reads (fuzz_close frees both). */
static inline mm_gguf *fuzz_open(const uint8_t *data, size_t size, uint8_t **buf, char *err) {
    *buf = malloc(size ? size : 1);
    if (!*buf) return NULL;
    if (size) memcpy(*buf, data, size);
    err[0] = 0;
    mm_gguf *g = mm_gguf_open_memory(*buf, size, "fuzz", err);
    if (!g) {
        fuzz_one_line(err);
        free(*buf);
        *buf = NULL;
    }
    return g;
}

static inline void fuzz_close(mm_gguf *g, uint8_t *buf) {
    mm_gguf_close(g);
    free(buf);
}

#endif /* MM_FUZZ_UTIL_H */
