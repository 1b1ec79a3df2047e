/* virtio-vsock without KVM: the header checks and the CONNECT line on their own, then the
 * device itself driven through real split virtqueues in a guest memory mapping by a tiny
 * driver here, against real Unix sockets on the host side. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "vmm/devices/virtio_devices.h"
#include "vmm/ioloop.h"
#include "vmm/memory.h"

#define QSIZE     64
#define RXBUF     (4096 + 44)
#define DESC(q)   (0x100000ull + (q)*0x10000ull)
#define AVAIL(q)  (DESC(q) + 0x4000)
#define USED(q)   (DESC(q) + 0x8000)
#define RXDATA(i) (0x400000ull + (i)*0x2000ull)
#define TXDATA(i) (0x800000ull + (i)*0x20000ull)
#define EVDATA(i) (0x1000000ull + (i)*0x100ull)
#define GUEST_CID 3

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct drv {
    struct vm_memory mem;
    struct virtio_mmio t;
    struct ioloop io;
    struct virtio_vsock *v;
    uint16_t avail[3], used_seen[3];
    char path[108];
};

static struct drv d;

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

static void add_rx(unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint16_t slot = d.avail[0] % QSIZE;
        struct desc *t = gp(DESC(0), 16 * QSIZE);
        t[slot] = (struct desc){RXDATA(slot), RXBUF, 2 /* WRITE */, 0};
        avail_add(0, slot);
    }
}

static void add_event(void)
{
    uint16_t slot = d.avail[2] % QSIZE;
    struct desc *t = gp(DESC(2), 16 * QSIZE);
    t[slot] = (struct desc){EVDATA(slot), 4, 2, 0};
    avail_add(2, slot);
}

static void notify(void)
{
    virtio_mmio_notified(&d.t, 0);
}

/* Host sockets' events; a short wait lets the kernel deliver what was just written. */
static void host_io(void)
{
    struct pollfd p = {.fd = d.t.notify_fd, .events = 0};
    poll(&p, 1, 20);
    virtio_vsock_handle_io(d.v, 0);
}

static struct virtio_vsock_hdr hdr(uint16_t op, uint32_t src_port, uint32_t dst_port)
{
    return (struct virtio_vsock_hdr){.src_cid = GUEST_CID,
                                     .dst_cid = VIRTIO_VSOCK_HOST_CID,
                                     .src_port = src_port,
                                     .dst_port = dst_port,
                                     .type = 1,
                                     .op = op,
                                     .buf_alloc = 1000,
                                     .fwd_cnt = 0};
}

/* Puts one packet (header and payload in one descriptor) on the tx queue. */
static void tx_raw(const struct virtio_vsock_hdr *h, const void *payload, uint32_t len,
                   uint32_t desc_len)
{
    uint16_t slot = d.avail[1] % QSIZE;
    uint8_t *p = gp(TXDATA(slot), 0x20000);
    memcpy(p, h, sizeof(*h));
    if (len)
        memcpy(p + sizeof(*h), payload, len);
    struct desc *t = gp(DESC(1), 16 * QSIZE);
    t[slot] = (struct desc){TXDATA(slot), desc_len, 0, 0};
    avail_add(1, slot);
    notify();
}

static void tx(struct virtio_vsock_hdr h, const void *payload, uint32_t len)
{
    h.len = len;
    tx_raw(&h, payload, len, (uint32_t)sizeof(h) + len);
}

/* The next packet the device gave the guest, or false. */
static bool rx(struct virtio_vsock_hdr *h, uint8_t *payload, uint32_t *len)
{
    uint16_t *idx = gp(USED(0) + 2, 2);
    if (__atomic_load_n(idx, __ATOMIC_ACQUIRE) == d.used_seen[0])
        return false;
    uint32_t *e = gp(USED(0) + 4 + 8ull * (d.used_seen[0] % QSIZE), 8);
    d.used_seen[0]++;
    uint32_t id = e[0], n = e[1];
    CHECK(n >= sizeof(*h) && n <= RXBUF);
    memcpy(h, gp(RXDATA(id), sizeof(*h)), sizeof(*h));
    CHECK_EQ_U64(h->len, n - sizeof(*h));
    if (payload)
        memcpy(payload, gp(RXDATA(id) + sizeof(*h), n - sizeof(*h)), n - sizeof(*h));
    if (len)
        *len = n - (uint32_t)sizeof(*h);
    add_rx(1); /* the guest driver refills as it consumes: QSIZE buffers outstanding */
    return true;
}

static int listen_at(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 512) < 0)
        return -1;
    return fd;
}

static int client(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d.path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static ssize_t recv_wait(int fd, void *buf, size_t len)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 2000) <= 0)
        return -2;
    return recv(fd, buf, len, MSG_DONTWAIT);
}

static void test_helpers(void)
{
    uint32_t port = 0;
    CHECK(virtio_vsock_parse_connect("CONNECT 1234\n", 13, &port) == 0 && port == 1234);
    CHECK(virtio_vsock_parse_connect("connect 0\r\n", 11, &port) == 0 && port == 0);
    CHECK(virtio_vsock_parse_connect("CONNECT 4294967295\n", 19, &port) == 0 &&
          port == 4294967295u);
    CHECK(virtio_vsock_parse_connect("CONNECT 4294967296\n", 19, &port) < 0);
    CHECK(virtio_vsock_parse_connect("CONNECT 00000000001\n", 20, &port) < 0);
    CHECK(virtio_vsock_parse_connect("CONNECT \n", 9, &port) < 0);
    CHECK(virtio_vsock_parse_connect("CONNECT -1\n", 11, &port) < 0);
    CHECK(virtio_vsock_parse_connect("CONNECT 12 \n", 12, &port) < 0);
    CHECK(virtio_vsock_parse_connect("CONNECT 1/2\n", 12, &port) < 0);
    CHECK(virtio_vsock_parse_connect("CONNECTX 1\n", 11, &port) < 0);
    CHECK(virtio_vsock_parse_connect("OK 1\n", 5, &port) < 0);
    CHECK(virtio_vsock_parse_connect("", 0, &port) < 0);

    char buf[32];
    CHECK(virtio_vsock_port_path(buf, sizeof(buf), "/tmp/v.sock", 1025) == 0);
    CHECK_STR(buf, "/tmp/v.sock_1025");
    CHECK(virtio_vsock_port_path(buf, 16, "/tmp/v.sock", 1025) < 0);

    struct virtio_vsock_hdr h = hdr(VIRTIO_VSOCK_OP_RW, 1, 2);
    h.len = 10;
    CHECK(virtio_vsock_check_tx(&h, 54, 3) == VIRTIO_VSOCK_OK);
    CHECK(virtio_vsock_check_tx(&h, 53, 3) == VIRTIO_VSOCK_DROP); /* len beyond the chain */
    CHECK(virtio_vsock_check_tx(&h, 43, 3) == VIRTIO_VSOCK_DROP); /* no whole header */
    CHECK(virtio_vsock_check_tx(&h, 54, 4) == VIRTIO_VSOCK_DROP); /* spoofed source */
    h.len = 0xffffffff;
    CHECK(virtio_vsock_check_tx(&h, 100, 3) == VIRTIO_VSOCK_DROP);
    h.len = 0;
    h.type = 2; /* SEQPACKET: not offered */
    CHECK(virtio_vsock_check_tx(&h, 44, 3) == VIRTIO_VSOCK_RST);
    h.op = VIRTIO_VSOCK_OP_RST;
    CHECK(virtio_vsock_check_tx(&h, 44, 3) == VIRTIO_VSOCK_DROP); /* never answer an RST */
    h = hdr(0, 1, 2);
    CHECK(virtio_vsock_check_tx(&h, 44, 3) == VIRTIO_VSOCK_RST);
    h.op = 8;
    CHECK(virtio_vsock_check_tx(&h, 44, 3) == VIRTIO_VSOCK_RST);
    h = hdr(VIRTIO_VSOCK_OP_REQUEST, 1, 2);
    h.dst_cid = 7; /* another VM: not reachable */
    CHECK(virtio_vsock_check_tx(&h, 44, 3) == VIRTIO_VSOCK_RST);
}

static void setup(void)
{
    sm_error_t err = NULL;
    snprintf(d.path, sizeof(d.path), "/tmp/sm-vsock-test-%d.sock", (int)getpid());
    CHECK(vm_memory_init(&d.mem, 64ull << 20, &err) == 0);
    CHECK(ioloop_init(&d.io, &err) == 0);
    CHECK(virtio_vsock_create(&d.v, d.path, 0, &err) == 0);
    CHECK(virtio_vsock_guest_cid(d.v) == 3);
    CHECK(virtio_mmio_init(&d.t, &virtio_vsock_ops, d.v, &d.mem, 0, 0, &err) == 0);
    d.t.irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    d.t.notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    CHECK(virtio_vsock_attach(d.v, &d.t, &d.io, &err) == 0);
    for (unsigned q = 0; q < 3; q++) {
        d.t.vq[q].s = (struct virtq_state){.size = QSIZE,
                                           .ready = true,
                                           .desc_gpa = DESC(q),
                                           .avail_gpa = AVAIL(q),
                                           .used_gpa = USED(q)};
        CHECK(virtq_validate(&d.t.vq[q], &err) == 0);
    }
    d.t.s.driver_features = VIRTIO_F_VERSION_1;
    d.t.s.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                   VIRTIO_STATUS_DRIVER_OK;
    if (err)
        fprintf(stderr, "setup: %s\n", sm_error_message(err));

    uint8_t cfg[8];
    virtio_vsock_ops.config_read(d.v, 0, cfg, 8);
    CHECK(cfg[0] == 3 && cfg[1] == 0 && cfg[7] == 0);
    virtio_vsock_ops.config_read(d.v, 4, cfg, 4);
    CHECK(cfg[0] == 0);
}

static void test_guest_to_host(void)
{
    char p1025[128];
    snprintf(p1025, sizeof(p1025), "%s_1025", d.path);
    int lfd = listen_at(p1025);
    CHECK(lfd >= 0);
    add_rx(QSIZE);
    tx(hdr(VIRTIO_VSOCK_OP_REQUEST, 5000, 1025), NULL, 0);
    struct virtio_vsock_hdr h;
    CHECK(rx(&h, NULL, NULL));
    CHECK_EQ_U64(h.op, VIRTIO_VSOCK_OP_RESPONSE);
    CHECK_EQ_U64(h.src_cid, 2);
    CHECK_EQ_U64(h.dst_cid, 3);
    CHECK_EQ_U64(h.src_port, 1025);
    CHECK_EQ_U64(h.dst_port, 5000);
    CHECK_EQ_U64(h.buf_alloc, 64 * 1024);
    int hfd = accept(lfd, NULL, NULL);
    CHECK(hfd >= 0);

    /* Guest -> host bytes. */
    tx(hdr(VIRTIO_VSOCK_OP_RW, 5000, 1025), "hello", 5);
    char buf[8192];
    CHECK(recv_wait(hfd, buf, sizeof(buf)) == 5 && memcmp(buf, "hello", 5) == 0);

    /* Host -> guest within the guest's credit (1000 bytes) only, then more as it grants. */
    uint8_t data[3000], got[3000], pl[RXBUF];
    for (unsigned i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + 1);
    CHECK(send(hfd, data, sizeof(data), 0) == (ssize_t)sizeof(data));
    uint32_t total = 0, len;
    for (unsigned round = 0; round < 3; round++) {
        host_io();
        uint32_t this_round = 0;
        while (rx(&h, pl, &len)) {
            CHECK_EQ_U64(h.op, VIRTIO_VSOCK_OP_RW);
            CHECK(total + len <= sizeof(got));
            memcpy(got + total, pl, len);
            total += len;
            this_round += len;
        }
        CHECK_EQ_U64(this_round, 1000);
        struct virtio_vsock_hdr cu = hdr(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 5000, 1025);
        cu.fwd_cnt = total;
        tx(cu, NULL, 0); /* the next 1000 bytes go out at once */
    }
    CHECK(!rx(&h, NULL, NULL));
    CHECK(total == sizeof(data) && memcmp(got, data, sizeof(data)) == 0);

    /* A credit request is answered with our counters (5 bytes forwarded). */
    struct virtio_vsock_hdr cr = hdr(VIRTIO_VSOCK_OP_CREDIT_REQUEST, 5000, 1025);
    cr.fwd_cnt = total;
    tx(cr, NULL, 0);
    CHECK(rx(&h, NULL, NULL));
    CHECK_EQ_U64(h.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
    CHECK_EQ_U64(h.fwd_cnt, 5);

    /* Host half-close: the guest hears SHUTDOWN(SEND) and can still write. */
    shutdown(hfd, SHUT_WR);
    host_io();
    CHECK(rx(&h, NULL, NULL));
    CHECK_EQ_U64(h.op, VIRTIO_VSOCK_OP_SHUTDOWN);
    CHECK_EQ_U64(h.flags, 2);
    struct virtio_vsock_hdr w = hdr(VIRTIO_VSOCK_OP_RW, 5000, 1025);
    w.fwd_cnt = total;
    tx(w, "after", 5);
    CHECK(recv_wait(hfd, buf, sizeof(buf)) == 5 && memcmp(buf, "after", 5) == 0);

    /* Guest closes: the host reads EOF, the guest gets its RST. */
    struct virtio_vsock_hdr sd = hdr(VIRTIO_VSOCK_OP_SHUTDOWN, 5000, 1025);
    sd.flags = 3;
    tx(sd, NULL, 0);
    CHECK(recv_wait(hfd, buf, sizeof(buf)) == 0);
    CHECK(rx(&h, NULL, NULL));
    CHECK_EQ_U64(h.op, VIRTIO_VSOCK_OP_RST);
    CHECK_EQ_U64(h.dst_port, 5000);
    close(hfd);

    /* Nobody listens on 1026: RST. */
    tx(hdr(VIRTIO_VSOCK_OP_REQUEST, 5001, 1026), NULL, 0);
    CHECK(rx(&h, NULL, NULL));
    CHECK_EQ_U64(h.op, VIRTIO_VSOCK_OP_RST);
    CHECK_EQ_U64(h.src_port, 1026);
    CHECK_EQ_U64(h.dst_port, 5001);

    /* The host does not read; the guest sends its whole credit and more: what the host
     * socket does not take is buffered, and beyond the credit the connection is reset. */
    tx(hdr(VIRTIO_VSOCK_OP_REQUEST, 5002, 1025), NULL, 0);
    CHECK(rx(&h, NULL, NULL));
    CHECK_EQ_U64(h.op, VIRTIO_VSOCK_OP_RESPONSE);
    hfd = accept(lfd, NULL, NULL);
    static uint8_t big[0x10000];
    memset(big, 'x', sizeof(big));
    uint32_t sent = 0;
    bool reset = false;
    for (unsigned i = 0; i < 200 && !reset; i++) {
        tx(hdr(VIRTIO_VSOCK_OP_RW, 5002, 1025), big, 0x8000);
        sent += 0x8000;
        while (rx(&h, NULL, NULL))
            if (h.op == VIRTIO_VSOCK_OP_RST)
                reset = true;
    }
    CHECK(reset); /* the host socket's buffer plus 64 KiB of ours, then the reset */
    /* The bytes in the host socket are all there, in order. */
    size_t drained = 0;
    ssize_t r;
    while ((r = recv_wait(hfd, buf, sizeof(buf))) > 0)
        drained += (size_t)r;
    CHECK(drained > 0 && drained < sent);
    close(hfd);

    /* Host slow to read, within credit: nothing is lost. The guest respects the credit
     * the device advertises (64 KiB minus what is buffered). */
    tx(hdr(VIRTIO_VSOCK_OP_REQUEST, 5003, 1025), NULL, 0);
    CHECK(rx(&h, NULL, NULL));
    CHECK_EQ_U64(h.op, VIRTIO_VSOCK_OP_RESPONSE);
    hfd = accept(lfd, NULL, NULL);
    uint32_t guest_sent = 0, peer_fwd = 0;
    size_t host_got = 0;
    uint64_t sum_sent = 0, sum_got = 0;
    static uint8_t chunk[0x4000];
    for (unsigned round = 0; round < 400; round++) {
        uint32_t credit = 64 * 1024 - (guest_sent - peer_fwd);
        if (credit >= sizeof(chunk)) {
            for (unsigned i = 0; i < sizeof(chunk); i++) {
                chunk[i] = (uint8_t)(guest_sent + i);
                sum_sent += chunk[i];
            }
            tx(hdr(VIRTIO_VSOCK_OP_RW, 5003, 1025), chunk, sizeof(chunk));
            guest_sent += sizeof(chunk);
        }
        while (rx(&h, NULL, NULL)) {
            CHECK(h.op == VIRTIO_VSOCK_OP_CREDIT_UPDATE || h.op == VIRTIO_VSOCK_OP_RW);
            peer_fwd = h.fwd_cnt;
        }
        if (round % 4 == 3) { /* the host reads now and then, less than is sent */
            static char hbuf[0xc000];
            r = recv(hfd, hbuf, sizeof(hbuf), MSG_DONTWAIT);
            for (ssize_t i = 0; i < r; i++)
                sum_got += (uint8_t)hbuf[i];
            host_got += r > 0 ? (size_t)r : 0;
            host_io();
        }
    }
    struct virtio_vsock_hdr fin = hdr(VIRTIO_VSOCK_OP_SHUTDOWN, 5003, 1025);
    fin.flags = 3;
    tx(fin, NULL, 0);
    for (;;) {
        r = recv_wait(hfd, buf, sizeof(buf));
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            sum_got += (uint8_t)buf[i];
        host_got += (size_t)r;
        host_io();
    }
    CHECK(r == 0); /* EOF after everything */
    CHECK_EQ_U64(host_got, guest_sent);
    CHECK_EQ_U64(sum_got, sum_sent);
    CHECK(guest_sent > 1024 * 1024);
    bool rst = false;
    while (rx(&h, NULL, NULL))
        rst |= h.op == VIRTIO_VSOCK_OP_RST && h.dst_port == 5003;
    CHECK(rst);
    close(hfd);
    close(lfd);
    unlink(p1025);
}

static void test_host_to_guest(void)
{
    struct virtio_vsock_hdr h;
    int c = client();
    CHECK(c >= 0);
    CHECK(send(c, "CONNECT 1234\nearly", 18, 0) == 18);
    host_io();
    CHECK(rx(&h, NULL, NULL));
    CHECK_EQ_U64(h.op, VIRTIO_VSOCK_OP_REQUEST);
    CHECK_EQ_U64(h.dst_port, 1234);
    CHECK(h.src_port >= (1u << 30));
    uint32_t local = h.src_port;
    struct virtio_vsock_hdr resp = hdr(VIRTIO_VSOCK_OP_RESPONSE, 1234, local);
    resp.buf_alloc = 65536;
    tx(resp, NULL, 0);
    char buf[64];
    ssize_t n = recv_wait(c, buf, sizeof(buf) - 1);
    CHECK(n > 0);
    buf[n > 0 ? n : 0] = '\0';
    char want[32];
    snprintf(want, sizeof(want), "OK %u\n", local);
    CHECK_STR(buf, want);
    /* What the client sent right after its line reaches the guest. */
    uint8_t pl[RXBUF];
    uint32_t len = 0;
    CHECK(rx(&h, pl, &len));
    CHECK_EQ_U64(h.op, VIRTIO_VSOCK_OP_RW);
    CHECK(len == 5 && memcmp(pl, "early", 5) == 0);
    struct virtio_vsock_hdr w = hdr(VIRTIO_VSOCK_OP_RW, 1234, local);
    w.buf_alloc = 65536;
    tx(w, "pong", 4);
    CHECK(recv_wait(c, buf, sizeof(buf)) == 4 && memcmp(buf, "pong", 4) == 0);
    /* The client goes away: SHUTDOWN to the guest, and its next write is reset. */
    close(c);
    host_io();
    CHECK(rx(&h, NULL, NULL));
    CHECK_EQ_U64(h.op, VIRTIO_VSOCK_OP_SHUTDOWN);
    tx(w, "late", 4);
    CHECK(rx(&h, NULL, NULL));
    CHECK_EQ_U64(h.op, VIRTIO_VSOCK_OP_RST);

    /* No listener in the guest: the guest's RST closes the client. */
    c = client();
    CHECK(send(c, "CONNECT 9999\n", 13, 0) == 13);
    host_io();
    CHECK(rx(&h, NULL, NULL));
    CHECK_EQ_U64(h.op, VIRTIO_VSOCK_OP_REQUEST);
    struct virtio_vsock_hdr rst = hdr(VIRTIO_VSOCK_OP_RST, 9999, h.src_port);
    tx(rst, NULL, 0);
    CHECK(recv_wait(c, buf, sizeof(buf)) == 0);
    close(c);

    /* Garbage instead of a CONNECT line: closed. */
    c = client();
    CHECK(send(c, "GET / HTTP/1.0\r\n", 16, 0) == 16);
    host_io();
    CHECK(!rx(&h, NULL, NULL));
    CHECK(recv_wait(c, buf, sizeof(buf)) == 0);
    close(c);
    c = client();
    CHECK(send(c, "CONNECT 123456789012345678901234567890", 38, 0) == 38);
    host_io();
    n = recv_wait(c, buf, sizeof(buf));
    CHECK(n == 0 || (n == -1 && errno == ECONNRESET)); /* closed with its bytes unread */
    close(c);

    /* Many at once: every client gets its REQUEST, with rx buffers given as they are
     * used up. */
    enum { N = 300 };
    static int fds[N];
    for (unsigned i = 0; i < N; i++) {
        fds[i] = client();
        CHECK(fds[i] >= 0);
        char line[32];
        int l = snprintf(line, sizeof(line), "CONNECT %u\n", 2000 + i);
        CHECK(send(fds[i], line, (size_t)l, 0) == l);
        if (i % 50 == 49)
            host_io(); /* accept before the listen backlog fills */
    }
    host_io();
    unsigned requests = 0;
    for (unsigned round = 0; round < 20 && requests < N; round++) {
        notify(); /* the buffers rx() gave back */
        while (rx(&h, NULL, NULL))
            requests += h.op == VIRTIO_VSOCK_OP_REQUEST;
    }
    CHECK_EQ_U64(requests, N);
    /* A driver reset drops them all: each client sees EOF. */
    virtio_vsock_ops.reset(d.v, &d.t);
    unsigned eof = 0;
    for (unsigned i = 0; i < N; i++) {
        eof += recv_wait(fds[i], buf, sizeof(buf)) == 0;
        close(fds[i]);
    }
    CHECK_EQ_U64(eof, N);
}

/* A boot whose init-ready snapshot is pending holds host clients' REQUESTs back, across
 * the driver's reset at boot too; once released they go to the guest. */
static void test_hold_for_snapshot(void)
{
    struct virtio_vsock_hdr h;
    char buf[64];
    virtio_vsock_hold_requests(d.v, true);
    int c = client();
    CHECK(c >= 0);
    CHECK(send(c, "CONNECT 4321\n", 13, 0) == 13);
    host_io();
    notify();
    CHECK(!rx(&h, NULL, NULL));
    CHECK(recv(c, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN);
    virtio_vsock_ops.reset(d.v, &d.t);
    host_io();
    CHECK(!rx(&h, NULL, NULL));
    CHECK(recv(c, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN); /* kept */
    virtio_vsock_hold_requests(d.v, false);
    host_io();
    CHECK(rx(&h, NULL, NULL));
    CHECK_EQ_U64(h.op, VIRTIO_VSOCK_OP_REQUEST);
    CHECK_EQ_U64(h.dst_port, 4321);
    tx(hdr(VIRTIO_VSOCK_OP_RST, 4321, h.src_port), NULL, 0);
    CHECK(recv_wait(c, buf, sizeof(buf)) == 0);
    close(c);
}

static void test_hostile(void)
{
    struct virtio_vsock_hdr h;
    /* Spoofed source CID: dropped without a word. */
    struct virtio_vsock_hdr b = hdr(VIRTIO_VSOCK_OP_REQUEST, 1, 1025);
    b.src_cid = 4;
    tx(b, NULL, 0);
    CHECK(!rx(&h, NULL, NULL));
    /* Length beyond the descriptor: dropped. */
    b = hdr(VIRTIO_VSOCK_OP_RW, 1, 1025);
    b.len = 100;
    tx_raw(&b, NULL, 0, 44 + 10);
    CHECK(!rx(&h, NULL, NULL));
    /* A chain shorter than a header: dropped. */
    tx_raw(&b, NULL, 0, 20);
    CHECK(!rx(&h, NULL, NULL));
    /* Data for a connection that does not exist, a wrong type, an unknown op: RST. */
    tx(hdr(VIRTIO_VSOCK_OP_RW, 7, 8), "x", 1);
    CHECK(rx(&h, NULL, NULL) && h.op == VIRTIO_VSOCK_OP_RST && h.dst_port == 7);
    b = hdr(VIRTIO_VSOCK_OP_REQUEST, 9, 10);
    b.type = 2;
    tx(b, NULL, 0);
    CHECK(rx(&h, NULL, NULL) && h.op == VIRTIO_VSOCK_OP_RST && h.dst_port == 9);
    tx(hdr(42, 11, 12), NULL, 0);
    CHECK(rx(&h, NULL, NULL) && h.op == VIRTIO_VSOCK_OP_RST && h.dst_port == 11);
    /* A port path that is not a socket: RST, nothing opened. */
    tx(hdr(VIRTIO_VSOCK_OP_REQUEST, 13, 4294967295u), NULL, 0);
    CHECK(rx(&h, NULL, NULL) && h.op == VIRTIO_VSOCK_OP_RST);
    /* A flood of bad packets: every one is answered, none twice. */
    for (unsigned i = 0; i < 40; i++)
        tx(hdr(VIRTIO_VSOCK_OP_RW, 100 + i, 8), "x", 1);
    unsigned rsts = 0;
    for (unsigned round = 0; round < 10; round++) {
        notify();
        while (rx(&h, NULL, NULL))
            rsts += h.op == VIRTIO_VSOCK_OP_RST;
    }
    CHECK_EQ_U64(rsts, 40);

    /* TRANSPORT_RESET after a restore, once an event buffer is there. */
    struct virtio_vsock_state st = {.guest_cid = 3};
    sm_error_t err = NULL;
    CHECK(virtio_vsock_restore(d.v, &st, &err) == 0);
    host_io();
    add_event();
    notify();
    uint16_t *uidx = gp(USED(2) + 2, 2);
    CHECK_EQ_U64(*uidx, 1);
    uint32_t *e = gp(USED(2) + 4, 8);
    CHECK_EQ_U64(e[1], 4);
    CHECK_EQ_U64(*(uint32_t *)gp(EVDATA(e[0]), 4), 0);
    /* A host client's REQUEST waits until the guest handled the reset, which it shows by
     * handing the event buffer back: a socket it accepted before would be reset. */
    int held = client();
    CHECK(held >= 0 && write(held, "CONNECT 5000\n", 13) == 13);
    host_io();
    notify();
    CHECK(!rx(&h, NULL, NULL));
    add_event();
    notify();
    CHECK(rx(&h, NULL, NULL) && h.op == VIRTIO_VSOCK_OP_REQUEST && h.dst_port == 5000);
    CHECK_EQ_U64(*uidx, 1); /* once only */
    tx(hdr(VIRTIO_VSOCK_OP_RST, 5000, h.src_port), NULL, 0);
    close(held);
    /* A driver that never hands the buffer back holds clients up for a bounded time. */
    CHECK(virtio_vsock_restore(d.v, &st, &err) == 0);
    host_io();
    CHECK_EQ_U64(*uidx, 2);
    held = client();
    CHECK(held >= 0 && write(held, "CONNECT 5001\n", 13) == 13);
    host_io();
    notify();
    CHECK(!rx(&h, NULL, NULL));
    usleep(2100 * 1000);
    host_io();
    CHECK(rx(&h, NULL, NULL) && h.op == VIRTIO_VSOCK_OP_REQUEST && h.dst_port == 5001);
    tx(hdr(VIRTIO_VSOCK_OP_RST, 5001, h.src_port), NULL, 0);
    close(held);
    st.guest_cid = 2;
    CHECK(virtio_vsock_restore(d.v, &st, &err) < 0);
    sm_error_release(&err);

    /* A broken chain (next index out of range) stops the device. */
    uint16_t slot = d.avail[1] % QSIZE;
    struct desc *t = gp(DESC(1), 16 * QSIZE);
    t[slot] = (struct desc){TXDATA(slot), 44, 1 /* NEXT */, 999};
    avail_add(1, slot);
    notify();
    CHECK(d.t.s.status & VIRTIO_STATUS_NEEDS_RESET);
}

int main(void)
{
    test_helpers();
    setup();
    test_guest_to_host();
    test_host_to_guest();
    test_hold_for_snapshot();
    test_hostile();
    virtio_vsock_destroy(d.v);
    CHECK(access(d.path, F_OK) < 0); /* the socket file is gone */
    ioloop_release(&d.io);
    vm_memory_release(&d.mem);
    close(d.t.irq_fd);
    close(d.t.notify_fd);

    /* A path too long for "<path>_<port>" and a bad CID are refused. */
    struct virtio_vsock *v = NULL;
    sm_error_t err = NULL;
    char longp[120];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    CHECK(virtio_vsock_create(&v, longp, 0, &err) < 0 && v == NULL);
    sm_error_release(&err);
    CHECK(virtio_vsock_create(&v, "/tmp/sm-vsock-x", 2, &err) < 0);
    sm_error_release(&err);
    /* A live socket at the path is not taken over; a stale one is. */
    char p[108];
    snprintf(p, sizeof(p), "/tmp/sm-vsock-test-%d-live.sock", (int)getpid());
    int live = listen_at(p);
    CHECK(virtio_vsock_create(&v, p, 0, &err) < 0);
    sm_error_release(&err);
    close(live);
    CHECK(virtio_vsock_create(&v, p, 0, &err) == 0);
    virtio_vsock_destroy(v);
    CHECK(access(p, F_OK) < 0);
    return check_summary("vsock");
}
