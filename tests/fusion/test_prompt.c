/* test_prompt.c - prompt template keys and <__media__> assembly against the rules written in
 * include/mm_fusion.h (expected segment lists spelled out by hand from those rules). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_fusion.h"
#include "mm_gguf.h"

#include "mm_check.h"

/* expected: strings for text segments, "#N" for media N */
static void expect(const char *what, const mm_prompt *p, const char *const *exp, int n_exp) {
    CHECK(p->n_segs == n_exp, "%s: %d segments, expected %d", what, p->n_segs, n_exp);
    for (int i = 0; i < p->n_segs && i < n_exp; i++) {
        if (exp[i][0] == '#' && exp[i][1] >= '0' && exp[i][1] <= '9') {
            CHECK(p->segs[i].kind == MM_SEG_MEDIA && p->segs[i].media == atoi(exp[i] + 1),
                  "%s: segment %d should be media %s", what, i, exp[i] + 1);
        } else {
            CHECK(p->segs[i].kind == MM_SEG_TEXT && !strcmp(p->segs[i].text, exp[i]),
                  "%s: segment %d is '%s', expected '%s'", what, i,
                  p->segs[i].kind == MM_SEG_TEXT ? p->segs[i].text : "(media)", exp[i]);
        }
    }
}

int main(void) {
    char               err[MM_ERR_SIZE];
    mm_prompt_template t;
    mm_prompt          p;
    CHECK(mm_prompt_template_load(&t, NULL, err) == 0, "defaults: %s", err);
    CHECK(!strcmp(t.user_prefix, "User: ") && !strcmp(t.assistant_prefix, "Assistant:") &&
              !strcmp(t.system_prefix, "System: ") && !strcmp(t.user_suffix, "\n") && t.default_system == NULL,
          "default template strings");

    /* task texts */
    char *s = mm_prompt_task_text(&t, MM_TASK_CAPTION, NULL);
    CHECK(s && !strcmp(s, "<__media__>\nDescribe this image."), "caption text '%s'", s);
    free(s);
    s = mm_prompt_task_text(&t, MM_TASK_DESCRIBE, NULL);
    CHECK(s && !strcmp(s, "<__media__>\nDescribe this sound."), "describe text '%s'", s);
    free(s);
    s = mm_prompt_task_text(&t, MM_TASK_ASK, "what {is} it?");
    CHECK(s && !strcmp(s, "<__media__>\nwhat {is} it?"), "ask text '%s'", s);
    free(s);

    mmgpt_media_kind ii[2] = {MMGPT_MEDIA_IMAGE, MMGPT_MEDIA_IMAGE}, ia[3] = {MMGPT_MEDIA_IMAGE, MMGPT_MEDIA_AUDIO, MMGPT_MEDIA_IMAGE};

    /* one image with the caption text, no system */
    CHECK(mm_prompt_build(&t, NULL, "<__media__>\nDescribe this image.", ii, 1, false, &p, err) == 0, "%s", err);
    expect("caption", &p, (const char *const[]){"User: ", "#0", "\nDescribe this image.\nAssistant:"}, 3);
    mm_prompt_free(&p);

    /* system prompt + two markers */
    CHECK(mm_prompt_build(&t, "Be brief.", "Compare <__media__> with <__media__>.", ii, 2, false, &p, err) == 0, "%s",
          err);
    expect("two markers", &p,
           (const char *const[]){"System: Be brief.\nUser: Compare ", "#0", " with ", "#1", ".\nAssistant:"}, 5);
    mm_prompt_free(&p);

    /* no marker: media first, each followed by a newline */
    CHECK(mm_prompt_build(&t, "", "What is this?", ia, 3, false, &p, err) == 0, "%s", err);
    expect("no marker", &p, (const char *const[]){"User: ", "#0", "\n", "#1", "\n", "#2", "\nWhat is this?\nAssistant:"},
           7);
    mm_prompt_free(&p);

    /* text only */
    CHECK(mm_prompt_build(&t, NULL, "Hello", NULL, 0, false, &p, err) == 0, "%s", err);
    expect("text only", &p, (const char *const[]){"User: Hello\nAssistant:"}, 1);
    mm_prompt_free(&p);

    /* raw: the text alone, marker at the start and the end */
    CHECK(mm_prompt_build(&t, "ignored", "<__media__>a b<__media__>", ii, 2, true, &p, err) == 0, "%s", err);
    expect("raw", &p, (const char *const[]){"#0", "a b", "#1"}, 3);
    mm_prompt_free(&p);

    /* adjacent markers */
    CHECK(mm_prompt_build(&t, NULL, "<__media__><__media__>", ii, 2, true, &p, err) == 0, "%s", err);
    expect("adjacent", &p, (const char *const[]){"#0", "#1"}, 2);
    mm_prompt_free(&p);

    /* count mismatch -> clear error */
    err[0] = 0;
    CHECK(mm_prompt_build(&t, NULL, "<__media__> and <__media__>", ii, 1, false, &p, err) != 0, "mismatch accepted");
    CHECK(strstr(err, "2 <__media__> markers") && strstr(err, "1 image"), "mismatch message '%s'", err);
    CHECK(mm_prompt_build(&t, NULL, "one <__media__>", ii, 2, false, &p, err) != 0, "mismatch 1 vs 2 accepted");
    /* the system prompt is plain text: a marker in it is text, not a slot (issue 14: free text is text) */
    CHECK(mm_prompt_build(&t, "<__media__>", "x", ii, 1, false, &p, err) == 0, "%s", err);
    expect("marker in the system prompt", &p, (const char *const[]){"System: <__media__>\nUser: ", "#0", "\nx\nAssistant:"},
           3);
    mm_prompt_free(&p);
    /* parts: prompt parts join (a marker split over two of them counts), literal parts are text */
    mm_prompt_part parts[4] = {{"Look <__med", false}, {"ia__> then", false}, {" <__media__> <|endoftext|>", true},
                               {"<__media__>!", false}};
    CHECK(mm_prompt_build_parts(&t, NULL, parts, 4, ii, 2, false, &p, err) == 0, "%s", err);
    expect("parts", &p,
           (const char *const[]){"User: Look ", "#0", " then <__media__> <|endoftext|>", "#1", "!\nAssistant:"}, 5);
    mm_prompt_free(&p);
    /* literal markers do not count: no prompt marker -> media first */
    mm_prompt_part lit = {"<__media__> what is it", true};
    CHECK(mm_prompt_build_parts(&t, "<__media__>", &lit, 1, ii, 1, false, &p, err) == 0, "%s", err);
    expect("literal marker", &p,
           (const char *const[]){"System: <__media__>\nUser: ", "#0", "\n<__media__> what is it\nAssistant:"}, 3);
    mm_prompt_free(&p);
    CHECK(mm_prompt_build_parts(&t, NULL, parts, 4, ii, 1, false, &p, err) != 0 && strstr(err, "2 <__media__> markers"),
          "parts: 2 prompt markers for 1 media accepted ('%s')", err);
    /* a marker in the template (the model file's keys) is an error */
    free(t.user_suffix);
    t.user_suffix = strdup("<__media__>");
    CHECK(mm_prompt_build(&t, NULL, "x", ii, 0, false, &p, err) != 0 && strstr(err, "template"),
          "marker in the template accepted ('%s')", err);
    CHECK(mm_prompt_count_markers("<__media_<__media__>__media__>") == 1, "marker count");
    mm_prompt_template_free(&t);

    /* template from a GGUF: overrides, wrappers around image and audio */
    mm_gguf_writer *w = mm_gguf_writer_create();
    mm_gguf_writer_set_str(w, "mmgpt.prompt.user_prefix", "### Human: ");
    mm_gguf_writer_set_str(w, "mmgpt.prompt.assistant_prefix", "### Bot:");
    mm_gguf_writer_set_str(w, "mmgpt.prompt.default_system", "You see and hear.");
    mm_gguf_writer_set_str(w, "mmgpt.prompt.image_begin", "<img>");
    mm_gguf_writer_set_str(w, "mmgpt.prompt.image_end", "</img>");
    mm_gguf_writer_set_str(w, "mmgpt.prompt.audio_begin", "<snd>");
    mm_gguf_writer_set_str(w, "mmgpt.prompt.ask", "Q: {question} <__media__>");
    const char *tmp = getenv("MMGPT_TEST_TMP");
    char path[1024];
    snprintf(path, sizeof path, "%s/fus_prompt.gguf", tmp ? tmp : ".");
    CHECK(mm_gguf_writer_write(w, path, err) == 0, "write %s: %s", path, err);
    mm_gguf_writer_free(w);
    mm_gguf *g = mm_gguf_open(path, err);
    CHECK(g != NULL, "open: %s", err);
    if (g) {
        CHECK(mm_prompt_template_load(&t, g, err) == 0, "load: %s", err);
        CHECK(t.default_system && !strcmp(t.default_system, "You see and hear."), "default_system");
        s = mm_prompt_task_text(&t, MM_TASK_ASK, "why?");
        CHECK(s && !strcmp(s, "Q: why? <__media__>"), "ask override '%s'", s);
        CHECK(mm_prompt_build(&t, t.default_system, s, ia + 1, 1, false, &p, err) == 0, "%s", err);
        expect("wrapped audio", &p,
               (const char *const[]){"System: You see and hear.\n### Human: Q: why? <snd>", "#0", "\n### Bot:"}, 3);
        mm_prompt_free(&p);
        free(s);
        CHECK(mm_prompt_build(&t, NULL, "", ii, 1, false, &p, err) == 0, "%s", err);
        expect("wrapped image", &p, (const char *const[]){"### Human: <img>", "#0", "</img>\n\n### Bot:"}, 3);
        mm_prompt_free(&p);
        mm_prompt_template_free(&t);
        mm_gguf_close(g);
    }
    /* a non-string template key is an error */
    w = mm_gguf_writer_create();
    mm_gguf_writer_set_u32(w, "mmgpt.prompt.user_prefix", 7);
    CHECK(mm_gguf_writer_write(w, path, err) == 0, "write: %s", err);
    mm_gguf_writer_free(w);
    if ((g = mm_gguf_open(path, err))) {
        CHECK(mm_prompt_template_load(&t, g, err) != 0 && strstr(err, "user_prefix"), "u32 template key: '%s'", err);
        mm_gguf_close(g);
    }

    /* property: for random texts made of pieces of the marker and ordinary characters, a raw turn's
     * segments joined back (media as the marker) give the text again, media numbered 0, 1, 2 ... */
    CHECK(mm_prompt_template_load(&t, NULL, err) == 0, "%s", err);
    const char *alphabet[] = {"<__media__>", "<__media", "__>", "<", ">", "_", "a", " ", "\n", "m", "é"};
    unsigned    seed = 12345;
    for (int iter = 0; iter < 2000; iter++) {
        char text[512] = "";
        int  len = 0;
        int  n_pieces = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 24;
        for (int k = 0; k < n_pieces; k++) {
            const char *pc = alphabet[((seed = seed * 1103515245u + 12345u) >> 16) % 11];
            if (len + (int)strlen(pc) < (int)sizeof text - 1) {
                strcat(text, pc);
                len += (int)strlen(pc);
            }
        }
        int nm = mm_prompt_count_markers(text);
        mmgpt_media_kind kinds[64];
        for (int k = 0; k < 64; k++) kinds[k] = k % 2 ? MMGPT_MEDIA_AUDIO : MMGPT_MEDIA_IMAGE;
        if (nm > 64) continue;
        if (mm_prompt_build(&t, NULL, text, kinds, nm, true, &p, err) != 0) {
            CHECK(0, "random text %d refused: %s", iter, err);
            continue;
        }
        char back[1024] = "";
        int  next_media = 0, ok = 1;
        for (int k = 0; k < p.n_segs; k++) {
            if (p.segs[k].kind == MM_SEG_MEDIA) {
                ok &= p.segs[k].media == next_media++;
                strcat(back, MM_MEDIA_MARKER);
            } else {
                ok &= p.segs[k].text[0] != 0 && strlen(back) + strlen(p.segs[k].text) < sizeof back;
                if (ok) strcat(back, p.segs[k].text);
            }
        }
        CHECK(ok && next_media == nm && !strcmp(back, text), "round trip of '%s' gave '%s'", text, back);
        mm_prompt_free(&p);
        if (nm > 0) CHECK(mm_prompt_build(&t, NULL, text, kinds, nm + 1, true, &p, err) != 0, "count+1 accepted");
    }
    mm_prompt_template_free(&t);

    if (n_fail) {
        fprintf(stderr, "%d check(s) failed\n", n_fail);
        return 1;
    }
    printf("prompt assembly: all checks passed\n");
    return 0;
}
