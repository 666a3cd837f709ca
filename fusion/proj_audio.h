/* proj_audio.h - the audio projectors (internal to fusion/; include/mm_fusion.h is the manual).
 *
 *   mmgpt's own (clip.projector_type absent or "mlp"; the bundled model): stack k frames over the whole clip,
 *       y = mm.a.mlp.2 GELU(mm.a.mlp.1 x + b1) + b2                       (projector.c applies it)
 *   "ultravox" (llama.cpp's Ultravox mmproj, clip.projector_type or clip.audio.projector_type): per encoder
 *       window, stack k frames (the last stack zero-padded) -> x [m, k*d_in], then
 *       x = RMSNorm(x) * mm.a.norm_pre.weight                 [m, k*d_in]   eps 1e-6
 *       h = mm.a.mlp.1 x                                      [m, d_ff]
 *       h = h[:, :d_ff/2] * SiLU(h[:, d_ff/2:])               [m, d_ff/2]   Ultravox's SwiGLU: the SECOND
 *                                                                           half is the gate (ggml_swiglu_swapped)
 *       h = RMSNorm(h) * mm.a.norm_mid.weight                 [m, d_ff/2]   eps 1e-6
 *       y = mm.a.mlp.2 h                                      [m, d_model]
 *     (biases of mm.a.mlp.1/2 are used when the file has them; Ultravox's linears have none.)
 *   "qwen2a" (llama.cpp's Qwen2-Audio mmproj): the encoder already averaged its rows in pairs before a.post_ln
 *       (mm_audio_hparams.pool = 2: 1500 -> 750 rows per window), then per row
 *       y = mm.a.fc x + b                                     [750, d_model]   (multi_modal_projector.linear)
 */
#ifndef MM_PROJ_AUDIO_H
#define MM_PROJ_AUDIO_H

#include "mm_fusion.h"

/* "<name>.weight" (+ optional "<name>.bias") as projector.c reads its linears. */
int    mm_proj_load_linear(mm_mat *l, const mm_gguf *g, const char *name, char *err);
/* An f32 copy (malloc'd, the caller frees) of the f32 / f16 tensor NAME of exactly n finite values (norms,
 * ldpv2's depthwise kernel). */
int    mm_proj_load_vec(const mm_gguf *g, const char *name, int64_t n, float **out, char *err);
/* The audio half of mm_projector_load (p zeroed by the caller, d_in set): reads the type, the stack
 * factor and the tensors; the caller checks that the widths chain. */
int    mm_proj_audio_load(mm_projector *p, const mm_gguf *g, char *err);
/* Scratch bytes of mm_proj_ultravox_apply for n encoder rows. */
size_t mm_proj_ultravox_scratch(const mm_projector *p, int64_t n);
/* y[ceil(n / stack), d_out] = the ultravox projector of x[n, d_in]. */
void   mm_proj_ultravox_apply(const mm_projector *p, mm_pool *pool, const float *x, int64_t n, float *y, void *scratch);

#endif /* MM_PROJ_AUDIO_H */
