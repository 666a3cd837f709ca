/* mat.c - the one linear-layer type (mm_mat, mm_core.h): rows, products, and its loader from a GGUF. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_core.h"
#include "mm_gguf.h"

void mm_mat_row(const mm_mat *w, int64_t r, float *out) {
    const size_t rs = mm_row_size(w->type, w->cols);
    const void *src = (const uint8_t *)w->data + rs * (size_t)r;
    if (w->type == MM_TYPE_F32) memcpy(out, src, (size_t)w->cols * sizeof(float));
    else mm_dequantize_row(w->type, src, out, w->cols);
}

void mm_mat_apply(const mm_mat *w, mm_pool *pool, int64_t n, const float *X, float *Y) {
    mm_linear(pool, w->type, w->data, w->b, w->rows, w->cols, n, X, Y);
}

void mm_mat_apply_ref(const mm_mat *w, int64_t n, const float *X, float *Y) {
    mm_linear_ref(w->type, w->data, w->b, w->rows, w->cols, n, X, Y);
}

/* NAME.bias: [n] f32 (borrowed from the mapping) or, with copy, f32/f16 converted into a malloc'd copy. */
static int load_bias(const mm_gguf *g, const char *name, int64_t n, bool required, float **copy, const float **out,
                     char *err) {
    *out = NULL;
    const mm_gguf_tensor *t = mm_gguf_find_tensor(g, name);
    if (!t) return required ? mm_err(err, "%s: tensor %s is missing", mm_gguf_path(g), name) : 0;
    if (t->ne[0] != n || t->n_elements != n)
        return mm_err(err, "%s: tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld]", mm_gguf_path(g), name,
                      (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                      (long long)n);
    if (t->type != MM_TYPE_F32 && !(copy && t->type == MM_TYPE_F16))
        return mm_err(err, "%s: tensor %s has type %s, expected %s", mm_gguf_path(g), name, mm_type_name(t->type),
                      copy ? "f32 or f16" : "f32");
    const size_t es = t->type == MM_TYPE_F32 ? sizeof(float) : sizeof(uint16_t);
    if (!t->data || t->n_bytes < (size_t)n * es || (!copy && (uintptr_t)t->data % sizeof(float)))
        return mm_err(err, "%s: tensor %s: data is shorter than its shape or misaligned", mm_gguf_path(g), name);
    if (mm_gguf_check_finite(g, t, true, err)) return -1;
    if (!copy) {
        *out = (const float *)t->data;
        return 0;
    }
    float *dst = malloc((size_t)n * sizeof(float)); /* n is bounded by the file: the vector is stored in it */
    if (!dst) return mm_err(err, "%s: out of memory", mm_gguf_path(g));
    if (t->type == MM_TYPE_F32) memcpy(dst, t->data, (size_t)n * sizeof(float));
    else mm_dequantize_row(MM_TYPE_F16, t->data, dst, n);
    *copy = dst;
    *out = dst;
    return 0;
}

int mm_gguf_mat_load(const mm_gguf *g, const char *name, int64_t cols, int64_t rows_min, int64_t rows_max,
                     unsigned flags, mm_mat *m, float **bias_copy, char *err) {
    char wn[MM_GGUF_MAX_NAME + 16], bn[MM_GGUF_MAX_NAME + 16];
    memset(m, 0, sizeof *m);
    if (bias_copy) *bias_copy = NULL;
    if (snprintf(wn, sizeof wn, "%s.weight", name) >= (int)sizeof wn ||
        snprintf(bn, sizeof bn, "%s.bias", name) >= (int)sizeof bn)
        return mm_err(err, "%s: tensor name %s.weight is too long", mm_gguf_path(g), name);
    const mm_gguf_tensor *t = mm_gguf_find_tensor(g, wn);
    if (!t) return flags & MM_MAT_REQUIRED ? mm_err(err, "%s: tensor %s is missing", mm_gguf_path(g), wn) : 0;
    if (!mm_type_supported(t->type))
        return mm_err(err, "%s: tensor %s has type %s (%d), which mmgpt cannot compute; supported: %s",
                      mm_gguf_path(g), wn, mm_type_name(t->type), t->type, mm_type_supported_names());
    if (t->ne[2] != 1 || t->ne[3] != 1 || (cols > 0 && t->ne[0] != cols) || t->ne[1] < rows_min ||
        t->ne[1] > rows_max) {
        char want[96], c[24];
        if (cols > 0) snprintf(c, sizeof c, "%lld", (long long)cols);
        else snprintf(c, sizeof c, "any");
        if (rows_min == rows_max) snprintf(want, sizeof want, "[%s, %lld]", c, (long long)rows_min);
        else if (rows_max == INT64_MAX) snprintf(want, sizeof want, "[%s, >= %lld]", c, (long long)rows_min);
        else snprintf(want, sizeof want, "[%s, %lld..%lld]", c, (long long)rows_min, (long long)rows_max);
        return mm_err(err, "%s: tensor %s has shape [%lld, %lld, %lld, %lld], expected %s", mm_gguf_path(g), wn,
                      (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3], want);
    }
    const size_t rs = mm_row_size((mm_type)t->type, t->ne[0]);
    if (rs == 0)
        return mm_err(err, "%s: tensor %s: %lld columns are not a multiple of the %s block size", mm_gguf_path(g), wn,
                      (long long)t->ne[0], mm_type_name(t->type));
    if (!t->data || (size_t)t->ne[1] > SIZE_MAX / rs || t->n_bytes < rs * (size_t)t->ne[1])
        return mm_err(err, "%s: tensor %s: data is shorter than its shape", mm_gguf_path(g), wn);
    if (mm_gguf_check_finite(g, t, false, err)) return -1; /* small matrices only: loading stays lazy */
    const float *b = NULL;
    if ((flags & (MM_MAT_BIAS | MM_MAT_BIAS_REQUIRED)) &&
        load_bias(g, bn, t->ne[1], (flags & MM_MAT_BIAS_REQUIRED) != 0, bias_copy, &b, err))
        return -1;
    m->type = (mm_type)t->type;
    m->data = t->data;
    m->b = b;
    m->rows = t->ne[1];
    m->cols = t->ne[0];
    return 0;
}
