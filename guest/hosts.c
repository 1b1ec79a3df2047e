/* The guest's names as the host's hello gives them (docs/protocol.md): its hostname (also
 * in /etc/hostname and the init's line of /etc/hosts) and docker's --add-host lines in
 * /etc/hosts. Every session starts with a hello (each exec, cp, kill) and clones of one
 * snapshot start with the names it held, so applying them is idempotent: the same hello
 * again changes nothing, and the --add-host lines sit between two marker lines that a
 * later hello replaces as a whole. The host is trusted with the names, not with the bytes:
 * what it sends is checked here as any text from outside, and a bad entry is dropped. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "agent/agent_dns.h"
#include "agent/agent_proto.h"
#include "guest.h"

#define HOSTS_FILE_MAX (1u << 20) /* a larger /etc/hosts is left as it is */
#define HOSTS_BEGIN    "# supermachine: --add-host\n"
#define HOSTS_END      "# supermachine: end of --add-host\n"

/* The whole of a small file, NUL-terminated (malloc'd); NULL when it is missing (*absent
 * set), unreadable or larger than max. */
static char *read_small(const char *path, size_t max, size_t *len, bool *absent)
{
    *absent = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *absent = errno == ENOENT;
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t got = 0;
    ssize_t n = 0;
    while (buf && got <= max && (n = read(fd, buf + got, max + 1 - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (buf == NULL || n != 0 || got > max) {
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

/* Writes a small file beside path and renames it into place: readers see the old file or
 * the new one, never half of one. The temporary is this session's own (sessions run side
 * by side). */
static void write_replace(const char *path, const char *text, size_t len)
{
    char tmp[256];
    int n = snprintf(tmp, sizeof(tmp), "%s.sm-tmp-%d", path, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    bool ok = agent_write_all(fd, text, len) == 0;
    if (close(fd) < 0)
        ok = false;
    if (!ok || rename(tmp, path) < 0)
        unlink(tmp);
}

/* Replaces old with new in a small file the init wrote; files the image brought are left
 * alone unless they hold the init's line. */
static void replace_in_file(const char *path, const char *old, const char *new)
{
    size_t len;
    bool absent;
    char *text = read_small(path, 65536, &len, &absent);
    char *at = text ? strstr(text, old) : NULL;
    if (at) {
        char *out = NULL;
        int n = asprintf(&out, "%.*s%s%s", (int)(at - text), text, new, at + strlen(old));
        if (n >= 0)
            write_replace(path, out, (size_t)n);
        free(out);
    }
    free(text);
}

/* Clones of one snapshot share the hostname it was taken with: each VM's comes with the
 * host's hello (docker's: the first 12 hex of its id). */
static void apply_hostname(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > 63 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != len)
        return;
    char cur[65] = "";
    if (gethostname(cur, sizeof(cur) - 1) == 0 && strcmp(cur, name) == 0)
        return;
    if (sethostname(name, len) < 0)
        return;
    char old_line[128], new_line[128];
    snprintf(old_line, sizeof(old_line), "127.0.1.1\t%s\n", cur);
    snprintf(new_line, sizeof(new_line), "127.0.1.1\t%s\n", name);
    replace_in_file("/etc/hosts", old_line, new_line);
    char old_whole[80], new_whole[80];
    snprintf(old_whole, sizeof(old_whole), "%s", cur);
    snprintf(new_whole, sizeof(new_whole), "%s", name);
    replace_in_file("/etc/hostname", old_whole, new_whole);
}

size_t guest_hosts_parse(struct json_object *hosts, struct agent_host_entry *out, size_t max)
{
    if (hosts == NULL || !json_object_is_type(hosts, json_type_array))
        return 0;
    size_t n = 0, count = json_object_array_length(hosts);
    for (size_t i = 0; i < count && i < AGENT_HOSTS_MAX && n < max; i++) {
        json_object *e = json_object_array_get_idx(hosts, i);
        const char *name =
            json_object_is_type(e, json_type_object) ? agent_json_str(e, "name") : NULL;
        const char *ip = name ? agent_json_str(e, "ip") : NULL;
        if (ip && agent_host_entry_set(&out[n], name, ip, NULL, 0) == 0)
            n++;
    }
    return n;
}

/* Where line starts a line of text[0..len), or NULL. */
static const char *find_line(const char *text, size_t len, const char *line)
{
    size_t llen = strlen(line);
    for (const char *p = text; (p = memmem(p, len - (size_t)(p - text), line, llen)) != NULL; p++)
        if (p == text || p[-1] == '\n')
            return p;
    return NULL;
}

char *guest_hosts_render(const char *text, size_t len, const struct agent_host_entry *e, size_t n,
                         size_t *out_len)
{
    /* The old block, from its first marker to its end marker's line (or to the end of the
     * file, should that line have been lost), gives way to the new one, in its place. */
    size_t head = len, tail = len;
    const char *begin = find_line(text, len, HOSTS_BEGIN);
    if (begin) {
        head = (size_t)(begin - text);
        const char *after = begin + strlen(HOSTS_BEGIN);
        const char *end = find_line(after, len - (size_t)(after - text), HOSTS_END);
        tail = end ? (size_t)(end - text) + strlen(HOSTS_END) : len;
    }
    size_t cap = len + 2 + strlen(HOSTS_BEGIN) + strlen(HOSTS_END) +
                 n * (AGENT_HOST_IP_MAX + AGENT_HOST_NAME_MAX + 2) + 1;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    memcpy(out, text, head);
    o = head;
    if (n > 0) {
        if (o > 0 && out[o - 1] != '\n')
            out[o++] = '\n';
        o += (size_t)sprintf(out + o, "%s", HOSTS_BEGIN);
        for (size_t i = 0; i < n; i++)
            o += (size_t)sprintf(out + o, "%s\t%s\n", e[i].ip, e[i].name);
        o += (size_t)sprintf(out + o, "%s", HOSTS_END);
    }
    memcpy(out + o, text + tail, len - tail);
    o += len - tail;
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* docker's --add-host: the hello's entries, in the block of /etc/hosts. */
static void apply_hosts(const struct agent_host_entry *e, size_t n)
{
    size_t len = 0;
    bool absent;
    char *text = read_small("/etc/hosts", HOSTS_FILE_MAX, &len, &absent);
    if (text == NULL && !absent)
        return;
    size_t out_len;
    char *out = guest_hosts_render(text ? text : "", len, e, n, &out_len);
    /* The same again (every exec's hello) writes nothing. */
    if (out && (out_len != len || memcmp(out, text ? text : "", len) != 0))
        write_replace("/etc/hosts", out, out_len);
    free(out);
    free(text);
}

/* docker's --dns, --dns-search and --dns-option: /etc/resolv.conf as the hello gives it
 * (the host sends the whole list of servers). Written only when the text differs from
 * what the last such hello wrote (kept in /run, guest memory): an exec's hello does not
 * undo a change the workload made to the file, and a clone of a VM that had other
 * settings gets its own. A bad or missing list leaves the file alone. */
static void apply_dns(struct json_object *hello)
{
    static const char applied[] = "/run/supermachine-resolv.conf";
    json_object *dns;
    if (!json_object_object_get_ex(hello, "dns", &dns) ||
        !json_object_is_type(dns, json_type_object))
        return;
    char **servers = agent_json_strv(dns, "servers", AGENT_DNS_SERVERS_MAX);
    char **search = agent_json_strv(dns, "search", AGENT_DNS_SEARCH_MAX);
    char **options = agent_json_strv(dns, "options", AGENT_DNS_OPTIONS_MAX);
    char *text = servers && search && options
                     ? agent_dns_render((const char *const *)servers, (const char *const *)search,
                                        (const char *const *)options)
                     : NULL;
    agent_strv_free(servers);
    agent_strv_free(search);
    agent_strv_free(options);
    if (text == NULL)
        return;
    size_t len = strlen(text), old_len = 0;
    bool absent;
    char *old = read_small(applied, 65536, &old_len, &absent);
    if (old == NULL || old_len != len || memcmp(old, text, len) != 0) {
        /* The image's file may be a link (to systemd-resolved's): replaced, as docker's
         * bind mount hides it. */
        write_replace("/etc/resolv.conf", text, len);
        write_replace(applied, text, len);
    }
    free(old);
    free(text);
}

void guest_apply_names(struct json_object *hello)
{
    /* Sessions run side by side and each reads, changes and replaces these files: one at a
     * time, or one's replacement could undo another's. The lock is on /etc itself, which
     * the renames leave in place. The workload could hold it too: a hello waits for it
     * 2 s at most, then goes on (two sessions' hellos say the same, so a race only
     * costs a write). */
    int dir = open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; dir >= 0 && i < 200 && flock(dir, LOCK_EX | LOCK_NB) < 0; i++)
        usleep(10000);
    apply_hostname(agent_json_str(hello, "hostname"));
    json_object *hosts;
    if (json_object_object_get_ex(hello, "hosts", &hosts) &&
        json_object_is_type(hosts, json_type_array)) {
        struct agent_host_entry *e = calloc(AGENT_HOSTS_MAX, sizeof(*e));
        if (e)
            apply_hosts(e, guest_hosts_parse(hosts, e, AGENT_HOSTS_MAX));
        free(e);
    }
    apply_dns(hello);
    if (dir >= 0)
        close(dir); /* and the lock with it */
}
