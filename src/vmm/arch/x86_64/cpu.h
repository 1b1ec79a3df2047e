/* Per-vCPU x86 setup: the CPUID a vCPU is offered, boot MSRs and LAPIC LINT pins. */
#ifndef SM_X86_CPU_H
#define SM_X86_CPU_H

#include <linux/kvm.h>

#include "common/error.h"

struct hv_vcpu;

/* Builds the CPUID table for vCPU `index` of `ncpus` from what the host supports: APIC
 * ids and topology, the hypervisor bit, no invariant TSC (kvm-clock stays the guest's
 * clocksource, so a restored guest's clock can be corrected), no PMU, no TOPOEXT.
 * Pure function (unit-tested); returns a malloc'd table. */
struct kvm_cpuid2 *x86_cpuid_for_vcpu(const struct kvm_cpuid2 *supported, unsigned index,
                                      unsigned ncpus);

/* Looks up a leaf/subleaf in a table (NULL if absent). */
struct kvm_cpuid_entry2 *x86_cpuid_find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index);

/* CPUID, boot MSRs and LAPIC LINT0/LINT1 (ExtINT/NMI) for one vCPU. */
int x86_vcpu_init(struct hv_vcpu *vcpu, const struct kvm_cpuid2 *supported, unsigned index,
                  unsigned ncpus, sm_error_t *err);

#endif
