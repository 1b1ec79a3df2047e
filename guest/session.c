/* One agent session: a host connection that sets the clock, runs one process attached to
 * the connection (pipes or a pseudo-terminal) and reports its exit status after all of
 * its output, or does one thing of files.c, or powers the guest off. Runs in its own
 * process (forked per connection), so a session that misbehaves ends alone. A kept
 * process's session outlives its connection and takes over the next one that attaches
 * (keep.c); with a snapshot_on trigger it freezes the process when the trigger fires. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/random.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_proto.h"
#include "agent/agent_ulimit.h"
#include "guest.h"

#define STDIN_PENDING_MAX (1u << 20) /* host input held for a slow reader, at most */
#define HELD_OUTPUT_MAX   (1u << 20) /* a detached kept process's output, then it waits */
#define TRIGGER_TICK_MS   20         /* how often listen/idle/after triggers are checked */
#define IDLE_SAMPLE_NS    100000000u /* idle: CPU use sampled every 100 ms, */
#define IDLE_BUSY_PERMIL  20         /* busy above 2% of a CPU within a sample */
#define ARGV_MAX          4096

struct session {
    int conn;
    struct agent_decoder dec;
    pid_t pid;
    int pidfd;
    int in_fd;  /* the process's stdin (pipe or pty master), -1 once closed */
    int out_fd; /* stdout (or the pty master) */
    int err_fd; /* stderr pipe, -1 with a tty */
    bool tty;
    bool stdin_eof; /* the host said its input ended */
    uint8_t *pending;
    size_t pending_len;
    uint64_t started_ns; /* CLOCK_MONOTONIC at fork */
    uint64_t timeout_ns; /* 0: none; else the process is killed this long after start */
    bool timed_out;
    long peak_rss_kib; /* from the exit's rusage */
    /* A kept process (EXEC keep: true). */
    bool keep;
    int keep_fd;   /* listening for sessions that attach, -1 if not kept */
    uint8_t *held; /* output frames kept while no host is attached */
    size_t held_len;
    bool has_trigger, fired, frozen, output_seen;
    struct agent_trigger trigger;
    char marker[160];                  /* the console line that has the VMM take the snapshot */
    char tail[AGENT_TRIGGER_TEXT_MAX]; /* the end of the output, for console:TEXT */
    size_t tail_len;
    uint64_t quiet_since_ns, last_sample_ns;
    int64_t last_usage_us;
};

void guest_send_error(int conn, const char *msg)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "message", json_object_new_string(msg));
    agent_write_json(conn, AGENT_ERROR, o);
    json_object_put(o);
}

static void send_exit(int conn, int status)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_int(status));
    agent_write_json(conn, AGENT_EXIT, o);
    json_object_put(o);
}

/* STARTED and HELD: {"pid": N}. */
static int send_pid(int conn, uint8_t type, pid_t pid)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "pid", json_object_new_int(pid));
    int w = agent_write_json(conn, type, o);
    json_object_put(o);
    return w;
}

/* The exit of a process that ran: its status and what it cost. */
static void send_exit_stats(const struct session *s, int status)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_int(status));
    json_object_object_add(o, "peak_rss_kib", json_object_new_int64(s->peak_rss_kib));
    json_object_object_add(
        o, "duration_ms",
        json_object_new_int64((int64_t)((guest_mono_ns() - s->started_ns) / 1000000)));
    json_object_object_add(o, "timed_out", json_object_new_boolean(s->timed_out));
    agent_write_json(s->conn, AGENT_EXIT, o);
    json_object_put(o);
}

int guest_read_frame(int conn, struct agent_decoder *dec, uint8_t *type, const uint8_t **payload,
                     size_t *len)
{
    for (;;) {
        int r = agent_decoder_next(dec, type, payload, len);
        if (r != 0)
            return r;
        uint8_t *space = agent_decoder_space(dec, 65536);
        ssize_t n = read(conn, space, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        agent_decoder_commit(dec, (size_t)n);
    }
}

/* After a restore the guest's wall clock, entropy pool and names are the snapshot's: the
 * host sends its time, fresh randomness and the VM's names first. */
static void apply_hello(struct session *s, json_object *o)
{
    int64_t t;
    if (!guest_on_host() && agent_json_int(o, "time_ns", 0, INT64_MAX, &t)) {
        struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};
        clock_settime(CLOCK_REALTIME, &ts);
    }
    /* Names first: their files are written before --read-only can forbid it. */
    char failed[512] = "";
    if (!guest_on_host()) {
        guest_apply_names(o);                          /* hostname, --add-host */
        guest_apply_mounts(o, failed, sizeof(failed)); /* --tmpfs, --read-only */
    }
    const char *seed = agent_json_str(o, "seed");
    if (seed && strlen(seed) == 64 && strspn(seed, "0123456789abcdef") == 64) {
        struct {
            struct rand_pool_info info;
            uint8_t bytes[32];
        } pool = {.info = {.entropy_count = 256, .buf_size = 32}};
        for (int i = 0; i < 32; i++) {
            unsigned v;
            sscanf(seed + 2 * i, "%2x", &v);
            pool.bytes[i] = (uint8_t)v;
        }
        int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            ioctl(fd, RNDADDENTROPY, &pool);
            /* And reseed the CRNG now: clones of one snapshot must not share output. */
            ioctl(fd, RNDRESEEDCRNG);
            close(fd);
        }
    }
    json_object *r = json_object_new_object();
    json_object_object_add(r, "version", json_object_new_int(AGENT_VERSION));
    if (failed[0])
        json_object_object_add(r, "error", json_object_new_string(failed));
    agent_write_json(s->conn, AGENT_HELLO, r);
    json_object_put(r);
}

static bool env_has(char **env, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; env[i]; i++)
        if (strncmp(env[i], key, n) == 0 && env[i][n] == '=')
            return true;
    return false;
}

/* Appends KEY=value to env (a NULL-ended array, reallocated) unless env has KEY. */
static char **env_default(char **env, const char *key, const char *value)
{
    if (env_has(env, key))
        return env;
    size_t n = 0;
    while (env[n])
        n++;
    env = realloc(env, (n + 2) * sizeof(char *));
    if (env == NULL || asprintf(&env[n], "%s=%s", key, value) < 0)
        abort();
    env[n + 1] = NULL;
    return env;
}

/* execvp without its fallback of running a file that is not a program through /bin/sh:
 * as runc, such a file is an error (126), and PATH is the process's own, not ours. */
static void exec_search(char **argv, char **env)
{
    if (strchr(argv[0], '/')) {
        execve(argv[0], argv, env);
        return;
    }
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (size_t i = 0; env[i]; i++)
        if (strncmp(env[i], "PATH=", 5) == 0)
            path = env[i] + 5;
    int saved = ENOENT;
    for (const char *p = path;; p++) {
        const char *end = strchrnul(p, ':');
        char full[4096];
        int n = snprintf(full, sizeof(full), "%.*s%s%s", (int)(end - p), p, end > p ? "/" : "",
                         argv[0]);
        if (n > 0 && (size_t)n < sizeof(full)) {
            execve(full, argv, env);
            if (errno != ENOENT && errno != ENOTDIR)
                saved = errno; /* found but not runnable: that is the answer */
        }
        if (*end == '\0')
            break;
        p = end;
    }
    errno = saved;
}

/* In the child: become the process asked for, or report errno on errpipe and exit. */
static void exec_child(char **argv, char **env, const char *cwd, const struct guest_user *u,
                       bool tty, int slave, const int in[2], const int out[2], const int err[2],
                       int errpipe, bool freezable, const struct agent_ulimit *ul, size_t nul)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    setsid();
    if (tty) {
        ioctl(slave, TIOCSCTTY, 0);
        dup2(slave, 0);
        dup2(slave, 1);
        dup2(slave, 2);
    } else {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
    }
    int stage = -1;
    /* docker's --ulimit, as root still: a hard limit may be raised only now. Stage -2-i
     * tells the parent which one failed. */
    for (size_t i = 0; i < nul; i++) {
        if (setrlimit(ul[i].resource, &ul[i].limit) < 0) {
            stage = -2 - (int)i;
            goto fail;
        }
    }
    if (freezable && keep_join_cgroup() < 0)
        goto fail;
    stage = 0;
    if (chdir(cwd) < 0) {
        /* As docker: a working directory the image lacks is created. */
        guest_mkdir_p(cwd); /* chdir says whether it worked */
        if (chdir(cwd) < 0)
            goto fail;
    }
    stage = 1;
    if (setgroups((size_t)u->ngroups, u->groups) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0)
        goto fail;
    stage = 2;
    exec_search(argv, env);
fail:;
    int report[2] = {errno, stage};
    ssize_t w = write(errpipe, report, sizeof(report));
    (void)w;
    _exit(127);
}

static void pipe_or_die(int p[2])
{
    if (pipe2(p, O_CLOEXEC) < 0)
        _exit(1);
}

/* EXEC's keep, snapshot_on and marker. */
static int keep_options(struct session *s, json_object *req, char *why, size_t whylen)
{
    json_object *v;
    s->keep = json_object_object_get_ex(req, "keep", &v) && json_object_get_boolean(v);
    const char *on = agent_json_str(req, "snapshot_on");
    if (on) {
        const char *marker = agent_json_str(req, "marker");
        size_t mlen = marker ? strlen(marker) : 0;
        if (!s->keep || mlen < 16 || mlen >= sizeof(s->marker) || strpbrk(marker, "\r\n")) {
            snprintf(why, whylen,
                     "exec: snapshot_on needs keep and a marker of 16 to %zu "
                     "characters on one line",
                     sizeof(s->marker) - 1);
            return -1;
        }
        char reason[160];
        if (agent_trigger_parse(on, &s->trigger, reason, sizeof(reason)) < 0) {
            snprintf(why, whylen, "exec: snapshot_on %s: %s", on, reason);
            return -1;
        }
        if (guest_on_host()) {
            snprintf(why, whylen, "exec: snapshot_on: only in a VM");
            return -1;
        }
        memcpy(s->marker, marker, mlen + 1);
        s->has_trigger = true;
    }
    if (s->keep && (s->keep_fd = keep_prepare(s->has_trigger, why, whylen)) < 0)
        return -1;
    return 0;
}

/* Starts the process of an EXEC request. 0: running; -1: it could not start (the host
 * has been told why, with the exit status docker would give). */
static int start_process(struct session *s, json_object *req)
{
    char **argv = agent_json_strv(req, "argv", ARGV_MAX);
    char **env = agent_json_strv(req, "env", ARGV_MAX);
    /* Absent: none; present, each checked again here (agent_ulimit.h). */
    json_object *ulv = NULL;
    char **ulimits = json_object_object_get_ex(req, "ulimits", &ulv)
                         ? agent_json_strv(req, "ulimits", AGENT_ULIMITS_MAX)
                         : NULL;
    struct agent_ulimit ul[AGENT_ULIMITS_MAX];
    size_t nul = 0;
    const char *cwd = agent_json_str(req, "cwd");
    const char *user = agent_json_str(req, "user");
    json_object *v;
    s->tty = json_object_object_get_ex(req, "tty", &v) && json_object_get_boolean(v);
    bool want_stdin = json_object_object_get_ex(req, "stdin", &v) && json_object_get_boolean(v);
    int64_t rows = 24, cols = 80, timeout_ms = 0;
    agent_json_int(req, "timeout_ms", 0, INT64_MAX / 1000000, &timeout_ms);
    s->timeout_ns = (uint64_t)timeout_ms * 1000000u;
    agent_json_int(req, "rows", 1, 65535, &rows);
    agent_json_int(req, "cols", 1, 65535, &cols);
    char why[512];
    bool bad_ulimits = ulv != NULL && ulimits == NULL;
    for (size_t i = 0; ulimits && ulimits[i] && !bad_ulimits; i++) {
        char reason[256];
        if (agent_ulimit_parse(ulimits[i], &ul[nul++], reason, sizeof(reason)) < 0) {
            snprintf(why, sizeof(why), "exec: --ulimit %s: %s", ulimits[i], reason);
            bad_ulimits = true;
        }
    }
    if (bad_ulimits && ulimits == NULL)
        snprintf(why, sizeof(why), "exec: ulimits must be an array of at most %d strings",
                 AGENT_ULIMITS_MAX);
    if (argv == NULL || argv[0] == NULL || env == NULL || bad_ulimits ||
        keep_options(s, req, why, sizeof(why)) < 0) {
        guest_send_error(s->conn, argv == NULL || argv[0] == NULL || env == NULL
                                      ? "exec: argv (non-empty) and env must be arrays of strings"
                                      : why);
        agent_strv_free(argv);
        agent_strv_free(env);
        agent_strv_free(ulimits);
        return -1;
    }
    struct guest_user u;
    if (guest_resolve_user(user, &u, why, sizeof(why)) < 0) {
        agent_write_frame(s->conn, AGENT_STDERR, why, strlen(why));
        agent_write_frame(s->conn, AGENT_STDERR, "\n", 1);
        send_exit(s->conn, 126);
        agent_strv_free(argv);
        agent_strv_free(env);
        agent_strv_free(ulimits);
        return -1;
    }
    /* As docker gives every process of a container: its hostname, and the user's home. */
    char host[65] = "";
    if (gethostname(host, sizeof(host) - 1) == 0 && host[0])
        env = env_default(env, "HOSTNAME", host);
    env = env_default(env, "HOME", u.home);
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, master = -1, slave = -1;
    if (s->tty) {
        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
            (slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
            snprintf(why, sizeof(why), "exec: pseudo-terminal: %s", strerror(errno));
            guest_send_error(s->conn, why);
            return -1;
        }
        struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
        ioctl(master, TIOCSWINSZ, &ws);
    } else {
        pipe_or_die(in);
        pipe_or_die(out);
        pipe_or_die(err);
    }
    int ep[2];
    pipe_or_die(ep);
    const char *dir = cwd && *cwd ? cwd : "/";
    s->started_ns = guest_mono_ns();
    pid_t pid = fork();
    if (pid == 0)
        exec_child(argv, env, dir, &u, s->tty, slave, in, out, err, ep[1], s->has_trigger, ul, nul);
    close(ep[1]);
    int report[2] = {0, 0};
    ssize_t got = read(ep[0], report, sizeof(report));
    close(ep[0]);
    if (s->tty) {
        close(slave);
        s->in_fd = s->out_fd = master;
        s->err_fd = -1;
    } else {
        close(in[0]);
        close(out[1]);
        close(err[1]);
        s->in_fd = in[1];
        s->out_fd = out[0];
        s->err_fd = err[0];
    }
    if (!want_stdin && !s->tty) {
        close(s->in_fd);
        s->in_fd = -1;
    }
    if (pid < 0 || got == (ssize_t)sizeof(report)) {
        int e = pid < 0 ? errno : report[0];
        if (pid > 0)
            waitpid(pid, NULL, 0);
        int status = 126;
        if (pid < 0)
            snprintf(why, sizeof(why), "exec: fork: %s", strerror(e));
        else if (report[1] <= -2 && (size_t)(-2 - report[1]) < nul)
            snprintf(why, sizeof(why), "exec: --ulimit %s: %s", ulimits[-2 - report[1]],
                     strerror(e));
        else if (report[1] == -1)
            snprintf(why, sizeof(why), "exec: join the kept process's cgroup: %s", strerror(e));
        else if (report[1] == 0)
            snprintf(why, sizeof(why), "chdir to %s: %s", dir, strerror(e));
        else if (report[1] == 1)
            snprintf(why, sizeof(why), "set user %s: %s", user ? user : "0", strerror(e));
        else if (e == ENOENT && !strchr(argv[0], '/'))
            status = 127,
            snprintf(why, sizeof(why), "exec: \"%s\": executable file not found in $PATH", argv[0]);
        else if (e == ENOENT)
            status = 127,
            snprintf(why, sizeof(why), "exec: \"%s\": no such file or directory", argv[0]);
        else
            snprintf(why, sizeof(why), "exec: \"%s\": %s", argv[0], strerror(e));
        agent_write_frame(s->conn, AGENT_STDERR, why, strlen(why));
        agent_write_frame(s->conn, AGENT_STDERR, "\n", 1);
        send_exit(s->conn, status);
        agent_strv_free(argv);
        agent_strv_free(env);
        agent_strv_free(ulimits);
        return -1;
    }
    agent_strv_free(argv);
    agent_strv_free(env);
    agent_strv_free(ulimits);
    s->pid = pid;
    s->pidfd = pidfd_open(pid, 0);
    for (int *fd = &s->in_fd; fd <= &s->err_fd; fd++)
        if (*fd >= 0)
            fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
    send_pid(s->conn, AGENT_STARTED, pid);
    return 0;
}

/* A kept process's host went away (or a restore reset the connection): its output is
 * kept for the next session that attaches. Any other process dies with its session. */
static void host_gone(struct session *s)
{
    if (!s->keep) {
        kill(-s->pid, SIGKILL);
        kill(s->pid, SIGKILL);
        _exit(0);
    }
    if (s->conn >= 0)
        close(s->conn);
    s->conn = -1;
    agent_decoder_free(&s->dec);
    agent_decoder_init(&s->dec);
    s->pending_len = 0;
    s->stdin_eof = false;
}

static void hold_frame(struct session *s, uint8_t type, const void *data, size_t len)
{
    s->held = realloc(s->held, s->held_len + 5 + len);
    if (s->held == NULL)
        abort();
    agent_frame_header(s->held + s->held_len, type, len);
    memcpy(s->held + s->held_len + 5, data, len);
    s->held_len += 5 + len;
}

/* A frame for the host: sent, or kept while a kept process has nobody attached. */
static void deliver(struct session *s, uint8_t type, const void *data, size_t len)
{
    if (s->conn >= 0 && agent_write_frame(s->conn, type, data, len) == 0)
        return;
    host_gone(s);
    hold_frame(s, type, data, len);
}

/* console:TEXT looks for TEXT across reads: the end of the previous ones is kept. */
static void watch_output(struct session *s, const uint8_t *data, size_t n)
{
    size_t tlen = strlen(s->trigger.text);
    uint8_t joined[sizeof(s->tail) + AGENT_DATA_CHUNK];
    memcpy(joined, s->tail, s->tail_len);
    memcpy(joined + s->tail_len, data, n);
    size_t total = s->tail_len + n;
    if (memmem(joined, total, s->trigger.text, tlen))
        s->output_seen = true;
    size_t keep = total < tlen - 1 ? total : tlen - 1;
    memcpy(s->tail, joined + total - keep, keep);
    s->tail_len = keep;
}

/* Output of the process to the host; false at end of file (or EIO: a pty whose other
 * side every process closed). */
static bool forward_output(struct session *s, int *fd, uint8_t type)
{
    static uint8_t buf[AGENT_DATA_CHUNK];
    ssize_t n = read(*fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n <= 0) {
        if (*fd != s->in_fd)
            close(*fd);
        *fd = -1;
        return false;
    }
    if (s->has_trigger && !s->fired && s->trigger.kind == AGENT_TRIGGER_OUTPUT)
        watch_output(s, buf, (size_t)n);
    deliver(s, type, buf, (size_t)n);
    return true;
}

static bool trigger_fires(struct session *s)
{
    uint64_t now = guest_mono_ns();
    switch (s->trigger.kind) {
    case AGENT_TRIGGER_LISTEN:
        return keep_port_listening(s->trigger.value);
    case AGENT_TRIGGER_OUTPUT:
        return s->output_seen;
    case AGENT_TRIGGER_AFTER:
        return now - s->started_ns >= (uint64_t)s->trigger.value * 1000000u;
    case AGENT_TRIGGER_IDLE:
        if (s->last_sample_ns == 0 || now - s->last_sample_ns >= IDLE_SAMPLE_NS) {
            int64_t usage = keep_cpu_usage_us();
            uint64_t span_us = s->last_sample_ns ? (now - s->last_sample_ns) / 1000 : 0;
            if (usage < 0 || s->last_sample_ns == 0 ||
                (uint64_t)(usage - s->last_usage_us) * 1000 > span_us * IDLE_BUSY_PERMIL)
                s->quiet_since_ns = now;
            s->last_usage_us = usage;
            s->last_sample_ns = now;
        }
        return now - s->quiet_since_ns >= (uint64_t)s->trigger.value * 1000000u;
    }
    return false;
}

/* The trigger fired: freeze the process (all of its cgroup), then print the marker, on
 * which the VMM pauses the guest and saves it. A restored guest goes on from here, the
 * process still frozen until a session attaches. */
static void fire(struct session *s)
{
    s->fired = true;
    if (keep_freeze(true) < 0) {
        char why[160];
        snprintf(why, sizeof(why), "snapshot_on: freeze the process: %s", strerror(errno));
        if (s->conn >= 0)
            guest_send_error(s->conn, why);
        kill(-s->pid, SIGKILL);
        kill(s->pid, SIGKILL);
        _exit(0);
    }
    s->frozen = true;
    keep_print_marker(s->marker);
    if (s->conn >= 0 && send_pid(s->conn, AGENT_HELD, s->pid) < 0)
        host_gone(s);
}

/* A session attached: it continues on that connection (STARTED, what was kept, then as
 * before), and a frozen process runs again: the attaching session already set the clock
 * and the entropy (its hello). */
static void attach(struct session *s)
{
    int conn = keep_accept(s->keep_fd);
    if (conn < 0)
        return;
    if (s->conn >= 0)
        close(s->conn);
    s->conn = conn;
    agent_decoder_free(&s->dec);
    agent_decoder_init(&s->dec);
    int w = send_pid(s->conn, AGENT_STARTED, s->pid);
    if (w == 0 && s->held_len)
        w = agent_write_all(s->conn, s->held, s->held_len);
    if (w < 0) {
        host_gone(s);
        return;
    }
    free(s->held);
    s->held = NULL;
    s->held_len = 0;
    if (s->frozen && keep_freeze(false) == 0)
        s->frozen = false;
}

static void close_stdin(struct session *s)
{
    if (s->in_fd < 0)
        return;
    if (s->tty) {
        /* A terminal has no end of file to close: send its EOF character. */
        struct termios t;
        char eof = tcgetattr(s->in_fd, &t) == 0 ? (char)t.c_cc[VEOF] : 4;
        ssize_t w = write(s->in_fd, &eof, 1);
        (void)w;
        return;
    }
    close(s->in_fd);
    s->in_fd = -1;
}

static void flush_stdin(struct session *s)
{
    while (s->pending_len > 0 && s->in_fd >= 0) {
        ssize_t w = write(s->in_fd, s->pending, s->pending_len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return;
        if (w <= 0) { /* the process closed its input: drop what it will never read */
            s->pending_len = 0;
            break;
        }
        memmove(s->pending, s->pending + w, s->pending_len - (size_t)w);
        s->pending_len -= (size_t)w;
    }
    if (s->pending_len == 0 && s->stdin_eof) {
        close_stdin(s);
        s->stdin_eof = false;
    }
}

static void handle_control(struct session *s, uint8_t type, const uint8_t *payload, size_t len)
{
    if (type == AGENT_STDIN) {
        if (len == 0) {
            s->stdin_eof = true;
        } else if (s->in_fd >= 0) {
            s->pending = realloc(s->pending, s->pending_len + len);
            if (s->pending == NULL)
                abort();
            memcpy(s->pending + s->pending_len, payload, len);
            s->pending_len += len;
        }
        flush_stdin(s);
        return;
    }
    json_object *o = agent_parse_json(payload, len);
    int64_t a, b;
    if (type == AGENT_SIGNAL && o && agent_json_int(o, "signal", 1, NSIG - 1, &a)) {
        kill(s->pid, (int)a);
    } else if (type == AGENT_RESIZE && o && s->tty && agent_json_int(o, "rows", 1, 65535, &a) &&
               agent_json_int(o, "cols", 1, 65535, &b)) {
        struct winsize ws = {.ws_row = (unsigned short)a, .ws_col = (unsigned short)b};
        ioctl(s->out_fd, TIOCSWINSZ, &ws);
    } else if (type == AGENT_POWEROFF) {
        guest_poweroff();
    } else if (type != AGENT_RESIZE) {
        char msg[96];
        snprintf(msg, sizeof(msg), "unexpected %s frame while a process runs",
                 agent_frame_type_name(type));
        guest_send_error(s->conn, msg);
    }
    json_object_put(o);
}

static int wait_status(struct session *s, int options)
{
    int st;
    struct rusage ru;
    pid_t r;
    while ((r = wait4(s->pid, &st, options, &ru)) < 0) {
        if (errno != EINTR)
            return 255;
    }
    if (r == 0)
        return -1;                  /* WNOHANG: still running */
    s->peak_rss_kib = ru.ru_maxrss; /* KiB on Linux */
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The request's time limit: the process and its process group are killed. */
static void enforce_timeout(struct session *s)
{
    if (s->timed_out || s->timeout_ns == 0 || guest_mono_ns() - s->started_ns < s->timeout_ns)
        return;
    s->timed_out = true;
    kill(-s->pid, SIGKILL);
    kill(s->pid, SIGKILL);
}

static int poll_timeout_ms(const struct session *s, bool exited)
{
    if (exited)
        return 100;
    int t = -1;
    if (s->timeout_ns != 0 && !s->timed_out) {
        uint64_t elapsed = guest_mono_ns() - s->started_ns;
        t = elapsed >= s->timeout_ns ? 0 : (int)((s->timeout_ns - elapsed) / 1000000 + 1);
    }
    if (s->has_trigger && !s->fired && (t < 0 || t > TRIGGER_TICK_MS))
        t = TRIGGER_TICK_MS;
    return t;
}

/* Handles every whole frame the decoder holds; false on a protocol error. */
static bool handle_buffered(struct session *s)
{
    uint8_t type;
    const uint8_t *payload;
    size_t len;
    int fr;
    while ((fr = agent_decoder_next(&s->dec, &type, &payload, &len)) == 1)
        handle_control(s, type, payload, len);
    return fr == 0;
}

static void protocol_error(struct session *s)
{
    guest_send_error(s->conn, s->dec.error);
    host_gone(s); /* a kept process waits for the next session; others end */
}

static void close_output(struct session *s, int *fd)
{
    if (*fd >= 0 && *fd != s->in_fd)
        close(*fd);
    *fd = -1;
}

/* Pumps bytes both ways until the process has exited and its output is drained (and, for
 * a kept process, until a host is attached to hear it). */
static void pump(struct session *s)
{
    bool exited = false;
    int status = 0;
    /* Input may have come in the same read as the exec request. */
    if (!handle_buffered(s))
        protocol_error(s);
    for (;;) {
        struct pollfd p[6];
        int n = 0, i_conn = -1, i_out = -1, i_err = -1, i_pid = -1, i_keep = -1;
        /* Output is read while someone hears it, or while a detached kept process's
         * backlog is small: beyond that the process waits (back-pressure, nothing lost). */
        bool take_output = s->conn >= 0 || s->held_len < HELD_OUTPUT_MAX;
        if (s->conn >= 0 && s->pending_len < STDIN_PENDING_MAX)
            p[i_conn = n++] = (struct pollfd){.fd = s->conn, .events = POLLIN};
        if (s->out_fd >= 0 && take_output)
            p[i_out = n++] = (struct pollfd){
                .fd = s->out_fd, .events = POLLIN | (s->tty && s->pending_len ? POLLOUT : 0)};
        if (s->err_fd >= 0 && take_output)
            p[i_err = n++] = (struct pollfd){.fd = s->err_fd, .events = POLLIN};
        if (!exited && s->pidfd >= 0)
            p[i_pid = n++] = (struct pollfd){.fd = s->pidfd, .events = POLLIN};
        if (s->keep_fd >= 0)
            p[i_keep = n++] = (struct pollfd){.fd = s->keep_fd, .events = POLLIN};
        struct pollfd in_poll = {.fd = s->in_fd, .events = POLLOUT};
        if (!s->tty && s->pending_len && s->in_fd >= 0)
            p[n++] = in_poll;
        /* Once the process is gone, output still in flight gets a moment; a background
         * child keeping the pipes open must not keep the session open for ever. */
        int r = poll(p, (nfds_t)n, poll_timeout_ms(s, exited));
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0 && exited) {
            close_output(s, &s->out_fd);
            close_output(s, &s->err_fd);
            if (s->conn >= 0)
                break;
            continue; /* kept, nobody attached: wait for a session to hear the end */
        }
        if (!exited)
            enforce_timeout(s);
        if (i_pid >= 0 && (p[i_pid].revents & POLLIN)) {
            status = wait_status(s, 0);
            exited = true;
        }
        if (i_keep >= 0 && (p[i_keep].revents & POLLIN))
            attach(s);
        if (i_out >= 0 && (p[i_out].revents & (POLLIN | POLLHUP | POLLERR)))
            forward_output(s, &s->out_fd, AGENT_STDOUT);
        if (i_err >= 0 && (p[i_err].revents & (POLLIN | POLLHUP | POLLERR)))
            forward_output(s, &s->err_fd, AGENT_STDERR);
        if (s->pending_len)
            flush_stdin(s);
        if (i_conn >= 0 && s->conn == p[i_conn].fd &&
            (p[i_conn].revents & (POLLIN | POLLHUP | POLLERR))) {
            uint8_t *space = agent_decoder_space(&s->dec, 65536);
            ssize_t got = read(s->conn, space, 65536);
            if (got <= 0 && !(got < 0 && errno == EINTR)) {
                host_gone(s); /* nobody will read this process's output */
            } else if (got > 0) {
                agent_decoder_commit(&s->dec, (size_t)got);
                if (!handle_buffered(s))
                    protocol_error(s);
            }
        }
        if (!exited && s->has_trigger && !s->fired && trigger_fires(s))
            fire(s);
        if (exited && s->out_fd < 0 && s->err_fd < 0 && s->conn >= 0)
            break;
        if (!exited && s->pidfd < 0) {
            /* No pidfd (old kernel): poll for the exit. */
            int st = wait_status(s, WNOHANG);
            if (st >= 0) {
                status = st;
                exited = true;
            }
        }
    }
    send_exit_stats(s, status);
}

void agent_session(int conn)
{
    struct session s = {.conn = conn,
                        .pid = -1,
                        .pidfd = -1,
                        .in_fd = -1,
                        .out_fd = -1,
                        .err_fd = -1,
                        .keep_fd = -1};
    agent_decoder_init(&s.dec);
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        uint8_t type;
        const uint8_t *payload;
        size_t len;
        int r = guest_read_frame(conn, &s.dec, &type, &payload, &len);
        if (r < 0) {
            if (s.dec.error[0])
                guest_send_error(conn, s.dec.error);
            _exit(0);
        }
        json_object *o = agent_parse_json(payload, len);
        if (type == AGENT_POWEROFF)
            guest_poweroff();
        if (o == NULL) {
            guest_send_error(conn, "a control frame must hold a JSON object");
            _exit(0);
        }
        if (type == AGENT_HELLO) {
            apply_hello(&s, o);
        } else if (type == AGENT_WRITE_FILE || type == AGENT_READ_FILE || type == AGENT_PORTS ||
                   type == AGENT_SIGNAL || type == AGENT_WRITE_TAR || type == AGENT_READ_TAR ||
                   type == AGENT_STAT || type == AGENT_PROCESSES) {
            if (type == AGENT_WRITE_FILE)
                guest_op_write_file(conn, &s.dec, o);
            else if (type == AGENT_READ_FILE)
                guest_op_read_file(conn, o);
            else if (type == AGENT_WRITE_TAR)
                guest_op_write_tar(conn, &s.dec, o);
            else if (type == AGENT_READ_TAR)
                guest_op_read_tar(conn, o);
            else if (type == AGENT_STAT)
                guest_op_stat(conn, o);
            else if (type == AGENT_PORTS)
                guest_op_ports(conn);
            else if (type == AGENT_PROCESSES)
                guest_op_processes(conn, o);
            else
                guest_op_signal(conn, o);
            json_object_put(o);
            _exit(0);
        } else if (type == AGENT_ATTACH) {
            keep_attach_session(conn);
        } else if (type == AGENT_EXEC) {
            int started = start_process(&s, o);
            json_object_put(o);
            if (started == 0)
                pump(&s);
            _exit(0);
        } else {
            char msg[96];
            snprintf(msg, sizeof(msg), "unexpected %s frame before exec",
                     agent_frame_type_name(type));
            guest_send_error(conn, msg);
        }
        json_object_put(o);
    }
}
