/* supermachine rmi: remove images (names, or image IDs) and collect unused blobs. */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

void cmd_rmi_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine rmi IMAGE [IMAGE...]\n\n"
                 "Removes image references; given an image ID, every reference to it. Blobs\n"
                 "and root filesystem images nothing needs any more are deleted.\n");
}

int cmd_rmi(int argc, char **argv)
{
    int first = 1;
    if (argc > 1 && (strcmp(argv[1], "-f") == 0 || strcmp(argv[1], "--force") == 0))
        first = 2; /* accepted for docker compatibility: removal never needs forcing */
    if (argc <= first)
        return cli_usage_error("rmi: requires at least one image");
    int status = 0;
    for (int i = first; i < argc; i++) {
        sm_error_t err = NULL;
        char **removed = NULL;
        if (sm_image_remove(argv[i], &removed, &err) < 0) {
            status = cli_fail(&err);
            continue;
        }
        for (char **r = removed; *r; r++)
            printf("Untagged: %s\n", *r);
        sm_strv_free(removed);
    }
    return status;
}
