/* The VMM process: one per running VM (crash isolation, one address space per guest),
 * started by the library (vmm_spawn) as `supermachine-vmm CONFIG READY_FD`. It reads its
 * configuration from a JSON file in the instance directory, holds the directory's lock
 * while it lives, reports "ok" (or the one-line error) on READY_FD once the guest runs,
 * and records the end in state.json. Fields of the configuration:
 *   kernel, initrd, disk, append, cpus, memory_mib    what to boot
 *   restore                                          snapshot directory to restore instead
 *   snapshot, snapshot_when                          bake a snapshot on a console line and
 *                                                    let the guest run on
 *   workload_snapshot, workload_snapshot_when        the same, later: the workload-ready
 *                                                    snapshot (also after a restore)
 *   vsock                                            hybrid vsock Unix socket path
 *   network                                          "user" (libslirp, docs/networking.md)
 *                                                    or "none" / absent: no network device
 *   publish, egress_allow, egress_deny               string arrays: -p specs, egress rules
 *   allow_host_loopback                              boolean
 *   console_log                                      the guest console goes here (appended)
 *   owner_pid                                        stop the guest when this process ends
 *                                                    (0: detached, runs until stopped)
 * Signals: SIGTERM or SIGINT stop the guest (status 137, as docker's kill);
 * VMM_MAIN_ENDED_SIGNAL ends it because its main process ended (status: that process's,
 * from main-exit). */
#ifndef SM_RUNTIME_VMM_PROCESS_H
#define SM_RUNTIME_VMM_PROCESS_H

#include <signal.h>
#include <sys/types.h>

#define VMM_MAIN_ENDED_SIGNAL SIGUSR1
/* The VM's control socket in its instance directory (vmm/vm_control.c): "reset" puts a
 * restored guest back as its snapshot left it, in place (a pool's release); "pause" and
 * "resume" park its vCPUs and let them go on (sm_vm_pause). */
#define VMM_CONTROL_SOCKET "vmm.sock"

#include "common/error.h"
#include "confine/confine.h"
#include "runtime/instance.h"

struct net_backend_ops;
/* What supermachine-vmm links in beside the library (each NULL if it has none): the
 * network backend (net/net_backend.h) and the confinement (confine/confine.h): the
 * process is confined before it makes any thread (to the files of its configuration),
 * each thread to its role as it starts, and its cgroup sized once the VM is made. */
struct vmm_extensions {
    const struct net_backend_ops *net;
    int (*confine_process)(const struct confine_config *cfg, sm_error_t *err);
    void (*confine_vm_size)(unsigned cpus, uint64_t memory_bytes);
    void (*confine_main_thread)(void);
    void (*confine_vcpu_thread)(void);
    void (*confine_devices_thread)(void);
    void (*confine_net_thread)(void);
};
/* main() of supermachine-vmm. */
int vmm_process_main(int argc, char **argv, const struct vmm_extensions *ext);

/* Starts the VMM process for an instance whose vmm.json is written; returns once the
 * guest runs (or with the VMM's own error). *pid_out: the VMM's pid (our child). Returns
 * -2 (not -1) when the VMM refused the snapshot it was to restore (made on another host,
 * damaged): booting instead may help, unlike other errors (a port in use, say). */
int vmm_spawn(struct instance *in, pid_t *pid_out, sm_error_t *err);

/* In a detached run's monitor (run_monitor.c), which is supermachine-vmm itself:
 * vmm_spawn forks and calls vmm_main(argc, argv) in the child rather than loading the same
 * program a second time. Only for a process with one thread (a fork copies the caller). */
void vmm_spawn_in_process(int (*vmm_main)(int argc, char **argv));

/* Where supermachine-vmm, sm-init and supermachine-io.so are: $SUPERMACHINE_VMM /
 * $SUPERMACHINE_INIT / $SUPERMACHINE_IO, else next to this library or the running program
 * (build tree), else the installed libexec directory. */
char *runtime_find_helper(const char *name, sm_error_t *err);

#endif
