/* Reading the guest's Ethernet frames before they reach the network stack: what a frame
 * is (ARP, IPv4, IPv6; TCP, UDP, ICMP) and where it goes, so that the egress policy can
 * judge it, and the TCP reset that refuses a connection at once. Every length comes from
 * the guest and is checked; pure code, unit-tested. */
#ifndef SM_NET_FRAME_H
#define SM_NET_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net_policy.h"

#define NET_ETH_HLEN 14
#define NET_ETH_ARP  0x0806
#define NET_ETH_IPV4 0x0800
#define NET_ETH_IPV6 0x86dd
#define NET_TCP_FIN  0x01
#define NET_TCP_SYN  0x02
#define NET_TCP_RST  0x04
#define NET_TCP_ACK  0x10
#define NET_RST_MAX  (NET_ETH_HLEN + 40 + 20) /* the largest reset we build (IPv6) */

enum net_frame_kind {
    NET_FRAME_BAD,   /* malformed, or a kind the network does not carry: drop */
    NET_FRAME_OTHER, /* ARP, neighbour discovery, replies: nothing to judge */
    NET_FRAME_FLOW,  /* may open a flow (TCP SYN, UDP, ICMP echo): judge info.flow */
};

struct net_frame_info {
    enum net_frame_kind kind;
    struct net_flow flow;
    struct net_addr src;
    uint16_t ethertype;
    uint8_t tcp_flags;
    uint32_t tcp_seq, tcp_ack;
    uint32_t tcp_payload; /* bytes after the TCP header (in this frame) */
    bool fragment;        /* an IPv4 or IPv6 fragment (first or later) */
    size_t l3_off, l4_off;
};

/* Classifies a frame the guest sent. */
void net_frame_parse(const uint8_t *f, size_t len, struct net_frame_info *info);
/* Builds into out the RST|ACK that refuses the TCP segment f (NET_FRAME_FLOW, TCP); returns
 * its length, 0 if none applies. */
size_t net_frame_tcp_reset(const uint8_t *f, const struct net_frame_info *info, uint8_t *out,
                           size_t size);
/* Builds into out a TCP segment answering f (any TCP segment whose header was read), from
 * its destination back to its source, with the given flags, sequence and ack numbers. */
size_t net_frame_tcp_reply(const uint8_t *f, const struct net_frame_info *info, uint8_t flags,
                           uint32_t seq, uint32_t ack, uint8_t *out, size_t size);
/* The size of a gratuitous ARP frame (Ethernet header and ARP for IPv4 over Ethernet). */
#define NET_GARP_LEN (NET_ETH_HLEN + 28)
/* Builds into out the gratuitous ARP a host with this MAC and IPv4 address (network order)
 * broadcasts to announce itself: a request whose sender and target address are its own. */
void net_frame_gratuitous_arp(const uint8_t mac[6], uint32_t ip4, uint8_t out[NET_GARP_LEN]);

#endif
