/* utf8.c - well-formed UTF-8 and U+FFFD substitution of ill-formed bytes (mm_core.h, "UTF-8"). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mm_core.h"

/* Unicode 15, Table 3-7 (well-formed byte sequences): the lead byte gives the length and the allowed
 * range of the second byte; the third and fourth bytes are always 80..BF. */
int mm_utf8_next(const void *data, size_t n) {
    const uint8_t *b = data;
    if (n == 0) return 0;
    uint8_t c = b[0];
    if (c < 0x80) return 1;
    int     len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;       /* no overlongs */
        else if (c == 0xED) hi = 0x9F;  /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;       /* no overlongs */
        else if (c == 0xF4) hi = 0x8F;  /* nothing above U+10FFFF */
    } else return -1;                   /* 80..C1, F5..FF never start a character */
    for (int k = 1; k < len; k++) {
        if ((size_t)k >= n) return 0;   /* a proper prefix so far: more bytes needed */
        uint8_t x = b[k];
        if (x < lo || x > hi) return -k; /* b[0..k) is the maximal subpart */
        lo = 0x80;
        hi = 0xBF;
    }
    return len;
}

bool mm_utf8_valid(const void *data, size_t n) {
    const uint8_t *b = data;
    for (size_t i = 0; i < n;) {
        int k = mm_utf8_next(b + i, n - i);
        if (k <= 0) return false;
        i += (size_t)k;
    }
    return true;
}

size_t mm_utf8_sanitize_into(const void *data, size_t n, char *out) {
    const uint8_t *b = data;
    size_t         o = 0;
    for (size_t i = 0; i < n;) {
        int k = mm_utf8_next(b + i, n - i);
        if (k > 0 && b[i] != 0) {
            memcpy(out + o, b + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
            continue;
        }
        memcpy(out + o, MM_UTF8_REPLACEMENT, 3);
        o += 3;
        i += k > 0 ? 1 : k < 0 ? (size_t)-k : n - i; /* U+0000; a maximal subpart; an incomplete end */
    }
    out[o] = 0;
    return o;
}

char *mm_utf8_sanitize(const void *data, size_t n, size_t *out_len) {
    if (n > (SIZE_MAX - 1) / 3) return NULL;
    char *out = malloc(3 * n + 1);
    if (!out) return NULL;
    size_t o = mm_utf8_sanitize_into(data, n, out);
    if (out_len) *out_len = o;
    return out;
}
