/* The core library's side of the I/O plugin (io_plugin.h): loads supermachine-io.so on
 * first use and forwards each function to it. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "common/util.h"
#include "oci/io_plugin.h"
#include "oci/ref.h"
#include "runtime/vmm_process.h"

static pthread_once_t io_once = PTHREAD_ONCE_INIT;
static const struct sm_io_plugin_ops *io_ops; /* set once, read-only after */
static char io_failure[512];                  /* why loading failed, when it did */

static void io_load(void)
{
    sm_error_t err = NULL;
    char *path = runtime_find_helper(SM_IO_PLUGIN_FILE, &err);
    if (path == NULL) {
        snprintf(io_failure, sizeof(io_failure), "I/O plugin: %s", sm_error_message(err));
        sm_error_release(&err);
        return;
    }
    /* Never closed: its code stays in use for the life of the process. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(io_failure, sizeof(io_failure), "I/O plugin: %s", dlerror()); /* names path */
        free(path);
        return;
    }
    const struct sm_io_plugin_ops *(*get)(void) =
        (const struct sm_io_plugin_ops *(*)(void))dlsym(h, "sm_io_plugin_ops");
    const struct sm_io_plugin_ops *ops = get ? get() : NULL;
    if (ops == NULL || ops->version != SM_IO_PLUGIN_VERSION)
        snprintf(io_failure, sizeof(io_failure), "%s: not a supermachine I/O plugin of version %u",
                 path, SM_IO_PLUGIN_VERSION);
    else
        io_ops = ops;
    free(path);
}

static const struct sm_io_plugin_ops *io(sm_error_t *err)
{
    pthread_once(&io_once, io_load);
    if (io_ops == NULL)
        sm_error_set(err, 0, "%s", io_failure); /* the cause is in the text already */
    return io_ops;
}

int oci_registry_open(const struct oci_ref *ref, struct oci_registry **out, sm_error_t *err)
{
    const struct sm_io_plugin_ops *p = io(err);
    return p ? p->registry_open(ref, out, err) : -1;
}

void oci_registry_close(struct oci_registry *r)
{
    if (r) /* only ever made by the plugin, so it is loaded */
        io_ops->registry_close(r);
}

int oci_registry_get_manifest(struct oci_registry *r, const char *reference, size_t max,
                              char **body, size_t *len, char **content_type,
                              char digest[OCI_DIGEST_MAX], sm_error_t *err)
{
    const struct sm_io_plugin_ops *p = io(err);
    return p ? p->registry_get_manifest(r, reference, max, body, len, content_type, digest, err)
             : -1;
}

int oci_registry_get_blob(struct oci_registry *r, const char *digest, int64_t size, size_t max,
                          char **body, size_t *len, sm_error_t *err)
{
    const struct sm_io_plugin_ops *p = io(err);
    return p ? p->registry_get_blob(r, digest, size, max, body, len, err) : -1;
}

int oci_registry_fetch_blob(struct oci_registry *r, struct oci_store *s, const char *digest,
                            int64_t size, oci_progress_fn progress, void *opaque, sm_error_t *err)
{
    const struct sm_io_plugin_ops *p = io(err);
    return p ? p->registry_fetch_blob(r, s, digest, size, progress, opaque, err) : -1;
}

int oci_flatten_layers_ex(const struct oci_layer_desc *layers, size_t n,
                          const struct oci_flatten_limits *limits, struct fs_tree **out,
                          sm_error_t *err)
{
    const struct sm_io_plugin_ops *p = io(err);
    return p ? p->flatten_layers_ex(layers, n, limits, out, err) : -1;
}

int oci_flatten_layers(const struct oci_layer_desc *layers, size_t n, struct fs_tree **out,
                       sm_error_t *err)
{
    return oci_flatten_layers_ex(layers, n, NULL, out, err);
}

int fs_tree_export_tar(const struct fs_tree *t, int fd, sm_error_t *err)
{
    const struct sm_io_plugin_ops *p = io(err);
    return p ? p->tree_export_tar(t, fd, err) : -1;
}

int sm_image_load(const char *path, char ***names_out, sm_error_t *err)
{
    /* A public entry point: say what failed, as the plugin's own errors do. */
    const struct sm_io_plugin_ops *p = io(err);
    if (p == NULL)
        return sm_error_wrap(err, "load %s", path);
    if (p->image_load(path, names_out, err) < 0)
        return -1;
    /* The store keeps names in full; docker's users read them short (busybox:latest). */
    for (char **n = names_out ? *names_out : NULL; n && *n; n++) {
        char *familiar = oci_ref_familiar_name(*n);
        free(*n);
        *n = familiar;
    }
    return 0;
}

int initramfs_build(const char *out_path, const char *init_binary, const char *modules_dir,
                    const char *const *module_names, sm_error_t *err)
{
    const struct sm_io_plugin_ops *p = io(err);
    return p ? p->initramfs_build(out_path, init_binary, modules_dir, module_names, err) : -1;
}

int copy_tar_create(const char *path, const char *top, int fd, sm_error_t *err)
{
    const struct sm_io_plugin_ops *p = io(err);
    return p ? p->copy_tar_create(path, top, fd, err) : -1;
}

int copy_tar_extract(int fd, const char *dir, const char *top, const char *as, sm_error_t *err)
{
    const struct sm_io_plugin_ops *p = io(err);
    return p ? p->copy_tar_extract(fd, dir, top, as, err) : -1;
}
