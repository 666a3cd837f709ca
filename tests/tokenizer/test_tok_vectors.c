/* test_tok_vectors.c - published GPT-2 BPE vectors reproduce exactly with the real vocabulary loaded from
 * every supported source: OpenAI encoder.json + vocab.bpe, Hugging Face vocab.json + merges.txt, a
 * tokenizer.json built here from those two files, and a GGUF written here with the tokenizer.ggml.* keys
 * (mm_tokenizer_write_gguf -> mm_gguf_writer -> mm_gguf_open -> mm_tokenizer_load_gguf).
 *
 * References (independent of this code, in $MMGPT_REFDATA/gpt2_bpe): test_vectors.json (GPT-3-Encoder,
 * tiktoken and llama.cpp cases, plus the special-token case, both with and without special-token parsing),
 * llama.cpp's ggml-vocab-gpt-2.gguf.inp/.out (46 cases). Tolerance: exact ids and exact bytes.
 * The reference data is in tests/data (tests/data/SOURCES.md); a missing file is a failure. */
#include <cjson/cJSON.h>

#include "mm_gguf.h"
#include "tok_test_util.h"

typedef struct {
    const char *name;
    mm_tokenizer *t;
} source;

static bool ids_equal(const int32_t *a, int64_t na, const cJSON *arr) {
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != na) return false;
    int64_t i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++)
        if (!cJSON_IsNumber(e) || a[i] != (int32_t)e->valuedouble) return false;
    return true;
}

static void print_ids(const char *what, const int32_t *a, int64_t n) {
    fprintf(stderr, "  %s:", what);
    for (int64_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)a[i]);
    fputc('\n', stderr);
}

/* ids listed in brackets inside a note string ("... gives [31373, 1279, ...]") */
static int parse_bracket_ids(const char *s, int32_t *out, int max) {
    const char *p = s ? strchr(s, '[') : NULL;
    if (!p) return -1;
    int n = 0;
    p++;
    while (*p && *p != ']' && n < max) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) return -1;
        out[n++] = (int32_t)v;
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    return *p == ']' ? n : -1;
}

static char *build_tokenizer_json(const char *ref, const char *tmp) {
    char path[8192], out[8192];
    snprintf(path, sizeof path, "%s/hf/vocab.json", ref);
    char *vj = tt_read(path, NULL);
    snprintf(path, sizeof path, "%s/hf/merges.txt", ref);
    char *mt = tt_read(path, NULL);
    if (!vj || !mt) return NULL;
    cJSON *vocab = cJSON_Parse(vj);
    cJSON *root = cJSON_CreateObject();
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *eot = cJSON_GetObjectItemCaseSensitive(vocab, "<|endoftext|>");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "id", eot ? eot->valuedouble : -1);
    cJSON_AddStringToObject(a, "content", "<|endoftext|>");
    cJSON_AddBoolToObject(a, "special", 1);
    cJSON_AddItemToArray(added, a);
    cJSON_AddItemToObject(model, "vocab", vocab);
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    char *line = mt;
    bool first = true;
    while (*line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (*line && !(first && !strncmp(line, "#version", 8))) cJSON_AddItemToArray(merges, cJSON_CreateString(line));
        first = false;
        if (!nl) break;
        line = nl + 1;
    }
    char *s = cJSON_PrintUnformatted(root);
    snprintf(out, sizeof out, "%s/tok_vectors_tokenizer.json", tmp);
    FILE *f = fopen(out, "wb");
    bool ok = f && s && fwrite(s, 1, strlen(s), f) == strlen(s);
    if (f) fclose(f);
    cJSON_Delete(root);
    free(s);
    free(vj);
    free(mt);
    return ok ? strdup(out) : NULL;
}

int main(void) {
    const char *ref = tt_refdir();
    const char *tmp = tt_tmpdir();
    char err[MM_ERR_SIZE], p1[8192], p2[8192];
    source src[5];
    int ns = 0;

    snprintf(p1, sizeof p1, "%s/encoder.json", ref);
    snprintf(p2, sizeof p2, "%s/vocab.bpe", ref);
    double t0 = mm_time_ms();
    src[ns] = (source){"openai encoder.json+vocab.bpe", mm_tokenizer_load_openai(p1, p2, err)};
    printf("load openai: %.1f ms\n", mm_time_ms() - t0);
    CHECK(src[ns].t, "openai load: %s", err);
    if (src[ns].t) ns++;
    snprintf(p1, sizeof p1, "%s/hf/vocab.json", ref);
    snprintf(p2, sizeof p2, "%s/hf/merges.txt", ref);
    src[ns] = (source){"hf vocab.json+merges.txt", mm_tokenizer_load_hf(p1, p2, err)};
    CHECK(src[ns].t, "hf load: %s", err);
    if (src[ns].t) ns++;
    snprintf(p1, sizeof p1, "%s/hf", ref);
    src[ns] = (source){"load_dir(hf/)", mm_tokenizer_load_dir(p1, err)};
    CHECK(src[ns].t, "load_dir hf: %s", err);
    if (src[ns].t) ns++;
    char *tj = build_tokenizer_json(ref, tmp);
    CHECK(tj, "could not build tokenizer.json");
    if (tj) {
        src[ns] = (source){"tokenizer.json (built from vocab.json+merges.txt)", mm_tokenizer_load_dir(tj, err)};
        CHECK(src[ns].t, "tokenizer.json load: %s", err);
        if (src[ns].t) ns++;
        free(tj);
    }
    /* GGUF written from the first source, read back through core's reader */
    if (ns) {
        mm_gguf_writer *w = mm_gguf_writer_create();
        snprintf(p1, sizeof p1, "%s/tok_vectors.gguf", tmp);
        int rc = mm_gguf_writer_set_str(w, "general.architecture", "gpt2");
        rc |= mm_tokenizer_write_gguf(src[0].t, w, err);
        CHECK(rc == 0, "write_gguf: %s", err);
        rc = mm_gguf_writer_write(w, p1, err);
        CHECK(rc == 0, "gguf write: %s", err);
        mm_gguf_writer_free(w);
        mm_gguf *g = mm_gguf_open(p1, err);
        CHECK(g, "gguf open: %s", err);
        if (g) {
            src[ns] = (source){"gguf tokenizer.ggml.*", mm_tokenizer_load_gguf(g, err)};
            CHECK(src[ns].t, "gguf load: %s", err);
            mm_gguf_close(g);
            if (src[ns].t) ns++;
        }
    }

    /* the vocabulary itself: every id has the encoder.json string */
    snprintf(p1, sizeof p1, "%s/encoder.json", ref);
    char *ej = tt_read(p1, NULL);
    cJSON *enc = ej ? cJSON_Parse(ej) : NULL;
    free(ej);
    CHECK(enc, "cannot parse encoder.json");
    int n_enc = enc ? cJSON_GetArraySize(enc) : 0;
    const cJSON *eot = cJSON_GetObjectItemCaseSensitive(enc, "<|endoftext|>");
    for (int s = 0; s < ns; s++) {
        const mm_tokenizer *t = src[s].t;
        CHECK(mm_tokenizer_n_vocab(t) == n_enc, "%s: n_vocab %d != %d", src[s].name, mm_tokenizer_n_vocab(t), n_enc);
        CHECK(eot && mm_tokenizer_eos(t) == (int32_t)eot->valuedouble && mm_tokenizer_bos(t) == mm_tokenizer_eos(t),
              "%s: eos/bos %d/%d", src[s].name, mm_tokenizer_eos(t), mm_tokenizer_bos(t));
        CHECK(eot && mm_tokenizer_special_id(t, "<|endoftext|>") == (int32_t)eot->valuedouble, "%s: special_id",
              src[s].name);
        CHECK(mm_tokenizer_special_id(t, "<__media__>") == -1, "%s: <__media__> must not be a token", src[s].name);
        CHECK(!mm_tokenizer_add_bos(t), "%s: GPT-2 adds no BOS", src[s].name);
        int bad = 0, n_special = 0;
        for (const cJSON *e = enc ? enc->child : NULL; e; e = e->next) {
            int32_t id = (int32_t)e->valuedouble;
            const char *tt = mm_tokenizer_token_text(t, id);
            if (!tt || strcmp(tt, e->string)) bad++;
            if (mm_tokenizer_is_special(t, id)) n_special++;
            else {
                size_t pl;
                const char *pc = mm_tokenizer_piece(t, id, &pl);
                if (mm_tokenizer_token_id(t, pc, pl) != id) bad++;
            }
        }
        CHECK(bad == 0, "%s: %d tokens differ from encoder.json", src[s].name, bad);
        CHECK(n_special == 1, "%s: %d special tokens (GPT-2 has 1)", src[s].name, n_special);
    }

    /* test_vectors.json */
    snprintf(p1, sizeof p1, "%s/test_vectors.json", ref);
    char *tv = tt_read(p1, NULL);
    cJSON *root = tv ? cJSON_Parse(tv) : NULL;
    free(tv);
    CHECK(root, "cannot parse test_vectors.json");
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases");
    const cJSON *scases = cJSON_GetObjectItemCaseSensitive(root, "special_token_cases");
    int n_cases = 0, n_special_cases = 0, n_llama = 0;
    for (int s = 0; s < ns; s++) {
        const mm_tokenizer *t = src[s].t;
        for (const cJSON *c = cases ? cases->child : NULL; c; c = c->next) {
            const char *text = cJSON_GetObjectItemCaseSensitive(c, "text")->valuestring;
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "ids");
            int64_t n;
            int32_t *ids = tt_encode(t, text, strlen(text), false, &n);
            bool ok = ids_equal(ids, n, want);
            CHECK(ok, "%s: case '%s' differs", src[s].name, text);
            if (!ok) print_ids("got", ids, n);
            CHECK(tt_roundtrip(t, text, strlen(text), false), "%s: roundtrip '%s'", src[s].name, text);
            free(ids);
            if (s == 0) n_cases++;
        }
        for (const cJSON *c = scases ? scases->child : NULL; c; c = c->next) {
            const char *text = cJSON_GetObjectItemCaseSensitive(c, "text")->valuestring;
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "ids");
            const cJSON *note = cJSON_GetObjectItemCaseSensitive(c, "note");
            int64_t n;
            int32_t *ids = tt_encode(t, text, strlen(text), true, &n);
            bool ok = ids_equal(ids, n, want);
            CHECK(ok, "%s: special case '%s' (allowed) differs", src[s].name, text);
            if (!ok) print_ids("got", ids, n);
            char *out;
            size_t len;
            CHECK(!mm_tokenizer_decode_alloc(t, ids, n, &out, &len, err) && len == strlen(text) && !memcmp(out, text, len),
                  "%s: special decode", src[s].name);
            free(out);
            free(ids);
            /* not allowed: the note lists the plain-text ids */
            int32_t plain[64];
            int np = parse_bracket_ids(note && cJSON_IsString(note) ? note->valuestring : NULL, plain, 64);
            CHECK(np > 0, "note of '%s' has no plain-text ids", text);
            ids = tt_encode(t, text, strlen(text), false, &n);
            ok = np == n && !memcmp(ids, plain, (size_t)n * sizeof *ids);
            CHECK(ok, "%s: special case '%s' as plain text differs", src[s].name, text);
            if (!ok) print_ids("got", ids, n);
            for (int64_t i = 0; i < n; i++) CHECK(!mm_tokenizer_is_special(t, ids[i]), "special id in plain text");
            free(ids);
            if (s == 0) n_special_cases++;
        }
    }

    /* llama.cpp .inp / .out */
    snprintf(p1, sizeof p1, "%s/llama_cpp_vocab_test/ggml-vocab-gpt-2.gguf.inp", ref);
    snprintf(p2, sizeof p2, "%s/llama_cpp_vocab_test/ggml-vocab-gpt-2.gguf.out", ref);
    size_t inl, outl;
    char *inp = tt_read(p1, &inl), *exp = tt_read(p2, &outl);
    CHECK(inp && exp, "cannot read the llama.cpp .inp/.out pair");
    if (inp && exp) {
        const char *sep = "\n__ggml_vocab_test__\n";
        for (int s = 0; s < ns; s++) {
            char *ip = inp, *op = exp;
            int k = 0;
            for (;;) {
                char *e = strstr(ip, sep);
                if (!e) break;
                char *ol = strchr(op, '\n');
                if (!ol) { CHECK(0, ".out has fewer lines than .inp has cases"); break; }
                int64_t n;
                int32_t *ids = tt_encode(src[s].t, ip, (size_t)(e - ip), false, &n);
                /* expected: space-separated ids */
                int64_t m = 0;
                bool ok = true;
                for (char *q = op; q < ol;) {
                    char *end;
                    long v = strtol(q, &end, 10);
                    if (end == q) break;
                    if (m >= n || ids[m] != v) ok = false;
                    m++;
                    q = end;
                }
                ok = ok && m == n;
                CHECK(ok, "%s: llama.cpp case %d differs: '%.*s'", src[s].name, k, (int)(e - ip), ip);
                if (!ok) print_ids("got", ids, n);
                CHECK(tt_roundtrip(src[s].t, ip, (size_t)(e - ip), false), "%s: roundtrip llama case %d", src[s].name, k);
                free(ids);
                ip = e + strlen(sep);
                op = ol + 1;
                k++;
            }
            if (s == 0) n_llama = k;
        }
    }
    free(inp);
    free(exp);
    CHECK(n_cases >= 27 && n_special_cases >= 1 && n_llama >= 46, "too few cases read (%d, %d, %d)", n_cases,
          n_special_cases, n_llama);
    printf("sources: %d; test_vectors cases: %d, special cases: %d, llama.cpp cases: %d\n", ns, n_cases,
           n_special_cases, n_llama);
    CHECK(ns == 5, "only %d of 5 sources loaded", ns);
    cJSON_Delete(root);
    cJSON_Delete(enc);
    for (int s = 0; s < ns; s++) mm_tokenizer_free(src[s].t);
    if (n_fail) {
        fprintf(stderr, "%d check(s) failed\n", n_fail);
        return 1;
    }
    printf("ok\n");
    return 0;
}
