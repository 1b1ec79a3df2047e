/* Confinement of a VMM process (docs/security.md): the process it runs in is the security
 * boundary between a hostile guest and the host, so before it runs a guest it gives up
 * what it does not need: no new privileges, no capabilities, no core dumps, bounded
 * descriptors, landlock around its files, a cgroup of its own where the host delegates
 * one, and a seccomp filter per thread role that allows only the system calls that role
 * makes. Anything else ends the process with a line in its log naming the call.
 *
 * Filters stack: confine_process() installs the union of every role's calls for the whole
 * process (inherited by every thread made later), and each thread narrows it to its own
 * role with confine_thread() as it starts.
 *
 * Linked into supermachine-vmm only (libcap-ng loads there, not in the library's other
 * users; the filters are compiled at build time: confine_seccomp_rules.h).
 * $SUPERMACHINE_SECCOMP=off skips the filters (debugging only). */
#ifndef SM_CONFINE_H
#define SM_CONFINE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

enum confine_role {
    CONFINE_MAIN,    /* the VMM's main thread: console loop, snapshots, state files */
    CONFINE_VCPU,    /* a vCPU: KVM_RUN and the exits it handles */
    CONFINE_DEVICES, /* the device loop: block I/O, vsock's Unix sockets, entropy */
    CONFINE_NET,     /* the user-mode network: host sockets, published ports */
};

/* The VM cgroup's name: this prefix and the VM's id (12 characters). `rm` removes the
 * cgroup the VMM recorded only if its name has this prefix (runtime/instance.c). */
#define CONFINE_CGROUP_PREFIX "supermachine-"

/* What the VMM may reach, known before it runs a guest (paths from its vmm.json). */
struct confine_config {
    /* Read only: files, or directories and all beneath (the kernel, initramfs, disk
     * image, the snapshot to restore). NULL entries are skipped. */
    const char *read[6];
    /* Read, written, created in and removed from: directories (the VM's instance
     * directory, the directory snapshots are saved in). */
    const char *write[3];
    /* Directories in which empty directories may be made, renamed and removed, and
     * nothing else (where a snapshot's staging directory DIR.tmp-PID becomes DIR; the
     * snapshot's name recorded inside it keeps a renamed one from passing for another,
     * vm_config.snapshot_name_checked). */
    const char *rename_in[2];
    const char *vm_id;         /* names the VM's cgroup (NULL: no cgroup) */
    bool saves_snapshot;       /* its memory file is charged to the VM's cgroup too */
    const char *cgroup_record; /* the VM cgroup's path is written here (NULL: nowhere) */
};

/* No new privileges, every capability dropped, no core dumps, at most
 * CONFINE_MAX_FILES descriptors, then (cfg not NULL) the VM's cgroup and landlock, and
 * the process-wide filter. Call once, before any thread is created; what it opens later
 * must be in cfg. */
int confine_process(const struct confine_config *cfg, sm_error_t *err);
/* The VM's size once known (a restored VM's comes from its snapshot): its cgroup's
 * memory.max (memory_bytes and the VMM's overhead, and memory_bytes again for a VM that
 * saves a snapshot), cpu.max (cpus CPUs' worth) and pids.max. Does nothing without a
 * cgroup. */
void confine_vm_size(unsigned cpus, uint64_t memory_bytes);
/* The descriptor limit (soft and hard): the network's 2048 host sockets, vsock's 1024
 * connections, 64 published ports, and the VMM's own files with room. */
#define CONFINE_MAX_FILES 4096
/* Narrows the calling thread to role. On failure the process ends (a thread that could
 * not be confined must not run guest-facing code). */
void confine_thread(enum confine_role role);

#endif
