/* sm_run: a VM for an image, its main process attached to the caller's descriptors or,
 * detached, to a monitor process that keeps its output in the VM's log (as podman's
 * conmon does). */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/trace.h"
#include "common/util.h"
#include "net/net_policy.h"
#include "runtime/run.h"
#include "runtime/run_restart.h"
#include "runtime/vmm_process.h"

/* How long the agent may take to answer after the VMM starts: a cold boot on a slow or
 * emulated host takes seconds; $SUPERMACHINE_AGENT_TIMEOUT (seconds) overrides. */
int run_agent_timeout_ms(void)
{
    const char *e = getenv("SUPERMACHINE_AGENT_TIMEOUT");
    long s = e ? strtol(e, NULL, 10) : 0;
    return (s > 0 && s < 3600 ? (int)s : 60) * 1000;
}

int run_write_vmm_config(struct instance *in, const struct run_plan *p, pid_t owner,
                         sm_error_t *err)
{
    json_object *o = json_object_new_object();
    cleanup_free char *console = instance_path(in, "console.log");
    /* A restore takes them from the snapshot, whose key holds them: the same values, kept
     * here for inspect either way. */
    json_object_object_add(o, "cpus", json_object_new_int((int)p->cpus));
    json_object_object_add(o, "memory_mib", json_object_new_int64((int64_t)p->memory_mib));
    if (p->workload_restore) {
        sm_json_set_str(o, "restore", p->workload_snapshot);
    } else if (p->restore) {
        /* The kernel and initramfs are part of the snapshot's key: not hashed again. */
        sm_json_set_str(o, "restore", p->snapshot);
    } else {
        sm_json_set_str(o, "kernel", p->kernel);
        sm_json_set_str(o, "initrd", p->initramfs);
        /* sm-init's parameters (docs/protocol.md); quiet keeps the console for errors. */
        sm_json_set_str(o, "append",
                        p->network ? "quiet sm.root=/dev/vda sm.ip=" NET_GUEST_IP4
                                     "/24 sm.gw=" NET_HOST_IP4 " sm.dns=" NET_DNS_IP4
                                     " sm.ip6=" NET_GUEST_IP6 "/64 sm.gw6=" NET_HOST_IP6
                                   : "quiet sm.root=/dev/vda");
        if (p->snapshot) {
            sm_json_set_str(o, "snapshot", p->snapshot);
            sm_json_set_str(o, "snapshot_when", "console:" RUN_INIT_READY_LINE);
        }
    }
    if (p->snapshot_on && !p->workload_restore) {
        /* Saved when the kept main process, frozen, prints the marker (after init-ready
         * when this run boots: the VMM saves both). */
        sm_json_set_str(o, "workload_snapshot", p->workload_snapshot);
        cleanup_free char *when = xasprintf("console:%s", p->marker);
        sm_json_set_str(o, "workload_snapshot_when", when);
    }
    sm_json_set_str(o, "disk", p->rootfs);
    /* Relative to the VMM's working directory, the instance directory: Unix socket
     * paths are short (docs/run.md). */
    sm_json_set_str(o, "vsock", "vsock.sock");
    sm_json_set_str(o, "console_log", console);
    sm_json_set_str(o, "network", p->network ? "user" : "none");
    if (p->network) {
        json_object_object_add(o, "allow_host_loopback",
                               json_object_new_boolean(p->allow_host_loopback));
        sm_json_set_strv(o, "publish", (const char *const *)p->publish);
        sm_json_set_strv(o, "egress_allow", (const char *const *)p->egress_allow);
        sm_json_set_strv(o, "egress_deny", (const char *const *)p->egress_deny);
    }
    json_object_object_add(o, "owner_pid", json_object_new_int(owner));
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    cleanup_free char *path = instance_path(in, "vmm.json");
    int r = sm_write_file_replace(path, text, strlen(text), 0600, err);
    json_object_put(o);
    return r;
}

static char *join_argv(char *const *argv)
{
    char *s = xstrdup("");
    for (size_t i = 0; argv[i]; i++) {
        char *n = xasprintf("%s%s%s", s, i ? " " : "", argv[i]);
        free(s);
        s = n;
    }
    return s;
}

static void wait_child(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
}

static void record_main_exit(struct instance *in, int status)
{
    char text[16];
    int n = snprintf(text, sizeof(text), "%d\n", status);
    cleanup_free char *path = instance_path(in, "main-exit");
    sm_error_t ignored = NULL;
    sm_write_file_replace(path, text, (size_t)n, 0600, &ignored);
    sm_error_release(&ignored);
}

/* A session that failed before its process ran usually failed in the guest: the last
 * thing the console said (sm-init's reason, a panic) is the useful part. */
static void add_console_tail(struct instance *in, sm_error_t *err)
{
    cleanup_free char *path = instance_path(in, "console.log");
    char *text = NULL;
    size_t len = 0;
    sm_error_t ignored = NULL;
    if (sm_read_file(path, 1 << 20, &text, &len, &ignored) == 0) {
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            text[--len] = '\0';
        char *last = strrchr(text, '\n');
        last = last ? last + 1 : text;
        if (*last) {
            char *msg = xasprintf("%s (console: %.300s)", sm_error_message(*err), last);
            sm_error_set(err, 0, "%s", msg);
            free(msg);
        }
    }
    free(text);
    sm_error_release(&ignored);
}

/* Starts the VMM: a restore that the VMM refuses (snapshot from another host or damaged)
 * falls back to booting, rebaking the snapshot. */
int run_vmm_start(struct instance *in, struct run_plan *p, pid_t owner, pid_t *vmm_out,
                  sm_error_t *err)
{
    pid_t vmm;
    if (run_write_vmm_config(in, p, owner, err) < 0)
        return -1;
    sm_trace("run: starting the VMM");
    int spawned = vmm_spawn(in, &vmm, err);
    while (spawned == -2 && (p->workload_restore || p->restore)) {
        /* A snapshot this host cannot use: drop it and make it again (the workload's
         * from the init-ready one, that one by booting). */
        const char *bad = p->workload_restore ? p->workload_snapshot : p->snapshot;
        fprintf(stderr, "supermachine: snapshot %s unusable (%s); %s instead\n", bad,
                sm_error_message(*err), p->workload_restore ? "rebaking it" : "booting");
        sm_error_release(err);
        cleanup_free char *doomed = xasprintf("%s.stale.%d", bad, (int)getpid());
        if (rename(bad, doomed) == 0) {
            sm_error_t ignored = NULL;
            sm_remove_tree(doomed, &ignored);
            sm_error_release(&ignored);
        }
        if (p->workload_restore)
            p->workload_restore = false;
        else
            p->restore = false;
        if (run_write_vmm_config(in, p, owner, err) < 0)
            return -1;
        spawned = vmm_spawn(in, &vmm, err);
    }
    run_plan_unhold(p); /* the VMM has opened its snapshot, disk and initramfs */
    if (spawned < 0)
        return -1;
    sm_trace("run: the VMM is ready");
    *vmm_out = vmm;
    return 0;
}

/* Whether `stop` has begun (it leaves the file before it signals the main process): the
 * process ends for good then, whatever the restart policy. */
static bool stopping(struct instance *in)
{
    return instance_has_file(in, INSTANCE_STOPPING_FILE);
}

/* Whether `restart` asked for the main process to start again (and takes the request). */
static bool restart_requested(struct instance *in)
{
    return instance_has_file(in, INSTANCE_RESTART_FILE);
}

/* Waits ms unless the VM is being stopped or has ended meanwhile, or the monitor is told
 * to stop (SIGTERM, SIGINT: `stop` when it finds no process to signal); false then. */
static bool restart_wait(struct instance *in, unsigned ms)
{
    sigset_t stop_signals, old;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &old);
    uint64_t end = sm_now_ns() + (uint64_t)ms * 1000000;
    bool waited = false;
    for (;;) {
        if (stopping(in) || !instance_running(in))
            break;
        uint64_t now = sm_now_ns();
        if (now >= end || restart_requested(in)) { /* `restart` does not wait */
            waited = true;
            break;
        }
        uint64_t left = end - now;
        struct timespec step = {0, (long)(left < 50000000 ? left : 50000000)};
        if (sigtimedwait(&stop_signals, NULL, &step) > 0)
            break;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return waited;
}

/* docker's --restart in a detached run's monitor: the main process is started again in
 * the same VM (its files, ports and other processes stay) while the policy wants it and
 * nobody stops the VM. The record says "restarting" meanwhile, its exit code the last
 * one; `restarts` counts them (inspect's RestartCount). */
static int run_restarts(struct instance *in, const struct run_plan *p,
                        const struct run_process *main_proc, uint64_t started_ns, int *exit_status,
                        sm_error_t *err)
{
    struct run_restart policy;
    if (run_restart_parse(p->restart, &policy, err) < 0)
        return -1;
    unsigned restarts = 0, delay_ms = 0;
    int r = 0;
    for (;;) {
        bool asked = restart_requested(in);
        if (r != 0 || stopping(in) ||
            (!asked && !run_restart_wanted(&policy, *exit_status, restarts)))
            break;
        sm_error_t ignored = NULL;
        record_main_exit(in, *exit_status); /* the VM's status if it is stopped meanwhile */
        if (!asked) {
            unsigned wait_ms =
                run_restart_delay_ms(&delay_ms, (sm_now_ns() - started_ns) / 1000000);
            instance_set_state(in, "restarting", *exit_status, in->vmm_pid, &ignored);
            sm_error_release(&ignored);
            if (!restart_wait(in, wait_ms))
                break;
            asked = restart_requested(in); /* `restart` came during the wait */
        }
        if (!asked) {
            restarts++; /* docker's RestartCount counts the policy's, not `restart`'s */
            char count[16];
            int n = snprintf(count, sizeof(count), "%u\n", restarts);
            cleanup_free char *count_path = instance_path(in, INSTANCE_RESTARTS_FILE);
            sm_write_file_replace(count_path, count, (size_t)n, 0600, &ignored);
            sm_error_release(&ignored);
        }
        instance_set_state(in, "running", 0, in->vmm_pid, &ignored); /* StartedAt: now */
        sm_error_release(&ignored);
        dprintf(main_proc->err_fd >= 0 ? main_proc->err_fd : 2,
                "supermachine: restarting the main process (exit %d; %s)\n", *exit_status,
                asked ? "supermachine restart" : p->restart);
        struct run_process again = *main_proc;
        again.attach = false;
        again.snapshot_on = again.marker = again.workload_snapshot = NULL;
        again.held = NULL;
        again.ready_fd = NULL;
        again.signals_held = NULL;
        if (asked) { /* taken; `restart` sees the new process in main.pid */
            cleanup_free char *asked_path = instance_path(in, INSTANCE_RESTART_FILE);
            unlink(asked_path);
        }
        started_ns = sm_now_ns();
        r = run_attached(in, &again, run_agent_timeout_ms(), exit_status, err);
    }
    return r;
}

/* Starts the VMM and runs the main process attached to proc's descriptors; the VM ends
 * with it. */
static int run_session(struct instance *in, struct run_plan *p, const struct run_process *proc,
                       pid_t owner, int *ready_fd, int *exit_status, sm_error_t *err)
{
    pid_t vmm;
    if (run_vmm_start(in, p, owner, &vmm, err) < 0)
        return -1;
    /* Detached: the caller returns once the main process runs (run_attached writes to
     * ready_fd then), so that exec, cp and kill find it; later errors go to the log. */
    struct run_process mp = *proc;
    mp.ready_fd = ready_fd;
    bool held = false;
    if (p->snapshot_on) {
        mp.attach = p->workload_restore;
        mp.snapshot_on = p->workload_restore ? NULL : p->snapshot_on;
        mp.marker = p->marker;
        mp.workload_snapshot = p->workload_snapshot;
        if (mp.held == NULL)
            mp.held = &held;
    }
    uint64_t started_ns = sm_now_ns();
    int r = run_attached(in, &mp, run_agent_timeout_ms(), exit_status, err);
    if (r == 0 && mp.snapshot_on && !*mp.held && !mp.bake_only)
        dprintf(mp.err_fd >= 0 ? mp.err_fd : 2,
                "supermachine: the main process ended before --snapshot-on %s: no snapshot "
                "saved\n",
                p->snapshot_on);
    if (r == 0) /* still unsent if it could not start (127, say): its log says why */
        run_signal_ready(ready_fd);
    if (r == 0 && ready_fd) { /* a detached run's: --restart, and `restart` */
        in->vmm_pid = vmm;
        r = run_restarts(in, p, &mp, started_ns, exit_status, err);
    }
    if (r == RUN_STOPPED_BY_SIGNAL) {
        /* Told to stop before the process ran (Ctrl-C while a first run boots): nothing in
         * the guest to wait for. */
        kill(vmm, SIGTERM);
        wait_child(vmm);
        return -1;
    }
    if (r < 0) {
        /* Stopped from outside (`stop` ends the VMM after its grace period): the session
         * broke because the VM ended, and the VMM's status (137) is the answer. */
        int status;
        if (sm_wait_child(vmm, 1000, &status) == 1) {
            if (WIFEXITED(status) && WEXITSTATUS(status) == 137) {
                sm_error_release(err);
                *exit_status = 137;
                return 0;
            }
            add_console_tail(in, err);
            return -1;
        }
        record_main_exit(in, 125); /* the VM's record says it failed, not "exit 0" */
        add_console_tail(in, err);
    } else {
        record_main_exit(in, *exit_status);
        /* The VM ends with its main process at once: nothing in the guest needs a clean
         * poweroff (its root is read-only, its writable layer lives in guest memory), and
         * asking the agent for one took longer than the whole run of a short command. */
        kill(vmm, VMM_MAIN_ENDED_SIGNAL);
        if (sm_wait_child(vmm, 5000, NULL) == 0) {
            kill(vmm, SIGKILL); /* a VMM stuck on its way out */
            wait_child(vmm);
        }
        sm_trace("run: the VMM ended");
        return r;
    }
    run_poweroff(in);
    /* Give the guest a moment to power off cleanly, then stop the VMM. */
    if (sm_wait_child(vmm, 2000, NULL) != 0)
        return r;
    kill(vmm, SIGTERM);
    wait_child(vmm);
    return r;
}

void run_detached_body(struct instance *in, struct run_plan *p, const struct run_process *proc,
                       int ready_fd)
{
    cleanup_free char *out_path = instance_path(in, "output.log");
    cleanup_free char *times_path = instance_path(in, "output.times");
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int out = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (null < 0 || out < 0) {
        dprintf(ready_fd, "%s: %s\n", out_path, strerror(errno));
        _exit(125);
    }
    dup2(null, 0);
    dup2(out, 1);
    dup2(out, 2);
    struct run_process mp = *proc;
    mp.in_fd = null, mp.out_fd = out, mp.err_fd = out;
    mp.interactive = false;
    mp.output_limit = RUN_LOG_LIMIT;
    mp.output_times = times_path;
    /* A SIGTERM for the monitor (`stop` when it could not reach the agent itself) is the
     * main process's while it runs, as an attached run's CLI passes it on. */
    mp.forward_signals = true;
    int status = 125;
    sm_error_t merr = NULL;
    if (run_session(in, p, &mp, getpid(), &ready_fd, &status, &merr) < 0) {
        /* Before "ok" the caller reports it; after, it belongs in the log. */
        if (ready_fd >= 0)
            dprintf(ready_fd, "%s\n", sm_error_message(merr));
        dprintf(out, "supermachine: %s\n", sm_error_message(merr));
        sm_error_release(&merr);
    }
    if (in->auto_remove) {
        sm_error_t ignored = NULL;
        instance_remove_dir(in, &ignored);
        sm_error_release(&ignored);
    }
}

/* Detached runs: a monitor process owns the VM and its main process, whose output goes
 * to output.log. Returns in the caller once the main process was started, or with the
 * reason it could not be. */
static int run_detached(struct instance *in, struct run_plan *p, const struct run_process *proc,
                        sm_error_t *err)
{
    char answer[1024];
    if (run_in_monitor(in, p, proc, answer, sizeof(answer), err) < 0)
        return -1;
    if (strcmp(answer, "ok") == 0)
        return 0;
    return sm_error_set(err, 0, "%s", answer[0] ? answer : "the monitor process failed");
}

/* The VM's record as a run's options and plan give it. */
static struct instance_spec run_instance_spec(const struct sm_run_options *o,
                                              const struct run_plan *p, const char *command)
{
    return (struct instance_spec){
        .name = o->name,
        .image = o->image,
        .digest = p->image->manifest_digest,
        .command = command,
        .hostname = o->hostname,
        .auto_remove = o->auto_remove != 0,
        .stop_signal = o->stop_signal,
        .restart = p->restart,
        .has_stop_timeout = o->stop_timeout_set != 0,
        .stop_timeout = o->stop_timeout,
        .extra_hosts = o->extra_hosts,
        .read_only = o->read_only != 0,
        .tmpfs = o->tmpfs,
        .dns = o->dns,
        .dns_search = o->dns_search,
        .dns_options = o->dns_options,
        .image_labels = (const char *const *)p->image->labels,
        .labels = o->labels,
        .ulimits = o->ulimits,
        .shm_size = o->shm_size,
        .env = (const char *const *)p->env,
        .user = p->user,
        .workdir = p->workdir,
    };
}

/* docker's --cidfile: made, never replaced (O_EXCL), and whole or not at all. */
static int write_cidfile(const char *path, const char *id, sm_error_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return sm_error_set(err, errno, "--cidfile %s", path);
    int r = sm_write_all(fd, id, strlen(id));
    int e = errno;
    if (close(fd) < 0 && r == 0)
        r = -1, e = errno;
    if (r < 0) {
        unlink(path);
        return sm_error_set(err, e, "--cidfile %s", path);
    }
    return 0;
}

int sm_run(const struct sm_run_options *o, char **id_out, int *exit_status, sm_error_t *err)
{
    struct run_plan p;
    if (run_prepare(o, &p, err) < 0)
        return sm_error_wrap(err, "run %s", o->image ? o->image : "");
    sm_trace("run: prepared (%s)", p.restore ? "restore" : "boot");
    cleanup_free char *command = join_argv(p.argv);
    struct instance in;
    struct instance_spec spec = run_instance_spec(o, &p, command);
    /* An attached run's signals wait from here until its session forwards them. */
    sigset_t caller_mask;
    bool hold = o->forward_signals && !o->detach;
    if (hold)
        run_signals_hold(&caller_mask);
    int r = -1;
    *exit_status = 0;
    if (instance_create(&spec, &in, err) < 0)
        goto out_plan;
    if (o->cidfile && write_cidfile(o->cidfile, in.id, err) < 0) {
        sm_error_t ignored = NULL;
        instance_remove_dir(&in, &ignored);
        sm_error_release(&ignored);
        goto out_instance;
    }
    struct run_process proc = {
        .argv = (const char *const *)p.argv,
        .env = (const char *const *)p.env,
        .workdir = p.workdir,
        .user = p.user,
        .tty = o->tty != 0,
        .interactive = o->interactive != 0,
        .in_fd = o->stdin_fd,
        .out_fd = o->stdout_fd,
        .err_fd = o->stderr_fd,
        .main = true,
        .forward_signals = o->forward_signals != 0,
        .signals_held = hold ? &caller_mask : NULL,
    };
    if (o->detach) {
        r = run_detached(&in, &p, &proc, err);
    } else {
        /* As docker: an attached run's output is the VM's log too (`logs`), capped as a
         * detached run's; with --rm there is no record left to read it from. */
        cleanup_free char *log = o->auto_remove ? NULL : instance_path(&in, "output.log");
        cleanup_free char *times = o->auto_remove ? NULL : instance_path(&in, "output.times");
        proc.copy_to = log;
        proc.copy_times = times;
        proc.copy_limit = RUN_LOG_LIMIT;
        r = run_session(&in, &p, &proc, getpid(), NULL, exit_status, err);
        if (o->auto_remove) {
            sm_error_t ignored = NULL;
            instance_remove_dir(&in, &ignored);
            sm_error_release(&ignored);
            sm_trace("run: removed");
        }
    }
    if (r == 0 && id_out)
        *id_out = xstrdup(in.id);
out_instance:
    instance_release(&in);
out_plan:
    run_plan_release(&p);
    /* Already so if the session started; a signal still held now (the VMM did not start)
     * takes its usual course, the record being gone. */
    if (hold)
        pthread_sigmask(SIG_SETMASK, &caller_mask, NULL);
    return r < 0 ? sm_error_wrap(err, "run %s", o->image) : 0;
}

int sm_bake(const struct sm_run_options *opts, int *baked_out, char **dir_out, sm_error_t *err)
{
    const char *image = opts->image ? opts->image : "";
    *baked_out = 0;
    if (opts->snapshot_on == NULL)
        return sm_error_set(err, 0, "bake %s: no trigger (--snapshot-on)", image);
    struct sm_run_options o = *opts;
    o.tty = o.interactive = o.detach = 0;
    o.auto_remove = 1;
    /* Our own signals end the bake (the VMM follows its owner), not the workload. */
    o.forward_signals = 0;
    struct run_plan p;
    if (run_prepare(&o, &p, err) < 0)
        return sm_error_wrap(err, "bake %s", image);
    int r = 0;
    if (!p.workload_restore) {
        cleanup_free char *command = join_argv(p.argv);
        struct instance in;
        struct instance_spec spec = run_instance_spec(&o, &p, command); /* o.auto_remove set */
        if (instance_create(&spec, &in, err) < 0) {
            run_plan_release(&p);
            return sm_error_wrap(err, "bake %s", image);
        }
        bool held = false;
        int status = 0;
        /* The workload's output is for the caller, or for nobody. */
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        struct run_process proc = {
            .argv = (const char *const *)p.argv,
            .env = (const char *const *)p.env,
            .workdir = p.workdir,
            .user = p.user,
            .in_fd = -1,
            .out_fd = o.stdout_fd >= 0 ? o.stdout_fd : null,
            .err_fd = o.stderr_fd >= 0 ? o.stderr_fd : null,
            .main = true,
            .bake_only = true,
            .held = &held,
        };
        r = run_session(&in, &p, &proc, getpid(), NULL, &status, err);
        if (null >= 0)
            close(null);
        if (r == 0 && !held)
            r = sm_error_set(err, 0, "the main process ended (status %d) before %s", status,
                             p.snapshot_on);
        sm_error_t ignored = NULL;
        instance_remove_dir(&in, &ignored);
        sm_error_release(&ignored);
        instance_release(&in);
        if (r == 0)
            *baked_out = 1;
    }
    if (r == 0 && dir_out)
        *dir_out = xstrdup(p.workload_snapshot);
    run_plan_release(&p);
    return r < 0 ? sm_error_wrap(err, "bake %s", image) : 0;
}
