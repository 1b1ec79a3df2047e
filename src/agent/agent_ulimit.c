#include "agent/agent_ulimit.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int resource;
} names[] = {
    {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},         {"fsize", RLIMIT_FSIZE},
    {"locks", RLIMIT_LOCKS},       {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},     {"nproc", RLIMIT_NPROC},
    {"rss", RLIMIT_RSS},           {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},
};

/* A limit: digits (at most 20), or -1 for none. */
static int limit_value(const char *s, size_t len, rlim_t *out)
{
    if (len == 2 && strncmp(s, "-1", 2) == 0) {
        *out = RLIM_INFINITY;
        return 0;
    }
    if (len == 0 || len > 20 || strspn(s, "0123456789") < len)
        return -1;
    char buf[24];
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    unsigned long long v = strtoull(buf, NULL, 10);
    if (errno || v >= (unsigned long long)RLIM_INFINITY)
        return -1;
    *out = (rlim_t)v;
    return 0;
}

int agent_ulimit_parse(const char *spec, struct agent_ulimit *u, char *why, size_t whylen)
{
    memset(u, 0, sizeof(*u));
    const char *eq = strchr(spec, '=');
    size_t nlen = eq ? (size_t)(eq - spec) : 0;
    size_t i = 0;
    while (eq && i < sizeof(names) / sizeof(names[0]) &&
           !(strlen(names[i].name) == nlen && strncmp(spec, names[i].name, nlen) == 0))
        i++;
    if (eq == NULL || i == sizeof(names) / sizeof(names[0])) {
        if (why && whylen)
            snprintf(why, whylen,
                     "want NAME=SOFT[:HARD], NAME one of core, cpu, data, fsize, "
                     "locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, "
                     "rttime, sigpending, stack");
        return -1;
    }
    u->resource = names[i].resource;
    const char *v = eq + 1, *colon = strchr(v, ':');
    size_t slen = colon ? (size_t)(colon - v) : strlen(v);
    if (limit_value(v, slen, &u->limit.rlim_cur) < 0 ||
        (colon && limit_value(colon + 1, strlen(colon + 1), &u->limit.rlim_max) < 0)) {
        if (why && whylen)
            snprintf(why, whylen, "the limits must be numbers (or -1, unlimited)");
        return -1;
    }
    if (!colon)
        u->limit.rlim_max = u->limit.rlim_cur;
    if (u->limit.rlim_cur > u->limit.rlim_max) {
        if (why && whylen)
            snprintf(why, whylen, "the soft limit is above the hard one");
        return -1;
    }
    return 0;
}
