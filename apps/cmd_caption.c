/* cmd_caption.c - `mmgpt caption IMAGE...`: one caption per picture (shared body in task_cli.c). */
#include "commands.h"
#include "task_cli.h"

static const mm_cmd_spec k_caption = {
    .name = "caption",
    .usage = "[options] IMAGE...",
    .about = "Describe each picture (JPEG, PNG, BMP, GIF, TGA, PSD, HDR, PNM) in one line of text.\n"
             MM_TASK_FILES_ABOUT
             "example: mmgpt caption photo.jpg\n",
    .groups = MM_TASK_GROUPS,
    .min_pos = 1,
    .max_pos = -1,
    .pos_name = "IMAGE",
    .prompt_help = MM_TASK_PROMPT_HELP,
};

int mm_cmd_caption(int argc, char **argv) {
    mm_task_opts o;
    int          code = mm_cmd_parse(&k_caption, &o, argc, argv);
    if (code == MM_EXIT_OK) code = mm_task_run_files("caption", MMGPT_MEDIA_IMAGE, "caption", NULL, o.pos, o.n_pos, &o);
    mm_task_opts_free(&o);
    return code == MM_CMD_HELP_DONE ? MM_EXIT_OK : code;
}
