/* x86_64 vCPU state as exchanged with the backend. It reuses KVM's UAPI structs as the
 * plain data format (they are stable ABI and cover everything a snapshot needs); another
 * backend translates to and from them. */
#ifndef SM_HV_X86_H
#define SM_HV_X86_H

#include <linux/kvm.h>

#include "common/error.h"

struct hv_vm;
struct hv_vcpu;

/* Supported CPUID entries of the host (what a guest may be offered). */
int hv_x86_supported_cpuid(struct hv_vm *vm, struct kvm_cpuid2 **out, sm_error_t *err);
int hv_x86_set_cpuid(struct hv_vcpu *vcpu, const struct kvm_cpuid2 *cpuid, sm_error_t *err);

int hv_x86_get_regs(struct hv_vcpu *vcpu, struct kvm_regs *regs, sm_error_t *err);
int hv_x86_set_regs(struct hv_vcpu *vcpu, const struct kvm_regs *regs, sm_error_t *err);
int hv_x86_get_sregs(struct hv_vcpu *vcpu, struct kvm_sregs *sregs, sm_error_t *err);
int hv_x86_set_sregs(struct hv_vcpu *vcpu, const struct kvm_sregs *sregs, sm_error_t *err);
int hv_x86_set_fpu(struct hv_vcpu *vcpu, const struct kvm_fpu *fpu, sm_error_t *err);
int hv_x86_get_lapic(struct hv_vcpu *vcpu, struct kvm_lapic_state *lapic, sm_error_t *err);
int hv_x86_set_lapic(struct hv_vcpu *vcpu, const struct kvm_lapic_state *lapic, sm_error_t *err);
/* Sets MSRs; a short count (some MSR refused) is an error naming the first refused one. */
int hv_x86_set_msrs(struct hv_vcpu *vcpu, const struct kvm_msr_entry *entries, uint32_t n,
                    sm_error_t *err);
int hv_x86_get_msrs(struct hv_vcpu *vcpu, struct kvm_msr_entry *entries, uint32_t n,
                    sm_error_t *err);

/* ---- everything a snapshot needs ---------------------------------------- */

int hv_x86_get_fpu(struct hv_vcpu *vcpu, struct kvm_fpu *fpu, sm_error_t *err);
int hv_x86_get_xsave(struct hv_vcpu *vcpu, struct kvm_xsave *xsave, sm_error_t *err);
int hv_x86_set_xsave(struct hv_vcpu *vcpu, const struct kvm_xsave *xsave, sm_error_t *err);
int hv_x86_get_xcrs(struct hv_vcpu *vcpu, struct kvm_xcrs *xcrs, sm_error_t *err);
int hv_x86_set_xcrs(struct hv_vcpu *vcpu, const struct kvm_xcrs *xcrs, sm_error_t *err);
int hv_x86_get_events(struct hv_vcpu *vcpu, struct kvm_vcpu_events *ev, sm_error_t *err);
int hv_x86_set_events(struct hv_vcpu *vcpu, const struct kvm_vcpu_events *ev, sm_error_t *err);
int hv_x86_get_mp_state(struct hv_vcpu *vcpu, struct kvm_mp_state *mp, sm_error_t *err);
int hv_x86_set_mp_state(struct hv_vcpu *vcpu, const struct kvm_mp_state *mp, sm_error_t *err);
int hv_x86_get_debugregs(struct hv_vcpu *vcpu, struct kvm_debugregs *dr, sm_error_t *err);
int hv_x86_set_debugregs(struct hv_vcpu *vcpu, const struct kvm_debugregs *dr, sm_error_t *err);
/* TSC frequency of a vCPU in kHz; setting it fails where the host cannot scale. */
int hv_x86_get_tsc_khz(struct hv_vcpu *vcpu, uint32_t *khz, sm_error_t *err);
int hv_x86_set_tsc_khz(struct hv_vcpu *vcpu, uint32_t khz, sm_error_t *err);
/* Tells the guest's kvmclock that the vCPU was stopped (no soft-lockup warnings). */
int hv_x86_kvmclock_ctrl(struct hv_vcpu *vcpu, sm_error_t *err);

/* The MSRs this vCPU can save and restore: the hypervisor's list, less those this vCPU
 * refuses (features its CPUID does not offer). Sorted; malloc'd. */
int hv_x86_saveable_msrs(struct hv_vcpu *vcpu, uint32_t **indices, uint32_t *n, sm_error_t *err);

/* VM-wide: the PIC pair and the IOAPIC, the PIT, and the kvmclock. */
#define HV_X86_IRQCHIPS 3 /* KVM_IRQCHIP_PIC_MASTER, _PIC_SLAVE, _IOAPIC */
int hv_x86_get_irqchip(struct hv_vm *vm, struct kvm_irqchip chips[HV_X86_IRQCHIPS],
                       sm_error_t *err);
int hv_x86_set_irqchip(struct hv_vm *vm, const struct kvm_irqchip chips[HV_X86_IRQCHIPS],
                       sm_error_t *err);
int hv_x86_get_pit(struct hv_vm *vm, struct kvm_pit_state2 *pit, sm_error_t *err);
int hv_x86_set_pit(struct hv_vm *vm, const struct kvm_pit_state2 *pit, sm_error_t *err);
int hv_x86_get_clock(struct hv_vm *vm, struct kvm_clock_data *clock, sm_error_t *err);
int hv_x86_set_clock(struct hv_vm *vm, const struct kvm_clock_data *clock, sm_error_t *err);

/* What a snapshot must match to be restored here: the CPUID the guest is offered (pass
 * the normalized table: the host's raw one carries the APIC id of whichever CPU ran the
 * query), the MSR list and hypervisor capabilities, hashed (64 hex chars + NUL). */
int hv_x86_host_fingerprint(struct hv_vm *vm, const struct kvm_cpuid2 *guest_cpuid, char out[65],
                            sm_error_t *err);

#endif
