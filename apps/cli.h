/* cli.h - shared helpers of the mmgpt program (apps/ only; the library never includes this). */
#ifndef MM_CLI_H
#define MM_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "mm_core.h"

/* Exit codes: distinct per kind of failure so scripts can tell them apart. */
enum {
    MM_EXIT_OK       = 0,
    MM_EXIT_USAGE    = 2,  /* bad command line (unknown option, missing argument, value out of range) */
    MM_EXIT_INPUT    = 3,  /* unreadable / unsupported / corrupt input file (image, audio, text) */
    MM_EXIT_MODEL    = 4,  /* model file missing, corrupt, or lacking what the command needs */
    MM_EXIT_INTERNAL = 5,  /* anything else (out of memory, I/O error writing output) */
};

typedef int (*mm_cmd_fn)(int argc, char **argv);  /* argv[0] is the subcommand name */

/* Print "mmgpt: <message>\n" to stderr and return code (for `return mm_cli_fail(...)`). */
int  mm_cli_fail(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The message of the last mm_cli_fail (without "mmgpt: "), for --json error objects. */
const char *mm_cli_last_error(void);
/* From now on mm_cli_fail records its message (mm_cli_last_error) without printing it: an MPI worker
 * rank, whose errors rank 0 reports (dist_cli.c). */
void mm_cli_silence(void);

/* Parse helpers: on failure print a usage error naming the option and its valid range, return false. */
bool mm_cli_int(const char *opt, const char *s, long min, long max, long *out);
bool mm_cli_float(const char *opt, const char *s, double min, double max, double *out);      /* [min, max] */
bool mm_cli_u64(const char *opt, const char *s, uint64_t *out);  /* decimal or 0x hex, [0, 2^64 - 1] */
/* --stop: a non-empty, valid UTF-8 string (the text it is matched against is valid UTF-8) */
bool mm_cli_stop_string(const char *opt, const char *s);
/* -t/--threads: [1, MM_POOL_MAX_THREADS] */
#define MM_CLI_THREADS_HELP "threads, 1 to 256 (default: all CPUs)"
_Static_assert(MM_POOL_MAX_THREADS == 256, "MM_CLI_THREADS_HELP names the maximum");
bool mm_cli_threads(const char *opt, const char *s, long *out);

/* Most bytes of prompt text read from a file (-f) and of one chat line: 1 MiB. The bundled model's
 * context is 256 positions and GPT-2's 1024; a GPT-2 token is at most 128 bytes (usually ~4), so a
 * longer text cannot fit any context these models have. Checked while reading (never more is held)
 * and before tokenizing; over it is an input error (exit 3) that names the limit. */
#define MM_CLI_MAX_TEXT ((size_t)1 << 20)
/* The whole of path ("-" = stdin), at most max bytes, NUL-terminated, malloc'd; NULL after printing an
 * input error (or "out of memory"), *code = the exit code. A NUL byte in the text is an input error (it
 * would end the prompt unseen; a UTF-16 file is named as one). */
char *mm_cli_read_text(const char *path, size_t max, int *code);
/* The same without the NUL check: *len bytes (NUL-terminated); over max is an input error "PATH: longer than
 * the limit of MAX bytes (K KiB) for WHAT" (read stops one byte past max: /dev/zero costs max bytes). */
char *mm_cli_read_bytes(const char *path, size_t max, const char *what, size_t *len, int *code);
/* An input file argument: "-" is standard input ("/dev/stdin", which the loaders read once from a pipe). */
const char *mm_cli_input(const char *path);
/* Read one line of f into buf[0..max] (max bytes + NUL; the '\n' is dropped). Returns the length; -1 at
 * the end of input (nothing read); -2 when the line is longer than max bytes: the rest of the line is
 * read and dropped, never stored. */
long mm_cli_read_line(FILE *f, char *buf, size_t max);

/* Copy of s with ill-formed UTF-8 replaced by U+FFFD (for names and questions echoed on stdout and in
 * JSON); malloc'd; NULL only when out of memory. */
char *mm_cli_utf8(const char *s);
/* Next argument value for option argv[*i]; NULL (after printing an error) if missing. */
const char *mm_cli_value(int argc, char **argv, int *i);
/* The model to use: explicit path, else $MMGPT_MODEL, else the bundled model (mm_cli_bundled_model).
 * Returns NULL (after printing how to fix it) if none is found. */
const char *mm_cli_model_path(const char *explicit_path);
/* Where this program looks for the bundled model, found relative to its own location (/proc/self/exe),
 * so an installed tree works wherever it is installed or moved: an installed `PREFIX/bin/mmgpt` reads
 * PREFIX/share/mmgpt/models/mmgpt-demo.gguf; the uninstalled build-tree binary (build/mmgpt, run from the
 * build folder it was compiled in) reads the source tree's assets/models/mmgpt-demo.gguf. The path may not
 * exist; NULL if this program's location is unknown. Static buffer. */
const char *mm_cli_bundled_model(void);
/* Pipeline parallelism under mpirun (dist_cli.c): mm_cli_dist_start (main, before the command) returns
 * true with *code when this process is done (a worker rank, or an error); mm_cli_dist() is rank 0's
 * handle for the model loaders (NULL = one process); mm_cli_dist_end(code) ends the pipeline. */
struct mm_dist;
bool            mm_cli_dist_start(int *argc, char ***argv, int *code);
struct mm_dist *mm_cli_dist(void);
const char     *mm_cli_layer_split(void);
int             mm_cli_dist_end(int code);
/* True when stderr is a terminal (progress indicators show only then). */
bool mm_cli_stderr_tty(void);

#endif
