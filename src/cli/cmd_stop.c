/* supermachine stop: the image's StopSignal (else SIGTERM) to each VM's main process, then stop the
 * VM after a grace period, as docker stop. */
#include <getopt.h>
#include <stdlib.h>

#include "cli/commands.h"

void cmd_stop_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine stop [-t SECONDS] VM [VM...]\n\n"
                 "Sends each VM's main process its image's StopSignal (SIGTERM if it names\n"
                 "none); a VM still running after the grace period (default 10 s) is\n"
                 "stopped outright.\n\n"
                 "  -t, --time SECONDS   grace period\n");
}

int cmd_stop(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"time", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    unsigned grace = 10;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:t:", longopts, NULL)) != -1) {
        if (c != 't')
            return cli_option_error("stop", c, argv);
        char *end;
        long v = strtol(optarg, &end, 10);
        if (*end || v < 0 || v > 86400)
            return cli_usage_error("stop: -t %s: want seconds from 0 to 86400", optarg);
        grace = (unsigned)v;
    }
    if (optind >= argc)
        return cli_usage_error("stop: no VM given; see 'supermachine stop --help'");
    int status = 0;
    for (int i = optind; i < argc; i++) {
        sm_error_t err = NULL;
        if (sm_vm_stop(argv[i], grace, &err) < 0)
            status = cli_fail(&err);
        else
            printf("%s\n", argv[i]);
    }
    return status;
}
