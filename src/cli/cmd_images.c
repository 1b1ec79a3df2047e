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
    while ((c = getopt_long(argc, argv, "+:q", longopts, NULL)) != -1) {
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
            return cli_option_error("images", c, argv);
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
        cli_human_age(l[i].created, age, sizeof(age));
        cli_human_size(l[i].size, size, sizeof(size));
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
