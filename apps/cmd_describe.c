/* cmd_describe.c - `mmgpt describe AUDIO...`: one description per sound clip (shared body in task_cli.c). */
#include "commands.h"
#include "task_cli.h"

static const mm_cmd_spec k_describe = {
    .name = "describe",
    .usage = "[options] AUDIO...",
    .about = "Describe each sound clip (WAV, FLAC, Ogg Vorbis/Opus, AIFF, MP3, ...) in one line of text.\n"
             MM_TASK_FILES_ABOUT
             "example: mmgpt describe clip.wav\n",
    .groups = MM_TASK_GROUPS & ~MM_OPT_PICTURES, /* sound clips only: no --max-tiles */
    .min_pos = 1,
    .max_pos = -1,
    .pos_name = "AUDIO file",
    .prompt_help = MM_TASK_PROMPT_HELP,
};

int mm_cmd_describe(int argc, char **argv) {
    mm_task_opts o;
    int          code = mm_cmd_parse(&k_describe, &o, argc, argv);
    if (code == MM_EXIT_OK) code = mm_task_run_files("describe", MMGPT_MEDIA_AUDIO, "describe", NULL, o.pos, o.n_pos, &o);
    mm_task_opts_free(&o);
    return code == MM_CMD_HELP_DONE ? MM_EXIT_OK : code;
}
