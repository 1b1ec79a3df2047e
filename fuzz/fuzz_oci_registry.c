/* What a registry and its token server send that the client reads (src/oci/registry.c):
 * the WWW-Authenticate challenge's parameters, the token server's JSON answer, and the
 * JSON error body of a failed request. The first byte picks the HTTP status. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "oci/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {401, 403, 404, 429, 500, 200};
    if (size == 0)
        return 0;
    long status = statuses[data[0] % 6];
    data++, size--;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0'; /* challenges and error bodies are kept NUL-terminated */

    static const char *const keys[] = {"realm", "service", "scope"};
    for (size_t i = 0; i < 3; i++) {
        char out[64];
        oci_registry_challenge_param(s, keys[i], out, sizeof(out));
        if (strlen(out) >= sizeof(out))
            abort();
    }
    char *token = NULL;
    sm_error_t err = NULL;
    if (oci_registry_parse_token(s, size, &token, &err) == 0) {
        for (const char *p = token; *p; p++)
            if (!isgraph((unsigned char)*p))
                abort(); /* it would go into a header line */
        free(token);
    }
    sm_error_release(&err);
    char msg[512];
    oci_registry_error_message(s, status, msg, sizeof(msg));
    for (const char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            abort(); /* the message is one printable line */
    free(s);
    return 0;
}
