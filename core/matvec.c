/* matvec.c - matrix products: run-time kernel choice, plain-C kernels, naive references,
 * mm_matvec (decode), mm_linear (prefill: Q4_0/Q4_K/Q8_0's int8 gemm (gemm_int8.c), the own AVX-512 gemm, else
 * dequantized tiles + sgemm), mm_sgemm.
 *
 * Threads: everything runs on core's mm_pool. OpenBLAS is put at one thread once (mm_core_blas_init)
 * and each pool thread calls sgemm on its own slice of the output, so there is one set of threads only:
 * pool workers sleep on a condition variable between calls and OpenBLAS never starts threads of its own.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "mm_core.h"
#include "core_internal.h"

/* ---------------------------------------------------------------- OpenBLAS setup */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_init_once(void) { openblas_set_num_threads(1); }
void mm_core_blas_init(void) { pthread_once(&blas_once, blas_init_once); }

/* ---------------------------------------------------------------- plain-C kernels */
static float f16_table[65536];
static pthread_once_t f16_once = PTHREAD_ONCE_INIT;
static void f16_table_init(void) {
    for (uint32_t i = 0; i < 65536; i++) f16_table[i] = mm_fp16_to_fp32((uint16_t)i);
}

static void rows_f32_generic(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols,
                             const float *x, const mm_xq8 *xq, float *y) {
    (void)xq;
    for (int64_t r = r0; r < r1; r++) {
        const float *w = (const float *)((const uint8_t *)W + (size_t)r * rb);
        float acc[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= cols; i += 8)
            for (int j = 0; j < 8; j++) acc[j] += w[i + j] * x[i + j];
        float s = 0.0f;
        for (; i < cols; i++) s += w[i] * x[i];
        for (int j = 0; j < 8; j++) s += acc[j];
        y[r] = s;
    }
}

static void rows_f16_generic(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols,
                             const float *x, const mm_xq8 *xq, float *y) {
    (void)xq;
    pthread_once(&f16_once, f16_table_init);
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *w = (const uint16_t *)((const uint8_t *)W + (size_t)r * rb);
        float acc[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= cols; i += 8)
            for (int j = 0; j < 8; j++) acc[j] += f16_table[w[i + j]] * x[i + j];
        float s = 0.0f;
        for (; i < cols; i++) s += f16_table[w[i]] * x[i];
        for (int j = 0; j < 8; j++) s += acc[j];
        y[r] = s;
    }
}

static void rows_q8_0_generic(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols,
                              const float *x, const mm_xq8 *xq, float *y) {
    (void)xq;
    pthread_once(&f16_once, f16_table_init);
    int64_t nb = cols / MM_QK;
    for (int64_t r = r0; r < r1; r++) {
        const mm_block_q8_0 *b = (const mm_block_q8_0 *)((const uint8_t *)W + (size_t)r * rb);
        float acc[8] = {0};   /* 8 independent lanes: the compiler can keep them in one vector */
        for (int64_t i = 0; i < nb; i++) {
            const float *xb = x + i * MM_QK;
            float blk[8] = {0};
            for (int j = 0; j < MM_QK; j += 8)
                for (int l = 0; l < 8; l++) blk[l] += (float)b[i].qs[j + l] * xb[j + l];
            float d = f16_table[b[i].d];
            for (int l = 0; l < 8; l++) acc[l] += d * blk[l];
        }
        float s = 0.0f;
        for (int l = 0; l < 8; l++) s += acc[l];
        y[r] = s;
    }
}

static void rows_q4_0_generic(const void *W, size_t rb, int64_t r0, int64_t r1, int64_t cols,
                              const float *x, const mm_xq8 *xq, float *y) {
    (void)xq;
    pthread_once(&f16_once, f16_table_init);
    int64_t nb = cols / MM_QK;
    for (int64_t r = r0; r < r1; r++) {
        const mm_block_q4_0 *b = (const mm_block_q4_0 *)((const uint8_t *)W + (size_t)r * rb);
        float acc[8] = {0};
        for (int64_t i = 0; i < nb; i++) {
            const float *xb = x + i * MM_QK;
            float blk[8] = {0};
            for (int j = 0; j < MM_QK / 2; j += 8)
                for (int l = 0; l < 8; l++) {
                    blk[l] += (float)((b[i].qs[j + l] & 0x0f) - 8) * xb[j + l];
                    blk[l] += (float)((b[i].qs[j + l] >> 4) - 8) * xb[j + l + MM_QK / 2];
                }
            float d = f16_table[b[i].d];
            for (int l = 0; l < 8; l++) acc[l] += d * blk[l];
        }
        float s = 0.0f;
        for (int l = 0; l < 8; l++) s += acc[l];
        y[r] = s;
    }
}

static void deq_f32(const void *s, float *y, int64_t n) { mm_core_deq_scalar(MM_TYPE_F32, s, y, n); }
static void deq_f16(const void *s, float *y, int64_t n) {
    pthread_once(&f16_once, f16_table_init);
    const uint16_t *h = s;
    for (int64_t i = 0; i < n; i++) y[i] = f16_table[h[i]];
}
static void deq_q8_0(const void *s, float *y, int64_t n) { mm_core_deq_scalar(MM_TYPE_Q8_0, s, y, n); }
static void deq_q4_0(const void *s, float *y, int64_t n) { mm_core_deq_scalar(MM_TYPE_Q4_0, s, y, n); }

static size_t al64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t mm_xq8_bytes(int64_t cols) {
    size_t nb = (size_t)(cols / MM_QK);
    return 6 * al64((size_t)cols) + 3 * al64(nb * 4) + 3 * al64(nb * 32) + al64(nb * 4);
}

void mm_xq8_layout(int64_t cols, void *mem, mm_xq8 *o) {
    size_t nb = (size_t)(cols / MM_QK);
    uint8_t *p = mem;
    o->qs = (int8_t *)p;  p += al64((size_t)cols);
    o->qs4 = (int8_t *)p; p += al64((size_t)cols);
    o->qt = (int8_t *)p;  p += al64((size_t)cols);
    o->qu = p;            p += al64((size_t)cols);
    o->qu4 = p;           p += al64((size_t)cols);
    o->qtu = p;           p += al64((size_t)cols);
    o->d = (float *)p;    p += al64(nb * 4);
    o->ds = (float *)p;   p += al64(nb * 4);
    o->s8 = (float *)p;   p += al64(nb * 4);
    o->d8 = (float *)p;   p += al64(nb * 32);
    o->d4 = (float *)p;   p += al64(nb * 32);
    o->s4 = (float *)p;   p += al64(nb * 32);
    o->s16 = (int16_t *)p;
}

void mm_xq8_quantize(const float *x, int64_t cols, void *mem, mm_xq8 *o) {
    size_t nb = (size_t)(cols / MM_QK);
    mm_xq8_layout(cols, mem, o);
    for (size_t i = 0; i < nb; i++) {
        const float *xb = x + i * MM_QK;
        float amax = 0.0f;
        for (int j = 0; j < MM_QK; j++) amax = fmaxf(amax, fabsf(xb[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0, half = 0;
        for (int j = 0; j < MM_QK; j++) {
            int q = (int)roundf(xb[j] * id);
            o->qs[i * MM_QK + j] = (int8_t)q;
            sum += q;
            if (j == 15) half = sum;
        }
        o->s16[2 * i] = (int16_t)half;
        o->s16[2 * i + 1] = (int16_t)(sum - half);
        o->d[i] = d;
        o->ds[i] = d * (float)sum;
        for (int j = 0; j < 8; j++) o->d8[i * 8 + j] = d;
    }
    for (size_t i = 0; i < nb; i += 2) {
        if (i + 1 < nb) {
            for (int j = 0; j < 16; j++) {
                o->qs4[i * MM_QK + j] = o->qs[i * MM_QK + j];
                o->qs4[i * MM_QK + 16 + j] = o->qs[(i + 1) * MM_QK + j];
                o->qs4[i * MM_QK + 32 + j] = o->qs[i * MM_QK + 16 + j];
                o->qs4[i * MM_QK + 48 + j] = o->qs[(i + 1) * MM_QK + 16 + j];
            }
            for (int l = 0; l < 16; l++) {
                size_t blk = i + ((l / 4) & 1);
                o->d4[i * 8 + l] = o->d[blk];
                o->s4[i * 8 + l] = o->ds[blk];
            }
        } else {
            memcpy(o->qs4 + i * MM_QK, o->qs + i * MM_QK, MM_QK);
            for (int l = 0; l < 8; l++) {
                o->d4[i * 8 + l] = o->d[i];
                o->s4[i * 8 + l] = o->ds[i];
            }
        }
    }
}

const mm_kernel_table mm_kernels_generic = {
    .name = "generic",
    .rows = {rows_f32_generic, rows_f16_generic, rows_q8_0_generic, rows_q4_0_generic, MM_QUANTS_ROWS(generic)},
    .wants_xq = {false, false, false, false},   /* and false for the rest */
    .deq = {deq_f32, deq_f16, deq_q8_0, deq_q4_0, MM_QUANTS_DEQ(generic)},
};

/* ---------------------------------------------------------------- run-time choice */
static const mm_kernel_table *g_kernels;
static atomic_int g_own_gemm;   /* 0 = OpenBLAS, 1 = own AVX-512 gemm (set with the level) */
static atomic_int g_int8_gemm;  /* 1 = Q4_0/Q4_K prompts through the int8 gemm (avx2/avx512 default; MMGPT_GEMM=f32 off) */
static atomic_int g_int8_q8;    /* 1 = Q8_0 prompts too (MMGPT_GEMM=int8-q8_0) */
static pthread_once_t kern_once = PTHREAD_ONCE_INIT;

/* CPU features from cpuid + xgetbv (works with gcc and clang alike; clang 14's
 * __builtin_cpu_supports lacks "avx512vnni" and "f16c"). */
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
typedef struct { bool fma, f16c, avx2, avx512f, avx512dq, avx512bw, avx512vl, avx512vnni, os_avx, os_avx512; } cpu_feat;
static cpu_feat cpu_features(void) {
    cpu_feat f = {0};
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    f.fma = (c >> 12) & 1;
    f.f16c = (c >> 29) & 1;
    bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (osxsave && avx) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        f.os_avx = (lo & 0x6) == 0x6;               /* XMM + YMM state */
        f.os_avx512 = f.os_avx && (lo & 0xE0) == 0xE0; /* opmask + ZMM state */
    }
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        f.avx2 = (b >> 5) & 1;
        f.avx512f = (b >> 16) & 1;
        f.avx512dq = (b >> 17) & 1;
        f.avx512bw = (b >> 30) & 1;
        f.avx512vl = (b >> 31) & 1;
        f.avx512vnni = (c >> 11) & 1;
    }
    return f;
}
#endif

/* What each level needs from the CPU and the OS, as text: "" when all is there. Filled once by
 * kernels_init (under kern_once), read-only afterwards. */
static char g_missing[3][160];

static void add_missing(char *buf, bool have, const char *what) {
    if (have) return;
    size_t l = strlen(buf);
    snprintf(buf + l, sizeof g_missing[0] - l, "%s%s", l ? " " : "", what);
}

static void cpu_check(void) {
#if defined(__x86_64__) || defined(__i386__)
    cpu_feat f = cpu_features();
    const struct { int level; bool have; const char *what; } need[] = {
        {MM_KERNEL_AVX2, f.avx2, "avx2"},         {MM_KERNEL_AVX2, f.fma, "fma"},
        {MM_KERNEL_AVX2, f.f16c, "f16c"},         {MM_KERNEL_AVX2, f.os_avx, "OS-enabled AVX state"},
        {MM_KERNEL_AVX512, f.avx512f, "avx512f"}, {MM_KERNEL_AVX512, f.avx512dq, "avx512dq"},
        {MM_KERNEL_AVX512, f.avx512bw, "avx512bw"}, {MM_KERNEL_AVX512, f.avx512vl, "avx512vl"},
        {MM_KERNEL_AVX512, f.avx512vnni, "avx512vnni"}, {MM_KERNEL_AVX512, f.fma, "fma"},
        {MM_KERNEL_AVX512, f.f16c, "f16c"},       {MM_KERNEL_AVX512, f.os_avx512, "OS-enabled AVX-512 state"},
    };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) add_missing(g_missing[need[i].level], need[i].have, need[i].what);
#else
    add_missing(g_missing[MM_KERNEL_AVX2], false, "x86-64");
    add_missing(g_missing[MM_KERNEL_AVX512], false, "x86-64");
#endif
    if (!mm_kernels_avx2.name) snprintf(g_missing[MM_KERNEL_AVX2], sizeof g_missing[0], "not compiled in");
    if (!mm_kernels_avx512.name) snprintf(g_missing[MM_KERNEL_AVX512], sizeof g_missing[0], "not compiled in");
}

static const mm_kernel_table *const level_table[3] = {&mm_kernels_generic, &mm_kernels_avx2, &mm_kernels_avx512};
static const char *const level_name[3] = {"generic", "avx2", "avx512"};
static mm_kernel_level g_level;

/* MMGPT_KERNEL and MMGPT_GEMM are read here, once per process (the first kernel call). */
static void kernels_init(void) {
    cpu_check();
    int best = MM_KERNEL_GENERIC;
    if (!g_missing[MM_KERNEL_AVX2][0]) best = MM_KERNEL_AVX2;
    if (!g_missing[MM_KERNEL_AVX512][0]) best = MM_KERNEL_AVX512;
    const char *force = getenv("MMGPT_KERNEL");
    if (force && *force)   /* a forced level the CPU lacks falls back to the best one below it */
        for (int l = 0; l < best; l++)
            if (strcmp(force, level_name[l]) == 0) best = l;
    g_level = (mm_kernel_level)best;
    g_kernels = level_table[best];
    const char *e = getenv("MMGPT_GEMM");
    bool openblas = e && strcmp(e, "openblas") == 0, f32 = e && strcmp(e, "f32") == 0;
    bool q8 = e && strcmp(e, "int8-q8_0") == 0;
    atomic_store(&g_own_gemm, best == MM_KERNEL_AVX512 && !openblas);
    /* the default: prompts of the types the int8 gemm serves take it (8-bit activations, as decode);
     * MMGPT_GEMM=f32 (or openblas) keeps them on the f32 gemm over dequantized weights */
    atomic_store(&g_int8_gemm, best >= MM_KERNEL_AVX2 && !openblas && !f32);
    atomic_store(&g_int8_q8, q8);
}

const mm_kernel_table *mm_core_kernels(void) {
    pthread_once(&kern_once, kernels_init);
    return g_kernels;
}

/* own AVX-512 gemm: decided with the kernel level (MMGPT_GEMM=openblas forces OpenBLAS) */
bool mm_core_use_own_gemm(void) {
    mm_core_kernels();
    return atomic_load_explicit(&g_own_gemm, memory_order_relaxed) == 1;
}
void mm_core_set_own_gemm(bool on) { atomic_store(&g_own_gemm, on && mm_core_kernels() == &mm_kernels_avx512); }
bool mm_core_use_int8_gemm(mm_type t) {
    mm_core_kernels();
    if (atomic_load_explicit(&g_int8_gemm, memory_order_relaxed) != 1) return false;
    /* Q8_0 (bit-exact at avx2 and avx512) only with MMGPT_GEMM=int8-q8_0: the encoder, fusion and app tests
     * that hold Q8_0 prompts to f32 arithmetic are not restated yet (bench/README.md, int8q8 section) */
    return t == MM_TYPE_Q4_0 || t == MM_TYPE_Q4_K ||
           (t == MM_TYPE_Q8_0 && atomic_load_explicit(&g_int8_q8, memory_order_relaxed) == 1);
}
void mm_core_set_int8_gemm(bool on) { atomic_store(&g_int8_gemm, on && mm_core_kernels() != &mm_kernels_generic); }

const char *mm_cpu_kernel_name(void) { return mm_core_kernels()->name; }

mm_kernel_level mm_cpu_kernel_level(void) {
    mm_core_kernels();
    return g_level;
}

const char *mm_cpu_kernel_missing(const char *name) {
    mm_core_kernels();
    for (int l = 0; l < 3; l++)
        if (name && strcmp(name, level_name[l]) == 0) return g_missing[l][0] ? g_missing[l] : NULL;
    return "unknown level (known: generic, avx2, avx512)";
}

/* ---------------------------------------------------------------- naive references */
/* Dequantize elements [i0, i0+32) (or fewer for F32/F16/BF16 tails; 256 for the K-quants) of a row into buf
 * (MM_QK_K floats); returns count. */
static int64_t ref_chunk(mm_type t, const void *row, int64_t i0, int64_t cols, float *buf) {
    switch (t) {
    case MM_TYPE_F32: {
        int64_t c = cols - i0 < MM_QK ? cols - i0 : MM_QK;
        for (int64_t j = 0; j < c; j++) buf[j] = ((const float *)row)[i0 + j];
        return c;
    }
    case MM_TYPE_F16: {
        int64_t c = cols - i0 < MM_QK ? cols - i0 : MM_QK;
        for (int64_t j = 0; j < c; j++) buf[j] = mm_fp16_to_fp32(((const uint16_t *)row)[i0 + j]);
        return c;
    }
    case MM_TYPE_Q8_0: {
        const mm_block_q8_0 *b = (const mm_block_q8_0 *)row + i0 / MM_QK;
        float d = mm_fp16_to_fp32(b->d);
        for (int j = 0; j < MM_QK; j++) buf[j] = b->qs[j] * d;
        return MM_QK;
    }
    case MM_TYPE_Q4_0: {
        const mm_block_q4_0 *b = (const mm_block_q4_0 *)row + i0 / MM_QK;
        float d = mm_fp16_to_fp32(b->d);
        for (int j = 0; j < MM_QK / 2; j++) {
            buf[j] = ((b->qs[j] & 0x0f) - 8) * d;
            buf[j + MM_QK / 2] = ((b->qs[j] >> 4) - 8) * d;
        }
        return MM_QK;
    }
    default: {   /* the types of quants.c: one block with their plain-C dequantization */
        int64_t bs = mm_type_block_size(t);
        int64_t c = bs > 1 ? bs : (cols - i0 < MM_QK ? cols - i0 : MM_QK);
        mm_core_deq_scalar(t, (const uint8_t *)row + (size_t)(i0 / bs) * mm_type_block_bytes(t), buf, c);
        return c;
    }
    }
}

static double ref_dot(mm_type t, const void *row, int64_t cols, const float *x) {
    double s = 0.0;
    float buf[MM_QK_K];
    for (int64_t i = 0; i < cols;) {
        int64_t c = ref_chunk(t, row, i, cols, buf);
        for (int64_t j = 0; j < c; j++) s += (double)buf[j] * (double)x[i + j];
        i += c;
    }
    return s;
}

void mm_matvec_ref(mm_type t, const void *W, int64_t rows, int64_t cols, const float *x, float *y) {
    size_t rb = mm_row_size(t, cols);
    for (int64_t r = 0; r < rows; r++) y[r] = (float)ref_dot(t, (const uint8_t *)W + (size_t)r * rb, cols, x);
}

void mm_linear_ref(mm_type t, const void *W, const float *bias, int64_t rows, int64_t cols, int64_t n,
                   const float *X, float *Y) {
    size_t rb = mm_row_size(t, cols);
    for (int64_t i = 0; i < n; i++)
        for (int64_t r = 0; r < rows; r++) {
            double s = ref_dot(t, (const uint8_t *)W + (size_t)r * rb, cols, X + i * cols);
            if (bias) s += bias[r];
            Y[i * rows + r] = (float)s;
        }
}

/* ---------------------------------------------------------------- mm_matvec */
typedef struct {
    mm_rows_fn fn;
    const void *W;
    size_t rb;
    int64_t rows, cols;
    const float *x;
    const mm_xq8 *xq;
    float *y;
    int64_t chunk;              /* rows per claim */
    atomic_llong next;          /* first row not yet claimed */
} matvec_ctx;

/* Threads claim chunks of rows (about 8 per thread) instead of fixed halves: on a shared machine a
 * preempted thread holds up at most one chunk, the others take the rest. */
static void matvec_task(void *c, int ith, int nth) {
    (void)ith;
    (void)nth;
    matvec_ctx *m = c;
    for (;;) {
        int64_t r0 = atomic_fetch_add_explicit(&m->next, m->chunk, memory_order_relaxed);
        if (r0 >= m->rows) return;
        int64_t r1 = r0 + m->chunk < m->rows ? r0 + m->chunk : m->rows;
        m->fn(m->W, m->rb, r0, r1, m->cols, m->x, m->xq, m->y);
    }
}

/* Below this many weight elements a matvec runs on the caller's thread only (waking workers costs more). */
#define MM_MATVEC_MIN_PARALLEL (64 * 1024)

/* The row kernel for type index ti at this level, with x quantized into mem when the kernel wants that
 * (mem: mm_xq8_bytes(cols) bytes; NULL = out of memory: the plain-float kernel, which needs none). */
static mm_rows_fn prepare_x(const mm_kernel_table *k, int ti, const float *x, int64_t cols, void *mem, mm_xq8 *xq,
                            const mm_xq8 **xqp) {
    *xqp = NULL;
    if (!k->wants_xq[ti]) return k->rows[ti];
    if (!mem) return mm_kernels_generic.rows[ti];
    mm_core_quantize_x(k, x, cols, mem, xq);
    *xqp = xq;
    return k->rows[ti];
}

void mm_matvec(mm_pool *pool, mm_type t, const void *W, int64_t rows, int64_t cols, const float *x, float *y) {
    int ti = mm_core_type_index(t);
    size_t rb = mm_row_size(t, cols);
    if (ti < 0 || rows <= 0) return;
    if (rb == 0 && cols != 0) return;   /* invalid shape for the type */
    if (cols == 0) { memset(y, 0, (size_t)rows * sizeof(float)); return; }
    const mm_kernel_table *k = mm_core_kernels();
    void *mem = NULL;
    if (k->wants_xq[ti]) {
        size_t qbytes = mm_xq8_bytes(cols);
        if (pool && mm_core_reserve(pool, qbytes) != 0) pool = NULL;
        mem = mm_core_scratch(pool, 0, qbytes);
    }
    mm_xq8 xq;
    matvec_ctx m = {NULL, W, rb, rows, cols, x, NULL, y, rows, 0};
    m.fn = prepare_x(k, ti, x, cols, mem, &xq, &m.xq);
    int nth = mm_pool_n_threads(pool);
    if (nth == 1 || rows * cols < MM_MATVEC_MIN_PARALLEL || rows < 2) {
        matvec_task(&m, 0, 1);
    } else {
        int64_t ch = rows / (8 * (int64_t)nth);
        m.chunk = ch < 16 ? 16 : (ch + 15) & ~(int64_t)15;
        mm_pool_run(pool, matvec_task, &m);
    }
}

void mm_matvec_rows(mm_pool *pool, int ith, mm_type t, const void *W, int64_t r0, int64_t r1, int64_t cols,
                    const float *x, float *y) {
    int ti = mm_core_type_index(t);
    size_t rb = mm_row_size(t, cols);
    if (ti < 0 || r1 <= r0 || (rb == 0 && cols != 0)) return;
    if (cols == 0) { memset(y + r0, 0, (size_t)(r1 - r0) * sizeof(float)); return; }
    const mm_kernel_table *k = mm_core_kernels();
    void *mem = NULL;
    if (k->wants_xq[ti]) {
        size_t qbytes = mm_xq8_bytes(cols);
        mem = mm_core_scratch(pool, ith, qbytes);
        if (!mem) mem = mm_core_scratch(NULL, 0, qbytes);   /* not reserved: this OS thread's own buffer */
    }
    mm_xq8 xq;
    const mm_xq8 *xqp;
    mm_rows_fn fn = prepare_x(k, ti, x, cols, mem, &xq, &xqp);
    fn(W, rb, r0, r1, cols, x, xqp, y);
}

/* ---------------------------------------------------------------- mm_linear */
typedef struct {
    mm_pool *pool;
    mm_deq_fn deq;
    mm_type t;
    const void *W;
    const float *bias;
    size_t rb;
    int64_t rows, cols, n, tile;
    const float *X;
    float *Y;
} linear_ctx;

static void linear_slow_rows(const linear_ctx *L, int64_t r0, int64_t r1) {
    /* fallback without scratch: one dot product at a time (only when memory ran out) */
    for (int64_t i = 0; i < L->n; i++)
        for (int64_t r = r0; r < r1; r++)
            L->Y[i * L->rows + r] = (float)ref_dot(L->t, (const uint8_t *)L->W + (size_t)r * L->rb, L->cols,
                                                   L->X + i * L->cols);
}

static void linear_task(void *c, int ith, int nth) {
    linear_ctx *L = c;
    int64_t r0, r1;
    mm_split_range(L->rows, ith, nth, &r0, &r1);
    if (r1 <= r0) return;
    if (L->t == MM_TYPE_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)L->n, (int)(r1 - r0), (int)L->cols, 1.0f,
                    L->X, (int)L->cols, (const float *)L->W + r0 * L->cols, (int)L->cols, 0.0f,
                    L->Y + r0, (int)L->rows);
    } else {
        float *buf = mm_core_scratch(L->pool, ith, (size_t)L->tile * (size_t)L->cols * sizeof(float));
        if (!buf) {
            linear_slow_rows(L, r0, r1);
        } else {
            for (int64_t rt = r0; rt < r1; rt += L->tile) {
                int64_t nr = r1 - rt < L->tile ? r1 - rt : L->tile;
                for (int64_t r = 0; r < nr; r++)
                    L->deq((const uint8_t *)L->W + (size_t)(rt + r) * L->rb, buf + r * L->cols, L->cols);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)L->n, (int)nr, (int)L->cols, 1.0f,
                            L->X, (int)L->cols, buf, (int)L->cols, 0.0f, L->Y + rt, (int)L->rows);
            }
        }
    }
    if (L->bias)
        for (int64_t i = 0; i < L->n; i++) {
            float *yr = L->Y + i * L->rows;
            for (int64_t r = r0; r < r1; r++) yr[r] += L->bias[r];
        }
}

/* Rows of dequantized weight per sgemm call: about LINEAR_TILE_BYTES of f32, 16..4096 rows. Each call repacks
 * all of X, so narrow tiles cost: 256 KiB tiles (16 rows at 3072 columns) ran 512 x 3072 x 768 at 53-61
 * GFLOP/s, 4 MiB tiles at 84-93 (F16/Q8_0, avx2, one thread, bench_gemm_cpu --cols 3072). */
#define LINEAR_TILE_BYTES (4 << 20)
static int64_t linear_tile_rows(int64_t cols) {
    int64_t t = (LINEAR_TILE_BYTES / 4) / (cols > 0 ? cols : 1);
    if (t < 16) t = 16;
    if (t > 4096) t = 4096;
    return t & ~(int64_t)15;
}

int mm_kernels_reserve(mm_pool *pool, int64_t max_cols, char *err) {
    if (max_cols < 0 || max_cols > ((int64_t)1 << 32))
        return mm_err(err, "%s: %lld columns is out of range", __func__, (long long)max_cols);
    /* dequantized tile: tile(cols) * cols floats <= max(LINEAR_TILE_BYTES, 16 rows of max_cols) for every cols,
     * used where mm_linear takes OpenBLAS tiles (not with the own AVX-512 gemm) */
    size_t need = mm_xq8_bytes(max_cols), tile = mm_core_use_own_gemm() ? 256 * 1024 : LINEAR_TILE_BYTES;
    if ((size_t)max_cols * 16 * sizeof(float) > tile) tile = (size_t)max_cols * 16 * sizeof(float);
    if (tile > need) need = tile;
    if (mm_core_kernels() == &mm_kernels_avx512 && mm_core_gemm_scratch_bytes() > need) need = mm_core_gemm_scratch_bytes();
    if (mm_core_reserve(pool, need) != 0)
        return mm_err(err, "%s: out of memory (%zu bytes of kernel scratch per thread)", __func__, need);
    return 0;
}

/* The kernel rule of mm_linear (mm_core.h): a few rows (n <= MM_MATVEC_MULTI_GROUP) at F16 or BF16 take one pass
 * of the multi-vector matvec instead of the gemm, whose dequantization of every weight tile costs more than the
 * few rows it serves (a 10-token chat turn of the 124M shape at F16 was admitted ~2.5x faster by `mmgpt serve`,
 * bench/README.md). Both use x as it is (f32 products of the converted weights), so the rows differ from the
 * gemm's in the last bits only, and each equals mm_matvec on that row alone bit for bit. The quantized types
 * keep the gemm: their matvec rounds x to 8 bits, which would make a decoder's cache depend on how a prompt was
 * split by more than the last bits (F32: the gemm reads the weights as they are and was as fast). */
static bool linear_by_matvec(mm_type t, int64_t n) {
    return n <= MM_MATVEC_MULTI_GROUP && (t == MM_TYPE_F16 || t == MM_TYPE_BF16);
}

void mm_linear(mm_pool *pool, mm_type t, const void *W, const float *bias, int64_t rows, int64_t cols,
               int64_t n, const float *X, float *Y) {
    int ti = mm_core_type_index(t);
    size_t rb = mm_row_size(t, cols);
    if (ti < 0 || rows <= 0 || n <= 0) return;
    if (rb == 0 && cols != 0) return;
    if (n == 1 || cols == 0) {
        for (int64_t i = 0; i < n; i++) {
            mm_matvec(pool, t, W, rows, cols, X + i * cols, Y + i * rows);
            if (bias) mm_add(Y + i * rows, Y + i * rows, bias, rows);
        }
        return;
    }
    if (linear_by_matvec(t, n)) { /* one pass of the multi-vector matvec: each row as mm_matvec on it alone */
        const float *xs[MM_MATVEC_MULTI_GROUP];
        float *ys[MM_MATVEC_MULTI_GROUP];
        for (int64_t i = 0; i < n; i++) xs[i] = X + i * cols, ys[i] = Y + i * rows;
        mm_matvec_multi(pool, t, W, rows, cols, (int)n, xs, ys);
        if (bias)
            for (int64_t i = 0; i < n; i++) mm_add(ys[i], ys[i], bias, rows);
        return;
    }
    const mm_kernel_table *k = mm_core_kernels();
    int done = -1;
    if (mm_core_use_int8_gemm(t)) done = mm_core_gemm_int8(pool, t, W, rows, cols, n, X, Y);
    if (done != 0 && mm_core_use_own_gemm()) {
        mm_gemm_b b = {MM_GEMM_B_WEIGHT, NULL, 0, W, t, rb, k->deq[ti]};
        if (t == MM_TYPE_F32) b = (mm_gemm_b){MM_GEMM_B_TRANS, W, cols, NULL, t, 0, NULL};
        done = mm_core_gemm_avx512(pool, &b, n, rows, cols, 1.0f, X, cols, 0.0f, Y, rows);
    }
    if (done == 0) {
        if (bias)
            for (int64_t i = 0; i < n; i++) mm_add(Y + i * rows, Y + i * rows, bias, rows);
        return;
    }
    mm_core_blas_init();
    linear_ctx L = {pool, k->deq[ti], t, W, bias, rb, rows, cols, n, linear_tile_rows(cols), X, Y};
    int64_t per_thread = (rows + mm_pool_n_threads(pool) - 1) / mm_pool_n_threads(pool);
    if (L.tile > per_thread) L.tile = (per_thread + 15) & ~(int64_t)15;   /* no bigger than a thread's rows */
    if (pool && t != MM_TYPE_F32)
        if (mm_core_reserve(pool, (size_t)L.tile * (size_t)cols * sizeof(float)) != 0) L.pool = NULL, pool = NULL;
    if (!pool || mm_pool_n_threads(pool) == 1)
        linear_task(&L, 0, 1);
    else
        mm_pool_run(pool, linear_task, &L);
}

/* ---------------------------------------------------------------- mm_sgemm */
typedef struct {
    bool transB;
    int64_t m, n, k, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
} sgemm_ctx;

static void sgemm_task(void *c, int ith, int nth) {
    sgemm_ctx *s = c;
    int64_t i0, i1;
    mm_split_range(s->m, ith, nth, &i0, &i1);
    if (i1 <= i0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, s->transB ? CblasTrans : CblasNoTrans, (int)(i1 - i0), (int)s->n,
                (int)s->k, s->alpha, s->A + i0 * s->lda, (int)s->lda, s->B, (int)s->ldb, s->beta,
                s->C + i0 * s->ldc, (int)s->ldc);
}

void mm_sgemm(mm_pool *pool, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float *A,
              int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {   /* C = beta * C (OpenBLAS would reject lda = 0) */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    if (mm_core_use_own_gemm()) {
        mm_gemm_b b = {transB ? MM_GEMM_B_TRANS : MM_GEMM_B_ROWMAJOR, B, ldb, NULL, MM_TYPE_F32, 0, NULL};
        if (mm_core_gemm_avx512(pool, &b, m, n, k, alpha, A, lda, beta, C, ldc) == 0) return;
    }
    mm_core_blas_init();
    sgemm_ctx s = {transB, m, n, k, lda, ldb, ldc, alpha, beta, A, B, C};
    int nth = mm_pool_n_threads(pool);
    if (nth == 1 || m < 2 * nth || (double)m * n * k < 2e5)
        sgemm_task(&s, 0, 1);
    else
        mm_pool_run(pool, sgemm_task, &s);
}
