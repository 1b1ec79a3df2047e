#include "net/net_policy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int net_addr_parse(const char *text, struct net_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, text, out->a) == 1) {
        out->family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, text, out->a) == 1) {
        out->family = 6;
        return 0;
    }
    return -1;
}

void net_addr_format(const struct net_addr *a, char *out, size_t size)
{
    if (inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->a, out, (socklen_t)size) == NULL)
        snprintf(out, size, "?");
}

/* A decimal port, 1-65535 (0 too when zero_ok). */
static int parse_port(const char *s, size_t len, bool zero_ok, uint16_t *out)
{
    if (len == 0 || len > 5)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535 || (v == 0 && !zero_ok))
        return -1;
    *out = (uint16_t)v;
    return 0;
}

/* Strips a trailing "/tcp" or "/udp" from s[0..*len). Returns the protocol, 0 if none. */
static uint8_t strip_proto(const char *s, size_t *len)
{
    if (*len > 4 && strncmp(s + *len - 4, "/tcp", 4) == 0) {
        *len -= 4;
        return NET_PROTO_TCP;
    }
    if (*len > 4 && strncmp(s + *len - 4, "/udp", 4) == 0) {
        *len -= 4;
        return NET_PROTO_UDP;
    }
    return 0;
}

static int parse_addr_n(const char *s, size_t len, struct net_addr *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return net_addr_parse(buf, out);
}

int net_publish_parse(const char *spec, struct net_publish *out, sm_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->host.family = 4; /* 0.0.0.0 */
    size_t len = strlen(spec);
    out->proto = strip_proto(spec, &len);
    if (out->proto == 0) {
        if (memchr(spec, '/', len))
            return sm_error_set(err, 0, "publish %s: the protocol must be tcp or udp", spec);
        out->proto = NET_PROTO_TCP;
    }
    if (memchr(spec, '-', len))
        return sm_error_set(err, 0, "publish %s: port ranges are not supported", spec);
    const char *ports = spec;
    size_t plen = len;
    if (len && spec[0] == '[') {
        const char *close = memchr(spec, ']', len);
        if (close == NULL || close + 1 >= spec + len || close[1] != ':' ||
            parse_addr_n(spec + 1, (size_t)(close - spec - 1), &out->host) < 0 ||
            out->host.family != 6)
            return sm_error_set(err, 0, "publish %s: want [IPV6]:HOSTPORT:GUESTPORT", spec);
        ports = close + 2;
        plen = len - (size_t)(ports - spec);
        /* "[::1]:8080:80" or "[::1]::80": ports is "8080:80" or ":80". */
        const char *c = memchr(ports, ':', plen);
        if (c == NULL)
            return sm_error_set(err, 0, "publish %s: want [IPV6]:HOSTPORT:GUESTPORT", spec);
    } else {
        unsigned colons = 0;
        for (size_t i = 0; i < len; i++)
            colons += spec[i] == ':';
        if (colons > 2)
            return sm_error_set(err, 0,
                                "publish %s: an IPv6 address goes in brackets, "
                                "[::1]:8080:80",
                                spec);
        if (colons == 2) {
            const char *c = memchr(spec, ':', len);
            if (parse_addr_n(spec, (size_t)(c - spec), &out->host) < 0 || out->host.family != 4)
                return sm_error_set(err, 0, "publish %s: %.*s is not an IP address", spec,
                                    (int)(c - spec), spec);
            ports = c + 1;
            plen = len - (size_t)(ports - spec);
        }
    }
    const char *c = memchr(ports, ':', plen);
    const char *guest = c ? c + 1 : ports;
    size_t glen = plen - (size_t)(guest - ports);
    if (parse_port(guest, glen, false, &out->guest_port) < 0)
        return sm_error_set(err, 0, "publish %s: the guest port must be 1-65535", spec);
    /* As docker: a host port left out or 0 is any free one. */
    if (c && parse_port(ports, (size_t)(c - ports), true, &out->host_port) < 0 && c != ports)
        return sm_error_set(err, 0, "publish %s: the host port must be 0-65535", spec);
    return 0;
}

void net_publish_format(const struct net_publish *p, char *out, size_t size)
{
    char a[46];
    net_addr_format(&p->host, a, sizeof(a));
    snprintf(out, size, p->host.family == 6 ? "[%s]:%u:%u/%s" : "%s:%u:%u/%s", a, p->host_port,
             p->guest_port, p->proto == NET_PROTO_UDP ? "udp" : "tcp");
}

static int parse_cidr(const char *s, size_t len, struct net_rule *r)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    if (parse_addr_n(s, alen, &r->addr) < 0)
        return -1;
    unsigned max = r->addr.family == 4 ? 32 : 128;
    r->prefix = (uint8_t)max;
    if (slash) {
        uint16_t v;
        if (parse_port(slash + 1, len - alen - 1, true, &v) < 0 || v > max)
            return -1;
        r->prefix = (uint8_t)v;
    }
    return 0;
}

int net_rule_parse(const char *text, struct net_rule *out, sm_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->port_hi = 65535;
    size_t len = strlen(text);
    out->proto = strip_proto(text, &len);
    const char *ports = NULL;
    size_t plen = 0;
    int bad;
    if (len && text[0] == '[') {
        /* "[CIDR]:PORTS" or "[ADDR]/PREFIX:PORTS" */
        const char *close = memchr(text, ']', len);
        if (close == NULL)
            return sm_error_set(err, 0, "egress rule %s: no closing bracket", text);
        char cidr[80];
        const char *rest = close + 1;
        size_t rlen = len - (size_t)(rest - text);
        const char *colon = memchr(rest, ':', rlen);
        size_t tail = colon ? (size_t)(colon - rest) : rlen; /* "/PREFIX" after ']' */
        int n = snprintf(cidr, sizeof(cidr), "%.*s%.*s", (int)(close - text - 1), text + 1,
                         (int)tail, rest);
        bad = n < 0 || (size_t)n >= sizeof(cidr) || parse_cidr(cidr, (size_t)n, out) < 0 ||
              out->addr.family != 6;
        if (colon) {
            ports = colon + 1;
            plen = rlen - tail - 1;
        }
    } else {
        unsigned colons = 0;
        for (size_t i = 0; i < len; i++)
            colons += text[i] == ':';
        if (colons == 1) {
            const char *colon = memchr(text, ':', len);
            ports = colon + 1;
            plen = len - (size_t)(ports - text);
            len = (size_t)(colon - text);
        }
        bad = parse_cidr(text, len, out) < 0;
    }
    if (bad)
        return sm_error_set(err, 0,
                            "egress rule %s: want CIDR[:PORT[-PORT]][/tcp|/udp], e.g. "
                            "10.0.0.0/8:443/tcp or [2001:db8::/32]:53",
                            text);
    if (ports) {
        const char *dash = memchr(ports, '-', plen);
        size_t lo_len = dash ? (size_t)(dash - ports) : plen;
        if (parse_port(ports, lo_len, false, &out->port_lo) < 0 ||
            (dash ? parse_port(dash + 1, plen - lo_len - 1, false, &out->port_hi)
                  : ((out->port_hi = out->port_lo), 0)) < 0 ||
            out->port_hi < out->port_lo)
            return sm_error_set(err, 0, "egress rule %s: bad port or port range", text);
    }
    return 0;
}

/* ---- the policy ---------------------------------------------------------------- */

static bool in_prefix(const struct net_addr *a, const struct net_addr *net, unsigned prefix)
{
    if (a->family != net->family)
        return false;
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(a->a, net->a, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a->a[full] & mask) == (net->a[full] & mask);
}

static bool is(const struct net_addr *a, const char *text)
{
    struct net_addr b;
    return net_addr_parse(text, &b) == 0 && a->family == b.family &&
           memcmp(a->a, b.a, a->family == 4 ? 4 : 16) == 0;
}

static bool in(const struct net_addr *a, const char *text, unsigned prefix)
{
    struct net_addr b;
    return net_addr_parse(text, &b) == 0 && in_prefix(a, &b, prefix);
}

static bool rule_matches(const struct net_rule *r, const struct net_flow *f)
{
    if (!in_prefix(&f->dst, &r->addr, r->prefix))
        return false;
    if (r->proto && r->proto != f->proto)
        return false;
    bool any_port = r->port_lo <= 1 && r->port_hi == 65535;
    if (any_port)
        return true;
    if (f->proto != NET_PROTO_TCP && f->proto != NET_PROTO_UDP)
        return false; /* ICMP has no port: only port-less rules speak of it */
    /* A later fragment's port is unknown: a port rule cannot clear it, but may refuse it
     * (the caller drops it unless its first fragment's verdict was known). */
    return f->ports_known && f->dst_port >= r->port_lo && f->dst_port <= r->port_hi;
}

bool net_policy_allows(const struct net_policy *p, const struct net_flow *f, const char **why)
{
    const char *ignored;
    const char **w = why ? why : &ignored;
    struct net_addr d = f->dst;
    /* IPv4-mapped IPv6 (::ffff:a.b.c.d) reaches IPv4 hosts: judge it as IPv4. */
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (d.family == 6 && memcmp(d.a, mapped, 12) == 0) {
        d.family = 4;
        memmove(d.a, d.a + 12, 4);
        memset(d.a + 4, 0, 12);
    }
    /* The network's own services: DNS on port 53 only (libslirp forwards it to the
     * host's resolvers), the gateway only as the host, when allowed. */
    bool echo = f->proto == NET_PROTO_ICMP || f->proto == NET_PROTO_ICMP6;
    if (echo && (is(&d, NET_DNS_IP4) || is(&d, NET_DNS_IP6) || is(&d, NET_HOST_IP4) ||
                 is(&d, NET_HOST_IP6)))
        return true; /* answered by the network stack itself */
    if (is(&d, NET_DNS_IP4) || is(&d, NET_DNS_IP6)) {
        bool dns = (f->proto == NET_PROTO_UDP || f->proto == NET_PROTO_TCP) && f->ports_known &&
                   f->dst_port == 53;
        *w = "the DNS forwarder answers on port 53 only";
        return dns;
    }
    if ((is(&d, NET_HOST_IP4) || in(&d, NET_HOST_IP6, NET_PREFIX6)) && !p->allow_host_loopback) {
        /* libslirp sends what reaches the gateway (and any address of the IPv6 prefix)
         * to the host's loopback. Once allowed, the rules below apply to it as to any
         * destination. */
        *w = "the host's loopback is closed (--allow-host-loopback opens it)";
        return false;
    }
    bool host = is(&d, NET_HOST_IP4) || in(&d, NET_HOST_IP6, NET_PREFIX6);
    if ((!host && in(&d, NET_GUEST_IP4, NET_PREFIX4)) || in(&d, "0.0.0.0", 8) || is(&d, "::") ||
        is(&d, "255.255.255.255") || in(&d, "224.0.0.0", 4) || in(&d, "ff00::", 8)) {
        /* The rest of the virtual LAN, "this host" (0.0.0.0 means the host's loopback to
         * connect()), broadcast and multicast (libslirp turns broadcast and all-nodes into
         * the host's loopback too): nothing there for the guest. */
        *w = "not a destination outside the VM";
        return false;
    }
    if (!p->allow_host_loopback && (in(&d, "127.0.0.0", 8) || is(&d, "::1") ||
                                    in(&d, "169.254.0.0", 16) || in(&d, "fe80::", 10))) {
        *w = "loopback and link-local addresses are closed (--allow-host-loopback opens them)";
        return false;
    }
    /* The rules see the destination as judged above (a mapped address as IPv4). */
    struct net_flow judged = *f;
    judged.dst = d;
    f = &judged;
    for (unsigned i = 0; i < p->ndeny; i++) {
        if (rule_matches(&p->deny[i], f) ||
            (!f->ports_known && in_prefix(&d, &p->deny[i].addr, p->deny[i].prefix))) {
            *w = "an --egress-deny rule";
            return false;
        }
    }
    if (p->nallow == 0)
        return true;
    for (unsigned i = 0; i < p->nallow; i++)
        if (rule_matches(&p->allow[i], f))
            return true;
    *w = "no --egress-allow rule matches";
    return false;
}

int net_policy_add_rules(struct net_policy *p, const char *const *allow, const char *const *deny,
                         sm_error_t *err)
{
    for (size_t i = 0; allow && allow[i]; i++) {
        if (p->nallow == NET_MAX_RULES)
            return sm_error_set(err, 0, "more than %d --egress-allow rules", NET_MAX_RULES);
        if (net_rule_parse(allow[i], &p->allow[p->nallow], err) < 0)
            return -1;
        p->nallow++;
    }
    for (size_t i = 0; deny && deny[i]; i++) {
        if (p->ndeny == NET_MAX_RULES)
            return sm_error_set(err, 0, "more than %d --egress-deny rules", NET_MAX_RULES);
        if (net_rule_parse(deny[i], &p->deny[p->ndeny], err) < 0)
            return -1;
        p->ndeny++;
    }
    return 0;
}
