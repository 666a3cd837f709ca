/* audio_mel.c - Whisper log-mel spectrogram (see mm_audio.h for the exact recipe).
 *
 * Fast path: FFTW single-precision r2c plan of size 400 made once per mm_mel (FFTW's planner is not
 * thread-safe, so plan creation/destruction is serialised by a process-wide mutex; executing a plan
 * on new arrays is thread-safe). Frames are split across the pool's threads; each thread keeps its
 * 400-sample frame and 201-bin spectrum on its stack (64-byte aligned, the same alignment class as
 * the fftwf_malloc'd arrays the plan was made with), so a call never allocates. The mel product uses
 * the filterbank's non-zero range per mel (a triangle covers a few bins), in float. log10 is log10_fast
 * (below) over a frame's n_mels values at once, a loop the compiler vectorizes: glibc's log10f was half of
 * the time (perf; 30 s at 128 bins on one loaded core: 4.5 ms -> 2.4 ms, bench/README.md).
 * Reference path: a naive double-precision DFT, same framing, for tests.
 */
#include <math.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <fftw3.h>

#include "mm_audio.h"

#define N_FFT  MM_AUDIO_N_FFT
#define HOP    MM_AUDIO_HOP
#define N_FREQ MM_AUDIO_N_FREQ

struct mm_mel {
    int        n_mels;
    float      window[N_FFT];  /* [400] periodic Hann */
    float     *filters;        /* [n_mels][201] Slaney filterbank, Slaney area norm */
    int       *lo, *hi;        /* [n_mels] non-zero bins of each filter: [lo, hi) */
    fftwf_plan plan;           /* r2c, 400 -> 201 */
};

static pthread_mutex_t g_fftw_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------------------- Slaney mel scale (librosa htk=False) */
static double hz_to_mel(double f) {
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    if (f >= min_log_hz) return min_log_mel + log(f / min_log_hz) / logstep;
    return f / f_sp;
}

static double mel_to_hz(double m) {
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    if (m >= min_log_mel) return min_log_hz * exp(logstep * (m - min_log_mel));
    return f_sp * m;
}

/* filters[n_mels][201] for sr 16000, n_fft 400, fmin 0, fmax 8000, computed in double. */
static int make_filters(mm_mel *mel, char *err) {
    const int nm = mel->n_mels;
    double *mel_f = malloc((size_t)(nm + 2) * sizeof *mel_f);
    if (!mel_f) return mm_err(err, "mm_mel_create: out of memory");
    const double mmin = hz_to_mel(0.0), mmax = hz_to_mel(MM_AUDIO_SAMPLE_RATE / 2.0);
    for (int i = 0; i < nm + 2; i++) {
        /* numpy linspace: start + i * step, last point exact */
        double m = i == nm + 1 ? mmax : mmin + (double)i * ((mmax - mmin) / (double)(nm + 1));
        mel_f[i] = mel_to_hz(m);
    }
    for (int i = 0; i < nm; i++) {
        const double fd0 = mel_f[i + 1] - mel_f[i], fd1 = mel_f[i + 2] - mel_f[i + 1];
        const double enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        int lo = N_FREQ, hi = 0;
        for (int k = 0; k < N_FREQ; k++) {
            const double fk = (double)k * ((double)MM_AUDIO_SAMPLE_RATE / N_FFT);
            const double lower = -(mel_f[i] - fk) / fd0;
            const double upper = (mel_f[i + 2] - fk) / fd1;
            double w = lower < upper ? lower : upper;
            if (w < 0.0) w = 0.0;
            const float wf = (float)(w * enorm);
            mel->filters[(size_t)i * N_FREQ + k] = wf;
            if (wf != 0.0f) {
                if (k < lo) lo = k;
                if (k + 1 > hi) hi = k + 1;
            }
        }
        if (hi < lo) lo = hi = 0;  /* an empty filter (many mels): contributes nothing */
        mel->lo[i] = lo;
        mel->hi[i] = hi;
    }
    free(mel_f);
    return 0;
}

/* The non-zero bins [lo, hi) of each filter (an all-zero filter: lo = hi = 0). */
static void filter_bounds(mm_mel *mel) {
    for (int i = 0; i < mel->n_mels; i++) {
        const float *f = mel->filters + (size_t)i * N_FREQ;
        int lo = N_FREQ, hi = 0;
        for (int k = 0; k < N_FREQ; k++)
            if (f[k] != 0.0f) {
                if (k < lo) lo = k;
                hi = k + 1;
            }
        if (hi < lo) lo = hi = 0;
        mel->lo[i] = lo;
        mel->hi[i] = hi;
    }
}

mm_mel *mm_mel_create(int n_mels, char *err) { return mm_mel_create_filters(n_mels, NULL, err); }

mm_mel *mm_mel_create_filters(int n_mels, const float *filters, char *err) {
    if (n_mels < 1 || n_mels > 512) {
        mm_err(err, "mm_mel_create: n_mels %d out of range (80 or 128; 1..512 accepted)", n_mels);
        return NULL;
    }
    mm_mel *mel = calloc(1, sizeof *mel);
    if (!mel) goto oom;
    mel->n_mels = n_mels;
    mel->filters = calloc((size_t)n_mels * N_FREQ, sizeof *mel->filters);
    mel->lo = calloc((size_t)n_mels, sizeof *mel->lo);
    mel->hi = calloc((size_t)n_mels, sizeof *mel->hi);
    if (!mel->filters || !mel->lo || !mel->hi) goto oom;
    for (int i = 0; i < N_FFT; i++)  /* torch.hann_window(400) (periodic) */
        mel->window[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * (double)i / N_FFT));
    if (make_filters(mel, err)) {
        mm_mel_free(mel);
        return NULL;
    }
    if (filters) { /* the model file's own filterbank (checked finite by the caller) */
        memcpy(mel->filters, filters, (size_t)n_mels * N_FREQ * sizeof *mel->filters);
        filter_bounds(mel);
    }
    pthread_mutex_lock(&g_fftw_lock);
    float *in = fftwf_malloc(sizeof(float) * N_FFT);
    fftwf_complex *out = fftwf_malloc(sizeof(fftwf_complex) * N_FREQ);
    if (in && out) mel->plan = fftwf_plan_dft_r2c_1d(N_FFT, in, out, FFTW_ESTIMATE);
    fftwf_free(in);
    fftwf_free(out);
    pthread_mutex_unlock(&g_fftw_lock);
    if (!mel->plan) {
        mm_err(err, "%s: FFTW could not make a plan of size %d", __func__, N_FFT);
        mm_mel_free(mel);
        return NULL;
    }
    return mel;
oom:
    mm_err(err, "%s: out of memory", __func__);
    mm_mel_free(mel);
    return NULL;
}

void mm_mel_free(mm_mel *mel) {
    if (!mel) return;
    if (mel->plan) {
        pthread_mutex_lock(&g_fftw_lock);
        fftwf_destroy_plan(mel->plan);
        pthread_mutex_unlock(&g_fftw_lock);
    }
    free(mel->filters);
    free(mel->lo);
    free(mel->hi);
    free(mel);
}

int mm_mel_n_mels(const mm_mel *mel) { return mel ? mel->n_mels : 0; }
const float *mm_mel_filters(const mm_mel *mel) { return mel ? mel->filters : NULL; }
int64_t mm_mel_n_frames(int64_t n_samples) { return n_samples > 0 ? n_samples / HOP : 0; }

/* Sample j of the reflect-padded signal: s = pcm zero-padded / trimmed to n_total samples, then
 * mirrored at both ends without repeating the edge sample (torch 'reflect'). Indices further out
 * than one reflection (only when n_total <= 200) keep folding, so any length >= 1 is defined. */
static inline float padded_sample(const float *pcm, int64_t n_samples, int64_t n_total, int64_t j) {
    if (j < 0 || j >= n_total) {
        if (n_total == 1) {
            j = 0;
        } else {
            const int64_t period = 2 * (n_total - 1);
            j %= period;
            if (j < 0) j += period;
            if (j >= n_total) j = period - j;
        }
    }
    return j < n_samples ? pcm[j] : 0.0f;
}

/* log10(x) for finite x >= 1e-10 (the clamped mel energies): x = m 2^e with m in [sqrt(1/2), sqrt(2)),
 * ln m = 2 atanh(t), t = (m - 1) / (m + 1), |t| <= 0.1716, by its series to t^9 (the next term is under 7e-10),
 * log10 x = (e ln 2 + ln m) / ln 10 (that sum in double). Measured over every 7th float in [1e-10, 1e14]:
 * |error| <= 5.1e-7 absolute (glibc's log10f: 5.3e-7). Branch-free, so that loops over it vectorize. */
static inline float log10_fast(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    int e = (int)(u >> 23) - 127;             /* x > 0: no sign bit */
    u = (u & 0x007fffffu) | 0x3f800000u;      /* mantissa in [1, 2) */
    float m;
    memcpy(&m, &u, sizeof m);
    const int big = m > 1.41421356f;
    m = big ? 0.5f * m : m;
    e += big;
    const float t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
    const float ln_m = t * (2.0f + t2 * (2.0f / 3.0f + t2 * (2.0f / 5.0f + t2 * (2.0f / 7.0f + t2 * (2.0f / 9.0f)))));
    return (float)(((double)e * 0.693147180559945 + (double)ln_m) * 0.434294481903252);
}

static int check_args(const mm_mel *mel, const float *pcm, int64_t n_samples, int64_t n_total,
                      const float *out, const char *fn, char *err) {
    if (!mel) return mm_err(err, "%s: no mel", fn);
    if (n_samples < 0 || n_total < 0) return mm_err(err, "%s: negative length", fn);
    if (n_samples > 0 && !pcm) return mm_err(err, "%s: NULL pcm", fn);
    if (n_total >= ((int64_t)1 << 40)) return mm_err(err, "%s: %lld samples is too long", fn, (long long)n_total);
    if (n_total / HOP > 0 && !out) return mm_err(err, "%s: NULL output", fn);
    return 0;
}

/* ---------------------------------------------------------------- fast path */
typedef struct {
    const mm_mel   *mel;
    const float    *pcm;
    int64_t         n_samples, n_total, n_frames;
    float          *out;     /* [n_mels][n_frames] */
    float           gmax;    /* global max of log10 values (merged under lock) */
    pthread_mutex_t lock;
} mel_task;

static void mel_frames_task(void *vctx, int ith, int nth) {
    mel_task *t = vctx;
    const mm_mel *mel = t->mel;
    int64_t f0, f1;
    mm_split_range(t->n_frames, ith, nth, &f0, &f1);
    _Alignas(64) float frame[N_FFT];
    _Alignas(64) fftwf_complex spec[N_FREQ];
    _Alignas(64) float power[N_FREQ];
    float energy[512];  /* [n_mels], n_mels <= 512 (mm_mel_create) */
    float tmax = -INFINITY;
    for (int64_t f = f0; f < f1; f++) {
        const int64_t start = f * HOP - N_FFT / 2;
        if (start >= 0 && start + N_FFT <= t->n_samples) {
            const float *x = t->pcm + start;
            for (int i = 0; i < N_FFT; i++) frame[i] = x[i] * mel->window[i];
        } else {
            for (int i = 0; i < N_FFT; i++)
                frame[i] = padded_sample(t->pcm, t->n_samples, t->n_total, start + i) * mel->window[i];
        }
        fftwf_execute_dft_r2c(mel->plan, frame, spec);
        for (int k = 0; k < N_FREQ; k++) power[k] = spec[k][0] * spec[k][0] + spec[k][1] * spec[k][1];
        const int nm = mel->n_mels;
        for (int m = 0; m < nm; m++) {
            const float *w = mel->filters + (size_t)m * N_FREQ;
            float s = 0.0f;
            for (int k = mel->lo[m]; k < mel->hi[m]; k++) s += w[k] * power[k];
            energy[m] = s > 1e-10f ? s : 1e-10f;
        }
        for (int m = 0; m < nm; m++) energy[m] = log10_fast(energy[m]);
        for (int m = 0; m < nm; m++) {
            t->out[(size_t)m * (size_t)t->n_frames + (size_t)f] = energy[m];
            tmax = energy[m] > tmax ? energy[m] : tmax;
        }
    }
    pthread_mutex_lock(&t->lock);
    if (tmax > t->gmax) t->gmax = tmax;
    pthread_mutex_unlock(&t->lock);
}

typedef struct {
    float  *out;
    int64_t n;
    float   floor;
} mel_norm_task;

static void mel_norm_fn(void *vctx, int ith, int nth) {
    mel_norm_task *t = vctx;
    int64_t i0, i1;
    mm_split_range(t->n, ith, nth, &i0, &i1);
    const float fl = t->floor;
    for (int64_t i = i0; i < i1; i++) {
        float v = t->out[i];
        v = v > fl ? v : fl;
        t->out[i] = (v + 4.0f) / 4.0f;
    }
}

int mm_mel_compute(const mm_mel *mel, mm_pool *pool, const float *pcm, int64_t n_samples,
                   int64_t n_total, float *out, char *err) {
    if (check_args(mel, pcm, n_samples, n_total, out, __func__, err)) return -1;
    if (n_samples > n_total) n_samples = n_total;  /* trim */
    const int64_t n_frames = mm_mel_n_frames(n_total);
    if (n_frames == 0) return 0;
    mel_task t = {.mel = mel, .pcm = pcm, .n_samples = n_samples, .n_total = n_total,
                  .n_frames = n_frames, .out = out, .gmax = -INFINITY};
    pthread_mutex_init(&t.lock, NULL);
    mm_pool_run(pool, mel_frames_task, &t);
    pthread_mutex_destroy(&t.lock);
    mel_norm_task nt = {out, (int64_t)mel->n_mels * n_frames, t.gmax - 8.0f};
    mm_pool_run(pool, mel_norm_fn, &nt);
    return 0;
}

/* ---------------------------------------------------------------- reference (double DFT) */
int mm_mel_compute_ref(const mm_mel *mel, const float *pcm, int64_t n_samples, int64_t n_total,
                       float *out, char *err) {
    if (check_args(mel, pcm, n_samples, n_total, out, __func__, err)) return -1;
    if (n_samples > n_total) n_samples = n_total;
    const int64_t n_frames = mm_mel_n_frames(n_total);
    if (n_frames == 0) return 0;
    double *cs = malloc(sizeof(double) * N_FFT * 2);
    double *logv = malloc(sizeof(double) * (size_t)mel->n_mels * (size_t)n_frames);
    if (!cs || !logv) {
        free(cs);
        free(logv);
        return mm_err(err, "%s: out of memory", __func__);
    }
    for (int i = 0; i < N_FFT; i++) {
        cs[2 * i] = cos(2.0 * M_PI * i / N_FFT);
        cs[2 * i + 1] = sin(2.0 * M_PI * i / N_FFT);
    }
    double gmax = -INFINITY;
    for (int64_t f = 0; f < n_frames; f++) {
        double x[N_FFT], power[N_FREQ];
        for (int i = 0; i < N_FFT; i++) {
            const double w = 0.5 - 0.5 * cos(2.0 * M_PI * i / N_FFT);
            x[i] = w * (double)padded_sample(pcm, n_samples, n_total, f * HOP - N_FFT / 2 + i);
        }
        for (int k = 0; k < N_FREQ; k++) {
            double re = 0, im = 0;
            for (int i = 0; i < N_FFT; i++) {
                const int idx = (int)(((int64_t)k * i) % N_FFT);
                re += x[i] * cs[2 * idx];
                im -= x[i] * cs[2 * idx + 1];
            }
            power[k] = re * re + im * im;
        }
        for (int m = 0; m < mel->n_mels; m++) {
            double s = 0;
            for (int k = 0; k < N_FREQ; k++) s += (double)mel->filters[(size_t)m * N_FREQ + k] * power[k];
            const double v = log10(s > 1e-10 ? s : 1e-10);
            logv[(size_t)m * n_frames + f] = v;
            if (v > gmax) gmax = v;
        }
    }
    for (int64_t i = 0; i < (int64_t)mel->n_mels * n_frames; i++) {
        double v = logv[i] > gmax - 8.0 ? logv[i] : gmax - 8.0;
        out[i] = (float)((v + 4.0) / 4.0);
    }
    free(cs);
    free(logv);
    return 0;
}
