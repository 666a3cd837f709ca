/* cmd_logits.c - `mmgpt logits -m MODEL -p TEXT -o OUT.npy`: logits of every prompt position as float32
 * .npy [n_tokens, n_vocab]. The prompt is tokenized as plain text (special-token text is ordinary text);
 * BOS is prepended only when the file sets tokenizer.ggml.add_bos_token. With --image/--audio the
 * multimodal path (fusion's task_cli) runs instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mm_gguf.h"
#include "mm_tokenizer.h"
#include "mm_transformer.h"
#include "task_cli.h"
#include "text_model.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mmgpt logits [-m MODEL.gguf] -p TEXT -o OUT.npy [-t THREADS]\n\n"
            "Write the logits of every position of the tokenized prompt as a float32 .npy array of shape\n"
            "[n_tokens, n_vocab]. The prompt is plain text (no chat template, <|endoftext|> is not parsed);\n"
            "BOS is added only when the model file sets tokenizer.ggml.add_bos_token.\n"
            "With --image F / --audio F the media embeddings enter the prompt (see mmgpt caption --help).\n\n"
            "options:\n"
            "  -m, --model MODEL.gguf  model (default: $MMGPT_MODEL or the bundled model)\n"
            "  -p, --prompt TEXT       the text\n"
            "  -o, --output OUT.npy    output file\n"
            "  -t, --threads N         " MM_CLI_THREADS_HELP "\n"
            "  -h, --help              this help\n\n"
            "exit codes: 0 ok, 2 bad arguments, 4 model missing or invalid, 5 internal / cannot write\n");
}

int mm_cmd_logits(int argc, char **argv) {
    if (mm_task_has_media_args(argc, argv)) return mm_task_logits_main(argc, argv);
    const char *model = NULL, *prompt = NULL, *out = NULL;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return MM_EXIT_OK;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model = mm_cli_value(argc, argv, &i))) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(prompt = mm_cli_value(argc, argv, &i))) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = mm_cli_value(argc, argv, &i))) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            const char *v = mm_cli_value(argc, argv, &i);
            if (!v || !mm_cli_threads(a, v, &threads)) return MM_EXIT_USAGE;
        } else {
            return mm_cli_fail(MM_EXIT_USAGE, "logits: unknown option '%s' (see mmgpt logits --help)", a);
        }
    }
    if (!prompt) return mm_cli_fail(MM_EXIT_USAGE, "logits: missing -p TEXT (see mmgpt logits --help)");
    if (!out) return mm_cli_fail(MM_EXIT_USAGE, "logits: missing -o OUT.npy (see mmgpt logits --help)");
    const char *path = mm_cli_model_path(model);
    if (!path) return MM_EXIT_MODEL;
    mm_gen_ctx c;
    int rc = gen_open(&c, path, prompt, "logits");
    if (rc != MM_EXIT_OK) {
        gen_close(&c);
        return rc;
    }
    char err[MM_ERR_SIZE];
    const int64_t V = mm_gpt_model_n_vocab(c.model), n = c.n_ids, n_ctx = mm_gpt_model_n_ctx(c.model);
    float *logits = NULL;
    mm_gpt_state *s = NULL;
    if (n == 0) {
        rc = mm_cli_fail(MM_EXIT_USAGE, "logits: the prompt is empty (0 tokens)");
        goto done;
    }
    if (n > n_ctx) {
        rc = mm_cli_fail(MM_EXIT_USAGE, "logits: the prompt has %lld tokens, more than the context length %lld",
                         (long long)n, (long long)n_ctx);
        goto done;
    }
    mm_gpt_state_params sp = mm_gpt_state_default_params();
    sp.n_threads = (int)threads;
    sp.n_ctx = n;
    if (!(s = mm_gpt_state_create(c.model, sp, err))) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "logits: %s", err);
        goto done;
    }
    logits = malloc((size_t)n * (size_t)V * sizeof(float));
    if (!logits) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "logits: out of memory for %lld x %lld logits", (long long)n, (long long)V);
        goto done;
    }
    double t0 = mm_time_ms();
    int erc = mm_gpt_eval_tokens(s, c.ids, n, logits, err);
    if (erc != 0) {
        rc = erc == MM_ERR_NONFINITE ? mm_cli_fail(MM_EXIT_MODEL, "%s: %s", path, err)
                                        : mm_cli_fail(MM_EXIT_INTERNAL, "logits: %s", err);
        goto done;
    }
    double t1 = mm_time_ms();
    int64_t shape[2] = {n, V};
    if (mm_npy_write(out, logits, 2, shape, err) != 0) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
        goto done;
    }
    fprintf(stderr, "logits: %lld tokens x %lld in %.1f ms (%.1f tokens/s) -> %s\n", (long long)n, (long long)V,
            t1 - t0, 1000.0 * (double)n / (t1 - t0 > 1e-9 ? t1 - t0 : 1e-9), out);
done:
    free(logits);
    mm_gpt_state_free(s);
    gen_close(&c);
    return rc;
}
