/* sampling_cli.c - --repeat-penalty, --repeat-last-n, --presence-penalty, --frequency-penalty, --min-p. */
#include "sampling_cli.h"

#include <string.h>

#include "cli.h"

int mm_sampling_parse_opt(mmgpt_gen_params *g, int argc, char **argv, int *i) {
    const struct {
        const char *name;
        double      lo, hi;
        float      *dst;
    } fl[] = {{"--repeat-penalty", 0.01, 10.0, &g->repeat_penalty},
              {"--presence-penalty", -10.0, 10.0, &g->presence_penalty},
              {"--frequency-penalty", -10.0, 10.0, &g->frequency_penalty},
              {"--min-p", 0.0, 1.0, &g->min_p}};
    const char *a = argv[*i], *v;
    if (!strcmp(a, "--repeat-last-n")) {
        long l;
        if (!(v = mm_cli_value(argc, argv, i)) || !mm_cli_int(a, v, -1, 1048576, &l)) return -1;
        g->repeat_last_n = (int)l;
        return 1;
    }
    for (size_t k = 0; k < sizeof fl / sizeof fl[0]; k++) {
        if (strcmp(a, fl[k].name)) continue;
        double d;
        if (!(v = mm_cli_value(argc, argv, i)) || !mm_cli_float(a, v, fl[k].lo, fl[k].hi, &d)) return -1;
        *fl[k].dst = (float)d;
        return 1;
    }
    return 0;
}

void mm_sampling_print_opts(FILE *f, int column) {
    static const char *const lines[][2] = {
        {"--repeat-penalty R", "divide the positive, multiply the negative logits of the tokens in"},
        {"", "the window by R, in [0.01, 10] (default 1 = off)"},
        {"--repeat-last-n N", "the penalties' window: the last N tokens of the conversation, prompt"},
        {"", "included, in [-1, 1048576] (default 64; 0 = off, -1 = the context)"},
        {"--presence-penalty P", "subtract P from the logits of the tokens in the window, in [-10, 10]"},
        {"", "(default 0 = off)"},
        {"--frequency-penalty F", "subtract F per occurrence in the window, in [-10, 10] (default 0)"},
        {"--min-p P", "keep the tokens with p >= P * p_max, in [0, 1] (default 0.05; 0 = off)"},
    };
    for (size_t k = 0; k < sizeof lines / sizeof lines[0]; k++)
        fprintf(f, "  %-*s %s\n", column - 3, lines[k][0], lines[k][1]);
}
