/* virtio-rng (device 4): fills the guest's buffers from the host's getrandom(). */
#include <sys/random.h>

#include "vmm/devices/virtio_devices.h"

#define VIRTIO_ID_RNG 4

static void rng_notify(void *dev, struct virtio_mmio *t, unsigned q)
{
    struct virtq_chain c;
    while (virtio_mmio_pop(t, q, &c) == 1) {
        uint32_t written = 0;
        for (unsigned i = 0; i < c.nwrite; i++) {
            ssize_t got = getrandom(c.write[i].iov_base, c.write[i].iov_len, 0);
            if (got > 0)
                written += (uint32_t)got;
        }
        virtq_push(&t->vq[q], c.head, written);
        virtio_mmio_used(t, q);
    }
}

const struct virtio_ops virtio_rng_ops = {
    .name = "rng",
    .device_id = VIRTIO_ID_RNG,
    .nqueues = 1,
    .queue_max = 64,
    .notify = rng_notify,
};
