/* The attached session: the main process (or an exec) run through the guest's agent with
 * our descriptors, our signals passed on, and a terminal in raw mode for -t. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "agent/agent_client.h"
#include "common/trace.h"
#include "common/util.h"
#include "net/net_backend.h"
#include "net/net_policy.h"
#include "runtime/run.h"

/* The vsock socket's path through a directory descriptor: Unix socket paths are limited
 * to 108 bytes and a store path plus a 64-hex id can be longer. The VMM binds it
 * relative to its working directory, the instance directory, for the same reason. */
struct vsock_path {
    int dirfd;
    char path[64];
};

static int vsock_path_open(struct instance *in, struct vsock_path *v, sm_error_t *err)
{
    v->dirfd = open(in->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (v->dirfd < 0)
        return sm_error_set(err, errno, "%s", in->dir);
    snprintf(v->path, sizeof(v->path), "/proc/self/fd/%d/vsock.sock", v->dirfd);
    return 0;
}

/* Waiting for the agent (a first run boots and bakes meanwhile) with the caller's signals
 * already ours: SIGINT, SIGTERM, SIGHUP or SIGQUIT ends the wait, there being no process
 * to pass them to yet; the others are dropped (the process's window size goes with its
 * start anyway). */
struct agent_wait {
    struct instance *in;
    int signal_fd;  /* -1: no signals of ours */
    int stopped_by; /* the signal that ended the wait, or 0 */
};

static bool vm_alive_unsignalled(void *arg)
{
    struct agent_wait *w = arg;
    uint8_t sigs[16];
    ssize_t k;
    while (w->signal_fd >= 0 && w->stopped_by == 0 &&
           (k = read(w->signal_fd, sigs, sizeof(sigs))) > 0)
        for (ssize_t i = 0; i < k; i++)
            if (sigs[i] == SIGINT || sigs[i] == SIGTERM || sigs[i] == SIGHUP || sigs[i] == SIGQUIT)
                w->stopped_by = sigs[i];
    return w->stopped_by == 0 && instance_running(w->in);
}

/* Signals we receive become bytes on this pipe, which the pump turns into frames. */
static int signal_pipe[2] = {-1, -1};
/* One forwarding session at a time owns the handlers and the pipe. */
static pthread_mutex_t signal_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_signal(int sig)
{
    int saved = errno;
    uint8_t b = (uint8_t)sig;
    ssize_t w = write(signal_pipe[1], &b, 1);
    (void)w;
    errno = saved;
}

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

/* The VM's --add-host entries for every hello, host-gateway as the guest reaches this
 * host. The record is a file: an entry that no longer parses is left out (the guest would
 * drop it too). Always an array, maybe empty: a hello with none removes the entries a
 * workload snapshot may have brought from the run that baked it. */
static struct agent_host_entry *hello_hosts(const struct instance *in, size_t *n)
{
    size_t count = 0;
    while (in->extra_hosts && in->extra_hosts[count])
        count++;
    struct agent_host_entry *hosts = xcalloc(count + 1, sizeof(*hosts));
    *n = 0;
    for (size_t i = 0; i < count && *n < AGENT_HOSTS_MAX; i++)
        if (agent_host_entry_parse(in->extra_hosts[i], NET_HOST_IP4, &hosts[*n], NULL, 0) == 0)
            (*n)++;
    return hosts;
}

/* docker's --dns*: the servers the guest's /etc/resolv.conf names. None given: the VM's
 * own resolver, as the init wrote it, when the VM has a network (its VMM made the
 * network's socket). */
static const char *const *hello_dns_servers(const struct instance *in)
{
    static const char *const own[] = {NET_DNS_IP4, NULL};
    if (in->dns && in->dns[0])
        return (const char *const *)in->dns;
    cleanup_free char *net = instance_path(in, NET_CONTROL_SOCKET);
    return access(net, F_OK) == 0 ? own : NULL;
}

static int agent_open(struct instance *in, int timeout_ms, int signal_fd, struct agent_conn *conn,
                      sm_error_t *err)
{
    struct agent_wait wait = {.in = in, .signal_fd = signal_fd};
    struct vsock_path vp;
    if (vsock_path_open(in, &vp, err) < 0)
        return -1;
    char hostname[64];
    instance_hostname(in, hostname);
    size_t nhosts;
    cleanup_free struct agent_host_entry *hosts = hello_hosts(in, &nhosts);
    struct agent_conn c;
    int r;
    uint64_t deadline = sm_now_ns() + (uint64_t)timeout_ms * 1000000;
    for (;;) {
        int left_ms = (int)((deadline - sm_now_ns()) / 1000000);
        r = agent_connect_while(vp.path, AGENT_PORT, left_ms > 0 ? left_ms : 1,
                                vm_alive_unsignalled, &wait, &c, err);
        if (r < 0)
            break;
        sm_trace("agent: connected");
        struct agent_hello_setup setup = {
            .hostname = hostname,
            .hosts = hosts,
            .nhosts = nhosts,
            .read_only = in->read_only,
            .shm_size = in->shm_size,
            .tmpfs = (const char *const *)in->tmpfs,
            .dns_set = in->dns || in->dns_search || in->dns_options,
            .dns_search = (const char *const *)in->dns_search,
            .dns_options = (const char *const *)in->dns_options,
        };
        if (setup.dns_set)
            setup.dns = hello_dns_servers(in);
        r = agent_hello(&c, &setup, timeout_ms, err);
        sm_trace("agent: hello answered (%d)", r);
        if (r == 0)
            break;
        agent_close(&c);
        if (r == -2) /* the guest's answer: asking again would get the same */
            break;
        /* Right after a restore the guest's vsock transport reset (docs/vsock.md) can
         * close a connection it accepted a moment before: connect again. */
        if (sm_now_ns() >= deadline || !vm_alive_unsignalled(&wait))
            break;
        sm_error_release(err);
        usleep(5000);
    }
    close(vp.dirfd); /* the path was only needed to connect */
    if (r < 0 && wait.stopped_by) {
        sm_error_release(err);
        const char *name = sigabbrev_np(wait.stopped_by);
        sm_error_set(err, 0, "VM %s: stopped by SIG%s before the process started", in->name,
                     name ? name : "?");
        return RUN_STOPPED_BY_SIGNAL;
    }
    if (r < 0)
        return sm_error_wrap(err, "VM %s", in->name);
    *conn = c;
    return 0;
}

int run_agent_open(struct instance *in, int timeout_ms, struct agent_conn *conn, sm_error_t *err)
{
    return agent_open(in, timeout_ms, -1, conn, err);
}

/* The VMM saves a workload snapshot on the marker line, then renames its directory into
 * place: that rename is the news. A VM that stops first, or a save that fails (the VMM
 * logs why and lets the guest run on), ends the wait. */
static int await_snapshot(struct instance *in, const char *dir, int timeout_ms, sm_error_t *err)
{
    cleanup_free char *meta = xasprintf("%s/snapshot.meta", dir);
    cleanup_free char *log_path = instance_path(in, "vmm.log");
    cleanup_free char *failed = xasprintf("supermachine: snapshot %s: ", dir);
    uint64_t deadline = sm_now_ns() + (uint64_t)timeout_ms * 1000000;
    for (unsigned i = 0;; i++) {
        if (access(meta, R_OK) == 0)
            return 0;
        if (!instance_running(in))
            return sm_error_set(err, 0, "the VM stopped before its snapshot was saved");
        if (i % 25 == 0) {
            char *log = NULL;
            size_t len = 0;
            sm_error_t ignored = NULL;
            if (sm_read_file(log_path, 1 << 20, &log, &len, &ignored) == 0) {
                char *at = strstr(log, failed);
                if (at) {
                    at += strlen(failed);
                    at[strcspn(at, "\n")] = '\0';
                    sm_error_set(err, 0, "save the snapshot: %s", at);
                    free(log);
                    return -1;
                }
            }
            free(log);
            sm_error_release(&ignored);
        }
        if (sm_now_ns() >= deadline)
            return sm_error_set(err, 0, "the snapshot was not saved within %d s (see %s)",
                                timeout_ms / 1000, log_path);
        usleep(10 * 1000);
    }
}

struct started_ctx {
    struct instance *in;
    const struct run_process *proc;
};

/* The process runs: the main one's guest pid is kept for `stop` and `kill`
 * (sm_vm_kill), and a detached run's caller may return now. */
static void on_started(void *arg, int pid)
{
    struct started_ctx *s = arg;
    if (s->proc->main) {
        cleanup_free char *path = instance_path(s->in, "main.pid");
        char text[32];
        int n = snprintf(text, sizeof(text), "%d\n", pid);
        sm_error_t ignored = NULL;
        sm_write_file_replace(path, text, (size_t)n, 0600, &ignored);
        sm_error_release(&ignored);
    }
    run_signal_ready(s->proc->ready_fd);
}

void run_signal_ready(int *ready_fd)
{
    if (ready_fd && *ready_fd >= 0) {
        sm_write_all(*ready_fd, "ok\n", 3);
        close(*ready_fd);
        *ready_fd = -1;
    }
}

int run_attached(struct instance *in, const struct run_process *proc, int timeout_ms,
                 int *exit_status, sm_error_t *err)
{
    struct agent_conn c;
    /* Signal forwarding is process-wide state: only for callers that asked (the CLI). It
     * starts before the wait for the agent, so that a signal then (Ctrl-C while a first run
     * boots) ends the run the usual way, the VM stopped and a --rm record removed, rather
     * than killing the caller and leaving both to the VMM's owner watch. */
    bool forward = proc->forward_signals;
    if (forward) {
        pthread_mutex_lock(&signal_lock);
        if (signal_pipe[0] < 0 && pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
            int e = errno;
            pthread_mutex_unlock(&signal_lock);
            return sm_error_set(err, e, "pipe");
        }
        uint8_t stale[64]; /* an earlier session's leftovers */
        while (read(signal_pipe[0], stale, sizeof(stale)) > 0)
            ;
    }
    struct sigaction sa = {.sa_handler = on_signal}, old[SM_ARRAY_SIZE(forwarded)];
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; forward && i < SM_ARRAY_SIZE(forwarded); i++)
        sigaction(forwarded[i], &sa, &old[i]);
    if (proc->signals_held)
        pthread_sigmask(SIG_SETMASK, proc->signals_held, NULL);
    int opened = agent_open(in, timeout_ms, forward ? signal_pipe[0] : -1, &c, err);
    if (opened < 0) {
        for (size_t i = 0; forward && i < SM_ARRAY_SIZE(forwarded); i++)
            sigaction(forwarded[i], &old[i], NULL);
        if (forward)
            pthread_mutex_unlock(&signal_lock);
        return opened;
    }
    struct termios saved;
    bool raw = proc->tty && proc->interactive && proc->in_fd >= 0 && isatty(proc->in_fd) &&
               tcgetattr(proc->in_fd, &saved) == 0;
    if (raw) {
        struct termios t = saved;
        cfmakeraw(&t);
        tcsetattr(proc->in_fd, TCSANOW, &t);
    }
    struct agent_exit_stats stats;
    struct started_ctx started = {in, proc};
    struct agent_exec_request req = {
        .argv = proc->argv,
        .env = proc->env,
        .cwd = proc->workdir,
        .user = proc->user,
        .tty = proc->tty,
        .stdin_open = proc->interactive && proc->in_fd >= 0,
        .timeout_ms = proc->timeout_ms,
        .output_limit = proc->output_limit,
        .output_times = proc->output_times,
        .copy_to = proc->copy_to,
        .copy_times = proc->copy_times,
        .copy_limit = proc->copy_limit,
        .ulimits = (const char *const *)in->ulimits, /* the VM's, for every process */
        .on_started = on_started,
        .arg = &started,
        .stats = proc->stats ? &stats : NULL,
    };
    if (proc->snapshot_on) {
        req.keep = true;
        req.snapshot_on = proc->snapshot_on;
        req.marker = proc->marker;
    }
    int err_fd = proc->tty ? proc->out_fd : proc->err_fd, sig_fd = forward ? signal_pipe[0] : -1;
    int r =
        proc->attach
            ? agent_attach(&c, &req, proc->in_fd, proc->out_fd, err_fd, sig_fd, exit_status, err)
            : agent_exec(&c, &req, proc->in_fd, proc->out_fd, err_fd, sig_fd, exit_status, err);
    if (r == 1) {
        /* Frozen and the marker printed: once the VMM saved the snapshot, a bake is done;
         * a run attaches again (as a restored VM would), which thaws the process. */
        if (proc->held)
            *proc->held = true;
        agent_close(&c); /* sets c.fd to -1: nothing to close at the end if we stop here */
        r = await_snapshot(in, proc->workload_snapshot, timeout_ms, err);
        if (r == 0 && proc->bake_only) {
            *exit_status = 0;
        } else if (r == 0 && (r = run_agent_open(in, timeout_ms, &c, err)) == 0) {
            req.snapshot_on = NULL;
            r = agent_attach(&c, &req, proc->in_fd, proc->out_fd, err_fd, sig_fd, exit_status, err);
        }
    }
    sm_trace("agent: process ended (%d)", r);
    if (proc->stats && r == 0)
        *proc->stats = (struct sm_process_stats){.peak_rss_kib = stats.peak_rss_kib,
                                                 .duration_ms = stats.duration_ms,
                                                 .timed_out = stats.timed_out};
    if (raw)
        tcsetattr(proc->in_fd, TCSANOW, &saved);
    for (size_t i = 0; forward && i < SM_ARRAY_SIZE(forwarded); i++)
        sigaction(forwarded[i], &old[i], NULL);
    if (forward)
        pthread_mutex_unlock(&signal_lock);
    if (c.fd >= 0)
        agent_close(&c);
    return r < 0 ? sm_error_wrap(err, "VM %s", in->name) : 0;
}

void run_signals_hold(sigset_t *saved)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < SM_ARRAY_SIZE(forwarded); i++)
        sigaddset(&set, forwarded[i]);
    pthread_sigmask(SIG_BLOCK, &set, saved);
}

void run_poweroff(struct instance *in)
{
    struct vsock_path vp;
    sm_error_t ignored = NULL;
    if (vsock_path_open(in, &vp, &ignored) == 0) {
        struct agent_conn c;
        int r = agent_connect(vp.path, AGENT_PORT, 2000, &c, &ignored);
        close(vp.dirfd);
        if (r == 0) {
            agent_poweroff(&c, &ignored);
            agent_close(&c);
        }
    }
    sm_error_release(&ignored);
}
