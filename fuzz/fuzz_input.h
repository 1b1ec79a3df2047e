/* Helpers shared by the fuzz targets: reading typed values off the front of the input, and
 * a small guest memory for the device targets. Header-only: each target is one program. */
#ifndef SM_FUZZ_INPUT_H
#define SM_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmm/memory.h"
#include "vmm/virtio/mmio.h"

struct fuzz_input {
    const uint8_t *p;
    size_t len;
};

/* Takes n bytes into out (zeros once the input is exhausted: every input is valid). */
static inline void fuzz_take(struct fuzz_input *in, void *out, size_t n)
{
    size_t k = n < in->len ? n : in->len;
    memcpy(out, in->p, k);
    memset((uint8_t *)out + k, 0, n - k);
    in->p += k;
    in->len -= k;
}

static inline uint8_t fuzz_u8(struct fuzz_input *in)
{
    uint8_t v;
    fuzz_take(in, &v, 1);
    return v;
}

static inline uint16_t fuzz_u16(struct fuzz_input *in)
{
    uint16_t v;
    fuzz_take(in, &v, 2);
    return v;
}

static inline uint32_t fuzz_u32(struct fuzz_input *in)
{
    uint32_t v;
    fuzz_take(in, &v, 4);
    return v;
}

/* Guest RAM as the VMM lays it out, in miniature: two regions with a hole between them,
 * so that buffers crossing a region's end are exercised too. Small, so that addresses
 * made up by the fuzzer land inside often. */
#define FUZZ_RAM_LOW  0x10000ull /* [0, 64 KiB) */
#define FUZZ_RAM_HIGH 0x20000ull /* [128 KiB, 192 KiB) */
#define FUZZ_RAM_SIZE (2 * FUZZ_RAM_LOW)

static inline void fuzz_guest_init(struct vm_memory *mem)
{
    static uint8_t ram[FUZZ_RAM_SIZE] __attribute__((aligned(4096)));
    memset(mem, 0, sizeof(*mem));
    mem->host = ram;
    mem->size = FUZZ_RAM_SIZE;
    mem->nregions = 2;
    mem->regions[0] = (struct vm_mem_region){.gpa = 0, .size = FUZZ_RAM_LOW, .host_offset = 0};
    mem->regions[1] = (struct vm_mem_region){
        .gpa = FUZZ_RAM_HIGH, .size = FUZZ_RAM_SIZE - FUZZ_RAM_LOW, .host_offset = FUZZ_RAM_LOW};
    memset(ram, 0, sizeof(ram));
}

/* The rest of the input becomes the guest's RAM (low region first). */
static inline void fuzz_guest_fill(const struct vm_memory *mem, struct fuzz_input *in)
{
    size_t n = in->len < mem->size ? in->len : mem->size;
    memcpy(mem->host, in->p, n);
    in->p += n;
    in->len -= n;
}

/* A queue as a driver would set it up: size, ring addresses and our progress from the
 * input (a snapshot can carry any progress values). Only rings that pass virtq_validate
 * become ready, as with the transport's QueueReady and a snapshot restore. */
static inline void fuzz_queue_setup(struct virtio_mmio *t, unsigned q, struct fuzz_input *in)
{
    struct virtq_state *s = &t->vq[q].s;
    uint8_t flags = fuzz_u8(in);
    *s = (struct virtq_state){
        .size = (uint16_t)(1u << (flags & 7)) * (flags & 8 ? 32 : 1), /* 1..4096 */
        .event_idx = flags & 16,
        .desc_gpa = (uint64_t)fuzz_u16(in) << 2,
        .avail_gpa = (uint64_t)fuzz_u16(in) << 2,
        .used_gpa = (uint64_t)fuzz_u16(in) << 2,
    };
    if (flags & 32) { /* addresses in the high region */
        s->desc_gpa += FUZZ_RAM_HIGH;
        s->avail_gpa += FUZZ_RAM_HIGH;
        s->used_gpa += FUZZ_RAM_HIGH;
    }
    if (flags & 64) { /* progress from a snapshot, not from zero */
        s->last_avail_idx = fuzz_u16(in);
        s->used_idx = fuzz_u16(in);
    }
    s->ready = virtq_validate(&t->vq[q], NULL) == 0;
}

/* The driver finished setup with these features (VERSION_1 always). */
static inline void fuzz_driver_ok(struct virtio_mmio *t, uint64_t features)
{
    t->s.driver_features = VIRTIO_F_VERSION_1 | features;
    t->s.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                  VIRTIO_STATUS_DRIVER_OK;
}

#endif
