/* Image references as docker parses them: `busybox` is docker.io/library/busybox:latest,
 * `host:port/ns/name:tag` names another registry, `@sha256:<hex>` pins a digest. */
#ifndef SM_OCI_REF_H
#define SM_OCI_REF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define OCI_DIGEST_MAX 72 /* "sha256:" + 64 hex + NUL, with room */

struct oci_ref {
    char domain[256];            /* "docker.io", "127.0.0.1:5000", "[::1]:5000" */
    char path[256];              /* "library/busybox" */
    char tag[129];               /* "" when absent (only when a digest is given) */
    char digest[OCI_DIGEST_MAX]; /* "" or "sha256:<64 hex>" */
};

/* Parses and normalizes; a missing tag becomes "latest" unless a digest is given. */
int oci_ref_parse(const char *s, struct oci_ref *ref, sm_error_t *err);

/* The canonical form: domain/path[:tag][@digest]. Returns a malloc'd string. */
char *oci_ref_string(const struct oci_ref *ref);
/* domain/path (no tag or digest), as a malloc'd string. */
char *oci_ref_repository(const struct oci_ref *ref);
/* The short form docker shows: "busybox" for docker.io/library/busybox, "user/x" for
 * docker.io/user/x, else the full repository. Malloc'd. */
char *oci_ref_familiar_repository(const struct oci_ref *ref);
/* The whole reference as docker prints it: "busybox:latest", "user/x:1@sha256:...". */
char *oci_ref_familiar_string(const struct oci_ref *ref);
/* A stored name (or an image ID, returned as it is) in that form; in full if it does not
 * parse. Malloc'd. */
char *oci_ref_familiar_name(const char *name);

/* The host serving the registry API: registry-1.docker.io for Docker Hub. */
const char *oci_ref_api_host(const struct oci_ref *ref);

/* The key docker uses for credentials in ~/.docker/config.json. */
const char *oci_ref_auth_key(const char *domain);

/* True for registries spoken to over plain HTTP: loopback (127.0.0.0/8, ::1, localhost)
 * and the names (host or host:port) listed, comma-separated, in `insecure_list`
 * (SUPERMACHINE_INSECURE_REGISTRIES). */
bool oci_host_is_insecure(const char *domain, const char *insecure_list);

/* "sha256:" followed by exactly 64 lowercase hex digits. */
bool oci_digest_valid(const char *digest);

#endif
