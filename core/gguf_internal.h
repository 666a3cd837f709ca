/* gguf_internal.h - shared by core/gguf.c (reader), gguf_write.c and gguf_format.c. Not public. */
#ifndef MM_GGUF_INTERNAL_H
#define MM_GGUF_INTERNAL_H

#include "mm_gguf.h"

#define MM_GGUF_DEFAULT_ALIGNMENT 32

typedef struct {
    char        *key;        /* NUL-terminated copy [key_len + 1] */
    size_t       key_len;
    mm_gguf_type type;
    size_t       val_off;    /* offset of the encoded value in the file (after the type field) */
    size_t       val_len;    /* bytes of the encoded value */
    mm_gguf_type elem_type;  /* arrays: element type */
    int64_t      n;          /* arrays: element count */
    size_t       data_off;   /* arrays: offset of the first element */
    uint64_t    *str_off;    /* string arrays: [n] offsets of each element's length field */
} gguf_kv;

struct mm_gguf {
    const uint8_t  *base;       /* [size] the mapping or the caller's buffer */
    size_t          size;
    bool            mapped;
    char           *path;
    uint32_t        version;
    size_t          alignment;
    size_t          data_start; /* offset of the data section */
    gguf_kv        *kv;         /* [n_kv] */
    int64_t         n_kv;
    mm_gguf_tensor *t;          /* [n_t] */
    int64_t         n_t;
    int64_t        *kv_hash;    /* [kv_hmask + 1] index + 1 of a kv, 0 = empty */
    size_t          kv_hmask;
    int64_t        *t_hash;     /* [t_hmask + 1] index + 1 of a tensor, 0 = empty */
    size_t          t_hmask;
};

size_t      gguf_scalar_size(uint32_t t);   /* 0 for string, array, unknown */
bool        gguf_type_valid(uint32_t t);
size_t      gguf_tensor_bytes(int type, int n_dims, const int64_t *ne, int64_t *n_elements, const char **why);
const char *gguf_safe_name(const void *s, size_t n, char *buf, size_t size);
bool        gguf_read_int(const uint8_t *p, uint32_t t, int64_t *v, uint64_t *u, bool *is_unsigned);
/* Check that [p, p + n) holds exactly one well-formed value of type t. */
int         gguf_check_value(const void *p, size_t n, uint32_t t, char *err);

#endif
