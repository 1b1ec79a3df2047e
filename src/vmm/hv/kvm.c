/* KVM backend of the hypervisor interface (vmm/hv/hv.h). */
#include <errno.h>
#include <fcntl.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"
#include "vmm/hv/hv.h"

/* Firecracker and kvmtool put the TSS and the identity map (needed by Intel's unrestricted
 * guest support) just below the 4 GiB boundary, out of the way of RAM and MMIO. */
#define KVM_TSS_ADDR          0xfffbd000ull
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ull

struct hv_vm {
    int kvm_fd;
    int vm_fd;
    int run_size;
    struct hv_caps caps;
};

struct hv_vcpu {
    struct hv_vm *vm;
    int fd;
    unsigned index;
    struct kvm_run *run;
};

static int kvm_check_ext(struct hv_vm *vm, long ext)
{
    int r = ioctl(vm->vm_fd >= 0 ? vm->vm_fd : vm->kvm_fd, KVM_CHECK_EXTENSION, ext);
    return r < 0 ? 0 : r;
}

/* A /dev/kvm without VMX or SVM under it is a software one: PVM (a nested cloud host's
 * "pagetable-based" KVM) runs an unmodified kernel only by emulating it, so slowly that
 * Debian's kernel does not finish decompressing in minutes, and the run would look hung.
 * CPUID is asked directly: it needs no file, and the VMM is confined by then. A
 * kernel made for such a host (`boot --kernel`) may still be run by setting
 * SUPERMACHINE_ALLOW_SOFTWARE_KVM=1. */
static bool kvm_host_has_hardware_virtualization(void)
{
#if defined(__x86_64__)
    unsigned eax, ebx, ecx, edx;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 5))) /* VMX */
        return true;
    if (__get_cpuid(0x80000001, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 2))) /* SVM */
        return true;
    return false;
#else
    return true;
#endif
}

int hv_vm_create(struct hv_vm **out, sm_error_t *err)
{
    if (!kvm_host_has_hardware_virtualization() && !getenv("SUPERMACHINE_ALLOW_SOFTWARE_KVM"))
        return sm_error_set(err, 0,
                            "/dev/kvm: this host's CPU has no hardware virtualization (neither "
                            "VMX nor SVM), so its KVM (a paravirtual one such as PVM) cannot run "
                            "an unmodified guest kernel");

    struct hv_vm *vm = xcalloc(1, sizeof(*vm));
    vm->vm_fd = -1;
    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0) {
        int e = errno;
        free(vm);
        return sm_error_set(err, e, "open /dev/kvm");
    }
    int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        hv_vm_destroy(vm);
        return sm_error_set(err, 0, "/dev/kvm: unsupported KVM API version %d", api);
    }
    static const struct {
        long ext;
        const char *name;
    } required[] = {
        {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
        {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
        {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
        {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
        {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
        {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
        {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
        {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    };
    for (size_t i = 0; i < SM_ARRAY_SIZE(required); i++) {
        if (!kvm_check_ext(vm, required[i].ext)) {
            hv_vm_destroy(vm);
            return sm_error_set(err, 0, "/dev/kvm: missing %s", required[i].name);
        }
    }
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        int e = errno;
        hv_vm_destroy(vm);
        return sm_error_set(err, e, "KVM_CREATE_VM");
    }
    fcntl(vm->vm_fd, F_SETFD, FD_CLOEXEC);
    vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vm->run_size < (int)sizeof(struct kvm_run)) {
        hv_vm_destroy(vm);
        return sm_error_set(err, errno, "KVM_GET_VCPU_MMAP_SIZE");
    }
    vm->caps.tsc_control = kvm_check_ext(vm, KVM_CAP_TSC_CONTROL) > 0;
    vm->caps.kvmclock_ctrl = kvm_check_ext(vm, KVM_CAP_KVMCLOCK_CTRL) > 0;
    vm->caps.immediate_exit = true;
    *out = vm;
    return 0;
}

void hv_vm_destroy(struct hv_vm *vm)
{
    if (vm == NULL)
        return;
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    free(vm);
}

const struct hv_caps *hv_vm_caps(struct hv_vm *vm)
{
    return &vm->caps;
}

int hv_vm_map_memory(struct hv_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *host,
                     sm_error_t *err)
{
    struct kvm_userspace_memory_region region = {
        .slot = slot,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)host,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return sm_error_set(err, errno, "KVM_SET_USER_MEMORY_REGION slot %u at 0x%llx", slot,
                            (unsigned long long)gpa);
    return 0;
}

int hv_vm_create_irqchip(struct hv_vm *vm, sm_error_t *err)
{
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0)
        return sm_error_set(err, errno, "KVM_SET_TSS_ADDR");
    uint64_t identity = KVM_IDENTITY_MAP_ADDR;
    if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
        return sm_error_set(err, errno, "KVM_SET_IDENTITY_MAP_ADDR");
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        return sm_error_set(err, errno, "KVM_CREATE_IRQCHIP");
    /* The PIT is what Linux calibrates against early; the speaker port is a dummy. */
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
        return sm_error_set(err, errno, "KVM_CREATE_PIT2");
    return 0;
}

int hv_vm_irq_line(struct hv_vm *vm, uint32_t gsi, bool level, sm_error_t *err)
{
    struct kvm_irq_level irq = {.irq = gsi, .level = level ? 1 : 0};
    if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
        return sm_error_set(err, errno, "KVM_IRQ_LINE %u", gsi);
    return 0;
}

int hv_vm_irqfd(struct hv_vm *vm, uint32_t gsi, int eventfd, sm_error_t *err)
{
    struct kvm_irqfd irqfd = {.fd = (uint32_t)eventfd, .gsi = gsi};
    if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
        return sm_error_set(err, errno, "KVM_IRQFD gsi %u", gsi);
    return 0;
}

int hv_vm_ioeventfd(struct hv_vm *vm, uint64_t addr, uint32_t len, int eventfd, sm_error_t *err)
{
    struct kvm_ioeventfd io = {.addr = addr, .len = len, .fd = eventfd};
    if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
        return sm_error_set(err, errno, "KVM_IOEVENTFD at 0x%llx", (unsigned long long)addr);
    return 0;
}

int hv_vcpu_create(struct hv_vm *vm, unsigned index, struct hv_vcpu **out, sm_error_t *err)
{
    int fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
    if (fd < 0)
        return sm_error_set(err, errno, "KVM_CREATE_VCPU %u", index);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    void *run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (run == MAP_FAILED) {
        int e = errno;
        close(fd);
        return sm_error_set(err, e, "mmap vCPU %u run area", index);
    }
    struct hv_vcpu *vcpu = xcalloc(1, sizeof(*vcpu));
    vcpu->vm = vm;
    vcpu->fd = fd;
    vcpu->index = index;
    vcpu->run = run;
    *out = vcpu;
    return 0;
}

void hv_vcpu_destroy(struct hv_vcpu *vcpu)
{
    if (vcpu == NULL)
        return;
    munmap(vcpu->run, (size_t)vcpu->vm->run_size);
    close(vcpu->fd);
    free(vcpu);
}

void hv_vcpu_set_kick(struct hv_vcpu *vcpu, bool pending)
{
    __atomic_store_n(&vcpu->run->immediate_exit, pending ? 1 : 0, __ATOMIC_SEQ_CST);
}

int hv_vcpu_run(struct hv_vcpu *vcpu, struct hv_exit *exit, sm_error_t *err)
{
    struct kvm_run *run = vcpu->run;
    memset(exit, 0, sizeof(*exit));
    if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
        if (errno == EINTR || errno == EAGAIN) {
            exit->kind = HV_EXIT_INTERRUPTED;
            return 0;
        }
        return sm_error_set(err, errno, "KVM_RUN vCPU %u", vcpu->index);
    }
    switch (run->exit_reason) {
    case KVM_EXIT_IO: {
        /* The data offset and size come from the kernel, but check that they stay
         * inside the run area before anyone dereferences them. */
        uint64_t bytes = (uint64_t)run->io.size * run->io.count;
        if (run->io.data_offset >= (uint64_t)vcpu->vm->run_size ||
            bytes > (uint64_t)vcpu->vm->run_size - run->io.data_offset) {
            exit->kind = HV_EXIT_FAIL;
            exit->detail = KVM_EXIT_IO;
            return 0;
        }
        exit->kind = HV_EXIT_IO;
        exit->io.port = run->io.port;
        exit->io.size = run->io.size;
        exit->io.is_write = run->io.direction == KVM_EXIT_IO_OUT;
        exit->io.count = run->io.count;
        exit->io.data = (uint8_t *)run + run->io.data_offset;
        return 0;
    }
    case KVM_EXIT_MMIO:
        exit->kind = HV_EXIT_MMIO;
        exit->mmio.addr = run->mmio.phys_addr;
        exit->mmio.len = run->mmio.len > 8 ? 8 : run->mmio.len;
        exit->mmio.is_write = run->mmio.is_write;
        exit->mmio.data = run->mmio.data;
        return 0;
    case KVM_EXIT_HLT:
        exit->kind = HV_EXIT_HLT;
        return 0;
    case KVM_EXIT_SHUTDOWN:
        exit->kind = HV_EXIT_SHUTDOWN;
        return 0;
    case KVM_EXIT_INTR:
        exit->kind = HV_EXIT_INTERRUPTED;
        return 0;
    case KVM_EXIT_SYSTEM_EVENT:
        switch (run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
            exit->kind = HV_EXIT_POWEROFF;
            return 0;
        case KVM_SYSTEM_EVENT_RESET:
            exit->kind = HV_EXIT_RESET;
            return 0;
        case KVM_SYSTEM_EVENT_CRASH:
            exit->kind = HV_EXIT_CRASH;
            return 0;
        default:
            break;
        }
        exit->kind = HV_EXIT_FAIL;
        exit->detail = run->system_event.type;
        return 0;
    case KVM_EXIT_FAIL_ENTRY:
        exit->kind = HV_EXIT_FAIL;
        exit->detail = run->fail_entry.hardware_entry_failure_reason;
        return 0;
    case KVM_EXIT_INTERNAL_ERROR:
        exit->kind = HV_EXIT_FAIL;
        exit->detail = run->internal.suberror;
        return 0;
    default:
        exit->kind = HV_EXIT_FAIL;
        exit->detail = run->exit_reason;
        return 0;
    }
}

/* ---- x86 state ---------------------------------------------------------- */

int hv_x86_supported_cpuid(struct hv_vm *vm, struct kvm_cpuid2 **out, sm_error_t *err)
{
    for (unsigned n = 128; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = xcalloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
        c->nent = n;
        if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            *out = c;
            return 0;
        }
        int e = errno;
        free(c);
        if (e != E2BIG)
            return sm_error_set(err, e, "KVM_GET_SUPPORTED_CPUID");
    }
    return sm_error_set(err, E2BIG, "KVM_GET_SUPPORTED_CPUID");
}

#define VCPU_IOCTL(vcpu, req, arg, name)                                                           \
    do {                                                                                           \
        if (ioctl((vcpu)->fd, req, arg) < 0)                                                       \
            return sm_error_set(err, errno, "%s on vCPU %u", name, (vcpu)->index);                 \
        return 0;                                                                                  \
    } while (0)

int hv_x86_set_cpuid(struct hv_vcpu *vcpu, const struct kvm_cpuid2 *cpuid, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_SET_CPUID2, cpuid, "KVM_SET_CPUID2");
}

int hv_x86_get_regs(struct hv_vcpu *vcpu, struct kvm_regs *regs, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_GET_REGS, regs, "KVM_GET_REGS");
}

int hv_x86_set_regs(struct hv_vcpu *vcpu, const struct kvm_regs *regs, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_SET_REGS, regs, "KVM_SET_REGS");
}

int hv_x86_get_sregs(struct hv_vcpu *vcpu, struct kvm_sregs *sregs, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_GET_SREGS, sregs, "KVM_GET_SREGS");
}

int hv_x86_set_sregs(struct hv_vcpu *vcpu, const struct kvm_sregs *sregs, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_SET_SREGS, sregs, "KVM_SET_SREGS");
}

int hv_x86_set_fpu(struct hv_vcpu *vcpu, const struct kvm_fpu *fpu, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_SET_FPU, fpu, "KVM_SET_FPU");
}

int hv_x86_get_lapic(struct hv_vcpu *vcpu, struct kvm_lapic_state *lapic, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_GET_LAPIC, lapic, "KVM_GET_LAPIC");
}

int hv_x86_set_lapic(struct hv_vcpu *vcpu, const struct kvm_lapic_state *lapic, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_SET_LAPIC, lapic, "KVM_SET_LAPIC");
}

static int msrs_ioctl(struct hv_vcpu *vcpu, unsigned long req, const struct kvm_msr_entry *entries,
                      struct kvm_msr_entry *result, uint32_t n, const char *name, sm_error_t *err)
{
    cleanup_free struct kvm_msrs *m = xcalloc(1, sizeof(*m) + n * sizeof(*entries));
    m->nmsrs = n;
    memcpy(m->entries, entries, n * sizeof(*entries));
    int r = ioctl(vcpu->fd, req, m);
    if (r < 0)
        return sm_error_set(err, errno, "%s on vCPU %u", name, vcpu->index);
    /* KVM stops at the first MSR it refuses and returns how many it processed: a short
     * count is a failure, never something to ignore. */
    if ((uint32_t)r != n)
        return sm_error_set(err, 0, "%s on vCPU %u: MSR 0x%x refused (%d of %u done)", name,
                            vcpu->index, m->entries[r].index, r, n);
    if (result)
        memcpy(result, m->entries, n * sizeof(*entries));
    return 0;
}

int hv_x86_set_msrs(struct hv_vcpu *vcpu, const struct kvm_msr_entry *entries, uint32_t n,
                    sm_error_t *err)
{
    return msrs_ioctl(vcpu, KVM_SET_MSRS, entries, NULL, n, "KVM_SET_MSRS", err);
}

int hv_x86_get_msrs(struct hv_vcpu *vcpu, struct kvm_msr_entry *entries, uint32_t n,
                    sm_error_t *err)
{
    return msrs_ioctl(vcpu, KVM_GET_MSRS, entries, entries, n, "KVM_GET_MSRS", err);
}

int hv_x86_get_fpu(struct hv_vcpu *vcpu, struct kvm_fpu *fpu, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_GET_FPU, fpu, "KVM_GET_FPU");
}

int hv_x86_get_xsave(struct hv_vcpu *vcpu, struct kvm_xsave *xsave, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_GET_XSAVE, xsave, "KVM_GET_XSAVE");
}

int hv_x86_set_xsave(struct hv_vcpu *vcpu, const struct kvm_xsave *xsave, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_SET_XSAVE, xsave, "KVM_SET_XSAVE");
}

int hv_x86_get_xcrs(struct hv_vcpu *vcpu, struct kvm_xcrs *xcrs, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_GET_XCRS, xcrs, "KVM_GET_XCRS");
}

int hv_x86_set_xcrs(struct hv_vcpu *vcpu, const struct kvm_xcrs *xcrs, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_SET_XCRS, xcrs, "KVM_SET_XCRS");
}

int hv_x86_get_events(struct hv_vcpu *vcpu, struct kvm_vcpu_events *ev, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_GET_VCPU_EVENTS, ev, "KVM_GET_VCPU_EVENTS");
}

int hv_x86_set_events(struct hv_vcpu *vcpu, const struct kvm_vcpu_events *ev, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_SET_VCPU_EVENTS, ev, "KVM_SET_VCPU_EVENTS");
}

int hv_x86_get_mp_state(struct hv_vcpu *vcpu, struct kvm_mp_state *mp, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_GET_MP_STATE, mp, "KVM_GET_MP_STATE");
}

int hv_x86_set_mp_state(struct hv_vcpu *vcpu, const struct kvm_mp_state *mp, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_SET_MP_STATE, mp, "KVM_SET_MP_STATE");
}

int hv_x86_get_debugregs(struct hv_vcpu *vcpu, struct kvm_debugregs *dr, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_GET_DEBUGREGS, dr, "KVM_GET_DEBUGREGS");
}

int hv_x86_set_debugregs(struct hv_vcpu *vcpu, const struct kvm_debugregs *dr, sm_error_t *err)
{
    VCPU_IOCTL(vcpu, KVM_SET_DEBUGREGS, dr, "KVM_SET_DEBUGREGS");
}

int hv_x86_get_tsc_khz(struct hv_vcpu *vcpu, uint32_t *khz, sm_error_t *err)
{
    int r = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
    if (r <= 0)
        return sm_error_set(err, r < 0 ? errno : 0, "KVM_GET_TSC_KHZ on vCPU %u", vcpu->index);
    *khz = (uint32_t)r;
    return 0;
}

int hv_x86_set_tsc_khz(struct hv_vcpu *vcpu, uint32_t khz, sm_error_t *err)
{
    uint32_t cur = 0;
    if (hv_x86_get_tsc_khz(vcpu, &cur, NULL) == 0 && cur == khz)
        return 0; /* nothing to scale */
    if (!vcpu->vm->caps.tsc_control)
        return sm_error_set(err, 0,
                            "the host cannot set the TSC frequency to %u kHz (it runs at %u kHz "
                            "and has no TSC scaling)",
                            khz, cur);
    if (ioctl(vcpu->fd, KVM_SET_TSC_KHZ, (unsigned long)khz) < 0)
        return sm_error_set(err, errno, "KVM_SET_TSC_KHZ %u on vCPU %u", khz, vcpu->index);
    return 0;
}

int hv_x86_kvmclock_ctrl(struct hv_vcpu *vcpu, sm_error_t *err)
{
    if (!vcpu->vm->caps.kvmclock_ctrl)
        return 0;
    /* EINVAL means the guest has not enabled kvmclock on this vCPU: nothing to tell. */
    if (ioctl(vcpu->fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
        return sm_error_set(err, errno, "KVM_KVMCLOCK_CTRL on vCPU %u", vcpu->index);
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int kvm_msr_index_list(struct hv_vm *vm, uint32_t **out, uint32_t *n, sm_error_t *err)
{
    struct kvm_msr_list probe = {.nmsrs = 0};
    if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
        return sm_error_set(err, errno, "KVM_GET_MSR_INDEX_LIST");
    uint32_t count = probe.nmsrs;
    struct kvm_msr_list *list = xcalloc(1, sizeof(*list) + count * sizeof(uint32_t));
    list->nmsrs = count;
    if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
        int e = errno;
        free(list);
        return sm_error_set(err, e, "KVM_GET_MSR_INDEX_LIST");
    }
    uint32_t *idx = xmalloc(list->nmsrs * sizeof(uint32_t));
    memcpy(idx, list->indices, list->nmsrs * sizeof(uint32_t));
    *n = list->nmsrs;
    free(list);
    qsort(idx, *n, sizeof(uint32_t), cmp_u32);
    *out = idx;
    return 0;
}

int hv_x86_saveable_msrs(struct hv_vcpu *vcpu, uint32_t **indices, uint32_t *n, sm_error_t *err)
{
    uint32_t *all, count;
    if (kvm_msr_index_list(vcpu->vm, &all, &count, err) < 0)
        return -1;
    /* Probe in one batch; at each short count drop the refused MSR and go on. */
    cleanup_free struct kvm_msrs *m = xcalloc(1, sizeof(*m) + count * sizeof(struct kvm_msr_entry));
    uint32_t kept = 0, start = 0;
    while (start < count) {
        uint32_t batch = count - start;
        m->nmsrs = batch;
        for (uint32_t i = 0; i < batch; i++)
            m->entries[i] = (struct kvm_msr_entry){.index = all[start + i]};
        int r = ioctl(vcpu->fd, KVM_GET_MSRS, m);
        if (r < 0) {
            int e = errno;
            free(all);
            return sm_error_set(err, e, "KVM_GET_MSRS on vCPU %u", vcpu->index);
        }
        for (int i = 0; i < r; i++)
            all[kept++] = all[start + (uint32_t)i];
        start += (uint32_t)r + ((uint32_t)r < batch ? 1 : 0); /* skip the refused one */
    }
    *indices = all;
    *n = kept;
    return 0;
}

int hv_x86_get_irqchip(struct hv_vm *vm, struct kvm_irqchip chips[HV_X86_IRQCHIPS], sm_error_t *err)
{
    for (uint32_t i = 0; i < HV_X86_IRQCHIPS; i++) {
        memset(&chips[i], 0, sizeof(chips[i]));
        chips[i].chip_id = i;
        if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chips[i]) < 0)
            return sm_error_set(err, errno, "KVM_GET_IRQCHIP %u", i);
    }
    return 0;
}

int hv_x86_set_irqchip(struct hv_vm *vm, const struct kvm_irqchip chips[HV_X86_IRQCHIPS],
                       sm_error_t *err)
{
    for (uint32_t i = 0; i < HV_X86_IRQCHIPS; i++) {
        if (chips[i].chip_id != i)
            return sm_error_set(err, 0, "irqchip %u: bad chip id %u", i, chips[i].chip_id);
        if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chips[i]) < 0)
            return sm_error_set(err, errno, "KVM_SET_IRQCHIP %u", i);
    }
    return 0;
}

int hv_x86_get_pit(struct hv_vm *vm, struct kvm_pit_state2 *pit, sm_error_t *err)
{
    if (ioctl(vm->vm_fd, KVM_GET_PIT2, pit) < 0)
        return sm_error_set(err, errno, "KVM_GET_PIT2");
    return 0;
}

int hv_x86_set_pit(struct hv_vm *vm, const struct kvm_pit_state2 *pit, sm_error_t *err)
{
    if (ioctl(vm->vm_fd, KVM_SET_PIT2, pit) < 0)
        return sm_error_set(err, errno, "KVM_SET_PIT2");
    return 0;
}

int hv_x86_get_clock(struct hv_vm *vm, struct kvm_clock_data *clock, sm_error_t *err)
{
    memset(clock, 0, sizeof(*clock));
    if (ioctl(vm->vm_fd, KVM_GET_CLOCK, clock) < 0)
        return sm_error_set(err, errno, "KVM_GET_CLOCK");
    return 0;
}

int hv_x86_set_clock(struct hv_vm *vm, const struct kvm_clock_data *clock, sm_error_t *err)
{
    struct kvm_clock_data c = {.clock = clock->clock};
    if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &c) < 0)
        return sm_error_set(err, errno, "KVM_SET_CLOCK");
    return 0;
}

int hv_x86_host_fingerprint(struct hv_vm *vm, const struct kvm_cpuid2 *cpuid, char out[65],
                            sm_error_t *err)
{
    uint32_t *msrs, nmsrs;
    if (kvm_msr_index_list(vm, &msrs, &nmsrs, err) < 0)
        return -1;
    size_t len = cpuid->nent * sizeof(cpuid->entries[0]) + nmsrs * sizeof(uint32_t) + 64;
    cleanup_free uint8_t *buf = xcalloc(1, len);
    size_t off = 0;
    memcpy(buf + off, cpuid->entries, cpuid->nent * sizeof(cpuid->entries[0]));
    off += cpuid->nent * sizeof(cpuid->entries[0]);
    memcpy(buf + off, msrs, nmsrs * sizeof(uint32_t));
    off += nmsrs * sizeof(uint32_t);
    free(msrs);
    uint8_t caps[4] = {vm->caps.tsc_control, vm->caps.kvmclock_ctrl,
                       (uint8_t)kvm_check_ext(vm, KVM_CAP_XSAVE),
                       (uint8_t)kvm_check_ext(vm, KVM_CAP_XCRS)};
    memcpy(buf + off, caps, sizeof(caps));
    off += sizeof(caps);
    sm_sha256_hex(buf, off, out);
    return 0;
}
