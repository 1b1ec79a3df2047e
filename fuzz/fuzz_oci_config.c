/* Image config blobs (src/oci/image.c): what `run` takes from them (Entrypoint, Cmd, Env,
 * WorkingDir, User, StopSignal, ExposedPorts) and the layers' diff_ids. */
#include <stdlib.h>
#include <string.h>

#include "oci/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json = malloc(size ? size : 1);
    memcpy(json, data, size);
    sm_error_t err = NULL;
    struct sm_image_config *c = calloc(1, sizeof(*c));
    oci_config_parse(json, size, c, &err);
    sm_error_release(&err);
    sm_image_config_free(c);
    for (size_t layers = 0; layers < 3; layers++) {
        char(*ids)[OCI_DIGEST_MAX] = NULL;
        if (oci_config_diff_ids(json, size, layers, &ids, &err) == 0) {
            for (size_t i = 0; i < layers; i++)
                if (!oci_digest_valid(ids[i]))
                    abort();
            free(ids);
        }
        sm_error_release(&err);
    }
    free(json);
    return 0;
}
