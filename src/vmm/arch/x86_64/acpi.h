/* The x86_64 guest's ACPI tables: RSDP, XSDT, a hardware-reduced FADT, MADT and a DSDT
 * describing COM1, the Generic Event Device, pvpanic, VMGENID and the virtio-mmio
 * devices. See docs/acpi.md for what and why. */
#ifndef SM_X86_ACPI_H
#define SM_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define ACPI_MAX_CPUS   255 /* xAPIC ids 0..254 (0xff is the broadcast id) */
#define ACPI_MAX_VIRTIO 256 /* DSDT device names VR00..VRFF */

struct acpi_virtio_mmio_dev {
    uint64_t addr;
    uint32_t size;
    uint32_t gsi;
};

struct acpi_config {
    unsigned ncpus; /* 1..255: one MADT local APIC each, APIC ids 0..n-1 */
    /* DSDT devices, _HID LNRO0005, _UID i, interrupts edge-triggered active-high. */
    const struct acpi_virtio_mmio_dev *virtio;
    size_t nvirtio;
    /* Guest-physical address of the 16-byte VM generation ID; 0 = no VMGENID device. */
    uint64_t vmgenid_addr;
};

/* Builds every table into buf, which the VMM copies to guest-physical base_gpa
 * (X86_ACPI_START, 128 KiB available up to X86_ACPI_END). The RSDP is at offset 0 (so a
 * legacy scan of 0xE0000.. finds it); *rsdp_gpa = base_gpa; *used = bytes written. All
 * pointers inside tables are guest-physical. Returns -1 with err if the configuration
 * is invalid or the tables do not fit. */
int acpi_build_tables(const struct acpi_config *cfg, uint8_t *buf, size_t buflen, uint64_t base_gpa,
                      size_t *used, uint64_t *rsdp_gpa, sm_error_t *err);

#endif
