/* docker's --restart for a detached run (run_restart.c): the policy as the user wrote it,
 * and when the monitor starts the main process again. */
#ifndef SM_RUNTIME_RUN_RESTART_H
#define SM_RUNTIME_RUN_RESTART_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

enum run_restart_kind {
    RUN_RESTART_NO,
    RUN_RESTART_ON_FAILURE,
    RUN_RESTART_ALWAYS,
    RUN_RESTART_UNLESS_STOPPED,
};

struct run_restart {
    enum run_restart_kind kind;
    unsigned max_retries; /* on-failure's; 0: no limit */
};

/* "no", "on-failure", "on-failure:N" (N 0 to 1000000), "always", "unless-stopped"; NULL
 * is "no". 0, or -1 with what is wrong. */
int run_restart_parse(const char *spec, struct run_restart *out, sm_error_t *err);
/* Whether a main process that ended with status, after restarts restarts so far, is
 * started again. */
bool run_restart_wanted(const struct run_restart *r, int status, unsigned restarts);
/* How long to wait before the next start: 100 ms doubled after each restart up to a
 * minute; ran_ms (how long the last one ran) of 10 s or more starts over at 100 ms.
 * *delay_ms holds the last delay (0 before the first restart). */
unsigned run_restart_delay_ms(unsigned *delay_ms, uint64_t ran_ms);
/* docker's HostConfig.RestartPolicy.Name ("no", "on-failure", ...). */
const char *run_restart_name(const struct run_restart *r);

#endif
