/* matvec_fp_driver.h - the row and vector driver of the F32/F16/BF16 tile kernels, included once by
 * matvec_fp_avx512.c and once by matvec_fp_avx2.c after their own fp_tile (private to those two files).
 *
 * The including file defines:
 *   FP_TGT          its target attribute;
 *   FP_V            vectors per pass (the largest V of a tile, 3..8);  FP_BLOCK_ROWS  rows per block when n > FP_V;
 *   FP_R(v)         rows per tile for v <= FP_V vectors (a constant expression; FP_R(1): the row kernel's);
 *   fp_tile(W, rb, r, cols, x, y, R, V, kind)   rows r .. r + R - 1 (R <= 8) times vectors x[0 .. V).
 * and gets:
 *   fp_span   rows [r0, r1) times V vectors: tiles of R rows, the rest in tiles of 4, 2, 1 rows (those below R);
 *   fp_multi  rows [r0, r1) times any n vectors: n <= FP_V in one pass, more in groups of FP_V per block of
 *             FP_BLOCK_ROWS rows (the block stays in L1 between the groups);
 *   FP_KERNELS(ROW, MULTI, kind)   the table's row kernel ROW (mm_rows_fn, one vector) and the mm_multi_fn MULTI;
 *   FP_LEVEL(GET, R32, R16, RBF)   the three types' kernels and GET(t), the level's mm_multi_fn of type t.
 * Each (row, vector) pair's arithmetic is fp_tile's whatever R and V, so every grouping gives the same bits. */

FP_TGT static inline __attribute__((always_inline)) void
fp_span(const uint8_t *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *const *x, float *const *y,
        const int R, const int V, const int kind) {
    int64_t r = r0;
    for (; r + R <= r1; r += R) fp_tile(W, rb, r, cols, x, y, R, V, kind);
    if (R > 4 && r + 4 <= r1) fp_tile(W, rb, r, cols, x, y, 4, V, kind), r += 4;
    if (R > 2 && r + 2 <= r1) fp_tile(W, rb, r, cols, x, y, 2, V, kind), r += 2;
    if (R > 1 && r < r1) fp_tile(W, rb, r, cols, x, y, 1, V, kind);
}

/* rows [r0, r1) times v <= FP_V (<= 8) vectors: the tile shape of that count */
#define FP_SPAN_V(v) fp_span(W, rb, r0, r1, cols, x, y, FP_R(v), v, kind)
FP_TGT static inline __attribute__((always_inline)) void
fp_group(const uint8_t *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, int v, const float *const *x,
         float *const *y, const int kind) {
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

FP_TGT static inline __attribute__((always_inline)) void
fp_multi(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, int n, const float *const *x,
         float *const *y, const int kind) {
    if (n <= FP_V) {
        fp_group(W, rb, r0, r1, cols, n, x, y, kind);
        return;
    }
    for (int64_t b0 = r0; b0 < r1; b0 += FP_BLOCK_ROWS) {
        const int64_t b1 = b0 + FP_BLOCK_ROWS < r1 ? b0 + FP_BLOCK_ROWS : r1;
        for (int j = 0; j < n; j += FP_V) fp_group(W, rb, b0, b1, cols, n - j < FP_V ? n - j : FP_V, x + j, y + j, kind);
    }
}

#define FP_KERNELS(ROW, MULTI, kind)                                                                                 \
    FP_TGT void ROW(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, const float *x,                 \
                    const mm_xq8 *xq, float *y) {                                                                  \
        (void)xq;                                                                                                  \
        fp_span(W, rb, r0, r1, cols, &x, &y, FP_R(1), 1, kind);                                                    \
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
