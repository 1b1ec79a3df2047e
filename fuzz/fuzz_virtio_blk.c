/* virtio-blk requests (src/vmm/devices/virtio_blk.c): a guest memory whose request queue
 * comes from the input (headers of any type and sector, data and status buffers in any
 * layout), served against a small disk in memory, read-only or writable. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_input.h"
#include "vmm/devices/virtio_devices.h"

#define DISK_SIZE (64u << 10)

static struct virtio_blk blk[2]; /* read-only, writable */
static struct virtio_mmio t;
static struct vm_memory mem;

static void open_disk(struct virtio_blk *b, bool readonly)
{
    int fd = memfd_create("disk", MFD_CLOEXEC);
    char path[32];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (fd < 0 || ftruncate(fd, DISK_SIZE) < 0 || virtio_blk_open(b, path, readonly, NULL) < 0)
        abort();
    close(fd); /* virtio_blk_open has its own descriptor */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (blk[0].ops.name == NULL) {
        open_disk(&blk[0], true);
        open_disk(&blk[1], false);
    }
    struct fuzz_input in = {data, size};
    uint8_t mode = fuzz_u8(&in);
    struct virtio_blk *b = &blk[mode & 1];
    fuzz_guest_init(&mem);
    virtio_mmio_init(&t, &b->ops, b, &mem, 0, 0, NULL);
    fuzz_queue_setup(&t, 0, &in);
    fuzz_driver_ok(&t, mode & 2 ? VIRTIO_RING_F_EVENT_IDX : 0);
    fuzz_guest_fill(&mem, &in);
    /* As the device loop does on a queue notification. */
    virtio_mmio_notified(&t, 0);
    uint8_t cfg[8];
    virtio_mmio_access(&t, 0x100 + (mode >> 2), cfg, 1u << (mode & 3), false);
    return 0;
}
