/* supermachine stop: a signal to each VM's main process (-s, else the VM's --stop-signal,
 * else its image's StopSignal, else SIGTERM), then the VM is stopped outright after a
 * grace period (-t, else the VM's --stop-timeout, else 10 s), as docker stop. */
#include <getopt.h>
#include <stdlib.h>

#include "cli/commands.h"

void cmd_stop_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine stop [-s SIGNAL] [-t SECONDS] VM [VM...]\n\n"
                 "Sends each VM's main process a signal; a VM still running after the grace\n"
                 "period is stopped outright (exit code 137).\n\n"
                 "  -s, --signal SIGNAL    name (TERM, SIGUSR1, RTMIN+3) or number; default:\n"
                 "                         the VM's --stop-signal, else its image's\n"
                 "                         StopSignal, else SIGTERM\n"
                 "  -t, --timeout SECONDS  grace period (0 to 86400); default: the VM's\n"
                 "                         --stop-timeout, else 10\n");
}

/* cli_stop_like's fn and options, behind cli_for_vms's argument. */
struct stop_call {
    int (*fn)(const char *name_or_id, const struct sm_stop_options *opts, sm_error_t *err);
    const struct sm_stop_options *opts;
};

static int call_stop(const char *name_or_id, const void *arg, sm_error_t *err)
{
    const struct stop_call *c = arg;
    return c->fn(name_or_id, c->opts, err);
}

int cli_stop_like(const char *cmd, int argc, char **argv,
                  int (*fn)(const char *name_or_id, const struct sm_stop_options *opts,
                            sm_error_t *err))
{
    static const struct option longopts[] = {
        {"signal", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'},
        {"time", required_argument, NULL, 't'}, /* docker's older name */
        {NULL, 0, NULL, 0},
    };
    struct sm_stop_options o = {.signal = NULL, .timeout_s = SM_STOP_TIMEOUT_VM};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:s:t:", longopts, NULL)) != -1) {
        if (c == 't') {
            if (cli_stop_timeout(cmd, "-t", optarg, &o.timeout_s) < 0)
                return 125;
        } else if (c == 's') {
            /* Checked once here: a bad one is the command line's error, not each VM's. */
            int sig;
            sm_error_t err = NULL;
            if (sm_parse_signal(optarg, &sig, &err) < 0) {
                sm_error_release(&err);
                return cli_usage_error("%s: -s %s: not a signal (a name such as TERM or USR1, "
                                       "or a number)",
                                       cmd, optarg);
            }
            o.signal = optarg;
        } else {
            return cli_option_error(cmd, c, argv);
        }
    }
    struct stop_call call = {fn, &o};
    return cli_for_vms(cmd, argc, argv, optind, call_stop, &call);
}

int cmd_stop(int argc, char **argv)
{
    return cli_stop_like("stop", argc, argv, sm_vm_stop_with);
}
