/* The public calls on a running VM's network: its published ports (read from the file
 * its VMM keeps), and publish, unpublish and connect through the VMM's control socket
 * (net/net_backend.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "net/net_backend.h"
#include "net/net_policy.h"
#include "runtime/instance.h"

#define NET_CONTROL_TIMEOUT_MS 10000

/* Connects to a Unix socket in the instance directory through a directory descriptor:
 * socket paths are limited to 108 bytes, a store path plus a 64-hex id may be longer. */
static int connect_in(const struct instance *in, const char *file, sm_error_t *err)
{
    int dirfd = open(in->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return sm_error_set(err, errno, "%s", in->dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd, file);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int r = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    close(dirfd);
    if (r < 0) {
        if (fd >= 0)
            close(fd);
        if (e == ENOENT && strcmp(file, NET_CONTROL_SOCKET) == 0)
            return sm_error_set(err, 0, "the VM has no network (--network none)");
        return sm_error_set(err, e, "connect to %s", file);
    }
    return fd;
}

/* One request to the VMM's network, its one-line answer into reply (after "ok "). */
static int control(const struct instance *in, const char *request, char *reply, size_t size,
                   sm_error_t *err)
{
    int fd = connect_in(in, NET_CONTROL_SOCKET, err);
    if (fd < 0)
        return -1;
    char line[NET_CONTROL_LINE];
    int n = snprintf(line, sizeof(line), "%s\n", request);
    if (n < 0 || (size_t)n >= sizeof(line) || sm_write_all(fd, line, (size_t)n) < 0) {
        close(fd);
        return sm_error_set(err, errno, "the VM's network did not take the request");
    }
    size_t got = 0;
    while (got < sizeof(line) - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, NET_CONTROL_TIMEOUT_MS) <= 0)
            break;
        ssize_t r = read(fd, line + got, sizeof(line) - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (memchr(line, '\n', got))
            break;
    }
    close(fd);
    line[got] = '\0';
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "ok", 2) == 0 && (line[2] == '\0' || line[2] == ' ')) {
        snprintf(reply, size, "%s", line[2] ? line + 3 : "");
        return 0;
    }
    if (strncmp(line, "error ", 6) == 0)
        return sm_error_set(err, 0, "%s", line + 6);
    return sm_error_set(err, 0, "the VM's network gave no answer");
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
            fd = connect_in(&in, file, err);
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
