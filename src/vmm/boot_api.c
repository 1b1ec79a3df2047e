/* sm_boot(): the public entry point for booting a bare kernel. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "supermachine.h"
#include "vmm/kernel.h"
#include "vmm/vm.h"

int sm_boot(const struct sm_boot_options *opts, struct sm_boot_result *result, sm_error_t *err)
{
    cleanup_free char *kernel = NULL;
    cleanup_free char *modules = NULL;
    const char *kernel_path = opts->kernel;
    const char *trigger = NULL;
    if (opts->snapshot_dir || opts->snapshot_when) {
        if (!opts->snapshot_dir || !opts->snapshot_when)
            return sm_error_set(err, 0, "boot: --snapshot and --snapshot-when go together");
        if (strncmp(opts->snapshot_when, "console:", 8) != 0 || opts->snapshot_when[8] == '\0')
            return sm_error_set(err, 0, "boot: --snapshot-when %s: want console:TEXT",
                                opts->snapshot_when);
        trigger = opts->snapshot_when + 8;
    }
    if (opts->snapshot_dir && access(opts->snapshot_dir, F_OK) == 0)
        return sm_error_set(err, EEXIST, "boot: snapshot %s", opts->snapshot_dir);
    if (opts->restore_dir && opts->snapshot_dir)
        return sm_error_set(err, 0, "boot: --restore cannot be combined with --snapshot");
    if (kernel_path == NULL && opts->restore_dir == NULL) {
        if (sm_kernel_locate(&kernel, &modules, err) < 0)
            return sm_error_wrap(err, "boot: default kernel");
        kernel_path = kernel;
    }
    struct vm_config cfg = {
        .kernel_path = kernel_path,
        .initrd_path = opts->initrd,
        .cmdline = opts->append,
        .ncpus = opts->cpus ? opts->cpus : 1,
        .memory_mib = opts->memory_mib ? opts->memory_mib : 512,
        .console_in_fd = opts->console_in,
        .console_out_fd = opts->console_out,
        .console_raw = opts->console_raw != 0,
        .stop_fd = opts->stop_fd,
        .owner_pidfd = -1,
        .disk_path = opts->disk,
        .vsock_uds = opts->vsock_path,
        .snapshot_dir = opts->snapshot_dir,
        .snapshot_on_console = trigger,
        .snapshot_continue = opts->snapshot_continue != 0,
    };
    struct vm *vm = NULL;
    int created = opts->restore_dir ? vm_create_from_snapshot(&cfg, opts->restore_dir, &vm, err)
                                    : vm_create(&cfg, &vm, err);
    if (created < 0)
        return sm_error_wrap(err, "boot");
    struct vm_result res;
    int r = vm_run(vm, &res, err);
    vm_destroy(vm);
    if (r < 0)
        return sm_error_wrap(err, "boot");
    memset(result, 0, sizeof(*result));
    snprintf(result->message, sizeof(result->message), "%s", res.message);
    switch (res.reason) {
    case VM_EXIT_POWEROFF:
        result->exit = SM_GUEST_POWEROFF;
        return 0;
    case VM_EXIT_REBOOT:
        result->exit = SM_GUEST_REBOOT;
        return 0;
    case VM_EXIT_PANIC:
        result->exit = SM_GUEST_PANIC;
        return 0;
    case VM_EXIT_TRIPLE_FAULT:
        result->exit = SM_GUEST_TRIPLE_FAULT;
        return 0;
    case VM_EXIT_USER:
        result->exit = SM_GUEST_STOPPED;
        return 0;
    case VM_EXIT_SNAPSHOT:
        result->exit = SM_GUEST_SNAPSHOT;
        return 0;
    case VM_EXIT_NONE:
    case VM_EXIT_ERROR:
        break;
    }
    return sm_error_set(err, 0, "boot: %s", res.message);
}

int sm_kernel_default(char **vmlinuz, char **modules_dir, sm_error_t *err)
{
    return sm_kernel_locate(vmlinuz, modules_dir, err);
}
