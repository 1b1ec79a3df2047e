/* A VM: guest memory, vCPU threads, the platform devices, and the loop that carries the
 * console. One VM per VMM process. */
#ifndef SM_VMM_VM_H
#define SM_VMM_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

struct virtio_net_backend;

#define VM_MAX_CPUS       64
#define VM_MIN_MEMORY_MIB 32
#define VM_MAX_MEMORY_MIB (1024 * 1024)

struct vm_config {
    const char *kernel_path;
    const char *initrd_path; /* NULL: none */
    const char *cmdline;     /* appended to the VMM's own console/platform options */
    unsigned ncpus;
    uint64_t memory_mib;
    int console_in_fd;      /* -1: no input */
    int console_out_fd;     /* -1: discard */
    uint64_t console_limit; /* a regular O_APPEND file never grows past this (0: no cap) */
    bool console_raw;       /* console_in_fd is a terminal put in raw mode: Ctrl-A x quits */
    int stop_fd;            /* -1, or a descriptor that becomes readable to stop the VM */
    int owner_pidfd;        /* -1, or a pidfd: the VM stops as through stop_fd once that
                             * process has ended */
    const char *disk_path;  /* NULL, or a disk image the guest sees as a virtio-blk disk */
    bool disk_writable;
    /* NULL, or the host Unix socket of a virtio-vsock device (docs/vsock.md): created
     * here, removed at the end; on restore too, at the path given then. */
    const char *vsock_uds;
    uint64_t vsock_cid; /* the guest's CID; 0: 3 (a restore keeps the snapshot's) */
    /* NULL, or the backend of a virtio-net device (devices/virtio_devices.h): the device
     * is added after the others and handed to the backend, whose own thread drives it.
     * That thread must stop before vm_destroy. A restore needs it iff the snapshot has
     * the device. */
    const struct virtio_net_backend *net;
    /* Snapshot on a trigger: when this text appears on the console, pause, save the
     * snapshot into snapshot_dir and stop (VM_EXIT_SNAPSHOT). */
    const char *snapshot_dir;
    const char *snapshot_on_console;
    /* After saving, resume the guest instead of stopping: the first run of an image
     * bakes its snapshot without paying for a restore. */
    bool snapshot_continue;
    /* Host clients' vsock connections wait until that snapshot is taken: the guest's
     * agent listens before the trigger (sm-init's ready line), and a connection in the
     * snapshot would be reset in every clone. Off for a guest the user may need to reach
     * before its trigger (`boot --snapshot`). */
    bool snapshot_holds_vsock;
    /* A second trigger, later in the guest's life, for the workload-ready snapshot (the
     * main process frozen once ready, docs/snapshot-workload.md): saved into its own
     * directory, and the guest always runs on. Works on a restored VM too. */
    const char *workload_snapshot_dir;
    const char *workload_snapshot_on_console;
    /* Restore only a snapshot saved under the name of the directory it is restored from:
     * one renamed from another directory is refused. For a store whose VMMs may rename
     * directories beside the ones they save (landlock allows no narrower right for the
     * rename that makes DIR.tmp-PID DIR), so that none can pass off one snapshot as
     * another. */
    bool snapshot_name_checked;
    /* NULL, or run first thing on each vCPU thread and on the device loop's thread: the
     * VMM process confines each thread to its role there (src/confine). */
    void (*on_vcpu_thread)(void);
    void (*on_devices_thread)(void);
    /* NULL, or run on vm_run's own thread once the vCPU and device threads run, before
     * its console loop: the main thread is confined there, after starting them (a thread
     * inherits its creator's filters, so narrowing first would narrow them too). */
    void (*on_main_loop)(void);
    /* NULL, or where the VM serves control requests (a Unix socket, made here;
     * vm_control.c): "reset" (a restored VM starts over from its snapshot), "pause",
     * "resume"; each answered "ok" or "error MESSAGE". Served on vm_run's thread between
     * console turns. */
    const char *control_path;
    /* NULL, or called during each such reset while the guest is paused and its devices
     * frozen, after their state went back: the network backend starts over. An error
     * ends the VM. */
    int (*on_reset)(void *opaque, sm_error_t *err);
    void *reset_opaque;
    /* A VM restored from a snapshot gives back, when its devices go quiet, the pages it
     * wrote back to the snapshot's bytes (memory_trim.h, vm_trim.c). It needs
     * /proc/self/pagemap, which a confined process can no longer open: trim_pagemap_fd
     * is that file, opened before (the VM keeps a duplicate; the caller may close its
     * own). Without `trim`, pages stay the VM's once written. */
    bool trim;
    int trim_pagemap_fd;
};

enum vm_exit_reason {
    VM_EXIT_NONE,
    VM_EXIT_POWEROFF,
    VM_EXIT_REBOOT,
    VM_EXIT_PANIC, /* guest kernel panic (pvpanic or the console's panic line) */
    VM_EXIT_TRIPLE_FAULT,
    VM_EXIT_USER,     /* the user quit from the console (Ctrl-A x) */
    VM_EXIT_SNAPSHOT, /* a snapshot was saved as asked; the VM is gone */
    VM_EXIT_ERROR,    /* the VMM failed; see the message */
};

struct vm_result {
    enum vm_exit_reason reason;
    char message[512]; /* e.g. the panic's line */
};

struct vm;

/* Validates the configuration (bad values give errors naming them), creates the VM,
 * loads the kernel and sets up every vCPU. */
int vm_create(const struct vm_config *cfg, struct vm **out, sm_error_t *err);
/* Restores a VM from a snapshot directory. cfg gives the console, the vsock socket path
 * (vsock_uds: required iff the snapshot has a vsock device; the guest CID is the
 * snapshot's) and, when set, kernel_path/initrd_path to check the snapshot was made from
 * them; its ncpus and memory are ignored (the snapshot's own are used). */
int vm_create_from_snapshot(const struct vm_config *cfg, const char *dir, struct vm **out,
                            sm_error_t *err);
/* Saves a paused VM into dir (created; must not exist): metadata + sparse memory file,
 * written under a temporary name and renamed into place. */
int vm_snapshot_save(struct vm *vm, const char *dir, sm_error_t *err);
/* Starts the vCPUs and runs the console loop until the guest stops; fills *result.
 * Returns -1 only if the VMM itself could not run the guest. */
int vm_run(struct vm *vm, struct vm_result *result, sm_error_t *err);
/* Asks a running VM to stop (thread-safe, async-signal-safe). */
void vm_request_stop(struct vm *vm);
/* Pause protocol: every vCPU leaves KVM_RUN with its current instruction complete and
 * waits; vm_resume lets them go on. Used for snapshots. */
int vm_pause(struct vm *vm, sm_error_t *err);
void vm_resume(struct vm *vm);
/* Puts a VM restored from a snapshot back as the snapshot left it, in place: guest RAM
 * drops every page the guest wrote (MADV_DONTNEED on the file's private mapping, which
 * reverts to the file) and vCPU, interrupt controller, clock and device state are
 * loaded again; vsock connections and the network's flows end; a new VM generation ID.
 * On vm_run's thread (vm_control.c). A failure part-way ends the VM (VM_EXIT_ERROR):
 * its state would be neither the old nor the snapshot's. */
int vm_reset_to_snapshot(struct vm *vm, sm_error_t *err);
void vm_destroy(struct vm *vm);
/* Where a snapshot for dir is written before it is renamed to dir (a new string): this
 * process's own staging directory beside it. It may exist beforehand, empty (made before
 * the process was confined); vm_snapshot_save uses it then. */
char *vm_snapshot_staging_dir(const char *dir);
/* Its vCPUs and guest memory (a restored VM's are its snapshot's). */
void vm_size(const struct vm *vm, unsigned *ncpus, uint64_t *memory_bytes);

const char *vm_exit_reason_name(enum vm_exit_reason r);

#endif
