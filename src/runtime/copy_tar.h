/* Trees of files in and out of a VM (`cp`, docker's rules: docs/run.md) travel as tar
 * streams that the guest's agent extracts and writes (docs/protocol.md: write-tar,
 * read-tar). This side's tar code needs libarchive, so it lives in the I/O plugin
 * (oci/io_plugin.h); the library calls it through io_loader.c. */
#ifndef SM_RUNTIME_COPY_TAR_H
#define SM_RUNTIME_COPY_TAR_H

#include "common/error.h"

/* Writes a tar of the local file or directory `path` to fd: its top entry is named `top`,
 * the rest `top/...`; with top "" a directory's own entry is left out and its contents
 * are named relative to it. Symlinks are stored as links, never followed (the top one
 * included); devices, fifos and sockets are left out. */
int copy_tar_create(const char *path, const char *top, int fd, sm_error_t *err);

/* Extracts a tar read from fd, written by a guest and so not trusted, into the existing
 * local directory `dir`. Every entry must be `top` or under `top/` (top non-empty), and
 * is extracted as `as` in its place. Only regular files, directories and symlinks are
 * taken (anything else, a hardlink, an absolute name or a ".." refuses the whole
 * stream); nothing is written through a symlink; modes lose their set-id and sticky bits,
 * and files belong to the caller. Reads fd to its end. */
int copy_tar_extract(int fd, const char *dir, const char *top, const char *as, sm_error_t *err);

#endif
