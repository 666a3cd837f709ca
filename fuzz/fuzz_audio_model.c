/* fuzz_audio_model.c - libFuzzer target for the audio encoder + audio projector loaders (llama.cpp's Ultravox
 * and Qwen2-Audio mmproj layouts and mmgpt's own): open any bytes as a GGUF, mm_audio_model_load, then
 * mm_projector_load at the projector's own width, and the row accounting a caller uses before encoding (positions per window,
 * the longest clip in a context). Failures must be one-line messages; nothing may crash or read outside the
 * buffer. Seeds: fuzz/seeds/audio_model (tiny Ultravox- and Qwen2-Audio-layout files from tools/convert_ultravox.py).
 *   CC=clang cmake -S . -B build-fuzz -DMMGPT_FUZZ=ON -DMMGPT_TESTS=OFF -DMMGPT_BENCH=OFF
 *   cmake --build build-fuzz --target fuzz_audio_model
 *   build-fuzz/fuzz/fuzz_audio_model -max_total_time=60 fuzz/seeds/audio_model
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mm_audio.h"
#include "mm_fusion.h"
#include "mm_gguf.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char     err[MM_ERR_SIZE];
    uint8_t *buf;
    mm_gguf *g = fuzz_open(data, size, &buf, err);
    if (!g) return 0;
    mm_audio_model *am = mm_audio_model_load(g, err);
    if (!am) {
        fuzz_one_line(err);
    } else {
        mm_projector p; /* d_model 0: the projector's own width, as encode-audio and info load it */
        memset(&p, 0, sizeof p);
        if (mm_projector_load(&p, g, MMGPT_MEDIA_AUDIO, mm_audio_model_d_enc(am), 0, err) != 0) fuzz_one_line(err);
        if (p.present) {
            const int64_t W = mm_audio_model_hparams(am)->max_frames;
            volatile int64_t sink = mm_projector_audio_n_out(&p, am, W) + mm_projector_audio_n_out(&p, am, 3 * W + 1);
            sink += mm_projector_audio_max_samples(&p, am, 4096);
            sink += (int64_t)mm_projector_audio_scratch_bytes(&p, am, 3 * W + 1);
            (void)sink;
        }
        mm_projector_free(&p);
        mm_audio_model_free(am);
    }
    fuzz_close(g, buf);
    return 0;
}
