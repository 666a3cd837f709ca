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
 * Iterative, O(n), no recursion, no allocation. The character decoder (tok_char_at) is in tok_internal.h.
 * tok_pretokenize dispatches on the tokenizer's pre-tokenizer (the others are in pretok_llama.c).
 */
#include <string.h>

#include "tok_internal.h"

int tok_pretokenize(const mm_tokenizer *t, const uint8_t *text, size_t len, tok_piece_fn fn, void *ctx) {
    if (t->pre != TOK_PRE_GPT2) return tok_pretok_llama(t, text, len, fn, ctx);
    return tok_pretok_gpt2(t, text, len, fn, ctx);
}

int tok_pretok_gpt2(const mm_tokenizer *t, const uint8_t *text, size_t len, tok_piece_fn fn, void *ctx) {
    const uint8_t *p = text, *end = text + len;
    while (p < end) {
        size_t n;
        uint8_t c = tok_char_at(t, p, end, &n);
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
            uint8_t c2 = tok_char_at(t, p + 1, end, &n2);
            if (c2 != CL_S) { c = c2; q = p + 1; n = n2; }
        }
        if (c != CL_S) {
            q += n;
            while (q < end) {
                size_t k;
                if (tok_char_at(t, q, end, &k) != c) break;
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
            if (tok_char_at(t, q, end, &k) != CL_S) break;
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
