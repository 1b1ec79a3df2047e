/* cp's extraction of a tar a guest wrote (src/runtime/copy_tar.c): whatever the bytes,
 * only the scratch directory is written to, and only files, directories and symlinks,
 * all under the top name asked for. Each input is extracted into an empty directory,
 * then its result is walked (never following a link) and removed. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/copy_tar.h"

static char workdir[64];
static char outdir[96];

static void remove_workdir(void)
{
    rmdir(workdir);
}

/* Every entry left is a file, directory or symlink, and the scratch holds "t" or nothing. */
static int check_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag;
    if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode) && !S_ISLNK(st->st_mode))
        abort();
    if ((st->st_mode & (S_ISUID | S_ISGID)) != 0)
        abort(); /* set-id bits never come out of a guest */
    if (ftw->level == 1 && strcmp(path + ftw->base, "t") != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (workdir[0] == '\0') {
        snprintf(workdir, sizeof(workdir), "%s/sm-fuzz-copy-tar-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (mkdtemp(workdir) == NULL)
            abort();
        snprintf(outdir, sizeof(outdir), "%s/out", workdir);
        atexit(remove_workdir);
    }
    if (mkdir(outdir, 0700) < 0)
        abort();
    int fd = memfd_create("guest-tar", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0)
        abort();
    sm_error_t err = NULL;
    copy_tar_extract(fd, outdir, "t", "t", &err);
    sm_error_release(&err);
    if (lseek(fd, 0, SEEK_CUR) != (off_t)size)
        abort(); /* read to its end: the guest's side is never left blocked */
    close(fd);
    if (nftw(outdir, check_entry, 16, FTW_PHYS) != 0)
        abort();
    /* Nothing beside the scratch directory. */
    struct stat st;
    char beside[128];
    snprintf(beside, sizeof(beside), "%s/escape", workdir);
    if (lstat(beside, &st) == 0)
        abort();
    if (sm_remove_tree(outdir, &err) < 0)
        abort();
    return 0;
}
