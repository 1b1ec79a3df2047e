#include "net/net_frame.h"

#include <string.h>

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

/* Fills the L4 part of info from the transport header at f[off..len); frag_off: where this
 * fragment's data starts in its packet (0: the packet, or its first fragment, whose
 * transport header must then be whole). */
static void parse_l4(const uint8_t *f, size_t len, size_t off, uint8_t proto, uint32_t frag_off,
                     struct net_frame_info *info)
{
    struct net_flow *fl = &info->flow;
    fl->proto = proto;
    info->l4_off = off;
    size_t avail = len - off;
    size_t need = proto == NET_PROTO_TCP ? 20 : 8;
    if (proto != NET_PROTO_TCP && proto != NET_PROTO_UDP && proto != NET_PROTO_ICMP &&
        proto != NET_PROTO_ICMP6) {
        info->kind = NET_FRAME_BAD; /* the network carries nothing else */
        return;
    }
    if (frag_off) {
        /* A later fragment: no header to read. One that would overlap the first
         * fragment's transport header could rewrite its ports or flags once
         * reassembled (RFC 1858): refused. */
        if (frag_off < need) {
            info->kind = NET_FRAME_BAD;
            return;
        }
        info->kind = NET_FRAME_FLOW;
        fl->ports_known = false;
        return;
    }
    if (avail < need) {
        /* A first fragment (or packet) whose transport header is cut short. */
        info->kind = NET_FRAME_BAD;
        return;
    }
    const uint8_t *h = f + off;
    fl->ports_known = true;
    switch (proto) {
    case NET_PROTO_TCP: {
        size_t doff = (size_t)(h[12] >> 4) * 4;
        if (doff < 20 || doff > avail) {
            info->kind = NET_FRAME_BAD;
            return;
        }
        fl->src_port = be16(h);
        fl->dst_port = be16(h + 2);
        info->tcp_seq = be32(h + 4);
        info->tcp_ack = be32(h + 8);
        info->tcp_flags = h[13];
        info->tcp_payload = (uint32_t)(avail - doff);
        /* Only a bare SYN opens a connection; the rest belongs to one that exists (or
         * gets a reset from the stack). */
        bool opens = (h[13] & (NET_TCP_SYN | NET_TCP_ACK | NET_TCP_RST)) == NET_TCP_SYN;
        info->kind = opens ? NET_FRAME_FLOW : NET_FRAME_OTHER;
        return;
    }
    case NET_PROTO_UDP:
        fl->src_port = be16(h);
        fl->dst_port = be16(h + 2);
        info->kind = NET_FRAME_FLOW;
        return;
    default:
        /* ICMP: echo requests go out (and are judged); errors, neighbour discovery and
         * the rest are answered by the stack itself or dropped there. */
        fl->ports_known = true;
        info->kind =
            (proto == NET_PROTO_ICMP && h[0] == 8) || (proto == NET_PROTO_ICMP6 && h[0] == 128)
                ? NET_FRAME_FLOW
                : NET_FRAME_OTHER;
        return;
    }
}

static void parse_ipv4(const uint8_t *f, size_t len, struct net_frame_info *info)
{
    size_t off = NET_ETH_HLEN;
    if (len < off + 20) {
        info->kind = NET_FRAME_BAD;
        return;
    }
    const uint8_t *ip = f + off;
    size_t ihl = (size_t)(ip[0] & 15) * 4;
    size_t total = be16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < 20 || total < ihl || off + total > len) {
        info->kind = NET_FRAME_BAD;
        return;
    }
    info->l3_off = off;
    info->src.family = info->flow.dst.family = 4;
    memcpy(info->src.a, ip + 12, 4);
    memcpy(info->flow.dst.a, ip + 16, 4);
    uint16_t frag = be16(ip + 6);
    uint32_t frag_off = (uint32_t)(frag & 0x1fff) * 8;
    info->fragment = (frag & 0x2000) || frag_off; /* more fragments, or not the first */
    /* Trailing bytes past the IP length (Ethernet padding) are not the packet's. */
    parse_l4(f, off + total, off + ihl, ip[9], frag_off, info);
}

/* Walks IPv6 extension headers to the transport header. */
static void parse_ipv6(const uint8_t *f, size_t len, struct net_frame_info *info)
{
    size_t off = NET_ETH_HLEN;
    if (len < off + 40) {
        info->kind = NET_FRAME_BAD;
        return;
    }
    const uint8_t *ip = f + off;
    size_t end = off + 40 + be16(ip + 4);
    if ((ip[0] >> 4) != 6 || end > len) {
        info->kind = NET_FRAME_BAD;
        return;
    }
    info->l3_off = off;
    info->src.family = info->flow.dst.family = 6;
    memcpy(info->src.a, ip + 8, 16);
    memcpy(info->flow.dst.a, ip + 24, 16);
    uint8_t next = ip[6];
    size_t p = off + 40;
    bool fragmented = false;
    uint32_t frag_off = 0;
    for (int hops = 0; hops < 8; hops++) {
        switch (next) {
        case 0:  /* hop-by-hop */
        case 43: /* routing */
        case 60: /* destination options */
            if (p + 8 > end) {
                info->kind = NET_FRAME_BAD;
                return;
            }
            next = f[p];
            p += ((size_t)f[p + 1] + 1) * 8;
            continue;
        case 44: /* fragment */
            if (p + 8 > end || fragmented) {
                info->kind = NET_FRAME_BAD;
                return;
            }
            fragmented = info->fragment = true;
            next = f[p];
            frag_off = (uint32_t)(be16(f + p + 2) & 0xfff8);
            p += 8;
            continue;
        default:
            if (p > end) {
                info->kind = NET_FRAME_BAD;
                return;
            }
            parse_l4(f, end, p, next, frag_off, info);
            return;
        }
    }
    info->kind = NET_FRAME_BAD; /* a chain of headers longer than any real one */
}

void net_frame_parse(const uint8_t *f, size_t len, struct net_frame_info *info)
{
    memset(info, 0, sizeof(*info));
    info->kind = NET_FRAME_BAD;
    if (len < NET_ETH_HLEN)
        return;
    info->ethertype = be16(f + 12);
    switch (info->ethertype) {
    case NET_ETH_ARP:
        info->kind = NET_FRAME_OTHER;
        return;
    case NET_ETH_IPV4:
        parse_ipv4(f, len, info);
        return;
    case NET_ETH_IPV6:
        parse_ipv6(f, len, info);
        return;
    default:
        return; /* VLAN tags, NC-SI and the rest: nothing the network carries */
    }
}

/* The Internet checksum of data, starting from sum. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += be16(p + i);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

size_t net_frame_tcp_reply(const uint8_t *f, const struct net_frame_info *info, uint8_t flags,
                           uint32_t seq, uint32_t ack, uint8_t *out, size_t size)
{
    if (info->kind == NET_FRAME_BAD || info->flow.proto != NET_PROTO_TCP || !info->flow.ports_known)
        return 0;
    bool v6 = info->ethertype == NET_ETH_IPV6;
    size_t iplen = v6 ? 40 : 20, len = NET_ETH_HLEN + iplen + 20;
    if (size < len)
        return 0;
    memset(out, 0, len);
    memcpy(out, f + 6, 6); /* back to the sender's MAC, from the one it addressed */
    memcpy(out + 6, f, 6);
    put16(out + 12, info->ethertype);
    uint8_t *ip = out + NET_ETH_HLEN, *tcp = ip + iplen;
    const uint8_t *sip = f + info->l3_off;
    uint32_t sum = 0;
    if (v6) {
        ip[0] = 0x60;
        put16(ip + 4, 20);
        ip[6] = NET_PROTO_TCP;
        ip[7] = 64;
        memcpy(ip + 8, sip + 24, 16);
        memcpy(ip + 24, sip + 8, 16);
        sum = csum_add(sum, ip + 8, 32);
    } else {
        ip[0] = 0x45;
        put16(ip + 2, 40);
        put16(ip + 6, 0x4000); /* DF */
        ip[8] = 64;
        ip[9] = NET_PROTO_TCP;
        memcpy(ip + 12, sip + 16, 4);
        memcpy(ip + 16, sip + 12, 4);
        put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
        sum = csum_add(sum, ip + 12, 8);
    }
    put16(tcp, info->flow.dst_port);
    put16(tcp + 2, info->flow.src_port);
    put32(tcp + 4, seq);
    put32(tcp + 8, ack);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    if (!(flags & NET_TCP_RST))
        put16(tcp + 14, 65535);
    sum += NET_PROTO_TCP + 20;
    put16(tcp + 16, csum_fold(csum_add(sum, tcp, 20)));
    return len;
}

size_t net_frame_tcp_reset(const uint8_t *f, const struct net_frame_info *info, uint8_t *out,
                           size_t size)
{
    if (info->kind != NET_FRAME_FLOW || info->flow.proto != NET_PROTO_TCP ||
        (info->tcp_flags & NET_TCP_RST))
        return 0;
    /* RFC 9293 3.10.7.1: a segment without ACK gets seq 0 and an ACK of all it carried
     * (the SYN counts one). */
    uint32_t seglen = info->tcp_payload + ((info->tcp_flags & NET_TCP_SYN) ? 1 : 0) +
                      ((info->tcp_flags & NET_TCP_FIN) ? 1 : 0);
    return net_frame_tcp_reply(f, info, NET_TCP_RST | NET_TCP_ACK, 0, info->tcp_seq + seglen, out,
                               size);
}

void net_frame_gratuitous_arp(const uint8_t mac[6], uint32_t ip4, uint8_t out[NET_GARP_LEN])
{
    memset(out, 0, NET_GARP_LEN);
    memset(out, 0xff, 6); /* broadcast */
    memcpy(out + 6, mac, 6);
    put16(out + 12, NET_ETH_ARP);
    uint8_t *arp = out + NET_ETH_HLEN;
    put16(arp, 1);                /* hardware: Ethernet */
    put16(arp + 2, NET_ETH_IPV4); /* protocol: IPv4 */
    arp[4] = 6;                   /* hardware address length */
    arp[5] = 4;                   /* protocol address length */
    put16(arp + 6, 1);            /* request */
    memcpy(arp + 8, mac, 6);      /* sender */
    memcpy(arp + 14, &ip4, 4);
    memcpy(arp + 24, &ip4, 4); /* target address: its own (target MAC left zero) */
}
