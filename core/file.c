/* file.c - read a whole file or stream into memory, with a cap (see mm_read_file in mm_core.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mm_core.h"

int mm_path_kind(const char *path, char *err) {
    struct stat st;
    if (!path) return mm_err(err, "%s: no path", __func__);
    if (stat(path, &st) != 0) return mm_err(err, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return mm_err(err, "%s: is a directory, not a file", path);
    if (S_ISREG(st.st_mode)) return MM_PATH_FILE;
    if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode)) return MM_PATH_STREAM;
    return mm_err(err, "%s: not a regular file, pipe or terminal", path);
}

int mm_read_file(const char *path, size_t cap, void **data, size_t *size, char *err) {
    *data = NULL;
    *size = 0;
    const int kind = mm_path_kind(path, err);
    if (kind < 0) return -1;
    FILE *f = fopen(path, "rb");
    if (!f) return mm_err(err, "%s: %s", path, strerror(errno));
    size_t have = 65536;
    struct stat st;
    if (kind == MM_PATH_FILE && fstat(fileno(f), &st) == 0) {
        if ((unsigned long long)st.st_size > cap) {
            fclose(f);
            return mm_err(err, "%s: file of %lld bytes is over the limit of %zu bytes", path, (long long)st.st_size,
                          cap);
        }
        have = (size_t)st.st_size + 1; /* one read to EOF when the size is right */
    }
    if (have > cap + 1) have = cap + 1;
    unsigned char *buf = malloc(have + 1);
    size_t n = 0;
    for (;;) {
        if (!buf) {
            fclose(f);
            return mm_err(err, "%s: out of memory (%zu bytes)", path, have);
        }
        n += fread(buf + n, 1, have - n, f);
        if (n > cap) {
            free(buf);
            fclose(f);
            return mm_err(err, "%s: more than %zu bytes of input, over the limit", path, cap);
        }
        if (n < have) break; /* EOF or error */
        have = have > cap / 2 ? cap + 1 : have * 2;
        unsigned char *t = realloc(buf, have + 1);
        if (!t) free(buf);
        buf = t;
    }
    const bool bad = ferror(f) != 0;
    const int e = errno;
    fclose(f);
    if (bad) {
        free(buf);
        return mm_err(err, "%s: read error: %s", path, strerror(e));
    }
    buf[n] = 0;
    *data = buf;
    *size = n;
    return 0;
}
