/* test_gpt_noalloc.c - "mm_gpt_eval never allocates after mm_gpt_state_create" (mm_transformer.h).
 *
 * Heap allocations are counted (tests/mm_alloc_count.h) from the return of mm_gpt_state_create on:
 * every eval a state sees - a prompt split into batches (20 positions, n_batch 16: the sgemm path, then
 * a batch of 4 < 8: the per-row attention), 5 more positions, single-token decode steps (with and without
 * logits_all), embedding rows, a truncate and re-evaluation, and a state with n_batch 1 (single positions
 * whose logits nobody wants). A gpt2 and a llama model (grouped-query attention, rotary positions with
 * rope_freqs and linear scaling, SwiGLU). Weights F32, F16, Q8_0, Q4_0; pools of 1 and 2 threads; f32 and f16 KV
 * cache; the first evaluation of the process included (nothing runs before). Then mm_gpt_batch_eval of both
 * states together (batches of 2 and 1, an embedding row among the inputs) after mm_gpt_batch_create. Every
 * count must be 0.
 * Runs at the machine's kernel level and at each forced one (MMGPT_KERNEL, label numeric); skipped (77)
 * under sanitizers, which own malloc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_gguf.h"
#include "mm_transformer.h"

#include "mm_alloc_count.h"
#include "mm_check.h"
#include "mm_level.h"
#include "rand_gpt.h"

#ifndef MM_NO_INTERPOSE
enum { V = 300, CTX = 64, D = 128, L = 2, H = 4, FF = 512 };

static long since(long *mark) {
    long now = atomic_load(&mm_alloc_count), d = now - *mark;
    *mark = now;
    return d;
}

/* all evaluations of one state; returns allocations made, printing each call that allocated */
static long run_evals(mm_gpt_state *s, const char *what) {
    char err[MM_ERR_SIZE];
    static int32_t toks[CTX];
    static float all[2 * V], embd[2 * D];
    for (int i = 0; i < CTX; i++) toks[i] = (i * 37 + 11) % V;
    for (int i = 0; i < 2 * D; i++) embd[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
    mm_gpt_input in[3] = {{5, embd}, {7, NULL}, {0, embd + D}};
    long mark = atomic_load(&mm_alloc_count), total = 0, a;
#define STEP(label, call)                                                                 \
    do {                                                                                  \
        CHECK((call) == 0, "%s: %s: %s", what, label, err);                               \
        if ((a = since(&mark)) != 0) printf("  %s: %s: %ld allocations\n", what, label, a); \
        total += a;                                                                       \
    } while (0)
    STEP("prompt of 20 (batches 16 + 4)", mm_gpt_eval_tokens(s, toks, 20, NULL, err));
    STEP("5 more positions", mm_gpt_eval_tokens(s, toks + 20, 5, NULL, err));
    for (int i = 0; i < 6; i++) STEP("decode step", mm_gpt_eval_tokens(s, toks + 25 + i, 1, NULL, err));
    STEP("decode step with logits_all", mm_gpt_eval_tokens(s, toks + 31, 1, all, err));
    STEP("embedding rows", mm_gpt_eval(s, in, 3, NULL, err));
    STEP("2 positions with logits_all", mm_gpt_eval_tokens(s, toks + 40, 2, all, err));
    STEP("truncate", mm_gpt_state_truncate(s, 3, err));
    STEP("re-evaluate 12", mm_gpt_eval_tokens(s, toks + 3, 12, NULL, err));
    for (int i = 0; i < 3; i++) STEP("decode step after rewind", mm_gpt_eval_tokens(s, toks + 15 + i, 1, NULL, err));
#undef STEP
    return total;
}

int main(void) {
    int lv = mm_test_forced_level("gpt noalloc");
    if (lv != 0) return lv;
    printf("kernel level: %s\n", mm_cpu_kernel_name());
    char err[MM_ERR_SIZE], path[1024];
    const char *tmp = getenv("MMGPT_TEST_TMP") ? getenv("MMGPT_TEST_TMP") : "/tmp";
    const mm_type types[4] = {MM_TYPE_F32, MM_TYPE_F16, MM_TYPE_Q8_0, MM_TYPE_Q4_0};
    for (int mi = 0; mi < 8; mi++) {
        const int ti = mi % 4, kvh = mi < 4 ? 0 : 2; /* gpt2, then llama with 2 KV heads */
        /* one file per process: the per-level tests run at the same time */
        snprintf(path, sizeof path, "%s/gpt_noalloc_%s_%d_%ld.gguf", tmp, mm_type_name(types[ti]), kvh, (long)getpid());
        rand_gpt_spec spec = {V, CTX, D, L, H, FF, .wtype = types[ti], .n_head_kv = kvh};
        if (rand_gpt_write(path, &spec) != 0) return 1;
        mm_gguf *g = mm_gguf_open(path, err);
        mm_gpt_model *m = g ? mm_gpt_model_load(g, err) : NULL;
        CHECK(m, "load %s: %s", path, err);
        if (!m) return 1;
        for (int nth = 1; nth <= 2; nth++)
            for (int kv = 0; kv < 2; kv++) {
                char what[96];
                snprintf(what, sizeof what, "%s %s weights, %d thread%s, KV %s", kvh ? "llama" : "gpt2",
                         mm_type_name(types[ti]), nth,
                         nth > 1 ? "s" : "", kv ? "f16" : "f32");
                mm_gpt_state_params sp = mm_gpt_state_default_params();
                sp.n_threads = nth, sp.kv_f16 = kv, sp.n_batch = 16;
                long c0 = atomic_load(&mm_alloc_count);
                mm_gpt_state *s = mm_gpt_state_create(m, sp, err);
                sp.n_batch = 1;
                mm_gpt_state *s1 = s ? mm_gpt_state_create(m, sp, err) : NULL;
                CHECK(s && s1, "%s: state: %s", what, err);
                if (!s || !s1) return 1;
                /* the counter must see the library's allocations, else a 0 below proves nothing */
                CHECK(atomic_load(&mm_alloc_count) > c0, "%s: state creation made no allocation: interposition does not work", what);
                long made = run_evals(s, what);
                long before = atomic_load(&mm_alloc_count);
                CHECK(mm_gpt_eval_tokens(s1, (const int32_t[]){1, 2, 3}, 3, NULL, err) == 0, "%s: %s", what, err);
                long made1 = atomic_load(&mm_alloc_count) - before;
                /* batched decode of both states (mm_gpt_batch_eval, created beforehand on s's pool) */
                mm_gpt_batch *b = mm_gpt_batch_create(m, 2, mm_gpt_state_pool(s), err);
                CHECK(b, "%s: batch: %s", what, err);
                if (!b) return 1;
                before = atomic_load(&mm_alloc_count);
                mm_gpt_state *both[2] = {s, s1};
                float e2[D] = {0.25f};
                for (int k = 0; k < 3; k++) {
                    mm_gpt_input bin[2] = {{(int32_t)(k + 1), NULL}, {(int32_t)(k + 7), k == 1 ? e2 : NULL}};
                    CHECK(mm_gpt_batch_eval(b, both, bin, 2, NULL, err) == 0, "%s: batch eval: %s", what, err);
                }
                CHECK(mm_gpt_batch_eval(b, both + 1, (mm_gpt_input[]){{3, NULL}}, 1, NULL, err) == 0, "%s: %s", what, err);
                made1 += atomic_load(&mm_alloc_count) - before;
                mm_gpt_batch_free(b);
                printf("%-34s %ld allocations in evaluations (n_batch 1 state, batched: %ld)\n", what, made, made1);
                CHECK(made == 0 && made1 == 0, "%s: mm_gpt_eval allocated", what);
                mm_gpt_state_free(s);
                mm_gpt_state_free(s1);
            }
        mm_gpt_model_free(m);
        mm_gguf_close(g);
        remove(path);
    }
    if (n_fail) {
        fprintf(stderr, "FAIL: %d checks\n", n_fail);
        return 1;
    }
    printf("no allocations after state creation\n");
    return 0;
}
#else
int main(void) { return mm_alloc_skip(); }
#endif
