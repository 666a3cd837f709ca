/* cmd_logits.c - `mmgpt logits -p TEXT [--image F]... -o OUT.npy`: the decoder logits of every position of
 * the raw prompt (no chat template; media rows included) as float32 .npy [n_positions, n_vocab]. BOS is
 * first only when the file sets tokenizer.ggml.add_bos_token. */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "task_cli.h"

static void logits_defaults(mm_task_opts *o) { o->gen.raw = true; }

static const mm_cmd_spec k_logits = {
    .name = "logits",
    .usage = "[-m MODEL] -p TEXT [--image F]... [--audio F]... -o OUT.npy [options]",
    .about = "Write the logits of every position of the prompt (media rows included) as a float32 .npy\n"
             "array of shape [n_positions, n_vocab]. The prompt is plain text (no chat template,\n"
             "<|endoftext|> is not parsed); BOS is added only when the model file sets\n"
             "tokenizer.ggml.add_bos_token. The n-th <__media__> is the n-th --image/--audio; without a marker\n"
             "the media come first, each followed by a newline.\n",
    .groups = MM_OPT_MODEL | MM_OPT_MEDIA | MM_OPT_PROMPT | MM_OPT_NPY,
    .min_pos = 0,
    .max_pos = 0,
    .prompt_help = "the text (<__media__> marks where each image/clip goes)",
    .defaults = logits_defaults,
};

int mm_cmd_logits(int argc, char **argv) {
    mm_task_opts  o;
    mmgpt_model  *m = NULL;
    mmgpt_ctx    *ctx = NULL;
    mmgpt_media **mds = NULL;
    float        *lg = NULL;
    char          err[MMGPT_ERR_SIZE];
    int           code = mm_cmd_parse(&k_logits, &o, argc, argv);
    if (code == MM_CMD_HELP_DONE) code = MM_EXIT_OK;
    else if (code == MM_EXIT_OK) {
        if (!o.prompt && !o.file && !o.n_media)
            code = mm_cli_fail(MM_EXIT_USAGE, "logits: missing -p TEXT (see mmgpt logits --help)");
        else if (!o.out) code = mm_cli_fail(MM_EXIT_USAGE, "logits: missing -o OUT.npy (see mmgpt logits --help)");
        if (!code) code = mm_task_check_media_files(&o);
        o.no_encoders = o.n_media == 0; /* plain text: the encoders are not loaded (startup as a text model) */
        if (!code && (m = mm_task_load_model(&o, &code))) ctx = mm_task_create_ctx(m, &o, &code);
        if (ctx && !(code = mm_task_add_media(ctx, &o, "logits", &mds))) {
            int64_t n = 0;
            int     rc = mmgpt_add_text(ctx, o.prompt ? o.prompt : "", err);
            if (!rc) rc = mmgpt_eval(ctx, true, &lg, &n, err);
            if (rc) code = mm_task_fail(rc, err);
            else {
                int64_t shape[2] = {n, mmgpt_model_n_vocab(m)};
                if (mm_npy_write(o.out, lg, 2, shape, err)) code = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
                else if (!o.quiet) {
                    mmgpt_timings t;
                    mmgpt_get_timings(ctx, &t);
                    fprintf(stderr, "mmgpt: %s: logits [%lld, %lld] (%lld media positions) in %.1f ms\n", o.out,
                            (long long)n, (long long)shape[1], (long long)t.n_media_rows, t.prompt_ms);
                }
            }
        }
    }
    free(lg);
    mm_task_free_media(mds, o.n_media);
    mmgpt_ctx_free(ctx);
    mmgpt_model_free(m);
    mm_task_opts_free(&o);
    return code;
}
