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
            "  -d, --detach           run it in the background (its output is discarded)\n"
            "  -i, --interactive      keep stdin open\n"
            "  -t, --tty              give the command a terminal\n"
            "  -e, --env K=V          set an environment variable (K alone: take it from here)\n"
            "      --env-file FILE    set the variables FILE lists, one K=V (or K) a line\n"
            "  -w, --workdir DIR      working directory\n"
            "  -u, --user USER[:GROUP]  user to run as\n");
}

enum { OPT_ENV_FILE = 256 };

int cmd_exec(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"detach", no_argument, NULL, 'd'},
        {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},
        {"env", required_argument, NULL, 'e'},
        {"workdir", required_argument, NULL, 'w'},
        {"user", required_argument, NULL, 'u'},
        {"env-file", required_argument, NULL, OPT_ENV_FILE},
        {NULL, 0, NULL, 0},
    };
    struct sm_exec_options o = {
        .stdin_fd = -1, .stdout_fd = 1, .stderr_fd = 2, .forward_signals = 1};
    struct cli_env env = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:dite:w:u:", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.detach = 1;
            break;
        case 'i':
            o.interactive = 1;
            o.stdin_fd = 0;
            break;
        case 't':
            o.tty = 1;
            break;
        case 'e':
            cli_env_add(&env, optarg);
            break;
        case OPT_ENV_FILE:
            if (cli_env_add_file(&env, "exec", optarg) < 0) {
                cli_env_free(&env);
                return 125;
            }
            break;
        case 'w':
            o.workdir = optarg;
            break;
        case 'u':
            o.user = optarg;
            break;
        default:
            cli_env_free(&env);
            return cli_option_error("exec", c, argv);
        }
    }
    if (argc - optind < 2) {
        cli_env_free(&env);
        return cli_usage_error("exec: want a VM and a command; see 'supermachine exec --help'");
    }
    if (!o.detach && o.tty && o.interactive && !isatty(0)) {
        cli_env_free(&env);
        return cli_usage_error("exec: -t: the input device is not a TTY");
    }
    o.env = env.list;
    o.argv = (const char *const *)&argv[optind + 1];
    int status = 0;
    sm_error_t err = NULL;
    if (sm_vm_exec(argv[optind], &o, &status, &err) < 0)
        status = cli_fail(&err);
    cli_env_free(&env);
    return status;
}
