/* test_aud_bad_input.c - hostile and edge-case audio input: each case must give a clear error (-1 and a
 * non-empty message) or a valid result (finite samples, sane length, and a log-mel that computes),
 * through both the file and the memory loader; never a crash (this test also runs under ASan/UBSan).
 * Also: the encoder's shortest clip (min_length_cases).
 *
 * Expectations are stated per case: MUST_FAIL, MUST_LOAD (with the exact sample count when known),
 * or EITHER (truncated compressed streams: libsndfile may decode a prefix or refuse).
 * Also checks mixing to mono exactly ((L + R) / 2 with resampling off), the duration cap, and that a
 * silent clip's log-mel is the floor value (log10(1e-10) + 4) / 4 = -1.5 everywhere.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_audio.h"

#include "test_data.h"

/* libsndfile's Ogg Vorbis open path leaks libvorbis' vorbis_info on some truncated streams (a library
 * bug outside mmgpt, seen under LeakSanitizer): ignore allocations made inside libvorbis. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libvorbis.so\n"; }

static int g_fail = 0;
static const char *g_tmp = "/tmp";
static mm_pool *g_pool;

enum { MUST_FAIL, MUST_LOAD, EITHER };

typedef struct {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put32(buf *b, uint32_t v) {
    unsigned char c[4] = {v & 255, (v >> 8) & 255, (v >> 16) & 255, v >> 24};
    put(b, c, 4);
}
static void put16(buf *b, uint16_t v) {
    unsigned char c[2] = {v & 255, v >> 8};
    put(b, c, 2);
}

/* RIFF/WAVE with a fmt chunk and a data chunk claiming data_claim bytes but holding n_data bytes. */
static buf make_wav(int fmt_tag, int channels, uint32_t rate, int bits, const void *data, size_t n_data,
                    uint32_t data_claim) {
    buf b = {0};
    put(&b, "RIFF", 4);
    put32(&b, (uint32_t)(36 + n_data));
    put(&b, "WAVEfmt ", 8);
    put32(&b, 16);
    put16(&b, (uint16_t)fmt_tag);
    put16(&b, (uint16_t)channels);
    put32(&b, rate);
    put32(&b, rate * (uint32_t)channels * (uint32_t)(bits / 8));
    put16(&b, (uint16_t)(channels * bits / 8));
    put16(&b, (uint16_t)bits);
    put(&b, "data", 4);
    put32(&b, data_claim);
    if (n_data) put(&b, data, n_data);
    return b;
}

static int write_file(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    if (n && fwrite(d, 1, n, f) != n) {
        fclose(f);
        return -1;
    }
    return fclose(f);
}

static void *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc((size_t)sz + 1);
    if (fread(p, 1, (size_t)sz, f) != (size_t)sz) sz = 0;
    fclose(f);
    *n = (size_t)sz;
    return p;
}

/* Validate a successful load: finite samples, and the log-mel computes to finite values. */
static int check_pcm(const char *name, const mm_audio_pcm *pcm) {
    if (pcm->n_samples < 0 || (pcm->n_samples > 0 && !pcm->samples)) return -1;
    for (int64_t i = 0; i < pcm->n_samples; i++)
        if (!isfinite(pcm->samples[i])) {
            fprintf(stderr, "%s: non-finite sample %lld\n", name, (long long)i);
            return -1;
        }
    if (pcm->sample_rate != MM_AUDIO_SAMPLE_RATE) return 0;  /* resampling off: mel not meaningful */
    char err[MM_ERR_SIZE];
    mm_mel *mel = mm_mel_create(80, err);
    int64_t nf = mm_mel_n_frames(pcm->n_samples);
    float *out = malloc(((size_t)nf * 80 + 1) * sizeof *out);
    int rc = mm_mel_compute(mel, g_pool, pcm->samples, pcm->n_samples, pcm->n_samples, out, err);
    for (int64_t i = 0; rc == 0 && i < nf * 80; i++)
        if (!isfinite(out[i])) rc = -1;
    free(out);
    mm_mel_free(mel);
    return rc;
}

/* Run one case through the memory loader and (written to disk) the file loader. */
static void run(const char *name, const void *data, size_t n, int expect, int64_t want_samples,
                const mm_audio_load_params *p) {
    char path[1024], err[MM_ERR_SIZE];
    snprintf(path, sizeof path, "%s/aud_bad_%s", g_tmp, name);
    if (write_file(path, data, n)) {
        fprintf(stderr, "FAIL %s: cannot write %s\n", name, path);
        g_fail = 1;
        return;
    }
    for (int via = 0; via < 2; via++) {
        mm_audio_pcm pcm;
        err[0] = 0;
        int rc = via ? mm_audio_load_file(path, p, &pcm, err) : mm_audio_load_memory(data, n, name, p, &pcm, err);
        const char *how = via ? "file" : "memory";
        int ok;
        if (rc == 0) {
            ok = expect != MUST_FAIL && check_pcm(name, &pcm) == 0 &&
                 (want_samples < 0 || pcm.n_samples == want_samples);
            printf("%-4s %-28s %-6s loaded: %lld samples (%d Hz x %d ch in the file)\n", ok ? "ok" : "FAIL",
                   name, how, (long long)pcm.n_samples, pcm.src_rate, pcm.src_channels);
        } else {
            ok = expect != MUST_LOAD && err[0] != 0 && pcm.samples == NULL && pcm.n_samples == 0;
            printf("%-4s %-28s %-6s error: %s\n", ok ? "ok" : "FAIL", name, how, err);
        }
        if (!ok) g_fail = 1;
        mm_audio_pcm_free(&pcm);
    }
}

/* The shortest clip the encoder accepts (MM_AUDIO_MIN_SAMPLES = 1600, 0.1 s at 16 kHz, see mm_audio.h): a WAV
 * with a header only or with one sample loads (0 and 1 samples: loading is not encoding) but the encoder
 * refuses it with a message that gives the clip's length and the minimum; so do 159 and 1599 samples. A
 * clip of exactly 1600 samples encodes to at least one row, all finite. Uses the bundled model's encoder
 * (assets/models/mmgpt-demo.gguf: pad_to_window false, so a 0-sample clip once gave 0 rows, exit 0). */
static void min_length_cases(void) {
    char err[MM_ERR_SIZE], path[1024];
    const char *src = getenv("MMGPT_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/assets/models/mmgpt-demo.gguf", src && *src ? src : ".");
    mm_gguf *g = mm_gguf_open(path, err);
    mm_audio_model *am = g ? mm_audio_model_load(g, err) : NULL;
    mm_audio_state *st = am ? mm_audio_state_create(am, g_pool, err) : NULL;
    if (!st) {
        printf("FAIL bundled model's audio encoder: %s\n", err);
        g_fail = 1;
    }
    int ok = MM_AUDIO_MIN_SAMPLES == 1600;
    printf("%-4s MM_AUDIO_MIN_SAMPLES = %d (0.1 s at 16 kHz)\n", ok ? "ok" : "FAIL", (int)MM_AUDIO_MIN_SAMPLES);
    if (!ok) g_fail = 1;
    static float pcm[1600];
    for (int i = 0; i < 1600; i++) pcm[i] = (float)(0.3 * sin(i * 0.2));
    const int64_t lens[] = {0, 1, 159, 1599, 1600};
    for (size_t k = 0; st && k < sizeof lens / sizeof lens[0]; k++) {
        float *out = NULL;
        int64_t n_out = 0;
        err[0] = 0;
        const int rc = mm_audio_encode_pcm(st, pcm, lens[k], &out, &n_out, NULL, NULL, err);
        char want[64];
        snprintf(want, sizeof want, "(%lld samples", (long long)lens[k]);
        if (lens[k] < 1600) {
            ok = rc != 0 && out == NULL && n_out == 0 && strstr(err, "0.1 s") && strstr(err, want);
            printf("%-4s encode %4lld samples: refused: %s\n", ok ? "ok" : "FAIL", (long long)lens[k],
                   rc ? err : "(accepted)");
        } else {
            ok = rc == 0 && n_out >= 1 && out;
            for (int64_t i = 0; ok && i < n_out * mm_audio_model_d_enc(am); i++) ok = isfinite(out[i]);
            printf("%-4s encode %4lld samples: %lld rows%s%s\n", ok ? "ok" : "FAIL", (long long)lens[k],
                   (long long)n_out, rc ? ": " : "", rc ? err : "");
        }
        if (!ok) g_fail = 1;
        free(out);
    }
    /* header-only and one-sample WAVs (the files a user has): they load, then the encoder refuses them */
    int16_t one = 1000;
    for (int k = 0; st && k < 2; k++) {
        buf w = make_wav(1, 1, 16000, 16, &one, (size_t)k * 2, (uint32_t)k * 2);
        mm_audio_pcm pc;
        float *out = NULL;
        int64_t n_out = 0;
        int rc = mm_audio_load_memory(w.p, w.n, k ? "one_sample.wav" : "header_only.wav", NULL, &pc, err);
        ok = rc == 0 && pc.n_samples == k;
        if (ok) ok = mm_audio_encode_pcm(st, pc.samples, pc.n_samples, &out, &n_out, NULL, NULL, err) != 0 &&
                     strstr(err, "0.1 s") != NULL;
        printf("%-4s %s: loads (%lld samples), encoder refuses: %s\n", ok ? "ok" : "FAIL",
               k ? "one_sample.wav" : "header_only.wav", (long long)pc.n_samples, err);
        if (!ok) g_fail = 1;
        free(out);
        mm_audio_pcm_free(&pc);
        free(w.p);
    }
    mm_audio_state_free(st);
    mm_audio_model_free(am);
    if (g) mm_gguf_close(g);
}

int main(void) {
    const char *t = getenv("MMGPT_TEST_TMP");
    if (t && *t) g_tmp = t;
    char err[MM_ERR_SIZE];
    g_pool = mm_pool_create(2, err);
    mm_audio_load_params nors = mm_audio_load_default_params();
    nors.target_rate = 0;  /* keep the file's rate: the truncation cases need no resampling */

    /* empty file, text named .wav, random bytes */
    run("empty.wav", "", 0, MUST_FAIL, -1, NULL);
    const char *txt = "This is not a sound file, only text that happens to be called .wav\n";
    run("text.wav", txt, strlen(txt), MUST_FAIL, -1, NULL);
    unsigned char rnd[4096];
    uint32_t s = 7;
    for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (unsigned char)((s = s * 1103515245u + 12345u) >> 16);
    memcpy(rnd, "RIFF", 4);
    run("random_riff.wav", rnd, sizeof rnd, EITHER, -1, NULL);

    /* WAV: valid small clips */
    int16_t pcm16[1000];
    for (int i = 0; i < 1000; i++) pcm16[i] = (int16_t)(8000 * sin(i * 0.1));
    buf w = make_wav(1, 1, 16000, 16, pcm16, sizeof pcm16, sizeof pcm16);
    run("ok_1000.wav", w.p, w.n, MUST_LOAD, 1000, NULL);
    free(w.p);
    /* header claiming a huge data size with 2000 bytes present */
    w = make_wav(1, 1, 16000, 16, pcm16, sizeof pcm16, 0x7FFFFFF0u);
    run("huge_data_size.wav", w.p, w.n, EITHER, -1, NULL);
    free(w.p);
    w = make_wav(1, 2, 16000, 16, pcm16, sizeof pcm16, 0xFFFFFFFFu);
    run("data_size_ffffffff.wav", w.p, w.n, EITHER, -1, NULL);
    free(w.p);
    /* 0-sample clip: valid, empty */
    w = make_wav(1, 1, 16000, 16, NULL, 0, 0);
    run("zero_samples.wav", w.p, w.n, MUST_LOAD, 0, NULL);
    free(w.p);
    /* one sample, 44.1 kHz: resampled to round(16000/44100) = 0 samples */
    w = make_wav(1, 1, 44100, 16, pcm16, 2, 2);
    run("one_sample_44k.wav", w.p, w.n, MUST_LOAD, 0, NULL);
    free(w.p);
    /* silly sample rates and channel counts */
    w = make_wav(1, 1, 10000000u, 16, pcm16, sizeof pcm16, sizeof pcm16);
    run("rate_10MHz.wav", w.p, w.n, MUST_FAIL, -1, NULL);
    free(w.p);
    w = make_wav(1, 1, 0xFFFFFFFFu, 16, pcm16, sizeof pcm16, sizeof pcm16);
    run("rate_ffffffff.wav", w.p, w.n, MUST_FAIL, -1, NULL);
    free(w.p);
    w = make_wav(1, 1, 1, 16, pcm16, sizeof pcm16, sizeof pcm16);
    run("rate_1Hz.wav", w.p, w.n, MUST_FAIL, -1, NULL);
    free(w.p);
    w = make_wav(1, 1, 0, 16, pcm16, sizeof pcm16, sizeof pcm16);
    run("rate_0.wav", w.p, w.n, MUST_FAIL, -1, NULL);
    free(w.p);
    w = make_wav(1, 1000, 16000, 16, pcm16, sizeof pcm16, sizeof pcm16);
    run("channels_1000.wav", w.p, w.n, MUST_FAIL, -1, NULL);
    free(w.p);
    w = make_wav(1, 65535, 16000, 16, pcm16, sizeof pcm16, sizeof pcm16);
    run("channels_65535.wav", w.p, w.n, MUST_FAIL, -1, NULL);
    free(w.p);
    w = make_wav(1, 0, 16000, 16, pcm16, sizeof pcm16, sizeof pcm16);
    run("channels_0.wav", w.p, w.n, MUST_FAIL, -1, NULL);
    free(w.p);
    /* 8 channels at 8 kHz: valid (1000 samples = 125 frames -> 250 at 16 kHz) */
    w = make_wav(1, 8, 8000, 16, pcm16, sizeof pcm16, sizeof pcm16);
    run("channels_8_8k.wav", w.p, w.n, MUST_LOAD, 250, NULL);
    free(w.p);
    /* float WAV with a NaN: refused */
    float fl[64];
    for (int i = 0; i < 64; i++) fl[i] = 0.1f * (float)i / 64.0f;
    fl[40] = NAN;
    w = make_wav(3, 1, 16000, 32, fl, sizeof fl, sizeof fl);
    run("float_nan.wav", w.p, w.n, MUST_FAIL, -1, NULL);
    free(w.p);
    fl[40] = 1e30f;  /* finite but absurd: would overflow the power spectrum */
    w = make_wav(3, 1, 16000, 32, fl, sizeof fl, sizeof fl);
    run("float_1e30.wav", w.p, w.n, MUST_FAIL, -1, NULL);
    free(w.p);
    fl[40] = 1.5f;   /* a little over full scale: fine */
    w = make_wav(3, 1, 16000, 32, fl, sizeof fl, sizeof fl);
    run("float_over_1.wav", w.p, w.n, MUST_LOAD, 64, NULL);
    free(w.p);

    /* mixing: stereo int16 L, R -> (L + R) / 2 exactly, resampling off */
    {
        int16_t st[200];
        for (int i = 0; i < 100; i++) {
            st[2 * i] = (int16_t)(i * 100 - 5000);
            st[2 * i + 1] = (int16_t)(3000 - i * 37);
        }
        w = make_wav(1, 2, 22050, 16, st, sizeof st, sizeof st);
        mm_audio_pcm pcm;
        int rc = mm_audio_load_memory(w.p, w.n, "mix.wav", &nors, &pcm, err);
        double md = rc ? 1 : 0;
        for (int i = 0; rc == 0 && i < 100 && pcm.n_samples == 100; i++)
            md = fmax(md, fabs(pcm.samples[i] - (st[2 * i] + st[2 * i + 1]) / 65536.0));
        int ok = rc == 0 && pcm.n_samples == 100 && pcm.sample_rate == 22050 && md < 1e-7;
        printf("%-4s stereo -> mono mix (L+R)/2: max|diff| %.2g\n", ok ? "ok" : "FAIL", md);
        if (!ok) g_fail = 1;
        mm_audio_pcm_free(&pcm);
        free(w.p);
    }
    /* silent clip: valid, log-mel at the floor */
    {
        int16_t z[3200] = {0};
        w = make_wav(1, 1, 16000, 16, z, sizeof z, sizeof z);
        mm_audio_pcm pcm;
        int rc = mm_audio_load_memory(w.p, w.n, "silence.wav", NULL, &pcm, err);
        mm_mel *mel = mm_mel_create(80, err);
        float out[80 * 20];
        double md = 1;
        if (rc == 0 && pcm.n_samples == 3200 &&
            mm_mel_compute(mel, g_pool, pcm.samples, pcm.n_samples, pcm.n_samples, out, err) == 0) {
            md = 0;
            for (int i = 0; i < 80 * 20; i++) md = fmax(md, fabs(out[i] - (-1.5)));
        }
        printf("%-4s silent clip: log-mel max|x - (-1.5)| = %.2g\n", md < 1e-6 ? "ok" : "FAIL", md);
        if (!(md < 1e-6)) g_fail = 1;
        mm_mel_free(mel);
        mm_audio_pcm_free(&pcm);
        free(w.p);
    }

    /* mm_audio_resample (one-shot libsamplerate) on a 44.1 kHz tone vs the tone sampled at 16 kHz */
    {
        const int64_t n = 44100;
        float *x = malloc(n * sizeof *x), *y = NULL;
        for (int64_t i = 0; i < n; i++) x[i] = (float)(0.5 * sin(2 * M_PI * 1000.0 * (double)i / 44100.0));
        int64_t ny = 0;
        int rc = mm_audio_resample(x, n, 44100, 16000, 0, &y, &ny, err);
        double se = 0, ss = 0;
        for (int64_t i = 800; rc == 0 && i < ny - 800; i++) {
            const double r = 0.5 * sin(2 * M_PI * 1000.0 * (double)i / 16000.0);
            ss += r * r;
            se += (y[i] - r) * (y[i] - r);
        }
        const double snr = se > 0 ? 10 * log10(ss / se) : 999;
        int ok = rc == 0 && ny == 16000 && snr > 80;
        printf("%-4s mm_audio_resample 44.1k -> 16k tone: %lld samples, SNR %.1f dB (> 80)\n", ok ? "ok" : "FAIL",
               (long long)ny, snr);
        if (!ok) g_fail = 1;
        free(y);
        ok = mm_audio_resample(x, n, 16000, 16000, 0, &y, &ny, err) == 0 && ny == n && !memcmp(x, y, n * sizeof *x);
        free(y);
        ok = ok && mm_audio_resample(x, n, 0, 16000, 0, &y, &ny, err) == -1 && err[0];
        ok = ok && mm_audio_resample(x, n, 44100, 16000, 99, &y, &ny, err) == -1 && err[0];
        printf("%-4s mm_audio_resample: same rate copies, bad rate / converter refused\n", ok ? "ok" : "FAIL");
        if (!ok) g_fail = 1;
        free(x);
    }

    min_length_cases();

    /* bad paths */
    {
        mm_audio_pcm pcm;
        int ok = mm_audio_load_file("/nonexistent/dir/x.wav", NULL, &pcm, err) == -1 && err[0];
        printf("%-4s nonexistent path: %s\n", ok ? "ok" : "FAIL", err);
        if (!ok) g_fail = 1;
        ok = mm_audio_load_file(g_tmp, NULL, &pcm, err) == -1 && err[0];
        printf("%-4s directory: %s\n", ok ? "ok" : "FAIL", err);
        if (!ok) g_fail = 1;
        mm_audio_load_params bp = mm_audio_load_default_params();
        bp.max_seconds = -1;
        ok = mm_audio_load_memory(pcm16, sizeof pcm16, "x", &bp, &pcm, err) == -1 && err[0];
        printf("%-4s bad params: %s\n", ok ? "ok" : "FAIL", err);
        if (!ok) g_fail = 1;
    }

    /* real files from tests/data: duration cap, truncated FLAC / Ogg (a missing file fails the test) */
    size_t n = 0, no = 0, nw = 0;
    unsigned char *flac = read_file(td_path("whisper/jfk.flac"), &n);
    unsigned char *ogg = read_file(td_path("audio/librosa_sorohanro_-_solo-trumpet-06.hq.ogg"), &no);
    unsigned char *wav = read_file(td_path("whisper/jfk.wav"), &nw);
    if (!flac || !ogg || !wav || n < 300001 || no < 4001 || nw < 1001) {
        printf("FAIL: cannot read jfk.flac / the trumpet .ogg / jfk.wav in full from tests/data\n");
        g_fail = 1;
    } else {
        const size_t cuts[] = {4, 42, 100, 1000, 8192, 65536, 300000, n - 1};
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            char nm[64];
            snprintf(nm, sizeof nm, "jfk_trunc_%zu.flac", cuts[i]);
            run(nm, flac, cuts[i], EITHER, -1, &nors);
        }
        /* corrupt the middle of the stream */
        unsigned char *c = malloc(n);
        memcpy(c, flac, n);
        for (size_t i = n / 3; i < n / 3 + 5000; i++) c[i] ^= 0x5A;
        run("jfk_corrupt.flac", c, n, EITHER, -1, &nors);
        free(c);
        const size_t oc[] = {10, 100, 4000, no / 2};
        for (size_t i = 0; i < sizeof oc / sizeof oc[0]; i++) {
            char nm[64];
            snprintf(nm, sizeof nm, "trumpet_trunc_%zu.ogg", oc[i]);
            run(nm, ogg, oc[i], EITHER, -1, &nors);
        }
        mm_audio_load_params cap = mm_audio_load_default_params();
        cap.max_seconds = 5;
        run("jfk_over_5s_cap.wav", wav, nw, MUST_FAIL, -1, &cap);
        run("jfk.wav", wav, nw, MUST_LOAD, 176000, NULL);
        run("jfk_trunc_header.wav", wav, 30, MUST_FAIL, -1, NULL);
        run("jfk_trunc_1001.wav", wav, 1001, MUST_LOAD, -1, NULL);  /* header + ~460 samples */
    }
    free(flac);
    free(ogg);
    free(wav);
    mm_pool_free(g_pool);
    printf(g_fail ? "aud_bad_input: FAILED\n" : "aud_bad_input: all cases passed\n");
    return g_fail;
}
