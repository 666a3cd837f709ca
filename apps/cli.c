/* cli.c - shared helpers of the mmgpt program. */
#include "cli.h"

#include "mm_fusion.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

bool mm_cli_chat_template(int argc, char **argv, int *i, const char **name) {
    const char *v = mm_cli_value(argc, argv, i);
    if (!v) return false;
    if (!mm_chat_template_known(v)) {
        mm_cli_fail(MM_EXIT_USAGE, "--chat-template: unknown template '%s' (known: %s)", v, mm_chat_template_names());
        return false;
    }
    *name = v;
    return true;
}

static bool file_exists(const char *p) { return p && access(p, R_OK) == 0; }

#ifndef MMGPT_BIN_TO_DATADIR
#define MMGPT_BIN_TO_DATADIR "../share"   /* <prefix>/bin -> <prefix>/share (GNUInstallDirs defaults) */
#endif
#define MM_BUNDLED_NAME "mmgpt-demo.gguf"

/* The folder this program runs from (/proc/self/exe without its last part), or false. */
static bool exe_dir(char *dir, size_t size) {
    ssize_t n = readlink("/proc/self/exe", dir, size - 1);
    if (n <= 0 || (size_t)n >= size - 1) return false;
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (!slash) return false;
    *slash = '\0';
    if (!dir[0]) strcpy(dir, "/");
    return true;
}

/* True when this program is the uninstalled one of the build tree it was compiled in. */
static bool run_from_build_dir(const char *dir) {
#ifdef MMGPT_BUILD_DIR
    struct stat a, b;
    return stat(dir, &a) == 0 && stat(MMGPT_BUILD_DIR, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
#else
    (void)dir;
    return false;
#endif
}

const char *mm_cli_bundled_model(void) {
    static char path[4096];
    char dir[4096], models[4096];
    if (!exe_dir(dir, sizeof dir)) return NULL;
    int n;
#ifdef MMGPT_SOURCE_DIR
    if (run_from_build_dir(dir))
        n = snprintf(models, sizeof models, "%s/assets/models", MMGPT_SOURCE_DIR);
    else
#endif
        n = snprintf(models, sizeof models, "%s/" MMGPT_BIN_TO_DATADIR "/mmgpt/models", dir);
    if (n < 0 || (size_t)n >= sizeof models) return NULL;
    char real[PATH_MAX];
    const char *base = realpath(models, real) ? real : models;   /* no "bin/../" when the folder exists */
    n = snprintf(path, sizeof path, "%s/" MM_BUNDLED_NAME, base);
    return n < 0 || (size_t)n >= sizeof path ? NULL : path;
}

const char *mm_cli_model_path(const char *explicit_path) {
    if (explicit_path) return explicit_path;
    const char *env = getenv("MMGPT_MODEL");
    if (env && *env) return env;
    const char *bundled = mm_cli_bundled_model();
    if (file_exists(bundled)) return bundled;
    mm_cli_fail(MM_EXIT_MODEL, "no model given and no bundled model at %s: pass -m MODEL.gguf or set MMGPT_MODEL",
                bundled ? bundled : "(this program's location is unknown)");
    return NULL;
}

bool mm_cli_stderr_tty(void) { return isatty(2) == 1; }
