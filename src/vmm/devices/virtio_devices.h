/* The virtio device models, each in its own file (virtio_<name>.c). */
#ifndef SM_DEV_VIRTIO_DEVICES_H
#define SM_DEV_VIRTIO_DEVICES_H

#include "vmm/virtio/mmio.h"

extern const struct virtio_ops virtio_rng_ops;

/* virtio-blk over a disk image file. */
struct virtio_blk {
    int fd;
    uint64_t size;
    bool readonly;
    struct virtio_ops ops;    /* the template, with VIRTIO_BLK_F_RO when read-only */
    struct virtq_chain chain; /* scratch for the device thread (large: not on the stack) */
};
extern const struct virtio_ops virtio_blk_ops_template;
int virtio_blk_open(struct virtio_blk *b, const char *path, bool readonly, sm_error_t *err);
void virtio_blk_close(struct virtio_blk *b);
void virtio_blk_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len);

#endif
