/* supermachine exec: run another command in a running VM, as docker exec. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"

void cmd_exec_usage(FILE *out)
{
    fprintf(out,
            "Usage: supermachine exec [OPTIONS] VM COMMAND [ARG...]\n\n"
            "Runs a command in a running VM; the exit status is the command's.\n\n"
            "  -i, --interactive      keep stdin open\n"
            "  -t, --tty              give the command a terminal\n"
            "  -e, --env K=V          set an environment variable (K alone: take it from here)\n"
            "  -w, --workdir DIR      working directory\n"
            "  -u, --user USER[:GROUP]  user to run as\n");
}

static void free_env(const char **env, char **owned, size_t nowned)
{
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    free(env);
}

int cmd_exec(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"interactive", no_argument, NULL, 'i'}, {"tty", no_argument, NULL, 't'},
        {"env", required_argument, NULL, 'e'},   {"workdir", required_argument, NULL, 'w'},
        {"user", required_argument, NULL, 'u'},  {NULL, 0, NULL, 0},
    };
    struct sm_exec_options o = {
        .stdin_fd = -1, .stdout_fd = 1, .stderr_fd = 2, .forward_signals = 1};
    const char **env = calloc(argc + 1, sizeof(char *));
    char **owned = calloc(argc + 1, sizeof(char *)); /* the "K=V" made for bare names */
    size_t nenv = 0, nowned = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+ite:w:u:", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            o.interactive = 1;
            o.stdin_fd = 0;
            break;
        case 't':
            o.tty = 1;
            break;
        case 'e': {
            char *made;
            const char *kv = cli_env_arg(optarg, &made);
            if (kv)
                env[nenv++] = kv;
            if (made)
                owned[nowned++] = made;
            break;
        }
        case 'w':
            o.workdir = optarg;
            break;
        case 'u':
            o.user = optarg;
            break;
        default:
            free_env(env, owned, nowned);
            return cli_usage_error("exec: see 'supermachine exec --help'");
        }
    }
    if (argc - optind < 2) {
        free_env(env, owned, nowned);
        return cli_usage_error("exec: want a VM and a command; see 'supermachine exec --help'");
    }
    if (o.tty && o.interactive && !isatty(0)) {
        free_env(env, owned, nowned);
        return cli_usage_error("exec: -t: the input device is not a TTY");
    }
    o.env = env;
    o.argv = (const char *const *)&argv[optind + 1];
    int status = 0;
    sm_error_t err = NULL;
    if (sm_vm_exec(argv[optind], &o, &status, &err) < 0)
        status = cli_fail(&err);
    free_env(env, owned, nowned);
    return status;
}
