/* sampling_cli.h - the options of llama.cpp's repetition penalties and min-p, shared by every command
 * that samples (generate's own table and task_cli's MM_OPT_GEN group), self-contained so that an
 * option table takes them with one call:
 *   --repeat-penalty R     [0.01, 10]      1 = off (default)
 *   --repeat-last-n N      [-1, 1048576]   window in tokens (default 64; 0 = off, -1 = the context)
 *   --presence-penalty P   [-10, 10]       0 = off (default)
 *   --frequency-penalty F  [-10, 10]       0 = off (default)
 *   --min-p P              [0, 1]          default 0.05; 0 = off
 * The values go into the fields of mmgpt_gen_params of the same names (defaults:
 * mmgpt_gen_default_params, llama.cpp's); the definitions are in include/mm_transformer.h. */
#ifndef MM_SAMPLING_CLI_H
#define MM_SAMPLING_CLI_H

#include <stdio.h>

#include "mmgpt.h"

/* argv[*i] is one of the options: consume it and its value into g and return 1; 0 if it is not one;
 * -1 after printing a usage error that names the option and its range (exit with MM_EXIT_USAGE). */
int  mm_sampling_parse_opt(mmgpt_gen_params *g, int argc, char **argv, int *i);
/* Their --help lines, the descriptions starting at 0-based column `column` (>= 25). */
void mm_sampling_print_opts(FILE *f, int column);

#endif
