/* tok_internal.h - private to tokenizer/: the tokenizer object and the pieces shared by its files. */
#ifndef MM_TOK_INTERNAL_H
#define MM_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mm_tokenizer.h"

/* GGUF / llama.cpp token types */
enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER = 4, TOK_UNUSED = 5, TOK_BYTE = 6 };

/* Character classes of the GPT-2 pre-tokenizer. */
enum { CL_L = 0, CL_N = 1, CL_S = 2, CL_O = 3 };

#define TOK_MAX_VOCAB   (1 << 24)   /* hostile-file caps */
#define TOK_MAX_MERGES  (1 << 24)
#define TOK_MAX_TEXT    4096        /* bytes of one vocabulary string */

struct mm_tokenizer {
    int32_t   n_vocab;
    char    **text;        /* [n_vocab] vocabulary strings (byte-to-unicode form), NUL-terminated */
    char    **piece;       /* [n_vocab] decoded bytes, NUL-terminated */
    uint32_t *piece_len;   /* [n_vocab] */
    uint8_t  *type;        /* [n_vocab] TOK_* */
    uint8_t  *whole_ok;    /* [n_vocab] 1: BPE of the token's bytes gives exactly this token */
    int32_t   byte_id[256];/* token of each single byte */

    /* piece bytes -> id for non-special tokens; open addressing, -1 = empty */
    int32_t  *vh;          /* [vh_mask + 1] */
    uint32_t  vh_mask;

    /* merges in rank order, and (left, right) -> rank / result */
    int32_t   n_merges;
    int32_t  *merge_l, *merge_r;   /* [n_merges] */
    uint64_t *mh_key;      /* [mh_mask + 1] (left << 32 | right) + 1; 0 = empty */
    int32_t  *mh_rank;     /* [mh_mask + 1] */
    int32_t  *mh_res;      /* [mh_mask + 1] merged token id */
    uint32_t  mh_mask;

    /* special tokens, longest text first */
    int32_t   n_special;
    int32_t  *special;     /* [n_special] ids */
    uint8_t   special_first[256];  /* 1 if some special text starts with this byte */

    int32_t   bos, eos;
    bool      add_bos;

    uint8_t  *bmp_class;   /* [65536] CL_* of every BMP code point */
};

/* byte <-> GPT-2 unicode alphabet */
void     tok_byte_map(uint32_t byte_to_cp[256], int16_t cp_to_byte[512]);
uint64_t tok_hash(const void *p, size_t n);

/* Builder: takes ownership of nothing; copies. texts are the vocabulary strings (n, may be NULL for
 * holes -> error), types may be NULL (derive), merges as id pairs. */
typedef struct {
    int32_t      n;
    const char **text;     /* [n] NUL-terminated */
    const size_t *text_len;/* [n] or NULL (strlen) */
    const int32_t *type;   /* [n] or NULL; 0 = derive (BPE-reachable -> normal, else control) */
    int32_t      n_merges;
    const char **merge_a;  /* [n_merges] left string (not NUL-terminated), */
    const size_t *merge_a_len;
    const char **merge_b;
    const size_t *merge_b_len;
    int32_t      bos, eos; /* -2 = not given (default <|endoftext|>), -1 = none */
    bool         add_bos;
} tok_build;
mm_tokenizer *tok_build_tokenizer(const tok_build *b, const char *what, char *err);

/* Pre-tokenizer: calls fn(ctx, start, len) for every pre-token of text[0..len) in order.
 * Returns 0, or the first non-zero value fn returned. */
typedef int (*tok_piece_fn)(void *ctx, const uint8_t *p, size_t n);
int tok_pretokenize(const mm_tokenizer *t, const uint8_t *text, size_t len, tok_piece_fn fn, void *ctx);

/* Merge lookup: rank (or -1) and result id of merging (a, b). */
static inline int32_t tok_merge_find(const mm_tokenizer *t, int32_t a, int32_t b, int32_t *res) {
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    uint32_t i = (uint32_t)(h >> 32) & t->mh_mask;
    for (;;) {
        uint64_t k = t->mh_key[i];
        if (k == key) { *res = t->mh_res[i]; return t->mh_rank[i]; }
        if (k == 0) return -1;
        i = (i + 1) & t->mh_mask;
    }
}
int32_t tok_vocab_find(const mm_tokenizer *t, const uint8_t *p, size_t n);

/* BPE of one pre-token (bytes p[0..n), n >= 1) into out (growable int32 vector). */
typedef struct {
    int32_t *v;
    size_t   n, cap;
} tok_ids;
int tok_ids_push(tok_ids *a, int32_t id);
/* Fast BPE (array for short words, heap for long ones). Appends to out. -1 on out of memory. */
int tok_bpe_word(const mm_tokenizer *t, const uint8_t *p, size_t n, tok_ids *out);
/* Naive reference: GPT-2 encoder.py's algorithm (lowest-rank pair, merge all its occurrences left to
 * right, repeat) - O(n^2) per merge; test oracle only. */
int tok_bpe_word_ref(const mm_tokenizer *t, const uint8_t *p, size_t n, tok_ids *out);

/* read a whole file (cap bytes), NUL-terminated; caller frees */
char *tok_read_file(const char *path, size_t cap, size_t *len, char *err);

#endif
