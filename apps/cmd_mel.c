/* cmd_mel.c - `mmgpt mel AUDIO [--n-mels 80|128] [--pad-30s] [-m MODEL] -o OUT.npy`: Whisper log-mel as .npy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "mm_audio.h"
#include "mm_gguf.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mmgpt mel AUDIO -o OUT.npy [options]\n\n"
            "Decode AUDIO (WAV, FLAC, Ogg Vorbis/Opus, AIFF, ... via libsndfile), mix to mono, resample\n"
            "to 16 kHz and write Whisper's log-mel spectrogram as float32 .npy of shape [n_mels, n_frames]\n"
            "(n_frames = n_samples / 160, or 3000 with --pad-30s). With -m, the log-mel the model's audio\n"
            "encoder takes: its bin count (clip.audio.num_mel_bins), its filterbank when the file carries one\n"
            "(a.mel_filters), and its windowing (the last 30 s window padded when the model pads).\n\n"
            "options:\n"
            "  -o, --output FILE     output .npy (required)\n"
            "  -m, --model FILE      take bins, filters and windowing from this model / mmproj file\n"
            "  --n-mels N            80 (default) or 128 mel bins (not with -m)\n"
            "  --pad-30s             pad / trim the clip to 30 s first: log_mel_spectrogram(pad_or_trim(audio))\n"
            "  --max-seconds S       refuse longer clips (default 600)\n"
            "  -t, --threads N       " MM_CLI_THREADS_HELP "\n"
            "  --pcm FILE            also write the 16 kHz mono PCM as float32 .npy [n_samples]\n"
            "  -h, --help            this help\n");
}

int mm_cmd_mel(int argc, char **argv) {
    const char *in = NULL, *outp = NULL, *pcmp = NULL, *model = NULL;
    bool n_mels_given = false;
    long n_mels = 80, threads = 0;
    bool pad30 = false;
    mm_audio_load_params lp = mm_audio_load_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return MM_EXIT_OK;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(outp = mm_cli_value(argc, argv, &i))) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model = mm_cli_value(argc, argv, &i))) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "--pcm")) {
            if (!(pcmp = mm_cli_value(argc, argv, &i))) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "--n-mels")) {
            if (!(v = mm_cli_value(argc, argv, &i)) || !mm_cli_int(a, v, 1, 512, &n_mels)) return MM_EXIT_USAGE;
            if (n_mels != 80 && n_mels != 128)
                return mm_cli_fail(MM_EXIT_USAGE, "--n-mels: %ld is not 80 or 128", n_mels);
            n_mels_given = true;
        } else if (!strcmp(a, "--pad-30s")) {
            pad30 = true;
        } else if (!strcmp(a, "--max-seconds")) {
            if (!(v = mm_cli_value(argc, argv, &i)) || !mm_cli_float(a, v, 0.001, 1e6, &lp.max_seconds))
                return MM_EXIT_USAGE;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = mm_cli_value(argc, argv, &i)) || !mm_cli_threads(a, v, &threads)) return MM_EXIT_USAGE;
        } else if (a[0] == '-' && a[1]) {
            return mm_cli_fail(MM_EXIT_USAGE, "mel: unknown option '%s' (see mmgpt mel --help)", a);
        } else if (!in) {
            in = a;
        } else {
            return mm_cli_fail(MM_EXIT_USAGE, "mel: more than one AUDIO given ('%s')", a);
        }
    }
    if (!in) return mm_cli_fail(MM_EXIT_USAGE, "mel: no AUDIO file given (see mmgpt mel --help)");
    if (!outp) return mm_cli_fail(MM_EXIT_USAGE, "mel: no output given (-o OUT.npy)");
    if (model && (n_mels_given || pad30))
        return mm_cli_fail(MM_EXIT_USAGE, "mel: -m takes the bins and the padding from the model (no --n-mels, --pad-30s)");

    char err[MM_ERR_SIZE];
    mm_gguf *g = NULL;
    mm_audio_model *am = NULL;
    if (model) {
        if (!(g = mm_gguf_open(model, err))) return mm_cli_fail(MM_EXIT_MODEL, "%s", err);
        if (!(am = mm_audio_model_load(g, err))) {
            mm_gguf_close(g);
            return mm_cli_fail(MM_EXIT_MODEL, "%s: %s", model, err);
        }
        n_mels = mm_audio_model_n_mels(am);
    }
    double t0 = mm_time_ms();
    mm_audio_pcm pcm;
    if (mm_audio_load_file(in, &lp, &pcm, err)) {
        mm_audio_model_free(am);
        mm_gguf_close(g);
        return mm_cli_fail(MM_EXIT_INPUT, "%s", err);
    }
    double t1 = mm_time_ms();
    int rc = MM_EXIT_OK;
    mm_pool *pool = NULL;
    mm_mel *mel = NULL;
    float *out = NULL;
    int64_t n_total = pad30 ? (int64_t)MM_AUDIO_WINDOW_FRAMES * MM_AUDIO_HOP : pcm.n_samples;
    if (am && mm_audio_model_hparams(am)->pad_to_window)
        n_total = mm_audio_model_n_mel_frames(am, pcm.n_samples) * MM_AUDIO_HOP;
    const int64_t nf = mm_mel_n_frames(n_total);
    if (pcmp) {
        int64_t shp[1] = {pcm.n_samples};
        static const float zero = 0.0f;
        if (mm_npy_write(pcmp, pcm.samples ? pcm.samples : &zero, 1, shp, err)) {
            rc = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
            goto done;
        }
    }
    if (!(pool = mm_pool_create((int)threads, err)) ||
        !(mel = mm_mel_create_filters((int)n_mels, am ? mm_audio_model_mel_filters(am) : NULL, err))) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
        goto done;
    }
    out = malloc(((size_t)n_mels * (size_t)nf + 1) * sizeof *out);
    if (!out) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "%s: out of memory", in);
        goto done;
    }
    double t2 = mm_time_ms();
    if (mm_mel_compute(mel, pool, pcm.samples, pcm.n_samples, n_total, out, err)) {
        rc = mm_cli_fail(MM_EXIT_INPUT, "%s: %s", in, err);
        goto done;
    }
    double t3 = mm_time_ms();
    int64_t shape[2] = {n_mels, nf};
    if (mm_npy_write(outp, out, 2, shape, err)) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
        goto done;
    }
    fprintf(stderr, "mel: %s: %d Hz x %d ch, %lld frames -> %lld samples at 16 kHz (%.2f s); "
                    "load %.1f ms, log-mel [%ld, %lld] %.2f ms\n",
            in, pcm.src_rate, pcm.src_channels, (long long)pcm.src_frames, (long long)pcm.n_samples,
            pcm.n_samples / 16000.0, t1 - t0, n_mels, (long long)nf, t3 - t2);
done:
    free(out);
    mm_mel_free(mel);
    mm_pool_free(pool);
    mm_audio_pcm_free(&pcm);
    mm_audio_model_free(am);
    mm_gguf_close(g);
    return rc;
}
