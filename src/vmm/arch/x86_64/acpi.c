#include "vmm/arch/x86_64/acpi.h"

#include <stdbool.h>
#include <string.h>

#include "vmm/arch/x86_64/aml.h"
#include "vmm/arch/x86_64/layout.h"

/* Identity written into every table header. */
#define ACPI_OEM_ID        "SUPMCH" /* 6 characters */
#define ACPI_CREATOR_ID    "SMVM"   /* 4 characters */
#define ACPI_CREATOR_REV   1
#define ACPI_OEM_REV       1
#define ACPI_HYPERVISOR_ID "SUPERMCH" /* FADT "Hypervisor Vendor Identity", 8 characters */

#define ACPI_HEADER_LEN 36
#define RSDP_LEN        36
#define FADT_LEN        276 /* ACPI 6.x FADT, up to the Hypervisor Vendor Identity */
#define MADT_LAPIC_LEN  8
#define MADT_IOAPIC_LEN 12

/* FADT flags (ACPI 6.5, table 5.10). */
#define FADT_F_PWR_BUTTON      (1u << 4) /* no fixed-feature power button */
#define FADT_F_SLP_BUTTON      (1u << 5) /* no fixed-feature sleep button */
#define FADT_F_RESET_REG_SUP   (1u << 10)
#define FADT_F_HW_REDUCED_ACPI (1u << 20)

/* IA-PC boot architecture flags (ACPI 6.5, table 5.11). */
#define IAPC_LEGACY_DEVICES       (1u << 0) /* user-visible ISA-style devices: the 16550 */
#define IAPC_8042                 (1u << 1) /* deliberately not set: no PS/2 controller promised */
#define IAPC_VGA_NOT_PRESENT      (1u << 2)
#define IAPC_MSI_NOT_SUPPORTED    (1u << 3)
#define IAPC_PCIE_ASPM_CONTROLS   (1u << 4)
#define IAPC_CMOS_RTC_NOT_PRESENT (1u << 5)

/* Generic Address Structure address spaces and access sizes. */
#define GAS_SYSTEM_IO   1
#define GAS_ACCESS_BYTE 1

#define MADT_PCAT_COMPAT 1u /* KVM's in-kernel irqchip includes a pair of 8259s */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)(0 - sum);
}

/* Fills the standard 36-byte header of a table of `len` bytes at t (checksum last). */
static void sdt_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev,
                       const char *oem_table_id)
{
    memcpy(t, sig, 4);
    put32(t + 4, len);
    t[8] = rev;
    t[9] = 0;
    memcpy(t + 10, ACPI_OEM_ID, 6);
    memset(t + 16, ' ', 8);
    memcpy(t + 16, oem_table_id, strnlen(oem_table_id, 8));
    put32(t + 24, ACPI_OEM_REV);
    memcpy(t + 28, ACPI_CREATOR_ID, 4);
    put32(t + 32, ACPI_CREATOR_REV);
}

static void sdt_finish(uint8_t *t, uint32_t len)
{
    t[9] = 0;
    t[9] = checksum(t, len);
}

/* Generic Address Structure for an 8-bit I/O port register. */
static void gas_io8(uint8_t *p, uint16_t port)
{
    p[0] = GAS_SYSTEM_IO;
    p[1] = 8; /* register bit width */
    p[2] = 0; /* bit offset */
    p[3] = GAS_ACCESS_BYTE;
    put64(p + 4, port);
}

static int check_config(const struct acpi_config *cfg, sm_error_t *err)
{
    if (cfg->ncpus < 1 || cfg->ncpus > ACPI_MAX_CPUS)
        return sm_error_set(err, 0, "cpus %u: must be between 1 and %u", cfg->ncpus, ACPI_MAX_CPUS);
    if (cfg->nvirtio > ACPI_MAX_VIRTIO)
        return sm_error_set(err, 0, "%zu virtio-mmio devices: at most %u", cfg->nvirtio,
                            ACPI_MAX_VIRTIO);
    if (cfg->nvirtio && !cfg->virtio)
        return sm_error_set(err, 0, "virtio-mmio devices: no list");
    for (size_t i = 0; i < cfg->nvirtio; i++) {
        const struct acpi_virtio_mmio_dev *d = &cfg->virtio[i];
        if (d->size == 0 || d->addr + d->size - 1 < d->addr)
            return sm_error_set(err, 0, "virtio-mmio device %zu: bad window 0x%llx+0x%x", i,
                                (unsigned long long)d->addr, d->size);
        if (d->gsi >= X86_IOAPIC_PINS)
            return sm_error_set(err, 0,
                                "virtio-mmio device %zu: GSI %u beyond the IOAPIC's %u pins", i,
                                d->gsi, X86_IOAPIC_PINS);
    }
    return 0;
}

/* Method (_STA) { Return (0x0F) }: present, enabled, shown, functioning. */
static void dsdt_sta_present(struct aml_buf *b)
{
    size_t m = aml_method_begin(b, "_STA", 0, false);
    aml_return(b);
    aml_integer(b, 0x0f);
    aml_end(b, m);
}

/* COM1: the 16550 UART. Described so that the 8250 PNP driver gets the GSI mapped: in
 * hardware-reduced mode Linux sets up no ISA IRQs on its own. */
static void dsdt_com1(struct aml_buf *b)
{
    size_t dev = aml_device_begin(b, "COM1");
    aml_name(b, "_HID");
    aml_eisaid(b, "PNP0501");
    aml_name(b, "_UID");
    aml_integer(b, 1);
    dsdt_sta_present(b);
    struct aml_buf r;
    aml_buf_init(&r);
    aml_res_io(&r, X86_SERIAL_PORT, X86_SERIAL_PORT, 1, 8);
    aml_res_irq_noflags(&r, X86_SERIAL_IRQ);
    aml_name(b, "_CRS");
    aml_resource_template(b, &r);
    aml_buf_free(&r);
    aml_end(b, dev);
}

/* The Generic Event Device: the VMM sets bits in a 32-bit selector register and pulses
 * the GED's interrupt; Linux's evged driver then runs _EVT, which reads (and so
 * acknowledges) the selector and notifies the devices whose bits are set. */
static void dsdt_ged(struct aml_buf *b, bool vmgenid)
{
    size_t dev = aml_device_begin(b, "GED");
    aml_name(b, "_HID");
    aml_string(b, "ACPI0013");
    aml_name(b, "_UID");
    aml_integer(b, 0);
    struct aml_buf r;
    aml_buf_init(&r);
    aml_res_interrupt(&r, true, false, X86_GED_IRQ);
    aml_name(b, "_CRS");
    aml_resource_template(b, &r);
    aml_buf_free(&r);

    aml_operation_region(b, "EREG", AML_SYSTEM_MEMORY, X86_GED_MMIO_ADDR, 4);
    size_t f = aml_field_begin(b, "EREG", AML_ACC_DWORD, AML_WRITE_AS_ZEROS);
    aml_field_named(b, "ESEL", 32);
    aml_end(b, f);

    size_t m = aml_method_begin(b, "_EVT", 1, true);
    aml_store(b); /* Local0 = ESEL */
    aml_namestring(b, "ESEL");
    aml_local(b, 0);
    if (vmgenid) {
        size_t i = aml_if_begin(b); /* If ((Local0 & bit) == bit) */
        aml_lequal(b);
        aml_and(b);
        aml_local(b, 0);
        aml_integer(b, X86_GED_EVT_VMGENID);
        aml_null_target(b);
        aml_integer(b, X86_GED_EVT_VMGENID);
        aml_notify(b); /* Notify (\_SB.VGEN, 0x80) */
        aml_namestring(b, "\\_SB.VGEN");
        aml_integer(b, 0x80);
        aml_end(b, i);
    }
    aml_end(b, m);
    aml_end(b, dev);
}

/* pvpanic: Linux's pvpanic-mmio driver binds QEMU0001 and writes "panicked" to the port. */
static void dsdt_pvpanic(struct aml_buf *b)
{
    size_t dev = aml_device_begin(b, "PEVT");
    aml_name(b, "_HID");
    aml_string(b, "QEMU0001");
    aml_name(b, "_UID");
    aml_integer(b, 0);
    dsdt_sta_present(b);
    struct aml_buf r;
    aml_buf_init(&r);
    aml_res_io(&r, X86_PVPANIC_PORT, X86_PVPANIC_PORT, 1, 1);
    aml_name(b, "_CRS");
    aml_resource_template(b, &r);
    aml_buf_free(&r);
    aml_end(b, dev);
}

/* VM generation ID. Linux 6.1's vmgenid driver matches "VMGENCTR" or "VM_GEN_COUNTER"
 * (ACPICA upper-cases the _CID "VM_Gen_Counter" of Microsoft's spec), evaluates ADDR,
 * which must be a package of two integers (low and high 32 bits of the ID's address),
 * and re-reads the ID on Notify (VGEN, 0x80). */
static void dsdt_vmgenid(struct aml_buf *b, uint64_t addr)
{
    size_t dev = aml_device_begin(b, "VGEN");
    aml_name(b, "_HID");
    aml_string(b, "VMGENCTR");
    aml_name(b, "_CID");
    aml_string(b, "VM_Gen_Counter");
    aml_name(b, "_DDN");
    aml_string(b, "VM_Gen_Counter");
    dsdt_sta_present(b);
    size_t m = aml_method_begin(b, "ADDR", 0, false);
    aml_return(b);
    size_t p = aml_package_begin(b, 2);
    aml_integer(b, addr & 0xffffffffu);
    aml_integer(b, addr >> 32);
    aml_end(b, p);
    aml_end(b, m);
    aml_end(b, dev);
}

static void dsdt_virtio(struct aml_buf *b, size_t i, const struct acpi_virtio_mmio_dev *d)
{
    static const char hex[] = "0123456789ABCDEF";
    char name[5] = {'V', 'R', hex[(i >> 4) & 0xf], hex[i & 0xf], '\0'}; /* i < 256 */
    size_t dev = aml_device_begin(b, name);
    aml_name(b, "_HID");
    aml_string(b, "LNRO0005");
    aml_name(b, "_UID");
    aml_integer(b, i);
    aml_name(b, "_CCA"); /* DMA is cache-coherent */
    aml_integer(b, 1);
    struct aml_buf r;
    aml_buf_init(&r);
    if (d->addr + d->size <= 0x100000000ull)
        aml_res_memory32_fixed(&r, true, (uint32_t)d->addr, d->size);
    else
        aml_res_qword_memory(&r, true, d->addr, d->size);
    /* Edge-triggered: the VMM injects with irqfd and no resample, so a level line would
     * never be seen to drop. */
    aml_res_interrupt(&r, true, false, d->gsi);
    aml_name(b, "_CRS");
    aml_resource_template(b, &r);
    aml_buf_free(&r);
    aml_end(b, dev);
}

/* The DSDT, header included (checksum filled by the caller). */
static void build_dsdt(const struct acpi_config *cfg, struct aml_buf *b)
{
    uint8_t hdr[ACPI_HEADER_LEN] = {0};
    aml_bytes(b, hdr, sizeof(hdr));

    size_t sb = aml_scope_begin(b, "\\_SB");
    dsdt_com1(b);
    dsdt_ged(b, cfg->vmgenid_addr != 0);
    dsdt_pvpanic(b);
    if (cfg->vmgenid_addr)
        dsdt_vmgenid(b, cfg->vmgenid_addr);
    for (size_t i = 0; i < cfg->nvirtio; i++)
        dsdt_virtio(b, i, &cfg->virtio[i]);
    aml_end(b, sb);

    /* \_S5: SLP_TYP for soft-off, written to the FADT's sleep control register. */
    aml_name(b, "\\_S5");
    size_t p = aml_package_begin(b, 4);
    aml_integer(b, X86_ACPI_S5_TYPE);
    aml_integer(b, 0);
    aml_integer(b, 0);
    aml_integer(b, 0);
    aml_end(b, p);

    /* Revision 2: 64-bit integers in AML. */
    sdt_header(b->data, "DSDT", (uint32_t)b->len, 2, "SMDSDT");
}

static void build_fadt(uint8_t *t, uint64_t dsdt_gpa)
{
    memset(t, 0, FADT_LEN);
    sdt_header(t, "FACP", FADT_LEN, 6, "SMFADT");
    /* No FACS (FIRMWARE_CTRL 0): optional when hardware-reduced. DSDT (32-bit) left 0 in
     * favour of X_DSDT, as ACPI 6 asks. SCI_INT 0: there is no SCI. */
    put16(t + 109, IAPC_LEGACY_DEVICES | IAPC_VGA_NOT_PRESENT | IAPC_MSI_NOT_SUPPORTED |
                       IAPC_PCIE_ASPM_CONTROLS | IAPC_CMOS_RTC_NOT_PRESENT);
    put32(t + 112,
          FADT_F_HW_REDUCED_ACPI | FADT_F_RESET_REG_SUP | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON);
    gas_io8(t + 116, X86_ACPI_RESET_PORT); /* RESET_REG */
    t[128] = X86_ACPI_RESET_VALUE;
    t[131] = 5;               /* FADT minor version: ACPI 6.5 */
    put64(t + 140, dsdt_gpa); /* X_DSDT */
    gas_io8(t + 244, X86_ACPI_SLEEP_CONTROL_PORT);
    gas_io8(t + 256, X86_ACPI_SLEEP_STATUS_PORT);
    memcpy(t + 268, ACPI_HYPERVISOR_ID, 8);
    sdt_finish(t, FADT_LEN);
}

static size_t madt_len(unsigned ncpus)
{
    return ACPI_HEADER_LEN + 8 + (size_t)ncpus * MADT_LAPIC_LEN + MADT_IOAPIC_LEN;
}

/* No interrupt source overrides: KVM's default GSI routing wires ISA IRQ n to IOAPIC pin
 * n (QEMU's ISO 0 -> 2 matches QEMU's own routing, not KVM's), and in hardware-reduced
 * mode Linux neither sets up the PIT's IRQ 0 nor runs its IO-APIC timer check. */
static void build_madt(uint8_t *t, unsigned ncpus)
{
    size_t len = madt_len(ncpus);
    memset(t, 0, len);
    sdt_header(t, "APIC", (uint32_t)len, 5, "SMMADT");
    put32(t + 36, (uint32_t)X86_LAPIC_ADDR);
    put32(t + 40, MADT_PCAT_COMPAT);
    uint8_t *e = t + 44;
    for (unsigned i = 0; i < ncpus; i++, e += MADT_LAPIC_LEN) {
        e[0] = 0; /* Processor Local APIC */
        e[1] = MADT_LAPIC_LEN;
        e[2] = (uint8_t)i; /* ACPI processor UID */
        e[3] = (uint8_t)i; /* APIC id */
        put32(e + 4, 1);   /* enabled */
    }
    e[0] = 1; /* I/O APIC */
    e[1] = MADT_IOAPIC_LEN;
    e[2] = 0; /* I/O APIC id */
    put32(e + 4, (uint32_t)X86_IOAPIC_ADDR);
    put32(e + 8, 0); /* GSI base */
    sdt_finish(t, (uint32_t)len);
}

static void build_xsdt(uint8_t *t, const uint64_t *entries, size_t n)
{
    uint32_t len = (uint32_t)(ACPI_HEADER_LEN + 8 * n);
    memset(t, 0, len);
    sdt_header(t, "XSDT", len, 1, "SMXSDT");
    for (size_t i = 0; i < n; i++)
        put64(t + ACPI_HEADER_LEN + 8 * i, entries[i]);
    sdt_finish(t, len);
}

static void build_rsdp(uint8_t *t, uint64_t xsdt_gpa)
{
    memset(t, 0, RSDP_LEN);
    memcpy(t, "RSD PTR ", 8);
    memcpy(t + 9, ACPI_OEM_ID, 6);
    t[15] = 2;        /* revision 2: XSDT */
    put32(t + 16, 0); /* no RSDT */
    put32(t + 20, RSDP_LEN);
    put64(t + 24, xsdt_gpa);
    t[8] = checksum(t, 20);
    t[32] = checksum(t, RSDP_LEN);
}

static size_t align16(size_t v)
{
    return (v + 15) & ~(size_t)15;
}

int acpi_build_tables(const struct acpi_config *cfg, uint8_t *buf, size_t buflen, uint64_t base_gpa,
                      size_t *used, uint64_t *rsdp_gpa, sm_error_t *err)
{
    if (check_config(cfg, err) < 0)
        return -1;

    struct aml_buf dsdt;
    aml_buf_init(&dsdt);
    build_dsdt(cfg, &dsdt);

    /* Layout: RSDP at 0 (16-byte aligned for the legacy scan), then XSDT, FADT, MADT and
     * the DSDT, each 16-byte aligned. */
    size_t off_xsdt = align16(RSDP_LEN);
    size_t off_fadt = align16(off_xsdt + ACPI_HEADER_LEN + 2 * 8);
    size_t off_madt = align16(off_fadt + FADT_LEN);
    size_t off_dsdt = align16(off_madt + madt_len(cfg->ncpus));
    size_t end = off_dsdt + dsdt.len;
    if (end > buflen) {
        aml_buf_free(&dsdt);
        return sm_error_set(err, 0, "%zu bytes do not fit in %zu", end, buflen);
    }

    memset(buf, 0, end);
    memcpy(buf + off_dsdt, dsdt.data, dsdt.len);
    sdt_finish(buf + off_dsdt, (uint32_t)dsdt.len);
    aml_buf_free(&dsdt);
    build_fadt(buf + off_fadt, base_gpa + off_dsdt);
    build_madt(buf + off_madt, cfg->ncpus);
    uint64_t entries[2] = {base_gpa + off_fadt, base_gpa + off_madt};
    build_xsdt(buf + off_xsdt, entries, 2);
    build_rsdp(buf, base_gpa + off_xsdt);

    *used = end;
    *rsdp_gpa = base_gpa;
    return 0;
}
