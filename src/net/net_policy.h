/* A VM's user-mode network (docs/networking.md): its fixed addresses, the syntax of
 * `run -p` and of the egress rules, and the policy that decides which new outbound flows
 * of the guest may leave. Pure code (no sockets), shared by the CLI, the library and the
 * VMM's network backend, and unit-tested. */
#ifndef SM_NET_POLICY_H
#define SM_NET_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* The guest network (the addresses QEMU's user networking made familiar; IPv6 in a ULA
 * prefix so that the guest prefers IPv4 where both exist, RFC 6724). */
#define NET_GUEST_IP4 "10.0.2.15"
#define NET_PREFIX4   24
#define NET_HOST_IP4  "10.0.2.2" /* the gateway; the host's loopback when allowed */
#define NET_DNS_IP4   "10.0.2.3" /* forwards to the host's resolvers */
#define NET_GUEST_IP6 "fd00::15"
#define NET_PREFIX6   64
#define NET_HOST_IP6  "fd00::2"
#define NET_DNS_IP6   "fd00::3"
#define NET_GUEST_MAC                                                                              \
    {                                                                                              \
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56                                                         \
    }
#define NET_MTU         65520 /* large frames: far fewer trips through the stack */
#define NET_PROTO_ICMP  1
#define NET_PROTO_TCP   6
#define NET_PROTO_UDP   17
#define NET_PROTO_ICMP6 58

/* An address: IPv4 in a[0..3] (family 4) or IPv6 (family 6). */
struct net_addr {
    uint8_t family;
    uint8_t a[16];
};

int net_addr_parse(const char *text, struct net_addr *out);
/* Writes the address as text (IPv6 without brackets); out needs 46 bytes. */
void net_addr_format(const struct net_addr *a, char *out, size_t size);

/* A published port: `[IP:][HOSTPORT:]GUESTPORT[/tcp|/udp]`, docker's -p. */
struct net_publish {
    uint8_t proto;        /* NET_PROTO_TCP or NET_PROTO_UDP */
    struct net_addr host; /* default 0.0.0.0: every interface, as docker */
    uint16_t host_port;   /* 0: any free port */
    uint16_t guest_port;
};
int net_publish_parse(const char *spec, struct net_publish *out, sm_error_t *err);
/* The canonical spec ("127.0.0.1:8080:80/tcp", "[::1]:8080:80/udp"); out needs 80 bytes. */
void net_publish_format(const struct net_publish *p, char *out, size_t size);

/* An egress rule: `CIDR[:PORT[-PORT]][/tcp|/udp]`, an IPv6 CIDR in brackets when a port
 * follows ("[2001:db8::/32]:443"). An address alone is a /32 or /128. */
struct net_rule {
    struct net_addr addr;
    uint8_t prefix;
    uint8_t proto; /* 0: TCP, UDP and ICMP echo alike */
    uint16_t port_lo, port_hi;
};
int net_rule_parse(const char *text, struct net_rule *out, sm_error_t *err);

/* A new outbound flow of the guest, as read from its frame. */
struct net_flow {
    uint8_t proto; /* NET_PROTO_TCP, _UDP, or _ICMP / _ICMP6 for an echo request */
    struct net_addr dst;
    uint16_t src_port, dst_port; /* 0 for ICMP */
    bool ports_known;            /* false: a later fragment, without the L4 header */
};

#define NET_MAX_RULES 256

struct net_policy {
    bool allow_host_loopback;
    struct net_rule allow[NET_MAX_RULES], deny[NET_MAX_RULES];
    unsigned nallow, ndeny;
};

/* Judges a new flow: true if it may leave; else *why says which rule refused it. (Replies
 * of published services are not new flows: the backend lets them through itself.) */
bool net_policy_allows(const struct net_policy *p, const struct net_flow *f, const char **why);
/* Adds "allow"/"deny" rules from text (NULL-terminated lists). */
int net_policy_add_rules(struct net_policy *p, const char *const *allow, const char *const *deny,
                         sm_error_t *err);

#endif
