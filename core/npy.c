/* npy.c - .npy files (float32, little-endian, C order). The reader treats every file as hostile:
 * the header must be a well-formed numpy dict with exactly the keys descr ('<f4'), fortran_order
 * (False) and shape (0..4 non-negative dims), and the data size must match the file size exactly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mm_core.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mm_npy assumes a little-endian host"
#endif

#define NPY_MAX_HEADER 65536
#define NPY_MAX_ELEMS  ((int64_t)1 << 36)   /* 256 GiB of float32: anything larger is rejected */

int mm_npy_write(const char *path, const float *data, int ndim, const int64_t *shape, char *err) {
    if (ndim < 0 || ndim > 4) return mm_err(err, "%s: ndim %d not in 0..4", path, ndim);
    char dict[256];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || shape[i] > NPY_MAX_ELEMS)
            return mm_err(err, "%s: bad dimension %lld", path, (long long)shape[i]);
        if (shape[i] != 0 && count > NPY_MAX_ELEMS / shape[i])
            return mm_err(err, "%s: too many elements", path);
        count *= shape[i];
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%lld%s", (long long)shape[i],
                        ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
    }
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    /* pad with spaces so that magic(6)+version(2)+len(2)+header is a multiple of 64, ending in '\n' */
    int total = 10 + len + 1;
    int hlen = len + 1 + (64 - total % 64) % 64;
    char header[320];
    memcpy(header, "\x93NUMPY\x01\x00", 8);
    header[8] = (char)(hlen & 0xff);
    header[9] = (char)(hlen >> 8);
    memcpy(header + 10, dict, (size_t)len);
    memset(header + 10 + len, ' ', (size_t)(hlen - len - 1));
    header[10 + hlen - 1] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f) return mm_err(err, "%s: %s", path, strerror(errno));
    int ok = fwrite(header, 1, (size_t)(10 + hlen), f) == (size_t)(10 + hlen);
    if (ok && count > 0) ok = fwrite(data, sizeof(float), (size_t)count, f) == (size_t)count;
    if (fclose(f) != 0) ok = 0;
    if (!ok) return mm_err(err, "%s: write failed", path);
    return 0;
}

/* ---------------------------------------------------------------- header parser */
typedef struct { const char *p, *end; } cur;

static void skip_ws(cur *c) { while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++; }
static int eat(cur *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) { c->p++; return 1; }
    return 0;
}
/* quoted string (single or double quotes, no escapes) into out */
static int parse_str(cur *c, char *out, size_t cap) {
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || (unsigned char)*c->p < 0x20 || n + 1 >= cap) return 0;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    out[n] = 0;
    return 1;
}
static int parse_word(cur *c, const char *w) {
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return 0;
    c->p += n;
    return 1;
}
static int parse_dim(cur *c, int64_t *v) {
    skip_ws(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return 0;
    int64_t x = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        x = x * 10 + (*c->p - '0');
        if (x > NPY_MAX_ELEMS) return 0;
        c->p++;
    }
    if (c->p < c->end && *c->p == 'L') c->p++;   /* python 2 long suffix */
    *v = x;
    return 1;
}

static int parse_header(const char *h, size_t n, int *ndim, int64_t shape[4], const char *path, char *err) {
    cur c = {h, h + n};
    int have_descr = 0, have_fo = 0, have_shape = 0;
    if (!eat(&c, '{')) return mm_err(err, "%s: npy header is not a dict", path);
    for (;;) {
        if (eat(&c, '}')) break;
        char key[32], val[32];
        if (!parse_str(&c, key, sizeof key) || !eat(&c, ':'))
            return mm_err(err, "%s: malformed npy header", path);
        if (strcmp(key, "descr") == 0) {
            if (have_descr++) return mm_err(err, "%s: duplicate key descr", path);
            if (!parse_str(&c, val, sizeof val)) return mm_err(err, "%s: bad descr", path);
            if (strcmp(val, "<f4") != 0)
                return mm_err(err, "%s: dtype '%s' is not little-endian float32 ('<f4')", path, val);
        } else if (strcmp(key, "fortran_order") == 0) {
            if (have_fo++) return mm_err(err, "%s: duplicate key fortran_order", path);
            if (parse_word(&c, "True")) return mm_err(err, "%s: fortran order is not supported", path);
            if (!parse_word(&c, "False")) return mm_err(err, "%s: bad fortran_order", path);
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++) return mm_err(err, "%s: duplicate key shape", path);
            if (!eat(&c, '(')) return mm_err(err, "%s: shape is not a tuple", path);
            int nd = 0;
            for (;;) {
                if (eat(&c, ')')) break;
                if (nd == 4) return mm_err(err, "%s: more than 4 dimensions", path);
                if (!parse_dim(&c, &shape[nd])) return mm_err(err, "%s: bad or huge dimension", path);
                nd++;
                if (eat(&c, ',')) continue;
                if (eat(&c, ')')) break;
                return mm_err(err, "%s: malformed shape", path);
            }
            *ndim = nd;
        } else {
            return mm_err(err, "%s: unexpected key '%s' in npy header", path, key);
        }
        if (eat(&c, ',')) continue;
        if (eat(&c, '}')) break;
        return mm_err(err, "%s: malformed npy header", path);
    }
    if (!have_descr || !have_fo || !have_shape)
        return mm_err(err, "%s: npy header lacks descr, fortran_order or shape", path);
    while (c.p < c.end && (*c.p == ' ' || *c.p == '\n' || *c.p == '\t')) c.p++;
    if (c.p != c.end) return mm_err(err, "%s: junk after npy header dict", path);
    if (n == 0 || h[n - 1] != '\n') return mm_err(err, "%s: npy header does not end in a newline", path);
    return 0;
}

int mm_npy_read(const char *path, float **data, int *ndim, int64_t shape[4], char *err) {
    *data = NULL;
    *ndim = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return mm_err(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return mm_err(err, "%s: not a regular file", path);
    }
    int64_t fsize = st.st_size;
    unsigned char pre[12];
    if (fsize < 10 || fread(pre, 1, 10, f) != 10) {
        fclose(f);
        return mm_err(err, "%s: too short for an npy file", path);
    }
    if (memcmp(pre, "\x93NUMPY", 6) != 0) {
        fclose(f);
        return mm_err(err, "%s: bad npy magic", path);
    }
    int major = pre[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (fsize < 12 || fread(pre + 10, 1, 2, f) != 2) {
            fclose(f);
            return mm_err(err, "%s: too short for an npy file", path);
        }
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8) | ((size_t)pre[10] << 16) | ((size_t)pre[11] << 24);
        hstart = 12;
    } else {
        fclose(f);
        return mm_err(err, "%s: unsupported npy version %d.%d", path, major, pre[7]);
    }
    if (pre[7] != 0) {
        fclose(f);
        return mm_err(err, "%s: unsupported npy version %d.%d", path, major, pre[7]);
    }
    if (hlen == 0 || hlen > NPY_MAX_HEADER || (int64_t)(hstart + hlen) > fsize) {
        fclose(f);
        return mm_err(err, "%s: npy header length %zu is invalid for a %lld-byte file", path, hlen,
                      (long long)fsize);
    }
    char *h = malloc(hlen);
    if (!h) {
        fclose(f);
        return mm_err(err, "%s: out of memory", path);
    }
    if (fread(h, 1, hlen, f) != hlen) {
        free(h);
        fclose(f);
        return mm_err(err, "%s: read failed", path);
    }
    int64_t shp[4] = {0, 0, 0, 0};
    int nd = 0;
    int rc = parse_header(h, hlen, &nd, shp, path, err);
    free(h);
    if (rc != 0) {
        fclose(f);
        return -1;
    }
    int64_t count = 1;
    for (int i = 0; i < nd; i++) {
        if (shp[i] != 0 && count > NPY_MAX_ELEMS / shp[i]) {
            fclose(f);
            return mm_err(err, "%s: too many elements", path);
        }
        count *= shp[i];
    }
    int64_t need = count * 4;
    if (fsize - (int64_t)(hstart + hlen) != need) {
        fclose(f);
        return mm_err(err, "%s: data is %lld bytes, shape needs %lld", path,
                      (long long)(fsize - (int64_t)(hstart + hlen)), (long long)need);
    }
    float *d = malloc(need > 0 ? (size_t)need : 1);
    if (!d) {
        fclose(f);
        return mm_err(err, "%s: out of memory for %lld bytes", path, (long long)need);
    }
    if (need > 0 && fread(d, 1, (size_t)need, f) != (size_t)need) {
        free(d);
        fclose(f);
        return mm_err(err, "%s: read failed", path);
    }
    fclose(f);
    *data = d;
    *ndim = nd;
    for (int i = 0; i < 4; i++) shape[i] = i < nd ? shp[i] : 0;
    return 0;
}
