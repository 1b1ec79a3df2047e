/* The default guest kernel: Debian's standard amd64 kernel package, fetched without root
 * (apt-get download + dpkg-deb -x) into the store and verified by its SHA-256 on use. */
#ifndef SM_VMM_KERNEL_H
#define SM_VMM_KERNEL_H

#include "common/error.h"

/* Finds the store's kernel, fetching it first if there is none. Returns malloc'd paths of
 * the bzImage and of the modules tree (lib/modules/<version>). */
int sm_kernel_locate(char **vmlinuz_path, char **modules_dir, sm_error_t *err);

/* Installs a kernel from a .deb (linux-image-*-amd64) into the store under root: used by
 * the fetch and by tests that bring their own package. */
int sm_kernel_install_deb(const char *root, const char *deb, sm_error_t *err);

#endif
