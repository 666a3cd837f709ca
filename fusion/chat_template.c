/* chat_template.c - the chat template table (one entry per turn format), its recognition in a model's
 * tokenizer.chat_template, and the binding of a template's special tokens to a vocabulary.
 *
 * The strings are the formats of llama.cpp's llm_chat_apply_template (src/llama-chat.cpp) and the
 * detection strings those of its llm_chat_detect_template, written out here as data: the assembly
 * itself is mm_prompt_build_turn (prompt.c), one code path for every entry. See mm_fusion.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_fusion.h"

/* The detection strings shared by the three official Mistral templates ('v1' says it with its system
 * message, 'v3' / 'v3-tekken' with their tool list). */
#define MISTRAL_OFFICIAL {"' [INST] ' + system_message", "[AVAILABLE_TOOLS]", NULL}

/* Table order is detection order: the first entry whose strings match wins (SmolVLM before ChatML, as
 * it uses <|im_start|> as its BOS; the Mistral variants before the Llama 2 ones, the most specific
 * Llama 2 variant first). */
static const mm_chat_template k_table[] = {
    {.name = "smolvlm", .all = {"<|im_start|>", "<end_of_utterance>"},
     .start = "<|im_start|>", .system_place = MM_CHAT_SYS_BLOCK, .system_prefix = "", .system_suffix = "\n\n",
     .user_prefix_first = "User: ", .user_prefix = "User: ", .user_suffix = "<end_of_utterance>\n",
     .assistant_prefix = "Assistant:", .answer_lead = " ", .answer_close = "<end_of_utterance>\n"},
    {.name = "chatml", .all = {"<|im_start|>"}, .none = {"<|im_sep|>"}, /* <|im_sep|>: Phi-4, not ChatML */
     .start = "", .system_place = MM_CHAT_SYS_BLOCK, .system_prefix = "<|im_start|>system\n",
     .system_suffix = "<|im_end|>\n", .user_prefix_first = "<|im_start|>user\n", .user_prefix = "<|im_start|>user\n",
     .user_suffix = "<|im_end|>\n", .assistant_prefix = "<|im_start|>assistant\n", .answer_lead = "",
     .answer_close = "<|im_end|>\n"},
    {.name = "mistral-v7", .all = {"[INST]", "[SYSTEM_PROMPT]"},
     .start = "", .system_place = MM_CHAT_SYS_BLOCK, .system_prefix = "[SYSTEM_PROMPT] ",
     .system_suffix = "[/SYSTEM_PROMPT]", .user_prefix_first = "[INST] ", .user_prefix = "[INST] ",
     .user_suffix = "[/INST]", .assistant_prefix = "", .answer_lead = " ", .answer_close = "</s>"},
    {.name = "mistral-v1", .all = {"[INST]", " [INST]"}, .any = MISTRAL_OFFICIAL,
     .start = "", .system_place = MM_CHAT_SYS_IN_USER, .system_prefix = "", .system_suffix = "\n\n",
     .user_prefix_first = " [INST] ", .user_prefix = " [INST] ", .user_suffix = " [/INST]",
     .assistant_prefix = "", .answer_lead = " ", .answer_close = "</s>"},
    {.name = "mistral-v3-tekken", .all = {"[INST]", "\"[INST]\""}, .any = MISTRAL_OFFICIAL,
     .start = "", .system_place = MM_CHAT_SYS_IN_USER, .system_prefix = "", .system_suffix = "\n\n",
     .user_prefix_first = "[INST]", .user_prefix = "[INST]", .user_suffix = "[/INST]",
     .assistant_prefix = "", .answer_lead = "", .answer_close = "</s>"},
    {.name = "mistral-v3", .all = {"[INST]"}, .any = MISTRAL_OFFICIAL,
     .start = "", .system_place = MM_CHAT_SYS_IN_USER, .system_prefix = "", .system_suffix = "\n\n",
     .user_prefix_first = "[INST] ", .user_prefix = "[INST] ", .user_suffix = "[/INST]",
     .assistant_prefix = "", .answer_lead = " ", .answer_close = "</s>", .trim = MM_CHAT_TRIM_ANSWER},
    {.name = "llama2-sys-strip", .all = {"[INST]", "content.strip()"},
     .start = "", .system_place = MM_CHAT_SYS_IN_USER, .system_prefix = "<<SYS>>\n", .system_suffix = "\n<</SYS>>\n\n",
     .user_prefix_first = "[INST] ", .user_prefix = "[INST] ", .user_suffix = " [/INST]",
     .assistant_prefix = "", .answer_lead = "", .answer_close = "</s>", .trim = MM_CHAT_TRIM_ALL},
    {.name = "llama2-sys-bos", .all = {"[INST]", "bos_token + '[INST]"},
     .start = "", .system_place = MM_CHAT_SYS_IN_USER, .system_prefix = "<<SYS>>\n", .system_suffix = "\n<</SYS>>\n\n",
     .user_prefix_first = "[INST] ", .user_prefix = "<s>[INST] ", .user_suffix = " [/INST]",
     .assistant_prefix = "", .answer_lead = "", .answer_close = "</s>"},
    {.name = "llama2-sys", .all = {"[INST]", "<<SYS>>"},
     .start = "", .system_place = MM_CHAT_SYS_IN_USER, .system_prefix = "<<SYS>>\n", .system_suffix = "\n<</SYS>>\n\n",
     .user_prefix_first = "[INST] ", .user_prefix = "[INST] ", .user_suffix = " [/INST]",
     .assistant_prefix = "", .answer_lead = "", .answer_close = "</s>"},
    {.name = "llama2", .all = {"[INST]"}, /* no system role: the system prompt leads the first [INST] */
     .start = "", .system_place = MM_CHAT_SYS_IN_USER, .system_prefix = "", .system_suffix = "\n",
     .user_prefix_first = "[INST] ", .user_prefix = "[INST] ", .user_suffix = " [/INST]",
     .assistant_prefix = "", .answer_lead = "", .answer_close = "</s>"},
    {.name = "gemma", .all = {"<start_of_turn>"}, /* no system role: it opens the first user turn */
     .start = "", .system_place = MM_CHAT_SYS_IN_USER, .system_prefix = "", .system_suffix = "\n\n",
     .user_prefix_first = "<start_of_turn>user\n", .user_prefix = "<start_of_turn>user\n",
     .user_suffix = "<end_of_turn>\n", .assistant_prefix = "<start_of_turn>model\n", .answer_lead = "",
     .answer_close = "<end_of_turn>\n", .trim = MM_CHAT_TRIM_ALL},
    {.name = "vicuna-orca", .all = {"USER: ", "ASSISTANT: ", "SYSTEM: "},
     .start = "", .system_place = MM_CHAT_SYS_BLOCK, .system_prefix = "SYSTEM: ", .system_suffix = "\n",
     .user_prefix_first = "USER: ", .user_prefix = "USER: ", .user_suffix = "\n", .assistant_prefix = "ASSISTANT:",
     .answer_lead = " ", .answer_close = "</s>\n"},
    /* vicuna: also LLaVA-1.5's own template (llava-hf chat_template.json writes the roles upper-cased,
     * with no "USER: " in it; llama.cpp does not recognise it) */
    {.name = "vicuna", .all = {"USER: ", "ASSISTANT: "}, .alt = {"message['role'].upper() + ': '", "'ASSISTANT:'"},
     .start = "", .system_place = MM_CHAT_SYS_BLOCK, .system_prefix = "", .system_suffix = "\n\n",
     .user_prefix_first = "USER: ", .user_prefix = "USER: ", .user_suffix = "\n", .assistant_prefix = "ASSISTANT:",
     .answer_lead = " ", .answer_close = "</s>\n"},
    {.name = "llama3", .all = {"<|start_header_id|>", "<|end_header_id|>"},
     .start = "", .system_place = MM_CHAT_SYS_BLOCK, .system_prefix = "<|start_header_id|>system<|end_header_id|>\n\n",
     .system_suffix = "<|eot_id|>", .user_prefix_first = "<|start_header_id|>user<|end_header_id|>\n\n",
     .user_prefix = "<|start_header_id|>user<|end_header_id|>\n\n", .user_suffix = "<|eot_id|>",
     .assistant_prefix = "<|start_header_id|>assistant<|end_header_id|>\n\n", .answer_lead = "",
     .answer_close = "<|eot_id|>", .trim = MM_CHAT_TRIM_ALL},
    {.name = "mistral-v7-tekken", /* by name only, as in llama.cpp */
     .start = "", .system_place = MM_CHAT_SYS_BLOCK, .system_prefix = "[SYSTEM_PROMPT]",
     .system_suffix = "[/SYSTEM_PROMPT]", .user_prefix_first = "[INST]", .user_prefix = "[INST]",
     .user_suffix = "[/INST]", .assistant_prefix = "", .answer_lead = "", .answer_close = "</s>"},
};
#define N_TABLE ((int)(sizeof k_table / sizeof k_table[0]))

int mm_chat_template_count(void) { return N_TABLE; }

const mm_chat_template *mm_chat_template_at(int i) { return i >= 0 && i < N_TABLE ? &k_table[i] : NULL; }

const mm_chat_template *mm_chat_template_find(const char *name) {
    for (int i = 0; name && i < N_TABLE; i++)
        if (!strcmp(k_table[i].name, name)) return &k_table[i];
    return NULL;
}

bool mm_chat_template_known(const char *name) { return name && (!strcmp(name, "mmgpt") || mm_chat_template_find(name)); }

static char           g_names[512];
static pthread_once_t g_names_once = PTHREAD_ONCE_INIT;

static void make_names(void) {
    size_t n = (size_t)snprintf(g_names, sizeof g_names, "mmgpt");
    for (int i = 0; i < N_TABLE && n < sizeof g_names; i++)
        n += (size_t)snprintf(g_names + n, sizeof g_names - n, ", %s", k_table[i].name);
}

const char *mm_chat_template_names(void) {
    pthread_once(&g_names_once, make_names); /* any thread may ask first */
    return g_names;
}

/* text[0..len) (any bytes) holds the string s (s not empty). */
static bool holds(const char *text, size_t len, const char *s) {
    size_t n = strlen(s);
    for (const char *p = text, *end = text + len; n && (size_t)(end - p) >= n; p++) {
        p = memchr(p, s[0], (size_t)(end - p) - n + 1);
        if (!p) return false;
        if (!memcmp(p, s, n)) return true;
    }
    return false;
}

const mm_chat_template *mm_chat_template_detect(const char *text, size_t len) {
    if (!text) return NULL;
    for (int i = 0; i < N_TABLE; i++) { /* a name as the whole text */
        size_t n = strlen(k_table[i].name);
        if (n == len && !memcmp(text, k_table[i].name, n)) return &k_table[i];
    }
    for (int i = 0; i < N_TABLE; i++) {
        const mm_chat_template *e = &k_table[i];
        bool ok = e->all[0] != NULL;
        for (int k = 0; ok && k < 4 && e->all[k]; k++) ok = holds(text, len, e->all[k]);
        if (ok && e->any[0]) {
            bool one = false;
            for (int k = 0; !one && k < 3 && e->any[k]; k++) one = holds(text, len, e->any[k]);
            ok = one;
        }
        for (int k = 0; ok && k < 2 && e->none[k]; k++) ok = !holds(text, len, e->none[k]);
        if (!ok && e->alt[0]) {
            ok = true;
            for (int k = 0; ok && k < 3 && e->alt[k]; k++) ok = holds(text, len, e->alt[k]);
        }
        if (ok) return e;
    }
    return NULL;
}

/* ---------------------------------------------------------------- special tokens of a vocabulary */
static bool in_template(const mm_prompt_template *t, const char *piece, size_t len) {
    const char *s[] = {t->start, t->system_prefix, t->system_suffix, t->user_prefix_first, t->user_prefix,
                       t->user_suffix, t->assistant_prefix, t->answer_close, t->image_begin, t->image_end,
                       t->audio_begin, t->audio_end};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (s[i] && len == strlen(piece) && holds(s[i], strlen(s[i]), piece)) return true;
    return false;
}

/* Add tok's special tokens whose text occurs in the template strings (only == NULL) or is `only`. */
static int bind_specials(mm_prompt_template *t, const mm_tokenizer *tok, const char *only, char *err) {
    int32_t n = mm_tokenizer_n_vocab(tok);
    for (int32_t id = 0; id < n; id++) {
        if (!mm_tokenizer_is_special(tok, id)) continue;
        /* the token's own text: a "llama" vocabulary's control tokens decode to nothing (their piece is empty) */
        const char *piece = mm_tokenizer_token_text(tok, id);
        size_t      len = piece ? strlen(piece) : 0;
        if (len == 0 || (only ? strcmp(piece, only) != 0 : !in_template(t, piece, len))) continue;
        bool dup = false; /* two ids with one text: the first (lowest) id, as the tokenizer's lookup */
        for (int k = 0; k < t->n_spec && !dup; k++) dup = t->spec[k].len == len && !memcmp(t->spec[k].text, piece, len);
        if (!dup && mm_prompt_template_add_special(t, piece, len, id, err)) return -1;
    }
    return 0;
}

int mm_prompt_template_bind(mm_prompt_template *t, const mm_tokenizer *tok, char *err) {
    if (!t->specials || !tok) return 0;
    return bind_specials(t, tok, NULL, err);
}

int mm_prompt_template_wrap_audio(mm_prompt_template *t, const char *begin, const char *end, const mm_tokenizer *tok,
                                  char *err) {
    if (!begin || !end || (!*begin && !*end)) return 0;
    if ((t->audio_begin && *t->audio_begin) || (t->audio_end && *t->audio_end)) return 0; /* the file's keys win */
    char *b = strdup(begin), *e = strdup(end);
    if (!b || !e) {
        free(b);
        free(e);
        return mm_err(err, "out of memory");
    }
    free(t->audio_begin);
    free(t->audio_end);
    t->audio_begin = b;
    t->audio_end = e;
    /* llama.cpp's mtmd tokenizes them with special tokens parsed, whatever the turn format */
    if (!tok || (*begin && bind_specials(t, tok, begin, err)) || (*end && bind_specials(t, tok, end, err)))
        return tok ? -1 : 0;
    return 0;
}
