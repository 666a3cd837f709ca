/* mm_core.h - mmgpt shared numerics: tensor types, quantization, kernels, threads, arena, .npy I/O.
 *
 * Every other module (tokenizer/, transformer/, encoders/, fusion/) uses this header; core/ uses none
 * of them. GGUF model files have their own header, mm_gguf.h (also implemented in core/).
 *
 * Conventions
 *   - Errors: functions that can fail return 0 on success and -1 on failure, and write a one-line
 *     message "func: what is wrong" into `err` (a caller buffer of MM_ERR_SIZE bytes; may be NULL).
 *     Evaluation functions return MM_ERR_NONFINITE (-2) instead when the model produced NaN/Inf.
 *     Nothing here calls exit() or prints (except explicit progress helpers).
 *   - Matrices follow GGUF/ggml: a weight W used as a linear layer y = W x has `rows` = out features
 *     and `cols` = in features, stored row-major, each row `mm_row_size(type, cols)` bytes.
 *     In GGUF terms ne[0] = cols, ne[1] = rows.
 *   - Threads: one way only - the mm_pool below. Kernels take a pool (NULL = run on the caller's
 *     thread). OpenBLAS is kept at ONE thread (set once by core); a product over many rows is split
 *     over the pool threads, each calling its own part, so OpenBLAS never starts threads of its own
 *     (measured: same GFLOPS as OpenBLAS's own 2 threads, without its spinning threads next to ours).
 *     (OpenBLAS still starts its server thread when the library loads, before main, and that thread
 *     polls for a moment; OPENBLAS_NUM_THREADS=1 in the environment avoids even that.)
 *     Pool workers sleep on a condition variable between tasks (MMGPT_POOL_SPIN_US=N makes them poll
 *     N microseconds first, for dedicated machines): an idle pool uses no CPU. A pool runs one
 *     mm_pool_run at a time: do not call kernels with a pool from inside a task of the same pool (pass
 *     NULL there: the caller-thread path, safe from any thread).
 *   - A forward pass never calls malloc: activations come from an mm_arena sized at state creation;
 *     core's kernels keep their own per-thread scratch in the pool, grown on first use only (the
 *     first call of each shape allocates, later calls never do) or all at once by mm_kernels_reserve
 *     (at state creation: then no call allocates); with pool == NULL they use a per-thread buffer that
 *     grows the same way (freed at thread exit). mm_pool_reserve / mm_pool_scratch are for the callers'
 *     own per-thread scratch (reserve at state creation); kernels never move it.
 *
 * Kernels and levels (chosen once at run time from the CPU: avx512 > avx2 > generic; the environment
 * variable MMGPT_KERNEL=generic|avx2|avx512 forces a lower level, for tests; a level the CPU lacks falls
 * back to the best one below it, and mm_cpu_kernel_level() says which one runs):
 *   - mm_matvec F32/F16/BF16: weights converted in registers, f32 products and sums.
 *   - mm_matvec of every quantized type (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) at the avx2 and
 *     avx512 levels: x is first quantized to 8 bits per block of 32 (d = max|x|/127, like llama.cpp; the
 *     K-quants' sub-blocks line up with these blocks) and integer dot products are used (VNNI on avx512).
 *     This adds at most sum_i |w_i| * d_x(i) / 2 to each output (d_x of x's block); about 0.3-1% of |y|
 *     on random data, the order of the weight quantization itself. The generic level, and mm_linear with
 *     n > 1 for the other types, use f32 x (no extra error).
 *   - mm_linear n > 1 of Q4_0 and Q4_K (Q8_0 too with MMGPT_GEMM=int8-q8_0) at the avx2 and avx512 levels (the default; MMGPT_GEMM=f32 turns it
 *     off): an int8 gemm (core/gemm_int8.c), x quantized as for the matvec (same error bound), weights
 *     repacked per call, vpmaddubsw (AVX2) / VNNI (AVX-512) dot products: 2-2.6x the f32 paths below on one core
 *     (Q8_0 at AVX2, two vpmaddubsw per weight byte: 1.4x).
 *   - mm_linear n > 1 (other types; F16/BF16 from 17 rows, fewer take mm_matvec_multi: see mm_linear) and
 *     mm_sgemm: at the avx512 level an own AVX-512 gemm (weights dequantized
 *     while packed), which runs about 2x OpenBLAS limited to AVX2 by OPENBLAS_CORETYPE=Haswell; elsewhere, or
 *     with MMGPT_GEMM=openblas, OpenBLAS over dequantized weight tiles (its level's dequantization into f32
 *     tiles, then f32 gemm). See bench/bench_kernels.c and bench/bench_gemm_cpu.c.
 *   - Elementwise ops: AVX-512 / AVX2 at those levels (own exp/erfc approximations, a few f32 ulps from
 *     float64 references), plain C with libm at the generic level. mm_quantize_row / mm_dequantize_row use the
 *     level's vectorized conversions (F16C for f16: round to nearest even, bit-identical to numpy).
 *   - mm_matvec_multi (one matrix times several vectors: the decode step of several sequences) gives each
 *     vector exactly mm_matvec's result (the same row kernels on tiles of rows read once from memory; at
 *     the avx512 level register-blocked F32/F16 kernels with the same per-row arithmetic, and Q8_0/Q4_0 (up to
 *     8 vectors per pass) and K-quant kernels whose one-vector instance is the row kernel; at the avx2 level
 *     such kernels for every type, whose one-vector instance is the row kernel).
 *   - Naive references (mm_matvec_ref, mm_linear_ref, mm_matvec_multi_ref) dequantize and sum in double:
 *     test oracles.
 *
 * Environment knobs (the only environment variables the library reads; none is needed):
 *   MMGPT_KERNEL=generic|avx2|avx512  kernel level (above); read once per process, at the first kernel
 *                                     call (every module asks core for the level, none reads it itself)
 *   MMGPT_GEMM=int8-q8_0              Q8_0 prompts through the int8 gemm too (opt-in: bit-exact, not yet
 *                                     the default)
 *   MMGPT_GEMM=f32                    Q4_0/Q4_K prompts through the f32 gemm over dequantized weights instead
 *                                     of the int8 gemm (f32 activations; the int8 gemm, 8-bit activations as
 *                                     decode, is the default at avx2/avx512); MMGPT_GEMM=openblas: that and
 *                                     OpenBLAS over dequantized tiles instead of the own gemm at the avx512
 *                                     level; read with MMGPT_KERNEL
 *   MMGPT_POOL_SPIN_US=N              pool workers poll N microseconds before sleeping; read by
 *                                     mm_pool_create
 */
#ifndef MM_CORE_H
#define MM_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "mm_api.h"

#ifdef __cplusplus
extern "C" {
#endif
MM_API_BEGIN  /* every declaration below is exported from libmmgpt.so (mm_api.h) */

#define MM_ERR_SIZE 512

/* Format a message into err (if non-NULL, MM_ERR_SIZE bytes). Always returns -1 for `return mm_err(...)`.
 *
 * The one error format of the library: one line "SUBJECT: what failed: why" (the last two may be one
 * phrase, "tensor x.weight is missing"), no trailing newline, where SUBJECT is
 *   - the file the failure concerns (a model GGUF, an mmproj, an image, a sound, an .npy), as its path
 *     was given: written first by the function that has the file - it opened it, or was handed its
 *     mm_gguf (mm_gguf_path) or its name - never added, tested or stripped by a caller;
 *   - else, for an argument a caller got wrong, the public function (declared in include/) that refused it:
 *     "mm_sampler_create: top_k -1 ...", "mmgpt_add_media: ctx is NULL";
 *   - else the component whose computation failed, in words: "decoder logits at position 3 are not finite
 *     ...", "image encoder output row 5 ...".
 * Never an internal function's name, and never a function name in front of a path. A few checkers that
 * see no file (mm_enc_hparams_check, mm_prompt_template_bind) write the reason alone and say so; their
 * caller puts "PATH: what: " in front. The product API (mmgpt.h) composes by this rule alone: it adds the
 * model path only in front of messages of calls that name no file, and never reads a message. */
int mm_err(char *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---------------------------------------------------------------- tensor types (ggml ids) */
/* The weight types of published GGUF files, with ggml's ids and block layouts (all little-endian; fp16 is
 * IEEE binary16, bf16 the top 16 bits of an f32). Values of a block, in element order i:
 *   Q4_0  32: x[i] = (q[i] - 8) * d                q[i] = low nibble of qs[i] (i < 16), high of qs[i-16]
 *   Q4_1  32: x[i] = q[i] * d + m                  nibbles as Q4_0
 *   Q5_0  32: x[i] = (q[i] - 16) * d               q[i] = nibble (as Q4_0) | bit i of qh (little-endian u32) << 4
 *   Q5_1  32: x[i] = q[i] * d + m                  q[i] as Q5_0
 *   Q8_0  32: x[i] = q[i] * d                      q[i] = qs[i] (int8)
 *   K-quants: super-blocks of 256 (MM_QK_K); rows must be a multiple of 256 elements.
 *   Q4_K 256: 8 sub-blocks j of 32: x = (d * sc[j]) * q - dmin * m[j]; sc, m are 6-bit (see below);
 *             q of element 64c + l (l < 32) = low nibble of qs[32c + l], of 64c + 32 + l the high nibble
 *   Q5_K 256: as Q4_K with q 0..31: q |= 16 when bit (2c) (first 32 of chunk c) or bit (2c + 1) (second 32)
 *             of qh[l] is set
 *   Q6_K 256: 16 sub-blocks j of 16: x = (d * sc[j]) * (q - 32), sc int8; in each half h (128 elements,
 *             ql[64h..], qh[32h..]), for l < 32: element 128h + l + 32k (k = 0..3) has low 4 bits from
 *             ql[64h + l + 32 (k & 1)] (low nibble for k < 2, high for k >= 2) and high 2 bits
 *             (qh[32h + l] >> 2k) & 3
 *   K-quant 6-bit scales (12 bytes s): for j < 4: sc[j] = s[j] & 63, m[j] = s[j + 4] & 63; for j >= 4:
 *   sc[j] = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4, m[j] = (s[j + 4] >> 4) | (s[j] >> 6) << 4.
 * Every product/sum above is one f32 operation rounded to f32 (no fused multiply-add), left to right:
 * mm_dequantize_row gives exactly these values at every kernel level (tests/core/ref_quants.py). */
typedef enum {
    MM_TYPE_F32  = 0,
    MM_TYPE_F16  = 1,
    MM_TYPE_Q4_0 = 2,  /* block of 32: fp16 d, 16 bytes nibbles                          (18 bytes) */
    MM_TYPE_Q4_1 = 3,  /* block of 32: fp16 d, fp16 m, 16 bytes nibbles                  (20 bytes) */
    MM_TYPE_Q5_0 = 6,  /* block of 32: fp16 d, 4 bytes high bits, 16 bytes nibbles       (22 bytes) */
    MM_TYPE_Q5_1 = 7,  /* block of 32: fp16 d, fp16 m, 4 bytes high bits, 16 nibbles     (24 bytes) */
    MM_TYPE_Q8_0 = 8,  /* block of 32: fp16 d, 32 x int8                                 (34 bytes) */
    MM_TYPE_Q4_K = 12, /* 256: fp16 d, fp16 dmin, 12 bytes scales, 128 bytes nibbles     (144 bytes) */
    MM_TYPE_Q5_K = 13, /* 256: fp16 d, fp16 dmin, 12 bytes scales, 32 qh, 128 qs        (176 bytes) */
    MM_TYPE_Q6_K = 14, /* 256: 128 bytes ql, 64 bytes qh, 16 x int8 scales, fp16 d      (210 bytes) */
    MM_TYPE_BF16 = 30,
} mm_type;

#define MM_QK 32     /* block size of Q4_0 / Q4_1 / Q5_0 / Q5_1 / Q8_0 */
#define MM_QK_K 256  /* super-block size of the K-quants */

typedef struct { uint16_t d; uint8_t qs[MM_QK / 2]; } mm_block_q4_0;                        /* 18 bytes */
typedef struct { uint16_t d, m; uint8_t qs[MM_QK / 2]; } mm_block_q4_1;                     /* 20 bytes */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[MM_QK / 2]; } mm_block_q5_0;         /* 22 bytes */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[MM_QK / 2]; } mm_block_q5_1;      /* 24 bytes */
typedef struct { uint16_t d; int8_t  qs[MM_QK];     } mm_block_q8_0;                        /* 34 bytes */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[MM_QK_K / 2]; } mm_block_q4_k;  /* 144 */
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[MM_QK_K / 8];
    uint8_t qs[MM_QK_K / 2];
} mm_block_q5_k;                                                                            /* 176 bytes */
typedef struct {
    uint8_t ql[MM_QK_K / 2];
    uint8_t qh[MM_QK_K / 4];
    int8_t  scales[MM_QK_K / 16];
    uint16_t d;
} mm_block_q6_k;                                                                            /* 210 bytes */

bool        mm_type_supported(int type);        /* one of the computable types above */
/* ggml's name of any known ggml type id ("f32", "q4_k", "bf16", also "q2_k", "iq2_xxs", ... which are not
 * computable), "?" for an unknown id. */
const char *mm_type_name(int type);
const char *mm_type_supported_names(void);      /* "f32, f16, bf16, q8_0, ..." for error messages */
int         mm_type_from_name(const char *name);/* a computable type; -1 if unknown or not computable */
int64_t     mm_type_block_size(mm_type t);      /* elements per block: 1, 32 or 256 */
size_t      mm_type_block_bytes(mm_type t);     /* bytes per block (0 for a type that is not computable) */
/* Bytes of one row of n elements; 0 if n is not a multiple of the block size or overflows. */
size_t      mm_row_size(mm_type t, int64_t n);

float    mm_fp16_to_fp32(uint16_t h);
uint16_t mm_fp32_to_fp16(float f);              /* round to nearest even, like ggml */

/* Quantize / dequantize one row of n elements (n a multiple of the block size for Q types).
 * Quantization follows llama.cpp's reference quantizers (quantize_row_*_ref, used by llama-quantize without an
 * importance matrix): Q4_0/Q5_0 d = signed max / -8 (-16), Q4_1/Q5_1 d = (max - min) / 15 (31), m = min,
 * Q8_0 d = amax / 127; Q4_K/Q5_K search scale and min per sub-block (weighted least squares over candidate
 * scales, ggml's make_qkx2_quants), Q6_K searches the scale per 16 (make_qx_quants); BF16 rounds to nearest
 * even (NaN kept quiet). Non-finite inputs give unspecified (but in-range) codes. */
void mm_quantize_row(mm_type t, const float *x, void *dst, int64_t n);
void mm_dequantize_row(mm_type t, const void *src, float *y, int64_t n);

/* Non-finite values (NaN, +-Inf). Index of the first one among n floats, or -1 when all are finite. */
int64_t mm_find_nonfinite(const float *x, int64_t n);
/* The same over n elements of a tensor of type t: F32 and F16 values; for Q8_0 / Q4_0 the f16 scale of
 * each block (the quants are small integers), reported as the block's first element. */
int64_t mm_tensor_find_nonfinite(mm_type t, const void *data, int64_t n);
/* Status (instead of -1) of the evaluation functions - mm_gpt_eval*, mm_vit_encode*, mm_audio_encode_* -
 * when their output is not finite: the model's weights hold NaN/Inf values or overflow. A model error,
 * not an input error; the message says where ("decoder logits at position 12 are not finite ..."). */
#define MM_ERR_NONFINITE (-2)

/* ---------------------------------------------------------------- thread pool */
#define MM_POOL_MAX_THREADS 256  /* most threads of one pool */
typedef struct mm_pool mm_pool;
/* fn is called once for every ith in [0, nth) with nth = pool threads; the caller runs ith 0 (and then any
 * ith no worker has started yet, so tasks must not wait for each other: no barriers inside fn). Distinct
 * ith never run at the same time on one OS thread; per-ith state (mm_pool_scratch(pool, ith)) is safe. */
typedef void (*mm_task_fn)(void *ctx, int ith, int nth);

mm_pool *mm_pool_create(int n_threads, char *err);  /* n_threads <= 0: number of CPUs */
void     mm_pool_free(mm_pool *pool);
int      mm_pool_n_threads(const mm_pool *pool);   /* 1 for NULL */
void     mm_pool_run(mm_pool *pool, mm_task_fn fn, void *ctx); /* returns when all threads finished */
/* Per-thread scratch that kernels may use (64-byte aligned). Reserve ahead so hot paths never allocate. */
int      mm_pool_reserve(mm_pool *pool, size_t bytes_per_thread, char *err);
void    *mm_pool_scratch(mm_pool *pool, int ith, size_t bytes); /* NULL if not reserved that large */
/* Split [0, n) evenly: thread ith gets [*i0, *i1). */
void     mm_split_range(int64_t n, int ith, int nth, int64_t *i0, int64_t *i1);

/* ---------------------------------------------------------------- file formats */
/* The one format sniffer: a file's container format by its first bytes (MM_SNIFF_BYTES give every answer,
 * 12 all but MPEG audio without an ID3 tag), for the media kind of a file (mmgpt_detect_kind), messages, and
 * model files. Images: the prefixes stb_image tests (PNG, JPEG, GIF8, BM, 8BPS, "#?" Radiance, P1-P6);
 * audio: RIFF/RIFX/RF64 + WAVE, fLaC, OggS, .snd, caff, FORM + AIFF/AIFC, ID3, or a valid MPEG audio frame
 * header followed, where the bytes reach it, by the next frame's (so that a UTF-16 text, FF FE ..., is not
 * taken for MP3). TGA has no magic: UNKNOWN. */
#define MM_SNIFF_BYTES 4096   /* > the longest MPEG audio frame (2881 bytes) + the next header */
typedef enum {
    MM_FORMAT_UNKNOWN = 0, MM_FORMAT_GGUF,
    MM_FORMAT_PNG, MM_FORMAT_JPEG, MM_FORMAT_GIF, MM_FORMAT_BMP, MM_FORMAT_PSD, MM_FORMAT_HDR, MM_FORMAT_PNM,
    MM_FORMAT_WAV, MM_FORMAT_FLAC, MM_FORMAT_OGG, MM_FORMAT_AU, MM_FORMAT_CAF, MM_FORMAT_AIFF, MM_FORMAT_MP3,
} mm_format;
mm_format   mm_sniff(const void *data, size_t n);
const char *mm_format_name(mm_format f);   /* "PNG", "WAV", ...; "unknown" */
bool        mm_format_is_image(mm_format f);
bool        mm_format_is_audio(mm_format f);

/* ---------------------------------------------------------------- arena (activations) */
typedef struct {
    uint8_t *base;  /* [size] */
    size_t   size;
    size_t   used;
} mm_arena;
int   mm_arena_init(mm_arena *a, size_t bytes, char *err);
void *mm_arena_alloc(mm_arena *a, size_t bytes);  /* 64-byte aligned; NULL when it does not fit */
void  mm_arena_reset(mm_arena *a);
void  mm_arena_free(mm_arena *a);

/* ---------------------------------------------------------------- matrix products */
/* A weight matrix used as a linear layer y = W x + b: one type for the decoder, the encoders and the
 * projectors (also embedding tables, whose rows are read with mm_mat_row). Loaded from a GGUF by
 * mm_gguf_mat_load (mm_gguf.h); data == NULL means "absent" (an optional tensor). */
typedef struct {
    mm_type      type;  /* weight type */
    const void  *data;  /* [rows, cols] rows of mm_row_size(type, cols) bytes (GGUF ne [cols, rows]), borrowed */
    const float *b;     /* [rows] f32 bias, or NULL */
    int64_t      rows;  /* out features */
    int64_t      cols;  /* in features */
} mm_mat;
/* Row r of w as f32 (dequantized): an embedding row. */
void mm_mat_row(const mm_mat *w, int64_t r, float *out);
/* Y[n, rows] = X[n, cols] W^T + b: mm_linear (the fast path) and mm_linear_ref (the naive reference). */
void mm_mat_apply(const mm_mat *w, mm_pool *pool, int64_t n, const float *X, float *Y);
void mm_mat_apply_ref(const mm_mat *w, int64_t n, const float *X, float *Y);
/* y[rows] = W[rows, cols] . x[cols]  (one input row: token-by-token decode). */
void mm_matvec(mm_pool *pool, mm_type t, const void *W, int64_t rows, int64_t cols,
               const float *x, float *y);
/* Rows [r0, r1) of the same product (W and y point at row 0), on the calling thread only, as thread ith
 * of pool: for a task inside mm_pool_run that splits its own products (a decode step in one pool run).
 * Uses thread ith's kernel scratch (mm_kernels_reserve; else this OS thread's own buffer, grown once). */
void mm_matvec_rows(mm_pool *pool, int ith, mm_type t, const void *W, int64_t r0, int64_t r1, int64_t cols,
                    const float *x, float *y);
/* Reserve the kernels' per-thread scratch of pool (pool == NULL: the calling thread's) for mm_matvec,
 * mm_matvec_rows, mm_linear and mm_sgemm over inputs of up to max_cols columns, any number of rows: after
 * it these never allocate. Call outside mm_pool_run, e.g. when a state is created. 0 / -1 (out of memory). */
int  mm_kernels_reserve(mm_pool *pool, int64_t max_cols, char *err);
/* Naive reference (single thread, plain C, dequantize then dot in double): test oracle. */
void mm_matvec_ref(mm_type t, const void *W, int64_t rows, int64_t cols, const float *x, float *y);

/* One matrix times n vectors: y[j][rows] = W[rows, cols] . x[j][cols] for j < n (the decode step of n
 * sequences in one pass over the weights, core/matmul_multi.c). Each tile of weight rows is read from
 * memory once and multiplied with every vector by the level's row kernel while it is in cache, so y[j] is
 * bit-identical to mm_matvec_rows / mm_matvec on x[j] alone (the same per-row arithmetic, the same 8-bit
 * rounding of x for the quantized types), at every level and for every type (F32/F16/BF16 at avx2/avx512: one
 * pass over the rows for all the vectors of a group, each row's arithmetic that of the row kernel). Vectors are
 * taken MM_MATVEC_MULTI_GROUP at a time (one pass over the weights per group). _rows: rows [r0, r1) on the calling
 * thread as thread ith of pool (inside a task); scratch: the quantized vectors, reserved with
 * mm_kernels_reserve_multi (without it: one mm_matvec_rows per vector, the same results). */
#define MM_MATVEC_MULTI_GROUP 16
void mm_matvec_multi(mm_pool *pool, mm_type t, const void *W, int64_t rows, int64_t cols, int n,
                     const float *const *x, float *const *y);
void mm_matvec_multi_rows(mm_pool *pool, int ith, mm_type t, const void *W, int64_t r0, int64_t r1, int64_t cols,
                          int n, const float *const *x, float *const *y);
/* Inputs quantized once per product for all threads (the batched decode step, where every thread's share of a
 * matrix's rows would otherwise quantize all n inputs again; mm_matvec_multi does it itself). mm_multi_x holds n_max
 * vectors of up to max_cols columns (create outside the hot path; free: NULL is a no-op).
 * mm_matvec_multi_rows_shared is mm_matvec_multi_rows (the same bits) where the calls that pass the same mx and
 * key != 0 share vector j's quantized form: the first call that needs it quantizes it into mx on its own thread,
 * the others read it (one still being quantized by another thread is waited for briefly, then quantized again in
 * the caller's own scratch: the same function of the same x, the same bits). The caller promises that the calls
 * of one key have the same x[j] pointers, cols and contents, and that no call of an earlier key is still running
 * when a new key starts (a barrier between the phases that change x: e.g. key = step * phases + phase + 1). A
 * vector past n_max or a row wider than max_cols is quantized by each call (as mx == NULL or key == 0). */
typedef struct mm_multi_x mm_multi_x;
mm_multi_x *mm_multi_x_create(int64_t max_cols, int n_max, char *err);
void mm_multi_x_free(mm_multi_x *mx);
void mm_matvec_multi_rows_shared(mm_pool *pool, int ith, mm_type t, const void *W, int64_t r0, int64_t r1,
                                 int64_t cols, int n, const float *const *x, float *const *y, mm_multi_x *mx,
                                 uint64_t key);
/* mm_kernels_reserve, plus scratch for n_max vectors (capped at MM_MATVEC_MULTI_GROUP) of max_cols columns
 * per thread: mm_matvec_multi(_rows) with n <= n_max then never allocates. */
int  mm_kernels_reserve_multi(mm_pool *pool, int64_t max_cols, int n_max, char *err);
size_t mm_matvec_multi_scratch_bytes(int64_t cols, int n);
/* Naive reference: mm_matvec_ref on each vector. */
void mm_matvec_multi_ref(mm_type t, const void *W, int64_t rows, int64_t cols, int n, const float *const *x,
                         float *const *y);

/* Linear layer over n input rows: Y[n, rows] = X[n, cols] . W[rows, cols]^T + bias[rows] (bias may be NULL):
 * THE entry for "y = W x for n positions" (the decoder's prefill, the encoders, the projectors; mm_mat_apply
 * on an mm_mat). It chooses the kernel by type and n, the one rule for every caller:
 *   - n == 1: mm_matvec;
 *   - F16 / BF16 with n <= MM_MATVEC_MULTI_GROUP: one pass of mm_matvec_multi (the gemm's dequantization of
 *     every weight tile costs more than a few rows; x stays f32, so row i equals mm_matvec on row i alone bit
 *     for bit, and differs from the gemm's in the last bits only);
 *   - else the gemm (see "Kernels and levels": the int8 gemm for Q4_0/Q4_K, the own AVX-512 gemm, or OpenBLAS
 *     over dequantized weight tiles). Quantized types keep the gemm also for a few rows: their matvec rounds x
 *     to 8 bits, which would make a decoder's cache depend on how a prompt was split into steps.
 * Scratch: mm_kernels_reserve covers every case (the F16/BF16 matvec pass needs none). */
void mm_linear(mm_pool *pool, mm_type t, const void *W, const float *bias,
               int64_t rows, int64_t cols, int64_t n, const float *X, float *Y);
void mm_linear_ref(mm_type t, const void *W, const float *bias,
                   int64_t rows, int64_t cols, int64_t n, const float *X, float *Y);

/* Plain f32 C[m,n] = alpha * A[m,k] . B (B is [k,n], or [n,k] when transB) + beta*C, row-major, leading
 * dimensions given. Used for attention scores/values. Runs OpenBLAS with the pool's thread count. */
void mm_sgemm(mm_pool *pool, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* Kernel levels (see "Kernels and levels" above). The level is chosen once per process, at the first
 * kernel call: the best one the CPU (and the build) can run, or a lower one that MMGPT_KERNEL names. */
typedef enum { MM_KERNEL_GENERIC = 0, MM_KERNEL_AVX2 = 1, MM_KERNEL_AVX512 = 2 } mm_kernel_level;
mm_kernel_level mm_cpu_kernel_level(void);  /* the level in use */
const char *mm_cpu_kernel_name(void);       /* its name: "avx512", "avx2", or "generic" */
/* What keeps the level called `name` from running in this process: NULL when it can run (always for
 * "generic"), else a text naming what is missing, e.g. "avx512vnni" or "not compiled in"; for a name
 * that is no level, "unknown level (...)". Tests that force a level use it to say why they skip. */
const char *mm_cpu_kernel_missing(const char *name);

/* ---------------------------------------------------------------- elementwise ops (one row) */
void  mm_layernorm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps);
void  mm_gelu_tanh(float *x, int64_t n);   /* 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) - GPT-2 */
void  mm_gelu_erf(float *x, int64_t n);    /* 0.5x(1+erf(x/sqrt 2)) */
void  mm_quick_gelu(float *x, int64_t n);  /* x*sigmoid(1.702x) - CLIP */
void  mm_softmax(float *x, int64_t n);     /* in place, subtracts the max; a row of all -inf gives all 0 */
void  mm_add(float *y, const float *a, const float *b, int64_t n); /* y = a + b (y may alias) */
void  mm_scale(float *x, float s, int64_t n);
/* argmax: the lowest index of the largest value (NaNs are skipped unless x[0] is NaN, then 0; n <= 1 gives 0;
 * n < 2^31). Greedy sampling and the batched decode's pick run it on every sequence's logits each step. */
int32_t mm_argmax(const float *x, int64_t n);

/* ---------------------------------------------------------------- .npy files (float32, C order) */
/* Write a little-endian float32 array of the given shape (ndim <= 4). */
int mm_npy_write(const char *path, const float *data, int ndim, const int64_t *shape, char *err);
/* Read a float32 little-endian C-order .npy; *data is malloc'd (caller frees). The file is hostile:
 * header must be a numpy dict with exactly descr '<f4', fortran_order False and a shape of 0..4
 * non-negative dims (versions 1.0-3.0), and the data size must match the file exactly. */
int mm_npy_read(const char *path, float **data, int *ndim, int64_t shape[4], char *err);

/* ---------------------------------------------------------------- files */
/* What path names: MM_PATH_FILE (a regular file: seekable, its size known) or MM_PATH_STREAM (a pipe, a
 * terminal or a socket, e.g. /dev/stdin under `cat x | mmgpt ...`: readable once, front to back). Else -1
 * with "path: is a directory, not a file", "path: No such file or directory", ... */
enum { MM_PATH_FILE = 1, MM_PATH_STREAM = 2 };
int mm_path_kind(const char *path, char *err);
/* The most bytes read whole from one input: 1 GiB. Pictures and sounds read whole (a picture file; a pipe
 * such as stdin; the media cache's key) have the cap of their kind, by their first bytes (mm_sniff), the same
 * for a file and a pipe (mm_read_media):
 *   MM_READ_MAX_IMAGE  576 MiB: the largest picture mm_image.h decodes (MM_IMAGE_MAX_PIXELS = 64 Mpx) in the
 *                      least compact samples a format stores (16-bit RGBA, 8 bytes a pixel) + 64 MiB of headers
 *                      and framing (encoders/image.c checks the sum);
 *   MM_READ_MAX_AUDIO  1 GiB: a sound read whole (a file on disk is decoded as it is read instead, up to the
 *                      clip length limit, mm_audio.h's max_seconds); a 600 s clip of 8 channels at 48 kHz in
 *                      32-bit samples is 0.92 GB;
 *   anything else      MM_READ_MAX (the decoders tell what it is not). */
#define MM_READ_MAX ((size_t)1 << 30)
#define MM_READ_MAX_IMAGE ((size_t)576 << 20)
#define MM_READ_MAX_AUDIO MM_READ_MAX
/* Read a whole file or stream into memory: *data is malloc'd (*size bytes, then a NUL byte not counted;
 * free it). More than cap bytes -> -1 after holding at most cap + 1 bytes (a file's size is checked before
 * reading): "PATH: more than CAP bytes (M MiB) of input, over the limit ..."; a directory -> -1 "is a
 * directory". mm_read_media: the same with the cap of the input's kind (above), the message naming it. */
int mm_read_file(const char *path, size_t cap, void **data, size_t *size, char *err);
int mm_read_media(const char *path, void **data, size_t *size, char *err);
/* ---------------------------------------------------------------- UTF-8
 * Well-formed UTF-8 as Unicode defines it (Table 3-7: no overlongs, no surrogates, nothing above
 * U+10FFFF). Ill-formed bytes are replaced by U+FFFD one "maximal subpart" at a time (Unicode 3.9: the
 * longest start of a well-formed sequence, or else one byte), which is what Python's
 * bytes.decode("utf-8", "replace") and the WHATWG decoder do. Used wherever text leaves the program. */
#define MM_UTF8_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */
/* The sequence at data[0..n): > 0 a well-formed character of that many bytes; -k (k >= 1) an ill-formed
 * maximal subpart of k bytes (one U+FFFD replaces it); 0 a proper start of a character, cut by n (a later
 * byte may complete it), or n == 0. */
int    mm_utf8_next(const void *data, size_t n);
/* True when data[0..n) is well-formed UTF-8 (complete characters only). */
bool   mm_utf8_valid(const void *data, size_t n);
/* Write data[0..n) into out with every ill-formed maximal subpart, an incomplete character at the end,
 * and U+0000 (so the result is a whole C string) replaced by U+FFFD; out needs 3 * n + 1 bytes;
 * NUL-terminated; returns the bytes written. */
size_t mm_utf8_sanitize_into(const void *data, size_t n, char *out);
/* The same into a malloc'd buffer (NULL if out of memory); *out_len (may be NULL) = bytes without NUL. */
char  *mm_utf8_sanitize(const void *data, size_t n, size_t *out_len);

/* ---------------------------------------------------------------- misc */
double mm_time_ms(void);  /* monotonic clock in milliseconds */

MM_API_END

#ifdef __cplusplus
}
#endif
#endif /* MM_CORE_H */
