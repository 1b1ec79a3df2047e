/* docker's --restart policies (run_restart.h), as docker's daemon applies them: a failed
 * start is retried with a doubling delay, reset once the process has run a while. */
#include "runtime/run_restart.h"

#include <stdlib.h>
#include <string.h>

#define DELAY_FIRST_MS  100u
#define DELAY_MAX_MS    60000u
#define RAN_LONG_ENOUGH 10000u /* ms: a process that ran this long starts the delays over */

int run_restart_parse(const char *spec, struct run_restart *out, sm_error_t *err)
{
    *out = (struct run_restart){RUN_RESTART_NO, 0};
    if (spec == NULL || strcmp(spec, "no") == 0)
        return 0;
    if (strcmp(spec, "always") == 0) {
        out->kind = RUN_RESTART_ALWAYS;
        return 0;
    }
    if (strcmp(spec, "unless-stopped") == 0) {
        out->kind = RUN_RESTART_UNLESS_STOPPED;
        return 0;
    }
    if (strncmp(spec, "on-failure", 10) == 0 && (spec[10] == '\0' || spec[10] == ':')) {
        out->kind = RUN_RESTART_ON_FAILURE;
        if (spec[10] == '\0')
            return 0;
        const char *n = spec + 11;
        char *end;
        unsigned long v = strtoul(n, &end, 10);
        if (*n >= '0' && *n <= '9' && *end == '\0' && v <= 1000000) {
            out->max_retries = (unsigned)v;
            return 0;
        }
    }
    return sm_error_set(
        err, 0, "--restart %s: want no, on-failure[:MAX-RETRIES], always or unless-stopped", spec);
}

bool run_restart_wanted(const struct run_restart *r, int status, unsigned restarts)
{
    switch (r->kind) {
    case RUN_RESTART_NO:
        return false;
    case RUN_RESTART_ON_FAILURE:
        return status != 0 && (r->max_retries == 0 || restarts < r->max_retries);
    case RUN_RESTART_ALWAYS:
    case RUN_RESTART_UNLESS_STOPPED:
        return true;
    }
    return false;
}

unsigned run_restart_delay_ms(unsigned *delay_ms, uint64_t ran_ms)
{
    if (*delay_ms == 0 || ran_ms >= RAN_LONG_ENOUGH)
        *delay_ms = DELAY_FIRST_MS;
    else
        *delay_ms = *delay_ms * 2 > DELAY_MAX_MS ? DELAY_MAX_MS : *delay_ms * 2;
    return *delay_ms;
}

const char *run_restart_name(const struct run_restart *r)
{
    static const char *const names[] = {"no", "on-failure", "always", "unless-stopped"};
    return names[r->kind];
}
