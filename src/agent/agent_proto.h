/* The agent wire protocol (docs/protocol.md), shared by the host library and the guest's
 * sm-init: length-prefixed frames on one stream (a vsock connection), one session per
 * connection. Neither side trusts the other's bytes: every frame is checked against
 * AGENT_FRAME_MAX and its type before anything is used.
 *
 *   u32 length (big endian, counts type + payload) | u8 type | payload
 *
 * Control payloads are JSON objects; data payloads are raw bytes. */
#ifndef SM_AGENT_PROTO_H
#define SM_AGENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define AGENT_PORT       1024
#define AGENT_VERSION    1
#define AGENT_FRAME_MAX  (1u << 20)  /* type + payload */
#define AGENT_DATA_CHUNK (64u << 10) /* what a side puts in one data frame */
#define AGENT_JSON_MAX   (256u << 10)

enum agent_frame_type {
    AGENT_HELLO = 1,     /* both ways, JSON: host {version, time_ns, seed, hostname};
                          * guest {version} */
    AGENT_EXEC = 2,      /* host: JSON {argv, env, cwd, user, tty, rows, cols, stdin,
                          * timeout_ms} */
    AGENT_STARTED = 3,   /* guest: JSON {pid} */
    AGENT_STDIN = 4,     /* host: data; empty = end of input */
    AGENT_STDOUT = 5,    /* guest: data */
    AGENT_STDERR = 6,    /* guest: data */
    AGENT_EXIT = 7,      /* guest: JSON {status} (128+N for signal N), after all output;
                          * for EXEC also peak_rss_kib, duration_ms, timed_out */
    AGENT_SIGNAL = 8,    /* host: JSON {signal} */
    AGENT_RESIZE = 9,    /* host: JSON {rows, cols} */
    AGENT_POWEROFF = 10, /* host: JSON {} */
    AGENT_ERROR = 11,    /* either: JSON {message} */
    /* Session openers besides EXEC (and SIGNAL with a pid, which signals that process):
     * each is answered by EXIT {status: 0} or ERROR. */
    AGENT_WRITE_FILE = 12, /* host: JSON {path, mode}; then STDIN data, empty = end */
    AGENT_READ_FILE = 13,  /* host: JSON {path}; guest: STDOUT data, then EXIT {status, size} */
    AGENT_PORTS = 14,      /* host: JSON {}; guest: PORTS JSON {tcp: [{port, address}]} */
    /* Kept processes (EXEC with keep: true) outlive their connection and can be baked
     * into a workload-ready snapshot (docs/protocol.md). */
    AGENT_HELD = 15,   /* guest: JSON {pid}: the snapshot_on trigger fired, the process is
                        * frozen and the marker line is on the console */
    AGENT_ATTACH = 16, /* host, a session's opener: JSON {}; continues the kept process's
                        * session on this connection (STARTED, output, EXIT) and thaws it */
    /* Trees of files (docker cp of directories), as tar streams (docs/protocol.md). */
    AGENT_WRITE_TAR = 17, /* host: JSON {path, uid, gid}; then STDIN data (a tar stream),
                           * empty = end; the guest extracts it into directory path */
    AGENT_READ_TAR = 18,  /* host: JSON {path, name}; guest: STDOUT data (a tar stream of
                           * path, its top entry called name), then EXIT {status, size} */
    AGENT_STAT = 19,      /* host: JSON {path}; guest: EXIT {status, type}: "dir", "file",
                           * "other" or "none" (symlinks followed) */
    /* docker top and stats (docs/protocol.md). */
    AGENT_PROCESSES = 20, /* host: JSON {list}; guest (when list): a PROCESSES frame per
                           * process, JSON {pid, ppid, uid, gid, user, state, tty,
                           * start_ms, cpu_ms, rss_kib, vsz_kib, threads, comm, args};
                           * then EXIT {status, processes, cpus, uptime_ms,
                           * mem_total_kib, mem_available_kib, net_rx_bytes,
                           * net_tx_bytes, block_read_bytes, block_write_bytes} */
    AGENT_TYPE_MAX = AGENT_PROCESSES,
};

/* When a kept process is ready to be snapshotted (`--snapshot-on`), as the user writes
 * it: "listen:PORT" (a TCP socket of the guest listens on PORT), "console:TEXT" (TEXT
 * appeared in the process's output), "idle" or "idle:MS" (the process used under 2% of
 * a CPU for MS milliseconds, default 1000), "after:MS" (MS milliseconds after it
 * started). The same string travels in EXEC's snapshot_on; both sides parse it here. */
enum agent_trigger_kind {
    AGENT_TRIGGER_LISTEN,
    AGENT_TRIGGER_OUTPUT,
    AGENT_TRIGGER_IDLE,
    AGENT_TRIGGER_AFTER,
};
#define AGENT_TRIGGER_TEXT_MAX 256
struct agent_trigger {
    enum agent_trigger_kind kind;
    uint32_t value; /* the port, or milliseconds */
    char text[AGENT_TRIGGER_TEXT_MAX + 1];
};
/* 0, or -1 with why (a sentence naming what is wrong) filled. */
int agent_trigger_parse(const char *spec, struct agent_trigger *t, char *why, size_t whylen);

/* docker's --add-host: lines of the guest's /etc/hosts that travel in the hello (its
 * "hosts", docs/protocol.md). The host checks what the user gives, the guest what it
 * receives, both here. */
#define AGENT_HOSTS_MAX     256 /* entries in one hello */
#define AGENT_HOST_NAME_MAX 253
#define AGENT_HOST_IP_MAX   45 /* INET6_ADDRSTRLEN without its NUL */
struct agent_host_entry {
    char name[AGENT_HOST_NAME_MAX + 1];
    char ip[AGENT_HOST_IP_MAX + 1]; /* as inet_ntop writes it */
};
/* An RFC 1123 host name: labels of 1 to 63 letters, digits and '-' (not first or last
 * in a label) separated by dots, 253 characters at most. */
bool agent_host_name_valid(const char *name);
/* Checks a name and an IPv4 or IPv6 address (inet_pton's syntax) into e. 0, or -1 with
 * why (may be NULL) saying what is wrong. */
int agent_host_entry_set(struct agent_host_entry *e, const char *name, const char *ip, char *why,
                         size_t whylen);
/* docker's --add-host syntax: "HOST:IP" or "HOST=IP", an IPv6 address also in brackets
 * ("db=[::1]"); the address "host-gateway" stands for gateway (this host as the guest
 * reaches it), refused when gateway is NULL (no network). */
int agent_host_entry_parse(const char *spec, const char *gateway, struct agent_host_entry *e,
                           char *why, size_t whylen);

const char *agent_frame_type_name(unsigned type);

/* Incremental decoder over a byte stream: feed what arrived, take whole frames out. */
struct agent_decoder {
    uint8_t *buf;
    size_t len, cap;
    size_t pending;  /* bytes of the frame handed out last, dropped on the next call */
    char error[128]; /* set when the stream broke the protocol */
};
void agent_decoder_init(struct agent_decoder *d);
void agent_decoder_free(struct agent_decoder *d);
/* Room to read into (at least `want` bytes); agent_decoder_commit says how many came. */
uint8_t *agent_decoder_space(struct agent_decoder *d, size_t want);
void agent_decoder_commit(struct agent_decoder *d, size_t n);
/* 1: a frame (type, payload, len valid until the next call), 0: need more bytes,
 * -1: protocol error (d->error says which; the stream is unusable). */
int agent_decoder_next(struct agent_decoder *d, uint8_t *type, const uint8_t **payload,
                       size_t *len);

/* Encodes one frame header into out[5]; the payload follows it on the wire. */
void agent_frame_header(uint8_t out[5], uint8_t type, size_t payload_len);
/* Writes all of buf to a blocking descriptor (short writes and EINTR retried; sockets
 * with MSG_NOSIGNAL). */
int agent_write_all(int fd, const void *buf, size_t len);
/* Writes a whole frame to a blocking descriptor (retrying short writes). */
int agent_write_frame(int fd, uint8_t type, const void *payload, size_t len);
int agent_write_json(int fd, uint8_t type, json_object *o);

/* Parses a control payload: a JSON object no larger than AGENT_JSON_MAX, or NULL. */
json_object *agent_parse_json(const uint8_t *payload, size_t len);
/* Typed members; false when absent or of another type or out of [min, max]. */
bool agent_json_int(json_object *o, const char *key, int64_t min, int64_t max, int64_t *out);
const char *agent_json_str(json_object *o, const char *key);
/* A NULL-terminated copy of a JSON array of strings (malloc'd, NULL if not one, or
 * longer than max_items, or holding a string with a NUL byte). */
char **agent_json_strv(json_object *o, const char *key, size_t max_items);
void agent_strv_free(char **v);
/* Writes a reason into why (unless NULL or whylen is 0) and returns -1: the checks both
 * sides share (agent_tmpfs, agent_dns) say why they refuse a value this way. */
int agent_refuse(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
