/* task_cli.c - shared body of the media commands and of generate/logits with --image/--audio. */
#include "task_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mm_core.h"
#include "mm_transformer.h"
#include "sampling_cli.h"
#include "mm_fusion.h"

void mm_task_opts_init(mm_task_opts *o) {
    memset(o, 0, sizeof *o);
    o->gen = mmgpt_gen_default_params();
}

void mm_task_opts_free(mm_task_opts *o) {
    free(o->media);
    free(o->kinds);
    free(o->stops);
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

static bool is(const char *a, const char *s1, const char *s2) { return !strcmp(a, s1) || (s2 && !strcmp(a, s2)); }

int mm_task_parse_opt(mm_task_opts *o, unsigned which, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
    long        l;
    double      d;
    if (which & MM_OPT_MODEL) {
        if (is(a, "-m", "--model")) return (o->model = mm_cli_value(argc, argv, i)) ? 1 : -1;
        if (is(a, "--mmproj", NULL)) return (o->mmproj = mm_cli_value(argc, argv, i)) ? 1 : -1;
        if (is(a, "--chat-template", NULL)) return mm_cli_chat_template(argc, argv, i, &o->chat_template) ? 1 : -1;
        if (is(a, "-t", "--threads")) {
            if (!(v = mm_cli_value(argc, argv, i)) || !mm_cli_threads(a, v, &o->threads)) return -1;
            return 1;
        }
        if (is(a, "--max-tiles", NULL)) {
            if (!(v = mm_cli_value(argc, argv, i)) || !mm_cli_int(a, v, 1, 4096, &o->max_tiles)) return -1;
            return 1;
        }
        if (is(a, "-c", "--ctx-size")) {
            if (!(v = mm_cli_value(argc, argv, i)) || !mm_cli_int(a, v, 0, 1L << 24, &o->n_ctx)) return -1;
            return 1;
        }
    }
    if (which & MM_OPT_MEDIA) {
        if (is(a, "--image", NULL) || is(a, "--audio", NULL)) {
            if (!(v = mm_cli_value(argc, argv, i))) return -1;
            if (add_media(o, v, !strcmp(a, "--image") ? MMGPT_MEDIA_IMAGE : MMGPT_MEDIA_AUDIO)) {
                mm_cli_fail(MM_EXIT_INTERNAL, "out of memory");
                return -1;
            }
            return 1;
        }
    }
    if (which & MM_OPT_GEN) {
        if (is(a, "-p", "--prompt")) return (o->prompt = mm_cli_value(argc, argv, i)) ? 1 : -1;
        if (is(a, "--system", NULL)) return (o->system = mm_cli_value(argc, argv, i)) ? 1 : -1;
        if (is(a, "-n", "--max-tokens") || is(a, "--n-predict", NULL)) {
            if (!(v = mm_cli_value(argc, argv, i)) || !mm_cli_int(a, v, -1, 1L << 24, &l)) return -1;
            o->gen.max_tokens = (int)l;
            o->have_max_tokens = true;
            return 1;
        }
        if (is(a, "--temp", "--temperature")) {
            if (!(v = mm_cli_value(argc, argv, i)) || !mm_cli_float(a, v, 0.0, MM_SAMPLER_MAX_TEMP, &d)) return -1;
            o->gen.temperature = (float)d;
            return 1;
        }
        if (is(a, "--top-k", NULL)) {
            if (!(v = mm_cli_value(argc, argv, i)) || !mm_cli_int(a, v, 0, 1L << 30, &l)) return -1;
            o->gen.top_k = (int)l;
            return 1;
        }
        if (is(a, "--top-p", NULL)) {
            if (!(v = mm_cli_value(argc, argv, i)) || !mm_cli_float_gt(a, v, 0.0, 1.0, &d)) return -1;
            o->gen.top_p = (float)d;
            return 1;
        }
        int r = mm_sampling_parse_opt(&o->gen, argc, argv, i); /* penalties, min-p */
        if (r) return r;
        if (is(a, "--seed", "-s")) {
            return (v = mm_cli_value(argc, argv, i)) && mm_cli_u64(a, v, &o->gen.seed) ? 1 : -1;
        }
    }
    if (which & MM_OPT_OUT) {
        if (is(a, "--json", NULL)) return o->json = true, 1;
        if (is(a, "-q", "--quiet")) return o->quiet = true, 1;
    }
    return 0;
}

void mm_task_print_opts(FILE *f, unsigned which) {
    if (which & MM_OPT_MODEL)
        fprintf(f, "  -m, --model FILE       model .gguf (default: $MMGPT_MODEL, else the bundled model)\n"
                   "  --mmproj FILE          encoders + projectors from a separate mmproj .gguf\n"
                   "  -t, --threads N        " MM_CLI_THREADS_HELP "\n"
                   "  -c, --ctx-size N       context positions, at most the model's (default 0 = min(the model's, 4096))\n"
                   "  --max-tiles N          SmolVLM mmproj: at most N 512 px tiles per picture, plus the global image\n"
                   "                         (default: the processor's, longest edge 2048 px: up to 16 tiles)\n"
                   "  --chat-template NAME   turn format instead of the model's own, one of\n"
                   "                         %s\n", mm_chat_template_names());
    if (which & MM_OPT_MEDIA)
        fprintf(f, "  --image FILE           add a picture (repeatable; order = <__media__> order)\n"
                   "  --audio FILE           add a sound clip (repeatable)\n");
    if (which & MM_OPT_GEN)
        fprintf(f, "  -p, --prompt TEXT      prompt text (<__media__> marks where each image/clip goes)\n"
                   "  --system TEXT          system prompt, plain text (default: the model's, if any)\n"
                   "  -n, --max-tokens N     most tokens to generate (default 128; 0 or -1 = no limit: until\n"
                   "                         the end of the answer or a full context)\n"
                   "  --temp T               temperature in [0, 2] (default 0 = greedy)\n"
                   "  --top-k K              sample among the K most likely tokens (default 40; 0 = all)\n"
                   "  --top-p P              nucleus sampling threshold in (0, 1] (default 0.95)\n"
                   "  --seed S               random seed, 0 to 2^64-1, decimal or 0x hex (default 0x5eed)\n");
    if (which & MM_OPT_GEN) mm_sampling_print_opts(f, 25);
    if (which & MM_OPT_OUT)
        fprintf(f, "  --json                 one JSON object per input (file, task, text, token counts, timings;\n"
                   "                         an input that fails gives {..., \"error\", \"exit_code\"})\n"
                   "  -q, --quiet            no timings or progress on stderr\n");
    fprintf(f, "  -h, --help             this help\n"
               "  --version              print the version\n"
               "Output (stdout, JSON) is valid UTF-8: bytes of the model's text, a file name or a question that\n"
               "are not UTF-8 become U+FFFD.\n"
               "exit codes: 0 ok; 2 usage (bad option or value out of its range, <__media__> count);\n"
               "  3 input (missing, unreadable, unsupported or corrupt file; prompt over the context);\n"
               "  4 model (missing or corrupt, no encoder for the input, mmproj does not fit); 5 internal\n");
}

int mm_task_exit_code(int status) {
    switch (status) {
    case MMGPT_OK: return MM_EXIT_OK;
    case MMGPT_ERR_USAGE: return MM_EXIT_USAGE;
    case MMGPT_ERR_INPUT: return MM_EXIT_INPUT;
    case MMGPT_ERR_CONTEXT: return MM_EXIT_INPUT;  /* the input does not fit */
    case MMGPT_ERR_MODEL: return MM_EXIT_MODEL;
    default: return MM_EXIT_INTERNAL;
    }
}

int mm_task_fail(int status, const char *msg) { return mm_cli_fail(mm_task_exit_code(status), "%s", msg); }

static void progress(bool quiet, const char *fmt, const char *arg) {
    if (quiet || !mm_cli_stderr_tty()) return;
    if (!fmt) {
        fputs("\r\033[K", stderr);
    } else {
        fputs("\r\033[K", stderr);
        fprintf(stderr, fmt, arg);
    }
    fflush(stderr);
}

mmgpt_model *mm_task_load_model(const mm_task_opts *o, int *code) {
    const char *path = mm_cli_model_path(o->model);
    if (!path) {
        *code = MM_EXIT_MODEL;
        return NULL;
    }
    char               err[MMGPT_ERR_SIZE];
    mmgpt_model_params mp = mmgpt_model_default_params();
    mp.mmproj_path = o->mmproj;
    mp.chat_template = o->chat_template;
    progress(o->quiet, "mmgpt: loading %s ...", path);
    mmgpt_model *m = mmgpt_model_load(path, mp, err);
    progress(o->quiet, NULL, NULL);
    if (!m) {
        *code = mm_cli_fail(MM_EXIT_MODEL, "%s", err);
        return NULL;
    }
    return m;
}

mmgpt_ctx *mm_task_create_ctx(const mmgpt_model *m, const mm_task_opts *o, int *code) {
    char             err[MMGPT_ERR_SIZE];
    mmgpt_ctx_params cp = mmgpt_ctx_default_params();
    if (o->n_ctx > mmgpt_model_n_ctx(m)) {
        *code = mm_cli_fail(MM_EXIT_USAGE, "-c %ld: the model's context is %lld positions: give -c in [1, %lld] (0 = "
                            "min(the model's, 4096))", o->n_ctx, (long long)mmgpt_model_n_ctx(m), (long long)mmgpt_model_n_ctx(m));
        return NULL;
    }
    cp.n_threads = (int)o->threads;
    cp.n_ctx = o->n_ctx;
    cp.max_tiles = (int)o->max_tiles;
    mmgpt_ctx *c = mmgpt_ctx_create(m, cp, err);
    if (!c) {
        *code = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
        return NULL;
    }
    if (o->system && mmgpt_set_system(c, o->system, err)) {
        mmgpt_ctx_free(c);
        *code = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
        return NULL;
    }
    return c;
}

int mm_task_load_media(mmgpt_ctx *ctx, const char *path, mmgpt_media_kind want, const char *cmd, bool quiet,
                       mmgpt_media **out, int *code) {
    char          err[MMGPT_ERR_SIZE];
    unsigned char head[64];
    *out = NULL;
    /* a directory is named as one; a pipe or terminal (/dev/stdin) is read once into memory, sniffed and
     * decoded from there (reading its first bytes here would take them from the decoder) */
    const int pk = mm_path_kind(path, err);
    if (pk < 0) return *code = mm_cli_fail(MM_EXIT_INPUT, "%s", err), -1;
    void         *data = NULL;
    size_t        n = 0;
    const uint8_t *h = head;
    if (pk == MM_PATH_STREAM) {
        if (mm_read_file(path, MM_READ_MAX, &data, &n, err)) return *code = mm_cli_fail(MM_EXIT_INPUT, "%s", err), -1;
        h = data;
    } else {
        FILE *f = fopen(path, "rb");
        if (!f) return *code = mm_cli_fail(MM_EXIT_INPUT, "%s: %s", path, strerror(errno)), -1;
        n = fread(head, 1, sizeof head, f);
        fclose(f);
    }
    mmgpt_media_kind got = mmgpt_detect_kind(h, n);
    int              rc = 0;
    if (n == 0) rc = *code = mm_cli_fail(MM_EXIT_INPUT, "%s: empty file", path);
    else if (want != MMGPT_MEDIA_AUTO && got != MMGPT_MEDIA_AUTO && got != want) {
        if (want == MMGPT_MEDIA_IMAGE)
            rc = *code = mm_cli_fail(MM_EXIT_INPUT, "%s: this is a sound file, not an image%s", path,
                                     !strcmp(cmd, "caption") ? " (use mmgpt describe)" : "");
        else
            rc = *code = mm_cli_fail(MM_EXIT_INPUT, "%s: this is an image, not a sound file%s", path,
                                     !strcmp(cmd, "describe") ? " (use mmgpt caption)" : "");
    }
    if (rc) {
        free(data);
        return -1;
    }
    mmgpt_media_kind k = got != MMGPT_MEDIA_AUTO ? got : want; /* AUTO: the library tries both decoders */
    progress(quiet, "mmgpt: encoding %s ...", path);
    rc = data ? mmgpt_media_from_memory(ctx, data, n, k, path, out, err) : mmgpt_media_from_file(ctx, path, k, out, err);
    progress(quiet, NULL, NULL);
    free(data);
    if (rc) return *code = mm_task_fail(rc, err), -1;
    return 0;
}

const char *mm_task_stop_name(mmgpt_stop s) {
    switch (s) {
    case MMGPT_STOP_EOS: return "eos";
    case MMGPT_STOP_MAX_TOKENS: return "max_tokens";
    case MMGPT_STOP_STRING: return "stop_string";
    case MMGPT_STOP_CALLBACK: return "callback";
    case MMGPT_STOP_CONTEXT: return "context";
    default: return "none";
    }
}

/* Strings in JSON objects are valid UTF-8 (file names and questions come from the user as bytes). */
static void add_str(cJSON *o, const char *key, const char *v) {
    char *u = mm_cli_utf8(v);
    cJSON_AddStringToObject(o, key, u ? u : "");
    free(u);
}

static cJSON *json_head(const char *file, const char *task, const char *question) {
    cJSON *o = cJSON_CreateObject();
    if (o && file) add_str(o, "file", file);
    if (o) add_str(o, "task", task);
    if (o && question) add_str(o, "question", question);
    return o;
}

static void json_put(FILE *f, cJSON *o) {
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    if (s) {
        fputs(s, f);
        fputc('\n', f);
        fflush(f);
        free(s);
    }
    cJSON_Delete(o);
}

void mm_task_print_json(FILE *f, const char *file, const char *task, const char *question, const mmgpt_ctx *ctx,
                        double total_ms) {
    mmgpt_timings t;
    mmgpt_get_timings(ctx, &t);
    cJSON *o = json_head(file, task, question);
    if (!o) return;
    add_str(o, "text", mmgpt_last_text(ctx));
    cJSON_AddNumberToObject(o, "prompt_positions", (double)t.n_prompt);
    cJSON_AddNumberToObject(o, "cached_positions", (double)t.n_cached);
    cJSON_AddNumberToObject(o, "media_positions", (double)t.n_media_rows);
    cJSON_AddNumberToObject(o, "text_tokens", (double)(t.n_prompt - t.n_media_rows));
    cJSON_AddNumberToObject(o, "generated_tokens", (double)t.n_gen);
    cJSON_AddStringToObject(o, "stop", mm_task_stop_name(mmgpt_stop_reason(ctx)));
    cJSON *tm = cJSON_AddObjectToObject(o, "timings_ms");
    cJSON_AddNumberToObject(tm, "model_load", t.load_ms);
    cJSON_AddNumberToObject(tm, "image_decode", t.image_decode_ms);
    cJSON_AddNumberToObject(tm, "image_encode", t.image_encode_ms);
    cJSON_AddNumberToObject(tm, "audio_decode", t.audio_decode_ms);
    cJSON_AddNumberToObject(tm, "audio_encode", t.audio_encode_ms);
    cJSON_AddNumberToObject(tm, "project", t.project_ms);
    cJSON_AddNumberToObject(tm, "prompt", t.prompt_ms);
    cJSON_AddNumberToObject(tm, "generate", t.gen_ms);
    cJSON_AddNumberToObject(tm, "total", total_ms);
    json_put(f, o);
}

void mm_task_print_json_error(FILE *f, const char *file, const char *task, const char *question, int code) {
    cJSON *o = json_head(file, task, question);
    if (!o) return;
    add_str(o, "error", mm_cli_last_error());
    cJSON_AddNumberToObject(o, "exit_code", code);
    json_put(f, o);
}

void mm_task_print_timings(const mmgpt_ctx *ctx, const char *label) {
    mmgpt_timings t;
    mmgpt_get_timings(ctx, &t);
    double media = t.image_decode_ms + t.image_encode_ms + t.audio_decode_ms + t.audio_encode_ms + t.project_ms;
    fprintf(stderr,
            "mmgpt: %s%smedia %.1f ms (%lld positions), prompt %lld positions (%lld cached) in %.1f ms, %lld tokens "
            "in %.1f ms (%.1f tok/s)\n",
            label ? label : "", label ? ": " : "", media, (long long)t.n_media_rows, (long long)t.n_prompt,
            (long long)t.n_cached, t.prompt_ms, (long long)t.n_gen, t.gen_ms, t.gen_ms > 0 ? 1000.0 * (double)t.n_gen / t.gen_ms : 0.0);
}

bool mm_task_stream_stdout(const char *text, size_t len, void *user) {
    (void)user;
    if (len) fwrite(text, 1, len, stdout);
    fflush(stdout);
    return !ferror(stdout);
}

/* Several files: one result per line, so line breaks inside an answer become spaces. */
static bool stream_one_line(const char *text, size_t len, void *user) {
    (void)user;
    for (size_t i = 0; i < len; i++) putchar(text[i] == '\n' || text[i] == '\r' ? ' ' : text[i]);
    fflush(stdout);
    return !ferror(stdout);
}

/* ---------------------------------------------------------------- caption / describe / ask */
/* "FILE: " in front of a file's line (several files), the name made valid UTF-8. */
static void print_file_prefix(const char *file) {
    char *u = mm_cli_utf8(file);
    printf("%s: ", u ? u : "?");
    free(u);
    fflush(stdout);
}

int mm_task_run_files(const char *cmd, mmgpt_media_kind want, const char *task, const char *question,
                      const char *const *files, int n_files, const mm_task_opts *o) {
    int code = MM_EXIT_OK, first_err = MM_EXIT_OK;
    /* cheap checks first: a missing file should not wait for the model to load */
    if (n_files == 1) {
        FILE *f = fopen(files[0], "rb");
        if (!f) {
            code = mm_cli_fail(MM_EXIT_INPUT, "%s: %s", files[0], strerror(errno));
            if (o->json) mm_task_print_json_error(stdout, files[0], task, question, code);
            return code;
        }
        fclose(f);
    }
    mmgpt_model *m = mm_task_load_model(o, &code);
    mmgpt_ctx   *ctx = m ? mm_task_create_ctx(m, o, &code) : NULL;
    if (!ctx) {
        /* --json: every input gets its object, all with the same error */
        for (int i = 0; o->json && i < n_files; i++) mm_task_print_json_error(stdout, files[i], task, question, code);
        mmgpt_model_free(m);
        return code;
    }
    for (int i = 0; i < n_files; i++) {
        double       t0 = mm_time_ms();
        char         err[MMGPT_ERR_SIZE];
        mmgpt_media *md = NULL;
        mmgpt_reset(ctx); /* each file alone: the same result as a run on that file only */
        mmgpt_reset_timings(ctx);
        int c = 0;
        if (mm_task_load_media(ctx, files[i], want, cmd, o->quiet, &md, &c)) {
            if (o->json) mm_task_print_json_error(stdout, files[i], task, question, c);
            if (!first_err) first_err = c;
            continue;
        }
        int rc = mmgpt_add_media(ctx, md, err);
        /* -p places the media at its markers; the task's text holds the question as plain text */
        if (!rc) rc = o->prompt ? mmgpt_add_text(ctx, o->prompt, err) : mmgpt_add_task(ctx, task, question, err);
        if (!rc && !o->json && n_files > 1) print_file_prefix(files[i]);
        if (!rc)
            rc = mmgpt_generate(ctx, o->gen, o->json ? NULL : n_files > 1 ? stream_one_line : mm_task_stream_stdout,
                                NULL, err);
        mmgpt_media_free(md);
        if (rc) {
            if (!o->json && n_files > 1) {
                /* the "file: " prefix is out already: end the line */
                printf("\n");
                fflush(stdout);
            }
            int e = mm_cli_fail(mm_task_exit_code(rc), "%s: %s", files[i], err);
            if (o->json) mm_task_print_json_error(stdout, files[i], task, question, e);
            if (!first_err) first_err = e;
            continue;
        }
        if (o->json) mm_task_print_json(stdout, files[i], task, question, ctx, mm_time_ms() - t0);
        else {
            printf("\n");
            fflush(stdout);
        }
        if (!o->quiet) mm_task_print_timings(ctx, n_files > 1 ? files[i] : NULL);
    }
    mmgpt_ctx_free(ctx);
    mmgpt_model_free(m);
    if (ferror(stdout) || fflush(stdout)) return mm_cli_fail(MM_EXIT_INTERNAL, "error writing the output");
    return first_err;
}

/* ---------------------------------------------------------------- generate / logits with media */
bool mm_task_has_media_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--image") || !strcmp(argv[i], "--audio") || !strcmp(argv[i], "--mmproj")) return true;
        if (!strcmp(argv[i], "--")) break;
    }
    return false;
}

static int add_all_media(mmgpt_ctx *ctx, const mm_task_opts *o, const char *cmd, mmgpt_media ***mds) {
    int code = 0;
    *mds = calloc((size_t)(o->n_media ? o->n_media : 1), sizeof **mds);
    if (!*mds) return mm_cli_fail(MM_EXIT_INTERNAL, "out of memory");
    for (int i = 0; i < o->n_media; i++) {
        char err[MMGPT_ERR_SIZE];
        if (mm_task_load_media(ctx, o->media[i], o->kinds[i], cmd, o->quiet, &(*mds)[i], &code)) return code;
        int rc = mmgpt_add_media(ctx, (*mds)[i], err);
        if (rc) return mm_task_fail(rc, err);
    }
    return 0;
}

static void free_media(mmgpt_media **mds, int n) {
    if (!mds) return;
    for (int i = 0; i < n; i++) mmgpt_media_free(mds[i]);
    free(mds);
}

static int media_cmd_main(int argc, char **argv, bool logits) {
    const char   *cmd = logits ? "logits" : "generate";
    mm_task_opts  o;
    const char   *out = NULL, *file = NULL;
    mm_task_opts_init(&o);
    /* the text-only generate's defaults: the prompt as it is, sampling at 0.8 */
    o.gen.raw = true;
    o.gen.trim_leading_space = false;
    o.gen.max_tokens = 64;
    o.gen.temperature = 0.8f;
    o.gen.seed = 1234;
    int code = MM_EXIT_OK;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: mmgpt %s [-m MODEL] -p TEXT [--image F]... [--audio F]... %s[options]\n\n"
                   "The prompt is used as it is (no chat template): the n-th <__media__> in it is the n-th\n"
                   "--image/--audio; without a marker the media come first, each followed by a newline.\n%s\n"
                   "options:\n",
                   cmd, logits ? "-o OUT.npy " : "",
                   logits ? "Writes the logits of every position (media rows included) as float32 .npy\n"
                            "[n_positions, n_vocab].\n"
                          : "Streams the completion to stdout.\n");
            if (logits) printf("  -o, --output FILE      output .npy (required)\n");
            else printf("  --stop STR             stop when STR appears (not printed); repeatable\n"
                        "  --ignore-eos           do not stop at end-of-text\n"
                        "  (defaults as the text-only generate: -n 64, --temp 0.8, --seed 1234)\n");
            printf("  -f, --file FILE        read the prompt from FILE (- = stdin; at most %zu bytes)\n",
                   MM_CLI_MAX_TEXT);
            mm_task_print_opts(stdout, MM_OPT_MODEL | MM_OPT_MEDIA | MM_OPT_GEN | (logits ? 0 : MM_OPT_OUT));
            mm_task_opts_free(&o);
            return MM_EXIT_OK;
        }
        int r = mm_task_parse_opt(&o, MM_OPT_MODEL | MM_OPT_MEDIA | MM_OPT_GEN | MM_OPT_OUT, argc, argv, &i);
        if (r < 0) {
            mm_task_opts_free(&o);
            return MM_EXIT_USAGE;
        }
        if (r > 0) continue;
        if (logits && (!strcmp(a, "-o") || !strcmp(a, "--output"))) {
            if (!(out = mm_cli_value(argc, argv, &i))) return mm_task_opts_free(&o), MM_EXIT_USAGE;
        } else if (!logits && !strcmp(a, "--stop")) {
            const char *v = mm_cli_value(argc, argv, &i);
            if (!v || !mm_cli_stop_string(a, v)) return mm_task_opts_free(&o), MM_EXIT_USAGE;
            const char **ns = realloc(o.stops, (size_t)(o.n_stops + 1) * sizeof *ns);
            if (!ns) return mm_task_opts_free(&o), mm_cli_fail(MM_EXIT_INTERNAL, "out of memory");
            o.stops = ns;
            o.stops[o.n_stops++] = v;
        } else if (!logits && !strcmp(a, "--ignore-eos")) {
            o.gen.ignore_eos = true;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(file = mm_cli_value(argc, argv, &i))) return mm_task_opts_free(&o), MM_EXIT_USAGE;
        } else {
            mm_task_opts_free(&o);
            return mm_cli_fail(MM_EXIT_USAGE, "%s: unexpected argument '%s' (see mmgpt %s --help)", cmd, a, cmd);
        }
    }
    if (logits && !out) return mm_task_opts_free(&o), mm_cli_fail(MM_EXIT_USAGE, "%s: no output given (-o OUT.npy)", cmd);
    char         *file_text = NULL;
    mmgpt_model  *m = NULL;
    mmgpt_ctx    *ctx = NULL;
    mmgpt_media **mds = NULL;
    char          err[MMGPT_ERR_SIZE];
    if (file && (o.prompt = file_text = mm_cli_read_text(file, MM_CLI_MAX_TEXT, &code)) == NULL) goto done;
    for (int i = 0; i < o.n_media; i++) {
        FILE *f = fopen(o.media[i], "rb");
        if (!f) {
            code = mm_cli_fail(MM_EXIT_INPUT, "%s: %s", o.media[i], strerror(errno));
            goto done;
        }
        fclose(f);
    }
    if ((m = mm_task_load_model(&o, &code))) ctx = mm_task_create_ctx(m, &o, &code);
    if (ctx && !(code = add_all_media(ctx, &o, cmd, &mds))) {
        int rc = mmgpt_add_text(ctx, o.prompt ? o.prompt : "", err);
        if (logits) {
            float  *lg = NULL;
            int64_t n = 0;
            if (!rc) rc = mmgpt_eval(ctx, true, &lg, &n, err);
            if (rc) code = mm_task_fail(rc, err);
            else {
                int64_t shape[2] = {n, mmgpt_model_n_vocab(m)};
                char    e2[MM_ERR_SIZE];
                if (mm_npy_write(out, lg, 2, shape, e2)) code = mm_cli_fail(MM_EXIT_INTERNAL, "%s", e2);
                else if (!o.quiet) {
                    mmgpt_timings t;
                    mmgpt_get_timings(ctx, &t);
                    fprintf(stderr, "mmgpt: %s: logits [%lld, %lld] (%lld media positions)\n", out, (long long)n,
                            (long long)shape[1], (long long)t.n_media_rows);
                }
            }
            free(lg);
        } else {
            o.gen.stop = o.stops;
            o.gen.n_stop = o.n_stops;
            if (!rc) rc = mmgpt_generate(ctx, o.gen, o.json ? NULL : mm_task_stream_stdout, NULL, err);
            if (rc) code = mm_task_fail(rc, err);
            else if (ferror(stdout)) code = mm_cli_fail(MM_EXIT_INTERNAL, "error writing the output");
            else if (o.json) mm_task_print_json(stdout, NULL, "generate", NULL, ctx, 0);
            else if (!o.quiet) {
                fputc('\n', stderr); /* the completion is printed as it is, like the text-only generate */
                mm_task_print_timings(ctx, NULL);
            }
        }
    }
done:
    if (code && o.json && !logits) mm_task_print_json_error(stdout, NULL, "generate", NULL, code);
    if (!code && (ferror(stdout) || fflush(stdout))) code = mm_cli_fail(MM_EXIT_INTERNAL, "error writing the output");
    free_media(mds, o.n_media);
    mmgpt_ctx_free(ctx);
    mmgpt_model_free(m);
    free(file_text);
    mm_task_opts_free(&o);
    return code;
}

int mm_task_generate_main(int argc, char **argv) { return media_cmd_main(argc, argv, false); }
int mm_task_logits_main(int argc, char **argv) { return media_cmd_main(argc, argv, true); }
