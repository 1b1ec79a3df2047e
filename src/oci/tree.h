/* The in-memory tree that layers are applied to: every inode, name, owner, mode, mtime,
 * xattr and device number as the tars say. File contents live in one unnamed spool file
 * (data_off/size), never in host paths that mirror the tree. */
#ifndef SM_OCI_TREE_H
#define SM_OCI_TREE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "oci/flatten.h"

struct fs_xattr {
    char *name; /* full name, e.g. "security.capability" */
    void *value;
    uint32_t len;
};

struct fs_dirent {
    char *name;
    struct fs_inode *ino;
    uint32_t layer; /* index of the layer that created this name (whiteouts and opaque
                     * directories only affect names from lower layers) */
};

struct fs_inode {
    uint32_t idx;  /* unique per tree, < tree->n_inodes_ever: index for side tables */
    uint32_t mode; /* S_IFMT | permission bits incl. setuid/setgid/sticky */
    uint32_t uid, gid;
    uint32_t nlink; /* names referring to it (directories: references, not link count) */
    uint32_t mtime_nsec;
    int64_t mtime;
    uint32_t rdev_major, rdev_minor;
    uint64_t size;     /* regular: content size; symlink: target length */
    uint64_t data_off; /* regular: where the contents start in the spool */
    char *target;      /* symlink target */
    struct fs_xattr *xattrs;
    uint32_t n_xattrs;
    /* Directories: children sorted by name (bytewise, as EROFS wants them). */
    struct fs_dirent *ents;
    uint32_t n_ents, cap_ents;
};

struct fs_tree {
    struct fs_inode *root;
    int spool_fd;
    uint64_t spool_end;
    uint32_t n_inodes_ever;
    uint64_t tar_bytes;
    uint64_t entries_seen;
};

/* Creates an empty tree (root: 0755 root:root) with its spool file in spool_dir (NULL:
 * $TMPDIR, else /var/tmp). */
int fs_tree_new(const char *spool_dir, struct fs_tree **out, sm_error_t *err);
struct fs_inode *fs_inode_new(struct fs_tree *t, uint32_t mode);
/* Drops one reference; frees the inode (and a directory's children) at zero. */
void fs_inode_unref(struct fs_inode *ino);

/* Binary search; returns the entry or NULL, and in *pos where name is or would go. */
struct fs_dirent *fs_dir_find(const struct fs_inode *dir, const char *name, uint32_t *pos);
/* Inserts name at pos (from fs_dir_find), taking a reference on ino. */
void fs_dir_insert(struct fs_inode *dir, uint32_t pos, const char *name, struct fs_inode *ino,
                   uint32_t layer);
void fs_dir_remove(struct fs_inode *dir, uint32_t pos);

/* Replaces an inode's xattr list entry (or adds it). */
void fs_inode_set_xattr(struct fs_inode *ino, const char *name, const void *value, size_t len);

/* Reads `len` bytes of an inode's contents at `off` (holes past the spool's end read as
 * zeros). */
int fs_tree_read_data(const struct fs_tree *t, const struct fs_inode *ino, uint64_t off, void *buf,
                      size_t len, sm_error_t *err);

/* Applies one layer (layer.c). */
struct oci_flatten_state {
    uint64_t max_total_bytes, max_entries, max_meta_bytes;
    uint64_t total_bytes, entries, meta_bytes;
};
int oci_layer_apply(struct fs_tree *t, const struct oci_layer_desc *layer, uint32_t layer_index,
                    struct oci_flatten_state *st, sm_error_t *err);

static inline bool fs_is_dir(const struct fs_inode *i)
{
    return (i->mode & S_IFMT) == S_IFDIR;
}

#endif
