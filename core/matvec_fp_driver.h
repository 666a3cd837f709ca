/* matvec_fp_driver.h - the row and vector driver of the F32/F16/BF16 tile kernels, included once by
 * matvec_fp_avx512.c and once by matvec_fp_avx2.c after their own fp_tile (private to those two files).
 *
 * The including file defines:
 *   FP_TGT          its target attribute;
 *   FP_V            vectors per pass (the largest V of a tile, 3..8);  FP_BLOCK_ROWS  rows per block when n > FP_V;
 *   FP_R(v)         rows per tile for v <= FP_V vectors (a constant expression; FP_R(1): the row kernel's);
 *   FP_ACC          its accumulator type;  FP_COLS_BLOCK  columns per column block (a multiple of 64), 0: none,
 *                   and FP_CB_ROWS rows per block then;
 *   fp_tile(W, rb, r, c0, c1, cols, x, y, sv, ro, R, V, kind)   rows r .. r + R - 1 (R <= 8) times
 *                   vectors x[0 .. V), columns [c0, c1) (c0 == 0, c1 == cols without column blocks): from zero when
 *                   c0 == 0 else from the accumulators saved in sv[(ro + k) * FP_SV + j] (row r + k, vector j),
 *                   into y when c1 == cols else saved there.
 * and gets:
 *   fp_span   rows [r0, r1) times V vectors: tiles of R rows, the rest in tiles of 4, 2, 1 rows (those below R);
 *   fp_multi  rows [r0, r1) times any n vectors: n <= FP_V in one pass, more in groups of FP_V per block of
 *             FP_BLOCK_ROWS rows (the block stays in L1 between the groups); when min(n, FP_V) inputs exceed
 *             FP_X_L1 floats (8 x 3072 = 96 KiB: ffn_down's 8 inputs leave the 48 KiB L1 and every tile reads them
 *             from L2), blocks of FP_CB_ROWS rows x FP_COLS_BLOCK columns (8 x 512 inputs: 16 KiB), each
 *             (row, vector) accumulator carried from one column block to the next in a stack buffer (the same
 *             groups in the same order: the same bits);
 *   FP_KERNELS(ROW, MULTI, kind)   the table's row kernel ROW (mm_rows_fn, one vector) and the mm_multi_fn MULTI;
 *   FP_LEVEL(GET, R32, R16, RBF)   the three types' kernels and GET(t), the level's mm_multi_fn of type t.
 * Each (row, vector) pair's arithmetic is fp_tile's whatever R and V, so every grouping gives the same bits. */

#ifndef FP_COLS_BLOCK
#define FP_COLS_BLOCK 0
#define FP_CB_ROWS 1
#endif
#define FP_X_L1 8192
#ifndef FP_SV
#define FP_SV MM_MATVEC_MULTI_GROUP /* saved accumulators per row of a block */
#endif

/* rows [r0, r1) (sv: row r0's saved accumulators) times V vectors, columns [c0, c1) */
#define FP_TILE_ARGS(r, R) W, rb, r, c0, c1, cols, x, y, sv, (r) - r0, R, V, kind
FP_TGT static inline __attribute__((always_inline)) void
fp_span(const uint8_t *W, size_t rb, int64_t r0, int64_t r1, int64_t c0, int64_t c1, int64_t cols,
        const float *const *x, float *const *y, FP_ACC *sv, const int R, const int V, const int kind) {
    int64_t r = r0;
    for (; r + R <= r1; r += R) fp_tile(FP_TILE_ARGS(r, R));
    if (R > 4 && r + 4 <= r1) fp_tile(FP_TILE_ARGS(r, 4)), r += 4;
    if (R > 2 && r + 2 <= r1) fp_tile(FP_TILE_ARGS(r, 2)), r += 2;
    if (R > 1 && r < r1) fp_tile(FP_TILE_ARGS(r, 1));
}
#undef FP_TILE_ARGS

/* rows [r0, r1) times v <= FP_V (<= 8) vectors, columns [c0, c1): the tile shape of that count */
#define FP_SPAN_V(v) fp_span(W, rb, r0, r1, c0, c1, cols, x, y, sv, FP_R(v), v, kind)
FP_TGT static inline __attribute__((always_inline)) void
fp_group(const uint8_t *W, size_t rb, int64_t r0, int64_t r1, int64_t c0, int64_t c1, int64_t cols, int v,
         const float *const *x, float *const *y, FP_ACC *sv, const int kind) {
    switch (v) {
    case 1: FP_SPAN_V(1); break;
    case 2: FP_SPAN_V(2); break;
#if FP_V > 3
    case 3: FP_SPAN_V(3); break;
#endif
#if FP_V > 4
    case 4: FP_SPAN_V(4); break;
#endif
#if FP_V > 5
    case 5: FP_SPAN_V(5); break;
#endif
#if FP_V > 6
    case 6: FP_SPAN_V(6); break;
#endif
#if FP_V > 7
    case 7: FP_SPAN_V(7); break;
#endif
    default: FP_SPAN_V(FP_V); break;
    }
}
#undef FP_SPAN_V

/* One call site of fp_group (each one inlines every tile shape: compile time): blocks of rows x column blocks x
 * groups of FP_V vectors, one block of all the rows and all the columns when n <= FP_V and the inputs fit L1. */
FP_TGT static inline __attribute__((always_inline)) void
fp_multi(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, int n, const float *const *x,
         float *const *y, const int kind) {
    const int64_t g = n < FP_V ? n : FP_V;
    const int64_t cb = FP_COLS_BLOCK && g * cols > FP_X_L1 && n <= FP_SV ? FP_COLS_BLOCK : cols;
    const int64_t br = cb < cols ? FP_CB_ROWS : n > FP_V ? FP_BLOCK_ROWS : r1 - r0;
    FP_ACC sv[FP_COLS_BLOCK ? FP_CB_ROWS * FP_SV : 1];
    for (int64_t b0 = r0; b0 < r1; b0 += br) {
        const int64_t b1 = b0 + br < r1 ? b0 + br : r1;
        int64_t c0 = 0;
        do { /* (at least once: cols = 0 still writes y = 0) */
            const int64_t c1 = c0 + cb < cols ? c0 + cb : cols;
            for (int j = 0; j < n; j += FP_V)
                fp_group(W, rb, b0, b1, c0, c1, cols, n - j < FP_V ? n - j : FP_V, x + j, y + j,
                         cb < cols ? sv + j : sv, kind); /* (sv has one element without column blocks) */
            c0 += cb;
        } while (c0 < cols);
    }
}

#define FP_KERNELS(ROW, MULTI, kind)                                                                                 \
    FP_TGT void ROW(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,                 \
                    const mm_xq8 *xq, float *y) {                                                                  \
        (void)xq;                                                                                                  \
        fp_span(W, rb, r0, r1, 0, cols, cols, &x, &y, NULL, FP_R(1), 1, kind);                                      \
    }                                                                                                              \
    FP_TGT static void MULTI(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, int n,                \
                             const float *const *x, const mm_xq8 *const *xq, float *const *y) {                    \
        (void)xq;                                                                                                  \
        fp_multi(W, rb, r0, r1, cols, n, x, y, kind);                                                              \
    }

/* The three types' kernels of a level: row kernels R32, R16, RBF (mm_rows_fn) and GET(t), the mm_multi_fn of t. */
#define FP_LEVEL(GET, R32, R16, RBF)                                                                                \
    FP_KERNELS(R32, multi_f32, FP_F32)                                                                             \
    FP_KERNELS(R16, multi_f16, FP_F16)                                                                             \
    FP_KERNELS(RBF, multi_bf16, FP_BF16)                                                                           \
    mm_multi_fn GET(mm_type t) {                                                                                   \
        switch (t) {                                                                                               \
        case MM_TYPE_F32: return multi_f32;                                                                        \
        case MM_TYPE_F16: return multi_f16;                                                                        \
        case MM_TYPE_BF16: return multi_bf16;                                                                      \
        default: return NULL;                                                                                      \
        }                                                                                                          \
    }
