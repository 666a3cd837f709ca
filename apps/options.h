/* options.h - the one option table of the decoder commands (generate, logits, caption, describe, ask,
 * chat) and the command-line story they share.
 *
 * The table is options.def: one row per flag (names, value, group, --help text), one meaning per flag
 * in every command that takes it. options.c parses argv and prints --help from it; nothing else in
 * apps/ parses these flags.
 *
 * How a command declares the options it takes: a static mm_cmd_spec (below) with
 *   - groups: the MM_OPT_* groups of table rows it takes (a flag of another group is "unknown option");
 *   - defaults: a function that sets the command's own defaults over mm_task_opts_init's (the library's:
 *     greedy, -n 128, seed 0x5eed), only where the purpose differs: free-text `generate` samples at
 *     --temp 0.8, seed 1234, -n 64 (as llama.cpp's llama-cli) and evaluates the prompt raw (no
 *     template); caption/describe/ask/chat answer greedily through the model's template. --help shows
 *     each command's own defaults ("{default}" in the table);
 *   - usage line, description, positional arguments (min/max count and their name for messages);
 * then calls mm_cmd_parse(&spec, &o, argc, argv) and runs with the filled mm_task_opts. -h/--help and
 * --version are answered there; `--` ends the options.
 * To add a flag: a row in options.def (pick its group, or a new MM_OPT_* bit here), a field in
 * mm_task_opts if it needs one, a case in options.c's store_value. To add a command that takes the
 * usual flags: a spec with the groups, no parsing code.
 *
 * Exit codes are apps/cli.h's: 2 usage (unknown option, a value out of its range, a missing argument,
 * -n N that cannot fit after the prompt), 3 input (a file missing, unreadable or corrupt; a prompt over
 * the context), 4 model, 5 internal. The same failure gives the same code in every command. */
#ifndef MM_OPTIONS_H
#define MM_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "mmgpt.h"

/* Groups of table rows (options.def's GROUP column); a command takes the union of some. */
enum {
    MM_OPT_MODEL = 1 << 0,  /* -m, --mmproj, -t, -c, --kv-f16 */
    MM_OPT_MEDIA = 1 << 1,  /* --image F, --audio F (repeatable) */
    MM_OPT_GEN   = 1 << 2,  /* -n, --temp, --top-k, --top-p, --min-p, --seed, the penalties, --stop,
                               --ignore-eos */
    MM_OPT_OUT   = 1 << 3,  /* --json, -q */
    MM_OPT_NPY   = 1 << 4,  /* -o FILE.npy, -q */
    MM_OPT_CHAT  = 1 << 5,  /* --multi-turn */
    MM_OPT_TEMPLATE = 1 << 6, /* --chat-template (commands that use the model's turn format) */
    MM_OPT_PROMPT = 1 << 7, /* -p, -f, --system */
    MM_OPT_SERVE = 1 << 8,  /* serve: --host, --port, --parallel, --api-key, --max-body, --queue, --drain-timeout */
};

/* Option ids: MM_O_MODEL, MM_O_TEMP, ... (one per row of options.def). */
typedef enum {
#define MM_OPT(id, s, l, alias, arg, group, help) MM_O_##id,
#include "options.def"
#undef MM_OPT
    MM_O_COUNT
} mm_opt_id;

#define MM_OPT_MAX_STOPS 16  /* --stop strings */

typedef struct {
    const char *model, *mmproj, *prompt, *system;
    const char *chat_template;  /* --chat-template NAME (checked when parsed), NULL = the model's */
    const char *file;           /* -f FILE: the prompt from a file (mm_cmd_parse reads it into prompt) */
    char       *file_text;      /* that text (owned) */
    const char *out;            /* -o FILE.npy */
    long        threads, n_ctx;
    bool        kv_f16;
    long        max_tiles;      /* --max-tiles N (0 = the image processor's default) */
    mmgpt_gen_params gen;       /* gen.stop / n_stop point at stops[] */
    bool        json, quiet, have_max_tokens, multi_turn;
    bool        no_encoders;    /* not an option: a command that will add no media skips loading the encoders */
    const char *stops[MM_OPT_MAX_STOPS];
    int          n_stops;
    const char **media;        /* [n_media] paths in command-line order */
    mmgpt_media_kind *kinds;   /* [n_media] */
    int          n_media, cap_media;
    const char  *host, *api_key;                    /* serve (MM_OPT_SERVE) */
    long         port, parallel, queue, max_body, drain_s;
    const char **pos;          /* [n_pos] positional arguments (mm_cmd_parse) */
    int          n_pos;
} mm_task_opts;

void mm_task_opts_init(mm_task_opts *o);  /* the library's defaults (mmgpt_gen_default_params) */
void mm_task_opts_free(mm_task_opts *o);
/* argv[*i] is an option of the groups in `which`: consume it (and its value) and return 1; 0 if it is
 * not one; -1 after printing a usage error (exit with MM_EXIT_USAGE). */
int  mm_task_parse_opt(mm_task_opts *o, unsigned which, int argc, char **argv, int *i);
/* --help lines of the groups in `which` with mm_task_opts_init's defaults, then the lines every command
 * shares (-h, --version, output encoding, exit codes). mm_cmd_help prints a spec's, with its defaults. */
void mm_task_print_opts(FILE *f, unsigned which);

typedef struct {
    const char *name;       /* as in commands.def */
    const char *usage;      /* after "usage: mmgpt NAME " */
    const char *about;      /* what it does, printed after the usage line (ends with "\n") */
    unsigned    groups;     /* MM_OPT_* */
    int         min_pos, max_pos;  /* positional arguments */
    const char *pos_name;   /* for "no FILE given" */
    const char *prompt_help;       /* -p's meaning in this command */
    void (*defaults)(mm_task_opts *o);  /* the command's defaults over mm_task_opts_init's, or NULL */
} mm_cmd_spec;

#define MM_CMD_HELP_DONE (-1)  /* mm_cmd_parse answered --help / --version: exit 0 */
/* Init o with the spec's defaults and parse argv[1..] (then -f FILE is read into o->prompt): MM_EXIT_OK
 * to run, MM_CMD_HELP_DONE, or the exit code after printing the error. o is to be freed
 * (mm_task_opts_free) in every case. */
int  mm_cmd_parse(const mm_cmd_spec *spec, mm_task_opts *o, int argc, char **argv);
void mm_cmd_help(const mm_cmd_spec *spec, FILE *f);

#endif
