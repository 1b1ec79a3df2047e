#include "vmm/virtio/mmio.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "vmm/memory.h"

enum {
    REG_MAGIC = 0x000,
    REG_VERSION = 0x004,
    REG_DEVICE_ID = 0x008,
    REG_VENDOR_ID = 0x00c,
    REG_DEVICE_FEATURES = 0x010,
    REG_DEVICE_FEATURES_SEL = 0x014,
    REG_DRIVER_FEATURES = 0x020,
    REG_DRIVER_FEATURES_SEL = 0x024,
    REG_QUEUE_SEL = 0x030,
    REG_QUEUE_NUM_MAX = 0x034,
    REG_QUEUE_NUM = 0x038,
    REG_QUEUE_READY = 0x044,
    REG_QUEUE_NOTIFY = 0x050,
    REG_INTERRUPT_STATUS = 0x060,
    REG_INTERRUPT_ACK = 0x064,
    REG_STATUS = 0x070,
    REG_QUEUE_DESC_LOW = 0x080,
    REG_QUEUE_DESC_HIGH = 0x084,
    REG_QUEUE_DRIVER_LOW = 0x090,
    REG_QUEUE_DRIVER_HIGH = 0x094,
    REG_QUEUE_DEVICE_LOW = 0x0a0,
    REG_QUEUE_DEVICE_HIGH = 0x0a4,
    REG_CONFIG_GENERATION = 0x0fc,
    REG_CONFIG = 0x100,
};
#define MAGIC      0x74726976u /* "virt" */
#define VENDOR_ID  0x4d534d53u /* "SMSM" */
#define INT_USED   1u
#define INT_CONFIG 2u

static uint64_t offered(const struct virtio_mmio *t)
{
    return t->ops->features | VIRTIO_F_VERSION_1 | VIRTIO_RING_F_INDIRECT_DESC |
           VIRTIO_RING_F_EVENT_IDX;
}

int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_ops *ops, void *dev,
                     const struct vm_memory *mem, uint64_t base, uint32_t gsi, sm_error_t *err)
{
    if (ops->nqueues > VIRTIO_MMIO_MAX_QUEUES)
        return sm_error_set(err, 0, "virtio %s: too many queues", ops->name);
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    t->ops = ops;
    t->dev = dev;
    t->base = base;
    t->gsi = gsi;
    t->irq_fd = t->notify_fd = -1;
    for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
        t->vq[i].mem = mem;
    return 0;
}

static void raise_irq(struct virtio_mmio *t, uint32_t why)
{
    __atomic_or_fetch(&t->s.interrupt_status, why, __ATOMIC_SEQ_CST);
    uint64_t one = 1;
    ssize_t w = write(t->irq_fd, &one, sizeof(one));
    (void)w;
}

bool virtio_mmio_active(struct virtio_mmio *t)
{
    uint32_t st = __atomic_load_n(&t->s.status, __ATOMIC_ACQUIRE);
    return (st & VIRTIO_STATUS_DRIVER_OK) && !(st & VIRTIO_STATUS_NEEDS_RESET);
}

void virtio_mmio_used(struct virtio_mmio *t, unsigned q)
{
    if (virtq_should_notify(&t->vq[q]))
        raise_irq(t, INT_USED);
}

void virtio_mmio_renotify(struct virtio_mmio *t)
{
    uint64_t one = 1;
    ssize_t w = write(t->notify_fd, &one, sizeof(one));
    (void)w;
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
    __atomic_add_fetch(&t->s.config_generation, 1, __ATOMIC_SEQ_CST);
    raise_irq(t, INT_CONFIG);
}

void virtio_mmio_fail(struct virtio_mmio *t, const char *why)
{
    /* Called from device callbacks, which run with the transport lock held. */
    uint32_t old = __atomic_fetch_or(&t->s.status, VIRTIO_STATUS_NEEDS_RESET, __ATOMIC_SEQ_CST);
    if (!(old & VIRTIO_STATUS_NEEDS_RESET)) {
        uint64_t n = ++t->failures;
        if (n <= 8 || (n & (n - 1)) == 0)
            fprintf(stderr,
                    "supermachine: virtio-%s: %s; the device stops until reset (%llu so far)\n",
                    t->ops->name, why, (unsigned long long)n);
        raise_irq(t, INT_CONFIG);
    }
}

int virtio_mmio_pop(struct virtio_mmio *t, unsigned q, struct virtq_chain *c)
{
    sm_error_t err = NULL;
    int r = virtq_pop(&t->vq[q], c, &err);
    if (r < 0) {
        virtio_mmio_fail(t, sm_error_message(err));
        sm_error_release(&err);
    }
    return r;
}

void virtio_mmio_notified(void *opaque, uint32_t events)
{
    struct virtio_mmio *t = opaque;
    uint64_t v;
    ssize_t r = read(t->notify_fd, &v, sizeof(v));
    (void)r;
    /* Holding the lock keeps a driver reset on a vCPU from pulling the rings away while
     * the device walks them. */
    pthread_mutex_lock(&t->lock);
    if (virtio_mmio_active(t))
        for (unsigned q = 0; q < t->ops->nqueues; q++)
            if (t->vq[q].s.ready)
                t->ops->notify(t->dev, t, q);
    pthread_mutex_unlock(&t->lock);
}

int virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_mmio_state *s, sm_error_t *err)
{
    t->s = *s;
    for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
        /* The file's bools may hold any byte (found by fuzz/fuzz_snapshot.c). */
        struct virtq_state *qs = &t->s.queues[q];
        sm_bool_sanitize(&qs->ready);
        sm_bool_sanitize(&qs->event_idx);
        sm_bool_sanitize(&qs->signalled_valid);
        t->vq[q].s = *qs;
        /* Rings from a file are re-checked like rings a driver sets up. */
        if (t->vq[q].s.ready && virtq_validate(&t->vq[q], err) < 0)
            return sm_error_wrap(err, "queue %u", q);
    }
    return 0;
}

static void reset_locked(struct virtio_mmio *t)
{
    memset(&t->s, 0, sizeof(t->s));
    for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
        memset(&t->vq[i].s, 0, sizeof(t->vq[i].s));
}

static uint32_t read_reg(struct virtio_mmio *t, uint64_t off)
{
    struct virtio_mmio_state *s = &t->s;
    struct virtq_state *q = s->queue_sel < t->ops->nqueues ? &t->vq[s->queue_sel].s : NULL;
    switch (off) {
    case REG_MAGIC:
        return MAGIC;
    case REG_VERSION:
        return 2;
    case REG_DEVICE_ID:
        return t->ops->device_id;
    case REG_VENDOR_ID:
        return VENDOR_ID;
    case REG_DEVICE_FEATURES:
        return s->device_features_sel == 0   ? (uint32_t)offered(t)
               : s->device_features_sel == 1 ? (uint32_t)(offered(t) >> 32)
                                             : 0;
    case REG_QUEUE_NUM_MAX:
        return q ? t->ops->queue_max : 0;
    case REG_QUEUE_READY:
        return q ? q->ready : 0;
    case REG_INTERRUPT_STATUS:
        return __atomic_load_n(&s->interrupt_status, __ATOMIC_SEQ_CST);
    case REG_STATUS:
        return s->status;
    case REG_CONFIG_GENERATION:
        return s->config_generation;
    default:
        return 0;
    }
}

static void set_addr(uint64_t *a, bool high, uint32_t v)
{
    *a = high ? (*a & 0xffffffffull) | ((uint64_t)v << 32) : (*a & ~0xffffffffull) | v;
}

/* Returns true when the device must be activated (DRIVER_OK just set). */
static bool write_reg(struct virtio_mmio *t, uint64_t off, uint32_t v, bool *reset)
{
    struct virtio_mmio_state *s = &t->s;
    struct virtq_state *q = s->queue_sel < t->ops->nqueues ? &t->vq[s->queue_sel].s : NULL;
    /* Queue registers may change only while the queue is not ready (spec 4.2.2.3). */
    bool q_writable = q && !q->ready;
    switch (off) {
    case REG_DEVICE_FEATURES_SEL:
        s->device_features_sel = v;
        break;
    case REG_DRIVER_FEATURES_SEL:
        s->driver_features_sel = v;
        break;
    case REG_DRIVER_FEATURES:
        if (s->status & VIRTIO_STATUS_FEATURES_OK)
            break;
        if (s->driver_features_sel == 0)
            s->driver_features = (s->driver_features & ~0xffffffffull) | v;
        else if (s->driver_features_sel == 1)
            s->driver_features = (s->driver_features & 0xffffffffull) | ((uint64_t)v << 32);
        break;
    case REG_QUEUE_SEL:
        s->queue_sel = v;
        break;
    case REG_QUEUE_NUM:
        if (q_writable)
            q->size = v <= t->ops->queue_max ? (uint16_t)v : 0;
        break;
    case REG_QUEUE_READY:
        if (q == NULL)
            break;
        if (v == 1 && !q->ready) {
            q->event_idx = s->driver_features & VIRTIO_RING_F_EVENT_IDX;
            struct virtq *vq = &t->vq[s->queue_sel];
            sm_error_t err = NULL;
            if (virtq_validate(vq, &err) < 0) {
                sm_error_release(&err);
                s->status |= VIRTIO_STATUS_NEEDS_RESET;
                break;
            }
            q->ready = true;
        } else if (v == 0) {
            q->ready = false;
        }
        break;
    case REG_INTERRUPT_ACK:
        __atomic_and_fetch(&s->interrupt_status, ~v, __ATOMIC_SEQ_CST);
        break;
    case REG_STATUS:
        if (v == 0) {
            *reset = true;
            reset_locked(t);
            break;
        }
        if ((v & VIRTIO_STATUS_FEATURES_OK) && !(s->status & VIRTIO_STATUS_FEATURES_OK)) {
            /* Accept only what we offered, and only virtio 1.x drivers. */
            if ((s->driver_features & ~offered(t)) || !(s->driver_features & VIRTIO_F_VERSION_1))
                v &= ~VIRTIO_STATUS_FEATURES_OK;
        }
        bool activate = (v & VIRTIO_STATUS_DRIVER_OK) && !(s->status & VIRTIO_STATUS_DRIVER_OK);
        s->status = v | (s->status & VIRTIO_STATUS_NEEDS_RESET);
        return activate;
    case REG_QUEUE_DESC_LOW:
    case REG_QUEUE_DESC_HIGH:
        if (q_writable)
            set_addr(&q->desc_gpa, off == REG_QUEUE_DESC_HIGH, v);
        break;
    case REG_QUEUE_DRIVER_LOW:
    case REG_QUEUE_DRIVER_HIGH:
        if (q_writable)
            set_addr(&q->avail_gpa, off == REG_QUEUE_DRIVER_HIGH, v);
        break;
    case REG_QUEUE_DEVICE_LOW:
    case REG_QUEUE_DEVICE_HIGH:
        if (q_writable)
            set_addr(&q->used_gpa, off == REG_QUEUE_DEVICE_HIGH, v);
        break;
    default:
        break;
    }
    return false;
}

void virtio_mmio_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct virtio_mmio *t = opaque;
    if (off >= REG_CONFIG) {
        uint64_t coff = off - REG_CONFIG;
        if (coff >= t->ops->config_len || len > t->ops->config_len - coff) {
            if (!is_write)
                memset(data, 0, len);
            return;
        }
        pthread_mutex_lock(&t->lock);
        if (is_write && t->ops->config_write)
            t->ops->config_write(t->dev, (uint32_t)coff, data, len);
        else if (!is_write && t->ops->config_read)
            t->ops->config_read(t->dev, (uint32_t)coff, data, len);
        else if (!is_write)
            memset(data, 0, len);
        pthread_mutex_unlock(&t->lock);
        return;
    }
    /* Registers below the config space are 32-bit and aligned. */
    if (len != 4 || (off & 3)) {
        if (!is_write)
            memset(data, 0, len);
        return;
    }
    if (!is_write) {
        pthread_mutex_lock(&t->lock);
        uint32_t v = read_reg(t, off);
        pthread_mutex_unlock(&t->lock);
        memcpy(data, &v, 4);
        return;
    }
    uint32_t v;
    memcpy(&v, data, 4);
    if (off == REG_QUEUE_NOTIFY) {
        /* Reached only without an ioeventfd: let the device thread do the work. */
        virtio_mmio_renotify(t);
        return;
    }
    bool reset = false;
    pthread_mutex_lock(&t->lock);
    bool activate = write_reg(t, off, v, &reset);
    if (reset && t->ops->reset)
        t->ops->reset(t->dev, t);
    if (activate && t->ops->activate)
        t->ops->activate(t->dev, t);
    pthread_mutex_unlock(&t->lock);
}
