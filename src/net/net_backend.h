/* The VMM's user-mode network (docs/networking.md): libslirp behind the VM's virtio-net
 * device, on a thread of its own, with the egress policy applied to the guest's frames
 * before the stack sees them, published ports as libslirp host forwards, and a control
 * socket through which the library publishes, unpublishes and connects while the VM runs.
 *
 * The implementation (net_slirp.c) is linked into supermachine-vmm only; the library's
 * VMM process code (runtime/vmm_process.c) reaches it through these operations, so that
 * neither the library nor the CLI loads libslirp and GLib. */
#ifndef SM_NET_BACKEND_H
#define SM_NET_BACKEND_H

#include <stdbool.h>

#include "common/error.h"

struct virtio_net_backend;

/* The control protocol, one request per connection on NET_CONTROL_SOCKET (in the VM's
 * instance directory), one line each way:
 *   "publish SPEC"   -> "ok SPEC-AS-BOUND" (the host port filled in when it was 0)
 *   "unpublish SPEC" -> "ok"
 *   "connect PORT"   -> "ok FILE": a Unix socket in the instance directory whose every
 *                       connection reaches the guest's TCP PORT
 *   errors           -> "error MESSAGE" */
#define NET_CONTROL_SOCKET "net.sock"
#define NET_CONTROL_LINE   512
/* The ports published now, one canonical spec a line, rewritten (atomically) on change. */
#define NET_PORTS_FILE "ports"

struct net_backend_config {
    bool allow_host_loopback;
    const char *const *publish; /* NULL-terminated -p specs */
    const char *const *egress_allow, *const *egress_deny;
    /* NULL, or run first thing on the network's thread (the VMM confines it there). */
    void (*on_thread_start)(void);
};

struct net_backend_ops {
    /* Sets up the stack, the policy, the published ports (a host port in use is an error
     * naming it) and the control socket, in the current directory. */
    int (*create)(const struct net_backend_config *cfg, void **out, sm_error_t *err);
    /* What vm_config.net takes. */
    const struct virtio_net_backend *(*device)(void *nb);
    /* Starts the thread (once the VM, and so the device, exists). */
    int (*start)(void *nb, sm_error_t *err);
    /* Starts the stack over as it was created, on its thread, and returns once done:
     * every connection and flow the guest had is closed on the host, ports published
     * since are withdrawn (those of the configuration stay, on the ports they were bound
     * to), the list of ports is rewritten. For a VM reset to its snapshot, while the
     * device is frozen. */
    int (*reset)(void *nb, sm_error_t *err);
    /* Stops the thread: before vm_destroy. */
    void (*stop)(void *nb);
    void (*destroy)(void *nb);
};

extern const struct net_backend_ops net_slirp_ops;

#endif
