/* The insides of the libslirp backend, shared by net_slirp.c (the stack and its loop),
 * net_forward.c (published ports) and net_control.c (the control socket). Everything here
 * runs on the backend's thread, except creation and destruction. */
#ifndef SM_NET_INTERNAL_H
#define SM_NET_INTERNAL_H

#include <poll.h>
#include <pthread.h>
#include <slirp/libslirp.h>
#include <stdint.h>
#include <time.h>

#include "net/net_backend.h"
#include "net/net_frame.h"
#include "net/net_policy.h"
#include "vmm/devices/virtio_devices.h"

/* Limits (docs/networking.md). Host sockets the stack may hold (guest connections, UDP
 * flows, forwards): beyond this the guest's new flows are refused. */
#define NET_MAX_SOCKETS  2048
#define NET_MAX_FORWARDS 64
#define NET_MAX_CLIENTS  8
#define NET_MAX_TIMERS   8
#define NET_TX_BUDGET    256  /* guest frames per loop turn: the rest waits a turn */
#define NET_SYNACKS      1024 /* guest SYN-ACKs remembered (net_slirp.c: duplicate_synack) */
#define NET_UDP_PEERS    1024 /* peers of published UDP ports remembered (udp_reply) */

struct net_timer {
    bool used, armed;
    int64_t expire_ms;
    SlirpTimerId id; /* timer_new_opaque */
    SlirpTimerCb cb; /* timer_new (older libslirp) */
    void *cb_opaque;
};

struct net_forward {
    struct net_publish p; /* as bound (host_port filled in) */
    bool unix_socket;     /* a `connect` forward: path in the instance directory */
    char path[32];
    int fd; /* the listening (TCP, Unix) or bound (UDP) socket libslirp made */
};

/* A SYN-ACK the guest sent for a connection from the host: its four-tuple and ISN. */
struct net_synack {
    uint8_t peer[16];
    uint16_t peer_port, port;
    uint32_t isn;
};

/* A peer that sent a datagram to a published UDP port of the guest. */
struct net_udp_peer {
    uint8_t peer[16];
    uint16_t peer_port, port;
};

struct net_client {
    int fd; /* -1: free */
    char line[NET_CONTROL_LINE];
    size_t len;
    time_t since;
};

struct net_slirp {
    struct virtio_net_backend backend;
    struct virtio_net *dev;
    Slirp *slirp;
    struct net_policy policy;
    pthread_t thread;
    bool running;
    int stop_fd;
    int control_fd;
    unsigned control_first; /* where the control entries start in this turn's poll set */
    /* A reset of the stack asked from another thread (net_backend_ops.reset): the
     * thread does it between two turns and reports through reset_cond. */
    int reset_fd;
    pthread_mutex_t reset_lock;
    pthread_cond_t reset_cond;
    bool reset_requested;
    sm_error_t reset_err; /* the failed reset's error (NULL: done), handed to the caller */
    SlirpConfig config;
    /* The ports published when the VM started (as bound): what a reset keeps. */
    struct net_publish initial[NET_MAX_FORWARDS];
    unsigned ninitial;
    struct net_client clients[NET_MAX_CLIENTS];
    /* This turn's poll set: ours first, then libslirp's (slirp_pollfds_fill). */
    struct pollfd *pfds;
    unsigned npfd, cap, nslirp;
    bool backlogged; /* the guest is behind: read no host socket until it catches up */
    struct net_timer timers[NET_MAX_TIMERS];
    struct net_forward fwd[NET_MAX_FORWARDS];
    unsigned nfwd;
    uint64_t refused, bad_frames, guest_errors;
    uint8_t rst[NET_RST_MAX];
    struct net_synack synacks[NET_SYNACKS];
    uint8_t udp_published[65536 / 8]; /* guest UDP ports published (bitmap) */
    bool any_udp_published;           /* some bit of it set: frames to note peers of */
    struct net_udp_peer udp_peers[NET_UDP_PEERS];
    int pcap_fd; /* $SUPERMACHINE_NET_PCAP, or -1 */
    void (*on_thread_start)(void);
};

/* net_forward.c */
int net_forward_add(struct net_slirp *s, const struct net_publish *p, struct net_publish *bound,
                    sm_error_t *err);
int net_forward_remove(struct net_slirp *s, const struct net_publish *p, sm_error_t *err);
/* The Unix socket for connections to the guest's TCP port (made once, then reused). */
int net_forward_unix(struct net_slirp *s, uint16_t guest_port, const char **path, sm_error_t *err);
void net_forward_write_list(struct net_slirp *s);
void net_forward_cleanup(struct net_slirp *s);

/* net_control.c */
int net_control_listen(struct net_slirp *s, sm_error_t *err);
/* Adds the control descriptors to the poll set; handles what poll reported. */
void net_control_poll_fill(struct net_slirp *s);
void net_control_poll_done(struct net_slirp *s);
void net_control_close(struct net_slirp *s);

/* net_slirp.c */
unsigned net_poll_add(struct net_slirp *s, int fd, short events);

#endif
