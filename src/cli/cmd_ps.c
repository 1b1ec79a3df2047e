/* supermachine ps: list VMs, as docker ps. */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"

void cmd_ps_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine ps [-a] [-q] [--no-trunc]\n\n"
                 "Lists running VMs (with -a, also those that ended).\n\n"
                 "  -a, --all      every VM, not only running ones\n"
                 "  -q, --quiet    only VM ids\n"
                 "  --no-trunc     full ids and commands\n\n"
                 "MEMORY is the VM's proportional set size (PSS): its VMM process with the\n"
                 "guest's RAM, pages it shares with other VMs (clones of one snapshot) split\n"
                 "evenly among them, so the column adds up to the memory the VMs take together;\n"
                 "'-' when the VM is not running (docs/memory.md).\n");
}

static void status_text(const struct sm_vm_info *v, char *out, size_t n)
{
    char age[64];
    if (strcmp(v->status, "running") == 0) {
        cli_human_age(v->created, age, sizeof(age));
        /* "5 minutes ago" -> "Up 5 minutes", as docker words it. */
        char *ago = strstr(age, " ago");
        if (ago)
            *ago = '\0';
        snprintf(out, n, "Up %s",
                 strcmp(age, "Less than a minute") == 0 ? "less than a minute" : age);
    } else if (strcmp(v->status, "exited") == 0) {
        cli_human_age(v->finished, age, sizeof(age));
        snprintf(out, n, "Exited (%d) %s", v->exit_code, age);
    } else {
        snprintf(out, n, "Created");
    }
}

int cmd_ps(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"all", no_argument, NULL, 'a'},
        {"quiet", no_argument, NULL, 'q'},
        {"no-trunc", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    bool all = false, quiet = false, notrunc = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:aq", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            all = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'n':
            notrunc = true;
            break;
        default:
            return cli_option_error("ps", c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("ps: unexpected argument '%s'", argv[optind]);
    struct sm_vm_info *list;
    size_t n;
    sm_error_t err = NULL;
    if (sm_vm_list(&list, &n, &err) < 0)
        return cli_fail(&err);
    if (!quiet)
        printf("%-12s   %-24s %-22s %-17s %-26s %-10s %s\n", "VM ID", "IMAGE", "COMMAND", "CREATED",
               "STATUS", "MEMORY", "NAMES");
    for (size_t i = 0; i < n; i++) {
        const struct sm_vm_info *v = &list[i];
        if (!all && strcmp(v->status, "running") != 0)
            continue;
        if (quiet) {
            printf("%.*s\n", notrunc ? 64 : 12, v->id);
            continue;
        }
        char created[64], status[96], command[64], memory[32] = "-";
        cli_human_age(v->created, created, sizeof(created));
        status_text(v, status, sizeof(status));
        if (v->pss_kib >= 0)
            cli_human_binary_size((uint64_t)v->pss_kib << 10, memory, sizeof(memory));
        if (!notrunc && strlen(v->command) > 20)
            snprintf(command, sizeof(command), "\"%.19s…\"", v->command);
        else
            snprintf(command, sizeof(command), "\"%.60s\"", v->command);
        printf("%-12.*s   %-24s %-22s %-17s %-26s %-10s %s\n", notrunc ? 64 : 12, v->id, v->image,
               command, created, status, memory, v->name);
    }
    sm_vm_list_free(list, n);
    return 0;
}
