/* virtio-blk (device 2): a disk image file, read-only by default (the image's root
 * filesystem, shared by every VM of that image). Requests are served with preadv/pwritev
 * straight into guest buffers; every sector range is checked against the disk size. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/util.h"
#include "vmm/devices/virtio_devices.h"

#define VIRTIO_ID_BLOCK       2
#define VIRTIO_BLK_F_SEG_MAX  (1ull << 2)
#define VIRTIO_BLK_F_RO       (1ull << 5)
#define VIRTIO_BLK_F_BLK_SIZE (1ull << 6)
#define VIRTIO_BLK_F_FLUSH    (1ull << 9)

#define VIRTIO_BLK_T_IN     0
#define VIRTIO_BLK_T_OUT    1
#define VIRTIO_BLK_T_FLUSH  4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2
#define SECTOR              512ull
#define SEG_MAX             126

struct blk_config {
    uint64_t capacity; /* in 512-byte sectors */
    uint32_t size_max;
    uint32_t seg_max;
    uint8_t geometry[4];
    uint32_t blk_size;
} __attribute__((packed));

struct blk_req_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

void virtio_blk_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
    struct virtio_blk *b = dev;
    struct blk_config c = {.capacity = b->size / SECTOR, .seg_max = SEG_MAX, .blk_size = 4096};
    memset(data, 0, len);
    if (off < sizeof(c))
        memcpy(data, (uint8_t *)&c + off, len < sizeof(c) - off ? len : sizeof(c) - off);
}

/* Moves data between the disk and the chain's data iovecs (all but the header's and the
 * status byte's). Returns bytes moved or -1. */
static ssize_t blk_io(struct virtio_blk *b, struct iovec *iov, unsigned n, uint64_t offset,
                      bool write)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (offset > b->size || total > b->size - offset)
        return -1; /* beyond the end of the disk */
    ssize_t done = 0;
    while ((uint64_t)done < total) {
        /* Skip what earlier partial transfers already covered. */
        uint64_t skip = (uint64_t)done;
        unsigned first = 0;
        while (first < n && skip >= iov[first].iov_len)
            skip -= iov[first++].iov_len;
        struct iovec local[SEG_MAX + 2];
        unsigned cnt = 0;
        for (unsigned i = first; i < n && cnt < SM_ARRAY_SIZE(local); i++, cnt++) {
            local[cnt] = iov[i];
            if (i == first) {
                local[cnt].iov_base = (uint8_t *)local[cnt].iov_base + skip;
                local[cnt].iov_len -= skip;
            }
        }
        ssize_t r = write ? pwritev(b->fd, local, (int)cnt, (off_t)(offset + (uint64_t)done))
                          : preadv(b->fd, local, (int)cnt, (off_t)(offset + (uint64_t)done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        done += r;
    }
    return done;
}

static uint8_t handle(struct virtio_blk *b, struct virtq_chain *c, uint32_t *written)
{
    struct blk_req_hdr h;
    *written = 0;
    if (virtq_chain_read(c, 0, &h, sizeof(h)) != sizeof(h) || c->nwrite == 0)
        return VIRTIO_BLK_S_IOERR;
    /* The last writable byte is the status; the header is the first 16 readable bytes. */
    struct iovec *status_iov = &c->write[c->nwrite - 1];
    if (status_iov->iov_len == 0)
        return VIRTIO_BLK_S_IOERR;
    struct iovec data[VIRTQ_MAX_CHAIN];
    unsigned nd = 0;
    if (h.type == VIRTIO_BLK_T_IN || h.type == VIRTIO_BLK_T_GET_ID) {
        for (unsigned i = 0; i < c->nwrite; i++)
            data[nd++] = c->write[i];
        data[nd - 1].iov_len -= 1; /* the status byte */
    } else {
        /* Readable data after the 16-byte header. */
        uint64_t skip = sizeof(h);
        for (unsigned i = 0; i < c->nread; i++) {
            if (skip >= c->read[i].iov_len) {
                skip -= c->read[i].iov_len;
                continue;
            }
            data[nd] = c->read[i];
            data[nd].iov_base = (uint8_t *)data[nd].iov_base + skip;
            data[nd].iov_len -= skip;
            nd++;
            skip = 0;
        }
    }
    if (h.sector > UINT64_MAX / SECTOR)
        return VIRTIO_BLK_S_IOERR;
    switch (h.type) {
    case VIRTIO_BLK_T_IN: {
        ssize_t r = blk_io(b, data, nd, h.sector * SECTOR, false);
        if (r < 0)
            return VIRTIO_BLK_S_IOERR;
        *written = (uint32_t)r;
        return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_OUT:
        if (b->readonly)
            return VIRTIO_BLK_S_IOERR;
        return blk_io(b, data, nd, h.sector * SECTOR, true) < 0 ? VIRTIO_BLK_S_IOERR
                                                                : VIRTIO_BLK_S_OK;
    case VIRTIO_BLK_T_FLUSH:
        return b->readonly || fdatasync(b->fd) == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
    case VIRTIO_BLK_T_GET_ID: {
        char id[20] = {0};
        snprintf(id, sizeof(id), "supermachine");
        struct virtq_chain tmp = *c;
        tmp.nwrite = nd;
        memcpy(tmp.write, data, nd * sizeof(data[0]));
        *written = (uint32_t)virtq_chain_write(&tmp, 0, id, sizeof(id));
        return VIRTIO_BLK_S_OK;
    }
    default:
        return VIRTIO_BLK_S_UNSUPP;
    }
}

static void blk_notify(void *dev, struct virtio_mmio *t, unsigned q)
{
    struct virtio_blk *b = dev;
    struct virtq_chain *c = &b->chain;
    bool pushed = false;
    /* A ring's worth per call, then the notification comes back through the device loop:
     * a guest can make the ring refill itself (its avail index inside a buffer we write,
     * or under the used ring), which would otherwise keep this loop, and the transport
     * lock, forever. */
    unsigned budget = t->vq[q].s.size;
    while (budget > 0 && virtio_mmio_pop(t, q, c) == 1) {
        budget--;
        uint32_t written = 0;
        uint8_t status = handle(b, c, &written);
        struct iovec *s = &c->write[c->nwrite ? c->nwrite - 1 : 0];
        if (c->nwrite && s->iov_len)
            ((uint8_t *)s->iov_base)[s->iov_len - 1] = status;
        virtq_push(&t->vq[q], c->head, written + 1);
        pushed = true;
    }
    if (pushed)
        virtio_mmio_used(t, q);
    if (budget == 0)
        virtio_mmio_renotify(t);
}

int virtio_blk_open(struct virtio_blk *b, const char *path, bool readonly, sm_error_t *err)
{
    memset(b, 0, sizeof(*b));
    b->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (b->fd < 0)
        return sm_error_set(err, errno, "disk %s", path);
    struct stat st;
    if (fstat(b->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(b->fd);
        b->fd = -1;
        return sm_error_set(err, 0, "disk %s: not a regular file", path);
    }
    b->size = (uint64_t)st.st_size & ~(SECTOR - 1);
    b->readonly = readonly;
    b->ops = virtio_blk_ops_template;
    if (readonly)
        b->ops.features |= VIRTIO_BLK_F_RO;
    return 0;
}

void virtio_blk_close(struct virtio_blk *b)
{
    if (b->fd >= 0)
        close(b->fd);
    b->fd = -1;
}

const struct virtio_ops virtio_blk_ops_template = {
    .name = "blk",
    .device_id = VIRTIO_ID_BLOCK,
    .features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH,
    .nqueues = 1,
    .queue_max = 128,
    .config_len = sizeof(struct blk_config),
    .config_read = virtio_blk_config_read,
    .notify = blk_notify,
};
