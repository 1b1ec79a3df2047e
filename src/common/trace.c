#include "common/trace.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Process-wide by nature: the one trace file of this process, opened once. */
static pthread_once_t trace_once = PTHREAD_ONCE_INIT;
static int trace_fd = -1;

static void trace_open(void)
{
    const char *path = getenv("SUPERMACHINE_TRACE");
    if (path && *path)
        trace_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

void sm_trace_init(void)
{
    pthread_once(&trace_once, trace_open);
}

int sm_trace_fd(void)
{
    return trace_fd;
}

void sm_trace(const char *fmt, ...)
{
    sm_trace_init();
    if (trace_fd < 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char line[256];
    int n = snprintf(line, sizeof(line), "%lld %d ",
                     (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    size_t len =
        (size_t)n +
        ((size_t)m < sizeof(line) - (size_t)n - 1 ? (size_t)m : sizeof(line) - (size_t)n - 2);
    line[len++] = '\n';
    /* One write per line: O_APPEND keeps the processes' lines whole. */
    ssize_t ignored = write(trace_fd, line, len);
    (void)ignored;
}
