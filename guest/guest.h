/* sm-init: PID 1 of every supermachine guest (init.c) and the agent it serves the host
 * with (agent.c, session.c); docs/guest.md tells the order of things. */
#ifndef SM_GUEST_H
#define SM_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Logs one line on the console (and the kernel log's console) with the init's prefix. */
void guest_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Agent: serves connections on a listening socket until told to power off; forks one
 * session process per connection. Never returns. */
void agent_serve(int listen_fd) __attribute__((noreturn));
/* One session on a connected socket (session.c); exits the process at its end. */
void agent_session(int conn) __attribute__((noreturn));

/* The user a process runs as, resolved in the root's /etc/passwd and /etc/group:
 * "name", "uid", "name:group", "uid:gid" (docker's -u). */
struct guest_user {
    uid_t uid;
    gid_t gid;
    gid_t groups[64];
    int ngroups;
    char home[256];
};
int guest_resolve_user(const char *spec, struct guest_user *out, char *why, size_t whylen);

/* Session helpers (session.c): the next whole frame from the host (-1: the stream ended
 * or broke; dec->error says which), and the ERROR frame. */
struct agent_decoder;
int guest_read_frame(int conn, struct agent_decoder *dec, unsigned char *type,
                     const unsigned char **payload, size_t *len);
void guest_send_error(int conn, const char *msg);

/* Session openers other than EXEC (files.c): each answers EXIT {status: 0} or ERROR.
 * req is the opener's JSON object. */
struct json_object;
void guest_op_write_file(int conn, struct agent_decoder *dec, struct json_object *req);
void guest_op_read_file(int conn, struct json_object *req);
void guest_op_ports(int conn);
void guest_op_signal(int conn, struct json_object *req);

/* The guest's listening TCP sockets (/proc/net/tcp and tcp6), one call each. */
typedef void (*guest_listener_fn)(void *arg, unsigned port, const char *address);
void guest_listeners(guest_listener_fn fn, void *arg);

/* Kept processes (keep.c): a cgroup to freeze them in, and a Unix socket (abstract) on
 * which a later session hands over its host connection. keep_prepare returns that
 * socket's listening descriptor (-1 with why filled). */
int keep_prepare(bool freezable, char *why, size_t whylen);
int keep_join_cgroup(void); /* in the child, before exec */
int keep_freeze(bool frozen);
int64_t keep_cpu_usage_us(void); /* the cgroup's CPU time, -1 if unknown */
bool keep_port_listening(unsigned port);
void keep_print_marker(const char *marker); /* a line on /dev/console */
int keep_accept(int listen_fd);              /* the handed-over connection, or -1 */
void keep_attach_session(int conn) __attribute__((noreturn));

/* sm-init --listen: the agent runs on a host for tests, where the host's clock and
 * hostname are not ours to set. */
bool guest_on_host(void);

/* Brings up lo, and eth0 with the given addresses ("10.0.2.15/24", "fd00::15/64") and
 * default gateways when ip is not NULL (net.c). Problems are logged, never fatal: the
 * workload may not need the network. */
void guest_net_setup(const char *ip, const char *gw, const char *ip6, const char *gw6);

/* Powers the guest off (sync first). */
void guest_poweroff(void) __attribute__((noreturn));

#endif
