/* cmd_caption.c - `mmgpt caption IMAGE...`: one caption per picture (shared body in task_cli.c). */
#include "commands.h"
#include "task_cli.h"

static const mm_cmd_spec k_caption = {
    .name = "caption",
    .usage = "[options] IMAGE...",
    .about = "Describe each picture (JPEG, PNG, BMP, GIF, TGA, PSD, HDR, PNM) in one line of text.\n"
             "With one file, stdout holds only the text; with several, one line per file:\n"
             "\"FILE: text\". --json prints one JSON object per file instead. Answers are greedy by default.\n"
             "example: mmgpt caption photo.jpg\n",
    .groups = MM_OPT_MODEL | MM_OPT_TEMPLATE | MM_OPT_PROMPT | MM_OPT_GEN | MM_OPT_OUT,
    .min_pos = 1,
    .max_pos = -1,
    .pos_name = "IMAGE",
    .prompt_help = "replaces the task's text (the file goes where <__media__> is in it, or first)",
};

int mm_cmd_caption(int argc, char **argv) {
    mm_task_opts o;
    int          code = mm_cmd_parse(&k_caption, &o, argc, argv);
    if (code == MM_EXIT_OK) code = mm_task_run_files("caption", MMGPT_MEDIA_IMAGE, "caption", NULL, o.pos, o.n_pos, &o);
    mm_task_opts_free(&o);
    return code == MM_CMD_HELP_DONE ? MM_EXIT_OK : code;
}
