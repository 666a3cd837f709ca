/* quants_avx2.c - AVX2 + FMA + F16C kernels of BF16, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K (see quants.c).
 *
 * matvec: BF16 in f32 (weights widened in registers). The quantized types take x quantized to 8 bits per
 * block of 32 (mm_xq8: qs, d, ds = d * sum(qs)) like Q8_0/Q4_0 (same error statement, mm_core.h): codes
 * 0..63 (unsigned) times x's int8 with vpmaddubsw (pair sums fit int16: <= 2 * 63 * 127), summed to int32;
 * offsets and mins come from x's block sums: sum (q - o) x = sum q x - o sum x, sum (q d + m) x =
 * d sum q x + m sum x. The K-quants' sub-blocks of 32 line up with x's blocks, so each sub-block gets one
 * f32 factor d * sc * d_x; Q6_K's sub-blocks of 16 get their int8 scale in the integer sum (vpmaddwd).
 * dequantize: exact values of mm_core.h (this file is compiled with -ffp-contract=off: no fused mul-add in
 * the dequantization, whose values tests compare bit for bit).
 * The matvec kernels (the integer sums above) are in matmul_multi_avx2.c (written once for 1..4 vectors: the
 * batched decode's register-blocked kernels and, for one vector, the table's row kernels); this file has the
 * dequantization.
 * Each function carries its own target attribute; the table entries are in kernels_avx2.c.
 */
#include <string.h>

#include "core_internal.h"
#include "quants_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T256 __attribute__((target("avx2,fma,f16c")))

T256 static inline __m256 bf16x8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

/* ---------------------------------------------------------------- BF16 */
T256 void mm_q_deq_bf16_avx2(const void *s, float *y, int64_t n) {
    const uint16_t *h = s;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, bf16x8(h + i));
    for (; i < n; i++) {
        uint32_t u = (uint32_t)h[i] << 16;
        memcpy(y + i, &u, 4);
    }
}

/* ---------------------------------------------------------------- 32-blocks: Q4_1, Q5_0, Q5_1 (dequantize) */
#define CODES_Q4_1(b) mm_nibbles32((b)->qs)
#define CODES_Q5(b) _mm256_or_si256(mm_nibbles32((b)->qs), mm_q5_bits((b)->qh))

/* dequantize: codes as f32 (8 per step) times d (minus offset first, or plus m after) */
T256 static inline __attribute__((always_inline)) void store_codes(__m256i q, __m256 d, __m256 m, __m256 off, float *y,
                                                                  const int with_m) {
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int j = 0; j < 4; j++) {
        __m256 c = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[j])), off);   /* exact */
        __m256 v = _mm256_mul_ps(c, d);
        _mm256_storeu_ps(y + 8 * j, with_m ? _mm256_add_ps(v, m) : v);
    }
}

T256 void mm_q_deq_q4_1_avx2(const void *s, float *y, int64_t n) {
    const mm_block_q4_1 *b = s;
    for (int64_t i = 0; i < n / MM_QK; i++)
        store_codes(CODES_Q4_1(b + i), _mm256_set1_ps(_cvtsh_ss(b[i].d)), _mm256_set1_ps(_cvtsh_ss(b[i].m)),
                    _mm256_setzero_ps(), y + i * MM_QK, 1);
}
T256 void mm_q_deq_q5_1_avx2(const void *s, float *y, int64_t n) {
    const mm_block_q5_1 *b = s;
    for (int64_t i = 0; i < n / MM_QK; i++)
        store_codes(CODES_Q5(b + i), _mm256_set1_ps(_cvtsh_ss(b[i].d)), _mm256_set1_ps(_cvtsh_ss(b[i].m)),
                    _mm256_setzero_ps(), y + i * MM_QK, 1);
}
T256 void mm_q_deq_q5_0_avx2(const void *s, float *y, int64_t n) {
    const mm_block_q5_0 *b = s;
    for (int64_t i = 0; i < n / MM_QK; i++)   /* (q - 16) * d */
        store_codes(CODES_Q5(b + i), _mm256_set1_ps(_cvtsh_ss(b[i].d)), _mm256_setzero_ps(), _mm256_set1_ps(16.0f),
                    y + i * MM_QK, 0);
}

/* ---------------------------------------------------------------- K-quants */


/* dequantize: per sub-block of 32 (Q4_K/Q5_K) d1 * q - m1 with d1 = d * sc, m1 = dmin * m (f32 products) */
T256 static inline void k45_deq(const void *src, float *y, int64_t n, const int q5) {
    const size_t bsz = q5 ? sizeof(mm_block_q5_k) : sizeof(mm_block_q4_k);
    const __m256i m4 = _mm256_set1_epi8(0x0f), b4 = _mm256_set1_epi8(0x10);
    for (int64_t i = 0; i < n / MM_QK_K; i++, y += MM_QK_K) {
        const uint8_t *blk = (const uint8_t *)src + (size_t)i * bsz;
        uint16_t d16, dmin16;
        memcpy(&d16, blk, 2);
        memcpy(&dmin16, blk + 2, 2);
        uint64_t sc, mn;
        mm_k_scales8(blk + 4, &sc, &mn);
        float d = _cvtsh_ss(d16), dmin = _cvtsh_ss(dmin16);
        const uint8_t *qs = q5 ? blk + 48 : blk + 16;
        __m256i hb = q5 ? _mm256_loadu_si256((const __m256i *)(blk + 16)) : _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m256i q[2] = {_mm256_and_si256(v, m4), _mm256_and_si256(_mm256_srli_epi16(v, 4), m4)};
            if (q5) {
                q[0] = _mm256_or_si256(q[0], _mm256_and_si256(_mm256_slli_epi16(hb, 4), b4));
                q[1] = _mm256_or_si256(q[1], _mm256_and_si256(_mm256_slli_epi16(hb, 3), b4));
                hb = _mm256_srli_epi16(hb, 2);
            }
            for (int s = 0; s < 2; s++) {
                int j = 2 * c + s;
                __m256 dj = _mm256_set1_ps(d * (float)((sc >> (8 * j)) & 0xff));
                __m256 mj = _mm256_set1_ps(dmin * (float)((mn >> (8 * j)) & 0xff));
                __m128i lo = _mm256_castsi256_si128(q[s]), hi = _mm256_extracti128_si256(q[s], 1);
                __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
                for (int t = 0; t < 4; t++)
                    _mm256_storeu_ps(y + 32 * j + 8 * t,
                                     _mm256_sub_ps(_mm256_mul_ps(dj, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[t]))), mj));
            }
        }
    }
}
T256 void mm_q_deq_q4_k_avx2(const void *s, float *y, int64_t n) { k45_deq(s, y, n, 0); }
T256 void mm_q_deq_q5_k_avx2(const void *s, float *y, int64_t n) { k45_deq(s, y, n, 1); }

T256 void mm_q_deq_q6_k_avx2(const void *src, float *y, int64_t n) {
    const mm_block_q6_k *b = src;
    const __m256i c32 = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < n / MM_QK_K; i++, y += MM_QK_K) {
        const float d = _cvtsh_ss(b[i].d);
        for (int h = 0; h < 2; h++) {
            __m256i q[4];
            mm_q6_codes(&b[i], h, q);
            for (int k = 0; k < 4; k++) {
                __m256i v = _mm256_sub_epi8(q[k], c32);   /* -32..31 */
                __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
                __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
                for (int t = 0; t < 4; t++) {
                    int e = 128 * h + 32 * k + 8 * t;
                    __m256 f = _mm256_set1_ps(d * (float)b[i].scales[e / 16]);
                    _mm256_storeu_ps(y + e, _mm256_mul_ps(f, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[t]))));
                }
            }
        }
    }
}
#endif
