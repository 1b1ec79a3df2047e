/* Human-readable sizes and ages, as docker prints them. */
#include <stdio.h>
#include <time.h>

#include "cli/commands.h"

void cli_human_size(uint64_t v, char *out, size_t n)
{
    if (v >= 1000000000ull)
        snprintf(out, n, "%.3gGB", (double)v / 1e9);
    else if (v >= 1000000)
        snprintf(out, n, "%.3gMB", (double)v / 1e6);
    else if (v >= 1000)
        snprintf(out, n, "%.3gkB", (double)v / 1e3);
    else
        snprintf(out, n, "%lluB", (unsigned long long)v);
}

void cli_human_binary_size(uint64_t v, char *out, size_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double d = (double)v;
    size_t u = 0;
    while (d >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        d /= 1024;
        u++;
    }
    snprintf(out, n, "%.4g%s", d, units[u]);
}

void cli_human_age(int64_t created, char *out, size_t n)
{
    if (created <= 0) {
        snprintf(out, n, "N/A");
        return;
    }
    int64_t d = (int64_t)time(NULL) - created;
    if (d < 0)
        d = 0;
    static const struct {
        int64_t secs;
        const char *unit;
    } units[] = {{365 * 86400, "year"}, {30 * 86400, "month"}, {7 * 86400, "week"},
                 {86400, "day"},        {3600, "hour"},        {60, "minute"}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        int64_t k = d / units[i].secs;
        if (k >= 1) {
            snprintf(out, n, "%lld %s%s ago", (long long)k, units[i].unit, k > 1 ? "s" : "");
            return;
        }
    }
    snprintf(out, n, "Less than a minute ago");
}
