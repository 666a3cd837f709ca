/* task_cli.c - what the decoder commands share (task_cli.h). */
#include "task_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mm_core.h"
#include "mm_transformer.h"
#include "mm_fusion.h"

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
    mp.no_vision = mp.no_audio = o->no_encoders;
    mp.chat_template = o->chat_template;
    mp.dist = mm_cli_dist(); /* mpirun: rank 0 of a pipeline */
    mp.layer_split = mm_cli_layer_split();
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
    cp.kv_f16 = o->kv_f16;
    cp.max_tiles = (int)o->max_tiles;
    mmgpt_ctx *c = mmgpt_ctx_create(m, cp, err);
    if (!c && strstr(err, "out of memory")) { /* the KV cache and activations grow with the context: say so */
        const long long n = o->n_ctx ? o->n_ctx : mmgpt_model_n_ctx(m) < 4096 ? mmgpt_model_n_ctx(m) : 4096;
        *code = mm_cli_fail(MM_EXIT_INTERNAL, "%s: a context of -c %lld positions does not fit in memory: give a smaller -c%s",
                            err, n, o->kv_f16 ? "" : " or --kv-f16 (half the KV cache)");
        return NULL;
    }
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
    unsigned char head[MM_SNIFF_BYTES];
    *out = NULL;
    path = mm_cli_input(path); /* "-" = stdin */
    /* a directory is named as one; a pipe or terminal (/dev/stdin) is read once into memory, sniffed and
     * decoded from there (reading its first bytes here would take them from the decoder) */
    const int pk = mm_path_kind(path, err);
    if (pk < 0) return *code = mm_cli_fail(MM_EXIT_INPUT, "%s", err), -1;
    void         *data = NULL;
    size_t        n = 0;
    const uint8_t *h = head;
    if (pk == MM_PATH_STREAM) {
        if (mm_read_media(path, &data, &n, err)) return *code = mm_cli_fail(MM_EXIT_INPUT, "%s", err), -1;
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
    if (o && task) add_str(o, "task", task);
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

static int json_errors_printed;

int mm_task_json_errors_printed(void) { return json_errors_printed; }

void mm_task_print_json_error(FILE *f, const char *file, const char *task, const char *question, int code) {
    json_errors_printed++;
    cJSON *o = json_head(file, task, question);
    if (!o) return;
    char msg[64];
    snprintf(msg, sizeof msg, "failed (exit code %d)", code); /* a failure without a message (none known) */
    add_str(o, "error", *mm_cli_last_error() ? mm_cli_last_error() : msg);
    cJSON_AddNumberToObject(o, "exit_code", code);
    json_put(f, o);
}

void mm_task_print_timings(const mmgpt_ctx *ctx, const char *label) {
    mmgpt_timings t;
    mmgpt_get_timings(ctx, &t);
    double media = t.image_decode_ms + t.image_encode_ms + t.audio_decode_ms + t.audio_encode_ms + t.project_ms;
    fprintf(stderr,
            "mmgpt: %s%smedia %.1f ms (%lld positions), prompt %lld positions (%lld cached) in %.1f ms, %lld tokens "
            "in %.1f ms (%.1f tok/s), stop: %s\n",
            label ? label : "", label ? ": " : "", media, (long long)t.n_media_rows, (long long)t.n_prompt,
            (long long)t.n_cached, t.prompt_ms, (long long)t.n_gen, t.gen_ms, t.gen_ms > 0 ? 1000.0 * (double)t.n_gen / t.gen_ms : 0.0,
            mm_task_stop_name(mmgpt_stop_reason(ctx)));
}

bool mm_task_stream_stdout(const char *text, size_t len, void *user) {
    (void)user;
    if (len) fwrite(text, 1, len, stdout);
    fflush(stdout);
    return !ferror(stdout);
}

/* Several files: one result per line, so line breaks inside an answer become spaces. */
/* Several files: each answer on one line (user: the file's output stream). */
static bool piece_one_line(const char *text, size_t len, void *user) {
    FILE *f = user;
    for (size_t i = 0; i < len; i++) fputc(text[i] == '\n' || text[i] == '\r' ? ' ' : text[i], f);
    return !ferror(f);
}

/* ---------------------------------------------------------------- caption / describe / ask */
/* "FILE: " in front of a file's line (several files), the name made valid UTF-8. */
static void print_file_prefix(FILE *f, const char *file) {
    char *u = mm_cli_utf8(file);
    fprintf(f, "%s: ", u ? u : "?");
    free(u);
}

/* Files decoded together: their answers advance one token each per step in one pass over the weights
 * (mmgpt_generate_next_many, each answer the one the file gets alone); a context per file of the group. */
#define TASK_GROUP 8

typedef struct {
    const char  *file;
    FILE        *out;   /* stdout (one file: streamed), or a buffer printed when the group is done */
    char        *buf;
    size_t       n;
    mmgpt_media *md;
    double       t0;
} file_run;

/* The file's media and task text into ctx's turn, and the generation begun: 0; an exit code > 0 (reported);
 * a library status < 0 with its message in err (for file_end). */
static int file_begin(mmgpt_ctx *ctx, file_run *f, mmgpt_media_kind want, const char *cmd, const char *task,
                      const char *question, bool several, const mm_task_opts *o, char *err) {
    int c = 0;
    mmgpt_reset(ctx); /* each file alone: the same result as a run on that file only */
    mmgpt_reset_timings(ctx);
    if (mm_task_load_media(ctx, f->file, want, cmd, o->quiet, &f->md, &c)) {
        if (o->json) mm_task_print_json_error(f->out, f->file, task, question, c);
        return c;
    }
    int rc = mmgpt_add_media(ctx, f->md, err);
    /* -p places the media at its markers; the task's text holds the question as plain text */
    if (!rc) rc = o->prompt ? mmgpt_add_text(ctx, o->prompt, err) : mmgpt_add_task(ctx, task, question, err);
    int fit = rc ? MM_EXIT_OK : mm_task_check_fit(ctx, o, 0);
    if (fit) {
        mmgpt_clear(ctx); /* drops the pending turn, which borrows md */
        if (o->json) mm_task_print_json_error(f->out, f->file, task, question, fit);
        return fit;
    }
    if (!rc && !o->json && several) print_file_prefix(f->out, f->file);
    if (!rc) rc = mmgpt_generate_begin(ctx, o->gen, err);
    return rc;
}

/* The file's answer ended (rc 0) or failed (rc < 0, err): its line / JSON object and timings; 0 or the exit code. */
static int file_end(mmgpt_ctx *ctx, file_run *f, int rc, const char *err, const char *task, const char *question,
                    bool several, const mm_task_opts *o) {
    if (rc) {
        if (!o->json && several) fputc('\n', f->out); /* the "file: " prefix is out already: end the line */
        int e = mm_cli_fail(mm_task_exit_code(rc), "%s: %s", f->file, err);
        if (o->json) mm_task_print_json_error(f->out, f->file, task, question, e);
        return e;
    }
    if (o->json) mm_task_print_json(f->out, f->file, task, question, ctx, mm_time_ms() - f->t0);
    else fputc('\n', f->out);
    fflush(f->out);
    if (!o->quiet) mm_task_print_timings(ctx, several ? f->file : NULL);
    return 0;
}

int mm_task_run_files(const char *cmd, mmgpt_media_kind want, const char *task, const char *question,
                      const char *const *files, int n_files, const mm_task_opts *o) {
    int code = MM_EXIT_OK, first_err = MM_EXIT_OK;
    /* cheap checks first: a missing file should not wait for the model to load */
    if (n_files == 1) {
        FILE *f = fopen(mm_cli_input(files[0]), "rb");
        if (!f) {
            code = mm_cli_fail(MM_EXIT_INPUT, "%s: %s", files[0], strerror(errno));
            if (o->json) mm_task_print_json_error(stdout, files[0], task, question, code);
            return code;
        }
        fclose(f);
    }
    mmgpt_model *m = mm_task_load_model(o, &code);
    mmgpt_ctx   *ctx[TASK_GROUP] = {m ? mm_task_create_ctx(m, o, &code) : NULL};
    if (!ctx[0]) {
        /* --json: every input gets its object, all with the same error */
        for (int i = 0; o->json && i < n_files; i++) mm_task_print_json_error(stdout, files[i], task, question, code);
        mmgpt_model_free(m);
        return code;
    }
    int n_ctx = 1; /* contexts made so far: one per file of a group, up to TASK_GROUP */
    while (n_ctx < TASK_GROUP && n_ctx < n_files && (ctx[n_ctx] = mm_task_create_ctx(m, o, &code))) n_ctx++;
    const bool several = n_files > 1;
    for (int g0 = 0; g0 < n_files; g0 += n_ctx) {
        const int gn = n_files - g0 < n_ctx ? n_files - g0 : n_ctx;
        file_run  f[TASK_GROUP] = {{0}};
        int       live[TASK_GROUP], rcs[TASK_GROUP];
        char      errs[TASK_GROUP][MMGPT_ERR_SIZE], err[MMGPT_ERR_SIZE];
        for (int k = 0; k < gn; k++) {
            f[k].file = files[g0 + k];
            f[k].t0 = mm_time_ms();
            f[k].out = several ? open_memstream(&f[k].buf, &f[k].n) : stdout;
            if (!f[k].out) {
                code = mm_cli_fail(MM_EXIT_INTERNAL, "out of memory");
                for (int i = 0; i < k; i++) fclose(f[i].out), free(f[i].buf);
                first_err = first_err ? first_err : code;
                goto done;
            }
            int c = file_begin(ctx[k], &f[k], want, cmd, task, question, several, o, errs[k]);
            if (c < 0) c = file_end(ctx[k], &f[k], c, errs[k], task, question, several, o); /* begin failed */
            if (c && !first_err) first_err = c;
            live[k] = c == 0;
        }
        for (;;) { /* every live answer by one token per step */
            mmgpt_ctx *lc[TASK_GROUP];
            void      *users[TASK_GROUP];
            int        idx[TASK_GROUP], nl = 0;
            for (int k = 0; k < gn; k++)
                if (live[k]) lc[nl] = ctx[k], users[nl] = f[k].out, idx[nl++] = k;
            if (nl == 0) break;
            mmgpt_piece_fn cb = o->json ? NULL : several ? piece_one_line : mm_task_stream_stdout;
            if (mmgpt_generate_next_many(lc, nl, cb, users, rcs, &errs[0][0], err) != MMGPT_OK)
                for (int j = 0; j < nl; j++) rcs[j] = MMGPT_ERR_INTERNAL, snprintf(errs[j], sizeof errs[j], "%s", err);
            for (int j = 0; j < nl; j++) {
                if (rcs[j] == 1) continue;
                const int k = idx[j];
                live[k] = 0;
                int c = file_end(ctx[k], &f[k], rcs[j] < 0 ? rcs[j] : 0, errs[j], task, question, several, o);
                if (c && !first_err) first_err = c;
            }
        }
        for (int k = 0; k < gn; k++) { /* the group's outputs, in the files' order */
            mmgpt_media_free(f[k].md);
            if (!several) continue;
            fclose(f[k].out);
            fwrite(f[k].buf, 1, f[k].n, stdout);
            free(f[k].buf);
        }
        fflush(stdout);
    }
done:
    for (int k = 0; k < n_ctx; k++) mmgpt_ctx_free(ctx[k]);
    mmgpt_model_free(m);
    if (ferror(stdout) || fflush(stdout)) return mm_cli_fail(MM_EXIT_INTERNAL, "error writing the output");
    return first_err;
}

/* ---------------------------------------------------------------- shared steps of the commands */
int mm_task_check_media_files(const mm_task_opts *o) {
    for (int i = 0; i < o->n_media; i++) {
        FILE *f = fopen(mm_cli_input(o->media[i]), "rb");
        if (!f) return mm_cli_fail(MM_EXIT_INPUT, "%s: %s", o->media[i], strerror(errno));
        fclose(f);
    }
    return MM_EXIT_OK;
}

int mm_task_check_fit(mmgpt_ctx *ctx, const mm_task_opts *o, int64_t kept) {
    if (!o->have_max_tokens || o->gen.max_tokens <= 0) return MM_EXIT_OK;
    char    err[MMGPT_ERR_SIZE];
    int64_t n = 0, n_ctx = mmgpt_ctx_n_ctx(ctx), room = n_ctx - kept;
    int     rc = mmgpt_tokenize_turn(ctx, o->gen.raw, NULL, &n, err);
    if (rc) return mm_task_fail(rc, err);
    if (n >= room || n + o->gen.max_tokens <= room) return MM_EXIT_OK; /* over by itself: the library says so */
    return mm_cli_fail(MM_EXIT_USAGE,
                       "-n %d: the prompt takes %lld positions%s, leaving %lld of the context of %lld (give -n at most "
                       "%lld, or 0 = until the context is full)",
                       o->gen.max_tokens, (long long)n, kept ? " after the conversation so far" : "",
                       (long long)(room - n), (long long)n_ctx, (long long)(room - n));
}

int mm_task_add_media(mmgpt_ctx *ctx, const mm_task_opts *o, const char *cmd, mmgpt_media ***mds) {
    int code = 0;
    *mds = calloc((size_t)(o->n_media ? o->n_media : 1), sizeof **mds);
    if (!*mds) return mm_cli_fail(MM_EXIT_INTERNAL, "out of memory");
    for (int i = 0; i < o->n_media; i++) {
        char err[MMGPT_ERR_SIZE];
        if (mm_task_load_media(ctx, o->media[i], o->kinds[i], cmd, o->quiet, &(*mds)[i], &code)) return code;
        int rc = mmgpt_add_media(ctx, (*mds)[i], err);
        if (rc) return mm_task_fail(rc, err);
    }
    return MM_EXIT_OK;
}

void mm_task_free_media(mmgpt_media **mds, int n) {
    if (!mds) return;
    for (int i = 0; i < n; i++) mmgpt_media_free(mds[i]);
    free(mds);
}
