/* Confinement of the VMM process (confine.h). The system call lists were taken from
 * strace of every thread across a VM's life (boot, snapshot bake, restore, exec, cp,
 * network traffic, publish, stop) with both the normal and the sanitizer builds, then
 * read for what each role must never need: no thread may start a process (clone only
 * with CLONE_THREAD), open new kinds of sockets (Unix, IPv4, IPv6 only), mount, trace,
 * load modules or programs, or change credentials. */
#include "confine/confine.h"

#include <cap-ng.h>
#include <errno.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "common/util.h"

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
    /* the vCPU and device threads it starts load their own filter on top */
    "seccomp", NULL};

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

/* ioctl numbers carry their type in bits 8-15: KVM's is 0xAE. */
#define KVM_IOCTL_TYPE 0xAE

static bool seccomp_off(void)
{
    const char *e = getenv("SUPERMACHINE_SECCOMP");
    return e && strcmp(e, "off") == 0;
}

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

/* Calls allowed only with some arguments. */
static int add_socket(scmp_filter_ctx ctx, bool inet)
{
    int r =
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
    if (r == 0 && inet)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                             SCMP_A0(SCMP_CMP_EQ, AF_INET));
    if (r == 0 && inet)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                             SCMP_A0(SCMP_CMP_EQ, AF_INET6));
    return r;
}

static int add_ioctl_kvm(scmp_filter_ctx ctx)
{
    return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                            SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, KVM_IOCTL_TYPE << 8));
}

static int add_ioctl_sockets(scmp_filter_ctx ctx)
{
    int r =
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, FIONREAD));
    return r ? r
             : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                SCMP_A1(SCMP_CMP_EQ, FIONBIO));
}

static int add_threads(scmp_filter_ctx ctx)
{
    /* Threads, never processes: clone with CLONE_THREAD. clone3 passes its flags in
     * memory, which a filter cannot read: it fails with ENOSYS, and glibc falls back to
     * clone. */
    int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    return r ? r : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
}

static int add_prctl_names(scmp_filter_ctx ctx)
{
    int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                             SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
    return r ? r
             : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                                SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME));
}

static int add_role(scmp_filter_ctx ctx, enum confine_role role)
{
    int r = allow_list(ctx, calls_common);
    if (r == 0)
        r = add_prctl_names(ctx);
    switch (role) {
    case CONFINE_MAIN:
        if (r == 0)
            r = allow_list(ctx, calls_main);
        if (r == 0)
            r = add_ioctl_kvm(ctx);
        if (r == 0)
            r = add_ioctl_sockets(ctx);
        if (r == 0) /* isatty(), from stdio */
            r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                 SCMP_A1(SCMP_CMP_EQ, TCGETS));
        if (r == 0)
            r = add_threads(ctx);
        if (r == 0)
            r = add_socket(ctx, false);
        break;
    case CONFINE_VCPU:
        if (r == 0)
            r = allow_list(ctx, calls_vcpu);
        if (r == 0)
            r = add_ioctl_kvm(ctx);
        break;
    case CONFINE_DEVICES:
        if (r == 0)
            r = allow_list(ctx, calls_devices);
        if (r == 0)
            r = add_ioctl_kvm(ctx);
        if (r == 0)
            r = add_ioctl_sockets(ctx);
        if (r == 0)
            r = add_socket(ctx, false);
        break;
    case CONFINE_NET:
        if (r == 0)
            r = allow_list(ctx, calls_net);
        if (r == 0)
            r = add_ioctl_sockets(ctx);
        if (r == 0)
            r = add_socket(ctx, true);
        break;
    }
    return r;
}

/* Refused calls trap here: one line in the VMM's log (its stderr), then the process
 * ends. Async-signal-safe: no stdio, no allocation. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)uc;
    char line[160], num[16], name[17] = "?";
    int n = si->si_syscall, k = 0;
    unsigned v = n < 0 ? 0 : (unsigned)n;
    do
        num[k++] = (char)('0' + v % 10);
    while ((v /= 10) && k < (int)sizeof(num));
    size_t len = 0;
    const char *head = "supermachine-vmm: seccomp: the thread '";
    prctl(PR_GET_NAME, name);
    for (const char *p = head; *p; p++)
        line[len++] = *p;
    for (const char *p = name; *p && len < 80; p++)
        line[len++] = *p;
    const char *mid = "' made system call ";
    for (const char *p = mid; *p; p++)
        line[len++] = *p;
    while (k > 0)
        line[len++] = num[--k];
    const char *tail = ", which it may not: stopping (scmp_sys_resolver names it)\n";
    for (const char *p = tail; *p && len < sizeof(line); p++)
        line[len++] = *p;
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
    syscall(SYS_exit_group, 128 + SIGSYS);
}

static int load(bool process_wide, enum confine_role role, sm_error_t *err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    if (ctx == NULL)
        return sm_error_set(err, 0, "seccomp: cannot make a filter");
    int r;
    if (process_wide) {
        r = allow_list(ctx, calls_setup);
        for (int i = CONFINE_MAIN; r == 0 && i <= CONFINE_NET; i++)
            r = add_role(ctx, (enum confine_role)i);
        /* Setting up also takes any ioctl (terminal, KVM) and sockets of the network. */
        if (r == 0)
            r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 0);
        if (r == 0)
            r = add_socket(ctx, true);
        if (r == 0)
            r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigaction), 0);
    } else {
        r = add_role(ctx, role);
    }
    /* no_new_privs is set by confine_process: libseccomp's own prctl would be refused. */
    if (r == 0)
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (r == 0)
        r = seccomp_load(ctx);
    seccomp_release(ctx);
    if (r < 0)
        return sm_error_set(err, -r, "seccomp: load the filter");
    return 0;
}

static int drop_capabilities(sm_error_t *err)
{
    /* Nothing the VMM does needs a capability: /dev/kvm is opened by its permissions. */
    capng_clear(CAPNG_SELECT_ALL);
    if (capng_apply(CAPNG_SELECT_ALL) < 0 && geteuid() == 0)
        return sm_error_set(err, errno, "drop capabilities");
    /* Not as root: an unprivileged process cannot touch its bounding set, and holds no
     * capabilities to drop. */
    return 0;
}

int confine_process(sm_error_t *err)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return sm_error_set(err, errno, "no_new_privs");
    /* A core dump would hold the guest's memory. */
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) < 0)
        return sm_error_set(err, errno, "no core dumps");
    if (drop_capabilities(err) < 0)
        return -1;
    if (seccomp_off())
        return 0;
    struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0)
        return sm_error_set(err, errno, "SIGSYS handler");
    return load(true, CONFINE_MAIN, err);
}

void confine_thread(enum confine_role role)
{
    if (seccomp_off())
        return;
    sm_error_t err = NULL;
    if (load(false, role, &err) < 0) {
        fprintf(stderr, "supermachine-vmm: %s\n", sm_error_message(err));
        _exit(125);
    }
}
