/* chat_tool.c - the chat templates seen from outside, for tests/fusion/test_chat_template.py (the
 * expected strings live there, written from the model families' published formats) and for the table
 * in the report.
 *
 *   chat_tool detect FILE...            one line per file: "NAME<TAB>FILE" (NAME "-" when no entry
 *                                        recognises the Jinja template in FILE)
 *   chat_tool render NAME ROLE TEXT ...  mm_prompt_render_chat of the messages, raw bytes on stdout
 *   chat_tool conv NAME ROLE TEXT ...    the same conversation through the conversation object
 *                                        (fusion/conversation.h, no decoder): each user message a turn
 *                                        (literal text), each assistant message the tokens a model
 *                                        writes (answer_lead + the text, trimmed where the template
 *                                        trims answers) ended by the close's first token, as mmgpt_generate
 *                                        does; prints the cache record + the last turn as text.
 *   chat_tool table                      the table: name, detection, system placement, strings (TSV)
 *   chat_tool selftest                   checks of the rules around the strings (exit 1 on a failure):
 *                                        special tokens in template text only, BOS, how an answer that
 *                                        did not end with the close token is closed, the prefix cache
 *                                        with a chat template, trimmed user text, an unknown template
 *
 * The vocabulary of render/conv: one token per byte, and the special tokens of k_specials (ids 1000+k),
 * bound as mmgpt binds a model's (mm_prompt_template_add_special for those in the template text).
 * mmgpt's own template is "mmgpt" (defaults), its close the eos token <|endoftext|>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conversation.h"
#include "mm_check.h"
#include "mm_fusion.h"

static const char *k_specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<end_of_utterance>", "<s>", "</s>",
                                   "<start_of_turn>", "<end_of_turn>", "<|start_header_id|>", "<|end_header_id|>",
                                   "<|eot_id|>", "[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"};
#define N_SPECIALS ((int)(sizeof k_specials / sizeof k_specials[0]))
#define SPECIAL0 1000

static int load(const char *name, mm_prompt_template *t) {
    char err[MM_ERR_SIZE];
    if (mm_prompt_template_load_chat(t, NULL, name, err)) {
        fprintf(stderr, "chat_tool: %s\n", err);
        return -1;
    }
    const char *strs[] = {t->start, t->system_prefix, t->system_suffix, t->user_prefix_first, t->user_prefix,
                          t->user_suffix, t->assistant_prefix, t->answer_close};
    for (int k = 0; k < N_SPECIALS; k++) {
        bool used = false;
        for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) used |= strs[i] && strstr(strs[i], k_specials[k]);
        if (used && mm_prompt_template_add_special(t, k_specials[k], strlen(k_specials[k]), SPECIAL0 + k, err)) {
            fprintf(stderr, "chat_tool: %s\n", err);
            return -1;
        }
    }
    return 0;
}

static int tok_bytes(void *user, const char *text, size_t len, int32_t **ids, int64_t *n, char *err) {
    (void)user;
    if (!(*ids = malloc((len ? len : 1) * sizeof **ids))) return mm_err(err, "out of memory");
    for (size_t i = 0; i < len; i++) (*ids)[i] = (unsigned char)text[i];
    *n = (int64_t)len;
    return 0;
}

/* Positions as text into f; specials as their text, or "{text}" with braces when braces is set (so a
 * special token and the same text in bytes look different). */
static void show(FILE *f, const mm_conv_pos *pos, int64_t n, bool braces) {
    for (int64_t i = 0; i < n; i++) {
        int32_t t = pos[i].token;
        if (t >= 0 && t < 256) fputc(t, f);
        else if (t >= SPECIAL0 && t < SPECIAL0 + N_SPECIALS) fprintf(f, braces ? "{%s}" : "%s", k_specials[t - SPECIAL0]);
        else fprintf(f, "<?%d>", (int)t);
    }
}
static void put_tokens(const mm_conv_pos *pos, int64_t n) { show(stdout, pos, n, false); }

static int32_t special(const char *text) {
    for (int k = 0; k < N_SPECIALS; k++)
        if (!strcmp(k_specials[k], text)) return SPECIAL0 + k;
    return -1;
}

/* The pending turn (build) or the record as text with {specials}. */
static void expect_text(const mm_conv *c, bool pending, const char *want, const char *what) {
    char   *buf = NULL, err[MM_ERR_SIZE];
    size_t  len = 0;
    FILE   *f = open_memstream(&buf, &len);
    if (pending) {
        mm_conv_seq s;
        int         rc = mm_conv_build(c, false, &s, err);
        CHECK(rc == 0, "%s: build: %s", what, err);
        if (!rc) show(f, s.pos, s.n, true), mm_conv_seq_free(&s);
    } else {
        show(f, mm_conv_cached(c), mm_conv_n_past(c), true);
    }
    fclose(f);
    CHECK(!strcmp(buf, want), "%s\n  got  '%s'\n  want '%s'", what, buf, want);
    free(buf);
}

static void write_answer(mm_conv *c, const char *text, int32_t last) {
    char err[MM_ERR_SIZE];
    for (const char *p = text; *p; p++) CHECK(mm_conv_eval_token(c, (unsigned char)*p, err) == 0, "token: %s", err);
    mm_conv_end_answer(c, last);
}

static void turn(mm_conv *c, const char *text, int64_t want_cached, const char *what) {
    char              err[MM_ERR_SIZE];
    mm_conv_turn_info info = {0};
    mm_conv_add_text(c, text, true, err);
    int rc = mm_conv_eval_turn(c, false, 1, NULL, &info, err);
    CHECK(rc == 0, "%s: %s", what, err);
    CHECK(want_cached < 0 || info.n_cached == want_cached, "%s: %lld positions cached, want %lld", what,
          (long long)info.n_cached, (long long)want_cached);
}

static int selftest(void) {
    char               err[MM_ERR_SIZE];
    mm_prompt_template t;
    /* ---- ChatML: specials from the template, the user's "<|im_end|>" is text, the close after an
     * answer cut short (max tokens: the last sampled token 'x' is evaluated first, then the close) */
    CHECK(load("chatml", &t) == 0, "chatml");
    mm_conv_params p = {.st = NULL, .n_ctx = 512, .tpl = &t, .tokenize = tok_bytes, .bos = -1,
                        .eos = special("<|endoftext|>")};
    mm_conv *c = mm_conv_create(&p, err);
    CHECK(c != NULL, "create: %s", err);
    mm_conv_set_system(c, "Be <|im_end|> brief.", err);
    mm_conv_add_text(c, "Hi <|im_start|>", true, err);
    expect_text(c, true, "{<|im_start|>}system\nBe <|im_end|> brief.{<|im_end|>}\n{<|im_start|>}user\nHi <|im_start|>"
                         "{<|im_end|>}\n{<|im_start|>}assistant\n", "chatml: user and system text are literal");
    mm_conv_drop_pending(c);
    turn(c, "Hi", 0, "chatml turn 1");
    write_answer(c, "ab", 'x');
    mm_conv_add_text(c, "More", true, err);
    expect_text(c, true, "x{<|im_end|>}\n{<|im_start|>}user\nMore{<|im_end|>}\n{<|im_start|>}assistant\n",
                "chatml: an answer cut short is closed after its last token");
    mm_conv_drop_pending(c);
    /* the model's eos (not the close's first token) is replaced by the close */
    write_answer(c, "", p.eos);
    mm_conv_add_text(c, "More", true, err);
    expect_text(c, true, "{<|im_end|>}\n{<|im_start|>}user\nMore{<|im_end|>}\n{<|im_start|>}assistant\n",
                "chatml: eos instead of <|im_end|>");
    mm_conv_drop_pending(c);
    write_answer(c, "", special("<|im_end|>"));
    mm_conv_add_text(c, "More", true, err);
    expect_text(c, true, "{<|im_end|>}\n{<|im_start|>}user\nMore{<|im_end|>}\n{<|im_start|>}assistant\n",
                "chatml: the model's <|im_end|> starts the close");
    mm_conv_drop_pending(c);
    /* prefix cache: a new conversation with the same system prompt and question is all in the cache */
    mm_conv_clear(c);
    turn(c, "Hi", -1, "chatml: again after clear");
    int64_t n1 = mm_conv_n_past(c);
    mm_conv_clear(c);
    turn(c, "Hi", n1 - 1, "chatml: the same first turn after clear (all but the last position cached)");
    mm_conv_clear(c);
    /* cached up to the 'H': not "i" {<|im_end|>} "\n" {<|im_start|>} "assistant\n" (14 positions) */
    turn(c, "Ho", n1 - 14, "chatml: another question after clear (cached up to 'H')");
    /* BOS: added at the start of a conversation */
    mm_conv_free(c);
    p.bos = special("<s>");
    c = mm_conv_create(&p, err);
    mm_conv_add_text(c, "Hi", true, err);
    expect_text(c, true, "{<s>}{<|im_start|>}user\nHi{<|im_end|>}\n{<|im_start|>}assistant\n", "chatml: BOS first");
    mm_conv_free(c);
    mm_prompt_template_free(&t);

    /* ---- SmolVLM: its text starts with <|im_start|>, its BOS: no second one */
    CHECK(load("smolvlm", &t) == 0, "smolvlm");
    p.bos = special("<|im_start|>");
    c = mm_conv_create(&p, err);
    mm_conv_add_text(c, "Hi", true, err);
    expect_text(c, true, "{<|im_start|>}User: Hi{<end_of_utterance>}\nAssistant:", "smolvlm: one BOS");
    mm_conv_free(c);
    mm_prompt_template_free(&t);

    /* ---- Llama 2 with <s> inside the history: the first turn's BOS is the tokenizer's, later ones are
     * template text (a special token) */
    CHECK(load("llama2-sys-bos", &t) == 0, "llama2-sys-bos");
    p.bos = special("<s>");
    p.eos = special("</s>");
    c = mm_conv_create(&p, err);
    mm_conv_set_system(c, "S", err);
    turn(c, "Hi", 0, "llama2-sys-bos turn 1");
    write_answer(c, "ok", p.eos);
    mm_conv_add_text(c, "Ho", true, err);
    expect_text(c, false, "{<s>}{[INST]} <<SYS>>\nS\n<</SYS>>\n\nHi {[/INST]}ok", "llama2-sys-bos: first turn");
    expect_text(c, true, "{</s>}{<s>}{[INST]} Ho {[/INST]}", "llama2-sys-bos: next turn");
    mm_conv_free(c);
    mm_prompt_template_free(&t);

    /* ---- Gemma trims user text and the system prompt, which opens the first user turn */
    CHECK(load("gemma", &t) == 0, "gemma");
    p.bos = -1;
    c = mm_conv_create(&p, err);
    mm_conv_set_system(c, "  S \n", err);
    mm_conv_add_text(c, " \n Hi ", true, err);
    mm_conv_add_text(c, "there \n", true, err);
    expect_text(c, true, "{<start_of_turn>}user\nS\n\nHi there{<end_of_turn>}\n{<start_of_turn>}model\n", "gemma: trimmed");
    mm_conv_free(c);
    mm_prompt_template_free(&t);

    /* ---- a model whose Jinja template is not recognised: templated turns fail (MMGPT_ERR_MODEL, the
     * known names in the message), raw turns work */
    mm_gguf_writer *w = mm_gguf_writer_create();
    CHECK(w && mm_gguf_writer_set_str(w, "tokenizer.chat_template", "{{ 'unknown' }}") == 0, "writer");
    char path[] = "/tmp/mm_chat_tool_XXXXXX";
    int  fd = mkstemp(path);
    CHECK(fd >= 0 && mm_gguf_writer_write(w, path, err) == 0, "write: %s", err);
    mm_gguf_writer_free(w);
    mm_gguf *g = mm_gguf_open(path, err);
    CHECK(g && mm_prompt_template_load(&t, g, err) == 0, "unknown template: load: %s", err);
    CHECK(t.chat_name == NULL && t.chat_error && strstr(t.chat_error, "known: mmgpt, "), "unknown template: '%s'",
          t.chat_error ? t.chat_error : "(none)");
    c = mm_conv_create(&p, err);
    mm_conv_add_text(c, "Hi", true, err);
    mm_conv_seq s;
    CHECK(mm_conv_build(c, false, &s, err) == MMGPT_ERR_MODEL && strstr(err, "--chat-template"), "unknown: '%s'", err);
    CHECK(mm_conv_build(c, true, &s, err) == 0 && s.n == 2, "unknown template: a raw turn: %s", err);
    mm_conv_seq_free(&s);
    mm_conv_free(c);
    mm_prompt_template_free(&t);
    /* mmgpt.prompt.* turn keys win over tokenizer.chat_template; a name wins over both */
    w = mm_gguf_writer_create();
    mm_gguf_writer_set_str(w, "tokenizer.chat_template", "<|im_start|>");
    mm_gguf_writer_set_str(w, "mmgpt.prompt.user_prefix", "Q: ");
    CHECK(mm_gguf_writer_write(w, path, err) == 0, "write: %s", err);
    mm_gguf_writer_free(w);
    mm_gguf_close(g);
    g = mm_gguf_open(path, err);
    CHECK(g && mm_prompt_template_load(&t, g, err) == 0 && !strcmp(t.chat_name, "mmgpt") &&
              !strcmp(t.user_prefix, "Q: ") && !strcmp(t.chat_source, "mmgpt.prompt.* keys"),
          "mmgpt keys first: %s", t.chat_name);
    mm_prompt_template_free(&t);
    CHECK(mm_prompt_template_load_chat(&t, g, "llama3", err) == 0 && !strcmp(t.chat_name, "llama3"), "by name");
    mm_prompt_template_free(&t);
    CHECK(mm_prompt_template_load_chat(&t, g, "llama-3", err) != 0 && strstr(err, "unknown chat template 'llama-3'") &&
              strstr(err, "llama3"), "unknown name: '%s'", err);
    mm_gguf_close(g);
    close(fd);
    unlink(path);
    printf("%s\n", n_fail ? "FAILED" : "ok");
    return n_fail ? 1 : 0;
}

static int conv(const mm_prompt_template *t, const mm_chat_msg *m, int n) {
    char           err[MM_ERR_SIZE];
    mm_conv_params p = {.st = NULL, .n_ctx = 1 << 16, .tpl = t, .tokenize = tok_bytes, .bos = -1, .eos = SPECIAL0};
    mm_conv       *c = mm_conv_create(&p, err);
    if (!c) return fprintf(stderr, "chat_tool: %s\n", err), 1;
    int i = 0, rc = 0;
    if (n > 0 && !strcmp(m[0].role, "system")) rc = mm_conv_set_system(c, m[i++].content, err);
    /* the close's first token: what the model samples to end its answer */
    mm_prompt close;
    int32_t   end = SPECIAL0; /* <|endoftext|> for mmgpt */
    if (!rc && t->answer_close) {
        if (mm_prompt_template_text(t, t->answer_close, &close, err)) return fprintf(stderr, "chat_tool: %s\n", err), 1;
        end = close.n_segs > 0 && close.segs[0].kind == MM_SEG_SPECIAL ? close.segs[0].token : -1;
        mm_prompt_free(&close);
        if (end < 0) return fprintf(stderr, "chat_tool: %s: the close does not start with a special token\n", t->chat_name), 1;
    }
    mm_conv_seq last = {0};
    for (; i < n && !rc; i++) {
        if (!strcmp(m[i].role, "user")) {
            if ((rc = mm_conv_add_text(c, m[i].content, true, err))) break;
            if (i == n - 1) {
                rc = mm_conv_build(c, false, &last, err); /* the pending turn, shown after the record */
                break;
            }
            mm_conv_turn_info info;
            rc = mm_conv_eval_turn(c, false, 1, NULL, &info, err);
        } else {
            size_t a = 0, e = strlen(m[i].content);
            const char *s = m[i].content;
            if (t->trim & MM_CHAT_TRIM_ANSWER) {
                while (a < e && (s[a] == ' ' || s[a] == '\n' || s[a] == '\t')) a++;
                while (e > a && (s[e - 1] == ' ' || s[e - 1] == '\n' || s[e - 1] == '\t')) e--;
            }
            for (const char *q = t->answer_lead; !rc && *q; q++) rc = mm_conv_eval_token(c, (unsigned char)*q, err);
            for (size_t k = a; !rc && k < e; k++) rc = mm_conv_eval_token(c, (unsigned char)s[k], err);
            mm_conv_end_answer(c, end);
        }
    }
    if (rc) {
        fprintf(stderr, "chat_tool: %s\n", err);
        mm_conv_free(c);
        return 1;
    }
    put_tokens(mm_conv_cached(c), mm_conv_n_past(c));
    put_tokens(last.pos, last.n);
    mm_conv_seq_free(&last);
    mm_conv_free(c);
    return 0;
}

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16;
    char  *b = malloc(cap);
    *n = 0;
    for (size_t k; b && (k = fread(b + *n, 1, cap - *n, f)) > 0;) {
        *n += k;
        if (*n == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    fclose(f);
    return b;
}

static const char *place(const mm_chat_template *e) {
    return e->system_place == MM_CHAT_SYS_BLOCK ? "own block before the first user turn"
                                                : "inside the first user turn, after the user prefix";
}

/* A C string as a JSON-like quoted string (for the table). */
static void q(const char *s) {
    putchar('"');
    for (; s && *s; s++) {
        if (*s == '\n') fputs("\\n", stdout);
        else if (*s == '"') fputs("\\\"", stdout);
        else putchar(*s);
    }
    putchar('"');
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "detect")) {
        for (int i = 2; i < argc; i++) {
            size_t n = 0;
            char  *s = read_file(argv[i], &n);
            if (!s) return fprintf(stderr, "chat_tool: %s: cannot read\n", argv[i]), 1;
            const mm_chat_template *e = mm_chat_template_detect(s, n);
            printf("%s\t%s\n", e ? e->name : "-", argv[i]);
            free(s);
        }
        return 0;
    }
    if (argc >= 3 && (!strcmp(argv[1], "render") || !strcmp(argv[1], "conv")) && argc % 2 == 1) {
        mm_prompt_template t;
        if (load(argv[2], &t)) return 2;
        int          n = (argc - 3) / 2;
        mm_chat_msg *m = calloc((size_t)(n ? n : 1), sizeof *m);
        for (int i = 0; i < n; i++) m[i] = (mm_chat_msg){argv[3 + 2 * i], argv[4 + 2 * i]};
        int rc = 0;
        if (!strcmp(argv[1], "render")) {
            char  *out = NULL, err[MM_ERR_SIZE];
            size_t len = 0;
            if (mm_prompt_render_chat(&t, m, n, "<|endoftext|>", &out, &len, err)) {
                fprintf(stderr, "chat_tool: %s\n", err);
                rc = 1;
            } else {
                fwrite(out, 1, len, stdout);
            }
            free(out);
        } else {
            rc = conv(&t, m, n);
        }
        free(m);
        mm_prompt_template_free(&t);
        return rc;
    }
    if (argc == 2 && !strcmp(argv[1], "selftest")) return selftest();
    if (argc == 2 && !strcmp(argv[1], "table")) {
        printf("name\tdetection\tsystem\tstart\tsystem_prefix\tsystem_suffix\tuser_prefix_first\tuser_prefix\t"
               "user_suffix\tassistant_prefix\tanswer_lead\tanswer_close\ttrim\n");
        for (int i = 0; i < mm_chat_template_count(); i++) {
            const mm_chat_template *e = mm_chat_template_at(i);
            printf("%s\t", e->name);
            if (!e->all[0] && !e->alt[0]) printf("(by name only)");
            for (int k = 0; k < 4 && e->all[k]; k++) printf("%s", k ? " & " : ""), q(e->all[k]);
            for (int k = 0; k < 3 && e->any[k]; k++) printf("%s", k ? " | " : " & ("), q(e->any[k]);
            if (e->any[0]) printf(")");
            for (int k = 0; k < 2 && e->none[k]; k++) printf(" & not "), q(e->none[k]);
            for (int k = 0; k < 3 && e->alt[k]; k++) printf("%s", k ? " & " : " | or: "), q(e->alt[k]);
            printf("\t%s", place(e));
            const char *s[] = {e->start, e->system_prefix, e->system_suffix, e->user_prefix_first, e->user_prefix,
                               e->user_suffix, e->assistant_prefix, e->answer_lead, e->answer_close};
            for (size_t k = 0; k < sizeof s / sizeof s[0]; k++) putchar('\t'), q(s[k]);
            printf("\t%s%s%s\n", e->trim & MM_CHAT_TRIM_SYSTEM ? "system " : "", e->trim & MM_CHAT_TRIM_USER ? "user " : "",
                   e->trim & MM_CHAT_TRIM_ANSWER ? "answer" : "");
        }
        return 0;
    }
    fprintf(stderr, "usage: chat_tool detect FILE... | render NAME [ROLE TEXT]... | conv NAME [ROLE TEXT]... | table\n");
    return 2;
}
