/* tok_synth.h - a small synthetic byte-level BPE vocabulary for tests and the fuzz target, so that they
 * run without the real GPT-2 files: 256 byte tokens (GPT-2's byte-to-unicode alphabet), merges that
 * spell common English pieces left to right (a consistent, BPE-trained-like rank order), and two special
 * tokens <|endoftext|> and <|im_start|>. Built through the tokenizer's internal builder. */
#ifndef TOK_SYNTH_H
#define TOK_SYNTH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tokenizer/tok_internal.h"

static inline mm_tokenizer *tok_synthetic(void) {
    static const char *words[] = {"the", " the", "and", " and", "ing", "tion", " a", " of", " to", "in", "er",
                                  "aaaa", "  ", "\n\n", "'s", " is", "hello", " world", "00", "000", "\xc3\xa9",
                                  " caf\xc3\xa9", "<|", "|>", "endoftext"};
    uint32_t b2u[256];
    int16_t u2b[512];
    tok_byte_map(b2u, u2b);
    /* token strings in the byte-to-unicode alphabet */
    char **text = calloc(4096, sizeof *text);
    char **ma = calloc(4096, sizeof *ma), **mb = calloc(4096, sizeof *mb);
    size_t *la = calloc(4096, sizeof *la), *lb = calloc(4096, sizeof *lb);
    int n = 0, nm = 0;
    char buf[256];
#define ENC(dst, bytes, nbytes)                                                        \
    do {                                                                               \
        size_t o_ = 0;                                                                 \
        for (size_t k_ = 0; k_ < (nbytes); k_++) {                                     \
            uint32_t cp_ = b2u[(uint8_t)(bytes)[k_]];                                  \
            if (cp_ < 0x80) dst[o_++] = (char)cp_;                                     \
            else { dst[o_++] = (char)(0xC0 | (cp_ >> 6)); dst[o_++] = (char)(0x80 | (cp_ & 0x3F)); } \
        }                                                                              \
        dst[o_] = 0;                                                                   \
    } while (0)
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        ENC(buf, &c, 1);
        text[n++] = strdup(buf);
    }
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        const char *s = words[w];
        size_t len = strlen(s);
        for (size_t k = 2; k <= len; k++) { /* merge prefix(k-1) + byte k-1 */
            char left[256], right[16], all[256];
            ENC(left, s, k - 1);
            ENC(right, s + k - 1, 1);
            ENC(all, s, k);
            bool have = false;
            for (int i = 0; i < n && !have; i++) have = !strcmp(text[i], all);
            if (have) continue;
            text[n++] = strdup(all);
            ma[nm] = strdup(left);
            la[nm] = strlen(left);
            mb[nm] = strdup(right);
            lb[nm] = strlen(right);
            nm++;
        }
    }
    text[n++] = strdup("<|endoftext|>");
    text[n++] = strdup("<|im_start|>");
    tok_build bd = {.n = n, .text = (const char **)text, .n_merges = nm, .merge_a = (const char **)ma,
                    .merge_a_len = la, .merge_b = (const char **)mb, .merge_b_len = lb, .bos = -2, .eos = -2};
    char err[MM_ERR_SIZE];
    mm_tokenizer *t = tok_build_tokenizer(&bd, "synthetic", err);
    if (!t) {
        fprintf(stderr, "synthetic vocabulary: %s\n", err);
        abort();
    }
    for (int i = 0; i < n; i++) free(text[i]);
    for (int i = 0; i < nm; i++) { free(ma[i]); free(mb[i]); }
    free(text); free(ma); free(mb); free(la); free(lb);
    return t;
}

/* A small SentencePiece ("llama") vocabulary: <unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF>, pieces
 * with scores (-rank; "\xe2\x96\x81" = U+2581 for spaces), two equal-score pieces (x y / y z), an UNUSED
 * piece, control tokens <|im_start|> <|im_end|> <end_of_utterance> <|endoftext|> and a user-defined
 * <start_of_turn>. Characters outside it (CJK other than the two below, emoji, ...) fall back to bytes. */
static inline mm_tokenizer *tok_synthetic_spm(bool add_space_prefix) {
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

/* The synthetic byte-level vocabulary with another pre-tokenizer (TOK_PRE_*), llama-bpe's ignore-merges. */
static inline mm_tokenizer *tok_synthetic_pre(int pre) {
    mm_tokenizer *t = tok_synthetic();
    t->pre = (uint8_t)pre;
    t->ignore_merges = pre == TOK_PRE_LLAMA3;
    return t;
}

#endif
