/* cmd_ask.c - `mmgpt ask FILE QUESTION`: answer a question about a picture or a sound clip (the kind is
 * found from the file's content). */
#include "commands.h"
#include "task_cli.h"

static const mm_cmd_spec k_ask = {
    .name = "ask",
    .usage = "[options] FILE QUESTION",
    .about = "Answer QUESTION about FILE (- = stdin), a picture or a sound clip (told apart by their content).\n"
             "stdout holds only the answer (greedy by default).\n"
             "example: mmgpt ask photo.png \"how many shapes are there?\"\n",
    .groups = MM_TASK_GROUPS,
    .min_pos = 2,
    .max_pos = 2,
    .pos_name = "FILE and QUESTION",
    .prompt_help = MM_TASK_PROMPT_HELP,
};

int mm_cmd_ask(int argc, char **argv) {
    mm_task_opts o;
    int          code = mm_cmd_parse(&k_ask, &o, argc, argv);
    if (code == MM_EXIT_OK) code = mm_task_run_files("ask", MMGPT_MEDIA_AUTO, "ask", o.pos[1], o.pos, 1, &o);
    mm_task_opts_free(&o);
    return code == MM_CMD_HELP_DONE ? MM_EXIT_OK : code;
}
