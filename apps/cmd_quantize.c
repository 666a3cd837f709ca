/* cmd_quantize.c - `mmgpt quantize IN.gguf OUT.gguf TYPE`: write a model file in another weight type, choosing
 * each tensor's type as llama-quantize does (core/gguf_quantize.c), e.g. Q4_K_M = Q4_K with Q6_K for output,
 * some attn_v / ffn_down, Q5_0 where rows are not a multiple of 256. The plan goes to stderr (one line per
 * tensor), the summary to stdout.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "mm_core.h"
#include "mm_gguf.h"

static void shape(const mm_gguf_tensor *t, char *buf, size_t size) {
    size_t o = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->n_dims && o < size; d++)
        o += (size_t)snprintf(buf + o, size - o, "%s%" PRId64, d ? ", " : "", t->ne[d]);
    if (o < size) snprintf(buf + o, size - o, "]");
}

/* a tensor name as printable ASCII (names come from the file: control bytes and non-ASCII become '?') */
static void ascii_name(const char *s, char *buf, size_t size) {
    size_t i = 0;
    for (; s[i] && i + 1 < size; i++) buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    buf[i] = 0;
}

static size_t out_bytes(const mm_gguf_tensor *t, int type) {
    if (type == t->type) return t->n_bytes;
    return mm_row_size((mm_type)type, t->ne[0]) * (size_t)(t->n_elements / t->ne[0]);
}

static int quantize(mm_task_opts *o) {
    const char *const *pos = o->pos;
    const bool dry = o->dry_run;
    mm_quantize_params p = {.n_threads = (int)o->threads, .pure = o->pure, .allow_requantize = o->allow_requantize};
    p.ftype = mm_gguf_ftype_from_name(pos[2]);
    if (p.ftype < 0)
        return mm_cli_fail(MM_EXIT_USAGE, "quantize: unknown type '%s' (f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k_s "
                           "q4_k_m q5_k_s q5_k_m q6_k)", pos[2]);
    char err[MM_ERR_SIZE];
    mm_gguf *g = mm_gguf_open(pos[0], err);
    if (!g) return mm_cli_fail(MM_EXIT_MODEL, "%s", err);
    const int64_t n = mm_gguf_n_tensors(g);
    int *types = malloc(sizeof(int) * (size_t)(n ? n : 1));
    bool *fb = malloc(sizeof(bool) * (size_t)(n ? n : 1));
    int64_t *order = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    int rc = MM_EXIT_OK;
    if (!types || !fb || !order) {
        rc = mm_cli_fail(MM_EXIT_INTERNAL, "quantize: out of memory");
        goto done;
    }
    if (mm_gguf_quantize_plan(g, &p, types, fb, order, err)) {
        rc = mm_cli_fail(MM_EXIT_MODEL, "quantize: %s: %s", pos[0], err);
        goto done;
    }
    FILE *plan = dry ? stdout : stderr;
    const bool float_file = p.ftype == 0 || p.ftype == 1 || p.ftype == 32; /* f32, f16, bf16 */
    size_t in_total = 0, out_total = 0;
    int64_t n_conv = 0, n_fb = 0;
    for (int64_t k = 0; k < n; k++) {
        const int64_t i = order[k];
        const mm_gguf_tensor *t = mm_gguf_tensor_at(g, i);
        char sh[96], name[MM_GGUF_MAX_NAME];
        shape(t, sh, sizeof sh);
        ascii_name(t->name, name, sizeof name);
        const size_t ob = out_bytes(t, types[i]);
        in_total += t->n_bytes;
        out_total += ob;
        n_conv += types[i] != t->type;
        n_fb += fb[i];
        const bool conv = types[i] == t->type && (t->ne[2] > 1 || t->ne[3] > 1) && !float_file;
        fprintf(plan, "[%4" PRId64 "/%4" PRId64 "] %-40s %-22s %-6s -> %-6s %10.3f MiB%s\n", k + 1, n, name, sh,
                mm_type_name(t->type), mm_type_name(types[i]), ob / 1048576.0,
                fb[i] ? "  (fallback: rows do not fill the type's blocks)" : conv ? "  (kept: convolution kernel)" : "");
    }
    if (!dry) {
        double t0 = mm_time_ms();
        if (mm_gguf_quantize(g, pos[1], &p, err)) {
            rc = mm_cli_fail(MM_EXIT_INTERNAL, "quantize: %s", err);
            goto done;
        }
        fprintf(stderr, "quantize: %.1f s\n", (mm_time_ms() - t0) / 1000.0);
    }
    char *out_name = mm_cli_utf8(pos[1]); /* a file name is bytes: stdout is UTF-8 */
    printf("%s%s: %s (general.file_type %d), %" PRId64 " tensors, %" PRId64 " converted (%" PRId64
           " by fallback), %.2f MiB -> %.2f MiB\n",
           dry ? "would write " : "", out_name ? out_name : "?", mm_gguf_ftype_name(p.ftype), p.ftype, n, n_conv, n_fb,
           in_total / 1048576.0, out_total / 1048576.0);
    free(out_name);
done:
    free(types);
    free(fb);
    free(order);
    mm_gguf_close(g);
    return rc;
}

static const mm_cmd_spec k_quantize = {
    .name = "quantize",
    .usage = "IN.gguf OUT.gguf TYPE [options]",
    .about = "Write IN with its weights converted to TYPE, choosing each tensor's type as llama.cpp's\n"
             "llama-quantize does without an importance matrix (the same kind of file). TYPE is a file type:\n"
             "  f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k_s q4_k_m (= q4_k) q5_k_s q5_k_m (= q5_k) q6_k\n"
             "Mixes: output.weight (or a tied token_embd.weight) q6_k; q4_k_m / q5_k_m also attn_v and ffn_down\n"
             "q6_k in the first and last eighth of the layers and every third between. Rows that are not a\n"
             "multiple of 256 fall back to q5_0 (q4_k), q5_1 (q5_k), q8_0 (q6_k), or f16; rows that are not a\n"
             "multiple of 32 (q4_0 ... q8_0) to f16 (llama-quantize stops there). Norms, biases and position\n"
             "embeddings are copied; so are, for a quantized TYPE, the encoders' convolution kernels (3-D / 4-D\n"
             "weights: v.patch_embd, a.conv1d), as llama.cpp's mmproj quantizer does: a model file with\n"
             "encoders or an mmproj converts as it is. Tensors already quantized need --allow-requantize.\n"
             "Metadata is copied; general.file_type is set.\n",
    .opts = (const mm_opt_id[]){MM_O_THREADS, MM_O_PURE, MM_O_ALLOW_REQUANTIZE, MM_O_DRY_RUN, MM_O_COUNT},
    .min_pos = 3,
    .max_pos = 3,
    .pos_name = "IN.gguf OUT.gguf TYPE",
    .exits = MM_CMD_TOOL_EXITS,
};

int mm_cmd_quantize(int argc, char **argv) { return mm_cmd_main(&k_quantize, argc, argv, quantize); }
