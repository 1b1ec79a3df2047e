#include "vmm/arch/x86_64/aml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* AML opcodes (ACPI 6.5, 20.3). */
#define AML_ZERO_OP       0x00
#define AML_ONE_OP        0x01
#define AML_NAME_OP       0x08
#define AML_BYTE_PREFIX   0x0a
#define AML_WORD_PREFIX   0x0b
#define AML_DWORD_PREFIX  0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX  0x0e
#define AML_SCOPE_OP      0x10
#define AML_BUFFER_OP     0x11
#define AML_PACKAGE_OP    0x12
#define AML_METHOD_OP     0x14
#define AML_DUAL_NAME     0x2e
#define AML_MULTI_NAME    0x2f
#define AML_EXT_PREFIX    0x5b
#define AML_ROOT_CHAR     0x5c
#define AML_PARENT_CHAR   0x5e
#define AML_LOCAL0        0x60
#define AML_ARG0          0x68
#define AML_STORE_OP      0x70
#define AML_AND_OP        0x7b
#define AML_NOTIFY_OP     0x86
#define AML_LEQUAL_OP     0x93
#define AML_IF_OP         0xa0
#define AML_RETURN_OP     0xa4
#define AML_ONES_OP       0xff
#define AML_EXT_REGION_OP 0x80
#define AML_EXT_FIELD_OP  0x81
#define AML_EXT_DEVICE_OP 0x82

/* Misuse of the builder is a bug in our table code, not bad input: stop loudly. */
static void aml_bug(const char *what, const char *detail)
{
    fprintf(stderr, "supermachine: AML builder: %s: %s\n", what, detail);
    abort();
}

void aml_buf_init(struct aml_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void aml_buf_free(struct aml_buf *b)
{
    free(b->data);
    aml_buf_init(b);
}

static void aml_reserve(struct aml_buf *b, size_t n)
{
    b->data = sm_reserve(b->data, &b->cap, b->len, n, 256);
}

void aml_bytes(struct aml_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    aml_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void aml_byte(struct aml_buf *b, uint8_t v)
{
    aml_bytes(b, &v, 1);
}

static void aml_le(struct aml_buf *b, uint64_t v, unsigned n)
{
    uint8_t tmp[8];
    for (unsigned i = 0; i < n; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    aml_bytes(b, tmp, n);
}

size_t aml_pkglength_encode(uint64_t value, uint8_t out[4])
{
    /* One byte holds 6 bits; longer forms hold 4 bits in the lead byte (whose top two
     * bits count the following bytes) plus 8 bits per following byte. */
    if (value < (1u << 6)) {
        out[0] = (uint8_t)value;
        return 1;
    }
    size_t n;
    if (value < (1u << 12))
        n = 2;
    else if (value < (1u << 20))
        n = 3;
    else if (value < (1u << 28))
        n = 4;
    else
        return 0;
    out[0] = (uint8_t)(((n - 1) << 6) | (value & 0xf));
    for (size_t i = 1; i < n; i++)
        out[i] = (uint8_t)(value >> (4 + 8 * (i - 1)));
    return n;
}

size_t aml_pkglength_for_content(size_t content, uint8_t out[4])
{
    for (size_t n = 1; n <= 4; n++) {
        uint64_t total = (uint64_t)content + n;
        uint8_t tmp[4];
        if (aml_pkglength_encode(total, tmp) == n) {
            memcpy(out, tmp, n);
            return n;
        }
    }
    return 0;
}

size_t aml_pkg_begin(struct aml_buf *b)
{
    return b->len;
}

void aml_end(struct aml_buf *b, size_t mark)
{
    if (mark > b->len)
        aml_bug("aml_end", "mark past the end");
    uint8_t pl[4];
    size_t n = aml_pkglength_for_content(b->len - mark, pl);
    if (n == 0)
        aml_bug("aml_end", "object larger than 256 MiB");
    aml_reserve(b, n);
    memmove(b->data + mark + n, b->data + mark, b->len - mark);
    memcpy(b->data + mark, pl, n);
    b->len += n;
}

void aml_integer(struct aml_buf *b, uint64_t v)
{
    if (v == 0)
        aml_byte(b, AML_ZERO_OP);
    else if (v == 1)
        aml_byte(b, AML_ONE_OP);
    else if (v == UINT64_MAX)
        aml_byte(b, AML_ONES_OP);
    else if (v <= 0xff) {
        aml_byte(b, AML_BYTE_PREFIX);
        aml_le(b, v, 1);
    } else if (v <= 0xffff) {
        aml_byte(b, AML_WORD_PREFIX);
        aml_le(b, v, 2);
    } else if (v <= 0xffffffffu) {
        aml_byte(b, AML_DWORD_PREFIX);
        aml_le(b, v, 4);
    } else {
        aml_byte(b, AML_QWORD_PREFIX);
        aml_le(b, v, 8);
    }
}

void aml_string(struct aml_buf *b, const char *s)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p > 0x7f)
            aml_bug("string", s);
    aml_byte(b, AML_STRING_PREFIX);
    aml_bytes(b, s, strlen(s) + 1);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void aml_eisaid(struct aml_buf *b, const char *id)
{
    if (strlen(id) != 7)
        aml_bug("EisaId", id);
    uint32_t v = 0;
    for (int i = 0; i < 3; i++) {
        if (id[i] < 'A' || id[i] > 'Z')
            aml_bug("EisaId", id);
        v |= (uint32_t)(id[i] - 0x40) << (26 - 5 * i);
    }
    for (int i = 3; i < 7; i++) {
        int h = hexval(id[i]);
        if (h < 0)
            aml_bug("EisaId", id);
        v |= (uint32_t)h << (4 * (6 - i));
    }
    /* The compressed id is stored most significant byte first. */
    aml_integer(b, __builtin_bswap32(v));
}

static bool name_char(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

/* Appends one 4-character NameSeg from s[0..n), padded with '_'. */
static void aml_nameseg(struct aml_buf *b, const char *s, size_t n, const char *path)
{
    if (n == 0 || n > 4)
        aml_bug("name segment length", path);
    char seg[4] = {'_', '_', '_', '_'};
    for (size_t i = 0; i < n; i++) {
        if (!name_char(s[i], i == 0))
            aml_bug("name character", path);
        seg[i] = s[i];
    }
    aml_bytes(b, seg, 4);
}

void aml_namestring(struct aml_buf *b, const char *path)
{
    const char *p = path;
    if (*p == '\\')
        aml_byte(b, AML_ROOT_CHAR), p++;
    else
        while (*p == '^')
            aml_byte(b, AML_PARENT_CHAR), p++;
    if (*p == '\0') {
        aml_byte(b, 0x00); /* NullName */
        return;
    }
    size_t nseg = 1;
    for (const char *q = p; *q; q++)
        nseg += *q == '.';
    if (nseg > 255)
        aml_bug("too many name segments", path);
    if (nseg == 2)
        aml_byte(b, AML_DUAL_NAME);
    else if (nseg > 2) {
        aml_byte(b, AML_MULTI_NAME);
        aml_byte(b, (uint8_t)nseg);
    }
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        aml_nameseg(b, p, n, path);
        p += n;
        if (*p == '.')
            p++;
    }
}

void aml_buffer(struct aml_buf *b, const void *data, size_t n)
{
    aml_byte(b, AML_BUFFER_OP);
    size_t m = aml_pkg_begin(b);
    aml_integer(b, n);
    aml_bytes(b, data, n);
    aml_end(b, m);
}

void aml_name(struct aml_buf *b, const char *name)
{
    aml_byte(b, AML_NAME_OP);
    aml_namestring(b, name);
}

size_t aml_scope_begin(struct aml_buf *b, const char *name)
{
    aml_byte(b, AML_SCOPE_OP);
    size_t m = aml_pkg_begin(b);
    aml_namestring(b, name);
    return m;
}

size_t aml_device_begin(struct aml_buf *b, const char *name)
{
    aml_byte(b, AML_EXT_PREFIX);
    aml_byte(b, AML_EXT_DEVICE_OP);
    size_t m = aml_pkg_begin(b);
    aml_namestring(b, name);
    return m;
}

size_t aml_method_begin(struct aml_buf *b, const char *name, unsigned nargs, bool serialized)
{
    if (nargs > 7)
        aml_bug("method arguments", name);
    aml_byte(b, AML_METHOD_OP);
    size_t m = aml_pkg_begin(b);
    aml_namestring(b, name);
    aml_byte(b, (uint8_t)(nargs | (serialized ? 0x08 : 0))); /* sync level 0 */
    return m;
}

size_t aml_package_begin(struct aml_buf *b, uint8_t nelements)
{
    aml_byte(b, AML_PACKAGE_OP);
    size_t m = aml_pkg_begin(b);
    aml_byte(b, nelements);
    return m;
}

void aml_local(struct aml_buf *b, unsigned n)
{
    if (n > 7)
        aml_bug("local", "index above 7");
    aml_byte(b, (uint8_t)(AML_LOCAL0 + n));
}

void aml_arg(struct aml_buf *b, unsigned n)
{
    if (n > 6)
        aml_bug("arg", "index above 6");
    aml_byte(b, (uint8_t)(AML_ARG0 + n));
}

void aml_store(struct aml_buf *b)
{
    aml_byte(b, AML_STORE_OP);
}

void aml_and(struct aml_buf *b)
{
    aml_byte(b, AML_AND_OP);
}

void aml_lequal(struct aml_buf *b)
{
    aml_byte(b, AML_LEQUAL_OP);
}

void aml_notify(struct aml_buf *b)
{
    aml_byte(b, AML_NOTIFY_OP);
}

void aml_return(struct aml_buf *b)
{
    aml_byte(b, AML_RETURN_OP);
}

void aml_null_target(struct aml_buf *b)
{
    aml_byte(b, 0x00);
}

size_t aml_if_begin(struct aml_buf *b)
{
    aml_byte(b, AML_IF_OP);
    return aml_pkg_begin(b);
}

void aml_operation_region(struct aml_buf *b, const char *name, enum aml_region_space space,
                          uint64_t offset, uint64_t length)
{
    aml_byte(b, AML_EXT_PREFIX);
    aml_byte(b, AML_EXT_REGION_OP);
    aml_namestring(b, name);
    aml_byte(b, (uint8_t)space);
    aml_integer(b, offset);
    aml_integer(b, length);
}

size_t aml_field_begin(struct aml_buf *b, const char *region, enum aml_field_access access,
                       enum aml_field_update update)
{
    aml_byte(b, AML_EXT_PREFIX);
    aml_byte(b, AML_EXT_FIELD_OP);
    size_t m = aml_pkg_begin(b);
    aml_namestring(b, region);
    aml_byte(b, (uint8_t)(access | (update << 5))); /* lock rule bit 4: NoLock */
    return m;
}

void aml_field_named(struct aml_buf *b, const char *name, uint32_t bits)
{
    /* A NamedField is a bare NameSeg followed by its width in bits, encoded like a
     * PkgLength (but the value does not count its own bytes). */
    aml_nameseg(b, name, strlen(name), name);
    uint8_t pl[4];
    size_t n = aml_pkglength_encode(bits, pl);
    if (n == 0)
        aml_bug("field width", name);
    aml_bytes(b, pl, n);
}

/* Resource descriptors (ACPI 6.5, 6.4.2 small and 6.4.3 large). */

void aml_res_io(struct aml_buf *r, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
    aml_byte(r, 0x47); /* small item 0x08, length 7 */
    aml_byte(r, 0x01); /* decodes 16 address bits */
    aml_le(r, min, 2);
    aml_le(r, max, 2);
    aml_byte(r, align);
    aml_byte(r, len);
}

void aml_res_irq_noflags(struct aml_buf *r, unsigned irq)
{
    if (irq > 15)
        aml_bug("IRQNoFlags", "irq above 15");
    aml_byte(r, 0x22); /* small item 0x04, length 2: edge, active-high, exclusive */
    aml_le(r, 1u << irq, 2);
}

void aml_res_memory32_fixed(struct aml_buf *r, bool writable, uint32_t base, uint32_t len)
{
    aml_byte(r, 0x86);
    aml_le(r, 9, 2);
    aml_byte(r, writable ? 1 : 0);
    aml_le(r, base, 4);
    aml_le(r, len, 4);
}

void aml_res_qword_memory(struct aml_buf *r, bool writable, uint64_t base, uint64_t len)
{
    if (len == 0 || base + len - 1 < base)
        aml_bug("QWordMemory", "empty or wrapping range");
    aml_byte(r, 0x8a);
    aml_le(r, 43, 2);
    aml_byte(r, 0x00);             /* memory range */
    aml_byte(r, 0x0d);             /* consumer, positive decode, min and max fixed */
    aml_byte(r, writable ? 1 : 0); /* non-cacheable, AddressRangeMemory, TypeStatic */
    aml_le(r, 0, 8);               /* granularity */
    aml_le(r, base, 8);
    aml_le(r, base + len - 1, 8);
    aml_le(r, 0, 8); /* translation offset */
    aml_le(r, len, 8);
}

void aml_res_interrupt(struct aml_buf *r, bool edge, bool active_low, uint32_t gsi)
{
    aml_byte(r, 0x89);
    aml_le(r, 6, 2);
    aml_byte(r, (uint8_t)(0x01 | (edge ? 0x02 : 0) | (active_low ? 0x04 : 0))); /* consumer */
    aml_byte(r, 1);
    aml_le(r, gsi, 4);
}

void aml_resource_template(struct aml_buf *b, const struct aml_buf *r)
{
    aml_byte(b, AML_BUFFER_OP);
    size_t m = aml_pkg_begin(b);
    aml_integer(b, r->len + 2);
    aml_bytes(b, r->data, r->len);
    aml_byte(b, 0x79); /* end tag; a zero checksum means "treat as valid" */
    aml_byte(b, 0x00);
    aml_end(b, m);
}
