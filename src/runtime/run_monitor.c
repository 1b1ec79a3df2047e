/* The monitor of a detached run or exec (as podman's conmon): a process of its own that
 * holds the agent session of the VM's main process (or of an exec) after the caller
 * returned, keeps its output in the VM's log and records how it ended.
 *
 * The caller may be a program with threads, whose forked child could call nothing but
 * async-signal-safe functions, and whose descriptors (a server's listening socket, say) a
 * forked monitor would hold for the VM's whole life. So the caller only spawns: the
 * monitor is supermachine-vmm started as `supermachine-vmm CONFIG READY_FD monitor`,
 * reading what to do from its standard input (a JSON document: the instance, the run's
 * plan, the process). It forks once at once, so that it is nobody's zombie; the caller
 * reaps that first process and then waits for the monitor's answer on READY_FD. The
 * monitor starts the VMM by forking too (vmm_spawn_in_process): it is the same program,
 * and a second exec would load it a second time for nothing. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/trace.h"
#include "common/util.h"
#include "runtime/run.h"
#include "runtime/vmm_process.h"

/* The document may carry a large environment; more than this is not ours. */
#define MONITOR_DOC_MAX (16u << 20)

extern char **environ;

static void put_bool(json_object *o, const char *key, bool value)
{
    json_object_object_add(o, key, json_object_new_boolean(value));
}

static json_object *plan_to_json(const struct run_plan *p)
{
    json_object *o = json_object_new_object();
    sm_json_set_str(o, "rootfs", p->rootfs);
    sm_json_set_str(o, "kernel", p->kernel);
    sm_json_set_str(o, "modules_dir", p->modules_dir);
    sm_json_set_str(o, "kernel_sha256", p->kernel_sha256);
    sm_json_set_str(o, "initramfs", p->initramfs);
    sm_json_set_str(o, "snapshot", p->snapshot);
    put_bool(o, "restore", p->restore);
    sm_json_set_str(o, "snapshot_on", p->snapshot_on);
    sm_json_set_str(o, "workload_snapshot", p->workload_snapshot);
    put_bool(o, "workload_restore", p->workload_restore);
    sm_json_set_str(o, "marker", p->marker);
    json_object_object_add(o, "cpus", json_object_new_int64(p->cpus));
    json_object_object_add(o, "memory_mib", json_object_new_int64((int64_t)p->memory_mib));
    put_bool(o, "network", p->network);
    put_bool(o, "allow_host_loopback", p->allow_host_loopback);
    sm_json_set_strv(o, "publish", (const char *const *)p->publish);
    sm_json_set_strv(o, "egress_allow", (const char *const *)p->egress_allow);
    sm_json_set_strv(o, "egress_deny", (const char *const *)p->egress_deny);
    sm_json_set_strv(o, "argv", (const char *const *)p->argv);
    sm_json_set_strv(o, "env", (const char *const *)p->env);
    sm_json_set_str(o, "workdir", p->workdir);
    sm_json_set_str(o, "user", p->user);
    sm_json_set_str(o, "restart", p->restart);
    return o;
}

static json_object *process_to_json(const struct run_process *proc)
{
    json_object *o = json_object_new_object();
    sm_json_set_strv(o, "argv", proc->argv);
    sm_json_set_strv(o, "env", proc->env);
    sm_json_set_str(o, "workdir", proc->workdir);
    sm_json_set_str(o, "user", proc->user);
    put_bool(o, "main", proc->main);
    put_bool(o, "forward_signals", proc->forward_signals);
    json_object_object_add(o, "timeout_ms", json_object_new_int64((int64_t)proc->timeout_ms));
    return o;
}

/* ---- the monitor's side: the document read back, every member checked */

static char *get_str(json_object *o, const char *key)
{
    const char *s = sm_json_str(o, key);
    return s ? xstrdup(s) : NULL;
}

/* A NULL-terminated array, never NULL (empty when absent). */
static char **get_strv(json_object *o, const char *key)
{
    json_object *a = NULL;
    char **v = json_object_object_get_ex(o, key, &a) ? sm_json_strv(a) : NULL;
    return v ? v : xcalloc(1, sizeof(char *));
}

static bool get_bool(json_object *o, const char *key)
{
    json_object *b = NULL;
    return json_object_object_get_ex(o, key, &b) && json_object_get_boolean(b);
}

static int plan_from_json(json_object *o, struct run_plan *p, sm_error_t *err)
{
    memset(p, 0, sizeof(*p));
    if (!json_object_is_type(o, json_type_object))
        return sm_error_set(err, 0, "no plan");
    p->rootfs = get_str(o, "rootfs");
    p->kernel = get_str(o, "kernel");
    p->modules_dir = get_str(o, "modules_dir");
    p->kernel_sha256 = get_str(o, "kernel_sha256");
    p->initramfs = get_str(o, "initramfs");
    p->snapshot = get_str(o, "snapshot");
    p->restore = get_bool(o, "restore");
    p->snapshot_on = get_str(o, "snapshot_on");
    p->workload_snapshot = get_str(o, "workload_snapshot");
    p->workload_restore = get_bool(o, "workload_restore");
    const char *marker = sm_json_str(o, "marker");
    snprintf(p->marker, sizeof(p->marker), "%s", marker ? marker : "");
    int64_t cpus = sm_json_int(o, "cpus"), mib = sm_json_int(o, "memory_mib");
    p->cpus = cpus > 0 && cpus <= 1024 ? (unsigned)cpus : 1;
    p->memory_mib = mib > 0 ? (uint64_t)mib : 0;
    p->network = get_bool(o, "network");
    p->allow_host_loopback = get_bool(o, "allow_host_loopback");
    p->publish = get_strv(o, "publish");
    p->egress_allow = get_strv(o, "egress_allow");
    p->egress_deny = get_strv(o, "egress_deny");
    p->argv = get_strv(o, "argv");
    p->env = get_strv(o, "env");
    p->workdir = get_str(o, "workdir");
    p->user = get_str(o, "user");
    p->restart = get_str(o, "restart");
    if (p->rootfs == NULL || p->memory_mib == 0 || p->argv[0] == NULL ||
        (p->snapshot_on && p->workload_snapshot == NULL))
        return sm_error_set(err, 0, "an incomplete plan");
    return 0;
}

/* The process's strings, owned by the arrays returned (sm_strv_free them). */
struct monitor_process {
    struct run_process proc;
    char **argv, **env;
    char *workdir, *user;
};

static int process_from_json(json_object *o, struct monitor_process *mp, sm_error_t *err)
{
    memset(mp, 0, sizeof(*mp));
    if (!json_object_is_type(o, json_type_object))
        return sm_error_set(err, 0, "no process");
    mp->argv = get_strv(o, "argv");
    mp->env = get_strv(o, "env");
    mp->workdir = get_str(o, "workdir");
    mp->user = get_str(o, "user");
    int64_t timeout = sm_json_int(o, "timeout_ms");
    mp->proc = (struct run_process){
        .argv = (const char *const *)mp->argv,
        .env = (const char *const *)mp->env,
        .workdir = mp->workdir,
        .user = mp->user,
        .in_fd = -1,
        .out_fd = -1,
        .err_fd = -1,
        .main = get_bool(o, "main"),
        .forward_signals = get_bool(o, "forward_signals"),
        .timeout_ms = timeout > 0 ? (uint64_t)timeout : 0,
    };
    if (mp->argv[0] == NULL)
        return sm_error_set(err, 0, "a process without a command");
    return 0;
}

static void monitor_process_release(struct monitor_process *mp)
{
    sm_strv_free(mp->argv);
    sm_strv_free(mp->env);
    free(mp->workdir);
    free(mp->user);
}

/* The process title: the arguments' memory, rewritten as setproctitle(3) does, so that
 * ps and pgrep tell the monitor from the VMM it forks (the VMM sets its own back). */
static char *title_area;
static size_t title_size;

void run_monitor_set_title(const char *const *words)
{
    if (title_area == NULL)
        return;
    size_t at = 0;
    for (size_t i = 0; words[i]; i++) {
        size_t len = strlen(words[i]) + 1;
        if (at + len > title_size)
            break;
        memcpy(title_area + at, words[i], len);
        at += len;
    }
    memset(title_area + at, 0, title_size - at);
}

static int read_document(json_object **doc, sm_error_t *err)
{
    char *text = xmalloc(MONITOR_DOC_MAX + 1);
    ssize_t n = sm_read_full(0, text, MONITOR_DOC_MAX + 1);
    if (n < 0 || (size_t)n > MONITOR_DOC_MAX) {
        free(text);
        return sm_error_set(err, n < 0 ? errno : 0, "the monitor's document: %s",
                            n < 0 ? "unreadable" : "too large");
    }
    json_tokener *tok = json_tokener_new();
    *doc = json_tokener_parse_ex(tok, text, (int)n);
    bool whole = *doc != NULL && json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    free(text);
    if (!whole) {
        json_object_put(*doc);
        *doc = NULL;
        return sm_error_set(err, 0, "the monitor's document is not JSON");
    }
    return 0;
}

int run_monitor_main(int argc, char **argv, int (*vmm_main)(int argc, char **argv))
{
    char *end = NULL;
    long fd = argc == 4 ? strtol(argv[2], &end, 10) : -1;
    if (argc != 4 || *end != '\0' || fd < 3 || fd > 65535 || fcntl((int)fd, F_GETFD) < 0) {
        fprintf(stderr, "usage: supermachine-vmm CONFIG READY_FD monitor\n"
                        "(started by libsupermachine for detached runs; not meant to be run "
                        "by hand)\n");
        return 125;
    }
    int ready = (int)fd;
    fcntl(ready, F_SETFD, FD_CLOEXEC);
    /* The document on 0, the answer's pipe: nothing else of the caller's. */
    sm_close_inherited_fds(&ready, 1);
    /* CONFIG is "-" for an exec, whose caller reads "error MESSAGE" (its other answers
     * are "ok" and "exit N"); a run's is its VMM's configuration. */
    bool is_run = strcmp(argv[1], "-") != 0;
    const char *fail = is_run ? "" : "error ";
    /* Out of the caller's way: it reaps this process, the monitor goes on in a child. */
    pid_t child = fork();
    if (child < 0) {
        dprintf(ready, "%sfork: %s\n", fail, strerror(errno));
        return 125;
    }
    if (child > 0)
        _exit(0);
    title_area = argv[0];
    title_size = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) + 1 - argv[0]);

    sm_error_t err = NULL;
    json_object *doc = NULL;
    if (read_document(&doc, &err) < 0) {
        dprintf(ready, "%s%s\n", fail, sm_error_message(err));
        sm_error_release(&err);
        return 125;
    }
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        close(null);
    }
    const char *id = sm_json_str(doc, "instance");
    json_object *plan_json = NULL, *proc_json = NULL;
    json_object_object_get_ex(doc, "plan", &plan_json);
    json_object_object_get_ex(doc, "process", &proc_json);
    struct instance in;
    struct run_plan plan;
    struct monitor_process mp;
    memset(&plan, 0, sizeof(plan));
    memset(&mp, 0, sizeof(mp));
    bool found = false;
    int r = -1;
    if (id == NULL || strlen(id) != INSTANCE_ID_LEN)
        sm_error_set(&err, 0, "the monitor's document names no VM");
    else if (instance_find(id, &in, &err) == 0)
        found = true;
    if (found) {
        if ((is_run && plan_from_json(plan_json, &plan, &err) < 0) ||
            process_from_json(proc_json, &mp, &err) < 0)
            sm_error_wrap(&err, "the monitor's document");
        else
            r = 0;
    }
    json_object_put(doc);
    if (r < 0) {
        dprintf(ready, "%s%s\n", fail, sm_error_message(err));
        sm_error_release(&err);
        run_plan_release(&plan);
        monitor_process_release(&mp);
        if (found)
            instance_release(&in);
        return 125;
    }
    char short_id[13];
    memcpy(short_id, in.id, 12);
    short_id[12] = '\0';
    const char *what = is_run ? "run" : "exec";
    run_monitor_set_title(
        (const char *const[]){"supermachine-vmm", "monitor", what, short_id, NULL});
    sm_trace("monitor: started (%s)", what);
    if (is_run) {
        vmm_spawn_in_process(vmm_main);
        run_detached_body(&in, &plan, &mp.proc, ready);
    } else {
        exec_detached_body(&in, &mp.proc, ready);
    }
    run_plan_release(&plan);
    monitor_process_release(&mp);
    instance_release(&in);
    return 0;
}

/* ---- the caller's side */

static int monitor_document_fd(const struct instance *in, const struct run_plan *p,
                               const struct run_process *proc, sm_error_t *err)
{
    json_object *doc = json_object_new_object();
    sm_json_set_str(doc, "instance", in->id);
    if (p)
        json_object_object_add(doc, "plan", plan_to_json(p));
    json_object_object_add(doc, "process", process_to_json(proc));
    const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
    int fd = memfd_create("supermachine-monitor", MFD_CLOEXEC);
    int r = fd < 0 ? -1 : sm_write_all(fd, text, strlen(text));
    int e = errno;
    json_object_put(doc);
    if (fd >= 0 && (r < 0 || lseek(fd, 0, SEEK_SET) != 0)) {
        e = errno;
        close(fd);
        fd = -1;
    }
    if (fd < 0)
        return sm_error_set(err, e, "the monitor's document");
    return fd;
}

int run_in_monitor(const struct instance *in, const struct run_plan *p,
                   const struct run_process *proc, char *answer, size_t size, sm_error_t *err)
{
    cleanup_free char *vmm = runtime_find_helper("supermachine-vmm", err);
    if (vmm == NULL)
        return -1;
    int doc_fd = monitor_document_fd(in, p, proc, err);
    if (doc_fd < 0)
        return -1;
    cleanup_close int doc = sm_fd_above_stdio(doc_fd);
    if (doc < 0)
        return sm_error_set(err, errno, "the monitor's document");
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0)
        return sm_error_set(err, errno, "pipe");
    ready[1] = sm_fd_above_stdio(ready[1]);
    if (ready[1] < 0) {
        int e = errno;
        close(ready[0]);
        return sm_error_set(err, e, "pipe");
    }
    cleanup_close int null = sm_fd_above_stdio(open("/dev/null", O_WRONLY | O_CLOEXEC));
    if (null < 0) {
        int e = errno;
        close(ready[0]);
        close(ready[1]);
        return sm_error_set(err, e, "/dev/null");
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&fa, doc, 0);
    posix_spawn_file_actions_adddup2(&fa, null, 1);
    posix_spawn_file_actions_adddup2(&fa, null, 2);
    posix_spawn_file_actions_adddup2(&fa, ready[1], ready[1]); /* kept across the exec */
    /* A session of its own (the caller's terminal's signals are not the VM's), no blocked
     * signals and no ignored ones: both survive exec, and a caller that ignores SIGCHLD
     * would leave the monitor unable to wait for its VMM. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    cleanup_free char *cfg = p ? instance_path(in, "vmm.json") : xstrdup("-");
    char fdstr[16];
    snprintf(fdstr, sizeof(fdstr), "%d", ready[1]);
    char *const argv[] = {"supermachine-vmm", cfg, fdstr, "monitor", NULL};
    pid_t pid;
    int e = posix_spawn(&pid, vmm, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(ready[1]);
    if (e != 0) {
        close(ready[0]);
        return sm_error_set(err, e, "start %s", vmm);
    }
    /* It forks the monitor and ends at once; a caller that ignores SIGCHLD has it reaped
     * already (ECHILD). */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    ssize_t n = sm_read_full(ready[0], answer, size - 1);
    close(ready[0]);
    answer[n > 0 ? n : 0] = '\0';
    answer[strcspn(answer, "\n")] = '\0';
    return 0;
}
