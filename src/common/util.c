#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void sm_freep(void *p)
{
    free(*(void **)p);
}

void sm_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

void sm_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        abort();
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        abort();
    return p;
}

#if defined(__SANITIZE_ADDRESS__)
/* The ASan build keeps these on the heap, where its redzones catch overruns. */
void *xcalloc_pages(size_t size)
{
    return xcalloc(1, size);
}

void xfree_pages(void *p, size_t size)
{
    (void)size;
    free(p);
}
#else
void *xcalloc_pages(size_t size)
{
    void *p =
        mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        abort();
    return p;
}

void xfree_pages(void *p, size_t size)
{
    if (p)
        munmap(p, size ? size : 1);
}
#endif

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL)
        abort();
    return p;
}

void *sm_reserve(void *data, size_t *cap, size_t len, size_t want, size_t first_cap)
{
    if (*cap - len >= want)
        return data;
    size_t c = *cap ? *cap : first_cap;
    while (c - len < want)
        c *= 2;
    *cap = c;
    return xrealloc(data, c);
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        abort();
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        abort();
    return s;
}

void sm_capped_log_init(struct sm_capped_log *l, int fd, uint64_t limit)
{
    struct stat st;
    *l = (struct sm_capped_log){.fd = fd, .times_fd = -1, .line_start = true};
    if (fd >= 0 && limit > 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (fcntl(fd, F_GETFL) & O_APPEND)) {
        l->limit = limit;
        l->written = (uint64_t)st.st_size;
        char last;
        l->line_start =
            st.st_size == 0 || (pread(fd, &last, 1, st.st_size - 1) == 1 && last == '\n');
    }
}

void sm_capped_log_times(struct sm_capped_log *l, int fd)
{
    struct stat st;
    if (l->limit == 0 || fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        !(fcntl(fd, F_GETFL) & O_APPEND))
        return;
    /* Records of output the log no longer holds would misdate its lines. */
    if ((uint64_t)st.st_size % sizeof(struct sm_log_time) || st.st_size > (off_t)l->limit) {
        if (ftruncate(fd, 0) < 0)
            return;
        st.st_size = 0;
    }
    l->times_fd = fd;
    l->times_written = (uint64_t)st.st_size;
}

/* Notes when the line starting at offset arrived (see struct sm_log_time). */
static void log_time(struct sm_capped_log *l, uint64_t offset)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (l->last_time_ns && now >= l->last_time_ns && now - l->last_time_ns < 1000000)
        return; /* the last record, under 1 ms old, dates this line well enough */
    struct sm_log_time rec = {.offset = offset, .unix_ns = now};
    if (sm_write_all(l->times_fd, &rec, sizeof(rec)) == 0) {
        l->times_written += sizeof(rec);
        l->last_time_ns = now;
    }
}

int sm_capped_log_write(struct sm_capped_log *l, const void *buf, size_t len)
{
    if (l->limit == 0)
        return sm_write_all(l->fd, buf, len);
    bool timed = l->times_fd >= 0;
    if (l->written + len > l->limit ||
        (timed && l->times_written + 2 * sizeof(struct sm_log_time) > l->limit)) {
        /* Whatever a hostile or chatty guest prints, the disk holds at most `limit`: the
         * newest output matters most (a panic, the last error), so the oldest goes. */
        char note[128];
        int n = snprintf(note, sizeof(note),
                         "[supermachine: output passed %llu bytes; earlier output dropped]\n",
                         (unsigned long long)l->limit);
        if (timed) {
            if (ftruncate(l->times_fd, 0) < 0)
                timed = false, l->times_fd = -1; /* no times rather than wrong ones */
            l->times_written = 0;
            l->last_time_ns = 0;
        }
        if (ftruncate(l->fd, 0) < 0)
            return -1;
        if (timed)
            log_time(l, 0);
        if (sm_write_all(l->fd, note, (size_t)n) < 0)
            return -1;
        l->written = (uint64_t)n;
        l->line_start = true;
        if (len > l->limit / 2) { /* keep room: only the tail of a huge write */
            buf = (const char *)buf + (len - l->limit / 2);
            len = l->limit / 2;
        }
    }
    if (timed && len) {
        /* The first line this write starts, if any. */
        const char *nl = l->line_start ? NULL : memchr(buf, '\n', len);
        size_t at = l->line_start ? 0 : nl ? (size_t)(nl - (const char *)buf) + 1 : len;
        if (at < len)
            log_time(l, l->written + at);
    }
    if (len)
        l->line_start = ((const char *)buf)[len - 1] == '\n';
    l->written += len;
    return sm_write_all(l->fd, buf, len);
}

const char *sm_json_str(struct json_object *o, const char *key)
{
    json_object *v;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return NULL;
}

int64_t sm_json_int(struct json_object *o, const char *key)
{
    json_object *v;
    return o && json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

void sm_json_set_str(json_object *o, const char *key, const char *value)
{
    if (value)
        json_object_object_add(o, key, json_object_new_string(value));
}

void sm_json_set_strv(json_object *o, const char *key, const char *const *v)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; v && v[i]; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    json_object_object_add(o, key, a);
}

struct json_object *sm_json_array(const char *const *v)
{
    json_object *a = NULL;
    for (size_t i = 0; v && v[i]; i++) {
        if (a == NULL)
            a = json_object_new_array();
        json_object_array_add(a, json_object_new_string(v[i]));
    }
    return a;
}

char **sm_json_strv(struct json_object *arr)
{
    if (arr == NULL || !json_object_is_type(arr, json_type_array))
        return NULL;
    size_t n = json_object_array_length(arr);
    char **v = xcalloc(n + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *s = json_object_array_get_idx(arr, i);
        if (json_object_is_type(s, json_type_string))
            v[k++] = xstrdup(json_object_get_string(s));
    }
    return v;
}

static int write_loop(int fd, const void *buf, size_t len, bool socket)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = socket ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int sm_write_all(int fd, const void *buf, size_t len)
{
    return write_loop(fd, buf, len, false);
}

int sm_send_all(int fd, const void *buf, size_t len)
{
    return write_loop(fd, buf, len, true);
}

int sm_fd_above_stdio(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int e = errno;
    close(fd);
    errno = e;
    return moved;
}

void sm_close_inherited_fds(const int *keep, size_t n)
{
    unsigned from = 3;
    for (;;) {
        /* the lowest kept descriptor at or above `from` */
        unsigned next = ~0u;
        for (size_t i = 0; i < n; i++)
            if (keep[i] >= 0 && (unsigned)keep[i] >= from && (unsigned)keep[i] < next)
                next = (unsigned)keep[i];
        if (next > from)
            close_range(from, next == ~0u ? ~0u : next - 1, 0);
        if (next == ~0u)
            return;
        from = next + 1;
    }
}

void sm_drain(int fd)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0 || (n < 0 && errno == EINTR))
            continue;
        return;
    }
}

void sm_send_line(int fd, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)w;
}

ssize_t sm_read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, p + got, len - got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int sm_read_file(const char *path, size_t max_size, char **out, size_t *len, sm_error_t *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sm_error_set(err, errno, "open %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return sm_error_set(err, errno, "stat %s", path);
    if (!S_ISREG(st.st_mode))
        return sm_error_set(err, 0, "%s: not a regular file", path);
    if ((uint64_t)st.st_size > max_size)
        return sm_error_set(err, 0, "%s: too large (%lld bytes, at most %zu)", path,
                            (long long)st.st_size, max_size);
    size_t size = (size_t)st.st_size;
    char *buf = xmalloc(size + 1);
    ssize_t r = sm_read_full(fd, buf, size);
    if (r < 0) {
        int saved = errno;
        free(buf);
        return sm_error_set(err, saved, "read %s", path);
    }
    buf[r] = '\0';
    *out = buf;
    if (len)
        *len = (size_t)r;
    return 0;
}

static int write_via(const char *tmp, const char *path, const void *data, size_t len, mode_t mode,
                     bool durable, sm_error_t *err)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return sm_error_set(err, errno, "create %s", tmp);
    if (sm_write_all(fd, data, len) < 0 || (durable && fsync(fd) < 0)) {
        int saved = errno;
        close(fd);
        unlink(tmp);
        return sm_error_set(err, saved, "write %s", tmp);
    }
    if (close(fd) < 0) {
        int saved = errno;
        unlink(tmp);
        return sm_error_set(err, saved, "close %s", tmp);
    }
    if (rename(tmp, path) < 0) {
        int saved = errno;
        unlink(tmp);
        return sm_error_set(err, saved, "rename %s to %s", tmp, path);
    }
    return 0;
}

int sm_write_file_via(const char *tmp, const char *path, const void *data, size_t len, mode_t mode,
                      sm_error_t *err)
{
    return write_via(tmp, path, data, len, mode, true, err);
}

/* Through PATH.tmp.PID beside it. */
static int write_beside(const char *path, const void *data, size_t len, mode_t mode, bool durable,
                        sm_error_t *err)
{
    cleanup_free char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    unlink(tmp); /* a leftover of a crashed process with our pid */
    return write_via(tmp, path, data, len, mode, durable, err);
}

int sm_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         sm_error_t *err)
{
    return write_beside(path, data, len, mode, true, err);
}

int sm_write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
                          sm_error_t *err)
{
    return write_beside(path, data, len, mode, false, err);
}

int sm_mkdir_p(const char *path, mode_t mode, sm_error_t *err)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf))
        return sm_error_set(err, ENAMETOOLONG, "mkdir %s", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return sm_error_set(err, errno, "mkdir %s", buf);
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return sm_error_set(err, errno, "mkdir %s", buf);
    return 0;
}

void sm_sha256_hex_final(struct sha256_ctx *ctx, char out[65])
{
    uint8_t md[SHA256_DIGEST_SIZE];
    sha256_digest(ctx, sizeof(md), md);
    for (unsigned i = 0; i < sizeof(md); i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void sm_sha256(const void *data, size_t len, uint8_t out[32])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len, data);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

void sm_sha256_hex(const void *data, size_t len, char out[65])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len, data);
    sm_sha256_hex_final(&ctx, out);
}

int sm_sha256_file(const char *path, char out[65], sm_error_t *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sm_error_set(err, errno, "open %s", path);
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    char buf[1 << 16];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return sm_error_set(err, errno, "read %s", path);
        }
        if (r == 0)
            break;
        sha256_update(&ctx, (size_t)r, (const uint8_t *)buf);
    }
    sm_sha256_hex_final(&ctx, out);
    return 0;
}

int sm_lock_file(const char *path, bool exclusive, sm_error_t *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return sm_error_set(err, errno, "open lock %s", path);
    while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
        if (errno == EINTR)
            continue;
        int saved = errno;
        close(fd);
        return sm_error_set(err, saved, "lock %s", path);
    }
    return fd;
}

uint64_t sm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sm_raise_fd_limit(uint64_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
        return;
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
        want = rl.rlim_max;
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
}

int sm_parse_size(const char *s, uint64_t *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    uint64_t mul = 1;
    switch (*end) {
    case '\0':
        break;
    case 'b':
    case 'B':
        mul = 1;
        end++;
        break;
    case 'k':
    case 'K':
        mul = 1ull << 10;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1ull << 20;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1ull << 30;
        end++;
        break;
    default:
        return -1;
    }
    if ((*end == 'b' || *end == 'B') && mul > 1)
        end++;
    if (*end != '\0')
        return -1;
    if (v > UINT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

char *sm_store_root(sm_error_t *err)
{
    const char *home = getenv("SUPERMACHINE_HOME");
    if (home && *home)
        return xstrdup(home);
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && *xdg)
        return xasprintf("%s/supermachine", xdg);
    const char *h = getenv("HOME");
    if (h == NULL || *h == '\0') {
        sm_error_set(err, 0, "store: neither SUPERMACHINE_HOME nor HOME is set");
        return NULL;
    }
    return xasprintf("%s/.local/share/supermachine", h);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int sm_remove_tree(const char *path, sm_error_t *err)
{
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        return sm_error_set(err, errno, "remove %s", path);
    return 0;
}

void sm_bool_sanitize(bool *b)
{
    uint8_t v;
    memcpy(&v, b, 1);
    v = v != 0;
    memcpy(b, &v, 1);
}

int sm_wait_child(pid_t pid, int timeout_ms, int *status)
{
    int st;
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == 0 && timeout_ms > 0) {
        int fd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (fd >= 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            uint64_t deadline = sm_now_ns() + (uint64_t)timeout_ms * 1000000;
            for (;;) {
                int64_t left = (int64_t)(deadline - sm_now_ns()) / 1000000;
                if (poll(&p, 1, left > 0 ? (int)left : 0) >= 0 || errno != EINTR)
                    break;
            }
            close(fd);
            w = waitpid(pid, &st, WNOHANG);
        } else {
            /* No pidfd (a kernel before 5.3): look again, often at first. */
            for (int waited = 0, step = 1; w == 0 && waited < timeout_ms; waited += step) {
                usleep((useconds_t)step * 1000);
                w = waitpid(pid, &st, WNOHANG);
                step = step < 20 ? step * 2 : 20;
            }
        }
    }
    if (w < 0)
        return -1;
    if (w == 0)
        return 0;
    if (status)
        *status = st;
    return 1;
}
