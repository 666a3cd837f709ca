/* api_internal.h - private to the product API (fusion/mmgpt.c, fusion/media.c): the objects behind
 * include/mmgpt.h's handles and the helpers both files use.
 *   mmgpt.c  models, contexts, turns, generation (the API glue over the conversation, conversation.c)
 *   media.c  media: format sniffing, picture / clip encoding (tiles, audio windows), the media cache */
#ifndef MM_API_INTERNAL_H
#define MM_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conversation.h"
#include "mm_audio.h"
#include "mm_core.h"
#include "mm_fusion.h"
#include "mm_gguf.h"
#include "mm_image.h"
#include "mm_tokenizer.h"
#include "mm_transformer.h"
#include "mmgpt.h"

/* ---------------------------------------------------------------- objects */
struct mmgpt_model {
    char              *path;      /* model file (messages) */
    char              *enc_path;  /* file holding the encoders (model or mmproj) */
    mm_gguf           *g;         /* the model file (decoder + tokenizer [+ encoders]) */
    mm_gguf           *gproj;     /* separate mmproj file, or NULL */
    mm_tokenizer      *tok;
    mm_gpt_model      *gpt;
    mm_vit_model      *vit;       /* NULL = no image encoder */
    mm_projector       pimg;      /* image projector [n_patches, d_v] -> [n_patches / merge^2, d_model] */
    mm_audio_model    *aud;       /* NULL = no audio encoder */
    mm_projector       paud;      /* audio projector [n_frames, d_a] -> [ceil(n/k), d_model] */
    mm_prompt_template tpl;
    struct media_cache *cache;    /* projected rows of images and clips already encoded (NULL: off) */
    mm_image_proc_params proc;    /* the image processor of the mmproj's family (PLAIN: mmgpt's own) */
    int32_t            tok_fake, tok_global, tok_nl, tok_nl2; /* idefics3 tile markers (-1: not in the vocabulary) */
    int64_t            d_model;
    int32_t            eos;
    int32_t            eot;       /* the template's end-of-turn token (answer_close's first special token)
                                     when it is not eos, else -1: generation stops at eos and eot */
    double             load_ms;
};

struct mmgpt_media {
    mm_conv_hash     hash;    /* content hash of rows (prefix-cache identity) */
    mmgpt_media_kind kind;
    int64_t          n_rows;  /* decoder positions */
    int64_t          d;       /* d_model */
    float           *rows;    /* [n_rows][d] (NULL when n_rows == 0) */
    mm_conv_piece   *layout;  /* tiled picture: marker tokens and row runs in order; NULL = rows alone */
    int              n_layout;
};

typedef struct {
    char  *s;
    size_t n, cap;
} sbuf;

struct mmgpt_ctx {
    const mmgpt_model   *m;
    mm_pool             *pool;      /* pool_ref->pool */
    struct mm_pool_ref  *pool_ref;  /* the pool and the count of the contexts that run on it (share_pool) */
    mm_gpt_state        *st;
    mm_vit_state        *vs;        /* NULL without image encoder */
    float               *vit_out;   /* [n_tokens][d_v] */
    float               *img_proj_scratch;
    float               *logits_ban;  /* [n_vocab] gen.ignore_eos: the banned end tokens' logits, kept while they
                                         are -inf in the state's (or, with more of them than n_vocab, a copy of
                                         the logits with them banned) */
    mm_audio_state      *as;        /* NULL without audio encoder */
    mm_tokenizer_stream *ts;
    mm_conv             *conv;      /* the conversation: KV-cache record, pending turn, system prompt */
    struct mm_gen       *gen;       /* the generation in progress (mmgpt_generate_begin), or NULL */
    mm_gpt_batch        *batch;     /* batched decode on this ctx's pool (mmgpt_generate_next_many; first use) */
    int                  max_tiles; /* image processor's tile cap (0 = its default) */
    bool                 batched_start; /* mmgpt_set_batched_start: a turn's last position may join the next batched step */
    /* results */
    sbuf                 last;
    mmgpt_stop           stop;
    mmgpt_timings        t;
};

/* ---------------------------------------------------------------- helpers (mmgpt.c) */
/* Write the message into err (MMGPT_ERR_SIZE) and return code (an MMGPT_ERR_*). */
int mm_api_fail(int code, char *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define fail(...) mm_api_fail(__VA_ARGS__)
/* A NULL argument is a usage error (include/mmgpt.h, "Errors"), never a crash. */
#define NEED(arg, name) \
    do { \
        if (!(arg)) return fail(MMGPT_ERR_USAGE, err, "%s: %s is NULL", __func__, name); \
    } while (0)
static inline size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* ---------------------------------------------------------------- media (media.c) */
/* The media cache of a model: at most max_bytes of projected rows (NULL: out of memory). */
struct media_cache *mm_media_cache_new(size_t max_bytes);
void                mm_media_cache_free(struct media_cache *mc);
/* m->proc (the image processor of the mmproj's family, mm_image_proc_for_model) and SmolVLM's marker tokens. */
void                mm_media_image_processor(mmgpt_model *m, const mm_gguf *ge);

#endif /* MM_API_INTERNAL_H */
