/* gguf_write.c - GGUF v3 writer. Layout as ggml / gguf-py write it: header, kv, tensor infos, zero
 * padding to the alignment, then every tensor's data in insertion order, each padded with zeros to the
 * alignment - so a file read and re-written comes out byte-identical. */
#include "gguf_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char    *key;
    uint32_t type;
    uint8_t *val;   /* [len] encoded value */
    size_t   len;
} wkv;

typedef struct {
    char    *name;
    int      type, n_dims;
    int64_t  ne[4];
    uint8_t *data;  /* [n_bytes]; NULL for a tensor filled at write time by fill */
    size_t   n_bytes;
    mm_gguf_fill_fn fill;
    void    *fill_ctx;
} wtensor;

struct mm_gguf_writer {
    wkv     *kv;
    int64_t  n_kv, cap_kv;
    wtensor *t;
    int64_t  n_t, cap_t;
    size_t   alignment;
    char     err[MM_ERR_SIZE];  /* first error of a setter, reported by write */
};

static int werr(mm_gguf_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int werr(mm_gguf_writer *w, const char *fmt, ...) {
    if (!w->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->err, sizeof w->err, fmt, ap);
        va_end(ap);
    }
    return -1;
}

mm_gguf_writer *mm_gguf_writer_create(void) {
    mm_gguf_writer *w = calloc(1, sizeof *w);
    if (w) w->alignment = MM_GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void mm_gguf_writer_free(mm_gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) { free(w->kv[i].key); free(w->kv[i].val); }
    for (int64_t i = 0; i < w->n_t; i++) { free(w->t[i].name); free(w->t[i].data); }
    free(w->kv);
    free(w->t);
    free(w);
}

/* Store key = (type, encoded value); replaces an existing key in place. Takes ownership of val. */
static int set_kv(mm_gguf_writer *w, const char *key, uint32_t type, uint8_t *val, size_t len) {
    if (!key) { free(val); return werr(w, "writer: NULL key"); }
    if (!strcmp(key, "general.alignment")) {
        uint32_t a = 0;
        if (type != MM_GGUF_UINT32) { free(val); return werr(w, "writer: general.alignment must be u32"); }
        memcpy(&a, val, 4);
        if (a == 0 || (a & (a - 1))) { free(val); return werr(w, "writer: alignment %u is not a power of two", a); }
        w->alignment = a;
    }
    for (int64_t i = 0; i < w->n_kv; i++) {
        if (!strcmp(w->kv[i].key, key)) {
            free(w->kv[i].val);
            w->kv[i].type = type;
            w->kv[i].val = val;
            w->kv[i].len = len;
            return 0;
        }
    }
    if (w->n_kv == w->cap_kv) {
        int64_t nc = w->cap_kv ? w->cap_kv * 2 : 32;
        wkv *p = realloc(w->kv, (size_t)nc * sizeof *p);
        if (!p) { free(val); return werr(w, "writer: out of memory"); }
        w->kv = p;
        w->cap_kv = nc;
    }
    char *k = strdup(key);
    if (!k) { free(val); return werr(w, "writer: out of memory"); }
    w->kv[w->n_kv++] = (wkv){k, type, val, len};
    return 0;
}

static int set_copy(mm_gguf_writer *w, const char *key, uint32_t type, const void *src, size_t len) {
    uint8_t *v = malloc(len ? len : 1);
    if (!v) return werr(w, "writer: out of memory");
    if (len) memcpy(v, src, len);
    return set_kv(w, key, type, v, len);
}

int mm_gguf_writer_set_scalar(mm_gguf_writer *w, const char *key, mm_gguf_type type, const void *value) {
    size_t n = gguf_scalar_size((uint32_t)type);
    if (!w) return -1;
    if (!n || !value) return werr(w, "writer: %s: type %d is not a scalar type", key ? key : "?", (int)type);
    if (type == MM_GGUF_BOOL) {
        uint8_t b = *(const bool *)value ? 1 : 0;
        return set_copy(w, key, type, &b, 1);
    }
    return set_copy(w, key, type, value, n);
}

int mm_gguf_writer_set_u32(mm_gguf_writer *w, const char *key, uint32_t v) { return mm_gguf_writer_set_scalar(w, key, MM_GGUF_UINT32, &v); }
int mm_gguf_writer_set_i32(mm_gguf_writer *w, const char *key, int32_t v) { return mm_gguf_writer_set_scalar(w, key, MM_GGUF_INT32, &v); }
int mm_gguf_writer_set_u64(mm_gguf_writer *w, const char *key, uint64_t v) { return mm_gguf_writer_set_scalar(w, key, MM_GGUF_UINT64, &v); }
int mm_gguf_writer_set_f32(mm_gguf_writer *w, const char *key, float v) { return mm_gguf_writer_set_scalar(w, key, MM_GGUF_FLOAT32, &v); }
int mm_gguf_writer_set_bool(mm_gguf_writer *w, const char *key, bool v) { return mm_gguf_writer_set_scalar(w, key, MM_GGUF_BOOL, &v); }

int mm_gguf_writer_set_str(mm_gguf_writer *w, const char *key, const char *v) {
    if (!w) return -1;
    if (!v) return werr(w, "writer: %s: NULL string", key ? key : "?");
    uint64_t n = strlen(v);
    uint8_t *b = malloc(8 + n);
    if (!b) return werr(w, "writer: out of memory");
    memcpy(b, &n, 8);
    memcpy(b + 8, v, n);
    return set_kv(w, key, MM_GGUF_STRING, b, 8 + n);
}

int mm_gguf_writer_set_arr(mm_gguf_writer *w, const char *key, mm_gguf_type elem_type, const void *data, int64_t n) {
    if (!w) return -1;
    size_t es = gguf_scalar_size((uint32_t)elem_type);
    if (!es) return werr(w, "writer: %s: arrays of type %d need set_arr_str or set_raw", key ? key : "?", (int)elem_type);
    if (n < 0 || (n && !data) || (uint64_t)n > (SIZE_MAX - 12) / es)
        return werr(w, "writer: %s: bad array", key ? key : "?");
    size_t len = 12 + (size_t)n * es;
    uint8_t *b = malloc(len);
    if (!b) return werr(w, "writer: out of memory");
    uint32_t et = (uint32_t)elem_type;
    uint64_t cnt = (uint64_t)n;
    memcpy(b, &et, 4);
    memcpy(b + 4, &cnt, 8);
    if (n) memcpy(b + 12, data, (size_t)n * es);
    return set_kv(w, key, MM_GGUF_ARRAY, b, len);
}

int mm_gguf_writer_set_arr_str(mm_gguf_writer *w, const char *key, const char *const *strs, int64_t n) {
    if (!w) return -1;
    if (n < 0 || (n && !strs)) return werr(w, "writer: %s: bad string array", key ? key : "?");
    size_t len = 12;
    for (int64_t i = 0; i < n; i++) {
        if (!strs[i]) return werr(w, "writer: %s: NULL string at %lld", key ? key : "?", (long long)i);
        len += 8 + strlen(strs[i]);
    }
    uint8_t *b = malloc(len);
    if (!b) return werr(w, "writer: out of memory");
    uint32_t et = MM_GGUF_STRING;
    uint64_t cnt = (uint64_t)n;
    memcpy(b, &et, 4);
    memcpy(b + 4, &cnt, 8);
    size_t p = 12;
    for (int64_t i = 0; i < n; i++) {
        uint64_t sl = strlen(strs[i]);
        memcpy(b + p, &sl, 8);
        memcpy(b + p + 8, strs[i], sl);
        p += 8 + sl;
    }
    return set_kv(w, key, MM_GGUF_ARRAY, b, len);
}

int mm_gguf_writer_set_raw(mm_gguf_writer *w, const char *key, mm_gguf_type type, const void *encoded, size_t n_bytes) {
    if (!w) return -1;
    char e[MM_ERR_SIZE];
    if (!encoded && n_bytes) return werr(w, "writer: %s: NULL value", key ? key : "?");
    if (gguf_check_value(encoded, n_bytes, (uint32_t)type, e)) return werr(w, "writer: %s: %s", key ? key : "?", e);
    return set_copy(w, key, (uint32_t)type, encoded, n_bytes);
}

int mm_gguf_writer_copy_kv(mm_gguf_writer *w, const mm_gguf *src) {
    if (!w || !src) return -1;
    for (int64_t i = 0; i < mm_gguf_n_kv(src); i++) {
        size_t n;
        const void *raw = mm_gguf_kv_raw(src, i, &n);
        if (set_copy(w, mm_gguf_kv_key(src, i), (uint32_t)mm_gguf_kv_type(src, i), raw, n)) return -1;
    }
    return 0;
}

static int add_tensor(mm_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne, const void *data,
                      size_t n_bytes, mm_gguf_fill_fn fill, void *fill_ctx) {
    if (!w) return -1;
    if (!name) return werr(w, "writer: tensor with NULL name");
    if (strlen(name) >= MM_GGUF_MAX_NAME) return werr(w, "writer: tensor name '%.40s...' is too long", name);
    if (n_dims < 1 || n_dims > 4 || !ne) return werr(w, "writer: tensor '%s': n_dims %d", name, n_dims);
    if (!mm_gguf_type_name(type)) return werr(w, "writer: tensor '%s': unknown type %d", name, type);
    int64_t full[4] = {1, 1, 1, 1}, nel;
    for (int d = 0; d < n_dims; d++) full[d] = ne[d];
    const char *why;
    size_t want = gguf_tensor_bytes(type, n_dims, full, &nel, &why);
    if (!want) return werr(w, "writer: tensor '%s': %s", name, why);
    if (want != n_bytes) return werr(w, "writer: tensor '%s': %zu bytes given, its shape needs %zu", name, n_bytes, want);
    if (!data && !fill) return werr(w, "writer: tensor '%s': NULL data", name);
    for (int64_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return werr(w, "writer: duplicate tensor '%s'", name);
    if (w->n_t == w->cap_t) {
        int64_t nc = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *p = realloc(w->t, (size_t)nc * sizeof *p);
        if (!p) return werr(w, "writer: out of memory");
        w->t = p;
        w->cap_t = nc;
    }
    wtensor t = {.type = type, .n_dims = n_dims, .n_bytes = n_bytes, .fill = fill, .fill_ctx = fill_ctx};
    memcpy(t.ne, full, sizeof full);
    t.name = strdup(name);
    t.data = fill ? NULL : malloc(n_bytes ? n_bytes : 1);
    if (!t.name || (!fill && !t.data)) {
        free(t.name);
        free(t.data);
        return werr(w, "writer: out of memory");
    }
    if (!fill && data) memcpy(t.data, data, n_bytes);
    w->t[w->n_t++] = t;
    return 0;
}

int mm_gguf_writer_add_tensor(mm_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                              const void *data, size_t n_bytes) {
    return add_tensor(w, name, type, n_dims, ne, data, n_bytes, NULL, NULL);
}

int mm_gguf_writer_add_tensor_fill(mm_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                                   size_t n_bytes, mm_gguf_fill_fn fill, void *ctx) {
    if (!fill) return werr(w, "writer: tensor '%s': no fill function", name ? name : "(null)");
    return add_tensor(w, name, type, n_dims, ne, NULL, n_bytes, fill, ctx);
}

static bool put(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }
static bool put_u32(FILE *f, uint32_t v) { return put(f, &v, 4); }
static bool put_u64(FILE *f, uint64_t v) { return put(f, &v, 8); }
static bool put_str(FILE *f, const char *s) { size_t n = strlen(s); return put_u64(f, n) && put(f, s, n); }
static bool put_zeros(FILE *f, size_t n) {
    static const uint8_t z[256];
    while (n) {
        size_t k = n < sizeof z ? n : sizeof z;
        if (!put(f, z, k)) return false;
        n -= k;
    }
    return true;
}

int mm_gguf_writer_write(mm_gguf_writer *w, const char *path, char *err) {
    if (!w || !path) return mm_err(err, "mm_gguf_writer_write: no writer or path");
    if (w->err[0]) return mm_err(err, "%s: %s", path, w->err);
    size_t a = w->alignment;
    /* tensor offsets in the data section */
    uint64_t *offs = malloc((size_t)(w->n_t ? w->n_t : 1) * sizeof *offs);
    if (!offs) return mm_err(err, "%s: out of memory", path);
    uint64_t off = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        offs[i] = off;
        off += (w->t[i].n_bytes + a - 1) / a * a;
    }
    /* write to a temporary file next to the target, then rename: never a half-written model */
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!tmp) { free(offs); return mm_err(err, "%s: out of memory", path); }
    snprintf(tmp, pl + 16, "%s.tmp%d", path, (int)getpid() % 100000);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        free(offs);
        free(tmp);
        return mm_err(err, "%s: cannot create: %s", path, strerror(e));
    }
    bool ok = put(f, "GGUF", 4) && put_u32(f, 3) && put_u64(f, (uint64_t)w->n_t) && put_u64(f, (uint64_t)w->n_kv);
    for (int64_t i = 0; ok && i < w->n_kv; i++)
        ok = put_str(f, w->kv[i].key) && put_u32(f, w->kv[i].type) && put(f, w->kv[i].val, w->kv[i].len);
    for (int64_t i = 0; ok && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        ok = put_str(f, t->name) && put_u32(f, (uint32_t)t->n_dims);
        for (int d = 0; ok && d < t->n_dims; d++) ok = put_u64(f, (uint64_t)t->ne[d]);
        ok = ok && put_u32(f, (uint32_t)t->type) && put_u64(f, offs[i]);
    }
    if (ok) {
        long pos = ftell(f);
        ok = pos >= 0 && put_zeros(f, (a - (size_t)pos % a) % a);
    }
    /* tensors filled at write time share one buffer of the largest size */
    size_t fill_max = 0;
    for (int64_t i = 0; i < w->n_t; i++)
        if (w->t[i].fill && w->t[i].n_bytes > fill_max) fill_max = w->t[i].n_bytes;
    uint8_t *buf = NULL;
    char ferr[MM_ERR_SIZE] = "";
    if (ok && fill_max && !(buf = malloc(fill_max))) {
        ok = false;
        snprintf(ferr, sizeof ferr, "out of memory (%zu bytes for one tensor)", fill_max);
    }
    for (int64_t i = 0; ok && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        const uint8_t *src = t->data;
        if (t->fill) {
            if (t->fill(t->fill_ctx, i, buf, t->n_bytes, ferr) != 0) {
                ok = false;
                if (!ferr[0]) snprintf(ferr, sizeof ferr, "tensor '%s' could not be made", t->name);
                break;
            }
            src = buf;
        }
        ok = put(f, src, t->n_bytes) && put_zeros(f, (a - t->n_bytes % a) % a);
    }
    free(buf);
    int e = ok ? 0 : errno;
    if (fclose(f) && ok) { ok = false; e = errno; }
    free(offs);
    if (!ok || rename(tmp, path)) {
        if (ok) e = errno;
        unlink(tmp);
        free(tmp);
        if (ferr[0]) return mm_err(err, "%s: %s", path, ferr);
        return mm_err(err, "%s: cannot write: %s", path, strerror(e ? e : EIO));
    }
    free(tmp);
    return 0;
}
