/* Registry credentials as docker keeps them in ~/.docker/config.json: inline `auths`
 * (base64 "user:pass", or username/password, or an identitytoken), and the
 * docker-credential-<helper> programs named by `credsStore` and `credHelpers`. */
#ifndef SM_OCI_AUTH_H
#define SM_OCI_AUTH_H

#include "common/error.h"

struct oci_cred {
    char *username; /* NULL when there are no credentials */
    char *password;
    char *identity_token; /* an OAuth2 refresh token, used instead of a password */
};

/* Looks up credentials for a registry domain ("docker.io", "127.0.0.1:5000") in the
 * config file: $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json. No file or no
 * entry gives empty credentials, not an error; a malformed file is an error. */
int oci_auth_lookup(const char *domain, struct oci_cred *out, sm_error_t *err);

/* The same from a config file's text (what the unit tests drive). */
int oci_auth_lookup_json(const char *json, size_t len, const char *domain, struct oci_cred *out,
                         sm_error_t *err);

void oci_cred_clear(struct oci_cred *c);

#endif
