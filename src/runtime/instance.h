/* VM instances on disk: one directory per `run` under <store>/vms/<id>/ (layout in
 * docs/store-layout.md). The VMM process holds an exclusive lock on the directory's
 * `lock` file for as long as it lives, so "is it running" is a lock probe that survives
 * crashes, never a stale pid. Everything else is written atomically (temp + rename). */
#ifndef SM_RUNTIME_INSTANCE_H
#define SM_RUNTIME_INSTANCE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

#define INSTANCE_ID_LEN 64 /* hex characters, as docker's container ids */

struct instance {
    char *dir; /* <store>/vms/<id> */
    char id[INSTANCE_ID_LEN + 1];
    char *name;
    char *image;     /* the reference the user gave */
    char *digest;    /* the image's manifest digest */
    char *command;   /* the main process's argv joined with spaces (for ps) */
    char *hostname;  /* the guest's, as given (docker's -h); NULL: the id's first 12 */
    int64_t created; /* unix seconds */
    /* docker's --stop-signal and --stop-timeout (0 to 86400 s), as given; NULL and -1
     * when not. */
    char *stop_signal;
    int stop_timeout;
    char *restart;      /* docker's --restart, as given; NULL: none ("no") */
    char **extra_hosts; /* docker's --add-host, as given; NULL: none */
    bool read_only;     /* docker's --read-only */
    char **tmpfs;       /* docker's --tmpfs, as given; NULL: none */
    /* docker's --dns, --dns-search, --dns-option, as given; NULL: none */
    char **dns, **dns_search, **dns_options;
    char **labels;     /* "K=V": the image's, then the run's; NULL: none */
    char **ulimits;    /* docker's --ulimit, as given; NULL: none */
    uint64_t shm_size; /* docker's --shm-size, bytes; 0: none given */
    /* The main process's environment, user and working directory as the run composed
     * them (docker's Config.Env, User, WorkingDir): an exec's defaults. NULL in a record
     * without them (an idle VM's): the image's. */
    char **env;
    char *user, *workdir;
    /* From state.json: */
    char *status;     /* "created", "running", "exited" */
    int exit_code;    /* valid when status is "exited" */
    int64_t finished; /* unix seconds, 0 if not */
    int64_t started;  /* unix seconds the main process last started; 0 if unknown */
    pid_t vmm_pid;
    bool auto_remove;
};

/* What a new instance's record (config.json) says: kept for the VM's whole life. */
struct instance_spec {
    const char *name;     /* NULL: generated */
    const char *image;    /* the reference the user gave */
    const char *digest;   /* the image's manifest digest */
    const char *command;  /* NULL: "" */
    const char *hostname; /* NULL: the id's first 12 */
    bool auto_remove;
    const char *stop_signal; /* NULL: not given */
    const char *restart;     /* docker's --restart; NULL: not given */
    bool has_stop_timeout;
    int stop_timeout;               /* seconds, with has_stop_timeout */
    const char *const *extra_hosts; /* NULL-terminated; NULL: none */
    bool read_only;
    const char *const *tmpfs; /* NULL-terminated; NULL: none */
    const char *const *dns, *const *dns_search, *const *dns_options; /* the same */
    /* "K=V" or "K", the image's then the run's: a later key replaces an earlier one */
    const char *const *image_labels, *const *labels;
    const char *const *ulimits; /* NULL-terminated; NULL: none */
    uint64_t shm_size;
    const char *const *env;     /* NULL-terminated; NULL: not recorded */
    const char *user, *workdir; /* NULL: not recorded */
};

/* Creates a new instance directory with a fresh id and the given (or a generated) name,
 * unique among instances (checked under <store>/vms/.lock). */
int instance_create(const struct instance_spec *spec, struct instance *out, sm_error_t *err);
/* Finds an instance by name, full id or unique id prefix. */
int instance_find(const char *name_or_id, struct instance *out, sm_error_t *err);
/* The same, for an operation (`what`, as errors name it) that needs the VM running. */
int instance_find_running(const char *name_or_id, const char *what, struct instance *out,
                          sm_error_t *err);
/* The same, refused too while the VM is paused (its guest cannot answer): exec, cp. */
int instance_find_unpaused(const char *name_or_id, const char *what, struct instance *out,
                           sm_error_t *err);
/* docker rename: the VM (running or not) takes new_name, which must be valid and unused
 * (checked under the lock instance_create takes). Its hostname stays. */
int instance_rename(const char *name_or_id, const char *new_name, sm_error_t *err);
/* Every instance, newest first. */
int instance_list(struct instance **out, size_t *n, sm_error_t *err);
void instance_list_free(struct instance *list, size_t n);
void instance_release(struct instance *in);

/* The guest's hostname: the one the run gave (-h), else the id's first 12 digits, as
 * docker's. */
void instance_hostname(const struct instance *in, char out[64]);
/* The name of the signal `stop` sends unless told otherwise: the run's --stop-signal, else
 * the image's StopSignal (malloc'd); NULL when neither names one. Not checked: a record
 * or image may hold nonsense. */
char *instance_stop_signal(const struct instance *in);
/* Path of a file in the instance's directory (malloc'd). */
char *instance_path(const struct instance *in, const char *file);
/* Whether that file exists (the markers: paused, idle, stopping, restart-requested). */
bool instance_has_file(const struct instance *in, const char *file);
/* Records the state (status, exit code, VMM pid) in state.json atomically. */
int instance_set_state(struct instance *in, const char *status, int exit_code, pid_t vmm_pid,
                       sm_error_t *err);
/* The VMM process is alive: its lock on the directory is held. */
bool instance_running(const struct instance *in);
/* Written by sm_vm_pause, removed by sm_vm_unpause (vm_pause.c): the VM's vCPUs are
 * parked. Its status then reads "paused". */
#define INSTANCE_PAUSED_FILE "paused"
/* Left by `stop` before it signals the main process: a restart policy (docker's
 * --restart) does not start it again. */
#define INSTANCE_STOPPING_FILE "stopping"
/* How many times a restart policy started the main process again (a number a line). */
#define INSTANCE_RESTARTS_FILE "restarts"
/* That count; 0 when there is none. */
int instance_restart_count(const struct instance *in);
/* Left by `restart` before it stops the main process: the monitor starts it again
 * whatever the policy, and removes the file when it has. */
#define INSTANCE_RESTART_FILE "restart-requested"
/* The pid of the monitor of a running detached run (the VMM's parent); 0 when the VM
 * does not run or its owner is not one (an attached run's CLI, a pool). */
pid_t instance_monitor(const struct instance *in);
/* Running, and paused. */
bool instance_paused(const struct instance *in);
/* Waits up to timeout_ms (< 0: for ever) for the VM to stop running: true once it has.
 * Woken as its VMM ends (a pidfd on vmm_pid) and, should that pid not be its VMM any more,
 * looks at the lock every 100 ms. */
bool instance_wait_stopped(const struct instance *in, int timeout_ms);
/* The VM has no main process by design (an idle VM, e.g. a pool's; docs/pool.md): the
 * file `idle` in its directory says who keeps it. */
bool instance_idle(const struct instance *in);
/* The VM's proportional set size in KiB: the Pss of its VMM process (guest RAM included,
 * pages shared with other processes, such as a snapshot's page cache, divided among
 * them), from /proc/<vmm_pid>/smaps_rollup, and of its monitor (a detached run's, the
 * VMM's parent); -1 when the VM is not running or the figure cannot be read. */
int64_t instance_pss_kib(const struct instance *in);
/* The CPU time its VMM process (every thread: vCPUs, devices, network) and its monitor
 * have used on this host, in nanoseconds (clock ticks' resolution); -1 as for PSS. */
int64_t instance_cpu_ns(const struct instance *in);
/* Connects to a Unix socket in the instance directory (through a directory descriptor:
 * socket paths are limited to 108 bytes, a store path plus a 64-hex id may be longer).
 * A socket that is not there: "the VM has no network (--network none)" for the
 * network's, ENOENT for the others. */
int instance_connect(const struct instance *in, const char *file, sm_error_t *err);
/* One request line to a VMM socket of the instance (the network's, the VM's control
 * socket) and its one-line answer: "ok[ REPLY]" returns 0 with REPLY in reply,
 * "error MESSAGE" is the error. */
int instance_request(const struct instance *in, const char *file, const char *request,
                     int timeout_ms, char *reply, size_t size, sm_error_t *err);
/* The "Pss:" figure (KiB) of an smaps_rollup text; -1 if absent or malformed. */
int64_t instance_parse_pss_kib(const char *smaps_rollup);
/* Removes the directory (the VM must not be running). */
int instance_remove_dir(struct instance *in, sm_error_t *err);

#endif
