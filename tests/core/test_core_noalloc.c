/* test_core_noalloc.c - the hot paths never allocate once warmed up ("a forward pass never calls malloc").
 *
 * malloc/calloc/realloc/posix_memalign/aligned_alloc/memalign are interposed and counted
 * (tests/mm_alloc_count.h). After one warm-up call of each shape, 20 more calls of mm_matvec
 * (all types), mm_linear (n = 1 and n > 1, with bias), mm_sgemm, the elementwise ops, quantize/dequantize
 * rows and mm_pool_run - with a 2-thread pool and with pool == NULL - must make zero allocations.
 * Runs at every kernel level (MMGPT_KERNEL; a level the CPU lacks is skipped, 77, naming the missing
 * features); skipped (77) under sanitizers, which own malloc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_core.h"
#include "mm_level.h"

#include "mm_alloc_count.h"

#ifndef MM_NO_INTERPOSE
static void nop_task(void *c, int ith, int nth) { (void)c; (void)ith; (void)nth; }

static int failures;

#define N_T 11   /* every computable type (768 columns: a multiple of every block size) */
static const mm_type types[N_T] = {MM_TYPE_F32,  MM_TYPE_F16,  MM_TYPE_Q8_0, MM_TYPE_Q4_0, MM_TYPE_BF16, MM_TYPE_Q4_1,
                                   MM_TYPE_Q5_0, MM_TYPE_Q5_1, MM_TYPE_Q4_K, MM_TYPE_Q5_K, MM_TYPE_Q6_K};

static void hot(mm_pool *pool, void **W, float *x, float *y, float *X, float *Y, float *b, float *C, uint8_t *q) {
    for (int t = 0; t < N_T; t++) {
        mm_matvec(pool, types[t], W[t], 512, 768, x, y);
        mm_linear(pool, types[t], W[t], b, 512, 768, 1, x, y);
        mm_linear(pool, types[t], W[t], b, 512, 768, 7, X, Y);
    }
    mm_sgemm(pool, true, 7, 512, 768, 1.0f, X, 768, (const float *)W[0], 768, 0.0f, C, 512);
    mm_sgemm(pool, false, 64, 96, 64, 1.0f, X, 64, X, 96, 1.0f, C, 96);
    mm_layernorm(y, x, x, x, 768, 1e-5f);
    mm_gelu_tanh(y, 768);
    mm_gelu_erf(y, 768);
    mm_quick_gelu(y, 768);
    mm_softmax(y, 768);
    mm_add(y, y, x, 768);
    mm_scale(y, 0.5f, 768);
    for (int t = 0; t < N_T; t++) {
        mm_quantize_row(types[t], x, q, 768);
        mm_dequantize_row(types[t], q, y, 768);
    }
    mm_pool_run(pool, nop_task, NULL);
}

int main(void) {
    char err[MM_ERR_SIZE];
    int lv = mm_test_forced_level("core noalloc");   /* the level this test is named after really runs */
    if (lv != 0) return lv;
    printf("kernel level: %s\n", mm_cpu_kernel_name());
    mm_pool *pool = mm_pool_create(2, err);
    if (!pool) { fprintf(stderr, "%s\n", err); return 1; }
    void *W[N_T];
    float *row = malloc(768 * sizeof(float));
    for (int t = 0; t < N_T; t++) {
        size_t rb = mm_row_size(types[t], 768);
        W[t] = malloc(rb * 512);
        for (int r = 0; r < 512; r++) {
            for (int j = 0; j < 768; j++) row[j] = (float)((r * 31 + j * 7) % 17) / 17.0f - 0.5f;
            mm_quantize_row(types[t], row, (uint8_t *)W[t] + (size_t)r * rb, 768);
        }
    }
    float *x = malloc(768 * 4), *y = malloc(768 * 4), *X = malloc(7 * 768 * 4 + 64 * 96 * 4), *Y = malloc(7 * 512 * 4),
          *b = malloc(512 * 4), *C = malloc(64 * 512 * 4);
    uint8_t *q = malloc(768 * 4);
    for (int j = 0; j < 768; j++) x[j] = (float)(j % 13) / 13.0f - 0.4f;
    for (int j = 0; j < 7 * 768 + 64 * 96; j++) X[j] = (float)(j % 11) / 11.0f - 0.5f;
    for (int j = 0; j < 512; j++) b[j] = 0.1f;
    memset(C, 0, 64 * 512 * 4);
    mm_pool *pools[2] = {pool, NULL};
    for (int pi = 0; pi < 2; pi++) {
        long w0 = atomic_load(&mm_alloc_count);
        hot(pools[pi], W, x, y, X, Y, b, C, q);   /* warm-up: scratch grows here */
        long before = atomic_load(&mm_alloc_count);
        /* the counter must see core's own allocations, else the check below proves nothing */
        if (before - w0 == 0) {
            fprintf(stderr, "FAIL: warm-up made no allocation: interposition does not work\n");
            failures++;
        }
        for (int it = 0; it < 20; it++) hot(pools[pi], W, x, y, X, Y, b, C, q);
        long made = atomic_load(&mm_alloc_count) - before;
        printf("%s: %ld allocations in 20 warmed-up rounds\n", pi == 0 ? "2-thread pool" : "pool = NULL", made);
        if (made != 0) failures++;
    }
    for (int t = 0; t < N_T; t++) free(W[t]);
    free(row); free(x); free(y); free(X); free(Y); free(b); free(C); free(q);
    mm_pool_free(pool);
    if (failures) { fprintf(stderr, "FAIL: kernels allocated in steady state\n"); return 1; }
    printf("no allocations in steady state\n");
    return 0;
}
#else
int main(void) { return mm_alloc_skip(); }
#endif
