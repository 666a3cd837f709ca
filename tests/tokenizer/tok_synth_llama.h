/* tok_synth_llama.h - small vocabularies for the tests and the fuzz target of the llama.cpp tokenizers,
 * built through the tokenizer's internal builders (no files, no downloads):
 *   tsl_bpe(pre)    byte-level BPE with the pre-tokenizer TOK_PRE_* (llama-bpe: ignore-merges too): the 256
 *                   byte tokens (GPT-2's byte-to-unicode alphabet), merges that spell a list of pieces left
 *                   to right - chosen so that the pre-tokenizers' differences change the ids (contractions
 *                   in both cases before letters, digit runs, a tab or '!' before a word, \r\n, spaces) -
 *                   and the ignore-merges trap: ~^` is a token but BPE of ~^` gives ~^ + `; control tokens
 *                   <|endoftext|> <|im_start|> <|im_end|>, a user-defined <tool_call>;
 *   tsl_spm(prefix) SentencePiece (below).
 */
#ifndef TOK_SYNTH_LLAMA_H
#define TOK_SYNTH_LLAMA_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tokenizer/tok_internal.h"

/* bytes -> GPT-2's byte-to-unicode text (out: 2 bytes per input byte at most + NUL) */
static inline void tsl_b2u(const char *s, size_t n, char *out) {
    uint32_t b2u[256];
    int16_t u2b[512];
    tok_byte_map(b2u, u2b);
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t cp = b2u[(uint8_t)s[k]];
        if (cp < 0x80) out[o++] = (char)cp;
        else { out[o++] = (char)(0xC0 | (cp >> 6)); out[o++] = (char)(0x80 | (cp & 0x3F)); }
    }
    out[o] = 0;
}

static inline mm_tokenizer *tsl_bpe(int pre) {
    static const char *const spell[] = {
        "the", " the", "hello", " hello", " world", "IT", "'S", "'s", "'LL", "'ll", "ok", "do", "\tword",
        "!bang", " !", "12", "123", " 1", " 12", "  ", "   ", "\n\n", "\r\n", " \n", "caf\xc3\xa9",
        "\xe6\x97\xa5\xe6\x9c\xac", " x", "xy", "...", " ...", "$5", "a+b", "\xf0\x9f\x98\x80",
    };
    static const char *const trap[][2] = {{"~", "^"}, {"^", "`"}, {"~", "^`"}};
    enum { CAP = 1024 };
    char **text = calloc(CAP, sizeof *text), **ma = calloc(CAP, sizeof *ma), **mb = calloc(CAP, sizeof *mb);
    size_t *la = calloc(CAP, sizeof *la), *lb = calloc(CAP, sizeof *lb);
    int32_t *type = calloc(CAP, sizeof *type);
    int n = 0, nm = 0;
    char all[64], left[64], right[8];
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        tsl_b2u(&c, 1, all);
        text[n++] = strdup(all);
    }
    for (size_t w = 0; w < sizeof spell / sizeof spell[0] + 3; w++) {
        bool is_trap = w >= sizeof spell / sizeof spell[0];
        const char *s = is_trap ? NULL : spell[w];
        size_t len = s ? strlen(s) : 2;
        for (size_t k = 2; k <= len; k++) {
            if (is_trap) { /* one given merge */
                const char *const *m = trap[w - sizeof spell / sizeof spell[0]];
                snprintf(left, sizeof left, "%s", m[0]);
                snprintf(right, sizeof right, "%s", m[1]);
                snprintf(all, sizeof all, "%s%s", m[0], m[1]);
            } else { /* prefix(k-1) + byte k-1 */
                tsl_b2u(s, k - 1, left);
                tsl_b2u(s + k - 1, 1, right);
                tsl_b2u(s, k, all);
            }
            bool have = false;
            for (int i = 256; i < n && !have; i++) have = !strcmp(text[i], all);
            if (have) continue;
            text[n++] = strdup(all);
            ma[nm] = strdup(left);
            mb[nm] = strdup(right);
            la[nm] = strlen(left);
            lb[nm++] = strlen(right);
        }
    }
    for (int i = 0; i < n; i++) type[i] = TOK_NORMAL;
    static const char *const special[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>"};
    for (int i = 0; i < 4; i++) {
        type[n] = i < 3 ? TOK_CONTROL : TOK_USER;
        text[n++] = strdup(special[i]);
    }
    tok_build bd = {.n = n, .text = (const char **)text, .type = type, .n_merges = nm, .merge_a = (const char **)ma,
                    .merge_a_len = la, .merge_b = (const char **)mb, .merge_b_len = lb, .bos = -2, .eos = -2};
    char err[MM_ERR_SIZE];
    mm_tokenizer *t = tok_build_tokenizer(&bd, "synthetic bpe", err);
    if (!t) {
        fprintf(stderr, "synthetic bpe vocabulary: %s\n", err);
        abort();
    }
    t->pre = (uint8_t)pre;
    t->ignore_merges = pre == TOK_PRE_LLAMA3;
    for (int i = 0; i < n; i++) free(text[i]);
    for (int i = 0; i < nm; i++) { free(ma[i]); free(mb[i]); }
    free(text); free(ma); free(mb); free(la); free(lb); free(type);
    return t;
}

/* A small SentencePiece ("llama") vocabulary: <unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF>, pieces
 * with scores (-rank; "\xe2\x96\x81" = U+2581 for spaces), two equal-score pieces (x y / y z), an UNUSED
 * piece, control tokens <|im_start|> <|im_end|> <end_of_utterance> <|endoftext|> and a user-defined
 * <start_of_turn>. Characters outside it (CJK other than the two below, emoji, ...) fall back to bytes. */
static inline mm_tokenizer *tsl_spm(bool add_space_prefix) {
    static const char *pieces[] = {
        "\xe2\x96\x81", "\xe2\x96\x81t", "\xe2\x96\x81th", "\xe2\x96\x81the", "he", "ll", "llo", "\xe2\x96\x81h",
        "\xe2\x96\x81he", "\xe2\x96\x81hello", "\xe2\x96\x81w", "or", "ld", "\xe2\x96\x81wor", "\xe2\x96\x81world",
        "\xe2\x96\x81\xe2\x96\x81", "\xe2\x96\x81\xe2\x96\x81\xe2\x96\x81\xe2\x96\x81", "\xc3\xa9", "ca", "caf",
        "caf\xc3\xa9", "\xe2\x96\x81" "caf\xc3\xa9", "\xe6\x97\xa5", "\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac", "00",
        "000", "\xe2\x96\x81" "1", "'s", "\xe2\x96\x81'", "xy", "yz", "\n", "\n\n",
    };
    const int np = (int)(sizeof pieces / sizeof pieces[0]);
    const int n = 3 + 256 + 26 + 10 + np + 6;
    const char **text = calloc((size_t)n, sizeof *text);
    char **own = calloc((size_t)n, sizeof *own);
    float *score = calloc((size_t)n, sizeof *score);
    int32_t *type = calloc((size_t)n, sizeof *type);
    int k = 0;
    text[k] = "<unk>"; type[k++] = TOK_UNKNOWN;
    text[k] = "<s>"; type[k++] = TOK_CONTROL;
    text[k] = "</s>"; type[k++] = TOK_CONTROL;
    for (int b = 0; b < 256; b++) {
        own[k] = malloc(8);
        snprintf(own[k], 8, "<0x%02X>", b);
        text[k] = own[k];
        type[k++] = TOK_BYTE;
    }
    for (int c = 0; c < 36; c++) { /* single characters a-z 0-9 */
        own[k] = malloc(2);
        own[k][0] = (char)(c < 26 ? 'a' + c : '0' + c - 26);
        own[k][1] = 0;
        text[k] = own[k];
        score[k] = -1000.0f - (float)c;
        type[k++] = TOK_NORMAL;
    }
    for (int i = 0; i < np; i++) {
        text[k] = pieces[i];
        score[k] = !strcmp(pieces[i], "xy") || !strcmp(pieces[i], "yz") ? -50.0f : -(float)i;
        type[k++] = TOK_NORMAL;
    }
    text[k] = "\xe2\x96\x81x"; score[k] = 10.0f; type[k++] = TOK_UNUSED;
    text[k] = "<|im_start|>"; type[k++] = TOK_CONTROL;
    text[k] = "<|im_end|>"; type[k++] = TOK_CONTROL;
    text[k] = "<end_of_utterance>"; type[k++] = TOK_CONTROL;
    text[k] = "<|endoftext|>"; type[k++] = TOK_CONTROL;
    text[k] = "<start_of_turn>"; type[k++] = TOK_USER;
    tok_spm_build b = {.n = k, .text = text, .score = score, .type = type, .bos = 1, .eos = 2, .unk = 0,
                       .add_bos = true, .add_space_prefix = add_space_prefix};
    char err[MM_ERR_SIZE];
    mm_tokenizer *t = tok_spm_build_tokenizer(&b, "synthetic spm", err);
    if (!t) {
        fprintf(stderr, "synthetic spm vocabulary: %s\n", err);
        abort();
    }
    for (int i = 0; i < n; i++) free(own[i]);
    free(own);
    free(text);
    free(score);
    free(type);
    return t;
}

#endif
