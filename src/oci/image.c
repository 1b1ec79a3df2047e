/* The public image API (include/supermachine.h, "images"): pull, list, remove, inspect,
 * config. load.c has load, rootfs.c export and rootfs. */
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "oci/image.h"
#include "oci/progress.h"
#include "oci/registry.h"
#include "supermachine.h"

#define PULL_THREADS 4

void sm_strv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

uint64_t oci_manifest_size(const struct oci_manifest *m)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < m->n_layers; i++)
        sum += (uint64_t)m->layers[i].size;
    return sum;
}

int oci_config_diff_ids(const char *json, size_t len, size_t n_layers, char (**out)[OCI_DIGEST_MAX],
                        sm_error_t *err)
{
    json_object *o = oci_json_parse(json, len, "image config", err);
    if (o == NULL)
        return -1;
    json_object *rootfs, *ids;
    if (!json_object_object_get_ex(o, "rootfs", &rootfs) ||
        !json_object_object_get_ex(rootfs, "diff_ids", &ids) ||
        !json_object_is_type(ids, json_type_array)) {
        json_object_put(o);
        return sm_error_set(err, 0, "image config: no rootfs.diff_ids");
    }
    size_t n = json_object_array_length(ids);
    if (n != n_layers) {
        json_object_put(o);
        return sm_error_set(err, 0, "image config: %zu diff_ids for %zu layers", n, n_layers);
    }
    char(*d)[OCI_DIGEST_MAX] = xcalloc(n ? n : 1, sizeof(*d));
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(ids, i);
        const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
        if (!oci_digest_valid(s)) {
            free(d);
            json_object_put(o);
            return sm_error_set(err, 0, "image config: diff_id %zu is not a sha256 digest", i);
        }
        snprintf(d[i], OCI_DIGEST_MAX, "%s", s);
    }
    json_object_put(o);
    if (out)
        *out = d;
    else
        free(d);
    return 0;
}

int oci_image_read(struct oci_store *s, const struct store_image *img, struct oci_manifest *m,
                   char **config, size_t *config_len, sm_error_t *err)
{
    cleanup_free char *text = NULL;
    size_t len = 0;
    if (store_read_blob(s, img->manifest, OCI_MANIFEST_MAX, &text, &len, err) < 0 ||
        oci_manifest_parse(text, len, m, err) < 0)
        return -1;
    if (config && store_read_blob(s, img->config, OCI_CONFIG_MAX, config, config_len, err) < 0) {
        oci_manifest_free(m);
        return -1;
    }
    return 0;
}

/* ---- pull ---- */

struct pull_job {
    struct oci_registry *reg;
    struct oci_store *store;
    const struct oci_manifest *m;
    struct oci_progress *progress;
    pthread_mutex_t lock;
    size_t next;
    bool failed;
    sm_error_t err;
};

struct layer_cb {
    struct pull_job *job;
    size_t i;
};

static void on_layer_progress(void *opaque, uint64_t done, uint64_t total)
{
    struct layer_cb *cb = opaque;
    oci_progress_set(cb->job->progress, cb->i, cb->job->m->layers[cb->i].digest, "Downloading",
                     done, total);
}

static void *pull_worker(void *opaque)
{
    struct pull_job *job = opaque;
    for (;;) {
        pthread_mutex_lock(&job->lock);
        size_t i = job->next++;
        bool stop = job->failed || i >= job->m->n_layers;
        pthread_mutex_unlock(&job->lock);
        if (stop)
            return NULL;
        const struct oci_descriptor *d = &job->m->layers[i];
        struct layer_cb cb = {job, i};
        sm_error_t e = NULL;
        if (oci_registry_fetch_blob(job->reg, job->store, d->digest, d->size, on_layer_progress,
                                    &cb, &e) < 0) {
            oci_progress_set(job->progress, i, d->digest, "Failed", 0, 0);
            pthread_mutex_lock(&job->lock);
            if (!job->failed) {
                job->failed = true;
                job->err = e;
                e = NULL;
            }
            pthread_mutex_unlock(&job->lock);
            sm_error_release(&e);
            return NULL;
        }
        oci_progress_set(job->progress, i, d->digest, "Pull complete", 0, 0);
    }
}

static int fetch_layers(struct oci_registry *reg, struct oci_store *s, const struct oci_manifest *m,
                        int progress, sm_error_t *err)
{
    struct oci_progress prog;
    oci_progress_init(&prog, progress, m->n_layers);
    for (size_t i = 0; i < m->n_layers; i++)
        oci_progress_set(&prog, i, m->layers[i].digest,
                         store_has_blob(s, m->layers[i].digest) ? "Already exists" : "Waiting", 0,
                         0);
    struct pull_job job = {.reg = reg, .store = s, .m = m, .progress = &prog};
    pthread_mutex_init(&job.lock, NULL);
    size_t nthreads = m->n_layers < PULL_THREADS ? m->n_layers : PULL_THREADS;
    pthread_t threads[PULL_THREADS];
    size_t started = 0;
    for (; started < nthreads; started++)
        if (pthread_create(&threads[started], NULL, pull_worker, &job) != 0)
            break;
    if (started == 0 && nthreads > 0)
        pull_worker(&job); /* no threads to be had: do it here */
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&job.lock);
    oci_progress_done(&prog);
    if (job.failed) {
        sm_error_release(err);
        if (err)
            *err = job.err;
        else
            sm_error_release(&job.err);
        return -1;
    }
    return 0;
}

static int pull(const char *user_ref, const struct sm_pull_options *opts, char **digest_out,
                sm_error_t *err)
{
    struct oci_ref ref;
    struct oci_platform plat;
    if (oci_ref_parse(user_ref, &ref, err) < 0 ||
        oci_platform_parse(opts ? opts->platform : NULL, &plat, err) < 0)
        return -1;
    int progress = opts ? opts->progress : -1;
    struct oci_store s;
    if (store_open(&s, true, err) < 0)
        return -1;
    struct oci_registry *reg = NULL;
    char *body = NULL, *ct = NULL, *config = NULL;
    size_t len = 0, config_len = 0;
    char digest[OCI_DIGEST_MAX];
    struct oci_manifest m = {0};
    struct oci_descriptor *entries = NULL;
    char *name = NULL;
    int ret = -1;
    if (oci_registry_open(&ref, &reg, err) < 0)
        goto out;
    const char *reference = ref.digest[0] ? ref.digest : ref.tag;
    if (oci_registry_get_manifest(reg, reference, OCI_MANIFEST_MAX, &body, &len, &ct, digest, err) <
        0)
        goto out;
    enum oci_kind kind;
    if (oci_document_kind(body, len, ct, &kind, err) < 0)
        goto out;
    if (kind == OCI_KIND_INDEX) {
        size_t n = 0, pick = 0;
        if (oci_index_parse(body, len, &entries, &n, err) < 0 ||
            oci_index_select(entries, n, &plat, &pick, err) < 0)
            goto out;
        struct oci_descriptor chosen = entries[pick];
        free(body);
        free(ct);
        body = ct = NULL;
        if ((uint64_t)chosen.size > OCI_MANIFEST_MAX) {
            sm_error_set(err, 0, "manifest %s: too large (%lld bytes)", chosen.digest,
                         (long long)chosen.size);
            goto out;
        }
        if (oci_registry_get_manifest(reg, chosen.digest, OCI_MANIFEST_MAX, &body, &len, &ct,
                                      digest, err) < 0)
            goto out;
        if (len != (size_t)chosen.size) {
            sm_error_set(err, 0, "manifest %s: %zu bytes, the index says %lld", chosen.digest, len,
                         (long long)chosen.size);
            goto out;
        }
        if (oci_document_kind(body, len, ct, &kind, err) < 0)
            goto out;
        if (kind != OCI_KIND_MANIFEST) {
            sm_error_set(err, 0, "manifest %s: an index inside an index", chosen.digest);
            goto out;
        }
    }
    if (oci_manifest_parse(body, len, &m, err) < 0)
        goto out;
    /* The config: small, fetched into memory and checked before anything else. */
    if (store_has_blob(&s, m.config.digest)) {
        if (store_read_blob(&s, m.config.digest, OCI_CONFIG_MAX, &config, &config_len, err) < 0)
            goto out;
    } else if (oci_registry_get_blob(reg, m.config.digest, m.config.size, OCI_CONFIG_MAX, &config,
                                     &config_len, err) < 0) {
        goto out;
    }
    if (oci_config_diff_ids(config, config_len, m.n_layers, NULL, err) < 0)
        goto out;
    /* Layers next; a layer that fails leaves the verified ones in blobs/ (a rerun reuses
     * them; rmi's collection removes them if never referenced). */
    if (fetch_layers(reg, &s, &m, progress, err) < 0)
        goto out;
    if (store_put_blob(&s, m.config.digest, config, config_len, NULL, err) < 0)
        goto out;
    /* Everything it needs is in: now the manifest, then the name that points to it. */
    if (store_put_blob(&s, digest, body, len, NULL, err) < 0)
        goto out;
    name = oci_ref_string(&ref);
    struct store_image img = {.name = name, .size = oci_manifest_size(&m)};
    snprintf(img.manifest, sizeof(img.manifest), "%s", digest);
    snprintf(img.config, sizeof(img.config), "%s", m.config.digest);
    if (store_index_put(&s, &img, err) < 0)
        goto out;
    if (digest_out)
        *digest_out = xstrdup(digest);
    ret = 0;
out:
    free(name);
    free(entries);
    free(body);
    free(ct);
    free(config);
    oci_manifest_free(&m);
    oci_registry_close(reg);
    store_close(&s);
    return ret;
}

int sm_image_pull(const char *ref, const struct sm_pull_options *opts, char **digest_out,
                  sm_error_t *err)
{
    if (pull(ref, opts, digest_out, err) < 0)
        return sm_error_wrap(err, "pull %s", ref);
    return 0;
}

/* ---- list ---- */

static int64_t parse_created(json_object *config)
{
    json_object *v;
    if (!json_object_object_get_ex(config, "created", &v) ||
        !json_object_is_type(v, json_type_string))
        return 0;
    struct tm tm = {0};
    const char *end = strptime(json_object_get_string(v), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL)
        return 0;
    return (int64_t)timegm(&tm);
}

static void split_name(const char *name, char **repo, char **tag)
{
    struct oci_ref ref;
    sm_error_t e = NULL;
    if (name == NULL || oci_ref_parse(name, &ref, &e) < 0) {
        sm_error_release(&e);
        *repo = xstrdup("<none>");
        *tag = xstrdup("<none>");
        return;
    }
    *repo = oci_ref_familiar_repository(&ref);
    *tag = xstrdup(ref.tag[0] ? ref.tag : "<none>");
}

int sm_image_list(struct sm_image_info **out, size_t *n_out, sm_error_t *err)
{
    struct oci_store s;
    if (store_open(&s, false, err) < 0)
        return -1;
    struct store_image *l;
    size_t n;
    if (store_index_load(&s, &l, &n, err) < 0) {
        store_close(&s);
        return sm_error_wrap(err, "images");
    }
    struct sm_image_info *info = xcalloc(n ? n : 1, sizeof(*info));
    for (size_t i = 0; i < n; i++) {
        info[i].reference = l[i].name ? xstrdup(l[i].name) : NULL;
        split_name(l[i].name, &info[i].repository, &info[i].tag);
        info[i].id = xstrdup(l[i].config);
        info[i].manifest_digest = xstrdup(l[i].manifest);
        info[i].size = l[i].size;
        char *cfg = NULL;
        size_t len = 0;
        sm_error_t e = NULL;
        if (store_read_blob(&s, l[i].config, OCI_CONFIG_MAX, &cfg, &len, &e) == 0) {
            json_object *o = oci_json_parse(cfg, len, "config", &e);
            if (o)
                info[i].created = parse_created(o);
            json_object_put(o);
        }
        sm_error_release(&e);
        free(cfg);
    }
    store_images_free(l, n);
    store_close(&s);
    *out = info;
    *n_out = n;
    return 0;
}

void sm_image_list_free(struct sm_image_info *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        free(list[i].reference);
        free(list[i].repository);
        free(list[i].tag);
        free(list[i].id);
        free(list[i].manifest_digest);
    }
    free(list);
}

/* ---- remove ---- */

int sm_image_tag(const char *user_ref, const char *target, sm_error_t *err)
{
    struct oci_ref ref;
    if (oci_ref_parse(target, &ref, err) < 0)
        return sm_error_wrap(err, "tag %s %s", user_ref, target);
    if (ref.digest[0])
        return sm_error_set(err, 0, "tag %s %s: a tag cannot hold a digest", user_ref, target);
    struct oci_store s;
    if (store_open(&s, true, err) < 0)
        return sm_error_wrap(err, "tag %s %s", user_ref, target);
    struct store_image img;
    int r = store_resolve(&s, user_ref, &img, err);
    if (r == 0) {
        free(img.name);
        img.name = oci_ref_string(&ref);
        img.added = time(NULL);
        r = store_index_put(&s, &img, err);
        free(img.name);
    }
    store_close(&s);
    return r < 0 ? sm_error_wrap(err, "tag %s %s", user_ref, target) : 0;
}

int sm_image_remove(const char *user_ref, char ***removed_out, sm_error_t *err)
{
    struct oci_store s;
    if (store_open(&s, false, err) < 0)
        return sm_error_wrap(err, "rmi %s", user_ref);
    struct store_image img;
    if (store_resolve(&s, user_ref, &img, err) < 0) {
        store_close(&s);
        return sm_error_wrap(err, "rmi %s", user_ref);
    }
    /* By name: that name only. By ID: every name of the image. */
    struct oci_ref ref;
    sm_error_t e = NULL;
    cleanup_free char *canon = NULL;
    if (oci_ref_parse(user_ref, &ref, &e) == 0)
        canon = oci_ref_string(&ref);
    sm_error_release(&e);
    bool by_name = canon && img.name && strcmp(canon, img.name) == 0;
    struct store_image *l = NULL;
    size_t n = 0;
    char **removed = xcalloc(1, sizeof(char *));
    size_t nr = 0;
    if (store_index_load(&s, &l, &n, err) == 0) {
        removed = xrealloc(removed, (n + 1) * sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            if (strcmp(l[i].config, img.config) != 0)
                continue;
            if (by_name && !(l[i].name && strcmp(l[i].name, img.name) == 0))
                continue;
            removed[nr++] = l[i].name ? oci_ref_familiar_name(l[i].name) : xstrdup(l[i].config);
        }
        removed[nr] = NULL;
        store_images_free(l, n);
    }
    int r = store_index_remove(&s, by_name ? img.name : NULL, img.config, err);
    if (r == 0)
        r = store_gc(&s, err);
    free(img.name);
    store_close(&s);
    if (r < 0) {
        sm_strv_free(removed);
        return sm_error_wrap(err, "rmi %s", user_ref);
    }
    if (removed_out)
        *removed_out = removed;
    else
        sm_strv_free(removed);
    return 0;
}

/* ---- inspect and config ---- */

static int open_image(const char *user_ref, struct oci_store *s, struct store_image *img,
                      char **config, size_t *config_len, sm_error_t *err)
{
    if (store_open(s, false, err) < 0)
        return -1;
    if (store_resolve(s, user_ref, img, err) < 0 ||
        store_read_blob(s, img->config, OCI_CONFIG_MAX, config, config_len, err) < 0) {
        free(img->name);
        store_close(s);
        return -1;
    }
    return 0;
}

static json_object *get_member(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

int sm_image_inspect(const char *user_ref, char **json_out, sm_error_t *err)
{
    struct oci_store s;
    struct store_image img;
    cleanup_free char *config = NULL;
    size_t len = 0;
    if (open_image(user_ref, &s, &img, &config, &len, err) < 0)
        return sm_error_wrap(err, "inspect %s", user_ref);
    json_object *cfg = oci_json_parse(config, len, "image config", err);
    if (cfg == NULL) {
        free(img.name);
        store_close(&s);
        return sm_error_wrap(err, "inspect %s", user_ref);
    }
    json_object *o = json_object_new_object();
    json_object *tags = json_object_new_array(), *digests = json_object_new_array();
    struct store_image *l = NULL;
    size_t n = 0;
    sm_error_t e = NULL;
    if (store_index_load(&s, &l, &n, &e) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(l[i].manifest, img.manifest) != 0 || l[i].name == NULL)
                continue;
            struct oci_ref ref;
            if (oci_ref_parse(l[i].name, &ref, &e) < 0)
                continue;
            cleanup_free char *repo = oci_ref_familiar_repository(&ref);
            if (ref.tag[0]) {
                cleanup_free char *t = xasprintf("%s:%s", repo, ref.tag);
                json_object_array_add(tags, json_object_new_string(t));
            }
            cleanup_free char *d = xasprintf("%s@%s", repo, img.manifest);
            json_object_array_add(digests, json_object_new_string(d));
        }
        store_images_free(l, n);
    }
    sm_error_release(&e);
    json_object_object_add(o, "Id", json_object_new_string(img.config));
    json_object_object_add(o, "RepoTags", tags);
    json_object_object_add(o, "RepoDigests", digests);
    json_object_object_add(o, "ManifestDigest", json_object_new_string(img.manifest));
    static const char *const copy[][2] = {
        {"Created", "created"}, {"Author", "author"},   {"Architecture", "architecture"},
        {"Variant", "variant"}, {"Os", "os"},           {"Config", "config"},
        {"RootFS", "rootfs"},   {"History", "history"},
    };
    for (size_t i = 0; i < SM_ARRAY_SIZE(copy); i++) {
        json_object *v = get_member(cfg, copy[i][1]);
        if (v)
            json_object_object_add(o, copy[i][0], json_object_get(v));
    }
    json_object_object_add(o, "Size", json_object_new_int64((int64_t)img.size));
    *json_out = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    json_object_put(cfg);
    free(img.name);
    store_close(&s);
    return 0;
}

static char *str_from_json(json_object *s)
{
    if (s == NULL || !json_object_is_type(s, json_type_string) ||
        *json_object_get_string(s) == '\0')
        return NULL;
    return xstrdup(json_object_get_string(s));
}

int oci_config_parse(const char *json, size_t len, struct sm_image_config *c, sm_error_t *err)
{
    json_object *root = oci_json_parse(json, len, "image config", err);
    if (root == NULL)
        return -1;
    json_object *cfg = get_member(root, "config");
    if (cfg && json_object_is_type(cfg, json_type_object)) {
        c->entrypoint = sm_json_strv(get_member(cfg, "Entrypoint"));
        c->cmd = sm_json_strv(get_member(cfg, "Cmd"));
        c->env = sm_json_strv(get_member(cfg, "Env"));
        c->working_dir = str_from_json(get_member(cfg, "WorkingDir"));
        c->user = str_from_json(get_member(cfg, "User"));
        c->stop_signal = str_from_json(get_member(cfg, "StopSignal"));
        json_object *labels = get_member(cfg, "Labels");
        if (labels && json_object_is_type(labels, json_type_object)) {
            size_t n = (size_t)json_object_object_length(labels), k = 0;
            c->labels = xcalloc(n + 1, sizeof(char *));
            json_object_object_foreach(labels, key, val)
            {
                if (k < n && json_object_is_type(val, json_type_string))
                    c->labels[k++] = xasprintf("%s=%s", key, json_object_get_string(val));
            }
        }
        json_object *ports = get_member(cfg, "ExposedPorts");
        if (ports && json_object_is_type(ports, json_type_object)) {
            size_t n = (size_t)json_object_object_length(ports), k = 0;
            c->exposed_ports = xcalloc(n + 1, sizeof(char *));
            json_object_object_foreach(ports, key, val)
            {
                (void)val;
                if (k < n)
                    c->exposed_ports[k++] = xstrdup(key);
            }
        }
    }
    json_object_put(root);
    return 0;
}

int sm_image_config(const char *user_ref, struct sm_image_config **out, sm_error_t *err)
{
    struct oci_store s;
    struct store_image img;
    cleanup_free char *config = NULL;
    size_t len = 0;
    if (open_image(user_ref, &s, &img, &config, &len, err) < 0)
        return sm_error_wrap(err, "image %s", user_ref);
    free(img.name);
    store_close(&s);
    struct sm_image_config *c = xcalloc(1, sizeof(*c));
    if (oci_config_parse(config, len, c, err) < 0) {
        sm_image_config_free(c);
        return sm_error_wrap(err, "image %s", user_ref);
    }
    c->id = xstrdup(img.config);
    c->manifest_digest = xstrdup(img.manifest);
    *out = c;
    return 0;
}

void sm_image_config_free(struct sm_image_config *c)
{
    if (c == NULL)
        return;
    free(c->id);
    free(c->manifest_digest);
    sm_strv_free(c->entrypoint);
    sm_strv_free(c->cmd);
    sm_strv_free(c->env);
    free(c->working_dir);
    free(c->user);
    free(c->stop_signal);
    sm_strv_free(c->exposed_ports);
    sm_strv_free(c->labels);
    free(c);
}
