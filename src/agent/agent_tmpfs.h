/* docker's --tmpfs and --read-only: mounts the guest's agent makes before the main
 * process runs, sent in every hello ("tmpfs", "read_only": docs/protocol.md). The host
 * checks what the user gives, the guest what it receives, both here. */
#ifndef SM_AGENT_TMPFS_H
#define SM_AGENT_TMPFS_H

#include <stddef.h>

#define AGENT_TMPFS_MAX      16 /* mounts in one hello */
#define AGENT_TMPFS_PATH_MAX 255
#define AGENT_TMPFS_DATA_MAX 255

struct agent_tmpfs {
    char path[AGENT_TMPFS_PATH_MAX + 1]; /* absolute, without "." or ".." or empty parts */
    unsigned long flags;                 /* mount(2)'s MS_* flags */
    char data[AGENT_TMPFS_DATA_MAX + 1]; /* tmpfs's own options: "mode=1777,size=64m" */
};

/* "PATH[:OPTIONS]", OPTIONS comma-separated as docker takes them: ro, rw, [no]suid,
 * [no]dev, [no]exec, [no]atime, [no]diratime, [no|strict]relatime, sync, async, dirsync,
 * and size=, mode=, uid=, gid=, nr_inodes=, nr_blocks=. As docker: nosuid, nodev and
 * noexec unless told otherwise, mode 1777 unless given. PATH may not be /, /dev, or
 * /proc or /sys and what is below them (the guest's own). 0, or -1 with why (may be
 * NULL) saying what is wrong. */
int agent_tmpfs_parse(const char *spec, struct agent_tmpfs *t, char *why, size_t whylen);

#endif
