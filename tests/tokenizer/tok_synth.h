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

#endif
