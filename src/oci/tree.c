/* In-memory tree: inodes with reference counts (hardlinks share one inode), directories as
 * name-sorted arrays (tar streams mostly arrive sorted, so inserts usually append), and one
 * unnamed spool file for contents. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "oci/tree.h"

int fs_tree_new(const char *spool_dir, struct fs_tree **out, sm_error_t *err)
{
    if (!spool_dir || !*spool_dir)
        spool_dir = getenv("TMPDIR");
    if (!spool_dir || !*spool_dir)
        spool_dir = "/var/tmp";
    int fd = open(spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        /* Filesystems without O_TMPFILE: a named temp file, unlinked at once. */
        cleanup_free char *tmpl = xasprintf("%s/sm-spool-XXXXXX", spool_dir);
        fd = mkostemp(tmpl, O_CLOEXEC);
        if (fd >= 0)
            unlink(tmpl);
    }
    if (fd < 0)
        return sm_error_set(err, errno, "create spool file in %s", spool_dir);
    struct fs_tree *t = xcalloc(1, sizeof(*t));
    t->spool_fd = fd;
    t->root = fs_inode_new(t, S_IFDIR | 0755);
    *out = t;
    return 0;
}

struct fs_inode *fs_inode_new(struct fs_tree *t, uint32_t mode)
{
    struct fs_inode *ino = xcalloc(1, sizeof(*ino));
    ino->idx = t->n_inodes_ever++;
    ino->mode = mode;
    ino->nlink = 1;
    return ino;
}

static void inode_free(struct fs_inode *ino)
{
    for (uint32_t i = 0; i < ino->n_ents; i++) {
        free(ino->ents[i].name);
        fs_inode_unref(ino->ents[i].ino);
    }
    free(ino->ents);
    for (uint32_t i = 0; i < ino->n_xattrs; i++) {
        free(ino->xattrs[i].name);
        free(ino->xattrs[i].value);
    }
    free(ino->xattrs);
    free(ino->target);
    free(ino);
}

void fs_inode_unref(struct fs_inode *ino)
{
    if (ino && --ino->nlink == 0)
        inode_free(ino);
}

void fs_tree_free(struct fs_tree *t)
{
    if (!t)
        return;
    fs_inode_unref(t->root);
    if (t->spool_fd >= 0)
        close(t->spool_fd);
    free(t);
}

struct fs_dirent *fs_dir_find(const struct fs_inode *dir, const char *name, uint32_t *pos)
{
    uint32_t lo = 0, hi = dir->n_ents;
    /* Fast path for sorted streams: past the last name. */
    if (hi > 0 && strcmp(name, dir->ents[hi - 1].name) > 0) {
        if (pos)
            *pos = hi;
        return NULL;
    }
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, dir->ents[mid].name);
        if (c == 0) {
            if (pos)
                *pos = mid;
            return &dir->ents[mid];
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (pos)
        *pos = lo;
    return NULL;
}

void fs_dir_insert(struct fs_inode *dir, uint32_t pos, const char *name, struct fs_inode *ino,
                   uint32_t layer)
{
    if (dir->n_ents == dir->cap_ents) {
        dir->cap_ents = dir->cap_ents ? dir->cap_ents * 2 : 8;
        dir->ents = xrealloc(dir->ents, dir->cap_ents * sizeof(*dir->ents));
    }
    memmove(&dir->ents[pos + 1], &dir->ents[pos], (dir->n_ents - pos) * sizeof(*dir->ents));
    dir->ents[pos] = (struct fs_dirent){.name = xstrdup(name), .ino = ino, .layer = layer};
    dir->n_ents++;
}

void fs_dir_remove(struct fs_inode *dir, uint32_t pos)
{
    struct fs_dirent d = dir->ents[pos];
    memmove(&dir->ents[pos], &dir->ents[pos + 1], (dir->n_ents - pos - 1) * sizeof(*dir->ents));
    dir->n_ents--;
    free(d.name);
    fs_inode_unref(d.ino);
}

void fs_inode_set_xattr(struct fs_inode *ino, const char *name, const void *value, size_t len)
{
    struct fs_xattr *x = NULL;
    for (uint32_t i = 0; i < ino->n_xattrs; i++)
        if (strcmp(ino->xattrs[i].name, name) == 0) {
            x = &ino->xattrs[i];
            free(x->value);
            break;
        }
    if (!x) {
        ino->xattrs = xrealloc(ino->xattrs, (ino->n_xattrs + 1) * sizeof(*ino->xattrs));
        x = &ino->xattrs[ino->n_xattrs++];
        x->name = xstrdup(name);
    }
    x->value = xmalloc(len ? len : 1);
    memcpy(x->value, value, len);
    x->len = (uint32_t)len;
}

int fs_tree_read_data(const struct fs_tree *t, const struct fs_inode *ino, uint64_t off, void *buf,
                      size_t len, sm_error_t *err)
{
    char *p = buf;
    while (len > 0) {
        ssize_t r = pread(t->spool_fd, p, len, (off_t)(ino->data_off + off));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return sm_error_set(err, errno, "read spool");
        }
        if (r == 0) { /* a sparse file's trailing hole */
            memset(p, 0, len);
            return 0;
        }
        p += r;
        off += (uint64_t)r;
        len -= (size_t)r;
    }
    return 0;
}

static void stats_walk(const struct fs_inode *dir, struct fs_tree_stats *st, uint8_t *seen)
{
    for (uint32_t i = 0; i < dir->n_ents; i++) {
        const struct fs_inode *c = dir->ents[i].ino;
        st->entries++;
        if (seen[c->idx])
            continue;
        seen[c->idx] = 1;
        st->inodes++;
        if (S_ISREG(c->mode))
            st->data_bytes += c->size;
        if (fs_is_dir(c))
            stats_walk(c, st, seen);
    }
}

void fs_tree_get_stats(const struct fs_tree *t, struct fs_tree_stats *st)
{
    memset(st, 0, sizeof(*st));
    uint8_t *seen = xcalloc(t->n_inodes_ever ? t->n_inodes_ever : 1, 1);
    st->inodes = 1;
    stats_walk(t->root, st, seen);
    free(seen);
    st->tar_bytes = t->tar_bytes;
}
