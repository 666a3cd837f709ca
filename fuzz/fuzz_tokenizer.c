/* fuzz_tokenizer.c - libFuzzer target: GPT-2 BPE encode / decode / streaming decode over arbitrary bytes,
 * and the GGUF tokenizer loader over arbitrary files.
 *
 * Vocabulary: the real GPT-2 one when $MMGPT_REFDATA (or ../shared/refdata) holds gpt2_bpe/, else a small
 * synthetic byte-level vocabulary (256 byte tokens + merges spelling common English pieces + two special
 * tokens), so the target runs anywhere. First input byte selects the mode:
 *   0..2  encode (plain / special) -> decode must give the input back; fast BPE == reference BPE on every
 *         pre-token (short inputs); streaming decode of the ids == decode, chunk by chunk
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

static mm_tokenizer *g_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    char err[MM_ERR_SIZE], path[4096];
    const char *r = getenv("MMGPT_REFDATA");
    snprintf(path, sizeof path, "%s/gpt2_bpe", r && *r ? r : "../shared/refdata");
    g_tok = mm_tokenizer_load_dir(path, err);
    if (!g_tok) g_tok = tok_synthetic();
    return 0;
}

typedef struct {
    const mm_tokenizer *t;
    tok_ids a, b;
} ref_ctx;
static int both(void *c, const uint8_t *p, size_t n) {
    ref_ctx *r = c;
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
    const mm_tokenizer *t = g_tok;
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
        if (len != size || memcmp(out, data, size)) abort();
        check_stream(t, ids, n, out, len);
        free(out);
        free(ids);
        if (size <= 512) {
            ref_ctx rc = {t, {0}, {0}};
            tok_pretokenize(t, data, size, both, &rc);
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
            static const char probe[] = "Hello world<|endoftext|>  \xff\xc3";
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
