#include "agent/agent_tmpfs.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include "agent/agent_proto.h"

/* Each of these sets (or, prefixed "no"/"", clears) one flag. */
static const struct {
    const char *name;
    unsigned long set, clear;
} flag_options[] = {
    {"ro", MS_RDONLY, 0},
    {"rw", 0, MS_RDONLY},
    {"nosuid", MS_NOSUID, 0},
    {"suid", 0, MS_NOSUID},
    {"nodev", MS_NODEV, 0},
    {"dev", 0, MS_NODEV},
    {"noexec", MS_NOEXEC, 0},
    {"exec", 0, MS_NOEXEC},
    {"noatime", MS_NOATIME, 0},
    {"atime", 0, MS_NOATIME},
    {"nodiratime", MS_NODIRATIME, 0},
    {"diratime", 0, MS_NODIRATIME},
    {"relatime", MS_RELATIME, MS_STRICTATIME},
    {"norelatime", 0, MS_RELATIME},
    {"strictatime", MS_STRICTATIME, MS_RELATIME},
    {"sync", MS_SYNCHRONOUS, 0},
    {"async", 0, MS_SYNCHRONOUS},
    {"dirsync", MS_DIRSYNC, 0},
};

/* tmpfs's own options and the values each takes: digits, with a size suffix for some,
 * octal for the mode. */
static bool value_ok(const char *key, const char *v)
{
    size_t digits = strspn(v, "0123456789");
    if (digits == 0 || digits > 20)
        return false;
    const char *rest = v + digits;
    if (strcmp(key, "mode") == 0)
        return *rest == '\0' && strspn(v, "01234567") == digits && digits <= 5;
    if (strcmp(key, "uid") == 0 || strcmp(key, "gid") == 0)
        return *rest == '\0' && digits <= 10;
    if (strcmp(key, "size") == 0)
        return *rest == '\0' || (strchr("kKmMgG%", *rest) && rest[1] == '\0');
    /* nr_inodes, nr_blocks */
    return *rest == '\0' || (strchr("kKmMgG", *rest) && rest[1] == '\0');
}

static const char *const data_keys[] = {"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks"};

static int check_path(const char *path, char *why, size_t whylen)
{
    size_t len = strlen(path);
    if (path[0] != '/')
        return agent_refuse(why, whylen, "the path must be absolute");
    if (len > AGENT_TMPFS_PATH_MAX)
        return agent_refuse(why, whylen, "the path is longer than %d characters",
                            AGENT_TMPFS_PATH_MAX);
    if (strcmp(path, "/") == 0)
        return agent_refuse(why, whylen,
                            "the root cannot be a tmpfs (--read-only keeps it from writes)");
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return agent_refuse(why, whylen, "the path holds a control character");
    /* Every part a name: no "", ".", "..", so one path names one place. */
    for (const char *p = path + 1;;) {
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return agent_refuse(why, whylen, "the path has an empty, '.' or '..' part");
        if (*end == '\0')
            break;
        p = end + 1;
    }
    static const char *const below[] = {"/proc", "/sys"};
    for (size_t i = 0; i < sizeof(below) / sizeof(below[0]); i++) {
        size_t n = strlen(below[i]);
        if (strncmp(path, below[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
            return agent_refuse(why, whylen, "%s is the guest's own", below[i]);
    }
    if (strcmp(path, "/dev") == 0)
        return agent_refuse(why, whylen,
                            "/dev is the guest's own (a path below it may be a tmpfs)");
    return 0;
}

int agent_tmpfs_parse(const char *spec, struct agent_tmpfs *t, char *why, size_t whylen)
{
    memset(t, 0, sizeof(*t));
    const char *colon = strchr(spec, ':');
    size_t plen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (plen > AGENT_TMPFS_PATH_MAX)
        return agent_refuse(why, whylen, "the path is longer than %d characters",
                            AGENT_TMPFS_PATH_MAX);
    memcpy(t->path, spec, plen);
    t->path[plen] = '\0';
    if (check_path(t->path, why, whylen) < 0)
        return -1;
    t->flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    bool mode_given = false;
    size_t dlen = 0;
    const char *p = colon ? colon + 1 : "";
    while (*p) {
        const char *end = strchrnul(p, ',');
        size_t n = (size_t)(end - p);
        char opt[64];
        if (n == 0)
            return agent_refuse(why, whylen, "an empty option");
        if (n >= sizeof(opt))
            return agent_refuse(why, whylen, "option '%.20s...' is too long", p);
        memcpy(opt, p, n);
        opt[n] = '\0';
        if (*end == ',' && end[1] == '\0')
            return agent_refuse(why, whylen, "an empty option");
        p = *end ? end + 1 : end;
        bool known = false;
        for (size_t i = 0; i < sizeof(flag_options) / sizeof(flag_options[0]) && !known; i++) {
            if (strcmp(opt, flag_options[i].name) == 0) {
                t->flags = (t->flags | flag_options[i].set) & ~flag_options[i].clear;
                known = true;
            }
        }
        if (known)
            continue;
        char *eq = strchr(opt, '=');
        if (eq) {
            *eq = '\0';
            for (size_t i = 0; i < sizeof(data_keys) / sizeof(data_keys[0]) && !known; i++)
                known = strcmp(opt, data_keys[i]) == 0;
            if (known && !value_ok(opt, eq + 1))
                return agent_refuse(why, whylen, "option %s=%s: not a valid value", opt, eq + 1);
            *eq = '=';
        }
        if (!known)
            return agent_refuse(why, whylen, "unknown option '%s'", opt);
        if (strncmp(opt, "mode=", 5) == 0)
            mode_given = true;
        int w = snprintf(t->data + dlen, sizeof(t->data) - dlen, "%s%s", dlen ? "," : "", opt);
        if (w < 0 || (size_t)w >= sizeof(t->data) - dlen)
            return agent_refuse(why, whylen, "too many options");
        dlen += (size_t)w;
    }
    if (!mode_given) {
        int w = snprintf(t->data + dlen, sizeof(t->data) - dlen, "%smode=1777", dlen ? "," : "");
        if (w < 0 || (size_t)w >= sizeof(t->data) - dlen)
            return agent_refuse(why, whylen, "too many options");
    }
    return 0;
}
