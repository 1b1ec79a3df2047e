/* Stand-in for rootfs.c while the flattening (flatten.h) is not in the tree yet: see
 * meson.build. Delete once flatten.h exists. */
#include "supermachine.h"

int sm_image_export(const char *ref, int fd, sm_error_t *err)
{
    (void)fd;
    return sm_error_set(err, 0, "export %s: flattening is not built into this binary", ref);
}

int sm_image_rootfs(const char *ref, char **path_out, sm_error_t *err)
{
    (void)path_out;
    return sm_error_set(err, 0, "rootfs %s: flattening is not built into this binary", ref);
}
