/* test_gguf_finite.c - the load-time finite check of model tensors (mm_gguf_check_finite) and the value
 * scanners under it (mm_find_nonfinite, mm_tensor_find_nonfinite), for every weight type we compute with.
 *
 * A file is written with one bad value planted in each tensor at a known element: NaN / +Inf / -Inf in
 * F32 and F16 values, NaN / Inf as the f16 scale of one Q8_0 / Q4_0 block (the quants themselves are
 * integers), clean twins of each, and a matrix over MM_GGUF_CHECK_BYTES with a NaN. Expected (the
 * contract in mm_gguf.h): small or 1-D tensors are refused with a message naming the file, the tensor,
 * the element (the block's first element for Q types) and nan / inf / -inf; clean tensors pass; the big
 * matrix passes unless `always` is set (loading stays lazy: its NaN is left to the evaluation checks).
 * Each expectation is checked independently of the scanner, from where the value was planted.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_core.h"
#include "mm_gguf.h"

#include "mm_check.h"

#define NF16_NAN 0x7e00u
#define NF16_INF 0x7c00u
#define NF16_NINF 0xfc00u

typedef struct {
    const char *name;
    int         type;
    int64_t     ne0, ne1;
    int64_t     bad;       /* element planted (-1: clean) */
    const char *what;      /* "nan", "inf", "-inf" */
    int64_t     reported;  /* element the message must name (the block start for Q types) */
} tcase;

static void plant(const tcase *c, uint8_t *data, size_t n_bytes) {
    /* finite background: 0.25 in every value / scale, quants 1 */
    const int64_t n = c->ne0 * c->ne1;
    if (c->type == MM_TYPE_F32) {
        for (int64_t i = 0; i < n; i++) ((float *)data)[i] = 0.25f;
        if (c->bad >= 0)
            ((float *)data)[c->bad] = !strcmp(c->what, "nan") ? NAN : !strcmp(c->what, "inf") ? INFINITY : -INFINITY;
    } else if (c->type == MM_TYPE_F16) {
        for (int64_t i = 0; i < n; i++) ((uint16_t *)data)[i] = mm_fp32_to_fp16(0.25f);
        if (c->bad >= 0)
            ((uint16_t *)data)[c->bad] = !strcmp(c->what, "nan") ? NF16_NAN : !strcmp(c->what, "inf") ? NF16_INF : NF16_NINF;
    } else {
        const size_t bs = mm_type_block_bytes((mm_type)c->type);
        memset(data, 0x11, n_bytes);
        for (size_t k = 0; k < n_bytes / bs; k++) {
            uint16_t d = mm_fp32_to_fp16(0.25f);
            if (c->bad >= 0 && (int64_t)k == c->bad / MM_QK)
                d = !strcmp(c->what, "nan") ? NF16_NAN : !strcmp(c->what, "inf") ? NF16_INF : NF16_NINF;
            memcpy(data + k * bs, &d, 2);
        }
    }
}

int main(void) {
    char err[MM_ERR_SIZE];
    /* the float scanner alone */
    float x[100];
    for (int i = 0; i < 100; i++) x[i] = (float)i - 50.0f;
    CHECK(mm_find_nonfinite(x, 100) == -1, "finite row reported");
    x[63] = INFINITY;
    x[80] = NAN;
    CHECK(mm_find_nonfinite(x, 100) == 63, "first non-finite: %lld", (long long)mm_find_nonfinite(x, 100));
    CHECK(mm_find_nonfinite(x, 63) == -1, "prefix before the Inf");
    CHECK(mm_find_nonfinite(x, 0) == -1, "empty row");

    /* the other computable types (BF16, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K): a NaN/Inf f16 scale (or bf16
     * value) planted in the second block of a 512-wide row is found in that block; clean rows pass.
     * Offsets of the f16 d per block from ggml's layouts: first for all but Q6_K (after ql 128, qh 64, scales 16). */
    {
        const struct { mm_type t; size_t d_off; } qt[] = {{MM_TYPE_Q4_1, 0}, {MM_TYPE_Q5_0, 0}, {MM_TYPE_Q5_1, 0},
                                                           {MM_TYPE_Q4_K, 0}, {MM_TYPE_Q5_K, 0}, {MM_TYPE_Q6_K, 208}};
        float row[512];
        for (int i = 0; i < 512; i++) row[i] = 0.01f * (float)((i * 37) % 101 - 50);
        uint8_t q[4096];
        for (size_t k = 0; k < sizeof qt / sizeof qt[0]; k++) {
            const int64_t bn = mm_type_block_size(qt[k].t);
            const size_t  bs = mm_type_block_bytes(qt[k].t);
            mm_quantize_row(qt[k].t, row, q, 512);
            CHECK(mm_tensor_find_nonfinite(qt[k].t, q, 512) == -1, "%s: clean row reported", mm_type_name(qt[k].t));
            const uint16_t bad[2] = {NF16_NAN, NF16_INF};
            for (int b = 0; b < 2; b++) {
                uint8_t copy[4096];
                memcpy(copy, q, sizeof copy);
                memcpy(copy + bs + qt[k].d_off, &bad[b], 2);
                const int64_t at = mm_tensor_find_nonfinite(qt[k].t, copy, 512);
                CHECK(at >= bn && at < 2 * bn, "%s: planted in block 1, scanner says %lld", mm_type_name(qt[k].t),
                      (long long)at);
            }
        }
        uint16_t bf[64];
        for (int i = 0; i < 64; i++) bf[i] = 0x3f80; /* 1.0 */
        CHECK(mm_tensor_find_nonfinite(MM_TYPE_BF16, bf, 64) == -1, "bf16: clean row reported");
        bf[41] = 0x7fc0; /* NaN */
        CHECK(mm_tensor_find_nonfinite(MM_TYPE_BF16, bf, 64) == 41, "bf16: NaN at 41 not found");
        bf[41] = 0x3f80;
        bf[9] = 0xff80; /* -Inf */
        CHECK(mm_tensor_find_nonfinite(MM_TYPE_BF16, bf, 64) == 9, "bf16: -Inf at 9 not found");
    }

    const int64_t big_rows = (int64_t)(MM_GGUF_CHECK_BYTES / (256 * 4)) + 1; /* just over the threshold */
    const tcase cases[] = {
        {"f32_vec_nan", MM_TYPE_F32, 300, 1, 7, "nan", 7},
        {"f32_mat_inf", MM_TYPE_F32, 64, 16, 1000, "inf", 1000},
        {"f32_mat_ninf", MM_TYPE_F32, 64, 16, 5, "-inf", 5},
        {"f16_vec_inf", MM_TYPE_F16, 96, 1, 95, "inf", 95},
        {"f16_mat_nan", MM_TYPE_F16, 64, 8, 300, "nan", 300},
        {"q8_0_mat_nan", MM_TYPE_Q8_0, 64, 8, 200, "nan", 192},
        {"q4_0_mat_inf", MM_TYPE_Q4_0, 64, 8, 511, "inf", 480},
        {"f32_clean", MM_TYPE_F32, 64, 16, -1, "", -1},
        {"f16_clean", MM_TYPE_F16, 64, 16, -1, "", -1},
        {"q8_0_clean", MM_TYPE_Q8_0, 64, 16, -1, "", -1},
        {"q4_0_clean", MM_TYPE_Q4_0, 64, 16, -1, "", -1},
        {"f32_big_nan", MM_TYPE_F32, 256, big_rows, 256 * big_rows - 3, "nan", 256 * big_rows - 3},
    };
    const int nc = (int)(sizeof cases / sizeof cases[0]);
    mm_gguf_writer *w = mm_gguf_writer_create();
    mm_gguf_writer_set_str(w, "general.architecture", "test");
    for (int i = 0; i < nc; i++) {
        const tcase *c = &cases[i];
        const size_t nb = mm_row_size((mm_type)c->type, c->ne0) * (size_t)c->ne1;
        uint8_t *data = malloc(nb);
        plant(c, data, nb);
        const int64_t ne[2] = {c->ne0, c->ne1};
        CHECK(mm_gguf_writer_add_tensor(w, c->name, c->type, c->ne1 > 1 ? 2 : 1, ne, data, nb) == 0, "add %s", c->name);
        free(data);
    }
    const char *tmp = getenv("MMGPT_TEST_TMP");
    char path[1024];
    snprintf(path, sizeof path, "%s/gguf_finite.gguf", tmp && *tmp ? tmp : "/tmp");
    CHECK(mm_gguf_writer_write(w, path, err) == 0, "write: %s", err);
    mm_gguf_writer_free(w);
    mm_gguf *g = mm_gguf_open(path, err);
    CHECK(g, "open: %s", err);
    for (int i = 0; g && i < nc; i++) {
        const tcase *c = &cases[i];
        const mm_gguf_tensor *t = mm_gguf_find_tensor(g, c->name);
        CHECK(t, "%s missing", c->name);
        if (!t) continue;
        const bool big = strstr(c->name, "big") != NULL;
        for (int always = 0; always < 2; always++) {
            err[0] = 0;
            const int rc = mm_gguf_check_finite(g, t, always, err);
            const bool want_fail = c->bad >= 0 && (!big || always);
            char elem[64], what[32];
            snprintf(elem, sizeof elem, "at element %lld", (long long)c->reported);
            snprintf(what, sizeof what, "(%s)", c->what);
            const bool ok = want_fail ? rc == -1 && strstr(err, path) && strstr(err, c->name) && strstr(err, elem) &&
                                            strstr(err, what)
                                      : rc == 0;
            CHECK(ok, "%s (always=%d): rc %d, '%s'", c->name, always, rc, err);
            printf("%-4s %-14s always=%d: %s\n", ok ? "ok" : "FAIL", c->name, always, rc ? err : "passes");
        }
        /* the scanner on the raw data agrees with where the value was planted */
        const int64_t at = mm_tensor_find_nonfinite((mm_type)t->type, t->data, t->n_elements);
        CHECK(at == c->reported, "%s: scanner says %lld, planted at %lld", c->name, (long long)at, (long long)c->reported);
    }
    if (g) mm_gguf_close(g);
    remove(path);
    if (n_fail) return 1;
    printf("gguf finite checks: ok\n");
    return 0;
}
