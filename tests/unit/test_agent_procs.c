/* The host's checks of what a guest says about its processes (top, stats): fields in
 * range, strings cut and rid of control characters (they reach the user's terminal),
 * entries that are not a process dropped; and the totals, each -1 when missing or out
 * of range. Runs under ASan+UBSan. */
#include <stdlib.h>

#include "agent/agent_client.h"
#include "check.h"

static json_object *parse(const char *text)
{
    return agent_parse_json((const uint8_t *)text, strlen(text));
}

int main(void)
{
    struct sm_process p;
    json_object *o = parse("{\"pid\":42,\"ppid\":7,\"uid\":65534,\"gid\":65534,\"user\":\"nobody\","
                           "\"state\":\"S\",\"tty\":\"pts/0\",\"start_ms\":1700000000000,"
                           "\"cpu_ms\":1500,\"rss_kib\":900,\"vsz_kib\":1800,\"threads\":2,"
                           "\"comm\":\"sleep\",\"args\":\"sleep 100\"}");
    CHECK(o && agent_process_parse(o, &p));
    CHECK(p.pid == 42 && p.ppid == 7 && p.uid == 65534 && p.gid == 65534 && p.state == 'S');
    CHECK_STR(p.user, "nobody");
    CHECK_STR(p.tty, "pts/0");
    CHECK_STR(p.comm, "sleep");
    CHECK_STR(p.args, "sleep 100");
    CHECK(p.start_unix_ms == 1700000000000 && p.cpu_ms == 1500 && p.rss_kib == 900 &&
          p.vsz_kib == 1800 && p.threads == 2);
    json_object_put(o);
    sm_process_list_free(NULL, 0);
    struct sm_process *one = malloc(sizeof(*one));
    *one = p;
    sm_process_list_free(one, 1);

    /* Escapes that would move a terminal's cursor or end a table's cell: replaced. A
     * tty longer than its field is cut; a long command line is cut at 4096 bytes. */
    char *big = malloc(20000);
    int n = snprintf(big, 20000,
                     "{\"pid\":3,\"ppid\":1,\"state\":\"R\",\"user\":\"a\\u001b[2Jb\\tc\","
                     "\"tty\":\"0123456789abcdefXYZ\",\"comm\":\"x\\ny\",\"args\":\"");
    memset(big + n, 'A', 9000);
    snprintf(big + n + 9000, 20000 - (size_t)n - 9000, "\"}");
    o = parse(big);
    CHECK(o && agent_process_parse(o, &p));
    CHECK_STR(p.user, "a?[2Jb?c");
    CHECK_STR(p.comm, "x?y");
    CHECK(strlen(p.tty) == sizeof(p.tty) - 1);
    CHECK(strlen(p.args) == 4096);
    CHECK(p.uid == -1 && p.gid == -1 && p.cpu_ms == 0); /* absent: unknown, zero */
    json_object_put(o);
    free(p.user), free(p.comm), free(p.args);
    free(big);

    /* Not processes: dropped (and p left with nothing to free). */
    static const char *const bad[] = {
        "{\"ppid\":1,\"state\":\"S\"}",                    /* no pid */
        "{\"pid\":0,\"ppid\":1,\"state\":\"S\"}",          /* pid 0 */
        "{\"pid\":-5,\"ppid\":1,\"state\":\"S\"}",         /* negative */
        "{\"pid\":4294967296,\"ppid\":1,\"state\":\"S\"}", /* past int */
        "{\"pid\":\"3\",\"ppid\":1,\"state\":\"S\"}",      /* a string */
        "{\"pid\":3,\"ppid\":1,\"state\":\"SS\"}",         /* two letters */
        "{\"pid\":3,\"ppid\":1,\"state\":\"\\u0007\"}",    /* a bell */
        "{\"pid\":3,\"ppid\":1}",                          /* no state */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o = parse(bad[i]);
        CHECK(o != NULL);
        CHECK(!agent_process_parse(o, &p));
        CHECK(p.user == NULL && p.comm == NULL && p.args == NULL);
        json_object_put(o);
    }

    /* Totals: what is there and in range; -1 for the rest. */
    struct sm_vm_usage u = {0};
    o = parse("{\"status\":0,\"processes\":3,\"cpus\":2,\"uptime_ms\":5000,"
              "\"mem_total_kib\":500000,\"mem_available_kib\":600000,\"net_rx_bytes\":-1,"
              "\"net_tx_bytes\":\"9\",\"block_read_bytes\":4096,\"block_write_bytes\":0}");
    agent_usage_parse(o, &u);
    CHECK(u.processes == 3 && u.cpus == 2 && u.uptime_ms == 5000 && u.mem_total_kib == 500000);
    CHECK(u.mem_available_kib == 500000); /* never more than the total */
    CHECK(u.net_rx_bytes == -1 && u.net_tx_bytes == -1);
    CHECK(u.block_read_bytes == 4096 && u.block_write_bytes == 0);
    json_object_put(o);
    o = parse("{\"processes\":100000,\"cpus\":0}");
    agent_usage_parse(o, &u);
    CHECK(u.processes == -1 && u.cpus == -1 && u.mem_total_kib == -1);
    json_object_put(o);
    return check_summary("agent_procs");
}
