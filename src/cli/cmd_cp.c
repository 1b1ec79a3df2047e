/* supermachine cp: copy files and directories into or out of a running VM, as docker cp
 * ("-" is a tar stream on stdin or stdout). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

void cmd_cp_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine cp VM:SRC_PATH DEST_PATH|-\n"
                 "       supermachine cp SRC_PATH|- VM:DEST_PATH\n\n"
                 "Copies a file, a symlink or a whole directory between this host and a running\n"
                 "VM, as docker cp does. Paths in the VM start at its root.\n\n"
                 "  - A file goes into DEST_PATH if it is a directory (under its own name),\n"
                 "    else it becomes DEST_PATH (a DEST_PATH ending in / must be a directory).\n"
                 "  - A directory goes into DEST_PATH if it is one, else it becomes DEST_PATH;\n"
                 "    SRC_PATH/. copies its contents instead. A directory never goes onto a file.\n"
                 "  - '-' as SRC_PATH reads a tar archive from stdin and extracts it into the\n"
                 "    VM's directory DEST_PATH; '-' as DEST_PATH writes a tar of SRC_PATH.\n\n"
                 "Symlinks are copied as links. Files copied in belong to root and keep their\n"
                 "modes and times; copied out they belong to you, without set-id bits, and\n"
                 "appear whole or not at all.\n");
}

/* "VM:/path" -> VM and path; NULL when arg names a local file. */
static char *split_vm(const char *arg, const char **path)
{
    const char *colon = strchr(arg, ':');
    if (colon == NULL || colon == arg || (strchr(arg, '/') && strchr(arg, '/') < colon))
        return NULL; /* "./a:b" or "/x:y" are local paths */
    *path = colon + 1;
    return strndup(arg, (size_t)(colon - arg));
}

int cmd_cp(int argc, char **argv)
{
    static const struct option longopts[] = {{NULL, 0, NULL, 0}};
    optind = 1;
    int c = getopt_long(argc, argv, "+:", longopts, NULL);
    if (c != -1)
        return cli_option_error("cp", c, argv);
    if (argc - optind != 2)
        return cli_usage_error("cp: want a source and a destination; see 'supermachine cp --help'");
    const char *src = argv[optind], *dst = argv[optind + 1];
    const char *src_path = NULL, *dst_path = NULL;
    char *src_vm = split_vm(src, &src_path), *dst_vm = split_vm(dst, &dst_path);
    sm_error_t err = NULL;
    int r;
    if ((src_vm == NULL) == (dst_vm == NULL)) {
        free(src_vm);
        free(dst_vm);
        return cli_usage_error("cp: one side must be VM:PATH, the other a local path or -");
    }
    fflush(stdout);
    if (src_vm)
        r = strcmp(dst, "-") == 0 ? sm_vm_tar_out(src_vm, src_path, 1, &err)
                                  : sm_vm_cp_out(src_vm, src_path, dst, &err);
    else
        r = strcmp(src, "-") == 0 ? sm_vm_tar_in(dst_vm, 0, dst_path, &err)
                                  : sm_vm_cp_in(dst_vm, src, dst_path, &err);
    free(src_vm);
    free(dst_vm);
    return r < 0 ? cli_fail(&err) : 0;
}
