/* conversation.c - one conversation over one KV cache: the record of the cached positions, the pending
 * turn, the system prompt, prefix matching (see conversation.h). */
#include "conversation.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- content hash */
/* splitmix64's output function: a bijection of 64-bit words with full avalanche. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Two 64-bit lanes absorb the 8-byte words (the last one zero-padded) in different ways, each word
 * through mix64; the byte count closes both. */
static void hash_absorb(mm_conv_hash *h, uint64_t w) {
    h->lo = mix64(h->lo ^ w);
    h->hi = mix64(h->hi + (w ^ 0x9e3779b97f4a7c15ULL)) ^ (h->lo >> 17);
}

mm_conv_hash mm_conv_hash_bytes(const void *data, size_t n) {
    const unsigned char *p = data;
    mm_conv_hash         h = {0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL};
    size_t               i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        hash_absorb(&h, w);
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, p + i, n - i);
        hash_absorb(&h, w);
    }
    hash_absorb(&h, (uint64_t)n);
    h.lo = mix64(h.lo ^ h.hi);
    h.hi = mix64(h.hi + h.lo);
    return h;
}

mm_conv_hash mm_conv_hash_rows(const float *rows, int64_t n_rows, int64_t d) {
    size_t       n = n_rows > 0 && d > 0 && rows ? (size_t)n_rows * (size_t)d * sizeof(float) : 0;
    mm_conv_hash h = mm_conv_hash_bytes(rows, n);
    hash_absorb(&h, (uint64_t)n_rows);
    hash_absorb(&h, (uint64_t)d);
    return h;
}

bool mm_conv_pos_equal(const mm_conv_pos *a, const mm_conv_pos *b) {
    if (a->token != b->token) return false;
    return a->token >= 0 || (a->row == b->row && a->media.lo == b->media.lo && a->media.hi == b->media.hi);
}

/* ---------------------------------------------------------------- sequences */
static int seq_reserve(mm_conv_seq *s, int64_t extra) {
    if (s->n + extra <= s->cap) return 0;
    int64_t cap = s->cap ? s->cap : 256;
    while (cap < s->n + extra) cap *= 2;
    mm_conv_pos *np = realloc(s->pos, (size_t)cap * sizeof *np);
    if (!np) return -1;
    s->pos = np;
    mm_gpt_input *ni = realloc(s->in, (size_t)cap * sizeof *ni);
    if (!ni) return -1;
    s->in = ni;
    s->cap = cap;
    return 0;
}

int mm_conv_seq_push_token(mm_conv_seq *s, int32_t token) {
    if (seq_reserve(s, 1)) return -1;
    s->pos[s->n] = (mm_conv_pos){.token = token, .row = 0, .media = {0, 0}};
    s->in[s->n] = (mm_gpt_input){.token = token, .embd = NULL};
    s->n++;
    return 0;
}

int mm_conv_seq_push_rows(mm_conv_seq *s, const mm_conv_media *md, int64_t row0, int64_t n) {
    if (row0 < 0 || n < 0 || row0 > md->n_rows - n || seq_reserve(s, n)) return -1;
    for (int64_t r = row0; r < row0 + n; r++) {
        s->pos[s->n] = (mm_conv_pos){.token = -1, .row = r, .media = md->hash};
        s->in[s->n] = (mm_gpt_input){.token = 0, .embd = md->rows + r * md->d};
        s->n++;
    }
    s->n_media_rows += n;
    return 0;
}

void mm_conv_seq_free(mm_conv_seq *s) {
    free(s->pos);
    free(s->in);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- the conversation */
static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char  *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

typedef enum { PART_PROMPT, PART_LITERAL, PART_MEDIA } part_kind;

typedef struct {
    part_kind     kind;
    char         *text;     /* PART_PROMPT / PART_LITERAL (owned) */
    mm_conv_media media;    /* PART_MEDIA */
    void         *owner;    /* PART_MEDIA: released with the turn (NULL = borrowed) */
    void        (*release)(void *);
} part;

struct mm_conv {
    mm_conv_params p;
    int64_t        n_ctx;
    /* the record: what each KV-cache position holds */
    mm_conv_pos   *cache;      /* [n_ctx] */
    int64_t        n_past;
    /* the conversation */
    bool           fresh;      /* the next turn starts a new conversation at position 0 (after clear) */
    bool           replay;     /* after clear, until a turn differs from the record: the conversation so far
                                  is the record's [0, n_keep); the positions after it are the previous
                                  conversation's, still matched turn after turn (prefix cache over turns) */
    int64_t        n_keep;
    int32_t       *close;      /* [n_close] the template's answer_close as tokens ([eos] for mmgpt) */
    int            n_close;
    int32_t       *carry;      /* [n_close + 1] tokens that close the previous answer, evaluated before the
                                  next turn */
    int            n_carry;
    char          *system;     /* with system_set: the caller's (NULL = none given) */
    bool           system_set;
    /* the pending turn */
    part          *parts;
    int            n_parts, cap_parts, n_media;
    int32_t        lead;       /* a token in front of the turn (mm_conv_add_lead_token), -1 = none */
    /* a turn's last position left to the caller (mm_conv_eval_turn_defer): not in the record nor the cache yet */
    bool           has_def;
    mm_conv_pos    def;
    void         (*between)(void *user); /* mm_conv_set_between */
    void          *between_user;
};

static int fail(int code, char *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(int code, char *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, MM_ERR_SIZE, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* The text and special segments of pr as tokens into s (media segments: rows of media[k]); 0 or a status. */
static int push_segs(const mm_conv *c, const mm_prompt *pr, const mm_conv_media *const *media, mm_conv_seq *s,
                     char *err) {
    char e[MM_ERR_SIZE];
    bool oom = false;
    for (int i = 0; i < pr->n_segs && !oom; i++) {
        const mm_prompt_seg *sg = &pr->segs[i];
        if (sg->kind == MM_SEG_MEDIA) {
            const mm_conv_media *md = media ? media[sg->media] : NULL;
            if (!md) oom = true;
            else if (!md->layout) oom = mm_conv_seq_push_rows(s, md, 0, md->n_rows) != 0;
            else /* tiles: marker tokens between row runs */
                for (int k = 0, r = 0; k < md->n_layout && !oom; k++) {
                    const mm_conv_piece *pc = &md->layout[k];
                    if (pc->token >= 0) oom = mm_conv_seq_push_token(s, pc->token) != 0;
                    else if (r + (int64_t)pc->n_rows > md->n_rows) return fail(MMGPT_ERR_INTERNAL, err, "media layout past its rows");
                    else {
                        oom = mm_conv_seq_push_rows(s, md, r, pc->n_rows) != 0;
                        r += pc->n_rows;
                    }
                }
            continue;
        }
        if (sg->kind == MM_SEG_SPECIAL) {
            oom = mm_conv_seq_push_token(s, sg->token) != 0;
            continue;
        }
        int32_t *ids = NULL;
        int64_t  n = 0;
        if (c->p.tokenize(c->p.tok_user, sg->text, strlen(sg->text), &ids, &n, e))
            return fail(MMGPT_ERR_INTERNAL, err, "%s", e);
        for (int64_t j = 0; j < n && !oom; j++) oom = mm_conv_seq_push_token(s, ids[j]) != 0;
        free(ids);
    }
    return oom ? fail(MMGPT_ERR_INTERNAL, err, "out of memory") : MMGPT_OK;
}

static int push_template_text(const mm_conv *c, const char *text, mm_conv_seq *s, char *err) {
    mm_prompt pr;
    char      e[MM_ERR_SIZE];
    if (mm_prompt_template_text(c->p.tpl, text, &pr, e)) return fail(MMGPT_ERR_INTERNAL, err, "%s", e);
    int rc = push_segs(c, &pr, NULL, s, err);
    mm_prompt_free(&pr);
    return rc;
}

/* Tokens of the template's answer_close (its special tokens as ids, the rest through the tokenizer), or
 * the eos token when the template has none (mmgpt); with room for the last sampled token in the carry. */
static int close_tokens(mm_conv *c, char *err) {
    mm_conv_seq s = {0};
    int         rc = 0;
    if (!c->p.tpl->answer_close) {
        if (c->p.eos >= 0) rc = mm_conv_seq_push_token(&s, c->p.eos) ? mm_err(err, "out of memory") : 0;
    } else {
        rc = push_template_text(c, c->p.tpl->answer_close, &s, err);
    }
    if (!rc && s.n > 64) rc = mm_err(err, "conversation: the answer close takes %lld tokens (64 at most)", (long long)s.n);
    if (!rc && (!(c->close = malloc((size_t)(s.n + 1) * sizeof *c->close)) ||
                !(c->carry = malloc((size_t)(s.n + 1) * sizeof *c->carry))))
        rc = mm_err(err, "out of memory");
    for (int64_t i = 0; !rc && i < s.n; i++) c->close[i] = s.pos[i].token;
    if (!rc) c->n_close = (int)s.n;
    mm_conv_seq_free(&s);
    return rc;
}

mm_conv *mm_conv_create(const mm_conv_params *p, char *err) {
    if (!p || !p->tpl || !p->tokenize) {
        mm_err(err, "conversation: missing template or tokenizer");
        return NULL;
    }
    int64_t n_ctx = p->st ? mm_gpt_state_n_ctx(p->st) : p->n_ctx;
    if (n_ctx < 1) {
        mm_err(err, "conversation: context of %lld positions", (long long)n_ctx);
        return NULL;
    }
    mm_conv *c = calloc(1, sizeof *c);
    if (!c || !(c->cache = malloc((size_t)n_ctx * sizeof *c->cache))) {
        free(c);
        mm_err(err, "out of memory");
        return NULL;
    }
    c->p = *p;
    c->lead = -1;
    c->n_ctx = n_ctx;
    c->n_past = p->st ? mm_gpt_state_n_past(p->st) : 0;
    if (c->n_past) {
        mm_conv_free(c);
        mm_err(err, "conversation: the decoder state is not empty");
        return NULL;
    }
    if (close_tokens(c, err)) {
        mm_conv_free(c);
        return NULL;
    }
    return c;
}

void mm_conv_set_between(mm_conv *c, void (*fn)(void *user), void *user) {
    c->between = fn;
    c->between_user = user;
}

/* Evaluate in[0..n) at the state's n_past (logits of every position into la [n, n_vocab] when not NULL): in
 * pieces of n_batch with c->between called between them, or at once. On failure the state is cut back to
 * where it was. */
static int eval_pieces(mm_conv *c, const mm_gpt_input *in, int64_t n, float *la, char *err) {
    mm_gpt_state *st = c->p.st;
    const int64_t n0 = mm_gpt_state_n_past(st), nb = c->between ? mm_gpt_state_n_batch(st) : n;
    const int64_t nv = mm_gpt_model_n_vocab(mm_gpt_state_model(st));
    char          e[MM_ERR_SIZE];
    for (int64_t c0 = 0; c0 < n; c0 += nb) {
        if (c0 > 0) c->between(c->between_user);
        const int rc = mm_gpt_eval(st, in + c0, n - c0 < nb ? n - c0 : nb, la ? la + c0 * nv : NULL, err);
        if (rc) {
            if (c0 > 0) mm_gpt_state_truncate(st, n0, e);
            return rc;
        }
    }
    return 0;
}

void mm_conv_free(mm_conv *c) {
    if (!c) return;
    mm_conv_drop_pending(c);
    free(c->parts);
    free(c->system);
    free(c->cache);
    free(c->close);
    free(c->carry);
    free(c);
}

int64_t            mm_conv_n_ctx(const mm_conv *c) { return c->n_ctx; }
int64_t            mm_conv_n_past(const mm_conv *c) { return c->n_past; }
const mm_conv_pos *mm_conv_cached(const mm_conv *c) { return c->cache; }

int mm_conv_set_system(mm_conv *c, const char *system, char *err) {
    char *s = NULL;
    if (system && !(s = dup_str(system))) return fail(MMGPT_ERR_INTERNAL, err, "out of memory");
    free(c->system);
    c->system = s;
    c->system_set = system != NULL;
    return MMGPT_OK;
}

void mm_conv_drop_pending(mm_conv *c) {
    for (int i = 0; i < c->n_parts; i++) {
        part *pt = &c->parts[i];
        free(pt->text);
        if (pt->owner && pt->release) pt->release(pt->owner);
    }
    c->n_parts = 0;
    c->n_media = 0;
    c->lead = -1;
}

int mm_conv_add_lead_token(mm_conv *c, int32_t token, char *err) {
    if (token < 0) return fail(MMGPT_ERR_USAGE, err, "conversation: token %d is not a token id", (int)token);
    c->lead = token;
    return MMGPT_OK;
}

void mm_conv_clear(mm_conv *c) {
    mm_conv_drop_pending(c);
    c->has_def = false;
    c->n_carry = 0;
    c->fresh = true; /* the record stays, as a prefix cache for the next conversation */
    c->replay = true;
    c->n_keep = 0;
}

void mm_conv_reset(mm_conv *c) {
    mm_conv_clear(c);
    if (c->p.st) mm_gpt_state_reset(c->p.st);
    c->n_past = 0;
    c->fresh = false;
    c->replay = false;
}

static part *new_part(mm_conv *c) {
    if (c->n_parts == c->cap_parts) {
        int   cap = c->cap_parts ? 2 * c->cap_parts : 8;
        part *np = realloc(c->parts, (size_t)cap * sizeof *np);
        if (!np) return NULL;
        c->parts = np;
        c->cap_parts = cap;
    }
    part *pt = &c->parts[c->n_parts];
    memset(pt, 0, sizeof *pt);
    return pt;
}

int mm_conv_add_text(mm_conv *c, const char *text, bool literal, char *err) {
    if (!text) return MMGPT_OK;
    part *pt = new_part(c);
    char *s = pt ? dup_str(text) : NULL;
    if (!s) return fail(MMGPT_ERR_INTERNAL, err, "out of memory");
    pt->kind = literal ? PART_LITERAL : PART_PROMPT;
    pt->text = s;
    c->n_parts++;
    return MMGPT_OK;
}

int mm_conv_add_media(mm_conv *c, const mm_conv_media *md, void *owner, void (*release)(void *), char *err) {
    part *pt = new_part(c);
    if (!pt) {
        if (owner && release) release(owner);
        return fail(MMGPT_ERR_INTERNAL, err, "out of memory");
    }
    pt->kind = PART_MEDIA;
    pt->media = *md;
    pt->owner = owner;
    pt->release = release;
    c->n_parts++;
    c->n_media++;
    return MMGPT_OK;
}

/* ---------------------------------------------------------------- turn assembly */
/* The turn starts a conversation: after clear, or on an empty cache with no answer to close. */
static bool at_start(const mm_conv *c) { return c->fresh || (c->n_past == 0 && c->n_carry == 0); }

int mm_conv_build(const mm_conv *c, bool raw, mm_conv_seq *s, char *err) {
    memset(s, 0, sizeof *s);
    bool        start = at_start(c);
    const char *system = NULL;
    if (!raw && !c->p.tpl->chat_name)
        return fail(MMGPT_ERR_MODEL, err, "%s", c->p.tpl->chat_error ? c->p.tpl->chat_error : "unknown chat template");
    if (!raw && start) system = c->system_set ? c->system : c->p.tpl->default_system;

    /* the template's view: text parts in order, media kinds in order */
    int                  n_text = c->n_parts - c->n_media;
    mm_prompt_part      *tp = malloc((size_t)(n_text > 0 ? n_text : 1) * sizeof *tp);
    mmgpt_media_kind       *kinds = malloc((size_t)(c->n_media > 0 ? c->n_media : 1) * sizeof *kinds);
    const mm_conv_media **media = malloc((size_t)(c->n_media > 0 ? c->n_media : 1) * sizeof *media);
    if (!tp || !kinds || !media) {
        free(tp);
        free(kinds);
        free(media);
        return fail(MMGPT_ERR_INTERNAL, err, "out of memory");
    }
    int it = 0, im = 0;
    for (int i = 0; i < c->n_parts; i++) {
        const part *pt = &c->parts[i];
        if (pt->kind == PART_MEDIA) {
            kinds[im] = pt->media.kind;
            media[im++] = &pt->media;
        } else {
            tp[it++] = (mm_prompt_part){.text = pt->text, .literal = pt->kind == PART_LITERAL};
        }
    }
    mm_prompt pr;
    char      e[MM_ERR_SIZE];
    int       rc = mm_prompt_build_turn(c->p.tpl, start, system, tp, it, kinds, im, raw, &pr, e);
    free(tp);
    free(kinds);
    if (rc) {
        free(media);
        return fail(MMGPT_ERR_USAGE, err, "%s", e);
    }

    bool oom = false;
    for (int i = 0; i < c->n_carry; i++) oom |= mm_conv_seq_push_token(s, c->carry[i]) != 0;
    /* BOS at the start of a conversation, unless the template text starts with it */
    bool has_bos = pr.n_segs > 0 && pr.segs[0].kind == MM_SEG_SPECIAL && pr.segs[0].token == c->p.bos;
    if (start && c->p.bos >= 0 && !has_bos) oom |= mm_conv_seq_push_token(s, c->p.bos) != 0;
    /* the lead token, unless the turn starts with it already (BOS) */
    if (c->lead >= 0 && !(s->n > c->n_carry && s->pos[s->n - 1].token == c->lead))
        oom |= mm_conv_seq_push_token(s, c->lead) != 0;
    /* raw: a system prompt that was set is plain text in front of the turn, tokenized on its own */
    if (!oom && raw && start && c->system_set && c->system && *c->system) {
        int32_t *ids = NULL;
        int64_t  n = 0;
        if (c->p.tokenize(c->p.tok_user, c->system, strlen(c->system), &ids, &n, e)) {
            mm_prompt_free(&pr);
            free(media);
            mm_conv_seq_free(s);
            return fail(MMGPT_ERR_INTERNAL, err, "%s", e);
        }
        for (int64_t j = 0; j < n && !oom; j++) oom = mm_conv_seq_push_token(s, ids[j]) != 0;
        free(ids);
    }
    rc = oom ? fail(MMGPT_ERR_INTERNAL, err, "out of memory") : push_segs(c, &pr, media, s, err);
    mm_prompt_free(&pr);
    free(media);
    if (rc) mm_conv_seq_free(s);
    return rc;
}

/* ---------------------------------------------------------------- prefix matching */
/* Positions of the conversation so far: while replaying, the matched part of the record. */
static int64_t conv_len(const mm_conv *c) { return c->replay ? c->n_keep : c->n_past; }

typedef struct {
    int64_t keep;  /* cache positions kept (the cache is truncated to them) */
    int64_t off;   /* leading positions of the turn taken from the cache */
} plan;

static int make_plan(const mm_conv *c, const mm_conv_seq *s, bool reuse, bool defer, int64_t need_room, plan *pl,
                     char *err) {
    if (s->n == 0) return fail(MMGPT_ERR_USAGE, err, "nothing to evaluate: add text or media first");
    int64_t off = 0, base = conv_len(c);
    if (c->replay && reuse) {
        while (off < s->n && base + off < c->n_past && mm_conv_pos_equal(&c->cache[base + off], &s->pos[off])) off++;
        if (off == s->n && !defer) off--; /* the last position is evaluated again: its logits are needed */
    }
    pl->off = off;
    pl->keep = base + off;
    if (pl->keep + (s->n - off) + need_room <= c->n_ctx) return MMGPT_OK;
    const char *room = need_room ? " (one more is needed for the answer)" : "";
    if (pl->keep > off)
        return fail(MMGPT_ERR_CONTEXT, err,
                    "the prompt takes %lld positions (%lld of them media) but only %lld of the context of %lld are "
                    "left%s",
                    (long long)s->n, (long long)s->n_media_rows, (long long)(c->n_ctx - base), (long long)c->n_ctx,
                    room);
    return fail(MMGPT_ERR_CONTEXT, err, "the prompt takes %lld positions (%lld of them media), over the context of %lld%s",
                (long long)s->n, (long long)s->n_media_rows, (long long)c->n_ctx, room);
}

/* ---------------------------------------------------------------- evaluation */
static int check_in_step(const mm_conv *c, char *err) {
    if (c->has_def) return fail(MMGPT_ERR_INTERNAL, err, "conversation: a deferred position is not evaluated yet");
    if (c->p.st && mm_gpt_state_n_past(c->p.st) != c->n_past)
        return fail(MMGPT_ERR_INTERNAL, err, "the KV cache holds %lld positions but the conversation knows %lld",
                    (long long)mm_gpt_state_n_past(c->p.st), (long long)c->n_past);
    return MMGPT_OK;
}

/* A decoder evaluation's failure: non-finite logits are the model's fault (its weights), the rest internal. */
static int eval_code(int rc) { return rc == MM_ERR_NONFINITE ? MMGPT_ERR_MODEL : MMGPT_ERR_INTERNAL; }

static int eval_turn(mm_conv *c, bool raw, int64_t need_room, bool defer, bool defer_last, float **logits_all,
                     mm_conv_turn_info *info, char *err) {
    if (logits_all) *logits_all = NULL;
    if (logits_all && !c->p.st) return fail(MMGPT_ERR_USAGE, err, "conversation: no decoder to give logits");
    int rc = check_in_step(c, err);
    if (rc) return rc;
    mm_conv_seq s;
    if ((rc = mm_conv_build(c, raw, &s, err))) return rc;
    plan pl = {0, 0};
    if ((rc = make_plan(c, &s, !logits_all, defer && !logits_all, need_room, &pl, err))) {
        mm_conv_seq_free(&s);
        return rc;
    }
    float  *la = NULL;
    double  t0 = mm_time_ms();
    char    e[MM_ERR_SIZE];
    if (pl.off == s.n) { /* replayed and found whole in the record: nothing evaluated, matching goes on */
        c->n_keep += s.n;
        c->fresh = false;
        c->n_carry = 0;
        if (info)
            *info = (mm_conv_turn_info){.n_pos = s.n, .n_cached = s.n, .n_media_rows = s.n_media_rows, .eval_ms = 0};
        mm_conv_seq_free(&s);
        mm_conv_drop_pending(c);
        return MMGPT_OK;
    }
    if (c->p.st) {
        int64_t nv = mm_gpt_model_n_vocab(mm_gpt_state_model(c->p.st));
        if (logits_all && !(la = malloc((size_t)s.n * (size_t)nv * sizeof(float)))) {
            mm_conv_seq_free(&s);
            return fail(MMGPT_ERR_INTERNAL, err, "out of memory (logits of %lld positions)", (long long)s.n);
        }
        if (pl.keep < c->n_past && mm_gpt_state_truncate(c->p.st, pl.keep, e)) {
            free(la);
            mm_conv_seq_free(&s);
            return fail(MMGPT_ERR_INTERNAL, err, "%s", e);
        }
    }
    c->n_past = pl.keep; /* the record follows the cache; a failed eval leaves both here */
    int64_t n_eval = s.n - pl.off;
    if (defer_last && c->p.st && !la && n_eval == 1 && !s.in[pl.off].embd) { /* the caller evaluates it */
        c->has_def = true;
        c->def = s.pos[pl.off];
        n_eval = 0;
    }
    if (c->p.st && n_eval > 0 && (rc = eval_pieces(c, s.in + pl.off, n_eval, la, e))) {
        free(la);
        mm_conv_seq_free(&s);
        return fail(eval_code(rc), err, "%s", e);
    }
    memcpy(c->cache + c->n_past, s.pos + pl.off, (size_t)n_eval * sizeof *c->cache);
    c->n_past += n_eval;
    c->fresh = false;
    c->replay = false;
    c->n_carry = 0;
    if (info)
        *info = (mm_conv_turn_info){.n_pos = s.n, .n_cached = pl.off, .n_media_rows = s.n_media_rows,
                                    .eval_ms = mm_time_ms() - t0};
    if (logits_all) *logits_all = la;
    mm_conv_seq_free(&s);
    mm_conv_drop_pending(c);
    return MMGPT_OK;
}

int mm_conv_eval_turn(mm_conv *c, bool raw, int64_t need_room, float **logits_all, mm_conv_turn_info *info,
                      char *err) {
    return eval_turn(c, raw, need_room, false, false, logits_all, info, err);
}

int mm_conv_eval_turn_defer(mm_conv *c, bool raw, int64_t need_room, mm_conv_turn_info *info, char *err) {
    return eval_turn(c, raw, need_room, false, true, NULL, info, err);
}

bool mm_conv_deferred(const mm_conv *c, int32_t *token) {
    if (c->has_def && token) *token = c->def.token;
    return c->has_def;
}

void mm_conv_deferred_record(mm_conv *c) {
    if (!c->has_def) return;
    c->has_def = false;
    c->cache[c->n_past++] = c->def;
}

void mm_conv_deferred_drop(mm_conv *c) { c->has_def = false; }

int mm_conv_adopt_record(mm_conv *c, const mm_conv *src, int64_t n, char *err) {
    if (c == src || c->has_def || n < 0 || n > src->n_past || n > c->n_ctx)
        return fail(MMGPT_ERR_USAGE, err, "conversation: cannot adopt %lld positions of another record", (long long)n);
    if (c->p.st && mm_gpt_state_n_past(c->p.st) != n)
        return fail(MMGPT_ERR_INTERNAL, err, "conversation: the KV cache holds %lld positions, the adopted record %lld",
                    (long long)mm_gpt_state_n_past(c->p.st), (long long)n);
    memcpy(c->cache, src->cache, (size_t)n * sizeof *c->cache);
    c->n_past = n;
    mm_conv_clear(c);
    return MMGPT_OK;
}

int mm_conv_replay_turn(mm_conv *c, bool raw, int64_t need_room, mm_conv_turn_info *info, char *err) {
    return eval_turn(c, raw, need_room, true, false, NULL, info, err);
}

/* After replayed turns that were found whole (nothing evaluated yet): cut the record and the cache to the
 * conversation so far, which ends the replay. */
static int settle(mm_conv *c, char *err) {
    char e[MM_ERR_SIZE];
    if (c->n_keep < c->n_past && c->p.st && mm_gpt_state_truncate(c->p.st, c->n_keep, e))
        return fail(MMGPT_ERR_INTERNAL, err, "%s", e);
    c->n_past = c->n_keep;
    c->replay = false;
    return MMGPT_OK;
}

int mm_conv_token_check(mm_conv *c, char *err) {
    int rc = check_in_step(c, err);
    if (rc) return rc;
    if (c->replay && !c->fresh && (rc = settle(c, err))) return rc;
    if (c->n_past >= c->n_ctx) return fail(MMGPT_ERR_CONTEXT, err, "the context of %lld is full", (long long)c->n_ctx);
    return MMGPT_OK;
}

void mm_conv_token_record(mm_conv *c, int32_t token) {
    c->cache[c->n_past++] = (mm_conv_pos){.token = token, .row = 0, .media = {0, 0}};
}

int mm_conv_eval_token(mm_conv *c, int32_t token, char *err) {
    int rc = mm_conv_token_check(c, err);
    if (rc) return rc;
    char e[MM_ERR_SIZE];
    if (c->p.st && (rc = mm_gpt_eval_tokens(c->p.st, &token, 1, NULL, e))) return fail(eval_code(rc), err, "%s", e);
    mm_conv_token_record(c, token);
    return MMGPT_OK;
}

void mm_conv_end_answer(mm_conv *c, int32_t last) {
    c->n_carry = 0;
    bool first = c->n_close > 0 && last == c->close[0]; /* the model wrote the close's first token itself */
    if (!first && conv_len(c) >= c->n_ctx) return;     /* full: the answer stays open */
    if (!first && !(last >= 0 && last == c->p.eos)) c->carry[c->n_carry++] = last;
    /* another end token (eos where the close starts otherwise) was never evaluated: the close replaces it */
    for (int i = 0; i < c->n_close; i++) c->carry[c->n_carry++] = c->close[i];
}
