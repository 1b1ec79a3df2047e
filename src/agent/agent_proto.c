/* Frames of the agent protocol: encoding, incremental decoding, strict JSON access.
 * Built into both the host library and the static guest init, so it depends on libc and
 * json-c only. */
#include "agent/agent_proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

const char *agent_frame_type_name(unsigned type)
{
    static const char *const names[] = {
        [AGENT_HELLO] = "hello",         [AGENT_EXEC] = "exec",
        [AGENT_STARTED] = "started",     [AGENT_STDIN] = "stdin",
        [AGENT_STDOUT] = "stdout",       [AGENT_STDERR] = "stderr",
        [AGENT_EXIT] = "exit",           [AGENT_SIGNAL] = "signal",
        [AGENT_RESIZE] = "resize",       [AGENT_POWEROFF] = "poweroff",
        [AGENT_ERROR] = "error",         [AGENT_WRITE_FILE] = "write-file",
        [AGENT_READ_FILE] = "read-file", [AGENT_PORTS] = "ports",
        [AGENT_HELD] = "held",           [AGENT_ATTACH] = "attach",
        [AGENT_WRITE_TAR] = "write-tar", [AGENT_READ_TAR] = "read-tar",
        [AGENT_STAT] = "stat",           [AGENT_PROCESSES] = "processes",
    };
    return type >= 1 && type <= AGENT_TYPE_MAX ? names[type] : "unknown";
}

void agent_decoder_init(struct agent_decoder *d)
{
    memset(d, 0, sizeof(*d));
}

void agent_decoder_free(struct agent_decoder *d)
{
    free(d->buf);
    memset(d, 0, sizeof(*d));
}

/* Bytes of the previous frame handed out stay until the next call, then go. */
static void decoder_consume(struct agent_decoder *d, size_t n)
{
    memmove(d->buf, d->buf + n, d->len - n);
    d->len -= n;
}

uint8_t *agent_decoder_space(struct agent_decoder *d, size_t want)
{
    if (d->pending) {
        decoder_consume(d, d->pending);
        d->pending = 0;
    }
    if (d->cap - d->len < want) {
        size_t cap = d->cap ? d->cap : 4096;
        while (cap - d->len < want)
            cap *= 2;
        uint8_t *b = realloc(d->buf, cap);
        if (b == NULL)
            abort();
        d->buf = b;
        d->cap = cap;
    }
    return d->buf + d->len;
}

void agent_decoder_commit(struct agent_decoder *d, size_t n)
{
    d->len += n;
}

int agent_decoder_next(struct agent_decoder *d, uint8_t *type, const uint8_t **payload, size_t *len)
{
    if (d->error[0])
        return -1;
    /* The frame returned last time is consumed now (its pointers were valid until here). */
    if (d->pending) {
        decoder_consume(d, d->pending);
        d->pending = 0;
    }
    if (d->len < 5)
        return 0;
    uint32_t n = (uint32_t)d->buf[0] << 24 | (uint32_t)d->buf[1] << 16 | (uint32_t)d->buf[2] << 8 |
                 d->buf[3];
    if (n < 1 || n > AGENT_FRAME_MAX) {
        snprintf(d->error, sizeof(d->error), "frame of %u bytes (limit %u)", n, AGENT_FRAME_MAX);
        return -1;
    }
    uint8_t t = d->buf[4];
    if (t < 1 || t > AGENT_TYPE_MAX) {
        snprintf(d->error, sizeof(d->error), "unknown frame type %u", t);
        return -1;
    }
    if (d->len < 4 + (size_t)n)
        return 0;
    *type = t;
    *len = n - 1;
    *payload = d->buf + 5;
    d->pending = 4 + (size_t)n;
    return 1;
}

void agent_frame_header(uint8_t out[5], uint8_t type, size_t payload_len)
{
    uint32_t n = (uint32_t)payload_len + 1;
    out[0] = (uint8_t)(n >> 24);
    out[1] = (uint8_t)(n >> 16);
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)n;
    out[4] = type;
}

/* Sockets get MSG_NOSIGNAL: a peer that went away (a guest's vsock transport reset right
 * after a restore, say) is an EPIPE to handle, never a SIGPIPE that kills the library's
 * caller. Anything else (a pipe in tests) is written plainly. */
int agent_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    bool socket = true;
    while (len > 0) {
        ssize_t w = socket ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
        if (w < 0 && errno == ENOTSOCK && socket) {
            socket = false;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int agent_write_frame(int fd, uint8_t type, const void *payload, size_t len)
{
    if (len + 1 > AGENT_FRAME_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    uint8_t h[5];
    agent_frame_header(h, type, len);
    if (agent_write_all(fd, h, sizeof(h)) < 0)
        return -1;
    return len ? agent_write_all(fd, payload, len) : 0;
}

int agent_write_json(int fd, uint8_t type, json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    return agent_write_frame(fd, type, s, strlen(s));
}

json_object *agent_parse_json(const uint8_t *payload, size_t len)
{
    if (len == 0 || len > AGENT_JSON_MAX || memchr(payload, '\0', len))
        return NULL;
    json_tokener *tok = json_tokener_new_ex(32);
    if (tok == NULL)
        return NULL;
    json_object *o = json_tokener_parse_ex(tok, (const char *)payload, (int)len);
    bool complete = json_tokener_get_error(tok) == json_tokener_success &&
                    json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    if (o == NULL || !complete || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

bool agent_json_int(json_object *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
        return false;
    errno = 0;
    int64_t x = json_object_get_int64(v);
    if (errno || x < min || x > max)
        return false;
    *out = x;
    return true;
}

const char *agent_json_str(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    const char *s = json_object_get_string(v);
    /* A string with an embedded NUL would mean something else to C than to the sender. */
    if ((size_t)json_object_get_string_len(v) != strlen(s))
        return NULL;
    return s;
}

char **agent_json_strv(json_object *o, const char *key, size_t max_items)
{
    json_object *a;
    if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
        return NULL;
    size_t n = json_object_array_length(a);
    if (n > max_items)
        return NULL;
    char **v = calloc(n + 1, sizeof(char *));
    if (v == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(a, i);
        if (!json_object_is_type(e, json_type_string) ||
            (size_t)json_object_get_string_len(e) != strlen(json_object_get_string(e))) {
            agent_strv_free(v);
            return NULL;
        }
        v[i] = strdup(json_object_get_string(e));
        if (v[i] == NULL)
            abort();
    }
    return v;
}

void agent_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* A decimal number in [min, max] and nothing else. */
static bool parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    if (*s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

int agent_trigger_parse(const char *spec, struct agent_trigger *t, char *why, size_t whylen)
{
    memset(t, 0, sizeof(*t));
    const char *colon = strchr(spec, ':');
    size_t klen = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *arg = colon ? colon + 1 : NULL;
    if (klen == 6 && strncmp(spec, "listen", 6) == 0) {
        t->kind = AGENT_TRIGGER_LISTEN;
        if (arg && parse_u32(arg, 1, 65535, &t->value))
            return 0;
        snprintf(why, whylen, "listen:PORT wants a TCP port, 1 to 65535");
    } else if (klen == 7 && strncmp(spec, "console", 7) == 0) {
        t->kind = AGENT_TRIGGER_OUTPUT;
        size_t n = arg ? strlen(arg) : 0;
        if (n > 0 && n <= AGENT_TRIGGER_TEXT_MAX && !strpbrk(arg, "\n\r")) {
            memcpy(t->text, arg, n);
            return 0;
        }
        snprintf(why, whylen, "console:TEXT wants 1 to %d characters on one line",
                 AGENT_TRIGGER_TEXT_MAX);
    } else if (klen == 4 && strncmp(spec, "idle", 4) == 0) {
        t->kind = AGENT_TRIGGER_IDLE;
        t->value = 1000;
        if (arg == NULL || parse_u32(arg, 10, 3600000, &t->value))
            return 0;
        snprintf(why, whylen, "idle:MS wants milliseconds, 10 to 3600000");
    } else if (klen == 5 && strncmp(spec, "after", 5) == 0) {
        t->kind = AGENT_TRIGGER_AFTER;
        if (arg && parse_u32(arg, 0, 3600000, &t->value))
            return 0;
        snprintf(why, whylen, "after:MS wants milliseconds, 0 to 3600000");
    } else {
        snprintf(why, whylen, "want listen:PORT, console:TEXT, idle[:MS] or after:MS");
    }
    return -1;
}

bool agent_host_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > AGENT_HOST_NAME_MAX)
        return false;
    for (const char *label = name;; label++) {
        size_t n = strspn(label, "abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
        if (n == 0 || n > 63 || label[0] == '-' || label[n - 1] == '-')
            return false;
        label += n;
        if (*label == '\0')
            return true;
        if (*label != '.')
            return false;
    }
}

int agent_host_entry_set(struct agent_host_entry *e, const char *name, const char *ip, char *why,
                         size_t whylen)
{
    memset(e, 0, sizeof(*e));
    if (!agent_host_name_valid(name)) {
        snprintf(why, whylen,
                 "%s: not a host name (labels of 1 to 63 letters, digits and '-', "
                 "separated by dots)",
                 name);
        return -1;
    }
    uint8_t addr[16];
    int family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, ip, addr) != 1 || !inet_ntop(family, addr, e->ip, sizeof(e->ip))) {
        snprintf(why, whylen, "%s: not an IPv4 or IPv6 address", ip);
        return -1;
    }
    memcpy(e->name, name, strlen(name) + 1);
    return 0;
}

int agent_host_entry_parse(const char *spec, const char *gateway, struct agent_host_entry *e,
                           char *why, size_t whylen)
{
    memset(e, 0, sizeof(*e));
    /* docker's order: a '=' splits if there is one, else the first ':' (an IPv6 address
     * has more of them; a name has none). */
    const char *sep = strchr(spec, '=');
    if (sep == NULL)
        sep = strchr(spec, ':');
    if (sep == NULL || sep == spec || sep[1] == '\0') {
        snprintf(why, whylen, "want HOST:IP or HOST=IP");
        return -1;
    }
    size_t nlen = (size_t)(sep - spec);
    const char *addr = sep + 1;
    size_t alen = strlen(addr);
    if (alen >= 2 && addr[0] == '[' && addr[alen - 1] == ']')
        addr++, alen -= 2;
    if (nlen > AGENT_HOST_NAME_MAX) {
        snprintf(why, whylen, "a host name has at most %d characters", AGENT_HOST_NAME_MAX);
        return -1;
    }
    if (alen > AGENT_HOST_IP_MAX) {
        snprintf(why, whylen, "%.*s: not an IPv4 or IPv6 address", (int)alen, addr);
        return -1;
    }
    char name[AGENT_HOST_NAME_MAX + 1], ip[AGENT_HOST_IP_MAX + 1];
    snprintf(name, sizeof(name), "%.*s", (int)nlen, spec);
    snprintf(ip, sizeof(ip), "%.*s", (int)alen, addr);
    if (strcmp(ip, "host-gateway") == 0) {
        if (gateway == NULL) {
            snprintf(why, whylen, "host-gateway: the VM has no network (--network none)");
            return -1;
        }
        snprintf(ip, sizeof(ip), "%s", gateway);
    }
    return agent_host_entry_set(e, name, ip, why, whylen);
}

int agent_refuse(char *why, size_t whylen, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return -1;
}
