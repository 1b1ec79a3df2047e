/* virtio-vsock (device 19, virtio 1.2 section 5.10) with a "hybrid" host side in the
 * manner of Firecracker: guest AF_VSOCK streams are relayed to Unix stream sockets on the
 * host, all from the VM's device thread (one epoll set of our own, nested in the ioloop),
 * never a thread per connection.
 *
 *   host -> guest: a client connects to the device's Unix socket and writes
 *                  "CONNECT <port>\n"; the guest's answer is "OK <host port>\n" or a
 *                  closed socket.
 *   guest -> host: a connection to CID 2 port P is a connection to "<path>_<P>".
 *
 * Flow control is the protocol's credit scheme, in both directions:
 *   - host -> guest: we read from a host socket only as much as the guest has said it
 *     can buffer (its buf_alloc minus what is in flight) and only into an rx buffer we
 *     already hold, so nothing is buffered on our side and nothing is dropped; a guest
 *     that reads slowly leaves the bytes in the host socket, which back-pressures the
 *     host writer.
 *   - guest -> host: we advertise VSOCK_CONN_BUF bytes per connection. What the host
 *     socket does not take at once waits in a per-connection buffer of that size, so a
 *     guest sending within its credit can never make us drop or grow past it; a guest
 *     sending beyond its credit gets the connection reset.
 * Everything the guest wrote in a packet header is checked before use (see
 * virtio_vsock_check_tx); a malformed descriptor chain makes the device NEEDS_RESET. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/trace.h"
#include "common/util.h"
#include "vmm/devices/virtio_devices.h"
#include "vmm/ioloop.h"

#define VIRTIO_ID_VSOCK 19

enum { VSOCK_QUEUE_RX, VSOCK_QUEUE_TX, VSOCK_QUEUE_EVENT, VSOCK_NQUEUES };

#define VSOCK_TYPE_STREAM           1
#define VSOCK_SHUTDOWN_RCV          1u
#define VSOCK_SHUTDOWN_SEND         2u
#define VSOCK_SHUTDOWN_BOTH         (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)
#define VSOCK_EVENT_TRANSPORT_RESET 0

/* Limits (docs/vsock.md). VSOCK_CONN_BUF is what each connection advertises as its
 * buf_alloc, so the guest->host buffering is at most VSOCK_MAX_CONNS * VSOCK_CONN_BUF. */
#define VSOCK_MAX_CONNS  1024
#define VSOCK_CONN_BUF   (64u * 1024) /* a power of two: the buffer is a ring */
#define VSOCK_MAX_PKT    (64u * 1024) /* payload of one packet to the guest */
#define VSOCK_RST_RING   256
#define VSOCK_HASH       1024
#define VSOCK_LINE_MAX   32 /* "CONNECT 4294967295\r\n" is 20 bytes */
#define VSOCK_PORT_FIRST (1u << 30)

/* How long host clients wait, after a restore, for the guest to handle TRANSPORT_RESET
 * before their REQUESTs go anyway (a driver that never hands the event buffer back). */
#define VSOCK_RESET_WAIT_MS 2000

/* Tell the guest about host-side progress (a CREDIT_UPDATE) once this many bytes went to
 * the host since it last heard: early enough that a guest writing into a fast host
 * rarely runs out of credit, rare enough not to cost an rx buffer per packet. */
#define VSOCK_CREDIT_THRESHOLD (VSOCK_CONN_BUF / 4)

_Static_assert(sizeof(struct virtio_vsock_hdr) == 44, "virtio_vsock_hdr is 44 bytes");
_Static_assert((VSOCK_CONN_BUF & (VSOCK_CONN_BUF - 1)) == 0, "ring size is a power of two");

enum vsock_conn_state {
    CONN_LINE,    /* a host client whose CONNECT line is not complete yet */
    CONN_REQUEST, /* host-initiated: REQUEST queued or sent, the guest has not answered */
    CONN_OPEN,    /* established */
    CONN_DRAIN,   /* the guest reset it; buffered bytes still go to the host, then free */
    CONN_DEAD,    /* the host side is closed; an RST to the guest is pending */
};

/* Packets a connection owes the guest, sent as rx buffers come. */
#define PEND_REQUEST  1u
#define PEND_RESPONSE 2u
#define PEND_SHUTDOWN 4u
#define PEND_CREDIT   8u
#define PEND_RST      16u

struct vsock_conn {
    struct vsock_conn *hnext;         /* hash chain (keyed connections only) */
    struct vsock_conn *prev, *next;   /* the list of connections with rx work */
    struct vsock_conn *aprev, *anext; /* every connection */
    bool hashed, queued;
    enum vsock_conn_state state;
    int fd; /* host socket, -1 once closed */
    uint32_t local_port, peer_port;
    unsigned pend;
    uint32_t guest_shut; /* VSOCK_SHUTDOWN_* the guest announced (they only accumulate) */
    bool readable;       /* the host socket signalled input we have not drained */
    bool host_eof;       /* the host will send no more */
    bool host_wr_shut;   /* we shut down the host socket's write side */
    /* host -> guest */
    uint32_t peer_buf_alloc, peer_fwd_cnt; /* the guest's latest credit figures */
    uint32_t tx_cnt;                       /* bytes sent to the guest */
    /* guest -> host; buf_len == rx_cnt - fwd_cnt while the host socket is open */
    uint32_t rx_cnt;        /* bytes received from the guest */
    uint32_t fwd_cnt;       /* bytes written to the host socket */
    uint32_t last_fwd_sent; /* fwd_cnt as the guest last heard it */
    uint8_t *buf;           /* VSOCK_CONN_BUF ring, allocated only while not empty */
    uint32_t buf_head, buf_len;
};

struct vsock_rst {
    uint64_t src_cid; /* the address the guest tried, so its socket matches the reply */
    uint32_t src_port, dst_port;
};

struct virtio_vsock {
    struct virtio_mmio *t;
    uint64_t guest_cid;
    char *uds_path;
    bool bound; /* we created uds_path: remove it at the end (if it is still ours) */
    dev_t uds_dev;
    ino_t uds_ino;
    int listen_fd, epoll_fd, kick_fd;
    bool frozen;              /* a snapshot is being taken: leave guest memory alone */
    bool reset_event_pending; /* TRANSPORT_RESET owed to the guest (after a restore) */
    /* After a restore the guest resets every connected socket when its driver gets to
     * TRANSPORT_RESET, so a connection it accepted before then would be cut: host
     * clients' REQUESTs are held until the guest hands the event buffer back (its
     * available index passes reset_avail_seen; reset_unhandled is set when the event
     * went out) or until reset_timer_fd fires, for a driver that never does. */
    bool holding_requests, reset_unhandled;
    /* A boot whose init-ready snapshot is still to be taken: host clients' REQUESTs wait
     * until it is (virtio_vsock_hold_requests), so that no snapshot holds a connection. */
    bool held_for_snapshot;
    uint16_t reset_avail_seen;
    int reset_timer_fd;
    unsigned nconns;
    uint32_t next_port;
    struct vsock_conn *all;
    struct vsock_conn *hash[VSOCK_HASH];
    struct vsock_conn *head, *tail; /* connections with rx work, in turn */
    struct vsock_rst rst[VSOCK_RST_RING];
    unsigned rst_head, rst_len;
    struct virtq_chain chain; /* scratch (large: not on the stack) */
    struct iovec iov[VIRTQ_MAX_CHAIN];
};

/* ---- pure helpers (unit-tested) ------------------------------------------------ */

int virtio_vsock_parse_connect(const char *line, size_t len, uint32_t *port)
{
    static const char word[] = "CONNECT ";
    const size_t wlen = sizeof(word) - 1;
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len <= wlen || strncasecmp(line, word, wlen) != 0)
        return -1;
    uint64_t v = 0;
    size_t digits = len - wlen;
    if (digits > 10)
        return -1;
    for (size_t i = wlen; i < len; i++) {
        if (line[i] < '0' || line[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(line[i] - '0');
    }
    if (v > UINT32_MAX)
        return -1;
    *port = (uint32_t)v;
    return 0;
}

int virtio_vsock_port_path(char *out, size_t size, const char *uds_path, uint32_t port)
{
    int n = snprintf(out, size, "%s_%u", uds_path, port);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

enum virtio_vsock_verdict virtio_vsock_check_tx(const struct virtio_vsock_hdr *h,
                                                uint64_t chain_len, uint64_t guest_cid)
{
    if (chain_len < sizeof(*h))
        return VIRTIO_VSOCK_DROP;
    /* A guest speaks only for its own address; anything else is spoofed. */
    if (le64toh(h->src_cid) != guest_cid)
        return VIRTIO_VSOCK_DROP;
    if (le32toh(h->len) > chain_len - sizeof(*h))
        return VIRTIO_VSOCK_DROP;
    uint16_t op = le16toh(h->op);
    if (op == VIRTIO_VSOCK_OP_RST)
        return le16toh(h->type) == VSOCK_TYPE_STREAM ? VIRTIO_VSOCK_OK : VIRTIO_VSOCK_DROP;
    if (le16toh(h->type) != VSOCK_TYPE_STREAM || le64toh(h->dst_cid) != VIRTIO_VSOCK_HOST_CID ||
        op < VIRTIO_VSOCK_OP_REQUEST || op > VIRTIO_VSOCK_OP_CREDIT_REQUEST)
        return VIRTIO_VSOCK_RST;
    return VIRTIO_VSOCK_OK;
}

/* ---- connections ------------------------------------------------------------------ */

static unsigned conn_hash(uint32_t local, uint32_t peer)
{
    return ((local * 2654435761u) ^ (peer * 40503u)) & (VSOCK_HASH - 1);
}

static struct vsock_conn *conn_find(struct virtio_vsock *v, uint32_t local, uint32_t peer)
{
    for (struct vsock_conn *c = v->hash[conn_hash(local, peer)]; c; c = c->hnext)
        if (c->local_port == local && c->peer_port == peer)
            return c;
    return NULL;
}

static void conn_hash_add(struct virtio_vsock *v, struct vsock_conn *c)
{
    unsigned h = conn_hash(c->local_port, c->peer_port);
    c->hnext = v->hash[h];
    v->hash[h] = c;
    c->hashed = true;
}

static void conn_hash_del(struct virtio_vsock *v, struct vsock_conn *c)
{
    if (!c->hashed)
        return;
    for (struct vsock_conn **p = &v->hash[conn_hash(c->local_port, c->peer_port)]; *p;
         p = &(*p)->hnext) {
        if (*p == c) {
            *p = c->hnext;
            break;
        }
    }
    c->hashed = false;
}

static void conn_enqueue(struct virtio_vsock *v, struct vsock_conn *c)
{
    if (c->queued)
        return;
    c->queued = true;
    c->next = NULL;
    c->prev = v->tail;
    if (v->tail)
        v->tail->next = c;
    else
        v->head = c;
    v->tail = c;
}

static void conn_dequeue(struct virtio_vsock *v, struct vsock_conn *c)
{
    if (!c->queued)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        v->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        v->tail = c->prev;
    c->prev = c->next = NULL;
    c->queued = false;
}

static void conn_close_host(struct vsock_conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* also leaves our epoll set: the descriptor is never shared */
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->buf_len = c->buf_head = 0;
}

static void conn_free(struct virtio_vsock *v, struct vsock_conn *c)
{
    conn_dequeue(v, c);
    conn_hash_del(v, c);
    conn_close_host(c);
    if (c->aprev)
        c->aprev->anext = c->anext;
    else
        v->all = c->anext;
    if (c->anext)
        c->anext->aprev = c->aprev;
    free(c);
    v->nconns--;
}

static struct vsock_conn *conn_new(struct virtio_vsock *v, int fd, enum vsock_conn_state state)
{
    struct vsock_conn *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->state = state;
    /* Edge-triggered: an event only sets flags, the work happens as the guest's buffers
     * and credit allow, so a socket we cannot serve yet never makes the loop spin. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(v->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        free(c);
        return NULL;
    }
    c->anext = v->all;
    if (v->all)
        v->all->aprev = c;
    v->all = c;
    v->nconns++;
    return c;
}

static uint32_t conn_credit(const struct vsock_conn *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
    return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* Whether host data could go to the guest now (apart from rx buffers). */
static bool conn_data_ready(const struct vsock_conn *c)
{
    return c->state == CONN_OPEN && c->fd >= 0 && c->readable && !c->host_eof &&
           !(c->guest_shut & VSOCK_SHUTDOWN_RCV) && conn_credit(c) > 0;
}

static bool conn_has_rx_work(const struct vsock_conn *c)
{
    return c->pend != 0 || conn_data_ready(c);
}

/* The host side failed or the guest broke the protocol on this connection: close the
 * host socket and owe the guest an RST. */
static void conn_kill(struct virtio_vsock *v, struct vsock_conn *c)
{
    conn_close_host(c);
    if (c->state == CONN_LINE || c->state == CONN_DRAIN) {
        conn_free(v, c); /* the guest does not know this connection (any more) */
        return;
    }
    c->state = CONN_DEAD;
    c->pend = PEND_RST;
    conn_enqueue(v, c);
}

static void rst_push(struct virtio_vsock *v, uint64_t src_cid, uint32_t src_port, uint32_t dst_port)
{
    /* Full only when the guest floods us with bad packets while giving no rx buffers:
     * process_tx stops taking packets before that, so this is a last resort. */
    if (v->rst_len == VSOCK_RST_RING)
        return;
    v->rst[(v->rst_head + v->rst_len++) % VSOCK_RST_RING] =
        (struct vsock_rst){src_cid, src_port, dst_port};
}

/* Writes the buffered guest bytes to the host socket. -1: the host side is broken. */
static int conn_flush(struct vsock_conn *c)
{
    while (c->buf_len) {
        struct iovec iov[2];
        uint32_t first = VSOCK_CONN_BUF - c->buf_head;
        if (first > c->buf_len)
            first = c->buf_len;
        iov[0] = (struct iovec){c->buf + c->buf_head, first};
        iov[1] = (struct iovec){c->buf, c->buf_len - first};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = iov[1].iov_len ? 2 : 1};
        ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        c->buf_head = (c->buf_head + (uint32_t)w) & (VSOCK_CONN_BUF - 1);
        c->buf_len -= (uint32_t)w;
        c->fwd_cnt += (uint32_t)w;
    }
    free(c->buf);
    c->buf = NULL;
    c->buf_head = 0;
    return 0;
}

/* After bytes went to the host (or the guest announced a shutdown): finish what waited
 * for the buffer to empty, and tell the guest about the room it has again. Returns false
 * if the connection was freed. */
static bool conn_progress(struct virtio_vsock *v, struct vsock_conn *c)
{
    if (c->buf_len == 0) {
        if (c->state == CONN_DRAIN) {
            conn_free(v, c);
            return false;
        }
        if (c->state != CONN_OPEN)
            return true;
        if ((c->guest_shut & VSOCK_SHUTDOWN_SEND) && !c->host_wr_shut) {
            shutdown(c->fd, SHUT_WR); /* the host reads EOF, as the guest meant */
            c->host_wr_shut = true;
        }
        if (c->guest_shut == VSOCK_SHUTDOWN_BOTH) {
            /* A clean close: everything reached the host; the RST ends it (5.10.6.6). */
            conn_close_host(c);
            c->state = CONN_DEAD;
            c->pend = PEND_RST;
            conn_enqueue(v, c);
            return true;
        }
    }
    if (c->state == CONN_OPEN && c->fwd_cnt - c->last_fwd_sent >= VSOCK_CREDIT_THRESHOLD) {
        c->pend |= PEND_CREDIT;
        conn_enqueue(v, c);
    }
    return true;
}

/* ---- host side --------------------------------------------------------------------- */

static uint32_t alloc_port(struct virtio_vsock *v, uint32_t peer_port)
{
    /* Fewer than VSOCK_MAX_CONNS keys exist, so one of this many candidates is free. */
    for (unsigned i = 0; i <= VSOCK_MAX_CONNS; i++) {
        uint32_t p = v->next_port;
        v->next_port = v->next_port == UINT32_MAX ? VSOCK_PORT_FIRST : v->next_port + 1;
        if (!conn_find(v, p, peer_port))
            return p;
    }
    return v->next_port; /* not reached */
}

/* A host client's first line, "CONNECT <port>\n". Read with MSG_PEEK first and then
 * exactly the line, so bytes the client sends after it stay for the guest. */
static void conn_read_line(struct virtio_vsock *v, struct vsock_conn *c)
{
    char line[VSOCK_LINE_MAX];
    ssize_t n = recv(c->fd, line, sizeof(line), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_free(v, c); /* the client left (or failed) before asking */
        return;
    }
    char *nl = memchr(line, '\n', (size_t)n);
    if (nl == NULL) {
        if ((size_t)n == sizeof(line))
            conn_free(v, c); /* not a CONNECT line */
        return;              /* the rest comes with the next edge */
    }
    size_t len = (size_t)(nl - line) + 1;
    uint32_t port;
    if (recv(c->fd, line, len, MSG_DONTWAIT) != (ssize_t)len ||
        virtio_vsock_parse_connect(line, len, &port) < 0) {
        conn_free(v, c);
        return;
    }
    c->peer_port = port;
    c->local_port = alloc_port(v, port);
    conn_hash_add(v, c);
    c->state = CONN_REQUEST;
    c->pend = PEND_REQUEST;
    c->readable = true; /* anything sent after the line: the peek will tell */
    conn_enqueue(v, c);
}

static void accept_clients(struct virtio_vsock *v)
{
    for (;;) {
        int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            /* EAGAIN, or out of descriptors: the listener is edge-triggered, so clients
             * left in the backlog are taken at the next connection. */
            return;
        }
        if (v->nconns >= VSOCK_MAX_CONNS) {
            close(fd); /* the client sees its socket closed, as for a refused port */
            continue;
        }
        struct vsock_conn *c = conn_new(v, fd, CONN_LINE);
        if (c == NULL)
            close(fd);
        else
            conn_read_line(v, c); /* the line may be there already */
    }
}

/* The guest connects to host port `port`: a connection to the Unix socket
 * "<uds_path>_<port>", nothing else. */
static void guest_connect(struct virtio_vsock *v, const struct virtio_vsock_hdr *h)
{
    uint32_t local = le32toh(h->dst_port), peer = le32toh(h->src_port);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = -1;
    if (v->nconns >= VSOCK_MAX_CONNS ||
        virtio_vsock_port_path(sa.sun_path, sizeof(sa.sun_path), v->uds_path, local) < 0)
        goto refuse;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* A Unix stream connect completes at once or fails (EAGAIN: backlog full). */
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        goto refuse;
    struct vsock_conn *c = conn_new(v, fd, CONN_OPEN);
    if (c == NULL)
        goto refuse;
    c->local_port = local;
    c->peer_port = peer;
    c->peer_buf_alloc = le32toh(h->buf_alloc);
    c->peer_fwd_cnt = le32toh(h->fwd_cnt);
    conn_hash_add(v, c);
    c->pend = PEND_RESPONSE;
    conn_enqueue(v, c);
    return;
refuse:
    if (fd >= 0)
        close(fd);
    rst_push(v, le64toh(h->dst_cid), local, peer);
}

static void kick(struct virtio_vsock *v);

/* ---- guest -> host (tx queue) --------------------------------------------------------- */

/* iovecs for [off, off+len) of a chain's buffers (readable or writable ones). */
static unsigned iov_slice(const struct iovec *src, unsigned n, uint64_t off, uint64_t len,
                          struct iovec *dst)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n && len; i++) {
        if (off >= src[i].iov_len) {
            off -= src[i].iov_len;
            continue;
        }
        size_t chunk = src[i].iov_len - off;
        if (chunk > len)
            chunk = len;
        dst[k++] = (struct iovec){(uint8_t *)src[i].iov_base + off, chunk};
        len -= chunk;
        off = 0;
    }
    return k;
}

static void guest_rw(struct virtio_vsock *v, struct vsock_conn *c, const struct virtq_chain *ch,
                     uint32_t len)
{
    if (c->state != CONN_OPEN || (c->guest_shut & VSOCK_SHUTDOWN_SEND)) {
        conn_kill(v, c);
        return;
    }
    if (len == 0)
        return;
    if (len > VSOCK_CONN_BUF - c->buf_len) {
        conn_kill(v, c); /* beyond the credit we gave */
        return;
    }
    uint32_t done = 0;
    if (c->buf_len == 0) {
        /* The common case: straight from guest memory into the host socket. */
        struct msghdr msg = {.msg_iov = v->iov};
        msg.msg_iovlen =
            iov_slice(ch->read, ch->nread, sizeof(struct virtio_vsock_hdr), len, v->iov);
        ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            conn_kill(v, c);
            return;
        }
        done = w > 0 ? (uint32_t)w : 0;
        c->fwd_cnt += done;
        c->rx_cnt += done;
    }
    if (done < len) {
        /* The host is not keeping up: keep the rest (within the credit we gave). */
        if (c->buf == NULL)
            c->buf = xmalloc(VSOCK_CONN_BUF);
        uint64_t off = sizeof(struct virtio_vsock_hdr) + done;
        uint32_t rest = len - done;
        uint32_t tail = (c->buf_head + c->buf_len) & (VSOCK_CONN_BUF - 1);
        uint32_t first = VSOCK_CONN_BUF - tail < rest ? VSOCK_CONN_BUF - tail : rest;
        virtq_chain_read(ch, off, c->buf + tail, first);
        virtq_chain_read(ch, off + first, c->buf, rest - first);
        c->buf_len += rest;
        c->rx_cnt += rest;
    }
    conn_progress(v, c);
}

/* The guest reset a connection: it forgets it at once; bytes it sent before still reach
 * the host. */
static void guest_reset(struct virtio_vsock *v, struct vsock_conn *c)
{
    conn_dequeue(v, c);
    c->pend = 0;
    if (c->state == CONN_OPEN && c->fd >= 0 && c->buf_len > 0) {
        c->state = CONN_DRAIN;
        return;
    }
    conn_free(v, c);
}

static void handle_tx(struct virtio_vsock *v, const struct virtq_chain *ch)
{
    struct virtio_vsock_hdr h;
    if (virtq_chain_read(ch, 0, &h, sizeof(h)) != sizeof(h))
        return;
    enum virtio_vsock_verdict verdict = virtio_vsock_check_tx(&h, ch->read_len, v->guest_cid);
    if (verdict == VIRTIO_VSOCK_DROP)
        return;
    uint16_t op = le16toh(h.op);
    uint32_t local = le32toh(h.dst_port), peer = le32toh(h.src_port);
    if (verdict == VIRTIO_VSOCK_RST) {
        rst_push(v, le64toh(h.dst_cid), local, peer);
        return;
    }
    struct vsock_conn *c = conn_find(v, local, peer);
    if (op == VIRTIO_VSOCK_OP_REQUEST) {
        if (c)
            conn_kill(v, c); /* a second REQUEST for a live key: both are void */
        else
            guest_connect(v, &h);
        return;
    }
    if (c == NULL) {
        if (op != VIRTIO_VSOCK_OP_RST)
            rst_push(v, le64toh(h.dst_cid), local, peer);
        return;
    }
    if (c->state == CONN_DEAD && op == VIRTIO_VSOCK_OP_RST) {
        conn_free(v, c); /* both sides reset it: our RST is no longer owed */
        return;
    }
    if (c->state == CONN_DRAIN || c->state == CONN_DEAD)
        return; /* already going away; an RST to the guest is pending or was seen */
    /* Every packet carries the guest's credit figures. */
    c->peer_buf_alloc = le32toh(h.buf_alloc);
    c->peer_fwd_cnt = le32toh(h.fwd_cnt);
    switch (op) {
    case VIRTIO_VSOCK_OP_RESPONSE: {
        if (c->state != CONN_REQUEST) {
            conn_kill(v, c);
            return;
        }
        char ok[32];
        int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
        if (send(c->fd, ok, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
            conn_kill(v, c);
            return;
        }
        c->state = CONN_OPEN;
        sm_trace("vsock: the guest accepted on port %u", c->peer_port);
        break;
    }
    case VIRTIO_VSOCK_OP_RST:
        guest_reset(v, c);
        return;
    case VIRTIO_VSOCK_OP_SHUTDOWN:
        if (c->state != CONN_OPEN) {
            conn_kill(v, c);
            return;
        }
        c->guest_shut |= le32toh(h.flags) & VSOCK_SHUTDOWN_BOTH;
        if (!conn_progress(v, c))
            return;
        break;
    case VIRTIO_VSOCK_OP_RW:
        if (c->state != CONN_OPEN) {
            conn_kill(v, c);
            return;
        }
        guest_rw(v, c, ch, le32toh(h.len)); /* never frees c: it is not in CONN_DRAIN */
        break;
    case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
        break;
    case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
        c->pend |= PEND_CREDIT;
        break;
    }
    if (conn_has_rx_work(c))
        conn_enqueue(v, c);
}

static bool queue_ready(struct virtio_vsock *v, unsigned q)
{
    return v->t && !v->frozen && virtio_mmio_active(v->t) && v->t->vq[q].s.ready;
}

/* Takes the guest's packets. Returns true if it stopped because the RST ring is full
 * (every packet may need a reply, so the guest's tx waits for its rx: back-pressure). */
static bool process_tx(struct virtio_vsock *v)
{
    if (!queue_ready(v, VSOCK_QUEUE_TX))
        return false;
    struct virtq *vq = &v->t->vq[VSOCK_QUEUE_TX];
    bool pushed = false, blocked = false;
    /* A ring's worth per call (the kick brings us back): see virtio_blk.c's notify. */
    for (unsigned budget = vq->s.size;; budget--) {
        if (v->rst_len == VSOCK_RST_RING) {
            blocked = true;
            break;
        }
        if (budget == 0) {
            kick(v);
            break;
        }
        if (virtio_mmio_pop(v->t, VSOCK_QUEUE_TX, &v->chain) != 1)
            break;
        handle_tx(v, &v->chain);
        virtq_push(vq, v->chain.head, 0);
        pushed = true;
    }
    if (pushed)
        virtio_mmio_used(v->t, VSOCK_QUEUE_TX);
    return blocked;
}

/* ---- host -> guest (rx queue) ---------------------------------------------------------- */

/* A host client whose REQUEST the guest has not been sent yet: what holding_requests
 * holds back. */
static bool request_unsent(const struct vsock_conn *c)
{
    return c->state == CONN_REQUEST && (c->pend & PEND_REQUEST);
}

/* Whether c has a packet to send now. For data this asks the socket (a one-byte peek),
 * so an rx buffer is taken only for a packet that will be sent. */

static bool conn_prepare(struct virtio_vsock *v, struct vsock_conn *c)
{
    if ((v->holding_requests || v->held_for_snapshot) && request_unsent(c))
        return false; /* queued again by reset_handled or virtio_vsock_hold_requests */
    if (c->pend)
        return true;
    if (!conn_data_ready(c))
        return false;
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 1)
        return true;
    if (n == 0) {
        /* The host finished sending. Only SEND: it may still read (half-close). */
        c->host_eof = true;
        c->pend |= PEND_SHUTDOWN;
        return true;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        c->readable = false;
        return false;
    }
    conn_kill(v, c); /* leaves an RST pending (c is OPEN) */
    return true;
}

/* Fills one rx buffer for c. Returns the bytes written (header + payload) and whether c
 * must be freed once the buffer is pushed (it sent its RST). */
static uint32_t conn_fill(struct virtio_vsock *v, struct vsock_conn *c, struct virtq_chain *ch,
                          bool *done)
{
    struct virtio_vsock_hdr h = {
        .src_cid = htole64(VIRTIO_VSOCK_HOST_CID),
        .dst_cid = htole64(v->guest_cid),
        .src_port = htole32(c->local_port),
        .dst_port = htole32(c->peer_port),
        .type = htole16(VSOCK_TYPE_STREAM),
        .buf_alloc = htole32(VSOCK_CONN_BUF),
    };
    uint16_t op = VIRTIO_VSOCK_OP_CREDIT_UPDATE;
    uint32_t payload = 0, flags = 0;
    *done = false;
    if (c->pend & PEND_RST) {
        op = VIRTIO_VSOCK_OP_RST;
        *done = true;
    } else if (c->pend & PEND_REQUEST) {
        op = VIRTIO_VSOCK_OP_REQUEST;
        c->pend &= ~PEND_REQUEST;
        sm_trace("vsock: request to guest port %u", c->peer_port);
    } else if (c->pend & PEND_RESPONSE) {
        op = VIRTIO_VSOCK_OP_RESPONSE;
        c->pend &= ~PEND_RESPONSE;
    } else if (conn_data_ready(c) && ch->write_len > sizeof(h)) {
        /* (A buffer with room for the header only carries a credit update instead.) */
        uint64_t room = ch->write_len - sizeof(h);
        uint32_t max = conn_credit(c);
        if (max > room)
            max = (uint32_t)room;
        if (max > VSOCK_MAX_PKT)
            max = VSOCK_MAX_PKT;
        unsigned n = iov_slice(ch->write, ch->nwrite, sizeof(h), max, v->iov);
        ssize_t r = readv(c->fd, v->iov, (int)n);
        if (r > 0) {
            op = VIRTIO_VSOCK_OP_RW;
            payload = (uint32_t)r;
            c->tx_cnt += payload;
        } else if (r == 0) {
            c->host_eof = true;
            op = VIRTIO_VSOCK_OP_SHUTDOWN;
            flags = VSOCK_SHUTDOWN_SEND;
            c->pend &= ~PEND_SHUTDOWN;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            c->readable = false; /* the buffer still carries a credit update */
        } else {
            conn_kill(v, c);
            op = VIRTIO_VSOCK_OP_RST;
            *done = true;
        }
    } else if (c->pend & PEND_SHUTDOWN) {
        op = VIRTIO_VSOCK_OP_SHUTDOWN;
        flags = VSOCK_SHUTDOWN_SEND;
        c->pend &= ~PEND_SHUTDOWN;
    }
    /* Any packet tells the guest our fwd_cnt: a credit update rides along. */
    c->pend &= ~PEND_CREDIT;
    c->last_fwd_sent = c->fwd_cnt;
    h.fwd_cnt = htole32(c->fwd_cnt);
    h.op = htole16(op);
    h.flags = htole32(flags);
    h.len = htole32(payload);
    virtq_chain_write(ch, 0, &h, sizeof(h));
    return (uint32_t)sizeof(h) + payload;
}

/* Takes the next rx buffer big enough for a header; smaller ones go back unused. */
/* The next rx buffer big enough for a header (smaller ones go back unused); 0 also when
 * this call's budget of buffers is spent (the kick brings us back: a guest can make its
 * ring refill itself, see virtio_blk.c's notify). */
static int rx_pop(struct virtio_vsock *v, bool *pushed, unsigned *budget)
{
    struct virtq *vq = &v->t->vq[VSOCK_QUEUE_RX];
    for (;;) {
        if (*budget == 0) {
            kick(v);
            return 0;
        }
        (*budget)--;
        int r = virtio_mmio_pop(v->t, VSOCK_QUEUE_RX, &v->chain);
        if (r <= 0 || v->chain.write_len >= sizeof(struct virtio_vsock_hdr))
            return r;
        virtq_push(vq, v->chain.head, 0);
        *pushed = true;
    }
}

static void process_rx(struct virtio_vsock *v)
{
    if (!queue_ready(v, VSOCK_QUEUE_RX))
        return;
    struct virtq *vq = &v->t->vq[VSOCK_QUEUE_RX];
    bool pushed = false;
    unsigned budget = vq->s.size;
    for (;;) {
        if (v->rst_len) {
            if (rx_pop(v, &pushed, &budget) <= 0)
                break;
            struct vsock_rst *r = &v->rst[v->rst_head];
            struct virtio_vsock_hdr h = {
                .src_cid = htole64(r->src_cid),
                .dst_cid = htole64(v->guest_cid),
                .src_port = htole32(r->src_port),
                .dst_port = htole32(r->dst_port),
                .type = htole16(VSOCK_TYPE_STREAM),
                .op = htole16(VIRTIO_VSOCK_OP_RST),
            };
            virtq_chain_write(&v->chain, 0, &h, sizeof(h));
            virtq_push(vq, v->chain.head, sizeof(h));
            pushed = true;
            v->rst_head = (v->rst_head + 1) % VSOCK_RST_RING;
            v->rst_len--;
            continue;
        }
        struct vsock_conn *c = v->head;
        if (c == NULL)
            break;
        if (!conn_prepare(v, c)) {
            conn_dequeue(v, c); /* an event or a credit update queues it again */
            continue;
        }
        if (rx_pop(v, &pushed, &budget) <= 0)
            break; /* no buffers: the guest's next rx notification resumes here */
        bool done;
        uint32_t n = conn_fill(v, c, &v->chain, &done);
        virtq_push(vq, v->chain.head, n);
        pushed = true;
        if (done) {
            conn_free(v, c);
            continue;
        }
        /* Round robin: a busy connection goes behind the others. */
        conn_dequeue(v, c);
        if (conn_has_rx_work(c))
            conn_enqueue(v, c);
    }
    if (pushed)
        virtio_mmio_used(v->t, VSOCK_QUEUE_RX);
}

/* REQUESTs held back go to the guest, unless something still holds them (a restore's
 * TRANSPORT_RESET not handled yet, a boot's init-ready snapshot not taken yet). */
static void requests_go(struct virtio_vsock *v)
{
    if (v->holding_requests || v->held_for_snapshot)
        return;
    for (struct vsock_conn *c = v->all; c; c = c->anext)
        if (request_unsent(c))
            conn_enqueue(v, c);
}

/* The guest handled TRANSPORT_RESET (or we stopped waiting): held REQUESTs go. No
 * system call here: a driver reset calls it from a vCPU thread. */
static void reset_handled(struct virtio_vsock *v)
{
    v->holding_requests = v->reset_unhandled = false;
    requests_go(v);
}

static void process_event(struct virtio_vsock *v)
{
    if (v->reset_unhandled && queue_ready(v, VSOCK_QUEUE_EVENT) &&
        virtq_avail_idx(&v->t->vq[VSOCK_QUEUE_EVENT]) != v->reset_avail_seen) {
        reset_handled(v); /* Linux gives the buffer back after handling the event */
        sm_trace("vsock: the guest handled the transport reset");
    }
    if (!v->reset_event_pending || !queue_ready(v, VSOCK_QUEUE_EVENT))
        return;
    struct virtq *vq = &v->t->vq[VSOCK_QUEUE_EVENT];
    for (unsigned budget = vq->s.size;; budget--) {
        if (budget == 0) {
            kick(v); /* a ring's worth per call, as for tx */
            return;
        }
        if (virtio_mmio_pop(v->t, VSOCK_QUEUE_EVENT, &v->chain) != 1)
            return; /* empty: sent when the guest gives an event buffer; or failed */
        uint32_t id = htole32(VSOCK_EVENT_TRANSPORT_RESET);
        bool fits = v->chain.write_len >= sizeof(id);
        if (fits)
            virtq_chain_write(&v->chain, 0, &id, sizeof(id));
        virtq_push(vq, v->chain.head, fits ? sizeof(id) : 0);
        virtio_mmio_used(v->t, VSOCK_QUEUE_EVENT);
        if (fits) {
            v->reset_event_pending = false;
            v->reset_unhandled = true;
            v->reset_avail_seen = virtq_watch_avail(vq);
            sm_trace("vsock: transport reset sent");
            return;
        }
    }
}

/* All queue work; runs with the transport lock held. */
static void vsock_run(struct virtio_vsock *v)
{
    if (v->t == NULL || v->frozen || !virtio_mmio_active(v->t))
        return;
    process_event(v);
    /* tx may stop for want of room for replies; rx then makes room. The bound only
     * keeps one call from monopolising the device thread. */
    for (unsigned i = 0; i < 64; i++) {
        bool blocked = process_tx(v);
        process_rx(v);
        if (!blocked || v->rst_len == VSOCK_RST_RING)
            break;
    }
}

/* ---- device callbacks -------------------------------------------------------------------- */

static void conn_event(struct virtio_vsock *v, struct vsock_conn *c, uint32_t events)
{
    if (c->fd < 0)
        return;
    if (c->state == CONN_LINE) {
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            conn_read_line(v, c);
        return;
    }
    if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && c->buf_len) {
        if (conn_flush(c) < 0) {
            conn_kill(v, c);
            return;
        }
        if (!conn_progress(v, c))
            return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        c->readable = true;
        if (conn_has_rx_work(c))
            conn_enqueue(v, c);
    }
}

void virtio_vsock_handle_io(void *opaque, uint32_t events)
{
    struct virtio_vsock *v = opaque;
    (void)events;
    /* Lock before looking at the events: a driver reset on a vCPU frees connections. */
    pthread_mutex_lock(&v->t->lock);
    struct epoll_event evs[64];
    int n = epoll_wait(v->epoll_fd, evs, SM_ARRAY_SIZE(evs), 0);
    /* Connections are freed only by their own event here, and each descriptor appears
     * once per epoll_wait, so no later entry refers to a freed one. */
    for (int i = 0; i < n; i++) {
        void *p = evs[i].data.ptr;
        if (p == &v->kick_fd) {
            uint64_t x;
            ssize_t r = read(v->kick_fd, &x, sizeof(x));
            (void)r;
        } else if (p == &v->listen_fd) {
            accept_clients(v);
        } else if (p == &v->reset_timer_fd) {
            /* Fired once: the wait is over, if the guest had not ended it already. */
            epoll_ctl(v->epoll_fd, EPOLL_CTL_DEL, v->reset_timer_fd, NULL);
            close(v->reset_timer_fd);
            v->reset_timer_fd = -1;
            if (v->holding_requests)
                reset_handled(v);
        } else {
            conn_event(v, p, evs[i].events);
        }
    }
    vsock_run(v);
    pthread_mutex_unlock(&v->t->lock);
}

static void kick(struct virtio_vsock *v)
{
    uint64_t one = 1;
    ssize_t w = write(v->kick_fd, &one, sizeof(one));
    (void)w;
}

static void vsock_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
    struct virtio_vsock *v = dev;
    uint64_t cid = htole64(v->guest_cid);
    memset(data, 0, len);
    if (off < sizeof(cid))
        memcpy(data, (uint8_t *)&cid + off, len < sizeof(cid) - off ? len : sizeof(cid) - off);
}

static void vsock_notify(void *dev, struct virtio_mmio *t, unsigned q)
{
    (void)t;
    (void)q; /* every queue's work depends on the others' (replies need rx buffers) */
    vsock_run(dev);
}

/* Frees every connection the guest knows of (and with keep_clients false, also host
 * clients still writing their CONNECT line). */
static void drop_all(struct virtio_vsock *v, bool keep_clients)
{
    struct vsock_conn *next;
    for (struct vsock_conn *c = v->all; c; c = next) {
        next = c->anext;
        if (!keep_clients || (c->state != CONN_LINE && !request_unsent(c)))
            conn_free(v, c);
    }
    v->rst_len = v->rst_head = 0;
}

static void vsock_activate(void *dev, struct virtio_mmio *t)
{
    (void)t;
    kick(dev); /* host clients may be waiting: serve them from the device thread */
}

static void vsock_reset(void *dev, struct virtio_mmio *t)
{
    (void)t;
    struct virtio_vsock *v = dev;
    /* The driver starts over: every connection is gone (host clients see EOF). Clients
     * still sending their CONNECT line, or whose REQUEST was not sent, are not
     * connections yet: they stay. */
    drop_all(v, true);
    v->reset_event_pending = false;
    if (v->holding_requests)
        reset_handled(v); /* a new driver has no sockets to reset */
}

const struct virtio_ops virtio_vsock_ops = {
    .name = "vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .nqueues = VSOCK_NQUEUES,
    .queue_max = 256,
    .config_len = sizeof(uint64_t),
    .config_read = vsock_config_read,
    .notify = vsock_notify,
    .activate = vsock_activate,
    .reset = vsock_reset,
};

/* ---- lifecycle ------------------------------------------------------------------------ */

static int check_cid(uint64_t cid, sm_error_t *err)
{
    /* 0-2 are the hypervisor, local and host; 0xffffffff is VMADDR_CID_ANY. */
    if (cid < 3 || cid >= UINT32_MAX)
        return sm_error_set(err, 0, "vsock: guest CID %llu: must be between 3 and %u",
                            (unsigned long long)cid, UINT32_MAX - 1);
    return 0;
}

/* A socket file at path from an earlier, dead VMM is removed; a live one is an error. */
static int remove_stale(const char *path, const struct sockaddr_un *sa, sm_error_t *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return sm_error_set(err, errno, "vsock %s", path);
    if (!S_ISSOCK(st.st_mode))
        return sm_error_set(err, EEXIST, "vsock %s: exists and is not a socket", path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return sm_error_set(err, errno, "vsock: socket");
    int r = connect(s, (const struct sockaddr *)sa, sizeof(*sa));
    int e = errno;
    close(s);
    if (r == 0)
        return sm_error_set(err, EADDRINUSE, "vsock %s", path);
    if (e != ECONNREFUSED)
        return sm_error_set(err, e, "vsock %s", path);
    if (unlink(path) < 0)
        return sm_error_set(err, errno, "vsock: remove stale %s", path);
    return 0;
}

int virtio_vsock_create(struct virtio_vsock **out, const char *uds_path, uint64_t guest_cid,
                        sm_error_t *err)
{
    *out = NULL;
    if (guest_cid == 0)
        guest_cid = VIRTIO_VSOCK_DEFAULT_CID;
    if (check_cid(guest_cid, err) < 0)
        return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    /* "<path>_<port>" must fit too: room for '_' and 10 digits. */
    if (uds_path == NULL || *uds_path == '\0' || strlen(uds_path) + 11 >= sizeof(sa.sun_path))
        return sm_error_set(err, 0, "vsock %s: the path must be 1 to %zu bytes long",
                            uds_path ? uds_path : "", sizeof(sa.sun_path) - 12);
    memcpy(sa.sun_path, uds_path, strlen(uds_path) + 1);

    struct virtio_vsock *v = xcalloc_pages(sizeof(*v));
    v->guest_cid = guest_cid;
    v->uds_path = xstrdup(uds_path);
    v->listen_fd = v->epoll_fd = v->kick_fd = v->reset_timer_fd = -1;
    v->next_port = VSOCK_PORT_FIRST;
    /* Hundreds of connections need as many descriptors; the default soft limit (often
     * 1024) would cut that short. */
    sm_raise_fd_limit(VSOCK_MAX_CONNS + 256);
    v->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    v->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (v->epoll_fd < 0 || v->kick_fd < 0 || v->listen_fd < 0) {
        sm_error_set(err, errno, "vsock: create descriptors");
        goto fail;
    }
    int r = bind(v->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
    if (r < 0 && errno == EADDRINUSE) {
        if (remove_stale(uds_path, &sa, err) < 0)
            goto fail;
        r = bind(v->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
    }
    if (r < 0) {
        sm_error_set(err, errno, "vsock: bind %s", uds_path);
        goto fail;
    }
    v->bound = true;
    struct stat st;
    if (stat(uds_path, &st) == 0) {
        v->uds_dev = st.st_dev;
        v->uds_ino = st.st_ino;
    }
    if (listen(v->listen_fd, 128) < 0) {
        sm_error_set(err, errno, "vsock: listen on %s", uds_path);
        goto fail;
    }
    struct epoll_event lev = {.events = EPOLLIN | EPOLLET, .data.ptr = &v->listen_fd};
    struct epoll_event kev = {.events = EPOLLIN, .data.ptr = &v->kick_fd};
    if (epoll_ctl(v->epoll_fd, EPOLL_CTL_ADD, v->listen_fd, &lev) < 0 ||
        epoll_ctl(v->epoll_fd, EPOLL_CTL_ADD, v->kick_fd, &kev) < 0) {
        sm_error_set(err, errno, "vsock: epoll_ctl");
        goto fail;
    }
    *out = v;
    return 0;
fail:
    virtio_vsock_destroy(v);
    return -1;
}

int virtio_vsock_attach(struct virtio_vsock *v, struct virtio_mmio *t, struct ioloop *io,
                        sm_error_t *err)
{
    v->t = t;
    if (ioloop_add(io, v->epoll_fd, EPOLLIN, virtio_vsock_handle_io, v, err) < 0)
        return sm_error_wrap(err, "vsock");
    return 0;
}

void virtio_vsock_destroy(struct virtio_vsock *v)
{
    if (v == NULL)
        return;
    drop_all(v, false);
    if (v->listen_fd >= 0)
        close(v->listen_fd);
    /* Remove the socket file only if it is still the one we bound (a later VMM may have
     * taken the path over). */
    struct stat st;
    if (v->bound && stat(v->uds_path, &st) == 0 && st.st_dev == v->uds_dev &&
        st.st_ino == v->uds_ino)
        unlink(v->uds_path);
    if (v->epoll_fd >= 0)
        close(v->epoll_fd);
    if (v->kick_fd >= 0)
        close(v->kick_fd);
    if (v->reset_timer_fd >= 0)
        close(v->reset_timer_fd);
    free(v->uds_path);
    xfree_pages(v, sizeof(*v));
}

uint64_t virtio_vsock_guest_cid(const struct virtio_vsock *v)
{
    return v->guest_cid;
}

void virtio_vsock_freeze(struct virtio_vsock *v, bool frozen)
{
    pthread_mutex_lock(&v->t->lock);
    v->frozen = frozen;
    pthread_mutex_unlock(&v->t->lock);
    if (!frozen)
        kick(v); /* work that arrived meanwhile */
}

void virtio_vsock_hold_requests(struct virtio_vsock *v, bool hold)
{
    pthread_mutex_lock(&v->t->lock);
    v->held_for_snapshot = hold;
    requests_go(v);
    pthread_mutex_unlock(&v->t->lock);
    if (!hold)
        kick(v); /* the device thread sends what was held */
}

void virtio_vsock_save(const struct virtio_vsock *v, struct virtio_vsock_state *s)
{
    memset(s, 0, sizeof(*s));
    s->guest_cid = v->guest_cid;
    s->next_port = v->next_port;
}

int virtio_vsock_restore(struct virtio_vsock *v, const struct virtio_vsock_state *s,
                         sm_error_t *err)
{
    if (check_cid(s->guest_cid, err) < 0)
        return sm_error_wrap(err, "snapshot");
    /* At a reset of a running VM, its connections end here: their guest ends went back
     * with its memory (host clients see EOF). A new device has none. */
    drop_all(v, false);
    v->guest_cid = s->guest_cid;
    v->next_port = s->next_port >= VSOCK_PORT_FIRST ? s->next_port : VSOCK_PORT_FIRST;
    /* No connection survives a snapshot (their host ends belong to another process);
     * the guest learns it from TRANSPORT_RESET as soon as the device thread runs. */
    v->reset_event_pending = true;
    v->holding_requests = true;
    if (v->reset_timer_fd >= 0)
        close(v->reset_timer_fd);
    /* The bound on holding host clients back (holding_requests), armed now: the device
     * thread may not make timers. */
    v->reset_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    struct itimerspec when = {.it_value = {.tv_sec = VSOCK_RESET_WAIT_MS / 1000,
                                           .tv_nsec = VSOCK_RESET_WAIT_MS % 1000 * 1000000L}};
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = &v->reset_timer_fd};
    if (v->reset_timer_fd < 0 || timerfd_settime(v->reset_timer_fd, 0, &when, NULL) < 0 ||
        epoll_ctl(v->epoll_fd, EPOLL_CTL_ADD, v->reset_timer_fd, &tev) < 0) {
        /* Without the bound nothing may be held (the snapshot is fine: no error). */
        if (v->reset_timer_fd >= 0)
            close(v->reset_timer_fd);
        v->reset_timer_fd = -1;
        v->holding_requests = false;
    }
    kick(v);
    return 0;
}
