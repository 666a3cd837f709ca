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
/* 16 bytes of nibbles -> 32 codes in element order (low nibbles = elements 0..15, high = 16..31) */
__attribute__((target("avx2,fma,f16c"))) static inline __m256i mm_nibbles32(const uint8_t *qs) {
    __m128i v = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(0x0f);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, m)), _mm_and_si128(_mm_srli_epi16(v, 4), m), 1);
}

/* the 32 bits of a Q5 qh as bytes 0x10 (bit set) or 0 in element order */
__attribute__((target("avx2,fma,f16c"))) static inline __m256i mm_q5_bits(const uint8_t qh[4]) {
    uint32_t h;
    memcpy(&h, qh, 4);
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), spread);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit), _mm256_set1_epi8(0x10));
}
/* Q6_K codes (0..63) of the 4 groups of 32 of half h (elements 128h + 32k + l in q[k]) */
__attribute__((target("avx2,fma,f16c"))) static inline void mm_q6_codes(const mm_block_q6_k *b, int h, __m256i q[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    const __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m30));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
}
#endif

#endif
