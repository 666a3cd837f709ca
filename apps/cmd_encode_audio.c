/* cmd_encode_audio.c - `mmgpt encode-audio -m MODEL AUDIO -o OUT.npy [--projected P.npy]`: audio encoder
 * output (and the projector's rows) as .npy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "mm_audio.h"
#include "mm_fusion.h"
#include "mm_gguf.h"

static void progress(void *user, int64_t done, int64_t total) {
    (void)user;
    fprintf(stderr, "\rencode-audio: window %lld / %lld", (long long)done, (long long)total);
    if (done == total) fputs("\n", stderr);
    fflush(stderr);
}

static int encode_audio(mm_task_opts *o) {
    const char *in = mm_cli_input(o->pos[0]), *outp = o->out, *melp = o->mel, *projp = o->projected;
    mm_audio_load_params lp = mm_audio_load_default_params();
    if (o->max_seconds > 0) lp.max_seconds = o->max_seconds;
    if (!outp) return mm_cli_fail(MM_EXIT_USAGE, "encode-audio: no output given (-o OUT.npy)");
    const char *mpath = mm_cli_model_path(o->model);
    if (!mpath) return MM_EXIT_MODEL;

    char err[MM_ERR_SIZE];
    int rc = MM_EXIT_OK;
    mm_gguf *g = NULL;
    mm_audio_model *am = NULL;
    mm_audio_state *st = NULL;
    mm_pool *pool = NULL;
    float *emb = NULL, *mel = NULL, *proj = NULL;
    void *pscratch = NULL;
    mm_projector pj;
    memset(&pj, 0, sizeof pj);
    mm_audio_pcm pcm;
    memset(&pcm, 0, sizeof pcm);
    if (!(g = mm_gguf_open(mpath, err))) {
        rc = mm_cli_fail(MM_EXIT_MODEL, "%s", err);
        goto done;
    }
    if (!(am = mm_audio_model_load(g, err))) {
        rc = mm_cli_fail(MM_EXIT_MODEL, "%s", err); /* the loader names the file */
        goto done;
    }
    if (projp) { /* d_model 0: the projector's own output width (no decoder here) */
        if (mm_projector_load(&pj, g, MMGPT_MEDIA_AUDIO, mm_audio_model_d_enc(am), 0, err)) {
            rc = mm_cli_fail(MM_EXIT_MODEL, "%s", err);
            goto done;
        }
    }
    if (mm_audio_load_file(in, &lp, &pcm, err)) {
        rc = mm_cli_fail(MM_EXIT_INPUT, "%s", err);
        goto done;
    }
    if (mm_audio_check_length(pcm.n_samples, err)) {
        rc = mm_cli_fail(MM_EXIT_INPUT, "%s: %s", in, err);
        goto done;
    }
    if (!(pool = mm_pool_create((int)o->threads, err)) || !(st = mm_audio_state_create(am, pool, err))) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
        goto done;
    }
    const mm_audio_hparams *hp = mm_audio_model_hparams(am);
    /* a progress line on a terminal when there is more than one window to encode */
    if (mm_cli_stderr_tty() && mm_audio_model_n_mel_frames(am, pcm.n_samples) > hp->max_frames)
        mm_audio_state_set_progress(st, progress, NULL);
    int64_t n_out = 0, nf = 0;
    double t0 = mm_time_ms();
    int erc = mm_audio_encode_pcm(st, pcm.samples, pcm.n_samples, &emb, &n_out, melp ? &mel : NULL, &nf, err);
    if (erc) {
        rc = erc == MM_ERR_NONFINITE ? mm_cli_fail(MM_EXIT_MODEL, "%s: %s", mpath, err)
                                     : mm_cli_fail(MM_EXIT_INTERNAL, "%s: %s", in, err);
        goto done;
    }
    double t1 = mm_time_ms();
    static const float zero = 0.0f;
    int64_t shape[2] = {n_out, hp->d};
    if (mm_npy_write(outp, emb ? emb : &zero, 2, shape, err)) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
        goto done;
    }
    if (projp) {
        const int64_t np = mm_projector_audio_n_out(&pj, am, nf);
        proj = malloc(((size_t)np * (size_t)pj.d_out + 1) * sizeof *proj);
        pscratch = aligned_alloc(64, (mm_projector_audio_scratch_bytes(&pj, am, nf) + 127) & ~(size_t)63);
        if (!proj || !pscratch) {
            rc = mm_cli_fail(MM_EXIT_INTERNAL, "%s: out of memory", in);
            goto done;
        }
        if (np > 0) mm_projector_apply_audio(&pj, pool, am, emb, nf, proj, pscratch);
        const int64_t bad = mm_find_nonfinite(proj, np * pj.d_out);
        if (bad >= 0) {
            rc = mm_cli_fail(MM_EXIT_MODEL, "%s: the audio projector's output row %lld is not finite", mpath,
                             (long long)(bad / pj.d_out));
            goto done;
        }
        int64_t ps[2] = {np, pj.d_out};
        if (mm_npy_write(projp, proj, 2, ps, err)) {
            rc = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
            goto done;
        }
        const int64_t nw = mm_audio_model_n_windows(am, nf);
        fprintf(stderr, "encode-audio: projector %s, stack %d, %s: %lld positions", mm_projector_audio_name(&pj),
                pj.stack, pj.per_window ? "per window" : "over the clip", (long long)np);
        if (pj.per_window)
            for (int64_t w = 0; w < nw; w++)
                fprintf(stderr, "%s%lld", w ? " + " : " = ",
                        (long long)mm_audio_model_window_rows(am, mm_audio_model_window_frames(am, nf, w), pj.stack));
        fputs("\n", stderr);
    }
    if (melp) {
        int64_t ms[2] = {hp->n_mels, nf};
        if (mm_npy_write(melp, mel ? mel : &zero, 2, ms, err)) {
            rc = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
            goto done;
        }
    }
    fprintf(stderr, "encode-audio: %s: %.2f s -> %lld mel frames (window %d, %s) -> [%lld, %d] in %.1f ms\n",
            in, pcm.n_samples / 16000.0, (long long)nf, hp->max_frames,
            hp->pad_to_window ? "padded" : "unpadded", (long long)n_out, hp->d, t1 - t0);
done:
    free(proj);
    free(pscratch);
    mm_projector_free(&pj);
    free(emb);
    free(mel);
    mm_audio_state_free(st);
    mm_pool_free(pool);
    mm_audio_pcm_free(&pcm);
    mm_audio_model_free(am);
    mm_gguf_close(g);
    return rc;
}

static const mm_cmd_spec k_encode_audio = {
    .name = "encode-audio",
    .usage = "[-m MODEL] AUDIO -o OUT.npy [options]",
    .about = "Decode AUDIO (- = stdin), resample to 16 kHz mono, take Whisper's log-mel and run the model's audio\n"
             "encoder (before the projector). Writes float32 .npy [n_out, d_enc]. Clips longer than the\n"
             "model's window (mmgpt.audio.max_frames) are cut into windows whose outputs are concatenated;\n"
             "mmgpt.audio.pad_to_window says whether short clips are padded to the window (Whisper) or\n"
             "encoded over their own frames. llama.cpp mmproj files (Ultravox) work the same way.\n",
    .opts = (const mm_opt_id[]){MM_O_MODEL, MM_O_THREADS, MM_O_OUTPUT, MM_O_PROJECTED, MM_O_MEL, MM_O_MAX_SECONDS,
                                MM_O_COUNT},
    .texts = (const mm_opt_text[]){{MM_O_PROJECTED, "[n_positions, d_model]: the decoder positions "
                                                    "of the clip, window after window (per-window counts on stderr)"},
                                   {MM_O_COUNT, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .pos_name = "AUDIO file",
    .exits = MM_CMD_TOOL_EXITS,
};

int mm_cmd_encode_audio(int argc, char **argv) { return mm_cmd_main(&k_encode_audio, argc, argv, encode_audio); }
