/* cmd_info.c - `mmgpt info FILE [--json]`: what a GGUF model file holds.
 *
 * Prints the architecture, every metadata entry (long strings and arrays summarised), the tensor table
 * (name, type, shape in ggml order ne[0] first, bytes), the parameter count and the file size; for
 * gpt2 files also the decoder's parameter accounting (from the transformer module), for decoder files (gpt2,
 * llama, qwen2) the memory block (tensors by group, KV-cache bytes at the default -c). A file that fails
 * validation gives one line on stderr and exit code 4.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "mm_audio.h"
#include "mm_core.h"
#include "mm_fusion.h"
#include "mm_gguf.h"
#include "mm_transformer.h"

/* ---- HOOK: parameter accounting of gpt2 files, from the transformer module (mm_transformer.h,
 * decoder engineer): printed after the tensor table, and as "accounting" in --json. */

/* Accounting text (or JSON) for a gpt2 file; NULL when not a gpt2 file or not available (*why set). */
static char *accounting(const mm_gguf *g, bool json, char *why) {
    why[0] = 0;
    const char *arch;
    size_t alen;
    if (mm_gguf_get_str(g, "general.architecture", &arch, &alen) || alen != 4 || memcmp(arch, "gpt2", 4))
        return NULL;
    mm_gpt_hparams hp;
    mm_gpt_accounting acc;
    if (mm_gpt_hparams_from_gguf(g, &hp, why)) return NULL;
    mm_gpt_accounting_compute(&hp, &acc);
    int n = mm_gpt_accounting_format("gpt2", &hp, &acc, json, NULL, 0);
    if (n < 0) return NULL;
    char *buf = malloc((size_t)n + 1);
    if (!buf) return NULL;
    mm_gpt_accounting_format("gpt2", &hp, &acc, json, buf, (size_t)n + 1);
    return buf;
}

/* Tensors by group and the decoder's KV-cache bytes at the default -c (transformer module), for decoder
 * files (gpt2, llama, qwen2); NULL otherwise. */
static char *memory(const mm_gguf *g, bool json) {
    mm_gpt_hparams hp;
    char why[MM_ERR_SIZE];
    if (mm_gpt_hparams_from_gguf(g, &hp, why)) return NULL;
    int n = mm_gpt_file_accounting_format(g, 0, json, NULL, 0);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf) mm_gpt_file_accounting_format(g, 0, json, buf, (size_t)n + 1);
    return buf;
}

/* The chat template mmgpt would use for this file (with --chat-template NAME: that one), as
 * "NAME (why)" or "not recognised (...)"; JSON: {"name": NAME|null, "source": WHY[, "error": ...]}. */
static const char *g_chat_template;  /* --chat-template */

static char *chat_template(const mm_gguf *g, bool json) {
    mm_prompt_template t;
    char               err[MM_ERR_SIZE], buf[2 * MM_ERR_SIZE];
    if (mm_prompt_template_load_chat(&t, g, g_chat_template, err)) {
        if (!json) snprintf(buf, sizeof buf, "error (%s)", err);
        else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNullToObject(o, "name");
            cJSON_AddStringToObject(o, "error", err);
            char *s = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            return s;
        }
        return strdup(buf);
    }
    char *out = NULL;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        if (t.chat_name) cJSON_AddStringToObject(o, "name", t.chat_name);
        else cJSON_AddNullToObject(o, "name");
        cJSON_AddStringToObject(o, "source", t.chat_source);
        if (t.chat_error) cJSON_AddStringToObject(o, "error", t.chat_error);
        out = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
    } else {
        if (t.chat_name) snprintf(buf, sizeof buf, "%s (%s)", t.chat_name, t.chat_source);
        else snprintf(buf, sizeof buf, "not recognised (%s): %s", t.chat_source, t.chat_error);
        out = strdup(buf);
    }
    mm_prompt_template_free(&t);
    return out;
}

/* ---- the audio encoder + projector of the file, if any: windows, positions per window, and the longest
 * clip that fits in the context (--ctx-size N, else the file's <arch>.context_length). NULL without audio. */
static long g_info_ctx; /* --ctx-size */

static int64_t file_ctx(const mm_gguf *g) {
    const char *arch;
    size_t      alen;
    char        key[96];
    uint32_t    v;
    if (g_info_ctx > 0) return g_info_ctx;
    if (mm_gguf_get_str(g, "general.architecture", &arch, &alen) || alen > 64) return 0;
    snprintf(key, sizeof key, "%.*s.context_length", (int)alen, arch);
    return mm_gguf_get_u32(g, key, &v) ? 0 : (int64_t)v;
}

static char *audio_summary(const mm_gguf *g, bool json) {
    if (mm_gguf_find_key(g, "clip.audio.embedding_length") < 0) return NULL;
    char            err[MM_ERR_SIZE], buf[1024];
    mm_projector    p;
    mm_audio_model *am = mm_audio_model_load(g, err);
    memset(&p, 0, sizeof p);
    if (am) mm_projector_load(&p, g, MMGPT_MEDIA_AUDIO, mm_audio_model_d_enc(am), 0, err); /* err on failure */
    if (!am || !p.present) {
        mm_audio_model_free(am);
        if (!json) snprintf(buf, sizeof buf, "error (%s)", err);
        else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "error", err);
            char *s = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            return s;
        }
        return strdup(buf);
    }
    const mm_audio_hparams *hp = mm_audio_model_hparams(am);
    const int64_t W = hp->max_frames, per_win = mm_projector_audio_n_out(&p, am, W), n_ctx = file_ctx(g);
    const double  max_s = n_ctx > 0 ? (double)mm_projector_audio_max_samples(&p, am, n_ctx) / MM_AUDIO_SAMPLE_RATE : -1;
    const char   *proj = mm_projector_audio_name(&p);
    char         *out = NULL;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "n_mels", hp->n_mels);
        cJSON_AddNumberToObject(o, "d_enc", hp->d);
        cJSON_AddNumberToObject(o, "n_layer", hp->n_layer);
        cJSON_AddNumberToObject(o, "window_seconds", (double)W * MM_AUDIO_HOP / MM_AUDIO_SAMPLE_RATE);
        cJSON_AddBoolToObject(o, "pad_to_window", hp->pad_to_window);
        cJSON_AddNumberToObject(o, "rows_per_window", (double)mm_audio_model_window_rows(am, W, 1));
        cJSON_AddStringToObject(o, "projector", proj);
        cJSON_AddNumberToObject(o, "stack_factor", p.stack);
        cJSON_AddNumberToObject(o, "positions_per_window", (double)per_win);
        if (n_ctx > 0) {
            cJSON_AddNumberToObject(o, "n_ctx", (double)n_ctx);
            cJSON_AddNumberToObject(o, "max_clip_seconds", max_s);
        }
        out = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
    } else {
        int n = snprintf(buf, sizeof buf, "%d mel bins, d %d, %d blocks; windows of %.1f s (%s) -> %lld rows -> %lld "
                         "positions (%s, stack %d)", hp->n_mels, hp->d, hp->n_layer,
                         (double)W * MM_AUDIO_HOP / MM_AUDIO_SAMPLE_RATE, hp->pad_to_window ? "last one padded" : "unpadded",
                         (long long)mm_audio_model_window_rows(am, W, 1), (long long)per_win, proj, p.stack);
        if (n > 0 && (size_t)n < sizeof buf) {
            if (n_ctx > 0) snprintf(buf + n, sizeof buf - (size_t)n, "; longest clip in %lld positions: %.2f s",
                                    (long long)n_ctx, max_s);
            else snprintf(buf + n, sizeof buf - (size_t)n, "; give --ctx-size N for the longest clip in N positions");
        }
        out = strdup(buf);
    }
    mm_projector_free(&p);
    mm_audio_model_free(am);
    return out;
}

/* Display copy of an untrusted name: control bytes and invalid UTF-8 become '?' (stays valid JSON). */
static char *clean(const char *s, size_t n) {
    char *o = malloc(n + 1);
    if (!o) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t k = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
        bool ok = k > 0 && i + k <= n;
        for (size_t j = 1; ok && j < k; j++) ok = (p[i + j] & 0xc0) == 0x80;
        if (ok && k == 1 && (c < 0x20 || c == 0x7f)) ok = false;
        if (!ok) { o[i++] = '?'; continue; }
        memcpy(o + i, p + i, k);
        i += k;
    }
    o[n] = 0;
    return o;
}

static const char *type_label(int type) {
    const char *n = mm_gguf_type_name(type);
    return n ? n : "?";
}

static void shape_str(const mm_gguf_tensor *t, char *buf, size_t size) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, size - o, "[");
    for (int d = 0; d < t->n_dims && o < size; d++)
        o += (size_t)snprintf(buf + o, size - o, "%s%" PRId64, d ? ", " : "", t->ne[d]);
    if (o < size) snprintf(buf + o, size - o, "]");
}

static const char *human(double b, char *out, size_t size) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024.0 && i < 4) b /= 1024.0, i++;
    snprintf(out, size, i ? "%.2f %s" : "%.0f %s", b, u[i]);
    return out;
}

/* Formatted value of kv i (malloc'd). */
static char *kv_text(const mm_gguf *g, int64_t i, bool json) {
    int n = json ? mm_gguf_kv_format_json(g, i, NULL, 0) : mm_gguf_kv_format(g, i, NULL, 0);
    if (n < 0) return NULL;
    char *buf = malloc((size_t)n + 1);
    if (!buf) return NULL;
    if (json) mm_gguf_kv_format_json(g, i, buf, (size_t)n + 1);
    else mm_gguf_kv_format(g, i, buf, (size_t)n + 1);
    return buf;
}

static int print_json(const mm_gguf *g, int64_t n_params, uint64_t tensor_bytes) {
    cJSON *o = cJSON_CreateObject();
    char *file = mm_cli_utf8(mm_gguf_path(g)); /* a file name is bytes: JSON holds UTF-8 */
    cJSON_AddStringToObject(o, "file", file ? file : "");
    free(file);
    cJSON_AddNumberToObject(o, "file_size", (double)mm_gguf_file_size(g));
    cJSON_AddNumberToObject(o, "version", mm_gguf_version(g));
    cJSON_AddNumberToObject(o, "alignment", (double)mm_gguf_alignment(g));
    int64_t ai = mm_gguf_find_key(g, "general.architecture");
    char *arch = ai >= 0 && mm_gguf_kv_type(g, ai) == MM_GGUF_STRING ? kv_text(g, ai, true) : NULL;
    if (arch) cJSON_AddRawToObject(o, "architecture", arch);
    else cJSON_AddNullToObject(o, "architecture");
    free(arch);
    char *ct = chat_template(g, true);
    if (ct) cJSON_AddRawToObject(o, "chat_template", ct);
    free(ct);
    char *au = audio_summary(g, true);
    if (au) cJSON_AddRawToObject(o, "audio", au);
    free(au);
    cJSON *md = cJSON_AddObjectToObject(o, "metadata");
    cJSON *mt = cJSON_AddObjectToObject(o, "metadata_types");
    for (int64_t i = 0; i < mm_gguf_n_kv(g); i++) {
        char *v = kv_text(g, i, true);
        if (!v) { cJSON_Delete(o); return mm_cli_fail(MM_EXIT_INTERNAL, "out of memory"); }
        char *key = clean(mm_gguf_kv_key(g, i), strlen(mm_gguf_kv_key(g, i)));
        if (!key) { free(v); cJSON_Delete(o); return mm_cli_fail(MM_EXIT_INTERNAL, "out of memory"); }
        cJSON_AddRawToObject(md, key, v);
        free(v);
        mm_gguf_type t = mm_gguf_kv_type(g, i), et;
        char tn[32];
        if (mm_gguf_kv_arr(g, i, &et, NULL) == 0) snprintf(tn, sizeof tn, "arr[%s]", mm_gguf_kv_type_name(et));
        else snprintf(tn, sizeof tn, "%s", mm_gguf_kv_type_name(t));
        cJSON_AddStringToObject(mt, key, tn);
        free(key);
    }
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    for (int64_t i = 0; i < mm_gguf_n_tensors(g); i++) {
        const mm_gguf_tensor *t = mm_gguf_tensor_at(g, i);
        cJSON *jt = cJSON_CreateObject();
        char *name = clean(t->name, strlen(t->name));
        cJSON_AddStringToObject(jt, "name", name ? name : "?");
        free(name);
        cJSON_AddStringToObject(jt, "type", type_label(t->type));
        cJSON_AddBoolToObject(jt, "computable", mm_type_supported(t->type));
        cJSON *sh = cJSON_AddArrayToObject(jt, "shape");
        for (int d = 0; d < t->n_dims; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->ne[d]));
        cJSON_AddNumberToObject(jt, "n_elements", (double)t->n_elements);
        cJSON_AddNumberToObject(jt, "bytes", (double)t->n_bytes);
        cJSON_AddNumberToObject(jt, "offset", (double)t->offset);
        cJSON_AddItemToArray(ts, jt);
    }
    cJSON_AddNumberToObject(o, "n_tensors", (double)mm_gguf_n_tensors(g));
    cJSON_AddNumberToObject(o, "n_params", (double)n_params);
    cJSON_AddNumberToObject(o, "tensor_bytes", (double)tensor_bytes);
    char why[MM_ERR_SIZE];
    char *acc = accounting(g, true, why);
    if (acc) cJSON_AddRawToObject(o, "accounting", acc);
    free(acc);
    char *mem = memory(g, true);
    if (mem) cJSON_AddRawToObject(o, "memory", mem);
    free(mem);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    if (!s) return mm_cli_fail(MM_EXIT_INTERNAL, "out of memory");
    int bad = puts(s) < 0;
    free(s);
    if (bad || fflush(stdout)) return mm_cli_fail(MM_EXIT_INTERNAL, "cannot write to stdout");
    return MM_EXIT_OK;
}

static int print_text(const mm_gguf *g, int64_t n_params, uint64_t tensor_bytes) {
    char hb[32], hb2[32];
    const char *arch = NULL;
    size_t alen = 0;
    int64_t nk = mm_gguf_n_kv(g), nt = mm_gguf_n_tensors(g);
    char *file = mm_cli_utf8(mm_gguf_path(g)); /* stdout is UTF-8 */
    printf("file:          %s\n", file ? file : "?");
    free(file);
    printf("format:        GGUF v%u, alignment %zu, %" PRId64 " metadata entries, %" PRId64 " tensors\n",
           mm_gguf_version(g), mm_gguf_alignment(g), nk, nt);
    if (mm_gguf_get_str(g, "general.architecture", &arch, &alen) == 0) {
        char *a = clean(arch, alen > 200 ? 200 : alen);
        printf("architecture:  %s\n", a ? a : "?");
        free(a);
    } else
        printf("architecture:  (none)\n");
    char *ct = chat_template(g, false);
    printf("chat template: %s\n", ct ? ct : "?");
    free(ct);
    char *au = audio_summary(g, false);
    if (au) printf("audio:         %s\n", au);
    free(au);

    printf("\nmetadata (%" PRId64 "):\n", nk);
    int kw = 10;
    for (int64_t i = 0; i < nk; i++) {
        int l = (int)strlen(mm_gguf_kv_key(g, i));
        if (l > kw) kw = l > 60 ? 60 : l;
    }
    for (int64_t i = 0; i < nk; i++) {
        char *v = kv_text(g, i, false);
        mm_gguf_type et;
        char tn[32];
        if (mm_gguf_kv_arr(g, i, &et, NULL) == 0) snprintf(tn, sizeof tn, "arr[%s]", mm_gguf_kv_type_name(et));
        else snprintf(tn, sizeof tn, "%s", mm_gguf_kv_type_name(mm_gguf_kv_type(g, i)));
        char *key = clean(mm_gguf_kv_key(g, i), strlen(mm_gguf_kv_key(g, i)));
        printf("  %-*s %-9s %s\n", kw, key ? key : "?", tn, v ? v : "?");
        free(key);
        free(v);
    }

    printf("\ntensors (%" PRId64 "):\n", nt);
    int nw = 4;
    for (int64_t i = 0; i < nt; i++) {
        int l = (int)strlen(mm_gguf_tensor_at(g, i)->name);
        if (l > nw) nw = l;
    }
    printf("  %5s  %-*s %-8s %-26s %14s\n", "#", nw, "name", "type", "shape (ne)", "bytes");
    bool other_types = false;
    for (int64_t i = 0; i < nt; i++) {
        const mm_gguf_tensor *t = mm_gguf_tensor_at(g, i);
        char shape[128], tl[16];
        shape_str(t, shape, sizeof shape);
        bool ok = mm_type_supported(t->type);
        other_types |= !ok;
        snprintf(tl, sizeof tl, "%s%s", type_label(t->type), ok ? "" : "*");
        char *name = clean(t->name, strlen(t->name));
        printf("  %5" PRId64 "  %-*s %-8s %-26s %14zu\n", i, nw, name ? name : "?", tl, shape, t->n_bytes);
        free(name);
    }
    if (other_types) printf("  (* a type mmgpt can list but not compute with; it computes f32, f16, q4_0, q8_0)\n");

    printf("\nparameters:    %" PRId64 " (%.2f M)\n", n_params, (double)n_params / 1e6);
    printf("tensor data:   %" PRIu64 " bytes (%s)\n", tensor_bytes, human((double)tensor_bytes, hb, sizeof hb));
    printf("file size:     %zu bytes (%s)\n", mm_gguf_file_size(g), human((double)mm_gguf_file_size(g), hb2, sizeof hb2));

    /* ---- HOOK output: gpt2 parameter accounting (transformer module) */
    char why[MM_ERR_SIZE];
    char *acc = accounting(g, false, why);
    if (acc) {
        printf("\nparameter accounting:\n%s", acc);
        free(acc);
    } else if (why[0]) {
        printf("\nparameter accounting: not available (%s)\n", why);
    }
    char *mem = memory(g, false);
    if (mem) printf("\nmemory:\n%s", mem);
    free(mem);
    if (fflush(stdout)) return mm_cli_fail(MM_EXIT_INTERNAL, "cannot write to stdout");
    return MM_EXIT_OK;
}

static int info(mm_task_opts *o) {
    const char *path = o->pos[0];
    const bool  json = o->json;
    g_chat_template = o->chat_template;
    g_info_ctx = o->n_ctx;
    char err[MM_ERR_SIZE];
    mm_gguf *g = mm_gguf_open(path, err);
    if (!g) return mm_cli_fail(MM_EXIT_MODEL, "%s", err);
    int64_t n_params = 0;
    uint64_t tensor_bytes = 0;
    for (int64_t i = 0; i < mm_gguf_n_tensors(g); i++) {
        const mm_gguf_tensor *t = mm_gguf_tensor_at(g, i);
        n_params += t->n_elements;   /* each tensor lies inside the file: no overflow */
        tensor_bytes += t->n_bytes;
    }
    int rc = json ? print_json(g, n_params, tensor_bytes) : print_text(g, n_params, tensor_bytes);
    mm_gguf_close(g);
    return rc;
}

static const mm_cmd_spec k_info = {
    .name = "info",
    .usage = "FILE.gguf [--json] [--chat-template NAME] [-c N]",
    .about = "Show what a GGUF model file holds: architecture, metadata (long arrays summarised), the\n"
             "tensor table (name, type, shape as ggml ne[0..3], bytes), the parameter count and the file\n"
             "size; for gpt2 files also the decoder's parameter accounting; for decoder files (gpt2, llama,\n"
             "qwen2) the memory they need (tensors by group, KV cache at the default -c); the chat template mmgpt\n"
             "uses for it and why (mmgpt.prompt.* keys, the one recognised in tokenizer.chat_template, ...);\n"
             "with an audio encoder: its windows, positions per window and the longest clip that fits.\n"
             "The file is fully validated.\n",
    .opts = (const mm_opt_id[]){MM_O_CTX_SIZE, MM_O_CHAT_TEMPLATE, MM_O_JSON, MM_O_COUNT},
    .texts = (const mm_opt_text[]){{MM_O_CTX_SIZE, ": with an audio encoder, the longest clip whose positions fit in N "
                                                   "(default 0 = the file's <arch>.context_length, when it has one)"},
                                   {MM_O_JSON, "print one JSON object instead of text"},
                                   {MM_O_COUNT, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .pos_name = "FILE",
    .exits = MM_CMD_TOOL_EXITS,
};

int mm_cmd_info(int argc, char **argv) { return mm_cmd_main(&k_info, argc, argv, info); }
