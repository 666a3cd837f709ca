/* matvec_fp_avx2.c - the avx2 level's F32, F16 and BF16 matvec kernels, written once for R rows x V vectors:
 * the table's row kernels (mm_matvec, one vector) and the batched kernels of mm_matvec_multi_rows (one matrix
 * times n vectors: the decode step of n sequences). The AVX2 counterpart of matvec_fp_avx512.c.
 *
 * Arithmetic of one output y[r] = sum_c w[r][c] x[c] (the same for every tile shape, so a row's result depends
 * neither on how rows are grouped nor on how many vectors share the pass):
 *   TWO 8-lane f32 accumulators per (row, vector): the full 8-column chunks q = 0, 1, 2, ... in order, chunk q
 *   into accumulator q % 2 (acc = fma(w[8q..8q+8), x[..], acc)); then one horizontal sum of acc0 + acc1
 *   (mm_hsum256, simd_avx2.h: (lo + hi) halves, then pairs, then the last two), then the last cols % 8 columns
 *   in scalar: s = s + w x, each product and sum rounded (this file is compiled with -ffp-contract=off). F16
 *   weights are widened with vcvtph2ps, BF16 by a 16-bit shift: exact.
 * Two chains per row let one row stream run at the memory's speed (with one chain a row waited on the FMA
 * latency; several rows at once read slower from memory: 8 rows x 1 accumulator, 124M F16 decode at 1 thread,
 * 89-91 tok/s against 102-108 of the former 1 row x 4 accumulators). A register tile of R rows x V vectors
 * holds 2 R V accumulators of AVX2's 16 registers (plus R weight and one input register):
 *   V = 1 (mm_matvec): R = 1;  V = 2, 3: R = 2 (8, 12 accumulators);  V = 4: R = 1 (8).
 * n <= 4 vectors go in ONE pass over the rows; n > 4 in groups of 4 per block of FP_BLOCK_ROWS rows (the block
 * stays in L1 between the groups). Rows left over at the end of a range go in tiles of 4, 2, 1 rows.
 * Software prefetch: each F16/BF16 row's stream MM_PF_AHEAD bytes ahead (not F32's, as before).
 * mm_matvec_multi's results are bit-identical to mm_matvec's by construction (tests/core/test_core_multi.c). */
#include <string.h>

#include "core_internal.h"
#include "simd_avx2.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T256 __attribute__((target("avx2,fma,f16c")))
#define INL  __attribute__((always_inline)) inline

enum { FP_F32, FP_F16, FP_BF16 };


/* 8 weights from column i of a row as f32 */
T256 static INL __m256 fp_w8(const void *w, int64_t i, const int kind) {
    if (kind == FP_F32) return _mm256_loadu_ps((const float *)w + i);
    const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + i));
    if (kind == FP_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

T256 static INL float fp_w1(const void *w, int64_t i, const int kind) {
    if (kind == FP_F32) return ((const float *)w)[i];
    const uint16_t h = ((const uint16_t *)w)[i];
    if (kind == FP_F16) return _cvtsh_ss(h);
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* R V products of one 8-column chunk at column i: acc[k][j] += w_k[i..] x_j[i..] */
T256 static INL void fp_step(const void *const *w, const float *const *x, int64_t i, __m256 acc[8][4], const int R,
                             const int V, const int kind) {
    __m256 wv[8];
#pragma GCC unroll 8
    for (int k = 0; k < R; k++) wv[k] = fp_w8(w[k], i, kind);
#pragma GCC unroll 4
    for (int j = 0; j < V; j++) {
        __m256 xv = _mm256_loadu_ps(x[j] + i);
        if (R > 1) __asm__("" : "+x"(xv)); /* one load for the R rows (not folded into each FMA) */
#pragma GCC unroll 8
        for (int k = 0; k < R; k++) acc[k][j] = _mm256_fmadd_ps(wv[k], xv, acc[k][j]);
    }
}

/* rows r .. r + R - 1 (R <= 8) times vectors x[0 .. V) (V <= 4): 8-column chunk q of a row goes into accumulator
 * q % 2 of its (row, vector) pair, in every tile shape; y = mm_hsum256(acc0 + acc1) + the scalar tail */
T256 static INL void fp_tile(const uint8_t *W, size_t rb, int64_t r, int64_t c0, int64_t c1, int64_t cols,
                             const float *const *x, float *const *y, __m256 *sv, int64_t ro, const int R, const int V,
                             const int kind) {
    (void)c0, (void)c1, (void)sv, (void)ro; /* no column blocks here: c0 = 0, c1 = cols */
    const void *w[8];
    __m256 a0[8][4], a1[8][4];
#pragma GCC unroll 8
    for (int k = 0; k < R; k++) {
        w[k] = W + (size_t)(r + k) * rb;
#pragma GCC unroll 4
        for (int j = 0; j < V; j++) a0[k][j] = a1[k][j] = _mm256_setzero_ps();
    }
    int64_t i = 0;
    for (; i + 32 <= cols; i += 32) {
        if (kind != FP_F32)
#pragma GCC unroll 8
            for (int k = 0; k < R; k++) MM_PREFETCH(w[k], i * 2);
        fp_step(w, x, i, a0, R, V, kind);
        fp_step(w, x, i + 8, a1, R, V, kind);
        fp_step(w, x, i + 16, a0, R, V, kind);
        fp_step(w, x, i + 24, a1, R, V, kind);
    }
    if (i + 16 <= cols) { /* the full chunks left: even ones into a0, odd ones into a1 */
        fp_step(w, x, i, a0, R, V, kind);
        fp_step(w, x, i + 8, a1, R, V, kind);
        i += 16;
    }
    if (i + 8 <= cols) fp_step(w, x, i, a0, R, V, kind), i += 8;
#pragma GCC unroll 8
    for (int k = 0; k < R; k++)
#pragma GCC unroll 4
        for (int j = 0; j < V; j++) {
            float s = mm_hsum256(_mm256_add_ps(a0[k][j], a1[k][j]));
            for (int64_t c = i; c < cols; c++) s += fp_w1(w[k], c, kind) * x[j][c];
            y[j][r + k] = s;
        }
}

/* the driver (matvec_fp_driver.h): tiles of FP_R(v) rows x v vectors, FP_V vectors per pass */
#define FP_TGT T256
#ifndef FP_V
#define FP_V 4
#endif
#define FP_BLOCK_ROWS 24
#define FP_ACC __m256
#ifndef FP_R
#define FP_R(v) ((v) == 1 ? 1 : (v) <= 3 ? 2 : 1)
#endif
#include "matvec_fp_driver.h"

FP_LEVEL(mm_fp_multi_avx2, mm_rows_f32_avx2, mm_rows_f16_avx2, mm_q_rows_bf16_avx2)
#else
mm_multi_fn mm_fp_multi_avx2(mm_type t) {
    (void)t;
    return NULL;
}
#endif
