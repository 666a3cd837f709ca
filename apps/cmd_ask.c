/* cmd_ask.c - `mmgpt ask FILE QUESTION`: answer a question about a picture or a sound clip (the kind is
 * found from the file's content). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "task_cli.h"

int mm_cmd_ask(int argc, char **argv) {
    mm_task_opts o;
    mm_task_opts_init(&o);
    const char *pos[2] = {NULL, NULL};
    int         n = 0;
    bool        only = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
            printf("usage: mmgpt ask [options] FILE QUESTION\n\n"
                   "Answer QUESTION about FILE, a picture or a sound clip (told apart by their content).\n"
                   "stdout holds only the answer.\n"
                   "example: mmgpt ask photo.png \"how many shapes are there?\"\n\noptions:\n");
            mm_task_print_opts(stdout, MM_OPT_MODEL | MM_OPT_GEN | MM_OPT_OUT);
            return MM_EXIT_OK;
        }
        if (!only && !strcmp(a, "--version")) {
            printf("mmgpt %s\n", mmgpt_version());
            return MM_EXIT_OK;
        }
        if (!only && !strcmp(a, "--")) {
            only = true;
            continue;
        }
        if (!only && a[0] == '-' && a[1] && n < 2) {
            int r = mm_task_parse_opt(&o, MM_OPT_MODEL | MM_OPT_GEN | MM_OPT_OUT, argc, argv, &i);
            if (r > 0) continue;
            mm_task_opts_free(&o);
            if (r < 0) return MM_EXIT_USAGE;
            return mm_cli_fail(MM_EXIT_USAGE, "ask: unknown option '%s' (see mmgpt ask --help)", a);
        }
        if (n == 2) {
            mm_task_opts_free(&o);
            return mm_cli_fail(MM_EXIT_USAGE, "ask: more than FILE and QUESTION given ('%s'; quote the question)", a);
        }
        pos[n++] = a;
    }
    int code;
    if (n < 2) code = mm_cli_fail(MM_EXIT_USAGE, "ask: needs FILE and QUESTION (see mmgpt ask --help)");
    else code = mm_task_run_files("ask", MMGPT_MEDIA_AUTO, "ask", pos[1], pos, 1, &o);
    mm_task_opts_free(&o);
    return code;
}
