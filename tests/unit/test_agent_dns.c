/* docker's --dns, --dns-search and --dns-option as the host checks them and the guest's
 * agent renders /etc/resolv.conf from them: addresses of both families, domains and
 * options that are accepted, every kind that is not (nothing that could end a line of the
 * file), the file's text in docker's order, and lists too long refused whole. */
#include <stdlib.h>
#include <string.h>

#include "agent/agent_dns.h"
#include "check.h"

int main(void)
{
    char why[128];
    static const char *const good_servers[] = {"8.8.8.8", "10.0.2.3", "::1", "2001:db8::53",
                                               "::ffff:192.0.2.1"};
    for (size_t i = 0; i < sizeof(good_servers) / sizeof(good_servers[0]); i++)
        CHECK(agent_dns_check_server(good_servers[i], why, sizeof(why)) == 0);
    static const char *const bad_servers[] = {"",         "8.8.8",          "8.8.8.256",
                                              "dns.com",  "8.8.8.8\nx",     "fe80::1%eth0",
                                              " 8.8.8.8", "[2001:db8::53]", "1.1.1.1:53"};
    for (size_t i = 0; i < sizeof(bad_servers) / sizeof(bad_servers[0]); i++) {
        why[0] = '\0';
        CHECK(agent_dns_check_server(bad_servers[i], why, sizeof(why)) < 0 && why[0] != '\0');
    }

    static const char *const good_domains[] = {"example.org",   "a", "corp.example.org.",
                                               "x-y_z.example", ".", "EXAMPLE.com"};
    for (size_t i = 0; i < sizeof(good_domains) / sizeof(good_domains[0]); i++)
        CHECK(agent_dns_check_search(good_domains[i], why, sizeof(why)) == 0);
    static const char *const bad_domains[] = {
        "", "..", "a..b", ".a", "a b", "a\nsearch", "exa$mple.org", "a/b", "a,b.c", "é.org"};
    for (size_t i = 0; i < sizeof(bad_domains) / sizeof(bad_domains[0]); i++) {
        why[0] = '\0';
        CHECK(agent_dns_check_search(bad_domains[i], why, sizeof(why)) < 0 && why[0] != '\0');
    }
    /* A label of 63 is the most; a name of 253. */
    char name[300];
    memset(name, 'a', 63);
    name[63] = '\0';
    CHECK(agent_dns_check_search(name, NULL, 0) == 0);
    memset(name, 'a', 64);
    name[64] = '\0';
    CHECK(agent_dns_check_search(name, why, sizeof(why)) < 0 && strstr(why, "63") != NULL);
    for (int i = 0; i < 254; i++)
        name[i] = i % 2 ? '.' : 'a';
    name[253] = '\0';
    CHECK(agent_dns_check_search(name, NULL, 0) == 0);
    name[253] = 'a', name[254] = '\0';
    CHECK(agent_dns_check_search(name, NULL, 0) < 0);

    static const char *const good_options[] = {
        "ndots:2", "rotate", "edns0", "timeout:1", "single-request-reopen", "attempts:5"};
    for (size_t i = 0; i < sizeof(good_options) / sizeof(good_options[0]); i++)
        CHECK(agent_dns_check_option(good_options[i], why, sizeof(why)) == 0);
    static const char *const bad_options[] = {"",    "ndots 2", "ndots:2\nnameserver 6.6.6.6",
                                              "a#b", "x;y",     "tab\t"};
    for (size_t i = 0; i < sizeof(bad_options) / sizeof(bad_options[0]); i++) {
        why[0] = '\0';
        CHECK(agent_dns_check_option(bad_options[i], why, sizeof(why)) < 0 && why[0] != '\0');
    }

    /* The file: servers, then one search line, then one options line. */
    const char *sv[] = {"192.0.2.53", "2001:db8::53", NULL};
    const char *se[] = {"example.org", "corp.example", NULL};
    const char *op[] = {"ndots:2", "rotate", NULL};
    char *text = agent_dns_render(sv, se, op);
    CHECK(text && strcmp(text, "nameserver 192.0.2.53\nnameserver 2001:db8::53\n"
                               "search example.org corp.example\noptions ndots:2 rotate\n") == 0);
    free(text);
    /* Search and options only; "." means no search line. */
    const char *dot[] = {".", NULL};
    const char *op1[] = {"ndots:2", NULL};
    text = agent_dns_render(NULL, dot, op1);
    CHECK(text && strcmp(text, "options ndots:2\n") == 0);
    free(text);
    text = agent_dns_render(NULL, NULL, NULL);
    CHECK(text && strcmp(text, "") == 0);
    free(text);
    /* One bad entry, or a list too long, and nothing is rendered. */
    const char *bad_sv[] = {"192.0.2.53", "evil\nnameserver 6.6.6.6", NULL};
    CHECK(agent_dns_render(bad_sv, NULL, NULL) == NULL);
    const char *many[AGENT_DNS_SEARCH_MAX + 2];
    for (size_t i = 0; i <= AGENT_DNS_SEARCH_MAX; i++)
        many[i] = "example.org";
    many[AGENT_DNS_SEARCH_MAX] = NULL;
    text = agent_dns_render(NULL, many, NULL);
    CHECK(text != NULL);
    free(text);
    many[AGENT_DNS_SEARCH_MAX] = "example.org";
    many[AGENT_DNS_SEARCH_MAX + 1] = NULL;
    CHECK(agent_dns_render(NULL, many, NULL) == NULL);
    return check_summary("agent_dns");
}
