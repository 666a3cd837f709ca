/* mm_image.h - image encoder: decode a picture, preprocess it for a ViT, encode it (CLIP/llama.cpp mmproj).
 *
 * Three stages, each usable and testable alone:
 *
 *   1. Decode   mm_image_load_file / mm_image_load_memory
 *      Any format stb_image reads (JPEG, PNG, BMP, GIF first frame, TGA, PSD, HDR, PNM). The header is
 *      inspected first (stbi_info_from_memory) and images over MM_IMAGE_MAX_SIDE px a side or
 *      MM_IMAGE_MAX_PIXELS pixels are rejected before any pixel is decoded. Result: the decoded samples as
 *      they are (mm_image: 8 or 16 bits, the file's 1 to 4 channels: grey, grey+alpha, RGB, RGBA; palettes
 *      expanded by stb_image), so a picture costs its 8-bit size (twice that for 16-bit files), never a
 *      full-size float copy. mm_image_get_rgb gives any block of it as float RGB in [0, 1]:
 *        - grey is expanded to RGB;
 *        - 8-bit samples v -> v / 255, 16-bit samples v -> v / 65535 (no rounding to 8 bits);
 *        - HDR (Radiance .hdr, linear radiance) is tone-mapped by stb_image while decoding to 8 bits:
 *          round(255 * clamp(x^(1/2.2), 0, 1)) (its default HDR -> LDR mapping), then v / 255 as above;
 *        - alpha is composited onto WHITE: rgb' = a*rgb + (1 - a)*1 (a transparent picture looks as it does
 *          on a web page). No ICC/gamma chunk is applied.
 *      EXIF orientation (JPEG APP1 "Exif", tag 0x0112, values 2..8) is applied while loading, as PIL's
 *      ImageOps.exif_transpose does: w, h and the samples are those of the upright picture (a phone photo
 *      stays upright; mm_image.orientation says which was applied; a missing or unreadable tag is 1).
 *      Memory (measured, tests/image/test_img_memory.py): the decoder's own buffers (a JPEG's component
 *      planes, an HDR's float scanlines: 12 bytes a pixel while stb_image decodes it) and the samples, then
 *      preprocessing adds strips of 8 MiB and an intermediate of short side x S floats.
 *      Empty, truncated, corrupt, unknown or oversized input -> -1 with a clear message, never a crash.
 *      mm_image_load_file reads the whole file (at most MM_READ_MAX_IMAGE = 576 MiB, mm_core.h: the largest
 *      picture below at 8 bytes a pixel + 64 MiB), also from a pipe or terminal
 *      (/dev/stdin); a directory is refused as one ("is a directory, not a file").
 *
 *   2. Preprocess   mm_image_preprocess(img, params, out[3][S][S])
 *      Produces the normalised channel-first pixel tensor a ViT reads: out[c][y][x] = (v - mean[c]) / std[c]
 *      with v the resampled value in [0, 1]. Resampling is stb_image_resize in LINEAR colour space (no sRGB
 *      decoding), float pipeline (the samples converted by mm_image_get_rgb a strip at a time; the long axis
 *      is resampled first, then the other: separable, the same result as one 2-D pass up to float
 *      rounding), filter STBIR_FILTER_CATMULLROM on both axes (the Keys cubic with a = -0.5,
 *      i.e. PIL's BICUBIC that CLIP/LLaVA use; on downsampling its support is widened by the scale factor, an
 *      antialiased resize like PIL's). Modes (mmgpt.vision.resize_mode):
 *        MM_RESIZE_SQUASH  resize w x h -> S x S directly (aspect not kept); edges clamped.
 *        MM_RESIZE_PAD     LLaVA "expand2square": the picture is centred on a square canvas of side
 *                          M = max(w, h) filled with the mean colour (offsets (M-w)/2, (M-h)/2 rounded
 *                          down), then the canvas is resized M x M -> S x S. Computed without building the
 *                          canvas: the picture is resampled along its long axis, then along the short one
 *                          inside a mean-filled strip as wide as the filter reaches (same result).
 *        MM_RESIZE_CROP    CLIP: resize so the shorter side is S, the longer L*S/short truncated to an
 *                          integer (torchvision Resize), then a centred S x S crop with offset
 *                          round_half_even((L' - S) / 2) (torchvision CenterCrop). Computed directly as an
 *                          S x S resample with that scale and offset (no huge intermediate); edges clamped.
 *      mm_image_preproc_default() gives S = 224, CLIP mean/std, MM_RESIZE_CROP.
 *
 *   2b. Model processors   mm_image_process(img, params, tiles)   (encoders/image_proc.c)
 *      The image processors of published models, step for step as their Python processors run them with
 *      PIL (sources of each step: docs/IMAGE_PROCESSORS.md). The picture stays 8-bit until the last resize:
 *      mm_image_to_rgb8 as PIL's convert gives it (16-bit samples -> high byte; alpha dropped or composited
 *      on white per processor), mm_image_resize_rgb8 = PIL's Image.resize, bit-exact (8-bit separable
 *      passes with 22-bit fixed-point weights, horizontal first, support widened when shrinking).
 *        MM_IMGPROC_PLAIN     mm_image_preprocess with params.mode (the bundled model; one image).
 *        MM_IMGPROC_LLAVA     LLaVA-1.5 (image_aspect_ratio "pad"): alpha dropped, the picture centred on a
 *                             max(w, h) square of colour (int)(mean * 255) (llava's expand2square), PIL
 *                             bicubic to S x S (CLIPImageProcessor: shortest edge S, centre crop S: a no-op on
 *                             the square); one image. The canvas is never built (memory: S x max(w, h) bytes).
 *        MM_IMGPROC_IDEFICS3  SmolVLM / Idefics3: alpha composited on white; Lanczos resize of the longest
 *                             edge to L (params.longest_edge, default 4 S; the other side int(L / ratio)
 *                             rounded up to even; both capped at 4096 as transformers does), then both sides
 *                             up to multiples of S (Lanczos again unless already there), cut into S x S tiles
 *                             (n_rows x n_cols, row-major) and the whole picture resized to S x S (the global
 *                             image, last). A picture that fits one tile gives 0 x 0 tiles and the global
 *                             image only. params.max_tiles > 0 lowers L a step of S at a time until
 *                             n_rows * n_cols <= max_tiles.
 *      Output: normalised float [n_images][3][S][S], as transformers computes it: (float)(v * (1/255)), then
 *      (x - mean) / std in float. Parity (tests/image/test_img_proc.py, PIL 9.4): every step and both
 *      processors exact on the same 8-bit input; JPEG decoding itself (stb_image vs libjpeg) differs by a few
 *      levels. Caps: S <= 2048, longest_edge <= 65536 (then 4096 as transformers), intermediates <=
 *      MM_IMAGE_PROC_MAX_SIDE a side, the output <= MM_IMAGE_PROC_MAX_BYTES; over a cap -> -1 with a message.
 *
 *   3. Encode   mm_vit_model_load (read-only model, from an open GGUF handle) + mm_vit_state_create (scratch)
 *      + mm_vit_encode(state, pixels[3][S][S], out[n_tokens][d_enc]).
 *      Keys: clip.vision.{image_size, patch_size, embedding_length, feed_forward_length, block_count,
 *      attention.head_count, attention.layer_norm_epsilon, image_mean, image_std}; the MLP activation as
 *      llama.cpp's clip.cpp reads it: clip.use_gelu true = GELU, else clip.use_silu true = SiLU, else
 *      quick-GELU x*sigmoid(1.702x); the GELU is the tanh form when clip.projector_type is "idefics3"
 *      (SigLIP's gelu_pytorch_tanh, llama.cpp's ggml_gelu) and the erf form otherwise (HF CLIP "gelu", mmgpt's
 *      own models), mmgpt.vision.gelu = "erf" | "tanh" overrides; mmgpt.vision.resize_mode ("squash" | "pad" |
 *      "crop"; default: pad for clip.projector_type mlp/ldp/ldpv2 (LLaVA), squash for idefics3 (the global
 *      image), crop otherwise), mmgpt.vision.feature_layer (default -1) or llama.cpp's clip.vision.feature_layer
 *      (an int32 array of one value k in [0, block_count]: k blocks run, then v.post_ln when the file has it,
 *      as llama.cpp does; several values - Granite's stacked features - are refused; both keys: refused).
 *      A file with clip.vision.image_grid_pinpoints (LLaVA-NeXT any-resolution) is refused.
 *      llama.cpp mmproj files of LLaVA-1.5 (CLIP ViT-L/14-336) and SmolVLM (SigLIP-B/16-512) load as they are:
 *      block_count is what runs (LLaVA's converter already dropped the last layer), and blocks whose first
 *      FFN matrix is named ffn_down (older converters) are recognised by shape (encoders/enc_blocks.h).
 *      docs/ARCHITECTURE.md lists the keys and sizes of both files. Tensors: v.patch_embd.weight (ne [p, p, 3, d], i.e. torch conv
 *      weight [d, 3, p, p]), v.patch_embd.bias [d] (optional), v.class_embd [d] (optional),
 *      v.position_embd.weight (ne [d, n_pos], n_pos = n_patches + has_cls; any computable type),
 *      v.pre_ln.{weight,bias} (optional),
 *      v.blk.N.{ln1, attn_q, attn_k, attn_v, attn_out, ln2, ffn_up, ffn_down}.{weight, bias},
 *      v.post_ln.{weight,bias} (optional). Matrices may be f32, f16, q8_0 or q4_0 (the patch
 *      embedding only where 3*p*p fits the block size); 1-D vectors must be f32.
 *      Forward: patches (im2col + sgemm) [+ CLS first] + positions -> pre_ln -> blocks 1..L -> post_ln.
 *      Feature layer k (Hugging Face hidden_states[k] numbering): k >= 0 runs k blocks (0 = embeddings
 *      only), k < 0 runs n_layer + 1 + k blocks (-1 = all, -2 = LLaVA's penultimate layer). v.post_ln is
 *      applied only when all blocks run, or after the k blocks of clip.vision.feature_layer (as llama.cpp's
 *      clip). The output keeps every token: the CLS token
 *      (when the model has one) is row 0, then patches in row-major order (n_tokens = (S/p)^2 + has_cls);
 *      drop row 0 yourself if your projector expects patches only (mm_vit_has_cls()).
 *
 * Threads: the state is created with an mm_pool (NULL = caller thread only); the pool must outlive the
 * state. One state per concurrent encode; the model may be shared by several states.
 * Errors follow mm_core.h: 0 / -1 with "func: message" in err (MM_ERR_SIZE bytes, may be NULL).
 */
#ifndef MM_IMAGE_H
#define MM_IMAGE_H

#include "mm_core.h"
#include "mm_gguf.h"

#ifdef __cplusplus
extern "C" {
#endif
MM_API_BEGIN  /* every declaration below is exported from libmmgpt.so (mm_api.h) */

#define MM_IMAGE_MAX_SIDE   16384                 /* px, either side */
#define MM_IMAGE_MAX_PIXELS (64ll * 1024 * 1024)  /* w * h */

/* ---------------------------------------------------------------- decoded picture */
typedef struct {
    int   w, h;      /* pixels, 1..MM_IMAGE_MAX_SIDE */
    int   channels;  /* 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (alpha not yet composited) */
    int   bits;      /* 8 (uint8_t samples) or 16 (uint16_t, host byte order) */
    void *pixels;    /* [h][w][channels] samples, owned (mm_image_free) */
    int   orientation; /* JPEG EXIF orientation (1..8) that was applied to make the samples upright */
} mm_image;

/* name is used in error messages only (may be NULL). On failure *img is zeroed. */
int  mm_image_load_file(const char *path, mm_image *img, char *err);
int  mm_image_load_memory(const void *data, size_t size, const char *name, mm_image *img, char *err);
void mm_image_free(mm_image *img);  /* frees the pixels, zeroes the struct; NULL-safe */
/* Pixels [y0, y0 + n_rows) x [x0, x0 + n_cols) as float RGB in [0, 1] (conversions above, alpha over white):
 * out [n_rows][n_cols][3]. The block must lie inside the picture. */
void mm_image_get_rgb(const mm_image *img, int x0, int y0, int n_cols, int n_rows, float *out);

/* ---------------------------------------------------------------- preprocessing */
typedef enum {
    MM_RESIZE_SQUASH = 0,
    MM_RESIZE_PAD    = 1,
    MM_RESIZE_CROP   = 2,
} mm_resize_mode;

typedef struct {
    int            image_size;  /* S: output is S x S (1..4096) */
    float          mean[3];     /* per channel, in [0, 1] units */
    float          std[3];      /* per channel, > 0 */
    mm_resize_mode mode;
} mm_image_preproc;

mm_image_preproc mm_image_preproc_default(void);
/* "squash" | "pad" | "crop" -> mode; -1 if unknown. And back ("?" if invalid). */
int         mm_resize_mode_from_name(const char *name, size_t len);
const char *mm_resize_mode_name(mm_resize_mode mode);
/* out: [3][S][S] floats (caller buffer). Allocates temporary resampler memory (not a forward pass). */
int mm_image_preprocess(const mm_image *img, const mm_image_preproc *pp, float *out, char *err);

/* ---------------------------------------------------------------- model processors (PIL-exact, 8-bit) */
/* PIL's resampling filters (Image.Resampling.BILINEAR = 2, BICUBIC = 3, LANCZOS = 1). */
typedef enum { MM_RESAMPLE_BILINEAR = 0, MM_RESAMPLE_BICUBIC, MM_RESAMPLE_LANCZOS } mm_resample_filter;
/* How alpha is removed when a picture becomes 8-bit RGB: */
typedef enum {
    MM_ALPHA_DROP = 0,   /* PIL img.convert("RGB"): colour kept, alpha ignored (CLIP / LLaVA processors) */
    MM_ALPHA_WHITE,      /* PIL alpha_composite onto opaque white, then "RGB" (Idefics2/3 convert_to_rgb) */
} mm_alpha_mode;

/* The picture as 8-bit RGB, as PIL's convert gives it: grey replicated, 16-bit samples -> v >> 8 (PIL's
 * "RGB;16B" / "RGBA;16B" / "LA;16B" unpackers keep the high byte), alpha per mode. out [h][w][3]. */
int mm_image_to_rgb8(const mm_image *img, mm_alpha_mode alpha, uint8_t *out, char *err);
/* PIL Image.resize(resample=filter) of an 8-bit RGB picture, bit-exact: src [h][w][3] -> dst [oh][ow][3].
 * Sizes 1..MM_IMAGE_PROC_MAX_SIDE; a same-size call copies (as PIL). */
int mm_image_resize_rgb8(const uint8_t *src, int w, int h, uint8_t *dst, int ow, int oh, mm_resample_filter filter,
                         char *err);

#define MM_IMAGE_PROC_MAX_SIDE   8192                  /* px: any intermediate or output side */
#define MM_IMAGE_PROC_MAX_BYTES  (256ll * 1024 * 1024) /* the float output of one mm_image_process */

typedef enum {
    MM_IMGPROC_PLAIN = 0, /* mmgpt's own (bundled model): mm_image_preprocess with `mode` */
    MM_IMGPROC_LLAVA,     /* pad to square with the mean colour, bicubic to S, CLIP mean/std */
    MM_IMGPROC_IDEFICS3   /* SmolVLM: longest edge -> N*S, tiles SxS + one global SxS image */
} mm_image_proc_kind;
typedef struct {
    mm_image_proc_kind kind;
    int   size;          /* S: tile / image side (clip.vision.image_size), 1..2048 */
    float mean[3], std[3];
    int   longest_edge;  /* idefics3: target of the longest edge before tiling; 0 = processor default (4*S) */
    int   max_tiles;     /* 0 = the processor's default; else cap on rows*cols (longest edge lowered) */
    mm_resize_mode mode; /* plain only: squash | pad | crop */
} mm_image_proc_params;
typedef struct {
    int    n_rows, n_cols;  /* tile grid; 0, 0 = no tiles (only the global / single image) */
    int    n_images;        /* n_rows*n_cols tiles, row-major, then the global image last */
    int    size;            /* S */
    float *pixels;          /* [n_images][3][S][S], normalized, malloc'd */
} mm_image_tiles;
/* PLAIN: mm_image_preproc_default(); LLAVA: S = 336, CLIP mean/std; IDEFICS3: S = 512, longest edge 2048,
 * mean = std = 0.5 (SmolVLM-256M/500M preprocessor_config.json). */
mm_image_proc_params mm_image_proc_default_params(mm_image_proc_kind kind);
/* Tile grid the processor would use for a w x h picture (no pixels touched): rows, cols (0, 0 = none). */
int  mm_image_proc_grid(int w, int h, const mm_image_proc_params *p, int *n_rows, int *n_cols, char *err);
/* On failure *out is zeroed. */
int  mm_image_process(const mm_image *img, const mm_image_proc_params *p, mm_image_tiles *out, char *err);
void mm_image_tiles_free(mm_image_tiles *t);

/* ---------------------------------------------------------------- ViT encoder */
typedef struct mm_vit_model mm_vit_model;  /* read-only weights (point into the GGUF mapping) */
typedef struct mm_vit_state mm_vit_state;  /* scratch of one encode */

/* The processor of a llama.cpp mmproj's family: clip.projector_type "mlp" -> MM_IMGPROC_LLAVA, "idefics3" ->
 * MM_IMGPROC_IDEFICS3 (longest edge clip.vision.preproc_image_size when present), with the tower's S, mean
 * and std; mmgpt's own files (any mmgpt.vision.resize_mode / feature_layer key) and every other type ->
 * MM_IMGPROC_PLAIN with the tower's mm_vit_preproc (size, mean, std, resize mode: the bundled model's path). */
mm_image_proc_params mm_image_proc_for_model(const mm_gguf *g, const mm_vit_model *vit);

/* The patch grid of g's vision tower, computed here only: clip.vision.image_size S and patch_size p (each in
 * [1, 4096], p dividing S) -> S / p patches a side (S, p returned when non-NULL); -1 with err otherwise. */
int64_t mm_vit_patch_grid(const mm_gguf *g, int64_t *image_size, int64_t *patch_size, char *err);

/* The GGUF handle must stay open while the model is used. */
mm_vit_model *mm_vit_model_load(const mm_gguf *g, char *err);
void          mm_vit_model_free(mm_vit_model *m);

int  mm_vit_n_tokens(const mm_vit_model *m);    /* rows of the output: (S/p)^2 + has_cls */
int  mm_vit_d_enc(const mm_vit_model *m);       /* clip.vision.embedding_length */
int  mm_vit_image_size(const mm_vit_model *m);  /* S */
int  mm_vit_patch_size(const mm_vit_model *m);  /* p */
bool mm_vit_has_cls(const mm_vit_model *m);
int  mm_vit_n_layers_run(const mm_vit_model *m);/* blocks run for the feature layer (0..n_layer) */
/* The preprocessing the model asks for (image_size, mean, std, resize mode). */
mm_image_preproc mm_vit_preproc(const mm_vit_model *m);

mm_vit_state *mm_vit_state_create(const mm_vit_model *m, mm_pool *pool, char *err);
void          mm_vit_state_free(mm_vit_state *s);

/* pixels [3][S][S] (normalised, as mm_image_preprocess writes) -> out [n_tokens][d_enc]. Never allocates.
 * An output that is not finite returns MM_ERR_NONFINITE ("image encoder output row R is not finite ...":
 * NaN/Inf in the v.* weights, or overflow) - a model error; loading reads only the small tensors. */
int mm_vit_encode(mm_vit_state *s, const float *pixels, float *out, char *err);
/* Convenience: preprocess with mm_vit_preproc(model) then encode. pixels_out ([3][S][S]) may be NULL. */
int mm_vit_encode_image(mm_vit_state *s, const mm_image *img, float *pixels_out, float *out, char *err);

MM_API_END

#ifdef __cplusplus
}
#endif
#endif /* MM_IMAGE_H */
