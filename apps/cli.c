/* cli.c - shared helpers of the mmgpt program. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int mm_cli_fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("mmgpt: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

bool mm_cli_int(const char *opt, const char *s, long min, long max, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        mm_cli_fail(MM_EXIT_USAGE, "%s: '%s' is not an integer in [%ld, %ld]", opt, s, min, max);
        return false;
    }
    *out = v;
    return true;
}

bool mm_cli_float(const char *opt, const char *s, double min, double max, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max) {
        mm_cli_fail(MM_EXIT_USAGE, "%s: '%s' is not a number in [%g, %g]", opt, s, min, max);
        return false;
    }
    *out = v;
    return true;
}

const char *mm_cli_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        mm_cli_fail(MM_EXIT_USAGE, "option %s needs a value (see --help)", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

static bool file_exists(const char *p) { return p && access(p, R_OK) == 0; }

const char *mm_cli_model_path(const char *explicit_path) {
    static char buf[4096];
    if (explicit_path) return explicit_path;
    const char *env = getenv("MMGPT_MODEL");
    if (env && *env) return env;
    const char *cands[] = {
#ifdef MMGPT_INSTALL_DATADIR
        MMGPT_INSTALL_DATADIR "/mmgpt/models/mmgpt-demo.gguf",
#endif
#ifdef MMGPT_SOURCE_DIR
        MMGPT_SOURCE_DIR "/assets/models/mmgpt-demo.gguf",
#endif
    };
    for (size_t k = 0; k < sizeof cands / sizeof cands[0]; k++) {
        if (file_exists(cands[k])) {
            snprintf(buf, sizeof buf, "%s", cands[k]);
            return buf;
        }
    }
    mm_cli_fail(MM_EXIT_MODEL, "no model given and no bundled model found: pass -m MODEL.gguf or set MMGPT_MODEL");
    return NULL;
}

bool mm_cli_stderr_tty(void) { return isatty(2) == 1; }
