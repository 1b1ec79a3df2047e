/* The plugin's one exported symbol (io_plugin.h). */
#include "oci/io_plugin.h"

__attribute__((visibility("default"))) const struct sm_io_plugin_ops *sm_io_plugin_ops(void)
{
    static const struct sm_io_plugin_ops ops = {
        .version = SM_IO_PLUGIN_VERSION,
        .registry_open = oci_registry_open,
        .registry_close = oci_registry_close,
        .registry_get_manifest = oci_registry_get_manifest,
        .registry_get_blob = oci_registry_get_blob,
        .registry_fetch_blob = oci_registry_fetch_blob,
        .flatten_layers_ex = oci_flatten_layers_ex,
        .tree_export_tar = fs_tree_export_tar,
        .image_load = sm_image_load,
        .initramfs_build = initramfs_build,
        .copy_tar_create = copy_tar_create,
        .copy_tar_extract = copy_tar_extract,
    };
    return &ops;
}
