/* cmd_generate.c - `mmgpt generate -m MODEL -p TEXT [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S]
 * [penalties, --min-p] [-t THREADS] [--stop STR]...`: streams the completion of a plain-text prompt to stdout, timings to
 * stderr. The prompt is evaluated at once (sgemm), then one token at a time through the KV cache.
 * Stops at end-of-text (unless --ignore-eos), at a stop string (never printed), or after N tokens.
 * With --image/--audio the multimodal path (fusion's task_cli) runs instead. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "sampling_cli.h"
#include "mm_gguf.h"
#include "mm_tokenizer.h"
#include "mm_transformer.h"
#include "task_cli.h"
#include "text_model.h"

#define MAX_STOPS 16

static void usage(FILE *f) {
    fprintf(f,
            "usage: mmgpt generate [-m MODEL.gguf] -p TEXT [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S]\n"
            "                      [--repeat-penalty R] [--repeat-last-n N] [--presence-penalty P]\n"
            "                      [--frequency-penalty F] [--min-p P]\n"
            "                      [-t THREADS] [--stop STR]... [--ignore-eos] [--kv-f16] [-q]\n\n"
            "Continue TEXT (plain text, no chat template) and stream the new text to stdout; timings go to\n"
            "stderr. Sampling (llama.cpp's chain and definitions): the penalties over the last N tokens\n"
            "(prompt included) change the logits x; keep the top-K tokens, then the smallest set reaching\n"
            "probability P (softmax of x), then those with p >= min-p * p_max; draw with\n"
            "p_i = exp(x_i/T) / sum_j exp(x_j/T) over them. T = 0 is greedy (the argmax after the\n"
            "penalties). The same seed gives the same text.\n"
            "With --image F / --audio F the media embeddings enter the prompt (see mmgpt caption --help).\n\n"
            "options:\n"
            "  -m, --model MODEL.gguf  model (default: $MMGPT_MODEL or the bundled model)\n"
            "  -p, --prompt TEXT       the text to continue\n"
            "  -n, --max-tokens N      most tokens to generate (default 64); prompt + N must fit the context;\n"
            "                          0 or -1 = no limit: until end-of-text or a full context (the model's,\n"
            "                          at most 4096 positions)\n"
            "  --temp T                temperature in [0, 2] (default 0.8; 0 = greedy)\n"
            "  --top-k K               sample among the K most likely tokens (default 40; 0 = all)\n"
            "  --top-p P               nucleus sampling threshold in (0, 1] (default 0.95; 1 = off)\n"
            "  --seed S                random seed, 0 to 2^64-1, decimal or 0x hex (default 1234)\n");
    mm_sampling_print_opts(f, 26);
    fprintf(f,
            "  --stop STR              stop when STR (valid UTF-8) appears (not printed); repeatable, at most %d\n"
            "  --ignore-eos            never sample end-of-text (it is banned, as with --image/--audio)\n"
            "  --kv-f16                keep the KV cache in f16 (half the memory; keys/values rounded)\n"
            "  -t, --threads N         " MM_CLI_THREADS_HELP "\n"
            "  -q, --quiet             no timings on stderr\n"
            "  -h, --help              this help\n\n"
            "The output is valid UTF-8: bytes of the generated text that do not form a character become U+FFFD.\n"
            "exit codes: 0 ok, 2 bad arguments (also: prompt + N beyond the context length),\n"
            "            4 model missing or invalid, 5 internal\n",
            MAX_STOPS);
}

static bool out_write(const char *p, size_t n) {
    if (n && fwrite(p, 1, n, stdout) != n) return false;
    return fflush(stdout) == 0;
}

int mm_cmd_generate(int argc, char **argv) {
    if (mm_task_has_media_args(argc, argv)) return mm_task_generate_main(argc, argv);
    const char *model = NULL, *prompt = NULL, *stops[MAX_STOPS];
    int n_stops = 0;
    long n_gen = 64, threads = 0, top_k = 40;
    double temp = 0.8, top_p = 0.95;
    uint64_t seed = 1234;
    bool ignore_eos = false, quiet = false, kv_f16 = false;
    mmgpt_gen_params pen = mmgpt_gen_default_params(); /* only its penalty / min-p fields are used */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = mm_sampling_parse_opt(&pen, argc, argv, &i);
        if (r < 0) return MM_EXIT_USAGE;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return MM_EXIT_OK;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model = mm_cli_value(argc, argv, &i))) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(prompt = mm_cli_value(argc, argv, &i))) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) {
            if (!(v = mm_cli_value(argc, argv, &i)) || !mm_cli_int(a, v, -1, 1 << 24, &n_gen)) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "--temp") || !strcmp(a, "--temperature")) {
            if (!(v = mm_cli_value(argc, argv, &i)) || !mm_cli_float(a, v, 0, MM_SAMPLER_MAX_TEMP, &temp))
                return MM_EXIT_USAGE;
        } else if (!strcmp(a, "--top-k")) {
            if (!(v = mm_cli_value(argc, argv, &i)) || !mm_cli_int(a, v, 0, 1L << 30, &top_k)) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "--top-p")) {
            if (!(v = mm_cli_value(argc, argv, &i)) || !mm_cli_float_gt(a, v, 0, 1, &top_p)) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "--seed") || !strcmp(a, "-s")) {
            if (!(v = mm_cli_value(argc, argv, &i)) || !mm_cli_u64(a, v, &seed)) return MM_EXIT_USAGE;
        } else if (!strcmp(a, "--stop")) {
            if (!(v = mm_cli_value(argc, argv, &i)) || !mm_cli_stop_string(a, v)) return MM_EXIT_USAGE;
            if (n_stops == MAX_STOPS) return mm_cli_fail(MM_EXIT_USAGE, "generate: at most %d --stop strings", MAX_STOPS);
            stops[n_stops++] = v;
        } else if (!strcmp(a, "--kv-f16")) {
            kv_f16 = true;
        } else if (!strcmp(a, "--ignore-eos")) {
            ignore_eos = true;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = mm_cli_value(argc, argv, &i)) || !mm_cli_threads(a, v, &threads)) return MM_EXIT_USAGE;
        } else {
            return mm_cli_fail(MM_EXIT_USAGE, "generate: unknown option '%s' (see mmgpt generate --help)", a);
        }
    }
    if (!prompt) return mm_cli_fail(MM_EXIT_USAGE, "generate: missing -p TEXT (see mmgpt generate --help)");
    char err[MM_ERR_SIZE];
    mm_sampler_params spar = mm_sampler_default_params();
    spar.temperature = (float)temp;
    spar.top_k = top_k;
    spar.top_p = (float)top_p;
    spar.seed = (uint64_t)seed;
    spar.min_p = pen.min_p;
    spar.repeat_penalty = pen.repeat_penalty;
    spar.presence_penalty = pen.presence_penalty;
    spar.frequency_penalty = pen.frequency_penalty;
    mm_sampler *smp = NULL;
    mm_gpt_state *s = NULL;
    mm_tokenizer_stream *ts = NULL;
    mm_stop *stop = mm_stop_create(stops, n_stops, err);
    float *ban = NULL; /* [V] logits with end-of-text banned (--ignore-eos) */
    if (!stop) return mm_cli_fail(MM_EXIT_INTERNAL, "generate: %s", err);
    const char *path = mm_cli_model_path(model);
    mm_gen_ctx c;
    memset(&c, 0, sizeof c);
    int rc = MM_EXIT_MODEL;
    if (!path) goto done;
    rc = gen_open(&c, path, prompt, "generate");
    if (rc != MM_EXIT_OK) goto done;
    const int64_t V = mm_gpt_model_n_vocab(c.model), n_ctx_model = mm_gpt_model_n_ctx(c.model);
    /* without a limit (-n 0): until the default context, min(the model's, MM_GPT_DEFAULT_CTX) */
    const int64_t n_ctx = n_gen <= 0 && n_ctx_model > MM_GPT_DEFAULT_CTX ? MM_GPT_DEFAULT_CTX : n_ctx_model;
    const int32_t eos = mm_tokenizer_eos(c.tok);
    if (c.n_ids == 0) { /* GPT-2 starts unconditioned text after <|endoftext|> */
        int32_t start = mm_tokenizer_bos(c.tok) >= 0 ? mm_tokenizer_bos(c.tok) : eos;
        if (start < 0) {
            rc = mm_cli_fail(MM_EXIT_USAGE, "generate: the prompt is empty and the model has no BOS token");
            goto done;
        }
        c.ids[c.n_ids++] = start;
    }
    const bool unlimited = n_gen <= 0;
    if (unlimited && c.n_ids >= n_ctx) {
        rc = mm_cli_fail(MM_EXIT_USAGE, "generate: the prompt (%lld tokens) leaves no room in the context of %lld",
                         (long long)c.n_ids, (long long)n_ctx);
        goto done;
    }
    if (unlimited) n_gen = n_ctx - c.n_ids + 1; /* the last token is printed, not evaluated: as mmgpt_generate */
    else if (c.n_ids + n_gen > n_ctx) {
        rc = mm_cli_fail(MM_EXIT_USAGE,
                         "generate: prompt (%lld tokens) + -n %ld = %lld tokens exceeds the context length %lld",
                         (long long)c.n_ids, n_gen, (long long)(c.n_ids + n_gen), (long long)n_ctx);
        goto done;
    }
    /* the window: the last N tokens of prompt + generated text (-1: all of them, the state's context) */
    spar.penalty_last_n = pen.repeat_last_n < 0 || pen.repeat_last_n > c.n_ids + n_gen ? c.n_ids + n_gen
                                                                                          : pen.repeat_last_n;
    if (!(smp = mm_sampler_create(spar, V, err))) {
        rc = mm_cli_fail(MM_EXIT_USAGE, "generate: %s", err);
        goto done;
    }
    for (int64_t i = 0; i < c.n_ids; i++) mm_sampler_accept(smp, c.ids[i]); /* as llama-cli: the prompt too */
    mm_gpt_state_params sp = mm_gpt_state_default_params();
    sp.n_threads = (int)threads;
    sp.n_ctx = c.n_ids + n_gen < n_ctx ? c.n_ids + n_gen : n_ctx;
    sp.kv_f16 = kv_f16;
    if (ignore_eos && eos >= 0 && !(ban = malloc((size_t)V * sizeof *ban))) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "generate: out of memory");
        goto done;
    }
    if (!(s = mm_gpt_state_create(c.model, sp, err)) || !(ts = mm_tokenizer_stream_create(c.tok, err))) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "generate: %s", err);
        goto done;
    }
    double t0 = mm_time_ms();
    int erc = mm_gpt_eval_tokens(s, c.ids, c.n_ids, NULL, err);
    if (erc != 0) {
        rc = erc == MM_ERR_NONFINITE ? mm_cli_fail(MM_EXIT_MODEL, "%s: %s", path, err)
                                        : mm_cli_fail(MM_EXIT_INTERNAL, "generate: %s", err);
        goto done;
    }
    double t1 = mm_time_ms();
    int64_t n_done = 0;
    const char *why = unlimited ? "full context" : "length";
    bool io_ok = true;
    for (; n_done < n_gen; n_done++) {
        const float *lg = mm_gpt_state_logits(s);
        if (ban) { /* --ignore-eos: end-of-text is never sampled (the same as the media path, mmgpt_generate) */
            memcpy(ban, lg, (size_t)V * sizeof *ban);
            ban[eos] = -INFINITY;
            lg = ban;
        }
        int32_t t = mm_sampler_sample(smp, lg);
        mm_sampler_accept(smp, t);
        if (t == eos) {
            why = "end of text";
            break;
        }
        const char *piece, *emit;
        size_t np, ne;
        if (mm_tokenizer_stream_push(ts, t, &piece, &np, err) != 0) {
            rc = mm_cli_fail(MM_EXIT_INTERNAL, "generate: %s", err);
            goto done;
        }
        bool hit = mm_stop_feed(stop, piece, np, &emit, &ne);
        io_ok = io_ok && out_write(emit, ne);
        if (hit) {
            n_done++;
            why = "stop string";
            break;
        }
        if (n_done + 1 < n_gen && (erc = mm_gpt_eval_tokens(s, &t, 1, NULL, err)) != 0) {
            rc = erc == MM_ERR_NONFINITE ? mm_cli_fail(MM_EXIT_MODEL, "%s: %s", path, err)
                                        : mm_cli_fail(MM_EXIT_INTERNAL, "generate: %s", err);
            goto done;
        }
    }
    if (strcmp(why, "stop string") != 0) {
        const char *piece, *emit;
        size_t np, ne;
        mm_tokenizer_stream_flush(ts, &piece, &np);
        mm_stop_feed(stop, piece, np, &emit, &ne);
        io_ok = io_ok && out_write(emit, ne);
        mm_stop_flush(stop, &emit, &ne);
        io_ok = io_ok && out_write(emit, ne);
    }
    if (isatty(1)) io_ok = io_ok && out_write("\n", 1);
    double t2 = mm_time_ms();
    if (!io_ok) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "generate: cannot write stdout");
        goto done;
    }
    if (!quiet) {
        double tp = t1 - t0 > 1e-9 ? t1 - t0 : 1e-9, tg = t2 - t1 > 1e-9 ? t2 - t1 : 1e-9;
        fprintf(stderr,
                "\ngenerate: prompt %lld tokens in %.1f ms (%.1f tokens/s); generated %lld tokens in %.1f ms "
                "(%.1f tokens/s); stopped by %s; kernels %s; KV cache %.2f MiB (%lld positions)\n",
                (long long)c.n_ids, tp, 1000.0 * (double)c.n_ids / tp, (long long)n_done, tg,
                1000.0 * (double)n_done / tg, why, mm_cpu_kernel_name(),
                mm_gpt_kv_bytes(mm_gpt_model_hparams(c.model), mm_gpt_state_n_ctx(s), kv_f16) / 1048576.0,
                (long long)mm_gpt_state_n_ctx(s));
    }
done:
    free(ban);
    mm_stop_free(stop);
    mm_tokenizer_stream_free(ts);
    mm_gpt_state_free(s);
    mm_sampler_free(smp);
    gen_close(&c);
    return rc;
}
