/* fuzz_gpt_model.c - libFuzzer target for the GPT decoder loader: any bytes -> mm_gguf_open_memory ->
 * mm_gpt_model_load; a model that loads (and is small enough to run quickly) gets a state with a tiny
 * context and evaluates a token batch, a single token, an embedding row, and an over-long batch that
 * must be refused. Seeds: fuzz/seeds/gpt_model (small valid f32 / q8_0 / q4_0 models).
 *   CC=clang cmake -S . -B build-fuzz -DMMGPT_FUZZ=ON -DMMGPT_TESTS=OFF -DMMGPT_BENCH=OFF
 *   cmake --build build-fuzz --target fuzz_gpt_model && build-fuzz/fuzz/fuzz_gpt_model fuzz/seeds/gpt_model
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mm_gguf.h"
#include "mm_transformer.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char     err[MM_ERR_SIZE];
    uint8_t *buf;
    mm_gguf *g = fuzz_open(data, size, &buf, err);
    if (!g) return 0;
    mm_gpt_model *m = mm_gpt_model_load(g, err);
    if (!m) {
        fuzz_one_line(err); /* every refusal has a one-line message */
    } else {
        const mm_gpt_hparams *hp = mm_gpt_model_hparams(m);
        /* keep runs fast: skip evaluation of large (but valid) shapes */
        if (hp->d_model * hp->n_layer <= 4096 && hp->d_ff * hp->n_layer <= 16384 && hp->n_vocab <= 4096) {
            mm_gpt_state_params sp = mm_gpt_state_default_params();
            sp.n_threads = 1;
            sp.n_ctx = hp->n_ctx < 4 ? hp->n_ctx : 4;
            sp.n_batch = 2;
            mm_gpt_state *s = mm_gpt_state_create(m, sp, err);
            if (s) {
                int32_t toks[3] = {0, (int32_t)(hp->n_vocab - 1), (int32_t)(hp->n_vocab / 2)};
                const int64_t n0 = sp.n_ctx < 3 ? sp.n_ctx : 3;
                /* fits: must work, unless finite weights overflow (the load check read them): then
                 * MM_ERR_NONFINITE with a one-line message and the state unchanged */
                int rc = mm_gpt_eval_tokens(s, toks, n0, NULL, err);
                if (rc != 0 && !(rc == MM_ERR_NONFINITE && mm_gpt_state_n_past(s) == 0 && err[0] && !strchr(err, '\n')))
                    abort();
                volatile float sink = 0;
                const float *l = mm_gpt_state_logits(s);
                for (int64_t i = 0; rc == 0 && i < hp->n_vocab; i++) sink += l[i];
                if (mm_gpt_eval_tokens(s, toks, 8, NULL, err) == 0) abort();   /* beyond n_ctx */
                mm_gpt_state_reset(s);
                float *row = calloc((size_t)hp->d_model, sizeof(float));
                if (row) {
                    mm_gpt_input in = {-5, row};
                    rc = mm_gpt_eval(s, &in, 1, NULL, err);
                    if (rc != 0 && rc != MM_ERR_NONFINITE) abort();
                    free(row);
                }
                mm_gpt_input bad = {(int32_t)hp->n_vocab, NULL};
                if (mm_gpt_eval(s, &bad, 1, NULL, err) == 0) abort();        /* token out of range */
                (void)sink;
                mm_gpt_state_free(s);
            }
        }
        mm_gpt_model_free(m);
    }
    fuzz_close(g, buf);
    return 0;
}
