/* supermachine restart: docker restart for detached runs: each VM's main process stopped
 * as `stop` stops it, then started again in the same VM by its monitor. */
#include "cli/commands.h"

void cmd_restart_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine restart [-s SIGNAL] [-t SECONDS] VM [VM...]\n\n"
                 "Stops each VM's main process as 'stop' does (the signal, the grace period,\n"
                 "then SIGKILL) and starts it again in the same VM, as docker restart: the\n"
                 "VM's files, ports and other processes stay. For VMs run with -d; a VM's\n"
                 "state ends with it, so one that has stopped is run again with 'run'.\n\n"
                 "  -s, --signal SIGNAL    name or number; default: as for stop\n"
                 "  -t, --timeout SECONDS  grace period (0 to 86400); default: as for stop\n");
}

int cmd_restart(int argc, char **argv)
{
    return cli_stop_like("restart", argc, argv, sm_vm_restart);
}
