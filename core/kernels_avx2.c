/* kernels_avx2.c - AVX2 + FMA + F16C matvec and dequantize kernels.
 *
 * Each function carries its own target attribute, so a portable build (-DMMGPT_NATIVE=OFF) still
 * contains them; matvec.c picks this table at run time only when the CPU reports the features.
 * F32/F16: weights converted in registers, f32 products. Q8_0/Q4_0: x quantized to 8 bits per block of
 * 32 first (mm_xq8), integer products (same error statement as kernels_avx512.c / mm_core.h).
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
            MM_PREFETCH(w + i, 0);
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
        __m256i sum32 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum32), _mm256_extracti128_si256(sum32, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
        int sum = _mm_cvtsi128_si32(s4);
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

T256 static inline __m256 q8_block_int(const mm_block_q8_0 *b, const mm_xq8 *xq, int64_t i, __m256 acc) {
    __m256i w = _mm256_loadu_si256((const __m256i *)b->qs);
    __m256i xv = _mm256_loadu_si256((const __m256i *)(xq->qs + i * MM_QK));
    __m256i p16 = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(xv, w));
    __m256i p32 = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
    __m256 s = _mm256_mul_ps(_mm256_cvtph_ps(_mm_set1_epi16((short)b->d)), _mm256_broadcast_ss(xq->d + i));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), s, acc);
}

/* int32 lane sums of w . x for one Q8_0 block (8 lanes of 4 products) */
T256 static inline __m256i q8_block_sum(const mm_block_q8_0 *b, const int8_t *xqs) {
    const __m256i w = _mm256_loadu_si256((const __m256i *)b->qs), xv = _mm256_loadu_si256((const __m256i *)xqs);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(xv, w)), _mm256_set1_epi16(1));
}

/* Q8_0, four blocks per step: the int32 sums of two blocks folded into one register by vphaddd (lanes
 * [a a b b | a a b b]), so one conversion and one fmadd serve two blocks; the four fp16 weight scales are
 * gathered by scalar loads and shifts, spread by vpshufb and multiplied by x's scales (permuted the same way).
 * From cache (one thread, 256 KiB of rows of 4096 columns, best of 300 and of 3 runs; x's quantization
 * included): 27.8 GB/s block at a time, 39.6 this way with quantize_x_avx2's vector stores (bench/README.md). */
T256 static void rows_q8_0_int(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                               const mm_xq8 *xq, float *y) {
    (void)x;
    int64_t nb = cols / MM_QK;
    const __m128i pick01 = _mm_setr_epi8(0, 1, 0, 1, 2, 3, 2, 3, 0, 1, 0, 1, 2, 3, 2, 3);
    const __m128i pick23 = _mm_setr_epi8(4, 5, 4, 5, 6, 7, 6, 7, 4, 5, 4, 5, 6, 7, 6, 7);
    const __m256i x01 = _mm256_setr_epi32(0, 0, 1, 1, 0, 0, 1, 1), x23 = _mm256_setr_epi32(2, 2, 3, 3, 2, 2, 3, 3);
    for (int64_t r = r0; r < r1; r++) {
        const mm_block_q8_0 *b = (const mm_block_q8_0 *)((const uint8_t *)W + (size_t)r * rb);
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 4 <= nb; i += 4) {
            MM_PREFETCH(b + i, 0);   /* 136 bytes per step */
            MM_PREFETCH(b + i, 64);
            MM_PREFETCH(b + i, 128);
            const uint64_t d4 = (uint64_t)b[i].d | (uint64_t)b[i + 1].d << 16 | (uint64_t)b[i + 2].d << 32 |
                                (uint64_t)b[i + 3].d << 48;
            const __m128i dv = _mm_cvtsi64_si128((long long)d4);
            const __m256 dx = _mm256_castps128_ps256(_mm_loadu_ps(xq->d + i));
            const __m256 s01 = _mm256_mul_ps(_mm256_cvtph_ps(_mm_shuffle_epi8(dv, pick01)), _mm256_permutevar8x32_ps(dx, x01));
            const __m256 s23 = _mm256_mul_ps(_mm256_cvtph_ps(_mm_shuffle_epi8(dv, pick23)), _mm256_permutevar8x32_ps(dx, x23));
            const __m256i h01 = _mm256_hadd_epi32(q8_block_sum(b + i, xq->qs + i * MM_QK), q8_block_sum(b + i + 1, xq->qs + (i + 1) * MM_QK));
            const __m256i h23 = _mm256_hadd_epi32(q8_block_sum(b + i + 2, xq->qs + (i + 2) * MM_QK), q8_block_sum(b + i + 3, xq->qs + (i + 3) * MM_QK));
            a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h01), s01, a0);
            a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h23), s23, a1);
        }
        for (; i < nb; i++) a0 = q8_block_int(b + i, xq, i, a0);
        y[r] = hsum256(_mm256_add_ps(a0, a1));
    }
}

T256 static inline __m256 q4_block_int(const mm_block_q4_0 *b, const mm_xq8 *xq, int64_t i, __m256 acc) {
    __m128i v = _mm_loadu_si128((const __m128i *)b->qs);
    __m128i m = _mm_set1_epi8(0x0f);
    __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, m)),
                                        _mm_and_si128(_mm_srli_epi16(v, 4), m), 1);
    __m256i xv = _mm256_loadu_si256((const __m256i *)(xq->qs + i * MM_QK));
    __m256i p32 = _mm256_madd_epi16(_mm256_maddubs_epi16(q, xv), _mm256_set1_epi16(1));
    __m256 t = _mm256_fmsub_ps(_mm256_cvtepi32_ps(p32), _mm256_broadcast_ss(xq->d + i), _mm256_broadcast_ss(xq->ds + i));
    return _mm256_fmadd_ps(t, _mm256_cvtph_ps(_mm_set1_epi16((short)b->d)), acc);
}

/* Q4_0, four blocks (72 bytes) per step, as two pairs: both blocks' 16 nibble bytes of a pair in one register,
 * low nibbles (elements 0..15 of each) against x's qs4 pair layout [b0 0:16, b1 0:16] and high nibbles
 * (16..31) against [b0 16:32, b1 16:32] (mm_xq8_layout); the two vpmaddubsw results add in int16
 * (<= 4 * 15 * 127), one vpmaddwd gives 4 int32 lanes per block (lanes 0-3 block i, 4-7 block i+1), then one
 * fmsub with x's scales d4 = [d_i x4, d_i+1 x4] and 2 s4 (4 lanes per block add up to Q4_0's 8 sum(x)) and
 * one fmadd with the weight scales, whose four fp16 words are gathered by scalar loads and shifts and spread
 * by one vpshufb per pair. Measured from cache (one thread, 256 KiB of rows, best of 300): 16 GB/s for the
 * block-at-a-time loop, 18 with pairs, 20.7 with the scalar scale gather, 24.7 with quantize_x_avx2's vector
 * stores (bench/README.md). Integer sums are exact; only the f32 rounding order differs from the other levels. */
/* the sum of one pair of blocks (i, i + 1) before its weight scales: lanes 0-3 block i, 4-7 block i + 1 */
T256 static inline __m256 q4_pair_t(const mm_block_q4_0 *b, const mm_xq8 *xq, int64_t i) {
    const __m256i m = _mm256_set1_epi8(0x0f);
    const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b[0].qs)),
                                              _mm_loadu_si128((const __m128i *)b[1].qs), 1);
    const __m256i xlo = _mm256_loadu_si256((const __m256i *)(xq->qs4 + i * MM_QK));
    const __m256i xhi = _mm256_loadu_si256((const __m256i *)(xq->qs4 + i * MM_QK + 32));
    const __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(v, m), xlo),
                                         _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m), xhi));
    const __m256i p32 = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
    const __m256 s4 = _mm256_loadu_ps(xq->s4 + i * 8);
    return _mm256_fmsub_ps(_mm256_cvtepi32_ps(p32), _mm256_loadu_ps(xq->d4 + i * 8), _mm256_add_ps(s4, s4));
}

T256 static void rows_q4_0_int(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                               const mm_xq8 *xq, float *y) {
    (void)x;
    int64_t nb = cols / MM_QK;
    const __m128i pick0 = _mm_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3);
    const __m128i pick1 = _mm_setr_epi8(4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7);
    for (int64_t r = r0; r < r1; r++) {
        const mm_block_q4_0 *b = (const mm_block_q4_0 *)((const uint8_t *)W + (size_t)r * rb);
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 4 <= nb; i += 4) {
            MM_PREFETCH(b + i, 0);   /* 72 bytes per step */
            MM_PREFETCH(b + i, 64);
            /* the 4 weight scales gathered with scalar loads and shifts (off the vector ports) */
            const uint64_t d4 = (uint64_t)b[i].d | (uint64_t)b[i + 1].d << 16 | (uint64_t)b[i + 2].d << 32 |
                                (uint64_t)b[i + 3].d << 48;
            const __m128i dv = _mm_cvtsi64_si128((long long)d4);
            a0 = _mm256_fmadd_ps(q4_pair_t(b + i, xq, i), _mm256_cvtph_ps(_mm_shuffle_epi8(dv, pick0)), a0);
            a1 = _mm256_fmadd_ps(q4_pair_t(b + i + 2, xq, i + 2), _mm256_cvtph_ps(_mm_shuffle_epi8(dv, pick1)), a1);
        }
        if (i + 2 <= nb) {
            const __m128i dv = _mm_cvtsi32_si128((int)((uint32_t)b[i].d | (uint32_t)b[i + 1].d << 16));
            a0 = _mm256_fmadd_ps(q4_pair_t(b + i, xq, i), _mm256_cvtph_ps(_mm_shuffle_epi8(dv, pick0)), a0);
            i += 2;
        }
        if (i < nb) a1 = q4_block_int(b + i, xq, i, a1);   /* a last odd block: plain layout */
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

T256 static void to_f16(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) y[i] = mm_fp32_to_fp16(x[i]);
}

const mm_kernel_table mm_kernels_avx2 = {
    .name = "avx2",
    .rows = {rows_f32, rows_f16, rows_q8_0_int, rows_q4_0_int, MM_QUANTS_ROWS(avx2)},
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
