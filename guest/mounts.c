/* docker's --tmpfs and --read-only in the guest (src/agent/agent_tmpfs.h), applied by
 * every hello before the main process starts. A tmpfs this agent mounted (its source is
 * "sm-tmpfs", which /proc/self/mountinfo shows) and a root already read-only are left as
 * they are, so the later hellos of each exec, and clones of a snapshot that has them,
 * change nothing. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agent/agent_proto.h"
#include "agent/agent_tmpfs.h"
#include "guest.h"

#define TMPFS_SOURCE "sm-tmpfs"

/* mountinfo's escapes (\040 for a space, \011, \012, \134) undone in place. */
static void unescape(char *s)
{
    char *out = s;
    for (char *in = s; *in; out++) {
        if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
            in[3] >= '0' && in[3] <= '7') {
            *out = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
            in += 4;
        } else {
            *out = *in++;
        }
    }
    *out = '\0';
}

/* Whether the mount on top at path is one of ours. */
static bool ours_on_top(const char *path)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return false;
    bool ours = false;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - TYPE SOURCE SUPEROPTIONS" */
        char *save = NULL, *field = strtok_r(line, " ", &save);
        char *mountpoint = NULL;
        for (int i = 0; field && i < 4; i++)
            field = strtok_r(NULL, " ", &save);
        mountpoint = field;
        while ((field = strtok_r(NULL, " ", &save)) != NULL && strcmp(field, "-") != 0)
            ;
        char *type = field ? strtok_r(NULL, " ", &save) : NULL;
        char *source = type ? strtok_r(NULL, " ", &save) : NULL;
        if (mountpoint == NULL || source == NULL)
            continue;
        unescape(mountpoint);
        if (strcmp(mountpoint, path) == 0) /* later lines are mounted over earlier ones */
            ours = strcmp(type, "tmpfs") == 0 && strcmp(source, TMPFS_SOURCE) == 0;
    }
    free(line);
    fclose(f);
    return ours;
}

int guest_mkdir_p(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -1;
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return 0;
}

/* A directory at path, made if the image has none: a tmpfs may go there. */
static int make_dirs(const char *path)
{
    if (guest_mkdir_p(path) < 0)
        return -1;
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int apply_locked(struct json_object *hello, char *why, size_t whylen)
{
    json_object *list;
    if (json_object_object_get_ex(hello, "tmpfs", &list) &&
        json_object_is_type(list, json_type_array)) {
        size_t n = json_object_array_length(list);
        for (size_t i = 0; i < n && i < AGENT_TMPFS_MAX; i++) {
            const char *spec = json_object_get_string(json_object_array_get_idx(list, i));
            struct agent_tmpfs t;
            char reason[256];
            if (spec == NULL || agent_tmpfs_parse(spec, &t, reason, sizeof(reason)) < 0) {
                snprintf(why, whylen, "--tmpfs %s: %s", spec ? spec : "(not a string)",
                         spec ? reason : "");
                return -1;
            }
            if (ours_on_top(t.path))
                continue;
            if (make_dirs(t.path) < 0 ||
                mount(TMPFS_SOURCE, t.path, "tmpfs", t.flags, t.data) < 0) {
                snprintf(why, whylen, "--tmpfs %s: mount on %s: %s", spec, t.path, strerror(errno));
                return -1;
            }
        }
    }
    /* docker's --shm-size: /dev/shm remounted (its flags as init mounted it) unless it has
     * that size already. */
    int64_t shm = 0;
    struct statvfs sv;
    if (agent_json_int(hello, "shm_size", 4096, INT64_MAX, &shm) && statvfs("/dev/shm", &sv) == 0 &&
        (uint64_t)sv.f_blocks * sv.f_frsize != ((uint64_t)shm + 4095) / 4096 * 4096) {
        char data[64];
        snprintf(data, sizeof(data), "size=%lld", (long long)shm);
        if (mount(NULL, "/dev/shm", NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, data) < 0) {
            snprintf(why, whylen, "--shm-size %lld: remount /dev/shm: %s", (long long)shm,
                     strerror(errno));
            return -1;
        }
    }
    json_object *ro;
    if (json_object_object_get_ex(hello, "read_only", &ro) && json_object_get_boolean(ro) &&
        statvfs("/", &sv) == 0 && !(sv.f_flag & ST_RDONLY)) {
        /* The root's mount, not its overlay: /proc, /dev, /dev/shm, /run and the tmpfs
         * mounts above stay writable, as in a docker container run --read-only. */
        if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) {
            snprintf(why, whylen, "--read-only: remount / read-only: %s", strerror(errno));
            return -1;
        }
    }
    return 0;
}

int guest_apply_mounts(struct json_object *hello, char *why, size_t whylen)
{
    json_object *v;
    if (!json_object_object_get_ex(hello, "tmpfs", &v) &&
        !json_object_object_get_ex(hello, "shm_size", &v) &&
        !json_object_object_get_ex(hello, "read_only", &v))
        return 0;
    /* Sessions' hellos run side by side (concurrent execs): one at a time here, or two
     * could both find a tmpfs missing and mount it twice. The lock is on / itself, open
     * in this session (a descriptor of its own, so the lock is its own). The workload
     * could hold it too: 2 s at most, as for the names. */
    int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; root >= 0 && i < 200 && flock(root, LOCK_EX | LOCK_NB) < 0; i++)
        usleep(10000);
    int r = apply_locked(hello, why, whylen);
    if (root >= 0)
        close(root); /* and the lock with it */
    return r;
}
