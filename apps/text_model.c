/* text_model.c - open a decoder + tokenizer and tokenize a plain-text prompt (shared by generate, logits). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mm_dist.h"
#include "text_model.h"

int gen_open(mm_gen_ctx *c, const char *path, const char *prompt, const char *cmd) {
    char err[MM_ERR_SIZE];
    memset(c, 0, sizeof *c);
    if (!(c->g = mm_gguf_open(path, err))) return mm_cli_fail(MM_EXIT_MODEL, "%s", err);
    if (!(c->model = mm_gpt_model_load(c->g, err))) return mm_cli_fail(MM_EXIT_MODEL, "%s", err);
    if (mm_cli_dist() && mm_dist_join(mm_cli_dist(), c->g, c->model, mm_cli_layer_split(), 0, err) != 0)
        return mm_cli_fail(MM_EXIT_MODEL, "%s", err); /* mpirun: every rank loaded, the layers are split */
    if (!(c->tok = mm_tokenizer_load_gguf(c->g, err))) return mm_cli_fail(MM_EXIT_MODEL, "%s", err);
    if (mm_tokenizer_n_vocab(c->tok) > mm_gpt_model_n_vocab(c->model))
        return mm_cli_fail(MM_EXIT_MODEL, "%s: the tokenizer has %d tokens but token_embd only %lld rows", path,
                           mm_tokenizer_n_vocab(c->tok), (long long)mm_gpt_model_n_vocab(c->model));
    int32_t *ids = NULL;
    int64_t n = 0;
    if (mm_tokenizer_encode_alloc(c->tok, prompt, strlen(prompt), false, &ids, &n, err) != 0)
        return mm_cli_fail(MM_EXIT_INTERNAL, "%s: %s", cmd, err);
    const bool bos = mm_tokenizer_add_bos(c->tok) && mm_tokenizer_bos(c->tok) >= 0;
    c->ids = malloc((size_t)(n + 1) * sizeof *c->ids);
    if (!c->ids) {
        free(ids);
        return mm_cli_fail(MM_EXIT_INTERNAL, "%s: out of memory", cmd);
    }
    if (bos) c->ids[c->n_ids++] = mm_tokenizer_bos(c->tok);
    memcpy(c->ids + c->n_ids, ids, (size_t)n * sizeof *ids);
    c->n_ids += n;
    free(ids);
    return MM_EXIT_OK;
}

void gen_close(mm_gen_ctx *c) {
    free(c->ids);
    mm_tokenizer_free(c->tok);
    mm_gpt_model_free(c->model);
    mm_gguf_close(c->g);
    memset(c, 0, sizeof *c);
}
