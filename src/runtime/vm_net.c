/* The public calls on a running VM's network: its published ports (read from the file
 * its VMM keeps), and publish, unpublish and connect through the VMM's control socket
 * (net/net_backend.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "net/net_backend.h"
#include "net/net_policy.h"
#include "runtime/instance.h"

#define NET_CONTROL_TIMEOUT_MS 10000

/* One request to the VMM's network, its one-line answer into reply (after "ok "). */
static int control(const struct instance *in, const char *request, char *reply, size_t size,
                   sm_error_t *err)
{
    return instance_request(in, NET_CONTROL_SOCKET, request, NET_CONTROL_TIMEOUT_MS, reply, size,
                            err);
}

/* "publish SPEC" or "unpublish SPEC" to a running VM's network (SPEC checked here first,
 * so that a bad one is the caller's error, not the VMM's); its answer into reply. */
static int publish_request(const char *name_or_id, const char *verb, const char *spec, char *reply,
                           size_t size, sm_error_t *err)
{
    struct net_publish p;
    if (net_publish_parse(spec, &p, err) < 0)
        return -1;
    struct instance in;
    if (instance_find_running(name_or_id, verb, &in, err) < 0)
        return -1;
    cleanup_free char *req = xasprintf("%s %s", verb, spec);
    int r = control(&in, req, reply, size, err);
    instance_release(&in);
    return r < 0 ? sm_error_wrap(err, "%s", name_or_id) : 0;
}

int sm_vm_publish(const char *name_or_id, const char *spec, char **bound_out, sm_error_t *err)
{
    char reply[NET_CONTROL_LINE];
    if (publish_request(name_or_id, "publish", spec, reply, sizeof(reply), err) < 0)
        return -1;
    if (bound_out)
        *bound_out = xstrdup(reply);
    return 0;
}

int sm_vm_unpublish(const char *name_or_id, const char *spec, sm_error_t *err)
{
    char reply[NET_CONTROL_LINE];
    return publish_request(name_or_id, "unpublish", spec, reply, sizeof(reply), err);
}

int sm_vm_connect(const char *name_or_id, uint16_t guest_port, sm_error_t *err)
{
    if (guest_port == 0)
        return sm_error_set(err, 0, "connect: port 0");
    struct instance in;
    if (instance_find_running(name_or_id, "connect", &in, err) < 0)
        return -1;
    char req[32], file[NET_CONTROL_LINE];
    snprintf(req, sizeof(req), "connect %u", guest_port);
    int fd = -1;
    if (control(&in, req, file, sizeof(file), err) == 0) {
        if (strchr(file, '/') || file[0] == '.' || file[0] == '\0')
            sm_error_set(err, 0, "the VM's network named a strange socket");
        else
            fd = instance_connect(&in, file, err);
    }
    instance_release(&in);
    return fd < 0 ? sm_error_wrap(err, "connect %s:%u", name_or_id, guest_port) : fd;
}

int sm_vm_published_ports(const char *name_or_id, struct sm_published_port **ports, size_t *n,
                          sm_error_t *err)
{
    *ports = NULL;
    *n = 0;
    struct instance in;
    if (instance_find(name_or_id, &in, err) < 0)
        return sm_error_wrap(err, "port");
    cleanup_free char *path = instance_path(&in, NET_PORTS_FILE);
    bool running = instance_running(&in);
    instance_release(&in);
    char *text = NULL;
    size_t len;
    sm_error_t ignored = NULL;
    /* None while it does not run (as docker), nor without a network (no file). */
    if (!running || sm_read_file(path, 64 * 1024, &text, &len, &ignored) < 0) {
        sm_error_release(&ignored);
        *ports = xcalloc(1, sizeof(**ports));
        return 0;
    }
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += text[i] == '\n';
    struct sm_published_port *out = xcalloc(cap, sizeof(*out));
    size_t count = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && count < cap;
         line = strtok_r(NULL, "\n", &save)) {
        struct net_publish p;
        if (net_publish_parse(line, &p, &ignored) < 0) {
            sm_error_release(&ignored);
            continue;
        }
        struct sm_published_port *o = &out[count++];
        snprintf(o->proto, sizeof(o->proto), "%s", p.proto == NET_PROTO_UDP ? "udp" : "tcp");
        net_addr_format(&p.host, o->host_address, sizeof(o->host_address));
        o->host_port = p.host_port;
        o->guest_port = p.guest_port;
    }
    free(text);
    *ports = out;
    *n = count;
    return 0;
}
