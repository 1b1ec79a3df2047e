/* supermachine run: docker's `run`, each container a microVM. */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"

void cmd_run_usage(FILE *out)
{
    fprintf(out,
            "Usage: supermachine run [OPTIONS] IMAGE [COMMAND [ARG...]]\n\n"
            "Runs an image's Entrypoint + Cmd (or COMMAND) in a new microVM with its own\n"
            "kernel. The first run of an image bakes a snapshot of the booted guest; later\n"
            "runs restore it. The exit status is the command's own (125: supermachine's\n"
            "error, 126: not executable, 127: not found).\n\n"
            "  -d, --detach           run in the background and print the VM's id\n"
            "      --rm               remove the VM when it ends\n"
            "      --name NAME        name the VM (default: generated)\n"
            "  -e, --env K=V          set an environment variable (K alone: take it from here)\n"
            "  -w, --workdir DIR      working directory of the command\n"
            "  -u, --user USER[:GROUP]  user to run as (name or uid)\n"
            "      --entrypoint CMD   replace the image's entrypoint (\"\" clears it)\n"
            "  -m, --memory SIZE      guest memory, e.g. 512m or 1g (default 512m)\n"
            "      --cpus N           virtual CPUs (a fraction rounds up; default 1)\n"
            "  -i, --interactive      keep stdin open\n"
            "  -t, --tty              give the command a terminal\n"
            "      --no-snapshot      boot from scratch: neither use nor bake a snapshot\n\n"
            "Network (docs/networking.md): by default the VM has a user-mode network of its\n"
            "own: it is 10.0.2.15, its gateway 10.0.2.2, its DNS 10.0.2.3 (this host's\n"
            "resolvers); it reaches the outside but not this host's loopback nor\n"
            "link-local addresses (cloud metadata).\n"
            "  -p, --publish [IP:][HOSTPORT:]GUESTPORT[/tcp|/udp]\n"
            "                         publish a guest port on the host (IP: 0.0.0.0 unless\n"
            "                         given; HOSTPORT: any free one unless given)\n"
            "      --network MODE     user (the default) or none (loopback only)\n"
            "      --allow-host-loopback\n"
            "                         let the guest reach this host's loopback at 10.0.2.2\n"
            "                         (and fd00::2), and link-local addresses\n"
            "      --egress-allow RULE  if given, only these destinations: CIDR[:PORT[-PORT]]\n"
            "                         [/tcp|/udp], e.g. 10.0.0.0/8, 0.0.0.0/0:443/tcp,\n"
            "                         [2001:db8::/32]:53 (repeatable)\n"
            "      --egress-deny RULE   refuse these destinations (repeatable; wins over allow)\n");
}

enum {
    OPT_RM = 256,
    OPT_NAME,
    OPT_ENTRYPOINT,
};

int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"detach", no_argument, NULL, 'd'},
        {"rm", no_argument, NULL, OPT_RM},
        {"name", required_argument, NULL, OPT_NAME},
        {"env", required_argument, NULL, 'e'},
        {"workdir", required_argument, NULL, 'w'},
        {"user", required_argument, NULL, 'u'},
        {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
        {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},
        {"publish", required_argument, NULL, 'p'},
        CLI_VM_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct sm_run_options o = {
        .stdin_fd = 0, .stdout_fd = 1, .stderr_fd = 2, .forward_signals = 1};
    const char **env = NULL, *entry[2] = {NULL, NULL};
    const char **publish = NULL;
    struct cli_vm_lists lists = {0};
    size_t nenv = 0, npublish = 0;
    int c, status = 125;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+de:w:u:m:itp:", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.detach = 1;
            break;
        case OPT_RM:
            o.auto_remove = 1;
            break;
        case OPT_NAME:
            o.name = optarg;
            break;
        case 'e':
            if (strchr(optarg, '=')) {
                cli_push(&env, &nenv, optarg);
            } else if (getenv(optarg)) {
                /* As docker: a bare name passes this environment's value through. */
                char *kv = NULL;
                if (asprintf(&kv, "%s=%s", optarg, getenv(optarg)) < 0)
                    abort();
                cli_push(&env, &nenv, kv);
            }
            break;
        case 'w':
            o.workdir = optarg;
            break;
        case 'u':
            o.user = optarg;
            break;
        case OPT_ENTRYPOINT:
            entry[0] = *optarg ? optarg : NULL;
            o.entrypoint = entry;
            break;
        case 'i':
            o.interactive = 1;
            break;
        case 't':
            o.tty = 1;
            break;
        case 'p':
            cli_push(&publish, &npublish, optarg);
            break;
        default:
            switch (cli_vm_option("run", c, optarg, &o, &lists)) {
            case 1:
                break;
            case 0:
                return cli_usage_error("run: see 'supermachine run --help'");
            default:
                return 125;
            }
        }
    }
    if (optind >= argc)
        return cli_usage_error("run: no image given; see 'supermachine run --help'");
    o.image = argv[optind++];
    if (optind < argc)
        o.cmd = (const char *const *)&argv[optind];
    o.env = env;
    o.publish = publish;
    if (o.tty && !isatty(0) && o.interactive)
        return cli_usage_error("run: -t: the input device is not a TTY");
    if (o.detach && (o.interactive || o.tty)) {
        /* Nothing would be attached to them: refuse rather than silently ignore. */
        return cli_usage_error("run: -d cannot be combined with -i or -t");
    }
    if (!o.interactive)
        o.stdin_fd = -1;
    sm_error_t err = NULL;
    char *id = NULL;
    if (sm_run(&o, &id, &status, &err) < 0)
        status = cli_fail(&err);
    else if (o.detach)
        printf("%s\n", id);
    free(id);
    free(env);
    free(publish);
    free(lists.allow);
    free(lists.deny);
    return status;
}
