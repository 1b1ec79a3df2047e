/* Internal helpers shared by the image API files (image.c, load.c, rootfs.c). */
#ifndef SM_OCI_IMAGE_H
#define SM_OCI_IMAGE_H

#include "oci/manifest.h"
#include "oci/store.h"

/* Parses a config blob's rootfs.diff_ids, checking there is one per layer. */
int oci_config_diff_ids(const char *json, size_t len, size_t n_layers, char (**out)[OCI_DIGEST_MAX],
                        sm_error_t *err);

/* The runtime parts of a config blob (Entrypoint, Cmd, Env, WorkingDir, User, StopSignal,
 * ExposedPorts) into c, whose id and manifest_digest are left alone. Pure: the config is
 * untrusted JSON (sm_image_config and the fuzz target run it). */
struct sm_image_config;
int oci_config_parse(const char *json, size_t len, struct sm_image_config *c, sm_error_t *err);

/* Reads an image's manifest (and, if wanted, its config) from the store. */
int oci_image_read(struct oci_store *s, const struct store_image *img, struct oci_manifest *m,
                   char **config, size_t *config_len, sm_error_t *err);

/* Sum of layer sizes of a manifest. */
uint64_t oci_manifest_size(const struct oci_manifest *m);

#endif
