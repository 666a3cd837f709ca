/* bench_decoder.c - GPT decoder speed against rooflines measured in the same run.
 *
 *   bench_decoder [--types f32,f16,q8_0,q4_0] [--threads 1,2] [--prompt 512] [--gen 128]
 *                 [--no-gpt3] [--gpt3-only] [--quick] [--kv-f16] [--batch 1,2,4,8,16]
 *
 * 1. GPT-2 124M-shaped random model (vocab 50,257, d 768, 12 layers, 12 heads, ctx 1024, tied), built
 *    in memory for each weight type; for each thread count:
 *      prompt:     tokens/s for one batch of --prompt tokens, and the achieved GFLOP/s (block matrix FLOPs
 *                  of every position, the vocabulary projection of the last position only - the logits
 *                  computed - and causal attention FLOPs; `mmgpt bench` counts the same way) as a fraction of the sgemm GFLOP/s measured in the same
 *                  process (mm_sgemm prompt x 3072 x 768, same threads, best of 5 before and 5 after);
 *      tg: tokens/s for --gen tokens from an empty context (llama-bench's tg128 convention: one start
 *                  token, then greedy decoding), as a fraction of the roofline below;
 *      generation: tokens/s for --gen tokens after the prompt (greedy, KV cache), and the fraction of
 *                  the bandwidth roofline = measured read bandwidth (same threads, 512 MiB, best of 3
 *                  before and 3 after the runs) / weight bytes read
 *                  per token; a second fraction also counts the KV-cache bytes each token reads
 *                  (f32, or f16 with --kv-f16).
 * 2. One GPT-3 175B layer at full width (d 12,288, 96 heads, FFN 49,152) at Q8_0 and Q4_0: ms per token
 *    per layer (decode, 16 positions in the cache) and the implied 96-layer time.
 * 3. --batch B1,B2,..: only the batched decode (mm_gpt_batch_eval) of B sequences at a time on the GPT-2 124M
 *    shape (each after its own 32-token prompt): aggregate tokens/s (B x steps / time) for --gen steps, best of
 *    3 rounds interleaving the sizes, and the ratio to one sequence through mm_gpt_eval (the single path);
 *    "waits": the share of the pool threads' wall time in the timed steps (all rounds) spent waiting at phase
 *    boundaries for items another thread holds (mm_gpt_batch_wait_stats: on a shared machine mostly a
 *    descheduled holder; the rate alone does not say how much of a step that was).
 * Each configuration runs in its own child process, so "peak" is that run's getrusage max RSS.
 * --quick: q8_0 and f16, 1 thread, prompt 128, gen 32, GPT-3 layer at q4_0 only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm_core.h"
#include "bench_util.h"
#include "mm_transformer.h"
#include "../transformer/gpt_internal.h"

/* ---------------------------------------------------------------- in-memory random model */
typedef struct {
    mm_gpt_model m;
    void *blobs[64 * 8];
    int n_blobs;
} mem_model;

static uint64_t rng_state = 0x12345678ULL;
static inline float rnd(void) { /* xorshift64*, uniform in [-0.5, 0.5) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (float)((rng_state * 0x2545F4914F6CDD1DULL) >> 40) / 16777216.0f - 0.5f;
}

static void *rand_matrix(mem_model *mm, mm_type t, int64_t rows, int64_t cols, float scale, mm_mat *w) {
    size_t rs = mm_row_size(t, cols);
    uint8_t *data = malloc(rs * (size_t)rows);
    float *row = malloc((size_t)cols * sizeof(float));
    if (!data || !row) {
        fprintf(stderr, "bench_decoder: out of memory (%zu bytes)\n", rs * (size_t)rows);
        exit(1);
    }
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) row[c] = scale * rnd();
        if (t == MM_TYPE_F32) memcpy(data + rs * (size_t)r, row, rs);
        else mm_quantize_row(t, row, data + rs * (size_t)r, cols);
    }
    free(row);
    w->type = t;
    w->data = data;
    w->rows = rows;
    w->cols = cols;
    mm->blobs[mm->n_blobs++] = data;
    return data;
}

static float *rand_vec(mem_model *mm, int64_t n, float offset, float scale) {
    float *v = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) v[i] = offset + scale * rnd();
    mm->blobs[mm->n_blobs++] = v;
    return v;
}

static mem_model *build(mm_type t, int64_t V, int64_t ctx, int64_t d, int64_t L, int64_t H, int64_t ff) {
    mem_model *mm = calloc(1, sizeof *mm);
    mm_gpt_model *m = &mm->m;
    m->hp = (mm_gpt_hparams){.n_vocab = V, .n_ctx = ctx, .d_model = d, .n_layer = L, .n_head = H, .d_head = d / H, .d_ff = ff, .eps = 1e-5f};
    rand_matrix(mm, t, V, d, 0.5f, &m->tok_embd);
    rand_matrix(mm, t, ctx, d, 0.2f, &m->pos_embd);
    m->output = m->tok_embd;
    m->tied = true;
    m->out_norm_w = rand_vec(mm, d, 1.0f, 0.1f);
    m->out_norm_b = rand_vec(mm, d, 0.0f, 0.1f);
    m->layers = calloc((size_t)L, sizeof *m->layers);
    for (int64_t l = 0; l < L; l++) {
        mm_gpt_layer *ly = &m->layers[l];
        const float s = 1.7f / 0.5f; /* uniform(-0.5, 0.5) * s has std ~1 */
        ly->ln1_w = rand_vec(mm, d, 1, 0.1f), ly->ln1_b = rand_vec(mm, d, 0, 0.1f);
        ly->ln2_w = rand_vec(mm, d, 1, 0.1f), ly->ln2_b = rand_vec(mm, d, 0, 0.1f);
        rand_matrix(mm, t, 3 * d, d, s / 27.7f, &ly->qkv);
        ly->qkv.b = rand_vec(mm, 3 * d, 0, 0.1f);
        rand_matrix(mm, t, d, d, s / 27.7f, &ly->out);
        ly->out.b = rand_vec(mm, d, 0, 0.1f);
        rand_matrix(mm, t, ff, d, s / 27.7f, &ly->up);
        ly->up.b = rand_vec(mm, ff, 0, 0.1f);
        rand_matrix(mm, t, d, ff, s / 55.4f, &ly->down);
        ly->down.b = rand_vec(mm, d, 0, 0.1f);
    }
    return mm;
}

static void mem_model_free(mem_model *mm) {
    for (int i = 0; i < mm->n_blobs; i++) free(mm->blobs[i]);
    free(mm->m.layers);
    free(mm);
}

/* ---------------------------------------------------------------- rooflines */
/* Read bandwidth (GB/s) over a 512 MiB buffer with the vector read of bench_util.h (the same
 * reference bench_kernels uses), best of 3. */
static double measure_bandwidth(mm_pool *pool) {
    const int64_t n = (512LL << 20) / 4;
    float *buf = aligned_alloc(64, (size_t)n * 4);
    if (!buf) return 0;
    bench_fill(buf, n, 1);
    double gbs = bench_read_bw(pool, buf, n, 3);
    free(buf);
    return gbs;
}

/* sgemm GFLOP/s for the prompt's typical shape (512 x 3072 x 768), best of 3. */
static double measure_sgemm(mm_pool *pool, int64_t n) {
    const int64_t m = n, N = 3072, k = 768;
    float *A = malloc((size_t)(m * k) * 4), *B = malloc((size_t)(N * k) * 4), *C = malloc((size_t)(m * N) * 4);
    for (int64_t i = 0; i < m * k; i++) A[i] = rnd();
    for (int64_t i = 0; i < N * k; i++) B[i] = rnd();
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = mm_time_ms();
        mm_sgemm(pool, true, m, N, k, 1.0f, A, k, B, k, 0.0f, C, N);
        double dt = mm_time_ms() - t0;
        double g = 2.0 * (double)m * N * k / (dt * 1e6);
        if (g > best) best = g;
    }
    free(A), free(B), free(C);
    return best;
}

static double peak_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* ---------------------------------------------------------------- runs */
static bool g_kv_f16 = false;

static void run_gpt2(mm_type t, int threads, int n_prompt, int n_gen) {
    char err[MM_ERR_SIZE];
    double tb = mm_time_ms();
    mem_model *mm = build(t, 50257, 1024, 768, 12, 12, 3072);
    double build_s = (mm_time_ms() - tb) / 1000.0;
    mm_gpt_state_params sp = mm_gpt_state_default_params();
    sp.n_threads = threads;
    sp.n_ctx = 1024;
    sp.kv_f16 = g_kv_f16;
    mm_gpt_state *s = mm_gpt_state_create(&mm->m, sp, err);
    if (!s) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    mm_pool *pool = mm_gpt_state_pool(s);
    double bw = measure_bandwidth(pool), gf = measure_sgemm(pool, n_prompt);
    int32_t *toks = malloc((size_t)n_prompt * sizeof *toks);
    for (int i = 0; i < n_prompt; i++) toks[i] = (int32_t)((i * 7919) % 50257);
    /* warm-up: a short prompt, then reset */
    mm_gpt_eval_tokens(s, toks, 16, NULL, err);
    mm_gpt_state_reset(s);
    double t0 = mm_time_ms();
    if (mm_gpt_eval_tokens(s, toks, n_prompt, NULL, err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    double t1 = mm_time_ms();
    for (int k = 0; k < n_gen; k++) {
        int32_t tk = mm_argmax(mm_gpt_state_logits(s), 50257);
        mm_gpt_eval_tokens(s, &tk, 1, NULL, err);
    }
    double t2 = mm_time_ms();
    /* tg from an empty context, as llama-bench's tg128: one start token, then n_gen tokens */
    mm_gpt_state_reset(s);
    int32_t t0k = toks[0];
    mm_gpt_eval_tokens(s, &t0k, 1, NULL, err);
    double t3 = mm_time_ms();
    for (int k = 0; k < n_gen; k++) {
        int32_t tk = mm_argmax(mm_gpt_state_logits(s), 50257);
        mm_gpt_eval_tokens(s, &tk, 1, NULL, err);
    }
    double t4 = mm_time_ms();
    /* the machine may be shared: take the better of the measurements before and after the runs */
    const double bw2 = measure_bandwidth(pool), gf2 = measure_sgemm(pool, n_prompt);
    if (bw2 > bw) bw = bw2;
    if (gf2 > gf) gf = gf2;
    const mm_gpt_hparams *hp = &mm->m.hp;
    const double d = (double)hp->d_model, L = (double)hp->n_layer;
    /* the work done: block matrices for every position, the vocabulary projection for the last position
     * only (eval without logits_all computes one row of logits), causal attention */
    const double blk_params = L * (12.0 * d * d), out_params = (double)hp->n_vocab * d;
    const double attn = L * 2.0 * d * (double)n_prompt * (double)(n_prompt + 1); /* QK^T + PV, causal */
    const double prompt_gflops = (2.0 * blk_params * n_prompt + 2.0 * out_params + attn) / ((t1 - t0) * 1e6);
    const double wbytes = (double)mm_gpt_model_bytes_per_token(&mm->m);
    const double kv_avg = 2.0 * L * d * (g_kv_f16 ? 2.0 : 4.0) * ((double)n_prompt + n_gen / 2.0); /* K, V read */
    const double gen_tps = 1000.0 * n_gen / (t2 - t1), tg_tps = 1000.0 * n_gen / (t4 - t3);
    const double roof = bw * 1e9 / wbytes, roof_kv = bw * 1e9 / (wbytes + kv_avg);
    printf("gpt2-124M %-5s %dT%s | prompt %4d: %8.1f tok/s %6.1f GFLOP/s = %5.1f%% of sgemm %6.1f | "
           "tg%d (empty context): %7.2f tok/s = %5.1f%% of roofline | "
           "gen %4d after the prompt: %7.2f tok/s = %5.1f%% of roofline %.1f tok/s (%.0f MB/token @ %.1f GB/s; %4.1f%% incl. KV) | "
           "peak %.0f MiB | build %.1fs\n",
           mm_type_name(t), threads, g_kv_f16 ? " kv16" : "", n_prompt, 1000.0 * n_prompt / (t1 - t0), prompt_gflops, 100.0 * prompt_gflops / gf,
           gf, n_gen, tg_tps, 100.0 * tg_tps / roof, n_gen, gen_tps, 100.0 * gen_tps / roof, roof, wbytes / 1e6, bw, 100.0 * gen_tps / roof_kv, peak_mib(),
           build_s);
    fflush(stdout);
    free(toks);
    mm_gpt_state_free(s);
    mem_model_free(mm);
}

static void run_gpt3_layer(mm_type t, int threads) {
    char err[MM_ERR_SIZE];
    double tb = mm_time_ms();
    mem_model *mm = build(t, 32, 64, 12288, 1, 96, 49152);
    double build_s = (mm_time_ms() - tb) / 1000.0;
    mm_gpt_state_params sp = mm_gpt_state_default_params();
    sp.n_threads = threads;
    mm_gpt_state *s = mm_gpt_state_create(&mm->m, sp, err);
    if (!s) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    const double bw = measure_bandwidth(mm_gpt_state_pool(s));
    int32_t toks[16];
    for (int i = 0; i < 16; i++) toks[i] = i % 32;
    mm_gpt_eval_tokens(s, toks, 16, NULL, err);
    const int steps = 6;
    double t0 = mm_time_ms();
    for (int k = 0; k < steps; k++) mm_gpt_eval_tokens(s, &toks[k], 1, NULL, err);
    double ms = (mm_time_ms() - t0) / steps;
    const mm_gpt_layer *ly = &mm->m.layers[0];
    double lbytes = 0;
    const mm_mat *ws[4] = {&ly->qkv, &ly->out, &ly->up, &ly->down};
    for (int i = 0; i < 4; i++) lbytes += (double)mm_row_size(ws[i]->type, ws[i]->cols) * (double)ws[i]->rows;
    const double roof_ms = lbytes / (bw * 1e6);
    printf("gpt3-175b layer %-5s %dT | %.1f ms/token/layer (roofline %.1f ms: %.2f GB @ %.1f GB/s = %.0f%%) | "
           "96 layers: %.2f s/token | peak %.0f MiB | build %.1fs\n",
           mm_type_name(t), threads, ms, roof_ms, lbytes / 1e9, bw, 100.0 * roof_ms / ms, 96.0 * ms / 1000.0,
           peak_mib(), build_s);
    fflush(stdout);
    mm_gpt_state_free(s);
    mem_model_free(mm);
}

/* Batched decode (mm_gpt_batch_eval): aggregate tokens/s of B sequences advancing together, for each B of
 * g_batches, after a short different prompt per sequence; B = 1 also through the single path (mm_gpt_eval).
 * Rounds interleave the batch sizes (the machine may be shared); the best round of each is reported. */
static int g_batches[8], g_n_batches = 0, g_rounds = 3;
static bool g_single = true; /* --no-single: skip the single path (profiling the batched steps alone) */

static void run_batch(mm_type t, int threads, int n_prompt, int n_gen) {
    (void)n_prompt;
    char err[MM_ERR_SIZE];
    mem_model *mm = build(t, 50257, 1024, 768, 12, 12, 3072);
    int bmax = 1;
    for (int i = 0; i < g_n_batches; i++) bmax = g_batches[i] > bmax ? g_batches[i] : bmax;
    mm_pool *pool = mm_pool_create(threads, err);
    mm_gpt_batch *b = pool ? mm_gpt_batch_create(&mm->m, bmax, pool, err) : NULL;
    mm_gpt_state *st[MM_GPT_BATCH_MAX];
    const int np = 32; /* prompt positions of each sequence */
    for (int j = 0; j < bmax && b; j++) {
        mm_gpt_state_params sp = mm_gpt_state_default_params();
        sp.pool = pool, sp.n_ctx = np + 4 * n_gen + 8, sp.kv_f16 = g_kv_f16;
        if (!(st[j] = mm_gpt_state_create(&mm->m, sp, err))) b = NULL;
    }
    if (!b) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    int32_t toks[32];
    for (int j = 0; j < bmax; j++) {
        for (int i = 0; i < np; i++) toks[i] = (int32_t)((i * 7919 + j * 104729) % 50257);
        mm_gpt_eval_tokens(st[j], toks, np, NULL, err);
    }
    double best[9] = {0}; /* tokens/s per entry of g_batches; [8] = B 1 through mm_gpt_eval */
    double run_ms[8] = {0}, wait_ms[8] = {0}; /* per entry of g_batches: the pool threads' time in the timed
                                                 steps of all rounds, and of it the waits at phase boundaries */
    mm_gpt_input in[MM_GPT_BATCH_MAX];
    for (int round = 0; round < g_rounds; round++)
        for (int k = g_single ? -1 : 0; k < g_n_batches; k++) {
            const int B = k < 0 ? 1 : g_batches[k];
            for (int j = 0; j < B; j++) mm_gpt_state_truncate(st[j], np, err);
            double t0 = 0, r0 = 0, w0 = 0;
            for (int step = 0; step <= n_gen; step++) { /* step 0: warm-up */
                if (step == 1) t0 = mm_time_ms(), mm_gpt_batch_wait_stats(b, &r0, &w0);
                for (int j = 0; j < B; j++) in[j] = (mm_gpt_input){mm_argmax(mm_gpt_state_logits(st[j]), 50257), NULL};
                if (k < 0) mm_gpt_eval(st[0], in, 1, NULL, err);
                else if (mm_gpt_batch_eval(b, st, in, B, NULL, err) != 0) {
                    fprintf(stderr, "%s\n", err);
                    exit(1);
                }
            }
            const double tps = 1000.0 * B * n_gen / (mm_time_ms() - t0);
            if (k >= 0) {
                double r1, w1;
                mm_gpt_batch_wait_stats(b, &r1, &w1);
                run_ms[k] += r1 - r0, wait_ms[k] += w1 - w0;
            }
            double *slot = k < 0 ? &best[8] : &best[k];
            if (tps > *slot) *slot = tps;
        }
    printf("gpt2-124M %-5s %dT%s batched decode, aggregate tok/s (best of %d rounds of %d steps) | single path %.1f",
           mm_type_name(t), threads, g_kv_f16 ? " kv16" : "", g_rounds, n_gen, best[8]);
    for (int k = 0; k < g_n_batches; k++)
        printf(" | B=%d: %.1f (%.2fx, waits %.0f%%)", g_batches[k], best[k], best[8] > 0 ? best[k] / best[8] : 0.0,
               run_ms[k] > 0 ? 100.0 * wait_ms[k] / run_ms[k] : 0.0);
    printf(" | peak %.0f MiB\n", peak_mib());
    fflush(stdout);
    for (int j = 0; j < bmax; j++) mm_gpt_state_free(st[j]);
    mm_gpt_batch_free(b);
    mm_pool_free(pool);
    mem_model_free(mm);
}

/* run fn in a child so that each configuration gets its own peak RSS */
static void in_child(void (*fn2)(mm_type, int, int, int), void (*fn3)(mm_type, int), mm_type t, int th, int np,
                     int ng) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (fn2) fn2(t, th, np, ng);
        else fn3(t, th);
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) printf("(configuration %s %dT failed)\n", mm_type_name(t), th);
}

static int parse_list(const char *s, int *out, int max, bool types) {
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (n == max) { /* (it used to drop the items past max: --types with 5 types timed 4) */
            fprintf(stderr, "bench_decoder: more than %d items in '%s'\n", max, s);
            exit(2);
        }
        int v = types ? mm_type_from_name(tok) : atoi(tok);
        if (v < 0 || (!types && v < 1)) {
            fprintf(stderr, "bench_decoder: bad list item '%s'\n", tok);
            exit(2);
        }
        out[n++] = v;
    }
    return n;
}

int main(int argc, char **argv) {
    int types[16] = {MM_TYPE_F32, MM_TYPE_F16, MM_TYPE_Q8_0, MM_TYPE_Q4_0}, n_types = 4;
    int threads[4] = {1, 2}, n_threads = 2, n_prompt = 512, n_gen = 128;
    bool gpt2 = true, gpt3 = true, quick = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--types") && i + 1 < argc) n_types = parse_list(argv[++i], types, 16, true);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) n_threads = parse_list(argv[++i], threads, 4, false);
        else if (!strcmp(argv[i], "--prompt") && i + 1 < argc) n_prompt = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--gen") && i + 1 < argc) n_gen = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-gpt3")) gpt3 = false;
        else if (!strcmp(argv[i], "--gpt3-only")) gpt2 = false;
        else if (!strcmp(argv[i], "--quick")) quick = true;
        else if (!strcmp(argv[i], "--kv-f16")) g_kv_f16 = true;
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) g_rounds = atoi(argv[++i]) > 0 ? atoi(argv[i]) : 1;
        else if (!strcmp(argv[i], "--no-single")) g_single = false;
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            g_n_batches = parse_list(argv[++i], g_batches, 8, false);
            for (int k = 0; k < g_n_batches; k++)
                if (g_batches[k] > MM_GPT_BATCH_MAX) {
                    fprintf(stderr, "bench_decoder: batch %d is above %d\n", g_batches[k], MM_GPT_BATCH_MAX);
                    return 2;
                }
        } else {
            fprintf(stderr, "usage: bench_decoder [--types f32,f16,q8_0,q4_0] [--threads 1,2] [--prompt 512] "
                            "[--gen 128] [--no-gpt3] [--gpt3-only] [--quick] [--kv-f16] [--batch 1,2,4,8,16 [--rounds 3] "
                            "[--no-single]]\n");
            return 2;
        }
    }
    if (quick) {
        types[0] = MM_TYPE_Q8_0, types[1] = MM_TYPE_F16, n_types = 2;
        threads[0] = 1, n_threads = 1, n_prompt = 128, n_gen = 32;
    }
    if (n_prompt < 16 || n_prompt + n_gen > 1024) {
        fprintf(stderr, "bench_decoder: need 16 <= prompt and prompt + gen <= 1024\n");
        return 2;
    }
    printf("bench_decoder: kernels %s\n", mm_cpu_kernel_name());
    if (g_n_batches) { /* --batch: the batched-decode table only */
        for (int a = 0; a < n_types; a++)
            for (int b = 0; b < n_threads; b++) in_child(run_batch, NULL, (mm_type)types[a], threads[b], n_prompt, n_gen);
        return 0;
    }
    if (gpt2)
        for (int a = 0; a < n_types; a++)
            for (int b = 0; b < n_threads; b++) in_child(run_gpt2, NULL, (mm_type)types[a], threads[b], n_prompt, n_gen);
    if (gpt3) {
        int th = threads[n_threads - 1];
        if (!quick) in_child(NULL, run_gpt3_layer, MM_TYPE_Q8_0, th, 0, 0);
        in_child(NULL, run_gpt3_layer, MM_TYPE_Q4_0, th, 0, 0);
    }
    return 0;
}
