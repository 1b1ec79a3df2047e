/* The guest's --add-host lines (guest/hosts.c): what it takes from a hello's "hosts" (bad
 * entries dropped, never written) and the /etc/hosts it makes of them, the same after any
 * number of hellos, in the old block's place, the rest of the file as it was. */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../../guest/guest.h"
#include "agent/agent_proto.h"
#include "check.h"

static struct agent_host_entry entries[AGENT_HOSTS_MAX];

static size_t parse(const char *json)
{
    json_object *o = json_tokener_parse(json);
    size_t n = guest_hosts_parse(o, entries, AGENT_HOSTS_MAX);
    json_object_put(o);
    return n;
}

/* render(text) with the n first entries, as a string to compare (static). */
static const char *render(const char *text, size_t n)
{
    static char *last;
    free(last);
    size_t len;
    last = guest_hosts_render(text, strlen(text), entries, n, &len);
    CHECK(last != NULL && strlen(last) == len);
    return last ? last : "";
}

int main(void)
{
    const char *base = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\tabc\n";

    /* The hello's entries: the valid ones, in order. */
    CHECK(
        parse("[{\"name\":\"db\",\"ip\":\"10.0.0.5\"},{\"name\":\"v6.example\",\"ip\":\"::1\"}]") ==
        2);
    CHECK_STR(entries[0].name, "db");
    CHECK_STR(entries[0].ip, "10.0.0.5");
    CHECK_STR(entries[1].name, "v6.example");
    CHECK_STR(entries[1].ip, "::1");
    /* Anything malformed is left out, the rest kept. */
    CHECK(parse("[\"db:10.0.0.5\", 7, null, [], {}, {\"name\":\"a\"}, {\"ip\":\"1.2.3.4\"},"
                "{\"name\":\"a b\",\"ip\":\"1.2.3.4\"},"
                "{\"name\":\"x\\n1.1.1.1 evil\",\"ip\":\"1.2.3.4\"},"
                "{\"name\":\"ok\",\"ip\":\"1.2.3.4\\n5.6.7.8 evil\"},"
                "{\"name\":\"nul\\u0000x\",\"ip\":\"1.2.3.4\"},"
                "{\"name\":\"ok\",\"ip\":\"1.2.3.4#\"},"
                "{\"name\":5,\"ip\":\"1.2.3.4\"},"
                "{\"name\":\"good\",\"ip\":\"192.0.2.1\"}]") == 1);
    CHECK_STR(entries[0].name, "good");
    CHECK(parse("{\"name\":\"db\",\"ip\":\"10.0.0.5\"}") == 0); /* not an array */
    CHECK(parse("[]") == 0);
    /* No more than AGENT_HOSTS_MAX are looked at. */
    json_object *many = json_object_new_array();
    for (int i = 0; i < AGENT_HOSTS_MAX + 10; i++) {
        json_object *e = json_object_new_object();
        char name[16];
        snprintf(name, sizeof(name), "h%d", i);
        json_object_object_add(e, "name", json_object_new_string(name));
        json_object_object_add(e, "ip", json_object_new_string("10.1.2.3"));
        json_object_array_add(many, e);
    }
    CHECK(guest_hosts_parse(many, entries, AGENT_HOSTS_MAX) == AGENT_HOSTS_MAX);
    CHECK(guest_hosts_parse(many, entries, 3) == 3);
    json_object_put(many);

    /* The block, after the init's lines. */
    CHECK(parse("[{\"name\":\"db\",\"ip\":\"10.0.0.5\"},{\"name\":\"gw\",\"ip\":\"10.0.2.2\"}]") ==
          2);
    char *want = NULL;
    if (asprintf(&want,
                 "%s# supermachine: --add-host\n10.0.0.5\tdb\n10.0.2.2\tgw\n"
                 "# supermachine: end of --add-host\n",
                 base) < 0)
        abort();
    CHECK_STR(render(base, 2), want);
    /* A second hello (every exec has one) changes nothing: no line twice. */
    char *once = strdup(render(base, 2));
    CHECK_STR(render(once, 2), once);
    char *again = strdup(render(once, 2));
    CHECK_STR(render(again, 2), once);
    free(again);
    /* Other entries replace the block; none removes it, giving back the file as it was. */
    const char *one = render(once, 1);
    CHECK(strstr(one, "10.0.0.5\tdb\n") && !strstr(one, "10.0.2.2"));
    CHECK_STR(render(once, 0), base);
    CHECK_STR(render(base, 0), base);
    CHECK_STR(render("", 0), "");
    /* An image's file without a last newline gets one before the block. */
    CHECK_STR(render("127.0.0.1 localhost", 1),
              "127.0.0.1 localhost\n# supermachine: --add-host\n10.0.0.5\tdb\n"
              "# supermachine: end of --add-host\n");
    CHECK_STR(render("", 1), "# supermachine: --add-host\n10.0.0.5\tdb\n"
                             "# supermachine: end of --add-host\n");
    /* Lines written after the block (by the workload) stay after it. */
    char *later = NULL;
    if (asprintf(&later, "%s10.9.9.9\tmine\n", once) < 0)
        abort();
    const char *r = render(later, 2);
    CHECK_STR(r, later);
    r = render(later, 1);
    CHECK(strstr(r, "end of --add-host\n10.9.9.9\tmine\n") && !strstr(r, "10.0.2.2"));
    /* A block whose end marker was lost ends the file: replaced as a whole. */
    const char *cut = "127.0.0.1\tlocalhost\n# supermachine: --add-host\n10.0.2.2\tgw\n";
    CHECK_STR(render(cut, 1), "127.0.0.1\tlocalhost\n# supermachine: --add-host\n10.0.0.5\tdb\n"
                              "# supermachine: end of --add-host\n");
    /* A marker's text inside a line is not a marker. */
    const char *inline_marker = "10.1.1.1\tx # supermachine: --add-host\n";
    CHECK_STR(render(inline_marker, 0), inline_marker);
    free(want);
    free(once);
    free(later);
    render("", 0);
    return check_summary("guest_hosts");
}
