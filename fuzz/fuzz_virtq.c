/* Split virtqueues from the device side (src/vmm/virtio/virtq.c): a guest memory whose
 * rings and descriptor chains (direct and indirect, loops, out-of-range indexes and
 * addresses, oversized chains) come from the input; every chain taken is read and written
 * through, pushed back, sometimes given back, and the interrupt decision is asked. */
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vm_memory mem;
    static struct virtio_mmio t;
    static struct virtq_chain chain;
    static uint8_t buf[VIRTQ_MAX_CHAIN_LEN / 1024];
    struct fuzz_input in = {data, size};
    fuzz_guest_init(&mem);
    memset(&t, 0, sizeof(t));
    t.vq[0].mem = &mem;
    fuzz_queue_setup(&t, 0, &in);
    uint16_t ops = fuzz_u16(&in);
    fuzz_guest_fill(&mem, &in);
    struct virtq *vq = &t.vq[0];
    /* At most the ring's worth of chains (and a few more after give-backs). */
    for (unsigned i = 0; i < 2u * vq->s.size + 4; i++, ops = (uint16_t)(ops >> 1 | ops << 15)) {
        sm_error_t err = NULL;
        int r = virtq_pop(vq, &chain, &err);
        sm_error_release(&err);
        if (r <= 0)
            break;
        /* Whatever the chain claims, reads and writes stay inside what was checked. */
        size_t got = virtq_chain_read(&chain, ops & 7, buf, sizeof(buf));
        size_t put = virtq_chain_write(&chain, ops & 3, buf, got);
        if (ops & 8) {
            virtq_unpop(vq, 1);
            continue;
        }
        virtq_push(vq, chain.head, (uint32_t)put);
        virtq_should_notify(vq);
    }
    return 0;
}
