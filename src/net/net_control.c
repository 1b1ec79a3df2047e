/* The network's control socket (net_backend.h): publish, unpublish and connect while the
 * VM runs, served on the network's own thread (libslirp is not thread-safe), never
 * blocking it: clients are non-blocking, a request is one short line, the answer one line
 * written at once, and a client that sends nothing useful is dropped. */
#define NET_CONTROL_TIMEOUT 5 /* seconds */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "net/net_internal.h"

int net_control_listen(struct net_slirp *s, sm_error_t *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", NET_CONTROL_SOCKET);
    unlink(NET_CONTROL_SOCKET); /* a dead VMM's: this directory's lock is ours */
    s->control_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->control_fd < 0 || bind(s->control_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(s->control_fd, 16) < 0)
        return sm_error_set(err, errno, "network: control socket %s", NET_CONTROL_SOCKET);
    return 0;
}

static void handle(struct net_slirp *s, int fd, char *line)
{
    sm_error_t err = NULL;
    char *arg = strchr(line, ' ');
    if (arg)
        *arg++ = '\0';
    struct net_publish p;
    if (strcmp(line, "publish") == 0 && arg) {
        struct net_publish bound;
        if (net_publish_parse(arg, &p, &err) == 0 && net_forward_add(s, &p, &bound, &err) == 0) {
            net_forward_write_list(s);
            char spec[80];
            net_publish_format(&bound, spec, sizeof(spec));
            sm_send_line(fd, "ok %s", spec);
            return;
        }
    } else if (strcmp(line, "unpublish") == 0 && arg) {
        if (net_publish_parse(arg, &p, &err) == 0 && net_forward_remove(s, &p, &err) == 0) {
            net_forward_write_list(s);
            sm_send_line(fd, "ok");
            return;
        }
    } else if (strcmp(line, "connect") == 0 && arg) {
        char *end;
        long port = strtol(arg, &end, 10);
        const char *path;
        if (*end || port < 1 || port > 65535) {
            sm_error_set(&err, 0, "connect %s: not a port", arg);
        } else if (net_forward_unix(s, (uint16_t)port, &path, &err) == 0) {
            sm_send_line(fd, "ok %s", path);
            return;
        }
    } else {
        sm_error_set(&err, 0, "unknown request");
    }
    sm_send_line(fd, "error %s", sm_error_message(err));
    sm_error_release(&err);
}

static void client_close(struct net_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
}

static void client_read(struct net_slirp *s, struct net_client *c)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->line + c->len, sizeof(c->line) - 1 - c->len, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* the rest of the line later */
        if (r <= 0) {
            client_close(c);
            return;
        }
        c->len += (size_t)r;
        char *nl = memchr(c->line, '\n', c->len);
        if (nl) {
            *nl = '\0';
            if (nl > c->line && nl[-1] == '\r')
                nl[-1] = '\0';
            handle(s, c->fd, c->line);
            client_close(c);
            return;
        }
        if (c->len == sizeof(c->line) - 1) {
            sm_send_line(c->fd, "error request too long");
            client_close(c);
            return;
        }
    }
}

void net_control_poll_fill(struct net_slirp *s)
{
    /* New clients only while a slot is free (else the listener would wake us at once,
     * every turn); a client silent for NET_CONTROL_TIMEOUT loses its slot. */
    time_t now = time(NULL);
    bool free_slot = false;
    for (unsigned i = 0; i < NET_MAX_CLIENTS; i++) {
        if (s->clients[i].fd >= 0 && now - s->clients[i].since > NET_CONTROL_TIMEOUT)
            client_close(&s->clients[i]);
        free_slot |= s->clients[i].fd < 0;
    }
    s->control_first = s->npfd;
    net_poll_add(s, s->control_fd, free_slot ? POLLIN : 0);
    for (unsigned i = 0; i < NET_MAX_CLIENTS; i++)
        net_poll_add(s, s->clients[i].fd, POLLIN); /* -1: poll ignores the entry */
}

void net_control_poll_done(struct net_slirp *s)
{
    struct pollfd *p = &s->pfds[s->control_first];
    for (unsigned i = 0; i < NET_MAX_CLIENTS; i++)
        if (s->clients[i].fd >= 0 && p[1 + i].fd == s->clients[i].fd &&
            (p[1 + i].revents & (POLLIN | POLLHUP | POLLERR)))
            client_read(s, &s->clients[i]);
    if (!(p[0].revents & POLLIN))
        return;
    for (unsigned i = 0; i < NET_MAX_CLIENTS; i++) {
        if (s->clients[i].fd >= 0)
            continue;
        int fd = accept4(s->control_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        s->clients[i].fd = fd;
        s->clients[i].len = 0;
        s->clients[i].since = time(NULL);
        client_read(s, &s->clients[i]); /* the line is usually there already */
    }
    /* Every slot busy: a client beyond waits in the backlog for the next turn. */
}

void net_control_close(struct net_slirp *s)
{
    for (unsigned i = 0; i < NET_MAX_CLIENTS; i++)
        client_close(&s->clients[i]);
    if (s->control_fd >= 0) {
        close(s->control_fd);
        unlink(NET_CONTROL_SOCKET);
    }
    s->control_fd = -1;
}
