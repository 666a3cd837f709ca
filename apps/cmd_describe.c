/* cmd_describe.c - `mmgpt describe AUDIO...`: one description per sound clip (shared body in task_cli.c). */
#include "commands.h"
#include "task_cli.h"

static const mm_cmd_spec k_describe = {
    .name = "describe",
    .usage = "[options] AUDIO...",
    .about = "Describe each sound clip (WAV, FLAC, Ogg Vorbis/Opus, AIFF, MP3, ...) in one line of text.\n"
             "With one file, stdout holds only the text; with several, one line per file:\n"
             "\"FILE: text\". --json prints one JSON object per file instead. Answers are greedy by default.\n"
             "example: mmgpt describe clip.wav\n",
    .groups = MM_OPT_MODEL | MM_OPT_TEMPLATE | MM_OPT_PROMPT | MM_OPT_GEN | MM_OPT_OUT,
    .min_pos = 1,
    .max_pos = -1,
    .pos_name = "AUDIO file",
    .prompt_help = "replaces the task's text (the file goes where <__media__> is in it, or first)",
};

int mm_cmd_describe(int argc, char **argv) {
    mm_task_opts o;
    int          code = mm_cmd_parse(&k_describe, &o, argc, argv);
    if (code == MM_EXIT_OK) code = mm_task_run_files("describe", MMGPT_MEDIA_AUDIO, "describe", NULL, o.pos, o.n_pos, &o);
    mm_task_opts_free(&o);
    return code == MM_CMD_HELP_DONE ? MM_EXIT_OK : code;
}
