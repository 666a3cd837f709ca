/* fuzz_gguf.c - libFuzzer target for the GGUF reader: open any bytes with mm_gguf_open_memory, then
 * touch everything a caller could (every kv through the getters and both formatters, every string of
 * string arrays, the first and last byte of every tensor). Seeds: fuzz/seeds/gguf.
 *   CC=clang cmake -S . -B build-fuzz -DMMGPT_FUZZ=ON -DMMGPT_TESTS=OFF -DMMGPT_BENCH=OFF
 *   cmake --build build-fuzz --target fuzz_gguf && build-fuzz/fuzz/fuzz_gguf -max_total_time=60 fuzz/seeds/gguf
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mm_gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[MM_ERR_SIZE];
    /* an exact-size copy, so that ASan catches a read one byte past the end */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    mm_gguf *g = mm_gguf_open_memory(buf, size, "fuzz", err);
    if (!g) {
        if (!err[0] || strchr(err, '\n') || strncmp(err, "fuzz: ", 6)) abort(); /* one line, named */
        free(buf);
        return 0;
    }
    volatile size_t sink = 0;
    char small[24], big[4096];
    for (int64_t i = 0; i < mm_gguf_n_kv(g); i++) {
        const char *key = mm_gguf_kv_key(g, i);
        if (!key || mm_gguf_find_key(g, key) != i) abort();
        int n = mm_gguf_kv_format(g, i, small, sizeof small);
        int m = mm_gguf_kv_format(g, i, big, sizeof big);
        if (n < 0 || n != m || strlen(small) != (size_t)(n < (int)sizeof small ? n : (int)sizeof small - 1)) abort();
        if (mm_gguf_kv_format_json(g, i, big, sizeof big) < 0) abort();
        uint32_t u32;
        int64_t i64;
        float f;
        bool b;
        const char *s;
        size_t len;
        mm_gguf_get_u32(g, key, &u32);
        mm_gguf_get_i64(g, key, &i64);
        mm_gguf_get_f32(g, key, &f);
        mm_gguf_get_bool(g, key, &b);
        if (mm_gguf_get_str(g, key, &s, &len) == 0 && len) sink += (uint8_t)s[len - 1];
        size_t raw_n;
        const uint8_t *raw = mm_gguf_kv_raw(g, i, &raw_n);
        if (raw && raw_n) sink += raw[raw_n - 1];
        mm_gguf_type et;
        int64_t cnt;
        if (mm_gguf_get_arr(g, key, &et, &cnt) == 0) {
            if (et == MM_GGUF_STRING) {
                for (int64_t j = 0; j < cnt; j++)
                    if (mm_gguf_arr_str(g, key, j, &s, &len) == 0 && len) sink += (uint8_t)s[len - 1];
            } else {
                const uint8_t *d = mm_gguf_arr_data(g, key);
                if (d && cnt) sink += d[0];
            }
        }
    }
    for (int64_t i = 0; i < mm_gguf_n_tensors(g); i++) {
        const mm_gguf_tensor *t = mm_gguf_tensor_at(g, i);
        if (!t || mm_gguf_find_tensor(g, t->name) != t || t->n_bytes == 0) abort();
        const uint8_t *d = t->data;
        sink += d[0] + d[t->n_bytes - 1];
    }
    (void)sink;
    mm_gguf_close(g);
    free(buf);
    return 0;
}
