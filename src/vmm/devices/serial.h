/* A 16550A UART (COM1). Transmit is instant (the host side never blocks the guest);
 * receive goes through the 16-byte FIFO, fed by the host only while the guest has receive
 * interrupts enabled, so input typed or piped early waits on the host side instead of
 * being dropped when the guest driver resets the FIFO. */
#ifndef SM_DEV_SERIAL_H
#define SM_DEV_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERIAL_FIFO_SIZE 16

/* The device's whole guest-visible state: what a snapshot saves. */
struct serial_state {
    uint8_t ier, lcr, mcr, lsr_extra, scr, dll, dlm, fcr;
    bool thr_interrupt; /* THR-empty interrupt pending (cleared by reading IIR) */
    uint8_t rx_fifo[SERIAL_FIFO_SIZE];
    uint8_t rx_head, rx_count;
};

struct serial_ops {
    void (*output)(void *opaque, const uint8_t *buf, size_t len); /* guest -> host */
    void (*irq)(void *opaque, bool level);                        /* line level */
    void (*want_input)(void *opaque); /* the FIFO has room and the guest listens */
};

struct serial {
    pthread_mutex_t lock;
    struct serial_state s;
    bool irq_level;
    const struct serial_ops *ops;
    void *opaque;
};

void serial_init(struct serial *dev, const struct serial_ops *ops, void *opaque);
/* Port I/O handler (offset 0..7 from the base port). */
void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
/* Host -> guest: queues up to len bytes; returns how many were taken (0 when the FIFO is
 * full or the guest is not listening yet). */
size_t serial_receive(struct serial *dev, const uint8_t *buf, size_t len);
/* True when the guest listens (receive interrupts enabled) and the FIFO has room. */
bool serial_can_receive(struct serial *dev);

void serial_save(struct serial *dev, struct serial_state *out);
void serial_restore(struct serial *dev, const struct serial_state *in);

#endif
