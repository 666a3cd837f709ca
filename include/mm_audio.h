/* mm_audio.h - mmgpt audio front end: load any sound file -> 16 kHz mono PCM -> Whisper log-mel ->
 * Whisper-style encoder (conv + transformer) -> [n_out, d_enc] embeddings (before the projector).
 *
 * Three stages, each usable and testable alone:
 *
 *   1. PCM   mm_audio_load_file / mm_audio_load_memory: any format libsndfile reads (WAV PCM/float,
 *            FLAC, Ogg Vorbis/Opus, AIFF, MP3 when libsndfile was built with it, ...). Channels are
 *            averaged to mono; the rate is converted to 16 kHz with libsamplerate (converter chosen in
 *            mm_audio_load_params, default SRC_SINC_BEST_QUALITY: 97% bandwidth, ~145 dB stop band,
 *            ~60x real time on one idle core for 44.1 kHz; SINC_MEDIUM is ~4x faster, 90% bandwidth).
 *            Resampling runs block by block while decoding, so memory is bounded by the output.
 *            A path naming a pipe or terminal (/dev/stdin) is read into memory once (at most
 *            MM_READ_MAX_AUDIO = 1 GiB, mm_core.h) and decoded from there; a directory is refused as one.
 *            Samples are floats in [-1, 1) as libsndfile normalises them (int16 / 32768 like Whisper).
 *            Files are hostile: channels 1..max_channels, rate 1000..384000 Hz, header frame counts
 *            are not trusted (we read until EOF), clips over max_seconds are refused with a clear
 *            error, non-finite or absurd (|x| > 1e4) float samples are refused. An empty / 0-sample /
 *            silent clip loads (loading is not encoding: the encoder refuses clips under 0.1 s, below).
 *
 *   2. Mel   mm_mel (filterbank + window + FFTW plan, made once, read-only after, thread-safe):
 *            Whisper's log_mel_spectrogram exactly - periodic Hann 400, n_fft 400, hop 160,
 *            torch.stft(center=True) framing (reflect pad 200 both ends), |X|^2, last frame dropped
 *            (n_samples / 160 frames), Slaney mel filterbank with Slaney area norm (computed at run
 *            time, 80 or 128 bins), log10(max(x, 1e-10)), max(x, global_max - 8), (x + 4) / 4.
 *            Output layout [n_mels][n_frames] row-major (numpy shape (n_mels, n_frames)).
 *            Frames are split across the mm_pool's threads.
 *
 *   3. Encoder  mm_audio_model (read-only view of a GGUF; tensors stay in the mapping) and
 *            mm_audio_state (scratch, one per thread of use). Per window of mel frames:
 *              x = GELU(conv1d_1(mel))          a.conv1d.1  k3 s1 pad1   [T_in, d]
 *              x = GELU(conv1d_2(x))            a.conv1d.2  k3 s2 pad1   [T = (T_in + 1) / 2, d]
 *              x += a.position_embd.weight[0:T]
 *              x = a.blk.N(x)  (pre-LN, biased q/v/out, k biased or not - Whisper's k_proj has no
 *                               bias -, GELU-erf MLP, as Whisper)
 *              x = avgpool(x, pool) (qwen2a only: rows averaged in pairs, as Qwen2-Audio's AvgPool1d(2, 2)
 *                               before its final LN and llama.cpp's ggml_pool_1d; an odd last row is dropped)
 *              x = a.post_ln(x)
 *            Keys: clip.audio.{num_mel_bins, embedding_length, feed_forward_length, block_count,
 *            attention.head_count, attention.layer_norm_epsilon}, mmgpt.audio.max_frames (window in
 *            mel frames, default min(3000, 2 n_pos) = 30 s for Whisper), mmgpt.audio.pad_to_window
 *            (default true). Any Whisper size runs (tiny ... large-v3-turbo): widths, depth and the bin
 *            count (80, or 128 for large-v3) come from the keys, the positions (learned or Whisper's
 *            sinusoids, both stored as a table) from a.position_embd.weight [d, n_pos], f32 or f16.
 *            The log-mel uses the file's filterbank when it carries one (a.mel_filters, f32
 *            [201, n_mels]), else the Slaney one computed above (= Whisper's mel_filters.npz for 80 and
 *            128 bins, tested against it).
 *            llama.cpp's Ultravox mmproj files (convert_hf_to_gguf.py --mmproj, or tools/convert_ultravox.py
 *            here) have exactly these keys and tensors and no mmgpt.audio.* key, so they run as Whisper:
 *            3000-frame windows, the last padded. Their projector is in mm_fusion.h ("ultravox").
 *            Windowing of a clip of F mel frames, window W = max_frames:
 *              pad_to_window = true  (Whisper): the PCM is zero-padded to a whole number of windows
 *                 (at least one) before the log-mel, so a clip <= 30 s gives exactly Whisper's
 *                 log_mel_spectrogram(pad_or_trim(audio)); every window is W frames.
 *              pad_to_window = false: the log-mel of the clip as it is (F = n_samples / 160 frames)
 *                 is cut into windows of W frames, the last one shorter; each is encoded over its
 *                 own frames.
 *            Shortest clip: MM_AUDIO_MIN_SAMPLES = 1600 samples (0.1 s at 16 kHz). mm_audio_encode_pcm
 *            refuses shorter clips (a WAV with a header only, one sample, ...) with "audio clip too short:
 *            0.000 s (0 samples at 16 kHz), the shortest accepted is 0.1 s (1600 samples)": there is
 *            nothing to hear. Why 0.1 s: it is the least that yields an encoder row on every model
 *            (F = 10 mel frames -> 5 rows, at least one decoder position after any stacking projector;
 *            160 samples would be the bare minimum for one frame) while leaving frames that are not
 *            dominated by the framing's 200-sample reflect padding at both ends; and it is about the
 *            ear's own integration time (sounds under ~0.1 s are heard as clicks, not as pitch or
 *            loudness). Without the limit, pad_to_window models heard 30 s of padding silence and the
 *            others received 0 positions, and both answered as if a sound had been given.
 *            The windows' outputs are concatenated (rows of each window follow the previous one).
 *            The log-mel of a multi-window clip is taken over the whole clip (its clamp to
 *            global_max - 8 included), as Whisper's transcribe does, then cut.
 *            Rows per window are computed in one place, mm_audio_model_window_rows (below), which also gives
 *            the positions after a stacking projector: ceil(((T_in + 1) / 2 / pool) / stack).
 *            Where this differs from llama.cpp (deliberately): llama.cpp's Whisper preprocessor
 *            (tools/mtmd/mtmd-audio.cpp) pads clips under 31 s to 31 s, appends 30 s of zeros, takes
 *            the log-mel of all of it and keeps the whole 3000-frame chunks, so a clip of up to 30 s
 *            becomes two windows there (the second silent) where mmgpt, following Whisper's
 *            pad_or_trim, encodes ceil(seconds / 30) windows (at least one); and it counts
 *            1500 / stack positions per window rounded down (187 for stack 8, then aborts on the
 *            graph's 188) where mmgpt uses the graph's ceil everywhere.
 *
 * Errors follow mm_core.h: 0 / -1 with a one-line message in err (MM_ERR_SIZE bytes, may be NULL).
 * Nothing here prints or exits.
 */
#ifndef MM_AUDIO_H
#define MM_AUDIO_H

#include "mm_core.h"
#include "mm_gguf.h"

#ifdef __cplusplus
extern "C" {
#endif
MM_API_BEGIN  /* every declaration below is exported from libmmgpt.so (mm_api.h) */

#define MM_AUDIO_SAMPLE_RATE 16000   /* Whisper's rate; every PCM handed to the mel is at this rate */
#define MM_AUDIO_N_FFT       400
#define MM_AUDIO_HOP         160
#define MM_AUDIO_N_FREQ      201     /* n_fft / 2 + 1 */
#define MM_AUDIO_WINDOW_FRAMES 3000  /* 30 s at 100 frames/s: Whisper's window */
#define MM_AUDIO_MIN_SAMPLES   1600  /* 0.1 s at 16 kHz: the shortest clip the encoder accepts (top comment) */

/* ---------------------------------------------------------------- 1. PCM loading */
typedef struct {
    double max_seconds;    /* refuse clips longer than this (default 600 s) */
    int    max_channels;   /* refuse files with more channels (default 8) */
    int    target_rate;    /* output rate (default 16000); 0 = keep the file's rate (no resampling) */
    int    converter;      /* libsamplerate converter: 0 SINC_BEST (default), 1 SINC_MEDIUM, 2 SINC_FASTEST */
} mm_audio_load_params;

mm_audio_load_params mm_audio_load_default_params(void);

typedef struct {
    float  *samples;       /* [n_samples] mono, at sample_rate, malloc'd (NULL when n_samples == 0) */
    int64_t n_samples;
    int     sample_rate;   /* target_rate, or the file's rate when target_rate == 0 */
    int     src_rate;      /* the file's sample rate */
    int     src_channels;  /* the file's channel count */
    int64_t src_frames;    /* frames decoded from the file */
} mm_audio_pcm;

/* Decode a file / a memory buffer (name is used in messages). out is zeroed first; free with
 * mm_audio_pcm_free (also safe on a zeroed or failed pcm). p may be NULL (defaults). */
int  mm_audio_load_file(const char *path, const mm_audio_load_params *p, mm_audio_pcm *out, char *err);
int  mm_audio_load_memory(const void *data, size_t size, const char *name,
                          const mm_audio_load_params *p, mm_audio_pcm *out, char *err);
void mm_audio_pcm_free(mm_audio_pcm *pcm);

/* Resample mono float PCM with libsamplerate (converter as above). *out is malloc'd; its length is
 * round(n_in * rate_out / rate_in). rate_in == rate_out copies. */
int  mm_audio_resample(const float *in, int64_t n_in, int rate_in, int rate_out, int converter,
                       float **out, int64_t *n_out, char *err);

/* ---------------------------------------------------------------- 2. log-mel */
typedef struct mm_mel mm_mel;

mm_mel      *mm_mel_create(int n_mels, char *err);   /* n_mels: 80 or 128 (any 1..512 accepted) */
/* The same with the filterbank filters[n_mels][MM_AUDIO_N_FREQ] given (copied; NULL = computed, as
 * mm_mel_create): the one a model file carries (a.mel_filters), used instead of the Slaney one. */
mm_mel      *mm_mel_create_filters(int n_mels, const float *filters, char *err);
void         mm_mel_free(mm_mel *mel);
int          mm_mel_n_mels(const mm_mel *mel);
const float *mm_mel_filters(const mm_mel *mel);      /* [n_mels][MM_AUDIO_N_FREQ] Slaney filterbank */
/* Frames of a log-mel over n_samples samples: n_samples / 160. */
int64_t      mm_mel_n_frames(int64_t n_samples);
/* Log-mel of pcm[0..n_samples) taken as zero-padded / trimmed to n_total samples (n_total ==
 * n_samples: the clip as it is; n_total = 480000: Whisper's pad_or_trim). out: [n_mels][n_total/160].
 * pool may be NULL. Never allocates. n_total == 0 (0 frames) succeeds and writes nothing. */
int          mm_mel_compute(const mm_mel *mel, mm_pool *pool, const float *pcm, int64_t n_samples,
                            int64_t n_total, float *out, char *err);
/* Naive reference (double precision DFT, single thread): the test oracle for mm_mel_compute. */
int          mm_mel_compute_ref(const mm_mel *mel, const float *pcm, int64_t n_samples,
                                int64_t n_total, float *out, char *err);

/* ---------------------------------------------------------------- 3. encoder */
typedef struct {
    int     n_mels;        /* clip.audio.num_mel_bins */
    int     d;             /* clip.audio.embedding_length */
    int     d_ff;          /* clip.audio.feed_forward_length */
    int     n_layer;       /* clip.audio.block_count */
    int     n_head;        /* clip.audio.attention.head_count */
    float   eps;           /* clip.audio.attention.layer_norm_epsilon (default 1e-5) */
    int     n_pos;         /* rows of a.position_embd.weight */
    int     max_frames;    /* mmgpt.audio.max_frames: window in mel frames (default 3000, even) */
    bool    pad_to_window; /* mmgpt.audio.pad_to_window (default true) */
    int     pool;          /* rows averaged per encoder row before a.post_ln: 2 when the audio projector type
                              is "qwen2a" (Qwen2-Audio), else 1 */
} mm_audio_hparams;

typedef struct mm_audio_model mm_audio_model;

/* Read the audio encoder from an open GGUF (the handle must outlive the model; tensors are not
 * copied). Fails with a clear message when a key or tensor is missing or has the wrong shape/type. */
mm_audio_model         *mm_audio_model_load(const mm_gguf *g, char *err);
void                    mm_audio_model_free(mm_audio_model *m);
const mm_audio_hparams *mm_audio_model_hparams(const mm_audio_model *m);
int                     mm_audio_model_n_mels(const mm_audio_model *m);
int                     mm_audio_model_d_enc(const mm_audio_model *m);
/* The file's mel filterbank a.mel_filters [n_mels][MM_AUDIO_N_FREQ], or NULL (the Slaney one is computed). */
const float            *mm_audio_model_mel_filters(const mm_audio_model *m);
/* Mel frames the encoder will see for a clip of n_samples 16 kHz samples (after window padding). */
int64_t                 mm_audio_model_n_mel_frames(const mm_audio_model *m, int64_t n_samples);
/* Rows per window, computed here only: a window of T_in mel frames gives (T_in + 1) / 2 rows after the conv
 * stem, floor(that / pool) encoder rows after the average pool (pool 1: none), and ceil(rows / stack)
 * positions after a projector that stacks `stack` rows (stack 1: the encoder's rows). Whisper's 3000-frame
 * window: 1500 rows; stack 4: 375; stack 8: 188 (llama.cpp b10182 counts 1500 / 8 = 187 and aborts; its graph
 * makes 188); qwen2a (pool 2): 750. 0 for T_in <= 0 or stack < 1.
 * mm_audio_window_rows is the count without pooling; mm_audio_model_window_rows uses the model's pool. */
int64_t                 mm_audio_window_rows(int64_t T_in, int stack);
int64_t                 mm_audio_model_window_rows(const mm_audio_model *m, int64_t T_in, int stack);
/* The audio projector type of a llama.cpp mmproj: clip.audio.projector_type (files with both modalities),
 * else clip.projector_type; *type = NULL when neither key is there (not NUL-terminated: *n bytes). -1 when
 * the key is not a string. */
int                     mm_audio_projector_type(const mm_gguf *g, const char **type, size_t *n, char *err);
/* Windows of a log-mel of n_mel_frames frames (max_frames each, the last possibly shorter) and the frames
 * of window w (0 when w is out of range). */
int64_t                 mm_audio_model_n_windows(const mm_audio_model *m, int64_t n_mel_frames);
int64_t                 mm_audio_model_window_frames(const mm_audio_model *m, int64_t n_mel_frames, int64_t w);
/* Sum over the windows of mm_audio_model_window_rows(m, frames of the window, stack). */
int64_t                 mm_audio_model_n_rows(const mm_audio_model *m, int64_t n_mel_frames, int stack);
/* Encoder output rows for a log-mel of n_mel_frames frames: mm_audio_model_n_rows(m, n_mel_frames, 1). */
int64_t                 mm_audio_model_n_out(const mm_audio_model *m, int64_t n_mel_frames);

typedef struct mm_audio_state mm_audio_state;

/* Scratch for one encode at a time (buffers for one window, the mel plan). pool may be NULL and is
 * used by every call on this state. */
mm_audio_state *mm_audio_state_create(const mm_audio_model *m, mm_pool *pool, char *err);
void            mm_audio_state_free(mm_audio_state *s);

/* Optional progress report, called on the encoding thread after each window with the windows done
 * and the total (for a progress line on a terminal). fn == NULL turns it off. */
typedef void (*mm_audio_progress_fn)(void *user, int64_t windows_done, int64_t windows_total);
void mm_audio_state_set_progress(mm_audio_state *s, mm_audio_progress_fn fn, void *user);

/* Encode a log-mel [n_mels][n_frames] (row-major, as mm_mel_compute writes it) in windows of
 * max_frames frames, the last one possibly shorter and then encoded over its own frames (whatever
 * pad_to_window says: padding happens on the PCM, in mm_audio_encode_pcm). out: [mm_audio_model_n_out(m,
 * n_frames)][d]. Never allocates. n_frames == 0 writes nothing. */
int mm_audio_encode_mel(mm_audio_state *s, const float *mel, int64_t n_frames, float *out, char *err);

/* 0 when a 16 kHz clip of n_samples is long enough to encode (>= MM_AUDIO_MIN_SAMPLES), else -1 with
 * "audio clip too short: <s> s (<n> samples at 16 kHz), the shortest accepted is 0.1 s (1600 samples)"
 * (no function prefix: callers put the file name in front). */
int mm_audio_check_length(int64_t n_samples, char *err);

/* Both encode functions return MM_ERR_NONFINITE when the output is not finite ("audio encoder output row R
 * is not finite ...": NaN/Inf in the a.* weights, or overflow) - a model error, not an input error.
 *
 * PCM (16 kHz mono) -> log-mel (windowing as in the top comment) -> encoder. *out is malloc'd
 * [*n_out][d], *n_out >= 1. A clip shorter than MM_AUDIO_MIN_SAMPLES is refused (mm_audio_check_length's
 * message). If mel_out is non-NULL it receives the malloc'd log-mel [n_mels][*n_mel_frames] that was
 * encoded. */
int mm_audio_encode_pcm(mm_audio_state *s, const float *pcm, int64_t n_samples,
                        float **out, int64_t *n_out,
                        float **mel_out, int64_t *n_mel_frames, char *err);

MM_API_END

#ifdef __cplusplus
}
#endif
#endif /* MM_AUDIO_H */
