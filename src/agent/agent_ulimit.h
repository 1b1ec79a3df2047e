/* docker's --ulimit NAME=SOFT[:HARD]: resource limits the guest's agent sets on every
 * process of the VM (the main one and each exec's) before it runs, sent in each EXEC
 * request ("ulimits": docs/protocol.md). The host checks what the user gives, the guest
 * what it receives, both here. */
#ifndef SM_AGENT_ULIMIT_H
#define SM_AGENT_ULIMIT_H

#include <stddef.h>
#include <sys/resource.h>

#define AGENT_ULIMITS_MAX 16 /* one per resource docker knows */

struct agent_ulimit {
    int resource; /* RLIMIT_* */
    struct rlimit limit;
};

/* NAME is docker's: core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile,
 * nproc, rss, rtprio, rttime, sigpending, stack. SOFT and HARD are numbers, -1 for
 * unlimited; HARD is SOFT when left out, and SOFT may not be above it. 0, or -1 with why
 * (may be NULL) saying what is wrong. */
int agent_ulimit_parse(const char *spec, struct agent_ulimit *u, char *why, size_t whylen);

#endif
