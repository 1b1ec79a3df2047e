#include "vmm/devices/platform.h"

#include <string.h>

#include "vmm/arch/x86_64/layout.h"
#include "vmm/bus.h"

#define SLP_EN               (1u << 5)
#define SLP_TYP(v)           (((v) >> 2) & 0x7)
#define PVPANIC_PANICKED     (1u << 0)
#define PVPANIC_CRASH_LOADED (1u << 1)
#define I8042_CMD_PORT       0x64
#define I8042_RESET_CMD      0xfe

static void acpi_pm_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct platform *p = opaque;
    uint64_t port = X86_ACPI_SLEEP_CONTROL_PORT + off;
    if (!is_write) {
        memset(data, 0, len); /* sleep status: never "woken" */
        return;
    }
    if (port == X86_ACPI_SLEEP_CONTROL_PORT && (data[0] & SLP_EN) &&
        SLP_TYP(data[0]) == X86_ACPI_S5_TYPE)
        p->ops->event(p->opaque, PLATFORM_POWEROFF);
    else if (port == X86_ACPI_RESET_PORT && data[0] == X86_ACPI_RESET_VALUE)
        p->ops->event(p->opaque, PLATFORM_REBOOT);
}

static void pvpanic_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct platform *p = opaque;
    if (!is_write) {
        memset(data, 0, len);
        data[0] = PVPANIC_PANICKED | PVPANIC_CRASH_LOADED; /* events we understand */
        return;
    }
    if (data[0] & PVPANIC_PANICKED)
        p->ops->event(p->opaque, PLATFORM_PANIC);
}

static void i8042_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct platform *p = opaque;
    if (!is_write) {
        /* No keyboard: status says output buffer empty, input buffer empty. */
        memset(data, 0, len);
        return;
    }
    /* Pulsing the CPU reset line through the keyboard controller: Linux's reboot=k and a
     * fallback of its default reboot path. */
    if (off == 4 && data[0] == I8042_RESET_CMD)
        p->ops->event(p->opaque, PLATFORM_REBOOT);
}

static void ged_mmio(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct platform *p = opaque;
    if (is_write)
        return;
    memset(data, 0, len);
    if (off != 0 || len != 4)
        return;
    /* Reading the selector hands the pending events to the guest's _EVT and clears them. */
    pthread_mutex_lock(&p->lock);
    uint32_t v = p->ged_pending;
    p->ged_pending = 0;
    pthread_mutex_unlock(&p->lock);
    memcpy(data, &v, 4);
}

int platform_init(struct platform *p, struct bus *pio, struct bus *mmio,
                  const struct platform_ops *ops, void *opaque, sm_error_t *err)
{
    memset(p, 0, sizeof(*p));
    p->ops = ops;
    p->opaque = opaque;
    pthread_mutex_init(&p->lock, NULL);
    if (bus_register(pio, X86_ACPI_SLEEP_CONTROL_PORT, 3, acpi_pm_io, p, err) < 0 ||
        bus_register(pio, X86_PVPANIC_PORT, 1, pvpanic_io, p, err) < 0 ||
        bus_register(pio, 0x60, 5, i8042_io, p, err) < 0 ||
        bus_register(mmio, X86_GED_MMIO_ADDR, X86_GED_MMIO_SIZE, ged_mmio, p, err) < 0)
        return sm_error_wrap(err, "platform devices");
    return 0;
}

void platform_ged_notify(struct platform *p, uint32_t event_bits)
{
    pthread_mutex_lock(&p->lock);
    p->ged_pending |= event_bits;
    pthread_mutex_unlock(&p->lock);
    p->ops->ged_irq(p->opaque);
}
