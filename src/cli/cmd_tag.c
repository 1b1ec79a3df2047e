/* supermachine tag: another name for an image, as docker tag. */
#include "cli/commands.h"

void cmd_tag_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine tag SOURCE_IMAGE TARGET_IMAGE[:TAG]\n\n"
                 "Names the image SOURCE_IMAGE names (a reference, an image ID or a manifest\n"
                 "digest) also TARGET_IMAGE. An image that had the target name before keeps\n"
                 "its other names; one left with none is removed by the next rmi.\n");
}

int cmd_tag(int argc, char **argv)
{
    if (argc != 3)
        return cli_usage_error("tag: want a source image and a target name; see 'supermachine "
                               "tag --help'");
    sm_error_t err = NULL;
    if (sm_image_tag(argv[1], argv[2], &err) < 0)
        return cli_fail(&err);
    return 0;
}
