/* The options `run` and `bake` share (docker run's), parsed once for both; the VM's own
 * flags (size, network, snapshots) are cli_vm_option's, which `pool serve` takes too. */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"

enum {
    OPT_RM = 256,
    OPT_NAME,
    OPT_ENTRYPOINT,
    OPT_SNAPSHOT_ON,
    OPT_ENV_FILE,
    OPT_STOP_SIGNAL,
    OPT_STOP_TIMEOUT,
    OPT_RESTART,
    OPT_ADD_HOST,
    OPT_READ_ONLY,
    OPT_TMPFS,
    OPT_LABEL_FILE,
    OPT_PULL,
    OPT_CIDFILE,
    OPT_INIT,
    OPT_PLATFORM,
    OPT_ULIMIT,
    OPT_SHM_SIZE,
    OPT_DNS,
    OPT_DNS_SEARCH,
    OPT_DNS_OPTION,
};

/* docker's --platform: this host's own (a VM runs its kernel on this CPU), in docker's
 * spellings: "linux/amd64" or "amd64" (x86_64 too, a variant "/v2" allowed) here. */
static bool platform_is_ours(const char *p)
{
#if defined(__x86_64__)
    static const char *const names[] = {"amd64", "x86_64"};
#elif defined(__aarch64__)
    static const char *const names[] = {"arm64", "aarch64"};
#else
    static const char *const names[] = {""};
#endif
    if (strncmp(p, "linux/", 6) == 0)
        p += 6;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i]);
        if (n && strncmp(p, names[i], n) == 0 && (p[n] == '\0' || p[n] == '/'))
            return true;
    }
    return false;
}

int cli_run_args_parse(const char *cmd, int argc, char **argv, struct cli_run_args *a)
{
    static const struct option longopts[] = {
        {"detach", no_argument, NULL, 'd'},
        {"rm", no_argument, NULL, OPT_RM},
        {"name", required_argument, NULL, OPT_NAME},
        {"env", required_argument, NULL, 'e'},
        {"env-file", required_argument, NULL, OPT_ENV_FILE},
        {"hostname", required_argument, NULL, 'h'},
        {"workdir", required_argument, NULL, 'w'},
        {"user", required_argument, NULL, 'u'},
        {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
        {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},
        {"snapshot-on", required_argument, NULL, OPT_SNAPSHOT_ON},
        {"publish", required_argument, NULL, 'p'},
        {"publish-all", no_argument, NULL, 'P'},
        {"stop-signal", required_argument, NULL, OPT_STOP_SIGNAL},
        {"stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT},
        {"restart", required_argument, NULL, OPT_RESTART},
        {"add-host", required_argument, NULL, OPT_ADD_HOST},
        {"read-only", no_argument, NULL, OPT_READ_ONLY},
        {"tmpfs", required_argument, NULL, OPT_TMPFS},
        {"label", required_argument, NULL, 'l'},
        {"label-file", required_argument, NULL, OPT_LABEL_FILE},
        {"pull", required_argument, NULL, OPT_PULL},
        {"cidfile", required_argument, NULL, OPT_CIDFILE},
        {"init", no_argument, NULL, OPT_INIT},
        {"platform", required_argument, NULL, OPT_PLATFORM},
        {"ulimit", required_argument, NULL, OPT_ULIMIT},
        {"shm-size", required_argument, NULL, OPT_SHM_SIZE},
        {"dns", required_argument, NULL, OPT_DNS},
        {"dns-search", required_argument, NULL, OPT_DNS_SEARCH},
        {"dns-option", required_argument, NULL, OPT_DNS_OPTION},
        {"dns-opt", required_argument, NULL, OPT_DNS_OPTION}, /* docker's older name */
        CLI_VM_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof(*a));
    struct sm_run_options *o = &a->o;
    *o = (struct sm_run_options){
        .stdin_fd = 0, .stdout_fd = 1, .stderr_fd = 2, .forward_signals = 1};
    size_t npublish = 0, nextra = 0, ntmpfs = 0, nulimits = 0, ndns = 0, nsearch = 0, nopt = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:de:w:u:m:itp:Ph:l:", longopts, NULL)) != -1) {
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
            cli_env_add(&a->env, optarg);
            break;
        case OPT_ENV_FILE:
            if (cli_env_add_file(&a->env, cmd, optarg) < 0)
                return -1;
            break;
        case 'h':
            o->hostname = optarg; /* checked by the library */
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
        case 'i':
            o->interactive = 1;
            break;
        case 't':
            o->tty = 1;
            break;
        case 'p':
            cli_push(&a->publish, &npublish, optarg);
            break;
        case 'P':
            o->publish_all = 1;
            break;
        case OPT_SNAPSHOT_ON:
            o->snapshot_on = optarg; /* checked by the library */
            break;
        case OPT_STOP_SIGNAL:
            o->stop_signal = optarg; /* checked by the library */
            break;
        case OPT_RESTART:
            o->restart = optarg; /* checked by the library */
            break;
        case OPT_STOP_TIMEOUT:
            if (cli_stop_timeout(cmd, "--stop-timeout", optarg, &o->stop_timeout) < 0)
                return -1;
            o->stop_timeout_set = 1;
            break;
        case OPT_ADD_HOST:
            cli_push(&a->extra_hosts, &nextra, optarg); /* checked by the library */
            break;
        case OPT_READ_ONLY:
            o->read_only = 1;
            break;
        case OPT_TMPFS:
            cli_push(&a->tmpfs, &ntmpfs, optarg); /* checked by the library */
            break;
        case 'l':
            cli_push(&a->labels.list, &a->labels.n, optarg); /* checked by the library */
            break;
        case OPT_DNS: /* these three checked by the library */
            cli_push(&a->dns, &ndns, optarg);
            break;
        case OPT_DNS_SEARCH:
            cli_push(&a->dns_search, &nsearch, optarg);
            break;
        case OPT_DNS_OPTION:
            cli_push(&a->dns_options, &nopt, optarg);
            break;
        case OPT_ULIMIT:
            cli_push(&a->ulimits, &nulimits, optarg); /* checked by the library */
            break;
        case OPT_SHM_SIZE:
            if (sm_parse_size(optarg, &o->shm_size) < 0 || o->shm_size < 4096)
                return cli_usage_error("%s: --shm-size %s: want a size of 4k or more (64m, 1g)",
                                       cmd, optarg),
                       -1;
            break;
        case OPT_PULL:
            o->pull = optarg; /* checked by the library */
            break;
        case OPT_CIDFILE:
            o->cidfile = optarg;
            break;
        case OPT_INIT:
            /* sm-init is always PID 1 and reaps orphans; the command never is PID 1. */
            break;
        case OPT_PLATFORM:
            if (!platform_is_ours(optarg))
                return cli_usage_error("%s: --platform %s: this host runs only its own "
                                       "platform's images in a VM (no emulation)",
                                       cmd, optarg),
                       -1;
            break;
        case OPT_LABEL_FILE:
            if (cli_kv_add_file(&a->labels, cmd, "--label-file", optarg, false) < 0)
                return -1;
            break;
        default:
            switch (cli_vm_option(cmd, c, optarg, o, &a->lists)) {
            case 1:
                break;
            case 0:
                return cli_option_error(cmd, c, argv), -1;
            default:
                return -1;
            }
        }
    }
    if (optind >= argc)
        return cli_usage_error("%s: no image given; see 'supermachine %s --help'", cmd, cmd), -1;
    o->image = argv[optind++];
    if (optind < argc)
        o->cmd = (const char *const *)&argv[optind];
    o->env = a->env.list;
    o->publish = a->publish;
    o->extra_hosts = a->extra_hosts;
    o->tmpfs = a->tmpfs;
    o->labels = a->labels.list;
    o->ulimits = a->ulimits;
    o->dns = a->dns;
    o->dns_search = a->dns_search;
    o->dns_options = a->dns_options;
    return 0;
}

void cli_run_args_free(struct cli_run_args *a)
{
    cli_env_free(&a->env);
    free(a->publish);
    free(a->extra_hosts);
    free(a->tmpfs);
    free(a->ulimits);
    free(a->dns);
    free(a->dns_search);
    free(a->dns_options);
    cli_env_free(&a->labels);
    free(a->lists.allow);
    free(a->lists.deny);
}
