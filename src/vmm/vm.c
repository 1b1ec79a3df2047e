#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/trace.h"
#include "common/util.h"
#include "vmm/arch/x86_64/acpi.h"
#include "vmm/arch/x86_64/boot.h"
#include "vmm/arch/x86_64/cpu.h"
#include "vmm/arch/x86_64/layout.h"
#include "vmm/bus.h"
#include "vmm/console.h"
#include "vmm/devices/platform.h"
#include "vmm/devices/serial.h"
#include "vmm/devices/virtio_devices.h"
#include "vmm/hv/hv.h"
#include "vmm/memory.h"
#include "vmm/vm_internal.h"
#include <sys/epoll.h>

/* The VMM's own part of the kernel command line: the console on the UART, reboot through
 * the ACPI reset register, no PCI bus to probe (all devices are virtio-mmio). */
#define VM_BASE_CMDLINE "console=ttyS0 reboot=acpi pci=off"
/* A guest that will be snapshotted also zeroes the pages it frees, so that freed memory
 * is holes in the snapshot's memory file instead of stale data, in this snapshot and in
 * every later one of its clones (the setting is restored with the kernel). It costs a
 * clearing of the whole RAM at boot and a little on every free: a VM that will never be
 * saved (--no-snapshot, a bare boot) does without (docs/memory.md).
 * And transparent huge pages only where a program asks (madvise): in a clone, whose RAM
 * is the snapshot's file mapped copy-on-write, a huge page the guest zeroes on a fault or
 * khugepaged assembles by copying writes 2 MiB, 512 pages the clone no longer shares.
 * sm.snapshot tells sm-init to do before it says ready what every clone would otherwise do
 * after its restore: let the kernel finish bringing the link up (guest/net.c), look up the
 * programs of PATH and read the files nearly every command reads (guest/warm.c). */
#define VM_SNAPSHOT_CMDLINE "init_on_free=1 transparent_hugepage=madvise sm.snapshot=1"
#define CTRL_A              0x01

static int kick_signal(void)
{
    return SIGRTMIN + 3;
}

static void kick_handler(int sig)
{
    (void)sig; /* only interrupts KVM_RUN; the kick flag says why */
}

static void wake_loop(struct vm *vm)
{
    uint64_t one = 1;
    ssize_t r = write(vm->wake_fd, &one, sizeof(one));
    (void)r;
}

static void console_wakes_loop(void *opaque)
{
    wake_loop(opaque);
}

static void kick_vcpus(struct vm *vm)
{
    for (unsigned i = 0; i < vm->ncpus; i++) {
        hv_vcpu_set_kick(vm->vcpus[i].hv, true);
        if (vm->vcpus[i].started)
            pthread_kill(vm->vcpus[i].thread, kick_signal());
    }
}

/* Records why the VM stops (the first reason wins) and brings everything down. */
void vm_finish(struct vm *vm, enum vm_exit_reason reason, const char *fmt, ...)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->result.reason == VM_EXIT_NONE) {
        vm->result.reason = reason;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(vm->result.message, sizeof(vm->result.message), fmt, ap);
        va_end(ap);
    }
    vm->state = VM_STOPPING;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    kick_vcpus(vm);
    wake_loop(vm);
}

void vm_request_stop(struct vm *vm)
{
    vm_finish(vm, VM_EXIT_USER, "stopped");
}

/* ---- device callbacks ---------------------------------------------------- */

static void serial_out(void *opaque, const uint8_t *buf, size_t len)
{
    struct vm *vm = opaque;
    console_output(&vm->console, buf, len);
}

static void serial_irq(void *opaque, bool level)
{
    struct vm *vm = opaque;
    hv_vm_irq_line(vm->hv, X86_SERIAL_IRQ, level, NULL);
}

static void serial_want_input(void *opaque)
{
    wake_loop(opaque);
}

static const struct serial_ops vm_serial_ops = {
    .output = serial_out,
    .irq = serial_irq,
    .want_input = serial_want_input,
};

static void platform_event(void *opaque, enum platform_event ev)
{
    struct vm *vm = opaque;
    switch (ev) {
    case PLATFORM_POWEROFF:
        vm_finish(vm, VM_EXIT_POWEROFF, "guest powered off");
        break;
    case PLATFORM_REBOOT:
        vm_finish(vm, VM_EXIT_REBOOT, "guest rebooted");
        break;
    case PLATFORM_PANIC:
        vm_finish(vm, VM_EXIT_PANIC, "guest kernel panic (pvpanic)");
        break;
    }
}

static void platform_ged_irq(void *opaque)
{
    struct vm *vm = opaque;
    hv_vm_irq_line(vm->hv, X86_GED_IRQ, true, NULL);
    hv_vm_irq_line(vm->hv, X86_GED_IRQ, false, NULL);
}

static const struct platform_ops vm_platform_ops = {
    .event = platform_event,
    .ged_irq = platform_ged_irq,
};

static void request_snapshot(struct vm *vm, unsigned which)
{
    /* A vCPU thread is writing the console right now: the main loop does the pausing. */
    pthread_mutex_lock(&vm->lock);
    vm->snapshot_requested |= which;
    pthread_mutex_unlock(&vm->lock);
    wake_loop(vm);
}

static void on_snapshot_trigger(void *opaque, const char *line)
{
    (void)line;
    request_snapshot(opaque, SNAPSHOT_REQ_INIT);
}

static void on_workload_snapshot_trigger(void *opaque, const char *line)
{
    (void)line;
    request_snapshot(opaque, SNAPSHOT_REQ_WORKLOAD);
}

static void on_panic_line(void *opaque, const char *line)
{
    struct vm *vm = opaque;
    /* Runs under the console lock: only record and kick, never print. */
    const char *p = strstr(line, "Kernel panic - not syncing");
    vm_finish(vm, VM_EXIT_PANIC, "guest kernel panic: %s", p ? p : line);
}

/* ---- vCPU threads -------------------------------------------------------- */

static void handle_io(struct vm *vm, struct hv_exit *ex)
{
    for (uint32_t i = 0; i < ex->io.count; i++)
        bus_dispatch(&vm->pio, ex->io.port, ex->io.data + (size_t)i * ex->io.size, ex->io.size,
                     ex->io.is_write);
}

/* Parks the calling vCPU while a pause is requested. Called without the lock. */
static void vcpu_park(struct vcpu *v)
{
    struct vm *vm = v->vm;
    sm_error_t err = NULL;
    if (v->io_incomplete) {
        /* Re-enter once with the kick pending: KVM finishes the IO/MMIO instruction and
         * returns before running any further guest code, so the saved state is whole. */
        struct hv_exit ex;
        hv_vcpu_set_kick(v->hv, true);
        if (hv_vcpu_run(v->hv, &ex, &err) < 0)
            sm_error_release(&err);
        v->io_incomplete = false;
    }
    pthread_mutex_lock(&vm->lock);
    vm->paused++;
    pthread_cond_broadcast(&vm->cond);
    while (vm->pause_requested && vm->state != VM_STOPPING)
        pthread_cond_wait(&vm->cond, &vm->lock);
    vm->paused--;
    pthread_mutex_unlock(&vm->lock);
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    struct vm *vm = v->vm;
    char name[16];
    snprintf(name, sizeof(name), "vcpu%u", v->index);
    pthread_setname_np(pthread_self(), name);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, kick_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    if (vm->cfg.on_vcpu_thread)
        vm->cfg.on_vcpu_thread();

    for (;;) {
        pthread_mutex_lock(&vm->lock);
        bool stop = vm->state == VM_STOPPING;
        bool pause = vm->pause_requested;
        if (!stop && !pause)
            hv_vcpu_set_kick(v->hv, false);
        pthread_mutex_unlock(&vm->lock);
        if (stop)
            break;
        if (pause) {
            vcpu_park(v);
            continue;
        }
        struct hv_exit ex;
        sm_error_t err = NULL;
        if (hv_vcpu_run(v->hv, &ex, &err) < 0) {
            vm_finish(vm, VM_EXIT_ERROR, "vCPU %u: %s", v->index, sm_error_message(err));
            sm_error_release(&err);
            break;
        }
        v->io_incomplete = false;
        switch (ex.kind) {
        case HV_EXIT_IO:
            handle_io(vm, &ex);
            v->io_incomplete = true;
            break;
        case HV_EXIT_MMIO:
            bus_dispatch(&vm->mmio, ex.mmio.addr, ex.mmio.data, ex.mmio.len, ex.mmio.is_write);
            v->io_incomplete = true;
            break;
        case HV_EXIT_INTERRUPTED:
            break;
        case HV_EXIT_HLT:
            break; /* cannot happen with the in-kernel LAPIC; harmless */
        case HV_EXIT_SHUTDOWN:
            vm_finish(vm, VM_EXIT_TRIPLE_FAULT, "guest triple fault on vCPU %u", v->index);
            break;
        case HV_EXIT_RESET:
            vm_finish(vm, VM_EXIT_REBOOT, "guest rebooted");
            break;
        case HV_EXIT_POWEROFF:
            vm_finish(vm, VM_EXIT_POWEROFF, "guest powered off");
            break;
        case HV_EXIT_CRASH:
            vm_finish(vm, VM_EXIT_PANIC, "guest crashed");
            break;
        case HV_EXIT_FAIL:
            vm_finish(vm, VM_EXIT_ERROR, "vCPU %u: the hypervisor could not run it (reason %llu)",
                      v->index, (unsigned long long)ex.detail);
            break;
        }
    }
    return NULL;
}

/* ---- creation -------------------------------------------------------------- */

static int validate_config(const struct vm_config *cfg, sm_error_t *err)
{
    if (cfg->kernel_path == NULL || *cfg->kernel_path == '\0')
        return sm_error_set(err, 0, "no kernel given");
    if (cfg->ncpus < 1 || cfg->ncpus > VM_MAX_CPUS)
        return sm_error_set(err, 0, "cpus %u: must be between 1 and %u", cfg->ncpus, VM_MAX_CPUS);
    if (cfg->memory_mib < VM_MIN_MEMORY_MIB || cfg->memory_mib > VM_MAX_MEMORY_MIB)
        return sm_error_set(err, 0, "memory %llu MiB: must be between %u MiB and %u MiB",
                            (unsigned long long)cfg->memory_mib, VM_MIN_MEMORY_MIB,
                            VM_MAX_MEMORY_MIB);
    return 0;
}

int vm_add_virtio(struct vm *vm, const struct virtio_ops *ops, void *dev, sm_error_t *err)
{
    if (vm->nvirtio == X86_VIRTIO_MMIO_MAX)
        return sm_error_set(err, 0, "too many virtio devices");
    unsigned i = vm->nvirtio;
    struct virtio_mmio *t = &vm->virtio[i];
    if (virtio_mmio_init(t, ops, dev, &vm->mem, X86_VIRTIO_MMIO_BASE + i * X86_VIRTIO_MMIO_SIZE,
                         X86_VIRTIO_IRQ_BASE + i, err) < 0)
        return -1;
    t->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    t->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (t->irq_fd < 0 || t->notify_fd < 0)
        return sm_error_set(err, errno, "virtio %s: eventfd", ops->name);
    if (bus_register(&vm->mmio, t->base, X86_VIRTIO_MMIO_SIZE, virtio_mmio_access, t, err) < 0 ||
        (!ops->own_notify &&
         ioloop_add(&vm->io, t->notify_fd, EPOLLIN, virtio_mmio_notified, t, err) < 0))
        return sm_error_wrap(err, "virtio %s", ops->name);
    vm->nvirtio++;
    return 0;
}

/* Binds each virtio device's interrupt and notification eventfds in the hypervisor:
 * interrupts without a VMM system call per event, notifications without a vCPU exit. */
static int wire_virtio(struct vm *vm, sm_error_t *err)
{
    for (unsigned i = 0; i < vm->nvirtio; i++) {
        struct virtio_mmio *t = &vm->virtio[i];
        if (hv_vm_irqfd(vm->hv, t->gsi, t->irq_fd, err) < 0 ||
            hv_vm_ioeventfd(vm->hv, t->base + 0x50, 4, t->notify_fd, err) < 0)
            return sm_error_wrap(err, "virtio %s", t->ops->name);
    }
    return 0;
}

static int setup_acpi(struct vm *vm, uint64_t *rsdp, sm_error_t *err)
{
    uint8_t *buf = vm_mem_ptr(&vm->mem, X86_ACPI_START, X86_ACPI_END - X86_ACPI_START);
    struct acpi_virtio_mmio_dev devs[X86_VIRTIO_MMIO_MAX];
    for (unsigned i = 0; i < vm->nvirtio; i++)
        devs[i] = (struct acpi_virtio_mmio_dev){vm->virtio[i].base, X86_VIRTIO_MMIO_SIZE,
                                                vm->virtio[i].gsi};
    struct acpi_config acfg = {
        .ncpus = vm->ncpus,
        .virtio = devs,
        .nvirtio = vm->nvirtio,
        .vmgenid_addr = X86_VMGENID_ADDR,
    };
    size_t used = 0;
    if (acpi_build_tables(&acfg, buf, X86_ACPI_END - X86_ACPI_START, X86_ACPI_START, &used, rsdp,
                          err) < 0)
        return sm_error_wrap(err, "ACPI tables");
    /* A fresh generation ID: the guest's vmgenid driver mixes it into its RNG. */
    uint8_t genid[16];
    if (getrandom(genid, sizeof(genid), 0) != (ssize_t)sizeof(genid))
        return sm_error_set(err, errno, "getrandom");
    vm_mem_write(&vm->mem, X86_VMGENID_ADDR, genid, sizeof(genid));
    return 0;
}

/* The virtio devices every VM has, in a fixed order so that a snapshot's device windows
 * match on restore. */
int vm_add_devices(struct vm *vm, sm_error_t *err)
{
    if (vm_add_virtio(vm, &virtio_rng_ops, NULL, err) < 0)
        return -1;
    if (vm->cfg.disk_path) {
        vm->disk = xcalloc(1, sizeof(*vm->disk));
        vm->disk->fd = -1;
        if (virtio_blk_open(vm->disk, vm->cfg.disk_path, !vm->cfg.disk_writable, err) < 0 ||
            vm_add_virtio(vm, &vm->disk->ops, vm->disk, err) < 0)
            return -1;
    }
    if (vm->cfg.vsock_uds) {
        if (virtio_vsock_create(&vm->vsock, vm->cfg.vsock_uds, vm->cfg.vsock_cid, err) < 0 ||
            vm_add_virtio(vm, &virtio_vsock_ops, vm->vsock, err) < 0 ||
            virtio_vsock_attach(vm->vsock, &vm->virtio[vm->nvirtio - 1], &vm->io, err) < 0)
            return -1;
        /* No host connection may be in the init-ready snapshot: each clone would reset
         * it (the main loop lets them in once the snapshot is taken). */
        if (vm->cfg.snapshot_holds_vsock && vm->cfg.snapshot_dir && vm->cfg.snapshot_on_console)
            virtio_vsock_hold_requests(vm->vsock, true);
    }
    if (vm->cfg.net) {
        vm->net = virtio_net_create(vm->cfg.net->mac, vm->cfg.net->mtu);
        if (vm_add_virtio(vm, &virtio_net_ops, vm->net, err) < 0)
            return -1;
        virtio_net_bind(vm->net, &vm->virtio[vm->nvirtio - 1]);
        vm->cfg.net->attach(vm->cfg.net->opaque, vm->net);
    }
    return 0;
}

struct vm *vm_alloc(const struct vm_config *cfg, sm_error_t *err)
{
    struct vm *vm = xcalloc_pages(sizeof(*vm));
    memory_trim_init(&vm->trim, cfg->trim && cfg->trim_pagemap_fd >= 0
                                    ? fcntl(cfg->trim_pagemap_fd, F_DUPFD_CLOEXEC, 3)
                                    : -1);
    vm->cfg = *cfg;
    vm->ncpus = cfg->ncpus;
    vm->wake_fd = vm->control_fd = -1;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    console_init(&vm->console, cfg->console_out_fd, cfg->console_limit);
    console_add_watch(&vm->console, "Kernel panic - not syncing", on_panic_line, vm);
    vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vm->wake_fd < 0) {
        sm_error_set(err, errno, "eventfd");
        goto fail;
    }
    vm->console.on_pending = console_wakes_loop;
    vm->console.pending_opaque = vm;
    serial_init(&vm->serial, &vm_serial_ops, vm);
    if (bus_register(&vm->pio, X86_SERIAL_PORT, 8, serial_io, &vm->serial, err) < 0)
        goto fail;
    if (platform_init(&vm->platform, &vm->pio, &vm->mmio, &vm_platform_ops, vm, err) < 0)
        goto fail;
    if (ioloop_init(&vm->io, err) < 0)
        goto fail;
    return vm;
fail:
    vm_destroy(vm);
    return NULL;
}

int vm_setup_hypervisor(struct vm *vm, sm_error_t *err)
{
    cleanup_free struct kvm_cpuid2 *supported = NULL;
    if (hv_vm_create(&vm->hv, err) < 0)
        return -1;
    for (unsigned i = 0; i < vm->mem.nregions; i++) {
        struct vm_mem_region *r = &vm->mem.regions[i];
        if (hv_vm_map_memory(vm->hv, i, r->gpa, r->size, vm->mem.host + r->host_offset, err) < 0)
            return -1;
    }
    if (hv_vm_create_irqchip(vm->hv, err) < 0 || wire_virtio(vm, err) < 0)
        return -1;
    if (hv_x86_supported_cpuid(vm->hv, &supported, err) < 0)
        return -1;
    for (unsigned i = 0; i < vm->ncpus; i++) {
        struct vcpu *v = &vm->vcpus[i];
        v->vm = vm;
        v->index = i;
        if (hv_vcpu_create(vm->hv, i, &v->hv, err) < 0 ||
            x86_vcpu_init(v->hv, supported, i, vm->ncpus, err) < 0)
            return -1;
    }
    return 0;
}

int vm_create(const struct vm_config *cfg, struct vm **out, sm_error_t *err)
{
    if (validate_config(cfg, err) < 0)
        return -1;
    cleanup_free char *cmdline = NULL;
    struct vm *vm = vm_alloc(cfg, err);
    if (vm == NULL)
        return -1;
    /* Everything that can be checked without the hypervisor comes first, so bad input is
     * reported as such even on a host without KVM. */
    if (vm_memory_init(&vm->mem, cfg->memory_mib << 20, err) < 0)
        goto fail;
    if (vm_add_devices(vm, err) < 0)
        goto fail;
    uint64_t rsdp = 0;
    if (setup_acpi(vm, &rsdp, err) < 0)
        goto fail;
    bool saved_later = cfg->snapshot_dir || cfg->workload_snapshot_dir;
    cmdline = xasprintf("%s%s%s%s", VM_BASE_CMDLINE, saved_later ? " " VM_SNAPSHOT_CMDLINE : "",
                        cfg->cmdline && *cfg->cmdline ? " " : "", cfg->cmdline ? cfg->cmdline : "");
    struct x86_boot_config bcfg = {
        .kernel_path = cfg->kernel_path,
        .initrd_path = cfg->initrd_path,
        .cmdline = cmdline,
        .rsdp_gpa = rsdp,
    };
    struct x86_boot_info binfo;
    if (x86_boot_load(&vm->mem, &bcfg, &binfo, err) < 0)
        goto fail;
    if (cfg->snapshot_dir || cfg->workload_snapshot_dir) {
        /* Recorded in the snapshot so a restore can tell what it was made from. */
        if (sm_sha256_file(cfg->kernel_path, vm->kernel_sha256, err) < 0 ||
            (cfg->initrd_path && sm_sha256_file(cfg->initrd_path, vm->initrd_sha256, err) < 0))
            goto fail;
    }
    if (vm_setup_hypervisor(vm, err) < 0)
        goto fail;
    /* Only the boot CPU starts at the kernel; the others wait for INIT/SIPI in the
     * in-kernel LAPIC, as on real hardware. */
    if (x86_boot_setup_bsp(vm->vcpus[0].hv, &binfo, err) < 0)
        goto fail;
    if (cfg->control_path && vm_control_listen(vm, err) < 0)
        goto fail;
    *out = vm;
    return 0;
fail:
    vm_destroy(vm);
    return -1;
}

/* ---- the console loop ------------------------------------------------------ */

/* Moves host input into the UART as far as the guest listens. */
static void feed_input(struct vm *vm)
{
    struct console *c = &vm->console;
    if (c->in_len == 0)
        return;
    size_t n = serial_receive(&vm->serial, c->in, c->in_len);
    if (n) {
        memmove(c->in, c->in + n, c->in_len - n);
        c->in_len -= n;
    }
}

/* Reads from the input fd; in raw terminal mode, Ctrl-A x quits and Ctrl-A Ctrl-A sends
 * one Ctrl-A (QEMU's convention). Returns false at end of input. */
static bool read_input(struct vm *vm, bool *escape)
{
    struct console *c = &vm->console;
    uint8_t buf[4096];
    size_t room = sizeof(c->in) - c->in_len;
    if (room > sizeof(buf))
        room = sizeof(buf);
    ssize_t r = read(vm->cfg.console_in_fd, buf, room);
    if (r < 0)
        return errno == EINTR || errno == EAGAIN;
    if (r == 0)
        return false;
    for (ssize_t i = 0; i < r; i++) {
        if (vm->cfg.console_raw) {
            if (*escape) {
                *escape = false;
                if (buf[i] == 'x' || buf[i] == 'X') {
                    vm_finish(vm, VM_EXIT_USER, "quit from the console (Ctrl-A x)");
                    return true;
                }
                if (buf[i] != CTRL_A)
                    continue;
            } else if (buf[i] == CTRL_A) {
                *escape = true;
                continue;
            }
        }
        c->in[c->in_len++] = buf[i];
    }
    return true;
}

int vm_run(struct vm *vm, struct vm_result *result, sm_error_t *err)
{
    if (vm->cfg.snapshot_dir && vm->cfg.snapshot_on_console &&
        console_add_watch(&vm->console, vm->cfg.snapshot_on_console, on_snapshot_trigger, vm) < 0)
        return sm_error_set(err, 0, "console: too many watches");
    if (vm->cfg.workload_snapshot_dir && vm->cfg.workload_snapshot_on_console &&
        console_add_watch(&vm->console, vm->cfg.workload_snapshot_on_console,
                          on_workload_snapshot_trigger, vm) < 0)
        return sm_error_set(err, 0, "console: too many watches");
    struct sigaction sa = {.sa_handler = kick_handler};
    sigemptyset(&sa.sa_mask);
    sigaction(kick_signal(), &sa, NULL); /* no SA_RESTART: KVM_RUN must return EINTR */
    /* Block the kick signal here and in threads by default; vCPU threads unblock it. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, kick_signal());
    pthread_sigmask(SIG_BLOCK, &set, &old);

    pthread_mutex_lock(&vm->lock);
    vm->state = VM_RUNNING;
    pthread_mutex_unlock(&vm->lock);
    vm->io.on_thread_start = vm->cfg.on_devices_thread;
    if (ioloop_start(&vm->io, err) < 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return -1;
    }
    for (unsigned i = 0; i < vm->ncpus; i++) {
        int r = pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);
        if (r != 0) {
            vm_finish(vm, VM_EXIT_ERROR, "start vCPU %u thread: %s", i, strerror(r));
            break;
        }
        vm->vcpus[i].started = true;
    }
    if (vm->cfg.on_main_loop)
        vm->cfg.on_main_loop();
    vm_trim_start(vm);
    sm_trace("vm: vCPUs started");

    bool input_open = vm->cfg.console_in_fd >= 0;
    bool escape = false;
    int trim_ms = vm_trim_tick(vm);
    for (;;) {
        pthread_mutex_lock(&vm->lock);
        bool stopping = vm->state == VM_STOPPING;
        /* One at a time, init-ready first (the workload's comes later anyway). */
        unsigned requested = vm->snapshot_requested & SNAPSHOT_REQ_INIT
                                 ? SNAPSHOT_REQ_INIT
                                 : vm->snapshot_requested & SNAPSHOT_REQ_WORKLOAD;
        vm->snapshot_requested &= ~requested;
        pthread_mutex_unlock(&vm->lock);
        if (stopping)
            break;
        if (requested) {
            bool workload = requested & SNAPSHOT_REQ_WORKLOAD;
            const char *dir = workload ? vm->cfg.workload_snapshot_dir : vm->cfg.snapshot_dir;
            sm_error_t serr = NULL;
            console_flush(&vm->console);
            int saved = vm_pause(vm, &serr);
            if (saved == 0) {
                /* And the device thread, between two requests: nothing writes guest
                 * memory or device state while they are saved. Requests the guest queued
                 * meanwhile wait in the rings; a restore notifies every queue again. */
                ioloop_pause(&vm->io);
                saved = vm_snapshot_save(vm, dir, &serr);
                ioloop_resume(&vm->io);
            }
            if (!workload && vm->vsock)
                virtio_vsock_hold_requests(vm->vsock, false); /* saved or not */
            if (vm->cfg.snapshot_continue || workload) {
                /* The snapshot is an optimisation for later runs (another run may have
                 * baked the same one first): this guest runs on either way. */
                if (saved < 0)
                    fprintf(stderr, "supermachine: snapshot %s: %s\n", dir, sm_error_message(serr));
                sm_error_release(&serr);
                vm_resume(vm);
            } else if (saved < 0) {
                vm_finish(vm, VM_EXIT_ERROR, "snapshot: %s", sm_error_message(serr));
                sm_error_release(&serr);
            } else {
                vm_finish(vm, VM_EXIT_SNAPSHOT, "snapshot saved in %s", vm->cfg.snapshot_dir);
            }
            continue;
        }
        feed_input(vm);
        struct pollfd fds[5] = {{.fd = vm->wake_fd, .events = POLLIN},
                                {.fd = vm->cfg.stop_fd, .events = POLLIN},
                                {.fd = vm->control_fd, .events = POLLIN},
                                {.fd = vm->cfg.owner_pidfd, .events = POLLIN},
                                {.fd = -1}};
        nfds_t nfds = 4;
        if (input_open && vm->console.in_len < sizeof(vm->console.in)) {
            fds[4] = (struct pollfd){.fd = vm->cfg.console_in_fd, .events = POLLIN};
            nfds = 5;
        }
        /* The loop sleeps until a descriptor wakes it, but for console output not flushed
         * yet (a prompt: the console wakes the loop when such output starts) and input
         * the guest could not take yet, both seen to within 20 ms, and trimming's
         * schedule. An idle clone wakes at most once a second (trimming's watch), or
         * never with trimming off: a hundred of them cost no CPU time. */
        int timeout = console_pending(&vm->console) ? 20 : trim_ms;
        int r = poll(fds, nfds, timeout);
        if (r < 0 && errno != EINTR) {
            vm_finish(vm, VM_EXIT_ERROR, "poll: %s", strerror(errno));
            break;
        }
        if (fds[0].revents & POLLIN) {
            uint64_t v;
            ssize_t rr = read(vm->wake_fd, &v, sizeof(v));
            (void)rr;
        }
        if ((fds[1].revents | fds[3].revents) & (POLLIN | POLLHUP | POLLERR))
            vm_finish(vm, VM_EXIT_USER, "stopped");
        else if (fds[2].revents & POLLIN)
            vm_control_serve(vm);
        if (nfds == 5 && (fds[4].revents & (POLLIN | POLLHUP | POLLERR)))
            input_open = read_input(vm, &escape);
        /* Woken by the eventfd alone, most likely for a line that started: it gets its
         * 20 ms to end, so that a line is one write. The flush also lets the console
         * tell us again, so a chatty guest wakes this loop at most every 20 ms, as the
         * old fixed tick did, and an idle one never. */
        if (r == 0 || !(fds[0].revents & POLLIN))
            console_flush(&vm->console);
        trim_ms = vm_trim_tick(vm);
    }
    for (unsigned i = 0; i < vm->ncpus; i++) {
        if (vm->vcpus[i].started)
            pthread_join(vm->vcpus[i].thread, NULL);
        vm->vcpus[i].started = false;
    }
    ioloop_stop(&vm->io);
    console_finish(&vm->console);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    *result = vm->result;
    (void)err;
    return 0;
}

int vm_pause(struct vm *vm, sm_error_t *err)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->state != VM_RUNNING) {
        pthread_mutex_unlock(&vm->lock);
        return sm_error_set(err, 0, "pause: the VM is not running");
    }
    vm->pause_requested = true;
    pthread_mutex_unlock(&vm->lock);
    kick_vcpus(vm);
    pthread_mutex_lock(&vm->lock);
    while (vm->paused < vm->ncpus && vm->state == VM_RUNNING)
        pthread_cond_wait(&vm->cond, &vm->lock);
    bool ok = vm->state == VM_RUNNING;
    pthread_mutex_unlock(&vm->lock);
    if (!ok)
        return sm_error_set(err, 0, "pause: the VM stopped");
    return 0;
}

void vm_resume(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    if (!vm->user_paused) {
        vm->pause_requested = false;
        pthread_cond_broadcast(&vm->cond);
    }
    pthread_mutex_unlock(&vm->lock);
}

void vm_size(const struct vm *vm, unsigned *ncpus, uint64_t *memory_bytes)
{
    *ncpus = vm->ncpus;
    *memory_bytes = vm->mem.size;
}

void vm_destroy(struct vm *vm)
{
    if (vm == NULL)
        return;
    for (unsigned i = 0; i < vm->ncpus; i++)
        hv_vcpu_destroy(vm->vcpus[i].hv);
    ioloop_release(&vm->io);
    if (vm->disk) {
        virtio_blk_close(vm->disk);
        free(vm->disk);
    }
    virtio_vsock_destroy(vm->vsock); /* after the device thread stopped */
    virtio_net_destroy(vm->net);     /* after its backend's thread stopped */
    for (unsigned i = 0; i < vm->nvirtio; i++) {
        if (vm->virtio[i].irq_fd >= 0)
            close(vm->virtio[i].irq_fd);
        if (vm->virtio[i].notify_fd >= 0)
            close(vm->virtio[i].notify_fd);
    }
    vm_memory_release(&vm->mem);
    memory_trim_release(&vm->trim);
    hv_vm_destroy(vm->hv);
    if (vm->wake_fd >= 0)
        close(vm->wake_fd);
    if (vm->control_fd >= 0) {
        close(vm->control_fd);
        unlink(vm->cfg.control_path);
    }
    free(vm->snap_meta);
    free(vm->snap_secs);
    xfree_pages(vm, sizeof(*vm));
}

const char *vm_exit_reason_name(enum vm_exit_reason r)
{
    switch (r) {
    case VM_EXIT_NONE:
        return "running";
    case VM_EXIT_POWEROFF:
        return "poweroff";
    case VM_EXIT_REBOOT:
        return "reboot";
    case VM_EXIT_PANIC:
        return "panic";
    case VM_EXIT_TRIPLE_FAULT:
        return "triple fault";
    case VM_EXIT_USER:
        return "stopped";
    case VM_EXIT_SNAPSHOT:
        return "snapshot";
    case VM_EXIT_ERROR:
        return "error";
    }
    return "unknown";
}
