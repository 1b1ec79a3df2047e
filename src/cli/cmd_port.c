/* supermachine port: the TCP ports a VM's guest listens on, read inside the guest. */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

void cmd_port_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine port VM\n\n"
                 "Lists the TCP ports listening inside the VM (from its kernel's socket\n"
                 "tables), one \"ADDRESS:PORT\" per line, sorted by port.\n");
}

static int by_port(const void *a, const void *b)
{
    const struct sm_port *x = a, *y = b;
    return x->port != y->port ? (int)x->port - (int)y->port : strcmp(x->address, y->address);
}

int cmd_port(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-')
        return cli_usage_error("port: want one VM; see 'supermachine port --help'");
    struct sm_port *ports = NULL;
    size_t n = 0;
    sm_error_t err = NULL;
    if (sm_vm_ports(argv[1], &ports, &n, &err) < 0)
        return cli_fail(&err);
    qsort(ports, n, sizeof(*ports), by_port);
    for (size_t i = 0; i < n; i++)
        printf(strchr(ports[i].address, ':') ? "[%s]:%u\n" : "%s:%u\n", ports[i].address,
               ports[i].port);
    free(ports);
    return 0;
}
