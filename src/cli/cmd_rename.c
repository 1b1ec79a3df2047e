/* supermachine rename: another name for a VM, as docker rename. */
#include <getopt.h>

#include "cli/commands.h"

void cmd_rename_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine rename VM NEW_NAME\n\n"
                 "Gives a VM, running or not, another name: [a-zA-Z0-9][a-zA-Z0-9_.-]+,\n"
                 "not in use by another VM. Its hostname stays as it was.\n");
}

int cmd_rename(int argc, char **argv)
{
    static const struct option longopts[] = {{NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:", longopts, NULL)) != -1)
        return cli_option_error("rename", c, argv);
    if (argc - optind != 2)
        return cli_usage_error("rename: want VM NEW_NAME; see 'supermachine rename --help'");
    sm_error_t err = NULL;
    if (sm_vm_rename(argv[optind], argv[optind + 1], &err) < 0)
        return cli_fail(&err);
    return 0;
}
