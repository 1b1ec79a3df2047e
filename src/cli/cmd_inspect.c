/* supermachine inspect: the image's config and metadata as a JSON array, as docker. */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

void cmd_inspect_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine inspect IMAGE [IMAGE...]\n\n"
                 "Prints a JSON array with one object per image: Id, RepoTags, RepoDigests,\n"
                 "Created, Architecture, Os, Config (Entrypoint, Cmd, Env, ...), RootFS, Size.\n");
}

int cmd_inspect(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("inspect: requires at least one image");
    char **docs = calloc((size_t)argc, sizeof(char *));
    if (docs == NULL)
        abort();
    int status = 0, n = 0;
    for (int i = 1; i < argc; i++) {
        sm_error_t err = NULL;
        if (sm_image_inspect(argv[i], &docs[n], &err) < 0) {
            status = cli_fail(&err);
            continue;
        }
        n++;
    }
    printf("[");
    for (int i = 0; i < n; i++) {
        printf("%s\n%s", i ? "," : "", docs[i]);
        free(docs[i]);
    }
    printf("%s]\n", n ? "\n" : "");
    free(docs);
    return status;
}
