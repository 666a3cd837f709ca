/* audio_encoder.c - Whisper-style audio encoder over log-mel windows (see mm_audio.h).
 *
 * Per window of T_in mel frames (T_in <= max_frames), T = (T_in + 1) / 2 output rows:
 *   cols1 = im2col(mel, k3 s1 pad1)      [T_in][3 n_mels]   col = c*3 + k  (PyTorch Conv1d weight order)
 *   h1    = GELU(cols1 W1^T + b1)        [T_in][d]          W1 = a.conv1d.1.weight, ne [3, n_mels, d]
 *   cols2 = im2col(h1, k3 s2 pad1)       [T][3 d]
 *   x     = GELU(cols2 W2^T + b2)        [T][d]             W2 = a.conv1d.2.weight, ne [3, d, d]
 *   x    += pos[0:T]                                       a.position_embd.weight ne [d, n_pos]
 *   x     = blocks(x)                    enc_blocks, prefix "a", GELU erf
 *   x     = avgpool(x, pool)             [T / pool][d]  rows averaged in groups of hp.pool (2 for qwen2a:
 *                                                       Qwen2-Audio's AvgPool1d(2, 2), the odd last row dropped)
 *   x     = post_ln(x)                   a.post_ln (optional)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enc_blocks.h"
#include "mm_audio.h"

struct mm_audio_model {
    mm_audio_hparams hp;
    mm_mat    conv1;   /* W [d][n_mels*3], b [d] */
    mm_mat    conv2;   /* W [d][d*3],      b [d] */
    float           *pos;     /* [n_pos][d] f32 (malloc'd copy, converted from f16 if needed) */
    mm_enc_blocks    blocks;  /* hp.n_layer pre-LN blocks */
    mm_enc_norm      post_ln; /* [d], w == NULL when absent */
    const float     *mel_filters; /* a.mel_filters [n_mels][201] f32 from the file, or NULL (Slaney, computed) */
};

struct mm_audio_state {
    const mm_audio_model *m;
    mm_pool  *pool;
    mm_mel   *mel;           /* filterbank + FFT plan for encode_pcm */
    float    *cols1;         /* [W][3 n_mels] */
    float    *h1;            /* [W][d] */
    float    *cols2;         /* [T][3 d] */
    float    *x;             /* [T][d] */
    void     *scratch;       /* enc_blocks scratch */
    size_t    scratch_size;
    mm_audio_progress_fn progress;  /* optional, after each window */
    void     *progress_user;
};

#define AUD_MAX_DIM 65536

/* ---------------------------------------------------------------- loading */
int mm_audio_projector_type(const mm_gguf *g, const char **type, size_t *n, char *err) {
    *type = NULL;
    *n = 0;
    const char *key = mm_gguf_find_key(g, "clip.audio.projector_type") >= 0 ? "clip.audio.projector_type"
                                                                            : "clip.projector_type";
    if (mm_gguf_find_key(g, key) >= 0 && mm_gguf_get_str(g, key, type, n) != 0)
        return mm_err(err, "%s: %s is not a string", mm_gguf_path(g), key);
    return 0;
}
/* Conv weight "<name>.weight": ne [3, c_in, c_out] (or 2-D [3*c_in, c_out]); bias n_elements c_out f32. */
static int load_conv(const mm_gguf *g, const char *name, int64_t c_in, int64_t c_out, mm_mat *l,
                     char *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.weight", name);
    const mm_gguf_tensor *w = mm_gguf_find_tensor(g, key);
    if (!w) return mm_err(err, "%s: missing tensor %s", mm_gguf_path(g), key);
    const bool ok3 = w->n_dims == 3 && w->ne[0] == 3 && w->ne[1] == c_in && w->ne[2] == c_out;
    const bool ok2 = w->n_dims == 2 && w->ne[0] == 3 * c_in && w->ne[1] == c_out;
    if (!ok3 && !ok2)
        return mm_err(err, "%s: %s has shape [%lld, %lld, %lld], want [3, %lld, %lld]", mm_gguf_path(g), key,
                      (long long)w->ne[0], (long long)w->ne[1], (long long)w->ne[2], (long long)c_in,
                      (long long)c_out);
    if (!mm_type_supported(w->type))
        return mm_err(err, "%s: %s has unsupported type %d", mm_gguf_path(g), key, w->type);
    const size_t rs = mm_row_size((mm_type)w->type, 3 * c_in);
    if (rs == 0 || w->n_bytes != rs * (size_t)c_out)
        return mm_err(err, "%s: %s: type %s cannot hold rows of %lld", mm_gguf_path(g), key, mm_type_name(w->type),
                      (long long)(3 * c_in));
    snprintf(key, sizeof key, "%s.bias", name);
    const mm_gguf_tensor *b = mm_gguf_find_tensor(g, key);
    if (!b) return mm_err(err, "%s: missing tensor %s", mm_gguf_path(g), key);
    if (b->type != MM_TYPE_F32 || b->n_elements != c_out)
        return mm_err(err, "%s: %s must be f32 with %lld elements", mm_gguf_path(g), key, (long long)c_out);
    if (mm_gguf_check_finite(g, w, false, err) || mm_gguf_check_finite(g, b, true, err)) return -1;
    l->type = (mm_type)w->type;
    l->data = w->data;
    l->b = b->data;
    l->cols = 3 * c_in;
    l->rows = c_out;
    return 0;
}

mm_audio_model *mm_audio_model_load(const mm_gguf *g, char *err) {
    char e[MM_ERR_SIZE];
    if (!g) {
        mm_err(err, "%s: no model file", __func__);
        return NULL;
    }
    mm_audio_model *m = calloc(1, sizeof *m);
    if (!m) {
        mm_err(err, "%s: out of memory", mm_gguf_path(g));
        return NULL;
    }
    mm_audio_hparams *hp = &m->hp;
    if (mm_gguf_find_key(g, "clip.audio.embedding_length") < 0) {
        mm_err(err, "%s: no audio encoder in this model (clip.audio.embedding_length absent)", mm_gguf_path(g));
        goto fail;
    }
    const struct { const char *key; int64_t lo, hi; int *out; } keys[] = {
        {"clip.audio.num_mel_bins", 1, 512, &hp->n_mels},
        {"clip.audio.embedding_length", 1, AUD_MAX_DIM, &hp->d},
        {"clip.audio.feed_forward_length", 1, AUD_MAX_DIM, &hp->d_ff},
        {"clip.audio.block_count", 0, 1024, &hp->n_layer},
        {"clip.audio.attention.head_count", 1, AUD_MAX_DIM, &hp->n_head},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int64_t v;
        if (mm_gguf_get_int_range(g, keys[i].key, keys[i].lo, keys[i].hi, true, 0, &v, err)) goto fail;
        *keys[i].out = (int)v;
    }
    hp->eps = 1e-5f;
    if (mm_gguf_find_key(g, "clip.audio.attention.layer_norm_epsilon") >= 0 &&
        mm_gguf_get_f32(g, "clip.audio.attention.layer_norm_epsilon", &hp->eps)) {
        mm_err(err, "%s: clip.audio.attention.layer_norm_epsilon is not a float", mm_gguf_path(g));
        goto fail;
    }
    if (!(hp->eps > 0.0f && hp->eps < 1.0f)) {
        mm_err(err, "%s: layer_norm_epsilon %g out of range", mm_gguf_path(g), (double)hp->eps);
        goto fail;
    }
    if (hp->d % hp->n_head) {
        mm_err(err, "%s: embedding_length %d is not a multiple of head_count %d", mm_gguf_path(g), hp->d, hp->n_head);
        goto fail;
    }
    /* positions first: they bound the window */
    const mm_gguf_tensor *pt = mm_gguf_find_tensor(g, "a.position_embd.weight");
    if (!pt) {
        mm_err(err, "%s: missing tensor a.position_embd.weight", mm_gguf_path(g));
        goto fail;
    }
    if (pt->n_dims != 2 || pt->ne[0] != hp->d || pt->ne[1] < 1 || pt->ne[1] > 1000000 ||
        (pt->type != MM_TYPE_F32 && pt->type != MM_TYPE_F16)) {
        mm_err(err, "%s: a.position_embd.weight must be f32/f16 with shape [%d, n_pos]", mm_gguf_path(g), hp->d);
        goto fail;
    }
    if (mm_gguf_check_finite(g, pt, true, err)) goto fail;
    hp->n_pos = (int)pt->ne[1];
    m->pos = malloc((size_t)hp->n_pos * (size_t)hp->d * sizeof *m->pos);
    if (!m->pos) {
        mm_err(err, "%s: out of memory", mm_gguf_path(g));
        goto fail;
    }
    if (pt->type == MM_TYPE_F32) {
        memcpy(m->pos, pt->data, (size_t)hp->n_pos * (size_t)hp->d * sizeof *m->pos);
    } else {
        const uint16_t *h = pt->data;
        for (size_t i = 0; i < (size_t)hp->n_pos * (size_t)hp->d; i++) m->pos[i] = mm_fp16_to_fp32(h[i]);
    }
    int64_t mf = MM_AUDIO_WINDOW_FRAMES;
    if (mf > 2 * (int64_t)hp->n_pos) mf = 2 * (int64_t)hp->n_pos;
    if (mm_gguf_find_key(g, "mmgpt.audio.max_frames") >= 0) {
        if (mm_gguf_get_i64(g, "mmgpt.audio.max_frames", &mf) || mf < 1 || mf > 2 * (int64_t)hp->n_pos) {
            mm_err(err, "%s: mmgpt.audio.max_frames must be an integer in 1..%d (2 x n_pos)", mm_gguf_path(g),
                   2 * hp->n_pos);
            goto fail;
        }
    }
    hp->max_frames = (int)mf;
    hp->pad_to_window = true;
    if (mm_gguf_find_key(g, "mmgpt.audio.pad_to_window") >= 0 &&
        mm_gguf_get_bool(g, "mmgpt.audio.pad_to_window", &hp->pad_to_window)) {
        mm_err(err, "%s: mmgpt.audio.pad_to_window is not a bool", mm_gguf_path(g));
        goto fail;
    }
    /* the file's own mel filterbank when it carries one (ne [201, n_mels], f32), else Slaney's */
    const mm_gguf_tensor *mf_t = mm_gguf_find_tensor(g, "a.mel_filters");
    if (mf_t) {
        if (mf_t->type != MM_TYPE_F32 || mf_t->n_dims != 2 || mf_t->ne[0] != MM_AUDIO_N_FREQ ||
            mf_t->ne[1] != hp->n_mels) {
            mm_err(err, "%s: a.mel_filters must be f32 with shape [%d, %d] (n_fft / 2 + 1, num_mel_bins)",
                   mm_gguf_path(g), MM_AUDIO_N_FREQ, hp->n_mels);
            goto fail;
        }
        if (mm_gguf_check_finite(g, mf_t, true, err)) goto fail;
        m->mel_filters = mf_t->data;
    }
    if (load_conv(g, "a.conv1d.1", hp->n_mels, hp->d, &m->conv1, err) ||
        load_conv(g, "a.conv1d.2", hp->d, hp->d, &m->conv2, err))
        goto fail;
    mm_enc_hparams ehp = {.n_layer = hp->n_layer, .d = hp->d, .d_ff = hp->d_ff, .n_head = hp->n_head,
                          .eps = hp->eps, .act = MM_ACT_GELU_ERF};
    const char *ptype;
    size_t      ptn;
    if (mm_audio_projector_type(g, &ptype, &ptn, err)) goto fail;
    hp->pool = ptype && ptn == 6 && !memcmp(ptype, "qwen2a", 6) ? 2 : 1; /* Qwen2-Audio pools before its final LN */
    if (mm_enc_hparams_check(&ehp, e)) {
        mm_err(err, "%s: audio encoder: %s", mm_gguf_path(g), e);
        goto fail;
    }
    if (mm_enc_blocks_load(g, "a", &ehp, &m->blocks, err)) goto fail;
    if (mm_enc_norm_load(g, "a.post_ln", hp->d, false, &m->post_ln, err)) {
        mm_enc_blocks_free(&m->blocks);
        goto fail;
    }
    return m;
fail:
    free(m->pos);
    free(m);
    return NULL;
}

void mm_audio_model_free(mm_audio_model *m) {
    if (!m) return;
    mm_enc_blocks_free(&m->blocks);
    free(m->pos);
    free(m);
}

const mm_audio_hparams *mm_audio_model_hparams(const mm_audio_model *m) { return m ? &m->hp : NULL; }
int mm_audio_model_n_mels(const mm_audio_model *m) { return m ? m->hp.n_mels : 0; }
int mm_audio_model_d_enc(const mm_audio_model *m) { return m ? m->hp.d : 0; }
const float *mm_audio_model_mel_filters(const mm_audio_model *m) { return m ? m->mel_filters : NULL; }

int64_t mm_audio_model_n_mel_frames(const mm_audio_model *m, int64_t n_samples) {
    if (!m || n_samples < 0) return 0;
    if (!m->hp.pad_to_window) return mm_mel_n_frames(n_samples);
    const int64_t wsamp = (int64_t)m->hp.max_frames * MM_AUDIO_HOP;
    int64_t n_win = (n_samples + wsamp - 1) / wsamp;
    if (n_win < 1) n_win = 1;
    return n_win * m->hp.max_frames;
}

/* The one place where rows per window are computed: a window of T_in mel frames gives (T_in + 1) / 2
 * rows after conv2 (stride 2, pad 1), floor(that / pool) encoder rows after the average pool (pool 1: none),
 * which a projector stacking k rows per position turns into ceil(rows / k) positions (the last stack
 * zero-padded). */
static int64_t window_rows(int64_t T_in, int pool, int stack) {
    if (T_in <= 0 || stack < 1 || pool < 1) return 0;
    const int64_t rows = (T_in + 1) / 2 / pool;
    return (rows + stack - 1) / stack;
}

int64_t mm_audio_window_rows(int64_t T_in, int stack) { return window_rows(T_in, 1, stack); }

int64_t mm_audio_model_window_rows(const mm_audio_model *m, int64_t T_in, int stack) {
    return m ? window_rows(T_in, m->hp.pool, stack) : 0;
}

int64_t mm_audio_model_n_windows(const mm_audio_model *m, int64_t n_mel_frames) {
    if (!m || n_mel_frames <= 0) return 0;
    return (n_mel_frames + m->hp.max_frames - 1) / m->hp.max_frames;
}

int64_t mm_audio_model_window_frames(const mm_audio_model *m, int64_t n_mel_frames, int64_t w) {
    if (!m || w < 0 || w >= mm_audio_model_n_windows(m, n_mel_frames)) return 0;
    const int64_t W = m->hp.max_frames, left = n_mel_frames - w * W;
    return left < W ? left : W;
}

int64_t mm_audio_model_n_rows(const mm_audio_model *m, int64_t n_mel_frames, int stack) {
    if (!m || n_mel_frames <= 0 || stack < 1) return 0;
    const int64_t W = m->hp.max_frames;
    const int64_t full = n_mel_frames / W, rem = n_mel_frames % W;
    return full * window_rows(W, m->hp.pool, stack) + window_rows(rem, m->hp.pool, stack);
}

int64_t mm_audio_model_n_out(const mm_audio_model *m, int64_t n_mel_frames) {
    return mm_audio_model_n_rows(m, n_mel_frames, 1);
}

/* ---------------------------------------------------------------- state */
void mm_audio_state_free(mm_audio_state *s) {
    if (!s) return;
    mm_mel_free(s->mel);
    free(s->cols1);
    free(s->h1);
    free(s->cols2);
    free(s->x);
    free(s->scratch);
    free(s);
}

mm_audio_state *mm_audio_state_create(const mm_audio_model *m, mm_pool *pool, char *err) {
    if (!m) {
        mm_err(err, "%s: no model", __func__);
        return NULL;
    }
    const mm_audio_hparams *hp = &m->hp;
    mm_audio_state *s = calloc(1, sizeof *s);
    if (!s) {
        mm_err(err, "%s: out of memory", __func__);
        return NULL;
    }
    s->m = m;
    s->pool = pool;
    const size_t W = (size_t)hp->max_frames, T = (W + 1) / 2, d = (size_t)hp->d;
    s->mel = mm_mel_create_filters(hp->n_mels, m->mel_filters, err);
    if (!s->mel) goto fail_quiet;
    s->cols1 = malloc(W * 3 * (size_t)hp->n_mels * sizeof(float));
    s->h1 = malloc(W * d * sizeof(float));
    s->cols2 = malloc(T * 3 * d * sizeof(float));
    s->x = malloc(T * d * sizeof(float));
    mm_enc_hparams ehp = {.n_layer = hp->n_layer, .d = hp->d, .d_ff = hp->d_ff, .n_head = hp->n_head,
                          .eps = hp->eps, .act = MM_ACT_GELU_ERF};
    s->scratch_size = mm_enc_blocks_scratch_size(&ehp, (int64_t)T, mm_pool_n_threads(pool));
    if (s->scratch_size == 0) {
        mm_err(err, "%s: encoder scratch size overflows", __func__);
        goto fail_quiet;
    }
    s->scratch = malloc(s->scratch_size);
    if (!s->cols1 || !s->h1 || !s->cols2 || !s->x || !s->scratch) {
        mm_err(err, "%s: out of memory (window of %zu frames, d %zu)", __func__, W, d);
        goto fail_quiet;
    }
    return s;
fail_quiet:
    mm_audio_state_free(s);
    return NULL;
}

void mm_audio_state_set_progress(mm_audio_state *s, mm_audio_progress_fn fn, void *user) {
    if (!s) return;
    s->progress = fn;
    s->progress_user = user;
}

/* ---------------------------------------------------------------- forward */
typedef struct {
    const float *src;    /* conv1: mel + w0 (row stride ld); conv2: h1 [T_in][d] */
    int64_t      ld;     /* conv1: total mel frames */
    int64_t      c_in;
    int64_t      T_in, T_out;
    int          stride;
    bool         channel_major;  /* conv1 source is [c][t] (mel), conv2 source is [t][c] */
    float       *cols;   /* [T_out][3 c_in] */
} im2col_task;

static void im2col_fn(void *vctx, int ith, int nth) {
    const im2col_task *t = vctx;
    int64_t r0, r1;
    mm_split_range(t->T_out, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        float *dst = t->cols + r * 3 * t->c_in;
        for (int k = 0; k < 3; k++) {
            const int64_t ti = r * t->stride + k - 1;
            const bool in = ti >= 0 && ti < t->T_in;
            if (t->channel_major) {
                for (int64_t c = 0; c < t->c_in; c++) dst[c * 3 + k] = in ? t->src[c * t->ld + ti] : 0.0f;
            } else {
                const float *srow = t->src + ti * t->c_in;
                for (int64_t c = 0; c < t->c_in; c++) dst[c * 3 + k] = in ? srow[c] : 0.0f;
            }
        }
    }
}

/* One window: mel columns [w0, w0 + T_in) of a [n_mels][ld] log-mel -> out [mm_audio_model_window_rows(T_in, 1)][d].
 * Without pooling the rows are computed in out itself, else in s->x and averaged into out. */
static int encode_window(mm_audio_state *s, const float *mel, int64_t ld, int64_t w0, int64_t T_in, int64_t row0,
                         float *out, char *err) {
    const mm_audio_model *m = s->m;
    const mm_audio_hparams *hp = &m->hp;
    const int64_t d = hp->d, T = window_rows(T_in, 1, 1), To = window_rows(T_in, hp->pool, 1);
    float *x = hp->pool > 1 ? s->x : out;  /* [T][d] */
    im2col_task t1 = {mel + w0, ld, hp->n_mels, T_in, T_in, 1, true, s->cols1};
    mm_pool_run(s->pool, im2col_fn, &t1);
    mm_mat_apply(&m->conv1, s->pool, T_in, s->cols1, s->h1);
    mm_enc_act(MM_ACT_GELU_ERF, s->pool, s->h1, T_in * d);
    im2col_task t2 = {s->h1, 0, d, T_in, T, 2, false, s->cols2};
    mm_pool_run(s->pool, im2col_fn, &t2);
    mm_mat_apply(&m->conv2, s->pool, T, s->cols2, x);
    mm_enc_act(MM_ACT_GELU_ERF, s->pool, x, T * d);
    mm_add(x, x, m->pos, T * d);
    if (mm_enc_blocks_forward(&m->blocks, s->pool, x, T, hp->n_layer, s->scratch, s->scratch_size, err))
        return -1;
    if (hp->pool > 1) { /* out[i] = mean of x[i*pool .. i*pool + pool - 1] */
        const float inv = 1.0f / (float)hp->pool;
        for (int64_t i = 0; i < To; i++)
            for (int64_t c = 0; c < d; c++) {
                float acc = 0.0f;
                for (int k = 0; k < hp->pool; k++) acc += x[(i * hp->pool + k) * d + c];
                out[i * d + c] = acc * inv;
            }
    }
    if (m->post_ln.w) mm_enc_norm_forward(&m->post_ln, hp->eps, s->pool, To, out, out);
    return mm_enc_check_output(out, To, d, row0, "audio encoder", "a", err);
}

int mm_audio_encode_mel(mm_audio_state *s, const float *mel, int64_t n_frames, float *out, char *err) {
    if (!s) return mm_err(err, "%s: no state", __func__);
    if (n_frames < 0 || (n_frames > 0 && (!mel || !out))) return mm_err(err, "%s: bad arguments", __func__);
    const int64_t W = s->m->hp.max_frames, d = s->m->hp.d;
    const int64_t n_win = (n_frames + W - 1) / W;
    int64_t row = 0;
    for (int64_t w0 = 0; w0 < n_frames; w0 += W) {
        const int64_t T_in = n_frames - w0 < W ? n_frames - w0 : W;
        const int rc = encode_window(s, mel, n_frames, w0, T_in, row, out + row * d, err);
        if (rc) return rc;
        row += window_rows(T_in, s->m->hp.pool, 1);
        if (s->progress) s->progress(s->progress_user, w0 / W + 1, n_win);
    }
    return 0;
}

int mm_audio_check_length(int64_t n_samples, char *err) {
    if (n_samples >= MM_AUDIO_MIN_SAMPLES) return 0;
    return mm_err(err, "audio clip too short: %.3f s (%lld samples at %d kHz), the shortest accepted is %g s (%d samples)",
                  (double)n_samples / MM_AUDIO_SAMPLE_RATE, (long long)n_samples, MM_AUDIO_SAMPLE_RATE / 1000,
                  (double)MM_AUDIO_MIN_SAMPLES / MM_AUDIO_SAMPLE_RATE, MM_AUDIO_MIN_SAMPLES);
}

int mm_audio_encode_pcm(mm_audio_state *s, const float *pcm, int64_t n_samples, float **out,
                        int64_t *n_out, float **mel_out, int64_t *n_mel_frames, char *err) {
    *out = NULL;
    *n_out = 0;
    if (mel_out) *mel_out = NULL;
    if (n_mel_frames) *n_mel_frames = 0;
    if (!s) return mm_err(err, "%s: no state", __func__);
    if (n_samples < 0 || (n_samples > 0 && !pcm)) return mm_err(err, "%s: bad arguments", __func__);
    if (mm_audio_check_length(n_samples, err)) return -1;
    const mm_audio_model *m = s->m;
    const int64_t nf = mm_audio_model_n_mel_frames(m, n_samples);
    const int64_t n_total = m->hp.pad_to_window ? nf * MM_AUDIO_HOP : n_samples;
    const int64_t no = mm_audio_model_n_out(m, nf);
    float *mel = NULL, *emb = NULL;
    if (nf > 0) {
        mel = malloc((size_t)nf * (size_t)m->hp.n_mels * sizeof *mel);
        emb = malloc((size_t)no * (size_t)m->hp.d * sizeof *emb);
        if (!mel || !emb) {
            free(mel);
            free(emb);
            return mm_err(err, "%s: out of memory (%lld mel frames)", __func__, (long long)nf);
        }
        int rc = mm_mel_compute(s->mel, s->pool, pcm, n_samples, n_total, mel, err);
        if (!rc) rc = mm_audio_encode_mel(s, mel, nf, emb, err);
        if (rc) {
            free(mel);
            free(emb);
            return rc; /* MM_ERR_NONFINITE from the encoder's output check */
        }
    }
    *out = emb;
    *n_out = no;
    if (mel_out) *mel_out = mel;
    else free(mel);
    if (n_mel_frames) *n_mel_frames = nf;
    return 0;
}
