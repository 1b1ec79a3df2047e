/* Layer flattening: applies an image's layer tarballs, in order, to an in-memory tree
 * (never to host paths), then writes that tree as an EROFS image or as a tar stream. */
#ifndef SM_OCI_FLATTEN_H
#define SM_OCI_FLATTEN_H

#include <stddef.h>
#include <stdint.h>

#include "supermachine.h"

struct oci_layer_desc {
    const char *blob_path;
    const char *media_type; /* NULL: detect from the content alone */
    const char *diff_id; /* "sha256:<hex>" from the config's rootfs.diff_ids; NULL = don't verify */
};

struct fs_tree;

/* Bounds against decompression bombs and hostile tarballs, over all layers together. */
struct oci_flatten_limits {
    uint64_t max_total_bytes; /* uncompressed tar bytes; default OCI_FLATTEN_MAX_BYTES */
    uint64_t max_entries;     /* tar entries and implied parent directories; default
                               * OCI_FLATTEN_MAX_ENTRIES */
    uint64_t max_meta_bytes;  /* memory for names, xattrs and symlink targets (64 bytes of
                               * overhead per item counted); default OCI_FLATTEN_MAX_META_BYTES */
    const char *spool_dir;    /* where file contents are spooled (an unnamed temp file);
                               * NULL: $TMPDIR, else /var/tmp */
};
#define OCI_FLATTEN_MAX_BYTES      (64ULL << 30) /* 64 GiB */
#define OCI_FLATTEN_MAX_ENTRIES    (2ULL << 20)  /* 2 Mi entries */
#define OCI_FLATTEN_MAX_META_BYTES (1ULL << 30)  /* 1 GiB */

/* Applies layers in order; verifies each layer's diff_id (sha256 of the uncompressed stream);
 * bounded against decompression bombs (default limits). */
int oci_flatten_layers(const struct oci_layer_desc *layers, size_t n, struct fs_tree **out,
                       sm_error_t *err);
/* The same with explicit limits (NULL: defaults). */
int oci_flatten_layers_ex(const struct oci_layer_desc *layers, size_t n,
                          const struct oci_flatten_limits *limits, struct fs_tree **out,
                          sm_error_t *err);
void fs_tree_free(struct fs_tree *t);

/* Writes the tree as an uncompressed EROFS image; atomic: temp file + rename. */
int erofs_write_image(const struct fs_tree *t, const char *path, sm_error_t *err);
/* Writes the tree as a pax tar stream (with xattrs) to fd, like `crane export`. */
int fs_tree_export_tar(const struct fs_tree *t, int fd, sm_error_t *err);

struct fs_tree_stats {
    uint64_t inodes;     /* distinct inodes, root included */
    uint64_t entries;    /* directory entries (hardlinks count once per name) */
    uint64_t data_bytes; /* regular file contents, each inode once */
    uint64_t tar_bytes;  /* uncompressed layer bytes read */
};
void fs_tree_get_stats(const struct fs_tree *t, struct fs_tree_stats *st);

#endif
