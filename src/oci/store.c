/* Content store. Invariants every operation keeps, whatever fails or is killed:
 * - a file under blobs/sha256/ is complete and hashes to its name (written elsewhere,
 *   verified, then renamed in);
 * - images.json is replaced whole (temp + rename) under images.lock;
 * - garbage collection runs only while no writer holds gc.lock shared, so blobs being
 *   pulled (on disk, not yet referenced) are never collected. */
#include "oci/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "oci/manifest.h"

#define INDEX_MAX (64u << 20)

static int subdirs(struct oci_store *s, sm_error_t *err)
{
    static const char *const dirs[] = {"blobs/sha256", "tmp", "rootfs"};
    for (size_t i = 0; i < SM_ARRAY_SIZE(dirs); i++) {
        cleanup_free char *p = xasprintf("%s/%s", s->root, dirs[i]);
        if (sm_mkdir_p(p, 0755, err) < 0)
            return -1;
    }
    return 0;
}

int store_open(struct oci_store *s, bool writer, sm_error_t *err)
{
    s->gc_fd = -1;
    s->root = sm_store_root(err);
    if (s->root == NULL)
        return -1;
    if (subdirs(s, err) < 0) {
        store_close(s);
        return sm_error_wrap(err, "store");
    }
    if (writer) {
        cleanup_free char *lock = xasprintf("%s/gc.lock", s->root);
        s->gc_fd = sm_lock_file(lock, false, err);
        if (s->gc_fd < 0) {
            store_close(s);
            return -1;
        }
    }
    return 0;
}

void store_close(struct oci_store *s)
{
    if (s->gc_fd >= 0)
        close(s->gc_fd);
    s->gc_fd = -1;
    free(s->root);
    s->root = NULL;
}

char *store_blob_path(const struct oci_store *s, const char *digest)
{
    return xasprintf("%s/blobs/sha256/%s", s->root, digest + 7);
}

char *store_rootfs_path(const struct oci_store *s, const char *manifest_digest)
{
    return xasprintf("%s/rootfs/%s.erofs", s->root, manifest_digest + 7);
}

bool store_has_blob(const struct oci_store *s, const char *digest)
{
    if (!oci_digest_valid(digest))
        return false;
    cleanup_free char *p = store_blob_path(s, digest);
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Writes data to a private temp file under tmp/ and renames it to dest. */
static int write_via_tmp(struct oci_store *s, const char *dest, const void *data, size_t len,
                         mode_t mode, sm_error_t *err)
{
    cleanup_free char *tmp = store_tmp_path(s, "put");
    return sm_write_file_via(tmp, dest, data, len, mode, err);
}

int store_put_blob(struct oci_store *s, const char *expected, const void *data, size_t len,
                   char digest_out[OCI_DIGEST_MAX], sm_error_t *err)
{
    char hex[65];
    sm_sha256_hex(data, len, hex);
    char digest[OCI_DIGEST_MAX];
    snprintf(digest, sizeof(digest), "sha256:%s", hex);
    if (expected && strcmp(expected, digest) != 0)
        return sm_error_set(err, 0, "%s: digest mismatch (content is %s)", expected, digest);
    if (digest_out)
        memcpy(digest_out, digest, OCI_DIGEST_MAX);
    if (store_has_blob(s, digest))
        return 0;
    cleanup_free char *path = store_blob_path(s, digest);
    return write_via_tmp(s, path, data, len, 0444, err);
}

char *store_tmp_path(struct oci_store *s, const char *what)
{
    static unsigned counter; /* uniqueness within the process, with the pid and the time */
    return xasprintf("%s/tmp/%s.%d.%llx.%u", s->root, what, (int)getpid(),
                     (unsigned long long)sm_now_ns(), __atomic_fetch_add(&counter, 1, 0));
}

int store_adopt_file(struct oci_store *s, const char *tmp_path, const char *digest, sm_error_t *err)
{
    if (store_has_blob(s, digest)) {
        unlink(tmp_path);
        return 0;
    }
    cleanup_free char *dest = store_blob_path(s, digest);
    chmod(tmp_path, 0444);
    if (rename(tmp_path, dest) < 0)
        return sm_error_set(err, errno, "rename %s", dest);
    return 0;
}

int store_read_blob(const struct oci_store *s, const char *digest, size_t max, char **out,
                    size_t *len, sm_error_t *err)
{
    if (!oci_digest_valid(digest))
        return sm_error_set(err, 0, "invalid digest %.80s", digest);
    cleanup_free char *path = store_blob_path(s, digest);
    char *buf = NULL;
    size_t n = 0;
    if (sm_read_file(path, max, &buf, &n, err) < 0)
        return sm_error_wrap(err, "blob %s", digest);
    char hex[65];
    sm_sha256_hex(buf, n, hex);
    if (strcmp(hex, digest + 7) != 0) {
        free(buf);
        return sm_error_set(err, 0, "blob %s: corrupt in the store (hashes to sha256:%s)", digest,
                            hex);
    }
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

/* ---- streaming ingest ---- */

int store_ingest_open(struct oci_store *s, const char *digest, int64_t size,
                      struct store_ingest *in, sm_error_t *err)
{
    memset(in, 0, sizeof(*in));
    in->fd = -1;
    if (!oci_digest_valid(digest))
        return sm_error_set(err, 0, "invalid digest %.80s", digest);
    if (store_has_blob(s, digest)) {
        /* A partial an interrupted pull left for a blob that is here now: drop it,
         * unless someone is writing it. */
        cleanup_free char *stale = xasprintf("%s/tmp/%s.partial", s->root, digest + 7);
        cleanup_close int fd = open(stale, O_RDWR | O_CLOEXEC);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
            unlink(stale);
        return 1;
    }
    in->store = s;
    in->size = size;
    snprintf(in->digest, sizeof(in->digest), "%s", digest);
    in->partial = xasprintf("%s/tmp/%s.partial", s->root, digest + 7);
    for (int tries = 0;; tries++) {
        int fd = open(in->partial, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            sm_error_set(err, errno, "create %s", in->partial);
            goto fail;
        }
        while (flock(fd, LOCK_EX) < 0) {
            if (errno != EINTR) {
                sm_error_set(err, errno, "lock %s", in->partial);
                close(fd);
                goto fail;
            }
        }
        /* The file we locked may have been renamed into place or removed meanwhile. */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(in->partial, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev) {
            in->fd = fd;
            break;
        }
        close(fd);
        if (tries > 1000) {
            sm_error_set(err, 0, "%s: cannot settle the partial file", in->partial);
            goto fail;
        }
    }
    if (store_has_blob(s, digest)) {
        unlink(in->partial);
        store_ingest_close(in, true);
        return 1;
    }
    sha256_init(&in->md);
    /* Resume: hash what an earlier, interrupted process left. */
    struct stat st;
    if (fstat(in->fd, &st) < 0) {
        sm_error_set(err, errno, "stat %s", in->partial);
        goto fail;
    }
    if (st.st_size > size) {
        if (ftruncate(in->fd, 0) < 0) {
            sm_error_set(err, errno, "truncate %s", in->partial);
            goto fail;
        }
        st.st_size = 0;
    }
    char buf[1 << 16];
    uint64_t done = 0;
    while (done < (uint64_t)st.st_size) {
        ssize_t r = pread(in->fd, buf, sizeof(buf), (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        sha256_update(&in->md, (size_t)r, (const uint8_t *)buf);
        done += (uint64_t)r;
    }
    in->offset = done;
    if (ftruncate(in->fd, (off_t)done) < 0 || lseek(in->fd, (off_t)done, SEEK_SET) < 0) {
        sm_error_set(err, errno, "seek %s", in->partial);
        goto fail;
    }
    return 0;
fail:
    store_ingest_close(in, true);
    return -1;
}

int store_ingest_write(struct store_ingest *in, const void *buf, size_t len, sm_error_t *err)
{
    if (in->offset + len > (uint64_t)in->size)
        return sm_error_set(err, 0, "blob %s: more data than its declared size %lld", in->digest,
                            (long long)in->size);
    if (sm_write_all(in->fd, buf, len) < 0)
        return sm_error_set(err, errno, "write %s", in->partial);
    sha256_update(&in->md, len, buf);
    in->offset += len;
    return 0;
}

int store_ingest_restart(struct store_ingest *in, sm_error_t *err)
{
    if (ftruncate(in->fd, 0) < 0 || lseek(in->fd, 0, SEEK_SET) < 0)
        return sm_error_set(err, errno, "truncate %s", in->partial);
    sha256_init(&in->md);
    in->offset = 0;
    return 0;
}

int store_ingest_commit(struct store_ingest *in, sm_error_t *err)
{
    if (in->offset != (uint64_t)in->size) {
        sm_error_set(err, 0, "blob %s: truncated (%llu of %lld bytes)", in->digest,
                     (unsigned long long)in->offset, (long long)in->size);
        unlink(in->partial);
        return -1;
    }
    char hex[65];
    sm_sha256_hex_final(&in->md, hex);
    if (strcmp(hex, in->digest + 7) != 0) {
        sm_error_set(err, 0, "blob %s: digest mismatch (content is sha256:%s)", in->digest, hex);
        unlink(in->partial);
        return -1;
    }
    if (fsync(in->fd) < 0 || fchmod(in->fd, 0444) < 0)
        return sm_error_set(err, errno, "sync %s", in->partial);
    cleanup_free char *dest = store_blob_path(in->store, in->digest);
    if (rename(in->partial, dest) < 0)
        return sm_error_set(err, errno, "rename %s", dest);
    cleanup_free char *dir = xasprintf("%s/blobs/sha256", in->store->root);
    fsync_dir(dir);
    return 0;
}

void store_ingest_close(struct store_ingest *in, bool keep)
{
    if (!keep && in->partial && in->fd >= 0)
        unlink(in->partial);
    if (in->fd >= 0)
        close(in->fd); /* releases the lock */
    in->fd = -1;
    free(in->partial);
    in->partial = NULL;
}

/* ---- image index ---- */

void store_images_free(struct store_image *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i].name);
    free(list);
}

static int index_read(struct oci_store *s, struct store_image **list, size_t *n, sm_error_t *err)
{
    *list = NULL;
    *n = 0;
    cleanup_free char *path = xasprintf("%s/images.json", s->root);
    if (access(path, F_OK) < 0)
        return 0;
    cleanup_free char *text = NULL;
    size_t len = 0;
    if (sm_read_file(path, INDEX_MAX, &text, &len, err) < 0)
        return -1;
    json_object *root = oci_json_parse(text, len, path, err);
    if (root == NULL)
        return -1;
    json_object *arr;
    if (!json_object_object_get_ex(root, "images", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        json_object_put(root);
        return sm_error_set(err, 0, "%s: no images array", path);
    }
    size_t count = json_object_array_length(arr);
    struct store_image *l = xcalloc(count, sizeof(*l));
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        json_object *e = json_object_array_get_idx(arr, i), *v;
        const char *name = sm_json_str(e, "name");
        const char *man = sm_json_str(e, "manifest");
        const char *cfg = sm_json_str(e, "config");
        if (!oci_digest_valid(man) || !oci_digest_valid(cfg))
            continue; /* skip damaged entries rather than lose the whole index */
        l[k].name = name ? xstrdup(name) : NULL;
        snprintf(l[k].manifest, sizeof(l[k].manifest), "%s", man);
        snprintf(l[k].config, sizeof(l[k].config), "%s", cfg);
        if (json_object_object_get_ex(e, "size", &v))
            l[k].size = (uint64_t)json_object_get_int64(v);
        if (json_object_object_get_ex(e, "added", &v))
            l[k].added = json_object_get_int64(v);
        k++;
    }
    json_object_put(root);
    *list = l;
    *n = k;
    return 0;
}

static int index_write(struct oci_store *s, const struct store_image *l, size_t n, sm_error_t *err)
{
    json_object *root = json_object_new_object();
    json_object *arr = json_object_new_array();
    json_object_object_add(root, "schemaVersion", json_object_new_int(1));
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_new_object();
        if (l[i].name)
            json_object_object_add(e, "name", json_object_new_string(l[i].name));
        json_object_object_add(e, "manifest", json_object_new_string(l[i].manifest));
        json_object_object_add(e, "config", json_object_new_string(l[i].config));
        json_object_object_add(e, "size", json_object_new_int64((int64_t)l[i].size));
        json_object_object_add(e, "added", json_object_new_int64(l[i].added));
        json_object_array_add(arr, e);
    }
    json_object_object_add(root, "images", arr);
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE);
    cleanup_free char *path = xasprintf("%s/images.json", s->root);
    int r = write_via_tmp(s, path, text, strlen(text), 0644, err);
    json_object_put(root);
    if (r == 0)
        fsync_dir(s->root);
    return r;
}

int store_index_load(struct oci_store *s, struct store_image **list, size_t *n, sm_error_t *err)
{
    return index_read(s, list, n, err);
}

static int index_lock(struct oci_store *s, sm_error_t *err)
{
    cleanup_free char *lock = xasprintf("%s/images.lock", s->root);
    return sm_lock_file(lock, true, err);
}

int store_index_put(struct oci_store *s, const struct store_image *img, sm_error_t *err)
{
    int lock = index_lock(s, err);
    if (lock < 0)
        return -1;
    struct store_image *l;
    size_t n;
    if (index_read(s, &l, &n, err) < 0) {
        close(lock);
        return -1;
    }
    size_t i;
    for (i = 0; i < n; i++) {
        if (img->name ? (l[i].name && strcmp(l[i].name, img->name) == 0)
                      : (l[i].name == NULL && strcmp(l[i].manifest, img->manifest) == 0))
            break;
    }
    if (i == n) {
        l = xrealloc(l, (n + 1) * sizeof(*l));
        memset(&l[n], 0, sizeof(l[n]));
        n++;
    }
    free(l[i].name);
    l[i] = *img;
    l[i].name = img->name ? xstrdup(img->name) : NULL;
    if (l[i].added == 0)
        l[i].added = (int64_t)time(NULL);
    /* A named image makes an untagged entry of the same manifest redundant. */
    if (img->name) {
        for (size_t j = 0; j < n; j++) {
            if (l[j].name == NULL && strcmp(l[j].manifest, img->manifest) == 0) {
                l[j] = l[n - 1];
                n--;
                break;
            }
        }
    }
    int r = index_write(s, l, n, err);
    store_images_free(l, n);
    close(lock);
    return r;
}

int store_index_remove(struct oci_store *s, const char *name, const char *config, sm_error_t *err)
{
    int lock = index_lock(s, err);
    if (lock < 0)
        return -1;
    struct store_image *l;
    size_t n;
    if (index_read(s, &l, &n, err) < 0) {
        close(lock);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool drop =
            name ? (l[i].name && strcmp(l[i].name, name) == 0) : strcmp(l[i].config, config) == 0;
        if (drop) {
            free(l[i].name);
            continue;
        }
        l[k++] = l[i];
    }
    int r = index_write(s, l, k, err);
    store_images_free(l, k);
    close(lock);
    return r;
}

static bool hex_prefix(const char *s)
{
    size_t n = strlen(s);
    return n >= 4 && n <= 64 && strspn(s, "0123456789abcdef") == n;
}

int store_resolve(struct oci_store *s, const char *user_ref, struct store_image *out,
                  sm_error_t *err)
{
    memset(out, 0, sizeof(*out));
    struct store_image *l;
    size_t n;
    if (index_read(s, &l, &n, err) < 0)
        return -1;
    struct oci_ref ref;
    sm_error_t ignored = NULL;
    cleanup_free char *canon = NULL;
    if (oci_ref_parse(user_ref, &ref, &ignored) == 0)
        canon = oci_ref_string(&ref);
    sm_error_release(&ignored);
    size_t found = n;
    for (size_t i = 0; canon && i < n; i++)
        if (l[i].name && strcmp(l[i].name, canon) == 0)
            found = i;
    if (found == n) {
        const char *id = user_ref;
        if (strncmp(id, "sha256:", 7) == 0)
            id += 7;
        if (hex_prefix(id)) {
            size_t idlen = strlen(id);
            for (size_t i = 0; i < n; i++) {
                if (strncmp(l[i].config + 7, id, idlen) != 0 &&
                    strncmp(l[i].manifest + 7, id, idlen) != 0)
                    continue;
                /* One image ID may have several manifests (e.g. OCI and Docker
                 * schema 2 forms of it): ambiguous only across images. */
                if (found != n && strcmp(l[found].config, l[i].config) != 0) {
                    store_images_free(l, n);
                    return sm_error_set(err, 0, "%s: ambiguous image ID prefix", user_ref);
                }
                found = i;
            }
        }
    }
    if (found == n) {
        store_images_free(l, n);
        sm_error_set(err, 0, "no such image: %s", user_ref);
        if (err && *err)
            (*err)->errno_value = ENOENT; /* callers such as run pull what is missing */
        return -1;
    }
    *out = l[found];
    l[found].name = NULL;
    store_images_free(l, n);
    return 0;
}

/* ---- garbage collection ---- */

struct digest_set {
    char (*d)[OCI_DIGEST_MAX];
    size_t n, cap;
};

static void set_add(struct digest_set *s, const char *digest)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->d = xrealloc(s->d, s->cap * sizeof(*s->d));
    }
    snprintf(s->d[s->n++], OCI_DIGEST_MAX, "%s", digest);
}

static bool set_has_hex(const struct digest_set *s, const char *hex)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->d[i] + 7, hex) == 0)
            return true;
    return false;
}

/* Adds the blobs of an image (its manifest, config and layers) to keep; -1 if its
 * manifest cannot be read. */
static int add_image_blobs(const struct oci_store *s, const struct store_image *img,
                           struct digest_set *keep)
{
    set_add(keep, img->manifest);
    set_add(keep, img->config);
    char *text = NULL;
    size_t len = 0;
    sm_error_t e = NULL;
    struct oci_manifest m;
    int r = -1;
    if (store_read_blob(s, img->manifest, OCI_MANIFEST_MAX, &text, &len, &e) == 0 &&
        oci_manifest_parse(text, len, &m, &e) == 0) {
        for (size_t j = 0; j < m.n_layers; j++)
            set_add(keep, m.layers[j].digest);
        oci_manifest_free(&m);
        r = 0;
    }
    sm_error_release(&e);
    free(text);
    return r;
}

int store_blob_usage(struct oci_store *s, char *const *keep_manifests, size_t nkeep, int64_t *bytes,
                     int64_t *reclaimable, sm_error_t *err)
{
    struct store_image *l;
    size_t n;
    *bytes = *reclaimable = 0;
    if (index_read(s, &l, &n, err) < 0)
        return -1;
    struct digest_set keep = {0};
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < nkeep; k++)
            if (strcmp(l[i].manifest, keep_manifests[k]) == 0) {
                add_image_blobs(s, &l[i], &keep); /* unreadable: its blobs count as free */
                break;
            }
    store_images_free(l, n);
    cleanup_free char *dir = xasprintf("%s/blobs/sha256", s->root);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        struct stat st;
        if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        *bytes += (int64_t)st.st_blocks * 512;
        if (!set_has_hex(&keep, de->d_name))
            *reclaimable += (int64_t)st.st_blocks * 512;
    }
    if (d)
        closedir(d);
    free(keep.d);
    return 0;
}

int store_gc(struct oci_store *s, sm_error_t *err)
{
    cleanup_free char *lockpath = xasprintf("%s/gc.lock", s->root);
    int gc = sm_lock_file(lockpath, true, err);
    if (gc < 0)
        return -1;
    struct store_image *l;
    size_t n;
    if (index_read(s, &l, &n, err) < 0) {
        close(gc);
        return -1;
    }
    struct digest_set keep = {0}, manifests = {0};
    for (size_t i = 0; i < n; i++) {
        set_add(&manifests, l[i].manifest);
        if (add_image_blobs(s, &l[i], &keep) < 0) {
            /* An unreadable manifest: collect nothing rather than guess. */
            store_images_free(l, n);
            free(keep.d);
            free(manifests.d);
            close(gc);
            return 0;
        }
    }
    store_images_free(l, n);
    static const char *const dirs[] = {"blobs/sha256", "rootfs", "tmp", "snapshots"};
    for (size_t k = 0; k < SM_ARRAY_SIZE(dirs); k++) {
        cleanup_free char *dir = xasprintf("%s/%s", s->root, dirs[k]);
        DIR *d = opendir(dir);
        if (d == NULL)
            continue;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            bool drop;
            if (k == 0) {
                drop = !set_has_hex(&keep, de->d_name);
            } else if (k == 1 || k == 3) {
                /* rootfs/<manifest hex>.erofs, snapshots/<manifest hex>-<key>[-w] (and
                 * a save in progress, <that>.tmp-<pid>): the image's, kept with it.
                 * Snapshots named otherwise are an older version's, used by nothing. */
                char hex[65] = "";
                if (strlen(de->d_name) > 64 && de->d_name[64] == (k == 1 ? '.' : '-'))
                    memcpy(hex, de->d_name, 64);
                drop = !set_has_hex(&manifests, hex);
            } else {
                drop = true; /* no writer runs now: anything in tmp/ is left over */
            }
            if (drop && k == 3) {
                /* A restored VM maps its memory file: it keeps the inode until it ends. */
                cleanup_free char *path = xasprintf("%s/%s", dir, de->d_name);
                sm_error_t ignored = NULL;
                sm_remove_tree(path, &ignored);
                sm_error_release(&ignored);
            } else if (drop) {
                unlinkat(dirfd(d), de->d_name, 0);
            }
        }
        closedir(d);
    }
    free(keep.d);
    free(manifests.d);
    close(gc);
    return 0;
}
