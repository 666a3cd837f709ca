/* file.c - read a whole file or stream into memory, with a cap (see mm_read_file in mm_core.h). */
#include <errno.h>
#include <stdbool.h>
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

/* What the message adds after "over the limit": the cap's name and for what (a picture's cap reads the same
 * from mm_read_file(MM_READ_MAX_IMAGE) and from mm_read_media of a picture). */
#define FOR_PICTURE " for a picture (MM_READ_MAX_IMAGE)"
#define FOR_SOUND                                                                                                 \
    " for a sound read whole (MM_READ_MAX_AUDIO; a sound file named by its path is decoded as it is read instead, " \
    "up to the clip length limit)"

/* The whole of path, at most cap bytes; by_kind: cap (and the words of the message) by what the first
 * MM_SNIFF_BYTES are (mm_read_media). Read in growing chunks, never more than cap + 1 bytes held. */
static int read_whole(const char *path, size_t cap, bool by_kind, void **data, size_t *size, char *err) {
    *data = NULL;
    *size = 0;
    const int kind = mm_path_kind(path, err);
    if (kind < 0) return -1;
    FILE *f = fopen(path, "rb");
    if (!f) return mm_err(err, "%s: %s", path, strerror(errno));
    unsigned char head[MM_SNIFF_BYTES];
    size_t n = 0;
    const char *what = cap == MM_READ_MAX_IMAGE ? FOR_PICTURE : cap == MM_READ_MAX ? " (MM_READ_MAX)" : "";
    if (by_kind) { /* fread blocks until the bytes are there or the input ends, also on a pipe */
        n = fread(head, 1, sizeof head, f);
        const mm_format fm = mm_sniff(head, n);
        cap = mm_format_is_image(fm) ? MM_READ_MAX_IMAGE : mm_format_is_audio(fm) ? MM_READ_MAX_AUDIO : MM_READ_MAX;
        what = mm_format_is_image(fm) ? FOR_PICTURE : mm_format_is_audio(fm) ? FOR_SOUND : " (MM_READ_MAX)";
    }
    size_t have = 65536;
    struct stat st;
    if (kind == MM_PATH_FILE && fstat(fileno(f), &st) == 0) {
        if ((unsigned long long)st.st_size > cap) {
            fclose(f);
            return mm_err(err, "%s: file of %lld bytes is over the limit of %zu bytes (%zu MiB)%s", path,
                          (long long)st.st_size, cap, cap >> 20, what);
        }
        have = (size_t)st.st_size + 1; /* one read to EOF when the size is right */
    }
    if (have < n + 1) have = n + 1;
    if (have > cap + 1) have = cap + 1;
    unsigned char *buf = malloc(have + 1);
    if (buf && n) memcpy(buf, head, n);
    for (;;) {
        if (!buf) {
            fclose(f);
            return mm_err(err, "%s: out of memory (%zu bytes)", path, have);
        }
        n += fread(buf + n, 1, have - n, f);
        if (n > cap) {
            free(buf);
            fclose(f);
            return mm_err(err, "%s: more than %zu bytes (%zu MiB) of input, over the limit%s", path, cap, cap >> 20,
                          what);
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

int mm_read_file(const char *path, size_t cap, void **data, size_t *size, char *err) {
    return read_whole(path, cap, false, data, size, err);
}

int mm_read_media(const char *path, void **data, size_t *size, char *err) {
    return read_whole(path, MM_READ_MAX, true, data, size, err);
}
