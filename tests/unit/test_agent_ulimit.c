/* docker's --ulimit as agent_ulimit_parse takes it, on the host and in the guest: each
 * name to its resource, the hard limit defaulting to the soft one, -1 for unlimited, and
 * bad specs refused with a reason. */
#include <string.h>
#include <sys/resource.h>

#include "agent/agent_ulimit.h"
#include "check.h"

int main(void)
{
    struct agent_ulimit u;
    char why[256];
    CHECK(agent_ulimit_parse("nofile=1024:2048", &u, why, sizeof(why)) == 0);
    CHECK(u.resource == RLIMIT_NOFILE && u.limit.rlim_cur == 1024 && u.limit.rlim_max == 2048);
    CHECK(agent_ulimit_parse("nproc=64", &u, why, sizeof(why)) == 0);
    CHECK(u.resource == RLIMIT_NPROC && u.limit.rlim_cur == 64 && u.limit.rlim_max == 64);
    CHECK(agent_ulimit_parse("core=-1", &u, why, sizeof(why)) == 0);
    CHECK(u.resource == RLIMIT_CORE && u.limit.rlim_cur == RLIM_INFINITY &&
          u.limit.rlim_max == RLIM_INFINITY);
    CHECK(agent_ulimit_parse("stack=8388608:-1", &u, why, sizeof(why)) == 0);
    CHECK(u.resource == RLIMIT_STACK && u.limit.rlim_cur == 8388608 &&
          u.limit.rlim_max == RLIM_INFINITY);
    static const struct {
        const char *name;
        int resource;
    } all[] = {{"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
               {"data", RLIMIT_DATA},         {"fsize", RLIMIT_FSIZE},
               {"locks", RLIMIT_LOCKS},       {"memlock", RLIMIT_MEMLOCK},
               {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
               {"nofile", RLIMIT_NOFILE},     {"nproc", RLIMIT_NPROC},
               {"rss", RLIMIT_RSS},           {"rtprio", RLIMIT_RTPRIO},
               {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
               {"stack", RLIMIT_STACK}};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        char spec[64];
        snprintf(spec, sizeof(spec), "%s=7", all[i].name);
        CHECK(agent_ulimit_parse(spec, &u, why, sizeof(why)) == 0 && u.resource == all[i].resource);
    }
    static const char *const bad[] = {
        "",
        "nofile",
        "nofile=",
        "=5",
        "files=5",
        "nofile=a",
        "nofile=5:",
        "nofile=:5",
        "nofile=10:5",
        "nofile=-2",
        "nofile=1.5",
        "nofile=5:6:7",
        "NOFILE=5",
        "nofile =5",
        "nofile=-1:5",
        "nofile=123456789012345678901",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        int r = agent_ulimit_parse(bad[i], &u, why, sizeof(why));
        if (r == 0)
            fprintf(stderr, "accepted --ulimit '%s'\n", bad[i]);
        CHECK(r < 0 && why[0] != '\0');
    }
    CHECK(agent_ulimit_parse("x", &u, NULL, 0) < 0);
    return check_summary("agent_ulimit");
}
