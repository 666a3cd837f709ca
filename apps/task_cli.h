/* task_cli.h - what the media commands share (caption, describe, ask, chat) and what generate / logits
 * call to take --image / --audio: common options, model loading with progress, media loading by
 * content, error -> exit code mapping, output (streamed text, "file: text" lines, JSON lines).
 *
 * For the owners of cmd_generate.c / cmd_logits.c: put at the top of mm_cmd_generate / mm_cmd_logits
 *     if (mm_task_has_media_args(argc, argv)) return mm_task_generate_main(argc, argv);   // generate
 *     if (mm_task_has_media_args(argc, argv)) return mm_task_logits_main(argc, argv);     // logits
 * These take the same options and defaults as the text-only commands (-m, -p, -n 64, --temp 0.8,
 * --top-k 40, --top-p 0.95, --seed 1234, --stop, --ignore-eos, -t, -o, -q, -f FILE: the prompt from a
 * file of at most MM_CLI_MAX_TEXT bytes) plus --image F / --audio F
 * (repeatable, in order) and --mmproj F. The prompt is used raw
 * (no chat template, as the text-only commands do): the n-th <__media__> marker in it is the n-th
 * --image/--audio; with no marker the media come first, each followed by "\n". `logits` writes the
 * logits of every position (media rows included) as float32 .npy [n_positions, n_vocab].
 */
#ifndef MM_TASK_CLI_H
#define MM_TASK_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "mmgpt.h"

/* Which option groups a command accepts (mm_task_parse_opt). */
enum {
    MM_OPT_MODEL = 1 << 0,  /* -m/--model, --mmproj, -t/--threads, -c/--ctx-size, --chat-template, --max-tiles */
    MM_OPT_MEDIA = 1 << 1,  /* --image F, --audio F (repeatable) */
    MM_OPT_GEN   = 1 << 2,  /* -p/--prompt, --system, -n/--max-tokens, --temp, --top-k, --top-p, --seed,
                               sampling_cli.h's penalties and --min-p */
    MM_OPT_OUT   = 1 << 3,  /* --json, -q/--quiet */
};

typedef struct {
    const char *model, *mmproj, *prompt, *system;
    const char *chat_template;  /* --chat-template NAME (checked when parsed), NULL = the model's */
    long        threads, n_ctx;
    long        max_tiles;      /* --max-tiles N (0 = the image processor's default) */
    mmgpt_gen_params gen;
    bool        json, quiet, have_max_tokens;
    const char **stops;        /* [n_stops] --stop strings (generate) */
    int          n_stops;
    const char **media;        /* [n_media] paths in command-line order */
    mmgpt_media_kind *kinds;   /* [n_media] */
    int          n_media, cap_media;
} mm_task_opts;

void mm_task_opts_init(mm_task_opts *o);
void mm_task_opts_free(mm_task_opts *o);
/* argv[*i] is a common option of the groups in `which`: consume it (and its value) and return 1;
 * 0 if it is not one; -1 after printing a usage error (exit with MM_EXIT_USAGE). */
int  mm_task_parse_opt(mm_task_opts *o, unsigned which, int argc, char **argv, int *i);
/* Help text of the option groups (for the commands' --help). */
void mm_task_print_opts(FILE *f, unsigned which);

/* mmgpt_status -> exit code (MM_EXIT_*). */
int  mm_task_exit_code(int status);
/* Load the model (-m, else the bundled one) and --mmproj, with a progress line on a terminal.
 * NULL after printing the error; *code receives the exit code. */
mmgpt_model *mm_task_load_model(const mm_task_opts *o, int *code);
mmgpt_ctx   *mm_task_create_ctx(const mmgpt_model *m, const mm_task_opts *o, int *code);
/* Encode one file: kind IMAGE / AUDIO must match the content (else a clear error); AUTO detects. */
int  mm_task_load_media(mmgpt_ctx *ctx, const char *path, mmgpt_media_kind want, const char *cmd,
                        bool quiet, mmgpt_media **out, int *code);

/* Print a one-line error "mmgpt: MESSAGE" and return the exit code of status. */
int  mm_task_fail(int status, const char *msg);

/* JSON line of one result: {"file","task","text","prompt_positions","media_positions",
 * "generated_tokens","stop","timings_ms":{...}}. Strings are made valid UTF-8 (U+FFFD). */
void mm_task_print_json(FILE *f, const char *file, const char *task, const char *question,
                        const mmgpt_ctx *ctx, double total_ms);
/* JSON line of an input that failed: {"file","task","question","error","exit_code"}, error = the message
 * of the last mm_cli_fail (file and question only when not NULL). --json prints one object per input,
 * failed or not, so a script can pair inputs and results; the exit code is that of the first failure. */
void mm_task_print_json_error(FILE *f, const char *file, const char *task, const char *question, int code);
/* One line of timings on stderr (unless quiet). */
void mm_task_print_timings(const mmgpt_ctx *ctx, const char *label);
const char *mm_task_stop_name(mmgpt_stop s);

/* The streaming callback: writes pieces to stdout (user = NULL) and flushes. */
bool mm_task_stream_stdout(const char *text, size_t len, void *user);

/* generate / logits with media (see the top comment). */
bool mm_task_has_media_args(int argc, char **argv);
int  mm_task_generate_main(int argc, char **argv);
int  mm_task_logits_main(int argc, char **argv);

/* caption / describe / ask over files (shared body of those commands). question may be NULL. */
int  mm_task_run_files(const char *cmd, mmgpt_media_kind want, const char *task, const char *question,
                       const char *const *files, int n_files, const mm_task_opts *o);

#endif
