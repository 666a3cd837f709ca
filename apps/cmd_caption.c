/* cmd_caption.c - `mmgpt caption IMAGE...`: one caption per picture (shared body in task_cli.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "task_cli.h"

/* caption and describe differ only in media kind and task text */
int mm_task_files_cmd(int argc, char **argv, const char *cmd, mmgpt_media_kind kind, const char *task,
                      const char *what, const char *example);

int mm_task_files_cmd(int argc, char **argv, const char *cmd, mmgpt_media_kind kind, const char *task,
                      const char *what, const char *example) {
    mm_task_opts o;
    mm_task_opts_init(&o);
    const char **files = calloc((size_t)argc, sizeof *files);
    int          n = 0;
    if (!files) return mm_cli_fail(MM_EXIT_INTERNAL, "out of memory");
    bool only_files = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_files && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
            printf("usage: mmgpt %s [options] %s...\n\n"
                   "%s\nWith one file, stdout holds only the text; with several, one line per file:\n"
                   "\"FILE: text\". --json prints one JSON object per file instead. -p replaces the task's\n"
                   "text (the file goes where <__media__> is in it, or first).\n"
                   "example: mmgpt %s %s\n\noptions:\n",
                   cmd, kind == MMGPT_MEDIA_IMAGE ? "IMAGE" : "AUDIO", what, cmd, example);
            mm_task_print_opts(stdout, MM_OPT_MODEL | MM_OPT_GEN | MM_OPT_OUT);
            free(files);
            return MM_EXIT_OK;
        }
        if (!only_files && !strcmp(a, "--version")) {
            printf("mmgpt %s\n", mmgpt_version());
            free(files);
            return MM_EXIT_OK;
        }
        if (!only_files && !strcmp(a, "--")) {
            only_files = true;
            continue;
        }
        if (!only_files && a[0] == '-' && a[1]) {
            int r = mm_task_parse_opt(&o, MM_OPT_MODEL | MM_OPT_GEN | MM_OPT_OUT, argc, argv, &i);
            if (r > 0) continue;
            free(files);
            mm_task_opts_free(&o);
            if (r < 0) return MM_EXIT_USAGE;
            return mm_cli_fail(MM_EXIT_USAGE, "%s: unknown option '%s' (see mmgpt %s --help)", cmd, a, cmd);
        }
        files[n++] = a;
    }
    int code;
    if (n == 0) code = mm_cli_fail(MM_EXIT_USAGE, "%s: no %s given (see mmgpt %s --help)", cmd,
                                   kind == MMGPT_MEDIA_IMAGE ? "IMAGE" : "AUDIO file", cmd);
    else code = mm_task_run_files(cmd, kind, task, NULL, files, n, &o);
    free(files);
    mm_task_opts_free(&o);
    return code;
}

int mm_cmd_caption(int argc, char **argv) {
    return mm_task_files_cmd(argc, argv, "caption", MMGPT_MEDIA_IMAGE, "caption",
                             "Describe each picture (JPEG, PNG, BMP, GIF, TGA, PSD, HDR, PNM) in one line of text.",
                             "photo.jpg");
}
