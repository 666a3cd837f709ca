/* cmd_params.c - `mmgpt params --arch NAME [--json]`: parameter / byte accounting of a named GPT shape;
 * `mmgpt params -m FILE [-c N] [--json]`: the parameters and memory of any GGUF file (its tensors by group and
 * type; for a decoder the KV cache at -c N). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mm_gguf.h"
#include "mm_transformer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mmgpt params --arch NAME [--json]\n"
            "       mmgpt params -m FILE.gguf [-c N] [--json]\n\n"
            "Print the parameter accounting of a named GPT shape: weight matrices counted the GPT-3 paper's way\n"
            "(embedding; per-head query, key and value; output, up- and down-projection per layer; unembedding),\n"
            "then the full count with biases, layer norms and position embeddings, the bytes at F32/F16/Q8_0/Q4_0\n"
            "and the KV cache at full context. `mmgpt info MODEL.gguf` prints the same table for a gpt2 file.\n"
            "With -m: the parameters and bytes of any GGUF file by group (embedding, attention, feed-forward,\n"
            "norms, biases, output, encoders/projectors) and by type; for a decoder file (gpt2, llama, qwen2)\n"
            "its shape and the KV cache at -c N (default min(trained context, 4096)) and at the trained context.\n\n"
            "options:\n"
            "  --arch NAME  one of:");
    for (int i = 0; mm_gpt_arch_name(i); i++) fprintf(f, "%s %s", i % 6 == 0 ? "\n              " : "", mm_gpt_arch_name(i));
    fprintf(f,
            "\n  -m FILE      a GGUF file instead of a named shape\n"
            "  -c N         with -m: KV-cache positions (default min(trained context, 4096))\n"
            "  --all        every known shape\n"
            "  --json       one JSON object per shape\n"
            "  -h, --help   this help\n\n"
            "exit codes: 0 ok, 2 bad arguments, 4 invalid file\n");
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
    if (!json) printf("%s\n", path);
    fputs(buf, stdout);
    free(buf);
    mm_gguf_close(g);
    return MM_EXIT_OK;
}

int mm_cmd_params(int argc, char **argv) {
    const char *arch = NULL, *file = NULL;
    long n_ctx = 0;
    bool json = false, all = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return MM_EXIT_OK;
        } else if (!strcmp(a, "--arch") || !strcmp(a, "-a")) {
            if (!(arch = mm_cli_value(argc, argv, &i))) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(file = mm_cli_value(argc, argv, &i))) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            const char *v = mm_cli_value(argc, argv, &i);
            if (!v || !mm_cli_int("-c", v, 1, 1L << 24, &n_ctx)) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--all")) {
            all = true;
        } else {
            return mm_cli_fail(MM_EXIT_USAGE, "params: unknown option '%s' (see mmgpt params --help)", a);
        }
    }
    if (!arch && !all && !file)
        return mm_cli_fail(MM_EXIT_USAGE, "params: missing --arch NAME or -m FILE (see mmgpt params --help)");
    int rc = MM_EXIT_OK;
    if (file) {
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
