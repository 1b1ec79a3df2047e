/* supermachine logs: a VM's main process output, as docker logs. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"

/* Digits (at most max of them) into *v; the count taken, 0 when none. */
static int digits(const char *s, int max, int64_t *v)
{
    int n = 0;
    *v = 0;
    while (n < max && s[n] >= '0' && s[n] <= '9')
        *v = *v * 10 + (s[n++] - '0');
    return n;
}

/* A fraction of a second after its dot: nanoseconds (digits past nine ignored). */
static int fraction_ns(const char *s, int64_t *ns)
{
    int64_t v;
    int n = digits(s, 9, &v);
    for (int i = n; i < 9; i++)
        v *= 10;
    *ns = v;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

/* docker's --since and --until: a duration back from now ("10m", "1h30m", "90s",
 * "1.5h", units ns us ms s m h), unix seconds ("1764000000", "1764000000.5"), or an RFC
 * 3339 date and time ("2026-12-06", "2026-12-06T16:56:57", with ".123", "Z" or
 * "+01:00"; without a zone, this machine's local time). 0, or -1 when s is none. */
static int parse_when(const char *s, int64_t now_ns, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t ns;
    } units[] = {{"ns", 1},           {"us", 1000},         {"ms", 1000000},
                 {"s", 1000000000LL}, {"m", 60000000000LL}, {"h", 3600000000000LL}};
    const size_t nunits = sizeof(units) / sizeof(units[0]);
    int64_t v, frac;
    int n = digits(s, 18, &v);
    if (n == 0)
        return -1;
    /* Unix seconds, maybe with a fraction. */
    if (s[n] == '\0' || (s[n] == '.' && s[n + 1] >= '0' && s[n + 1] <= '9' &&
                         s[n + 1 + fraction_ns(s + n + 1, &frac)] == '\0')) {
        if (s[n] == '\0')
            frac = 0;
        if (v > INT64_MAX / 1000000000 - 1)
            return -1;
        *out = v * 1000000000 + frac;
        return 0;
    }
    /* A duration: groups of a number and a unit. */
    if (!(n == 4 && s[4] == '-')) {
        int64_t total = 0;
        const char *p = s;
        while (*p) {
            int k = digits(p, 12, &v);
            if (k == 0)
                return -1;
            p += k;
            frac = 0;
            int fdigits = 0;
            if (*p == '.') {
                fdigits = fraction_ns(p + 1, &frac);
                if (fdigits == 0)
                    return -1;
                p += 1 + fdigits;
            }
            size_t u = 0, best = nunits;
            for (u = 0; u < nunits; u++) /* the longest unit that fits */
                if (strncmp(p, units[u].unit, strlen(units[u].unit)) == 0 &&
                    (best == nunits || strlen(units[u].unit) > strlen(units[best].unit)))
                    best = u;
            if (best == nunits)
                return -1;
            /* frac is nanoseconds of one unit's worth in 1e-9 parts */
            __int128 add =
                (__int128)v * units[best].ns + (__int128)frac * units[best].ns / 1000000000;
            if (add > INT64_MAX - (__int128)total)
                return -1;
            total += (int64_t)add;
            p += strlen(units[best].unit);
        }
        *out = now_ns - total > 0 ? now_ns - total : 1;
        return 0;
    }
    /* An RFC 3339 date, maybe with a time and a zone. */
    int64_t year = v, mon, day, hour = 0, min = 0, sec = 0;
    const char *p = s + 4;
    if (n != 4 || *p++ != '-' || digits(p, 2, &mon) != 2 || p[2] != '-' ||
        digits(p + 3, 2, &day) != 2)
        return -1;
    p += 5;
    frac = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        if (digits(p + 1, 2, &hour) != 2 || p[3] != ':' || digits(p + 4, 2, &min) != 2)
            return -1;
        p += 6;
        if (*p == ':') {
            if (digits(p + 1, 2, &sec) != 2)
                return -1;
            p += 3;
            if (*p == '.') {
                int k = fraction_ns(p + 1, &frac);
                if (k == 0)
                    return -1;
                p += 1 + k;
            }
        }
    }
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = (int)(year - 1900),
                    .tm_mon = (int)(mon - 1),
                    .tm_mday = (int)day,
                    .tm_hour = (int)hour,
                    .tm_min = (int)min,
                    .tm_sec = (int)sec,
                    .tm_isdst = -1};
    time_t t;
    if (*p == '\0') {
        t = mktime(&tm); /* local time */
    } else {
        int64_t zh = 0, zm = 0;
        int sign = 0;
        if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
            sign = 1;
        else if ((*p == '+' || *p == '-') && digits(p + 1, 2, &zh) == 2 && p[3] == ':' &&
                 digits(p + 4, 2, &zm) == 2 && p[6] == '\0' && zh < 24 && zm < 60)
            sign = *p == '+' ? 1 : -1;
        else
            return -1;
        t = timegm(&tm) - sign * (time_t)(zh * 3600 + zm * 60);
    }
    if (t == (time_t)-1 || t < 0)
        return -1;
    *out = (int64_t)t * 1000000000 + frac;
    return 0;
}

void cmd_logs_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine logs [-f] [-t] [-n N] [--since WHEN] [--until WHEN] VM\n\n"
                 "Prints what the VM's main process wrote (stdout and stderr), attached or\n"
                 "detached (-d); nothing for a run with --rm, whose record goes with it.\n\n"
                 "  -f, --follow       then print its new output as it comes, until the VM stops\n"
                 "  -n, --tail N       begin with only the last N lines (default: all)\n"
                 "  -t, --timestamps   begin each line with the time it came (RFC 3339, UTC)\n"
                 "      --since WHEN   only lines that came at WHEN or later\n"
                 "      --until WHEN   only lines that came at WHEN or earlier\n\n"
                 "WHEN is a duration back from now (10m, 1h30m, 90s, 1.5h), unix seconds, or\n"
                 "an RFC 3339 date and time (2026-12-06, 2026-12-06T16:56:57Z, with .123 or\n"
                 "+01:00; without a zone, local time).\n");
}

int cmd_logs(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"follow", no_argument, NULL, 'f'},      {"tail", required_argument, NULL, 'n'},
        {"timestamps", no_argument, NULL, 't'},  {"since", required_argument, NULL, 'S'},
        {"until", required_argument, NULL, 'U'}, {NULL, 0, NULL, 0},
    };
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    struct sm_logs_options o = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:fn:t", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            o.follow = 1;
            break;
        case 'n': {
            if (strcmp(optarg, "all") == 0) {
                o.tail = 0;
                break;
            }
            char *end;
            errno = 0;
            unsigned long long n = strtoull(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end || errno)
                return cli_usage_error("logs: --tail %s: want a number of lines or 'all'", optarg);
            o.tail = 1;
            o.tail_lines = n;
            break;
        }
        case 't':
            o.timestamps = 1;
            break;
        case 'S':
        case 'U':
            if (parse_when(optarg, now_ns, c == 'S' ? &o.since_ns : &o.until_ns) < 0)
                return cli_usage_error("logs: --%s %s: want a duration (10m), unix seconds or an "
                                       "RFC 3339 time (2026-12-06T16:56:57Z)",
                                       c == 'S' ? "since" : "until", optarg);
            break;
        default:
            return cli_option_error("logs", c, argv);
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("logs: want exactly one VM; see 'supermachine logs --help'");
    sm_error_t err = NULL;
    fflush(stdout);
    if (sm_vm_logs_with(argv[optind], 1, &o, &err) < 0)
        return cli_fail(&err);
    return 0;
}
