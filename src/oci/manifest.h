/* Image manifests and indexes (OCI and Docker v2 schema 2), parsed from untrusted JSON
 * into bounded, validated descriptors; platform selection in indexes. */
#ifndef SM_OCI_MANIFEST_H
#define SM_OCI_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "oci/ref.h"

#define OCI_MT_MANIFEST      "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_INDEX         "application/vnd.oci.image.index.v1+json"
#define OCI_MT_CONFIG        "application/vnd.oci.image.config.v1+json"
#define OCI_MT_LAYER_TAR     "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_LAYER_GZIP    "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_LAYER_ZSTD    "application/vnd.oci.image.layer.v1.tar+zstd"
#define DOCKER_MT_MANIFEST   "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MT_LIST       "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_CONFIG     "application/vnd.docker.container.image.v1+json"
#define DOCKER_MT_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* Bounds on what we accept from a registry or an archive. */
#define OCI_MANIFEST_MAX  (4u << 20)
#define OCI_CONFIG_MAX    (8u << 20)
#define OCI_LAYERS_MAX    512
#define OCI_BLOB_SIZE_MAX (64ull << 30)

enum oci_kind { OCI_KIND_UNKNOWN, OCI_KIND_MANIFEST, OCI_KIND_INDEX };

struct oci_descriptor {
    char media_type[128];
    char digest[OCI_DIGEST_MAX];
    int64_t size;
    /* For index entries: */
    char os[32], arch[32], variant[32];
    char ref_name[256]; /* annotation org.opencontainers.image.ref.name or
                         * io.containerd.image.name, if any */
};

struct oci_manifest {
    struct oci_descriptor config;
    struct oci_descriptor *layers;
    size_t n_layers;
};

struct oci_platform {
    char os[32], arch[32], variant[32];
};

enum oci_kind oci_media_kind(const char *media_type);
bool oci_layer_media_type_known(const char *media_type);

/* Classifies a manifest document: by the Content-Type when it names a known kind, else by
 * its mediaType field, else by shape (manifests have "layers", indexes "manifests"). */
int oci_document_kind(const char *json, size_t len, const char *content_type, enum oci_kind *kind,
                      sm_error_t *err);

int oci_manifest_parse(const char *json, size_t len, struct oci_manifest *m, sm_error_t *err);
void oci_manifest_free(struct oci_manifest *m);

int oci_index_parse(const char *json, size_t len, struct oci_descriptor **out, size_t *n,
                    sm_error_t *err);

/* "os/arch[/variant]"; NULL or "" gives the host's platform. */
int oci_platform_parse(const char *s, struct oci_platform *p, sm_error_t *err);
/* Picks the entry for the platform (skipping unknown/unknown attestation entries). */
int oci_index_select(const struct oci_descriptor *d, size_t n, const struct oci_platform *p,
                     size_t *idx, sm_error_t *err);

/* Loads JSON with json-c, requiring the whole buffer to be one object. NULL on error. */
struct json_object;
struct json_object *oci_json_parse(const char *json, size_t len, const char *what, sm_error_t *err);

#endif
