/* projector.c - image and audio projectors (encoder width -> decoder d_model), llama.cpp mmproj names. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_fusion.h"
#include "mm_image.h"
#include "proj_audio.h"

#define MAX_MERGE 8

/* NAME.weight (any 2-D shape: the chain is checked after) and its optional bias, copied to f32 (freed by
 * mm_projector_free). */
static int load_linear(mm_mat *l, const mm_gguf *g, const char *name, char *err) {
    float *bias = NULL;
    return mm_gguf_mat_load(g, name, 0, 1, INT64_MAX, MM_MAT_REQUIRED | MM_MAT_BIAS, l, &bias, err);
}

int mm_proj_load_vec(const mm_gguf *g, const char *name, int64_t n, float **out, char *err) {
    const mm_gguf_tensor *t = mm_gguf_find_tensor(g, name);
    if (!t) return mm_err(err, "%s: the model has no tensor %s (its projector needs it)", mm_gguf_path(g), name);
    if (t->n_elements != n || (t->type != MM_TYPE_F32 && t->type != MM_TYPE_F16))
        return mm_err(err, "%s: %s must be %lld f32/f16 values (it has %lld)", mm_gguf_path(g), name, (long long)n,
                      (long long)t->n_elements);
    if (mm_gguf_check_finite(g, t, true, err)) return -1;
    if (!(*out = malloc((size_t)n * sizeof(float)))) return mm_err(err, "%s: out of memory", mm_gguf_path(g));
    if (t->type == MM_TYPE_F32) memcpy(*out, t->data, (size_t)n * sizeof(float));
    else mm_dequantize_row(MM_TYPE_F16, t->data, *out, n);
    return 0;
}

/* MobileVLM V2's tensors beyond its MLP: the depthwise 3x3 kernel and bias, and the (even) patch grid */
static int load_ldpv2(mm_projector *p, const mm_gguf *g, char *err) {
    if ((p->grid = mm_vit_patch_grid(g, NULL, NULL, err)) < 0) return -1;
    if (p->grid % 2 != 0)
        return mm_err(err, "%s: ldpv2 needs an even patch grid (clip.vision.image_size / patch_size)", mm_gguf_path(g));
    const mm_gguf_tensor *w = mm_gguf_find_tensor(g, "mm.model.peg.0.weight");
    if (w && (w->ne[0] != 3 || w->ne[1] != 3))
        return mm_err(err, "%s: mm.model.peg.0.weight must be a 3 x 3 depthwise kernel per channel", mm_gguf_path(g));
    if (mm_proj_load_vec(g, "mm.model.peg.0.weight", 9 * p->l2.rows, &p->peg_w, err) ||
        mm_proj_load_vec(g, "mm.model.peg.0.bias", p->l2.rows, &p->peg_b, err))
        return -1;
    return 0;
}

/* clip.vision.projector.scale_factor (absent = 1): the pixel-shuffle factor s, which must divide the patch
 * grid g (mm_vit_patch_grid, as the ViT loader has it). */
static int load_merge(mm_projector *p, const mm_gguf *g, char *err) {
    const char *key = "clip.vision.projector.scale_factor";
    int64_t     s;
    if (mm_gguf_get_int_range(g, key, 1, MAX_MERGE, false, 1, &s, err)) return -1;
    p->merge = (int)s;
    if (s == 1) return 0;
    if ((p->grid = mm_vit_patch_grid(g, NULL, NULL, err)) < 0) return -1;
    if (p->grid % s != 0)
        return mm_err(err, "%s: %s %lld does not divide the %lld x %lld patch grid", mm_gguf_path(g), key, (long long)s,
                      (long long)p->grid, (long long)p->grid);
    return 0;
}

static const char *fit_msg = "%s: this mmproj does not fit this model: projector outputs %lld, decoder d_model is %lld";

int mm_projector_load(mm_projector *p, const mm_gguf *g, mmgpt_media_kind kind, int64_t d_in, int64_t d_model,
                      char *err) {
    memset(p, 0, sizeof *p);
    p->d_in = d_in;
    p->d_out = d_model;
    p->stack = 1;
    p->merge = 1;
    const char *l1n = kind == MMGPT_MEDIA_IMAGE ? "mm.0" : "mm.a.mlp.1";
    if (kind == MMGPT_MEDIA_IMAGE) {
        const char *pt = NULL;
        size_t      n = 0;
        if (mm_gguf_get_str(g, "clip.projector_type", &pt, &n) != 0) {
            pt = "linear";  /* absent: a single mm.0, as the simplest llava files */
            n = 6;
            if (mm_gguf_find_tensor(g, "mm.2.weight")) { pt = "mlp"; n = 3; }
        }
        if (n == 6 && !memcmp(pt, "linear", 6)) p->mlp = false;
        else if (n == 3 && !memcmp(pt, "mlp", 3)) p->mlp = true;
        else if (n == 8 && !memcmp(pt, "idefics3", 8)) { p->mlp = false; l1n = "mm.model.fc"; }
        else if (n == 5 && !memcmp(pt, "ldpv2", 5)) { p->mlp = p->ldpv2 = true; l1n = "mm.model.mlp.0"; }
        else return mm_err(err, "%s: unsupported clip.projector_type '%.*s' (linear, mlp, idefics3 and ldpv2 are)",
                           mm_gguf_path(g), (int)(n > 64 ? 64 : n), pt);
        if (load_linear(&p->l1, g, l1n, err)) goto fail;
        if (p->mlp && load_linear(&p->l2, g, p->ldpv2 ? "mm.model.mlp.2" : "mm.2", err)) goto fail;
        if (p->ldpv2 ? load_ldpv2(p, g, err) : load_merge(p, g, err)) goto fail;
    } else {
        if (mm_proj_audio_load(p, g, err)) goto fail; /* projector_audio.c: mmgpt's mlp, ultravox or qwen2a */
        if (p->qwen2a) l1n = "mm.a.fc";
    }
    int64_t rows_in = (int64_t)p->stack * p->merge * p->merge; /* encoder rows per projector row */
    if (p->l1.cols != d_in * rows_in) {
        mm_err(err, "%s: %s.weight takes %lld inputs but the %s encoder gives %lld%s", mm_gguf_path(g), l1n,
               (long long)p->l1.cols, kind == MMGPT_MEDIA_IMAGE ? "image" : "audio", (long long)(d_in * rows_in),
               p->stack > 1 ? " (stacked frames)" : p->merge > 1 ? " (merged patches)" : "");
        goto fail;
    }
    if (p->mlp && p->l2.cols != (p->ultravox ? p->l1.rows / 2 : p->l1.rows)) { /* SwiGLU halves */
        mm_err(err, "%s: %s.weight takes %lld inputs but %s.weight gives %lld%s", mm_gguf_path(g),
               kind == MMGPT_MEDIA_IMAGE ? (p->ldpv2 ? "mm.model.mlp.2" : "mm.2") : "mm.a.mlp.2", (long long)p->l2.cols, l1n, (long long)p->l1.rows,
               p->ultravox ? " (halved by SwiGLU)" : "");
        goto fail;
    }
    int64_t out = p->mlp ? p->l2.rows : p->l1.rows;
    if (d_model > 0 && out != d_model) {
        mm_err(err, fit_msg, mm_gguf_path(g), (long long)out, (long long)d_model);
        goto fail;
    }
    p->d_out = out; /* d_model, or the projector's own width when d_model <= 0 (no decoder: encode-image) */
    p->present = true;
    return 0;
fail:
    mm_projector_free(p);
    return -1;
}

void mm_projector_free(mm_projector *p) {
    if (!p) return;
    free((void *)p->l1.b);
    free((void *)p->l2.b);
    free(p->norm_pre);
    free(p->norm_mid);
    free(p->peg_w);
    free(p->peg_b);
    memset(p, 0, sizeof *p);
}

int64_t mm_projector_n_out(const mm_projector *p, int64_t n) {
    if (p->ldpv2) return n / 4;
    if (p->merge > 1) return n / ((int64_t)p->merge * p->merge);
    return p->stack > 1 ? (n + p->stack - 1) / p->stack : n;
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t mm_projector_scratch_bytes(const mm_projector *p, int64_t n) {
    if (p->ultravox) return mm_proj_ultravox_scratch(p, n);
    int64_t m = mm_projector_n_out(p, n);
    size_t  b = 0;
    if (p->stack > 1) b += align64((size_t)m * (size_t)(p->stack * p->d_in) * sizeof(float)); /* stacked */
    if (p->merge > 1) b += align64((size_t)n * (size_t)p->d_in * sizeof(float));              /* shuffled */
    if (p->ldpv2) /* hidden and MLP output of all n patches (pooled after the MLP) */
        return align64((size_t)n * (size_t)p->l1.rows * sizeof(float)) + align64((size_t)n * (size_t)p->d_out * sizeof(float));
    if (p->mlp) b += align64((size_t)m * (size_t)p->l1.rows * sizeof(float));                 /* hidden */
    return b;
}

/* The exact GELU: 0.5x(1 + erf(x / sqrt 2)). */
static void gelu_erf_rows(float *x, int64_t n) { mm_gelu_erf(x, n); }

/* ldpv2 after its MLP: z [g*g][D] (patch grid row-major) -> y [(g/2)^2][D]: 2x2 average pool, then
 * y = pooled + b + depthwise 3x3 conv (zero padding 1) of pooled, per channel */
static void ldpv2_pool_peg(const mm_projector *p, const float *z, float *y) {
    const int64_t g = p->grid, go = g / 2, D = p->d_out;
    for (int64_t I = 0; I < go; I++)
        for (int64_t J = 0; J < go; J++) {
            float       *o = y + (I * go + J) * D;
            const float *a = z + (2 * I * g + 2 * J) * D, *b = a + D, *c = a + g * D, *e = c + D;
            for (int64_t k = 0; k < D; k++) o[k] = 0.25f * (a[k] + b[k] + c[k] + e[k]);
        }
    /* the conv reads pooled neighbours: write into z's first (g/2)^2 rows, then add into y */
    float *cv = (float *)z;
    for (int64_t I = 0; I < go; I++)
        for (int64_t J = 0; J < go; J++) {
            float *o = cv + (I * go + J) * D;
            memcpy(o, p->peg_b, (size_t)D * sizeof(float));
            for (int ky = 0; ky < 3; ky++) {
                int64_t i = I + ky - 1;
                if (i < 0 || i >= go) continue;
                for (int kx = 0; kx < 3; kx++) {
                    int64_t j = J + kx - 1;
                    if (j < 0 || j >= go) continue;
                    const float *src = y + (i * go + j) * D, *w = p->peg_w + ky * 3 + kx;
                    for (int64_t k = 0; k < D; k++) o[k] += w[9 * k] * src[k];
                }
            }
        }
    mm_add(y, y, cv, go * go * D);
}

void mm_projector_apply(const mm_projector *p, mm_pool *pool, const float *x, int64_t n, float *y, void *scratch) {
    if (n <= 0) return;
    if (p->ldpv2) { /* n = g*g patches (the caller passes the whole grid) */
        float *h = scratch, *z = (float *)((uint8_t *)scratch + align64((size_t)n * (size_t)p->l1.rows * sizeof(float)));
        mm_mat_apply(&p->l1, pool, n, x, h);
        gelu_erf_rows(h, n * p->l1.rows);
        mm_mat_apply(&p->l2, pool, n, h, z);
        ldpv2_pool_peg(p, z, y);
        return;
    }
    if (p->ultravox) {
        mm_proj_ultravox_apply(p, pool, x, n, y, scratch);
        return;
    }
    int64_t  m = mm_projector_n_out(p, n);
    uint8_t *s = scratch;
    const float *in = x;
    if (p->stack > 1) {
        /* row r = frames r*k .. r*k+k-1 side by side; missing frames at the end are zeros */
        float  *st = (float *)s;
        int64_t w = p->stack * p->d_in;
        memset(st, 0, (size_t)m * (size_t)w * sizeof(float));
        memcpy(st, x, (size_t)n * (size_t)p->d_in * sizeof(float)); /* same memory order */
        (void)w;
        s += align64((size_t)m * (size_t)(p->stack * p->d_in) * sizeof(float));
        in = st;
    }
    if (p->merge > 1) {
        /* out row I*(g/s) + J = patches (I*s + di, J*s + dj), di-major then dj, each d_in wide */
        float  *sh = (float *)s;
        int64_t g = p->grid, k = p->merge, go = g / k, d = p->d_in;
        for (int64_t I = 0; I < go; I++)
            for (int64_t J = 0; J < go; J++)
                for (int64_t di = 0; di < k; di++)
                    for (int64_t dj = 0; dj < k; dj++)
                        memcpy(sh + ((I * go + J) * k * k + di * k + dj) * d, x + ((I * k + di) * g + J * k + dj) * d,
                               (size_t)d * sizeof(float));
        s += align64((size_t)n * (size_t)d * sizeof(float));
        in = sh;
    }
    if (!p->mlp) {
        mm_mat_apply(&p->l1, pool, m, in, y);
        return;
    }
    float *h = (float *)s;
    mm_mat_apply(&p->l1, pool, m, in, h);
    gelu_erf_rows(h, m * p->l1.rows);
    mm_mat_apply(&p->l2, pool, m, h, y);
}

int mm_proj_load_linear(mm_mat *l, const mm_gguf *g, const char *name, char *err) {
    return load_linear(l, g, name, err);
}
