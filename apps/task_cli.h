/* task_cli.h - what the decoder commands share (generate, logits, caption, describe, ask, chat): model
 * and context from the options (options.h: the option table and how a command declares its options),
 * media loading by content, the -n fit check, error -> exit code mapping, output (streamed text,
 * "file: text" lines, JSON lines). Every command runs through the product API (include/mmgpt.h):
 * generate and logits in raw mode (the prompt as it is, no template), the media tasks through the
 * model's template; the decode loop is the library's (mmgpt_generate).
 */
#ifndef MM_TASK_CLI_H
#define MM_TASK_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "mmgpt.h"
#include "options.h"

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
/* How many error objects mm_task_print_json_error printed: main prints one {"task","error","exit_code"} for
 * a failed command run with --json (a usage error, a missing file, ...) when the command printed none. */
int  mm_task_json_errors_printed(void);
/* One line of timings on stderr (unless quiet). */
void mm_task_print_timings(const mmgpt_ctx *ctx, const char *label);
const char *mm_task_stop_name(mmgpt_stop s);

/* The streaming callback: writes pieces to stdout (user = NULL) and flushes. */
bool mm_task_stream_stdout(const char *text, size_t len, void *user);

/* Open every --image / --audio file once, so a missing one fails before the model loads (exit 3). */
int  mm_task_check_media_files(const mm_task_opts *o);
/* -n N given (o->have_max_tokens, N > 0): the pending turn after `kept` positions of the cache plus N
 * must fit the context, else a usage error naming -n (MM_EXIT_USAGE); a turn that does not fit by itself
 * is left to mmgpt_generate (MMGPT_ERR_CONTEXT, exit 3). MM_EXIT_OK when it fits. */
int  mm_task_check_fit(mmgpt_ctx *ctx, const mm_task_opts *o, int64_t kept);
/* --image / --audio of o into the pending turn, in order; *mds[o->n_media] keeps them until the turn is
 * evaluated (free with mm_task_free_media). MM_EXIT_OK or the exit code after printing the error. */
int  mm_task_add_media(mmgpt_ctx *ctx, const mm_task_opts *o, const char *cmd, mmgpt_media ***mds);
void mm_task_free_media(mmgpt_media **mds, int n);

/* caption / describe / ask over files (shared body of those commands). question may be NULL. */
int  mm_task_run_files(const char *cmd, mmgpt_media_kind want, const char *task, const char *question,
                       const char *const *files, int n_files, const mm_task_opts *o);

#endif
