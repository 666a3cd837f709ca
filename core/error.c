/* error.c - error messages returned to callers (never printed, never exit()). */
#include <stdarg.h>
#include <stdio.h>

#include "mm_core.h"

int mm_err(char *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, MM_ERR_SIZE, fmt, ap);
        va_end(ap);
    }
    return -1;
}
