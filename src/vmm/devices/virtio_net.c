/* virtio-net (device 1, virtio 1.2 section 5.1): one rx and one tx queue, no control
 * queue, no offloads but GUEST_CSUM (frames from the backend carry valid checksums, so the
 * guest is told not to verify them again). A large MTU (VIRTIO_NET_F_MTU) instead of
 * segmentation offloads keeps the number of frames low; mergeable rx buffers let the
 * guest post small buffers that a large frame spans.
 *
 * The backend's thread calls in (virtio_net_tx, _rx, _flush); every access to the queues
 * and guest memory happens under the transport's lock, which a driver reset on a vCPU also
 * takes. Everything read from the guest is checked: a frame shorter than an Ethernet
 * header or longer than the MTU allows is dropped, a malformed chain fails the device
 * (virtio_mmio_pop), and the guest can never make the device hold more than
 * VIRTIO_NET_PENDING_BYTES of frames. */
#include <endian.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "vmm/devices/virtio_devices.h"

#define VIRTIO_ID_NET               1
#define VIRTIO_NET_F_GUEST_CSUM     (1ull << 1)
#define VIRTIO_NET_F_MTU            (1ull << 3)
#define VIRTIO_NET_F_MAC            (1ull << 5)
#define VIRTIO_NET_F_MRG_RXBUF      (1ull << 15)
#define VIRTIO_NET_F_STATUS         (1ull << 16)
#define VIRTIO_NET_S_LINK_UP        1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define ETH_HLEN                    14
#define ETH_VLAN_HLEN               4
#define RX_MAX_BUFS                 256 /* one frame spans at most the whole ring */

enum { NET_RXQ, NET_TXQ, NET_NQUEUES };

/* virtio_net_hdr_v1: 12 bytes with VERSION_1, whatever else was negotiated. */
struct net_hdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
} __attribute__((packed));
_Static_assert(sizeof(struct net_hdr) == 12, "virtio_net_hdr_v1 is 12 bytes");

struct net_config {
    uint8_t mac[6];
    uint16_t status;
    uint16_t max_virtqueue_pairs;
    uint16_t mtu;
} __attribute__((packed));

struct pending_frame {
    uint8_t *data;
    uint32_t len;
};

struct virtio_net {
    struct virtio_mmio *t;
    uint8_t mac[6];
    uint16_t mtu;
    uint32_t max_frame;
    bool frozen;
    bool rx_used, tx_used; /* pushed since the last interrupt decision */
    struct pending_frame pend[VIRTIO_NET_PENDING_FRAMES];
    unsigned pend_head, pend_len;
    size_t pend_bytes;
    uint64_t rx_dropped, tx_dropped;
    uint8_t *txbuf; /* max_frame bytes */
    uint16_t heads[RX_MAX_BUFS];
    uint32_t lens[RX_MAX_BUFS];
    /* Scratch chains (large: not on the stack): the first rx buffer of a frame (its
     * header gets num_buffers last) and the current one. */
    struct virtq_chain first, chain;
};

static bool queue_ready(struct virtio_net *n, unsigned q)
{
    return n->t && !n->frozen && virtio_mmio_active(n->t) && n->t->vq[q].s.ready;
}

/* Writes bytes [start, start+len) of the stream "header, then frame" at the start of c. */
static void fill(const struct virtq_chain *c, const struct net_hdr *h, const uint8_t *frame,
                 size_t start, size_t len)
{
    size_t pos = start, end = start + len, off = 0;
    if (pos < sizeof(*h)) {
        size_t k = (end < sizeof(*h) ? end : sizeof(*h)) - pos;
        virtq_chain_write(c, 0, (const uint8_t *)h + pos, k);
        off = k;
        pos += k;
    }
    if (pos < end)
        virtq_chain_write(c, off, frame + (pos - sizeof(*h)), end - pos);
}

enum deliver_result { DELIVERED, NO_ROOM, DROPPED };

/* One frame into the guest's rx buffers (lock held): as many buffers as it takes with
 * MRG_RXBUF, else one that holds it all. Without enough buffers nothing is used. */
static enum deliver_result deliver(struct virtio_net *n, const uint8_t *frame, size_t len)
{
    struct virtio_mmio *t = n->t;
    struct virtq *vq = &t->vq[NET_RXQ];
    bool mrg = t->s.driver_features & VIRTIO_NET_F_MRG_RXBUF;
    struct net_hdr h = {0};
    if (t->s.driver_features & VIRTIO_NET_F_GUEST_CSUM)
        h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
    h.num_buffers = htole16(1);
    size_t total = sizeof(h) + len, done = 0;
    unsigned nb = 0;
    unsigned steps = 0;
    for (int tries = 0; done < total;) {
        if (++steps > 2 * RX_MAX_BUFS) {
            /* A guest feeding useless buffers as fast as we take them: enough for now. */
            virtq_unpop(vq, (uint16_t)nb);
            return NO_ROOM;
        }
        if (nb == RX_MAX_BUFS) {
            virtq_unpop(vq, (uint16_t)nb);
            return DROPPED; /* buffers so small that the ring cannot hold the frame */
        }
        struct virtq_chain *c = nb == 0 ? &n->first : &n->chain;
        int r = virtio_mmio_pop(t, NET_RXQ, c);
        if (r < 0)
            return DROPPED; /* the device failed */
        if (r == 0) {
            bool more = virtq_unpop(vq, (uint16_t)nb);
            if (more && tries++ < 4) { /* buffers arrived as we gave up: go again */
                nb = 0;
                done = 0;
                continue;
            }
            return NO_ROOM;
        }
        uint64_t room = c->write_len;
        if (nb == 0 && room < sizeof(h)) {
            /* A first buffer that cannot even take the header is never usable: handed
             * back empty (the driver counts a length error) so it does not block the
             * ring. The ring's size bounds how many there can be. */
            virtq_push(vq, c->head, 0);
            n->rx_used = true;
            continue;
        }
        if (room == 0 || (!mrg && room < total)) {
            /* Without mergeable buffers the frame must fit in one; an empty one cannot
             * carry a part of it. Nothing is used: the frame is dropped. */
            virtq_unpop(vq, (uint16_t)(nb + 1));
            return DROPPED;
        }
        size_t k = room < total - done ? (size_t)room : total - done;
        fill(c, &h, frame, done, k);
        n->heads[nb] = c->head;
        n->lens[nb] = (uint32_t)k;
        nb++;
        done += k;
    }
    if (nb > 1) {
        uint16_t nbuf = htole16((uint16_t)nb);
        virtq_chain_write(&n->first, offsetof(struct net_hdr, num_buffers), &nbuf, sizeof(nbuf));
    }
    for (unsigned i = 0; i < nb; i++)
        virtq_push(vq, n->heads[i], n->lens[i]);
    n->rx_used = true;
    return DELIVERED;
}

static void pend_drop_head(struct virtio_net *n)
{
    struct pending_frame *p = &n->pend[n->pend_head];
    n->pend_bytes -= p->len;
    free(p->data);
    p->data = NULL;
    n->pend_head = (n->pend_head + 1) % VIRTIO_NET_PENDING_FRAMES;
    n->pend_len--;
}

static void pend_clear(struct virtio_net *n)
{
    while (n->pend_len)
        pend_drop_head(n);
}

/* Queued frames go first, in order (lock held). */
static void deliver_pending(struct virtio_net *n)
{
    while (n->pend_len && queue_ready(n, NET_RXQ)) {
        struct pending_frame *p = &n->pend[n->pend_head];
        enum deliver_result r = deliver(n, p->data, p->len);
        if (r == NO_ROOM)
            return;
        if (r == DROPPED)
            n->rx_dropped++;
        pend_drop_head(n);
    }
}

void virtio_net_rx(struct virtio_net *n, const uint8_t *frame, size_t len)
{
    if (len < ETH_HLEN || len > n->max_frame)
        return;
    pthread_mutex_lock(&n->t->lock);
    /* Nobody to receive it before the driver is up (or after it failed). */
    bool listening = virtio_mmio_active(n->t) && n->t->vq[NET_RXQ].s.ready;
    if (!listening) {
        pthread_mutex_unlock(&n->t->lock);
        return;
    }
    deliver_pending(n);
    enum deliver_result r = NO_ROOM;
    if (n->pend_len == 0 && !n->frozen)
        r = deliver(n, frame, len);
    if (r == NO_ROOM) {
        if (n->pend_len == VIRTIO_NET_PENDING_FRAMES ||
            n->pend_bytes + len > VIRTIO_NET_PENDING_BYTES) {
            n->rx_dropped++;
        } else {
            struct pending_frame *p =
                &n->pend[(n->pend_head + n->pend_len) % VIRTIO_NET_PENDING_FRAMES];
            p->data = xmalloc(len);
            memcpy(p->data, frame, len);
            p->len = (uint32_t)len;
            n->pend_len++;
            n->pend_bytes += len;
        }
    } else if (r == DROPPED) {
        n->rx_dropped++;
    }
    pthread_mutex_unlock(&n->t->lock);
}

size_t virtio_net_flush(struct virtio_net *n)
{
    pthread_mutex_lock(&n->t->lock);
    deliver_pending(n);
    if (!n->frozen && virtio_mmio_active(n->t)) {
        if (n->rx_used)
            virtio_mmio_used(n->t, NET_RXQ);
        if (n->tx_used)
            virtio_mmio_used(n->t, NET_TXQ);
        n->rx_used = n->tx_used = false;
    }
    size_t left = n->pend_bytes;
    pthread_mutex_unlock(&n->t->lock);
    return left;
}

unsigned virtio_net_tx(struct virtio_net *n, virtio_net_frame_fn fn, void *opaque, unsigned budget)
{
    struct virtio_mmio *t = n->t;
    unsigned done = 0;
    while (done < budget) {
        pthread_mutex_lock(&t->lock);
        if (!queue_ready(n, NET_TXQ) || virtio_mmio_pop(t, NET_TXQ, &n->chain) != 1) {
            pthread_mutex_unlock(&t->lock);
            break;
        }
        /* The header (12 bytes, any layout) then the frame. Nothing we did not offer
         * (checksum or segmentation offload) is honoured: such a frame reaches the
         * network as it is and fails its checksum there. */
        uint64_t rl = n->chain.read_len;
        size_t len = 0;
        bool ok =
            rl >= sizeof(struct net_hdr) + ETH_HLEN && rl - sizeof(struct net_hdr) <= n->max_frame;
        if (ok) {
            len = (size_t)(rl - sizeof(struct net_hdr));
            virtq_chain_read(&n->chain, sizeof(struct net_hdr), n->txbuf, len);
        } else {
            n->tx_dropped++;
        }
        virtq_push(&t->vq[NET_TXQ], n->chain.head, 0);
        n->tx_used = true;
        pthread_mutex_unlock(&t->lock);
        if (ok)
            fn(opaque, n->txbuf, len);
        done++;
    }
    return done;
}

static void net_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
    struct virtio_net *n = dev;
    struct net_config c = {
        .status = htole16(VIRTIO_NET_S_LINK_UP),
        .max_virtqueue_pairs = htole16(1),
        .mtu = htole16(n->mtu),
    };
    memcpy(c.mac, n->mac, 6);
    memset(data, 0, len);
    if (off < sizeof(c))
        memcpy(data, (uint8_t *)&c + off, len < sizeof(c) - off ? len : sizeof(c) - off);
}

static void net_notify(void *dev, struct virtio_mmio *t, unsigned q)
{
    (void)dev, (void)t, (void)q; /* own_notify: the backend's loop reads the kick */
}

static void net_reset(void *dev, struct virtio_mmio *t)
{
    (void)t;
    struct virtio_net *n = dev;
    /* Runs under the transport lock: the driver starts over, queued frames are stale. */
    pend_clear(n);
    n->rx_used = n->tx_used = false;
}

static void net_activate(void *dev, struct virtio_mmio *t)
{
    (void)dev;
    uint64_t one = 1;
    ssize_t w = write(t->notify_fd, &one, sizeof(one)); /* let the backend look */
    (void)w;
}

const struct virtio_ops virtio_net_ops = {
    .name = "net",
    .device_id = VIRTIO_ID_NET,
    .features = VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_MTU | VIRTIO_NET_F_MAC |
                VIRTIO_NET_F_MRG_RXBUF | VIRTIO_NET_F_STATUS,
    .nqueues = NET_NQUEUES,
    .queue_max = 256,
    .config_len = sizeof(struct net_config),
    .own_notify = true,
    .config_read = net_config_read,
    .notify = net_notify,
    .activate = net_activate,
    .reset = net_reset,
};

struct virtio_net *virtio_net_create(const uint8_t mac[6], uint16_t mtu)
{
    struct virtio_net *n = xcalloc_pages(sizeof(*n));
    memcpy(n->mac, mac, 6);
    n->mtu = mtu < 68 ? 1500 : mtu;
    n->max_frame = ETH_HLEN + ETH_VLAN_HLEN + n->mtu;
    n->txbuf = xmalloc(n->max_frame);
    return n;
}

void virtio_net_bind(struct virtio_net *n, struct virtio_mmio *t)
{
    n->t = t;
}

void virtio_net_destroy(struct virtio_net *n)
{
    if (n == NULL)
        return;
    pend_clear(n);
    free(n->txbuf);
    xfree_pages(n, sizeof(*n));
}

int virtio_net_kick_fd(const struct virtio_net *n)
{
    return n->t ? n->t->notify_fd : -1;
}

void virtio_net_freeze(struct virtio_net *n, bool frozen)
{
    pthread_mutex_lock(&n->t->lock);
    n->frozen = frozen;
    pthread_mutex_unlock(&n->t->lock);
    if (!frozen) {
        uint64_t one = 1; /* frames queued meanwhile, and the guest's own */
        ssize_t w = write(n->t->notify_fd, &one, sizeof(one));
        (void)w;
    }
}

void virtio_net_save(const struct virtio_net *n, struct virtio_net_state *s)
{
    memset(s, 0, sizeof(*s));
    memcpy(s->mac, n->mac, 6);
    s->mtu = n->mtu;
}

int virtio_net_restore(struct virtio_net *n, const struct virtio_net_state *s, sm_error_t *err)
{
    /* The guest's driver keeps the MAC and MTU it read at probe: the device must match. */
    if (memcmp(s->mac, n->mac, 6) != 0 || s->mtu != n->mtu)
        return sm_error_set(err, 0, "snapshot: its network device had another MAC or MTU");
    pthread_mutex_lock(&n->t->lock);
    while (n->pend_len)
        pend_drop_head(n);
    n->rx_used = n->tx_used = false;
    pthread_mutex_unlock(&n->t->lock);
    return 0;
}

void virtio_net_stats(struct virtio_net *n, uint64_t *rx_dropped, uint64_t *tx_dropped)
{
    pthread_mutex_lock(&n->t->lock);
    *rx_dropped = n->rx_dropped;
    *tx_dropped = n->tx_dropped;
    pthread_mutex_unlock(&n->t->lock);
}
