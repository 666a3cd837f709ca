/* kernels_avx512.c - AVX-512 (F/BW/VL/VNNI) + FMA + F16C matvec and dequantize kernels.
 *
 * Each function carries its own target attribute, so a portable build (-DMMGPT_NATIVE=OFF) still
 * contains them; matvec.c picks this table at run time only when the CPU reports the features.
 * F32/F16 (and BF16): the row kernels are in matvec_fp_avx512.c (R rows x V vectors tiles, one accumulator per
 * row; the row kernel is the one-vector instance of the batched kernel).
 * Q8_0/Q4_0: x is first quantized to 8 bits per block of 32 like llama.cpp (mm_xq8: d = amax/127), then
 * integer dot products (VNNI). This adds an error of at most sum_i |w_i| * d_x(block of i) / 2 to each
 * output (x rounded to the nearest step); relative to |y| it is about 0.3-1% for random data, the same
 * order as the weight quantization itself. Prefill (mm_linear n > 1) does not quantize x.
 */
#include <string.h>

#include "core_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")))

/* Software prefetch this far ahead of the Q8_0/Q4_0 weight streams. Measured here (one thread, 4096x4096,
 * median of 12 interleaved rounds, matvec GB/s / read GB/s): Q8_0 0.79 without, 0.89 at 8 KiB (0.75 at
 * 2 KiB, 0.86 at 16 KiB); Q4_0 0.69 -> 0.76. F32 is best without (0.85 -> 0.74-0.78 with it). F16 was
 * unchanged at 4096x4096 but gains on GPT-2's 768-column matrices (81.8% -> 92-96% of bandwidth in
 * bench_kernels' GPT-2 step; matvec_fp_avx512.c). Running past the end of a row prefetches the next row. */
#ifndef MM_PF_BYTES
#define MM_PF_BYTES 8192
#endif
#ifndef MM_PF_HINT
#define MM_PF_HINT _MM_HINT_T0
#endif
#define PF(p, off) _mm_prefetch((const char *)(p) + MM_PF_BYTES + (off), MM_PF_HINT)

T512 static inline float hsum512(__m512 v) { return _mm512_reduce_add_ps(v); }

/* ---------------------------------------------------------------- integer kernels (x quantized, VNNI)
 * x is quantized to 8 bits per block of 32 (mm_xq8, ggml Q8_0 rounding). Two weight blocks fill one
 * 512-bit register; vpdpbusd multiplies unsigned by signed bytes, so Q8_0 uses |w| and x with w's
 * sign, and Q4_0 uses the nibbles q (0..15) directly and subtracts 8 * sum(x) afterwards. */
T512 static inline __m512 q8_pair_vnni(const mm_block_q8_0 *b, const mm_xq8 *xq, int64_t i, __m512 acc) {
    __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b[0].qs)),
                                   _mm256_loadu_si256((const __m256i *)b[1].qs), 1);
    __m512i xv = _mm512_loadu_si512(xq->qs + i * MM_QK);
    __m512i sx = _mm512_mask_sub_epi8(xv, _mm512_movepi8_mask(w), _mm512_setzero_si512(), xv);
    __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), sx);
    __m256i dh = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)b[0].d)),
                                         _mm_set1_epi16((short)b[1].d), 1);
    __m512 s = _mm512_mul_ps(_mm512_cvtph_ps(dh), _mm512_loadu_ps(xq->d8 + i * 8));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc);
}

/* Rows of at least this many columns go 4 at a time (below, one at a time is faster: measured here with
 * 768..12288 columns, 4 rows at once lost 15-35% of the Q8_0 speed; at 49152 columns it gains 15% for
 * Q8_0 and 40% for Q4_0, whose x data per row no longer fits in L1). Depends on cols only: deterministic. */
#define MM_WIDE_COLS 16384

/* R rows at once (R = 1 or 4): x's blocks and scales are loaded once for R rows, which matters when a row
 * is long (x's quantized copy, 2 bytes per weight byte read, falls out of L1 beyond ~10k columns). The
 * per-row order of operations is the same for every R, so a row's result does not depend on how rows are
 * grouped (thread split). */
T512 static inline __attribute__((always_inline)) void
q8_rows_R(const uint8_t *W, size_t rb, int64_t r, int64_t nb, const mm_xq8 *xq, float *y, const int R) {
    const mm_block_q8_0 *b[4];
    __m512 a0[4], a1[4];
    for (int k = 0; k < R; k++) {
        b[k] = (const mm_block_q8_0 *)(W + (size_t)(r + k) * rb);
        a0[k] = _mm512_setzero_ps(), a1[k] = _mm512_setzero_ps();
    }
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        for (int k = 0; k < R; k++) {
            PF(b[k] + i, 0); PF(b[k] + i, 64);
            if (R == 1) PF(b[k] + i, 128);
            a0[k] = q8_pair_vnni(b[k] + i, xq, i, a0[k]);
            a1[k] = q8_pair_vnni(b[k] + i + 2, xq, i + 2, a1[k]);
        }
    }
    for (; i + 2 <= nb; i += 2)
        for (int k = 0; k < R; k++) a0[k] = q8_pair_vnni(b[k] + i, xq, i, a0[k]);
    if (i < nb) {   /* odd block count: one block in 256 bits */
        __m256i xv = _mm256_loadu_si256((const __m256i *)(xq->qs + i * MM_QK));
        for (int k = 0; k < R; k++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)b[k][i].qs);
            __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(w), _mm256_sign_epi8(xv, w));
            __m256 sc = _mm256_set1_ps(_cvtsh_ss(b[k][i].d) * xq->d[i]);
            a1[k] = _mm512_add_ps(a1[k], _mm512_zextps256_ps512(_mm256_mul_ps(_mm256_cvtepi32_ps(p), sc)));
        }
    }
    for (int k = 0; k < R; k++) y[r + k] = hsum512(_mm512_add_ps(a0[k], a1[k]));
}

T512 static void rows_q8_0_vnni(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                                const mm_xq8 *xq, float *y) {
    (void)x;
    const int64_t nb = cols / MM_QK;
    int64_t r = r0;
    if (cols >= MM_WIDE_COLS)
        for (; r + 4 <= r1; r += 4) q8_rows_R(W, rb, r, nb, xq, y, 4);
    for (; r < r1; r++) q8_rows_R(W, rb, r, nb, xq, y, 1);
}

T512 static inline __m512 q4_pair_vnni(const mm_block_q4_0 *b, const mm_xq8 *xq, int64_t i, __m512 acc) {
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b[0].qs)),
                                        _mm_loadu_si128((const __m128i *)b[1].qs), 1);
    __m256i m = _mm256_set1_epi8(0x0f);
    __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, m)),
                                   _mm256_and_si256(_mm256_srli_epi16(v, 4), m), 1);
    __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, _mm512_loadu_si512(xq->qs4 + i * MM_QK));
    __m128i dh = _mm_unpacklo_epi64(_mm_set1_epi16((short)b[0].d), _mm_set1_epi16((short)b[1].d));
    __m512 dw = _mm512_cvtph_ps(_mm256_broadcastsi128_si256(dh));
    __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(p), _mm512_loadu_ps(xq->d4 + i * 8), _mm512_loadu_ps(xq->s4 + i * 8));
    return _mm512_fmadd_ps(t, dw, acc);
}

/* Q4_0, 4 blocks (72 bytes) per step. x's quantized copy is laid out for it by quantize_x_avx512 (this
 * level only; the tail of nb % 4 blocks keeps mm_xq8's pair layout, see core_internal.h): for blocks
 * i..i+3 (i % 4 == 0), qs4[32i .. 32i+64) = the four blocks' elements 0..15 and qs4[32i+64 .. 32i+128) their
 * elements 16..31; d4[8i .. 8i+16) = d of block i + lane/4, s4 the same with 2 * ds (4 lanes per block add
 * up to the 8 * sum(x) of Q4_0's -8 offset). The 64 nibble bytes of the 4 blocks are gathered into one
 * register (4 loads), low and high nibbles go through two VNNI dot
 * products into the same 16 lanes (4 per block), then one fmsub/fmadd with the 4 scales: half the
 * instructions of a pair-at-a-time loop, which was compute bound here (31 GB/s from cache, 0.70-0.78 of
 * DRAM bandwidth on GPT-2 shapes). Integer sums are exact; only f32 rounding order differs from the
 * generic level. R rows at once (R = 1 or 4) share x's loads; a row's result does not depend on R. */
T512 static inline __attribute__((always_inline)) __m512i q4_gather_plain(const mm_block_q4_0 *bb) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)bb[0].qs));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)bb[1].qs), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)bb[2].qs), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)bb[3].qs), 3);
}

/* body of q4_rows_plain (a macro: a VBMI variant gathering with one vpermt2b was tried and measured
 * slower from DRAM on long rows, 0.38 vs 0.74 of bandwidth at 12288 columns, though faster from cache) */
#define Q4_ROWS_BODY(GATHER)                                                                                                   \
    const mm_block_q4_0 *b[4];                                                                                                 \
    __m512 a0[4], a1[4];                                                                                                       \
    for (int k = 0; k < R; k++) {                                                                                              \
        b[k] = (const mm_block_q4_0 *)(W + (size_t)(r + k) * rb);                                                              \
        a0[k] = _mm512_setzero_ps(), a1[k] = _mm512_setzero_ps();                                                              \
    }                                                                                                                          \
    /* fp16 scales of 4 blocks are the words at byte offsets 0, 18, 36, 54 (word 0, 9, 18, 27), 4 lanes each */                \
    const __m512i idxd = _mm512_set_epi16(27, 27, 27, 27, 18, 18, 18, 18, 9, 9, 9, 9, 0, 0, 0, 0,                              \
                                          27, 27, 27, 27, 18, 18, 18, 18, 9, 9, 9, 9, 0, 0, 0, 0);                             \
    const __m512i m = _mm512_set1_epi8(0x0f);                                                                                  \
    const int64_t nq = nb & ~(int64_t)3;                                                                                       \
    int64_t i = 0;                                                                                                             \
    for (; i < nq; i += 4) {                                                                                                   \
        const __m512i xlo = _mm512_loadu_si512(xq->qs4 + i * MM_QK), xhi = _mm512_loadu_si512(xq->qs4 + i * MM_QK + 64);       \
        const __m512 dx = _mm512_loadu_ps(xq->d4 + i * 8), sx = _mm512_loadu_ps(xq->s4 + i * 8);                               \
        for (int k = 0; k < R; k++) {                                                                                          \
            const mm_block_q4_0 *bb = b[k] + i;                                                                                \
            PF(bb, 0); PF(bb, 64);                                                                                             \
            const __m512i q = GATHER(bb);                                                                                      \
            const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(idxd, _mm512_loadu_si512(bb)))); \
            __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(q, m), xlo);                              \
            p = _mm512_dpbusd_epi32(p, _mm512_and_si512(_mm512_srli_epi16(q, 4), m), xhi);                                     \
            const __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(p), dx, sx);                                                   \
            if ((i & 4) == 0) a0[k] = _mm512_fmadd_ps(t, dw, a0[k]);   /* two chains: FMA latency */                           \
            else a1[k] = _mm512_fmadd_ps(t, dw, a1[k]);                                                                        \
        }                                                                                                                      \
    }                                                                                                                          \
    for (; i + 2 <= nb; i += 2)                                                                                                \
        for (int k = 0; k < R; k++) a1[k] = q4_pair_vnni(b[k] + i, xq, i, a1[k]);                                              \
    if (i < nb) {   /* odd block count: low nibbles = x[0:16], high = x[16:32] */                                              \
        const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq->qs4 + i * MM_QK));                                         \
        for (int k = 0; k < R; k++) {                                                                                          \
            __m128i v = _mm_loadu_si128((const __m128i *)b[k][i].qs);                                                          \
            __m128i m1 = _mm_set1_epi8(0x0f);                                                                                  \
            __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, m1)),                                  \
                                                _mm_and_si128(_mm_srli_epi16(v, 4), m1), 1);                                   \
            __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, xv);                                                    \
            __m256 t = _mm256_fmsub_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(xq->d[i]), _mm256_set1_ps(xq->ds[i]));            \
            a1[k] = _mm512_add_ps(a1[k], _mm512_zextps256_ps512(_mm256_mul_ps(t, _mm256_set1_ps(_cvtsh_ss(b[k][i].d)))));      \
        }                                                                                                                      \
    }                                                                                                                          \
    for (int k = 0; k < R; k++) y[r + k] = hsum512(_mm512_add_ps(a0[k], a1[k]));

T512 static inline __attribute__((always_inline)) void
q4_rows_plain(const uint8_t *W, size_t rb, int64_t r, int64_t nb, const mm_xq8 *xq, float *y, const int R) {
    Q4_ROWS_BODY(q4_gather_plain)
}
T512 static void rows_q4_0_vnni(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                                const mm_xq8 *xq, float *y) {
    (void)x;
    const int64_t nb = cols / MM_QK;
    int64_t r = r0;
    if (cols >= MM_WIDE_COLS)
        for (; r + 4 <= r1; r += 4) q4_rows_plain(W, rb, r, nb, xq, y, 4);
    for (; r < r1; r++) q4_rows_plain(W, rb, r, nb, xq, y, 1);
}

/* x -> mm_xq8 (same layout as mm_xq8_quantize; rounding to nearest even instead of half away from 0,
 * which keeps |x - q d| <= d/2, the bound the error statement uses) */
T512 static void quantize_x_avx512(const float *x, int64_t cols, void *mem, mm_xq8 *o) {
    mm_xq8_layout(cols, mem, o);
    int64_t nb = cols / MM_QK;
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < nb; i++) {
        __m512 a = _mm512_loadu_ps(x + i * MM_QK), b = _mm512_loadu_ps(x + i * MM_QK + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(a, absmask), _mm512_and_ps(b, absmask)));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        __m512i qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, vid)), qb = _mm512_cvtps_epi32(_mm512_mul_ps(b, vid));
        __m128i ba = _mm512_cvtsepi32_epi8(qa), bb = _mm512_cvtsepi32_epi8(qb);
        _mm_storeu_si128((__m128i *)(o->qs + i * MM_QK), ba);
        _mm_storeu_si128((__m128i *)(o->qs + i * MM_QK + 16), bb);
        int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qb));
        o->d[i] = d;
        o->ds[i] = d * (float)sum;
        _mm256_storeu_ps(o->d8 + i * 8, _mm256_set1_ps(d));
        /* Q4_0: blocks in whole quads in the quad layout (see q4_rows_plain); the rest in pair order
         * [b0 0:16, b1 0:16, b0 16:32, b1 16:32]; a trailing odd block stays in order */
        int64_t pair = i & ~(int64_t)1;
        if (i < (nb & ~(int64_t)3)) {
            const int64_t q0 = i & ~(int64_t)3, j = i & 3;
            _mm_storeu_si128((__m128i *)(o->qs4 + q0 * MM_QK + 16 * j), ba);
            _mm_storeu_si128((__m128i *)(o->qs4 + q0 * MM_QK + 64 + 16 * j), bb);
            _mm_storeu_ps(o->d4 + q0 * 8 + 4 * j, _mm_set1_ps(d));
            _mm_storeu_ps(o->s4 + q0 * 8 + 4 * j, _mm_set1_ps(2.0f * o->ds[i]));
        } else if (i + 1 == nb && !(i & 1)) {
            _mm_storeu_si128((__m128i *)(o->qs4 + i * MM_QK), ba);
            _mm_storeu_si128((__m128i *)(o->qs4 + i * MM_QK + 16), bb);
            _mm256_storeu_ps(o->d4 + i * 8, _mm256_set1_ps(d));
            _mm256_storeu_ps(o->s4 + i * 8, _mm256_set1_ps(o->ds[i]));
        } else {
            int h = (int)(i & 1);
            _mm_storeu_si128((__m128i *)(o->qs4 + pair * MM_QK + 16 * h), ba);
            _mm_storeu_si128((__m128i *)(o->qs4 + pair * MM_QK + 32 + 16 * h), bb);
            _mm_storeu_ps(o->d4 + pair * 8 + 4 * h, _mm_set1_ps(d));
            _mm_storeu_ps(o->d4 + pair * 8 + 8 + 4 * h, _mm_set1_ps(d));
            _mm_storeu_ps(o->s4 + pair * 8 + 4 * h, _mm_set1_ps(o->ds[i]));
            _mm_storeu_ps(o->s4 + pair * 8 + 8 + 4 * h, _mm_set1_ps(o->ds[i]));
        }
    }
}

/* ---------------------------------------------------------------- dequantize rows (prefill tiles) */
T512 static void deq_f32(const void *s, float *y, int64_t n) { memcpy(y, s, (size_t)n * sizeof(float)); }

T512 static void deq_f16(const void *s, float *y, int64_t n) {
    const uint16_t *h = s;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i))));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, h + i)));
    }
}

T512 static void deq_q8_0(const void *s, float *y, int64_t n) {
    const mm_block_q8_0 *b = s;
    for (int64_t i = 0; i < n / MM_QK; i++) {
        __m512 d = _mm512_set1_ps(_cvtsh_ss(b[i].d));
        __m128i q0 = _mm_loadu_si128((const __m128i *)b[i].qs);
        __m128i q1 = _mm_loadu_si128((const __m128i *)(b[i].qs + 16));
        _mm512_storeu_ps(y + i * MM_QK, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)), d));
        _mm512_storeu_ps(y + i * MM_QK + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)), d));
    }
}

T512 static void deq_q4_0(const void *s, float *y, int64_t n) {
    const mm_block_q4_0 *b = s;
    __m512 eight = _mm512_set1_ps(8.0f);
    for (int64_t i = 0; i < n / MM_QK; i++) {
        __m512 d = _mm512_set1_ps(_cvtsh_ss(b[i].d));
        __m128i v = _mm_loadu_si128((const __m128i *)b[i].qs);
        __m128i lo = _mm_and_si128(v, _mm_set1_epi8(0x0f));
        __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0f));
        _mm512_storeu_ps(y + i * MM_QK, _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(lo)), eight), d));
        _mm512_storeu_ps(y + i * MM_QK + 16, _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(hi)), eight), d));
    }
}

T512 static void to_f16(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
}

const mm_kernel_table mm_kernels_avx512 = {
    .name = "avx512",
    .rows = {mm_rows_f32_avx512, mm_rows_f16_avx512, rows_q8_0_vnni, rows_q4_0_vnni, MM_QUANTS_ROWS(avx512)},
    .wants_xq = {false, false, true, true, MM_QUANTS_WANTS_XQ},
    .deq = {deq_f32, deq_f16, deq_q8_0, deq_q4_0, MM_QUANTS_DEQ(avx512)},
    .quantize_x = quantize_x_avx512,
    .to_f16 = to_f16,
};
#else
T512 static void to_f16(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
}

const mm_kernel_table mm_kernels_avx512 = {0};
#endif
