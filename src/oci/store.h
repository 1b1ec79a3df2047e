/* The content-addressed store under sm_store_root() (layout: docs/store-layout.md).
 * Blobs are immutable files named by their sha256, written through a temp file and renamed
 * only once verified; the image index maps references to manifest digests and is replaced
 * atomically under a lock; rootfs images are derived caches. */
#ifndef SM_OCI_STORE_H
#define SM_OCI_STORE_H

#include <nettle/sha2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "oci/ref.h"

struct oci_store {
    char *root;
    int gc_fd; /* shared lock on gc.lock while the store is in use for writing */
};

/* Opens (creating) the store. `writer` takes a shared lock that keeps garbage collection
 * from removing blobs that are downloaded but not yet referenced. */
int store_open(struct oci_store *s, bool writer, sm_error_t *err);
void store_close(struct oci_store *s);

char *store_blob_path(const struct oci_store *s, const char *digest);
bool store_has_blob(const struct oci_store *s, const char *digest);
/* Writes a blob from memory; if `expected` is given, the data must hash to it. */
int store_put_blob(struct oci_store *s, const char *expected, const void *data, size_t len,
                   char digest_out[OCI_DIGEST_MAX], sm_error_t *err);
/* Moves a complete file under tmp/ whose sha256 is `digest` (computed by the caller while
 * writing it) into place; if the blob exists already the file is just removed. */
int store_adopt_file(struct oci_store *s, const char *tmp_path, const char *digest,
                     sm_error_t *err);
/* A fresh private path under tmp/ (malloc'd). */
char *store_tmp_path(struct oci_store *s, const char *what);
/* Reads a blob (at most max bytes) and checks it still hashes to its name. */
int store_read_blob(const struct oci_store *s, const char *digest, size_t max, char **out,
                    size_t *len, sm_error_t *err);

/* Streaming ingest of one blob of known digest and size, verified while it streams.
 * The bytes go to tmp/<hex>.partial, locked by its writer: a second process ingesting the
 * same blob waits and then finds it done; a partial left by an interrupted process is
 * resumed from its length (the caller asks for a Range). */
struct store_ingest {
    struct oci_store *store;
    char digest[OCI_DIGEST_MAX];
    int64_t size;
    int fd;
    char *partial;
    uint64_t offset; /* bytes already there (resume point), then bytes written */
    struct sha256_ctx md;
};
/* Returns 1 if the blob is already in the store (nothing to do), 0 if ingest is open. */
int store_ingest_open(struct oci_store *s, const char *digest, int64_t size,
                      struct store_ingest *in, sm_error_t *err);
int store_ingest_write(struct store_ingest *in, const void *buf, size_t len, sm_error_t *err);
/* Drops what was written (the server ignored a Range request). */
int store_ingest_restart(struct store_ingest *in, sm_error_t *err);
/* Verifies size and digest and moves the blob into place. On a mismatch the partial file
 * is removed. */
int store_ingest_commit(struct store_ingest *in, sm_error_t *err);
/* Ends an ingest that failed: keep=true keeps the partial file to resume from (a transport
 * error), false removes it (the content was wrong). */
void store_ingest_close(struct store_ingest *in, bool keep);

/* The image index. */
struct store_image {
    char *name;                    /* canonical reference, or NULL when untagged */
    char manifest[OCI_DIGEST_MAX]; /* platform-specific image manifest */
    char config[OCI_DIGEST_MAX];
    uint64_t size; /* sum of layer blob sizes */
    int64_t added; /* unix time */
};
int store_index_load(struct oci_store *s, struct store_image **list, size_t *n, sm_error_t *err);
void store_images_free(struct store_image *list, size_t n);
/* Adds or replaces the entry for img->name (NULL name: an untagged image, kept once per
 * manifest). */
int store_index_put(struct oci_store *s, const struct store_image *img, sm_error_t *err);
/* Removes the entry named, or every entry of an image ID (config) when name is NULL. */
int store_index_remove(struct oci_store *s, const char *name, const char *config, sm_error_t *err);

/* Finds an image by reference (normalized), by image ID (config digest, or a unique hex
 * prefix of at least 4 digits) or by manifest digest. */
int store_resolve(struct oci_store *s, const char *user_ref, struct store_image *out,
                  sm_error_t *err);

/* Removes blobs and rootfs images no index entry needs, and stale partial files. */
int store_gc(struct oci_store *s, sm_error_t *err);

char *store_rootfs_path(const struct oci_store *s, const char *manifest_digest);

/* The disk space the blobs take (allocated blocks), and the part of it that no image
 * whose manifest digest is among keep_manifests needs: what removing every other image
 * would free. */
int store_blob_usage(struct oci_store *s, char *const *keep_manifests, size_t nkeep, int64_t *bytes,
                     int64_t *reclaimable, sm_error_t *err);

#endif
