/* docker's --dns, --dns-search and --dns-option (agent_dns.h). Shared by the host, which
 * refuses bad input before a VM starts, and the guest's agent, which trusts no text from
 * outside and renders the file. */
#include "agent/agent_dns.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_proto.h"

int agent_dns_check_server(const char *server, char *why, size_t whylen)
{
    unsigned char addr[16];
    if (server == NULL || *server == '\0')
        return agent_refuse(why, whylen, "an empty address");
    if (inet_pton(AF_INET, server, addr) == 1 || inet_pton(AF_INET6, server, addr) == 1)
        return 0;
    return agent_refuse(why, whylen, "not an IPv4 or IPv6 address");
}

int agent_dns_check_search(const char *domain, char *why, size_t whylen)
{
    if (domain == NULL || *domain == '\0')
        return agent_refuse(why, whylen, "an empty domain");
    if (strcmp(domain, ".") == 0)
        return 0;
    size_t len = strlen(domain);
    if (len > AGENT_DNS_NAME_MAX)
        return agent_refuse(why, whylen, "longer than %d characters", AGENT_DNS_NAME_MAX);
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = domain[i];
        if (c == '.' || c == '\0') {
            /* A trailing dot (fully qualified) is allowed; an empty label elsewhere not. */
            if (label == 0 && !(c == '\0' && i > 0))
                return agent_refuse(why, whylen, "an empty label");
            if (label > 63)
                return agent_refuse(why, whylen, "a label longer than 63 characters");
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok)
            return agent_refuse(why, whylen, "'%c' is not allowed in a domain", c);
        label++;
    }
    return 0;
}

int agent_dns_check_option(const char *option, char *why, size_t whylen)
{
    if (option == NULL || *option == '\0')
        return agent_refuse(why, whylen, "an empty option");
    size_t len = strlen(option);
    if (len > AGENT_DNS_OPTION_MAX)
        return agent_refuse(why, whylen, "longer than %d characters", AGENT_DNS_OPTION_MAX);
    /* Words, ':' before a number, '-' inside: nothing that could end the line. */
    if (strspn(option, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:.") != len)
        return agent_refuse(why, whylen, "only letters, digits, '-', '_', ':' and '.' are allowed");
    return 0;
}

/* Appends to a growing string; false when out of memory. */
static bool append(char **text, size_t *len, const char *add)
{
    size_t n = strlen(add);
    char *t = realloc(*text, *len + n + 1);
    if (t == NULL)
        return false;
    memcpy(t + *len, add, n + 1);
    *text = t;
    *len += n;
    return true;
}

static size_t count(const char *const *list)
{
    size_t n = 0;
    while (list && list[n])
        n++;
    return n;
}

char *agent_dns_render(const char *const *servers, const char *const *search,
                       const char *const *options)
{
    size_t nservers = count(servers), nsearch = count(search), noptions = count(options);
    if (nservers > AGENT_DNS_SERVERS_MAX || nsearch > AGENT_DNS_SEARCH_MAX ||
        noptions > AGENT_DNS_OPTIONS_MAX)
        return NULL;
    for (size_t i = 0; i < nservers; i++)
        if (agent_dns_check_server(servers[i], NULL, 0) < 0)
            return NULL;
    for (size_t i = 0; i < nsearch; i++)
        if (agent_dns_check_search(search[i], NULL, 0) < 0)
            return NULL;
    for (size_t i = 0; i < noptions; i++)
        if (agent_dns_check_option(options[i], NULL, 0) < 0)
            return NULL;
    char *text = calloc(1, 1);
    size_t len = 0;
    bool ok = text != NULL;
    for (size_t i = 0; ok && i < nservers; i++)
        ok = append(&text, &len, "nameserver ") && append(&text, &len, servers[i]) &&
             append(&text, &len, "\n");
    /* "." alone: no search line, as docker writes none for --dns-search=. */
    size_t words = 0;
    for (size_t i = 0; ok && i < nsearch; i++) {
        if (strcmp(search[i], ".") == 0)
            continue;
        ok = append(&text, &len, words++ ? " " : "search ") && append(&text, &len, search[i]);
    }
    if (ok && words)
        ok = append(&text, &len, "\n");
    for (size_t i = 0; ok && i < noptions; i++)
        ok = append(&text, &len, i ? " " : "options ") && append(&text, &len, options[i]);
    if (ok && noptions)
        ok = append(&text, &len, "\n");
    if (!ok) {
        free(text);
        return NULL;
    }
    return text;
}
