/* pretok.c - GPT-2 pre-tokenization without a regex engine.
 *
 * The pattern  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * is matched leftmost-first at every position, which works out to:
 *   - "'" followed by s t m d (or re ve ll): the contraction (case-sensitive, ASCII only);
 *   - an optional U+0020 followed by a run of letters, or of numbers, or of "other" characters
 *     (anything that is not White_Space, a letter or a number; invalid UTF-8 bytes count here);
 *   - a run of White_Space: all of it when it reaches the end of the text, else all but its last
 *     character (which then starts the next pre-token, e.g. " word"); a run of one character
 *     followed by a non-space is matched whole by the final \s+.
 * Iterative, O(n), no recursion, no allocation.
 */
#include <string.h>

#include "tok_internal.h"

uint8_t tok_class_cp(const mm_tokenizer *t, int32_t cp);

/* Decode one character at p (strict UTF-8: no overlongs, no surrogates, <= U+10FFFF). Returns its class
 * and byte length; an invalid byte is one CL_O character of length 1. */
static inline uint8_t char_at(const mm_tokenizer *t, const uint8_t *p, const uint8_t *end, size_t *len) {
    static const uint8_t ascii[128] = {
        /* 0x00-0x08 other, 0x09-0x0D space, 0x0E-0x1F other */
        3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
        /* ' ' space, !"#$%&'()*+,-./ other, 0-9 number, :;<=>?@ other */
        2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3,
        /* @ A-Z [\]^_ */
        3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3,
        /* ` a-z {|}~ DEL */
        3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3,
    };
    uint8_t c = p[0];
    if (c < 0x80) {
        *len = 1;
        return ascii[c];
    }
    size_t avail = (size_t)(end - p);
    int32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        if (avail < 2 || (p[1] & 0xC0) != 0x80) goto bad;
        cp = ((c & 0x1F) << 6) | (p[1] & 0x3F);
        *len = 2;
        return t->bmp_class[cp];
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) goto bad;
        if (c == 0xE0 && p[1] < 0xA0) goto bad;  /* overlong */
        if (c == 0xED && p[1] >= 0xA0) goto bad; /* surrogate */
        cp = ((c & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        *len = 3;
        return t->bmp_class[cp];
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) goto bad;
        if (c == 0xF0 && p[1] < 0x90) goto bad;  /* overlong */
        if (c == 0xF4 && p[1] >= 0x90) goto bad; /* > U+10FFFF */
        cp = ((c & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
        *len = 4;
        return tok_class_cp(t, cp);
    }
bad:
    *len = 1;
    return CL_O;
}

int tok_pretokenize(const mm_tokenizer *t, const uint8_t *text, size_t len, tok_piece_fn fn, void *ctx) {
    const uint8_t *p = text, *end = text + len;
    while (p < end) {
        size_t n;
        uint8_t c = char_at(t, p, end, &n);
        const uint8_t *q;
        int rc;
        /* 's 't 're 've 'm 'll 'd */
        if (p[0] == '\'' && end - p >= 2) {
            uint8_t a = p[1], b = end - p >= 3 ? p[2] : 0;
            size_t k = 0;
            if (a == 's' || a == 't' || a == 'm' || a == 'd') k = 2;
            else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) k = 3;
            if (k) {
                if ((rc = fn(ctx, p, k))) return rc;
                p += k;
                continue;
            }
        }
        /* optional space + a run of one class */
        q = p;
        if (p[0] == ' ' && end - p >= 2) {
            size_t n2;
            uint8_t c2 = char_at(t, p + 1, end, &n2);
            if (c2 != CL_S) { c = c2; q = p + 1; n = n2; }
        }
        if (c != CL_S) {
            q += n;
            while (q < end) {
                size_t k;
                if (char_at(t, q, end, &k) != c) break;
                q += k;
            }
            if ((rc = fn(ctx, p, (size_t)(q - p)))) return rc;
            p = q;
            continue;
        }
        /* whitespace run */
        const uint8_t *last = p;
        size_t count = 1;
        q = p + n;
        while (q < end) {
            size_t k;
            if (char_at(t, q, end, &k) != CL_S) break;
            last = q;
            count++;
            q += k;
        }
        if (q < end && count >= 2) q = last; /* leave the last space to the next word */
        if ((rc = fn(ctx, p, (size_t)(q - p)))) return rc;
        p = q;
    }
    return 0;
}
