/* supermachine port: a VM's published ports as docker shows them, the ports listening
 * inside its guest, and publishing or unpublishing while it runs. */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

void cmd_port_usage(FILE *out)
{
    fprintf(out,
            "Usage: supermachine port VM [GUESTPORT[/tcp|/udp]]\n"
            "       supermachine port --listening VM\n"
            "       supermachine port --publish SPEC VM\n"
            "       supermachine port --unpublish SPEC VM\n\n"
            "Lists the VM's published ports as docker does (\"80/tcp -> 0.0.0.0:8080\"), or\n"
            "the host addresses of one guest port (\"0.0.0.0:8080\").\n\n"
            "  -l, --listening        the TCP ports listening inside the guest instead (from\n"
            "                         its kernel's socket tables), \"ADDRESS:PORT\" a line\n"
            "      --publish SPEC     publish one more port now, SPEC as run's -p\n"
            "                         ([IP:][HOSTPORT:]GUESTPORT[/tcp|/udp]); prints it as bound\n"
            "      --unpublish SPEC   stop publishing it (SPEC as it was published)\n");
}

static int by_port(const void *a, const void *b)
{
    const struct sm_port *x = a, *y = b;
    return x->port != y->port ? (int)x->port - (int)y->port : strcmp(x->address, y->address);
}

static int by_mapping(const void *a, const void *b)
{
    const struct sm_published_port *x = a, *y = b;
    if (x->guest_port != y->guest_port)
        return (int)x->guest_port - (int)y->guest_port;
    int c = strcmp(x->proto, y->proto);
    return c ? c : (int)x->host_port - (int)y->host_port;
}

static int listening(const char *vm)
{
    struct sm_port *ports = NULL;
    size_t n = 0;
    sm_error_t err = NULL;
    if (sm_vm_ports(vm, &ports, &n, &err) < 0)
        return cli_fail(&err);
    qsort(ports, n, sizeof(*ports), by_port);
    for (size_t i = 0; i < n; i++)
        printf(strchr(ports[i].address, ':') ? "[%s]:%u\n" : "%s:%u\n", ports[i].address,
               ports[i].port);
    free(ports);
    return 0;
}

static void print_host(const struct sm_published_port *p)
{
    printf(strchr(p->host_address, ':') ? "[%s]:%u\n" : "%s:%u\n", p->host_address, p->host_port);
}

static int published(const char *vm, const char *which)
{
    unsigned want = 0;
    const char *proto = "tcp";
    if (which) {
        char *end;
        unsigned long v = strtoul(which, &end, 10);
        if (*end == '/')
            proto = end + 1;
        if (end == which || v < 1 || v > 65535 || (*end && *end != '/') ||
            (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0))
            return cli_usage_error("port: %s: want GUESTPORT[/tcp|/udp]", which);
        want = (unsigned)v;
    }
    struct sm_published_port *ports = NULL;
    size_t n = 0;
    sm_error_t err = NULL;
    if (sm_vm_published_ports(vm, &ports, &n, &err) < 0)
        return cli_fail(&err);
    qsort(ports, n, sizeof(*ports), by_mapping);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (want && (ports[i].guest_port != want || strcmp(ports[i].proto, proto) != 0))
            continue;
        found = true;
        if (!want)
            printf("%u/%s -> ", ports[i].guest_port, ports[i].proto);
        print_host(&ports[i]);
    }
    free(ports);
    if (want && !found)
        return cli_usage_error("port %s: no public port '%u/%s' published", vm, want, proto);
    return 0;
}

int cmd_port(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listening", no_argument, NULL, 'l'},
        {"publish", required_argument, NULL, 'P'},
        {"unpublish", required_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    bool listen_mode = false;
    const char *publish = NULL, *unpublish = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:l", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen_mode = true;
            break;
        case 'P':
            publish = optarg;
            break;
        case 'U':
            unpublish = optarg;
            break;
        default:
            return cli_option_error("port", c, argv);
        }
    }
    int left = argc - optind;
    bool modes = listen_mode + (publish != NULL) + (unpublish != NULL) > 1;
    if (left < 1 || modes || left > ((listen_mode || publish || unpublish) ? 1 : 2))
        return cli_usage_error("port: see 'supermachine port --help'");
    const char *vm = argv[optind];
    sm_error_t err = NULL;
    if (listen_mode)
        return listening(vm);
    if (publish) {
        char *bound = NULL;
        if (sm_vm_publish(vm, publish, &bound, &err) < 0)
            return cli_fail(&err);
        printf("%s\n", bound);
        free(bound);
        return 0;
    }
    if (unpublish)
        return sm_vm_unpublish(vm, unpublish, &err) < 0 ? cli_fail(&err) : 0;
    return published(vm, left == 2 ? argv[optind + 1] : NULL);
}
