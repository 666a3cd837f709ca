/* mm_gguf.h - GGUF model files (read: mmap, validated; write: exact round trip).
 *
 * Format: https://github.com/ggerganov/ggml/blob/master/docs/gguf.md (versions 2 and 3 read, 3 written).
 * Every file is hostile: the reader validates magic, version, counts against the file size, string
 * lengths, n_dims <= 4, dims > 0 without overflow, known tensor types, offsets aligned and inside the
 * data section, and duplicate keys / tensor names. Any violation is returned as
 * "path: what is wrong" in err; the reader never crashes or reads out of bounds.
 *
 * Tensor shapes follow ggml: ne[0] is the fastest-varying (contiguous) dimension.
 *
 * Reader rules (as ggml's gguf reader): magic "GGUF"; version 2 or 3 (little-endian); metadata keys and
 * tensor names unique and without NUL bytes; tensor names shorter than 64 bytes; nested arrays up to
 * MM_GGUF_MAX_DEPTH deep; general.alignment, when present, a uint32 power of two; every tensor of a
 * known ggml type (all ggml types are known - see mm_gguf_type_name - but only F32, F16, BF16, Q8_0, Q4_0,
 * Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K are computable, see mm_type_supported; a model loader refuses a tensor of
 * another type naming it), ne[0] a multiple of the type's block size, its offset a multiple
 * of the alignment, its bytes inside the file and not overlapping another tensor.
 * Scalar array data (mm_gguf_arr_data) and tensor data point into the file: they may be unaligned for
 * their element type in metadata (use memcpy); tensor data is aligned to the file's alignment.
 *
 * Writer layout (same as ggml / gguf-py): header, kv, tensor infos, zero padding to the alignment, then
 * each tensor's data in insertion order, each padded with zeros to the alignment. Re-writing a file read
 * with this reader (copy_kv + add_tensor of every tensor) gives byte-identical output.
 */
#ifndef MM_GGUF_H
#define MM_GGUF_H

#include "mm_core.h"

#ifdef __cplusplus
extern "C" {
#endif
MM_API_BEGIN  /* every declaration below is exported from libmmgpt.so (mm_api.h) */

typedef enum {
    MM_GGUF_UINT8 = 0, MM_GGUF_INT8 = 1, MM_GGUF_UINT16 = 2, MM_GGUF_INT16 = 3,
    MM_GGUF_UINT32 = 4, MM_GGUF_INT32 = 5, MM_GGUF_FLOAT32 = 6, MM_GGUF_BOOL = 7,
    MM_GGUF_STRING = 8, MM_GGUF_ARRAY = 9, MM_GGUF_UINT64 = 10, MM_GGUF_INT64 = 11,
    MM_GGUF_FLOAT64 = 12,
} mm_gguf_type;

typedef struct mm_gguf mm_gguf;

typedef struct {
    const char *name;     /* NUL-terminated copy */
    int         type;     /* ggml type id (may be a type we can read but not compute with) */
    int         n_dims;   /* 1..4 */
    int64_t     ne[4];    /* dims, unused = 1 */
    int64_t     n_elements;
    uint64_t    offset;   /* relative to the data section */
    size_t      n_bytes;
    const void *data;     /* points into the mapping, read-only */
} mm_gguf_tensor;

/* Open and validate. The file is mmapped read-only and stays mapped until mm_gguf_close. */
mm_gguf *mm_gguf_open(const char *path, char *err);
/* Same over a caller buffer that must outlive the handle (fuzzing, embedded models). */
mm_gguf *mm_gguf_open_memory(const void *data, size_t size, const char *name, char *err);
void     mm_gguf_close(mm_gguf *g);

uint32_t    mm_gguf_version(const mm_gguf *g);
size_t      mm_gguf_file_size(const mm_gguf *g);
size_t      mm_gguf_alignment(const mm_gguf *g);
const char *mm_gguf_path(const mm_gguf *g);

#define MM_GGUF_MAX_DEPTH 8      /* deepest nesting of arrays in metadata */
#define MM_GGUF_MAX_NAME  64     /* tensor names are shorter than this (ggml's GGML_MAX_NAME) */

/* Names and sizes of every ggml tensor type id (also those we cannot compute with): "f32", "q4_k", ...;
 * NULL / 0 for ids that are not (or no longer) ggml types. */
const char *mm_gguf_type_name(int ggml_type);
int64_t     mm_gguf_type_block_size(int ggml_type);   /* elements per block */
size_t      mm_gguf_type_block_bytes(int ggml_type);  /* bytes per block */
/* Name of a metadata value type: "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr",
 * "u64", "i64", "f64"; "?" for others. */
const char *mm_gguf_kv_type_name(mm_gguf_type t);

/* ---- metadata */
int64_t      mm_gguf_n_kv(const mm_gguf *g);
const char  *mm_gguf_kv_key(const mm_gguf *g, int64_t i);
mm_gguf_type mm_gguf_kv_type(const mm_gguf *g, int64_t i);
int64_t      mm_gguf_find_key(const mm_gguf *g, const char *key); /* -1 if absent */

/* Typed getters by key. Return 0 if found and convertible, -1 if absent or of another kind (no err:
 * callers decide whether a key is required). Integer getters accept any integer type in range. */
int mm_gguf_get_u32(const mm_gguf *g, const char *key, uint32_t *out);
int mm_gguf_get_i64(const mm_gguf *g, const char *key, int64_t *out);
int mm_gguf_get_f32(const mm_gguf *g, const char *key, float *out); /* float32 or float64 */
int mm_gguf_get_bool(const mm_gguf *g, const char *key, bool *out);
int mm_gguf_get_str(const mm_gguf *g, const char *key, const char **out, size_t *len); /* not NUL-term */

/* The one reader of integer hyper-parameters: KEY (any integer type) in [lo, hi] into *out. Required: absent is an
 * error; optional: absent gives *out = dflt (present, it must be an integer in range). Errors (one style):
 * "FILE: key KEY is missing or not an integer", "FILE: KEY = V is outside [lo, hi]". */
int mm_gguf_get_int_range(const mm_gguf *g, const char *key, int64_t lo, int64_t hi, bool required, int64_t dflt,
                          int64_t *out, char *err);

/* Arrays: element type and count; scalar element arrays expose their raw little-endian data. */
int         mm_gguf_get_arr(const mm_gguf *g, const char *key, mm_gguf_type *elem_type, int64_t *n);
const void *mm_gguf_arr_data(const mm_gguf *g, const char *key);             /* scalar arrays */
int         mm_gguf_arr_str(const mm_gguf *g, const char *key, int64_t i,
                            const char **out, size_t *len);                   /* string arrays */
/* Generic access by index (for `mmgpt info`): value formatted as text on one line (strings quoted and
 * escaped, long strings and arrays summarised, e.g. `[50257 strings: "!", "\"", "#", ...]`).
 * Returns the length the full text needs (like snprintf; output truncated to size), -1 for a bad index. */
int         mm_gguf_kv_format(const mm_gguf *g, int64_t i, char *buf, size_t size);
/* The same as a JSON value (numbers, true/false, strings; NaN/inf as null; long arrays summarised as
 * {"type": "strings", "n": 50257, "first": ["!", "\"", "#"]}; invalid UTF-8 replaced by U+FFFD). */
int         mm_gguf_kv_format_json(const mm_gguf *g, int64_t i, char *buf, size_t size);
/* The encoded value of kv i as stored in the file (after its type field; for arrays: element type,
 * count, elements). NULL for a bad index. */
const void *mm_gguf_kv_raw(const mm_gguf *g, int64_t i, size_t *n_bytes);
/* Array element type and count of kv i (-1 if not an array). */
int         mm_gguf_kv_arr(const mm_gguf *g, int64_t i, mm_gguf_type *elem_type, int64_t *n);

/* ---- tensors */
int64_t               mm_gguf_n_tensors(const mm_gguf *g);
const mm_gguf_tensor *mm_gguf_tensor_at(const mm_gguf *g, int64_t i);
const mm_gguf_tensor *mm_gguf_find_tensor(const mm_gguf *g, const char *name); /* NULL if absent */

/* ---- linear layers (mm_mat, mm_core.h): the one loader of decoder, encoders and projectors */
/* NAME.weight: a matrix (ne[2] = ne[3] = 1) of a type mmgpt computes with, ne[0] == cols (cols <= 0: any),
 * ne[1] (the rows) in [rows_min, rows_max], data as long as its shape, small ones finite (mm_gguf_check_finite).
 * With MM_MAT_BIAS (optional) or MM_MAT_BIAS_REQUIRED also NAME.bias, [rows]: with bias_copy == NULL it must
 * be f32 and m->b points into the mapping; else f32 or f16 converted into a malloc'd f32 copy that *bias_copy
 * receives (the caller frees it; NULL when there is no bias). An absent NAME.weight is an error with
 * MM_MAT_REQUIRED, else m is zeroed (data NULL) and 0 returned. Errors: "FILE: tensor NAME ... : why". */
#define MM_MAT_REQUIRED      1u
#define MM_MAT_BIAS          2u
#define MM_MAT_BIAS_REQUIRED 4u
int mm_gguf_mat_load(const mm_gguf *g, const char *name, int64_t cols, int64_t rows_min, int64_t rows_max,
                     unsigned flags, mm_mat *m, float **bias_copy, char *err);

/* ---- finite check at load (models stay lazy: big matrices are not read here) */
/* Loaders call this for every tensor their model uses. It scans the tensor for NaN/Inf (F32/F16 values,
 * Q8_0/Q4_0 block scales) when it is small - 1-D (norms, biases) or at most MM_GGUF_CHECK_BYTES bytes - or
 * when always is set (position embeddings); bigger matrices are left to the evaluation checks (logits,
 * encoder outputs: MM_ERR_NONFINITE). -1 with "FILE: tensor NAME holds a non-finite value (nan) at
 * element I: the model file is corrupt". Tensors of types we cannot compute with are left to the loader. */
#define MM_GGUF_CHECK_BYTES ((size_t)1 << 20)
int mm_gguf_check_finite(const mm_gguf *g, const mm_gguf_tensor *t, bool always, char *err);

/* ---- writer (version 3, alignment 32 unless general.alignment is set) */
typedef struct mm_gguf_writer mm_gguf_writer;
mm_gguf_writer *mm_gguf_writer_create(void);
void mm_gguf_writer_free(mm_gguf_writer *w);
int  mm_gguf_writer_set_u32 (mm_gguf_writer *w, const char *key, uint32_t v);
int  mm_gguf_writer_set_i32 (mm_gguf_writer *w, const char *key, int32_t v);
int  mm_gguf_writer_set_u64 (mm_gguf_writer *w, const char *key, uint64_t v);
int  mm_gguf_writer_set_f32 (mm_gguf_writer *w, const char *key, float v);
int  mm_gguf_writer_set_bool(mm_gguf_writer *w, const char *key, bool v);
int  mm_gguf_writer_set_str (mm_gguf_writer *w, const char *key, const char *v);
/* Array of scalars of elem_type (data copied, n elements) or of strings (strs, n). */
int  mm_gguf_writer_set_arr (mm_gguf_writer *w, const char *key, mm_gguf_type elem_type,
                             const void *data, int64_t n);
int  mm_gguf_writer_set_arr_str(mm_gguf_writer *w, const char *key, const char *const *strs, int64_t n);
/* Any scalar type (value points to the C value of that type: uint8_t ... double, bool). */
int  mm_gguf_writer_set_scalar(mm_gguf_writer *w, const char *key, mm_gguf_type type, const void *value);
/* A value given in its encoded form (as mm_gguf_kv_raw returns; e.g. nested arrays). Validated. */
int  mm_gguf_writer_set_raw(mm_gguf_writer *w, const char *key, mm_gguf_type type,
                            const void *encoded, size_t n_bytes);
/* Setters replace the value of an existing key (keeping its position). Setters and add_tensor return -1
 * on a bad argument (also remembered: mm_gguf_writer_write then fails with that message).
 * general.alignment must be set (as u32, a power of two) before tensors are written; it decides the
 * padding of the written file. */
/* Copy every kv of another file (used by tools that rewrite a model). */
int  mm_gguf_writer_copy_kv(mm_gguf_writer *w, const mm_gguf *src);
/* Tensor data is copied; n_bytes must equal mm_row_size(type, ne[0]) * ne[1] * ne[2] * ne[3]. */
int  mm_gguf_writer_add_tensor(mm_gguf_writer *w, const char *name, int type, int n_dims,
                               const int64_t *ne, const void *data, size_t n_bytes);
/* A tensor whose data is made while the file is written (one tensor in memory at a time: converting a big
 * model): fill(ctx, index of the tensor in the writer, dst, n_bytes, err) writes exactly n_bytes into dst and
 * returns 0, or -1 with a message in err (MM_ERR_SIZE), which makes mm_gguf_writer_write fail (no file). */
typedef int (*mm_gguf_fill_fn)(void *ctx, int64_t index, void *dst, size_t n_bytes, char *err);
int  mm_gguf_writer_add_tensor_fill(mm_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                                    size_t n_bytes, mm_gguf_fill_fn fill, void *ctx);
int  mm_gguf_writer_write(mm_gguf_writer *w, const char *path, char *err);

/* ---- converting a model file to another weight type (core/gguf_quantize.c: llama-quantize's choices of
 * which tensor gets which type, without an importance matrix; see the top of that file) */
/* llama.cpp's file types (general.file_type) mmgpt writes, by llama-quantize's names (any case): f32 0, f16 1,
 * q4_0 2, q4_1 3, q8_0 7, q5_0 8, q5_1 9, q4_k_s 14, q4_k_m 15 (alias q4_k), q5_k_s 16, q5_k_m 17 (alias
 * q5_k), q6_k 18, bf16 32. -1 if unknown. */
int         mm_gguf_ftype_from_name(const char *name);
const char *mm_gguf_ftype_name(int ftype);   /* "q4_k_m", ...; NULL if not one of the above */
typedef struct {
    int  ftype;             /* one of the file types above */
    bool pure;              /* every quantized tensor at the file type's base type (no mix; row fallbacks stay) */
    bool allow_requantize;  /* tensors already quantized may be converted (else that is an error naming them) */
    int  n_threads;         /* <= 0: all CPUs */
} mm_quantize_params;
/* For every tensor i of g: types[i] its type in the output (its own where it is copied, e.g. a 3-D / 4-D
 * convolution kernel in a quantized file), fallback[i] whether its rows did not fill the chosen type's blocks
 * and a fallback type was taken (F16 last); order[k] the tensor written k-th. Arrays of mm_gguf_n_tensors(g)
 * entries. -1 with err (naming the tensor and the fix) when a tensor cannot be converted: already quantized
 * without allow_requantize, or of a type mmgpt does not compute. */
int mm_gguf_quantize_plan(const mm_gguf *g, const mm_quantize_params *p, int *types, bool *fallback, int64_t *order,
                          char *err);
/* Write g converted by that plan to out_path: metadata copied, general.file_type and
 * general.quantization_version (2) set; one tensor in memory at a time. */
int mm_gguf_quantize(const mm_gguf *g, const char *out_path, const mm_quantize_params *p, char *err);

MM_API_END

#ifdef __cplusplus
}
#endif
#endif /* MM_GGUF_H */
