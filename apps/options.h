/* options.h - the one option table of the mmgpt commands and the command-line story they share.
 *
 * The table is options.def: one row per flag (names, value, group, --help text), one meaning per flag
 * in every command that takes it. options.c parses argv and prints --help from it; nothing else in
 * apps/ parses options (dist_cli.c's MPI worker too parses its command line with mm_cmd_parse, with a spec
 * of every group the decoder commands take).
 *
 * How a command declares the options it takes: a static mm_cmd_spec (below) with
 *   - groups: the MM_OPT_* groups of table rows it takes, and opts: more rows one by one (the rows of
 *     one or two commands, GROUP 0 in the table); a flag of another row is "unknown option";
 *   - defaults: a function that sets the command's own defaults over mm_task_opts_init's (the library's:
 *     greedy, -n 128, seed 0x5eed), only where the purpose differs: free-text `generate` samples at
 *     --temp 0.8, seed 1234, -n 64 (as llama.cpp's llama-cli) and evaluates the prompt raw (no
 *     template); caption/describe/ask/chat answer greedily through the model's template. --help shows
 *     each command's own defaults ("{default}" in the table), or the spec's texts for a row;
 *   - usage line, description, positional arguments (min/max count and their name for messages), the
 *     "exit codes:" paragraph of its --help (NULL: the decoder commands');
 * then calls mm_cmd_parse(&spec, &o, argc, argv) and runs with the filled mm_task_opts. -h/--help and
 * --version are answered there; `--` ends the options.
 * To add a flag: a row in options.def (pick its group, a new MM_OPT_* bit here, or 0 and name it in the
 * specs' opts), a field in mm_task_opts if it needs one, a case in options.c's store_value (its range:
 * a value out of it is a usage error). Before adding one, look for a row with that meaning: a spelling
 * is one row (one meaning) in every command. To add a command: a spec, no parsing code.
 *
 * Exit codes are apps/cli.h's: 2 usage (unknown option, a value out of its range, a missing argument or value,
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
    MM_OPT_MODEL_BASE = 1 << 0,  /* -m, --mmproj, -t, -c, --kv-f16 */
    MM_OPT_PICTURES = 1 << 9,    /* --max-tiles: how pictures are cut (a command that takes no picture drops
                                    it: describe) */
    MM_OPT_MODEL = MM_OPT_MODEL_BASE | MM_OPT_PICTURES,  /* the model group as commands take it */
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
#define MM_OPT_MAX_LIST 8    /* values of a comma list (bench: -t, --n-prompt, --n-gen, --n-parallel) */
#define MM_OPT_MAX_REPS 100  /* bench -r */

typedef struct {
    long v[MM_OPT_MAX_LIST];
    int  n;
} mm_opt_list;

typedef struct {
    const char *model, *mmproj, *prompt, *system;
    const char *chat_template;  /* --chat-template NAME (checked when parsed), NULL = the model's */
    const char *file;           /* -f FILE: the prompt from a file (mm_cmd_parse reads it into prompt) */
    char       *file_text;      /* that text (owned) */
    const char *out;            /* -o FILE.npy */
    long        threads, n_ctx;
    bool        kv_f16;
    char        kv_given;       /* the KV type an option named: 0 none, 'h' f16 (--kv-f16, -ctk/-ctv f16), 'f' f32 */
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
    /* the rows of one or two commands (GROUP 0; 0 / NULL = not given) */
    const char *vocab, *preprocessed, *projected, *mel, *pcm;  /* --vocab, the extra .npy outputs */
    const char *arch, *ranks, *type, *mem, *layer_split;       /* params */
    long        n_mels, batch, repetitions, bw_mib;
    double      max_seconds;
    bool        special, pad_30s, all, pure, allow_requantize, dry_run;
    bool        lists;         /* not an option: -t takes a comma list (set by bench's defaults) */
    mm_opt_list threads_list, n_prompt, n_gen;  /* bench: -t (when lists), --n-prompt, --n-gen */
    mm_opt_list n_parallel;                     /* bench: -npl (n = 0: not given) */
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
    mm_opt_id   id;
    const char *text;       /* replaces "{default}" in row id's --help */
} mm_opt_text;

typedef struct {
    const char *name;       /* as in commands.def */
    const char *usage;      /* after "usage: mmgpt NAME " */
    const char *about;      /* what it does, printed after the usage line (ends with "\n") */
    unsigned    groups;     /* MM_OPT_* */
    int         min_pos, max_pos;  /* positional arguments */
    const char *pos_name;   /* for "no FILE given" */
    const char *prompt_help;       /* -p's meaning in this command */
    void (*defaults)(mm_task_opts *o);  /* the command's defaults over mm_task_opts_init's, or NULL */
    const mm_opt_id   *opts;       /* more rows, ending with MM_O_COUNT; NULL = none */
    const mm_opt_text *texts;      /* the command's "{default}" texts, ending with {MM_O_COUNT}; NULL = none */
    const char        *exits;      /* its "exit codes: ..." paragraph; NULL = the decoder commands' */
    bool               numbers_are_args;  /* "-5" is an argument, not an option (detokenize's ids) */
    bool               file_unread;       /* mm_cmd_parse leaves -f FILE unread (the MPI worker: rank 0 reads it) */
} mm_cmd_spec;

/* What the specs of the task commands (caption, describe, ask) share: the groups, -p's meaning, and the
 * lines of caption's and describe's description about several files. */
#define MM_TASK_GROUPS (MM_OPT_MODEL | MM_OPT_TEMPLATE | MM_OPT_PROMPT | MM_OPT_GEN | MM_OPT_OUT)
/* A row is a command's when its GROUP shares a bit with the spec's groups: a command that cannot use a row of a
 * group it takes leaves that row's own bit out (describe: MM_TASK_GROUPS & ~MM_OPT_PICTURES). */
#define MM_TASK_PROMPT_HELP "replaces the task's text (the file goes where <__media__> is in it, or first)"
#define MM_TASK_FILES_ABOUT                                                                 \
    "A FILE of - is standard input. With one file, stdout holds only the text; with several, one line\n" \
    "per file: \"FILE: text\". --json prints one JSON object per file instead. Answers are greedy by\n"    \
    "default.\n"

/* The "exit codes:" paragraph of the commands other than the decoder ones (a spec's exits). */
#define MM_CMD_TOOL_EXITS                                                                                  \
    "exit codes: 0 ok; 2 usage (bad option or value out of its range, a missing argument); 3 input\n"      \
    "  (missing, unreadable, unsupported or corrupt input file); 4 model (missing or invalid model file,\n" \
    "  or one without what the command needs; weights that give NaN/Inf); 5 internal (out of memory,\n"    \
    "  cannot write the output)\n"

/* Whether argv[1..] (a command's arguments) holds --json as an option: not as the value of an option that
 * takes one, not after "--". Read before parsing, so that a failure of any kind, in any command (an
 * unknown option before --json too), is reported as JSON (main.c). */
bool mm_opt_wants_json(int argc, char **argv);

#define MM_CMD_HELP_DONE (-1)  /* mm_cmd_parse answered --help / --version: exit 0 */
/* Init o with the spec's defaults and parse argv[1..] (then -f FILE is read into o->prompt): MM_EXIT_OK
 * to run, MM_CMD_HELP_DONE, or the exit code after printing the error. o is to be freed
 * (mm_task_opts_free) in every case. */
int  mm_cmd_parse(const mm_cmd_spec *spec, mm_task_opts *o, int argc, char **argv);
/* A whole command: mm_cmd_parse, then run(&o) when there is something to run; the exit code. */
int  mm_cmd_main(const mm_cmd_spec *spec, int argc, char **argv, int (*run)(mm_task_opts *o));
void mm_cmd_help(const mm_cmd_spec *spec, FILE *f);

#endif
