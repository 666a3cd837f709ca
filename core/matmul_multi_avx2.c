/* matmul_multi_avx2.c - the AVX2 level's matvec kernels for the quantized types, each written once for V
 * vectors: V = 1 is the row kernel of the avx2 table (mm_matvec), V = 1..MULTI_V the register-blocked kernel of
 * mm_matvec_multi_rows (one matrix times several vectors: the decode step of several sequences). F32, F16 and
 * BF16 are in matvec_fp_avx2.c (R rows x V vectors tiles, any number of vectors in one pass).
 *
 * Each weight row is loaded, unpacked (nibbles, high bits, fp16 scales) and converted once and used for all
 * V vectors; per vector only its own products remain (x loads, the integer dot products, its scales, its
 * accumulators). Since the V = 1 instance IS the row kernel, every vector's arithmetic is that of the row
 * kernel - the same accumulators, the same order of the same operations, the same horizontal sum - and the
 * results are bit-identical to mm_matvec by construction (tests/core/test_core_multi.c, memcmp, at avx2).
 * Register budget (16 ymm on AVX2-only machines): about 2 accumulators per vector; the K-quants fold a
 * super-block's sub-block sums into one register of 8 int32 lanes (one conversion and one fmadd per super-block
 * and vector).
 * The quantized kernels are compute bound at this level (one core reads ~30 GB/s; the 4-bit kernels run at about
 * that speed from cache): they are written for the fewest vector instructions per block (scale gathers on the
 * scalar ports, one conversion per 2..8 blocks; bench/README.md "AVX2 decode roofline").
 *
 * Types (table order): Q8_0, Q4_0 (x quantized to 8 bits, mm_xq8), Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K (the
 * integer sums of quants_avx2.c's comment); mm_multi_kernel_avx2 hands F32, F16, BF16 to matvec_fp_avx2.c.
 * This file is compiled with -ffp-contract=off (scalar parts: one rounding per operation). */
#include <string.h>

#include "core_internal.h"
#include "quants_internal.h"
#include "simd_avx2.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T256 __attribute__((target("avx2,fma,f16c")))
#define INL  __attribute__((always_inline)) inline

#define hsum mm_hsum256 /* simd_avx2.h */

/* the fp16 scales of blocks b[0..n-1] (n = 2 or 4; b: mm_block_q4_0 or mm_block_q8_0, d first) as f32 lanes 0..n-1 */
T256 static INL __m128 scales_f32(const void *b, size_t bsz, const int n) {
    const uint8_t *p = b;
    uint64_t u = 0;
    for (int k = 0; k < n; k++) {
        uint16_t h;
        memcpy(&h, p + k * bsz, 2);
        u |= (uint64_t)h << (16 * k);
    }
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)u));
}

/* ---------------------------------------------------------------- Q8_0
 * Four blocks per step: |w| times x with w's sign (vpmaddubsw + vpmaddwd), the int32 sums of two blocks folded
 * into one register by vphaddd (lanes [a a b b | a a b b]), one conversion and one fmadd per pair with the
 * blocks' factors dw dx: the four fp16 weight scales gathered by scalar loads and shifts (scales_f32), converted
 * once, multiplied once by x's four scales and spread to the pairs' lanes by vpermps; remaining blocks one at a
 * time into the first accumulator. Row kernel from cache (one thread, 256 KiB
 * of rows of 4096 columns, best of 300 and of 3 runs; x's quantization included): 27.8 GB/s block at a time,
 * 39.6 this way with quantize_x_avx2's vector stores (bench/README.md). */
T256 static INL __m256i q8_sum(__m256i w, __m256i aw, const int8_t *xqs) {
    const __m256i xv = _mm256_loadu_si256((const __m256i *)xqs);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv, w)), _mm256_set1_epi16(1));
}

T256 static INL void q8_row(const mm_block_q8_0 *b, int64_t nb, const mm_xq8 *const *xq, float *const *y, int64_t r,
                            const int V) {
    const __m256i x01 = _mm256_setr_epi32(0, 0, 1, 1, 0, 0, 1, 1), x23 = _mm256_setr_epi32(2, 2, 3, 3, 2, 2, 3, 3);
    __m256 a0[MULTI_V], a1[MULTI_V];
    for (int j = 0; j < V; j++) a0[j] = _mm256_setzero_ps(), a1[j] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        MM_PREFETCH(b + i, 0); /* 136 bytes per step */
        MM_PREFETCH(b + i, 64);
        MM_PREFETCH(b + i, 128);
        const __m128 dw = scales_f32(b + i, sizeof *b, 4);
        __m256 dd[MULTI_V];
        for (int j = 0; j < V; j++) dd[j] = _mm256_castps128_ps256(_mm_mul_ps(dw, _mm_loadu_ps(xq[j]->d + i)));
        for (int h = 0; h < 2; h++) { /* blocks i + 2h, i + 2h + 1 into a0 (h = 0) or a1 */
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)b[i + 2 * h].qs);
            const __m256i w1 = _mm256_loadu_si256((const __m256i *)b[i + 2 * h + 1].qs);
            const __m256i aw0 = _mm256_abs_epi8(w0), aw1 = _mm256_abs_epi8(w1);
            for (int j = 0; j < V; j++) {
                const __m256 s = _mm256_permutevar8x32_ps(dd[j], h ? x23 : x01);
                const int8_t *xs = xq[j]->qs + (i + 2 * h) * MM_QK;
                const __m256i hs = _mm256_hadd_epi32(q8_sum(w0, aw0, xs), q8_sum(w1, aw1, xs + MM_QK));
                if (h) a1[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hs), s, a1[j]);
                else a0[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hs), s, a0[j]);
            }
        }
    }
    for (; i < nb; i++) {
        const __m256i w = _mm256_loadu_si256((const __m256i *)b[i].qs), aw = _mm256_abs_epi8(w);
        const __m256 wd = _mm256_cvtph_ps(_mm_set1_epi16((short)b[i].d));
        for (int j = 0; j < V; j++) {
            const __m256 s = _mm256_mul_ps(wd, _mm256_broadcast_ss(xq[j]->d + i));
            a0[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q8_sum(w, aw, xq[j]->qs + i * MM_QK)), s, a0[j]);
        }
    }
    for (int j = 0; j < V; j++) y[j][r] = hsum(_mm256_add_ps(a0[j], a1[j]));
}

/* ---------------------------------------------------------------- Q4_0
 * y = sum_b dw_b dx_b P_b - 8 sum_b dw_b ds_b with P_b = sum q x (q the unsigned nibbles 0..15: Q4_0's -8 offset
 * taken out through x's block sums ds = dx sum(qx), mm_xq8). Four blocks (72 bytes) per step as two pairs: both
 * blocks' 16 nibble bytes of a pair in one register, low nibbles (elements 0..15 of each) against x's qs4 pair
 * layout [b0 0:16, b1 0:16], high nibbles against [b0 16:32, b1 16:32] (mm_xq8_layout); the two vpmaddubsw
 * results add in int16 (<= 4 * 15 * 127), one vpmaddwd gives 4 int32 lanes per block, one conversion and one
 * fmadd with the blocks' factors dw dx (4 lanes each). The four fp16 weight scales (scales_f32: scalar loads and
 * shifts, off the vector ports) are converted once (4 lanes: dw), multiplied by x's 4 scales (dw dx, spread to
 * the pairs' lanes by vpermps) and by x's 4 block sums into the offset accumulator (4 lanes: dw ds).
 * A remaining pair the same way with 2 scales, a last odd block in x's plain layout with scalar factors. Fewer
 * instructions per block than a per-pair scale gather by scalar shifts (bench/README.md: "AVX2 decode roofline"). */
/* one pair of blocks (i, i + 1) of the nibbles for V vectors into acc[j] with factors f[j] (4 lanes per block) */
T256 static INL void q4_pair(const mm_block_q4_0 *b, int64_t i, const __m256 *f, const mm_xq8 *const *xq, __m256 *acc,
                             const int V) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b[i].qs)),
                                              _mm_loadu_si128((const __m128i *)b[i + 1].qs), 1);
    const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    for (int j = 0; j < V; j++) {
        const __m256i xlo = _mm256_loadu_si256((const __m256i *)(xq[j]->qs4 + i * MM_QK));
        const __m256i xhi = _mm256_loadu_si256((const __m256i *)(xq[j]->qs4 + i * MM_QK + 32));
        const __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xlo), _mm256_maddubs_epi16(hi, xhi));
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1))), f[j], acc[j]);
    }
}

T256 static INL void q4_row(const mm_block_q4_0 *b, int64_t nb, const mm_xq8 *const *xq, float *const *y, int64_t r,
                            const int V) {
    const __m256i l01 = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1), l23 = _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3);
    __m256 a0[MULTI_V], a1[MULTI_V], f[MULTI_V];
    __m128 off[MULTI_V];
    for (int j = 0; j < V; j++) a0[j] = a1[j] = _mm256_setzero_ps(), off[j] = _mm_setzero_ps();
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        MM_PREFETCH(b + i, 0); /* 72 bytes per step */
        MM_PREFETCH(b + i, 64);
        const __m128 dw = scales_f32(b + i, sizeof *b, 4);
        for (int j = 0; j < V; j++) {
            off[j] = _mm_fmadd_ps(dw, _mm_loadu_ps(xq[j]->ds + i), off[j]);
            f[j] = _mm256_castps128_ps256(_mm_mul_ps(dw, _mm_loadu_ps(xq[j]->d + i)));
        }
        __m256 g[MULTI_V];
        for (int j = 0; j < V; j++) g[j] = _mm256_permutevar8x32_ps(f[j], l01);
        q4_pair(b, i, g, xq, a0, V);
        for (int j = 0; j < V; j++) g[j] = _mm256_permutevar8x32_ps(f[j], l23);
        q4_pair(b, i + 2, g, xq, a1, V);
    }
    if (i + 2 <= nb) { /* a remaining pair into a0 */
        const __m128 dw = scales_f32(b + i, sizeof *b, 2);
        for (int j = 0; j < V; j++) {
            const __m128 dx = _mm_castpd_ps(_mm_load_sd((const double *)(xq[j]->d + i)));
            const __m128 sx = _mm_castpd_ps(_mm_load_sd((const double *)(xq[j]->ds + i)));
            off[j] = _mm_fmadd_ps(dw, sx, off[j]);
            f[j] = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_mul_ps(dw, dx)), l01);
        }
        q4_pair(b, i, f, xq, a0, V);
        i += 2;
    }
    if (i < nb) { /* a last odd block: plain layout, into a1 */
        const __m128i v = _mm_loadu_si128((const __m128i *)b[i].qs), m = _mm_set1_epi8(0x0f);
        const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, m)),
                                                  _mm_and_si128(_mm_srli_epi16(v, 4), m), 1);
        const __m128 dw = _mm_set_ss(_cvtsh_ss(b[i].d));
        for (int j = 0; j < V; j++) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[j]->qs + i * MM_QK));
            const __m256i p32 = _mm256_madd_epi16(_mm256_maddubs_epi16(q, xv), _mm256_set1_epi16(1));
            off[j] = _mm_fmadd_ps(dw, _mm_set_ss(xq[j]->ds[i]), off[j]);
            const __m256 fb = _mm256_set1_ps(_mm_cvtss_f32(_mm_mul_ss(dw, _mm_set_ss(xq[j]->d[i]))));
            a1[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), fb, a1[j]);
        }
    }
    for (int j = 0; j < V; j++) {
        __m128 o = _mm_add_ps(off[j], _mm_movehl_ps(off[j], off[j]));
        o = _mm_add_ss(o, _mm_movehdup_ps(o));
        y[j][r] = hsum(_mm256_add_ps(a0[j], a1[j])) - 8.0f * _mm_cvtss_f32(o);
    }
}

/* ---------------------------------------------------------------- Q4_1, Q5_0, Q5_1 (blocks of 32)
 * Per block the codes (0..15 or 0..31) against x's block (vpmaddubsw + vpmaddwd: 8 int32 lanes as f32), even
 * blocks into a0, odd into a1. Q4_1 / Q5_1: times d_w d_x, plus m_w ds_x summed apart in scalar; Q5_0: per lane
 * (p d_x - 2 ds_x) d_w (8 lanes add up to d_w (d_x sum(q qx) - 16 ds_x)). */
T256 static INL void q32_row(const uint8_t *row, int64_t nb, const mm_xq8 *const *xq, float *const *y, int64_t r,
                             const int V, const mm_type t) {
    __m256 a0[MULTI_V], a1[MULTI_V];
    float sm[MULTI_V];
    for (int j = 0; j < V; j++) a0[j] = a1[j] = _mm256_setzero_ps(), sm[j] = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        __m256i q;
        float dw, mw = 0.0f;
        if (t == MM_TYPE_Q4_1) {
            const mm_block_q4_1 *b = (const mm_block_q4_1 *)row + i;
            q = mm_nibbles32(b->qs), dw = _cvtsh_ss(b->d), mw = _cvtsh_ss(b->m);
        } else if (t == MM_TYPE_Q5_1) {
            const mm_block_q5_1 *b = (const mm_block_q5_1 *)row + i;
            q = _mm256_or_si256(mm_nibbles32(b->qs), mm_q5_bits(b->qh)), dw = _cvtsh_ss(b->d), mw = _cvtsh_ss(b->m);
        } else {
            const mm_block_q5_0 *b = (const mm_block_q5_0 *)row + i;
            q = _mm256_or_si256(mm_nibbles32(b->qs), mm_q5_bits(b->qh)), dw = _cvtsh_ss(b->d);
        }
        for (int j = 0; j < V; j++) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[j]->qs + i * MM_QK));
            const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(q, xv), _mm256_set1_epi16(1)));
            __m256 f = _mm256_set1_ps(dw * xq[j]->d[i]), s = p;
            if (t == MM_TYPE_Q5_0) {
                s = _mm256_fmsub_ps(p, _mm256_set1_ps(xq[j]->d[i]), _mm256_set1_ps(2.0f * xq[j]->ds[i]));
                f = _mm256_set1_ps(dw);
            } else
                sm[j] += mw * xq[j]->ds[i];
            if (i & 1) a1[j] = _mm256_fmadd_ps(s, f, a1[j]);
            else a0[j] = _mm256_fmadd_ps(s, f, a0[j]);
        }
    }
    for (int j = 0; j < V; j++) {
        const float s = hsum(_mm256_add_ps(a0[j], a1[j]));
        y[j][r] = t == MM_TYPE_Q5_0 ? s : s + sm[j];
    }
}

/* the K-quants' per-super-block fold: u = [a | b], v = [c | d] (128-bit lanes of 4 int32 sums each) -> [a + b | c + d] */
T256 static INL __m256i k_fold(__m256i u, __m256i v) {
    return _mm256_add_epi32(_mm256_permute2x128_si256(u, v, 0x20), _mm256_permute2x128_si256(u, v, 0x31));
}

/* ---------------------------------------------------------------- Q4_K / Q5_K
 * Per super-block i: the integer sums P_j = sum(q qx) of its 8 sub-blocks of 32 gathered into one register of 8
 * int32 lanes (lane j: sub-block j), converted once and multiplied by dd[j] = d sc[j] d_x[8i + j] (8 lanes, one
 * fmadd per super-block); mins dmin m[j] ds_x[8i + j] (8 lanes, accumulated apart and subtracted at the end).
 * Per 64 elements c (sub-blocks 2c, 2c + 1: low and high nibbles of 32 bytes) the two vpmaddubsw results (int16
 * pair sums, <= 2 * 31 * 127) are folded by one vphaddw (<= 4 * 31 * 127) into [2c x4, 2c+1 x4] per 128-bit lane
 * and widened by one vpmaddwd (lanes [2c, 2c, 2c+1, 2c+1] per 128-bit lane); two vphaddd fold c = 0, 1 into
 * [0 1 2 3] and c = 2, 3 into [4 5 6 7] per 128-bit lane, and the two lanes are added across (two vperm2i128).
 * Fewer instructions than a conversion and an fmadd per sub-block (bench/README.md: "AVX2 decode roofline"). */
T256 static INL void k45_row(const uint8_t *row, int64_t nsb, const mm_xq8 *const *xq, float *const *y, int64_t r,
                            const int V, const int q5) {
    const size_t bsz = q5 ? sizeof(mm_block_q5_k) : sizeof(mm_block_q4_k);
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1), b4 = _mm256_set1_epi8(0x10);
    __m256 acc[MULTI_V], accm[MULTI_V];
    for (int j = 0; j < V; j++) acc[j] = accm[j] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nsb; i++) {
        const uint8_t *blk = row + (size_t)i * bsz;
        const uint8_t *qs = q5 ? blk + 48 : blk + 16;
        MM_PREFETCH(blk, 0); MM_PREFETCH(blk, 64); MM_PREFETCH(blk, 128); /* 144 / 176 bytes */
        __m256i hb = q5 ? _mm256_loadu_si256((const __m256i *)(blk + 16)) : _mm256_setzero_si256();
        __m256i h[MULTI_V][2], a[MULTI_V];
        for (int c = 0; c < 4; c++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            if (q5) {
                lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hb, 4), b4));
                hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hb, 3), b4));
                hb = _mm256_srli_epi16(hb, 2);
            }
            for (int j = 0; j < V; j++) {
                const int8_t *xs = xq[j]->qs + (size_t)i * MM_QK_K + 64 * c;
                const __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)xs));
                const __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(xs + 32)));
                const __m256i p = _mm256_madd_epi16(_mm256_hadd_epi16(plo, phi), ones);
                if (c & 1) h[j][c >> 1] = _mm256_hadd_epi32(a[j], p);
                else a[j] = p;
            }
        }
        const mm_k45_w f = mm_k45_wfactors(blk);
        for (int j = 0; j < V; j++) {
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(k_fold(h[j][0], h[j][1])), mm_k45_xfactors(&f, xq[j], i, &accm[j]),
                                     acc[j]);
        }
    }
    for (int j = 0; j < V; j++) y[j][r] = hsum(acc[j]) - hsum(accm[j]);
}

/* ---------------------------------------------------------------- Q6_K
 * Per half h of a super-block (128 elements): codes q (0..63) of the 4 groups of 32 from ql (64 bytes) and qh (32
 * bytes); per group k (x block 8i + 4h + k) the int16 pair sums of q qx (vpmaddubsw, <= 2 * 63 * 127), times the
 * int8 scales of its two sub-blocks of 16 with vpmaddwd (8 int32 lanes). The 8 groups' lanes of a super-block are
 * folded into one register (lane g: group g) by vphaddd (per half: [4h .. 4h+3] per 128-bit lane) and two
 * vperm2i128. The -32 offset once per super-block: 32 sum_s sc_s S_s with x's sums per 16 elements S (mm_xq8 s16),
 * one vpmaddwd of the 16 scales with the 16 sums (lane g: sub-blocks 2g, 2g + 1), shifted by 5 and subtracted in
 * int32 (was a second vpmaddubsw and a vpsubw per group: ~15 % fewer vector instructions). The difference is the
 * exact sum_g sc (q - 32) qx (|.| <= 32 * 32 * 127 * 128 < 2^24, exact as f32), converted once and multiplied by
 * d d_x[8i .. 8i+7] (one fmadd per super-block): the same values as before, bit for bit. */
T256 static INL void q6_row(const mm_block_q6_k *b, int64_t nsb, const mm_xq8 *const *xq, float *const *y, int64_t r,
                            const int V) {
    __m256 acc[MULTI_V];
    for (int j = 0; j < V; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nsb; i++) {
        MM_PREFETCH(b + i, 0); MM_PREFETCH(b + i, 64); MM_PREFETCH(b + i, 128); MM_PREFETCH(b + i, 192); /* 210 bytes */
        const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b[i].scales));
        __m256i hh[MULTI_V][2], t[MULTI_V], p[MULTI_V];
        for (int h = 0; h < 2; h++) {
            /* int16 scale words: sub-block 8h + 2k in the low 128-bit lane, 8h + 2k + 1 in the high one */
            const __m256i sh = h ? _mm256_permute2x128_si256(s16, s16, 0x11) : _mm256_permute2x128_si256(s16, s16, 0x00);
            __m256i q[4];
            mm_q6_codes(&b[i], h, q);
            for (int k = 0; k < 4; k++) {
                const __m256i pick = _mm256_setr_epi8(4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1,
                                                      4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1,
                                                      4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3,
                                                      4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3);
                const __m256i sk = _mm256_shuffle_epi8(sh, pick);
                const int64_t xb = 8 * i + 4 * h + k;
                for (int j = 0; j < V; j++) {
                    const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[j]->qs + xb * MM_QK));
                    const __m256i pk = _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], xv), sk);
                    if (k == 0 || k == 2) p[j] = pk;
                    else if (k == 1) t[j] = _mm256_hadd_epi32(p[j], pk);
                    else hh[j][h] = _mm256_hadd_epi32(t[j], _mm256_hadd_epi32(p[j], pk));
                }
            }
        }
        const __m256 dw = _mm256_set1_ps(_cvtsh_ss(b[i].d));
        for (int j = 0; j < V; j++) {
            const __m256i xs = _mm256_loadu_si256((const __m256i *)(xq[j]->s16 + 16 * i));
            const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(s16, xs), 5);
            const __m256i sum = _mm256_sub_epi32(k_fold(hh[j][0], hh[j][1]), off);
            const __m256 dd = _mm256_mul_ps(dw, _mm256_loadu_ps(xq[j]->d + 8 * i));
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), dd, acc[j]);
        }
    }
    for (int j = 0; j < V; j++) y[j][r] = hsum(acc[j]);
}

/* ---------------------------------------------------------------- the kernels: rows [r0, r1) for V vectors
 * ROW: the avx2 table's row kernel (mm_rows_fn, V = 1); MULTI: mm_multi_fn for n vectors, 4 per pass. */
_Static_assert(MULTI_V >= 4, "the register-blocked instances take up to 4 vectors");
#define KERNELS(ROW, MULTI, body)                                                                                  \
    MM_MULTI_DRIVER(T256, MULTI, body)                                                                             \
    T256 void ROW(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x, const mm_xq8 *xq, \
                  float *y) {                                                                                      \
        MULTI##_v(W, rb, r0, r1, cols, &x, &xq, &y, 1);                                                            \
    }

KERNELS(mm_rows_q8_0_avx2, multi_q8_0, q8_row((const mm_block_q8_0 *)row, cols / MM_QK, xq, y, r, V))
KERNELS(mm_rows_q4_0_avx2, multi_q4_0, q4_row((const mm_block_q4_0 *)row, cols / MM_QK, xq, y, r, V))
KERNELS(mm_q_rows_q4_1_avx2, multi_q4_1, q32_row(row, cols / MM_QK, xq, y, r, V, MM_TYPE_Q4_1))
KERNELS(mm_q_rows_q5_0_avx2, multi_q5_0, q32_row(row, cols / MM_QK, xq, y, r, V, MM_TYPE_Q5_0))
KERNELS(mm_q_rows_q5_1_avx2, multi_q5_1, q32_row(row, cols / MM_QK, xq, y, r, V, MM_TYPE_Q5_1))
KERNELS(mm_q_rows_q4_k_avx2, multi_q4_k, k45_row(row, cols / MM_QK_K, xq, y, r, V, 0))
KERNELS(mm_q_rows_q5_k_avx2, multi_q5_k, k45_row(row, cols / MM_QK_K, xq, y, r, V, 1))
KERNELS(mm_q_rows_q6_k_avx2, multi_q6_k, q6_row((const mm_block_q6_k *)row, cols / MM_QK_K, xq, y, r, V))

mm_multi_fn mm_multi_kernel_avx2(mm_type t) {
    switch (t) {
    case MM_TYPE_F32:
    case MM_TYPE_F16:
    case MM_TYPE_BF16: return mm_fp_multi_avx2(t); /* matvec_fp_avx2.c */
    case MM_TYPE_Q8_0: return multi_q8_0;
    case MM_TYPE_Q4_0: return multi_q4_0;
    case MM_TYPE_Q4_1: return multi_q4_1;
    case MM_TYPE_Q5_0: return multi_q5_0;
    case MM_TYPE_Q5_1: return multi_q5_1;
    case MM_TYPE_Q4_K: return multi_q4_k;
    case MM_TYPE_Q5_K: return multi_q5_k;
    case MM_TYPE_Q6_K: return multi_q6_k;
    default: return NULL;
    }
}
#else
mm_multi_fn mm_multi_kernel_avx2(mm_type t) {
    (void)t;
    return NULL;
}
#endif
