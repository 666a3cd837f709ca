/* sampler_tool.c - runs transformer/sampler.c on cases written by test_gpt_sampler_ref.py.
 *
 * usage: sampler_tool IN.bin OUT.bin
 * IN  (little-endian): int32 n_cases, then per case
 *       int32 V, float T, int32 top_k, float top_p, float min_p, float repeat, float freq, float presence,
 *       int32 last_n, uint64 seed, int32 n_hist, int32 n_draws, int32 accept_draws,
 *       int32 hist[n_hist], float logits[V]
 * OUT per case: int32 created (0: mm_sampler_create refused the params; nothing else follows),
 *       float probs[V] (mm_sampler_probs after accepting hist), int32 ids[n_draws] (mm_sampler_sample
 *       n_draws times; accept_draws: each drawn id is accepted before the next draw, as generation does).
 * Exit status 0, or 1 on a malformed input file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_transformer.h"

static FILE *in, *out;

static int rd(void *p, size_t n) { return fread(p, 1, n, in) == n ? 0 : -1; }

static int run_case(void) {
    int32_t  V, top_k, last_n, n_hist, n_draws, accept_draws;
    float    T, top_p, min_p, rep, freq, pres;
    uint64_t seed;
    if (rd(&V, 4) || rd(&T, 4) || rd(&top_k, 4) || rd(&top_p, 4) || rd(&min_p, 4) || rd(&rep, 4) || rd(&freq, 4) ||
        rd(&pres, 4) || rd(&last_n, 4) || rd(&seed, 8) || rd(&n_hist, 4) || rd(&n_draws, 4) || rd(&accept_draws, 4))
        return -1;
    if (V < 1 || V > (1 << 24) || n_hist < 0 || n_hist > (1 << 24) || n_draws < 0 || n_draws > (1 << 24)) return -1;
    int32_t *hist = malloc((size_t)(n_hist + 1) * 4), *ids = malloc((size_t)(n_draws + 1) * 4);
    float   *x = malloc((size_t)V * 4), *probs = malloc((size_t)V * 4);
    int      rc = -1;
    if (!hist || !ids || !x || !probs || rd(hist, (size_t)n_hist * 4) || rd(x, (size_t)V * 4)) goto done;
    mm_sampler_params sp = mm_sampler_default_params();
    sp.temperature = T;
    sp.top_k = top_k;
    sp.top_p = top_p;
    sp.min_p = min_p;
    sp.repeat_penalty = rep;
    sp.frequency_penalty = freq;
    sp.presence_penalty = pres;
    sp.penalty_last_n = last_n;
    sp.seed = seed;
    char        err[MM_ERR_SIZE];
    mm_sampler *s = mm_sampler_create(sp, V, err);
    int32_t     created = s != NULL;
    fwrite(&created, 4, 1, out);
    if (s) {
        for (int32_t i = 0; i < n_hist; i++) mm_sampler_accept(s, hist[i]);
        mm_sampler_probs(s, x, probs);
        for (int32_t i = 0; i < n_draws; i++) {
            ids[i] = mm_sampler_sample(s, x);
            if (accept_draws) mm_sampler_accept(s, ids[i]);
        }
        fwrite(probs, 4, (size_t)V, out);
        fwrite(ids, 4, (size_t)n_draws, out);
        mm_sampler_free(s);
    }
    rc = 0;
done:
    free(hist);
    free(ids);
    free(x);
    free(probs);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: sampler_tool IN.bin OUT.bin\n");
        return 2;
    }
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    int32_t n;
    if (!in || !out || rd(&n, 4)) return 1;
    for (int32_t c = 0; c < n; c++)
        if (run_case()) {
            fprintf(stderr, "sampler_tool: malformed case %d\n", c);
            return 1;
        }
    fclose(in);
    return fclose(out) ? 1 : 0;
}
