/* `load -i FILE`: docker save tarballs (manifest.json + config + layer tars, older ones with
 * per-layer directories, newer ones with blobs/sha256/ and symlinks) and OCI image layout
 * archives (oci-layout, index.json, blobs/). One pass with libarchive copies every regular
 * file into tmp/ while hashing it; then the manifests decide which files become blobs.
 * Nothing of an image reaches blobs/ or the index unless all of that image checks out. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "oci/image.h"
#include "supermachine.h"

#define LOAD_ENTRIES_MAX 100000
#define LOAD_JSON_MAX    (8u << 20)

struct load_file {
    char *path;   /* normalized archive path */
    char *target; /* for links: normalized target path */
    char *tmp;    /* for regular files: the copy under tmp/ */
    char digest[OCI_DIGEST_MAX];
    uint64_t size;
    bool adopted;
};

struct loader {
    struct oci_store store;
    struct load_file *files;
    size_t n, cap;
    char **names;
    size_t n_names;
};

/* "./a//b/" -> "a/b"; ".." is resolved lexically and may not escape the root. */
static char *normalize(const char *base_dir, const char *p)
{
    cleanup_free char *joined =
        (p[0] != '/' && base_dir && *base_dir) ? xasprintf("%s/%s", base_dir, p) : xstrdup(p);
    char *out = xmalloc(strlen(joined) + 1);
    size_t o = 0;
    char *save = NULL;
    for (char *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0) {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            continue;
        }
        if (o)
            out[o++] = '/';
        memcpy(out + o, c, strlen(c));
        o += strlen(c);
    }
    out[o] = '\0';
    return out;
}

static const struct load_file *find(const struct loader *l, const char *path)
{
    cleanup_free char *p = normalize(NULL, path);
    for (int hops = 0; hops < 16; hops++) {
        const struct load_file *f = NULL;
        for (size_t i = 0; i < l->n; i++)
            if (strcmp(l->files[i].path, p) == 0)
                f = &l->files[i];
        if (f == NULL || f->target == NULL)
            return f;
        free(p);
        p = xstrdup(f->target);
    }
    return NULL;
}

static int copy_entry(struct loader *l, struct archive *a, struct load_file *f, sm_error_t *err)
{
    f->tmp = store_tmp_path(&l->store, "load");
    int fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return sm_error_set(err, errno, "create %s", f->tmp);
    struct sha256_ctx md;
    sha256_init(&md);
    char buf[1 << 16];
    int ret = 0;
    for (;;) {
        la_ssize_t r = archive_read_data(a, buf, sizeof(buf));
        if (r == 0)
            break;
        if (r < 0) {
            ret = sm_error_set(err, 0, "%s: %s", f->path, archive_error_string(a));
            break;
        }
        if (sm_write_all(fd, buf, (size_t)r) < 0) {
            ret = sm_error_set(err, errno, "write %s", f->tmp);
            break;
        }
        sha256_update(&md, (size_t)r, (const uint8_t *)buf);
        f->size += (uint64_t)r;
    }
    strcpy(f->digest, "sha256:");
    sm_sha256_hex_final(&md, f->digest + 7);
    if (ret == 0 && fsync(fd) < 0)
        ret = sm_error_set(err, errno, "sync %s", f->tmp);
    close(fd);
    return ret;
}

static int read_archive(struct loader *l, const char *path, sm_error_t *err)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        sm_error_set(err, 0, "%s", archive_error_string(a));
        archive_read_free(a);
        return -1;
    }
    struct archive_entry *e;
    int ret = 0;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            ret = sm_error_set(err, 0, "not a readable tar archive: %s", archive_error_string(a));
            break;
        }
        const char *name = archive_entry_pathname(e);
        if (name == NULL)
            continue;
        mode_t type = archive_entry_filetype(e);
        const char *hard = archive_entry_hardlink(e);
        const char *sym = archive_entry_symlink(e);
        if (type != AE_IFREG && type != AE_IFLNK && hard == NULL)
            continue;
        if (l->n >= LOAD_ENTRIES_MAX) {
            ret = sm_error_set(err, 0, "too many entries (more than %d)", LOAD_ENTRIES_MAX);
            break;
        }
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 64;
            l->files = xrealloc(l->files, l->cap * sizeof(*l->files));
        }
        struct load_file *f = &l->files[l->n++];
        memset(f, 0, sizeof(*f));
        f->path = normalize(NULL, name);
        if (hard) {
            f->target = normalize(NULL, hard);
        } else if (type == AE_IFLNK && sym) {
            cleanup_free char *dir = xstrdup(f->path);
            char *slash = strrchr(dir, '/');
            if (slash)
                *slash = '\0';
            else
                dir[0] = '\0';
            f->target = normalize(dir, sym);
        } else if (copy_entry(l, a, f, err) < 0) {
            ret = -1;
            break;
        }
    }
    archive_read_free(a);
    return ret;
}

static const struct load_file *need(const struct loader *l, const char *path, const char *what,
                                    sm_error_t *err)
{
    const struct load_file *f = find(l, path);
    if (f == NULL || f->tmp == NULL)
        sm_error_set(err, 0, "%s %.200s: missing from the archive", what, path);
    return f && f->tmp ? f : NULL;
}

static int read_small(const struct load_file *f, char **out, size_t *len, sm_error_t *err)
{
    if (f->size > LOAD_JSON_MAX)
        return sm_error_set(err, 0, "%s: too large (%llu bytes)", f->path,
                            (unsigned long long)f->size);
    return sm_read_file(f->tmp, LOAD_JSON_MAX, out, len, err);
}

static void add_name(struct loader *l, const char *name)
{
    l->names = xrealloc(l->names, (l->n_names + 2) * sizeof(char *));
    l->names[l->n_names++] = xstrdup(name);
    l->names[l->n_names] = NULL;
}

static int adopt(struct loader *l, const struct load_file *cf, sm_error_t *err)
{
    struct load_file *f = (struct load_file *)cf;
    if (f->adopted)
        return 0;
    if (store_adopt_file(&l->store, f->tmp, f->digest, err) < 0)
        return -1;
    f->adopted = true;
    return 0;
}

static const char *layer_type(const struct load_file *f)
{
    unsigned char magic[4] = {0};
    int fd = open(f->tmp, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, magic, 4) < 0)
            magic[0] = 0;
        close(fd);
    }
    if (magic[0] == 0x1f && magic[1] == 0x8b)
        return OCI_MT_LAYER_GZIP;
    if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
        return OCI_MT_LAYER_ZSTD;
    return OCI_MT_LAYER_TAR;
}

/* Registers a checked image: blobs into place, then the manifest, then the names. */
static int commit_image(struct loader *l, const char *manifest, size_t manifest_len,
                        const struct oci_manifest *m, const struct load_file *config,
                        const struct load_file *const *layers, const char *const *names,
                        size_t n_names, sm_error_t *err)
{
    if (adopt(l, config, err) < 0)
        return -1;
    for (size_t i = 0; i < m->n_layers; i++)
        if (adopt(l, layers[i], err) < 0)
            return -1;
    char digest[OCI_DIGEST_MAX];
    if (store_put_blob(&l->store, NULL, manifest, manifest_len, digest, err) < 0)
        return -1;
    struct store_image img = {.size = oci_manifest_size(m)};
    snprintf(img.manifest, sizeof(img.manifest), "%s", digest);
    snprintf(img.config, sizeof(img.config), "%s", m->config.digest);
    if (n_names == 0) {
        if (store_index_put(&l->store, &img, err) < 0)
            return -1;
        add_name(l, m->config.digest);
    }
    for (size_t i = 0; i < n_names; i++) {
        img.name = (char *)names[i];
        if (store_index_put(&l->store, &img, err) < 0)
            return -1;
        add_name(l, names[i]);
    }
    return 0;
}

static int check_config(const struct load_file *cfg, size_t n_layers, sm_error_t *err)
{
    cleanup_free char *text = NULL;
    size_t len = 0;
    if (read_small(cfg, &text, &len, err) < 0)
        return -1;
    return oci_config_diff_ids(text, len, n_layers, NULL, err);
}

static int load_docker(struct loader *l, const struct load_file *mf, sm_error_t *err)
{
    cleanup_free char *text = NULL;
    size_t len = 0;
    if (read_small(mf, &text, &len, err) < 0)
        return -1;
    json_tokener *tok = json_tokener_new();
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    bool ok = json_tokener_get_error(tok) == json_tokener_success && root &&
              json_object_is_type(root, json_type_array);
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(root);
        return sm_error_set(err, 0, "manifest.json: invalid JSON (expected an array)");
    }
    int ret = 0;
    size_t n = json_object_array_length(root);
    if (n == 0)
        ret = sm_error_set(err, 0, "manifest.json: no images");
    for (size_t i = 0; ret == 0 && i < n; i++) {
        json_object *e = json_object_array_get_idx(root, i), *cfgv, *layersv, *tagsv;
        if (!json_object_is_type(e, json_type_object) ||
            !json_object_object_get_ex(e, "Config", &cfgv) ||
            !json_object_is_type(cfgv, json_type_string) ||
            !json_object_object_get_ex(e, "Layers", &layersv) ||
            !json_object_is_type(layersv, json_type_array)) {
            ret = sm_error_set(err, 0, "manifest.json: entry %zu lacks Config or Layers", i);
            break;
        }
        size_t nl = json_object_array_length(layersv);
        if (nl > OCI_LAYERS_MAX) {
            ret = sm_error_set(err, 0, "manifest.json: too many layers (%zu)", nl);
            break;
        }
        const struct load_file *cfg = need(l, json_object_get_string(cfgv), "config", err);
        if (cfg == NULL || check_config(cfg, nl, err) < 0) {
            ret = -1;
            break;
        }
        struct oci_manifest m = {.n_layers = nl};
        m.layers = xcalloc(nl ? nl : 1, sizeof(*m.layers));
        const struct load_file **lf = xcalloc(nl ? nl : 1, sizeof(*lf));
        snprintf(m.config.media_type, sizeof(m.config.media_type), OCI_MT_CONFIG);
        snprintf(m.config.digest, sizeof(m.config.digest), "%s", cfg->digest);
        m.config.size = (int64_t)cfg->size;
        json_object *man = json_object_new_object();
        json_object_object_add(man, "schemaVersion", json_object_new_int(2));
        json_object_object_add(man, "mediaType", json_object_new_string(OCI_MT_MANIFEST));
        json_object *c = json_object_new_object();
        json_object_object_add(c, "mediaType", json_object_new_string(OCI_MT_CONFIG));
        json_object_object_add(c, "digest", json_object_new_string(cfg->digest));
        json_object_object_add(c, "size", json_object_new_int64((int64_t)cfg->size));
        json_object_object_add(man, "config", c);
        json_object *la = json_object_new_array();
        for (size_t k = 0; k < nl; k++) {
            json_object *p = json_object_array_get_idx(layersv, k);
            if (!json_object_is_type(p, json_type_string)) {
                ret = sm_error_set(err, 0, "manifest.json: layer %zu is not a path", k);
                break;
            }
            lf[k] = need(l, json_object_get_string(p), "layer", err);
            if (lf[k] == NULL) {
                ret = -1;
                break;
            }
            json_object *d = json_object_new_object();
            json_object_object_add(d, "mediaType", json_object_new_string(layer_type(lf[k])));
            json_object_object_add(d, "digest", json_object_new_string(lf[k]->digest));
            json_object_object_add(d, "size", json_object_new_int64((int64_t)lf[k]->size));
            json_object_array_add(la, d);
            snprintf(m.layers[k].digest, sizeof(m.layers[k].digest), "%s", lf[k]->digest);
            m.layers[k].size = (int64_t)lf[k]->size;
        }
        json_object_object_add(man, "layers", la);
        /* Names: RepoTags, normalized ("busybox:latest" -> docker.io/library/busybox:latest). */
        char **names = NULL;
        size_t nn = 0;
        if (ret == 0 && json_object_object_get_ex(e, "RepoTags", &tagsv) &&
            json_object_is_type(tagsv, json_type_array)) {
            size_t nt = json_object_array_length(tagsv);
            names = xcalloc(nt + 1, sizeof(char *));
            for (size_t k = 0; ret == 0 && k < nt; k++) {
                json_object *t = json_object_array_get_idx(tagsv, k);
                struct oci_ref ref;
                if (!json_object_is_type(t, json_type_string) ||
                    oci_ref_parse(json_object_get_string(t), &ref, err) < 0) {
                    ret = sm_error_set(err, 0,
                                       "manifest.json: RepoTags[%zu] is not a valid "
                                       "reference",
                                       k);
                    break;
                }
                names[nn++] = oci_ref_string(&ref);
            }
        }
        if (ret == 0) {
            const char *mt = json_object_to_json_string_ext(
                man, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
            ret = commit_image(l, mt, strlen(mt), &m, cfg, lf, (const char *const *)names, nn, err);
        }
        for (size_t k = 0; k < nn; k++)
            free(names[k]);
        free(names);
        json_object_put(man);
        free(lf);
        oci_manifest_free(&m);
    }
    json_object_put(root);
    return ret;
}

/* A blob of an OCI layout, checked against its descriptor's digest and size. */
static const struct load_file *oci_blob(const struct loader *l, const struct oci_descriptor *d,
                                        sm_error_t *err)
{
    cleanup_free char *path = xasprintf("blobs/sha256/%s", d->digest + 7);
    const struct load_file *f = need(l, path, "blob", err);
    if (f == NULL)
        return NULL;
    if (strcmp(f->digest, d->digest) != 0) {
        sm_error_set(err, 0, "blob %s: digest mismatch (content is %s)", d->digest, f->digest);
        return NULL;
    }
    if (f->size != (uint64_t)d->size) {
        sm_error_set(err, 0, "blob %s: %llu bytes, its descriptor says %lld", d->digest,
                     (unsigned long long)f->size, (long long)d->size);
        return NULL;
    }
    return f;
}

static int load_oci_manifest(struct loader *l, const struct oci_descriptor *d, const char *name,
                             int depth, sm_error_t *err)
{
    if (depth > 2)
        return sm_error_set(err, 0, "index %s: nested too deeply", d->digest);
    const struct load_file *f = oci_blob(l, d, err);
    if (f == NULL)
        return -1;
    cleanup_free char *text = NULL;
    size_t len = 0;
    if (read_small(f, &text, &len, err) < 0)
        return -1;
    enum oci_kind kind;
    if (oci_document_kind(text, len, d->media_type, &kind, err) < 0)
        return sm_error_wrap(err, "manifest %s", d->digest);
    if (kind == OCI_KIND_INDEX) {
        struct oci_descriptor *e = NULL;
        size_t n = 0, pick = 0;
        struct oci_platform plat;
        oci_platform_parse(NULL, &plat, NULL);
        if (oci_index_parse(text, len, &e, &n, err) < 0 ||
            oci_index_select(e, n, &plat, &pick, err) < 0) {
            free(e);
            return sm_error_wrap(err, "index %s", d->digest);
        }
        int r = load_oci_manifest(l, &e[pick], name, depth + 1, err);
        free(e);
        return r;
    }
    struct oci_manifest m;
    if (oci_manifest_parse(text, len, &m, err) < 0)
        return sm_error_wrap(err, "manifest %s", d->digest);
    int ret = -1;
    char *canon = NULL;
    const struct load_file **lf = xcalloc(m.n_layers ? m.n_layers : 1, sizeof(*lf));
    const struct load_file *cfg = oci_blob(l, &m.config, err);
    if (cfg == NULL || check_config(cfg, m.n_layers, err) < 0)
        goto out;
    for (size_t i = 0; i < m.n_layers; i++)
        if ((lf[i] = oci_blob(l, &m.layers[i], err)) == NULL)
            goto out;
    /* A full reference names the image; a bare tag (skopeo's oci:DIR:TAG) does not say
     * which repository, so the image is loaded untagged, as docker does. */
    if (name && *name && (strchr(name, '/') || strchr(name, ':'))) {
        struct oci_ref ref;
        if (oci_ref_parse(name, &ref, err) < 0)
            goto out;
        canon = oci_ref_string(&ref);
    }
    const char *names[1] = {canon};
    ret = commit_image(l, text, len, &m, cfg, lf, names, canon ? 1 : 0, err);
out:
    free(canon);
    free(lf);
    oci_manifest_free(&m);
    return ret;
}

static int load_oci(struct loader *l, const struct load_file *index, sm_error_t *err)
{
    cleanup_free char *text = NULL;
    size_t len = 0;
    if (read_small(index, &text, &len, err) < 0)
        return -1;
    struct oci_descriptor *e = NULL;
    size_t n = 0;
    if (oci_index_parse(text, len, &e, &n, err) < 0)
        return sm_error_wrap(err, "index.json");
    int ret = 0;
    if (n == 0)
        ret = sm_error_set(err, 0, "index.json: no images");
    for (size_t i = 0; ret == 0 && i < n; i++)
        ret = load_oci_manifest(l, &e[i], e[i].ref_name, 0, err);
    free(e);
    return ret;
}

static void loader_free(struct loader *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->files[i].tmp && !l->files[i].adopted)
            unlink(l->files[i].tmp);
        free(l->files[i].path);
        free(l->files[i].target);
        free(l->files[i].tmp);
    }
    free(l->files);
    store_close(&l->store);
}

int sm_image_load(const char *path, char ***names_out, sm_error_t *err)
{
    struct loader l = {0};
    if (store_open(&l.store, true, err) < 0)
        return sm_error_wrap(err, "load %s", path);
    int ret = read_archive(&l, path, err);
    if (ret == 0) {
        const struct load_file *mf = find(&l, "manifest.json");
        const struct load_file *index = find(&l, "index.json");
        const struct load_file *layout = find(&l, "oci-layout");
        if (mf && mf->tmp)
            ret = load_docker(&l, mf, err);
        else if (index && index->tmp && layout)
            ret = load_oci(&l, index, err);
        else
            ret = sm_error_set(err, 0,
                               "neither a docker save archive (manifest.json) nor an "
                               "OCI layout (oci-layout, index.json)");
    }
    loader_free(&l);
    if (ret < 0) {
        sm_strv_free(l.names);
        return sm_error_wrap(err, "load %s", path);
    }
    if (names_out)
        *names_out = l.names ? l.names : xcalloc(1, sizeof(char *));
    else
        sm_strv_free(l.names);
    return 0;
}
