/* enc_blocks.c - pre-LN bidirectional transformer blocks shared by the ViT and audio encoders,
 * plus loaders for single linear / LayerNorm layers (see enc_blocks.h for the manual). */
#include "enc_blocks.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- loading */

int mm_enc_hparams_check(const mm_enc_hparams *hp, char *err) {
    if (!hp) return mm_err(err, "no hyper-parameters");
    if (hp->n_layer < 0 || hp->n_layer > 1024)
        return mm_err(err, "block count %d out of range [0, 1024]", hp->n_layer);
    if (hp->d <= 0 || hp->d > 65536) return mm_err(err, "width %d out of range", hp->d);
    if (hp->d_ff <= 0 || hp->d_ff > 262144)
        return mm_err(err, "feed-forward width %d out of range", hp->d_ff);
    if (hp->n_head <= 0 || hp->n_head > hp->d || hp->d % hp->n_head)
        return mm_err(err, "head count %d does not divide width %d", hp->n_head, hp->d);
    if (!(hp->eps > 0.0f) || !(hp->eps < 1.0f))
        return mm_err(err, "layer norm epsilon %g out of range (0, 1)", (double)hp->eps);
    if (hp->act != MM_ACT_GELU_ERF && hp->act != MM_ACT_GELU_TANH && hp->act != MM_ACT_QUICK_GELU &&
        hp->act != MM_ACT_SILU)
        return mm_err(err, "unknown activation %d", (int)hp->act);
    return 0;
}

int mm_enc_check_output(const float *x, int64_t rows, int64_t d, int64_t row0, const char *what, const char *prefix,
                        char *err) {
    const int64_t i = mm_find_nonfinite(x, rows * d);
    if (i < 0) return 0;
    mm_err(err, "%s output row %lld is not finite (%s): the model file's %s weights (%s.*) hold NaN/Inf values or "
                "overflow (a corrupt or badly converted model)",
           what, (long long)(row0 + i / d), isnan(x[i]) ? "nan" : x[i] > 0 ? "inf" : "-inf", what, prefix);
    return MM_ERR_NONFINITE;
}

static bool is_1d(const mm_gguf_tensor *t) { return t->ne[1] == 1 && t->ne[2] == 1 && t->ne[3] == 1; }

int mm_enc_vec_load(const mm_gguf *g, const char *name, int64_t n, bool required, const float **out,
                    char *err) {
    *out = NULL;
    const mm_gguf_tensor *t = mm_gguf_find_tensor(g, name);
    if (!t) {
        if (required) return mm_err(err, "%s: tensor %s is missing", mm_gguf_path(g), name);
        return 0;
    }
    if (t->type != MM_TYPE_F32)
        return mm_err(err, "%s: tensor %s has type %s, f32 expected", mm_gguf_path(g), name, mm_type_name(t->type));
    if (!is_1d(t) || t->ne[0] != n)
        return mm_err(err, "%s: tensor %s has shape [%lld, %lld, %lld, %lld], [%lld] expected", mm_gguf_path(g),
                      name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                      (long long)t->ne[3], (long long)n);
    if (t->n_bytes < (size_t)n * sizeof(float) || ((uintptr_t)t->data % sizeof(float)))
        return mm_err(err, "%s: tensor %s data is short or misaligned", mm_gguf_path(g), name);
    if (mm_gguf_check_finite(g, t, true, err)) return -1;
    *out = (const float *)t->data;
    return 0;
}

int mm_enc_norm_load(const mm_gguf *g, const char *name, int64_t n, bool required, mm_enc_norm *ln,
                     char *err) {
    char kw[256], kb[256];
    memset(ln, 0, sizeof *ln);
    if (snprintf(kw, sizeof kw, "%s.weight", name) >= (int)sizeof kw ||
        snprintf(kb, sizeof kb, "%s.bias", name) >= (int)sizeof kb)
        return mm_err(err, "%s: tensor name too long", mm_gguf_path(g));
    bool hw = mm_gguf_find_tensor(g, kw) != NULL, hb = mm_gguf_find_tensor(g, kb) != NULL;
    if (!required && !hw && !hb) return 0;
    if (mm_enc_vec_load(g, kw, n, true, &ln->w, err)) return -1;
    if (mm_enc_vec_load(g, kb, n, true, &ln->b, err)) {
        ln->w = NULL;
        return -1;
    }
    ln->n = n;
    return 0;
}

/* Older converters' names (see enc_blocks.h): ffn_up ne [d_ff, d] and ffn_down ne [d, d_ff], d != d_ff. */
static bool ffn_names_swapped(const mm_gguf *g, const char *prefix, int i, int64_t d, int64_t f) {
    char nu[200], nd[200];
    if (d == f) return false;
    snprintf(nu, sizeof nu, "%s.blk.%d.ffn_up.weight", prefix, i);
    snprintf(nd, sizeof nd, "%s.blk.%d.ffn_down.weight", prefix, i);
    const mm_gguf_tensor *u = mm_gguf_find_tensor(g, nu), *w = mm_gguf_find_tensor(g, nd);
    return u && w && u->ne[0] == f && u->ne[1] == d && w->ne[0] == d && w->ne[1] == f;
}

int mm_enc_blocks_load(const mm_gguf *g, const char *prefix, const mm_enc_hparams *hp, mm_enc_blocks *b,
                       char *err) {
    memset(b, 0, sizeof *b);
    if (!g) return mm_err(err, "encoder blocks: no model");
    char e[MM_ERR_SIZE];
    if (mm_enc_hparams_check(hp, e)) return mm_err(err, "%s: %s: %s", mm_gguf_path(g), prefix, e);
    b->hp = *hp;
    if (hp->n_layer == 0) return 0;
    b->blk = calloc((size_t)hp->n_layer, sizeof *b->blk);
    if (!b->blk) return mm_err(err, "%s: out of memory", mm_gguf_path(g));
    const int64_t d = hp->d, f = hp->d_ff;
    char name[200];
    const unsigned RB = MM_MAT_REQUIRED | MM_MAT_BIAS_REQUIRED, RO = MM_MAT_REQUIRED | MM_MAT_BIAS;
    for (int i = 0; i < hp->n_layer; i++) {
        mm_enc_block *k = &b->blk[i];
#define NAME(s) (snprintf(name, sizeof name, "%s.blk.%d.%s", prefix, i, s), name)
        const bool sw = ffn_names_swapped(g, prefix, i, d, f);
        b->ffn_swapped += sw;
        if (mm_enc_norm_load(g, NAME("ln1"), d, true, &k->ln1, err) ||
            mm_gguf_mat_load(g, NAME("attn_q"), d, d, d, RB, &k->q, NULL, err) ||
            mm_gguf_mat_load(g, NAME("attn_k"), d, d, d, RO, &k->k, NULL, err) || /* Whisper: k_proj has no bias */
            mm_gguf_mat_load(g, NAME("attn_v"), d, d, d, RB, &k->v, NULL, err) ||
            mm_gguf_mat_load(g, NAME("attn_out"), d, d, d, RB, &k->o, NULL, err) ||
            mm_enc_norm_load(g, NAME("ln2"), d, true, &k->ln2, err) ||
            mm_gguf_mat_load(g, NAME(sw ? "ffn_down" : "ffn_up"), d, f, f, RB, &k->up, NULL, err) ||
            mm_gguf_mat_load(g, NAME(sw ? "ffn_up" : "ffn_down"), f, d, d, RB, &k->down, NULL, err)) {
#undef NAME
            free(b->blk);
            memset(b, 0, sizeof *b);
            return -1;
        }
    }
    return 0;
}

void mm_enc_blocks_free(mm_enc_blocks *b) {
    if (!b) return;
    free(b->blk);
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------- single layers */

typedef struct {
    const mm_enc_norm *ln;
    float              eps;
    int64_t            n;
    const float       *x;
    float             *y;
} norm_task;

static void norm_run(void *p, int ith, int nth) {
    norm_task *t = p;
    int64_t i0, i1, d = t->ln->n;
    mm_split_range(t->n, ith, nth, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) mm_layernorm(t->y + i * d, t->x + i * d, t->ln->w, t->ln->b, d, t->eps);
}

void mm_enc_norm_forward(const mm_enc_norm *ln, float eps, mm_pool *pool, int64_t n, const float *x,
                         float *y) {
    norm_task t = {ln, eps, n, x, y};
    if (n * ln->n < 16384 || !pool) norm_run(&t, 0, 1);
    else mm_pool_run(pool, norm_run, &t);
}

typedef struct {
    mm_act  act;
    float  *x;
    int64_t n;
} act_task;

static void act_apply(mm_act act, float *x, int64_t n) {
    switch (act) {
    case MM_ACT_GELU_ERF: mm_gelu_erf(x, n); break;
    case MM_ACT_GELU_TANH: mm_gelu_tanh(x, n); break;
    case MM_ACT_QUICK_GELU: mm_quick_gelu(x, n); break;
    case MM_ACT_SILU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
        break;
    }
}

static void act_run(void *p, int ith, int nth) {
    act_task *t = p;
    int64_t i0, i1;
    /* split on 16-element boundaries so every thread gets aligned, vectorisable spans */
    int64_t nb = (t->n + 15) / 16;
    mm_split_range(nb, ith, nth, &i0, &i1);
    i0 *= 16;
    i1 *= 16;
    if (i1 > t->n) i1 = t->n;
    if (i1 > i0) act_apply(t->act, t->x + i0, i1 - i0);
}

void mm_enc_act(mm_act act, mm_pool *pool, float *x, int64_t n) {
    act_task t = {act, x, n};
    if (n < 16384 || !pool) act_run(&t, 0, 1);
    else mm_pool_run(pool, act_run, &t);
}

/* ---------------------------------------------------------------- attention */

typedef struct {
    const float *q, *k, *v; /* [n][d] each */
    float       *a;         /* [n][d] output */
    float       *scores;    /* [nth][n][n] */
    int64_t      n, d, dh;
    int          n_head;
    int          n_chunk;   /* query-row chunks per head (> 1 when there are more threads than heads) */
} attn_task;

/* Work unit u = (head u / n_chunk, query rows chunk u % n_chunk); thread ith takes units ith, ith + nth, ... */
static void attn_run(void *p, int ith, int nth) {
    attn_task *t = p;
    const int64_t n = t->n, d = t->d, dh = t->dh;
    float *s = t->scores + (size_t)ith * (size_t)(n * n);
    const float scale = 1.0f / sqrtf((float)dh);
    const int n_units = t->n_head * t->n_chunk;
    for (int u = ith; u < n_units; u += nth) {
        const int j = u / t->n_chunk;
        int64_t r0, r1;
        mm_split_range(n, u % t->n_chunk, t->n_chunk, &r0, &r1);
        if (r1 <= r0) continue;
        const int64_t c = (int64_t)j * dh, m = r1 - r0;
        /* s[m][n] = q_j[r0:r1] [m][dh] . k_j^T * scale */
        mm_sgemm(NULL, true, m, n, dh, scale, t->q + r0 * d + c, d, t->k + c, d, 0.0f, s, n);
        for (int64_t i = 0; i < m; i++) mm_softmax(s + i * n, n);
        /* a_j[r0:r1] [m][dh] = s . v_j */
        mm_sgemm(NULL, false, m, dh, n, 1.0f, s, n, t->v + c, d, 0.0f, t->a + r0 * d + c, d);
    }
}

/* ---------------------------------------------------------------- forward */

static size_t al64(size_t x) { return (x + 63) & ~(size_t)63; }

/* Scratch layout (floats, each part 64-byte aligned): h, q, k, v, a [n][d]; f [n][d_ff]; s [nth][n][n]. */
size_t mm_enc_blocks_scratch_size(const mm_enc_hparams *hp, int64_t n_tokens, int n_threads) {
    if (!hp || n_tokens <= 0 || hp->d <= 0 || hp->d_ff <= 0) return 0;
    if (n_threads < 1) n_threads = 1;
    const uint64_t n = (uint64_t)n_tokens;
    if (n > (1u << 24)) return 0;
    uint64_t nd = n * (uint64_t)hp->d * 4, nf = n * (uint64_t)hp->d_ff * 4, nn = n * n * 4;
    if (nn / n != n * 4 || nn > (UINT64_C(1) << 40)) return 0;
    uint64_t tot = 5 * al64(nd) + al64(nf) + (uint64_t)n_threads * al64(nn) + 64;
    if (tot > (UINT64_C(1) << 46) || tot > SIZE_MAX) return 0;
    return (size_t)tot;
}

int mm_enc_blocks_forward(const mm_enc_blocks *b, mm_pool *pool, float *x, int64_t n_tokens, int n_layers,
                          void *scratch, size_t scratch_size, char *err) {
    const mm_enc_hparams *hp = &b->hp;
    if (n_layers < 0 || n_layers > hp->n_layer)
        return mm_err(err, "encoder blocks: %d layers asked, the model has %d", n_layers, hp->n_layer);
    if (n_tokens <= 0) return mm_err(err, "encoder blocks: no tokens");
    if (n_layers == 0) return 0;
    const int nth = mm_pool_n_threads(pool);
    size_t need = mm_enc_blocks_scratch_size(hp, n_tokens, nth);
    if (!scratch || need == 0 || scratch_size < need)
        return mm_err(err, "encoder blocks: scratch of %zu bytes is too small for %lld tokens (%zu needed)",
                      scratch_size, (long long)n_tokens, need);
    const int64_t n = n_tokens, d = hp->d, f = hp->d_ff;
    uint8_t *p = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    const size_t nd = al64((size_t)(n * d) * 4);
    float *h = (float *)p; p += nd;
    float *q = (float *)p; p += nd;
    float *k = (float *)p; p += nd;
    float *v = (float *)p; p += nd;
    float *a = (float *)p; p += nd;
    float *ff = (float *)p; p += al64((size_t)(n * f) * 4);
    float *s = (float *)p;

    for (int l = 0; l < n_layers; l++) {
        const mm_enc_block *B = &b->blk[l];
        /* attention */
        mm_enc_norm_forward(&B->ln1, hp->eps, pool, n, x, h);
        mm_mat_apply(&B->q, pool, n, h, q);
        mm_mat_apply(&B->k, pool, n, h, k);
        mm_mat_apply(&B->v, pool, n, h, v);
        attn_task at = {q, k, v, a, s, n, d, d / hp->n_head, hp->n_head, 1};
        if (nth > hp->n_head) at.n_chunk = (nth + hp->n_head - 1) / hp->n_head;
        if (nth > 1) mm_pool_run(pool, attn_run, &at);
        else attn_run(&at, 0, 1);
        mm_mat_apply(&B->o, pool, n, a, h);
        mm_add(x, x, h, n * d);
        /* MLP */
        mm_enc_norm_forward(&B->ln2, hp->eps, pool, n, x, h);
        mm_mat_apply(&B->up, pool, n, h, ff);
        mm_enc_act(hp->act, pool, ff, n * f);
        mm_mat_apply(&B->down, pool, n, ff, h);
        mm_add(x, x, h, n * d);
    }
    return 0;
}
