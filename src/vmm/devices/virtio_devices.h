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

/* virtio-vsock with a Firecracker-style host side on Unix sockets (docs/vsock.md):
 * host clients connect to uds_path and ask "CONNECT <port>\n"; the guest's connections
 * to host port P go to "<uds_path>_<P>". Driven by the VM's device thread. */
#define VIRTIO_VSOCK_DEFAULT_CID 3
#define VIRTIO_VSOCK_HOST_CID    2

enum virtio_vsock_op {
    VIRTIO_VSOCK_OP_REQUEST = 1,
    VIRTIO_VSOCK_OP_RESPONSE = 2,
    VIRTIO_VSOCK_OP_RST = 3,
    VIRTIO_VSOCK_OP_SHUTDOWN = 4,
    VIRTIO_VSOCK_OP_RW = 5,
    VIRTIO_VSOCK_OP_CREDIT_UPDATE = 6,
    VIRTIO_VSOCK_OP_CREDIT_REQUEST = 7,
};

/* The packet header (little-endian on the wire, 44 bytes). */
struct virtio_vsock_hdr {
    uint64_t src_cid;
    uint64_t dst_cid;
    uint32_t src_port;
    uint32_t dst_port;
    uint32_t len;
    uint16_t type;
    uint16_t op;
    uint32_t flags;
    uint32_t buf_alloc;
    uint32_t fwd_cnt;
} __attribute__((packed));

/* What a snapshot keeps of the device besides its transport: connections never survive. */
struct virtio_vsock_state {
    uint64_t guest_cid;
    /* The next host port to hand out. Kept so that ports used before the snapshot are
     * not reused after a restore while the guest may still hold their reset sockets
     * (a REQUEST to such a socket is answered with RST). 0: the first port. */
    uint32_t next_port;
    uint32_t reserved;
};

struct virtio_vsock;
struct ioloop;
extern const struct virtio_ops virtio_vsock_ops;
/* Binds and listens on uds_path (a stale socket file of a dead VMM is replaced); guest_cid
 * 0 means VIRTIO_VSOCK_DEFAULT_CID. */
int virtio_vsock_create(struct virtio_vsock **out, const char *uds_path, uint64_t guest_cid,
                        sm_error_t *err);
/* Connects the device to its transport (registered with vm_add_virtio) and the VM's
 * device loop. */
int virtio_vsock_attach(struct virtio_vsock *v, struct virtio_mmio *t, struct ioloop *io,
                        sm_error_t *err);
/* Closes every connection and removes the socket file. After the device loop stopped. */
void virtio_vsock_destroy(struct virtio_vsock *v);
/* The ioloop callback for the device's own epoll set (host sockets, kicks). */
void virtio_vsock_handle_io(void *opaque, uint32_t events);
uint64_t virtio_vsock_guest_cid(const struct virtio_vsock *v);
/* While frozen (a snapshot is being written) the device leaves guest memory and its
 * queues alone; host sockets only set flags. */
void virtio_vsock_freeze(struct virtio_vsock *v, bool frozen);
/* Holds host clients' REQUESTs back from the guest (they wait, connected to our socket)
 * until called again with false: while a boot's init-ready snapshot is still to be taken,
 * so that no snapshot has a host connection in it for every clone to reset. */
void virtio_vsock_hold_requests(struct virtio_vsock *v, bool hold);
void virtio_vsock_save(const struct virtio_vsock *v, struct virtio_vsock_state *s);
/* Ends every connection, takes the snapshot's CID and owes the guest a TRANSPORT_RESET
 * event, sent once the device loop runs. With the device thread and vCPUs parked. */
int virtio_vsock_restore(struct virtio_vsock *v, const struct virtio_vsock_state *s,
                         sm_error_t *err);

/* Pieces of the device exposed for unit tests. */
enum virtio_vsock_verdict { VIRTIO_VSOCK_OK, VIRTIO_VSOCK_DROP, VIRTIO_VSOCK_RST };
/* Judges a packet from the guest's tx queue (chain_len: readable bytes of its chain). */
enum virtio_vsock_verdict virtio_vsock_check_tx(const struct virtio_vsock_hdr *h,
                                                uint64_t chain_len, uint64_t guest_cid);
/* "CONNECT <port>\n" (or "\r\n"), port a decimal u32. 0 or -1. */
int virtio_vsock_parse_connect(const char *line, size_t len, uint32_t *port);
/* "<uds_path>_<port>" into out; -1 if it does not fit. */
int virtio_vsock_port_path(char *out, size_t size, const char *uds_path, uint32_t port);

/* virtio-net: Ethernet frames between the guest and a backend (the user-mode network of
 * src/net/) whose own thread drives the device through the calls below; the device holds
 * no thread of its own. Frames for a guest without free rx buffers wait in a bounded
 * queue (VIRTIO_NET_PENDING_*), beyond which they are dropped (TCP sends them again). */
#define VIRTIO_NET_PENDING_FRAMES 1024
#define VIRTIO_NET_PENDING_BYTES  (4u << 20)

struct virtio_net;
/* What the VM needs from a network backend (vm_config.net). */
struct virtio_net_backend {
    uint8_t mac[6];
    uint16_t mtu;
    void *opaque;
    /* The device exists and is registered (vm_add_devices): the backend keeps it and
     * drives it from its thread once started. */
    void (*attach)(void *opaque, struct virtio_net *dev);
};

/* The device's snapshot state besides its transport: what the guest driver was told. */
struct virtio_net_state {
    uint8_t mac[6];
    uint16_t mtu;
    uint32_t reserved;
};

extern const struct virtio_ops virtio_net_ops;
struct virtio_net *virtio_net_create(const uint8_t mac[6], uint16_t mtu);
/* Connects the device to its transport (registered with vm_add_virtio). */
void virtio_net_bind(struct virtio_net *n, struct virtio_mmio *t);
void virtio_net_destroy(struct virtio_net *n);
/* The eventfd the guest's queue notifications arrive on: the backend's loop polls it and
 * reads it, then calls virtio_net_tx and virtio_net_flush. */
int virtio_net_kick_fd(const struct virtio_net *n);
/* Takes up to `budget` frames the guest sent, calling fn for each (outside the device's
 * lock: fn may call virtio_net_rx). The frame is valid during the call only. Returns how
 * many were taken: `budget` means more may be waiting. */
typedef void (*virtio_net_frame_fn)(void *opaque, const uint8_t *frame, size_t len);
unsigned virtio_net_tx(struct virtio_net *n, virtio_net_frame_fn fn, void *opaque, unsigned budget);
/* A frame for the guest: into its rx buffers now, or queued until it gives some. */
void virtio_net_rx(struct virtio_net *n, const uint8_t *frame, size_t len);
/* Moves queued frames into buffers the guest gave since, and interrupts the guest for
 * everything used since the last flush. Returns the bytes still queued. */
size_t virtio_net_flush(struct virtio_net *n);
/* Frozen (while a snapshot is written) the device leaves guest memory alone: frames for
 * the guest are queued, its own wait. */
void virtio_net_freeze(struct virtio_net *n, bool frozen);
void virtio_net_save(const struct virtio_net *n, struct virtio_net_state *s);
/* Checks the snapshot's MAC and MTU and drops the frames waiting for the guest (at a
 * reset they were for the guest as it was). */
int virtio_net_restore(struct virtio_net *n, const struct virtio_net_state *s, sm_error_t *err);
/* Counters (frames dropped on the way in and out), for the backend's log. */
void virtio_net_stats(struct virtio_net *n, uint64_t *rx_dropped, uint64_t *tx_dropped);

#endif
