/* commands.h - subcommand entry points (declared from commands.def). */
#ifndef MM_COMMANDS_H
#define MM_COMMANDS_H
#include "cli.h"
#define MM_CMD(name, fn, help) int fn(int argc, char **argv);
#include "commands.def"
#undef MM_CMD
#endif
