/* ops_avx512.c - AVX-512 versions of the elementwise ops (chosen by ops.c at the avx512 kernel level).
 *
 * exp: Cephes-style, n = round(x log2 e), r = x - n ln2 (two-part ln2), degree-6 polynomial, scaled by
 *      2^n with vscalefps (underflows to 0 / overflows to inf like expf); about 1 ulp.
 * gelu_tanh(x) = 0.5 x (1 + tanh(u)) is computed as x * sigmoid(2u), the same function without the
 *      cancellation of 1 + tanh(u) for negative x. quick_gelu = x * sigmoid(1.702 x).
 * gelu_erf(x) = x * Phi(x), Phi(x) = 0.5 erfc(-x / sqrt 2), with erfc from the Chebyshev-fitted formula
 *      erfc(z) = t exp(-z^2 - 1.26551223 + t P(t)), t = 1/(1 + z/2) (Numerical Recipes "erfcc",
 *      fractional error < 1.2e-7 for z >= 0); erfc(-z) = 2 - erfc(z).
 * Results agree with float64 references to a few float32 ulps (tests/core/test_core_numerics.py).
 */
#include <math.h>

#include "core_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

T512 static inline __m512 exp512(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(89.0f)), _mm512_set1_ps(-104.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 y = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);
}

/* x * sigmoid(k * z) */
T512 static inline __m512 x_sigmoid(__m512 x, __m512 z) {
    __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), z));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

#define FOR_VEC(n, body)                                                            \
    for (int64_t i = 0; i < (n); i += 16) {                                         \
        int64_t left = (n) - i;                                                     \
        __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1); \
        body                                                                        \
    }

T512 void mm_ops512_gelu_tanh(float *x, int64_t n) {
    const __m512 c2 = _mm512_set1_ps(2.0f * 0.7978845608028654f), k = _mm512_set1_ps(0.044715f);
    FOR_VEC(n, {
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 u = _mm512_mul_ps(c2, _mm512_fmadd_ps(_mm512_mul_ps(k, v), _mm512_mul_ps(v, v), v));
        _mm512_mask_storeu_ps(x + i, m, x_sigmoid(v, u));
    })
}

T512 void mm_ops512_quick_gelu(float *x, int64_t n) {
    const __m512 k = _mm512_set1_ps(1.702f);
    FOR_VEC(n, {
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(x + i, m, x_sigmoid(v, _mm512_mul_ps(k, v)));
    })
}

T512 void mm_ops512_gelu_erf(float *x, int64_t n) {
    FOR_VEC(n, {
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 z = _mm512_mul_ps(_mm512_abs_ps(v), _mm512_set1_ps(0.7071067811865476f));
        __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_set1_ps(0.5f), z, _mm512_set1_ps(1.0f)));
        __m512 p = _mm512_set1_ps(0.17087277f);
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.82215223f));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.48851587f));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.13520398f));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.27886807f));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.18628806f));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.09678418f));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.37409196f));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.00002368f));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.26551223f));
        __m512 a = _mm512_fnmadd_ps(z, z, p);                    /* -z^2 - 1.2655 + t P(t) */
        __m512 erfc_z = _mm512_mul_ps(t, exp512(a));              /* erfc(|x|/sqrt2) */
        __m512 half = _mm512_mul_ps(_mm512_set1_ps(0.5f), erfc_z); /* Phi(-|x|) */
        __mmask16 pos = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ);
        __m512 phi = _mm512_mask_sub_ps(half, pos, _mm512_set1_ps(1.0f), half);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(v, phi));
    })
}

T512 void mm_ops512_softmax(float *x, int64_t n) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    FOR_VEC(n, { mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, x + i)); })
    float max = _mm512_reduce_max_ps(mx);
    if (max == -INFINITY) {
        FOR_VEC(n, { _mm512_mask_storeu_ps(x + i, m, _mm512_setzero_ps()); })
        return;
    }
    __m512 vmax = _mm512_set1_ps(max), sum = _mm512_setzero_ps();
    FOR_VEC(n, {
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmax));
        sum = _mm512_mask_add_ps(sum, m, sum, e);
        _mm512_mask_storeu_ps(x + i, m, e);
    })
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    FOR_VEC(n, { _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv)); })
}

T512 void mm_ops512_layernorm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps) {
    __m512 s = _mm512_setzero_ps();
    FOR_VEC(n, { s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(m, x + i)); })
    float mean = _mm512_reduce_add_ps(s) / (float)n;
    __m512 vm = _mm512_set1_ps(mean), v2 = _mm512_setzero_ps();
    FOR_VEC(n, {
        __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), vm);
        v2 = _mm512_fmadd_ps(d, d, v2);
    })
    float rstd = 1.0f / sqrtf(_mm512_reduce_add_ps(v2) / (float)n + eps);
    __m512 vr = _mm512_set1_ps(rstd);
    FOR_VEC(n, {
        __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm), vr);
        if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
        if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + i));
        _mm512_mask_storeu_ps(y + i, m, v);
    })
}

T512 void mm_ops512_add(float *y, const float *a, const float *b, int64_t n) {
    FOR_VEC(n, { _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i))); })
}

T512 void mm_ops512_scale(float *x, float s, int64_t n) {
    __m512 vs = _mm512_set1_ps(s);
    FOR_VEC(n, { _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vs)); })
}

/* argmax (the first index of the largest value; NaNs are never chosen unless x[0] is one, as the plain loop): per
 * lane the running maximum (replaced only when strictly greater, so each lane keeps its first index of it) and its
 * index, then the smallest index among the lanes holding the overall maximum. n >= 1. */
T512 int32_t mm_ops512_argmax(const float *x, int64_t n) {
    if (x[0] != x[0]) return 0;
    __m512 best = _mm512_set1_ps(x[0]);
    __m512i bi = _mm512_setzero_si512(), idx = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i step = _mm512_set1_epi32(16);
    FOR_VEC(n, {
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __mmask16 g = _mm512_mask_cmp_ps_mask(m, v, best, _CMP_GT_OQ);
        best = _mm512_mask_mov_ps(best, g, v);
        bi = _mm512_mask_mov_epi32(bi, g, idx);
        idx = _mm512_add_epi32(idx, step);
    })
    const float mx = _mm512_reduce_max_ps(best);
    const __mmask16 at = _mm512_cmp_ps_mask(best, _mm512_set1_ps(mx), _CMP_EQ_OQ);
    return (int32_t)_mm512_mask_reduce_min_epu32(at, bi);
}

/* the first index of a NaN or an infinity (exponent bits all ones), or -1 */
T512 int64_t mm_ops512_find_nonfinite(const float *x, int64_t n) {
    const __m512i e = _mm512_set1_epi32(0x7f800000);
    FOR_VEC(n, {
        const __m512i v = _mm512_maskz_loadu_epi32(m, x + i);
        const __mmask16 bad = _mm512_mask_cmpeq_epi32_mask(m, _mm512_and_si512(v, e), e);
        if (bad) return i + __builtin_ctz(bad);
    })
    return -1;
}
#endif
