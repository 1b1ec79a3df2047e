/* The public calls on VMs that exist: list, stop, remove, exec (logs: vm_logs.c). */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/instance.h"
#include "runtime/run.h"

int sm_vm_list(struct sm_vm_info **out, size_t *n, sm_error_t *err)
{
    struct instance *list;
    size_t count;
    if (instance_list(&list, &count, err) < 0)
        return sm_error_wrap(err, "ps");
    struct sm_vm_info *info = xcalloc(count ? count : 1, sizeof(*info));
    for (size_t i = 0; i < count; i++) {
        snprintf(info[i].id, sizeof(info[i].id), "%s", list[i].id);
        info[i].name = xstrdup(list[i].name);
        info[i].image = xstrdup(list[i].image);
        info[i].command = xstrdup(list[i].command);
        info[i].status = xstrdup(list[i].status);
        info[i].exit_code = list[i].exit_code;
        info[i].created = list[i].created;
        info[i].finished = list[i].finished;
        info[i].started = list[i].started;
        info[i].pss_kib = instance_pss_kib(&list[i]);
        info[i].labels = list[i].labels;
        list[i].labels = NULL; /* handed over */
    }
    instance_list_free(list, count);
    *out = info;
    *n = count;
    return 0;
}

void sm_vm_list_free(struct sm_vm_info *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].name);
        free(list[i].image);
        free(list[i].command);
        free(list[i].status);
        sm_strv_free(list[i].labels);
    }
    free(list);
}

/* The process that owns the VM's main process (an attached `run` or a detached run's
 * monitor), from vmm.json. While the VMM lives so does its owner: the VMM stops the
 * guest when its owner ends, so the pid cannot have been reused meanwhile. */
static pid_t owner_of(struct instance *in)
{
    cleanup_free char *path = instance_path(in, "vmm.json");
    char *text = NULL;
    size_t len;
    sm_error_t ignored = NULL;
    if (sm_read_file(path, 64 * 1024, &text, &len, &ignored) < 0) {
        sm_error_release(&ignored);
        return 0;
    }
    json_object *o = json_tokener_parse(text);
    free(text);
    int64_t pid = sm_json_int(o, "owner_pid");
    json_object_put(o);
    return pid > 1 && pid <= INT32_MAX ? (pid_t)pid : 0;
}

/* The signal a stop sends when the caller names none: the VM's own (run --stop-signal),
 * else its image's StopSignal, else SIGTERM. The record's and the image's were not the
 * caller's to give: nonsense in them (a hand-edited record, an odd image) means SIGTERM,
 * not an error. */
static int default_stop_signal(const struct instance *in)
{
    int sig = SIGTERM;
    sm_error_t why = NULL;
    cleanup_free char *name = instance_stop_signal(in);
    if (name && sm_parse_signal(name, &sig, &why) < 0)
        sig = SIGTERM;
    sm_error_release(&why);
    return sig;
}

int sm_vm_rename(const char *name_or_id, const char *new_name, sm_error_t *err)
{
    return instance_rename(name_or_id, new_name, err) < 0 ? sm_error_wrap(err, "rename") : 0;
}

/* A stop's or restart's signal (0: the VM's own) and grace period, checked. */
static int stop_options(const char *what, const char *name_or_id,
                        const struct sm_stop_options *opts, int *sig, int *timeout_s,
                        sm_error_t *err)
{
    *sig = 0;
    if (opts && opts->signal && sm_parse_signal(opts->signal, sig, err) < 0)
        return sm_error_wrap(err, "%s %s", what, name_or_id);
    *timeout_s = opts ? opts->timeout_s : SM_STOP_TIMEOUT_VM;
    if (*timeout_s != SM_STOP_TIMEOUT_VM && (*timeout_s < 0 || *timeout_s > SM_STOP_TIMEOUT_MAX))
        return sm_error_set(err, 0, "%s %s: a grace period of %d s: want 0 to %d", what, name_or_id,
                            *timeout_s, SM_STOP_TIMEOUT_MAX);
    return 0;
}

/* Until main.pid names another process than old and `restart`'s request was taken; false
 * once the VM has stopped or timeout_ms passed. */
static bool restarted(struct instance *in, int old, int timeout_ms)
{
    uint64_t end = sm_now_ns() + (uint64_t)timeout_ms * 1000000;
    while (instance_running(in)) {
        int now = run_main_pid(in);
        if (!instance_has_file(in, INSTANCE_RESTART_FILE) && now > 0 && now != old)
            return true;
        if (sm_now_ns() >= end)
            return false;
        struct timespec step = {0, 50000000};
        nanosleep(&step, NULL);
    }
    return false;
}

int sm_vm_restart(const char *name_or_id, const struct sm_stop_options *opts, sm_error_t *err)
{
    int sig, timeout_s;
    if (stop_options("restart", name_or_id, opts, &sig, &timeout_s, err) < 0)
        return -1;
    struct instance in;
    if (instance_find_running(name_or_id, "restart", &in, err) < 0)
        return -1;
    int r = 0;
    char *asked = instance_path(&in, INSTANCE_RESTART_FILE); /* freed at out: no cleanup
                                                              * attribute past a goto */
    if (instance_monitor(&in) <= 0) {
        r = sm_error_set(err, 0,
                         "restart %s: only a detached run's main process starts again (this "
                         "VM's is its attached run's, or it has none)",
                         name_or_id);
        goto out;
    }
    if (run_unpause_if_paused(&in, err) < 0) {
        r = sm_error_wrap(err, "restart %s", name_or_id);
        goto out;
    }
    if (sig == 0)
        sig = default_stop_signal(&in);
    if (timeout_s == SM_STOP_TIMEOUT_VM)
        timeout_s = in.stop_timeout >= 0 ? in.stop_timeout : 10;
    int old = run_main_pid(&in);
    if (sm_write_file_replace(asked, "", 0, 0600, err) < 0) {
        r = sm_error_wrap(err, "restart %s", name_or_id);
        goto out;
    }
    /* As docker's: stop's signal, the grace period, then SIGKILL; the monitor starts the
     * process again when it ends (at once, if it was waiting out a restart delay). */
    sm_error_t why = NULL;
    run_kill_main(in.id, sig, timeout_s > 0 ? timeout_s * 1000 : 1, &why);
    sm_error_release(&why);
    bool done = restarted(&in, old, timeout_s * 1000);
    if (!done && instance_running(&in)) {
        run_kill_main(in.id, SIGKILL, AGENT_RUNNING_TIMEOUT_MS, &why);
        sm_error_release(&why);
        done = restarted(&in, old, AGENT_RUNNING_TIMEOUT_MS);
    }
    if (!done) {
        unlink(asked);
        r = sm_error_set(err, 0, "restart %s: %s", name_or_id,
                         instance_running(&in) ? "its main process did not start again"
                                               : "the VM ended");
    }
out:
    free(asked);
    instance_release(&in);
    return r;
}

int sm_vm_stop_with(const char *name_or_id, const struct sm_stop_options *opts, sm_error_t *err)
{
    int sig, timeout_s;
    if (stop_options("stop", name_or_id, opts, &sig, &timeout_s, err) < 0)
        return -1;
    struct instance in;
    if (instance_find(name_or_id, &in, err) < 0)
        return sm_error_wrap(err, "stop");
    if (!instance_running(&in)) {
        instance_release(&in);
        return 0;
    }
    /* A paused VM goes on first, so that its process can take the signal; should that
     * fail, the grace period runs out and the VM is stopped outright all the same. */
    sm_error_t unpausing = NULL;
    run_unpause_if_paused(&in, &unpausing);
    sm_error_release(&unpausing);
    /* A restart policy must not start the main process again once it ends now. */
    cleanup_free char *stopping = instance_path(&in, INSTANCE_STOPPING_FILE);
    sm_error_t marking = NULL;
    sm_write_file_replace(stopping, "", 0, 0600, &marking);
    sm_error_release(&marking);
    /* As docker: the signal to the main process through the agent, then, after the grace
     * period, the VM is stopped outright. */
    if (sig == 0)
        sig = default_stop_signal(&in);
    if (timeout_s == SM_STOP_TIMEOUT_VM)
        timeout_s = in.stop_timeout >= 0 ? in.stop_timeout : 10;
    /* The grace period counts from here: reaching a busy guest's agent spends it. */
    int grace_ms = timeout_s * 1000;
    uint64_t deadline = sm_now_ns() + (uint64_t)grace_ms * 1000000;
    sm_error_t why = NULL;
    if (instance_idle(&in)) {
        /* No main process to signal (a pooled VM): the guest is asked to power off. */
        run_poweroff(&in);
    } else if (run_kill_main(in.id, sig, grace_ms > 0 ? grace_ms : 1, &why) < 0) {
        /* No agent to ask (the main process never started, say): its owner passes
         * SIGTERM on if it can. */
        sm_error_release(&why);
        pid_t owner = owner_of(&in);
        if (owner > 0)
            kill(owner, SIGTERM);
    }
    int left_ms = (int)((int64_t)(deadline - sm_now_ns()) / 1000000);
    if (!instance_wait_stopped(&in, left_ms > 0 ? left_ms : 0)) {
        if (in.vmm_pid > 1)
            kill(in.vmm_pid, SIGTERM);
        if (!instance_wait_stopped(&in, 5000) && in.vmm_pid > 1)
            kill(in.vmm_pid, SIGKILL);
        instance_wait_stopped(&in, 5000);
    }
    int r = 0;
    if (instance_running(&in))
        r = sm_error_set(err, 0, "stop %s: the VM is still running", name_or_id);
    instance_release(&in);
    return r;
}

int sm_vm_stop(const char *name_or_id, unsigned timeout_s, sm_error_t *err)
{
    struct sm_stop_options o = {.timeout_s = timeout_s > SM_STOP_TIMEOUT_MAX ? SM_STOP_TIMEOUT_MAX
                                                                             : (int)timeout_s};
    return sm_vm_stop_with(name_or_id, &o, err);
}

int sm_vm_remove(const char *name_or_id, int force, sm_error_t *err)
{
    struct instance in;
    if (instance_find(name_or_id, &in, err) < 0)
        return sm_error_wrap(err, "rm");
    if (instance_running(&in)) {
        if (!force) {
            instance_release(&in);
            return sm_error_set(err, 0, "rm %s: the VM is running; stop it first or use -f",
                                name_or_id);
        }
        if (sm_vm_stop(in.id, 0, err) < 0) {
            instance_release(&in);
            return sm_error_wrap(err, "rm");
        }
    }
    int r = instance_remove_dir(&in, err);
    instance_release(&in);
    return r < 0 ? sm_error_wrap(err, "rm %s", name_or_id) : 0;
}

void exec_detached_body(struct instance *in, const struct run_process *proc, int ready_fd)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        _exit(125);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    struct run_process mp = *proc;
    mp.in_fd = -1, mp.out_fd = null, mp.err_fd = null;
    mp.interactive = mp.tty = mp.forward_signals = false;
    mp.ready_fd = &ready_fd;
    int status = 125;
    sm_error_t merr = NULL;
    if (run_attached(in, &mp, AGENT_RUNNING_TIMEOUT_MS, &status, &merr) < 0) {
        if (ready_fd >= 0)
            dprintf(ready_fd, "error %s\n", sm_error_message(merr));
    } else if (ready_fd >= 0) {
        dprintf(ready_fd, "exit %d\n", status); /* it never started */
    }
}

/* docker exec -d: a monitor process holds the agent session while the process runs, its
 * output discarded. Returns once the process started; one that could not start (127,
 * say) gives its status at once. */
static int exec_detached(struct instance *in, const struct run_process *proc, int *exit_status,
                         sm_error_t *err)
{
    char answer[1024];
    if (run_in_monitor(in, NULL, proc, answer, sizeof(answer), err) < 0)
        return -1;
    *exit_status = 0;
    if (strcmp(answer, "ok") == 0)
        return 0;
    char *end;
    if (strncmp(answer, "exit ", 5) == 0) {
        long v = strtol(answer + 5, &end, 10);
        if (*end == '\0' && v >= 0 && v <= 255) {
            *exit_status = (int)v;
            return 0;
        }
    }
    return sm_error_set(err, 0, "%s",
                        strncmp(answer, "error ", 6) == 0 ? answer + 6 : "the exec monitor failed");
}

int sm_vm_exec(const char *name_or_id, const struct sm_exec_options *o, int *exit_status,
               sm_error_t *err)
{
    if (o->argv == NULL || o->argv[0] == NULL)
        return sm_error_set(err, 0, "exec: no command given");
    struct instance in;
    if (instance_find_unpaused(name_or_id, "exec", &in, err) < 0)
        return -1;
    if (o->workdir && o->workdir[0] != '/') {
        instance_release(&in);
        return sm_error_set(err, 0, "exec %s: --workdir %s: want an absolute path", name_or_id,
                            o->workdir);
    }
    /* As docker exec: the main process's environment, user and working directory (the
     * image's, with the run's settings) unless the caller gives its own; the caller's
     * variables replace the VM's of the same name. A record without them (an idle VM's,
     * docs/pool.md) has the image's. */
    struct sm_image_config *cfg = NULL;
    if (in.env == NULL || in.user == NULL || in.workdir == NULL) {
        sm_error_t ignored = NULL;
        sm_image_config(in.digest, &cfg, &ignored);
        sm_error_release(&ignored);
    }
    const char *const *base_env = in.env ? (const char *const *)in.env
                                  : cfg  ? (const char *const *)cfg->env
                                         : NULL;
    size_t n = 0;
    char **env = xcalloc(1, sizeof(char *));
    const char *const *layers[2] = {base_env, o->env};
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; layers[l] && layers[l][i]; i++)
            run_env_set(&env, &n, layers[l][i]);
    const char *image_workdir =
        cfg && cfg->working_dir && *cfg->working_dir ? cfg->working_dir : "/";
    const char *image_user = cfg && cfg->user && *cfg->user ? cfg->user : "0";
    struct run_process proc = {
        .argv = o->argv,
        .env = (const char *const *)env,
        .workdir = o->workdir   ? o->workdir
                   : in.workdir ? in.workdir
                                : image_workdir,
        .user = o->user   ? o->user
                : in.user ? in.user
                          : image_user,
        .tty = o->tty != 0,
        .interactive = o->interactive != 0,
        .in_fd = o->stdin_fd,
        .out_fd = o->stdout_fd,
        .err_fd = o->stderr_fd,
        .forward_signals = o->forward_signals != 0,
        .timeout_ms = o->timeout_ms,
        .stats = o->stats,
    };
    int r = o->detach ? exec_detached(&in, &proc, exit_status, err)
                      : run_attached(&in, &proc, AGENT_RUNNING_TIMEOUT_MS, exit_status, err);
    sm_strv_free(env);
    if (cfg)
        sm_image_config_free(cfg);
    instance_release(&in);
    return r < 0 ? sm_error_wrap(err, "exec %s", name_or_id) : 0;
}
