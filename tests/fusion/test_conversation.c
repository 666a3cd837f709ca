/* test_conversation.c - the conversation object (fusion/conversation.h) and its use by the API.
 *
 * Part A, bookkeeping (no decoder): a tokenizer with one token per byte and the default template, so
 * every expected sequence is written out by hand from the rules of mm_fusion.h / conversation.h
 * (media rows shown as [A0] [A1] ..., end-of-text as <E>, BOS as <B>): prompt vs literal text, the same
 * picture twice, a different picture of the same size, the identical question again, a system prompt
 * change, multi-turn growth to the context limit with the exact messages.
 * Part B, the bundled model's decoder under the conversation, media rows made up by the test: after each
 * turn the state's logits must equal, bit for bit, those of a fresh decoder state fed the sequence the
 * test assembles itself (tokenizer + template strings, as mm_fusion.h describes) with the same split
 * into evaluations (cached prefix, then the rest); the cached counts are the common prefixes of those
 * hand-assembled sequences.
 * Part C, through mmgpt.h with real pictures: the same picture encoded twice is reused, another picture
 * is not, the identical question works (greedy answers equal a fresh context's), free text is text,
 * and the over-the-context messages give the true position count and the context size.
 *
 * usage: test_conversation MODEL.gguf IMAGE1 IMAGE2   (two different pictures of the model) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conversation.h"
#include "mm_gguf.h"
#include "mm_tokenizer.h"
#include "mmgpt.h"

#include "mm_check.h"

/* ================================================================ part A: bookkeeping */
#define EOS 256
#define BOS 257

static int tok_bytes(void *user, const char *text, size_t len, int32_t **ids, int64_t *n, char *err) {
    (void)user;
    if (!(*ids = malloc((len ? len : 1) * sizeof **ids))) return mm_err(err, "out of memory");
    for (size_t i = 0; i < len; i++) (*ids)[i] = (unsigned char)text[i];
    *n = (int64_t)len;
    return 0;
}

/* media made up for the test: [n_rows][D] */
#define D 4
typedef struct {
    char          name;
    float         rows[3 * D];
    mm_conv_media md;
} pic;

static void pic_init(pic *p, char name, float base) {
    p->name = name;
    for (int i = 0; i < 3 * D; i++) p->rows[i] = base + 0.25f * (float)i;
    p->md = (mm_conv_media){.kind = MMGPT_MEDIA_IMAGE, .n_rows = 3, .d = D, .rows = p->rows,
                            .hash = mm_conv_hash_rows(p->rows, 3, D)};
}

static const pic *g_pics[4];
static int        g_n_pics;

/* Positions as text: tokens < 256 as their byte, <E>, <B>, media rows as [A0] (the picture whose hash it is). */
static void show(const mm_conv_pos *pos, int64_t n, char *out, size_t cap) {
    size_t k = 0;
    out[0] = 0;
    for (int64_t i = 0; i < n && k + 8 < cap; i++) {
        const mm_conv_pos *p = &pos[i];
        if (p->token == EOS) k += (size_t)snprintf(out + k, cap - k, "<E>");
        else if (p->token == BOS) k += (size_t)snprintf(out + k, cap - k, "<B>");
        else if (p->token >= 0) out[k++] = (char)p->token, out[k] = 0;
        else {
            char name = '?';
            for (int j = 0; j < g_n_pics; j++)
                if (g_pics[j]->md.hash.lo == p->media.lo && g_pics[j]->md.hash.hi == p->media.hi) name = g_pics[j]->name;
            k += (size_t)snprintf(out + k, cap - k, "[%c%lld]", name, (long long)p->row);
        }
    }
}

static void expect_build(mm_conv *c, bool raw, const char *want, const char *what) {
    mm_conv_seq s;
    char        err[MM_ERR_SIZE], got[1024];
    int         rc = mm_conv_build(c, raw, &s, err);
    CHECK(rc == 0, "%s: build: %s", what, err);
    if (rc) return;
    show(s.pos, s.n, got, sizeof got);
    CHECK(!strcmp(got, want), "%s: positions\n  got  '%s'\n  want '%s'", what, got, want);
    mm_conv_seq_free(&s);
}

static void expect_record(const mm_conv *c, const char *want, const char *what) {
    char got[1024];
    show(mm_conv_cached(c), mm_conv_n_past(c), got, sizeof got);
    CHECK(!strcmp(got, want), "%s: cache record\n  got  '%s'\n  want '%s'", what, got, want);
}

/* Evaluate the pending turn; expect n positions of which `cached` from the cache. */
static void expect_turn(mm_conv *c, const char *what, int64_t n, int64_t cached) {
    char              err[MM_ERR_SIZE];
    mm_conv_turn_info info = {0};
    int               rc = mm_conv_eval_turn(c, false, 1, NULL, &info, err);
    CHECK(rc == 0, "%s: %s", what, err);
    CHECK(info.n_pos == n && info.n_cached == cached, "%s: %lld positions, %lld cached; want %lld, %lld", what,
          (long long)info.n_pos, (long long)info.n_cached, (long long)n, (long long)cached);
}

/* A replayed turn (text; raw for an answer): n positions, `cached` found in the cache. */
static void expect_replay(mm_conv *c, bool raw, const char *text, int64_t n, int64_t cached, const char *what) {
    char              err[MM_ERR_SIZE];
    mm_conv_turn_info info = {0};
    mm_conv_add_text(c, text, true, err);
    int rc = mm_conv_replay_turn(c, raw, 1, &info, err);
    CHECK(rc == 0, "%s: %s", what, err);
    CHECK(info.n_pos == n && info.n_cached == cached, "%s: %lld positions, %lld cached; want %lld, %lld", what,
          (long long)info.n_pos, (long long)info.n_cached, (long long)n, (long long)cached);
}

static void answer(mm_conv *c, const char *text, int32_t last) {
    char err[MM_ERR_SIZE];
    for (const char *p = text; *p; p++) CHECK(mm_conv_eval_token(c, (unsigned char)*p, err) == 0, "token: %s", err);
    mm_conv_end_answer(c, last);
}

static void part_a(void) {
    char               err[MM_ERR_SIZE];
    mm_prompt_template tpl;
    CHECK(mm_prompt_template_load(&tpl, NULL, err) == 0, "template: %s", err);
    pic a, a2, b;
    pic_init(&a, 'A', 1.0f);
    pic_init(&a2, 'A', 1.0f); /* the same picture encoded again: another buffer, same rows */
    pic_init(&b, 'B', 2.0f);  /* a different picture with the same row count */
    g_pics[0] = &a, g_pics[1] = &b, g_n_pics = 2;

    /* content hashes */
    CHECK(a.md.hash.lo == a2.md.hash.lo && a.md.hash.hi == a2.md.hash.hi, "same rows, different hash");
    CHECK(a.md.hash.lo != b.md.hash.lo && a.md.hash.hi != b.md.hash.hi, "different rows, same hash");
    mm_conv_hash h43 = mm_conv_hash_rows(a.rows, 4, 3), h34 = mm_conv_hash_rows(a.rows, 3, 4);
    CHECK(h43.lo != h34.lo || h43.hi != h34.hi, "the shape is not part of the hash");
    float one = 1.0f, neg0 = -0.0f, zero = 0.0f;
    mm_conv_hash h1 = mm_conv_hash_rows(&one, 1, 1), hz = mm_conv_hash_rows(&zero, 1, 1), hn = mm_conv_hash_rows(&neg0, 1, 1);
    CHECK(h1.lo != hz.lo && hz.lo != hn.lo, "one bit of one value must change the hash");
    mm_conv_hash e0 = mm_conv_hash_bytes("", 0), e1 = mm_conv_hash_bytes("\0", 1);
    CHECK(e0.lo != e1.lo, "the length is not part of the hash");

    mm_conv_params p = {.st = NULL, .n_ctx = 64, .tpl = &tpl, .tokenize = tok_bytes, .bos = -1, .eos = EOS};
    mm_conv       *c = mm_conv_create(&p, err);
    CHECK(c != NULL, "create: %s", err);
    if (!c) return;

    /* ---- free text is text: literal parts keep their markers as text, prompt parts place media */
    mm_conv_add_media(c, &a.md, NULL, NULL, err);
    mm_conv_add_text(c, "<__media__> what", true, err);
    expect_build(c, false, "User: [A0][A1][A2]\n<__media__> what\nAssistant:", "literal marker");
    mm_conv_drop_pending(c);
    mm_conv_add_text(c, "see <__media__>: ", false, err);
    mm_conv_add_media(c, &a.md, NULL, NULL, err);
    mm_conv_add_text(c, "<__media__> <|endoftext|>", true, err);
    expect_build(c, false, "User: see [A0][A1][A2]: <__media__> <|endoftext|>\nAssistant:", "prompt + literal");
    mm_conv_drop_pending(c);
    mm_conv_add_text(c, "<__media__> <__media__>", false, err);
    mm_conv_add_media(c, &a.md, NULL, NULL, err);
    mm_conv_seq s;
    CHECK(mm_conv_build(c, false, &s, err) == MMGPT_ERR_USAGE && strstr(err, "2 <__media__> markers"),
          "two prompt markers for one media: '%s'", err);
    mm_conv_drop_pending(c);
    mm_conv_set_system(c, "<__media__>!", err);
    mm_conv_add_media(c, &b.md, NULL, NULL, err);
    mm_conv_add_text(c, "x", false, err);
    expect_build(c, false, "System: <__media__>!\nUser: [B0][B1][B2]\nx\nAssistant:", "system prompt is plain text");
    /* raw: no template, but a system prompt that was set comes first as plain text (mmgpt generate --system) */
    expect_build(c, true, "<__media__>![B0][B1][B2]\nx", "raw turn with a system prompt");
    mm_conv_drop_pending(c);
    mm_conv_set_system(c, NULL, err);

    /* ---- a picture and a question; the answer "ok" then '!' sampled (not evaluated) */
    mm_conv_add_media(c, &a.md, NULL, NULL, err);
    mm_conv_add_text(c, "What?", true, err);
    expect_turn(c, "first turn", 6 + 3 + 17, 0);
    answer(c, "ok", '!');
    expect_record(c, "User: [A0][A1][A2]\nWhat?\nAssistant:ok", "after the first answer");
    /* continuing: the answer is closed ('!' then <E>) before the next turn; no system block again */
    mm_conv_add_text(c, "Hm", true, err);
    expect_build(c, false, "!<E>User: Hm\nAssistant:", "next turn of the conversation");
    mm_conv_drop_pending(c);

    /* ---- the same picture (encoded again) after clear: its rows are reused */
    mm_conv_clear(c);
    mm_conv_add_media(c, &a2.md, NULL, NULL, err);
    mm_conv_add_text(c, "Why?", true, err);
    expect_turn(c, "same picture after clear", 6 + 3 + 16, 6 + 3 + 3); /* "User: " [A0..2] "\nWh" */
    expect_record(c, "User: [A0][A1][A2]\nWhy?\nAssistant:", "same picture after clear");

    /* ---- a different picture with the same row count: not reused (only "User: ") */
    mm_conv_clear(c);
    mm_conv_add_media(c, &b.md, NULL, NULL, err);
    mm_conv_add_text(c, "Why?", true, err);
    expect_turn(c, "different picture after clear", 25, 6);
    expect_record(c, "User: [B0][B1][B2]\nWhy?\nAssistant:", "different picture after clear");

    /* ---- the identical question: all in the cache, the last position evaluated again for its logits */
    mm_conv_clear(c);
    mm_conv_add_media(c, &b.md, NULL, NULL, err);
    mm_conv_add_text(c, "Why?", true, err);
    expect_turn(c, "identical question after clear", 25, 24);
    CHECK(mm_conv_n_past(c) == 25, "identical question: n_past %lld", (long long)mm_conv_n_past(c));

    /* ---- system prompt: a new one is used from the next conversation on, and the cache is kept only up
     * to where it differs */
    mm_conv_set_system(c, "Be brief.", err);
    mm_conv_add_text(c, "More", true, err); /* the conversation goes on: no system block yet */
    expect_build(c, false, "User: More\nAssistant:", "system prompt set mid-conversation");
    mm_conv_drop_pending(c);
    mm_conv_clear(c);
    mm_conv_add_media(c, &b.md, NULL, NULL, err);
    mm_conv_add_text(c, "Why?", true, err);
    expect_turn(c, "with a system prompt", 18 + 25, 0); /* "System: Be brief.\n" + the turn */
    mm_conv_set_system(c, "Be kind.", err);
    mm_conv_clear(c);
    mm_conv_add_media(c, &b.md, NULL, NULL, err);
    mm_conv_add_text(c, "Why?", true, err);
    expect_turn(c, "another system prompt", 17 + 25, 11); /* "System: Be " */
    expect_record(c, "System: Be kind.\nUser: [B0][B1][B2]\nWhy?\nAssistant:", "another system prompt");
    mm_conv_set_system(c, "", err);
    mm_conv_clear(c);
    mm_conv_add_media(c, &b.md, NULL, NULL, err);
    mm_conv_add_text(c, "Why?", true, err);
    expect_turn(c, "no system prompt again", 25, 0);
    mm_conv_free(c);

    /* ---- multi-turn growth to the context limit (48 positions) */
    p.n_ctx = 48;
    c = mm_conv_create(&p, err);
    mm_conv_add_text(c, "Hi", true, err);
    expect_turn(c, "growth turn 1", 19, 0); /* "User: Hi\nAssistant:" */
    answer(c, "yo", '.');                   /* 21 in the cache */
    mm_conv_add_text(c, "Hi", true, err);
    expect_turn(c, "growth turn 2", 21, 0); /* ".<E>" + 19 */
    answer(c, "yo", '.');                   /* 44 */
    mm_conv_add_text(c, "Hi", true, err);
    mm_conv_turn_info info;
    int rc = mm_conv_eval_turn(c, false, 1, NULL, &info, err);
    CHECK(rc == MMGPT_ERR_CONTEXT && !strcmp(err, "the prompt takes 21 positions (0 of them media) but only 4 of the "
                                                  "context of 48 are left (one more is needed for the answer)"),
          "growth turn 3: rc %d '%s'", rc, err);
    CHECK(mm_conv_n_past(c) == 44, "a refused turn changed the record (%lld)", (long long)mm_conv_n_past(c));
    mm_conv_drop_pending(c);
    /* the answer goes on until the context is full; then it stays open (nothing to close it) */
    answer(c, "1234", '5');
    CHECK(mm_conv_n_past(c) == 48, "full: n_past %lld", (long long)mm_conv_n_past(c));
    CHECK(mm_conv_eval_token(c, 'x', err) == MMGPT_ERR_CONTEXT, "a token past the context was accepted");
    mm_conv_add_text(c, "Hi", true, err);
    rc = mm_conv_eval_turn(c, false, 1, NULL, &info, err);
    CHECK(rc == MMGPT_ERR_CONTEXT && !strcmp(err, "the prompt takes 19 positions (0 of them media) but only 0 of the "
                                                  "context of 48 are left (one more is needed for the answer)"),
          "turn on a full context: rc %d '%s'", rc, err);
    mm_conv_drop_pending(c);
    /* a new conversation starts at 0 and finds its start in the cache */
    mm_conv_clear(c);
    mm_conv_add_text(c, "Hi", true, err);
    expect_turn(c, "new conversation after a full context", 19, 18);
    /* a turn over the whole context, with media: the true counts */
    mm_conv_clear(c);
    mm_conv_add_media(c, &a.md, NULL, NULL, err);
    mm_conv_add_text(c, "0123456789012345678901234567890", true, err);
    rc = mm_conv_eval_turn(c, false, 1, NULL, &info, err);
    CHECK(rc == MMGPT_ERR_CONTEXT && !strcmp(err, "the prompt takes 52 positions (3 of them media), over the context "
                                                  "of 48 (one more is needed for the answer)"),
          "turn over the context: rc %d '%s'", rc, err);
    mm_conv_free(c);

    /* ---- prefix cache over turns: a conversation replayed from its messages (turn, answer, turn, ...)
     * is matched turn after turn (mm_conv_replay_turn); a turn found whole is not evaluated */
    p.n_ctx = 128;
    c = mm_conv_create(&p, err);
    mm_conv_add_text(c, "Hi", true, err);
    expect_turn(c, "replay: turn 1", 19, 0);
    answer(c, "yo", EOS); /* the model ended its answer: "yo" in the cache, <E> carried */
    mm_conv_add_text(c, "More", true, err);
    expect_turn(c, "replay: turn 2", 22, 0);
    answer(c, "ok", '.'); /* stopped at max tokens: '.' sampled, not evaluated */
    expect_record(c, "User: Hi\nAssistant:yo<E>User: More\nAssistant:ok", "replay: the first conversation");
    /* the client sends it back with a third turn: everything up to the last answer's unevaluated '.' is cached */
    mm_conv_clear(c);
    expect_replay(c, false, "Hi", 19, 19, "replay: turn 1 again");
    expect_replay(c, true, "yo", 2, 2, "replay: answer 1");
    mm_conv_end_answer(c, EOS);
    expect_replay(c, false, "More", 22, 22, "replay: turn 2 again");
    CHECK(mm_conv_n_past(c) == 45, "replay: the record is kept while it matches (%lld)", (long long)mm_conv_n_past(c));
    expect_replay(c, true, "ok.", 3, 2, "replay: answer 2 (its last token was never evaluated)");
    mm_conv_end_answer(c, EOS);
    mm_conv_add_text(c, "Again", true, err);
    expect_turn(c, "replay: turn 3", 23, 0);
    expect_record(c, "User: Hi\nAssistant:yo<E>User: More\nAssistant:ok.<E>User: Again\nAssistant:",
                  "replay: after turn 3");
    /* the same request again: all found, only the last position evaluated again */
    mm_conv_clear(c);
    expect_replay(c, false, "Hi", 19, 19, "replay twice: turn 1");
    expect_replay(c, true, "yo", 2, 2, "replay twice: answer 1");
    mm_conv_end_answer(c, EOS);
    expect_replay(c, false, "More", 22, 22, "replay twice: turn 2");
    expect_replay(c, true, "ok.", 3, 3, "replay twice: answer 2");
    mm_conv_end_answer(c, EOS);
    mm_conv_add_text(c, "Again", true, err);
    expect_turn(c, "replay twice: turn 3", 23, 22);
    CHECK(mm_conv_n_past(c) == 69, "replay twice: n_past %lld", (long long)mm_conv_n_past(c));
    /* a changed answer: the cache is kept up to the change only, the rest evaluated */
    mm_conv_clear(c);
    expect_replay(c, false, "Hi", 19, 19, "changed answer: turn 1");
    expect_replay(c, true, "yes", 3, 1, "changed answer: answer 1 differs after 'y'");
    mm_conv_end_answer(c, EOS);
    expect_replay(c, false, "More", 22, 0, "changed answer: turn 2 evaluated");
    expect_record(c, "User: Hi\nAssistant:yes<E>User: More\nAssistant:", "changed answer");
    /* a changed first message: only "User: H" */
    mm_conv_clear(c);
    expect_replay(c, false, "Ho", 19, 7, "changed turn 1");
    expect_replay(c, true, "yes", 3, 0, "changed turn 1: its answer evaluated");
    /* a generated token after replayed turns found whole cuts the record to them first */
    mm_conv_clear(c);
    expect_replay(c, false, "Ho", 19, 19, "replay then a token");
    CHECK(mm_conv_eval_token(c, 'z', err) == 0, "token after a replayed turn: %s", err);
    expect_record(c, "User: Ho\nAssistant:z", "replay then a token");
    mm_conv_free(c);

    /* ---- BOS at the start of each conversation only */
    p.bos = BOS;
    p.n_ctx = 64;
    c = mm_conv_create(&p, err);
    mm_conv_add_text(c, "Hi", true, err);
    expect_build(c, true, "<B>Hi", "BOS at the start");
    expect_turn(c, "BOS turn", 20, 0);
    answer(c, "", EOS);
    mm_conv_add_text(c, "Hi", true, err);
    expect_build(c, false, "<E>User: Hi\nAssistant:", "no BOS when continuing; the model's <E> closes the answer");
    mm_conv_free(c);
    mm_prompt_template_free(&tpl);
}

/* ================================================================ part B: the decoder under the conversation */
typedef struct {
    mm_gpt_input *in;
    int64_t       n, cap;
} ref_seq;

static void ref_tokens(ref_seq *r, const mm_tokenizer *tok, const char *text) {
    int32_t *ids = NULL;
    int64_t  n = 0;
    char     err[MM_ERR_SIZE];
    CHECK(mm_tokenizer_encode_alloc(tok, text, strlen(text), false, &ids, &n, err) == 0, "encode: %s", err);
    for (int64_t i = 0; i < n; i++) {
        if (r->n == r->cap) r->in = realloc(r->in, (size_t)(r->cap = r->cap ? 2 * r->cap : 256) * sizeof *r->in);
        r->in[r->n++] = (mm_gpt_input){.token = ids[i], .embd = NULL};
    }
    free(ids);
}

static void ref_rows(ref_seq *r, const float *rows, int64_t n_rows, int64_t d) {
    for (int64_t i = 0; i < n_rows; i++) {
        if (r->n == r->cap) r->in = realloc(r->in, (size_t)(r->cap = r->cap ? 2 * r->cap : 256) * sizeof *r->in);
        r->in[r->n++] = (mm_gpt_input){.token = 0, .embd = rows + i * d};
    }
}

/* "[System: SYS\n]User: " rows "\nQ\nAssistant:" (the default template, one media, no marker in Q), each
 * text between media tokenized as one piece; without rows "[System: SYS\n]User: Q\nAssistant:". */
static ref_seq ref_turn(const mm_tokenizer *tok, const char *sys, const float *rows, int64_t n_rows, int64_t d,
                        const char *q) {
    ref_seq r = {0};
    char    pre[256], post[256];
    snprintf(pre, sizeof pre, "%s%s%sUser: ", sys ? "System: " : "", sys ? sys : "", sys ? "\n" : "");
    snprintf(post, sizeof post, "%s%s\nAssistant:", rows ? "\n" : "", q);
    if (!rows) {
        strcat(pre, post);
        ref_tokens(&r, tok, pre);
        return r;
    }
    ref_tokens(&r, tok, pre);
    ref_rows(&r, rows, n_rows, d);
    ref_tokens(&r, tok, post);
    return r;
}

/* Leading positions of a and b with the same input (token, or the same embedding row content). */
static int64_t common_prefix(const ref_seq *a, const ref_seq *b, int64_t d) {
    int64_t k = 0;
    while (k < a->n && k < b->n) {
        const mm_gpt_input *x = &a->in[k], *y = &b->in[k];
        if (!x->embd != !y->embd) break;
        if (x->embd ? memcmp(x->embd, y->embd, (size_t)d * sizeof(float)) != 0 : x->token != y->token) break;
        k++;
    }
    return k;
}

/* The reference: a fresh state fed r in evaluations of the given sizes (0-terminated); its last logits. */
static float *ref_logits(const mm_gpt_model *gm, const ref_seq *r, const int64_t *split) {
    char                err[MM_ERR_SIZE];
    mm_gpt_state_params sp = mm_gpt_state_default_params();
    sp.n_threads = 1;
    mm_gpt_state *st = mm_gpt_state_create(gm, sp, err);
    int64_t       at = 0, nv = mm_gpt_model_n_vocab(gm);
    for (int i = 0; st && split[i]; at += split[i], i++)
        CHECK(mm_gpt_eval(st, r->in + at, split[i], NULL, err) == 0, "reference eval: %s", err);
    CHECK(at == r->n, "reference split covers %lld of %lld", (long long)at, (long long)r->n);
    float *out = malloc((size_t)nv * sizeof *out);
    memcpy(out, mm_gpt_state_logits(st), (size_t)nv * sizeof *out);
    mm_gpt_state_free(st);
    return out;
}

/* Tolerance: the cached positions were computed inside another batch than the reference's; sgemm's
 * blocking follows the batch size, so their keys/values may differ in the last bits (measured: max |diff|
 * of the logits <= 2e-6 with max |logit| ~ 10-20). A wrong row in the cache moves them by O(1). */
#define LOGIT_TOL 1e-5
static void same_logits(const char *what, const mm_gpt_state *st, const float *want, int64_t nv) {
    const float *got = mm_gpt_state_logits(st);
    double       dmax = 0, amax = 0;
    for (int64_t i = 0; i < nv; i++) {
        dmax = fmax(dmax, fabs((double)got[i] - (double)want[i]));
        amax = fmax(amax, fabs((double)want[i]));
    }
    CHECK(dmax <= LOGIT_TOL * amax, "%s: logits differ from a fresh state's: max |diff| %g, max |logit| %g", what, dmax,
          amax);
    printf("    logits vs a fresh state: max |diff| %.3g (max |logit| %.3g)\n", dmax, amax);
}

static int tok_gpt2(void *tok, const char *text, size_t len, int32_t **ids, int64_t *n, char *err) {
    return mm_tokenizer_encode_alloc(tok, text, len, false, ids, n, err);
}

static void part_b(const char *model_path) {
    char     err[MM_ERR_SIZE];
    mm_gguf *g = mm_gguf_open(model_path, err);
    CHECK(g != NULL, "%s", err);
    if (!g) return;
    mm_gpt_model      *gm = mm_gpt_model_load(g, err);
    mm_tokenizer      *tok = mm_tokenizer_load_gguf(g, err);
    mm_prompt_template tpl;
    CHECK(gm && tok && mm_prompt_template_load(&tpl, g, err) == 0, "model: %s", err);
    CHECK(tpl.default_system == NULL && !strcmp(tpl.user_prefix, "User: ") && !strcmp(tpl.user_suffix, "\n") &&
              !strcmp(tpl.assistant_prefix, "Assistant:") && !strcmp(tpl.image_begin, "") && !strcmp(tpl.image_end, ""),
          "part B assembles the default template; this model has another");
    int64_t d = mm_gpt_model_d_model(gm), nv = mm_gpt_model_n_vocab(gm);
    /* three "pictures" of 9 rows: p1, p1 again (another buffer), p2 */
    enum { R = 9 };
    float  *p1 = malloc(R * d * sizeof(float)), *p1b = malloc(R * d * sizeof(float)), *p2 = malloc(R * d * sizeof(float));
    mm_rng  rng;
    mm_rng_seed(&rng, 7);
    for (int64_t i = 0; i < R * d; i++) {
        p1[i] = p1b[i] = (float)(mm_rng_uniform(&rng) * 2 - 1);
        p2[i] = (float)(mm_rng_uniform(&rng) * 2 - 1);
    }
    mm_conv_media m1 = {MMGPT_MEDIA_IMAGE, R, d, p1, mm_conv_hash_rows(p1, R, d), NULL, 0};
    mm_conv_media m1b = {MMGPT_MEDIA_IMAGE, R, d, p1b, mm_conv_hash_rows(p1b, R, d), NULL, 0};
    mm_conv_media m2 = {MMGPT_MEDIA_IMAGE, R, d, p2, mm_conv_hash_rows(p2, R, d), NULL, 0};

    mm_gpt_state_params sp = mm_gpt_state_default_params();
    sp.n_threads = 1;
    mm_gpt_state  *st = mm_gpt_state_create(gm, sp, err);
    mm_conv_params cp = {.st = st, .tpl = &tpl, .tokenize = tok_gpt2, .tok_user = tok, .bos = -1,
                         .eos = mm_tokenizer_eos(tok)};
    mm_conv       *c = st ? mm_conv_create(&cp, err) : NULL;
    CHECK(c != NULL, "conversation: %s", err);
    if (!c) return;

    struct {
        const char          *what, *sys, *q;
        const mm_conv_media *md;
        const float         *rows;
        int                  prev;  /* the turn whose sequence is in the cache before this one (-1: none) */
    } turns[] = {
        {"B: first turn", NULL, "What is it?", &m1, p1, -1},
        {"B: the same picture again after clear", NULL, "How many?", &m1b, p1b, 0},
        {"B: a different picture of the same size after clear", NULL, "How many?", &m2, p2, 1},
        {"B: the identical question after clear", NULL, "How many?", &m2, p2, 2},
        {"B: a system prompt", "Be brief.", "How many?", &m2, p2, 3},
        {"B: another system prompt", "Be kind.", "How many?", &m2, p2, 4},
    };
    enum { NT = sizeof turns / sizeof turns[0] };
    ref_seq seqs[NT];
    for (int t = 0; t < NT; t++) {
        seqs[t] = ref_turn(tok, turns[t].sys, turns[t].rows, R, d, turns[t].q);
        if (t > 0) {
            mm_conv_set_system(c, turns[t].sys, err);
            mm_conv_clear(c);
        }
        mm_conv_add_media(c, turns[t].md, NULL, NULL, err);
        mm_conv_add_text(c, turns[t].q, true, err);
        mm_conv_turn_info info = {0};
        int               rc = mm_conv_eval_turn(c, false, 1, NULL, &info, err);
        CHECK(rc == 0, "%s: %s", turns[t].what, err);
        if (rc) continue;
        int64_t k = turns[t].prev >= 0 ? common_prefix(&seqs[t], &seqs[turns[t].prev], d) : 0;
        if (k == seqs[t].n) k--; /* the last position is evaluated again */
        CHECK(info.n_pos == seqs[t].n && info.n_cached == k, "%s: %lld positions, %lld cached; want %lld, %lld",
              turns[t].what, (long long)info.n_pos, (long long)info.n_cached, (long long)seqs[t].n, (long long)k);
        printf("%-55s %3lld positions, %3lld from the cache\n", turns[t].what, (long long)info.n_pos,
               (long long)info.n_cached);
        int64_t split[3] = {k ? k : seqs[t].n, k ? seqs[t].n - k : 0, 0};
        float  *ref = ref_logits(gm, &seqs[t], split);
        same_logits(turns[t].what, st, ref, nv);
        free(ref);
    }
    /* the expectations above are what the test means: the same picture's rows in the cache, the other's not */
    int64_t kc = common_prefix(&seqs[1], &seqs[0], d);
    CHECK(kc > R && seqs[1].in[kc - 1].embd == NULL && seqs[1].in[kc - 2].embd != NULL,
          "test: picture 1 again should be cached (%lld)", (long long)kc);
    kc = common_prefix(&seqs[2], &seqs[1], d);
    CHECK(seqs[2].in[kc].embd != NULL, "test: the other picture should end the common prefix at its first row");

    /* multi-turn: answer tokens one by one, the answer closed by the sampled token + <|endoftext|>, the
     * next turn after it; the reference evaluates the whole conversation with the same split */
    mm_conv_set_system(c, NULL, err);
    mm_conv_clear(c);
    ref_seq all = ref_turn(tok, NULL, p1, R, d, "What is it?");
    int64_t split[160], ns = 0;
    mm_conv_add_media(c, &m1, NULL, NULL, err);
    mm_conv_add_text(c, "What is it?", true, err);
    mm_conv_turn_info info;
    CHECK(mm_conv_eval_turn(c, false, 1, NULL, &info, err) == 0, "multi-turn 1: %s", err);
    int64_t k = common_prefix(&all, &seqs[NT - 1], d); /* the cache held the last turn above */
    split[ns++] = k ? k : all.n;
    if (k) split[ns++] = all.n - k;
    const int32_t gen[] = {257, 3290, 13};
    int32_t       eos = mm_tokenizer_eos(tok);
    int           turn_no = 2;
    for (;;) {
        for (int i = 0; i < 3; i++) {
            if (mm_conv_n_past(c) >= mm_conv_n_ctx(c)) break;
            CHECK(mm_conv_eval_token(c, gen[i], err) == 0, "token: %s", err);
            if (all.n == all.cap) all.in = realloc(all.in, (size_t)(all.cap *= 2) * sizeof *all.in);
            all.in[all.n++] = (mm_gpt_input){gen[i], NULL};
            split[ns++] = 1;
        }
        mm_conv_end_answer(c, 11); /* "," sampled, not evaluated */
        int64_t past = mm_conv_n_past(c), n_carry = past < mm_conv_n_ctx(c) ? 2 : 0; /* full: the answer stays open */
        ref_seq next = ref_turn(tok, NULL, NULL, 0, d, "And then?");
        int64_t n_turn = n_carry + next.n;
        mm_conv_add_text(c, "And then?", true, err);
        int rc = mm_conv_eval_turn(c, false, 1, NULL, &info, err);
        if (past + n_turn + 1 > mm_conv_n_ctx(c)) {
            char want[256];
            snprintf(want, sizeof want, "the prompt takes %lld positions (0 of them media) but only %lld of the context "
                     "of %lld are left (one more is needed for the answer)", (long long)n_turn,
                     (long long)(mm_conv_n_ctx(c) - past), (long long)mm_conv_n_ctx(c));
            CHECK(rc == MMGPT_ERR_CONTEXT && !strcmp(err, want), "multi-turn %d over the context: rc %d '%s'\n  want '%s'",
                  turn_no, rc, err, want);
            printf("B: multi-turn: turn %d refused at %lld of %lld positions: %s\n", turn_no,
                   (long long)mm_conv_n_past(c), (long long)mm_conv_n_ctx(c), err);
            free(next.in);
            break;
        }
        CHECK(rc == 0 && info.n_pos == n_turn && info.n_cached == 0, "multi-turn %d: rc %d %s", turn_no, rc, err);
        if (all.n + n_turn > all.cap) all.in = realloc(all.in, (size_t)(all.cap = 2 * (all.n + n_turn)) * sizeof *all.in);
        if (n_carry) {
            all.in[all.n++] = (mm_gpt_input){11, NULL};
            all.in[all.n++] = (mm_gpt_input){eos, NULL};
        }
        memcpy(all.in + all.n, next.in, (size_t)next.n * sizeof *all.in);
        all.n += next.n;
        split[ns++] = n_turn;
        free(next.in);
        turn_no++;
        if (ns > 150) break;
    }
    split[ns] = 0;
    CHECK(turn_no > 3, "multi-turn: only %d turns fitted", turn_no - 1);
    float *ref = ref_logits(gm, &all, split);
    printf("B: multi-turn: %d turns, %lld positions, %lld evaluations\n", turn_no - 1, (long long)all.n, (long long)ns);
    same_logits("B: multi-turn conversation", st, ref, nv);
    free(ref);
    free(all.in);
    for (int t = 0; t < NT; t++) free(seqs[t].in);
    mm_conv_free(c);
    mm_gpt_state_free(st);
    free(p1), free(p1b), free(p2);
    mm_prompt_template_free(&tpl);
    mm_tokenizer_free(tok);
    mm_gpt_model_free(gm);
    mm_gguf_close(g);
}

/* ================================================================ part C: through mmgpt.h */
static char *ask_text(mmgpt_ctx *c, const char *img, const char *q, bool clear, mmgpt_timings *t) {
    char err[MMGPT_ERR_SIZE];
    if (clear) mmgpt_clear(c);
    mmgpt_reset_timings(c);
    mmgpt_gen_params gp = mmgpt_gen_default_params();
    gp.max_tokens = 8;
    int rc = mmgpt_add_image_file(c, img, err);
    if (!rc) rc = mmgpt_add_text_literal(c, q, err);
    if (!rc) rc = mmgpt_generate(c, gp, NULL, NULL, err);
    CHECK(rc == 0, "ask '%s' about %s: %s", q, img, err);
    if (t) mmgpt_get_timings(c, t);
    return strdup(rc ? "" : mmgpt_last_text(c));
}

/* A replayed conversation, as mmgpt serve receives it: [img + q1] [answer a1] [q2], answered (8 tokens). */
static char *replay_text(mmgpt_ctx *c, const char *img, const char *q1, const char *a1, const char *q2,
                         mmgpt_timings *t) {
    char err[MMGPT_ERR_SIZE];
    mmgpt_clear(c);
    mmgpt_reset_timings(c);
    mmgpt_gen_params gp = mmgpt_gen_default_params();
    gp.max_tokens = 8;
    int rc = mmgpt_add_image_file(c, img, err);
    if (!rc) rc = mmgpt_add_text_literal(c, q1, err);
    if (!rc) rc = mmgpt_eval_answer(c, a1, err);
    if (!rc) rc = mmgpt_add_text_literal(c, q2, err);
    if (!rc) rc = mmgpt_generate(c, gp, NULL, NULL, err);
    CHECK(rc == 0, "replay [%s + '%s', '%s', '%s']: %s", img, q1, a1, q2, err);
    if (t) mmgpt_get_timings(c, t);
    return strdup(rc ? "" : mmgpt_last_text(c));
}

/* The positions of the pending turn with media rows as -1 (mmgpt_tokenize_turn). */
static int32_t *turn_ids(mmgpt_ctx *c, int64_t *n) {
    char     err[MMGPT_ERR_SIZE];
    int32_t *ids = NULL;
    CHECK(mmgpt_tokenize_turn(c, false, &ids, n, err) == 0, "tokenize_turn: %s", err);
    return ids;
}

static void part_c(const char *model_path, const char *img1, const char *img2) {
    char         err[MMGPT_ERR_SIZE];
    mmgpt_model *m = mmgpt_model_load(model_path, mmgpt_model_default_params(), err);
    CHECK(m != NULL, "%s", err);
    if (!m) return;
    mmgpt_ctx_params cp = mmgpt_ctx_default_params();
    cp.n_threads = 1;
    mmgpt_ctx    *c = mmgpt_ctx_create(m, cp, err);
    mmgpt_timings t;

    /* the question's positions after "User: " + picture rows, to know what the cache can hold */
    int64_t  n_user = 0, n1 = 0;
    mmgpt_add_image_file(c, img1, err);
    mmgpt_add_text_literal(c, "what is it?", err);
    int32_t *ids1 = turn_ids(c, &n1);
    while (ids1 && ids1[n_user] >= 0) n_user++;
    int64_t n_rows = 0;
    while (ids1 && ids1[n_user + n_rows] < 0) n_rows++;
    mmgpt_clear(c);
    free(ids1);

    char *a0 = ask_text(c, img1, "what is it?", false, &t);
    char *a1 = ask_text(c, img1, "how many shapes?", true, &t); /* the picture file encoded again */
    CHECK(t.n_cached >= n_user + n_rows, "same picture after mmgpt_clear: %lld cached, want >= %lld", (long long)t.n_cached,
          (long long)(n_user + n_rows));
    printf("C: same picture again: %lld of %lld positions from the cache\n", (long long)t.n_cached, (long long)t.n_prompt);
    char *a2 = ask_text(c, img2, "how many shapes?", true, &t);
    CHECK(t.n_cached == n_user, "different picture after mmgpt_clear: %lld cached, want %lld (\"User: \" only)",
          (long long)t.n_cached, (long long)n_user);
    char *a3 = ask_text(c, img2, "how many shapes?", true, &t);
    CHECK(t.n_cached == t.n_prompt - 1, "identical question: %lld of %lld cached", (long long)t.n_cached,
          (long long)t.n_prompt);
    CHECK(!strcmp(a2, a3), "identical question: '%s' then '%s'", a2, a3);
    /* fresh contexts give the same answers */
    const char *img[3] = {img1, img1, img2};
    const char *qs[3] = {"what is it?", "how many shapes?", "how many shapes?"};
    char       *got[3] = {a0, a1, a2};
    for (int i = 0; i < 3; i++) {
        mmgpt_ctx *f = mmgpt_ctx_create(m, cp, err);
        char      *w = ask_text(f, img[i], qs[i], false, NULL);
        CHECK(!strcmp(got[i], w), "answer %d with the prefix cache '%s', fresh '%s'", i, got[i], w);
        printf("C: %s, '%s': '%s'\n", img[i], qs[i], w);
        free(w);
        mmgpt_ctx_free(f);
    }
    CHECK(strcmp(a1, a2) != 0, "the two pictures should get different answers ('%s')", a1);

    /* ---- prefix cache over turns: [picture + q1, the answer, q2] after the ctx answered q1 finds turn 1
     * and the generated answer in the cache; the answer equals a fresh context's; a changed first message
     * misses from the change on */
    {
        mmgpt_timings tr, tf;
        char *b0 = ask_text(c, img1, "what is it?", true, &t); /* the conversation a client continues */
        int64_t n_turn1 = t.n_prompt, n_ans = t.n_gen;
        char *b1 = replay_text(c, img1, "what is it?", b0, "and the colors?", &tr);
        mmgpt_ctx *f = mmgpt_ctx_create(m, cp, err);
        char *w1 = replay_text(f, img1, "what is it?", b0, "and the colors?", &tf);
        CHECK(!strcmp(b1, w1), "replayed conversation: '%s' with the cache, '%s' fresh", b1, w1);
        CHECK(tf.n_cached == 0 && tr.n_prompt == tf.n_prompt, "fresh replay: %lld cached of %lld (cached run: %lld)",
              (long long)tf.n_cached, (long long)tf.n_prompt, (long long)tr.n_prompt);
        CHECK(tr.n_cached >= n_turn1 + n_ans - 1 && tr.n_cached < tr.n_prompt,
              "replay over turns: %lld of %lld cached, want >= turn 1 (%lld) + its answer (%lld) - 1",
              (long long)tr.n_cached, (long long)tr.n_prompt, (long long)n_turn1, (long long)n_ans);
        printf("C: replayed [picture + q1, answer (%lld tokens), q2]: %lld of %lld positions from the cache\n",
               (long long)n_ans, (long long)tr.n_cached, (long long)tr.n_prompt);
        /* the same request again: all but the last position */
        char *b2 = replay_text(c, img1, "what is it?", b0, "and the colors?", &tr);
        CHECK(!strcmp(b1, b2) && tr.n_cached == tr.n_prompt - 1, "the same replay again: '%s' vs '%s', %lld of %lld",
              b1, b2, (long long)tr.n_cached, (long long)tr.n_prompt);
        /* a changed first message: the cache holds "User: " + the picture only, then it is evaluated */
        char *b3 = replay_text(c, img1, "what is this?", b0, "and the colors?", &tr);
        char *w3 = replay_text(f, img1, "what is this?", b0, "and the colors?", NULL);
        CHECK(!strcmp(b3, w3), "changed first message: '%s' with the cache, '%s' fresh", b3, w3);
        CHECK(tr.n_cached < n_turn1, "changed first message: %lld cached, want < %lld", (long long)tr.n_cached,
              (long long)n_turn1);
        /* a changed answer: cached up to the change only */
        char *b4 = replay_text(c, img1, "what is it?", "a cat", "and the colors?", &tr);
        char *w4 = replay_text(f, img1, "what is it?", "a cat", "and the colors?", NULL);
        CHECK(!strcmp(b4, w4), "changed answer: '%s' with the cache, '%s' fresh", b4, w4);
        CHECK(tr.n_cached < n_turn1 + 3, "changed answer: %lld cached, want < %lld", (long long)tr.n_cached,
              (long long)(n_turn1 + 3));
        mmgpt_ctx_free(f);
        free(b0), free(b1), free(b2), free(b3), free(b4), free(w1), free(w3), free(w4);
    }
    free(a0), free(a1), free(a2), free(a3);

    /* ---- free text is text */
    {
        char      e2[MM_ERR_SIZE];
        mm_gguf  *g = mm_gguf_open(model_path, e2);
        mm_tokenizer *tok = g ? mm_tokenizer_load_gguf(g, e2) : NULL;
        CHECK(tok != NULL, "tokenizer: %s", e2);
        int32_t eos = tok ? mm_tokenizer_eos(tok) : -1;
        const char *typed = "<__media__> what is it? <|endoftext|>";
        mmgpt_clear(c);
        int rc = mmgpt_add_image_file(c, img1, err);
        if (!rc) rc = mmgpt_add_text_literal(c, typed, err);
        int64_t  n = 0;
        int32_t *ids = rc ? NULL : turn_ids(c, &n);
        CHECK(rc == 0 && ids, "typed marker: %s", err);
        /* want: "User: " rows "\n<__media__> what is it? <|endoftext|>\nAssistant:" */
        int32_t *post = NULL;
        int64_t  np = 0;
        if (tok) mm_tokenizer_encode_alloc(tok, "\n<__media__> what is it? <|endoftext|>\nAssistant:", 49, false, &post, &np, e2);
        int64_t rows = 0, bad = 0;
        for (int64_t i = 0; ids && i < n; i++) {
            rows += ids[i] < 0;
            bad += ids[i] == eos;
        }
        CHECK(ids && rows == n_rows && bad == 0 && n == n_user + n_rows + np &&
                  !memcmp(ids + n_user + n_rows, post, (size_t)np * sizeof *ids),
              "typed marker / <|endoftext|>: %lld positions, %lld media rows, %lld end-of-text ids", (long long)n,
              (long long)rows, (long long)bad);
        free(ids);
        /* mmgpt_add_task("ask") holds the question as text: the same positions as above */
        mmgpt_clear(c);
        mmgpt_add_image_file(c, img1, err);
        rc = mmgpt_add_task(c, "ask", typed, err);
        int64_t  n2 = 0;
        int32_t *ids2 = rc ? NULL : turn_ids(c, &n2);
        CHECK(rc == 0 && ids2 && n2 == n_user + n_rows + np && !memcmp(ids2 + n_user + n_rows, post, (size_t)np * 4),
              "add_task ask with a typed marker: rc %d %s", rc, err);
        free(ids2);
        mmgpt_gen_params gp = mmgpt_gen_default_params();
        gp.max_tokens = 4;
        rc = mmgpt_generate(c, gp, NULL, NULL, err);
        CHECK(rc == 0, "ask with a typed marker: %s", err);
        CHECK(mmgpt_add_task(c, "bogus", "q", err) == MMGPT_ERR_USAGE && strstr(err, "bogus"), "unknown task: '%s'", err);
        /* prompt text still places media at its markers (the documented -p behaviour) */
        mmgpt_clear(c);
        mmgpt_add_text(c, "look: <__media__> ok", err);
        mmgpt_add_image_file(c, img1, err);
        ids2 = turn_ids(c, &n2);
        int64_t first = 0;
        while (ids2 && first < n2 && ids2[first] >= 0) first++;
        CHECK(ids2 && first > n_user, "prompt marker: the picture should follow \"User: look:\" (at %lld)", (long long)first);
        free(ids2);
        /* a system prompt with a marker is text */
        mmgpt_clear(c);
        CHECK(mmgpt_set_system(c, "<__media__> be brief", err) == 0, "%s", err);
        mmgpt_add_image_file(c, img1, err);
        mmgpt_add_text_literal(c, "what?", err);
        rc = mmgpt_generate(c, gp, NULL, NULL, err);
        CHECK(rc == 0, "system prompt with a marker: rc %d %s", rc, err);
        mmgpt_set_system(c, NULL, err);
        free(post);
        mm_tokenizer_free(tok);
        if (g) mm_gguf_close(g);
    }
    mmgpt_ctx_free(c);

    /* ---- over the context: the true counts (positions from mmgpt_tokenize_turn) and the context size */
    cp.n_ctx = 24;
    c = mmgpt_ctx_create(m, cp, err);
    mmgpt_add_image_file(c, img1, err);
    mmgpt_add_text_literal(c, "why why why why why why why why why why why why", err);
    int64_t n = 0;
    free(turn_ids(c, &n));
    mmgpt_gen_params gp = mmgpt_gen_default_params();
    int rc = mmgpt_generate(c, gp, NULL, NULL, err);
    char want[256];
    snprintf(want, sizeof want, "the prompt takes %lld positions (%lld of them media), over the context of 24 (one more "
             "is needed for the answer)", (long long)n, (long long)n_rows);
    CHECK(rc == MMGPT_ERR_CONTEXT && !strcmp(err, want) && n > 24, "over the context: rc %d '%s'\n  want '%s'", rc, err, want);
    printf("C: %s\n", err);
    /* multi-turn until the context is full: the refused turn's message counts the positions it takes */
    mmgpt_ctx_free(c);
    cp.n_ctx = 64;
    c = mmgpt_ctx_create(m, cp, err);
    gp.max_tokens = 4;
    mmgpt_add_image_file(c, img1, err);
    int turns = 0;
    for (;;) {
        mmgpt_add_text_literal(c, "and then?", err);
        free(turn_ids(c, &n));
        int64_t past = mmgpt_ctx_n_past(c);
        rc = mmgpt_generate(c, gp, NULL, NULL, err);
        if (rc) {
            snprintf(want, sizeof want, "the prompt takes %lld positions (0 of them media) but only %lld of the context of "
                     "64 are left (one more is needed for the answer)", (long long)n, (long long)(64 - past));
            CHECK(rc == MMGPT_ERR_CONTEXT && !strcmp(err, want) && past + n + 1 > 64,
                  "multi-turn growth: rc %d '%s'\n  want '%s'", rc, err, want);
            CHECK(mmgpt_ctx_n_past(c) == past, "the refused turn changed the cache");
            printf("C: after %d turns: %s\n", turns, err);
            break;
        }
        turns++;
        if (turns > 64) break;
    }
    CHECK(turns >= 2, "only %d turns", turns);
    /* after mmgpt_clear the conversation starts again */
    mmgpt_clear(c);
    mmgpt_add_image_file(c, img1, err);
    mmgpt_add_text_literal(c, "and then?", err);
    rc = mmgpt_generate(c, gp, NULL, NULL, err);
    CHECK(rc == 0, "a new conversation after a full one: %s", err);
    mmgpt_ctx_free(c);
    mmgpt_model_free(m);
}

int main(int argc, char **argv) {
    part_a();
    printf("A (bookkeeping): %s\n", n_fail ? "FAILED" : "ok");
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL.gguf IMAGE1 IMAGE2\n", argv[0]);
        return 2;
    }
    int f = n_fail;
    part_b(argv[1]);
    printf("B (decoder): %s\n", n_fail > f ? "FAILED" : "ok");
    f = n_fail;
    part_c(argv[1], argv[2], argv[3]);
    printf("C (API): %s\n", n_fail > f ? "FAILED" : "ok");
    if (n_fail) fprintf(stderr, "%d check(s) failed\n", n_fail);
    else printf("conversation: all checks passed\n");
    return n_fail ? 1 : 0;
}
