/* Published ports: libslirp host forwards (slirp_add_hostxfwd), each VMM process its own,
 * so that every VM, restored from a snapshot or not, publishes what it was asked to. The
 * list of what is published lives in NET_PORTS_FILE for `port` and the library.
 *
 * libslirp does not say which socket a forward made, and listens with a backlog of 1,
 * which would make a burst of connections wait for SYN retransmissions. So the sockets
 * that appear across the call are found in /proc/self/fd (only this thread makes Internet
 * sockets), their backlog is raised, and a host port of 0 is read back. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "net/net_internal.h"

#define NET_LISTEN_BACKLOG 1024

struct sock_set {
    ino_t ino[4096];
    unsigned n;
};

static void list_sockets(struct sock_set *set)
{
    set->n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && set->n < SM_ARRAY_SIZE(set->ino)) {
        struct stat st;
        if (e->d_name[0] != '.' && fstat(atoi(e->d_name), &st) == 0 && S_ISSOCK(st.st_mode))
            set->ino[set->n++] = st.st_ino;
    }
    closedir(d);
}

/* The socket of `family` that is not in before, or -1. A Unix one must be bound to
 * unix_path (the vsock device's thread makes Unix sockets of its own meanwhile). */
static int new_socket(const struct sock_set *before, int family, const char *unix_path)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int found = -1;
    struct dirent *e;
    while (found < 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        struct stat st;
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);
        if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.ss_family != family ||
            (unix_path && strcmp(((struct sockaddr_un *)&sa)->sun_path, unix_path) != 0))
            continue;
        bool old = false;
        for (unsigned i = 0; i < before->n && !old; i++)
            old = before->ino[i] == st.st_ino;
        if (!old)
            found = fd;
    }
    closedir(d);
    return found;
}

static socklen_t host_sockaddr(const struct net_publish *p, struct sockaddr_storage *sa)
{
    memset(sa, 0, sizeof(*sa));
    if (p->host.family == 6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(p->host_port);
        memcpy(&s6->sin6_addr, p->host.a, 16);
        return sizeof(*s6);
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(p->host_port);
    memcpy(&s4->sin_addr, p->host.a, 4);
    return sizeof(*s4);
}

static void guest_sockaddr(uint16_t port, struct sockaddr_in *g)
{
    memset(g, 0, sizeof(*g));
    g->sin_family = AF_INET;
    g->sin_port = htons(port);
    inet_pton(AF_INET, NET_GUEST_IP4, &g->sin_addr);
}

/* "8080" or "127.0.0.1:8080": how errors name a host port. */
static void name_port(const struct net_publish *p, char *out, size_t size)
{
    char a[46];
    net_addr_format(&p->host, a, sizeof(a));
    bool any = (p->host.family == 4 && strcmp(a, "0.0.0.0") == 0);
    if (any)
        snprintf(out, size, "%u%s", p->host_port, p->proto == NET_PROTO_UDP ? "/udp" : "");
    else
        snprintf(out, size, p->host.family == 6 ? "[%s]:%u%s" : "%s:%u%s", a, p->host_port,
                 p->proto == NET_PROTO_UDP ? "/udp" : "");
}

static void update_udp_policy(struct net_slirp *s, uint16_t port)
{
    bool on = false;
    s->any_udp_published = false;
    for (unsigned i = 0; i < s->nfwd; i++) {
        bool udp = s->fwd[i].p.proto == NET_PROTO_UDP;
        on |= udp && s->fwd[i].p.guest_port == port;
        s->any_udp_published |= udp;
    }
    if (on)
        s->udp_published[port / 8] |= (uint8_t)(1u << (port % 8));
    else
        s->udp_published[port / 8] &= (uint8_t) ~(1u << (port % 8));
}

static bool same_host(const struct net_publish *a, const struct net_publish *b)
{
    return a->proto == b->proto && a->host.family == b->host.family &&
           memcmp(a->host.a, b->host.a, 16) == 0 && a->host_port == b->host_port;
}

int net_forward_add(struct net_slirp *s, const struct net_publish *p, struct net_publish *bound,
                    sm_error_t *err)
{
    char name[64];
    name_port(p, name, sizeof(name));
    if (s->nfwd == NET_MAX_FORWARDS)
        return sm_error_set(err, 0, "publish %s: at most %d ports per VM", name, NET_MAX_FORWARDS);
    for (unsigned i = 0; i < s->nfwd && p->host_port; i++)
        if (!s->fwd[i].unix_socket && same_host(&s->fwd[i].p, p))
            return sm_error_set(err, 0, "publish %s: address already in use", name);
    struct sockaddr_storage h;
    socklen_t hlen = host_sockaddr(p, &h);
    struct sockaddr_in g;
    guest_sockaddr(p->guest_port, &g);
    int flags = (p->proto == NET_PROTO_UDP ? SLIRP_HOSTFWD_UDP : 0) |
                (p->host.family == 6 ? SLIRP_HOSTFWD_V6ONLY : 0);
    static struct sock_set before; /* large; only this thread publishes */
    list_sockets(&before);
    if (slirp_add_hostxfwd(s->slirp, (struct sockaddr *)&h, hlen, (struct sockaddr *)&g, sizeof(g),
                           flags) < 0) {
        int e = errno;
        if (e == EADDRINUSE)
            return sm_error_set(err, 0, "publish %s: address already in use", name);
        if (e == EACCES)
            return sm_error_set(err, 0,
                                "publish %s: permission denied (a port below 1024 "
                                "needs privileges)",
                                name);
        return sm_error_set(err, e, "publish %s", name);
    }
    struct net_forward *f = &s->fwd[s->nfwd];
    memset(f, 0, sizeof(*f));
    f->p = *p;
    f->fd = new_socket(&before, h.ss_family, NULL);
    if (f->fd >= 0) {
        if (p->proto == NET_PROTO_TCP)
            listen(f->fd, NET_LISTEN_BACKLOG);
        struct sockaddr_storage got;
        socklen_t len = sizeof(got);
        if (getsockname(f->fd, (struct sockaddr *)&got, &len) == 0)
            f->p.host_port =
                ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                                : ((struct sockaddr_in *)&got)->sin_port);
    } else if (p->host_port == 0) {
        /* Bound, but to a port we cannot learn: useless to anyone; take it back. */
        slirp_remove_hostxfwd(s->slirp, (struct sockaddr *)&h, hlen, flags);
        return sm_error_set(err, 0, "publish %s: could not learn the port chosen", name);
    }
    s->nfwd++;
    if (p->proto == NET_PROTO_UDP)
        update_udp_policy(s, p->guest_port);
    if (bound)
        *bound = f->p;
    return 0;
}

int net_forward_remove(struct net_slirp *s, const struct net_publish *p, sm_error_t *err)
{
    for (unsigned i = 0; i < s->nfwd; i++) {
        struct net_forward *f = &s->fwd[i];
        if (f->unix_socket || f->p.proto != p->proto || f->p.host.family != p->host.family ||
            memcmp(f->p.host.a, p->host.a, 16) != 0 || f->p.guest_port != p->guest_port ||
            (p->host_port && f->p.host_port != p->host_port))
            continue;
        struct sockaddr_storage h;
        socklen_t hlen = host_sockaddr(&f->p, &h);
        int flags = (p->proto == NET_PROTO_UDP ? SLIRP_HOSTFWD_UDP : 0) |
                    (p->host.family == 6 ? SLIRP_HOSTFWD_V6ONLY : 0);
        if (slirp_remove_hostxfwd(s->slirp, (struct sockaddr *)&h, hlen, flags) < 0)
            return sm_error_set(err, 0, "unpublish: libslirp has no such forward");
        uint16_t port = f->p.guest_port;
        bool udp = f->p.proto == NET_PROTO_UDP;
        s->fwd[i] = s->fwd[--s->nfwd];
        if (udp)
            update_udp_policy(s, port);
        return 0;
    }
    char spec[80];
    net_publish_format(p, spec, sizeof(spec));
    return sm_error_set(err, 0, "unpublish %s: not published", spec);
}

int net_forward_unix(struct net_slirp *s, uint16_t guest_port, const char **path, sm_error_t *err)
{
    for (unsigned i = 0; i < s->nfwd; i++) {
        if (s->fwd[i].unix_socket && s->fwd[i].p.guest_port == guest_port) {
            *path = s->fwd[i].path;
            return 0;
        }
    }
    if (s->nfwd == NET_MAX_FORWARDS)
        return sm_error_set(err, 0, "connect %u: too many forwards in this VM", guest_port);
    struct net_forward *f = &s->fwd[s->nfwd];
    memset(f, 0, sizeof(*f));
    f->unix_socket = true;
    f->p.proto = NET_PROTO_TCP;
    f->p.guest_port = guest_port;
    snprintf(f->path, sizeof(f->path), "guest-%u.sock", guest_port);
    /* Relative to the instance directory, the VMM's working directory. */
    struct sockaddr_un h = {.sun_family = AF_UNIX};
    snprintf(h.sun_path, sizeof(h.sun_path), "%s", f->path);
    unlink(f->path); /* a dead VMM's */
    struct sockaddr_in g;
    guest_sockaddr(guest_port, &g);
    static struct sock_set before;
    list_sockets(&before);
    if (slirp_add_hostxfwd(s->slirp, (struct sockaddr *)&h, sizeof(h), (struct sockaddr *)&g,
                           sizeof(g), 0) < 0)
        return sm_error_set(err, errno, "connect %u: listen on %s", guest_port, f->path);
    f->fd = new_socket(&before, AF_UNIX, f->path);
    if (f->fd >= 0)
        listen(f->fd, NET_LISTEN_BACKLOG);
    s->nfwd++;
    *path = f->path;
    return 0;
}

void net_forward_write_list(struct net_slirp *s)
{
    char *text = xstrdup("");
    for (unsigned i = 0; i < s->nfwd; i++) {
        if (s->fwd[i].unix_socket)
            continue;
        char spec[80];
        net_publish_format(&s->fwd[i].p, spec, sizeof(spec));
        char *t = xasprintf("%s%s\n", text, spec);
        free(text);
        text = t;
    }
    sm_error_t err = NULL;
    if (sm_write_file_replace(NET_PORTS_FILE, text, strlen(text), 0600, &err) < 0) {
        fprintf(stderr, "supermachine-vmm: network: %s\n", sm_error_message(err));
        sm_error_release(&err);
    }
    free(text);
}

void net_forward_cleanup(struct net_slirp *s)
{
    for (unsigned i = 0; i < s->nfwd; i++)
        if (s->fwd[i].unix_socket)
            unlink(s->fwd[i].path);
    s->nfwd = 0;
    unlink(NET_PORTS_FILE);
}
