/* supermachine wait: block until VMs stop and print their exit codes, as docker wait. */
#include "cli/commands.h"

void cmd_wait_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine wait VM [VM...]\n\n"
                 "Waits until each VM stops, then prints its main process's exit code.\n");
}

int cmd_wait(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("wait: no VM given; see 'supermachine wait --help'");
    int status = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            return cli_usage_error("wait: unknown option %s", argv[i]);
        sm_error_t err = NULL;
        int code = 0;
        if (sm_vm_wait(argv[i], -1, &code, &err) < 0)
            status = cli_fail(&err);
        else
            printf("%d\n", code);
        fflush(stdout);
    }
    return status;
}
