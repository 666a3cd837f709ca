/* forward.c - GPT decoder state (KV cache, activations) and the forward pass.
 *
 * Two paths, by the number of positions evaluated at once:
 *   - a batch (1 < n <= n_batch: prefill) runs the linear layers through mm_linear (sgemm) and attention
 *     through mm_sgemm one head at a time (below 8 positions: attention.c's kernel per row and head);
 *   - a single position (decode) is one decode step: a table of phases run in one pool run (decode_step),
 *     the matrix rows through core's matvec kernels, attention through attention.c's kernel.
 * Everything either path touches is allocated in mm_gpt_state_create, the kernels' scratch included
 * (mm_kernels_reserve), and the choices that depend on the CPU (the attention kernel) are made there too:
 * eval never allocates and keeps no lazily set state (tests: gpt_noalloc_*, gpt_state under TSan). */
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_internal.h"

/* Below this many positions per step the per-head loop kernel beats sgemm for attention. */
#define ATT_SGEMM_MIN 8

/* One phase of a decode step (see "decode step" below): n items of `chunk` rows of a `rows`-row product
 * (or one head, one vector), claimed with `next`, counted in `done` when finished. */
typedef enum { PH_QKV, PH_ATT, PH_OUT, PH_LN2, PH_UP, PH_DOWN, PH_NORM, PH_LOGITS } ph_kind;
struct dec_phase {
    _Alignas(64) atomic_int next;
    _Alignas(64) atomic_int done;
    int n;
    ph_kind kind;
    int64_t layer, rows, chunk;
};

struct mm_gpt_state {
    const mm_gpt_model *m;
    mm_pool *pool;
    bool     own_pool;
    int      nth;
    int64_t  n_ctx, n_batch, n_past;
    bool     logits_valid;
    void    *k_cache;  /* [n_layer, n_head, n_ctx, d_head] keys (f32, or f16 when kv_f16), head-major so
                          that one head's keys are contiguous (decode streams them; sgemm uses ld = d_head) */
    void    *v_cache;  /* [n_layer, n_head, n_ctx, d_head] values */
    bool     kv_f16;
    size_t   kv_esz;   /* bytes per cache element: 4 or 2 */
    float   *kv_tmp;   /* [2, n_ctx, d_head] f32 copy of one head's K and V (f16 cache, batch path) */
    float   *x;        /* [n_batch, d] residual stream */
    float   *h;        /* [n_batch, d] layer-norm output */
    float   *qkv;      /* [n_batch, 3d] q | k | v */
    float   *att;      /* [n_batch, d] attention output (heads concatenated) */
    float   *tmp;      /* [n_batch, d] projection output before the residual add */
    float   *ff;       /* [n_batch, d_ff] MLP hidden */
    float   *scores;   /* [n_batch, n_ctx] attention probabilities of one head (batch path) */
    float   *thr;      /* [nth, thr_stride] per-thread scratch: attention scores [n_ctx] (+ one head's K or V
                          as f32 [n_ctx, d_head] with an f16 cache) or a position row [d] */
    int64_t  thr_stride;
    float   *logits;   /* [n_vocab] last position */
    mm_arena arena;
    size_t   kv_bytes;
    mm_gpt_attn_fn attn;  /* decode attention kernel for d_head at core's level (chosen at creation) */
    struct dec_phase *ph; /* [n_ph] the phases of a decode step: 7 per layer, then the logits */
    int64_t  n_ph;
};

mm_gpt_state_params mm_gpt_state_default_params(void) {
    mm_gpt_state_params p = {0, 0, 512, NULL, false};
    return p;
}

static int phases_build(mm_gpt_state *s);

static float *take(mm_arena *a, size_t n_floats, bool *ok) {
    float *p = mm_arena_alloc(a, n_floats * sizeof(float));
    if (!p) *ok = false;
    return p;
}

static size_t al64(size_t b) { return (b + 63) & ~(size_t)63; }

mm_gpt_state *mm_gpt_state_create(const mm_gpt_model *m, mm_gpt_state_params p, char *err) {
    if (!m) {
        mm_err(err, "%s: no model", __func__);
        return NULL;
    }
    const mm_gpt_hparams *hp = &m->hp;
    if (p.n_ctx < 0 || p.n_ctx > hp->n_ctx) {
        mm_err(err, "%s: n_ctx %lld is outside [1, %lld] (the model's context length)", __func__,
               (long long)p.n_ctx, (long long)hp->n_ctx);
        return NULL;
    }
    if (p.n_batch < 0) {
        mm_err(err, "%s: n_batch %lld is negative", __func__, (long long)p.n_batch);
        return NULL;
    }
    mm_gpt_state *s = calloc(1, sizeof *s);
    if (!s) {
        mm_err(err, "%s: out of memory", __func__);
        return NULL;
    }
    s->m = m;
    s->n_ctx = p.n_ctx ? p.n_ctx : hp->n_ctx;
    s->n_batch = p.n_batch ? p.n_batch : 512;
    if (s->n_batch > s->n_ctx) s->n_batch = s->n_ctx;
    if (p.pool) {
        s->pool = p.pool;
    } else {
        s->pool = mm_pool_create(p.n_threads, err);
        if (!s->pool) goto fail;
        s->own_pool = true;
    }
    s->nth = mm_pool_n_threads(s->pool);
    s->attn = mm_gpt_attn_kernel(hp->d_head);
    /* every product's kernel scratch, now: eval never allocates (widest input: d_ff of ffn_down) */
    if (mm_kernels_reserve(s->pool, hp->d_ff > hp->d_model ? hp->d_ff : hp->d_model, err) != 0) goto fail;
    const size_t d = (size_t)hp->d_model, ff = (size_t)hp->d_ff, B = (size_t)s->n_batch, C = (size_t)s->n_ctx;
    s->kv_f16 = p.kv_f16;
    s->kv_esz = p.kv_f16 ? 2 : 4;
    /* per thread: scores [C] | position row [d] | (f16 cache) one head's K or V as f32 [C, d_head] */
    size_t thr = C > d ? C : d;
    if (s->kv_f16) thr = C + C * (size_t)hp->d_head;
    s->thr_stride = (int64_t)al64((thr + 16) * sizeof(float)) / (int64_t)sizeof(float);
    s->kv_bytes = 2 * (size_t)hp->n_layer * C * d * s->kv_esz;
    size_t floats[] = {B * d, B * d, 3 * B * d, B * d, B * d, B * ff, B * C,
                       (size_t)s->nth * (size_t)s->thr_stride, (size_t)hp->n_vocab,
                       s->kv_f16 ? 2 * C * (size_t)hp->d_head : 0};
    size_t total = al64(s->kv_bytes / 2) * 2;
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) total += al64(floats[i] * sizeof(float));
    if (mm_arena_init(&s->arena, total + 64, err) != 0) goto fail;
    bool ok = true;
    s->k_cache = take(&s->arena, s->kv_bytes / 2 / sizeof(float), &ok);
    s->v_cache = take(&s->arena, s->kv_bytes / 2 / sizeof(float), &ok);
    if (s->kv_f16) s->kv_tmp = take(&s->arena, floats[9], &ok);
    s->x = take(&s->arena, floats[0], &ok);
    s->h = take(&s->arena, floats[1], &ok);
    s->qkv = take(&s->arena, floats[2], &ok);
    s->att = take(&s->arena, floats[3], &ok);
    s->tmp = take(&s->arena, floats[4], &ok);
    s->ff = take(&s->arena, floats[5], &ok);
    s->scores = take(&s->arena, floats[6], &ok);
    s->thr = take(&s->arena, floats[7], &ok);
    s->logits = take(&s->arena, floats[8], &ok);
    if (!ok) {
        mm_err(err, "%s: internal: arena too small", __func__);
        goto fail;
    }
    if (phases_build(s) != 0) {
        mm_err(err, "%s: out of memory", __func__);
        goto fail;
    }
    return s;
fail:
    mm_gpt_state_free(s);
    return NULL;
}

void mm_gpt_state_free(mm_gpt_state *s) {
    if (!s) return;
    if (s->own_pool) mm_pool_free(s->pool);
    mm_arena_free(&s->arena);
    free(s->ph);
    free(s);
}

const mm_gpt_model *mm_gpt_state_model(const mm_gpt_state *s) { return s->m; }
mm_pool *mm_gpt_state_pool(mm_gpt_state *s) { return s->pool; }
int64_t mm_gpt_state_n_ctx(const mm_gpt_state *s) { return s->n_ctx; }
int64_t mm_gpt_state_n_past(const mm_gpt_state *s) { return s->n_past; }
size_t mm_gpt_state_bytes(const mm_gpt_state *s) { return s->arena.size; }
const float *mm_gpt_state_logits(const mm_gpt_state *s) { return s->logits; }

int mm_gpt_state_truncate(mm_gpt_state *s, int64_t n, char *err) {
    if (n < 0 || n > s->n_past)
        return mm_err(err, "%s: cannot keep %lld positions: the cache holds %lld", __func__, (long long)n,
                      (long long)s->n_past);
    if (n != s->n_past) s->logits_valid = false;
    s->n_past = n;
    return 0;
}

void mm_gpt_state_reset(mm_gpt_state *s) {
    s->n_past = 0;
    s->logits_valid = false;
}

/* ---------------------------------------------------------------- threaded row tasks */
typedef struct {
    mm_gpt_state       *s;
    const mm_gpt_input *in;      /* inputs, or */
    const int32_t      *tokens;  /* plain token ids */
    int64_t             n, pos0;
    /* layer norm */
    float              *y;
    const float        *x, *w, *b;
    int64_t             width;
    /* attention */
    int64_t             layer;
} task_ctx;

static void task_embed(void *vctx, int ith, int nth) {
    task_ctx *c = vctx;
    const mm_gpt_model *m = c->s->m;
    const int64_t d = m->hp.d_model;
    float *prow = c->s->thr + (int64_t)ith * c->s->thr_stride;
    int64_t i0, i1;
    mm_split_range(c->n, ith, nth, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        float *xi = c->s->x + i * d;
        if (c->tokens) mm_gpt_mat_row(&m->tok_embd, c->tokens[i], xi);
        else if (c->in[i].embd) memcpy(xi, c->in[i].embd, (size_t)d * sizeof(float));
        else mm_gpt_mat_row(&m->tok_embd, c->in[i].token, xi);
        mm_gpt_mat_row(&m->pos_embd, c->pos0 + i, prow);
        mm_add(xi, xi, prow, d);
    }
}

static void task_layernorm(void *vctx, int ith, int nth) {
    task_ctx *c = vctx;
    int64_t i0, i1;
    mm_split_range(c->n, ith, nth, &i0, &i1);
    for (int64_t i = i0; i < i1; i++)
        mm_layernorm(c->y + i * c->width, c->x + i * c->width, c->w, c->b, c->width, c->s->m->hp.eps);
}

static void task_gelu(void *vctx, int ith, int nth) {
    task_ctx *c = vctx;
    int64_t i0, i1;
    mm_split_range(c->n * c->width, ith, nth, &i0, &i1);
    if (i1 > i0) mm_gelu_tanh(c->y + i0, i1 - i0);
}

static void task_add(void *vctx, int ith, int nth) { /* y += x */
    task_ctx *c = vctx;
    int64_t i0, i1;
    mm_split_range(c->n * c->width, ith, nth, &i0, &i1);
    if (i1 > i0) mm_add(c->y + i0, c->y + i0, c->x + i0, i1 - i0);
}

static void run_rows(mm_pool *pool, mm_task_fn fn, task_ctx *c) {
    if (c->n * c->width < 4096) fn(c, 0, 1); /* not worth waking threads */
    else mm_pool_run(pool, fn, c);
}

/* Attention of row i (position pos0 + i) and head hd of one layer; sc = per-thread scratch [n_ctx + ...]. */
static void attn_one(mm_gpt_state *s, int64_t layer, int64_t pos0, int64_t i, int64_t hd, float *sc) {
    const mm_gpt_hparams *hp = &s->m->hp;
    const int64_t d = hp->d_model, dh = hp->d_head;
    const size_t lo = (size_t)layer * (size_t)(s->n_ctx * d) * s->kv_esz; /* this layer's cache */
    const size_t ho = (size_t)(hd * s->n_ctx * dh) * s->kv_esz;            /* this head's slice */
    const uint8_t *K = (const uint8_t *)s->k_cache + lo + ho, *V = (const uint8_t *)s->v_cache + lo + ho;
    const int64_t T = pos0 + i + 1; /* causal: sees positions [0, pos] */
    s->attn(s->qkv + i * 3 * d + hd * dh, K, V, T, dh, 1.0f / sqrtf((float)dh), s->kv_f16, sc, sc + s->n_ctx,
            s->att + i * d + hd * dh);
}

/* Attention for few rows: work items (row, head) split over threads; scores in per-thread scratch. */
static void task_attn_rows(void *vctx, int ith, int nth) {
    task_ctx *c = vctx;
    mm_gpt_state *s = c->s;
    const int64_t H = s->m->hp.n_head;
    float *sc = s->thr + (int64_t)ith * s->thr_stride;
    int64_t w0, w1;
    mm_split_range(c->n * H, ith, nth, &w0, &w1);
    for (int64_t w = w0; w < w1; w++) attn_one(s, c->layer, c->pos0, w / H, w % H, sc);
}

/* Batch path: scores [n, T] of one head are in s->scores; mask (causal) and softmax each row. */
static void task_mask_softmax(void *vctx, int ith, int nth) {
    task_ctx *c = vctx;
    const int64_t T = c->pos0 + c->n;
    int64_t i0, i1;
    mm_split_range(c->n, ith, nth, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        float *row = c->s->scores + i * T;
        const int64_t vis = c->pos0 + i + 1;
        mm_softmax(row, vis);
        if (vis < T) memset(row + vis, 0, (size_t)(T - vis) * sizeof(float));
    }
}

static void lin(mm_gpt_state *s, const mm_gpt_mat *w, const float *bias, int64_t n, const float *X, float *Y) {
    mm_linear(s->pool, w->type, w->data, bias, w->rows, w->cols, n, X, Y);
}

/* Store the key and value of head hd at position pos (from the row q | k | v of that position) in layer
 * l's cache (f16 when kv_f16). */
static void kv_store(mm_gpt_state *s, int64_t l, int64_t pos, const float *qkv_row, int64_t hd) {
    const int64_t d = s->m->hp.d_model, dh = s->m->hp.d_head;
    const size_t at = (size_t)(l * s->n_ctx * d + (hd * s->n_ctx + pos) * dh) * s->kv_esz;
    const float *k = qkv_row + d + hd * dh, *v = qkv_row + 2 * d + hd * dh;
    if (s->kv_f16) {
        mm_quantize_row(MM_TYPE_F16, k, (uint8_t *)s->k_cache + at, dh);
        mm_quantize_row(MM_TYPE_F16, v, (uint8_t *)s->v_cache + at, dh);
    } else {
        memcpy((uint8_t *)s->k_cache + at, k, (size_t)dh * sizeof(float));
        memcpy((uint8_t *)s->v_cache + at, v, (size_t)dh * sizeof(float));
    }
}

/* ---------------------------------------------------------------- decode step (one position)
 * A decode step is about 5 matrix products and attentions per layer, each too short (tens of
 * microseconds) to pay a pool wake-up (futex + scheduler, 5-50 us here) every time. The whole step runs
 * in ONE mm_pool_run: it is a list of phases (per layer: qkv rows, heads (KV store + attention), output
 * rows + residual, LN2, up rows + GELU, down rows + residual, the next LN; then the logits rows), each
 * split into items that any thread claims; a thread starts claiming a phase once the previous phase's
 * items are all done. It only ever waits for items that another running thread has claimed (never for
 * one nobody started: the caller alone can finish the step), so this keeps the pool's rule. Every output
 * element is computed by the same code whichever thread claims it: results do not depend on the number
 * of threads or on who ran what. The table of phases is built once, at state creation (phases_build);
 * with one thread each product is one item. Measured against one pool run per operation (the former
 * second path): faster at 2 threads (bench_decoder tg128), equal at 1. */
typedef struct {
    mm_gpt_state *s;
    float        *logits; /* logits rows [n_vocab] */
} step_ctx;

static int64_t rows_chunk(int64_t rows, int nth) {
    if (nth == 1) return rows;
    int64_t c = rows / (3 * (int64_t)nth); /* ~3 items per thread: balance against re-quantizing x per item */
    c = (c + 15) & ~(int64_t)15;
    return c < 16 ? 16 : c;
}

static int phases_build(mm_gpt_state *s) {
    const mm_gpt_hparams *hp = &s->m->hp;
    const int64_t d = hp->d_model;
    s->n_ph = 7 * hp->n_layer + 1;
    s->ph = aligned_alloc(64, sizeof *s->ph * (size_t)s->n_ph);
    if (!s->ph) return -1;
    for (int64_t p = 0; p < s->n_ph; p++) {
        struct dec_phase *ph = &s->ph[p];
        ph->kind = p == s->n_ph - 1 ? PH_LOGITS : (ph_kind)(p % 7);
        ph->layer = p / 7;
        const int64_t rows[] = {[PH_QKV] = 3 * d, [PH_ATT] = hp->n_head, [PH_OUT] = d, [PH_LN2] = 1,
                                [PH_UP] = hp->d_ff, [PH_DOWN] = d, [PH_NORM] = 1, [PH_LOGITS] = hp->n_vocab};
        const bool matrix = ph->kind == PH_QKV || ph->kind == PH_OUT || ph->kind == PH_UP || ph->kind == PH_DOWN ||
                            ph->kind == PH_LOGITS;
        ph->rows = rows[ph->kind];
        ph->chunk = matrix ? rows_chunk(ph->rows, s->nth) : 1;
    }
    return 0;
}

static void wait_phase(struct dec_phase *p) {
    for (unsigned i = 1; atomic_load_explicit(&p->done, memory_order_acquire) < p->n; i++) {
#if defined(__x86_64__) && defined(__GNUC__)
        __builtin_ia32_pause();
#endif
        if ((i & 1023) == 0) sched_yield(); /* the holder may be descheduled: give it the core */
    }
}

/* rows [r0, r1) of y = W x (+ bias), on pool thread ith */
static void mat_rows(mm_gpt_state *s, int ith, const mm_gpt_mat *w, const float *bias, int64_t r0, int64_t r1,
                     const float *x, float *y) {
    mm_matvec_rows(s->pool, ith, w->type, w->data, r0, r1, w->cols, x, y);
    if (bias) mm_add(y + r0, y + r0, bias + r0, r1 - r0);
}

static void step_item(step_ctx *c, const struct dec_phase *ph, int64_t item, int ith, float *sc) {
    mm_gpt_state *s = c->s;
    const mm_gpt_model *m = s->m;
    const mm_gpt_hparams *hp = &m->hp;
    const int64_t d = hp->d_model, l = ph->layer;
    const mm_gpt_layer *ly = &m->layers[l < hp->n_layer ? l : 0];
    const int64_t r0 = item * ph->chunk, r1 = r0 + ph->chunk < ph->rows ? r0 + ph->chunk : ph->rows;
    switch (ph->kind) {
    case PH_QKV: mat_rows(s, ith, &ly->qkv, ly->qkv_b, r0, r1, s->h, s->qkv); break;
    case PH_ATT:
        kv_store(s, l, s->n_past, s->qkv, item);
        attn_one(s, l, s->n_past, 0, item, sc);
        break;
    case PH_OUT:
        mat_rows(s, ith, &ly->out, ly->out_b, r0, r1, s->att, s->tmp);
        mm_add(s->x + r0, s->x + r0, s->tmp + r0, r1 - r0);
        break;
    case PH_LN2: mm_layernorm(s->h, s->x, ly->ln2_w, ly->ln2_b, d, hp->eps); break;
    case PH_UP:
        mat_rows(s, ith, &ly->up, ly->up_b, r0, r1, s->h, s->ff);
        mm_gelu_tanh(s->ff + r0, r1 - r0);
        break;
    case PH_DOWN:
        mat_rows(s, ith, &ly->down, ly->down_b, r0, r1, s->ff, s->tmp);
        mm_add(s->x + r0, s->x + r0, s->tmp + r0, r1 - r0);
        break;
    case PH_NORM: /* the next block's LN1, or the output norm after the last block */
        if (l + 1 < hp->n_layer) mm_layernorm(s->h, s->x, m->layers[l + 1].ln1_w, m->layers[l + 1].ln1_b, d, hp->eps);
        else mm_layernorm(s->h, s->x, m->out_norm_w, m->out_norm_b, d, hp->eps);
        break;
    case PH_LOGITS: mat_rows(s, ith, &m->output, NULL, r0, r1, s->h, c->logits); break;
    }
}

static void task_step(void *vctx, int ith, int nth) {
    (void)nth;
    step_ctx *c = vctx;
    mm_gpt_state *s = c->s;
    float *sc = s->thr + (int64_t)ith * s->thr_stride;
    for (int64_t p = 0; p < s->n_ph; p++) {
        struct dec_phase *ph = &s->ph[p];
        if (p > 0) wait_phase(&s->ph[p - 1]);
        for (;;) {
            int it = atomic_fetch_add_explicit(&ph->next, 1, memory_order_relaxed);
            if (it >= ph->n) break;
            step_item(c, ph, it, ith, sc);
            atomic_fetch_add_explicit(&ph->done, 1, memory_order_release);
        }
    }
}

/* One position at s->n_past; its logits into `logits` (NULL: none wanted). */
static void decode_step(mm_gpt_state *s, const mm_gpt_input *in, const int32_t *tokens, float *logits) {
    const mm_gpt_model *m = s->m;
    const int64_t d = m->hp.d_model;
    task_ctx e = {.s = s, .in = in, .tokens = tokens, .n = 1, .pos0 = s->n_past, .width = d};
    task_embed(&e, 0, 1);
    mm_layernorm(s->h, s->x, m->layers[0].ln1_w, m->layers[0].ln1_b, d, m->hp.eps);
    for (int64_t p = 0; p < s->n_ph; p++) {
        struct dec_phase *ph = &s->ph[p];
        ph->n = ph->kind == PH_LOGITS && !logits ? 0 : (int)((ph->rows + ph->chunk - 1) / ph->chunk);
        atomic_store_explicit(&ph->next, 0, memory_order_relaxed);
        atomic_store_explicit(&ph->done, 0, memory_order_relaxed);
    }
    step_ctx c = {s, logits};
    mm_pool_run(s->pool, task_step, &c); /* publishes the counters (release) */
    s->n_past += 1;
}

/* A batch of 1 < n <= n_batch positions starting at s->n_past (prefill: sgemm over the batch). */
static void forward_batch(mm_gpt_state *s, const mm_gpt_input *in, const int32_t *tokens, int64_t n,
                          float *logits_all, bool want_last) {
    const mm_gpt_model *m = s->m;
    const mm_gpt_hparams *hp = &m->hp;
    const int64_t d = hp->d_model, ff = hp->d_ff, dh = hp->d_head, pos0 = s->n_past, T = pos0 + n;
    task_ctx c = {.s = s, .in = in, .tokens = tokens, .n = n, .pos0 = pos0, .width = d};
    if (n < 8) task_embed(&c, 0, 1); /* a few rows: not worth waking the pool */
    else mm_pool_run(s->pool, task_embed, &c);
    for (int64_t l = 0; l < hp->n_layer; l++) {
        const mm_gpt_layer *ly = &m->layers[l];
        /* attention block */
        c.y = s->h, c.x = s->x, c.w = ly->ln1_w, c.b = ly->ln1_b, c.width = d;
        run_rows(s->pool, task_layernorm, &c);
        lin(s, &ly->qkv, ly->qkv_b, n, s->h, s->qkv);
        const size_t lo = (size_t)l * (size_t)(s->n_ctx * d) * s->kv_esz;
        uint8_t *Kl = (uint8_t *)s->k_cache + lo, *Vl = (uint8_t *)s->v_cache + lo;
        for (int64_t i = 0; i < n; i++)
            for (int64_t hd = 0; hd < hp->n_head; hd++) kv_store(s, l, pos0 + i, s->qkv + i * 3 * d, hd);
        c.layer = l;
        if (n < ATT_SGEMM_MIN) {
            if (T * d < 8192) task_attn_rows(&c, 0, 1);
            else mm_pool_run(s->pool, task_attn_rows, &c);
        } else {
            const float scale = 1.0f / sqrtf((float)dh);
            for (int64_t hd = 0; hd < hp->n_head; hd++) {
                const size_t ho = (size_t)(hd * s->n_ctx * dh) * s->kv_esz;
                const float *Kh = (const float *)(Kl + ho), *Vh = (const float *)(Vl + ho);
                if (s->kv_f16) { /* sgemm needs f32: convert this head's T rows once */
                    mm_dequantize_row(MM_TYPE_F16, Kl + ho, s->kv_tmp, T * dh);
                    mm_dequantize_row(MM_TYPE_F16, Vl + ho, s->kv_tmp + s->n_ctx * dh, T * dh);
                    Kh = s->kv_tmp, Vh = s->kv_tmp + s->n_ctx * dh;
                }
                /* scores[n, T] = scale * Q_h[n, dh] . K_h[T, dh]^T */
                mm_sgemm(s->pool, true, n, T, dh, scale, s->qkv + hd * dh, 3 * d, Kh, dh, 0.0f, s->scores, T);
                c.width = T;
                run_rows(s->pool, task_mask_softmax, &c);
                /* att_h[n, dh] = P[n, T] . V_h[T, dh] */
                mm_sgemm(s->pool, false, n, dh, T, 1.0f, s->scores, T, Vh, dh, 0.0f, s->att + hd * dh, d);
            }
        }
        lin(s, &ly->out, ly->out_b, n, s->att, s->tmp);
        c.y = s->x, c.x = s->tmp, c.width = d;
        run_rows(s->pool, task_add, &c);
        /* MLP block */
        c.y = s->h, c.x = s->x, c.w = ly->ln2_w, c.b = ly->ln2_b, c.width = d;
        run_rows(s->pool, task_layernorm, &c);
        lin(s, &ly->up, ly->up_b, n, s->h, s->ff);
        c.y = s->ff, c.width = ff;
        run_rows(s->pool, task_gelu, &c);
        lin(s, &ly->down, ly->down_b, n, s->ff, s->tmp);
        c.y = s->x, c.x = s->tmp, c.width = d;
        run_rows(s->pool, task_add, &c);
    }
    const int64_t V = hp->n_vocab;
    if (logits_all) {
        c.y = s->h, c.x = s->x, c.w = m->out_norm_w, c.b = m->out_norm_b, c.width = d;
        run_rows(s->pool, task_layernorm, &c);
        lin(s, &m->output, NULL, n, s->h, logits_all);
        if (want_last) memcpy(s->logits, logits_all + (n - 1) * V, (size_t)V * sizeof(float));
    } else if (want_last) {
        mm_layernorm(s->h, s->x + (n - 1) * d, m->out_norm_w, m->out_norm_b, d, hp->eps);
        lin(s, &m->output, NULL, 1, s->h, s->logits);
    }
    s->n_past += n;
}

static int eval_any(mm_gpt_state *s, const mm_gpt_input *in, const int32_t *tokens, int64_t n, float *logits_all,
                    char *err) {
    if (!s || (!in && !tokens) || n < 1) return mm_err(err, "mm_gpt_eval: nothing to evaluate");
    const mm_gpt_hparams *hp = &s->m->hp;
    if (n > s->n_ctx - s->n_past)
        return mm_err(err, "mm_gpt_eval: context full: %lld positions in the cache + %lld new > context length %lld",
                      (long long)s->n_past, (long long)n, (long long)s->n_ctx);
    for (int64_t i = 0; i < n; i++) {
        if (in && in[i].embd) continue;
        int32_t t = in ? in[i].token : tokens[i];
        if (t < 0 || t >= hp->n_vocab)
            return mm_err(err, "mm_gpt_eval: token %d at position %lld is outside the vocabulary [0, %lld)", t,
                          (long long)i, (long long)hp->n_vocab);
    }
    const int64_t n_past0 = s->n_past;
    for (int64_t c0 = 0; c0 < n; c0 += s->n_batch) {
        int64_t nb = n - c0 < s->n_batch ? n - c0 : s->n_batch;
        const mm_gpt_input *bi = in ? in + c0 : NULL;
        const int32_t *bt = tokens ? tokens + c0 : NULL;
        float *la = logits_all ? logits_all + c0 * hp->n_vocab : NULL;
        const bool last = c0 + nb == n;
        if (nb > 1) {
            forward_batch(s, bi, bt, nb, la, last);
        } else {
            decode_step(s, bi, bt, la ? la : last ? s->logits : NULL);
            if (la && last) memcpy(s->logits, la, (size_t)hp->n_vocab * sizeof(float));
        }
    }
    s->logits_valid = true;
    /* NaN/Inf logits: a model error; the state is left as it was (the new positions are forgotten) */
    if (mm_gpt_check_logits(logits_all ? logits_all : s->logits, logits_all ? n : 1, hp->n_vocab,
                            logits_all ? n_past0 : n_past0 + n - 1, err))
    {
        s->n_past = n_past0;
        s->logits_valid = false;
        return MM_ERR_NONFINITE;
    }
    return 0;
}

int mm_gpt_eval(mm_gpt_state *s, const mm_gpt_input *in, int64_t n, float *logits_all, char *err) {
    return eval_any(s, in, NULL, n, logits_all, err);
}

int mm_gpt_eval_tokens(mm_gpt_state *s, const int32_t *tokens, int64_t n, float *logits_all, char *err) {
    return eval_any(s, NULL, tokens, n, logits_all, err);
}
