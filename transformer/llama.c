/* llama.c - the blocks the llama family adds to the GPT decoder: RMSNorm, SwiGLU and rotary position
 * embeddings, with llama.cpp's (ggml's) definitions (ggml-cpu ops rms_norm, silu, rope_f32):
 *
 *   rms_norm(x)[i] = x[i] / sqrt(sum_j x[j]^2 / n + eps) * w[i]       (sum in double, scale in float)
 *   swiglu(g, u)[i] = g[i] / (1 + exp(-g[i])) * u[i]
 *   rope: for i < n_rot/2, theta_i = scale * pos * base^(-2i/n_rot) / freqs[i]; the pair (a, b) of
 *         dimension i - (x[2i], x[2i+1]) in normal mode (llama: llama.cpp's converter permutes the rows
 *         of attn_q / attn_k so that adjacent pairs are Hugging Face's rotate_half pairs), (x[i],
 *         x[i + n_rot/2]) in neox mode (qwen2: the checkpoint's own layout) - becomes
 *         (a cos theta - b sin theta, a sin theta + b cos theta).
 * Forward.c calls these from its one decode step and its one batch path (the table in model.c says
 * which an architecture uses). */
#include <math.h>

#include "gpt_internal.h"

void mm_gpt_rms_norm(float *y, const float *x, const float *w, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
}

void mm_gpt_swiglu(float *x, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i])) * u[i];
}

void mm_gpt_rope_cache(const mm_gpt_hparams *hp, const float *freqs, int64_t pos, float *cs) {
    const float theta_scale = powf(hp->rope_base, -2.0f / (float)hp->n_rot);
    float theta = (float)pos;
    for (int64_t i = 0; i < hp->n_rot / 2; i++) {
        const float t = hp->rope_scale * (freqs ? theta / freqs[i] : theta);
        cs[2 * i] = cosf(t);
        cs[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
}

void mm_gpt_rope_apply(float *x, const float *cs, int64_t n_rot, mm_gpt_rope_mode mode) {
    const int64_t half = n_rot / 2;
    for (int64_t i = 0; i < half; i++) {
        float *a = mode == MM_ROPE_NEOX ? x + i : x + 2 * i;
        float *b = mode == MM_ROPE_NEOX ? x + i + half : x + 2 * i + 1;
        const float c = cs[2 * i], s = cs[2 * i + 1], a0 = *a, b0 = *b;
        *a = a0 * c - b0 * s;
        *b = a0 * s + b0 * c;
    }
}
