/* Credentials from docker's config file: inline auths, identity tokens, Docker Hub's key,
 * and a real credential helper program run through docker's helper protocol. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "common/util.h"
#include "oci/auth.h"

static int lookup(const char *json, const char *domain, struct oci_cred *c)
{
    sm_error_t err = NULL;
    int r = oci_auth_lookup_json(json, strlen(json), domain, c, &err);
    if (r < 0) {
        CHECK(strchr(sm_error_message(err), '\n') == NULL);
        sm_error_release(&err);
    }
    return r;
}

int main(void)
{
    struct oci_cred c;
    /* base64("alice:s3cret:with:colons") */
    CHECK(lookup("{\"auths\":{\"127.0.0.1:5000\":{\"auth\":\"YWxpY2U6czNjcmV0OndpdGg6Y29sb25z\"}}}",
                 "127.0.0.1:5000", &c) == 0);
    CHECK_STR(c.username, "alice");
    CHECK_STR(c.password, "s3cret:with:colons");
    oci_cred_clear(&c);

    CHECK(lookup("{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"Ym9iOnB3\"}}}",
                 "docker.io", &c) == 0);
    CHECK_STR(c.username, "bob");
    CHECK_STR(c.password, "pw");
    oci_cred_clear(&c);

    CHECK(
        lookup("{\"auths\":{\"http://reg.lan:5000/v2/\":{\"username\":\"u\",\"password\":\"p\"}}}",
               "reg.lan:5000", &c) == 0);
    CHECK_STR(c.username, "u");
    CHECK_STR(c.password, "p");
    oci_cred_clear(&c);

    CHECK(lookup("{\"auths\":{\"reg.lan\":{\"identitytoken\":\"tok\"}}}", "reg.lan", &c) == 0);
    CHECK(c.username == NULL);
    CHECK_STR(c.identity_token, "tok");
    oci_cred_clear(&c);

    /* Padding: base64("bob:p") ends in one '=', base64("al:x") in two; none of it may
     * reach the password. */
    CHECK(lookup("{\"auths\":{\"reg.lan\":{\"auth\":\"Ym9iOnA=\"}}}", "reg.lan", &c) == 0);
    CHECK_STR(c.password, "p");
    oci_cred_clear(&c);
    CHECK(lookup("{\"auths\":{\"reg.lan\":{\"auth\":\"YWw6eA==\"}}}", "reg.lan", &c) == 0);
    CHECK_STR(c.username, "al");
    CHECK_STR(c.password, "x");
    oci_cred_clear(&c);

    CHECK(lookup("{\"auths\":{\"other\":{\"auth\":\"Ym9iOnB3\"}}}", "reg.lan", &c) == 0);
    CHECK(c.username == NULL && c.password == NULL && c.identity_token == NULL);

    CHECK(lookup("{\"auths\":{\"reg.lan\":{\"auth\":\"!!!!\"}}}", "reg.lan", &c) < 0);
    CHECK(lookup("{\"auths\":{\"reg.lan\":{\"auth\":\"bm9jb2xvbg==\"}}}", "reg.lan", &c) < 0);
    CHECK(lookup("{\"auths\":", "reg.lan", &c) < 0);
    CHECK(lookup("[]", "reg.lan", &c) < 0);

    /* A credential helper: a real program on PATH speaking docker's protocol. */
    char dir[] = "/tmp/sm-auth-test.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *helper = xasprintf("%s/docker-credential-unit", dir);
    const char *script =
        "#!/bin/sh\n"
        "[ \"$1\" = get ] || exit 3\n"
        "read -r url\n"
        "case \"$url\" in\n"
        "reg.lan) echo '{\"Username\":\"hu\",\"Secret\":\"hs\"}' ;;\n"
        "https://index.docker.io/v1/) echo '{\"Username\":\"<token>\",\"Secret\":\"it\"}' ;;\n"
        "*) echo 'credentials not found in native keychain'; exit 1 ;;\n"
        "esac\n";
    sm_error_t err = NULL;
    CHECK(sm_write_file_atomic(helper, script, strlen(script), 0755, &err) == 0);
    char *path = xasprintf("%s:%s", dir, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    CHECK(lookup("{\"credHelpers\":{\"reg.lan\":\"unit\"}}", "reg.lan", &c) == 0);
    CHECK_STR(c.username, "hu");
    CHECK_STR(c.password, "hs");
    oci_cred_clear(&c);
    CHECK(lookup("{\"credsStore\":\"unit\"}", "docker.io", &c) == 0);
    CHECK_STR(c.identity_token, "it");
    oci_cred_clear(&c);
    /* Not found in the store: fall back to the inline entry. */
    CHECK(lookup("{\"credsStore\":\"unit\",\"auths\":{\"x.y\":{\"auth\":\"Ym9iOnB3\"}}}", "x.y",
                 &c) == 0);
    CHECK_STR(c.username, "bob");
    oci_cred_clear(&c);
    CHECK(lookup("{\"credsStore\":\"nonexistent-helper\"}", "reg.lan", &c) < 0);
    CHECK(lookup("{\"credsStore\":\"../evil\"}", "reg.lan", &c) < 0);
    unlink(helper);
    rmdir(dir);
    free(helper);
    free(path);
    return check_summary("oci_auth");
}
