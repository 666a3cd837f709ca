/* gemm_int8.c - prompt-sized products with Q4_0, Q4_K and Q8_0 weights as integer dot products (AVX2 / AVX-512 VNNI), and
 * their naive reference.
 *
 * Y[n, rows] = X[n, cols] W^T, W Q4_0, Q4_K or Q8_0 (rows x cols, cols a multiple of the block). As llama.cpp
 * does for these types and as the decode kernels do (mm_xq8): each row of X is quantized to 8 bits per block of 32 (d = amax/127,
 * q = round-to-nearest-even(x / d) in [-127, 127]), the products are integer, and each block's integer dot
 * product is scaled by d_w * d_x:
 *     Y[i, j] = sum_b  (d_w[j,b] * d_x[i,b]) * (sum_e u[j,b,e] q[i,b,e] - 8 sum_e q[i,b,e])
 * (Q4_0) where u = the stored nibble (0..15, weight = d_w (u - 8)); Q4_K and Q8_0 below; the sum over blocks b is taken in order, one fused
 * multiply-add per block, so the fast kernels and the reference below give the same bits.
 * Numerics: those of the avx2/avx512 matvec (x rounded to 8 bits per block: |error| <= sum |w| d_x / 2),
 * instead of the f32 gemm on dequantized weights that mm_linear uses for the other types.
 *
 * Layout: W is repacked per call, 8 rows at a time, into bytes pw[b][g][jj][c] = u[j0 + jj, b, 4g + c] (g < 8
 * groups of 4 elements: one 32-byte vector per group, lane jj = row j0 + jj) and scales sw[b][jj]; the
 * AVX-512 panels interleave two such 8-row packs per group (64 bytes, 16 rows).
 * AVX2 micro-kernel 4 x 8 (4 rows of X, 8 weight rows), per block: 8 vpmaddubsw (unsigned nibbles x signed
 * broadcast 4-byte groups of x) summed in 16 bits (|sum| <= 8 * 2 * 15 * 127 = 30480: no saturation), one
 * vpmaddwd to 32 bits, the offset, one conversion and one fma into the f32 accumulators.
 * AVX-512 micro-kernel 8 x 16: 8 vpdpbusd per block and row of X into 32 bits, then the same.
 * Q8_0 at AVX-512 VNNI: vpdpbusd of x + 128 (unsigned, stored so by the quantization) by the signed weights,
 * less 128 sum_e w[j,b,e] (packed per block and row as the factor m: exact in f32), i.e. the integer sum_e w q.
 * Q8_0 at AVX2 (vpmaddubsw multiplies unsigned by signed bytes, and 255 x 127 pairs would saturate 16 bits):
 * u = w + 128 is packed as two nibble planes, u = 16 u_hi + u_lo, each run through the Q4 micro-kernel's
 * vpmaddubsw sums (same x broadcasts), then sum_e w q = 16 sum u_hi q + sum u_lo q - 128 sum q in 32 bits.
 * Both: Y[i, j] = sum_b (d_w d_x) (sum_e w q), one fma per block as above. mm_linear takes Q8_0 here with
 * MMGPT_GEMM=int8-q8_0 (mm_core_use_int8_gemm; not yet the default). Every type is tested bit for bit in core_kernels_{avx2,avx512}.
 * Threads: X is quantized once per call (rows split over the pool, into thread 0's scratch), then threads
 * claim blocks of 32 weight rows (packed by the claiming thread), running every 4 (8) rows of X against the
 * claim's panels (those rows of x stay in L1).
 * Measured (bench/bench_gemm_cpu, 512 x 768 x 768, one thread, CPU time, Zen 5 class): AVX2 Q4_0 212-219
 * GFLOP/s and Q8_0 129-138 against 95 for OpenBLAS over dequantized tiles; VNNI Q4_0 459, Q8_0 388-401
 * against 173-183 for the own AVX-512 f32 gemm (bench/README.md, int8q8 section).
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "core_internal.h"
#include "quants_internal.h"   /* mm_k_scales8 */

#define QK 32
#define MR 4          /* rows of X per AVX2 micro-kernel */
#define NR 8          /* weight rows per AVX2 panel (one ymm lane each) */
#define MR5 8         /* rows of X per AVX-512 VNNI micro-kernel */
#define NR5 16        /* weight rows per AVX-512 panel (one zmm lane each) */
#define CLAIM 32      /* weight rows per claim: 4 AVX2 panels or 2 AVX-512 panels */
#define XPAD 8        /* rows of quantized X padded to a multiple of MR and MR5 */

/* X quantized: q [n_pad][cols] int8, d [n_pad][nb] f32, s8 [n_pad][nb] int32 (8 * sum of the block's q),
 * ds [n_pad][nb] f32 (d * sum of the block's q: Q4_K's mins) */
typedef struct {
    int8_t *q;
    float *d;
    int32_t *s8;
    float *ds;
} xq_rows;

static size_t al64(size_t n) { return (n + 63) & ~(size_t)63; }

static void quantize_block_ref(const float *x, int8_t *q, float *d, int32_t *s8, float *ds) {
    float amax = 0.0f;
    for (int e = 0; e < QK; e++) amax = fmaxf(amax, fabsf(x[e]));
    float dd = amax / 127.0f, id = dd != 0.0f ? 1.0f / dd : 0.0f;
    int sum = 0;
    for (int e = 0; e < QK; e++) {
        float v = x[e] * id;
        int qi = (int)nearbyintf(v);   /* round to nearest even (the default mode), as _mm256_round_ps */
        q[e] = (int8_t)qi;
        sum += qi;
    }
    *d = dd;
    *s8 = 8 * sum;
    *ds = dd * (float)sum;
}

/* Q4_K sub-block s: a = d sc[s], m = dmin m[s] */
static inline void k4_factors(const mm_block_q4_k *w, int s, float *a, float *m) {
    uint64_t sc, mn;
    mm_k_scales8(w->scales, &sc, &mn);
    *a = mm_fp16_to_fp32(w->d) * (float)((sc >> (8 * s)) & 0xff);
    *m = mm_fp16_to_fp32(w->dmin) * (float)((mn >> (8 * s)) & 0xff);
}

/* Weight row j's block b (32 elements): the nibbles u[32] (0..15) and the factors a, m of
 * w = a (u - 8) (Q4_0: a = d, m = 0) or w = a u - m (Q4_K sub-block s of super-block b / 8: a = d sc[s],
 * m = dmin m[s], as the dequantization computes them). */
static void block_ref(mm_type t, const uint8_t *row, int64_t b, uint8_t u[QK], float *a, float *m) {
    if (t == MM_TYPE_Q4_0) {
        const mm_block_q4_0 *w = (const mm_block_q4_0 *)row + b;
        for (int e = 0; e < QK / 2; e++) {
            u[e] = w->qs[e] & 0x0f;
            u[e + QK / 2] = w->qs[e] >> 4;
        }
        *a = mm_fp16_to_fp32(w->d);
        *m = 0.0f;
        return;
    }
    const mm_block_q4_k *w = (const mm_block_q4_k *)row + b / 8;
    int s = (int)(b % 8);
    for (int e = 0; e < QK; e++) u[e] = (uint8_t)((w->qs[32 * (s / 2) + e] >> (4 * (s & 1))) & 15);
    k4_factors(w, s, a, m);
}

/* Naive reference of mm_core_gemm_int8: same quantization of X, same order of the per-block sums:
 * Q4_0: acc = fma(dot - 8 sum q, a d_x, acc); Q4_K: acc = fma(dot, a d_x, acc), then acc = fma(-m, d_x sum q, acc). */
int mm_core_gemm_int8_ref(mm_type t, const void *W, int64_t rows, int64_t cols, int64_t n, const float *X, float *Y) {
    if ((t != MM_TYPE_Q4_0 && t != MM_TYPE_Q4_K && t != MM_TYPE_Q8_0) || cols % mm_type_block_size(t) != 0) return -1;
    int64_t nb = cols / QK;
    size_t rb = mm_row_size(t, cols);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < rows; j++) {
            const uint8_t *row = (const uint8_t *)W + (size_t)j * rb;
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                int8_t q[QK];
                uint8_t u[QK];
                float dx, ds, a, m;
                int32_t s8;
                quantize_block_ref(X + i * cols + b * QK, q, &dx, &s8, &ds);
                if (t == MM_TYPE_Q8_0) {   /* signed weights: acc = fma(sum w q, d_w d_x, acc) */
                    const mm_block_q8_0 *w = (const mm_block_q8_0 *)row + b;
                    int32_t dot = 0;
                    for (int e = 0; e < QK; e++) dot += w->qs[e] * q[e];
                    acc = fmaf((float)dot, mm_fp16_to_fp32(w->d) * dx, acc);
                    continue;
                }
                block_ref(t, row, b, u, &a, &m);
                int32_t dot = 0;
                for (int e = 0; e < QK; e++) dot += u[e] * q[e];
                if (t == MM_TYPE_Q4_0) {
                    acc = fmaf((float)(dot - s8), a * dx, acc);
                } else {
                    acc = fmaf((float)dot, a * dx, acc);
                    acc = fmaf(-m, ds, acc);
                }
            }
            Y[i * rows + j] = acc;
        }
    }
    return 0;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T256 __attribute__((target("avx2,fma,f16c")))

/* per-thread scratch: the packed panels of one claim; thread 0's buffer also holds quantized X after them */
static size_t panels_bytes(int64_t nb) { return al64((size_t)CLAIM * (size_t)nb * (2 * QK + 2 * sizeof(float))); }
static size_t xq_bytes(int64_t n_pad, int64_t cols) {
    int64_t nb = cols / QK;
    return al64((size_t)(n_pad * cols)) + 3 * al64((size_t)(n_pad * nb) * 4);
}

static void xq_carve(void *mem, int64_t n_pad, int64_t cols, xq_rows *o) {
    int64_t nb = cols / QK;
    uint8_t *p = mem;
    o->q = (int8_t *)p;   p += al64((size_t)(n_pad * cols));
    o->d = (float *)p;    p += al64((size_t)(n_pad * nb) * 4);
    o->s8 = (int32_t *)p; p += al64((size_t)(n_pad * nb) * 4);
    o->ds = (float *)p;
}

/* one block of 32 x: same values as quantize_block_ref */
T256 static inline void quantize_block(const float *x, int8_t *q, float *d, int32_t *s8, float *ds) {
    __m256 v[4], sgn = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        m = _mm256_max_ps(m, _mm256_andnot_ps(sgn, v[k]));
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    float amax = _mm_cvtss_f32(h);
    float dd = amax / 127.0f, id = dd != 0.0f ? 1.0f / dd : 0.0f;
    __m256 vid = _mm256_set1_ps(id);
    __m256i qi[4];
    for (int k = 0; k < 4; k++)
        qi[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(qi[0], qi[1]), _mm256_add_epi32(qi[2], qi[3]));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    s = _mm_hadd_epi32(s, s);
    s = _mm_hadd_epi32(s, s);
    /* int32 -> int16 -> int8 packs work per 128-bit lane: fix the order with a permute */
    __m256i p01 = _mm256_packs_epi32(qi[0], qi[1]), p23 = _mm256_packs_epi32(qi[2], qi[3]);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, p);
    *d = dd;
    *s8 = 8 * _mm_cvtsi128_si32(s);
    *ds = dd * (float)_mm_cvtsi128_si32(s);
}

static inline int32_t ld4(const int8_t *p) {   /* 4 bytes of x as one int32 (no aliasing, no alignment) */
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

typedef struct {
    mm_pool *pool;
    mm_type t;   /* Q4_0, Q4_K or Q8_0 */
    const uint8_t *W;
    size_t rb;
    int64_t rows, cols, n, n_pad;
    const float *X;
    float *Y;
    xq_rows xq;
    int vnni;   /* 1: the AVX-512 VNNI micro-kernel (avx512 level) */
    atomic_llong next;
} q4g_ctx;

T256 static void quantize_task(void *c, int ith, int nth) {
    q4g_ctx *g = c;
    int64_t i0, i1, nb = g->cols / QK;
    mm_split_range(g->n_pad, ith, nth, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        int8_t *q = g->xq.q + i * g->cols;
        float *d = g->xq.d + i * nb;
        int32_t *s8 = g->xq.s8 + i * nb;
        float *ds = g->xq.ds + i * nb;
        if (i >= g->n) {   /* padding rows: zero */
            memset(q, 0, (size_t)g->cols);
            memset(d, 0, (size_t)nb * sizeof(float));
            memset(s8, 0, (size_t)nb * sizeof(int32_t));
            memset(ds, 0, (size_t)nb * sizeof(float));
            continue;
        }
        for (int64_t b = 0; b < nb; b++)
            quantize_block(g->X + i * g->cols + b * QK, q + b * QK, d + b, s8 + b, ds + b);
        if (g->t == MM_TYPE_Q8_0 && g->vnni)   /* vpdpbusd: unsigned by signed, x + 128 (= x ^ 0x80) as unsigned */
            for (int64_t e = 0; e < g->cols; e++) q[e] = (int8_t)((uint8_t)q[e] ^ 0x80);
    }
}

/* 8 rows of 8 int32 transposed in place: afterwards lane jj of r[c] is what lane c of r[jj] was */
T256 static inline void transpose8x8_epi32(__m256i r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i++) u[i] = _mm256_castsi256_ps(r[i]);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(u[i], u[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(u[i], u[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    /* u[c] (c < 4): rows 0..3 at column c | column c + 4; u[4 + c]: rows 4..7 */
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_castps_si256(_mm256_permute2f128_ps(u[c], u[4 + c], 0x20));
        r[c + 4] = _mm256_castps_si256(_mm256_permute2f128_ps(u[c], u[4 + c], 0x31));
    }
}

/* Pack weight rows [j0, j0 + 8) (rows past `rows` are zero with factors 0): the 32 bytes of group gi of
 * block b at pw + b * bstride + gi * gstride (lane jj = row j0 + jj), the factors a at sw[b * sstride + jj]
 * and m at sm[b * sstride + jj] (block_ref's a and m). Q8_0 at avx2 (two nibble planes): u = w + 128 split
 * into its low nibbles (groups 0..7 as above) and high nibbles (at groups 8..15), m unused. */
T256 static void pack_panel(const q4g_ctx *g, int64_t j0, uint8_t *pw, float *sw, float *sm, int64_t bstride,
                            int64_t gstride, int64_t sstride) {
    int64_t nb = g->cols / QK;
    const __m128i lo = _mm_set1_epi8(0x0f);
    for (int64_t b = 0; b < nb; b++) {
        __m256i r[NR];
        for (int jj = 0; jj < NR; jj++) {
            int64_t j = j0 + jj;
            float *a = sw + b * sstride + jj, *m = sm + b * sstride + jj;
            if (j >= g->rows) {
                r[jj] = _mm256_setzero_si256();
                *a = *m = 0.0f;
            } else if (g->t == MM_TYPE_Q8_0 && !g->vnni) {   /* u = w + 128 = w ^ 0x80, split after the transpose */
                const mm_block_q8_0 *blk = (const mm_block_q8_0 *)(g->W + (size_t)j * g->rb) + b;
                r[jj] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)blk->qs), _mm256_set1_epi8((char)0x80));
                *a = _cvtsh_ss(blk->d);
                *m = 0.0f;
            } else if (g->t == MM_TYPE_Q8_0) {   /* signed bytes; m = 128 sum w (x's offset, exact in f32) */
                const mm_block_q8_0 *blk = (const mm_block_q8_0 *)(g->W + (size_t)j * g->rb) + b;
                r[jj] = _mm256_loadu_si256((const __m256i *)blk->qs);
                __m256i s16 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), r[jj]), _mm256_set1_epi16(1));
                __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s16), _mm256_extracti128_si256(s16, 1));
                s4 = _mm_hadd_epi32(s4, s4);
                s4 = _mm_hadd_epi32(s4, s4);
                *a = _cvtsh_ss(blk->d);
                *m = 128.0f * (float)_mm_cvtsi128_si32(s4);
            } else if (g->t == MM_TYPE_Q4_0) {
                const mm_block_q4_0 *blk = (const mm_block_q4_0 *)(g->W + (size_t)j * g->rb) + b;
                __m128i v = _mm_loadu_si128((const __m128i *)blk->qs);
                r[jj] = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), lo), _mm_and_si128(v, lo));
                *a = _cvtsh_ss(blk->d);
                *m = 0.0f;
            } else {   /* Q4_K sub-block s: nibbles (low for even s, high for odd) of 32 bytes */
                const mm_block_q4_k *blk = (const mm_block_q4_k *)(g->W + (size_t)j * g->rb) + b / 8;
                int sb = (int)(b % 8);
                __m256i v = _mm256_loadu_si256((const __m256i *)(blk->qs + 32 * (sb / 2)));
                r[jj] = _mm256_and_si256(_mm256_srli_epi16(v, 4 * (sb & 1)), _mm256_set1_epi8(0x0f));
                k4_factors(blk, sb, a, m);
            }
        }
        transpose8x8_epi32(r);   /* r[g]: lane jj = elements 4g..4g+3 of row j0 + jj */
        if (g->t == MM_TYPE_Q8_0 && !g->vnni) {   /* the transpose moves whole bytes: split the nibbles now */
            const __m256i lo4 = _mm256_set1_epi8(0x0f);
            for (int gi = 0; gi < 8; gi++) {
                _mm256_store_si256((__m256i *)(pw + b * bstride + gi * gstride), _mm256_and_si256(r[gi], lo4));
                _mm256_store_si256((__m256i *)(pw + b * bstride + (8 + gi) * gstride),
                                   _mm256_and_si256(_mm256_srli_epi16(r[gi], 4), lo4));
            }
            continue;
        }
        for (int gi = 0; gi < 8; gi++) _mm256_store_si256((__m256i *)(pw + b * bstride + gi * gstride), r[gi]);
    }
}

/* Y rows [i0, i0 + MR) (only those < n stored) x columns [j0, j0 + NR) (only those < rows stored);
 * kq 0: Q4_0 (offset 8 in the integers), 1: Q4_K (mins: acc -= m d_x sum q), 2: Q8_0 (two nibble planes of
 * u = w + 128: sum w q = 16 sum u_hi q + sum u_lo q - 128 sum q, each plane's 8 groups summed in 16 bits as Q4's) */
T256 static inline __attribute__((always_inline)) void kernel_4x8(const q4g_ctx *g, int64_t i0, int64_t j0,
                                                                 const uint8_t *pw, const float *sw, const float *sm,
                                                                 const int kq) {
    int64_t nb = g->cols / QK;
    const int8_t *x0 = g->xq.q + i0 * g->cols;
    const float *d0 = g->xq.d + i0 * nb;
    const int32_t *s0 = g->xq.s8 + i0 * nb;
    const float *ds0 = g->xq.ds + i0 * nb;
    const __m256i ones = _mm256_set1_epi16(1), sixteen = _mm256_set1_epi16(16);
    __m256 a[MR];
    for (int r = 0; r < MR; r++) a[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = pw + b * NR * QK * (kq == 2 ? 2 : 1);
        const int64_t e = b * QK;
        __m256i p[MR], h[MR];
        for (int r = 0; r < MR; r++) p[r] = h[r] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int gi = 0; gi < 8; gi++) {
            __m256i w = _mm256_load_si256((const __m256i *)(wb + 32 * gi)), wh = w;
            if (kq == 2) wh = _mm256_load_si256((const __m256i *)(wb + 32 * (8 + gi)));
#pragma GCC unroll 4
            for (int r = 0; r < MR; r++) {
                __m256i xb = _mm256_set1_epi32(ld4(x0 + r * g->cols + e + 4 * gi));
                p[r] = _mm256_add_epi16(p[r], _mm256_maddubs_epi16(w, xb));
                if (kq == 2) h[r] = _mm256_add_epi16(h[r], _mm256_maddubs_epi16(wh, xb));
            }
        }
        __m256 ws = _mm256_load_ps(sw + b * NR), wm = kq == 1 ? _mm256_load_ps(sm + b * NR) : ws;
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++) {
            __m256i s = _mm256_madd_epi16(p[r], ones);
            if (kq == 0) s = _mm256_sub_epi32(s, _mm256_set1_epi32(s0[r * nb + b]));
            if (kq == 2)   /* 128 sum q = 16 s8 */
                s = _mm256_sub_epi32(_mm256_add_epi32(s, _mm256_madd_epi16(h[r], sixteen)),
                                     _mm256_set1_epi32(16 * s0[r * nb + b]));
            a[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(ws, _mm256_set1_ps(d0[r * nb + b])), a[r]);
            if (kq == 1) a[r] = _mm256_fnmadd_ps(wm, _mm256_set1_ps(ds0[r * nb + b]), a[r]);
        }
    }
    int64_t nr = g->rows - j0 < NR ? g->rows - j0 : NR;
    for (int r = 0; r < MR && i0 + r < g->n; r++) {
        float *y = g->Y + (i0 + r) * g->rows + j0;
        if (nr == NR) {
            _mm256_storeu_ps(y, a[r]);
        } else {
            float t[NR];
            _mm256_storeu_ps(t, a[r]);
            memcpy(y, t, (size_t)nr * sizeof(float));
        }
    }
}

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))

/* The same for 8 rows of X and 16 weight rows (AVX-512 VNNI): per block, 8 vpdpbusd per row of X accumulate
 * the 32 products in 32 bits, starting from -8 sum(q) (Q4_0's offset); the same integers as kernel_4x8. */
T512 static inline __attribute__((always_inline)) void kernel_8x16_vnni(const q4g_ctx *g, int64_t i0, int64_t j0,
                                                                       const uint8_t *pw, const float *sw,
                                                                       const float *sm, const int kq) {
    int64_t nb = g->cols / QK, cols = g->cols;
    const int8_t *x = g->xq.q + i0 * cols;
    const float *d0 = g->xq.d + i0 * nb;
    const int32_t *s0 = g->xq.s8 + i0 * nb;
    const float *ds0 = g->xq.ds + i0 * nb;
    __m512 acc[MR5];
    for (int r = 0; r < MR5; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = pw + b * NR5 * QK;
        __m512i p[MR5];
#pragma GCC unroll 8
        for (int r = 0; r < MR5; r++) p[r] = _mm512_set1_epi32(kq == 0 ? -s0[r * nb + b] : 0);
#pragma GCC unroll 8
        for (int gi = 0; gi < 8; gi++) {
            __m512i w = _mm512_load_si512((const void *)(wb + 64 * gi));
#pragma GCC unroll 8
            for (int r = 0; r < MR5; r++) {
                __m512i xb = _mm512_set1_epi32(ld4(x + r * cols + b * QK + 4 * gi));
                /* Q4: unsigned nibbles x signed x; Q8_0: unsigned x + 128 x signed weights */
                p[r] = kq == 2 ? _mm512_dpbusd_epi32(p[r], xb, w) : _mm512_dpbusd_epi32(p[r], w, xb);
            }
        }
        __m512 ws = _mm512_load_ps(sw + b * NR5);
        if (kq == 2) {   /* Q8_0: the integers less 128 sum w (exact in f32: |.| < 2^24) */
            __m512 wm = _mm512_load_ps(sm + b * NR5);
#pragma GCC unroll 8
            for (int r = 0; r < MR5; r++)
                acc[r] = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(p[r]), wm),
                                         _mm512_mul_ps(ws, _mm512_set1_ps(d0[r * nb + b])), acc[r]);
            continue;
        }
#pragma GCC unroll 8
        for (int r = 0; r < MR5; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p[r]), _mm512_mul_ps(ws, _mm512_set1_ps(d0[r * nb + b])), acc[r]);
        if (kq) {
            __m512 wm = _mm512_load_ps(sm + b * NR5);
#pragma GCC unroll 8
            for (int r = 0; r < MR5; r++) acc[r] = _mm512_fnmadd_ps(wm, _mm512_set1_ps(ds0[r * nb + b]), acc[r]);
        }
    }
    int64_t nr = g->rows - j0 < NR5 ? g->rows - j0 : NR5;
    __mmask16 m = (__mmask16)((1u << nr) - 1);
    for (int r = 0; r < MR5 && i0 + r < g->n; r++) _mm512_mask_storeu_ps(g->Y + (i0 + r) * g->rows + j0, m, acc[r]);
}

/* the micro-kernels with the type fixed at compile time */
T256 static void k4x8_q4_0(const q4g_ctx *g, int64_t i0, int64_t j0, const uint8_t *pw, const float *sw, const float *sm) {
    kernel_4x8(g, i0, j0, pw, sw, sm, 0);
}
T256 static void k4x8_q4_k(const q4g_ctx *g, int64_t i0, int64_t j0, const uint8_t *pw, const float *sw, const float *sm) {
    kernel_4x8(g, i0, j0, pw, sw, sm, 1);
}
T256 static void k4x8_q8_0(const q4g_ctx *g, int64_t i0, int64_t j0, const uint8_t *pw, const float *sw, const float *sm) {
    kernel_4x8(g, i0, j0, pw, sw, sm, 2);
}
T512 static void k8x16_q4_0(const q4g_ctx *g, int64_t i0, int64_t j0, const uint8_t *pw, const float *sw, const float *sm) {
    kernel_8x16_vnni(g, i0, j0, pw, sw, sm, 0);
}
T512 static void k8x16_q4_k(const q4g_ctx *g, int64_t i0, int64_t j0, const uint8_t *pw, const float *sw, const float *sm) {
    kernel_8x16_vnni(g, i0, j0, pw, sw, sm, 1);
}
T512 static void k8x16_q8_0(const q4g_ctx *g, int64_t i0, int64_t j0, const uint8_t *pw, const float *sw, const float *sm) {
    kernel_8x16_vnni(g, i0, j0, pw, sw, sm, 2);
}

/* Claims of CLAIM weight rows: packed into panels of nr (8 or 16) rows (per panel: bytes [nb][8][nr][4], then
 * factors a [nb][nr] and m [nb][nr]), then every mr rows of X against every panel. */
static void gemm_task(void *c, int ith, int nth) {
    (void)nth;
    q4g_ctx *g = c;
    int64_t nb = g->cols / QK;
    uint8_t *ws = mm_core_scratch(g->pool, ith, panels_bytes(nb));
    if (!ws) return;   /* cannot happen: reserved by the caller */
    const int64_t mr = g->vnni ? MR5 : MR, nr = g->vnni ? NR5 : NR;
    void (*kern)(const q4g_ctx *, int64_t, int64_t, const uint8_t *, const float *, const float *) =
        g->vnni ? (g->t == MM_TYPE_Q4_K ? k8x16_q4_k : g->t == MM_TYPE_Q8_0 ? k8x16_q8_0 : k8x16_q4_0)
                : (g->t == MM_TYPE_Q4_K ? k4x8_q4_k : g->t == MM_TYPE_Q8_0 ? k4x8_q8_0 : k4x8_q4_0);
    const int64_t pf = g->t == MM_TYPE_Q8_0 && !g->vnni ? 2 : 1;   /* bytes per weight (two nibble planes) */
    for (;;) {
        int64_t j0 = atomic_fetch_add_explicit(&g->next, CLAIM, memory_order_relaxed);
        if (j0 >= g->rows) return;
        int64_t left = g->rows - j0 < CLAIM ? g->rows - j0 : CLAIM;
        int np = (int)((left + nr - 1) / nr);
        uint8_t *pw[CLAIM / NR];
        float *sw[CLAIM / NR];
        for (int p = 0; p < np; p++) {
            pw[p] = ws + (size_t)p * (size_t)(nb * nr * QK * pf);
            sw[p] = (float *)(ws + (size_t)CLAIM * (size_t)(nb * QK * pf)) + (size_t)p * (size_t)(2 * nb * nr);
            for (int h = 0; h < nr / 8; h++)   /* 16-row panels: two 8-row packs interleaved per group */
                pack_panel(g, j0 + p * nr + 8 * h, pw[p] + 32 * h, sw[p] + 8 * h, sw[p] + nb * nr + 8 * h, nr * QK * pf,
                           nr * 4, nr);
        }
        for (int64_t i0 = 0; i0 < g->n; i0 += mr)
            for (int p = 0; p < np; p++) kern(g, i0, j0 + p * nr, pw[p], sw[p], sw[p] + nb * nr);
    }
}

int mm_core_gemm_int8(mm_pool *pool, mm_type t, const void *W, int64_t rows, int64_t cols, int64_t n,
                      const float *X, float *Y) {
    if (t != MM_TYPE_Q4_0 && t != MM_TYPE_Q4_K && t != MM_TYPE_Q8_0) return -1;
    if (cols <= 0 || cols % mm_type_block_size(t) != 0 || rows <= 0 || n <= 0) return -1;
    const mm_kernel_table *k = mm_core_kernels();
    if (k == &mm_kernels_generic) return -1;   /* the CPU lacks AVX2 (or it was not asked for) */
    int64_t nb = cols / QK, n_pad = (n + XPAD - 1) / XPAD * XPAD;
    size_t pb = panels_bytes(nb), xb = xq_bytes(n_pad, cols);
    if (mm_core_reserve(pool, pb + xb) != 0) return -1;
    q4g_ctx g = {pool, t, W, mm_row_size(t, cols), rows, cols, n, n_pad, X, Y, {0}, k == &mm_kernels_avx512, 0};
    xq_carve((uint8_t *)mm_core_scratch(pool, 0, pb + xb) + pb, n_pad, cols, &g.xq);
    int nth = mm_pool_n_threads(pool);
    if (!pool || nth == 1 || (double)n * (double)rows * (double)cols < 1e5) {
        quantize_task(&g, 0, 1);
        gemm_task(&g, 0, 1);
    } else {
        mm_pool_run(pool, quantize_task, &g);
        mm_pool_run(pool, gemm_task, &g);
    }
    return 0;
}
#else
int mm_core_gemm_int8(mm_pool *pool, mm_type t, const void *W, int64_t rows, int64_t cols, int64_t n,
                      const float *X, float *Y) {
    (void)pool; (void)t; (void)W; (void)rows; (void)cols; (void)n; (void)X; (void)Y;
    return -1;
}
#endif
