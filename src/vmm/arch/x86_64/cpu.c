#include "vmm/arch/x86_64/cpu.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vmm/hv/hv.h"

#define CPUID_1_ECX_HYPERVISOR       (1u << 31)
#define CPUID_1_EDX_HTT              (1u << 28)
#define CPUID_80000001_ECX_CMPLEGACY (1u << 1)
#define CPUID_80000001_ECX_TOPOEXT   (1u << 22)
#define CPUID_80000007_EDX_INVTSC    (1u << 8)

struct kvm_cpuid_entry2 *x86_cpuid_find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index)
{
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function != function)
            continue;
        if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index)
            continue;
        return e;
    }
    return NULL;
}

static unsigned bits_for(unsigned n)
{
    unsigned b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

struct kvm_cpuid2 *x86_cpuid_for_vcpu(const struct kvm_cpuid2 *supported, unsigned index,
                                      unsigned ncpus)
{
    size_t bytes = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
    struct kvm_cpuid2 *c = xmalloc(bytes);
    memcpy(c, supported, bytes);
    uint32_t out = 0;
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 e = c->entries[i];
        switch (e.function) {
        case 0x1:
            /* EBX: initial APIC id [31:24], logical processors per package [23:16]. */
            e.ebx = (e.ebx & 0x0000ffffu) | (index << 24) | ((ncpus & 0xff) << 16);
            e.ecx |= CPUID_1_ECX_HYPERVISOR;
            if (ncpus > 1)
                e.edx |= CPUID_1_EDX_HTT;
            else
                e.edx &= ~CPUID_1_EDX_HTT;
            break;
        case 0x4:
            /* Intel cache topology: all vCPUs are cores of one package, one thread each;
             * the last level (L3) is shared by all of them. */
            if ((e.eax & 0x1f) != 0) {
                unsigned level = (e.eax >> 5) & 0x7;
                unsigned sharing = level >= 3 ? ncpus - 1 : 0;
                e.eax =
                    (e.eax & 0x3ffu) | ((sharing & 0xfffu) << 14) | (((ncpus - 1) & 0x3fu) << 26);
            }
            break;
        case 0xa:
            /* No virtual PMU: nothing for the guest to program, nothing to snapshot. */
            e.eax = e.ebx = e.ecx = e.edx = 0;
            break;
        case 0xb:
        case 0x1f:
            /* x2APIC topology: level 0 = SMT (one thread per core), level 1 = core. */
            e.edx = index;
            if (e.index == 0) {
                e.eax = 0;
                e.ebx = 1;
                e.ecx = (1u << 8) | 0;
            } else if (e.index == 1) {
                e.eax = bits_for(ncpus);
                e.ebx = ncpus;
                e.ecx = (2u << 8) | 1;
            } else {
                e.eax = e.ebx = 0;
                e.ecx = e.index;
            }
            break;
        case 0x80000001:
            e.ecx &= ~(CPUID_80000001_ECX_CMPLEGACY | CPUID_80000001_ECX_TOPOEXT);
            break;
        case 0x80000007:
            /* Hide the invariant TSC so Linux keeps kvm-clock as its clocksource. */
            e.edx &= ~CPUID_80000007_EDX_INVTSC;
            break;
        case 0x80000008:
            /* AMD: number of cores - 1, legacy APIC id sizing. */
            e.ecx = (e.ecx & ~0xf0ffu) | ((ncpus - 1) & 0xffu);
            break;
        case 0x8000001e:
            /* Extended APIC id / compute units: hidden with TOPOEXT. */
            continue;
        default:
            break;
        }
        c->entries[out++] = e;
    }
    c->nent = out;
    return c;
}

/* MSRs a freshly booted vCPU starts with, as a real CPU after reset plus fast strings
 * and write-back MTRR defaults (Linux would otherwise map everything uncached). */
static const struct kvm_msr_entry boot_msrs[] = {
    {.index = 0x174},                         /* IA32_SYSENTER_CS */
    {.index = 0x175},                         /* IA32_SYSENTER_ESP */
    {.index = 0x176},                         /* IA32_SYSENTER_EIP */
    {.index = 0xc0000081},                    /* STAR */
    {.index = 0xc0000082},                    /* LSTAR */
    {.index = 0xc0000083},                    /* CSTAR */
    {.index = 0xc0000084},                    /* SYSCALL_MASK */
    {.index = 0xc0000102},                    /* KERNEL_GS_BASE */
    {.index = 0x10},                          /* IA32_TSC */
    {.index = 0x1a0, .data = 1},              /* IA32_MISC_ENABLE: fast strings */
    {.index = 0x2ff, .data = (1u << 11) | 6}, /* MTRRdefType: enabled, write-back */
};

#define APIC_LVT0        0x350
#define APIC_LVT1        0x360
#define APIC_MODE_NMI    0x4
#define APIC_MODE_EXTINT 0x7

static uint32_t lapic_reg(const struct kvm_lapic_state *l, unsigned off)
{
    uint32_t v;
    memcpy(&v, l->regs + off, 4);
    return v;
}

static void lapic_set_reg(struct kvm_lapic_state *l, unsigned off, uint32_t v)
{
    memcpy(l->regs + off, &v, 4);
}

int x86_vcpu_init(struct hv_vcpu *vcpu, const struct kvm_cpuid2 *supported, unsigned index,
                  unsigned ncpus, sm_error_t *err)
{
    cleanup_free struct kvm_cpuid2 *cpuid = x86_cpuid_for_vcpu(supported, index, ncpus);
    if (hv_x86_set_cpuid(vcpu, cpuid, err) < 0)
        return -1;
    if (hv_x86_set_msrs(vcpu, boot_msrs, SM_ARRAY_SIZE(boot_msrs), err) < 0)
        return -1;
    /* LINT0 receives the 8259's ExtINT, LINT1 is the NMI line, as on a PC. */
    struct kvm_lapic_state lapic;
    if (hv_x86_get_lapic(vcpu, &lapic, err) < 0)
        return -1;
    uint32_t lvt0 = lapic_reg(&lapic, APIC_LVT0);
    uint32_t lvt1 = lapic_reg(&lapic, APIC_LVT1);
    lapic_set_reg(&lapic, APIC_LVT0, (lvt0 & ~0x700u) | (APIC_MODE_EXTINT << 8));
    lapic_set_reg(&lapic, APIC_LVT1, (lvt1 & ~0x700u) | (APIC_MODE_NMI << 8));
    return hv_x86_set_lapic(vcpu, &lapic, err);
}
