/* The virtio-mmio transport (version 2), apart from the device models (as kvmtool's
 * virtio/mmio.c): registers, feature negotiation, queue setup, interrupts through an
 * irqfd and notifications through an ioeventfd. A device model supplies virtio_ops. */
#ifndef SM_VIRTIO_MMIO_H
#define SM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/virtio/virtq.h"

#define VIRTIO_MMIO_MAX_QUEUES      4
#define VIRTIO_F_VERSION_1          (1ull << 32)
#define VIRTIO_RING_F_INDIRECT_DESC (1ull << 28)
#define VIRTIO_RING_F_EVENT_IDX     (1ull << 29)

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED      128

struct virtio_mmio;

struct virtio_ops {
    const char *name;
    uint32_t device_id;
    uint64_t features; /* device-specific; the transport adds VERSION_1, INDIRECT, EVENT_IDX */
    unsigned nqueues;
    uint16_t queue_max;
    uint32_t config_len;
    /* The device's own thread reads notify_fd (virtio-net: its backend's loop); otherwise
     * the VM's device loop does and calls notify. */
    bool own_notify;
    /* Config space access (offset/len already checked against config_len). */
    void (*config_read)(void *dev, uint32_t off, uint8_t *data, uint32_t len);
    void (*config_write)(void *dev, uint32_t off, const uint8_t *data, uint32_t len);
    /* A queue has new buffers (runs on the device thread). */
    void (*notify)(void *dev, struct virtio_mmio *t, unsigned queue);
    /* The driver finished setup (DRIVER_OK) or reset the device. */
    void (*activate)(void *dev, struct virtio_mmio *t);
    void (*reset)(void *dev, struct virtio_mmio *t);
};

/* The transport's guest-visible state: what a snapshot saves. */
struct virtio_mmio_state {
    uint32_t status;
    uint32_t device_features_sel, driver_features_sel;
    uint64_t driver_features;
    uint32_t queue_sel;
    uint32_t interrupt_status;
    uint32_t config_generation;
    struct virtq_state queues[VIRTIO_MMIO_MAX_QUEUES];
};

struct virtio_mmio {
    pthread_mutex_t lock;
    struct virtio_mmio_state s;
    struct virtq vq[VIRTIO_MMIO_MAX_QUEUES];
    const struct virtio_ops *ops;
    void *dev;
    uint64_t base;
    uint32_t gsi;
    int irq_fd;        /* eventfd bound to the GSI */
    int notify_fd;     /* eventfd bound to QueueNotify */
    uint64_t failures; /* virtio_mmio_fail calls (not saved: counts this process's log lines) */
};

struct vm_memory;
/* Sets up the transport's state (no hypervisor calls: the VM wires irq_fd/notify_fd). */
int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_ops *ops, void *dev,
                     const struct vm_memory *mem, uint64_t base, uint32_t gsi, sm_error_t *err);
/* MMIO handler for the device's 4 KiB window (bus_handler_fn). */
void virtio_mmio_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
/* ioloop callback for notify_fd: runs the device's notify for every ready queue. */
void virtio_mmio_notified(void *opaque, uint32_t events);
/* After pushing used buffers on a queue: interrupt the guest if it wants one. */
void virtio_mmio_used(struct virtio_mmio *t, unsigned queue);
/* Has the device's notify run again from the device loop, as if the guest had notified:
 * a device that stops after a bounded amount of work resumes there, with the transport
 * lock released in between. */
void virtio_mmio_renotify(struct virtio_mmio *t);
/* Config changed on the device side: bump the generation and interrupt. */
void virtio_mmio_config_changed(struct virtio_mmio *t);
/* The guest broke the protocol (bad descriptor chain): mark NEEDS_RESET and stop using
 * the device until the driver resets it. Logged the first 8 times, then at the 16th,
 * 32nd, 64th...: a guest that resets and breaks it in a loop cannot fill the disk with
 * the VMM's log. */
void virtio_mmio_fail(struct virtio_mmio *t, const char *why);
/* The next descriptor chain of queue q (virtq_pop): 1 with *c filled, 0 when the queue is
 * empty, -1 when the guest broke the protocol (the device has failed: virtio_mmio_fail). */
int virtio_mmio_pop(struct virtio_mmio *t, unsigned q, struct virtq_chain *c);
bool virtio_mmio_active(struct virtio_mmio *t);
/* Takes a transport state from a snapshot file (untrusted): every ready queue's rings are
 * validated as when a driver sets them up. */
int virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_mmio_state *s, sm_error_t *err);

#endif
