/* gguf.c - GGUF reader (mmap, validated against hostile input) and metadata getters.
 *
 * The parser walks the file with a bounds-checked cursor; every count and length is checked against
 * the bytes left before anything is allocated for it, and all size arithmetic is overflow-checked.
 * Errors are one line: "path: what is wrong". The writer lives in gguf_write.c, the value formatter in
 * gguf_format.c; gguf_internal.h is shared by the three.
 */
#include "gguf_internal.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- type tables */
/* ggml tensor types by id: name, elements per block, bytes per block (0 = removed from ggml). */
static const struct {
    const char *name;
    int         blck;
    int         bytes;
} k_ggml_types[] = {
    [0] = {"f32", 1, 4},         [1] = {"f16", 1, 2},          [2] = {"q4_0", 32, 18},
    [3] = {"q4_1", 32, 20},      [4] = {"q4_2", 0, 0},         [5] = {"q4_3", 0, 0},
    [6] = {"q5_0", 32, 22},      [7] = {"q5_1", 32, 24},       [8] = {"q8_0", 32, 34},
    [9] = {"q8_1", 32, 36},      [10] = {"q2_k", 256, 84},     [11] = {"q3_k", 256, 110},
    [12] = {"q4_k", 256, 144},   [13] = {"q5_k", 256, 176},    [14] = {"q6_k", 256, 210},
    [15] = {"q8_k", 256, 292},   [16] = {"iq2_xxs", 256, 66},  [17] = {"iq2_xs", 256, 74},
    [18] = {"iq3_xxs", 256, 98}, [19] = {"iq1_s", 256, 50},    [20] = {"iq4_nl", 32, 18},
    [21] = {"iq3_s", 256, 110},  [22] = {"iq2_s", 256, 82},    [23] = {"iq4_xs", 256, 136},
    [24] = {"i8", 1, 1},         [25] = {"i16", 1, 2},         [26] = {"i32", 1, 4},
    [27] = {"i64", 1, 8},        [28] = {"f64", 1, 8},         [29] = {"iq1_m", 256, 56},
    [30] = {"bf16", 1, 2},       [31] = {"q4_0_4_4", 0, 0},    [32] = {"q4_0_4_8", 0, 0},
    [33] = {"q4_0_8_8", 0, 0},   [34] = {"tq1_0", 256, 54},    [35] = {"tq2_0", 256, 66},
    [36] = {"iq4_nl_4_4", 0, 0}, [37] = {"iq4_nl_4_8", 0, 0},  [38] = {"iq4_nl_8_8", 0, 0},
    [39] = {"mxfp4", 32, 17},
};
#define N_GGML_TYPES ((int)(sizeof k_ggml_types / sizeof k_ggml_types[0]))

const char *mm_gguf_type_name(int t) {
    if (t < 0 || t >= N_GGML_TYPES || !k_ggml_types[t].name || !k_ggml_types[t].blck) return NULL;
    return k_ggml_types[t].name;
}
int64_t mm_gguf_type_block_size(int t) { return mm_gguf_type_name(t) ? k_ggml_types[t].blck : 0; }
size_t mm_gguf_type_block_bytes(int t) { return mm_gguf_type_name(t) ? (size_t)k_ggml_types[t].bytes : 0; }

static const char *const k_vt_names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                         "bool", "str", "arr", "u64", "i64", "f64"};
const char *mm_gguf_kv_type_name(mm_gguf_type t) {
    return (unsigned)t < sizeof k_vt_names / sizeof k_vt_names[0] ? k_vt_names[t] : "?";
}

size_t gguf_scalar_size(uint32_t t) {
    switch (t) {
    case MM_GGUF_UINT8: case MM_GGUF_INT8: case MM_GGUF_BOOL: return 1;
    case MM_GGUF_UINT16: case MM_GGUF_INT16: return 2;
    case MM_GGUF_UINT32: case MM_GGUF_INT32: case MM_GGUF_FLOAT32: return 4;
    case MM_GGUF_UINT64: case MM_GGUF_INT64: case MM_GGUF_FLOAT64: return 8;
    default: return 0;  /* string, array, unknown */
    }
}

bool gguf_type_valid(uint32_t t) { return t <= MM_GGUF_FLOAT64; }

/* Bytes of a tensor (0 with *why set when the shape does not fit the type or overflows). */
size_t gguf_tensor_bytes(int type, int n_dims, const int64_t *ne, int64_t *n_elements, const char **why) {
    int64_t blck = mm_gguf_type_block_size(type);
    size_t bb = mm_gguf_type_block_bytes(type);
    *why = NULL;
    if (!blck) { *why = "unknown type"; return 0; }
    int64_t n = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] <= 0) { *why = "a dimension is zero or negative"; return 0; }
        if (n > INT64_MAX / ne[d]) { *why = "the number of elements overflows int64"; return 0; }
        n *= ne[d];
    }
    if (ne[0] % blck) { *why = "ne[0] is not a multiple of the type's block size"; return 0; }
    /* bytes = (ne0 / blck) * bb * (n / ne0) */
    uint64_t rows = (uint64_t)(n / ne[0]);
    uint64_t row_bytes;
    if (__builtin_mul_overflow((uint64_t)(ne[0] / blck), (uint64_t)bb, &row_bytes)) {
        *why = "the size in bytes overflows"; return 0;
    }
    uint64_t total;
    if (__builtin_mul_overflow(row_bytes, rows, &total) || total > SIZE_MAX) {
        *why = "the size in bytes overflows"; return 0;
    }
    *n_elements = n;
    return (size_t)total;
}

/* Printable, bounded copy of untrusted bytes for error messages. */
const char *gguf_safe_name(const void *s_, size_t n, char *buf, size_t size) {
    const unsigned char *s = s_;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < size; i++) {
        if (i >= 60) { memcpy(buf + o, "...", 3); o += 3; break; }
        unsigned c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') buf[o++] = (char)c;
        else o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
    }
    buf[o] = 0;
    return buf;
}

/* ---------------------------------------------------------------- hash set of names */
static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ull; }
    return h;
}

/* Table of (index + 1) with 2^k >= 2 n slots. */
static int64_t *hash_create(int64_t n, size_t *mask) {
    size_t cap = 16;
    while (cap < (size_t)n * 2) cap *= 2;
    *mask = cap - 1;
    return calloc(cap, sizeof(int64_t));
}

/* Make room for n elements (zeroed), doubling the capacity. */
static int grow(void **arr, int64_t *cap, size_t elsize, int64_t n) {
    if (n <= *cap) return 0;
    int64_t nc = *cap ? *cap * 2 : 16;
    while (nc < n) nc *= 2;
    void *p = realloc(*arr, (size_t)nc * elsize);
    if (!p) return -1;
    memset((char *)p + (size_t)*cap * elsize, 0, (size_t)(nc - *cap) * elsize);
    *arr = p;
    *cap = nc;
    return 0;
}

/* ---------------------------------------------------------------- parser */
typedef struct {
    const uint8_t *base;
    size_t size, pos;
    const char *path;
    char *err;
    char ctx[160];   /* what is being read, for messages: "metadata 3 'gpt2.block_count'" */
} pctx;

static int perr(pctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(pctx *c, const char *fmt, ...) {
    if (c->err) {
        int k = c->ctx[0] ? snprintf(c->err, MM_ERR_SIZE, "%s: %s: ", c->path, c->ctx)
                          : snprintf(c->err, MM_ERR_SIZE, "%s: ", c->path);
        if (k < 0) k = 0;
        if (k < MM_ERR_SIZE - 1) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + k, MM_ERR_SIZE - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static size_t left(const pctx *c) { return c->size - c->pos; }

static int need(pctx *c, size_t n, const char *what) {
    if (n > left(c))
        return perr(c, "truncated file: %s needs %zu bytes at offset %zu but the file ends at %zu",
                    what, n, c->pos, c->size);
    return 0;
}
static int rd_u32(pctx *c, uint32_t *v, const char *what) {
    if (need(c, 4, what)) return -1;
    memcpy(v, c->base + c->pos, 4);
    c->pos += 4;
    return 0;
}
static int rd_u64(pctx *c, uint64_t *v, const char *what) {
    if (need(c, 8, what)) return -1;
    memcpy(v, c->base + c->pos, 8);
    c->pos += 8;
    return 0;
}
/* A string: u64 length then bytes. */
static int rd_str(pctx *c, size_t *off, size_t *len, const char *what) {
    uint64_t n;
    char w[64];
    snprintf(w, sizeof w, "the length of %s", what);
    if (rd_u64(c, &n, w)) return -1;
    if (n > left(c))
        return perr(c, "%s has length %llu but only %zu bytes are left in the file", what,
                    (unsigned long long)n, left(c));
    *off = c->pos;
    *len = (size_t)n;
    c->pos += (size_t)n;
    return 0;
}

/* Parse one value of type t (already read). Arrays recurse up to MM_GGUF_MAX_DEPTH. */
static int parse_value(pctx *c, uint32_t t, int depth) {
    size_t ss = gguf_scalar_size(t);
    if (ss) return need(c, ss, "a value") ? -1 : (c->pos += ss, 0);
    if (t == MM_GGUF_STRING) {
        size_t o, n;
        return rd_str(c, &o, &n, "a string value");
    }
    if (t != MM_GGUF_ARRAY) return perr(c, "unknown value type %u", t);
    if (depth >= MM_GGUF_MAX_DEPTH) return perr(c, "arrays nested deeper than %d levels", MM_GGUF_MAX_DEPTH);
    uint32_t et;
    uint64_t n;
    if (rd_u32(c, &et, "the array element type") || rd_u64(c, &n, "the array length")) return -1;
    if (!gguf_type_valid(et)) return perr(c, "unknown array element type %u", et);
    size_t es = gguf_scalar_size(et);
    size_t min = es ? es : et == MM_GGUF_STRING ? 8 : 12; /* smallest encoding of one element */
    if (n > left(c) / min)
        return perr(c, "array of %llu %s elements does not fit in the %zu bytes left in the file",
                    (unsigned long long)n, mm_gguf_kv_type_name(et), left(c));
    if (es) { c->pos += (size_t)n * es; return 0; }
    for (uint64_t i = 0; i < n; i++)
        if (parse_value(c, et, depth + 1)) return -1;
    return 0;
}

static void free_contents(mm_gguf *g) {
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) { free(g->kv[i].key); free(g->kv[i].str_off); }
    if (g->t)
        for (int64_t i = 0; i < g->n_t; i++) free((char *)g->t[i].name);
    free(g->kv);
    free(g->t);
    free(g->kv_hash);
    free(g->t_hash);
    free(g->path);
}

static int cmp_by_offset(const void *a, const void *b) {
    const mm_gguf_tensor *x = *(const mm_gguf_tensor *const *)a, *y = *(const mm_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int parse(mm_gguf *g, char *err) {
    pctx c = {.base = g->base, .size = g->size, .pos = 0, .path = g->path, .err = err};
    char nm[256];

    /* header */
    if (g->size < 4 || memcmp(g->base, "GGUF", 4)) {
        if (g->size < 4) return perr(&c, "not a GGUF file (only %zu bytes)", g->size);
        return perr(&c, "not a GGUF file (bad magic '%s')", gguf_safe_name(g->base, 4, nm, sizeof nm));
    }
    c.pos = 4;
    uint32_t version;
    if (rd_u32(&c, &version, "the version")) return -1;
    if (version == 1) return perr(&c, "GGUF version 1 is not supported (only versions 2 and 3)");
    if (version != 2 && version != 3) {
        if ((version & 0xffff) == 0 && version >> 16)
            return perr(&c, "unsupported GGUF version %u (a big-endian file?); only versions 2 and 3", version);
        return perr(&c, "unsupported GGUF version %u (only versions 2 and 3)", version);
    }
    g->version = version;
    uint64_t n_t, n_kv;
    if (rd_u64(&c, &n_t, "the tensor count") || rd_u64(&c, &n_kv, "the metadata count")) return -1;
    /* smallest kv: key length (8) + type (4) + 1 byte; smallest tensor info: 8 + 4 + 8 + 4 + 8 */
    if (n_kv > left(&c) / 13)
        return perr(&c, "header claims %llu metadata entries, more than the %zu-byte file can hold",
                    (unsigned long long)n_kv, g->size);
    if (n_t > left(&c) / 32 || n_t > (uint64_t)(left(&c) - n_kv * 13) / 32)
        return perr(&c, "header claims %llu tensors, more than the %zu-byte file can hold",
                    (unsigned long long)n_t, g->size);

    /* metadata */
    /* arrays grow as entries are read, so a lying count costs no memory */
    int64_t cap = 0;
    g->alignment = MM_GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < n_kv; i++) {
        if (grow((void **)&g->kv, &cap, sizeof *g->kv, (int64_t)i + 1)) return perr(&c, "out of memory");
        gguf_kv *kv = &g->kv[i];
        snprintf(c.ctx, sizeof c.ctx, "metadata entry %llu", (unsigned long long)i);
        size_t ko, kn;
        if (rd_str(&c, &ko, &kn, "the key")) return -1;
        const char *key = (const char *)g->base + ko;
        snprintf(c.ctx, sizeof c.ctx, "metadata '%s'", gguf_safe_name(key, kn, nm, sizeof nm));
        if (memchr(key, 0, kn)) return perr(&c, "the key contains a NUL byte");
        uint32_t t;
        if (rd_u32(&c, &t, "the value type")) return -1;
        if (!gguf_type_valid(t)) return perr(&c, "unknown value type %u", t);
        kv->key = malloc(kn + 1);
        if (!kv->key) return perr(&c, "out of memory");
        memcpy(kv->key, key, kn);
        kv->key[kn] = 0;
        kv->key_len = kn;
        kv->type = (mm_gguf_type)t;
        kv->val_off = c.pos;
        g->n_kv = (int64_t)i + 1;
        if (t == MM_GGUF_ARRAY) {
            /* element type and count are validated by parse_value; remember them */
            if (parse_value(&c, t, 0)) return -1;
            uint32_t et;
            uint64_t n;
            memcpy(&et, g->base + kv->val_off, 4);
            memcpy(&n, g->base + kv->val_off + 4, 8);
            kv->elem_type = (mm_gguf_type)et;
            kv->n = (int64_t)n;
            kv->data_off = kv->val_off + 12;
            if (et == MM_GGUF_STRING && n) {
                kv->str_off = malloc((size_t)n * sizeof *kv->str_off);
                if (!kv->str_off) return perr(&c, "out of memory");
                size_t p = kv->data_off;
                for (uint64_t j = 0; j < n; j++) { /* already bounds-checked by parse_value */
                    uint64_t len;
                    kv->str_off[j] = p;
                    memcpy(&len, g->base + p, 8);
                    p += 8 + (size_t)len;
                }
            }
        } else if (parse_value(&c, t, 0)) {
            return -1;
        }
        kv->val_len = c.pos - kv->val_off;
        if (!strcmp(kv->key, "general.alignment")) {
            uint32_t a;
            if (t != MM_GGUF_UINT32) return perr(&c, "must be of type u32, not %s", mm_gguf_kv_type_name(t));
            memcpy(&a, g->base + kv->val_off, 4);
            if (a == 0 || (a & (a - 1))) return perr(&c, "alignment %u is not a power of two", a);
            g->alignment = a;
        }
    }

    /* duplicate keys */
    c.ctx[0] = 0;
    g->kv_hash = hash_create(g->n_kv, &g->kv_hmask);
    if (!g->kv_hash) return perr(&c, "out of memory");
    for (int64_t i = 0; i < g->n_kv; i++) {
        const gguf_kv *kv = &g->kv[i];
        size_t slot = hash_bytes(kv->key, kv->key_len) & g->kv_hmask;
        for (; g->kv_hash[slot]; slot = (slot + 1) & g->kv_hmask) {
            const gguf_kv *o = &g->kv[g->kv_hash[slot] - 1];
            if (o->key_len == kv->key_len && !memcmp(o->key, kv->key, kv->key_len))
                return perr(&c, "duplicate metadata key '%s'", gguf_safe_name(kv->key, kv->key_len, nm, sizeof nm));
        }
        g->kv_hash[slot] = i + 1;
    }

    /* tensor infos */
    cap = 0;
    for (uint64_t i = 0; i < n_t; i++) {
        if (grow((void **)&g->t, &cap, sizeof *g->t, (int64_t)i + 1)) return perr(&c, "out of memory");
        mm_gguf_tensor *ti = &g->t[i];
        snprintf(c.ctx, sizeof c.ctx, "tensor %llu", (unsigned long long)i);
        size_t no, nn;
        if (rd_str(&c, &no, &nn, "the tensor name")) return -1;
        const char *name = (const char *)g->base + no;
        snprintf(c.ctx, sizeof c.ctx, "tensor '%s'", gguf_safe_name(name, nn, nm, sizeof nm));
        if (nn >= MM_GGUF_MAX_NAME) return perr(&c, "name is %zu bytes long (the limit is %d)", nn, MM_GGUF_MAX_NAME - 1);
        if (memchr(name, 0, nn)) return perr(&c, "the name contains a NUL byte");
        char *copy = malloc(nn + 1);
        if (!copy) return perr(&c, "out of memory");
        memcpy(copy, name, nn);
        copy[nn] = 0;
        ti->name = copy;
        g->n_t = (int64_t)i + 1;

        uint32_t nd;
        if (rd_u32(&c, &nd, "n_dims")) return -1;
        if (nd < 1 || nd > 4) return perr(&c, "n_dims is %u (must be 1 to 4)", nd);
        ti->n_dims = (int)nd;
        for (int d = 0; d < 4; d++) ti->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t v;
            if (rd_u64(&c, &v, "a dimension")) return -1;
            if (v == 0) return perr(&c, "dimension %u is zero", d);
            if (v > INT64_MAX) return perr(&c, "dimension %u (%llu) is too large", d, (unsigned long long)v);
            ti->ne[d] = (int64_t)v;
        }
        uint32_t type;
        uint64_t off;
        if (rd_u32(&c, &type, "the type") || rd_u64(&c, &off, "the data offset")) return -1;
        if (type < (uint32_t)N_GGML_TYPES && k_ggml_types[type].name && !k_ggml_types[type].blck)
            return perr(&c, "type %u (%s) is no longer supported by ggml", type, k_ggml_types[type].name);
        if (!mm_gguf_type_name((int)type)) return perr(&c, "unknown tensor type id %u", type);
        ti->type = (int)type;
        const char *why;
        ti->n_bytes = gguf_tensor_bytes(ti->type, ti->n_dims, ti->ne, &ti->n_elements, &why);
        if (!ti->n_bytes) {
            char sh[96];
            int o = 0;
            for (int d = 0; d < ti->n_dims; d++)
                o += snprintf(sh + o, sizeof sh - (size_t)o, "%s%lld", d ? ", " : "", (long long)ti->ne[d]);
            return perr(&c, "shape [%s] of type %s: %s", sh, mm_gguf_type_name(ti->type), why);
        }
        ti->offset = off;
    }
    c.ctx[0] = 0;
    g->t_hash = hash_create(g->n_t, &g->t_hmask);
    if (!g->t_hash) return perr(&c, "out of memory");
    for (int64_t i = 0; i < g->n_t; i++) {
        const char *name = g->t[i].name;
        size_t slot = hash_bytes(name, strlen(name)) & g->t_hmask;
        for (; g->t_hash[slot]; slot = (slot + 1) & g->t_hmask)
            if (!strcmp(g->t[g->t_hash[slot] - 1].name, name))
                return perr(&c, "duplicate tensor name '%s'", gguf_safe_name(name, strlen(name), nm, sizeof nm));
        g->t_hash[slot] = i + 1;
    }

    /* data section: starts at the next multiple of the alignment */
    size_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    g->data_start = c.pos + pad;  /* may lie past the end when there are no tensors */
    for (int64_t i = 0; i < g->n_t; i++) {
        mm_gguf_tensor *ti = &g->t[i];
        snprintf(c.ctx, sizeof c.ctx, "tensor '%s'", gguf_safe_name(ti->name, strlen(ti->name), nm, sizeof nm));
        if (ti->offset % g->alignment)
            return perr(&c, "data offset %llu is not a multiple of the alignment %zu",
                        (unsigned long long)ti->offset, g->alignment);
        uint64_t start, end;
        if (__builtin_add_overflow((uint64_t)g->data_start, ti->offset, &start) ||
            __builtin_add_overflow(start, (uint64_t)ti->n_bytes, &end) || end > g->size)
            return perr(&c, "data (%zu bytes at offset %llu of the data section at %zu) lies outside the %zu-byte file",
                        ti->n_bytes, (unsigned long long)ti->offset, g->data_start, g->size);
        ti->data = g->base + start;
    }
    c.ctx[0] = 0;
    /* no two tensors share bytes */
    if (g->n_t > 1) {
        const mm_gguf_tensor **ord = malloc((size_t)g->n_t * sizeof *ord);
        if (!ord) return perr(&c, "out of memory");
        for (int64_t i = 0; i < g->n_t; i++) ord[i] = &g->t[i];
        qsort(ord, (size_t)g->n_t, sizeof *ord, cmp_by_offset);
        for (int64_t i = 1; i < g->n_t; i++) {
            const mm_gguf_tensor *a = ord[i - 1], *b = ord[i];
            if (b->offset < a->offset + a->n_bytes) {  /* a's end is inside the file: no overflow */
                char n2[256];
                perr(&c, "tensor '%s' overlaps tensor '%s' in the data section",
                     gguf_safe_name(b->name, strlen(b->name), nm, sizeof nm),
                     gguf_safe_name(a->name, strlen(a->name), n2, sizeof n2));
                free(ord);
                return -1;
            }
        }
        free(ord);
    }
    return 0;
}

static mm_gguf *open_common(const void *data, size_t size, const char *name, bool mapped, char *err) {
    mm_gguf *g = calloc(1, sizeof *g);
    if (!g) { mm_err(err, "%s: out of memory", name); return NULL; }
    g->base = data;
    g->size = size;
    g->mapped = mapped;
    g->path = strdup(name);
    if (!g->path) { free(g); mm_err(err, "%s: out of memory", name); return NULL; }
    if (parse(g, err)) {
        free_contents(g);
        free(g);
        return NULL;
    }
    return g;
}

mm_gguf *mm_gguf_open(const char *path, char *err) {
    if (!path) { mm_err(err, "mm_gguf_open: no path"); return NULL; }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { mm_err(err, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    struct stat st;
    if (fstat(fd, &st)) {
        mm_err(err, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        mm_err(err, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_size == 0) {
        mm_err(err, "%s: empty file, not GGUF", path);
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        mm_err(err, "%s: file too large to map", path);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) { mm_err(err, "%s: cannot map: %s", path, strerror(errno)); return NULL; }
    mm_gguf *g = open_common(p, size, path, true, err);
    if (!g) munmap(p, size);
    return g;
}

mm_gguf *mm_gguf_open_memory(const void *data, size_t size, const char *name, char *err) {
    if (!name) name = "<memory>";
    if (!data && size) { mm_err(err, "%s: no data", name); return NULL; }
    static const uint8_t empty[1];
    return open_common(data ? data : empty, size, name, false, err);
}

void mm_gguf_close(mm_gguf *g) {
    if (!g) return;
    if (g->mapped) munmap((void *)g->base, g->size);
    free_contents(g);
    free(g);
}

uint32_t mm_gguf_version(const mm_gguf *g) { return g->version; }
size_t mm_gguf_file_size(const mm_gguf *g) { return g->size; }
size_t mm_gguf_alignment(const mm_gguf *g) { return g->alignment; }
const char *mm_gguf_path(const mm_gguf *g) { return g->path; }

/* ---------------------------------------------------------------- metadata access */
int64_t mm_gguf_n_kv(const mm_gguf *g) { return g->n_kv; }

const char *mm_gguf_kv_key(const mm_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}
mm_gguf_type mm_gguf_kv_type(const mm_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].type : (mm_gguf_type)-1;
}
const void *mm_gguf_kv_raw(const mm_gguf *g, int64_t i, size_t *n_bytes) {
    if (i < 0 || i >= g->n_kv) return NULL;
    if (n_bytes) *n_bytes = g->kv[i].val_len;
    return g->base + g->kv[i].val_off;
}
int mm_gguf_kv_arr(const mm_gguf *g, int64_t i, mm_gguf_type *elem_type, int64_t *n) {
    if (i < 0 || i >= g->n_kv || g->kv[i].type != MM_GGUF_ARRAY) return -1;
    if (elem_type) *elem_type = g->kv[i].elem_type;
    if (n) *n = g->kv[i].n;
    return 0;
}

int64_t mm_gguf_find_key(const mm_gguf *g, const char *key) {
    if (!g || !key) return -1;
    size_t n = strlen(key);
    for (size_t s = hash_bytes(key, n) & g->kv_hmask; g->kv_hash[s]; s = (s + 1) & g->kv_hmask) {
        const gguf_kv *kv = &g->kv[g->kv_hash[s] - 1];
        if (kv->key_len == n && !memcmp(kv->key, key, n)) return g->kv_hash[s] - 1;
    }
    return -1;
}

static const gguf_kv *find(const mm_gguf *g, const char *key) {
    int64_t i = mm_gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

/* Integer value of a scalar at p of type t; false for non-integer types. */
bool gguf_read_int(const uint8_t *p, uint32_t t, int64_t *v, uint64_t *u, bool *is_unsigned) {
    *is_unsigned = false;
    switch (t) {
    case MM_GGUF_UINT8: { uint8_t x; memcpy(&x, p, 1); *u = x; *is_unsigned = true; return true; }
    case MM_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); *u = x; *is_unsigned = true; return true; }
    case MM_GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); *u = x; *is_unsigned = true; return true; }
    case MM_GGUF_UINT64: { uint64_t x; memcpy(&x, p, 8); *u = x; *is_unsigned = true; return true; }
    case MM_GGUF_INT8: { int8_t x; memcpy(&x, p, 1); *v = x; return true; }
    case MM_GGUF_INT16: { int16_t x; memcpy(&x, p, 2); *v = x; return true; }
    case MM_GGUF_INT32: { int32_t x; memcpy(&x, p, 4); *v = x; return true; }
    case MM_GGUF_INT64: { int64_t x; memcpy(&x, p, 8); *v = x; return true; }
    default: return false;
    }
}

int mm_gguf_get_i64(const mm_gguf *g, const char *key, int64_t *out) {
    const gguf_kv *kv = find(g, key);
    int64_t v = 0;
    uint64_t u = 0;
    bool uns;
    if (!kv || !gguf_read_int(g->base + kv->val_off, kv->type, &v, &u, &uns)) return -1;
    if (uns) {
        if (u > (uint64_t)INT64_MAX) return -1;
        v = (int64_t)u;
    }
    if (out) *out = v;
    return 0;
}

int mm_gguf_get_u32(const mm_gguf *g, const char *key, uint32_t *out) {
    const gguf_kv *kv = find(g, key);
    int64_t v = 0;
    uint64_t u = 0;
    bool uns;
    if (!kv || !gguf_read_int(g->base + kv->val_off, kv->type, &v, &u, &uns)) return -1;
    if (!uns) {
        if (v < 0) return -1;
        u = (uint64_t)v;
    }
    if (u > UINT32_MAX) return -1;
    if (out) *out = (uint32_t)u;
    return 0;
}

int mm_gguf_get_int_range(const mm_gguf *g, const char *key, int64_t lo, int64_t hi, bool required, int64_t dflt,
                          int64_t *out, char *err) {
    if (!required && !find(g, key)) {
        *out = dflt;
        return 0;
    }
    int64_t v;
    if (mm_gguf_get_i64(g, key, &v) != 0)
        return mm_err(err, "%s: key %s is missing or not an integer", mm_gguf_path(g), key);
    if (v < lo || v > hi)
        return mm_err(err, "%s: %s = %lld is outside [%lld, %lld]", mm_gguf_path(g), key, (long long)v, (long long)lo,
                      (long long)hi);
    *out = v;
    return 0;
}

int mm_gguf_get_f32(const mm_gguf *g, const char *key, float *out) {
    const gguf_kv *kv = find(g, key);
    if (!kv) return -1;
    if (kv->type == MM_GGUF_FLOAT32) {
        float f;
        memcpy(&f, g->base + kv->val_off, 4);
        if (out) *out = f;
        return 0;
    }
    if (kv->type == MM_GGUF_FLOAT64) {
        double d;
        memcpy(&d, g->base + kv->val_off, 8);
        if (out) *out = (float)d;
        return 0;
    }
    return -1;
}

int mm_gguf_get_bool(const mm_gguf *g, const char *key, bool *out) {
    const gguf_kv *kv = find(g, key);
    if (!kv || kv->type != MM_GGUF_BOOL) return -1;
    if (out) *out = g->base[kv->val_off] != 0;
    return 0;
}

int mm_gguf_get_str(const mm_gguf *g, const char *key, const char **out, size_t *len) {
    const gguf_kv *kv = find(g, key);
    if (!kv || kv->type != MM_GGUF_STRING) return -1;
    uint64_t n;
    memcpy(&n, g->base + kv->val_off, 8);
    if (out) *out = (const char *)g->base + kv->val_off + 8;
    if (len) *len = (size_t)n;
    return 0;
}

int mm_gguf_get_arr(const mm_gguf *g, const char *key, mm_gguf_type *elem_type, int64_t *n) {
    const gguf_kv *kv = find(g, key);
    if (!kv || kv->type != MM_GGUF_ARRAY) return -1;
    if (elem_type) *elem_type = kv->elem_type;
    if (n) *n = kv->n;
    return 0;
}

const void *mm_gguf_arr_data(const mm_gguf *g, const char *key) {
    const gguf_kv *kv = find(g, key);
    if (!kv || kv->type != MM_GGUF_ARRAY || !gguf_scalar_size(kv->elem_type)) return NULL;
    return g->base + kv->data_off;
}

int mm_gguf_arr_str(const mm_gguf *g, const char *key, int64_t i, const char **out, size_t *len) {
    const gguf_kv *kv = find(g, key);
    if (!kv || kv->type != MM_GGUF_ARRAY || kv->elem_type != MM_GGUF_STRING || i < 0 || i >= kv->n) return -1;
    uint64_t n;
    memcpy(&n, g->base + kv->str_off[i], 8);
    if (out) *out = (const char *)g->base + kv->str_off[i] + 8;
    if (len) *len = (size_t)n;
    return 0;
}

/* ---------------------------------------------------------------- tensors */
int64_t mm_gguf_n_tensors(const mm_gguf *g) { return g->n_t; }

const mm_gguf_tensor *mm_gguf_tensor_at(const mm_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_t ? &g->t[i] : NULL;
}

const mm_gguf_tensor *mm_gguf_find_tensor(const mm_gguf *g, const char *name) {
    if (!g || !name) return NULL;
    size_t n = strlen(name);
    for (size_t s = hash_bytes(name, n) & g->t_hmask; g->t_hash[s]; s = (s + 1) & g->t_hmask) {
        const mm_gguf_tensor *t = &g->t[g->t_hash[s] - 1];
        if (!strcmp(t->name, name)) return t;
    }
    return NULL;
}

int mm_gguf_check_finite(const mm_gguf *g, const mm_gguf_tensor *t, bool always, char *err) {
    if (!g || !t || !mm_type_supported(t->type)) return 0;
    const bool small = t->n_dims == 1 || t->n_bytes <= MM_GGUF_CHECK_BYTES;
    if (!always && !small) return 0;
    /* only whole rows/blocks the data holds (loaders check the size against the shape) */
    const size_t row = mm_row_size((mm_type)t->type, t->ne[0]);
    if (row == 0 || !t->data) return 0;
    int64_t rows = t->n_elements / t->ne[0];
    if ((uint64_t)rows > t->n_bytes / row) rows = (int64_t)(t->n_bytes / row);
    const int64_t n = rows * t->ne[0];
    const int64_t i = mm_tensor_find_nonfinite((mm_type)t->type, t->data, n);
    if (i < 0) return 0;
    float v;
    if (t->type == MM_TYPE_F32) memcpy(&v, (const uint8_t *)t->data + 4 * i, sizeof v);
    else {
        uint16_t h; /* F16 value, or the Q8_0/Q4_0 block scale */
        const size_t at = t->type == MM_TYPE_F16 ? 2 * (size_t)i : (size_t)(i / MM_QK) * mm_type_block_bytes((mm_type)t->type);
        memcpy(&h, (const uint8_t *)t->data + at, sizeof h);
        v = mm_fp16_to_fp32(h);
    }
    return mm_err(err, "%s: tensor %s holds a non-finite value (%s) at element %lld%s: the model file is corrupt",
                  g->path, t->name, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf", (long long)i,
                  t->type == MM_TYPE_Q8_0 || t->type == MM_TYPE_Q4_0 ? " (its block's scale)" : "");
}

int gguf_check_value(const void *p, size_t n, uint32_t t, char *err) {
    pctx c = {.base = p, .size = n, .pos = 0, .path = "value", .err = err};
    if (!gguf_type_valid(t)) return perr(&c, "unknown value type %u", t);
    if (parse_value(&c, t, 0)) return -1;
    if (c.pos != n) return perr(&c, "%zu bytes left after the value", n - c.pos);
    return 0;
}
