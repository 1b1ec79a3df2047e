/* The x86 platform's small fixed devices: the hardware-reduced ACPI sleep and reset
 * registers, pvpanic, the i8042 reset line, and the Generic Event Device's selector.
 * Each turns a guest action into a VM event through one callback. */
#ifndef SM_DEV_PLATFORM_H
#define SM_DEV_PLATFORM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

enum platform_event {
    PLATFORM_POWEROFF,
    PLATFORM_REBOOT,
    PLATFORM_PANIC,
};

struct platform_ops {
    void (*event)(void *opaque, enum platform_event ev);
    void (*ged_irq)(void *opaque); /* pulse the GED's interrupt */
};

struct platform {
    const struct platform_ops *ops;
    void *opaque;
    pthread_mutex_t lock;
    uint32_t ged_pending; /* event bits the guest has not read yet (X86_GED_EVT_*) */
};

struct bus;
int platform_init(struct platform *p, struct bus *pio, struct bus *mmio,
                  const struct platform_ops *ops, void *opaque, sm_error_t *err);
/* Raises a GED event (e.g. X86_GED_EVT_VMGENID) towards the guest. */
void platform_ged_notify(struct platform *p, uint32_t event_bits);

#endif
