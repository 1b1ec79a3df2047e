/* The network's pure parts: -p specs, egress rules, the policy's verdicts, and reading
 * guest frames (with hostile ones: cut short, fragments that would rewrite a header). */
#include <arpa/inet.h>
#include <stdlib.h>

#include "check.h"
#include "net/net_frame.h"
#include "net/net_policy.h"

static void publish_ok(const char *spec, const char *canonical)
{
    struct net_publish p;
    sm_error_t err = NULL;
    int r = net_publish_parse(spec, &p, &err);
    CHECK(r == 0);
    if (r < 0) {
        fprintf(stderr, "  %s: %s\n", spec, sm_error_message(err));
        sm_error_release(&err);
        return;
    }
    char out[80];
    net_publish_format(&p, out, sizeof(out));
    CHECK_STR(out, canonical);
}

static void publish_bad(const char *spec)
{
    struct net_publish p;
    sm_error_t err = NULL;
    CHECK(net_publish_parse(spec, &p, &err) < 0);
    CHECK(err != NULL && strstr(sm_error_message(err), spec) != NULL);
    sm_error_release(&err);
}

static void test_publish(void)
{
    publish_ok("8080:80", "0.0.0.0:8080:80/tcp");
    publish_ok("80", "0.0.0.0:0:80/tcp");
    publish_ok("127.0.0.1:8080:80", "127.0.0.1:8080:80/tcp");
    publish_ok("127.0.0.1::80/udp", "127.0.0.1:0:80/udp");
    publish_ok("5353:53/udp", "0.0.0.0:5353:53/udp");
    publish_ok("[::1]:8080:80", "[::1]:8080:80/tcp");
    publish_ok("[::]::80/tcp", "[::]:0:80/tcp");
    publish_ok("65535:1", "0.0.0.0:65535:1/tcp");
    publish_bad("");
    publish_ok("0:80", "0.0.0.0:0:80/tcp");
    publish_bad("8080:0");
    publish_bad("8080:65536");
    publish_bad("8080:80/sctp");
    publish_bad("8000-8010:80");
    publish_bad("::1:8080:80");
    publish_bad("[::1]:8080");
    publish_bad("[127.0.0.1]:8080:80");
    publish_bad("localhost:8080:80");
    publish_bad("999.1.1.1:8080:80");
    publish_bad("8080:80:");
    publish_bad("a:b");
    publish_bad("[::1:8080:80");
}

static struct net_rule rule(const char *text)
{
    struct net_rule r;
    sm_error_t err = NULL;
    memset(&r, 0, sizeof(r));
    if (net_rule_parse(text, &r, &err) < 0) {
        fprintf(stderr, "  %s: %s\n", text, sm_error_message(err));
        check_failures++;
        sm_error_release(&err);
    }
    return r;
}

static void rule_bad(const char *text)
{
    struct net_rule r;
    sm_error_t err = NULL;
    CHECK(net_rule_parse(text, &r, &err) < 0);
    sm_error_release(&err);
}

static void test_rules(void)
{
    struct net_rule r = rule("10.0.0.0/8");
    CHECK(r.addr.family == 4 && r.prefix == 8 && r.port_lo == 0 && r.port_hi == 65535 &&
          r.proto == 0);
    r = rule("1.2.3.4");
    CHECK(r.prefix == 32);
    r = rule("0.0.0.0/0:443/tcp");
    CHECK(r.prefix == 0 && r.port_lo == 443 && r.port_hi == 443 && r.proto == NET_PROTO_TCP);
    r = rule("192.168.0.0/16:8000-8999/udp");
    CHECK(r.port_lo == 8000 && r.port_hi == 8999 && r.proto == NET_PROTO_UDP);
    r = rule("2001:db8::/32");
    CHECK(r.addr.family == 6 && r.prefix == 32);
    r = rule("[2001:db8::/32]:53");
    CHECK(r.addr.family == 6 && r.prefix == 32 && r.port_lo == 53);
    r = rule("[2001:db8::]/48:1-1024/tcp");
    CHECK(r.prefix == 48 && r.port_lo == 1 && r.port_hi == 1024 && r.proto == NET_PROTO_TCP);
    r = rule("::/0");
    CHECK(r.addr.family == 6 && r.prefix == 0);
    rule_bad("");
    rule_bad("10.0.0.0/33");
    rule_bad("[2001:db8::/129]");
    rule_bad("10.0.0.0/8:0");
    rule_bad("10.0.0.0/8:90-80");
    rule_bad("10.0.0.0/8:70000");
    rule_bad("example.com");
    rule_bad("[10.0.0.1]:80");
    rule_bad("[2001:db8::");
    rule_bad("10.0.0.0/8:");
}

static struct net_flow flow(uint8_t proto, const char *dst, uint16_t port)
{
    struct net_flow f = {.proto = proto, .dst_port = port, .src_port = 40000, .ports_known = true};
    if (net_addr_parse(dst, &f.dst) < 0)
        abort();
    return f;
}

static bool allows(const struct net_policy *p, uint8_t proto, const char *dst, uint16_t port)
{
    struct net_flow f = flow(proto, dst, port);
    return net_policy_allows(p, &f, NULL);
}

static void test_policy(void)
{
    static struct net_policy p; /* large: not on the stack */
    memset(&p, 0, sizeof(p));
    const int T = NET_PROTO_TCP, U = NET_PROTO_UDP;
    /* Defaults: the outside yes; the host's loopback, link-local, 0.0.0.0 and the
     * virtual LAN no; DNS on 53 only. */
    CHECK(allows(&p, T, "93.184.216.34", 80));
    CHECK(allows(&p, T, "2606:2800:220:1::1", 443));
    CHECK(allows(&p, U, "8.8.8.8", 53));
    CHECK(!allows(&p, T, NET_HOST_IP4, 8080));
    CHECK(!allows(&p, T, NET_HOST_IP6, 8080));
    CHECK(!allows(&p, T, "fd00::99", 8080)); /* libslirp: the prefix is the host too */
    CHECK(!allows(&p, T, "127.0.0.1", 22));
    CHECK(!allows(&p, T, "127.1.2.3", 22));
    CHECK(!allows(&p, T, "::1", 22));
    CHECK(!allows(&p, T, "::ffff:127.0.0.1", 22));
    CHECK(!allows(&p, T, "169.254.169.254", 80));
    CHECK(!allows(&p, T, "fe80::1", 80));
    CHECK(!allows(&p, T, "0.0.0.0", 80));
    CHECK(!allows(&p, T, "::", 80));
    CHECK(!allows(&p, U, "255.255.255.255", 9));
    CHECK(!allows(&p, U, "10.0.2.255", 9));
    CHECK(!allows(&p, U, "224.0.0.251", 5353));
    CHECK(!allows(&p, U, "ff02::1", 5353));
    CHECK(!allows(&p, T, "10.0.2.77", 80));
    CHECK(allows(&p, U, NET_DNS_IP4, 53));
    CHECK(allows(&p, T, NET_DNS_IP6, 53));
    CHECK(!allows(&p, U, NET_DNS_IP4, 123));
    CHECK(allows(&p, NET_PROTO_ICMP, NET_HOST_IP4, 0)); /* the stack answers those itself */
    CHECK(allows(&p, NET_PROTO_ICMP, "1.1.1.1", 0));
    CHECK(!allows(&p, NET_PROTO_ICMP, "127.0.0.1", 0));

    /* --allow-host-loopback opens the host and link-local, not 0.0.0.0 or broadcast. */
    p.allow_host_loopback = true;
    CHECK(allows(&p, T, NET_HOST_IP4, 8080));
    CHECK(allows(&p, T, NET_HOST_IP6, 8080));
    CHECK(allows(&p, T, "169.254.169.254", 80));
    CHECK(!allows(&p, T, "0.0.0.0", 80));
    CHECK(!allows(&p, U, "255.255.255.255", 9));
    CHECK(!allows(&p, T, "10.0.2.77", 80));
    /* ... and the rules apply to the host as to any destination. */
    const char *deny_host[] = {"10.0.2.2:22", NULL};
    sm_error_t err = NULL;
    CHECK(net_policy_add_rules(&p, NULL, deny_host, &err) == 0);
    CHECK(!allows(&p, T, NET_HOST_IP4, 22));
    CHECK(allows(&p, T, NET_HOST_IP4, 23));
    p.ndeny = 0;
    p.allow_host_loopback = false;

    /* Rules: deny wins; with allow rules, only what they name. */
    const char *allow[] = {"10.0.0.0/8", "0.0.0.0/0:443/tcp", "[2001:db8::/32]:53", NULL};
    const char *deny[] = {"10.1.0.0/16", "10.2.0.0/16:22", NULL};
    CHECK(net_policy_add_rules(&p, allow, deny, &err) == 0);
    CHECK(allows(&p, T, "10.9.9.9", 80));
    CHECK(allows(&p, U, "10.9.9.9", 80));
    CHECK(!allows(&p, T, "10.1.2.3", 80));
    CHECK(!allows(&p, T, "10.2.2.3", 22));
    CHECK(allows(&p, T, "10.2.2.3", 23));
    /* An IPv4-mapped IPv6 destination meets the IPv4 rules (it reaches that host). */
    CHECK(!allows(&p, T, "::ffff:10.1.2.3", 80));
    CHECK(allows(&p, T, "::ffff:10.9.9.9", 80));
    CHECK(allows(&p, T, "93.184.216.34", 443));
    CHECK(!allows(&p, U, "93.184.216.34", 443));
    CHECK(!allows(&p, T, "93.184.216.34", 80));
    CHECK(allows(&p, U, "2001:db8::5", 53));
    CHECK(!allows(&p, U, "2001:db8::5", 54));
    CHECK(allows(&p, U, NET_DNS_IP4, 53)); /* DNS is the network's own */
    p.allow_host_loopback = true;
    CHECK(allows(&p, T, NET_HOST_IP4, 80));  /* 10.0.0.0/8 names it */
    CHECK(!allows(&p, T, NET_HOST_IP6, 80)); /* no rule names fd00::2 */
    p.allow_host_loopback = false;
    CHECK(allows(&p, NET_PROTO_ICMP, "10.9.9.9", 0));
    CHECK(!allows(&p, NET_PROTO_ICMP, "93.184.216.34", 0)); /* a port rule says nothing of ICMP */
    /* A later fragment: port rules cannot clear it; a deny rule's address refuses it. */
    struct net_flow frag = flow(T, "93.184.216.34", 0);
    frag.ports_known = false;
    CHECK(!net_policy_allows(&p, &frag, NULL));
    frag = flow(T, "10.2.2.3", 0);
    frag.ports_known = false;
    CHECK(!net_policy_allows(&p, &frag, NULL));
    frag = flow(T, "10.9.9.9", 0);
    frag.ports_known = false;
    CHECK(net_policy_allows(&p, &frag, NULL));
    const char *bad[] = {"nonsense", NULL};
    CHECK(net_policy_add_rules(&p, bad, NULL, &err) < 0);
    sm_error_release(&err);
}

/* ---- frames ---------------------------------------------------------------------- */

static size_t eth(uint8_t *f, uint16_t type)
{
    static const uint8_t dst[6] = {0x52, 0x55, 0x0a, 0, 2, 2}, src[6] = NET_GUEST_MAC;
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = (uint8_t)(type >> 8);
    f[13] = (uint8_t)type;
    return 14;
}

/* An IPv4 packet with the given transport bytes; returns the frame length. */
static size_t ipv4(uint8_t *f, uint8_t proto, const char *dst, const uint8_t *l4, size_t l4len,
                   uint16_t frag)
{
    size_t o = eth(f, NET_ETH_IPV4);
    uint8_t *ip = f + o;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    ip[2] = (uint8_t)((20 + l4len) >> 8);
    ip[3] = (uint8_t)(20 + l4len);
    ip[6] = (uint8_t)(frag >> 8);
    ip[7] = (uint8_t)frag;
    ip[8] = 64;
    ip[9] = proto;
    inet_pton(AF_INET, NET_GUEST_IP4, ip + 12);
    inet_pton(AF_INET, dst, ip + 16);
    memcpy(ip + 20, l4, l4len);
    return o + 20 + l4len;
}

static size_t ipv6(uint8_t *f, uint8_t next, const char *dst, const uint8_t *rest, size_t len)
{
    size_t o = eth(f, NET_ETH_IPV6);
    uint8_t *ip = f + o;
    memset(ip, 0, 40);
    ip[0] = 0x60;
    ip[4] = (uint8_t)(len >> 8);
    ip[5] = (uint8_t)len;
    ip[6] = next;
    ip[7] = 64;
    inet_pton(AF_INET6, NET_GUEST_IP6, ip + 8);
    inet_pton(AF_INET6, dst, ip + 24);
    memcpy(ip + 40, rest, len);
    return o + 40 + len;
}

static uint16_t csum(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

static void test_frames(void)
{
    uint8_t f[256], out[NET_RST_MAX];
    struct net_frame_info in;
    /* A SYN to 127.0.0.1:22 with 3 bytes of data. */
    uint8_t syn[23] = {0x9c, 0x40, 0, 22, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0, 0x50, NET_TCP_SYN};
    size_t n = ipv4(f, NET_PROTO_TCP, "127.0.0.1", syn, sizeof(syn), 0);
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_FLOW && in.flow.proto == NET_PROTO_TCP && in.flow.dst_port == 22 &&
          in.flow.src_port == 40000 && in.flow.ports_known && in.tcp_seq == 0x11223344);
    CHECK(in.flow.dst.family == 4 && in.flow.dst.a[0] == 127 && in.flow.dst.a[3] == 1);
    /* Its reset: addressed back, ACKs SYN + 3 bytes, valid checksums. */
    size_t r = net_frame_tcp_reset(f, &in, out, sizeof(out));
    CHECK_EQ_U64(r, 54);
    CHECK(memcmp(out, f + 6, 6) == 0 && memcmp(out + 6, f, 6) == 0);
    const uint8_t *ip = out + 14, *tcp = ip + 20;
    CHECK(memcmp(ip + 12, f + 14 + 16, 4) == 0 && memcmp(ip + 16, f + 14 + 12, 4) == 0);
    CHECK_EQ_U64(csum(ip, 20, 0), 0xffff);
    uint32_t pseudo = csum(ip + 12, 8, 0) + NET_PROTO_TCP + 20;
    CHECK_EQ_U64(csum(tcp, 20, pseudo), 0xffff);
    CHECK(tcp[0] == 0 && tcp[1] == 22 && tcp[2] == 0x9c && tcp[3] == 0x40);
    CHECK(tcp[8] == 0x11 && tcp[9] == 0x22 && tcp[10] == 0x33 && tcp[11] == 0x48);
    CHECK(tcp[13] == (NET_TCP_RST | NET_TCP_ACK));
    CHECK(net_frame_tcp_reset(f, &in, out, 10) == 0);

    /* SYN|ACK and plain ACKs belong to existing connections; a SYN-ACK's answer (the
     * ACK the backend sends for a duplicate one) acknowledges the SYN. */
    syn[13] = NET_TCP_SYN | NET_TCP_ACK;
    syn[8] = 0xaa, syn[9] = 0xbb, syn[10] = 0xcc, syn[11] = 0xdd;
    n = ipv4(f, NET_PROTO_TCP, "127.0.0.1", syn, 20, 0);
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_OTHER && in.tcp_ack == 0xaabbccdd);
    r = net_frame_tcp_reply(f, &in, NET_TCP_ACK, in.tcp_ack, in.tcp_seq + 1, out, sizeof(out));
    CHECK_EQ_U64(r, 54);
    tcp = out + 14 + 20;
    CHECK_EQ_U64(csum(tcp, 20, csum(out + 14 + 12, 8, 0) + NET_PROTO_TCP + 20), 0xffff);
    CHECK(tcp[4] == 0xaa && tcp[7] == 0xdd && tcp[11] == 0x45 && tcp[13] == NET_TCP_ACK);
    CHECK(net_frame_tcp_reset(f, &in, out, sizeof(out)) == 0); /* not an opening SYN */
    memset(syn + 8, 0, 4);
    syn[13] = NET_TCP_SYN;

    /* Cut short: IP length beyond the frame, bad header length, short TCP header. */
    n = ipv4(f, NET_PROTO_TCP, "1.1.1.1", syn, sizeof(syn), 0);
    net_frame_parse(f, n - 1, &in);
    CHECK(in.kind == NET_FRAME_BAD);
    f[14] = 0x44;
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_BAD);
    n = ipv4(f, NET_PROTO_TCP, "1.1.1.1", syn, 12, 0);
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_BAD);
    uint8_t baddoff[20] = {0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, NET_TCP_SYN};
    n = ipv4(f, NET_PROTO_TCP, "1.1.1.1", baddoff, sizeof(baddoff), 0);
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_BAD);
    net_frame_parse(f, 13, &in);
    CHECK(in.kind == NET_FRAME_BAD);

    /* Fragments: a first one with the whole header is judged on its ports; a later one
     * that would overlap the TCP header is refused; a later one beyond it has no ports. */
    n = ipv4(f, NET_PROTO_TCP, "1.1.1.1", syn, 20, 0x2000);
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_FLOW && in.flow.ports_known && in.flow.dst_port == 22);
    CHECK(in.fragment);
    n = ipv4(f, NET_PROTO_TCP, "1.1.1.1", syn, 20, 0);
    net_frame_parse(f, n, &in);
    CHECK(!in.fragment);
    n = ipv4(f, NET_PROTO_TCP, "1.1.1.1", syn, 8, 0x2000);
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_BAD);
    n = ipv4(f, NET_PROTO_TCP, "1.1.1.1", syn, 16, 1); /* offset 8 bytes: over the flags */
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_BAD);
    n = ipv4(f, NET_PROTO_TCP, "1.1.1.1", syn, 16, 3);
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_FLOW && !in.flow.ports_known && in.fragment);

    /* UDP, ICMP echo and ICMP errors; other protocols and ethertypes are dropped. */
    uint8_t udp[8] = {0x14, 0xe9, 0, 53, 0, 8, 0, 0};
    n = ipv4(f, NET_PROTO_UDP, NET_DNS_IP4, udp, 8, 0);
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_FLOW && in.flow.src_port == 5353 && in.flow.dst_port == 53);
    CHECK(net_frame_tcp_reset(f, &in, out, sizeof(out)) == 0);
    uint8_t icmp[8] = {8};
    n = ipv4(f, NET_PROTO_ICMP, "1.1.1.1", icmp, 8, 0);
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_FLOW && in.flow.proto == NET_PROTO_ICMP);
    icmp[0] = 3;
    n = ipv4(f, NET_PROTO_ICMP, "1.1.1.1", icmp, 8, 0);
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_OTHER);
    n = ipv4(f, 132 /* SCTP */, "1.1.1.1", icmp, 8, 0);
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_BAD);
    eth(f, 0x8100);
    net_frame_parse(f, 60, &in);
    CHECK(in.kind == NET_FRAME_BAD);
    eth(f, NET_ETH_ARP);
    net_frame_parse(f, 42, &in);
    CHECK(in.kind == NET_FRAME_OTHER);

    /* IPv6: through extension headers to the SYN; its reset. */
    uint8_t v6[8 + 20] = {NET_PROTO_TCP, 0,    0, 0,  0, 0, 0, 0, /* destination options */
                          0x9c,          0x40, 0, 80, 0, 0, 0, 9, 0, 0, 0, 0, 0x50, NET_TCP_SYN};
    n = ipv6(f, 60, "::1", v6, sizeof(v6));
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_FLOW && in.flow.dst.family == 6 && in.flow.dst_port == 80);
    r = net_frame_tcp_reset(f, &in, out, sizeof(out));
    CHECK_EQ_U64(r, 74);
    tcp = out + 14 + 40;
    pseudo = csum(out + 14 + 8, 32, 0) + NET_PROTO_TCP + 20;
    CHECK_EQ_U64(csum(tcp, 20, pseudo), 0xffff);
    CHECK(tcp[11] == 10);
    /* A fragment header with offset 8 over a TCP header; two fragment headers; a header
     * chain that runs past the packet; one that never ends. */
    uint8_t fr[8 + 20] = {NET_PROTO_TCP, 0, 0, 8};
    n = ipv6(f, 44, "2001:db8::1", fr, sizeof(fr));
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_BAD);
    uint8_t fr2[16 + 20] = {44, 0, 0, 1, 0, 0, 0, 0, NET_PROTO_TCP};
    n = ipv6(f, 44, "2001:db8::1", fr2, sizeof(fr2));
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_BAD);
    uint8_t longopt[8] = {NET_PROTO_TCP, 200};
    n = ipv6(f, 60, "2001:db8::1", longopt, sizeof(longopt));
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_BAD);
    uint8_t loop[72];
    for (size_t i = 0; i < sizeof(loop); i += 8) {
        memset(loop + i, 0, 8);
        loop[i] = 60;
    }
    n = ipv6(f, 60, "2001:db8::1", loop, sizeof(loop));
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_BAD);
    uint8_t nd[8] = {135};
    n = ipv6(f, NET_PROTO_ICMP6, "ff02::1:ff00:2", nd, sizeof(nd));
    net_frame_parse(f, n, &in);
    CHECK(in.kind == NET_FRAME_OTHER);

    /* Every prefix of a valid frame parses without reading past it (ASan watches). */
    n = ipv6(f, 60, "::1", v6, sizeof(v6));
    for (size_t cut = 0; cut <= n; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, f, cut);
        net_frame_parse(copy, cut, &in);
        if (in.kind != NET_FRAME_BAD)
            net_frame_tcp_reset(copy, &in, out, sizeof(out));
        free(copy);
    }
}

/* The gratuitous ARP that teaches libslirp the guest's MAC (net_slirp.c), against the
 * frame written out by hand from RFC 826's layout (RFC 5227's announcement form). */
static void test_gratuitous_arp(void)
{
    static const uint8_t mac[6] = NET_GUEST_MAC;
    static const uint8_t want[NET_GARP_LEN] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 6,    4,    0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
        10,   0,    2,    15,   0,    0,    0,    0,    0,    0,    10,   0,    2,    15};
    struct in_addr ip;
    CHECK(inet_pton(AF_INET, NET_GUEST_IP4, &ip) == 1);
    uint8_t f[NET_GARP_LEN + 1];
    memset(f, 0xaa, sizeof(f));
    net_frame_gratuitous_arp(mac, ip.s_addr, f);
    CHECK(memcmp(f, want, sizeof(want)) == 0);
    CHECK(f[NET_GARP_LEN] == 0xaa); /* not a byte past it */
    struct net_frame_info in;
    net_frame_parse(f, NET_GARP_LEN, &in);
    CHECK(in.kind == NET_FRAME_OTHER);
    CHECK_EQ_U64(in.ethertype, NET_ETH_ARP);
}

int main(void)
{
    test_publish();
    test_rules();
    test_policy();
    test_frames();
    test_gratuitous_arp();
    return check_summary("net");
}
