/* test_tok_llama.c - properties of the llama.cpp tokenizers (SentencePiece "llama" and the byte-level BPE
 * pre-tokenizers llama-bpe / qwen2 / smollm / default) on small vocabularies built here (tok_synth.h) and
 * GGUF files written here (tok_synth_llama.h). Exact ids are checked against the Python references by tok_llama_ref; this
 * test checks what a reference cannot see from outside:
 *  1. SentencePiece: the heap implementation == the naive loop (tok_spm_encode_ref) on 3000 hostile random
 *     strings; decode(encode(s)) == " " + s (s without U+2581); hand-worked cases (merge by score, leftmost
 *     on a tie, UNUSED never merged, byte fallback, prefix space after every special token);
 *  2. pre-tokenizers: the pieces are non-empty, contiguous and cover the text; BPE round trip; the fast BPE
 *     == GPT-2's original loop on every piece; hand-worked splits for each pre-tokenizer;
 *  3. streaming decode never emits a broken UTF-8 character (byte-fallback tokens of CJK / emoji) and,
 *     for ids whose text is valid UTF-8 without NUL, its chunks + flush == decode(all); control tokens
 *     decode to nothing in SPM;
 *  4. special tokens only when allowed (control and user-defined); the end-of-generation set; token types;
 *  5. GGUF: defaults (add_bos per kind / pre name, bos 1 eos 2 unk 0 for "llama", add_space_prefix),
 *     mm_tokenizer_write_gguf -> load gives the same tokenizer, and hostile files fail with a clear error
 *     (unknown model / pre names, BYTE tokens that are not <0xXX>, NaN scores, wrong array lengths,
 *     ids out of range, no byte fallback);
 *  6. 1 MB inputs (one word, spaces, digits, newlines, mixed) for every kind on a 256 KiB stack: finish
 *     (no quadratic path: ctest's timeout) and round-trip.
 */
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "../../tokenizer/tok_internal.h"
#include "mm_gguf.h"
#include "tok_synth_llama.h"
#include "tok_test_util.h"

#define CHECK_OK(cond, ...) ({ bool ok_ = (cond); CHECK(ok_, __VA_ARGS__); ok_; })

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
static uint32_t rndn(uint32_t n) { return (uint32_t)(rnd() % n); }

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}


static const char *k_frag[] = {
    "hello", " world", " the", "the", "caf\xc3\xa9", " caf\xc3\xa9", "xyz", "xy", "yz", " x", "'s", "'S", "'LL",
    "IT'Sok", "  ", "    ", "\n", "\n\n", "\r\n", "\r", "\t", " \t ", "\v\f", "\xc2\xa0", "\xe3\x80\x80",
    "\xe2\x80\xa8", "\xc2\x85", "\xe2\x80\x8b", "\x1c", "0", "7", "000", "1234567", " 42", "\xd9\xa3\xd9\xa4",
    "\xef\xbc\x91\xef\xbc\x92", "\xe2\x85\xab", "\xc2\xb2", "!!", " ?", "...", "$+<=>^~|`", "a^`b", "\xe6\x97\xa5\xe6\x9c\xac",
    "\xe8\xaa\x9e", "\xf0\x9f\x98\x80", "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", "e\xcc\x81", "<|im_end|>",
    "<|im_start|>", "<start_of_turn>", "<s>", "</s>", "<unk>", "<|endoftext|>", "<0x41>", "<|im_end",
    "\x80", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", "\xe2\x96",
};

static void random_text(sbuf *s, size_t max_parts, bool allow_mark) {
    s->n = 0;
    sb_put(s, "", 0);
    size_t parts = rndn((uint32_t)max_parts + 1);
    for (size_t i = 0; i < parts; i++) {
        switch (rndn(7)) {
        case 0: {
            size_t k = rndn(8);
            for (size_t j = 0; j < k; j++) { uint8_t c = (uint8_t)rnd(); sb_put(s, &c, 1); }
            break;
        }
        case 1: sb_cp(s, rndn(2) ? 0x20 + rndn(0x3000) : rndn(0x110000)); break;
        case 2: for (size_t k = rndn(12); k; k--) sb_str(s, (const char *[]){" ", "\n", "\t", " ", "\r\n"}[rndn(5)]); break;
        default: sb_str(s, k_frag[rndn(sizeof k_frag / sizeof k_frag[0])]);
        }
    }
    if (!allow_mark) /* U+2581 reads back as a space in SPM: keep it out where round trips are checked */
        for (size_t i = 0; i + 3 <= s->n; i++)
            if (!memcmp(s->b + i, "\xe2\x96\x81", 3)) s->b[i + 2] = 'x';
}

static bool valid_utf8(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t k;
        if (tok_utf8_decode(p + i, p + n, &k) < 0) return false;
        i += k;
    }
    return true;
}

static int32_t id_of(const mm_tokenizer *t, const char *text) {
    for (int32_t i = 0; i < mm_tokenizer_n_vocab(t); i++)
        if (!strcmp(mm_tokenizer_token_text(t, i), text)) return i;
    fprintf(stderr, "no token '%s'\n", text);
    exit(1);
}

/* encode and compare with the expected token texts (NULL-terminated) */
static bool expect(const mm_tokenizer *t, const char *s, bool special, const char *const *want) {
    int64_t n;
    int32_t *ids = tt_encode(t, s, strlen(s), special, &n);
    bool ok = true;
    int64_t k = 0;
    for (; want[k]; k++) ok = ok && k < n && !strcmp(mm_tokenizer_token_text(t, ids[k]), want[k]);
    ok = ok && k == n;
    if (!ok) {
        fprintf(stderr, "  '%s' ->", s);
        for (int64_t i = 0; i < n; i++) fprintf(stderr, " [%s]", mm_tokenizer_token_text(t, ids[i]));
        fputc('\n', stderr);
    }
    free(ids);
    return ok;
}

/* pieces of the pre-tokenizer, joined by '|' */
typedef struct {
    sbuf out;
    const uint8_t *next;
    bool ok;
} piece_ctx;
static int collect(void *c, const uint8_t *p, size_t n) {
    piece_ctx *pc = c;
    if (n == 0 || p != pc->next) pc->ok = false;
    pc->next = p + n;
    if (pc->out.n) sb_put(&pc->out, "|", 1);
    sb_put(&pc->out, p, n);
    return 0;
}
static bool pieces_are(const mm_tokenizer *t, const char *s, const char *want) {
    piece_ctx pc = {{0}, (const uint8_t *)s, true};
    sb_put(&pc.out, "", 0);
    tok_pretokenize(t, (const uint8_t *)s, strlen(s), collect, &pc);
    bool ok = pc.ok && !strcmp(pc.out.b, want);
    if (!ok) fprintf(stderr, "  %s: '%s' -> '%s', want '%s'\n", tok_pre_name(t->pre), s, pc.out.b, want);
    free(pc.out.b);
    return ok;
}

/* fast BPE == GPT-2's loop on every piece; pieces contiguous, non-empty, covering the text */
typedef struct {
    const mm_tokenizer *t;
    tok_ids a, b;
    const uint8_t *next;
    bool ok;
} bpe_ctx;
static int both(void *c, const uint8_t *p, size_t n) {
    bpe_ctx *r = c;
    if (n == 0 || p != r->next) r->ok = false;
    r->next = p + n;
    r->a.n = r->b.n = 0;
    if (tok_bpe_word(r->t, p, n, &r->a) || tok_bpe_word_ref(r->t, p, n, &r->b)) return -1;
    if (r->a.n != r->b.n || memcmp(r->a.v, r->b.v, r->a.n * sizeof *r->a.v)) r->ok = false;
    return 0;
}

/* stream ids one by one: when decode(all) is valid UTF-8 without NUL, every chunk is and chunks + flush ==
 * decode(all) (other text: only that every push succeeds - the stream may repair it) */
static bool stream_ok(const mm_tokenizer *t, const int32_t *ids, int64_t n) {
    char err[MM_ERR_SIZE], *full;
    size_t full_len;
    if (mm_tokenizer_decode_alloc(t, ids, n, &full, &full_len, err)) return false;
    bool valid = valid_utf8((const uint8_t *)full, full_len) && !memchr(full, 0, full_len), ok = true;
    mm_tokenizer_stream *st = mm_tokenizer_stream_create(t, err);
    sbuf all = {0};
    sb_put(&all, "", 0);
    for (int64_t i = 0; i < n && ok; i++) {
        const char *o;
        size_t ol;
        ok = !mm_tokenizer_stream_push(st, ids[i], &o, &ol, err) && (!valid || valid_utf8((const uint8_t *)o, ol));
        sb_put(&all, o, ol);
    }
    const char *o;
    size_t ol;
    mm_tokenizer_stream_flush(st, &o, &ol);
    sb_put(&all, o, ol);
    ok = ok && (!valid || (all.n == full_len && !memcmp(all.b, full, full_len)));
    mm_tokenizer_stream_free(st);
    free(all.b);
    free(full);
    return ok;
}

/* ---------------------------------------------------------------- big inputs on a small stack */
typedef struct {
    const mm_tokenizer *t;
    const char *s;
    size_t n;
    bool ok;
} big_job;
static void *big_run(void *arg) {
    big_job *j = arg;
    char err[MM_ERR_SIZE], *out;
    int32_t *ids;
    int64_t n;
    size_t len;
    j->ok = false;
    if (mm_tokenizer_encode_alloc(j->t, j->s, j->n, false, &ids, &n, err)) return NULL;
    if (!mm_tokenizer_decode_alloc(j->t, ids, n, &out, &len, err)) {
        size_t pre = j->t->kind == TOK_KIND_SPM && j->t->add_space_prefix;
        j->ok = len == j->n + pre && !memcmp(out + pre, j->s, j->n) && (!pre || out[0] == ' ');
        free(out);
    }
    free(ids);
    return NULL;
}
static bool big_ok(const mm_tokenizer *t, const char *s, size_t n) {
    big_job j = {t, s, n, false};
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 * 1024);
    pthread_t th;
    if (pthread_create(&th, &a, big_run, &j)) exit(1);
    pthread_join(th, NULL);
    pthread_attr_destroy(&a);
    return j.ok;
}

/* ---------------------------------------------------------------- GGUF helpers */
static mm_tokenizer *load_file(const char *path, char *err) {
    mm_gguf *g = mm_gguf_open(path, err);
    if (!g) return NULL;
    mm_tokenizer *t = mm_tokenizer_load_gguf(g, err);
    mm_gguf_close(g);
    return t;
}

/* write the SPM synthetic vocabulary with one thing changed (what: see below) and load it */
static mm_tokenizer *spm_variant(const mm_tokenizer *base, const char *path, int what, char *err) {
    int32_t n = mm_tokenizer_n_vocab(base);
    mm_gguf_writer *w = mm_gguf_writer_create();
    float *sc = malloc((size_t)n * sizeof *sc);
    int32_t *ty = malloc((size_t)n * sizeof *ty);
    const char **tx = malloc((size_t)n * sizeof *tx);
    for (int32_t i = 0; i < n; i++) {
        sc[i] = base->score[i];
        ty[i] = base->type[i];
        tx[i] = base->text[i];
    }
    if (what == 1) tx[3 + 0x41] = "<0xZZ>";           /* a BYTE token that is not <0xXX> */
    if (what == 2) sc[300] = NAN;                     /* NaN score */
    char names[256][8];
    if (what == 5) /* no byte tokens: bytes fall back to the unknown token */
        for (int b = 0; b < 256; b++) {
            snprintf(names[b], sizeof names[b], "<b%02X>", b);
            ty[3 + b] = TOK_NORMAL;
            tx[3 + b] = names[b];
        }
    if (what == 7) ty[id_of(base, "\xe2\x96\x81hello")] = 99; /* unknown type number */
    mm_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    mm_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tx, n);
    mm_gguf_writer_set_arr(w, "tokenizer.ggml.scores", MM_GGUF_FLOAT32, sc, what == 3 ? n - 1 : n);
    mm_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", MM_GGUF_INT32, ty, n);
    if (what == 4) mm_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)n);
    if (what == 6) {
        mm_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false);
        mm_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false);
        mm_gguf_writer_set_u32(w, "tokenizer.ggml.eot_token_id", (uint32_t)id_of(base, "<start_of_turn>"));
    }
    int rc = mm_gguf_writer_write(w, path, err);
    mm_gguf_writer_free(w);
    free(sc);
    free(ty);
    free(tx);
    return rc ? NULL : load_file(path, err);
}

static mm_tokenizer *bpe_with_pre(const mm_tokenizer *base, const char *path, const char *pre, int add_bos,
                                  char *err) {
    mm_gguf_writer *w = mm_gguf_writer_create();
    if (mm_tokenizer_write_gguf(base, w, err)) return NULL;
    mm_gguf_writer *w2 = mm_gguf_writer_create();
    /* copy every key but pre / add_bos_token through a file round trip */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (mm_gguf_writer_write(w, tmp, err)) return NULL;
    mm_gguf_writer_free(w);
    mm_gguf *g = mm_gguf_open(tmp, err);
    if (!g) return NULL;
    for (int64_t i = 0; i < mm_gguf_n_kv(g); i++) {
        const char *k = mm_gguf_kv_key(g, i);
        if (!strcmp(k, "tokenizer.ggml.pre") || !strcmp(k, "tokenizer.ggml.add_bos_token")) continue;
        size_t nb;
        const void *raw = mm_gguf_kv_raw(g, i, &nb);
        mm_gguf_writer_set_raw(w2, k, mm_gguf_kv_type(g, i), raw, nb);
    }
    mm_gguf_close(g);
    if (pre) mm_gguf_writer_set_str(w2, "tokenizer.ggml.pre", pre);
    if (add_bos >= 0) mm_gguf_writer_set_bool(w2, "tokenizer.ggml.add_bos_token", add_bos);
    int rc = mm_gguf_writer_write(w2, path, err);
    mm_gguf_writer_free(w2);
    return rc ? NULL : load_file(path, err);
}

int main(void) {
    char err[MM_ERR_SIZE];
    bool san = getenv("MMGPT_SANITIZE_RUN") != NULL;
#if defined(__SANITIZE_ADDRESS__)
    san = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    san = true;
#endif
#endif
    const char *seed = getenv("MMGPT_TEST_SEED");
    if (seed) g_rng = strtoull(seed, NULL, 0) | 1;
    printf("seed 0x%llx\n", (unsigned long long)g_rng);
    mm_tokenizer *spm = tsl_spm(true), *spm_np = tsl_spm(false);
    mm_tokenizer *bpe[TOK_PRE_COUNT];
    for (int p = 0; p < TOK_PRE_COUNT; p++) bpe[p] = tsl_bpe(p);
    sbuf s = {0};
    const int iters = san ? 600 : 3000;
    double t0 = cpu_s();

    /* ---- 1. SentencePiece */
    {
        int checked = 0;
        for (int it = 0; it < iters; it++) {
            random_text(&s, 12, it & 1);
            for (int v = 0; v < 2; v++) {
                const mm_tokenizer *t = v ? spm_np : spm;
                tok_ids a = {0}, b = {0};
                CHECK(!tok_spm_encode(t, (const uint8_t *)s.b, s.n, &a) && !tok_spm_encode_ref(t, (const uint8_t *)s.b, s.n, &b),
                      "spm encode failed");
                bool same = a.n == b.n && (a.n == 0 || !memcmp(a.v, b.v, a.n * sizeof *a.v));
                CHECK(same, "spm fast != naive on a %zu-byte string", s.n);
                if (!(it & 1)) {
                    char *out;
                    size_t len;
                    CHECK(!mm_tokenizer_decode_alloc(t, a.v, (int64_t)a.n, &out, &len, err), "decode");
                    size_t pre = v == 0 && s.n > 0;
                    CHECK(len == s.n + pre && !memcmp(out + pre, s.b, s.n) && (!pre || out[0] == ' '),
                          "spm round trip (prefix %zu) of a %zu-byte string", pre, s.n);
                    free(out);
                }
                CHECK(stream_ok(t, a.v, (int64_t)a.n), "spm streaming");
                free(a.v);
                free(b.v);
                checked++;
            }
        }
        const char *hello[] = {"\xe2\x96\x81hello", "\xe2\x96\x81world", NULL};
        CHECK(expect(spm, "hello world", false, hello), "spm: hello world");
        const char *nop[] = {"he", "llo", NULL}; /* no prefix space; "he" scores above "ll" */
        CHECK(expect(spm_np, "hello", false, nop), "spm without add_space_prefix");
        const char *tie[] = {"\xe2\x96\x81", "xy", "z", NULL}; /* xy and yz score the same: leftmost first */
        CHECK(expect(spm, "xyz", false, tie), "spm: leftmost pair on equal scores");
        const char *unused[] = {"\xe2\x96\x81", "x", NULL}; /* "▁x" is UNUSED: never a merge result */
        CHECK(expect(spm, "x", false, unused), "spm: UNUSED piece merged");
        const char *fb[] = {"\xe2\x96\x81", "<0xE8>", "<0xAA>", "<0x9E>", "\xe6\x97\xa5\xe6\x9c\xac", NULL};
        CHECK(expect(spm, "\xe8\xaa\x9e\xe6\x97\xa5\xe6\x9c\xac", false, fb), "spm: byte fallback");
        const char *sp[] = {"\xe2\x96\x81hello", "<|im_end|>", "\xe2\x96\x81", "x", "<start_of_turn>",
                            "\xe2\x96\x81world", NULL};
        CHECK(expect(spm, "hello<|im_end|>x<start_of_turn>world", true, sp), "spm: prefix space after specials");
        int64_t n;
        int32_t *ids = tt_encode(spm, "hello<|im_end|>", 15, false, &n);
        for (int64_t i = 0; i < n; i++)
            CHECK(!mm_tokenizer_is_special(spm, ids[i]), "spm: a special token from user text");
        free(ids);
        ids = tt_encode(spm, "<start_of_turn><unk><s>", 23, false, &n);
        for (int64_t i = 0; i < n; i++) CHECK(!mm_tokenizer_is_special(spm, ids[i]), "spm: user-defined from user text");
        free(ids);
        const char *unk[] = {"<start_of_turn>", "<unk>", "<s>", NULL};
        CHECK(expect(spm, "<start_of_turn><unk><s>", true, unk), "spm: specials when allowed");
        /* decoding: control / unknown render as nothing, user-defined as text, bytes as bytes */
        int32_t d[] = {1, id_of(spm, "\xe2\x96\x81hello"), id_of(spm, "<|im_end|>"), 0, id_of(spm, "<start_of_turn>"),
                       3 + 0xE6, 3 + 0x97, 3 + 0xA5, 2};
        char *out;
        size_t len;
        CHECK(!mm_tokenizer_decode_alloc(spm, d, 9, &out, &len, err) && len == 24 &&
                  !memcmp(out, " hello<start_of_turn>\xe6\x97\xa5", 24), "spm decode rules");
        free(out);
        CHECK(stream_ok(spm, d, 9), "spm stream over byte tokens");
        printf("spm: %d strings x fast == naive, round trips, streaming; hand-worked cases (%.2f s CPU)\n", checked,
               cpu_s() - t0);
        t0 = cpu_s();
    }

    /* ---- 2. pre-tokenizers */
    {
        const mm_tokenizer *g2 = bpe[TOK_PRE_GPT2], *l3 = bpe[TOK_PRE_LLAMA3], *q2 = bpe[TOK_PRE_QWEN2];
        const mm_tokenizer *sm = bpe[TOK_PRE_SMOLLM], *df = bpe[TOK_PRE_DEFAULT];
        CHECK(pieces_are(l3, "IT'S 12345 \tword!!\r\n\n  x  ", "IT|'S| |123|45| |\tword|!!\r\n\n| | x|  "), "llama3");
        CHECK(pieces_are(l3, "don'tStop 'LLx", "don|'t|Stop| '|LLx"), "llama3 contractions");
        CHECK(pieces_are(q2, "IT'S 123 a1", "IT|'S| |1|2|3| a|1"), "qwen2");
        CHECK(pieces_are(sm, "abc 12 def  x3y", "abc| |1|2| def| | x|3|y"), "smollm");
        CHECK(pieces_are(df, "don't 12345 a+b `x` ...z", "don|'|t| |123|45| a|+|b| `|x|`| |...|z"), "default");
        CHECK(pieces_are(g2, "IT'S 12345", "IT|'|S| 12345"), "gpt-2");
        int checked = 0;
        for (int it = 0; it < iters; it++) {
            random_text(&s, 14, true);
            for (int p = 0; p < TOK_PRE_COUNT; p++) {
                const mm_tokenizer *t = bpe[p];
                bpe_ctx r = {t, {0}, {0}, (const uint8_t *)s.b, true};
                CHECK(!tok_pretokenize(t, (const uint8_t *)s.b, s.n, both, &r), "pretokenize failed");
                CHECK(r.ok && r.next == (const uint8_t *)s.b + s.n, "%s: pieces do not cover the text or fast BPE != reference",
                      tok_pre_name(p));
                free(r.a.v);
                free(r.b.v);
                CHECK(tt_roundtrip(t, s.b, s.n, it & 1), "%s: round trip", tok_pre_name(p));
                int64_t n;
                int32_t *ids = tt_encode(t, s.b, s.n, it & 1, &n);
                CHECK(stream_ok(t, ids, n), "%s: streaming", tok_pre_name(p));
                free(ids);
                checked++;
            }
        }
        printf("pre-tokenizers: %d strings x (cover, fast BPE == reference, round trip, streaming); hand-worked splits "
               "(%.2f s CPU)\n", checked, cpu_s() - t0);
    }

    /* ---- 4. specials, EOG, types */
    {
        const int32_t *eog;
        int32_t ne = mm_tokenizer_eog_ids(spm, &eog);
        int32_t want[] = {2, id_of(spm, "<|im_end|>"), id_of(spm, "<end_of_utterance>"), id_of(spm, "<|endoftext|>")};
        CHECK(ne == 4, "spm eog: %d ids, want 4", (int)ne);
        for (int i = 0; i < 4; i++) CHECK(mm_tokenizer_is_eog(spm, want[i]), "spm eog misses %d", (int)want[i]);
        CHECK(!mm_tokenizer_is_eog(spm, 1) && !mm_tokenizer_is_eog(spm, id_of(spm, "<start_of_turn>")), "spm eog extra");
        CHECK(mm_tokenizer_eot(spm) == id_of(spm, "<|im_end|>"), "spm eot: %d", (int)mm_tokenizer_eot(spm));
        const mm_tokenizer *g2 = bpe[TOK_PRE_GPT2];
        int32_t eot = mm_tokenizer_special_id(g2, "<|endoftext|>"), im_end = mm_tokenizer_special_id(g2, "<|im_end|>");
        CHECK(mm_tokenizer_eog_ids(g2, NULL) == 2 && mm_tokenizer_is_eog(g2, eot) && mm_tokenizer_is_eog(g2, im_end) &&
                  mm_tokenizer_eos(g2) == eot && mm_tokenizer_eot(g2) == im_end, "bpe eog = {<|endoftext|>, <|im_end|>}");
        CHECK(mm_tokenizer_token_type(spm, 0) == MM_TOKEN_UNKNOWN && mm_tokenizer_token_type(spm, 1) == MM_TOKEN_CONTROL &&
                  mm_tokenizer_token_type(spm, 3) == MM_TOKEN_BYTE &&
                  mm_tokenizer_token_type(spm, id_of(spm, "<start_of_turn>")) == MM_TOKEN_USER_DEFINED &&
                  mm_tokenizer_token_type(spm, id_of(spm, "\xe2\x96\x81x")) == MM_TOKEN_UNUSED &&
                  mm_tokenizer_token_type(spm, id_of(spm, "ll")) == MM_TOKEN_NORMAL && mm_tokenizer_token_type(spm, -1) == 0,
              "token types");
        CHECK(mm_tokenizer_is_special(spm, 0) && mm_tokenizer_special_id(spm, "<|im_end|>") == id_of(spm, "<|im_end|>"),
              "spm special lookups");
        CHECK(!strcmp(mm_tokenizer_model(spm), "llama") && mm_tokenizer_pre(spm) == NULL &&
                  !strcmp(mm_tokenizer_model(g2), "gpt2") && !strcmp(mm_tokenizer_pre(bpe[TOK_PRE_QWEN2]), "qwen2"),
              "model / pre names");
        CHECK(mm_tokenizer_add_space_prefix(spm) && !mm_tokenizer_add_space_prefix(spm_np) &&
                  !mm_tokenizer_add_space_prefix(g2), "add_space_prefix");
    }

    /* ---- 5. GGUF */
    {
        char path[4096];
        snprintf(path, sizeof path, "%s/tok_llama_test.gguf", tt_tmpdir());
        /* write_gguf -> load: the same tokenizer */
        mm_gguf_writer *w = mm_gguf_writer_create();
        CHECK(!mm_tokenizer_write_gguf(spm, w, err) && !mm_gguf_writer_write(w, path, err), "spm write: %s", err);
        mm_gguf_writer_free(w);
        mm_tokenizer *r = load_file(path, err);
        CHECK(r, "spm reload: %s", err);
        if (r) {
            CHECK(mm_tokenizer_add_bos(r) && mm_tokenizer_bos(r) == 1 && mm_tokenizer_eos(r) == 2 &&
                      mm_tokenizer_eog_ids(r, NULL) == mm_tokenizer_eog_ids(spm, NULL), "spm reload: flags");
            for (int it = 0; it < 200; it++) {
                random_text(&s, 10, true);
                int64_t n1, n2;
                int32_t *a = tt_encode(spm, s.b, s.n, it & 1, &n1), *b = tt_encode(r, s.b, s.n, it & 1, &n2);
                CHECK(n1 == n2 && (n1 == 0 || !memcmp(a, b, (size_t)n1 * sizeof *a)), "spm reload: ids differ");
                free(a);
                free(b);
            }
            mm_tokenizer_free(r);
        }
        /* defaults of "llama" GGUFs */
        r = spm_variant(spm, path, 0, err);
        CHECK(r && mm_tokenizer_add_bos(r) && !mm_tokenizer_add_eos(r) && mm_tokenizer_add_space_prefix(r) &&
                  mm_tokenizer_bos(r) == 1 && mm_tokenizer_eos(r) == 2, "llama defaults: %s", r ? "" : err);
        mm_tokenizer_free(r);
        r = spm_variant(spm, path, 6, err);
        CHECK(r && !mm_tokenizer_add_bos(r) && !mm_tokenizer_add_space_prefix(r) &&
                  mm_tokenizer_eot(r) == id_of(spm, "<start_of_turn>") && mm_tokenizer_is_eog(r, id_of(spm, "<start_of_turn>")),
              "llama keys: %s", r ? "" : err);
        mm_tokenizer_free(r);
        r = spm_variant(spm, path, 7, err); /* unknown type number: renders as nothing, never merged */
        if (CHECK_OK(r, "type 99: %s", err)) {
            const char *h[] = {"\xe2\x96\x81he", "llo", NULL};
            CHECK(expect(r, "hello", false, h), "type 99 merged");
            int32_t id = id_of(r, "\xe2\x96\x81hello");
            CHECK(mm_tokenizer_decode(r, &id, 1, NULL, 0, err) == 0, "type 99 decodes to nothing");
            mm_tokenizer_free(r);
        }
        r = spm_variant(spm, path, 5, err);
        if (CHECK_OK(r, "no byte tokens: %s", err)) {
            const char *u[] = {"\xe2\x96\x81", "<unk>", "<unk>", NULL};
            CHECK(expect(r, "\x01\xff", false, u), "no byte tokens: bytes -> <unk>");
            mm_tokenizer_free(r);
        }
        static const char *bad_what[] = {"", "<0xZZ>", "NaN", "scores", "bos_token_id"};
        for (int k = 1; k <= 4; k++) {
            r = spm_variant(spm, path, k, err);
            CHECK(!r && strstr(err, bad_what[k]), "hostile llama file %d: %s", k, r ? "loaded" : err);
            mm_tokenizer_free(r);
        }
        /* gpt2 + pre names: add_bos defaults, aliases, unknown names */
        static const struct { const char *pre; int add_bos; bool want_bos; const char *canon; } pv[] = {
            {"llama-bpe", -1, true, "llama-bpe"}, {"llama3", 0, false, "llama-bpe"}, {"qwen2", -1, false, "qwen2"},
            {"smollm", -1, false, "smollm"},      {"default", 1, true, "default"},   {NULL, -1, false, "gpt-2"},
            {"starcoder", -1, false, "smollm"},   {"dbrx", -1, false, "llama-bpe"},
        };
        for (size_t k = 0; k < sizeof pv / sizeof pv[0]; k++) {
            r = bpe_with_pre(bpe[TOK_PRE_GPT2], path, pv[k].pre, pv[k].add_bos, err);
            if (!CHECK_OK(r, "pre %s: %s", pv[k].pre, err)) continue;
            CHECK(mm_tokenizer_add_bos(r) == pv[k].want_bos && !strcmp(mm_tokenizer_pre(r), pv[k].canon),
                  "pre %s: add_bos %d, name %s", pv[k].pre ? pv[k].pre : "(absent)", mm_tokenizer_add_bos(r),
                  mm_tokenizer_pre(r));
            bool im = r->ignore_merges;
            CHECK(im == (pv[k].pre && !strncmp(pv[k].pre, "llama", 5)), "pre %s: ignore_merges %d", pv[k].pre, im);
            /* write -> load keeps the pre-tokenizer */
            mm_gguf_writer *w2 = mm_gguf_writer_create();
            char p2[4200];
            snprintf(p2, sizeof p2, "%s.2", path);
            CHECK(!mm_tokenizer_write_gguf(r, w2, err) && !mm_gguf_writer_write(w2, p2, err), "write: %s", err);
            mm_gguf_writer_free(w2);
            mm_tokenizer *r2 = load_file(p2, err);
            CHECK(r2 && !strcmp(mm_tokenizer_pre(r2), pv[k].canon) && mm_tokenizer_add_bos(r2) == pv[k].want_bos,
                  "pre %s: rewrite", pv[k].pre);
            mm_tokenizer_free(r2);
            mm_tokenizer_free(r);
        }
        r = bpe_with_pre(bpe[TOK_PRE_GPT2], path, "no-such-pre", -1, err);
        CHECK(!r && strstr(err, "'no-such-pre'") && strstr(err, "llama-bpe"), "unknown pre: %s", err);
        mm_tokenizer_free(r);
        w = mm_gguf_writer_create();
        const char *toks[2] = {"a", "b"};
        mm_gguf_writer_set_str(w, "tokenizer.ggml.model", "t5");
        mm_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 2);
        CHECK(!mm_gguf_writer_write(w, path, err), "write: %s", err);
        mm_gguf_writer_free(w);
        r = load_file(path, err);
        CHECK(!r && strstr(err, "'t5'") && strstr(err, "\"llama\""), "unknown model: %s", err);
        mm_tokenizer_free(r);
    }

    /* ---- 6. big inputs */
    {
        t0 = cpu_s();
        size_t n = san ? (256u << 10) : (1u << 20);
        char *b = malloc(n + 1);
        static const char *real = "The quick brown fox doesn't jump; it's 2024. caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac "
                                  "\xf0\x9f\x98\x80  \t\n\n";
        for (int kind = 0; kind < 5; kind++) {
            for (size_t i = 0; i < n; i++)
                b[i] = kind == 0 ? 'x' : kind == 1 ? ' ' : kind == 2 ? (char)('0' + rndn(10)) : kind == 3 ? '\n'
                                                                                              : real[i % strlen(real)];
            b[n] = 0;
            if (kind == 4) /* do not cut a character at the end */
                while (n && ((uint8_t)b[n - 1] & 0x80)) b[--n] = 0;
            for (int p = 0; p < TOK_PRE_COUNT; p++)
                CHECK(big_ok(bpe[p], b, n), "big input kind %d, %s", kind, tok_pre_name(p));
            CHECK(big_ok(spm, b, n), "big input kind %d, spm", kind);
        }
        free(b);
        printf("big inputs: %zu bytes x 5 kinds x %d tokenizers round-trip on a 256 KiB stack (%.1f s CPU)\n", n,
               TOK_PRE_COUNT + 1, cpu_s() - t0);
    }

    free(s.b);
    mm_tokenizer_free(spm);
    mm_tokenizer_free(spm_np);
    for (int p = 0; p < TOK_PRE_COUNT; p++) mm_tokenizer_free(bpe[p]);
    if (n_fail) {
        fprintf(stderr, "%d check(s) failed\n", n_fail);
        return 1;
    }
    printf("ok\n");
    return 0;
}
