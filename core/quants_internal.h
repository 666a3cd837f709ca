/* quants_internal.h - helpers shared by quants_avx2.c and quants_avx512.c (private to core/). */
#ifndef MM_QUANTS_INTERNAL_H
#define MM_QUANTS_INTERNAL_H

#include <string.h>

#include "core_internal.h"

/* 6-bit scales and mins of a Q4_K/Q5_K super-block (12 bytes s) as 8 + 8 bytes: sc[0..7] in *sc, m[0..7] in *m
 * (byte j = value j). Bytes 0..3 of s hold sc 0..3 and 4..7 m 0..3 in their low 6 bits and the top 2 bits of
 * sc / m 4..7; bytes 8..11 the low 4 bits of sc 4..7 (low nibble) and m 4..7 (high nibble). */
static inline void mm_k_scales8(const uint8_t s[12], uint64_t *sc, uint64_t *m) {
    uint32_t s0, s1, s2;
    memcpy(&s0, s, 4);
    memcpy(&s1, s + 4, 4);
    memcpy(&s2, s + 8, 4);
    uint32_t sc_lo = s0 & 0x3f3f3f3fu, m_lo = s1 & 0x3f3f3f3fu;
    uint32_t sc_hi = (s2 & 0x0f0f0f0fu) | ((s0 >> 2) & 0x30303030u);
    uint32_t m_hi = ((s2 >> 4) & 0x0f0f0f0fu) | ((s1 >> 2) & 0x30303030u);
    *sc = sc_lo | (uint64_t)sc_hi << 32;
    *m = m_lo | (uint64_t)m_hi << 32;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Per Q4_K/Q5_K super-block (blk: d, dmin, scales): the weights' part of its factors, shared by every x */
typedef struct {
    __m256 sc, mn, d, dmin;   /* sc[j], m[j] as f32 (8 lanes), d and dmin broadcast */
} mm_k45_w;
__attribute__((target("avx2,fma,f16c"))) static inline mm_k45_w mm_k45_wfactors(const uint8_t *blk) {
    uint16_t d16, dmin16;
    memcpy(&d16, blk, 2);
    memcpy(&dmin16, blk + 2, 2);
    uint64_t sc, mn;
    mm_k_scales8(blk + 4, &sc, &mn);
    mm_k45_w f;
    f.sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc)));
    f.mn = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn)));
    f.d = _mm256_set1_ps(_cvtsh_ss(d16));
    f.dmin = _mm256_set1_ps(_cvtsh_ss(dmin16));
    return f;
}
/* x's part for super-block i: the f32 factor of each sub-block j, d sc[j] d_x[8i + j] (8 lanes), and
 * *accm += dmin m[j] ds_x[8i + j] (the mins' part of the dot product, subtracted at the end). */
__attribute__((target("avx2,fma,f16c"))) static inline __m256 mm_k45_xfactors(const mm_k45_w *f, const mm_xq8 *xq,
                                                                              int64_t i, __m256 *accm) {
    *accm = _mm256_fmadd_ps(_mm256_mul_ps(f->mn, _mm256_loadu_ps(xq->ds + 8 * i)), f->dmin, *accm);
    return _mm256_mul_ps(_mm256_mul_ps(f->sc, _mm256_loadu_ps(xq->d + 8 * i)), f->d);
}
/* both for one x */
__attribute__((target("avx2,fma,f16c"))) static inline __m256 mm_k45_factors(const uint8_t *blk, const mm_xq8 *xq,
                                                                             int64_t i, __m256 *accm) {
    const mm_k45_w f = mm_k45_wfactors(blk);
    return mm_k45_xfactors(&f, xq, i, accm);
}
#endif

#endif
