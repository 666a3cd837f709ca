/* main.c - the mmgpt program: dispatch to subcommands (each in its own cmd_*.c). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "options.h"
#include "task_cli.h"

#ifndef MMGPT_VERSION
#define MMGPT_VERSION "dev"
#endif

static const struct {
    const char *name;
    mm_cmd_fn   fn;
    const char *help;
} k_cmds[] = {
#define MM_CMD(name, fn, help) {name, fn, help},
#include "commands.def"
#undef MM_CMD
};

static void usage(FILE *f) {
    fprintf(f,
            "mmgpt %s - one GPT decoder that reads text, pictures and sound\n\n"
            "usage: mmgpt COMMAND [options]   (mmgpt COMMAND --help for its options)\n\ncommands:\n",
            MMGPT_VERSION);
    for (size_t i = 0; i < sizeof k_cmds / sizeof k_cmds[0]; i++)
        fprintf(f, "  %-14s %s\n", k_cmds[i].name, k_cmds[i].help);
    const char *bundled = mm_cli_bundled_model();
    fprintf(f,
            "\nmodel: -m FILE; without -m, $MMGPT_MODEL if set, else the bundled model, found relative to this\n"
            "program: PREFIX/bin/mmgpt reads PREFIX/share/mmgpt/models/mmgpt-demo.gguf (wherever PREFIX is),\n"
            "build/mmgpt reads the source tree's assets/models/mmgpt-demo.gguf. This program's:\n  %s%s\n"
            "\nerrors: one line \"mmgpt: MESSAGE\" on stderr and an exit code (2 usage, 3 input, 4 model,\n"
            "5 internal); with --json (any command), also one JSON object on stdout:\n"
            "{\"task\": COMMAND, \"error\": MESSAGE, \"exit_code\": N} (per input file where a command has several)\n",
            bundled ? bundled : "(unknown)", bundled && access(bundled, R_OK) == 0 ? "" : " (absent)");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return MM_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return MM_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("mmgpt %s (kernels: %s)\n", MMGPT_VERSION, mm_cpu_kernel_name());
        return MM_EXIT_OK;
    }
    /* --json anywhere among the options: a failure is also one JSON object on stdout,
     * {"task": COMMAND, "error": MESSAGE, "exit_code": N}, unless the command printed its own (per input) */
    const bool json = mm_opt_wants_json(argc, argv);
    int        code;
    if (mm_cli_dist_start(&argc, &argv, &code)) return code; /* mpirun: a worker rank (dist_cli.c) */
    const char *task = NULL;
    code = -1;
    for (size_t i = 0; i < sizeof k_cmds / sizeof k_cmds[0] && code < 0; i++)
        if (!strcmp(argv[1], k_cmds[i].name)) code = mm_cli_dist_end(k_cmds[i].fn(argc - 1, argv + 1)), task = argv[1];
    if (code < 0) code = mm_cli_fail(MM_EXIT_USAGE, "unknown command '%s' (mmgpt --help lists them)", argv[1]);
    if (code != MM_EXIT_OK && json && mm_task_json_errors_printed() == 0)
        mm_task_print_json_error(stdout, NULL, task, NULL, code);
    return code;
}
