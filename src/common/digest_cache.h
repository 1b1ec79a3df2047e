/* SHA-256 of files that rarely change (the guest kernel, sm-init), remembered by the
 * file's identity: computing them on every `run` cost two reads of 8 MiB and more (tens
 * of milliseconds natively, most of a second in the emulated KVM host) before any VM
 * started. */
#ifndef SM_DIGEST_CACHE_H
#define SM_DIGEST_CACHE_H

#include "common/error.h"

/* As sm_sha256_file, but a digest computed before is reused while the file's device,
 * inode, size, modification and status-change times are those it had then (any write,
 * truncation, rename over it or utimes changes one of them; ctime cannot be set back by
 * anyone but root). The record lives in the store, cache/digests/<hash of the path>,
 * written by temp file and rename; a store that cannot be written only loses the reuse. */
int sm_sha256_file_cached(const char *path, char out[65], sm_error_t *err);

#endif
