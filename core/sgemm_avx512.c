/* sgemm_avx512.c - f32 matrix product with AVX-512 (packed panels, 12x32 register tile).
 *
 * C[m,n] = alpha * A[m,k] . B[k,n] + beta * C, row-major, where B is given one of three ways:
 *   - row-major [k, n] (ldb), - transposed: [n, k] rows (ldb), - a weight matrix of any mm_type whose
 *   row j (k elements, rb bytes apart) is column j of B (mm_linear: Y = X W^T), dequantized while packing.
 * Loop order as in BLIS/GotoBLAS: columns of C in blocks of NC, k in blocks of KC (B block packed into
 * 32-wide panels), rows in blocks of MC (A block packed into 12-high panels), then the 12x32 micro-kernel
 * (24 zmm accumulators). OPENBLAS_CORETYPE=Haswell limits OpenBLAS here to AVX2; this runs at the
 * AVX-512 rate. Threads split the columns of C (or its rows when C is narrow); each packs its own panels.
 * Scratch comes from the pool (reserved here, outside the parallel region) or the caller-thread buffer.
 */
#include <stdatomic.h>
#include <string.h>

#include "core_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define MR 12
#define NR 32
#define KC 256
#define MC 96
#define NC 512

static size_t scratch_floats(void) { return (size_t)MC * KC + (size_t)KC * NC + 17 * (size_t)KC + 64; }
size_t mm_core_gemm_scratch_bytes(void) { return scratch_floats() * sizeof(float); }

/* d[(kk0 + c) * ldd + r] = src[r][kk0 + c] for r, c < 16: the 16x16 block transposed; only the lanes r of
 * mask m are stored (A panels are MR = 12 high) */
T512 static inline void transpose16(const float *const src[16], int64_t kk0, float *d, int64_t ldd, __mmask16 m) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src[i] + kk0);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    /* r[4q + c] now holds, in each 128-bit lane L, the 4 rows 4q..4q+3 at column 4L + c */
    for (int q = 0; q < 4; q++)
        for (int c = 0; c < 4; c++) t[4 * q + c] = r[4 * q + c];
    for (int c = 0; c < 4; c++) {
        /* gather lane L of t[c], t[4+c], t[8+c], t[12+c] -> column 4L + c */
        __m512 a01 = _mm512_shuffle_f32x4(t[c], t[4 + c], _MM_SHUFFLE(1, 0, 1, 0));      /* t0.L0 t0.L1 t4.L0 t4.L1 */
        __m512 a23 = _mm512_shuffle_f32x4(t[8 + c], t[12 + c], _MM_SHUFFLE(1, 0, 1, 0)); /* t8.L0 t8.L1 t12.L0 t12.L1 */
        __m512 b01 = _mm512_shuffle_f32x4(t[c], t[4 + c], _MM_SHUFFLE(3, 2, 3, 2));
        __m512 b23 = _mm512_shuffle_f32x4(t[8 + c], t[12 + c], _MM_SHUFFLE(3, 2, 3, 2));
        __m512 col0 = _mm512_shuffle_f32x4(a01, a23, _MM_SHUFFLE(2, 0, 2, 0));   /* lane 0 of each: column c */
        __m512 col1 = _mm512_shuffle_f32x4(a01, a23, _MM_SHUFFLE(3, 1, 3, 1));   /* lane 1: column 4 + c */
        __m512 col2 = _mm512_shuffle_f32x4(b01, b23, _MM_SHUFFLE(2, 0, 2, 0));   /* lane 2: column 8 + c */
        __m512 col3 = _mm512_shuffle_f32x4(b01, b23, _MM_SHUFFLE(3, 1, 3, 1));   /* lane 3: column 12 + c */
        _mm512_mask_storeu_ps(d + (kk0 + c) * ldd, m, col0);
        _mm512_mask_storeu_ps(d + (kk0 + 4 + c) * ldd, m, col1);
        _mm512_mask_storeu_ps(d + (kk0 + 8 + c) * ldd, m, col2);
        _mm512_mask_storeu_ps(d + (kk0 + 12 + c) * ldd, m, col3);
    }
}

/* pack rows [i0, i0+mc) x cols [k0, k0+kc) of A into MR-high panels: dst[p][kk][ii], zero padded (rows past
 * mc read `zeros`, KC zero floats). 16x16 transposes (12 lanes stored): the scalar loop it replaces, strided
 * stores of one float, took ~20% of the gemm's time at prompt sizes (perf, 512 x 768 x 768). */
T512 static void pack_a(const float *A, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc, float *dst,
                        const float *zeros) {
    for (int64_t p = 0; p < mc; p += MR) {
        int64_t mr = mc - p < MR ? mc - p : MR;
        float *d = dst + p * kc;
        const float *src[16];
        for (int ii = 0; ii < 16; ii++) src[ii] = ii < mr ? A + (i0 + p + ii) * lda + k0 : zeros;
        int64_t kk = 0;
        for (; kk + 16 <= kc; kk += 16) transpose16(src, kk, d, MR, (__mmask16)((1u << MR) - 1));
        for (; kk < kc; kk++)
            for (int ii = 0; ii < MR; ii++) d[kk * MR + ii] = src[ii][kk];
    }
}

/* pack columns [j0, j0+nc) x rows [k0, k0+kc) of B into NR-wide panels: dst[p][kk][jj], zero padded.
 * tmp: 16*KC floats for dequantized weight rows, then KC zeros. */
T512 static void pack_b(const mm_gemm_b *b, int64_t n, int64_t j0, int64_t nc, int64_t k0, int64_t kc,
                        float *dst, float *tmp) {
    float *zeros = tmp + 16 * KC;
    for (int64_t p = 0; p < nc; p += NR) {
        int64_t nr = nc - p < NR ? nc - p : NR;
        float *d = dst + p * kc;
        if (b->kind == MM_GEMM_B_ROWMAJOR) {
            __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
            __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xffff : nr > 16 ? (1u << (nr - 16)) - 1 : 0);
            for (int64_t kk = 0; kk < kc; kk++) {
                const float *s = b->f + (k0 + kk) * b->ld + j0 + p;
                _mm512_storeu_ps(d + kk * NR, _mm512_maskz_loadu_ps(m0, s));
                _mm512_storeu_ps(d + kk * NR + 16, _mm512_maskz_loadu_ps(m1, s + 16));
            }
            continue;
        }
        for (int h = 0; h < 2; h++) {
            const float *src[16];
            for (int jj = 0; jj < 16; jj++) {
                int64_t j = j0 + p + 16 * h + jj;
                if (16 * h + jj >= nr || j >= n) {
                    src[jj] = zeros;
                } else if (b->kind == MM_GEMM_B_TRANS) {
                    src[jj] = b->f + j * b->ld + k0;
                } else {   /* weight row j, elements [k0, k0+kc): k0 is a multiple of KC (hence of 32) */
                    const uint8_t *row = (const uint8_t *)b->w + (size_t)j * b->rb;
                    size_t off = (size_t)(k0 / mm_type_block_size(b->type)) * mm_type_block_bytes(b->type);
                    b->deq(row + off, tmp + jj * KC, kc);
                    src[jj] = tmp + jj * KC;
                }
            }
            int64_t kk = 0;
            for (; kk + 16 <= kc; kk += 16) transpose16(src, kk, d + 16 * h, NR, 0xffff);
            for (; kk < kc; kk++)
                for (int jj = 0; jj < 16; jj++) d[kk * NR + 16 * h + jj] = src[jj][kk];
        }
    }
}

/* acc[12][32] = Ap[kc][12] . Bp[kc][32]; then C = alpha*acc + beta*C (first k block) or C += alpha*acc */
T512 static void kernel_12x32(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, int64_t mr,
                              int64_t nr, float alpha, float beta, int first) {
    __m512 c[MR][2];
    for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < kc; kk++) {
        __m512 b0 = _mm512_load_ps(Bp + kk * NR), b1 = _mm512_load_ps(Bp + kk * NR + 16);
        const float *a = Ap + kk * MR;
#define ROW(i) { __m512 av = _mm512_set1_ps(a[i]); c[i][0] = _mm512_fmadd_ps(av, b0, c[i][0]); \
                 c[i][1] = _mm512_fmadd_ps(av, b1, c[i][1]); }
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7) ROW(8) ROW(9) ROW(10) ROW(11)
#undef ROW
    }
    __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
    __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xffff : nr > 16 ? (1u << (nr - 16)) - 1 : 0);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int64_t i = 0; i < mr; i++) {
        float *cr = C + i * ldc;
        for (int h = 0; h < 2; h++) {
            __mmask16 m = h ? m1 : m0;
            if (!m) continue;
            __m512 r = _mm512_mul_ps(c[i][h], va);
            if (!first) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, cr + 16 * h));
            else if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, cr + 16 * h), r);
            _mm512_mask_storeu_ps(cr + 16 * h, m, r);
        }
    }
}

typedef struct {
    mm_pool *pool;
    const mm_gemm_b *b;
    int64_t m, n, k, lda, ldc;
    float alpha, beta;
    const float *A;
    float *C;
    int split_rows;   /* 1: threads claim blocks of rows of C, else blocks of columns */
    int64_t chunk;    /* rows (multiple of MR) or columns (multiple of NR) per claim */
    atomic_llong next;
} gemm_ctx;

T512 static void gemm_range(const gemm_ctx *g, float *ws, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    float *pa = ws, *pb = ws + (size_t)MC * KC, *tmp = pb + (size_t)KC * NC;
    memset(tmp + 16 * KC, 0, KC * sizeof(float));   /* the zero row of pack_b */
    for (int64_t jc = j0; jc < j1; jc += NC) {
        int64_t nc = j1 - jc < NC ? j1 - jc : NC;
        for (int64_t pc = 0; pc < g->k; pc += KC) {
            int64_t kc = g->k - pc < KC ? g->k - pc : KC;
            pack_b(g->b, g->n, jc, nc, pc, kc, pb, tmp);
            for (int64_t ic = i0; ic < i1; ic += MC) {
                int64_t mc = i1 - ic < MC ? i1 - ic : MC;
                pack_a(g->A, g->lda, ic, mc, pc, kc, pa, tmp + 16 * KC);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    int64_t nr = nc - jr < NR ? nc - jr : NR;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int64_t mr = mc - ir < MR ? mc - ir : MR;
                        kernel_12x32(kc, pa + ir * kc, pb + jr * kc, g->C + (ic + ir) * g->ldc + jc + jr, g->ldc, mr, nr,
                                     g->alpha, g->beta, pc == 0);
                    }
                }
            }
        }
    }
}

/* Threads claim blocks (about 2 per thread: each claim repacks A) so that a preempted thread holds up
 * at most one block. */
static void gemm_task(void *c, int ith, int nth) {
    (void)nth;
    gemm_ctx *g = c;
    float *ws = mm_core_scratch(g->pool, ith, scratch_floats() * sizeof(float));
    if (!ws) return;   /* cannot happen: reserved by the caller (checked there) */
    int64_t total = g->split_rows ? g->m : g->n;
    for (;;) {
        int64_t a = atomic_fetch_add_explicit(&g->next, g->chunk, memory_order_relaxed);
        if (a >= total) return;
        int64_t b = a + g->chunk < total ? a + g->chunk : total;
        if (g->split_rows) gemm_range(g, ws, a, b, 0, g->n);
        else gemm_range(g, ws, 0, g->m, a, b);
    }
}

int mm_core_gemm_avx512(mm_pool *pool, const mm_gemm_b *b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float *A, int64_t lda, float beta, float *C, int64_t ldc) {
    size_t bytes = scratch_floats() * sizeof(float);
    int nth = mm_pool_n_threads(pool);
    if (mm_core_reserve(pool, bytes) != 0) return -1;
    gemm_ctx g = {pool, b, m, n, k, lda, ldc, alpha, beta, A, C, 0, 0, 0};
    /* columns when there are enough NR panels for every thread, else rows */
    g.split_rows = (n + NR - 1) / NR < 2 * nth && m >= 2 * nth;
    bool parallel = nth > 1 && (double)m * n * k >= 1e5;
    int64_t unit = g.split_rows ? MR : NR, total = g.split_rows ? m : n;
    int64_t want = parallel ? (total + 2 * nth - 1) / (2 * nth) : total;
    g.chunk = (want + unit - 1) / unit * unit;
    if (!g.split_rows && g.chunk > NC) g.chunk = NC;
    if (!parallel)
        gemm_task(&g, 0, 1);
    else
        mm_pool_run(pool, gemm_task, &g);
    return 0;
}
#else
size_t mm_core_gemm_scratch_bytes(void) { return 0; }
int mm_core_gemm_avx512(mm_pool *pool, const mm_gemm_b *b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float *A, int64_t lda, float beta, float *C, int64_t ldc) {
    (void)pool; (void)b; (void)m; (void)n; (void)k; (void)alpha; (void)A; (void)lda; (void)beta; (void)C; (void)ldc;
    return -1;
}
#endif
