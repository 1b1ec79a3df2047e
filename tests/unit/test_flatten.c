/* Layer flattening: tar streams built with libarchive, applied with the real reader. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "common/util.h"
#include "oci/flatten.h"
#include "oci/tree.h"

static char tmpdir[] = "/tmp/sm-test-flatten-XXXXXX";
static int layer_seq;
/* Every layer's path, freed at the end: the tests pass them around freely. */
static char *layer_paths[128];

enum { F_NONE, F_GZIP, F_ZSTD };

/* A layer under construction. */
struct lb {
    struct archive *a;
    char *path;
};

static struct lb lb_new(int filter)
{
    if ((size_t)layer_seq >= SM_ARRAY_SIZE(layer_paths))
        abort();
    struct lb l = {archive_write_new(), xasprintf("%s/layer%d", tmpdir, layer_seq)};
    layer_paths[layer_seq++] = l.path;
    archive_write_set_format_pax_restricted(l.a);
    if (filter == F_GZIP)
        archive_write_add_filter_gzip(l.a);
    if (filter == F_ZSTD)
        archive_write_add_filter_zstd(l.a);
    if (archive_write_open_filename(l.a, l.path) != ARCHIVE_OK)
        abort();
    return l;
}

static void lb_add(struct lb *l, const char *path, mode_t mode, const char *data, size_t len,
                   const char *link, bool hard)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_mode(e, mode);
    archive_entry_set_mtime(e, 1700000000, 5);
    archive_entry_set_uid(e, 1000);
    archive_entry_set_gid(e, 100);
    if (link && hard)
        archive_entry_set_hardlink(e, link);
    else if (link)
        archive_entry_set_symlink(e, link);
    if (S_ISREG(mode) && !hard)
        archive_entry_set_size(e, (la_int64_t)len);
    if (archive_write_header(l->a, e) != ARCHIVE_OK)
        abort();
    if (data && len)
        archive_write_data(l->a, data, len);
    archive_entry_free(e);
}

#define FILE_(l, p, s)    lb_add(l, p, S_IFREG | 0644, s, strlen(s), NULL, false)
#define DIR_(l, p)        lb_add(l, p, S_IFDIR | 0755, NULL, 0, NULL, false)
#define SYMLINK(l, p, t)  lb_add(l, p, S_IFLNK | 0777, NULL, 0, t, false)
#define HARDLINK(l, p, t) lb_add(l, p, S_IFREG | 0644, NULL, 0, t, true)

static char *lb_done(struct lb *l)
{
    archive_write_close(l->a);
    archive_write_free(l->a);
    return l->path;
}

static const struct fs_inode *lookup(const struct fs_tree *t, const char *path)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", path);
    const struct fs_inode *d = t->root;
    char *save = NULL;
    for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!fs_is_dir(d))
            return NULL;
        struct fs_dirent *e = fs_dir_find(d, c, NULL);
        if (!e)
            return NULL;
        d = e->ino;
    }
    return d;
}

static char *contents(const struct fs_tree *t, const char *path)
{
    const struct fs_inode *i = lookup(t, path);
    if (!i || !S_ISREG(i->mode))
        return xstrdup("(none)");
    char *buf = xcalloc(1, i->size + 1);
    sm_error_t err = NULL;
    if (fs_tree_read_data(t, i, 0, buf, i->size, &err) < 0)
        sm_error_release(&err);
    return buf;
}

/* Flattens the given layer files; returns the tree or NULL with *msg set. */
static struct fs_tree *flatten(char **paths, size_t n, const char **mts, const char **ids,
                               const struct oci_flatten_limits *lim, char **msg)
{
    struct oci_layer_desc d[8] = {0};
    for (size_t i = 0; i < n; i++) {
        d[i].blob_path = paths[i];
        d[i].media_type = mts ? mts[i] : NULL;
        d[i].diff_id = ids ? ids[i] : NULL;
    }
    struct fs_tree *t = NULL;
    sm_error_t err = NULL;
    *msg = NULL;
    if (oci_flatten_layers_ex(d, n, lim, &t, &err) < 0) {
        *msg = xstrdup(sm_error_message(err));
        sm_error_release(&err);
        return NULL;
    }
    return t;
}

static bool msg_has(const char *msg, const char *needle)
{
    bool ok = msg && strstr(msg, needle);
    if (!ok)
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", msg ? msg : "(none)", needle);
    return ok;
}

static void test_basic_and_hardlinks(void)
{
    struct lb l = lb_new(F_GZIP);
    DIR_(&l, "./");
    DIR_(&l, "./etc/");
    FILE_(&l, "./etc/passwd", "root:x:0:0\n");
    HARDLINK(&l, "./etc/passwd-", "./etc/passwd");
    SYMLINK(&l, "./etc/mtab", "/proc/self/mounts");
    FILE_(&l, "/abs/implicit/file", "x"); /* leading "/" and missing parents */
    char *p1 = lb_done(&l);
    char *msg;
    struct fs_tree *t = flatten(&p1, 1, NULL, NULL, NULL, &msg);
    CHECK(t != NULL);
    if (!t)
        return;
    const struct fs_inode *a = lookup(t, "etc/passwd"), *b = lookup(t, "etc/passwd-");
    CHECK(a && a == b);
    CHECK(a && a->nlink == 2 && a->uid == 1000 && a->gid == 100 && a->mtime == 1700000000);
    char *c = contents(t, "etc/passwd-");
    CHECK_STR(c, "root:x:0:0\n");
    free(c);
    const struct fs_inode *m = lookup(t, "etc/mtab");
    CHECK(m && S_ISLNK(m->mode) && m->target && !strcmp(m->target, "/proc/self/mounts"));
    const struct fs_inode *im = lookup(t, "abs/implicit");
    CHECK(im && fs_is_dir(im) && (im->mode & 07777) == 0755);
    /* Replacing one name of a hardlinked inode leaves the other name's contents. */
    struct lb l2 = lb_new(F_NONE);
    FILE_(&l2, "etc/passwd", "new\n");
    HARDLINK(&l2, "etc/link-to-lower", "etc/passwd-");
    char *ps[2] = {p1, lb_done(&l2)};
    fs_tree_free(t);
    t = flatten(ps, 2, NULL, NULL, NULL, &msg);
    CHECK(t != NULL);
    if (t) {
        c = contents(t, "etc/passwd");
        CHECK_STR(c, "new\n");
        free(c);
        c = contents(t, "etc/link-to-lower");
        CHECK_STR(c, "root:x:0:0\n");
        free(c);
        CHECK(lookup(t, "etc/link-to-lower") == lookup(t, "etc/passwd-"));
        CHECK(lookup(t, "etc/passwd-")->nlink == 2);
    }
    fs_tree_free(t);
}

static void test_whiteouts(void)
{
    struct lb l = lb_new(F_GZIP);
    DIR_(&l, "a/");
    FILE_(&l, "a/x", "x");
    FILE_(&l, "a/y", "y");
    DIR_(&l, "d/");
    FILE_(&l, "d/old", "old");
    DIR_(&l, "d/sub/");
    FILE_(&l, "d/sub/deep", "deep");
    DIR_(&l, "gone/");
    FILE_(&l, "gone/f", "f");
    char *p1 = lb_done(&l);
    struct lb l2 = lb_new(F_GZIP);
    FILE_(&l2, "a/.wh.x", "");
    FILE_(&l2, "a/z", "z");
    FILE_(&l2, "a/.wh.z", ""); /* same layer: must not hide a/z */
    FILE_(&l2, "d/new", "new");
    FILE_(&l2, "d/.wh..wh..opq", ""); /* clears only the lower layer's d/ contents */
    FILE_(&l2, ".wh.gone", "");
    FILE_(&l2, "a/.wh.never-existed", "");
    FILE_(&l2, "nowhere/.wh.x", "");
    char *ps[2] = {p1, lb_done(&l2)};
    char *msg;
    struct fs_tree *t = flatten(ps, 2, NULL, NULL, NULL, &msg);
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK(lookup(t, "a/x") == NULL);
    CHECK(lookup(t, "a/y") != NULL);
    CHECK(lookup(t, "a/z") != NULL);
    CHECK(lookup(t, "a/.wh.z") == NULL);
    CHECK(lookup(t, "d") != NULL);
    CHECK(lookup(t, "d/old") == NULL);
    CHECK(lookup(t, "d/sub") == NULL);
    CHECK(lookup(t, "d/new") != NULL);
    CHECK(lookup(t, "gone") == NULL);
    CHECK(lookup(t, "nowhere") == NULL);
    CHECK(lookup(t, "d/.wh..wh..opq") == NULL);
    fs_tree_free(t);
    /* A later layer re-creates what an earlier whiteout removed. */
    struct lb l3 = lb_new(F_NONE);
    FILE_(&l3, "a/x", "again");
    char *ps3[3] = {ps[0], ps[1], lb_done(&l3)};
    t = flatten(ps3, 3, NULL, NULL, NULL, &msg);
    CHECK(t != NULL);
    if (t) {
        char *c = contents(t, "a/x");
        CHECK_STR(c, "again");
        free(c);
    }
    fs_tree_free(t);
}

static void test_hostile_paths(void)
{
    char *msg;
    /* "../" escape */
    struct lb l = lb_new(F_NONE);
    FILE_(&l, "../escape", "x");
    char *p = lb_done(&l);
    CHECK(flatten(&p, 1, NULL, NULL, NULL, &msg) == NULL);
    CHECK(msg_has(msg, "\"..\""));
    CHECK(msg_has(msg, "../escape"));
    free(msg);
    l = lb_new(F_NONE);
    FILE_(&l, "a/b/../../../escape", "x");
    p = lb_done(&l);
    CHECK(flatten(&p, 1, NULL, NULL, NULL, &msg) == NULL);
    free(msg);
    /* Writing through a symlink, in the same layer and across layers. */
    l = lb_new(F_NONE);
    SYMLINK(&l, "a", "/etc");
    FILE_(&l, "a/passwd", "owned");
    p = lb_done(&l);
    CHECK(flatten(&p, 1, NULL, NULL, NULL, &msg) == NULL);
    CHECK(msg_has(msg, "symlink"));
    free(msg);
    l = lb_new(F_NONE);
    SYMLINK(&l, "a", "../../../../etc");
    char *p1 = lb_done(&l);
    l = lb_new(F_NONE);
    DIR_(&l, "a/");
    FILE_(&l, "a/passwd", "owned");
    char *ps[2] = {p1, lb_done(&l)};
    /* A directory entry replaces the symlink; nothing goes through it. */
    struct fs_tree *t = flatten(ps, 2, NULL, NULL, NULL, &msg);
    CHECK(t != NULL);
    if (t) {
        CHECK(fs_is_dir(lookup(t, "a")));
        CHECK(lookup(t, "a/passwd") != NULL);
    }
    fs_tree_free(t);
    l = lb_new(F_NONE);
    FILE_(&l, "a/sub/passwd", "owned");
    ps[1] = lb_done(&l);
    CHECK(flatten(ps, 2, NULL, NULL, NULL, &msg) == NULL);
    CHECK(msg_has(msg, "symlink"));
    free(msg);
    /* Whiteouts through a symlink. */
    l = lb_new(F_NONE);
    FILE_(&l, "a/.wh.passwd", "");
    ps[1] = lb_done(&l);
    CHECK(flatten(ps, 2, NULL, NULL, NULL, &msg) == NULL);
    CHECK(msg_has(msg, "symlink"));
    free(msg);
    /* Hardlinks outside the tree, through symlinks, to nothing, to directories. */
    const char *bad_targets[] = {"../../etc/passwd", "a/passwd", "missing", "dir"};
    const char *bad_msgs[] = {"\"..\"", "symlink", "does not exist", "directory"};
    for (size_t i = 0; i < SM_ARRAY_SIZE(bad_targets); i++) {
        l = lb_new(F_NONE);
        SYMLINK(&l, "a", "/etc");
        DIR_(&l, "dir/");
        HARDLINK(&l, "h", bad_targets[i]);
        p = lb_done(&l);
        CHECK(flatten(&p, 1, NULL, NULL, NULL, &msg) == NULL);
        CHECK(msg_has(msg, bad_msgs[i]));
        free(msg);
    }
    /* An absolute hardlink target means the path inside the image. */
    l = lb_new(F_NONE);
    FILE_(&l, "etc/passwd", "p");
    HARDLINK(&l, "h", "/etc/passwd");
    p = lb_done(&l);
    t = flatten(&p, 1, NULL, NULL, NULL, &msg);
    CHECK(t && lookup(t, "h") == lookup(t, "etc/passwd"));
    fs_tree_free(t);
    /* A hardlink to a symlink links the symlink itself. */
    l = lb_new(F_NONE);
    SYMLINK(&l, "s", "/etc/shadow");
    HARDLINK(&l, "h", "s");
    p = lb_done(&l);
    t = flatten(&p, 1, NULL, NULL, NULL, &msg);
    CHECK(t && lookup(t, "h") == lookup(t, "s") && S_ISLNK(lookup(t, "h")->mode));
    fs_tree_free(t);
}

static void sha256_of_file_uncompressed(const char *path, char out[80])
{
    /* For an uncompressed layer the diff_id is the blob's own digest. */
    char hex[65];
    sm_error_t err = NULL;
    if (sm_sha256_file(path, hex, &err) < 0)
        abort();
    snprintf(out, 80, "sha256:%s", hex);
}

static void test_diff_id_and_media_types(void)
{
    char *msg;
    struct lb l = lb_new(F_NONE);
    FILE_(&l, "f", "data");
    char *plain = lb_done(&l);
    char id[80];
    sha256_of_file_uncompressed(plain, id);
    /* The same tar, gzip- and zstd-compressed, has the same diff_id. */
    cleanup_free char *gz = xasprintf("%s.gz", plain), *zst = xasprintf("%s.zst", plain);
    cleanup_free char *cmd =
        xasprintf("gzip -c %s > %s && zstd -q -c %s > %s", plain, gz, plain, zst);
    CHECK(system(cmd) == 0);
    char *paths[3] = {plain, gz, zst};
    const char *mts[3] = {"application/vnd.oci.image.layer.v1.tar",
                          "application/vnd.docker.image.rootfs.diff.tar.gzip",
                          "application/vnd.oci.image.layer.v1.tar+zstd"};
    const char *ids[3] = {id, id, id};
    struct fs_tree *t = flatten(paths, 3, mts, ids, NULL, &msg);
    CHECK(t != NULL);
    if (!t)
        fprintf(stderr, "  %s\n", msg);
    fs_tree_free(t);
    free(msg);
    const char *wrong = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    CHECK(flatten(&gz, 1, NULL, &wrong, NULL, &msg) == NULL);
    CHECK(msg_has(msg, "diff_id mismatch"));
    free(msg);
    const char *md5 = "md5:abc";
    CHECK(flatten(&gz, 1, NULL, &md5, NULL, &msg) == NULL);
    CHECK(msg_has(msg, "unsupported diff_id"));
    free(msg);
    /* Media type and content disagree; unknown media type. */
    const char *tar_mt = "application/vnd.oci.image.layer.v1.tar";
    CHECK(flatten(&gz, 1, &tar_mt, NULL, NULL, &msg) == NULL);
    CHECK(msg_has(msg, "but the content is gzip"));
    free(msg);
    const char *odd = "application/x-whatever";
    CHECK(flatten(&gz, 1, &odd, NULL, NULL, &msg) == NULL);
    CHECK(msg_has(msg, "unknown media type"));
    free(msg);
    /* Truncated gzip and zstd. */
    struct stat st;
    stat(gz, &st);
    CHECK(truncate(gz, st.st_size - 10) == 0);
    CHECK(flatten(&gz, 1, NULL, NULL, NULL, &msg) == NULL);
    CHECK(msg_has(msg, "truncated gzip"));
    free(msg);
    stat(zst, &st);
    CHECK(truncate(zst, st.st_size / 2) == 0);
    CHECK(flatten(&zst, 1, NULL, NULL, NULL, &msg) == NULL);
    CHECK(msg_has(msg, "zstd"));
    free(msg);
    /* Garbage. */
    cleanup_free char *junk = xasprintf("%s/junk", tmpdir);
    sm_error_t err = NULL;
    sm_write_file_atomic(junk, "\x1f\x8bnot gzip at all", 17, 0644, &err);
    char *jp = junk;
    CHECK(flatten(&jp, 1, NULL, NULL, NULL, &msg) == NULL);
    CHECK(msg_has(msg, "gzip"));
    free(msg);
    /* An empty file is an empty layer (some writers emit them). */
    sm_write_file_atomic(junk, "", 0, 0644, &err);
    t = flatten(&jp, 1, NULL, NULL, NULL, &msg);
    CHECK(t != NULL);
    fs_tree_free(t);
}

static void test_bomb_bounds(void)
{
    char *msg;
    struct lb l = lb_new(F_GZIP);
    size_t big = 8 << 20;
    char *zeros = xcalloc(1, big);
    lb_add(&l, "zeros", S_IFREG | 0644, zeros, big, NULL, false);
    free(zeros);
    char *p = lb_done(&l);
    struct stat st;
    stat(p, &st);
    CHECK(st.st_size < 64 << 10); /* it is a bomb: tiny compressed */
    struct oci_flatten_limits lim = {.max_total_bytes = 1 << 20};
    CHECK(flatten(&p, 1, NULL, NULL, &lim, &msg) == NULL);
    CHECK(msg_has(msg, "exceeds the limit"));
    free(msg);
    lim.max_total_bytes = 16 << 20;
    struct fs_tree *t = flatten(&p, 1, NULL, NULL, &lim, &msg);
    CHECK(t != NULL);
    fs_tree_free(t);
    /* The bound covers all layers together. */
    char *two[2] = {p, p};
    lim.max_total_bytes = 12 << 20;
    CHECK(flatten(two, 2, NULL, NULL, &lim, &msg) == NULL);
    free(msg);
    l = lb_new(F_GZIP);
    for (int i = 0; i < 100; i++) {
        char name[32];
        snprintf(name, sizeof(name), "f%d", i);
        FILE_(&l, name, "");
    }
    p = lb_done(&l);
    struct oci_flatten_limits lim2 = {.max_entries = 50};
    CHECK(flatten(&p, 1, NULL, NULL, &lim2, &msg) == NULL);
    CHECK(msg_has(msg, "entries"));
    free(msg);
    /* Implied parent directories count as entries: one deep path cannot make millions. */
    char deep[1024] = "";
    for (int i = 0; i < 200; i++)
        strcat(deep, "d/");
    strcat(deep, "f");
    l = lb_new(F_NONE);
    FILE_(&l, deep, "");
    p = lb_done(&l);
    lim2.max_entries = 100;
    CHECK(flatten(&p, 1, NULL, NULL, &lim2, &msg) == NULL);
    CHECK(msg_has(msg, "entries"));
    free(msg);
    lim2.max_entries = 1000;
    struct fs_tree *t2 = flatten(&p, 1, NULL, NULL, &lim2, &msg);
    CHECK(t2 != NULL);
    fs_tree_free(t2);
    /* Metadata kept in memory (here: xattr-sized symlink targets) is bounded too. */
    l = lb_new(F_GZIP);
    char target[3000];
    memset(target, 'x', sizeof(target) - 1);
    target[sizeof(target) - 1] = 0;
    for (int i = 0; i < 100; i++) {
        char name[32];
        snprintf(name, sizeof(name), "s%d", i);
        SYMLINK(&l, name, target);
    }
    p = lb_done(&l);
    struct oci_flatten_limits lim3 = {.max_meta_bytes = 100000};
    CHECK(flatten(&p, 1, NULL, NULL, &lim3, &msg) == NULL);
    CHECK(msg_has(msg, "memory limit"));
    free(msg);
}

static void test_export_roundtrip(void)
{
    struct lb l = lb_new(F_ZSTD);
    DIR_(&l, "d/");
    FILE_(&l, "d/f", "hello");
    HARDLINK(&l, "d/g", "d/f");
    lb_add(&l, "dev", S_IFCHR | 0600, NULL, 0, NULL, false);
    char *p = lb_done(&l);
    char *msg;
    struct fs_tree *t = flatten(&p, 1, NULL, NULL, NULL, &msg);
    CHECK(t != NULL);
    if (!t)
        return;
    cleanup_free char *out = xasprintf("%s/export.tar", tmpdir);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    sm_error_t err = NULL;
    CHECK(fs_tree_export_tar(t, fd, &err) == 0);
    close(fd);
    fs_tree_free(t);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    CHECK(archive_read_open_filename(a, out, 65536) == ARCHIVE_OK);
    struct archive_entry *e;
    char seen[256] = "";
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        strcat(seen, archive_entry_pathname(e));
        if (archive_entry_hardlink(e)) {
            strcat(seen, "=>");
            strcat(seen, archive_entry_hardlink(e));
        }
        strcat(seen, ",");
    }
    archive_read_free(a);
    CHECK_STR(seen, "d/,d/f,d/g=>d/f,dev,");
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 1;
    setenv("TMPDIR", tmpdir, 1);
    test_basic_and_hardlinks();
    test_whiteouts();
    test_hostile_paths();
    test_diff_id_and_media_types();
    test_bomb_bounds();
    test_export_roundtrip();
    for (int i = 0; i < layer_seq; i++)
        free(layer_paths[i]);
    cleanup_free char *cmd = xasprintf("rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        return 1;
    return check_summary("flatten");
}
