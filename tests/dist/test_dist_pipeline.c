/* test_dist_pipeline.c - the pipeline against one process, run under mpirun (tests/dist/test_dist_mpi.py).
 *
 *   mpirun -np N test_dist_pipeline MODEL.gguf [--split a,b] [--rss]
 *
 * Every rank loads MODEL.gguf and joins (mm_dist_join); rank 0 also loads the file a second time without a
 * pipeline: the reference. Rank 0 then evaluates the same sequence both ways and compares every position's
 * logits (|a - b| <= 1e-5 x the row's largest |logit|) and the greedy tokens:
 *   1. a prompt of 37 tokens in micro-batches of 8 (n_batch 8: 5 messages through the pipeline, several in
 *      flight), all positions' logits;
 *   2. 12 greedy decode steps (one row per message), each step's logits;
 *   3. a rewind (truncate to 20 positions: the workers' caches follow pos0) and 5 more tokens at once;
 *   4. a prompt of 3 tokens (the few-rows batch path), after a reset.
 * With --rss no reference model is loaded: each rank evaluates and reports its peak resident memory
 * (VmHWM): each rank prints "rss RANK LAYER_BEGIN LAYER_END BYTES" for the Python test to check against
 * its share of the weights. Exit 0 = all equal. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_check.h"
#include "mm_dist.h"
#include "mm_gguf.h"
#include "mm_transformer.h"

static long vm_hwm_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb * 1024;
}

static double max_abs(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

/* compare n rows of logits; returns the worst |a-b| / max|row| */
static double cmp_rows(const float *a, const float *b, int64_t n, int64_t V, const char *what) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        const double mx = max_abs(b + i * V, V);
        for (int64_t j = 0; j < V; j++) {
            const double e = fabs((double)a[i * V + j] - (double)b[i * V + j]) / (mx > 0 ? mx : 1);
            if (e > worst) worst = e;
        }
        CHECK(mm_argmax(a + i * V, V) == mm_argmax(b + i * V, V), "%s row %lld: argmax %d vs %d", what, (long long)i,
              mm_argmax(a + i * V, V), mm_argmax(b + i * V, V));
    }
    CHECK(worst <= 1e-5, "%s: logits differ by %.3g of the row's largest (limit 1e-5)", what, worst);
    return worst;
}

int main(int argc, char **argv) {
    char err[MM_ERR_SIZE] = "";
    mm_dist *d = mm_dist_init(&argc, &argv, err);
    if (!d) {
        fprintf(stderr, "FAIL %s\n", err);
        return 1;
    }
    const int rank = mm_dist_rank(d), size = mm_dist_size(d);
    if (argc < 2) {
        if (rank == 0) fprintf(stderr, "usage: mpirun -np N test_dist_pipeline MODEL.gguf [--split a,b] [--rss]\n");
        mm_dist_free(d);
        return 2;
    }
    const char *split = NULL;
    bool rss = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--split") && i + 1 < argc) split = argv[++i];
        else if (!strcmp(argv[i], "--rss")) rss = true;
    }
    mm_gguf *g = mm_gguf_open(argv[1], err);
    mm_gpt_model *m = g ? mm_gpt_model_load(g, err) : NULL;
    if (mm_dist_join(d, g, m, split, m ? 0 : -1, err) != 0) {
        if (rank == 0) fprintf(stderr, "FAIL join: %s\n", err);
        mm_dist_free(d);
        return 1;
    }
    int64_t lb, le;
    mm_dist_layers(d, &lb, &le);
    mm_gpt_state_params sp = mm_gpt_state_default_params();
    sp.n_threads = 1;
    sp.n_batch = 8;
    sp.n_ctx = 64;
    mm_gpt_state *s = mm_gpt_state_create(m, sp, err);
    CHECK(s != NULL, "rank %d: state: %s", rank, err);
    if (rank > 0) { /* workers: serve, then report memory */
        int rc = s ? mm_dist_serve(d, s, err) : -1;
        CHECK(rc == 0, "rank %d: serve: %s", rank, err);
        if (rss) printf("rss %d %lld %lld %ld\n", rank, (long long)lb, (long long)le, vm_hwm_bytes());
        mm_gpt_state_free(s);
        mm_gpt_model_free(m);
        mm_gguf_close(g);
        mm_dist_free(d);
        return n_fail ? 1 : 0;
    }
    const int64_t V = mm_gpt_model_n_vocab(m);
    int32_t toks[64];
    for (int i = 0; i < 64; i++) toks[i] = (int32_t)((i * 7919 + 13) % V);
    float *la = malloc(sizeof(float) * (size_t)(64 * V)), *lb_ = malloc(sizeof(float) * (size_t)(64 * V));
    mm_gguf *g2 = NULL;
    mm_gpt_model *m2 = NULL;
    mm_gpt_state *r = NULL;
    if (!rss) {
        g2 = mm_gguf_open(argv[1], err);
        m2 = g2 ? mm_gpt_model_load(g2, err) : NULL;
        r = m2 ? mm_gpt_state_create(m2, sp, err) : NULL;
        CHECK(r != NULL, "reference: %s", err);
    }
    double worst = 0;
    if (s && (r || rss)) {
        /* 1. prompt of 37 in micro-batches of 8 */
        CHECK(mm_gpt_eval_tokens(s, toks, 37, la, err) == 0, "pipeline prompt: %s", err);
        if (r) {
            CHECK(mm_gpt_eval_tokens(r, toks, 37, lb_, err) == 0, "reference prompt: %s", err);
            double w = cmp_rows(la, lb_, 37, V, "prompt 37 (micro-batches of 8)");
            worst = w > worst ? w : worst;
        }
        /* 2. greedy decode */
        int32_t t = mm_argmax(mm_gpt_state_logits(s), V);
        for (int k = 0; k < 12; k++) {
            CHECK(mm_gpt_eval_tokens(s, &t, 1, la, err) == 0, "pipeline decode %d: %s", k, err);
            if (r) {
                int32_t tr = t;
                CHECK(mm_gpt_eval_tokens(r, &tr, 1, lb_, err) == 0, "reference decode: %s", err);
                double w = cmp_rows(la, lb_, 1, V, "decode step");
                worst = w > worst ? w : worst;
            }
            t = mm_argmax(mm_gpt_state_logits(s), V);
        }
        /* 3. rewind and 5 at once */
        CHECK(mm_gpt_state_truncate(s, 20, err) == 0, "truncate: %s", err);
        CHECK(mm_gpt_eval_tokens(s, toks + 40, 5, la, err) == 0, "pipeline after rewind: %s", err);
        if (r) {
            mm_gpt_state_truncate(r, 20, err);
            CHECK(mm_gpt_eval_tokens(r, toks + 40, 5, lb_, err) == 0, "reference after rewind: %s", err);
            double w = cmp_rows(la, lb_, 5, V, "5 after a rewind to 20");
            worst = w > worst ? w : worst;
        }
        /* 4. reset, 3 tokens, last logits only */
        mm_gpt_state_reset(s);
        CHECK(mm_gpt_eval_tokens(s, toks + 3, 3, NULL, err) == 0, "pipeline 3: %s", err);
        if (r) {
            mm_gpt_state_reset(r);
            CHECK(mm_gpt_eval_tokens(r, toks + 3, 3, NULL, err) == 0, "reference 3: %s", err);
            double w = cmp_rows(mm_gpt_state_logits(s), mm_gpt_state_logits(r), 1, V, "3 after a reset");
            worst = w > worst ? w : worst;
        }
    }
    if (!rss) printf("pipeline of %d ranks (layers 0-%lld on rank 0): worst logit difference %.3g of the row's largest\n",
                     size, (long long)le - 1, worst);
    mm_dist_finish(d, 0);
    if (rss) printf("rss 0 %lld %lld %ld\n", (long long)lb, (long long)le, vm_hwm_bytes());
    free(la), free(lb_);
    mm_gpt_state_free(r);
    mm_gpt_model_free(m2);
    mm_gguf_close(g2);
    mm_gpt_state_free(s);
    mm_gpt_model_free(m);
    mm_gguf_close(g);
    mm_dist_free(d);
    return n_fail ? 1 : 0;
}
