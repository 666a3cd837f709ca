/* accounting.c - parameter / byte accounting of GPT shapes (mmgpt params, mmgpt info). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mm_transformer.h"

typedef struct {
    const char *name;
    int64_t n_layer, d_model, n_head, d_head, n_ctx;
} arch_row;

/* GPT-2 (Radford et al. 2019; HF configs) and GPT-3 (Brown et al. 2020, Table 2.1). */
static const arch_row k_arch[] = {
    {"gpt2",        12,   768, 12,  64, 1024},
    {"gpt2-medium", 24,  1024, 16,  64, 1024},
    {"gpt2-large",  36,  1280, 20,  64, 1024},
    {"gpt2-xl",     48,  1600, 25,  64, 1024},
    {"gpt3-small",  12,   768, 12,  64, 2048},
    {"gpt3-medium", 24,  1024, 16,  64, 2048},
    {"gpt3-large",  24,  1536, 16,  96, 2048},
    {"gpt3-xl",     24,  2048, 24, 128, 2048},
    {"gpt3-2.7b",   32,  2560, 32,  80, 2048},
    {"gpt3-6.7b",   32,  4096, 32, 128, 2048},
    {"gpt3-13b",    40,  5140, 40, 128, 2048},
    {"gpt3-175b",   96, 12288, 96, 128, 2048},
};
#define N_ARCH ((int)(sizeof k_arch / sizeof k_arch[0]))

const char *mm_gpt_arch_name(int i) { return i >= 0 && i < N_ARCH ? k_arch[i].name : NULL; }

int mm_gpt_arch_hparams(const char *name, mm_gpt_hparams *hp, char *err) {
    for (int i = 0; i < N_ARCH; i++) {
        if (name && !strcmp(name, k_arch[i].name)) {
            const arch_row *a = &k_arch[i];
            hp->n_vocab = 50257;
            hp->n_ctx = a->n_ctx;
            hp->d_model = a->d_model;
            hp->n_layer = a->n_layer;
            hp->n_head = a->n_head;
            hp->d_head = a->d_head;
            hp->d_ff = 4 * a->d_model;
            hp->eps = 1e-5f;
            return 0;
        }
    }
    char names[512] = "";
    for (int i = 0; i < N_ARCH; i++) {
        strncat(names, k_arch[i].name, sizeof names - strlen(names) - 1);
        if (i + 1 < N_ARCH) strncat(names, ", ", sizeof names - strlen(names) - 1);
    }
    return mm_err(err, "%s: unknown architecture '%s' (known: %s)", __func__, name ? name : "(null)", names);
}

void mm_gpt_accounting_compute(const mm_gpt_hparams *hp, mm_gpt_accounting *a) {
    memset(a, 0, sizeof *a);
    const int64_t L = hp->n_layer, d = hp->d_model, H = hp->n_head, dh = hp->d_head, ff = hp->d_ff;
    const int64_t da = H * dh; /* attention inner width */
    a->embedding = hp->n_vocab * d;
    a->unembedding = hp->n_vocab * d;
    a->query = L * H * d * dh;
    a->key = a->query;
    a->value = a->query;
    a->output = L * da * d;
    a->up = L * d * ff;
    a->down = L * ff * d;
    a->matrices_total = a->embedding + a->unembedding + a->query + a->key + a->value + a->output + a->up + a->down;
    a->n_matrices = L * (3 * H + 3) + 2;
    a->biases = L * (3 * da + d + ff + d);
    a->norms = L * 4 * d + 2 * d;
    a->position = hp->n_ctx * d;
    a->full_total = a->matrices_total + a->biases + a->norms + a->position;
    a->stored_tied = a->full_total - a->unembedding;
    const double mat = (double)(a->matrices_total + a->position), vec = (double)(a->biases + a->norms);
    const double per_elem[4] = {4.0, 2.0, 34.0 / 32.0, 18.0 / 32.0};
    for (int t = 0; t < 4; t++) {
        a->bytes[t] = mat * per_elem[t] + vec * 4.0;
        a->bytes_tied[t] = a->bytes[t] - (double)a->unembedding * per_elem[t];
    }
    a->kv_bytes_f32 = 2.0 * (double)L * (double)hp->n_ctx * (double)da * 4.0;
    a->kv_bytes_f16 = a->kv_bytes_f32 / 2.0;
    a->flops_per_token = 2.0 * (double)(a->matrices_total - a->embedding);
}

/* ---- formatting */
typedef struct {
    char  *buf;
    size_t size, len;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->len < b->size ? b->size - b->len : 0;
    int n = vsnprintf(room ? b->buf + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) b->len += (size_t)n;
}

static const char *commas(int64_t v, char *out) { /* out >= 32 bytes */
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%lld", (long long)(v < 0 ? -v : v));
    size_t n = strlen(tmp), o = 0;
    if (v < 0) out[o++] = '-';
    for (size_t i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = tmp[i];
    }
    out[o] = 0;
    return out;
}

static const char *human_bytes(double b, char *out) { /* out >= 32 */
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024.0 && i < 4) b /= 1024.0, i++;
    snprintf(out, 32, i ? "%.2f %s" : "%.0f %s", b, u[i]);
    return out;
}

int mm_gpt_accounting_format(const char *title, const mm_gpt_hparams *hp, const mm_gpt_accounting *a,
                             bool json, char *buf, size_t size) {
    sbuf b = {buf, size, 0};
    if (size) buf[0] = 0;
    const char *tname[4] = {"f32", "f16", "q8_0", "q4_0"};
    if (json) {
        sb_printf(&b, "{\"name\": \"%s\", \"n_vocab\": %lld, \"n_ctx\": %lld, \"d_model\": %lld, "
                      "\"n_layer\": %lld, \"n_head\": %lld, \"d_head\": %lld, \"d_ff\": %lld,\n",
                  title ? title : "", (long long)hp->n_vocab, (long long)hp->n_ctx, (long long)hp->d_model,
                  (long long)hp->n_layer, (long long)hp->n_head, (long long)hp->d_head, (long long)hp->d_ff);
        sb_printf(&b, " \"embedding\": %lld, \"query\": %lld, \"key\": %lld, \"value\": %lld, \"output\": %lld, "
                      "\"up\": %lld, \"down\": %lld, \"unembedding\": %lld, \"matrices_total\": %lld, "
                      "\"n_matrices\": %lld,\n",
                  (long long)a->embedding, (long long)a->query, (long long)a->key, (long long)a->value,
                  (long long)a->output, (long long)a->up, (long long)a->down, (long long)a->unembedding,
                  (long long)a->matrices_total, (long long)a->n_matrices);
        sb_printf(&b, " \"biases\": %lld, \"norms\": %lld, \"position\": %lld, \"full_total\": %lld, "
                      "\"stored_tied\": %lld,\n",
                  (long long)a->biases, (long long)a->norms, (long long)a->position, (long long)a->full_total,
                  (long long)a->stored_tied);
        sb_printf(&b, " \"bytes\": {");
        for (int t = 0; t < 4; t++) sb_printf(&b, "%s\"%s\": %.0f", t ? ", " : "", tname[t], a->bytes[t]);
        sb_printf(&b, "}, \"bytes_tied\": {");
        for (int t = 0; t < 4; t++) sb_printf(&b, "%s\"%s\": %.0f", t ? ", " : "", tname[t], a->bytes_tied[t]);
        sb_printf(&b, "}, \"kv_cache_bytes_f32\": %.0f, \"kv_cache_bytes_f16\": %.0f, \"flops_per_token\": %.0f}\n",
                  a->kv_bytes_f32, a->kv_bytes_f16, a->flops_per_token);
        return (int)b.len;
    }
    char c1[32], c2[32];
    sb_printf(&b, "%s: n_vocab %lld, n_ctx %lld, d_model %lld, n_layer %lld, n_head %lld x d_head %lld, d_ff %lld\n\n",
              title ? title : "model", (long long)hp->n_vocab, (long long)hp->n_ctx, (long long)hp->d_model,
              (long long)hp->n_layer, (long long)hp->n_head, (long long)hp->d_head, (long long)hp->d_ff);
    if (hp->n_head * hp->d_head != hp->d_model)
        sb_printf(&b, "note: n_head x d_head = %lld differs from d_model (as given in the GPT-3 paper's Table 2.1)\n\n",
                  (long long)(hp->n_head * hp->d_head));
    sb_printf(&b, "%-30s %22s\n", "weight matrices", "parameters");
    const struct { const char *n; int64_t v; } rows[] = {
        {"embedding", a->embedding}, {"query", a->query}, {"key", a->key}, {"value", a->value},
        {"output", a->output}, {"up-projection", a->up}, {"down-projection", a->down},
        {"unembedding", a->unembedding},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        sb_printf(&b, "  %-28s %22s\n", rows[i].n, commas(rows[i].v, c1));
    sb_printf(&b, "  %-28s %22s  in %s matrices\n", "total", commas(a->matrices_total, c1),
              commas(a->n_matrices, c2));
    sb_printf(&b, "\n%-30s %22s\n", "full count", "parameters");
    sb_printf(&b, "  %-28s %22s\n", "weight matrices", commas(a->matrices_total, c1));
    sb_printf(&b, "  %-28s %22s\n", "biases", commas(a->biases, c1));
    sb_printf(&b, "  %-28s %22s\n", "layer norms", commas(a->norms, c1));
    sb_printf(&b, "  %-28s %22s\n", "position embeddings", commas(a->position, c1));
    sb_printf(&b, "  %-28s %22s\n", "total", commas(a->full_total, c1));
    sb_printf(&b, "  %-28s %22s\n", "total, unembedding tied", commas(a->stored_tied, c1));
    sb_printf(&b, "\n%-30s %22s %14s %14s\n", "bytes", "untied", "", "tied");
    const char *tlabel[4] = {"F32", "F16", "Q8_0", "Q4_0"};
    for (int t = 0; t < 4; t++) {
        char hb[32], hb2[32];
        sb_printf(&b, "  %-28s %22.0f %14s %14s\n", tlabel[t], a->bytes[t], human_bytes(a->bytes[t], hb),
                  human_bytes(a->bytes_tied[t], hb2));
    }
    char hb[32];
    sb_printf(&b, "  %-28s %22.0f %14s\n", "KV cache, full context, f32", a->kv_bytes_f32,
              human_bytes(a->kv_bytes_f32, hb));
    sb_printf(&b, "  %-28s %22.0f %14s\n", "KV cache, full context, f16", a->kv_bytes_f16,
              human_bytes(a->kv_bytes_f16, hb));
    sb_printf(&b, "\n  forward FLOPs per token (matrices): %.3g\n", a->flops_per_token);
    return (int)b.len;
}

/* ---- accounting of a file: what its tensors hold, and the decoder's memory */
enum { G_EMBD, G_POS, G_ATTN_QKV, G_ATTN_OUT, G_FFN, G_NORM, G_BIAS, G_OUTPUT, G_ROPE, G_OTHER, G_N };
static const char *const k_group[G_N] = {"token embedding", "position embedding", "attention q/k/v",
                                         "attention output", "feed-forward", "norms", "biases",
                                         "output (unembedding)", "rope factors", "other (encoders, projectors)"};
static const char *const k_group_key[G_N] = {"embedding", "position", "attention_qkv", "attention_output",
                                             "feed_forward", "norms", "biases", "output", "rope_freqs", "other"};

static int tensor_group(const char *n) {
    size_t len = strlen(n);
    if (!strcmp(n, "token_embd.weight")) return G_EMBD;
    if (!strcmp(n, "position_embd.weight")) return G_POS;
    if (!strcmp(n, "output.weight")) return G_OUTPUT;
    if (!strcmp(n, "rope_freqs.weight")) return G_ROPE;
    if (!strncmp(n, "output_norm.", 12)) return G_NORM;
    if (strncmp(n, "blk.", 4) != 0) return G_OTHER;
    if (len > 5 && !strcmp(n + len - 5, ".bias")) return G_BIAS;
    if (strstr(n, "_norm.")) return G_NORM;
    if (strstr(n, ".attn_q.") || strstr(n, ".attn_k.") || strstr(n, ".attn_v.") || strstr(n, ".attn_qkv."))
        return G_ATTN_QKV;
    if (strstr(n, ".attn_output.")) return G_ATTN_OUT;
    if (strstr(n, ".ffn_")) return G_FFN;
    return G_OTHER;
}

int mm_gpt_file_accounting_format(const mm_gguf *g, int64_t n_ctx, bool json, char *buf, size_t size) {
    sbuf b = {buf, size, 0};
    if (size) buf[0] = 0;
    int64_t par[G_N] = {0}, total = 0;
    double bytes[G_N] = {0}, btotal = 0, tbytes[64] = {0};
    int64_t tcount[64] = {0};
    for (int64_t i = 0; i < mm_gguf_n_tensors(g); i++) {
        const mm_gguf_tensor *t = mm_gguf_tensor_at(g, i);
        const int k = tensor_group(t->name);
        par[k] += t->n_elements, total += t->n_elements;
        bytes[k] += (double)t->n_bytes, btotal += (double)t->n_bytes;
        if (t->type >= 0 && t->type < 64) tbytes[t->type] += (double)t->n_bytes, tcount[t->type]++;
    }
    mm_gpt_hparams hp;
    char why[MM_ERR_SIZE];
    const bool dec = mm_gpt_hparams_from_gguf(g, &hp, why) == 0;
    const int64_t def = dec ? (hp.n_ctx < MM_GPT_DEFAULT_CTX ? hp.n_ctx : MM_GPT_DEFAULT_CTX) : 0;
    const int64_t use = dec ? (n_ctx > 0 && n_ctx < hp.n_ctx ? n_ctx : n_ctx > 0 ? hp.n_ctx : def) : 0;
    const double kv32 = dec ? mm_gpt_kv_bytes(&hp, use, false) : 0, kv16 = dec ? mm_gpt_kv_bytes(&hp, use, true) : 0;
    const double full32 = dec ? mm_gpt_kv_bytes(&hp, hp.n_ctx, false) : 0;
    char c1[32], h1[32], h2[32], h3[32];
    if (json) {
        sb_printf(&b, "{\"parameters\": %lld, \"tensor_bytes\": %.0f, \"groups\": {", (long long)total, btotal);
        for (int k = 0, first = 1; k < G_N; k++) {
            if (!par[k]) continue;
            sb_printf(&b, "%s\"%s\": {\"parameters\": %lld, \"bytes\": %.0f}", first ? "" : ", ", k_group_key[k],
                      (long long)par[k], bytes[k]);
            first = 0;
        }
        sb_printf(&b, "}, \"types\": {");
        for (int t = 0, first = 1; t < 64; t++) {
            if (!tcount[t]) continue;
            const char *tn = mm_type_name(t);
            sb_printf(&b, "%s\"%s\": {\"tensors\": %lld, \"bytes\": %.0f}", first ? "" : ", ", tn ? tn : "unknown",
                      (long long)tcount[t], tbytes[t]);
            first = 0;
        }
        sb_printf(&b, "}");
        if (dec)
            sb_printf(&b, ", \"decoder\": {\"architecture\": \"%s\", \"n_layer\": %lld, \"d_model\": %lld, "
                          "\"n_head\": %lld, \"n_head_kv\": %lld, \"d_head\": %lld, \"d_ff\": %lld, \"n_vocab\": %lld, "
                          "\"n_ctx_train\": %lld, \"n_ctx\": %lld, \"kv_cache_bytes_f32\": %.0f, "
                          "\"kv_cache_bytes_f16\": %.0f, \"kv_cache_bytes_full_f32\": %.0f, "
                          "\"kv_bytes_per_position_f32\": %.0f, \"weights_plus_kv_f32\": %.0f}",
                      mm_gpt_arch_str(hp.arch), (long long)hp.n_layer, (long long)hp.d_model, (long long)hp.n_head,
                      (long long)(hp.n_head_kv ? hp.n_head_kv : hp.n_head), (long long)hp.d_head, (long long)hp.d_ff,
                      (long long)hp.n_vocab, (long long)hp.n_ctx, (long long)use, kv32, kv16, full32,
                      kv32 / (double)use, btotal + kv32);
        sb_printf(&b, "}\n");
        return (int)b.len;
    }
    sb_printf(&b, "%-30s %18s %14s\n", "tensors", "parameters", "bytes");
    for (int k = 0; k < G_N; k++)
        if (par[k]) sb_printf(&b, "  %-28s %18s %14s\n", k_group[k], commas(par[k], c1), human_bytes(bytes[k], h1));
    sb_printf(&b, "  %-28s %18s %14s\n", "total", commas(total, c1), human_bytes(btotal, h1));
    sb_printf(&b, "\n%-30s %18s %14s\n", "by type", "tensors", "bytes");
    for (int t = 0; t < 64; t++) {
        const char *tn = mm_type_name(t);
        if (tcount[t]) sb_printf(&b, "  %-28s %18lld %14s\n", tn ? tn : "unknown", (long long)tcount[t],
                                 human_bytes(tbytes[t], h1));
    }
    if (dec) {
        sb_printf(&b, "\ndecoder: %s, %lld layers, d_model %lld, %lld heads (%lld key/value) x d_head %lld, d_ff %lld, "
                      "vocabulary %lld, trained context %lld\n",
                  mm_gpt_arch_str(hp.arch), (long long)hp.n_layer, (long long)hp.d_model, (long long)hp.n_head,
                  (long long)(hp.n_head_kv ? hp.n_head_kv : hp.n_head), (long long)hp.d_head, (long long)hp.d_ff,
                  (long long)hp.n_vocab, (long long)hp.n_ctx);
        sb_printf(&b, "  KV cache at -c %lld%s: %s (f32), %s (--kv-f16); %.0f bytes per position (f32)\n",
                  (long long)use, n_ctx > 0 ? "" : " (the default: min(trained, 4096))", human_bytes(kv32, h1),
                  human_bytes(kv16, h2), kv32 / (double)use);
        sb_printf(&b, "  KV cache at the trained context %lld: %s (f32)\n", (long long)hp.n_ctx,
                  human_bytes(full32, h1));
        sb_printf(&b, "  weights + KV cache (f32) at -c %lld: %s (+ activations)\n", (long long)use,
                  human_bytes(btotal + kv32, h3));
    }
    return (int)b.len;
}
