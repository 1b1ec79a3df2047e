/* A cgroup v2 per VM where the host delegates one (confine.h, docs/security.md).
 *
 * The VMM starts in its parent's cgroup C (the CLI's, or the program's that uses the
 * library). cgroup v2's "no internal processes" rule lets a cgroup other than the root
 * give controllers to its children only while it holds no process itself, and C holds
 * at least the VMM, so the VM's cgroup goes beneath the first of these that qualifies:
 *   - C itself when it is the root cgroup (root on a host without systemd, or a machine
 *     like the emulated KVM host of the tests): the root may hold processes and enable
 *     controllers for its children, which is done here if needed;
 *   - C's parent P when P already gives the memory and pids controllers to its children
 *     and the VMM may write P (a systemd-delegated subtree: P is, say, the user's
 *     app.slice and C the terminal's scope; root under systemd: user-0.slice).
 * The VMM makes P/supermachine-<id> (its VM's id, 12 characters), moves itself in, and
 * once it knows the VM's size sets memory.max, pids.max and cpu.max there. Elsewhere (no
 * cgroup2 mounted, read-only, not delegated, controllers missing) it writes one line to
 * its log and runs on without.
 *
 * Removal: a process cannot remove the cgroup it is in, and the VMM, confined by
 * landlock, can no longer touch the cgroup filesystem once it runs a guest (so that a
 * guest that took it over cannot raise its own limits). The cgroup, empty once the VMM
 * has exited, is removed by whoever notices: `rm` of the VM (instance_remove_dir reads
 * the path the VMM recorded in its instance directory, `cgroup`) and the next VMM that
 * starts beneath the same parent (it removes every empty supermachine-* sibling: removing
 * a cgroup that holds a process fails, so live VMs keep theirs). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "confine/confine_internal.h"

/* The limit files of the VM's cgroup, opened before landlock closes the cgroup
 * filesystem, written once the VM's size is known and closed then. */
static int fd_memory_max = -1, fd_pids_max = -1, fd_cpu_max = -1;
static char leaf[PATH_MAX];
static bool saves_snapshot;

/* The one line in the VMM's log when there is no cgroup for the VM. */
__attribute__((format(printf, 1, 2))) static void note(const char *fmt, ...)
{
    char why[PATH_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    fprintf(stderr, "supermachine-vmm: cgroup: %s: the VM runs without a cgroup of its own\n", why);
}

/* The first line of a small file under the cgroup filesystem, or "" */
static void read_line(const char *dir, const char *name, char *buf, size_t size)
{
    cleanup_free char *path = xasprintf("%s/%s", dir, name);
    buf[0] = '\0';
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    if (fgets(buf, (int)size, f) == NULL)
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
}

static int open_file(const char *dir, const char *name)
{
    cleanup_free char *path = xasprintf("%s/%s", dir, name);
    return open(path, O_WRONLY | O_CLOEXEC);
}

static int write_text(const char *dir, const char *name, const char *text)
{
    cleanup_close int fd = open_file(dir, name);
    return fd < 0 ? -1 : sm_write_all(fd, text, strlen(text));
}

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
            return true;
    return false;
}

/* Where the cgroup2 filesystem is mounted (its root as seen here), or false. */
static bool cgroup2_mount(char *mnt, size_t size, char *root, size_t rsize)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER */
        char r[PATH_MAX], m[PATH_MAX];
        const char *dash = strstr(line, " - ");
        if (dash == NULL || strncmp(dash + 3, "cgroup2 ", 8) != 0)
            continue;
        if (sscanf(line, "%*s %*s %*s %4095s %4095s", r, m) == 2 && strlen(m) < size &&
            strlen(r) < rsize) {
            snprintf(mnt, size, "%s", m);
            snprintf(root, rsize, "%s", r);
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* This process's cgroup v2 path (from "0::PATH" in /proc/self/cgroup), or false. */
static bool own_cgroup(char *path, size_t size)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f == NULL)
        return false;
    char line[PATH_MAX + 8];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "0::", 3) != 0)
            continue;
        line[strcspn(line, "\n")] = '\0';
        if (strlen(line + 3) < size) {
            snprintf(path, size, "%s", line + 3);
            found = true;
        }
    }
    fclose(f);
    return found;
}

static bool writable(const char *dir)
{
    cleanup_free char *procs = xasprintf("%s/cgroup.procs", dir);
    return access(dir, W_OK) == 0 && access(procs, W_OK) == 0;
}

/* Removes the empty VM cgroups that dead VMMs left beneath parent (a live VM's holds its
 * VMM: removing it fails). */
static void sweep(const char *parent, const char *mine)
{
    DIR *d = opendir(parent);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, CONFINE_CGROUP_PREFIX, strlen(CONFINE_CGROUP_PREFIX)) != 0 ||
            strcmp(e->d_name, mine) == 0)
            continue;
        cleanup_free char *p = xasprintf("%s/%s", parent, e->d_name);
        rmdir(p);
    }
    closedir(d);
}

void confine_cgroup(const struct confine_config *cfg)
{
    char mnt[PATH_MAX], root[PATH_MAX], own[PATH_MAX];
    if (!own_cgroup(own, sizeof(own))) {
        note("this host does not use cgroup v2");
        return;
    }
    if (!cgroup2_mount(mnt, sizeof(mnt), root, sizeof(root))) {
        note("no cgroup2 filesystem is mounted");
        return;
    }
    /* Our path relative to the mount's root (they differ in a cgroup namespace whose
     * root is not the mount's). */
    const char *rel = own;
    if (strcmp(root, "/") != 0) {
        size_t n = strlen(root);
        if (strncmp(own, root, n) != 0 || (own[n] != '/' && own[n] != '\0')) {
            note("%s: not beneath the cgroup2 mount's root %s", own, root);
            return;
        }
        rel = own + n;
    }
    bool is_root = rel[0] == '\0' || strcmp(rel, "/") == 0;
    cleanup_free char *parent = xasprintf("%s%s", mnt, is_root ? "" : rel);
    if (!is_root) {
        /* Our own cgroup holds processes (us): its parent, if delegated to us. */
        char *slash = strrchr(parent, '/');
        if (slash == NULL || slash < parent + strlen(mnt)) {
            *parent = '\0';
        } else {
            *slash = '\0';
        }
    }
    if (*parent == '\0' || !writable(parent)) {
        note("%s%s: not delegated to this user (not writable)", mnt, rel);
        return;
    }
    char ctl[512], avail[512];
    read_line(parent, "cgroup.subtree_control", ctl, sizeof(ctl));
    if (is_root) {
        /* The root cgroup may hold processes and give controllers all the same. */
        read_line(parent, "cgroup.controllers", avail, sizeof(avail));
        static const char *const want[] = {"memory", "pids", "cpu"};
        for (size_t i = 0; i < SM_ARRAY_SIZE(want); i++) {
            char plus[32];
            snprintf(plus, sizeof(plus), "+%s", want[i]);
            if (!has_word(ctl, want[i]) && has_word(avail, want[i]))
                write_text(parent, "cgroup.subtree_control", plus);
        }
        read_line(parent, "cgroup.subtree_control", ctl, sizeof(ctl));
    }
    if (!has_word(ctl, "memory") || !has_word(ctl, "pids")) {
        note("%s: its children lack the memory and pids controllers (it gives \"%s\")", parent,
             ctl);
        return;
    }
    /* The VM's id, as the cgroup's name. */
    char name[64] = CONFINE_CGROUP_PREFIX;
    size_t len = strlen(name);
    for (const char *p = cfg->vm_id ? cfg->vm_id : "";
         *p && len < strlen(CONFINE_CGROUP_PREFIX) + 12; p++)
        if (isalnum((unsigned char)*p) || *p == '-' || *p == '_')
            name[len++] = *p;
    name[len] = '\0';
    sweep(parent, name);
    if (strlen(parent) + 1 + strlen(name) >= sizeof(leaf)) {
        note("%s: path too long", parent);
        return;
    }
    memcpy(leaf, parent, strlen(parent));
    leaf[strlen(parent)] = '/';
    memcpy(leaf + strlen(parent) + 1, name, strlen(name) + 1);
    char pid[32];
    snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    int moved = -1;
    /* Another VMM's sweep may remove our cgroup between its creation and our moving in:
     * make it again. */
    for (int attempt = 0; moved < 0 && attempt < 5; attempt++) {
        if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
            break;
        moved = write_text(leaf, "cgroup.procs", pid);
        if (moved < 0 && errno != ENOENT)
            break;
    }
    if (moved < 0) {
        int e = errno;
        rmdir(leaf);
        note("%s: cannot move the VMM in: %s", leaf, strerror(e));
        leaf[0] = '\0';
        return;
    }
    saves_snapshot = cfg->saves_snapshot;
    fd_memory_max = open_file(leaf, "memory.max");
    fd_pids_max = open_file(leaf, "pids.max");
    fd_cpu_max = open_file(leaf, "cpu.max"); /* -1 without the cpu controller */
    if (cfg->cgroup_record) {
        sm_error_t ignored = NULL;
        char text[PATH_MAX + 2];
        snprintf(text, sizeof(text), "%s\n", leaf);
        sm_write_file_replace(cfg->cgroup_record, text, strlen(text), 0600, &ignored);
        sm_error_release(&ignored);
    }
}

static void set_limit(int *fd, const char *name, const char *value)
{
    if (*fd < 0)
        return;
    if (write(*fd, value, strlen(value)) != (ssize_t)strlen(value))
        fprintf(stderr, "supermachine-vmm: cgroup: %s/%s = %s: %s\n", leaf, name, value,
                strerror(errno));
    close(*fd);
    *fd = -1;
}

void confine_vm_size(unsigned cpus, uint64_t memory_bytes)
{
    char v[64];
    /* Saving a snapshot writes the guest's memory to a file, whose page cache is charged
     * to the writer: reclaimable on a disk, but not on a tmpfs (a store in /tmp). */
    uint64_t max = memory_bytes * (saves_snapshot ? 2 : 1) +
                   (uint64_t)CONFINE_MEMORY_OVERHEAD_MIB * 1024 * 1024;
    snprintf(v, sizeof(v), "%llu\n", (unsigned long long)max);
    set_limit(&fd_memory_max, "memory.max", v);
    snprintf(v, sizeof(v), "%u\n", cpus + CONFINE_THREADS_BEYOND_VCPUS);
    set_limit(&fd_pids_max, "pids.max", v);
    snprintf(v, sizeof(v), "%llu %u\n", (unsigned long long)cpus * CONFINE_CPU_PERIOD_US,
             CONFINE_CPU_PERIOD_US);
    set_limit(&fd_cpu_max, "cpu.max", v);
}
