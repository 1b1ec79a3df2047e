/* The network's text syntax (src/net/net_policy.c): `-p` specs, egress rules and addresses,
 * one per input line, and the canonical form of a parsed spec, which must parse again to
 * the same thing. */
#include <stdlib.h>
#include <string.h>

#include "net/net_policy.h"

static void one(const char *s)
{
    sm_error_t err = NULL;
    struct net_publish p, p2;
    /* (Port 0, "any free port", has no canonical form that parses again.) */
    if (net_publish_parse(s, &p, &err) == 0 && p.host_port != 0) {
        char out[80];
        net_publish_format(&p, out, sizeof(out));
        if (net_publish_parse(out, &p2, NULL) < 0 || p2.proto != p.proto ||
            p2.host_port != p.host_port || p2.guest_port != p.guest_port ||
            memcmp(&p2.host, &p.host, sizeof(p.host)) != 0)
            abort(); /* the canonical form does not say the same */
    }
    sm_error_release(&err);
    struct net_rule r;
    net_rule_parse(s, &r, &err);
    sm_error_release(&err);
    struct net_addr a;
    if (net_addr_parse(s, &a) == 0) {
        char out[46];
        net_addr_format(&a, out, sizeof(out));
    }
    static struct net_policy pol;
    memset(&pol, 0, sizeof(pol));
    const char *const list[] = {s, NULL};
    if (net_policy_add_rules(&pol, list, list, &err) == 0) {
        struct net_flow f = {
            .proto = NET_PROTO_TCP, .dst = pol.allow[0].addr, .dst_port = 443, .ports_known = true};
        const char *why;
        net_policy_allows(&pol, &f, &why);
    }
    sm_error_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        one(line);
    if (size == 0)
        one("");
    free(text);
    return 0;
}
