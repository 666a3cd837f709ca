/* model.c - load the gpt2 architecture from GGUF (llama.cpp names), checking every shape and type. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_internal.h"

/* Caps that keep every size computation far from overflow (a hostile file can claim anything). */
#define MAX_VOCAB  (1LL << 24)
#define MAX_CTX    (1LL << 20)
#define MAX_D      (1LL << 17)
#define MAX_LAYER  4096LL
#define MAX_FF     (1LL << 19)

static int get_int_key(const mm_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out, char *err) {
    int64_t v;
    if (mm_gguf_get_i64(g, key, &v) != 0)
        return mm_err(err, "%s: missing or non-integer key %s", mm_gguf_path(g), key);
    if (v < lo || v > hi)
        return mm_err(err, "%s: %s = %lld is outside [%lld, %lld]", mm_gguf_path(g), key, (long long)v,
                      (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

int mm_gpt_hparams_from_gguf(const mm_gguf *g, mm_gpt_hparams *hp, char *err) {
    const char *arch;
    size_t alen;
    if (mm_gguf_get_str(g, "general.architecture", &arch, &alen) != 0)
        return mm_err(err, "%s: missing general.architecture (expected \"gpt2\")", mm_gguf_path(g));
    if (alen != 4 || memcmp(arch, "gpt2", 4) != 0)
        return mm_err(err, "%s: general.architecture is \"%.*s\", expected \"gpt2\"", mm_gguf_path(g),
                      (int)(alen > 64 ? 64 : alen), arch);
    memset(hp, 0, sizeof *hp);
    if (get_int_key(g, "gpt2.context_length", 1, MAX_CTX, &hp->n_ctx, err) ||
        get_int_key(g, "gpt2.embedding_length", 1, MAX_D, &hp->d_model, err) ||
        get_int_key(g, "gpt2.feed_forward_length", 1, MAX_FF, &hp->d_ff, err) ||
        get_int_key(g, "gpt2.block_count", 1, MAX_LAYER, &hp->n_layer, err) ||
        get_int_key(g, "gpt2.attention.head_count", 1, MAX_D, &hp->n_head, err))
        return -1;
    if (hp->d_model % hp->n_head != 0)
        return mm_err(err, "%s: embedding_length %lld is not a multiple of head_count %lld", mm_gguf_path(g),
                      (long long)hp->d_model, (long long)hp->n_head);
    hp->d_head = hp->d_model / hp->n_head;
    float eps = 1e-5f;
    if (mm_gguf_find_key(g, "gpt2.attention.layer_norm_epsilon") >= 0 &&
        mm_gguf_get_f32(g, "gpt2.attention.layer_norm_epsilon", &eps) != 0)
        return mm_err(err, "%s: gpt2.attention.layer_norm_epsilon is not a float", mm_gguf_path(g));
    if (!(eps > 0.0f && eps < 1.0f))
        return mm_err(err, "%s: gpt2.attention.layer_norm_epsilon = %g is not in (0, 1)", mm_gguf_path(g), eps);
    hp->eps = eps;
    /* the vocabulary is the row count of token_embd */
    const mm_gguf_tensor *te = mm_gguf_find_tensor(g, "token_embd.weight");
    if (!te) return mm_err(err, "%s: missing tensor token_embd.weight", mm_gguf_path(g));
    if (te->n_dims != 2 || te->ne[1] < 1 || te->ne[1] > MAX_VOCAB)
        return mm_err(err, "%s: token_embd.weight must be 2-D [d_model, n_vocab <= %lld]", mm_gguf_path(g),
                      (long long)MAX_VOCAB);
    hp->n_vocab = te->ne[1];
    return 0;
}

/* ---- tensor lookup with checks */
typedef struct {
    const mm_gguf *g;
    char          *err;
    float        **vecs;     /* owned f32 copies (model->vec_mem), one allocation each */
    size_t         n_vecs, cap_vecs;
} loader;

static int get_mat(loader *L, const char *name, int64_t cols, int64_t rows_min, int64_t rows_max, bool required,
                   mm_gpt_mat *m) {
    const mm_gguf_tensor *t = mm_gguf_find_tensor(L->g, name);
    memset(m, 0, sizeof *m);
    if (!t) {
        if (!required) return 0;
        return mm_err(L->err, "%s: missing tensor %s", mm_gguf_path(L->g), name);
    }
    if (!mm_type_supported(t->type))
        return mm_err(L->err, "%s: tensor %s has type %s (%d), which mmgpt cannot compute; supported: %s", mm_gguf_path(L->g),
                      name, mm_type_name(t->type), t->type, mm_type_supported_names());
    if (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] < rows_min || t->ne[1] > rows_max) {
        char want[64];
        if (rows_min == rows_max) snprintf(want, sizeof want, "[%lld, %lld]", (long long)cols, (long long)rows_min);
        else snprintf(want, sizeof want, "[%lld, >= %lld]", (long long)cols, (long long)rows_min);
        return mm_err(L->err, "%s: tensor %s has shape [%lld, %lld, %lld, %lld] (n_dims %d), expected %s",
                      mm_gguf_path(L->g), name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                      (long long)t->ne[3], t->n_dims, want);
    }
    size_t rs = mm_row_size((mm_type)t->type, cols);
    if (rs == 0)
        return mm_err(L->err, "%s: tensor %s: %lld columns is not a multiple of the %s block size",
                      mm_gguf_path(L->g), name, (long long)cols, mm_type_name(t->type));
    if (t->n_bytes < rs * (size_t)t->ne[1] || !t->data)
        return mm_err(L->err, "%s: tensor %s: data is shorter than its shape", mm_gguf_path(L->g), name);
    if (mm_gguf_check_finite(L->g, t, false, L->err)) return -1; /* small matrices only: loading stays lazy */
    m->type = (mm_type)t->type;
    m->data = t->data;
    m->rows = t->ne[1];
    m->cols = cols;
    return 0;
}

/* Vectors are copied to f32 (they are small; files may store them as F16). */
static int get_vec(loader *L, const char *name, int64_t n, bool required, const float **out) {
    *out = NULL;
    const mm_gguf_tensor *t = mm_gguf_find_tensor(L->g, name);
    if (!t) {
        if (!required) return 0;
        return mm_err(L->err, "%s: missing tensor %s", mm_gguf_path(L->g), name);
    }
    bool shape_ok = t->ne[0] == n && t->n_elements == n;
    if (!shape_ok)
        return mm_err(L->err, "%s: tensor %s has shape [%lld, %lld], expected [%lld]", mm_gguf_path(L->g), name,
                      (long long)t->ne[0], (long long)t->ne[1], (long long)n);
    if (t->type != MM_TYPE_F32 && t->type != MM_TYPE_F16)
        return mm_err(L->err, "%s: tensor %s has type %s; vectors must be f32 or f16", mm_gguf_path(L->g), name,
                      mm_type_name(t->type));
    if (L->n_vecs >= L->cap_vecs) return mm_err(L->err, "%s: internal: too many vectors", mm_gguf_path(L->g));
    if (t->n_bytes < (size_t)n * (t->type == MM_TYPE_F32 ? 4 : 2))
        return mm_err(L->err, "%s: tensor %s: data is shorter than its shape", mm_gguf_path(L->g), name);
    if (mm_gguf_check_finite(L->g, t, true, L->err)) return -1;
    /* sizes are bounded by the file: each vector is stored in it */
    float *dst = malloc((size_t)n * sizeof(float));
    if (!dst) return mm_err(L->err, "%s: out of memory", mm_gguf_path(L->g));
    L->vecs[L->n_vecs++] = dst;
    if (t->type == MM_TYPE_F32) memcpy(dst, t->data, (size_t)n * sizeof(float));
    else for (int64_t i = 0; i < n; i++) dst[i] = mm_fp16_to_fp32(((const uint16_t *)t->data)[i]);
    *out = dst;
    return 0;
}

mm_gpt_model *mm_gpt_model_load(const mm_gguf *g, char *err) {
    if (!g) {
        mm_err(err, "%s: no file", __func__);
        return NULL;
    }
    mm_gpt_model *m = calloc(1, sizeof *m);
    if (!m) {
        mm_err(err, "%s: out of memory", mm_gguf_path(g));
        return NULL;
    }
    if (mm_gpt_hparams_from_gguf(g, &m->hp, err) != 0) goto fail;
    const mm_gpt_hparams *hp = &m->hp;
    const int64_t d = hp->d_model, ff = hp->d_ff, V = hp->n_vocab, NL = hp->n_layer;
    (void)ff;
    /* a file that cannot hold the tensors its keys promise is refused before anything is allocated */
    if (mm_gguf_n_tensors(g) < 4 + 8 * NL) {
        mm_err(err, "%s: %lld tensors, but block_count %lld needs at least %lld", mm_gguf_path(g),
               (long long)mm_gguf_n_tensors(g), (long long)NL, (long long)(4 + 8 * NL));
        goto fail;
    }
    m->layers = calloc((size_t)NL, sizeof *m->layers);
    m->n_vec_cap = (size_t)NL * 12 + 2;
    m->vec_mem = calloc(m->n_vec_cap, sizeof *m->vec_mem); /* per layer 4 norms + 4 biases */
    if (!m->layers || !m->vec_mem) {
        mm_err(err, "%s: out of memory", mm_gguf_path(g));
        goto fail;
    }
    loader L = {g, err, m->vec_mem, 0, (size_t)NL * 12 + 2};
    if (get_mat(&L, "token_embd.weight", d, V, V, true, &m->tok_embd) ||
        get_mat(&L, "position_embd.weight", d, hp->n_ctx, MAX_CTX, true, &m->pos_embd) ||
        get_mat(&L, "output.weight", d, V, V, false, &m->output) ||
        get_vec(&L, "output_norm.weight", d, true, &m->out_norm_w) ||
        get_vec(&L, "output_norm.bias", d, true, &m->out_norm_b) ||
        mm_gguf_check_finite(g, mm_gguf_find_tensor(g, "position_embd.weight"), true, err)) /* read whole */
        goto fail;
    m->tied = m->output.data == NULL;
    if (m->tied) m->output = m->tok_embd;
    for (int64_t l = 0; l < NL; l++) {
        mm_gpt_layer *ly = &m->layers[l];
        char n[12][64];
        const char *suf[12] = {"attn_norm.weight", "attn_norm.bias", "attn_qkv.weight", "attn_qkv.bias",
                               "attn_output.weight", "attn_output.bias", "ffn_norm.weight", "ffn_norm.bias",
                               "ffn_up.weight", "ffn_up.bias", "ffn_down.weight", "ffn_down.bias"};
        for (int k = 0; k < 12; k++) snprintf(n[k], sizeof n[k], "blk.%lld.%s", (long long)l, suf[k]);
        if (get_vec(&L, n[0], d, true, &ly->ln1_w) || get_vec(&L, n[1], d, true, &ly->ln1_b) ||
            get_mat(&L, n[2], d, 3 * d, 3 * d, true, &ly->qkv) || get_vec(&L, n[3], 3 * d, false, &ly->qkv_b) ||
            get_mat(&L, n[4], d, d, d, true, &ly->out) || get_vec(&L, n[5], d, false, &ly->out_b) ||
            get_vec(&L, n[6], d, true, &ly->ln2_w) || get_vec(&L, n[7], d, true, &ly->ln2_b) ||
            get_mat(&L, n[8], d, ff, ff, true, &ly->up) || get_vec(&L, n[9], ff, false, &ly->up_b) ||
            get_mat(&L, n[10], ff, d, d, true, &ly->down) || get_vec(&L, n[11], d, false, &ly->down_b))
            goto fail;
    }
    return m;
fail:
    mm_gpt_model_free(m);
    return NULL;
}

void mm_gpt_model_free(mm_gpt_model *m) {
    if (!m) return;
    free(m->layers);
    if (m->vec_mem)
        for (size_t i = 0; i < m->n_vec_cap; i++) free(m->vec_mem[i]);
    free(m->vec_mem);
    free(m);
}

const mm_gpt_hparams *mm_gpt_model_hparams(const mm_gpt_model *m) { return &m->hp; }
int64_t mm_gpt_model_d_model(const mm_gpt_model *m) { return m->hp.d_model; }
int64_t mm_gpt_model_n_vocab(const mm_gpt_model *m) { return m->hp.n_vocab; }
int64_t mm_gpt_model_n_ctx(const mm_gpt_model *m) { return m->hp.n_ctx; }
int64_t mm_gpt_model_n_layer(const mm_gpt_model *m) { return m->hp.n_layer; }
int64_t mm_gpt_model_n_head(const mm_gpt_model *m) { return m->hp.n_head; }
bool    mm_gpt_model_tied(const mm_gpt_model *m) { return m->tied; }
mm_type mm_gpt_model_type(const mm_gpt_model *m) { return m->layers[0].up.type; }

void mm_gpt_mat_row(const mm_gpt_mat *w, int64_t r, float *out) {
    const size_t rs = mm_row_size(w->type, w->cols);
    const void *src = (const uint8_t *)w->data + rs * (size_t)r;
    if (w->type == MM_TYPE_F32) memcpy(out, src, (size_t)w->cols * sizeof(float));
    else mm_dequantize_row(w->type, src, out, w->cols);
}

static size_t mat_bytes(const mm_gpt_mat *w) { return mm_row_size(w->type, w->cols) * (size_t)w->rows; }

size_t mm_gpt_model_bytes_per_token(const mm_gpt_model *m) {
    const mm_gpt_hparams *hp = &m->hp;
    size_t b = 0;
    for (int64_t l = 0; l < hp->n_layer; l++) {
        const mm_gpt_layer *ly = &m->layers[l];
        b += mat_bytes(&ly->qkv) + mat_bytes(&ly->out) + mat_bytes(&ly->up) + mat_bytes(&ly->down);
        b += sizeof(float) * (size_t)(9 * hp->d_model + hp->d_ff);
    }
    b += mat_bytes(&m->output) + 2 * sizeof(float) * (size_t)hp->d_model;
    /* one row each of token_embd and position_embd */
    b += mm_row_size(m->tok_embd.type, hp->d_model) + mm_row_size(m->pos_embd.type, hp->d_model);
    return b;
}

int mm_gpt_model_token_embd(const mm_gpt_model *m, int32_t token, float *out, char *err) {
    if (token < 0 || token >= m->hp.n_vocab)
        return mm_err(err, "%s: token %d is outside the vocabulary [0, %lld)", __func__, token,
                      (long long)m->hp.n_vocab);
    mm_gpt_mat_row(&m->tok_embd, token, out);
    return 0;
}
