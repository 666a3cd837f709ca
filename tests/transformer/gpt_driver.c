/* gpt_driver.c - runs the C decoder for the Python parity tests (tests/transformer/test_gpt_parity.py).
 *
 *   gpt_driver MODEL logits IDS.npy OUT.npy [n_batch] [threads]     all-position logits [n, V]
 *   gpt_driver MODEL greedy IDS.npy N TOK.npy LOGITS.npy [threads]  prompt at once, then N greedy steps
 *                                                                   through the KV cache, one token each
 *   gpt_driver MODEL embd IDS.npy EMB.npy OUT.npy [threads]         ids < 0 take the next row of EMB
 *                                                                   (EMB [m, d]); logits of all positions
 *   gpt_driver kernel                                               prints the kernel level that runs
 * IDS are float32 .npy files holding integer ids. MMGPT_TEST_KV_F16=1 keeps the KV cache in f16. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_gguf.h"
#include "mm_transformer.h"

static int die(const char *msg) {
    fprintf(stderr, "gpt_driver: %s\n", msg);
    return 1;
}

int main(int argc, char **argv) {
    char err[MM_ERR_SIZE];
    if (argc == 2 && !strcmp(argv[1], "kernel")) {   /* the kernel level that runs (ref_gpt2.prompt_q8_types) */
        printf("%s\n", mm_cpu_kernel_name());
        return 0;
    }
    if (argc < 4) return die("usage: gpt_driver MODEL logits|greedy|embd ... | gpt_driver kernel");
    mm_gguf *g = mm_gguf_open(argv[1], err);
    if (!g) return die(err);
    mm_gpt_model *m = mm_gpt_model_load(g, err);
    if (!m) return die(err);
    const int64_t V = mm_gpt_model_n_vocab(m), d = mm_gpt_model_d_model(m);
    float *idsf = NULL;
    int nd;
    int64_t sh[4];
    if (mm_npy_read(argv[3], &idsf, &nd, sh, err) != 0) return die(err);
    const int64_t n = sh[0];
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)idsf[i];
    mm_gpt_state_params sp = mm_gpt_state_default_params();
    const char *kv = getenv("MMGPT_TEST_KV_F16"); /* 1: keep the KV cache in f16 */
    sp.kv_f16 = kv && kv[0] == '1';
    const char *cmd = argv[2];
    int rc = 0;
    if (!strcmp(cmd, "logits")) {
        if (argc < 5) return die("logits: IDS OUT [n_batch] [threads]");
        if (argc > 5) sp.n_batch = atoi(argv[5]);
        sp.n_threads = argc > 6 ? atoi(argv[6]) : 1;
        mm_gpt_state *s = mm_gpt_state_create(m, sp, err);
        if (!s) return die(err);
        float *out = malloc((size_t)(n * V) * sizeof(float));
        if (mm_gpt_eval_tokens(s, ids, n, out, err) != 0) return die(err);
        /* the last-position logits must equal the last row */
        if (memcmp(mm_gpt_state_logits(s), out + (n - 1) * V, (size_t)V * sizeof(float)) != 0)
            return die("state logits differ from the last row of logits_all");
        int64_t shape[2] = {n, V};
        if (mm_npy_write(argv[4], out, 2, shape, err) != 0) return die(err);
        free(out);
        mm_gpt_state_free(s);
    } else if (!strcmp(cmd, "greedy")) {
        if (argc < 7) return die("greedy: IDS N TOK LOGITS [threads]");
        const int64_t steps = atoi(argv[4]);
        sp.n_threads = argc > 7 ? atoi(argv[7]) : 1;
        mm_gpt_state *s = mm_gpt_state_create(m, sp, err);
        if (!s) return die(err);
        float *toks = malloc((size_t)steps * sizeof(float)), *lg = malloc((size_t)(steps * V) * sizeof(float));
        if (mm_gpt_eval_tokens(s, ids, n, NULL, err) != 0) return die(err);
        for (int64_t k = 0; k < steps; k++) {
            const float *l = mm_gpt_state_logits(s);
            memcpy(lg + k * V, l, (size_t)V * sizeof(float));
            int32_t t = mm_argmax(l, V);
            toks[k] = (float)t;
            if (k + 1 < steps && mm_gpt_eval_tokens(s, &t, 1, NULL, err) != 0) return die(err);
        }
        int64_t s1[1] = {steps}, s2[2] = {steps, V};
        if (mm_npy_write(argv[5], toks, 1, s1, err) != 0 || mm_npy_write(argv[6], lg, 2, s2, err) != 0)
            return die(err);
        free(toks);
        free(lg);
        mm_gpt_state_free(s);
    } else if (!strcmp(cmd, "embd")) {
        if (argc < 6) return die("embd: IDS EMB OUT [threads]");
        sp.n_threads = argc > 6 ? atoi(argv[6]) : 1;
        float *emb = NULL;
        int64_t esh[4];
        if (mm_npy_read(argv[4], &emb, &nd, esh, err) != 0) return die(err);
        if (nd != 2 || esh[1] != d) return die("EMB must be [m, d_model]");
        mm_gpt_input *in = calloc((size_t)n, sizeof *in);
        int64_t e = 0;
        for (int64_t i = 0; i < n; i++) {
            if (ids[i] >= 0) {
                in[i].token = ids[i];
            } else {
                if (e >= esh[0]) return die("not enough EMB rows");
                in[i].token = -1;
                in[i].embd = emb + (e++) * d;
            }
        }
        mm_gpt_state *s = mm_gpt_state_create(m, sp, err);
        if (!s) return die(err);
        float *out = malloc((size_t)(n * V) * sizeof(float));
        if (mm_gpt_eval(s, in, n, out, err) != 0) return die(err);
        int64_t shape[2] = {n, V};
        if (mm_npy_write(argv[5], out, 2, shape, err) != 0) return die(err);
        free(out);
        free(in);
        free(emb);
        mm_gpt_state_free(s);
    } else {
        rc = die("unknown command");
    }
    free(ids);
    free(idsf);
    mm_gpt_model_free(m);
    mm_gguf_close(g);
    return rc;
}
