/* image_vit.c - CLIP-style ViT encoder (llama.cpp mmproj names), see include/mm_image.h. */
#include "mm_image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "enc_blocks.h"

#define VIT_MAX_PATCHES 4096 /* e.g. 1024 px at patch 16: bounds the [n][n] attention scratch */

struct mm_vit_model {
    int S;            /* clip.vision.image_size */
    int p;            /* clip.vision.patch_size */
    int n_side;       /* S / p */
    int n_patches;    /* n_side^2 */
    int n_tokens;     /* n_patches + has_cls */
    int d;            /* clip.vision.embedding_length */
    int n_run;        /* blocks run for the feature layer, 0..n_layer */
    bool has_cls;
    bool post_ln_always; /* clip.vision.feature_layer given: post_ln after the last block run (llama.cpp) */
    mm_image_preproc pp;
    mm_mat patch;    /* W [d][3*p*p] (GGUF ne [p, p, 3, d], torch [d, 3, p, p]), b [d] or NULL */
    const float  *cls;      /* [d] or NULL */
    const float  *pos;      /* [n_tokens][d] (the file's data, or pos_owned) */
    float        *pos_owned;/* [n_tokens][d] f32 copy when the file stores positions in another type */
    mm_enc_norm   pre_ln;   /* [d], w NULL if absent */
    mm_enc_norm   post_ln;  /* [d], w NULL if absent */
    mm_enc_blocks blocks;   /* v.blk.* */
};

struct mm_vit_state {
    const mm_vit_model *m;
    mm_pool *pool;
    float   *cols;       /* [n_patches][3*p*p] im2col */
    float   *tmp;        /* [n_tokens][d] */
    float   *pix;        /* [3][S][S] */
    void    *scratch;    /* blocks scratch */
    size_t   scratch_size;
};

static int get_f32x3(const mm_gguf *g, const char *key, float *out, char *err) {
    mm_gguf_type et;
    int64_t n;
    if (mm_gguf_get_arr(g, key, &et, &n)) return 1; /* absent: keep default */
    if (et != MM_GGUF_FLOAT32 || n != 3)
        return mm_err(err, "%s: key %s must be an array of 3 float32", mm_gguf_path(g), key);
    const uint8_t *raw = mm_gguf_arr_data(g, key);
    if (!raw) return mm_err(err, "%s: key %s has no data", mm_gguf_path(g), key);
    for (int i = 0; i < 3; i++) memcpy(&out[i], raw + 4 * i, 4); /* little-endian host */
    return 0;
}

/* clip.projector_type == name */
static bool proj_is(const mm_gguf *g, const char *name) {
    const char *v;
    size_t      n;
    return mm_gguf_get_str(g, "clip.projector_type", &v, &n) == 0 && n == strlen(name) && !memcmp(v, name, n);
}

/* The MLP activation, as llama.cpp's clip.cpp reads it: clip.use_gelu -> GELU, else clip.use_silu -> SiLU,
 * else quick-GELU. Which GELU: the tanh form for SigLIP towers (clip.projector_type "idefics3": HF's
 * gelu_pytorch_tanh, and llama.cpp's ggml_gelu), the exact erf form otherwise (HF CLIP "gelu", mmgpt's own
 * models); mmgpt.vision.gelu = "erf" | "tanh" overrides. */
static int read_act(const mm_gguf *g, mm_act *act, char *err) {
    bool gelu = false, silu = false;
    if (mm_gguf_find_key(g, "clip.use_gelu") >= 0 && mm_gguf_get_bool(g, "clip.use_gelu", &gelu))
        return mm_err(err, "%s: clip.use_gelu is not a boolean", mm_gguf_path(g));
    if (mm_gguf_find_key(g, "clip.use_silu") >= 0 && mm_gguf_get_bool(g, "clip.use_silu", &silu))
        return mm_err(err, "%s: clip.use_silu is not a boolean", mm_gguf_path(g));
    bool tanh_form = proj_is(g, "idefics3");
    if (mm_gguf_find_key(g, "mmgpt.vision.gelu") >= 0) {
        const char *v;
        size_t      n;
        if (mm_gguf_get_str(g, "mmgpt.vision.gelu", &v, &n) || !((n == 3 && !memcmp(v, "erf", 3)) ||
                                                                   (n == 4 && !memcmp(v, "tanh", 4))))
            return mm_err(err, "%s: mmgpt.vision.gelu must be \"erf\" or \"tanh\"", mm_gguf_path(g));
        tanh_form = n == 4;
    }
    *act = gelu ? (tanh_form ? MM_ACT_GELU_TANH : MM_ACT_GELU_ERF) : silu ? MM_ACT_SILU : MM_ACT_QUICK_GELU;
    return 0;
}

/* clip.vision.feature_layer (llama.cpp, LLaVA-NeXT / Granite files): an int32/uint32 array of hidden-state
 * indices (0 = the embeddings, k = after k blocks). One value is supported: run that many blocks. */
static int read_clip_feature_layer(const mm_gguf *g, uint32_t nl, int64_t *run, char *err) {
    const char  *key = "clip.vision.feature_layer";
    mm_gguf_type et;
    int64_t      n;
    if (mm_gguf_get_arr(g, key, &et, &n) || (et != MM_GGUF_INT32 && et != MM_GGUF_UINT32) || n < 1)
        return mm_err(err, "%s: %s must be a non-empty array of integers", mm_gguf_path(g), key);
    if (n > 1)
        return mm_err(err, "%s: %s lists %lld layers; stacking several feature layers (Granite "
                      "vision) is not supported", mm_gguf_path(g), key, (long long)n);
    const uint8_t *raw = mm_gguf_arr_data(g, key);
    int32_t        k;
    if (!raw) return mm_err(err, "%s: %s has no data", mm_gguf_path(g), key);
    memcpy(&k, raw, 4); /* little-endian host */
    if (k < 0 || (uint32_t)k > nl)
        return mm_err(err, "%s: %s %lld is outside [0, %u]", mm_gguf_path(g), key,
                      et == MM_GGUF_UINT32 ? (long long)(uint32_t)k : (long long)k, nl);
    *run = k;
    return 0;
}

int64_t mm_vit_patch_grid(const mm_gguf *g, int64_t *image_size, int64_t *patch_size, char *err) {
    int64_t S, p;
    if (mm_gguf_get_int_range(g, "clip.vision.image_size", 1, 4096, true, 0, &S, err) ||
        mm_gguf_get_int_range(g, "clip.vision.patch_size", 1, 4096, true, 0, &p, err))
        return -1;
    if (S % p) return mm_err(err, "%s: image size %lld is not a multiple of patch size %lld", mm_gguf_path(g),
                             (long long)S, (long long)p);
    if (image_size) *image_size = S;
    if (patch_size) *patch_size = p;
    return S / p;
}

mm_vit_model *mm_vit_model_load(const mm_gguf *g, char *err) {
    char e[MM_ERR_SIZE];
    if (!g) {
        mm_err(err, "%s: no model file", __func__);
        return NULL;
    }
    bool has = true;
    if (mm_gguf_get_bool(g, "clip.has_vision_encoder", &has) == 0 && !has) {
        mm_err(err, "%s: no vision encoder (clip.has_vision_encoder = false)", mm_gguf_path(g));
        return NULL;
    }
    if (mm_gguf_find_key(g, "clip.vision.image_size") < 0 && !mm_gguf_find_tensor(g, "v.patch_embd.weight")) {
        mm_err(err, "%s: no image encoder in this model (neither clip.vision.image_size nor v.patch_embd.weight): "
                    "an mmproj file with one holds it", mm_gguf_path(g));
        return NULL;
    }
    mm_vit_model *m = calloc(1, sizeof *m);
    if (!m) {
        mm_err(err, "%s: out of memory", mm_gguf_path(g));
        return NULL;
    }
    int64_t k[6];
    if (mm_vit_patch_grid(g, &k[0], &k[1], err) < 0 ||
        mm_gguf_get_int_range(g, "clip.vision.embedding_length", 1, 65536, true, 0, &k[2], err) ||
        mm_gguf_get_int_range(g, "clip.vision.feed_forward_length", 1, 262144, true, 0, &k[3], err) ||
        mm_gguf_get_int_range(g, "clip.vision.block_count", 0, 1024, true, 0, &k[4], err) ||
        mm_gguf_get_int_range(g, "clip.vision.attention.head_count", 1, 65536, true, 0, &k[5], err))
        goto fail;
    const uint32_t S = (uint32_t)k[0], p = (uint32_t)k[1], d = (uint32_t)k[2], dff = (uint32_t)k[3], nl = (uint32_t)k[4],
                   nh = (uint32_t)k[5];
    float eps = 1e-5f;
    if (mm_gguf_find_key(g, "clip.vision.attention.layer_norm_epsilon") >= 0 &&
        mm_gguf_get_f32(g, "clip.vision.attention.layer_norm_epsilon", &eps)) {
        mm_err(err, "%s: clip.vision.attention.layer_norm_epsilon is not a float", mm_gguf_path(g));
        goto fail;
    }
    m->S = (int)S;
    m->p = (int)p;
    m->n_side = (int)(S / p);
    if ((long long)m->n_side * m->n_side > VIT_MAX_PATCHES) {
        mm_err(err, "%s: %d x %d patches is over the limit of %d", mm_gguf_path(g), m->n_side, m->n_side,
               VIT_MAX_PATCHES);
        goto fail;
    }
    m->n_patches = m->n_side * m->n_side;
    m->d = (int)d;
    mm_act act = MM_ACT_QUICK_GELU;
    if (read_act(g, &act, err)) goto fail;
    mm_enc_hparams hp = {.n_layer = (int)nl, .d = (int)d, .d_ff = (int)dff, .n_head = (int)nh, .eps = eps, .act = act};
    if (mm_enc_hparams_check(&hp, e)) {
        mm_err(err, "%s: image encoder: %s", mm_gguf_path(g), e);
        goto fail;
    }

    /* preprocessing */
    m->pp = mm_image_preproc_default();
    m->pp.image_size = (int)S;
    if (proj_is(g, "mlp") || proj_is(g, "ldp") || proj_is(g, "ldpv2")) m->pp.mode = MM_RESIZE_PAD; /* LLaVA */
    if (proj_is(g, "idefics3")) m->pp.mode = MM_RESIZE_SQUASH; /* Idefics3's global image: S x S */
    if (get_f32x3(g, "clip.vision.image_mean", m->pp.mean, err) < 0 ||
        get_f32x3(g, "clip.vision.image_std", m->pp.std, err) < 0)
        goto fail;
    for (int c = 0; c < 3; c++)
        if (!isfinite(m->pp.mean[c]) || !isfinite(m->pp.std[c]) || !(m->pp.std[c] > 0.0f)) {
            mm_err(err, "%s: clip.vision.image_mean/std channel %d is invalid", mm_gguf_path(g), c);
            goto fail;
        }
    const char *mode;
    size_t mode_len;
    if (mm_gguf_find_key(g, "mmgpt.vision.resize_mode") >= 0) {
        int md = -1;
        if (mm_gguf_get_str(g, "mmgpt.vision.resize_mode", &mode, &mode_len) == 0)
            md = mm_resize_mode_from_name(mode, mode_len);
        if (md < 0) {
            mm_err(err, "%s: mmgpt.vision.resize_mode must be \"squash\", \"pad\" or \"crop\"", mm_gguf_path(g));
            goto fail;
        }
        m->pp.mode = (mm_resize_mode)md;
    }
    int64_t fl = -1;
    if (mm_gguf_find_key(g, "mmgpt.vision.feature_layer") >= 0 &&
        mm_gguf_get_i64(g, "mmgpt.vision.feature_layer", &fl)) {
        mm_err(err, "%s: mmgpt.vision.feature_layer is not an integer", mm_gguf_path(g));
        goto fail;
    }
    int64_t run = fl >= 0 ? fl : (int64_t)nl + 1 + fl;
    if (run < 0 || run > (int64_t)nl) {
        mm_err(err, "%s: mmgpt.vision.feature_layer %lld is outside [-%u, %u]", mm_gguf_path(g), (long long)fl, nl + 1, nl);
        goto fail;
    }
    if (mm_gguf_find_key(g, "clip.vision.image_grid_pinpoints") >= 0) { /* one 336 px pass would be wrong */
        mm_err(err, "%s: clip.vision.image_grid_pinpoints: LLaVA-NeXT any-resolution files (tiles, image newline) "
                    "are not supported", mm_gguf_path(g));
        goto fail;
    }
    if (mm_gguf_find_key(g, "clip.vision.feature_layer") >= 0) {
        if (mm_gguf_find_key(g, "mmgpt.vision.feature_layer") >= 0) {
            mm_err(err, "%s: both clip.vision.feature_layer and mmgpt.vision.feature_layer are set", mm_gguf_path(g));
            goto fail;
        }
        if (read_clip_feature_layer(g, nl, &run, err)) goto fail;
        m->post_ln_always = true; /* llama.cpp: post_ln (when present) follows the last block run */
    }
    m->n_run = (int)run;

    /* tensors */
    const mm_gguf_tensor *pw = mm_gguf_find_tensor(g, "v.patch_embd.weight");
    if (!pw) {
        mm_err(err, "%s: tensor v.patch_embd.weight is missing", mm_gguf_path(g));
        goto fail;
    }
    if (pw->ne[0] != p || pw->ne[1] != p || pw->ne[2] != 3 || pw->ne[3] != d) {
        mm_err(err, "%s: tensor v.patch_embd.weight has shape [%lld, %lld, %lld, %lld], [%u, %u, 3, %u] expected",
               mm_gguf_path(g), (long long)pw->ne[0], (long long)pw->ne[1], (long long)pw->ne[2], (long long)pw->ne[3], p,
               p, d);
        goto fail;
    }
    const int64_t kk = 3 * (int64_t)p * p;
    size_t rs = mm_type_supported(pw->type) ? mm_row_size((mm_type)pw->type, kk) : 0;
    if (rs == 0 || pw->n_bytes < rs * d) {
        mm_err(err, "%s: tensor v.patch_embd.weight: type %s cannot hold rows of %lld", mm_gguf_path(g),
               mm_type_name(pw->type), (long long)kk);
        goto fail;
    }
    if (mm_gguf_check_finite(g, pw, false, err)) goto fail;
    m->patch = (mm_mat){.type = (mm_type)pw->type, .data = pw->data, .b = NULL, .rows = d, .cols = kk};
    if (mm_enc_vec_load(g, "v.patch_embd.bias", d, false, &m->patch.b, err) ||
        mm_enc_vec_load(g, "v.class_embd", d, false, &m->cls, err))
        goto fail;
    m->has_cls = m->cls != NULL;
    m->n_tokens = m->n_patches + (m->has_cls ? 1 : 0);
    const mm_gguf_tensor *pe = mm_gguf_find_tensor(g, "v.position_embd.weight");
    const size_t pe_row = pe && mm_type_supported(pe->type) ? mm_row_size((mm_type)pe->type, d) : 0;
    if (!pe || pe_row == 0 || pe->ne[0] != d || pe->ne[1] != m->n_tokens || pe->ne[2] != 1 || pe->ne[3] != 1 ||
        pe->n_bytes < pe_row * (size_t)m->n_tokens) {
        mm_err(err, "%s: tensor v.position_embd.weight must be [%u, %d] (%d patches%s) of a computable type",
               mm_gguf_path(g), d, m->n_tokens, m->n_patches, m->has_cls ? " + class token" : "");
        goto fail;
    }
    if (mm_gguf_check_finite(g, pe, true, err)) goto fail;
    if (pe->type == MM_TYPE_F32) {
        m->pos = pe->data;
    } else { /* llama.cpp's converter stores 2-D tensors as f16: keep an f32 copy */
        if (!(m->pos_owned = malloc((size_t)m->n_tokens * d * sizeof(float)))) {
            mm_err(err, "%s: out of memory", mm_gguf_path(g));
            goto fail;
        }
        for (int t = 0; t < m->n_tokens; t++)
            mm_dequantize_row((mm_type)pe->type, (const uint8_t *)pe->data + pe_row * t, m->pos_owned + (size_t)t * d, d);
        m->pos = m->pos_owned;
    }
    if (mm_enc_norm_load(g, "v.pre_ln", d, false, &m->pre_ln, err) ||
        mm_enc_norm_load(g, "v.post_ln", d, false, &m->post_ln, err) ||
        mm_enc_blocks_load(g, "v", &hp, &m->blocks, err))
        goto fail;
    return m;
fail:
    free(m->pos_owned);
    free(m);
    return NULL;
}

void mm_vit_model_free(mm_vit_model *m) {
    if (!m) return;
    mm_enc_blocks_free(&m->blocks);
    free(m->pos_owned);
    free(m);
}

int  mm_vit_n_tokens(const mm_vit_model *m) { return m->n_tokens; }
int  mm_vit_d_enc(const mm_vit_model *m) { return m->d; }
int  mm_vit_image_size(const mm_vit_model *m) { return m->S; }
int  mm_vit_patch_size(const mm_vit_model *m) { return m->p; }
bool mm_vit_has_cls(const mm_vit_model *m) { return m->has_cls; }
int  mm_vit_n_layers_run(const mm_vit_model *m) { return m->n_run; }
mm_image_preproc mm_vit_preproc(const mm_vit_model *m) { return m->pp; }

void mm_vit_state_free(mm_vit_state *s) {
    if (!s) return;
    free(s->cols);
    free(s->tmp);
    free(s->pix);
    free(s->scratch);
    free(s);
}

mm_vit_state *mm_vit_state_create(const mm_vit_model *m, mm_pool *pool, char *err) {
    if (!m) {
        mm_err(err, "%s: no model", __func__);
        return NULL;
    }
    mm_vit_state *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->m = m;
    s->pool = pool;
    const size_t kk = 3 * (size_t)m->p * m->p;
    s->cols = malloc((size_t)m->n_patches * kk * sizeof(float));
    s->tmp = malloc((size_t)m->n_tokens * m->d * sizeof(float));
    s->pix = malloc(3 * (size_t)m->S * m->S * sizeof(float));
    s->scratch_size = mm_enc_blocks_scratch_size(&m->blocks.hp, m->n_tokens, mm_pool_n_threads(pool));
    if (s->scratch_size == 0) {
        mm_vit_state_free(s);
        mm_err(err, "%s: attention scratch size overflows", __func__);
        return NULL;
    }
    s->scratch = malloc(s->scratch_size);
    if (!s->cols || !s->tmp || !s->pix || !s->scratch) goto oom;
    return s;
oom:
    mm_vit_state_free(s);
    mm_err(err, "%s: out of memory", __func__);
    return NULL;
}

int mm_vit_encode(mm_vit_state *s, const float *pixels, float *out, char *err) {
    if (!s || !pixels || !out) return mm_err(err, "%s: missing argument", __func__);
    const mm_vit_model *m = s->m;
    const int p = m->p, S = m->S, ns = m->n_side, d = m->d;
    const size_t SS = (size_t)S * S, kk = 3 * (size_t)p * p;
    /* im2col: cols[py*ns + px][c*p*p + ky*p + kx] = pixels[c][py*p + ky][px*p + kx] */
    for (int py = 0; py < ns; py++)
        for (int px = 0; px < ns; px++) {
            float *col = s->cols + ((size_t)py * ns + px) * kk;
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < p; ky++)
                    memcpy(col + (size_t)c * p * p + (size_t)ky * p,
                           pixels + c * SS + (size_t)(py * p + ky) * S + (size_t)px * p, (size_t)p * sizeof(float));
        }
    float *x = s->tmp; /* [n_tokens][d] */
    const int off = m->has_cls ? 1 : 0;
    mm_mat_apply(&m->patch, s->pool, m->n_patches, s->cols, x + (size_t)off * d);
    if (m->has_cls) memcpy(x, m->cls, (size_t)d * sizeof(float));
    mm_add(x, x, m->pos, (int64_t)m->n_tokens * d);
    if (m->pre_ln.w) mm_enc_norm_forward(&m->pre_ln, m->blocks.hp.eps, s->pool, m->n_tokens, x, out);
    else memcpy(out, x, (size_t)m->n_tokens * d * sizeof(float));
    if (mm_enc_blocks_forward(&m->blocks, s->pool, out, m->n_tokens, m->n_run, s->scratch, s->scratch_size, err))
        return -1;
    if (m->post_ln.w && (m->n_run == m->blocks.hp.n_layer || m->post_ln_always)) {
        mm_enc_norm_forward(&m->post_ln, m->blocks.hp.eps, s->pool, m->n_tokens, out, x);
        memcpy(out, x, (size_t)m->n_tokens * d * sizeof(float));
    }
    return mm_enc_check_output(out, m->n_tokens, d, 0, "image encoder", "v", err);
}

int mm_vit_encode_image(mm_vit_state *s, const mm_image *img, float *pixels_out, float *out, char *err) {
    if (!s || !img || !out) return mm_err(err, "%s: missing argument", __func__);
    mm_image_preproc pp = s->m->pp;
    float *pix = pixels_out ? pixels_out : s->pix;
    if (mm_image_preprocess(img, &pp, pix, err)) return -1;
    return mm_vit_encode(s, pix, out, err);
}
