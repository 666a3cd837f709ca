/* bpe.c - byte-level BPE merges, encode, decode, streaming decode.
 *
 * Encoding one pre-token ("word"):
 *   1. a single byte is its byte token;
 *   2. a word that is itself a vocabulary token whose own BPE gives exactly that token (checked for every
 *      token at load time, so this shortcut can never change a result) is that token;
 *   3. a per-call cache of recent words;
 *   4. BPE: words up to SMALL bytes use flat arrays (O(n^2) on tiny n, fastest in practice); longer
 *      words use a doubly linked list + binary heap of candidate pairs keyed (rank, position), with stale
 *      entries skipped: O(n log n); words over 4 KiB use a bucket queue by rank (see bpe_buckets), so a
 *      10 MB word without spaces is fine. Both apply the lowest-rank
 *      pair first and the leftmost on ties, which for a BPE-trained merge list equals GPT-2's "merge every
 *      occurrence of the best pair" (tok_bpe_word_ref below is that original algorithm, for tests).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

#define SMALL 64

int tok_ids_push(tok_ids *a, int32_t id) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        int32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return 0;
}

static inline int32_t pair_rank(const mm_tokenizer *t, int32_t a, int32_t b, int32_t *res) {
    int32_t r = tok_merge_find(t, a, b, res);
    return r < 0 ? INT32_MAX : r;
}

static int bpe_small(const mm_tokenizer *t, const uint8_t *p, size_t n, tok_ids *out) {
    int32_t sym[SMALL], rk[SMALL], res[SMALL];
    size_t m = n;
    for (size_t i = 0; i < n; i++) sym[i] = t->byte_id[p[i]];
    for (size_t i = 0; i + 1 < n; i++) rk[i] = pair_rank(t, sym[i], sym[i + 1], &res[i]);
    while (m > 1) {
        int32_t br = INT32_MAX;
        size_t b = 0;
        for (size_t i = 0; i + 1 < m; i++)
            if (rk[i] < br) { br = rk[i]; b = i; }
        if (br == INT32_MAX) break;
        sym[b] = res[b];
        size_t tail = m - b - 2; /* symbols after b+1 */
        memmove(sym + b + 1, sym + b + 2, tail * sizeof *sym);
        memmove(rk + b + 1, rk + b + 2, (tail ? tail - 1 : 0) * sizeof *rk);
        memmove(res + b + 1, res + b + 2, (tail ? tail - 1 : 0) * sizeof *res);
        m--;
        if (b + 1 < m) rk[b] = pair_rank(t, sym[b], sym[b + 1], &res[b]);
        if (b > 0) rk[b - 1] = pair_rank(t, sym[b - 1], sym[b], &res[b - 1]);
    }
    for (size_t i = 0; i < m; i++)
        if (tok_ids_push(out, sym[i])) return -1;
    return 0;
}

typedef struct {
    int32_t rank, pos, a, b;
} heap_ent;

static inline bool ent_less(const heap_ent *x, const heap_ent *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}

static void heap_push(heap_ent *h, size_t *n, heap_ent e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!ent_less(&e, &h[up])) break;
        h[i] = h[up];
        i = up;
    }
    h[i] = e;
}

static heap_ent heap_pop(heap_ent *h, size_t *n) {
    heap_ent top = h[0], last = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && ent_less(&h[c + 1], &h[c])) c++;
        if (!ent_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = last;
    return top;
}

static int bpe_heap(const mm_tokenizer *t, const uint8_t *p, size_t n, tok_ids *out) {
    if (n > (size_t)INT32_MAX / 4) return -1;
    int32_t *sym = malloc(n * sizeof *sym), *prev = malloc(n * sizeof *prev), *next = malloc(n * sizeof *next);
    /* every merge adds at most 2 entries: n - 1 initial + 2 (n - 1) */
    heap_ent *h = malloc(3 * n * sizeof *h);
    int rc = -1;
    if (!sym || !prev || !next || !h) goto done;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        sym[i] = t->byte_id[p[i]];
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t res, r = tok_merge_find(t, sym[i], sym[i + 1], &res);
        if (r >= 0) heap_push(h, &hn, (heap_ent){r, (int32_t)i, sym[i], sym[i + 1]});
    }
    while (hn) {
        heap_ent e = heap_pop(h, &hn);
        int32_t i = e.pos, j = next[i];
        if (j < 0 || sym[i] != e.a || sym[j] != e.b) continue; /* stale */
        int32_t res = -1;
        if (tok_merge_find(t, e.a, e.b, &res) != e.rank) continue;
        sym[i] = res;
        int32_t k = next[j];
        next[i] = k;
        if (k >= 0) prev[k] = i;
        sym[j] = -1;
        int32_t r, res2;
        if (prev[i] >= 0 && (r = tok_merge_find(t, sym[prev[i]], sym[i], &res2)) >= 0)
            heap_push(h, &hn, (heap_ent){r, prev[i], sym[prev[i]], sym[i]});
        if (k >= 0 && (r = tok_merge_find(t, sym[i], sym[k], &res2)) >= 0)
            heap_push(h, &hn, (heap_ent){r, i, sym[i], sym[k]});
    }
    for (int32_t i = 0; i >= 0; i = next[i])
        if (tok_ids_push(out, sym[i])) goto done;
    rc = 0;
done:
    free(sym);
    free(prev);
    free(next);
    free(h);
    return rc;
}

/* Huge words: a bucket queue indexed by rank instead of a heap. Each bucket is a singly linked list of
 * candidate positions (stale ones are skipped when popped); a bucket is sorted by position when its turn
 * comes, so occurrences of the best pair are merged left to right. A merge only creates pairs of other
 * (for a trained merge list: higher) ranks; if a lower one appears anyway the scan steps back to it.
 * Memory ~ 20 bytes per input byte, time ~ O(n + n_merges) plus the per-bucket sorts. */
static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int bpe_buckets(const mm_tokenizer *t, const uint8_t *p, size_t n, tok_ids *out) {
    if (n > (size_t)INT32_MAX / 4) return -1;
    size_t nr = (size_t)t->n_merges, ecap = 2 * n, en = 0;
    int32_t *sym = malloc(n * sizeof *sym), *prev = malloc(n * sizeof *prev), *next = malloc(n * sizeof *next);
    int32_t *head = malloc((nr + 1) * sizeof *head);
    int32_t *e_pos = malloc(ecap * sizeof *e_pos), *e_link = malloc(ecap * sizeof *e_link);
    int32_t *batch = NULL;
    size_t bcap = 0;
    int rc = -1;
    if (!sym || !prev || !next || !head || !e_pos || !e_link) goto done;
    memset(head, 0xff, (nr + 1) * sizeof *head);
    size_t cur = nr; /* lowest bucket that may be non-empty */
#define PUSH(pos, rank)                                                                    \
    do {                                                                                   \
        if (en == ecap) {                                                                  \
            size_t nc = ecap * 2;                                                          \
            int32_t *a = realloc(e_pos, nc * sizeof *a);                                   \
            if (!a) goto done;                                                             \
            e_pos = a;                                                                     \
            a = realloc(e_link, nc * sizeof *a);                                           \
            if (!a) goto done;                                                             \
            e_link = a;                                                                    \
            ecap = nc;                                                                     \
        }                                                                                  \
        e_pos[en] = (pos);                                                                 \
        e_link[en] = head[(rank)];                                                         \
        head[(rank)] = (int32_t)en++;                                                      \
        if ((size_t)(rank) < cur) cur = (size_t)(rank);                                    \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        sym[i] = t->byte_id[p[i]];
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t res, r = tok_merge_find(t, sym[i], sym[i + 1], &res);
        if (r >= 0) PUSH((int32_t)i, r);
    }
    while (cur < nr) {
        if (head[cur] < 0) { cur++; continue; }
        int32_t r = (int32_t)cur;
        size_t nb = 0;
        for (int32_t e = head[cur]; e >= 0; e = e_link[e]) {
            if (nb == bcap) {
                bcap = bcap ? 2 * bcap : 256;
                int32_t *a = realloc(batch, bcap * sizeof *a);
                if (!a) goto done;
                batch = a;
            }
            batch[nb++] = e_pos[e];
        }
        head[cur] = -1;
        /* entries were prepended, so a bucket filled left to right comes out descending */
        bool desc = true, asc = true;
        for (size_t k = 1; k < nb && (desc || asc); k++) {
            if (batch[k] > batch[k - 1]) desc = false;
            if (batch[k] < batch[k - 1]) asc = false;
        }
        if (desc)
            for (size_t a = 0, b = nb ? nb - 1 : 0; a < b; a++, b--) {
                int32_t x = batch[a];
                batch[a] = batch[b];
                batch[b] = x;
            }
        else if (!asc)
            qsort(batch, nb, sizeof *batch, cmp_i32);
        for (size_t k = 0; k < nb; k++) {
            int32_t i = batch[k], j = next[i];
            if (sym[i] < 0 || j < 0) continue;
            int32_t res = -1;
            if (tok_merge_find(t, sym[i], sym[j], &res) != r) continue; /* stale */
            sym[i] = res;
            int32_t q = next[j];
            next[i] = q;
            if (q >= 0) prev[q] = i;
            sym[j] = -1;
            int32_t r2, res2;
            if (prev[i] >= 0 && (r2 = tok_merge_find(t, sym[prev[i]], sym[i], &res2)) >= 0) PUSH(prev[i], r2);
            if (q >= 0 && (r2 = tok_merge_find(t, sym[i], sym[q], &res2)) >= 0) PUSH(i, r2);
        }
#undef PUSH
    }
    for (int32_t i = 0; i >= 0; i = next[i])
        if (tok_ids_push(out, sym[i])) goto done;
    rc = 0;
done:
    free(sym);
    free(prev);
    free(next);
    free(head);
    free(e_pos);
    free(e_link);
    free(batch);
    return rc;
}

int tok_bpe_word(const mm_tokenizer *t, const uint8_t *p, size_t n, tok_ids *out) {
    if (n == 0) return 0;
    if (n <= SMALL) return bpe_small(t, p, n, out);
    if (n <= 4096) return bpe_heap(t, p, n, out);
    return bpe_buckets(t, p, n, out);
}

int tok_bpe_word_ref(const mm_tokenizer *t, const uint8_t *p, size_t n, tok_ids *out) {
    int32_t *w = malloc((n + 1) * sizeof *w), *nw = malloc((n + 1) * sizeof *nw);
    if (!w || !nw) { free(w); free(nw); return -1; }
    size_t m = n;
    for (size_t i = 0; i < n; i++) w[i] = t->byte_id[p[i]];
    for (;;) {
        int32_t best = INT32_MAX, a = -1, b = -1, res = -1;
        for (size_t i = 0; i + 1 < m; i++) {
            int32_t rr, r = tok_merge_find(t, w[i], w[i + 1], &rr);
            if (r >= 0 && r < best) { best = r; a = w[i]; b = w[i + 1]; res = rr; }
        }
        if (best == INT32_MAX) break;
        size_t k = 0;
        for (size_t i = 0; i < m;) {
            if (i + 1 < m && w[i] == a && w[i + 1] == b) { nw[k++] = res; i += 2; }
            else nw[k++] = w[i++];
        }
        int32_t *tmp = w; w = nw; nw = tmp;
        m = k;
    }
    int rc = 0;
    for (size_t i = 0; i < m && !rc; i++) rc = tok_ids_push(out, w[i]);
    free(w);
    free(nw);
    return rc;
}

/* ---------------------------------------------------------------- encode */
#define CACHE_SLOTS 4096
#define CACHE_IDS   6
typedef struct {
    const uint8_t *key;   /* points into the caller's text (valid during the call) */
    uint32_t       len;
    uint32_t       n;
    int32_t        ids[CACHE_IDS];
} cache_ent;

typedef struct {
    const mm_tokenizer *t;
    int32_t  *ids;
    int64_t   max, n;
    tok_ids   tmp;
    cache_ent *cache;     /* [CACHE_SLOTS], allocated on first miss of a long text */
    bool      use_cache;
    bool      grow, oom;  /* grow: ids is malloc'd and doubles when full (encode_alloc) */
} enc_ctx;

static void grow(enc_ctx *c) {
    if (!c->grow || c->oom) return;
    int64_t cap = c->max ? 2 * c->max : 256;
    int32_t *v = realloc(c->ids, (size_t)cap * sizeof *v);
    if (!v) { c->oom = true; return; }
    c->ids = v;
    c->max = cap;
}

static inline void emit(enc_ctx *c, int32_t id) {
    if (c->n >= c->max) grow(c);
    if (c->n < c->max) c->ids[c->n] = id;
    c->n++;
}

static int on_piece(void *vctx, const uint8_t *p, size_t n) {
    enc_ctx *c = vctx;
    const mm_tokenizer *t = c->t;
    if (c->oom) return -1;
    if (n == 1) {
        emit(c, t->byte_id[p[0]]);
        return 0;
    }
    uint64_t h = tok_hash(p, n);
    uint32_t i = (uint32_t)h & t->vh_mask;
    for (;;) {
        int32_t id = t->vh[i];
        if (id < 0) break;
        if (t->piece_len[id] == n && !memcmp(t->piece[id], p, n)) {
            if (t->whole_ok[id] || t->ignore_merges) {
                emit(c, id);
                return 0;
            }
            break;
        }
        i = (i + 1) & t->vh_mask;
    }
    cache_ent *ce = NULL;
    if (c->use_cache && n <= 256) {
        if (!c->cache) {
            c->cache = calloc(CACHE_SLOTS, sizeof *c->cache);
            if (!c->cache) c->use_cache = false;
        }
        if (c->cache) {
            ce = &c->cache[(h >> 40) & (CACHE_SLOTS - 1)];
            if (ce->key && ce->len == n && !memcmp(ce->key, p, n)) {
                for (uint32_t k = 0; k < ce->n; k++) emit(c, ce->ids[k]);
                return 0;
            }
        }
    }
    c->tmp.n = 0;
    if (tok_bpe_word(t, p, n, &c->tmp)) return -1;
    for (size_t k = 0; k < c->tmp.n; k++) emit(c, c->tmp.v[k]);
    if (ce && c->tmp.n <= CACHE_IDS) {
        ce->key = p;
        ce->len = (uint32_t)n;
        ce->n = (uint32_t)c->tmp.n;
        memcpy(ce->ids, c->tmp.v, c->tmp.n * sizeof *ce->ids);
    }
    return 0;
}

/* one fragment of text without special tokens: pre-tokenizer + BPE, or SentencePiece (spm.c) */
static int encode_text(enc_ctx *c, const uint8_t *s, size_t n) {
    if (c->t->kind != TOK_KIND_SPM) return tok_pretokenize(c->t, s, n, on_piece, c);
    c->tmp.n = 0;
    if (tok_spm_encode(c->t, s, n, &c->tmp)) return -1;
    for (size_t k = 0; k < c->tmp.n; k++) emit(c, c->tmp.v[k]);
    return 0;
}

static int encode_run(enc_ctx *cp, const char *text, size_t len, bool allow_special) {
    enc_ctx c = *cp;
    const mm_tokenizer *t = c.t;
    c.use_cache = len >= 4096;
    const uint8_t *s = (const uint8_t *)text;
    if (!s) len = 0;
    int rc = 0;
    if (allow_special && t->n_special) {
        size_t seg = 0;
        for (size_t i = 0; i < len && !rc;) {
            if (!t->special_first[s[i]]) { i++; continue; }
            int32_t hit = -1;
            for (int32_t k = 0; k < t->n_special; k++) {
                int32_t id = t->special[k];
                size_t pl = t->text_len[id];
                if (pl <= len - i && !memcmp(s + i, t->text[id], pl)) { hit = id; break; }
            }
            if (hit < 0) { i++; continue; }
            rc = encode_text(&c, s + seg, i - seg);
            emit(&c, hit);
            i += t->text_len[hit];
            seg = i;
        }
        if (!rc && seg < len) rc = encode_text(&c, s + seg, len - seg);
    } else {
        rc = encode_text(&c, s, len);
    }
    free(c.tmp.v);
    free(c.cache);
    c.tmp.v = NULL;
    c.cache = NULL;
    *cp = c;
    return rc || c.oom ? -1 : 0;
}

int64_t mm_tokenizer_encode(const mm_tokenizer *t, const char *text, size_t len, bool allow_special,
                            int32_t *ids, int64_t max_ids, char *err) {
    enc_ctx c = {.t = t, .ids = ids, .max = ids ? (max_ids > 0 ? max_ids : 0) : 0};
    if (encode_run(&c, text, len, allow_special)) return mm_err(err, "%s: out of memory", __func__);
    return c.n;
}

int mm_tokenizer_encode_alloc(const mm_tokenizer *t, const char *text, size_t len, bool allow_special,
                              int32_t **ids, int64_t *n_ids, char *err) {
    *ids = NULL;
    *n_ids = 0;
    /* GPT-2 averages ~4 bytes per token: start there, double when full */
    enc_ctx c = {.t = t, .grow = true, .max = (int64_t)(len / 4) + 16};
    c.ids = malloc((size_t)c.max * sizeof *c.ids);
    if (!c.ids || encode_run(&c, text, len, allow_special)) {
        free(c.ids);
        return mm_err(err, "%s: out of memory", __func__);
    }
    *ids = c.ids;
    *n_ids = c.n;
    return 0;
}

/* ---------------------------------------------------------------- decode */
int64_t mm_tokenizer_decode(const mm_tokenizer *t, const int32_t *ids, int64_t n_ids,
                            char *out, size_t out_size, char *err) {
    size_t o = 0;
    for (int64_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_vocab)
            return mm_err(err, "%s: token id %d out of range (vocabulary has %d)", __func__, (int)id,
                          (int)t->n_vocab);
        size_t pl = t->piece_len[id];
        if (o < out_size) memcpy(out + o, t->piece[id], pl <= out_size - o ? pl : out_size - o);
        o += pl;
    }
    if (o < out_size) out[o] = 0;
    return (int64_t)o;
}

int mm_tokenizer_decode_alloc(const mm_tokenizer *t, const int32_t *ids, int64_t n_ids,
                              char **out, size_t *len, char *err) {
    *out = NULL;
    int64_t n = mm_tokenizer_decode(t, ids, n_ids, NULL, 0, err);
    if (n < 0) return -1;
    char *buf = malloc((size_t)n + 1);
    if (!buf) return mm_err(err, "%s: out of memory", __func__);
    mm_tokenizer_decode(t, ids, n_ids, buf, (size_t)n + 1, err);
    *out = buf;
    if (len) *len = (size_t)n;
    return 0;
}

/* ---------------------------------------------------------------- streaming decode */
struct mm_tokenizer_stream {
    const mm_tokenizer *t;
    uint8_t  held[4];  /* the start of a character that a later token may complete (0..3 bytes) */
    size_t   n_held;
    char    *in;       /* [3 + longest piece] held bytes + the new piece */
    char    *buf;      /* [3 * (3 + longest piece) + 1] the valid UTF-8 handed out (each ill-formed
                          byte may become the 3 bytes of U+FFFD) */
};

mm_tokenizer_stream *mm_tokenizer_stream_create(const mm_tokenizer *t, char *err) {
    size_t max_pl = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->piece_len[i] > max_pl) max_pl = t->piece_len[i];
    mm_tokenizer_stream *s = calloc(1, sizeof *s);
    if (!s || !(s->in = malloc(max_pl + 4)) || !(s->buf = malloc(3 * (max_pl + 3) + 1))) {
        mm_tokenizer_stream_free(s);
        mm_err(err, "%s: out of memory", __func__);
        return NULL;
    }
    s->t = t;
    s->buf[0] = 0;
    return s;
}

void mm_tokenizer_stream_free(mm_tokenizer_stream *s) {
    if (!s) return;
    free(s->in);
    free(s->buf);
    free(s);
}

void mm_tokenizer_stream_reset(mm_tokenizer_stream *s) { s->n_held = 0; }

size_t mm_tokenizer_stream_pending(const mm_tokenizer_stream *s) { return s->n_held; }

int mm_tokenizer_stream_push(mm_tokenizer_stream *s, int32_t id, const char **out, size_t *len, char *err) {
    *out = s->buf;
    *len = 0;
    if (id < 0 || id >= s->t->n_vocab)
        return mm_err(err, "%s: token id %d out of range (vocabulary has %d)", __func__, (int)id,
                      (int)s->t->n_vocab);
    size_t pl = s->t->piece_len[id], total = s->n_held + pl; /* buffers sized at creation: no allocation */
    memcpy(s->in, s->held, s->n_held);
    memcpy(s->in + s->n_held, s->t->piece[id], pl);
    /* keep back a character start that the bytes so far leave incomplete */
    size_t keep = 0;
    for (size_t back = 1; back <= 3 && back <= total; back++) {
        if (((uint8_t)s->in[total - back] & 0xC0) == 0x80) continue; /* continuation: find its lead */
        if (mm_utf8_next(s->in + total - back, back) == 0) keep = back; /* later bytes may complete it */
        break;
    }
    memcpy(s->held, s->in + total - keep, keep);
    s->n_held = keep;
    *len = mm_utf8_sanitize_into(s->in, total - keep, s->buf);
    *out = s->buf;
    return 0;
}

void mm_tokenizer_stream_flush(mm_tokenizer_stream *s, const char **out, size_t *len) {
    /* held bytes are an incomplete character: one U+FFFD (a maximal subpart) */
    static const char none[] = "", fffd[] = MM_UTF8_REPLACEMENT;
    *out = s->n_held ? fffd : none;
    *len = s->n_held ? 3 : 0;
    s->n_held = 0;
}
