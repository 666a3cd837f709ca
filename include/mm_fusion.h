/* mm_fusion.h - fusion internals: prompt template, chat templates, <__media__> prompt assembly, projectors.
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
 *     (a model whose turn format is a chat template of the table, without these three keys: ask
 *     "<__media__>{question}", describe "<__media__>Describe this sound.", caption "<__media__>Can you
 *     describe this image?" for smolvlm, else "<__media__>Describe this image." - the marker immediately
 *     followed by the text, as llama.cpp's multimodal CLI writes a user turn)
 *   mmgpt.prompt.default_system    [none]           system prompt used when the caller gives none
 *   mmgpt.prompt.image_begin / image_end / audio_begin / audio_end   [""]  text wrapped around the
 *                                   embedding rows of each image / clip (e.g. "<img>" and "</img>")
 * The model answers with " " + text + <|endoftext|>; the leading space is trimmed from the output.
 * With a chat template of the table (below) and neither describe nor ask key in the file, describe is
 * "<__media__>Describe this sound." and ask "<__media__>{question}": one user turn whose content is the
 * media marker immediately followed by the question, as llama-mtmd-cli --audio (b10182) evaluates it.
 *
 * Chat templates (the models people have: ChatML, Llama 2/3, Mistral, Gemma, Vicuna, SmolVLM)
 *   Which turn format a model uses is chosen once, at load (mm_prompt_template_load_chat), in this order:
 *     1. an explicit name (`--chat-template NAME`, mmgpt_model_params.chat_template): "mmgpt" or a
 *        name of the table below; any other name is an error that lists the known names;
 *     2. "mmgpt" when the file has any of the turn keys mmgpt.prompt.system_prefix, system_suffix,
 *        user_prefix, user_suffix, assistant_prefix (the bundled model: its prompts never change);
 *     3. the table entry recognised in the file's tokenizer.chat_template (a Jinja string, never run:
 *        recognised by distinctive substrings, as llama.cpp's llm_chat_detect_template does, first match
 *        in table order; a string equal to a table name is that entry). A template no entry recognises
 *        is NOT replaced by a guess: the model still loads (raw prompts, logits, tokenize work) but every
 *        templated turn fails with "the model's chat template is not one mmgpt knows (...); choose one
 *        with --chat-template NAME, known: ..." (mmgpt.h: MMGPT_ERR_MODEL);
 *     4. "mmgpt" with the defaults above when the file has neither (test models, GPT-2 files).
 *   The table (fusion/chat_template.c, mm_chat_template) gives per template: detection strings; the
 *   text at the start of a conversation; where the system prompt goes - its own block before the first
 *   user turn, or inside the first user turn after the user prefix (Llama 2 inside the first [INST]
 *   with <<SYS>>, Mistral v1/v3 and Gemma, which have no system role, before the first user text);
 *   the user prefix of the first and of later turns and the user suffix; the generation prompt
 *   (assistant_prefix); what the model writes first (answer_lead); the text that closes an answer
 *   (answer_close); which contents are trimmed. Template strings are those of llama.cpp's
 *   llm_chat_apply_template (not the Jinja's: e.g. Llama 2 answers are not wrapped in spaces).
 *   BOS: the tokenizer's BOS (when tokenizer.ggml.add_bos_token) starts every conversation unless the
 *   template text already starts with that token (SmolVLM writes <|im_start|>, its BOS, itself).
 *   Special tokens (<|im_start|>, <|eot_id|>, [INST] where the vocabulary has it as a control token, ...)
 *   are recognised in template text only (mm_prompt_template_bind: the special tokens whose text occurs
 *   in the template strings; a turn's template text is split at them into MM_SEG_SPECIAL segments);
 *   user text, the system prompt included, is always literal. The text between two special tokens is
 *   one MM_SEG_TEXT segment even where it mixes template and user text (" [/INST]" after a question),
 *   so it tokenizes as the whole rendered string would. The mmgpt template has no special tokens.
 *
 * One turn is assembled as the string
 *   [start] [system block] user_prefix [system block] USER_TEXT user_suffix assistant_prefix
 * where the start text, the first-turn user prefix (user_prefix_first) and the system block belong to
 * the first turn of a conversation only, the system block (system_prefix SYSTEM system_suffix, only
 * when a system prompt is set) sits before or after the user prefix as the template says, and every
 * `<__media__>` marker in USER_TEXT stands for the next image or clip, in the order they were
 * added: the n-th marker is replaced by image_begin/audio_begin + the n-th media's projected rows +
 * image_end/audio_end. USER_TEXT without any marker gets one "<__media__>\n" per media in front of it
 * (media before the text; with a chat template of the table, in a templated turn, "<__media__>" without the
 * newline: llama-mtmd-cli's chat turn, the markers immediately followed by the line). A marker count other than the media count is an error. The text between
 * two media is tokenized as one piece (plain text: `<|endoftext|>` in it is ordinary text).
 * USER_TEXT is made of parts (mm_prompt_build_parts): prompt parts, whose markers are media slots (the
 * consecutive ones joined first, so a marker may be split over two of them), and literal parts (free
 * text: a question, a chat line), whose `<__media__>` is ordinary text. SYSTEM is always literal. A
 * marker in a template string (system_prefix, system_suffix, user_prefix, user_suffix,
 * assistant_prefix) is an error.
 * An answer is the model's tokens (answer_lead + text), closed by answer_close (mmgpt: the eos token)
 * before the next turn of the same conversation; mm_prompt_render_chat writes a whole conversation of
 * messages with the same rules (tests compare it with the model families' published formats).
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
 *          mmgpt's own (clip.projector_type absent or "mlp"): y = mm.a.mlp.2 GELU(mm.a.mlp.1 x), the
 *            frames of the whole clip stacked together (n frames -> ceil(n / k) positions);
 *          "ultravox" (llama.cpp's Ultravox mmproj): per encoder window (each window's frames stacked on
 *            their own: 1500 frames -> ceil(1500 / k) positions, 188 for k = 8),
 *            x = RMSNorm(x) * mm.a.norm_pre; h = mm.a.mlp.1 x; h = h[:half] * SiLU(h[half:]) (Ultravox's
 *            SwiGLU: the second half gates); h = RMSNorm(h) * mm.a.norm_mid; y = mm.a.mlp.2 h (eps 1e-6).
 *          "qwen2a" (llama.cpp's Qwen2-Audio mmproj): the encoder averages its rows in pairs before a.post_ln
 *            (mm_audio.h: 1500 -> 750 rows per window), then y = mm.a.fc x + b per row; the rows sit between
 *            <|audio_bos|> and <|audio_eos|> in the prompt (mm_projector_audio_wrap, as llama.cpp's mtmd).
 *          Other audio types llama.cpp writes (qwen3a, voxtral, ...) are refused by name.
 *          Rows per window are computed in one place: mm_audio_model_window_rows (mm_audio.h; the encoder's pool included).
 *   GELU here is the exact erf form 0.5x(1 + erf(x / sqrt 2)) (torch.nn.GELU(), as LLaVA's projector is
 *   defined; llama.cpp computes ggml_gelu, the tanh approximation, which differs by up to 5e-4 a value).
 *   image, clip.projector_type = "ldpv2" (MobileVLM V2, llama.cpp's layout): h = mm.model.mlp.2 GELU(mm.model.mlp.0 x)
 *          on the g x g patch grid, 2x2 average pooling (stride 2) to (g/2) x (g/2), then the positional
 *          depthwise 3x3 convolution with residual: y = p + b + conv3x3_c(p) per channel c (padding 1;
 *          mm.model.peg.0.weight GGUF ne [3, 3, 1, d_out] = torch [d_out, 1, 3, 3], .bias [d_out]);
 *          g must be even (24 x 24 -> 144 rows for CLIP ViT-L/14 at 336 px).
 *   ldp (MobileVLM v1) and the other llama.cpp projector types are refused by name.
 *   Every projector must output the decoder's d_model, else the load fails with
 *   "this mmproj does not fit this model: projector outputs N, decoder d_model is M".
 */
#ifndef MM_FUSION_H
#define MM_FUSION_H

#include "mm_core.h"
#include "mm_gguf.h"
#include "mm_tokenizer.h"
#include "mm_audio.h"
#include "mmgpt.h"

#ifdef __cplusplus
extern "C" {
#endif
MM_API_BEGIN  /* every declaration below is exported from libmmgpt.so (mm_api.h) */

#define MM_MEDIA_MARKER "<__media__>"

/* Media kinds: mmgpt_media_kind of mmgpt.h (MMGPT_MEDIA_IMAGE, MMGPT_MEDIA_AUDIO), the one media-kind enum. */

/* ---------------------------------------------------------------- chat templates (the table) */
typedef enum {
    MM_CHAT_SYS_BLOCK   = 0,  /* its own block before the first user turn */
    MM_CHAT_SYS_IN_USER = 1,  /* inside the first user turn, after the user prefix */
} mm_chat_sys_place;

enum { MM_CHAT_TRIM_SYSTEM = 1, MM_CHAT_TRIM_USER = 2, MM_CHAT_TRIM_ANSWER = 4 };  /* isspace() both ends */
#define MM_CHAT_TRIM_ALL (MM_CHAT_TRIM_SYSTEM | MM_CHAT_TRIM_USER | MM_CHAT_TRIM_ANSWER)

/* One entry of the table (see the top comment). Detection: the Jinja text holds every string of `all`,
 * at least one of `any` (when any is given) and none of `none` - or every string of `alt` (when given)
 * (NULL-ended lists; an entry with neither `all` nor `alt` is chosen by name only). */
typedef struct {
    const char       *name;
    const char       *all[4], *any[3], *none[2], *alt[3];
    const char       *start;
    mm_chat_sys_place system_place;
    const char       *system_prefix, *system_suffix;
    const char       *user_prefix_first, *user_prefix, *user_suffix;
    const char       *assistant_prefix, *answer_lead, *answer_close;
    unsigned          trim;  /* MM_CHAT_TRIM_* */
} mm_chat_template;

int                     mm_chat_template_count(void);
const mm_chat_template *mm_chat_template_at(int i);           /* NULL when out of range */
const mm_chat_template *mm_chat_template_find(const char *name); /* NULL when unknown ("mmgpt" too) */
/* The entry recognised in a Jinja template text[0..len) (any bytes), or NULL. */
const mm_chat_template *mm_chat_template_detect(const char *text, size_t len);
/* True for "mmgpt" and the table's names. */
bool mm_chat_template_known(const char *name);
/* "mmgpt, chatml, ..." (every name --chat-template takes); static storage. */
const char *mm_chat_template_names(void);

/* ---------------------------------------------------------------- prompt template */
typedef struct {
    char *text;   /* the special token's text, e.g. "<|im_start|>" */
    size_t len;
    int32_t id;
} mm_prompt_special;

typedef struct {
    char *system_prefix, *system_suffix;
    char *user_prefix, *user_suffix;
    char *assistant_prefix;
    char *caption, *describe, *ask;        /* task user texts; ask holds "{question}" */
    char *default_system;                  /* NULL when the model has none */
    char *image_begin, *image_end, *audio_begin, *audio_end;
    /* the turn format (mm_prompt_template_load_chat) */
    const char *chat_name;                 /* "mmgpt", a table name, or NULL: the file's
                                              tokenizer.chat_template is not recognised */
    const char *chat_source;               /* why: "mmgpt.prompt.* keys", "defaults (no template in the
                                              file)", "tokenizer.chat_template", "chosen by name" */
    char *chat_error;                      /* chat_name == NULL: what a templated turn reports */
    char *start;                           /* [""] text at the start of a conversation */
    char *user_prefix_first;               /* [= user_prefix] user prefix of the first turn */
    char *answer_lead;                     /* [" "] what the model writes first */
    char *answer_close;                    /* NULL (mmgpt): the eos token closes an answer */
    bool  system_in_user;                  /* MM_CHAT_SYS_IN_USER */
    unsigned trim;                         /* MM_CHAT_TRIM_* */
    bool  specials;                        /* template text may hold special tokens (table templates) */
    mm_prompt_special *spec;               /* [n_spec] bound special tokens (mm_prompt_template_bind) */
    int   n_spec;
} mm_prompt_template;

/* Defaults above, overridden by the keys present in g (g may be NULL); the turn format as the top
 * comment says (chat_template: NULL = from the file, else "mmgpt" or a table name; an unknown name is
 * an error listing the known ones). Values are copies. The tokenizer.chat_template key, when present,
 * must be a string. */
int  mm_prompt_template_load_chat(mm_prompt_template *t, const mm_gguf *g, const char *chat_template, char *err);
/* mm_prompt_template_load_chat(t, g, NULL, err). */
int  mm_prompt_template_load(mm_prompt_template *t, const mm_gguf *g, char *err);
void mm_prompt_template_free(mm_prompt_template *t);
/* Declare text (len bytes) a special token with this id: template text holding it is split there. */
int  mm_prompt_template_add_special(mm_prompt_template *t, const char *text, size_t len, int32_t id, char *err);
/* Add every special token of tok (mm_tokenizer_is_special) whose text occurs in one of the template
 * strings; nothing for the mmgpt template (t->specials false). These two name no file in err (the reason
 * alone): the caller that has the model file puts "PATH: " in front (mm_err's format, mm_core.h). */
int  mm_prompt_template_bind(mm_prompt_template *t, const mm_tokenizer *tok, char *err);
/* The audio projector's wrapper (mm_projector_audio_wrap) as audio_begin / audio_end, unless the file's
 * mmgpt.prompt.audio_begin / audio_end set one; the special tokens of tok whose text is begin or end are bound
 * (any turn format: llama.cpp's mtmd parses them as special tokens). Nothing for "" / "". */
int  mm_prompt_template_wrap_audio(mm_prompt_template *t, const char *begin, const char *end,
                                   const mm_tokenizer *tok, char *err);

typedef enum { MM_TASK_CAPTION = 0, MM_TASK_DESCRIBE = 1, MM_TASK_ASK = 2 } mm_task;
/* The user text of a task (malloc'd): caption / describe / ask with {question} replaced. */
char *mm_prompt_task_text(const mm_prompt_template *t, mm_task task, const char *question);

/* ---------------------------------------------------------------- prompt assembly */
typedef enum { MM_SEG_TEXT = 0, MM_SEG_MEDIA = 1, MM_SEG_SPECIAL = 2 } mm_seg_kind;
typedef struct {
    mm_seg_kind kind;
    char       *text;   /* MM_SEG_TEXT: the text to tokenize as one piece (never empty), plain text;
                           MM_SEG_SPECIAL: the special token's text */
    int         media;  /* MM_SEG_MEDIA: index into the turn's media list */
    int32_t     token;  /* MM_SEG_SPECIAL: its id */
} mm_prompt_seg;

typedef struct {
    mm_prompt_seg *segs;  /* [n_segs] text / special / media, in order */
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

/* Assemble one turn (see the top comment) from USER_TEXT = parts[0] + parts[1] + ... start: the turn
 * starts a conversation (start text, first-turn user prefix, system block); system: NULL or "" = no
 * system block (used only when start); raw: USER_TEXT alone. media_kinds[n_media] chooses the
 * begin/end wrappers. Returns 0, or -1 with err set on a marker/media count mismatch, a marker in the
 * template, an unrecognised chat template (not raw), or out of memory. */
int  mm_prompt_build_turn(const mm_prompt_template *t, bool start, const char *system,
                          const mm_prompt_part *parts, int n_parts, const mmgpt_media_kind *media_kinds,
                          int n_media, bool raw, mm_prompt *out, char *err);
/* mm_prompt_build_turn with start = true. */
int  mm_prompt_build_parts(const mm_prompt_template *t, const char *system, const mm_prompt_part *parts,
                           int n_parts, const mmgpt_media_kind *media_kinds, int n_media, bool raw,
                           mm_prompt *out, char *err);
/* The same with USER_TEXT = user_text, one prompt part. */
int  mm_prompt_build(const mm_prompt_template *t, const char *system, const char *user_text,
                     const mmgpt_media_kind *media_kinds, int n_media, bool raw, mm_prompt *out,
                     char *err);
/* Template text alone (e.g. answer_close), split at the bound special tokens. */
int  mm_prompt_template_text(const mm_prompt_template *t, const char *text, mm_prompt *out, char *err);
void mm_prompt_free(mm_prompt *p);

/* A whole conversation as text: msgs[n] with role "system" (first only), then "user" and "assistant"
 * alternating, starting with "user"; contents literal (no media). Each user message is a turn
 * (mm_prompt_build_turn), each assistant message answer_lead + content (trimmed when the template
 * trims answers) + answer_close, where eos_text stands for the eos token of the mmgpt template (NULL =
 * ""). Ends with the generation prompt when the last message is the user's. *out is malloc'd (NUL-
 * terminated, *len bytes). 0, or -1 with err. */
typedef struct {
    const char *role, *content;
} mm_chat_msg;
int  mm_prompt_render_chat(const mm_prompt_template *t, const mm_chat_msg *msgs, int n, const char *eos_text,
                           char **out, size_t *len, char *err);

/* ---------------------------------------------------------------- projectors */
/* Linear layers: mm_mat (mm_core.h); a projector's biases are f32 copies it owns (mm_projector_free). */
typedef struct {
    bool           present;
    bool           mlp;          /* image: false = linear (mm.0 / mm.model.fc), true = mlp (mm.0 -> GELU -> mm.2) */
    int            stack;        /* audio: frames stacked per row (k >= 1); image: 1 */
    int            merge;        /* image: pixel-shuffle factor s (1 = none); audio: 1 */
    int64_t        grid;         /* image with merge > 1 or ldpv2: patches per side g (g % s == 0); else 0 */
    int64_t        d_in;         /* encoder width */
    int64_t        d_out;        /* = decoder d_model */
    mm_mat l1;           /* image: mm.0 / mm.model.fc [d_mid or d_out, merge^2*d_in];
                                    audio: mm.a.mlp.1 [d_mid, stack*d_in] */
    mm_mat l2;           /* image mlp: mm.2;  audio: mm.a.mlp.2  [d_out, d_mid] (ultravox: [d_out, d_mid/2]) */
    bool           ultravox;     /* audio: clip.projector_type "ultravox" (RMSNorm, SwiGLU, RMSNorm) */
    bool           qwen2a;       /* audio: clip.projector_type "qwen2a" (l1 = mm.a.fc, biased; pooled encoder) */
    bool           ldpv2;        /* image: MobileVLM V2 (mlp, 2x2 average pool, depthwise 3x3 + residual) */
    float         *peg_w;        /* ldpv2: mm.model.peg.0.weight [d_out][3][3] (f32 copy) */
    float         *peg_b;        /* ldpv2: mm.model.peg.0.bias [d_out] (f32 copy) */
    bool           per_window;   /* audio: frames are stacked within each encoder window (ultravox, as llama.cpp),
                                    else over the whole clip's rows (mmgpt's own projector) */
    float         *norm_pre;     /* ultravox: mm.a.norm_pre.weight [stack*d_in] (f32 copy) */
    float         *norm_mid;     /* ultravox: mm.a.norm_mid.weight [d_mid/2] (f32 copy) */
} mm_projector;

/* Load the image (kind = MMGPT_MEDIA_IMAGE) or audio projector from g. d_in: the encoder's output width;
 * d_model: the decoder's (<= 0: any, p->d_out = what the projector gives - tools without a decoder).
 * Missing tensors or shapes that do not chain are errors. */
int  mm_projector_load(mm_projector *p, const mm_gguf *g, mmgpt_media_kind kind, int64_t d_in,
                       int64_t d_model, char *err);
void mm_projector_free(mm_projector *p);
/* Rows out for n encoder rows: n / merge^2 (image; n = grid^2 when merge > 1) or ceil(n / stack) (audio). */
int64_t mm_projector_n_out(const mm_projector *p, int64_t n);
/* Bytes of scratch mm_projector_apply needs for n encoder rows. */
size_t  mm_projector_scratch_bytes(const mm_projector *p, int64_t n);
/* y[n_out, d_out] = projector(x[n, d_in]) (an image with merge > 1 needs n == grid^2); scratch: mm_projector_scratch_bytes(p, n) bytes (64-aligned). */
void    mm_projector_apply(const mm_projector *p, mm_pool *pool, const float *x, int64_t n,
                           float *y, void *scratch);

/* The audio projector's type as `mmgpt info` names it: "ultravox", "qwen2a" or "mlp" (mmgpt's own). */
const char *mm_projector_audio_name(const mm_projector *p);
/* The text llama.cpp's mtmd puts around a clip's rows for this projector type (static strings, "" for none):
 * qwen2a "<|audio_bos|>" / "<|audio_eos|>" (special tokens of Qwen2-Audio's vocabulary). */
void        mm_projector_audio_wrap(const mm_projector *p, const char **begin, const char **end);

/* Audio, a whole clip. The decoder positions of a clip whose log-mel has n_mel_frames frames (windows of the
 * encoder am): per_window: the sum over windows of mm_audio_model_window_rows(am, window frames, stack), else
 * ceil(mm_audio_model_n_out(am, n_mel_frames) / stack). The same count mm_projector_apply_audio writes. */
int64_t mm_projector_audio_n_out(const mm_projector *p, const mm_audio_model *am, int64_t n_mel_frames);
/* The longest clip (16 kHz samples) whose rows fit in n_positions decoder positions (0: none fits). */
int64_t mm_projector_audio_max_samples(const mm_projector *p, const mm_audio_model *am, int64_t n_positions);
/* Bytes of scratch for mm_projector_apply_audio over a clip of n_mel_frames frames. */
size_t  mm_projector_audio_scratch_bytes(const mm_projector *p, const mm_audio_model *am, int64_t n_mel_frames);
/* y[mm_projector_audio_n_out, d_out] from the encoder's rows enc[mm_audio_model_n_out(am, n_mel_frames), d_in]
 * (window after window when per_window). */
void    mm_projector_apply_audio(const mm_projector *p, mm_pool *pool, const mm_audio_model *am, const float *enc,
                                 int64_t n_mel_frames, float *y, void *scratch);

MM_API_END

#ifdef __cplusplus
}
#endif
#endif /* MM_FUSION_H */
