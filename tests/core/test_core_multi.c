/* test_core_multi.c - mm_matvec_multi / mm_matvec_multi_rows (one matrix times n vectors) at the kernel level
 * MMGPT_KERNEL forces (ctest runs it per level; a level the CPU lacks exits 77).
 *
 * Checks, for every type core computes (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K):
 *   - bit-identity (memcmp) of each vector's output with mm_matvec on that vector alone and with mm_matvec_rows
 *     over the same row range: the decode of several sequences must give each the single-sequence logits;
 *   - closeness to the naive reference mm_matvec_multi_ref (dequantize, sum in double): |y - ref| <= 2e-6
 *     sum|w x| + 1e-6, plus sum|w| d_x / 2 where the level rounds x to 8 bits (test_core_kernels.c's bound);
 *   - that no output outside the asked rows is written (guard values);
 *   - mm_matvec_multi_rows_shared (inputs quantized once per key, shared by the calls and threads): the same bits
 *     as mm_matvec alone however the rows are split and whoever quantized (check_shared).
 * Shapes: rows 1, 37, 300 (tiles that do not divide them; rows of 4096 columns make one-row tiles), cols 256,
 * 768 and 4096 (K-quants need multiples of 256), 96, 160, 192, 224 (3, 5, 6, 7 blocks: every tail of the
 * 4-block / 2-block steps), 100 (F32/F16/BF16 tails), 16416 (6 rows: the 4-row step of the avx512 Q8_0/Q4_0 row
 * kernels for long rows), n = 1..9, 16, 19 vectors (the register-blocked quantized kernels take MULTI_V = 4 at a
 * time, the avx512 Q8_0/Q4_0 ones MULTI_VMAX = 8 in one pass: every count 1..8 of a call is run; 9 = 8 + 1; 19 is
 * more than one group of MM_MATVEC_MULTI_GROUP), threads 1 and 2, with and without reserved scratch (the fallback
 * path). F32/F16/BF16 at avx2/avx512 (matvec_fp_avx*.c: tiles of R = 4, 3, 2, 1 rows x V <= 8 (avx2: 4) vectors,
 * more in groups per block of rows; avx2: two accumulators per (row, vector), even and odd column chunks; avx512:
 * one per (row, vector) fed per group of four 16-column chunks): every V of a pass (n = 1..9, 16, 19), row counts
 * and sub-ranges [rows/3, rows - rows/5) that leave every remainder of R, and columns 16, 48, 56 (one / three
 * 16-column chunks, no 64-column step; 56: a masked tail of 8 at avx512 (a last group of 4 chunks), none at
 * avx2), 90, 100 and 770 (after the steps, avx512 last groups of 2, 3, 1 chunks, the last masked; avx2 tails of
 * 2, 4 and 2). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_core.h"

#include "mm_check.h"
#include "mm_level.h"

static unsigned rng = 777;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) / 8388608.0 - 1.0);
}

static bool quantizes_x(mm_type t) {
    return strcmp(mm_cpu_kernel_name(), "generic") != 0 && t != MM_TYPE_F32 && t != MM_TYPE_F16 &&
           t != MM_TYPE_BF16;
}

static double tol_row(mm_type t, const void *row, int64_t cols, const float *x) {
    float *w = malloc(sizeof(float) * (size_t)cols);
    mm_dequantize_row(t, row, w, cols);
    double sa = 0, sq = 0;
    for (int64_t i = 0; i < cols; i += MM_QK) {
        float amax = 0;
        for (int64_t j = i; j < i + MM_QK && j < cols; j++) amax = fmaxf(amax, fabsf(x[j]));
        for (int64_t j = i; j < i + MM_QK && j < cols; j++) {
            sa += fabs((double)w[j] * x[j]);
            sq += fabs((double)w[j]) * amax / 127.0 / 2;
        }
    }
    free(w);
    return 2e-6 * sa + 1e-6 + (quantizes_x(t) ? 1.01 * sq : 0.0);
}

enum { NMAX = 19 };
/* 513 blocks of 32: the avx512 Q8_0/Q4_0 row kernels take 4 rows at once from 16384 columns (MM_WIDE_COLS), the
 * batched kernels one: 6 rows = a step of 4 and 2 more, and an odd tail block */
enum { WIDE = 16416 };

/* mm_matvec_multi_rows_shared: inputs quantized once per key into g_mx (n_max MX_N < 19: vectors past it are
 * quantized per call) must give the bits of mm_matvec alone (y1), whichever call or thread quantized them:
 *   - the rows split into three calls of one key, in the order middle, first, last, on threads 1, 0, 1;
 *   - the whole range by the pool's threads claiming chunks of 16 rows (concurrent claims of the same slots);
 *   - the same key with the inputs in reverse order (other pointers: each call quantizes them itself);
 *   - new contents under a new key (a stale quantized input would give the old products).
 * ys: n rows + 2 of scratch per vector (y of check_one, overwritten). */
enum { MX_N = 12 };
static mm_multi_x *g_mx;
static uint64_t g_key;

typedef struct {
    mm_pool *pool;
    mm_type t;
    const void *W;
    int64_t rows, cols;
    int n;
    const float *const *x;
    float *const *y;
    uint64_t key;
    int next;
} shared_ctx;

static void shared_task(void *c, int ith, int nth) {
    (void)nth;
    shared_ctx *s = c;
    for (;;) {
        const int64_t r0 = 16 * (int64_t)__atomic_fetch_add(&s->next, 1, __ATOMIC_RELAXED);
        if (r0 >= s->rows) return;
        const int64_t r1 = r0 + 16 < s->rows ? r0 + 16 : s->rows;
        mm_matvec_multi_rows_shared(s->pool, ith, s->t, s->W, r0, r1, s->cols, s->n, s->x, s->y, g_mx, s->key);
    }
}

static void cmp_rows(mm_type t, int64_t rows, int64_t cols, int n, float *const *y, float *const *want, const char *what) {
    for (int j = 0; j < n; j++)
        CHECK(memcmp(y[j], want[j], sizeof(float) * (size_t)rows) == 0, "%s %s %lldx%lld n=%d: shared, %s: vector %d differs from mm_matvec alone",
              mm_cpu_kernel_name(), mm_type_name(t), (long long)rows, (long long)cols, n, what, j);
}

static void check_shared(mm_pool *pool, mm_type t, const uint8_t *W, int64_t rows, int64_t cols, int n,
                         const float **x, float **y1, float **ys) {
    const int nth = mm_pool_n_threads(pool);
    const int64_t a = rows / 3, b = rows - rows / 4;
    uint64_t key = ++g_key;
    mm_matvec_multi_rows_shared(pool, nth - 1, t, W, a, b, cols, n, x, ys, g_mx, key);
    mm_matvec_multi_rows_shared(pool, 0, t, W, 0, a, cols, n, x, ys, g_mx, key);
    mm_matvec_multi_rows_shared(pool, nth - 1, t, W, b, rows, cols, n, x, ys, g_mx, key);
    cmp_rows(t, rows, cols, n, ys, y1, "three calls");
    shared_ctx sc = {pool, t, W, rows, cols, n, x, ys, ++g_key, 0};
    mm_pool_run(pool, shared_task, &sc);
    cmp_rows(t, rows, cols, n, ys, y1, "pool threads");
    const float *xr[NMAX];
    float *yrv[NMAX], *y1r[NMAX];
    for (int j = 0; j < n; j++) xr[j] = x[n - 1 - j], yrv[j] = ys[n - 1 - j], y1r[j] = y1[n - 1 - j];
    sc.x = xr, sc.y = yrv, sc.next = 0; /* the same key as the pool run above */
    mm_pool_run(pool, shared_task, &sc);
    cmp_rows(t, rows, cols, n, yrv, y1r, "same key, other pointers");
    for (int j = 0; j < n; j++) { /* new contents, new key */
        float *v = (float *)x[j];
        for (int64_t i = 0; i < cols; i++) v[i] = frand() * (float)(1 + j % 2);
        mm_matvec(pool, t, W, rows, cols, v, y1[j]);
    }
    sc.x = x, sc.y = ys, sc.next = 0, sc.key = ++g_key;
    mm_pool_run(pool, shared_task, &sc);
    cmp_rows(t, rows, cols, n, ys, y1, "new contents, new key");
}

static void check_one(mm_pool *pool, mm_type t, int64_t rows, int64_t cols, int n, bool reserved) {
    const size_t rb = mm_row_size(t, cols);
    uint8_t *W = malloc(rb * (size_t)rows);
    float *row = malloc(sizeof(float) * (size_t)cols);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < cols; i++) row[i] = r == rows / 2 ? 0.0f : frand();
        mm_quantize_row(t, row, W + (size_t)r * rb, cols);
    }
    const float *x[NMAX];
    float *y[NMAX], *y1[NMAX], *yr[NMAX], *yref[NMAX];
    for (int j = 0; j < n; j++) {
        float *v = malloc(sizeof(float) * (size_t)cols);
        for (int64_t i = 0; i < cols; i++) v[i] = frand() * (float)(1 + j % 3);
        x[j] = v;
        y[j] = malloc(sizeof(float) * (size_t)(rows + 2)), y1[j] = malloc(sizeof(float) * (size_t)rows);
        yr[j] = malloc(sizeof(float) * (size_t)(rows + 2)), yref[j] = malloc(sizeof(float) * (size_t)rows);
        for (int64_t r = 0; r < rows + 2; r++) y[j][r] = yr[j][r] = -12345.0f;
        y[j] += 1, yr[j] += 1; /* a guard value before and after */
    }
    mm_matvec_multi(pool, t, W, rows, cols, n, x, y);
    const int64_t r0 = rows / 3, r1 = rows - rows / 5; /* a sub-range, as one item of a decode step */
    mm_matvec_multi_rows(pool, 0, t, W, r0, r1, cols, n, x, yr);
    mm_matvec_multi_ref(t, W, rows, cols, n, x, yref);
    for (int j = 0; j < n; j++) {
        mm_matvec(pool, t, W, rows, cols, x[j], y1[j]);
        const char *lv = mm_cpu_kernel_name(), *tn = mm_type_name(t);
        const int nth = mm_pool_n_threads(pool);
        CHECK(memcmp(y[j], y1[j], sizeof(float) * (size_t)rows) == 0,
              "%s %s %lldx%lld n=%d threads=%d reserved=%d: vector %d differs from mm_matvec alone", lv, tn,
              (long long)rows, (long long)cols, n, nth, reserved, j);
        CHECK(memcmp(yr[j] + r0, y1[j] + r0, sizeof(float) * (size_t)(r1 - r0)) == 0,
              "%s %s %lldx%lld n=%d: _rows [%lld, %lld) of vector %d differ from mm_matvec", lv, tn, (long long)rows,
              (long long)cols, n, (long long)r0, (long long)r1, j);
        CHECK(y[j][-1] == -12345.0f && y[j][rows] == -12345.0f, "%s %s: wrote outside y", lv, tn);
        for (int64_t r = 0; r < rows; r++)
            if (r < r0 || r >= r1)
                if (yr[j][r] != -12345.0f) {
                    CHECK(0, "%s %s: _rows wrote row %lld outside [%lld, %lld)", lv, tn, (long long)r, (long long)r0,
                          (long long)r1);
                    break;
                }
        for (int64_t r = 0; r < rows; r++) {
            const double tol = tol_row(t, W + (size_t)r * rb, cols, x[j]);
            if (!(fabs((double)y[j][r] - yref[j][r]) <= tol)) {
                CHECK(0, "%s %s %lldx%lld n=%d vector %d row %lld: %.9g vs ref %.9g (tol %.3g)", lv, tn, (long long)rows,
                      (long long)cols, n, j, (long long)r, y[j][r], yref[j][r], tol);
                break;
            }
        }
    }
    check_shared(pool, t, W, rows, cols, n, x, y1, y);
    for (int j = 0; j < n; j++) {
        free((void *)x[j]), free(y[j] - 1), free(y1[j]), free(yr[j] - 1), free(yref[j]);
    }
    free(W), free(row);
}

int main(void) {
    int lv = mm_test_forced_level("core multi");
    if (lv != 0) return lv;
    printf("kernel level: %s\n", mm_cpu_kernel_name());
    char err[MM_ERR_SIZE];
    const mm_type types[] = {MM_TYPE_F32, MM_TYPE_F16, MM_TYPE_BF16, MM_TYPE_Q8_0, MM_TYPE_Q4_0, MM_TYPE_Q4_1,
                             MM_TYPE_Q5_0, MM_TYPE_Q5_1, MM_TYPE_Q4_K, MM_TYPE_Q5_K, MM_TYPE_Q6_K};
    /* 96 / 160 / 192 / 224 columns: 3 / 5 / 6 / 7 blocks of 32 (a pair and an odd block; a step of 4 and an odd
     * block; a step of 4 and a pair; all three); 100, 16, 48, 56, 90, 770: f32/f16/bf16 chunks and tails; 768: 3
     * K-quant super-blocks (types whose rows cannot have these columns skip those shapes); 992 / 736: 31 / 23 blocks
 * (the avx512 Q4_0 kernel's groups of 16 and 8 blocks, then a step of 4, a pair and an odd block; 16 + 4 + 2 + 1);
 * 4096, 3100, 4160, WIDE: the avx512 f32/f16/bf16 column blocks (n x cols > 8192: blocks of 32 rows x 512 columns,
 * accumulators carried across them): 53 rows = a block and 21 rows, 3100 = 6 blocks and 28 columns (a masked
 * last chunk), 4160 = 8 blocks and one 64-column group */
    const int64_t shapes[][2] = {{1, 256}, {37, 256}, {300, 256}, {37, 4096}, {9, 96}, {21, 160}, {13, 100},
                                 {7, 192}, {5, 224}, {11, 768}, {6, WIDE}, {19, 16}, {23, 48}, {17, 56}, {29, 770},
                                 {7, 992}, {5, 736}, {10, 90}, {53, 3100}, {9, 4160}};
    const int ns[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 19};
    g_mx = mm_multi_x_create(WIDE, MX_N, err);
    CHECK(g_mx, "mm_multi_x_create: %s", err);
    if (!g_mx) return 1;
    for (int nth = 1; nth <= 2; nth++)
        for (int res = 0; res < 2; res++) {
            mm_pool *pool = mm_pool_create(nth, err);
            CHECK(pool, "pool: %s", err);
            if (!pool) return 1;
            if (res) CHECK(mm_kernels_reserve_multi(pool, WIDE, NMAX, err) == 0, "reserve: %s", err);
            for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
                for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
                    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
                        if (mm_row_size(types[ti], shapes[si][1]) > 0 && shapes[si][1] % mm_type_block_size(types[ti]) == 0)
                            check_one(pool, types[ti], shapes[si][0], shapes[si][1], ns[ni], res);
            mm_pool_free(pool);
        }
    mm_multi_x_free(g_mx);
    if (n_fail) {
        fprintf(stderr, "FAIL: %d checks\n", n_fail);
        return 1;
    }
    printf("mm_matvec_multi: every vector bit-identical to mm_matvec, within the reference's bound\n");
    return 0;
}
