/* core_internal.h - private to core/: kernel tables chosen at run time, scratch helper, BLAS setup. */
#ifndef MM_CORE_INTERNAL_H
#define MM_CORE_INTERNAL_H

#include "mm_core.h"

/* Rows [r0, r1) of y = W x for one weight type. W points at row 0; rows are row_bytes apart.
 * xq is x quantized to Q8_0 blocks (cols/32 of them) when the table's wants_q8x flag is set for
 * that type, else NULL. */
typedef void (*mm_rows_fn)(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t cols,
                           const float *x, const mm_block_q8_0 *xq, float *y);
/* Dequantize one row of n elements (n a multiple of the block size). */
typedef void (*mm_deq_fn)(const void *src, float *y, int64_t n);
/* Quantize x to Q8_0 blocks (ggml reference rounding). */
typedef void (*mm_qx_fn)(const float *x, mm_block_q8_0 *y, int64_t n);

typedef struct {
    const char *name;
    mm_rows_fn rows[4];      /* index by mm_core_type_index */
    bool wants_q8x[4];       /* kernel takes x as Q8_0 blocks */
    mm_deq_fn deq[4];
    mm_qx_fn quantize_x;     /* NULL: use the generic one */
} mm_kernel_table;

static inline int mm_core_type_index(mm_type t) {
    switch (t) {
    case MM_TYPE_F32: return 0;
    case MM_TYPE_F16: return 1;
    case MM_TYPE_Q8_0: return 2;
    case MM_TYPE_Q4_0: return 3;
    default: return -1;
    }
}

extern const mm_kernel_table mm_kernels_generic;
extern const mm_kernel_table mm_kernels_avx2;    /* empty name when not compiled */
extern const mm_kernel_table mm_kernels_avx512;
const mm_kernel_table *mm_core_kernels(void);

/* Scratch for thread ith: the pool's reserved scratch, or (pool == NULL) a per-thread buffer that
 * grows on first use and is freed at thread exit. NULL when a pool was not reserved large enough. */
void *mm_core_scratch(mm_pool *pool, int ith, size_t bytes);

/* Put OpenBLAS at one thread (core's pool is the only way threads run); idempotent. */
void mm_core_blas_init(void);

/* Generic Q8_0 quantization of x, used by kernels that take x as Q8_0. */
void mm_core_quantize_x_q8(const float *x, mm_block_q8_0 *y, int64_t n);

#endif
