#include "vmm/virtio/virtq.h"

#include <stddef.h>
#include <string.h>

#define AVAIL_F_NO_INTERRUPT 1

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

static uint16_t load16(const struct virtq *vq, uint64_t gpa)
{
    uint16_t *p = vm_mem_ptr(vq->mem, gpa, 2);
    return p ? __atomic_load_n(p, __ATOMIC_ACQUIRE) : 0;
}

int virtq_validate(const struct virtq *vq, sm_error_t *err)
{
    const struct virtq_state *s = &vq->s;
    if (s->size == 0 || s->size > VIRTQ_MAX_SIZE || (s->size & (s->size - 1)))
        return sm_error_set(err, 0, "queue size %u", s->size);
    uint64_t n = s->size;
    /* Ring sizes from the spec: desc 16n, avail 6+2n, used 6+8n; alignments 16, 2, 4. */
    if ((s->desc_gpa & 15) || (s->avail_gpa & 1) || (s->used_gpa & 3))
        return sm_error_set(err, 0, "misaligned ring");
    if (!vm_mem_ptr(vq->mem, s->desc_gpa, 16 * n) ||
        !vm_mem_ptr(vq->mem, s->avail_gpa, 6 + 2 * n) ||
        !vm_mem_ptr(vq->mem, s->used_gpa, 6 + 8 * n))
        return sm_error_set(err, 0, "ring outside guest memory");
    return 0;
}

static int add_buffer(const struct virtq *vq, struct virtq_chain *c, const struct vring_desc *d,
                      sm_error_t *err)
{
    if (d->len == 0)
        return 0;
    void *p = vm_mem_ptr(vq->mem, d->addr, d->len);
    if (p == NULL)
        return sm_error_set(err, 0, "descriptor buffer 0x%llx+%u outside guest memory",
                            (unsigned long long)d->addr, d->len);
    bool write = d->flags & VIRTQ_DESC_F_WRITE;
    if (!write && c->nwrite > 0)
        return sm_error_set(err, 0, "readable descriptor after a writable one");
    if (c->nread + c->nwrite >= VIRTQ_MAX_CHAIN)
        return sm_error_set(err, 0, "descriptor chain too long");
    uint64_t total = c->read_len + c->write_len + d->len;
    if (total > VIRTQ_MAX_CHAIN_LEN)
        return sm_error_set(err, 0, "descriptor chain larger than %u bytes", VIRTQ_MAX_CHAIN_LEN);
    if (write) {
        c->write[c->nwrite++] = (struct iovec){p, d->len};
        c->write_len += d->len;
    } else {
        c->read[c->nread++] = (struct iovec){p, d->len};
        c->read_len += d->len;
    }
    return 0;
}

/* Walks an indirect table: its entries chain among themselves, never indirect again. */
static int walk_indirect(const struct virtq *vq, struct virtq_chain *c, const struct vring_desc *d,
                         sm_error_t *err)
{
    if (d->len == 0 || d->len % sizeof(struct vring_desc) || d->len / 16 > VIRTQ_MAX_SIZE)
        return sm_error_set(err, 0, "indirect table of %u bytes", d->len);
    const struct vring_desc *table = vm_mem_ptr(vq->mem, d->addr, d->len);
    if (table == NULL)
        return sm_error_set(err, 0, "indirect table outside guest memory");
    uint32_t n = d->len / 16;
    uint32_t i = 0;
    for (uint32_t steps = 0;; steps++) {
        if (steps >= n)
            return sm_error_set(err, 0, "loop in an indirect descriptor table");
        struct vring_desc e;
        memcpy(&e, &table[i], sizeof(e));
        if (e.flags & VIRTQ_DESC_F_INDIRECT)
            return sm_error_set(err, 0, "nested indirect descriptor");
        if (add_buffer(vq, c, &e, err) < 0)
            return -1;
        if (!(e.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        if (e.next >= n)
            return sm_error_set(err, 0, "indirect descriptor index %u out of range", e.next);
        i = e.next;
    }
}

int virtq_pop(struct virtq *vq, struct virtq_chain *c, sm_error_t *err)
{
    struct virtq_state *s = &vq->s;
    if (!s->ready || s->size == 0)
        return 0;
    /* With EVENT_IDX, our avail_event store (the last pop) must be visible before this
     * load, or a guest adding a buffer meanwhile may skip its notification while we miss
     * the buffer (store-load order is not kept on x86 without a fence). */
    if (s->event_idx)
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t avail_idx = load16(vq, s->avail_gpa + 2);
    if (avail_idx == s->last_avail_idx)
        return 0;
    if ((uint16_t)(avail_idx - s->last_avail_idx) > s->size)
        return sm_error_set(err, 0, "available index jumped by %u (queue size %u)",
                            (uint16_t)(avail_idx - s->last_avail_idx), s->size);
    /* Read the ring entry only after the index that announced it. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint16_t head = load16(vq, s->avail_gpa + 4 + 2ull * (s->last_avail_idx % s->size));
    if (head >= s->size)
        return sm_error_set(err, 0, "descriptor head %u out of range", head);
    memset(c, 0, offsetof(struct virtq_chain, read));
    c->head = head;
    const struct vring_desc *table = vm_mem_ptr(vq->mem, s->desc_gpa, 16ull * s->size);
    if (table == NULL)
        return sm_error_set(err, 0, "descriptor table outside guest memory");
    uint16_t i = head;
    for (unsigned steps = 0;; steps++) {
        if (steps >= s->size)
            return sm_error_set(err, 0, "loop in a descriptor chain");
        struct vring_desc d;
        memcpy(&d, &table[i], sizeof(d));
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (d.flags & VIRTQ_DESC_F_NEXT)
                return sm_error_set(err, 0, "indirect descriptor with NEXT");
            if (walk_indirect(vq, c, &d, err) < 0)
                return -1;
            break;
        }
        if (add_buffer(vq, c, &d, err) < 0)
            return -1;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            break;
        if (d.next >= s->size)
            return sm_error_set(err, 0, "descriptor index %u out of range", d.next);
        i = d.next;
    }
    s->last_avail_idx++;
    if (s->event_idx) {
        /* avail_event: tell the guest which index to notify us at next. */
        uint16_t *ev = vm_mem_ptr(vq->mem, s->used_gpa + 4 + 8ull * s->size, 2);
        if (ev)
            __atomic_store_n(ev, s->last_avail_idx, __ATOMIC_RELEASE);
    }
    return 1;
}

uint16_t virtq_avail_idx(const struct virtq *vq)
{
    return load16(vq, vq->s.avail_gpa + 2);
}

uint16_t virtq_watch_avail(struct virtq *vq)
{
    struct virtq_state *s = &vq->s;
    uint16_t seen = virtq_avail_idx(vq);
    if (s->event_idx) {
        /* Notify at the next addition, beyond what is there now (not at last_avail_idx:
         * the guest notifies only when it crosses avail_event). */
        uint16_t *ev = vm_mem_ptr(vq->mem, s->used_gpa + 4 + 8ull * s->size, 2);
        if (ev)
            __atomic_store_n(ev, seen, __ATOMIC_RELEASE);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
    return seen;
}

bool virtq_unpop(struct virtq *vq, uint16_t n)
{
    vq->s.last_avail_idx = (uint16_t)(vq->s.last_avail_idx - n);
    uint16_t seen = virtq_watch_avail(vq);
    return virtq_avail_idx(vq) != seen;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t written)
{
    struct virtq_state *s = &vq->s;
    uint32_t *elem = vm_mem_ptr(vq->mem, s->used_gpa + 4 + 8ull * (s->used_idx % s->size), 8);
    uint16_t *idx = vm_mem_ptr(vq->mem, s->used_gpa + 2, 2);
    if (elem == NULL || idx == NULL)
        return; /* validated at setup; a guest that moved memory away loses its buffers */
    elem[0] = head;
    elem[1] = written;
    s->used_idx++;
    /* The element must be visible before the index that publishes it. */
    __atomic_store_n(idx, s->used_idx, __ATOMIC_RELEASE);
}

bool virtq_should_notify(struct virtq *vq)
{
    struct virtq_state *s = &vq->s;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!s->event_idx) {
        bool want = !(load16(vq, s->avail_gpa) & AVAIL_F_NO_INTERRUPT);
        return want;
    }
    uint16_t old = s->signalled_used, now = s->used_idx;
    bool valid = s->signalled_valid;
    s->signalled_used = now;
    s->signalled_valid = true;
    if (!valid)
        return true;
    uint16_t used_event = load16(vq, s->avail_gpa + 4 + 2ull * s->size);
    /* vring_need_event(): notify if used_event lies in (old, now]. */
    return (uint16_t)(now - used_event - 1) < (uint16_t)(now - old);
}

static size_t iov_copy(const struct iovec *iov, unsigned n, uint64_t off, void *buf, size_t len,
                       bool to_iov)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t chunk = iov[i].iov_len - off;
        if (chunk > len - done)
            chunk = len - done;
        if (to_iov)
            memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)buf + done, chunk);
        else
            memcpy((uint8_t *)buf + done, (const uint8_t *)iov[i].iov_base + off, chunk);
        done += chunk;
        off = 0;
    }
    return done;
}

size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, size_t len)
{
    return iov_copy(c->read, c->nread, off, dst, len, false);
}

size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src, size_t len)
{
    return iov_copy(c->write, c->nwrite, off, (void *)src, len, true);
}
