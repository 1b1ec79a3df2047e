/* Manifests and indexes: every field we use is checked for type, bounds and format before
 * it is trusted (digests are validated, sizes bounded, media types known). */
#include "oci/manifest.h"

#include <json-c/json.h>
#include <string.h>
#include <sys/utsname.h>

#include "common/util.h"

struct json_object *oci_json_parse(const char *json, size_t len, const char *what, sm_error_t *err)
{
    if (len > INT32_MAX) {
        sm_error_set(err, 0, "%s: too large", what);
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, json, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (o == NULL || e != json_tokener_success) {
        json_object_put(o);
        sm_error_set(err, 0, "%s: invalid JSON%s%s", what, e != json_tokener_success ? ": " : "",
                     e != json_tokener_success ? json_tokener_error_desc(e) : "");
        return NULL;
    }
    for (size_t i = used; i < len; i++) {
        if (json[i] != ' ' && json[i] != '\n' && json[i] != '\r' && json[i] != '\t') {
            json_object_put(o);
            sm_error_set(err, 0, "%s: invalid JSON: trailing data", what);
            return NULL;
        }
    }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        sm_error_set(err, 0, "%s: invalid JSON: not an object", what);
        return NULL;
    }
    return o;
}

enum oci_kind oci_media_kind(const char *mt)
{
    if (mt == NULL)
        return OCI_KIND_UNKNOWN;
    if (strcmp(mt, OCI_MT_MANIFEST) == 0 || strcmp(mt, DOCKER_MT_MANIFEST) == 0)
        return OCI_KIND_MANIFEST;
    if (strcmp(mt, OCI_MT_INDEX) == 0 || strcmp(mt, DOCKER_MT_LIST) == 0)
        return OCI_KIND_INDEX;
    return OCI_KIND_UNKNOWN;
}

bool oci_layer_media_type_known(const char *mt)
{
    static const char *const known[] = {
        OCI_MT_LAYER_TAR,
        OCI_MT_LAYER_GZIP,
        OCI_MT_LAYER_ZSTD,
        DOCKER_MT_LAYER_GZIP,
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    };
    for (size_t i = 0; i < SM_ARRAY_SIZE(known); i++)
        if (strcmp(mt, known[i]) == 0)
            return true;
    return false;
}

/* Platform fields end up in messages: accept only plain tokens. */
static bool plain_token(const char *s, size_t max)
{
    if (s == NULL || strlen(s) >= max)
        return false;
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9') &&
            *s != '.' && *s != '_' && *s != '-')
            return false;
    return true;
}

static int copy_field(char *dst, size_t n, const char *src, const char *what, sm_error_t *err)
{
    if (strlen(src) >= n)
        return sm_error_set(err, 0, "%s too long", what);
    memcpy(dst, src, strlen(src) + 1);
    /* Values end up in one-line messages: no control characters. */
    for (char *p = dst; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            *p = '?';
    return 0;
}

int oci_document_kind(const char *json, size_t len, const char *content_type, enum oci_kind *kind,
                      sm_error_t *err)
{
    char ct[160] = "";
    if (content_type) {
        snprintf(ct, sizeof(ct), "%s", content_type);
        ct[strcspn(ct, "; \t")] = '\0';
    }
    json_object *o = oci_json_parse(json, len, "manifest", err);
    if (o == NULL)
        return -1;
    const char *mt = sm_json_str(o, "mediaType");
    json_object *v;
    enum oci_kind k = oci_media_kind(ct);
    if (k == OCI_KIND_UNKNOWN && mt)
        k = oci_media_kind(mt);
    if (k == OCI_KIND_UNKNOWN && mt == NULL) {
        /* OCI allows mediaType to be absent; tell the two apart by their shape. */
        if (json_object_object_get_ex(o, "layers", &v))
            k = OCI_KIND_MANIFEST;
        else if (json_object_object_get_ex(o, "manifests", &v))
            k = OCI_KIND_INDEX;
    }
    if (k == OCI_KIND_UNKNOWN) {
        const char *shown = mt ? mt : (ct[0] ? ct : "none");
        char safe[96];
        snprintf(safe, sizeof(safe), "%.95s", shown);
        for (char *p = safe; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                *p = '?';
        json_object_put(o);
        return sm_error_set(err, 0, "unsupported manifest media type %s", safe);
    }
    json_object_put(o);
    *kind = k;
    return 0;
}

/* A descriptor: mediaType, digest and size, each validated. */
static int parse_descriptor(json_object *o, struct oci_descriptor *d, const char *what,
                            sm_error_t *err)
{
    memset(d, 0, sizeof(*d));
    if (!json_object_is_type(o, json_type_object))
        return sm_error_set(err, 0, "%s: not an object", what);
    const char *mt = sm_json_str(o, "mediaType");
    const char *digest = sm_json_str(o, "digest");
    json_object *size;
    if (mt == NULL)
        return sm_error_set(err, 0, "%s: no mediaType", what);
    if (copy_field(d->media_type, sizeof(d->media_type), mt, "mediaType", err) < 0)
        return sm_error_wrap(err, "%s", what);
    if (digest == NULL || !oci_digest_valid(digest))
        return sm_error_set(err, 0, "%s: missing or unsupported digest", what);
    snprintf(d->digest, sizeof(d->digest), "%s", digest);
    if (!json_object_object_get_ex(o, "size", &size) || !json_object_is_type(size, json_type_int))
        return sm_error_set(err, 0, "%s: no size", what);
    d->size = json_object_get_int64(size);
    if (d->size < 0 || (uint64_t)d->size > OCI_BLOB_SIZE_MAX)
        return sm_error_set(err, 0, "%s: size %lld out of range", what, (long long)d->size);
    json_object *ann, *plat;
    if (json_object_object_get_ex(o, "annotations", &ann) &&
        json_object_is_type(ann, json_type_object)) {
        const char *name = sm_json_str(ann, "io.containerd.image.name");
        if (name == NULL)
            name = sm_json_str(ann, "org.opencontainers.image.ref.name");
        if (name && strlen(name) < sizeof(d->ref_name))
            snprintf(d->ref_name, sizeof(d->ref_name), "%s", name);
    }
    if (json_object_object_get_ex(o, "platform", &plat) &&
        json_object_is_type(plat, json_type_object)) {
        const char *os = sm_json_str(plat, "os");
        const char *arch = sm_json_str(plat, "architecture");
        const char *variant = sm_json_str(plat, "variant");
        if (plain_token(os, sizeof(d->os)))
            snprintf(d->os, sizeof(d->os), "%s", os);
        if (plain_token(arch, sizeof(d->arch)))
            snprintf(d->arch, sizeof(d->arch), "%s", arch);
        if (plain_token(variant, sizeof(d->variant)))
            snprintf(d->variant, sizeof(d->variant), "%s", variant);
    }
    return 0;
}

int oci_manifest_parse(const char *json, size_t len, struct oci_manifest *m, sm_error_t *err)
{
    memset(m, 0, sizeof(*m));
    json_object *o = oci_json_parse(json, len, "manifest", err);
    if (o == NULL)
        return -1;
    json_object *cfg, *layers;
    json_object *ver;
    if (json_object_object_get_ex(o, "schemaVersion", &ver) &&
        (!json_object_is_type(ver, json_type_int) || json_object_get_int(ver) != 2)) {
        json_object_put(o);
        return sm_error_set(err, 0, "manifest: unsupported schemaVersion");
    }
    if (!json_object_object_get_ex(o, "config", &cfg) ||
        parse_descriptor(cfg, &m->config, "manifest config", err) < 0) {
        json_object_put(o);
        if (err && *err == NULL)
            sm_error_set(err, 0, "manifest: no config");
        return -1;
    }
    if (strcmp(m->config.media_type, OCI_MT_CONFIG) != 0 &&
        strcmp(m->config.media_type, DOCKER_MT_CONFIG) != 0) {
        json_object_put(o);
        return sm_error_set(err, 0, "manifest: unsupported config media type %.64s",
                            m->config.media_type);
    }
    if (!json_object_object_get_ex(o, "layers", &layers) ||
        !json_object_is_type(layers, json_type_array)) {
        json_object_put(o);
        return sm_error_set(err, 0, "manifest: no layers");
    }
    size_t n = json_object_array_length(layers);
    if (n > OCI_LAYERS_MAX) {
        json_object_put(o);
        return sm_error_set(err, 0, "manifest: too many layers (%zu, at most %d)", n,
                            OCI_LAYERS_MAX);
    }
    m->layers = xcalloc(n, sizeof(*m->layers));
    m->n_layers = n;
    for (size_t i = 0; i < n; i++) {
        char what[48];
        snprintf(what, sizeof(what), "manifest layer %zu", i);
        if (parse_descriptor(json_object_array_get_idx(layers, i), &m->layers[i], what, err) < 0)
            goto fail;
        if (!oci_layer_media_type_known(m->layers[i].media_type)) {
            sm_error_set(err, 0, "%s: unsupported media type %.64s", what, m->layers[i].media_type);
            goto fail;
        }
    }
    json_object_put(o);
    return 0;
fail:
    json_object_put(o);
    oci_manifest_free(m);
    return -1;
}

void oci_manifest_free(struct oci_manifest *m)
{
    free(m->layers);
    m->layers = NULL;
    m->n_layers = 0;
}

int oci_index_parse(const char *json, size_t len, struct oci_descriptor **out, size_t *n,
                    sm_error_t *err)
{
    json_object *o = oci_json_parse(json, len, "index", err);
    if (o == NULL)
        return -1;
    json_object *list;
    if (!json_object_object_get_ex(o, "manifests", &list) ||
        !json_object_is_type(list, json_type_array)) {
        json_object_put(o);
        return sm_error_set(err, 0, "index: no manifests");
    }
    size_t count = json_object_array_length(list);
    if (count > 4096) {
        json_object_put(o);
        return sm_error_set(err, 0, "index: too many entries (%zu)", count);
    }
    struct oci_descriptor *d = xcalloc(count, sizeof(*d));
    for (size_t i = 0; i < count; i++) {
        char what[48];
        snprintf(what, sizeof(what), "index entry %zu", i);
        if (parse_descriptor(json_object_array_get_idx(list, i), &d[i], what, err) < 0) {
            free(d);
            json_object_put(o);
            return -1;
        }
    }
    json_object_put(o);
    *out = d;
    *n = count;
    return 0;
}

static void host_platform(struct oci_platform *p)
{
    struct utsname u;
    snprintf(p->os, sizeof(p->os), "linux");
    const char *arch = "amd64";
    if (uname(&u) == 0) {
        if (strcmp(u.machine, "aarch64") == 0)
            arch = "arm64";
        else if (strcmp(u.machine, "x86_64") != 0)
            arch = u.machine;
    }
    size_t n = strnlen(arch, sizeof(p->arch) - 1);
    memcpy(p->arch, arch, n);
    p->arch[n] = '\0';
    p->variant[0] = '\0';
}

int oci_platform_parse(const char *s, struct oci_platform *p, sm_error_t *err)
{
    memset(p, 0, sizeof(*p));
    if (s == NULL || *s == '\0') {
        host_platform(p);
        return 0;
    }
    char os[64] = "", arch[64] = "", variant[64] = "";
    const char *a = strchr(s, '/');
    if (a == NULL || a == s || strlen(s) > 90)
        return sm_error_set(err, 0, "invalid platform %s: expected os/arch[/variant]", s);
    const char *v = strchr(a + 1, '/');
    snprintf(os, sizeof(os), "%.*s", (int)(a - s), s);
    if (v) {
        snprintf(arch, sizeof(arch), "%.*s", (int)(v - a - 1), a + 1);
        snprintf(variant, sizeof(variant), "%s", v + 1);
        if (variant[0] == '\0' || strchr(variant, '/'))
            return sm_error_set(err, 0, "invalid platform %s: expected os/arch[/variant]", s);
    } else {
        snprintf(arch, sizeof(arch), "%s", a + 1);
    }
    if (arch[0] == '\0' || strlen(os) >= sizeof(p->os) || strlen(arch) >= sizeof(p->arch) ||
        strlen(variant) >= sizeof(p->variant))
        return sm_error_set(err, 0, "invalid platform %s: expected os/arch[/variant]", s);
    /* Normalize the aliases docker accepts. */
    if (strcmp(arch, "x86_64") == 0 || strcmp(arch, "x86-64") == 0)
        snprintf(arch, sizeof(arch), "amd64");
    if (strcmp(arch, "aarch64") == 0)
        snprintf(arch, sizeof(arch), "arm64");
    memcpy(p->os, os, strlen(os) + 1);
    memcpy(p->arch, arch, strlen(arch) + 1);
    memcpy(p->variant, variant, strlen(variant) + 1);
    return 0;
}

int oci_index_select(const struct oci_descriptor *d, size_t n, const struct oci_platform *p,
                     size_t *idx, sm_error_t *err)
{
    size_t best = n;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(d[i].os, "unknown") == 0 && strcmp(d[i].arch, "unknown") == 0)
            continue; /* attestation manifests (buildkit provenance, SBOM) */
        if (oci_media_kind(d[i].media_type) != OCI_KIND_MANIFEST)
            continue;
        if (strcmp(d[i].os, p->os) != 0 || strcmp(d[i].arch, p->arch) != 0)
            continue;
        if (p->variant[0] && strcmp(d[i].variant, p->variant) != 0 &&
            !(strcmp(p->variant, "v8") == 0 && d[i].variant[0] == '\0'))
            continue;
        /* Without a requested variant, prefer an entry without one (or the first). */
        if (best == n || (d[best].variant[0] && d[i].variant[0] == '\0'))
            best = i;
    }
    if (best == n) {
        char have[512] = "";
        size_t used = 0;
        for (size_t i = 0; i < n && used < sizeof(have) - 64; i++) {
            if (strcmp(d[i].os, "unknown") == 0)
                continue;
            used +=
                (size_t)snprintf(have + used, sizeof(have) - used, "%s%s/%s%s%s", used ? ", " : "",
                                 d[i].os, d[i].arch, d[i].variant[0] ? "/" : "", d[i].variant);
        }
        return sm_error_set(err, 0, "no manifest for platform %s/%s%s%s (index has: %s)", p->os,
                            p->arch, p->variant[0] ? "/" : "", p->variant, used ? have : "none");
    }
    *idx = best;
    return 0;
}
