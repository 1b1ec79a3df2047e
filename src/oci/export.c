/* The flattened tree as a tar stream (`supermachine export`): pax (restricted: extended
 * headers only where ustar cannot say it, e.g. xattrs, long names, big ids), names
 * without a leading "./" and no entry for the root, as `crane export` and `docker export`
 * write them. A second name of an inode becomes a hardlink to its first name. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "oci/tree.h"

#define EXPORT_BUF (1 << 20)

struct export_ctx {
    const struct fs_tree *t;
    struct archive *a;
    struct archive_entry *e;
    char **first_path; /* by inode idx: the path an inode was first written under */
    char *buf;
    char path[8192];
    sm_error_t *err;
};

static int archive_fail(struct export_ctx *c, const char *what)
{
    const char *msg = archive_error_string(c->a);
    return sm_error_set(c->err, archive_errno(c->a) > 0 ? archive_errno(c->a) : 0, "%s %s%s%s",
                        what, c->path, msg ? ": " : "", msg ? msg : "");
}

static int write_inode(struct export_ctx *c, const struct fs_inode *ino)
{
    struct archive_entry *e = c->e;
    archive_entry_clear(e);
    archive_entry_set_pathname(e, c->path);
    archive_entry_set_uid(e, ino->uid);
    archive_entry_set_gid(e, ino->gid);
    archive_entry_set_mtime(e, ino->mtime, ino->mtime_nsec);
    archive_entry_set_mode(e, ino->mode);
    if (c->first_path[ino->idx]) {
        archive_entry_set_hardlink(e, c->first_path[ino->idx]);
        archive_entry_set_size(e, 0);
        if (archive_write_header(c->a, e) < ARCHIVE_WARN)
            return archive_fail(c, "write header of");
        return 0;
    }
    if (ino->nlink > 1 && !fs_is_dir(ino))
        c->first_path[ino->idx] = xstrdup(c->path);
    for (uint32_t i = 0; i < ino->n_xattrs; i++)
        archive_entry_xattr_add_entry(e, ino->xattrs[i].name, ino->xattrs[i].value,
                                      ino->xattrs[i].len);
    if (S_ISLNK(ino->mode))
        archive_entry_set_symlink(e, ino->target);
    if (S_ISCHR(ino->mode) || S_ISBLK(ino->mode)) {
        archive_entry_set_rdevmajor(e, ino->rdev_major);
        archive_entry_set_rdevminor(e, ino->rdev_minor);
    }
    if (S_ISREG(ino->mode))
        archive_entry_set_size(e, (la_int64_t)ino->size);
    if (archive_write_header(c->a, e) < ARCHIVE_WARN)
        return archive_fail(c, "write header of");
    if (S_ISREG(ino->mode)) {
        for (uint64_t off = 0; off < ino->size;) {
            size_t n = ino->size - off < EXPORT_BUF ? (size_t)(ino->size - off) : EXPORT_BUF;
            if (fs_tree_read_data(c->t, ino, off, c->buf, n, c->err) < 0)
                return -1;
            if (archive_write_data(c->a, c->buf, n) != (la_ssize_t)n)
                return archive_fail(c, "write data of");
            off += n;
        }
    }
    return 0;
}

static int write_dir(struct export_ctx *c, const struct fs_inode *dir, size_t plen)
{
    for (uint32_t i = 0; i < dir->n_ents; i++) {
        const struct fs_dirent *d = &dir->ents[i];
        size_t nl = strlen(d->name);
        if (plen + nl + 2 > sizeof(c->path))
            return sm_error_set(c->err, ENAMETOOLONG, "export %s/%s", c->path, d->name);
        size_t at = plen;
        if (plen)
            c->path[at++] = '/';
        memcpy(c->path + at, d->name, nl + 1);
        if (write_inode(c, d->ino) < 0)
            return -1;
        if (fs_is_dir(d->ino) && write_dir(c, d->ino, at + nl) < 0)
            return -1;
        c->path[plen] = 0;
    }
    return 0;
}

int fs_tree_export_tar(const struct fs_tree *t, int fd, sm_error_t *err)
{
    struct export_ctx c = {.t = t, .err = err};
    c.a = archive_write_new();
    archive_write_set_format_pax_restricted(c.a);
    archive_write_set_bytes_per_block(c.a, 64 << 10);
    archive_write_set_bytes_in_last_block(c.a, 1);
    if (archive_write_open_fd(c.a, fd) != ARCHIVE_OK) {
        int ret = sm_error_set(err, archive_errno(c.a), "export: %s", archive_error_string(c.a));
        archive_write_free(c.a);
        return ret;
    }
    c.e = archive_entry_new();
    c.first_path = xcalloc(t->n_inodes_ever ? t->n_inodes_ever : 1, sizeof(char *));
    c.buf = xmalloc(EXPORT_BUF);
    int ret = write_dir(&c, t->root, 0);
    if (ret == 0 && archive_write_close(c.a) != ARCHIVE_OK)
        ret = sm_error_set(err, archive_errno(c.a), "export: %s", archive_error_string(c.a));
    archive_write_free(c.a);
    archive_entry_free(c.e);
    for (uint32_t i = 0; i < t->n_inodes_ever; i++)
        free(c.first_path[i]);
    free(c.first_path);
    free(c.buf);
    return ret < 0 ? sm_error_wrap(err, "export") : 0;
}
