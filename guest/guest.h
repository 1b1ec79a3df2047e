/* sm-init: PID 1 of every supermachine guest (init.c) and the agent it serves the host
 * with (agent.c, session.c); docs/guest.md tells the order of things. */
#ifndef SM_GUEST_H
#define SM_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Logs one line on the console (and the kernel log's console) with the init's prefix. */
void guest_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t guest_mono_ns(void);

/* Agent: serves connections on a listening socket until told to power off; forks one
 * session process per connection. Never returns. Closes ready_fd (if not -1) right before
 * its first accept: PID 1 waits for that before it says ready. */
void agent_serve(int listen_fd, int ready_fd) __attribute__((noreturn));
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
/* The name of uid in the root's /etc/passwd into out; false if it has none. */
bool guest_user_name(uid_t uid, char *out, size_t len);

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
/* Trees as tar streams (docker cp of directories): write-tar extracts the STDIN frames
 * into an existing directory, read-tar sends a tree as STDOUT frames; both end with EXIT
 * {status, size: the tar's bytes}. stat answers EXIT {status, type}. */
void guest_op_write_tar(int conn, struct agent_decoder *dec, struct json_object *req);
void guest_op_read_tar(int conn, struct json_object *req);
void guest_op_stat(int conn, struct json_object *req);
/* docker top and stats (procs.c): the guest's processes, supermachine's own and kernel
 * threads left out, a PROCESSES frame each (when req's list is not false), then EXIT
 * with the guest's totals (memory, network and disk counters). */
void guest_op_processes(int conn, struct json_object *req);

/* The tar format (tar.c), without frames or sockets. guest_tar_write writes a POSIX tar
 * of path (never following symlinks, the top one included) through emit, in chunks of at
 * most 64 KiB: its top entry is called name and the rest name/...; with name "" a
 * directory's own entry is left out and its contents are named relative to it (a file
 * keeps its base name). Regular files, directories and symlinks are stored; devices,
 * fifos and sockets left out. 0, or -1 with why ("read-tar PATH: reason") filled. */
int guest_tar_write(const char *path, const char *name,
                    int (*emit)(void *arg, const void *buf, size_t len), void *arg, char *why,
                    size_t whylen);

/* An extractor fed a tar stream as it comes, in pieces of any size: ustar, v7, pax and
 * GNU long names; regular files, directories, symlinks and hardlinks (the rest skipped),
 * owned by uid:gid, into the existing directory dir. Names with a ".." are refused; a
 * file appears under its name only once complete. The fields are tar.c's. */
struct guest_untar {
    int dir; /* the destination */
    uid_t uid;
    gid_t gid;
    char *why;
    size_t whylen;
    int state, sink;
    unsigned char block[512]; /* a header, as it arrives */
    size_t block_len;
    int zero_blocks;
    uint64_t data_left, pad_left;
    char ext_type; /* 'x', 'L' or 'K' while one's data is collected into ext */
    char *ext;
    size_t ext_len;
    char *pax_path, *pax_link, *long_name, *long_link; /* for the next entry */
    bool pax_size_set;
    uint64_t pax_size;
    char *name; /* the current entry's, relative to dir */
    mode_t mode;
    int64_t mtime;
    int file_fd, file_dir; /* a regular file being written at file_tmp in file_dir */
    const char *file_base;
    char file_tmp[48];
    unsigned seq;
};
/* Each: 0, or -1 with why ("write-tar...: reason") filled; after an error, or instead of
 * finish, guest_untar_free removes what is half written. finish fails on a stream that
 * ended inside an entry, and frees. */
int guest_untar_init(struct guest_untar *u, const char *dir, uid_t uid, gid_t gid, char *why,
                     size_t whylen);
int guest_untar_feed(struct guest_untar *u, const void *buf, size_t len, char *why, size_t whylen);
int guest_untar_finish(struct guest_untar *u, char *why, size_t whylen);
void guest_untar_free(struct guest_untar *u);

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
int keep_accept(int listen_fd);             /* the handed-over connection, or -1 */
void keep_attach_session(int conn) __attribute__((noreturn));

/* sm-init --listen: the agent runs on a host for tests, where the host's clock and
 * hostname are not ours to set. */
bool guest_on_host(void);

/* The VM's names from a hello (hosts.c): its "hostname", and its "hosts" (docker's
 * --add-host) as a block of /etc/hosts that a later hello replaces; without "hosts" the
 * block stays as it is. Idempotent: the same hello again writes nothing. */
void guest_apply_names(struct json_object *hello);
/* mkdir -p, each part made 0755 (mounts.c): -1 with errno at the first part that could
 * not be made and does not exist. */
int guest_mkdir_p(const char *path);
/* docker's --tmpfs and --read-only from a hello (mounts.c): 0, or -1 with why filled. */
int guest_apply_mounts(struct json_object *hello, char *why, size_t whylen);
/* The valid entries of a hello's "hosts" (an array of {"name", "ip"}; anything else, and
 * entries past AGENT_HOSTS_MAX, left out) into out[max]: how many. */
struct agent_host_entry;
size_t guest_hosts_parse(struct json_object *hosts, struct agent_host_entry *out, size_t max);
/* The text of /etc/hosts (len bytes) with its --add-host block replaced by one of the n
 * entries (n 0: none), in the old one's place or at the end (malloc'd, NUL-terminated;
 * *out_len its length); NULL when out of memory. */
char *guest_hosts_render(const char *text, size_t len, const struct agent_host_entry *e, size_t n,
                         size_t *out_len);

/* Brings up lo, and eth0 with the given addresses ("10.0.2.15/24", "fd00::15/64") and
 * default gateways when ip is not NULL (net.c). Problems are logged, never fatal: the
 * workload may not need the network. settle: the VM will be snapshotted, so wait (bounded)
 * until the kernel has announced eth0's link, not in every clone after its restore. */
void guest_net_setup(const char *ip, const char *gw, const char *ip6, const char *gw6, bool settle);

/* Looks up every program of the usual PATH directories, so that a snapshot taken next
 * already has them in the kernel's caches (warm.c). */
void guest_warm_lookups(void);

/* Powers the guest off (sync first). */
void guest_poweroff(void) __attribute__((noreturn));

#endif
