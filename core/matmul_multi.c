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
 * register-blocked kernels instead (each weight row loaded and unpacked once for 4 vectors, for Q8_0, Q4_0, Q4_K and Q6_K
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
#include <stdlib.h>
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

/* rows [r0, r1) for g <= MULTI_GROUP vectors whose inputs are ready (xqp[j] quantized where the type wants it) */
static void multi_run(const mm_kernel_table *k, int ti, mm_type t, const void *W, size_t rb, int64_t r0, int64_t r1,
                      int64_t cols, int g, const float *const *x, const mm_xq8 *const *xqp, float *const *y) {
    const mm_multi_fn mf = mm_multi_kernel(k, t);
    const int mv = mm_multi_kernel_vmax(k, t);
    if (mf && mv == MULTI_VANY) mf(W, rb, r0, r1, cols, g, x, xqp, y); /* all g in one pass: no tiles */
    else multi_tiles(k->rows[ti], mf, mv, W, rb, r0, r1, cols, g, x, xqp, y);
}

void mm_matvec_multi_rows(mm_pool *pool, int ith, mm_type t, const void *W, int64_t r0, int64_t r1, int64_t cols,
                          int n, const float *const *x, float *const *y) {
    mm_matvec_multi_rows_shared(pool, ith, t, W, r0, r1, cols, n, x, y, NULL, 0);
}

/* ---------------------------------------------------------------- inputs quantized once per product (mm_multi_x)
 * Slot j holds vector j quantized for the calls of one key: state = key << 1 (claimed, being quantized) or
 * key << 1 | 1 (ready; x, cols and xq written before, release); anything else is stale. The first call of a key
 * that needs vector j claims its slot (CAS) and quantizes it; calls finding it claimed wait a little, then
 * quantize it themselves in their own scratch (the same function on the same x: the same bits), so no call ever
 * waits for a descheduled thread for long and the results never depend on who quantized. */
typedef struct {
    _Alignas(64) atomic_uint_fast64_t state;
    const float *x;
    int64_t cols;
    mm_xq8 xq;
} mx_slot;

struct mm_multi_x {
    int n_max;
    int64_t max_cols;
    size_t qb;         /* bytes per slot's quantized vector, al64(mm_xq8_bytes(max_cols)) */
    mx_slot *slot;     /* [n_max] */
    uint8_t *mem;      /* [n_max * qb] */
};

mm_multi_x *mm_multi_x_create(int64_t max_cols, int n_max, char *err) {
    if (max_cols < 0 || max_cols > ((int64_t)1 << 32) || n_max < 1 || n_max > 4096) {
        mm_err(err, "%s: %lld columns x %d vectors is out of range", __func__, (long long)max_cols, n_max);
        return NULL;
    }
    mm_multi_x *mx = calloc(1, sizeof *mx);
    if (!mx) goto oom;
    mx->n_max = n_max, mx->max_cols = max_cols, mx->qb = al64(mm_xq8_bytes(max_cols));
    mx->slot = aligned_alloc(64, sizeof(mx_slot) * (size_t)n_max);
    if (!mx->slot || posix_memalign((void **)&mx->mem, 64, mx->qb * (size_t)n_max + 64) != 0) {
        free(mx->slot);
        free(mx);
        goto oom;
    }
    for (int j = 0; j < n_max; j++) {
        atomic_init(&mx->slot[j].state, 0);
        mx->slot[j].x = NULL, mx->slot[j].cols = -1;
    }
    return mx;
oom:
    mm_err(err, "%s: out of memory (%d vectors of %lld columns)", __func__, n_max, (long long)max_cols);
    return NULL;
}

void mm_multi_x_free(mm_multi_x *mx) {
    if (!mx) return;
    free(mx->mem);
    free(mx->slot);
    free(mx);
}

/* vector j of the calls of key: the shared quantized input, or NULL (the caller quantizes it itself) */
static const mm_xq8 *mx_get(const mm_kernel_table *k, mm_multi_x *mx, uint64_t key, int j, const float *x,
                            int64_t cols, bool wait) {
    if (!mx || key == 0 || key >= ((uint64_t)1 << 62) || j >= mx->n_max || cols > mx->max_cols) return NULL;
    mx_slot *s = &mx->slot[j];
    const uint64_t busy = key << 1, ready = busy | 1;
    uint_fast64_t st = atomic_load_explicit(&s->state, memory_order_acquire);
    for (int spin = 0; st == busy && wait && spin < 256; spin++) {
#if defined(__x86_64__) && defined(__GNUC__)
        __builtin_ia32_pause();
#endif
        st = atomic_load_explicit(&s->state, memory_order_acquire);
    }
    if (st == ready) return s->x == x && s->cols == cols ? &s->xq : NULL;
    if (st == busy || !atomic_compare_exchange_strong_explicit(&s->state, &st, busy, memory_order_acquire,
                                                               memory_order_acquire))
        return NULL; /* another thread's: take it later (wait) or quantize it privately */
    s->x = x, s->cols = cols;
    mm_core_quantize_x(k, x, cols, mx->mem + (size_t)j * mx->qb, &s->xq);
    atomic_store_explicit(&s->state, ready, memory_order_release);
    return &s->xq;
}

void mm_matvec_multi_rows_shared(mm_pool *pool, int ith, mm_type t, const void *W, int64_t r0, int64_t r1,
                                 int64_t cols, int n, const float *const *x, float *const *y, mm_multi_x *mx,
                                 uint64_t key) {
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
            /* shared inputs first: claim and quantize the free ones, then the ones other threads are doing */
            for (int pass = 0; pass < 2 && mx; pass++)
                for (int j = 0; j < g; j++)
                    if (!xqp[j]) xqp[j] = mx_get(k, mx, key, j0 + j, x[j0 + j], cols, pass == 1);
            uint8_t *mem = NULL;
            for (int j = 0; j < g; j++) {
                if (xqp[j]) continue;
                if (!mem && !(mem = mm_core_scratch(pool, ith, (size_t)g * qb))) break;
                mm_core_quantize_x(k, x[j0 + j], cols, mem + (size_t)j * qb, &xq[j]);
                xqp[j] = &xq[j];
            }
            bool all = true;
            for (int j = 0; j < g; j++) all = all && xqp[j];
            if (!all) { /* scratch not reserved for g vectors: those without one pass each (the same results) */
                for (int j = 0; j < g; j++)
                    if (!xqp[j]) mm_matvec_rows(pool, ith, t, W, r0, r1, cols, x[j0 + j], y[j0 + j]);
                /* the rest together (compacted) */
                const float *xs[MULTI_GROUP];
                float *ys[MULTI_GROUP];
                const mm_xq8 *xs8[MULTI_GROUP];
                int m = 0;
                for (int j = 0; j < g; j++)
                    if (xqp[j]) xs[m] = x[j0 + j], ys[m] = y[j0 + j], xs8[m++] = xqp[j];
                if (m) multi_run(k, ti, t, W, rb, r0, r1, cols, m, xs, xs8, ys);
                continue;
            }
        }
        multi_run(k, ti, t, W, rb, r0, r1, cols, g, x + j0, xqp, y + j0);
    }
}

/* ---------------------------------------------------------------- threaded: threads claim chunks of rows
 * For the types whose kernels take x quantized, a first pool run quantizes the inputs once (thread ith the vectors
 * j = ith mod nth, into its own kernel scratch), then the threads claim chunks of rows against them. */
#define MQ_ROUND 64 /* vectors per round of the two runs (at most MULTI_GROUP per thread) */

typedef struct {
    mm_pool *pool;
    mm_type t;
    const void *W;
    int64_t rows, cols, chunk;
    int n;
    const float *const *x;
    float *const *y;
    const mm_xq8 **xqp;   /* [n] x quantized by multi_quantize_task, or NULL: the items quantize */
    mm_xq8 *xq;           /* [n] */
    atomic_llong next;
} multi_ctx;

static void multi_quantize_task(void *c, int ith, int nth) {
    multi_ctx *m = c;
    const mm_kernel_table *k = mm_core_kernels();
    const size_t qb = al64(mm_xq8_bytes(m->cols));
    uint8_t *mem = mm_core_scratch(m->pool, ith, (size_t)((m->n + nth - 1) / nth) * qb);
    if (!mem) return; /* not reserved: the items quantize these themselves */
    for (int j = ith, s = 0; j < m->n; j += nth, s++) {
        mm_core_quantize_x(k, m->x[j], m->cols, mem + (size_t)s * qb, &m->xq[j]);
        m->xqp[j] = &m->xq[j];
    }
}

static void multi_task(void *c, int ith, int nth) {
    (void)nth;
    multi_ctx *m = c;
    const mm_kernel_table *k = mm_core_kernels();
    const int ti = mm_core_type_index(m->t);
    for (;;) {
        int64_t r0 = atomic_fetch_add_explicit(&m->next, m->chunk, memory_order_relaxed);
        if (r0 >= m->rows) return;
        int64_t r1 = r0 + m->chunk < m->rows ? r0 + m->chunk : m->rows;
        for (int j0 = 0; j0 < m->n; j0 += MULTI_GROUP) {
            const int g = m->n - j0 < MULTI_GROUP ? m->n - j0 : MULTI_GROUP;
            bool ready = m->xqp != NULL;
            for (int j = 0; j < g && ready; j++) ready = m->xqp[j0 + j] != NULL;
            if (ready)
                multi_run(k, ti, m->t, m->W, mm_row_size(m->t, m->cols), r0, r1, m->cols, g, m->x + j0, m->xqp + j0,
                          m->y + j0);
            else mm_matvec_multi_rows(m->pool, ith, m->t, m->W, r0, r1, m->cols, g, m->x + j0, m->y + j0);
        }
    }
}

void mm_matvec_multi(mm_pool *pool, mm_type t, const void *W, int64_t rows, int64_t cols, int n,
                     const float *const *x, float *const *y) {
    if (rows <= 0 || n < 1) return;
    const int nth = mm_pool_n_threads(pool);
    multi_ctx m = {pool, t, W, rows, cols, rows, n, x, y, NULL, NULL, 0};
    if (nth <= 1 || rows < 2) {
        multi_task(&m, 0, 1);
        return;
    }
    int64_t ch = rows / (4 * (int64_t)nth);
    m.chunk = ch < 16 ? 16 : (ch + 15) & ~(int64_t)15;
    const int ti = mm_core_type_index(t);
    if (ti < 0 || cols <= 0 || mm_row_size(t, cols) == 0 || !mm_core_kernels()->wants_xq[ti]) {
        mm_pool_run(pool, multi_task, &m);
        return;
    }
    const int round = nth * MULTI_GROUP < MQ_ROUND ? nth * MULTI_GROUP : MQ_ROUND;
    for (int j0 = 0; j0 < n; j0 += round) {
        const int g = n - j0 < round ? n - j0 : round;
        mm_xq8 xq[MQ_ROUND];
        const mm_xq8 *xqp[MQ_ROUND] = {0};
        multi_ctx r = {pool, t, W, rows, cols, m.chunk, g, x + j0, y + j0, xqp, xq, 0};
        mm_pool_run(pool, multi_quantize_task, &r);
        mm_pool_run(pool, multi_task, &r);
    }
}

void mm_matvec_multi_ref(mm_type t, const void *W, int64_t rows, int64_t cols, int n, const float *const *x,
                         float *const *y) {
    for (int j = 0; j < n; j++) mm_matvec_ref(t, W, rows, cols, x[j], y[j]);
}
