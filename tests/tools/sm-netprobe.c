/* sm-netprobe: servers and a client for the network tests, static so that it runs in any
 * guest (copied in with `supermachine cp`).
 *   sm-netprobe udp-serve PORT             echo every datagram back to its sender
 *   sm-netprobe udp-ask HOST PORT MESSAGE  send MESSAGE, print the answer (5 tries a
 *                                          second apart; exit 1 without one)
 *   sm-netprobe tcp-serve PORT             a tiny HTTP server: to each connection, once
 *                                          its request's blank line came, "200 OK" and
 *                                          "hello from HOSTNAME"; one poll loop, listen
 *                                          backlog 1024, so that a burst of connections
 *                                          tests the network rather than the server
 *   sm-netprobe tcp-sink PORT              each connection (one at a time): read to the
 *                                          end, then answer the byte count
 *   sm-netprobe tcp-source PORT            each connection: read a byte count (a line),
 *                                          send that many bytes, close (bench/net)
 *   sm-netprobe hostile IFACE SECONDS      a hostile guest (needs root): for SECONDS, raw
 *                                          frames as fast as it can, random and crafted
 *                                          to be malformed (cut and lying headers,
 *                                          overlapping fragments, long IPv6 header
 *                                          chains), and storms of TCP SYNs, UDP
 *                                          datagrams and pings to all sorts of places
 *   sm-netprobe console-flood SECONDS      writes to the serial console as fast as it can
 *   sm-netprobe vsock-storm N PORT         N vsock connections to the host (CID 2) on
 *                                          PORT, opened without waiting, kept open */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/vm_sockets.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 2048

static int usage(void)
{
    fprintf(stderr, "usage: sm-netprobe udp-serve PORT | udp-ask HOST PORT MESSAGE | "
                    "tcp-serve PORT | tcp-sink PORT | tcp-source PORT | hostile IFACE SECONDS | "
                    "console-flood SECONDS | vsock-storm N PORT\n");
    return 2;
}

/* An IPv4 or IPv6 address and port. */
static socklen_t address(const char *host, const char *port, struct sockaddr_storage *sa)
{
    memset(sa, 0, sizeof(*sa));
    struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)atoi(port));
        return sizeof(*s4);
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)atoi(port));
        return sizeof(*s6);
    }
    return 0;
}

/* A socket on [::]:port, IPv4 too. */
static int bind_any(int type, const char *port)
{
    struct sockaddr_storage sa;
    socklen_t len = address("::", port, &sa);
    int fd = socket(AF_INET6, type, 0);
    int off = 0, on = 1;
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int udp_serve(const char *port)
{
    int fd = bind_any(SOCK_DGRAM, port);
    if (fd < 0) {
        perror("sm-netprobe: bind");
        return 1;
    }
    printf("serving %s\n", port);
    fflush(stdout);
    for (;;) {
        char buf[65536];
        struct sockaddr_storage from;
        socklen_t flen = sizeof(from);
        ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
        if (n >= 0)
            sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen);
    }
}

static int udp_ask(const char *host, const char *port, const char *msg)
{
    struct sockaddr_storage sa;
    socklen_t len = address(host, port, &sa);
    if (len == 0)
        return usage();
    int fd = socket(sa.ss_family, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("sm-netprobe: socket");
        return 1;
    }
    for (int i = 0; i < 5; i++) {
        sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa, len);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1000) == 1) {
            char buf[65536];
            ssize_t n = recv(fd, buf, sizeof(buf), 0);
            if (n >= 0) {
                printf("%.*s\n", (int)n, buf);
                return 0;
            }
        }
    }
    fprintf(stderr, "sm-netprobe: no answer from %s port %s\n", host, port);
    return 1;
}

struct conn {
    char req[4096];
    size_t len;
};

static int tcp_serve(const char *port)
{
    int lfd = bind_any(SOCK_STREAM | SOCK_NONBLOCK, port);
    if (lfd < 0 || listen(lfd, 1024) < 0) {
        perror("sm-netprobe: listen");
        return 1;
    }
    char host[256] = "?", answer[512];
    gethostname(host, sizeof(host));
    int alen = snprintf(answer, sizeof(answer),
                        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from %s\n", host);
    static struct pollfd pf[MAX_CONNS + 1];
    static struct conn conns[MAX_CONNS + 1];
    unsigned n = 1;
    pf[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
    printf("serving %s\n", port);
    fflush(stdout);
    for (;;) {
        if (poll(pf, n, -1) < 0 && errno != EINTR)
            return 1;
        for (unsigned i = n; i-- > 1;) {
            if (!pf[i].revents)
                continue;
            struct conn *c = &conns[i];
            ssize_t r = recv(pf[i].fd, c->req + c->len, sizeof(c->req) - 1 - c->len, 0);
            bool done = r <= 0;
            if (r > 0) {
                c->len += (size_t)r;
                c->req[c->len] = '\0';
                if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n") ||
                    c->len == sizeof(c->req) - 1) {
                    ssize_t w = send(pf[i].fd, answer, (size_t)alen, MSG_NOSIGNAL);
                    (void)w;
                    done = true;
                }
            }
            if (done) {
                close(pf[i].fd);
                pf[i] = pf[n - 1];
                conns[i] = conns[n - 1];
                n--;
            }
        }
        if (pf[0].revents & POLLIN) {
            while (n <= MAX_CONNS) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                if (fd < 0)
                    break;
                pf[n] = (struct pollfd){.fd = fd, .events = POLLIN};
                conns[n].len = 0;
                n++;
            }
        }
    }
}

/* Sequential servers for throughput: one connection at a time, plain blocking I/O. */
static int tcp_stream(const char *port, bool sink)
{
    int lfd = bind_any(SOCK_STREAM, port);
    if (lfd < 0 || listen(lfd, 64) < 0) {
        perror("sm-netprobe: listen");
        return 1;
    }
    static char buf[1 << 20];
    memset(buf, 'x', sizeof(buf));
    printf("serving %s\n", port);
    fflush(stdout);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (sink) {
            unsigned long long total = 0;
            ssize_t r;
            while ((r = recv(fd, buf, sizeof(buf), 0)) > 0)
                total += (unsigned long long)r;
            char line[32];
            int n = snprintf(line, sizeof(line), "%llu\n", total);
            ssize_t w = send(fd, line, (size_t)n, MSG_NOSIGNAL);
            (void)w;
        } else {
            char line[32] = "";
            size_t got = 0;
            while (got < sizeof(line) - 1 && !memchr(line, '\n', got)) {
                ssize_t r = recv(fd, line + got, sizeof(line) - 1 - got, 0);
                if (r <= 0)
                    break;
                got += (size_t)r;
                line[got] = '\0';
            }
            unsigned long long want = strtoull(line, NULL, 10);
            while (want > 0) {
                size_t k = want < sizeof(buf) ? (size_t)want : sizeof(buf);
                ssize_t w = send(fd, buf, k, MSG_NOSIGNAL);
                if (w <= 0)
                    break;
                want -= (unsigned long long)w;
            }
        }
        close(fd);
    }
}

/* ---- hostile: what a guest bent on harming its VMM might send ---- */

static uint64_t rng_state;

static uint32_t rnd(void)
{
    /* xorshift64*: fast, and the seed is printed so that a run can be repeated. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
}

static uint16_t csum(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Destinations a hostile guest would try: the host's loopback and the gateway, the rest
 * of the virtual network, cloud metadata, broadcast and multicast, somewhere outside. */
static void pick_dst4(uint8_t d[4])
{
    static const uint8_t dsts[][4] = {
        {10, 0, 2, 2},        {10, 0, 2, 3},  {10, 0, 2, 99}, {127, 0, 0, 1},  {169, 254, 169, 254},
        {255, 255, 255, 255}, {224, 0, 0, 1}, {0, 0, 0, 0},   {198, 18, 0, 1}, {10, 0, 2, 255}};
    if (rnd() % 4 == 0) {
        uint32_t r = rnd();
        memcpy(d, &r, 4);
    } else {
        memcpy(d, dsts[rnd() % (sizeof(dsts) / sizeof(dsts[0]))], 4);
    }
}

/* An IPv4 packet (valid header and transport checksum) of protocol proto from the guest. */
static size_t ipv4_packet(uint8_t *f, const uint8_t mac[6], uint8_t proto, size_t l4len)
{
    memset(f, 0xff, 6); /* any destination MAC: the stack takes every frame */
    memcpy(f + 6, mac, 6);
    put16(f + 12, 0x0800);
    uint8_t *ip = f + 14, *l4 = ip + 20;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + l4len));
    ip[8] = 64;
    ip[9] = proto;
    uint8_t src[4] = {10, 0, 2, 15};
    memcpy(ip + 12, src, 4);
    pick_dst4(ip + 16);
    put16(ip + 10, csum(0, ip, 20));
    uint32_t pseudo = (uint32_t)(ip[12] << 8 | ip[13]) + (uint32_t)(ip[14] << 8 | ip[15]) +
                      (uint32_t)(ip[16] << 8 | ip[17]) + (uint32_t)(ip[18] << 8 | ip[19]) + proto +
                      (uint32_t)l4len;
    if (proto == 6) {
        l4[16] = l4[17] = 0;
        put16(l4 + 16, csum(pseudo, l4, l4len));
    } else if (proto == 17) {
        l4[6] = l4[7] = 0;
        put16(l4 + 6, csum(pseudo, l4, l4len));
    } else if (proto == 1) {
        l4[2] = l4[3] = 0;
        put16(l4 + 2, csum(0, l4, l4len));
    }
    return 14 + 20 + l4len;
}

static size_t hostile_frame(uint8_t *f, size_t cap, const uint8_t mac[6], unsigned kind)
{
    size_t len;
    switch (kind) {
    case 0: /* noise, of any length the device takes */
        len = 1 + rnd() % (rnd() % 8 ? 1600 : (unsigned)cap);
        fill_random(f, len);
        return len;
    case 1: { /* IPv4 whose header lies: lengths, IHL, protocol */
        len = 14 + rnd() % 200;
        fill_random(f, len);
        memcpy(f + 6, mac, 6);
        put16(f + 12, 0x0800);
        if (len > 14)
            f[14] = (uint8_t)(0x40 | (rnd() % 16));
        return len;
    }
    case 2: { /* fragments: tiny first ones, overlapping later ones */
        size_t l4 = 8 + rnd() % 64;
        fill_random(f + 34, l4);
        len = ipv4_packet(f, mac, rnd() % 2 ? 6 : 17, l4);
        uint16_t off = (uint16_t)(rnd() % 4);
        put16(f + 14 + 6, (uint16_t)((rnd() % 2 ? 0x2000 : 0) | off));
        f[24] = f[25] = 0;
        put16(f + 24, csum(0, f + 14, 20));
        return len;
    }
    case 3: { /* IPv6 with a chain of extension headers, of lying lengths */
        len = 14 + 40 + rnd() % 400;
        fill_random(f, len);
        memcpy(f + 6, mac, 6);
        put16(f + 12, 0x86dd);
        f[14] = 0x60;
        put16(f + 18, (uint16_t)(rnd() % 2 ? len - 54 : rnd()));
        static const uint8_t ext[] = {0, 43, 60, 44, 6, 17, 58, 59};
        f[20] = ext[rnd() % sizeof(ext)];
        for (size_t p = 54; p + 8 <= len; p += 8)
            if (rnd() % 2)
                f[p] = ext[rnd() % sizeof(ext)];
        return len;
    }
    case 4: { /* a TCP SYN: a storm of connections to anywhere */
        uint8_t *t = f + 34;
        memset(t, 0, 20);
        put16(t, (uint16_t)(1024 + rnd() % 60000));
        put16(t + 2, (uint16_t)(rnd() % 4 ? 80 : rnd()));
        uint32_t seq = rnd();
        memcpy(t + 4, &seq, 4);
        t[12] = 5 << 4;
        t[13] = 0x02 | (rnd() % 8 == 0 ? 0x01 : 0); /* now and then SYN+FIN */
        put16(t + 14, 65535);
        return ipv4_packet(f, mac, 6, 20);
    }
    case 5: { /* UDP datagrams to anywhere */
        size_t pl = rnd() % 512;
        uint8_t *u = f + 34;
        put16(u, (uint16_t)(1024 + rnd() % 60000));
        put16(u + 2, (uint16_t)(rnd() % 4 ? 53 : rnd()));
        put16(u + 4, (uint16_t)(8 + pl));
        fill_random(u + 8, pl);
        return ipv4_packet(f, mac, 17, 8 + pl);
    }
    case 6: { /* ICMP: echo requests and whatever else */
        size_t pl = rnd() % 256;
        uint8_t *c = f + 34;
        fill_random(c, 8 + pl);
        c[0] = rnd() % 2 ? 8 : (uint8_t)rnd();
        return ipv4_packet(f, mac, 1, 8 + pl);
    }
    default: /* ARP of random content */
        len = 14 + rnd() % 64;
        fill_random(f, len);
        memcpy(f + 6, mac, 6);
        put16(f + 12, 0x0806);
        return len;
    }
}

static int hostile(const char *iface, const char *seconds)
{
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) {
        perror("sm-netprobe: AF_PACKET socket");
        return 1;
    }
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
        perror("sm-netprobe: SIOCGIFHWADDR");
        return 1;
    }
    uint8_t mac[6];
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    struct sockaddr_ll ll = {.sll_family = AF_PACKET,
                             .sll_protocol = htons(ETH_P_ALL),
                             .sll_ifindex = (int)if_nametoindex(iface)};
    if (ll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
        perror("sm-netprobe: bind to the interface");
        return 1;
    }
    int bufsz = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
    rng_state = ((uint64_t)time(NULL) * 6364136223846793005ull + (uint64_t)getpid()) | 1;
    printf("seed %llu\n", (unsigned long long)rng_state);
    static uint8_t frame[65536];
    unsigned long long sent = 0, refused = 0, kinds[8] = {0};
    time_t end = time(NULL) + atoi(seconds);
    while (time(NULL) < end) {
        for (int i = 0; i < 256; i++) {
            unsigned kind = rnd() % 8;
            size_t len = hostile_frame(frame, 65534, mac, kind);
            if (send(fd, frame, len, 0) < 0) {
                refused++; /* too long for the interface, or its queue full */
                continue;
            }
            sent++;
            kinds[kind]++;
        }
    }
    printf("sent %llu frames (%llu noise, %llu bad IPv4, %llu fragments, %llu IPv6 chains, "
           "%llu SYNs, %llu UDP, %llu ICMP, %llu ARP); %llu not taken by the interface\n",
           sent, kinds[0], kinds[1], kinds[2], kinds[3], kinds[4], kinds[5], kinds[6], kinds[7],
           refused);
    close(fd);
    return 0;
}

/* ---- floods of the VMM's other ends: the console and vsock ---- */

static int console_flood(const char *seconds)
{
    int fd = open("/dev/ttyS0", O_WRONLY | O_NOCTTY);
    if (fd < 0)
        fd = open("/dev/console", O_WRONLY | O_NOCTTY);
    if (fd < 0) {
        perror("sm-netprobe: console");
        return 1;
    }
    static char line[4096];
    memset(line, 'F', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\n';
    unsigned long long bytes = 0;
    time_t end = time(NULL) + atoi(seconds);
    while (time(NULL) < end) {
        ssize_t w = write(fd, line, sizeof(line));
        if (w > 0)
            bytes += (unsigned long long)w;
    }
    printf("wrote %llu bytes to the console\n", bytes);
    return 0;
}

static int vsock_storm(const char *count, const char *port)
{
    int n = atoi(count), opened = 0, refused = 0;
    static int fds[65536];
    struct sockaddr_vm sa = {
        .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = (unsigned)atoi(port)};
    for (int i = 0; i < n && i < 65536; i++) {
        int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            refused++;
            continue;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
            refused++;
            close(fd);
            continue;
        }
        fds[opened++] = fd;
    }
    sleep(2); /* let the host answer them all */
    printf("vsock: %d connections started, %d refused at once\n", opened, refused);
    for (int i = 0; i < opened; i++)
        close(fds[i]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "udp-serve") == 0)
        return udp_serve(argv[2]);
    if (argc == 5 && strcmp(argv[1], "udp-ask") == 0)
        return udp_ask(argv[2], argv[3], argv[4]);
    if (argc == 3 && strcmp(argv[1], "tcp-serve") == 0)
        return tcp_serve(argv[2]);
    if (argc == 3 && strcmp(argv[1], "tcp-sink") == 0)
        return tcp_stream(argv[2], true);
    if (argc == 3 && strcmp(argv[1], "tcp-source") == 0)
        return tcp_stream(argv[2], false);
    if (argc == 4 && strcmp(argv[1], "hostile") == 0)
        return hostile(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "console-flood") == 0)
        return console_flood(argv[2]);
    if (argc == 4 && strcmp(argv[1], "vsock-storm") == 0)
        return vsock_storm(argv[2], argv[3]);
    return usage();
}
