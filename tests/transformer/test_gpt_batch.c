/* test_gpt_batch.c - mm_gpt_batch_eval (several sequences advance one position each in one pass over the
 * weights) gives every sequence exactly what mm_gpt_eval of its position alone gives (mm_transformer.h).
 *
 * For gpt2, llama (grouped-query attention, rotary with rope_freqs and linear scaling, SwiGLU) and qwen2 (q/k/v
 * biases, neox rotary) files with weights F32, F16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, pools of 1 and 2 threads:
 * NSEQ states prefilled with prompts of different lengths (so they decode at different n_past; one keeps an
 * f16 KV cache) advance through several batched steps - all of them, then a subset in another order, one
 * input an embedding row - next to reference states fed the same positions one mm_gpt_eval at a time. After
 * every step each state's logits must equal its reference's bit for bit (memcmp) and n_past must agree; a
 * last single-position eval on both checks that the KV caches the batch wrote are the same too.
 * Also the refusals (nothing evaluated, the states unchanged): more sequences than the batch holds, a state
 * twice, a full context, a token outside the vocabulary, a state of another model, a state with fewer
 * threads than the batch's pool.
 * Short prompts: below 8 positions an F16 prompt is evaluated with the multi-vector matvec
 * and the per-row attention (forward.c lin()), so mm_gpt_eval of 2..7 positions at once must equal the same
 * positions evaluated one at a time (logits bit for bit, then one more position on both: the caches too), so
 * that a short turn gives the same answer however it is split (the server's prefix cache evaluates what is
 * left of a prompt, the CLI all of it).
 * A copied prefix (mm_gpt_state_copy_prefix, mmgpt serve's prefix cache across slots): a state given another's
 * first n positions, then fed the next positions, equals a state that evaluated the same prompt itself and was
 * cut back to n (its own prefix cache) - logits bit for bit after each of three positions, f32 and f16 caches;
 * the source is unchanged; the refusals (cache types, lengths, another model, itself).
 * Runs at the machine's kernel level and at each forced one (MMGPT_KERNEL, label numeric). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_gguf.h"
#include "mm_transformer.h"

#include "mm_check.h"
#include "mm_level.h"
#include "rand_gpt.h"
#include "../../transformer/gpt_internal.h"

enum { V = 300, CTX = 48, D = 256, L = 2, H = 4, FF = 512, NSEQ = 5 };

static int32_t tok(int j, int i) { return (int32_t)((j * 101 + i * 37 + 11) % V); }

static const char *who;  /* model, type, threads: for the messages */

/* states[i] and ref[i] must agree: logits bit for bit, n_past */
static void same(mm_gpt_state *const *st, mm_gpt_state *const *ref, int n, const char *step) {
    for (int i = 0; i < n; i++) {
        CHECK(mm_gpt_state_n_past(st[i]) == mm_gpt_state_n_past(ref[i]), "%s: %s: seq %d n_past %lld vs %lld", who, step,
              i, (long long)mm_gpt_state_n_past(st[i]), (long long)mm_gpt_state_n_past(ref[i]));
        CHECK(memcmp(mm_gpt_state_logits(st[i]), mm_gpt_state_logits(ref[i]), V * sizeof(float)) == 0,
              "%s: %s: seq %d (n_past %lld): batched logits differ from the single decode", who, step, i,
              (long long)mm_gpt_state_n_past(ref[i]));
    }
}

static void refusals(mm_gpt_batch *b, mm_gpt_state **st, mm_gpt_state *other, mm_gpt_state *few) {
    char err[MM_ERR_SIZE];
    int64_t np[NSEQ];
    for (int i = 0; i < NSEQ; i++) np[i] = mm_gpt_state_n_past(st[i]);
    mm_gpt_input in[NSEQ + 1];
    for (int i = 0; i <= NSEQ; i++) in[i] = (mm_gpt_input){tok(i, 99), NULL};
    mm_gpt_state *two[2] = {st[0], st[0]};
    CHECK(mm_gpt_batch_eval(b, two, in, 2, NULL, err) == -1 && strstr(err, "also state"), "%s: a state twice: %s", who, err);
    mm_gpt_state *many[NSEQ + 1];
    for (int i = 0; i < NSEQ; i++) many[i] = st[i];
    many[NSEQ] = other;
    CHECK(mm_gpt_batch_eval(b, many, in, NSEQ + 1, NULL, err) == -1 && strstr(err, "at most"), "%s: too many: %s", who, err);
    mm_gpt_state *oth[2] = {st[1], other};
    CHECK(mm_gpt_batch_eval(b, oth, in, 2, NULL, err) == -1 && strstr(err, "another model"), "%s: other model: %s", who, err);
    if (few) {
        mm_gpt_state *f[2] = {st[1], few};
        CHECK(mm_gpt_batch_eval(b, f, in, 2, NULL, err) == -1 && strstr(err, "threads"), "%s: fewer threads: %s", who, err);
    }
    in[1].token = V;
    CHECK(mm_gpt_batch_eval(b, st, in, 2, NULL, err) == -1 && strstr(err, "vocabulary"), "%s: token %d: %s", who, V, err);
    in[1].token = -1;
    CHECK(mm_gpt_batch_eval(b, st, in, 2, NULL, err) == -1 && strstr(err, "vocabulary"), "%s: token -1: %s", who, err);
    for (int i = 0; i < NSEQ; i++)
        CHECK(mm_gpt_state_n_past(st[i]) == np[i], "%s: a refused batch changed state %d", who, i);
}

static void run_model(mm_gpt_model *m, mm_gpt_model *m2, int nth) {
    char err[MM_ERR_SIZE];
    mm_pool *pool = mm_pool_create(nth, err);
    CHECK(pool, "pool: %s", err);
    if (!pool) return;
    mm_gpt_state *st[NSEQ], *ref[NSEQ];
    for (int i = 0; i < NSEQ; i++) {
        mm_gpt_state_params sp = mm_gpt_state_default_params();
        sp.n_ctx = CTX, sp.n_batch = 8, sp.kv_f16 = i == 3;
        sp.pool = pool; /* the batch's states share its pool; the references own theirs */
        st[i] = mm_gpt_state_create(m, sp, err);
        sp.pool = NULL, sp.n_threads = nth;
        ref[i] = mm_gpt_state_create(m, sp, err);
        CHECK(st[i] && ref[i], "%s: state: %s", who, err);
        if (!st[i] || !ref[i]) return;
        /* prompts of 1, 4, 7, 10, 13 positions (13: one batch of 8, then one of 5) */
        int32_t p[32];
        for (int k = 0; k < 3 * i + 1; k++) p[k] = tok(i, k);
        CHECK(mm_gpt_eval_tokens(st[i], p, 3 * i + 1, NULL, err) == 0, "%s: prompt: %s", who, err);
        CHECK(mm_gpt_eval_tokens(ref[i], p, 3 * i + 1, NULL, err) == 0, "%s: prompt: %s", who, err);
    }
    mm_gpt_batch *b = mm_gpt_batch_create(m, NSEQ, pool, err);
    CHECK(b, "%s: batch: %s", who, err);
    if (!b) return;
    float embd[D];
    for (int k = 0; k < D; k++) embd[k] = (float)((k * 7) % 13) / 13.0f - 0.5f;
    char step[64];
    for (int s = 0; s < 4; s++) { /* all sequences; step 2 gives sequence 2 an embedding row */
        mm_gpt_input in[NSEQ];
        for (int i = 0; i < NSEQ; i++) {
            in[i] = (mm_gpt_input){tok(i, 40 + s), s == 2 && i == 2 ? embd : NULL};
            CHECK(mm_gpt_eval(ref[i], &in[i], 1, NULL, err) == 0, "%s: ref: %s", who, err);
        }
        int rc[NSEQ];
        CHECK(mm_gpt_batch_eval(b, st, in, NSEQ, rc, err) == 0, "%s: batch: %s", who, err);
        snprintf(step, sizeof step, "step %d of %d sequences", s, NSEQ);
        same(st, ref, NSEQ, step);
    }
    { /* the threads' clock of the steps (bench_decoder's "waits"): some time in steps, waits a part of it */
        double run, wait;
        mm_gpt_batch_wait_stats(b, &run, &wait);
        CHECK(run > 0 && wait >= 0 && wait <= run, "%s: wait stats: %g ms of %g ms in steps", who, wait, run);
    }
    /* a subset, in another order */
    mm_gpt_state *sub[3] = {st[4], st[0], st[2]}, *rsub[3] = {ref[4], ref[0], ref[2]};
    for (int s = 0; s < 2; s++) {
        mm_gpt_input in[3];
        for (int i = 0; i < 3; i++) {
            in[i] = (mm_gpt_input){tok(i, 50 + s), NULL};
            CHECK(mm_gpt_eval(rsub[i], &in[i], 1, NULL, err) == 0, "%s: ref: %s", who, err);
        }
        CHECK(mm_gpt_batch_eval(b, sub, in, 3, NULL, err) == 0, "%s: batch: %s", who, err);
        same(sub, rsub, 3, "subset of 3");
    }
    /* one position alone on both: the caches the batch wrote are those of single decode */
    for (int i = 0; i < NSEQ; i++) {
        const int32_t t = tok(i, 60);
        CHECK(mm_gpt_eval_tokens(st[i], &t, 1, NULL, err) == 0 && mm_gpt_eval_tokens(ref[i], &t, 1, NULL, err) == 0,
              "%s: %s", who, err);
    }
    same(st, ref, NSEQ, "single step after the batched ones");
    /* refusals: another model's state, a state whose pool has fewer threads than the batch's */
    mm_gpt_state_params sp = mm_gpt_state_default_params();
    sp.n_ctx = CTX, sp.n_threads = 1;
    mm_gpt_state *other = mm_gpt_state_create(m2, sp, err);
    mm_gpt_state *few = nth > 1 ? mm_gpt_state_create(m, sp, err) : NULL;
    CHECK(other && (nth == 1 || few), "%s: %s", who, err);
    if (other) refusals(b, st, other, few);
    /* a full context: state 0 filled to CTX - 1, one batched step fills it, the next is refused */
    int32_t fill[CTX];
    for (int k = 0; k < CTX; k++) fill[k] = tok(0, k);
    const int64_t left = CTX - 1 - mm_gpt_state_n_past(st[0]);
    CHECK(mm_gpt_eval_tokens(st[0], fill, left, NULL, err) == 0, "%s: fill: %s", who, err);
    mm_gpt_input in2[2] = {{1, NULL}, {2, NULL}};
    CHECK(mm_gpt_batch_eval(b, st, in2, 2, NULL, err) == 0, "%s: last position: %s", who, err);
    const int64_t np1 = mm_gpt_state_n_past(st[1]);
    CHECK(mm_gpt_batch_eval(b, st, in2, 2, NULL, err) == -1 && strstr(err, "context full"), "%s: full: %s", who, err);
    CHECK(mm_gpt_state_n_past(st[1]) == np1 && mm_gpt_state_n_past(st[0]) == CTX, "%s: a refused batch moved", who);
    mm_gpt_state_free(other);
    mm_gpt_state_free(few);
    mm_gpt_batch_free(b);
    for (int i = 0; i < NSEQ; i++) mm_gpt_state_free(st[i]), mm_gpt_state_free(ref[i]);
    mm_pool_free(pool);
}

/* A prompt of n (2..7) positions evaluated at once and one position at a time: the same logits, bit for bit,
 * and the same caches (one more position on both). */
static void short_prompts(mm_gpt_model *m, int nth) {
    char err[MM_ERR_SIZE], step[64];
    static const int lens[] = {2, 5, 7};
    for (int li = 0; li < 3; li++) {
        const int n = lens[li];
        mm_gpt_state_params sp = mm_gpt_state_default_params();
        sp.n_ctx = CTX, sp.n_threads = nth;
        mm_gpt_state *all = mm_gpt_state_create(m, sp, err), *one = mm_gpt_state_create(m, sp, err);
        CHECK(all && one, "%s: state: %s", who, err);
        int32_t p[8];
        for (int k = 0; k < n; k++) p[k] = tok(7, k);
        CHECK(all && mm_gpt_eval_tokens(all, p, n, NULL, err) == 0, "%s: prompt of %d: %s", who, n, err);
        for (int k = 0; one && k < n; k++)
            CHECK(mm_gpt_eval_tokens(one, p + k, 1, NULL, err) == 0, "%s: position %d: %s", who, k, err);
        if (!all || !one) return;
        snprintf(step, sizeof step, "a prompt of %d at once vs one at a time", n);
        same(&all, &one, 1, step);
        const int32_t t = tok(7, 20);
        CHECK(mm_gpt_eval_tokens(all, &t, 1, NULL, err) == 0 && mm_gpt_eval_tokens(one, &t, 1, NULL, err) == 0, "%s: %s",
              who, err);
        snprintf(step, sizeof step, "the next position after a prompt of %d", n);
        same(&all, &one, 1, step);
        mm_gpt_state_free(all);
        mm_gpt_state_free(one);
    }
}

/* dst = copy of src's first n positions, then 3 positions; ref = the same prompt evaluated, cut to n, the same 3
 * positions: the same logits after each, bit for bit; src unchanged; refusals. */
static void copied_prefix(mm_gpt_model *m, mm_gpt_model *m2, int nth) {
    char err[MM_ERR_SIZE], step[64];
    enum { NP = 11, N = 9 };
    int32_t p[NP];
    for (int k = 0; k < NP; k++) p[k] = tok(3, k);
    for (int f16 = 0; f16 < 2; f16++) {
        mm_gpt_state_params sp = mm_gpt_state_default_params();
        sp.n_ctx = CTX, sp.n_threads = nth, sp.kv_f16 = f16;
        mm_gpt_state *src = mm_gpt_state_create(m, sp, err), *dst = mm_gpt_state_create(m, sp, err);
        mm_gpt_state *ref = mm_gpt_state_create(m, sp, err);
        sp.kv_f16 = !f16;
        mm_gpt_state *other_kv = mm_gpt_state_create(m, sp, err);
        sp.kv_f16 = f16, sp.n_ctx = N - 1;
        mm_gpt_state *small = mm_gpt_state_create(m, sp, err);
        sp.n_ctx = CTX;
        mm_gpt_state *other_model = mm_gpt_state_create(m2, sp, err);
        CHECK(src && dst && ref && other_kv && small && other_model, "%s: state: %s", who, err);
        if (!src || !dst || !ref || !other_kv || !small || !other_model) return;
        /* the source: the prompt of NP, then one decode position; dst first holds something else */
        const int32_t t0 = tok(4, 1);
        CHECK(mm_gpt_eval_tokens(src, p, NP, NULL, err) == 0 && mm_gpt_eval_tokens(src, &t0, 1, NULL, err) == 0,
              "%s: source: %s", who, err);
        CHECK(mm_gpt_eval_tokens(dst, p + 2, 5, NULL, err) == 0, "%s: dst: %s", who, err);
        CHECK(mm_gpt_eval_tokens(ref, p, NP, NULL, err) == 0 && mm_gpt_state_truncate(ref, N, err) == 0, "%s: ref: %s",
              who, err);
        float src_logits[V];
        memcpy(src_logits, mm_gpt_state_logits(src), sizeof src_logits);
        CHECK(mm_gpt_state_copy_prefix(dst, src, N, err) == 0, "%s: copy: %s", who, err);
        CHECK(mm_gpt_state_n_past(dst) == N && mm_gpt_state_n_past(src) == NP + 1, "%s: n_past after the copy", who);
        CHECK(memcmp(src_logits, mm_gpt_state_logits(src), sizeof src_logits) == 0, "%s: the copy changed the source", who);
        const int32_t next[3] = {p[N], tok(5, 2), tok(5, 3)};
        for (int k = 0; k < 3; k++) {
            CHECK(mm_gpt_eval_tokens(dst, &next[k], 1, NULL, err) == 0 && mm_gpt_eval_tokens(ref, &next[k], 1, NULL, err) == 0,
                  "%s: position %d: %s", who, k, err);
            snprintf(step, sizeof step, "copied prefix (%s cache), position %d", f16 ? "f16" : "f32", k);
            same(&dst, &ref, 1, step);
        }
        /* refusals: nothing copied */
        const int64_t np = mm_gpt_state_n_past(dst);
        CHECK(mm_gpt_state_copy_prefix(dst, src, NP + 2, err) == -1 && strstr(err, "cannot copy"), "%s: too long: %s", who, err);
        CHECK(mm_gpt_state_copy_prefix(dst, src, -1, err) == -1, "%s: n = -1", who);
        CHECK(mm_gpt_state_copy_prefix(small, src, N, err) == -1 && strstr(err, "cannot copy"), "%s: small dst: %s", who, err);
        CHECK(mm_gpt_state_copy_prefix(other_kv, src, N, err) == -1 && strstr(err, "cache types"), "%s: kv types: %s", who, err);
        CHECK(mm_gpt_state_copy_prefix(other_model, src, N, err) == -1 && strstr(err, "different models"), "%s: model: %s",
              who, err);
        CHECK(mm_gpt_state_copy_prefix(dst, dst, 1, err) == -1 && mm_gpt_state_copy_prefix(NULL, src, 1, err) == -1,
              "%s: itself / NULL", who);
        CHECK(mm_gpt_state_n_past(dst) == np && mm_gpt_state_n_past(small) == 0 && mm_gpt_state_n_past(other_kv) == 0,
              "%s: a refused copy changed a state", who);
        mm_gpt_state_free(src), mm_gpt_state_free(dst), mm_gpt_state_free(ref);
        mm_gpt_state_free(other_kv), mm_gpt_state_free(small), mm_gpt_state_free(other_model);
    }
}

int main(void) {
    int lv = mm_test_forced_level("gpt batch");
    if (lv != 0) return lv;
    printf("kernel level: %s\n", mm_cpu_kernel_name());
    char err[MM_ERR_SIZE], path[1024], path2[1024], what[128];
    const char *tmp = getenv("MMGPT_TEST_TMP") ? getenv("MMGPT_TEST_TMP") : "/tmp";
    const mm_type types[] = {MM_TYPE_F32, MM_TYPE_F16, MM_TYPE_Q8_0, MM_TYPE_Q4_0, MM_TYPE_Q4_K, MM_TYPE_Q5_K, MM_TYPE_Q6_K};
    const char *archs[] = {"gpt2", "llama", "qwen2"};
    /* a second model for the "another model" refusal */
    snprintf(path2, sizeof path2, "%s/gpt_batch_other_%ld.gguf", tmp, (long)getpid());
    rand_gpt_spec s2 = {V, CTX, 64, 1, 2, 128, .wtype = MM_TYPE_F32};
    if (rand_gpt_write(path2, &s2) != 0) return 1;
    mm_gguf *g2 = mm_gguf_open(path2, err);
    mm_gpt_model *m2 = g2 ? mm_gpt_model_load(g2, err) : NULL;
    CHECK(m2, "load %s: %s", path2, err);
    if (!m2) return 1;
    for (size_t ai = 0; ai < 3; ai++)
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            snprintf(path, sizeof path, "%s/gpt_batch_%s_%s_%ld.gguf", tmp, archs[ai], mm_type_name(types[ti]),
                     (long)getpid());
            rand_gpt_spec spec = {V, CTX, D, L, H, FF, .wtype = types[ti], .n_head_kv = ai ? 2 : 0,
                                  .arch = ai ? archs[ai] : NULL};
            if (rand_gpt_write(path, &spec) != 0) return 1;
            mm_gguf *g = mm_gguf_open(path, err);
            mm_gpt_model *m = g ? mm_gpt_model_load(g, err) : NULL;
            CHECK(m, "load %s: %s", path, err);
            if (!m) return 1;
            CHECK(mm_gpt_model_type(m) == types[ti], "%s: weights are %s", path, mm_type_name(mm_gpt_model_type(m)));
            for (int nth = 1; nth <= 2; nth++) {
                snprintf(what, sizeof what, "%s %s %d thread%s", archs[ai], mm_type_name(types[ti]), nth, nth > 1 ? "s" : "");
                who = what;
                const int before = n_fail;
                run_model(m, m2, nth);
                copied_prefix(m, m2, nth);
                if (types[ti] == MM_TYPE_F16) short_prompts(m, nth);
                printf("%-24s %s\n", what, n_fail == before ? "bit-identical" : "FAILED");
            }
            mm_gpt_model_free(m);
            mm_gguf_close(g);
            remove(path);
        }
    mm_gpt_model_free(m2);
    mm_gguf_close(g2);
    remove(path2);
    if (n_fail) {
        fprintf(stderr, "FAIL: %d checks\n", n_fail);
        return 1;
    }
    printf("every batched sequence equals its single decode, bit for bit\n");
    return 0;
}
