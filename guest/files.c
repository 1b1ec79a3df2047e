/* Agent sessions that are not a process: write a file, read a file, write and read a
 * tree as a tar stream (tar.c), stat a path, list listening TCP ports, signal a process
 * by pid. Each answers EXIT {status: 0} or ERROR and ends. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_proto.h"
#include "guest.h"

static void send_ok(int conn, int64_t size)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_int(0));
    if (size >= 0)
        json_object_object_add(o, "size", json_object_new_int64(size));
    agent_write_json(conn, AGENT_EXIT, o);
    json_object_put(o);
}

/* stat's answer: what is at the path. */
static void send_type(int conn, const char *type)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_int(0));
    json_object_object_add(o, "type", json_object_new_string(type));
    agent_write_json(conn, AGENT_EXIT, o);
    json_object_put(o);
}

static void send_errno(int conn, const char *what, const char *path, int e)
{
    char msg[PATH_MAX + 128];
    snprintf(msg, sizeof(msg), "%s %s: %s", what, path, strerror(e));
    guest_send_error(conn, msg);
}

static bool valid_path(int conn, const char *path)
{
    if (path == NULL || path[0] != '/' || strlen(path) >= PATH_MAX) {
        guest_send_error(conn, "path: an absolute path is required");
        return false;
    }
    return true;
}

/* The STDIN frames that follow a write opener, each handed to sink, up to the empty one
 * that ends them. total: the bytes taken. -1 when the host went away or broke the
 * protocol (the decoder's error is sent) or the sink failed (it sent its own). */
static int receive_stdin(int conn, struct agent_decoder *dec,
                         int (*sink)(void *arg, const uint8_t *buf, size_t len), void *arg,
                         int64_t *total)
{
    *total = 0;
    for (;;) {
        uint8_t type;
        const uint8_t *payload;
        size_t len;
        if (guest_read_frame(conn, dec, &type, &payload, &len) < 0 || type != AGENT_STDIN) {
            if (dec->error[0])
                guest_send_error(conn, dec->error);
            return -1;
        }
        if (len == 0)
            return 0;
        if (sink(arg, payload, len) < 0)
            return -1;
        *total += (int64_t)len;
    }
}

struct file_sink {
    int conn, fd;
    const char *path;
};

static int write_to_file(void *arg, const uint8_t *buf, size_t len)
{
    struct file_sink *f = arg;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(f->fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            send_errno(f->conn, "write", f->path, w < 0 ? errno : ENOSPC);
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

/* The file is written beside its destination and renamed over it once complete, so a
 * reader in the guest never sees half of it and a broken transfer leaves nothing. */
void guest_op_write_file(int conn, struct agent_decoder *dec, json_object *req)
{
    const char *path = agent_json_str(req, "path");
    if (!valid_path(conn, path))
        return;
    int64_t mode = 0644, uid = 0, gid = 0;
    agent_json_int(req, "mode", 0, 07777, &mode);
    agent_json_int(req, "uid", 0, UINT32_MAX - 1, &uid);
    agent_json_int(req, "gid", 0, UINT32_MAX - 1, &gid);
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s.sm-tmp-%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        send_errno(conn, "write", path, errno);
        return;
    }
    struct file_sink sink = {conn, fd, path};
    int64_t total;
    if (receive_stdin(conn, dec, write_to_file, &sink, &total) < 0) {
        close(fd);
        unlink(tmp); /* nothing is left behind */
        return;
    }
    if (fchown(fd, (uid_t)uid, (gid_t)gid) < 0 || fchmod(fd, (mode_t)mode) < 0 || close(fd) < 0 ||
        rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        send_errno(conn, "write", path, e);
        return;
    }
    send_ok(conn, total);
}

void guest_op_read_file(int conn, json_object *req)
{
    const char *path = agent_json_str(req, "path");
    if (!valid_path(conn, path))
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        send_errno(conn, "read", path, errno);
        if (fd >= 0)
            close(fd);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        send_errno(conn, "read", path, S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
        return;
    }
    static uint8_t buf[AGENT_DATA_CHUNK];
    int64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            send_errno(conn, "read", path, e);
            return;
        }
        if (n == 0)
            break;
        if (agent_write_frame(conn, AGENT_STDOUT, buf, (size_t)n) < 0)
            _exit(0); /* the host went away */
        total += n;
    }
    close(fd);
    send_ok(conn, total);
}

struct untar_sink {
    int conn;
    struct guest_untar *u;
};

static int feed_untar(void *arg, const uint8_t *buf, size_t len)
{
    struct untar_sink *t = arg;
    char why[PATH_MAX + 128];
    if (guest_untar_feed(t->u, buf, len, why, sizeof(why)) < 0) {
        guest_send_error(t->conn, why);
        return -1;
    }
    return 0;
}

/* The host's tar stream is extracted as it arrives: nothing holds a whole tree. A broken
 * transfer leaves the entries completed before it (a half-written file is removed). */
void guest_op_write_tar(int conn, struct agent_decoder *dec, json_object *req)
{
    const char *path = agent_json_str(req, "path");
    if (!valid_path(conn, path))
        return;
    int64_t uid = 0, gid = 0;
    agent_json_int(req, "uid", 0, UINT32_MAX - 1, &uid);
    agent_json_int(req, "gid", 0, UINT32_MAX - 1, &gid);
    char why[PATH_MAX + 128];
    struct guest_untar u;
    if (guest_untar_init(&u, path, (uid_t)uid, (gid_t)gid, why, sizeof(why)) < 0) {
        guest_send_error(conn, why);
        return;
    }
    struct untar_sink sink = {conn, &u};
    int64_t total;
    if (receive_stdin(conn, dec, feed_untar, &sink, &total) < 0) {
        guest_untar_free(&u); /* a half-written file goes */
        return;
    }
    if (guest_untar_finish(&u, why, sizeof(why)) < 0) {
        guest_send_error(conn, why);
        return;
    }
    send_ok(conn, total);
}

struct tar_out {
    int conn;
    int64_t total;
};

static int send_stdout(void *arg, const void *buf, size_t len)
{
    struct tar_out *out = arg;
    if (agent_write_frame(out->conn, AGENT_STDOUT, buf, len) < 0)
        _exit(0); /* the host went away */
    out->total += (int64_t)len;
    return 0;
}

void guest_op_read_tar(int conn, json_object *req)
{
    const char *path = agent_json_str(req, "path");
    const char *name = agent_json_str(req, "name");
    if (!valid_path(conn, path))
        return;
    /* What is missing is said before any output: an error mid-stream is a failed copy. */
    struct stat st;
    if (lstat(path, &st) < 0) {
        send_errno(conn, "read-tar", path, errno);
        return;
    }
    char why[PATH_MAX + 128];
    struct tar_out out = {.conn = conn};
    if (guest_tar_write(path, name ? name : "", send_stdout, &out, why, sizeof(why)) < 0) {
        guest_send_error(conn, why);
        return;
    }
    send_ok(conn, out.total);
}

/* Symlinks followed, as docker's cp resolves its destination. */
void guest_op_stat(int conn, json_object *req)
{
    const char *path = agent_json_str(req, "path");
    if (!valid_path(conn, path))
        return;
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            send_type(conn, "none");
        else
            send_errno(conn, "stat", path, errno);
        return;
    }
    send_type(conn, S_ISDIR(st.st_mode) ? "dir" : S_ISREG(st.st_mode) ? "file" : "other");
}

/* One /proc/net/tcp{,6} table: sockets in state 0A (LISTEN). The kernel prints each
 * address as the 32-bit words of its network-order bytes, in host order. */
static void table_listeners(const char *table, bool v6, guest_listener_fn fn, void *arg)
{
    FILE *f = fopen(table, "re");
    if (f == NULL)
        return; /* no IPv6 in this kernel, say */
    char line[512];
    if (fgets(line, sizeof(line), f) == NULL) { /* header */
        fclose(f);
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        char local[64], state[8];
        unsigned port;
        if (sscanf(line, " %*u: %63[0-9A-Fa-f]:%x %*s %7s", local, &port, state) != 3 ||
            strcmp(state, "0A") != 0)
            continue;
        uint32_t words[4] = {0};
        int nwords = v6 ? 4 : 1;
        if (strlen(local) != (size_t)nwords * 8)
            continue;
        for (int i = 0; i < nwords; i++) {
            char w[9];
            memcpy(w, local + 8 * i, 8);
            w[8] = '\0';
            words[i] = (uint32_t)strtoul(w, NULL, 16);
        }
        char text[INET6_ADDRSTRLEN];
        if (inet_ntop(v6 ? AF_INET6 : AF_INET, words, text, sizeof(text)) == NULL)
            continue;
        fn(arg, port, text);
    }
    fclose(f);
}

void guest_listeners(guest_listener_fn fn, void *arg)
{
    table_listeners("/proc/net/tcp", false, fn, arg);
    table_listeners("/proc/net/tcp6", true, fn, arg);
}

static void add_listener(void *arg, unsigned port, const char *address)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "port", json_object_new_int((int)port));
    json_object_object_add(o, "address", json_object_new_string(address));
    json_object_array_add(arg, o);
}

void guest_op_ports(int conn)
{
    json_object *r = json_object_new_object();
    json_object *tcp = json_object_new_array();
    guest_listeners(add_listener, tcp);
    json_object_object_add(r, "tcp", tcp);
    agent_write_json(conn, AGENT_PORTS, r);
    json_object_put(r);
}

void guest_op_signal(int conn, json_object *req)
{
    int64_t sig, pid;
    /* pid 1 is this init: the host stops the VM by other means. */
    if (!agent_json_int(req, "signal", 1, NSIG - 1, &sig) ||
        !agent_json_int(req, "pid", 2, INT32_MAX, &pid)) {
        guest_send_error(conn, "signal: needs a signal number and a pid > 1");
        return;
    }
    if (kill((pid_t)pid, (int)sig) < 0) {
        char msg[96];
        snprintf(msg, sizeof(msg), "signal %lld to pid %lld: %s", (long long)sig, (long long)pid,
                 strerror(errno));
        guest_send_error(conn, msg);
        return;
    }
    send_ok(conn, -1);
}
