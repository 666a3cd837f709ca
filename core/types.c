/* types.c - tensor type table, fp16 conversion, Q8_0 / Q4_0 quantization (ggml block layouts); the other
 * quantized types are in quants.c. */
#include <math.h>
#include <string.h>

#include "mm_core.h"
#include "core_internal.h"
#include "mm_gguf.h"

/* The computable types: id, name, elements per block, bytes per block (order: mm_type_supported_names). */
static const struct {
    mm_type t;
    const char *name;
    int64_t blck;
    size_t bytes;
} k_types[] = {
    {MM_TYPE_F32, "f32", 1, 4},
    {MM_TYPE_F16, "f16", 1, 2},
    {MM_TYPE_BF16, "bf16", 1, 2},
    {MM_TYPE_Q8_0, "q8_0", MM_QK, sizeof(mm_block_q8_0)},
    {MM_TYPE_Q4_0, "q4_0", MM_QK, sizeof(mm_block_q4_0)},
    {MM_TYPE_Q4_1, "q4_1", MM_QK, sizeof(mm_block_q4_1)},
    {MM_TYPE_Q5_0, "q5_0", MM_QK, sizeof(mm_block_q5_0)},
    {MM_TYPE_Q5_1, "q5_1", MM_QK, sizeof(mm_block_q5_1)},
    {MM_TYPE_Q4_K, "q4_k", MM_QK_K, sizeof(mm_block_q4_k)},
    {MM_TYPE_Q5_K, "q5_k", MM_QK_K, sizeof(mm_block_q5_k)},
    {MM_TYPE_Q6_K, "q6_k", MM_QK_K, sizeof(mm_block_q6_k)},
};
#define N_TYPES ((int)(sizeof k_types / sizeof k_types[0]))

static int type_row(int type) {
    for (int i = 0; i < N_TYPES; i++)
        if ((int)k_types[i].t == type) return i;
    return -1;
}

bool mm_type_supported(int type) { return type_row(type) >= 0; }

const char *mm_type_name(int type) {
    int i = type_row(type);
    if (i >= 0) return k_types[i].name;
    const char *g = mm_gguf_type_name(type);   /* known to ggml, not computable here */
    return g ? g : "?";
}

const char *mm_type_supported_names(void) {
    return "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k";
}

int mm_type_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < N_TYPES; i++)
        if (strcmp(name, k_types[i].name) == 0) return (int)k_types[i].t;
    return -1;
}

int64_t mm_type_block_size(mm_type t) {
    int i = type_row((int)t);
    return i >= 0 ? k_types[i].blck : 1;
}

size_t mm_type_block_bytes(mm_type t) {
    int i = type_row((int)t);
    return i >= 0 ? k_types[i].bytes : 0;
}

size_t mm_row_size(mm_type t, int64_t n) {
    int64_t bs = mm_type_block_size(t);
    size_t bb = mm_type_block_bytes(t);
    if (n < 0 || bb == 0 || n % bs != 0) return 0;
    uint64_t nb = (uint64_t)(n / bs);
    if (nb > (uint64_t)SIZE_MAX / bb) return 0;
    return (size_t)nb * bb;
}

/* ---------------------------------------------------------------- fp16 (IEEE binary16) */
float mm_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);               /* inf / nan (payload kept) */
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);       /* normal: rebias 15 -> 127 */
    } else if (man == 0) {
        bits = sign;                                           /* signed zero */
    } else {                                                   /* subnormal: man * 2^-24 */
        int e = 113;                                           /* exponent of 2^-14 */
        while (!(man & 0x400)) { man <<= 1; e--; }
        bits = sign | ((uint32_t)e << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t mm_fp32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {                                   /* inf / nan */
        if (ax == 0x7f800000u) return sign | 0x7c00;
        uint16_t m = (uint16_t)((ax >> 13) & 0x3ff);
        return sign | 0x7c00 | (m ? m : 0x200);                /* keep payload, never become inf */
    }
    if (ax >= 0x477ff000u) return sign | 0x7c00;               /* >= 65520 rounds to inf */
    if (ax < 0x38800000u) {                                    /* below 2^-14: subnormal or zero */
        if (ax < 0x33000000u) return sign;                     /* < 2^-25 (2^-25 ties to 0) */
        uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;                              /* 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return sign | (uint16_t)r;
    }
    uint32_t r = ax - 0x38000000u;                             /* rebias 127 -> 15 */
    uint32_t h = r >> 13, rem = r & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;       /* nearest even; carry may give inf */
    return sign | (uint16_t)h;
}

/* ---------------------------------------------------------------- quantization (ggml reference) */
static void quantize_q8_0(const float *x, mm_block_q8_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float amax = 0.0f;
        for (int j = 0; j < MM_QK; j++) amax = fmaxf(amax, fabsf(x[i * MM_QK + j]));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = mm_fp32_to_fp16(d);
        for (int j = 0; j < MM_QK; j++) {
            float v = roundf(x[i * MM_QK + j] * id);
            y[i].qs[j] = (int8_t)(v >= 127.0f ? 127 : v <= -127.0f ? -127 : v == v ? (int)v : 0); /* NaN/inf defined */
        }
    }
}

static void quantize_q4_0(const float *x, mm_block_q4_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float *xb = x + i * MM_QK;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < MM_QK; j++) {
            if (fabsf(xb[j]) > amax) { amax = fabsf(xb[j]); max = xb[j]; }
        }
        float d = max / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = mm_fp32_to_fp16(d);
        for (int j = 0; j < MM_QK / 2; j++) {
            float v0 = xb[j] * id + 8.5f, v1 = xb[j + MM_QK / 2] * id + 8.5f;
            uint8_t q0 = (uint8_t)(v0 < 15.0f ? (v0 > 0.0f ? (int)v0 : 0) : 15);   /* NaN -> 0 */
            uint8_t q1 = (uint8_t)(v1 < 15.0f ? (v1 > 0.0f ? (int)v1 : 0) : 15);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void mm_quantize_row(mm_type t, const float *x, void *dst, int64_t n) {
    switch (t) {
    case MM_TYPE_F32: memcpy(dst, x, (size_t)n * 4); break;
    case MM_TYPE_F16: {
        const mm_kernel_table *k = mm_core_kernels();
        if (k->to_f16) { k->to_f16(x, dst, n); break; }   /* F16C, round to nearest even */
        uint16_t *h = dst;
        for (int64_t i = 0; i < n; i++) h[i] = mm_fp32_to_fp16(x[i]);
        break;
    }
    case MM_TYPE_Q8_0: quantize_q8_0(x, dst, n / MM_QK); break;
    case MM_TYPE_Q4_0: quantize_q4_0(x, dst, n / MM_QK); break;
    default: mm_quants_quantize(t, x, dst, n); break;
    }
}

void mm_dequantize_row(mm_type t, const void *src, float *y, int64_t n) {
    const mm_kernel_table *k = mm_core_kernels();
    int ti = mm_core_type_index(t);
    if (k != &mm_kernels_generic && ti >= 0) { k->deq[ti](src, y, n); return; }   /* vectorized */
    mm_core_deq_scalar(t, src, y, n);
}

void mm_core_deq_scalar(mm_type t, const void *src, float *y, int64_t n) {
    switch (t) {
    case MM_TYPE_F32: memcpy(y, src, (size_t)n * 4); break;
    case MM_TYPE_F16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++) y[i] = mm_fp16_to_fp32(h[i]);
        break;
    }
    case MM_TYPE_Q8_0: {
        const mm_block_q8_0 *b = src;
        for (int64_t i = 0; i < n / MM_QK; i++) {
            float d = mm_fp16_to_fp32(b[i].d);
            for (int j = 0; j < MM_QK; j++) y[i * MM_QK + j] = b[i].qs[j] * d;
        }
        break;
    }
    case MM_TYPE_Q4_0: {
        const mm_block_q4_0 *b = src;
        for (int64_t i = 0; i < n / MM_QK; i++) {
            float d = mm_fp16_to_fp32(b[i].d);
            for (int j = 0; j < MM_QK / 2; j++) {
                y[i * MM_QK + j] = ((b[i].qs[j] & 0x0f) - 8) * d;
                y[i * MM_QK + j + MM_QK / 2] = ((b[i].qs[j] >> 4) - 8) * d;
            }
        }
        break;
    }
    default: mm_quants_deq_scalar(t, src, y, n); break;
    }
}

/* ---------------------------------------------------------------- non-finite values */

static bool f16_nonfinite(const void *p) {
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return (h & 0x7c00u) == 0x7c00u; /* exponent all ones: Inf or NaN */
}

int64_t mm_tensor_find_nonfinite(mm_type t, const void *data, int64_t n) {
    const uint8_t *b = data;
    switch (t) {
    case MM_TYPE_F32:
        for (int64_t i = 0; i < n; i++) {
            float v;
            memcpy(&v, b + 4 * i, sizeof v);
            if (!isfinite(v)) return i;
        }
        return -1;
    case MM_TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            if (f16_nonfinite(b + 2 * i)) return i;
        return -1;
    case MM_TYPE_Q8_0:
    case MM_TYPE_Q4_0: { /* the quants are small integers: only the f16 scale d of each block can be bad */
        const size_t bs = mm_type_block_bytes(t);
        for (int64_t k = 0; k < n / MM_QK; k++)
            if (f16_nonfinite(b + (size_t)k * bs)) return k * MM_QK;
        return -1;
    }
    default: { /* every other type: dequantize block by block (a bad scale or min makes its values non-finite) */
        const int64_t bn = mm_type_block_size(t);
        const size_t  bs = mm_type_block_bytes(t);
        float         y[256];
        if (bn <= 0 || bn > 256 || bs == 0) return -1;
        for (int64_t k = 0; k < n / bn; k++) {
            mm_dequantize_row(t, b + (size_t)k * bs, y, bn);
            for (int64_t j = 0; j < bn; j++)
                if (!isfinite(y[j])) return k * bn + j;
        }
        return -1;
    }
    }
}
