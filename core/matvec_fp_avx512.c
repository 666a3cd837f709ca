/* matvec_fp_avx512.c - the avx512 level's F32, F16 and BF16 matvec kernels, written once for R rows x V vectors:
 * the table's row kernels (mm_matvec, one vector) and the batched kernels of mm_matvec_multi_rows (one matrix
 * times n vectors: the decode step of n sequences).
 *
 * Arithmetic of one output y[r] = sum_c w[r][c] x[c] (the same for every tile shape below, so a row's result
 * depends neither on how rows are grouped nor on how many vectors share the pass):
 *   TWO 16-lane f32 accumulators per (row, vector): the full 16-column chunks q = 0, 1, 2, ... in order, chunk q
 *   into accumulator q % 2 (acc = fma(w[16q..16q+16), x[..], acc)), then the last cols % 16 columns masked (zeros
 *   elsewhere) as the next chunk (into accumulator (cols / 16) % 2), then y = _mm512_reduce_add_ps(acc0 + acc1).
 *   F16 weights are widened with vcvtph2ps, BF16 by a 16-bit shift: exact, so only the f32 roundings of the two
 *   chains, of their sum and of the horizontal sum remain.
 * Two chains per row let ONE row stream run at the memory's speed (one chain's FMA latency capped a single row
 * at about 1 chunk per 4 cycles; several rows at once are slower from memory: 4 interleaved row streams, 124M F16
 * decode at 1 thread, 86 vs 104 tok/s). A register tile of R rows x V vectors holds 2 R V accumulators (of
 * AVX-512's 32 registers, with R weight and one input register); each 16-column step loads (and converts) R
 * weight chunks and V input chunks for R V fused multiply-adds:
 *   V = 1 (mm_matvec): R = FP_R1 = 1 (one weight stream, 2 accumulators);
 *   V = 2, 3: R = 4 (16, 24 accumulators);  V = 4..6: R = 2 (16..24).
 * n <= FP_V = 6 vectors go in ONE pass over the rows (each row loaded once for all of them: while the products of
 * one tile run, the prefetches of the next rows are in flight); n > 6 are taken in groups of 6 per block of 16
 * rows (the block stays in L1/L2 between the groups): n = 8 is 6 + 2 per block. One pass of 8 vectors would need
 * 1 row x 8 vectors (2 rows: 32 accumulators): measured slower from cache (F16 168 vec-GB/s against 179 for
 * 6 + 2, 186 for 4 + 4 with 3 rows, 194 for 6 in one pass; 1 thread, loaded machine, best of 4 rounds).
 * Rows left over at the end of a range go in tiles of 4, 2, 1 rows.
 * Software prefetch: each row's weight stream MM_PF_AHEAD bytes ahead (F16/BF16; not F32, whose hardware
 * prefetch did better, see bench/README.md).
 * Because every tile computes each (row, vector) pair the same way, mm_matvec_multi's results are bit-identical
 * to mm_matvec's by construction (tests/core/test_core_multi.c, memcmp). The sum order differs from the generic
 * level's (4 accumulators per row there): the tests compare levels with the naive reference within a tolerance. */
#include "core_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")))
#define INL  __attribute__((always_inline)) inline

enum { FP_F32, FP_F16, FP_BF16 };

/* 16 weights from column i of a row as f32 (m: the columns present, zeros elsewhere) */
T512 static INL __m512 fp_w16(const void *w, int64_t i, __mmask16 m, const int kind) {
    if (kind == FP_F32) return _mm512_maskz_loadu_ps(m, (const float *)w + i);
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i);
    if (kind == FP_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* R V products of one 16-column chunk at column i: acc[k][j] += w_k[i..] x_j[i..] */
T512 static INL void fp_step(const void *const *w, const float *const *x, int64_t i, __mmask16 m, __m512 acc[8][8],
                             const int R, const int V, const int kind) {
    __m512 wv[8];
#pragma GCC unroll 8
    for (int k = 0; k < R; k++) {
        wv[k] = fp_w16(w[k], i, m, kind);
        if (kind == FP_F32 && V > 1) __asm__("" : "+v"(wv[k])); /* likewise one load of F32 weights for V vectors */
    }
#pragma GCC unroll 8
    for (int j = 0; j < V; j++) {
        __m512 xv = _mm512_maskz_loadu_ps(m, x[j] + i);
        if (R > 1) __asm__("" : "+v"(xv)); /* one load for the R rows (not folded into each FMA) */
#pragma GCC unroll 8
        for (int k = 0; k < R; k++) acc[k][j] = _mm512_fmadd_ps(wv[k], xv, acc[k][j]);
    }
}

/* rows r .. r + R - 1 (R <= 8) times vectors x[0 .. V) (V <= 8): 16-column chunk q of a row goes into accumulator
 * q % 2 of its (row, vector) pair, in every tile shape; y = reduce(acc0 + acc1) */
T512 static INL void fp_tile(const uint8_t *W, size_t rb, int64_t r, int64_t cols, const float *const *x,
                             float *const *y, const int R, const int V, const int kind) {
    const void *w[8];
    __m512 a0[8][8], a1[8][8];
#pragma GCC unroll 8
    for (int k = 0; k < R; k++) {
        w[k] = W + (size_t)(r + k) * rb;
#pragma GCC unroll 8
        for (int j = 0; j < V; j++) a0[k][j] = a1[k][j] = _mm512_setzero_ps();
    }
    const int es = kind == FP_F32 ? 4 : 2; /* bytes per weight */
    const __mmask16 all = (__mmask16)0xffff;
    int64_t i = 0;
    for (; i + 64 <= cols; i += 64) {
        if (kind != FP_F32)
#pragma GCC unroll 8
            for (int k = 0; k < R; k++) MM_PREFETCH(w[k], i * es), MM_PREFETCH(w[k], i * es + 64);
        fp_step(w, x, i, all, a0, R, V, kind);
        fp_step(w, x, i + 16, all, a1, R, V, kind);
        fp_step(w, x, i + 32, all, a0, R, V, kind);
        fp_step(w, x, i + 48, all, a1, R, V, kind);
    }
    if (i + 32 <= cols) { /* the chunks left: even ones into a0, odd ones into a1, a masked tail in its own */
        fp_step(w, x, i, all, a0, R, V, kind);
        fp_step(w, x, i + 16, all, a1, R, V, kind);
        i += 32;
    }
    if (i + 16 <= cols) {
        fp_step(w, x, i, all, a0, R, V, kind);
        i += 16;
        if (i < cols) fp_step(w, x, i, (__mmask16)((1u << (cols - i)) - 1), a1, R, V, kind);
    } else if (i < cols)
        fp_step(w, x, i, (__mmask16)((1u << (cols - i)) - 1), a0, R, V, kind);
#pragma GCC unroll 8
    for (int k = 0; k < R; k++)
#pragma GCC unroll 8
        for (int j = 0; j < V; j++) y[j][r + k] = _mm512_reduce_add_ps(_mm512_add_ps(a0[k][j], a1[k][j]));
}

/* Rows per tile of the one-vector instance (the row kernel of mm_matvec). */
#ifndef FP_R1
#define FP_R1 1
#endif
/* the driver (matvec_fp_driver.h): tiles of FP_R(v) rows x v vectors, FP_V vectors per pass */
#define FP_TGT T512
#ifndef FP_V
#define FP_V 6
#endif
#define FP_BLOCK_ROWS 16
#ifndef FP_R
#define FP_R(v) ((v) == 1 ? FP_R1 : (v) <= 3 ? 4 : 2)
#endif
#include "matvec_fp_driver.h"

FP_LEVEL(mm_fp_multi_avx512, mm_rows_f32_avx512, mm_rows_f16_avx512, mm_q_rows_bf16_avx512)
#else
mm_multi_fn mm_fp_multi_avx512(mm_type t) {
    (void)t;
    return NULL;
}
#endif
