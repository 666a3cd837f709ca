/* matmul_multi_avx512.c - register-blocked AVX-512 kernels for one matrix times up to 4 vectors (F32, F16; Q8_0,
 * Q4_0 are in kernels_avx512.c, up to 8 vectors, Q4_K, Q5_K, Q6_K in quants_avx512.c), used by
 * mm_matvec_multi_rows at the avx512 level; mm_multi_kernel / mm_multi_kernel_vmax pick them.
 *
 * Each weight row is loaded (and for F16 converted) once and used
 * for up to MULTI_V vectors: fewer loads and conversions per product than running kernels_avx512.c's row
 * kernel once per vector, which matters when the batched step is compute bound (the weights come from cache).
 * For every vector the arithmetic is exactly that of kernels_avx512.c's row kernel - the same accumulators,
 * the same order of the same operations, the same horizontal sum - so the results are bit-identical to
 * mm_matvec (tests/core/test_core_multi.c, memcmp). Keep them in step with kernels_avx512.c. */
#include "core_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")))
#define INL  __attribute__((always_inline)) inline

T512 static INL float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

/* 16 weights from column i of a row: f32, or f16 converted with vcvtph2ps (m: the columns present) */
T512 static INL __m512 wload(const void *w, int64_t i, __mmask16 m, const bool f16) {
    if (f16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i));
    return _mm512_maskz_loadu_ps(m, (const float *)w + i);
}

/* F32 / F16: rows_f32's and rows_f16's order: 4 accumulators over 64 columns, masked 16-column tail into the
 * first, (a0+a1)+(a2+a3) */
T512 static INL void fp_row(const void *w, int64_t cols, const float *const *x, float *const *y, int64_t r,
                            const int V, const bool f16) {
    __m512 a[MULTI_V][4];
    for (int j = 0; j < V; j++)
        for (int q = 0; q < 4; q++) a[j][q] = _mm512_setzero_ps();
    const int64_t c64 = cols & ~(int64_t)63;
    int64_t i = 0;
    for (; i < c64; i += 64)
        for (int q = 0; q < 4; q++) {
            const __m512 wq = wload(w, i + 16 * q, (__mmask16)0xffff, f16);
            for (int j = 0; j < V; j++) a[j][q] = _mm512_fmadd_ps(wq, _mm512_loadu_ps(x[j] + i + 16 * q), a[j][q]);
        }
    for (; i < cols; i += 16) {
        const int64_t left = cols - i;
        const __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        const __m512 wq = wload(w, i, m, f16);
        for (int j = 0; j < V; j++) a[j][0] = _mm512_fmadd_ps(wq, _mm512_maskz_loadu_ps(m, x[j] + i), a[j][0]);
    }
    for (int j = 0; j < V; j++) y[j][r] = hsum(_mm512_add_ps(_mm512_add_ps(a[j][0], a[j][1]), _mm512_add_ps(a[j][2], a[j][3])));
}

/* rows [r0, r1) for V vectors, V a constant per instance: core_internal.h's one driver */
#define MULTI_FN(name, body) MM_MULTI_DRIVER(T512, name, body)

MULTI_FN(multi_f32, fp_row(row, cols, x, y, r, V, false))
MULTI_FN(multi_f16, fp_row(row, cols, x, y, r, V, true))

mm_multi_fn mm_multi_kernel(const mm_kernel_table *k, mm_type t) {
    if (k && k == &mm_kernels_avx2 && k->name) return mm_multi_kernel_avx2(t); /* matmul_multi_avx2.c */
    if (!k || k != &mm_kernels_avx512 || !k->name) return NULL;
    switch (t) {
    case MM_TYPE_F32: return multi_f32;
    case MM_TYPE_F16: return multi_f16;
    case MM_TYPE_Q8_0: return mm_multi_q8_0_avx512; /* kernels_avx512.c */
    case MM_TYPE_Q4_0: return mm_multi_q4_0_avx512;
    case MM_TYPE_Q4_K: return mm_q_multi_q4_k_avx512;
    case MM_TYPE_Q5_K: return mm_q_multi_q5_k_avx512;
    case MM_TYPE_Q6_K: return mm_q_multi_q6_k_avx512;
    default: return NULL;
    }
}

/* the avx512 level's Q8_0 and Q4_0 kernels take MULTI_VMAX vectors in one pass, the others MULTI_V (Q4_K/Q5_K/Q6_K
 * at 8 vectors per pass were measured no faster or slower from cache: their accumulators no longer fit the registers) */
int mm_multi_kernel_vmax(const mm_kernel_table *k, mm_type t) {
    if (!k || k != &mm_kernels_avx512 || !k->name) return MULTI_V;
    return t == MM_TYPE_Q8_0 || t == MM_TYPE_Q4_0 ? MULTI_VMAX : MULTI_V;
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
