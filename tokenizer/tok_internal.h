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

/* Vocabulary kinds (tokenizer.ggml.model "gpt2" / "llama") and the BPE pre-tokenizers (pretok_llama.c). */
enum { TOK_KIND_BPE = 0, TOK_KIND_SPM = 1 };
enum { TOK_PRE_GPT2 = 0, TOK_PRE_LLAMA3, TOK_PRE_QWEN2, TOK_PRE_SMOLLM, TOK_PRE_DEFAULT, TOK_PRE_COUNT };

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

    uint8_t  *bmp_class;   /* [65536] CL_* of every BMP code point (BPE only) */

    /* llama.cpp vocabularies (all zero / NULL for a plain GPT-2 tokenizer unless noted) */
    uint8_t   kind;        /* TOK_KIND_* */
    uint8_t   pre;         /* TOK_PRE_* (BPE) */
    bool      ignore_merges;   /* BPE: a pre-token that is a token is emitted whole (llama-bpe) */
    bool      add_eos, add_space_prefix;
    uint32_t *text_len;    /* [n_vocab] bytes of text[i] (both kinds) */
    int32_t   eot, eom, unk;   /* -1 if none */
    int32_t   n_eog;
    int32_t  *eog;         /* [n_eog] end-of-generation ids, ascending */
    /* SPM (kind == TOK_KIND_SPM): byte_id[] holds the byte-fallback token of every byte */
    float    *score;       /* [n_vocab] */
    int32_t  *sh;          /* text -> id of NORMAL tokens; [sh_mask + 1], -1 = empty */
    uint32_t  sh_mask;
    uint32_t  max_text;    /* longest NORMAL text, bytes */
    uint64_t *pair_key;    /* set of adjacent character pairs inside NORMAL texts; [pair_mask + 1], 0 = empty */
    uint32_t  pair_mask;
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
 * Returns 0, or the first non-zero value fn returned. tok_pretokenize uses t->pre; tok_pretok_gpt2 is
 * GPT-2's pattern (pretok.c), tok_pretok_llama the others (pretok_llama.c). */
typedef int (*tok_piece_fn)(void *ctx, const uint8_t *p, size_t n);
int tok_pretokenize(const mm_tokenizer *t, const uint8_t *text, size_t len, tok_piece_fn fn, void *ctx);
int tok_pretok_gpt2(const mm_tokenizer *t, const uint8_t *text, size_t len, tok_piece_fn fn, void *ctx);
int tok_pretok_llama(const mm_tokenizer *t, const uint8_t *text, size_t len, tok_piece_fn fn, void *ctx);
/* tokenizer.ggml.pre name -> TOK_PRE_* (+ llama.cpp's flags for it); -1 if unknown. */
int tok_pre_from_name(const char *s, size_t n, int *pre, bool *ignore_merges, bool *add_bos);
const char *tok_pre_name(int pre);     /* canonical name */
void tok_pre_names(char *buf, size_t size); /* every accepted name, comma-separated */

uint8_t tok_class_cp(const mm_tokenizer *t, int32_t cp);

/* One character at p (strict UTF-8: no overlongs, no surrogates, <= U+10FFFF): its code point and byte
 * length; an invalid byte is -1 with length 1. */
static inline int32_t tok_utf8_decode(const uint8_t *p, const uint8_t *end, size_t *len) {
    uint8_t c = p[0];
    size_t avail = (size_t)(end - p);
    *len = 1;
    if (c < 0x80) return c;
    if (c >= 0xC2 && c <= 0xDF) {
        if (avail < 2 || (p[1] & 0xC0) != 0x80) return -1;
        *len = 2;
        return ((c & 0x1F) << 6) | (p[1] & 0x3F);
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return -1;
        if (c == 0xE0 && p[1] < 0xA0) return -1;  /* overlong */
        if (c == 0xED && p[1] >= 0xA0) return -1; /* surrogate */
        *len = 3;
        return ((c & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return -1;
        if (c == 0xF0 && p[1] < 0x90) return -1;  /* overlong */
        if (c == 0xF4 && p[1] >= 0x90) return -1; /* > U+10FFFF */
        *len = 4;
        return ((c & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
    }
    return -1;
}

/* Class (CL_*) and byte length of the character at p; an invalid byte is one CL_O character. */
static inline uint8_t tok_char_at(const mm_tokenizer *t, const uint8_t *p, const uint8_t *end, size_t *len) {
    static const uint8_t ascii[128] = {
        /* 0x00-0x08 other, 0x09-0x0D space, 0x0E-0x1F other */
        3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
        /* ' ' space, !"#$%&'()*+,-./ other, 0-9 number, :;<=>?@ other */
        2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3,
        /* @ A-Z [\]^_ */
        3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3,
        /* ` a-z {|}~ DEL */
        3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3,
    };
    if (p[0] < 0x80) {
        *len = 1;
        return ascii[p[0]];
    }
    int32_t cp = tok_utf8_decode(p, end, len);
    if (cp < 0) return CL_O;
    return cp < 65536 ? t->bmp_class[cp] : tok_class_cp(t, cp);
}

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

/* Special tokens (types CONTROL, USER_DEFINED, and UNKNOWN for SPM) sorted longest text first, and
 * special_first; uses t->type, t->text, t->text_len. 0 or -1 (out of memory). */
int tok_build_specials(mm_tokenizer *t);
bool tok_is_special_type(const mm_tokenizer *t, int32_t id);
/* End-of-generation set from t->eos/eot/eom and the token texts llama.cpp recognises (meta.c); with g,
 * the tokenizer.ggml.{eot,eom,fim_*}_token_id keys are read first. 0, or -1 + err. */
int tok_build_eog(mm_tokenizer *t, const mm_gguf *g, const char *what, char *err);
uint32_t tok_table_mask(size_t n);

/* SentencePiece BPE (spm.c) */
mm_tokenizer *tok_spm_load_gguf(const mm_gguf *g, const char *what, char *err);
typedef struct {
    int32_t        n;
    const char   **text;      /* [n] */
    const size_t  *text_len;  /* [n] or NULL (strlen) */
    const float   *score;     /* [n] or NULL (all 0) */
    const int32_t *type;      /* [n] or NULL (all NORMAL) */
    int32_t        bos, eos, unk;   /* -1 none */
    bool           add_bos, add_eos, add_space_prefix;
} tok_spm_build;
mm_tokenizer *tok_spm_build_tokenizer(const tok_spm_build *b, const char *what, char *err);
/* Encode one text fragment (no special tokens in it) into out: "\xe2\x96\x81" prefix when
 * t->add_space_prefix and n > 0, spaces escaped, merges by score, byte fallback. -1 on out of memory. */
int tok_spm_encode(const mm_tokenizer *t, const uint8_t *s, size_t n, tok_ids *out);
/* Naive reference of the same (O(n^2) per merge; test oracle only). */
int tok_spm_encode_ref(const mm_tokenizer *t, const uint8_t *s, size_t n, tok_ids *out);
int tok_spm_write_gguf(const mm_tokenizer *t, mm_gguf_writer *w, char *err);

/* read a whole file (cap bytes), NUL-terminated; caller frees */
char *tok_read_file(const char *path, size_t cap, size_t *len, char *err);

#endif
