/* cmd_chat.c - `mmgpt chat [--image F]... [--audio F]...`: interactive questions about pictures and
 * sounds. Each line read from stdin is a question (plain text: a typed <__media__> is text), or a command:
 *   /image FILE   /audio FILE   add a picture / clip (encoded now, once)
 *   /system TEXT  set the system prompt
 *   /clear        forget the media and the conversation
 *   /quit         leave (so does end of input)
 * Default: every question is asked afresh about all the media loaded so far ("User: <media> QUESTION"),
 * the way the demo model was trained; the KV cache keeps the common start (system prompt, template
 * text, media rows), so only the question is evaluated (mmgpt_clear's prefix cache, truncating the
 * cache to the shared part). --multi-turn keeps the whole conversation instead: each question is a new
 * turn after the previous answer, and media added with /image, /audio join the next question. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "task_cli.h"

typedef struct {
    mmgpt_media **m;
    const char  **name;
    bool         *in_conv;  /* already in the current conversation (KV cache) */
    int           n, cap;
} media_list;

static int ml_add(media_list *l, mmgpt_media *md, const char *name) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        mmgpt_media **m = realloc(l->m, (size_t)cap * sizeof *m);
        if (!m) return -1;
        l->m = m;
        const char **nm = realloc(l->name, (size_t)cap * sizeof *nm);
        if (!nm) return -1;
        l->name = nm;
        bool *ic = realloc(l->in_conv, (size_t)cap * sizeof *ic);
        if (!ic) return -1;
        l->in_conv = ic;
        l->cap = cap;
    }
    char *dup = strdup(name);
    if (!dup) return -1;
    l->m[l->n] = md;
    l->name[l->n] = dup;
    l->in_conv[l->n] = false;
    l->n++;
    return 0;
}

static void ml_free(media_list *l) {
    for (int i = 0; i < l->n; i++) {
        mmgpt_media_free(l->m[i]);
        free((void *)l->name[i]);
    }
    free(l->m);
    free(l->name);
    free(l->in_conv);
}

static const mm_cmd_spec k_chat = {
    .name = "chat",
    .usage = "[options] [--image FILE]... [--audio FILE]...",
    .about = "Interactive: each line on stdin is a question about the pictures and sounds; the answer goes to\n"
             "stdout (one line per answer, or one JSON object with --json); answers are greedy by default.\n"
             "Commands:\n"
             "  /image FILE    add a picture (encoded once)\n"
             "  /audio FILE    add a sound clip\n"
             "  /system TEXT   set the system prompt (and start over)\n"
             "  /clear         forget the loaded media and the conversation\n"
             "  /quit          leave (end of input too)\n"
             "Each question is asked afresh about all the media loaded so far; the KV cache keeps the shared\n"
             "start (system prompt, media), so media are encoded once and evaluated once. --multi-turn\n"
             "keeps the whole conversation instead (each question follows the previous answer; media added\n"
             "later join the next question). A line is plain text: a <__media__> typed in it is text.\n"
             "A full context (-c, default min(the model's, 4096)) drops nothing: the answer that reaches it\n"
             "stops (stop reason context), a question that does not fit is refused (exit 3 at the end), and\n"
             "/clear starts a new conversation.\n"
             "A line longer than 1048576 bytes is refused (input error, exit 3 at the end) and the next line\n"
             "is read.\n"
             "example: mmgpt chat --image photo.png\n",
    .groups = MM_OPT_MODEL | MM_OPT_TEMPLATE | MM_OPT_MEDIA | MM_OPT_PROMPT | MM_OPT_GEN | MM_OPT_OUT | MM_OPT_CHAT,
    .min_pos = 0,
    .max_pos = 0,
    .prompt_help = "a first question before reading stdin (its <__media__> markers place\nthe media)",
};
_Static_assert(MM_CLI_MAX_TEXT == 1048576, "chat's --help names the line limit");

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
    return s;
}

static void new_conversation(mmgpt_ctx *ctx, media_list *ml) {
    mmgpt_clear(ctx);
    for (int i = 0; i < ml->n; i++) ml->in_conv[i] = false;
}

/* One question: (all media, or in multi-turn mode the media not yet in the conversation) + text, then
 * generate. literal: q is what the user typed (a <__media__> in it is text); else q is -p's prompt text,
 * whose markers place the media. Returns an exit code (0 = fine). */
static int ask(mmgpt_ctx *ctx, media_list *ml, const char *q, bool literal, const mm_task_opts *o, bool multi_turn) {
    char   err[MMGPT_ERR_SIZE];
    double t0 = mm_time_ms();
    int    rc = 0;
    if (!multi_turn) new_conversation(ctx, ml); /* afresh; the cache keeps the shared start */
    for (int i = 0; i < ml->n && !rc; i++)
        if (!ml->in_conv[i]) rc = mmgpt_add_media(ctx, ml->m[i], err);
    if (!rc) rc = literal ? mmgpt_add_text_literal(ctx, q, err) : mmgpt_add_text(ctx, q, err);
    /* -n N must fit after a question asked afresh (a multi-turn answer stops at a full context; /clear) */
    int fit = rc || multi_turn ? MM_EXIT_OK : mm_task_check_fit(ctx, o, 0);
    if (fit) {
        mmgpt_clear(ctx);
        for (int i = 0; i < ml->n; i++) ml->in_conv[i] = false;
        if (o->json) mm_task_print_json_error(stdout, NULL, "chat", q, fit);
        return fit;
    }
    if (!rc) rc = mmgpt_generate(ctx, o->gen, o->json ? NULL : mm_task_stream_stdout, NULL, err);
    if (rc) {
        if (rc == MMGPT_ERR_CONTEXT) {
            size_t n = strlen(err);
            snprintf(err + n, sizeof err - n, "; /clear starts a new conversation");
        }
        int code = mm_task_fail(rc, err);
        if (o->json) mm_task_print_json_error(stdout, NULL, "chat", q, code);
        return code;
    }
    for (int i = 0; i < ml->n; i++) ml->in_conv[i] = true;
    if (o->json) mm_task_print_json(stdout, NULL, "chat", q, ctx, mm_time_ms() - t0);
    else printf("\n");
    if (ferror(stdout) || fflush(stdout)) return mm_cli_fail(MM_EXIT_INTERNAL, "error writing the output");
    if (!o->quiet) mm_task_print_timings(ctx, NULL);
    mmgpt_reset_timings(ctx); /* media added later (/image) count toward the next question */
    return 0;
}

int mm_cmd_chat(int argc, char **argv) {
    mm_task_opts o;
    int          code = mm_cmd_parse(&k_chat, &o, argc, argv);
    if (code) {
        mm_task_opts_free(&o);
        return code == MM_CMD_HELP_DONE ? MM_EXIT_OK : code;
    }
    const bool multi = o.multi_turn;
    for (int i = 0; i < o.n_media; i++) {
        if (access(o.media[i], R_OK) != 0) {
            code = mm_cli_fail(MM_EXIT_INPUT, "%s: %s", o.media[i], "No such file or unreadable");
            mm_task_opts_free(&o);
            return code;
        }
    }
    mmgpt_model *m = mm_task_load_model(&o, &code);
    if (!m) return mm_task_opts_free(&o), code;
    mmgpt_ctx *ctx = mm_task_create_ctx(m, &o, &code);
    if (!ctx) {
        mmgpt_model_free(m);
        mm_task_opts_free(&o);
        return code;
    }
    media_list ml = {0};
    int        first_err = 0;
    for (int i = 0; i < o.n_media && !first_err; i++) {
        mmgpt_media *md;
        int          c = 0;
        if (mm_task_load_media(ctx, o.media[i], o.kinds[i], "chat", o.quiet, &md, &c)) first_err = c;
        else if (ml_add(&ml, md, o.media[i])) {
            mmgpt_media_free(md);
            first_err = mm_cli_fail(MM_EXIT_INTERNAL, "out of memory");
        }
    }
    if (first_err) {
        /* a bad file on the command line is fatal, as in the other commands */
        ml_free(&ml);
        mmgpt_ctx_free(ctx);
        mmgpt_model_free(m);
        mm_task_opts_free(&o);
        return first_err;
    }
    bool    interactive = isatty(0) && mm_cli_stderr_tty() && !o.quiet;
    if (interactive)
        fprintf(stderr, "mmgpt chat: %d media loaded%s; type a question, /image F, /audio F, /system T, /clear or /quit\n",
                ml.n, multi ? " (multi-turn)" : "");
    if (o.prompt) {
        int c = ask(ctx, &ml, o.prompt, false, &o, multi);
        if (c && !first_err) first_err = c;
    }
    /* lines are read into a buffer of MM_CLI_MAX_TEXT bytes: a longer line is refused, never held */
    char *line = ferror(stdout) ? NULL : malloc(MM_CLI_MAX_TEXT + 1);
    if (!line && !ferror(stdout) && !first_err) first_err = mm_cli_fail(MM_EXIT_INTERNAL, "out of memory");
    while (line) {
        if (interactive) {
            fputs("> ", stderr);
            fflush(stderr);
        }
        long n = mm_cli_read_line(stdin, line, MM_CLI_MAX_TEXT);
        if (n == -1) break;
        if (n == -2) {
            int c = mm_cli_fail(MM_EXIT_INPUT, "chat: a line longer than the limit of %zu bytes (%zu KiB) was skipped",
                                MM_CLI_MAX_TEXT, MM_CLI_MAX_TEXT >> 10);
            if (o.json) mm_task_print_json_error(stdout, NULL, "chat", NULL, c);
            if (!first_err) first_err = c;
            continue;
        }
        if (strlen(line) != (size_t)n) { /* a NUL would end the line unseen */
            int c = mm_cli_fail(MM_EXIT_INPUT, "chat: a line with a NUL byte was skipped (lines are UTF-8 text)");
            if (o.json) mm_task_print_json_error(stdout, NULL, "chat", NULL, c);
            if (!first_err) first_err = c;
            continue;
        }
        char *s = trim(line);
        if (!*s) continue;
        int c = 0;
        if (s[0] == '/') {
            char *arg = s + 1;
            while (*arg && *arg != ' ' && *arg != '\t') arg++;
            size_t cl = (size_t)(arg - (s + 1));
            arg = trim(arg);
            if (cl == 4 && !strncmp(s + 1, "quit", 4)) break;
            if ((cl == 4 && !strncmp(s + 1, "exit", 4))) break;
            if (cl == 5 && !strncmp(s + 1, "clear", 5)) {
                ml_free(&ml);
                memset(&ml, 0, sizeof ml);
                mmgpt_reset(ctx);
                if (interactive) fprintf(stderr, "(media and conversation forgotten)\n");
            } else if (cl == 6 && !strncmp(s + 1, "system", 6)) {
                char err[MMGPT_ERR_SIZE];
                if (mmgpt_set_system(ctx, *arg ? arg : NULL, err)) c = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
                new_conversation(ctx, &ml);
                if (interactive) fprintf(stderr, "(%s system prompt)\n", *arg ? "new" : "the default");
            } else if ((cl == 5 && !strncmp(s + 1, "image", 5)) || (cl == 5 && !strncmp(s + 1, "audio", 5))) {
                bool img = s[1] == 'i';
                if (!*arg) c = mm_cli_fail(MM_EXIT_USAGE, "/%s needs a FILE", img ? "image" : "audio");
                else {
                    mmgpt_media *md;
                    if (!mm_task_load_media(ctx, arg, img ? MMGPT_MEDIA_IMAGE : MMGPT_MEDIA_AUDIO, "chat", o.quiet, &md,
                                            &c)) {
                        if (ml_add(&ml, md, arg)) {
                            mmgpt_media_free(md);
                            c = mm_cli_fail(MM_EXIT_INTERNAL, "out of memory");
                        } else if (interactive)
                            fprintf(stderr, "(%s added: %lld positions)\n", arg, (long long)mmgpt_media_n_rows(md));
                    }
                }
            } else {
                c = mm_cli_fail(MM_EXIT_USAGE, "unknown chat command '%s' (/image, /audio, /system, /clear, /quit)", s);
            }
            if (c && o.json) mm_task_print_json_error(stdout, NULL, "chat", NULL, c); /* its line, as a question's */
        } else {
            c = ask(ctx, &ml, s, true, &o, multi);
        }
        if (c && !first_err) first_err = c;
        if (ferror(stdout)) break; /* stdout is gone (full disk, closed pipe): the error is reported */
    }
    free(line);
    ml_free(&ml);
    mmgpt_ctx_free(ctx);
    mmgpt_model_free(m);
    mm_task_opts_free(&o);
    if (!first_err && (ferror(stdout) || fflush(stdout))) first_err = mm_cli_fail(MM_EXIT_INTERNAL, "error writing the output");
    return first_err;
}
