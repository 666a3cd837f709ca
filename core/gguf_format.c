/* gguf_format.c - metadata values as one line of text or JSON (for `mmgpt info`), long strings and
 * arrays summarised. Works on values the reader has validated, and still checks every read against
 * the value's own extent. */
#include "gguf_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char  *buf;
    size_t size, len;  /* len counts what the full text needs, even past size */
} sbuf;

static void sb_put(sbuf *s, const char *p, size_t n) {
    if (s->len < s->size) {
        size_t room = s->size - 1 - s->len;  /* keep one byte for the NUL */
        size_t k = n < room ? n : room;
        memcpy(s->buf + s->len, p, k);
        s->buf[s->len + k] = 0;
    }
    s->len += n;
}
static void sb_puts(sbuf *s, const char *p) { sb_put(s, p, strlen(p)); }
static void sb_printf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *s, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sb_put(s, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Length of a valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n) {
    unsigned c = p[0];
    size_t k;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) { k = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { k = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { k = 4; cp = c & 0x07; }
    else return 0;
    if (k > n) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return k;
}

/* A quoted, escaped string; at most max_bytes of it, then `..." (N bytes)` (max_bytes 0 = all). */
static void fmt_string(sbuf *s, const unsigned char *p, size_t n, size_t max_bytes, bool json) {
    size_t lim = max_bytes && n > max_bytes ? max_bytes : n;
    sb_put(s, "\"", 1);
    for (size_t i = 0; i < lim;) {
        unsigned c = p[i];
        size_t k = utf8_len(p + i, n - i);
        if (k > 1) { sb_put(s, (const char *)p + i, k); i += k; continue; }
        i++;
        if (k == 0) { /* invalid UTF-8 */
            if (json) sb_puts(s, "\\ufffd");
            else sb_printf(s, "\\x%02x", c);
            continue;
        }
        switch (c) {
        case '"': sb_puts(s, "\\\""); break;
        case '\\': sb_puts(s, "\\\\"); break;
        case '\n': sb_puts(s, "\\n"); break;
        case '\t': sb_puts(s, "\\t"); break;
        case '\r': sb_puts(s, "\\r"); break;
        default:
            if (c < 0x20 || c == 0x7f) sb_printf(s, json ? "\\u%04x" : "\\x%02x", c);
            else sb_put(s, (const char *)&c, 1);
        }
    }
    if (lim < n && json) sb_puts(s, "...");  /* JSON: a truncated string stays one string */
    sb_put(s, "\"", 1);
    if (lim < n && !json) sb_printf(s, "... (%zu bytes)", n);
}

/* Shortest %g form that reads back to the same value. */
static void fmt_float(sbuf *s, double v, bool is_f32, bool json) {
    char tmp[64];
    if (v != v || v - v != 0) {  /* NaN or inf */
        sb_puts(s, json ? "null" : v != v ? "nan" : v > 0 ? "inf" : "-inf");
        return;
    }
    for (int prec = is_f32 ? 6 : 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (is_f32 ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v) break;
    }
    sb_puts(s, tmp);
}

typedef struct {
    const uint8_t *p, *end;
} cur;

static bool take(cur *c, void *out, size_t n) {
    if ((size_t)(c->end - c->p) < n) return false;
    memcpy(out, c->p, n);
    c->p += n;
    return true;
}

#define SHOW_ALL 8    /* arrays up to this many elements are shown whole */
#define SHOW_HEAD 3   /* longer ones: this many, then "..." */
#define STR_MAX 80    /* bytes of a string value shown */
#define ELEM_STR_MAX 40

static bool fmt_value(sbuf *s, cur *c, uint32_t t, int depth, bool json, bool in_array);

static bool skip_value(cur *c, uint32_t t, int depth) {
    size_t ss = gguf_scalar_size(t);
    if (ss) {
        if ((size_t)(c->end - c->p) < ss) return false;
        c->p += ss;
        return true;
    }
    if (t == MM_GGUF_STRING) {
        uint64_t n;
        if (!take(c, &n, 8) || n > (uint64_t)(c->end - c->p)) return false;
        c->p += n;
        return true;
    }
    if (t != MM_GGUF_ARRAY || depth >= MM_GGUF_MAX_DEPTH) return false;
    uint32_t et;
    uint64_t n;
    if (!take(c, &et, 4) || !take(c, &n, 8) || !gguf_type_valid(et)) return false;
    size_t es = gguf_scalar_size(et);
    if (es) {
        if (n > (uint64_t)(c->end - c->p) / es) return false;
        c->p += n * es;
        return true;
    }
    for (uint64_t i = 0; i < n; i++)
        if (!skip_value(c, et, depth + 1)) return false;
    return true;
}

static const char *plural(uint32_t et) {
    switch (et) {
    case MM_GGUF_STRING: return "strings";
    case MM_GGUF_ARRAY: return "arrays";
    case MM_GGUF_BOOL: return "bools";
    default: return mm_gguf_kv_type_name((mm_gguf_type)et);
    }
}

static bool fmt_value(sbuf *s, cur *c, uint32_t t, int depth, bool json, bool in_array) {
    int64_t iv = 0;
    uint64_t uv = 0;
    bool uns;
    size_t ss = gguf_scalar_size(t);
    if (ss) {
        uint8_t tmp[8];
        if (!take(c, tmp, ss)) return false;
        if (gguf_read_int(tmp, t, &iv, &uv, &uns)) {
            if (uns) sb_printf(s, "%llu", (unsigned long long)uv);
            else sb_printf(s, "%lld", (long long)iv);
        } else if (t == MM_GGUF_BOOL) {
            sb_puts(s, tmp[0] ? "true" : "false");
        } else if (t == MM_GGUF_FLOAT32) {
            float f;
            memcpy(&f, tmp, 4);
            fmt_float(s, f, true, json);
        } else {
            double d;
            memcpy(&d, tmp, 8);
            fmt_float(s, d, false, json);
        }
        return true;
    }
    if (t == MM_GGUF_STRING) {
        uint64_t n;
        if (!take(c, &n, 8) || n > (uint64_t)(c->end - c->p)) return false;
        fmt_string(s, c->p, (size_t)n, in_array ? ELEM_STR_MAX : STR_MAX, json);
        c->p += n;
        return true;
    }
    if (t != MM_GGUF_ARRAY || depth >= MM_GGUF_MAX_DEPTH) return false;
    uint32_t et;
    uint64_t n;
    if (!take(c, &et, 4) || !take(c, &n, 8) || !gguf_type_valid(et)) return false;
    bool all = n <= SHOW_ALL;
    uint64_t show = all ? n : SHOW_HEAD;
    if (json && !all) sb_printf(s, "{\"type\": \"%s\", \"n\": %llu, \"first\": ", plural(et), (unsigned long long)n);
    sb_puts(s, "[");
    if (!json && !all) sb_printf(s, "%llu %s: ", (unsigned long long)n, plural(et));
    for (uint64_t i = 0; i < show; i++) {
        if (i) sb_puts(s, ", ");
        if (!fmt_value(s, c, et, depth + 1, json, true)) return false;
    }
    if (!all) {
        if (!json) sb_puts(s, ", ...");
        for (uint64_t i = show; i < n; i++)
            if (!skip_value(c, et, depth + 1)) return false;
    }
    sb_puts(s, "]");
    if (json && !all) sb_puts(s, "}");
    return true;
}

static int format(const mm_gguf *g, int64_t i, bool json, char *buf, size_t size) {
    if (!g || i < 0 || i >= g->n_kv) return -1;
    sbuf s = {.buf = buf, .size = buf ? size : 0, .len = 0};
    if (buf && size) buf[0] = 0;
    const gguf_kv *kv = &g->kv[i];
    cur c = {g->base + kv->val_off, g->base + kv->val_off + kv->val_len};
    if (!fmt_value(&s, &c, kv->type, 0, json, false)) return -1;
    return s.len > (size_t)INT32_MAX ? INT32_MAX : (int)s.len;
}

int mm_gguf_kv_format(const mm_gguf *g, int64_t i, char *buf, size_t size) {
    return format(g, i, false, buf, size);
}

int mm_gguf_kv_format_json(const mm_gguf *g, int64_t i, char *buf, size_t size) {
    return format(g, i, true, buf, size);
}
