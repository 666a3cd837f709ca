/* gpt_internal.h - private structures of the GPT decoder (transformer/ only). */
#ifndef MM_GPT_INTERNAL_H
#define MM_GPT_INTERNAL_H

#include "mm_transformer.h"

/* A weight matrix used as y = W x: `rows` out features, `cols` in features (GGUF ne = [cols, rows]). */
typedef struct {
    mm_type     type;
    const void *data;  /* [rows, cols] rows of mm_row_size(type, cols) bytes, borrowed from the GGUF map */
    int64_t     rows, cols;
} mm_gpt_mat;

typedef struct {
    const float *ln1_w, *ln1_b;   /* [d] attn_norm */
    mm_gpt_mat   qkv;             /* [3d, d] rows q then k then v */
    const float *qkv_b;           /* [3d] or NULL */
    mm_gpt_mat   out;             /* [d, d] attn_output */
    const float *out_b;           /* [d] or NULL */
    const float *ln2_w, *ln2_b;   /* [d] ffn_norm */
    mm_gpt_mat   up;              /* [d_ff, d] */
    const float *up_b;            /* [d_ff] or NULL */
    mm_gpt_mat   down;            /* [d, d_ff] */
    const float *down_b;          /* [d] or NULL */
} mm_gpt_layer;

struct mm_gpt_model {
    mm_gpt_hparams hp;
    mm_gpt_mat     tok_embd;          /* [n_vocab, d] */
    mm_gpt_mat     pos_embd;          /* [>= n_ctx, d] */
    mm_gpt_mat     output;            /* [n_vocab, d]; == tok_embd when tied */
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

/* Row r of w as f32 (dequantized). */
void mm_gpt_mat_row(const mm_gpt_mat *w, int64_t r, float *out);

#endif
