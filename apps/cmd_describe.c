/* cmd_describe.c - `mmgpt describe AUDIO...`: one description per sound clip. */
#include "commands.h"
#include "task_cli.h"

int mm_task_files_cmd(int argc, char **argv, const char *cmd, mmgpt_media_kind kind, const char *task,
                      const char *what, const char *example);

int mm_cmd_describe(int argc, char **argv) {
    return mm_task_files_cmd(argc, argv, "describe", MMGPT_MEDIA_AUDIO, "describe",
                             "Describe each sound clip (WAV, FLAC, Ogg Vorbis/Opus, AIFF, MP3, ...) in one line of text.",
                             "clip.wav");
}
