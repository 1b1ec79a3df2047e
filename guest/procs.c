/* docker top and stats (docs/protocol.md, PROCESSES): the guest's processes as its /proc
 * lists them, and the figures `stats` shows, read where the guest kernel keeps them.
 * Kernel threads are left out, and so is supermachine's own part of the guest (sm-init,
 * its agent and the agent's sessions, this one too): every process running this program,
 * so that the list is the workload's and its execs', as docker's is a container's. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_proto.h"
#include "guest.h"

#define PF_KTHREAD 0x00200000u /* include/linux/sched.h: a kernel thread */
#define ARGS_MAX   4096        /* of a command line, as ps -ww would print it */

struct scan {
    int conn;
    bool list;
    dev_t self_dev; /* this program's file: processes running it are supermachine's */
    ino_t self_ino;
    long hz, page_kib;
    int64_t boot_unix_ms; /* when the guest booted, by its wall clock */
    int count;
};

/* path's first size - 1 bytes, NUL-terminated; their length, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < size - 1) {
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The terminal of a stat's tty_nr as ps names it ("pts/0", "ttyS0"), "?" for none. */
static void tty_name(unsigned tty_nr, char *out, size_t len)
{
    unsigned major = (tty_nr >> 8) & 0xfff, minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    if (tty_nr == 0)
        snprintf(out, len, "?");
    else if (major >= 136 && major <= 143)
        snprintf(out, len, "pts/%u", (major - 136) * 256 + minor);
    else if (major == 4 && minor < 64)
        snprintf(out, len, "tty%u", minor);
    else if (major == 4)
        snprintf(out, len, "ttyS%u", minor - 64);
    else if (major == 5 && minor == 1)
        snprintf(out, len, "console");
    else
        snprintf(out, len, "?");
}

/* The effective id on a "Uid:" or "Gid:" line of /proc/PID/status (real, effective,
 * saved, fs). */
static int64_t status_id(const char *status, const char *key)
{
    const char *p = strstr(status, key);
    unsigned long real, effective;
    if (p == NULL || sscanf(p + strlen(key), "%lu %lu", &real, &effective) != 2)
        return -1;
    return (int64_t)effective;
}

static void add_int(json_object *o, const char *key, int64_t v)
{
    json_object_object_add(o, key, json_object_new_int64(v));
}

static void add_str(json_object *o, const char *key, const char *v)
{
    json_object_object_add(o, key, json_object_new_string(v));
}

/* One process: sent (when listing) and counted, unless it is not the workload's. */
static void scan_process(struct scan *s, int pid)
{
    char path[64], line[1024], status[4096];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (read_small(path, line, sizeof(line)) <= 0)
        return; /* gone meanwhile */
    char *open_paren = strchr(line, '('), *close_paren = strrchr(line, ')');
    if (open_paren == NULL || close_paren == NULL || close_paren < open_paren)
        return;
    *close_paren = '\0';
    const char *comm = open_paren + 1;
    char state;
    int ppid, tty_nr;
    unsigned flags;
    unsigned long long utime, stime, starttime, vsize;
    long threads, rss;
    /* fields 3 to 24 of proc(5)'s stat */
    if (sscanf(close_paren + 1,
               " %c %d %*d %*d %d %*d %u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %ld %*d %llu "
               "%llu %ld",
               &state, &ppid, &tty_nr, &flags, &utime, &stime, &threads, &starttime, &vsize,
               &rss) != 10)
        return;
    if (flags & PF_KTHREAD)
        return;
    struct stat exe;
    snprintf(path, sizeof(path), "/proc/%d/exe", pid);
    if (stat(path, &exe) == 0 && exe.st_dev == s->self_dev && exe.st_ino == s->self_ino)
        return;
    if (!s->list) {
        s->count++;
        return;
    }
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    if (read_small(path, status, sizeof(status)) <= 0)
        return;
    int64_t uid = status_id(status, "\nUid:"), gid = status_id(status, "\nGid:");
    char args[ARGS_MAX + 1];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    ssize_t n = read_small(path, args, sizeof(args));
    for (ssize_t i = 0; i < n; i++)
        if (args[i] == '\0' || iscntrl((unsigned char)args[i]))
            args[i] = ' ';
    while (n > 0 && args[n - 1] == ' ')
        args[--n] = '\0';
    if (n < 0)
        args[0] = '\0';
    char user[64], tty[32], st[2] = {state, '\0'};
    if (uid < 0 || !guest_user_name((uid_t)uid, user, sizeof(user)))
        snprintf(user, sizeof(user), "%lld", (long long)uid);
    tty_name((unsigned)tty_nr, tty, sizeof(tty));
    json_object *o = json_object_new_object();
    add_int(o, "pid", pid);
    add_int(o, "ppid", ppid);
    add_int(o, "uid", uid);
    add_int(o, "gid", gid);
    add_str(o, "user", user);
    add_str(o, "state", st);
    add_str(o, "tty", tty);
    add_int(o, "start_ms", s->boot_unix_ms + (int64_t)(starttime * 1000 / (unsigned long)s->hz));
    add_int(o, "cpu_ms", (int64_t)((utime + stime) * 1000 / (unsigned long)s->hz));
    add_int(o, "rss_kib", rss * s->page_kib);
    add_int(o, "vsz_kib", (int64_t)(vsize / 1024));
    add_int(o, "threads", threads);
    add_str(o, "comm", comm);
    add_str(o, "args", args);
    agent_write_json(s->conn, AGENT_PROCESSES, o);
    json_object_put(o);
    s->count++; /* listed: the count is the list's length */
}

/* A "Key:   N kB" line of /proc/meminfo, in KiB; -1 if absent. */
static int64_t meminfo_kib(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    long long v;
    return p && sscanf(p + strlen(key), " %lld", &v) == 1 ? v : -1;
}

/* Bytes received and sent by every interface but loopback (/proc/net/dev). */
static void net_bytes(int64_t *rx, int64_t *tx)
{
    *rx = *tx = 0;
    FILE *f = fopen("/proc/net/dev", "re");
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (colon == NULL)
            continue; /* the two header lines */
        *colon = '\0';
        const char *name = line + strspn(line, " ");
        unsigned long long r, t;
        if (strcmp(name, "lo") == 0 ||
            sscanf(colon + 1, "%llu %*u %*u %*u %*u %*u %*u %*u %llu", &r, &t) != 2)
            continue;
        *rx += (int64_t)r;
        *tx += (int64_t)t;
    }
    fclose(f);
}

/* Bytes read and written by the guest's disks: block devices that are devices (not loop
 * or ram), from their stat files (sectors of 512 bytes). */
static void block_bytes(int64_t *rd, int64_t *wr)
{
    *rd = *wr = 0;
    DIR *d = opendir("/sys/block");
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strlen(e->d_name) > 64)
            continue;
        char path[128], text[512];
        snprintf(path, sizeof(path), "/sys/block/%s/device", e->d_name);
        if (access(path, F_OK) != 0)
            continue;
        snprintf(path, sizeof(path), "/sys/block/%s/stat", e->d_name);
        unsigned long long r, w;
        if (read_small(path, text, sizeof(text)) > 0 &&
            sscanf(text, "%*u %*u %llu %*u %*u %*u %llu", &r, &w) == 2) {
            *rd += (int64_t)r * 512;
            *wr += (int64_t)w * 512;
        }
    }
    closedir(d);
}

void guest_op_processes(int conn, json_object *req)
{
    json_object *list = NULL;
    struct scan s = {.conn = conn, .list = true};
    if (json_object_object_get_ex(req, "list", &list) &&
        json_object_is_type(list, json_type_boolean))
        s.list = json_object_get_boolean(list);
    struct stat self;
    if (stat("/proc/self/exe", &self) < 0) {
        guest_send_error(conn, "processes: /proc is not mounted");
        return;
    }
    s.self_dev = self.st_dev;
    s.self_ino = self.st_ino;
    s.hz = sysconf(_SC_CLK_TCK);
    s.hz = s.hz > 0 ? s.hz : 100;
    long page = sysconf(_SC_PAGESIZE);
    s.page_kib = page >= 1024 ? page / 1024 : 4;
    int64_t uptime_ms = clock_ms(CLOCK_BOOTTIME);
    s.boot_unix_ms = clock_ms(CLOCK_REALTIME) - uptime_ms;
    DIR *d = opendir("/proc");
    if (d == NULL) {
        guest_send_error(conn, "processes: /proc is not mounted");
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end == '\0' && pid > 0 && pid <= INT32_MAX)
            scan_process(&s, (int)pid);
    }
    closedir(d);
    char meminfo[4096];
    if (read_small("/proc/meminfo", meminfo, sizeof(meminfo)) <= 0)
        meminfo[0] = '\0';
    int64_t rx, tx, rd, wr;
    net_bytes(&rx, &tx);
    block_bytes(&rd, &wr);
    json_object *o = json_object_new_object();
    add_int(o, "status", 0);
    add_int(o, "processes", s.count);
    add_int(o, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
    add_int(o, "uptime_ms", uptime_ms);
    add_int(o, "mem_total_kib", meminfo_kib(meminfo, "MemTotal:"));
    add_int(o, "mem_available_kib", meminfo_kib(meminfo, "MemAvailable:"));
    add_int(o, "net_rx_bytes", rx);
    add_int(o, "net_tx_bytes", tx);
    add_int(o, "block_read_bytes", rd);
    add_int(o, "block_write_bytes", wr);
    agent_write_json(conn, AGENT_EXIT, o);
    json_object_put(o);
}
