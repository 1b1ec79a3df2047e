/* Export and root filesystem images: both flatten the image's layers (flatten.h) from the
 * store's verified blobs. The EROFS image is a cache keyed by the manifest digest, built
 * once under a per-image lock so concurrent callers wait for one build. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "oci/flatten.h"
#include "oci/image.h"
#include "supermachine.h"

/* Flattens the stored image `img` into a tree. */
static int flatten_image(struct oci_store *s, const struct store_image *img, struct fs_tree **out,
                         sm_error_t *err)
{
    struct oci_manifest m;
    cleanup_free char *config = NULL;
    size_t config_len = 0;
    if (oci_image_read(s, img, &m, &config, &config_len, err) < 0)
        return -1;
    char(*diff_ids)[OCI_DIGEST_MAX] = NULL;
    if (oci_config_diff_ids(config, config_len, m.n_layers, &diff_ids, err) < 0) {
        oci_manifest_free(&m);
        return -1;
    }
    struct oci_layer_desc *layers = xcalloc(m.n_layers ? m.n_layers : 1, sizeof(*layers));
    char **paths = xcalloc(m.n_layers ? m.n_layers : 1, sizeof(char *));
    int ret = 0;
    for (size_t i = 0; i < m.n_layers; i++) {
        paths[i] = store_blob_path(s, m.layers[i].digest);
        if (!store_has_blob(s, m.layers[i].digest)) {
            ret = sm_error_set(err, 0, "layer %s missing from the store", m.layers[i].digest);
            break;
        }
        layers[i].blob_path = paths[i];
        layers[i].media_type = m.layers[i].media_type;
        layers[i].diff_id = diff_ids[i];
    }
    if (ret == 0)
        ret = oci_flatten_layers(layers, m.n_layers, out, err);
    for (size_t i = 0; i < m.n_layers; i++)
        free(paths[i]);
    free(paths);
    free(layers);
    free(diff_ids);
    oci_manifest_free(&m);
    return ret;
}

int sm_image_export(const char *ref, int fd, sm_error_t *err)
{
    struct oci_store s;
    /* As a writer: keeps garbage collection away from the blobs while we read them. */
    if (store_open(&s, true, err) < 0)
        return sm_error_wrap(err, "export %s", ref);
    struct store_image img;
    struct fs_tree *t = NULL;
    int ret = store_resolve(&s, ref, &img, err);
    if (ret == 0) {
        ret = flatten_image(&s, &img, &t, err);
        if (ret == 0)
            ret = fs_tree_export_tar(t, fd, err);
        if (t)
            fs_tree_free(t);
        free(img.name);
    }
    store_close(&s);
    return ret < 0 ? sm_error_wrap(err, "export %s", ref) : 0;
}

int sm_image_rootfs(const char *ref, char **path_out, sm_error_t *err)
{
    struct oci_store s;
    if (store_open(&s, true, err) < 0)
        return sm_error_wrap(err, "rootfs %s", ref);
    struct store_image img;
    if (store_resolve(&s, ref, &img, err) < 0) {
        store_close(&s);
        return sm_error_wrap(err, "rootfs %s", ref);
    }
    free(img.name);
    char *path = store_rootfs_path(&s, img.manifest);
    int ret = 0;
    struct stat st;
    if (stat(path, &st) != 0) {
        cleanup_free char *lockpath = xasprintf("%s/rootfs/%s.lock", s.root, img.manifest + 7);
        int lock = sm_lock_file(lockpath, true, err);
        if (lock < 0) {
            ret = -1;
        } else {
            /* Someone may have built it while we waited for the lock. */
            if (stat(path, &st) != 0) {
                struct fs_tree *t = NULL;
                ret = flatten_image(&s, &img, &t, err);
                if (ret == 0)
                    ret = erofs_write_image(t, path, err);
                if (t)
                    fs_tree_free(t);
            }
            close(lock);
        }
    }
    store_close(&s);
    if (ret < 0) {
        free(path);
        return sm_error_wrap(err, "rootfs %s", ref);
    }
    *path_out = path;
    return 0;
}
