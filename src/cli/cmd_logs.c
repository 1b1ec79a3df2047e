/* supermachine logs: a VM's main process output, as docker logs. */
#include <getopt.h>

#include "cli/commands.h"

void cmd_logs_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine logs VM\n\n"
                 "Prints what the VM's main process wrote (stdout and stderr) when it runs\n"
                 "detached (-d).\n");
}

int cmd_logs(int argc, char **argv)
{
    optind = 1;
    if (getopt_long(argc, argv, "+", (const struct option[]){{NULL, 0, NULL, 0}}, NULL) != -1)
        return cli_usage_error("logs: see 'supermachine logs --help'");
    if (optind + 1 != argc)
        return cli_usage_error("logs: want exactly one VM; see 'supermachine logs --help'");
    sm_error_t err = NULL;
    fflush(stdout);
    if (sm_vm_logs(argv[optind], 1, &err) < 0)
        return cli_fail(&err);
    return 0;
}
