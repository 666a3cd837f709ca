/* test_api_steps.c - the step-wise generation of mmgpt.h (mmgpt_generate_begin / _next / _stop) and the
 * replayed conversation (mmgpt_eval_answer), the two things `mmgpt serve` needs from the library:
 *   0. ignore_eos: the greedy answer that ends on the end token is the start of the ignore_eos one, which
 *      runs to max_tokens (greedy and sampled), and again the same on that ctx after mmgpt_clear;
 *   1. begin + next until 0 gives the text, pieces and stop reason of mmgpt_generate (greedy and sampled);
 *   2. two contexts on one model stepped alternately in one thread (the server's worker loop) each give
 *      their answer alone;
 *   3. a conversation replayed with mmgpt_eval_answer(first answer) answers the second question as the
 *      conversation that generated the first answer does, with the same KV-cache length;
 *   4. mmgpt_generate_stop ends a generation (MMGPT_STOP_CALLBACK, nothing in progress, next refused), and
 *      the ctx then answers a new conversation as a fresh ctx does;
 *   5. misuse: next without begin, NULL arguments;
 *   6. mmgpt_generate_next_many (the batched step of several contexts: mmgpt serve, caption/describe of many
 *      files) gives every context its answer alone (text, pieces, stop reason), greedy and sampled, contexts
 *      ending at different steps, with and without every state joining the shared pass;
 *   7. mmgpt_copy_cache (and _n: the prompt only) + mmgpt_set_batched_start (mmgpt serve's admission): contexts that take another's KV
 *      cache as prefix cache and leave their turn's last position to the batched step answer as the context
 *      that asks the same question again after mmgpt_clear (its own prefix cache, the position evaluated at
 *      begin), greedy, sampled and with a repeat penalty (the deferred token is in the penalty window), stepped
 *      by next_many or next; a turn with more than one position left is evaluated at begin; stop, clear and a
 *      new turn with a position pending; misuse.
 * The reference is the library's one-call mmgpt_generate (fus_logits checks the numerics vs PyTorch).
 *
 * usage: test_api_steps MODEL IMAGE AUDIO */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmgpt.h"

#include "mm_check.h"

typedef struct {
    char   buf[4096];
    size_t n;
    int    pieces;
} acc;

static bool collect(const char *t, size_t n, void *u) {
    acc *a = u;
    if (a->n + n < sizeof a->buf) {
        memcpy(a->buf + a->n, t, n);
        a->n += n;
        a->buf[a->n] = 0;
    }
    if (n) a->pieces++;
    return true;
}

static const char *g_image, *g_audio;

/* The user turn of question q (0: the picture, 1: the clip). */
static int add_turn(mmgpt_ctx *c, int q, char *err) {
    int rc = q == 0 ? mmgpt_add_image_file(c, g_image, err) : mmgpt_add_audio_file(c, g_audio, err);
    if (!rc) rc = mmgpt_add_text_literal(c, q == 0 ? "Describe this image." : "Describe this sound.", err);
    return rc;
}

/* One-call reference answer on a fresh ctx. */
static void reference(const mmgpt_model *m, int q, mmgpt_gen_params gp, acc *out, mmgpt_stop *why) {
    char       err[MMGPT_ERR_SIZE];
    mmgpt_ctx *c = mmgpt_ctx_create(m, (mmgpt_ctx_params){.n_threads = 1}, err);
    memset(out, 0, sizeof *out);
    CHECK(c && !add_turn(c, q, err) && !mmgpt_generate(c, gp, collect, out, err), "reference: %s", err);
    *why = mmgpt_stop_reason(c);
    mmgpt_ctx_free(c);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL IMAGE AUDIO\n", argv[0]);
        return 2;
    }
    g_image = argv[2];
    g_audio = argv[3];
    char         err[MMGPT_ERR_SIZE];
    mmgpt_model *m = mmgpt_model_load(argv[1], mmgpt_model_default_params(), err);
    if (!m) {
        fprintf(stderr, "load: %s\n", err);
        return 1;
    }
    mmgpt_gen_params greedy = mmgpt_gen_default_params(), sampled = mmgpt_gen_default_params();
    greedy.max_tokens = 40;
    sampled.max_tokens = 20;
    sampled.temperature = 0.9f;
    sampled.seed = 1234;

    /* 0: ignore_eos (the end tokens banned in the state's logits for the pick, then put back): the greedy
     *    answer that ends on its end token (26 tokens on the demo model) is the start of the ignore_eos
     *    answer, which runs on to max_tokens; again on that ctx after mmgpt_clear (its prefix cache); sampled
     *    runs to max_tokens too */
    for (int mode = 0; mode < 2; mode++) {
        mmgpt_gen_params gp = mode ? sampled : greedy, ge = gp;
        ge.ignore_eos = true;
        acc        plain = {0}, banned = {0}, again = {0};
        mmgpt_stop w_plain, w_banned;
        reference(m, 0, gp, &plain, &w_plain);
        mmgpt_ctx *c = mmgpt_ctx_create(m, (mmgpt_ctx_params){.n_threads = 1}, err);
        CHECK(c && !add_turn(c, 0, err) && !mmgpt_generate(c, ge, collect, &banned, err), "0: ignore_eos: %s", err);
        w_banned = mmgpt_stop_reason(c);
        mmgpt_timings t;
        mmgpt_get_timings(c, &t);
        CHECK(w_banned == MMGPT_STOP_MAX_TOKENS && t.n_gen == ge.max_tokens, "0: mode %d: ignore_eos stopped (%d) "
              "after %lld tokens", mode, (int)w_banned, (long long)t.n_gen);
        if (mode == 0)
            CHECK(w_plain == MMGPT_STOP_EOS && banned.n > plain.n && !strncmp(banned.buf, plain.buf, plain.n),
                  "0: greedy '%s' (stop %d) is not the start of the ignore_eos answer '%s'", plain.buf, (int)w_plain,
                  banned.buf);
        mmgpt_clear(c);
        CHECK(!add_turn(c, 0, err) && !mmgpt_generate(c, ge, collect, &again, err) && !strcmp(again.buf, banned.buf),
              "0: mode %d: ignore_eos again '%s' != '%s'", mode, again.buf, banned.buf);
        mmgpt_ctx_free(c);
    }

    /* 1 + 2: two contexts stepped alternately == each alone */
    for (int mode = 0; mode < 2; mode++) {
        mmgpt_gen_params gp = mode ? sampled : greedy;
        acc              ref[2], got[2];
        mmgpt_stop       why[2];
        reference(m, 0, gp, &ref[0], &why[0]);
        reference(m, 1, gp, &ref[1], &why[1]);
        CHECK(ref[0].n > 0 && ref[1].n > 0, "references are empty");
        mmgpt_ctx *c[2];
        int        live[2] = {1, 1}, steps = 0;
        for (int k = 0; k < 2; k++) {
            memset(&got[k], 0, sizeof got[k]);
            c[k] = mmgpt_ctx_create(m, (mmgpt_ctx_params){.n_threads = 1}, err);
            CHECK(c[k] && !add_turn(c[k], k, err) && !mmgpt_generate_begin(c[k], gp, err), "begin %d: %s", k, err);
            CHECK(mmgpt_generate_active(c[k]), "begin %d: not active", k);
        }
        while (live[0] || live[1]) {
            for (int k = 0; k < 2; k++) {
                if (!live[k]) continue;
                int rc = mmgpt_generate_next(c[k], collect, &got[k], err);
                CHECK(rc >= 0, "next %d: %s", k, err);
                if (rc <= 0) live[k] = 0;
                if (++steps > 1000) live[0] = live[1] = 0;
            }
        }
        for (int k = 0; k < 2; k++) {
            CHECK(!strcmp(got[k].buf, ref[k].buf), "mode %d ctx %d: stepped '%s' != one call '%s'", mode, k,
                  got[k].buf, ref[k].buf);
            CHECK(got[k].pieces == ref[k].pieces, "mode %d ctx %d: %d pieces != %d", mode, k, got[k].pieces,
                  ref[k].pieces);
            CHECK(!strcmp(mmgpt_last_text(c[k]), ref[k].buf), "mode %d ctx %d: last_text differs", mode, k);
            CHECK(mmgpt_stop_reason(c[k]) == why[k], "mode %d ctx %d: stop %d != %d", mode, k,
                  (int)mmgpt_stop_reason(c[k]), (int)why[k]);
            CHECK(!mmgpt_generate_active(c[k]), "still active after the end");
            CHECK(mmgpt_generate_next(c[k], collect, &got[k], err) == MMGPT_ERR_USAGE, "next after the end");
            mmgpt_ctx_free(c[k]);
        }
    }

    /* 3: a replayed conversation == the generated one */
    {
        mmgpt_ctx *a = mmgpt_ctx_create(m, (mmgpt_ctx_params){.n_threads = 1}, err);
        mmgpt_ctx *b = mmgpt_ctx_create(m, (mmgpt_ctx_params){.n_threads = 1}, err);
        CHECK(a && b, "ctx: %s", err);
        acc ans1 = {0}, ans2 = {0}, rep2 = {0};
        CHECK(!add_turn(a, 0, err) && !mmgpt_generate(a, greedy, collect, &ans1, err), "turn 1: %s", err);
        CHECK(mmgpt_stop_reason(a) == MMGPT_STOP_EOS, "turn 1 should end at eos (stop %d)", (int)mmgpt_stop_reason(a));
        CHECK(!mmgpt_add_text_literal(a, "Tell me more.", err) && !mmgpt_generate(a, greedy, collect, &ans2, err),
              "turn 2: %s", err);
        CHECK(!add_turn(b, 0, err) && !mmgpt_eval_answer(b, ans1.buf, err), "replay: %s", err);
        CHECK(!mmgpt_add_text_literal(b, "Tell me more.", err) && !mmgpt_generate(b, greedy, collect, &rep2, err),
              "replayed turn 2: %s", err);
        CHECK(!strcmp(ans2.buf, rep2.buf), "replayed answer '%s' != '%s'", rep2.buf, ans2.buf);
        CHECK(mmgpt_ctx_n_past(a) == mmgpt_ctx_n_past(b), "n_past %lld != %lld", (long long)mmgpt_ctx_n_past(b),
              (long long)mmgpt_ctx_n_past(a));
        CHECK(mmgpt_eval_answer(b, NULL, err) == MMGPT_ERR_USAGE, "NULL answer");
        mmgpt_ctx_free(a);
        mmgpt_ctx_free(b);
    }

    /* 4: stop mid-answer, then a new conversation on the same ctx == a fresh ctx */
    {
        acc        ref, part = {0}, again = {0};
        mmgpt_stop why;
        reference(m, 1, greedy, &ref, &why);
        mmgpt_ctx *c = mmgpt_ctx_create(m, (mmgpt_ctx_params){.n_threads = 1}, err);
        CHECK(c && !add_turn(c, 0, err) && !mmgpt_generate_begin(c, greedy, err), "begin: %s", err);
        for (int i = 0; i < 3; i++) CHECK(mmgpt_generate_next(c, collect, &part, err) == 1, "step %d: %s", i, err);
        mmgpt_generate_stop(c);
        CHECK(!mmgpt_generate_active(c), "active after stop");
        CHECK(mmgpt_stop_reason(c) == MMGPT_STOP_CALLBACK, "stop reason %d", (int)mmgpt_stop_reason(c));
        CHECK(mmgpt_generate_next(c, collect, &part, err) == MMGPT_ERR_USAGE, "next after stop");
        mmgpt_clear(c);
        CHECK(!add_turn(c, 1, err) && !mmgpt_generate(c, greedy, collect, &again, err), "after stop: %s", err);
        CHECK(!strcmp(again.buf, ref.buf), "after stop '%s' != fresh '%s'", again.buf, ref.buf);
        /* clear during a generation ends it too */
        CHECK(!add_turn(c, 0, err) && !mmgpt_generate_begin(c, greedy, err), "begin: %s", err);
        mmgpt_clear(c);
        CHECK(!mmgpt_generate_active(c), "active after clear");
        mmgpt_ctx_free(c);
    }

    /* 5: misuse */
    CHECK(mmgpt_generate_next(NULL, NULL, NULL, err) == MMGPT_ERR_USAGE, "next(NULL)");
    CHECK(mmgpt_generate_begin(NULL, greedy, err) == MMGPT_ERR_USAGE, "begin(NULL)");
    CHECK(mmgpt_eval_answer(NULL, "x", err) == MMGPT_ERR_USAGE, "eval_answer(NULL)");
    CHECK(!mmgpt_generate_active(NULL), "active(NULL)");
    mmgpt_generate_stop(NULL);
    {
        mmgpt_ctx *c = mmgpt_ctx_create(m, (mmgpt_ctx_params){.n_threads = 1}, err);
        CHECK(mmgpt_generate_next(c, NULL, NULL, err) == MMGPT_ERR_USAGE && strstr(err, "no generation"),
              "next without begin: %s", err);
        mmgpt_gen_params bad = greedy;
        bad.temperature = 2.5f;
        CHECK(!add_turn(c, 0, err) && mmgpt_generate_begin(c, bad, err) == MMGPT_ERR_USAGE, "temperature 2.5");
        CHECK(!mmgpt_generate_active(c), "active after a failed begin");
        mmgpt_ctx_free(c);
    }
    /* 6: mmgpt_generate_next_many (one pass over the weights for several contexts) == each alone, in three
     *    rounds: a 1-thread first context (every state joins its batch), then a 2-thread first context (the
     *    1-thread states cannot join: evaluated one at a time), then every context on the first one's 2-thread
     *    pool (share_pool, as mmgpt serve's slots; three sampled: the samplers run on both threads; the
     *    owner of the pool is freed first); a ctx without a generation in the set gets MMGPT_ERR_USAGE in its
     *    rc and does not disturb the others */
    for (int round = 0; round < 3; round++) {
        enum { NC = 5 };
        const int q[NC] = {0, 1, 0, 1, 0};
        mmgpt_gen_params gp[NC] = {greedy, greedy, sampled, greedy, greedy};
        gp[3].max_tokens = 7;      /* ends early: the others go on in smaller batches */
        gp[4].ignore_eos = true;   /* runs to max_tokens */
        if (round == 2) {
            gp[0] = gp[1] = sampled;
            gp[1].seed = 77;
            gp[1].top_p = 0.9f;
        }
        acc        ref[NC], got[NC];
        mmgpt_stop why[NC];
        mmgpt_ctx *c[NC + 1];
        void      *users[NC + 1];
        for (int k = 0; k < NC; k++) {
            reference(m, q[k], gp[k], &ref[k], &why[k]);
            memset(&got[k], 0, sizeof got[k]);
            c[k] = mmgpt_ctx_create(m, (mmgpt_ctx_params){.n_threads = round && k == 0 ? 2 : 1,
                                                          .share_pool = round == 2 && k ? c[0] : NULL}, err);
            CHECK(c[k] && !add_turn(c[k], q[k], err) && !mmgpt_generate_begin(c[k], gp[k], err), "many: begin %d: %s", k, err);
            users[k] = &got[k];
        }
        c[NC] = mmgpt_ctx_create(m, (mmgpt_ctx_params){.n_threads = 1, .share_pool = round == 2 ? c[0] : NULL},
                                 err); /* no generation */
        acc idle = {0};
        users[NC] = &idle;
        int  rcs[NC + 1], steps = 0;
        char errs[NC + 1][MMGPT_ERR_SIZE];
        for (;;) {
            mmgpt_ctx *live[NC + 1];
            void      *lu[NC + 1];
            int        nl = 0;
            for (int k = 0; k <= NC; k++)
                if (mmgpt_generate_active(c[k]) || (k == NC && steps == 3)) live[nl] = c[k], lu[nl++] = users[k];
            if (nl == 0 || ++steps > 1000) break;
            CHECK(mmgpt_generate_next_many(live, nl, collect, lu, rcs, &errs[0][0], err) == MMGPT_OK, "many: %s", err);
            for (int k = 0; k < nl; k++) {
                if (live[k] == c[NC])
                    CHECK(rcs[k] == MMGPT_ERR_USAGE && strstr(errs[k], "no generation"), "many: idle ctx: %d %s", rcs[k],
                          errs[k]);
                else CHECK(rcs[k] >= 0, "many: step %d: %s", steps, errs[k]);
            }
        }
        for (int k = 0; k < NC; k++) {
            CHECK(!strcmp(got[k].buf, ref[k].buf), "round %d ctx %d: next_many '%s' != alone '%s'", round, k, got[k].buf,
                  ref[k].buf);
            CHECK(got[k].pieces == ref[k].pieces, "round %d ctx %d: %d pieces != %d", round, k, got[k].pieces, ref[k].pieces);
            CHECK(mmgpt_stop_reason(c[k]) == why[k], "round %d ctx %d: stop %d != %d", round, k,
                  (int)mmgpt_stop_reason(c[k]), (int)why[k]);
            CHECK(!strcmp(mmgpt_last_text(c[k]), ref[k].buf), "round %d ctx %d: last_text differs", round, k);
        }
        CHECK(idle.n == 0, "the idle ctx got text");
        /* misuse: NULLs, a ctx twice, n out of range (nothing done) */
        CHECK(mmgpt_generate_next_many(NULL, 1, NULL, NULL, rcs, NULL, err) == MMGPT_ERR_USAGE, "many(NULL)");
        CHECK(mmgpt_generate_next_many(c, 1, NULL, NULL, NULL, NULL, err) == MMGPT_ERR_USAGE, "many rcs NULL");
        CHECK(mmgpt_generate_next_many(c, 0, NULL, NULL, rcs, NULL, err) == MMGPT_ERR_USAGE, "many n = 0");
        mmgpt_ctx *twice[2] = {c[1], c[1]};
        CHECK(mmgpt_generate_next_many(twice, 2, NULL, NULL, rcs, NULL, err) == MMGPT_ERR_USAGE && strstr(err, "also"),
              "many: a ctx twice: %s", err);
        for (int k = 0; k <= NC; k++) mmgpt_ctx_free(c[k]);
    }

    /* 7: copied prefix cache + batched start == the context's own prefix cache */
    for (int mode = 0; mode < 3; mode++) {
        mmgpt_gen_params gp = mode == 1 ? sampled : greedy;
        if (mode == 2) gp.repeat_penalty = 1.3f, gp.repeat_last_n = 64;
        /* the oracle: ask q 0 on a fresh ctx, clear, ask again (all but the last position from its cache) */
        mmgpt_ctx *r = mmgpt_ctx_create(m, (mmgpt_ctx_params){.n_threads = 1}, err);
        acc        first = {0}, warm = {0}, fresh1;
        mmgpt_stop why1;
        reference(m, 1, gp, &fresh1, &why1);
        CHECK(r && !add_turn(r, 0, err) && !mmgpt_generate(r, gp, collect, &first, err), "7: oracle: %s", err);
        mmgpt_clear(r);
        mmgpt_reset_timings(r);
        CHECK(!add_turn(r, 0, err) && !mmgpt_generate(r, gp, collect, &warm, err), "7: oracle again: %s", err);
        mmgpt_timings tr;
        mmgpt_get_timings(r, &tr);
        CHECK(tr.n_cached == tr.n_prompt - 1 && tr.n_prompt_batched == 0, "7: oracle cached %lld of %lld",
              (long long)tr.n_cached, (long long)tr.n_prompt);
        /* d[0], d[1]: copies of r's cache, stepped by next_many; d[2]: a copy stepped by next; d[3]: another
         * question (its turn evaluated at begin) in the same steps; all on one pool as the server's slots */
        enum { ND = 4 };
        mmgpt_ctx *d[ND];
        acc        got[ND];
        void      *users[ND];
        for (int k = 0; k < ND; k++) {
            d[k] = mmgpt_ctx_create(m, (mmgpt_ctx_params){.n_threads = 2, .share_pool = k ? d[0] : NULL}, err);
            CHECK(d[k] != NULL, "7: ctx: %s", err);
            mmgpt_set_batched_start(d[k], true);
            /* d[1] copies r's prompt but its last position, not the answer (mmgpt serve's slot.n_key) */
            const int64_t n_copy = k == 1 ? tr.n_prompt - 1 : k < 3 ? mmgpt_ctx_n_past(r) : 0;
            if (k == 1) CHECK(!mmgpt_copy_cache_n(d[k], r, n_copy, err), "7: copy_n: %s", err);
            else if (k < 3) CHECK(!mmgpt_copy_cache(d[k], r, err), "7: copy: %s", err);
            CHECK(mmgpt_ctx_n_past(d[k]) == n_copy, "7: ctx %d: n_past %lld after the copy, want %lld", k,
                  (long long)mmgpt_ctx_n_past(d[k]), (long long)n_copy);
            CHECK(!add_turn(d[k], k < 3 ? 0 : 1, err) && !mmgpt_generate_begin(d[k], gp, err), "7: begin %d: %s", k, err);
            mmgpt_timings t;
            mmgpt_get_timings(d[k], &t);
            CHECK(k < 3 ? t.n_cached == t.n_prompt - 1 && mmgpt_ctx_n_past(d[k]) == t.n_prompt - 1
                        : t.n_cached == 0 && mmgpt_ctx_n_past(d[k]) == t.n_prompt,
                  "7: ctx %d: cached %lld of %lld, n_past %lld", k, (long long)t.n_cached, (long long)t.n_prompt,
                  (long long)mmgpt_ctx_n_past(d[k]));
            memset(&got[k], 0, sizeof got[k]);
            users[k] = &got[k];
        }
        mmgpt_ctx *many[3] = {d[0], d[1], d[3]};
        void      *mu[3] = {users[0], users[1], users[3]};
        int        rcs[3], rc2 = 1, steps = 0;
        char       errs[3][MMGPT_ERR_SIZE];
        for (bool go = true; go && ++steps < 1000;) {
            go = false;
            mmgpt_ctx *live[3];
            void      *lu[3];
            int        nl = 0;
            for (int k = 0; k < 3; k++)
                if (mmgpt_generate_active(many[k])) live[nl] = many[k], lu[nl++] = mu[k];
            if (nl) {
                CHECK(mmgpt_generate_next_many(live, nl, collect, lu, rcs, &errs[0][0], err) == MMGPT_OK, "7: many: %s", err);
                for (int k = 0; k < nl; k++) CHECK(rcs[k] >= 0, "7: many: %s", errs[k]);
                if (steps == 1) CHECK(got[0].n == 0 && got[1].n == 0, "7: text in the step that evaluates the prompt");
                go = true;
            }
            if (rc2 == 1) {
                rc2 = mmgpt_generate_next(d[2], collect, users[2], err);
                CHECK(rc2 >= 0, "7: next: %s", err);
                go = true;
            }
        }
        for (int k = 0; k < ND; k++) {
            const acc *want = k < 3 ? &warm : &fresh1;
            CHECK(!strcmp(got[k].buf, want->buf) && got[k].pieces == want->pieces, "7: mode %d ctx %d: '%s' != '%s'",
                  mode, k, got[k].buf, want->buf);
            mmgpt_timings t;
            mmgpt_get_timings(d[k], &t);
            CHECK(t.n_prompt_batched == (k < 2), "7: ctx %d: %lld prompt positions in steps", k,
                  (long long)t.n_prompt_batched);
        }
        CHECK(mmgpt_stop_reason(d[0]) == mmgpt_stop_reason(r), "7: stop reasons");
        /* a pending position, then stop: the conversation goes on as after a stopped answer; then clear with
         * one pending: the next conversation is unaffected */
        mmgpt_clear(d[0]);
        CHECK(!add_turn(d[0], 0, err) && !mmgpt_generate_begin(d[0], gp, err), "7: begin: %s", err);
        mmgpt_generate_stop(d[0]);
        CHECK(!mmgpt_generate_active(d[0]) && mmgpt_stop_reason(d[0]) == MMGPT_STOP_CALLBACK, "7: stop");
        mmgpt_clear(d[1]);
        CHECK(!add_turn(d[1], 0, err) && !mmgpt_generate_begin(d[1], gp, err), "7: begin: %s", err);
        mmgpt_clear(d[1]);
        acc again = {0};
        CHECK(!add_turn(d[1], 1, err) && !mmgpt_generate(d[1], gp, collect, &again, err), "7: after clear: %s", err);
        CHECK(!strcmp(again.buf, fresh1.buf), "7: after a dropped position '%s' != '%s'", again.buf, fresh1.buf);
        /* misuse */
        CHECK(mmgpt_copy_cache(d[0], d[0], err) == MMGPT_ERR_USAGE, "7: copy onto itself");
        CHECK(mmgpt_copy_cache_n(d[0], r, mmgpt_ctx_n_past(r) + 1, err) == MMGPT_ERR_USAGE &&
                  mmgpt_copy_cache_n(d[0], r, -1, err) == MMGPT_ERR_USAGE,
              "7: copy_n of more than the source holds / of -1 positions");
        CHECK(mmgpt_copy_cache(NULL, d[0], err) == MMGPT_ERR_USAGE && mmgpt_copy_cache(d[0], NULL, err) == MMGPT_ERR_USAGE,
              "7: copy NULL");
        mmgpt_set_batched_start(NULL, true);
        for (int k = ND - 1; k >= 0; k--) mmgpt_ctx_free(d[k]);
        mmgpt_ctx_free(r);
    }

    mmgpt_model_free(m);
    if (n_fail) fprintf(stderr, "%d checks failed\n", n_fail);
    else printf("api steps: all checks passed\n");
    return n_fail ? 1 : 0;
}
