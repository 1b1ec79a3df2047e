/* Manifests and indexes from a registry or an archive (src/oci/manifest.c): the document's
 * kind, then the manifest or the index with every descriptor checked, and the platform
 * choice in an index. The first byte picks the Content-Type the registry claimed. */
#include <stdlib.h>
#include <string.h>

#include "oci/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {
        NULL, "", OCI_MT_MANIFEST, OCI_MT_INDEX, DOCKER_MT_LIST, DOCKER_MT_MANIFEST, "text/plain"};
    if (size == 0)
        return 0;
    const char *ct = types[data[0] % (sizeof(types) / sizeof(types[0]))];
    /* An exact-size copy, not NUL-terminated: the parsers are given a length. */
    size_t len = size - 1;
    char *json = malloc(len ? len : 1);
    memcpy(json, data + 1, len);
    sm_error_t err = NULL;
    enum oci_kind kind;
    oci_document_kind(json, len, ct, &kind, &err);
    sm_error_release(&err);

    struct oci_manifest m = {0};
    if (oci_manifest_parse(json, len, &m, &err) == 0) {
        if (!oci_digest_valid(m.config.digest) || m.n_layers > OCI_LAYERS_MAX)
            abort(); /* what the parser promises its callers */
        for (size_t i = 0; i < m.n_layers; i++)
            if (!oci_digest_valid(m.layers[i].digest) || m.layers[i].size < 0)
                abort();
        oci_manifest_free(&m);
    }
    sm_error_release(&err);

    struct oci_descriptor *d = NULL;
    size_t n = 0;
    if (oci_index_parse(json, len, &d, &n, &err) == 0) {
        static const char *const plats[] = {"linux/amd64", "linux/arm64/v8", "linux/arm/v7", ""};
        for (size_t i = 0; i < sizeof(plats) / sizeof(plats[0]); i++) {
            struct oci_platform p;
            size_t idx;
            if (oci_platform_parse(plats[i], &p, NULL) == 0 &&
                oci_index_select(d, n, &p, &idx, &err) == 0 && idx >= n)
                abort();
            sm_error_release(&err);
        }
        free(d);
    }
    sm_error_release(&err);
    free(json);
    return 0;
}
