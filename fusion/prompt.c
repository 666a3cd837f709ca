/* prompt.c - prompt template (mmgpt.prompt.* keys) and assembly of one turn around <__media__> markers.
 * Pure string logic: tokenizing the text pieces and placing the media rows is done by the caller. */
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

int mm_prompt_template_load(mm_prompt_template *t, const mm_gguf *g, char *err) {
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < N_FIELDS; i++) {
        char      **slot = (char **)((char *)t + k_fields[i].off);
        const char *v = k_fields[i].def;
        size_t      n = v ? strlen(v) : 0;
        if (g && mm_gguf_find_key(g, k_fields[i].key) >= 0) {
            if (mm_gguf_get_str(g, k_fields[i].key, &v, &n) != 0) {
                mm_prompt_template_free(t);
                return mm_err(err, "%s: %s is not a string", __func__, k_fields[i].key);
            }
            if (n > MAX_TEMPLATE_BYTES || memchr(v, 0, n)) {
                mm_prompt_template_free(t);
                return mm_err(err, "%s: %s is too long or holds a NUL byte", __func__, k_fields[i].key);
            }
        }
        if (!v) continue;
        if (!(*slot = dup_n(v, n))) {
            mm_prompt_template_free(t);
            return mm_err(err, "%s: out of memory", __func__);
        }
    }
    if (t->default_system && !*t->default_system) {
        free(t->default_system);
        t->default_system = NULL;
    }
    return 0;
}

void mm_prompt_template_free(mm_prompt_template *t) {
    if (!t) return;
    for (size_t i = 0; i < N_FIELDS; i++) {
        char **slot = (char **)((char *)t + k_fields[i].off);
        free(*slot);
        *slot = NULL;
    }
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
    mm_prompt *p;
    int        cap;
    sbuf       text;  /* pending text piece */
    bool       oom;
} builder;

static void push_seg(builder *b, mm_prompt_seg s) {
    if (b->oom) return;
    if (b->p->n_segs == b->cap) {
        int cap = b->cap ? 2 * b->cap : 8;
        mm_prompt_seg *n = realloc(b->p->segs, (size_t)cap * sizeof *n);
        if (!n) { b->oom = true; free(s.text); return; }
        b->p->segs = n;
        b->cap = cap;
    }
    b->p->segs[b->p->n_segs++] = s;
}

static void flush_text(builder *b) {
    if (b->text.oom) b->oom = true;
    if (b->text.n > 0 && !b->oom) {
        push_seg(b, (mm_prompt_seg){.kind = MM_SEG_TEXT, .text = b->text.s, .media = -1});
        b->text = (sbuf){0};
    }
}

/* A text of the template: a marker in it is an error (the model file's mmgpt.prompt.* keys are input). */
static void put_template(builder *b, const char *s, bool *bad) {
    if (mm_prompt_count_markers(s) > 0) *bad = true;
    sb_str(&b->text, s);
}

/* The m-th media: its begin wrapper ends the text before it, its end wrapper starts the text after it. */
static void put_media(builder *b, const mm_prompt_template *t, const mm_media_kind *kinds, int m) {
    mm_media_kind k = kinds ? kinds[m] : MM_MEDIA_IMAGE;
    sb_str(&b->text, k == MM_MEDIA_AUDIO ? t->audio_begin : t->image_begin);
    flush_text(b);
    push_seg(b, (mm_prompt_seg){.kind = MM_SEG_MEDIA, .text = NULL, .media = m});
    sb_str(&b->text, k == MM_MEDIA_AUDIO ? t->audio_end : t->image_end);
}

int mm_prompt_build_parts(const mm_prompt_template *t, const char *system, const mm_prompt_part *parts, int n_parts,
                          const mm_media_kind *media_kinds, int n_media, bool raw, mm_prompt *out, char *err) {
    memset(out, 0, sizeof *out);
    if (n_media < 0 || n_parts < 0 || (n_parts > 0 && !parts)) return mm_err(err, "%s: bad part or media count", __func__);

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

    /* the turn: [system block] user_prefix USER_TEXT user_suffix assistant_prefix, split at the media */
    builder      b = {.p = out};
    bool         bad_template = false;
    const size_t ml = strlen(MM_MEDIA_MARKER);
    if (!raw && system && *system) {
        put_template(&b, t->system_prefix, &bad_template);
        sb_str(&b.text, system); /* plain text */
        put_template(&b, t->system_suffix, &bad_template);
    }
    if (!raw) put_template(&b, t->user_prefix, &bad_template);
    int m = 0;
    if (n_markers == 0)
        for (; m < n_media; m++) {
            put_media(&b, t, media_kinds, m);
            sb_str(&b.text, "\n");
        }
    for (int i = 0; i < n_runs; i++) {
        const char *p = runs[i].s.s;
        for (const char *hit; !runs[i].literal && (hit = strstr(p, MM_MEDIA_MARKER)); p = hit + ml) {
            sb_add(&b.text, p, (size_t)(hit - p));
            put_media(&b, t, media_kinds, m++);
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
    if (b.oom || bad_template) {
        mm_prompt_free(out);
        if (bad_template) return mm_err(err, "the prompt template holds a %s marker", MM_MEDIA_MARKER);
        return mm_err(err, "%s: out of memory", __func__);
    }
    return 0;
}

int mm_prompt_build(const mm_prompt_template *t, const char *system, const char *user_text,
                    const mm_media_kind *media_kinds, int n_media, bool raw, mm_prompt *out, char *err) {
    mm_prompt_part part = {.text = user_text, .literal = false};
    return mm_prompt_build_parts(t, system, &part, 1, media_kinds, n_media, raw, out, err);
}

void mm_prompt_free(mm_prompt *p) {
    if (!p) return;
    for (int i = 0; i < p->n_segs; i++) free(p->segs[i].text);
    free(p->segs);
    p->segs = NULL;
    p->n_segs = 0;
}
