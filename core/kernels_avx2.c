/* kernels_avx2.c - AVX2 + FMA + F16C matvec and dequantize kernels.
 *
 * Each function carries its own target attribute, so a portable build (-DMMGPT_NATIVE=OFF) still
 * contains them; matvec.c picks this table at run time only when the CPU reports the features.
 * Weights are dequantized in registers and multiplied with x in f32 (x is not quantized).
 */
#include <string.h>

#include "core_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T256 __attribute__((target("avx2,fma,f16c")))

T256 static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

T256 static void rows_f32(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                          const mm_xq8 *xq, float *y) {
    (void)xq;
    int64_t c32 = cols & ~(int64_t)31;
    for (int64_t r = r0; r < r1; r++) {
        const float *w = (const float *)((const uint8_t *)W + (size_t)r * rb);
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i < c32; i += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
        }
        for (; i + 8 <= cols; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; i < cols; i++) s += w[i] * x[i];
        y[r] = s;
    }
}

T256 static void rows_f16(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                          const mm_xq8 *xq, float *y) {
    (void)xq;
    int64_t c32 = cols & ~(int64_t)31;
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *w = (const uint16_t *)((const uint8_t *)W + (size_t)r * rb);
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i < c32; i += 32) {
            a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))), _mm256_loadu_ps(x + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8))), _mm256_loadu_ps(x + i + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 16))), _mm256_loadu_ps(x + i + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 24))), _mm256_loadu_ps(x + i + 24), a3);
        }
        for (; i + 8 <= cols; i += 8)
            a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))), _mm256_loadu_ps(x + i), a0);
        float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; i < cols; i++) s += _cvtsh_ss(w[i]) * x[i];
        y[r] = s;
    }
}

T256 static inline __m256 q8_block(const mm_block_q8_0 *b, const float *xb, __m256 acc) {
    __m128i q01 = _mm_loadu_si128((const __m128i *)b->qs);
    __m128i q23 = _mm_loadu_si128((const __m128i *)(b->qs + 16));
    __m256 w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q01));
    __m256 w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q01, 8)));
    __m256 w2 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q23));
    __m256 w3 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q23, 8)));
    __m256 s0 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xb + 8), _mm256_mul_ps(w0, _mm256_loadu_ps(xb)));
    __m256 s1 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xb + 24), _mm256_mul_ps(w2, _mm256_loadu_ps(xb + 16)));
    return _mm256_fmadd_ps(_mm256_add_ps(s0, s1), _mm256_set1_ps(_cvtsh_ss(b->d)), acc);
}

T256 static void rows_q8_0(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                           const mm_xq8 *xq, float *y) {
    (void)xq;
    int64_t nb = cols / MM_QK;
    for (int64_t r = r0; r < r1; r++) {
        const mm_block_q8_0 *b = (const mm_block_q8_0 *)((const uint8_t *)W + (size_t)r * rb);
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 2 <= nb; i += 2) {
            a0 = q8_block(b + i, x + i * MM_QK, a0);
            a1 = q8_block(b + i + 1, x + (i + 1) * MM_QK, a1);
        }
        if (i < nb) a0 = q8_block(b + i, x + i * MM_QK, a0);
        y[r] = hsum256(_mm256_add_ps(a0, a1));
    }
}

T256 static inline __m256 q4_block(const mm_block_q4_0 *b, const float *xb, __m256 acc) {
    __m128i v = _mm_loadu_si128((const __m128i *)b->qs);
    __m128i m = _mm_set1_epi8(0x0f);
    __m128i lo = _mm_and_si128(v, m);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), m);
    __m256 eight = _mm256_set1_ps(8.0f);
    __m256 w0 = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), eight);
    __m256 w1 = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), eight);
    __m256 w2 = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), eight);
    __m256 w3 = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), eight);
    __m256 s0 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xb + 8), _mm256_mul_ps(w0, _mm256_loadu_ps(xb)));
    __m256 s1 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xb + 24), _mm256_mul_ps(w2, _mm256_loadu_ps(xb + 16)));
    return _mm256_fmadd_ps(_mm256_add_ps(s0, s1), _mm256_set1_ps(_cvtsh_ss(b->d)), acc);
}

T256 static void rows_q4_0(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                           const mm_xq8 *xq, float *y) {
    (void)xq;
    int64_t nb = cols / MM_QK;
    for (int64_t r = r0; r < r1; r++) {
        const mm_block_q4_0 *b = (const mm_block_q4_0 *)((const uint8_t *)W + (size_t)r * rb);
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 2 <= nb; i += 2) {
            a0 = q4_block(b + i, x + i * MM_QK, a0);
            a1 = q4_block(b + i + 1, x + (i + 1) * MM_QK, a1);
        }
        if (i < nb) a0 = q4_block(b + i, x + i * MM_QK, a0);
        y[r] = hsum256(_mm256_add_ps(a0, a1));
    }
}

T256 static void deq_f32(const void *s, float *y, int64_t n) { memcpy(y, s, (size_t)n * sizeof(float)); }

T256 static void deq_f16(const void *s, float *y, int64_t n) {
    const uint16_t *h = s;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++) y[i] = _cvtsh_ss(h[i]);
}

T256 static void deq_q8_0(const void *s, float *y, int64_t n) {
    const mm_block_q8_0 *b = s;
    for (int64_t i = 0; i < n / MM_QK; i++) {
        __m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d));
        for (int j = 0; j < 4; j++) {
            __m128i q = _mm_loadl_epi64((const __m128i *)(b[i].qs + 8 * j));
            _mm256_storeu_ps(y + i * MM_QK + 8 * j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
        }
    }
}

T256 static void deq_q4_0(const void *s, float *y, int64_t n) {
    const mm_block_q4_0 *b = s;
    __m256 eight = _mm256_set1_ps(8.0f);
    for (int64_t i = 0; i < n / MM_QK; i++) {
        __m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d));
        __m128i v = _mm_loadu_si128((const __m128i *)b[i].qs);
        __m128i lo = _mm_and_si128(v, _mm_set1_epi8(0x0f));
        __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0f));
        __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
        for (int j = 0; j < 4; j++)
            _mm256_storeu_ps(y + i * MM_QK + 8 * j,
                             _mm256_mul_ps(_mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[j])), eight), d));
    }
}

const mm_kernel_table mm_kernels_avx2 = {
    .name = "avx2",
    .rows = {rows_f32, rows_f16, rows_q8_0, rows_q4_0},
    .wants_xq = {false, false, false, false},
    .deq = {deq_f32, deq_f16, deq_q8_0, deq_q4_0},
};
#else
const mm_kernel_table mm_kernels_avx2 = {0};
#endif
