/* cmd_bench.c - `mmgpt bench -m FILE [-p 512] [-n 128] [-t N] [-r 3] [--json]`: decoder speed of a model file
 * with llama-bench's protocol and fields, plus the roofline figures of the machine measured in the same run.
 *
 * Protocol (llama-bench's): tests pp<P> (one P-token prompt evaluation, logits of the last position only) and
 * tg<N> (N single-token steps from an empty cache); random token ids (fixed seed). Per test: one warm-up run
 * (pp: min(P, 512) tokens; tg: 1 token), then -r repetitions, the cache reset before each. t/s per
 * repetition = tokens / seconds; avg_ts, stddev_ts (sample standard deviation) over them.
 * mmgpt's own figures:
 *   weight_bytes_per_token   mm_gpt_model_bytes_per_token (every weight a decode step reads)
 *   read_gbs                 the machine's read bandwidth at the same thread count: a vector sum over a buffer
 *                            larger than the caches (--bw-mib, default 256) with bench/bench_util.h's reader,
 *                            one pass right before each repetition; the median is reported
 *   roofline                 tg only: tokens/s * weight bytes per token / read_gbs, median over repetitions of
 *                            the per-repetition ratio (each against the pass just before it)
 *   gflops                   the FLOPs actually computed / time: 2 x (elements of every blk.* matrix) per
 *                            position, 2 x (elements of the output matrix) per position whose logits are
 *                            computed (one per pp test, every tg step), and causal attention 4 x n_head x
 *                            d_head per cached position attended (QK^T and PV) per layer
 * -npl B,... (llama-batched-bench's): after the tests above, per tg<N> and B a test tg<N>x<B>: B sequences, each N
 * single-token steps from an empty cache, decoded together (mm_gpt_batch_eval: each step one pass over the
 * weights for all B); t/s = B N / seconds (aggregate), "n_parallel": B; roofline = steps/s x weight bytes per
 * step / read_gbs (the weights are read once per step, whatever B); gflops counts the B sequences' work.
 * --image F / --audio F: encoder time per item (preprocess or log-mel + encoder, the file decoded once) from
 * the vision / audio encoder of --mmproj FILE or, without it, of -m FILE; a file with only encoders benchmarks
 * only those. Timings go to stdout (they are the result); progress to stderr.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "options.h"
#include "mm_audio.h"
#include "mm_gguf.h"
#include "mm_image.h"
#include "mm_transformer.h"
#include "../bench/bench_util.h"

#ifndef MMGPT_VERSION
#define MMGPT_VERSION "dev"
#endif

#define MAX_REPS MM_OPT_MAX_REPS

/* ---------------------------------------------------------------- statistics of one test */
typedef struct {
    const char *name;          /* "pp", "tg", "image", "audio" */
    int64_t n_prompt, n_gen;   /* llama-bench's fields (items for the encoders: n_prompt = n_gen = 0) */
    int n_par;                 /* tg of n_par sequences decoded together (-npl); 0: the single-sequence path */
    int n_threads, reps;
    double ns[MAX_REPS];       /* time per repetition */
    double ts[MAX_REPS];       /* tokens (items) per second per repetition */
    double roof[MAX_REPS];     /* tg: fraction of the read bandwidth per repetition */
    double bw[MAX_REPS];       /* read GB/s measured before each repetition (decoder tests) */
    double flops;              /* per repetition (0 = not counted) */
    int64_t n_out;             /* encoders: rows produced per item */
} test_result;

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(const double *v, int n) {
    double t[MAX_REPS];
    memcpy(t, v, (size_t)n * sizeof *t);
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}
static double mean(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return s / n;
}
static double stddev(const double *v, int n) {   /* sample standard deviation, 0 for one sample */
    if (n < 2) return 0;
    double m = mean(v, n), s = 0;
    for (int i = 0; i < n; i++) s += (v[i] - m) * (v[i] - m);
    return sqrt(s / (n - 1));
}

/* ---------------------------------------------------------------- what every line repeats */
typedef struct {
    const char *file;
    char model_type[96];
    uint64_t model_size, model_n_params;   /* decoder tensors (encoder tensors v.* a.* mm.* excluded) */
    double blk_params, out_params;         /* per-position matrix elements: blk.* matrices, output matrix */
    size_t wbytes;                         /* mm_gpt_model_bytes_per_token */
    int64_t n_layer, n_head, d_head;
    char cpu[128];
    const char *kv_type;
    bool json;
} bench_info;

static bool is_encoder_tensor(const char *name) {
    return !strncmp(name, "v.", 2) || !strncmp(name, "a.", 2) || !strncmp(name, "mm.", 3);
}

static void cpu_name(char *out, size_t n) {
    snprintf(out, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *c = strchr(line, ':');
        if (!strncmp(line, "model name", 10) && c) {
            c += 1 + (c[1] == ' ');
            c[strcspn(c, "\n")] = 0;
            snprintf(out, n, "%s", c);
            break;
        }
    }
    fclose(f);
}

static void add_str(cJSON *o, const char *key, const char *v) {
    char *u = mm_cli_utf8(v);
    cJSON_AddStringToObject(o, key, u ? u : "");
    free(u);
}

static void add_arr(cJSON *o, const char *key, const double *v, int n) {
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
}

static void print_header(const bench_info *bi) {
    if (bi->json) return;
    printf("| %-20s | %10s | %8s | %7s | %-8s | %16s | %8s | %8s | %6s | %8s |\n", "model", "size", "params", "threads",
           "test", "t/s", "MB/tok", "read GB/s", "roof", "GFLOP/s");
    printf("| %.20s | %.10s | %.8s | %.7s | %.8s | %.16s | %.8s | %.9s | %.6s | %.8s |\n", "--------------------------",
           "--------------------------", "--------------------------", "--------------------------",
           "--------------------------", "--------------------------", "--------------------------",
           "--------------------------", "--------------------------", "--------------------------");
}

static void print_result(const bench_info *bi, const test_result *r) {
    const int n = r->reps;
    double ts_avg = mean(r->ts, n), ts_sd = stddev(r->ts, n), ns_avg = mean(r->ns, n), ns_sd = stddev(r->ns, n);
    const bool dec = !strcmp(r->name, "pp") || !strcmp(r->name, "tg"), tg = !strcmp(r->name, "tg");
    double bw = dec ? median(r->bw, n) : 0, roof = tg ? median(r->roof, n) : 0;
    double gflops = r->flops > 0 ? r->flops / (ns_avg * 1e-9) / 1e9 : 0;
    char test[32];
    if (dec && r->n_par) snprintf(test, sizeof test, "tg%lldx%d", (long long)r->n_gen, r->n_par);
    else if (dec) snprintf(test, sizeof test, "%s%lld", r->name, (long long)(tg ? r->n_gen : r->n_prompt));
    else snprintf(test, sizeof test, "%s", r->name);
    if (!bi->json) {
        char tsb[40], mb[16] = "-", roofs[16] = "-", bws[16] = "-", gfs[16] = "-", size[16], params[16];
        snprintf(tsb, sizeof tsb, "%.2f ± %.2f", ts_avg, ts_sd);
        if (dec) snprintf(mb, sizeof mb, "%.1f", bi->wbytes / 1e6), snprintf(bws, sizeof bws, "%.1f", bw);
        if (tg) snprintf(roofs, sizeof roofs, "%.1f%%", 100 * roof);
        if (gflops > 0) snprintf(gfs, sizeof gfs, "%.1f", gflops);
        snprintf(size, sizeof size, "%.2f MiB", bi->model_size / 1048576.0);
        snprintf(params, sizeof params, "%.2f M", bi->model_n_params / 1e6);
        printf("| %-20s | %10s | %8s | %7d | %-8s | %17s | %8s | %9s | %6s | %8s |\n", bi->model_type, size, params,
               r->n_threads, test, tsb, mb, bws, roofs, gfs);   /* 17 bytes: "±" is 2 bytes, 1 column */
        if (!dec) printf("|   (%s: %.2f ms per item, %lld rows out)\n", r->name, ns_avg / 1e6, (long long)r->n_out);
        fflush(stdout);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) return;
    char tbuf[32];
    time_t now = time(NULL);
    struct tm tmv;
    strftime(tbuf, sizeof tbuf, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));
    add_str(o, "build_commit", MMGPT_VERSION);
    add_str(o, "cpu_info", bi->cpu);
    add_str(o, "backends", "CPU");
    add_str(o, "kernels", mm_cpu_kernel_name());
    add_str(o, "model_filename", bi->file);
    add_str(o, "model_type", bi->model_type);
    cJSON_AddNumberToObject(o, "model_size", (double)bi->model_size);
    cJSON_AddNumberToObject(o, "model_n_params", (double)bi->model_n_params);
    cJSON_AddNumberToObject(o, "n_threads", r->n_threads);
    add_str(o, "type_k", bi->kv_type);
    add_str(o, "type_v", bi->kv_type);
    add_str(o, "test", test);
    cJSON_AddNumberToObject(o, "n_prompt", (double)r->n_prompt);
    cJSON_AddNumberToObject(o, "n_gen", (double)r->n_gen);
    if (r->n_par) cJSON_AddNumberToObject(o, "n_parallel", r->n_par);
    add_str(o, "test_time", tbuf);
    cJSON_AddNumberToObject(o, "avg_ns", round(ns_avg));
    cJSON_AddNumberToObject(o, "stddev_ns", round(ns_sd));
    cJSON_AddNumberToObject(o, "avg_ts", ts_avg);
    cJSON_AddNumberToObject(o, "stddev_ts", ts_sd);
    add_arr(o, "samples_ns", r->ns, n);
    add_arr(o, "samples_ts", r->ts, n);
    if (dec) {
        cJSON_AddNumberToObject(o, "weight_bytes_per_token", (double)bi->wbytes);
        cJSON_AddNumberToObject(o, "read_gbs", bw);
        cJSON_AddNumberToObject(o, "flops", r->flops);
        cJSON_AddNumberToObject(o, "gflops", gflops);
    }
    if (tg) cJSON_AddNumberToObject(o, "roofline", roof);
    if (!dec) cJSON_AddNumberToObject(o, "n_out", (double)r->n_out);
    char *s = cJSON_PrintUnformatted(o);
    if (s) puts(s);
    fflush(stdout);
    free(s);
    cJSON_Delete(o);
}

/* ---------------------------------------------------------------- decoder tests */
typedef struct {
    float *buf;
    int64_t n;
} bw_buf;

static double bw_pass(mm_pool *pool, const bw_buf *b) { return bench_read_bw(pool, b->buf, b->n, 1); }

/* FLOPs of evaluating positions [p0, p0 + n) with `logits` output rows computed */
static double eval_flops(const bench_info *bi, int64_t p0, int64_t n, int64_t logits) {
    double attended = (double)n * (double)p0 + (double)n * (double)(n + 1) / 2.0;   /* sum of (position + 1) */
    return 2.0 * bi->blk_params * (double)n + 2.0 * bi->out_params * (double)logits +
           4.0 * (double)(bi->n_layer * bi->n_head * bi->d_head) * attended;
}

static int run_decoder_test(const bench_info *bi, mm_gpt_state *s, const int32_t *toks, int64_t P, int64_t N, int reps,
                            const bw_buf *bwb, test_result *r) {
    char err[MM_ERR_SIZE];
    mm_pool *pool = mm_gpt_state_pool(s);
    memset(r, 0, sizeof *r);
    r->name = P > 0 ? "pp" : "tg";
    r->n_prompt = P, r->n_gen = N, r->reps = reps, r->n_threads = mm_pool_n_threads(pool);
    r->flops = P > 0 ? eval_flops(bi, 0, P, 1) : 0;
    for (int64_t k = 0; k < N; k++) r->flops += eval_flops(bi, k, 1, 1);
    /* warm-up */
    mm_gpt_state_reset(s);
    if (mm_gpt_eval_tokens(s, toks, P > 0 ? (P < 512 ? P : 512) : 1, NULL, err) != 0)
        return mm_cli_fail(MM_EXIT_MODEL, "bench: %s", err);
    for (int rep = 0; rep < reps; rep++) {
        mm_gpt_state_reset(s);
        r->bw[rep] = bw_pass(pool, bwb);
        double t0 = mm_time_ms();
        if (P > 0) {
            if (mm_gpt_eval_tokens(s, toks, P, NULL, err) != 0) return mm_cli_fail(MM_EXIT_MODEL, "bench: %s", err);
        } else {
            for (int64_t k = 0; k < N; k++)
                if (mm_gpt_eval_tokens(s, &toks[k], 1, NULL, err) != 0) return mm_cli_fail(MM_EXIT_MODEL, "bench: %s", err);
        }
        double ms = mm_time_ms() - t0;
        r->ns[rep] = ms * 1e6;
        r->ts[rep] = (double)(P > 0 ? P : N) / (ms * 1e-3);
        r->roof[rep] = r->bw[rep] > 0 ? r->ts[rep] * (double)bi->wbytes / (r->bw[rep] * 1e9) : 0;
    }
    mm_gpt_state_reset(s);
    return MM_EXIT_OK;
}

/* tg<N>x<B>: B states (empty caches) advance together N times, one mm_gpt_batch_eval per step; token k of
 * sequence i is toks[(k + 31 i) % n_tok] (distinct sequences). Warm-up: one step. */
static int run_batch_test(const bench_info *bi, mm_gpt_batch *b, mm_gpt_state *const *st, int B, const int32_t *toks,
                          int64_t n_tok, int64_t N, int reps, const bw_buf *bwb, test_result *r) {
    char err[MM_ERR_SIZE];
    mm_gpt_input in[MM_GPT_BATCH_MAX];
    mm_pool *pool = mm_gpt_state_pool(st[0]);
    memset(r, 0, sizeof *r);
    r->name = "tg";
    r->n_gen = N, r->n_par = B, r->reps = reps, r->n_threads = mm_pool_n_threads(pool);
    for (int64_t k = 0; k < N; k++) r->flops += (double)B * eval_flops(bi, k, 1, 1);
    for (int rep = -1; rep < reps; rep++) {   /* rep -1: warm-up */
        for (int i = 0; i < B; i++) mm_gpt_state_reset(st[i]);
        if (rep >= 0) r->bw[rep] = bw_pass(pool, bwb);
        const int64_t steps = rep < 0 ? 1 : N;
        double t0 = mm_time_ms();
        for (int64_t k = 0; k < steps; k++) {
            for (int i = 0; i < B; i++) in[i] = (mm_gpt_input){.token = toks[(k + 31 * i) % n_tok], .embd = NULL};
            if (mm_gpt_batch_eval(b, st, in, B, NULL, err) != 0) return mm_cli_fail(MM_EXIT_MODEL, "bench: %s", err);
        }
        double ms = mm_time_ms() - t0;
        if (rep < 0) continue;
        r->ns[rep] = ms * 1e6;
        r->ts[rep] = (double)B * (double)N / (ms * 1e-3);
        r->roof[rep] = r->bw[rep] > 0 ? r->ts[rep] / B * (double)bi->wbytes / (r->bw[rep] * 1e9) : 0;
    }
    for (int i = 0; i < B; i++) mm_gpt_state_reset(st[i]);
    return MM_EXIT_OK;
}

/* the B states of the -npl tests, on the pool of s (borrowed), and their batch; all freed by batch_free */
typedef struct {
    mm_gpt_state *st[MM_GPT_BATCH_MAX];
    int n;
    mm_gpt_batch *b;
} bench_batch;

static void batch_free(bench_batch *bb) {
    mm_gpt_batch_free(bb->b);
    for (int i = 0; i < bb->n; i++) mm_gpt_state_free(bb->st[i]);
    memset(bb, 0, sizeof *bb);
}

static int batch_create(const mm_gpt_model *m, mm_gpt_state *s, int B, int64_t n_ctx, bool kv_f16, bench_batch *bb) {
    char err[MM_ERR_SIZE];
    mm_gpt_state_params sp = mm_gpt_state_default_params();
    sp.pool = mm_gpt_state_pool(s), sp.n_ctx = n_ctx, sp.kv_f16 = kv_f16;
    for (bb->n = 0; bb->n < B; bb->n++)
        if (!(bb->st[bb->n] = mm_gpt_state_create(m, sp, err))) return mm_cli_fail(MM_EXIT_INTERNAL, "bench: %s", err);
    if (!(bb->b = mm_gpt_batch_create(m, B, sp.pool, err))) return mm_cli_fail(MM_EXIT_INTERNAL, "bench: %s", err);
    return MM_EXIT_OK;
}

/* ---------------------------------------------------------------- encoder tests */
static int run_image_test(const char *mpath, const mm_gguf *g, const char *file, int threads, int reps, test_result *r) {
    char err[MM_ERR_SIZE];
    int rc = MM_EXIT_OK;
    mm_vit_model *m = NULL;
    mm_vit_state *st = NULL;
    mm_pool *pool = NULL;
    float *out = NULL;
    mm_image img = {0};
    memset(r, 0, sizeof *r);
    r->name = "image", r->reps = reps;
    if (!(m = mm_vit_model_load(g, err))) {
        rc = mm_cli_fail(MM_EXIT_MODEL, "%s: %s", mpath, err);
        goto done;
    }
    if (mm_image_load_file(file, &img, err)) {
        rc = mm_cli_fail(MM_EXIT_INPUT, "%s", err);
        goto done;
    }
    if (!(pool = mm_pool_create(threads, err)) || !(st = mm_vit_state_create(m, pool, err))) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "bench: %s", err);
        goto done;
    }
    r->n_threads = mm_pool_n_threads(pool);
    r->n_out = mm_vit_n_tokens(m);
    if (!(out = malloc((size_t)r->n_out * (size_t)mm_vit_d_enc(m) * sizeof *out))) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "bench: out of memory");
        goto done;
    }
    for (int rep = -1; rep < reps; rep++) {   /* rep -1: warm-up */
        double t0 = mm_time_ms();
        int erc = mm_vit_encode_image(st, &img, NULL, out, err);
        if (erc) {
            rc = mm_cli_fail(erc == MM_ERR_NONFINITE ? MM_EXIT_MODEL : MM_EXIT_INPUT, "%s: %s", file, err);
            goto done;
        }
        double ms = mm_time_ms() - t0;
        if (rep >= 0) r->ns[rep] = ms * 1e6, r->ts[rep] = 1e3 / ms;
    }
done:
    free(out);
    mm_image_free(&img);
    mm_vit_state_free(st);
    mm_pool_free(pool);
    mm_vit_model_free(m);
    return rc;
}

static int run_audio_test(const char *mpath, const mm_gguf *g, const char *file, int threads, int reps, test_result *r) {
    char err[MM_ERR_SIZE];
    int rc = MM_EXIT_OK;
    mm_audio_model *am = NULL;
    mm_audio_state *st = NULL;
    mm_pool *pool = NULL;
    mm_audio_pcm pcm;
    memset(&pcm, 0, sizeof pcm);
    memset(r, 0, sizeof *r);
    r->name = "audio", r->reps = reps;
    mm_audio_load_params lp = mm_audio_load_default_params();
    if (!(am = mm_audio_model_load(g, err))) {
        rc = mm_cli_fail(MM_EXIT_MODEL, "%s: %s", mpath, err);
        goto done;
    }
    if (mm_audio_load_file(file, &lp, &pcm, err) || mm_audio_check_length(pcm.n_samples, err)) {
        rc = mm_cli_fail(MM_EXIT_INPUT, "%s: %s", file, err);
        goto done;
    }
    if (!(pool = mm_pool_create(threads, err)) || !(st = mm_audio_state_create(am, pool, err))) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "bench: %s", err);
        goto done;
    }
    r->n_threads = mm_pool_n_threads(pool);
    for (int rep = -1; rep < reps; rep++) {   /* rep -1: warm-up */
        float *emb = NULL;
        int64_t n_out = 0, nf = 0;
        double t0 = mm_time_ms();
        int erc = mm_audio_encode_pcm(st, pcm.samples, pcm.n_samples, &emb, &n_out, NULL, &nf, err);
        double ms = mm_time_ms() - t0;
        free(emb);
        if (erc) {
            rc = mm_cli_fail(erc == MM_ERR_NONFINITE ? MM_EXIT_MODEL : MM_EXIT_INPUT, "%s: %s", file, err);
            goto done;
        }
        r->n_out = n_out;
        if (rep >= 0) r->ns[rep] = ms * 1e6, r->ts[rep] = 1e3 / ms;
    }
done:
    mm_audio_state_free(st);
    mm_pool_free(pool);
    mm_audio_pcm_free(&pcm);
    mm_audio_model_free(am);
    return rc;
}

/* ---------------------------------------------------------------- model description */
static void describe(const mm_gguf *g, const mm_gpt_model *m, bench_info *bi) {
    for (int64_t i = 0; i < mm_gguf_n_tensors(g); i++) {
        const mm_gguf_tensor *t = mm_gguf_tensor_at(g, i);
        if (is_encoder_tensor(t->name)) continue;
        bi->model_size += t->n_bytes;
        bi->model_n_params += (uint64_t)t->n_elements;
        if (!strncmp(t->name, "blk.", 4) && t->n_dims == 2) bi->blk_params += (double)t->n_elements;
    }
    const mm_gguf_tensor *out = mm_gguf_find_tensor(g, "output.weight");
    if (!out) out = mm_gguf_find_tensor(g, "token_embd.weight");
    bi->out_params = out ? (double)out->n_elements : 0;
    const mm_gpt_hparams *hp = mm_gpt_model_hparams(m);
    bi->n_layer = hp->n_layer, bi->n_head = hp->n_head, bi->d_head = hp->d_head;
    bi->wbytes = mm_gpt_model_bytes_per_token(m);
    const char *arch = "?";
    size_t alen = 1;
    if (mm_gguf_get_str(g, "general.architecture", &arch, &alen) != 0) arch = "?", alen = 1;
    char size[16];
    double np = (double)bi->model_n_params;
    if (np >= 1e9) snprintf(size, sizeof size, "%.1fB", np / 1e9);
    else snprintf(size, sizeof size, "%.0fM", np / 1e6);
    uint32_t ft = 0;   /* llama-bench names the file type (q4_k_m); without one, the type of the block matrices */
    const char *ftn = mm_gguf_get_u32(g, "general.file_type", &ft) == 0 ? mm_gguf_ftype_name((int)ft) : NULL;
    snprintf(bi->model_type, sizeof bi->model_type, "%.*s %s %s", (int)(alen < 40 ? alen : 40), arch, size,
             ftn ? ftn : mm_type_name(mm_gpt_model_type(m)));
    for (char *c = bi->model_type; *c; c++)   /* the architecture string comes from the file */
        if ((unsigned char)*c < 0x20) *c = '?';
}

/* ---------------------------------------------------------------- main */
static int bench(mm_task_opts *o) {
    const long *pp = o->n_prompt.v, *tg = o->n_gen.v, *th = o->threads_list.v, *npl = o->n_parallel.v,
               reps = o->repetitions, bw_mib = o->bw_mib;
    const int   n_pp = o->n_prompt.n, n_tg = o->n_gen.n, n_th = o->threads_list.n, n_npl = o->n_parallel.n;
    const char *model_arg = o->model, *mmproj = o->mmproj, *image = NULL, *audio = NULL;
    const bool  kv_f16 = o->kv_f16;
    for (int i = 0; i < o->n_media; i++) /* the last of each kind */
        *(o->kinds[i] == MMGPT_MEDIA_IMAGE ? &image : &audio) = o->media[i];
    bench_info bi;
    memset(&bi, 0, sizeof bi);
    bi.json = o->json;
    const char *mpath = mm_cli_model_path(model_arg);
    if (!mpath) return MM_EXIT_MODEL;
    bi.file = mpath;
    bi.kv_type = kv_f16 ? "f16" : "f32";
    cpu_name(bi.cpu, sizeof bi.cpu);

    char err[MM_ERR_SIZE];
    int rc = MM_EXIT_OK;
    mm_gguf *g = NULL, *gp = NULL;
    mm_gpt_model *m = NULL;
    mm_gpt_state *s = NULL;
    int32_t *toks = NULL;
    bw_buf bwb = {NULL, 0};
    test_result r;
    bench_batch bb;
    memset(&bb, 0, sizeof bb);
    bool header = false;
    if (!(g = mm_gguf_open(mpath, err))) {
        rc = mm_cli_fail(MM_EXIT_MODEL, "%s", err);
        goto done;
    }
    if (!(m = mm_gpt_model_load(g, err)) && !image && !audio) {
        rc = mm_cli_fail(MM_EXIT_MODEL, "%s", err);
        goto done;
    }
    if (m) {
        describe(g, m, &bi);
        int64_t need = 0;
        for (int i = 0; i < n_pp; i++) need = pp[i] > need ? pp[i] : need;
        for (int i = 0; i < n_tg; i++) need = tg[i] > need ? tg[i] : need;
        if (need > mm_gpt_model_n_ctx(m)) {
            rc = mm_cli_fail(MM_EXIT_USAGE, "bench: a test of %lld tokens does not fit the model's context of %lld: give "
                             "-p and -n at most %lld (defaults -p 512 -n 128)", (long long)need,
                             (long long)mm_gpt_model_n_ctx(m), (long long)mm_gpt_model_n_ctx(m));
            goto done;
        }
        bwb.n = (int64_t)bw_mib << 18;   /* floats */
        toks = malloc((size_t)(need > 0 ? need : 1) * sizeof *toks);
        bwb.buf = aligned_alloc(64, (size_t)bwb.n * sizeof(float));
        if (!toks || !bwb.buf) {
            rc = mm_cli_fail(MM_EXIT_INTERNAL, "bench: out of memory");
            goto done;
        }
        bench_fill(bwb.buf, bwb.n, 1);
        mm_rng rng;
        mm_rng_seed(&rng, 1234);
        for (int64_t i = 0; i < (need > 0 ? need : 1); i++) toks[i] = (int32_t)(mm_rng_next(&rng) % (uint64_t)mm_gpt_model_n_vocab(m));
        for (int ti = 0; ti < n_th && rc == MM_EXIT_OK; ti++) {
            mm_gpt_state_params sp = mm_gpt_state_default_params();
            sp.n_threads = (int)th[ti];
            sp.n_ctx = need > 0 ? need : 1;
            sp.kv_f16 = kv_f16;
            if (!(s = mm_gpt_state_create(m, sp, err))) {
                rc = mm_cli_fail(MM_EXIT_INTERNAL, "bench: %s", err);
                goto done;
            }
            if (!header) print_header(&bi), header = true;
            for (int k = 0; k < n_pp + n_tg && rc == MM_EXIT_OK; k++) {
                int64_t P = k < n_pp ? pp[k] : 0, N = k < n_pp ? 0 : tg[k - n_pp];
                if (P == 0 && N == 0) continue;
                fprintf(stderr, "bench: %s%lld, threads %d ...\n", P ? "pp" : "tg", (long long)(P ? P : N),
                        mm_pool_n_threads(mm_gpt_state_pool(s)));
                rc = run_decoder_test(&bi, s, toks, P, N, (int)reps, &bwb, &r);
                if (rc == MM_EXIT_OK) print_result(&bi, &r);
            }
            int64_t max_tg = 0;
            long max_b = 0;
            for (int k = 0; k < n_tg; k++) max_tg = tg[k] > max_tg ? tg[k] : max_tg;
            for (int k = 0; k < n_npl; k++) max_b = npl[k] > max_b ? npl[k] : max_b;
            if (rc == MM_EXIT_OK && max_tg > 0 && max_b > 0)
                rc = batch_create(m, s, (int)max_b, max_tg, kv_f16, &bb);
            for (int k = 0; k < n_tg && max_b > 0 && rc == MM_EXIT_OK; k++)
                for (int q = 0; q < n_npl && tg[k] > 0 && rc == MM_EXIT_OK; q++) {
                    fprintf(stderr, "bench: tg%lld x %ld sequences, threads %d ...\n", (long long)tg[k], npl[q],
                            mm_pool_n_threads(mm_gpt_state_pool(s)));
                    rc = run_batch_test(&bi, bb.b, bb.st, (int)npl[q], toks, need, tg[k], (int)reps, &bwb, &r);
                    if (rc == MM_EXIT_OK) print_result(&bi, &r);
                }
            batch_free(&bb);
            mm_gpt_state_free(s);
            s = NULL;
        }
    } else {
        snprintf(bi.model_type, sizeof bi.model_type, "encoders");
    }
    if (rc == MM_EXIT_OK && (image || audio)) {
        const char *epath = mmproj ? mmproj : mpath;
        if (mmproj && !(gp = mm_gguf_open(mmproj, err))) {
            rc = mm_cli_fail(MM_EXIT_MODEL, "%s", err);
            goto done;
        }
        if (!header) print_header(&bi), header = true;
        for (int ti = 0; ti < n_th && rc == MM_EXIT_OK; ti++) {
            if (image && (rc = run_image_test(epath, gp ? gp : g, image, (int)th[ti], (int)reps, &r)) == MM_EXIT_OK)
                print_result(&bi, &r);
            if (rc == MM_EXIT_OK && audio &&
                (rc = run_audio_test(epath, gp ? gp : g, audio, (int)th[ti], (int)reps, &r)) == MM_EXIT_OK)
                print_result(&bi, &r);
        }
    }
    if (rc == MM_EXIT_OK && (fflush(stdout) || ferror(stdout))) rc = mm_cli_fail(MM_EXIT_INTERNAL, "bench: cannot write stdout");
done:
    free(bwb.buf);
    free(toks);
    batch_free(&bb);   /* (before s: its states borrow s's pool) */
    mm_gpt_state_free(s);
    mm_gpt_model_free(m);
    mm_gguf_close(gp);
    mm_gguf_close(g);
    return rc;
}

static void bench_defaults(mm_task_opts *o) {
    o->lists = true; /* -t 1,2,4: each thread count */
    o->n_prompt = (mm_opt_list){{512}, 1};
    o->n_gen = (mm_opt_list){{128}, 1};
    o->threads_list = (mm_opt_list){{0}, 1};
    o->repetitions = 3;
    o->bw_mib = 256;
}

static const mm_cmd_spec k_bench = {
    .name = "bench",
    .usage = "-m FILE [options]",
    .about = "Measure the decoder of FILE as llama-bench does: pp<P> = one P-token prompt evaluation, tg<N> = N\n"
             "single-token steps from an empty cache; a warm-up run, then -r repetitions (cache reset before\n"
             "each). Every test must fit the model's context (a 256-position model: -p 128 -n 64).\n"
             "Adds the weight bytes read per token, the fraction of the machine's read bandwidth (measured in the\n"
             "run) that tg reaches, and the GFLOP/s of the work done (only the logits computed are counted).\n"
             "-p and -n are llama-bench's (prompt lengths, generated tokens; also --n-prompt, --n-gen).\n"
             "-npl B,... adds tg<N>x<B>: B sequences decoded together (one pass over the weights per step), the\n"
             "aggregate t/s of B x N tokens, as llama-batched-bench's S_TG.\n",
    .opts = (const mm_opt_id[]){MM_O_MODEL, MM_O_MMPROJ, MM_O_THREADS, MM_O_KV_F16, MM_O_CACHE_TYPE_K, MM_O_CACHE_TYPE_V, MM_O_IMAGE, MM_O_AUDIO,
                                MM_O_JSON, MM_O_N_PROMPT, MM_O_N_GEN, MM_O_N_PARALLEL, MM_O_REPETITIONS, MM_O_BW_MIB, MM_O_COUNT},
    .texts = (const mm_opt_text[]){{MM_O_THREADS, "; a comma-separated list (1,2,4): each"},
                                   {MM_O_IMAGE, "also time the image encoder on FILE (per item)"},
                                   {MM_O_AUDIO, "also time the audio encoder on FILE (per item)"},
                                   {MM_O_JSON, "one JSON object per test per line (llama-bench's jsonl fields + mmgpt's)"},
                                   {MM_O_COUNT, NULL}},
    .min_pos = 0,
    .max_pos = 0,
    .defaults = bench_defaults,
    .exits = MM_CMD_TOOL_EXITS,
};

int mm_cmd_bench(int argc, char **argv) { return mm_cmd_main(&k_bench, argc, argv, bench); }
