/* The x86_64 guest's physical address map and fixed resources. One place so that boot,
 * ACPI tables, e820 and devices agree.
 *
 *   0x0000_0000  real-mode IVT/BDA (RAM)
 *   0x0000_0500  GDT used for 64-bit entry
 *   0x0000_7000  boot_params ("zero page")
 *   0x0000_9000  identity page tables (PML4, PDPT, PDs for the first 4 GiB)
 *   0x0002_0000  kernel command line
 *   0x0009_fc00  EBDA (reserved) .. 0x000a_0000
 *   0x000e_0000  ACPI tables (RSDP first, where a legacy scan finds it) .. 0x0010_0000
 *   0x0010_0000  protected-mode kernel (bzImage payload)
 *   ...          RAM up to min(size, MMIO_HOLE_START); the rest above 4 GiB
 *   0xc000_0000  MMIO hole: virtio-mmio devices, GED, ... up to 0xfec0_0000
 *   0xfec0_0000  IOAPIC (in-kernel)
 *   0xfee0_0000  LAPIC (in-kernel)
 */
#ifndef SM_X86_LAYOUT_H
#define SM_X86_LAYOUT_H

#define X86_GDT_ADDR        0x500ull
#define X86_ZERO_PAGE_ADDR  0x7000ull
#define X86_PML4_ADDR       0x9000ull
#define X86_PDPT_ADDR       0xa000ull
#define X86_PD_ADDR         0xb000ull /* 4 pages: 0xb000..0xefff map 4 GiB with 2 MiB pages */
#define X86_CMDLINE_ADDR    0x20000ull
#define X86_CMDLINE_MAX     0x10000ull
#define X86_EBDA_START      0x9fc00ull
#define X86_LOW_RAM_END     0xa0000ull
#define X86_ACPI_START      0xe0000ull
#define X86_ACPI_END        0x100000ull
#define X86_HIMEM_START     0x100000ull

#define X86_MMIO_HOLE_START 0xc0000000ull
#define X86_MMIO_HOLE_END   0x100000000ull

/* virtio-mmio devices: one 4 KiB window each, from this base. */
#define X86_VIRTIO_MMIO_BASE 0xd0000000ull
#define X86_VIRTIO_MMIO_SIZE 0x1000ull
#define X86_VIRTIO_MMIO_MAX  16
/* Their interrupts: GSIs from here (IOAPIC pins 5..20). */
#define X86_VIRTIO_IRQ_BASE 5

/* Generic Event Device (ACPI0013): a 4-byte MMIO event selector register and one GSI.
 * The guest's _EVT reads the selector to learn which events fired. */
#define X86_GED_MMIO_ADDR  0xfeb00000ull
#define X86_GED_MMIO_SIZE  0x1000ull
#define X86_GED_IRQ        23
#define X86_GED_EVT_VMGENID 0x1u /* bit in the selector: the VM generation ID changed */

/* Hardware-reduced ACPI sleep/reset registers (FADT), as I/O ports. */
#define X86_ACPI_SLEEP_CONTROL_PORT 0x3c0
#define X86_ACPI_SLEEP_STATUS_PORT  0x3c1
#define X86_ACPI_RESET_PORT         0x3c2
#define X86_ACPI_RESET_VALUE        0x1
#define X86_ACPI_S5_TYPE            5 /* SLP_TYP written for \_S5 (soft off) */

/* pvpanic (QEMU0001): one I/O port, as QEMU's default. */
#define X86_PVPANIC_PORT 0x505

/* VMGENID: the 16-byte generation ID lives in a reserved RAM page. */
#define X86_VMGENID_ADDR 0x9f000ull /* below the EBDA, marked reserved in e820 */

#define X86_IOAPIC_ADDR 0xfec00000ull
#define X86_LAPIC_ADDR  0xfee00000ull
#define X86_IOAPIC_PINS 24

#define X86_SERIAL_PORT 0x3f8
#define X86_SERIAL_IRQ  4

#endif
