/* ACPI tables and the AML builder, checked against ACPICA's own tools as the peer:
 * `iasl -d` disassembles every table (its text is what we assert on) and `acpiexec` (the
 * interpreter Linux embeds) evaluates the DSDT's methods. Byte-level checks cover the
 * encodings at their boundaries. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "common/util.h"
#include "vmm/arch/x86_64/acpi.h"
#include "vmm/arch/x86_64/aml.h"
#include "vmm/arch/x86_64/layout.h"

static char tmpdir[] = "/tmp/sm-test-acpi-XXXXXX";

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

static bool bytes_eq(const struct aml_buf *b, const uint8_t *want, size_t n)
{
    return b->len == n && memcmp(b->data, want, n) == 0;
}

/* ---- encoder unit tests ---- */

static void test_pkglength_encode(void)
{
    static const struct {
        uint64_t value;
        size_t n;
        uint8_t bytes[4];
    } cases[] = {
        {0, 1, {0x00}},
        {63, 1, {0x3f}},
        {64, 2, {0x40, 0x04}},
        {0x123, 2, {0x43, 0x12}},
        {4095, 2, {0x4f, 0xff}},
        {4096, 3, {0x80, 0x00, 0x01}},
        {0xfffff, 3, {0x8f, 0xff, 0xff}},
        {0x100000, 4, {0xc0, 0x00, 0x00, 0x01}},
        {0xfffffff, 4, {0xcf, 0xff, 0xff, 0xff}},
    };
    for (size_t i = 0; i < SM_ARRAY_SIZE(cases); i++) {
        uint8_t out[4] = {0};
        size_t n = aml_pkglength_encode(cases[i].value, out);
        CHECK_EQ_U64(n, cases[i].n);
        CHECK(memcmp(out, cases[i].bytes, cases[i].n) == 0);
    }
    uint8_t out[4];
    CHECK_EQ_U64(aml_pkglength_encode(0x10000000, out), 0);

    /* With the PkgLength's own bytes counted, the width steps up one byte early. */
    static const struct {
        size_t content, n;
    } content_cases[] = {
        {0, 1},    {62, 1},   {63, 2},      {64, 2},      {4093, 2},
        {4094, 3}, {4095, 3}, {0xffffc, 3}, {0xffffd, 4}, {0xffffffb, 4},
    };
    for (size_t i = 0; i < SM_ARRAY_SIZE(content_cases); i++) {
        size_t n = aml_pkglength_for_content(content_cases[i].content, out);
        CHECK_EQ_U64(n, content_cases[i].n);
        /* decode and compare with content + own bytes */
        uint64_t v = n == 1 ? out[0] : (out[0] & 0xfu);
        for (size_t k = 1; k < n; k++)
            v |= (uint64_t)out[k] << (4 + 8 * (k - 1));
        CHECK_EQ_U64(v, content_cases[i].content + n);
    }
    CHECK_EQ_U64(aml_pkglength_for_content(0xffffffc, out), 0);
}

/* aml_end() inserts the PkgLength in front of contents written after begin, also nested. */
static void test_pkg_nesting(void)
{
    static const size_t sizes[] = {0, 1, 60, 61, 62, 63, 64, 4091, 4092, 4093, 4094, 70000};
    for (size_t i = 0; i < SM_ARRAY_SIZE(sizes); i++) {
        struct aml_buf b;
        aml_buf_init(&b);
        aml_byte(&b, 0x10);
        size_t outer = aml_pkg_begin(&b);
        aml_byte(&b, 0x12);
        size_t inner = aml_pkg_begin(&b);
        for (size_t k = 0; k < sizes[i]; k++)
            aml_byte(&b, (uint8_t)k);
        aml_end(&b, inner);
        aml_end(&b, outer);
        /* Decode outer, then inner; each must reach exactly the end of the buffer. */
        size_t pos = 1;
        for (int level = 0; level < 2; level++) {
            uint8_t lead = b.data[pos];
            size_t n = 1 + (lead >> 6);
            uint64_t v = n == 1 ? lead : (lead & 0xfu);
            for (size_t k = 1; k < n; k++)
                v |= (uint64_t)b.data[pos + k] << (4 + 8 * (k - 1));
            CHECK_EQ_U64(pos + v, b.len);
            pos += n;
            if (level == 0) {
                CHECK_EQ_U64(b.data[pos], 0x12);
                pos++;
            }
        }
        CHECK_EQ_U64(b.len - pos, sizes[i]);
        CHECK(sizes[i] == 0 || b.data[b.len - 1] == (uint8_t)(sizes[i] - 1));
        aml_buf_free(&b);
    }
}

static void test_integers(void)
{
    static const struct {
        uint64_t v;
        size_t n;
        uint8_t bytes[9];
    } cases[] = {
        {0, 1, {0x00}},
        {1, 1, {0x01}},
        {2, 2, {0x0a, 0x02}},
        {0xff, 2, {0x0a, 0xff}},
        {0x100, 3, {0x0b, 0x00, 0x01}},
        {0xffff, 3, {0x0b, 0xff, 0xff}},
        {0x10000, 5, {0x0c, 0x00, 0x00, 0x01, 0x00}},
        {0xfeb00000, 5, {0x0c, 0x00, 0x00, 0xb0, 0xfe}},
        {0xffffffff, 5, {0x0c, 0xff, 0xff, 0xff, 0xff}},
        {0x100000000ull, 9, {0x0e, 0, 0, 0, 0, 1, 0, 0, 0}},
        {0xfffffffffffffffeull, 9, {0x0e, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
        {UINT64_MAX, 1, {0xff}},
    };
    for (size_t i = 0; i < SM_ARRAY_SIZE(cases); i++) {
        struct aml_buf b;
        aml_buf_init(&b);
        aml_integer(&b, cases[i].v);
        if (!bytes_eq(&b, cases[i].bytes, cases[i].n))
            fprintf(stderr, "integer 0x%" PRIx64 " encoded wrongly\n", cases[i].v);
        CHECK(bytes_eq(&b, cases[i].bytes, cases[i].n));
        aml_buf_free(&b);
    }
}

static void test_names_and_strings(void)
{
    struct aml_buf b;
    aml_buf_init(&b);
    aml_namestring(&b, "_SB");
    CHECK(bytes_eq(&b, (const uint8_t *)"_SB_", 4));
    aml_buf_free(&b);

    aml_namestring(&b, "\\_SB.VGEN");
    CHECK(bytes_eq(&b, (const uint8_t *)"\\\x2e_SB_VGEN", 10));
    aml_buf_free(&b);

    aml_namestring(&b, "\\_SB.PCI0.S1");
    CHECK(bytes_eq(&b, (const uint8_t *)"\\\x2f\x03_SB_PCI0S1__", 15));
    aml_buf_free(&b);

    aml_namestring(&b, "^^AB");
    CHECK(bytes_eq(&b, (const uint8_t *)"^^AB__", 6));
    aml_buf_free(&b);

    aml_namestring(&b, "\\");
    CHECK(bytes_eq(&b, (const uint8_t *)"\\\0", 2));
    aml_buf_free(&b);

    aml_string(&b, "LNRO0005");
    CHECK(bytes_eq(&b, (const uint8_t *)"\x0dLNRO0005\0", 10));
    aml_buf_free(&b);

    aml_eisaid(&b, "PNP0501");
    CHECK(bytes_eq(&b, (const uint8_t[]){0x0c, 0x41, 0xd0, 0x05, 0x01}, 5));
    aml_buf_free(&b);

    /* Interrupt (ResourceConsumer, Level, ActiveLow, Exclusive) {5}: flags 0x05. */
    aml_res_interrupt(&b, false, true, 5);
    CHECK(bytes_eq(&b, (const uint8_t[]){0x89, 0x06, 0x00, 0x05, 0x01, 5, 0, 0, 0}, 9));
    aml_buf_free(&b);
}

/* ---- running the ACPICA tools ---- */

/* Runs a shell command, returns its exit status and (in *out) its stdout+stderr. */
static int run(const char *cmd, char **out)
{
    cleanup_free char *full = xasprintf("%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) {
        *out = xstrdup("");
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    buf[len] = '\0';
    *out = buf;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *name, const void *data, size_t len)
{
    cleanup_free char *path = xasprintf("%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fwrite(data, 1, len, f) == len);
    fclose(f);
}

/* Text with every run of whitespace squeezed to one space, so asserts do not depend on
 * iasl's column layout. */
static char *squeeze(const char *s)
{
    char *out = xmalloc(strlen(s) + 1), *o = out;
    bool space = false;
    for (; *s; s++) {
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
            space = true;
            continue;
        }
        if (space && o != out)
            *o++ = ' ';
        space = false;
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

/* Disassembles <name>.dat with iasl -d; returns the squeezed .dsl text (NULL on failure). */
static char *disassemble(const char *name, const void *data, size_t len)
{
    cleanup_free char *dat = xasprintf("%s.dat", name);
    write_file(dat, data, len);
    cleanup_free char *cmd = xasprintf("cd %s && iasl -d %s", tmpdir, dat);
    cleanup_free char *out = NULL;
    int rc = run(cmd, &out);
    if (rc != 0 || strstr(out, "rror") || strstr(out, "arning"))
        fprintf(stderr, "iasl -d %s (rc %d):\n%s\n", dat, rc, out);
    CHECK(rc == 0);
    CHECK(strstr(out, "rror") == NULL);
    CHECK(strstr(out, "arning") == NULL);
    cleanup_free char *dsl = xasprintf("%s/%s.dsl", tmpdir, name);
    char *text = NULL;
    size_t tlen = 0;
    sm_error_t err = NULL;
    if (sm_read_file(dsl, 64 << 20, &text, &tlen, &err) < 0) {
        fprintf(stderr, "%s\n", sm_error_message(err));
        sm_error_release(&err);
        CHECK(!"disassembly written");
        return NULL;
    }
    char *sq = squeeze(text);
    free(text);
    return sq;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The text of one ASL device, from "Device (NAME)" to the next "Device (" (or the end). */
static char *device_block(const char *dsl, const char *name)
{
    cleanup_free char *start_tag = xasprintf("Device (%s)", name);
    const char *start = strstr(dsl, start_tag);
    if (!start)
        return xstrdup("");
    const char *end = strstr(start + 1, "Device (");
    size_t n = end ? (size_t)(end - start) : strlen(start);
    char *out = xmalloc(n + 1);
    memcpy(out, start, n);
    out[n] = '\0';
    return out;
}

#define CHECK_HAS(text, needle)                                                                    \
    do {                                                                                           \
        bool has_ = (text) != NULL && strstr((text), (needle)) != NULL;                            \
        if (!has_)                                                                                 \
            fprintf(stderr, "missing in disassembly: %s\n", (needle));                             \
        CHECK(has_);                                                                               \
    } while (0)

/* ---- the tables ---- */

struct tables {
    uint8_t buf[X86_ACPI_END - X86_ACPI_START];
    size_t used;
    uint64_t rsdp;
    const uint8_t *xsdt, *fadt, *madt, *dsdt;
};

static const uint8_t *table_at(struct tables *t, uint64_t gpa, const char *sig)
{
    if (gpa < X86_ACPI_START || gpa + 36 > X86_ACPI_START + t->used) {
        CHECK(!"table pointer inside the built range");
        return NULL;
    }
    const uint8_t *p = t->buf + (gpa - X86_ACPI_START);
    uint32_t len = get32(p + 4);
    CHECK(memcmp(p, sig, 4) == 0);
    CHECK(len >= 36 && gpa + len <= X86_ACPI_START + t->used);
    if (len < 36 || gpa + len > X86_ACPI_START + t->used)
        return NULL;
    CHECK_EQ_U64(sum8(p, len), 0);
    CHECK(memcmp(p + 10, "SUPMCH", 6) == 0);
    return p;
}

static bool build(struct tables *t, const struct acpi_config *cfg)
{
    sm_error_t err = NULL;
    memset(t, 0, sizeof(*t));
    int rc =
        acpi_build_tables(cfg, t->buf, sizeof(t->buf), X86_ACPI_START, &t->used, &t->rsdp, &err);
    if (rc < 0) {
        fprintf(stderr, "acpi_build_tables: %s\n", sm_error_message(err));
        sm_error_release(&err);
    }
    CHECK(rc == 0);
    if (rc < 0)
        return false;
    CHECK_EQ_U64(t->rsdp, X86_ACPI_START);
    CHECK(t->used > 36 && t->used <= sizeof(t->buf));

    /* RSDP: where a legacy scan looks (16-byte aligned, in 0xE0000..0xFFFFF). */
    const uint8_t *r = t->buf;
    CHECK(memcmp(r, "RSD PTR ", 8) == 0);
    CHECK_EQ_U64(sum8(r, 20), 0);
    CHECK_EQ_U64(sum8(r, 36), 0);
    CHECK_EQ_U64(r[15], 2);
    CHECK_EQ_U64(get32(r + 16), 0);
    CHECK_EQ_U64(get32(r + 20), 36);

    t->xsdt = table_at(t, get64(r + 24), "XSDT");
    if (!t->xsdt)
        return false;
    CHECK_EQ_U64(get32(t->xsdt + 4), 36 + 2 * 8);
    t->fadt = table_at(t, get64(t->xsdt + 36), "FACP");
    t->madt = table_at(t, get64(t->xsdt + 44), "APIC");
    if (!t->fadt || !t->madt)
        return false;
    CHECK_EQ_U64(get32(t->fadt + 4), 276);
    CHECK_EQ_U64(t->fadt[8], 6);
    CHECK_EQ_U64(get32(t->fadt + 40), 0); /* 32-bit DSDT pointer unused: X_DSDT */
    t->dsdt = table_at(t, get64(t->fadt + 140), "DSDT");
    CHECK_EQ_U64(get32(t->madt + 4), 44 + 8 * cfg->ncpus + 12);
    return t->dsdt != NULL;
}

static void check_fadt(const struct tables *t)
{
    cleanup_free char *d = disassemble("facp", t->fadt, get32(t->fadt + 4));
    CHECK_HAS(d, "Signature : \"FACP\"");
    CHECK_HAS(d, "Revision : 06");
    CHECK_HAS(d, "FADT Minor Revision : 05");
    CHECK_HAS(d, "Hardware Reduced (V5) : 1");
    CHECK_HAS(d, "Reset Register Supported (V2) : 1");
    CHECK_HAS(d, "Control Method Power Button (V1) : 1");
    CHECK_HAS(d, "Legacy Devices Supported (V2) : 1");
    CHECK_HAS(d, "8042 Present on ports 60/64 (V2) : 0");
    CHECK_HAS(d, "VGA Not Present (V4) : 1");
    CHECK_HAS(d, "CMOS RTC Not Present (V5) : 1");
    CHECK_HAS(d, "FACS Address : 00000000 ");
    char want[160];
    snprintf(want, sizeof(want), "DSDT Address : %016" PRIX64,
             (uint64_t)(X86_ACPI_START + (uint64_t)(t->dsdt - t->buf)));
    CHECK_HAS(d, want);
    /* Each register's block: the GAS fields follow its title. */
    static const struct {
        const char *title;
        unsigned port;
    } regs[] = {
        {"Reset Register : [Generic Address Structure]", X86_ACPI_RESET_PORT},
        {"Sleep Control Register : [Generic Address Structure]", X86_ACPI_SLEEP_CONTROL_PORT},
        {"Sleep Status Register : [Generic Address Structure]", X86_ACPI_SLEEP_STATUS_PORT},
    };
    for (size_t i = 0; i < SM_ARRAY_SIZE(regs); i++) {
        const char *blk = d ? strstr(d, regs[i].title) : NULL;
        CHECK_HAS(d, regs[i].title);
        if (!blk)
            continue;
        /* The fields follow the title, with iasl's [offset] columns between them. */
        char window[400];
        snprintf(window, sizeof(window), "%.399s", blk);
        CHECK_HAS(window, "Space ID : 01 [SystemIO]");
        CHECK_HAS(window, "Bit Width : 08");
        CHECK_HAS(window, "Encoded Access Width : 01 [Byte Access:8]");
        snprintf(want, sizeof(want), "Address : %016X", regs[i].port);
        CHECK_HAS(window, want);
    }
    snprintf(want, sizeof(want), "Value to cause reset : %02X", X86_ACPI_RESET_VALUE);
    CHECK_HAS(d, want);
    /* "SUPERMCH" read as a little-endian 64-bit number. */
    CHECK_HAS(d, "Hypervisor ID : 48434D5245505553");
}

static void check_madt(const struct tables *t, unsigned ncpus)
{
    cleanup_free char *d = disassemble("apic", t->madt, get32(t->madt + 4));
    CHECK_HAS(d, "Signature : \"APIC\"");
    CHECK_HAS(d, "Local Apic Address : FEE00000");
    CHECK_HAS(d, "PC-AT Compatibility : 1");
    CHECK_EQ_U64(count(d, "[Processor Local APIC]"), ncpus);
    CHECK_EQ_U64(count(d, "Processor Enabled : 1"), ncpus);
    char want[64];
    for (unsigned i = 0; i < ncpus; i++) {
        snprintf(want, sizeof(want), "Processor ID : %02X", i);
        CHECK_HAS(d, want);
        snprintf(want, sizeof(want), "Local Apic ID : %02X", i);
        CHECK_HAS(d, want);
    }
    CHECK_EQ_U64(count(d, "[I/O APIC]"), 1);
    CHECK_HAS(d, "I/O Apic ID : 00");
    CHECK_HAS(d, "Address : FEC00000");
    CHECK_HAS(d, "Interrupt : 00000000");
    CHECK_EQ_U64(count(d, "Interrupt Source Override"), 0);
}

static void check_xsdt(const struct tables *t)
{
    cleanup_free char *d = disassemble("xsdt", t->xsdt, get32(t->xsdt + 4));
    char want[96];
    snprintf(want, sizeof(want), "ACPI Table Address 0 : %016" PRIX64, get64(t->xsdt + 36));
    CHECK_HAS(d, want);
    snprintf(want, sizeof(want), "ACPI Table Address 1 : %016" PRIX64, get64(t->xsdt + 44));
    CHECK_HAS(d, want);
    CHECK(strstr(d ? d : "", "ACPI Table Address 2") == NULL);
}

static const struct acpi_virtio_mmio_dev virtio3[] = {
    {X86_VIRTIO_MMIO_BASE, X86_VIRTIO_MMIO_SIZE, X86_VIRTIO_IRQ_BASE},
    {X86_VIRTIO_MMIO_BASE + X86_VIRTIO_MMIO_SIZE, X86_VIRTIO_MMIO_SIZE, X86_VIRTIO_IRQ_BASE + 1},
    {0x100000000ull, X86_VIRTIO_MMIO_SIZE, X86_VIRTIO_IRQ_BASE + 2}, /* above 4 GiB: QWord */
};

static void check_dsdt(const struct tables *t, bool vmgenid)
{
    cleanup_free char *d = disassemble("dsdt", t->dsdt, get32(t->dsdt + 4));
    if (!d)
        return;
    CHECK_HAS(d, "DefinitionBlock (\"\", \"DSDT\", 2, \"SUPMCH\", \"SMDSDT \", 0x00000001)");
    CHECK_HAS(d, "Scope (\\_SB)");
    CHECK_HAS(d,
              "Name (\\_S5, Package (0x04) // _S5_: S5 System State { 0x05, Zero, Zero, Zero })");

    cleanup_free char *com1 = device_block(d, "COM1");
    CHECK_HAS(com1, "Name (_HID, EisaId (\"PNP0501\")");
    CHECK_HAS(com1, "IO (Decode16, 0x03F8, // Range Minimum 0x03F8, // Range Maximum 0x01, // "
                    "Alignment 0x08, // Length )");
    CHECK_HAS(com1, "IRQNoFlags () {4}");

    cleanup_free char *ged = device_block(d, "GED");
    CHECK_HAS(ged, "Name (_HID, \"ACPI0013\"");
    CHECK_HAS(ged,
              "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { 0x00000017, }");
    CHECK_HAS(ged, "OperationRegion (EREG, SystemMemory, 0xFEB00000, 0x04)");
    CHECK_HAS(ged, "Field (EREG, DWordAcc, NoLock, WriteAsZeros) { ESEL, 32 }");
    CHECK_HAS(ged, "Method (_EVT, 1, Serialized)");
    CHECK_HAS(ged, "Local0 = ESEL");

    cleanup_free char *pv = device_block(d, "PEVT");
    CHECK_HAS(pv, "Name (_HID, \"QEMU0001\")");
    CHECK_HAS(pv, "Return (0x0F)");
    CHECK_HAS(pv, "IO (Decode16, 0x0505, // Range Minimum 0x0505, // Range Maximum 0x01, // "
                  "Alignment 0x01, // Length )");

    cleanup_free char *vg = device_block(d, "VGEN");
    if (vmgenid) {
        CHECK_HAS(ged, "If (((Local0 & One) == One)) { Notify (\\_SB.VGEN, 0x80)");
        CHECK_HAS(vg, "Name (_HID, \"VMGENCTR\")");
        CHECK_HAS(vg, "Name (_CID, \"VM_Gen_Counter\")");
        CHECK_HAS(vg, "Method (_STA, 0, NotSerialized) // _STA: Status { Return (0x0F) }");
        CHECK_HAS(vg, "Method (ADDR, 0, NotSerialized) { Return (Package (0x02) { 0x0009F000, "
                      "Zero }) }");
    } else {
        CHECK(strstr(d, "VGEN") == NULL);
        CHECK(strstr(ged, "Notify") == NULL);
    }

    CHECK_EQ_U64(count(d, "Name (_HID, \"LNRO0005\")"), 3);
    for (unsigned i = 0; i < 3; i++) {
        char name[8], want[256];
        snprintf(name, sizeof(name), "VR%02u", i);
        cleanup_free char *vr = device_block(d, name);
        CHECK_HAS(vr, "Name (_HID, \"LNRO0005\")");
        CHECK_HAS(vr, i == 0   ? "Name (_UID, Zero)"
                      : i == 1 ? "Name (_UID, One)"
                               : "Name (_UID, 0x02)");
        if (virtio3[i].addr < 0x100000000ull)
            snprintf(want, sizeof(want),
                     "Memory32Fixed (ReadWrite, 0x%08" PRIX64 ", // Address Base 0x%08X, // "
                     "Address Length )",
                     virtio3[i].addr, virtio3[i].size);
        else
            snprintf(want, sizeof(want),
                     "QWordMemory (ResourceConsumer, PosDecode, MinFixed, MaxFixed, NonCacheable, "
                     "ReadWrite, 0x0000000000000000, // Granularity 0x%016" PRIX64
                     ", // Range Minimum 0x%016" PRIX64 ", // Range Maximum",
                     virtio3[i].addr, virtio3[i].addr + virtio3[i].size - 1);
        CHECK_HAS(vr, want);
        snprintf(want, sizeof(want),
                 "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { 0x%08X, }",
                 virtio3[i].gsi);
        CHECK_HAS(vr, want);
    }
}

/* acpiexec runs the DSDT in ACPICA's interpreter: ADDR, _S5, and _EVT's Notify. The -fv
 * value fills simulated operation regions, i.e. what the GED selector reads as. */
static void check_acpiexec(const struct tables *t)
{
    write_file("facp.dat", t->fadt, get32(t->fadt + 4));
    write_file("dsdt.dat", t->dsdt, get32(t->dsdt + 4));
    cleanup_free char *cmd = xasprintf(
        "cd %s && timeout 60 acpiexec -b 'evaluate \\_SB.VGEN.ADDR; evaluate \\_S5; evaluate "
        "\\_SB.PEVT._STA' facp.dat dsdt.dat",
        tmpdir);
    cleanup_free char *out = NULL;
    int rc = run(cmd, &out);
    CHECK(rc == 0);
    cleanup_free char *sq = squeeze(out);
    CHECK_HAS(sq, "Evaluation of \\_SB.VGEN.ADDR returned object");
    CHECK_HAS(sq, "[Package] Contains 2 Elements: [Integer] = 000000000009F000 [Integer] = "
                  "0000000000000000");
    CHECK_HAS(sq, "[Package] Contains 4 Elements: [Integer] = 0000000000000005");
    CHECK_HAS(sq, "Evaluation of \\_SB.PEVT._STA returned object");
    CHECK_HAS(sq, "[Integer] = 000000000000000F");
    CHECK(strstr(sq, "Error") == NULL && strstr(sq, "AE_") == NULL);
    if (strstr(sq, "Error") || strstr(sq, "AE_"))
        fprintf(stderr, "acpiexec:\n%s\n", out);

    /* Selector reads the VMGENID bit: _EVT notifies VGEN with 0x80. */
    free(out);
    cleanup_free char *cmd1 = xasprintf(
        "cd %s && timeout 60 acpiexec -fv %u -b 'evaluate \\_SB.GED._EVT 0x17' facp.dat dsdt.dat",
        tmpdir, X86_GED_EVT_VMGENID);
    rc = run(cmd1, &out);
    CHECK(rc == 0);
    CHECK_HAS(out, "Received a Device Notify on [VGEN]");
    CHECK_HAS(out, "Value 0x80");
    free(out);
    /* Another bit only: no notification. */
    cleanup_free char *cmd2 = xasprintf(
        "cd %s && timeout 60 acpiexec -fv %u -b 'evaluate \\_SB.GED._EVT 0x17' facp.dat dsdt.dat",
        tmpdir, X86_GED_EVT_VMGENID << 1);
    rc = run(cmd2, &out);
    CHECK(rc == 0);
    CHECK_HAS(out, "Evaluating \\_SB.GED._EVT");
    CHECK(strstr(out, "Notify") == NULL);
}

static void test_tables(unsigned ncpus)
{
    static struct tables t;
    struct acpi_config cfg = {
        .ncpus = ncpus, .virtio = virtio3, .nvirtio = 3, .vmgenid_addr = X86_VMGENID_ADDR};
    if (!build(&t, &cfg))
        return;
    CHECK_EQ_U64(t.madt[8], 5);
    check_xsdt(&t);
    check_fadt(&t);
    check_madt(&t, ncpus);
    check_dsdt(&t, true);
    check_acpiexec(&t);
}

static void test_no_vmgenid(void)
{
    static struct tables t;
    struct acpi_config cfg = {.ncpus = 2, .virtio = virtio3, .nvirtio = 3, .vmgenid_addr = 0};
    if (!build(&t, &cfg))
        return;
    check_dsdt(&t, false);
}

static void test_max(void)
{
    static struct tables t;
    static struct acpi_virtio_mmio_dev many[ACPI_MAX_VIRTIO];
    for (size_t i = 0; i < ACPI_MAX_VIRTIO; i++)
        many[i] = (struct acpi_virtio_mmio_dev){0xd0000000 + i * 0x1000, 0x1000, 5 + i % 16};
    struct acpi_config cfg = {.ncpus = ACPI_MAX_CPUS,
                              .virtio = many,
                              .nvirtio = ACPI_MAX_VIRTIO,
                              .vmgenid_addr = X86_VMGENID_ADDR};
    if (!build(&t, &cfg))
        return;
    /* A DSDT this size needs multi-byte PkgLengths for \_SB: iasl must still parse it all. */
    CHECK(get32(t.dsdt + 4) > 4096);
    cleanup_free char *d = disassemble("dsdt-max", t.dsdt, get32(t.dsdt + 4));
    CHECK_EQ_U64(count(d, "Name (_HID, \"LNRO0005\")"), ACPI_MAX_VIRTIO);
    CHECK_HAS(d, "Device (VRFF)");
    CHECK_HAS(d, "Name (\\_S5, Package (0x04)");
    cleanup_free char *m = disassemble("apic-max", t.madt, get32(t.madt + 4));
    CHECK_EQ_U64(count(m, "[Processor Local APIC]"), ACPI_MAX_CPUS);
    CHECK_HAS(m, "Local Apic ID : FE");
}

/* PkgLength at its boundaries, judged by iasl: Buffers whose encodings need 1, 2, 3 and 4
 * PkgLength bytes, each followed by a name that is found only if the length was right. */
static void test_pkglength_iasl(void)
{
    static const size_t sizes[] = {56, 57, 58, 59, 60, 61, 62, 4088, 4089, 4090, 4091, 0x100000};
    struct aml_buf b;
    aml_buf_init(&b);
    uint8_t hdr[36] = {0};
    aml_bytes(&b, hdr, sizeof(hdr));
    size_t sc = aml_scope_begin(&b, "\\_SB");
    uint8_t *data = xcalloc(1, 0x100000);
    for (size_t i = 0; i < SM_ARRAY_SIZE(sizes); i++) {
        char name[5];
        snprintf(name, sizeof(name), "B%03zu", i);
        aml_name(&b, name);
        aml_buffer(&b, data, sizes[i]);
        snprintf(name, sizeof(name), "N%03zu", i);
        aml_name(&b, name);
        aml_integer(&b, i);
    }
    free(data);
    aml_end(&b, sc);
    memcpy(b.data, "DSDT", 4);
    for (int i = 0; i < 4; i++)
        b.data[4 + i] = (uint8_t)(b.len >> (8 * i));
    b.data[8] = 2;
    memcpy(b.data + 10, "SUPMCH", 6);
    memcpy(b.data + 16, "PKGLEN  ", 8);
    b.data[9] = (uint8_t)(0 - sum8(b.data, b.len));
    cleanup_free char *d = disassemble("pkglen", b.data, b.len);
    aml_buf_free(&b);
    for (size_t i = 0; i < SM_ARRAY_SIZE(sizes); i++) {
        char want[64];
        snprintf(want, sizeof(want), "Name (B%03zu, Buffer (0x%02zX)", i, sizes[i]);
        if (sizes[i] > 0xff)
            snprintf(want, sizeof(want), "Name (B%03zu, Buffer (0x%04zX)", i, sizes[i]);
        if (sizes[i] > 0xffff)
            snprintf(want, sizeof(want), "Name (B%03zu, Buffer (0x%08zX)", i, sizes[i]);
        CHECK_HAS(d, want);
        snprintf(want, sizeof(want), "Name (N%03zu, ", i);
        CHECK_HAS(d, want);
    }
}

static void test_bad_config(void)
{
    static uint8_t buf[X86_ACPI_END - X86_ACPI_START];
    size_t used;
    uint64_t rsdp;
    sm_error_t err = NULL;
    struct acpi_config cfg = {.ncpus = 0};
    CHECK(acpi_build_tables(&cfg, buf, sizeof(buf), X86_ACPI_START, &used, &rsdp, &err) < 0);
    CHECK_STR(sm_error_message(err), "cpus 0: must be between 1 and 255");
    sm_error_release(&err);

    cfg.ncpus = 256;
    CHECK(acpi_build_tables(&cfg, buf, sizeof(buf), X86_ACPI_START, &used, &rsdp, &err) < 0);
    sm_error_release(&err);

    struct acpi_virtio_mmio_dev bad = {0xd0000000, 0x1000, X86_IOAPIC_PINS};
    cfg = (struct acpi_config){.ncpus = 1, .virtio = &bad, .nvirtio = 1};
    CHECK(acpi_build_tables(&cfg, buf, sizeof(buf), X86_ACPI_START, &used, &rsdp, &err) < 0);
    CHECK(strstr(sm_error_message(err), "GSI 24") != NULL);
    sm_error_release(&err);

    bad = (struct acpi_virtio_mmio_dev){UINT64_MAX - 0x10, 0x1000, 5};
    CHECK(acpi_build_tables(&cfg, buf, sizeof(buf), X86_ACPI_START, &used, &rsdp, &err) < 0);
    CHECK(strstr(sm_error_message(err), "bad window") != NULL);
    sm_error_release(&err);

    cfg = (struct acpi_config){.ncpus = 1};
    CHECK(acpi_build_tables(&cfg, buf, 200, X86_ACPI_START, &used, &rsdp, &err) < 0);
    CHECK(strstr(sm_error_message(err), "do not fit in 200") != NULL);
    sm_error_release(&err);
}

int main(void)
{
    test_pkglength_encode();
    test_pkg_nesting();
    test_integers();
    test_names_and_strings();
    test_bad_config();

    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    cleanup_free char *out = NULL;
    if (run("iasl -v && acpiexec -v", &out) != 0) {
        fprintf(stderr, "iasl/acpiexec not runnable (install acpica-tools): %s\n", out);
        CHECK(!"acpica-tools installed");
    } else {
        test_pkglength_iasl();
        test_tables(1);
        test_tables(4);
        test_no_vmgenid();
        test_max();
    }
    if (check_failures) {
        fprintf(stderr, "tables and disassembly kept in %s\n", tmpdir);
    } else {
        cleanup_free char *cmd = xasprintf("rm -rf %s", tmpdir);
        CHECK(system(cmd) == 0);
    }
    return check_summary("acpi");
}
