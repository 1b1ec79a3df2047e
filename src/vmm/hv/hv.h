/* The hypervisor backend: the small surface the VMM needs from KVM (today) or another
 * hypervisor (Hypervisor.framework, WHP later). Devices never see it; they only see the
 * VM's memory and an interrupt-line callback.
 *
 * Architecture-specific vCPU state is exchanged as `struct hv_x86_state` (x86_64) so that
 * snapshots are taken through the same interface whatever the backend. */
#ifndef SM_HV_H
#define SM_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct hv_vm;
struct hv_vcpu;

enum hv_exit_kind {
    HV_EXIT_IO,          /* port I/O: data points into the backend's buffer, count >= 1 */
    HV_EXIT_MMIO,        /* memory-mapped I/O outside RAM */
    HV_EXIT_HLT,         /* HLT with no in-kernel LAPIC (should not happen with irqchip) */
    HV_EXIT_SHUTDOWN,    /* triple fault */
    HV_EXIT_RESET,       /* the guest asked for a reset through the hypervisor */
    HV_EXIT_POWEROFF,    /* the guest asked for power off through the hypervisor */
    HV_EXIT_CRASH,       /* the hypervisor reports a guest crash */
    HV_EXIT_INTERRUPTED, /* kicked out of the run loop (signal or immediate_exit) */
    HV_EXIT_FAIL,        /* the hypervisor could not run the vCPU: reason in `detail` */
};

struct hv_exit {
    enum hv_exit_kind kind;
    union {
        struct {
            uint16_t port;
            uint8_t size; /* 1, 2 or 4 */
            bool is_write;
            uint32_t count; /* > 1 for rep ins/outs */
            uint8_t *data;  /* size * count bytes, inside the backend's run area */
        } io;
        struct {
            uint64_t addr;
            uint32_t len; /* 1..8 */
            bool is_write;
            uint8_t *data;
        } mmio;
    };
    uint64_t detail; /* backend-specific reason code for HV_EXIT_FAIL */
};

/* What the backend can do beyond the basics (for snapshots and clock fix-ups). */
struct hv_caps {
    bool tsc_control;   /* can set a vCPU's TSC frequency */
    bool kvmclock_ctrl; /* can tell the guest its clock was paused */
    bool immediate_exit;
};

int hv_vm_create(struct hv_vm **out, sm_error_t *err);
void hv_vm_destroy(struct hv_vm *vm);
const struct hv_caps *hv_vm_caps(struct hv_vm *vm);
/* Maps host memory into the guest's physical address space. */
int hv_vm_map_memory(struct hv_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *host,
                     sm_error_t *err);
/* The platform's interrupt controllers and timers in the hypervisor (x86: PIC, IOAPIC, PIT). */
int hv_vm_create_irqchip(struct hv_vm *vm, sm_error_t *err);
/* Drives a GSI's line. Edge-triggered devices call it with 1 then 0. */
int hv_vm_irq_line(struct hv_vm *vm, uint32_t gsi, bool level, sm_error_t *err);
/* An eventfd whose write raises the GSI (KVM irqfd), so devices can interrupt the guest
 * from any thread without a system call into the VMM's locks. */
int hv_vm_irqfd(struct hv_vm *vm, uint32_t gsi, int eventfd, sm_error_t *err);
/* An eventfd the hypervisor signals when the guest writes `len` bytes at an MMIO address
 * (KVM ioeventfd): virtqueue notifications without a vCPU exit to userspace. */
int hv_vm_ioeventfd(struct hv_vm *vm, uint64_t addr, uint32_t len, int eventfd, sm_error_t *err);

int hv_vcpu_create(struct hv_vm *vm, unsigned index, struct hv_vcpu **out, sm_error_t *err);
void hv_vcpu_destroy(struct hv_vcpu *vcpu);
/* Enters the guest until the next exit that needs userspace. */
int hv_vcpu_run(struct hv_vcpu *vcpu, struct hv_exit *exit, sm_error_t *err);
/* Makes the next (or the current) hv_vcpu_run return HV_EXIT_INTERRUPTED as soon as
 * possible; safe to call from a signal handler on the vCPU's own thread. After an IO or
 * MMIO exit, a run with the kick pending completes that instruction without running more
 * guest code, which is what the pause protocol needs for a consistent state. */
void hv_vcpu_set_kick(struct hv_vcpu *vcpu, bool pending);

#if defined(__x86_64__)
#include "vmm/hv/hv_x86.h"
#endif

#endif
