/* bench_layers.c - time a GPT model file per layer in one process (docs/SCALING.md's scale run).
 *
 *   bench_layers MODEL.gguf [--threads 1,2] [--prompt 128] [--gen 8] [--ctx 1024]
 *
 * For each thread count: one prompt of --prompt tokens (prefill, sgemm), then --gen decode steps (matvec,
 * KV cache); prints ms per layer for the prefill and per token per layer for decode (the model's time over
 * its n_layer: with a small vocabulary the embedding and logits are negligible, the line says how much
 * they weigh), and the weight bytes each decode step reads with the bandwidth that implies.
 * Each figure comes with the process's CPU time (all threads) over the same span: on a machine shared with
 * other work, wall time counts the time the scheduler gave away, CPU time (divided by the threads) is
 * the better estimate of the same run on an idle machine (memory-bandwidth contention still counts).
 * Used on a synthetic GPT-3-width file (tools/make_wide_gpt2.py + mmgpt quantize).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm_core.h"
#include "mm_gguf.h"
#include "mm_transformer.h"

static double clk(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now(void) { return clk(CLOCK_MONOTONIC); }
static double cpu(void) { return clk(CLOCK_PROCESS_CPUTIME_ID); } /* all threads of the process */

int main(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: bench_layers MODEL.gguf [--threads 1,2] [--prompt 128] [--gen 8] [--ctx 1024]\n");
        return 2;
    }
    const char *path = argv[1], *threads = "1,2";
    long prompt = 128, gen = 8, ctx = 1024;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = argv[i + 1];
        else if (!strcmp(argv[i], "--prompt")) prompt = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--gen")) gen = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--ctx")) ctx = atol(argv[i + 1]);
        else {
            fprintf(stderr, "bench_layers: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    char err[MM_ERR_SIZE];
    mm_gguf *g = mm_gguf_open(path, err);
    mm_gpt_model *m = g ? mm_gpt_model_load(g, err) : NULL;
    if (!m) {
        fprintf(stderr, "bench_layers: %s\n", err);
        return 4;
    }
    const mm_gpt_hparams *hp = mm_gpt_model_hparams(m);
    if (ctx > hp->n_ctx) ctx = hp->n_ctx;
    if (prompt < 2 || prompt + gen > ctx) {
        fprintf(stderr, "bench_layers: --prompt (>= 2) + --gen must fit --ctx %ld\n", ctx);
        return 2;
    }
    const double bpt = (double)mm_gpt_model_bytes_per_token(m);
    printf("%s: d_model %lld, %lld heads, d_ff %lld, %lld layers, n_vocab %lld, matrices %s, kernels %s\n", path,
           (long long)hp->d_model, (long long)hp->n_head, (long long)hp->d_ff, (long long)hp->n_layer,
           (long long)hp->n_vocab, mm_type_name(mm_gpt_model_type(m)), mm_cpu_kernel_name());
    printf("weights read per decode step: %.3f GB (%.3f GB per layer)\n", bpt / 1e9, bpt / 1e9 / (double)hp->n_layer);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)prompt);
    for (long i = 0; i < prompt; i++) ids[i] = (int32_t)((i * 7919) % hp->n_vocab);
    for (const char *t = threads; *t;) {
        int nth = atoi(t);
        mm_gpt_state_params sp = mm_gpt_state_default_params();
        sp.n_threads = nth;
        sp.n_ctx = ctx;
        mm_gpt_state *s = mm_gpt_state_create(m, sp, err);
        if (!s) {
            fprintf(stderr, "bench_layers: %s\n", err);
            return 5;
        }
        double t0 = now(), c0 = cpu();
        if (mm_gpt_eval_tokens(s, ids, prompt, NULL, err) != 0) {
            fprintf(stderr, "bench_layers: %s\n", err);
            return 5;
        }
        const double tp = now() - t0, cp = cpu() - c0;
        double best = 1e30, sum = 0, csum = 0;
        int32_t tok = mm_argmax(mm_gpt_state_logits(s), hp->n_vocab);
        for (long k = 0; k < gen; k++) {
            t0 = now(), c0 = cpu();
            if (mm_gpt_eval_tokens(s, &tok, 1, NULL, err) != 0) {
                fprintf(stderr, "bench_layers: %s\n", err);
                return 5;
            }
            const double dt = now() - t0;
            csum += cpu() - c0;
            sum += dt;
            if (dt < best) best = dt;
            tok = mm_argmax(mm_gpt_state_logits(s), hp->n_vocab);
        }
        const double L = (double)hp->n_layer, mean = sum / (double)gen;
        printf("threads %d: prefill %ld tokens %.2f s = %.1f ms per layer (%.1f tokens/s per layer; CPU time / "
               "threads: %.1f ms per layer); decode %.1f ms per token per layer (best %.1f, mean of %ld after the "
               "prompt; CPU time / threads: %.1f) = %.1f GB/s of weights at the best\n",
               nth, prompt, tp, 1e3 * tp / L, (double)prompt * L / tp, 1e3 * cp / nth / L, 1e3 * mean / L,
               1e3 * best / L, gen, 1e3 * csum / (double)gen / nth / L, bpt / best / 1e9);
        fflush(stdout);
        mm_gpt_state_free(s);
        while (*t && *t != ',') t++;
        if (*t == ',') t++;
    }
    free(ids);
    mm_gpt_model_free(m);
    mm_gguf_close(g);
    return 0;
}
