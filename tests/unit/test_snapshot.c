/* The snapshot metadata parser against good and hostile files. */
#include <stdlib.h>

#include "check.h"
#include "common/util.h"
#include "vmm/snapshot.h"

static uint8_t *make(size_t *len)
{
    struct snap_writer w;
    snap_writer_init(&w);
    uint32_t a = 0x11223344;
    const char text[] = "hello snapshot";
    snap_writer_add(&w, SNAP_SEC_CONFIG, 0, &a, sizeof(a));
    snap_writer_add(&w, SNAP_SEC_VCPU, 3, text, sizeof(text));
    snap_writer_add(&w, SNAP_SEC_CLOCK, 0, NULL, 0);
    return snap_writer_finish(&w, len);
}

static void test_roundtrip(void)
{
    size_t len;
    uint8_t *buf = make(&len);
    struct snap_section *s = NULL;
    uint32_t n = 0;
    sm_error_t err = NULL;
    CHECK(snap_parse(buf, len, &s, &n, &err) == 0);
    CHECK(n == 3);
    const struct snap_section *v = snap_find(s, n, SNAP_SEC_VCPU, 3);
    CHECK(v != NULL && v->len == 15 && memcmp(v->data, "hello snapshot", 15) == 0);
    CHECK(snap_find(s, n, SNAP_SEC_VCPU, 0) == NULL);
    const struct snap_section *c = snap_find(s, n, SNAP_SEC_CLOCK, 0);
    CHECK(c != NULL && c->len == 0);
    free(s);
    free(buf);
}

static void test_every_flipped_byte_is_refused(void)
{
    size_t len;
    uint8_t *buf = make(&len);
    int refused = 0;
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x40;
        struct snap_section *s = NULL;
        uint32_t n = 0;
        sm_error_t err = NULL;
        if (snap_parse(buf, len, &s, &n, &err) < 0)
            refused++;
        else
            free(s);
        sm_error_release(&err);
        buf[i] ^= 0x40;
    }
    CHECK_EQ_U64(refused, len);
    free(buf);
}

static void test_truncated_and_version(void)
{
    size_t len;
    uint8_t *buf = make(&len);
    struct snap_section *s = NULL;
    uint32_t n = 0;
    sm_error_t err = NULL;
    for (size_t cut = 0; cut < len; cut += 7) {
        CHECK(snap_parse(buf, cut, &s, &n, &err) < 0);
        sm_error_release(&err);
    }
    buf[8] = 9; /* version */
    CHECK(snap_parse(buf, len, &s, &n, &err) < 0);
    CHECK(strstr(sm_error_message(err), "format version 9") != NULL);
    sm_error_release(&err);
    buf[0] = 'X';
    CHECK(snap_parse(buf, len, &s, &n, &err) < 0);
    CHECK_STR(sm_error_message(err), "not a supermachine snapshot");
    sm_error_release(&err);
    free(buf);
}

/* A section length that points past the end, with a checksum that matches: the parser
 * must still refuse it (the checksum is no defence against a crafted file). */
static void test_crafted_overrun(void)
{
    struct snap_writer w;
    snap_writer_init(&w);
    uint64_t x = 1;
    snap_writer_add(&w, SNAP_SEC_PIT, 0, &x, sizeof(x));
    /* Patch the section length before finishing, so the checksum covers the lie. */
    uint64_t huge = 1ull << 40;
    memcpy(w.buf + 24 + 8, &huge, 8);
    size_t len;
    uint8_t *buf = snap_writer_finish(&w, &len);
    struct snap_section *s = NULL;
    uint32_t n = 0;
    sm_error_t err = NULL;
    CHECK(snap_parse(buf, len, &s, &n, &err) < 0);
    CHECK(strstr(sm_error_message(err), "overruns") != NULL);
    sm_error_release(&err);
    free(buf);
}

int main(void)
{
    test_roundtrip();
    test_every_flipped_byte_is_refused();
    test_truncated_and_version();
    test_crafted_overrun();
    return check_summary("snapshot");
}
