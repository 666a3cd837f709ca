/* simd_avx2.h - private to core/: small AVX2 helpers shared by the avx2 level's kernel files (matvec_fp_avx2.c,
 * matmul_multi_avx2.c). Each carries its own target attribute, so a file includes it and calls it from its own
 * avx2 (or wider) functions. */
#ifndef MM_SIMD_AVX2_H
#define MM_SIMD_AVX2_H

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Sum of the 8 lanes of v in a fixed order: the two 128-bit halves (lo + hi), then lanes {0,1} + {2,3}, then
 * lane 0 + lane 1. Kernels whose results must match bit for bit (a row kernel and its batched instance) call
 * this one function. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline float mm_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

#endif
