/* supermachine pull: fetch an image from its registry into the store. */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

void cmd_pull_usage(FILE *out)
{
    fprintf(out,
            "Usage: supermachine pull [--platform OS/ARCH[/VARIANT]] [-q] NAME[:TAG|@DIGEST]\n\n"
            "Downloads an image from a registry (HTTPS; plain HTTP for loopback and the\n"
            "names in SUPERMACHINE_INSECURE_REGISTRIES), with credentials from\n"
            "~/.docker/config.json. Layers are fetched concurrently and verified.\n\n"
            "  --platform P   pick P from a multi-platform image (default: the host's)\n"
            "  -q, --quiet    print only the image reference\n");
}

int cmd_pull(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"platform", required_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    struct sm_pull_options opts = {.progress = -1};
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            opts.platform = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        default:
            return cli_option_error("pull", c, argv);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("pull: requires exactly one image reference");
    const char *ref = argv[optind];
    if (quiet)
        opts.progress = 0;
    sm_error_t err = NULL;
    char *digest = NULL;
    if (!quiet && strchr(ref, '@') == NULL &&
        strchr(strrchr(ref, '/') ? strrchr(ref, '/') : ref, ':') == NULL)
        printf("Using default tag: latest\n");
    fflush(stdout);
    if (sm_image_pull(ref, &opts, &digest, &err) < 0)
        return cli_fail(&err);
    if (quiet) {
        printf("%s\n", ref);
    } else {
        printf("Digest: %s\n", digest);
        printf("Status: Downloaded image for %s\n", ref);
    }
    free(digest);
    return 0;
}
