/* cmd_params.c - `mmgpt params --arch NAME [--json]`: parameter / byte accounting of a named GPT shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mm_transformer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mmgpt params --arch NAME [--json]\n\n"
            "Print the parameter accounting of a named GPT shape: weight matrices counted the GPT-3 paper's way\n"
            "(embedding; per-head query, key and value; output, up- and down-projection per layer; unembedding),\n"
            "then the full count with biases, layer norms and position embeddings, the bytes at F32/F16/Q8_0/Q4_0\n"
            "and the KV cache at full context. `mmgpt info MODEL.gguf` prints the same table for a gpt2 file.\n\n"
            "options:\n"
            "  --arch NAME  one of:");
    for (int i = 0; mm_gpt_arch_name(i); i++) fprintf(f, "%s %s", i % 6 == 0 ? "\n              " : "", mm_gpt_arch_name(i));
    fprintf(f,
            "\n  --all        every known shape\n"
            "  --json       one JSON object per shape\n"
            "  -h, --help   this help\n\n"
            "exit codes: 0 ok, 2 bad arguments\n");
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

int mm_cmd_params(int argc, char **argv) {
    const char *arch = NULL;
    bool json = false, all = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return MM_EXIT_OK;
        } else if (!strcmp(a, "--arch") || !strcmp(a, "-a")) {
            if (!(arch = mm_cli_value(argc, argv, &i))) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--all")) {
            all = true;
        } else {
            return mm_cli_fail(MM_EXIT_USAGE, "params: unknown option '%s' (see mmgpt params --help)", a);
        }
    }
    if (!arch && !all) return mm_cli_fail(MM_EXIT_USAGE, "params: missing --arch NAME (see mmgpt params --help)");
    int rc = MM_EXIT_OK;
    if (all) {
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
