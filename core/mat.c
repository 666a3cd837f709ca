/* mat.c - the one linear-layer type (mm_mat, mm_core.h): rows, products, and its loader from a GGUF. */
#include <string.h>

#include "mm_core.h"

void mm_mat_row(const mm_mat *w, int64_t r, float *out) {
    const size_t rs = mm_row_size(w->type, w->cols);
    const void *src = (const uint8_t *)w->data + rs * (size_t)r;
    if (w->type == MM_TYPE_F32) memcpy(out, src, (size_t)w->cols * sizeof(float));
    else mm_dequantize_row(w->type, src, out, w->cols);
}
