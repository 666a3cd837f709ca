/* test_tok_props.c - property tests of the tokenizer on the real GPT-2 vocabulary.
 *
 *  1. decode(encode(s)) == s, byte for byte, for random byte strings built from: arbitrary bytes, invalid
 *     UTF-8 (stray continuation bytes, truncated sequences, overlongs, surrogates encoded as bytes, > U+10FFFF,
 *     F5..FF), combining marks, emoji ZWJ / flag / skin-tone sequences, runs of spaces, tabs, newlines and
 *     Unicode spaces, mixed scripts, contractions, <|endoftext|> and <__media__> - with and without
 *     special-token parsing.
 *  2. Oracle: the fast BPE (flat arrays / heap) equals GPT-2's original algorithm (tok_bpe_word_ref, merge
 *     every occurrence of the lowest-rank pair) on every pre-token of those strings and on long words.
 *  3. 10 MB inputs (one 10 MB word, random letters without spaces, only spaces, only newlines, digits, real
 *     text) run on a thread with a 256 KiB stack (no deep recursion), round-trip, and scale linearly:
 *     time(10 MB) / time(1 MB) must stay < 40 (quadratic would be ~100); each the fastest of 2-3 runs.
 *  4. Streaming decode: for valid UTF-8 text every chunk is valid UTF-8 (a broken character is never
 *     emitted) and chunks + flush == decode(all); for random id sequences chunks + flush == decode(all).
 *  5. Specials only when allowed; <__media__> is always plain text; truncated-buffer encode semantics;
 *     errors for bad ids and hostile vocabulary files.
 * Exact comparisons (no tolerance). Vocabulary: tests/data/gpt2_bpe ($MMGPT_REFDATA); missing is a failure. */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <utf8proc.h>

#include "../../tokenizer/tok_internal.h"
#include "mm_gguf.h"
#include "tok_test_util.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
static uint32_t rndn(uint32_t n) { return (uint32_t)(rnd() % n); }


static const char *k_frag[] = {
    "hello", " world", "Hello", "don't", "we'll", "they're", "I've", "it's", "'S", "'LL", "''s", " 's", "'",
    "  ", "   ", "\n", "\n\n", "\r\n", "\t", " \t ", "\v\f", "\xc2\xa0", "\xe3\x80\x80", "\xe2\x80\xa8",
    "\xc2\x85", "\xe2\x80\x8b", "\x1c\x1d\x1e\x1f", "0", "123", " 4567", "\xd9\xa3\xd9\xa4", "\xe2\x85\xab",
    "!!", " ?", "...", "<|endoftext|>", "<|endoftext", "<__media__>", " <__media__>\n", "\xc3\xa9", "e\xcc\x81",
    "\xcc\x81\xcc\x82", " \xcc\x81", "\xe4\xbd\xa0\xe5\xa5\xbd", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
    "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85", "\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87",
    "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7\xe2\x80\x8d\xf0\x9f\x91\xa6",
    "\xf0\x9f\x8f\xb3\xef\xb8\x8f\xe2\x80\x8d\xf0\x9f\x8c\x88", "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
    "\xf0\x9f\x87\xa9\xf0\x9f\x87\xaa", "\xe2\x9d\xa4\xef\xb8\x8f", "\xf0\x9f\x98\x80",
    /* invalid UTF-8 */
    "\x80", "\xbf\x80", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80",
    "\xed\xa0\x80", "\xed\xbf\xbf", "\xed\xa0\xbd\xed\xb8\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xfe",
    "\xff", "\xf8\x88\x80\x80\x80",
};

static void random_text(sbuf *s, size_t max_parts) {
    s->n = 0;
    sb_put(s, "", 0);
    size_t parts = rndn((uint32_t)max_parts + 1);
    for (size_t i = 0; i < parts; i++) {
        switch (rndn(8)) {
        case 0: { /* random bytes */
            size_t k = rndn(12);
            for (size_t j = 0; j < k; j++) { uint8_t c = (uint8_t)rnd(); sb_put(s, &c, 1); }
            break;
        }
        case 1: /* random code point from the whole range (may be unassigned / private use) */
            sb_cp(s, (uint32_t)(rndn(2) ? rndn(0x3000) : rndn(0x110000)) & ~0u);
            if (s->n >= 3 && (uint8_t)s->b[s->n - 3] == 0xED && (uint8_t)s->b[s->n - 2] >= 0xA0) break; /* surrogate bytes: fine */
            break;
        case 2: /* long whitespace run */
            for (size_t k = rndn(40); k; k--) sb_str(s, (const char *[]){" ", "\n", "\t", " ", "\xc2\xa0"}[rndn(5)]);
            break;
        case 3: /* combining marks */
            for (size_t k = 1 + rndn(4); k; k--) sb_cp(s, 0x300 + rndn(0x70));
            break;
        default:
            sb_str(s, k_frag[rndn(sizeof k_frag / sizeof k_frag[0])]);
        }
    }
}

/* the oracle: pre-tokens encoded one by one with GPT-2's original merge loop */
typedef struct {
    const mm_tokenizer *t;
    tok_ids ids;
} ref_ctx;
static int ref_piece(void *c, const uint8_t *p, size_t n) {
    ref_ctx *r = c;
    return tok_bpe_word_ref(r->t, p, n, &r->ids);
}

static bool valid_utf8(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) return false;
        i += (size_t)k;
    }
    return true;
}

/* The reference of the streaming decode's output: bytes -> valid UTF-8, written here from the Unicode
 * standard with code points (not the byte ranges core/utf8.c uses). A sequence of L bytes (lead byte
 * 110xxxxx / 1110xxxx / 11110xxx) is well-formed when its code point lies in the range for L (2: 80..7FF,
 * 3: 800..FFFF, 4: 10000..10FFFF) and is no surrogate. A maximal subpart (section 3.9) is the longest
 * prefix of a well-formed sequence, i.e. a prefix whose possible completions [lo, hi] (trailing payload
 * bits all 0 / all 1) still meet the valid code points; each is replaced by one U+FFFD, and so is a
 * byte that starts nothing, and U+0000 (the stream hands out C strings). */
static bool cp_range_ok(uint32_t lo, uint32_t hi, int L) {
    const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000}, max[5] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
    if (hi < min[L] || lo > max[L]) return false;
    if (lo < min[L]) lo = min[L];
    if (hi > max[L]) hi = max[L];
    return !(lo >= 0xD800 && hi <= 0xDFFF); /* not only surrogates */
}
static void ref_sanitize(const uint8_t *b, size_t n, sbuf *out) {
    for (size_t i = 0; i < n;) {
        uint8_t c = b[i];
        int L = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        size_t good = 0; /* bytes of b[i..] that are a prefix of a well-formed sequence */
        if (L == 1 && c != 0) good = 1;
        for (int m = 1; L > 1 && m <= L && i + (size_t)m <= n; m++) {
            if (m > 1 && (b[i + m - 1] & 0xC0) != 0x80) break;
            uint32_t v = (uint32_t)(c & (0x7F >> L));
            for (int k = 1; k < m; k++) v = (v << 6) | (b[i + k] & 0x3F);
            int free_bits = 6 * (L - m);
            uint32_t lo = v << free_bits, hi = lo | ((1u << free_bits) - 1);
            if (!cp_range_ok(lo, hi, L)) break;
            good = (size_t)m;
        }
        if (L > 0 && good == (size_t)L) {
            sb_put(out, b + i, good);
            i += good;
        } else {
            sb_put(out, "\xEF\xBF\xBD", 3);
            i += good ? good : 1;
        }
    }
}

/* ---- big inputs on a small stack */
typedef struct {
    const mm_tokenizer *t;
    const char *s;
    size_t n;
    int64_t n_ids;
    bool ok;
    double ms;
} big_job;
static void *big_run(void *arg) {
    big_job *j = arg;
    char err[MM_ERR_SIZE];
    int32_t *ids;
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    if (mm_tokenizer_encode_alloc(j->t, j->s, j->n, false, &ids, &j->n_ids, err)) { j->ok = false; return NULL; }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    j->ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    char *out;
    size_t len;
    j->ok = !mm_tokenizer_decode_alloc(j->t, ids, j->n_ids, &out, &len, err) && len == j->n && !memcmp(out, j->s, len);
    free(out);
    free(ids);
    return NULL;
}
static big_job run_small_stack(const mm_tokenizer *t, const char *s, size_t n) {
    big_job j = {t, s, n, 0, false, 0};
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 * 1024);
    pthread_t th;
    if (pthread_create(&th, &a, big_run, &j)) { fprintf(stderr, "pthread_create failed\n"); exit(1); }
    pthread_join(th, NULL);
    pthread_attr_destroy(&a);
    return j;
}

static void fill_kind(char *b, size_t n, int kind) {
    static const char *real = "The quick brown fox doesn't jump; it's 2024 and we'll see. \xc3\x9c""ber 42 caf\xc3\xa9s!\n"
                              "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82   \t\n\n";
    size_t rl = strlen(real);
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case 0: b[i] = 'a'; break;
        case 1: b[i] = (char)('a' + rndn(26)); break;
        case 2: b[i] = ' '; break;
        case 3: b[i] = '\n'; break;
        case 4: b[i] = (char)('0' + rndn(10)); break;
        default: b[i] = real[i % rl]; break;
        }
    }
}

static void write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "cannot write %s\n", path); exit(1); }
    fputs(s, f);
    fclose(f);
}

int main(void) {
    const char *ref = tt_refdir();
    bool san = getenv("MMGPT_SANITIZE_RUN") != NULL;
#if defined(__SANITIZE_ADDRESS__)
    san = true; /* sanitizer builds: smaller inputs, fewer iterations */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    san = true;
#endif
#endif
    const char *seed = getenv("MMGPT_TEST_SEED");
    if (seed) g_rng = strtoull(seed, NULL, 0) | 1;
    printf("seed 0x%llx\n", (unsigned long long)g_rng);
    char err[MM_ERR_SIZE];
    mm_tokenizer *t;
    t = mm_tokenizer_load_dir(ref, err);
    if (!t) { fprintf(stderr, "load: %s\n", err); return 1; }
    printf("vocabulary: GPT-2 (%s)\n", ref);
    int32_t eot = mm_tokenizer_special_id(t, "<|endoftext|>");

    /* 1 + 2: random strings */
    sbuf s = {0};
    int n_iter = san ? 300 : 3000, n_diff = 0;
    for (int it = 0; it < n_iter; it++) {
        random_text(&s, it % 10 == 0 ? 200 : 20);
        for (int sp = 0; sp < 2; sp++)
            CHECK(tt_roundtrip(t, s.b, s.n, sp), "roundtrip failed (special=%d) on a %zu-byte string", sp, s.n);
        int64_t n;
        int32_t *ids = tt_encode(t, s.b, s.n, false, &n);
        ref_ctx rc = {t, {0}};
        CHECK(tok_pretokenize(t, (const uint8_t *)s.b, s.n, ref_piece, &rc) == 0, "ref failed");
        bool same = rc.ids.n == (size_t)n && (n == 0 || !memcmp(rc.ids.v, ids, (size_t)n * sizeof *ids));
        if (!same && n_diff++ < 3) CHECK(0, "fast BPE != reference BPE on a %zu-byte string", s.n);
        for (int64_t i = 0; i < n; i++) CHECK(ids[i] != eot, "special id without allow_special");
        free(rc.ids.v);
        free(ids);
    }
    CHECK(n_diff == 0, "%d strings differ from the reference BPE", n_diff);
    /* long words: heap path (65..4096 bytes) and bucket path (more) vs the original algorithm */
    for (int it = 0; it < (san ? 5 : 25); it++) {
        size_t n = it >= 20 ? 4097 + rndn(4000) : 65 + rndn(it < 5 ? 200 : 2500);
        const char *alpha = (const char *[]){"ab", "abc", "etaoin shrdlu", "0123456789", "abcdefghijklmnopqrstuvwxyz"}[it % 5];
        size_t al = strlen(alpha);
        char *w = malloc(n);
        for (size_t i = 0; i < n; i++) w[i] = alpha[rndn((uint32_t)al)];
        tok_ids a = {0}, b = {0};
        CHECK(tok_bpe_word(t, (const uint8_t *)w, n, &a) == 0 && tok_bpe_word_ref(t, (const uint8_t *)w, n, &b) == 0,
              "bpe failed");
        CHECK(a.n == b.n && !memcmp(a.v, b.v, a.n * sizeof *a.v), "heap BPE != reference on a %zu-byte word", n);
        free(a.v);
        free(b.v);
        free(w);
    }
    printf("random strings: %d x 2 round trips, fast == reference BPE\n", n_iter);

    /* 3: big inputs */
    size_t big = san ? (1u << 20) : (10u << 20), small = big / 10;
    char *buf = malloc(big);
    const char *kind_name[] = {"one 10 MB word 'aaa...'", "random letters, no spaces", "spaces only", "newlines only",
                               "digits only", "mixed real text"};
    for (int kind = 0; kind < 6; kind++) {
        fill_kind(buf, big, kind);
        /* times are the encoding thread's CPU time (the machine may be shared) */
        /* the fastest of 3 (1 MB) / 2 (10 MB) runs: a busy shared machine only ever adds time */
        big_job j1 = run_small_stack(t, buf, small), j10 = run_small_stack(t, buf, big);
        CHECK(j1.ok && j10.ok, "%s: round trip failed", kind_name[kind]);
        for (int r = 0; r < 2; r++) {
            big_job k = run_small_stack(t, buf, small);
            if (k.ok && k.ms < j1.ms) j1 = k;
        }
        big_job k10 = run_small_stack(t, buf, big);
        if (k10.ok && k10.ms < j10.ms) j10 = k10;
        double ratio = j10.ms / (j1.ms > 5 ? j1.ms : 5);
        printf("%-28s %5.1f MB: %8lld ids, %7.1f ms (%.1f MB/s CPU); x10 input -> x%.1f time\n", kind_name[kind],
               big / 1e6, (long long)j10.n_ids, j10.ms, big / 1e3 / (j10.ms > 0.01 ? j10.ms : 0.01), ratio);
        CHECK(ratio < 40, "%s: time grows x%.1f for x10 input (quadratic?)", kind_name[kind], ratio);
        CHECK(j10.ms < 60000, "%s: too slow (%.0f ms)", kind_name[kind], j10.ms);
    }
    free(buf);

    /* 4: streaming */
    mm_tokenizer_stream *st = mm_tokenizer_stream_create(t, err);
    CHECK(st, "stream_create: %s", err);
    int n_valid = 0;
    for (int it = 0; it < (san ? 200 : 2000); it++) {
        sbuf all = {0};
        sb_put(&all, "", 0);
        int64_t n;
        int32_t *ids;
        if (it % 2) {
            random_text(&s, 30);
            ids = tt_encode(t, s.b, s.n, it % 4 == 1, &n);
        } else { /* random ids: any byte soup */
            n = rndn(60);
            ids = malloc(((size_t)n + 1) * sizeof *ids);
            for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)rndn((uint32_t)mm_tokenizer_n_vocab(t));
        }
        char *full;
        size_t full_len;
        CHECK(!mm_tokenizer_decode_alloc(t, ids, n, &full, &full_len, err), "decode: %s", err);
        bool text_valid = valid_utf8((const uint8_t *)full, full_len) && !memchr(full, 0, full_len);
        n_valid += text_valid;
        sbuf want = {0};
        sb_put(&want, "", 0);
        ref_sanitize((const uint8_t *)full, full_len, &want);
        for (int64_t i = 0; i < n; i++) {
            const char *o;
            size_t ol;
            CHECK(!mm_tokenizer_stream_push(st, ids[i], &o, &ol, err), "push: %s", err);
            CHECK(valid_utf8((const uint8_t *)o, ol), "stream emitted ill-formed UTF-8");
            CHECK(mm_tokenizer_stream_pending(st) <= 3, "more than 3 bytes held");
            sb_put(&all, o, ol);
        }
        const char *o;
        size_t ol;
        mm_tokenizer_stream_flush(st, &o, &ol);
        if (text_valid) CHECK(ol == 0, "valid text left %zu bytes held at the end", ol);
        CHECK(valid_utf8((const uint8_t *)o, ol), "flush emitted ill-formed UTF-8");
        sb_put(&all, o, ol);
        /* valid text: byte for byte the decoded text; else the reference replacement */
        if (text_valid) CHECK(all.n == full_len && !memcmp(all.b, full, full_len), "stream output != decode(all)");
        CHECK(all.n == want.n && !memcmp(all.b, want.b, want.n), "stream output != U+FFFD reference (%zu vs %zu bytes)",
              all.n, want.n);
        CHECK(mm_tokenizer_stream_pending(st) == 0, "flush did not reset");
        free(want.b);
        free(all.b);
        free(full);
        free(ids);
    }
    /* Unicode 15 section 3.9, Table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64, one byte token at a time,
     * is "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d"; then a lone lead byte at the end: one FFFD */
    {
        const uint8_t in[] = {0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64, 0xF0, 0x9F};
        const char *want = "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD" "d\xEF\xBF\xBD";
        sbuf all = {0};
        const char *o;
        size_t ol;
        for (size_t i = 0; i < sizeof in; i++) {
            int32_t id = mm_tokenizer_token_id(t, (const char *)in + i, 1);
            CHECK(id >= 0 && !mm_tokenizer_stream_push(st, id, &o, &ol, err), "push byte %zu", i);
            sb_put(&all, o, ol);
        }
        mm_tokenizer_stream_flush(st, &o, &ol);
        sb_put(&all, o, ol);
        CHECK(all.n == strlen(want) && !memcmp(all.b, want, all.n), "Table 3-8 example: got %zu bytes", all.n);
        free(all.b);
    }
    /* a 4-byte emoji split over byte tokens is held until complete */
    {
        const char *emoji = "\xf0\x9f\x98\x80";
        const char *o;
        size_t ol, total = 0;
        for (int i = 0; i < 4; i++) {
            int32_t id = mm_tokenizer_token_id(t, emoji + i, 1);
            CHECK(!mm_tokenizer_stream_push(st, id, &o, &ol, err), "push");
            CHECK(ol == (i == 3 ? 4u : 0u), "byte %d of an emoji: emitted %zu bytes", i, ol);
            total += ol;
        }
        CHECK(total == 4 && !memcmp(o, emoji, 4), "emoji not emitted whole");
        CHECK(mm_tokenizer_stream_push(st, -1, &o, &ol, err) == -1, "bad id accepted by the stream");
    }
    mm_tokenizer_stream_free(st);
    printf("streaming: ok (%d valid-UTF-8 texts byte for byte, every text against the U+FFFD reference)\n", n_valid);

    /* 5: specials, media marker, buffer semantics, errors */
    {
        const char *txt = "a<|endoftext|>b<|endoftext|><|endoftext|> <__media__>c";
        int64_t n, k = 0;
        int32_t *ids = tt_encode(t, txt, strlen(txt), true, &n);
        for (int64_t i = 0; i < n; i++) k += ids[i] == eot;
        CHECK(k == 3, "allow_special: %lld specials found, want 3", (long long)k);
        free(ids);
        const char *media = "<__media__>";
        for (int sp = 0; sp < 2; sp++) {
            ids = tt_encode(t, media, strlen(media), sp, &n);
            for (int64_t i = 0; i < n; i++) CHECK(!mm_tokenizer_is_special(t, ids[i]), "<__media__> gave a special id");
            CHECK(n > 1, "<__media__> is not a GPT-2 token, expected several ids");
            CHECK(tt_roundtrip(t, media, strlen(media), sp), "<__media__> round trip");
            free(ids);
        }
        /* truncated buffer: same count, same prefix */
        ids = tt_encode(t, txt, strlen(txt), false, &n);
        int32_t part[4] = {-7, -7, -7, -7};
        int64_t n2 = mm_tokenizer_encode(t, txt, strlen(txt), false, part, 3, err);
        CHECK(n2 == n && !memcmp(part, ids, 3 * sizeof *ids) && part[3] == -7, "truncated encode semantics");
        CHECK(mm_tokenizer_encode(t, txt, strlen(txt), false, NULL, 0, err) == n, "size query");
        char small_out[4];
        int64_t need = mm_tokenizer_decode(t, ids, n, small_out, sizeof small_out, err);
        CHECK(need == (int64_t)strlen(txt) && !memcmp(small_out, txt, 4), "truncated decode semantics");
        free(ids);
        int32_t bad[2] = {0, mm_tokenizer_n_vocab(t)};
        CHECK(mm_tokenizer_decode(t, bad, 2, NULL, 0, err) == -1 && strstr(err, "out of range"), "bad id decode");
        CHECK(mm_tokenizer_piece(t, -1, NULL) == NULL && mm_tokenizer_token_text(t, 1 << 30) == NULL, "bad id piece");
        CHECK(mm_tokenizer_encode(t, "", 0, true, NULL, 0, err) == 0, "empty text");
    }
    {
        char dir[4096], p[4200];
        snprintf(dir, sizeof dir, "%s/tok_props_bad", tt_tmpdir());
        mkdir(dir, 0755);
        snprintf(p, sizeof p, "%s/vocab.json", dir);
        unlink(p);
        CHECK(!mm_tokenizer_load_dir(dir, err) && strstr(err, "no tokenizer files"), "empty dir: %s", err);
        write_file(p, "{\"a\": 0, \"b\": ");
        snprintf(p, sizeof p, "%s/merges.txt", dir);
        write_file(p, "#version: 0.2\na b\n");
        CHECK(!mm_tokenizer_load_dir(dir, err) && strstr(err, "JSON"), "bad json: %s", err);
        snprintf(p, sizeof p, "%s/vocab.json", dir);
        write_file(p, "{\"a\": 0, \"b\": 5}");
        CHECK(!mm_tokenizer_load_dir(dir, err) && strstr(err, "invalid id"), "id out of range: %s", err);
        write_file(p, "{\"a\": 0, \"b\": 1, \"ab\": 2}");
        CHECK(!mm_tokenizer_load_dir(dir, err) && strstr(err, "byte"), "no byte tokens: %s", err);
        snprintf(p, sizeof p, "%s/merges.txt", dir);
        write_file(p, "#version: 0.2\na c\n");
        CHECK(!mm_tokenizer_load_dir(dir, err) && strstr(err, "not in the vocabulary"), "unknown merge: %s", err);
        write_file(p, "#version: 0.2\nab\n");
        CHECK(!mm_tokenizer_load_dir(dir, err) && strstr(err, "line 2"), "bad merge line: %s", err);
        /* GGUF without / with a foreign tokenizer */
        snprintf(p, sizeof p, "%s/bad.gguf", dir);
        mm_gguf_writer *w = mm_gguf_writer_create();
        mm_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
        CHECK(!mm_gguf_writer_write(w, p, err), "gguf write: %s", err);
        mm_gguf_writer_free(w);
        CHECK(!mm_tokenizer_load_dir(p, err) && strstr(err, "tokenizer.ggml.tokens"), "llama gguf: %s", err);
        const char *toks[2] = {"a", "b"};
        int32_t ty[1] = {1};
        for (int k = 0; k < 2; k++) {
            w = mm_gguf_writer_create();
            mm_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
            if (k == 0) mm_gguf_writer_set_str(w, "tokenizer.ggml.pre", "no-such-pre");
            mm_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 2);
            if (k == 1) mm_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", MM_GGUF_INT32, ty, 1);
            CHECK(!mm_gguf_writer_write(w, p, err), "gguf write: %s", err);
            mm_gguf_writer_free(w);
            mm_gguf *g = mm_gguf_open(p, err);
            CHECK(g, "gguf open: %s", err);
            if (g) {
                CHECK(!mm_tokenizer_load_gguf(g, err) && strstr(err, k == 0 ? "no-such-pre" : "token_type"), "bad gguf %d: %s", k, err);
                mm_gguf_close(g);
            }
        }
    }
    free(s.b);
    mm_tokenizer_free(t);
    if (n_fail) {
        fprintf(stderr, "%d check(s) failed\n", n_fail);
        return 1;
    }
    printf("ok\n");
    return 0;
}
