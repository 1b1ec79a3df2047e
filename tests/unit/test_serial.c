/* The 16550 UART model: the behaviour Linux's 8250 driver relies on. */
#include "check.h"
#include "vmm/devices/serial.h"

struct host {
    char out[256];
    size_t out_len;
    bool irq;
    int irq_changes;
    int want_input;
};

static void out(void *o, const uint8_t *b, size_t n)
{
    struct host *h = o;
    for (size_t i = 0; i < n && h->out_len < sizeof(h->out) - 1; i++)
        h->out[h->out_len++] = (char)b[i];
}
static void irq(void *o, bool level)
{
    struct host *h = o;
    h->irq = level;
    h->irq_changes++;
}
static void want(void *o)
{
    ((struct host *)o)->want_input++;
}
static const struct serial_ops ops = {out, irq, want};

static uint8_t rd(struct serial *s, unsigned off)
{
    uint8_t v = 0;
    serial_io(s, off, &v, 1, false);
    return v;
}
static void wr(struct serial *s, unsigned off, uint8_t v)
{
    serial_io(s, off, &v, 1, true);
}

int main(void)
{
    struct host h = {0};
    struct serial s;
    serial_init(&s, &ops, &h);

    /* Scratch register and divisor latch. */
    wr(&s, 7, 0xa5);
    CHECK(rd(&s, 7) == 0xa5);
    wr(&s, 3, 0x80);
    wr(&s, 0, 0x01);
    wr(&s, 1, 0x00);
    CHECK(rd(&s, 0) == 0x01);
    wr(&s, 3, 0x03);

    /* Transmit goes straight out; THR is empty again. */
    wr(&s, 0, 'h');
    wr(&s, 0, 'i');
    CHECK(h.out_len == 2 && memcmp(h.out, "hi", 2) == 0);
    CHECK((rd(&s, 5) & 0x60) == 0x60);

    /* Enabling THRI raises the interrupt at once; reading IIR acknowledges it. */
    CHECK(!h.irq);
    wr(&s, 1, 0x02);
    CHECK(h.irq);
    CHECK((rd(&s, 2) & 0x0f) == 0x02);
    CHECK(!h.irq);
    CHECK((rd(&s, 2) & 0x0f) == 0x01);

    /* Input is refused until the guest enables receive interrupts and routes them with
     * OUT2 (Linux's probe enables every interrupt with OUT2 clear, then clears the FIFO). */
    CHECK(!serial_can_receive(&s));
    CHECK(serial_receive(&s, (const uint8_t *)"abc", 3) == 0);
    wr(&s, 1, 0x0f);
    CHECK(!serial_can_receive(&s));
    CHECK(serial_receive(&s, (const uint8_t *)"abc", 3) == 0);
    wr(&s, 1, 0x00);
    wr(&s, 4, 0x08);
    CHECK(h.want_input == 0);
    CHECK(!serial_can_receive(&s));
    wr(&s, 1, 0x01);
    CHECK(h.want_input == 1);
    CHECK(serial_receive(&s, (const uint8_t *)"abc", 3) == 3);
    CHECK(h.irq);
    CHECK((rd(&s, 2) & 0x0f) == 0x04);
    CHECK(rd(&s, 5) & 0x01);
    CHECK(rd(&s, 0) == 'a' && rd(&s, 0) == 'b' && rd(&s, 0) == 'c');
    CHECK(!(rd(&s, 5) & 0x01));
    CHECK(!h.irq);

    /* The FIFO holds 16 bytes; the rest waits on the host. */
    const uint8_t many[40] = "0123456789abcdefghijklmnopqrstuvwxyzABCD";
    CHECK(serial_receive(&s, many, 40) == SERIAL_FIFO_SIZE);
    CHECK(rd(&s, 0) == '0');
    CHECK(serial_receive(&s, many + 16, 24) == 1);

    /* FIFO control: enabling FIFOs shows in IIR; clearing RX drops the queue. */
    wr(&s, 2, 0x01);
    CHECK((rd(&s, 2) & 0xc0) == 0xc0);
    wr(&s, 2, 0x03);
    CHECK(!(rd(&s, 5) & 0x01));

    /* Loopback: modem outputs appear as inputs, and sent bytes come back. */
    wr(&s, 4, 0x10 | 0x0f);
    CHECK((rd(&s, 6) & 0xf0) == 0xf0);
    wr(&s, 4, 0x10);
    CHECK((rd(&s, 6) & 0xf0) == 0x00);
    size_t before = h.out_len;
    wr(&s, 0, 'z');
    CHECK(h.out_len == before);
    CHECK(rd(&s, 0) == 'z');
    wr(&s, 4, 0x08);

    /* Save and restore keep the state; hostile indices are clamped. */
    struct serial_state st;
    serial_save(&s, &st);
    st.rx_head = 200;
    st.rx_count = 99;
    struct serial s2;
    struct host h2 = {0};
    serial_init(&s2, &ops, &h2);
    serial_restore(&s2, &st);
    CHECK(s2.s.rx_head < SERIAL_FIFO_SIZE && s2.s.rx_count == SERIAL_FIFO_SIZE);
    CHECK(rd(&s2, 7) == 0xa5);
    return check_summary("serial");
}
