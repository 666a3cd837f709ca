/* test_api_threads.c - the mmgpt.h API: two contexts on one model in two threads give exactly the
 * results each gives alone (logits of a whole turn, bit for bit, and the generated text); media from
 * memory equal media from a file; error kinds (input, usage, context, model) come back as statuses
 * with messages. The reference here is the same library run alone on one thread: what is checked is
 * the isolation of states, not the numerics (fus_logits checks those against PyTorch).
 *
 * usage: test_api_threads MODEL IMAGE AUDIO TEXTFILE [THREADS_PER_CTX]  (run by test_api.py) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmgpt.h"

#include "mm_check.h"

typedef struct {
    const mmgpt_model *m;
    const char        *image, *audio;
    int                job;     /* 0: image + clip + question; 1: clip, describe */
    int                repeat;  /* run the job this many times on the same ctx (fresh conversation) */
    int                n_threads; /* of the ctx's pool */
    /* results */
    float             *logits;  /* [n_pos][n_vocab] of the first turn */
    int64_t            n_pos;
    char              *text;    /* answer to the follow-up question */
    int                rc;
    char               err[MMGPT_ERR_SIZE];
} job;

static void *run_job(void *arg) {
    job *j = arg;
    mmgpt_ctx_params cp = mmgpt_ctx_default_params();
    cp.n_threads = j->n_threads;
    mmgpt_ctx *c = mmgpt_ctx_create(j->m, cp, j->err);
    if (!c) {
        j->rc = -1;
        return NULL;
    }
    for (int r = 0; r < j->repeat; r++) {
        mmgpt_clear(c);
        free(j->logits);
        free(j->text);
        j->logits = NULL;
        j->text = NULL;
        int rc = 0;
        if (j->job == 0) {
            rc = mmgpt_add_image_file(c, j->image, j->err);
            if (!rc) rc = mmgpt_add_text(c, "Look at <__media__> and listen to <__media__>. ", j->err);
            if (!rc) rc = mmgpt_add_audio_file(c, j->audio, j->err);
            if (!rc) rc = mmgpt_add_text(c, "What do you notice?", j->err);
        } else {
            rc = mmgpt_add_audio_file(c, j->audio, j->err);
            if (!rc) rc = mmgpt_add_text(c, "Describe this sound.", j->err);
        }
        if (!rc) rc = mmgpt_eval(c, false, &j->logits, &j->n_pos, j->err);
        if (!rc) rc = mmgpt_add_text(c, j->job == 0 ? "Tell me more." : "And then?", j->err);
        mmgpt_gen_params gp = mmgpt_gen_default_params();
        gp.max_tokens = 12;
        gp.temperature = 0.9f;  /* sampling: the seed must make it repeatable per state */
        gp.seed = 42;
        if (!rc) rc = mmgpt_generate(c, gp, NULL, NULL, j->err);
        if (!rc) j->text = strdup(mmgpt_last_text(c));
        j->rc = rc;
        if (rc) break;
    }
    mmgpt_ctx_free(c);
    return NULL;
}

static void same(const char *what, const job *a, const job *b, int64_t n_vocab) {
    CHECK(a->rc == 0 && b->rc == 0, "%s: rc %d (%s) / %d (%s)", what, a->rc, a->err, b->rc, b->err);
    if (a->rc || b->rc) return;
    CHECK(a->n_pos == b->n_pos && a->n_pos > 0, "%s: %lld vs %lld positions", what, (long long)a->n_pos,
          (long long)b->n_pos);
    if (a->n_pos == b->n_pos)
        CHECK(!memcmp(a->logits, b->logits, (size_t)(a->n_pos * n_vocab) * sizeof(float)), "%s: logits differ", what);
    CHECK(a->text && b->text && !strcmp(a->text, b->text), "%s: text '%s' vs '%s'", what, a->text, b->text);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(sz > 0 ? (size_t)sz : 1);
    *n = b ? fread(b, 1, (size_t)sz, f) : 0;
    fclose(f);
    return b;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL IMAGE AUDIO TEXTFILE\n", argv[0]);
        return 2;
    }
    char         err[MMGPT_ERR_SIZE];
    mmgpt_model *m = mmgpt_model_load(argv[1], mmgpt_model_default_params(), err);
    if (!m) {
        fprintf(stderr, "load: %s\n", err);
        return 1;
    }
    int64_t nv = mmgpt_model_n_vocab(m);
    int     nt = argc > 5 ? atoi(argv[5]) : 1;
    if (nt < 1 || nt > 64) nt = 1;
    CHECK(mmgpt_model_has_vision(m) && mmgpt_model_has_audio(m), "model should have both encoders");

    /* alone, one after the other */
    job a0 = {.n_threads = nt, .m = m, .image = argv[2], .audio = argv[3], .job = 0, .repeat = 1};
    job b0 = {.n_threads = nt, .m = m, .image = argv[2], .audio = argv[3], .job = 1, .repeat = 1};
    run_job(&a0);
    run_job(&b0);
    CHECK(a0.rc == 0, "job 0 alone: %s", a0.err);
    CHECK(b0.rc == 0, "job 1 alone: %s", b0.err);
    printf("%d thread(s) per context\n", nt);
    printf("alone: job 0 %lld positions, answer '%s'; job 1 %lld positions, answer '%s'\n", (long long)a0.n_pos,
           a0.text ? a0.text : "", (long long)b0.n_pos, b0.text ? b0.text : "");

    /* together: two threads, two contexts, one model; several rounds to overlap them */
    job a1 = {.n_threads = nt, .m = m, .image = argv[2], .audio = argv[3], .job = 0, .repeat = 3};
    job b1 = {.n_threads = nt, .m = m, .image = argv[2], .audio = argv[3], .job = 1, .repeat = 3};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, run_job, &a1);
    pthread_create(&tb, NULL, run_job, &b1);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    same("job 0 in a thread vs alone", &a1, &a0, nv);
    same("job 1 in a thread vs alone", &b1, &b0, nv);

    /* memory input = file input */
    mmgpt_ctx *c = mmgpt_ctx_create(m, mmgpt_ctx_default_params(), err);
    CHECK(c != NULL, "ctx: %s", err);
    if (c) {
        size_t         ni = 0, na = 0;
        unsigned char *bi = slurp(argv[2], &ni), *ba = slurp(argv[3], &na);
        mmgpt_media   *mf = NULL, *mm = NULL;
        CHECK(mmgpt_media_from_file(c, argv[2], MMGPT_MEDIA_AUTO, &mf, err) == MMGPT_OK, "image file: %s", err);
        CHECK(mmgpt_media_from_memory(c, bi, ni, MMGPT_MEDIA_AUTO, "img", &mm, err) == MMGPT_OK, "image mem: %s", err);
        if (mf && mm) {
            CHECK(mmgpt_media_get_kind(mf) == MMGPT_MEDIA_IMAGE && mmgpt_media_n_rows(mf) == mmgpt_media_n_rows(mm) &&
                      !memcmp(mmgpt_media_rows(mf), mmgpt_media_rows(mm),
                              (size_t)(mmgpt_media_n_rows(mf) * mmgpt_model_d_model(m)) * sizeof(float)),
                  "image from memory differs from file");
        }
        mmgpt_media_free(mf);
        mmgpt_media_free(mm);
        mf = mm = NULL;
        CHECK(mmgpt_media_from_file(c, argv[3], MMGPT_MEDIA_AUTO, &mf, err) == MMGPT_OK, "audio file: %s", err);
        CHECK(mmgpt_add_audio_memory(c, ba, na, err) == MMGPT_OK, "audio mem: %s", err);
        CHECK(mmgpt_media_from_memory(c, ba, na, MMGPT_MEDIA_AUDIO, "clip", &mm, err) == MMGPT_OK, "audio mem: %s", err);
        if (mf && mm)
            CHECK(mmgpt_media_get_kind(mf) == MMGPT_MEDIA_AUDIO && mmgpt_media_n_rows(mf) == mmgpt_media_n_rows(mm) &&
                      !memcmp(mmgpt_media_rows(mf), mmgpt_media_rows(mm),
                              (size_t)(mmgpt_media_n_rows(mf) * mmgpt_model_d_model(m)) * sizeof(float)),
                  "audio from memory differs from file");
        mmgpt_media_free(mf);
        mmgpt_media_free(mm);
        mmgpt_clear(c);

        /* errors: kinds and messages */
        int rc = mmgpt_add_image_file(c, argv[4], err);
        CHECK(rc == MMGPT_ERR_INPUT && strstr(err, argv[4]), "text file as image: rc %d '%s'", rc, err);
        rc = mmgpt_add_image_file(c, "/nonexistent/x.png", err);
        CHECK(rc == MMGPT_ERR_INPUT && strstr(err, "x.png"), "missing image: rc %d '%s'", rc, err);
        rc = mmgpt_add_audio_memory(c, bi, ni, err);  /* an image given as audio */
        CHECK(rc == MMGPT_ERR_INPUT, "image as audio: rc %d '%s'", rc, err);
        mmgpt_media *x = NULL;
        rc = mmgpt_media_from_memory(c, "hello", 5, MMGPT_MEDIA_AUTO, "hello.txt", &x, err);
        CHECK(rc == MMGPT_ERR_INPUT && x == NULL && strstr(err, "hello.txt"), "auto on text: rc %d '%s'", rc, err);
        CHECK(mmgpt_detect_kind(bi, ni) == MMGPT_MEDIA_IMAGE && mmgpt_detect_kind(ba, na) == MMGPT_MEDIA_AUDIO,
              "detect kind");
        mmgpt_gen_params gp = mmgpt_gen_default_params();
        gp.temperature = 2.5f;
        mmgpt_add_text(c, "hi", err);
        rc = mmgpt_generate(c, gp, NULL, NULL, err);
        CHECK(rc == MMGPT_ERR_USAGE && strstr(err, "temperature"), "temp 2.5: rc %d '%s'", rc, err);
        CHECK(mmgpt_ctx_n_past(c) == 0, "a refused turn must not be evaluated");
        mmgpt_add_text(c, "two <__media__> <__media__>", err);
        mmgpt_add_image_memory(c, bi, ni, err);
        rc = mmgpt_generate(c, mmgpt_gen_default_params(), NULL, NULL, err);
        CHECK(rc == MMGPT_ERR_USAGE && strstr(err, "marker"), "marker mismatch: rc %d '%s'", rc, err);
        mmgpt_gen_params raw = mmgpt_gen_default_params();
        raw.raw = true;  /* the failed turn was dropped: nothing left to evaluate */
        rc = mmgpt_generate(c, raw, NULL, NULL, err);
        CHECK(rc == MMGPT_ERR_USAGE && strstr(err, "nothing"), "empty raw turn after a failed one: rc %d '%s'", rc, err);
        free(bi);
        free(ba);
        mmgpt_ctx_free(c);
    }
    /* prefix cache: after mmgpt_clear, a new question about the same picture evaluates only the question
     * and answers as a fresh context does */
    {
        mmgpt_ctx   *c1 = mmgpt_ctx_create(m, mmgpt_ctx_default_params(), err);
        mmgpt_ctx   *c2 = mmgpt_ctx_create(m, mmgpt_ctx_default_params(), err);
        mmgpt_media *pic = NULL;
        CHECK(c1 && c2 && mmgpt_media_from_file(c1, argv[2], MMGPT_MEDIA_AUTO, &pic, err) == 0, "prefix setup: %s", err);
        if (c1 && c2 && pic) {
            mmgpt_gen_params gp = mmgpt_gen_default_params();
            gp.max_tokens = 6;
            mmgpt_add_media(c1, pic, err);
            mmgpt_add_text(c1, "What is it?", err);
            CHECK(mmgpt_generate(c1, gp, NULL, NULL, err) == 0, "q1: %s", err);
            mmgpt_clear(c1);
            mmgpt_reset_timings(c1);
            mmgpt_add_media(c1, pic, err);
            mmgpt_add_text(c1, "And the colours?", err);
            CHECK(mmgpt_generate(c1, gp, NULL, NULL, err) == 0, "q2: %s", err);
            mmgpt_timings t1;
            mmgpt_get_timings(c1, &t1);
            mmgpt_add_media(c2, pic, err);
            mmgpt_add_text(c2, "And the colours?", err);
            CHECK(mmgpt_generate(c2, gp, NULL, NULL, err) == 0, "q2 fresh: %s", err);
            CHECK(t1.n_cached >= mmgpt_media_n_rows(pic), "prefix cache: %lld positions reused (image %lld rows)",
                  (long long)t1.n_cached, (long long)mmgpt_media_n_rows(pic));
            CHECK(!strcmp(mmgpt_last_text(c1), mmgpt_last_text(c2)), "prefix-cached answer '%s' vs fresh '%s'",
                  mmgpt_last_text(c1), mmgpt_last_text(c2));
            CHECK(mmgpt_ctx_n_past(c1) == mmgpt_ctx_n_past(c2), "n_past %lld vs %lld", (long long)mmgpt_ctx_n_past(c1),
                  (long long)mmgpt_ctx_n_past(c2));
            mmgpt_reset(c1);
            CHECK(mmgpt_ctx_n_past(c1) == 0, "reset empties the cache");
        }
        mmgpt_media_free(pic);
        mmgpt_ctx_free(c1);
        mmgpt_ctx_free(c2);
    }

    /* context overflow */
    mmgpt_ctx_params cp = mmgpt_ctx_default_params();
    cp.n_ctx = 16;
    c = mmgpt_ctx_create(m, cp, err);
    CHECK(c != NULL, "small ctx: %s", err);
    if (c) {
        CHECK(mmgpt_ctx_n_ctx(c) == 16, "n_ctx %lld", (long long)mmgpt_ctx_n_ctx(c));
        mmgpt_add_image_file(c, argv[2], err);
        mmgpt_add_text(c, "What is this?", err);
        int rc = mmgpt_generate(c, mmgpt_gen_default_params(), NULL, NULL, err);
        CHECK(rc == MMGPT_ERR_CONTEXT && strstr(err, "context"), "overflow: rc %d '%s'", rc, err);
        /* a short text-only turn fits and stops when the context is full */
        mmgpt_add_text(c, "Hi", err);
        mmgpt_gen_params gp = mmgpt_gen_default_params();
        gp.max_tokens = 0;  /* until the end */
        rc = mmgpt_generate(c, gp, NULL, NULL, err);
        CHECK(rc == MMGPT_OK, "short turn: %s", err);
        CHECK(rc || mmgpt_stop_reason(c) == MMGPT_STOP_EOS || mmgpt_stop_reason(c) == MMGPT_STOP_CONTEXT,
              "stop reason %d", (int)mmgpt_stop_reason(c));
        mmgpt_ctx_free(c);
    }
    /* a model without an audio encoder */
    mmgpt_model_params mp = mmgpt_model_default_params();
    mp.no_audio = true;
    mmgpt_model *mv = mmgpt_model_load(argv[1], mp, err);
    CHECK(mv && !mmgpt_model_has_audio(mv), "no_audio load: %s", err);
    if (mv) {
        c = mmgpt_ctx_create(mv, mmgpt_ctx_default_params(), err);
        int rc = c ? mmgpt_add_audio_file(c, argv[3], err) : -99;
        CHECK(rc == MMGPT_ERR_MODEL && strstr(err, "no audio encoder"), "audio without encoder: rc %d '%s'", rc, err);
        mmgpt_ctx_free(c);
        mmgpt_model_free(mv);
    }
    CHECK(mmgpt_model_load("/nonexistent.gguf", mmgpt_model_default_params(), err) == NULL && strstr(err, "nonexistent"),
          "missing model: '%s'", err);

    free(a0.logits); free(a0.text); free(b0.logits); free(b0.text);
    free(a1.logits); free(a1.text); free(b1.logits); free(b1.text);
    mmgpt_model_free(m);
    if (n_fail) {
        fprintf(stderr, "%d check(s) failed\n", n_fail);
        return 1;
    }
    printf("API, threads and error kinds: all checks passed\n");
    return 0;
}
