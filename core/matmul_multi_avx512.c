/* matmul_multi_avx512.c - the avx512 level's batched-decode dispatch: which register-blocked kernel takes one
 * matrix times several vectors for each type (mm_multi_kernel), and how many vectors it takes per pass
 * (mm_multi_kernel_vmax); used by mm_matvec_multi_rows (matmul_multi.c).
 *
 * The kernels live beside their row kernels, each written once for 1..V vectors, the one-vector instance being the
 * level's row kernel, so batched results are bit-identical to mm_matvec by construction
 * (tests/core/test_core_multi.c, memcmp):
 *   - F32, F16, BF16: matvec_fp_avx512.c (register tiles of rows x vectors, any number of vectors and the whole
 *     row range in one call: MULTI_VANY; the same at the avx2 level, matvec_fp_avx2.c);
 *   - Q8_0, Q4_0: kernels_avx512.c (up to MULTI_VMAX = 8 vectors per pass);
 *   - Q4_K, Q5_K, Q6_K: quants_avx512.c (MULTI_VMAX = 8 per pass: one 32-bit lane per sub-block / block of 32).
 * The avx2 level's dispatch is matmul_multi_avx2.c's. */
#include "core_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
mm_multi_fn mm_multi_kernel(const mm_kernel_table *k, mm_type t) {
    if (k && k == &mm_kernels_avx2 && k->name) return mm_multi_kernel_avx2(t); /* matmul_multi_avx2.c */
    if (!k || k != &mm_kernels_avx512 || !k->name) return NULL;
    switch (t) {
    case MM_TYPE_F32:
    case MM_TYPE_F16:
    case MM_TYPE_BF16: return mm_fp_multi_avx512(t); /* matvec_fp_avx512.c */
    case MM_TYPE_Q8_0: return mm_multi_q8_0_avx512;  /* kernels_avx512.c */
    case MM_TYPE_Q4_0: return mm_multi_q4_0_avx512;
    case MM_TYPE_Q4_K: return mm_q_multi_q4_k_avx512;
    case MM_TYPE_Q5_K: return mm_q_multi_q5_k_avx512;
    case MM_TYPE_Q6_K: return mm_q_multi_q6_k_avx512;
    default: return NULL;
    }
}

/* the F32/F16/BF16 kernels of both levels take any number of vectors over the whole range (MULTI_VANY); the avx512
 * level's Q8_0, Q4_0, Q4_K, Q5_K and Q6_K kernels take MULTI_VMAX vectors in one pass, the others MULTI_V */
int mm_multi_kernel_vmax(const mm_kernel_table *k, mm_type t) {
    if (k && k->name && (k == &mm_kernels_avx512 || k == &mm_kernels_avx2) &&
        (t == MM_TYPE_F32 || t == MM_TYPE_F16 || t == MM_TYPE_BF16))
        return MULTI_VANY;
    if (!k || k != &mm_kernels_avx512 || !k->name) return MULTI_V;
    return t == MM_TYPE_Q8_0 || t == MM_TYPE_Q4_0 || t == MM_TYPE_Q4_K || t == MM_TYPE_Q5_K || t == MM_TYPE_Q6_K
               ? MULTI_VMAX
               : MULTI_V;
}
#else
mm_multi_fn mm_multi_kernel(const mm_kernel_table *k, mm_type t) {
    (void)k, (void)t;
    return NULL;
}
int mm_multi_kernel_vmax(const mm_kernel_table *k, mm_type t) {
    (void)k, (void)t;
    return MULTI_V;
}
#endif
