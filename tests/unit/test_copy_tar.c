/* cp's host-side tar code (src/runtime/copy_tar.c, in the I/O plugin): a local tree made
 * into a tar that GNU tar reads back the same, and streams as a hostile guest could write
 * them (made with libarchive here) refused before anything lands outside the
 * destination. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "check.h"
#include "common/util.h"
#include "runtime/copy_tar.h"

static char tmpdir[] = "/tmp/sm-test-copy-tar-XXXXXX";

static int run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc;
}

/* The tree every round trip copies: nested directories, a long name, a symlink, an
 * empty file, a set-uid mode, a megabyte of random bytes. */
static void make_tree(const char *root)
{
    cleanup_free char *cmd =
        xasprintf("set -e; mkdir -p %1$s/a/b/c; echo hello >%1$s/a/hello; : >%1$s/a/empty;"
                  "head -c 1048576 /dev/urandom >%1$s/a/b/random; ln -s ../hello %1$s/a/b/link;"
                  "f=%1$s/a/b/c/$(printf 'n%%.0s' $(seq 1 150)); echo long >$f; chmod 0750 $f;"
                  "echo s >%1$s/a/suid; chmod 4755 %1$s/a/suid",
                  root);
    CHECK(run(cmd) == 0);
}

static void test_create_read_by_gnu_tar(void)
{
    cleanup_free char *src = xasprintf("%s/src", tmpdir);
    cleanup_free char *out = xasprintf("%s/out", tmpdir);
    cleanup_free char *tar = xasprintf("%s/a.tar", tmpdir);
    make_tree(src);
    cleanup_free char *dir = xasprintf("%s/a", src);
    int fd = open(tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    sm_error_t err = NULL;
    CHECK(copy_tar_create(dir, "renamed", fd, &err) == 0);
    close(fd);
    cleanup_free char *cmd =
        xasprintf("set -e; mkdir %1$s; tar -xpf %2$s -C %1$s; diff -r --no-dereference %3$s "
                  "%1$s/renamed; [ \"$(stat -c %%a %1$s/renamed/b/c/n*)\" = 750 ];"
                  "[ \"$(readlink %1$s/renamed/b/link)\" = ../hello ]",
                  out, tar, dir);
    CHECK(run(cmd) == 0);
    sm_error_release(&err);

    /* top "": the directory's contents, no entry for itself */
    fd = open(tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(copy_tar_create(dir, "", fd, &err) == 0);
    close(fd);
    free(cmd);
    cmd = xasprintf("tar -tf %s | grep -qx 'hello' && ! tar -tf %s | grep -q '^a/'", tar, tar);
    CHECK(run(cmd) == 0);
    free(cmd);
    /* a missing path is an error, not an empty tar */
    fd = open(tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cmd = xasprintf("%s/nope", tmpdir);
    CHECK(copy_tar_create(cmd, "x", fd, &err) < 0 && err != NULL);
    close(fd);
    sm_error_release(&err);
}

/* A guest's tar: the entries given, then extracted with top "t" into a fresh directory. */
struct entry {
    const char *name;
    mode_t type;
    unsigned perm;
    const char *data; /* contents, or a symlink's or hardlink's target */
    bool hardlink;
};

static int extract(const struct entry *es, size_t n, const char *into, sm_error_t *err)
{
    cleanup_free char *tar = xasprintf("%s/guest.tar", tmpdir);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (archive_write_open_filename(a, tar) != ARCHIVE_OK)
        abort();
    struct archive_entry *e = archive_entry_new();
    for (size_t i = 0; i < n; i++) {
        archive_entry_clear(e);
        archive_entry_set_pathname(e, es[i].name);
        archive_entry_set_filetype(e, es[i].type);
        archive_entry_set_perm(e, es[i].perm);
        if (es[i].hardlink)
            archive_entry_set_hardlink(e, es[i].data);
        else if (es[i].type == AE_IFLNK)
            archive_entry_set_symlink(e, es[i].data);
        size_t len =
            es[i].type == AE_IFREG && es[i].data && !es[i].hardlink ? strlen(es[i].data) : 0;
        archive_entry_set_size(e, (la_int64_t)len);
        if (es[i].type == AE_IFCHR)
            archive_entry_set_rdev(e, makedev(1, 3));
        archive_write_header(a, e);
        if (len)
            archive_write_data(a, es[i].data, len);
    }
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    CHECK(mkdir(into, 0700) == 0);
    int fd = open(tar, O_RDONLY | O_CLOEXEC);
    int r = copy_tar_extract(fd, into, "t", "t", err);
    off_t left = lseek(fd, 0, SEEK_CUR);
    CHECK(left == lseek(fd, 0, SEEK_END)); /* read to its end, even when refused */
    close(fd);
    return r;
}

static void test_extract_good(void)
{
    cleanup_free char *into = xasprintf("%s/good", tmpdir);
    const struct entry es[] = {
        {"t", AE_IFDIR, 0755, NULL, false},
        {"t/sub", AE_IFDIR, 0700, NULL, false},
        {"./t/sub/file", AE_IFREG, 06755, "data\n", false},
        {"t/link", AE_IFLNK, 0777, "sub/file", false},
    };
    sm_error_t err = NULL;
    CHECK(extract(es, SM_ARRAY_SIZE(es), into, &err) == 0);
    if (err)
        fprintf(stderr, "%s\n", sm_error_message(err));
    sm_error_release(&err);
    cleanup_free char *file = xasprintf("%s/t/sub/file", into);
    struct stat st;
    CHECK(lstat(file, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0755);
    cleanup_free char *link = xasprintf("%s/t/link", into);
    char target[64] = "";
    CHECK(readlink(link, target, sizeof(target) - 1) == 8 && strcmp(target, "sub/file") == 0);
}

static void expect_refused(const char *what, const struct entry *es, size_t n, const char *outside)
{
    static int seq;
    cleanup_free char *into = xasprintf("%s/bad%d", tmpdir, seq++);
    sm_error_t err = NULL;
    int r = extract(es, n, into, &err);
    if (r == 0)
        fprintf(stderr, "%s: extracted, should have been refused\n", what);
    CHECK(r < 0 && err != NULL);
    sm_error_release(&err);
    if (outside) {
        struct stat st;
        CHECK(lstat(outside, &st) < 0);
    }
}

static void test_extract_hostile(void)
{
    cleanup_free char *victim = xasprintf("%s/victim", tmpdir);
    CHECK(mkdir(victim, 0700) == 0);
    cleanup_free char *planted = xasprintf("%s/victim/planted", tmpdir);

    const struct entry dotdot[] = {{"t/../../victim/planted", AE_IFREG, 0644, "x", false}};
    expect_refused("..", dotdot, 1, planted);
    cleanup_free char *abs_name = xasprintf("%s", planted);
    const struct entry absolute[] = {{abs_name, AE_IFREG, 0644, "x", false}};
    expect_refused("absolute", absolute, 1, planted);
    const struct entry outside_top[] = {{"other/file", AE_IFREG, 0644, "x", false}};
    expect_refused("not under top", outside_top, 1, NULL);
    /* A symlink to outside, then a file through it. */
    const struct entry through[] = {
        {"t", AE_IFDIR, 0755, NULL, false},
        {"t/escape", AE_IFLNK, 0777, victim, false},
        {"t/escape/planted", AE_IFREG, 0644, "x", false},
    };
    expect_refused("through a symlink", through, SM_ARRAY_SIZE(through), planted);
    /* A hardlink to a host file (one the test owns, on the same filesystem). */
    cleanup_free char *secret = xasprintf("%s/victim/secret", tmpdir);
    int sfd = open(secret, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    CHECK(sfd >= 0);
    close(sfd);
    const struct entry hardlink[] = {
        {"t", AE_IFDIR, 0755, NULL, false},
        {"t/h", AE_IFREG, 0644, secret, true},
    };
    expect_refused("hardlink", hardlink, SM_ARRAY_SIZE(hardlink), NULL);
    struct stat sst;
    CHECK(stat(secret, &sst) == 0 && sst.st_nlink == 1);
    const struct entry device[] = {{"t", AE_IFCHR, 0666, NULL, false}};
    expect_refused("device", device, 1, NULL);

    /* Not a tar at all. */
    cleanup_free char *into = xasprintf("%s/garbage", tmpdir);
    CHECK(mkdir(into, 0700) == 0);
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], "this is not a tar archive, just some text\n", 42) == 42);
    close(p[1]);
    sm_error_t err = NULL;
    CHECK(copy_tar_extract(p[0], into, "t", "t", &err) < 0 && err != NULL);
    close(p[0]);
    sm_error_release(&err);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    test_create_read_by_gnu_tar();
    test_extract_good();
    test_extract_hostile();
    cleanup_free char *cmd = xasprintf("rm -rf %s", tmpdir);
    CHECK(run(cmd) == 0);
    return check_summary("copy_tar");
}
