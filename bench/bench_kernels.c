/* bench_kernels.c - kernel benchmark, all figures measured in the same run:
 *   - memory read bandwidth (STREAM-like: AVX-512/AVX2 sum over 256 MiB), 1 and 2 threads;
 *   - sgemm GFLOPS: OpenBLAS as it runs here (OPENBLAS_CORETYPE is reported; never changed), both with
 *     its own threads and at one thread per pool thread, and the own AVX-512 gemm (mm_sgemm's default
 *     at the avx512 level); mm_linear prefill GFLOPS for every weight type with both;
 *   - matvec GB/s of every weight type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) for a
 *     4096x4096 matrix as a fraction of the read bandwidth, at 1 and 2 threads: rounds of (bandwidth pass,
 *     matvec pass per type), fraction per round, medians;
 *   - a GPT-2 small decode step (48 matvecs, pool overheads included) for F16 and Q8_0;
 *   - the row scans of every token over 50257 logits (mm_argmax, mm_find_nonfinite), from cache.
 *
 *   bench_kernels [--quick] [--matvec] [--rounds N] [--types f32,q4_k,...]
 *     --types: only those in the prefill and matvec figures; --matvec: only the bandwidth and matvec figures
 *     (N rounds, default 11; at most 15)
 *
 * The matvec weights are rotated over several copies (>= 128 MiB, 4x the L3 here) so that they stream
 * from memory as in a real decode step. MMGPT_KERNEL=generic|avx2|avx512 forces a kernel level.
 * Run it on a quiet machine (no nice: it is short, ~10 s).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "mm_core.h"
#include "bench_util.h"
#include "../core/core_internal.h"   /* mm_core_set_own_gemm: compare both gemms in one run */


static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(const double *v, int n) {
    double t[64];
    for (int i = 0; i < n; i++) t[i] = v[i];
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}


/* the weight types of the prefill and matvec figures; --types a,b,... picks some */
static const mm_type types[] = {MM_TYPE_F32,  MM_TYPE_F16,  MM_TYPE_BF16, MM_TYPE_Q8_0, MM_TYPE_Q4_0, MM_TYPE_Q4_1,
                                MM_TYPE_Q5_0, MM_TYPE_Q5_1, MM_TYPE_Q4_K, MM_TYPE_Q5_K, MM_TYPE_Q6_K};
#define N_BENCH_TYPES ((int)(sizeof types / sizeof types[0]))
static const char *g_types;
static int type_selected(mm_type t) {
    if (!g_types) return 1;
    const char *name = mm_type_name(t), *p = g_types;
    size_t n = strlen(name);
    while (p && *p) {
        if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == 0)) return 1;
        p = strchr(p, ',');
        if (p) p++;
    }
    return 0;
}

int main(int argc, char **argv) {
    int quick = 0, matvec_only = 0, n_rounds = 11;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else if (strcmp(argv[i], "--matvec") == 0) matvec_only = 1;
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc && atoi(argv[i + 1]) >= 1 && atoi(argv[i + 1]) <= 15)
            n_rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--types") == 0 && i + 1 < argc) g_types = argv[++i];
        else { fprintf(stderr, "usage: bench_kernels [--quick] [--matvec] [--rounds N] [--types f32,q4_k,...]\n"); return 2; }
    }
    char err[MM_ERR_SIZE];
    mm_pool *pools[3] = {NULL, mm_pool_create(1, err), mm_pool_create(2, err)};
    if (!pools[1] || !pools[2]) { fprintf(stderr, "bench_kernels: %s\n", err); return 1; }
    printf("mmgpt bench_kernels: matvec kernel = %s, OPENBLAS_CORETYPE=%s\n", mm_cpu_kernel_name(),
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)");

    /* ---- bandwidth */
    int64_t nbw = (quick ? 64 : 256) * (int64_t)1024 * 1024 / 4;
    float *a = aligned_alloc(64, (size_t)nbw * 4);
    bench_fill(a, nbw, 1);
    double bw[3] = {0};
    for (int t = 1; t <= 2; t++) bw[t] = bench_read_bw(pools[t], a, nbw, quick ? 3 : 8);
    printf("\nmemory read bandwidth (%lld MiB, best of runs): 1 thread %.1f GB/s, 2 threads %.1f GB/s\n",
           (long long)(nbw * 4 >> 20), bw[1], bw[2]);

    /* ---- sgemm */
    double gf_blas[3] = {0}, gf_own[3] = {0};
    if (!matvec_only) {
        int m = 512, n = 1024, k = 1024;
        float *A = aligned_alloc(64, sizeof(float) * m * k), *B = aligned_alloc(64, sizeof(float) * n * k),
              *C = aligned_alloc(64, sizeof(float) * m * n);
        bench_fill(A, (int64_t)m * k, 2);
        bench_fill(B, (int64_t)n * k, 3);
        int reps = quick ? 3 : 8;
        printf("\nsgemm C[%d,%d] = A[%d,%d] . B^T   GFLOPS (best of %d)      1 thread   2 threads\n", m, n, m, k, reps);
        double r_obl[3] = {0}, r_pool[3] = {0};
        for (int t = 1; t <= 2; t++) {
            openblas_set_num_threads(t);   /* OpenBLAS's own threads, one call */
            double best = 1e30;
            for (int r = 0; r < reps; r++) {
                double t0 = mm_time_ms();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, A, k, B, k, 0.0f, C, n);
                double dt = mm_time_ms() - t0;
                if (dt < best) best = dt;
            }
            r_obl[t] = 2.0 * m * n * k / (best * 1e-3) / 1e9;
        }
        openblas_set_num_threads(1);
        for (int own = 0; own <= 1; own++) {
            mm_core_set_own_gemm(own);
            if (own && !mm_core_use_own_gemm()) break;
            for (int t = 1; t <= 2; t++) {
                double best = 1e30;
                for (int r = 0; r < reps; r++) {
                    double t0 = mm_time_ms();
                    mm_sgemm(pools[t], true, m, n, k, 1.0f, A, k, B, k, 0.0f, C, n);
                    double dt = mm_time_ms() - t0;
                    if (dt < best) best = dt;
                }
                (own ? gf_own : r_pool)[t] = 2.0 * m * n * k / (best * 1e-3) / 1e9;
            }
        }
        mm_core_set_own_gemm(true);
        for (int t = 1; t <= 2; t++) gf_blas[t] = r_pool[t] > r_obl[t] ? r_pool[t] : r_obl[t];
        printf("  OpenBLAS, its own threads (cblas_sgemm)                   %7.1f   %7.1f\n", r_obl[1], r_obl[2]);
        printf("  OpenBLAS at 1 thread per pool thread (mm_sgemm, openblas) %7.1f   %7.1f\n", r_pool[1], r_pool[2]);
        if (gf_own[1] > 0)
            printf("  own AVX-512 gemm (mm_sgemm default here)                  %7.1f   %7.1f   (x%.2f / x%.2f of best OpenBLAS)\n",
                   gf_own[1], gf_own[2], gf_own[1] / gf_blas[1], gf_own[2] / gf_blas[2]);
        free(A); free(B); free(C);
    }

    /* ---- prefill: mm_linear over 128 rows */
    if (!matvec_only) {
        int64_t rows = 2048, cols = 2048, n = 128;
        float *W = aligned_alloc(64, sizeof(float) * rows * cols), *X = aligned_alloc(64, sizeof(float) * n * cols),
              *Y = aligned_alloc(64, sizeof(float) * n * rows);
        bench_fill(W, rows * cols, 4);
        bench_fill(X, n * cols, 5);
        printf("\nmm_linear prefill Y[%lld,%lld] = X[%lld,%lld] . W^T  GFLOPS incl. dequantizing weight tiles\n",
               (long long)n, (long long)rows, (long long)n, (long long)cols);
        printf("  type   OpenBLAS 1 thr  2 thr    own AVX-512 1 thr  2 thr\n");
        for (int ti = 0; ti < N_BENCH_TYPES; ti++) {
            if (!type_selected(types[ti])) continue;
            size_t rb = mm_row_size(types[ti], cols);
            uint8_t *Wq = aligned_alloc(64, (rb * rows + 63) & ~(size_t)63);
            for (int64_t r = 0; r < rows; r++) mm_quantize_row(types[ti], W + r * cols, Wq + r * rb, cols);
            printf("  %-5s", mm_type_name(types[ti]));
            for (int own = 0; own <= 1; own++) {
                mm_core_set_own_gemm(own);
                if (own && !mm_core_use_own_gemm()) break;
                printf("   ");
                for (int t = 1; t <= 2; t++) {
                    double best = 1e30;
                    for (int r = 0; r < (quick ? 2 : 5); r++) {
                        double t0 = mm_time_ms();
                        mm_linear(pools[t], types[ti], Wq, NULL, rows, cols, n, X, Y);
                        double dt = mm_time_ms() - t0;
                        if (dt < best) best = dt;
                    }
                    printf("  %7.1f", 2.0 * rows * cols * n / (best * 1e-3) / 1e9);
                }
                printf("        ");
            }
            mm_core_set_own_gemm(true);
            printf("\n");
            free(Wq);
        }
        free(W); free(X); free(Y);
    }

    /* ---- matvec 4096 x 4096: rounds of (bandwidth pass, matvec passes of every type), best of each,
     * so that the fraction compares figures measured moments apart (the machine may be shared) */
    {
        int64_t rows = 4096, cols = 4096;
        float *W = aligned_alloc(64, sizeof(float) * rows * cols), *x = aligned_alloc(64, sizeof(float) * cols),
              *y = aligned_alloc(64, sizeof(float) * rows);
        bench_fill(W, rows * cols, 6);
        bench_fill(x, cols, 7);
        uint8_t **Wq[N_BENCH_TYPES];
        int ncopy[N_BENCH_TYPES];
        size_t bytes[N_BENCH_TYPES];
        for (int ti = 0; ti < N_BENCH_TYPES; ti++) {
            ncopy[ti] = 0;
            if (!type_selected(types[ti])) continue;
            size_t rb = mm_row_size(types[ti], cols);
            bytes[ti] = rb * rows;
            ncopy[ti] = (int)((128u << 20) / bytes[ti]) + 1;
            if (quick && ncopy[ti] > 4) ncopy[ti] = 4;
            Wq[ti] = malloc(sizeof(uint8_t *) * ncopy[ti]);
            for (int c = 0; c < ncopy[ti]; c++) {   /* quantized once (the K-quant search is slow), then copied */
                Wq[ti][c] = aligned_alloc(64, (bytes[ti] + 63) & ~(size_t)63);
                if (c) memcpy(Wq[ti][c], Wq[ti][0], bytes[ti]);
                else for (int64_t r = 0; r < rows; r++) mm_quantize_row(types[ti], W + r * cols, Wq[ti][c] + r * rb, cols);
            }
        }
        /* each round: one bandwidth pass, then one pass over the copies of every type; the fraction is
         * taken within the round (figures moments apart), and the median over rounds is reported */
        enum { MAXR = 15 };
        double gbs[N_BENCH_TYPES][3][MAXR], frac[N_BENCH_TYPES][3][MAXR], bwr[3][MAXR];
        int rounds = quick ? 3 : n_rounds;
        for (int round = 0; round < rounds; round++)
            for (int t = 1; t <= 2; t++) {
                bwr[t][round] = bench_read_bw(pools[t], a, nbw, 1);
                for (int ti = 0; ti < N_BENCH_TYPES; ti++) {
                    if (!ncopy[ti]) continue;
                    mm_matvec(pools[t], types[ti], Wq[ti][ncopy[ti] - 1], rows, cols, x, y);
                    double t0 = mm_time_ms();
                    for (int c = 0; c < ncopy[ti]; c++) mm_matvec(pools[t], types[ti], Wq[ti][c], rows, cols, x, y);
                    double dt = (mm_time_ms() - t0) / ncopy[ti];
                    gbs[ti][t][round] = bytes[ti] / (dt * 1e-3) / 1e9;
                    frac[ti][t][round] = gbs[ti][t][round] / bwr[t][round];
                }
            }
        printf("\nmatvec y = W x, W %lldx%lld, weights rotated over copies totalling >= 128 MiB (streamed from memory);\n"
               "%d rounds of (read-bandwidth pass, one pass per type); medians over rounds, fraction taken per round\n",
               (long long)rows, (long long)cols, rounds);
        bw[1] = median(bwr[1], rounds);
        bw[2] = median(bwr[2], rounds);
        printf("read bandwidth in these rounds (median): 1 thread %.1f GB/s, 2 threads %.1f GB/s\n", bw[1], bw[2]);
        printf("(from cache: the first 256 KiB of rows of the same matrix, 1 thread, best of 300: the kernel's compute\n"
               "ceiling; a streamed figure well below the bandwidth with a ceiling far above it is a memory-access problem)\n");
        printf("  type  MiB/matrix   1 thread GB/s (of bw)   2 threads GB/s (of bw)   from cache GB/s\n");
        for (int ti = 0; ti < N_BENCH_TYPES; ti++) {
            if (!ncopy[ti]) continue;
            printf("  %-5s %8.1f   ", mm_type_name(types[ti]), bytes[ti] / 1048576.0);
            for (int t = 1; t <= 2; t++)
                printf("   %6.1f (%5.1f%%)       ", median(gbs[ti][t], rounds), 100.0 * median(frac[ti][t], rounds));
            const size_t rb = mm_row_size(types[ti], cols);
            const int64_t rc = (int64_t)((256u << 10) / rb) > 16 ? (int64_t)((256u << 10) / rb) : 16;
            double best = 1e30;
            for (int it = 0; it < 301; it++) {
                double t0 = mm_time_ms();
                mm_matvec(pools[1], types[ti], Wq[ti][0], rc, cols, x, y);
                double dt = mm_time_ms() - t0;
                if (it && dt < best) best = dt;
            }
            printf("   %6.1f", (double)(rc * rb) / (best * 1e-3) / 1e9);
            printf("\n");
            for (int c = 0; c < ncopy[ti]; c++) free(Wq[ti][c]);
            free(Wq[ti]);
        }
        free(W); free(x); free(y);
    }
    /* ---- a GPT-2 small decode step: the 4 matvecs of each of 12 blocks (d = 768), pool overheads included;
     * fractions of the median bandwidth of the matvec rounds above */
    if (!matvec_only) {
        const int64_t shp[4][2] = {{2304, 768}, {768, 768}, {3072, 768}, {768, 3072}};   /* rows (out), cols (in) */
        mm_type types[2] = {MM_TYPE_F16, MM_TYPE_Q8_0};
        float *x = aligned_alloc(64, sizeof(float) * 3072), *y = aligned_alloc(64, sizeof(float) * 3072);
        bench_fill(x, 3072, 8);
        printf("\nGPT-2 small decode step, 12 blocks x (qkv 2304x768, out 768x768, up 3072x768, down 768x3072)\n");
        for (int ti = 0; ti < 2; ti++) {
            uint8_t *Wl[12][4];
            size_t total = 0;
            for (int l = 0; l < 12; l++)
                for (int j = 0; j < 4; j++) {
                    size_t bytes = mm_row_size(types[ti], shp[j][1]) * shp[j][0];
                    float *tmp = aligned_alloc(64, sizeof(float) * shp[j][1]);
                    Wl[l][j] = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
                    for (int64_t r = 0; r < shp[j][0]; r++) {
                        bench_fill(tmp, shp[j][1], (unsigned)(l * 4 + j) * 7919u + (unsigned)r);
                        mm_quantize_row(types[ti], tmp, Wl[l][j] + r * mm_row_size(types[ti], shp[j][1]), shp[j][1]);
                    }
                    free(tmp);
                    total += bytes;
                }
            printf("  %-5s %6.1f MiB of weights:", mm_type_name(types[ti]), total / 1048576.0);
            for (int t = 1; t <= 2; t++) {
                double best = 1e30;
                for (int it = 0; it < (quick ? 3 : 10); it++) {
                    double t0 = mm_time_ms();
                    for (int l = 0; l < 12; l++)
                        for (int j = 0; j < 4; j++) mm_matvec(pools[t], types[ti], Wl[l][j], shp[j][0], shp[j][1], x, y);
                    double dt = mm_time_ms() - t0;
                    if (dt < best) best = dt;
                }
                printf("   %d thread%s %.3f ms/token = %5.1f GB/s (%4.1f%% of bw)", t, t > 1 ? "s" : "", best,
                       total / (best * 1e-3) / 1e9, 100.0 * total / (best * 1e-3) / 1e9 / bw[t]);
            }
            printf("\n");
            for (int l = 0; l < 12; l++)
                for (int j = 0; j < 4; j++) free(Wl[l][j]);
        }
        free(x); free(y);
    }
    /* ---- the per-token row scans over GPT-2's 50257 logits (greedy pick, the NaN/Inf check), from cache */
    {
        const int64_t V = 50257;
        float *lg = malloc(sizeof(float) * (size_t)V);
        bench_fill(lg, V, 4242u);
        volatile int64_t sink = 0;
        double ba = 1e30, bn = 1e30;
        for (int it = 0; it < 300; it++) {
            double t0 = mm_time_ms();
            sink += mm_argmax(lg, V);
            double t1 = mm_time_ms();
            sink += mm_find_nonfinite(lg, V);
            double t2 = mm_time_ms();
            if (t1 - t0 < ba) ba = t1 - t0;
            if (t2 - t1 < bn) bn = t2 - t1;
        }
        printf("\nrow scans over %lld logits (best of 300): mm_argmax %.1f us, mm_find_nonfinite %.1f us\n", (long long)V,
               1e3 * ba, 1e3 * bn);
        free(lg);
    }
    free(a);
    mm_pool_free(pools[1]);
    mm_pool_free(pools[2]);
    return 0;
}
