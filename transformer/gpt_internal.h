/* gpt_internal.h - private structures of the GPT decoder (transformer/ only). */
#ifndef MM_GPT_INTERNAL_H
#define MM_GPT_INTERNAL_H

#include "mm_transformer.h"

/* One architecture (model.c's table k_archs): which blocks it uses and which tensors it has. Adding a
 * family = a row of the table (+ its block functions in a block file when they are new: llama.c). */
typedef enum { MM_NORM_LAYER, MM_NORM_RMS } mm_gpt_norm_kind;     /* (x-mean)/sd * w + b | x/rms * w */
typedef enum { MM_POS_LEARNED, MM_POS_ROPE } mm_gpt_pos_kind;     /* position_embd rows | rotary q, k */
typedef enum { MM_ROPE_NORMAL, MM_ROPE_NEOX } mm_gpt_rope_mode;   /* pairs (2i, 2i+1) | (i, i + n_rot/2) */
typedef enum { MM_FFN_GELU, MM_FFN_SWIGLU } mm_gpt_ffn_kind;      /* down(gelu(up x)) | down(silu(gate x) * up x) */
typedef enum { MM_BIAS_NONE, MM_BIAS_OPTIONAL, MM_BIAS_REQUIRED } mm_gpt_bias_rule;

typedef struct {
    const char      *name;      /* general.architecture */
    mm_gpt_norm_kind norm;
    mm_gpt_pos_kind  pos;
    mm_gpt_rope_mode rope;
    mm_gpt_ffn_kind  ffn;
    bool             fused_qkv; /* attn_qkv [3d, d] | attn_q, attn_k, attn_v */
    mm_gpt_bias_rule qkv_bias;  /* attn_qkv.bias or attn_{q,k,v}.bias */
    mm_gpt_bias_rule bias;      /* attn_output, ffn_up, ffn_down biases (norm biases: MM_NORM_LAYER) */
} mm_gpt_arch_desc;

/* The row of hp->arch (0 = gpt2, as a zeroed mm_gpt_hparams has it). */
const mm_gpt_arch_desc *mm_gpt_arch_desc_of(int32_t arch);

typedef struct {
    const float *ln1_w, *ln1_b;   /* [d] attn_norm (b NULL for RMSNorm) */
    mm_mat   qkv;             /* fused archs: [3d, d] rows q then k then v (data NULL otherwise); b [3d] or NULL */
    mm_mat   q, k, v;         /* separate archs: [H dh, d], [Hkv dh, d], [Hkv dh, d]; b [rows] or NULL */
    mm_mat   gate;            /* SwiGLU: [d_ff, d] ffn_gate (data NULL otherwise) */
    mm_mat   out;             /* [d, H dh] attn_output; b [d] or NULL (also up, down) */
    const float *ln2_w, *ln2_b;   /* [d] ffn_norm */
    mm_mat   up;              /* [d_ff, d] */
    mm_mat   down;            /* [d, d_ff] */
} mm_gpt_layer;

struct mm_gpt_model {
    mm_gpt_pipeline pipe;             /* this process's layers of a pipeline (all: zeros) */
    mm_gpt_hparams hp;
    mm_mat     tok_embd;          /* [n_vocab, d] */
    mm_mat     pos_embd;          /* [>= n_ctx, d] learned positions (data NULL with rotary ones) */
    const float   *rope_freqs;        /* [n_rot / 2] rope_freqs.weight: theta_i divided by it (Llama 3), or NULL */
    mm_mat     output;            /* [n_vocab, d]; == tok_embd when tied */
    bool           tied;
    const float   *out_norm_w, *out_norm_b; /* [d] */
    mm_gpt_layer  *layers;            /* [n_layer] */
    float        **vec_mem;           /* [n_vec_cap] owned f32 copies of the vectors (NULL = unused slot) */
    size_t         n_vec_cap;
};

/* Decode attention of one head (attention.c): o[dh] = sum_j p_j V_j, p = softmax(scale * K q), over T
 * cached rows; K, V: [T, dh] contiguous, f32 or (f16) f16. sc: scratch [T] (p on return); conv: scratch
 * [T * dh] floats (the plain kernel converts an f16 head there). */
typedef void (*mm_gpt_attn_fn)(const float *q, const void *K, const void *V, int64_t T, int64_t dh, float scale,
                               bool f16, float *sc, float *conv, float *o);
void mm_gpt_attn_plain(const float *q, const void *K, const void *V, int64_t T, int64_t dh, float scale, bool f16,
                       float *sc, float *conv, float *o);
/* The kernel for heads of width dh at core's kernel level: the AVX-512 one at the avx512 level when dh is
 * a multiple of 16 in [16, 256], else mm_gpt_attn_plain. */
mm_gpt_attn_fn mm_gpt_attn_kernel(int64_t dh);

/* 0 when logits [n_rows][n_vocab] (positions pos0.. of the cache) are all finite, else MM_ERR_NONFINITE
 * with "decoder logits at position P are not finite ..." (finite.c; called at the end of every eval). */
int mm_gpt_check_logits(const float *logits, int64_t n_rows, int64_t n_vocab, int64_t pos0, char *err);

/* The batch's pool threads' wall time in mm_gpt_batch_eval steps so far, summed over threads (run_ms), and of
 * it the time spent waiting at phase boundaries for items another thread holds (wait_ms); bench_decoder
 * reports wait / run, the share of the threads' time a step loses to its barriers (a descheduled holder). */
void mm_gpt_batch_wait_stats(const mm_gpt_batch *b, double *run_ms, double *wait_ms);

/* ---- the llama family's blocks (llama.c) */
/* y[n] = x / sqrt(mean(x^2) + eps) * w   (ggml_rms_norm then the weight: sum of squares in double) */
void mm_gpt_rms_norm(float *y, const float *x, const float *w, int64_t n, float eps);
/* x[i] = silu(x[i]) * u[i] = x / (1 + exp(-x)) * u */
void mm_gpt_swiglu(float *x, const float *u, int64_t n);
/* cs[n_rot] = (cos theta_i, sin theta_i) for i < n_rot/2 at position pos, as ggml's rope cache:
 * theta_i = rope_scale * pos * base^(-2i/n_rot) / freqs[i] (freqs NULL = 1), the power built by repeated
 * float multiplication as ggml does. */
void mm_gpt_rope_cache(const mm_gpt_hparams *hp, const float *freqs, int64_t pos, float *cs);
/* Rotate one head x[d_head] in place by cs: pairs (2i, 2i+1) (normal) or (i, i + n_rot/2) (neox),
 * (a, b) -> (a cos - b sin, a sin + b cos); dimensions >= n_rot pass unchanged. */
void mm_gpt_rope_apply(float *x, const float *cs, int64_t n_rot, mm_gpt_rope_mode mode);

/* 0 when the weights + state_bytes (the KV cache of n_ctx positions included) fit in this machine's
 * physical memory, else -1 with "the KV cache of N positions (X GiB) ... lower the context with -c". */
/* Weight bytes this process holds: every byte of the model, or with a pipeline its layers' share (and, on
 * the rank holding layer 0, the embeddings and output) - what mm_gpt_memory_check counts (pipeline.c). */
double mm_gpt_model_bytes_held(const mm_gpt_model *m);
int mm_gpt_memory_check(const mm_gpt_model *m, double state_bytes, int64_t n_ctx, bool kv_f16, char *err);


#endif
