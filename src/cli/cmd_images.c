/* supermachine images: list the images in the store, as docker does. */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"

void cmd_images_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine images [-q] [--digests] [--no-trunc]\n\n"
                 "Lists the images in the store.\n\n"
                 "  -q, --quiet    only image IDs\n"
                 "  --digests      show manifest digests\n"
                 "  --no-trunc     full image IDs\n");
}

static void human_size(uint64_t v, char *out, size_t n)
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

static void human_age(int64_t created, char *out, size_t n)
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

int cmd_images(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"digests", no_argument, NULL, 'd'},
        {"no-trunc", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    bool quiet = false, digests = false, notrunc = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+q", longopts, NULL)) != -1) {
        switch (c) {
        case 'q':
            quiet = true;
            break;
        case 'd':
            digests = true;
            break;
        case 'n':
            notrunc = true;
            break;
        default:
            return cli_usage_error("images: see 'supermachine images --help'");
        }
    }
    if (optind != argc)
        return cli_usage_error("images: filtering by name is not supported");
    sm_error_t err = NULL;
    struct sm_image_info *l = NULL;
    size_t n = 0;
    if (sm_image_list(&l, &n, &err) < 0)
        return cli_fail(&err);
    if (!quiet)
        printf("%-40s %-12s %s%-*s %-24s %s\n", "REPOSITORY", "TAG",
               digests ? "DIGEST                                                                   "
                       : "",
               notrunc ? 72 : 13, "IMAGE ID", "CREATED", "SIZE");
    for (size_t i = 0; i < n; i++) {
        const char *id = l[i].id;
        char shortid[16];
        snprintf(shortid, sizeof(shortid), "%.12s", id + 7);
        if (quiet) {
            printf("%s\n", notrunc ? id : shortid);
            continue;
        }
        char age[48], size[32];
        human_age(l[i].created, age, sizeof(age));
        human_size(l[i].size, size, sizeof(size));
        if (digests)
            printf("%-40s %-12s %-72s %-*s %-24s %s\n", l[i].repository, l[i].tag,
                   l[i].manifest_digest, notrunc ? 72 : 13, notrunc ? id : shortid, age, size);
        else
            printf("%-40s %-12s %-*s %-24s %s\n", l[i].repository, l[i].tag, notrunc ? 72 : 13,
                   notrunc ? id : shortid, age, size);
    }
    sm_image_list_free(l, n);
    return 0;
}
