/* EROFS image writer: uncompressed, 4 KiB blocks, no shared xattrs.
 *
 * Layout: block 0 holds the superblock at 1024; the metadata area starts at block 0 too
 * (meta_blkaddr 0), so the first inode (the root, whose nid must fit 16 bits) sits right
 * after the superblock. Every inode is placed in depth-first order: its core (32-byte
 * compact when owner/size/nlink fit 16/32 bits and its mtime equals the superblock's
 * build_time, else 64-byte extended), its inline xattrs, and, when it fits in the same
 * block, the tail of its data (FLAT_INLINE). Full data blocks follow the metadata area in
 * the same order, so file contents are written sequentially with copy_file_range from
 * the spool. Directory blocks hold name-sorted dirents ("." and ".." included) that never
 * straddle a block, as the kernel's binary search expects. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "oci/erofs.h"
#include "oci/tree.h"

#define COPY_BUF (1 << 20)

struct dent {
    const char *name;
    uint32_t len;
    const struct fs_inode *ino;
};

struct winode {
    const struct fs_inode *ino;
    const struct fs_inode *parent; /* directories: for ".." */
    uint64_t nid;
    uint64_t dsize; /* data size (i_size) */
    uint32_t nlink;
    uint32_t xsize;   /* inline xattr body size, 0 if none */
    uint32_t tail;    /* bytes of data inline after the inode */
    uint32_t blkaddr; /* first data block */
    uint32_t nblocks; /* data blocks outside the metadata area */
    uint8_t extended, layout;
    bool seen;
};

struct writer {
    const struct fs_tree *t;
    struct winode *w;              /* by inode idx */
    const struct fs_inode **order; /* unique inodes, depth-first preorder */
    uint32_t n_order;
    int64_t build_time;
    uint32_t build_nsec;
    uint64_t meta_end; /* the metadata area ends (and data blocks start) here */
    int fd;
    char *copybuf;
    sm_error_t *err;
};

static uint8_t file_type(uint32_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return EROFS_FT_REG;
    case S_IFDIR:
        return EROFS_FT_DIR;
    case S_IFCHR:
        return EROFS_FT_CHR;
    case S_IFBLK:
        return EROFS_FT_BLK;
    case S_IFIFO:
        return EROFS_FT_FIFO;
    case S_IFSOCK:
        return EROFS_FT_SOCK;
    case S_IFLNK:
        return EROFS_FT_LNK;
    }
    return EROFS_FT_UNKNOWN;
}

/* Maps an xattr name to an EROFS prefix index and the rest of the name; 0 when EROFS
 * cannot store it (the kernel has no handler for other namespaces either). */
static int xattr_index(const char *name, const char **suffix)
{
    static const struct {
        const char *prefix;
        int index;
        bool exact;
    } map[] = {
        {"user.", EROFS_XATTR_INDEX_USER, false},
        {"trusted.", EROFS_XATTR_INDEX_TRUSTED, false},
        {"security.", EROFS_XATTR_INDEX_SECURITY, false},
        {"system.posix_acl_access", EROFS_XATTR_INDEX_POSIX_ACL_ACCESS, true},
        {"system.posix_acl_default", EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT, true},
    };
    for (size_t i = 0; i < SM_ARRAY_SIZE(map); i++) {
        size_t l = strlen(map[i].prefix);
        if (map[i].exact ? strcmp(name, map[i].prefix) == 0
                         : strncmp(name, map[i].prefix, l) == 0) {
            *suffix = name + l;
            if (strlen(*suffix) > EROFS_NAME_LEN || (!map[i].exact && !**suffix))
                return 0;
            return map[i].index;
        }
    }
    return 0;
}

static uint32_t xattr_body_size(const struct fs_inode *ino)
{
    uint32_t size = 0;
    for (uint32_t i = 0; i < ino->n_xattrs; i++) {
        const char *suffix;
        if (!xattr_index(ino->xattrs[i].name, &suffix))
            continue;
        size += (uint32_t)((sizeof(struct erofs_xattr_entry) + strlen(suffix) + ino->xattrs[i].len +
                            3) &
                           ~3u);
    }
    return size ? size + (uint32_t)sizeof(struct erofs_xattr_ibody_header) : 0;
}

/* A directory's entries with "." and "..", in the bytewise order the kernel searches. */
static struct dent *dir_entries(const struct writer *wr, const struct fs_inode *dir, uint32_t *n)
{
    const struct winode *w = &wr->w[dir->idx];
    struct dent *d = xmalloc((dir->n_ents + 2) * sizeof(*d));
    struct dent dots[2] = {{".", 1, dir}, {"..", 2, w->parent ? w->parent : dir}};
    uint32_t k = 0, j = 0;
    for (uint32_t i = 0; i < dir->n_ents; i++) {
        while (j < 2 && strcmp(dots[j].name, dir->ents[i].name) < 0)
            d[k++] = dots[j++];
        d[k++] =
            (struct dent){dir->ents[i].name, (uint32_t)strlen(dir->ents[i].name), dir->ents[i].ino};
    }
    while (j < 2)
        d[k++] = dots[j++];
    *n = k;
    return d;
}

/* Size of a directory's data: full blocks plus the used part of the last one. */
static uint64_t dir_size(const struct dent *d, uint32_t n)
{
    uint64_t full = 0;
    uint32_t used = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t need = (uint32_t)sizeof(struct erofs_dirent) + d[i].len;
        if (used + need > EROFS_BLKSZ) {
            full++;
            used = 0;
        }
        used += need;
    }
    return full * EROFS_BLKSZ + used;
}

/* Fills `blocks` (dsize rounded up to blocks) with the directory's dirent blocks. */
static void dir_fill(const struct writer *wr, const struct dent *d, uint32_t n, char *blocks)
{
    uint32_t i = 0;
    for (char *blk = blocks; i < n; blk += EROFS_BLKSZ) {
        uint32_t first = i, used = 0;
        while (i < n && used + sizeof(struct erofs_dirent) + d[i].len <= EROFS_BLKSZ)
            used += (uint32_t)sizeof(struct erofs_dirent) + d[i++].len;
        uint32_t nameoff = (i - first) * (uint32_t)sizeof(struct erofs_dirent);
        for (uint32_t k = first; k < i; k++) {
            struct erofs_dirent de = {
                .nid = htole64(wr->w[d[k].ino->idx].nid),
                .nameoff = htole16((uint16_t)nameoff),
                .file_type = file_type(d[k].ino->mode),
            };
            memcpy(blk + (k - first) * sizeof(de), &de, sizeof(de));
            memcpy(blk + nameoff, d[k].name, d[k].len);
            nameoff += d[k].len;
        }
    }
}

/* Depth-first preorder of unique inodes; counts names per inode and records parents. */
static void collect(struct writer *wr, const struct fs_inode *dir)
{
    uint32_t subdirs = 0;
    for (uint32_t i = 0; i < dir->n_ents; i++) {
        const struct fs_inode *c = dir->ents[i].ino;
        struct winode *w = &wr->w[c->idx];
        w->nlink++;
        if (fs_is_dir(c))
            subdirs++;
        if (w->seen)
            continue;
        w->seen = true;
        w->ino = c;
        wr->order[wr->n_order++] = c;
        if (fs_is_dir(c)) {
            w->parent = dir;
            collect(wr, c);
        }
    }
    wr->w[dir->idx].nlink = 2 + subdirs;
}

static int cmp_time(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

/* The most common mtime becomes the superblock's build_time, so those inodes can be
 * compact. */
static void pick_build_time(struct writer *wr)
{
    int64_t(*tm)[2] = xmalloc(wr->n_order * sizeof(*tm));
    for (uint32_t i = 0; i < wr->n_order; i++) {
        tm[i][0] = wr->order[i]->mtime;
        tm[i][1] = wr->order[i]->mtime_nsec;
    }
    qsort(tm, wr->n_order, sizeof(*tm), cmp_time);
    uint32_t best = 0, best_n = 0;
    for (uint32_t i = 0, j; i < wr->n_order; i = j) {
        for (j = i + 1; j < wr->n_order && !cmp_time(tm[i], tm[j]); j++)
            ;
        if (j - i > best_n) {
            best_n = j - i;
            best = i;
        }
    }
    wr->build_time = wr->n_order ? tm[best][0] : 0;
    wr->build_nsec = wr->n_order ? (uint32_t)tm[best][1] : 0;
    free(tm);
}

/* Assigns nids, layouts and data blocks. Returns the total block count or -1. */
static int64_t place(struct writer *wr)
{
    uint64_t pos = EROFS_SUPER_OFFSET + sizeof(struct erofs_super_block);
    for (uint32_t i = 0; i < wr->n_order; i++) {
        const struct fs_inode *ino = wr->order[i];
        struct winode *w = &wr->w[ino->idx];
        if (S_ISREG(ino->mode) || S_ISLNK(ino->mode))
            w->dsize = ino->size;
        else if (fs_is_dir(ino)) {
            uint32_t n;
            struct dent *d = dir_entries(wr, ino, &n);
            w->dsize = dir_size(d, n);
            free(d);
        }
        w->xsize = xattr_body_size(ino);
        if (w->xsize > sizeof(struct erofs_xattr_ibody_header) + 4u * 65534)
            return sm_error_set(wr->err, 0, "xattrs of an inode too large for EROFS");
        w->extended = ino->uid > 0xffff || ino->gid > 0xffff || w->nlink > 0xffff ||
                      w->dsize > 0xffffffffu || ino->mtime != wr->build_time ||
                      ino->mtime_nsec != wr->build_nsec;
        uint32_t core =
            w->extended ? sizeof(struct erofs_inode_extended) : sizeof(struct erofs_inode_compact);
        uint32_t meta = core + w->xsize;
        uint32_t tail = (uint32_t)(w->dsize % EROFS_BLKSZ);
        uint32_t room = EROFS_BLKSZ - (uint32_t)(pos % EROFS_BLKSZ);
        bool is_data = S_ISREG(ino->mode) || S_ISLNK(ino->mode) || fs_is_dir(ino);
        w->layout = EROFS_INODE_FLAT_PLAIN;
        if (is_data && tail > 0 && meta + tail <= EROFS_BLKSZ) {
            /* Inline the tail unless padding to the next block wastes more than giving
             * the tail a block of its own would. */
            if (meta + tail <= room || room <= EROFS_BLKSZ - tail) {
                w->layout = EROFS_INODE_FLAT_INLINE;
                w->tail = tail;
                if (meta + tail > room)
                    pos += room;
            }
        }
        if (w->layout == EROFS_INODE_FLAT_PLAIN && meta <= EROFS_BLKSZ && meta > room)
            pos += room; /* keep the inode and its xattrs in one block */
        w->nid = pos / EROFS_ISLOT;
        pos += meta + w->tail;
        pos = (pos + EROFS_ISLOT - 1) & ~(uint64_t)(EROFS_ISLOT - 1);
    }
    if (wr->w[wr->t->root->idx].nid > 0xffff)
        return sm_error_set(wr->err, 0, "root inode beyond nid 65535");
    uint64_t blk = (pos + EROFS_BLKSZ - 1) / EROFS_BLKSZ;
    wr->meta_end = blk * EROFS_BLKSZ;
    for (uint32_t i = 0; i < wr->n_order; i++) {
        struct winode *w = &wr->w[wr->order[i]->idx];
        uint64_t data = w->dsize - w->tail;
        w->nblocks = (uint32_t)((data + EROFS_BLKSZ - 1) / EROFS_BLKSZ);
        if (w->nblocks) {
            w->blkaddr = (uint32_t)blk;
            blk += w->nblocks;
        }
        if (blk > UINT32_MAX)
            return sm_error_set(wr->err, EFBIG, "image larger than EROFS can address");
    }
    return (int64_t)blk;
}

static int write_at(struct writer *wr, const void *buf, size_t len, uint64_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(wr->fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return sm_error_set(wr->err, errno, "write image");
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/* Copies file contents from the spool: in-kernel (copy_file_range) when it can. */
static int copy_data(struct writer *wr, const struct fs_inode *ino, uint64_t len, uint64_t dst)
{
    loff_t in = (loff_t)ino->data_off, out = (loff_t)dst;
    uint64_t left = len;
    while (left > 0) {
        ssize_t n = copy_file_range(wr->t->spool_fd, &in, wr->fd, &out, left, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* unsupported here, or a hole past the spool's end: copy by hand */
        left -= (uint64_t)n;
    }
    while (left > 0) {
        size_t chunk = left < COPY_BUF ? (size_t)left : COPY_BUF;
        uint64_t done = len - left;
        if (fs_tree_read_data(wr->t, ino, done, wr->copybuf, chunk, wr->err) < 0 ||
            write_at(wr, wr->copybuf, chunk, dst + done) < 0)
            return -1;
        left -= chunk;
    }
    return 0;
}

static void put_xattrs(const struct fs_inode *ino, char *p)
{
    struct erofs_xattr_ibody_header h = {0};
    memcpy(p, &h, sizeof(h));
    p += sizeof(h);
    for (uint32_t i = 0; i < ino->n_xattrs; i++) {
        const char *suffix;
        int index = xattr_index(ino->xattrs[i].name, &suffix);
        if (!index)
            continue;
        size_t sl = strlen(suffix);
        struct erofs_xattr_entry e = {.e_name_len = (uint8_t)sl,
                                      .e_name_index = (uint8_t)index,
                                      .e_value_size = htole16((uint16_t)ino->xattrs[i].len)};
        memcpy(p, &e, sizeof(e));
        memcpy(p + sizeof(e), suffix, sl);
        memcpy(p + sizeof(e) + sl, ino->xattrs[i].value, ino->xattrs[i].len);
        p += (sizeof(e) + sl + ino->xattrs[i].len + 3) & ~(size_t)3;
    }
}

static int write_inode(struct writer *wr, const struct fs_inode *ino, char *meta, uint32_t seq)
{
    struct winode *w = &wr->w[ino->idx];
    char *p = meta + w->nid * EROFS_ISLOT;
    uint16_t format = (uint16_t)(w->extended | (w->layout << 1));
    uint16_t icount = w->xsize ? (uint16_t)((w->xsize - 12) / 4 + 1) : 0;
    uint32_t iu = w->blkaddr;
    if (S_ISCHR(ino->mode) || S_ISBLK(ino->mode)) /* the kernel's new_encode_dev() */
        iu = (ino->rdev_minor & 0xff) | (ino->rdev_major << 8) | ((ino->rdev_minor & ~0xffu) << 12);
    size_t core;
    if (w->extended) {
        struct erofs_inode_extended x = {
            .i_format = htole16(format),
            .i_xattr_icount = htole16(icount),
            .i_mode = htole16((uint16_t)ino->mode),
            .i_size = htole64(w->dsize),
            .i_u = htole32(iu),
            .i_ino = htole32(seq),
            .i_uid = htole32(ino->uid),
            .i_gid = htole32(ino->gid),
            .i_mtime = htole64((uint64_t)ino->mtime),
            .i_mtime_nsec = htole32(ino->mtime_nsec),
            .i_nlink = htole32(w->nlink),
        };
        memcpy(p, &x, sizeof(x));
        core = sizeof(x);
    } else {
        struct erofs_inode_compact c = {
            .i_format = htole16(format),
            .i_xattr_icount = htole16(icount),
            .i_mode = htole16((uint16_t)ino->mode),
            .i_nlink = htole16((uint16_t)w->nlink),
            .i_size = htole32((uint32_t)w->dsize),
            .i_u = htole32(iu),
            .i_ino = htole32(seq),
            .i_uid = htole16((uint16_t)ino->uid),
            .i_gid = htole16((uint16_t)ino->gid),
        };
        memcpy(p, &c, sizeof(c));
        core = sizeof(c);
    }
    if (w->xsize)
        put_xattrs(ino, p + core);
    char *tail = p + core + w->xsize;
    uint64_t body = w->dsize - w->tail; /* bytes stored in data blocks */
    if (S_ISREG(ino->mode)) {
        if (w->tail && fs_tree_read_data(wr->t, ino, body, tail, w->tail, wr->err) < 0)
            return -1;
        if (body && copy_data(wr, ino, body, (uint64_t)w->blkaddr * EROFS_BLKSZ) < 0)
            return -1;
    } else if (S_ISLNK(ino->mode)) {
        if (w->tail)
            memcpy(tail, ino->target + body, w->tail);
        if (body && write_at(wr, ino->target, body, (uint64_t)w->blkaddr * EROFS_BLKSZ) < 0)
            return -1;
    } else if (fs_is_dir(ino)) {
        uint32_t n;
        struct dent *d = dir_entries(wr, ino, &n);
        size_t nb = (size_t)((w->dsize + EROFS_BLKSZ - 1) / EROFS_BLKSZ);
        char *blocks = xcalloc(nb ? nb : 1, EROFS_BLKSZ);
        dir_fill(wr, d, n, blocks);
        int ret = 0;
        if (w->tail)
            memcpy(tail, blocks + body, w->tail);
        if (body)
            ret = write_at(wr, blocks, body, (uint64_t)w->blkaddr * EROFS_BLKSZ);
        free(blocks);
        free(d);
        if (ret < 0)
            return -1;
    }
    return 0;
}

static int write_all(struct writer *wr)
{
    const struct fs_tree *t = wr->t;
    wr->w = xcalloc(t->n_inodes_ever, sizeof(*wr->w));
    wr->order = xmalloc(t->n_inodes_ever * sizeof(*wr->order));
    wr->order[wr->n_order++] = t->root;
    wr->w[t->root->idx].seen = true;
    wr->w[t->root->idx].ino = t->root;
    collect(wr, t->root);
    pick_build_time(wr);
    int64_t blocks = place(wr);
    if (blocks < 0)
        return -1;
    uint64_t meta_end = wr->meta_end;
    char *meta = xcalloc(1, meta_end);
    int ret = 0;
    for (uint32_t i = 0; i < wr->n_order && ret == 0; i++)
        ret = write_inode(wr, wr->order[i], meta, i + 1);
    if (ret == 0) {
        struct erofs_super_block sb = {
            .magic = htole32(EROFS_MAGIC),
            .blkszbits = EROFS_BLKSZ_BITS,
            .root_nid = htole16((uint16_t)wr->w[t->root->idx].nid),
            .inos = htole64(wr->n_order),
            .build_time = htole64((uint64_t)wr->build_time),
            .build_time_nsec = htole32(wr->build_nsec),
            .blocks = htole32((uint32_t)blocks),
        };
        memcpy(meta + EROFS_SUPER_OFFSET, &sb, sizeof(sb));
        ret = write_at(wr, meta, meta_end, 0);
    }
    free(meta);
    if (ret == 0 && ftruncate(wr->fd, (off_t)blocks * EROFS_BLKSZ) < 0)
        ret = sm_error_set(wr->err, errno, "resize image");
    return ret;
}

int erofs_write_image(const struct fs_tree *t, const char *path, sm_error_t *err)
{
    cleanup_free char *tmp = xasprintf("%s.tmp-XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return sm_error_set(err, errno, "create %s", tmp);
    struct writer wr = {.t = t, .fd = fd, .err = err, .copybuf = xmalloc(COPY_BUF)};
    int ret = write_all(&wr);
    if (ret == 0 && fchmod(fd, 0644) < 0)
        ret = sm_error_set(err, errno, "chmod %s", tmp);
    if (ret == 0 && fsync(fd) < 0)
        ret = sm_error_set(err, errno, "fsync %s", tmp);
    if (close(fd) < 0 && ret == 0)
        ret = sm_error_set(err, errno, "close %s", tmp);
    if (ret == 0 && rename(tmp, path) < 0)
        ret = sm_error_set(err, errno, "rename %s to %s", tmp, path);
    if (ret < 0)
        unlink(tmp);
    free(wr.w);
    free(wr.order);
    free(wr.copybuf);
    return ret < 0 ? sm_error_wrap(err, "write EROFS image %s", path) : 0;
}
