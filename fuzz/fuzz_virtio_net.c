/* virtio-net (src/vmm/devices/virtio_net.c) as the network backend drives it: frames the
 * guest sends (header and frame over any chain layout) are taken and judged like the
 * backend does (net_frame_parse, the egress policy, a TCP reset back into the guest), and
 * frames for the guest are spread over its rx buffers (mergeable or not) or queued. */
#include "fuzz_input.h"
#include "net/net_frame.h"
#include "vmm/devices/virtio_devices.h"

#define F_CSUM (1ull << 1)
#define F_MRG  (1ull << 15)

static struct virtio_net *dev;
static struct virtio_mmio t;
static struct vm_memory mem;
static struct net_policy policy;

static void on_frame(void *opaque, const uint8_t *frame, size_t len)
{
    (void)opaque;
    struct net_frame_info info;
    net_frame_parse(frame, len, &info);
    const char *why = NULL;
    if (info.kind != NET_FRAME_FLOW || net_policy_allows(&policy, &info.flow, &why))
        return;
    uint8_t rst[NET_RST_MAX];
    size_t n = net_frame_tcp_reset(frame, &info, rst, sizeof(rst));
    if (n)
        virtio_net_rx(dev, rst, n); /* the refusal goes back to the guest at once */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (dev == NULL) {
        static const uint8_t mac[6] = NET_GUEST_MAC;
        dev = virtio_net_create(mac, NET_MTU);
        fuzz_guest_init(&mem);
        virtio_mmio_init(&t, &virtio_net_ops, dev, &mem, 0, 0, NULL);
        virtio_net_bind(dev, &t);
        static const char *const deny[] = {"10.0.0.0/8", "[fd00::/8]:1-1000/tcp", NULL};
        net_policy_add_rules(&policy, NULL, deny, NULL);
    }
    struct fuzz_input in = {data, size};
    fuzz_guest_init(&mem);
    virtio_net_ops.reset(dev, &t); /* queued frames of the last input go */
    memset(&t.s, 0, sizeof(t.s));
    fuzz_queue_setup(&t, 0, &in);
    fuzz_queue_setup(&t, 1, &in);
    uint8_t mode = fuzz_u8(&in);
    fuzz_driver_ok(&t, (mode & 1 ? F_MRG : 0) | (mode & 2 ? F_CSUM : 0) |
                           (mode & 4 ? VIRTIO_RING_F_EVENT_IDX : 0));
    /* A frame for the guest (from the input, so sizes vary: too short, huge, spanning). */
    uint16_t rx_len = fuzz_u16(&in);
    static uint8_t rx_frame[NET_MTU + 64];
    size_t rl = rx_len < in.len ? rx_len : in.len;
    memcpy(rx_frame, in.p, rl);
    in.p += rl;
    in.len -= rl;
    fuzz_guest_fill(&mem, &in);

    virtio_net_tx(dev, on_frame, NULL, 64);
    for (unsigned i = 0; i < (mode >> 3) + 1u; i++)
        virtio_net_rx(dev, rx_frame, rl);
    virtio_net_flush(dev);
    virtio_net_tx(dev, on_frame, NULL, 64);
    virtio_net_flush(dev);
    uint8_t cfg[16];
    virtio_mmio_access(&t, 0x100 + (mode & 7), cfg, 4, false);
    return 0;
}
