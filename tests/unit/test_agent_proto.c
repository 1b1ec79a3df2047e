/* The agent protocol's frame decoder and strict JSON access: round trips, frames split
 * at every byte, and hostile input (oversized, unknown types, bad JSON, random bytes)
 * rejected without crashing (this runs under ASan+UBSan). */
#include <stdlib.h>

#include "agent/agent_proto.h"
#include "check.h"

static void feed(struct agent_decoder *d, const uint8_t *b, size_t n)
{
    if (n == 0)
        return;
    memcpy(agent_decoder_space(d, n), b, n);
    agent_decoder_commit(d, n);
}

static size_t frame(uint8_t *out, uint8_t type, const char *payload)
{
    size_t n = strlen(payload);
    agent_frame_header(out, type, n);
    memcpy(out + 5, payload, n);
    return 5 + n;
}

int main(void)
{
    /* Two frames, fed one byte at a time: each comes out whole, once. */
    uint8_t wire[256];
    size_t n = frame(wire, AGENT_EXEC, "{\"argv\":[\"echo\",\"hi\"]}");
    n += frame(wire + n, AGENT_STDIN, "");
    struct agent_decoder d;
    agent_decoder_init(&d);
    int frames = 0;
    for (size_t i = 0; i < n; i++) {
        feed(&d, wire + i, 1);
        uint8_t type;
        const uint8_t *p;
        size_t len;
        int r;
        while ((r = agent_decoder_next(&d, &type, &p, &len)) == 1) {
            frames++;
            if (frames == 1) {
                CHECK(type == AGENT_EXEC);
                json_object *o = agent_parse_json(p, len);
                CHECK(o != NULL);
                char **argv = o ? agent_json_strv(o, "argv", 16) : NULL;
                CHECK(argv && argv[0] && strcmp(argv[0], "echo") == 0 && argv[1] && !argv[2]);
                agent_strv_free(argv);
                CHECK(o && agent_json_strv(o, "argv", 1) == NULL); /* too many items */
                json_object_put(o);
            } else {
                CHECK(type == AGENT_STDIN && len == 0);
            }
        }
        CHECK(r == 0);
    }
    CHECK(frames == 2);
    agent_decoder_free(&d);

    /* A length beyond the limit, a zero length, an unknown type: protocol errors. */
    const uint8_t bad[][5] = {{0x00, 0x10, 0x00, 0x01, AGENT_STDIN},
                              {0x00, 0x00, 0x00, 0x00, AGENT_STDIN},
                              {0x00, 0x00, 0x00, 0x01, 0},
                              {0x00, 0x00, 0x00, 0x01, AGENT_TYPE_MAX + 1}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        agent_decoder_init(&d);
        feed(&d, bad[i], 5);
        uint8_t type;
        const uint8_t *p;
        size_t len;
        CHECK(agent_decoder_next(&d, &type, &p, &len) == -1);
        CHECK(d.error[0] != '\0');
        agent_decoder_free(&d);
    }
    /* Exactly the limit is accepted once complete. */
    agent_decoder_init(&d);
    uint8_t h[5];
    agent_frame_header(h, AGENT_STDOUT, AGENT_FRAME_MAX - 1);
    feed(&d, h, 5);
    uint8_t *big = calloc(1, AGENT_FRAME_MAX - 1);
    feed(&d, big, AGENT_FRAME_MAX - 1);
    free(big);
    uint8_t type;
    const uint8_t *p;
    size_t len;
    CHECK(agent_decoder_next(&d, &type, &p, &len) == 1 && len == AGENT_FRAME_MAX - 1);
    agent_decoder_free(&d);

    /* JSON: only whole objects; typed members with ranges; no NUL inside strings. */
    CHECK(agent_parse_json((const uint8_t *)"[1]", 3) == NULL);
    CHECK(agent_parse_json((const uint8_t *)"{} x", 4) == NULL);
    CHECK(agent_parse_json((const uint8_t *)"{\"a\":", 5) == NULL);
    CHECK(agent_parse_json((const uint8_t *)"{}\0", 3) == NULL);
    json_object *o =
        agent_parse_json((const uint8_t *)"{\"s\":\"a\\u0000b\",\"n\":300,\"t\":\"x\"}", 32);
    CHECK(o != NULL);
    int64_t v;
    CHECK(o && agent_json_str(o, "s") == NULL);
    CHECK(o && !agent_json_int(o, "n", 0, 255, &v));
    CHECK(o && agent_json_int(o, "n", 0, 1000, &v) && v == 300);
    CHECK(o && !agent_json_int(o, "t", 0, 1000, &v));
    CHECK(o && agent_json_strv(o, "t", 10) == NULL);
    json_object_put(o);

    /* Random bytes: the decoder ends in "need more" or an error, never past its buffer. */
    srand(42);
    for (int round = 0; round < 2000; round++) {
        agent_decoder_init(&d);
        uint8_t junk[64];
        size_t jn = (size_t)(rand() % 64);
        for (size_t i = 0; i < jn; i++)
            junk[i] = (uint8_t)rand();
        if (jn >= 4 && (round & 1))
            junk[0] = junk[1] = 0; /* plausible small lengths too */
        feed(&d, junk, jn);
        int r;
        while ((r = agent_decoder_next(&d, &type, &p, &len)) == 1) {
            CHECK(len < jn);
            json_object_put(agent_parse_json(p, len));
        }
        agent_decoder_free(&d);
    }
    /* --snapshot-on triggers: what the user types, checked the same on both sides. */
    struct agent_trigger t;
    char why[160];
    CHECK(agent_trigger_parse("listen:8080", &t, why, sizeof(why)) == 0 &&
          t.kind == AGENT_TRIGGER_LISTEN && t.value == 8080);
    CHECK(agent_trigger_parse("console:Ready to accept connections", &t, why, sizeof(why)) == 0 &&
          t.kind == AGENT_TRIGGER_OUTPUT);
    CHECK_STR(t.text, "Ready to accept connections");
    CHECK(agent_trigger_parse("console:a:b", &t, why, sizeof(why)) == 0);
    CHECK_STR(t.text, "a:b");
    CHECK(agent_trigger_parse("idle", &t, why, sizeof(why)) == 0 && t.kind == AGENT_TRIGGER_IDLE &&
          t.value == 1000);
    CHECK(agent_trigger_parse("idle:250", &t, why, sizeof(why)) == 0 && t.value == 250);
    CHECK(agent_trigger_parse("after:0", &t, why, sizeof(why)) == 0 &&
          t.kind == AGENT_TRIGGER_AFTER && t.value == 0);
    static const char *const bad_triggers[] = {
        "",
        "listen",
        "listen:",
        "listen:0",
        "listen:65536",
        "listen:80x",
        "listen:-1",
        "listen: 80",
        "console:",
        "console",
        "idle:5",
        "idle:x",
        "after",
        "after:",
        "after:3600001",
        "listening:80",
        "Listen:80",
        "after:99999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad_triggers) / sizeof(bad_triggers[0]); i++) {
        why[0] = '\0';
        CHECK(agent_trigger_parse(bad_triggers[i], &t, why, sizeof(why)) < 0 && why[0] != '\0');
    }
    char long_text[AGENT_TRIGGER_TEXT_MAX + 16];
    memset(long_text, 'x', sizeof(long_text));
    memcpy(long_text, "console:", 8);
    long_text[8 + AGENT_TRIGGER_TEXT_MAX] = '\0';
    CHECK(agent_trigger_parse(long_text, &t, why, sizeof(why)) == 0);
    long_text[8 + AGENT_TRIGGER_TEXT_MAX] = 'x';
    long_text[9 + AGENT_TRIGGER_TEXT_MAX] = '\0';
    CHECK(agent_trigger_parse(long_text, &t, why, sizeof(why)) < 0);
    CHECK(agent_trigger_parse("console:two\nlines", &t, why, sizeof(why)) < 0);

    /* --add-host entries: docker's syntax on the host, the same checks in the guest. */
    struct agent_host_entry e;
    CHECK(agent_host_entry_parse("db:10.0.0.5", NULL, &e, why, sizeof(why)) == 0);
    CHECK_STR(e.name, "db");
    CHECK_STR(e.ip, "10.0.0.5");
    CHECK(agent_host_entry_parse("db.example=192.168.1.1", NULL, &e, why, sizeof(why)) == 0);
    CHECK_STR(e.name, "db.example");
    CHECK_STR(e.ip, "192.168.1.1");
    CHECK(agent_host_entry_parse("v6:2001:DB8::0:1", NULL, &e, why, sizeof(why)) == 0);
    CHECK_STR(e.name, "v6");
    CHECK_STR(e.ip, "2001:db8::1"); /* as inet_ntop writes it */
    CHECK(agent_host_entry_parse("v6=::1", NULL, &e, why, sizeof(why)) == 0);
    CHECK_STR(e.ip, "::1");
    CHECK(agent_host_entry_parse("v6=[fd00::2]", NULL, &e, why, sizeof(why)) == 0);
    CHECK_STR(e.ip, "fd00::2");
    CHECK(agent_host_entry_parse("v6:[::ffff:1.2.3.4]", NULL, &e, why, sizeof(why)) == 0);
    CHECK_STR(e.ip, "::ffff:1.2.3.4");
    CHECK(agent_host_entry_parse("Host-1.a-b.C0:1.2.3.4", NULL, &e, why, sizeof(why)) == 0);
    CHECK_STR(e.name, "Host-1.a-b.C0");
    CHECK(agent_host_entry_parse("gw:host-gateway", "10.0.2.2", &e, why, sizeof(why)) == 0);
    CHECK_STR(e.name, "gw");
    CHECK_STR(e.ip, "10.0.2.2");
    CHECK(agent_host_entry_parse("gw=host-gateway", NULL, &e, why, sizeof(why)) < 0);
    CHECK(strstr(why, "--network none") != NULL);
    CHECK(agent_host_entry_parse("db", NULL, &e, why, sizeof(why)) < 0);
    CHECK_STR(why, "want HOST:IP or HOST=IP");
    CHECK(agent_host_entry_parse("db:1.2.3", NULL, &e, why, sizeof(why)) < 0);
    CHECK_STR(why, "1.2.3: not an IPv4 or IPv6 address");
    CHECK(agent_host_entry_parse("bad_name:1.2.3.4", NULL, &e, why, sizeof(why)) < 0);
    CHECK(strncmp(why, "bad_name: not a host name", 25) == 0);
    static const char *const bad_hosts[] = {
        "",
        ":1.2.3.4",
        "=1.2.3.4",
        "db:",
        "db=",
        "db:[]",
        "db:[1.2.3.4",
        "db:01.2.3.4", /* inet_pton's IPv4 has no leading zeros (no octal doubt) */
        "db:1.2.3.4 ", /* nothing around the address */
        "db:1.2.3.4\n",
        "db:1.2.3.4.5",
        "db:256.1.1.1",
        "db:fe80::1%eth0", /* a scope is no /etc/hosts address */
        "db:::1::2",
        "db:host-gateway2",
        "db:localhost",
        "-db:1.2.3.4",
        "db-:1.2.3.4",
        "a..b:1.2.3.4",
        ".db:1.2.3.4",
        "db.:1.2.3.4",
        "d b:1.2.3.4",
        "d\tb:1.2.3.4",
        "d#b:1.2.3.4",
        "db\n10.0.0.1 evil:1.2.3.4",
        "d/b:1.2.3.4",
        "db=1.2.3.4=5",
    };
    for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
        why[0] = '\0';
        int r = agent_host_entry_parse(bad_hosts[i], "10.0.2.2", &e, why, sizeof(why));
        if (r == 0)
            fprintf(stderr, "accepted --add-host '%s'\n", bad_hosts[i]);
        CHECK(r < 0 && why[0] != '\0' && e.name[0] == '\0' && e.ip[0] == '\0');
    }
    /* Lengths: a 63-character label and a 253-character name are the most. */
    char name[300];
    memset(name, 'a', 63);
    name[63] = '\0';
    CHECK(agent_host_name_valid(name));
    name[63] = 'a', name[64] = '\0';
    CHECK(!agent_host_name_valid(name));
    for (size_t i = 0; i < 253; i++)
        name[i] = i % 4 == 3 ? '.' : 'b';
    name[253] = '\0';
    CHECK(agent_host_name_valid(name));
    name[253] = 'b', name[254] = '\0';
    CHECK(!agent_host_name_valid(name));
    char spec[400];
    snprintf(spec, sizeof(spec), "%s:1.2.3.4", name);
    CHECK(agent_host_entry_parse(spec, NULL, &e, why, sizeof(why)) < 0);
    snprintf(spec, sizeof(spec), "db:%0100d", 1);
    CHECK(agent_host_entry_parse(spec, NULL, &e, why, sizeof(why)) < 0);
    /* What the guest gets in a hello is checked the same way, whatever the host sent. */
    CHECK(agent_host_entry_set(&e, "db", "10.0.0.5", NULL, 0) == 0 &&
          strcmp(e.ip, "10.0.0.5") == 0);
    CHECK(agent_host_entry_set(&e, "db", "10.0.0.5\n1.2.3.4 x", NULL, 0) < 0);
    CHECK(agent_host_entry_set(&e, "db evil", "10.0.0.5", NULL, 0) < 0);
    CHECK(agent_host_entry_set(&e, "", "10.0.0.5", NULL, 0) < 0);
    CHECK(agent_host_entry_set(&e, "db", "", NULL, 0) < 0);
    return check_summary("agent_proto");
}
