/* text_model.h - what `generate` and `logits` open for a plain-text prompt (apps/ only): the GGUF, the
 * decoder, its tokenizer, and the tokenized prompt (BOS first when the file asks for it). */
#ifndef MM_TEXT_MODEL_H
#define MM_TEXT_MODEL_H

#include <stdint.h>

#include "mm_gguf.h"
#include "mm_tokenizer.h"
#include "mm_transformer.h"

typedef struct {
    mm_gguf      *g;
    mm_gpt_model *model;
    mm_tokenizer *tok;
    int32_t      *ids;    /* [n_ids] prompt tokens (BOS first when the file asks for it) */
    int64_t       n_ids;
} mm_gen_ctx;

/* Open model `path` and tokenize `prompt` as plain text. Returns MM_EXIT_OK, or prints the one-line
 * error (naming `cmd`) and returns its exit code; call gen_close in either case. */
int  gen_open(mm_gen_ctx *c, const char *path, const char *prompt, const char *cmd);
void gen_close(mm_gen_ctx *c);

#endif
