/* The guest's Ethernet frames before they reach the network (src/net/net_frame.c): what a
 * frame is and where it goes, the policy's verdict on it, and the TCP segments built in
 * answer to it (reset, reply), which must stay inside their buffers whatever the frame's
 * lengths claim. */
#include <stdlib.h>
#include <string.h>

#include "net/net_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct net_policy policy;
    static bool init;
    if (!init) {
        static const char *const allow[] = {"10.0.2.2:53/udp", "[fd00::2]:53", NULL};
        static const char *const deny[] = {"10.0.0.0/8", "0.0.0.0/0:25/tcp", "[::/0]:1-1024", NULL};
        net_policy_add_rules(&policy, allow, deny, NULL);
        init = true;
    }
    /* An exact-size copy: ASan then sees any read past the frame's end. */
    uint8_t *f = malloc(size ? size : 1);
    memcpy(f, data, size);
    struct net_frame_info info;
    net_frame_parse(f, size, &info);
    if (info.kind == NET_FRAME_FLOW) {
        const char *why = NULL;
        policy.allow_host_loopback = size & 1;
        net_policy_allows(&policy, &info.flow, &why);
        uint8_t out[NET_RST_MAX];
        net_frame_tcp_reset(f, &info, out, sizeof(out));
        net_frame_tcp_reset(f, &info, out, size % sizeof(out)); /* too small, sometimes */
    }
    if (info.kind != NET_FRAME_BAD && info.flow.proto == NET_PROTO_TCP) {
        uint8_t out[NET_RST_MAX];
        net_frame_tcp_reply(f, &info, NET_TCP_ACK, info.tcp_ack, info.tcp_seq + 1, out,
                            sizeof(out));
    }
    free(f);
    return 0;
}
