/* ops.c - elementwise ops on one row: plain C (libm) here, AVX-512 / AVX2 versions in ops_avx512.c /
 * ops_avx2.c used at those kernel levels (MMGPT_KERNEL=generic forces these plain ones). */
#include <math.h>

#include "mm_core.h"
#include "core_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define FAST(call512, call256) do { const mm_kernel_table *k_ = mm_core_kernels(); \
    if (k_ == &mm_kernels_avx512) { call512; return; } if (k_ == &mm_kernels_avx2) { call256; return; } } while (0)
/* the same for functions with a result */
#define FAST_R(call512, call256) do { const mm_kernel_table *k_ = mm_core_kernels(); \
    if (k_ == &mm_kernels_avx512) return call512;                                                    \
    if (k_ == &mm_kernels_avx2) return call256; } while (0)
#else
#define FAST(call512, call256) do { } while (0)
#define FAST_R(call512, call256) do { } while (0)
#endif

void mm_layernorm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps) {
    if (n <= 0) return;
    FAST(mm_ops512_layernorm(y, x, w, b, n, eps), mm_ops256_layernorm(y, x, w, b, n, eps));
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    float mean = sum / (float)n;
    float var = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float d = x[i] - mean;
        var += d * d;
    }
    float rstd = 1.0f / sqrtf(var / (float)n + eps);
    for (int64_t i = 0; i < n; i++) {
        float v = (x[i] - mean) * rstd;
        if (w) v *= w[i];
        if (b) v += b[i];
        y[i] = v;
    }
}

void mm_gelu_tanh(float *x, int64_t n) {
    FAST(mm_ops512_gelu_tanh(x, n), mm_ops256_gelu_tanh(x, n));
    const float c = 0.7978845608028654f;  /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
}

void mm_gelu_erf(float *x, int64_t n) {
    FAST(mm_ops512_gelu_erf(x, n), mm_ops256_gelu_erf(x, n));
    for (int64_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.7071067811865476f));
}

void mm_quick_gelu(float *x, int64_t n) {
    FAST(mm_ops512_quick_gelu(x, n), mm_ops256_quick_gelu(x, n));
    for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void mm_softmax(float *x, int64_t n) {
    if (n <= 0) return;
    FAST(mm_ops512_softmax(x, n), mm_ops256_softmax(x, n));
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    if (max == -INFINITY) {   /* everything masked: no probability mass anywhere */
        for (int64_t i = 0; i < n; i++) x[i] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

void mm_add(float *y, const float *a, const float *b, int64_t n) {
    FAST(mm_ops512_add(y, a, b, n), mm_ops256_add(y, a, b, n));
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

/* Row scans: the plain loops define the results; the levels' versions return the same index (tests/core/
 * test_core_kernels.c, test_scans, against naive loops on ties, NaN, infinities and signed zeros). */
int32_t mm_argmax(const float *x, int64_t n) {
    if (n <= 1) return 0;
    FAST_R(mm_ops512_argmax(x, n), mm_ops256_argmax(x, n));
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}

int64_t mm_find_nonfinite(const float *x, int64_t n) {
    if (n <= 0) return -1;
    FAST_R(mm_ops512_find_nonfinite(x, n), mm_ops256_find_nonfinite(x, n));
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

void mm_scale(float *x, float s, int64_t n) {
    FAST(mm_ops512_scale(x, s, n), mm_ops256_scale(x, s, n));
    for (int64_t i = 0; i < n; i++) x[i] *= s;
}
