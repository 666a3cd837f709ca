/* matvec_fp_avx512.c - the avx512 level's F32, F16 and BF16 matvec kernels, written once for R rows x V vectors:
 * the table's row kernels (mm_matvec, one vector) and the batched kernels of mm_matvec_multi_rows (one matrix
 * times n vectors: the decode step of n sequences).
 *
 * Arithmetic of one output y[r] = sum_c w[r][c] x[c] (the same for every tile shape below, so a row's result
 * depends neither on how rows are grouped nor on how many vectors share the pass):
 *   ONE 16-lane f32 accumulator per (row, vector), fed once per group of four 16-column chunks (64 columns) in
 *   order: t = w0 x0 (rounded), t = fma(w1, x1, t), t = fma(w2, x2, t), t = fma(w3, x3, t), acc = acc + t;
 *   the last cols % 64 columns are one shorter group of 1..4 chunks (its last chunk masked, zeros elsewhere, when
 *   cols % 16 != 0); then y = _mm512_reduce_add_ps(acc) (a tile's R V sums at once, the same bits: mm_hsum512x,
 *   simd_avx512.h). F16 weights are widened with vcvtph2ps, BF16 by a 16-bit shift: exact, so only the f32
 *   roundings of the chains, of the adds and of the horizontal sum remain.
 * Why groups: one row stream must run at the memory's speed, and several rows at once read slower from memory
 * (4 interleaved row streams, 124M F16 decode at 1 thread, 86 vs 104 tok/s; 1 row x 1 FMA chain was capped by
 * the FMA latency, 1 chunk per 4 cycles). The groups of successive 64 columns are independent chains (only the
 * add into acc waits on the previous group), so one row runs several groups at once; and a tile needs ONE
 * accumulator per (row, vector), not two (the former scheme, chunk q into accumulator q % 2, took 2 R V
 * registers: 8 vectors did not fit in one pass with 2 rows and went as 6 + 2 passes per block of rows, ~10 %
 * slower than one pass from cache and from memory). The add per group (a quarter of the FMA count) runs beside
 * the FMAs. A register tile of R rows x V vectors holds R V accumulators, 4 R weight and 4 input registers (of
 * AVX-512's 32); each 64-column group loads (and converts) 4 R weight chunks and 4 V input chunks for 4 R V
 * products:
 *   V = 1 (mm_matvec): R = FP_R1 = 1 (one weight stream);
 *   V = 2: R = 4;  V = 3, 4: R = 3;  V = 5..8: R = 2 (8..16 accumulators).
 * n <= FP_V = 8 vectors go in ONE pass over the rows (each row loaded once for all of them: while the products of
 * one tile run, the prefetches of the next rows are in flight); n > 8 are taken in groups of 8 per block of 16
 * rows (the block stays in L1/L2 between the groups). Rows left over at the end of a range go in tiles of 2, 1
 * rows. From cache (1 thread, 128 x 768 F16, vec-GB/s, bench/README.md): n = 1 94 (two accumulators 91, one
 * chain 63), n = 8 193 (6 + 2 passes 175, the former one-accumulator 2 x 8 tile 199).
 * Column blocks: when min(n, 8) inputs exceed 8192 floats (ffn_down, 3072 columns: 8 inputs are 96 KiB, twice the
 * L1, and every tile read them from L2), blocks of FP_CB_ROWS = 32 rows x FP_COLS_BLOCK = 512 columns (8 x 512
 * inputs: 16 KiB), each (row, vector) accumulator saved after a column block and reloaded before the next (a
 * 32 KiB stack buffer); the groups and their order stay those of one pass, so the bits too. The row-stream prefetch
 * is kept (a cursor prefetching the next block of rows into L2 instead was slower from memory). ffn_down n = 8
 * (768 x 3072 F16, 1 thread): from L3 98-105 -> 164-166 vec-GB/s; from memory (bench_multi --stream, 12 such
 * matrices) 4.95-5.5 -> 3.8-4.6 ms (bench/README.md).
 * Software prefetch: each row's weight stream MM_PF_AHEAD bytes ahead (F16/BF16; not F32, whose hardware
 * prefetch did better, see bench/README.md).
 * Because every tile computes each (row, vector) pair the same way, mm_matvec_multi's results are bit-identical
 * to mm_matvec's by construction (tests/core/test_core_multi.c, memcmp). The product t = w0 x0 is kept apart from
 * the add (an empty asm), so the compiler cannot contract them into an FMA in one tile and not in another. The
 * sum order differs from the generic level's (4 accumulators per row there) and the avx2 level's: the tests
 * compare levels with the naive reference within a tolerance. */
#include "core_internal.h"
#include "simd_avx512.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")))
#define INL  __attribute__((always_inline)) inline

enum { FP_F32, FP_F16, FP_BF16 };
#define FP_SV MM_MATVEC_MULTI_GROUP /* saved accumulators per row of a block (matvec_fp_driver.h) */

/* 16 weights from column i of a row as f32 (m: the columns present, zeros elsewhere) */
T512 static INL __m512 fp_w16(const void *w, int64_t i, __mmask16 m, const int kind) {
    if (kind == FP_F32) return _mm512_maskz_loadu_ps(m, (const float *)w + i);
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i);
    if (kind == FP_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* One group of g (1..4) 16-column chunks at i (the last one masked by ml) of R rows x V vectors:
 * acc[k][j] += ((w0 x0 + w1 x1) + w2 x2) + w3 x3 (the first product rounded, each next one fused: an FMA chain),
 * chunk c at i + 16 c. */
T512 static INL void fp_grp(const void *const *w, const float *const *x, int64_t i, const int g, __mmask16 ml,
                            __m512 acc[8][8], const int R, const int V, const int kind) {
    __m512 wv[4][8];
#pragma GCC unroll 4
    for (int c = 0; c < g; c++)
#pragma GCC unroll 8
        for (int k = 0; k < R; k++) {
            wv[c][k] = fp_w16(w[k], i + 16 * c, c == g - 1 ? ml : (__mmask16)0xffff, kind);
            if (kind == FP_F32 && V > 1) __asm__("" : "+v"(wv[c][k])); /* one load of F32 weights for V vectors */
        }
#pragma GCC unroll 8
    for (int j = 0; j < V; j++) {
        __m512 xv[4];
#pragma GCC unroll 4
        for (int c = 0; c < g; c++) {
            xv[c] = _mm512_maskz_loadu_ps(c == g - 1 ? ml : (__mmask16)0xffff, x[j] + i + 16 * c);
            if (R > 1) __asm__("" : "+v"(xv[c])); /* one load for the R rows (not folded into each product) */
        }
#pragma GCC unroll 8
        for (int k = 0; k < R; k++) {
            __m512 t = _mm512_mul_ps(wv[0][k], xv[0]);
            __asm__("" : "+v"(t)); /* never contracted with the add below */
#pragma GCC unroll 4
            for (int c = 1; c < g; c++) t = _mm512_fmadd_ps(wv[c][k], xv[c], t);
            acc[k][j] = _mm512_add_ps(acc[k][j], t);
        }
    }
}

/* rows r .. r + R - 1 (R <= 8) times vectors x[0 .. V) (V <= 8), columns [c0, c1) (c0 a multiple of 64; c1 too
 * unless it is cols): one accumulator per (row, vector), one fp_grp per 64 columns in order (the last cols % 64 as
 * one group of 1..4 chunks, the last masked), y = reduce(acc). A column block other than the first starts from the
 * accumulators the one before saved in sv[(ro + k) * FP_SV + j]; one other than the last saves them there: the
 * groups and their order are those of one pass over all the columns.
 * Prefetch (F16/BF16; not F32, whose hardware prefetch did better): each row's stream MM_PF_AHEAD bytes ahead (in
 * a column block, a later row's bytes of the same block mostly: the rows are contiguous). */
T512 static INL void fp_tile(const uint8_t *W, size_t rb, int64_t r, int64_t c0, int64_t c1, int64_t cols,
                             const float *const *x, float *const *y, __m512 *sv, int64_t ro, const int R, const int V,
                             const int kind) {
    const void *w[8];
    __m512 acc[8][8];
    __m512 *s = c0 > 0 || c1 < cols ? sv + ro * FP_SV : NULL;
#pragma GCC unroll 8
    for (int k = 0; k < R; k++) {
        w[k] = W + (size_t)(r + k) * rb;
#pragma GCC unroll 8
        for (int j = 0; j < V; j++) acc[k][j] = c0 > 0 ? s[k * FP_SV + j] : _mm512_setzero_ps();
    }
    const int es = kind == FP_F32 ? 4 : 2; /* bytes per weight */
    int64_t i = c0;
    for (; i + 64 <= c1; i += 64) {
        if (kind != FP_F32)
#pragma GCC unroll 8
            for (int k = 0; k < R; k++) MM_PREFETCH(w[k], i * es), MM_PREFETCH(w[k], i * es + 64);
        fp_grp(w, x, i, 4, (__mmask16)0xffff, acc, R, V, kind);
    }
    if (c1 < cols) {
#pragma GCC unroll 8
        for (int k = 0; k < R; k++)
#pragma GCC unroll 8
            for (int j = 0; j < V; j++) s[k * FP_SV + j] = acc[k][j];
        return;
    }
    if (i < cols) {
        const int64_t left = cols - i, g = (left + 15) / 16;
        const __mmask16 ml = (__mmask16)(left % 16 ? (1u << (left % 16)) - 1 : 0xffff);
        if (g == 1) fp_grp(w, x, i, 1, ml, acc, R, V, kind);
        else if (g == 2) fp_grp(w, x, i, 2, ml, acc, R, V, kind);
        else if (g == 3) fp_grp(w, x, i, 3, ml, acc, R, V, kind);
        else fp_grp(w, x, i, 4, ml, acc, R, V, kind);
    }
    __m512 a[64];   /* the R V horizontal sums at once, each the bits of _mm512_reduce_add_ps (simd_avx512.h) */
    float o[64];
#pragma GCC unroll 8
    for (int k = 0; k < R; k++)
#pragma GCC unroll 8
        for (int j = 0; j < V; j++) a[k * V + j] = acc[k][j];
    mm_hsum512x(a, R * V, o);
#pragma GCC unroll 8
    for (int k = 0; k < R; k++)
#pragma GCC unroll 8
        for (int j = 0; j < V; j++) y[j][r + k] = o[k * V + j];
}

/* Rows per tile of the one-vector instance (the row kernel of mm_matvec). */
#ifndef FP_R1
#define FP_R1 1
#endif
/* the driver (matvec_fp_driver.h): tiles of FP_R(v) rows x v vectors, FP_V vectors per pass */
#define FP_TGT T512
#ifndef FP_V
#define FP_V 8
#endif
#define FP_BLOCK_ROWS 16
#define FP_ACC __m512
#ifndef FP_COLS_BLOCK
#define FP_COLS_BLOCK 512 /* with FP_CB_ROWS 32: ffn_down n = 8 from cache 151-161 vec-GB/s (256: 129-151, 1024 x 16 rows: 154) */
#define FP_CB_ROWS 32     /* (16 rows: 151-161, 32: 164-166; saved accumulators 32 x 16 x 64 B = 32 KiB of stack) */
#endif
#ifndef FP_R
#define FP_R(v) ((v) == 1 ? FP_R1 : (v) == 2 ? 4 : (v) <= 4 ? 3 : 2)
#endif
#include "matvec_fp_driver.h"

FP_LEVEL(mm_fp_multi_avx512, mm_rows_f32_avx512, mm_rows_f16_avx512, mm_q_rows_bf16_avx512)
#else
mm_multi_fn mm_fp_multi_avx512(mm_type t) {
    (void)t;
    return NULL;
}
#endif
