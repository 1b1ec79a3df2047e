/* Kept processes (docs/protocol.md, "Kept processes"): the main process of a VM whose
 * snapshot is taken with the workload running. It lives in a cgroup of its own so it can
 * be frozen whole (children included) without a signal it could see, and its session
 * process keeps it across the end of the host connection (a restore resets every vsock
 * connection) until a new session attaches: that session hands its connection over a
 * Unix socket in the abstract namespace with SCM_RIGHTS. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_proto.h"
#include "guest.h"

#define KEEP_CGROUP "/sys/fs/cgroup/supermachine.main"
/* Abstract: nothing on a filesystem to clean up, gone with the keeper. */
#define KEEP_SOCKET "supermachine-kept-process"

static socklen_t keep_address(struct sockaddr_un *a)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path + 1, KEEP_SOCKET, strlen(KEEP_SOCKET));
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(KEEP_SOCKET));
}

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return w == (ssize_t)strlen(text) ? 0 : -1;
}

int keep_prepare(bool freezable, char *why, size_t whylen)
{
    if (freezable && mkdir(KEEP_CGROUP, 0755) < 0 && errno != EEXIST) {
        snprintf(why, whylen, "kept process: cgroup %s: %s (is cgroup2 mounted?)", KEEP_CGROUP,
                 strerror(errno));
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un a;
    socklen_t alen = keep_address(&a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, alen) < 0 || listen(fd, 4) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        snprintf(why, whylen, "kept process: %s",
                 e == EADDRINUSE ? "this VM already has one" : strerror(e));
        return -1;
    }
    return fd;
}

int keep_join_cgroup(void)
{
    /* In the child before exec: "0" is the writer itself. Its children follow. */
    return write_text(KEEP_CGROUP "/cgroup.procs", "0");
}

int keep_freeze(bool frozen)
{
    if (write_text(KEEP_CGROUP "/cgroup.freeze", frozen ? "1" : "0") < 0)
        return -1;
    if (!frozen)
        return 0;
    /* Freezing completes once every task reached the refrigerator: cgroup.events says
     * "frozen 1". A task in an uninterruptible sleep can delay it. */
    for (int i = 0; i < 1000; i++) {
        char buf[256];
        int fd = open(KEEP_CGROUP "/cgroup.events", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        if (strstr(buf, "frozen 1"))
            return 0;
        usleep(5000);
    }
    errno = ETIMEDOUT;
    return -1;
}

int64_t keep_cpu_usage_us(void)
{
    FILE *f = fopen(KEEP_CGROUP "/cpu.stat", "re");
    if (f == NULL)
        return -1;
    long long v = -1;
    char line[128];
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "usage_usec %lld", &v) == 1)
            break;
    fclose(f);
    return v;
}

struct port_probe {
    unsigned port;
    bool found;
};

static void on_listener(void *arg, unsigned port, const char *address)
{
    struct port_probe *p = arg;
    (void)address;
    if (port == p->port)
        p->found = true;
}

bool keep_port_listening(unsigned port)
{
    struct port_probe p = {port, false};
    guest_listeners(on_listener, &p);
    return p.found;
}

void keep_print_marker(const char *marker)
{
    int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return;
    dprintf(fd, "%s\n", marker);
    close(fd);
}

int keep_accept(int listen_fd)
{
    int peer = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (peer < 0)
        return -1;
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = &control,
                         .msg_controllen = sizeof(control)};
    struct pollfd p = {.fd = peer, .events = POLLIN};
    int conn = -1;
    if (poll(&p, 1, 2000) == 1 && recvmsg(peer, &msg, MSG_CMSG_CLOEXEC) == 1) {
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&conn, CMSG_DATA(c), sizeof(int));
    }
    if (conn >= 0) {
        ssize_t w = write(peer, "k", 1); /* the attaching session may go now */
        (void)w;
    }
    close(peer);
    return conn;
}

void keep_attach_session(int conn)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    socklen_t alen = keep_address(&a);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, alen) < 0) {
        guest_send_error(conn, "attach: this VM has no kept process");
        _exit(0);
    }
    char byte = 'a';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = &control,
                         .msg_controllen = sizeof(control)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &conn, sizeof(int));
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (sendmsg(fd, &msg, MSG_NOSIGNAL) != 1 || poll(&p, 1, 5000) != 1 || read(fd, &byte, 1) != 1) {
        guest_send_error(conn, "attach: the kept process's session did not take the connection");
        _exit(0);
    }
    /* The connection is the keeper's now; ours closes with this process. */
    _exit(0);
}
