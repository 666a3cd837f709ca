/* gguf_quantize.c - convert a GGUF model file to another weight type the way llama-quantize does
 * (src/llama-quant.cpp of llama.cpp, without an importance matrix), so that mmgpt writes the same kind of
 * files users download:
 *   - which tensors: names ending in "weight", at least 2-D (dims of 1 at the end do not count), not a
 *     norm ("_norm.weight"), not position_embd (also the encoders' v./a.position_embd) / token_types, not
 *     ffn_gate_inp, ssm_conv1d, time_mix_*, attn_rel_b; all others are copied unchanged;
 *   - the type of each (for a quantized file type, unless pure): output.weight (token_embd.weight when there
 *     is no output.weight) Q6_K, or Q8_0 when its rows do not fit the base type's blocks (a Q8_0 file keeps
 *     Q8_0); Q4_K_M / Q5_K_M: attn_v and ffn_down Q6_K in the layers where use_more_bits(i, n) (the first
 *     and last eighth, and every third between), attn_qkv Q5_K (Q4_K_M) / Q6_K (Q5_K_M); Q4_K_S: attn_v of
 *     the first 4 layers and ffn_down of the first eighth Q5_K; layer counters run in llama.cpp's tensor
 *     order (outside blk.N by name first, then by layer, by name), which is also the order written;
 *   - rows that are not a multiple of 256 for a K-quant: Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16
 *     if still not a multiple; for a 32-block type (Q4_0 ... Q8_0) such rows go to F16 too (llama-quantize
 *     stops with "Unsupported tensor size" there: mmgpt keeps the tensor in F16 and quantizes the rest);
 *   - for a quantized file type, weights of 3 or 4 dimensions (the encoders' convolution kernels:
 *     v.patch_embd.weight [p, p, 3, d], a.conv1d.N.weight [3, c_in, c_out]) are copied in their type, as
 *     llama.cpp's mmproj quantizer (clip_model_quantize) converts 2-D weights only: their rows (ne[0] = p or
 *     3) do not fill a block, and the encoders read them as matrices of rows 3*p*p / 3*c_in; for f16 / bf16 /
 *     f32 they are converted as any weight;
 *   - errors name the tensor and the fix: a tensor already quantized (allow_requantize: mmgpt quantize
 *     --allow-requantize), a source type mmgpt does not compute (convert from the f16 / f32 original);
 *   - metadata copied in order, then general.quantization_version = 2 and general.file_type = the file type
 *     (last, as gguf's set_val leaves them: with the same tensors the file is byte-identical to llama.cpp's);
 *   - the values: mm_quantize_row (llama.cpp's reference quantizers) of each row converted to f32.
 * Not done: importance matrices, --token-embedding-type / --output-tensor-type, the 70B / Falcon / expert
 * special cases, split files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_gguf.h"
#include "core_internal.h"

static const struct {
    const char *name;
    int ftype;
    mm_type base;
} k_ftypes[] = {
    {"f32", 0, MM_TYPE_F32},     {"f16", 1, MM_TYPE_F16},     {"q4_0", 2, MM_TYPE_Q4_0},    {"q4_1", 3, MM_TYPE_Q4_1},
    {"q8_0", 7, MM_TYPE_Q8_0},   {"q5_0", 8, MM_TYPE_Q5_0},   {"q5_1", 9, MM_TYPE_Q5_1},    {"q4_k_s", 14, MM_TYPE_Q4_K},
    {"q4_k_m", 15, MM_TYPE_Q4_K}, {"q5_k_s", 16, MM_TYPE_Q5_K}, {"q5_k_m", 17, MM_TYPE_Q5_K}, {"q6_k", 18, MM_TYPE_Q6_K},
    {"bf16", 32, MM_TYPE_BF16},
};
#define N_FTYPES ((int)(sizeof k_ftypes / sizeof k_ftypes[0]))
enum { FT_Q4_K_S = 14, FT_Q4_K_M = 15, FT_Q5_K_M = 17 };

static int ftype_row(int ftype) {
    for (int i = 0; i < N_FTYPES; i++)
        if (k_ftypes[i].ftype == ftype) return i;
    return -1;
}

int mm_gguf_ftype_from_name(const char *name) {
    if (!name) return -1;
    char low[16];
    size_t n = strlen(name);
    if (n >= sizeof low) return -1;
    for (size_t i = 0; i <= n; i++) low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    if (!strcmp(low, "q4_k")) return FT_Q4_K_M;   /* llama-quantize's aliases */
    if (!strcmp(low, "q5_k")) return FT_Q5_K_M;
    for (int i = 0; i < N_FTYPES; i++)
        if (!strcmp(low, k_ftypes[i].name)) return k_ftypes[i].ftype;
    return -1;
}

const char *mm_gguf_ftype_name(int ftype) {
    int i = ftype_row(ftype);
    return i >= 0 ? k_ftypes[i].name : NULL;
}

/* ---------------------------------------------------------------- the plan */
static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* layer of "blk.N.*" (N < 2^30), else -1 (as llama.cpp's sscanf "blk.%d.") */
static int layer_of(const char *name) {
    if (strncmp(name, "blk.", 4) != 0) return -1;
    const char *p = name + 4;
    long v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 10) { v = v * 10 + (*p++ - '0'); digits++; }
    if (!digits || *p != '.' || v >= (1L << 30)) return -1;
    return (int)v;
}

/* llama.cpp's tensor order: outside blk.N first, then by layer; by name within */
static int cmp_tensor(const mm_gguf *g, int64_t a, int64_t b) {
    const mm_gguf_tensor *ta = mm_gguf_tensor_at(g, a), *tb = mm_gguf_tensor_at(g, b);
    int la = layer_of(ta->name), lb = layer_of(tb->name);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(ta->name, tb->name);
}

/* stable merge sort of idx[0, n) by cmp_tensor (tmp: n entries) */
static void sort_tensors(const mm_gguf *g, int64_t *idx, int64_t *tmp, int64_t n) {
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, a = lo, b = mid, k = lo;
            while (a < mid && b < hi) tmp[k++] = cmp_tensor(g, idx[b], idx[a]) < 0 ? idx[b++] : idx[a++];
            while (a < mid) tmp[k++] = idx[a++];
            while (b < hi) tmp[k++] = idx[b++];
        }
        memcpy(idx, tmp, sizeof *idx * (size_t)n);
    }
}

static bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static bool is_quantized(mm_type t) { return t != MM_TYPE_F32 && t != MM_TYPE_F16 && t != MM_TYPE_BF16; }

/* ggml_n_dims: dimensions up to the last one larger than 1 */
static int n_dims_used(const mm_gguf_tensor *t) {
    for (int d = 3; d >= 1; d--)
        if (t->ne[d] > 1) return d + 1;
    return 1;
}

static bool should_quantize(const mm_gguf_tensor *t) {
    const char *n = t->name;
    static const char *const never[] = {"_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d.weight", "time_mix_first.weight",
                                        "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_decay_w1.weight",
                                        "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight"};
    if (!ends_with(n, "weight") || n_dims_used(t) < 2) return false;
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (strstr(n, never[i])) return false;
    /* position embeddings are added, not multiplied: the decoder's and the encoders' (v., a.) stay as they are */
    return !ends_with(n, "position_embd.weight") && strcmp(n, "token_types.weight") != 0;
}

typedef struct {
    int ftype, n_layer, n_attention_wv, i_attention_wv, i_ffn_down;
    bool has_output;
} plan_state;

/* llama_tensor_get_type for the file types above (no importance matrix, one expert, not Falcon) */
static int choose_type(plan_state *s, mm_type base, const mm_gguf_tensor *t) {
    const char *name = t->name;
    int ty = (int)base;
    if (!strcmp(name, "output.weight") || (!s->has_output && !strcmp(name, "token_embd.weight"))) {
        if (t->ne[0] % mm_type_block_size(base) != 0) ty = MM_TYPE_Q8_0;
        else if (base != MM_TYPE_Q8_0) ty = MM_TYPE_Q6_K;
    } else if (!strcmp(name, "token_embd.weight")) {
        /* unchanged for these file types */
    } else if (strstr(name, "attn_v.weight")) {
        if ((s->ftype == FT_Q4_K_M || s->ftype == FT_Q5_K_M) && use_more_bits(s->i_attention_wv, s->n_attention_wv))
            ty = MM_TYPE_Q6_K;
        else if (s->ftype == FT_Q4_K_S && s->i_attention_wv < 4)
            ty = MM_TYPE_Q5_K;
        s->i_attention_wv++;
    } else if (strstr(name, "attn_k.weight") || strstr(name, "attn_q.weight")) {
        /* unchanged */
    } else if (strstr(name, "ffn_down")) {
        int i = s->i_ffn_down, n = s->n_layer;
        if ((s->ftype == FT_Q4_K_M || s->ftype == FT_Q5_K_M) && use_more_bits(i, n)) ty = MM_TYPE_Q6_K;
        else if (s->ftype == FT_Q4_K_S && i < n / 8) ty = MM_TYPE_Q5_K;
        s->i_ffn_down++;
    } else if (strstr(name, "attn_output.weight")) {
        /* unchanged */
    } else if (strstr(name, "attn_qkv.weight")) {
        if (s->ftype == FT_Q4_K_M) ty = MM_TYPE_Q5_K;
        else if (s->ftype == FT_Q5_K_M) ty = MM_TYPE_Q6_K;
    }
    return ty;
}

/* rows that do not fill the type's blocks: llama.cpp's fallback (F16 last) */
static int fit_rows(const mm_gguf_tensor *t, int ty, bool *fallback) {
    *fallback = false;
    if (t->ne[0] % mm_type_block_size((mm_type)ty) == 0) return ty;
    int fb;
    switch (ty) {
    case MM_TYPE_Q4_K: fb = MM_TYPE_Q5_0; break;
    case MM_TYPE_Q5_K: fb = MM_TYPE_Q5_1; break;
    case MM_TYPE_Q6_K: fb = MM_TYPE_Q8_0; break;
    default: fb = MM_TYPE_F16; break; /* a 32-block type: llama-quantize stops here, mmgpt keeps the rows in F16 */
    }
    if (t->ne[0] % mm_type_block_size((mm_type)fb) != 0) fb = MM_TYPE_F16;
    *fallback = true;
    return fb;
}

int mm_gguf_quantize_plan(const mm_gguf *g, const mm_quantize_params *p, int *types, bool *fallback, int64_t *order,
                          char *err) {
    int fr = p ? ftype_row(p->ftype) : -1;
    if (fr < 0) return mm_err(err, "quantize: file type %d is not one mmgpt writes", p ? p->ftype : -1);
    const mm_type base = k_ftypes[fr].base;
    const int64_t n = mm_gguf_n_tensors(g);
    plan_state s = {.ftype = p->ftype};
    int max_layer = -1;
    for (int64_t i = 0; i < n; i++) {
        const mm_gguf_tensor *t = mm_gguf_tensor_at(g, i);
        order[i] = i;
        if (strstr(t->name, "attn_v.weight") || strstr(t->name, "attn_qkv.weight") || strstr(t->name, "attn_kv_b.weight"))
            s.n_attention_wv++;
        else if (!strcmp(t->name, "output.weight"))
            s.has_output = true;
        int l = layer_of(t->name);
        if (l > max_layer) max_layer = l;
    }
    /* n_layer: {arch}.block_count, else the highest blk.N + 1 */
    s.n_layer = max_layer + 1;
    const char *arch;
    size_t alen;
    if (mm_gguf_get_str(g, "general.architecture", &arch, &alen) == 0 && alen < 64) {
        char key[96];
        snprintf(key, sizeof key, "%.*s.block_count", (int)alen, arch);
        uint32_t bc;
        if (mm_gguf_get_u32(g, key, &bc) == 0 && bc < (1u << 30)) s.n_layer = (int)bc;
    }
    int64_t *tmp = malloc(sizeof *tmp * (size_t)(n ? n : 1));
    if (!tmp) return mm_err(err, "quantize: out of memory");
    sort_tensors(g, order, tmp, n);
    free(tmp);
    for (int64_t k = 0; k < n; k++) {
        const int64_t i = order[k];
        const mm_gguf_tensor *t = mm_gguf_tensor_at(g, i);
        int ty = t->type;
        fallback[i] = false;
        /* a convolution kernel (3-D / 4-D) keeps its type in a quantized file (clip_model_quantize: 2-D only) */
        if (should_quantize(t) && !(is_quantized(base) && n_dims_used(t) > 2)) {
            ty = (int)base;
            if (!p->pure && is_quantized(base)) ty = choose_type(&s, base, t);
            if (ty != t->type) {
                ty = fit_rows(t, ty, &fallback[i]);
            }
            if (ty != t->type) {
                if (!mm_type_supported(t->type))
                    return mm_err(err, "tensor %s: cannot convert from %s (mmgpt does not compute that type): convert "
                                  "the model from its f16 or f32 original", t->name, mm_type_name(t->type));
                if (is_quantized((mm_type)t->type) && !p->allow_requantize)
                    return mm_err(err, "tensor %s is already %s: requantizing to %s loses precision; allow it "
                                  "explicitly (mmgpt quantize --allow-requantize), or convert the f16 or f32 original",
                                  t->name, mm_type_name(t->type), mm_type_name(ty));
            }
        }
        types[i] = ty;
    }
    return 0;
}

/* ---------------------------------------------------------------- writing */
typedef struct {
    const mm_gguf *g;
    const int *types;
    const int64_t *order;   /* writer index -> tensor index */
    mm_pool *pool;
    float *rows;            /* [nth * ne0] f32 rows of the current tensor */
    uint8_t *raw;           /* [nth * sb] aligned copies of source rows (the file may align data to 1 byte) */
    const mm_gguf_tensor *t;
    uint8_t *dst;
    mm_type to;
    size_t rb;
} qctx;

static void quantize_task(void *c, int ith, int nth) {
    qctx *q = c;
    const mm_gguf_tensor *t = q->t;
    const int64_t ne0 = t->ne[0], nrows = t->n_elements / ne0;
    const size_t sb = mm_row_size((mm_type)t->type, ne0);
    int64_t r0, r1;
    mm_split_range(nrows, ith, nth, &r0, &r1);
    float *f = q->rows + (size_t)ith * (size_t)ne0;
    uint8_t *raw = q->raw + (size_t)ith * ((sb + 63) & ~(size_t)63);
    for (int64_t r = r0; r < r1; r++) {
        memcpy(raw, (const uint8_t *)t->data + (size_t)r * sb, sb);
        mm_dequantize_row((mm_type)t->type, raw, f, ne0);   /* F32: a copy */
        mm_quantize_row(q->to, f, q->dst + (size_t)r * q->rb, ne0);
    }
}

static int fill_tensor(void *ctx, int64_t index, void *dst, size_t n_bytes, char *err) {
    qctx *q = ctx;
    const int64_t i = q->order[index];
    const mm_gguf_tensor *t = mm_gguf_tensor_at(q->g, i);
    if (q->types[i] == t->type) {
        memcpy(dst, t->data, n_bytes);
        return 0;
    }
    const int64_t ne0 = t->ne[0];
    const int nth = mm_pool_n_threads(q->pool);
    const size_t sb = (mm_row_size((mm_type)t->type, ne0) + 63) & ~(size_t)63;
    q->rows = malloc((size_t)nth * (size_t)ne0 * sizeof(float));
    q->raw = aligned_alloc(64, (size_t)nth * sb);
    if (!q->rows || !q->raw) {
        free(q->rows);
        free(q->raw);
        return mm_err(err, "tensor %s: out of memory", t->name);
    }
    q->t = t;
    q->dst = dst;
    q->to = (mm_type)q->types[i];
    q->rb = mm_row_size(q->to, ne0);
    mm_pool_run(q->pool, quantize_task, q);
    free(q->rows);
    free(q->raw);
    q->rows = NULL;
    q->raw = NULL;
    return 0;
}

int mm_gguf_quantize(const mm_gguf *g, const char *out_path, const mm_quantize_params *p, char *err) {
    const int64_t n = mm_gguf_n_tensors(g);
    int *types = malloc(sizeof(int) * (size_t)(n ? n : 1));
    bool *fb = malloc(sizeof(bool) * (size_t)(n ? n : 1));
    int64_t *order = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    mm_gguf_writer *w = mm_gguf_writer_create();
    mm_pool *pool = NULL;
    int rc = -1;
    if (!types || !fb || !order || !w) {
        mm_err(err, "quantize: out of memory");
        goto done;
    }
    if (mm_gguf_quantize_plan(g, p, types, fb, order, err)) goto done;
    if (!(pool = mm_pool_create(p->n_threads, err))) goto done;
    qctx q = {.g = g, .types = types, .order = order, .pool = pool};
    /* metadata in order, then general.quantization_version and general.file_type last (where gguf's
     * set_val puts a key that is set again: the same bytes as llama-quantize) */
    int bad = 0;
    for (int64_t k = 0; k < mm_gguf_n_kv(g) && !bad; k++) {
        const char *key = mm_gguf_kv_key(g, k);
        if (!strcmp(key, "general.quantization_version") || !strcmp(key, "general.file_type")) continue;
        size_t nb;
        const void *raw = mm_gguf_kv_raw(g, k, &nb);
        bad = mm_gguf_writer_set_raw(w, key, mm_gguf_kv_type(g, k), raw, nb);
    }
    if (bad || mm_gguf_writer_set_u32(w, "general.quantization_version", 2) ||
        mm_gguf_writer_set_u32(w, "general.file_type", (uint32_t)p->ftype)) {
        mm_gguf_writer_write(w, out_path, err);   /* reports the writer's first error */
        goto done;
    }
    for (int64_t k = 0; k < n; k++) {
        const mm_gguf_tensor *t = mm_gguf_tensor_at(g, order[k]);
        const int ty = types[order[k]];
        size_t bytes = mm_row_size((mm_type)ty, t->ne[0]) * (size_t)(t->n_elements / t->ne[0]);
        if (ty == t->type) bytes = t->n_bytes;
        mm_gguf_writer_add_tensor_fill(w, t->name, ty, t->n_dims, t->ne, bytes, fill_tensor, &q);
    }
    rc = mm_gguf_writer_write(w, out_path, err);
done:
    mm_pool_free(pool);
    mm_gguf_writer_free(w);
    free(types);
    free(fb);
    free(order);
    return rc;
}
