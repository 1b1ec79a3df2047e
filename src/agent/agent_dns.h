/* docker's --dns, --dns-search and --dns-option: the guest's /etc/resolv.conf, sent in
 * every hello ("dns": docs/protocol.md). The host checks what the user gives, the guest
 * what it receives and writes the file, both here. */
#ifndef SM_AGENT_DNS_H
#define SM_AGENT_DNS_H

#include <stddef.h>

#define AGENT_DNS_SERVERS_MAX 8 /* a resolver reads the first 3 (glibc's MAXNS) */
#define AGENT_DNS_SEARCH_MAX  6 /* glibc's MAXDNSRCH */
#define AGENT_DNS_OPTIONS_MAX 16
#define AGENT_DNS_NAME_MAX    253 /* a domain name's longest text form */
#define AGENT_DNS_OPTION_MAX  64

/* An IPv4 or IPv6 address (no zone: the guest's resolver would take it as its own
 * interface's). 0, or -1 with why (may be NULL) saying what is wrong. */
int agent_dns_check_server(const char *server, char *why, size_t whylen);
/* A search domain: letters, digits, '-', '_' and dots between labels of 1-63, at most
 * 253 in all; "." alone stands for none (docker's --dns-search=.). */
int agent_dns_check_search(const char *domain, char *why, size_t whylen);
/* A resolver option, as resolv.conf(5) spells them: "ndots:2", "rotate", "edns0",
 * "timeout:1", "single-request-reopen". */
int agent_dns_check_option(const char *option, char *why, size_t whylen);

/* The text of /etc/resolv.conf for these lists (NULL-terminated; NULL: none), in docker's
 * order: nameserver lines, then one search line, then one options line. malloc'd; NULL
 * when an entry fails its check or a list is too long. */
char *agent_dns_render(const char *const *servers, const char *const *search,
                       const char *const *options);

#endif
