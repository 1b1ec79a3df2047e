/* Snapshot metadata (src/vmm/snapshot.c), an untrusted file: the input is the file without
 * its sha256 trailer, which is computed here so that the fuzzer gets past the checksum to
 * the sections. Each virtio transport section is then restored as vm_create_from_snapshot
 * does (virtio_mmio_restore: rings re-validated) into a small guest memory, and its queues
 * are used; the serial port's section is restored (serial_restore) and its registers read. */
#include <stdlib.h>

#include "common/util.h"
#include "fuzz_input.h"
#include "vmm/devices/serial.h"
#include "vmm/devices/virtio_devices.h"
#include "vmm/snapshot.h"

static void uart_irq(void *opaque, bool level)
{
    (void)opaque, (void)level;
}

static void uart_output(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque, (void)buf, (void)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vm_memory mem;
    static struct virtio_mmio t;
    static struct virtq_chain chain;
    uint8_t *buf = malloc(size + 32);
    memcpy(buf, data, size);
    sm_sha256(buf, size, buf + size);
    if (size > 0 && data[size - 1] == 0xff)
        buf[size] ^= 1; /* now and then a wrong checksum, which must be refused */
    struct snap_section *secs = NULL;
    uint32_t n = 0;
    sm_error_t err = NULL;
    if (snap_parse(buf, size + 32, &secs, &n, &err) == 0) {
        fuzz_guest_init(&mem);
        for (uint32_t i = 0; i < n; i++) {
            if (secs[i].data + secs[i].len > buf + size)
                abort(); /* a section past the end of the file */
            if (snap_find(secs, n, secs[i].type, secs[i].index) == NULL)
                abort();
            if (secs[i].type == SNAP_SEC_DEVICE && secs[i].index == SNAP_DEV_SERIAL &&
                secs[i].len == sizeof(struct serial_state)) {
                static const struct serial_ops ops = {.irq = uart_irq, .output = uart_output};
                struct serial_state ss;
                struct serial uart;
                memcpy(&ss, secs[i].data, sizeof(ss));
                serial_init(&uart, &ops, NULL);
                serial_restore(&uart, &ss);
                for (uint64_t reg = 0; reg < 8; reg++) {
                    uint8_t v;
                    serial_io(&uart, reg, &v, 1, false);
                }
            }
            if (secs[i].type != SNAP_SEC_DEVICE || secs[i].index < SNAP_DEV_VIRTIO ||
                secs[i].len != sizeof(struct virtio_mmio_state))
                continue;
            struct virtio_mmio_state vs;
            memcpy(&vs, secs[i].data, sizeof(vs));
            virtio_mmio_init(&t, &virtio_rng_ops, NULL, &mem, 0, 0, NULL);
            if (virtio_mmio_restore(&t, &vs, &err) == 0)
                for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
                    if (virtq_pop(&t.vq[q], &chain, NULL) == 1)
                        virtq_push(&t.vq[q], chain.head, 0);
            sm_error_release(&err);
        }
        free(secs);
    }
    sm_error_release(&err);
    free(buf);
    return 0;
}
