/* The VMM process (see vmm_process.h) and how the library starts it. */
#include "runtime/vmm_process.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/trace.h"
#include "common/util.h"
#include "net/net_backend.h"
#include "runtime/run.h"
#include "vmm/vm.h"

#ifndef SM_LIBEXECDIR
#define SM_LIBEXECDIR "/usr/local/libexec/supermachine"
#endif

#define VMM_CONFIG_MAX (256 * 1024)
/* What the VMM writes on its ready pipe before the error when the snapshot to restore is
 * the problem (vmm_spawn returns -2 then). */
#define VMM_SNAPSHOT_UNUSABLE "snapshot-unusable "

struct vmm_config {
    json_object *root;
    const char *kernel, *initrd, *disk, *append, *restore, *snapshot, *snapshot_when, *vsock,
        *workload_snapshot, *workload_snapshot_when, *console_log, *network;
    unsigned cpus;
    uint64_t memory_mib;
    pid_t owner;
    bool allow_host_loopback;
    const char **publish, **egress_allow, **egress_deny; /* NULL-terminated, into root */
};

/* A string array member as a NULL-terminated array (strings owned by the JSON). */
static int json_strv(json_object *root, const char *key, const char ***out, sm_error_t *err)
{
    json_object *a;
    *out = NULL;
    if (!json_object_object_get_ex(root, key, &a))
        return 0;
    if (!json_object_is_type(a, json_type_array))
        return sm_error_set(err, 0, "%s: not an array", key);
    size_t n = json_object_array_length(a);
    const char **v = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(a, i);
        if (!json_object_is_type(e, json_type_string)) {
            free(v);
            return sm_error_set(err, 0, "%s: not an array of strings", key);
        }
        v[i] = json_object_get_string(e);
    }
    *out = v;
    return 0;
}

static void vmm_config_release(struct vmm_config *c)
{
    free(c->publish);
    free(c->egress_allow);
    free(c->egress_deny);
    json_object_put(c->root);
}

static int vmm_config_load(const char *path, struct vmm_config *c, sm_error_t *err)
{
    char *text = NULL;
    size_t len;
    if (sm_read_file(path, VMM_CONFIG_MAX, &text, &len, err) < 0)
        return -1;
    c->root = json_tokener_parse(text);
    free(text);
    if (c->root == NULL || !json_object_is_type(c->root, json_type_object))
        return sm_error_set(err, 0, "%s: not a JSON object", path);
    c->kernel = sm_json_str(c->root, "kernel");
    c->initrd = sm_json_str(c->root, "initrd");
    c->disk = sm_json_str(c->root, "disk");
    c->append = sm_json_str(c->root, "append");
    c->restore = sm_json_str(c->root, "restore");
    c->snapshot = sm_json_str(c->root, "snapshot");
    c->snapshot_when = sm_json_str(c->root, "snapshot_when");
    c->workload_snapshot = sm_json_str(c->root, "workload_snapshot");
    c->workload_snapshot_when = sm_json_str(c->root, "workload_snapshot_when");
    c->vsock = sm_json_str(c->root, "vsock");
    c->console_log = sm_json_str(c->root, "console_log");
    c->network = sm_json_str(c->root, "network");
    json_object *b;
    c->allow_host_loopback =
        json_object_object_get_ex(c->root, "allow_host_loopback", &b) && json_object_get_boolean(b);
    if (json_strv(c->root, "publish", &c->publish, err) < 0 ||
        json_strv(c->root, "egress_allow", &c->egress_allow, err) < 0 ||
        json_strv(c->root, "egress_deny", &c->egress_deny, err) < 0)
        return sm_error_wrap(err, "%s", path);
    if (c->network && strcmp(c->network, "user") != 0 && strcmp(c->network, "none") != 0)
        return sm_error_set(err, 0, "%s: network %s: want user or none", path, c->network);
    int64_t cpus = sm_json_int(c->root, "cpus"), mem = sm_json_int(c->root, "memory_mib"),
            owner = sm_json_int(c->root, "owner_pid");
    if (cpus < 0 || cpus > VM_MAX_CPUS || mem < 0 || mem > VM_MAX_MEMORY_MIB || owner < 0 ||
        owner > INT_MAX)
        return sm_error_set(err, 0, "%s: value out of range", path);
    c->cpus = cpus ? (unsigned)cpus : 1;
    c->memory_mib = mem ? (uint64_t)mem : 512;
    c->owner = (pid_t)owner;
    if ((c->kernel == NULL && c->restore == NULL) || c->console_log == NULL)
        return sm_error_set(err, 0, "%s: kernel (or restore) and console_log are required", path);
    if (c->snapshot && (c->snapshot_when == NULL || strncmp(c->snapshot_when, "console:", 8) != 0))
        return sm_error_set(err, 0, "%s: snapshot_when must be console:TEXT", path);
    if (c->workload_snapshot && (c->workload_snapshot_when == NULL ||
                                 strncmp(c->workload_snapshot_when, "console:", 8) != 0))
        return sm_error_set(err, 0, "%s: workload_snapshot_when must be console:TEXT", path);
    return 0;
}

/* Stop requests (SIGTERM/SIGINT, the owner's death) all become a byte on this pipe,
 * which the VM's loop polls. */
static int stop_pipe[2] = {-1, -1};

static void on_stop_signal(int sig)
{
    (void)sig;
    int saved = errno;
    ssize_t r = write(stop_pipe[1], "s", 1);
    (void)r;
    errno = saved;
}

/* VMM_MAIN_ENDED_SIGNAL: the session that ran the main process recorded its exit status
 * and ends the VM with it, as docker ends a container's other processes when its init
 * exits. The VM then ends as if it powered off (its status is the main process's), not
 * as one stopped from outside (137). */
static volatile sig_atomic_t main_ended;

static void on_main_ended(int sig)
{
    main_ended = 1;
    on_stop_signal(sig);
}

/* A reset of the VM to its snapshot (vm_config.on_reset) starts the network over too. */
struct net_reset_ctx {
    const struct net_backend_ops *ops;
    void *net;
};

static int reset_network(void *opaque, sm_error_t *err)
{
    struct net_reset_ctx *n = opaque;
    return n->net ? n->ops->reset(n->net, err) : 0;
}

static void report_ready(int fd, const char *msg)
{
    if (fd < 0)
        return;
    sm_write_all(fd, msg, strlen(msg));
    close(fd);
}

/* The exit status `run` reports when the main process's own is not known. */
static int exit_code_for(enum vm_exit_reason r)
{
    switch (r) {
    case VM_EXIT_POWEROFF:
    case VM_EXIT_REBOOT:
        return 0;
    case VM_EXIT_USER:
        return 137; /* as docker reports a container it had to kill */
    default:
        return 125;
    }
}

/* The staging directory of each snapshot the VMM may save, made now (empty): landlock
 * names existing directories only. Removed at exit when still empty (the snapshot was
 * never saved). */
struct staging {
    char *dir[2];    /* DIR.tmp-PID, or NULL */
    char *parent[2]; /* where DIR.tmp-PID is renamed to DIR */
};

static void staging_make(struct staging *s, const struct vmm_config *c)
{
    const char *snaps[2] = {c->snapshot, c->workload_snapshot};
    for (int i = 0; i < 2; i++) {
        if (snaps[i] == NULL)
            continue;
        s->dir[i] = vm_snapshot_staging_dir(snaps[i]);
        char *slash = strrchr(snaps[i], '/');
        s->parent[i] =
            slash ? xasprintf("%.*s", slash == snaps[i] ? 1 : (int)(slash - snaps[i]), snaps[i])
                  : xstrdup(".");
        mkdir(s->dir[i], 0755); /* a failure shows when the snapshot is saved */
    }
}

static void staging_release(struct staging *s)
{
    for (int i = 0; i < 2; i++) {
        if (s->dir[i])
            rmdir(s->dir[i]); /* fails, as it should, once renamed or not empty */
        free(s->dir[i]);
        free(s->parent[i]);
        s->dir[i] = s->parent[i] = NULL;
    }
}

/* Confines the process to what c names: it reads the kernel, initramfs, disk and the
 * snapshot it restores, writes its instance directory (its working directory) and its
 * snapshots' staging directories, and renames those in the directories beside them. */
static int confine(const struct vmm_config *c, const struct instance *in, const struct staging *st,
                   const struct vmm_extensions *ext, sm_error_t *err)
{
    const char *id = strrchr(in->dir, '/');
    struct confine_config cc = {
        .read = {c->kernel, c->initrd, c->disk, c->restore},
        .write = {".", st->dir[0], st->dir[1]},
        .rename_in = {st->parent[0], st->parent[1]},
        .vm_id = id ? id + 1 : in->dir,
        .saves_snapshot = c->snapshot || c->workload_snapshot,
        .cgroup_record = "cgroup",
    };
    return ext->confine_process(&cc, err);
}

int vmm_process_main(int argc, char **argv, const struct vmm_extensions *ext)
{
    const struct net_backend_ops *net_ops = ext->net;
    if (argc != 3) {
        fprintf(stderr, "usage: supermachine-vmm CONFIG READY_FD\n"
                        "(started by libsupermachine for each VM; not meant to be run by hand)\n");
        return 125;
    }
    char *end;
    long ready_fd = strtol(argv[2], &end, 10);
    if (*end || ready_fd < -1 || ready_fd > INT_MAX)
        ready_fd = -1;
    /* Nothing of our starter's but the ready pipe (and, forked from a monitor, its trace
     * file): neither a caller's descriptor without close-on-exec nor a monitor's pipe to
     * its own caller may live as long as the VM. */
    sm_close_inherited_fds((const int[]){(int)ready_fd, sm_trace_fd()}, 2);
    sm_trace_init(); /* before landlock: it opens a file */
    sm_trace("vmm: start");
    sm_error_t err = NULL;
    struct vmm_config c = {0};
    struct instance in = {0};
    char msg[1024];
    void *net = NULL;
    bool snapshot_unusable = false;
    int pagemap_fd = -1;
    struct staging staging = {0};
    /* Declared before the first goto: cleanup attributes run on every way out. */
    cleanup_free char *cfg_copy = NULL, *lock_path = NULL, *main_exit = NULL;
    if (vmm_config_load(argv[1], &c, &err) < 0)
        goto fail;
    /* The instance directory is where the configuration is. */
    cfg_copy = xstrdup(argv[1]);
    char *slash = strrchr(cfg_copy, '/');
    if (slash)
        *slash = '\0';
    in.dir = xstrdup(slash ? cfg_copy : ".");
    /* The vsock socket is bound relative to the instance directory (short paths). */
    if (chdir(in.dir) < 0) {
        sm_error_set(&err, errno, "%s", in.dir);
        goto fail;
    }
    lock_path = instance_path(&in, "lock");
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0) {
        sm_error_set(&err, errno, "%s: another VMM holds this VM", lock_path);
        goto fail;
    }
    if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        sm_error_set(&err, errno, "pipe");
        goto fail;
    }
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct sigaction ended = {.sa_handler = on_main_ended};
    sigemptyset(&ended.sa_mask);
    sigaction(VMM_MAIN_ENDED_SIGNAL, &ended, NULL);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    int console = open(c.console_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (console < 0) {
        sm_error_set(&err, errno, "%s", c.console_log);
        goto fail;
    }
    staging_make(&staging, &c);
    sm_trace("vmm: configuration read");
    /* A restored VM gives back the pages it wrote back to its snapshot's bytes, which
     * needs the process's pagemap: opened now, while /proc may still be opened.
     * SUPERMACHINE_TRIM=0 turns it off (to measure what it saves, docs/memory.md). */
    const char *trim_env = getenv("SUPERMACHINE_TRIM");
    bool trim = c.restore && !(trim_env && strcmp(trim_env, "0") == 0);
    pagemap_fd = trim ? open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC) : -1;
    /* Before the first thread, so that every thread inherits the filter. */
    if (ext->confine_process && confine(&c, &in, &staging, ext, &err) < 0) {
        sm_error_wrap(&err, "confine the VMM");
        goto fail;
    }
    sm_trace("vmm: confined");
    /* The owner's end stops the VM: its pidfd turns readable, and the VM's loop polls it
     * (a thread of its own for it would be one more stack in every idle clone). */
    int owner_pidfd = -1;
    if (c.owner > 0) {
        owner_pidfd = pidfd_open(c.owner, 0);
        if (owner_pidfd < 0) {
            sm_error_set(&err, errno, "owner process %d", (int)c.owner);
            goto fail;
        }
    }
    struct vm_config vc = {
        .kernel_path = c.kernel,
        .initrd_path = c.initrd,
        .cmdline = c.append,
        .ncpus = c.cpus,
        .memory_mib = c.memory_mib,
        .console_in_fd = -1,
        .console_out_fd = console,
        .console_limit = RUN_LOG_LIMIT,
        .stop_fd = stop_pipe[0],
        .owner_pidfd = owner_pidfd,
        .disk_path = c.disk,
        .snapshot_dir = c.snapshot,
        .snapshot_on_console = c.snapshot ? c.snapshot_when + 8 : NULL,
        .snapshot_continue = true,
        .snapshot_holds_vsock = true,
        .workload_snapshot_dir = c.workload_snapshot,
        .workload_snapshot_on_console = c.workload_snapshot ? c.workload_snapshot_when + 8 : NULL,
        .snapshot_name_checked = true,
        .vsock_uds = c.vsock,
        .on_vcpu_thread = ext->confine_vcpu_thread,
        .on_devices_thread = ext->confine_devices_thread,
        .on_main_loop = ext->confine_main_thread,
        /* A restored VM can start over from its snapshot in place (a pool's release). */
        .control_path = VMM_CONTROL_SOCKET,
        .on_reset = reset_network,
        .trim = pagemap_fd >= 0,
        .trim_pagemap_fd = pagemap_fd,
    };
    struct net_reset_ctx net_reset = {.ops = net_ops};
    vc.reset_opaque = &net_reset;
    if (c.network && strcmp(c.network, "user") == 0) {
        /* Host ports are taken before the guest exists: a port in use is the user's error,
         * reported as such, whether the VM boots or restores. */
        struct net_backend_config nc = {
            .allow_host_loopback = c.allow_host_loopback,
            .publish = c.publish,
            .egress_allow = c.egress_allow,
            .egress_deny = c.egress_deny,
            .on_thread_start = ext->confine_net_thread,
        };
        if (net_ops == NULL) {
            sm_error_set(&err, 0, "this VMM has no network backend");
            goto fail;
        }
        if (net_ops->create(&nc, &net, &err) < 0)
            goto fail;
        vc.net = net_ops->device(net);
        net_reset.net = net;
    }
    sm_trace("vmm: confined, network created");
    struct vm *vm = NULL;
    int created =
        c.restore ? vm_create_from_snapshot(&vc, c.restore, &vm, &err) : vm_create(&vc, &vm, &err);
    if (pagemap_fd >= 0)
        close(pagemap_fd); /* the VM keeps its own */
    pagemap_fd = -1;
    sm_trace("vmm: VM created");
    if (created < 0) {
        /* A host short of memory (ENOMEM: with vm.overcommit_memory=2 mapping the guest's
         * RAM is refused when the commit limit is reached) is no fault of the snapshot:
         * it is kept, and the run fails rather than booting to rebake it. */
        snapshot_unusable = c.restore != NULL && !(err && err->errno_value == ENOMEM);
        goto fail;
    }
    if (ext->confine_vm_size) {
        unsigned ncpus;
        uint64_t mem;
        vm_size(vm, &ncpus, &mem);
        ext->confine_vm_size(ncpus, mem);
    }
    if (net && net_ops->start(net, &err) < 0)
        goto fail;
    if (instance_set_state(&in, "running", 0, getpid(), &err) < 0)
        goto fail;
    report_ready((int)ready_fd, "ok\n");
    ready_fd = -1;
    sm_trace("vmm: ready");

    struct vm_result res = {0};
    int r = vm_run(vm, &res, &err);
    sm_trace("vmm: VM stopped");
    if (r == 0 && res.reason == VM_EXIT_USER && main_ended)
        res.reason = VM_EXIT_POWEROFF;
    if (net)
        net_ops->stop(net); /* its thread drives the VM's device: before vm_destroy */
    vm_destroy(vm);
    if (net)
        net_ops->destroy(net);
    sm_trace("vmm: VM destroyed");
    int code = r < 0 ? 125 : exit_code_for(res.reason);
    /* The main process's own status, recorded by whoever ran it through the agent. */
    main_exit = instance_path(&in, "main-exit");
    char *text = NULL;
    size_t len;
    sm_error_t ignored = NULL;
    /* A guest stopped from outside reports 137 whatever its process said last. */
    if (res.reason != VM_EXIT_USER && sm_read_file(main_exit, 64, &text, &len, &ignored) == 0) {
        long v = strtol(text, &end, 10);
        if (end != text && v >= 0 && v <= 255)
            code = (int)v;
        free(text);
    }
    sm_error_release(&ignored);
    if (r < 0 || res.reason == VM_EXIT_PANIC || res.reason == VM_EXIT_TRIPLE_FAULT ||
        res.reason == VM_EXIT_ERROR) {
        dprintf(console, "supermachine: VM ended: %s%s%s\n",
                r < 0 ? sm_error_message(err) : vm_exit_reason_name(res.reason),
                res.message[0] ? ": " : "", res.message);
    }
    staging_release(&staging);
    instance_set_state(&in, "exited", code, 0, &ignored);
    sm_trace("vmm: exit %d", code);
    sm_error_release(&ignored);
    sm_error_release(&err);
    vmm_config_release(&c);
    instance_release(&in);
    return code;

fail:
    if (pagemap_fd >= 0)
        close(pagemap_fd);
    if (net) {
        net_ops->stop(net); /* the VM, if any, is never destroyed: we exit */
        net_ops->destroy(net);
    }
    snprintf(msg, sizeof(msg), "%s%s\n", snapshot_unusable ? VMM_SNAPSHOT_UNUSABLE : "",
             sm_error_message(err));
    report_ready((int)ready_fd, msg);
    fprintf(stderr, "supermachine-vmm: %s", msg);
    staging_release(&staging);
    sm_error_release(&err);
    vmm_config_release(&c);
    if (in.dir) {
        sm_error_t state_err = NULL;
        instance_set_state(&in, "exited", 125, 0, &state_err);
        sm_error_release(&state_err);
    }
    instance_release(&in);
    return 125;
}

char *runtime_find_helper(const char *name, sm_error_t *err)
{
    /* $SUPERMACHINE_VMM for supermachine-vmm, $SUPERMACHINE_INIT for sm-init,
     * $SUPERMACHINE_IO for the I/O plugin (oci/io_plugin.h). */
    const char *var = strcmp(name, "sm-init") == 0              ? "SUPERMACHINE_INIT"
                      : strcmp(name, "supermachine-io.so") == 0 ? "SUPERMACHINE_IO"
                                                                : "SUPERMACHINE_VMM";
    const char *env = getenv(var);
    if (env && *env)
        return xstrdup(env);
    /* In the build tree the helpers sit beside the library (sm-init under guest/), and
     * installed ones in libexec next to lib/ or bin/: look from where this library and
     * the running program are. */
    char dirs[2][PATH_MAX] = {"", ""};
    Dl_info info;
    if (dladdr((void *)runtime_find_helper, &info) && info.dli_fname &&
        realpath(info.dli_fname, dirs[0]) == NULL)
        dirs[0][0] = '\0';
    ssize_t n = readlink("/proc/self/exe", dirs[1], sizeof(dirs[1]) - 1);
    dirs[1][n > 0 ? n : 0] = '\0';
    for (size_t d = 0; d < 2; d++) {
        char *slash = strrchr(dirs[d], '/');
        if (slash == NULL)
            continue;
        *slash = '\0';
        const char *const rel[] = {"", "/guest", "/../libexec/supermachine"};
        for (size_t i = 0; i < SM_ARRAY_SIZE(rel); i++) {
            char *p = xasprintf("%s%s/%s", dirs[d], rel[i], name);
            if (access(p, X_OK) == 0)
                return p;
            free(p);
        }
    }
    char *p = xasprintf("%s/%s", SM_LIBEXECDIR, name);
    if (access(p, X_OK) == 0)
        return p;
    free(p);
    sm_error_set(err, ENOENT, "%s not found (set $%s or install it in %s)", name, var,
                 SM_LIBEXECDIR);
    return NULL;
}

/* Set once, at the start of a monitor process (run_monitor.c), which stays single
 * threaded until its VMM runs: the process is the VMM program already. */
static int (*vmm_in_process_main)(int argc, char **argv);
/* The monitor's VMM, for its stop handler; a stop asked for before there is one. */
static volatile sig_atomic_t monitor_vmm_pid, monitor_stop_asked;

/* A monitor told to end (SIGTERM, SIGINT: `stop` when the agent does not answer, a
 * shutdown, kill) ends its VM rather than itself: the VMM stops (137, as stopped from
 * outside), and the monitor goes on to record it and, for --rm, remove the record. Dying
 * at once would leave both undone. While the main process runs, its session forwards
 * these signals to it instead (run_attached). */
static void on_monitor_stop(int sig)
{
    (void)sig;
    int saved = errno;
    monitor_stop_asked = 1;
    if (monitor_vmm_pid > 0)
        kill((pid_t)monitor_vmm_pid, SIGTERM);
    errno = saved;
}

void vmm_spawn_in_process(int (*vmm_main)(int argc, char **argv))
{
    vmm_in_process_main = vmm_main;
    struct sigaction sa = {.sa_handler = on_monitor_stop};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGHUP, SIG_IGN); /* no terminal: the monitor is a session of its own */
}

/* The VMM as a fork of this process (a monitor): what posix_spawn's file actions and
 * attributes do below, by hand. The VMM closes the monitor's other descriptors (its own
 * ready pipe to its caller above all) as its first step. Returns only in the parent. */
static pid_t vmm_fork(char *const argv[], int null, int logfd)
{
    /* A stop arriving meanwhile waits until the parent knows the child's pid, and the
     * child drops the monitor's handler before it could run there. */
    sigset_t stops, saved;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigprocmask(SIG_BLOCK, &stops, &saved);
    pid_t pid = fork();
    if (pid != 0) {
        if (pid > 0) {
            monitor_vmm_pid = pid;
            if (monitor_stop_asked) /* before there was a VMM to stop */
                kill(pid, SIGTERM);
        }
        sigprocmask(SIG_SETMASK, &saved, NULL);
        return pid;
    }
    /* The VMM's own handlers come with its start; until then, the default ones. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
    }
    if (logfd >= 0)
        dup2(logfd, 2);
    run_monitor_set_title((const char *const *)argv);
    _exit(vmm_in_process_main(3, (char **)argv));
}

int vmm_spawn(struct instance *in, pid_t *pid_out, sm_error_t *err)
{
    cleanup_free char *vmm = runtime_find_helper("supermachine-vmm", err);
    if (vmm == NULL)
        return -1;
    cleanup_free char *cfg = instance_path(in, "vmm.json");
    cleanup_free char *log = instance_path(in, "vmm.log");
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0)
        return sm_error_set(err, errno, "pipe");
    ready[1] = sm_fd_above_stdio(ready[1]);
    if (ready[1] < 0) {
        /* Out of descriptors: a VMM without this pipe could never say it is ready, and
         * we would wait for it to end instead. */
        int e = errno;
        close(ready[0]);
        return sm_error_set(err, e, "pipe");
    }
    /* posix_spawn, not fork: the caller may be a program with threads, where a forked
     * child may call nothing but async-signal-safe functions before exec, and a vfork-like
     * spawn copies none of the caller's page tables. Descriptors are opened here and only
     * moved into place in the child (a missing log leaves the VMM the caller's stderr, as
     * before). */
    cleanup_close int null = sm_fd_above_stdio(open("/dev/null", O_RDWR | O_CLOEXEC));
    cleanup_close int logfd =
        sm_fd_above_stdio(open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    if (null >= 0) {
        posix_spawn_file_actions_adddup2(&fa, null, 0);
        posix_spawn_file_actions_adddup2(&fa, null, 1);
    }
    if (logfd >= 0)
        posix_spawn_file_actions_adddup2(&fa, logfd, 2);
    /* Onto itself: glibc clears its close-on-exec flag there, so the VMM inherits it. */
    posix_spawn_file_actions_adddup2(&fa, ready[1], ready[1]);
    /* Its own session: the user's Ctrl-C on a terminal reaches us, and we decide what it
     * means for the guest. And no blocked signals: a signal mask survives exec, and a
     * caller's thread that blocks SIGTERM (a server waiting on a signalfd, say) must not
     * give the VMM a deaf stop signal. */
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
    char fdstr[16];
    snprintf(fdstr, sizeof(fdstr), "%d", ready[1]);
    char *const argv[] = {"supermachine-vmm", cfg, fdstr, NULL};
    pid_t pid = -1;
    int e = 0;
    if (vmm_in_process_main) {
        pid = vmm_fork(argv, null, logfd);
        e = pid < 0 ? errno : 0;
    } else {
        e = posix_spawn(&pid, vmm, &fa, &attr, argv, environ);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (e != 0) {
        close(ready[0]);
        close(ready[1]);
        return sm_error_set(err, e, "start %s", vmm);
    }
    close(ready[1]);
    char buf[1024];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(ready[0], buf + got, sizeof(buf) - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == sizeof(buf) - 1)
            break;
    }
    close(ready[0]);
    buf[got] = '\0';
    if (strcmp(buf, "ok\n") == 0) {
        *pid_out = pid;
        return 0;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    buf[strcspn(buf, "\n")] = '\0';
    bool unusable = strncmp(buf, VMM_SNAPSHOT_UNUSABLE, strlen(VMM_SNAPSHOT_UNUSABLE)) == 0;
    if (unusable)
        memmove(buf, buf + strlen(VMM_SNAPSHOT_UNUSABLE),
                strlen(buf) - strlen(VMM_SNAPSHOT_UNUSABLE) + 1);
    if (got == 0) {
        char *text = NULL;
        size_t len;
        sm_error_t ignored = NULL;
        if (sm_read_file(log, 4096, &text, &len, &ignored) == 0 && len > 0) {
            text[strcspn(text, "\n")] = '\0';
            snprintf(buf, sizeof(buf), "%s", text);
        } else {
            snprintf(buf, sizeof(buf), "the VMM process ended before the VM ran");
        }
        free(text);
        sm_error_release(&ignored);
    }
    sm_error_set(err, 0, "%s", buf);
    return unusable ? -2 : -1;
}
