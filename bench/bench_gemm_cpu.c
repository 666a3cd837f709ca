/* bench_gemm_cpu.c - prompt-sized products per weight type timed by thread CPU time (for shared machines).
 *
 *   bench_gemm_cpu [--n 512] [--rows 768] [--cols 768] [--reps 5] [--types f32,f16,q8_0,q4_0,q4_k,q5_k,q6_k]
 *
 * One thread (pool NULL). For each type: mm_linear Y[n, rows] = X[n, cols] W^T with each prefill path the
 * level has, alternated rep by rep, median GFLOP/s of 2 n rows cols / thread CPU seconds (time spent preempted
 * does not count); "sgemm" = OpenBLAS's f32 cblas_sgemm on the same shape in the same rounds (and the own
 * AVX-512 gemm at that level): the machine's sgemm that the fractions divide by.
 * Paths: at avx512 the own gemm (weights dequantized while packing), at avx2 OpenBLAS over dequantized tiles
 * and, for Q4_0, the int8 gemm (x quantized to 8 bits). MMGPT_KERNEL=avx2|avx512 picks the level.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "mm_core.h"
#include "../core/core_internal.h"   /* mm_core_set_own_gemm / mm_core_set_int8_gemm: both paths in one run */

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define MAX_REPS 31
enum { P_BLAS_F32, P_OWN_F32, P_TILES, P_OWN, P_INT8, N_PATHS };
static const char *const path_name[N_PATHS] = {"openblas sgemm", "own sgemm", "openblas tiles", "own gemm", "int8 gemm"};

int main(int argc, char **argv) {
    int64_t n = 512, rows = 768, cols = 768;
    int reps = 5;
    const char *types = "f32,f16,q8_0,q4_0,q4_k,q5_k,q6_k";
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--n") == 0) n = atoll(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--rows") == 0) rows = atoll(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--cols") == 0) cols = atoll(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--reps") == 0) reps = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--types") == 0) types = argv[++i];
        else { fprintf(stderr, "usage: bench_gemm_cpu [--n N] [--rows R] [--cols C] [--reps K] [--types a,b]\n"); return 2; }
    }
    if (n < 2 || rows < 1 || cols < 256 || cols % 256 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "bench_gemm_cpu: need n >= 2, cols a multiple of 256, 1 <= reps <= %d\n", MAX_REPS);
        return 2;
    }
    mm_core_blas_init();
    float *X = malloc(sizeof(float) * (size_t)(n * cols)), *Y = malloc(sizeof(float) * (size_t)(n * rows)),
          *Wf = malloc(sizeof(float) * (size_t)(rows * cols));
    void *W = malloc(sizeof(float) * (size_t)(rows * cols));
    if (!X || !Y || !Wf || !W) return 1;
    unsigned s = 1;
    for (int64_t i = 0; i < n * cols; i++) X[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 8388608.0f - 1.0f;
    for (int64_t i = 0; i < rows * cols; i++) Wf[i] = ((float)((s = s * 1664525u + 1013904223u) >> 8) / 8388608.0f - 1.0f) * 0.02f;
    double flop = 2.0 * (double)n * (double)rows * (double)cols;
    printf("level %s, Y[%lld,%lld] = X[%lld,%lld] W^T, 1 thread, thread CPU time, median of %d alternating reps\n",
           mm_cpu_kernel_name(), (long long)n, (long long)rows, (long long)n, (long long)cols, reps);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", types);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int ti = mm_type_from_name(tok);
        if (ti < 0) { fprintf(stderr, "unknown type %s\n", tok); return 2; }
        mm_type t = (mm_type)ti;
        size_t rb = mm_row_size(t, cols);
        for (int64_t r = 0; r < rows; r++) mm_quantize_row(t, Wf + r * cols, (uint8_t *)W + (size_t)r * rb, cols);
        double g[N_PATHS][MAX_REPS];
        int have[N_PATHS] = {0};
        for (int rep = 0; rep <= reps; rep++) {   /* rep 0: warm-up */
            for (int p = 0; p < N_PATHS; p++) {
                if ((p == P_BLAS_F32 || p == P_OWN_F32) && t != MM_TYPE_F32) continue;
                if ((p == P_TILES || p == P_OWN || p == P_INT8) && t == MM_TYPE_F32 && p != P_OWN) continue;
                mm_core_set_own_gemm(p == P_OWN || p == P_OWN_F32);
                mm_core_set_int8_gemm(p == P_INT8);
                if ((p == P_OWN || p == P_OWN_F32) && !mm_core_use_own_gemm()) continue;
                if (p == P_INT8 && !mm_core_use_int8_gemm(t)) continue;
                double t0 = cpu_now();
                if (p == P_BLAS_F32)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)rows, (int)cols, 1.0f, X, (int)cols,
                                Wf, (int)cols, 0.0f, Y, (int)rows);
                else if (p == P_OWN_F32)
                    mm_sgemm(NULL, true, n, rows, cols, 1.0f, X, cols, Wf, cols, 0.0f, Y, rows);
                else
                    mm_linear(NULL, t, W, NULL, rows, cols, n, X, Y);
                double dt = cpu_now() - t0;
                if (rep > 0) g[p][have[p]++] = flop / dt * 1e-9;
            }
        }
        printf("%-6s", tok);
        for (int p = 0; p < N_PATHS; p++) {
            if (!have[p]) continue;
            qsort(g[p], (size_t)have[p], sizeof(double), cmp_d);
            printf("  %s %.1f", path_name[p], g[p][have[p] / 2]);
        }
        printf(" GFLOP/s\n");
        fflush(stdout);
    }
    mm_core_set_own_gemm(true);
    mm_core_set_int8_gemm(true);
    free(X); free(Y); free(Wf); free(W);
    return 0;
}
