/* Landlock around the VMM's files (confine.h, docs/security.md). The system calls are
 * made directly (linux/landlock.h; no library). Which ABI features are used:
 *   ABI 1  every file access right of ABI 1: reads, writes, directory listing, removing
 *          and creating files, directories, sockets, devices, FIFOs, symlinks, executing
 *   ABI 2  REFER (renaming or linking into another directory): refused everywhere but the
 *          directories the VMM writes (without ABI 2 such renames are refused everywhere;
 *          the VMM's own renames stay within one directory)
 *   ABI 3  TRUNCATE: allowed in the directories the VMM writes only
 *   ABI 5  IOCTL_DEV: ioctls on devices opened from now on: /dev/kvm's only
 *   ABI 6  scoping: no signal to a process outside the VMM, no connection to an abstract
 *          Unix socket made outside it
 * Network rights (ABI 4) are not handled: libslirp connects anywhere the guest asks, and
 * published ports bind at any time (`port --publish`); the egress policy and seccomp
 * (sockets of three families only) hold the network. A kernel with an older ABI gets
 * the features it knows; one without landlock gets none (one line in the log). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/landlock.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"
#include "confine/confine_internal.h"

/* The structure of the newest ABI we use, whatever the headers we build with say: the
 * kernel takes a longer structure as long as what it does not know is zero. */
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

#define FS_ABI1                                                                                    \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |   \
     LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |                                 \
     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | \
     LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |   \
     LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

/* What may be done to a file, and beneath a directory, the VMM reads or writes. */
#define RO_FILE LANDLOCK_ACCESS_FS_READ_FILE
#define RO_DIR  (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define RW_DIR                                                                                     \
    (RO_DIR | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_FILE |                     \
     LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_DIR |   \
     LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE)
#define RW_FILE (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE)
/* A rename within one directory is, to landlock, removing and making the entry. */
#define RENAME_DIR (LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR)
#define DEV_KVM    (RW_FILE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

int confine_landlock_abi(void)
{
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? -errno : (int)v;
}

static uint64_t handled_fs(int abi)
{
    uint64_t h = FS_ABI1;
    if (abi >= 2)
        h |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        h |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5)
        h |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return h;
}

/* The descriptor a rule is made from stays open for the process's life: the rule names
 * an inode, and a filesystem may make a new inode for a path each time it looks it up
 * (9p without a cache, as the emulated KVM host of the tests mounts its root; procfs for
 * /proc/PID/fd): a dentry held open stays in the cache, with its ancestors, so later
 * lookups of the path find it and its inode. */
/* One rule: path (a file or a directory) with access, masked to what the ABI handles. A
 * path that does not exist is skipped: what the VMM would open there fails anyway. */
static int add_path(int ruleset, const char *path, uint64_t access, uint64_t handled,
                    sm_error_t *err)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return sm_error_set(err, errno, "landlock: %s", path);
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return sm_error_set(err, errno, "landlock: %s", path);
    }
    /* A file takes only the rights that apply to files. */
    if (!S_ISDIR(st.st_mode))
        access &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                  LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
                  LANDLOCK_ACCESS_FS_IOCTL_DEV;
    struct landlock_path_beneath_attr pb = {.allowed_access = access & handled, .parent_fd = fd};
    if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0) {
        int e = errno;
        close(fd);
        return sm_error_set(err, e, "landlock: rule for %s", path);
    }
    return 0; /* fd stays open (above) */
}

/* /etc/resolv.conf, which libslirp reads when the guest asks its DNS: the file, or when it
 * is a link (systemd-resolved, NetworkManager) the directory its target is in, since those
 * replace the target by renaming a new file over it. */
static int add_resolv_conf(int ruleset, uint64_t handled, sm_error_t *err)
{
    const char *path = "/etc/resolv.conf";
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISLNK(st.st_mode))
        return add_path(ruleset, path, RO_FILE, handled, err);
    char target[PATH_MAX];
    if (realpath(path, target) == NULL)
        return 0;
    char *slash = strrchr(target, '/');
    if (slash && slash != target)
        *slash = '\0';
    return add_path(ruleset, target, RO_DIR, handled, err);
}

int confine_landlock(const struct confine_config *cfg, sm_error_t *err)
{
    int abi = confine_landlock_abi();
    if (abi <= 0) {
        /* EOPNOTSUPP: built in but not enabled (the lsm= boot parameter); ENOSYS: absent. */
        fprintf(stderr,
                "supermachine-vmm: landlock: not available (%s): the VMM's files are "
                "not confined beyond seccomp\n",
                abi == -EOPNOTSUPP ? "disabled at boot" : "the kernel lacks it");
        return 0;
    }
    uint64_t handled = handled_fs(abi);
    struct ll_ruleset_attr attr = {
        .handled_access_fs = handled,
        .scoped = abi >= 6 ? LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL : 0,
    };
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
    if (ruleset < 0)
        return sm_error_set(err, errno, "landlock: create a ruleset (ABI %d)", abi);
    int r = 0;
    for (size_t i = 0; r == 0 && i < SM_ARRAY_SIZE(cfg->read); i++)
        if (cfg->read[i])
            r = add_path(ruleset, cfg->read[i], RO_DIR, handled, err);
    for (size_t i = 0; r == 0 && i < SM_ARRAY_SIZE(cfg->write); i++)
        if (cfg->write[i])
            r = add_path(ruleset, cfg->write[i], RW_DIR, handled, err);
    for (size_t i = 0; r == 0 && i < SM_ARRAY_SIZE(cfg->rename_in); i++)
        if (cfg->rename_in[i])
            r = add_path(ruleset, cfg->rename_in[i], RENAME_DIR, handled, err);
    /* Devices: /dev/kvm (opened as the VM is made), and what the C library and libslirp
     * may open. */
    if (r == 0)
        r = add_path(ruleset, "/dev/kvm", DEV_KVM, handled, err);
    if (r == 0)
        r = add_path(ruleset, "/dev/null", RW_FILE, handled, err);
    if (r == 0)
        r = add_path(ruleset, "/dev/urandom", RO_FILE, handled, err);
    if (r == 0)
        r = add_resolv_conf(ruleset, handled, err);
    /* Published ports find libslirp's listening sockets among the process's descriptors
     * (src/net/net_forward.c). */
    if (r == 0)
        r = add_path(ruleset, "/proc/self/fd", RO_DIR, handled, err);
    if (r == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
        r = sm_error_set(err, errno, "landlock: restrict the VMM (ABI %d)", abi);
    close(ruleset);
    return r < 0 ? -1 : abi;
}
