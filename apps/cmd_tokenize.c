/* cmd_tokenize.c - `mmgpt tokenize` (text -> ids) and `mmgpt detokenize` (ids -> text). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "options.h"
#include "mm_gguf.h"
#include "mm_tokenizer.h"

/* Most bytes tokenize and detokenize read (TEXT / ids from -f FILE or stdin): 64 MiB, far more than any
 * context (2^24 positions at most), so a file is never read without end (-f /dev/zero); the ids are held
 * as int32 (at most 4 bytes per input byte) and --json is written as it goes. Split a longer text. */
#define MAX_INPUT_BYTES ((size_t)64 << 20)
_Static_assert(MAX_INPUT_BYTES == 67108864, "tokenize's and detokenize's --help name the limit");

/* file: a path, "-" or NULL = stdin; NULL after printing the error (*code) */
static char *read_input(const char *file, const char *what, size_t *len, int *code) {
    return mm_cli_read_bytes(file ? file : "-", MAX_INPUT_BYTES, what, len, code);
}

static mm_tokenizer *load_tokenizer(const char *model, const char *vocab, int *code) {
    char err[MM_ERR_SIZE];
    mm_tokenizer *t;
    *code = MM_EXIT_MODEL;
    if (vocab) {
        t = mm_tokenizer_load_dir(vocab, err);
    } else {
        const char *path = mm_cli_model_path(model);
        if (!path) return NULL;
        mm_gguf *g = mm_gguf_open(path, err);
        if (!g) {
            mm_cli_fail(MM_EXIT_MODEL, "%s", err);
            return NULL;
        }
        t = mm_tokenizer_load_gguf(g, err);
        mm_gguf_close(g);
    }
    if (!t) mm_cli_fail(MM_EXIT_MODEL, "%s", err);
    return t;
}

/* What tokenize and detokenize check after parsing: -1 to go on, else an exit code. */
static int check(const char *name, const mm_task_opts *o) {
    if (o->model && o->vocab) return mm_cli_fail(MM_EXIT_USAGE, "%s: give -m or --vocab, not both", name);
    if (o->file && o->n_pos) return mm_cli_fail(MM_EXIT_USAGE, "%s: give the input as arguments or -f, not both", name);
    return -1;
}

static int tokenize(mm_task_opts *o) {
    int rc = check("tokenize", o);
    char *text = NULL;
    int32_t *ids = NULL;
    mm_tokenizer *t = NULL;
    if (rc >= 0) goto done;
    size_t len = 0;
    if (o->n_pos == 1) {
        len = strlen(o->pos[0]);
    } else {
        if (!(text = read_input(o->file, "tokenize's text (64 MiB: split a longer one)", &len, &rc))) goto done;
    }
    if (!(t = load_tokenizer(o->model, o->vocab, &rc))) goto done;
    char err[MM_ERR_SIZE];
    int64_t n;
    double t0 = mm_time_ms();
    if (mm_tokenizer_encode_alloc(t, text ? text : o->pos[0], len, o->special, &ids, &n, err)) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "%s", err);
        goto done;
    }
    double ms = mm_time_ms() - t0;
    if (o->json) { /* written as it goes: one token string at a time (a cJSON tree of every token would
                    * take ~240 bytes per token); token texts from the file made valid UTF-8 */
        fputs("{\"ids\":[", stdout);
        for (int64_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", (int)ids[i]);
        fputs("],\"tokens\":[", stdout);
        bool oom = false;
        for (int64_t i = 0; i < n && !oom; i++) {
            char  *u = mm_cli_utf8(mm_tokenizer_token_text(t, ids[i]));
            cJSON *js = u ? cJSON_CreateString(u) : NULL;
            char  *s = js ? cJSON_PrintUnformatted(js) : NULL;
            if (!(oom = !s)) printf(i ? ",%s" : "%s", s);
            free(s);
            cJSON_Delete(js);
            free(u);
        }
        if (oom) {
            rc = mm_cli_fail(MM_EXIT_INTERNAL, "tokenize: out of memory");
            goto done;
        }
        fputs("]}\n", stdout);
    } else {
        for (int64_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        fputc('\n', stdout);
    }
    if (getenv("MMGPT_VERBOSE"))
        fprintf(stderr, "tokenize: %zu bytes -> %lld tokens in %.2f ms\n", len, (long long)n, ms);
    rc = fflush(stdout) || ferror(stdout) ? mm_cli_fail(MM_EXIT_INTERNAL, "tokenize: cannot write stdout")
                                          : MM_EXIT_OK;
done:
    free(text);
    free(ids);
    mm_tokenizer_free(t);
    return rc;
}

/* Parse ids separated by whitespace / commas, optionally inside [ ]. */
static int parse_ids(const char *s, const char *what, int32_t **out, int64_t *n_out, int64_t *cap) {
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == ',' || *s == '[' || *s == ']') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || errno || v < 0 || v > INT32_MAX ||
            !(*end == 0 || *end == ' ' || *end == '\t' || *end == '\n' || *end == '\r' || *end == ',' || *end == ']'))
            return mm_cli_fail(MM_EXIT_INPUT, "%s: '%.20s' is not a token id", what, s);
        if (*n_out == *cap) {
            int64_t nc = *cap ? 2 * *cap : 256;
            int32_t *nb = realloc(*out, (size_t)nc * sizeof *nb);
            if (!nb) return mm_cli_fail(MM_EXIT_INTERNAL, "out of memory");
            *out = nb;
            *cap = nc;
        }
        (*out)[(*n_out)++] = (int32_t)v;
        s = end;
    }
    return -1;
}

static int detokenize(mm_task_opts *o) {
    int rc = check("detokenize", o);
    char *input = NULL;
    int32_t *ids = NULL;
    int64_t n = 0, cap = 0;
    mm_tokenizer *t = NULL;
    if (rc >= 0) goto done;
    if (o->n_pos) {
        for (int i = 0; i < o->n_pos && rc < 0; i++) rc = parse_ids(o->pos[i], "detokenize", &ids, &n, &cap);
    } else {
        size_t len;
        if (!(input = read_input(o->file, "detokenize's ids (64 MiB: split a longer list)", &len, &rc))) goto done;
        if (memchr(input, 0, len)) {
            rc = mm_cli_fail(MM_EXIT_INPUT, "%s: NUL byte in the id list", o->file ? o->file : "stdin");
            goto done;
        }
        rc = parse_ids(input, o->file ? o->file : "stdin", &ids, &n, &cap);
    }
    if (rc >= 0) goto done;
    if (!(t = load_tokenizer(o->model, o->vocab, &rc))) goto done;
    char err[MM_ERR_SIZE];
    if (mm_tokenizer_decode(t, ids, n, NULL, 0, err) < 0) { /* every id in range, before any output */
        rc = mm_cli_fail(MM_EXIT_INPUT, "%s", err);
        goto done;
    }
    /* the decoded text is the tokens' pieces one after the other (mm_tokenizer_piece): written as they come,
     * never held whole (16M ids of a 100-byte token would be 1.6 GB) */
    bool bad = false;
    for (int64_t i = 0; i < n && !bad; i++) {
        size_t      pl;
        const char *pc = mm_tokenizer_piece(t, ids[i], &pl);
        bad = !pc || fwrite(pc, 1, pl, stdout) != pl;
    }
    if (bad || fflush(stdout) || ferror(stdout))
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "detokenize: cannot write stdout");
    else
        rc = MM_EXIT_OK;
done:
    free(input);
    free(ids);
    mm_tokenizer_free(t);
    return rc;
}

static const mm_cmd_spec k_tokenize = {
    .name = "tokenize",
    .usage = "[-m MODEL.gguf | --vocab PATH] [--special] [--json] [TEXT | -f FILE]",
    .about = "Print the token ids of TEXT (or of FILE, or of standard input when neither is given) on one\n"
             "line, separated by spaces, with the model's tokenizer (GPT-2 byte-level BPE, the BPE\n"
             "pre-tokenizers of llama.cpp files, or SentencePiece). The input is taken byte for byte (no newline\n"
             "is stripped); no BOS is added. `--` ends the options (for a TEXT that starts with '-').\n"
             "<__media__> is not a GPT-2 token: it is always encoded as plain text (mmgpt's prompt code splits\n"
             "the prompt at the marker before tokenizing).\n",
    .opts = (const mm_opt_id[]){MM_O_MODEL, MM_O_FILE, MM_O_VOCAB, MM_O_SPECIAL, MM_O_JSON, MM_O_COUNT},
    .texts = (const mm_opt_text[]){{MM_O_MODEL, "for its vocabulary (default: $MMGPT_MODEL, else the bundled model)"},
                                   {MM_O_FILE, "read the text from FILE (- = stdin; at most 64 MiB, as stdin)"},
                                   {MM_O_JSON, "print {\"ids\": [...], \"tokens\": [...]} (tokens in vocabulary form,\n"
                                               "e.g. \"\\u0120world\")"},
                                   {MM_O_COUNT, NULL}},
    .min_pos = 0,
    .max_pos = 1,
    .pos_name = "TEXT",
    .exits = MM_CMD_TOOL_EXITS,
};

static const mm_cmd_spec k_detokenize = {
    .name = "detokenize",
    .usage = "[-m MODEL.gguf | --vocab PATH] [ID ... | -f FILE]",
    .about = "Write the text of token ids (arguments, or FILE, or standard input) to standard output, byte for\n"
             "byte, without adding a newline. Ids are separated by spaces, commas or newlines; a JSON array\n"
             "such as [31373, 995] is accepted too.\n",
    .opts = (const mm_opt_id[]){MM_O_MODEL, MM_O_FILE, MM_O_VOCAB, MM_O_COUNT},
    .texts = (const mm_opt_text[]){{MM_O_MODEL, "for its vocabulary (default: $MMGPT_MODEL, else the bundled model)"},
                                   {MM_O_FILE, "read the ids from FILE (- = stdin; at most 64 MiB, as stdin)"},
                                   {MM_O_COUNT, NULL}},
    .min_pos = 0,
    .max_pos = -1,
    .pos_name = "ID",
    .exits = MM_CMD_TOOL_EXITS,
    .numbers_are_args = true,
};

int mm_cmd_tokenize(int argc, char **argv) { return mm_cmd_main(&k_tokenize, argc, argv, tokenize); }
int mm_cmd_detokenize(int argc, char **argv) { return mm_cmd_main(&k_detokenize, argc, argv, detokenize); }
