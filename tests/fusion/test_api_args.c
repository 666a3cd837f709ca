/* test_api_args.c - the mmgpt.h contract for bad arguments and for the text it hands out:
 *   - NULL for every object / string argument of every public function is MMGPT_ERR_USAGE (or NULL + err
 *     for the functions returning a pointer), never a crash; getters return 0 / NULL / ""; the free
 *     functions, clear and reset accept NULL; a media kind other than AUTO / IMAGE / AUDIO is a usage error;
 *     after all of it the ctx still works;
 *   - generated text is valid UTF-8 piece by piece (checked with utf8proc, not our decoder) and without
 *     NUL, at temperature 2 over the whole vocabulary for many seeds, and mmgpt_last_text is the whole
 *     concatenation; a stop string that is not UTF-8 is a usage error.
 *
 * usage: test_api_args MODEL IMAGE  (run by test_api.py) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "mmgpt.h"

#include "mm_check.h"

static bool valid_utf8(const char *p, size_t n) {
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)p + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0 || cp == 0) return false;
        i += (size_t)k;
    }
    return true;
}

typedef struct {
    char  *all;
    size_t n;
    int    bad_pieces, n_pieces;
} collect;

static bool on_piece(const char *text, size_t len, void *user) {
    collect *c = user;
    c->n_pieces++;
    if (!valid_utf8(text, len)) c->bad_pieces++;
    char *p = realloc(c->all, c->n + len + 1);
    if (!p) return false;
    c->all = p;
    memcpy(c->all + c->n, text, len);
    c->n += len;
    c->all[c->n] = 0;
    return true;
}

/* call (written with errp for its err argument) must give MMGPT_ERR_USAGE with a message holding what,
 * and the same status with err == NULL */
static char *errp;
#define USAGE(call, what)                                                                                 \
    do {                                                                                                  \
        err[0] = 0;                                                                                       \
        errp = err;                                                                                       \
        int rc_ = (call);                                                                                 \
        CHECK(rc_ == MMGPT_ERR_USAGE && strstr(err, what), "%s: rc %d '%s' (want usage, '%s')", #call, rc_, \
              err, what);                                                                                 \
        errp = NULL;                                                                                      \
        CHECK((call) == MMGPT_ERR_USAGE, "%s with err == NULL", #call);                                   \
    } while (0)

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL IMAGE\n", argv[0]);
        return 2;
    }
    const char *model = argv[1], *image = argv[2];
    char        err[MMGPT_ERR_SIZE];
    FILE       *f = fopen(image, "rb");
    static char data[1 << 16];
    size_t      n_data = f ? fread(data, 1, sizeof data, f) : 0;
    if (f) fclose(f);
    CHECK(n_data > 0 && n_data < sizeof data, "read %s", image);

    /* ---- no model, no ctx */
    mmgpt_model_params mp = mmgpt_model_default_params();
    CHECK(mmgpt_model_load(NULL, mp, err) == NULL && strstr(err, "path is NULL"), "model_load(NULL): '%s'", err);
    CHECK(mmgpt_model_load(NULL, mp, NULL) == NULL, "model_load(NULL, err NULL)");
    CHECK(mmgpt_ctx_create(NULL, mmgpt_ctx_default_params(), err) == NULL && err[0], "ctx_create(NULL)");
    CHECK(!mmgpt_model_has_vision(NULL) && !mmgpt_model_has_audio(NULL) && mmgpt_model_n_ctx(NULL) == 0 &&
              mmgpt_model_d_model(NULL) == 0 && mmgpt_model_n_vocab(NULL) == 0 && mmgpt_model_load_ms(NULL) == 0.0,
          "model getters on NULL");
    CHECK(mmgpt_model_task_prompt(NULL, "caption", NULL) == NULL, "task_prompt(NULL model)");
    CHECK(mmgpt_ctx_n_ctx(NULL) == 0 && mmgpt_ctx_n_past(NULL) == 0, "ctx getters on NULL");
    CHECK(!strcmp(mmgpt_last_text(NULL), "") && mmgpt_stop_reason(NULL) == MMGPT_STOP_NONE, "result getters on NULL");
    CHECK(mmgpt_media_get_kind(NULL) == MMGPT_MEDIA_AUTO && mmgpt_media_n_rows(NULL) == 0 &&
              mmgpt_media_rows(NULL) == NULL, "media getters on NULL");
    CHECK(mmgpt_detect_kind(NULL, 8) == MMGPT_MEDIA_AUTO, "detect_kind(NULL)");
    mmgpt_timings t;
    memset(&t, 0xff, sizeof t);
    mmgpt_get_timings(NULL, &t);
    CHECK(t.n_prompt == 0 && t.gen_ms == 0.0, "get_timings(NULL) gives zeros");
    mmgpt_clear(NULL);
    mmgpt_reset(NULL);
    mmgpt_reset_timings(NULL);
    mmgpt_ctx_free(NULL);
    mmgpt_model_free(NULL);
    mmgpt_media_free(NULL);

    mmgpt_model *m = mmgpt_model_load(model, mp, err);
    CHECK(m != NULL, "load: %s", err);
    if (!m) return 1;
    CHECK(mmgpt_model_task_prompt(m, NULL, NULL) == NULL, "task_prompt(task NULL)");
    mmgpt_ctx_params cp = mmgpt_ctx_default_params();
    cp.n_threads = 1;
    mmgpt_ctx *c = mmgpt_ctx_create(m, cp, err);
    CHECK(c != NULL, "ctx: %s", err);
    if (!c) return 1;
    mmgpt_gen_params gp = mmgpt_gen_default_params();
    gp.max_tokens = 4;

    /* ---- NULL arguments: usage errors */
    USAGE(mmgpt_set_system(NULL, "x", errp), "ctx is NULL");
    USAGE(mmgpt_add_text(NULL, "x", errp), "ctx is NULL");
    USAGE(mmgpt_add_text(c, NULL, errp), "text is NULL");
    USAGE(mmgpt_add_image_file(NULL, image, errp), "ctx is NULL");
    USAGE(mmgpt_add_image_file(c, NULL, errp), "path is NULL");
    USAGE(mmgpt_add_audio_file(NULL, image, errp), "ctx is NULL");
    USAGE(mmgpt_add_audio_file(c, NULL, errp), "path is NULL");
    USAGE(mmgpt_add_image_memory(NULL, data, n_data, errp), "ctx is NULL");
    USAGE(mmgpt_add_image_memory(c, NULL, n_data, errp), "data is NULL");
    USAGE(mmgpt_add_audio_memory(NULL, data, n_data, errp), "ctx is NULL");
    USAGE(mmgpt_add_audio_memory(c, NULL, 10, errp), "data is NULL");
    mmgpt_media *md = (mmgpt_media *)data; /* must come back NULL */
    USAGE(mmgpt_media_from_file(NULL, image, MMGPT_MEDIA_IMAGE, &md, errp), "ctx is NULL");
    CHECK(md == NULL, "media_from_file(NULL ctx) left *out set");
    USAGE(mmgpt_media_from_file(c, NULL, MMGPT_MEDIA_IMAGE, &md, errp), "path is NULL");
    USAGE(mmgpt_media_from_file(c, image, MMGPT_MEDIA_IMAGE, NULL, errp), "out is NULL");
    USAGE(mmgpt_media_from_memory(NULL, data, n_data, MMGPT_MEDIA_IMAGE, "x", &md, errp), "ctx is NULL");
    USAGE(mmgpt_media_from_memory(c, NULL, n_data, MMGPT_MEDIA_IMAGE, "x", &md, errp), "data is NULL");
    USAGE(mmgpt_media_from_memory(c, data, n_data, MMGPT_MEDIA_IMAGE, "x", NULL, errp), "out is NULL");
    /* ---- invalid media kinds */
    md = (mmgpt_media *)data;
    USAGE(mmgpt_media_from_file(c, image, (mmgpt_media_kind)7, &md, errp), "kind 7");
    CHECK(md == NULL, "invalid kind left *out set");
    USAGE(mmgpt_media_from_file(c, image, (mmgpt_media_kind)-2, &md, errp), "kind -2");
    USAGE(mmgpt_media_from_memory(c, data, n_data, (mmgpt_media_kind)2, "x", &md, errp), "kind 2");
    USAGE(mmgpt_add_media(NULL, NULL, errp), "ctx is NULL");
    USAGE(mmgpt_add_media(c, NULL, errp), "no media");
    USAGE(mmgpt_generate(NULL, gp, NULL, NULL, errp), "ctx is NULL");
    USAGE(mmgpt_eval(NULL, false, NULL, NULL, errp), "ctx is NULL");
    int64_t n = 0;
    USAGE(mmgpt_tokenize_turn(NULL, false, NULL, &n, errp), "ctx is NULL");
    USAGE(mmgpt_tokenize_turn(c, false, NULL, NULL, errp), "n is NULL");
    mmgpt_get_timings(c, NULL);

    /* ---- the ctx still works after all that (nothing was added to the turn) */
    CHECK(mmgpt_tokenize_turn(c, true, NULL, &n, err) == MMGPT_OK && n == 0, "pending turn not empty: %lld '%s'",
          (long long)n, err);
    CHECK(mmgpt_add_image_file(c, image, err) == MMGPT_OK, "image: %s", err);
    CHECK(mmgpt_add_text(c, "What is it?", err) == MMGPT_OK, "text: %s", err);
    CHECK(mmgpt_generate(c, gp, NULL, NULL, err) == MMGPT_OK, "generate: %s", err);

    /* ---- a stop string that is not UTF-8 */
    const char *stops[] = {"\xe2\x82"};
    mmgpt_gen_params gs = gp;
    gs.stop = stops;
    gs.n_stop = 1;
    mmgpt_add_text(c, "again", err);
    USAGE(mmgpt_generate(c, gs, NULL, NULL, errp), "UTF-8");

    /* ---- sampled text: valid UTF-8 in every piece, no NUL, last_text = all of it */
    int bad = 0, pieces = 0, mismatch = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        mmgpt_reset(c);
        mmgpt_gen_params hot = mmgpt_gen_default_params();
        hot.temperature = 2.0f;
        hot.top_k = 0;
        hot.top_p = 1.0f;
        hot.seed = seed;
        hot.max_tokens = 32;
        hot.raw = true;
        collect col = {NULL, 0, 0, 0};
        mmgpt_add_text(c, "Hello", err);
        CHECK(mmgpt_generate(c, hot, on_piece, &col, err) == MMGPT_OK, "seed %llu: %s", (unsigned long long)seed, err);
        bad += col.bad_pieces;
        pieces += col.n_pieces;
        const char *lt = mmgpt_last_text(c);
        if (strlen(lt) != col.n || (col.n && memcmp(lt, col.all, col.n))) mismatch++;
        free(col.all);
    }
    CHECK(bad == 0, "%d of %d pieces sampled at T=2 are not valid UTF-8 (or hold NUL)", bad, pieces);
    CHECK(mismatch == 0, "%d of 40 last_text differ from the pieces (cut at a NUL?)", mismatch);
    printf("sampled 40 answers at T=2: %d pieces, all valid UTF-8 without NUL\n", pieces);

    mmgpt_ctx_free(c);
    mmgpt_model_free(m);
    if (n_fail) {
        fprintf(stderr, "%d check(s) failed\n", n_fail);
        return 1;
    }
    printf("API arguments and text: all checks passed\n");
    return 0;
}
