/* Agent sessions other than exec (docs/protocol.md): signal a process, write and read a
 * file, list listening ports. The guest is not trusted: sizes are bounded by the caller,
 * counts and addresses checked. */
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent_client.h"
#include "common/util.h"

#define REPLY_TIMEOUT_MS 30000 /* a guest busy writing a large file still answers by then */
#define PORTS_MAX        65536

static int error_frame(const uint8_t *payload, size_t len, sm_error_t *err)
{
    json_object *j = agent_parse_json(payload, len);
    const char *m = j ? agent_json_str(j, "message") : NULL;
    int r = sm_error_set(err, 0, "%s", m ? m : "the agent reported an error");
    json_object_put(j);
    return r;
}

json_object *agent_read_answer(struct agent_conn *c, uint8_t want, int timeout_ms, sm_error_t *err)
{
    uint8_t type;
    const uint8_t *payload;
    size_t len;
    if (agent_read_frame(c, agent_now_ms() + timeout_ms, &type, &payload, &len, err) < 0)
        return NULL;
    if (type == AGENT_ERROR) {
        error_frame(payload, len, err);
        return NULL;
    }
    json_object *j = type == want ? agent_parse_json(payload, len) : NULL;
    if (j == NULL)
        sm_error_set(err, 0, "agent: unexpected %s frame", agent_frame_type_name(type));
    return j;
}

/* Waits for the EXIT {status: 0} that ends a session. */
static int await_ok(struct agent_conn *c, int timeout_ms, int64_t *size, sm_error_t *err)
{
    json_object *j = agent_read_answer(c, AGENT_EXIT, timeout_ms, err);
    if (j == NULL)
        return -1;
    int64_t status = -1;
    bool ok = j && agent_json_int(j, "status", 0, 255, &status) && status == 0;
    if (ok && size && !agent_json_int(j, "size", 0, INT64_MAX, size))
        ok = false;
    json_object_put(j);
    if (!ok)
        return sm_error_set(err, 0, "agent: a malformed exit frame");
    return 0;
}

int agent_signal(struct agent_conn *c, int pid, int sig, int timeout_ms, sm_error_t *err)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "signal", json_object_new_int(sig));
    json_object_object_add(o, "pid", json_object_new_int(pid));
    int w = agent_write_json(c->fd, AGENT_SIGNAL, o);
    json_object_put(o);
    if (w < 0)
        return sm_error_set(err, errno, "agent: send signal");
    return await_ok(c, timeout_ms, NULL, err);
}

/* After a write-file or write-tar opener: in_fd's bytes as STDIN frames, an empty one at
 * its end, and the guest's count of what it took compared with what was sent. */
static int stream_in(struct agent_conn *c, int in_fd, sm_error_t *err)
{
    /* On the heap, for this call only: a static thread-local buffer would be in every
     * thread of every process that links the library (each thread's TLS is set up, and
     * touched, when it starts), 64 KiB private memory per thread of each VMM. */
    cleanup_free uint8_t *buf = xmalloc(AGENT_DATA_CHUNK);
    int64_t sent = 0;
    for (;;) {
        ssize_t n = read(in_fd, buf, AGENT_DATA_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sm_error_set(err, errno, "read the input");
        /* A send that fails means the guest gave up (it says why in an ERROR frame). */
        if (agent_write_frame(c->fd, AGENT_STDIN, buf, (size_t)n) < 0)
            break;
        if (n == 0)
            break;
        sent += n;
    }
    int64_t size = -1;
    if (await_ok(c, REPLY_TIMEOUT_MS, &size, err) < 0)
        return -1;
    if (size != sent)
        return sm_error_set(err, 0, "the guest wrote %lld bytes of %lld", (long long)size,
                            (long long)sent);
    return 0;
}

int agent_write_file(struct agent_conn *c, const char *path, unsigned mode, unsigned uid,
                     unsigned gid, int in_fd, sm_error_t *err)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "path", json_object_new_string(path));
    json_object_object_add(o, "mode", json_object_new_int((int)(mode & 07777)));
    json_object_object_add(o, "uid", json_object_new_int64(uid));
    json_object_object_add(o, "gid", json_object_new_int64(gid));
    int w = agent_write_json(c->fd, AGENT_WRITE_FILE, o);
    json_object_put(o);
    if (w < 0)
        return sm_error_set(err, errno, "agent: send write-file");
    return stream_in(c, in_fd, err);
}

int agent_write_tar(struct agent_conn *c, const char *dir, unsigned uid, unsigned gid, int in_fd,
                    sm_error_t *err)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "path", json_object_new_string(dir));
    json_object_object_add(o, "uid", json_object_new_int64(uid));
    json_object_object_add(o, "gid", json_object_new_int64(gid));
    int w = agent_write_json(c->fd, AGENT_WRITE_TAR, o);
    json_object_put(o);
    if (w < 0)
        return sm_error_set(err, errno, "agent: send write-tar");
    return stream_in(c, in_fd, err);
}

int agent_stat(struct agent_conn *c, const char *path, enum agent_path_type *type, int timeout_ms,
               sm_error_t *err)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "path", json_object_new_string(path));
    int w = agent_write_json(c->fd, AGENT_STAT, o);
    json_object_put(o);
    if (w < 0)
        return sm_error_set(err, errno, "agent: send stat");
    json_object *j = agent_read_answer(c, AGENT_EXIT, timeout_ms, err);
    if (j == NULL)
        return -1;
    static const char *const names[] = {
        [AGENT_PATH_NONE] = "none",
        [AGENT_PATH_FILE] = "file",
        [AGENT_PATH_DIR] = "dir",
        [AGENT_PATH_OTHER] = "other",
    };
    const char *said = agent_json_str(j, "type");
    int64_t status = -1;
    int found = -1;
    for (size_t i = 0; said && i < SM_ARRAY_SIZE(names); i++)
        if (strcmp(said, names[i]) == 0)
            found = (int)i;
    bool ok = agent_json_int(j, "status", 0, 0, &status) && found >= 0;
    json_object_put(j);
    if (!ok)
        return sm_error_set(err, 0, "agent: a malformed answer to stat %s", path);
    *type = (enum agent_path_type)found;
    return 0;
}

/* After a read-file or read-tar opener: STDOUT frames to out_fd, at most max_bytes, until
 * the EXIT whose size must be what arrived. */
static int stream_out(struct agent_conn *c, const char *path, int out_fd, uint64_t max_bytes,
                      uint64_t *size, sm_error_t *err)
{
    uint64_t got = 0;
    for (;;) {
        uint8_t type;
        const uint8_t *payload;
        size_t len;
        if (agent_read_frame(c, agent_now_ms() + REPLY_TIMEOUT_MS, &type, &payload, &len, err) < 0)
            return -1;
        if (type == AGENT_STDOUT) {
            if (len > max_bytes - got)
                return sm_error_set(err, EFBIG, "%s: larger than %llu bytes", path,
                                    (unsigned long long)max_bytes);
            if (sm_write_all(out_fd, payload, len) < 0)
                return sm_error_set(err, errno, "write %s", path);
            got += len;
            continue;
        }
        if (type == AGENT_ERROR)
            return error_frame(payload, len, err);
        json_object *j = type == AGENT_EXIT ? agent_parse_json(payload, len) : NULL;
        int64_t status = -1, said = -1;
        bool ok = j && agent_json_int(j, "status", 0, 0, &status) &&
                  agent_json_int(j, "size", 0, INT64_MAX, &said) && (uint64_t)said == got;
        json_object_put(j);
        if (!ok)
            return sm_error_set(err, 0, "agent: a malformed end of %s", path);
        if (size)
            *size = got;
        return 0;
    }
}

int agent_read_file(struct agent_conn *c, const char *path, int out_fd, uint64_t max_bytes,
                    uint64_t *size, sm_error_t *err)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "path", json_object_new_string(path));
    int w = agent_write_json(c->fd, AGENT_READ_FILE, o);
    json_object_put(o);
    if (w < 0)
        return sm_error_set(err, errno, "agent: send read-file");
    return stream_out(c, path, out_fd, max_bytes, size, err);
}

int agent_read_tar(struct agent_conn *c, const char *path, const char *top, int out_fd,
                   sm_error_t *err)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "path", json_object_new_string(path));
    json_object_object_add(o, "name", json_object_new_string(top));
    int w = agent_write_json(c->fd, AGENT_READ_TAR, o);
    json_object_put(o);
    if (w < 0)
        return sm_error_set(err, errno, "agent: send read-tar");
    return stream_out(c, path, out_fd, UINT64_MAX, NULL, err);
}

int agent_ports_parse(json_object *j, struct agent_port **ports, size_t *n, sm_error_t *err)
{
    json_object *tcp;
    if (!json_object_object_get_ex(j, "tcp", &tcp) || !json_object_is_type(tcp, json_type_array) ||
        json_object_array_length(tcp) > PORTS_MAX)
        return sm_error_set(err, 0, "agent: a malformed ports answer");
    size_t count = json_object_array_length(tcp);
    struct agent_port *list = xcalloc(count ? count : 1, sizeof(*list));
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        json_object *e = json_object_array_get_idx(tcp, i);
        int64_t port;
        const char *addr = agent_json_str(e, "address");
        if (!json_object_is_type(e, json_type_object) ||
            !agent_json_int(e, "port", 0, 65535, &port) || addr == NULL ||
            strlen(addr) >= sizeof(list[k].address) ||
            strspn(addr, "0123456789abcdefABCDEF.:") != strlen(addr))
            continue; /* not an address: dropped, never printed */
        list[k].port = (uint16_t)port;
        memcpy(list[k].address, addr, strlen(addr) + 1);
        k++;
    }
    *ports = list;
    *n = k;
    return 0;
}

int agent_ports(struct agent_conn *c, struct agent_port **ports, size_t *n, int timeout_ms,
                sm_error_t *err)
{
    json_object *o = json_object_new_object();
    int w = agent_write_json(c->fd, AGENT_PORTS, o);
    json_object_put(o);
    if (w < 0)
        return sm_error_set(err, errno, "agent: send ports");
    json_object *j = agent_read_answer(c, AGENT_PORTS, timeout_ms, err);
    if (j == NULL)
        return -1;
    int r = agent_ports_parse(j, ports, n, err);
    json_object_put(j);
    return r;
}
