/* cmd_generate.c - `mmgpt generate -p TEXT [--image F]... [--audio F]... [options]`: continue a prompt and
 * stream the new text to stdout, timings to stderr. The prompt is raw (no chat template): the n-th
 * <__media__> in it is the n-th --image/--audio; without a marker the media come first, each followed
 * by "\n". Free text, so it samples by default (--temp 0.8, seed 1234, -n 64, as llama.cpp's
 * llama-cli); the decode loop is the library's (mmgpt_generate, raw mode). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "commands.h"
#include "task_cli.h"

static void generate_defaults(mm_task_opts *o) {
    o->gen.raw = true;                 /* the prompt as it is */
    o->gen.trim_leading_space = false; /* the continuation as the model writes it */
    o->gen.max_tokens = 64;
    o->gen.temperature = 0.8f;
    o->gen.seed = 1234;
}

static const mm_cmd_spec k_generate = {
    .name = "generate",
    .usage = "[-m MODEL] -p TEXT [--image F]... [--audio F]... [options]",
    .about = "Continue TEXT (plain text, no chat template) and stream the new text to stdout; timings go to\n"
             "stderr. The n-th <__media__> in TEXT is the n-th --image/--audio; without a marker the media\n"
             "come first, each followed by a newline. Sampling (llama.cpp's chain and definitions): the\n"
             "penalties over the last N tokens (prompt included) change the logits x; keep the top-K tokens,\n"
             "then the smallest set reaching probability P (softmax of x), then those with p >= min-p * p_max;\n"
             "draw with p_i = exp(x_i/T) / sum_j exp(x_j/T) over them. T = 0 is greedy (the argmax after the\n"
             "penalties). The same seed gives the same text. Free text samples by default (T 0.8, as\n"
             "llama.cpp); caption, describe, ask and chat answer greedily. An empty prompt starts\n"
             "unconditioned text (after <|endoftext|>).\n",
    .groups = MM_OPT_MODEL | MM_OPT_MEDIA | MM_OPT_PROMPT | MM_OPT_GEN | MM_OPT_OUT,
    .min_pos = 0,
    .max_pos = 0,
    .prompt_help = "the text to continue (<__media__> marks where each image/clip goes)",
    .defaults = generate_defaults,
};

int mm_cmd_generate(int argc, char **argv) {
    mm_task_opts  o;
    mmgpt_model  *m = NULL;
    mmgpt_ctx    *ctx = NULL;
    mmgpt_media **mds = NULL;
    char          err[MMGPT_ERR_SIZE];
    int           code = mm_cmd_parse(&k_generate, &o, argc, argv);
    if (code == MM_CMD_HELP_DONE) code = MM_EXIT_OK;
    else if (code == MM_EXIT_OK) {
        if (!o.prompt && !o.file && !o.n_media)
            code = mm_cli_fail(MM_EXIT_USAGE, "generate: missing -p TEXT (see mmgpt generate --help)");
        if (!code) code = mm_task_check_media_files(&o);
        o.no_encoders = o.n_media == 0; /* plain text: the encoders are not loaded (startup as a text model) */
        if (!code && (m = mm_task_load_model(&o, &code))) ctx = mm_task_create_ctx(m, &o, &code);
        if (ctx && !(code = mm_task_add_media(ctx, &o, "generate", &mds))) {
            /* nothing to continue: unconditioned text, after the start token */
            int rc = !o.n_media && !*o.prompt ? mmgpt_add_start(ctx, err) : MMGPT_OK;
            if (!rc) rc = mmgpt_add_text(ctx, o.prompt ? o.prompt : "", err);
            if (rc) code = mm_task_fail(rc, err);
            if (!code) code = mm_task_check_fit(ctx, &o, 0);
            if (!code && (rc = mmgpt_generate(ctx, o.gen, o.json ? NULL : mm_task_stream_stdout, NULL, err)))
                code = mm_task_fail(rc, err);
            if (!code && !o.json && isatty(1)) fputc('\n', stdout);
            if (!code && (ferror(stdout) || fflush(stdout)))
                code = mm_cli_fail(MM_EXIT_INTERNAL, "error writing the output");
            else if (!code && o.json) mm_task_print_json(stdout, NULL, "generate", NULL, ctx, 0);
            else if (!code && !o.quiet) {
                fputc('\n', stderr); /* the completion is printed as it is: the timings start a new line */
                mm_task_print_timings(ctx, NULL);
            }
        }
        if (code && o.json) mm_task_print_json_error(stdout, NULL, "generate", NULL, code);
    }
    mm_task_free_media(mds, o.n_media);
    mmgpt_ctx_free(ctx);
    mmgpt_model_free(m);
    mm_task_opts_free(&o);
    return code;
}
