/* ops_avx2.c - AVX2/FMA versions of the elementwise ops (chosen by ops.c at the avx2 kernel level).
 * Same formulas as ops_avx512.c (exp: Cephes polynomial; gelu_tanh = x sigmoid(2u); gelu_erf via erfc);
 * 2^n is built in the exponent bits, so the exp argument is clamped to [-87.3, 88.3] (results that
 * would underflow give ~1e-38 instead of 0; all uses add or divide it away). Tails are masked. */
#include <math.h>

#include "core_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T256 __attribute__((target("avx2,fma")))

T256 static inline __m256 exp256(__m256 x) {
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3f)), _mm256_set1_ps(-87.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

T256 static inline __m256 x_sigmoid(__m256 x, __m256 z) {
    __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), z));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

T256 static inline __m256i tail_mask(int64_t left) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(left < 8 ? left : 8)), idx);
}

#define FOR_VEC(n, body)                                \
    for (int64_t i = 0; i < (n); i += 8) {              \
        __m256i m = tail_mask((n) - i);                 \
        body                                            \
    }
#define LD(p) _mm256_maskload_ps((p) + i, m)
#define ST(p, v) _mm256_maskstore_ps((p) + i, m, (v))

T256 static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
T256 static inline float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

T256 void mm_ops256_gelu_tanh(float *x, int64_t n) {
    const __m256 c2 = _mm256_set1_ps(2.0f * 0.7978845608028654f), k = _mm256_set1_ps(0.044715f);
    FOR_VEC(n, {
        __m256 v = LD(x);
        __m256 u = _mm256_mul_ps(c2, _mm256_fmadd_ps(_mm256_mul_ps(k, v), _mm256_mul_ps(v, v), v));
        ST(x, x_sigmoid(v, u));
    })
}

T256 void mm_ops256_quick_gelu(float *x, int64_t n) {
    const __m256 k = _mm256_set1_ps(1.702f);
    FOR_VEC(n, {
        __m256 v = LD(x);
        ST(x, x_sigmoid(v, _mm256_mul_ps(k, v)));
    })
}

T256 void mm_ops256_gelu_erf(float *x, int64_t n) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    FOR_VEC(n, {
        __m256 v = LD(x);
        __m256 z = _mm256_mul_ps(_mm256_and_ps(v, absmask), _mm256_set1_ps(0.7071067811865476f));
        __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(0.5f), z, _mm256_set1_ps(1.0f)));
        __m256 p = _mm256_set1_ps(0.17087277f);
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.82215223f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.26551223f));
        __m256 half = _mm256_mul_ps(_mm256_set1_ps(0.5f), _mm256_mul_ps(t, exp256(_mm256_fnmadd_ps(z, z, p))));
        __m256 pos = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ);
        __m256 phi = _mm256_blendv_ps(half, _mm256_sub_ps(_mm256_set1_ps(1.0f), half), pos);
        ST(x, _mm256_mul_ps(v, phi));
    })
}

T256 void mm_ops256_softmax(float *x, int64_t n) {
    __m256 mx = _mm256_set1_ps(-INFINITY);
    FOR_VEC(n, { mx = _mm256_max_ps(mx, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), LD(x), _mm256_castsi256_ps(m))); })
    float max = hmax(mx);
    if (max == -INFINITY) {
        FOR_VEC(n, { ST(x, _mm256_setzero_ps()); })
        return;
    }
    __m256 vmax = _mm256_set1_ps(max), sum = _mm256_setzero_ps();
    FOR_VEC(n, {
        __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(LD(x), vmax)), _mm256_castsi256_ps(m));
        e = _mm256_blendv_ps(e, _mm256_setzero_ps(), _mm256_cmp_ps(LD(x), _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ));
        sum = _mm256_add_ps(sum, e);
        ST(x, e);
    })
    __m256 inv = _mm256_set1_ps(1.0f / hsum(sum));
    FOR_VEC(n, { ST(x, _mm256_mul_ps(LD(x), inv)); })
}

T256 void mm_ops256_layernorm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps) {
    __m256 s = _mm256_setzero_ps();
    FOR_VEC(n, { s = _mm256_add_ps(s, LD(x)); })
    float mean = hsum(s) / (float)n;
    __m256 vm = _mm256_set1_ps(mean), v2 = _mm256_setzero_ps();
    FOR_VEC(n, {
        __m256 d = _mm256_and_ps(_mm256_sub_ps(LD(x), vm), _mm256_castsi256_ps(m));
        v2 = _mm256_fmadd_ps(d, d, v2);
    })
    __m256 vr = _mm256_set1_ps(1.0f / sqrtf(hsum(v2) / (float)n + eps));
    FOR_VEC(n, {
        __m256 v = _mm256_mul_ps(_mm256_sub_ps(LD(x), vm), vr);
        if (w) v = _mm256_mul_ps(v, LD(w));
        if (b) v = _mm256_add_ps(v, LD(b));
        ST(y, v);
    })
}

T256 void mm_ops256_add(float *y, const float *a, const float *b, int64_t n) {
    FOR_VEC(n, { ST(y, _mm256_add_ps(LD(a), LD(b))); })
}

T256 void mm_ops256_scale(float *x, float s, int64_t n) {
    __m256 vs = _mm256_set1_ps(s);
    FOR_VEC(n, { ST(x, _mm256_mul_ps(LD(x), vs)); })
}

/* argmax as mm_ops512_argmax: per lane the running maximum (strictly greater replaces it) and its index, then the
 * smallest index among the lanes holding the overall maximum; the tail's missing lanes are -inf (never greater).
 * n >= 1; indices fit 32 bits. */
T256 int32_t mm_ops256_argmax(const float *x, int64_t n) {
    if (x[0] != x[0]) return 0;
    __m256 best = _mm256_set1_ps(x[0]);
    __m256i bi = _mm256_setzero_si256(), idx = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    const __m256i step = _mm256_set1_epi32(8);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    FOR_VEC(n, {
        const __m256 v = _mm256_blendv_ps(ninf, LD(x), _mm256_castsi256_ps(m));
        const __m256 g = _mm256_cmp_ps(v, best, _CMP_GT_OQ);
        best = _mm256_blendv_ps(best, v, g);
        bi = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(bi), _mm256_castsi256_ps(idx), g));
        idx = _mm256_add_epi32(idx, step);
    })
    float b[8];
    int32_t k[8];
    _mm256_storeu_ps(b, best);
    _mm256_storeu_si256((__m256i *)k, bi);
    int32_t r = k[0];
    float mx = b[0];
    for (int j = 1; j < 8; j++)
        if (b[j] > mx || (b[j] == mx && k[j] < r)) mx = b[j], r = k[j];
    return r;
}

/* the first index of a NaN or an infinity (exponent bits all ones), or -1 */
T256 int64_t mm_ops256_find_nonfinite(const float *x, int64_t n) {
    const __m256i e = _mm256_set1_epi32(0x7f800000);
    FOR_VEC(n, {
        const __m256i v = _mm256_castps_si256(LD(x));
        const int bad = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_and_si256(_mm256_cmpeq_epi32(_mm256_and_si256(v, e), e), m)));
        if (bad) return i + __builtin_ctz((unsigned)bad);
    })
    return -1;
}
#endif
