#include "vmm/bus.h"

#include <string.h>

int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_handler_fn fn, void *opaque,
                 sm_error_t *err)
{
    if (len == 0 || base + len < base)
        return sm_error_set(err, 0, "bus: bad range 0x%llx+0x%llx", (unsigned long long)base,
                            (unsigned long long)len);
    for (unsigned i = 0; i < bus->n; i++) {
        const struct bus_range *r = &bus->ranges[i];
        if (base < r->base + r->len && r->base < base + len)
            return sm_error_set(err, 0, "bus: range 0x%llx+0x%llx overlaps 0x%llx+0x%llx",
                                (unsigned long long)base, (unsigned long long)len,
                                (unsigned long long)r->base, (unsigned long long)r->len);
    }
    if (bus->n == BUS_MAX_RANGES)
        return sm_error_set(err, 0, "bus: too many devices");
    bus->ranges[bus->n++] = (struct bus_range){base, len, fn, opaque};
    return 0;
}

bool bus_dispatch(const struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
    for (unsigned i = 0; i < bus->n; i++) {
        const struct bus_range *r = &bus->ranges[i];
        if (addr >= r->base && addr - r->base < r->len && len <= r->len - (addr - r->base)) {
            r->fn(r->opaque, addr - r->base, data, len, is_write);
            return true;
        }
    }
    if (!is_write)
        memset(data, 0xff, len);
    return false;
}
