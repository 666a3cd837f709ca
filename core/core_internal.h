/* core_internal.h - private to core/: kernel tables chosen at run time, scratch helper, BLAS setup. */
#ifndef MM_CORE_INTERNAL_H
#define MM_CORE_INTERNAL_H

#include "mm_core.h"

/* x quantized to 8 bits per block of 32 (ggml Q8_0 rounding: d = amax/127, q = round(x/d)), laid out
 * for integer dot products (nb = cols/32 blocks):
 *   qs  [cols]   quantized x in order
 *   qs4 [cols]   same values, blocks taken in pairs and 16-byte halves interleaved as
 *                [b0 0:16, b1 0:16, b0 16:32, b1 16:32] (matches Q4_0 low/high nibbles of two blocks);
 *                a trailing odd block stays in order
 *   d   [nb]     scale of block i;   ds [nb]  d[i] * sum(qs of block i)
 *   d8  [nb*8]   d[i] repeated 8 times (one 8-lane group per block)
 *   d4  [nb*8]   per pair of blocks (i even): [d_i x4, d_i+1 x4, d_i x4, d_i+1 x4] (qs4 lane order)
 *   s4  [nb*8]   same pattern with ds (Q4_0's -8 offset: sum (q-8) x = sum q x - 8 sum x)
 *   qt  [cols]   (avx512 level only: quantize_x_avx512 fills it, the other levels leave it unset) blocks in groups
 *                of 16, then one group of 8 if nb % 16 >= 8, each group transposed to one 32-bit lane per block:
 *                group at block g, width G (16 or 8): qt[32g + 4G k + 4p + e] = qs[32(g + p) + 4k + e], k < 8
 *                (register k of the group holds elements 4k..4k+3 of its G blocks), except that the group of 8
 *                packs registers k and k + 4 (k < 4) into 64 bytes for one 512-bit load: register k at
 *                32g + 64 (k % 4) + 32 (k / 4) (mm_qt_dots8); the rest of qt is unused
 *   qtu [cols]   (avx512 level only, as qt) qt + 128 as unsigned bytes, the groups of qt only: the Q8_0 kernel's x
 *   qu  [cols]   (avx512 level only, as qt) qs + 128 as unsigned bytes (1..255), in order: vpdpbusd multiplies unsigned
 *                by signed bytes, so Q6_K takes x + 128 against its signed codes q - 32 (quants_avx512.c)
 *   qu4 [cols]   (avx512 level only, as qt) the same for the whole quads of blocks (nb & ~3 blocks) in quad layout (the
 *                avx512 Q8_0 and Q4_0 kernels' lanes: blocks i..i+3, elements 0..15 of the four then 16..31,
 *                kernels_avx512.c): Q8_0 takes x + 128 against its signed weights
 *   s8  [nb]     8 ds[i] (avx512 level only, as qt)
 *   s16 [nb*2]   sum(qs) of each 16 elements in order (|s| <= 2032; Q6_K's -32 offset per sub-block of 16:
 *                sum sc (q-32) x = sum sc q x - 32 sum sc s16, matmul_multi_avx2.c); every quantizer fills it */
typedef struct {
    int8_t *qs, *qs4, *qt;
    uint8_t *qu, *qu4, *qtu;
    float  *d, *ds, *d8, *d4, *s4, *s8;
    int16_t *s16;
} mm_xq8;
size_t mm_xq8_bytes(int64_t cols);                         /* scratch needed for mm_xq8_quantize */
/* Carve the arrays out of mem (mm_xq8_bytes(cols), 64-byte aligned) and fill them. */
void   mm_xq8_layout(int64_t cols, void *mem, mm_xq8 *out);
void   mm_xq8_quantize(const float *x, int64_t cols, void *mem, mm_xq8 *out);

/* Rows [r0, r1) of y = W x for one weight type. W points at row 0; rows are row_bytes apart.
 * xq is x quantized (see mm_xq8) when the table's wants_xq flag is set for that type, else NULL. */
typedef void (*mm_rows_fn)(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t cols,
                           const float *x, const mm_xq8 *xq, float *y);
/* Dequantize one row of n elements (n a multiple of the block size). */
typedef void (*mm_deq_fn)(const void *src, float *y, int64_t n);

/* Types in the kernel tables, in this order (mm_core_type_index): F32, F16, Q8_0, Q4_0, then the types of
 * quants.c: BF16, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K. */
#define MM_N_KTYPES 11

/* Software prefetch of a matvec kernel's weight stream: the cache line at p + MM_PF_AHEAD + off (issue one per
 * 64 bytes of weights consumed). 8 KiB ahead was measured best for the Q8_0/Q4_0/F16 AVX-512 kernels
 * (kernels_avx512.c, which keeps its own tuned PF/PF16 macros); the other kernels use this one (figures in
 * bench/README.md). Past the end of a row it fetches the next row (rows are contiguous); past the matrix it is
 * a hint that never faults. It changes no result. Non-temporal (locality 0, prefetchnta): the weights are read once
 * per token, and keeping them out of the outer caches' normal replacement made the F16 decode 1.03-1.42x faster at
 * two threads here (batch 1 and batched; bench/README.md "Non-temporal weight prefetch"; T0 before). */
#ifndef MM_PF_AHEAD
#define MM_PF_AHEAD 8192
#endif
#ifndef MM_PREFETCH   /* (a benchmark may compile a kernel file again with another definition to compare) */
#define MM_PREFETCH(p, off) __builtin_prefetch((const char *)(p) + MM_PF_AHEAD + (off), 0, 0)
#endif

typedef struct {
    const char *name;
    mm_rows_fn rows[MM_N_KTYPES];      /* index by mm_core_type_index */
    bool wants_xq[MM_N_KTYPES];        /* kernel takes x quantized to 8 bits (mm_xq8) */
    mm_deq_fn deq[MM_N_KTYPES];
    void (*quantize_x)(const float *x, int64_t cols, void *mem, mm_xq8 *out);   /* NULL: mm_xq8_quantize */
    void (*to_f16)(const float *x, uint16_t *y, int64_t n);   /* NULL: scalar mm_fp32_to_fp16 (F16C: RNE) */
} mm_kernel_table;

/* x quantized to 8 bits by level k's quantizer (the one every quantized-x kernel of k reads: matvec, batched) */
static inline void mm_core_quantize_x(const mm_kernel_table *k, const float *x, int64_t cols, void *mem, mm_xq8 *out) {
    (k->quantize_x ? k->quantize_x : mm_xq8_quantize)(x, cols, mem, out);
}

static inline int mm_core_type_index(mm_type t) {
    switch (t) {
    case MM_TYPE_F32: return 0;
    case MM_TYPE_F16: return 1;
    case MM_TYPE_Q8_0: return 2;
    case MM_TYPE_Q4_0: return 3;
    case MM_TYPE_BF16: return 4;
    case MM_TYPE_Q4_1: return 5;
    case MM_TYPE_Q5_0: return 6;
    case MM_TYPE_Q5_1: return 7;
    case MM_TYPE_Q4_K: return 8;
    case MM_TYPE_Q5_K: return 9;
    case MM_TYPE_Q6_K: return 10;
    default: return -1;
    }
}

/* ---- quants.c, quants_avx2.c, quants_avx512.c: BF16, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K.
 * Plain-C dequantization of those types (exact values of mm_core.h) and the reference quantizers. */
void mm_quants_deq_scalar(mm_type t, const void *src, float *y, int64_t n);
void mm_quants_quantize(mm_type t, const float *x, void *dst, int64_t n);
/* Each level's kernels for table entries 4..10, listed in the tables with the macros below. At the avx2 and
 * avx512 levels every quantized type takes x quantized to 8 bits per block of 32 (mm_xq8), BF16 f32 x. */
#define MM_QUANTS_DECL(lvl)                                                                                  \
    void mm_q_rows_bf16_##lvl(const void *, size_t, int64_t, int64_t, int64_t, const float *, const mm_xq8 *, float *); \
    void mm_q_rows_q4_1_##lvl(const void *, size_t, int64_t, int64_t, int64_t, const float *, const mm_xq8 *, float *); \
    void mm_q_rows_q5_0_##lvl(const void *, size_t, int64_t, int64_t, int64_t, const float *, const mm_xq8 *, float *); \
    void mm_q_rows_q5_1_##lvl(const void *, size_t, int64_t, int64_t, int64_t, const float *, const mm_xq8 *, float *); \
    void mm_q_rows_q4_k_##lvl(const void *, size_t, int64_t, int64_t, int64_t, const float *, const mm_xq8 *, float *); \
    void mm_q_rows_q5_k_##lvl(const void *, size_t, int64_t, int64_t, int64_t, const float *, const mm_xq8 *, float *); \
    void mm_q_rows_q6_k_##lvl(const void *, size_t, int64_t, int64_t, int64_t, const float *, const mm_xq8 *, float *); \
    void mm_q_deq_bf16_##lvl(const void *, float *, int64_t);                                                 \
    void mm_q_deq_q4_1_##lvl(const void *, float *, int64_t);                                                 \
    void mm_q_deq_q5_0_##lvl(const void *, float *, int64_t);                                                 \
    void mm_q_deq_q5_1_##lvl(const void *, float *, int64_t);                                                 \
    void mm_q_deq_q4_k_##lvl(const void *, float *, int64_t);                                                 \
    void mm_q_deq_q5_k_##lvl(const void *, float *, int64_t);                                                 \
    void mm_q_deq_q6_k_##lvl(const void *, float *, int64_t);
MM_QUANTS_DECL(generic)
MM_QUANTS_DECL(avx2)
MM_QUANTS_DECL(avx512)
#define MM_QUANTS_ROWS(lvl) mm_q_rows_bf16_##lvl, mm_q_rows_q4_1_##lvl, mm_q_rows_q5_0_##lvl, mm_q_rows_q5_1_##lvl, \
                            mm_q_rows_q4_k_##lvl, mm_q_rows_q5_k_##lvl, mm_q_rows_q6_k_##lvl
#define MM_QUANTS_DEQ(lvl) mm_q_deq_bf16_##lvl, mm_q_deq_q4_1_##lvl, mm_q_deq_q5_0_##lvl, mm_q_deq_q5_1_##lvl, \
                           mm_q_deq_q4_k_##lvl, mm_q_deq_q5_k_##lvl, mm_q_deq_q6_k_##lvl
#define MM_QUANTS_WANTS_XQ false, true, true, true, true, true, true

/* Plain-C dequantization (the generic level's; mm_dequantize_row dispatches to the level's deq). */
void mm_core_deq_scalar(mm_type t, const void *src, float *y, int64_t n);

/* Register-blocked kernels of one matrix times n <= MULTI_V vectors, each vector's rows bit-identical to the
 * table's row kernel: at the avx512 level F32, F16, Q8_0, Q4_0 (matmul_multi_avx512.c) and Q4_K, Q5_K, Q6_K
 * (quants_avx512.c); at the avx2 level every type (matmul_multi_avx2.c). NULL where a level or type has none
 * (mm_matvec_multi_rows then runs the row kernel once per vector over each tile). */
#define MULTI_V 4
typedef void (*mm_multi_fn)(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t cols, int n,
                            const float *const *x, const mm_xq8 *const *xq, float *const *y);
/* The one row driver of the register-blocked kernels (matmul_multi_avx2.c, matmul_multi_avx512.c): MULTI##_v runs
 * `body` (which sees row, r, cols, x, xq, y and the constant V) for rows [r0, r1); MULTI is the mm_multi_fn taking n
 * vectors 4 at a time, each count 1..4 its own instance. TGT: the level's target attribute. */
#define MM_MULTI_DRIVER(TGT, MULTI, body)                                                                            \
    TGT static inline __attribute__((always_inline)) void MULTI##_v(const void *W, size_t rb, int64_t r0, int64_t r1, \
                                                                    int64_t cols, const float *const *x,              \
                                                                    const mm_xq8 *const *xq, float *const *y,         \
                                                                    const int V) {                                    \
        (void)x, (void)xq;                                                                                           \
        for (int64_t r = r0; r < r1; r++) {                                                                          \
            const uint8_t *row = (const uint8_t *)W + (size_t)r * rb;                                                \
            body;                                                                                                    \
        }                                                                                                            \
    }                                                                                                                \
    TGT static void MULTI(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols, int n,                     \
                          const float *const *x, const mm_xq8 *const *xq, float *const *y) {                         \
        for (int j = 0; j < n; j += 4) /* (4 at a time whatever MULTI_V >= 4 allows) */                            \
            switch (n - j) {                                                                                         \
            case 1: MULTI##_v(W, rb, r0, r1, cols, x + j, xq + j, y + j, 1); break;                                  \
            case 2: MULTI##_v(W, rb, r0, r1, cols, x + j, xq + j, y + j, 2); break;                                  \
            case 3: MULTI##_v(W, rb, r0, r1, cols, x + j, xq + j, y + j, 3); break;                                  \
            default: MULTI##_v(W, rb, r0, r1, cols, x + j, xq + j, y + j, 4); break;                                 \
            }                                                                                                        \
    }
mm_multi_fn mm_multi_kernel(const mm_kernel_table *k, mm_type t);
/* Some kernels take up to MULTI_VMAX vectors in one pass over the rows (the avx512 level's Q8_0, Q4_0, Q4_K): mm_multi_kernel_vmax gives the most vectors one call of mm_multi_kernel(k, t) takes (MULTI_V for the
 * others), or MULTI_VANY for a kernel that takes any n <= MM_MATVEC_MULTI_GROUP and the whole row range in one
 * call, blocking the rows itself (F32/F16/BF16 at avx2/avx512); mm_matvec_multi_rows passes up to that many. MM_MULTI8_SWITCH(n, call) runs call(V) with the constant
 * V = n (1..MULTI_VMAX; n > MULTI_VMAX: MULTI_VMAX), each count its own instance. */
#define MULTI_VMAX 8
#define MULTI_VANY 0
int mm_multi_kernel_vmax(const mm_kernel_table *k, mm_type t);
#define MM_MULTI8_SWITCH(n, call)                                                                                    \
    switch (n) {                                                                                                     \
    case 1: call(1); break;                                                                                          \
    case 2: call(2); break;                                                                                          \
    case 3: call(3); break;                                                                                          \
    case 4: call(4); break;                                                                                          \
    case 5: call(5); break;                                                                                          \
    case 6: call(6); break;                                                                                          \
    case 7: call(7); break;                                                                                          \
    default: call(8); break;                                                                                         \
    }
/* matmul_multi_avx2.c: the avx2 level's kernels, each type written once for 1..4 vectors: the multi kernel of
 * every type and, as its one-vector instance, the table's row kernel (below; the types of quants.c under their
 * MM_QUANTS_DECL(avx2) names). */
mm_multi_fn mm_multi_kernel_avx2(mm_type t);
void mm_rows_f32_avx2(const void *, size_t, int64_t, int64_t, int64_t, const float *, const mm_xq8 *, float *);
void mm_rows_f16_avx2(const void *, size_t, int64_t, int64_t, int64_t, const float *, const mm_xq8 *, float *);
void mm_rows_q8_0_avx2(const void *, size_t, int64_t, int64_t, int64_t, const float *, const mm_xq8 *, float *);
void mm_rows_q4_0_avx2(const void *, size_t, int64_t, int64_t, int64_t, const float *, const mm_xq8 *, float *);
/* matvec_fp_avx512.c, matvec_fp_avx2.c: the F32, F16 and BF16 kernels of the avx512 and avx2 levels, each written
 * once for a register tile of R rows x V vectors with the same arithmetic per (row, vector): the table's row kernels
 * (below, and mm_q_rows_bf16_avx512/avx2) are their one-vector instances, so a row's result does not depend on
 * how many vectors share the pass. Their multi kernels take any n <= MM_MATVEC_MULTI_GROUP in ONE call (one pass
 * over the rows): mm_multi_kernel returns them, and mm_multi_kernel_vmax says MULTI_VANY for them (the other
 * types' kernels are called per tile of rows with at most MULTI_V / MULTI_VMAX vectors at a time). */
mm_multi_fn mm_fp_multi_avx512(mm_type t);
mm_multi_fn mm_fp_multi_avx2(mm_type t);
void mm_rows_f32_avx512(const void *, size_t, int64_t, int64_t, int64_t, const float *, const mm_xq8 *, float *);
void mm_rows_f16_avx512(const void *, size_t, int64_t, int64_t, int64_t, const float *, const mm_xq8 *, float *);
/* quants_avx512.c: the avx512 level's Q4_K (n <= MULTI_VMAX), Q5_K, Q6_K kernels for n <= MULTI_V vectors (each written once for
 * 1..MULTI_V vectors; the row kernels mm_q_rows_*_avx512 are their one-vector instances); kernels_avx512.c: the
 * same for Q8_0 and Q4_0 with n <= MULTI_VMAX (mm_multi_q8_0_avx512, mm_multi_q4_0_avx512) */
void mm_q_multi_q4_k_avx512(const void *, size_t, int64_t, int64_t, int64_t, int, const float *const *, const mm_xq8 *const *, float *const *);
void mm_q_multi_q5_k_avx512(const void *, size_t, int64_t, int64_t, int64_t, int, const float *const *, const mm_xq8 *const *, float *const *);
void mm_q_multi_q6_k_avx512(const void *, size_t, int64_t, int64_t, int64_t, int, const float *const *, const mm_xq8 *const *, float *const *);
void mm_multi_q8_0_avx512(const void *, size_t, int64_t, int64_t, int64_t, int, const float *const *, const mm_xq8 *const *, float *const *);
void mm_multi_q4_0_avx512(const void *, size_t, int64_t, int64_t, int64_t, int, const float *const *, const mm_xq8 *const *, float *const *);

extern const mm_kernel_table mm_kernels_generic;
extern const mm_kernel_table mm_kernels_avx2;    /* empty name when not compiled */
extern const mm_kernel_table mm_kernels_avx512;
const mm_kernel_table *mm_core_kernels(void);

/* Second operand of the own f32 gemm (sgemm_avx512.c): B[k, n] given as */
typedef enum {
    MM_GEMM_B_ROWMAJOR = 0,   /* f[kk * ld + j] */
    MM_GEMM_B_TRANS = 1,      /* f[j * ld + kk] */
    MM_GEMM_B_WEIGHT = 2,     /* weight rows of `type`: row j (rb bytes apart) is column j; deq converts */
} mm_gemm_b_kind;
typedef struct {
    mm_gemm_b_kind kind;
    const float *f;
    int64_t ld;
    const void *w;
    mm_type type;
    size_t rb;
    mm_deq_fn deq;
} mm_gemm_b;
/* C = alpha A op(B) + beta C with AVX-512. Returns -1 (nothing done) when AVX-512 is not compiled in or scratch cannot be had; the caller then uses OpenBLAS. */
int mm_core_gemm_avx512(mm_pool *pool, const mm_gemm_b *b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float *A, int64_t lda, float beta, float *C, int64_t ldc);

/* Per-thread scratch bytes mm_core_gemm_avx512 uses (any shape); 0 when AVX-512 is not compiled in. */
size_t mm_core_gemm_scratch_bytes(void);

/* Whether mm_linear (n > 1) / mm_sgemm use the own AVX-512 gemm (default at the avx512 level unless
 * MMGPT_GEMM=openblas) or OpenBLAS. Settable for benchmarks comparing both in one run. */
bool mm_core_use_own_gemm(void);
void mm_core_set_own_gemm(bool on);

/* Y[n, rows] = X[n, cols] W^T for Q4_0, Q4_K and Q8_0 weights with x quantized to 8 bits per block of 32 and integer
 * dot products (gemm_int8.c: AVX2 vpmaddubsw, or AVX-512 VNNI at the avx512 level; numerics of the quantized-x
 * matvec). Returns -1 (nothing done) for other types, at the generic level, when cols is not a multiple of the
 * block size, or when scratch cannot be had. mm_core_gemm_int8_ref is its naive reference (same quantization,
 * same order of the per-block sums: the same bits; -1 for other types). */
int mm_core_gemm_int8(mm_pool *pool, mm_type t, const void *W, int64_t rows, int64_t cols, int64_t n,
                      const float *X, float *Y);
int mm_core_gemm_int8_ref(mm_type t, const void *W, int64_t rows, int64_t cols, int64_t n, const float *X, float *Y);
/* Whether mm_linear (n > 1) takes type t through the int8 gemm (Q4_0, Q4_K at avx2/avx512 unless
 * MMGPT_GEMM=f32 or openblas; Q8_0 too with MMGPT_GEMM=int8-q8_0; settable for benchmarks comparing both in one
 * run: mm_core_set_int8_gemm keeps the Q8_0 choice). */
bool mm_core_use_int8_gemm(mm_type t);
void mm_core_set_int8_gemm(bool on);

/* AVX-512 elementwise ops (ops_avx512.c), used by ops.c at the avx512 level */
void mm_ops512_gelu_tanh(float *x, int64_t n);
void mm_ops512_gelu_erf(float *x, int64_t n);
void mm_ops512_quick_gelu(float *x, int64_t n);
void mm_ops512_softmax(float *x, int64_t n);
void mm_ops512_layernorm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps);
void mm_ops512_add(float *y, const float *a, const float *b, int64_t n);
void mm_ops512_scale(float *x, float s, int64_t n);
int32_t mm_ops512_argmax(const float *x, int64_t n);          /* n >= 1 */
int64_t mm_ops512_find_nonfinite(const float *x, int64_t n);
/* AVX2 elementwise ops (ops_avx2.c), used by ops.c at the avx2 level */
void mm_ops256_gelu_tanh(float *x, int64_t n);
void mm_ops256_gelu_erf(float *x, int64_t n);
void mm_ops256_quick_gelu(float *x, int64_t n);
void mm_ops256_softmax(float *x, int64_t n);
void mm_ops256_layernorm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps);
void mm_ops256_add(float *y, const float *a, const float *b, int64_t n);
void mm_ops256_scale(float *x, float s, int64_t n);
int32_t mm_ops256_argmax(const float *x, int64_t n);          /* n >= 1 */
int64_t mm_ops256_find_nonfinite(const float *x, int64_t n);

/* Kernel scratch, kept apart from the callers' mm_pool_reserve scratch (whose pointers a caller may
 * hold): mm_core_reserve (from the caller's thread, outside mm_pool_run) grows every thread's buffer of
 * the pool, or the caller-thread buffer when pool == NULL; mm_core_scratch gives thread ith's buffer
 * (pool == NULL: a per-thread buffer that grows on demand, freed at thread exit), NULL if too small. */
int   mm_core_reserve(mm_pool *pool, size_t bytes);
void *mm_core_scratch(mm_pool *pool, int ith, size_t bytes);

/* Put OpenBLAS at one thread (core's pool is the only way threads run); idempotent. */
void mm_core_blas_init(void);

#endif
