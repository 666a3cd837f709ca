/* matmul_multi.c - one weight matrix times several vectors: Y_j = W x_j for j < n (the decode step of n
 * sequences in one pass over the weights: mm_gpt_batch_eval).
 *
 * Decode reads every weight once per token and is bound by the memory's read bandwidth; n sequences that
 * advance together can share that read. The rows [r0, r1) are taken in tiles of about MULTI_TILE_BYTES of
 * weights: each tile comes from memory once (the first vector's pass) and stays in the core's L1/L2 cache
 * while the level's own row kernel (core_internal.h's table, the one mm_matvec_rows uses) runs over it for
 * every other vector. So output row r of vector j is computed by the same kernel, on the same row and the
 * same (identically quantized, for the types whose kernels want mm_xq8) input as mm_matvec_rows(x_j) would
 * compute it: the results are bit-identical to n separate matvecs, at every level and for every type, by
 * construction (tests/core/test_core_multi.c checks it with memcmp, and against the naive reference).
 * At the avx512 level Q8_0, Q4_0 (kernels_avx512.c) and Q4_K, Q5_K, Q6_K (quants_avx512.c) use
 * register-blocked kernels instead (each weight row loaded and unpacked once for 4 vectors, for Q8_0, Q4_0 and Q4_K
 * once for up to MULTI_VMAX = 8 in one pass over the tile; Q4_0 and Q4_K with one 32-bit lane per block of 32 against
 * x's transposed copy mm_xq8.qt: mm_multi_kernel_vmax; each vector's arithmetic that of
 * the row kernel: bit-identical too; the kernels are written once for 1..V vectors, the one-vector instance being
 * the table's row kernel); at the avx2 level every quantized type (matmul_multi_avx2.c, likewise, 4 vectors).
 * F32, F16, BF16 at avx2/avx512 (matvec_fp_avx*.c; mm_multi_kernel_vmax = MULTI_VANY) take all the vectors of a group in ONE
 * call over [r0, r1), no tiles: register tiles of rows x vectors, one arithmetic per (row, vector), so each row
 * is read once while the next rows' prefetches are in flight.
 *
 * Scratch: the quantized inputs of up to MULTI_GROUP vectors at a time in thread ith's kernel scratch
 * (mm_kernels_reserve_multi); vectors beyond MULTI_GROUP are taken in further groups (one more pass over
 * the weights per group). Without reserved scratch it falls back to one mm_matvec_rows per vector (same
 * results, one pass per vector). */
#include <stdatomic.h>
#include <string.h>

#include "mm_core.h"
#include "core_internal.h"

/* Weight bytes per tile: read from memory by the first vector, from the cache by the others (the tile,
 * one input vector and its quantized form fit in L2 with room to spare; measured in bench_decoder -b). */
#ifndef MULTI_TILE_BYTES
#define MULTI_TILE_BYTES (16 * 1024)
#endif
#define MULTI_GROUP MM_MATVEC_MULTI_GROUP

static size_t al64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t mm_matvec_multi_scratch_bytes(int64_t cols, int n) {
    if (n > MULTI_GROUP) n = MULTI_GROUP;
    return n < 1 || cols < 0 ? 0 : (size_t)n * al64(mm_xq8_bytes(cols));
}

int mm_kernels_reserve_multi(mm_pool *pool, int64_t max_cols, int n_max, char *err) {
    if (n_max < 1) return mm_err(err, "%s: %d vectors: at least 1", __func__, n_max);
    if (mm_kernels_reserve(pool, max_cols, err) != 0) return -1;
    size_t need = mm_matvec_multi_scratch_bytes(max_cols, n_max);
    if (mm_core_reserve(pool, need) != 0)
        return mm_err(err, "%s: out of memory (%zu bytes of kernel scratch per thread)", __func__, need);
    return 0;
}

/* rows [r0, r1) for the vectors [0, n <= MULTI_GROUP) whose inputs are ready (xq[j] quantized or NULL): per
 * tile, the level's register-blocked kernel on mv (mm_multi_kernel_vmax) vectors at a time (mf), else the row
 * kernel per vector */
static void multi_tiles(mm_rows_fn fn, mm_multi_fn mf, int mv, const void *W, size_t rb, int64_t r0, int64_t r1,
                        int64_t cols, int n, const float *const *x, const mm_xq8 *const *xq, float *const *y) {
    int64_t tile = (int64_t)(MULTI_TILE_BYTES / (rb ? rb : 1));
    if (tile < 1) tile = 1;
    for (int64_t t0 = r0; t0 < r1; t0 += tile) {
        const int64_t t1 = t0 + tile < r1 ? t0 + tile : r1;
        if (mf)
            for (int j = 0; j < n; j += mv) mf(W, rb, t0, t1, cols, n - j < mv ? n - j : mv, x + j, xq + j, y + j);
        else
            for (int j = 0; j < n; j++) fn(W, rb, t0, t1, cols, x[j], xq[j], y[j]);
    }
}

void mm_matvec_multi_rows(mm_pool *pool, int ith, mm_type t, const void *W, int64_t r0, int64_t r1, int64_t cols,
                          int n, const float *const *x, float *const *y) {
    const int ti = mm_core_type_index(t);
    const size_t rb = mm_row_size(t, cols);
    if (ti < 0 || r1 <= r0 || n < 1 || (rb == 0 && cols != 0)) return;
    if (cols == 0) {
        for (int j = 0; j < n; j++) memset(y[j] + r0, 0, (size_t)(r1 - r0) * sizeof(float));
        return;
    }
    const mm_kernel_table *k = mm_core_kernels();
    const size_t qb = al64(mm_xq8_bytes(cols));
    for (int j0 = 0; j0 < n; j0 += MULTI_GROUP) {
        const int g = n - j0 < MULTI_GROUP ? n - j0 : MULTI_GROUP;
        mm_xq8 xq[MULTI_GROUP];
        const mm_xq8 *xqp[MULTI_GROUP] = {0};
        if (k->wants_xq[ti]) {
            uint8_t *mem = mm_core_scratch(pool, ith, (size_t)g * qb);
            if (!mem) { /* not reserved for g vectors: one pass per vector, the same results */
                for (int j = 0; j < g; j++) mm_matvec_rows(pool, ith, t, W, r0, r1, cols, x[j0 + j], y[j0 + j]);
                continue;
            }
            for (int j = 0; j < g; j++) { /* as mm_matvec_rows quantizes x (matvec.c prepare_x) */
                (k->quantize_x ? k->quantize_x : mm_xq8_quantize)(x[j0 + j], cols, mem + (size_t)j * qb, &xq[j]);
                xqp[j] = &xq[j];
            }
        }
        const mm_multi_fn mf = mm_multi_kernel(k, t);
        const int mv = mm_multi_kernel_vmax(k, t);
        if (mf && mv == MULTI_VANY) mf(W, rb, r0, r1, cols, g, x + j0, xqp, y + j0); /* all g in one pass: no tiles */
        else multi_tiles(k->rows[ti], mf, mv, W, rb, r0, r1, cols, g, x + j0, xqp, y + j0);
    }
}

/* ---------------------------------------------------------------- threaded: threads claim chunks of rows */
typedef struct {
    mm_pool *pool;
    mm_type t;
    const void *W;
    int64_t rows, cols, chunk;
    int n;
    const float *const *x;
    float *const *y;
    atomic_llong next;
} multi_ctx;

static void multi_task(void *c, int ith, int nth) {
    (void)nth;
    multi_ctx *m = c;
    for (;;) {
        int64_t r0 = atomic_fetch_add_explicit(&m->next, m->chunk, memory_order_relaxed);
        if (r0 >= m->rows) return;
        int64_t r1 = r0 + m->chunk < m->rows ? r0 + m->chunk : m->rows;
        mm_matvec_multi_rows(m->pool, ith, m->t, m->W, r0, r1, m->cols, m->n, m->x, m->y);
    }
}

void mm_matvec_multi(mm_pool *pool, mm_type t, const void *W, int64_t rows, int64_t cols, int n,
                     const float *const *x, float *const *y) {
    if (rows <= 0 || n < 1) return;
    const int nth = mm_pool_n_threads(pool);
    multi_ctx m = {pool, t, W, rows, cols, rows, n, x, y, 0};
    if (nth <= 1 || rows < 2) {
        multi_task(&m, 0, 1);
        return;
    }
    int64_t ch = rows / (4 * (int64_t)nth);
    m.chunk = ch < 16 ? 16 : (ch + 15) & ~(int64_t)15;
    mm_pool_run(pool, multi_task, &m);
}

void mm_matvec_multi_ref(mm_type t, const void *W, int64_t rows, int64_t cols, int n, const float *const *x,
                         float *const *y) {
    for (int j = 0; j < n; j++) mm_matvec_ref(t, W, rows, cols, x[j], y[j]);
}
