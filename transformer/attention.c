/* attention.c - decode attention of one head over the KV cache: the plain-C kernel and the AVX-512 one.
 *
 * o[dh] = sum_j p_j V_j,  p = softmax(scale * K q)  over T cached rows (K, V: [T, dh], f32 or f16).
 * The AVX-512 kernel runs when core's kernel level is avx512 (mm_cpu_kernel_level(); transformer/ has no
 * CPU detection of its own) and dh is a multiple of 16 in [16, 256]; forward.c picks the kernel once, at
 * state creation (mm_gpt_attn_kernel). tests/transformer/test_gpt_attention.c compares both with a double
 * reference. */
#include <math.h>
#include <string.h>

#include "gpt_internal.h"

static float dot_f32(const float *a, const float *b, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* scores[j] = scale * q . K_j for j < T (rows of K are `ld` floats apart). Four keys at a time with
 * independent accumulators, so the FMAs are throughput-bound (a single dot product of 64 is latency-bound). */
static void attn_scores(const float *q, const float *K, int64_t ld, int64_t T, int64_t dh, float scale, float *sc) {
    int64_t j = 0;
    if (dh % 16 == 0) {
        for (; j + 4 <= T; j += 4) {
            const float *k0 = K + j * ld, *k1 = k0 + ld, *k2 = k1 + ld, *k3 = k2 + ld;
            float a0[16] = {0}, a1[16] = {0}, a2[16] = {0}, a3[16] = {0};
            for (int64_t e = 0; e < dh; e += 16)
                for (int k = 0; k < 16; k++) {
                    const float qv = q[e + k];
                    a0[k] += qv * k0[e + k];
                    a1[k] += qv * k1[e + k];
                    a2[k] += qv * k2[e + k];
                    a3[k] += qv * k3[e + k];
                }
            /* pairwise (tree) reduction: vectorizes, unlike an in-order sum of 16 lanes */
            for (int w = 8; w >= 1; w /= 2)
                for (int k = 0; k < w; k++) a0[k] += a0[k + w], a1[k] += a1[k + w], a2[k] += a2[k + w], a3[k] += a3[k + w];
            sc[j] = a0[0] * scale, sc[j + 1] = a1[0] * scale, sc[j + 2] = a2[0] * scale, sc[j + 3] = a3[0] * scale;
        }
    }
    for (; j < T; j++) sc[j] = dot_f32(q, K + j * ld, dh) * scale;
}

/* o[dh] = sum_j p[j] V_j (rows `ld` apart), two keys per step into a local accumulator. */
static void attn_values(const float *p, const float *V, int64_t ld, int64_t T, int64_t dh, float *o) {
    if (dh <= 256) {
        float acc[256];
        memset(acc, 0, (size_t)dh * sizeof(float));
        int64_t j = 0;
        for (; j + 2 <= T; j += 2) {
            const float p0 = p[j], p1 = p[j + 1], *v0 = V + j * ld, *v1 = v0 + ld;
            for (int64_t e = 0; e < dh; e++) acc[e] += p0 * v0[e] + p1 * v1[e];
        }
        for (; j < T; j++) {
            const float pj = p[j], *v = V + j * ld;
            for (int64_t e = 0; e < dh; e++) acc[e] += pj * v[e];
        }
        memcpy(o, acc, (size_t)dh * sizeof(float));
        return;
    }
    memset(o, 0, (size_t)dh * sizeof(float));
    for (int64_t j = 0; j < T; j++) {
        const float pj = p[j], *v = V + j * ld;
        for (int64_t e = 0; e < dh; e++) o[e] += pj * v[e];
    }
}

/* ---------------------------------------------------------------- AVX-512 decode attention
 * One head straight from the cache (f32 or f16 rows, converted in registers: no f32 copy of an f16
 * cache), d_head a multiple of 16 and <= 256. Scores: 4 keys at a time, each key's 16-lane partial sums
 * reduced in the end; values: o = sum_j p_j V_j with 2 keys per step into separate accumulators. Used at
 * core's avx512 kernel level; attn_scores / attn_values above are the plain path. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ATT512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
ATT512 static inline __m512 ld16(const void *p, int64_t e, bool f16) {
    return f16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + e)))
               : _mm512_loadu_ps((const float *)p + e);
}

ATT512 static inline __attribute__((always_inline)) void
attn_head_impl(const float *q, const void *K, const void *V, int64_t T, int64_t dh, float scale, bool f16, float *sc,
               float *o) {
    const size_t rb = (size_t)dh * (f16 ? 2 : 4);
    const int64_t nv = dh / 16;
    __m512 qv[16];
    for (int64_t v = 0; v < nv; v++) qv[v] = _mm512_mul_ps(_mm512_loadu_ps(q + 16 * v), _mm512_set1_ps(scale));
    const uint8_t *kp = K;
    int64_t j = 0;
    for (; j + 4 <= T; j += 4, kp += 4 * rb) {
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (int64_t v = 0; v < nv; v++) {
            a0 = _mm512_fmadd_ps(qv[v], ld16(kp, 16 * v, f16), a0);
            a1 = _mm512_fmadd_ps(qv[v], ld16(kp + rb, 16 * v, f16), a1);
            a2 = _mm512_fmadd_ps(qv[v], ld16(kp + 2 * rb, 16 * v, f16), a2);
            a3 = _mm512_fmadd_ps(qv[v], ld16(kp + 3 * rb, 16 * v, f16), a3);
        }
        /* 4 horizontal sums at once: fold 512 -> 256 -> 128 with the 4 keys interleaved */
        __m512 s01 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1)); /* k0 k0 k1 k1 per 128 */
        __m512 s23 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
        __m512 s = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(s01), _mm512_castps_pd(s23))),
                                 _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(s01), _mm512_castps_pd(s23))));
        /* s: per 128-bit lane [k0 k1 k2 k3] partial; add the 4 lanes */
        __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
        __m128 r = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        _mm_storeu_ps(sc + j, r);
    }
    for (; j < T; j++, kp += rb) {
        __m512 a = _mm512_setzero_ps();
        for (int64_t v = 0; v < nv; v++) a = _mm512_fmadd_ps(qv[v], ld16(kp, 16 * v, f16), a);
        sc[j] = _mm512_reduce_add_ps(a);
    }
    mm_softmax(sc, T);
    __m512 acc[16], acc2[16];
    for (int64_t v = 0; v < nv; v++) acc[v] = _mm512_setzero_ps(), acc2[v] = _mm512_setzero_ps();
    const uint8_t *vp = V;
    j = 0;
    for (; j + 2 <= T; j += 2, vp += 2 * rb) {
        const __m512 p0 = _mm512_set1_ps(sc[j]), p1 = _mm512_set1_ps(sc[j + 1]);
        for (int64_t v = 0; v < nv; v++) {
            acc[v] = _mm512_fmadd_ps(p0, ld16(vp, 16 * v, f16), acc[v]);
            acc2[v] = _mm512_fmadd_ps(p1, ld16(vp + rb, 16 * v, f16), acc2[v]);
        }
    }
    if (j < T) {
        const __m512 p0 = _mm512_set1_ps(sc[j]);
        for (int64_t v = 0; v < nv; v++) acc[v] = _mm512_fmadd_ps(p0, ld16(vp, 16 * v, f16), acc[v]);
    }
    for (int64_t v = 0; v < nv; v++) _mm512_storeu_ps(o + 16 * v, _mm512_add_ps(acc[v], acc2[v]));
}
ATT512 static void attn_avx512(const float *q, const void *K, const void *V, int64_t T, int64_t dh, float scale,
                               bool f16, float *sc, float *conv, float *o) {
    (void)conv;
    if (f16) attn_head_impl(q, K, V, T, dh, scale, true, sc, o);   /* two copies: no branch in the loops */
    else attn_head_impl(q, K, V, T, dh, scale, false, sc, o);
}
#endif

void mm_gpt_attn_plain(const float *q, const void *K, const void *V, int64_t T, int64_t dh, float scale, bool f16,
                       float *sc, float *conv, float *o) {
    const float *Kf = K, *Vf = V;
    if (f16) { /* one head's rows as f32 (conversion is exact) */
        mm_dequantize_row(MM_TYPE_F16, K, conv, T * dh);
        Kf = conv;
    }
    attn_scores(q, Kf, dh, T, dh, scale, sc);
    mm_softmax(sc, T);
    if (f16) {
        mm_dequantize_row(MM_TYPE_F16, V, conv, T * dh);
        Vf = conv;
    }
    attn_values(sc, Vf, dh, T, dh, o);
}

mm_gpt_attn_fn mm_gpt_attn_kernel(int64_t dh) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (mm_cpu_kernel_level() == MM_KERNEL_AVX512 && dh >= 16 && dh % 16 == 0 && dh <= 256) return attn_avx512;
#endif
    (void)dh;
    return mm_gpt_attn_plain;
}
