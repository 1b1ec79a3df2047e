/* Layer tars and the flattening (src/oci/layer.c, tree.c, erofs.c, export.c): up to four
 * layers, split at FUZZ_LAYER_SEP in the input, each plain, gzip or zstd (detected from the
 * bytes, as for a layer of unknown media type), applied in order with whiteouts, opaque
 * directories, hardlinks, symlinks and xattrs; the resulting tree is then written as EROFS
 * and as a tar. Bounds are small so that bombs end quickly. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "oci/flatten.h"

#define FUZZ_LAYER_SEP "--SM-FUZZ-LAYER--"
#define MAX_LAYERS     4

static char workdir[64];

static void remove_workdir(void)
{
    rmdir(workdir); /* empty: the spool is unnamed and each image is removed */
}

static int layer_fd(const uint8_t *p, size_t n)
{
    int fd = memfd_create("layer", MFD_CLOEXEC);
    if (fd < 0 || write(fd, p, n) != (ssize_t)n)
        abort();
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (workdir[0] == '\0') {
        /* tmpfs when there is one: the spool and the EROFS image are rewritten per input. */
        snprintf(workdir, sizeof(workdir), "%s/sm-fuzz-flatten-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (mkdtemp(workdir) == NULL)
            abort();
        atexit(remove_workdir);
    }
    int fds[MAX_LAYERS];
    char paths[MAX_LAYERS][32];
    struct oci_layer_desc layers[MAX_LAYERS];
    size_t n = 0;
    const uint8_t *p = data, *end = data + size;
    while (n < MAX_LAYERS) {
        const uint8_t *sep = n + 1 < MAX_LAYERS ? memmem(p, (size_t)(end - p), FUZZ_LAYER_SEP,
                                                         sizeof(FUZZ_LAYER_SEP) - 1)
                                                : NULL;
        const uint8_t *stop = sep ? sep : end;
        fds[n] = layer_fd(p, (size_t)(stop - p));
        snprintf(paths[n], sizeof(paths[n]), "/proc/self/fd/%d", fds[n]);
        layers[n] = (struct oci_layer_desc){.blob_path = paths[n]};
        n++;
        if (sep == NULL)
            break;
        p = sep + sizeof(FUZZ_LAYER_SEP) - 1;
    }
    struct oci_flatten_limits lim = {.max_total_bytes = 8u << 20,
                                     .max_entries = 4096,
                                     .max_meta_bytes = 4u << 20,
                                     .spool_dir = workdir};
    struct fs_tree *t = NULL;
    sm_error_t err = NULL;
    if (oci_flatten_layers_ex(layers, n, &lim, &t, &err) == 0) {
        char img[96];
        snprintf(img, sizeof(img), "%s/rootfs.erofs", workdir);
        erofs_write_image(t, img, &err);
        sm_error_release(&err);
        unlink(img);
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        fs_tree_export_tar(t, null, &err);
        close(null);
        fs_tree_free(t);
    }
    sm_error_release(&err);
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
    return 0;
}
