/* vocab.c - the tokenizer object: vocabulary, merges, special tokens, lookups, GGUF export. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <utf8proc.h>

#include "tok_internal.h"

/* GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
 * U+0100.. in byte order. */
void tok_byte_map(uint32_t byte_to_cp[256], int16_t cp_to_byte[512]) {
    for (int i = 0; i < 512; i++) cp_to_byte[i] = -1;
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        uint32_t cp = keep ? (uint32_t)b : (uint32_t)(256 + extra++);
        byte_to_cp[b] = cp;
        cp_to_byte[cp] = (int16_t)b;
    }
}

uint64_t tok_hash(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = 0x243F6A8885A308D3ull ^ (n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)s[i] << (8 * i);
    h = (h ^ v) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h;
}

uint32_t tok_table_mask(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    return (uint32_t)(cap - 1);
}

int32_t tok_vocab_find(const mm_tokenizer *t, const uint8_t *p, size_t n) {
    uint32_t i = (uint32_t)tok_hash(p, n) & t->vh_mask;
    for (;;) {
        int32_t id = t->vh[i];
        if (id < 0) return -1;
        if (t->piece_len[id] == n && !memcmp(t->piece[id], p, n)) return id;
        i = (i + 1) & t->vh_mask;
    }
}

void mm_tokenizer_free(mm_tokenizer *t) {
    if (!t) return;
    if (t->text)
        for (int32_t i = 0; i < t->n_vocab; i++) free(t->text[i]);
    if (t->piece)
        for (int32_t i = 0; i < t->n_vocab; i++) free(t->piece[i]);
    free(t->text);
    free(t->piece);
    free(t->piece_len);
    free(t->type);
    free(t->whole_ok);
    free(t->vh);
    free(t->merge_l);
    free(t->merge_r);
    free(t->mh_key);
    free(t->mh_rank);
    free(t->mh_res);
    free(t->special);
    free(t->bmp_class);
    free(t->text_len);
    free(t->eog);
    free(t->score);
    free(t->sh);
    free(t->pair_key);
    free(t);
}

/* text -> id map used while building (first id wins) */
typedef struct {
    int32_t    *slot;
    uint32_t    mask;
    char      **text;
    size_t     *len;
} text_map;

static int32_t text_map_find(const text_map *m, const char *s, size_t n) {
    uint32_t i = (uint32_t)tok_hash(s, n) & m->mask;
    for (;;) {
        int32_t id = m->slot[i];
        if (id < 0) return -1;
        if (m->len[id] == n && !memcmp(m->text[id], s, n)) return id;
        i = (i + 1) & m->mask;
    }
}

static uint8_t class_of_cp(int32_t cp) {
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return CL_L;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return CL_N;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        return CL_S;
    default:
        /* Unicode White_Space also holds U+0009..U+000D and U+0085 (category Cc) */
        if ((cp >= 9 && cp <= 13) || cp == 0x85) return CL_S;
        return CL_O;
    }
}

uint8_t tok_class_cp(const mm_tokenizer *t, int32_t cp);
uint8_t tok_class_cp(const mm_tokenizer *t, int32_t cp) {
    return cp < 65536 ? t->bmp_class[cp] : class_of_cp(cp);
}

typedef struct { uint32_t len; int32_t id; } special_key;

bool tok_is_special_type(const mm_tokenizer *t, int32_t id) {
    uint8_t ty = t->type[id];
    return ty == TOK_CONTROL || ty == TOK_USER || (t->kind == TOK_KIND_SPM && ty == TOK_UNKNOWN);
}
static int cmp_special(const void *a, const void *b) {
    const special_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int tok_build_specials(mm_tokenizer *t) {
    int32_t n_special = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) n_special += tok_is_special_type(t, i) && t->text_len[i] > 0;
    free(t->special);
    t->special = malloc(((size_t)n_special + 1) * sizeof *t->special);
    special_key *sk = malloc(((size_t)n_special + 1) * sizeof *sk);
    if (!t->special || !sk) {
        free(sk);
        return -1;
    }
    t->n_special = n_special;
    memset(t->special_first, 0, sizeof t->special_first);
    n_special = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (tok_is_special_type(t, i) && t->text_len[i] > 0) {
            sk[n_special++] = (special_key){t->text_len[i], i};
            t->special_first[(uint8_t)t->text[i][0]] = 1;
        }
    qsort(sk, (size_t)n_special, sizeof *sk, cmp_special);
    for (int32_t i = 0; i < n_special; i++) t->special[i] = sk[i].id;
    free(sk);
    return 0;
}

mm_tokenizer *tok_build_tokenizer(const tok_build *b, const char *what, char *err) {
    if (b->n <= 0 || b->n > TOK_MAX_VOCAB) {
        mm_err(err, "%s: vocabulary size %d out of range", what, (int)b->n);
        return NULL;
    }
    if (b->n_merges < 0 || b->n_merges > TOK_MAX_MERGES) {
        mm_err(err, "%s: merge count %d out of range", what, (int)b->n_merges);
        return NULL;
    }
    uint32_t byte_to_cp[256];
    int16_t cp_to_byte[512];
    tok_byte_map(byte_to_cp, cp_to_byte);

    mm_tokenizer *t = calloc(1, sizeof *t);
    text_map tm = {0};
    uint8_t *is_result = NULL;
    if (!t) goto oom;
    int32_t n = b->n;
    t->n_vocab = n;
    t->text = calloc((size_t)n, sizeof *t->text);
    t->piece = calloc((size_t)n, sizeof *t->piece);
    t->piece_len = calloc((size_t)n, sizeof *t->piece_len);
    t->type = calloc((size_t)n, 1);
    t->whole_ok = calloc((size_t)n, 1);
    size_t *tlen = calloc((size_t)n, sizeof *tlen);
    tm.len = tlen;
    is_result = calloc((size_t)n, 1);
    if (!t->text || !t->piece || !t->piece_len || !t->type || !t->whole_ok || !tlen || !is_result) goto oom;

    /* 1. texts */
    for (int32_t i = 0; i < n; i++) {
        if (!b->text[i]) {
            mm_err(err, "%s: token id %d is missing", what, (int)i);
            goto fail;
        }
        size_t len = b->text_len ? b->text_len[i] : strlen(b->text[i]);
        if (len == 0 || len > TOK_MAX_TEXT || memchr(b->text[i], 0, len)) {
            mm_err(err, "%s: token %d has an invalid text (empty, NUL byte or over %d bytes)", what,
                   (int)i, TOK_MAX_TEXT);
            goto fail;
        }
        t->text[i] = malloc(len + 1);
        if (!t->text[i]) goto oom;
        memcpy(t->text[i], b->text[i], len);
        t->text[i][len] = 0;
        tlen[i] = len;
    }
    tm.text = t->text;
    tm.mask = tok_table_mask((size_t)n);
    tm.slot = malloc(((size_t)tm.mask + 1) * sizeof *tm.slot);
    if (!tm.slot) goto oom;
    memset(tm.slot, 0xff, ((size_t)tm.mask + 1) * sizeof *tm.slot);
    for (int32_t i = 0; i < n; i++) {
        if (text_map_find(&tm, t->text[i], tlen[i]) >= 0) continue; /* duplicate text: first wins */
        uint32_t k = (uint32_t)tok_hash(t->text[i], tlen[i]) & tm.mask;
        while (tm.slot[k] >= 0) k = (k + 1) & tm.mask;
        tm.slot[k] = i;
    }

    /* 2. merges: resolve strings to ids */
    t->n_merges = 0;
    t->merge_l = malloc(((size_t)b->n_merges + 1) * sizeof(int32_t));
    t->merge_r = malloc(((size_t)b->n_merges + 1) * sizeof(int32_t));
    t->mh_mask = tok_table_mask((size_t)b->n_merges);
    t->mh_key = calloc((size_t)t->mh_mask + 1, sizeof *t->mh_key);
    t->mh_rank = malloc(((size_t)t->mh_mask + 1) * sizeof *t->mh_rank);
    t->mh_res = malloc(((size_t)t->mh_mask + 1) * sizeof *t->mh_res);
    if (!t->merge_l || !t->merge_r || !t->mh_key || !t->mh_rank || !t->mh_res) goto oom;
    char *cat = malloc(2 * TOK_MAX_TEXT + 1);
    if (!cat) goto oom;
    for (int32_t r = 0; r < b->n_merges; r++) {
        size_t la = b->merge_a_len[r], lb = b->merge_b_len[r];
        int32_t ia = (la && la <= TOK_MAX_TEXT) ? text_map_find(&tm, b->merge_a[r], la) : -1;
        int32_t ib = (lb && lb <= TOK_MAX_TEXT) ? text_map_find(&tm, b->merge_b[r], lb) : -1;
        int32_t ic = -1;
        if (ia >= 0 && ib >= 0) {
            memcpy(cat, b->merge_a[r], la);
            memcpy(cat + la, b->merge_b[r], lb);
            ic = text_map_find(&tm, cat, la + lb);
        }
        if (ic < 0) {
            mm_err(err, "%s: merge %d ('%.*s' '%.*s') names a token that is not in the vocabulary", what,
                   (int)r, (int)(la > 64 ? 64 : la), b->merge_a[r], (int)(lb > 64 ? 64 : lb), b->merge_b[r]);
            free(cat);
            goto fail;
        }
        int32_t dummy;
        t->merge_l[t->n_merges] = ia;
        t->merge_r[t->n_merges] = ib;
        t->n_merges++;
        is_result[ic] = 1;
        if (tok_merge_find(t, ia, ib, &dummy) >= 0) continue; /* duplicate merge: lowest rank wins */
        uint64_t key = (((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib) + 1;
        uint32_t k = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & t->mh_mask;
        while (t->mh_key[k]) k = (k + 1) & t->mh_mask;
        t->mh_key[k] = key;
        t->mh_rank[k] = r;
        t->mh_res[k] = ic;
    }
    free(cat);

    /* 3. pieces (bytes) and types */
    uint8_t *buf = malloc(4 * TOK_MAX_TEXT + 4);
    if (!buf) goto oom;
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *s = (const uint8_t *)t->text[i];
        size_t len = tlen[i], o = 0;
        bool all_mapped = true;
        for (size_t p = 0; p < len;) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t k = utf8proc_iterate(s + p, (utf8proc_ssize_t)(len - p), &cp);
            if (k <= 0) { buf[o++] = s[p++]; all_mapped = false; continue; }
            if (cp < 512 && cp_to_byte[cp] >= 0) buf[o++] = (uint8_t)cp_to_byte[cp];
            else { memcpy(buf + o, s + p, (size_t)k); o += (size_t)k; all_mapped = false; }
            p += (size_t)k;
        }
        int ty;
        /* a token BPE can produce is normal; anything else is a control token - also when a file
         * calls it "normal" (it could never come out of encode() as such anyway) */
        bool reachable = all_mapped && (o == 1 || is_result[i]);
        if (b->type && b->type[i] > 0) {
            ty = b->type[i] > 255 ? TOK_NORMAL : b->type[i];
            if (ty == TOK_NORMAL && !reachable) ty = TOK_CONTROL;
        } else {
            ty = reachable ? TOK_NORMAL : TOK_CONTROL;
        }
        t->type[i] = (uint8_t)ty;
        bool special = ty == TOK_CONTROL || ty == TOK_USER;
        if (special) { memcpy(buf, s, len); o = len; }  /* a special token decodes to its text */
        t->piece[i] = malloc(o + 1);
        if (!t->piece[i]) { free(buf); goto oom; }
        memcpy(t->piece[i], buf, o);
        t->piece[i][o] = 0;
        t->piece_len[i] = (uint32_t)o;
    }
    free(buf);

    /* 3b. a merge must join two ordinary tokens into an ordinary token with exactly their bytes
     * (always true for real vocabularies); any other merge is disabled so decode(encode(s)) == s */
    for (uint32_t k = 0; k <= t->mh_mask; k++) {
        if (!t->mh_key[k]) continue;
        uint64_t key = t->mh_key[k] - 1;
        int32_t l = (int32_t)(key >> 32), r = (int32_t)(key & 0xffffffffu), c = t->mh_res[k];
        bool ok = !mm_tokenizer_is_special(t, l) && !mm_tokenizer_is_special(t, r) &&
                  !mm_tokenizer_is_special(t, c) &&
                  t->piece_len[c] == t->piece_len[l] + t->piece_len[r] &&
                  !memcmp(t->piece[c], t->piece[l], t->piece_len[l]) &&
                  !memcmp(t->piece[c] + t->piece_len[l], t->piece[r], t->piece_len[r]);
        if (!ok) t->mh_rank[k] = -1;
    }

    /* 4. byte tokens and the piece -> id map of non-special tokens */
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    t->vh_mask = tok_table_mask((size_t)n);
    t->vh = malloc(((size_t)t->vh_mask + 1) * sizeof *t->vh);
    if (!t->vh) goto oom;
    memset(t->vh, 0xff, ((size_t)t->vh_mask + 1) * sizeof *t->vh);
    for (int32_t i = 0; i < n; i++) {
        if (t->type[i] == TOK_CONTROL || t->type[i] == TOK_USER) continue;
        if (t->piece_len[i] == 1 && t->byte_id[(uint8_t)t->piece[i][0]] < 0)
            t->byte_id[(uint8_t)t->piece[i][0]] = i;
        if (tok_vocab_find(t, (const uint8_t *)t->piece[i], t->piece_len[i]) >= 0) continue;
        uint32_t k = (uint32_t)tok_hash(t->piece[i], t->piece_len[i]) & t->vh_mask;
        while (t->vh[k] >= 0) k = (k + 1) & t->vh_mask;
        t->vh[k] = i;
    }
    for (int i = 0; i < 256; i++)
        if (t->byte_id[i] < 0) {
            mm_err(err, "%s: no token for byte 0x%02x (not a byte-level BPE vocabulary)", what, i);
            goto fail;
        }

    /* 5. special tokens, longest first */
    t->text_len = malloc((size_t)n * sizeof *t->text_len);
    if (!t->text_len) goto oom;
    for (int32_t i = 0; i < n; i++) t->text_len[i] = (uint32_t)tlen[i];
    if (tok_build_specials(t)) goto oom;

    /* 6. bos / eos */
    int32_t eot = mm_tokenizer_special_id(t, "<|endoftext|>");
    t->bos = b->bos == -2 ? eot : b->bos;
    t->eos = b->eos == -2 ? eot : b->eos;
    if (t->bos < -1 || t->bos >= n || t->eos < -1 || t->eos >= n) {
        mm_err(err, "%s: bos/eos id out of range (%d, %d; %d tokens)", what, (int)t->bos, (int)t->eos, (int)n);
        goto fail;
    }
    t->add_bos = b->add_bos;
    t->eot = t->eom = t->unk = -1;

    /* 7. character classes of the BMP */
    t->bmp_class = malloc(65536);
    if (!t->bmp_class) goto oom;
    for (int32_t cp = 0; cp < 65536; cp++) t->bmp_class[cp] = class_of_cp(cp);

    /* 8. tokens whose own bytes BPE back into exactly themselves may be looked up as a whole word */
    tok_ids tmp = {0};
    for (int32_t i = 0; i < n; i++) {
        if (t->type[i] == TOK_CONTROL || t->type[i] == TOK_USER) continue;
        if (tok_vocab_find(t, (const uint8_t *)t->piece[i], t->piece_len[i]) != i) continue;
        tmp.n = 0;
        if (tok_bpe_word(t, (const uint8_t *)t->piece[i], t->piece_len[i], &tmp)) { free(tmp.v); goto oom; }
        t->whole_ok[i] = tmp.n == 1 && tmp.v[0] == i;
    }
    free(tmp.v);

    /* 9. end-of-generation set */
    if (tok_build_eog(t, NULL, what, err)) goto fail;

    free(tm.slot);
    free(tlen);
    free(is_result);
    return t;
oom:
    mm_err(err, "%s: out of memory", what);
fail:
    free(tm.slot);
    free(tm.len);
    free(is_result);
    mm_tokenizer_free(t);
    return NULL;
}

/* ---------------------------------------------------------------- accessors */
int32_t mm_tokenizer_n_vocab(const mm_tokenizer *t) { return t->n_vocab; }
int32_t mm_tokenizer_bos(const mm_tokenizer *t) { return t->bos; }
int32_t mm_tokenizer_eos(const mm_tokenizer *t) { return t->eos; }
bool    mm_tokenizer_add_bos(const mm_tokenizer *t) { return t->add_bos; }

int32_t mm_tokenizer_special_id(const mm_tokenizer *t, const char *text) {
    if (!text) return -1;
    size_t n = strlen(text);
    for (int32_t i = 0; i < t->n_special; i++) {
        int32_t id = t->special[i];
        if (t->text_len[id] == n && !memcmp(t->text[id], text, n)) return id;
    }
    return -1;
}

bool mm_tokenizer_is_special(const mm_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && tok_is_special_type(t, id);
}

int32_t mm_tokenizer_token_id(const mm_tokenizer *t, const char *piece, size_t len) {
    if (!piece || len == 0) return -1;
    return tok_vocab_find(t, (const uint8_t *)piece, len);
}

const char *mm_tokenizer_piece(const mm_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) return NULL;
    if (len) *len = t->piece_len[id];
    return t->piece[id];
}

const char *mm_tokenizer_token_text(const mm_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return NULL;
    return t->text[id];
}

/* ---------------------------------------------------------------- GGUF export */
int mm_tokenizer_write_gguf(const mm_tokenizer *t, mm_gguf_writer *w, char *err) {
    if (t->kind == TOK_KIND_SPM) return tok_spm_write_gguf(t, w, err);
    int rc = -1;
    char **merges = calloc((size_t)t->n_merges + 1, sizeof *merges);
    int32_t *types = malloc((size_t)t->n_vocab * sizeof *types);
    if (!merges || !types) { mm_err(err, "%s: out of memory", __func__); goto done; }
    for (int32_t r = 0; r < t->n_merges; r++) {
        const char *a = t->text[t->merge_l[r]], *b = t->text[t->merge_r[r]];
        size_t la = strlen(a), lb = strlen(b);
        merges[r] = malloc(la + lb + 2);
        if (!merges[r]) { mm_err(err, "%s: out of memory", __func__); goto done; }
        memcpy(merges[r], a, la);
        merges[r][la] = ' ';
        memcpy(merges[r] + la + 1, b, lb + 1);
    }
    for (int32_t i = 0; i < t->n_vocab; i++) types[i] = t->type[i];
    if (mm_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2") ||
        mm_gguf_writer_set_str(w, "tokenizer.ggml.pre", tok_pre_name(t->pre)) ||
        mm_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)t->text, t->n_vocab) ||
        mm_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", MM_GGUF_INT32, types, t->n_vocab) ||
        mm_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, t->n_merges) ||
        (t->bos >= 0 && mm_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)t->bos)) ||
        (t->eos >= 0 && mm_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)t->eos)) ||
        mm_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", t->add_bos)) {
        mm_err(err, "%s: the GGUF writer refused a tokenizer key", __func__);
        goto done;
    }
    rc = 0;
done:
    if (merges)
        for (int32_t r = 0; r < t->n_merges; r++) free(merges[r]);
    free(merges);
    free(types);
    return rc;
}

/* ---------------------------------------------------------------- files */
char *tok_read_file(const char *path, size_t cap, size_t *len, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        mm_err(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        mm_err(err, "%s: not a regular file", path);
        return NULL;
    }
    if ((uint64_t)st.st_size > cap) {
        fclose(f);
        mm_err(err, "%s: file too large (%lld bytes, limit %zu)", path, (long long)st.st_size, cap);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        mm_err(err, "%s: out of memory", path);
        return NULL;
    }
    if (fread(buf, 1, n, f) != n) {
        fclose(f);
        free(buf);
        mm_err(err, "%s: read error", path);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}
