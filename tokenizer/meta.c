/* meta.c - what a tokenizer says about itself: the end-of-generation set (as llama.cpp gathers it),
 * vocabulary kind, pre-tokenizer name, token types. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* llama.cpp (src/llama-vocab.cpp): tokens with these texts end generation */
static const char *const k_eog_text[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
    "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>", /* DeepSeek */
    "<end_of_utterance>",                                                  /* SmolVLM / Idefics3 */
};
/* the end-of-turn token when tokenizer.ggml.eot_token_id is absent: the first of these that exists */
static const char *const k_eot_text[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "_<EOT>",
    "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>",
};
/* fill-in-the-middle pad / repo / file-separator tokens also end generation in llama.cpp */
static const char *const k_fim_pad[] = {"<|fim_pad|>", "<fim-pad>", "<PAD>"};
static const char *const k_fim_rep[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"};
static const char *const k_fim_sep[] = {"<|file_sep|>"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool text_is(const mm_tokenizer *t, int32_t id, const char *s) {
    size_t n = strlen(s);
    return t->text_len[id] == n && !memcmp(t->text[id], s, n);
}

/* lowest id whose text is list[k] for the smallest k; -1 if none */
static int32_t find_first(const mm_tokenizer *t, const char *const *list, size_t n_list) {
    int32_t best = -1;
    size_t best_k = n_list;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (t->text_len[i] < 3 || (t->text[i][0] != '<' && t->text[i][0] != '_')) continue;
        for (size_t k = 0; k < best_k; k++)
            if (text_is(t, i, list[k])) {
                best = i;
                best_k = k;
                break;
            }
    }
    return best;
}

/* id from a GGUF key; -1 absent; -2 out of range (error written) */
static int32_t key_id(const mm_tokenizer *t, const mm_gguf *g, const char *key, const char *what, char *err) {
    uint32_t v;
    if (!g || mm_gguf_find_key(g, key) < 0) return -1;
    if (mm_gguf_get_u32(g, key, &v) || v >= (uint32_t)t->n_vocab) {
        mm_err(err, "%s: %s is not a token id below %d", what, key, (int)t->n_vocab);
        return -2;
    }
    return (int32_t)v;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int tok_build_eog(mm_tokenizer *t, const mm_gguf *g, const char *what, char *err) {
    int32_t eot = key_id(t, g, "tokenizer.ggml.eot_token_id", what, err);
    int32_t eom = key_id(t, g, "tokenizer.ggml.eom_token_id", what, err);
    int32_t pad = key_id(t, g, "tokenizer.ggml.fim_pad_token_id", what, err);
    int32_t rep = key_id(t, g, "tokenizer.ggml.fim_rep_token_id", what, err);
    int32_t sep = key_id(t, g, "tokenizer.ggml.fim_sep_token_id", what, err);
    if (eot == -2 || eom == -2 || pad == -2 || rep == -2 || sep == -2) return -1;
    static const char *const eom_text[] = {"<|eom_id|>"};
    if (eot < 0) eot = find_first(t, k_eot_text, COUNT(k_eot_text));
    if (eom < 0) eom = find_first(t, eom_text, 1);
    if (pad < 0) pad = find_first(t, k_fim_pad, COUNT(k_fim_pad));
    if (rep < 0) rep = find_first(t, k_fim_rep, COUNT(k_fim_rep));
    if (sep < 0) sep = find_first(t, k_fim_sep, COUNT(k_fim_sep));
    t->eot = eot;
    t->eom = eom;

    size_t cap = 8, n = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return mm_err(err, "%s: out of memory", what);
    int32_t fixed[6] = {t->eos, eot, eom, pad, rep, sep};
    for (int k = 0; k < 6; k++)
        if (fixed[k] >= 0) v[n++] = fixed[k];
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (t->text_len[i] < 3 || (t->text[i][0] != '<' && t->text[i][0] != '_')) continue;
        bool hit = text_is(t, i, "</s>") && tok_is_special_type(t, i);
        for (size_t k = 0; k < COUNT(k_eog_text) && !hit; k++) hit = text_is(t, i, k_eog_text[k]);
        if (!hit) continue;
        if (n == cap) {
            int32_t *nv = realloc(v, 2 * cap * sizeof *nv);
            if (!nv) {
                free(v);
                return mm_err(err, "%s: out of memory", what);
            }
            v = nv;
            cap *= 2;
        }
        v[n++] = i;
    }
    qsort(v, n, sizeof *v, cmp_i32);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || v[i] != v[u - 1]) v[u++] = v[i];
    free(t->eog);
    t->eog = v;
    t->n_eog = (int32_t)u;
    return 0;
}

bool mm_tokenizer_is_eog(const mm_tokenizer *t, int32_t id) {
    int32_t lo = 0, hi = t->n_eog;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (t->eog[mid] == id) return true;
        if (t->eog[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return false;
}

int32_t mm_tokenizer_eog_ids(const mm_tokenizer *t, const int32_t **ids) {
    if (ids) *ids = t->eog;
    return t->n_eog;
}

int32_t mm_tokenizer_eot(const mm_tokenizer *t) { return t->eot; }
bool    mm_tokenizer_add_eos(const mm_tokenizer *t) { return t->add_eos; }
bool    mm_tokenizer_add_space_prefix(const mm_tokenizer *t) {
    return t->kind == TOK_KIND_SPM && t->add_space_prefix;
}
const char *mm_tokenizer_model(const mm_tokenizer *t) { return t->kind == TOK_KIND_SPM ? "llama" : "gpt2"; }
const char *mm_tokenizer_pre(const mm_tokenizer *t) {
    return t->kind == TOK_KIND_SPM ? NULL : tok_pre_name(t->pre);
}

int mm_tokenizer_token_type(const mm_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? t->type[id] : 0;
}
