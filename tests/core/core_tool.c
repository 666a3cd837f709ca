/* core_tool.c - command-line access to core functions for the Python tests (not a test itself).
 * Raw files are little-endian arrays without header.
 *   core_tool fp16-to-f32  IN.u16 OUT.f32
 *   core_tool f32-to-fp16  IN.f32 OUT.u16
 *   core_tool quantize TYPE IN.f32 OUT.raw          (row = whole file; n multiple of 32 for q types)
 *   core_tool dequantize TYPE N IN.raw OUT.f32
 *   core_tool op NAME ROWLEN IN.f32 OUT.f32        NAME: gelu_tanh gelu_erf quick_gelu softmax (per row)
 *   core_tool layernorm N EPS X.f32 W.f32 B.f32 OUT.f32   (per row of N; W/B "-" for none)
 *   core_tool add A.f32 B.f32 OUT.f32 | scale S IN.f32 OUT.f32
 *   core_tool matvec TYPE ROWS COLS W.raw X.f32 THREADS OUT.f32
 *   core_tool npy-read IN.npy OUT.f32      prints "ndim d0 d1 ..." on stdout; error -> stderr, exit 3
 *   core_tool npy-write IN.f32 OUT.npy D0 [D1 ...]   (no dims: 0-d array)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_core.h"

static void *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "core_tool: cannot open %s\n", path); exit(3); }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(sz > 0 ? (size_t)sz : 1);
    if (!p || fread(p, 1, (size_t)sz, f) != (size_t)sz) { fprintf(stderr, "core_tool: read %s\n", path); exit(3); }
    fclose(f);
    *n = (size_t)sz;
    return p;
}
static void spit(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) { fprintf(stderr, "core_tool: write %s\n", path); exit(3); }
}
static int usage(void) {
    fprintf(stderr, "core_tool: bad usage (see the top of core_tool.c)\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage();
    const char *cmd = argv[1];
    size_t n;
    if (!strcmp(cmd, "fp16-to-f32") && argc == 4) {
        uint16_t *h = slurp(argv[2], &n);
        size_t k = n / 2;
        float *y = malloc(k * 4 + 4);
        for (size_t i = 0; i < k; i++) y[i] = mm_fp16_to_fp32(h[i]);
        spit(argv[3], y, k * 4);
        free(h); free(y);
    } else if (!strcmp(cmd, "f32-to-fp16") && argc == 4) {
        float *x = slurp(argv[2], &n);
        size_t k = n / 4;
        uint16_t *h = malloc(k * 2 + 2);
        for (size_t i = 0; i < k; i++) h[i] = mm_fp32_to_fp16(x[i]);
        spit(argv[3], h, k * 2);
        free(x); free(h);
    } else if (!strcmp(cmd, "quantize") && argc == 5) {
        int t = mm_type_from_name(argv[2]);
        float *x = slurp(argv[3], &n);
        size_t rb = mm_row_size((mm_type)t, (int64_t)(n / 4));
        if (t < 0 || rb == 0) { free(x); return usage(); }
        void *q = malloc(rb);
        mm_quantize_row((mm_type)t, x, q, (int64_t)(n / 4));
        spit(argv[4], q, rb);
        free(x); free(q);
    } else if (!strcmp(cmd, "dequantize") && argc == 6) {
        int t = mm_type_from_name(argv[2]);
        int64_t k = atoll(argv[3]);
        void *q = slurp(argv[4], &n);
        if (t < 0 || mm_row_size((mm_type)t, k) != n) { free(q); return usage(); }
        float *y = malloc((size_t)k * 4 + 4);
        mm_dequantize_row((mm_type)t, q, y, k);
        spit(argv[5], y, (size_t)k * 4);
        free(q); free(y);
    } else if (!strcmp(cmd, "op") && argc == 6) {
        int64_t len = atoll(argv[3]);
        float *x = slurp(argv[4], &n);
        int64_t total = (int64_t)(n / 4);
        if (len <= 0 || total % len) { free(x); return usage(); }
        for (int64_t r = 0; r < total / len; r++) {
            float *row = x + r * len;
            if (!strcmp(argv[2], "gelu_tanh")) mm_gelu_tanh(row, len);
            else if (!strcmp(argv[2], "gelu_erf")) mm_gelu_erf(row, len);
            else if (!strcmp(argv[2], "quick_gelu")) mm_quick_gelu(row, len);
            else if (!strcmp(argv[2], "softmax")) mm_softmax(row, len);
            else { free(x); return usage(); }
        }
        spit(argv[5], x, n);
        free(x);
    } else if (!strcmp(cmd, "layernorm") && argc == 8) {
        int64_t len = atoll(argv[2]);
        float eps = strtof(argv[3], NULL);
        size_t nw, nb;
        float *x = slurp(argv[4], &n);
        float *w = strcmp(argv[5], "-") ? slurp(argv[5], &nw) : NULL;
        float *b = strcmp(argv[6], "-") ? slurp(argv[6], &nb) : NULL;
        int64_t total = (int64_t)(n / 4);
        if (len <= 0 || total % len) { free(x); free(w); free(b); return usage(); }
        float *y = malloc(n + 4);
        for (int64_t r = 0; r < total / len; r++) mm_layernorm(y + r * len, x + r * len, w, b, len, eps);
        spit(argv[7], y, n);
        free(x); free(w); free(b); free(y);
    } else if (!strcmp(cmd, "add") && argc == 5) {
        size_t nb;
        float *a = slurp(argv[2], &n), *b = slurp(argv[3], &nb);
        if (n != nb) { free(a); free(b); return usage(); }
        mm_add(a, a, b, (int64_t)(n / 4));   /* y aliases a */
        spit(argv[4], a, n);
        free(a); free(b);
    } else if (!strcmp(cmd, "scale") && argc == 5) {
        float *x = slurp(argv[3], &n);
        mm_scale(x, strtof(argv[2], NULL), (int64_t)(n / 4));
        spit(argv[4], x, n);
        free(x);
    } else if (!strcmp(cmd, "matvec") && argc == 9) {
        int t = mm_type_from_name(argv[2]);
        int64_t rows = atoll(argv[3]), cols = atoll(argv[4]);
        size_t nx;
        void *W = slurp(argv[5], &n);
        float *x = slurp(argv[6], &nx);
        if (t < 0 || mm_row_size((mm_type)t, cols) * (size_t)rows != n || nx != (size_t)cols * 4) { free(W); free(x); return usage(); }
        char err[MM_ERR_SIZE];
        mm_pool *pool = mm_pool_create(atoi(argv[7]), err);
        if (!pool) { fprintf(stderr, "core_tool: %s\n", err); free(W); free(x); return 5; }
        float *y = malloc((size_t)rows * 4);
        mm_matvec(pool, (mm_type)t, W, rows, cols, x, y);
        mm_pool_free(pool);
        spit(argv[8], y, (size_t)rows * 4);
        free(W); free(x); free(y);
        printf("%s\n", mm_cpu_kernel_name());
    } else if (!strcmp(cmd, "npy-read") && argc == 4) {
        float *d;
        int nd;
        int64_t shape[4];
        char err[MM_ERR_SIZE];
        if (mm_npy_read(argv[2], &d, &nd, shape, err) != 0) {
            fprintf(stderr, "core_tool: %s\n", err);
            return 3;
        }
        int64_t cnt = 1;
        printf("%d", nd);
        for (int i = 0; i < nd; i++) { printf(" %lld", (long long)shape[i]); cnt *= shape[i]; }
        printf("\n");
        spit(argv[3], d, (size_t)cnt * 4);
        free(d);
    } else if (!strcmp(cmd, "npy-write") && argc >= 4 && argc <= 8) {
        float *x = slurp(argv[2], &n);
        int nd = argc - 4;
        int64_t shape[4];
        for (int i = 0; i < nd; i++) shape[i] = atoll(argv[4 + i]);
        char err[MM_ERR_SIZE];
        if (mm_npy_write(argv[3], x, nd, shape, err) != 0) {
            fprintf(stderr, "core_tool: %s\n", err);
            free(x);
            return 3;
        }
        free(x);
    } else {
        return usage();
    }
    return 0;
}
