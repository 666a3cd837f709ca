/* media.c - the product API's media (include/mmgpt.h "Media"): format sniffing, pictures through the model's
 * image processor (tiles and SmolVLM's marker layout), clips through the audio encoder (30 s windows), both
 * through their projector into decoder rows, and the media cache of a model. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

/* ---------------------------------------------------------------- media cache
 * Images and clips already encoded by this model (any of its contexts, any thread): key = 128-bit hash of the
 * file's bytes and of the processing (image_key, audio_key), value = a copy of the projected rows. Bounded by
 * max_bytes of rows; the least recently used entries go first; an item larger than the bound is not kept. */
typedef struct {
    mm_conv_hash key;
    int64_t      n_rows, d;
    float       *rows;  /* [n_rows][d] */
    int          grid_r, grid_c; /* tile grid of a tiled picture (0, 0: none) */
    uint64_t     used;  /* LRU clock */
} cache_entry;

struct media_cache {
    pthread_mutex_t mu;
    cache_entry    *e;
    int             n, cap;
    size_t          bytes, max_bytes;
    uint64_t        clock;
};

struct media_cache *mm_media_cache_new(size_t max_bytes) {
    struct media_cache *mc = calloc(1, sizeof *mc);
    if (!mc) return NULL;
    if (pthread_mutex_init(&mc->mu, NULL)) {
        free(mc);
        return NULL;
    }
    mc->max_bytes = max_bytes;
    return mc;
}

void mm_media_cache_free(struct media_cache *mc) {
    if (!mc) return;
    for (int i = 0; i < mc->n; i++) free(mc->e[i].rows);
    free(mc->e);
    pthread_mutex_destroy(&mc->mu);
    free(mc);
}

static bool hash_eq(mm_conv_hash a, mm_conv_hash b) { return a.lo == b.lo && a.hi == b.hi; }

/* Copy the rows of key into a new [n_rows][d] buffer; NULL when absent (or out of memory: encode again). */
static float *cache_get(struct media_cache *mc, mm_conv_hash key, int64_t *n_rows, int grid[2]) {
    float *rows = NULL;
    pthread_mutex_lock(&mc->mu);
    for (int i = 0; i < mc->n; i++) {
        cache_entry *x = &mc->e[i];
        if (!hash_eq(x->key, key)) continue;
        size_t nb = (size_t)(x->n_rows * x->d) * sizeof(float);
        if ((rows = malloc(nb ? nb : 1))) {
            memcpy(rows, x->rows, nb);
            *n_rows = x->n_rows;
            grid[0] = x->grid_r;
            grid[1] = x->grid_c;
            x->used = ++mc->clock;
        }
        break;
    }
    pthread_mutex_unlock(&mc->mu);
    return rows;
}

/* Keep a copy of rows [n_rows][d] under key (best effort: nothing happens when it does not fit). */
static void cache_put(struct media_cache *mc, mm_conv_hash key, const float *rows, int64_t n_rows, int64_t d,
                      const int grid[2]) {
    const size_t nb = (size_t)(n_rows * d) * sizeof(float);
    if (nb > mc->max_bytes || n_rows <= 0) return;
    float *copy = malloc(nb);
    if (!copy) return;
    memcpy(copy, rows, nb);
    pthread_mutex_lock(&mc->mu);
    for (int i = 0; i < mc->n; i++)
        if (hash_eq(mc->e[i].key, key)) { /* another context encoded it meanwhile */
            pthread_mutex_unlock(&mc->mu);
            free(copy);
            return;
        }
    while (mc->n > 0 && mc->bytes + nb > mc->max_bytes) { /* evict the least recently used */
        int old = 0;
        for (int i = 1; i < mc->n; i++)
            if (mc->e[i].used < mc->e[old].used) old = i;
        mc->bytes -= (size_t)(mc->e[old].n_rows * mc->e[old].d) * sizeof(float);
        free(mc->e[old].rows);
        mc->e[old] = mc->e[--mc->n];
    }
    if (mc->n == mc->cap) {
        int          cap = mc->cap ? 2 * mc->cap : 8;
        cache_entry *ne = realloc(mc->e, (size_t)cap * sizeof *ne);
        if (!ne) {
            pthread_mutex_unlock(&mc->mu);
            free(copy);
            return;
        }
        mc->e = ne;
        mc->cap = cap;
    }
    mc->e[mc->n++] = (cache_entry){.key = key, .n_rows = n_rows, .d = d, .rows = copy, .grid_r = grid[0],
                                    .grid_c = grid[1], .used = ++mc->clock};
    mc->bytes += nb;
    pthread_mutex_unlock(&mc->mu);
}

/* The cache key of an image: its bytes and everything that decides what the encoder is fed. */
static mm_conv_hash image_key(const mmgpt_model *m, const mm_image_proc_params *proc, const void *data, size_t size) {
    struct {
        mm_conv_hash         bytes;
        uint64_t             size;
        mm_image_preproc     pp;
        mm_image_proc_params proc; /* processor, tile size, longest edge, max_tiles */
    } k;
    memset(&k, 0, sizeof k); /* padding included */
    k.bytes = mm_conv_hash_bytes(data, size);
    k.size = size;
    k.pp = mm_vit_preproc(m->vit);
    k.proc = *proc;
    return mm_conv_hash_bytes(&k, sizeof k);
}

/* The cache key of a clip: its bytes (a clip's processing - resampling, log-mel, windows - is the model's own,
 * and the cache belongs to one model); "audio" keeps it apart from an image of the same bytes. */
static mm_conv_hash audio_key(const mmgpt_model *m, const void *data, size_t size) {
    struct {
        mm_conv_hash bytes;
        uint64_t     size;
        char         tag[8];
    } k;
    (void)m;
    memset(&k, 0, sizeof k);
    k.bytes = mm_conv_hash_bytes(data, size);
    k.size = size;
    memcpy(k.tag, "audio", 5);
    return mm_conv_hash_bytes(&k, sizeof k);
}


/* First id whose text is s, as llama.cpp's mtmd lookup_token (a special token's text, else its bytes); -1 if none. */
static int32_t lookup_token(const mm_tokenizer *t, const char *s) {
    size_t n = strlen(s);
    for (int32_t id = 0, nv = mm_tokenizer_n_vocab(t); id < nv; id++) {
        size_t      len = 0;
        const char *x = mm_tokenizer_is_special(t, id) ? mm_tokenizer_token_text(t, id) : mm_tokenizer_piece(t, id, &len);
        if (x && mm_tokenizer_is_special(t, id)) len = strlen(x);
        if (x && len == n && !memcmp(x, s, n)) return id;
    }
    return -1;
}

/* The image processor of the mmproj's family (mm_image_proc_for_model) and SmolVLM's marker tokens. */
void mm_media_image_processor(mmgpt_model *m, const mm_gguf *ge) {
    m->proc = mm_image_proc_for_model(ge, m->vit);
    m->tok_fake = m->tok_global = m->tok_nl = m->tok_nl2 = -1;
    if (m->proc.kind == MM_IMGPROC_IDEFICS3) {
        m->tok_fake = lookup_token(m->tok, "<fake_token_around_image>");
        m->tok_global = lookup_token(m->tok, "<global-img>");
        m->tok_nl = lookup_token(m->tok, "\n");
        m->tok_nl2 = lookup_token(m->tok, "\n\n");
    }
}

/* ---------------------------------------------------------------- media */
mmgpt_media_kind mmgpt_detect_kind(const void *data, size_t n) {
    const mm_format f = mm_sniff(data, n); /* core's one sniffer */
    return mm_format_is_image(f) ? MMGPT_MEDIA_IMAGE : mm_format_is_audio(f) ? MMGPT_MEDIA_AUDIO : MMGPT_MEDIA_AUTO;
}

static int media_alloc(mmgpt_ctx *c, mmgpt_media_kind kind, int64_t n_rows, mmgpt_media **out, char *err) {
    mmgpt_media *md = calloc(1, sizeof *md);
    if (!md) return fail(MMGPT_ERR_INTERNAL, err, "out of memory");
    md->kind = kind;
    md->n_rows = n_rows;
    md->d = c->m->d_model;
    if (n_rows > 0 && !(md->rows = malloc((size_t)n_rows * (size_t)md->d * sizeof(float)))) {
        free(md);
        return fail(MMGPT_ERR_INTERNAL, err, "out of memory");
    }
    *out = md;
    return MMGPT_OK;
}

/* The rows are written: their hash is the media's identity in the prefix cache. */
static void media_seal(mmgpt_media *md) { md->hash = mm_conv_hash_rows(md->rows, md->n_rows, md->d); }

static const char *nm(const char *name) { return name ? name : "(memory)"; }

/* The projector's rows must be finite (NaN/Inf in the mm.* weights, or overflow): a model error. Frees md. */
static int check_projected(mmgpt_media *md, const char *kind, const char *path, char *err) {
    const int64_t i = mm_find_nonfinite(md->rows, md->n_rows * md->d);
    if (i < 0) return MMGPT_OK;
    const long long row = (long long)(i / md->d);
    mmgpt_media_free(md);
    return fail(MMGPT_ERR_MODEL, err, "%s: the %s projector's output row %lld is not finite: the model file's mm.* "
                "weights hold NaN/Inf values or overflow", path, kind, row);
}

/* The processing of this ctx's images (the model's processor with the ctx's tile cap). */
static mm_image_proc_params ctx_proc(const mmgpt_ctx *c) {
    mm_image_proc_params pp = c->m->proc;
    if (pp.kind == MM_IMGPROC_IDEFICS3) pp.max_tiles = c->max_tiles > 0 ? c->max_tiles : 0;
    return pp;
}

/* The tile markers of a SmolVLM picture of gr x gc tiles (0 x 0: the global image alone) of n rows each, as
 * llama.cpp's mtmd places them (tools/mtmd/mtmd.cpp, slice template IDEFICS3; tiles row-major, global last):
 *   per tile <fake_token_around_image> <row_R_col_C> [n rows], "\n" after each tile row but the last,
 *   then "\n\n" <fake_token_around_image> <global-img> [n rows] <fake_token_around_image>.
 * NULL layout for the other processors (the rows alone). */
static int media_layout(const mmgpt_model *m, mmgpt_media *md, int gr, int gc, char *err) {
    if (m->proc.kind != MM_IMGPROC_IDEFICS3) return MMGPT_OK;
    const int32_t n = (int32_t)(md->n_rows / (gr * gc + 1));
    const char   *miss = m->tok_fake < 0 ? "<fake_token_around_image>" : m->tok_global < 0 ? "<global-img>"
                       : m->tok_nl2 < 0  ? "\\n\\n" : gr > 1 && m->tok_nl < 0 ? "\\n" : NULL;
    int           cap = 3 * gr * gc + gr + 5, k = 0;
    mm_conv_piece *L = miss ? NULL : malloc((size_t)cap * sizeof *L);
    if (!miss && !L) return fail(MMGPT_ERR_INTERNAL, err, "out of memory");
    for (int r = 0; !miss && r < gr; r++) {
        for (int q = 0; q < gc; q++) {
            char rc[48];
            snprintf(rc, sizeof rc, "<row_%d_col_%d>", r + 1, q + 1);
            int32_t id = lookup_token(m->tok, rc);
            if (id < 0) {
                free(L);
                return fail(MMGPT_ERR_MODEL, err, "the vocabulary of %s has no token %s, which SmolVLM's tiled image "
                            "prompt needs (lower --max-tiles to 1 for the global image alone)", m->path, rc);
            }
            L[k++] = (mm_conv_piece){m->tok_fake, 0};
            L[k++] = (mm_conv_piece){id, 0};
            L[k++] = (mm_conv_piece){-1, n};
        }
        if (r + 1 < gr) L[k++] = (mm_conv_piece){m->tok_nl, 0};
    }
    if (miss)
        return fail(MMGPT_ERR_MODEL, err, "the vocabulary of %s has no token %s, which SmolVLM's image prompt needs",
                    m->path, miss);
    L[k++] = (mm_conv_piece){m->tok_nl2, 0};
    L[k++] = (mm_conv_piece){m->tok_fake, 0};
    L[k++] = (mm_conv_piece){m->tok_global, 0};
    L[k++] = (mm_conv_piece){-1, n};
    L[k++] = (mm_conv_piece){m->tok_fake, 0};
    md->layout = L;
    md->n_layout = k;
    return MMGPT_OK;
}

/* A picture through the model's processor (mm_image_process: PLAIN - mmgpt's own resize, one image -, LLaVA's
 * pad, or SmolVLM's tiles): every tile and the global image through the tower and the projector, rows in the
 * processor's order (tiles row-major, global last). grid: the tile grid. */
static int encode_processed(mmgpt_ctx *c, const mm_image *img, const char *name, mmgpt_media **out, int grid[2],
                            char *err) {
    const mmgpt_model   *m = c->m;
    char                 e[MM_ERR_SIZE];
    mm_image_proc_params pp = ctx_proc(c);
    mm_image_tiles       t;
    double               t1 = mm_time_ms();
    if (mm_image_process(img, &pp, &t, e)) return fail(MMGPT_ERR_INPUT, err, "%s: %s", nm(name), e);
    c->t.image_decode_ms += mm_time_ms() - t1; /* decode + processor */
    int64_t nt = mm_vit_n_tokens(m->vit), skip = mm_vit_has_cls(m->vit) ? 1 : 0, dv = mm_vit_d_enc(m->vit);
    int64_t n_per = mm_projector_n_out(&m->pimg, nt - skip), S = t.size;
    int64_t n_pos = n_per * t.n_images + (m->proc.kind == MM_IMGPROC_IDEFICS3 ? 3 * t.n_images + t.n_rows + 2 : 0);
    if (S != mm_vit_image_size(m->vit) || n_pos > mm_gpt_state_n_ctx(c->st)) {
        const int n_img = t.n_images;
        mm_image_tiles_free(&t);
        if (S != mm_vit_image_size(m->vit)) return fail(MMGPT_ERR_INTERNAL, err, "%s: processor size %lld", nm(name), (long long)S);
        return fail(MMGPT_ERR_CONTEXT, err, "%s: the image takes %lld positions (%d pictures of %lld rows), over "
                    "the context of %lld (lower --max-tiles)", nm(name), (long long)n_pos, n_img, (long long)n_per,
                    (long long)mm_gpt_state_n_ctx(c->st));
    }
    mmgpt_media *md = NULL;
    int          rc = media_alloc(c, MMGPT_MEDIA_IMAGE, n_per * t.n_images, &md, err);
    for (int i = 0; rc == MMGPT_OK && i < t.n_images; i++) {
        double t2 = mm_time_ms();
        if ((rc = mm_vit_encode(c->vs, t.pixels + (size_t)i * 3 * S * S, c->vit_out, e))) {
            rc = rc == MM_ERR_NONFINITE ? fail(MMGPT_ERR_MODEL, err, "%s: %s", m->enc_path, e)
                                        : fail(MMGPT_ERR_INTERNAL, err, "%s: %s", nm(name), e);
            break;
        }
        double t3 = mm_time_ms();
        c->t.image_encode_ms += t3 - t2;
        mm_projector_apply(&m->pimg, c->pool, c->vit_out + skip * dv, nt - skip, md->rows + i * n_per * md->d,
                           c->img_proj_scratch);
        c->t.project_ms += mm_time_ms() - t3;
    }
    grid[0] = t.n_rows;
    grid[1] = t.n_cols;
    mm_image_tiles_free(&t);
    if (rc) {
        mmgpt_media_free(md);
        return rc;
    }
    if ((rc = check_projected(md, "image", m->enc_path, err))) return rc;
    if ((rc = media_layout(m, md, grid[0], grid[1], err))) {
        mmgpt_media_free(md);
        return rc;
    }
    *out = md;
    return MMGPT_OK;
}

/* With the cache on, before decoding: a file's bytes are read here for the key (then *path = NULL, *data / *size
 * are them and *file owns them), and an item this model encoded before is copied from the cache: 1 with *out
 * set (counted in the timings; a picture's tile grid in grid and its marker layout rebuilt), else 0 with *key set
 * for cache_put. Failure: an MMGPT_ERR_* code (< 0). */
static int cache_lookup(mmgpt_ctx *c, mmgpt_media_kind kind, const char **path, const void **data, size_t *size,
                        void **file, mm_conv_hash *key, int grid[2], mmgpt_media **out, char *err) {
    const mmgpt_model *m = c->m;
    char               e[MM_ERR_SIZE];
    size_t             file_size = 0;
    *file = NULL;
    *key = (mm_conv_hash){0, 0};
    if (!m->cache) return 0;
    if (*path && mm_read_media(*path, file, &file_size, e) == 0 && file_size > 0) {
        *data = *file;
        *size = file_size;
        *path = NULL;
    }
    if (*path) return 0; /* unreadable here: the decoder reports it */
    mm_image_proc_params pp = ctx_proc(c);
    *key = kind == MMGPT_MEDIA_IMAGE ? image_key(m, &pp, *data, *size) : audio_key(m, *data, *size);
    int64_t n_rows = 0;
    float  *rows = cache_get(m->cache, *key, &n_rows, grid);
    if (!rows) return 0;
    free(*file);
    *file = NULL;
    mmgpt_media *md = calloc(1, sizeof *md);
    if (!md) {
        free(rows);
        return fail(MMGPT_ERR_INTERNAL, err, "out of memory");
    }
    *md = (mmgpt_media){.kind = kind, .n_rows = n_rows, .d = m->d_model, .rows = rows};
    int rc = kind == MMGPT_MEDIA_IMAGE ? media_layout(m, md, grid[0], grid[1], err) : MMGPT_OK;
    if (rc) {
        mmgpt_media_free(md);
        return rc;
    }
    if (kind == MMGPT_MEDIA_IMAGE) c->t.n_images++;
    else c->t.n_audio++;
    c->t.n_media_cached++;
    media_seal(md);
    *out = md;
    return 1;
}

static int encode_image(mmgpt_ctx *c, const char *path, const void *data, size_t size, const char *name,
                        mmgpt_media **out, char *err) {
    const mmgpt_model *m = c->m;
    char               e[MM_ERR_SIZE];
    if (!m->vit)
        return fail(MMGPT_ERR_MODEL, err, "%s: the model %s has no image encoder (give an mmproj file with one)",
                    nm(name), m->enc_path);
    int64_t nt0 = mm_projector_n_out(&m->pimg, mm_vit_n_tokens(m->vit) - (mm_vit_has_cls(m->vit) ? 1 : 0));
    if (nt0 > mm_gpt_state_n_ctx(c->st))
        return fail(MMGPT_ERR_CONTEXT, err, "%s: an image takes %lld positions, over the context of %lld", nm(name),
                    (long long)nt0, (long long)mm_gpt_state_n_ctx(c->st));
    mm_image img;
    double   t0 = mm_time_ms();
    void        *file = NULL; /* a file's bytes, read for the cache key */
    mm_conv_hash key;
    int          grid[2] = {0, 0};
    int          rc = cache_lookup(c, MMGPT_MEDIA_IMAGE, &path, &data, &size, &file, &key, grid, out, err);
    if (rc) return rc > 0 ? MMGPT_OK : rc;
    rc = path ? mm_image_load_file(path, &img, e) : mm_image_load_memory(data, size, name, &img, e);
    free(file);
    if (rc) return fail(MMGPT_ERR_INPUT, err, "%s", e);
    double t1 = mm_time_ms();
    c->t.image_decode_ms += t1 - t0;
    mmgpt_media *md = NULL;
    rc = encode_processed(c, &img, name, &md, grid, err);
    mm_image_free(&img);
    if (rc) return rc;
    c->t.n_images++;
    if (m->cache && (key.lo || key.hi)) cache_put(m->cache, key, md->rows, md->n_rows, md->d, grid);
    media_seal(md);
    *out = md;
    return MMGPT_OK;
}

static int encode_audio(mmgpt_ctx *c, const char *path, const void *data, size_t size, const char *name,
                        mmgpt_media **out, char *err) {
    const mmgpt_model *m = c->m;
    char               e[MM_ERR_SIZE];
    if (!m->aud)
        return fail(MMGPT_ERR_MODEL, err, "%s: the model %s has no audio encoder (give an mmproj file with one)",
                    nm(name), m->enc_path);
    mm_audio_pcm pcm;
    double       t0 = mm_time_ms();
    void        *file = NULL; /* a file's bytes, read for the cache key */
    mm_conv_hash key;
    int          grid[2] = {0, 0}; /* unused for clips */
    int          rc = cache_lookup(c, MMGPT_MEDIA_AUDIO, &path, &data, &size, &file, &key, grid, out, err);
    if (rc < 0) return rc;
    if (rc > 0) { /* encoded before; its rows must still fit this context */
        if ((*out)->n_rows <= mm_gpt_state_n_ctx(c->st)) return MMGPT_OK;
        const long long nr = (long long)(*out)->n_rows;
        mmgpt_media_free(*out);
        *out = NULL;
        return fail(MMGPT_ERR_CONTEXT, err, "%s: the clip takes %lld positions, over the context of %lld", nm(name), nr,
                    (long long)mm_gpt_state_n_ctx(c->st));
    }
    rc = path ? mm_audio_load_file(path, NULL, &pcm, e) : mm_audio_load_memory(data, size, name, NULL, &pcm, e);
    free(file);
    if (rc) return fail(MMGPT_ERR_INPUT, err, "%s", e);
    double t1 = mm_time_ms();
    c->t.audio_decode_ms += t1 - t0;
    /* refuse before encoding a clip whose rows cannot fit in the context anyway */
    int64_t n_rows = mm_projector_audio_n_out(&m->paud, m->aud, mm_audio_model_n_mel_frames(m->aud, pcm.n_samples));
    if (n_rows > mm_gpt_state_n_ctx(c->st)) {
        double secs = (double)pcm.n_samples / MM_AUDIO_SAMPLE_RATE;
        mm_audio_pcm_free(&pcm);
        return fail(MMGPT_ERR_CONTEXT, err, "%s: %.1f s of audio take %lld positions, over the context of %lld", nm(name),
                    secs, (long long)n_rows, (long long)mm_gpt_state_n_ctx(c->st));
    }
    float  *enc = NULL;
    int64_t n_enc = 0, n_frames = 0;
    rc = mm_audio_encode_pcm(c->as, pcm.samples, pcm.n_samples, &enc, &n_enc, NULL, &n_frames, e);
    mm_audio_pcm_free(&pcm);
    if (rc == MM_ERR_NONFINITE) return fail(MMGPT_ERR_MODEL, err, "%s: %s", m->enc_path, e);
    if (rc) return fail(MMGPT_ERR_INPUT, err, "%s: %s", nm(name), e);
    double t2 = mm_time_ms();
    c->t.audio_encode_ms += t2 - t1;
    mmgpt_media *md = NULL;
    int64_t      n_out = mm_projector_audio_n_out(&m->paud, m->aud, n_frames);
    if ((rc = media_alloc(c, MMGPT_MEDIA_AUDIO, n_out, &md, err))) {
        free(enc);
        return rc;
    }
    if (n_enc > 0) {
        void *scratch = aligned_alloc(64, align64(mm_projector_audio_scratch_bytes(&m->paud, m->aud, n_frames)) + 64);
        if (!scratch) {
            free(enc);
            mmgpt_media_free(md);
            return fail(MMGPT_ERR_INTERNAL, err, "out of memory");
        }
        mm_projector_apply_audio(&m->paud, c->pool, m->aud, enc, n_frames, md->rows, scratch);
        free(scratch);
    }
    free(enc);
    if ((rc = check_projected(md, "audio", m->enc_path, err))) return rc;
    c->t.project_ms += mm_time_ms() - t2;
    c->t.n_audio++;
    if (m->cache && (key.lo || key.hi)) cache_put(m->cache, key, md->rows, md->n_rows, md->d, grid);
    media_seal(md);
    *out = md;
    return MMGPT_OK;
}

static int read_head(const char *path, unsigned char *buf, size_t cap, size_t *n, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return fail(MMGPT_ERR_INPUT, err, "%s: %s", path, strerror(errno));
    *n = fread(buf, 1, cap, f);
    fclose(f);
    return MMGPT_OK;
}

/* Content not recognised by its first bytes (e.g. TGA has no magic): try the image decoder, then the audio
 * decoder, with the encoders the model has. */
static int encode_any(mmgpt_ctx *c, const char *path, const void *data, size_t size, const char *name,
                      mmgpt_media **out, char *err) {
    int rc = MMGPT_ERR_INPUT;
    if (c->m->vit) rc = encode_image(c, path, data, size, name, out, err);
    if (rc == MMGPT_ERR_INPUT && c->m->aud) rc = encode_audio(c, path, data, size, name, out, err);
    if (rc == MMGPT_ERR_INPUT) return fail(MMGPT_ERR_INPUT, err, "%s: not a supported image or audio file", name);
    return rc;
}

static bool kind_ok(mmgpt_media_kind k) {
    return k == MMGPT_MEDIA_AUTO || k == MMGPT_MEDIA_IMAGE || k == MMGPT_MEDIA_AUDIO;
}

int mmgpt_media_from_file(mmgpt_ctx *c, const char *path, mmgpt_media_kind kind, mmgpt_media **out, char *err) {
    NEED(out, "out");
    *out = NULL;
    NEED(c, "ctx");
    NEED(path, "path");
    if (!kind_ok(kind)) return fail(MMGPT_ERR_USAGE, err, "%s: kind %d is not AUTO, IMAGE or AUDIO", __func__, (int)kind);
    char e[MM_ERR_SIZE];
    int  pk = mm_path_kind(path, e);
    if (pk < 0) return fail(MMGPT_ERR_INPUT, err, "%s", e);
    if (pk == MM_PATH_STREAM) { /* a pipe or terminal (/dev/stdin): read once, then sniff and decode from memory */
        void  *data = NULL;
        size_t size = 0;
        if (mm_read_media(path, &data, &size, e)) return fail(MMGPT_ERR_INPUT, err, "%s", e);
        int rc = size ? mmgpt_media_from_memory(c, data, size, kind, path, out, err)
                      : fail(MMGPT_ERR_INPUT, err, "%s: empty input", path);
        free(data);
        return rc;
    }
    unsigned char head[MM_SNIFF_BYTES];
    size_t        n = 0;
    int           rc = read_head(path, head, sizeof head, &n, err);
    if (rc) return rc;
    if (n == 0) return fail(MMGPT_ERR_INPUT, err, "%s: empty file", path);
    if (kind == MMGPT_MEDIA_AUTO) kind = mmgpt_detect_kind(head, n);
    if (kind == MMGPT_MEDIA_AUTO) return encode_any(c, path, NULL, 0, path, out, err);
    return kind == MMGPT_MEDIA_IMAGE ? encode_image(c, path, NULL, 0, path, out, err)
                                     : encode_audio(c, path, NULL, 0, path, out, err);
}

int mmgpt_media_from_memory(mmgpt_ctx *c, const void *data, size_t size, mmgpt_media_kind kind, const char *name,
                            mmgpt_media **out, char *err) {
    NEED(out, "out");
    *out = NULL;
    NEED(c, "ctx");
    NEED(data, "data");
    if (!kind_ok(kind)) return fail(MMGPT_ERR_USAGE, err, "%s: kind %d is not AUTO, IMAGE or AUDIO", __func__, (int)kind);
    if (size == 0) return fail(MMGPT_ERR_INPUT, err, "%s: empty input", nm(name));
    if (kind == MMGPT_MEDIA_AUTO) kind = mmgpt_detect_kind(data, size);
    if (kind == MMGPT_MEDIA_AUTO) return encode_any(c, NULL, data, size, nm(name), out, err);
    return kind == MMGPT_MEDIA_IMAGE ? encode_image(c, NULL, data, size, nm(name), out, err)
                                     : encode_audio(c, NULL, data, size, nm(name), out, err);
}

void mmgpt_media_free(mmgpt_media *md) {
    if (!md) return;
    free(md->rows);
    free(md->layout);
    free(md);
}
mmgpt_media_kind mmgpt_media_get_kind(const mmgpt_media *md) { return md ? md->kind : MMGPT_MEDIA_AUTO; }
int64_t          mmgpt_media_n_rows(const mmgpt_media *md) { return md ? md->n_rows : 0; }
const float     *mmgpt_media_rows(const mmgpt_media *md) { return md ? md->rows : NULL; }

