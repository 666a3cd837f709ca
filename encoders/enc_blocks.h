/* enc_blocks.h - shared pieces of the encoders (internal to mmgpt: encoders/ and fusion/ use it).
 *
 * A stack of pre-LN, bidirectional (no mask) transformer blocks, as in CLIP's ViT and Whisper's encoder:
 *
 *     for each layer l < n_layers_run:
 *         h = LN1(x);  q = h Wq^T + bq;  k = h Wk^T + bk;  v = h Wv^T + bv     (all [n, d])
 *         per head j (dh = d / n_head, columns j*dh ..): a_j = softmax(q_j k_j^T / sqrt(dh)) v_j
 *         x += a Wo^T + bo
 *         h = LN2(x);  x += act(h Wup^T + bup) Wdown^T + bdown                  (up: [n, d_ff])
 *
 * Tensors, read from a GGUF by prefix P ("v" for vision, "a" for audio), N = 0 .. n_layer-1:
 *     P.blk.N.ln1.{weight,bias}        [d]           f32
 *     P.blk.N.attn_q.{weight,bias}     ne [d, d]     (weight: f32|f16|q8_0|q4_0; bias f32 [d])
 *     P.blk.N.attn_k.*, attn_v.*, attn_out.*   same (attn_k.bias optional: Whisper's k_proj has none)
 *     P.blk.N.ln2.{weight,bias}        [d]
 *     P.blk.N.ffn_up.{weight,bias}     ne [d, d_ff], bias [d_ff]
 *     P.blk.N.ffn_down.{weight,bias}   ne [d_ff, d], bias [d]
 * Files of older llama.cpp converters (LLaVA-1.5's convert_image_encoder_to_gguf.py, the first SmolVLM
 * mmproj files) name the FIRST matrix ffn_down and the second ffn_up. They are recognised by shape, as
 * llama.cpp's clip.cpp does (ffn_down with ne[0] == d): when d != d_ff, ffn_up ne [d_ff, d] and ffn_down
 * ne [d, d_ff] mean swapped names, and the pair (weights and biases) is read the other way round
 * (mm_enc_blocks.ffn_swapped counts such blocks). With d == d_ff the shapes cannot tell and the names are
 * taken as written (llama.cpp then swaps for its older projector types; no published file has d == d_ff).
 * Every shape and type is checked at load; a missing/misshaped tensor is a clear error naming it.
 * Weights point into the GGUF mapping (keep the mm_gguf open while the blocks are used).
 *
 * Usage (audio encoder, say):
 *     mm_enc_hparams hp = { .n_layer = 6, .d = 512, .d_ff = 2048, .n_head = 8, .eps = 1e-5f,
 *                           .act = MM_ACT_GELU_ERF };
 *     mm_enc_blocks blk;
 *     if (mm_enc_blocks_load(g, "a", &hp, &blk, err)) return -1;          // model load
 *     size_t sz = mm_enc_blocks_scratch_size(&hp, n_tokens_max, mm_pool_n_threads(pool));
 *     void *scratch = aligned/any malloc(sz);                               // state creation, once
 *     ...
 *     mm_enc_blocks_forward(&blk, pool, x, n_tokens, hp.n_layer, scratch, sz, err);  // x [n_tokens][d]
 *     mm_enc_blocks_free(&blk);
 * forward() never allocates; it fails (-1) if n_tokens exceeds what the scratch was sized for.
 * n_threads given to scratch_size must be >= the pool's thread count used in forward.
 * Threads: linear layers run through mm_linear(pool); attention splits heads over the pool (each thread:
 * mm_sgemm on its own thread for its heads; with more threads than heads, each head's query rows are
 * split too); LayerNorm and the activation split rows over the pool.
 *
 * Helpers for other single layers (projectors in fusion/, ViT pre/post LN, conv as linear):
 *     mm_gguf_mat_load(g, "mm.0", in, out, out, flags, &lin, NULL, err)  reads "mm.0.weight" (ne [in, out])
 *                                                          and "mm.0.bias" ([out], f32) (mm_gguf.h)
 *     mm_enc_norm_load(g, "v.post_ln", d, required, &ln, err)         reads "v.post_ln.{weight,bias}".
 *     mm_mat_apply(&lin, pool, n, X[n][in], Y[n][out])               Y = X W^T + b (mm_core.h).
 *     mm_enc_norm_forward(&ln, eps, pool, n, x[n][d], y[n][d])       y may equal x.
 *     mm_enc_act(act, pool, x, n)                                    in place over n floats.
 */
#ifndef MM_ENC_BLOCKS_H
#define MM_ENC_BLOCKS_H

#include "mm_core.h"
#include "mm_gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    MM_ACT_GELU_ERF   = 0,  /* 0.5x(1+erf(x/sqrt2)) - HF "gelu", Whisper, clip.use_gelu = true */
    MM_ACT_GELU_TANH  = 1,  /* tanh approximation - GPT-2 "gelu_new" */
    MM_ACT_QUICK_GELU = 2,  /* x*sigmoid(1.702x) - OpenAI CLIP */
    MM_ACT_SILU       = 3,  /* x*sigmoid(x) - clip.use_silu = true */
} mm_act;

/* Linear layers: mm_mat (mm_core.h), y = W x + b; an encoder's biases point into the GGUF mapping. */
/* A LayerNorm's affine pair; w == NULL means "absent" (optional norms). */
typedef struct {
    const float *w;  /* [n] */
    const float *b;  /* [n] */
    int64_t      n;
} mm_enc_norm;

typedef struct {
    mm_enc_norm   ln1;       /* [d] */
    mm_mat q, k, v;   /* [d] -> [d] */
    mm_mat o;         /* attn_out [d] -> [d] */
    mm_enc_norm   ln2;       /* [d] */
    mm_mat up;        /* [d] -> [d_ff] */
    mm_mat down;      /* [d_ff] -> [d] */
} mm_enc_block;

typedef struct {
    int    n_layer;  /* blocks in the file */
    int    d;        /* model width (d % n_head == 0) */
    int    d_ff;     /* MLP width */
    int    n_head;
    float  eps;      /* LayerNorm epsilon */
    mm_act act;      /* MLP activation */
} mm_enc_hparams;

typedef struct {
    mm_enc_hparams hp;
    mm_enc_block  *blk;  /* [hp.n_layer] (malloc'd) */
    int            ffn_swapped;  /* blocks whose ffn_up/ffn_down names were swapped in the file (see top) */
} mm_enc_blocks;

/* Check hyper-parameters are sane (positive, d % n_head == 0, caps: d,d_ff <= 65536, n_layer <= 1024).
 * err receives the reason alone ("width 0 out of range"): the caller, who knows the file, puts
 * "PATH: what: " in front (mm_err's format, mm_core.h). */
int  mm_enc_hparams_check(const mm_enc_hparams *hp, char *err);

/* Load P.blk.0 .. P.blk.{n_layer-1}. On failure nothing is left allocated. */
int  mm_enc_blocks_load(const mm_gguf *g, const char *prefix, const mm_enc_hparams *hp,
                        mm_enc_blocks *b, char *err);
void mm_enc_blocks_free(mm_enc_blocks *b);

/* Bytes of scratch forward() needs for up to n_tokens rows with n_threads threads (0 on overflow). */
size_t mm_enc_blocks_scratch_size(const mm_enc_hparams *hp, int64_t n_tokens, int n_threads);

/* Run blocks 0 .. n_layers-1 (n_layers <= n_layer) over x [n_tokens][d] in place. */
int  mm_enc_blocks_forward(const mm_enc_blocks *b, mm_pool *pool, float *x, int64_t n_tokens,
                           int n_layers, void *scratch, size_t scratch_size, char *err);

/* 0 when the encoder output x [rows][d] is finite, else MM_ERR_NONFINITE with "<what> output row R of
 * <rows> is not finite (nan): the model file's <what> weights (<prefix>.*) hold NaN/Inf values or overflow".
 * row0 numbers the rows in the message (windows of a long clip). */
int  mm_enc_check_output(const float *x, int64_t rows, int64_t d, int64_t row0, const char *what, const char *prefix,
                         char *err);

/* ---- single layers */
/* "<name>.weight" and "<name>.bias", both f32 [n]. If !required and both are absent: ln->w = NULL, 0. */
int  mm_enc_norm_load(const mm_gguf *g, const char *name, int64_t n, bool required, mm_enc_norm *ln,
                      char *err);
/* A 1-D f32 tensor of exactly n elements (e.g. v.class_embd); required or optional (NULL). */
int  mm_enc_vec_load(const mm_gguf *g, const char *name, int64_t n, bool required, const float **out,
                     char *err);

void mm_enc_norm_forward(const mm_enc_norm *ln, float eps, mm_pool *pool, int64_t n, const float *x,
                         float *y);
void mm_enc_act(mm_act act, mm_pool *pool, float *x, int64_t n);

#ifdef __cplusplus
}
#endif
#endif /* MM_ENC_BLOCKS_H */
