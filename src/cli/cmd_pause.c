/* supermachine pause: park VMs' vCPUs, as docker pause freezes a container. */
#include "cli/commands.h"

void cmd_pause_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine pause VM [VM...]\n\n"
                 "Parks each VM's virtual CPUs, as docker pause freezes a container: its\n"
                 "processes stop where they are, using no CPU time, and hold their memory.\n"
                 "Connections to its published ports wait. While paused, 'ps' shows it\n"
                 "(Paused), exec and cp are refused, and stop and kill let it go on first.\n"
                 "'supermachine unpause' lets it go on.\n");
}

int cmd_pause(int argc, char **argv)
{
    return cli_each_vm("pause", argc, argv, sm_vm_pause);
}
