/* cli.c - shared helpers of the mmgpt program. */
#include "cli.h"

#include "mm_fusion.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char last_error[1024];
static bool silent;

int mm_cli_fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    if (!silent) fprintf(stderr, "mmgpt: %s\n", last_error);
    return code;
}

void mm_cli_silence(void) { silent = true; }

const char *mm_cli_last_error(void) { return last_error; }

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

static bool parse_float(const char *s, double *v) {
    char *end = NULL;
    errno = 0;
    *v = strtod(s, &end);
    return !errno && end != s && !*end && isfinite(*v);
}

bool mm_cli_float(const char *opt, const char *s, double min, double max, double *out) {
    double v;
    if (!parse_float(s, &v) || v < min || v > max) {
        mm_cli_fail(MM_EXIT_USAGE, "%s: '%s' is not a number in [%g, %g]", opt, s, min, max);
        return false;
    }
    *out = v;
    return true;
}

bool mm_cli_u64(const char *opt, const char *s, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    const bool         hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');  /* else decimal, a leading 0 too */
    const char        *d = hex ? s + 2 : s; /* a digit first: strtoull would take a sign or spaces */
    unsigned long long v = isxdigit((unsigned char)d[0]) ? strtoull(d, &end, hex ? 16 : 10) : 0;
    if (end == d) end = (char *)s;
    if (errno || !end || end == s || *end) {
        mm_cli_fail(MM_EXIT_USAGE, "%s: '%s' is not an integer in [0, %llu] (decimal or 0x hex)", opt, s,
                    (unsigned long long)UINT64_MAX);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

bool mm_cli_stop_string(const char *opt, const char *s) {
    size_t n = strlen(s);
    if (n == 0) {
        mm_cli_fail(MM_EXIT_USAGE, "%s: the stop string is empty", opt);
        return false;
    }
    if (!mm_utf8_valid(s, n)) {
        mm_cli_fail(MM_EXIT_USAGE, "%s: the stop string is not valid UTF-8", opt);
        return false;
    }
    return true;
}

bool mm_cli_threads(const char *opt, const char *s, long *out) { return mm_cli_int(opt, s, 1, MM_POOL_MAX_THREADS, out); }

char *mm_cli_read_bytes(const char *path, size_t max, const char *what, size_t *len, int *code) {
    bool  std_in = !strcmp(path, "-");
    FILE *f = std_in ? stdin : fopen(path, "rb");
    if (!f) return *code = mm_cli_fail(MM_EXIT_INPUT, "%s: %s", path, strerror(errno)), NULL;
    size_t cap = 4096, n = 0;
    char  *buf = malloc(cap + 1);
    while (buf) {
        size_t want = cap - n < max + 1 - n ? cap - n : max + 1 - n; /* one byte over max tells it is longer */
        size_t k = fread(buf + n, 1, want, f);
        n += k;
        if (k < want) break;
        if (n > max) break;
        if (n == cap) {
            size_t nc = 2 * cap < max + 1 ? 2 * cap : max + 1;
            char  *nb = realloc(buf, nc + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap = nc;
        }
    }
    int  rerr = ferror(f) ? errno : 0;
    if (!std_in) fclose(f);
    if (!buf) return *code = mm_cli_fail(MM_EXIT_INTERNAL, "out of memory"), NULL;
    if (rerr) {
        free(buf);
        return *code = mm_cli_fail(MM_EXIT_INPUT, "%s: %s", path, strerror(rerr)), NULL;
    }
    if (n > max) {
        free(buf);
        return *code = mm_cli_fail(MM_EXIT_INPUT, "%s: longer than the limit of %zu bytes (%zu KiB) for %s",
                                   std_in ? "stdin" : path, max, max >> 10, what), NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

char *mm_cli_read_text(const char *path, size_t max, int *code) {
    const bool std_in = !strcmp(path, "-");
    size_t     n;
    char      *buf = mm_cli_read_bytes(path, max, "prompt text", &n, code);
    if (!buf) return NULL;
    const char *nul = memchr(buf, 0, n); /* the prompt is a C string: a NUL would end it without a word */
    if (nul) {
        const unsigned char *u = (const unsigned char *)buf;
        const bool u16 = n >= 2 && ((u[0] == 0xff && u[1] == 0xfe) || (u[0] == 0xfe && u[1] == 0xff) || nul - buf <= 1);
        const size_t at = (size_t)(nul - buf);
        free(buf);
        return *code = mm_cli_fail(MM_EXIT_INPUT, "%s: NUL byte at offset %zu: prompt text is UTF-8 without NUL bytes%s",
                                   std_in ? "stdin" : path, at,
                                   u16 ? " (this looks like UTF-16: convert it, e.g. iconv -f UTF-16 -t UTF-8)" : ""),
               NULL;
    }
    return buf;
}

const char *mm_cli_input(const char *path) { return path && !strcmp(path, "-") ? "/dev/stdin" : path; }

long mm_cli_read_line(FILE *f, char *buf, size_t max) {
    size_t n = 0;
    bool   over = false;
    int    c;
    while ((c = getc(f)) != EOF && c != '\n') {
        if (n < max) buf[n++] = (char)c;
        else over = true;
    }
    buf[n] = 0;
    if (c == EOF && n == 0 && !over) return -1;
    return over ? -2 : (long)n;
}

char *mm_cli_utf8(const char *s) { return mm_utf8_sanitize(s, strlen(s), NULL); }

const char *mm_cli_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        mm_cli_fail(MM_EXIT_USAGE, "option %s needs a value (see --help)", argv[*i]);
        return NULL;
    }
    return argv[++*i];
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
