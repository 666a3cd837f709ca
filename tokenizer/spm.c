/* spm.c - SentencePiece BPE vocabularies (tokenizer.ggml.model = "llama"), as llama.cpp's
 * llm_tokenizer_spm encodes them.
 *
 * Encoding one text fragment (the text between special tokens; every non-empty fragment):
 *   1. "\xe2\x96\x81" (U+2581, "▁") in front when add_space_prefix, and every ' ' replaced by it;
 *   2. split into characters (a valid UTF-8 sequence; an invalid byte is a character of its own);
 *   3. repeatedly merge the adjacent pair whose concatenation is a NORMAL token with the highest score
 *      (the leftmost pair on equal scores), until no pair is a token: a heap of candidate pairs keyed
 *      (score, position), stale entries skipped, O(n log n). Two neighbouring characters that occur next
 *      to each other in no NORMAL token can never end up in one piece, so the text is cut there (for
 *      SentencePiece vocabularies: before almost every U+2581) and each part runs on its own - the same
 *      merges, with memory for one part instead of the whole text;
 *   4. each remaining piece is its token if it is a NORMAL token, else its bytes become byte-fallback
 *      tokens: <0xXX> (upper-case hex, as llama.cpp looks them up), else a token whose text is that single
 *      byte, else the unknown token.
 *   Only NORMAL tokens are merge results, so control / user-defined / byte / unused tokens never come out
 *   of user text (special tokens are matched before this, by the caller, when allowed).
 * Decoding (the pieces of mm_tokenizer_piece): NORMAL -> text with "▁" -> ' '; BYTE -> its byte;
 * USER_DEFINED -> its text; CONTROL, UNKNOWN, UNUSED (and unknown type numbers) -> nothing.
 * Differences from llama.cpp: llama.cpp groups bytes by the lead byte's length without validating them,
 * so invalid UTF-8 may swallow the next character into byte tokens; here each invalid byte is one
 * character (byte fallback) and the rest of the text is tokenized as if it were alone. Merges in
 * llama.cpp may also produce control / user-defined / byte tokens whose text appears in the user's text;
 * here they cannot.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

#define SPACE_MARK "\xe2\x96\x81" /* U+2581 */

static int32_t sh_find(const mm_tokenizer *t, const uint8_t *p, size_t n) {
    if (n == 0 || n > t->max_text) return -1;
    uint32_t i = (uint32_t)tok_hash(p, n) & t->sh_mask;
    for (;;) {
        int32_t id = t->sh[i];
        if (id < 0) return -1;
        if (t->text_len[id] == n && !memcmp(t->text[id], p, n)) return id;
        i = (i + 1) & t->sh_mask;
    }
}

/* character key of the pairs set: the code point, or 0x110000 + byte for an invalid byte */
static inline uint64_t char_key(const uint8_t *p, const uint8_t *end, size_t *len) {
    int32_t cp = tok_utf8_decode(p, end, len);
    return cp >= 0 ? (uint64_t)cp : 0x110000u + p[0];
}

static inline uint64_t pair_hash(uint64_t key) { return key * 0x9E3779B97F4A7C15ull; }

static bool pair_known(const mm_tokenizer *t, uint64_t key) {
    for (uint32_t i = (uint32_t)(pair_hash(key) >> 32) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        if (t->pair_key[i] == key) return true;
        if (!t->pair_key[i]) return false;
    }
}

/* every (character, next character) inside a NORMAL text; -1 on out of memory */
static int build_pairs(mm_tokenizer *t) {
    size_t n_pairs = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->type[i] == TOK_NORMAL && t->text_len[i] > 1) n_pairs += t->text_len[i] - 1;
    t->pair_mask = tok_table_mask(n_pairs);
    t->pair_key = calloc((size_t)t->pair_mask + 1, sizeof *t->pair_key);
    if (!t->pair_key) return -1;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (t->type[i] != TOK_NORMAL) continue;
        const uint8_t *p = (const uint8_t *)t->text[i], *end = p + t->text_len[i];
        size_t k;
        uint64_t prev = p < end ? char_key(p, end, &k) : 0;
        for (p += p < end ? k : 0; p < end; p += k) {
            uint64_t c = char_key(p, end, &k), key = (prev << 22 | c) + 1;
            prev = c;
            uint32_t j = (uint32_t)(pair_hash(key) >> 32) & t->pair_mask;
            while (t->pair_key[j] && t->pair_key[j] != key) j = (j + 1) & t->pair_mask;
            t->pair_key[j] = key;
        }
    }
    return 0;
}

/* open-addressing insert (first id wins); key bytes of id come from key(t, id) */
static void map_insert(int32_t *slot, uint32_t mask, const mm_tokenizer *t, int32_t id, bool by_text) {
    const char *k = by_text ? t->text[id] : t->piece[id];
    size_t n = by_text ? t->text_len[id] : t->piece_len[id];
    uint32_t i = (uint32_t)tok_hash(k, n) & mask;
    for (;;) {
        int32_t o = slot[i];
        if (o < 0) {
            slot[i] = id;
            return;
        }
        const char *ok = by_text ? t->text[o] : t->piece[o];
        size_t on = by_text ? t->text_len[o] : t->piece_len[o];
        if (on == n && !memcmp(ok, k, n)) return;
        i = (i + 1) & mask;
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "<0xHH>" -> byte, else -1; upper: only the upper-case spelling */
static int byte_text(const char *s, size_t n, bool upper) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int hi = hexval(s[3]), lo = hexval(s[4]);
    if (hi < 0 || lo < 0) return -1;
    if (upper && ((s[3] >= 'a' && s[3] <= 'f') || (s[4] >= 'a' && s[4] <= 'f'))) return -1;
    return hi * 16 + lo;
}

mm_tokenizer *tok_spm_build_tokenizer(const tok_spm_build *b, const char *what, char *err) {
    if (b->n <= 0 || b->n > TOK_MAX_VOCAB) {
        mm_err(err, "%s: vocabulary size %d out of range", what, (int)b->n);
        return NULL;
    }
    int32_t n = b->n;
    mm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) goto oom;
    t->kind = TOK_KIND_SPM;
    t->n_vocab = n;
    t->eot = t->eom = -1;
    t->text = calloc((size_t)n, sizeof *t->text);
    t->piece = calloc((size_t)n, sizeof *t->piece);
    t->piece_len = calloc((size_t)n, sizeof *t->piece_len);
    t->text_len = calloc((size_t)n, sizeof *t->text_len);
    t->type = calloc((size_t)n, 1);
    t->score = calloc((size_t)n, sizeof *t->score);
    if (!t->text || !t->piece || !t->piece_len || !t->text_len || !t->type || !t->score) goto oom;

    /* texts, types, scores, pieces */
    for (int32_t i = 0; i < n; i++) {
        const char *s = b->text[i];
        size_t len = s ? (b->text_len ? b->text_len[i] : strlen(s)) : 0;
        if (!s || len > TOK_MAX_TEXT || memchr(s, 0, len)) {
            mm_err(err, "%s: token %d has an invalid text (missing, NUL byte or over %d bytes)", what, (int)i,
                   TOK_MAX_TEXT);
            goto fail;
        }
        int32_t ty = b->type ? b->type[i] : TOK_NORMAL;
        if (ty < TOK_NORMAL || ty > TOK_BYTE) ty = TOK_UNUSED; /* llama.cpp: undefined -> renders nothing */
        float sc = b->score ? b->score[i] : 0.0f;
        if (isnan(sc)) {
            mm_err(err, "%s: token %d has a NaN score", what, (int)i);
            goto fail;
        }
        t->type[i] = (uint8_t)ty;
        t->score[i] = sc;
        t->text_len[i] = (uint32_t)len;
        if (!(t->text[i] = malloc(len + 1)) || !(t->piece[i] = malloc(len + 1))) goto oom;
        memcpy(t->text[i], s, len);
        t->text[i][len] = 0;
        size_t o = 0;
        if (ty == TOK_NORMAL) {
            for (size_t k = 0; k < len;) {
                if (k + 3 <= len && !memcmp(s + k, SPACE_MARK, 3)) { t->piece[i][o++] = ' '; k += 3; }
                else t->piece[i][o++] = s[k++];
            }
        } else if (ty == TOK_BYTE) {
            int v = byte_text(s, len, false);
            if (v < 0) {
                mm_err(err, "%s: token %d has type BYTE but its text '%.*s' is not <0xXX>", what, (int)i,
                       (int)(len > 40 ? 40 : len), s);
                goto fail;
            }
            t->piece[i][o++] = (char)v;
        } else if (ty == TOK_USER) {
            memcpy(t->piece[i], s, len);
            o = len;
        }
        t->piece[i][o] = 0;
        t->piece_len[i] = (uint32_t)o;
    }

    /* NORMAL tokens: text -> id (merging), piece -> id (mm_tokenizer_token_id) */
    t->sh_mask = tok_table_mask((size_t)n);
    t->vh_mask = t->sh_mask;
    t->sh = malloc(((size_t)t->sh_mask + 1) * sizeof *t->sh);
    t->vh = malloc(((size_t)t->vh_mask + 1) * sizeof *t->vh);
    if (!t->sh || !t->vh) goto oom;
    memset(t->sh, 0xff, ((size_t)t->sh_mask + 1) * sizeof *t->sh);
    memset(t->vh, 0xff, ((size_t)t->vh_mask + 1) * sizeof *t->vh);
    for (int32_t i = 0; i < n; i++) {
        if (t->type[i] != TOK_NORMAL || t->text_len[i] == 0) continue;
        map_insert(t->sh, t->sh_mask, t, i, true);
        map_insert(t->vh, t->vh_mask, t, i, false);
        if (t->text_len[i] > t->max_text) t->max_text = t->text_len[i];
    }
    if (build_pairs(t)) goto oom;

    /* byte fallback */
    int32_t single[256];
    for (int i = 0; i < 256; i++) t->byte_id[i] = single[i] = -1;
    for (int32_t i = 0; i < n; i++) {
        int v = byte_text(t->text[i], t->text_len[i], true);
        if (v >= 0 && t->byte_id[v] < 0) t->byte_id[v] = i;
        if (t->text_len[i] == 1 && single[(uint8_t)t->text[i][0]] < 0) single[(uint8_t)t->text[i][0]] = i;
    }
    if (b->bos < -1 || b->bos >= n || b->eos < -1 || b->eos >= n || b->unk < -1 || b->unk >= n) {
        mm_err(err, "%s: bos/eos/unk id out of range (%d, %d, %d; %d tokens)", what, (int)b->bos, (int)b->eos,
               (int)b->unk, (int)n);
        goto fail;
    }
    for (int i = 0; i < 256; i++) {
        if (t->byte_id[i] < 0) t->byte_id[i] = single[i] >= 0 ? single[i] : b->unk;
        if (t->byte_id[i] < 0) {
            mm_err(err, "%s: no token for byte 0x%02X (neither <0x%02X> nor an unknown token)", what, i, i);
            goto fail;
        }
    }
    t->bos = b->bos;
    t->eos = b->eos;
    t->unk = b->unk;
    t->add_bos = b->add_bos;
    t->add_eos = b->add_eos;
    t->add_space_prefix = b->add_space_prefix;
    if (tok_build_specials(t)) goto oom;
    if (tok_build_eog(t, NULL, what, err)) goto fail;
    return t;
oom:
    mm_err(err, "%s: out of memory", what);
fail:
    mm_tokenizer_free(t);
    return NULL;
}

/* ---------------------------------------------------------------- encode */
typedef struct {
    uint8_t *buf;                    /* escaped text of the current part */
    int32_t *st, *ln, *prev, *next;  /* [m] symbols: start, length, list links */
    size_t   o, cap_b;
    int32_t  m, cap_m;
} spm_work;

static void work_free(spm_work *w) {
    free(w->buf);
    free(w->st);
    free(w->ln);
    free(w->prev);
    free(w->next);
}

/* steps 1 and 2, one character at a time: the prefix mark, then the text with ' ' -> U+2581 (a space mark
 * never joins the bytes before it into a character: its lead byte is not a continuation byte) */
static void next_char(const uint8_t *s, size_t n, size_t *i, bool *prefix, const uint8_t **c, size_t *k) {
    static const uint8_t mark[3] = {0xE2, 0x96, 0x81};
    if (*prefix || s[*i] == ' ') {
        *i += !*prefix;
        *prefix = false;
        *c = mark;
        *k = 3;
        return;
    }
    *c = s + *i;
    tok_utf8_decode(*c, s + n, k);
    *i += *k;
}

/* append one character as a symbol; -1 when out of memory or the part exceeds 2 GiB */
static int add_char(spm_work *w, const uint8_t *c, size_t k) {
    if (w->o + k > w->cap_b) {
        size_t cap = w->cap_b ? 2 * w->cap_b : 256;
        while (cap < w->o + k) cap *= 2;
        uint8_t *b = cap <= INT32_MAX ? realloc(w->buf, cap) : NULL;
        if (!b) return -1;
        w->buf = b;
        w->cap_b = cap;
    }
    if (w->m == w->cap_m) {
        if (w->cap_m > INT32_MAX / 2) return -1;
        int32_t cap = w->cap_m ? 2 * w->cap_m : 64;
        int32_t **arr[4] = {&w->st, &w->ln, &w->prev, &w->next};
        for (int a = 0; a < 4; a++) {
            int32_t *v = realloc(*arr[a], (size_t)cap * sizeof *v);
            if (!v) return -1;
            *arr[a] = v;
        }
        w->cap_m = cap;
    }
    memcpy(w->buf + w->o, c, k);
    int32_t m = w->m++;
    w->st[m] = (int32_t)w->o;
    w->ln[m] = (int32_t)k;
    w->prev[m] = m - 1;
    w->next[m] = -1;
    if (m) w->next[m - 1] = m;
    w->o += k;
    return 0;
}

/* step 4 for the symbols in list order from first */
static int emit_symbols(const mm_tokenizer *t, const spm_work *w, int32_t first, tok_ids *out) {
    for (int32_t i = first; i >= 0; i = w->next[i]) {
        const uint8_t *p = w->buf + w->st[i];
        int32_t id = sh_find(t, p, (size_t)w->ln[i]);
        if (id >= 0) {
            if (tok_ids_push(out, id)) return -1;
            continue;
        }
        for (int32_t k = 0; k < w->ln[i]; k++)
            if (tok_ids_push(out, t->byte_id[p[k]])) return -1;
    }
    return 0;
}

typedef struct {
    float   score;
    int32_t l, r, size;
} spm_ent;

static inline bool ent_first(const spm_ent *a, const spm_ent *b) {
    return a->score > b->score || (a->score == b->score && a->l < b->l);
}

static void heap_push(spm_ent *h, size_t *n, spm_ent e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!ent_first(&e, &h[up])) break;
        h[i] = h[up];
        i = up;
    }
    h[i] = e;
}

static spm_ent heap_pop(spm_ent *h, size_t *n) {
    spm_ent top = h[0], last = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && ent_first(&h[c + 1], &h[c])) c++;
        if (!ent_first(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = last;
    return top;
}

typedef struct {
    spm_ent *e;
    size_t   n, cap;
} spm_heap;

/* queue the pair (l, r) if their concatenation is a NORMAL token; -1 on out of memory */
static int try_pair(const mm_tokenizer *t, const spm_work *w, int32_t l, int32_t r, spm_heap *h) {
    if (l < 0 || r < 0) return 0;
    int32_t size = w->ln[l] + w->ln[r];
    int32_t id = sh_find(t, w->buf + w->st[l], (size_t)size);
    if (id < 0) return 0;
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 256;
        spm_ent *e = realloc(h->e, cap * sizeof *e);
        if (!e) return -1;
        h->e = e;
        h->cap = cap;
    }
    heap_push(h->e, &h->n, (spm_ent){t->score[id], l, r, size});
    return 0;
}

/* step 3 on the pairs queued in h; -1 on out of memory */
static int merge_part(const mm_tokenizer *t, spm_work *w, spm_heap *h) {
    while (h->n) {
        spm_ent e = heap_pop(h->e, &h->n);
        /* stale when either side was merged away or grew since the pair was queued */
        if (w->ln[e.l] == 0 || w->ln[e.r] == 0 || w->ln[e.l] + w->ln[e.r] != e.size) continue;
        w->ln[e.l] = e.size;
        w->ln[e.r] = 0;
        w->next[e.l] = w->next[e.r];
        if (w->next[e.r] >= 0) w->prev[w->next[e.r]] = e.l;
        if (try_pair(t, w, w->prev[e.l], e.l, h) || try_pair(t, w, e.l, w->next[e.l], h)) return -1;
    }
    return 0;
}

/* steps 3 and 4 on the current part, then start a new one */
static int flush_part(const mm_tokenizer *t, spm_work *w, spm_heap *h, tok_ids *out) {
    if (w->m == 0) return 0;
    h->n = 0;
    for (int32_t i = 0; i + 1 < w->m; i++)
        if (try_pair(t, w, i, i + 1, h)) return -1;
    if (merge_part(t, w, h) || emit_symbols(t, w, 0, out)) return -1;
    w->m = 0;
    w->o = 0;
    return 0;
}

int tok_spm_encode(const mm_tokenizer *t, const uint8_t *s, size_t n, tok_ids *out) {
    if (n == 0) return 0;
    spm_work w = {0};
    spm_heap h = {0};
    bool prefix = t->add_space_prefix;
    uint64_t prev = 0;
    int rc = -1;
    for (size_t i = 0; prefix || i < n;) {
        const uint8_t *c;
        size_t k, k2;
        next_char(s, n, &i, &prefix, &c, &k);
        uint64_t key = char_key(c, c + k, &k2);
        /* two neighbours that no NORMAL token holds side by side: a new part */
        if (w.m && !pair_known(t, (prev << 22 | key) + 1) && flush_part(t, &w, &h, out)) goto done;
        if (add_char(&w, c, k)) goto done;
        prev = key;
    }
    rc = flush_part(t, &w, &h, out);
done:
    work_free(&w);
    free(h.e);
    return rc;
}

int tok_spm_encode_ref(const mm_tokenizer *t, const uint8_t *s, size_t n, tok_ids *out) {
    if (n == 0) return 0;
    spm_work w = {0};
    bool prefix = t->add_space_prefix;
    int rc = -1;
    for (size_t i = 0; prefix || i < n;) {
        const uint8_t *c;
        size_t k;
        next_char(s, n, &i, &prefix, &c, &k);
        if (add_char(&w, c, k)) goto done;
    }
    /* the whole text as a plain array (st, ln) of m symbols: merge the best pair, shift the rest down */
    for (;;) {
        int32_t best = -1;
        float best_score = 0;
        for (int32_t i = 0; i + 1 < w.m; i++) {
            int32_t id = sh_find(t, w.buf + w.st[i], (size_t)(w.ln[i] + w.ln[i + 1]));
            if (id >= 0 && (best < 0 || t->score[id] > best_score)) {
                best = i;
                best_score = t->score[id];
            }
        }
        if (best < 0) break;
        w.ln[best] += w.ln[best + 1];
        memmove(w.st + best + 1, w.st + best + 2, (size_t)(w.m - best - 2) * sizeof *w.st);
        memmove(w.ln + best + 1, w.ln + best + 2, (size_t)(w.m - best - 2) * sizeof *w.ln);
        w.m--;
    }
    for (int32_t i = 0; i < w.m; i++) w.next[i] = i + 1 < w.m ? i + 1 : -1;
    rc = emit_symbols(t, &w, 0, out);
done:
    work_free(&w);
    return rc;
}

/* ---------------------------------------------------------------- GGUF */
static int32_t default_id(int32_t id, int32_t n) { return id < n ? id : -1; }

mm_tokenizer *tok_spm_load_gguf(const mm_gguf *g, const char *what, char *err) {
    mm_gguf_type et;
    int64_t n, k;
    if (mm_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) || et != MM_GGUF_STRING || n <= 0 ||
        n > TOK_MAX_VOCAB) {
        mm_err(err, "%s: tokenizer.ggml.tokens is missing, empty, too large or not a string array", what);
        return NULL;
    }
    const void *scores = NULL, *types = NULL;
    if (mm_gguf_find_key(g, "tokenizer.ggml.scores") >= 0) {
        if (mm_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &k) || et != MM_GGUF_FLOAT32 || k != n ||
            !(scores = mm_gguf_arr_data(g, "tokenizer.ggml.scores"))) {
            mm_err(err, "%s: tokenizer.ggml.scores must be a float32 array with one entry per token", what);
            return NULL;
        }
    }
    if (mm_gguf_find_key(g, "tokenizer.ggml.token_type") >= 0) {
        if (mm_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &k) || et != MM_GGUF_INT32 || k != n ||
            !(types = mm_gguf_arr_data(g, "tokenizer.ggml.token_type"))) {
            mm_err(err, "%s: tokenizer.ggml.token_type must be an int32 array with one entry per token", what);
            return NULL;
        }
    }
    mm_tokenizer *t = NULL;
    const char **texts = calloc((size_t)n, sizeof *texts);
    size_t *tlen = calloc((size_t)n, sizeof *tlen);
    float *sc = scores ? malloc((size_t)n * sizeof *sc) : NULL;
    int32_t *ty = types ? malloc((size_t)n * sizeof *ty) : NULL;
    if (!texts || !tlen || (scores && !sc) || (types && !ty)) {
        mm_err(err, "%s: out of memory", what);
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        if (mm_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &texts[i], &tlen[i])) {
            mm_err(err, "%s: cannot read token %lld", what, (long long)i);
            goto done;
        }
    if (sc) memcpy(sc, scores, (size_t)n * 4); /* little-endian file, aligned or not */
    if (ty) memcpy(ty, types, (size_t)n * 4);
    /* llama.cpp's defaults for "llama": bos 1, eos 2, unk 0, add_bos, add_space_prefix */
    int32_t ids[3] = {default_id(1, (int32_t)n), default_id(2, (int32_t)n), default_id(0, (int32_t)n)};
    static const char *const keys[3] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                        "tokenizer.ggml.unknown_token_id"};
    for (int i = 0; i < 3; i++) {
        uint32_t v;
        if (mm_gguf_get_u32(g, keys[i], &v)) continue;
        if (v >= (uint32_t)n) {
            mm_err(err, "%s: %s %u is out of range (%lld tokens)", what, keys[i], v, (long long)n);
            goto done;
        }
        ids[i] = (int32_t)v;
    }
    tok_spm_build b = {.n = (int32_t)n, .text = texts, .text_len = tlen, .score = sc, .type = ty,
                       .bos = ids[0], .eos = ids[1], .unk = ids[2], .add_bos = true, .add_space_prefix = true};
    mm_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b.add_bos);
    mm_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b.add_eos);
    mm_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b.add_space_prefix);
    t = tok_spm_build_tokenizer(&b, what, err);
    if (t && tok_build_eog(t, g, what, err)) {
        mm_tokenizer_free(t);
        t = NULL;
    }
done:
    free(texts);
    free(tlen);
    free(sc);
    free(ty);
    return t;
}

int tok_spm_write_gguf(const mm_tokenizer *t, mm_gguf_writer *w, char *err) {
    int32_t *types = malloc((size_t)t->n_vocab * sizeof *types);
    if (!types) return mm_err(err, "tokenizer: out of memory");
    for (int32_t i = 0; i < t->n_vocab; i++) types[i] = t->type[i];
    int rc = 0;
    if (mm_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama") ||
        mm_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)t->text, t->n_vocab) ||
        mm_gguf_writer_set_arr(w, "tokenizer.ggml.scores", MM_GGUF_FLOAT32, t->score, t->n_vocab) ||
        mm_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", MM_GGUF_INT32, types, t->n_vocab) ||
        (t->bos >= 0 && mm_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)t->bos)) ||
        (t->eos >= 0 && mm_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)t->eos)) ||
        (t->unk >= 0 && mm_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)t->unk)) ||
        (t->eot >= 0 && mm_gguf_writer_set_u32(w, "tokenizer.ggml.eot_token_id", (uint32_t)t->eot)) ||
        (t->eom >= 0 && mm_gguf_writer_set_u32(w, "tokenizer.ggml.eom_token_id", (uint32_t)t->eom)) ||
        mm_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", t->add_bos) ||
        mm_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", t->add_eos) ||
        mm_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", t->add_space_prefix))
        rc = mm_err(err, "tokenizer: the GGUF writer refused a tokenizer key");
    free(types);
    return rc;
}
