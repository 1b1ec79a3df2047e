/* Confinement of the VMM process (confine.h). What each role may call is in
 * confine_seccomp_rules.c. */
#include "confine/confine.h"

#include <cap-ng.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/trace.h"
#include "common/util.h"
#include "confine/confine_internal.h"

static bool seccomp_off(void)
{
    const char *e = getenv("SUPERMACHINE_SECCOMP");
    return e && strcmp(e, "off") == 0;
}

/* The filters, compiled at build time from confine_seccomp_rules.c (confine_seccomp_gen.c). */
#include "confine_filters.h"

#define FILTER(insns)                                                                              \
    {                                                                                              \
        sizeof(insns) / sizeof(insns[0]), insns                                                    \
    }
static const struct {
    unsigned short len;
    const struct sock_filter *insns;
} role_filters[] =
    {
        [CONFINE_MAIN] = FILTER(confine_filter_main),
        [CONFINE_VCPU] = FILTER(confine_filter_vcpu),
        [CONFINE_DEVICES] = FILTER(confine_filter_devices),
        [CONFINE_NET] = FILTER(confine_filter_net),
},
  process_filter = FILTER(confine_filter_process);

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
    struct sock_fprog prog = {
        .len = process_wide ? process_filter.len : role_filters[role].len,
        .filter =
            (struct sock_filter *)(process_wide ? process_filter.insns : role_filters[role].insns),
    };
    /* no_new_privs is set by confine_process, which seccomp(2) requires of the unprivileged. */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return sm_error_set(err, errno, "seccomp: load the filter");
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

/* Descriptors: enough for every socket and connection the VMM bounds (confine.h), and
 * no more, for good (the hard limit too). Never raised beyond a lower hard limit. */
static int limit_files(sm_error_t *err)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return sm_error_set(err, errno, "descriptor limit");
    rlim_t max = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > CONFINE_MAX_FILES ? CONFINE_MAX_FILES
                                                                                 : rl.rlim_max;
    rl.rlim_cur = rl.rlim_max = max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return sm_error_set(err, errno, "descriptor limit %llu", (unsigned long long)max);
    return 0;
}

int confine_process(const struct confine_config *cfg, sm_error_t *err)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return sm_error_set(err, errno, "no_new_privs");
    /* A core dump would hold the guest's memory. */
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) < 0)
        return sm_error_set(err, errno, "no core dumps");
    /* RLIMIT_NPROC is not set: it counts every process of the user, not this one's
     * threads (pids.max does that), and seccomp already refuses new processes. */
    if (limit_files(err) < 0)
        return -1;
    /* The cgroup before landlock closes the cgroup filesystem, and the capabilities too:
     * libcap-ng reads /proc/PID/status. */
    if (cfg && cfg->vm_id)
        confine_cgroup(cfg);
    sm_trace("confine: cgroup");
    if (drop_capabilities(err) < 0)
        return -1;
    sm_trace("confine: capabilities");
    if (cfg && confine_landlock(cfg, err) < 0)
        return -1;
    sm_trace("confine: landlock");
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
