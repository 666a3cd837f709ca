/* fuzz_tokenizer_llama.c - libFuzzer target: the llama.cpp tokenizers over arbitrary bytes - byte-level
 * BPE with each pre-tokenizer (gpt-2, llama-bpe, qwen2, smollm, default) and SentencePiece with and
 * without add_space_prefix, on the small vocabularies of tests/tokenizer/tok_synth_llama.h; and the
 * SentencePiece builder over hostile vocabularies.
 *
 * First input byte b: mode b % 5, tokenizer (b / 5) % 7 (0-4 the pre-tokenizers, 5-6 SentencePiece):
 *   0..2  encode (plain / special / plain) -> byte-level BPE: decode gives the input back, the pre-tokens
 *         are non-empty, contiguous and cover the text, fast BPE == GPT-2's loop on every one (short
 *         inputs); SentencePiece (plain, no U+2581 in the input): decode gives " " + input (prefix) or
 *         the input, and the heap == the naive loop (short inputs); both: streaming decode never splits
 *         a character and, for valid UTF-8 text without NUL, its chunks + flush == decode
 *   3     the bytes as int32 ids -> decode / stream: out-of-range ids are errors, never crashes
 *   4     the bytes as a SentencePiece vocabulary (lines: type byte + text; scores from the bytes):
 *         the builder fails cleanly or gives a tokenizer whose encode / decode / stream work, with
 *         fast == naive */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/tokenizer/tok_synth_llama.h"
#include "../tokenizer/tok_internal.h"
#include "mm_tokenizer.h"

#define N_TOK 7
static mm_tokenizer *g_toks[N_TOK];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    for (int p = 0; p < TOK_PRE_COUNT; p++) g_toks[p] = tsl_bpe(p);
    g_toks[5] = tsl_spm(true);
    g_toks[6] = tsl_spm(false);
    return 0;
}

static bool valid_utf8(const uint8_t *p, size_t n) {
    for (size_t i = 0, k; i < n; i += k)
        if (tok_utf8_decode(p + i, p + n, &k) < 0) return false;
    return true;
}

typedef struct {
    const mm_tokenizer *t;
    tok_ids a, b;
    const uint8_t *next;
} ref_ctx;
static int both(void *c, const uint8_t *p, size_t n) {
    ref_ctx *r = c;
    if (n == 0 || p != r->next) abort(); /* pre-tokens: non-empty, contiguous */
    r->next = p + n;
    r->a.n = r->b.n = 0;
    if (tok_bpe_word(r->t, p, n, &r->a) || tok_bpe_word_ref(r->t, p, n, &r->b)) abort();
    if (r->a.n != r->b.n || memcmp(r->a.v, r->b.v, r->a.n * sizeof *r->a.v)) abort();
    return 0;
}

static void same_ids(const tok_ids *a, const tok_ids *b) {
    if (a->n != b->n || (a->n && memcmp(a->v, b->v, a->n * sizeof *a->v))) abort();
}

static void check_stream(const mm_tokenizer *t, const int32_t *ids, int64_t n) {
    char err[MM_ERR_SIZE], *full;
    size_t full_len, pos = 0;
    if (mm_tokenizer_decode_alloc(t, ids, n, &full, &full_len, err)) abort();
    bool valid = valid_utf8((const uint8_t *)full, full_len) && !memchr(full, 0, full_len);
    mm_tokenizer_stream *s = mm_tokenizer_stream_create(t, err);
    if (!s) abort();
    for (int64_t i = 0; i < n; i++) {
        const char *o;
        size_t ol;
        if (mm_tokenizer_stream_push(s, ids[i], &o, &ol, err)) abort();
        if (valid && (!valid_utf8((const uint8_t *)o, ol) || pos + ol > full_len || memcmp(full + pos, o, ol))) abort();
        pos += ol;
    }
    const char *o;
    size_t ol;
    mm_tokenizer_stream_flush(s, &o, &ol);
    if (valid && (pos + ol != full_len || memcmp(full + pos, o, ol))) abort();
    mm_tokenizer_stream_free(s);
    free(full);
}

/* encode / decode / stream on t; SentencePiece: fast == naive on short plain text */
static void exercise(const mm_tokenizer *t, const uint8_t *data, size_t size, bool special) {
    char err[MM_ERR_SIZE];
    int32_t *ids;
    int64_t n;
    if (mm_tokenizer_encode_alloc(t, (const char *)data, size, special, &ids, &n, err)) abort();
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= mm_tokenizer_n_vocab(t)) abort();
    check_stream(t, ids, n);
    free(ids);
    if (t->kind == TOK_KIND_SPM && size <= 512) {
        tok_ids a = {0}, b = {0};
        if (tok_spm_encode(t, data, size, &a) || tok_spm_encode_ref(t, data, size, &b)) abort();
        same_ids(&a, &b);
        free(a.v);
        free(b.v);
    }
}

/* mode 4: lines "T text" (T: type byte, % 7) -> a SentencePiece vocabulary; scores from the bytes */
static void hostile_vocab(const uint8_t *data, size_t size) {
    enum { MAXN = 512 };
    const char *text[MAXN];
    size_t len[MAXN];
    int32_t type[MAXN];
    float score[MAXN];
    int32_t n = 0;
    for (size_t i = 0; i < size && n < MAXN;) {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t e = nl ? (size_t)(nl - data) : size;
        type[n] = (int32_t)(data[i] % 7);
        text[n] = (const char *)data + i + 1;
        len[n] = e > i ? e - i - 1 : 0;
        score[n] = (float)(int8_t)(data[i] ^ (uint8_t)e);
        n++;
        i = e + 1;
    }
    if (n == 0) return;
    tok_spm_build b = {.n = n, .text = text, .text_len = len, .score = score, .type = type, .bos = n > 1 ? 1 : -1,
                       .eos = -1, .unk = 0, .add_bos = true, .add_space_prefix = size & 1};
    char err[MM_ERR_SIZE];
    mm_tokenizer *t = tok_spm_build_tokenizer(&b, "fuzz", err);
    if (!t) return;
    static const char probe[] = "Hello world <|im_end|> \xe6\x97\xa5\xff\xc3 12345 \xe2\x96\x81<unk>\r\n";
    exercise(t, (const uint8_t *)probe, sizeof probe - 1, false);
    exercise(t, (const uint8_t *)probe, sizeof probe - 1, true);
    exercise(t, data, size > 512 ? 512 : size, false);
    mm_tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const mm_tokenizer *t = g_toks[(data[0] / 5) % N_TOK];
    int mode = data[0] % 5;
    data++;
    size--;
    char err[MM_ERR_SIZE];
    if (mode <= 2) {
        bool spm = t->kind == TOK_KIND_SPM, special = mode == 1;
        exercise(t, data, size, special);
        int32_t *ids;
        int64_t n;
        char *out;
        size_t len;
        if (mm_tokenizer_encode_alloc(t, (const char *)data, size, special, &ids, &n, err)) abort();
        if (mm_tokenizer_decode_alloc(t, ids, n, &out, &len, err)) abort();
        if (!spm && (len != size || memcmp(out, data, size))) abort();
        bool mark = false; /* U+2581 in the input reads back as a space */
        for (size_t i = 0; i + 3 <= size && !mark; i++) mark = !memcmp(data + i, "\xe2\x96\x81", 3);
        if (spm && !special && !mark) {
            size_t pre = size && t->add_space_prefix;
            if (len != size + pre || memcmp(out + pre, data, size) || (pre && out[0] != ' ')) abort();
        }
        free(out);
        free(ids);
        if (!spm && size <= 512) {
            ref_ctx rc = {t, {0}, {0}, data};
            tok_pretokenize(t, data, size, both, &rc);
            if (rc.next != data + size) abort(); /* the pre-tokens cover the text */
            free(rc.a.v);
            free(rc.b.v);
        }
    } else if (mode == 3) {
        int64_t n = (int64_t)(size / 4);
        int32_t *ids = malloc((size_t)(n + 1) * sizeof *ids);
        memcpy(ids, data, (size_t)n * 4);
        bool valid = true;
        for (int64_t i = 0; i < n; i++) valid = valid && ids[i] >= 0 && ids[i] < mm_tokenizer_n_vocab(t);
        char *out;
        size_t len;
        int rc = mm_tokenizer_decode_alloc(t, ids, n, &out, &len, err);
        if ((rc == 0) != valid) abort();
        if (rc == 0) {
            free(out);
            check_stream(t, ids, n);
        }
        free(ids);
    } else {
        hostile_vocab(data, size);
    }
    return 0;
}
