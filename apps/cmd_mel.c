/* cmd_mel.c - `mmgpt mel AUDIO [--n-mels 80|128] [--pad-30s] [-m MODEL] -o OUT.npy`: Whisper log-mel as .npy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "mm_audio.h"
#include "mm_gguf.h"

static int mel_cmd(mm_task_opts *o) {
    const char *in = mm_cli_input(o->pos[0]), *outp = o->out, *pcmp = o->pcm, *model = o->model;
    long n_mels = o->n_mels ? o->n_mels : 80;
    const bool pad30 = o->pad_30s;
    mm_audio_load_params lp = mm_audio_load_default_params();
    if (o->max_seconds > 0) lp.max_seconds = o->max_seconds;
    if (!outp) return mm_cli_fail(MM_EXIT_USAGE, "mel: no output given (-o OUT.npy)");
    if (model && (o->n_mels || pad30))
        return mm_cli_fail(MM_EXIT_USAGE, "mel: -m takes the bins and the padding from the model (no --n-mels, --pad-30s)");

    char err[MM_ERR_SIZE];
    mm_gguf *g = NULL;
    mm_audio_model *am = NULL;
    if (model) {
        if (!(g = mm_gguf_open(model, err))) return mm_cli_fail(MM_EXIT_MODEL, "%s", err);
        if (!(am = mm_audio_model_load(g, err))) {
            mm_gguf_close(g);
            return mm_cli_fail(MM_EXIT_MODEL, "%s", err); /* the loader names the file */
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
    if (!(pool = mm_pool_create((int)o->threads, err)) ||
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

static const mm_cmd_spec k_mel = {
    .name = "mel",
    .usage = "AUDIO -o OUT.npy [options]",
    .about = "Decode AUDIO (- = stdin; WAV, FLAC, Ogg Vorbis/Opus, AIFF, ... via libsndfile), mix to mono,\n"
             "resample to 16 kHz and write Whisper's log-mel spectrogram as float32 .npy of shape\n"
             "[n_mels, n_frames] (n_frames = n_samples / 160, or 3000 with --pad-30s). With -m, the log-mel the\n"
             "model's audio encoder takes: its bin count (clip.audio.num_mel_bins), its filterbank when the file\n"
             "carries one (a.mel_filters), and its windowing (the last 30 s window padded when the model pads).\n",
    .opts = (const mm_opt_id[]){MM_O_MODEL, MM_O_THREADS, MM_O_OUTPUT, MM_O_PCM, MM_O_N_MELS, MM_O_PAD_30S,
                                MM_O_MAX_SECONDS, MM_O_COUNT},
    .texts = (const mm_opt_text[]){{MM_O_MODEL, "or mmproj: take bins, filters and windowing from it\n"
                                                "(default: none: --n-mels, --pad-30s)"},
                                   {MM_O_COUNT, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .pos_name = "AUDIO file",
    .exits = MM_CMD_TOOL_EXITS,
};

int mm_cmd_mel(int argc, char **argv) { return mm_cmd_main(&k_mel, argc, argv, mel_cmd); }
