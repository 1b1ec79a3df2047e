/* docker's -u USER[:GROUP] resolved in the container's own /etc/passwd and /etc/group,
 * read as files: a static init has no NSS, and the image's databases are what count. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest.h"

static bool all_digits(const char *s)
{
    return *s && strspn(s, "0123456789") == strlen(s);
}

static bool parse_id(const char *s, unsigned long *out)
{
    if (!all_digits(s) || strlen(s) > 10)
        return false;
    *out = strtoul(s, NULL, 10);
    return *out <= 0xfffffffeul;
}

/* Splits a colon-separated line in place into at most n fields. */
static int split(char *line, char **f, int n)
{
    int i = 0;
    f[i++] = line;
    for (char *p = line; *p && i < n; p++) {
        if (*p == ':') {
            *p = '\0';
            f[i++] = p + 1;
        }
    }
    return i;
}

/* passwd entry by name or uid: fills uid, gid, home; false if absent. */
static bool find_passwd(const char *name, unsigned long uid, bool by_uid, struct guest_user *u,
                        char *name_out, size_t name_len)
{
    FILE *f = fopen("/etc/passwd", "re");
    if (f == NULL)
        return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *fl[7];
        unsigned long id, gid;
        if (split(line, fl, 7) < 7 || !parse_id(fl[2], &id) || !parse_id(fl[3], &gid))
            continue;
        if (by_uid ? id == uid : strcmp(fl[0], name) == 0) {
            u->uid = (uid_t)id;
            u->gid = (gid_t)gid;
            snprintf(u->home, sizeof(u->home), "%s", fl[5]);
            snprintf(name_out, name_len, "%s", fl[0]);
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* Group by name (or number): its gid; and, for a user name, the supplementary groups
 * that list it. */
static bool find_group(const char *group, gid_t *gid)
{
    unsigned long id;
    if (parse_id(group, &id)) {
        *gid = (gid_t)id;
        return true;
    }
    FILE *f = fopen("/etc/group", "re");
    if (f == NULL)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *fl[4];
        if (split(line, fl, 4) < 3 || !parse_id(fl[2], &id))
            continue;
        if (strcmp(fl[0], group) == 0) {
            *gid = (gid_t)id;
            found = true;
        }
    }
    fclose(f);
    return found;
}

static void supplementary_groups(const char *user, struct guest_user *u)
{
    u->ngroups = 0;
    u->groups[u->ngroups++] = u->gid;
    FILE *f = fopen("/etc/group", "re");
    if (f == NULL || user[0] == '\0') {
        if (f)
            fclose(f);
        return;
    }
    char line[4096];
    while (fgets(line, sizeof(line), f) &&
           u->ngroups < (int)(sizeof(u->groups) / sizeof(u->groups[0]))) {
        line[strcspn(line, "\n")] = '\0';
        char *fl[4];
        unsigned long id;
        if (split(line, fl, 4) < 4 || !parse_id(fl[2], &id) || (gid_t)id == u->gid)
            continue;
        for (char *m = strtok(fl[3], ","); m; m = strtok(NULL, ",")) {
            if (strcmp(m, user) == 0) {
                u->groups[u->ngroups++] = (gid_t)id;
                break;
            }
        }
    }
    fclose(f);
}

int guest_resolve_user(const char *spec, struct guest_user *u, char *why, size_t whylen)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", spec && *spec ? spec : "0");
    char *group = strchr(buf, ':');
    if (group)
        *group++ = '\0';
    memset(u, 0, sizeof(*u));
    snprintf(u->home, sizeof(u->home), "/");
    char name[128] = "";
    unsigned long id;
    if (parse_id(buf, &id)) {
        /* A number need not be in passwd (docker runs it with gid 0 then). */
        if (!find_passwd(NULL, id, true, u, name, sizeof(name))) {
            u->uid = (uid_t)id;
            u->gid = 0;
            if (id == 0)
                snprintf(u->home, sizeof(u->home), "/root");
        }
    } else if (!find_passwd(buf, 0, false, u, name, sizeof(name))) {
        snprintf(why, whylen, "unable to find user %s: no matching entries in passwd file", buf);
        return -1;
    }
    if (group) {
        gid_t g;
        if (!find_group(group, &g)) {
            snprintf(why, whylen, "unable to find group %s: no matching entries in group file",
                     group);
            return -1;
        }
        u->gid = g;
        u->ngroups = 1;
        u->groups[0] = g;
        return 0;
    }
    supplementary_groups(name, u);
    return 0;
}

bool guest_user_name(uid_t uid, char *out, size_t len)
{
    struct guest_user u;
    return find_passwd(NULL, uid, true, &u, out, len);
}
