/* pretok_llama.c - the pre-tokenizers that llama.cpp applies to byte-level BPE vocabularies, chosen by
 * tokenizer.ggml.pre, as hand-written scanners (no regex engine) over the character classes of pretok.c
 * (utf8proc categories: L* letters, N* numbers, White_Space; an invalid UTF-8 byte is one "other" char).
 *
 * llama.cpp (src/llama-vocab.cpp) gives each name a list of regexes; the text is split by the first,
 * every piece (matches AND the unmatched text between them) by the next, and so on:
 *   gpt-2    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+     (pretok.c)
 *   llama3   (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *            ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *            (Llama 3's (?i:'s|...) spelled ASCII-only, as llama.cpp does)
 *   qwen2    the same with \p{N} instead of \p{N}{1,3} (one digit per piece)
 *   smollm   \p{N}  then the gpt-2 regex: every number character alone, GPT-2 splitting between them
 *   default  [\p{P}\$\+<=>\^~\|]+  then gpt-2  then \p{N}+  then [0-9][0-9][0-9]
 * Names, aliases and llama.cpp's per-name flags are in k_pre below. Every scanner is iterative and O(n).
 */
#include <stdio.h>
#include <string.h>

#include <utf8proc.h>

#include "tok_internal.h"

static const struct {
    const char *name;
    uint8_t     pre;
    bool        ignore_merges, add_bos; /* llama.cpp's defaults for the name (add_bos: key overrides) */
} k_pre[] = {
    {"gpt-2", TOK_PRE_GPT2, false, false},      {"gpt2", TOK_PRE_GPT2, false, false},
    {"phi-2", TOK_PRE_GPT2, false, false},      {"mpt", TOK_PRE_GPT2, false, false},
    {"olmo", TOK_PRE_GPT2, false, false},       {"jais", TOK_PRE_GPT2, false, false},
    {"roberta-bpe", TOK_PRE_GPT2, false, false},
    {"llama-bpe", TOK_PRE_LLAMA3, true, true},  {"llama3", TOK_PRE_LLAMA3, true, true},
    {"llama-v3", TOK_PRE_LLAMA3, true, true},   {"falcon3", TOK_PRE_LLAMA3, true, true},
    {"dbrx", TOK_PRE_LLAMA3, false, false},     {"smaug-bpe", TOK_PRE_LLAMA3, false, false},
    {"qwen2", TOK_PRE_QWEN2, false, false},     {"deepseek-r1-qwen", TOK_PRE_QWEN2, false, false},
    {"megrez", TOK_PRE_QWEN2, false, false},    {"stablelm2", TOK_PRE_QWEN2, false, false},
    {"smollm", TOK_PRE_SMOLLM, false, false},   {"starcoder", TOK_PRE_SMOLLM, false, false},
    {"refact", TOK_PRE_SMOLLM, false, false},   {"command-r", TOK_PRE_SMOLLM, false, false},
    {"codeshell", TOK_PRE_SMOLLM, false, false},{"exaone", TOK_PRE_SMOLLM, false, false},
    {"minerva-7b", TOK_PRE_SMOLLM, false, false},
    {"default", TOK_PRE_DEFAULT, false, false},
};
#define N_PRE (sizeof k_pre / sizeof k_pre[0])

int tok_pre_from_name(const char *s, size_t n, int *pre, bool *ignore_merges, bool *add_bos) {
    for (size_t i = 0; i < N_PRE; i++)
        if (strlen(k_pre[i].name) == n && !memcmp(k_pre[i].name, s, n)) {
            *pre = k_pre[i].pre;
            *ignore_merges = k_pre[i].ignore_merges;
            *add_bos = k_pre[i].add_bos;
            return 0;
        }
    return -1;
}

const char *tok_pre_name(int pre) {
    static const char *names[TOK_PRE_COUNT] = {"gpt-2", "llama-bpe", "qwen2", "smollm", "default"};
    return pre >= 0 && pre < TOK_PRE_COUNT ? names[pre] : "?";
}

void tok_pre_names(char *buf, size_t size) {
    size_t o = 0;
    if (size) buf[0] = 0;
    for (size_t i = 0; i < N_PRE; i++)
        o += (size_t)snprintf(buf + (o < size ? o : size), o < size ? size - o : 0, "%s%s", i ? ", " : "",
                              k_pre[i].name);
}

/* end of the run of class cl that starts at p */
static const uint8_t *run_of(const mm_tokenizer *t, const uint8_t *p, const uint8_t *end, uint8_t cl) {
    while (p < end) {
        size_t k;
        if (tok_char_at(t, p, end, &k) != cl) break;
        p += k;
    }
    return p;
}

static inline uint8_t ascii_lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c; }

/* llama3 (max_digits 3) and qwen2 (max_digits 1): alternatives tried in the regex's order */
static int pre_llama3(const mm_tokenizer *t, const uint8_t *text, size_t len, size_t max_digits,
                      tok_piece_fn fn, void *ctx) {
    const uint8_t *p = text, *end = text + len;
    while (p < end) {
        size_t n, k;
        uint8_t c = tok_char_at(t, p, end, &n);
        const uint8_t *q = p + n;
        /* (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]) */
        if (p[0] == '\'' && end - p >= 2) {
            uint8_t a = ascii_lower(p[1]), b = end - p >= 3 ? ascii_lower(p[2]) : 0;
            size_t m = 0;
            if (a == 's' || a == 't' || a == 'm' || a == 'd') m = 2;
            else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) m = 3;
            if (m) {
                q = p + m;
                goto emit;
            }
        }
        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        if (p[0] != '\r' && p[0] != '\n' && c != CL_N) {
            if (c == CL_L) {
                q = run_of(t, q, end, CL_L);
                goto emit;
            }
            if (q < end && tok_char_at(t, q, end, &k) == CL_L) {
                q = run_of(t, q + k, end, CL_L);
                goto emit;
            }
        }
        /* \p{N}{1,3} or \p{N} */
        if (c == CL_N) {
            for (size_t d = 1; d < max_digits && q < end && tok_char_at(t, q, end, &k) == CL_N; d++) q += k;
            goto emit;
        }
        /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
        if (c == CL_O || (p[0] == ' ' && q < end && tok_char_at(t, q, end, &k) == CL_O)) {
            q = run_of(t, c == CL_O ? q : q + k, end, CL_O);
            while (q < end && (*q == '\r' || *q == '\n')) q++;
            goto emit;
        }
        /* here c is whitespace: \s*[\r\n]+ | \s+(?!\S) | \s+ */
        {
            const uint8_t *last = p, *rn = NULL;
            size_t count = 0;
            for (q = p; q < end && tok_char_at(t, q, end, &k) == CL_S; q += k) {
                if (*q == '\r' || *q == '\n') rn = q + 1;
                last = q;
                count++;
            }
            if (rn) q = rn;                          /* up to the last \r or \n of the run */
            else if (count > 1 && q < end) q = last; /* leave the last space to the next piece */
        }
    emit:;
        int rc = fn(ctx, p, (size_t)(q - p));
        if (rc) return rc;
        p = q;
    }
    return 0;
}

/* smollm: every \p{N} character alone; GPT-2's pattern on the text between them */
static int pre_smollm(const mm_tokenizer *t, const uint8_t *text, size_t len, tok_piece_fn fn, void *ctx) {
    const uint8_t *p = text, *seg = text, *end = text + len;
    int rc;
    while (p < end) {
        size_t n;
        if (tok_char_at(t, p, end, &n) == CL_N) {
            if (p > seg && (rc = tok_pretok_gpt2(t, seg, (size_t)(p - seg), fn, ctx))) return rc;
            if ((rc = fn(ctx, p, n))) return rc;
            seg = p + n;
        }
        p += n;
    }
    return seg < end ? tok_pretok_gpt2(t, seg, (size_t)(end - seg), fn, ctx) : 0;
}

/* default: four splitting stages chained through callbacks */
typedef struct {
    const mm_tokenizer *t;
    tok_piece_fn fn;
    void *ctx;
} chain;

static inline bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }

/* stage 4: [0-9][0-9][0-9] (ASCII digits never occur inside a multi-byte character) */
static int st_digits3(void *vc, const uint8_t *p, size_t n) {
    chain *c = vc;
    size_t i = 0, gap = 0;
    int rc;
    while (i + 3 <= n) {
        if (is_digit(p[i]) && is_digit(p[i + 1]) && is_digit(p[i + 2])) {
            if (i > gap && (rc = c->fn(c->ctx, p + gap, i - gap))) return rc;
            if ((rc = c->fn(c->ctx, p + i, 3))) return rc;
            i += 3;
            gap = i;
        } else {
            i++;
        }
    }
    return gap < n ? c->fn(c->ctx, p + gap, n - gap) : 0;
}

/* stage 3: \p{N}+ - number runs and the text between them */
static int st_numbers(void *vc, const uint8_t *p, size_t n) {
    chain *c = vc;
    const uint8_t *end = p + n;
    while (p < end) {
        size_t k;
        bool num = tok_char_at(c->t, p, end, &k) == CL_N;
        const uint8_t *q = p + k;
        while (q < end && (tok_char_at(c->t, q, end, &k) == CL_N) == num) q += k;
        int rc = st_digits3(c, p, (size_t)(q - p));
        if (rc) return rc;
        p = q;
    }
    return 0;
}

/* stage 2: GPT-2's pattern */
static int st_gpt2(void *vc, const uint8_t *p, size_t n) {
    chain *c = vc;
    return tok_pretok_gpt2(c->t, p, n, st_numbers, c);
}

/* [\p{P}\$\+<=>\^~\|]: in ASCII every punctuation or symbol character except the backtick */
static bool is_default_punct(const uint8_t *p, const uint8_t *end, size_t *len) {
    if (p[0] < 0x80) {
        *len = 1;
        uint8_t b = p[0];
        bool alnum = (b >= '0' && b <= '9') || ((b | 0x20) >= 'a' && (b | 0x20) <= 'z');
        return b > 0x20 && b < 0x7F && b != '`' && !alnum;
    }
    int32_t cp = tok_utf8_decode(p, end, len);
    if (cp < 0) return false;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF: case UTF8PROC_CATEGORY_PO:
        return true;
    default:
        return false;
    }
}

/* stage 1: [\p{P}\$\+<=>\^~\|]+ runs and the text between them */
static int pre_default(const mm_tokenizer *t, const uint8_t *text, size_t len, tok_piece_fn fn, void *ctx) {
    chain c = {t, fn, ctx};
    const uint8_t *p = text, *end = text + len;
    while (p < end) {
        size_t k;
        bool punct = is_default_punct(p, end, &k);
        const uint8_t *q = p + k;
        while (q < end && is_default_punct(q, end, &k) == punct) q += k;
        int rc = st_gpt2(&c, p, (size_t)(q - p));
        if (rc) return rc;
        p = q;
    }
    return 0;
}

int tok_pretok_llama(const mm_tokenizer *t, const uint8_t *text, size_t len, tok_piece_fn fn, void *ctx) {
    switch (t->pre) {
    case TOK_PRE_LLAMA3: return pre_llama3(t, text, len, 3, fn, ctx);
    case TOK_PRE_QWEN2: return pre_llama3(t, text, len, 1, fn, ctx);
    case TOK_PRE_SMOLLM: return pre_smollm(t, text, len, fn, ctx);
    case TOK_PRE_DEFAULT: return pre_default(t, text, len, fn, ctx);
    default: return tok_pretok_gpt2(t, text, len, fn, ctx);
    }
}
