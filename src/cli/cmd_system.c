/* supermachine system df and system prune: the store's disk use, and removing what no
 * running VM needs, as docker system df and docker system prune. */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

void cmd_system_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine system df\n"
                 "       supermachine system prune [-a] [-f]\n\n"
                 "df shows what the store takes on disk (allocated blocks: snapshots' memory\n"
                 "files are sparse), as docker system df: images (active: a VM's record names\n"
                 "it), VMs (active: running), snapshots (init-ready and workload-ready; active:\n"
                 "a running VM restored or bakes it) and caches (root filesystem images,\n"
                 "initramfs files, downloads left over), and how much prune would free.\n\n"
                 "prune removes the records of VMs that ended and every snapshot and cache no\n"
                 "running VM uses; the store makes them again when a run needs them (its next\n"
                 "run of an image boots and bakes the snapshot again). Runs, pulls and loads\n"
                 "wait while it works.\n"
                 "  -a, --all     also images no VM's record names, and their layers\n"
                 "  -f, --force   do not ask first\n");
}

/* docker's units.HumanSize: decimal units, 4 significant digits. */
static void size_text(int64_t v, char *out, size_t n)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    double d = (double)(v > 0 ? v : 0);
    size_t u = 0;
    while (d >= 1000 && u + 1 < sizeof(units) / sizeof(units[0])) {
        d /= 1000;
        u++;
    }
    snprintf(out, n, "%.4g%s", d, units[u]);
}

static void df_row(struct cli_template_buf *b, const char *type, const struct sm_disk_usage_kind *k)
{
    char size[32], reclaim[32], line[160];
    size_text(k->bytes, size, sizeof(size));
    size_text(k->reclaimable, reclaim, sizeof(reclaim));
    int len;
    if (k->bytes > 0)
        len = snprintf(line, sizeof(line), "%s\t%lld\t%lld\t%s\t%s (%d%%)\n", type,
                       (long long)k->total, (long long)k->active, size, reclaim,
                       (int)(100 * k->reclaimable / k->bytes));
    else
        len = snprintf(line, sizeof(line), "%s\t%lld\t%lld\t%s\t%s\n", type, (long long)k->total,
                       (long long)k->active, size, reclaim);
    cli_template_buf_add(b, line, (size_t)len);
}

static int df(int argc, char **argv)
{
    if (argc > 2)
        return cli_usage_error("system df: unexpected argument '%s'", argv[2]);
    struct sm_disk_usage u;
    sm_error_t err = NULL;
    if (sm_system_df(&u, &err) < 0)
        return cli_fail(&err);
    struct cli_template_buf b = {0};
    static const char header[] = "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE\n";
    cli_template_buf_add(&b, header, sizeof(header) - 1);
    df_row(&b, "Images", &u.images);
    df_row(&b, "VMs", &u.vms);
    df_row(&b, "Snapshots", &u.snapshots);
    df_row(&b, "Caches", &u.caches);
    cli_tabwrite_min(stdout, b.data, b.len, 10);
    cli_template_buf_free(&b);
    return 0;
}

static void print_list(const char *title, char **v, const char *prefix)
{
    if (v == NULL || v[0] == NULL)
        return;
    printf("%s:\n", title);
    for (char **p = v; *p; p++)
        printf("%s%s\n", prefix, *p);
    printf("\n");
}

static int prune(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"all", no_argument, NULL, 'a'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sm_prune_options o = {0};
    bool force = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "+:afh", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            o.all = 1;
            break;
        case 'f':
            force = true;
            break;
        case 'h':
            cmd_system_usage(stdout);
            return 0;
        default:
            return cli_option_error("system prune", c, argv + 1);
        }
    }
    if (optind < argc - 1)
        return cli_usage_error("system prune: unexpected argument '%s'", argv[optind + 1]);
    if (!force) {
        fprintf(stderr,
                "WARNING! This will remove:\n"
                "  - all VMs that ended\n"
                "  - all snapshots and caches no running VM uses\n%s"
                "Are you sure you want to continue? [y/N] ",
                o.all ? "  - all images no VM's record names\n" : "");
        char answer[16] = "";
        if (fgets(answer, sizeof(answer), stdin) == NULL ||
            (strcmp(answer, "y\n") != 0 && strcmp(answer, "Y\n") != 0 &&
             strcmp(answer, "yes\n") != 0))
            return 0;
    }
    struct sm_prune_report r;
    sm_error_t err = NULL;
    if (sm_system_prune(&o, &r, &err) < 0)
        return cli_fail(&err);
    print_list("Deleted VMs", r.vms, "");
    print_list("Deleted snapshots", r.snapshots, "");
    print_list("Deleted caches", r.caches, "");
    print_list("Deleted Images", r.images, "untagged: ");
    char total[32];
    size_text(r.reclaimed, total, sizeof(total));
    printf("Total reclaimed space: %s\n", total);
    sm_prune_report_free(&r);
    return 0;
}

int cmd_system(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("system: want df or prune; see 'supermachine system --help'");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        cmd_system_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "df") == 0)
        return df(argc, argv);
    if (strcmp(argv[1], "prune") == 0)
        return prune(argc, argv);
    return cli_usage_error("system: unknown command '%s'; see 'supermachine system --help'",
                           argv[1]);
}
