/* Agent client: handshake, exec with a non-blocking pump, poweroff. */
#include "agent/agent_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

#define OUTBUF_MAX (1u << 20) /* stdin bytes queued for the guest before we stop reading */

int64_t agent_now_ms(void)
{
    return (int64_t)(sm_now_ns() / 1000000);
}
#define now_ms agent_now_ms

/* One attempt: connect, CONNECT line, OK line. 1: connected; 0: not yet (retry);
 * -1: a hard error. */
static int try_connect(const char *path, uint32_t port, int64_t deadline, int *out, sm_error_t *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return sm_error_set(err, ENAMETOOLONG, "%s", path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sm_error_set(err, errno, "socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;
        close(fd);
        if (e == ENOENT || e == ECONNREFUSED || e == EAGAIN)
            return 0; /* the VMM has not made its socket yet */
        return sm_error_set(err, e, "connect %s", path);
    }
    char line[64];
    int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
    if (sm_send_all(fd, line, (size_t)n) < 0) {
        close(fd);
        return 0;
    }
    /* The answer, byte by byte: nothing after the newline may be consumed here. A
     * guest answers (OK, or a reset when nothing listens) at once; a request lost in a
     * snapshot pause or a transport reset is retried rather than waited for. */
    if (deadline > now_ms() + 2000)
        deadline = now_ms() + 2000;
    size_t got = 0;
    while (got < sizeof(line) - 1) {
        int left = (int)(deadline - now_ms());
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t r = read(fd, line + got, 1);
        if (r <= 0)
            break;
        if (line[got++] == '\n')
            break;
    }
    line[got] = '\0';
    if (got > 3 && strncmp(line, "OK ", 3) == 0 && line[got - 1] == '\n') {
        *out = fd;
        return 1;
    }
    close(fd); /* closed without an answer: nothing listens in the guest yet */
    return 0;
}

int agent_connect(const char *uds_path, uint32_t port, int timeout_ms, struct agent_conn *c,
                  sm_error_t *err)
{
    return agent_connect_while(uds_path, port, timeout_ms, NULL, NULL, c, err);
}

int agent_connect_while(const char *uds_path, uint32_t port, int timeout_ms, bool (*alive)(void *),
                        void *arg, struct agent_conn *c, sm_error_t *err)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    int64_t deadline = now_ms() + timeout_ms;
    unsigned delay_ms = 1;
    for (;;) {
        int r = try_connect(uds_path, port, deadline, &c->fd, err);
        if (r < 0)
            return -1;
        if (r == 1)
            break;
        if (now_ms() >= deadline)
            return sm_error_set(err, 0, "the guest's agent did not answer within %d s",
                                (timeout_ms + 999) / 1000);
        if (alive && !alive(arg))
            return sm_error_set(err, 0, "the VM stopped before its agent answered");
        /* Restores answer in milliseconds, cold boots in seconds: back off gently. */
        usleep(delay_ms * 1000);
        delay_ms = delay_ms < 50 ? delay_ms * 2 : 50;
    }
    agent_decoder_init(&c->dec);
    return 0;
}

int agent_connect_unix(const char *path, struct agent_conn *c, sm_error_t *err)
{
    memset(c, 0, sizeof(*c));
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return sm_error_set(err, ENAMETOOLONG, "%s", path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        return sm_error_set(err, e, "connect %s", path);
    }
    agent_decoder_init(&c->dec);
    return 0;
}

void agent_close(struct agent_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    agent_decoder_free(&c->dec);
}

int agent_read_frame(struct agent_conn *c, int64_t deadline, uint8_t *type, const uint8_t **payload,
                     size_t *len, sm_error_t *err)
{
    for (;;) {
        int r = agent_decoder_next(&c->dec, type, payload, len);
        if (r < 0)
            return sm_error_set(err, 0, "agent: %s", c->dec.error);
        if (r == 1)
            return 0;
        int left = (int)(deadline - now_ms());
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) == 0)
            return sm_error_set(err, ETIMEDOUT, "agent");
        uint8_t *space = agent_decoder_space(&c->dec, 65536);
        ssize_t n = read(c->fd, space, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return sm_error_set(err, 0, "agent: connection closed (did the VM stop?)");
        agent_decoder_commit(&c->dec, (size_t)n);
    }
}

/* A JSON array of strings, [] for none (sm_json_array gives NULL then). */
static json_object *string_array(const char *const *v)
{
    json_object *a = sm_json_array(v);
    return a ? a : json_object_new_array();
}

int agent_hello(struct agent_conn *c, const struct agent_hello_setup *setup, int timeout_ms,
                sm_error_t *err)
{
    static const struct agent_hello_setup none = {0};
    if (setup == NULL)
        setup = &none;
    const char *hostname = setup->hostname;
    const struct agent_host_entry *hosts = setup->hosts;
    size_t n = setup->nhosts;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint8_t seed[32];
    if (getrandom(seed, sizeof(seed), 0) != sizeof(seed))
        return sm_error_set(err, errno, "getrandom");
    char hex[65];
    for (size_t i = 0; i < sizeof(seed); i++)
        snprintf(hex + 2 * i, 3, "%02x", seed[i]);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "version", json_object_new_int(AGENT_VERSION));
    json_object_object_add(o, "time_ns",
                           json_object_new_int64((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec));
    json_object_object_add(o, "seed", json_object_new_string(hex));
    if (hostname)
        json_object_object_add(o, "hostname", json_object_new_string(hostname));
    if (hosts) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_new_object();
            json_object_object_add(e, "name", json_object_new_string(hosts[i].name));
            json_object_object_add(e, "ip", json_object_new_string(hosts[i].ip));
            json_object_array_add(a, e);
        }
        json_object_object_add(o, "hosts", a);
    }
    if (setup->read_only)
        json_object_object_add(o, "read_only", json_object_new_boolean(1));
    if (setup->shm_size)
        json_object_object_add(o, "shm_size", json_object_new_int64((int64_t)setup->shm_size));
    if (setup->tmpfs && setup->tmpfs[0])
        json_object_object_add(o, "tmpfs", sm_json_array(setup->tmpfs));
    if (setup->dns_set) {
        json_object *d = json_object_new_object();
        json_object_object_add(d, "servers", string_array(setup->dns));
        json_object_object_add(d, "search", string_array(setup->dns_search));
        json_object_object_add(d, "options", string_array(setup->dns_options));
        json_object_object_add(o, "dns", d);
    }
    int w = agent_write_json(c->fd, AGENT_HELLO, o);
    json_object_put(o);
    if (w < 0)
        return sm_error_set(err, errno, "agent: send hello");
    uint8_t type;
    const uint8_t *payload;
    size_t len;
    if (agent_read_frame(c, now_ms() + timeout_ms, &type, &payload, &len, err) < 0)
        return -1;
    json_object *r = agent_parse_json(payload, len);
    int64_t version = 0;
    bool ok = type == AGENT_HELLO && r && agent_json_int(r, "version", 0, 1000000, &version);
    const char *refused = ok ? agent_json_str(r, "error") : NULL;
    if (refused) {
        /* The guest's words: bounded, and on one line whatever it sent. */
        char text[301];
        snprintf(text, sizeof(text), "%s", refused);
        for (char *p = text; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        sm_error_set(err, 0, "%s", text);
        json_object_put(r);
        return -2;
    }
    json_object_put(r);
    if (!ok)
        return sm_error_set(err, 0, "agent: expected hello, got a %s frame",
                            agent_frame_type_name(type));
    if (version != AGENT_VERSION)
        return sm_error_set(err, 0, "agent speaks protocol version %lld, we speak %d",
                            (long long)version, AGENT_VERSION);
    return 0;
}

static json_object *strv_json(const char *const *v)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; v && v[i]; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

struct outbuf {
    uint8_t *data;
    size_t len;
};

static void out_frame(struct outbuf *o, uint8_t type, const void *payload, size_t len)
{
    o->data = xrealloc(o->data, o->len + 5 + len);
    agent_frame_header(o->data + o->len, type, len);
    if (len)
        memcpy(o->data + o->len + 5, payload, len);
    o->len += 5 + len;
}

static void out_json(struct outbuf *o, uint8_t type, json_object *j)
{
    const char *s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
    out_frame(o, type, s, strlen(s));
    json_object_put(j);
}

static void window_size(int fd, unsigned *rows, unsigned *cols)
{
    struct winsize ws;
    if (fd >= 0 && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
        *rows = ws.ws_row;
        *cols = ws.ws_col;
    }
}

static void on_signal_byte(struct outbuf *o, uint8_t sig, int out_fd)
{
    if (sig == SIGWINCH) {
        unsigned rows = 0, cols = 0;
        window_size(out_fd, &rows, &cols);
        if (rows == 0)
            return;
        json_object *j = json_object_new_object();
        json_object_object_add(j, "rows", json_object_new_int((int)rows));
        json_object_object_add(j, "cols", json_object_new_int((int)cols));
        out_json(o, AGENT_RESIZE, j);
        return;
    }
    json_object *j = json_object_new_object();
    json_object_object_add(j, "signal", json_object_new_int(sig));
    out_json(o, AGENT_SIGNAL, j);
}

static void exit_stats(json_object *j, struct agent_exit_stats *st)
{
    int64_t v;
    if (agent_json_int(j, "peak_rss_kib", 0, INT64_MAX, &v))
        st->peak_rss_kib = v;
    if (agent_json_int(j, "duration_ms", 0, INT64_MAX, &v))
        st->duration_ms = v;
    json_object *b;
    st->timed_out = json_object_object_get_ex(j, "timed_out", &b) && json_object_get_boolean(b);
}

static int pump(struct agent_conn *c, const struct agent_exec_request *req, int in_fd, int out_fd,
                int err_fd, int signal_fd, int *status, sm_error_t *err);

int agent_exec(struct agent_conn *c, const struct agent_exec_request *req, int in_fd, int out_fd,
               int err_fd, int signal_fd, int *status, sm_error_t *err)
{
    unsigned rows = req->rows ? req->rows : 24, cols = req->cols ? req->cols : 80;
    if (req->tty)
        window_size(out_fd, &rows, &cols);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "argv", strv_json(req->argv));
    json_object_object_add(o, "env", strv_json(req->env));
    json_object_object_add(o, "cwd", json_object_new_string(req->cwd ? req->cwd : "/"));
    json_object_object_add(o, "user", json_object_new_string(req->user ? req->user : "0"));
    json_object_object_add(o, "tty", json_object_new_boolean(req->tty));
    json_object_object_add(o, "stdin", json_object_new_boolean(req->stdin_open && in_fd >= 0));
    json_object_object_add(o, "rows", json_object_new_int((int)rows));
    json_object_object_add(o, "cols", json_object_new_int((int)cols));
    if (req->timeout_ms)
        json_object_object_add(o, "timeout_ms", json_object_new_int64((int64_t)req->timeout_ms));
    if (req->ulimits && req->ulimits[0])
        json_object_object_add(o, "ulimits", strv_json(req->ulimits));
    if (req->keep)
        json_object_object_add(o, "keep", json_object_new_boolean(true));
    if (req->snapshot_on && req->marker) {
        json_object_object_add(o, "snapshot_on", json_object_new_string(req->snapshot_on));
        json_object_object_add(o, "marker", json_object_new_string(req->marker));
    }
    int w = agent_write_json(c->fd, AGENT_EXEC, o);
    json_object_put(o);
    if (w < 0)
        return sm_error_set(err, errno, "agent: send exec");
    return pump(c, req, in_fd, out_fd, err_fd, signal_fd, status, err);
}

int agent_attach(struct agent_conn *c, const struct agent_exec_request *req, int in_fd, int out_fd,
                 int err_fd, int signal_fd, int *status, sm_error_t *err)
{
    json_object *o = json_object_new_object();
    int w = agent_write_json(c->fd, AGENT_ATTACH, o);
    json_object_put(o);
    if (w < 0)
        return sm_error_set(err, errno, "agent: send attach");
    return pump(c, req, in_fd, out_fd, err_fd, signal_fd, status, err);
}

/* A log file of the session's, appended to; -1 when there is none (path NULL) or it
 * cannot be opened. */
static int open_log(const char *path)
{
    return path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
}

/* The session of a running process: input out, output in, until its exit (0), or its
 * HELD frame when the request waits for one (1). */
static int pump(struct agent_conn *c, const struct agent_exec_request *req, int in_fd, int out_fd,
                int err_fd, int signal_fd, int *status, sm_error_t *err)
{
    if (req->stats)
        *req->stats = (struct agent_exit_stats){.peak_rss_kib = -1, .duration_ms = -1};
    if (!req->stdin_open)
        in_fd = -1;

    /* From here the socket is non-blocking: we always read what the guest sends (its
     * output) even while our input waits to go out, so neither side can wedge. */
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct outbuf ob = {0};
    bool in_open = in_fd >= 0, done = false;
    /* Output files that a chatty process must not grow without bound; one log when
     * stdout and stderr share a file. */
    struct sm_capped_log logs[2];
    sm_capped_log_init(&logs[0], out_fd, req->output_limit);
    sm_capped_log_init(&logs[1], err_fd, req->output_limit);
    struct sm_capped_log *out_log = &logs[0], *err_log = err_fd == out_fd ? &logs[0] : &logs[1];
    int times_fd = open_log(req->output_times);
    sm_capped_log_times(out_log, times_fd); /* without the file, no times: not an error */
    struct sm_capped_log copy;
    int copy_fd = open_log(req->copy_to);
    int copy_times_fd = copy_fd >= 0 ? open_log(req->copy_times) : -1;
    sm_capped_log_init(&copy, copy_fd, req->copy_limit);
    sm_capped_log_times(&copy, copy_times_fd);
    int ret = 0;
    while (!done) {
        struct pollfd p[3];
        int n = 0, i_in = -1, i_sig = -1;
        p[n++] = (struct pollfd){.fd = c->fd, .events = POLLIN | (ob.len ? POLLOUT : 0)};
        if (in_open && ob.len < OUTBUF_MAX)
            p[i_in = n++] = (struct pollfd){.fd = in_fd, .events = POLLIN};
        if (signal_fd >= 0)
            p[i_sig = n++] = (struct pollfd){.fd = signal_fd, .events = POLLIN};
        if (poll(p, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            ret = sm_error_set(err, errno, "poll");
            break;
        }
        if (i_sig >= 0 && (p[i_sig].revents & POLLIN)) {
            uint8_t sigs[16];
            ssize_t k = read(signal_fd, sigs, sizeof(sigs));
            for (ssize_t i = 0; i < k; i++)
                on_signal_byte(&ob, sigs[i], out_fd);
        }
        if (i_in >= 0 && (p[i_in].revents & (POLLIN | POLLHUP | POLLERR))) {
            uint8_t buf[AGENT_DATA_CHUNK];
            ssize_t k = read(in_fd, buf, sizeof(buf));
            if (k > 0) {
                out_frame(&ob, AGENT_STDIN, buf, (size_t)k);
            } else if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
                out_frame(&ob, AGENT_STDIN, NULL, 0); /* end of input */
                in_open = false;
            }
        }
        if (ob.len && (p[0].revents & POLLOUT)) {
            ssize_t k = send(c->fd, ob.data, ob.len, MSG_NOSIGNAL);
            if (k > 0) {
                memmove(ob.data, ob.data + k, ob.len - (size_t)k);
                ob.len -= (size_t)k;
            } else if (k < 0 && errno != EAGAIN && errno != EINTR) {
                ret = sm_error_set(err, errno, "agent: send");
                break;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            uint8_t *space = agent_decoder_space(&c->dec, 65536);
            ssize_t k = read(c->fd, space, 65536);
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
                ret = sm_error_set(err, 0,
                                   "agent: connection closed before the process's "
                                   "exit status (did the VM stop?)");
                break;
            }
            if (k > 0)
                agent_decoder_commit(&c->dec, (size_t)k);
            uint8_t type;
            const uint8_t *payload;
            size_t len;
            int fr;
            while (!done && (fr = agent_decoder_next(&c->dec, &type, &payload, &len)) == 1) {
                json_object *j = NULL;
                int64_t v;
                switch (type) {
                case AGENT_STARTED:
                    j = agent_parse_json(payload, len);
                    if (req->on_started && j && agent_json_int(j, "pid", 2, INT32_MAX, &v))
                        req->on_started(req->arg, (int)v);
                    break;
                case AGENT_STDOUT:
                case AGENT_STDERR:
                    if (sm_capped_log_write(type == AGENT_STDOUT ? out_log : err_log, payload,
                                            len) < 0 &&
                        errno != EPIPE) {
                        ret = sm_error_set(err, errno, "write the process's output");
                        done = true;
                    }
                    if (copy_fd >= 0 && sm_capped_log_write(&copy, payload, len) < 0) {
                        close(copy_fd); /* the copy is for later, the session goes on */
                        copy_fd = -1;
                    }
                    break;
                case AGENT_EXIT:
                    j = agent_parse_json(payload, len);
                    if (j && agent_json_int(j, "status", 0, 255, &v)) {
                        *status = (int)v;
                        if (req->stats)
                            exit_stats(j, req->stats);
                    } else
                        ret = sm_error_set(err, 0, "agent: malformed exit frame");
                    done = true;
                    break;
                case AGENT_HELD:
                    if (req->snapshot_on == NULL) {
                        ret = sm_error_set(err, 0, "agent: unexpected held frame");
                    } else {
                        ret = 1; /* the caller goes on once the VMM saved the snapshot */
                    }
                    done = true;
                    break;
                case AGENT_ERROR:
                    j = agent_parse_json(payload, len);
                    ret = sm_error_set(
                        err, 0, "agent: %s",
                        j && agent_json_str(j, "message") ? agent_json_str(j, "message") : "error");
                    done = true;
                    break;
                default:
                    ret = sm_error_set(err, 0, "agent: unexpected %s frame",
                                       agent_frame_type_name(type));
                    done = true;
                }
                json_object_put(j);
            }
            if (!done && fr < 0) {
                ret = sm_error_set(err, 0, "agent: %s", c->dec.error);
                break;
            }
        }
    }
    free(ob.data);
    if (times_fd >= 0)
        close(times_fd);
    if (copy_fd >= 0)
        close(copy_fd);
    if (copy_times_fd >= 0)
        close(copy_times_fd);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
    return ret;
}

int agent_poweroff(struct agent_conn *c, sm_error_t *err)
{
    json_object *o = json_object_new_object();
    int w = agent_write_json(c->fd, AGENT_POWEROFF, o);
    json_object_put(o);
    return w < 0 ? sm_error_set(err, errno, "agent: send poweroff") : 0;
}
