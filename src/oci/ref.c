/* Docker reference grammar (distribution/reference), reduced to what matters for pulling:
 * an optional registry domain, a lowercase path, an optional tag and an optional digest. */
#include "oci/ref.h"

#include <ctype.h>
#include <string.h>

#include "common/util.h"

bool oci_digest_valid(const char *d)
{
    if (d == NULL || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 7 + 64)
        return false;
    for (const char *p = d + 7; *p; p++)
        if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f'))
            return false;
    return true;
}

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+ runs separated by '.', '_', '__' or any run of '-'. */
static bool component_valid(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    size_t i = 0;
    while (i < n) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        if (s[i] == '.')
            i++;
        else if (s[i] == '_')
            i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
        else if (s[i] == '-')
            while (i < n && s[i] == '-')
                i++;
        else
            return false;
        if (i >= n || !is_lower_alnum(s[i]))
            return false;
    }
    return true;
}

static bool path_valid(const char *p)
{
    if (*p == '\0')
        return false; /* no repository name at all (":tag", "host:5000/") */
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!component_valid(p, n))
            return false;
        if (slash == NULL)
            break;
        p = slash + 1;
        if (*p == '\0')
            return false;
    }
    return true;
}

static bool tag_valid(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 128)
        return false;
    if (!isalnum((unsigned char)t[0]) && t[0] != '_')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && t[i] != '_' && t[i] != '.' && t[i] != '-')
            return false;
    return true;
}

static bool domain_valid(const char *d)
{
    const char *port = NULL;
    if (d[0] == '[') {
        const char *close = strchr(d, ']');
        if (close == NULL || close == d + 1)
            return false;
        for (const char *p = d + 1; p < close; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                return false;
        if (close[1] == '\0')
            return true;
        if (close[1] != ':')
            return false;
        port = close + 2;
    } else {
        const char *colon = strchr(d, ':');
        const char *end = colon ? colon : d + strlen(d);
        if (end == d)
            return false;
        for (const char *p = d; p < end; p++)
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
                return false;
        if (d[0] == '-' || d[0] == '.' || end[-1] == '-' || end[-1] == '.')
            return false;
        if (colon)
            port = colon + 1;
    }
    if (port) {
        size_t n = strlen(port);
        if (n == 0 || n > 5 || strspn(port, "0123456789") != n)
            return false;
    }
    return true;
}

int oci_ref_parse(const char *s, struct oci_ref *ref, sm_error_t *err)
{
    memset(ref, 0, sizeof(*ref));
    if (s == NULL || *s == '\0')
        return sm_error_set(err, 0, "invalid reference format: empty");
    if (strlen(s) > 1024)
        return sm_error_set(err, 0, "invalid reference format: too long");
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return sm_error_set(err, 0, "invalid reference format: unexpected character");
    cleanup_free char *buf = xstrdup(s);

    char *at = strchr(buf, '@');
    if (at) {
        *at = '\0';
        if (!oci_digest_valid(at + 1))
            return sm_error_set(err, 0, "invalid reference format: bad digest in %s", s);
        snprintf(ref->digest, sizeof(ref->digest), "%s", at + 1);
    }
    /* A tag is after the last ':' only if no '/' follows it (a ':' before a '/' is a
     * port). */
    char *colon = strrchr(buf, ':');
    if (colon && strchr(colon, '/') == NULL) {
        *colon = '\0';
        if (!tag_valid(colon + 1))
            return sm_error_set(err, 0, "invalid reference format: bad tag in %s", s);
        snprintf(ref->tag, sizeof(ref->tag), "%s", colon + 1);
    }
    /* The first component is a domain if it looks like one: a '.', a ':' or localhost
     * (docker's rule). */
    const char *name = buf;
    char *slash = strchr(buf, '/');
    if (slash) {
        size_t n = (size_t)(slash - buf);
        bool domain = memchr(buf, '.', n) || memchr(buf, ':', n) ||
                      (n == 9 && memcmp(buf, "localhost", 9) == 0) || buf[0] == '[';
        for (size_t i = 0; domain == false && i < n; i++)
            if (isupper((unsigned char)buf[i]))
                domain = true;
        if (domain) {
            *slash = '\0';
            if (!domain_valid(buf) || strlen(buf) >= sizeof(ref->domain))
                return sm_error_set(err, 0, "invalid reference format: bad registry in %s", s);
            snprintf(ref->domain, sizeof(ref->domain), "%s", buf);
            name = slash + 1;
        }
    }
    if (ref->domain[0] == '\0' || strcmp(ref->domain, "index.docker.io") == 0)
        snprintf(ref->domain, sizeof(ref->domain), "docker.io");
    const char *prefix = "";
    if (strcmp(ref->domain, "docker.io") == 0 && strchr(name, '/') == NULL)
        prefix = "library/";
    for (const char *p = name; *p; p++)
        if (isupper((unsigned char)*p))
            return sm_error_set(
                err, 0, "invalid reference format: repository name must be lowercase: %s", s);
    if (!path_valid(name))
        return sm_error_set(err, 0, "invalid reference format: %s", s);
    if ((size_t)snprintf(ref->path, sizeof(ref->path), "%s%s", prefix, name) >= sizeof(ref->path) ||
        strlen(ref->domain) + 1 + strlen(ref->path) > 255)
        return sm_error_set(err, 0, "invalid reference format: repository name too long: %s", s);
    if (ref->tag[0] == '\0' && ref->digest[0] == '\0')
        snprintf(ref->tag, sizeof(ref->tag), "latest");
    return 0;
}

char *oci_ref_string(const struct oci_ref *ref)
{
    return xasprintf("%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag[0] ? ":" : "", ref->tag,
                     ref->digest[0] ? "@" : "", ref->digest);
}

char *oci_ref_repository(const struct oci_ref *ref)
{
    return xasprintf("%s/%s", ref->domain, ref->path);
}

char *oci_ref_familiar_repository(const struct oci_ref *ref)
{
    if (strcmp(ref->domain, "docker.io") == 0) {
        if (strncmp(ref->path, "library/", 8) == 0 && strchr(ref->path + 8, '/') == NULL)
            return xstrdup(ref->path + 8);
        return xstrdup(ref->path);
    }
    return oci_ref_repository(ref);
}

char *oci_ref_familiar_string(const struct oci_ref *ref)
{
    cleanup_free char *repo = oci_ref_familiar_repository(ref);
    if (ref->tag[0] && ref->digest[0])
        return xasprintf("%s:%s@%s", repo, ref->tag, ref->digest);
    if (ref->tag[0])
        return xasprintf("%s:%s", repo, ref->tag);
    return xasprintf("%s@%s", repo, ref->digest);
}

char *oci_ref_familiar_name(const char *name)
{
    struct oci_ref ref;
    sm_error_t ignored = NULL;
    /* An image ID ("sha256:...") would parse as repository "sha256", tag "...". */
    if (strncmp(name, "sha256:", 7) == 0 || oci_ref_parse(name, &ref, &ignored) < 0) {
        sm_error_release(&ignored);
        return xstrdup(name);
    }
    return oci_ref_familiar_string(&ref);
}

const char *oci_ref_api_host(const struct oci_ref *ref)
{
    if (strcmp(ref->domain, "docker.io") == 0)
        return "registry-1.docker.io";
    return ref->domain;
}

const char *oci_ref_auth_key(const char *domain)
{
    if (strcmp(domain, "docker.io") == 0 || strcmp(domain, "registry-1.docker.io") == 0 ||
        strcmp(domain, "index.docker.io") == 0)
        return "https://index.docker.io/v1/";
    return domain;
}

/* The host part of a domain, without port or IPv6 brackets. */
static void domain_host(const char *domain, char *out, size_t n)
{
    if (domain[0] == '[') {
        const char *close = strchr(domain, ']');
        size_t len = close ? (size_t)(close - domain - 1) : strlen(domain + 1);
        snprintf(out, n, "%.*s", (int)len, domain + 1);
        return;
    }
    const char *colon = strchr(domain, ':');
    size_t len = colon ? (size_t)(colon - domain) : strlen(domain);
    snprintf(out, n, "%.*s", (int)len, domain);
}

bool oci_host_is_insecure(const char *domain, const char *insecure_list)
{
    char host[256];
    domain_host(domain, host, sizeof(host));
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
        return true;
    /* 127.0.0.0/8, written as a dotted quad. */
    unsigned a, b, c, d;
    char tail;
    if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
        c < 256 && d < 256)
        return true;
    if (insecure_list == NULL)
        return false;
    cleanup_free char *list = xstrdup(insecure_list);
    char *save = NULL;
    for (char *item = strtok_r(list, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
        /* An entry names a host (any port) or a host:port. */
        if (strcmp(item, domain) == 0 || strcmp(item, host) == 0)
            return true;
    }
    return false;
}
