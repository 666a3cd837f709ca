/* test_core_kernels.c - fast kernels vs their naive references, at the kernel level chosen by
 * MMGPT_KERNEL (ctest runs this once per level: generic, avx2, avx512; a level the CPU lacks exits 77).
 *
 * Tolerances (all per output element, against the double-precision references mm_matvec_ref /
 * mm_linear_ref and a naive double sgemm):
 *   f32 arithmetic:   |y - ref| <= 2e-6 * sum_i |w_i x_i| + 1e-6      (f32 rounding of a long sum)
 *   quantized x:      the above + 1.01 * sum_i |w_i| * d_x(i) / 2      where d_x = amax(block of x)/127,
 *                     for the matvec of every quantized type (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) at
 *                     the avx2/avx512 levels, which quantize x to 8 bits per block of 32 (llama.cpp style); this
 *                     is the rigorous bound for rounding x to the nearest step; also for mm_linear (n > 1) of
 *                     Q4_0, Q4_K and Q8_0 where they take the int8 gemm (the default at avx2/avx512; MMGPT_GEMM=f32
 *                     keeps f32 x), also tested bit for bit against its naive reference mm_core_gemm_int8_ref.
 * x's 8-bit quantization (mm_xq8, level and generic): the per-16 sums s16 and block sums ds exactly (test_xq8).
 * Types: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K (weights from mm_quantize_row of
 * random rows, one all-zero row). Sizes: rows 1..301 (not multiples of the thread count), cols 32..4096 (and
 * odd cols for f32/f16/bf16; multiples of 256 for the K-quants), 1, 2 and 3 threads, n = 1, 2, 5, 9, 33, 130 input
 * rows for mm_linear, with and without bias.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_core.h"

#include "mm_check.h"
#include "mm_level.h"
#include "../../core/core_internal.h"   /* the int8 gemm and its naive reference */

static unsigned rng = 12345;
static float frand(void) {   /* uniform in [-1, 1) */
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) / 8388608.0 - 1.0);
}

static bool is_float_type(mm_type t) { return t == MM_TYPE_F32 || t == MM_TYPE_F16 || t == MM_TYPE_BF16; }

/* every quantized type's matvec quantizes x at the avx2 / avx512 levels */
static bool level_quantizes_x(mm_type t) {
    return strcmp(mm_cpu_kernel_name(), "generic") != 0 && !is_float_type(t);
}

/* per-row tolerance for W (rows x cols, type t) times x */
static void tolerances(mm_type t, const void *W, int64_t rows, int64_t cols, const float *x, bool qx, double *tol) {
    size_t rb = mm_row_size(t, cols);
    float *w = malloc(sizeof(float) * (size_t)cols);
    double *dx = malloc(sizeof(double) * (size_t)cols);
    for (int64_t i = 0; i < cols; i += MM_QK) {
        float amax = 0;
        int64_t e = i + MM_QK < cols ? i + MM_QK : cols;
        for (int64_t j = i; j < e; j++) amax = fmaxf(amax, fabsf(x[j]));
        for (int64_t j = i; j < e; j++) dx[j] = amax / 127.0;
    }
    for (int64_t r = 0; r < rows; r++) {
        mm_dequantize_row(t, (const uint8_t *)W + (size_t)r * rb, w, cols);
        double sa = 0, sq = 0;
        for (int64_t j = 0; j < cols; j++) {
            sa += fabs((double)w[j] * x[j]);
            sq += fabs((double)w[j]) * dx[j] / 2;
        }
        tol[r] = 2e-6 * sa + 1e-6 + (qx ? 1.01 * sq : 0.0);
    }
    free(w);
    free(dx);
}

static void *make_weights(mm_type t, int64_t rows, int64_t cols) {
    size_t rb = mm_row_size(t, cols);
    uint8_t *W = malloc(rb * (size_t)rows + 1);
    float *row = malloc(sizeof(float) * (size_t)cols);
    for (int64_t r = 0; r < rows; r++) {
        /* magnitudes varying per 16 elements (sub-block scales), some rows all positive (K-quant min 0) */
        for (int64_t j = 0; j < cols; j++)
            row[j] = frand() * (r % 3 == 0 ? 10.0f : 0.5f) * (float)(1 + (j / 16 + r) % 4) + (r % 5 == 2 ? 6.0f : 0.0f);
        if (r == 1) memset(row, 0, sizeof(float) * (size_t)cols);   /* an all-zero row (d = 0) */
        mm_quantize_row(t, row, W + (size_t)r * rb, cols);
    }
    free(row);
    return W;
}

static void test_matvec(mm_pool *pool, mm_type t, int64_t rows, int64_t cols) {
    void *W = make_weights(t, rows, cols);
    float *x = malloc(sizeof(float) * (size_t)cols), *y = malloc(sizeof(float) * (size_t)rows),
          *yr = malloc(sizeof(float) * (size_t)rows);
    double *tol = malloc(sizeof(double) * (size_t)rows);
    for (int64_t j = 0; j < cols; j++) x[j] = frand() * (j % 7 == 0 ? 4.0f : 1.0f);
    mm_matvec(pool, t, W, rows, cols, x, y);
    mm_matvec_ref(t, W, rows, cols, x, yr);
    tolerances(t, W, rows, cols, x, level_quantizes_x(t), tol);
    for (int64_t r = 0; r < rows; r++)
        CHECK(fabs((double)y[r] - yr[r]) <= tol[r] && isfinite(y[r]),
              "matvec %s %s %lldx%lld threads=%d row %lld: %.9g vs ref %.9g (tol %.3g)", mm_cpu_kernel_name(),
              mm_type_name(t), (long long)rows, (long long)cols, mm_pool_n_threads(pool), (long long)r, y[r], yr[r],
              tol[r]);
    free(W); free(x); free(y); free(yr); free(tol);
}

static void test_linear(mm_pool *pool, mm_type t, int64_t rows, int64_t cols, int64_t n, bool with_bias) {
    void *W = make_weights(t, rows, cols);
    float *X = malloc(sizeof(float) * (size_t)(cols * n)), *Y = malloc(sizeof(float) * (size_t)(rows * n)),
          *Yr = malloc(sizeof(float) * (size_t)(rows * n)), *b = malloc(sizeof(float) * (size_t)rows);
    double *tol = malloc(sizeof(double) * (size_t)rows);
    for (int64_t j = 0; j < cols * n; j++) X[j] = frand();
    for (int64_t r = 0; r < rows; r++) b[r] = frand() * 3;
    for (int64_t j = 0; j < rows * n; j++) Y[j] = NAN;   /* every output must be written */
    mm_linear(pool, t, W, with_bias ? b : NULL, rows, cols, n, X, Y);
    mm_linear_ref(t, W, with_bias ? b : NULL, rows, cols, n, X, Yr);
    for (int64_t i = 0; i < n; i++) {
        /* n > 1 quantizes x too where Q4_0/Q4_K/Q8_0 take the int8 gemm (avx2/avx512 levels unless MMGPT_GEMM=f32) */
        tolerances(t, W, rows, cols, X + i * cols, (n == 1 || mm_core_use_int8_gemm(t)) && level_quantizes_x(t), tol);
        for (int64_t r = 0; r < rows; r++) {
            double d = fabs((double)Y[i * rows + r] - Yr[i * rows + r]);
            CHECK(d <= tol[r] + 1e-6 * fabs(b[r]), "linear %s %s %lldx%lld n=%lld bias=%d threads=%d [%lld,%lld]: %.9g vs %.9g",
                  mm_cpu_kernel_name(), mm_type_name(t), (long long)rows, (long long)cols, (long long)n, with_bias,
                  mm_pool_n_threads(pool), (long long)i, (long long)r, Y[i * rows + r], Yr[i * rows + r]);
        }
    }
    free(W); free(X); free(Y); free(Yr); free(b); free(tol);
}

/* mm_linear's kernel rule (mm_core.h): F16/BF16 with n <= MM_MATVEC_MULTI_GROUP rows is each row's mm_matvec (+ bias
 * by mm_add) bit for bit, so every caller (decoder prefill, encoders, projectors) gets the choice; from n = 17 the
 * gemm (checked against the reference by test_linear). */
static void test_linear_rule(mm_pool *pool, mm_type t, int64_t rows, int64_t cols, int64_t n) {
    void *W = make_weights(t, rows, cols);
    float *X = malloc(sizeof(float) * (size_t)(cols * n)), *Y = malloc(sizeof(float) * (size_t)(rows * n)),
          *Yv = malloc(sizeof(float) * (size_t)(rows * n)), *b = malloc(sizeof(float) * (size_t)rows);
    for (int64_t j = 0; j < cols * n; j++) X[j] = frand();
    for (int64_t r = 0; r < rows; r++) b[r] = frand() * 3;
    mm_linear(pool, t, W, b, rows, cols, n, X, Y);
    for (int64_t i = 0; i < n; i++) {
        mm_matvec(pool, t, W, rows, cols, X + i * cols, Yv + i * rows);
        mm_add(Yv + i * rows, Yv + i * rows, b, rows);
    }
    int64_t bad = 0;
    for (int64_t j = 0; j < rows * n; j++) bad += memcmp(&Y[j], &Yv[j], sizeof(float)) != 0;
    CHECK(bad == 0, "linear rule %s %s %lldx%lld n=%lld threads=%d: %lld of %lld outputs differ from per-row matvec",
          mm_cpu_kernel_name(), mm_type_name(t), (long long)rows, (long long)cols, (long long)n,
          mm_pool_n_threads(pool), (long long)bad, (long long)(rows * n));
    free(W); free(X); free(Y); free(Yv); free(b);
}

/* The int8 gemm (Q4_0, Q4_K, Q8_0) against its naive reference (same quantization of x, same order of sums): the
 * same bits. X has blocks of very different magnitudes, an all-zero block (d_x = 0) and exact halves (round to
 * even); Q8_0 weights get the extremes -128 (which no quantizer writes but a file may hold) and 127 at the
 * ends of every row's blocks (all nibbles of w + 128 used, largest 16-bit sums). */
static void test_int8_gemm(mm_pool *pool, mm_type t, int64_t rows, int64_t cols, int64_t n) {
    void *W = make_weights(t, rows, cols);
    if (t == MM_TYPE_Q8_0)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t b = 0; b < cols / MM_QK; b++) {
                mm_block_q8_0 *blk = (mm_block_q8_0 *)((uint8_t *)W + (size_t)r * mm_row_size(t, cols)) + b;
                for (int e = 0; e < 4; e++) blk->qs[(r + b + e) % 2 ? e : MM_QK - 1 - e] = (int8_t)((r + e) % 3 ? -128 : 127);
            }
    float *X = malloc(sizeof(float) * (size_t)(cols * n)), *Y = malloc(sizeof(float) * (size_t)(rows * n)),
          *Yr = malloc(sizeof(float) * (size_t)(rows * n));
    for (int64_t j = 0; j < cols * n; j++) X[j] = frand() * (float)(1 + (j / 32) % 5) * ((j / 32) % 7 == 3 ? 100.0f : 1.0f);
    if (cols >= 64) memset(X + 32, 0, 32 * sizeof(float));
    for (int e = 0; e < 32 && e < cols; e++) X[e] = e == 0 ? 127.0f : (float)(e - 16) + 0.5f;   /* d = 1: exact halves */
    for (int64_t j = 0; j < rows * n; j++) Y[j] = NAN;
    int rc = mm_core_gemm_int8(pool, t, W, rows, cols, n, X, Y);
    if (strcmp(mm_cpu_kernel_name(), "generic") == 0) {
        CHECK(rc == -1, "int8 gemm ran at the generic level");
    } else {
        CHECK(rc == 0, "int8 gemm %s %lldx%lld n=%lld: returned %d", mm_type_name(t), (long long)rows, (long long)cols,
              (long long)n, rc);
        CHECK(mm_core_gemm_int8_ref(t, W, rows, cols, n, X, Yr) == 0, "int8 gemm reference refused %s", mm_type_name(t));
        int64_t bad = 0;
        for (int64_t j = 0; j < rows * n; j++) bad += memcmp(&Y[j], &Yr[j], sizeof(float)) != 0;
        CHECK(bad == 0, "int8 gemm %s %s %lldx%lld n=%lld threads=%d: %lld of %lld outputs differ from the reference "
              "(first %.9g vs %.9g)", mm_cpu_kernel_name(), mm_type_name(t), (long long)rows, (long long)cols,
              (long long)n, mm_pool_n_threads(pool), (long long)bad, (long long)(rows * n), Y[0], Yr[0]);
    }
    free(W); free(X); free(Y); free(Yr);
}

static void test_sgemm(mm_pool *pool, bool transB, int64_t m, int64_t n, int64_t k, float alpha, float beta) {
    int64_t lda = k + 3, ldb = (transB ? k : n) + 5, ldc = n + 2;
    int64_t brows = transB ? n : k;
    float *A = malloc(sizeof(float) * (size_t)(m * lda)), *B = malloc(sizeof(float) * (size_t)(brows * ldb)),
          *C = malloc(sizeof(float) * (size_t)(m * ldc)), *C0 = malloc(sizeof(float) * (size_t)(m * ldc));
    for (int64_t i = 0; i < m * lda; i++) A[i] = frand();
    for (int64_t i = 0; i < brows * ldb; i++) B[i] = frand();
    for (int64_t i = 0; i < m * ldc; i++) C0[i] = C[i] = frand();
    mm_sgemm(pool, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++) {
            if (j >= n) {
                CHECK(C[i * ldc + j] == C0[i * ldc + j], "sgemm wrote outside C at [%lld,%lld]", (long long)i, (long long)j);
                continue;
            }
            double s = 0, sa = 0;
            for (int64_t p = 0; p < k; p++) {
                double bv = transB ? B[j * ldb + p] : B[p * ldb + j];
                s += (double)A[i * lda + p] * bv;
                sa += fabs((double)A[i * lda + p] * bv);
            }
            double ref = alpha * s + beta * (double)C0[i * ldc + j];
            double tol = 2e-6 * (fabs(alpha) * sa + fabs(beta * C0[i * ldc + j])) + 1e-6;
            CHECK(fabs(C[i * ldc + j] - ref) <= tol, "sgemm transB=%d %lldx%lldx%lld threads=%d [%lld,%lld]: %g vs %g",
                  transB, (long long)m, (long long)n, (long long)k, mm_pool_n_threads(pool), (long long)i, (long long)j,
                  C[i * ldc + j], ref);
        }
    free(A); free(B); free(C); free(C0);
}

/* x's 8-bit quantization by the level's quantize_x and by the generic mm_xq8_quantize: the per-16 sums s16 (Q6_K's
 * offset term at avx2) and the block sums ds against the integer sums of qs, exactly. The matvec tolerance cannot
 * see a wrong s16 of a few units (it is x moved by less than its rounding step), so this checks it directly. */
static void test_xq8(void) {
    const mm_kernel_table *k = mm_core_kernels();
    const int64_t cols_list[] = {32, 96, 256, 1056};
    for (size_t ci = 0; ci < sizeof cols_list / sizeof cols_list[0]; ci++) {
        const int64_t cols = cols_list[ci], nb = cols / MM_QK;
        float *x = malloc(sizeof(float) * (size_t)cols);
        void *mem = aligned_alloc(64, (mm_xq8_bytes(cols) + 63) & ~(size_t)63);
        for (int64_t j = 0; j < cols; j++)   /* block 1: all +1 (s16 = 2032 each), block 2: all -1 */
            x[j] = j / MM_QK == 1 ? 1.0f : j / MM_QK == 2 ? -1.0f : frand() * (j % 5 == 0 ? 3.0f : 1.0f);
        for (int which = 0; which < 2; which++) {
            mm_xq8 xq;
            if (which == 0 && k->quantize_x) k->quantize_x(x, cols, mem, &xq);
            else mm_xq8_quantize(x, cols, mem, &xq);
            for (int64_t i = 0; i < nb; i++) {
                int s0 = 0, s1 = 0;
                for (int e = 0; e < 16; e++) s0 += xq.qs[i * MM_QK + e], s1 += xq.qs[i * MM_QK + 16 + e];
                CHECK(xq.s16[2 * i] == s0 && xq.s16[2 * i + 1] == s1 && xq.ds[i] == xq.d[i] * (float)(s0 + s1),
                      "xq8 %s (%s) cols %lld block %lld: s16 %d %d vs %d %d, ds %.9g vs %.9g", mm_cpu_kernel_name(),
                      which == 0 && k->quantize_x ? "level" : "generic", (long long)cols, (long long)i, xq.s16[2 * i],
                      xq.s16[2 * i + 1], s0, s1, xq.ds[i], xq.d[i] * (float)(s0 + s1));
            }
        }
        free(x);
        free(mem);
    }
}

/* Row scans at this level against naive loops (the plain definitions): mm_argmax (first index of the largest,
 * NaNs skipped unless x[0] is NaN) and mm_find_nonfinite (first NaN/Inf), on every length 1..80 and 50257 with
 * ties, signed zeros, infinities and NaNs placed in the body and in the tail. */
static int32_t argmax_ref(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}
static int64_t nonfinite_ref(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}
static void test_scans(void) {
    enum { NMAX = 50257 };
    float *x = malloc(sizeof(float) * NMAX);
    for (int round = 0; round < 300; round++) {
        const int64_t n = round < 240 ? 1 + round % 80 : NMAX - (round % 5) * 37;
        const int kind = round / 80 % 3 + (round >= 240 ? round % 3 : 0);
        for (int64_t i = 0; i < n; i++) {
            const float r = frand();
            x[i] = kind == 0 ? r : kind == 1 ? (float)((int)(r * 3.0f)) * 0.5f : -INFINITY;   /* 1: few levels, ties */
        }
        /* plant specials at positions that move through the vector body and the tail */
        const int64_t p1 = (round * 7) % n, p2 = (round * 13 + 5) % n;
        switch (round % 6) {
        case 1: x[p1] = NAN; break;
        case 2: x[p1] = INFINITY, x[p2] = INFINITY; break;
        case 3: x[p1] = 0.0f, x[p2] = -0.0f; for (int64_t i = 0; i < n; i++) if (x[i] > 0) x[i] = -x[i]; break;
        case 4: x[0] = NAN, x[p2] = 2.0f; break;
        case 5: x[p1] = -INFINITY, x[p2] = NAN; break;
        default: break;
        }
        CHECK(mm_argmax(x, n) == argmax_ref(x, n), "argmax n=%lld round %d: %d vs %d", (long long)n, round, mm_argmax(x, n),
              argmax_ref(x, n));
        CHECK(mm_find_nonfinite(x, n) == nonfinite_ref(x, n), "find_nonfinite n=%lld round %d: %lld vs %lld", (long long)n,
              round, (long long)mm_find_nonfinite(x, n), (long long)nonfinite_ref(x, n));
    }
    /* the largest value at the last position, in the tail, and twice (the first one wins) */
    for (int64_t n = 1; n <= 70; n++) {
        for (int64_t i = 0; i < n; i++) x[i] = (float)i * 1e-3f;
        CHECK(mm_argmax(x, n) == n - 1, "argmax increasing n=%lld: %d", (long long)n, mm_argmax(x, n));
        if (n > 2) {
            x[n / 2] = x[n - 1];
            CHECK(mm_argmax(x, n) == n / 2, "argmax tie n=%lld: %d", (long long)n, mm_argmax(x, n));
        }
    }
    CHECK(mm_argmax(x, 0) == 0 && mm_find_nonfinite(x, 0) == -1, "empty rows");
    free(x);
}

int main(void) {
    int lv = mm_test_forced_level("core kernels");
    if (lv != 0) return lv;
    const char *got = mm_cpu_kernel_name();
    bool quick = getenv("MMGPT_SANITIZE_RUN") != NULL;
    printf("kernel level: %s\n", got);
    char err[MM_ERR_SIZE];
    test_xq8();
    test_scans();
    const mm_type types[] = {MM_TYPE_F32,  MM_TYPE_F16,  MM_TYPE_BF16, MM_TYPE_Q8_0, MM_TYPE_Q4_0, MM_TYPE_Q4_1,
                             MM_TYPE_Q5_0, MM_TYPE_Q5_1, MM_TYPE_Q4_K, MM_TYPE_Q5_K, MM_TYPE_Q6_K};
    const int n_types = (int)(sizeof types / sizeof types[0]);
    const int64_t rows_list[] = {1, 2, 7, 65, 301};
    const int64_t cols_q[] = {32, 64, 96, 160, 224, 1056, 4096};
    const int64_t cols_k[] = {256, 512, 768, 1280, 2304, 4096, 4096};   /* K-quants: multiples of 256 */
    const int64_t cols_f[] = {1, 15, 17, 33, 100, 1000};
    for (int nt = 1; nt <= 3; nt++) {
        mm_pool *pool = mm_pool_create(nt, err);
        if (!pool) { fprintf(stderr, "pool: %s\n", err); return 1; }
        mm_pool *pools[2] = {nt == 1 ? NULL : pool, pool};
        for (int pi = 0; pi < (nt == 1 ? 2 : 1); pi++) {
            mm_pool *p = pools[pi];
            for (int ti = 0; ti < n_types; ti++) {
                const bool kq = mm_type_block_size(types[ti]) == MM_QK_K;
                const int64_t *cols = kq ? cols_k : cols_q;
                for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++)
                    for (size_t ci = 0; ci < sizeof cols_q / sizeof cols_q[0]; ci++) {
                        if (quick && cols[ci] == 4096 && rows_list[ri] > 7) continue;
                        test_matvec(p, types[ti], rows_list[ri], cols[ci]);
                    }
                if (is_float_type(types[ti]))
                    for (size_t ci = 0; ci < sizeof cols_f / sizeof cols_f[0]; ci++) test_matvec(p, types[ti], 37, cols_f[ci]);
                test_matvec(p, types[ti], 700, 512);   /* large enough to run on every thread */
                if (!quick) test_matvec(p, types[ti], 5, kq ? 16640 : 16416);   /* > 8192 columns, odd blocks */
                const int64_t ns[] = {1, 2, 5, 33};
                for (size_t ni = 0; ni < 4; ni++) {
                    test_linear(p, types[ti], 67, kq ? 256 : 96, ns[ni], ni % 2 == 0);
                    test_linear(p, types[ti], 301, kq ? 512 : 320, ns[ni], ni % 2 == 1);
                }
                if (!quick) test_linear(p, types[ti], 1000, 768, 9, true);   /* several dequantized tiles per thread */
                /* a prompt-sized batch: several A blocks (MC = 96 rows) and k blocks (KC = 256, a tail of 64) of the
                 * own gemm, a partial last register tile of rows and of columns */
                if (!quick) test_linear(p, types[ti], 301, kq ? 512 : 320, 130, ti % 2 == 0);
            }
            const mm_type fp16s[] = {MM_TYPE_F16, MM_TYPE_BF16};
            for (int fi = 0; fi < 2; fi++) {
                const int64_t rn[] = {2, 5, MM_MATVEC_MULTI_GROUP};
                for (int ni = 0; ni < 3; ni++) test_linear_rule(p, fp16s[fi], 301, 320, rn[ni]);
                test_linear_rule(p, fp16s[fi], 67, 1000, 9);
            }
            /* partial panels of weight rows (8 / 16) and of X rows (4 / 8), several claims of 32 rows, one block
             * (Q4_0, Q8_0), one super-block (Q4_K), long rows */
            const mm_type i8types[] = {MM_TYPE_Q4_0, MM_TYPE_Q4_K, MM_TYPE_Q8_0};
            for (int ii = 0; ii < 3; ii++) {
                mm_type t = i8types[ii];
                int k4 = t == MM_TYPE_Q4_K;   /* K-quant row lengths */
                test_int8_gemm(p, t, 1, k4 ? 256 : 32, 2);
                test_int8_gemm(p, t, 67, k4 ? 512 : 96, 5);
                test_int8_gemm(p, t, 301, k4 ? 768 : 320, 33);
                if (!quick) test_int8_gemm(p, t, 130, 3072, 130);
            }
            test_sgemm(p, false, 17, 33, 45, 1.0f, 0.0f);
            test_sgemm(p, true, 64, 31, 70, 0.5f, 1.0f);
            test_sgemm(p, true, 129, 65, 64, 1.0f, 0.0f);
            test_sgemm(p, false, 100, 100, 100, -2.0f, 0.5f);
            test_sgemm(p, true, 5, 7, 0, 1.0f, 2.0f);   /* k = 0: C = beta C */
        }
        mm_pool_free(pool);
    }
    if (n_fail) {
        fprintf(stderr, "%d check(s) failed\n", n_fail);
        return 1;
    }
    printf("all kernel checks passed (%s)\n", got);
    return 0;
}
