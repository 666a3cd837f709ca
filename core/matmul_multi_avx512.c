/* matmul_multi_avx512.c - register-blocked AVX-512 kernels for one matrix times up to 4 vectors (Q8_0, Q4_0;
 * Q4_K, Q5_K, Q6_K are in quants_avx512.c; F32, F16, BF16 in matvec_fp_avx512.c, which take any number of
 * vectors in one pass), used by mm_matvec_multi_rows at the avx512 level.
 *
 * Each weight row is loaded (and for Q8_0 split into |w| and its sign mask, for Q4_0 unpacked) once and used
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

/* Q8_0: q8_rows_R's order (R = 1; per row the same for every R): pairs of blocks, 4 blocks per step into
 * two accumulators, a remaining pair into the first, an odd last block (256 bits) into the second */
T512 static INL __m512 q8_pair(__m512i aw, __mmask64 neg, __m512 dw, const mm_xq8 *xq, int64_t i, __m512 acc) {
    const __m512i xv = _mm512_loadu_si512(xq->qs + i * MM_QK);
    const __m512i sx = _mm512_mask_sub_epi8(xv, neg, _mm512_setzero_si512(), xv);
    const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), aw, sx);
    const __m512 s = _mm512_mul_ps(dw, _mm512_loadu_ps(xq->d8 + i * 8));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc);
}

T512 static INL void q8_load(const mm_block_q8_0 *b, __m512i *aw, __mmask64 *neg, __m512 *dw) {
    const __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b[0].qs)),
                                         _mm256_loadu_si256((const __m256i *)b[1].qs), 1);
    *neg = _mm512_movepi8_mask(w);
    *aw = _mm512_abs_epi8(w);
    const __m256i dh = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)b[0].d)),
                                               _mm_set1_epi16((short)b[1].d), 1);
    *dw = _mm512_cvtph_ps(dh);
}

T512 static INL void q8_row(const mm_block_q8_0 *b, int64_t nb, const mm_xq8 *const *xq, float *const *y, int64_t r,
                            const int V) {
    __m512 a0[MULTI_V], a1[MULTI_V];
    for (int j = 0; j < V; j++) a0[j] = _mm512_setzero_ps(), a1[j] = _mm512_setzero_ps();
    __m512i aw;
    __mmask64 neg;
    __m512 dw;
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        _mm_prefetch((const char *)(b + i) + 8192, _MM_HINT_T0);
        _mm_prefetch((const char *)(b + i) + 8192 + 64, _MM_HINT_T0);
        _mm_prefetch((const char *)(b + i) + 8192 + 128, _MM_HINT_T0);
        q8_load(b + i, &aw, &neg, &dw);
        for (int j = 0; j < V; j++) a0[j] = q8_pair(aw, neg, dw, xq[j], i, a0[j]);
        q8_load(b + i + 2, &aw, &neg, &dw);
        for (int j = 0; j < V; j++) a1[j] = q8_pair(aw, neg, dw, xq[j], i + 2, a1[j]);
    }
    for (; i + 2 <= nb; i += 2) {
        q8_load(b + i, &aw, &neg, &dw);
        for (int j = 0; j < V; j++) a0[j] = q8_pair(aw, neg, dw, xq[j], i, a0[j]);
    }
    if (i < nb) { /* odd block count: one block in 256 bits */
        const __m256i w = _mm256_loadu_si256((const __m256i *)b[i].qs);
        const __m256i aw1 = _mm256_abs_epi8(w);
        const float dwi = _cvtsh_ss(b[i].d);
        for (int j = 0; j < V; j++) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[j]->qs + i * MM_QK));
            const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw1, _mm256_sign_epi8(xv, w));
            const __m256 sc = _mm256_set1_ps(dwi * xq[j]->d[i]);
            a1[j] = _mm512_add_ps(a1[j], _mm512_zextps256_ps512(_mm256_mul_ps(_mm256_cvtepi32_ps(p), sc)));
        }
    }
    for (int j = 0; j < V; j++) y[j][r] = hsum(_mm512_add_ps(a0[j], a1[j]));
}

/* Q4_0: q4_rows_plain's order (kernels_avx512.c, R = 1; per row the same for every R): quads of blocks, the
 * nibbles of 4 blocks gathered into one register, even quads into the first accumulator, odd ones into the
 * second; a remaining pair (mm_xq8 pair layout) and an odd last block into the second. The gather, the nibble
 * split and the 4 scales are done once per quad for all V vectors. */
T512 static INL void q4_row(const mm_block_q4_0 *b, int64_t nb, const mm_xq8 *const *xq, float *const *y, int64_t r,
                            const int V) {
    __m512 a0[MULTI_V], a1[MULTI_V];
    for (int j = 0; j < V; j++) a0[j] = _mm512_setzero_ps(), a1[j] = _mm512_setzero_ps();
    /* fp16 scales of 4 blocks: words 0, 9, 18, 27, 4 lanes each */
    const __m512i idxd = _mm512_set_epi16(27, 27, 27, 27, 18, 18, 18, 18, 9, 9, 9, 9, 0, 0, 0, 0,
                                          27, 27, 27, 27, 18, 18, 18, 18, 9, 9, 9, 9, 0, 0, 0, 0);
    const __m512i m = _mm512_set1_epi8(0x0f);
    const int64_t nq = nb & ~(int64_t)3;
    int64_t i = 0;
    for (; i < nq; i += 4) {
        const mm_block_q4_0 *bb = b + i;
        _mm_prefetch((const char *)bb + 8192, _MM_HINT_T0);
        _mm_prefetch((const char *)bb + 8192 + 64, _MM_HINT_T0);
        __m512i q = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)bb[0].qs));
        q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)bb[1].qs), 1);
        q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)bb[2].qs), 2);
        q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)bb[3].qs), 3);
        const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(idxd, _mm512_loadu_si512(bb))));
        const __m512i lo = _mm512_and_si512(q, m), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m);
        for (int j = 0; j < V; j++) {
            const mm_xq8 *x = xq[j];
            __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(x->qs4 + i * MM_QK));
            p = _mm512_dpbusd_epi32(p, hi, _mm512_loadu_si512(x->qs4 + i * MM_QK + 64));
            const __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(p), _mm512_loadu_ps(x->d4 + i * 8), _mm512_loadu_ps(x->s4 + i * 8));
            if ((i & 4) == 0) a0[j] = _mm512_fmadd_ps(t, dw, a0[j]);
            else a1[j] = _mm512_fmadd_ps(t, dw, a1[j]);
        }
    }
    for (; i + 2 <= nb; i += 2) { /* q4_pair_vnni */
        const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b[i].qs)),
                                                  _mm_loadu_si128((const __m128i *)b[i + 1].qs), 1);
        const __m256i m1 = _mm256_set1_epi8(0x0f);
        const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, m1)),
                                             _mm256_and_si256(_mm256_srli_epi16(v, 4), m1), 1);
        const __m128i dh = _mm_unpacklo_epi64(_mm_set1_epi16((short)b[i].d), _mm_set1_epi16((short)b[i + 1].d));
        const __m512 dw = _mm512_cvtph_ps(_mm256_broadcastsi128_si256(dh));
        for (int j = 0; j < V; j++) {
            const mm_xq8 *x = xq[j];
            const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, _mm512_loadu_si512(x->qs4 + i * MM_QK));
            const __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(p), _mm512_loadu_ps(x->d4 + i * 8), _mm512_loadu_ps(x->s4 + i * 8));
            a1[j] = _mm512_fmadd_ps(t, dw, a1[j]);
        }
    }
    if (i < nb) { /* odd block count: low nibbles = x[0:16], high = x[16:32] */
        const __m128i v = _mm_loadu_si128((const __m128i *)b[i].qs), m1 = _mm_set1_epi8(0x0f);
        const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, m1)),
                                                  _mm_and_si128(_mm_srli_epi16(v, 4), m1), 1);
        const __m256 dw = _mm256_set1_ps(_cvtsh_ss(b[i].d));
        for (int j = 0; j < V; j++) {
            const mm_xq8 *x = xq[j];
            const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, _mm256_loadu_si256((const __m256i *)(x->qs4 + i * MM_QK)));
            const __m256 t = _mm256_fmsub_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(x->d[i]), _mm256_set1_ps(x->ds[i]));
            a1[j] = _mm512_add_ps(a1[j], _mm512_zextps256_ps512(_mm256_mul_ps(t, dw)));
        }
    }
    for (int j = 0; j < V; j++) y[j][r] = hsum(_mm512_add_ps(a0[j], a1[j]));
}

/* rows [r0, r1) for V vectors, V a constant per instance: core_internal.h's one driver */
#define MULTI_FN(name, body) MM_MULTI_DRIVER(T512, name, body)

MULTI_FN(multi_q8_0, q8_row((const mm_block_q8_0 *)row, cols / MM_QK, xq, y, r, V))
MULTI_FN(multi_q4_0, q4_row((const mm_block_q4_0 *)row, cols / MM_QK, xq, y, r, V))

mm_multi_fn mm_multi_kernel(const mm_kernel_table *k, mm_type t) {
    if (k && k == &mm_kernels_avx2 && k->name) return mm_multi_kernel_avx2(t); /* matmul_multi_avx2.c */
    if (!k || k != &mm_kernels_avx512 || !k->name) return NULL;
    switch (t) {
    case MM_TYPE_F32:
    case MM_TYPE_F16:
    case MM_TYPE_BF16: return mm_fp_multi_avx512(t); /* matvec_fp_avx512.c */
    case MM_TYPE_Q8_0: return multi_q8_0;
    case MM_TYPE_Q4_0: return multi_q4_0;
    case MM_TYPE_Q4_K: return mm_q_multi_q4_k_avx512;
    case MM_TYPE_Q5_K: return mm_q_multi_q5_k_avx512;
    case MM_TYPE_Q6_K: return mm_q_multi_q6_k_avx512;
    default: return NULL;
    }
}
#else
mm_multi_fn mm_multi_kernel(const mm_kernel_table *k, mm_type t) {
    (void)k, (void)t;
    return NULL;
}
#endif
