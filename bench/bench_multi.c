/* bench_multi.c - from-cache speed of the batched-decode kernel mm_matvec_multi_rows (one matrix times n vectors,
 * core/matmul_multi.c) on one thread, against n separate mm_matvec_rows: the compute ceiling of the batched step
 * (the weights of one work item of a GPT-2 124M decode step, repeated so that they stay in L2).
 *
 *   bench_multi [--types f32,f16,q8_0,q4_0,q4_k] [--rows 128] [--cols 768] [--ns 1,2,4,8,16] [--reps 100]
 *             [--rounds 40]
 *
 * Per type and n: ns per call of mm_matvec_multi_rows (quantizing the n inputs included, as in a decode step)
 * and "vec-GB/s" = n x weight bytes / time (the weight bytes that n matvecs would have to read); "vs 1" = that
 * figure over the one-vector mm_matvec_rows's (the speed-up of the batched step's products when the weights come
 * from cache: the most a batch of n can gain). "x only": one row for n vectors (the inputs' 8-bit quantization).
 * "shared": mm_matvec_multi_rows_shared with the inputs already quantized by an earlier call of the same key (a work
 * item of the batched decode step after the first one of its phase: no quantization), and its "vs 1".
 * Best of --rounds (40) short rounds of --reps (100) / n calls: the machine may be shared. MMGPT_KERNEL=generic|avx2|avx512 forces a kernel level.
 *
 *   bench_multi --stream [--types f16] [--ns 1,8] [--rounds 5] [--huge]
 *
 * From memory instead: the matrices of one GPT-2 124M decode step (12 x (2304 x 768, 768 x 768, 3072 x 768,
 * 768 x 3072) and the 50257 x 768 output head: 248 MB of F16, far more than the L3), one after the other in one
 * buffer, each taken whole by mm_matvec_rows (n = 1) or mm_matvec_multi_rows (n vectors; the inputs are quantized
 * in the call, as in the step). Per n, each round one pass over all of them (the n values alternate within a
 * round); "GB/s" = weight bytes / best time (what the memory delivered), "vec-GB/s" = n x that; also each matrix
 * kind's (qkv, proj, fc, down, head) best time over the rounds and their sum (steadier on a shared machine). --huge: madvise(MADV_HUGEPAGE) on the weights (THP
 * is often in "madvise" mode) and the AnonHugePages the process gained. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_core.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

static long anon_huge_kb(void) {   /* this process's AnonHugePages (kB), -1 if unknown */
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "AnonHugePages:", 14)) kb = atol(line + 14);
    fclose(f);
    return kb;
}

/* --stream: one decode step's matrices from memory (see the top comment) */
static int stream_bench(const char *types, const int *ns, int n_ns, int rounds, int huge) {
    enum { NK = 5, NV = 16 };
    static const char *kname[NK] = {"qkv", "proj", "fc", "down", "head"};
    const int64_t krows[NK] = {2304, 768, 3072, 768, 50257}, kcols[NK] = {768, 768, 768, 3072, 768};
    const int kcount[NK] = {12, 12, 12, 12, 1};
    char err[MM_ERR_SIZE];
    if (mm_kernels_reserve_multi(NULL, 3072, MM_MATVEC_MULTI_GROUP, err) != 0) {
        fprintf(stderr, "bench_multi: %s\n", err);
        return 5;
    }
    float *x[NV], *y[NV];
    srand(1);
    for (int j = 0; j < NV; j++) {
        x[j] = aligned_alloc(64, sizeof(float) * 3072), y[j] = aligned_alloc(64, sizeof(float) * 50304);
        for (int64_t i = 0; i < 3072; i++) x[j][i] = (float)rand() / RAND_MAX - 0.5f;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", types);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        const int t = mm_type_from_name(tok);
        if (t < 0) continue;
        size_t total = 0, off[NK][12];
        for (int k = 0; k < NK; k++)
            for (int c = 0; c < kcount[k]; c++)
                off[k][c] = total, total += (mm_row_size((mm_type)t, kcols[k]) * (size_t)krows[k] + 4095) & ~(size_t)4095;
        const size_t HP = (size_t)2 << 20;
        uint8_t *W = aligned_alloc(HP, (total + HP - 1) & ~(HP - 1));
        if (!W) return 5;
        const long hp0 = anon_huge_kb();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        if (huge && madvise(W, (total + HP - 1) & ~(HP - 1), MADV_HUGEPAGE) != 0) perror("madvise");
#endif
        static float row[4][3072];
        static uint8_t q[4][3072 * 4 + 64];
        for (int v = 0; v < 4; v++)
            for (int64_t i = 0; i < 3072; i++) row[v][i] = (float)rand() / RAND_MAX - 0.5f;
        for (int k = 0; k < NK; k++) {   /* each row a copy of one of 4 random rows */
            const size_t rb = mm_row_size((mm_type)t, kcols[k]);
            for (int v = 0; v < 4; v++) mm_quantize_row((mm_type)t, row[v], q[v], kcols[k]);
            for (int c = 0; c < kcount[k]; c++)
                for (int64_t r = 0; r < krows[k]; r++) memcpy(W + off[k][c] + (size_t)r * rb, q[r % 4], rb);
        }
        printf("%s: %d matrices, %.1f MB from memory, one thread, %d rounds%s: AnonHugePages +%ld kB\n", tok,
               12 * 4 + 1, total / 1e6, rounds, huge ? ", MADV_HUGEPAGE" : "", anon_huge_kb() - hp0);
        double best[8], kbest[8][NK], sum[8];
        for (int a = 0; a < n_ns; a++) best[a] = 1e30, sum[a] = 0;
        for (int round = 0; round < rounds; round++)
            for (int a = 0; a < n_ns; a++) {
                const int n = ns[a] > NV ? NV : ns[a];
                double kt[NK], t0 = mm_time_ms();
                for (int k = 0; k < NK; k++) {
                    const double tk = mm_time_ms();
                    for (int c = 0; c < kcount[k]; c++) {
                        const uint8_t *M = W + off[k][c];
                        if (n == 1) mm_matvec_rows(NULL, 0, (mm_type)t, M, 0, krows[k], kcols[k], x[0], y[0]);
                        else mm_matvec_multi_rows(NULL, 0, (mm_type)t, M, 0, krows[k], kcols[k], n, (const float *const *)x, y);
                    }
                    kt[k] = mm_time_ms() - tk;
                }
                const double dt = mm_time_ms() - t0;
                sum[a] += dt;
                best[a] = dt < best[a] ? dt : best[a];
                for (int k = 0; k < NK; k++) kbest[a][k] = round == 0 || kt[k] < kbest[a][k] ? kt[k] : kbest[a][k];
            }
        for (int a = 0; a < n_ns; a++) {
            const int n = ns[a] > NV ? NV : ns[a];
            printf("%-5s n=%-2d best %7.2f ms (mean %7.2f)  %5.1f GB/s  %6.1f vec-GB/s  %5.2fx vs n=%d |", tok, n, best[a],
                   sum[a] / rounds, total / best[a] / 1e6, n * total / best[a] / 1e6,
                   n * best[0] / best[a] / (ns[0] > NV ? NV : ns[0]), ns[0]);
            double ks = 0;
            for (int k = 0; k < NK; k++) printf(" %s %.2f", kname[k], kbest[a][k]), ks += kbest[a][k];
            printf(" = %.2f ms\n", ks);
        }
        free(W);
    }
    for (int j = 0; j < NV; j++) free(x[j]), free(y[j]);
    return 0;
}

static int parse_ints(const char *s, int *out, int max) {
    int n = 0;
    for (const char *p = s; p && *p && n < max; p = strchr(p, ','), p = p ? p + 1 : NULL) out[n++] = atoi(p);
    return n;
}

int main(int argc, char **argv) {
    const char *types = NULL;
    int64_t rows = 128, cols = 768;
    int ns[8] = {1, 2, 4, 8, 16}, n_ns = 5, reps = 100, rounds = -1, stream = 0, huge = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--types") && i + 1 < argc) types = argv[++i];
        else if (!strcmp(argv[i], "--rows") && i + 1 < argc) rows = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--cols") && i + 1 < argc) cols = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--ns") && i + 1 < argc) n_ns = parse_ints(argv[++i], ns, 8);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--stream")) stream = 1;
        else if (!strcmp(argv[i], "--huge")) huge = 1;
        else {
            fprintf(stderr, "usage: bench_multi [--types f32,q4_0,..] [--rows R] [--cols C] [--ns 1,2,4] [--reps N] "
                            "[--rounds N] [--stream [--huge]]\n");
            return 2;
        }
    }
    if (stream) return stream_bench(types == NULL ? "f16" : types, ns, n_ns, rounds > 0 ? rounds : 5, huge);
    if (rounds < 0) rounds = 40;
    if (!types) types = "f32,f16,q8_0,q4_0,q4_k";
    if (rows < 1 || cols < 256 || cols % 256 || reps < 1 || rounds < 1) {
        fprintf(stderr, "bench_multi: rows >= 1, cols a multiple of 256, reps and rounds >= 1\n");
        return 2;
    }
    char err[MM_ERR_SIZE];
    if (mm_kernels_reserve_multi(NULL, cols, MM_MATVEC_MULTI_GROUP, err) != 0) {
        fprintf(stderr, "bench_multi: %s\n", err);
        return 5;
    }
    mm_multi_x *mx = mm_multi_x_create(cols, MM_MATVEC_MULTI_GROUP, err);
    if (!mx) {
        fprintf(stderr, "bench_multi: %s\n", err);
        return 5;
    }
    printf("kernels %s, one thread, %lld x %lld weights from cache, best of %d rounds of %d / n calls\n",
           mm_cpu_kernel_name(), (long long)rows, (long long)cols, rounds, reps);
    enum { NV = 16 };
    float *x[NV], *y[NV];
    srand(1);
    for (int j = 0; j < NV; j++) {
        x[j] = aligned_alloc(64, sizeof(float) * (size_t)((cols + 15) & ~15)), y[j] = aligned_alloc(64, sizeof(float) * (size_t)((rows + 15) & ~15));   /* as the decode state's buffers */
        for (int64_t i = 0; i < cols; i++) x[j][i] = (float)rand() / RAND_MAX - 0.5f;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", types);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        const int t = mm_type_from_name(tok);
        if (t < 0) continue;
        const size_t rb = mm_row_size((mm_type)t, cols);
        uint8_t *W = malloc(rb * (size_t)rows);
        float *row = malloc(sizeof(float) * (size_t)cols);
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t i = 0; i < cols; i++) row[i] = (float)rand() / RAND_MAX - 0.5f;
            mm_quantize_row((mm_type)t, row, W + (size_t)r * rb, cols);
        }
        const double bytes = (double)rb * (double)rows;
        double single = 0;
        for (int k = -1; k < n_ns; k++) {
            const int n = k < 0 ? 1 : ns[k] > NV ? NV : ns[k];
            double best = 1e30, bestq = 1e30, bests = 1e30;
            const int nrep = reps / n > 0 ? reps / n : 1;   /* short rounds: a shared machine preempts long ones */
            for (int round = 0; round < rounds; round++) {
                double t0 = mm_time_ms() / 1e3;
                for (int rep = 0; rep < nrep; rep++)
                    if (k < 0) mm_matvec_rows(NULL, 0, (mm_type)t, W, 0, rows, cols, x[0], y[0]);
                    else mm_matvec_multi_rows(NULL, 0, (mm_type)t, W, 0, rows, cols, n, (const float *const *)x, y);
                double dt = (mm_time_ms() / 1e3 - t0) / nrep;
                best = dt < best ? dt : best;
                if (k >= 0) {
                    t0 = mm_time_ms() / 1e3;
                    for (int rep = 0; rep < nrep; rep++)
                        mm_matvec_multi_rows(NULL, 0, (mm_type)t, W, 0, 1, cols, n, (const float *const *)x, y);
                    dt = (mm_time_ms() / 1e3 - t0) / nrep;
                    bestq = dt < bestq ? dt : bestq;
                    mm_matvec_multi_rows_shared(NULL, 0, (mm_type)t, W, 0, 1, cols, n, (const float *const *)x, y, mx, 1 + (uint64_t)t * 64 + (uint64_t)n);
                    t0 = mm_time_ms() / 1e3;
                    for (int rep = 0; rep < nrep; rep++)
                        mm_matvec_multi_rows_shared(NULL, 0, (mm_type)t, W, 0, rows, cols, n, (const float *const *)x, y, mx,
                                                    1 + (uint64_t)t * 64 + (uint64_t)n);
                    dt = (mm_time_ms() / 1e3 - t0) / nrep;
                    bests = dt < bests ? dt : bests;
                }
            }
            const double gbs = n * bytes / best / 1e9;
            if (k < 0) {
                single = gbs;
                printf("%-5s matvec_rows      : %8.0f ns  %6.1f vec-GB/s\n", tok, best * 1e9, gbs);
            } else {
                printf("%-5s multi n=%-2d       : %8.0f ns  %6.1f vec-GB/s  %5.2fx vs 1  (x only %5.0f ns, %4.1f%%)  shared %8.0f ns  %5.2fx vs 1\n",
                       tok, n, best * 1e9, gbs, gbs / single, bestq * 1e9, 100.0 * bestq / best, bests * 1e9,
                       n * bytes / bests / 1e9 / single);
            }
            fflush(stdout);
        }
        free(W), free(row);
    }
    for (int j = 0; j < NV; j++) free(x[j]), free(y[j]);
    mm_multi_x_free(mx);
    return 0;
}
