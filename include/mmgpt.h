/* mmgpt.h - the mmgpt library: caption images, describe sounds, answer questions about them.
 *
 * One GPT decoder (GPT-2/GPT-3 architecture) reads a sequence in which text tokens are interleaved with
 * the projected embeddings of images (ViT encoder) and audio clips (Whisper-style encoder). This header
 * is all a program needs; after `cmake --install build --prefix DIR`:
 *   cc app.c $(PKG_CONFIG_PATH=DIR/lib/pkgconfig pkg-config --cflags --libs mmgpt)   (--static: libmmgpt.a)
 * and run with LD_LIBRARY_PATH=DIR/lib unless DIR/lib is a system folder.
 *
 * Objects
 *   mmgpt_model   the weights (decoder, tokenizer, encoders, projectors), loaded once, read-only and
 *                 memory-mapped; any number of states may use one model, from any number of threads.
 *   mmgpt_ctx     one conversation: KV cache, encoder scratch, sampler, pending input, timings. A ctx is
 *                 used by one thread at a time.
 *   mmgpt_media   the projected embedding rows of one image or clip (encode once, use many times).
 *
 * Model files
 *   One GGUF holding decoder + tokenizer + encoders + projectors (the default), or a text-only GPT-2 GGUF
 *   plus a separate mmproj GGUF (params.mmproj_path) as llama.cpp users have them. Keys and tensor names
 *   follow llama.cpp (`gpt2` decoder, `clip.*` encoders, `mm.*` projectors); see mm_fusion.h for the
 *   projectors and the prompt-template keys.
 *
 * A conversation turn
 *   mmgpt_add_text / mmgpt_add_text_literal / mmgpt_add_task / mmgpt_add_image_* / mmgpt_add_audio_* /
 *   mmgpt_add_media collect the user's turn;
 *   mmgpt_generate then assembles it with the model's template
 *       [System: SYSTEM\n]User: USER_TEXT\nAssistant:
 *   (the exact strings come from the model's mmgpt.prompt.* keys; the system block only at the start of
 *   a conversation) - or with the model's chat template: a file without mmgpt.prompt.* turn keys but
 *   with tokenizer.chat_template gets the format recognised in it (ChatML, Llama 2, Llama 3, Mistral,
 *   Gemma, Vicuna/LLaVA-1.5, SmolVLM: mm_fusion.h has the table and where each puts the system prompt),
 *   params.chat_template chooses one by name; e.g. ChatML:
 *       <|im_start|>system\nSYSTEM<|im_end|>\n<|im_start|>user\nUSER_TEXT<|im_end|>\n<|im_start|>assistant\n
 *   Special tokens are recognised in the template's text only. It evaluates the turn after what the KV
 *   cache already holds, and generates the answer, calling your callback with each piece of text as it
 *   is produced. Every piece is valid UTF-8 (never a broken character): bytes the model samples that do
 *   not form a character become U+FFFD.
 *   With a llama.cpp mmproj the picture goes through its family's processor (LLaVA-1.5 pad + resize; SmolVLM
 *   512 px tiles + a global image, each through the tower: ctx params max_tiles caps the tiles) and a SmolVLM
 *   picture's rows come wrapped in its tile markers (<fake_token_around_image><row_R_col_C> ... <global-img>)
 *   as llama.cpp's multimodal CLI places them (docs/ARCHITECTURE.md).
 *   USER_TEXT is the concatenation of the added texts. The n-th `<__media__>` of the mmgpt_add_text
 *   texts is replaced by the n-th added image/clip; with no marker at all, the media come first, each
 *   followed by "\n" ("<__media__>\n" per media in front of the text; no "\n" with a chat template of the
 *   table, as llama.cpp's multimodal CLI writes a turn); any other marker count is an
 *   error. Free text from a user (a question, a chat line) goes in with mmgpt_add_text_literal: a
 *   `<__media__>` typed in it is ordinary text, never a media slot. The system prompt is always plain
 *   text. No user text is ever parsed for special tokens: a typed `<|endoftext|>` or `<|im_start|>` is
 *   ordinary text too.
 *   The model's answer is " " + text + <|endoftext|> (a chat template's answer ends at its end-of-turn
 *   token, e.g. <|im_end|>, or eos); a leading space is not passed to the callback
 *   (gen.trim_leading_space). After the answer the conversation goes on: the next turn is appended
 *   after <|endoftext|> (a chat template's close, e.g. <|im_end|>\n) (the KV cache is kept: media and
 *   earlier turns are not evaluated again).
 *   mmgpt_clear starts a new conversation but keeps the KV cache as a prefix cache: asking another
 *   question about the same media after mmgpt_clear evaluates only the new question (the system prompt,
 *   template text and media rows at the start are found in the cache; media are recognised by the
 *   content of their embedding rows, so the same picture encoded again matches and another picture
 *   does not). gen.raw = true evaluates USER_TEXT alone, no template (at a conversation start: [BOS when
 *   the file asks for it] [the system prompt given to mmgpt_set_system, as plain text tokenized on its
 *   own; the model's default system prompt is not used] USER_TEXT).
 *
 * Errors
 *   Functions return 0 (MMGPT_OK) or a negative mmgpt_status saying what kind of problem it was, and
 *   write a one-line message into err (a caller buffer of MMGPT_ERR_SIZE bytes, may be NULL). Functions
 *   returning a pointer return NULL on failure. Nothing in the library prints or calls exit().
 *   NULL where an object or a string is expected (a ctx, a path, text, data, out) is MMGPT_ERR_USAGE
 *   ("function: ctx is NULL"), or NULL + err from the functions that return a pointer; so is a media kind
 *   other than AUTO / IMAGE / AUDIO. Pointers the descriptions call optional ("may be NULL") are
 *   optional. The *_free functions, mmgpt_clear and mmgpt_reset do nothing with NULL; the getters return
 *   0 / false / NULL / "" / MMGPT_STOP_NONE / MMGPT_MEDIA_AUTO (mmgpt_get_timings: all zeros) for NULL.
 *
 * Sampling
 *   llama.cpp's chain and definitions (mm_transformer.h gives the formulas): repeat / frequency /
 *   presence penalties over the last repeat_last_n tokens of the conversation -> top_k -> top_p ->
 *   min_p -> temperature T in [0, 2] (0 = greedy, the default; above 2 is refused) -> a draw from our
 *   seeded PRNG. The penalty window is the conversation as the KV cache holds it (system prompt,
 *   template text, every turn's text, the answers so far and the tokens sampled in this answer; media
 *   rows are not tokens and are skipped), as llama.cpp's llama-cli and server accept the prompt's
 *   tokens; after mmgpt_clear it starts again with the new conversation. Penalties apply before the
 *   greedy argmax too. Defaults are llama.cpp's (min_p 0.05, repeat_penalty 1 = off, window 64,
 *   presence/frequency 0), so greedy answers are the plain argmax unless a penalty is set. Generation
 *   stops at <|endoftext|>, at a stop string, after max_tokens, when the callback returns false, or when
 *   the context is full (mmgpt_stop_reason tells which). A prompt that does not fit in the context
 *   (leaving room for one generated token) is refused with MMGPT_ERR_CONTEXT before anything is evaluated,
 *   with a message giving the positions the prompt takes and the context size.
 *
 * Threads
 *   Each ctx has its own thread pool of params.n_threads threads (0 = all CPUs), or shares another ctx's
 *   (params.share_pool: then the contexts of that pool are used from one thread at a time). Two contexts on
 *   one model in two threads give exactly the results each gives alone.
 *
 * Complete example (tests/fusion compiles and runs the text between the EXAMPLE lines):
 * ---- BEGIN EXAMPLE ----
#include <stdio.h>
#include "mmgpt.h"

static bool print_piece(const char *text, size_t len, void *user) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;                                   // false would stop the generation
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s MODEL.gguf IMAGE [QUESTION]\n", argv[0]); return 2; }
    char err[MMGPT_ERR_SIZE];
    mmgpt_model_params mp = mmgpt_model_default_params();   // mp.mmproj_path = "mmproj.gguf" if separate
    mmgpt_model *model = mmgpt_model_load(argv[1], mp, err);
    if (!model) { fprintf(stderr, "%s\n", err); return 1; }

    mmgpt_ctx_params cp = mmgpt_ctx_default_params();
    cp.n_threads = 2;
    mmgpt_ctx *ctx = mmgpt_ctx_create(model, cp, err);
    if (!ctx) { fprintf(stderr, "%s\n", err); mmgpt_model_free(model); return 1; }

    int rc = mmgpt_add_image_file(ctx, argv[2], err);                 // encoded now, once
    if (rc == MMGPT_OK)
        rc = mmgpt_add_text_literal(ctx, argc > 3 ? argv[3] : "Describe this image.", err);  // typed text
    mmgpt_gen_params gp = mmgpt_gen_default_params();
    gp.max_tokens = 16;
    if (rc == MMGPT_OK) rc = mmgpt_generate(ctx, gp, print_piece, NULL, err);
    if (rc != MMGPT_OK) fprintf(stderr, "error: %s\n", err);
    else {
        mmgpt_timings t;
        mmgpt_get_timings(ctx, &t);
        fprintf(stderr, "\n%lld prompt positions in %.1f ms, %lld tokens in %.1f ms\n",
                (long long)t.n_prompt, t.prompt_ms, (long long)t.n_gen, t.gen_ms);
    }
    mmgpt_ctx_free(ctx);
    mmgpt_model_free(model);
    return rc == MMGPT_OK ? 0 : 1;
}
 * ---- END EXAMPLE ----
 */
#ifndef MMGPT_H
#define MMGPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm_api.h"

#ifdef __cplusplus
extern "C" {
#endif
MM_API_BEGIN  /* every declaration below is exported from libmmgpt.so (mm_api.h) */

#define MMGPT_ERR_SIZE 512  /* = MM_ERR_SIZE */

typedef enum {
    MMGPT_OK           = 0,
    MMGPT_ERR_USAGE    = -2,  /* an invalid argument or parameter (e.g. temperature above 2) */
    MMGPT_ERR_INPUT    = -3,  /* an input file that is missing, unreadable, unsupported or corrupt */
    MMGPT_ERR_MODEL    = -4,  /* the model lacks what is needed (no image / audio encoder, ...), or its
                                 weights hold NaN/Inf: small tensors are checked at load, the logits and
                                 the encoders' and projectors' outputs at evaluation (the message says where) */
    MMGPT_ERR_INTERNAL = -5,  /* out of memory, or a failure inside the engine */
    MMGPT_ERR_CONTEXT  = -6,  /* the prompt (or a single image/clip) does not fit in the context */
} mmgpt_status;

typedef enum { MMGPT_MEDIA_AUTO = -1, MMGPT_MEDIA_IMAGE = 0, MMGPT_MEDIA_AUDIO = 1 } mmgpt_media_kind;

typedef enum {
    MMGPT_STOP_NONE = 0,     /* nothing generated yet */
    MMGPT_STOP_EOS,          /* the model ended its answer (<|endoftext|>) */
    MMGPT_STOP_MAX_TOKENS,   /* gen.max_tokens reached */
    MMGPT_STOP_STRING,       /* a stop string appeared (it is not passed to the callback) */
    MMGPT_STOP_CALLBACK,     /* the callback returned false */
    MMGPT_STOP_CONTEXT,      /* the context is full */
} mmgpt_stop;

typedef struct mmgpt_model mmgpt_model;
typedef struct mmgpt_ctx   mmgpt_ctx;
typedef struct mmgpt_media mmgpt_media;

/* ---------------------------------------------------------------- model */
typedef struct {
    const char *mmproj_path;  /* encoders + projectors from this file (NULL: from the model file) */
    bool        no_vision;    /* do not load the image encoder even if present */
    bool        no_audio;     /* do not load the audio encoder even if present */
    const char *chat_template; /* the turn format by name: "mmgpt" or one of mm_fusion.h's table
                                  (chatml, llama2, llama3, gemma, vicuna, smolvlm, mistral-v7, ...);
                                  NULL = the file's own (see "A conversation turn"). An unknown name
                                  fails the load with the list of known names. */
    int64_t     media_cache_bytes; /* media cache: an image or clip whose bytes (and processing) this model has
                                  already encoded, in any of its contexts, is not decoded or encoded again;
                                  its projected rows are copied from the cache, which holds at most this
                                  many bytes of rows (least recently used go first). Default
                                  MMGPT_MEDIA_CACHE_BYTES; 0 = off. */
    struct mm_dist *dist;     /* pipeline over MPI ranks (mm_dist.h; opaque here, no mpi.h needed): this
                                 process is rank 0 and mmgpt_model_load joins the ranks after loading
                                 (or reports its failure to them); the ranks > 0 run mm_dist_serve; end
                                 with mm_dist_finish(dist, code). NULL = one process */
    const char *layer_split;  /* with dist: layers per rank "a,b,c"; NULL = balanced by bytes */
} mmgpt_model_params;

#define MMGPT_MEDIA_CACHE_BYTES ((int64_t)64 << 20)  /* 64 MiB: 7 LLaVA-1.5 images (9.4 MB of rows each) or
                                                        35 SmolVLM-256M images of 13 tiles (1.9 MB) */

mmgpt_model_params mmgpt_model_default_params(void);
/* NULL + err on failure (missing/corrupt file, shapes that do not fit: "this mmproj does not fit this
 * model: projector outputs N, decoder d_model is M"). */
mmgpt_model *mmgpt_model_load(const char *path, mmgpt_model_params params, char *err);
void         mmgpt_model_free(mmgpt_model *model);

bool    mmgpt_model_has_vision(const mmgpt_model *model);
/* The chat template in use: "mmgpt", a table name ("chatml", ...), or NULL when the file's
 * tokenizer.chat_template is not one mmgpt recognises (templated turns then fail, MMGPT_ERR_MODEL). */
const char *mmgpt_model_chat_template(const mmgpt_model *model);
bool    mmgpt_model_has_audio(const mmgpt_model *model);
int64_t mmgpt_model_n_ctx(const mmgpt_model *model);
int64_t mmgpt_model_d_model(const mmgpt_model *model);
int64_t mmgpt_model_n_vocab(const mmgpt_model *model);
double  mmgpt_model_load_ms(const mmgpt_model *model);
/* The user text the model's template gives for a task: "caption", "describe" or "ask" (question
 * substituted for {question}); malloc'd, NULL if task is unknown. A marker in the question would be a
 * media slot in this text: to ask a user's question, use mmgpt_add_task. */
char   *mmgpt_model_task_prompt(const mmgpt_model *model, const char *task, const char *question);

/* ---------------------------------------------------------------- context (one conversation) */
typedef struct {
    int     n_threads;  /* threads of this ctx's pool; <= 0 = all CPUs (ignored with share_pool) */
    int64_t n_ctx;      /* KV-cache positions; 0 = min(the model's context length, MM_GPT_DEFAULT_CTX = 4096) */
    bool    kv_f16;     /* keep the KV cache in f16: half the memory, keys/values rounded (default false) */
    int     max_tiles;  /* SmolVLM (idefics3 mmproj): at most this many 512 px tiles per picture (plus the
                           global image; the longest edge is lowered a tile at a time); <= 0 = the processor's
                           default (longest edge clip.vision.preproc_image_size, else 4 tiles a side) */
    mmgpt_ctx *share_pool; /* NULL: a pool of its own; else run on that context's thread pool (one pool, counted
                              by its users: either context may be freed first). Contexts that share a pool
                              must be used from one thread at a time: a pool runs one job at a time (mmgpt
                              serve: every slot on one pool of -t threads, stepped by its worker thread) */
} mmgpt_ctx_params;

mmgpt_ctx_params mmgpt_ctx_default_params(void);
mmgpt_ctx       *mmgpt_ctx_create(const mmgpt_model *model, mmgpt_ctx_params params, char *err);
void             mmgpt_ctx_free(mmgpt_ctx *ctx);
int64_t          mmgpt_ctx_n_ctx(const mmgpt_ctx *ctx);
int64_t          mmgpt_ctx_n_past(const mmgpt_ctx *ctx);   /* positions in the KV cache */
/* Chunked prefill: with fn set, a prompt of more positions than the decoder evaluates per internal step
 * (512) is evaluated that many at a time (the same pieces, so the same cache and logits) and fn(user) is
 * called between two pieces, from the thread evaluating. fn must not use ctx; it may step other contexts
 * (of ctx's pool too: the pool is idle then). mmgpt serve steps its busy slots there, so a long prompt
 * does not stall the answers in progress. NULL: none (the default). */
void             mmgpt_set_prefill_hook(mmgpt_ctx *ctx, void (*fn)(void *user), void *user);

/* System prompt of the next conversation (copied; plain text: a `<__media__>` in it is ordinary text):
 * NULL = the model's default (if any), "" = none. Takes effect at the start of a conversation (a new
 * ctx, or after mmgpt_clear). */
int  mmgpt_set_system(mmgpt_ctx *ctx, const char *system, char *err);
/* Forget the conversation and any pending input; the next turn starts a new conversation (system
 * prompt first). Media handles stay valid. The KV cache is kept as a prefix cache: the positions at the
 * start of the new conversation that the cache already holds - the same system prompt, template text and
 * media rows, as when asking one more question about the same picture - are not evaluated again.
 * mmgpt_reset also empties the cache. */
void mmgpt_clear(mmgpt_ctx *ctx);
void mmgpt_reset(mmgpt_ctx *ctx);

/* ---------------------------------------------------------------- input of the next turn */
/* Prompt text (copied): each `<__media__>` in it is a media slot (see the top comment). */
int mmgpt_add_text(mmgpt_ctx *ctx, const char *text, char *err);
/* Free text (copied): all of it is text, `<__media__>` included. Use it for what a user typed. */
int mmgpt_add_text_literal(mmgpt_ctx *ctx, const char *text, char *err);
/* The model's user text for a task, "caption", "describe" or "ask" (as mmgpt_model_task_prompt), with
 * question as literal text in it: mmgpt_add_task(ctx, "ask", q) + one media asks q about the media
 * whatever q holds. MMGPT_ERR_USAGE for an unknown task. */
int mmgpt_add_task(mmgpt_ctx *ctx, const char *task, const char *question, char *err);
/* The start of text in front of the pending turn: the tokenizer's BOS token, else <|endoftext|> (GPT-2
 * begins unconditioned text after it); nothing more when the turn begins with that BOS already. With
 * raw and no text, generation continues from nothing (`mmgpt generate -p ""`). */
int mmgpt_add_start(mmgpt_ctx *ctx, char *err);
/* Decode + encode + project now (timed); the ctx keeps the rows until the turn is evaluated.
 * Statuses: MMGPT_ERR_INPUT (missing, unreadable, unsupported or corrupt file, a directory, an audio clip
 * under 0.1 s), MMGPT_ERR_MODEL (the model has no encoder for it), MMGPT_ERR_CONTEXT (its rows alone
 * exceed the context; checked before encoding). A path may name a pipe or terminal (/dev/stdin): it is
 * read once into memory (at most the cap of its kind: MM_READ_MAX_IMAGE = 576 MiB for a picture, MM_READ_MAX_AUDIO =
 * 1 GiB for a sound; mm_core.h) and decoded from there. */
int mmgpt_add_image_file(mmgpt_ctx *ctx, const char *path, char *err);
int mmgpt_add_image_memory(mmgpt_ctx *ctx, const void *data, size_t size, char *err);
int mmgpt_add_audio_file(mmgpt_ctx *ctx, const char *path, char *err);
int mmgpt_add_audio_memory(mmgpt_ctx *ctx, const void *data, size_t size, char *err);

/* Encode media once and reuse them (chat: the same picture in a new conversation). kind AUTO detects
 * image vs audio from the content (magic bytes; content without a known signature, like TGA, is tried
 * as an image, then as audio). name is used in messages (may be NULL). The ctx lends its encoders; the
 * media may then be added to any ctx of the same model, from any thread (it is read-only). */
int  mmgpt_media_from_file(mmgpt_ctx *ctx, const char *path, mmgpt_media_kind kind, mmgpt_media **out,
                           char *err);
int  mmgpt_media_from_memory(mmgpt_ctx *ctx, const void *data, size_t size, mmgpt_media_kind kind,
                             const char *name, mmgpt_media **out, char *err);
void mmgpt_media_free(mmgpt_media *media);
mmgpt_media_kind mmgpt_media_get_kind(const mmgpt_media *media);
int64_t          mmgpt_media_n_rows(const mmgpt_media *media);     /* decoder positions it takes */
const float     *mmgpt_media_rows(const mmgpt_media *media);       /* [n_rows][d_model] */
/* Add a media to the next turn. Borrowed: it must stay alive until that turn is evaluated. */
int  mmgpt_add_media(mmgpt_ctx *ctx, const mmgpt_media *media, char *err);

/* Image or audio from the first bytes of a file (PNG, JPEG, GIF, BMP, PSD, HDR, PNM | RIFF/WAVE, RF64,
 * FLAC, Ogg, AIFF, AU, MP3). MMGPT_MEDIA_AUTO (-1) when neither is recognised. */
mmgpt_media_kind mmgpt_detect_kind(const void *data, size_t size);

/* ---------------------------------------------------------------- generation */
/* Start from mmgpt_gen_default_params(): a zeroed struct has repeat_penalty 0, which is refused. */
typedef struct {
    int                max_tokens;          /* most tokens to generate (default 128); <= 0: until the
                                               end of the answer or a full context */
    float              temperature;         /* [0, 2]; 0 = greedy (default) */
    int                top_k;               /* <= 0 = no limit (default 40) */
    float              top_p;               /* [0, 1] (default 0.95; 0 keeps the best token only) */
    uint64_t           seed;                /* default 0x5eed */
    float              min_p;               /* [0, 1]: keep p_i >= min_p * p_max (default 0.05; 0 = off) */
    float              repeat_penalty;      /* > 0: divides positive logits, multiplies negative ones of
                                               the tokens in the window (default 1 = off) */
    float              presence_penalty;    /* subtracted once from the logit of a token in the window
                                               (default 0 = off) */
    float              frequency_penalty;   /* subtracted per occurrence in the window (default 0 = off) */
    int                repeat_last_n;       /* the penalties' window in tokens (default 64; 0 = off,
                                               -1 = the whole context) */
    bool               raw;                 /* no template: the added text alone (default false) */
    bool               trim_leading_space;  /* drop the answer's first space (default true) */
    bool               ignore_eos;          /* never sample <|endoftext|> nor the template's end-of-turn
                                               token (default false) */
    const char *const *stop;                /* stop strings, non-empty and valid UTF-8 (may be NULL) */
    int                n_stop;
} mmgpt_gen_params;

mmgpt_gen_params mmgpt_gen_default_params(void);

/* Called with each new piece of text (len may be 0 at the end); return false to stop. */
typedef bool (*mmgpt_piece_fn)(const char *text, size_t len, void *user);

/* Evaluate the pending turn and generate the answer (see the top comment). cb may be NULL.
 * On failure the pending turn is dropped (nothing of it was evaluated); the conversation so far stays. */
int mmgpt_generate(mmgpt_ctx *ctx, mmgpt_gen_params params, mmgpt_piece_fn cb, void *user, char *err);
/* The same generation one token at a time, for a program that interleaves several contexts (mmgpt
 * serve: one worker advances every active conversation by one token per step). mmgpt_generate is
 * exactly begin + next until it returns 0, so the answers are the same.
 *   mmgpt_generate_begin: checks params and evaluates the pending turn (as mmgpt_generate; on failure
 *     the pending turn is dropped and no generation is in progress).
 *   mmgpt_generate_next: samples one token, passes its text (if any) to cb, and evaluates it unless the
 *     answer ends there. Returns 1 = go on, 0 = the answer ended (mmgpt_stop_reason; the rest of the text
 *     went to cb), < 0 = error (the generation is over), MMGPT_ERR_USAGE when none is in progress.
 *   mmgpt_generate_stop: ends a generation in progress now (MMGPT_STOP_CALLBACK), e.g. when its client
 *     went away; the answer so far stays in the conversation, closed as an answer.
 * A new begin, mmgpt_eval_answer, mmgpt_clear, mmgpt_reset and mmgpt_ctx_free end a generation in
 * progress without passing on its pending text. */
int  mmgpt_generate_begin(mmgpt_ctx *ctx, mmgpt_gen_params params, char *err);
int  mmgpt_generate_next(mmgpt_ctx *ctx, mmgpt_piece_fn cb, void *user, char *err);
void mmgpt_generate_stop(mmgpt_ctx *ctx);
bool mmgpt_generate_active(const mmgpt_ctx *ctx);   /* a generation is in progress */

/* Several contexts of one model, each with a generation in progress, advance by one token each: for every
 * ctxs[i] exactly what mmgpt_generate_next(ctxs[i], cb, users[i], ...) does (the same text to cb, the same
 * stop reasons, rcs[i] = what it returns: 1 / 0 / < 0), but the tokens of all of them are evaluated in one
 * pass over the decoder's weights (batched decode, mm_transformer.h's mm_gpt_batch_eval: bit-identical
 * logits, so the same answers), which costs far less than n steps (decode is bound by reading the weights).
 * The samplers run at once (one context per thread), then the texts go to cb in the order of ctxs. Runs on
 * the first context's thread pool; contexts created with the same n_threads (or sharing one pool) join the shared pass,
 * others are evaluated one at a time (same results). n <= MMGPT_NEXT_MANY_MAX distinct contexts. users (may be NULL) [n];
 * rcs [n] receives the codes; errs (may be NULL): n buffers of MMGPT_ERR_SIZE bytes, one after the other,
 * for the messages. Returns MMGPT_OK, or MMGPT_ERR_USAGE (err; nothing done) for NULL arguments, n out of
 * range, a context twice or of another model. mmgpt serve steps its slots with it; mmgpt caption/describe
 * of several files too. */
#define MMGPT_NEXT_MANY_MAX 64
int mmgpt_generate_next_many(mmgpt_ctx *const *ctxs, int n, mmgpt_piece_fn cb, void *const *users, int *rcs,
                             char *errs, char *err);

/* Starting several conversations at once (mmgpt serve admits the requests that arrive together).
 *   mmgpt_set_batched_start(ctx, on): with on, when mmgpt_generate_begin finds all of its turn but the last
 *     position in the prefix cache (the same system prompt and question again, or a one-token turn), that
 *     one position (a token) is not evaluated by begin but by the next mmgpt_generate_next_many, in its one
 *     pass over the weights with the other contexts' tokens (that call gives this ctx rcs = 1 and no text;
 *     it samples its first token at the call after). mmgpt_generate_next, mmgpt_generate_stop and any
 *     later evaluation of the ctx evaluate it first, alone; mmgpt_clear drops it. It is a one-position
 *     evaluation either way (mm_gpt_batch_eval is bit-identical to it), so the answers are the same; the
 *     gain is that n conversations started together cost one pass instead of n. Default off.
 *     mmgpt_timings.n_prompt_batched counts the positions evaluated that way.
 *   mmgpt_copy_cache(dst, src): dst starts a new conversation (as mmgpt_clear) whose prefix cache is
 *     src's: the KV cache positions src holds now (its conversation so far, or the previous one kept after
 *     mmgpt_clear) are copied into dst's (no evaluation; src is not changed and may be generating). A
 *     request that starts as another context's conversation did (the same system prompt and first message)
 *     then evaluates only what differs, as it would after its own evaluation of that start. The contexts
 *     are of one model with the same kv_f16; dst's context must hold src's positions. MMGPT_ERR_USAGE
 *     otherwise (dst is then cleared), and for a model run as a pipeline over processes. Costs a copy of
 *     src's KV rows (2 n_layer d_model floats per position). */
void mmgpt_set_batched_start(mmgpt_ctx *ctx, bool on);
int  mmgpt_copy_cache(mmgpt_ctx *dst, const mmgpt_ctx *src, char *err);
/* mmgpt_copy_cache_n(dst, src, n): as mmgpt_copy_cache, of src's first n positions only (0 <= n <= the
 *   positions src holds; MMGPT_ERR_USAGE otherwise, dst then cleared). A caller that knows how much of src
 *   a new request can match (mmgpt serve: the prompt of the request src served, not its answer) copies
 *   that much: fewer rows, fewer of dst's never-touched KV-cache pages faulted in. */
int  mmgpt_copy_cache_n(mmgpt_ctx *dst, const mmgpt_ctx *src, int64_t n, char *err);

/* A conversation replayed from its messages, as chat APIs send it: evaluates the pending turn, then
 * answer as the model's answer to it (the template's answer_lead + answer, trimmed where the template
 * trims answers, tokenized as plain text), closed as an answer that ended at the end token is; the
 * next turn continues the conversation. The prefix cache applies over the whole replay: after
 * mmgpt_clear, as long as every replayed turn and answer is found whole in the KV cache (the previous
 * conversation of this ctx: turn 1 and the answer the model generated, by content), nothing of them is
 * evaluated, and the next turn is matched where they ended; from the first difference on (a changed
 * message, an answer whose text tokenizes otherwise) the rest is evaluated. Until the replay ends
 * (a turn evaluated, mmgpt_generate_begin), mmgpt_ctx_n_past still counts the previous conversation. */
int mmgpt_eval_answer(mmgpt_ctx *ctx, const char *answer, char *err);

/* The full text of the last mmgpt_generate (valid until the next generate / clear / free). */
const char *mmgpt_last_text(const mmgpt_ctx *ctx);
mmgpt_stop  mmgpt_stop_reason(const mmgpt_ctx *ctx);

/* Evaluate the pending turn without generating. logits (may be NULL): *logits receives a malloc'd
 * [*n_pos][n_vocab] float array with the logits of every position of the turn (media rows included),
 * the caller frees it (every position is then evaluated, none taken from the prefix cache). raw as in
 * mmgpt_gen_params. */
int mmgpt_eval(mmgpt_ctx *ctx, bool raw, float **logits, int64_t *n_pos, char *err);

/* The positions the pending turn would take (text tokens + media rows), without evaluating it;
 * ids_out (may be NULL) receives a malloc'd [*n] array with the token ids, -1 at media rows. */
int mmgpt_tokenize_turn(mmgpt_ctx *ctx, bool raw, int32_t **ids_out, int64_t *n, char *err);

/* ---------------------------------------------------------------- timings */
typedef struct {
    double  load_ms;          /* model load (mmgpt_model_load) */
    double  image_decode_ms;  /* image file -> RGB */
    double  image_encode_ms;  /* preprocessing + ViT */
    double  audio_decode_ms;  /* sound file -> 16 kHz mono PCM */
    double  audio_encode_ms;  /* log-mel + audio encoder */
    double  project_ms;       /* projectors */
    double  prompt_ms;        /* evaluating the prompt (text tokens and media rows) */
    double  gen_ms;           /* generating tokens one by one (sampling included) */
    int64_t n_images, n_audio;
    int64_t n_media_rows;     /* decoder positions taken by media */
    int64_t n_prompt;         /* positions of the prompt turns (text tokens + media rows) */
    int64_t n_cached;         /* of those, positions found in the KV cache (not evaluated again) */
    int64_t n_gen;            /* tokens generated */
    int64_t n_media_cached;   /* of n_images + n_audio, taken from the model's media cache (no decode, no encoder) */
    int64_t n_prompt_batched; /* of n_prompt, positions evaluated in a mmgpt_generate_next_many step (with the
                                 other contexts' tokens when there are several: mmgpt_set_batched_start) */
} mmgpt_timings;

/* Accumulated since the ctx was created or mmgpt_reset_timings (load_ms is the model's). */
void mmgpt_get_timings(const mmgpt_ctx *ctx, mmgpt_timings *t);
void mmgpt_reset_timings(mmgpt_ctx *ctx);

const char *mmgpt_version(void);

MM_API_END

#ifdef __cplusplus
}
#endif
#endif /* MMGPT_H */
