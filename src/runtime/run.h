/* The pieces of `run` (sm_run in run.c): what a VM is made of, found or built once and
 * cached in the store, and the attached session with its main process. */
#ifndef SM_RUNTIME_RUN_H
#define SM_RUNTIME_RUN_H

#include <signal.h>
#include <stdbool.h>

#include "agent/agent_client.h"
#include "common/error.h"
#include "runtime/instance.h"
#include "supermachine.h"

/* The line sm-init prints once it serves the agent: the init-ready snapshot's trigger. */
#define RUN_INIT_READY_LINE "supermachine: init ready"

/* console.log and a detached run's output.log hold at most this much (the newest). */
#define RUN_LOG_LIMIT  (16ull << 20)
#define RUN_LABELS_MAX 1024 /* docker's --label, per VM */

struct run_plan {
    struct sm_image_config *image;
    char *rootfs;      /* EROFS image of the flattened layers */
    char *kernel;      /* bzImage */
    char *modules_dir; /* its modules tree */
    char *kernel_sha256;
    char *initramfs; /* sm-init + modules */
    char *snapshot;  /* init-ready snapshot directory (NULL: --no-snapshot) */
    bool restore;    /* it exists: restore it rather than boot */
    /* Workload-ready snapshot (--snapshot-on, docs/snapshot-workload.md): the trigger,
     * its directory, whether it exists (restore it and attach to the main process),
     * and the console line, fresh per run, on which the VMM saves it. */
    char *snapshot_on;
    char *workload_snapshot;
    bool workload_restore;
    char marker[80];
    unsigned cpus;
    uint64_t memory_mib;
    /* The network (docs/networking.md): checked here, carried out by the VMM. */
    bool network;
    bool allow_host_loopback;
    char **publish, **egress_allow, **egress_deny; /* NULL-terminated, never NULL */
    /* The main process, and docker's --restart for it (NULL: no). */
    char **argv, **env;
    char *workdir, *user;
    char *restart;
    /* gc.lock, held shared from the preparation until the VMM has opened the snapshot,
     * disk and initramfs chosen here: `system prune` (exclusive) waits meanwhile. */
    int store_hold_fd;
    bool store_held;
};

/* Resolves the image (pulling it if the store lacks it), its root filesystem, the
 * kernel, the initramfs and the snapshot to use. */
int run_prepare(const struct sm_run_options *o, struct run_plan *p, sm_error_t *err);
/* Sets "K=V" (or "K=") in *env, a NULL-ended array of *n entries: replaces the entry of
 * the same key in place, else appends. One entry per key: getenv finds the first, so a
 * later setting appended after an earlier one would not count. */
void run_env_set(char ***env, size_t *n, const char *kv);
void run_plan_release(struct run_plan *p);
/* Lets gc.lock go (its VMM has opened what the plan chose). */
void run_plan_unhold(struct run_plan *p);

/* The console line sm-init's kept process prints once frozen; a random nonce follows. */
#define RUN_WORKLOAD_READY_LINE "supermachine: workload frozen"

/* Writes the VMM's configuration (vmm.json) for this plan into the instance. */
int run_write_vmm_config(struct instance *in, const struct run_plan *p, pid_t owner,
                         sm_error_t *err);

/* Writes vmm.json and starts the VMM process (our child, *vmm_out) for the instance;
 * returns once the guest runs. A snapshot the VMM refuses is dropped and the guest booted
 * instead (p->restore becomes false), baking a new one. */
int run_vmm_start(struct instance *in, struct run_plan *p, pid_t owner, pid_t *vmm_out,
                  sm_error_t *err);
/* How long to wait for the agent of a VM just started ($SUPERMACHINE_AGENT_TIMEOUT). */
int run_agent_timeout_ms(void);

/* The process to run in the guest and the host descriptors it is attached to. */
struct run_process {
    const char *const *argv;
    const char *const *env;
    const char *workdir, *user;
    bool tty, interactive;
    int in_fd, out_fd, err_fd;
    bool main;            /* the VM's main process: its pid is recorded */
    bool forward_signals; /* our signals go to the process (sm_run_options) */
    /* Optional: the mask run_signals_hold saved, restored once run_attached's handlers are
     * in place (signals held meanwhile then reach them). */
    const sigset_t *signals_held;
    uint64_t timeout_ms;      /* 0: none */
    uint64_t output_limit;    /* 0: none; for output going to a log file */
    const char *output_times; /* optional: the times of its lines (agent_exec_request's) */
    /* Optional: a log that also gets the output, and its times (agent_exec_request's) */
    const char *copy_to, *copy_times;
    uint64_t copy_limit;
    /* Workload-ready snapshots: keep the process (and freeze it on snapshot_on, then wait
     * for the VMM to save workload_snapshot), or attach to the one the snapshot holds. */
    const char *snapshot_on, *marker, *workload_snapshot;
    bool attach;
    bool bake_only; /* stop once saved: run_attached returns with *exit_status 0 */
    bool *held;     /* optional: set when snapshot_on fired (else the process ended first) */
    int *ready_fd;  /* optional: "ok\n" is written and the fd closed (-1) once it runs */
    struct sm_process_stats *stats; /* optional */
};
/* A detached run's caller waits on *ready_fd: "ok" goes out once, then it is closed
 * and set to -1 (no-op when ready_fd is NULL or already -1). */
void run_signal_ready(int *ready_fd);
/* Detached runs and execs (run_monitor.c): starts a monitor process, supermachine-vmm in
 * its monitor role, that holds the session of proc (the VM's main process when p is the
 * run's plan; an exec into the running VM when p is NULL) once the caller returns, and
 * waits for its first line: "ok" once the process runs, else the reason it does not
 * (without its newline, "" for none) goes to answer. */
int run_in_monitor(const struct instance *in, const struct run_plan *p,
                   const struct run_process *proc, char *answer, size_t size, sm_error_t *err);
/* main() of supermachine-vmm started as `supermachine-vmm CONFIG READY_FD monitor` by
 * run_in_monitor; vmm_main is its VMM role's, which starts the run's VMM in a fork. */
int run_monitor_main(int argc, char **argv, int (*vmm_main)(int argc, char **argv));
/* The monitor's process title (words NUL-separated in its arguments' memory, as
 * setproctitle(3)); no-op outside a monitor and its forks. */
void run_monitor_set_title(const char *const *words);
/* What a monitor does: the run's VM started and its main process held, its output in
 * output.log (run.c); an exec held, its output discarded (vm_api.c). "ok", or the reason
 * it failed, goes to ready_fd. */
void run_detached_body(struct instance *in, struct run_plan *p, const struct run_process *proc,
                       int ready_fd);
void exec_detached_body(struct instance *in, const struct run_process *proc, int ready_fd);
/* A paused VM (sm_vm_pause) goes on again; no-op for one that is not. For stop and kill,
 * which let a paused VM go on first, as docker's do. */
int run_unpause_if_paused(const struct instance *in, sm_error_t *err);
/* The guest pid of the VM's main process (main.pid), -1 if none was recorded. */
int run_main_pid(struct instance *in);
/* Connects to the instance's agent and says hello (waiting up to timeout_ms for it). */
int run_agent_open(struct instance *in, int timeout_ms, struct agent_conn *conn, sm_error_t *err);
/* Blocks the signals run_attached forwards, saving the caller's mask in *saved: from the
 * moment a run has a record until its session forwards them, a signal would otherwise
 * kill the caller (their default action) and leave the record and its VMM behind. */
void run_signals_hold(sigset_t *saved);
/* run_attached's failure when one of the caller's signals (forward_signals) came before
 * the process started: nothing ran, the VM is to be stopped at once. */
#define RUN_STOPPED_BY_SIGNAL (-3)
/* The running VM name_or_id and a hello'd agent connection to it; `what` names the
 * operation in errors. Release both (instance_release, agent_close). */
int run_open_running(const char *name_or_id, const char *what, struct instance *in,
                     struct agent_conn *c, sm_error_t *err);
/* Connects to the instance's agent (waiting for it to listen, up to timeout_ms), runs
 * the process attached to the descriptors, forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT and
 * window size changes, and returns its exit status (128+N for a signal). */
int run_attached(struct instance *in, const struct run_process *proc, int timeout_ms,
                 int *exit_status, sm_error_t *err);
/* Asks the guest to power off (best effort: the VMM is stopped anyway when we go). */
void run_poweroff(struct instance *in);
/* sm_vm_kill with a bound on the whole exchange with the agent: `stop` spends its grace
 * period there rather than the 30 s a busy guest's agent may take to answer. */
int run_kill_main(const char *name_or_id, int sig, int timeout_ms, sm_error_t *err);

#endif
