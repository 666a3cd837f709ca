/* dist_cli.c - `mpirun -np N mmgpt COMMAND ...`: the program's side of pipeline parallelism (mm_dist.h).
 *
 * Under mpirun (Open MPI's OMPI_COMM_WORLD_SIZE > 1, in an MMGPT_MPI build) main() calls
 * mm_cli_dist_start before the command: every rank joins MPI; `--layer-split a,b,c` is taken out of the
 * arguments (layers per rank; default balanced by bytes). For the commands that run the decoder
 * (generate, logits, caption, describe, ask, chat) ranks > 0 become pipeline workers here: they parse
 * the same command line with the option table (mm_cmd_parse; they use -m, -t, -c and --kv-f16), load the
 * decoder only, join, and evaluate their layers until rank 0 stops them; rank 0 runs the command, whose model
 * loading joins (task_cli.c, through mmgpt_model_params.dist). Other commands run on rank 0 alone. Only
 * rank 0 prints: a worker that fails to load reports through rank 0 ("rank R: ..."). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mm_dist.h"
#include "options.h"

static mm_dist    *g_dist;   /* rank 0 of a pipeline, else NULL */
static const char *g_split;

mm_dist    *mm_cli_dist(void) { return g_dist; }
const char *mm_cli_layer_split(void) { return g_split; }

static bool pipelined(const char *cmd) {
    static const char *const k[] = {"generate", "logits", "caption", "describe", "ask", "chat"};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (!strcmp(cmd, k[i])) return true;
    return false;
}

/* The worker's command line: the rows of every decoder command (one spelling is one row, with or without
 * a value, in every command: the worker splits argv as rank 0 does) and any arguments. A command line
 * rank 0 refuses may pass here (a wider spec), never the reverse; -f FILE is left to rank 0. */
static const mm_cmd_spec k_worker = {
    .name = "worker",
    .usage = "",
    .about = "",
    .groups = MM_OPT_MODEL | MM_OPT_TEMPLATE | MM_OPT_MEDIA | MM_OPT_PROMPT | MM_OPT_GEN | MM_OPT_OUT | MM_OPT_NPY |
              MM_OPT_CHAT,
    .min_pos = 0,
    .max_pos = -1,
    .pos_name = "ARG",
    .file_unread = true,
};

static int worker(mm_dist *d, int argc, char **argv) {
    /* only rank 0 prints: errors are recorded (and sent to rank 0 by the join), stdout (--help) is dropped */
    mm_cli_silence();
    if (!freopen("/dev/null", "w", stdout)) fclose(stdout);
    mm_task_opts o;
    char         err[MM_ERR_SIZE] = "";
    int          pc = mm_cmd_parse(&k_worker, &o, argc, argv);
    const char  *path = pc == MM_EXIT_OK ? mm_cli_model_path(o.model) : NULL;
    mm_gguf     *g = path ? mm_gguf_open(path, err) : NULL;
    if (!path) snprintf(err, sizeof err, "%s", pc == MM_CMD_HELP_DONE ? "--help: nothing to run" : mm_cli_last_error());
    mm_gpt_model *m = g ? mm_gpt_model_load(g, err) : NULL;
    int rc = MM_EXIT_OK;
    if (mm_dist_join(d, g, m, NULL, m ? 0 : -1, err) != 0) {
        /* rank 0 says why; mpirun's exit code is that of the failing ranks: a command line rank 0 refused is
         * its usage error alone */
        rc = m || pc != MM_EXIT_OK ? MM_EXIT_OK : MM_EXIT_MODEL;
    } else {
        mm_gpt_state_params sp = mm_gpt_state_default_params();
        sp.n_threads = (int)o.threads;
        sp.kv_f16 = o.kv_f16;
        sp.n_ctx = o.n_ctx > 0 && o.n_ctx <= mm_gpt_model_n_ctx(m) ? o.n_ctx : 0; /* rank 0 checks the range */
        mm_gpt_state *s = mm_gpt_state_create(m, sp, err); /* NULL: serve reports err to rank 0 */
        if (mm_dist_serve(d, s, err) != 0) rc = MM_EXIT_MODEL;
        mm_gpt_state_free(s);
    }
    mm_gpt_model_free(m);
    mm_gguf_close(g);
    mm_task_opts_free(&o);
    return rc;
}

bool mm_cli_dist_start(int *argc, char ***argv, int *code) {
    const char *ws = getenv("OMPI_COMM_WORLD_SIZE");
    if (!ws || atoi(ws) < 2) return false; /* not under mpirun, or one rank: one process */
    char err[MM_ERR_SIZE];
    mm_dist *d = mm_dist_init(argc, argv, err);
    if (!d) {
        *code = mm_cli_fail(MM_EXIT_USAGE, "%s", err);
        return true;
    }
    /* take --layer-split out of the command line */
    int n = *argc;
    char **v = *argv;
    for (int i = 1; i < n; i++)
        if (!strcmp(v[i], "--layer-split")) {
            if (i + 1 >= n) {
                *code = mm_dist_rank(d) == 0 ? mm_cli_fail(MM_EXIT_USAGE, "--layer-split needs a value (a,b,c)")
                                             : MM_EXIT_USAGE;
                mm_dist_free(d);
                return true;
            }
            g_split = v[i + 1];
            memmove(v + i, v + i + 2, sizeof *v * (size_t)(n - i - 2 + 1)); /* argv[argc] = NULL too */
            n -= 2;
            i--;
        }
    *argc = n;
    if (n < 2 || !pipelined(v[1])) { /* rank 0 alone */
        if (mm_dist_rank(d) == 0) {
            g_dist = NULL;
            return false;
        }
        mm_dist_free(d);
        *code = MM_EXIT_OK;
        return true;
    }
    if (mm_dist_rank(d) == 0) {
        g_dist = d;
        return false;
    }
    *code = worker(d, n - 1, v + 1);
    mm_dist_free(d);
    return true;
}

int mm_cli_dist_end(int code) {
    if (!g_dist) return code;
    code = mm_dist_finish(g_dist, code);
    mm_dist_free(g_dist);
    g_dist = NULL;
    return code;
}
