/* kernels_avx2.c - AVX2 + FMA + F16C matvec and dequantize kernels.
 *
 * Each function carries its own target attribute, so a portable build (-DMMGPT_NATIVE=OFF) still
 * contains them; matvec.c picks this table at run time only when the CPU reports the features.
 * F32/F16: weights converted in registers, f32 products. Q8_0/Q4_0: x quantized to 8 bits per block of
 * 32 first (mm_xq8), integer products (same error statement as kernels_avx512.c / mm_core.h). quantize_x_avx2
 * fills every mm_xq8 array, the sums per 16 elements (s16, Q6_K's offset term) included.
 * The matvec row kernels of the table are in matmul_multi_avx2.c (each type's kernel is written once for
 * 1..MULTI_V vectors there: the row kernel is its one-vector instance); this file has x's quantization, the
 * dequantization and the table.
 */
#include <string.h>

#include "core_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T256 __attribute__((target("avx2,fma,f16c")))

/* ---------------------------------------------------------------- integer kernels (x quantized to 8 bits)
 * As in kernels_avx512.c but with vpmaddubsw + vpmaddwd (no VNNI): Q8_0 uses |w| times x with w's sign,
 * Q4_0 the nibbles q (0..15) times x, minus 8 * sum(x) per block. Pair sums fit int16 (<= 2*128*127). */
T256 static void quantize_x_avx2(const float *x, int64_t cols, void *mem, mm_xq8 *o) {
    mm_xq8_layout(cols, mem, o);
    int64_t nb = cols / MM_QK;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < nb; i++) {
        __m256 v[4], mx = _mm256_setzero_ps();
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_loadu_ps(x + i * MM_QK + 8 * j);
            mx = _mm256_max_ps(mx, _mm256_and_ps(v[j], absmask));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float d = _mm_cvtss_f32(m4) / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int j = 0; j < 4; j++) q[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], vid));   /* nearest even */
        __m256i s01 = _mm256_packs_epi32(q[0], q[1]), s23 = _mm256_packs_epi32(q[2], q[3]);
        __m256i b = _mm256_packs_epi16(s01, s23);   /* lane-interleaved: fix the order with a permute */
        b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(o->qs + i * MM_QK), b);
        /* the sums of elements 0..15 (lo) and 16..31 (hi): [lo lo hi hi | lo lo hi hi] partial lanes, folded */
        __m256i h = _mm256_hadd_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        s4 = _mm_hadd_epi32(s4, s4);   /* [lo hi lo hi] */
        const int lo16 = _mm_cvtsi128_si32(s4), hi16 = _mm_extract_epi32(s4, 1), sum = lo16 + hi16;
        o->s16[2 * i] = (int16_t)lo16;
        o->s16[2 * i + 1] = (int16_t)hi16;
        o->d[i] = d;
        o->ds[i] = d * (float)sum;
        _mm256_storeu_ps(o->d8 + i * 8, _mm256_set1_ps(d));
        /* qs4 / d4 / s4: the pair layout [b0 0:16, b1 0:16, b0 16:32, b1 16:32] of rows_q4_0_int (and of the
         * generic mm_xq8_quantize); a trailing odd block stays in order */
        if (i + 1 == nb && !(i & 1)) {
            _mm256_storeu_si256((__m256i *)(o->qs4 + i * MM_QK), b);
            _mm256_storeu_ps(o->d4 + i * 8, _mm256_set1_ps(d));
            _mm256_storeu_ps(o->s4 + i * 8, _mm256_set1_ps(o->ds[i]));
        } else {
            const int64_t pair = i & ~(int64_t)1, h = i & 1;
            _mm_storeu_si128((__m128i *)(o->qs4 + pair * MM_QK + 16 * h), _mm256_castsi256_si128(b));
            _mm_storeu_si128((__m128i *)(o->qs4 + pair * MM_QK + 32 + 16 * h), _mm256_extracti128_si256(b, 1));
            _mm_storeu_ps(o->d4 + pair * 8 + 4 * h, _mm_set1_ps(d));
            _mm_storeu_ps(o->d4 + pair * 8 + 8 + 4 * h, _mm_set1_ps(d));
            _mm_storeu_ps(o->s4 + pair * 8 + 4 * h, _mm_set1_ps(o->ds[i]));
            _mm_storeu_ps(o->s4 + pair * 8 + 8 + 4 * h, _mm_set1_ps(o->ds[i]));
        }
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

T256 static void to_f16(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) y[i] = mm_fp32_to_fp16(x[i]);
}

const mm_kernel_table mm_kernels_avx2 = {
    .name = "avx2",
    .rows = {mm_rows_f32_avx2, mm_rows_f16_avx2, mm_rows_q8_0_avx2, mm_rows_q4_0_avx2, MM_QUANTS_ROWS(avx2)},
    .wants_xq = {false, false, true, true, MM_QUANTS_WANTS_XQ},
    .deq = {deq_f32, deq_f16, deq_q8_0, deq_q4_0, MM_QUANTS_DEQ(avx2)},
    .quantize_x = quantize_x_avx2,
    .to_f16 = to_f16,
};
#else
T256 static void to_f16(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) y[i] = mm_fp32_to_fp16(x[i]);
}

const mm_kernel_table mm_kernels_avx2 = {0};
#endif
