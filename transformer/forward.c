/* forward.c - GPT decoder state (KV cache, activations) and the forward pass.
 *
 * Two paths, by the number of positions evaluated at once:
 *   - a batch (1 < n <= n_batch: prefill) runs the linear layers through mm_linear (sgemm; a short F16/BF16
 *     prompt of <= 16 positions through one multi-vector matvec pass instead: core's rule) and attention
 *     through mm_sgemm one head at a time (below 8 positions: attention.c's kernel per row and head);
 *   - a single position (decode) is one decode step: a table of phases run in one pool run (decode_step),
 *     the matrix rows through core's matvec kernels, attention through attention.c's kernel.
 * Everything either path touches is allocated in mm_gpt_state_create, the kernels' scratch included
 * (mm_kernels_reserve), and the choices that depend on the CPU (the attention kernel) are made there too:
 * eval never allocates and keeps no lazily set state (tests: gpt_noalloc_*, gpt_state under TSan). */
#include <math.h>
#include <sched.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_internal.h"

/* Below this many positions per step the per-head loop kernel beats sgemm for attention. */
#define ATT_SGEMM_MIN 8

/* One phase of a decode step (see "decode step" below): n items of `chunk` rows of a `rows`-row product
 * (or one head, one vector), claimed from the threads' ranges (own_range), counted in `done` when finished. */
typedef enum { PH_QKV, PH_ATT, PH_OUT, PH_LN2, PH_UP, PH_DOWN, PH_NORM, PH_LOGITS } ph_kind;
struct dec_phase {
    _Alignas(64) atomic_int done;
    int n;
    ph_kind kind;
    int64_t layer, rows, chunk;
};

/* One pool thread's share of a phase's items (see "decode step" below): items [front, back) are left, packed as
 * front (low 32 bits) | back (high 32) so that the owner (front) and a helper (back) claim with one CAS. */
struct own_range {
    _Alignas(64) atomic_uint_fast64_t fb;
};

struct mm_gpt_state {
    const mm_gpt_model *m;
    mm_pool *pool;
    bool     own_pool;
    int      nth;
    int64_t  n_ctx, n_batch, n_past;
    bool     logits_valid;
    int64_t  l0, l1;   /* the layers this state evaluates, [l0, l1): all, or this rank's share of a pipeline
                          (mm_gpt_model_set_pipeline); the KV cache holds these layers only */
    const mm_gpt_arch_desc *A; /* the model's architecture row (norm, positions, FFN) */
    int64_t  dq, dkv;  /* query width n_head d_head; key/value width n_head_kv d_head (gpt2: both d) */
    int64_t  n_kv, group; /* key/value heads; query heads per key/value head (grouped-query attention) */
    void    *k_cache;  /* [n_layer, n_kv, n_ctx, d_head] keys (f32, or f16 when kv_f16), head-major so
                          that one head's keys are contiguous (decode streams them; sgemm uses ld = d_head) */
    void    *v_cache;  /* [n_layer, n_kv, n_ctx, d_head] values */
    bool     kv_f16;
    size_t   kv_esz;   /* bytes per cache element: 4 or 2 */
    float   *kv_tmp;   /* [2, n_ctx, d_head] f32 copy of one head's K and V (f16 cache, batch path) */
    float   *x;        /* [n_batch, d] residual stream */
    float   *h;        /* [n_batch, d] layer-norm output */
    float   *qkv;      /* [n_batch, dq + 2 dkv] queries, keys, values: rows q | k | v (fused attn_qkv), or
                          planes Q [n, dq] | K [n, dkv] | V [n, dkv] (separate matrices); one position: q | k | v */
    float   *att;      /* [n_batch, dq] attention output (heads concatenated) */
    float   *tmp;      /* [n_batch, d] projection output before the residual add */
    float   *ff;       /* [n_batch, d_ff] MLP hidden (SwiGLU: the gate, then silu(gate) * up) */
    float   *ff2;      /* [n_batch, d_ff] SwiGLU up projection (NULL for GELU) */
    float   *rope_cs;  /* [n_batch, n_rot] (cos, sin) of each position of the step (NULL without rotary) */
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
    struct own_range *own; /* [n_ph, nth] each phase's items split among the pool threads (phase_ranges) */
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
    char why[MM_ERR_SIZE];
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
    s->l0 = m->pipe.layer_begin;
    s->l1 = m->pipe.layer_end ? m->pipe.layer_end : hp->n_layer;
    s->A = mm_gpt_arch_desc_of(hp->arch);
    s->n_kv = hp->n_head_kv ? hp->n_head_kv : hp->n_head;
    s->group = hp->n_head / s->n_kv;
    s->dq = hp->n_head * hp->d_head;
    s->dkv = s->n_kv * hp->d_head;
    s->n_ctx = p.n_ctx ? p.n_ctx : hp->n_ctx < MM_GPT_DEFAULT_CTX ? hp->n_ctx : MM_GPT_DEFAULT_CTX;
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
    const int64_t widest = hp->d_ff > hp->d_model ? hp->d_ff : hp->d_model;
    const size_t d = (size_t)hp->d_model, ff = (size_t)hp->d_ff, B = (size_t)s->n_batch, C = (size_t)s->n_ctx;
    const size_t dq = (size_t)s->dq, dkv = (size_t)s->dkv;
    const bool swiglu = s->A->ffn == MM_FFN_SWIGLU, rope = s->A->pos == MM_POS_ROPE;
    s->kv_f16 = p.kv_f16;
    s->kv_esz = p.kv_f16 ? 2 : 4;
    /* per thread: scores [C] | position row [d] | (f16 cache) one head's K or V as f32 [C, d_head] */
    size_t thr = C > d ? C : d;
    if (s->kv_f16) thr = C + C * (size_t)hp->d_head;
    s->thr_stride = (int64_t)al64((thr + 16) * sizeof(float)) / (int64_t)sizeof(float);
    s->kv_bytes = (size_t)mm_gpt_kv_bytes(hp, s->n_ctx, s->kv_f16) / (size_t)hp->n_layer * (size_t)(s->l1 - s->l0);
    size_t floats[] = {B * d, B * d, B * (dq + 2 * dkv), B * dq, B * d, B * ff, B * C,
                       (size_t)s->nth * (size_t)s->thr_stride, (size_t)hp->n_vocab,
                       s->kv_f16 ? 2 * C * (size_t)hp->d_head : 0, swiglu ? B * ff : 0,
                       rope ? B * (size_t)hp->n_rot : 0};
    size_t total = al64(s->kv_bytes / 2) * 2;
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) total += al64(floats[i] * sizeof(float));
    /* refuse before allocating what this machine cannot hold (the weights are mapped from the file) */
    if (mm_gpt_memory_check(m, (double)total, s->n_ctx, s->kv_f16, why) != 0) {
        mm_err(err, "%s", why);
        goto fail;
    }
    if (mm_kernels_reserve_multi(s->pool, widest > s->dq ? widest : s->dq, MM_MATVEC_MULTI_GROUP, err) != 0) goto fail;
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
    if (swiglu) s->ff2 = take(&s->arena, floats[10], &ok);
    if (rope) s->rope_cs = take(&s->arena, floats[11], &ok);
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
    free(s->own);
    free(s);
}

const mm_gpt_model *mm_gpt_state_model(const mm_gpt_state *s) { return s->m; }
mm_pool *mm_gpt_state_pool(mm_gpt_state *s) { return s->pool; }
int64_t mm_gpt_state_n_ctx(const mm_gpt_state *s) { return s->n_ctx; }
int64_t mm_gpt_state_n_past(const mm_gpt_state *s) { return s->n_past; }
int64_t mm_gpt_state_n_batch(const mm_gpt_state *s) { return s->n_batch; }
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

/* dst's cache [0, n) = src's [0, n): per layer and key/value head, n rows of d_head elements (the cache is
 * [n_layer, n_kv, n_ctx, d_head], so each (layer, head) is one contiguous block of n rows in either state). */
int mm_gpt_state_copy_prefix(mm_gpt_state *dst, const mm_gpt_state *src, int64_t n, char *err) {
    if (!dst || !src) return mm_err(err, "%s: a state is NULL", __func__);
    if (dst == src) return mm_err(err, "%s: the source is the destination", __func__);
    if (dst->m != src->m || dst->l0 != src->l0 || dst->l1 != src->l1 || dst->kv_f16 != src->kv_f16)
        return mm_err(err, "%s: the states are of different models, layers or cache types", __func__);
    if (src->m->pipe.send || src->l0 != 0 || src->l1 != src->m->hp.n_layer)
        return mm_err(err, "%s: the model is one rank of a pipeline: the other ranks' caches are elsewhere", __func__);
    if (n < 0 || n > src->n_past || n > dst->n_ctx)
        return mm_err(err, "%s: cannot copy %lld positions: the source holds %lld, the destination takes %lld",
                      __func__, (long long)n, (long long)src->n_past, (long long)dst->n_ctx);
    const size_t row = (size_t)src->m->hp.d_head * src->kv_esz, blocks = (size_t)(src->l1 - src->l0) * (size_t)src->n_kv;
    for (size_t b = 0; b < blocks; b++) {
        memcpy((char *)dst->k_cache + b * (size_t)dst->n_ctx * row, (const char *)src->k_cache + b * (size_t)src->n_ctx * row,
               (size_t)n * row);
        memcpy((char *)dst->v_cache + b * (size_t)dst->n_ctx * row, (const char *)src->v_cache + b * (size_t)src->n_ctx * row,
               (size_t)n * row);
    }
    dst->n_past = n;
    dst->logits_valid = false;
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
    const int32_t      *tokens;  /* plain token ids, or */
    const float        *x_in;    /* residual rows [n, d] from the previous rank of a pipeline */
    int64_t             n, pos0;
    /* layer norm */
    float              *y;
    const float        *x, *w, *b;
    int64_t             width;
    /* attention: queries Q (rows ldq apart, heads d_head apart), keys K (rows ldk apart) */
    int64_t             layer;
    float              *q, *k;
    int64_t             ldq, ldk;
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
        if (c->x_in) { /* a later rank of a pipeline: the residual stream so far, positions included */
            memcpy(xi, c->x_in + i * d, (size_t)d * sizeof(float));
            continue;
        }
        if (c->tokens) mm_mat_row(&m->tok_embd, c->tokens[i], xi);
        else if (c->in[i].embd) memcpy(xi, c->in[i].embd, (size_t)d * sizeof(float));
        else mm_mat_row(&m->tok_embd, c->in[i].token, xi);
        if (!m->pos_embd.data) continue; /* rotary positions: applied to q and k */
        mm_mat_row(&m->pos_embd, c->pos0 + i, prow);
        mm_add(xi, xi, prow, d);
    }
}

/* y[d] = the architecture's norm of x[d] (LayerNorm with w, b; RMSNorm with w) */
static void norm_row(const mm_gpt_state *s, float *y, const float *x, const float *w, const float *b) {
    const mm_gpt_hparams *hp = &s->m->hp;
    if (s->A->norm == MM_NORM_RMS) mm_gpt_rms_norm(y, x, w, hp->d_model, hp->eps);
    else mm_layernorm(y, x, w, b, hp->d_model, hp->eps);
}

static void task_layernorm(void *vctx, int ith, int nth) {
    task_ctx *c = vctx;
    int64_t i0, i1;
    mm_split_range(c->n, ith, nth, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) norm_row(c->s, c->y + i * c->width, c->x + i * c->width, c->w, c->b);
}

/* rotary embedding of rows [n] of the step: every query head of Q and key head of K (in place) */
static void task_rope(void *vctx, int ith, int nth) {
    task_ctx *c = vctx;
    const mm_gpt_state *s = c->s;
    const mm_gpt_hparams *hp = &s->m->hp;
    const int64_t dh = hp->d_head, H = hp->n_head, per = H + s->n_kv;
    int64_t w0, w1;
    mm_split_range(c->n * per, ith, nth, &w0, &w1);
    for (int64_t w = w0; w < w1; w++) {
        const int64_t i = w / per, hd = w % per;
        float *x = hd < H ? c->q + i * c->ldq + hd * dh : c->k + i * c->ldk + (hd - H) * dh;
        mm_gpt_rope_apply(x, s->rope_cs + i * hp->n_rot, hp->n_rot, s->A->rope);
    }
}

static void task_swiglu(void *vctx, int ith, int nth) { /* ff = silu(ff) * ff2 */
    task_ctx *c = vctx;
    int64_t i0, i1;
    mm_split_range(c->n * c->width, ith, nth, &i0, &i1);
    if (i1 > i0) mm_gpt_swiglu(c->s->ff + i0, c->s->ff2 + i0, i1 - i0);
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

/* Attention of query head hd (q[d_head]) at position pos of one layer into o[d_head], over the cached
 * keys/values of its key/value head hd / group; sc = per-thread scratch [n_ctx + ...]. */
static void attn_one(mm_gpt_state *s, int64_t layer, int64_t pos, const float *q, int64_t hd, float *o, float *sc) {
    const int64_t dh = s->m->hp.d_head;
    const size_t lo = (size_t)(layer - s->l0) * (size_t)(s->n_ctx * s->dkv) * s->kv_esz; /* this layer's cache */
    const size_t ho = (size_t)((hd / s->group) * s->n_ctx * dh) * s->kv_esz;      /* its kv head's slice */
    const uint8_t *K = (const uint8_t *)s->k_cache + lo + ho, *V = (const uint8_t *)s->v_cache + lo + ho;
    s->attn(q, K, V, pos + 1, dh, 1.0f / sqrtf((float)dh), s->kv_f16, sc, sc + s->n_ctx, o); /* causal: [0, pos] */
}

/* Attention for few rows: work items (row, head) split over threads; scores in per-thread scratch. */
static void task_attn_rows(void *vctx, int ith, int nth) {
    task_ctx *c = vctx;
    mm_gpt_state *s = c->s;
    const int64_t H = s->m->hp.n_head, dh = s->m->hp.d_head;
    float *sc = s->thr + (int64_t)ith * s->thr_stride;
    int64_t w0, w1;
    mm_split_range(c->n * H, ith, nth, &w0, &w1);
    for (int64_t w = w0; w < w1; w++) {
        const int64_t i = w / H, hd = w % H;
        attn_one(s, c->layer, c->pos0 + i, c->q + i * c->ldq + hd * dh, hd, s->att + i * s->dq + hd * dh, sc);
    }
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

/* Y[n, rows] = X[n, cols] W^T (+ bias): core's linear layer, which chooses the kernel by type and n (mm_linear in
 * mm_core.h: a prompt of <= MM_MATVEC_MULTI_GROUP positions at F16/BF16 takes one multi-vector matvec pass, each
 * position then equal bit for bit to a single decode step when attention also runs per row (below 8 positions:
 * tests/transformer/test_gpt_batch.c)). */
static void lin(mm_gpt_state *s, const mm_mat *w, const float *bias, int64_t n, const float *X, float *Y) {
    mm_linear(s->pool, w->type, w->data, bias, w->rows, w->cols, n, X, Y);
}

/* Store key k[d_head] and value v[d_head] of key/value head hd at position pos in layer l's cache (f16
 * when kv_f16). */
static void kv_store(mm_gpt_state *s, int64_t l, int64_t pos, const float *k, const float *v, int64_t hd) {
    const int64_t dh = s->m->hp.d_head;
    const size_t at = (size_t)((l - s->l0) * s->n_ctx * s->dkv + (hd * s->n_ctx + pos) * dh) * s->kv_esz;
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
 * split into items; a thread starts claiming a phase once the previous phase's items are all done. Each
 * pool thread owns a contiguous range of a phase's items (phase_ranges) and claims them front to back, so it
 * streams one run of rows (prefetchers keep going across its items), then helps the others from the back
 * of their ranges (claim_item). Against one shared counter (items alternating between the threads): tg at 2
 * threads 1.07-1.21x for Q8_0/Q4_0 on a quiet host, equal under load; B=8 steps 1.02-1.16x (bench/README.md,
 * "Contiguous item ranges per thread"). It only ever waits for items that another running
 * thread has claimed (never for one nobody started: the caller alone can finish the step, taking every
 * range), so this keeps the pool's rule. Every output
 * element is computed by the same code whichever thread claims it: results do not depend on the number
 * of threads or on who ran what. The table of phases is built once, at state creation (phases_build);
 * with one thread each product is one item. Measured against one pool run per operation (the former
 * second path): faster at 2 threads (bench_decoder tg128), equal at 1. */
typedef struct {
    mm_gpt_state *s;
    float        *logits; /* logits rows [n_vocab] */
} step_ctx;

/* Rows per item of a matrix phase: ~per_thread items per pool thread. The decode step takes 3 (each item quantizes x
 * again; 8 and 16 were no faster); the batched step 6 (x is quantized once per phase for all its items, mm_multi_x, and
 * a phase's last item is 8 vectors' work: B=8 at 2 threads Q8_0 0.98-1.09x, Q4_0 1.02-1.09x, Q4_K_M 1.08-1.10x of 3
 * items, F16 equal; bench/README.md "Batched decode: 6 items per thread"). */
static int64_t rows_chunk(int64_t rows, int nth, int per_thread) {
    if (nth == 1) return rows;
    int64_t c = rows / (per_thread * (int64_t)nth);
    c = (c + 15) & ~(int64_t)15;
    return c < 16 ? 16 : c;
}

static int phases_build(mm_gpt_state *s) {
    const mm_gpt_hparams *hp = &s->m->hp;
    const int64_t d = hp->d_model;
    s->n_ph = 7 * (s->l1 - s->l0) + 1;
    s->ph = aligned_alloc(64, sizeof *s->ph * (size_t)s->n_ph);
    s->own = aligned_alloc(64, sizeof *s->own * (size_t)s->n_ph * (size_t)s->nth);
    if (!s->ph || !s->own) return -1;
    for (int64_t p = 0; p < s->n_ph; p++) {
        struct dec_phase *ph = &s->ph[p];
        ph->kind = p == s->n_ph - 1 ? PH_LOGITS : (ph_kind)(p % 7);
        ph->layer = s->l0 + p / 7;
        const int64_t rows[] = {[PH_QKV] = s->dq + 2 * s->dkv, [PH_ATT] = s->n_kv, [PH_OUT] = d, [PH_LN2] = 1,
                                [PH_UP] = hp->d_ff, [PH_DOWN] = d, [PH_NORM] = 1, [PH_LOGITS] = hp->n_vocab};
        const bool matrix = ph->kind == PH_QKV || ph->kind == PH_OUT || ph->kind == PH_UP || ph->kind == PH_DOWN ||
                            ph->kind == PH_LOGITS;
        ph->rows = rows[ph->kind];
        ph->chunk = matrix ? rows_chunk(ph->rows, s->nth, 3) : 1;
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
static void mat_rows(mm_gpt_state *s, int ith, const mm_mat *w, const float *bias, int64_t r0, int64_t r1,
                     const float *x, float *y) {
    mm_matvec_rows(s->pool, ith, w->type, w->data, r0, r1, w->cols, x, y);
    if (bias) mm_add(y + r0, y + r0, bias + r0, r1 - r0);
}

/* rows [r0, r1) of q | k | v = (attn_qkv, or attn_q, attn_k, attn_v stacked) x */
static void qkv_rows(mm_gpt_state *s, int ith, const mm_gpt_layer *ly, int64_t r0, int64_t r1, const float *x,
                     float *y) {
    if (ly->qkv.data) {
        mat_rows(s, ith, &ly->qkv, ly->qkv.b, r0, r1, x, y);
        return;
    }
    const mm_mat *w[3] = {&ly->q, &ly->k, &ly->v};
    const float *b[3] = {ly->q.b, ly->k.b, ly->v.b};
    for (int i = 0, off = 0; i < 3; off += (int)w[i]->rows, i++) {
        const int64_t lo = r0 > off ? r0 : off, hi = r1 < off + w[i]->rows ? r1 : off + w[i]->rows;
        if (lo < hi) mat_rows(s, ith, w[i], b[i], lo - off, hi - off, x, y + off);
    }
}

/* Decode: key/value head g of the position's q | k | v (s->qkv): rotate and cache its key and value, then
 * attend with its group of query heads. */
static void step_heads(mm_gpt_state *s, int64_t l, int64_t g, float *sc) {
    const mm_gpt_hparams *hp = &s->m->hp;
    const int64_t dh = hp->d_head, pos = s->n_past;
    const bool rope = s->rope_cs != NULL;
    float *k = s->qkv + s->dq + g * dh, *v = s->qkv + s->dq + s->dkv + g * dh;
    if (rope) mm_gpt_rope_apply(k, s->rope_cs, hp->n_rot, s->A->rope);
    kv_store(s, l, pos, k, v, g);
    for (int64_t hd = g * s->group; hd < (g + 1) * s->group; hd++) {
        float *q = s->qkv + hd * dh;
        if (rope) mm_gpt_rope_apply(q, s->rope_cs, hp->n_rot, s->A->rope);
        attn_one(s, l, pos, q, hd, s->att + hd * dh, sc);
    }
}

static void step_item(step_ctx *c, const struct dec_phase *ph, int64_t item, int ith, float *sc) {
    mm_gpt_state *s = c->s;
    const mm_gpt_model *m = s->m;
    const mm_gpt_hparams *hp = &m->hp;
    const int64_t l = ph->layer;
    const mm_gpt_layer *ly = &m->layers[l < hp->n_layer ? l : 0];
    const int64_t r0 = item * ph->chunk, r1 = r0 + ph->chunk < ph->rows ? r0 + ph->chunk : ph->rows;
    switch (ph->kind) {
    case PH_QKV: qkv_rows(s, ith, ly, r0, r1, s->h, s->qkv); break;
    case PH_ATT: step_heads(s, l, item, sc); break;
    case PH_OUT:
        mat_rows(s, ith, &ly->out, ly->out.b, r0, r1, s->att, s->tmp);
        mm_add(s->x + r0, s->x + r0, s->tmp + r0, r1 - r0);
        break;
    case PH_LN2: norm_row(s, s->h, s->x, ly->ln2_w, ly->ln2_b); break;
    case PH_UP:
        if (ly->gate.data) { /* SwiGLU */
            mat_rows(s, ith, &ly->gate, NULL, r0, r1, s->h, s->ff);
            mat_rows(s, ith, &ly->up, ly->up.b, r0, r1, s->h, s->ff2);
            mm_gpt_swiglu(s->ff + r0, s->ff2 + r0, r1 - r0);
        } else {
            mat_rows(s, ith, &ly->up, ly->up.b, r0, r1, s->h, s->ff);
            mm_gelu_tanh(s->ff + r0, r1 - r0);
        }
        break;
    case PH_DOWN:
        mat_rows(s, ith, &ly->down, ly->down.b, r0, r1, s->ff, s->tmp);
        mm_add(s->x + r0, s->x + r0, s->tmp + r0, r1 - r0);
        break;
    case PH_NORM: /* the next block's LN1, or the output norm after the last block (a pipeline rank whose
                     layers end before that passes x on as it is) */
        if (l + 1 < s->l1) norm_row(s, s->h, s->x, m->layers[l + 1].ln1_w, m->layers[l + 1].ln1_b);
        else if (l + 1 == hp->n_layer) norm_row(s, s->h, s->x, m->out_norm_w, m->out_norm_b);
        break;
    case PH_LOGITS: mat_rows(s, ith, &m->output, NULL, r0, r1, s->h, c->logits); break;
    }
}

/* Items [0, n) of a phase as nth contiguous ranges (mm_split_range), one per pool thread. */
static void phase_ranges(struct own_range *own, int nth, int n) {
    for (int t = 0; t < nth; t++) {
        int64_t f, b;
        mm_split_range(n, t, nth, &f, &b);
        atomic_store_explicit(&own[t].fb, (uint64_t)b << 32 | (uint64_t)f, memory_order_relaxed);
    }
}

/* an item of range r: from the front (its owner) or the back (a helper); -1 when none is left */
static int take_item(struct own_range *r, bool back) {
    uint64_t v = atomic_load_explicit(&r->fb, memory_order_relaxed);
    for (;;) {
        const uint32_t f = (uint32_t)v, b = (uint32_t)(v >> 32);
        if (f >= b) return -1;
        const uint64_t w = back ? ((uint64_t)(b - 1) << 32 | f) : ((uint64_t)b << 32 | (f + 1));
        if (atomic_compare_exchange_weak_explicit(&r->fb, &v, w, memory_order_relaxed, memory_order_relaxed))
            return back ? (int)(b - 1) : (int)f;
    }
}

/* Thread ith's next item of a phase: its own range front to back, then the other threads' ranges from their back
 * end; -1 when none is left. *k: the range being searched (0 at the phase's start). */
static int claim_item(struct own_range *own, int nth, int ith, int *k) {
    for (; *k < nth; ++*k) {
        const int it = take_item(&own[(ith + *k) % nth], *k > 0);
        if (it >= 0) return it;
    }
    return -1;
}

static void task_step(void *vctx, int ith, int nth) {
    (void)nth; /* = s->nth: the ranges are searched over s->nth */
    step_ctx *c = vctx;
    mm_gpt_state *s = c->s;
    float *sc = s->thr + (int64_t)ith * s->thr_stride;
    for (int64_t p = 0; p < s->n_ph; p++) {
        struct dec_phase *ph = &s->ph[p];
        if (p > 0) wait_phase(&s->ph[p - 1]);
        for (int k = 0, it; (it = claim_item(s->own + p * s->nth, s->nth, ith, &k)) >= 0;) {
            step_item(c, ph, it, ith, sc);
            atomic_fetch_add_explicit(&ph->done, 1, memory_order_release);
        }
    }
}

/* One position at s->n_past; its logits into `logits` (NULL: none wanted). */
static void decode_step(mm_gpt_state *s, const mm_gpt_input *in, const int32_t *tokens, const float *x_in,
                        float *logits) {
    const mm_gpt_model *m = s->m;
    const int64_t d = m->hp.d_model;
    task_ctx e = {.s = s, .in = in, .tokens = tokens, .x_in = x_in, .n = 1, .pos0 = s->n_past, .width = d};
    task_embed(&e, 0, 1);
    norm_row(s, s->h, s->x, m->layers[s->l0].ln1_w, m->layers[s->l0].ln1_b);
    if (s->rope_cs) mm_gpt_rope_cache(&m->hp, m->rope_freqs, s->n_past, s->rope_cs);
    for (int64_t p = 0; p < s->n_ph; p++) {
        struct dec_phase *ph = &s->ph[p];
        ph->n = ph->kind == PH_LOGITS && !logits ? 0 : (int)((ph->rows + ph->chunk - 1) / ph->chunk);
        atomic_store_explicit(&ph->done, 0, memory_order_relaxed);
        phase_ranges(s->own + p * s->nth, s->nth, ph->n);
    }
    step_ctx c = {s, s->l1 == m->hp.n_layer ? logits : NULL};
    mm_pool_run(s->pool, task_step, &c); /* publishes the counters (release) */
    s->n_past += 1;
}

/* A batch of 1 < n <= n_batch positions starting at s->n_past (prefill: sgemm over the batch). */
static void forward_out(mm_gpt_state *s, int64_t n, float *logits_all, bool want_last);

/* The state's layers over a batch of 1 < n <= n_batch positions starting at s->n_past (prefill: sgemm over
 * the batch); the residual rows stay in s->x. */
static void forward_layers(mm_gpt_state *s, const mm_gpt_input *in, const int32_t *tokens, const float *x_in,
                           int64_t n) {
    const mm_gpt_model *m = s->m;
    const mm_gpt_hparams *hp = &m->hp;
    const int64_t d = hp->d_model, ff = hp->d_ff, dh = hp->d_head, pos0 = s->n_past, T = pos0 + n;
    const int64_t dq = s->dq, dkv = s->dkv;
    task_ctx c = {.s = s, .in = in, .tokens = tokens, .x_in = x_in, .n = n, .pos0 = pos0, .width = d};
    if (n < 8) task_embed(&c, 0, 1); /* a few rows: not worth waking the pool */
    else mm_pool_run(s->pool, task_embed, &c);
    if (s->rope_cs)
        for (int64_t i = 0; i < n; i++) mm_gpt_rope_cache(hp, m->rope_freqs, pos0 + i, s->rope_cs + i * hp->n_rot);
    for (int64_t l = s->l0; l < s->l1; l++) {
        const mm_gpt_layer *ly = &m->layers[l];
        /* attention block */
        c.y = s->h, c.x = s->x, c.w = ly->ln1_w, c.b = ly->ln1_b, c.width = d;
        run_rows(s->pool, task_layernorm, &c);
        if (ly->qkv.data) { /* fused: rows q | k | v */
            lin(s, &ly->qkv, ly->qkv.b, n, s->h, s->qkv);
            c.q = s->qkv, c.k = s->qkv + d, c.ldq = c.ldk = 3 * d;
        } else { /* planes Q [n, dq] | K [n, dkv] | V [n, dkv] */
            c.q = s->qkv, c.k = s->qkv + n * dq, c.ldq = dq, c.ldk = dkv;
            lin(s, &ly->q, ly->q.b, n, s->h, c.q);
            lin(s, &ly->k, ly->k.b, n, s->h, c.k);
            lin(s, &ly->v, ly->v.b, n, s->h, c.k + n * dkv);
        }
        const float *Vr = ly->qkv.data ? s->qkv + 2 * d : c.k + n * dkv; /* values, rows ldk apart */
        if (s->rope_cs) {
            c.width = (hp->n_head + s->n_kv) * dh;
            run_rows(s->pool, task_rope, &c);
        }
        const size_t lo = (size_t)(l - s->l0) * (size_t)(s->n_ctx * dkv) * s->kv_esz;
        uint8_t *Kl = (uint8_t *)s->k_cache + lo, *Vl = (uint8_t *)s->v_cache + lo;
        for (int64_t i = 0; i < n; i++)
            for (int64_t g = 0; g < s->n_kv; g++)
                kv_store(s, l, pos0 + i, c.k + i * c.ldk + g * dh, Vr + i * c.ldk + g * dh, g);
        c.layer = l;
        if (n < ATT_SGEMM_MIN) {
            if (T * dq < 8192) task_attn_rows(&c, 0, 1);
            else mm_pool_run(s->pool, task_attn_rows, &c);
        } else {
            const float scale = 1.0f / sqrtf((float)dh);
            for (int64_t g = 0; g < s->n_kv; g++) {
                const size_t ho = (size_t)(g * s->n_ctx * dh) * s->kv_esz;
                const float *Kh = (const float *)(Kl + ho), *Vh = (const float *)(Vl + ho);
                if (s->kv_f16) { /* sgemm needs f32: convert this head's T rows once */
                    mm_dequantize_row(MM_TYPE_F16, Kl + ho, s->kv_tmp, T * dh);
                    mm_dequantize_row(MM_TYPE_F16, Vl + ho, s->kv_tmp + s->n_ctx * dh, T * dh);
                    Kh = s->kv_tmp, Vh = s->kv_tmp + s->n_ctx * dh;
                }
                for (int64_t hd = g * s->group; hd < (g + 1) * s->group; hd++) {
                    /* scores[n, T] = scale * Q_h[n, dh] . K_h[T, dh]^T */
                    mm_sgemm(s->pool, true, n, T, dh, scale, c.q + hd * dh, c.ldq, Kh, dh, 0.0f, s->scores, T);
                    c.width = T;
                    run_rows(s->pool, task_mask_softmax, &c);
                    /* att_h[n, dh] = P[n, T] . V_h[T, dh] */
                    mm_sgemm(s->pool, false, n, dh, T, 1.0f, s->scores, T, Vh, dh, 0.0f, s->att + hd * dh, dq);
                }
            }
        }
        lin(s, &ly->out, ly->out.b, n, s->att, s->tmp);
        c.y = s->x, c.x = s->tmp, c.width = d;
        run_rows(s->pool, task_add, &c);
        /* MLP block */
        c.y = s->h, c.x = s->x, c.w = ly->ln2_w, c.b = ly->ln2_b, c.width = d;
        run_rows(s->pool, task_layernorm, &c);
        if (ly->gate.data) { /* SwiGLU: ff = silu(gate h) * (up h) */
            lin(s, &ly->gate, NULL, n, s->h, s->ff);
            lin(s, &ly->up, ly->up.b, n, s->h, s->ff2);
            c.width = ff;
            run_rows(s->pool, task_swiglu, &c);
        } else {
            lin(s, &ly->up, ly->up.b, n, s->h, s->ff);
            c.y = s->ff, c.width = ff;
            run_rows(s->pool, task_gelu, &c);
        }
        lin(s, &ly->down, ly->down.b, n, s->ff, s->tmp);
        c.y = s->x, c.x = s->tmp, c.width = d;
        run_rows(s->pool, task_add, &c);
    }
    s->n_past += n;
}

/* Output norm and logits of the n residual rows in s->x: all of them into logits_all, or the last one's. */
static void forward_out(mm_gpt_state *s, int64_t n, float *logits_all, bool want_last) {
    const mm_gpt_model *m = s->m;
    const mm_gpt_hparams *hp = &m->hp;
    const int64_t d = hp->d_model;
    task_ctx c = {.s = s, .n = n};
    const int64_t V = hp->n_vocab;
    if (logits_all) {
        c.y = s->h, c.x = s->x, c.w = m->out_norm_w, c.b = m->out_norm_b, c.width = d;
        run_rows(s->pool, task_layernorm, &c);
        lin(s, &m->output, NULL, n, s->h, logits_all);
        if (want_last) memcpy(s->logits, logits_all + (n - 1) * V, (size_t)V * sizeof(float));
    } else if (want_last) {
        norm_row(s, s->h, s->x + (n - 1) * d, m->out_norm_w, m->out_norm_b);
        lin(s, &m->output, NULL, 1, s->h, s->logits);
    }
}

/* ---------------------------------------------------------------- pipeline (mm_dist.h)
 * Rank 0 (a pipeline's send/recv set): each micro-batch of n_batch positions runs through rank 0's layers
 * and goes to the next rank (send); up to `window` micro-batches are in flight before rank 0 takes the
 * first one back from the last rank (recv) and computes its logits, so that the ranks work at the same
 * time on a long prompt. Returns -1 (err set) when the pipeline fails. */
static int eval_pipeline(mm_gpt_state *s, const mm_gpt_input *in, const int32_t *tokens, int64_t n,
                         float *logits_all, char *err) {
    const mm_gpt_pipeline *P = &s->m->pipe;
    const int64_t B = s->n_batch, V = s->m->hp.n_vocab, pos0 = s->n_past, nch = (n + B - 1) / B;
    const int64_t W = P->window > 1 ? P->window : 1;
    int64_t done = 0; /* micro-batches back from the last rank */
    for (int64_t j = 0; j < nch || done < nch; ) {
        if (j < nch && j - done < W) { /* the next micro-batch through our layers, and on */
            const int64_t c0 = j * B, nb = n - c0 < B ? n - c0 : B;
            const mm_gpt_input *bi = in ? in + c0 : NULL;
            const int32_t *bt = tokens ? tokens + c0 : NULL;
            if (nb > 1) forward_layers(s, bi, bt, NULL, nb);
            else decode_step(s, bi, bt, NULL, NULL);
            if (P->send(P->user, s->x, nb, pos0 + c0, err) != 0) return -1;
            j++;
            continue;
        }
        const int64_t c0 = done * B, nb = n - c0 < B ? n - c0 : B; /* the oldest in flight comes back */
        if (P->recv(P->user, s->x, nb, pos0 + c0, err) != 0) return -1;
        forward_out(s, nb, logits_all ? logits_all + c0 * V : NULL, c0 + nb == n);
        done++;
    }
    return 0;
}

int mm_gpt_eval_layers(mm_gpt_state *s, float *x, int64_t n, int64_t pos0, char *err) {
    if (!s || !x || n < 1) return mm_err(err, "%s: nothing to evaluate", __func__);
    if (pos0 < 0 || pos0 > s->n_past)
        return mm_err(err, "%s: rows at position %lld, but the cache holds %lld positions", __func__,
                      (long long)pos0, (long long)s->n_past);
    if (n > s->n_ctx - pos0)
        return mm_err(err, "%s: context full: %lld positions + %lld new > context length %lld", __func__,
                      (long long)pos0, (long long)n, (long long)s->n_ctx);
    s->n_past = pos0; /* a rewind on rank 0 reaches us as an earlier position */
    s->logits_valid = false;
    const int64_t d = s->m->hp.d_model;
    for (int64_t c0 = 0; c0 < n; c0 += s->n_batch) {
        const int64_t nb = n - c0 < s->n_batch ? n - c0 : s->n_batch;
        float *xc = x + c0 * d;
        if (nb > 1) forward_layers(s, NULL, NULL, xc, nb);
        else decode_step(s, NULL, NULL, xc, NULL);
        memcpy(xc, s->x, (size_t)(nb * d) * sizeof(float));
    }
    return 0;
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
    if (s->l1 < hp->n_layer && !s->m->pipe.send)
        return mm_err(err, "mm_gpt_eval: this state holds layers %lld-%lld only: use mm_gpt_eval_layers",
                      (long long)s->l0, (long long)s->l1 - 1);
    if (s->m->pipe.send) {
        if (eval_pipeline(s, in, tokens, n, logits_all, err) != 0) {
            s->n_past = n_past0;
            s->logits_valid = false;
            return -1;
        }
    } else for (int64_t c0 = 0; c0 < n; c0 += s->n_batch) {
        int64_t nb = n - c0 < s->n_batch ? n - c0 : s->n_batch;
        const mm_gpt_input *bi = in ? in + c0 : NULL;
        const int32_t *bt = tokens ? tokens + c0 : NULL;
        float *la = logits_all ? logits_all + c0 * hp->n_vocab : NULL;
        const bool last = c0 + nb == n;
        if (nb > 1) {
            forward_layers(s, bi, bt, NULL, nb);
            forward_out(s, nb, la, last);
        } else {
            decode_step(s, bi, bt, NULL, la ? la : last ? s->logits : NULL);
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

/* ---------------------------------------------------------------- batched decode across sequences
 * mm_gpt_batch_eval: n states (each its own KV cache and n_past) advance by one position each in ONE pool
 * run over the phases of a decode step (above), with every matrix product one mm_matvec_multi_rows over
 * the n input vectors: each weight tile is read from memory once for all sequences. Attention, norms and
 * the elementwise steps run per sequence with the same functions as decode_step, and the products give
 * the same rows bit for bit (core/matmul_multi.c), so every state ends with exactly the logits, cache and
 * n_past a mm_gpt_eval of its position alone would give (tests/transformer/test_gpt_batch.c, memcmp). */
struct mm_gpt_batch {
    const mm_gpt_model *m;
    mm_pool            *pool;  /* borrowed */
    int                 nth, n_max;
    int64_t             n_kv;
    struct dec_phase   *ph;    /* [n_ph]: as a state's; the heads and norms have one item per sequence */
    int64_t             n_ph;
    atomic_bool         nonfinite[MM_GPT_BATCH_MAX]; /* sequence j's logits hold a NaN/Inf (the logits items
                                                        check the rows they compute, at once on every thread) */
    mm_multi_x         *mx;    /* the phase's inputs quantized once for all its items (core: mm_matvec_multi_rows_shared) */
    uint64_t            steps; /* steps run: the key of phase p of a step is steps * n_ph + p + 1 */
    struct mstep_time  *tm;    /* [nth] each pool thread's time in steps and in phase waits (mm_gpt_batch_wait_stats) */
    struct own_range   *own;   /* [n_ph, nth] each phase's items split among the pool threads (phase_ranges) */
};

/* Pool thread ith's clock of the steps (written by the thread that runs ith only; read between steps): wall
 * time in task_mstep, and of it the time spent waiting for a phase's last items (another thread's, which a
 * descheduled thread can hold for a whole time slice). */
struct mstep_time {
    _Alignas(64) double run_ms;
    double wait_ms;
};

typedef struct {
    mm_gpt_batch        *b;
    mm_gpt_state *const *st;
    int                  n;
    uint64_t             key0; /* + phase index: the shared-input key (mm_gpt_batch.steps) */
} mstep_ctx;

/* rows [r0, r1) of y_j = W x_j (+ bias) for the n states, x_j / y_j the field at byte offset xo / yo of each
 * state (plus yadd floats: a slice of q | k | v) */
static void mat_rows_multi(const mstep_ctx *c, int ith, const struct dec_phase *ph, const mm_mat *w,
                           const float *bias, int64_t r0, int64_t r1, size_t xo, size_t yo, int64_t yadd) {
    const float *xs[MM_GPT_BATCH_MAX];
    float *ys[MM_GPT_BATCH_MAX];
    for (int j = 0; j < c->n; j++) {
        xs[j] = *(float *const *)((const char *)c->st[j] + xo);
        ys[j] = *(float *const *)((const char *)c->st[j] + yo) + yadd;
    }
    mm_matvec_multi_rows_shared(c->b->pool, ith, w->type, w->data, r0, r1, w->cols, c->n, xs, ys, c->b->mx,
                                c->key0 + (uint64_t)(ph - c->b->ph));
    if (bias)
        for (int j = 0; j < c->n; j++) mm_add(ys[j] + r0, ys[j] + r0, bias + r0, r1 - r0);
}

#define SOFF(field) offsetof(struct mm_gpt_state, field)

static void mstep_item(const mstep_ctx *c, const struct dec_phase *ph, int64_t item, int ith) {
    const mm_gpt_model *m = c->b->m;
    const mm_gpt_hparams *hp = &m->hp;
    const int64_t l = ph->layer;
    const mm_gpt_layer *ly = &m->layers[l < hp->n_layer ? l : 0];
    const int64_t r0 = item * ph->chunk, r1 = r0 + ph->chunk < ph->rows ? r0 + ph->chunk : ph->rows;
    switch (ph->kind) {
    case PH_QKV:
        if (ly->qkv.data) {
            mat_rows_multi(c, ith, ph, &ly->qkv, ly->qkv.b, r0, r1, SOFF(h), SOFF(qkv), 0);
        } else { /* rows of attn_q | attn_k | attn_v stacked, as qkv_rows */
            const mm_mat *w[3] = {&ly->q, &ly->k, &ly->v};
            const float *b[3] = {ly->q.b, ly->k.b, ly->v.b};
            for (int i = 0, off = 0; i < 3; off += (int)w[i]->rows, i++) {
                const int64_t lo = r0 > off ? r0 : off, hi = r1 < off + w[i]->rows ? r1 : off + w[i]->rows;
                if (lo < hi) mat_rows_multi(c, ith, ph, w[i], b[i], lo - off, hi - off, SOFF(h), SOFF(qkv), off);
            }
        }
        break;
    case PH_ATT: { /* item = sequence j, key/value head g */
        mm_gpt_state *s = c->st[item / c->b->n_kv];
        step_heads(s, l, item % c->b->n_kv, s->thr + (int64_t)ith * s->thr_stride);
        break;
    }
    case PH_OUT:
        mat_rows_multi(c, ith, ph, &ly->out, ly->out.b, r0, r1, SOFF(att), SOFF(tmp), 0);
        for (int j = 0; j < c->n; j++) mm_add(c->st[j]->x + r0, c->st[j]->x + r0, c->st[j]->tmp + r0, r1 - r0);
        break;
    case PH_LN2: norm_row(c->st[item], c->st[item]->h, c->st[item]->x, ly->ln2_w, ly->ln2_b); break;
    case PH_UP:
        if (ly->gate.data) { /* SwiGLU */
            mat_rows_multi(c, ith, ph, &ly->gate, NULL, r0, r1, SOFF(h), SOFF(ff), 0);
            mat_rows_multi(c, ith, ph, &ly->up, ly->up.b, r0, r1, SOFF(h), SOFF(ff2), 0);
            for (int j = 0; j < c->n; j++) mm_gpt_swiglu(c->st[j]->ff + r0, c->st[j]->ff2 + r0, r1 - r0);
        } else {
            mat_rows_multi(c, ith, ph, &ly->up, ly->up.b, r0, r1, SOFF(h), SOFF(ff), 0);
            for (int j = 0; j < c->n; j++) mm_gelu_tanh(c->st[j]->ff + r0, r1 - r0);
        }
        break;
    case PH_DOWN:
        mat_rows_multi(c, ith, ph, &ly->down, ly->down.b, r0, r1, SOFF(ff), SOFF(tmp), 0);
        for (int j = 0; j < c->n; j++) mm_add(c->st[j]->x + r0, c->st[j]->x + r0, c->st[j]->tmp + r0, r1 - r0);
        break;
    case PH_NORM: { /* the next block's LN1, or the output norm after the last block */
        mm_gpt_state *s = c->st[item];
        if (l + 1 < hp->n_layer) norm_row(s, s->h, s->x, m->layers[l + 1].ln1_w, m->layers[l + 1].ln1_b);
        else norm_row(s, s->h, s->x, m->out_norm_w, m->out_norm_b);
        break;
    }
    case PH_LOGITS:
        mat_rows_multi(c, ith, ph, &m->output, NULL, r0, r1, SOFF(h), SOFF(logits), 0);
        for (int j = 0; j < c->n; j++)
            if (mm_find_nonfinite(c->st[j]->logits + r0, r1 - r0) >= 0)
                atomic_store_explicit(&c->b->nonfinite[j], true, memory_order_relaxed);
        break;
    }
}

static void task_mstep(void *vctx, int ith, int nth) {
    (void)nth; /* = b->nth */
    const mstep_ctx *c = vctx;
    mm_gpt_batch *b = c->b;
    const double t0 = mm_time_ms();
    double wait = 0;
    for (int64_t p = 0; p < b->n_ph; p++) {
        struct dec_phase *ph = &b->ph[p];
        if (p > 0 && atomic_load_explicit(&b->ph[p - 1].done, memory_order_acquire) < b->ph[p - 1].n) {
            const double w0 = mm_time_ms(); /* the clock only when there is a wait (about 20 ns a read) */
            wait_phase(&b->ph[p - 1]);
            wait += mm_time_ms() - w0;
        }
        for (int k = 0, it; (it = claim_item(b->own + p * b->nth, b->nth, ith, &k)) >= 0;) {
            mstep_item(c, ph, it, ith);
            atomic_fetch_add_explicit(&ph->done, 1, memory_order_release);
        }
    }
    b->tm[ith].run_ms += mm_time_ms() - t0;
    b->tm[ith].wait_ms += wait;
}

void mm_gpt_batch_wait_stats(const mm_gpt_batch *b, double *run_ms, double *wait_ms) {
    double r = 0, w = 0;
    for (int i = 0; b && i < b->nth; i++) r += b->tm[i].run_ms, w += b->tm[i].wait_ms;
    if (run_ms) *run_ms = r;
    if (wait_ms) *wait_ms = w;
}

mm_gpt_batch *mm_gpt_batch_create(const mm_gpt_model *m, int n_max, mm_pool *pool, char *err) {
    if (!m) {
        mm_err(err, "%s: no model", __func__);
        return NULL;
    }
    if (n_max < 1 || n_max > MM_GPT_BATCH_MAX) {
        mm_err(err, "%s: %d sequences is outside [1, %d]", __func__, n_max, MM_GPT_BATCH_MAX);
        return NULL;
    }
    const mm_gpt_hparams *hp = &m->hp;
    if (m->pipe.send || m->pipe.layer_begin != 0 || (m->pipe.layer_end && m->pipe.layer_end != hp->n_layer)) {
        mm_err(err, "%s: the model is one rank of a pipeline: batched decode needs every layer", __func__);
        return NULL;
    }
    mm_gpt_batch *b = calloc(1, sizeof *b);
    if (!b) {
        mm_err(err, "%s: out of memory", __func__);
        return NULL;
    }
    b->m = m, b->pool = pool, b->n_max = n_max, b->nth = mm_pool_n_threads(pool);
    b->n_kv = hp->n_head_kv ? hp->n_head_kv : hp->n_head;
    const int64_t dq = hp->n_head * hp->d_head, dkv = b->n_kv * hp->d_head, d = hp->d_model;
    int64_t widest = hp->d_ff > d ? hp->d_ff : d;
    if (dq > widest) widest = dq;
    /* the same phases as a state's decode step (phases_build) */
    b->n_ph = 7 * hp->n_layer + 1;
    b->ph = aligned_alloc(64, sizeof *b->ph * (size_t)b->n_ph);
    b->tm = aligned_alloc(64, sizeof *b->tm * (size_t)b->nth);
    b->own = aligned_alloc(64, sizeof *b->own * (size_t)b->n_ph * (size_t)b->nth);
    if (b->tm) memset(b->tm, 0, sizeof *b->tm * (size_t)b->nth);
    if (!b->ph || !b->tm || !b->own) {
        free(b->ph);
        free(b->tm);
        free(b->own);
        mm_err(err, "%s: out of memory", __func__);
        free(b);
        return NULL;
    }
    for (int64_t p = 0; p < b->n_ph; p++) {
        struct dec_phase *ph = &b->ph[p];
        ph->kind = p == b->n_ph - 1 ? PH_LOGITS : (ph_kind)(p % 7);
        ph->layer = p / 7;
        const int64_t rows[] = {[PH_QKV] = dq + 2 * dkv, [PH_ATT] = b->n_kv, [PH_OUT] = d, [PH_LN2] = 1,
                                [PH_UP] = hp->d_ff, [PH_DOWN] = d, [PH_NORM] = 1, [PH_LOGITS] = hp->n_vocab};
        const bool per_seq = ph->kind == PH_ATT || ph->kind == PH_LN2 || ph->kind == PH_NORM;
        ph->rows = rows[ph->kind];
        ph->chunk = per_seq ? 1 : rows_chunk(ph->rows, b->nth, 6);
    }
    if (mm_kernels_reserve_multi(pool, widest, n_max, err) != 0 || !(b->mx = mm_multi_x_create(widest, n_max, err))) {
        mm_gpt_batch_free(b);
        return NULL;
    }
    return b;
}

void mm_gpt_batch_free(mm_gpt_batch *b) {
    if (!b) return;
    mm_multi_x_free(b->mx);
    free(b->ph);
    free(b->tm);
    free(b->own);
    free(b);
}

int mm_gpt_batch_n_max(const mm_gpt_batch *b) { return b ? b->n_max : 0; }

/* The checks of mm_gpt_batch_eval, before anything is evaluated. */
static int batch_check(const mm_gpt_batch *b, mm_gpt_state *const *st, const mm_gpt_input *in, int n, char *err) {
    if (!b || !st || !in || n < 1) return mm_err(err, "mm_gpt_batch_eval: nothing to evaluate");
    if (n > b->n_max)
        return mm_err(err, "mm_gpt_batch_eval: %d sequences, the batch was created for at most %d", n, b->n_max);
    for (int j = 0; j < n; j++) {
        const mm_gpt_state *s = st[j];
        if (!s) return mm_err(err, "mm_gpt_batch_eval: state %d is NULL", j);
        if (s->m != b->m) return mm_err(err, "mm_gpt_batch_eval: state %d belongs to another model", j);
        if (s->nth < b->nth)
            return mm_err(err, "mm_gpt_batch_eval: state %d has %d threads' scratch, the batch's pool runs %d", j, s->nth,
                          b->nth);
        for (int i = 0; i < j; i++)
            if (st[i] == s) return mm_err(err, "mm_gpt_batch_eval: state %d is also state %d", j, i);
        if (s->n_past >= s->n_ctx)
            return mm_err(err, "mm_gpt_batch_eval: state %d: context full: %lld positions in the cache + 1 new > "
                          "context length %lld", j, (long long)s->n_past, (long long)s->n_ctx);
        if (!in[j].embd && (in[j].token < 0 || in[j].token >= b->m->hp.n_vocab))
            return mm_err(err, "mm_gpt_batch_eval: state %d: token %d is outside the vocabulary [0, %lld)", j, in[j].token,
                          (long long)b->m->hp.n_vocab);
    }
    return 0;
}

int mm_gpt_batch_eval(mm_gpt_batch *b, mm_gpt_state *const *st, const mm_gpt_input *in, int n, int *rc, char *err) {
    if (batch_check(b, st, in, n, err) != 0) return -1;
    const mm_gpt_model *m = b->m;
    const int64_t d = m->hp.d_model;
    for (int j = 0; j < n; j++) { /* embedding, LN1 and rotary table of each sequence, as decode_step */
        mm_gpt_state *s = st[j];
        task_ctx e = {.s = s, .in = in + j, .n = 1, .pos0 = s->n_past, .width = d};
        task_embed(&e, 0, 1);
        norm_row(s, s->h, s->x, m->layers[0].ln1_w, m->layers[0].ln1_b);
        if (s->rope_cs) mm_gpt_rope_cache(&m->hp, m->rope_freqs, s->n_past, s->rope_cs);
    }
    for (int64_t p = 0; p < b->n_ph; p++) {
        struct dec_phase *ph = &b->ph[p];
        const bool per_seq = ph->kind == PH_LN2 || ph->kind == PH_NORM;
        ph->n = ph->kind == PH_ATT ? (int)(n * b->n_kv) : per_seq ? n : (int)((ph->rows + ph->chunk - 1) / ph->chunk);
        atomic_store_explicit(&ph->done, 0, memory_order_relaxed);
        phase_ranges(b->own + p * b->nth, b->nth, ph->n);
    }
    for (int j = 0; j < n; j++) atomic_store_explicit(&b->nonfinite[j], false, memory_order_relaxed);
    mstep_ctx c = {b, st, n, b->steps * (uint64_t)b->n_ph + 1};
    b->steps++;
    mm_pool_run(b->pool, task_mstep, &c); /* publishes the counters and flags; returns when all are done */
    int ret = 0;
    char e[MM_ERR_SIZE];
    for (int j = 0; j < n; j++) { /* NaN/Inf logits: that state is left as it was (as mm_gpt_eval) */
        mm_gpt_state *s = st[j];
        const int r = atomic_load_explicit(&b->nonfinite[j], memory_order_relaxed)
                          ? mm_gpt_check_logits(s->logits, 1, m->hp.n_vocab, s->n_past, e) : 0;
        s->logits_valid = r == 0;
        if (r == 0) s->n_past += 1;
        else {
            if (ret == 0) mm_err(err, "mm_gpt_batch_eval: state %d: %s", j, e);
            ret = MM_ERR_NONFINITE;
        }
        if (rc) rc[j] = r ? MM_ERR_NONFINITE : 0;
    }
    return ret;
}
