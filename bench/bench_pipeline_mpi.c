/* bench_pipeline_mpi.c - what the pipeline costs and gains (issue 21, "Performance"):
 *
 *   mpirun -np N bench_pipeline_mpi MODEL.gguf [--prompt 256] [--gen 32] [--ubatch 32] [--threads 1]
 *
 * Rank 0 times, over the N-rank pipeline (N = 1: one process, the baseline):
 *   decode:  --gen greedy tokens after a 16-token prompt: ms per token;
 *   prefill: one prompt of --prompt tokens as a single message (n_batch = prompt: the ranks work one
 *            after the other) and as micro-batches of --ubatch positions (n_batch = ubatch: rank r works
 *            on micro-batch i while rank r-1 works on micro-batch i+1): tokens/s of each.
 * With CPU time per rank beside wall time (on a shared machine wall time counts others' work too). The
 * difference to N = 1 on the same machine is the pipeline's cost (messages, waiting, bubbles). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm_dist.h"
#include "mm_gguf.h"
#include "mm_transformer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int run(mm_dist *d, mm_gpt_model *m, int64_t n_batch, int threads, const int32_t *ids, long n, long gen,
               double *t_prompt, double *t_tok, char *err) {
    mm_gpt_state_params sp = mm_gpt_state_default_params();
    sp.n_threads = threads;
    sp.n_batch = n_batch;
    sp.n_ctx = n + gen + 1;
    mm_gpt_state *s = mm_gpt_state_create(m, sp, err);
    if (!s) return -1;
    int rc = 0;
    double t0 = now();
    rc = mm_gpt_eval_tokens(s, ids, n, NULL, err);
    *t_prompt = now() - t0;
    int32_t t = mm_argmax(mm_gpt_state_logits(s), mm_gpt_model_n_vocab(m));
    t0 = now();
    for (long k = 0; k < gen && rc == 0; k++) {
        rc = mm_gpt_eval_tokens(s, &t, 1, NULL, err);
        t = mm_argmax(mm_gpt_state_logits(s), mm_gpt_model_n_vocab(m));
    }
    *t_tok = gen ? (now() - t0) / (double)gen : 0;
    mm_gpt_state_free(s);
    (void)d;
    return rc;
}

int main(int argc, char **argv) {
    char err[MM_ERR_SIZE] = "";
    mm_dist *d = mm_dist_init(&argc, &argv, err);
    if (!d || argc < 2) {
        fprintf(stderr, "usage: mpirun -np N bench_pipeline_mpi MODEL.gguf [--prompt 256] [--gen 32] [--ubatch 32] "
                        "[--threads 1] %s\n", err);
        return 2;
    }
    long prompt = 256, gen = 32, ubatch = 32, threads = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--prompt")) prompt = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--gen")) gen = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--ubatch")) ubatch = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atol(argv[i + 1]);
    }
    if (prompt < 16 || prompt > 512 || ubatch < 2 || ubatch > prompt || gen < 1) {
        fprintf(stderr, "bench_pipeline_mpi: --prompt in [16, 512], --ubatch in [2, prompt], --gen >= 1\n");
        return 2;
    }
    mm_gguf *g = mm_gguf_open(argv[1], err);
    mm_gpt_model *m = g ? mm_gpt_model_load(g, err) : NULL;
    if (mm_dist_join(d, g, m, NULL, m ? 0 : -1, err) != 0) {
        if (mm_dist_rank(d) == 0) fprintf(stderr, "bench_pipeline_mpi: %s\n", err);
        mm_dist_free(d);
        return 4;
    }
    int rc = 0;
    if (mm_dist_rank(d) > 0) {
        mm_gpt_state_params sp = mm_gpt_state_default_params();
        sp.n_threads = (int)threads;
        mm_gpt_state *s = mm_gpt_state_create(m, sp, err);
        rc = mm_dist_serve(d, s, err);
        mm_gpt_state_free(s);
    } else {
        const int64_t V = mm_gpt_model_n_vocab(m);
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)prompt);
        for (long i = 0; i < prompt; i++) ids[i] = (int32_t)((i * 7919 + 1) % V);
        double tp1, tt, tpu, tt2, tp16, ttok;
        clock_t c0 = clock();
        rc = run(d, m, 512, (int)threads, ids, 16, gen, &tp16, &ttok, err);                 /* decode */
        if (!rc) rc = run(d, m, prompt, (int)threads, ids, prompt, 1, &tp1, &tt, err);       /* one message */
        if (!rc) rc = run(d, m, ubatch, (int)threads, ids, prompt, 1, &tpu, &tt2, err);      /* micro-batches */
        const double cpu0 = (double)(clock() - c0) / CLOCKS_PER_SEC;
        if (rc) fprintf(stderr, "bench_pipeline_mpi: %s\n", err);
        else {
            const mm_gpt_hparams *hp = mm_gpt_model_hparams(m);
            printf("%d rank%s, %s (d %lld, %lld layers), %ld thread%s each: decode %.2f ms/token; prefill %ld tokens: "
                   "one message %.1f tokens/s, micro-batches of %ld %.1f tokens/s (rank 0 CPU %.2f s)\n",
                   mm_dist_size(d), mm_dist_size(d) > 1 ? "s" : "", argv[1], (long long)hp->d_model,
                   (long long)hp->n_layer, threads, threads > 1 ? "s" : "", 1e3 * ttok, prompt, prompt / tp1, ubatch,
                   prompt / tpu, cpu0);
        }
        free(ids);
        mm_dist_finish(d, rc);
    }
    mm_gpt_model_free(m);
    mm_gguf_close(g);
    mm_dist_free(d);
    return rc ? 5 : 0;
}
