/* test_gpt_state.c - model loading errors, context limits, KV-cache truncate/rewind, shared models.
 *
 * Builds small random gpt2 files with core's GGUF writer. Checks:
 *   - malformed files (missing tensor, wrong shape, wrong architecture, heads not dividing d,
 *     bad vector type) are refused with a message naming the problem;
 *   - prompt + new positions beyond n_ctx is the error "context full" and leaves the state unchanged;
 *   - truncate(n) then re-evaluating gives bit-identical logits to the first evaluation;
 *   - token-by-token evaluation equals one batch evaluation (within 1e-4 x max|logit|, the F32 bound);
 *   - two states on one model give identical logits while interleaved (no mutable model state);
 *   - out-of-range token ids are refused;
 *   - two states evaluated at the same time in two threads, as the first evaluations of the process (d_head
 *     16: the AVX-512 attention where the CPU has it; 2-thread pools: the one-pool-run decode), give
 *     bit-identical logits to the same work done alone. Under ThreadSanitizer (tools/test.sh --tsan) this
 *     is the check that the decoder keeps no lazily set statics: the former ones in forward.c were
 *     reported as a data race here.
 * The state checks run with the f32 and with the f16 KV cache.
 * The reference for the numeric checks is the decoder's own batch path, which test_gpt_parity.py
 * checks against the independent numpy implementation. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_gguf.h"
#include "mm_transformer.h"

#include "mm_check.h"
#include "rand_gpt.h"

enum { V = 50, CTX = 24, D = 32, L = 2, H = 4, FF = 128 };

/* the loader-error variants: one field of the spec changed */
typedef rand_gpt_spec variant;

static int write_model(const char *path, variant v) {
    v.n_vocab = V, v.n_ctx = CTX, v.d = D, v.n_layer = L, v.d_ff = FF;
    if (!v.n_head) v.n_head = H;
    return rand_gpt_write(path, &v);
}

static void expect_load_error(const char *tmp, variant v, const char *needle) {
    char path[1024], err[MM_ERR_SIZE] = "";
    snprintf(path, sizeof path, "%s/gpt_state_bad.gguf", tmp);
    if (write_model(path, v) != 0) { n_fail++; return; }
    mm_gguf *g = mm_gguf_open(path, err);
    CHECK(g, "open: %s", err);
    if (!g) return;
    mm_gpt_model *m = mm_gpt_model_load(g, err);
    CHECK(!m && strstr(err, needle), "expected an error mentioning '%s', got %s '%s'", needle, m ? "a model" : "",
          err);
    printf("refused as expected: %s\n", err);
    mm_gpt_model_free(m);
    mm_gguf_close(g);
}

static double max_abs(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static void run_states(mm_gpt_model *m, bool kv_f16) {
    char err[MM_ERR_SIZE];
    printf("-- KV cache %s\n", kv_f16 ? "f16" : "f32");
    mm_gpt_state_params sp = mm_gpt_state_default_params();
    sp.n_threads = 2;
    sp.kv_f16 = kv_f16;
    sp.n_ctx = 64;
    CHECK(!mm_gpt_state_create(m, sp, err), "n_ctx beyond the model accepted");
    sp.n_ctx = 0;
    mm_gpt_state *s = mm_gpt_state_create(m, sp, err), *s2 = mm_gpt_state_create(m, sp, err);
    CHECK(s && s2, "state: %s", err);
    if (!s || !s2) return;
    CHECK(mm_gpt_state_n_ctx(s) == CTX, "state n_ctx");

    int32_t toks[CTX];
    for (int i = 0; i < CTX; i++) toks[i] = (i * 7 + 3) % V;
    static float all[CTX * V], first[V], again[V];

    /* batch vs token by token */
    CHECK(mm_gpt_eval_tokens(s, toks, 16, all, err) == 0, "%s", err);
    double scale = max_abs(all, 16 * V), worst = 0;
    for (int i = 0; i < 16; i++) {
        CHECK(mm_gpt_eval_tokens(s2, &toks[i], 1, NULL, err) == 0, "%s", err);
        const float *l = mm_gpt_state_logits(s2);
        for (int j = 0; j < V; j++) worst = fmax(worst, fabs(l[j] - all[i * V + j]));
    }
    printf("token-by-token vs batch: max diff %.3g (max |logit| %.3g)\n", worst, scale);
    CHECK(worst <= 1e-4 * scale, "token-by-token differs from batch by %g", worst);

    /* context overflow: 16 in the cache, 9 more would be 25 > 24 */
    CHECK(mm_gpt_eval_tokens(s, toks, 9, NULL, err) != 0 && strstr(err, "context full"), "overflow: '%s'", err);
    printf("refused as expected: %s\n", err);
    CHECK(mm_gpt_state_n_past(s) == 16, "state changed by a failed eval (n_past %lld)",
          (long long)mm_gpt_state_n_past(s));
    mm_gpt_input in[2] = {{5, NULL}, {V + 3, NULL}};
    CHECK(mm_gpt_eval(s, in, 2, NULL, err) != 0 && strstr(err, "vocabulary"), "bad token: '%s'", err);
    CHECK(mm_gpt_state_n_past(s) == 16, "state changed by a failed eval");

    /* truncate and rewind: bit-identical */
    CHECK(mm_gpt_eval_tokens(s, toks + 16, 4, NULL, err) == 0, "%s", err);
    memcpy(first, mm_gpt_state_logits(s), sizeof first);
    CHECK(mm_gpt_state_truncate(s, 16, err) == 0, "%s", err);
    CHECK(mm_gpt_eval_tokens(s, toks + 16, 4, NULL, err) == 0, "%s", err);
    memcpy(again, mm_gpt_state_logits(s), sizeof again);
    CHECK(!memcmp(first, again, sizeof first), "truncate + re-eval differs");
    CHECK(mm_gpt_state_truncate(s, 21, err) != 0, "truncate beyond n_past accepted");
    CHECK(mm_gpt_eval_tokens(s, toks, 4, NULL, err) == 0 && mm_gpt_state_n_past(s) == CTX, "fill to n_ctx: %s", err);
    CHECK(mm_gpt_eval_tokens(s, toks, 1, NULL, err) != 0, "eval past a full context accepted");

    /* two states interleaved on one model */
    mm_gpt_state_reset(s);
    mm_gpt_state_reset(s2);
    for (int i = 0; i < 8; i++) {
        CHECK(mm_gpt_eval_tokens(s, &toks[i], 1, NULL, err) == 0, "%s", err);
        CHECK(mm_gpt_eval_tokens(s2, &toks[i], 1, NULL, err) == 0, "%s", err);
        CHECK(!memcmp(mm_gpt_state_logits(s), mm_gpt_state_logits(s2), V * sizeof(float)), "states differ at %d", i);
    }

    mm_gpt_state_free(s);
    mm_gpt_state_free(s2);
}

/* One conversation: a 6-token prompt, then 7 single-token steps; logits after each eval. */
typedef struct {
    const mm_gpt_model *m;
    bool kv_f16;
    float out[8][V];
    int rc;
    char err[MM_ERR_SIZE];
} conc_job;

static void *conc_run(void *arg) {
    conc_job *j = arg;
    mm_gpt_state_params sp = mm_gpt_state_default_params();
    sp.n_threads = 2;
    sp.kv_f16 = j->kv_f16;
    mm_gpt_state *s = mm_gpt_state_create(j->m, sp, j->err);
    j->rc = s ? 0 : -1;
    int32_t toks[13];
    for (int i = 0; i < 13; i++) toks[i] = (i * 11 + 5) % V;
    for (int k = 0; s && j->rc == 0 && k < 8; k++) {
        j->rc = k == 0 ? mm_gpt_eval_tokens(s, toks, 6, NULL, j->err) : mm_gpt_eval_tokens(s, &toks[5 + k], 1, NULL, j->err);
        if (j->rc == 0) memcpy(j->out[k], mm_gpt_state_logits(s), sizeof j->out[k]);
    }
    mm_gpt_state_free(s);
    return NULL;
}

/* Must run before any other evaluation in the process (see the top comment). */
static void run_concurrent(const char *tmp) {
    char err[MM_ERR_SIZE], path[1024];
    snprintf(path, sizeof path, "%s/gpt_state_mt.gguf", tmp);
    if (write_model(path, (variant){.n_head = 2}) != 0) { n_fail++; return; }
    mm_gguf *g = mm_gguf_open(path, err);
    mm_gpt_model *m = g ? mm_gpt_model_load(g, err) : NULL;
    CHECK(m, "load: %s", err);
    if (!m) { mm_gguf_close(g); return; }
    static conc_job par[2], alone[2];
    pthread_t th[2];
    for (int t = 0; t < 2; t++) {
        par[t] = (conc_job){.m = m, .kv_f16 = t == 1};
        alone[t] = par[t];
        CHECK(pthread_create(&th[t], NULL, conc_run, &par[t]) == 0, "pthread_create");
    }
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < 2; t++) {
        conc_run(&alone[t]);
        CHECK(par[t].rc == 0 && alone[t].rc == 0, "concurrent eval: %s %s", par[t].err, alone[t].err);
        CHECK(!memcmp(par[t].out, alone[t].out, sizeof par[t].out), "KV %s: logits in two threads differ from alone",
              t ? "f16" : "f32");
    }
    printf("two states in two threads (first evaluations of the process) == each alone: %s\n", n_fail ? "NO" : "yes");
    mm_gpt_model_free(m);
    mm_gguf_close(g);
}

int main(void) {
    char err[MM_ERR_SIZE], path[1024];
    const char *tmp = getenv("MMGPT_TEST_TMP");
    if (!tmp) tmp = "/tmp";
    run_concurrent(tmp);   /* first: nothing may have evaluated before it */

    /* malformed files */
    expect_load_error(tmp, (variant){.skip = "blk.1.ffn_up.weight"}, "blk.1.ffn_up.weight");
    expect_load_error(tmp, (variant){.bad_shape = "blk.0.attn_qkv.weight"}, "blk.0.attn_qkv.weight");
    expect_load_error(tmp, (variant){.bad_shape = "output_norm.bias"}, "output_norm.bias");
    expect_load_error(tmp, (variant){.skip = "position_embd.weight"}, "position_embd.weight");
    expect_load_error(tmp, (variant){.arch = "llama"}, "architecture");
    expect_load_error(tmp, (variant){.n_head = 5}, "head_count");

    /* a good model (vectors stored as f16 are accepted) */
    snprintf(path, sizeof path, "%s/gpt_state_ok.gguf", tmp);
    if (write_model(path, (variant){.f16_vectors = true}) != 0) return 1;
    mm_gguf *g = mm_gguf_open(path, err);
    CHECK(g, "%s", err);
    mm_gpt_model *m = g ? mm_gpt_model_load(g, err) : NULL;
    CHECK(m, "load: %s", err);
    if (!m) return 1;
    CHECK(mm_gpt_model_n_vocab(m) == V && mm_gpt_model_n_ctx(m) == CTX && mm_gpt_model_d_model(m) == D &&
          mm_gpt_model_n_layer(m) == L && mm_gpt_model_n_head(m) == H && mm_gpt_model_tied(m), "getters");

    run_states(m, false);
    run_states(m, true);
    mm_gpt_model_free(m);
    mm_gguf_close(g);
    if (n_fail) { printf("%d checks failed\n", n_fail); return 1; }
    printf("state tests passed\n");
    return 0;
}
