/* supermachine kill: a signal to each VM's main process, as docker kill. */
#include <getopt.h>
#include <signal.h>

#include "cli/commands.h"

void cmd_kill_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine kill [-s SIGNAL] VM [VM...]\n\n"
                 "Sends a signal (default SIGKILL) to each VM's main process. The VM ends\n"
                 "when its main process does.\n\n"
                 "  -s, --signal SIGNAL  name (TERM, SIGTERM, RTMIN+3) or number\n");
}

int cmd_kill(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"signal", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    int sig = SIGKILL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:s:", longopts, NULL)) != -1) {
        if (c != 's')
            return cli_option_error("kill", c, argv);
        sm_error_t err = NULL;
        if (sm_parse_signal(optarg, &sig, &err) < 0)
            return cli_fail(&err);
    }
    if (optind >= argc)
        return cli_usage_error("kill: no VM given; see 'supermachine kill --help'");
    int status = 0;
    for (int i = optind; i < argc; i++) {
        sm_error_t err = NULL;
        if (sm_vm_kill(argv[i], sig, &err) < 0)
            status = cli_fail(&err);
        else
            printf("%s\n", argv[i]);
    }
    return status;
}
