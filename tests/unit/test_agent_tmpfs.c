/* docker's --tmpfs as agent_tmpfs_parse takes it, on the host and in the guest: the
 * defaults docker uses, each option's flag, tmpfs's own options with their values, and
 * every kind of bad spec refused with a reason and nothing half set. */
#include <string.h>
#include <sys/mount.h>

#include "agent/agent_tmpfs.h"
#include "check.h"

int main(void)
{
    struct agent_tmpfs t;
    char why[256];
    const unsigned long docker = MS_NOSUID | MS_NODEV | MS_NOEXEC;

    CHECK(agent_tmpfs_parse("/tmp", &t, why, sizeof(why)) == 0);
    CHECK(strcmp(t.path, "/tmp") == 0 && t.flags == docker && strcmp(t.data, "mode=1777") == 0);

    CHECK(agent_tmpfs_parse("/run/app:rw,exec,size=64m,uid=1000,gid=1000", &t, why, sizeof(why)) ==
          0);
    CHECK(strcmp(t.path, "/run/app") == 0 && t.flags == (MS_NOSUID | MS_NODEV));
    CHECK(strcmp(t.data, "size=64m,uid=1000,gid=1000,mode=1777") == 0);

    CHECK(agent_tmpfs_parse("/data:ro,suid,dev,mode=0700,nr_inodes=1k", &t, why, sizeof(why)) == 0);
    CHECK(t.flags == (MS_NOEXEC | MS_RDONLY) && strcmp(t.data, "mode=0700,nr_inodes=1k") == 0);

    CHECK(agent_tmpfs_parse("/x:noatime,strictatime,relatime,sync,dirsync,size=50%", &t, why,
                            sizeof(why)) == 0);
    CHECK(t.flags == (docker | MS_NOATIME | MS_RELATIME | MS_SYNCHRONOUS | MS_DIRSYNC));
    CHECK(strcmp(t.data, "size=50%,mode=1777") == 0);
    CHECK(agent_tmpfs_parse("/dev/shm:size=1g", &t, why, sizeof(why)) == 0); /* below /dev: yes */
    CHECK(agent_tmpfs_parse("/my dir", &t, why, sizeof(why)) == 0 &&
          strcmp(t.path, "/my dir") == 0);

    static const char *const bad[] = {
        "",
        "tmp",
        "/",
        ":size=1m",
        "/proc",
        "/proc/sys",
        "/sys",
        "/sys/fs/cgroup",
        "/dev",
        "/a/../etc",
        "/a/./b",
        "/a//b",
        "/a/",
        "/a\nb",
        "/tmp:size=1m,",
        "/tmp:,size=1m",
        "/tmp:bogus",
        "/tmp:size=",
        "/tmp:size=1x",
        "/tmp:size=-1",
        "/tmp:size=1m1",
        "/tmp:mode=0800",
        "/tmp:mode=abc",
        "/tmp:mode=123456",
        "/tmp:uid=root",
        "/tmp:uid=12345678901",
        "/tmp:nr_inodes=1%",
        "/tmp:size=1m,mode=1777\nx",
        "/tmp:huge=always",
        "/tmp:remount",
        "/tmp:bind",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        int r = agent_tmpfs_parse(bad[i], &t, why, sizeof(why));
        if (r == 0)
            fprintf(stderr, "accepted --tmpfs '%s'\n", bad[i]);
        CHECK(r < 0 && why[0] != '\0');
    }
    /* Lengths: a 255-character path is the most; the options fill 255 characters at most. */
    char spec[1200];
    memset(spec, 'a', sizeof(spec));
    spec[0] = '/';
    spec[255] = '\0';
    CHECK(agent_tmpfs_parse(spec, &t, why, sizeof(why)) == 0 && strlen(t.path) == 255);
    spec[255] = 'a', spec[256] = '\0';
    CHECK(agent_tmpfs_parse(spec, &t, why, sizeof(why)) < 0);
    strcpy(spec, "/t:");
    for (int i = 0; i < 40; i++)
        strcat(spec, i ? ",size=1m" : "size=1m");
    CHECK(agent_tmpfs_parse(spec, &t, why, sizeof(why)) < 0 && strstr(why, "too many") != NULL);
    CHECK(agent_tmpfs_parse("/t:x", &t, NULL, 0) < 0); /* no reason wanted: none written */
    return check_summary("agent_tmpfs");
}
