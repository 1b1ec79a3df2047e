/* Snapshot metadata: a versioned, checksummed binary file of typed sections, written and
 * parsed here with every length checked (a snapshot file is untrusted input). The guest's
 * memory lives beside it in a sparse raw file. Layout: docs/snapshot-format.md. */
#ifndef SM_VMM_SNAPSHOT_H
#define SM_VMM_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define SNAP_MAGIC       "SMSNAP\r\n"
#define SNAP_VERSION     1
#define SNAP_META_FILE   "snapshot.meta"
#define SNAP_MEMORY_FILE "memory"
#define SNAP_MAX_META    (64u << 20)

enum snap_section_type {
    SNAP_SEC_CONFIG = 1,  /* struct snap_config */
    SNAP_SEC_VCPU = 2,    /* struct snap_vcpu, index = vCPU */
    SNAP_SEC_MSRS = 3,    /* kvm_msr_entry[], index = vCPU */
    SNAP_SEC_IRQCHIP = 4, /* kvm_irqchip[3] */
    SNAP_SEC_PIT = 5,     /* kvm_pit_state2 */
    SNAP_SEC_CLOCK = 6,   /* struct snap_clock */
    SNAP_SEC_DEVICE = 7,  /* a device's state; index = device id (enum snap_device) */
    SNAP_SEC_NAME = 8,    /* the name of the directory it was saved as (no NUL) */
};

enum snap_device {
    SNAP_DEV_SERIAL = 1,
    SNAP_DEV_PLATFORM = 2,
    SNAP_DEV_VSOCK = 3,   /* struct virtio_vsock_state; present iff the VM had vsock */
    SNAP_DEV_NET = 4,     /* struct virtio_net_state; present iff the VM had virtio-net */
    SNAP_DEV_VIRTIO = 16, /* + the device's slot: its virtio-mmio transport state */
};

struct snap_config {
    uint32_t ncpus;
    uint32_t tsc_khz;
    uint64_t memory_bytes;
    uint32_t nvirtio; /* virtio devices, in slot order (the restoring VM must match) */
    uint32_t has_disk;
    char host_fingerprint[65];
    char kernel_sha256[65];
    char initrd_sha256[65]; /* "" when booted without one */
    char pad[5];
};

struct snap_clock {
    uint64_t kvmclock_ns;      /* guest clock at save */
    uint64_t host_realtime_ns; /* host wall clock at save: restore adds what passed since */
};

/* One section as found in a parsed file: points into the parsed buffer. */
struct snap_section {
    uint32_t type;
    uint32_t index;
    uint64_t len;
    const uint8_t *data;
};

/* Builder: append sections, then finish to get the file bytes (header + sections +
 * sha256 trailer). */
struct snap_writer {
    uint8_t *buf;
    size_t len, cap;
    uint32_t nsections;
};

void snap_writer_init(struct snap_writer *w);
void snap_writer_add(struct snap_writer *w, uint32_t type, uint32_t index, const void *data,
                     uint64_t len);
/* Returns the finished buffer (the writer is reset); *len is its size. */
uint8_t *snap_writer_finish(struct snap_writer *w, size_t *len);

/* Parses and verifies (magic, version, checksum, every section inside the file). On
 * success *sections points to a malloc'd array referencing buf. */
int snap_parse(const uint8_t *buf, size_t len, struct snap_section **sections, uint32_t *n,
               sm_error_t *err);
/* Finds a section; with want_len != 0 its length must match exactly. */
const struct snap_section *snap_find(const struct snap_section *s, uint32_t n, uint32_t type,
                                     uint32_t index);

#endif
