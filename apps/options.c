/* options.c - parse the commands' options and print their --help, from options.def. */
#include "options.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mm_fusion.h"
#include "mm_transformer.h"

typedef struct {
    const char *shrt, *lng, *alias, *arg;
    unsigned    group;
    const char *help;
} opt_row;

static const opt_row k_rows[MM_O_COUNT] = {
#define MM_OPT(id, s, l, alias, arg, group, help) [MM_O_##id] = {s, l, alias, arg, group, help},
#include "options.def"
#undef MM_OPT
};

void mm_task_opts_init(mm_task_opts *o) {
    memset(o, 0, sizeof *o);
    o->gen = mmgpt_gen_default_params();
}

void mm_task_opts_free(mm_task_opts *o) {
    free(o->media);
    free(o->kinds);
    free(o->pos);
    free(o->file_text);
    memset(o, 0, sizeof *o);
}

static int add_media(mm_task_opts *o, const char *path, mmgpt_media_kind k) {
    if (o->n_media == o->cap_media) {
        int cap = o->cap_media ? 2 * o->cap_media : 8;
        const char **m = realloc(o->media, (size_t)cap * sizeof *m);
        if (!m) return -1;
        o->media = m;
        mmgpt_media_kind *kk = realloc(o->kinds, (size_t)cap * sizeof *kk);
        if (!kk) return -1;
        o->kinds = kk;
        o->cap_media = cap;
    }
    o->media[o->n_media] = path;
    o->kinds[o->n_media] = k;
    o->n_media++;
    return 0;
}

static bool f_range(const char *a, const char *v, double lo, double hi, float *dst) {
    double d;
    if (!mm_cli_float(a, v, lo, hi, &d)) return false;
    *dst = (float)d;
    return true;
}

static bool i_range(const char *a, const char *v, long lo, long hi, int *dst) {
    long l;
    if (!mm_cli_int(a, v, lo, hi, &l)) return false;
    *dst = (int)l;
    return true;
}

/* "512,1024" -> at most MM_OPT_MAX_LIST values in [lo, hi] (empty items skipped); false after a usage error */
static bool list_range(const char *a, const char *v, long lo, long hi, mm_opt_list *out) {
    mm_opt_list l = {{0}, 0};
    for (const char *p = v; *p; p += *p == ',') {
        size_t n = strcspn(p, ",");
        char   tok[32];
        if (!n) continue;
        if (l.n == MM_OPT_MAX_LIST) return mm_cli_fail(MM_EXIT_USAGE, "%s: at most %d values", a, MM_OPT_MAX_LIST), false;
        if (n >= sizeof tok)
            return mm_cli_fail(MM_EXIT_USAGE, "%s: '%.*s' is not an integer in [%ld, %ld]", a, (int)n, p, lo, hi), false;
        snprintf(tok, sizeof tok, "%.*s", (int)n, p);
        if (!mm_cli_int(a, tok, lo, hi, &l.v[l.n++])) return false;
        p += n;
    }
    if (!l.n) return mm_cli_fail(MM_EXIT_USAGE, "%s: empty list", a), false;
    *out = l;
    return true;
}

/* The KV cache type named by option a (--kv-f16, -ctk / -ctv TYPE as llama.cpp spells them): f32 or f16 for keys and
 * values alike; another type, or a second option naming a different one, is a usage error. */
static bool kv_type(mm_task_opts *o, const char *a, const char *v) {
    const char t = !strcasecmp(v, "f16") ? 'h' : !strcasecmp(v, "f32") ? 'f' : 0;
    if (!t)
        return mm_cli_fail(MM_EXIT_USAGE, "%s: KV cache type '%s' is not supported: mmgpt keeps it in f32 (default) or f16",
                           a, v), false;
    if (o->kv_given && o->kv_given != t)
        return mm_cli_fail(MM_EXIT_USAGE, "%s: %s conflicts with the KV cache type given before (keys and values have one "
                           "type here: give -ctk and -ctv alike)", a, v), false;
    o->kv_given = t;
    o->kv_f16 = t == 'h';
    return true;
}

/* The value v (NULL for a switch) of option id, given as a: into o. false after a usage error. */
static bool store_value(mm_task_opts *o, mm_opt_id id, const char *a, const char *v) {
    mmgpt_gen_params *g = &o->gen;
    switch (id) {
    case MM_O_MODEL: o->model = v; return true;
    case MM_O_MMPROJ: o->mmproj = v; return true;
    case MM_O_THREADS:
        if (o->lists) return list_range(a, v, 1, MM_POOL_MAX_THREADS, &o->threads_list);
        return mm_cli_threads(a, v, &o->threads);
    case MM_O_CTX_SIZE: return mm_cli_int(a, v, 0, 1L << 24, &o->n_ctx);
    case MM_O_KV_F16: return kv_type(o, a, "f16");
    case MM_O_CACHE_TYPE_K:
    case MM_O_CACHE_TYPE_V: return kv_type(o, a, v);
    case MM_O_MAX_TILES: return mm_cli_int(a, v, 1, 4096, &o->max_tiles);
    case MM_O_CHAT_TEMPLATE:
        if (!mm_chat_template_known(v)) {
            mm_cli_fail(MM_EXIT_USAGE, "%s: unknown template '%s' (known: %s)", a, v, mm_chat_template_names());
            return false;
        }
        o->chat_template = v;
        return true;
    case MM_O_IMAGE:
    case MM_O_AUDIO:
        if (add_media(o, v, id == MM_O_IMAGE ? MMGPT_MEDIA_IMAGE : MMGPT_MEDIA_AUDIO)) {
            mm_cli_fail(MM_EXIT_INTERNAL, "out of memory");
            return false;
        }
        return true;
    case MM_O_PROMPT: o->prompt = v; return true;
    case MM_O_FILE: o->file = v; return true;
    case MM_O_SYSTEM: o->system = v; return true;
    case MM_O_MAX_TOKENS: return (o->have_max_tokens = i_range(a, v, -1, 1L << 24, &g->max_tokens));
    case MM_O_TEMP: return f_range(a, v, 0.0, MM_SAMPLER_MAX_TEMP, &g->temperature);
    case MM_O_TOP_K: return i_range(a, v, 0, 1L << 30, &g->top_k);
    case MM_O_TOP_P: return f_range(a, v, 0.0, 1.0, &g->top_p);
    case MM_O_MIN_P: return f_range(a, v, 0.0, 1.0, &g->min_p);
    case MM_O_SEED: return mm_cli_u64(a, v, &g->seed);
    case MM_O_REPEAT_PENALTY: return f_range(a, v, 0.01, 10.0, &g->repeat_penalty);
    case MM_O_REPEAT_LAST_N: return i_range(a, v, -1, 1048576, &g->repeat_last_n);
    case MM_O_PRESENCE_PENALTY: return f_range(a, v, -10.0, 10.0, &g->presence_penalty);
    case MM_O_FREQUENCY_PENALTY: return f_range(a, v, -10.0, 10.0, &g->frequency_penalty);
    case MM_O_STOP:
        if (!mm_cli_stop_string(a, v)) return false;
        if (o->n_stops == MM_OPT_MAX_STOPS) {
            mm_cli_fail(MM_EXIT_USAGE, "%s: at most %d stop strings", a, MM_OPT_MAX_STOPS);
            return false;
        }
        o->stops[o->n_stops++] = v;
        g->stop = o->stops;
        g->n_stop = o->n_stops;
        return true;
    case MM_O_IGNORE_EOS: g->ignore_eos = true; return true;
    case MM_O_OUTPUT: o->out = v; return true;
    case MM_O_MULTI_TURN: o->multi_turn = true; return true;
    case MM_O_JSON: o->json = true; return true;
    case MM_O_QUIET: o->quiet = true; return true;
    case MM_O_VOCAB: o->vocab = v; return true;
    case MM_O_SPECIAL: o->special = true; return true;
    case MM_O_PREPROCESSED: o->preprocessed = v; return true;
    case MM_O_PROJECTED: o->projected = v; return true;
    case MM_O_MEL: o->mel = v; return true;
    case MM_O_PCM: o->pcm = v; return true;
    case MM_O_N_MELS:
        if (!mm_cli_int(a, v, 1, 512, &o->n_mels)) return false;
        if (o->n_mels != 80 && o->n_mels != 128) {
            mm_cli_fail(MM_EXIT_USAGE, "%s: %ld is not 80 or 128", a, o->n_mels);
            return false;
        }
        return true;
    case MM_O_PAD_30S: o->pad_30s = true; return true;
    case MM_O_MAX_SECONDS: return mm_cli_float(a, v, 0.001, 1e6, &o->max_seconds);
    case MM_O_ARCH: o->arch = v; return true;
    case MM_O_ALL: o->all = true; return true;
    case MM_O_RANKS: o->ranks = v; return true;
    case MM_O_TYPE: o->type = v; return true;
    case MM_O_MEM: o->mem = v; return true;
    case MM_O_LAYER_SPLIT: o->layer_split = v; return true;
    case MM_O_BATCH: return mm_cli_int(a, v, 1, 1L << 20, &o->batch);
    case MM_O_PURE: o->pure = true; return true;
    case MM_O_ALLOW_REQUANTIZE: o->allow_requantize = true; return true;
    case MM_O_DRY_RUN: o->dry_run = true; return true;
    case MM_O_N_PROMPT: return list_range(a, v, 0, 1L << 20, &o->n_prompt);
    case MM_O_N_GEN: return list_range(a, v, 0, 1L << 20, &o->n_gen);
    case MM_O_N_PARALLEL: return list_range(a, v, 1, MM_GPT_BATCH_MAX, &o->n_parallel);
    case MM_O_REPETITIONS: return mm_cli_int(a, v, 1, MM_OPT_MAX_REPS, &o->repetitions);
    case MM_O_BW_MIB: return mm_cli_int(a, v, 1, 16384, &o->bw_mib);
    case MM_O_HOST: o->host = v; return true;
    case MM_O_PORT: return mm_cli_int(a, v, 0, 65535, &o->port);
    case MM_O_PARALLEL: return mm_cli_int(a, v, 1, 256, &o->parallel);
    case MM_O_API_KEY: o->api_key = v; return true;
    case MM_O_MAX_BODY: return mm_cli_int(a, v, 1024, 1L << 30, &o->max_body);
    case MM_O_QUEUE: return mm_cli_int(a, v, 1, 65536, &o->queue);
    case MM_O_DRAIN_TIMEOUT: return mm_cli_int(a, v, 0, 3600, &o->drain_s);
    case MM_O_COUNT: break;
    }
    return false;
}

static bool same(const char *a, const char *name) { return name && !strcmp(a, name); }

/* Whether a command of these groups and rows (opts ends with MM_O_COUNT, or NULL) takes row id. */
static bool takes(unsigned groups, const mm_opt_id *opts, int id) {
    if (k_rows[id].group & groups) return true;
    for (const mm_opt_id *p = opts; p && *p != MM_O_COUNT; p++)
        if ((int)*p == id) return true;
    return false;
}

static int parse_opt(mm_task_opts *o, unsigned groups, const mm_opt_id *opts, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    for (int id = 0; id < MM_O_COUNT; id++) {
        const opt_row *r = &k_rows[id];
        if (!(same(a, r->shrt) || same(a, r->lng) || same(a, r->alias)) || !takes(groups, opts, id)) continue;
        const char *v = NULL;
        if (r->arg && !(v = mm_cli_value(argc, argv, i))) return -1;
        return store_value(o, (mm_opt_id)id, a, v) ? 1 : -1;
    }
    return 0;
}

bool mm_opt_wants_json(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) return false;
        if (!strcmp(a, k_rows[MM_O_JSON].lng)) return true;
        for (int id = 0; id < MM_O_COUNT; id++) /* a spelling takes a value in every row it is in */
            if (k_rows[id].arg && (same(a, k_rows[id].shrt) || same(a, k_rows[id].lng) || same(a, k_rows[id].alias))) {
                i++;
                break;
            }
    }
    return false;
}

int mm_task_parse_opt(mm_task_opts *o, unsigned which, int argc, char **argv, int *i) {
    return parse_opt(o, which, NULL, argc, argv, i);
}

/* ---------------------------------------------------------------- --help */
/* What "{default}" in row id's help stands for in the decoder commands, with the command's defaults d. */
static const char *default_text(mm_opt_id id, const mm_task_opts *d, const char *prompt_help, char *buf, size_t n) {
    switch (id) {
    case MM_O_MODEL: return "(default: $MMGPT_MODEL, else the bundled model)";
    case MM_O_CTX_SIZE: return ", at most the model's (default 0 = min(the model's, 4096))";
    case MM_O_CHAT_TEMPLATE: return mm_chat_template_names();
    case MM_O_IMAGE: return "add a picture (repeatable; order = <__media__> order; - = stdin)";
    case MM_O_AUDIO: return "add a sound clip (repeatable; - = stdin)";
    case MM_O_PROMPT: return prompt_help ? prompt_help : "prompt text (<__media__> marks where each image/clip goes)";
    case MM_O_FILE:
        snprintf(buf, n, "read the -p text from FILE (- = stdin; at most %zu bytes)", MM_CLI_MAX_TEXT);
        return buf;
    case MM_O_JSON:
        return "one JSON object per input (file, task, text, token counts, timings;\n"
               "an input that fails gives {..., \"error\", \"exit_code\"})";
    case MM_O_REPETITIONS: snprintf(buf, n, "%d", MM_OPT_MAX_REPS); return buf;
    case MM_O_ARCH: { /* the known shapes, in lines of six */
        size_t k = 0;
        for (int i = 0; mm_gpt_arch_name(i) && k < n; i++)
            k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? (i % 6 ? " " : "\n") : "", mm_gpt_arch_name(i));
        return buf;
    }
    case MM_O_SYSTEM:
        return d->gen.raw ? "plain text in front of the prompt (tokenized on its own; no template)"
                          : "system prompt, plain text (default: the model's, if any)";
    case MM_O_MAX_TOKENS: snprintf(buf, n, "%d", d->gen.max_tokens); return buf;
    case MM_O_TEMP:
        if (d->gen.temperature == 0.0f) return "0 = greedy";
        snprintf(buf, n, "%g; 0 = greedy", (double)d->gen.temperature);
        return buf;
    case MM_O_SEED:
        if (d->gen.seed == mmgpt_gen_default_params().seed) snprintf(buf, n, "0x%llx", (unsigned long long)d->gen.seed);
        else snprintf(buf, n, "%llu", (unsigned long long)d->gen.seed);
        return buf;
    case MM_O_STOP: snprintf(buf, n, "%d", MM_OPT_MAX_STOPS); return buf;
    default: return "";
    }
}

#define HELP_COL 25    /* 0-based column of the descriptions */
#define HELP_WIDTH 100 /* lines are wrapped at a space before this column */

/* The spec's own text for row id ("{default}"), or NULL. */
static const char *spec_text(const mm_opt_text *t, mm_opt_id id) {
    for (; t && t->id != MM_O_COUNT; t++)
        if (t->id == id) return t->text;
    return NULL;
}

static void print_row(FILE *f, mm_opt_id id, const mm_task_opts *d, const char *prompt_help, const mm_opt_text *texts) {
    const opt_row *r = &k_rows[id];
    char left[64], dflt[512], text[2048];
    snprintf(left, sizeof left, "%s%s%s%s%s", r->shrt ? r->shrt : "", r->shrt ? ", " : "", r->lng, r->arg ? " " : "",
             r->arg ? r->arg : "");
    /* the help with "{default}" replaced */
    const char *h = r->help, *hit = strstr(h, "{default}");
    if (hit)
        snprintf(text, sizeof text, "%.*s%s%s", (int)(hit - h), h,
                 spec_text(texts, id) ? spec_text(texts, id) : default_text(id, d, prompt_help, dflt, sizeof dflt),
                 hit + strlen("{default}"));
    else snprintf(text, sizeof text, "%s", h);
    if ((int)strlen(left) > HELP_COL - 3) fprintf(f, "  %s\n%*s", left, HELP_COL, ""); /* a long flag: text below */
    else fprintf(f, "  %-*s ", HELP_COL - 3, left);
    int col = HELP_COL;
    for (const char *p = text; *p; p++) {
        /* a space before a word that would pass HELP_WIDTH breaks the line, as "\n" does */
        bool brk = *p == '\n' || (*p == ' ' && col + 1 + (int)strcspn(p + 1, " \n") > HELP_WIDTH);
        if (brk) col = fprintf(f, "\n%*s", HELP_COL, "") - 1;
        else col += fputc(*p, f) != EOF;
    }
    fputc('\n', f);
}

static const mm_cmd_spec k_no_spec = {.name = ""};

/* The option lines of the rows spec takes (table order), -h and --version, then the exit codes. */
static void print_opts(FILE *f, const mm_cmd_spec *spec, const mm_task_opts *d) {
    mm_task_opts init;
    if (!d) {
        mm_task_opts_init(&init);
        d = &init;
    }
    for (int id = 0; id < MM_O_COUNT; id++)
        if (takes(spec->groups, spec->opts, id)) print_row(f, (mm_opt_id)id, d, spec->prompt_help, spec->texts);
    fprintf(f, "  -h, --help             this help\n"
               "  --version              print the version\n");
    fputs(spec->exits ? spec->exits
                      : "Output (stdout, JSON) is valid UTF-8: bytes of the model's text, a file name or a question that\n"
                        "are not UTF-8 become U+FFFD.\n"
                        "exit codes: 0 ok; 2 usage (bad option or value out of its range, <__media__> count, -n N that\n"
                        "  cannot fit after the prompt); 3 input (missing, unreadable, unsupported or corrupt file; prompt\n"
                        "  over the context); 4 model (missing or corrupt, no encoder for the input, mmproj does not fit,\n"
                        "  weights that give NaN/Inf); 5 internal (out of memory, cannot write the output)\n",
          f);
    if (takes(spec->groups, spec->opts, MM_O_JSON))
        fputs("With --json, a failure (a usage error too) is also one JSON object on stdout: {\"task\": COMMAND,\n"
              "\"error\": MESSAGE, \"exit_code\": N}, with \"file\" (and \"question\") where it concerns an input.\n",
              f);
}

void mm_task_print_opts(FILE *f, unsigned which) {
    mm_cmd_spec s = k_no_spec;
    s.groups = which;
    print_opts(f, &s, NULL);
}

void mm_cmd_help(const mm_cmd_spec *spec, FILE *f) {
    mm_task_opts d;
    mm_task_opts_init(&d);
    if (spec->defaults) spec->defaults(&d);
    fprintf(f, "usage: mmgpt %s %s\n\n%s\noptions:\n", spec->name, spec->usage, spec->about);
    print_opts(f, spec, &d);
    mm_task_opts_free(&d);
}

/* ---------------------------------------------------------------- a command's whole command line */
int mm_cmd_parse(const mm_cmd_spec *spec, mm_task_opts *o, int argc, char **argv) {
    mm_task_opts_init(o);
    if (spec->defaults) spec->defaults(o);
    if (!(o->pos = calloc((size_t)(argc > 0 ? argc : 1), sizeof *o->pos)))
        return mm_cli_fail(MM_EXIT_INTERNAL, "out of memory");
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && a[0] == '-' && a[1] && !(spec->numbers_are_args && isdigit((unsigned char)a[1]))) {
            if (!strcmp(a, "--")) {
                only_pos = true;
                continue;
            }
            if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
                mm_cmd_help(spec, stdout);
                return MM_CMD_HELP_DONE;
            }
            if (!strcmp(a, "--version")) {
                printf("mmgpt %s\n", mmgpt_version());
                return MM_CMD_HELP_DONE;
            }
            int r = parse_opt(o, spec->groups, spec->opts, argc, argv, &i);
            if (r < 0) return MM_EXIT_USAGE;
            if (r > 0) continue;
            return mm_cli_fail(MM_EXIT_USAGE, "%s: unknown option '%s' (see mmgpt %s --help)", spec->name, a, spec->name);
        }
        if (o->n_pos == spec->max_pos) {
            if (spec->max_pos == 0)
                return mm_cli_fail(MM_EXIT_USAGE, "%s: unexpected argument '%s' (see mmgpt %s --help)", spec->name, a,
                                   spec->name);
            if (spec->max_pos == 1)
                return mm_cli_fail(MM_EXIT_USAGE, "%s: one %s only ('%s' is a second one; quote an argument with spaces)",
                                   spec->name, spec->pos_name, a);
            return mm_cli_fail(MM_EXIT_USAGE, "%s: more than %s given ('%s'; quote an argument with spaces)", spec->name,
                               spec->pos_name, a);
        }
        o->pos[o->n_pos++] = a;
    }
    if (o->n_pos < spec->min_pos)
        return mm_cli_fail(MM_EXIT_USAGE, "%s: %s %s (see mmgpt %s --help)", spec->name, o->n_pos ? "needs" : "no",
                           spec->pos_name, spec->name);
    int code = MM_EXIT_OK;
    /* -f FILE is -p's text where the command takes -p (tokenize and detokenize read it themselves) */
    if (o->file && !spec->file_unread && takes(spec->groups, spec->opts, MM_O_PROMPT) &&
        !(o->prompt = o->file_text = mm_cli_read_text(o->file, MM_CLI_MAX_TEXT, &code)))
        return code;
    return MM_EXIT_OK;
}

int mm_cmd_main(const mm_cmd_spec *spec, int argc, char **argv, int (*run)(mm_task_opts *o)) {
    mm_task_opts o;
    int          code = mm_cmd_parse(spec, &o, argc, argv);
    if (code == MM_EXIT_OK) code = run(&o);
    mm_task_opts_free(&o);
    return code == MM_CMD_HELP_DONE ? MM_EXIT_OK : code;
}
