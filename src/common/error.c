/* One error convention for the whole library, modelled on crun's: a failing function
 * fills an sm_error_t and returns -1; each caller on the way up may wrap it with its own
 * context, so the message reads from the outermost operation to the root cause. */
#include "common/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *vformat(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort(); /* out of memory while reporting an error: nothing sensible left */
    return s;
}

int sm_error_set(sm_error_t *err, int errno_value, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *what = vformat(fmt, ap);
    va_end(ap);
    char *msg = what;
    if (errno_value != 0) {
        if (asprintf(&msg, "%s: %s", what, strerror(errno_value)) < 0)
            abort();
        free(what);
    }
    sm_error_release(err);
    struct sm_error *e = calloc(1, sizeof(*e));
    if (e == NULL)
        abort();
    e->errno_value = errno_value;
    e->exit_status = 125;
    e->msg = msg;
    *err = e;
    return -1;
}

int sm_error_wrap(sm_error_t *err, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *ctx = vformat(fmt, ap);
    va_end(ap);
    if (*err == NULL) {
        /* Wrapping nothing: keep the context alone rather than losing it. */
        sm_error_set(err, 0, "%s", ctx);
        free(ctx);
        return -1;
    }
    char *msg;
    if (asprintf(&msg, "%s: %s", ctx, (*err)->msg) < 0)
        abort();
    free(ctx);
    free((*err)->msg);
    (*err)->msg = msg;
    return -1;
}

const char *sm_error_message(sm_error_t err)
{
    return err && err->msg ? err->msg : "unknown error";
}

void sm_error_release(sm_error_t *err)
{
    if (err == NULL || *err == NULL)
        return;
    free((*err)->msg);
    free(*err);
    *err = NULL;
}

int sm_error_set_status(sm_error_t *err, int exit_status)
{
    if (err && *err)
        (*err)->exit_status = exit_status;
    return -1;
}
