/* The libslirp backend (net_backend.h): one thread per VM runs a poll loop over libslirp's
 * host sockets, the device's kick eventfd and the control socket, and drives libslirp's
 * timers. Why a thread of its own rather than the VM's device loop: libslirp's set of
 * descriptors changes on every turn (slirp_pollfds_fill), which suits poll() and not the
 * device loop's fixed epoll registrations, and the stack's work then never delays the
 * agent's vsock or the disk.
 *
 * Guest frames are judged before libslirp sees them (net_frame.h, net_policy.h): a flow
 * the policy refuses is dropped, a TCP SYN answered with a reset at once. Back-pressure
 * towards the host: while frames wait for the guest's rx buffers beyond a threshold, no
 * host socket is read (their POLLIN is masked), so the host's senders wait in their own
 * socket buffers rather than in our memory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "net/net_internal.h"

/* Stop reading host sockets while this much waits for the guest (half the device's
 * queue: what is read meanwhile from sockets already in flight still fits). */
#define NET_BACKLOG_BYTES (VIRTIO_NET_PENDING_BYTES / 2)

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Messages about what the guest did, at most a few (the guest chooses how many). */
static void note(uint64_t *counter, const char *what, const char *detail)
{
    uint64_t n = ++*counter;
    if (n <= 20 || n % 10000 == 0)
        fprintf(stderr, "supermachine-vmm: network: %s: %s (%llu so far)\n", what, detail,
                (unsigned long long)n);
}

/* $SUPERMACHINE_NET_PCAP names a file to record every frame in (pcap, both ways), as
 * QEMU's filter-dump does: what tcpdump would show on the guest's interface. */
static void pcap_open(struct net_slirp *s)
{
    s->pcap_fd = -1;
    const char *path = getenv("SUPERMACHINE_NET_PCAP");
    if (path == NULL || *path == '\0')
        return;
    s->pcap_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (s->pcap_fd < 0) {
        fprintf(stderr, "supermachine-vmm: network: %s: %s\n", path, strerror(errno));
        return;
    }
    uint32_t h[6] = {0xa1b2c3d4, 2 | (4u << 16), 0, 0, 65535, 1 /* Ethernet */};
    if (write(s->pcap_fd, h, sizeof(h)) != sizeof(h)) {
        close(s->pcap_fd);
        s->pcap_fd = -1;
    }
}

static void pcap_frame(struct net_slirp *s, const void *f, size_t len)
{
    if (s->pcap_fd < 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint32_t caplen = len > 65535 ? 65535 : (uint32_t)len;
    uint32_t rec[4] = {(uint32_t)ts.tv_sec, (uint32_t)(ts.tv_nsec / 1000), caplen, (uint32_t)len};
    struct iovec iov[2] = {{rec, sizeof(rec)}, {(void *)f, caplen}};
    ssize_t w = writev(s->pcap_fd, iov, 2);
    (void)w;
}

/* ---- libslirp's callbacks ------------------------------------------------------------ */

static void udp_peer_note(struct net_slirp *s, const uint8_t *f, size_t len);

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct net_slirp *s = opaque;
    pcap_frame(s, buf, len);
    udp_peer_note(s, buf, len);
    virtio_net_rx(s->dev, buf, len);
    return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    struct net_slirp *s = opaque;
    note(&s->guest_errors, "guest error", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
    (void)opaque;
    return now_ns();
}

static struct net_timer *timer_alloc(struct net_slirp *s)
{
    for (unsigned i = 0; i < NET_MAX_TIMERS; i++) {
        if (!s->timers[i].used) {
            memset(&s->timers[i], 0, sizeof(s->timers[i]));
            s->timers[i].used = true;
            return &s->timers[i];
        }
    }
    /* libslirp 4.7 makes one timer (router advertisements); more is a bug. */
    fprintf(stderr, "supermachine-vmm: network: out of timers\n");
    abort();
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct net_timer *t = timer_alloc(opaque);
    t->cb = cb;
    t->cb_opaque = cb_opaque;
    return t;
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
    struct net_timer *t = timer_alloc(opaque);
    t->id = id;
    t->cb_opaque = cb_opaque;
    return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
    (void)opaque;
    struct net_timer *t = timer;
    t->used = t->armed = false;
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    (void)opaque;
    struct net_timer *t = timer;
    t->expire_ms = expire_ms;
    t->armed = true;
}

static void cb_register_poll_fd(int fd, void *opaque)
{
    (void)fd, (void)opaque; /* the poll set is made anew each turn */
}

static void cb_notify(void *opaque)
{
    (void)opaque; /* libslirp runs on our thread only: the next turn sees the change */
}

static const SlirpCb slirp_callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_register_poll_fd,
    .notify = cb_notify,
    .timer_new_opaque = cb_timer_new_opaque,
};

/* ---- the poll set ----------------------------------------------------------------------- */

unsigned net_poll_add(struct net_slirp *s, int fd, short events)
{
    if (s->npfd == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->pfds = xrealloc(s->pfds, s->cap * sizeof(*s->pfds));
    }
    s->pfds[s->npfd] = (struct pollfd){.fd = fd, .events = events};
    return s->npfd++;
}

static int cb_add_poll(int fd, int events, void *opaque)
{
    struct net_slirp *s = opaque;
    short ev = 0;
    if ((events & SLIRP_POLL_IN) && !s->backlogged)
        ev |= POLLIN;
    if (events & SLIRP_POLL_OUT)
        ev |= POLLOUT;
    if ((events & SLIRP_POLL_PRI) && !s->backlogged)
        ev |= POLLPRI;
    s->nslirp++;
    return (int)net_poll_add(s, fd, ev);
}

static int cb_get_revents(int idx, void *opaque)
{
    struct net_slirp *s = opaque;
    if (idx < 0 || (unsigned)idx >= s->npfd)
        return 0;
    short r = s->pfds[idx].revents;
    int ev = 0;
    if (r & POLLIN)
        ev |= SLIRP_POLL_IN;
    if (r & POLLOUT)
        ev |= SLIRP_POLL_OUT;
    if (r & POLLPRI)
        ev |= SLIRP_POLL_PRI;
    if (r & POLLERR)
        ev |= SLIRP_POLL_ERR;
    if (r & POLLHUP)
        ev |= SLIRP_POLL_HUP;
    return ev;
}

/* ---- guest frames --------------------------------------------------------------------- */

/* Replies of a published UDP service. A datagram from a published UDP port of the guest
 * may go back to a peer that sent one to that port (libslirp sends it through the
 * forward's socket; the policy, which judges new flows, would refuse a client on the
 * host's loopback). Peers are noted as their datagrams go to the guest, in a small lossy
 * table: a peer lost to a collision has its replies judged as new flows. */
static struct net_udp_peer *udp_peer_slot(struct net_slirp *s, const struct net_udp_peer *key)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < sizeof(*key); i++)
        h = (h ^ ((const uint8_t *)key)[i]) * 16777619u;
    return &s->udp_peers[h % NET_UDP_PEERS];
}

static bool udp_published(const struct net_slirp *s, uint16_t port)
{
    return s->udp_published[port / 8] & (1u << (port % 8));
}

static void udp_peer_note(struct net_slirp *s, const uint8_t *f, size_t len)
{
    /* Every frame to the guest passes here: parse none unless a UDP port is published,
     * and only IP frames carrying UDP matter then. */
    if (!s->any_udp_published || len < NET_ETH_HLEN + 20)
        return;
    struct net_frame_info in;
    net_frame_parse(f, len, &in);
    if (in.kind != NET_FRAME_FLOW || in.flow.proto != NET_PROTO_UDP || !in.flow.ports_known ||
        !udp_published(s, in.flow.dst_port))
        return;
    struct net_udp_peer key = {.peer_port = in.flow.src_port, .port = in.flow.dst_port};
    memcpy(key.peer, in.src.a, 16);
    *udp_peer_slot(s, &key) = key;
}

static bool udp_reply(struct net_slirp *s, const struct net_frame_info *in)
{
    if (in->flow.proto != NET_PROTO_UDP || !in->flow.ports_known ||
        !udp_published(s, in->flow.src_port))
        return false;
    struct net_udp_peer key = {.peer_port = in->flow.dst_port, .port = in->flow.src_port};
    memcpy(key.peer, in->flow.dst.a, 16);
    return memcmp(udp_peer_slot(s, &key), &key, sizeof(key)) == 0;
}

/* A guest that drops the handshake's last ACK (its listen queue was full: busybox httpd
 * listens with a backlog of 9) sends its SYN-ACK again. libslirp 4.7 answers that
 * duplicate but stops retransmitting what it sent meanwhile (the client's first bytes),
 * and the guest's server then waits for them for ever. So a duplicate SYN-ACK never
 * reaches libslirp: we answer it with the ACK ourselves (from libslirp's first unacked
 * byte, which the guest expects), and libslirp's retransmission delivers the data.
 * Returns true if f was such a duplicate (answered). A small lossy table: an entry lost to
 * a collision only means libslirp sees that duplicate. */
static bool duplicate_synack(struct net_slirp *s, const uint8_t *f, const struct net_frame_info *in)
{
    if (in->flow.proto != NET_PROTO_TCP || !in->flow.ports_known ||
        (in->tcp_flags & (NET_TCP_SYN | NET_TCP_ACK | NET_TCP_RST | NET_TCP_FIN)) !=
            (NET_TCP_SYN | NET_TCP_ACK))
        return false;
    struct net_synack key = {
        .peer_port = in->flow.dst_port, .port = in->flow.src_port, .isn = in->tcp_seq};
    memcpy(key.peer, in->flow.dst.a, 16);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < sizeof(key) - sizeof(key.isn); i++)
        h = (h ^ ((const uint8_t *)&key)[i]) * 16777619u;
    struct net_synack *e = &s->synacks[h % NET_SYNACKS];
    if (memcmp(e, &key, sizeof(key)) != 0) {
        *e = key; /* the first: libslirp takes it */
        return false;
    }
    size_t n = net_frame_tcp_reply(f, in, NET_TCP_ACK, in->tcp_ack, in->tcp_seq + 1, s->rst,
                                   sizeof(s->rst));
    if (n) {
        pcap_frame(s, s->rst, n);
        virtio_net_rx(s->dev, s->rst, n);
    }
    return true;
}

static void guest_frame(void *opaque, const uint8_t *f, size_t len)
{
    struct net_slirp *s = opaque;
    struct net_frame_info in;
    pcap_frame(s, f, len);
    net_frame_parse(f, len, &in);
    if (in.kind == NET_FRAME_BAD) {
        note(&s->bad_frames, "dropped a frame", "malformed or of a kind not carried");
        return;
    }
    if (in.fragment) {
        /* libslirp 4.7's IPv4 reassembly was crashed by a guest's overlapping fragments
         * (tests/tools/sm-netprobe hostile), and it drops IPv6 fragments anyway. With the
         * 65520-byte MTU a guest fragments only UDP datagrams and pings larger than that:
         * they are lost, which is documented (docs/networking.md). */
        note(&s->bad_frames, "dropped a frame", "an IP fragment (not carried)");
        return;
    }
    if (in.kind == NET_FRAME_OTHER && duplicate_synack(s, f, &in))
        return;
    if (in.kind == NET_FRAME_FLOW && !udp_reply(s, &in)) {
        const char *why = NULL;
        bool ok = net_policy_allows(&s->policy, &in.flow, &why);
        if (ok && s->nslirp >= NET_MAX_SOCKETS) {
            ok = false;
            why = "too many host sockets (a limit of the VM's network)";
        }
        if (!ok) {
            char dst[46];
            net_addr_format(&in.flow.dst, dst, sizeof(dst));
            char what[160];
            snprintf(what, sizeof(what), "%s to %s%s%u: %s",
                     in.flow.proto == NET_PROTO_TCP   ? "TCP"
                     : in.flow.proto == NET_PROTO_UDP ? "UDP"
                                                      : "ICMP",
                     dst, in.flow.dst.family == 6 ? " port " : ":", in.flow.dst_port, why);
            note(&s->refused, "refused", what);
            size_t n = net_frame_tcp_reset(f, &in, s->rst, sizeof(s->rst));
            if (n) {
                pcap_frame(s, s->rst, n);
                virtio_net_rx(s->dev, s->rst, n);
            }
            return;
        }
    }
    slirp_input(s->slirp, f, (int)len);
}

/* libslirp learns the guest's MAC from the guest's ARP packets only, and holds a packet for
 * a guest it has no MAC for while it asks, until its next turn. A guest restored from a
 * snapshot has its neighbour entries already and may never ask: the first connection to
 * a published port then waited for an ARP round trip with the guest and for the thread's
 * next wakeup, up to half a second (libslirp's slow timer). The VMM gave the guest its MAC
 * and address, so it tells this stack itself, with the gratuitous ARP the guest would
 * send. Each new stack (creation, reset) is told. */
static void announce_guest(struct net_slirp *s)
{
    static const uint8_t mac[6] = NET_GUEST_MAC;
    struct in_addr ip;
    inet_pton(AF_INET, NET_GUEST_IP4, &ip);
    uint8_t frame[NET_GARP_LEN];
    net_frame_gratuitous_arp(mac, ip.s_addr, frame);
    slirp_input(s->slirp, frame, (int)sizeof(frame));
}

/* ---- starting over ------------------------------------------------------------------------ */

/* The stack as created: a new libslirp instance (the old one's host sockets closed with
 * it: connections, flows, published ports), the published ports of the configuration
 * bound again on the ports they had, and what we remembered of the guest's flows
 * forgotten. On the thread, between turns. */
static int reset_stack(struct net_slirp *s, sm_error_t *err)
{
    net_forward_cleanup(s);
    slirp_cleanup(s->slirp);
    /* libslirp frees its timers as it ends; a slot it left armed would call into the old
     * instance. */
    memset(s->timers, 0, sizeof(s->timers));
    memset(s->synacks, 0, sizeof(s->synacks));
    memset(s->udp_peers, 0, sizeof(s->udp_peers));
    memset(s->udp_published, 0, sizeof(s->udp_published));
    s->any_udp_published = false;
    s->backlogged = false;
    s->slirp = slirp_new(&s->config, &slirp_callbacks, s);
    if (s->slirp == NULL)
        return sm_error_set(err, 0, "network: libslirp refused its configuration");
    announce_guest(s);
    int r = 0;
    for (unsigned i = 0; i < s->ninitial && r == 0; i++)
        r = net_forward_add(s, &s->initial[i], NULL, err);
    net_forward_write_list(s);
    return r;
}

static void serve_reset(struct net_slirp *s)
{
    pthread_mutex_lock(&s->reset_lock);
    if (s->reset_requested) {
        reset_stack(s, &s->reset_err);
        s->reset_requested = false;
        pthread_cond_broadcast(&s->reset_cond);
    }
    pthread_mutex_unlock(&s->reset_lock);
}

static int slirp_reset(void *nb, sm_error_t *err)
{
    struct net_slirp *s = nb;
    if (!s->running)
        return reset_stack(s, err);
    pthread_mutex_lock(&s->reset_lock);
    s->reset_requested = true;
    uint64_t one = 1;
    ssize_t w = write(s->reset_fd, &one, sizeof(one));
    (void)w;
    while (s->reset_requested)
        pthread_cond_wait(&s->reset_cond, &s->reset_lock);
    int r = s->reset_err ? -1 : 0;
    if (err)
        *err = s->reset_err; /* NULL on success */
    else
        sm_error_release(&s->reset_err);
    s->reset_err = NULL;
    pthread_mutex_unlock(&s->reset_lock);
    return r;
}

/* ---- the loop ------------------------------------------------------------------------------ */

static int64_t run_timers(struct net_slirp *s)
{
    int64_t now = now_ns() / 1000000, next = INT64_MAX;
    for (unsigned i = 0; i < NET_MAX_TIMERS; i++) {
        struct net_timer *t = &s->timers[i];
        if (!t->used || !t->armed)
            continue;
        if (t->expire_ms <= now) {
            t->armed = false;
            if (t->cb)
                t->cb(t->cb_opaque);
            else
                slirp_handle_timer(s->slirp, t->id, t->cb_opaque);
        }
        if (t->used && t->armed && t->expire_ms < next)
            next = t->expire_ms;
    }
    return next == INT64_MAX ? -1 : (next > now ? next - now : 0);
}

static void *net_thread(void *arg)
{
    struct net_slirp *s = arg;
    pthread_setname_np(pthread_self(), "net");
    if (s->on_thread_start)
        s->on_thread_start();
    int kick_fd = virtio_net_kick_fd(s->dev);
    bool more_tx = true;
    for (;;) {
        s->npfd = s->nslirp = 0;
        net_poll_add(s, s->stop_fd, POLLIN);
        net_poll_add(s, kick_fd, POLLIN);
        net_poll_add(s, s->reset_fd, POLLIN);
        net_control_poll_fill(s);
        uint32_t timeout = UINT32_MAX;
        slirp_pollfds_fill(s->slirp, &timeout, cb_add_poll, s);
        int64_t t = run_timers(s);
        int wait = timeout == UINT32_MAX ? -1 : (int)(timeout > 60000 ? 60000 : timeout);
        if (t >= 0 && (wait < 0 || t < wait))
            wait = (int)(t > 60000 ? 60000 : t);
        if (more_tx)
            wait = 0;
        int r = poll(s->pfds, s->npfd, wait);
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "supermachine-vmm: network: poll: %s\n", strerror(errno));
            break;
        }
        if (r > 0 && (s->pfds[0].revents & POLLIN))
            break; /* stop */
        if (r > 0 && (s->pfds[1].revents & POLLIN)) {
            uint64_t v;
            ssize_t rr = read(kick_fd, &v, sizeof(v));
            (void)rr;
        }
        if (r > 0 && (s->pfds[2].revents & POLLIN)) {
            uint64_t v;
            ssize_t rr = read(s->reset_fd, &v, sizeof(v));
            (void)rr;
            serve_reset(s);
            continue; /* the poll set named the old stack's sockets */
        }
        slirp_pollfds_poll(s->slirp, r < 0, cb_get_revents, s);
        /* After any frame of the guest, another turn at once: libslirp sends the packets
         * it held for an address the guest has just resolved (its ARP or neighbour
         * answer) only at the end of a turn, slirp_pollfds_poll. */
        more_tx = virtio_net_tx(s->dev, guest_frame, s, NET_TX_BUDGET) > 0;
        run_timers(s);
        net_control_poll_done(s);
        s->backlogged = virtio_net_flush(s->dev) > NET_BACKLOG_BYTES;
    }
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static void attach(void *opaque, struct virtio_net *dev)
{
    struct net_slirp *s = opaque;
    s->dev = dev;
}

static void slirp_destroy(void *nb);

static int slirp_create(const struct net_backend_config *cfg, void **out, sm_error_t *err)
{
    struct net_slirp *s = xcalloc_pages(sizeof(*s));
    static const uint8_t mac[6] = NET_GUEST_MAC;
    s->stop_fd = s->control_fd = s->pcap_fd = s->reset_fd = -1;
    pthread_mutex_init(&s->reset_lock, NULL);
    pthread_cond_init(&s->reset_cond, NULL);
    for (unsigned i = 0; i < NET_MAX_CLIENTS; i++)
        s->clients[i].fd = -1;
    memcpy(s->backend.mac, mac, 6);
    s->backend.mtu = NET_MTU;
    s->backend.opaque = s;
    s->backend.attach = attach;
    s->policy.allow_host_loopback = cfg->allow_host_loopback;
    s->on_thread_start = cfg->on_thread_start;
    if (net_policy_add_rules(&s->policy, cfg->egress_allow, cfg->egress_deny, err) < 0)
        goto fail;
    sm_raise_fd_limit(NET_MAX_SOCKETS + 1024); /* a descriptor per host socket */
    pcap_open(s);
    s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    s->reset_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->stop_fd < 0 || s->reset_fd < 0) {
        sm_error_set(err, errno, "network: eventfd");
        goto fail;
    }
    SlirpConfig sc = {
        .version = 4,
        .in_enabled = true,
        .in6_enabled = true,
        .vprefix_len = NET_PREFIX6,
        .if_mtu = NET_MTU,
        .if_mru = NET_MTU,
        /* Not libslirp's own refusal of the host's loopback: it also refuses the replies
         * of published UDP ports to clients there. The policy refuses what it should,
         * before libslirp sees the frame (guest_frame). */
        .disable_host_loopback = false,
        .disable_dhcp = true, /* sm-init configures the guest from the command line */
    };
    inet_pton(AF_INET, "10.0.2.0", &sc.vnetwork);
    inet_pton(AF_INET, "255.255.255.0", &sc.vnetmask);
    inet_pton(AF_INET, NET_HOST_IP4, &sc.vhost);
    inet_pton(AF_INET, NET_GUEST_IP4, &sc.vdhcp_start);
    inet_pton(AF_INET, NET_DNS_IP4, &sc.vnameserver);
    inet_pton(AF_INET6, "fd00::", &sc.vprefix_addr6);
    inet_pton(AF_INET6, NET_HOST_IP6, &sc.vhost6);
    inet_pton(AF_INET6, NET_DNS_IP6, &sc.vnameserver6);
    s->config = sc;
    s->slirp = slirp_new(&s->config, &slirp_callbacks, s);
    if (s->slirp == NULL) {
        sm_error_set(err, 0, "network: libslirp refused its configuration");
        goto fail;
    }
    announce_guest(s);
    for (size_t i = 0; cfg->publish && cfg->publish[i]; i++) {
        struct net_publish p;
        if (net_publish_parse(cfg->publish[i], &p, err) < 0 ||
            net_forward_add(s, &p, &s->initial[s->ninitial], err) < 0)
            goto fail;
        s->ninitial++;
    }
    if (net_control_listen(s, err) < 0)
        goto fail;
    net_forward_write_list(s);
    *out = s;
    return 0;
fail:
    slirp_destroy(s);
    return -1;
}

static const struct virtio_net_backend *slirp_device(void *nb)
{
    return &((struct net_slirp *)nb)->backend;
}

static int slirp_start(void *nb, sm_error_t *err)
{
    struct net_slirp *s = nb;
    if (s->dev == NULL)
        return sm_error_set(err, 0, "network: no device attached");
    int r = pthread_create(&s->thread, NULL, net_thread, s);
    if (r != 0)
        return sm_error_set(err, r, "network: start its thread");
    s->running = true;
    return 0;
}

static void slirp_stop(void *nb)
{
    struct net_slirp *s = nb;
    if (!s->running)
        return;
    uint64_t one = 1;
    ssize_t w = write(s->stop_fd, &one, sizeof(one));
    (void)w;
    pthread_join(s->thread, NULL);
    s->running = false;
    uint64_t rx = 0, tx = 0;
    if (s->dev)
        virtio_net_stats(s->dev, &rx, &tx);
    if (rx || tx || s->refused || s->bad_frames)
        fprintf(stderr,
                "supermachine-vmm: network: %llu flows refused, %llu frames malformed, %llu "
                "frames dropped for the guest, %llu from it\n",
                (unsigned long long)s->refused, (unsigned long long)s->bad_frames,
                (unsigned long long)rx, (unsigned long long)tx);
}

static void slirp_destroy(void *nb)
{
    struct net_slirp *s = nb;
    if (s == NULL)
        return;
    slirp_stop(s);
    net_control_close(s);
    net_forward_cleanup(s);
    if (s->slirp)
        slirp_cleanup(s->slirp);
    if (s->stop_fd >= 0)
        close(s->stop_fd);
    if (s->reset_fd >= 0)
        close(s->reset_fd);
    pthread_mutex_destroy(&s->reset_lock);
    pthread_cond_destroy(&s->reset_cond);
    if (s->pcap_fd >= 0)
        close(s->pcap_fd);
    free(s->pfds);
    xfree_pages(s, sizeof(*s));
}

const struct net_backend_ops net_slirp_ops = {
    .create = slirp_create,
    .device = slirp_device,
    .start = slirp_start,
    .reset = slirp_reset,
    .stop = slirp_stop,
    .destroy = slirp_destroy,
};
