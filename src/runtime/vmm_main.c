/* supermachine-vmm: the per-VM process (src/runtime/vmm_process.c). */
#include <malloc.h>
#include <string.h>

#include "confine/confine.h"
#include "net/net_backend.h"
#include "runtime/run.h"
#include "runtime/vmm_process.h"

static void confine_main(void)
{
    confine_thread(CONFINE_MAIN);
}

static void confine_vcpu(void)
{
    confine_thread(CONFINE_VCPU);
}

static void confine_devices(void)
{
    confine_thread(CONFINE_DEVICES);
}

static void confine_net(void)
{
    confine_thread(CONFINE_NET);
}

static int vmm_main(int argc, char **argv);

int main(int argc, char **argv)
{
    /* One malloc arena for every thread: glibc gives each thread that allocates one of its
     * own, and each keeps pages of its own, private to every idle clone (measured in the
     * emulated host: 0.4-2.6 MiB of anonymous memory per VMM with the default, 0.4 MiB
     * with one). The VMM's threads allocate rarely, so they hardly contend for it. */
    mallopt(M_ARENA_MAX, 1);
    /* A detached run's or exec's monitor (runtime/run_monitor.c), which forks the VMM. */
    if (argc == 4 && strcmp(argv[3], "monitor") == 0)
        return run_monitor_main(argc, argv, vmm_main);
    return vmm_main(argc, argv);
}

static int vmm_main(int argc, char **argv)
{
    /* The network backend and the confinement live in this executable only: libslirp,
     * GLib, libseccomp and libcap-ng load in VMM processes, never in the library's other
     * users. */
    static const struct vmm_extensions ext = {
        .net = &net_slirp_ops,
        .confine_process = confine_process,
        .confine_vm_size = confine_vm_size,
        .confine_main_thread = confine_main,
        .confine_vcpu_thread = confine_vcpu,
        .confine_devices_thread = confine_devices,
        .confine_net_thread = confine_net,
    };
    return vmm_process_main(argc, argv, &ext);
}

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer's check at exit traces the process (a clone without CLONE_THREAD, then
 * ptrace), which the seccomp filter forbids: off by default in the VMM ($ASAN_OPTIONS
 * still decides). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}
#endif
