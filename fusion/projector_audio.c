/* projector_audio.c - the audio projectors' loading and Ultravox's forward (see proj_audio.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proj_audio.h"

#define MAX_STACK 64
#define ULTRAVOX_EPS 1e-6f /* Ultravox's RMSNorm (LlamaRMSNorm, eps 1e-6); llama.cpp hard-codes the same */

/* Audio projector types llama.cpp writes that mmgpt does not run: named in the error. */
static const char *k_other_audio[] = {"qwen3a", "voxtral", "glma", "qwen2.5o", "meralion",
                                      "musicflamingo", "lfm2a", "gemma3na", "gemma4a", "parakeet"};

int mm_proj_audio_load(mm_projector *p, const mm_gguf *g, char *err) {
    const char *pt = NULL;
    size_t      n = 0;
    if (mm_audio_projector_type(g, &pt, &n, err)) return -1;
    p->ultravox = pt && n == 8 && !memcmp(pt, "ultravox", 8);
    p->qwen2a = pt && n == 6 && !memcmp(pt, "qwen2a", 6);
    for (size_t i = 0; pt && i < sizeof k_other_audio / sizeof k_other_audio[0]; i++)
        if (n == strlen(k_other_audio[i]) && !memcmp(pt, k_other_audio[i], n))
            return mm_err(err, "%s: audio projector type '%s' is not supported (ultravox, qwen2a and mmgpt's mlp are)",
                          mm_gguf_path(g), k_other_audio[i]);
    if (p->qwen2a) { /* Qwen2-Audio: the encoder pooled its rows (mm_audio_hparams.pool); one biased linear */
        p->stack = 1;
        p->per_window = true;
        return mm_proj_load_linear(&p->l1, g, "mm.a.fc", err);
    }
    int64_t k;
    if (mm_gguf_get_int_range(g, "clip.audio.projector.stack_factor", 1, MAX_STACK, false, 1, &k, err)) return -1;
    p->stack = (int)k;
    p->mlp = true;
    /* llama.cpp's files are projected window by window (each window's frames stacked on their own);
     * mmgpt's own projector was trained over the whole clip's rows and keeps doing so */
    p->per_window = p->ultravox;
    if (mm_proj_load_linear(&p->l1, g, "mm.a.mlp.1", err) || mm_proj_load_linear(&p->l2, g, "mm.a.mlp.2", err))
        return -1;
    if (!p->ultravox) return 0;
    if (p->l1.rows % 2)
        return mm_err(err, "%s: mm.a.mlp.1 gives %lld values, which SwiGLU cannot halve", mm_gguf_path(g),
                      (long long)p->l1.rows);
    if (mm_proj_load_vec(g, "mm.a.norm_pre.weight", p->d_in * p->stack, &p->norm_pre, err) ||
        mm_proj_load_vec(g, "mm.a.norm_mid.weight", p->l1.rows / 2, &p->norm_mid, err))
        return -1;
    return 0;
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t mm_proj_ultravox_scratch(const mm_projector *p, int64_t n) {
    const int64_t m = (n + p->stack - 1) / p->stack;
    return align64((size_t)m * (size_t)(p->stack * p->d_in) * sizeof(float)) +
           align64((size_t)m * (size_t)p->l1.rows * sizeof(float));
}

/* x[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, rows of n (double accumulation). */
static void rms_norm_rows(float *x, int64_t rows, int64_t n, const float *w) {
    for (int64_t r = 0; r < rows; r++) {
        float *v = x + r * n;
        double ss = 0.0;
        for (int64_t i = 0; i < n; i++) ss += (double)v[i] * v[i];
        const float s = (float)(1.0 / sqrt(ss / (double)n + (double)ULTRAVOX_EPS));
        for (int64_t i = 0; i < n; i++) v[i] = v[i] * s * w[i];
    }
}

void mm_proj_ultravox_apply(const mm_projector *p, mm_pool *pool, const float *x, int64_t n, float *y, void *scratch) {
    const int64_t m = (n + p->stack - 1) / p->stack, w = p->stack * p->d_in, f = p->l1.rows, half = f / 2;
    float *st = scratch;                                                  /* [m][k d_in] */
    float *h = (float *)((char *)scratch + align64((size_t)m * (size_t)w * sizeof(float))); /* [m][d_ff] */
    /* stacking: row r holds frames r*k .. r*k+k-1 side by side, which is their memory order */
    memset(st, 0, (size_t)m * (size_t)w * sizeof(float));
    memcpy(st, x, (size_t)n * (size_t)p->d_in * sizeof(float));
    rms_norm_rows(st, m, w, p->norm_pre);
    mm_mat_apply(&p->l1, pool, m, st, h);
    /* SwiGLU, compacted in place: out[r][i] = h[r][i] * silu(h[r][half + i]) (writes never pass reads) */
    for (int64_t r = 0; r < m; r++) {
        const float *a = h + r * f, *gate = a + half;
        float       *o = h + r * half;
        for (int64_t i = 0; i < half; i++) {
            const float g = gate[i];
            o[i] = a[i] * (g / (1.0f + expf(-g)));
        }
    }
    rms_norm_rows(h, m, half, p->norm_mid);
    mm_mat_apply(&p->l2, pool, m, h, y);
}

/* ---------------------------------------------------------------- a whole clip */
int64_t mm_projector_audio_n_out(const mm_projector *p, const mm_audio_model *am, int64_t n_mel_frames) {
    if (!p->per_window) return mm_projector_n_out(p, mm_audio_model_n_out(am, n_mel_frames));
    return mm_audio_model_n_rows(am, n_mel_frames, p->stack);
}

const char *mm_projector_audio_name(const mm_projector *p) {
    return p->ultravox ? "ultravox" : p->qwen2a ? "qwen2a" : "mlp";
}

void mm_projector_audio_wrap(const mm_projector *p, const char **begin, const char **end) {
    *begin = p->qwen2a ? "<|audio_bos|>" : ""; /* llama.cpp's mtmd: aud_beg / aud_end of the projector type */
    *end = p->qwen2a ? "<|audio_eos|>" : "";
}

size_t mm_projector_audio_scratch_bytes(const mm_projector *p, const mm_audio_model *am, int64_t n_mel_frames) {
    if (!p->per_window) return mm_projector_scratch_bytes(p, mm_audio_model_n_out(am, n_mel_frames));
    /* the largest window is the first */
    return mm_projector_scratch_bytes(p, mm_audio_model_n_out(am, mm_audio_model_window_frames(am, n_mel_frames, 0)));
}

void mm_projector_apply_audio(const mm_projector *p, mm_pool *pool, const mm_audio_model *am, const float *enc,
                              int64_t n_mel_frames, float *y, void *scratch) {
    if (!p->per_window) {
        mm_projector_apply(p, pool, enc, mm_audio_model_n_out(am, n_mel_frames), y, scratch);
        return;
    }
    const int64_t nw = mm_audio_model_n_windows(am, n_mel_frames);
    for (int64_t w = 0; w < nw; w++) {
        const int64_t T_in = mm_audio_model_window_frames(am, n_mel_frames, w);
        const int64_t rows = mm_audio_model_window_rows(am, T_in, 1);
        mm_projector_apply(p, pool, enc, rows, y, scratch);
        enc += rows * p->d_in;
        y += mm_audio_model_window_rows(am, T_in, p->stack) * p->d_out;
    }
}

int64_t mm_projector_audio_max_samples(const mm_projector *p, const mm_audio_model *am, int64_t n_positions) {
    int64_t lo = 0, hi = (int64_t)24 * 3600 * MM_AUDIO_SAMPLE_RATE; /* a day of audio bounds the search */
    if (n_positions <= 0) return 0;
    if (mm_projector_audio_n_out(p, am, mm_audio_model_n_mel_frames(am, hi)) <= n_positions) return hi;
    while (lo < hi) { /* positions grow with the clip: the largest n with positions(n) <= n_positions */
        const int64_t mid = lo + (hi - lo + 1) / 2;
        if (mm_projector_audio_n_out(p, am, mm_audio_model_n_mel_frames(am, mid)) <= n_positions) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}
