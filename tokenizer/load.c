/* load.c - vocabulary loaders: GGUF (tokenizer.ggml.*), Hugging Face (vocab.json + merges.txt,
 * tokenizer.json), OpenAI (encoder.json + vocab.bpe), and a loader that detects which. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tok_internal.h"

#define MAX_JSON_BYTES   (512u << 20)
#define MAX_MERGES_BYTES (256u << 20)

/* growable merge list (pointers into a buffer that outlives the build) */
typedef struct {
    const char **a, **b;
    size_t *la, *lb;
    int32_t n, cap;
} merge_list;

static int merge_add(merge_list *m, const char *a, size_t la, const char *b, size_t lb) {
    if (m->n == m->cap) {
        int32_t cap = m->cap ? 2 * m->cap : 1024;
        if (cap > TOK_MAX_MERGES) return -1;
        const char **na = realloc(m->a, (size_t)cap * sizeof *na);
        if (na) m->a = na;
        const char **nb = realloc(m->b, (size_t)cap * sizeof *nb);
        if (nb) m->b = nb;
        size_t *nla = realloc(m->la, (size_t)cap * sizeof *nla);
        if (nla) m->la = nla;
        size_t *nlb = realloc(m->lb, (size_t)cap * sizeof *nlb);
        if (nlb) m->lb = nlb;
        if (!na || !nb || !nla || !nlb) return -1;
        m->cap = cap;
    }
    m->a[m->n] = a;
    m->la[m->n] = la;
    m->b[m->n] = b;
    m->lb[m->n] = lb;
    m->n++;
    return 0;
}

static void merge_free(merge_list *m) {
    free(m->a);
    free(m->b);
    free(m->la);
    free(m->lb);
}

/* "a b" -> two halves split at the first space; -1 if there is no space or an empty half */
static int split_merge(const char *s, size_t n, size_t *la) {
    const char *sp = memchr(s, ' ', n);
    if (!sp || sp == s || (size_t)(sp - s) + 1 >= n) return -1;
    *la = (size_t)(sp - s);
    return 0;
}

/* merges.txt / vocab.bpe: optional "#version" first line, then one "a b" per line */
static int parse_merges_txt(char *buf, size_t len, const char *path, merge_list *m, char *err) {
    size_t pos = 0, line_no = 0;
    while (pos < len) {
        char *line = buf + pos;
        char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        line_no++;
        if (n && line[n - 1] == '\r') n--;
        if (n == 0) continue;
        if (line_no == 1 && n >= 8 && !memcmp(line, "#version", 8)) continue;
        size_t la;
        if (split_merge(line, n, &la))
            return mm_err(err, "%s: line %zu is not a merge \"a b\"", path, line_no);
        if (merge_add(m, line, la, line + la + 1, n - la - 1))
            return mm_err(err, "%s: too many merges or out of memory", path);
    }
    return 0;
}

/* {"token": id, ...} into texts[ids]; n = max id + 1 (ids must be 0..count-1 without duplicates) */
static int parse_vocab_obj(const cJSON *obj, const char *path, const char ***texts, int32_t *n, char *err) {
    if (!cJSON_IsObject(obj)) return mm_err(err, "%s: vocabulary is not a JSON object", path);
    int count = cJSON_GetArraySize(obj);
    if (count <= 0 || count > TOK_MAX_VOCAB) return mm_err(err, "%s: vocabulary size %d out of range", path, count);
    const char **t = calloc((size_t)count, sizeof *t);
    if (!t) return mm_err(err, "%s: out of memory", path);
    for (const cJSON *c = obj->child; c; c = c->next) {
        double v = cJSON_IsNumber(c) ? c->valuedouble : -1;
        if (!c->string || v < 0 || v >= count || v != (double)(int32_t)v) {
            free(t);
            return mm_err(err, "%s: token '%.40s' has an invalid id (ids must be 0..%d)", path,
                          c->string ? c->string : "?", count - 1);
        }
        int32_t id = (int32_t)v;
        if (t[id]) {
            free(t);
            return mm_err(err, "%s: id %d is used twice", path, (int)id);
        }
        t[id] = c->string;
    }
    *texts = t;
    *n = count;
    return 0;
}

static cJSON *read_json(const char *path, char *err) {
    size_t len;
    char *buf = tok_read_file(path, MAX_JSON_BYTES, &len, err);
    if (!buf) return NULL;
    cJSON *j = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!j) mm_err(err, "%s: not valid JSON", path);
    return j;
}

static mm_tokenizer *load_vocab_merges(const char *vocab_json, const char *merges_txt, char *err) {
    mm_tokenizer *t = NULL;
    const char **texts = NULL;
    merge_list m = {0};
    char *mbuf = NULL;
    int32_t n = 0;
    cJSON *j = read_json(vocab_json, err);
    if (!j) return NULL;
    if (parse_vocab_obj(j, vocab_json, &texts, &n, err)) goto done;
    size_t mlen;
    mbuf = tok_read_file(merges_txt, MAX_MERGES_BYTES, &mlen, err);
    if (!mbuf || parse_merges_txt(mbuf, mlen, merges_txt, &m, err)) goto done;
    tok_build b = {.n = n, .text = texts, .n_merges = m.n, .merge_a = m.a, .merge_a_len = m.la,
                   .merge_b = m.b, .merge_b_len = m.lb, .bos = -2, .eos = -2};
    t = tok_build_tokenizer(&b, vocab_json, err);
done:
    cJSON_Delete(j);
    free(texts);
    free(mbuf);
    merge_free(&m);
    return t;
}

mm_tokenizer *mm_tokenizer_load_hf(const char *vocab_json, const char *merges_txt, char *err) {
    return load_vocab_merges(vocab_json, merges_txt, err);
}

mm_tokenizer *mm_tokenizer_load_openai(const char *encoder_json, const char *vocab_bpe, char *err) {
    return load_vocab_merges(encoder_json, vocab_bpe, err);
}

mm_tokenizer *mm_tokenizer_load_hf_json(const char *path, char *err) {
    mm_tokenizer *t = NULL;
    const char **texts = NULL;
    int32_t *types = NULL;
    merge_list m = {0};
    int32_t n = 0;
    cJSON *j = read_json(path, err);
    if (!j) return NULL;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsObject(model) || (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE")))) {
        mm_err(err, "%s: not a BPE tokenizer.json (model.type must be \"BPE\")", path);
        goto done;
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(j, "added_tokens");
    if (!cJSON_IsArray(merges)) {
        mm_err(err, "%s: model.merges is missing", path);
        goto done;
    }
    const char **vt = NULL;
    int32_t nv = 0;
    if (parse_vocab_obj(vocab, path, &vt, &nv, err)) goto done;
    /* added tokens may extend the id range */
    int32_t n_total = nv;
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        if (cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble < TOK_MAX_VOCAB &&
            (int32_t)id->valuedouble + 1 > n_total)
            n_total = (int32_t)id->valuedouble + 1;
    }
    n = n_total;
    texts = calloc((size_t)n, sizeof *texts);
    types = calloc((size_t)n, sizeof *types);
    if (!texts || !types) {
        free(vt);
        mm_err(err, "%s: out of memory", path);
        goto done;
    }
    memcpy(texts, vt, (size_t)nv * sizeof *texts);
    free(vt);
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "content");
        const cJSON *special = cJSON_GetObjectItemCaseSensitive(a, "special");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= n ||
            id->valuedouble != (double)(int32_t)id->valuedouble || !cJSON_IsString(content)) {
            mm_err(err, "%s: added_tokens entry without a valid id and content", path);
            goto done;
        }
        int32_t i = (int32_t)id->valuedouble;
        if (texts[i] && strcmp(texts[i], content->valuestring)) {
            mm_err(err, "%s: added token %d '%.40s' conflicts with the vocabulary", path, (int)i,
                   content->valuestring);
            goto done;
        }
        texts[i] = content->valuestring;
        types[i] = cJSON_IsFalse(special) ? TOK_USER : TOK_CONTROL;
    }
    for (const cJSON *e = merges->child; e; e = e->next) {
        int rc;
        if (cJSON_IsString(e)) {
            size_t len = strlen(e->valuestring), la;
            if (split_merge(e->valuestring, len, &la)) {
                mm_err(err, "%s: merge '%.40s' is not \"a b\"", path, e->valuestring);
                goto done;
            }
            rc = merge_add(&m, e->valuestring, la, e->valuestring + la + 1, len - la - 1);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
                   cJSON_IsString(e->child->next)) {
            rc = merge_add(&m, e->child->valuestring, strlen(e->child->valuestring), e->child->next->valuestring,
                           strlen(e->child->next->valuestring));
        } else {
            mm_err(err, "%s: model.merges holds an entry that is neither \"a b\" nor [a, b]", path);
            goto done;
        }
        if (rc) {
            mm_err(err, "%s: too many merges or out of memory", path);
            goto done;
        }
    }
    tok_build b = {.n = n, .text = texts, .type = types, .n_merges = m.n, .merge_a = m.a, .merge_a_len = m.la,
                   .merge_b = m.b, .merge_b_len = m.lb, .bos = -2, .eos = -2};
    t = tok_build_tokenizer(&b, path, err);
done:
    cJSON_Delete(j);
    free(texts);
    free(types);
    merge_free(&m);
    return t;
}

mm_tokenizer *mm_tokenizer_load_gguf(const mm_gguf *g, char *err) {
    const char *name = mm_gguf_path(g) ? mm_gguf_path(g) : "gguf";
    const char *s;
    size_t sl;
    if (mm_gguf_get_str(g, "tokenizer.ggml.model", &s, &sl)) {
        mm_err(err, "%s: no tokenizer (tokenizer.ggml.model is missing)", name);
        return NULL;
    }
    if (sl == 5 && !memcmp(s, "llama", 5)) return tok_spm_load_gguf(g, name, err);
    if (sl != 4 || memcmp(s, "gpt2", 4)) {
        mm_err(err, "%s: tokenizer.ggml.model is '%.*s'; supported: \"gpt2\" (byte-level BPE), \"llama\" "
                    "(SentencePiece BPE)", name, (int)(sl > 40 ? 40 : sl), s);
        return NULL;
    }
    /* absent: GPT-2's pattern, as mmgpt always did (llama.cpp falls back to "default" with a warning) */
    int pre = TOK_PRE_GPT2;
    bool ignore_merges = false, ab = false;
    if (!mm_gguf_get_str(g, "tokenizer.ggml.pre", &s, &sl) && tok_pre_from_name(s, sl, &pre, &ignore_merges, &ab)) {
        char names[400];
        tok_pre_names(names, sizeof names);
        mm_err(err, "%s: tokenizer.ggml.pre '%.*s' is not a known pre-tokenizer (known: %s)", name,
               (int)(sl > 40 ? 40 : sl), s, names);
        return NULL;
    }
    mm_gguf_type et;
    int64_t n, nm = 0, nt;
    if (mm_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) || et != MM_GGUF_STRING || n <= 0 ||
        n > TOK_MAX_VOCAB) {
        mm_err(err, "%s: tokenizer.ggml.tokens is missing, empty, too large or not a string array", name);
        return NULL;
    }
    if (mm_gguf_find_key(g, "tokenizer.ggml.merges") >= 0 &&
        (mm_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &nm) || et != MM_GGUF_STRING || nm > TOK_MAX_MERGES)) {
        mm_err(err, "%s: tokenizer.ggml.merges is not a string array (or too large)", name);
        return NULL;
    }
    const int32_t *types = NULL;
    if (mm_gguf_find_key(g, "tokenizer.ggml.token_type") >= 0) {
        if (mm_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &nt) || et != MM_GGUF_INT32 || nt != n) {
            mm_err(err, "%s: tokenizer.ggml.token_type must be an int32 array with one entry per token", name);
            return NULL;
        }
        types = mm_gguf_arr_data(g, "tokenizer.ggml.token_type");
        if (!types) {
            mm_err(err, "%s: cannot read tokenizer.ggml.token_type", name);
            return NULL;
        }
    }
    mm_tokenizer *t = NULL;
    const char **texts = calloc((size_t)n, sizeof *texts);
    size_t *tlen = calloc((size_t)n, sizeof *tlen);
    int32_t *ty = types ? malloc((size_t)n * sizeof *ty) : NULL;
    merge_list m = {0};
    if (!texts || !tlen || (types && !ty)) {
        mm_err(err, "%s: out of memory", name);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        if (mm_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &texts[i], &tlen[i])) {
            mm_err(err, "%s: cannot read token %lld", name, (long long)i);
            goto done;
        }
        if (ty) memcpy(&ty[i], (const char *)types + 4 * i, 4); /* little-endian file, aligned or not */
    }
    for (int64_t i = 0; i < nm; i++) {
        const char *ms;
        size_t ml, la;
        if (mm_gguf_arr_str(g, "tokenizer.ggml.merges", i, &ms, &ml) || split_merge(ms, ml, &la)) {
            mm_err(err, "%s: tokenizer.ggml.merges[%lld] is not \"a b\"", name, (long long)i);
            goto done;
        }
        if (merge_add(&m, ms, la, ms + la + 1, ml - la - 1)) {
            mm_err(err, "%s: out of memory", name);
            goto done;
        }
    }
    uint32_t v;
    int32_t bos = -2, eos = -2;
    if (!mm_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &v)) bos = v >= (uint32_t)n ? -3 : (int32_t)v;
    if (!mm_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &v)) eos = v >= (uint32_t)n ? -3 : (int32_t)v;
    if (bos == -3 || eos == -3) {
        mm_err(err, "%s: tokenizer.ggml.bos/eos_token_id out of range", name);
        goto done;
    }
    mm_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &ab);
    tok_build b = {.n = (int32_t)n, .text = texts, .text_len = tlen, .type = ty, .n_merges = m.n,
                   .merge_a = m.a, .merge_a_len = m.la, .merge_b = m.b, .merge_b_len = m.lb,
                   .bos = bos, .eos = eos, .add_bos = ab};
    t = tok_build_tokenizer(&b, name, err);
    if (t) {
        t->pre = (uint8_t)pre;
        t->ignore_merges = ignore_merges;
        if (tok_build_eog(t, g, name, err)) {
            mm_tokenizer_free(t);
            t = NULL;
        }
    }
done:
    free(texts);
    free(tlen);
    free(ty);
    merge_free(&m);
    return t;
}

static bool is_file(const char *dir, const char *name, char *out, size_t size) {
    snprintf(out, size, "%s/%s", dir, name);
    struct stat st;
    return stat(out, &st) == 0 && S_ISREG(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

mm_tokenizer *mm_tokenizer_load_dir(const char *path, char *err) {
    struct stat st;
    if (!path || stat(path, &st)) {
        mm_err(err, "%s: no such file or directory", path ? path : "(null)");
        return NULL;
    }
    if (S_ISREG(st.st_mode)) {
        char magic[4] = {0};
        FILE *f = fopen(path, "rb");
        if (f) {
            if (fread(magic, 1, 4, f) != 4) memset(magic, 0, 4);
            fclose(f);
        }
        if (mm_sniff(magic, sizeof magic) == MM_FORMAT_GGUF || ends_with(path, ".gguf")) {
            mm_gguf *g = mm_gguf_open(path, err);
            if (!g) return NULL;
            mm_tokenizer *t = mm_tokenizer_load_gguf(g, err);
            mm_gguf_close(g);
            return t;
        }
        if (ends_with(path, ".json")) return mm_tokenizer_load_hf_json(path, err);
        mm_err(err, "%s: not a tokenizer file (expected a .gguf model, a tokenizer.json or a folder)", path);
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        mm_err(err, "%s: not a file or directory", path);
        return NULL;
    }
    size_t cap = strlen(path) + 32;
    char *a = malloc(cap), *b = malloc(cap);
    mm_tokenizer *t = NULL;
    if (!a || !b) mm_err(err, "%s: out of memory", path);
    else if (is_file(path, "tokenizer.json", a, cap)) t = mm_tokenizer_load_hf_json(a, err);
    else if (is_file(path, "vocab.json", a, cap) && is_file(path, "merges.txt", b, cap)) t = mm_tokenizer_load_hf(a, b, err);
    else if (is_file(path, "encoder.json", a, cap) && is_file(path, "vocab.bpe", b, cap)) t = mm_tokenizer_load_openai(a, b, err);
    else
        mm_err(err, "%s: no tokenizer files here (expected tokenizer.json, vocab.json + merges.txt, or "
                    "encoder.json + vocab.bpe)", path);
    free(a);
    free(b);
    return t;
}
