/* supermachine cp: copy a regular file into or out of a running VM, as docker cp
 * (one file; "-" is stdin or stdout). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"

void cmd_cp_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine cp [OPTIONS] VM:GUEST_PATH LOCAL_PATH|-\n"
                 "       supermachine cp [OPTIONS] LOCAL_PATH|- VM:GUEST_PATH\n\n"
                 "Copies one regular file between the host and a running VM. GUEST_PATH is\n"
                 "absolute; a file copied in appears whole (written beside, then renamed),\n"
                 "owned by root, with the local file's mode (0644 from stdin).\n\n"
                 "  -m, --mode MODE  the guest file's mode (octal) when copying in\n");
}

/* "VM:/path" -> VM and path; NULL when arg names a local file. */
static char *split_vm(const char *arg, const char **path)
{
    const char *colon = strchr(arg, ':');
    if (colon == NULL || colon == arg || strchr(arg, '/') < colon)
        return NULL; /* "./a:b" or "/x:y" are local paths */
    *path = colon + 1;
    return strndup(arg, (size_t)(colon - arg));
}

static int copy_in(const char *local, const char *vm, const char *path, long mode)
{
    int fd = strcmp(local, "-") == 0 ? 0 : open(local, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return cli_usage_error("cp: %s: %s", local, strerror(errno));
    if (fd != 0 && !S_ISREG(st.st_mode)) {
        close(fd);
        return cli_usage_error("cp: %s: not a regular file", local);
    }
    if (mode < 0)
        mode = fd != 0 ? (long)(st.st_mode & 07777) : 0644;
    sm_error_t err = NULL;
    int r = sm_vm_copy_in(vm, path, fd, (unsigned)mode, &err);
    if (fd != 0)
        close(fd);
    return r < 0 ? cli_fail(&err) : 0;
}

/* Out to a local file through a temporary beside it: a failed copy leaves nothing. */
static int copy_out(const char *vm, const char *path, const char *local)
{
    sm_error_t err = NULL;
    if (strcmp(local, "-") == 0)
        return sm_vm_copy_out(vm, path, 1, &err) < 0 ? cli_fail(&err) : 0;
    struct stat st;
    char *target = NULL;
    if (stat(local, &st) == 0 && S_ISDIR(st.st_mode)) {
        const char *base = strrchr(path, '/');
        if (asprintf(&target, "%s/%s", local, base ? base + 1 : path) < 0)
            abort();
    } else {
        target = strdup(local);
    }
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.sm-tmp-%d", target, (int)getpid()) < 0)
        abort();
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int status = 0;
    if (fd < 0) {
        status = cli_usage_error("cp: %s: %s", target, strerror(errno));
    } else if (sm_vm_copy_out(vm, path, fd, &err) < 0) {
        status = cli_fail(&err);
    } else if (fsync(fd) < 0 || rename(tmp, target) < 0) {
        status = cli_usage_error("cp: %s: %s", target, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    if (status != 0)
        unlink(tmp);
    free(tmp);
    free(target);
    return status;
}

int cmd_cp(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"mode", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    long mode = -1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+m:", longopts, NULL)) != -1) {
        char *end;
        if (c != 'm' || (mode = strtol(optarg, &end, 8), *end) || mode < 0 || mode > 07777)
            return cli_usage_error("cp: see 'supermachine cp --help'");
    }
    if (argc - optind != 2)
        return cli_usage_error("cp: want a source and a destination; see 'supermachine cp --help'");
    const char *src = argv[optind], *dst = argv[optind + 1];
    const char *src_path = NULL, *dst_path = NULL;
    char *src_vm = split_vm(src, &src_path), *dst_vm = split_vm(dst, &dst_path);
    int status;
    if ((src_vm == NULL) == (dst_vm == NULL))
        status = cli_usage_error("cp: one side must be VM:PATH, the other a local path");
    else if (src_vm)
        status = copy_out(src_vm, src_path, dst);
    else
        status = copy_in(src, dst_vm, dst_path, mode);
    free(src_vm);
    free(dst_vm);
    return status;
}
