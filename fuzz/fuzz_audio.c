/* fuzz_audio.c - libFuzzer target: the in-memory audio loader (libsndfile + mono mix + libsamplerate)
 * followed by the Whisper log-mel, over arbitrary bytes. Clips are capped at 2 s to keep runs short.
 * Seeds (fuzz/seeds/audio/): tiny WAV (int16, float stereo, 8-bit), FLAC, Vorbis, Opus, MP3, AIFF. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "mm_audio.h"

/* libsndfile's Ogg Vorbis open path leaks libvorbis' vorbis_info on some malformed streams (a
 * library bug, outside mmgpt): tell LeakSanitizer to ignore allocations made inside libvorbis. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libvorbis.so\n"; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static mm_mel *mel;
    static mm_pool *pool;
    char err[MM_ERR_SIZE];
    if (!mel) {
        mel = mm_mel_create(80, err);
        pool = mm_pool_create(1, err);
        if (!mel || !pool) abort();
    }
    mm_audio_load_params p = mm_audio_load_default_params();
    p.max_seconds = 2.0;
    p.converter = 2; /* SRC_SINC_FASTEST: same code path, faster */
    mm_audio_pcm pcm;
    if (mm_audio_load_memory(data, size, "fuzz", &p, &pcm, err) == 0) {
        if (pcm.n_samples < 0 || pcm.n_samples > 2 * 16000 + 16) abort();
        int64_t nf = mm_mel_n_frames(pcm.n_samples);
        float *out = malloc(((size_t)nf * 80 + 1) * sizeof *out);
        if (mm_mel_compute(mel, pool, pcm.samples, pcm.n_samples, pcm.n_samples, out, err)) abort();
        for (int64_t i = 0; i < nf * 80; i++)
            if (!isfinite(out[i])) abort();
        free(out);
    } else if (!err[0]) {
        abort(); /* an error must say what is wrong */
    }
    mm_audio_pcm_free(&pcm);
    return 0;
}
