/* rand_gpt.h - small random gpt2 GGUF files for the C decoder tests (header-only, one user per program).
 *
 * rand_gpt_write(path, spec) writes a GPT-2 file with llama.cpp names: dims from spec, weights uniform
 * (LCG, fixed seed: the same spec gives the same file), matrices of spec.wtype (F32 unless set; quantized
 * with core's mm_quantize_row), vectors f32 (f16 with f16_vectors), tied output. skip / bad_shape / arch /
 * n_head change one thing for the loader's error tests; n_head_kv > 0 writes a llama file (rand_llama_write). */
#ifndef RAND_GPT_H
#define RAND_GPT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_gguf.h"

typedef struct {
    int n_vocab, n_ctx, d, n_layer, n_head, d_ff;
    mm_type wtype;           /* matrices (0 = F32) */
    const char *skip;        /* tensor name to leave out */
    const char *bad_shape;   /* tensor name to give a wrong shape */
    const char *arch;        /* general.architecture (NULL = gpt2) */
    bool f16_vectors;
    int n_head_kv;           /* > 0: a llama-architecture file instead (RMSNorm, rotary, SwiGLU, this many
                                KV heads, rope_freqs.weight, linear rope scaling 2, separate attn_q/k/v) */
} rand_gpt_spec;

static float rand_gpt_frand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((float)((*s >> 40) & 0xFFFFFF) / 16777216.0f - 0.5f);
}

static void rand_gpt_add(mm_gguf_writer *w, const rand_gpt_spec *v, const char *name, int64_t cols, int64_t rows,
                         float scale, float offset, uint64_t *seed) {
    if (v->skip && !strcmp(v->skip, name)) return;
    if (v->bad_shape && !strcmp(v->bad_shape, name)) cols += 1;
    int64_t n = cols * rows;
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = offset + scale * rand_gpt_frand(seed);
    int64_t ne[2] = {cols, rows};
    mm_type t = rows == 1 ? (v->f16_vectors ? MM_TYPE_F16 : MM_TYPE_F32) : v->wtype;
    if (strstr(name, "position_embd") || mm_row_size(t, cols) == 0) t = MM_TYPE_F32;
    size_t rb = mm_row_size(t, cols);
    uint8_t *q = malloc(rb * (size_t)rows);
    for (int64_t r = 0; r < rows; r++) mm_quantize_row(t, x + r * cols, q + rb * (size_t)r, cols);
    mm_gguf_writer_add_tensor(w, name, t, rows == 1 ? 1 : 2, ne, q, rb * (size_t)rows);
    free(q);
    free(x);
}

static int rand_gpt_finish(mm_gguf_writer *w, const char *path) {
    char err[MM_ERR_SIZE];
    int rc = mm_gguf_writer_write(w, path, err);
    if (rc != 0) fprintf(stderr, "rand_gpt_write: %s\n", err);
    mm_gguf_writer_free(w);
    return rc;
}

/* llama layout: RMSNorm weights only, attn_q/k/v [H dh | Hkv dh, d], SwiGLU, tied output, rope_freqs; arch "qwen2":
 * the same with qwen2.* keys and q/k/v biases (neox rotary) */
static int rand_llama_write(const char *path, const rand_gpt_spec *v) {
    uint64_t seed = 54321;
    const int D = v->d, FF = v->d_ff, DKV = D / v->n_head * v->n_head_kv;
    const char *A = v->arch ? v->arch : "llama";
    const bool qkv_bias = strcmp(A, "qwen2") == 0;
    char key[96];
    mm_gguf_writer *w = mm_gguf_writer_create();
    mm_gguf_writer_set_str(w, "general.architecture", A);
    snprintf(key, sizeof key, "%s.context_length", A), mm_gguf_writer_set_u32(w, key, (uint32_t)v->n_ctx);
    snprintf(key, sizeof key, "%s.embedding_length", A), mm_gguf_writer_set_u32(w, key, (uint32_t)D);
    snprintf(key, sizeof key, "%s.feed_forward_length", A), mm_gguf_writer_set_u32(w, key, (uint32_t)FF);
    snprintf(key, sizeof key, "%s.block_count", A), mm_gguf_writer_set_u32(w, key, (uint32_t)v->n_layer);
    snprintf(key, sizeof key, "%s.attention.head_count", A), mm_gguf_writer_set_u32(w, key, (uint32_t)v->n_head);
    snprintf(key, sizeof key, "%s.attention.head_count_kv", A), mm_gguf_writer_set_u32(w, key, (uint32_t)v->n_head_kv);
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", A), mm_gguf_writer_set_f32(w, key, 1e-5f);
    snprintf(key, sizeof key, "%s.rope.freq_base", A), mm_gguf_writer_set_f32(w, key, 10000.0f);
    snprintf(key, sizeof key, "%s.rope.scaling.type", A), mm_gguf_writer_set_str(w, key, "linear");
    snprintf(key, sizeof key, "%s.rope.scaling.factor", A), mm_gguf_writer_set_f32(w, key, 2.0f);
    rand_gpt_add(w, v, "token_embd.weight", D, v->n_vocab, 1.0f, 0, &seed);
    rand_gpt_add(w, v, "output_norm.weight", D, 1, 0.2f, 1, &seed);
    rand_gpt_add(w, v, "rope_freqs.weight", D / v->n_head / 2, 1, 0.5f, 2, &seed);
    for (int l = 0; l < v->n_layer; l++) {
        char n[64];
#define T(suffix, cols, rows, sc, off) snprintf(n, sizeof n, "blk.%d." suffix, l), rand_gpt_add(w, v, n, cols, rows, sc, off, &seed)
        T("attn_norm.weight", D, 1, 0.2f, 1);
        T("attn_q.weight", D, D, 0.35f, 0);
        T("attn_k.weight", D, DKV, 0.35f, 0);
        T("attn_v.weight", D, DKV, 0.35f, 0);
        if (qkv_bias) {
            T("attn_q.bias", D, 1, 0.2f, 0);
            T("attn_k.bias", DKV, 1, 0.2f, 0);
            T("attn_v.bias", DKV, 1, 0.2f, 0);
        }
        T("attn_output.weight", D, D, 0.35f, 0);
        T("ffn_norm.weight", D, 1, 0.2f, 1);
        T("ffn_gate.weight", D, FF, 0.35f, 0);
        T("ffn_up.weight", D, FF, 0.35f, 0);
        T("ffn_down.weight", FF, D, 0.18f, 0);
#undef T
    }
    return rand_gpt_finish(w, path);
}

static int rand_gpt_write(const char *path, const rand_gpt_spec *v) {
    if (v->n_head_kv > 0) return rand_llama_write(path, v);
    uint64_t seed = 12345;
    const int D = v->d, FF = v->d_ff;
    mm_gguf_writer *w = mm_gguf_writer_create();
    mm_gguf_writer_set_str(w, "general.architecture", v->arch ? v->arch : "gpt2");
    mm_gguf_writer_set_u32(w, "gpt2.context_length", (uint32_t)v->n_ctx);
    mm_gguf_writer_set_u32(w, "gpt2.embedding_length", (uint32_t)D);
    mm_gguf_writer_set_u32(w, "gpt2.feed_forward_length", (uint32_t)FF);
    mm_gguf_writer_set_u32(w, "gpt2.block_count", (uint32_t)v->n_layer);
    mm_gguf_writer_set_u32(w, "gpt2.attention.head_count", (uint32_t)v->n_head);
    mm_gguf_writer_set_f32(w, "gpt2.attention.layer_norm_epsilon", 1e-5f);
    rand_gpt_add(w, v, "token_embd.weight", D, v->n_vocab, 1.0f, 0, &seed);
    rand_gpt_add(w, v, "position_embd.weight", D, v->n_ctx, 0.4f, 0, &seed);
    rand_gpt_add(w, v, "output_norm.weight", D, 1, 0.2f, 1, &seed);
    rand_gpt_add(w, v, "output_norm.bias", D, 1, 0.2f, 0, &seed);
    for (int l = 0; l < v->n_layer; l++) {
        char n[64];
#define T(suffix, cols, rows, sc, off) snprintf(n, sizeof n, "blk.%d." suffix, l), rand_gpt_add(w, v, n, cols, rows, sc, off, &seed)
        T("attn_norm.weight", D, 1, 0.2f, 1);
        T("attn_norm.bias", D, 1, 0.2f, 0);
        T("attn_qkv.weight", D, 3 * D, 0.35f, 0);
        T("attn_qkv.bias", 3 * D, 1, 0.2f, 0);
        T("attn_output.weight", D, D, 0.35f, 0);
        T("attn_output.bias", D, 1, 0.2f, 0);
        T("ffn_norm.weight", D, 1, 0.2f, 1);
        T("ffn_norm.bias", D, 1, 0.2f, 0);
        T("ffn_up.weight", D, FF, 0.35f, 0);
        T("ffn_up.bias", FF, 1, 0.2f, 0);
        T("ffn_down.weight", FF, D, 0.18f, 0);
        T("ffn_down.bias", D, 1, 0.2f, 0);
#undef T
    }
    return rand_gpt_finish(w, path);
}

#endif
