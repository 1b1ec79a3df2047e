/* supermachine export: the image's flattened filesystem as a tar (like crane export). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"

void cmd_export_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine export [-o FILE] IMAGE\n\n"
                 "Writes the image's filesystem, all layers applied, as a tar archive on\n"
                 "stdout (or to FILE).\n\n"
                 "  -o, --output FILE   write to FILE instead of stdout\n");
}

int cmd_export(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        default:
            return cli_option_error("export", c, argv);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("export: requires exactly one image");
    int fd = STDOUT_FILENO;
    if (output) {
        fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            return cli_usage_error("export: create %s: %s", output, strerror(errno));
    } else if (isatty(fd)) {
        return cli_usage_error("export: refusing to write a tar archive to a terminal; "
                               "redirect stdout or use -o");
    }
    sm_error_t err = NULL;
    int r = sm_image_export(argv[optind], fd, &err);
    if (output)
        close(fd);
    if (r < 0) {
        if (output)
            unlink(output);
        return cli_fail(&err);
    }
    return 0;
}
