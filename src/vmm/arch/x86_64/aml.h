/* A small AML (ACPI Machine Language) byte-code builder: just what the DSDT of a microVM
 * needs (names, integers, strings, packages, buffers, scopes, devices, methods, resource
 * templates, an operation region with one field, and the few expressions a GED _EVT
 * method uses).
 *
 * Everything appends to a growable buffer. Objects with a PkgLength (scopes, devices,
 * methods, packages, buffers, If, fields) are opened with a *_begin() call, which returns
 * a mark, and closed with aml_end(b, mark), which inserts the PkgLength once the contents
 * are known; opens and closes nest like brackets. Names are ASL paths such as "_SB",
 * "\\_SB.VGEN" or "^PARENT"; each segment is padded with '_' to four characters. */
#ifndef SM_X86_AML_H
#define SM_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml_buf {
    uint8_t *data;
    size_t len, cap;
};

/* Release the buffer's memory (the struct may be reused after aml_buf_init). */
void aml_buf_init(struct aml_buf *b);
void aml_buf_free(struct aml_buf *b);
void aml_bytes(struct aml_buf *b, const void *p, size_t n);
void aml_byte(struct aml_buf *b, uint8_t v);

/* PkgLength encoding (ACPI 6.5, 20.2.4). `value` is the encoded number; returns the
 * number of bytes written to out (1..4), or 0 if value does not fit in 28 bits. */
size_t aml_pkglength_encode(uint64_t value, uint8_t out[4]);
/* The PkgLength of an object whose contents after the PkgLength are `content` bytes: the
 * value counts the PkgLength bytes themselves, so the width depends on the total. Returns
 * the byte count, 0 if too large. */
size_t aml_pkglength_for_content(size_t content, uint8_t out[4]);

/* Opens a PkgLength-delimited object whose opcode the caller has just written. */
size_t aml_pkg_begin(struct aml_buf *b);
/* Closes it: inserts the PkgLength in front of everything written since `mark`. */
void aml_end(struct aml_buf *b, size_t mark);

/* Data objects. aml_integer picks the shortest encoding: Zero, One, Ones (all 64 bits
 * set), then byte, word, dword, qword prefixes. */
void aml_integer(struct aml_buf *b, uint64_t v);
void aml_string(struct aml_buf *b, const char *s);
/* An EISA id such as "PNP0501" compressed to its 32-bit form (as ASL's EisaId()). */
void aml_eisaid(struct aml_buf *b, const char *id);
void aml_namestring(struct aml_buf *b, const char *path);
/* Buffer (n) {bytes}. */
void aml_buffer(struct aml_buf *b, const void *data, size_t n);

/* Named objects and scopes. */
void aml_name(struct aml_buf *b, const char *name); /* Name (name, <next object>) */
size_t aml_scope_begin(struct aml_buf *b, const char *name);
size_t aml_device_begin(struct aml_buf *b, const char *name);
size_t aml_method_begin(struct aml_buf *b, const char *name, unsigned nargs, bool serialized);
size_t aml_package_begin(struct aml_buf *b, uint8_t nelements);

/* Expressions and statements (operands follow as further calls, in AML order). */
void aml_local(struct aml_buf *b, unsigned n); /* Local0..Local7 */
void aml_arg(struct aml_buf *b, unsigned n);   /* Arg0..Arg6 */
void aml_store(struct aml_buf *b);             /* Store (<src>, <dst>) */
void aml_and(struct aml_buf *b);               /* And (<a>, <b>, <target>) */
void aml_lequal(struct aml_buf *b);            /* LEqual (<a>, <b>) */
void aml_notify(struct aml_buf *b);            /* Notify (<object>, <value>) */
void aml_return(struct aml_buf *b);            /* Return (<value>) */
void aml_null_target(struct aml_buf *b);       /* no target for And etc. */
size_t aml_if_begin(struct aml_buf *b);        /* If (<predicate>) { ... } */

enum aml_region_space { AML_SYSTEM_MEMORY = 0, AML_SYSTEM_IO = 1 };
enum aml_field_access { AML_ACC_ANY = 0, AML_ACC_BYTE = 1, AML_ACC_WORD = 2, AML_ACC_DWORD = 3 };
enum aml_field_update { AML_PRESERVE = 0, AML_WRITE_AS_ONES = 1, AML_WRITE_AS_ZEROS = 2 };
/* OperationRegion (name, space, offset, length). */
void aml_operation_region(struct aml_buf *b, const char *name, enum aml_region_space space,
                          uint64_t offset, uint64_t length);
/* Field (region, access, NoLock, update) { ... }: add entries with aml_field_named(). */
size_t aml_field_begin(struct aml_buf *b, const char *region, enum aml_field_access access,
                       enum aml_field_update update);
void aml_field_named(struct aml_buf *b, const char *name, uint32_t bits);

/* Resource template descriptors (ACPI 6.5, 6.4), appended to a separate aml_buf that
 * aml_resource_template() then wraps in a Buffer with an end tag. */
void aml_res_io(struct aml_buf *r, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
void aml_res_irq_noflags(struct aml_buf *r, unsigned irq); /* IRQNoFlags () {irq}, irq < 16 */
void aml_res_memory32_fixed(struct aml_buf *r, bool writable, uint32_t base, uint32_t len);
void aml_res_qword_memory(struct aml_buf *r, bool writable, uint64_t base, uint64_t len);
/* Interrupt (ResourceConsumer, edge/level, high/low, Exclusive) {gsi}. */
void aml_res_interrupt(struct aml_buf *r, bool edge, bool active_low, uint32_t gsi);
/* Emits Buffer (descriptors + EndTag). */
void aml_resource_template(struct aml_buf *b, const struct aml_buf *r);

#endif
