/* fuzz_chat_template.c - libFuzzer target for the chat templates: any bytes as a model's
 * tokenizer.chat_template (recognition), then as the user text, system prompt and answer of a
 * conversation rendered with every template of the table (mm_prompt_render_chat) and assembled as a turn
 * with media markers (mm_prompt_build_turn), with special tokens bound. Checks: recognition is
 * deterministic, a rendering holds the user text and ends with the generation prompt.
 *   CC=clang cmake -S . -B build-fuzz -DMMGPT_FUZZ=ON -DMMGPT_TESTS=OFF -DMMGPT_BENCH=OFF
 *   cmake --build build-fuzz --target fuzz_chat_template && build-fuzz/fuzz/fuzz_chat_template -max_total_time=60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mm_fusion.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool ends_with(const char *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* an exact-size copy, so that ASan catches a read one byte past the end */
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    const mm_chat_template *e = mm_chat_template_detect(buf, size);
    if (e != mm_chat_template_detect(buf, size)) abort();
    /* the same bytes as text (up to the first NUL), split in three: system, user, answer */
    char *text = malloc(size + 1);
    if (!text) { free(buf); return 0; }
    if (size) memcpy(text, data, size);
    text[size] = 0;
    size_t n = strlen(text), a = n / 3, b = 2 * n / 3;
    char  *sys = strndup(text, a), *user = strndup(text + a, b - a), *ans = strdup(text + b);
    char   err[MM_ERR_SIZE];
    for (int i = -1; sys && user && ans && i < mm_chat_template_count(); i++) {
        const char        *name = i < 0 ? "mmgpt" : mm_chat_template_at(i)->name;
        mm_prompt_template t;
        if (mm_prompt_template_load_chat(&t, NULL, name, err)) abort();
        if (t.specials) {
            mm_prompt_template_add_special(&t, "<|im_start|>", 12, 1, err);
            mm_prompt_template_add_special(&t, "</s>", 4, 2, err);
            mm_prompt_template_add_special(&t, "[INST]", 6, 3, err);
            if (n > 0) mm_prompt_template_add_special(&t, text, n < 8 ? n : 8, 4, err); /* input-made special */
        }
        mm_chat_msg msgs[] = {{"system", sys}, {"user", user}, {"assistant", ans}, {"user", user}};
        char       *out = NULL;
        size_t      len = 0;
        if (mm_prompt_render_chat(&t, msgs, 4, "<eos>", &out, &len, err) == 0) {
            if (strlen(out) != len || !ends_with(out, len, t.assistant_prefix)) abort();
            free(out);
        }
        mm_prompt_part parts[2] = {{user, false}, {ans, true}};
        mmgpt_media_kind  kinds[2] = {MMGPT_MEDIA_IMAGE, MMGPT_MEDIA_AUDIO};
        mm_prompt      p;
        for (int m = 0; m <= 2; m++)
            if (mm_prompt_build_turn(&t, m != 1, sys, parts, 2, kinds, m, m == 2, &p, err) == 0) mm_prompt_free(&p);
        mm_prompt_template_free(&t);
    }
    free(sys);
    free(user);
    free(ans);
    free(text);
    free(buf);
    return 0;
}
