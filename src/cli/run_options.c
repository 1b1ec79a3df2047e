/* The options `run` and `bake` share (docker run's), parsed once for both. */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"

enum {
    OPT_RM = 256,
    OPT_NAME,
    OPT_ENTRYPOINT,
    OPT_CPUS,
    OPT_NETWORK,
    OPT_NO_SNAPSHOT,
    OPT_SNAPSHOT_ON,
    OPT_ALLOW_HOST_LOOPBACK,
    OPT_EGRESS_ALLOW,
    OPT_EGRESS_DENY,
};

static void push(const char ***v, size_t *n, const char *s)
{
    *v = realloc(*v, (*n + 2) * sizeof(char *));
    if (*v == NULL)
        abort();
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

int cli_run_args_parse(const char *cmd, int argc, char **argv, struct cli_run_args *a)
{
    static const struct option longopts[] = {
        {"detach", no_argument, NULL, 'd'},
        {"rm", no_argument, NULL, OPT_RM},
        {"name", required_argument, NULL, OPT_NAME},
        {"env", required_argument, NULL, 'e'},
        {"workdir", required_argument, NULL, 'w'},
        {"user", required_argument, NULL, 'u'},
        {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
        {"memory", required_argument, NULL, 'm'},
        {"cpus", required_argument, NULL, OPT_CPUS},
        {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},
        {"network", required_argument, NULL, OPT_NETWORK},
        {"no-snapshot", no_argument, NULL, OPT_NO_SNAPSHOT},
        {"snapshot-on", required_argument, NULL, OPT_SNAPSHOT_ON},
        {"publish", required_argument, NULL, 'p'},
        {"allow-host-loopback", no_argument, NULL, OPT_ALLOW_HOST_LOOPBACK},
        {"egress-allow", required_argument, NULL, OPT_EGRESS_ALLOW},
        {"egress-deny", required_argument, NULL, OPT_EGRESS_DENY},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof(*a));
    struct sm_run_options *o = &a->o;
    *o = (struct sm_run_options){
        .stdin_fd = 0, .stdout_fd = 1, .stderr_fd = 2, .forward_signals = 1};
    size_t nenv = 0, npublish = 0, nallow = 0, ndeny = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+de:w:u:m:itp:", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->detach = 1;
            break;
        case OPT_RM:
            o->auto_remove = 1;
            break;
        case OPT_NAME:
            o->name = optarg;
            break;
        case 'e':
            if (strchr(optarg, '=')) {
                push(&a->env, &nenv, optarg);
            } else if (getenv(optarg)) {
                /* As docker: a bare name passes this environment's value through. */
                char *kv = NULL;
                if (asprintf(&kv, "%s=%s", optarg, getenv(optarg)) < 0)
                    abort();
                push(&a->env, &nenv, kv);
            }
            break;
        case 'w':
            o->workdir = optarg;
            break;
        case 'u':
            o->user = optarg;
            break;
        case OPT_ENTRYPOINT:
            a->entry[0] = *optarg ? optarg : NULL;
            o->entrypoint = a->entry;
            break;
        case 'm': {
            uint64_t bytes;
            if (sm_parse_size(optarg, &bytes) < 0 || bytes < (64ull << 20))
                return cli_usage_error("%s: --memory %s: want a size of at least 64m, e.g. 512m",
                                       cmd, optarg),
                       -1;
            o->memory_mib = bytes >> 20;
            break;
        }
        case OPT_CPUS: {
            char *end;
            double v = strtod(optarg, &end);
            if (*end || !(v > 0) || v > 64)
                return cli_usage_error("%s: --cpus %s: want a number from 0.01 to 64", cmd, optarg),
                       -1;
            o->cpus = (unsigned)ceil(v);
            break;
        }
        case 'i':
            o->interactive = 1;
            break;
        case 't':
            o->tty = 1;
            break;
        case OPT_NETWORK:
            o->network = optarg; /* checked by the library */
            break;
        case 'p':
            push(&a->publish, &npublish, optarg);
            break;
        case OPT_ALLOW_HOST_LOOPBACK:
            o->allow_host_loopback = 1;
            break;
        case OPT_EGRESS_ALLOW:
            push(&a->allow, &nallow, optarg);
            break;
        case OPT_EGRESS_DENY:
            push(&a->deny, &ndeny, optarg);
            break;
        case OPT_NO_SNAPSHOT:
            o->no_snapshot = 1;
            break;
        case OPT_SNAPSHOT_ON:
            o->snapshot_on = optarg; /* checked by the library */
            break;
        default:
            return cli_usage_error("%s: see 'supermachine %s --help'", cmd, cmd), -1;
        }
    }
    if (optind >= argc)
        return cli_usage_error("%s: no image given; see 'supermachine %s --help'", cmd, cmd), -1;
    o->image = argv[optind++];
    if (optind < argc)
        o->cmd = (const char *const *)&argv[optind];
    o->env = a->env;
    o->publish = a->publish;
    o->egress_allow = a->allow;
    o->egress_deny = a->deny;
    return 0;
}

void cli_run_args_free(struct cli_run_args *a)
{
    free(a->env);
    free(a->publish);
    free(a->allow);
    free(a->deny);
}
