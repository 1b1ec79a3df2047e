/* virtio-net without KVM: the device driven through real split virtqueues in a guest
 * memory mapping by a tiny driver here. Frames out (header split across descriptors, too
 * short, too long), frames in (one buffer, spanning mergeable buffers with num_buffers,
 * none free: queued in order and bounded), buffers too small to use, reset, freeze, and a
 * malformed chain that fails the device. */
#include <endian.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "check.h"
#include "vmm/devices/virtio_devices.h"
#include "vmm/memory.h"

#define QSIZE    256
#define DESC(q)  (0x100000ull + (q)*0x10000ull)
#define AVAIL(q) (DESC(q) + 0x4000)
#define USED(q)  (DESC(q) + 0x8000)
#define BUF(i)   (0x400000ull + (i)*0x10000ull) /* 64 KiB apart: room for any buffer */
#define HDR      12
#define MTU      65520
#define F_MRG    (1ull << 15)
#define F_CSUM   (1ull << 1)

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

static struct {
    struct vm_memory mem;
    struct virtio_mmio t;
    struct virtio_net *n;
    uint16_t avail[2], used_seen[2], next_desc[2];
} d;

static uint8_t got[4][70000];
static size_t got_len[4];
static unsigned ngot;

static void *gp(uint64_t gpa, uint64_t len)
{
    return vm_mem_ptr(&d.mem, gpa, len);
}

static void avail_add(unsigned q, uint16_t head)
{
    uint16_t *ring = gp(AVAIL(q), 4 + 2 * QSIZE);
    ring[2 + d.avail[q] % QSIZE] = head;
    d.avail[q]++;
    __atomic_store_n(&ring[1], d.avail[q], __ATOMIC_RELEASE);
}

/* One rx buffer of len bytes (a single descriptor). */
static void add_rx(uint32_t len)
{
    uint16_t slot = d.next_desc[0]++ % QSIZE;
    struct desc *t = gp(DESC(0), 16 * QSIZE);
    t[slot] = (struct desc){BUF(slot % 64), len, 2 /* WRITE */, 0};
    avail_add(0, slot);
}

/* A frame out: the header in its own descriptor, the frame split in two. */
static void tx_frame(const uint8_t *frame, uint32_t len, uint32_t hdr_len)
{
    struct desc *t = gp(DESC(1), 16 * QSIZE);
    uint16_t a = d.next_desc[1]++ % QSIZE, b = d.next_desc[1]++ % QSIZE,
             c = d.next_desc[1]++ % QSIZE;
    uint64_t base = 0x2000000ull + (a % 16) * 0x20000ull;
    memset(gp(base, hdr_len), 0, hdr_len);
    uint32_t half = len / 2;
    memcpy(gp(base + 0x1000, half + 1), frame, half);
    memcpy(gp(base + 0x10000, len - half + 1), frame + half, len - half);
    t[a] = (struct desc){base, hdr_len, 1 /* NEXT */, b};
    t[b] = (struct desc){base + 0x1000, half, 1, c};
    t[c] = (struct desc){base + 0x10000, len - half, 0, 0};
    avail_add(1, a);
}

static void on_frame(void *opaque, const uint8_t *frame, size_t len)
{
    (void)opaque;
    if (ngot < 4) {
        memcpy(got[ngot], frame, len);
        got_len[ngot] = len;
    }
    ngot++;
}

/* The next used rx element: its buffer id and length. */
static bool used_rx(uint16_t *id, uint32_t *len)
{
    uint16_t *idx = gp(USED(0) + 2, 2);
    if (__atomic_load_n(idx, __ATOMIC_ACQUIRE) == d.used_seen[0])
        return false;
    uint32_t *e = gp(USED(0) + 4 + 8ull * (d.used_seen[0] % QSIZE), 8);
    d.used_seen[0]++;
    *id = (uint16_t)e[0];
    *len = e[1];
    return true;
}

static uint8_t *rxbuf(uint16_t id)
{
    return gp(BUF(id % 64), 0x10000);
}

static void setup(uint64_t features)
{
    sm_error_t err = NULL;
    memset(&d, 0, sizeof(d));
    CHECK(vm_memory_init(&d.mem, 128ull << 20, &err) == 0);
    static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    d.n = virtio_net_create(mac, MTU);
    CHECK(virtio_mmio_init(&d.t, &virtio_net_ops, d.n, &d.mem, 0, 0, &err) == 0);
    d.t.irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    d.t.notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    virtio_net_bind(d.n, &d.t);
    for (unsigned q = 0; q < 2; q++) {
        d.t.vq[q].s = (struct virtq_state){.size = QSIZE,
                                           .ready = true,
                                           .event_idx = true,
                                           .desc_gpa = DESC(q),
                                           .avail_gpa = AVAIL(q),
                                           .used_gpa = USED(q)};
        CHECK(virtq_validate(&d.t.vq[q], &err) == 0);
    }
    d.t.s.driver_features = VIRTIO_F_VERSION_1 | features;
    d.t.s.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                   VIRTIO_STATUS_DRIVER_OK;
    CHECK(virtio_net_kick_fd(d.n) == d.t.notify_fd);
    sm_error_release(&err);
}

static void teardown(void)
{
    virtio_net_destroy(d.n);
    close(d.t.irq_fd);
    close(d.t.notify_fd);
    vm_memory_release(&d.mem);
}

static void frame_of(uint8_t *f, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        f[i] = (uint8_t)(seed + i * 7);
}

static void test_config(void)
{
    setup(0);
    uint8_t c[12];
    virtio_net_ops.config_read(d.n, 0, c, sizeof(c));
    CHECK(c[0] == 0x52 && c[5] == 0x56);
    CHECK(c[6] == 1 && c[7] == 0); /* link up */
    CHECK(c[8] == 1 && c[9] == 0); /* one queue pair */
    CHECK((c[10] | c[11] << 8) == MTU);
    virtio_net_ops.config_read(d.n, 10, c, 4); /* past the end reads zeros */
    CHECK((c[0] | c[1] << 8) == MTU && c[2] == 0 && c[3] == 0);
    teardown();
}

static void test_tx(void)
{
    setup(F_MRG);
    static uint8_t f[MTU + 18 + 1];
    frame_of(f, 1514, 1);
    tx_frame(f, 1514, HDR);
    frame_of(f, MTU + 18, 2);
    tx_frame(f, MTU + 18, HDR);     /* the largest allowed */
    tx_frame(f, MTU + 18 + 1, HDR); /* one byte too many: dropped */
    tx_frame(f, 13, HDR);           /* shorter than an Ethernet header: dropped */
    tx_frame(f, 60, 6);             /* header cut short: 6 + 60 bytes read as one */
    ngot = 0;
    CHECK_EQ_U64(virtio_net_tx(d.n, on_frame, NULL, 2), 2); /* the budget */
    CHECK_EQ_U64(virtio_net_tx(d.n, on_frame, NULL, 64), 3);
    CHECK_EQ_U64(virtio_net_tx(d.n, on_frame, NULL, 64), 0);
    CHECK_EQ_U64(ngot, 3);
    uint8_t want[1514];
    frame_of(want, 1514, 1);
    CHECK(got_len[0] == 1514 && memcmp(got[0], want, 1514) == 0);
    frame_of(f, MTU + 18, 2);
    CHECK(got_len[1] == MTU + 18 && memcmp(got[1], f, MTU + 18) == 0);
    CHECK_EQ_U64(got_len[2], 60 + 6 - HDR);
    uint64_t rxd, txd;
    virtio_net_stats(d.n, &rxd, &txd);
    CHECK_EQ_U64(txd, 2);
    /* Every chain went back to the guest. */
    CHECK_EQ_U64(*(uint16_t *)gp(USED(1) + 2, 2), 5);
    /* Frozen: nothing taken. */
    tx_frame(want, 100, HDR);
    virtio_net_freeze(d.n, true);
    CHECK_EQ_U64(virtio_net_tx(d.n, on_frame, NULL, 64), 0);
    virtio_net_freeze(d.n, false);
    CHECK_EQ_U64(virtio_net_tx(d.n, on_frame, NULL, 64), 1);
    teardown();
}

static void test_rx_merge(void)
{
    setup(F_MRG | F_CSUM);
    static uint8_t f[MTU + 18];
    /* A small frame into one buffer. */
    add_rx(2048);
    frame_of(f, 100, 3);
    virtio_net_rx(d.n, f, 100);
    uint16_t id;
    uint32_t len;
    CHECK(used_rx(&id, &len) && len == HDR + 100);
    uint8_t *b = rxbuf(id);
    CHECK(b[0] == 2 /* DATA_VALID */ && b[1] == 0 && (b[10] | b[11] << 8) == 1);
    CHECK(memcmp(b + HDR, f, 100) == 0);
    /* A 64 KiB frame over 4 KiB buffers: num_buffers in the first, data in order. */
    for (int i = 0; i < 20; i++)
        add_rx(4096);
    frame_of(f, MTU + 18, 4);
    virtio_net_rx(d.n, f, MTU + 18);
    size_t total = 0, nbufs = 0;
    static uint8_t joined[MTU + 18 + HDR];
    while (used_rx(&id, &len)) {
        CHECK(len <= 4096);
        memcpy(joined + total, rxbuf(id), len);
        total += len;
        nbufs++;
    }
    CHECK_EQ_U64(total, MTU + 18 + HDR);
    CHECK_EQ_U64(nbufs, (MTU + 18 + HDR + 4095) / 4096);
    CHECK_EQ_U64(joined[10] | joined[11] << 8, nbufs);
    CHECK(memcmp(joined + HDR, f, MTU + 18) == 0);
    /* Not enough buffers for a big frame: nothing used, the frame waits; a small one
     * behind it waits too (order kept); then buffers come and both go, in order. */
    /* (16 of the 20 buffers took the big frame: 4 are left, 16 KiB.) */
    frame_of(f, 20000, 5);
    virtio_net_rx(d.n, f, 20000);
    CHECK(!used_rx(&id, &len));
    virtio_net_rx(d.n, f, 60);
    CHECK(!used_rx(&id, &len));
    CHECK_EQ_U64(virtio_net_flush(d.n), 20060);
    for (int i = 0; i < 5; i++)
        add_rx(4096);
    CHECK_EQ_U64(virtio_net_flush(d.n), 0);
    total = 0;
    while (used_rx(&id, &len))
        total += len;
    CHECK_EQ_U64(total, 20000 + HDR + 60 + HDR);
    /* An interrupt was raised for what was used. */
    uint64_t v = 0;
    CHECK(read(d.t.irq_fd, &v, sizeof(v)) == sizeof(v) && v > 0);
    teardown();
}

static void test_rx_limits(void)
{
    setup(F_MRG);
    static uint8_t f[MTU + 18];
    uint16_t id;
    uint32_t len;
    /* No buffers: frames queue up to the byte bound, then are dropped. */
    size_t queued = 0;
    unsigned dropped = 0;
    for (int i = 0; i < 200; i++) {
        virtio_net_rx(d.n, f, MTU);
        if (queued + MTU <= VIRTIO_NET_PENDING_BYTES)
            queued += MTU;
        else
            dropped++;
    }
    CHECK_EQ_U64(virtio_net_flush(d.n), queued);
    uint64_t rxd, txd;
    virtio_net_stats(d.n, &rxd, &txd);
    CHECK_EQ_U64(rxd, dropped);
    /* Frames outside Ethernet's bounds are refused outright. */
    virtio_net_rx(d.n, f, 13);
    virtio_net_rx(d.n, f, MTU + 19);
    CHECK_EQ_U64(virtio_net_flush(d.n), queued);
    /* A reset drops the queue. */
    virtio_net_ops.reset(d.n, &d.t);
    CHECK_EQ_U64(virtio_net_flush(d.n), 0);
    /* A first buffer smaller than the header is handed back empty; the frame takes the
     * next one. */
    add_rx(8);
    add_rx(2048);
    virtio_net_rx(d.n, f, 100);
    CHECK(used_rx(&id, &len) && len == 0);
    CHECK(used_rx(&id, &len) && len == HDR + 100);
    /* Frozen: frames wait, the guest's memory is left alone. */
    add_rx(2048);
    virtio_net_freeze(d.n, true);
    virtio_net_rx(d.n, f, 100);
    CHECK(!used_rx(&id, &len));
    virtio_net_freeze(d.n, false);
    CHECK_EQ_U64(virtio_net_flush(d.n), 0);
    CHECK(used_rx(&id, &len) && len == HDR + 100);
    /* A driver that is not up receives nothing (and nothing is kept for it). */
    d.t.s.status = 0;
    virtio_net_rx(d.n, f, 100);
    CHECK_EQ_U64(virtio_net_flush(d.n), 0);
    teardown();

    /* Without mergeable buffers a frame must fit one buffer, else it is dropped. */
    setup(0);
    add_rx(1000);
    virtio_net_rx(d.n, f, 1500);
    CHECK(!used_rx(&id, &len));
    virtio_net_stats(d.n, &rxd, &txd);
    CHECK_EQ_U64(rxd, 1);
    virtio_net_rx(d.n, f, 900);
    CHECK(used_rx(&id, &len) && len == HDR + 900);
    CHECK((rxbuf(id)[10] | rxbuf(id)[11] << 8) == 1);
    teardown();
}

static void test_malformed(void)
{
    setup(F_MRG);
    /* A tx chain that loops: the device fails (NEEDS_RESET) and takes nothing more. */
    struct desc *t = gp(DESC(1), 16 * QSIZE);
    t[0] = (struct desc){0x2000000, 100, 1, 1};
    t[1] = (struct desc){0x2000000, 100, 1, 0};
    avail_add(1, 0);
    ngot = 0;
    CHECK_EQ_U64(virtio_net_tx(d.n, on_frame, NULL, 64), 0);
    CHECK(d.t.s.status & VIRTIO_STATUS_NEEDS_RESET);
    CHECK_EQ_U64(ngot, 0);
    add_rx(2048);
    static uint8_t f[100];
    virtio_net_rx(d.n, f, 100);
    uint16_t id;
    uint32_t len;
    CHECK(!used_rx(&id, &len));
    /* An rx buffer outside guest memory fails it too. */
    teardown();
    setup(F_MRG);
    struct desc *r = gp(DESC(0), 16 * QSIZE);
    r[0] = (struct desc){1ull << 40, 2048, 2, 0};
    avail_add(0, 0);
    virtio_net_rx(d.n, f, 100);
    CHECK(d.t.s.status & VIRTIO_STATUS_NEEDS_RESET);
    teardown();
}

int main(void)
{
    test_config();
    test_tx();
    test_rx_merge();
    test_rx_limits();
    test_malformed();
    return check_summary("virtio_net");
}
