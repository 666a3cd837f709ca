/* prompt.c - prompt template (mmgpt.prompt.* keys) and assembly of one turn around <__media__> markers.
 * Pure string logic: tokenizing the text pieces and placing the media rows is done by the caller. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_fusion.h"

/* ---------------------------------------------------------------- small growable string */
typedef struct {
    char  *s;
    size_t n, cap;
    bool   oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->oom || n == 0) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) { b->oom = true; return; }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { if (s) sb_add(b, s, strlen(s)); }

/* ---------------------------------------------------------------- template */
static const struct {
    const char *key;
    size_t      off;
    const char *def;
} k_fields[] = {
    {"mmgpt.prompt.system_prefix", offsetof(mm_prompt_template, system_prefix), "System: "},
    {"mmgpt.prompt.system_suffix", offsetof(mm_prompt_template, system_suffix), "\n"},
    {"mmgpt.prompt.user_prefix", offsetof(mm_prompt_template, user_prefix), "User: "},
    {"mmgpt.prompt.user_suffix", offsetof(mm_prompt_template, user_suffix), "\n"},
    {"mmgpt.prompt.assistant_prefix", offsetof(mm_prompt_template, assistant_prefix), "Assistant:"},
    {"mmgpt.prompt.caption", offsetof(mm_prompt_template, caption), "<__media__>\nDescribe this image."},
    {"mmgpt.prompt.describe", offsetof(mm_prompt_template, describe), "<__media__>\nDescribe this sound."},
    {"mmgpt.prompt.ask", offsetof(mm_prompt_template, ask), "<__media__>\n{question}"},
    {"mmgpt.prompt.default_system", offsetof(mm_prompt_template, default_system), NULL},
    {"mmgpt.prompt.image_begin", offsetof(mm_prompt_template, image_begin), ""},
    {"mmgpt.prompt.image_end", offsetof(mm_prompt_template, image_end), ""},
    {"mmgpt.prompt.audio_begin", offsetof(mm_prompt_template, audio_begin), ""},
    {"mmgpt.prompt.audio_end", offsetof(mm_prompt_template, audio_end), ""},
};
#define N_FIELDS (sizeof k_fields / sizeof k_fields[0])
#define MAX_TEMPLATE_BYTES 65536

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* The turn-format keys: any of them in the file makes the mmgpt template the model's (k_fields[0..4]). */
#define N_TURN_KEYS 5

/* Replace *slot with a copy of v (NULL stays NULL). */
static int set_str(char **slot, const char *v) {
    free(*slot);
    *slot = NULL;
    return v && !(*slot = dup_n(v, strlen(v))) ? -1 : 0;
}

/* The turn format of a table entry over the keys' strings. */
static int apply_entry(mm_prompt_template *t, const mm_chat_template *e) {
    int rc = set_str(&t->system_prefix, e->system_prefix) | set_str(&t->system_suffix, e->system_suffix) |
             set_str(&t->user_prefix, e->user_prefix) | set_str(&t->user_suffix, e->user_suffix) |
             set_str(&t->assistant_prefix, e->assistant_prefix) | set_str(&t->start, e->start) |
             set_str(&t->user_prefix_first, e->user_prefix_first) | set_str(&t->answer_lead, e->answer_lead) |
             set_str(&t->answer_close, e->answer_close);
    t->chat_name = e->name;
    t->system_in_user = e->system_place == MM_CHAT_SYS_IN_USER;
    t->trim = e->trim;
    t->specials = true;
    return rc;
}

/* The messages name no file: mm_prompt_template_load_chat puts the path in front. */
static int load_chat(mm_prompt_template *t, const mm_gguf *g, const char *name, char *err) {
    memset(t, 0, sizeof *t);
    if (name && !mm_chat_template_known(name))
        return mm_err(err, "unknown chat template '%s' (known: %s)", name, mm_chat_template_names());
    bool turn_keys = false, keyed[N_FIELDS] = {false};
    for (size_t i = 0; i < N_FIELDS; i++) {
        char      **slot = (char **)((char *)t + k_fields[i].off);
        const char *v = k_fields[i].def;
        size_t      n = v ? strlen(v) : 0;
        if (g && mm_gguf_find_key(g, k_fields[i].key) >= 0) {
            if (mm_gguf_get_str(g, k_fields[i].key, &v, &n) != 0) {
                mm_prompt_template_free(t);
                return mm_err(err, "%s is not a string", k_fields[i].key);
            }
            if (n > MAX_TEMPLATE_BYTES || memchr(v, 0, n)) {
                mm_prompt_template_free(t);
                return mm_err(err, "%s is too long or holds a NUL byte", k_fields[i].key);
            }
            turn_keys |= i < N_TURN_KEYS;
            keyed[i] = true;
        }
        if (!v) continue;
        if (!(*slot = dup_n(v, n))) {
            mm_prompt_template_free(t);
            return mm_err(err, "out of memory");
        }
    }
    if (t->default_system && !*t->default_system) {
        free(t->default_system);
        t->default_system = NULL;
    }

    /* the turn format: by name, the mmgpt keys, the file's Jinja template, or the defaults */
    const mm_chat_template *e = NULL;
    const char             *jinja = NULL;
    size_t                  jn = 0;
    if (name) {
        e = mm_chat_template_find(name); /* NULL: "mmgpt" */
        t->chat_source = "chosen by name";
    } else if (turn_keys) {
        t->chat_source = "mmgpt.prompt.* keys";
    } else if (g && mm_gguf_find_key(g, "tokenizer.chat_template") >= 0) {
        if (mm_gguf_get_str(g, "tokenizer.chat_template", &jinja, &jn) != 0) {
            mm_prompt_template_free(t);
            return mm_err(err, "tokenizer.chat_template is not a string");
        }
        t->chat_source = "tokenizer.chat_template";
        if (!(e = mm_chat_template_detect(jinja, jn))) {
            char msg[MM_ERR_SIZE];
            snprintf(msg, sizeof msg,
                     "the model's chat template (tokenizer.chat_template, %zu bytes) is not one mmgpt knows; choose "
                     "one with --chat-template NAME (known: %s)", jn, mm_chat_template_names());
            if (!(t->chat_error = dup_n(msg, strlen(msg)))) {
                mm_prompt_template_free(t);
                return mm_err(err, "out of memory");
            }
            return 0;  /* chat_name NULL: raw turns still work */
        }
    } else {
        t->chat_source = "defaults (no template in the file)";
    }
    int rc = 0;
    if (e) {
        rc = apply_entry(t, e);
        /* a chat model without mmgpt keys (llama.cpp's files): the media marker immediately followed by the
         * text, as llama.cpp's multimodal CLI writes a user turn; caption's task per family */
        const char *task[3] = {!strcmp(e->name, "smolvlm") ? "<__media__>Can you describe this image?"
                                                           : "<__media__>Describe this image.",
                               "<__media__>Describe this sound.", "<__media__>{question}"};
        for (int k = 0; k < 3; k++)
            if (!keyed[N_TURN_KEYS + k]) rc |= set_str((char **)((char *)t + k_fields[N_TURN_KEYS + k].off), task[k]);
    } else {
        t->chat_name = "mmgpt";
        rc = set_str(&t->start, "") | set_str(&t->user_prefix_first, t->user_prefix) | set_str(&t->answer_lead, " ");
    }
    if (rc) {
        mm_prompt_template_free(t);
        return mm_err(err, "out of memory");
    }
    return 0;
}

int mm_prompt_template_load_chat(mm_prompt_template *t, const mm_gguf *g, const char *name, char *err) {
    char e[MM_ERR_SIZE];
    if (load_chat(t, g, name, e) == 0) return 0;
    return g ? mm_err(err, "%s: %s", mm_gguf_path(g), e) : mm_err(err, "%s", e);
}

int mm_prompt_template_load(mm_prompt_template *t, const mm_gguf *g, char *err) {
    return mm_prompt_template_load_chat(t, g, NULL, err);
}

void mm_prompt_template_free(mm_prompt_template *t) {
    if (!t) return;
    for (size_t i = 0; i < N_FIELDS; i++) {
        char **slot = (char **)((char *)t + k_fields[i].off);
        free(*slot);
        *slot = NULL;
    }
    char **own[] = {&t->chat_error, &t->start, &t->user_prefix_first, &t->answer_lead, &t->answer_close};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        free(*own[i]);
        *own[i] = NULL;
    }
    for (int i = 0; i < t->n_spec; i++) free(t->spec[i].text);
    free(t->spec);
    t->spec = NULL;
    t->n_spec = 0;
}

#define MAX_SPECIALS 4096

int mm_prompt_template_add_special(mm_prompt_template *t, const char *text, size_t len, int32_t id, char *err) {
    if (!text || len == 0 || len > MAX_TEMPLATE_BYTES || id < 0) return mm_err(err, "bad special token");
    if (t->n_spec >= MAX_SPECIALS) return mm_err(err, "more than %d special tokens", MAX_SPECIALS);
    mm_prompt_special *ns = realloc(t->spec, (size_t)(t->n_spec + 1) * sizeof *ns);
    if (!ns) return mm_err(err, "out of memory");
    t->spec = ns;
    if (!(ns[t->n_spec].text = dup_n(text, len))) return mm_err(err, "out of memory");
    ns[t->n_spec].len = len;
    ns[t->n_spec].id = id;
    t->n_spec++;
    return 0;
}

char *mm_prompt_task_text(const mm_prompt_template *t, mm_task task, const char *question) {
    const char *tpl = task == MM_TASK_CAPTION ? t->caption : task == MM_TASK_DESCRIBE ? t->describe : t->ask;
    sbuf b = {0};
    const char *q = question ? question : "";
    const char *p = tpl ? tpl : "";
    for (;;) {
        const char *hit = strstr(p, "{question}");
        if (!hit) break;
        sb_add(&b, p, (size_t)(hit - p));
        sb_str(&b, q);
        p = hit + strlen("{question}");
    }
    sb_str(&b, p);
    if (b.oom) { free(b.s); return NULL; }
    if (!b.s) return calloc(1, 1);
    return b.s;
}

/* ---------------------------------------------------------------- assembly */
int mm_prompt_count_markers(const char *text) {
    int n = 0;
    const size_t ml = strlen(MM_MEDIA_MARKER);
    for (const char *p = text ? strstr(text, MM_MEDIA_MARKER) : NULL; p; p = strstr(p + ml, MM_MEDIA_MARKER)) n++;
    return n;
}

typedef struct {
    size_t a, b;  /* [a, b) of the pending text is template text */
} span;

typedef struct {
    const mm_prompt_template *t;
    mm_prompt *p;
    int        cap;
    sbuf       text;    /* pending text piece */
    span      *tmpl;    /* [n_tmpl] template ranges of the pending text, in order, disjoint */
    int        n_tmpl, cap_tmpl;
    bool       oom;
} builder;

static void push_seg(builder *b, mm_prompt_seg s) {
    if (b->oom) { free(s.text); return; }
    if (b->p->n_segs == b->cap) {
        int cap = b->cap ? 2 * b->cap : 8;
        mm_prompt_seg *n = realloc(b->p->segs, (size_t)cap * sizeof *n);
        if (!n) { b->oom = true; free(s.text); return; }
        b->p->segs = n;
        b->cap = cap;
    }
    b->p->segs[b->p->n_segs++] = s;
}

static void push_text(builder *b, const char *s, size_t n) {
    if (n == 0) return;
    char *c = dup_n(s, n);
    if (!c) { b->oom = true; return; }
    push_seg(b, (mm_prompt_seg){.kind = MM_SEG_TEXT, .text = c, .media = -1, .token = -1});
}

/* The bound special token that starts at text + i, inside [i, end): the longest (the tokenizer's rule
 * for specials: leftmost, then longest), or NULL. */
static const mm_prompt_special *special_at(const mm_prompt_template *t, const char *text, size_t i, size_t end) {
    const mm_prompt_special *best = NULL;
    for (int k = 0; k < t->n_spec; k++) {
        const mm_prompt_special *sp = &t->spec[k];
        if (sp->len <= end - i && !memcmp(text + i, sp->text, sp->len) && (!best || sp->len > best->len)) best = sp;
    }
    return best;
}

/* The pending text becomes segments: split at the special tokens inside its template ranges (the text
 * around them, template and user text alike, stays one plain piece). */
static void flush_text(builder *b) {
    if (b->text.oom) b->oom = true;
    if (b->text.n > 0 && !b->oom) {
        const char *s = b->text.s;
        size_t      done = 0;
        for (int r = 0; r < b->n_tmpl && b->t->n_spec > 0; r++)
            for (size_t i = b->tmpl[r].a; i < b->tmpl[r].b;) {
                const mm_prompt_special *sp = special_at(b->t, s, i, b->tmpl[r].b);
                if (!sp) { i++; continue; }
                push_text(b, s + done, i - done);
                char *c = dup_n(sp->text, sp->len);
                if (!c) b->oom = true;
                else push_seg(b, (mm_prompt_seg){.kind = MM_SEG_SPECIAL, .text = c, .media = -1, .token = sp->id});
                done = i += sp->len;
            }
        if (done == 0) {
            push_seg(b, (mm_prompt_seg){.kind = MM_SEG_TEXT, .text = b->text.s, .media = -1, .token = -1});
            b->text = (sbuf){0};
        } else {
            push_text(b, s + done, b->text.n - done);
        }
    }
    b->text.n = 0;
    if (b->text.s) b->text.s[0] = 0;
    b->n_tmpl = 0;
}

/* Template text: its special tokens are recognised (ranges merge when adjacent). */
static void put_tmpl(builder *b, const char *s) {
    size_t a = b->text.n;
    sb_str(&b->text, s);
    if (b->text.n == a || b->oom) return;
    if (b->n_tmpl > 0 && b->tmpl[b->n_tmpl - 1].b == a) {
        b->tmpl[b->n_tmpl - 1].b = b->text.n;
        return;
    }
    if (b->n_tmpl == b->cap_tmpl) {
        int   cap = b->cap_tmpl ? 2 * b->cap_tmpl : 8;
        span *n = realloc(b->tmpl, (size_t)cap * sizeof *n);
        if (!n) { b->oom = true; return; }
        b->tmpl = n;
        b->cap_tmpl = cap;
    }
    b->tmpl[b->n_tmpl++] = (span){a, b->text.n};
}

/* A string of the turn format: a marker in it is an error (the model file's keys are input). */
static void put_template(builder *b, const char *s, bool *bad) {
    if (mm_prompt_count_markers(s) > 0) *bad = true;
    put_tmpl(b, s);
}

/* The m-th media: its begin wrapper ends the text before it, its end wrapper starts the text after it. */
static void put_media(builder *b, const mmgpt_media_kind *kinds, int m) {
    const mm_prompt_template *t = b->t;
    mmgpt_media_kind             k = kinds ? kinds[m] : MMGPT_MEDIA_IMAGE;
    put_tmpl(b, k == MMGPT_MEDIA_AUDIO ? t->audio_begin : t->image_begin);
    flush_text(b);
    push_seg(b, (mm_prompt_seg){.kind = MM_SEG_MEDIA, .text = NULL, .media = m, .token = -1});
    put_tmpl(b, k == MMGPT_MEDIA_AUDIO ? t->audio_end : t->image_end);
}

static bool is_space(char c) { return isspace((unsigned char)c) != 0; }

/* Strip whitespace from the start of s (in place) and report whether anything is left. */
static bool lstrip(sbuf *s) {
    size_t k = 0;
    while (k < s->n && is_space(s->s[k])) k++;
    if (k) {
        memmove(s->s, s->s + k, s->n - k + 1);
        s->n -= k;
    }
    return s->n > 0;
}
static bool rstrip(sbuf *s) {
    while (s->n > 0 && is_space(s->s[s->n - 1])) s->s[--s->n] = 0;
    return s->n > 0;
}

/* The system prompt as the template writes it: literal text, trimmed when the template trims. */
static void put_system(builder *b, const char *system, bool *bad) {
    const mm_prompt_template *t = b->t;
    put_template(b, t->system_prefix, bad);
    size_t a = 0, n = strlen(system);
    if (t->trim & MM_CHAT_TRIM_SYSTEM) {
        while (a < n && is_space(system[a])) a++;
        while (n > a && is_space(system[n - 1])) n--;
    }
    sb_add(&b->text, system + a, n - a); /* plain text */
    put_template(b, t->system_suffix, bad);
}

int mm_prompt_build_turn(const mm_prompt_template *t, bool start, const char *system, const mm_prompt_part *parts,
                         int n_parts, const mmgpt_media_kind *media_kinds, int n_media, bool raw, mm_prompt *out,
                         char *err) {
    memset(out, 0, sizeof *out);
    if (n_media < 0 || n_parts < 0 || (n_parts > 0 && !parts)) return mm_err(err, "%s: bad part or media count", __func__);
    if (!raw && !t->chat_name)
        return mm_err(err, "%s", t->chat_error ? t->chat_error : "the model's chat template is not recognised");

    /* runs: consecutive prompt parts joined (a marker may be split over two of them), literal parts alone */
    typedef struct {
        sbuf s;
        bool literal;
    } run;
    run *runs = calloc((size_t)(n_parts > 0 ? n_parts : 1), sizeof *runs);
    if (!runs) return mm_err(err, "%s: out of memory", __func__);
    int  n_runs = 0, n_markers = 0;
    bool oom = false;
    for (int i = 0; i < n_parts; i++) {
        if (!parts[i].text || !*parts[i].text) continue;
        if (n_runs == 0 || runs[n_runs - 1].literal || parts[i].literal) runs[n_runs++].literal = parts[i].literal;
        sb_str(&runs[n_runs - 1].s, parts[i].text);
    }
    for (int i = 0; i < n_runs; i++) {
        oom |= runs[i].s.oom;
        if (!runs[i].literal) n_markers += mm_prompt_count_markers(runs[i].s.s);
    }
    int rc = 0;
    if (oom) rc = mm_err(err, "%s: out of memory", __func__);
    else if (n_markers > 0 && n_markers != n_media)
        rc = mm_err(err, "prompt has %d %s marker%s but %d image%s/clip%s were given", n_markers, MM_MEDIA_MARKER,
                    n_markers == 1 ? "" : "s", n_media, n_media == 1 ? "" : "s", n_media == 1 ? "" : "s");
    if (rc) {
        for (int i = 0; i < n_runs; i++) free(runs[i].s.s);
        free(runs);
        return rc;
    }
    /* trimmed user text: whitespace at its ends (not before media placed in front of it) */
    if (!raw && (t->trim & MM_CHAT_TRIM_USER)) {
        for (int i = 0; i < n_runs && !(n_markers == 0 && n_media > 0) && !lstrip(&runs[i].s); i++) {}
        for (int i = n_runs - 1; i >= 0 && !rstrip(&runs[i].s); i--) {}
    }

    /* the turn: [start] [system block] user_prefix [system block] USER_TEXT user_suffix assistant_prefix,
     * split at the media (and at the special tokens of its template text) */
    builder      b = {.t = t, .p = out};
    bool         bad_template = false;
    const size_t ml = strlen(MM_MEDIA_MARKER);
    bool         sys = !raw && start && system && *system;
    if (!raw && start) put_template(&b, t->start, &bad_template);
    if (sys && !t->system_in_user) put_system(&b, system, &bad_template);
    if (!raw) put_template(&b, start && t->user_prefix_first ? t->user_prefix_first : t->user_prefix, &bad_template);
    if (sys && t->system_in_user) put_system(&b, system, &bad_template);
    int m = 0;
    /* no marker: the media first, each followed by "\n" - nothing with a chat template of the table (the text
     * right after the media, as llama.cpp's multimodal CLI places its markers) */
    const bool nl = raw || !t->chat_name || !strcmp(t->chat_name, "mmgpt");
    if (n_markers == 0)
        for (; m < n_media; m++) {
            put_media(&b, media_kinds, m);
            if (nl) sb_str(&b.text, "\n");
        }
    for (int i = 0; i < n_runs; i++) {
        const char *p = runs[i].s.s ? runs[i].s.s : "";
        for (const char *hit; !runs[i].literal && (hit = strstr(p, MM_MEDIA_MARKER)); p = hit + ml) {
            sb_add(&b.text, p, (size_t)(hit - p));
            put_media(&b, media_kinds, m++);
        }
        sb_str(&b.text, p);
        free(runs[i].s.s);
    }
    free(runs);
    if (!raw) {
        put_template(&b, t->user_suffix, &bad_template);
        put_template(&b, t->assistant_prefix, &bad_template);
    }
    flush_text(&b);
    free(b.text.s);
    free(b.tmpl);
    if (b.oom || bad_template) {
        mm_prompt_free(out);
        if (bad_template) return mm_err(err, "the prompt template holds a %s marker", MM_MEDIA_MARKER);
        return mm_err(err, "%s: out of memory", __func__);
    }
    return 0;
}

int mm_prompt_build_parts(const mm_prompt_template *t, const char *system, const mm_prompt_part *parts, int n_parts,
                          const mmgpt_media_kind *media_kinds, int n_media, bool raw, mm_prompt *out, char *err) {
    return mm_prompt_build_turn(t, true, system, parts, n_parts, media_kinds, n_media, raw, out, err);
}

int mm_prompt_build(const mm_prompt_template *t, const char *system, const char *user_text,
                    const mmgpt_media_kind *media_kinds, int n_media, bool raw, mm_prompt *out, char *err) {
    mm_prompt_part part = {.text = user_text, .literal = false};
    return mm_prompt_build_parts(t, system, &part, 1, media_kinds, n_media, raw, out, err);
}

int mm_prompt_template_text(const mm_prompt_template *t, const char *text, mm_prompt *out, char *err) {
    memset(out, 0, sizeof *out);
    builder b = {.t = t, .p = out};
    put_tmpl(&b, text);
    flush_text(&b);
    free(b.text.s);
    free(b.tmpl);
    if (b.oom) {
        mm_prompt_free(out);
        return mm_err(err, "%s: out of memory", __func__);
    }
    return 0;
}

void mm_prompt_free(mm_prompt *p) {
    if (!p) return;
    for (int i = 0; i < p->n_segs; i++) free(p->segs[i].text);
    free(p->segs);
    p->segs = NULL;
    p->n_segs = 0;
}

/* ---------------------------------------------------------------- a conversation as text */
static void sb_prompt(sbuf *b, const mm_prompt *p) {
    for (int i = 0; i < p->n_segs; i++) sb_str(b, p->segs[i].text);
}

int mm_prompt_render_chat(const mm_prompt_template *t, const mm_chat_msg *msgs, int n, const char *eos_text,
                          char **out, size_t *len, char *err) {
    *out = NULL;
    if (len) *len = 0;
    if (n < 0 || (n > 0 && !msgs)) return mm_err(err, "%s: bad message list", __func__);
    sbuf        b = {0};
    const char *system = NULL;
    int         i = 0, rc = 0;
    if (n > 0 && msgs[0].role && !strcmp(msgs[0].role, "system")) system = msgs[i++].content;
    for (int turn = 0; i < n && !rc; turn++) {
        const mm_chat_msg *u = &msgs[i++];
        if (!u->role || strcmp(u->role, "user") || !u->content) {
            rc = mm_err(err, "%s: message %d: expected a user message (system first, then user and assistant "
                             "alternating)", __func__, i - 1);
            break;
        }
        mm_prompt_part part = {.text = u->content, .literal = true};
        mm_prompt      p;
        if ((rc = mm_prompt_build_turn(t, turn == 0, system, &part, 1, NULL, 0, false, &p, err))) break;
        sb_prompt(&b, &p);
        mm_prompt_free(&p);
        if (i == n) break;
        const mm_chat_msg *a = &msgs[i++];
        if (!a->role || strcmp(a->role, "assistant") || !a->content) {
            rc = mm_err(err, "%s: message %d: expected an assistant message", __func__, i - 1);
            break;
        }
        size_t s = 0, e = strlen(a->content);
        if (t->trim & MM_CHAT_TRIM_ANSWER) {
            while (s < e && is_space(a->content[s])) s++;
            while (e > s && is_space(a->content[e - 1])) e--;
        }
        sb_str(&b, t->answer_lead);
        sb_add(&b, a->content + s, e - s);
        sb_str(&b, t->answer_close ? t->answer_close : eos_text);
    }
    if (!rc && b.oom) rc = mm_err(err, "%s: out of memory", __func__);
    if (rc) {
        free(b.s);
        return rc;
    }
    if (!b.s && !(b.s = calloc(1, 1))) return mm_err(err, "%s: out of memory", __func__);
    *out = b.s;
    if (len) *len = b.n;
    return 0;
}
