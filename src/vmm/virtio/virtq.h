/* Split virtqueues (virtio 1.x, 2.6): the device side. Every index, address and length
 * read from the rings comes from the guest and is validated before use: a bad chain is
 * reported as an error (the device then marks itself broken), never followed. */
#ifndef SM_VIRTIO_VIRTQ_H
#define SM_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/error.h"
#include "vmm/memory.h"

#define VIRTQ_MAX_SIZE      256
#define VIRTQ_MAX_CHAIN     (VIRTQ_MAX_SIZE + 64) /* direct + one indirect table */
#define VIRTQ_MAX_CHAIN_LEN (64u << 20)           /* bytes in one chain */

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

/* The queue's whole state, as the guest configured it plus our progress: a snapshot
 * saves exactly this. */
struct virtq_state {
    uint16_t size; /* 0: not configured */
    bool ready;
    bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
    uint64_t desc_gpa, avail_gpa, used_gpa;
    uint16_t last_avail_idx; /* next available entry we will take */
    uint16_t used_idx;       /* next used entry we will fill */
    uint16_t signalled_used; /* used_idx when we last interrupted the guest */
    bool signalled_valid;
};

struct virtq {
    struct virtq_state s;
    const struct vm_memory *mem;
};

/* A descriptor chain, split into what the device reads and what it writes, as host
 * iovecs into guest memory (already bounds-checked). */
struct virtq_chain {
    /* Everything before `read` is reset by virtq_pop; the arrays are filled as needed. */
    uint16_t head;
    unsigned nread, nwrite;
    uint64_t read_len, write_len;
    struct iovec read[VIRTQ_MAX_CHAIN];
    struct iovec write[VIRTQ_MAX_CHAIN];
};

/* Validates the configured rings (alignment, size power of two, inside RAM). */
int virtq_validate(const struct virtq *vq, sm_error_t *err);
/* Takes the next available chain: 1 if one was taken, 0 if none, -1 if the guest gave a
 * malformed chain (loop, out-of-range index or address, oversized). */
int virtq_pop(struct virtq *vq, struct virtq_chain *chain, sm_error_t *err);
/* Gives back the last n chains taken and not pushed (a frame that did not fit in what the
 * guest offered), and asks the guest to notify at its next addition. Returns true if the
 * guest added buffers meanwhile (the caller may try again at once). */
bool virtq_unpop(struct virtq *vq, uint16_t n);
/* The guest's available index as it is now (the queue must be ready). */
uint16_t virtq_avail_idx(const struct virtq *vq);
/* The same, and asks the guest to notify at its next addition beyond it: a device that
 * waits for the guest to hand a buffer back learns it by a notification. */
uint16_t virtq_watch_avail(struct virtq *vq);
/* Returns a chain to the guest with the number of bytes written into it. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t written);
/* Whether the guest wants an interrupt for what was pushed since the last one
 * (honours VIRTQ_AVAIL_F_NO_INTERRUPT or, with EVENT_IDX, used_event). */
bool virtq_should_notify(struct virtq *vq);
/* Helpers to copy between a chain and a flat buffer. */
size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src, size_t len);

#endif
