/* supermachine rm: remove VMs that ended (-f: stop them first), as docker rm. */
#include <getopt.h>
#include <stdbool.h>

#include "cli/commands.h"

void cmd_rm_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine rm [-f] VM [VM...]\n\n"
                 "Removes VMs that have ended, with their logs.\n\n"
                 "  -f, --force    stop running VMs first\n");
}

int cmd_rm(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    bool force = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:f", longopts, NULL)) != -1) {
        if (c != 'f')
            return cli_option_error("rm", c, argv);
        force = true;
    }
    if (optind >= argc)
        return cli_usage_error("rm: no VM given; see 'supermachine rm --help'");
    int status = 0;
    for (int i = optind; i < argc; i++) {
        sm_error_t err = NULL;
        if (sm_vm_remove(argv[i], force, &err) < 0)
            status = cli_fail(&err);
        else
            printf("%s\n", argv[i]);
    }
    return status;
}
