/* model.c - load a decoder from GGUF (llama.cpp names and keys), checking every key's range and every tensor's
 * shape and type. The architecture table (k_archs) says which blocks and tensors each general.architecture
 * has: gpt2, llama, qwen2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpt_internal.h"

/* Caps that keep every size computation far from overflow (a hostile file can claim anything). */
#define MAX_VOCAB  (1LL << 24)
#define MAX_CTX    (1LL << 20)
#define MAX_D      (1LL << 17)
#define MAX_LAYER  4096LL
#define MAX_FF     (1LL << 19)

/* ---- the architecture table: one row per family (gpt_internal.h describes the columns) */
static const mm_gpt_arch_desc k_archs[] = {
    [MM_GPT_ARCH_GPT2] = {"gpt2", MM_NORM_LAYER, MM_POS_LEARNED, MM_ROPE_NORMAL, MM_FFN_GELU, true, MM_BIAS_OPTIONAL,
                          MM_BIAS_OPTIONAL},
    [MM_GPT_ARCH_LLAMA] = {"llama", MM_NORM_RMS, MM_POS_ROPE, MM_ROPE_NORMAL, MM_FFN_SWIGLU, false, MM_BIAS_OPTIONAL,
                           MM_BIAS_OPTIONAL},
    [MM_GPT_ARCH_QWEN2] = {"qwen2", MM_NORM_RMS, MM_POS_ROPE, MM_ROPE_NEOX, MM_FFN_SWIGLU, false, MM_BIAS_REQUIRED,
                           MM_BIAS_NONE},
};
#define N_ARCHS ((int32_t)(sizeof k_archs / sizeof k_archs[0]))

const mm_gpt_arch_desc *mm_gpt_arch_desc_of(int32_t arch) {
    return arch >= 0 && arch < N_ARCHS ? &k_archs[arch] : &k_archs[0];
}

const char *mm_gpt_arch_str(int32_t arch) { return arch >= 0 && arch < N_ARCHS ? k_archs[arch].name : NULL; }

/* An optional float key {arch}.suffix in [lo, hi] (dflt when absent). */
static int get_f32_key(const mm_gguf *g, const char *arch, const char *suffix, float lo, float hi, float dflt,
                       float *out, char *err) {
    char key[96];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    float v = dflt;
    if (mm_gguf_find_key(g, key) >= 0 && mm_gguf_get_f32(g, key, &v) != 0)
        return mm_err(err, "%s: %s is not a float", mm_gguf_path(g), key);
    if (!(v >= lo && v <= hi)) /* NaN fails too */
        return mm_err(err, "%s: %s = %g is outside [%g, %g]", mm_gguf_path(g), key, v, lo, hi);
    *out = v;
    return 0;
}

/* An integer key {arch}.suffix in [lo, hi]; when optional and absent, *out = dflt. */
static int get_arch_int(const mm_gguf *g, const char *arch, const char *suffix, int64_t lo, int64_t hi,
                        bool required, int64_t dflt, int64_t *out, char *err) {
    char key[96];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (required && mm_gguf_find_key(g, key) < 0 && strcmp(arch, "gpt2") != 0)
        return mm_err(err, "%s: missing key %s (general.architecture is \"%s\")", mm_gguf_path(g), key, arch);
    return mm_gguf_get_int_range(g, key, lo, hi, required, dflt, out, err);
}

/* rope.* keys of the rotary architectures: base, dimensions, linear scaling. */
static int rope_hparams(const mm_gguf *g, const char *arch, mm_gpt_hparams *hp, char *err) {
    char key[96];
    if (get_arch_int(g, arch, "rope.dimension_count", 2, hp->d_head, false, hp->d_head, &hp->n_rot, err)) return -1;
    if (hp->n_rot % 2 != 0)
        return mm_err(err, "%s: %s.rope.dimension_count = %lld is odd (rotary pairs)", mm_gguf_path(g), arch,
                      (long long)hp->n_rot);
    if (get_f32_key(g, arch, "rope.freq_base", 1.0001f, 1e12f, 10000.0f, &hp->rope_base, err)) return -1;
    const char *type = "linear";
    size_t tlen = 6;
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    if (mm_gguf_find_key(g, key) >= 0 && mm_gguf_get_str(g, key, &type, &tlen) != 0)
        return mm_err(err, "%s: %s is not a string", mm_gguf_path(g), key);
    const bool none = tlen == 4 && !memcmp(type, "none", 4), linear = tlen == 6 && !memcmp(type, "linear", 6);
    if (!none && !linear)
        return mm_err(err, "%s: %s = \"%.*s\" is not supported (mmgpt runs \"none\" and \"linear\")", mm_gguf_path(g),
                      key, (int)(tlen > 32 ? 32 : tlen), type);
    float factor = 0.0f; /* 0 = none (llama.cpp's convention) */
    snprintf(key, sizeof key, "%s.rope.scaling.factor", arch);
    if (mm_gguf_find_key(g, key) < 0) snprintf(key, sizeof key, "%s.rope.scale_linear", arch); /* older name */
    if (get_f32_key(g, arch, key + strlen(arch) + 1, 0.0f, 1024.0f, 0.0f, &factor, err)) return -1;
    if (factor != 0.0f && factor < 1.0f / 1024.0f)
        return mm_err(err, "%s: %s = %g is outside [1/1024, 1024]", mm_gguf_path(g), key, factor);
    hp->rope_scale = none || factor == 0.0f ? 1.0f : 1.0f / factor;
    return 0;
}

int mm_gpt_hparams_from_gguf(const mm_gguf *g, mm_gpt_hparams *hp, char *err) {
    const char *arch;
    size_t alen;
    if (mm_gguf_get_str(g, "general.architecture", &arch, &alen) != 0)
        return mm_err(err, "%s: missing general.architecture (expected gpt2, llama or qwen2)", mm_gguf_path(g));
    int32_t id = -1;
    for (int32_t i = 0; i < N_ARCHS; i++)
        if (alen == strlen(k_archs[i].name) && !memcmp(arch, k_archs[i].name, alen)) id = i;
    if (id < 0 && alen == 4 && !memcmp(arch, "clip", 4)) /* the usual mix-up of llama.cpp's two files */
        return mm_err(err, "%s: an mmproj file (general.architecture \"clip\": image/audio encoders, no text decoder):"
                           " load it as the mmproj (mmgpt: --mmproj FILE) beside the text model (-m)", mm_gguf_path(g));
    if (id < 0)
        return mm_err(err, "%s: general.architecture is \"%.*s\": mmgpt's decoder runs gpt2, llama and qwen2",
                      mm_gguf_path(g), (int)(alen > 64 ? 64 : alen), arch);
    const char *a = k_archs[id].name;
    const bool gpt2 = id == MM_GPT_ARCH_GPT2;
    memset(hp, 0, sizeof *hp);
    hp->arch = id;
    if (get_arch_int(g, a, "context_length", 1, MAX_CTX, true, 0, &hp->n_ctx, err) ||
        get_arch_int(g, a, "embedding_length", 1, MAX_D, true, 0, &hp->d_model, err) ||
        get_arch_int(g, a, "feed_forward_length", 1, MAX_FF, true, 0, &hp->d_ff, err) ||
        get_arch_int(g, a, "block_count", 1, MAX_LAYER, true, 0, &hp->n_layer, err) ||
        get_arch_int(g, a, "attention.head_count", 1, MAX_D, true, 0, &hp->n_head, err))
        return -1;
    if (gpt2) {
        if (hp->d_model % hp->n_head != 0)
            return mm_err(err, "%s: embedding_length %lld is not a multiple of head_count %lld", mm_gguf_path(g),
                          (long long)hp->d_model, (long long)hp->n_head);
        hp->d_head = hp->d_model / hp->n_head;
        if (get_f32_key(g, a, "attention.layer_norm_epsilon", 1e-30f, 0.99999994f, 1e-5f, &hp->eps, err)) return -1;
    } else {
        if (get_arch_int(g, a, "attention.head_count_kv", 1, hp->n_head, false, hp->n_head, &hp->n_head_kv, err))
            return -1;
        if (hp->n_head % hp->n_head_kv != 0)
            return mm_err(err, "%s: %s.attention.head_count_kv = %lld does not divide head_count %lld", mm_gguf_path(g),
                          a, (long long)hp->n_head_kv, (long long)hp->n_head);
        /* head width: attention.key_length, else embedding_length / head_count */
        int64_t dk = 0, dv = 0;
        if (get_arch_int(g, a, "attention.key_length", 1, 1024, false, 0, &dk, err) ||
            get_arch_int(g, a, "attention.value_length", 1, 1024, false, dk, &dv, err))
            return -1;
        if (dk == 0 && hp->d_model % hp->n_head != 0)
            return mm_err(err, "%s: embedding_length %lld is not a multiple of head_count %lld", mm_gguf_path(g),
                          (long long)hp->d_model, (long long)hp->n_head);
        if (dk == 0) dk = dv = hp->d_model / hp->n_head;
        if (dv != dk)
            return mm_err(err, "%s: %s.attention.value_length %lld differs from key_length %lld (not supported)",
                          mm_gguf_path(g), a, (long long)dv, (long long)dk);
        hp->d_head = dk;
        if (hp->n_head * hp->d_head > MAX_D)
            return mm_err(err, "%s: head_count %lld x head width %lld is above %lld", mm_gguf_path(g),
                          (long long)hp->n_head, (long long)hp->d_head, (long long)MAX_D);
        char key[96];
        snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", a);
        if (mm_gguf_find_key(g, key) < 0)
            return mm_err(err, "%s: missing key %s (general.architecture is \"%s\")", mm_gguf_path(g), key, a);
        if (get_f32_key(g, a, "attention.layer_norm_rms_epsilon", 1e-30f, 0.99999994f, 1e-5f, &hp->eps, err) ||
            rope_hparams(g, a, hp, err))
            return -1;
    }
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

/* NAME.weight [cols, rows in rows_min..rows_max] and, per flags, NAME.bias [rows] (f32/f16 copied to f32, kept
 * in the model's vec_mem): mm_gguf_mat_load, the one loader of linear layers. */
static int get_mat(loader *L, const char *name, int64_t cols, int64_t rows_min, int64_t rows_max, unsigned flags,
                   mm_mat *m) {
    float *copy = NULL;
    if (L->n_vecs >= L->cap_vecs) return mm_err(L->err, "%s: internal: too many vectors", mm_gguf_path(L->g));
    if (mm_gguf_mat_load(L->g, name, cols, rows_min, rows_max, flags, m, &copy, L->err)) return -1;
    if (copy) L->vecs[L->n_vecs++] = copy;
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

/* The tensors of block l as the architecture's row describes them. */
static int load_layer(loader *L, const mm_gpt_model *m, const mm_gpt_arch_desc *A, int64_t l, mm_gpt_layer *ly) {
    const mm_gpt_hparams *hp = &m->hp;
    const int64_t d = hp->d_model, ff = hp->d_ff, dq = hp->n_head * hp->d_head;
    const int64_t dkv = (hp->n_head_kv ? hp->n_head_kv : hp->n_head) * hp->d_head;
    const bool ln = A->norm == MM_NORM_LAYER, qb = A->qkv_bias == MM_BIAS_REQUIRED;
    const bool has_qb = A->qkv_bias != MM_BIAS_NONE, has_b = A->bias != MM_BIAS_NONE;
    char n[6][64], w[10][64];
    const char *vsuf[6] = {"attn_norm.weight", "attn_norm.bias", "ffn_norm.weight", "ffn_norm.bias"};
    const char *msuf[10] = {"attn_qkv", "attn_output", "ffn_up", "ffn_down", "attn_q", "attn_k", "attn_v", "ffn_gate"};
    for (int k = 0; k < 4; k++) snprintf(n[k], sizeof n[k], "blk.%lld.%s", (long long)l, vsuf[k]);
    for (int k = 0; k < 8; k++) snprintf(w[k], sizeof w[k], "blk.%lld.%s", (long long)l, msuf[k]);
    const unsigned R = MM_MAT_REQUIRED, QB = R | (has_qb ? (qb ? MM_MAT_BIAS_REQUIRED : MM_MAT_BIAS) : 0u);
    const unsigned B = R | (has_b ? MM_MAT_BIAS : 0u);
    if (get_vec(L, n[0], d, true, &ly->ln1_w) || (ln && get_vec(L, n[1], d, true, &ly->ln1_b)) ||
        get_vec(L, n[2], d, true, &ly->ln2_w) || (ln && get_vec(L, n[3], d, true, &ly->ln2_b)))
        return -1;
    if (A->fused_qkv) {
        if (get_mat(L, w[0], d, 3 * d, 3 * d, QB, &ly->qkv)) return -1;
    } else {
        if (get_mat(L, w[4], d, dq, dq, QB, &ly->q) || get_mat(L, w[5], d, dkv, dkv, QB, &ly->k) ||
            get_mat(L, w[6], d, dkv, dkv, QB, &ly->v))
            return -1;
    }
    if (get_mat(L, w[1], dq, d, d, B, &ly->out) || get_mat(L, w[2], d, ff, ff, B, &ly->up) ||
        get_mat(L, w[3], ff, d, d, B, &ly->down))
        return -1;
    if (A->ffn == MM_FFN_SWIGLU && get_mat(L, w[7], d, ff, ff, R, &ly->gate)) return -1;
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
    const mm_gpt_arch_desc *A = mm_gpt_arch_desc_of(hp->arch);
    const int64_t d = hp->d_model, V = hp->n_vocab, NL = hp->n_layer;
    /* a file that cannot hold the tensors its keys promise is refused before anything is allocated
     * (gpt2: 4 + 8 per block; llama family: 2 + 9 per block) */
    const int64_t need = A->fused_qkv ? 4 + 8 * NL : 2 + 9 * NL;
    if (mm_gguf_n_tensors(g) < need) {
        mm_err(err, "%s: %lld tensors, but block_count %lld needs at least %lld", mm_gguf_path(g),
               (long long)mm_gguf_n_tensors(g), (long long)NL, (long long)need);
        goto fail;
    }
    m->layers = calloc((size_t)NL, sizeof *m->layers);
    m->n_vec_cap = (size_t)NL * 12 + 3; /* per layer <= 4 norms + 6 biases; output norm w, b; rope_freqs */
    m->vec_mem = calloc(m->n_vec_cap, sizeof *m->vec_mem);
    if (!m->layers || !m->vec_mem) {
        mm_err(err, "%s: out of memory", mm_gguf_path(g));
        goto fail;
    }
    loader L = {g, err, m->vec_mem, 0, m->n_vec_cap};
    if (get_mat(&L, "token_embd", d, V, V, MM_MAT_REQUIRED, &m->tok_embd) ||
        get_mat(&L, "output", d, V, V, 0, &m->output) ||
        get_vec(&L, "output_norm.weight", d, true, &m->out_norm_w) ||
        (A->norm == MM_NORM_LAYER && get_vec(&L, "output_norm.bias", d, true, &m->out_norm_b)))
        goto fail;
    if (A->pos == MM_POS_LEARNED) {
        if (get_mat(&L, "position_embd", d, hp->n_ctx, MAX_CTX, MM_MAT_REQUIRED, &m->pos_embd) ||
            mm_gguf_check_finite(g, mm_gguf_find_tensor(g, "position_embd.weight"), true, err)) /* read whole */
            goto fail;
    } else {
        if (get_vec(&L, "rope_freqs.weight", hp->n_rot / 2, false, &m->rope_freqs)) goto fail;
        for (int64_t i = 0; m->rope_freqs && i < hp->n_rot / 2; i++)
            if (!(m->rope_freqs[i] >= 1e-6f && m->rope_freqs[i] <= 1e6f)) {
                mm_err(err, "%s: rope_freqs.weight[%lld] = %g is outside [1e-6, 1e6]", mm_gguf_path(g), (long long)i,
                       m->rope_freqs[i]);
                goto fail;
            }
    }
    m->tied = m->output.data == NULL;
    if (m->tied) m->output = m->tok_embd;
    for (int64_t l = 0; l < NL; l++)
        if (load_layer(&L, m, A, l, &m->layers[l])) goto fail;
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
int32_t mm_gpt_model_arch(const mm_gpt_model *m) { return m->hp.arch; }

static size_t mat_bytes(const mm_mat *w) { return mm_row_size(w->type, w->cols) * (size_t)w->rows; }

static size_t vec_bytes(const float *v, int64_t n) { return v ? sizeof(float) * (size_t)n : 0; }

size_t mm_gpt_model_bytes_per_token(const mm_gpt_model *m) {
    const mm_gpt_hparams *hp = &m->hp;
    const int64_t d = hp->d_model, ff = hp->d_ff, dq = hp->n_head * hp->d_head;
    const int64_t dkv = (hp->n_head_kv ? hp->n_head_kv : hp->n_head) * hp->d_head;
    size_t b = 0;
    for (int64_t l = 0; l < hp->n_layer; l++) {
        const mm_gpt_layer *ly = &m->layers[l];
        const mm_mat *mats[] = {&ly->qkv, &ly->q, &ly->k, &ly->v, &ly->out, &ly->gate, &ly->up, &ly->down};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
            if (mats[i]->data) b += mat_bytes(mats[i]);
        b += vec_bytes(ly->ln1_w, d) + vec_bytes(ly->ln1_b, d) + vec_bytes(ly->ln2_w, d) + vec_bytes(ly->ln2_b, d);
        b += vec_bytes(ly->qkv.b, 3 * d) + vec_bytes(ly->q.b, dq) + vec_bytes(ly->k.b, dkv) + vec_bytes(ly->v.b, dkv);
        b += vec_bytes(ly->out.b, d) + vec_bytes(ly->up.b, ff) + vec_bytes(ly->down.b, d);
    }
    b += mat_bytes(&m->output) + vec_bytes(m->out_norm_w, d) + vec_bytes(m->out_norm_b, d);
    /* one row each of token_embd and position_embd */
    b += mm_row_size(m->tok_embd.type, d) + (m->pos_embd.data ? mm_row_size(m->pos_embd.type, d) : 0);
    return b;
}

size_t mm_gpt_model_bytes(const mm_gpt_model *m) {
    const int64_t d = m->hp.d_model;
    size_t b = mm_gpt_model_bytes_per_token(m) - mm_row_size(m->tok_embd.type, d);
    if (m->pos_embd.data) b += mat_bytes(&m->pos_embd) - mm_row_size(m->pos_embd.type, d);
    if (!m->tied) b += mat_bytes(&m->tok_embd);
    return b;
}

double mm_gpt_kv_bytes(const mm_gpt_hparams *hp, int64_t n_ctx, bool kv_f16) {
    const int64_t kv = hp->n_head_kv ? hp->n_head_kv : hp->n_head;
    return 2.0 * (double)hp->n_layer * (double)n_ctx * (double)(kv * hp->d_head) * (kv_f16 ? 2.0 : 4.0);
}

static const char *gib(double b, char *buf) {
    snprintf(buf, 32, "%.2f GiB", b / (1024.0 * 1024.0 * 1024.0));
    return buf;
}

int mm_gpt_memory_check(const mm_gpt_model *m, double state_bytes, int64_t n_ctx, bool kv_f16, char *err) {
    const long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psz <= 0) return 0; /* unknown: the allocation decides */
    const double mem = (double)pages * (double)psz, w = mm_gpt_model_bytes_held(m);
    if (state_bytes + w <= mem) return 0;
    const int64_t held = m->pipe.layer_end ? m->pipe.layer_end - m->pipe.layer_begin : m->hp.n_layer;
    const double kv = mm_gpt_kv_bytes(&m->hp, n_ctx, kv_f16) / (double)m->hp.n_layer * (double)held; /* this rank's */
    const double per_pos = kv / (double)n_ctx;
    const double room = mem - w - (state_bytes - kv);
    const long long fit = room > per_pos ? (long long)(room / per_pos) : 0;
    char b1[32], b2[32], b3[32], b4[32];
    return mm_err(err,
                  "the KV cache of %lld positions (%s, %s) + activations (%s) + weights (%s) need more than this "
                  "machine's %s of memory: lower the context with -c (about %lld positions fit%s)",
                  (long long)n_ctx, gib(kv, b1), kv_f16 ? "f16" : "f32", gib(state_bytes - kv, b2), gib(w, b3),
                  gib(mem, b4), fit, kv_f16 ? "" : "; --kv-f16 halves the cache");
}

int mm_gpt_model_token_embd(const mm_gpt_model *m, int32_t token, float *out, char *err) {
    if (token < 0 || token >= m->hp.n_vocab)
        return mm_err(err, "%s: token %d is outside the vocabulary [0, %lld)", __func__, token,
                      (long long)m->hp.n_vocab);
    mm_mat_row(&m->tok_embd, token, out);
    return 0;
}
