/* The VMM's seccomp rules (confine_seccomp_rules.h), read by the build-time generator
 * confine_seccomp_gen.c only. The system call lists were taken from strace of every thread
 * across a VM's life (boot, snapshot bake, restore, exec, cp, network traffic, publish,
 * stop) with both the normal and the sanitizer builds, then read for what each role must
 * never need: no thread may start a process (clone only with CLONE_THREAD), open new kinds
 * of sockets (Unix, IPv4, IPv6 only), mount, trace, load modules or programs, or change
 * credentials. */
#include "confine/confine_seccomp_rules.h"

#include <errno.h>
#include <linux/sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>

/* The tables of names read better filled than one per line. */
/* clang-format off */
/* Every thread: memory, locks, time, signals, its own exit, and I/O on what it holds. */
static const char *const calls_common[] = {
    "read", "write", "readv", "writev", "pread64", "pwrite64", "close", "futex", "madvise",
    "mmap", "munmap", "mprotect", "mremap", "brk", "rt_sigreturn", "rt_sigprocmask",
    "sigaltstack", "clock_gettime", "clock_nanosleep", "nanosleep", "gettid", "getpid",
    "tgkill", "exit", "exit_group", "sched_yield", "restart_syscall", "set_robust_list",
    "rseq", "getrandom", "lseek", "fstat", "newfstatat", "statx", "fcntl",
    "sched_getaffinity", "getrusage", "poll", "ppoll", NULL};

/* The main thread: the console loop, pausing and saving snapshots (files in the store),
 * the state files of the instance directory, starting the vCPU and device threads. */
static const char *const calls_main[] = {
    "openat", "mkdir", "mkdirat", "rename", "renameat", "renameat2", "unlink", "unlinkat",
    "fsync", "fdatasync", "ftruncate", "fallocate", "flock", "getdents64", "epoll_wait",
    "epoll_pwait", "epoll_ctl", "eventfd2", "pipe2", "dup", "dup3", "fchmod", "umask",
    "readlink", "readlinkat", "access", "faccessat", "faccessat2", "getcwd", "kill",
    "rt_sigaction", "wait4", "sched_setaffinity", "copy_file_range", "sendfile", "splice",
    "getuid", "geteuid", "getgid", "getegid", "uname", "sysinfo", "shutdown",
    "sendmsg", "recvmsg", "sendto", "recvfrom", "getsockname", "getpeername", "setsockopt",
    "getsockopt", "statfs", "fstatfs",
    /* saving a snapshot: which pages are resident, a failed save cleaned up */
    "mincore", "rmdir", "msync",
    /* the control socket's clients; a reset re-arms vsock's wait for TRANSPORT_RESET */
    "accept", "accept4", "timerfd_create", "timerfd_settime", NULL};

/* A vCPU: KVM_RUN and the other KVM ioctls (restricted by type below), eventfds and the
 * console's descriptor (plain reads and writes). */
static const char *const calls_vcpu[] = {NULL};

/* The device loop: block requests on the disk image, vsock's Unix sockets, the rng. */
static const char *const calls_devices[] = {
    "epoll_wait", "epoll_pwait", "epoll_ctl", "preadv", "pwritev", "preadv2", "pwritev2",
    "fsync", "fdatasync", "fallocate", "connect", "accept", "accept4", "bind", "listen",
    "sendmsg", "recvmsg", "sendto", "recvfrom", "shutdown", "getsockopt", "setsockopt",
    "getsockname", "getpeername", "unlink", "openat", NULL};

/* The network: libslirp's host sockets, published ports (listeners found through
 * /proc/self/fd), the control socket, the list of ports (written and renamed), and the
 * host's /etc/resolv.conf, which libslirp reads when the guest asks its DNS. */
static const char *const calls_net[] = {
    "connect", "bind", "listen", "accept", "accept4", "sendto", "recvfrom", "sendmsg",
    "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "setsockopt", "getsockopt",
    "getsockname", "getpeername", "openat", "getdents64", "rename", "unlink", "fsync",
    "fchmod", "umask", "epoll_wait", "uname", "getuid", "geteuid", NULL};

/* Setting up, before the roles narrow it (the process-wide filter also has every role's
 * calls): opening the kernel, disk, snapshot and /dev/kvm, mapping guest memory,
 * signal handlers, the owner's pidfd, the instance's lock. */
static const char *const calls_setup[] = {
    "open", "stat", "lstat", "chdir", "pidfd_open", "set_tid_address", "prlimit64",
    "getrlimit", "setrlimit", "memfd_create", "dup2", "symlink", "link", "linkat", "fchown",
    "mlock", "munlock", "mincore", "msync", "getppid", "getpgrp", "getpgid", "arch_prctl",
    "timerfd_create", "timerfd_settime", "pipe", "eventfd", "epoll_create1", "capget",
    /* each thread's own filter on top (filters only ever narrow) */
    "seccomp", NULL};
/* clang-format on */

#define KVM_IOCTL_TYPE 0xAE

static int allow_list(scmp_filter_ctx ctx, const char *const *names)
{
    for (size_t i = 0; names[i]; i++) {
        int nr = seccomp_syscall_resolve_name(names[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not a call of this architecture */
        int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Calls allowed only with some arguments: one rule each, ORed by the filter. */
struct arg_rule {
    int nr;
    uint32_t action; /* SCMP_ACT_ALLOW, or an errno answer */
    bool masked;     /* the argument ANDed with mask must equal value */
    unsigned arg;
    uint64_t mask, value;
};

#define ALLOW_EQ(name, argn, v)                                                                    \
    {                                                                                              \
        SCMP_SYS(name), SCMP_ACT_ALLOW, false, argn, 0, (uint64_t)(v)                              \
    }
#define ALLOW_MASKED(name, argn, m, v)                                                             \
    {                                                                                              \
        SCMP_SYS(name), SCMP_ACT_ALLOW, true, argn, (m), (uint64_t)(v)                             \
    }
#define RULES_END                                                                                  \
    {                                                                                              \
        0, 0, false, 0, 0, 0                                                                       \
    }

/* Every role: naming its own thread. */
static const struct arg_rule rules_common[] = {ALLOW_EQ(prctl, 0, PR_SET_NAME),
                                               ALLOW_EQ(prctl, 0, PR_GET_NAME), RULES_END};
/* ioctl numbers carry their type in bits 8-15: KVM's is 0xAE. */
#define ALLOW_KVM_IOCTLS    ALLOW_MASKED(ioctl, 1, 0xff00, KVM_IOCTL_TYPE << 8)
#define ALLOW_SOCKET_IOCTLS ALLOW_EQ(ioctl, 1, FIONREAD), ALLOW_EQ(ioctl, 1, FIONBIO)
static const struct arg_rule rules_main[] = {ALLOW_KVM_IOCTLS, ALLOW_SOCKET_IOCTLS,
                                             ALLOW_EQ(ioctl, 1, TCGETS), /* isatty(), from stdio */
                                             ALLOW_EQ(socket, 0, AF_UNIX), RULES_END};
/* Setting up: threads, never processes (clone with CLONE_THREAD). clone3 passes its
 * flags in memory, which a filter cannot read: it fails with ENOSYS, and glibc falls
 * back to clone. */
static const struct arg_rule rules_setup[] = {
    ALLOW_MASKED(clone, 0, CLONE_THREAD, CLONE_THREAD),
    {SCMP_SYS(clone3), SCMP_ACT_ERRNO(ENOSYS), false, 0, 0, 0},
    RULES_END};
static const struct arg_rule rules_vcpu[] = {ALLOW_KVM_IOCTLS, RULES_END};
static const struct arg_rule rules_devices[] = {ALLOW_KVM_IOCTLS, ALLOW_SOCKET_IOCTLS,
                                                ALLOW_EQ(socket, 0, AF_UNIX), RULES_END};
static const struct arg_rule rules_net[] = {ALLOW_SOCKET_IOCTLS, ALLOW_EQ(socket, 0, AF_UNIX),
                                            ALLOW_EQ(socket, 0, AF_INET),
                                            ALLOW_EQ(socket, 0, AF_INET6), RULES_END};

static const struct {
    const char *const *calls;
    const struct arg_rule *rules;
} roles[] = {
    [CONFINE_MAIN] = {calls_main, rules_main},
    [CONFINE_VCPU] = {calls_vcpu, rules_vcpu},
    [CONFINE_DEVICES] = {calls_devices, rules_devices},
    [CONFINE_NET] = {calls_net, rules_net},
};

static int add_rules(scmp_filter_ctx ctx, const struct arg_rule *rules)
{
    for (size_t i = 0; rules[i].nr; i++) {
        const struct arg_rule *a = &rules[i];
        struct scmp_arg_cmp cmp = {
            .arg = a->arg,
            .op = a->masked ? SCMP_CMP_MASKED_EQ : SCMP_CMP_EQ,
            .datum_a = a->masked ? a->mask : a->value,
            .datum_b = a->masked ? a->value : 0,
        };
        int r = a->action == SCMP_ACT_ALLOW ? seccomp_rule_add_array(ctx, a->action, a->nr, 1, &cmp)
                                            : seccomp_rule_add(ctx, a->action, a->nr, 0);
        if (r < 0)
            return r;
    }
    return 0;
}

static int add_role(scmp_filter_ctx ctx, enum confine_role role)
{
    int r = allow_list(ctx, calls_common);
    if (r == 0)
        r = add_rules(ctx, rules_common);
    if (r == 0)
        r = allow_list(ctx, roles[role].calls);
    if (r == 0)
        r = add_rules(ctx, roles[role].rules);
    return r;
}

int confine_seccomp_rules(scmp_filter_ctx ctx, bool process_wide, enum confine_role role)
{
    if (!process_wide)
        return add_role(ctx, role);
    int r = allow_list(ctx, calls_setup);
    if (r == 0)
        r = add_rules(ctx, rules_setup);
    for (int i = CONFINE_MAIN; r == 0 && i <= CONFINE_NET; i++)
        r = add_role(ctx, (enum confine_role)i);
    /* Setting up also takes any ioctl (terminals, KVM) and sets signal handlers. */
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 0);
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigaction), 0);
    return r;
}
