/* test_gpt_attention.c - the decode attention kernels of transformer/attention.c against a double reference.
 *
 * o = sum_j p_j V_j, p = softmax(scale * K q), for one head over T cached rows, with random q, K, V
 * (uniform in [-1, 1], q times 4 so that the softmax is peaked as well as flat), f32 and f16 caches.
 * Head widths 16..256 in steps the AVX-512 kernel takes (multiples of 16) and widths it does not (8, 24,
 * 40, 72, 100, 272: the plain kernel must be chosen); lengths 1..1024 including non-multiples of 4 and 16
 * (the kernels take 4 keys, then 2, then 1 at a time).
 * Checked:
 *   - mm_gpt_attn_plain vs the reference, and the kernel mm_gpt_attn_kernel(dh) chooses at core's level
 *     vs the reference and vs the plain kernel;
 *   - at the avx512 level every width that is a multiple of 16 in [16, 256] gets the AVX-512 kernel (not
 *     the plain one), every other width the plain one; below avx512 every width gets the plain one.
 * Tolerance: |o - ref| <= 2^-23 * (S + log2(T) + 8) * max|V| per element, where S = max_j scale *
 * sum_e |q_e K_je| bounds the float error of a score (each score's relative rounding error moves p_j by
 * about that much, times |V|), log2(T) + 8 covers the float sums of the softmax and of p V. Measured worst
 * (this machine, avx512 and plain): 0.1 of the bound; a wrong index or a lost tail key gives
 * errors of order 0.1.
 * ctest runs this at the machine's best level (gpt_attention) and with MMGPT_KERNEL=avx512
 * (gpt_attention_avx512, skipped with the missing CPU features where AVX-512 cannot run). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_check.h"
#include "mm_level.h"
#include "../../transformer/gpt_internal.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static float urand(void) { /* uniform in [-1, 1) */
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (float)((rng * 0x2545F4914F6CDD1DULL) >> 40) / 8388608.0f - 1.0f;
}

static double worst_ratio;   /* largest |o - ref| / tol seen */

/* one case: returns nothing, counts failures */
static void run_case(int64_t dh, int64_t T, bool f16) {
    const float scale = 1.0f / sqrtf((float)dh);
    const size_t esz = f16 ? 2 : 4;
    float *q = malloc((size_t)dh * 4), *Kf = malloc((size_t)(T * dh) * 4), *Vf = malloc((size_t)(T * dh) * 4);
    void *K = malloc((size_t)(T * dh) * esz), *V = malloc((size_t)(T * dh) * esz);
    float *sc = malloc((size_t)T * 4), *conv = malloc((size_t)(T * dh) * 4);
    float *o_plain = malloc((size_t)dh * 4), *o_kern = malloc((size_t)dh * 4);
    double *ref = malloc((size_t)dh * sizeof(double)), *p = malloc((size_t)T * sizeof(double));
    for (int64_t e = 0; e < dh; e++) q[e] = 4.0f * urand();
    for (int64_t i = 0; i < T * dh; i++) Kf[i] = urand(), Vf[i] = urand();
    if (f16) { /* the cache holds f16: the reference uses the stored values */
        mm_quantize_row(MM_TYPE_F16, Kf, K, T * dh);
        mm_quantize_row(MM_TYPE_F16, Vf, V, T * dh);
        mm_dequantize_row(MM_TYPE_F16, K, Kf, T * dh);
        mm_dequantize_row(MM_TYPE_F16, V, Vf, T * dh);
    } else {
        memcpy(K, Kf, (size_t)(T * dh) * 4);
        memcpy(V, Vf, (size_t)(T * dh) * 4);
    }
    /* reference in double */
    double mx = -INFINITY, S = 0.0, vmax = 0.0, sum = 0.0;
    for (int64_t j = 0; j < T; j++) {
        double s = 0.0, a = 0.0;
        for (int64_t e = 0; e < dh; e++) s += (double)q[e] * Kf[j * dh + e], a += fabs((double)q[e] * Kf[j * dh + e]);
        p[j] = s * scale;
        mx = p[j] > mx ? p[j] : mx;
        S = a * scale > S ? a * scale : S;
    }
    for (int64_t j = 0; j < T; j++) p[j] = exp(p[j] - mx), sum += p[j];
    for (int64_t e = 0; e < dh; e++) ref[e] = 0.0;
    for (int64_t j = 0; j < T; j++)
        for (int64_t e = 0; e < dh; e++) {
            ref[e] += p[j] / sum * Vf[j * dh + e];
            vmax = fabs(Vf[j * dh + e]) > vmax ? fabs(Vf[j * dh + e]) : vmax;
        }
    const double tol = ldexp(1.0, -23) * (S + log2((double)T) + 8.0) * vmax;

    mm_gpt_attn_plain(q, K, V, T, dh, scale, f16, sc, conv, o_plain);
    mm_gpt_attn_fn kern = mm_gpt_attn_kernel(dh);
    for (int64_t e = 0; e < dh; e++) o_kern[e] = NAN;
    kern(q, K, V, T, dh, scale, f16, sc, conv, o_kern);
    double ep = 0.0, ek = 0.0, ekp = 0.0;
    for (int64_t e = 0; e < dh; e++) {
        ep = fmax(ep, fabs(o_plain[e] - ref[e]));
        ek = isnan(o_kern[e]) ? INFINITY : fmax(ek, fabs(o_kern[e] - ref[e]));
        ekp = isnan(o_kern[e]) ? INFINITY : fmax(ekp, fabs((double)o_kern[e] - o_plain[e]));
    }
    const char *kn = kern == mm_gpt_attn_plain ? "plain" : "avx512";
    CHECK(ep <= tol, "plain dh=%lld T=%lld %s: max |o - ref| %.3g > tol %.3g", (long long)dh, (long long)T,
          f16 ? "f16" : "f32", ep, tol);
    CHECK(ek <= tol, "%s dh=%lld T=%lld %s: max |o - ref| %.3g > tol %.3g", kn, (long long)dh, (long long)T,
          f16 ? "f16" : "f32", ek, tol);
    CHECK(ekp <= 2 * tol, "%s vs plain dh=%lld T=%lld %s: max diff %.3g > 2 tol %.3g", kn, (long long)dh, (long long)T,
          f16 ? "f16" : "f32", ekp, 2 * tol);
    worst_ratio = fmax(worst_ratio, fmax(ep, ek) / tol);
    free(q); free(Kf); free(Vf); free(K); free(V); free(sc); free(conv); free(o_plain); free(o_kern);
    free(ref); free(p);
}

int main(void) {
    int lv = mm_test_forced_level("gpt attention");
    if (lv != 0) return lv;
    const mm_kernel_level level = mm_cpu_kernel_level();
    printf("kernel level: %s\n", mm_cpu_kernel_name());
    const int64_t dhs[] = {16, 32, 48, 64, 80, 128, 256, 8, 24, 40, 72, 100, 272};
    const int64_t Ts[] = {1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 33, 64, 100, 257, 1024};
    int n_fast = 0, n_cases = 0;
    for (size_t a = 0; a < sizeof dhs / sizeof dhs[0]; a++) {
        const int64_t dh = dhs[a];
        const bool eligible = dh % 16 == 0 && dh <= 256;
        const bool fast = mm_gpt_attn_kernel(dh) != mm_gpt_attn_plain;
        CHECK(fast == (level == MM_KERNEL_AVX512 && eligible), "dh=%lld at level %s: %s kernel chosen",
              (long long)dh, mm_cpu_kernel_name(), fast ? "AVX-512" : "plain");
        n_fast += fast;
        for (size_t b = 0; b < sizeof Ts / sizeof Ts[0]; b++)
            for (int f16 = 0; f16 < 2; f16++, n_cases++) run_case(dh, Ts[b], f16);
    }
    printf("%d cases (%d head widths on the AVX-512 kernel), worst error %.3f of the tolerance\n", n_cases, n_fast,
           worst_ratio);
    if (level != MM_KERNEL_AVX512)
        printf("note: the AVX-512 kernel was not tested here (missing: %s); gpt_attention_avx512 covers it\n",
               mm_cpu_kernel_missing("avx512") ? mm_cpu_kernel_missing("avx512") : "forced lower level");
    if (n_fail) {
        fprintf(stderr, "FAIL: %d checks\n", n_fail);
        return 1;
    }
    printf("ok\n");
    return 0;
}
