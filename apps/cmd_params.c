/* cmd_params.c - `mmgpt params --arch NAME [--json]`: parameter / byte accounting of a named GPT shape;
 * `mmgpt params -m FILE [-c N] [--json]`: the parameters and memory of any GGUF file (its tensors by group and
 * type; for a decoder the KV cache at -c N); with --arch A --ranks N|auto: the pipeline plan (mm_dist.h):
 * each rank's layers, weights, KV cache, fits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "mm_dist.h"
#include "mm_gguf.h"
#include "mm_transformer.h"

/* "24GiB", "24 GiB", "64GB", "5e9", "512MiB": bytes (binary KiB..TiB, decimal kB..TB) */
static bool parse_mem(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0) || !isfinite(v)) return false;
    while (*end == ' ') end++;
    static const struct { const char *u; double f; } k[] = {
        {"", 1}, {"B", 1}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
        {"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (!strcmp(end, k[i].u)) {
            *out = v * k[i].f;
            return *out < 1e18;
        }
    return false;
}

typedef struct {
    const char *ranks, *type, *mem, *split;
    long        ctx, batch;
    bool        kv_f16;
} plan_opts;

static int print_plan(const char *name, const plan_opts *o, bool json) {
    char err[MM_ERR_SIZE];
    mm_gpt_hparams hp;
    if (mm_gpt_arch_hparams(name, &hp, err) != 0) return mm_cli_fail(MM_EXIT_USAGE, "params: %s", err);
    mm_dist_plan_params p = mm_dist_plan_default_params();
    if (o->type) {
        int t = mm_type_from_name(o->type);
        if (t < 0) return mm_cli_fail(MM_EXIT_USAGE, "params: --type '%s' is not a computable type (%s)", o->type,
                                      mm_type_supported_names());
        p.type = (mm_type)t;
    }
    if (o->mem && !parse_mem(o->mem, &p.mem_bytes))
        return mm_cli_fail(MM_EXIT_USAGE, "params: --mem '%s': expected a size such as 24GiB, 64GB or 5e9", o->mem);
    p.kv_f16 = o->kv_f16;
    p.n_ctx = o->ctx;
    p.n_batch = o->batch;
    if (p.n_ctx > hp.n_ctx)
        return mm_cli_fail(MM_EXIT_USAGE, "params: -c %ld is above %s's context %lld", o->ctx, name,
                           (long long)hp.n_ctx);
    long n;
    if (!strcmp(o->ranks, "auto")) {
        if (!o->mem) return mm_cli_fail(MM_EXIT_USAGE, "params: --ranks auto needs --mem SIZE");
        if (o->split) return mm_cli_fail(MM_EXIT_USAGE, "params: --ranks auto and --layer-split exclude each other");
        n = mm_dist_plan_auto(&hp, p, err);
        if (n < 0) return mm_cli_fail(MM_EXIT_INPUT, "params: %s: %s", name, err);
    } else if (!mm_cli_int("--ranks", o->ranks, 1, (long)hp.n_layer, &n)) {
        return MM_EXIT_USAGE;
    }
    int64_t *first = calloc((size_t)n + 1, sizeof *first);
    mm_dist_rank_plan *pl = calloc((size_t)n, sizeof *pl);
    if (!first || !pl) {
        free(first), free(pl);
        return mm_cli_fail(MM_EXIT_INTERNAL, "params: out of memory");
    }
    int bad = o->split ? mm_dist_split_parse(o->split, hp.n_layer, (int)n, first, err) : 0;
    if (bad == 0) bad = mm_dist_plan_arch(&hp, (int)n, p, o->split ? first : NULL, pl, err);
    if (bad < 0) {
        free(first), free(pl);
        return mm_cli_fail(MM_EXIT_USAGE, "params: %s", err);
    }
    const double C = (double)(p.n_ctx ? p.n_ctx : hp.n_ctx);
    if (json) {
        printf("{\"name\": \"%s\", \"type\": \"%s\", \"ranks\": %ld, \"mem_bytes\": %.0f, \"n_ctx\": %.0f, "
               "\"kv_f16\": %s, \"layer_bytes\": %.0f, \"rank0_extra_bytes\": %.0f, \"fits\": %s, \"plan\": [",
               name, mm_type_name(p.type), n, p.mem_bytes, C, p.kv_f16 ? "true" : "false",
               mm_dist_layer_bytes(&hp, p.type), mm_dist_rank0_extra_bytes(&hp, p.type), bad ? "false" : "true");
        for (long r = 0; r < n; r++)
            printf("%s\n  {\"rank\": %ld, \"layer_begin\": %lld, \"layer_end\": %lld, \"weight_bytes\": %.0f, "
                   "\"kv_bytes\": %.0f, \"act_bytes\": %.0f, \"total_bytes\": %.0f, \"fits\": %s}",
                   r ? "," : "", r, (long long)pl[r].layer_begin, (long long)pl[r].layer_end, pl[r].weight_bytes,
                   pl[r].kv_bytes, pl[r].act_bytes, pl[r].total_bytes, pl[r].fits ? "true" : "false");
        printf("]}\n");
    } else {
        const double G = 1073741824.0;
        printf("%s at %s over %ld rank%s: KV cache %s at n_ctx %.0f", name, mm_type_name(p.type), n, n > 1 ? "s" : "",
               p.kv_f16 ? "f16" : "f32", C);
        if (p.mem_bytes > 0) printf(", %.2f GiB per rank", p.mem_bytes / G);
        printf("%s\n\n", o->split ? " (--layer-split)" : " (layers balanced by bytes)");
        printf("%-5s %-15s %12s %12s %12s %12s  %s\n", "rank", "layers", "weights", "KV cache", "activations", "total",
               p.mem_bytes > 0 ? "fits" : "");
        for (long r = 0; r < n; r++) {
            char lay[40];
            snprintf(lay, sizeof lay, "%lld-%lld (%lld)", (long long)pl[r].layer_begin,
                     (long long)pl[r].layer_end - 1, (long long)(pl[r].layer_end - pl[r].layer_begin));
            printf("%-5ld %-15s %8.2f GiB %8.2f GiB %8.2f GiB %8.2f GiB  %s\n", r, lay, pl[r].weight_bytes / G,
                   pl[r].kv_bytes / G, pl[r].act_bytes / G, pl[r].total_bytes / G,
                   p.mem_bytes > 0 ? (pl[r].fits ? "yes" : "NO") : "");
        }
        if (p.mem_bytes > 0)
            printf("\n%s\n", bad ? "does not fit: add ranks (--ranks auto finds the smallest number), use --kv-f16 "
                                    "or a smaller --ctx / --type"
                                  : "every rank fits");
    }
    free(first), free(pl);
    return MM_EXIT_OK;
}

static int print_one(const char *name, bool json) {
    char err[MM_ERR_SIZE];
    mm_gpt_hparams hp;
    if (mm_gpt_arch_hparams(name, &hp, err) != 0) return mm_cli_fail(MM_EXIT_USAGE, "params: %s", err);
    mm_gpt_accounting acc;
    mm_gpt_accounting_compute(&hp, &acc);
    int n = mm_gpt_accounting_format(name, &hp, &acc, json, NULL, 0);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf) return mm_cli_fail(MM_EXIT_INTERNAL, "params: out of memory");
    mm_gpt_accounting_format(name, &hp, &acc, json, buf, (size_t)n + 1);
    fputs(buf, stdout);
    free(buf);
    return MM_EXIT_OK;
}

static int print_file(const char *path, long n_ctx, bool json) {
    char err[MM_ERR_SIZE];
    mm_gguf *g = mm_gguf_open(path, err);
    if (!g) return mm_cli_fail(MM_EXIT_MODEL, "%s", err);
    int n = mm_gpt_file_accounting_format(g, n_ctx, json, NULL, 0);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf) {
        mm_gguf_close(g);
        return mm_cli_fail(MM_EXIT_INTERNAL, "params: out of memory");
    }
    mm_gpt_file_accounting_format(g, n_ctx, json, buf, (size_t)n + 1);
    char *u = json ? NULL : mm_cli_utf8(path); /* a file name is bytes: stdout is UTF-8 */
    if (u) printf("%s\n", u);
    free(u);
    fputs(buf, stdout);
    free(buf);
    mm_gguf_close(g);
    return MM_EXIT_OK;
}

static int params(mm_task_opts *o) {
    const char *arch = o->arch, *file = o->model;
    const long  n_ctx = o->n_ctx;
    const bool  json = o->json, all = o->all;
    plan_opts   po = {o->ranks, o->type, o->mem, o->layer_split, o->n_ctx, o->batch, o->kv_f16};
    if (!arch && !all && !file)
        return mm_cli_fail(MM_EXIT_USAGE, "params: missing --arch NAME or -m FILE (see mmgpt params --help)");
    if (!po.ranks && (po.type || po.mem || po.split || po.batch || po.kv_f16))
        return mm_cli_fail(MM_EXIT_USAGE, "params: --type, --mem, --layer-split, --batch and --kv-f16 "
                           "go with --ranks N|auto");
    if (!po.ranks && !file && n_ctx)
        return mm_cli_fail(MM_EXIT_USAGE, "params: -c N goes with -m FILE or --ranks N|auto");
    if (po.ranks && (all || !arch))
        return mm_cli_fail(MM_EXIT_USAGE, "params: --ranks plans one named shape: give --arch NAME");
    int rc = MM_EXIT_OK;
    if (po.ranks) {
        rc = print_plan(arch, &po, json);
    } else if (file) {
        rc = print_file(file, n_ctx, json);
    } else if (all) {
        for (int i = 0; mm_gpt_arch_name(i) && rc == MM_EXIT_OK; i++) {
            if (i && !json) fputs("\n", stdout);
            rc = print_one(mm_gpt_arch_name(i), json);
        }
    } else {
        rc = print_one(arch, json);
    }
    if (rc == MM_EXIT_OK && (fflush(stdout) || ferror(stdout)))
        return mm_cli_fail(MM_EXIT_INTERNAL, "params: cannot write stdout");
    return rc;
}

static const mm_cmd_spec k_params = {
    .name = "params",
    .usage = "--arch NAME [--json]\n"
             "       mmgpt params -m FILE.gguf [-c N] [--json]\n"
             "       mmgpt params --arch NAME --ranks N|auto [--mem SIZE] [plan options]",
    .about = "Print the parameter accounting of a named GPT shape: weight matrices counted the GPT-3 paper's way\n"
             "(embedding; per-head query, key and value; output, up- and down-projection per layer; unembedding),\n"
             "then the full count with biases, layer norms and position embeddings, the bytes at F32/F16/Q8_0/Q4_0\n"
             "and the KV cache at full context. `mmgpt info MODEL.gguf` prints the same table for a gpt2 file.\n"
             "With -m: the parameters and bytes of any GGUF file by group (embedding, attention, feed-forward,\n"
             "norms, biases, output, encoders/projectors) and by type; for a decoder file (gpt2, llama, qwen2)\n"
             "its shape and the KV cache at -c N (default min(trained context, 4096)) and at the trained context.\n"
             "With --ranks: the pipeline plan (mpirun -np N mmgpt ...; layers split over ranks, see\n"
             "docs/SCALING.md): per rank, weights (rank 0 adds the embeddings; the unembedding is tied), KV cache\n"
             "at full context, activations, and whether their sum fits in --mem.\n",
    .opts = (const mm_opt_id[]){MM_O_MODEL, MM_O_CTX_SIZE, MM_O_KV_F16, MM_O_CACHE_TYPE_K, MM_O_CACHE_TYPE_V, MM_O_JSON, MM_O_ARCH, MM_O_ALL, MM_O_RANKS,
                                MM_O_TYPE, MM_O_MEM, MM_O_LAYER_SPLIT, MM_O_BATCH, MM_O_COUNT},
    .texts = (const mm_opt_text[]){{MM_O_MODEL, "to account instead of a named shape (default: none)"},
                                   {MM_O_CTX_SIZE, " of the KV cache: -m FILE's (default 0 = min(trained context, "
                                                   "4096)) or the --ranks plan's (default 0 = the shape's)"},
                                   {MM_O_JSON, "one JSON object per shape"},
                                   {MM_O_COUNT, NULL}},
    .min_pos = 0,
    .max_pos = 0,
    .exits = "exit codes: 0 ok; 2 usage (bad option or value out of its range, a missing argument, an unknown\n"
             "  shape or type); 3 input (--ranks auto: no number of ranks fits); 4 model (missing or invalid\n"
             "  file); 5 internal (out of memory, cannot write the output)\n",
};

int mm_cmd_params(int argc, char **argv) { return mm_cmd_main(&k_params, argc, argv, params); }
