/* The guest's initramfs: sm-init as /init plus the kernel modules it loads (and their
 * dependencies, from modules.dep, in load order), as a gzip'd newc cpio. */
#ifndef SM_AGENT_INITRAMFS_H
#define SM_AGENT_INITRAMFS_H

#include "common/error.h"

/* Writes out_path (through a temporary file and a rename). modules_dir is the kernel's
 * /lib/modules/<version>; module_names a NULL-terminated list (built-in ones are
 * skipped). */
int initramfs_build(const char *out_path, const char *init_binary, const char *modules_dir,
                    const char *const *module_names, sm_error_t *err);

#endif
