/* The flags every VM takes (commands.h): `run` and `pool serve` parse them alike. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

void cli_push(const char ***v, size_t *n, const char *s)
{
    *v = realloc(*v, (*n + 2) * sizeof(char *));
    if (*v == NULL)
        abort();
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

int cli_stop_timeout(const char *cmd, const char *opt, const char *arg, int *seconds)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (*arg == '\0' || *end || errno || v < 0 || v > SM_STOP_TIMEOUT_MAX) {
        cli_usage_error("%s: %s %s: want seconds from 0 to %d", cmd, opt, arg, SM_STOP_TIMEOUT_MAX);
        return -1;
    }
    *seconds = (int)v;
    return 0;
}

const char *cli_env_arg(const char *arg, char **made)
{
    *made = NULL;
    if (strchr(arg, '='))
        return arg;
    const char *value = getenv(arg);
    if (value == NULL)
        return NULL;
    if (asprintf(made, "%s=%s", arg, value) < 0)
        abort();
    return *made;
}

int cli_vm_option(const char *cmd, int c, const char *arg, struct sm_run_options *o,
                  struct cli_vm_lists *l)
{
    switch (c) {
    case 'm': {
        uint64_t bytes;
        if (sm_parse_size(arg, &bytes) < 0 || bytes < (64ull << 20)) {
            cli_usage_error("%s: --memory %s: want a size of at least 64m, e.g. 512m", cmd, arg);
            return -1;
        }
        o->memory_mib = bytes >> 20;
        return 1;
    }
    case CLI_OPT_CPUS: {
        char *end;
        double v = strtod(arg, &end);
        if (*end || !(v > 0) || v > 64) {
            cli_usage_error("%s: --cpus %s: want a number from 0.01 to 64", cmd, arg);
            return -1;
        }
        o->cpus = (unsigned)ceil(v);
        return 1;
    }
    case CLI_OPT_NETWORK:
        o->network = arg; /* checked by the library */
        return 1;
    case CLI_OPT_NO_SNAPSHOT:
        o->no_snapshot = 1;
        return 1;
    case CLI_OPT_ALLOW_HOST_LOOPBACK:
        o->allow_host_loopback = 1;
        return 1;
    case CLI_OPT_EGRESS_ALLOW:
        cli_push(&l->allow, &l->nallow, arg);
        o->egress_allow = l->allow;
        return 1;
    case CLI_OPT_EGRESS_DENY:
        cli_push(&l->deny, &l->ndeny, arg);
        o->egress_deny = l->deny;
        return 1;
    default:
        return 0;
    }
}
