/* mm_fusion.h - fusion internals: prompt template, <__media__> prompt assembly, projectors.
 *
 * Most programs use the product API in mmgpt.h, which is built on this header. This lower level is
 * public for tools and tests that need one step at a time.
 *
 * Prompt template (GGUF keys, all optional strings; the defaults are in brackets)
 *   mmgpt.prompt.system_prefix     ["System: "]     text before a system prompt
 *   mmgpt.prompt.system_suffix     ["\n"]           text after a system prompt
 *   mmgpt.prompt.user_prefix       ["User: "]       text before each user turn
 *   mmgpt.prompt.user_suffix       ["\n"]           text after each user turn
 *   mmgpt.prompt.assistant_prefix  ["Assistant:"]   text after which the model answers
 *   mmgpt.prompt.caption           ["<__media__>\nDescribe this image."]   `mmgpt caption` user text
 *   mmgpt.prompt.describe          ["<__media__>\nDescribe this sound."]   `mmgpt describe` user text
 *   mmgpt.prompt.ask               ["<__media__>\n{question}"]             `mmgpt ask` user text
 *   mmgpt.prompt.default_system    [none]           system prompt used when the caller gives none
 *   mmgpt.prompt.image_begin / image_end / audio_begin / audio_end   [""]  text wrapped around the
 *                                   embedding rows of each image / clip (e.g. "<img>" and "</img>")
 * The model answers with " " + text + <|endoftext|>; the leading space is trimmed from the output.
 *
 * One turn is assembled as the string
 *   [system_prefix SYSTEM system_suffix]  user_prefix USER_TEXT user_suffix assistant_prefix
 * (the system block only at the start of a conversation and only when a system prompt is set), where
 * every `<__media__>` marker in USER_TEXT stands for the next image or clip, in the order they were
 * added: the n-th marker is replaced by image_begin/audio_begin + the n-th media's projected rows +
 * image_end/audio_end. USER_TEXT without any marker gets one "<__media__>\n" per media in front of it
 * (media before the text). A marker count other than the media count is an error. The text between
 * two media is tokenized as one piece (plain text: `<|endoftext|>` in it is ordinary text).
 * USER_TEXT is made of parts (mm_prompt_build_parts): prompt parts, whose markers are media slots (the
 * consecutive ones joined first, so a marker may be split over two of them), and literal parts (free
 * text: a question, a chat line), whose `<__media__>` is ordinary text. SYSTEM is always literal. A
 * marker in a template string (system_prefix, system_suffix, user_prefix, user_suffix,
 * assistant_prefix) is an error.
 * A "raw" turn (mmgpt logits / generate) is USER_TEXT alone, with no template around it.
 *
 * Projectors (tensor names as llama.cpp mmproj files; weights F32/F16/Q8_0/Q4_0, biases F32/F16)
 *   image, clip.projector_type = "linear":  y = mm.0 x
 *   image, clip.projector_type = "mlp":     y = mm.2 GELU(mm.0 x)                 (LLaVA-1.5)
 *   image, clip.projector_type = "idefics3": y = mm.model.fc x                    (Idefics3 / SmolVLM)
 *   image, clip.vision.projector.scale_factor = s > 1 (any of the three types): before the projector,
 *          each s x s block of the g x g patch grid becomes one row of width s*s*d ("pixel shuffle",
 *          as llama.cpp and Idefics3 do it): out row (I, J), I-major, holds patches (I*s + di, J*s + dj)
 *          at columns (di*s + dj)*d .. +d. g^2 patches become (g/s)^2 decoder positions; s must divide
 *          g = clip.vision.image_size / clip.vision.patch_size.
 *   audio: stack k = clip.audio.projector.stack_factor consecutive encoder frames into one row of
 *          width k*d (the last row zero-padded when the frame count is not a multiple of k), then
 *          y = mm.a.mlp.2 GELU(mm.a.mlp.1 x). n frames become ceil(n / k) decoder positions.
 *   GELU here is the exact erf form 0.5x(1 + erf(x / sqrt 2)) (torch.nn.GELU()).
 *   Every projector must output the decoder's d_model, else the load fails with
 *   "this mmproj does not fit this model: projector outputs N, decoder d_model is M".
 */
#ifndef MM_FUSION_H
#define MM_FUSION_H

#include "mm_core.h"
#include "mm_gguf.h"

#ifdef __cplusplus
extern "C" {
#endif
MM_API_BEGIN  /* every declaration below is exported from libmmgpt.so (mm_api.h) */

#define MM_MEDIA_MARKER "<__media__>"

typedef enum { MM_MEDIA_IMAGE = 0, MM_MEDIA_AUDIO = 1 } mm_media_kind;

/* ---------------------------------------------------------------- prompt template */
typedef struct {
    char *system_prefix, *system_suffix;
    char *user_prefix, *user_suffix;
    char *assistant_prefix;
    char *caption, *describe, *ask;        /* task user texts; ask holds "{question}" */
    char *default_system;                  /* NULL when the model has none */
    char *image_begin, *image_end, *audio_begin, *audio_end;
} mm_prompt_template;

/* Defaults above, overridden by the keys present in g (g may be NULL). Values are copies. */
int  mm_prompt_template_load(mm_prompt_template *t, const mm_gguf *g, char *err);
void mm_prompt_template_free(mm_prompt_template *t);

typedef enum { MM_TASK_CAPTION = 0, MM_TASK_DESCRIBE = 1, MM_TASK_ASK = 2 } mm_task;
/* The user text of a task (malloc'd): caption / describe / ask with {question} replaced. */
char *mm_prompt_task_text(const mm_prompt_template *t, mm_task task, const char *question);

/* ---------------------------------------------------------------- prompt assembly */
typedef enum { MM_SEG_TEXT = 0, MM_SEG_MEDIA = 1 } mm_seg_kind;
typedef struct {
    mm_seg_kind kind;
    char       *text;   /* MM_SEG_TEXT: the text to tokenize as one piece (never empty) */
    int         media;  /* MM_SEG_MEDIA: index into the turn's media list */
} mm_prompt_seg;

typedef struct {
    mm_prompt_seg *segs;  /* [n_segs] alternating text / media, in order */
    int            n_segs;
} mm_prompt;

/* Count the <__media__> markers in text. */
int mm_prompt_count_markers(const char *text);

/* One piece of USER_TEXT: prompt text (literal = false: <__media__> places the next media) or literal
 * text (literal = true: all of it is text). NULL or "" text is skipped. */
typedef struct {
    const char *text;
    bool        literal;
} mm_prompt_part;

/* Assemble one turn (see the top comment) from USER_TEXT = parts[0] + parts[1] + ... system: NULL or
 * "" = no system block; raw: USER_TEXT alone. media_kinds[n_media] chooses the begin/end wrappers.
 * Returns 0, or -1 with err set on a marker/media count mismatch, a marker in the template, or out of
 * memory. */
int  mm_prompt_build_parts(const mm_prompt_template *t, const char *system, const mm_prompt_part *parts,
                           int n_parts, const mm_media_kind *media_kinds, int n_media, bool raw,
                           mm_prompt *out, char *err);
/* The same with USER_TEXT = user_text, one prompt part. */
int  mm_prompt_build(const mm_prompt_template *t, const char *system, const char *user_text,
                     const mm_media_kind *media_kinds, int n_media, bool raw, mm_prompt *out,
                     char *err);
void mm_prompt_free(mm_prompt *p);

/* ---------------------------------------------------------------- projectors */
typedef struct {
    mm_type      type;  /* weight type */
    const void  *w;     /* [rows, cols] in the file mapping (GGUF ne = [cols, rows]) */
    float       *b;     /* [rows] f32 copy, or NULL */
    int64_t      rows, cols;
} mm_proj_linear;

typedef struct {
    bool           present;
    bool           mlp;          /* image: false = linear (mm.0 / mm.model.fc), true = mlp (mm.0 -> GELU -> mm.2) */
    int            stack;        /* audio: frames stacked per row (k >= 1); image: 1 */
    int            merge;        /* image: pixel-shuffle factor s (1 = none); audio: 1 */
    int64_t        grid;         /* image with merge > 1: patches per side g (g % s == 0); else 0 */
    int64_t        d_in;         /* encoder width */
    int64_t        d_out;        /* = decoder d_model */
    mm_proj_linear l1;           /* image: mm.0 / mm.model.fc [d_mid or d_out, merge^2*d_in];
                                    audio: mm.a.mlp.1 [d_mid, stack*d_in] */
    mm_proj_linear l2;           /* image mlp: mm.2;  audio: mm.a.mlp.2  [d_out, d_mid] */
} mm_projector;

/* Load the image (kind = MM_MEDIA_IMAGE) or audio projector from g. d_in: the encoder's output width;
 * d_model: the decoder's. Missing tensors or shapes that do not chain are errors. */
int  mm_projector_load(mm_projector *p, const mm_gguf *g, mm_media_kind kind, int64_t d_in,
                       int64_t d_model, char *err);
void mm_projector_free(mm_projector *p);
/* Rows out for n encoder rows: n / merge^2 (image; n = grid^2 when merge > 1) or ceil(n / stack) (audio). */
int64_t mm_projector_n_out(const mm_projector *p, int64_t n);
/* Bytes of scratch mm_projector_apply needs for n encoder rows. */
size_t  mm_projector_scratch_bytes(const mm_projector *p, int64_t n);
/* y[n_out, d_out] = projector(x[n, d_in]) (an image with merge > 1 needs n == grid^2); scratch: mm_projector_scratch_bytes(p, n) bytes (64-aligned). */
void    mm_projector_apply(const mm_projector *p, mm_pool *pool, const float *x, int64_t n,
                           float *y, void *scratch);

MM_API_END

#ifdef __cplusplus
}
#endif
#endif /* MM_FUSION_H */
