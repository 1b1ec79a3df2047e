/* supermachine logs: a VM's main process output, as docker logs. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

void cmd_logs_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine logs [-f] [-n N] VM\n\n"
                 "Prints what the VM's main process wrote (stdout and stderr) when it runs\n"
                 "detached (-d).\n\n"
                 "  -f, --follow     then print its new output as it comes, until the VM stops\n"
                 "  -n, --tail N     begin with only the last N lines (default: all)\n");
}

int cmd_logs(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"follow", no_argument, NULL, 'f'},
        {"tail", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    struct sm_logs_options o = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:fn:", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            o.follow = 1;
            break;
        case 'n': {
            if (strcmp(optarg, "all") == 0) {
                o.tail = 0;
                break;
            }
            char *end;
            errno = 0;
            unsigned long long n = strtoull(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end || errno)
                return cli_usage_error("logs: --tail %s: want a number of lines or 'all'", optarg);
            o.tail = 1;
            o.tail_lines = n;
            break;
        }
        default:
            return cli_option_error("logs", c, argv);
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("logs: want exactly one VM; see 'supermachine logs --help'");
    sm_error_t err = NULL;
    fflush(stdout);
    if (sm_vm_logs_with(argv[optind], 1, &o, &err) < 0)
        return cli_fail(&err);
    return 0;
}
