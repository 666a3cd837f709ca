/* mmgpt.c - the product API (include/mmgpt.h): model + encoders + projectors + template, contexts,
 * media, prompt evaluation and generation. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "conversation.h"
#include "mm_audio.h"
#include "mm_core.h"
#include "mm_dist.h"
#include "mm_fusion.h"
#include "mm_gguf.h"
#include "mm_image.h"
#include "mm_tokenizer.h"
#include "mm_transformer.h"
#include "mmgpt.h"

#ifndef MMGPT_VERSION
#define MMGPT_VERSION "0.1.0"
#endif

_Static_assert(MMGPT_ERR_SIZE == MM_ERR_SIZE, "error buffer sizes must agree");

/* ---------------------------------------------------------------- small helpers */
static int sb_add(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) return -1;
        b->s = p;
        b->cap = cap;
    }
    if (n) memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return 0;
}
static void sb_clear(sbuf *b) {
    b->n = 0;
    if (b->s) b->s[0] = 0;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s);
    char  *p = malloc(n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

int mm_api_fail(int code, char *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, MMGPT_ERR_SIZE, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *mmgpt_version(void) { return MMGPT_VERSION; }

/* ---------------------------------------------------------------- model */
mmgpt_model_params mmgpt_model_default_params(void) {
    return (mmgpt_model_params){.mmproj_path = NULL, .no_vision = false, .no_audio = false, .chat_template = NULL,
                                .media_cache_bytes = MMGPT_MEDIA_CACHE_BYTES,
                                .dist = NULL, .layer_split = NULL};
}

/* The special token that starts the template's answer close (<|im_end|>, <|eot_id|>, <end_of_turn>, ...):
 * the model ends its answer with it. -1 when there is none or it is eos. */
static int32_t end_of_turn(const mm_prompt_template *t, int32_t eos) {
    mm_prompt p;
    char      e[MM_ERR_SIZE];
    if (!t->answer_close || mm_prompt_template_text(t, t->answer_close, &p, e)) return -1;
    int32_t id = p.n_segs > 0 && p.segs[0].kind == MM_SEG_SPECIAL ? p.segs[0].token : -1;
    mm_prompt_free(&p);
    return id == eos ? -1 : id;
}

/* Encoder present: clip.has_*_encoder when the key exists, else the first tensor's presence. */
static bool has_encoder(const mm_gguf *g, const char *key, const char *tensor) {
    bool v = false;
    if (mm_gguf_find_key(g, key) >= 0) return mm_gguf_get_bool(g, key, &v) == 0 && v;
    return mm_gguf_find_tensor(g, tensor) != NULL;
}

/* Loading failed on rank 0 of a pipeline: the other ranks, waiting in their join, learn it and stop. */
static void dist_fail(mm_dist *d, char *err) {
    if (!d || mm_dist_joined(d)) return;
    char e[MM_ERR_SIZE];
    snprintf(e, sizeof e, "%s", err ? err : "failed");
    mm_dist_join(d, NULL, NULL, NULL, -1, e);
}

mmgpt_model *mmgpt_model_load(const char *path, mmgpt_model_params p, char *err) {
    double       t0 = mm_time_ms();
    char         e[MM_ERR_SIZE];
    if (!path) {
        mm_err(err, "%s: path is NULL", __func__);
        return NULL;
    }
    mmgpt_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = xstrdup(path))) {
        free(m);
        mm_err(err, "out of memory");
        return NULL;
    }
    /* the loaders put the file first themselves (mm_core.h, mm_err); the path goes in front of the messages
     * that name no file: ours, and mm_prompt_template_bind's */
    if (!(m->g = mm_gguf_open(path, e))) goto fail;
    if (!(m->gpt = mm_gpt_model_load(m->g, e))) goto fail;
    if (!(m->tok = mm_tokenizer_load_gguf(m->g, e))) goto fail;
    m->d_model = mm_gpt_model_d_model(m->gpt);
    m->eos = mm_tokenizer_eos(m->tok);
    if (mm_tokenizer_n_vocab(m->tok) > mm_gpt_model_n_vocab(m->gpt)) {
        snprintf(e, sizeof e, "the tokenizer has %d tokens but the decoder only %lld", mm_tokenizer_n_vocab(m->tok),
                 (long long)mm_gpt_model_n_vocab(m->gpt));
        goto fail_path;
    }
    if (mm_prompt_template_load_chat(&m->tpl, m->g, p.chat_template, e)) goto fail;
    if (mm_prompt_template_bind(&m->tpl, m->tok, e)) goto fail_path;
    m->eot = end_of_turn(&m->tpl, m->eos);

    const mm_gguf *ge = m->g;
    if (p.mmproj_path) {
        if (!(m->gproj = mm_gguf_open(p.mmproj_path, e))) goto fail;
        ge = m->gproj;
        if (!has_encoder(ge, "clip.has_vision_encoder", "v.patch_embd.weight") &&
            !has_encoder(ge, "clip.has_audio_encoder", "a.conv1d.1.weight")) {
            const char *a = "";
            size_t      al = 0;
            if (mm_gguf_get_str(ge, "general.architecture", &a, &al) == 0 && !(al == 4 && !memcmp(a, "clip", 4)))
                mm_err(err, "%s: not an mmproj file but a text model (general.architecture \"%.*s\", no image or audio "
                            "encoder): give it as the model (mmgpt: -m FILE) and the mmproj file as the mmproj",
                       p.mmproj_path, (int)(al > 64 ? 64 : al), a);
            else
                mm_err(err, "%s: this mmproj file has neither an image nor an audio encoder", p.mmproj_path);
            mmgpt_model_free(m);
            dist_fail(p.dist, err);
            return NULL;
        }
    }
    if (!(m->enc_path = xstrdup(mm_gguf_path(ge)))) { snprintf(e, sizeof e, "out of memory"); goto fail_path; }
    if (!p.no_vision && has_encoder(ge, "clip.has_vision_encoder", "v.patch_embd.weight")) {
        if (!(m->vit = mm_vit_model_load(ge, e))) goto fail;
        int64_t d_in = mm_vit_d_enc(m->vit);
        if (mm_projector_load(&m->pimg, ge, MMGPT_MEDIA_IMAGE, d_in, m->d_model, e)) goto fail;
        int64_t np = mm_vit_n_tokens(m->vit) - (mm_vit_has_cls(m->vit) ? 1 : 0);
        if (m->pimg.merge > 1 && np != m->pimg.grid * m->pimg.grid) {
            snprintf(e, sizeof e, "%s: the image encoder gives %lld patch rows, not the %lld x %lld grid that "
                     "clip.vision.projector.scale_factor merges", mm_gguf_path(ge), (long long)np,
                     (long long)m->pimg.grid, (long long)m->pimg.grid);
            goto fail;
        }
        mm_media_image_processor(m, ge);
    }
    if (!p.no_audio && has_encoder(ge, "clip.has_audio_encoder", "a.conv1d.1.weight")) {
        if (!(m->aud = mm_audio_model_load(ge, e))) goto fail;
        int64_t d_in = mm_audio_model_d_enc(m->aud);
        if (mm_projector_load(&m->paud, ge, MMGPT_MEDIA_AUDIO, d_in, m->d_model, e)) goto fail;
        const char *ab, *ae; /* the family's text around the rows (qwen2a: <|audio_bos|> ... <|audio_eos|>) */
        mm_projector_audio_wrap(&m->paud, &ab, &ae);
        if (mm_prompt_template_wrap_audio(&m->tpl, ab, ae, m->tok, e)) goto fail_path;
    }
    if ((m->vit || m->aud) && p.media_cache_bytes > 0 && !(m->cache = mm_media_cache_new((size_t)p.media_cache_bytes))) {
        snprintf(e, sizeof e, "out of memory");
        goto fail;
    }
    if (p.dist && mm_dist_join(p.dist, m->g, m->gpt, p.layer_split, 0, e) != 0) goto fail; /* every rank loaded */
    m->load_ms = mm_time_ms() - t0;
    return m;
fail_path:
    mm_err(err, "%s: %s", path, e);
    mmgpt_model_free(m);
    dist_fail(p.dist, err);
    return NULL;
fail:
    mm_err(err, "%s", e);
    mmgpt_model_free(m);
    dist_fail(p.dist, err);
    return NULL;
}

void mmgpt_model_free(mmgpt_model *m) {
    if (!m) return;
    mm_projector_free(&m->pimg);
    mm_projector_free(&m->paud);
    mm_vit_model_free(m->vit);
    mm_audio_model_free(m->aud);
    mm_gpt_model_free(m->gpt);
    mm_tokenizer_free(m->tok);
    mm_prompt_template_free(&m->tpl);
    mm_media_cache_free(m->cache);
    if (m->gproj) mm_gguf_close(m->gproj);
    if (m->g) mm_gguf_close(m->g);
    free(m->path);
    free(m->enc_path);
    free(m);
}

bool        mmgpt_model_has_vision(const mmgpt_model *m) { return m && m->vit; }
const char *mmgpt_model_chat_template(const mmgpt_model *m) { return m ? m->tpl.chat_name : NULL; }
bool    mmgpt_model_has_audio(const mmgpt_model *m) { return m && m->aud; }
int64_t mmgpt_model_n_ctx(const mmgpt_model *m) { return m ? mm_gpt_model_n_ctx(m->gpt) : 0; }
int64_t mmgpt_model_d_model(const mmgpt_model *m) { return m ? m->d_model : 0; }
int64_t mmgpt_model_n_vocab(const mmgpt_model *m) { return m ? mm_gpt_model_n_vocab(m->gpt) : 0; }
double  mmgpt_model_load_ms(const mmgpt_model *m) { return m ? m->load_ms : 0.0; }

static bool task_of(const char *name, mm_task *t) {
    if (!name) return false;
    if (!strcmp(name, "caption")) *t = MM_TASK_CAPTION;
    else if (!strcmp(name, "describe")) *t = MM_TASK_DESCRIBE;
    else if (!strcmp(name, "ask")) *t = MM_TASK_ASK;
    else return false;
    return true;
}

char *mmgpt_model_task_prompt(const mmgpt_model *m, const char *task, const char *question) {
    mm_task t;
    if (!m || !task_of(task, &t)) return NULL;
    return mm_prompt_task_text(&m->tpl, t, question);
}

/* ---------------------------------------------------------------- context */
mmgpt_ctx_params mmgpt_ctx_default_params(void) {
    return (mmgpt_ctx_params){.n_threads = 0, .n_ctx = 0, .kv_f16 = false, .max_tiles = 0, .share_pool = NULL};
}

/* A thread pool and the number of contexts that run on it (mmgpt_ctx_params.share_pool): the last one
 * frees it. Contexts of one pool are used from one thread at a time (mmgpt.h), so the count needs no lock. */
struct mm_pool_ref {
    mm_pool *pool;
    int      users;
};

static struct mm_pool_ref *pool_ref_take(mmgpt_ctx *share, int n_threads, char *err) {
    if (share) {
        share->pool_ref->users++;
        return share->pool_ref;
    }
    struct mm_pool_ref *r = calloc(1, sizeof *r);
    if (!r) {
        mm_err(err, "out of memory");
        return NULL;
    }
    if (!(r->pool = mm_pool_create(n_threads, err))) {
        free(r);
        return NULL;
    }
    r->users = 1;
    return r;
}

static void pool_ref_drop(struct mm_pool_ref *r) {
    if (r && --r->users == 0) {
        mm_pool_free(r->pool);
        free(r);
    }
}


/* Template text and user text alike: special-token text is ordinary text. */
static int tokenize_plain(void *tok, const char *text, size_t len, int32_t **ids, int64_t *n, char *err) {
    return mm_tokenizer_encode_alloc(tok, text, len, false, ids, n, err);
}

mmgpt_ctx *mmgpt_ctx_create(const mmgpt_model *m, mmgpt_ctx_params p, char *err) {
    if (!m) {
        mm_err(err, "%s: no model", __func__);
        return NULL;
    }
    mmgpt_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        mm_err(err, "out of memory");
        return NULL;
    }
    c->m = m;
    c->max_tiles = p.max_tiles;
    if (!(c->pool_ref = pool_ref_take(p.share_pool, p.n_threads, err))) goto fail;
    c->pool = c->pool_ref->pool;
    mm_gpt_state_params sp = mm_gpt_state_default_params();
    sp.n_ctx = p.n_ctx;
    sp.kv_f16 = p.kv_f16;
    sp.pool = c->pool;
    if (!(c->st = mm_gpt_state_create(m->gpt, sp, err))) goto fail;
    if (!(c->ts = mm_tokenizer_stream_create(m->tok, err))) goto fail;
    mm_conv_params vp = {.st = c->st, .tpl = &m->tpl, .tokenize = tokenize_plain, .tok_user = m->tok, .eos = m->eos,
                         .bos = mm_tokenizer_add_bos(m->tok) ? mm_tokenizer_bos(m->tok) : -1};
    if (!(c->conv = mm_conv_create(&vp, err))) goto fail;
    if (!(c->logits_ban = malloc((size_t)mm_gpt_model_n_vocab(m->gpt) * sizeof(float)))) {
        mm_err(err, "out of memory");
        goto fail;
    }
    if (m->vit) {
        int64_t nt = mm_vit_n_tokens(m->vit), dv = mm_vit_d_enc(m->vit);
        if (!(c->vs = mm_vit_state_create(m->vit, c->pool, err))) goto fail;
        c->vit_out = malloc((size_t)(nt * dv) * sizeof(float));
        c->img_proj_scratch = aligned_alloc(64, align64(mm_projector_scratch_bytes(&m->pimg, nt)) + 64);
        if (!c->vit_out || !c->img_proj_scratch) {
            mm_err(err, "out of memory");
            goto fail;
        }
    }
    if (m->aud && !(c->as = mm_audio_state_create(m->aud, c->pool, err))) goto fail;
    return c;
fail:
    mmgpt_ctx_free(c);
    return NULL;
}

static void gen_free(mmgpt_ctx *c);

void mmgpt_ctx_free(mmgpt_ctx *c) {
    if (!c) return;
    gen_free(c);
    mm_conv_free(c->conv);
    free(c->last.s);
    free(c->vit_out);
    free(c->img_proj_scratch);
    free(c->logits_ban);
    mm_vit_state_free(c->vs);
    mm_audio_state_free(c->as);
    mm_tokenizer_stream_free(c->ts);
    mm_gpt_batch_free(c->batch);
    mm_gpt_state_free(c->st);
    pool_ref_drop(c->pool_ref);
    free(c);
}

int64_t mmgpt_ctx_n_ctx(const mmgpt_ctx *c) { return c ? mm_gpt_state_n_ctx(c->st) : 0; }
int64_t mmgpt_ctx_n_past(const mmgpt_ctx *c) { return c ? mm_gpt_state_n_past(c->st) : 0; }

void mmgpt_set_prefill_hook(mmgpt_ctx *c, void (*fn)(void *user), void *user) {
    if (c) mm_conv_set_between(c->conv, fn, user);
}

int mmgpt_set_system(mmgpt_ctx *c, const char *system, char *err) {
    NEED(c, "ctx");
    return mm_conv_set_system(c->conv, system, err);
}

void mmgpt_clear(mmgpt_ctx *c) {
    if (!c) return;
    gen_free(c);
    mm_conv_clear(c->conv); /* the KV cache stays, as a prefix cache for the next conversation */
    sb_clear(&c->last);
    c->stop = MMGPT_STOP_NONE;
}

void mmgpt_reset(mmgpt_ctx *c) {
    if (!c) return;
    mmgpt_clear(c);
    mm_conv_reset(c->conv);
}

void mmgpt_set_batched_start(mmgpt_ctx *c, bool on) {
    if (c) c->batched_start = on;
}

int mmgpt_copy_cache(mmgpt_ctx *dst, const mmgpt_ctx *src, char *err) {
    NEED(src, "src");
    return mmgpt_copy_cache_n(dst, src, mm_conv_n_past(src->conv), err);
}

int mmgpt_copy_cache_n(mmgpt_ctx *dst, const mmgpt_ctx *src, int64_t n, char *err) {
    NEED(dst, "dst");
    NEED(src, "src");
    if (dst == src) return fail(MMGPT_ERR_USAGE, err, "mmgpt_copy_cache: the source is the destination");
    if (dst->m != src->m) return fail(MMGPT_ERR_USAGE, err, "mmgpt_copy_cache: the contexts are of different models");
    mmgpt_clear(dst);
    char e[MM_ERR_SIZE];
    if (n < 0 || n > mm_conv_n_past(src->conv))
        return fail(MMGPT_ERR_USAGE, err, "mmgpt_copy_cache: %lld positions asked, the source holds %lld", (long long)n,
                    (long long)mm_conv_n_past(src->conv));
    if (n > mm_conv_n_ctx(dst->conv))
        return fail(MMGPT_ERR_USAGE, err, "mmgpt_copy_cache: %lld positions to copy, the destination's context is %lld",
                    (long long)n, (long long)mm_conv_n_ctx(dst->conv));
    if (mm_gpt_state_copy_prefix(dst->st, src->st, n, e)) {
        mm_conv_reset(dst->conv); /* the state may hold part of the copy: start empty */
        return fail(MMGPT_ERR_USAGE, err, "%s", e);
    }
    if (mm_conv_adopt_record(dst->conv, src->conv, n, e)) {
        mm_conv_reset(dst->conv);
        return fail(MMGPT_ERR_INTERNAL, err, "%s", e);
    }
    return MMGPT_OK;
}

void mmgpt_get_timings(const mmgpt_ctx *c, mmgpt_timings *t) {
    if (!t) return;
    if (!c) {
        memset(t, 0, sizeof *t);
        return;
    }
    *t = c->t;
    t->load_ms = c->m->load_ms;
}
void mmgpt_reset_timings(mmgpt_ctx *c) {
    if (c) memset(&c->t, 0, sizeof c->t);
}

static void media_release(void *md) { mmgpt_media_free(md); }

/* Into the pending turn; owned: freed with the turn (also when this fails). */
static int push_media(mmgpt_ctx *c, const mmgpt_media *md, bool owned, char *err) {
    mm_conv_media v = {.kind = md->kind, .n_rows = md->n_rows,
                       .d = md->d, .rows = md->rows, .hash = md->hash, .layout = md->layout,
                       .n_layout = md->n_layout};
    return mm_conv_add_media(c->conv, &v, owned ? (void *)md : NULL, owned ? media_release : NULL, err);
}

int mmgpt_add_media(mmgpt_ctx *c, const mmgpt_media *md, char *err) {
    NEED(c, "ctx");
    if (!md) return fail(MMGPT_ERR_USAGE, err, "%s: no media", __func__);
    if (md->d != c->m->d_model) return fail(MMGPT_ERR_USAGE, err, "%s: media made for another model", __func__);
    return push_media(c, md, false, err);
}

/* Take ownership of a media made by one of the mmgpt_media_from_* calls (rc is its status). */
static int add_owned(mmgpt_ctx *c, int rc, mmgpt_media **md, char *err) {
    if (rc) return rc;
    return push_media(c, *md, true, err);
}

int mmgpt_add_image_file(mmgpt_ctx *c, const char *path, char *err) {
    mmgpt_media *md = NULL;
    int          rc = mmgpt_media_from_file(c, path, MMGPT_MEDIA_IMAGE, &md, err);
    return add_owned(c, rc, &md, err);
}
int mmgpt_add_image_memory(mmgpt_ctx *c, const void *data, size_t size, char *err) {
    mmgpt_media *md = NULL;
    int          rc = mmgpt_media_from_memory(c, data, size, MMGPT_MEDIA_IMAGE, NULL, &md, err);
    return add_owned(c, rc, &md, err);
}
int mmgpt_add_audio_file(mmgpt_ctx *c, const char *path, char *err) {
    mmgpt_media *md = NULL;
    int          rc = mmgpt_media_from_file(c, path, MMGPT_MEDIA_AUDIO, &md, err);
    return add_owned(c, rc, &md, err);
}
int mmgpt_add_audio_memory(mmgpt_ctx *c, const void *data, size_t size, char *err) {
    mmgpt_media *md = NULL;
    int          rc = mmgpt_media_from_memory(c, data, size, MMGPT_MEDIA_AUDIO, NULL, &md, err);
    return add_owned(c, rc, &md, err);
}

int mmgpt_add_text(mmgpt_ctx *c, const char *text, char *err) {
    NEED(c, "ctx");
    NEED(text, "text");
    return mm_conv_add_text(c->conv, text, false, err);
}
int mmgpt_add_text_literal(mmgpt_ctx *c, const char *text, char *err) {
    NEED(c, "ctx");
    NEED(text, "text");
    return mm_conv_add_text(c->conv, text, true, err);
}

int mmgpt_add_start(mmgpt_ctx *c, char *err) {
    NEED(c, "ctx");
    int32_t t = mm_tokenizer_bos(c->m->tok) >= 0 ? mm_tokenizer_bos(c->m->tok) : c->m->eos;
    if (t < 0) return fail(MMGPT_ERR_MODEL, err, "%s: the model has neither a BOS nor an end-of-text token", c->m->path);
    return mm_conv_add_lead_token(c->conv, t, err);
}

/* The task's user text: template pieces as prompt text, each {question} as literal text. */
int mmgpt_add_task(mmgpt_ctx *c, const char *task, const char *question, char *err) {
    NEED(c, "ctx");
    mm_task t;
    if (!task_of(task, &t)) return fail(MMGPT_ERR_USAGE, err, "%s: unknown task '%s'", __func__, task ? task : "(null)");
    const mm_prompt_template *tp = &c->m->tpl;
    const char *p = t == MM_TASK_CAPTION ? tp->caption : t == MM_TASK_DESCRIBE ? tp->describe : tp->ask;
    int         rc = MMGPT_OK;
    for (const char *hit; !rc && p && (hit = strstr(p, "{question}")); p = hit + strlen("{question}")) {
        char *piece = malloc((size_t)(hit - p) + 1);
        if (!piece) return fail(MMGPT_ERR_INTERNAL, err, "out of memory");
        memcpy(piece, p, (size_t)(hit - p));
        piece[hit - p] = 0;
        rc = mm_conv_add_text(c->conv, piece, false, err);
        free(piece);
        if (!rc) rc = mm_conv_add_text(c->conv, question ? question : "", true, err);
    }
    if (!rc && p) rc = mm_conv_add_text(c->conv, p, false, err);
    return rc;
}

int mmgpt_tokenize_turn(mmgpt_ctx *c, bool raw, int32_t **ids_out, int64_t *n, char *err) {
    if (ids_out) *ids_out = NULL;
    NEED(c, "ctx");
    NEED(n, "n");
    mm_conv_seq s;
    char        e[MM_ERR_SIZE];
    int         rc = mm_conv_build(c->conv, raw, &s, e);
    if (rc) return fail(rc, err, "%s", e);
    *n = s.n;
    int32_t *ids = ids_out ? malloc((size_t)(s.n > 0 ? s.n : 1) * sizeof *ids) : NULL;
    if (ids_out && !ids) rc = fail(MMGPT_ERR_INTERNAL, err, "out of memory");
    for (int64_t i = 0; ids && i < s.n; i++) ids[i] = s.pos[i].token;
    if (ids_out) *ids_out = ids;
    mm_conv_seq_free(&s);
    return rc;
}

/* A turn's last position that mmgpt_generate_begin left to the batched step (mmgpt_set_batched_start),
 * evaluated now, alone: the same one-position evaluation the step makes. */
static int flush_deferred(mmgpt_ctx *c, char *err) {
    int32_t t;
    char    e[MM_ERR_SIZE];
    if (!mm_conv_deferred(c->conv, &t)) return MMGPT_OK;
    const double t0 = mm_time_ms();
    const int    rc = mm_gpt_eval_tokens(c->st, &t, 1, NULL, e);
    c->t.prompt_ms += mm_time_ms() - t0;
    if (rc) { /* the state is unchanged: the record stays without it */
        mm_conv_deferred_drop(c->conv);
        return fail(rc == MM_ERR_NONFINITE ? MMGPT_ERR_MODEL : MMGPT_ERR_INTERNAL, err, "%s", e);
    }
    mm_conv_deferred_record(c->conv);
    return MMGPT_OK;
}

/* Evaluate the pending turn (positions already in the KV cache are kept: see conversation.h); replay: a
 * turn of a replayed conversation (mm_conv_replay_turn); defer: a turn to generate from, whose last
 * position may be left to the next batched step (mm_conv_eval_turn_defer). */
static int eval_turn_as(mmgpt_ctx *c, bool raw, bool replay, bool defer, int64_t need_room, float **logits_all,
                        int64_t *n_pos, char *err) {
    mm_conv_turn_info info;
    char              e[MM_ERR_SIZE];
    int               rc = flush_deferred(c, err);
    if (rc) return rc;
    rc = replay ? mm_conv_replay_turn(c->conv, raw, need_room, &info, e)
         : defer ? mm_conv_eval_turn_defer(c->conv, raw, need_room, &info, e)
                 : mm_conv_eval_turn(c->conv, raw, need_room, logits_all, &info, e);
    if (rc) return fail(rc, err, "%s", e);
    c->t.prompt_ms += info.eval_ms;
    c->t.n_prompt += info.n_pos;
    c->t.n_cached += info.n_cached;
    c->t.n_media_rows += info.n_media_rows;
    if (n_pos) *n_pos = info.n_pos;
    return MMGPT_OK;
}

static int eval_turn(mmgpt_ctx *c, bool raw, int64_t need_room, float **logits_all, int64_t *n_pos, char *err) {
    return eval_turn_as(c, raw, false, false, need_room, logits_all, n_pos, err);
}

int mmgpt_eval(mmgpt_ctx *c, bool raw, float **logits, int64_t *n_pos, char *err) {
    if (logits) *logits = NULL;
    NEED(c, "ctx");
    int rc = eval_turn(c, raw, 0, logits, n_pos, err);
    if (rc) mm_conv_drop_pending(c->conv);
    return rc;
}

/* ---------------------------------------------------------------- generation */
mmgpt_gen_params mmgpt_gen_default_params(void) {
    return (mmgpt_gen_params){.max_tokens = 128, .temperature = 0.0f, .top_k = 40, .top_p = 0.95f, .seed = 0x5eed,
                              .min_p = 0.05f, .repeat_penalty = 1.0f, .presence_penalty = 0.0f,
                              .frequency_penalty = 0.0f, .repeat_last_n = 64, .raw = false,
                              .trim_leading_space = true, .ignore_eos = false, .stop = NULL, .n_stop = 0};
}

typedef struct {
    mmgpt_ctx     *c;
    mmgpt_piece_fn cb;
    void          *user;
    bool           trim;     /* the first non-empty piece still may start with the space to drop */
    bool           stopped;  /* the callback returned false */
    bool           oom;
} emitter;

static void emit(emitter *em, const char *s, size_t n) {
    if (n == 0) return;
    if (em->trim) {
        em->trim = false;
        if (s[0] == ' ') {
            s++;
            n--;
            if (n == 0) return;
        }
    }
    if (sb_add(&em->c->last, s, n)) em->oom = true;
    if (em->cb && !em->stopped && !em->cb(s, n, em->user)) em->stopped = true;
}

/* The penalties' window starts with the last n tokens of the conversation the KV cache holds
 * (after the turn was evaluated: system prompt, earlier turns and answers, this turn); media rows
 * (token -1) are not tokens and are skipped. */
static void accept_history(mmgpt_ctx *c, mm_sampler *smp, int64_t n) {
    const mm_conv_pos *rec = mm_conv_cached(c->conv);
    int32_t            def = -1;
    const bool         has_def = mm_conv_deferred(c->conv, &def) && n > 0; /* the turn's last token, not evaluated yet */
    int64_t            i = mm_conv_n_past(c->conv), k = has_def;
    while (i > 0 && k < n)
        if (rec[--i].token >= 0) k++;
    for (; i < mm_conv_n_past(c->conv); i++) mm_sampler_accept(smp, rec[i].token);
    if (has_def) mm_sampler_accept(smp, def);
}

/* A generation in progress (mmgpt_generate_begin .. the step that ends it). */
struct mm_gen {
    mmgpt_gen_params p;
    mm_sampler      *smp;
    mm_stop         *stp;
    emitter          em;
    int64_t          n_ctx;
    int64_t          n_gen;  /* tokens of this answer */
};

static void gen_free(mmgpt_ctx *c) {
    if (!c->gen) return;
    mm_stop_free(c->gen->stp);
    mm_sampler_free(c->gen->smp);
    free(c->gen);
    c->gen = NULL;
}

static int gen_begin(mmgpt_ctx *c, mmgpt_gen_params p, char *err) {
    char e[MM_ERR_SIZE];
    gen_free(c);
    sb_clear(&c->last);
    if (sb_add(&c->last, "", 0)) return fail(MMGPT_ERR_INTERNAL, err, "out of memory");
    c->stop = MMGPT_STOP_NONE;
    if (!(p.temperature >= 0.0f && p.temperature <= MM_SAMPLER_MAX_TEMP))
        return fail(MMGPT_ERR_USAGE, err, "mmgpt_generate: temperature %g is outside [0, %g]", (double)p.temperature,
                    (double)MM_SAMPLER_MAX_TEMP);
    if (!(p.top_p >= 0.0f && p.top_p <= 1.0f)) return fail(MMGPT_ERR_USAGE, err, "mmgpt_generate: top-p %g is outside [0, 1]", (double)p.top_p);
    if (p.n_stop < 0 || (p.n_stop > 0 && !p.stop)) return fail(MMGPT_ERR_USAGE, err, "mmgpt_generate: bad stop-string list");
    if (p.repeat_last_n < -1) return fail(MMGPT_ERR_USAGE, err, "mmgpt_generate: repeat-last-n %d is below -1", p.repeat_last_n);
    struct mm_gen *g = calloc(1, sizeof *g);
    if (!g) return fail(MMGPT_ERR_INTERNAL, err, "out of memory");
    g->p = p;
    g->n_ctx = mm_gpt_state_n_ctx(c->st);
    mm_sampler_params sp = mm_sampler_default_params();
    sp.temperature = p.temperature;
    sp.top_k = p.top_k;
    sp.top_p = p.top_p;
    sp.seed = p.seed;
    sp.min_p = p.min_p;
    sp.repeat_penalty = p.repeat_penalty;
    sp.presence_penalty = p.presence_penalty;
    sp.frequency_penalty = p.frequency_penalty;
    /* the window never holds more than the context (the conversation) and the token being sampled */
    sp.penalty_last_n = p.repeat_last_n < 0 || p.repeat_last_n > g->n_ctx ? g->n_ctx : p.repeat_last_n;
    if (sp.penalty_last_n > MM_SAMPLER_MAX_LAST_N) sp.penalty_last_n = MM_SAMPLER_MAX_LAST_N;
    c->gen = g;
    if (mm_sampler_params_check(&sp, e)) {
        gen_free(c);
        return fail(MMGPT_ERR_USAGE, err, "mmgpt_generate: %s", e);
    }
    if (!(g->smp = mm_sampler_create(sp, mm_gpt_model_n_vocab(c->m->gpt), e))) {
        gen_free(c);
        return fail(MMGPT_ERR_INTERNAL, err, "%s", e);
    }
    if (!(g->stp = mm_stop_create(p.stop, p.n_stop, e))) {
        gen_free(c);
        return fail(MMGPT_ERR_USAGE, err, "%s", e);
    }
    int rc = eval_turn_as(c, p.raw, false, c->batched_start, 1, NULL, NULL, err);
    if (rc) {
        gen_free(c);
        return rc;
    }
    accept_history(c, g->smp, sp.penalty_last_n);
    g->em = (emitter){.c = c, .trim = p.trim_leading_space};
    mm_tokenizer_stream_reset(c->ts);
    return MMGPT_OK;
}

/* The answer ended (why) or failed (rc): the rest of the text, then the generation is over. */
static void gen_finish(mmgpt_ctx *c, int rc, mmgpt_stop why) {
    struct mm_gen *g = c->gen;
    if (rc == MMGPT_OK && why != MMGPT_STOP_STRING) {
        const char *out;
        size_t      n_out;
        mm_tokenizer_stream_flush(c->ts, &out, &n_out);
        const char *o2;
        size_t      n2;
        bool        hit = mm_stop_feed(g->stp, out, n_out, &o2, &n2);
        emit(&g->em, o2, n2);
        if (!hit) {
            mm_stop_flush(g->stp, &o2, &n2);
            emit(&g->em, o2, n2);
        }
    }
    c->stop = why;
    gen_free(c);
}

/* The next token of a generation from the state's logits (the sampler's choice, recorded in its history);
 * touches only c's sampler and scratch, so several contexts pick at once on a pool (gen_pick_many). */
static int32_t gen_pick(mmgpt_ctx *c) {
    struct mm_gen *g = c->gen;
    const float   *lg = mm_gpt_state_logits(c->st);
    if (!g->p.ignore_eos) {
        const int32_t t = mm_sampler_sample(g->smp, lg);
        mm_sampler_accept(g->smp, t);
        return t;
    }
    /* none of the end-of-generation tokens is ever sampled: they are set to -inf in the state's own logits
     * (this context's alone: a pick runs on one thread), their values kept in logits_ban and put back after
     * the pick, in reverse order (an id may be listed twice) - no copy of n_vocab floats per token; with more
     * end tokens than the vocabulary (a hostile file) the logits are copied and banned there instead */
    const int32_t *eog = NULL;
    const int32_t  n_eog = mm_tokenizer_eog_ids(c->m->tok, &eog);
    const int64_t  nv = mm_gpt_model_n_vocab(c->m->gpt);
    const int32_t  extra[2] = {c->m->eos, c->m->eot};
    const bool     in_place = (int64_t)n_eog + 2 <= nv;
    float         *lw = in_place ? (float *)lg : c->logits_ban;
    if (!in_place) memcpy(lw, lg, (size_t)nv * sizeof(float));
    int32_t n_ban = 0;
    for (int32_t k = 0; k < n_eog + 2; k++) {
        const int32_t id = k < n_eog ? eog[k] : extra[k - n_eog];
        if (id < 0 || id >= nv) continue;
        if (in_place) c->logits_ban[n_ban++] = lw[id];
        lw[id] = -INFINITY;
    }
    const int32_t t = mm_sampler_sample(g->smp, lw);
    mm_sampler_accept(g->smp, t);
    for (int32_t k = n_eog + 2 - 1; in_place && k >= 0; k--) { /* the same ids, backwards */
        const int32_t id = k < n_eog ? eog[k] : extra[k - n_eog];
        if (id >= 0 && id < nv) lw[id] = c->logits_ban[--n_ban];
    }
    return t;
}

/* The picked token t: an end of generation ends the answer, else its text goes to the callback and the
 * stop conditions are checked; unless the answer ends here, *tok is the token to evaluate next (gen_step,
 * or a batched step of several contexts). 1 = go on, 0 = ended (c->stop), < 0 = error (the generation is
 * over). */
static int gen_take(mmgpt_ctx *c, int32_t t, int32_t *tok, char *err) {
    char           e[MM_ERR_SIZE];
    struct mm_gen *g = c->gen;
    /* the end of generation: eos, the template's end-of-turn token, or any of the tokenizer's
     * end-of-generation set (<|eot_id|>, <|im_end|>, <end_of_utterance>, ...) */
    if (t == c->m->eos || t == c->m->eot || mm_tokenizer_is_eog(c->m->tok, t)) {
        mm_conv_end_answer(c->conv, t); /* the template's close (<|endoftext|> for mmgpt) ends the answer */
        gen_finish(c, MMGPT_OK, MMGPT_STOP_EOS);
        return 0;
    }
    c->t.n_gen++;
    g->n_gen++;
    const char *piece;
    size_t      len;
    if (mm_tokenizer_stream_push(c->ts, t, &piece, &len, e)) {
        gen_finish(c, MMGPT_ERR_INTERNAL, MMGPT_STOP_NONE);
        return fail(MMGPT_ERR_INTERNAL, err, "%s", e);
    }
    const char *out;
    size_t      n_out;
    bool        hit = mm_stop_feed(g->stp, piece, len, &out, &n_out);
    emit(&g->em, out, n_out);
    if (g->em.oom) {
        gen_finish(c, MMGPT_ERR_INTERNAL, MMGPT_STOP_NONE);
        return fail(MMGPT_ERR_INTERNAL, err, "out of memory");
    }
    bool full = mm_gpt_state_n_past(c->st) >= g->n_ctx;
    if (hit || g->em.stopped || (g->p.max_tokens > 0 && g->n_gen >= g->p.max_tokens) || full) {
        mmgpt_stop why = hit ? MMGPT_STOP_STRING : g->em.stopped ? MMGPT_STOP_CALLBACK
                                                   : full        ? MMGPT_STOP_CONTEXT
                                                                 : MMGPT_STOP_MAX_TOKENS;
        /* close the answer in the cache before the next turn: the last token, then the template's close */
        mm_conv_end_answer(c->conv, t);
        gen_finish(c, MMGPT_OK, why);
        return 0;
    }
    *tok = t;
    return 1;
}

/* The evaluation of the sampled token failed (e): the generation is over. */
static int gen_eval_failed(mmgpt_ctx *c, const char *e, char *err) {
    gen_finish(c, MMGPT_ERR_INTERNAL, MMGPT_STOP_NONE);
    return fail(MMGPT_ERR_INTERNAL, err, "%s", e);
}

/* One token: sample it, pass its text on, evaluate it unless the answer ends here (returns as gen_take). */
static int gen_step(mmgpt_ctx *c, char *err) {
    char    e[MM_ERR_SIZE];
    int32_t t = -1;
    if (flush_deferred(c, e)) return gen_eval_failed(c, e, err);
    int     rc = gen_take(c, gen_pick(c), &t, err);
    if (rc == 1 && mm_conv_eval_token(c->conv, t, e)) return gen_eval_failed(c, e, err);
    return rc;
}

int mmgpt_generate_begin(mmgpt_ctx *c, mmgpt_gen_params p, char *err) {
    NEED(c, "ctx");
    int rc = gen_begin(c, p, err);
    if (rc) mm_conv_drop_pending(c->conv); /* a failed turn is forgotten (the cache holds what was evaluated) */
    return rc;
}

int mmgpt_generate_next(mmgpt_ctx *c, mmgpt_piece_fn cb, void *user, char *err) {
    NEED(c, "ctx");
    if (!c->gen) return fail(MMGPT_ERR_USAGE, err, "%s: no generation in progress (mmgpt_generate_begin)", __func__);
    c->gen->em.cb = cb;
    c->gen->em.user = user;
    double t0 = mm_time_ms();
    int    rc = gen_step(c, err);
    c->t.gen_ms += mm_time_ms() - t0;
    return rc;
}

bool mmgpt_generate_active(const mmgpt_ctx *c) { return c && c->gen; }

typedef struct {
    mmgpt_ctx *const *c;
    int32_t          *t;
    int               n;
    atomic_int        next;
} pick_job;

static void task_pick(void *v, int ith, int nth) {
    (void)ith, (void)nth;
    pick_job *p = v;
    for (int i; (i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed)) < p->n;) p->t[i] = gen_pick(p->c[i]);
}

/* t[i] = gen_pick(c[i]) for n contexts with a generation, the contexts spread over pool's threads (each
 * context's pick touches only its own sampler and scratch: the same tokens as one after the other). */
static void gen_pick_many(mm_pool *pool, mmgpt_ctx *const *c, int n, int32_t *t) {
    pick_job p = {c, t, n, 0};
    if (n > 1 && mm_pool_n_threads(pool) > 1) mm_pool_run(pool, task_pick, &p);
    else task_pick(&p, 0, 1);
}

/* Several contexts by one token each: every one samples (as mmgpt_generate_next: the samplers run at once on
 * the first context's pool, then the texts go to cb in order), then the tokens of those that go on are
 * evaluated together in one pass over the weights (mm_gpt_batch_eval on the first context's pool, whose
 * batch is made on first use), each bit-identical to its own evaluation; contexts whose states cannot join
 * the batch (fewer threads than the first's pool) are evaluated one at a time. */
int mmgpt_generate_next_many(mmgpt_ctx *const *ctxs, int n, mmgpt_piece_fn cb, void *const *users, int *rcs,
                             char *errs, char *err) {
    _Static_assert(MMGPT_NEXT_MANY_MAX == MM_GPT_BATCH_MAX, "mmgpt.h's limit is the decoder's batch");
    NEED(ctxs, "ctxs");
    NEED(rcs, "rcs");
    if (n < 1 || n > MM_GPT_BATCH_MAX)
        return fail(MMGPT_ERR_USAGE, err, "%s: %d contexts is outside [1, %d]", __func__, n, MM_GPT_BATCH_MAX);
    for (int i = 0; i < n; i++) {
        if (!ctxs[i]) return fail(MMGPT_ERR_USAGE, err, "%s: ctx %d is NULL", __func__, i);
        if (ctxs[i]->m != ctxs[0]->m) return fail(MMGPT_ERR_USAGE, err, "%s: ctx %d is of another model", __func__, i);
        for (int k = 0; k < i; k++)
            if (ctxs[k] == ctxs[i]) return fail(MMGPT_ERR_USAGE, err, "%s: ctx %d is also ctx %d", __func__, i, k);
    }
    mm_gpt_state *st[MM_GPT_BATCH_MAX];
    mm_gpt_input  in[MM_GPT_BATCH_MAX];
    mmgpt_ctx    *live[MM_GPT_BATCH_MAX];
    int32_t       pick[MM_GPT_BATCH_MAX];
    int           idx[MM_GPT_BATCH_MAX], brc[MM_GPT_BATCH_MAX], k = 0, nl = 0;
    char          e[MM_ERR_SIZE];
    for (int i = 0; i < n; i++) {
        if (ctxs[i]->gen && !mm_conv_deferred(ctxs[i]->conv, NULL)) live[nl++] = ctxs[i];
        else if (ctxs[i]->gen) continue; /* its turn's last position joins the step (below) */
        else rcs[i] = fail(MMGPT_ERR_USAGE, errs ? errs + (size_t)i * MMGPT_ERR_SIZE : NULL,
                           "mmgpt_generate_next: no generation in progress (mmgpt_generate_begin)");
    }
    /* 1. pick every next token at once (the sampling over n_vocab logits, on the first one's pool) */
    double t0 = mm_time_ms();
    if (nl > 0) gen_pick_many(live[0]->pool, live, nl, pick);
    const double dt_pick = mm_time_ms() - t0;
    bool         deferred[MM_GPT_BATCH_MAX] = {false};
    for (int i = 0, l = 0; i < n; i++) { /* 2. pass the texts on, in order */
        mmgpt_ctx *c = ctxs[i];
        char      *ei = errs ? errs + (size_t)i * MMGPT_ERR_SIZE : NULL;
        if (!c->gen) continue;
        int32_t d;
        if (mm_conv_deferred(c->conv, &d)) { /* no logits yet: its turn's last position is evaluated in this step */
            rcs[i] = 1;
            deferred[i] = true;
            st[k] = c->st, in[k] = (mm_gpt_input){d, NULL}, idx[k++] = i;
            continue;
        }
        c->gen->em.cb = cb;
        c->gen->em.user = users ? users[i] : NULL;
        t0 = mm_time_ms();
        int32_t t = -1;
        rcs[i] = gen_take(c, pick[l++], &t, ei);
        if (rcs[i] == 1 && mm_conv_token_check(c->conv, e)) rcs[i] = gen_eval_failed(c, e, ei);
        c->t.gen_ms += mm_time_ms() - t0 + dt_pick;
        if (rcs[i] == 1) st[k] = c->st, in[k] = (mm_gpt_input){t, NULL}, idx[k++] = i;
    }
    if (k == 0) return MMGPT_OK;
    /* 3. evaluate the sampled tokens: together, or one at a time */
    t0 = mm_time_ms();
    mmgpt_ctx   *lead = ctxs[idx[0]];
    bool         batched = false;
    if (k > 1 && !lead->batch) lead->batch = mm_gpt_batch_create(lead->m->gpt, MM_GPT_BATCH_MAX, lead->pool, e);
    if (k > 1 && lead->batch) batched = mm_gpt_batch_eval(lead->batch, st, in, k, brc, e) != -1;
    for (int j = 0; j < k; j++) {
        mmgpt_ctx *c = ctxs[idx[j]];
        char      *ei = errs ? errs + (size_t)idx[j] * MMGPT_ERR_SIZE : NULL;
        if (!batched) brc[j] = mm_gpt_eval_tokens(c->st, &in[j].token, 1, NULL, e);
        if (brc[j] != 0) {
            if (deferred[idx[j]]) mm_conv_deferred_drop(c->conv); /* the state is unchanged: so is the record */
            rcs[idx[j]] = gen_eval_failed(c, e, ei);
        } else if (deferred[idx[j]]) {
            mm_conv_deferred_record(c->conv);
            c->t.n_prompt_batched++;
        } else {
            mm_conv_token_record(c->conv, in[j].token);
        }
    }
    const double dt = mm_time_ms() - t0;
    for (int j = 0; j < k; j++) { /* each waited for the whole step */
        if (deferred[idx[j]]) ctxs[idx[j]]->t.prompt_ms += dt;
        else ctxs[idx[j]]->t.gen_ms += dt;
    }
    return MMGPT_OK;
}

void mmgpt_generate_stop(mmgpt_ctx *c) {
    if (!c || !c->gen) return;
    flush_deferred(c, NULL); /* the turn's last position first (on failure the answer closes without it) */
    /* the last sampled token is already in the cache: the close alone ends the answer */
    int32_t end = c->m->eot >= 0 ? c->m->eot : c->m->eos;
    if (end >= 0) mm_conv_end_answer(c->conv, end);
    c->gen->em.cb = NULL;
    gen_finish(c, MMGPT_OK, MMGPT_STOP_CALLBACK);
}

int mmgpt_generate(mmgpt_ctx *c, mmgpt_gen_params p, mmgpt_piece_fn cb, void *user, char *err) {
    int rc = mmgpt_generate_begin(c, p, err);
    while (rc == MMGPT_OK && (rc = mmgpt_generate_next(c, cb, user, err)) == 1) rc = MMGPT_OK;
    return rc < 0 ? rc : MMGPT_OK;
}

int mmgpt_eval_answer(mmgpt_ctx *c, const char *answer, char *err) {
    NEED(c, "ctx");
    NEED(answer, "answer");
    gen_free(c);
    int rc = eval_turn_as(c, false, true, false, 1, NULL, NULL, err);
    if (rc) {
        mm_conv_drop_pending(c->conv);
        return rc;
    }
    const mm_prompt_template *tpl = &c->m->tpl;
    const char *a = answer, *z = answer + strlen(answer);
    if (tpl->trim & MM_CHAT_TRIM_ANSWER) {
        while (a < z && isspace((unsigned char)*a)) a++;
        while (z > a && isspace((unsigned char)z[-1])) z--;
    }
    sbuf text = {0};
    const char *lead = tpl->answer_lead ? tpl->answer_lead : "";
    if (sb_add(&text, lead, strlen(lead)) || sb_add(&text, a, (size_t)(z - a))) {
        free(text.s);
        return fail(MMGPT_ERR_INTERNAL, err, "out of memory");
    }
    if (text.n > 0) {
        rc = mm_conv_add_text(c->conv, text.s, true, err);
        if (!rc) rc = eval_turn_as(c, true, true, false, 1, NULL, NULL, err);
        if (rc) mm_conv_drop_pending(c->conv);
    }
    free(text.s);
    if (rc) return rc;
    int32_t end = c->m->eot >= 0 ? c->m->eot : c->m->eos;
    if (end >= 0) mm_conv_end_answer(c->conv, end);
    return MMGPT_OK;
}

const char *mmgpt_last_text(const mmgpt_ctx *c) { return c && c->last.s ? c->last.s : ""; }
mmgpt_stop  mmgpt_stop_reason(const mmgpt_ctx *c) { return c ? c->stop : MMGPT_STOP_NONE; }
