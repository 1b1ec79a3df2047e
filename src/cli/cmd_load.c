/* supermachine load: import a `docker save` tarball or an OCI layout archive. */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

void cmd_load_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine load -i FILE [-q]\n\n"
                 "Loads images from a tar archive written by `docker save` or holding an OCI\n"
                 "image layout (oci-layout, index.json, blobs/), optionally compressed.\n\n"
                 "  -i, --input FILE   the archive to read\n"
                 "  -q, --quiet        print nothing on success\n");
}

int cmd_load(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    const char *input = NULL;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:i:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            input = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        default:
            return cli_option_error("load", c, argv);
        }
    }
    if (input == NULL || optind != argc)
        return cli_usage_error("load: requires -i FILE (reading stdin is not supported)");
    sm_error_t err = NULL;
    char **names = NULL;
    if (sm_image_load(input, &names, &err) < 0)
        return cli_fail(&err);
    for (char **n = names; !quiet && *n; n++) {
        if (strncmp(*n, "sha256:", 7) == 0)
            printf("Loaded image ID: %s\n", *n);
        else
            printf("Loaded image: %s\n", *n);
    }
    sm_strv_free(names);
    return 0;
}
