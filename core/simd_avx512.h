/* simd_avx512.h - private to core/: small AVX-512 helpers shared by the avx512 level's kernel files
 * (kernels_avx512.c, quants_avx512.c, matvec_fp_avx512.c). Each carries its own target attribute, so a file
 * includes it and calls it from its own avx512 functions. */
#ifndef MM_SIMD_AVX512_H
#define MM_SIMD_AVX512_H

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "core_internal.h"

/* 4 x 4 dwords transposed per 128-bit lane: out[k] lane 4L + q = dword k of g[q]'s 128-bit lane L (the weight and x
 * groups of one 32-bit lane per block: kernels_avx512.c, quants_avx512.c) */
__attribute__((target("avx512f"), always_inline)) static inline void mm_t4x4_epi32(const __m512i g[4], __m512i out[4]) {
    const __m512i t0 = _mm512_unpacklo_epi32(g[0], g[1]), t1 = _mm512_unpackhi_epi32(g[0], g[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(g[2], g[3]), t3 = _mm512_unpackhi_epi32(g[2], g[3]);
    out[0] = _mm512_unpacklo_epi64(t0, t2), out[1] = _mm512_unpackhi_epi64(t0, t2);
    out[2] = _mm512_unpacklo_epi64(t1, t3), out[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* the same for 256-bit registers (the groups of 8) */
__attribute__((target("avx2"), always_inline)) static inline void mm_t4x4_epi32_256(const __m256i g[4], __m256i out[4]) {
    const __m256i t0 = _mm256_unpacklo_epi32(g[0], g[1]), t1 = _mm256_unpackhi_epi32(g[0], g[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(g[2], g[3]), t3 = _mm256_unpackhi_epi32(g[2], g[3]);
    out[0] = _mm256_unpacklo_epi64(t0, t2), out[1] = _mm256_unpackhi_epi64(t0, t2);
    out[2] = _mm256_unpacklo_epi64(t1, t3), out[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* minus 128 times each lane's signed codes over wq[0 .. n) (n even): x + 128 against signed codes counts that too
 * much, so the vpdpbusd chains start from it (Q8_0, Q6_K); two exact chains */
__attribute__((target("avx512f,avx512vnni"), always_inline)) static inline __m512i mm_nsum128(const __m512i *wq, const int n) {
    const __m512i c80 = _mm512_set1_epi8((char)0x80);
    __m512i a = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c80, wq[0]), b = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c80, wq[1]);
    for (int k = 2; k < n; k += 2) a = _mm512_dpbusd_epi32(a, c80, wq[k]), b = _mm512_dpbusd_epi32(b, c80, wq[k + 1]);
    return _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_add_epi32(a, b));
}

/* The integer dot products of one group of 16 blocks (Q4_0) or sub-blocks (Q4_K), one 32-bit lane each, with
 * V <= MULTI_VMAX vectors: wq[8] the group's weight codes transposed as x's qt (core_internal.h), off the
 * group's first element in qt; p[j] gets vector j's 16 sums. V <= 2 runs 4 chains per vector (the vpdpbusd
 * latency), more vectors interleave one chain each: exact integer sums, so the grouping does not change them
 * and a row kernel (V = 1) equals its batched instance bit for bit. */
/* u = 1: x + 128 (mm_xq8.qtu) against signed weight codes instead (Q8_0), every vector's sums starting from `start`
 * (minus 128 times each lane's codes, which x + 128 counts too much); u = 0: start is zero. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"), always_inline)) static inline void
mm_qt_dots16x(const __m512i wq[8], const mm_xq8 *const *xq, int V, int64_t off, __m512i start, const int u, __m512i *p) {
#define MM_QT_X(j) ((const int8_t *)(u ? (const void *)xq[j]->qtu : (const void *)xq[j]->qt) + off)
#define MM_QT_DP(c, w, x) (u ? _mm512_dpbusd_epi32((c), (x), (w)) : _mm512_dpbusd_epi32((c), (w), (x)))   /* unsigned first */
    if (V <= 2) {
        for (int j = 0; j < V; j++) {
            const int8_t *xt = MM_QT_X(j);
            __m512i c[4];
            for (int e = 0; e < 4; e++)
                c[e] = MM_QT_DP(e == 0 ? start : _mm512_setzero_si512(), wq[e], _mm512_loadu_si512(xt + 64 * e));
            for (int e = 0; e < 4; e++) c[e] = MM_QT_DP(c[e], wq[e + 4], _mm512_loadu_si512(xt + 256 + 64 * e));
            p[j] = _mm512_add_epi32(_mm512_add_epi32(c[0], c[1]), _mm512_add_epi32(c[2], c[3]));
        }
        return;
    }
    for (int j = 0; j < V; j++) p[j] = MM_QT_DP(start, wq[0], _mm512_loadu_si512(MM_QT_X(j)));
    for (int e = 1; e < 8; e++)
        for (int j = 0; j < V; j++) p[j] = MM_QT_DP(p[j], wq[e], _mm512_loadu_si512(MM_QT_X(j) + 64 * e));
#undef MM_QT_X
#undef MM_QT_DP
}
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"), always_inline)) static inline void
mm_qt_dots16(const __m512i wq[8], const mm_xq8 *const *xq, int V, int64_t off, __m512i *p) {
    mm_qt_dots16x(wq, xq, V, off, _mm512_setzero_si512(), 0, p);
}

/* The horizontal sums of n accumulators at once (mm_hsum512x16: n <= 16): out[t] = _mm512_reduce_add_ps(a[t]), bit
 * for bit (t < n; n a constant after inlining), so a batched tile's rows equal the row kernel's (V = 1: the reduce).
 * gcc's reduce (avx512fintrin.h, __MM512_REDUCE_OP) adds lanes i + (i + 8), then the
 * 128-bit halves of that (+ 4), then (0 + 2, 1 + 3), then 0 + 1 (the upper operand first in the first two steps);
 * here the same pairs in the same operand order, but the accumulators are transposed as they shrink, so each step
 * is one add for up to 16 accumulators:
 *   1. pairs (A, B) -> [A.hi256 + A.lo256 | B.hi256 + B.lo256]            (vshuff32x4 twice, one add)
 *   2. pairs (C, D) -> [C.q1 + C.q0, C.q3 + C.q2, D.q1 + D.q0, D.q3 + D.q2] (128-bit quarters, the same)
 *   3. pairs (E, F) -> per 128-bit lane [E0 + E2, E1 + E3, F0 + F2, F1 + F3] (unpacklo_pd + unpackhi_pd)
 *   4. pairs (G, H) -> per 128-bit lane [G0 + G1, G2 + G3, H0 + H1, H2 + H3] (shufps (2, 0), (3, 1))
 * so accumulator t ends in lane 4 (t % 4) + t / 4 (an odd one out is paired with itself, its copy unused): 30
 * shuffles and 15 adds for 16 accumulators, 14 and 7 for 8, instead of 4 shuffles and 4 adds each. n = 1 (the row
 * kernels) is gcc's reduce itself, written out here so that no compiler's own reduce can differ from the batched
 * order (clang 14's happens to match: core_multi_avx512 passes built with it). Checked by tests/core/test_core_multi.c's memcmp (batched against
 * alone): step 3 done as step 4's shufps, (0 + 1) + (2 + 3) instead of (0 + 2) + (1 + 3), fails it for every type. */
__attribute__((target("avx512f,avx512dq"), always_inline)) static inline void mm_hsum512x16(const __m512 *a, const int n,
                                                                                            float *out) {
    if (n == 1) { /* gcc's reduce written out (avx512fintrin.h): the bits do not depend on a compiler's header */
        const __m256 t3 = _mm256_add_ps(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a[0]), 1)),
                                        _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a[0]), 0)));
        const __m128 t6 = _mm_add_ps(_mm256_extractf128_ps(t3, 1), _mm256_castps256_ps128(t3));
        const __m128 t8 = _mm_add_ps(t6, _mm_shuffle_ps(t6, t6, _MM_SHUFFLE(1, 0, 3, 2)));
        out[0] = _mm_cvtss_f32(t8) + _mm_cvtss_f32(_mm_shuffle_ps(t8, t8, _MM_SHUFFLE(1, 1, 1, 1)));
        return;
    }
    const int n1 = (n + 1) / 2, n2 = (n1 + 1) / 2, n3 = (n2 + 1) / 2;
    __m512 c[8], e[4], g[2];
    for (int m = 0; m < n1; m++) {
        const __m512 A = a[2 * m], B = 2 * m + 1 < n ? a[2 * m + 1] : A;
        c[m] = _mm512_add_ps(_mm512_shuffle_f32x4(A, B, _MM_SHUFFLE(3, 2, 3, 2)), _mm512_shuffle_f32x4(A, B, _MM_SHUFFLE(1, 0, 1, 0)));
    }
    for (int m = 0; m < n2; m++) {
        const __m512 C = c[2 * m], D = 2 * m + 1 < n1 ? c[2 * m + 1] : C;
        e[m] = _mm512_add_ps(_mm512_shuffle_f32x4(C, D, _MM_SHUFFLE(3, 1, 3, 1)), _mm512_shuffle_f32x4(C, D, _MM_SHUFFLE(2, 0, 2, 0)));
    }
    for (int m = 0; m < n3; m++) {
        const __m512d E = _mm512_castps_pd(e[2 * m]), F = 2 * m + 1 < n2 ? _mm512_castps_pd(e[2 * m + 1]) : E;
        g[m] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(E, F)), _mm512_castpd_ps(_mm512_unpackhi_pd(E, F)));
    }
    const __m512 G = g[0], H = n3 > 1 ? g[1] : G;
    float s[16] __attribute__((aligned(64)));
    _mm512_store_ps(s, _mm512_add_ps(_mm512_shuffle_ps(G, H, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(G, H, _MM_SHUFFLE(3, 1, 3, 1))));
    for (int t = 0; t < n; t++) out[t] = s[4 * (t % 4) + t / 4];
}
/* any n: 16 at a time */
__attribute__((target("avx512f,avx512dq"), always_inline)) static inline void mm_hsum512x(const __m512 *a, const int n, float *out) {
    for (int t = 0; t < n; t += 16) mm_hsum512x16(a + t, n - t < 16 ? n - t : 16, out + t);
}

/* The same for a group of 8 blocks (sub-blocks) and one vector, in the packed layout of qt's group of 8: wq[k] =
 * [register k | register k + 4] (k < 4, 256 bits each), xt the group's first element in qt (qtu). Not folded: lane p =
 * block p's exact integer dot product over its codes of registers 0..3 (the low 256 bits), lane 8 + p over those of
 * registers 4..7 (the high 256 bits); the float stage takes the 16 lanes at once (two halves per block, each exact in
 * f32: |sum| < 2^24) with no 512 -> 256 fold per vector (was add, extract, add, then 256-bit float operations and a
 * zero-extended add). One chain for V > 2 (the vectors interleave), two for V <= 2 (the vpdpbusd latency): exact
 * integer sums, so V does not change a bit. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq"), always_inline)) static inline __m512i
mm_qt_dots8(const __m512i wq[4], const void *xt_, __m512i start, const int u, const int V) {   /* start, u: as mm_qt_dots16x's */
    const int8_t *xt = xt_;
#define MM_QT_DP(c, w, x) (u ? _mm512_dpbusd_epi32((c), (x), (w)) : _mm512_dpbusd_epi32((c), (w), (x)))   /* unsigned first */
    if (V > 2) {
        __m512i c = MM_QT_DP(start, wq[0], _mm512_loadu_si512(xt));
        for (int k = 1; k < 4; k++) c = MM_QT_DP(c, wq[k], _mm512_loadu_si512(xt + 64 * k));
        return c;
    }
    __m512i c0 = MM_QT_DP(start, wq[0], _mm512_loadu_si512(xt));
    __m512i c1 = MM_QT_DP(_mm512_setzero_si512(), wq[1], _mm512_loadu_si512(xt + 64));
    c0 = MM_QT_DP(c0, wq[2], _mm512_loadu_si512(xt + 128));
    c1 = MM_QT_DP(c1, wq[3], _mm512_loadu_si512(xt + 192));
#undef MM_QT_DP
    return _mm512_add_epi32(c0, c1);
}
#endif

#endif
