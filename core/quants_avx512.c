/* quants_avx512.c - the avx512 level's kernels of BF16, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K (see quants.c,
 * quants_avx2.c for the arithmetic and its error statement: x quantized to 8 bits per block of 32, mm_xq8).
 *
 * 64 codes per 512-bit register in x's element order, one vpdpbusd (unsigned codes times x's int8, 4 products
 * per int32 lane) per 64 weights:
 *   Q4_1/Q5_0/Q5_1: two blocks per register ([lo nibbles, hi nibbles] of each, by a per-lane shift); the 5th
 *     bits of both blocks are one 64-bit mask (vpaddb 16 under the mask: bit 4 of a nibble is 0); offsets and
 *     mins use d_x sum(x_q) per 4-element lane, computed once per window of columns for all rows;
 *   Q4_K (k4t_rows): groups of 16 sub-blocks (2 super-blocks) with one 32-bit lane per sub-block against x's
 *     transposed groups (mm_xq8.qt, as the avx512 Q4_0 kernel): the chunks' dwords transposed once per group for
 *     all vectors, then per vector 8 vpdpbusd, one conversion, the factor d sc d_x and the mins' dmin m ds_x (4
 *     float operations per 512 weights instead of 16 + 8 permutes); up to MULTI_VMAX = 8 vectors per pass;
 *   Q5_K: the Q4_K kernel (k4t_rows, q5 = 1) with the 5th bits added after the transpose: lane p of register k takes
 *     qh dword k of its super-block (vpshufd within 128-bit lanes), rotated so that bit p % 8 of each byte lands on
 *     bit 4, or-ed into the codes by one vpternlogd; up to
 *     MULTI_VMAX = 8 vectors per pass (was one 32-byte chunk = 64 consecutive x per register with a per-lane factor
 *     by a permute per vector, MULTI_V = 4 per pass);
 *   Q6_K (q6k_rows): as Q4_K, groups of 16 blocks of 32 (2 super-blocks) with one 32-bit lane per block against x +
 *     128 in qt's transposed groups (mm_xq8.qtu), the signed codes q - 32 unpacked and transposed once per group for
 *     all vectors; per vector two exact vpdpbusd chains of 4 (the even and the odd sub-blocks of 16) from -128 x each
 *     lane's codes, 2 conversions and 3 float operations per 512 weights (was one lane per 4 codes in element order:
 *     8 vpdpbusd and 8 x (multiply, conversion, FMA)); 8 vectors from cache 1.3x (768 columns) and 2.3x (3072) the
 *     former kernel, the one-vector row kernel 0.86-0.93x (bench/README.md); up to MULTI_VMAX = 8 vectors per pass;
 * Measured from cache here (one thread, 256 x 4096 weights, best of 300, a shared 2-core AVX-512 machine), GB/s
 * of weights, this level / the AVX2 code: BF16 65 / 43, Q4_1 30 / 14.5, Q5_0 28 / 14, Q5_1 28 / 14, Q4_K 36 / 23,
 * Q5_K 36 / 21, Q6_K 45 / 25 (Q4_0 41, Q8_0 53 for comparison; Q5_K and Q6_K before their transposed kernels,
 * whose row kernels are 0.85-0.94x of those from cache: bench/README.md). Streamed figures: bench/bench_kernels.
 * BF16: f32 products (weights widened in registers). The dequantizations (prefill tiles) use the AVX2 code.
 */
#include <string.h>

#include "core_internal.h"
#include "simd_avx512.h"
#include "quants_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")))

#define SAME_AS_AVX2_ROWS(t)                                                                                         \
    void mm_q_rows_##t##_avx512(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,   \
                                const mm_xq8 *xq, float *y) {                                                      \
        mm_q_rows_##t##_avx2(W, rb, r0, r1, cols, x, xq, y);                                                       \
    }
#define SAME_AS_AVX2_DEQ(t) \
    void mm_q_deq_##t##_avx512(const void *s, float *y, int64_t n) { mm_q_deq_##t##_avx2(s, y, n); }

SAME_AS_AVX2_DEQ(bf16)
SAME_AS_AVX2_DEQ(q4_1)
SAME_AS_AVX2_DEQ(q5_0)
SAME_AS_AVX2_DEQ(q5_1)
SAME_AS_AVX2_DEQ(q4_k)
SAME_AS_AVX2_DEQ(q5_k)
SAME_AS_AVX2_DEQ(q6_k)

/* ---------------------------------------------------------------- Q4_1, Q5_0, Q5_1: two blocks per step */
/* codes of blocks b0, b1 (16 nibble bytes each at qs0, qs1) as [lo b0, hi b0, lo b1, hi b1] */
T512 static inline __m512i nib_pair(const uint8_t *qs0, const uint8_t *qs1) {
    __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)qs0));
    v = _mm512_mask_broadcast_i32x4(v, 0xff00, _mm_loadu_si128((const __m128i *)qs1));
    const long long S = 0x0004000400040004LL;   /* 16-bit shifts: 0 for the lo 128-bit lanes, 4 for the hi ones */
    return _mm512_and_si512(_mm512_srlv_epi16(v, _mm512_set_epi64(S, S, 0, 0, S, S, 0, 0)), _mm512_set1_epi8(0x0f));
}




/* Columns per window of precomputed x terms (rows32): 8192 columns = 8 KiB of f32 on the stack. */
#define MM_Q32_WINDOW 8192

/* kind: 0 = Q4_1 (q d + m), 1 = Q5_0 ((q - 16) d), 2 = Q5_1 (q d + m, 5th bits).
 * Per window of columns, the row-independent part is computed once: per int32 lane (4 elements) the f32
 * d_x * sum(x_q) (Q4_1/Q5_1: times m) or -16 d_x sum(x_q) (Q5_0: plus d_x sum(q x_q), times d). The rows of
 * the window then need one vpdpbusd per 64 weights and no second one for the sums. A row's windows are added
 * in order into y[r]; the last block of an odd block count in plain C on the quantized x. */
T512 static inline __attribute__((always_inline)) void
rows32(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const mm_xq8 *xq, float *y, const int kind) {
    const int64_t nb = cols / MM_QK, npair = nb & ~(int64_t)1;
    const size_t bs = kind == 0 ? sizeof(mm_block_q4_1) : kind == 1 ? sizeof(mm_block_q5_0) : sizeof(mm_block_q5_1);
    const int qs_off = kind == 0 ? 4 : kind == 1 ? 6 : 8, qh_off = kind == 1 ? 2 : 4;
    const short w1 = (short)(bs / 2);   /* word offset of the second block */
    const __m512i idx_d = _mm512_set_epi32(w1, w1, w1, w1, w1, w1, w1, w1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i idx_m = _mm512_set_epi32(w1 + 1, w1 + 1, w1 + 1, w1 + 1, w1 + 1, w1 + 1, w1 + 1, w1 + 1, 1, 1, 1, 1, 1, 1, 1, 1);
    const __mmask32 readable = (__mmask32)((1ull << bs) - 1);   /* two blocks = bs words */
    const __m512i ones = _mm512_set1_epi8(1);
    const short h0 = (short)(qh_off / 2);
    const __m512i idxh = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                          0, 0, 0, 0, (short)(w1 + h0 + 1), (short)(w1 + h0), (short)(h0 + 1), h0);
    float pre[MM_Q32_WINDOW / 4] __attribute__((aligned(64)));
    for (int64_t w0 = 0; w0 < npair || w0 == 0; w0 += MM_Q32_WINDOW / MM_QK) {
        const int64_t w1b = w0 + MM_Q32_WINDOW / MM_QK < npair ? w0 + MM_Q32_WINDOW / MM_QK : npair;
        for (int64_t i = w0; i < w1b; i += 2) {
            const __m512i sx = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, _mm512_loadu_si512(xq->qs + i * MM_QK));
            __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(sx), _mm512_loadu_ps(xq->d8 + i * 8));
            if (kind == 1) v = _mm512_mul_ps(v, _mm512_set1_ps(-16.0f));
            _mm512_store_ps(pre + (i - w0) * 8, v);
        }
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *row = (const uint8_t *)W + (size_t)r * rb;
            __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
            for (int64_t i = w0; i < w1b; i += 2) {
                const uint8_t *b0 = row + (size_t)i * bs, *b1 = b0 + bs;
                const __m512i hdr = _mm512_maskz_loadu_epi16(readable, b0);   /* both blocks */
                __m512i q = nib_pair(b0 + qs_off, b1 + qs_off);
                if (kind != 0) {   /* qh of both blocks -> words 0..3 -> one 64-bit mask */
                    const uint64_t h = (uint64_t)_mm_cvtsi128_si64(_mm512_castsi512_si128(_mm512_permutexvar_epi16(idxh, hdr)));
                    q = _mm512_mask_add_epi8(q, _cvtu64_mask64(h), q, _mm512_set1_epi8(0x10));
                }
                const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, _mm512_loadu_si512(xq->qs + i * MM_QK));
                const __m512 dx = _mm512_loadu_ps(xq->d8 + i * 8), pv = _mm512_load_ps(pre + (i - w0) * 8);
                /* words 0..15 of the two headers as f32 (d0, m0 at 0, 1; d1, m1 at w1, w1 + 1), then broadcast */
                const __m512 hf = _mm512_cvtph_ps(_mm512_castsi512_si256(hdr));
                const __m512 dw = _mm512_permutexvar_ps(idx_d, hf);
                if (kind == 1) {
                    acc0 = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_cvtepi32_ps(p), dx, pv), dw, acc0);
                } else {
                    acc0 = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(p), dx), dw, acc0);
                    acc1 = _mm512_fmadd_ps(pv, _mm512_permutexvar_ps(idx_m, hf), acc1);
                }
            }
            const float s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
            y[r] = w0 == 0 ? s : y[r] + s;
        }
        if (w1b >= npair) break;
    }
    if (nb & 1) {   /* odd block count: the last block in plain C on the quantized x */
        const int64_t i = nb - 1;
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *b = (const uint8_t *)W + (size_t)r * rb + (size_t)i * bs;
            uint16_t d16, m16 = 0;
            uint32_t h = 0;
            memcpy(&d16, b, 2);
            if (kind != 1) memcpy(&m16, b + 2, 2);
            if (kind != 0) memcpy(&h, b + qh_off, 4);
            int sq = 0, sx = 0;
            for (int j = 0; j < 32; j++) {
                int e = j & 15, c = j < 16 ? (b[qs_off + e] & 15) : (b[qs_off + e] >> 4);
                c |= (int)((h >> j) & 1) << 4;
                sq += c * xq->qs[i * MM_QK + j];
                sx += xq->qs[i * MM_QK + j];
            }
            float dw = _cvtsh_ss(d16), dx = xq->d[i];
            y[r] += kind == 1 ? dw * dx * (float)(sq - 16 * sx) : dx * (dw * (float)sq + _cvtsh_ss(m16) * (float)sx);
        }
    }
}

T512 void mm_q_rows_q4_1_avx512(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                                const mm_xq8 *xq, float *y) {
    (void)x;
    rows32(W, rb, r0, r1, cols, xq, y, 0);
}
T512 void mm_q_rows_q5_0_avx512(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                                const mm_xq8 *xq, float *y) {
    (void)x;
    rows32(W, rb, r0, r1, cols, xq, y, 1);
}
T512 void mm_q_rows_q5_1_avx512(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                                const mm_xq8 *xq, float *y) {
    (void)x;
    rows32(W, rb, r0, r1, cols, xq, y, 2);
}

/* ---------------------------------------------------------------- Q4_K, Q5_K */


/* Q4_K rows [r0, r1) for V <= MULTI_VMAX vectors (V = 1: the table's row kernel; mm_q_multi_q4_k_avx512: the batched
 * decode), in groups of 16 sub-blocks of 32 (2 super-blocks; x in mm_xq8.qt's transposed groups, one 32-bit lane
 * per sub-block) and one group of 8 (a last odd super-block, 256-bit registers). Sub-block 2c + h of a super-block is
 * nibble h of its 32-byte chunk c: the chunks' dwords are transposed (4 x 4 per 128-bit lane, chunk c of super-block
 * s in lane 4 (2s + k / 4) + c of register k % 4), then each lane is read twice (vpermd) for its two sub-blocks and
 * shifted by 0 / 4. Per group and vector: 8 vpdpbusd (exact integer sums of each sub-block), one conversion, the
 * factor d sc[j] d_x (d sc[j] exact in f32: 11 x 6 bits) and the mins' dmin m[j] ds_x in the same accumulator. The
 * group of 8 packs registers k and k + 4 in one 512-bit register (qt's packed group of 8, mm_qt_dots8) and keeps the two
 * halves of each sub-block in lanes p and 8 + p (the factor duplicated, the mins on the low half only). */
T512 static inline __attribute__((always_inline)) void
k4t_rows(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const mm_xq8 *const *xq, float *const *y,
         const int q5, const int V) {
    const int64_t nb = cols / MM_QK;
    const size_t bsz = q5 ? sizeof(mm_block_q5_k) : sizeof(mm_block_q4_k);
    const int qs_off = q5 ? 48 : 16;   /* Q5_K: d, dmin, scales[12], qh[32], qs[128]; Q4_K: no qh */
    /* Q5_K's 5th bits: lane p of register k needs bit p % 8 of each byte of qh dword k of its super-block (lanes 0..7:
     * the first, 8..15: the second). Q5BITS: the dword broadcast within 128-bit lanes from q (qh arranged so that lane
     * L holds the right 4 dwords), rotated left by (4 - p % 8) mod 32 (bit j of each byte -> bit 4 of the same byte),
     * bit 4 or-ed into the code (vpternlogd: wq | (h & 16)). Against a dword permute, a byte bit-test and a masked
     * add per register: the row kernel 1.18x from cache, 8 vectors 1.1x. */
    const __m512i b16 = _mm512_set1_epi8(16);
    const __m512i rot = _mm512_set_epi32(29, 30, 31, 0, 1, 2, 3, 4, 29, 30, 31, 0, 1, 2, 3, 4);
#define Q5BITS(q, k)                                                                                                 \
    (wq[k] = _mm512_ternarylogic_epi32(wq[k], _mm512_rolv_epi32(_mm512_shuffle_epi32(q, (_MM_PERM_ENUM)((k % 4) * 0x55)), rot), \
                                       b16, 0xf8))
    const __m512i nib = _mm512_set1_epi8(0x0f);
    const __m512i sh = _mm512_set_epi32(4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0);
    const __m512i ilo = _mm512_set_epi32(11, 11, 10, 10, 9, 9, 8, 8, 3, 3, 2, 2, 1, 1, 0, 0);
    const __m512i ihi = _mm512_add_epi32(ilo, _mm512_set1_epi32(4));
    const __m512i i8 = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);   /* the group of 8: ilo | ihi */
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)W + (size_t)r * rb;
        __m512 acc[MULTI_VMAX];
        for (int j = 0; j < V; j++) acc[j] = _mm512_setzero_ps();
        int64_t i = 0;   /* blocks of 32 (sub-blocks) */
        for (; i + 16 <= nb; i += 16) {
            const uint8_t *s0 = row + (size_t)(i / 8) * bsz, *s1 = s0 + bsz;
            MM_PREFETCH(s0, 0); MM_PREFETCH(s0, 64); MM_PREFETCH(s0, 128); MM_PREFETCH(s0, 192); MM_PREFETCH(s0, 256);
            if (q5) MM_PREFETCH(s0, 320);
            __m512i z[4];
            for (int c = 0; c < 4; c++)
                z[c] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(s0 + qs_off + 32 * c))),
                                          _mm256_loadu_si256((const __m256i *)(s1 + qs_off + 32 * c)), 1);
            __m512i T[4];
            mm_t4x4_epi32(z, T);   /* simd_avx512.h */
            __m512i wq[8];
            for (int k = 0; k < 4; k++) {
                wq[k] = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi32(ilo, T[k]), sh), nib);
                wq[k + 4] = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi32(ihi, T[k]), sh), nib);
            }
            if (q5) {   /* qa / qb: dwords 0..3 / 4..7 of qh of the first super-block in 128-bit lanes 0, 1, of the second in 2, 3 */
                const __m512i qh = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(s0 + 16))),
                                                      _mm256_loadu_si256((const __m256i *)(s1 + 16)), 1);
                const __m512i qa = _mm512_shuffle_i64x2(qh, qh, _MM_SHUFFLE(2, 2, 0, 0)), qb = _mm512_shuffle_i64x2(qh, qh, _MM_SHUFFLE(3, 3, 1, 1));
                Q5BITS(qa, 0); Q5BITS(qa, 1); Q5BITS(qa, 2); Q5BITS(qa, 3);
                Q5BITS(qb, 4); Q5BITS(qb, 5); Q5BITS(qb, 6); Q5BITS(qb, 7);
            }
            uint64_t sc0, m0, sc1, m1;
            mm_k_scales8(s0 + 4, &sc0, &m0);
            mm_k_scales8(s1 + 4, &sc1, &m1);
            uint16_t h[4];
            memcpy(&h[0], s0, 4);
            memcpy(&h[2], s1, 4);
            const __m512 dv = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(_cvtsh_ss(h[0])), _mm512_set1_ps(_cvtsh_ss(h[2])));
            const __m512 mv = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(_cvtsh_ss(h[1])), _mm512_set1_ps(_cvtsh_ss(h[3])));
            const __m512 dsc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_set_epi64x((long long)sc1, (long long)sc0))), dv);
            const __m512 dmm = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_set_epi64x((long long)m1, (long long)m0))), mv);
            __m512i p[MULTI_VMAX];
            mm_qt_dots16(wq, xq, V, i * MM_QK, p); /* simd_avx512.h */
            for (int j = 0; j < V; j++) {
                acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p[j]), _mm512_mul_ps(dsc, _mm512_loadu_ps(xq[j]->d + i)), acc[j]);
                acc[j] = _mm512_fnmadd_ps(dmm, _mm512_loadu_ps(xq[j]->ds + i), acc[j]);
            }
        }
        if (i < nb) {   /* one super-block left: a group of 8 sub-blocks */
            const uint8_t *s0 = row + (size_t)(i / 8) * bsz;
            __m256i z[4];
            for (int c = 0; c < 4; c++) z[c] = _mm256_loadu_si256((const __m256i *)(s0 + qs_off + 32 * c));
            __m256i T[4];
            mm_t4x4_epi32_256(z, T);
            __m512i wq[4];   /* [register k | register k + 4], qt's packed group of 8 */
            for (int k = 0; k < 4; k++)
                wq[k] = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi32(i8, _mm512_castsi256_si512(T[k])), sh), nib);
            if (q5) {   /* lanes 0..7: qh dword k (codes 4k..), lanes 8..15: dword k + 4 (codes 16 + 4k..) */
                const __m512i qh = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(s0 + 16)));
                const __m512i qc = _mm512_shuffle_i64x2(qh, qh, _MM_SHUFFLE(1, 1, 0, 0));
                Q5BITS(qc, 0); Q5BITS(qc, 1); Q5BITS(qc, 2); Q5BITS(qc, 3);
            }
            uint64_t sc0, m0;
            mm_k_scales8(s0 + 4, &sc0, &m0);
            uint16_t h[2];
            memcpy(h, s0, 4);
            const __m256 dsc = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc0))), _mm256_set1_ps(_cvtsh_ss(h[0])));
            const __m256 dmm = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m0))), _mm256_set1_ps(_cvtsh_ss(h[1])));
            const __m512 dsc2 = _mm512_insertf32x8(_mm512_castps256_ps512(dsc), dsc, 1), dmmz = _mm512_zextps256_ps512(dmm);
            for (int j = 0; j < V; j++) {   /* lane p: sub-block p's codes 0..15, lane 8 + p: 16..31 (the mins once) */
                const __m512i p = mm_qt_dots8(wq, xq[j]->qt + i * MM_QK, _mm512_setzero_si512(), 0, V);   /* simd_avx512.h */
                const __m512 dx = _mm512_broadcast_f32x8(_mm256_loadu_ps(xq[j]->d + i));
                acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dsc2, dx), acc[j]);
                acc[j] = _mm512_fnmadd_ps(dmmz, _mm512_zextps256_ps512(_mm256_loadu_ps(xq[j]->ds + i)), acc[j]);
            }
        }
        float o[MULTI_VMAX];   /* the V horizontal sums at once (simd_avx512.h: the bits of _mm512_reduce_add_ps) */
        mm_hsum512x(acc, V, o);
        for (int j = 0; j < V; j++) y[j][r] = o[j];
    }
}

#undef Q5BITS

T512 void mm_q_rows_q4_k_avx512(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                                const mm_xq8 *xq, float *y) {
    (void)x;
    k4t_rows(W, rb, r0, r1, cols, &xq, &y, 0, 1);
}
T512 void mm_q_rows_q5_k_avx512(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                                const mm_xq8 *xq, float *y) {
    (void)x;
    k4t_rows(W, rb, r0, r1, cols, &xq, &y, 1, 1);
}

/* ---------------------------------------------------------------- Q6_K */
/* The signed codes q - 32 of half h of super-block b in element order: out[g] = elements 128 h + 64 g + 0..63. 64 bytes
 * of ql hold the low bits of 2 x 64 elements (low nibbles: g = 0, high: g = 1); the high bits are (qh >> 2k) & 3 with
 * k = 2g (low 256 bits), 2g + 1 (high 256 bits), placed at bits 4, 5. */
T512 static inline __attribute__((always_inline)) void q6_half(const mm_block_q6_k *b, int h, __m512i out[2]) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30), c32 = _mm512_set1_epi8(32);
    const __m512i shl01 = _mm512_set_epi64(0x0002000200020002LL, 0x0002000200020002LL, 0x0002000200020002LL,
                                           0x0002000200020002LL, 0x0004000400040004LL, 0x0004000400040004LL,
                                           0x0004000400040004LL, 0x0004000400040004LL);   /* k 0: << 4, k 1: << 2 */
    const __m512i shr23 = _mm512_set_epi64(0x0002000200020002LL, 0x0002000200020002LL, 0x0002000200020002LL,
                                           0x0002000200020002LL, 0, 0, 0, 0);              /* k 2: >> 0, k 3: >> 2 */
    const __m512i L = _mm512_loadu_si512(b->ql + 64 * h);
    const __m512i QH = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * h)));
    out[0] = _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_sllv_epi16(QH, shl01), m30)), c32);
    out[1] = _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                                             _mm512_and_si512(_mm512_srlv_epi16(QH, shr23), m30)), c32);
}

/* Q6_K rows [r0, r1) for V <= MULTI_VMAX vectors (V = 1: the table's row kernel; mm_q_multi_q6_k_avx512: the batched
 * decode), as Q4_K (k4t_rows) in x's transposed groups (mm_xq8.qtu: x + 128, one 32-bit lane per block of 32):
 *   - a group of 16 blocks (2 super-blocks): the codes q - 32 unpacked in element order (N[m], m = 4s + 2h + g: blocks
 *     2m, 2m + 1, a 16-code quarter per 128-bit lane), the quarters moved so that G[q] lane L = block 4L + q (a 4 x 4
 *     transpose of 128-bit lanes over the even and the odd N, for the first and the second 16 codes of the blocks), then
 *     4 x 4 dwords per 128-bit lane: wq[k] lane p = codes 4k..4k+3 of block p (k < 4: sub-block 2p of its super-block,
 *     the first 16 codes; k >= 4: sub-block 2p + 1). Per vector two exact vpdpbusd chains of 4 from -128 x each lane's
 *     codes (once per group for all vectors): e = sum (q - 32) x over the even sub-blocks, o over the odd ones; then
 *     acc += (e d sc_even + o d sc_odd) d_x (d sc exact in f32: 11 x 8 bits): 2 conversions, 3 float operations per
 *     512 weights instead of 8 x 3;
 *   - the group of 8 of a last odd super-block: qt's packed layout (registers k and k + 4 in one 512-bit register,
 *     mm_qt_dots8), lanes p (even sub-block 2p) and 8 + p (odd, 2p + 1) with their own factors d sc d_x.
 * The unpacking and transposes are done once per group for all V vectors; each vector's arithmetic is that of V = 1,
 * so batched results are bit-identical to the row kernel's (tests/core/test_core_multi.c). */
T512 static inline __attribute__((always_inline)) void
q6k_rows(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const mm_xq8 *const *xq, float *const *y,
         const int V) {
    const int64_t nb = cols / MM_QK;
    const __m512i i0 = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0), i1 = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
    const __m512i ieo = _mm512_set_epi32(15, 13, 11, 9, 7, 5, 3, 1, 14, 12, 10, 8, 6, 4, 2, 0);
    for (int64_t r = r0; r < r1; r++) {
        const mm_block_q6_k *row = (const mm_block_q6_k *)((const uint8_t *)W + (size_t)r * rb);
        __m512 acc[MULTI_VMAX];
        for (int j = 0; j < V; j++) acc[j] = _mm512_setzero_ps();
        int64_t i = 0;   /* blocks of 32 */
        for (; i + 16 <= nb; i += 16) {
            const mm_block_q6_k *b = row + i / 8;
            for (int o = 0; o < 420; o += 64) MM_PREFETCH(b, o);
            __m512i N[8], G[8], wq[8];
            for (int s = 0; s < 2; s++)
                for (int h = 0; h < 2; h++) q6_half(b + s, h, N + 4 * s + 2 * h);
            for (int par = 0; par < 2; par++) {   /* even N: blocks 4L, 4L + 1; odd N: 4L + 2, 4L + 3 */
                const __m512i A0 = _mm512_shuffle_i32x4(N[par], N[2 + par], _MM_SHUFFLE(2, 0, 2, 0));
                const __m512i A1 = _mm512_shuffle_i32x4(N[par], N[2 + par], _MM_SHUFFLE(3, 1, 3, 1));
                const __m512i B0 = _mm512_shuffle_i32x4(N[4 + par], N[6 + par], _MM_SHUFFLE(2, 0, 2, 0));
                const __m512i B1 = _mm512_shuffle_i32x4(N[4 + par], N[6 + par], _MM_SHUFFLE(3, 1, 3, 1));
                G[2 * par] = _mm512_shuffle_i32x4(A0, B0, _MM_SHUFFLE(2, 0, 2, 0));       /* G[2 par]: codes 0..15 */
                G[2 * par + 1] = _mm512_shuffle_i32x4(A0, B0, _MM_SHUFFLE(3, 1, 3, 1));   /* G[2 par + 1] */
                G[4 + 2 * par] = _mm512_shuffle_i32x4(A1, B1, _MM_SHUFFLE(2, 0, 2, 0));   /* codes 16..31 */
                G[5 + 2 * par] = _mm512_shuffle_i32x4(A1, B1, _MM_SHUFFLE(3, 1, 3, 1));
            }
            mm_t4x4_epi32(G, wq);
            mm_t4x4_epi32(G + 4, wq + 4);
            const __m512i ne = mm_nsum128(wq, 4), no = mm_nsum128(wq + 4, 4);
            /* lane p: d sc of sub-blocks 2p (even) and 2p + 1 (odd) of its super-block */
            const __m512i sw = _mm512_cvtepi8_epi16(_mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b[0].scales)), _mm_loadu_si128((const __m128i *)b[1].scales), 1));
            const __m512 dv = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(_cvtsh_ss(b[0].d)), _mm512_set1_ps(_cvtsh_ss(b[1].d)));
            const __m512 dse = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(sw, 16), 16)), dv);
            const __m512 dso = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srai_epi32(sw, 16)), dv);
            for (int j = 0; j < V; j++) {
                const uint8_t *xu = xq[j]->qtu + i * MM_QK;
                __m512i e = _mm512_dpbusd_epi32(ne, _mm512_loadu_si512(xu), wq[0]);
                __m512i o = _mm512_dpbusd_epi32(no, _mm512_loadu_si512(xu + 256), wq[4]);
                for (int k = 1; k < 4; k++) {
                    e = _mm512_dpbusd_epi32(e, _mm512_loadu_si512(xu + 64 * k), wq[k]);
                    o = _mm512_dpbusd_epi32(o, _mm512_loadu_si512(xu + 256 + 64 * k), wq[k + 4]);
                }
                const __m512 t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(o), dso, _mm512_mul_ps(_mm512_cvtepi32_ps(e), dse));
                acc[j] = _mm512_fmadd_ps(t, _mm512_loadu_ps(xq[j]->d + i), acc[j]);
            }
        }
        if (i < nb) {   /* one super-block left: a group of 8 blocks in qt's packed layout */
            const mm_block_q6_k *b = row + i / 8;
            __m512i N[4], G[4], wq[4];
            for (int h = 0; h < 2; h++) q6_half(b, h, N + 2 * h);
            /* G[q] = [block q, block q + 4 (codes 0..15), block q, block q + 4 (codes 16..31)] */
            G[0] = _mm512_permutex2var_epi64(N[0], i0, N[2]), G[1] = _mm512_permutex2var_epi64(N[0], i1, N[2]);
            G[2] = _mm512_permutex2var_epi64(N[1], i0, N[3]), G[3] = _mm512_permutex2var_epi64(N[1], i1, N[3]);
            mm_t4x4_epi32(G, wq);   /* wq[k] = [register k | register k + 4] */
            const __m512i nw = mm_nsum128(wq, 4);
            /* lanes 0..7: d sc of the even sub-blocks 0, 2, .., 14; lanes 8..15: the odd ones */
            const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_permutexvar_epi32(ieo, _mm512_cvtepi8_epi32(
                                               _mm_loadu_si128((const __m128i *)b->scales)))),
                                           _mm512_set1_ps(_cvtsh_ss(b->d)));
            for (int j = 0; j < V; j++) {
                const __m512i p = mm_qt_dots8(wq, xq[j]->qtu + i * MM_QK, nw, 1, V);   /* simd_avx512.h */
                const __m512 dx = _mm512_broadcast_f32x8(_mm256_loadu_ps(xq[j]->d + i));
                acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(f, dx), acc[j]);
            }
        }
        float o[MULTI_VMAX];   /* the V horizontal sums at once (simd_avx512.h: the bits of _mm512_reduce_add_ps) */
        mm_hsum512x(acc, V, o);
        for (int j = 0; j < V; j++) y[j][r] = o[j];
    }
}

T512 void mm_q_rows_q6_k_avx512(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,
                                const mm_xq8 *xq, float *y) {
    (void)x;
    q6k_rows(W, rb, r0, r1, cols, &xq, &y, 1);
}

/* ---------------------------------------------------------------- batched decode (mm_multi_fn, n <= MULTI_VMAX) */
#define K4(V) k4t_rows(W, rb, r0, r1, cols, xq, y, 0, V)
#define K5T(V) k4t_rows(W, rb, r0, r1, cols, xq, y, 1, V)
#define K6(V) q6k_rows(W, rb, r0, r1, cols, xq, y, V)
T512 void mm_q_multi_q4_k_avx512(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, int n,
                                 const float *const *x, const mm_xq8 *const *xq, float *const *y) {
    (void)x;
    MM_MULTI8_SWITCH(n, K4)   /* n <= MULTI_VMAX (mm_multi_kernel_vmax) */
}
T512 void mm_q_multi_q5_k_avx512(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, int n,
                                 const float *const *x, const mm_xq8 *const *xq, float *const *y) {
    (void)x;
    MM_MULTI8_SWITCH(n, K5T)   /* n <= MULTI_VMAX (mm_multi_kernel_vmax) */
}
T512 void mm_q_multi_q6_k_avx512(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, int n,
                                 const float *const *x, const mm_xq8 *const *xq, float *const *y) {
    (void)x;
    MM_MULTI8_SWITCH(n, K6)   /* n <= MULTI_VMAX (mm_multi_kernel_vmax) */
}
#endif
