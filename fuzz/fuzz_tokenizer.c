/* fuzz_tokenizer.c - libFuzzer target: encode / decode / streaming decode over arbitrary bytes for every
 * tokenizer kind (GPT-2 byte-level BPE with each pre-tokenizer, SentencePiece), and the GGUF tokenizer
 * loader over arbitrary files.
 *
 * Vocabularies: the real GPT-2 one when $MMGPT_REFDATA (or ../shared/refdata) holds gpt2_bpe/, else a small
 * synthetic byte-level vocabulary (256 byte tokens + merges spelling common English pieces + two special
 * tokens), so the target runs anywhere; the same with the llama-bpe / qwen2 / smollm / default
 * pre-tokenizers; the synthetic SentencePiece vocabulary of tok_synth.h with and without add_space_prefix.
 * First input byte b selects the mode b % 5 and the tokenizer (b / 5) % 7 (0 GPT-2, 1-4 the other
 * pre-tokenizers, 5-6 SentencePiece):
 *   0..2  encode (plain / special) -> decode must give the input back (SentencePiece: " " + input when
 *         add_space_prefix, for plain text without U+2581); BPE: the pre-tokens are non-empty, contiguous
 *         and cover the text, and fast BPE == reference BPE on every one (short inputs); SentencePiece: the
 *         heap == the naive loop (short inputs); streaming decode of the ids == decode, chunk by chunk
 *   3     the bytes as int32 ids -> decode / stream: out-of-range ids are errors, never crashes
 *   4     the bytes as a GGUF file -> mm_tokenizer_load_gguf must fail cleanly or give a usable tokenizer */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/tokenizer/tok_synth.h"
#include "../tokenizer/tok_internal.h"
#include "mm_gguf.h"
#include "mm_tokenizer.h"

#define N_TOK 7
static mm_tokenizer *g_toks[N_TOK];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    char err[MM_ERR_SIZE], path[4096];
    const char *r = getenv("MMGPT_REFDATA");
    snprintf(path, sizeof path, "%s/gpt2_bpe", r && *r ? r : "../shared/refdata");
    for (int v = 0; v < TOK_PRE_COUNT; v++) {
        mm_tokenizer *t = mm_tokenizer_load_dir(path, err);
        if (!t) t = tok_synthetic();
        t->pre = (uint8_t)v;
        t->ignore_merges = v == TOK_PRE_LLAMA3;
        g_toks[v] = t;
    }
    g_toks[5] = tok_synthetic_spm(true);
    g_toks[6] = tok_synthetic_spm(false);
    return 0;
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

static void check_stream(const mm_tokenizer *t, const int32_t *ids, int64_t n, const char *full, size_t full_len) {
    char err[MM_ERR_SIZE];
    mm_tokenizer_stream *s = mm_tokenizer_stream_create(t, err);
    if (!s) abort();
    size_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *o;
        size_t ol;
        if (mm_tokenizer_stream_push(s, ids[i], &o, &ol, err)) abort();
        if (pos + ol > full_len || memcmp(full + pos, o, ol)) abort();
        pos += ol;
    }
    const char *o;
    size_t ol;
    mm_tokenizer_stream_flush(s, &o, &ol);
    if (pos + ol != full_len || memcmp(full + pos, o, ol)) abort();
    mm_tokenizer_stream_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const mm_tokenizer *t = g_toks[(data[0] / 5) % N_TOK];
    bool spm = t->kind == TOK_KIND_SPM;
    int mode = data[0] % 5;
    data++;
    size--;
    char err[MM_ERR_SIZE];
    if (mode <= 2) {
        int32_t *ids;
        int64_t n;
        if (mm_tokenizer_encode_alloc(t, (const char *)data, size, mode == 1, &ids, &n, err)) abort();
        char *out;
        size_t len;
        if (mm_tokenizer_decode_alloc(t, ids, n, &out, &len, err)) abort();
        if (!spm && (len != size || memcmp(out, data, size))) abort();
        bool mark = false; /* U+2581 in the input reads back as a space */
        for (size_t i = 0; i + 3 <= size && !mark; i++) mark = !memcmp(data + i, "\xe2\x96\x81", 3);
        if (spm && mode != 1 && !mark) {
            size_t pre = size && t->add_space_prefix;
            if (len != size + pre || memcmp(out + pre, data, size) || (pre && out[0] != ' ')) abort();
        }
        check_stream(t, ids, n, out, len);
        free(out);
        free(ids);
        if (size <= 512) {
            ref_ctx rc = {t, {0}, {0}, data};
            if (spm) {
                if (tok_spm_encode(t, data, size, &rc.a) || tok_spm_encode_ref(t, data, size, &rc.b)) abort();
                if (rc.a.n != rc.b.n || (rc.a.n && memcmp(rc.a.v, rc.b.v, rc.a.n * sizeof *rc.a.v))) abort();
            } else {
                tok_pretokenize(t, data, size, both, &rc);
                if (rc.next != data + size) abort(); /* the pre-tokens cover the text */
            }
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
            check_stream(t, ids, n, out, len);
            free(out);
        }
        free(ids);
    } else {
        mm_gguf *g = mm_gguf_open_memory(data, size, "fuzz.gguf", err);
        if (!g) return 0;
        mm_tokenizer *t2 = mm_tokenizer_load_gguf(g, err);
        mm_gguf_close(g);
        if (t2) {
            static const char probe[] = "Hello world<|endoftext|>  \xff\xc3 12345 \xe2\x96\x81<unk>\r\n";
            int32_t *ids;
            int64_t n;
            if (mm_tokenizer_encode_alloc(t2, probe, sizeof probe - 1, true, &ids, &n, err)) abort();
            char *out;
            size_t len;
            if (mm_tokenizer_decode_alloc(t2, ids, n, &out, &len, err)) abort();
            free(out);
            free(ids);
            mm_tokenizer_free(t2);
        }
    }
    return 0;
}
