/* Image references (src/oci/ref.c) as a user or an archive's annotations give them, the
 * forms made from a parsed one, which must parse again to the same reference, and the
 * insecure-registry list. */
#include <stdlib.h>
#include <string.h>

#include "oci/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    struct oci_ref ref, again;
    sm_error_t err = NULL;
    if (oci_ref_parse(s, &ref, &err) == 0) {
        char *full = oci_ref_string(&ref);
        if (oci_ref_parse(full, &again, NULL) < 0 || strcmp(again.domain, ref.domain) != 0 ||
            strcmp(again.path, ref.path) != 0 || strcmp(again.tag, ref.tag) != 0 ||
            strcmp(again.digest, ref.digest) != 0)
            abort(); /* the canonical form names another image */
        free(full);
        free(oci_ref_repository(&ref));
        free(oci_ref_familiar_repository(&ref));
        oci_ref_api_host(&ref);
        oci_ref_auth_key(ref.domain);
        oci_host_is_insecure(ref.domain, "registry.local:5000,example.com");
    }
    sm_error_release(&err);
    oci_digest_valid(s);
    oci_host_is_insecure(s, s);
    free(s);
    return 0;
}
