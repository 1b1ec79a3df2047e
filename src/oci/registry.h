/* A client for one repository of a registry speaking the distribution spec v2, on
 * libcurl: anonymous access, bearer tokens obtained from the WWW-Authenticate challenge,
 * basic auth; HTTPS, or plain HTTP for loopback and listed insecure registries. Safe to
 * use from several threads at once (each request has its own curl handle). */
#ifndef SM_OCI_REGISTRY_H
#define SM_OCI_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "oci/ref.h"
#include "oci/store.h"

struct oci_registry;

int oci_registry_open(const struct oci_ref *ref, struct oci_registry **out, sm_error_t *err);
void oci_registry_close(struct oci_registry *r);

/* GETs a manifest (by tag or digest) with every media type we understand in Accept.
 * Bounded by `max` bytes. Returns the body, its Content-Type and its computed digest; when
 * `reference` is a digest the body must hash to it. */
int oci_registry_get_manifest(struct oci_registry *r, const char *reference, size_t max,
                              char **body, size_t *len, char **content_type,
                              char digest[OCI_DIGEST_MAX], sm_error_t *err);

/* GETs a small blob (a config) into memory, verified against digest and size. */
int oci_registry_get_blob(struct oci_registry *r, const char *digest, int64_t size, size_t max,
                          char **body, size_t *len, sm_error_t *err);

/* Progress of a blob download: called with bytes so far (including a resumed prefix). */
typedef void (*oci_progress_fn)(void *opaque, uint64_t done, uint64_t total);

/* Streams a blob into the store, verified while it streams; resumes a partial left by an
 * interrupted pull with a Range request, restarting if the server ignores it or the
 * result does not verify. */
int oci_registry_fetch_blob(struct oci_registry *r, struct oci_store *s, const char *digest,
                            int64_t size, oci_progress_fn progress, void *opaque, sm_error_t *err);

/* Pure parsers of what a registry sends (hostile input), used by the client above and by
 * the fuzz targets. */
/* One parameter of a `Bearer realm="...",service="...",scope="..."` challenge into out
 * ("" when absent; truncated to n - 1 bytes). */
void oci_registry_challenge_param(const char *challenge, const char *key, char *out, size_t n);
/* The token of a token server's JSON answer ("token" or "access_token"): printable, no
 * spaces, under 64 KiB. *token is malloc'd. */
int oci_registry_parse_token(const char *body, size_t len, char **token, sm_error_t *err);
/* A one-line, printable message for a failed request: the first error of the registry's
 * JSON error body (NUL-terminated), else one for the HTTP status. */
void oci_registry_error_message(const char *body, long status, char *out, size_t n);

#endif
