/* mm_transformer.h - the decoder (GPT-2 / GPT-3, and the llama family: llama, qwen2), its KV cache, the
 * sampler and the parameter accounting.
 *
 * Architectures (general.architecture; llama.cpp's keys {arch}.* and tensor names; transformer/model.c's
 * table, one row per family):
 *   gpt2:  x_i  = token_embd[t_i] (or a ready embedding row e_i of width d_model) + position_embd[pos_i]
 *          per block:  x += attn_output(causal_MHA(attn_qkv(LN_attn(x))))
 *                      x += ffn_down(GELU_tanh(ffn_up(LN_ffn(x))))
 *          logits = output(LN_out(x))       (output.weight absent = tied to token_embd)
 *   llama, qwen2:  x_i = token_embd[t_i] (or e_i); no position rows: positions rotate q and k
 *          per block:  h = RMSNorm(x) * attn_norm   (x / sqrt(mean(x^2) + layer_norm_rms_epsilon))
 *                      q = attn_q h (+ bias), k = attn_k h, v = attn_v h  (qwen2: q/k/v biases)
 *                      q, k <- RoPE(pos): pairs (2i, 2i+1) for llama (the q/k rows as llama.cpp's converter
 *                      permutes them), (i, i + n_rot/2) ("neox") for qwen2; theta_i = pos * rope_scale *
 *                      rope.freq_base^(-2i/n_rot) / rope_freqs[i] (rope_freqs.weight: Llama 3, else 1;
 *                      rope_scale = 1 / rope.scaling.factor for linear scaling)
 *                      x += attn_output(causal attention, query head j using key/value head j / (H / Hkv))
 *                      x += ffn_down(silu(ffn_gate h2) * ffn_up h2),  h2 = RMSNorm(x) * ffn_norm
 *          logits = output(RMSNorm(x) * output_norm)   (output.weight absent = tied)
 *   Keys are range-checked (head_count_kv divides head_count, rope.dimension_count even and <= the head
 *   width, rope.scaling.type "none" / "linear" only, ...) and every tensor's shape against them.
 *
 * Model vs state
 *   mm_gpt_model is read-only after loading and borrows the tensors of an mmapped mm_gguf, which must
 *   stay open while the model is used (close it after mm_gpt_model_free). Any number of states (one
 *   per conversation / thread) may share one model. mm_gpt_state owns the KV cache, the activations
 *   and the logits; everything is allocated once at mm_gpt_state_create - mm_gpt_eval never allocates.
 *   A pipeline over processes (mm_dist.h) sets, right after loading, which layers this process
 *   evaluates (mm_gpt_model_set_pipeline, "pipeline parallelism" below); its states then hold the KV
 *   cache of those layers only.
 *
 * Evaluation
 *   mm_gpt_eval appends n positions after the n_past already in the cache. Each position is a token id
 *   or (embd != NULL, which wins) a float row of width d_model - image and audio embeddings enter this
 *   way; position embeddings are added to every row, tokens and embeddings alike. Batches of more
 *   than one position run through sgemm (mm_linear with n > 1, attention with mm_sgemm), single
 *   positions through the matvec kernels; batches longer than params.n_batch are split internally.
 *   n_past + n > n_ctx is an error (nothing is evaluated, the state is unchanged).
 *   After a successful eval mm_gpt_state_logits() holds the logits of the last position; pass
 *   logits_all (caller buffer [n, n_vocab]) to get every position's logits.
 *   mm_gpt_state_truncate(s, n) forgets positions >= n (chat rewinds / keeps a shared prefix);
 *   mm_gpt_state_reset() = truncate(0).
 *   A single position is one decode step: all its products, attentions and norms in one run of the
 *   state's pool (threads claim rows of each product; results do not depend on the thread count).
 *   Several states of one model advance one position each in one pass over the weights with
 *   mm_gpt_batch_eval ("batched decode across sequences" below), each bit-identical to its own decode step.
 *
 * Memory, threads, environment
 *   mm_gpt_state_create allocates everything eval uses (KV cache, activations, the kernels' per-thread
 *   scratch in the pool): mm_gpt_eval makes no heap allocation (tests/transformer/test_gpt_noalloc.c
 *   counts them). Everything that depends on the CPU is chosen at state creation from core's kernel
 *   level; the decoder keeps no global state, so states in different threads (each with its own pool)
 *   never interact (ThreadSanitizer-checked: tools/test.sh --tsan). The decoder reads no environment
 *   variable; core's knobs apply (mm_core.h: MMGPT_KERNEL, MMGPT_GEMM, MMGPT_POOL_SPIN_US).
 *
 * Numerics
 *   Batches multiply with weights dequantized to f32 (sgemm). Single positions use core's matvec
 *   kernels, which for Q8_0/Q4_0 weights round their input to 8 bits per block of 32 (as ggml does):
 *   for quantized models the decode path's logits differ from the batch path's by about 1% of
 *   max |logit| (tests/transformer/test_gpt_parity.py states the measured bounds); for F32/F16 weights
 *   the two agree to ~1e-6. The output matrix of the last position of a batch evaluated without
 *   logits_all is a single row too (matvec). The KV cache is f32 [n_layer][n_head_kv][n_ctx][d_head]
 *   (keys after the rotary embedding); params.kv_f16 stores it as f16 (half the memory and decode
 *   attention traffic). Parity with PyTorch forwards written from the architectures' descriptions:
 *   tests/transformer/test_gpt_parity.py (gpt2), test_llama_parity.py (llama, qwen2).
 *
 * Context length and memory
 *   params.n_ctx = 0 gives min(the model's context, MM_GPT_DEFAULT_CTX = 4096) positions (llama-family
 *   files declare 32k-128k). mm_gpt_state_create refuses, before allocating, a state whose KV cache +
 *   activations + the model's weights exceed the machine's physical memory ("the KV cache of N positions
 *   (X GiB) ... lower the context with -c"); mm_gpt_kv_bytes gives the KV bytes of any length.
 *
 * Errors follow mm_core.h: 0 / -1 (or NULL) with a one-line message in err (MM_ERR_SIZE bytes).
 *
 * Example
 *   mm_gguf *g = mm_gguf_open("gpt2.gguf", err);
 *   mm_gpt_model *m = mm_gpt_model_load(g, err);
 *   mm_gpt_state_params sp = mm_gpt_state_default_params(); sp.n_threads = 2;
 *   mm_gpt_state *s = mm_gpt_state_create(m, sp, err);
 *   mm_gpt_eval_tokens(s, ids, n_ids, NULL, err);            // prompt (sgemm)
 *   mm_sampler *smp = mm_sampler_create(mm_sampler_default_params(), mm_gpt_model_n_vocab(m), err);
 *   for (i = 0; i < n_ids; i++) mm_sampler_accept(smp, ids[i]);   // the penalties see the prompt
 *   for (...) { int32_t t = mm_sampler_sample(smp, mm_gpt_state_logits(s)); mm_sampler_accept(smp, t);
 *               if (t == eos) break; mm_gpt_eval_tokens(s, &t, 1, NULL, err); }   // KV-cache decode
 *   mm_sampler_free(smp); mm_gpt_state_free(s); mm_gpt_model_free(m); mm_gguf_close(g);
 */
#ifndef MM_TRANSFORMER_H
#define MM_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "mm_core.h"
#include "mm_gguf.h"

#ifdef __cplusplus
extern "C" {
#endif
MM_API_BEGIN  /* every declaration below is exported from libmmgpt.so (mm_api.h) */

/* ---------------------------------------------------------------- hyper-parameters */
typedef struct {
    int64_t n_vocab;  /* vocabulary size (rows of token_embd) */
    int64_t n_ctx;    /* trained context length (rows of position_embd) */
    int64_t d_model;  /* residual width */
    int64_t n_layer;  /* blocks */
    int64_t n_head;   /* attention heads */
    int64_t d_head;   /* width of one head: d_model / n_head, or {arch}.attention.key_length */
    int64_t d_ff;     /* MLP hidden width (4 d_model) */
    float   eps;      /* layer-norm epsilon (1e-5); RMSNorm epsilon for llama / qwen2 */
    /* llama family (all zero for gpt2: learned positions, n_head_kv = n_head) */
    int32_t arch;       /* mm_gpt_arch */
    int64_t n_head_kv;  /* key/value heads (grouped-query attention); 0 = n_head */
    int64_t n_rot;      /* rotary dimensions of a head (even, <= d_head); 0 = no rotary embedding */
    float   rope_base;  /* rope.freq_base (10000) */
    float   rope_scale; /* positions are multiplied by this: 1 / rope.scaling.factor (linear), else 1 */
} mm_gpt_hparams;

/* The architectures of general.architecture that mmgpt runs (transformer/model.c's table). */
typedef enum { MM_GPT_ARCH_GPT2 = 0, MM_GPT_ARCH_LLAMA = 1, MM_GPT_ARCH_QWEN2 = 2 } mm_gpt_arch;
/* "gpt2", "llama", "qwen2"; NULL for an unknown id */
const char *mm_gpt_arch_str(int32_t arch);

/* Default KV-cache length when the caller gives none (mm_gpt_state_params.n_ctx = 0): the model's
 * context, capped at this (published llama-family files declare 32k-128k positions). */
#define MM_GPT_DEFAULT_CTX 4096

/* Read and check the {arch}.* keys of a file (general.architecture one of gpt2, llama, qwen2). */
int mm_gpt_hparams_from_gguf(const mm_gguf *g, mm_gpt_hparams *hp, char *err);

/* ---------------------------------------------------------------- model (read-only, shared) */
typedef struct mm_gpt_model mm_gpt_model;

/* Load the decoder of g (borrowed: keep g open until mm_gpt_model_free). Checks every tensor's
 * presence, shape and type (matrices: every type core computes, mm_type_supported; vectors F32 or F16)
 * against the keys, for the architecture general.architecture names. */
mm_gpt_model *mm_gpt_model_load(const mm_gguf *g, char *err);
void          mm_gpt_model_free(mm_gpt_model *m);

const mm_gpt_hparams *mm_gpt_model_hparams(const mm_gpt_model *m);
int64_t mm_gpt_model_d_model(const mm_gpt_model *m);
int64_t mm_gpt_model_n_vocab(const mm_gpt_model *m);
int64_t mm_gpt_model_n_ctx(const mm_gpt_model *m);
int64_t mm_gpt_model_n_layer(const mm_gpt_model *m);
int64_t mm_gpt_model_n_head(const mm_gpt_model *m);
bool    mm_gpt_model_tied(const mm_gpt_model *m);        /* output.weight absent */
mm_type mm_gpt_model_type(const mm_gpt_model *m);        /* type of blk.0.ffn_up.weight */
/* Bytes of weights read to decode one token (all block matrices + output matrix + vectors). */
size_t  mm_gpt_model_bytes_per_token(const mm_gpt_model *m);
/* Bytes of all the weights the model uses (mapped from the file). */
size_t  mm_gpt_model_bytes(const mm_gpt_model *m);
int32_t mm_gpt_model_arch(const mm_gpt_model *m);        /* mm_gpt_arch */
/* Bytes of the KV cache of n_ctx positions: 2 n_layer n_ctx n_head_kv d_head x (4, or 2 when kv_f16). */
double  mm_gpt_kv_bytes(const mm_gpt_hparams *hp, int64_t n_ctx, bool kv_f16);
/* Copy token_embd row `token` (dequantized) into out[d_model]; -1 if token is out of range. */
int     mm_gpt_model_token_embd(const mm_gpt_model *m, int32_t token, float *out, char *err);

/* ---------------------------------------------------------------- state (KV cache + scratch) */
typedef struct mm_gpt_state mm_gpt_state;

typedef struct {
    int64_t  n_ctx;     /* positions the KV cache holds; 0 = min(the model's n_ctx, MM_GPT_DEFAULT_CTX);
                           never more than the model's */
    int      n_threads; /* threads of the state's own pool; <= 0 = all CPUs (ignored if pool set) */
    int64_t  n_batch;   /* most positions processed per internal step (default 512) */
    mm_pool *pool;      /* optional borrowed pool (shared with encoders); NULL = state owns one */
    bool     kv_f16;    /* keep the KV cache in f16 (half the memory and decode attention traffic;
                           keys/values rounded to f16). Default false: f32 */
} mm_gpt_state_params;

mm_gpt_state_params mm_gpt_state_default_params(void);
mm_gpt_state *mm_gpt_state_create(const mm_gpt_model *m, mm_gpt_state_params p, char *err);
void          mm_gpt_state_free(mm_gpt_state *s);

const mm_gpt_model *mm_gpt_state_model(const mm_gpt_state *s);
mm_pool *mm_gpt_state_pool(mm_gpt_state *s);
int64_t  mm_gpt_state_n_ctx(const mm_gpt_state *s);     /* capacity of the cache */
int64_t  mm_gpt_state_n_past(const mm_gpt_state *s);    /* positions in the cache */
int64_t  mm_gpt_state_n_batch(const mm_gpt_state *s);   /* positions per internal step (mm_gpt_eval of n
                                                           positions = of its n_batch-sized pieces in turn) */
/* Keep positions [0, n) and forget the rest (n <= n_past). */
int      mm_gpt_state_truncate(mm_gpt_state *s, int64_t n, char *err);
void     mm_gpt_state_reset(mm_gpt_state *s);
/* Make dst's KV cache hold src's first n positions (n <= src's n_past, <= dst's n_ctx): the same bits, copied
 * (no evaluation), and dst's n_past = n; dst's logits are then undefined until its next eval. The states are
 * of one model (same layers, same cache type: kv_f16). A prefix that several conversations share (mmgpt
 * serve: the same system prompt and first message in another slot) is evaluated once; what dst evaluates
 * after it is what it would evaluate after its own evaluation of those positions (tests/transformer/
 * test_gpt_batch.c). Copies n (layers x KV heads) rows of d_head for keys and values. */
int      mm_gpt_state_copy_prefix(mm_gpt_state *dst, const mm_gpt_state *src, int64_t n, char *err);
/* Bytes allocated by the state (KV cache + activations + logits). */
size_t   mm_gpt_state_bytes(const mm_gpt_state *s);

/* One input position: a token id, or a ready embedding row (embd != NULL wins; width d_model). */
typedef struct {
    int32_t      token;
    const float *embd;
} mm_gpt_input;

/* Append n >= 1 positions. logits_all (may be NULL): caller buffer [n, n_vocab] for every position.
 * Errors: token out of range, n_past + n > n_ctx ("context full: ..."); the state is then unchanged.
 * The logits computed (the last position's, or all of logits_all) are checked: NaN/Inf values return
 * MM_ERR_NONFINITE ("decoder logits at position P are not finite ...": the weights hold NaN/Inf that
 * loading did not read - mm_gguf_check_finite reads only small tensors - or overflow), and the state is
 * then unchanged too. */
int mm_gpt_eval(mm_gpt_state *s, const mm_gpt_input *in, int64_t n, float *logits_all, char *err);
/* Same for plain token ids. */
int mm_gpt_eval_tokens(mm_gpt_state *s, const int32_t *tokens, int64_t n, float *logits_all, char *err);
/* Logits [n_vocab] of the last evaluated position (valid until the next eval/truncate). */
const float *mm_gpt_state_logits(const mm_gpt_state *s);

/* ---------------------------------------------------------------- batched decode across sequences
 * n states of one model (each its own KV cache and n_past: n conversations) advance by one position each in
 * one pass over the weights: every matrix is read once and multiplied with the n input vectors
 * (mm_matvec_multi, core), attention runs per sequence over its own cache. Decode is bound by reading the
 * weights, so n sequences cost far less than n steps (bench/README.md: aggregate tokens/s by batch size).
 * Each state ends with exactly the logits (bit for bit), KV cache and n_past that mm_gpt_eval of its one
 * position alone gives - the same kernels on the same rows - so a batched answer is the single answer
 * (tests/transformer/test_gpt_batch.c).
 *   mm_gpt_batch_create: for up to n_max (<= MM_GPT_BATCH_MAX) sequences, run on pool (borrowed; NULL = the
 *     calling thread); reserves the pool's kernel scratch for n_max vectors and the step's phase table, so
 *     mm_gpt_batch_eval never allocates. A batch is used by one thread at a time; a pipeline rank's model
 *     (mm_gpt_model_set_pipeline) is refused.
 *   mm_gpt_batch_eval: states[i] appends in[i] (a token or an embedding row), for i < n <= n_max. The states
 *     are distinct, of the batch's model, with at least the batch pool's thread count (their per-thread
 *     attention scratch is used: states created with the same pool or n_threads qualify), and each has room
 *     for one more position. Afterwards mm_gpt_state_logits(states[i]) holds its logits. Returns 0; -1 (err)
 *     when a check fails (nothing evaluated); MM_ERR_NONFINITE when some state's logits are NaN/Inf: those
 *     states are left unchanged, the others advanced; rc (may be NULL) gets each state's code [n]. */
#define MM_GPT_BATCH_MAX 64
typedef struct mm_gpt_batch mm_gpt_batch;
mm_gpt_batch *mm_gpt_batch_create(const mm_gpt_model *m, int n_max, mm_pool *pool, char *err);
void          mm_gpt_batch_free(mm_gpt_batch *b);
int           mm_gpt_batch_n_max(const mm_gpt_batch *b);
int           mm_gpt_batch_eval(mm_gpt_batch *b, mm_gpt_state *const *states, const mm_gpt_input *in, int n,
                                int *rc, char *err);

/* ---------------------------------------------------------------- pipeline parallelism (mm_dist.h)
 * A model may evaluate only layers [layer_begin, layer_end) of its decoder: one rank of a pipeline over
 * processes or machines (dist/ sets this up over MPI; any transport fits these two callbacks). States of
 * such a model hold the KV cache of those layers only, and never read the other layers' weights (the
 * file stays mapped, so those pages are never resident). Set it right after loading, before creating
 * states.
 *   - layer_begin == 0 (rank 0: embeddings, output norm, logits) with layer_end < n_layer: send and recv
 *     are required. mm_gpt_eval evaluates layers [0, layer_end) on each micro-batch of at most n_batch
 *     positions, send()s its residual rows x [n, d_model] (positions pos0..pos0+n-1) on, and after up to
 *     `window` micro-batches in flight recv()s the oldest one's rows after the last layer, then computes
 *     its logits. A callback's failure (-1 with err) fails the eval (state unchanged).
 *   - layer_begin > 0 (a later rank): mm_gpt_eval is refused; mm_gpt_eval_layers(s, x, n, pos0) runs the
 *     state's layers on the rows x [n, d_model] in place, first forgetting cached positions >= pos0 (so a
 *     rewind on rank 0 needs no message of its own). No embeddings, no logits.
 * The results equal a one-process evaluation (the same kernels on the same rows in the same order). */
typedef struct {
    int64_t layer_begin, layer_end;  /* [begin, end); 0, 0 = every layer (no pipeline) */
    int (*send)(void *user, const float *x, int64_t n, int64_t pos0, char *err);
    int (*recv)(void *user, float *x, int64_t n, int64_t pos0, char *err);
    int   window;                    /* micro-batches in flight (>= 1) */
    void *user;
} mm_gpt_pipeline;

int mm_gpt_model_set_pipeline(mm_gpt_model *m, const mm_gpt_pipeline *p, char *err);
int mm_gpt_eval_layers(mm_gpt_state *s, float *x, int64_t n, int64_t pos0, char *err);

/* ---------------------------------------------------------------- sampler */
/* The chain is llama.cpp's default one (src/llama-sampling.cpp; common/common.h's sampler order
 * penalties -> top_k -> top_p -> min_p -> temperature -> draw, without its typical/XTC/DRY stages,
 * which are off by default there), on the logits x[V] of one position:
 *   1. penalties   (penalty_last_n > 0 and a penalty not neutral) for each id that occurs c > 0 times
 *                  among the last penalty_last_n tokens given to mm_sampler_accept, in float arithmetic:
 *                      x = x <= 0 ? x * repeat_penalty : x / repeat_penalty
 *                      x = x - (c * frequency_penalty + presence_penalty)
 *   2. top-k       (0 < top_k < V) keep the top_k largest x.
 *   3. top-p       (top_p < 1) p = softmax(x) over the survivors (T = 1), sorted descending; keep the
 *                  shortest prefix whose cumulative p reaches top_p (top_p 0: the first one).
 *   4. min-p       (min_p > 0) keep x_i - x_max >= log(min_p), i.e. p_i >= min_p * p_max at T = 1
 *                  (min_p = 1 keeps the maximum and its ties).
 *   5. temperature p_i = exp((x_i - x_max)/T) / sum over the survivors. T = 0 is greedy: the argmax of
 *                  the penalised logits (lowest id on ties); steps 2-4 always keep it, so they don't
 *                  matter. T > 2 is refused.
 *   6. draw        u uniform in [0, 1) from our own PRNG (xoshiro256** seeded with splitmix64, not
 *                  libc): the first candidate whose cumulative weight exceeds u * sum, walking the
 *                  candidates best first (x descending, then id ascending) - or in id order when none
 *                  of steps 2-4 is active (the same distribution without sorting the vocabulary). A
 *                  single candidate (greedy included) is returned without drawing.
 * Why temperature last (llama.cpp's order; HF transformers scales first): the kept set does not depend
 * on T, so a higher T flattens the distribution among plausible tokens instead of letting the tail in,
 * and the same flags give the same distribution as llama.cpp. The penalties see what the caller
 * accepts: like llama.cpp's llama-cli/server, accept the prompt's tokens and then every sampled token
 * (mm_sampler_accept); mmgpt_generate does so for the whole conversation. Deterministic for a given
 * seed and history. transformer/sampler.c is compiled with -ffp-contract=off so that the float
 * penalty arithmetic is exactly the definition above (no fused multiply-add). */
#define MM_SAMPLER_MAX_TEMP   2.0f
#define MM_SAMPLER_MAX_LAST_N (1 << 24)  /* most tokens the penalty window holds */

typedef struct {
    float    temperature;       /* [0, 2]; default 0.8 */
    int64_t  top_k;             /* <= 0 = no limit; default 40 */
    float    top_p;             /* [0, 1]; 1 = off, 0 keeps the best candidate only (as llama.cpp); default 0.95 */
    uint64_t seed;              /* default 0x5eed */
    float    min_p;             /* [0, 1]; 0 = off; default 0.05 (llama.cpp's) */
    float    repeat_penalty;    /* > 0; 1 = off (default, as llama.cpp) */
    float    frequency_penalty; /* finite; 0 = off (default) */
    float    presence_penalty;  /* finite; 0 = off (default) */
    int64_t  penalty_last_n;    /* window of accepted tokens the penalties see, [0, MM_SAMPLER_MAX_LAST_N];
                                   0 = no penalties; default 64 */
} mm_sampler_params;

typedef struct mm_sampler mm_sampler;

mm_sampler_params mm_sampler_default_params(void);
/* Validates the params ("temperature 2.5 is above the maximum 2" etc.); allocates scratch once
 * (with penalties on: the window [penalty_last_n] and per-id counts [n_vocab]). */
mm_sampler *mm_sampler_create(mm_sampler_params p, int64_t n_vocab, char *err);
/* The parameter checks of mm_sampler_create: 0, or -1 with the reason alone in err ("min_p 2 must be in
 * [0, 1]"; the caller names the function or option, mm_err's format in mm_core.h). A sampler cannot be
 * created from checked parameters only when memory runs out. */
int         mm_sampler_params_check(const mm_sampler_params *p, char *err);
void        mm_sampler_free(mm_sampler *s);
void        mm_sampler_set_seed(mm_sampler *s, uint64_t seed);
/* Append a token to the penalty window (the oldest leaves when it holds penalty_last_n); ids outside
 * [0, n_vocab) (e.g. -1 for a media row) are ignored, as is everything when penalties are off. */
void        mm_sampler_accept(mm_sampler *s, int32_t token);
/* Empty the penalty window (the PRNG state stays). */
void        mm_sampler_reset(mm_sampler *s);
/* Draw one token from logits[n_vocab] (does not accept it). */
int32_t     mm_sampler_sample(mm_sampler *s, const float *logits);
/* The distribution the sampler draws from: probs[n_vocab] (zeros outside the kept set). */
void        mm_sampler_probs(mm_sampler *s, const float *logits, float *probs);

/* Small deterministic PRNG (xoshiro256**), also used by tests and benchmarks. */
typedef struct { uint64_t s[4]; } mm_rng;
void     mm_rng_seed(mm_rng *r, uint64_t seed);
uint64_t mm_rng_next(mm_rng *r);
double   mm_rng_uniform(mm_rng *r);   /* [0, 1), 53 bits */

/* ---------------------------------------------------------------- stop strings */
/* Streams decoded text and stops at the first occurrence of any stop string. Text that might be the
 * start of a stop string is held back until it is known not to be one, so nothing of a stop string is
 * ever printed. Use with the tokenizer's streaming decoder: feed each decoded piece, print *emit. */
typedef struct mm_stop mm_stop;
/* n_stops may be 0; each stop string is non-empty, valid UTF-8 (so valid text stays valid when cut at it) */
mm_stop *mm_stop_create(const char *const *stops, int n_stops, char *err);
void     mm_stop_free(mm_stop *s);
/* Feed len bytes. Sets *emit and *n_emit to the bytes that are safe to output now (pointer valid until
 * the next call). Returns true when a stop string was completed (text before it is in *emit). */
bool     mm_stop_feed(mm_stop *s, const char *text, size_t len, const char **emit, size_t *n_emit);
/* End of generation without a stop: the held-back bytes. */
void     mm_stop_flush(mm_stop *s, const char **emit, size_t *n_emit);

/* ---------------------------------------------------------------- parameter accounting */
/* Counts as in the GPT-3 paper's style of accounting: weight matrices only, attention split per head
 * (one d_model x d_head matrix each for query, key and value of every head), one output, up and down
 * matrix per layer, the embedding and the unembedding (counted even when tied). gpt3-175b:
 * 175,181,291,520 in 27,938 matrices. The "full" count adds biases, layer norms and position
 * embeddings; stored = full minus the unembedding when tied. */
typedef struct {
    int64_t embedding, unembedding;          /* n_vocab x d_model each */
    int64_t query, key, value, output;       /* summed over layers (and heads) */
    int64_t up, down;
    int64_t matrices_total;                  /* sum of the above */
    int64_t n_matrices;
    int64_t biases, norms, position;         /* the rest */
    int64_t full_total;                      /* matrices_total + biases + norms + position */
    int64_t stored_tied;                     /* full_total - unembedding */
    double  bytes[4];                        /* full_total (untied) at F32, F16, Q8_0, Q4_0: matrices and
                                                position embeddings at the type, vectors at F32 */
    double  bytes_tied[4];                   /* the same without the unembedding (stored_tied) */
    double  kv_bytes_f32, kv_bytes_f16;      /* KV cache at full context (one sequence) */
    double  flops_per_token;                 /* 2 x matrix weights (forward, no attention scores) */
} mm_gpt_accounting;

/* Known shapes: "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "gpt3-small", "gpt3-medium",
 * "gpt3-large", "gpt3-xl", "gpt3-2.7b", "gpt3-6.7b", "gpt3-13b", "gpt3-175b". */
int         mm_gpt_arch_hparams(const char *name, mm_gpt_hparams *hp, char *err);
const char *mm_gpt_arch_name(int i);  /* i-th known name, NULL past the end */
void        mm_gpt_accounting_compute(const mm_gpt_hparams *hp, mm_gpt_accounting *acc);
/* Format the table (or JSON when json) into buf like snprintf: returns the length it needs. */
int         mm_gpt_accounting_format(const char *title, const mm_gpt_hparams *hp,
                                     const mm_gpt_accounting *acc, bool json, char *buf, size_t size);

/* Accounting of any GGUF file from its tensors (mmgpt params -m, mmgpt info): parameters and bytes by group
 * (token embedding, attention q/k/v, attention output, feed-forward, norms, biases, output, other: encoders
 * and projectors), bytes by type; for a decoder file (gpt2, llama, qwen2) also its shape and the KV cache at
 * n_ctx positions (<= 0: the default, min(trained context, MM_GPT_DEFAULT_CTX); capped at the trained one)
 * and at the trained context. Text, or one JSON object when json; returns the length it needs (as snprintf). */
int         mm_gpt_file_accounting_format(const mm_gguf *g, int64_t n_ctx, bool json, char *buf, size_t size);

MM_API_END

#ifdef __cplusplus
}
#endif
#endif /* MM_TRANSFORMER_H */
