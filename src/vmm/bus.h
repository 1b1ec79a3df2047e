/* Address-range dispatch for port I/O and MMIO exits (as kvmtool's ioport/mmio buses). */
#ifndef SM_VMM_BUS_H
#define SM_VMM_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

/* offset is relative to the range's base; data holds len bytes (1..8), little-endian. */
typedef void (*bus_handler_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
                               bool is_write);

#define BUS_MAX_RANGES 48

struct bus_range {
    uint64_t base;
    uint64_t len;
    bus_handler_fn fn;
    void *opaque;
};

struct bus {
    unsigned n;
    struct bus_range ranges[BUS_MAX_RANGES];
};

/* Registers a range; overlapping ranges are refused. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_handler_fn fn, void *opaque,
                 sm_error_t *err);
/* Calls the handler covering [addr, addr+len); false if no device claims the access
 * (reads then see all ones, writes are dropped: what an empty bus does). */
bool bus_dispatch(const struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

#endif
