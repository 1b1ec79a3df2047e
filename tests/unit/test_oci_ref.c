/* Reference parsing as docker does it, registry transport choice, platform selection. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/util.h"
#include "oci/manifest.h"
#include "oci/ref.h"

static void check_ref(const char *in, const char *canon, const char *api_host)
{
    struct oci_ref r;
    sm_error_t err = NULL;
    int rc = oci_ref_parse(in, &r, &err);
    CHECK(rc == 0);
    if (rc != 0) {
        fprintf(stderr, "  %s: %s\n", in, sm_error_message(err));
        sm_error_release(&err);
        return;
    }
    char *s = oci_ref_string(&r);
    CHECK_STR(s, canon);
    CHECK_STR(oci_ref_api_host(&r), api_host);
    free(s);
}

static void check_bad(const char *in)
{
    struct oci_ref r;
    sm_error_t err = NULL;
    CHECK(oci_ref_parse(in, &r, &err) < 0);
    CHECK(err != NULL && strchr(sm_error_message(err), '\n') == NULL);
    sm_error_release(&err);
}

static void test_refs(void)
{
    const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    check_ref("busybox", "docker.io/library/busybox:latest", "registry-1.docker.io");
    check_ref("busybox:1.36", "docker.io/library/busybox:1.36", "registry-1.docker.io");
    check_ref("user/app", "docker.io/user/app:latest", "registry-1.docker.io");
    check_ref("docker.io/busybox", "docker.io/library/busybox:latest", "registry-1.docker.io");
    check_ref("index.docker.io/library/x", "docker.io/library/x:latest", "registry-1.docker.io");
    check_ref("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000");
    check_ref("localhost/a/b:t", "localhost/a/b:t", "localhost");
    check_ref("localhost:5000/ns/name:v1.2-rc_3", "localhost:5000/ns/name:v1.2-rc_3",
              "localhost:5000");
    check_ref("ghcr.io/o/r/deep/path:tag", "ghcr.io/o/r/deep/path:tag", "ghcr.io");
    check_ref("[::1]:5000/x:y", "[::1]:5000/x:y", "[::1]:5000");
    check_ref("a__b.c-d---e", "docker.io/library/a__b.c-d---e:latest", "registry-1.docker.io");
    char buf[256];
    snprintf(buf, sizeof(buf), "busybox@%s", d);
    char want[256];
    snprintf(want, sizeof(want), "docker.io/library/busybox@%s", d);
    check_ref(buf, want, "registry-1.docker.io");
    snprintf(buf, sizeof(buf), "h:1/x:t@%s", d);
    snprintf(want, sizeof(want), "h:1/x:t@%s", d);
    check_ref(buf, want, "h:1");

    check_bad("");
    check_bad("UPPER");
    check_bad("a/B");
    check_bad("x:");
    check_bad("x:-bad");
    check_bad("x@sha256:abc");
    check_bad("x@md5:0123456789abcdef0123456789abcdef");
    check_bad("a//b");
    check_bad("-a");
    check_bad("a_");
    check_bad("a___b");
    check_bad("host:99999999/x");
    check_bad("x/");
    check_bad("x:tag\nEvil");
    /* No repository name at all (found by fuzz/fuzz_oci_ref.c: ":0" parsed as
     * docker.io/library/ and printed as a reference that did not parse again). */
    check_bad(":0");
    check_bad(":latest");
    check_bad("@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    check_bad("localhost:5000/");
    check_bad("example.com/:tag");

    struct oci_ref r;
    sm_error_t err = NULL;
    CHECK(oci_ref_parse("library/busybox", &r, &err) == 0);
    char *f = oci_ref_familiar_repository(&r);
    CHECK_STR(f, "busybox");
    free(f);
    CHECK(oci_ref_parse("127.0.0.1:5000/a/b", &r, &err) == 0);
    f = oci_ref_familiar_repository(&r);
    CHECK_STR(f, "127.0.0.1:5000/a/b");
    free(f);
    /* Names as load and rmi print them. */
    static const char *const familiar[][2] = {
        {"docker.io/library/busybox:latest", "busybox:latest"},
        {"docker.io/user/x:1", "user/x:1"},
        {"docker.io/library/a/b:2", "library/a/b:2"},
        {"example.com/saved/img:v1", "example.com/saved/img:v1"},
        {"docker.io/library/busybox@sha256:"
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
        {"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
        {"Not A Name", "Not A Name"},
    };
    for (size_t i = 0; i < sizeof(familiar) / sizeof(familiar[0]); i++) {
        f = oci_ref_familiar_name(familiar[i][0]);
        CHECK_STR(f, familiar[i][1]);
        free(f);
    }
    CHECK_STR(oci_ref_auth_key("docker.io"), "https://index.docker.io/v1/");
    CHECK_STR(oci_ref_auth_key("127.0.0.1:5000"), "127.0.0.1:5000");
}

static void test_insecure(void)
{
    CHECK(oci_host_is_insecure("127.0.0.1:5000", NULL));
    CHECK(oci_host_is_insecure("127.1.2.3", NULL));
    CHECK(oci_host_is_insecure("localhost:80", NULL));
    CHECK(oci_host_is_insecure("[::1]:5000", NULL));
    CHECK(!oci_host_is_insecure("128.0.0.1:5000", NULL));
    CHECK(!oci_host_is_insecure("127.0.0.1.evil.com", NULL));
    CHECK(!oci_host_is_insecure("docker.io", NULL));
    CHECK(oci_host_is_insecure("reg.lan:5000", "other, reg.lan:5000"));
    CHECK(oci_host_is_insecure("reg.lan:5000", "reg.lan"));
    CHECK(!oci_host_is_insecure("reg.lan:5001", "reg.lan:5000"));
}

static void test_digest(void)
{
    CHECK(oci_digest_valid(
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    CHECK(!oci_digest_valid(
        "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
    CHECK(!oci_digest_valid("sha256:../../etc/passwd"));
    CHECK(!oci_digest_valid("sha512:00"));
    CHECK(!oci_digest_valid(NULL));
}

static void test_platform(void)
{
    const char *index =
        "{\"schemaVersion\":2,\"manifests\":["
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":10,"
        "\"digest\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\","
        "\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":10,"
        "\"digest\":\"sha256:2222222222222222222222222222222222222222222222222222222222222222\","
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
        "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"size\":10,"
        "\"digest\":\"sha256:3333333333333333333333333333333333333333333333333333333333333333\","
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
    struct oci_descriptor *d = NULL;
    size_t n = 0, pick = 99;
    sm_error_t err = NULL;
    CHECK(oci_index_parse(index, strlen(index), &d, &n, &err) == 0);
    CHECK(n == 3);
    struct oci_platform p;
    CHECK(oci_platform_parse("linux/amd64", &p, &err) == 0);
    CHECK(oci_index_select(d, n, &p, &pick, &err) == 0 && pick == 2);
    CHECK(oci_platform_parse("linux/aarch64", &p, &err) == 0);
    CHECK(oci_index_select(d, n, &p, &pick, &err) == 0 && pick == 1);
    CHECK(oci_platform_parse("linux/arm64/v8", &p, &err) == 0);
    CHECK(oci_index_select(d, n, &p, &pick, &err) == 0 && pick == 1);
    CHECK(oci_platform_parse("unknown/unknown", &p, &err) == 0);
    CHECK(oci_index_select(d, n, &p, &pick, &err) < 0);
    CHECK(strstr(sm_error_message(err), "linux/arm64/v8, linux/amd64") != NULL);
    sm_error_release(&err);
    CHECK(oci_platform_parse("linux", &p, &err) < 0);
    sm_error_release(&err);
    free(d);

    enum oci_kind k;
    CHECK(oci_document_kind("{\"layers\":[]}", 13, NULL, &k, &err) == 0 && k == OCI_KIND_MANIFEST);
    CHECK(oci_document_kind("{\"mediaType\":\"x/y\"}", 19, "text/plain", &k, &err) < 0);
    sm_error_release(&err);
    CHECK(oci_document_kind("{} trailing", 11, NULL, &k, &err) < 0);
    sm_error_release(&err);
}

int main(void)
{
    test_refs();
    test_insecure();
    test_digest();
    test_platform();
    return check_summary("oci_ref");
}
