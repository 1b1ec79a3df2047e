/* The I/O plugin: the code that needs libcurl (the registry client) or libarchive (layer
 * tars, `load`, `export`, the guest's initramfs) is built as a module of its own,
 * supermachine-io.so, that the library loads the first time one of these functions is
 * called. libcurl and libarchive bring ~40 shared libraries with them (Kerberos, LDAP,
 * ICU, ...); loading those cost every process that links them (each CLI call, each VMM
 * process) ~700 ms in the emulated test host and milliseconds natively, though a `run`
 * from a pulled image and a baked snapshot never needs them. systemd dlopens its optional
 * heavy dependencies for the same reason.
 *
 * The core library keeps the functions' names (io_loader.c forwards each one); the plugin
 * holds the real ones, hidden, and exports only sm_io_plugin_ops. */
#ifndef SM_OCI_IO_PLUGIN_H
#define SM_OCI_IO_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "agent/initramfs.h"
#include "oci/flatten.h"
#include "oci/registry.h"
#include "runtime/copy_tar.h"
#include "supermachine.h"

/* Bumped whenever a member changes: a plugin from another build is refused. */
#define SM_IO_PLUGIN_VERSION 2
#define SM_IO_PLUGIN_FILE    "supermachine-io.so"

struct sm_io_plugin_ops {
    unsigned version;
    __typeof__(oci_registry_open) *registry_open;
    __typeof__(oci_registry_close) *registry_close;
    __typeof__(oci_registry_get_manifest) *registry_get_manifest;
    __typeof__(oci_registry_get_blob) *registry_get_blob;
    __typeof__(oci_registry_fetch_blob) *registry_fetch_blob;
    __typeof__(oci_flatten_layers_ex) *flatten_layers_ex;
    __typeof__(fs_tree_export_tar) *tree_export_tar;
    __typeof__(sm_image_load) *image_load;
    __typeof__(initramfs_build) *initramfs_build;
    __typeof__(copy_tar_create) *copy_tar_create;
    __typeof__(copy_tar_extract) *copy_tar_extract;
};

/* In the plugin: its table. */
const struct sm_io_plugin_ops *sm_io_plugin_ops(void);

#endif
