/* supermachine unpause: let paused VMs go on, as docker unpause. */
#include "cli/commands.h"

void cmd_unpause_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine unpause VM [VM...]\n\n"
                 "Lets each paused VM's virtual CPUs go on. Its clock is right at once (it\n"
                 "follows the host's); timers that fell due meanwhile fire then.\n");
}

int cmd_unpause(int argc, char **argv)
{
    return cli_each_vm("unpause", argc, argv, sm_vm_unpause);
}
