/* bench_util.h - shared by the benchmarks (header-only: bench/ and apps/cmd_bench.c, `mmgpt bench`): the
 * STREAM-like read-bandwidth measurement every roofline figure is divided by, so that all benchmarks use the
 * same reference.
 *
 * bench_read_bw(pool, a, n, reps): GB/s of summing n floats (64-byte aligned, n a multiple of 64) with the
 * widest vector unit the CPU has (AVX-512, AVX2, else plain C), rows split over the pool's threads; best of
 * reps after one warm-up pass. A scalar loop under-reads the memory system by ~25% on Zen 5, which would
 * inflate every "fraction of bandwidth" figure.
 */
#ifndef MM_BENCH_UTIL_H
#define MM_BENCH_UTIL_H

#include <stdint.h>
#include <stdlib.h>

#include "mm_core.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx512f"))) static double bench_sum_avx512(const float *a, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_add_ps(s0, _mm512_load_ps(a + i));
        s1 = _mm512_add_ps(s1, _mm512_load_ps(a + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_load_ps(a + i + 32));
        s3 = _mm512_add_ps(s3, _mm512_load_ps(a + i + 48));
    }
    double s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    for (; i < n; i++) s += a[i];
    return s;
}
__attribute__((target("avx2"))) static double bench_sum_avx2(const float *a, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_load_ps(a + i));
        s1 = _mm256_add_ps(s1, _mm256_load_ps(a + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_load_ps(a + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_load_ps(a + i + 24));
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    double s = 0;
    for (int j = 0; j < 8; j++) s += t[j];
    for (; i < n; i++) s += a[i];
    return s;
}
#endif
static double bench_sum_plain(const float *a, int64_t n) {
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j];
    double t = 0;
    for (int j = 0; j < 8; j++) t += s[j];
    for (; i < n; i++) t += a[i];
    return t;
}

typedef double (*bench_sum_fn)(const float *, int64_t);
static bench_sum_fn bench_pick_sum(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return bench_sum_avx512;
    if (__builtin_cpu_supports("avx2")) return bench_sum_avx2;
#endif
    return bench_sum_plain;
}

typedef struct { const float *a; int64_t n; bench_sum_fn fn; double sums[256]; } bench_bw_ctx;
static void bench_bw_task(void *c, int ith, int nth) {
    bench_bw_ctx *b = c;
    int64_t i0, i1;
    mm_split_range(b->n / 64, ith, nth, &i0, &i1);
    b->sums[ith & 255] = b->fn(b->a + i0 * 64, (i1 - i0) * 64);
}
static double bench_read_bw(mm_pool *pool, const float *a, int64_t n, int reps) {
    bench_bw_ctx c = {a, n, bench_pick_sum(), {0}};
    double best = 1e30;
    mm_pool_run(pool, bench_bw_task, &c); /* warm */
    for (int r = 0; r < reps; r++) {
        double t0 = mm_time_ms();
        mm_pool_run(pool, bench_bw_task, &c);
        double t = mm_time_ms() - t0;
        if (t < best) best = t;
    }
    return (double)n * 4 / (best * 1e-3) / 1e9;
}

static void bench_fill(float *x, int64_t n, unsigned seed) {
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = ((seed >> 8) / 16777216.0f - 0.5f);
    }
}
#endif
