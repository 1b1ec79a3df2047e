/* Applying one layer blob to the in-memory tree.
 *
 * We decompress ourselves (zlib/zstd) and hand libarchive the plain tar stream, so the
 * diff_id (sha256 of the uncompressed stream, trailing padding included) and the bomb
 * bound are computed on exactly the bytes the layer expands to. Entries are applied as the
 * OCI image spec (layer.md) says: `.wh.<name>` hides <name> of lower layers, `.wh..wh..opq`
 * empties a directory of lower layers' entries, later entries replace earlier ones, and a
 * directory entry over an existing directory only changes its metadata. Paths are never
 * resolved through symlinks: a layer that places an entry under a symlink is rejected. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/util.h"
#include "oci/tree.h"

#define IN_BUF_SIZE     (256 << 10)
#define OUT_BUF_SIZE    (1 << 20)
#define PATH_MAX_LEN    4096
#define NAME_MAX_LEN    255 /* EROFS_NAME_LEN */
#define MAX_XATTRS      1024
#define MAX_XATTR_VALUE 65535 /* EROFS stores the value size in 16 bits */
#define WH_PREFIX       ".wh."
#define WH_OPAQUE       ".wh..wh..opq"

enum compression { COMP_NONE, COMP_GZIP, COMP_ZSTD };
static const char *comp_name[] = {"uncompressed", "gzip", "zstd"};

struct reader {
    int fd;
    enum compression comp;
    z_stream zs;
    ZSTD_DCtx *zd;
    unsigned char *in, *out;
    size_t in_len, in_pos;
    bool in_eof, stream_end;
    struct sha256_ctx sha; /* of the uncompressed tar: the diff_id */
    struct oci_flatten_state *st;
    uint64_t bytes; /* uncompressed bytes of this layer */
    char errmsg[256];
};

/* Fills r->in; returns bytes available or -1. */
static ssize_t fill_input(struct reader *r)
{
    if (r->in_pos < r->in_len)
        return (ssize_t)(r->in_len - r->in_pos);
    if (r->in_eof)
        return 0;
    ssize_t n = sm_read_full(r->fd, r->in, IN_BUF_SIZE);
    if (n < 0) {
        snprintf(r->errmsg, sizeof(r->errmsg), "read: %s", strerror(errno));
        return -1;
    }
    if (n == 0)
        r->in_eof = true;
    r->in_len = (size_t)n;
    r->in_pos = 0;
    return n;
}

/* Produces the next chunk of the uncompressed stream into r->out; 0 at its end. */
static ssize_t produce(struct reader *r)
{
    for (;;) {
        ssize_t avail = fill_input(r);
        if (avail < 0)
            return -1;
        if (r->comp == COMP_NONE) {
            if (avail == 0)
                return 0;
            memcpy(r->out, r->in + r->in_pos, (size_t)avail);
            r->in_pos = r->in_len;
            return avail;
        }
        if (avail == 0) {
            if (!r->stream_end) {
                snprintf(r->errmsg, sizeof(r->errmsg), "truncated %s stream", comp_name[r->comp]);
                return -1;
            }
            return 0;
        }
        size_t produced;
        if (r->comp == COMP_GZIP) {
            if (r->stream_end) {
                /* More input after a gzip member: the next member (gzip allows several). */
                if (inflateReset(&r->zs) != Z_OK)
                    return -1;
                r->stream_end = false;
            }
            r->zs.next_in = r->in + r->in_pos;
            r->zs.avail_in = (uInt)avail;
            r->zs.next_out = r->out;
            r->zs.avail_out = OUT_BUF_SIZE;
            int zr = inflate(&r->zs, Z_NO_FLUSH);
            r->in_pos = r->in_len - r->zs.avail_in;
            if (zr == Z_STREAM_END)
                r->stream_end = true;
            else if (zr != Z_OK && zr != Z_BUF_ERROR) {
                snprintf(r->errmsg, sizeof(r->errmsg), "gzip: %s",
                         r->zs.msg ? r->zs.msg : "corrupt data");
                return -1;
            }
            produced = OUT_BUF_SIZE - r->zs.avail_out;
        } else {
            ZSTD_inBuffer ib = {r->in + r->in_pos, (size_t)avail, 0};
            ZSTD_outBuffer ob = {r->out, OUT_BUF_SIZE, 0};
            size_t zr = ZSTD_decompressStream(r->zd, &ob, &ib);
            if (ZSTD_isError(zr)) {
                snprintf(r->errmsg, sizeof(r->errmsg), "zstd: %s", ZSTD_getErrorName(zr));
                return -1;
            }
            r->in_pos += ib.pos;
            r->stream_end = zr == 0;
            produced = ob.pos;
        }
        if (produced > 0)
            return (ssize_t)produced;
    }
}

static ssize_t next_chunk(struct reader *r)
{
    ssize_t n = produce(r);
    if (n <= 0)
        return n;
    r->bytes += (uint64_t)n;
    r->st->total_bytes += (uint64_t)n;
    if (r->st->total_bytes > r->st->max_total_bytes) {
        snprintf(r->errmsg, sizeof(r->errmsg),
                 "uncompressed size exceeds the limit of %llu bytes (decompression bomb?)",
                 (unsigned long long)r->st->max_total_bytes);
        return -1;
    }
    sha256_update(&r->sha, (size_t)n, r->out);
    return n;
}

static la_ssize_t archive_read_cb(struct archive *a, void *data, const void **buf)
{
    struct reader *r = data;
    ssize_t n = next_chunk(r);
    if (n < 0) {
        archive_set_error(a, EIO, "%s", r->errmsg);
        return -1;
    }
    *buf = r->out;
    return n;
}

static int detect(const unsigned char *p, size_t n)
{
    if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
        return COMP_GZIP;
    if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
        return COMP_ZSTD;
    return COMP_NONE;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* What compression a media type announces; -1 for a media type that is not a layer. */
static int media_type_compression(const char *mt)
{
    if (!strncmp(mt, "application/vnd.oci.image.layer.", 32) ||
        !strncmp(mt, "application/vnd.docker.image.rootfs.", 36)) {
        if (ends_with(mt, "+gzip") || ends_with(mt, ".tar.gzip"))
            return COMP_GZIP;
        if (ends_with(mt, "+zstd") || ends_with(mt, ".tar.zstd"))
            return COMP_ZSTD;
        if (ends_with(mt, ".tar"))
            return COMP_NONE;
    }
    return -1;
}

/* ---- path handling ---- */

/* Splits a tar path into components in place: leading "/" and "./", "." and empty
 * components are dropped; ".." is refused (it could only mean an escape or a needless
 * detour). Returns the count or -1. */
static int split_path(char *p, char **comps, int max, const char **why)
{
    int n = 0;
    char *save = NULL;
    for (char *c = strtok_r(p, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, "."))
            continue;
        if (!strcmp(c, "..")) {
            *why = "path contains \"..\"";
            return -1;
        }
        if (strlen(c) > NAME_MAX_LEN) {
            *why = "name longer than 255 bytes";
            return -1;
        }
        if (n == max) {
            *why = "path too deep";
            return -1;
        }
        comps[n++] = c;
    }
    return n;
}

struct apply_ctx {
    struct fs_tree *t;
    struct archive *a;
    struct oci_flatten_state *st;
    uint32_t layer;
    char *pathbuf, *linkbuf;
    const char *why; /* the reason an entry is refused */
    char whybuf[160];
};

/* Counts what an entry keeps in memory (names, link targets, xattrs) against the bound. */
static int charge_meta(struct apply_ctx *c, uint64_t bytes)
{
    c->st->meta_bytes += bytes + 64;
    if (c->st->meta_bytes > c->st->max_meta_bytes) {
        c->why = "metadata exceeds the memory limit (names, xattrs, link targets)";
        return -1;
    }
    return 0;
}

/* Walks to the directory holding comps[0..n-1] (those are directories). Missing
 * directories are created when `create` (0755 root:root, as other unpackers do; each
 * counts as an entry against the bound), else *out is NULL. Never follows a symlink. */
static int walk_dirs(struct apply_ctx *c, char **comps, int n, bool create, struct fs_inode **out)
{
    struct fs_tree *t = c->t;
    uint32_t layer = c->layer;
    const char **why = &c->why;
    struct fs_inode *d = t->root;
    for (int i = 0; i < n; i++) {
        uint32_t pos;
        struct fs_dirent *e = fs_dir_find(d, comps[i], &pos);
        if (!e) {
            if (!create) {
                *out = NULL;
                return 0;
            }
            if (++c->st->entries > c->st->max_entries) {
                *why = "too many entries (limit)";
                return -1;
            }
            if (charge_meta(c, strlen(comps[i])) < 0)
                return -1;
            struct fs_inode *nd = fs_inode_new(t, S_IFDIR | 0755);
            fs_dir_insert(d, pos, comps[i], nd, layer);
            d = nd;
            continue;
        }
        if (S_ISLNK(e->ino->mode)) {
            *why = "path goes through a symlink";
            return -1;
        }
        if (!fs_is_dir(e->ino)) {
            *why = "path goes through a non-directory";
            return -1;
        }
        d = e->ino;
    }
    *out = d;
    return 0;
}

/* ---- entries ---- */

static int set_metadata(struct apply_ctx *c, struct fs_inode *ino, struct archive_entry *e)
{
    la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
    if (uid < 0 || uid > 0xfffffffeLL || gid < 0 || gid > 0xfffffffeLL) {
        c->why = "uid or gid out of range";
        return -1;
    }
    ino->uid = (uint32_t)uid;
    ino->gid = (uint32_t)gid;
    ino->mode = (ino->mode & S_IFMT) | (archive_entry_perm(e) & 07777);
    ino->mtime = archive_entry_mtime(e);
    long ns = archive_entry_mtime_is_set(e) ? archive_entry_mtime_nsec(e) : 0;
    ino->mtime_nsec = (ns >= 0 && ns < 1000000000L) ? (uint32_t)ns : 0;
    /* The entry's xattrs replace the old ones (a directory entry over a directory). */
    for (uint32_t i = 0; i < ino->n_xattrs; i++) {
        free(ino->xattrs[i].name);
        free(ino->xattrs[i].value);
    }
    free(ino->xattrs);
    ino->xattrs = NULL;
    ino->n_xattrs = 0;
    int nx = archive_entry_xattr_reset(e);
    if (nx > MAX_XATTRS) {
        c->why = "too many xattrs";
        return -1;
    }
    const char *name;
    const void *value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        if (!name || !*name || strlen(name) > 255 + 16 || size > MAX_XATTR_VALUE) {
            c->why = "xattr name or value too large";
            return -1;
        }
        if (charge_meta(c, strlen(name) + size) < 0)
            return -1;
        fs_inode_set_xattr(ino, name, value, size);
    }
    return 0;
}

static int copy_data(struct apply_ctx *c, struct fs_inode *ino, la_int64_t size)
{
    struct fs_tree *t = c->t;
    ino->data_off = t->spool_end;
    ino->size = (uint64_t)size;
    uint64_t written_end = 0;
    const void *buf;
    size_t len;
    la_int64_t off;
    int r;
    while ((r = archive_read_data_block(c->a, &buf, &len, &off)) == ARCHIVE_OK) {
        if (off < 0 || (uint64_t)off + len > (uint64_t)size) {
            c->why = "data beyond the entry's size";
            return -1;
        }
        const char *p = buf;
        uint64_t pos = ino->data_off + (uint64_t)off;
        while (len > 0) {
            ssize_t w = pwrite(t->spool_fd, p, len, (off_t)pos);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                snprintf(c->whybuf, sizeof(c->whybuf), "write spool: %s", strerror(errno));
                c->why = c->whybuf;
                return -1;
            }
            p += w;
            pos += (uint64_t)w;
            len -= (size_t)w;
        }
        if (pos - ino->data_off > written_end)
            written_end = pos - ino->data_off;
    }
    if (r != ARCHIVE_EOF) {
        c->why = NULL; /* libarchive's (or the reader's) message */
        return -1;
    }
    t->spool_end = ino->data_off + (uint64_t)size;
    if (written_end < (uint64_t)size && ftruncate(t->spool_fd, (off_t)t->spool_end) < 0) {
        c->why = "extend spool";
        return -1;
    }
    return 0;
}

static int apply_whiteout(struct apply_ctx *c, char **comps, int n)
{
    struct fs_inode *parent;
    if (walk_dirs(c, comps, n - 1, false, &parent) < 0)
        return -1;
    const char *base = comps[n - 1];
    if (!strcmp(base, WH_OPAQUE)) {
        if (!parent)
            return 0;
        /* Opaque: only the lower layers' entries go; this layer's stay. */
        for (uint32_t i = parent->n_ents; i-- > 0;)
            if (parent->ents[i].layer < c->layer)
                fs_dir_remove(parent, i);
        return 0;
    }
    const char *name = base + strlen(WH_PREFIX);
    if (!*name || !strcmp(name, ".") || !strcmp(name, "..") || !strncmp(name, WH_PREFIX, 4)) {
        c->why = "invalid whiteout name";
        return -1;
    }
    if (!parent)
        return 0;
    uint32_t pos;
    struct fs_dirent *d = fs_dir_find(parent, name, &pos);
    if (d && d->layer < c->layer)
        fs_dir_remove(parent, pos);
    return 0;
}

static int apply_entry(struct apply_ctx *c, struct archive_entry *e)
{
    const char *path = archive_entry_pathname(e);
    if (!path)
        path = archive_entry_pathname_utf8(e);
    if (!path) {
        c->why = "entry without a path";
        return -1;
    }
    if (strlen(path) >= PATH_MAX_LEN) {
        c->why = "path too long";
        return -1;
    }
    strcpy(c->pathbuf, path);
    char *comps[PATH_MAX_LEN / 2];
    int n = split_path(c->pathbuf, comps, (int)SM_ARRAY_SIZE(comps), &c->why);
    if (n < 0)
        return -1;
    mode_t type = archive_entry_filetype(e);
    const char *hardlink = archive_entry_hardlink(e);

    if (n > 0 && !strncmp(comps[n - 1], WH_PREFIX, strlen(WH_PREFIX)))
        return apply_whiteout(c, comps, n);

    if (n == 0) { /* the root itself: metadata only */
        if (type != AE_IFDIR || hardlink) {
            c->why = "the root is not a directory";
            return -1;
        }
        return set_metadata(c, c->t->root, e);
    }

    /* A hardlink's target: an earlier entry, looked up without following symlinks. */
    struct fs_inode *target = NULL;
    if (hardlink) {
        if (strlen(hardlink) >= PATH_MAX_LEN) {
            c->why = "hardlink target too long";
            return -1;
        }
        strcpy(c->linkbuf, hardlink);
        char *lcomps[PATH_MAX_LEN / 2];
        int ln = split_path(c->linkbuf, lcomps, (int)SM_ARRAY_SIZE(lcomps), &c->why);
        if (ln < 0)
            return -1;
        struct fs_inode *ldir;
        if (ln == 0 || walk_dirs(c, lcomps, ln - 1, false, &ldir) < 0) {
            if (ln == 0)
                c->why = "hardlink to the root";
            return -1;
        }
        struct fs_dirent *ld = ldir ? fs_dir_find(ldir, lcomps[ln - 1], NULL) : NULL;
        if (!ld) {
            c->why = "hardlink target does not exist";
            return -1;
        }
        if (fs_is_dir(ld->ino)) {
            c->why = "hardlink to a directory";
            return -1;
        }
        target = ld->ino;
    }

    if (charge_meta(c, strlen(comps[n - 1])) < 0)
        return -1;
    struct fs_inode *parent;
    if (walk_dirs(c, comps, n - 1, true, &parent) < 0)
        return -1;
    const char *base = comps[n - 1];
    uint32_t pos;
    struct fs_dirent *old = fs_dir_find(parent, base, &pos);

    if (target) {
        if (old && old->ino == target)
            return 0;    /* already that inode */
        target->nlink++; /* hold it while the old name (maybe its last one) goes */
        if (old)
            fs_dir_remove(parent, pos);
        fs_dir_find(parent, base, &pos);
        fs_dir_insert(parent, pos, base, target, c->layer);
        return 0;
    }

    if (type == AE_IFDIR && old && fs_is_dir(old->ino)) {
        old->layer = c->layer; /* this layer names it: its whiteouts no longer hide it */
        return set_metadata(c, old->ino, e);
    }

    uint32_t ftype;
    switch (type) {
    case AE_IFREG:
        ftype = S_IFREG;
        break;
    case AE_IFDIR:
        ftype = S_IFDIR;
        break;
    case AE_IFLNK:
        ftype = S_IFLNK;
        break;
    case AE_IFCHR:
        ftype = S_IFCHR;
        break;
    case AE_IFBLK:
        ftype = S_IFBLK;
        break;
    case AE_IFIFO:
        ftype = S_IFIFO;
        break;
    case AE_IFSOCK:
        ftype = S_IFSOCK;
        break;
    default:
        c->why = "unknown entry type";
        return -1;
    }
    struct fs_inode *ino = fs_inode_new(c->t, ftype);
    int ret = set_metadata(c, ino, e);
    if (ret == 0 && ftype == S_IFLNK) {
        const char *l = archive_entry_symlink(e);
        if (!l)
            l = archive_entry_symlink_utf8(e);
        size_t ll = l ? strlen(l) : 0;
        if (ll == 0 || ll >= PATH_MAX_LEN) {
            c->why = "bad symlink target";
            ret = -1;
        } else if (charge_meta(c, ll) < 0) {
            ret = -1;
        } else {
            ino->target = xstrdup(l);
            ino->size = ll;
        }
    } else if (ret == 0 && (ftype == S_IFCHR || ftype == S_IFBLK)) {
        dev_t maj = archive_entry_rdevmajor(e), min = archive_entry_rdevminor(e);
        if (maj > 0xfff || min > 0xfffff) { /* what a 32-bit dev_t encoding can hold */
            c->why = "device number out of range";
            ret = -1;
        }
        ino->rdev_major = (uint32_t)maj;
        ino->rdev_minor = (uint32_t)min;
    } else if (ret == 0 && ftype == S_IFREG) {
        la_int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
        if (size < 0) {
            c->why = "negative size";
            ret = -1;
        } else {
            ret = copy_data(c, ino, size);
        }
    }
    if (ret < 0) {
        fs_inode_unref(ino);
        return -1;
    }
    if (old) {
        fs_dir_remove(parent, pos);
        fs_dir_find(parent, base, &pos);
    }
    fs_dir_insert(parent, pos, base, ino, c->layer);
    return 0;
}

static int verify_diff_id(struct reader *r, const char *diff_id, const char *what, sm_error_t *err)
{
    char hex[65];
    sm_sha256_hex_final(&r->sha, hex);
    if (!diff_id)
        return 0;
    if (strncmp(diff_id, "sha256:", 7) != 0)
        return sm_error_set(err, 0, "%s: unsupported diff_id %.80s", what, diff_id);
    if (strcmp(hex, diff_id + 7) != 0)
        return sm_error_set(err, 0, "%s: diff_id mismatch: expected %.80s, got sha256:%s", what,
                            diff_id, hex);
    return 0;
}

int oci_layer_apply(struct fs_tree *t, const struct oci_layer_desc *layer, uint32_t layer_index,
                    struct oci_flatten_state *st, sm_error_t *err)
{
    const char *slash = strrchr(layer->blob_path, '/');
    cleanup_free char *what =
        xasprintf("layer %u (%s)", layer_index + 1, slash ? slash + 1 : layer->blob_path);
    int want = -1;
    if (layer->media_type) {
        want = media_type_compression(layer->media_type);
        if (want < 0)
            return sm_error_set(err, 0, "%s: unknown media type %.100s", what, layer->media_type);
    }
    cleanup_close int fd = open(layer->blob_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sm_error_set(err, errno, "%s: open %s", what, layer->blob_path);
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

    struct reader r = {.fd = fd, .st = st};
    r.in = xmalloc(IN_BUF_SIZE);
    r.out = xmalloc(OUT_BUF_SIZE);
    sha256_init(&r.sha);
    struct archive *a = NULL;
    int ret = -1;
    char *pathbuf = xmalloc(PATH_MAX_LEN), *linkbuf = xmalloc(PATH_MAX_LEN);

    if (fill_input(&r) < 0) {
        sm_error_set(err, 0, "%s: %s", what, r.errmsg);
        goto out;
    }
    r.comp = detect(r.in, r.in_len);
    if (want >= 0 && (int)r.comp != want) {
        sm_error_set(err, 0, "%s: media type %s announces %s but the content is %s", what,
                     layer->media_type, comp_name[want], comp_name[r.comp]);
        goto out;
    }
    if (r.comp == COMP_GZIP && inflateInit2(&r.zs, 16 + MAX_WBITS) != Z_OK) {
        sm_error_set(err, 0, "%s: inflateInit failed", what);
        goto out;
    }
    if (r.comp == COMP_ZSTD)
        r.zd = ZSTD_createDCtx();

    a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_format_empty(a);
    if (archive_read_open(a, &r, NULL, archive_read_cb, NULL) != ARCHIVE_OK) {
        sm_error_set(err, 0, "%s: %s", what, r.errmsg[0] ? r.errmsg : archive_error_string(a));
        goto out;
    }
    struct apply_ctx c = {
        .t = t, .a = a, .st = st, .layer = layer_index, .pathbuf = pathbuf, .linkbuf = linkbuf};
    struct archive_entry *e;
    for (;;) {
        int hr = archive_read_next_header(a, &e);
        if (hr == ARCHIVE_EOF)
            break;
        if (hr < ARCHIVE_WARN) {
            sm_error_set(err, 0, "%s: %s", what, r.errmsg[0] ? r.errmsg : archive_error_string(a));
            goto out;
        }
        if (++st->entries > st->max_entries) {
            sm_error_set(err, 0, "%s: more than %llu entries (limit)", what,
                         (unsigned long long)st->max_entries);
            goto out;
        }
        c.why = NULL;
        if (apply_entry(&c, e) < 0) {
            const char *p = archive_entry_pathname(e);
            sm_error_set(err, 0, "%s: entry %.200s: %s", what, p ? p : "?",
                         c.why         ? c.why
                         : r.errmsg[0] ? r.errmsg
                                       : archive_error_string(a));
            goto out;
        }
    }
    /* The diff_id covers the whole stream, including what follows the end-of-archive. */
    for (;;) {
        ssize_t n = next_chunk(&r);
        if (n < 0) {
            sm_error_set(err, 0, "%s: %s", what, r.errmsg);
            goto out;
        }
        if (n == 0)
            break;
    }
    t->tar_bytes += r.bytes;
    ret = verify_diff_id(&r, layer->diff_id, what, err);
out:
    if (a)
        archive_read_free(a);
    if (r.comp == COMP_GZIP)
        inflateEnd(&r.zs);
    ZSTD_freeDCtx(r.zd);
    free(r.in);
    free(r.out);
    free(pathbuf);
    free(linkbuf);
    return ret;
}

int oci_flatten_layers_ex(const struct oci_layer_desc *layers, size_t n,
                          const struct oci_flatten_limits *limits, struct fs_tree **out,
                          sm_error_t *err)
{
    struct oci_flatten_state st = {
        .max_total_bytes =
            limits && limits->max_total_bytes ? limits->max_total_bytes : OCI_FLATTEN_MAX_BYTES,
        .max_entries =
            limits && limits->max_entries ? limits->max_entries : OCI_FLATTEN_MAX_ENTRIES,
        .max_meta_bytes =
            limits && limits->max_meta_bytes ? limits->max_meta_bytes : OCI_FLATTEN_MAX_META_BYTES,
    };
    if (n > UINT32_MAX - 1)
        return sm_error_set(err, 0, "too many layers");
    struct fs_tree *t;
    if (fs_tree_new(limits ? limits->spool_dir : NULL, &t, err) < 0)
        return sm_error_wrap(err, "flatten");
    for (size_t i = 0; i < n; i++) {
        if (oci_layer_apply(t, &layers[i], (uint32_t)i, &st, err) < 0) {
            fs_tree_free(t);
            return sm_error_wrap(err, "flatten");
        }
    }
    t->entries_seen = st.entries;
    *out = t;
    return 0;
}
