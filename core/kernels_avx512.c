/* kernels_avx512.c - AVX-512 (F/BW/VL/VNNI) + FMA + F16C matvec and dequantize kernels.
 *
 * Each function carries its own target attribute, so a portable build (-DMMGPT_NATIVE=OFF) still
 * contains them; matvec.c picks this table at run time only when the CPU reports the features.
 * F32/F16 (and BF16): the row kernels are in matvec_fp_avx512.c (R rows x V vectors tiles, two accumulators per
 * row, even and odd column chunks; the row kernel is the one-vector instance of the batched kernel).
 * Q8_0/Q4_0: x is first quantized to 8 bits per block of 32 like llama.cpp (mm_xq8: d = amax/127), then
 * integer dot products (VNNI). This adds an error of at most sum_i |w_i| * d_x(block of i) / 2 to each
 * output (x rounded to the nearest step); relative to |y| it is about 0.3-1% for random data, the same
 * order as the weight quantization itself. Prefill (mm_linear n > 1) does not quantize x.
 */
#include <string.h>

#include "core_internal.h"
#include "simd_avx512.h"

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

/* y[j][r + k] = the horizontal sum of a0[k][j] + a1[k][j] (R rows x V vectors of a tile), all at once: the bits of
 * _mm512_reduce_add_ps on each (mm_hsum512x, simd_avx512.h), so a tile's rows equal the row kernel's */
T512 static inline __attribute__((always_inline)) void tile_hsum(__m512 a0[4][MULTI_VMAX], __m512 a1[4][MULTI_VMAX],
                                                                   float *const *y, int64_t r, const int R, const int V) {
    __m512 a[4 * MULTI_VMAX];
    float o[4 * MULTI_VMAX];
    for (int k = 0; k < R; k++)
        for (int j = 0; j < V; j++) a[k * V + j] = _mm512_add_ps(a0[k][j], a1[k][j]);
    mm_hsum512x(a, R * V, o);
    for (int k = 0; k < R; k++)
        for (int j = 0; j < V; j++) y[j][r + k] = o[k * V + j];
}

/* ---------------------------------------------------------------- integer kernels (x quantized, VNNI)
 * x is quantized to 8 bits per block of 32 (mm_xq8, ggml Q8_0 rounding). vpdpbusd multiplies unsigned by signed
 * bytes, so Q8_0 takes x + 128 (mm_xq8.qu4, unsigned) against the signed weights, each chain starting from
 * -128 * (the sum of its lane's weights), computed once per step for all vectors (was |w| against x with w's sign:
 * two masked subtractions per vector per step; bench/README.md "Quantized batched kernels: fewer operations per vector"), and Q4_0 uses the nibbles q
 * (0..15) directly and subtracts 8 * sum(x) afterwards. Both take 4 blocks per step in x's quad layout (quantize_x_avx512, this level only; the
 * tail of nb % 4 blocks keeps mm_xq8's pair layout, see core_internal.h): for blocks i..i+3 (i % 4 == 0),
 * qs4[32i .. 32i+64) = the four blocks' elements 0..15 and qs4[32i+64 .. 32i+128) their elements 16..31;
 * d4[8i .. 8i+16) = d of block i + lane/4, s4 the same with 2 * ds (4 lanes per block add up to the 8 * sum(x)
 * of Q4_0's -8 offset). The weights of the 4 blocks are gathered the same way (Q8_0: two 256-bit loads per pair
 * of blocks, then qword permutes; Q4_0: the 64 nibble bytes in one register by 16-byte inserts, low and high
 * nibbles), two VNNI dot products go into the same 16 lanes (4 per
 * block, each the exact sum of 8 products), then one int->f32 conversion and one multiply-add with the 4
 * blocks' scales: half the float work of a pair-at-a-time loop (8 lanes per block), which was compute bound
 * here (Q4_0: 31 GB/s from cache, 0.70-0.78 of DRAM bandwidth on GPT-2 shapes). Integer sums are exact; only
 * the f32 rounding order differs from the generic level.
 *
 * Q4_0 and Q8_0 first take groups of 16 blocks with one 32-bit lane per block (q4_group16: the 16 blocks' codes gathered
 * and transposed 4 x 4 dwords per 128-bit lane once per step for all vectors; x in mm_xq8.qt, transposed the same way
 * once per quantization): per vector 8 vpdpbusd give each block's exact integer dot product in its own lane, then one
 * conversion, one fmsub (d_x, 8 ds_x) and one FMA with the 16 scales: 11 multiply-pipe operations per 512 weights
 * instead of 20 (from cache at 8 vectors, 128 x 768: 1.3-1.6x the quad kernel's vec-GB/s, bench/README.md). A group
 * of 8 blocks follows where nb % 16 >= 8 (GPT-2's 768 columns: 16 + 8), its registers k and k + 4 packed in one
 * 512-bit register (4 vpdpbusd per vector instead of 8 of 256 bits: mm_qt_dots8), the two halves of each block kept
 * in lanes p and 8 + p through the float stage (16 lanes, the scales duplicated; Q4_0's -8 ds_x on the low half only),
 * not folded to 256 bits per vector; the 4-block steps below take the rest. The vpdpbusd chains are split by V (4
 * chains for V <= 2, one per vector interleaved for more): integer sums are exact, so that does not change any bit.
 * Q8_0's groups (q8_group16, q8_group8: 32 signed codes per block, two such transposes; the 16 scales by four word
 * permutes, q8_d16) take x + 128 in mm_xq8.qtu (qt's layout) against the signed codes, every vector's chain starting
 * from -128 times each lane's codes (mm_nsum128, once per group): per vector and 512 weights 8 vpdpbusd, one conversion,
 * one multiply (d_w d_x) and one FMA, against 8 + 12 in quads. The transposes cost more than the quads' gathers
 * (the row kernel is ~1.2x slower from cache, still above one core's read bandwidth), the 8-vector step is 1.13x
 * faster from cache (bench/README.md, "Quantized batched kernels: fewer operations per vector").
 * Each kernel is written once (q8_tile, q4_tile) for R rows x V vectors: the table's row kernel is R = 1 or 4,
 * V = 1 (R = 4 shares x's loads, for long rows: MM_WIDE_COLS), the batched decode's kernel (mm_multi_*_avx512,
 * mm_matvec_multi_rows) R = 1, V = 1..MULTI_VMAX, where the weights' gather, sign split and scales are done once
 * per step for all V vectors. A row's arithmetic for one vector is the same for every R and V (the same
 * accumulators, the same order of the same operations): its result does not depend on how rows are grouped
 * (thread split) nor on how many vectors share the pass (tests/core/test_core_multi.c, memcmp). */

/* Rows of at least this many columns go 4 at a time (below, one at a time is faster: measured here with
 * 768..12288 columns, 4 rows at once lost 15-35% of the Q8_0 speed; at 49152 columns it gains 15% for
 * Q8_0 and 40% for Q4_0, whose x data per row no longer fits in L1). Depends on cols only: deterministic. */
#define MM_WIDE_COLS 16384

/* 16 bytes at byte offset off of each of 4 consecutive blocks of bs bytes (one 512-bit register) */
T512 static inline __attribute__((always_inline)) __m512i gather4(const uint8_t *bb, size_t bs, size_t off) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(bb + off)));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(bb + bs + off)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(bb + 2 * bs + off)), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(bb + 3 * bs + off)), 3);
}

/* Q8_0 codes of 16 blocks at bb (34 bytes apart) transposed as x's qt group: wq[k] lane p = codes 4k..4k+3 of block
 * p (signed; g[q]'s 128-bit lane L holds 16 codes of block 4L + q, a 4 x 4 dword transpose per 128-bit lane) */
T512 static inline __attribute__((always_inline)) void q8_group16(const uint8_t *bb, __m512i wq[8]) {
    for (int h = 0; h < 2; h++) {   /* codes 0..15 -> registers 0..3, 16..31 -> 4..7 */
        __m512i g[4];
        for (int q = 0; q < 4; q++) g[q] = gather4(bb + 34 * q, 4 * 34, 2 + 16 * h);
        mm_t4x4_epi32(g, wq + 4 * h);   /* simd_avx512.h */
    }
}
/* the same for 8 blocks, registers k and k + 4 packed in one 512-bit register (qt's packed group of 8) */
T512 static inline __attribute__((always_inline)) void q8_group8(const uint8_t *bb, __m512i wq[4]) {
    __m256i w[8];
    for (int h = 0; h < 2; h++) {
        __m256i g[4];
        for (int q = 0; q < 4; q++)
            g[q] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(bb + 34 * q + 2 + 16 * h))),
                                           _mm_loadu_si128((const __m128i *)(bb + 34 * (q + 4) + 2 + 16 * h)), 1);
        mm_t4x4_epi32_256(g, w + 4 * h);
    }
    for (int k = 0; k < 4; k++) wq[k] = _mm512_inserti64x4(_mm512_castsi256_si512(w[k]), w[k + 4], 1);
}
/* the fp16 scales of G = 16 or 8 blocks at bb (words 17p) as f32 lanes 0..G-1: per 4 blocks (136 bytes) one word
 * permute, blended */
T512 static inline __attribute__((always_inline)) __m512 q8_d16(const uint8_t *bb, const int G) {
    const __m512i idx = _mm512_set_epi16(51, 34, 17, 0, 51, 34, 17, 0, 51, 34, 17, 0, 51, 34, 17, 0,
                                         51, 34, 17, 0, 51, 34, 17, 0, 51, 34, 17, 0, 51, 34, 17, 0);
    __m512i r = _mm512_permutex2var_epi16(_mm512_loadu_si512(bb), idx, _mm512_loadu_si512(bb + 64));
    for (int m = 1; m < G / 4; m++)
        r = _mm512_mask_blend_epi16((__mmask32)(0xfu << (4 * m)), r,
                                    _mm512_permutex2var_epi16(_mm512_loadu_si512(bb + 136 * m), idx, _mm512_loadu_si512(bb + 136 * m + 64)));
    return _mm512_cvtph_ps(_mm512_castsi512_si256(r));
}

/* Q8_0 (34-byte blocks: fp16 d, 32 int8): per quad the weights' elements 0..15 (lo) and 16..31 (hi) of 4 blocks and
 * -128 times each lane's 8 weights once; per vector two vpdpbusd of x + 128 (qu4) from there: the exact integer
 * sums of w x; the scales d at words 0, 17, 34, 51 of the quad, 4 lanes each. Even quads go into the first accumulator, odd ones into the second (FMA latency); the
 * last nb % 4 blocks one at a time (256 bits, 8 lanes) into the second. */
T512 static inline __attribute__((always_inline)) void
q8_tile(const uint8_t *W, size_t rb, int64_t r, int64_t nb, const mm_xq8 *const *xq, float *const *y, const int R,
        const int V) {
    const mm_block_q8_0 *b[4];
    __m512 a0[4][MULTI_VMAX], a1[4][MULTI_VMAX];
    for (int k = 0; k < R; k++) {
        b[k] = (const mm_block_q8_0 *)(W + (size_t)(r + k) * rb);
        for (int j = 0; j < V; j++) a0[k][j] = _mm512_setzero_ps(), a1[k][j] = _mm512_setzero_ps();
    }
    const __m512i idxd = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                          51, 51, 51, 51, 34, 34, 34, 34, 17, 17, 17, 17, 0, 0, 0, 0);
    const __m512i idxl = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0), idxh = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2);
    const int64_t nq = nb & ~(int64_t)3, n16 = nb & ~(int64_t)15;
    int64_t i = 0;
    for (; i < n16; i += 16)   /* 16 blocks, one lane each (x + 128 in qtu's transposed groups) */
        for (int k = 0; k < R; k++) {
            const uint8_t *bb = (const uint8_t *)(b[k] + i);
            for (int o = 0; o < 544; o += 64) PF(bb, o);
            __m512i wq[8], p[MULTI_VMAX];
            q8_group16(bb, wq);
            const __m512 dw = q8_d16(bb, 16);
            mm_qt_dots16x(wq, xq, V, i * MM_QK, mm_nsum128(wq, 8), 1, p);   /* simd_avx512.h */
            for (int j = 0; j < V; j++)
                a0[k][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p[j]), _mm512_mul_ps(dw, _mm512_loadu_ps(xq[j]->d + i)), a0[k][j]);
        }
    if (nb - i >= 8) {   /* a group of 8 blocks: registers k and k + 4 packed */
        for (int k = 0; k < R; k++) {
            const uint8_t *bb = (const uint8_t *)(b[k] + i);
            __m512i wq[4];
            q8_group8(bb, wq);
            const __m512 d8 = q8_d16(bb, 8), dw = _mm512_shuffle_f32x4(d8, d8, _MM_SHUFFLE(1, 0, 1, 0));   /* [d | d] */
            const __m512i nsw = mm_nsum128(wq, 4);
            for (int j = 0; j < V; j++) {   /* lane p: block p's codes 0..15, lane 8 + p: 16..31 */
                const __m512i p = mm_qt_dots8(wq, xq[j]->qtu + i * MM_QK, nsw, 1, V);
                const __m512 dx = _mm512_broadcast_f32x8(_mm256_loadu_ps(xq[j]->d + i));
                a1[k][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dw, dx), a1[k][j]);
            }
        }
        i += 8;
    }
    for (; i < nq; i += 4) {
        for (int k = 0; k < R; k++) {
            const uint8_t *bb = (const uint8_t *)(b[k] + i);
            PF(bb, 0); PF(bb, 64); PF(bb, 128);
            /* [b0 | b1], [b2 | b3] (32 codes each), then elements 0..15 and 16..31 of the four (qwords 0,1 / 2,3 of each) */
            const __m512i z01 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(bb + 2))),
                                                   _mm256_loadu_si256((const __m256i *)(bb + 36)), 1);
            const __m512i z23 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(bb + 70))),
                                                   _mm256_loadu_si256((const __m256i *)(bb + 104)), 1);
            const __m512i wl = _mm512_permutex2var_epi64(z01, idxl, z23), wh = _mm512_permutex2var_epi64(z01, idxh, z23);
            /* x + 128 (qu4, unsigned) against the signed weights counts 128 * (the lane's 8 weights) too much: the
             * vpdpbusd chains start from minus that, computed once per quad for all vectors; the sums stay exact */
            const __m512i wlh[2] = {wl, wh}, nsw = mm_nsum128(wlh, 2);
            const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(
                _mm512_permutex2var_epi16(_mm512_loadu_si512(bb), idxd, _mm512_loadu_si512(bb + 64))));
            for (int j = 0; j < V; j++) {
                const mm_xq8 *x = xq[j];
                const __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(nsw, _mm512_loadu_si512(x->qu4 + i * MM_QK), wl),
                                                      _mm512_loadu_si512(x->qu4 + i * MM_QK + 64), wh);
                const __m512 s = _mm512_mul_ps(dw, _mm512_loadu_ps(x->d4 + i * 8));
                if ((i & 4) == 0) a0[k][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, a0[k][j]);
                else a1[k][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, a1[k][j]);
            }
        }
    }
    for (; i < nb; i++)   /* the last nb % 4 blocks: x in order (qs) */
        for (int k = 0; k < R; k++) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)b[k][i].qs), aw = _mm256_abs_epi8(w);
            const float dwi = _cvtsh_ss(b[k][i].d);
            for (int j = 0; j < V; j++) {
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[j]->qs + i * MM_QK));
                const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, _mm256_sign_epi8(xv, w));
                const __m256 sc = _mm256_set1_ps(dwi * xq[j]->d[i]);
                a1[k][j] = _mm512_add_ps(a1[k][j], _mm512_zextps256_ps512(_mm256_mul_ps(_mm256_cvtepi32_ps(p), sc)));
            }
        }
    tile_hsum(a0, a1, y, r, R, V);
}

/* Q4_0 codes of 16 blocks at bb (18 bytes apart) transposed to one 32-bit lane per block: wq[k] lane p = elements
 * 4k..4k+3 of block p (k < 4: low nibbles of the block's dword k, k >= 4: high nibbles of dword k - 4). g[q]'s
 * 128-bit lane L holds block 4L + q, then a 4x4 dword transpose per 128-bit lane puts dword k of block 4L + q at
 * lane 4L + q of register k. */
T512 static inline __attribute__((always_inline)) void q4_group16(const uint8_t *bb, __m512i m, __m512i wq[8]) {
    __m512i g[4];
    for (int q = 0; q < 4; q++) g[q] = gather4(bb + 18 * q, 72, 2);
    __m512i w[4];
    mm_t4x4_epi32(g, w);
    for (int k = 0; k < 4; k++) wq[k] = _mm512_and_si512(w[k], m), wq[k + 4] = _mm512_and_si512(_mm512_srli_epi16(w[k], 4), m);
}
/* the same for 8 blocks (128-bit lane L: block 4L + q), registers k and k + 4 packed in one 512-bit register: wq[k]
 * = [low nibbles of dword k | its high nibbles] (k < 4), against x's packed group of 8 (core_internal.h, qt) */
T512 static inline __attribute__((always_inline)) void q4_group8(const uint8_t *bb, __m512i wq[4]) {
    const __m512i m = _mm512_set1_epi8(0x0f);
    const __m512i sh = _mm512_set_epi64(0x0004000400040004LL, 0x0004000400040004LL, 0x0004000400040004LL,
                                        0x0004000400040004LL, 0, 0, 0, 0);   /* low 256 bits: >> 0, high: >> 4 */
    __m256i g[4];
    for (int q = 0; q < 4; q++)
        g[q] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(bb + 18 * q + 2))),
                                       _mm_loadu_si128((const __m128i *)(bb + 18 * q + 74)), 1);
    __m256i w[4];
    mm_t4x4_epi32_256(g, w);
    for (int k = 0; k < 4; k++) wq[k] = _mm512_and_si512(_mm512_srlv_epi16(_mm512_broadcast_i64x4(w[k]), sh), m);
}

/* Q4_0 (18-byte blocks: fp16 d, 16 nibble bytes): per quad the 64 nibble bytes of 4 blocks in one register, low
 * and high nibbles, the scales d at words 0, 9, 18, 27, 4 lanes each; per vector (q x) d_x - 8 sum(x) d_x with one
 * fmsub, times d. Even quads into the first accumulator, odd ones into the second; a remaining pair (mm_xq8 pair
 * layout) and an odd last block into the second. (A VBMI variant gathering with one vpermt2b was tried and
 * measured slower from DRAM on long rows, 0.38 vs 0.74 of bandwidth at 12288 columns, though faster from cache.) */
T512 static inline __attribute__((always_inline)) void
q4_tile(const uint8_t *W, size_t rb, int64_t r, int64_t nb, const mm_xq8 *const *xq, float *const *y, const int R,
        const int V) {
    const mm_block_q4_0 *b[4];
    __m512 a0[4][MULTI_VMAX], a1[4][MULTI_VMAX];
    for (int k = 0; k < R; k++) {
        b[k] = (const mm_block_q4_0 *)(W + (size_t)(r + k) * rb);
        for (int j = 0; j < V; j++) a0[k][j] = _mm512_setzero_ps(), a1[k][j] = _mm512_setzero_ps();
    }
    /* fp16 scales of 4 blocks are the words at byte offsets 0, 18, 36, 54 (word 0, 9, 18, 27), 4 lanes each */
    const __m512i idxd = _mm512_set_epi16(27, 27, 27, 27, 18, 18, 18, 18, 9, 9, 9, 9, 0, 0, 0, 0,
                                          27, 27, 27, 27, 18, 18, 18, 18, 9, 9, 9, 9, 0, 0, 0, 0);
    const __m512i m = _mm512_set1_epi8(0x0f);
    const __m512i idx9 = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* word 9p of 8 blocks */
                                          63, 54, 45, 36, 27, 18, 9, 0, 63, 54, 45, 36, 27, 18, 9, 0);
    const int64_t n16 = nb & ~(int64_t)15;
    int64_t i = 0;
    for (; i < n16; i += 16) {   /* 16 blocks, one lane each (x in qt's transposed groups) */
        for (int k = 0; k < R; k++) {
            const uint8_t *bb = (const uint8_t *)(b[k] + i);
            PF(bb, 0); PF(bb, 64); PF(bb, 128); PF(bb, 192); PF(bb, 256);
            __m512i wq[8];
            q4_group16(bb, m, wq);
            const __m512i dh = _mm512_mask_blend_epi16(0xff00, _mm512_permutex2var_epi16(_mm512_loadu_si512(bb), idx9, _mm512_loadu_si512(bb + 64)),
                                                       _mm512_permutex2var_epi16(_mm512_loadu_si512(bb + 144), idx9, _mm512_loadu_si512(bb + 208)));
            const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(dh));
            __m512i p[MULTI_VMAX]; /* the vectors' integer dot products (exact: the grouping does not matter) */
            mm_qt_dots16(wq, xq, V, i * MM_QK, p); /* simd_avx512.h */
            for (int j = 0; j < V; j++) {
                const __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(p[j]), _mm512_loadu_ps(xq[j]->d + i), _mm512_loadu_ps(xq[j]->s8 + i));
                a0[k][j] = _mm512_fmadd_ps(t, dw, a0[k][j]);
            }
        }
    }
    if (nb - i >= 8) {   /* a group of 8 blocks, one 256-bit lane each */
        for (int k = 0; k < R; k++) {
            const uint8_t *bb = (const uint8_t *)(b[k] + i);
            __m512i wq[4];
            q4_group8(bb, wq);
            const __m512 dw = _mm512_cvtph_ps(_mm256_broadcastsi128_si256(_mm512_castsi512_si128(
                _mm512_permutex2var_epi16(_mm512_loadu_si512(bb), idx9, _mm512_loadu_si512(bb + 64)))));   /* [d | d] */
            for (int j = 0; j < V; j++) {   /* lane p: block p's codes 0..15, lane 8 + p: 16..31 (the -8 sum(x) once) */
                const mm_xq8 *x = xq[j];
                const __m512i p = mm_qt_dots8(wq, x->qt + i * MM_QK, _mm512_setzero_si512(), 0, V);   /* simd_avx512.h */
                const __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(p), _mm512_broadcast_f32x8(_mm256_loadu_ps(x->d + i)),
                                                 _mm512_zextps256_ps512(_mm256_loadu_ps(x->s8 + i)));
                a1[k][j] = _mm512_fmadd_ps(t, dw, a1[k][j]);
            }
        }
        i += 8;
    }
    const int64_t nq = nb & ~(int64_t)3;
    for (; i < nq; i += 4) {
        for (int k = 0; k < R; k++) {
            const mm_block_q4_0 *bb = b[k] + i;
            PF(bb, 0); PF(bb, 64);
            const __m512i q = gather4((const uint8_t *)bb, sizeof(mm_block_q4_0), 2);
            const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(idxd, _mm512_loadu_si512(bb))));
            const __m512i lo = _mm512_and_si512(q, m), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m);
            for (int j = 0; j < V; j++) {
                const mm_xq8 *x = xq[j];
                __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(x->qs4 + i * MM_QK));
                p = _mm512_dpbusd_epi32(p, hi, _mm512_loadu_si512(x->qs4 + i * MM_QK + 64));
                const __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(p), _mm512_loadu_ps(x->d4 + i * 8), _mm512_loadu_ps(x->s4 + i * 8));
                if ((i & 4) == 0) a0[k][j] = _mm512_fmadd_ps(t, dw, a0[k][j]);   /* two chains: FMA latency */
                else a1[k][j] = _mm512_fmadd_ps(t, dw, a1[k][j]);
            }
        }
    }
    for (; i + 2 <= nb; i += 2)   /* a remaining pair of blocks */
        for (int k = 0; k < R; k++) {
            const mm_block_q4_0 *bb = b[k] + i;
            const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)bb[0].qs)),
                                                      _mm_loadu_si128((const __m128i *)bb[1].qs), 1);
            const __m256i m1 = _mm256_set1_epi8(0x0f);
            const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, m1)),
                                                 _mm256_and_si256(_mm256_srli_epi16(v, 4), m1), 1);
            const __m128i dh = _mm_unpacklo_epi64(_mm_set1_epi16((short)bb[0].d), _mm_set1_epi16((short)bb[1].d));
            const __m512 dw = _mm512_cvtph_ps(_mm256_broadcastsi128_si256(dh));
            for (int j = 0; j < V; j++) {
                const mm_xq8 *x = xq[j];
                const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, _mm512_loadu_si512(x->qs4 + i * MM_QK));
                const __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(p), _mm512_loadu_ps(x->d4 + i * 8), _mm512_loadu_ps(x->s4 + i * 8));
                a1[k][j] = _mm512_fmadd_ps(t, dw, a1[k][j]);
            }
        }
    if (i < nb)   /* odd block count: low nibbles = x[0:16], high = x[16:32] */
        for (int k = 0; k < R; k++) {
            const __m128i v = _mm_loadu_si128((const __m128i *)b[k][i].qs), m1 = _mm_set1_epi8(0x0f);
            const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, m1)),
                                                      _mm_and_si128(_mm_srli_epi16(v, 4), m1), 1);
            const __m256 dw = _mm256_set1_ps(_cvtsh_ss(b[k][i].d));
            for (int j = 0; j < V; j++) {
                const mm_xq8 *x = xq[j];
                const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, _mm256_loadu_si256((const __m256i *)(x->qs4 + i * MM_QK)));
                const __m256 t = _mm256_fmsub_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(x->d[i]), _mm256_set1_ps(x->ds[i]));
                a1[k][j] = _mm512_add_ps(a1[k][j], _mm512_zextps256_ps512(_mm256_mul_ps(t, dw)));
            }
        }
    tile_hsum(a0, a1, y, r, R, V);
}

/* the table's row kernels: R = 4 rows at once for long rows, else 1; one vector */
#define ROWS_FN(name, tile)                                                                                          \
    T512 static void name(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,           \
                          const mm_xq8 *xq, float *y) {                                                             \
        (void)x;                                                                                                     \
        const int64_t nb = cols / MM_QK;                                                                             \
        int64_t r = r0;                                                                                              \
        if (cols >= MM_WIDE_COLS)                                                                                    \
            for (; r + 4 <= r1; r += 4) tile(W, rb, r, nb, &xq, &y, 4, 1);                                           \
        for (; r < r1; r++) tile(W, rb, r, nb, &xq, &y, 1, 1);                                                       \
    }
ROWS_FN(rows_q8_0_vnni, q8_tile)
ROWS_FN(rows_q4_0_vnni, q4_tile)

/* the batched decode's kernels (mm_multi_fn): rows [r0, r1) for n vectors, MULTI_VMAX at a time in one pass */
#define MULTI_FN(name, callV)                                                                                        \
    T512 void name(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, int n, const float *const *x,   \
                   const mm_xq8 *const *xq, float *const *y) {                                                     \
        (void)x;                                                                                                     \
        const int64_t nb = cols / MM_QK;                                                                             \
        for (int j = 0; j < n; j += MULTI_VMAX)                                                                      \
            for (int64_t r = r0; r < r1; r++) MM_MULTI8_SWITCH(n - j, callV)                                         \
    }
#define Q8V(V) q8_tile(W, rb, r, nb, xq + j, y + j, 1, V)
#define Q4V(V) q4_tile(W, rb, r, nb, xq + j, y + j, 1, V)
MULTI_FN(mm_multi_q8_0_avx512, Q8V)
MULTI_FN(mm_multi_q4_0_avx512, Q4V)

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
        _mm_storeu_si128((__m128i *)(o->qu + i * MM_QK), _mm_xor_si128(ba, _mm_set1_epi8((char)0x80)));
        _mm_storeu_si128((__m128i *)(o->qu + i * MM_QK + 16), _mm_xor_si128(bb, _mm_set1_epi8((char)0x80)));
        int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qb));
        o->s16[2 * i] = (int16_t)_mm512_reduce_add_epi32(qa);   /* elements 0..15, 16..31 */
        o->s16[2 * i + 1] = (int16_t)(sum - o->s16[2 * i]);
        o->d[i] = d;
        o->ds[i] = d * (float)sum;
        o->s8[i] = 8.0f * o->ds[i];
        _mm256_storeu_ps(o->d8 + i * 8, _mm256_set1_ps(d));

        /* Q4_0: blocks in whole quads in the quad layout (see q4_rows_plain); the rest in pair order
         * [b0 0:16, b1 0:16, b0 16:32, b1 16:32]; a trailing odd block stays in order */
        int64_t pair = i & ~(int64_t)1;
        if (i < (nb & ~(int64_t)3)) {
            const int64_t q0 = i & ~(int64_t)3, j = i & 3;
            _mm_storeu_si128((__m128i *)(o->qs4 + q0 * MM_QK + 16 * j), ba);
            _mm_storeu_si128((__m128i *)(o->qs4 + q0 * MM_QK + 64 + 16 * j), bb);
            _mm_storeu_si128((__m128i *)(o->qu4 + q0 * MM_QK + 16 * j), _mm_xor_si128(ba, _mm_set1_epi8((char)0x80)));
            _mm_storeu_si128((__m128i *)(o->qu4 + q0 * MM_QK + 64 + 16 * j), _mm_xor_si128(bb, _mm_set1_epi8((char)0x80)));
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
    /* qt: the groups of 16 blocks and one group of 8, one 32-bit lane per block (core_internal.h), transposed from
     * qs as the Q4_0 kernel transposes its codes (4 x 4 dwords per 128-bit lane) */
    const uint8_t *qs = (const uint8_t *)o->qs;
    int64_t i = 0;
    for (; i + 16 <= nb; i += 16)
        for (int h = 0; h < 2; h++) {   /* elements 0..15, 16..31 of the 16 blocks: registers 0..3, 4..7 */
            __m512i g[4];
            for (int q = 0; q < 4; q++) g[q] = gather4(qs + MM_QK * (i + q) + 16 * h, 4 * MM_QK, 0);
            __m512i t[4];
            mm_t4x4_epi32(g, t);
            int8_t *dst = o->qt + i * MM_QK + 256 * h;
            for (int k = 0; k < 4; k++) _mm512_storeu_si512(dst + 64 * k, t[k]);
        }
    if (nb - i >= 8) {   /* register k at 64 (k % 4) + 32 (k / 4): k and k + 4 in one 512-bit load */
        for (int p = 0; p < 8; p++)
            for (int k = 0; k < 8; k++) memcpy(o->qt + i * MM_QK + 64 * (k & 3) + 32 * (k >> 2) + 4 * p, qs + MM_QK * (i + p) + 4 * k, 4);
        i += 8;
    }
    for (int64_t e = 0; e < i * MM_QK; e += 64)   /* qtu: the groups + 128 (Q8_0) */
        _mm512_storeu_si512(o->qtu + e, _mm512_xor_si512(_mm512_loadu_si512(o->qt + e), _mm512_set1_epi8((char)0x80)));
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
