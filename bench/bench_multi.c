/* bench_multi.c - the batched decode's kernel alone: mm_matvec_multi (one matrix times n vectors) against n
 * separate mm_matvec, per type, at the level the machine (or MMGPT_KERNEL) picks.
 *
 *   bench_multi [--types f32,f16,q8_0,...] [--rows 256] [--cols 768] [--threads 1] [--rounds 40]
 *
 * Prints, per type, nanoseconds per (row x vector) for n = 1 (mm_matvec) and n = 2, 4, 8, 16
 * (mm_matvec_multi), and the speed-up over n = 1. Each figure is the best of --rounds short timings
 * (alternating the n), so a loaded machine still gives the kernel's own cost. The default 256 x 768 rows
 * stay in cache: the per-vector arithmetic is timed (the batched step's bound once the weights are read
 * once); a large --rows times the memory-bound case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_core.h"

static float frand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) / 8388608.0 - 1.0);
}

enum { NMAX = 16 };

int main(int argc, char **argv) {
    const char *types = "f32,f16,bf16,q8_0,q4_0,q4_k,q5_k,q6_k";
    int64_t rows = 256, cols = 768;
    int nth = 1, rounds = 40;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--types") && i + 1 < argc) types = argv[++i];
        else if (!strcmp(argv[i], "--rows") && i + 1 < argc) rows = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--cols") && i + 1 < argc) cols = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) nth = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_multi [--types f32,q4_k,...] [--rows 256] [--cols 768] [--threads 1] [--rounds 40]\n");
            return 2;
        }
    }
    if (rows < 1 || cols < 1 || nth < 1 || rounds < 1 || rows > (1 << 20) || cols > (1 << 16)) {
        fprintf(stderr, "bench_multi: bad sizes\n");
        return 2;
    }
    char err[MM_ERR_SIZE];
    mm_pool *pool = mm_pool_create(nth, err);
    if (!pool || mm_kernels_reserve_multi(pool, cols, NMAX, err) != 0) {
        fprintf(stderr, "bench_multi: %s\n", err);
        return 5;
    }
    printf("bench_multi: kernels %s, %lld x %lld, %d thread(s), best of %d\n", mm_cpu_kernel_name(), (long long)rows,
           (long long)cols, nth, rounds);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", types);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        const int t = mm_type_from_name(tok);
        const size_t rb = t < 0 ? 0 : mm_row_size((mm_type)t, cols);
        if (rb == 0) {
            fprintf(stderr, "bench_multi: %s: no rows of %lld columns\n", tok, (long long)cols);
            continue;
        }
        unsigned s = 7;
        uint8_t *W = malloc(rb * (size_t)rows);
        float *row = malloc(sizeof(float) * (size_t)cols), *x[NMAX], *y[NMAX];
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t i = 0; i < cols; i++) row[i] = frand(&s);
            mm_quantize_row((mm_type)t, row, W + (size_t)r * rb, cols);
        }
        for (int j = 0; j < NMAX; j++) {
            x[j] = malloc(sizeof(float) * (size_t)cols), y[j] = malloc(sizeof(float) * (size_t)rows);
            for (int64_t i = 0; i < cols; i++) x[j][i] = frand(&s);
        }
        const int ns[] = {1, 2, 4, 8, 16};
        double best[5] = {1e30, 1e30, 1e30, 1e30, 1e30};
        const int reps = (int)(2e6 / ((double)rows * (double)cols)) + 1; /* ~2M weights per timing */
        for (int round = 0; round < rounds; round++)
            for (int k = 0; k < 5; k++) {
                const double t0 = mm_time_ms();
                for (int rep = 0; rep < reps; rep++)
                    if (ns[k] == 1) mm_matvec(pool, (mm_type)t, W, rows, cols, x[0], y[0]);
                    else mm_matvec_multi(pool, (mm_type)t, W, rows, cols, ns[k], (const float *const *)x, y);
                const double ns_rv = (mm_time_ms() - t0) * 1e6 / reps / ns[k] / (double)rows;
                if (ns_rv < best[k]) best[k] = ns_rv;
            }
        printf("%-5s ns per row-vector: n=1 %.2f", tok, best[0]);
        for (int k = 1; k < 5; k++) printf(" | n=%d %.2f (%.2fx)", ns[k], best[k], best[0] / best[k]);
        printf("\n");
        for (int j = 0; j < NMAX; j++) free(x[j]), free(y[j]);
        free(W), free(row);
    }
    mm_pool_free(pool);
    return 0;
}
