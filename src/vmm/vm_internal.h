/* The VM's insides, shared by vm.c (lifecycle, vCPU threads, console loop) and
 * vm_snapshot.c (save and restore). Not for other modules. */
#ifndef SM_VMM_VM_INTERNAL_H
#define SM_VMM_VM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "vmm/arch/x86_64/layout.h"
#include "vmm/bus.h"
#include "vmm/console.h"
#include "vmm/devices/platform.h"
#include "vmm/devices/serial.h"
#include "vmm/devices/virtio_devices.h"
#include "vmm/hv/hv.h"
#include "vmm/ioloop.h"
#include "vmm/memory.h"
#include "vmm/memory_trim.h"
#include "vmm/snapshot.h"
#include "vmm/virtio/mmio.h"
#include "vmm/vm.h"

enum vm_state { VM_CREATED, VM_RUNNING, VM_STOPPING };

struct vcpu {
    struct vm *vm;
    struct hv_vcpu *hv;
    unsigned index;
    pthread_t thread;
    bool started;
    bool io_incomplete; /* the last exit was IO/MMIO: KVM_RUN must complete it */
};

struct vm {
    struct vm_config cfg;
    struct hv_vm *hv;
    struct vm_memory mem;
    struct vcpu vcpus[VM_MAX_CPUS];
    unsigned ncpus;
    struct bus pio, mmio;
    struct serial serial;
    struct console console;
    struct platform platform;
    struct ioloop io;
    struct virtio_mmio virtio[X86_VIRTIO_MMIO_MAX];
    unsigned nvirtio;
    struct virtio_blk *disk;
    struct virtio_vsock *vsock;
    struct virtio_net *net;
    int wake_fd;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    enum vm_state state;
    bool pause_requested;
    unsigned paused;
    /* Paused by "pause" on the control socket: the vCPUs stay parked until "resume",
     * whatever else (a snapshot, a trim) pauses and resumes them meanwhile. */
    bool user_paused;
    struct vm_result result;
    /* A console trigger fired: the loop saves that snapshot. */
#define SNAPSHOT_REQ_INIT     1u /* cfg.snapshot_dir */
#define SNAPSHOT_REQ_WORKLOAD 2u /* cfg.workload_snapshot_dir */
    unsigned snapshot_requested;
    char kernel_sha256[65];
    char initrd_sha256[65];
    /* A restored VM's snapshot metadata, kept for resets (small: no memory). */
    char *snap_meta;
    struct snap_section *snap_secs;
    uint32_t snap_nsecs;
    int control_fd; /* cfg.control_path's listening socket, or -1 */
    /* Giving back pages written back to the snapshot's bytes (vm_trim.c). */
    struct memory_trim trim;
    uint64_t trim_seen;        /* the device loop's handler count at the last look */
    uint64_t trim_active_ns;   /* when it last changed */
    uint64_t trim_last_ns;     /* the last trim (or the restore) */
    uint64_t trim_interval_ns; /* the least time until the next */
    bool trim_pending;         /* activity since then */
};

/* Creates the hypervisor VM, maps memory, creates the irqchip and the vCPUs with their
 * CPUID (shared by cold boot and restore). */
int vm_setup_hypervisor(struct vm *vm, sm_error_t *err);
/* Allocates a VM and its host-side devices (no hypervisor yet). */
struct vm *vm_alloc(const struct vm_config *cfg, sm_error_t *err);
/* Adds a virtio-mmio device (before the hypervisor is set up): the next free window and
 * GSI, described in ACPI. */
int vm_add_virtio(struct vm *vm, const struct virtio_ops *ops, void *dev, sm_error_t *err);
int vm_add_devices(struct vm *vm, sm_error_t *err);
/* The control socket (vm_control.c): made once the VM is created or restored; served by
 * vm_run's loop when it is readable. */
int vm_control_listen(struct vm *vm, sm_error_t *err);
void vm_control_serve(struct vm *vm);
/* Keeps the vsock and network devices off guest memory (frozen) or lets them go on. */
void vm_freeze_devices(struct vm *vm, bool frozen);
/* Stops everything that writes guest memory or device state: the vCPUs paused, the
 * device thread parked between two requests, vsock and the network frozen. Not from the
 * device thread. vm_quiesce_end lets the devices go on; the vCPUs go on at vm_resume. */
int vm_quiesce(struct vm *vm, sm_error_t *err);
void vm_quiesce_end(struct vm *vm);
/* Trimming (vm_trim.c): armed at a restore and a reset, checked on each loop turn. The
 * tick answers how many milliseconds the loop may sleep before it wants the next one
 * (-1: none, trimming is off). */
void vm_trim_start(struct vm *vm);
int vm_trim_tick(struct vm *vm);
void vm_finish(struct vm *vm, enum vm_exit_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
