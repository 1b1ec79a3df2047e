#include "vmm/devices/serial.h"

#include <string.h>

#include "common/util.h"

/* Register offsets and bits (the 16550 data sheet's names). */
enum {
    UART_RX = 0,
    UART_TX = 0,
    UART_DLL = 0,
    UART_IER = 1,
    UART_DLM = 1,
    UART_IIR = 2,
    UART_FCR = 2,
    UART_LCR = 3,
    UART_MCR = 4,
    UART_LSR = 5,
    UART_MSR = 6,
    UART_SCR = 7,
};
#define IER_RDI      0x01 /* receive data interrupt */
#define IER_THRI     0x02 /* transmit holding register empty interrupt */
#define IIR_NO_INT   0x01
#define IIR_THRI     0x02
#define IIR_RDI      0x04
#define IIR_FIFO     0xc0
#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB     0x80
#define MCR_DTR      0x01
#define MCR_RTS      0x02
#define MCR_OUT1     0x04
#define MCR_OUT2     0x08
#define MCR_LOOP     0x10
#define LSR_DR       0x01
#define LSR_THRE     0x20
#define LSR_TEMT     0x40
#define MSR_CTS      0x10
#define MSR_DSR      0x20
#define MSR_RI       0x40
#define MSR_DCD      0x80

void serial_init(struct serial *dev, const struct serial_ops *ops, void *opaque)
{
    memset(dev, 0, sizeof(*dev));
    pthread_mutex_init(&dev->lock, NULL);
    dev->ops = ops;
    dev->opaque = opaque;
    /* The 16550's reset value: OUT2 clear, so the IRQ line is gated off. */
    dev->s.mcr = 0;
}

static uint8_t iir_locked(const struct serial *dev)
{
    uint8_t fifo = (dev->s.fcr & FCR_ENABLE) ? IIR_FIFO : 0;
    if ((dev->s.ier & IER_RDI) && dev->s.rx_count)
        return fifo | IIR_RDI;
    if ((dev->s.ier & IER_THRI) && dev->s.thr_interrupt)
        return fifo | IIR_THRI;
    return fifo | IIR_NO_INT;
}

/* Called with the lock held; the irq callback must not re-enter the device. */
static void update_irq_locked(struct serial *dev)
{
    bool level = !(iir_locked(dev) & IIR_NO_INT);
    if (level != dev->irq_level) {
        dev->irq_level = level;
        dev->ops->irq(dev->opaque, level);
    }
}

/* The guest listens once receive interrupts are enabled AND routed: on a PC the 8250's
 * IRQ line is gated by OUT2. Linux's probe briefly enables every interrupt with OUT2
 * clear, and clears the FIFOs when the tty is opened before it sets OUT2; host input
 * handed over earlier would be thrown away, so it waits on the host until then. */
static bool can_receive_locked(const struct serial *dev)
{
    return (dev->s.ier & IER_RDI) && (dev->s.mcr & MCR_OUT2) && !(dev->s.mcr & MCR_LOOP) &&
           dev->s.rx_count < SERIAL_FIFO_SIZE;
}

static void push_rx_locked(struct serial *dev, uint8_t byte)
{
    if (dev->s.rx_count == SERIAL_FIFO_SIZE)
        return;
    dev->s.rx_fifo[(dev->s.rx_head + dev->s.rx_count) % SERIAL_FIFO_SIZE] = byte;
    dev->s.rx_count++;
}

static void write_reg(struct serial *dev, unsigned off, uint8_t v, bool *notify_input)
{
    struct serial_state *s = &dev->s;
    bool dlab = s->lcr & LCR_DLAB;
    switch (off) {
    case UART_TX:
        if (dlab) {
            s->dll = v;
            break;
        }
        if (s->mcr & MCR_LOOP)
            push_rx_locked(dev, v);
        else
            dev->ops->output(dev->opaque, &v, 1);
        s->thr_interrupt = true; /* sent at once: the holding register is empty again */
        break;
    case UART_IER:
        if (dlab) {
            s->dlm = v;
            break;
        }
        /* Enabling THRI with the holding register empty raises the interrupt at once:
         * Linux's 8250 driver relies on this to start transmitting. */
        if (!(s->ier & IER_THRI) && (v & IER_THRI))
            s->thr_interrupt = true;
        if (!(s->ier & IER_RDI) && (v & IER_RDI))
            *notify_input = true;
        s->ier = v & 0x0f;
        break;
    case UART_FCR:
        if (v & FCR_CLEAR_RX) {
            s->rx_count = 0;
            s->rx_head = 0;
            *notify_input = true;
        }
        s->fcr = v & FCR_ENABLE;
        break;
    case UART_LCR:
        s->lcr = v;
        break;
    case UART_MCR:
        if (((s->mcr & MCR_LOOP) && !(v & MCR_LOOP)) || (!(s->mcr & MCR_OUT2) && (v & MCR_OUT2)))
            *notify_input = true;
        s->mcr = v & 0x1f;
        break;
    case UART_LSR:
        break; /* read-only on a real 16550 (factory test) */
    case UART_MSR:
        break;
    case UART_SCR:
        s->scr = v;
        break;
    }
}

static uint8_t read_reg(struct serial *dev, unsigned off, bool *notify_input)
{
    struct serial_state *s = &dev->s;
    bool dlab = s->lcr & LCR_DLAB;
    switch (off) {
    case UART_RX: {
        if (dlab)
            return s->dll;
        if (s->rx_count == 0)
            return 0;
        uint8_t b = s->rx_fifo[s->rx_head];
        s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
        s->rx_count--;
        *notify_input = true;
        return b;
    }
    case UART_IER:
        return dlab ? s->dlm : s->ier;
    case UART_IIR: {
        uint8_t iir = iir_locked(dev);
        if ((iir & 0x0f) == IIR_THRI)
            s->thr_interrupt = false; /* reading IIR acknowledges THRE */
        return iir;
    }
    case UART_LCR:
        return s->lcr;
    case UART_MCR:
        return s->mcr;
    case UART_LSR: {
        uint8_t lsr = LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0) | s->lsr_extra;
        s->lsr_extra = 0;
        return lsr;
    }
    case UART_MSR:
        if (s->mcr & MCR_LOOP) {
            /* Loopback wires the modem outputs back to the inputs; the driver's probe
             * checks exactly this. */
            return ((s->mcr & MCR_DTR) ? MSR_DSR : 0) | ((s->mcr & MCR_RTS) ? MSR_CTS : 0) |
                   ((s->mcr & MCR_OUT1) ? MSR_RI : 0) | ((s->mcr & MCR_OUT2) ? MSR_DCD : 0);
        }
        return MSR_DCD | MSR_DSR | MSR_CTS;
    case UART_SCR:
        return s->scr;
    }
    return 0xff;
}

void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct serial *dev = opaque;
    bool notify_input = false;
    pthread_mutex_lock(&dev->lock);
    /* Registers are bytes; a wider access touches consecutive registers. */
    for (uint32_t i = 0; i < len && offset + i < 8; i++) {
        if (is_write)
            write_reg(dev, (unsigned)(offset + i), data[i], &notify_input);
        else
            data[i] = read_reg(dev, (unsigned)(offset + i), &notify_input);
    }
    update_irq_locked(dev);
    bool wants = notify_input && can_receive_locked(dev);
    pthread_mutex_unlock(&dev->lock);
    if (wants && dev->ops->want_input)
        dev->ops->want_input(dev->opaque);
}

size_t serial_receive(struct serial *dev, const uint8_t *buf, size_t len)
{
    size_t taken = 0;
    pthread_mutex_lock(&dev->lock);
    while (taken < len && can_receive_locked(dev))
        push_rx_locked(dev, buf[taken++]);
    update_irq_locked(dev);
    pthread_mutex_unlock(&dev->lock);
    return taken;
}

bool serial_can_receive(struct serial *dev)
{
    pthread_mutex_lock(&dev->lock);
    bool r = can_receive_locked(dev);
    pthread_mutex_unlock(&dev->lock);
    return r;
}

void serial_save(struct serial *dev, struct serial_state *out)
{
    pthread_mutex_lock(&dev->lock);
    *out = dev->s;
    pthread_mutex_unlock(&dev->lock);
}

void serial_restore(struct serial *dev, const struct serial_state *in)
{
    pthread_mutex_lock(&dev->lock);
    dev->s = *in;
    /* Clamp what came from a file: indices must stay inside the FIFO, the bool 0 or 1. */
    sm_bool_sanitize(&dev->s.thr_interrupt);
    dev->s.rx_head %= SERIAL_FIFO_SIZE;
    if (dev->s.rx_count > SERIAL_FIFO_SIZE)
        dev->s.rx_count = SERIAL_FIFO_SIZE;
    dev->irq_level = false;
    update_irq_locked(dev);
    pthread_mutex_unlock(&dev->lock);
}
