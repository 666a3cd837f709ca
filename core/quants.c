/* quants.c - the GGUF weight types beyond F32/F16/Q8_0/Q4_0: BF16, Q4_1, Q5_0, Q5_1 and the K-quants
 * Q4_K, Q5_K, Q6_K (ggml's block layouts, see mm_core.h): plain-C dequantization (the exact values every
 * level must give), the generic level's matvec kernels (f32 x, no extra error), and llama.cpp's reference
 * quantizers (what llama-quantize writes without an importance matrix).
 *
 * Compiled with -ffp-contract=off (core/CMakeLists.txt): a product followed by a sum stays two f32
 * roundings, so dequantized values and quantizer decisions do not depend on the compiler or -march.
 * The quantizers were written from the descriptions of ggml's quantize_row_*_ref, make_qkx2_quants and
 * make_qx_quants (same candidate scales, the same float operations in the same order).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "core_internal.h"

/* ---------------------------------------------------------------- small helpers */
static inline float h2f(uint16_t h) { return mm_fp16_to_fp32(h); }
static inline float bf2f(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint16_t f2bf(float f) {   /* nearest even; NaN stays NaN (quiet bit set), as ggml */
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

/* K-quant 6-bit scale sc[j] and min m[j] of sub-block j (0..7) from the 12 packed bytes s */
static inline void k_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* 5th bit of element e (0..31) of a Q5_0 / Q5_1 block: bit e of the little-endian u32 qh */
static inline int q5_hbit(const uint8_t qh[4], int e) { return (qh[e >> 3] >> (e & 7)) & 1; }

/* Q6_K code (0..63) of element e (0..255) */
static inline int q6_code(const mm_block_q6_k *b, int e) {
    int h = e >> 7, k = (e >> 5) & 3, l = e & 31;
    uint8_t lo = b->ql[64 * h + l + 32 * (k & 1)];
    int low = k < 2 ? (lo & 15) : (lo >> 4);
    return low | (((b->qh[32 * h + l] >> (2 * k)) & 3) << 4);
}

/* Q5_K code (0..31) of element e (0..255) */
static inline int q5k_code(const mm_block_q5_k *b, int e) {
    int c = e >> 6, hi = (e >> 5) & 1, l = e & 31;
    uint8_t v = b->qs[32 * c + l];
    int low = hi ? (v >> 4) : (v & 15);
    return low | (((b->qh[l] >> (2 * c + hi)) & 1) << 4);
}

/* ---------------------------------------------------------------- plain-C dequantization */
static void deq_bf16(const void *src, float *y, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) y[i] = bf2f(h[i]);
}

static void deq_q4_1(const void *src, float *y, int64_t n) {
    const mm_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / MM_QK; i++, y += MM_QK) {
        float d = h2f(b[i].d), m = h2f(b[i].m);
        for (int j = 0; j < MM_QK / 2; j++) {
            y[j] = (float)(b[i].qs[j] & 15) * d + m;
            y[j + 16] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

static void deq_q5_0(const void *src, float *y, int64_t n) {
    const mm_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / MM_QK; i++, y += MM_QK) {
        float d = h2f(b[i].d);
        for (int j = 0; j < MM_QK / 2; j++) {
            y[j] = (float)(((b[i].qs[j] & 15) | q5_hbit(b[i].qh, j) << 4) - 16) * d;
            y[j + 16] = (float)(((b[i].qs[j] >> 4) | q5_hbit(b[i].qh, j + 16) << 4) - 16) * d;
        }
    }
}

static void deq_q5_1(const void *src, float *y, int64_t n) {
    const mm_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / MM_QK; i++, y += MM_QK) {
        float d = h2f(b[i].d), m = h2f(b[i].m);
        for (int j = 0; j < MM_QK / 2; j++) {
            y[j] = (float)((b[i].qs[j] & 15) | q5_hbit(b[i].qh, j) << 4) * d + m;
            y[j + 16] = (float)((b[i].qs[j] >> 4) | q5_hbit(b[i].qh, j + 16) << 4) * d + m;
        }
    }
}

/* Q4_K / Q5_K: (d * sc[j]) * q - dmin * m[j] per sub-block j of 32 */
static void deq_k45(const void *src, float *y, int64_t n, bool q5) {
    const size_t bs = q5 ? sizeof(mm_block_q5_k) : sizeof(mm_block_q4_k);
    for (int64_t i = 0; i < n / MM_QK_K; i++, y += MM_QK_K) {
        const uint8_t *b = (const uint8_t *)src + (size_t)i * bs;   /* d, dmin, scales[12], [qh[32]], qs[128] */
        uint16_t d16, dmin16;
        memcpy(&d16, b, 2);
        memcpy(&dmin16, b + 2, 2);
        float d = h2f(d16), dmin = h2f(dmin16);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            k_scale_min(b + 4, j, &sc, &m);
            float dj = d * (float)sc, mj = dmin * (float)m;
            for (int l = 0; l < 32; l++) {
                int e = 32 * j + l;
                int q = q5 ? q5k_code((const mm_block_q5_k *)b, e) : ((j & 1) ? b[16 + 32 * (j / 2) + l] >> 4 : b[16 + 32 * (j / 2) + l] & 15);
                y[e] = dj * (float)q - mj;
            }
        }
    }
}
static void deq_q4_k(const void *src, float *y, int64_t n) { deq_k45(src, y, n, false); }
static void deq_q5_k(const void *src, float *y, int64_t n) { deq_k45(src, y, n, true); }

static void deq_q6_k(const void *src, float *y, int64_t n) {
    const mm_block_q6_k *b = src;
    for (int64_t i = 0; i < n / MM_QK_K; i++, y += MM_QK_K) {
        float d = h2f(b[i].d);
        for (int e = 0; e < MM_QK_K; e++) y[e] = d * (float)b[i].scales[e / 16] * (float)(q6_code(&b[i], e) - 32);
    }
}

void mm_quants_deq_scalar(mm_type t, const void *src, float *y, int64_t n) {
    switch (t) {
    case MM_TYPE_BF16: deq_bf16(src, y, n); break;
    case MM_TYPE_Q4_1: deq_q4_1(src, y, n); break;
    case MM_TYPE_Q5_0: deq_q5_0(src, y, n); break;
    case MM_TYPE_Q5_1: deq_q5_1(src, y, n); break;
    case MM_TYPE_Q4_K: deq_q4_k(src, y, n); break;
    case MM_TYPE_Q5_K: deq_q5_k(src, y, n); break;
    case MM_TYPE_Q6_K: deq_q6_k(src, y, n); break;
    default: break;
    }
}

/* the generic level's dequantization (prefill tiles) is the plain-C one */
void mm_q_deq_bf16_generic(const void *s, float *y, int64_t n) { deq_bf16(s, y, n); }
void mm_q_deq_q4_1_generic(const void *s, float *y, int64_t n) { deq_q4_1(s, y, n); }
void mm_q_deq_q5_0_generic(const void *s, float *y, int64_t n) { deq_q5_0(s, y, n); }
void mm_q_deq_q5_1_generic(const void *s, float *y, int64_t n) { deq_q5_1(s, y, n); }
void mm_q_deq_q4_k_generic(const void *s, float *y, int64_t n) { deq_q4_k(s, y, n); }
void mm_q_deq_q5_k_generic(const void *s, float *y, int64_t n) { deq_q5_k(s, y, n); }
void mm_q_deq_q6_k_generic(const void *s, float *y, int64_t n) { deq_q6_k(s, y, n); }

/* ---------------------------------------------------------------- generic matvec kernels (f32 x)
 * Codes times x summed in 8 independent lanes per block (vectorizable), then scaled per block / sub-block:
 * the same products as the dequantized dot, in another order (f32 rounding differs from the reference
 * only in the order of the sums). */
#define ROW(T) ((const T *)((const uint8_t *)W + (size_t)r * rb))

static inline float sum8(const float *a) {
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

void mm_q_rows_bf16_generic(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                            const mm_xq8 *xq, float *y) {
    (void)xq;
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *w = ROW(uint16_t);
        float acc[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= cols; i += 8)
            for (int l = 0; l < 8; l++) acc[l] += bf2f(w[i + l]) * x[i + l];
        float s = sum8(acc);
        for (; i < cols; i++) s += bf2f(w[i]) * x[i];
        y[r] = s;
    }
}

/* sum over one 32-element block of code(e) * x[e] (qx) and of x[e] (sx), codes from nibbles + optional 5th bits */
static inline void blk32_dot(const uint8_t qs[16], const uint8_t *qh, const float *x, float *qx, float *sx) {
    float a[8] = {0}, s[8] = {0};
    uint32_t h = 0;
    if (qh) memcpy(&h, qh, 4);
    for (int j = 0; j < 16; j += 8)
        for (int l = 0; l < 8; l++) {
            int e = j + l;
            float q0 = (float)((qs[e] & 15) | (((h >> e) & 1) << 4));
            float q1 = (float)((qs[e] >> 4) | (((h >> (e + 16)) & 1) << 4));
            a[l] += q0 * x[e] + q1 * x[e + 16];
            s[l] += x[e] + x[e + 16];
        }
    *qx = sum8(a);
    *sx = sum8(s);
}

/* Q4_1 / Q5_0 / Q5_1 rows: byte offsets of d, m (-1: none, Q5_0's offset -16 instead), qh (-1: none), qs */
static void rows32_generic(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x, float *y,
                           size_t bs, int m_off, int qh_off, int qs_off) {
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)W + (size_t)r * rb;
        float s = 0.0f;
        for (int64_t i = 0; i < cols / MM_QK; i++) {
            const uint8_t *b = row + (size_t)i * bs;
            uint16_t d, m = 0;
            memcpy(&d, b, 2);
            if (m_off >= 0) memcpy(&m, b + m_off, 2);
            float qx, sx;
            blk32_dot(b + qs_off, qh_off >= 0 ? b + qh_off : NULL, x + i * MM_QK, &qx, &sx);
            s += m_off >= 0 ? h2f(d) * qx + h2f(m) * sx : h2f(d) * (qx - 16.0f * sx);
        }
        y[r] = s;
    }
}

void mm_q_rows_q4_1_generic(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                            const mm_xq8 *xq, float *y) {
    (void)xq;
    rows32_generic(W, rb, r0, r1, cols, x, y, sizeof(mm_block_q4_1), 2, -1, 4);
}
void mm_q_rows_q5_0_generic(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                            const mm_xq8 *xq, float *y) {
    (void)xq;
    rows32_generic(W, rb, r0, r1, cols, x, y, sizeof(mm_block_q5_0), -1, 2, 6);
}
void mm_q_rows_q5_1_generic(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                            const mm_xq8 *xq, float *y) {
    (void)xq;
    rows32_generic(W, rb, r0, r1, cols, x, y, sizeof(mm_block_q5_1), 2, 4, 8);
}

/* Q4_K / Q5_K: one super-block; qh NULL for Q4_K */
static inline float k45_dot(const uint16_t d16, uint16_t dmin16, const uint8_t *scales, const uint8_t *qs,
                            const uint8_t *qh, const float *x) {
    float s = 0.0f, sm = 0.0f;
    for (int c = 0; c < 4; c++) {
        float a0[8] = {0}, a1[8] = {0}, s0[8] = {0}, s1[8] = {0};
        const float *x0 = x + 64 * c, *x1 = x0 + 32;
        for (int j = 0; j < 32; j += 8)
            for (int l = 0; l < 8; l++) {
                int e = j + l, h = qh ? qh[e] >> (2 * c) : 0;
                a0[l] += (float)((qs[32 * c + e] & 15) | ((h & 1) << 4)) * x0[e];
                a1[l] += (float)((qs[32 * c + e] >> 4) | ((h & 2) << 3)) * x1[e];
                s0[l] += x0[e];
                s1[l] += x1[e];
            }
        int sc0, m0, sc1, m1;
        k_scale_min(scales, 2 * c, &sc0, &m0);
        k_scale_min(scales, 2 * c + 1, &sc1, &m1);
        s += (float)sc0 * sum8(a0) + (float)sc1 * sum8(a1);
        sm += (float)m0 * sum8(s0) + (float)m1 * sum8(s1);
    }
    return h2f(d16) * s - h2f(dmin16) * sm;
}

static void k45_rows_generic(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x, float *y,
                             bool q5) {
    const size_t bs = q5 ? sizeof(mm_block_q5_k) : sizeof(mm_block_q4_k);
    for (int64_t r = r0; r < r1; r++) {
        float s = 0.0f;
        for (int64_t i = 0; i < cols / MM_QK_K; i++) {
            const uint8_t *b = (const uint8_t *)W + (size_t)r * rb + (size_t)i * bs;   /* d, dmin, scales[12], ... */
            uint16_t d, dmin;
            memcpy(&d, b, 2);
            memcpy(&dmin, b + 2, 2);
            s += k45_dot(d, dmin, b + 4, q5 ? b + 48 : b + 16, q5 ? b + 16 : NULL, x + i * MM_QK_K);
        }
        y[r] = s;
    }
}

void mm_q_rows_q4_k_generic(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                            const mm_xq8 *xq, float *y) {
    (void)xq;
    k45_rows_generic(W, rb, r0, r1, cols, x, y, false);
}
void mm_q_rows_q5_k_generic(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                            const mm_xq8 *xq, float *y) {
    (void)xq;
    k45_rows_generic(W, rb, r0, r1, cols, x, y, true);
}

void mm_q_rows_q6_k_generic(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                            const mm_xq8 *xq, float *y) {
    (void)xq;
    for (int64_t r = r0; r < r1; r++) {
        const mm_block_q6_k *b = ROW(mm_block_q6_k);
        float s = 0.0f;
        for (int64_t i = 0; i < cols / MM_QK_K; i++) {
            const float *xb = x + i * MM_QK_K;
            float sb = 0.0f;
            for (int h = 0; h < 2; h++)
                for (int k = 0; k < 4; k++) {   /* 32 elements: 128h + 32k + l, sub-blocks 8h + 2k (+1) */
                    const uint8_t *ql = b[i].ql + 64 * h + 32 * (k & 1), *qh = b[i].qh + 32 * h;
                    const float *xe = xb + 128 * h + 32 * k;
                    float a[2][8] = {{0}};
                    for (int half = 0; half < 2; half++)
                        for (int l = 0; l < 8; l++)
                            for (int j = 0; j < 16; j += 8) {
                                int e = 16 * half + j + l;
                                int low = k < 2 ? (ql[e] & 15) : (ql[e] >> 4);
                                int q = (low | (((qh[e] >> (2 * k)) & 3) << 4)) - 32;
                                a[half][l] += (float)q * xe[e];
                            }
                    sb += (float)b[i].scales[8 * h + 2 * k] * sum8(a[0]) + (float)b[i].scales[8 * h + 2 * k + 1] * sum8(a[1]);
                }
            s += h2f(b[i].d) * sb;
        }
        y[r] = s;
    }
}

/* ---------------------------------------------------------------- reference quantizers (llama.cpp) */
/* nearest integer, ties to even, for |v| < 2^22 (ggml's nearest_int: add 1.5 * 2^23 and read the mantissa);
 * out of range or NaN (only from non-finite input) is clamped, never undefined */
static inline int nearest_int(float v) {
    if (!(v > -4194303.0f)) v = -4194303.0f;   /* also NaN */
    if (v > 4194303.0f) v = 4194303.0f;
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* truncation of a value known to be in [lo, hi] in exact arithmetic (C's (int) cast), NaN -> lo */
static inline int trunc_clamp(float v, int lo, int hi) {
    if (!(v >= (float)lo)) return lo;
    if (v >= (float)hi) return hi;
    return (int)v;
}

static void quantize_bf16(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = f2bf(x[i]);
}

/* Q4_1 / Q5_1: d = (max - min) / nmax, m = min, code = trunc((x - min) / d + 0.5) */
static void minmax32(const float *x, float *mn, float *mx) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < MM_QK; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

static void quantize_q4_1(const float *x, mm_block_q4_1 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += MM_QK) {
        float mn, mx;
        minmax32(x, &mn, &mx);
        float d = (mx - mn) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = mm_fp32_to_fp16(d);
        y[i].m = mm_fp32_to_fp16(mn);
        for (int j = 0; j < 16; j++) {
            int q0 = trunc_clamp((x[j] - mn) * id + 0.5f, 0, 15), q1 = trunc_clamp((x[j + 16] - mn) * id + 0.5f, 0, 15);
            y[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* store 32 codes 0..31 as Q5 nibbles + 5th bits */
static void pack_q5(const int *q, uint8_t qs[16], uint8_t qh[4]) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
        h |= (uint32_t)((q[j] >> 4) & 1) << j;
        h |= (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
    }
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

static void quantize_q5_0(const float *x, mm_block_q5_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += MM_QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < MM_QK; j++)
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        float d = max / -16.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = mm_fp32_to_fp16(d);
        int q[MM_QK];
        for (int j = 0; j < MM_QK; j++) q[j] = trunc_clamp(x[j] * id + 16.5f, 0, 31);
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

static void quantize_q5_1(const float *x, mm_block_q5_1 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += MM_QK) {
        float mn, mx;
        minmax32(x, &mn, &mx);
        float d = (mx - mn) / 31.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = mm_fp32_to_fp16(d);
        y[i].m = mm_fp32_to_fp16(mn);
        int q[MM_QK];
        for (int j = 0; j < MM_QK; j++) q[j] = trunc_clamp((x[j] - mn) * id + 0.5f, 0, 31);
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

/* Scale and min of n values with weights w for codes 0..nmax (x ~ scale * L - min_out): start from the
 * range [min(x, 0), max(x)], then try nstep + 1 candidate scales (nmax + rmin + rdelta * is) / range and keep
 * the weighted least-squares fit of scale and min (min <= 0) with the smallest weighted squared error.
 * L: the codes; Laux: scratch of n. Returns the scale, *min_out = -min (>= 0 except for odd inputs). */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *min_out, uint8_t *Laux,
                           float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *min_out = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min), scale = 1.0f / iscale, best_err = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
        float diff = scale * (float)L[i] + min - x[i];
        best_err += w[i] * (diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * (x[i] - min));
            l = l < 0 ? 0 : l > nmax ? nmax : l;
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float err = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                err += w[i] * (diff * diff);
            }
            if (err < best_err) {
                memcpy(L, Laux, (size_t)n);
                best_err = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *min_out = -min;
    return scale;
}

/* Symmetric scale of n values for codes -nmax..nmax-1 (stored + nmax in L), weights x^2: the scale from the
 * largest magnitude, then 18 candidates -(nmax + 0.1 is) / max (is = -9..9, is != 0), keeping the one that
 * maximizes (sum w x l)^2 / sum w l^2 (least-squares scale). Returns the scale (0 for an all-zero group). */
static float fit_scale_sym(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < 1e-15f) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)-nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * x[i]);
            l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
            float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + (l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q4_K / Q5_K super-block (nmax 15 / 31): per sub-block of 32 a scale and min fitted with weights
 * sqrt(mean x^2) + |x|, both quantized to 6 bits against the super-block's largest (d, dmin in fp16), then
 * codes recomputed with the quantized scales. Writes d, dmin, the 12 scale bytes and the codes L[256]. */
static void quantize_k45(const float *x, int nmax, float rmin, int nstep, uint16_t *d16, uint16_t *dmin16,
                         uint8_t scales[12], uint8_t L[MM_QK_K]) {
    float sc[8], mins[8], w[32], max_scale = 0, max_min = 0;
    uint8_t Laux[32];
    for (int j = 0; j < 8; j++) {
        const float *xj = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xj[l] * xj[l];
        float av_x = sqrtf(sum_x2 / 32.0f);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xj[l]);
        sc[j] = fit_scale_min(32, nmax, xj, w, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep);
        if (sc[j] > max_scale) max_scale = sc[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f, inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * sc[j]), lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = ls > 63 ? 63 : ls;
        lm = lm > 63 ? 63 : lm;
        if (j < 4) {
            scales[j] = ls;
            scales[j + 4] = lm;
        } else {
            scales[j + 4] = (uint8_t)((ls & 15) | (lm & 15) << 4);
            scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
            scales[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d16 = mm_fp32_to_fp16(max_scale / 63.0f);
    *dmin16 = mm_fp32_to_fp16(max_min / 63.0f);
    for (int j = 0; j < 8; j++) {
        int s, m;
        k_scale_min(scales, j, &s, &m);
        float dj = h2f(*d16) * (float)s;
        if (dj == 0.0f) continue;   /* the codes of the fit stay (as llama.cpp) */
        float dm = h2f(*dmin16) * (float)m;
        for (int l = 0; l < 32; l++) {
            int q = nearest_int((x[32 * j + l] + dm) / dj);
            L[32 * j + l] = (uint8_t)(q < 0 ? 0 : q > nmax ? nmax : q);
        }
    }
}

static void quantize_q4_k(const float *x, mm_block_q4_k *y, int64_t nb) {
    uint8_t L[MM_QK_K];
    for (int64_t i = 0; i < nb; i++, x += MM_QK_K) {
        quantize_k45(x, 15, -1.0f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) y[i].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
    }
}

static void quantize_q5_k(const float *x, mm_block_q5_k *y, int64_t nb) {
    uint8_t L[MM_QK_K];
    for (int64_t i = 0; i < nb; i++, x += MM_QK_K) {
        quantize_k45(x, 31, -0.5f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int a = L[64 * c + l], b = L[64 * c + 32 + l];
                y[i].qs[32 * c + l] = (uint8_t)((a & 15) | (b & 15) << 4);
                y[i].qh[l] |= (uint8_t)(((a >> 4) & 1) << (2 * c) | ((b >> 4) & 1) << (2 * c + 1));
            }
    }
}

static void quantize_q6_k(const float *x, mm_block_q6_k *y, int64_t nb) {
    int8_t L[MM_QK_K];
    float sc[16];
    for (int64_t i = 0; i < nb; i++, x += MM_QK_K) {
        float max_scale = 0, max_abs = 0;
        for (int j = 0; j < 16; j++) {
            sc[j] = fit_scale_sym(16, 32, x + 16 * j, L + 16 * j);
            if (fabsf(sc[j]) > max_abs) { max_abs = fabsf(sc[j]); max_scale = sc[j]; }
        }
        if (max_abs < 1e-15f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -128.0f / max_scale;
        y[i].d = mm_fp32_to_fp16(1.0f / iscale);
        for (int j = 0; j < 16; j++) {
            int s = nearest_int(iscale * sc[j]);
            y[i].scales[j] = (int8_t)(s > 127 ? 127 : s < -128 ? -128 : s);
        }
        for (int j = 0; j < 16; j++) {
            float dj = h2f(y[i].d) * (float)y[i].scales[j];
            if (dj == 0.0f) continue;   /* codes of the fit stay (as llama.cpp) */
            for (int l = 0; l < 16; l++) {
                int q = nearest_int(x[16 * j + l] / dj);
                L[16 * j + l] = (int8_t)((q < -32 ? -32 : q > 31 ? 31 : q) + 32);
            }
        }
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                const int8_t *Lh = L + 128 * h;
                y[i].ql[64 * h + l] = (uint8_t)((Lh[l] & 15) | (Lh[l + 64] & 15) << 4);
                y[i].ql[64 * h + l + 32] = (uint8_t)((Lh[l + 32] & 15) | (Lh[l + 96] & 15) << 4);
                y[i].qh[32 * h + l] = (uint8_t)((Lh[l] >> 4) | (Lh[l + 32] >> 4) << 2 | (Lh[l + 64] >> 4) << 4 | (Lh[l + 96] >> 4) << 6);
            }
    }
}

void mm_quants_quantize(mm_type t, const float *x, void *dst, int64_t n) {
    switch (t) {
    case MM_TYPE_BF16: quantize_bf16(x, dst, n); break;
    case MM_TYPE_Q4_1: quantize_q4_1(x, dst, n / MM_QK); break;
    case MM_TYPE_Q5_0: quantize_q5_0(x, dst, n / MM_QK); break;
    case MM_TYPE_Q5_1: quantize_q5_1(x, dst, n / MM_QK); break;
    case MM_TYPE_Q4_K: quantize_q4_k(x, dst, n / MM_QK_K); break;
    case MM_TYPE_Q5_K: quantize_q5_k(x, dst, n / MM_QK_K); break;
    case MM_TYPE_Q6_K: quantize_q6_k(x, dst, n / MM_QK_K); break;
    default: break;
    }
}
