/* The public calls on a VM's output log (docker logs): the whole of it, its last lines,
 * and following it while the VM runs. The detached run's monitor appends to output.log,
 * which it empties when it passes its cap (sm_capped_log_write): a follower that finds
 * the file shorter than what it read starts again from its beginning. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/instance.h"

enum { LOGS_CHUNK = 65536 };

/* Where the last `lines` lines of the file begin (a last line without its newline counts
 * as a line), reading backwards a chunk at a time. */
static int tail_offset(int fd, off_t size, uint64_t lines, off_t *start, char *buf)
{
    *start = size;
    if (lines == 0 || size == 0)
        return 0;
    char last;
    if (pread(fd, &last, 1, size - 1) != 1)
        return -1;
    off_t end_of_text = last == '\n' ? size - 1 : size; /* the last line's own newline */
    uint64_t seen = 0;
    for (off_t pos = end_of_text; pos > 0;) {
        size_t chunk = pos < LOGS_CHUNK ? (size_t)pos : LOGS_CHUNK;
        pos -= (off_t)chunk;
        ssize_t n = pread(fd, buf, chunk, pos);
        if (n != (ssize_t)chunk)
            return -1;
        for (size_t i = chunk; i-- > 0;) {
            if (buf[i] == '\n' && ++seen == lines) {
                *start = pos + (off_t)i + 1;
                return 0;
            }
        }
    }
    *start = 0; /* fewer lines than asked for: all of them */
    return 0;
}

/* Lines with their times (output.times, struct sm_log_time), for -t, --since and
 * --until: what was read of the times file, and where the output stands. */
struct line_out {
    const struct sm_logs_options *o;
    const char *times_path;
    struct sm_log_time *rec;
    size_t n, cap;
    bool at_start, show;
};

/* Reads the records from the n-th on; how many came (those in order: a record whose
 * offset goes back, or a torn one, ends them). */
static size_t times_read(int t, struct line_out *lo, size_t have)
{
    ssize_t r = pread(t, lo->rec + lo->n, (have - lo->n) * sizeof(*lo->rec),
                      (off_t)(lo->n * sizeof(*lo->rec)));
    size_t got = r > 0 ? (size_t)r / sizeof(*lo->rec) : 0;
    for (size_t i = lo->n; i < lo->n + got; i++)
        if (i > 0 && lo->rec[i].offset < lo->rec[i - 1].offset)
            return i - lo->n;
    return got;
}

/* Takes the records written since the last call; all again when the file was emptied
 * meanwhile (the log's cap: it is shorter, or its next record goes back to the start). */
static void times_load(struct line_out *lo)
{
    int t = open(lo->times_path, O_RDONLY | O_CLOEXEC);
    if (t < 0)
        return;
    struct stat st;
    if (fstat(t, &st) == 0) {
        size_t have = (size_t)st.st_size / sizeof(struct sm_log_time);
        if (have < lo->n)
            lo->n = 0;
        if (have > lo->cap) {
            lo->cap = have;
            lo->rec = xrealloc(lo->rec, lo->cap * sizeof(*lo->rec));
        }
        size_t got = times_read(t, lo, have);
        if (got == 0 && have > lo->n && lo->n > 0) { /* emptied and written again */
            lo->n = 0;
            got = times_read(t, lo, have);
        }
        lo->n += got;
    }
    close(t);
}

/* When the line starting at offset arrived: the last record at or before it (0: none). */
static int64_t time_at(const struct line_out *lo, uint64_t offset)
{
    size_t lo_i = 0, hi = lo->n;
    while (lo_i < hi) {
        size_t mid = lo_i + (hi - lo_i) / 2;
        if (lo->rec[mid].offset <= offset)
            lo_i = mid + 1;
        else
            hi = mid;
    }
    return lo_i ? lo->rec[lo_i - 1].unix_ns : 0;
}

/* Writes n bytes of the log, read at offset, line by line: each line dated, shown or
 * not by the bounds. */
static int emit_lines(int fd, struct line_out *lo, const char *buf, size_t n, uint64_t offset)
{
    const struct sm_logs_options *o = lo->o;
    for (size_t i = 0; i < n;) {
        if (lo->at_start) {
            int64_t t = time_at(lo, offset + i);
            lo->show = (!o->since_ns || t >= o->since_ns) && (!o->until_ns || t <= o->until_ns);
            if (lo->show && o->timestamps) {
                time_t secs = (time_t)(t / 1000000000);
                struct tm tm;
                char stamp[64];
                gmtime_r(&secs, &tm);
                size_t len = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
                snprintf(stamp + len, sizeof(stamp) - len, ".%09lldZ ",
                         (long long)(t % 1000000000));
                if (sm_write_all(fd, stamp, strlen(stamp)) < 0)
                    return -1;
            }
            lo->at_start = false;
        }
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - buf) + 1 : n;
        if (lo->show && sm_write_all(fd, buf + i, end - i) < 0)
            return -1;
        lo->at_start = nl != NULL;
        i = end;
    }
    return 0;
}

/* Copies from *offset to the end of the file (through lo when it is set); a file now
 * shorter than *offset was emptied by its writer's cap, and is copied from its start. */
static int copy_new(int src, int fd, off_t *offset, char *buf, struct line_out *lo,
                    const char *name, sm_error_t *err)
{
    struct stat st;
    if (fstat(src, &st) < 0)
        return sm_error_set(err, errno, "logs %s", name);
    if (st.st_size < *offset) {
        *offset = 0;
        if (lo)
            lo->at_start = true;
    }
    if (lo)
        times_load(lo);
    for (;;) {
        ssize_t n = pread(src, buf, LOGS_CHUNK, *offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sm_error_set(err, errno, "logs %s: read", name);
        if (n == 0)
            return 0;
        if ((lo ? emit_lines(fd, lo, buf, (size_t)n, (uint64_t)*offset)
                : sm_write_all(fd, buf, (size_t)n)) < 0)
            return sm_error_set(err, errno, "logs %s: write", name);
        *offset += n;
    }
}

int sm_vm_logs_with(const char *name_or_id, int fd, const struct sm_logs_options *o,
                    sm_error_t *err)
{
    struct instance in;
    if (instance_find(name_or_id, &in, err) < 0)
        return sm_error_wrap(err, "logs");
    cleanup_free char *path = instance_path(&in, "output.log");
    cleanup_free char *times_path = instance_path(&in, "output.times");
    cleanup_free char *buf = xmalloc(LOGS_CHUNK);
    struct line_out lines = {.o = o, .times_path = times_path, .at_start = true, .show = true};
    struct line_out *lo = o && (o->timestamps || o->since_ns || o->until_ns) ? &lines : NULL;
    int src = -1, watch = -1, r = -1;
    off_t offset = 0;
    bool follow = o && o->follow;
    if (follow) {
        /* Watched before the file is opened, so that nothing written between the two is
         * missed; the directory, since a detached run creates the file once it starts. */
        watch = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (watch < 0 || inotify_add_watch(watch, in.dir, IN_MODIFY | IN_CREATE) < 0) {
            sm_error_set(err, errno, "logs %s: inotify", name_or_id);
            goto out;
        }
    }
    src = open(path, O_RDONLY | O_CLOEXEC);
    if (src < 0 && errno != ENOENT) {
        sm_error_set(err, errno, "logs %s", name_or_id);
        goto out;
    }
    if (src >= 0 && o && o->tail) {
        struct stat st;
        if (fstat(src, &st) < 0 || tail_offset(src, st.st_size, o->tail_lines, &offset, buf) < 0) {
            sm_error_set(err, errno, "logs %s: read", name_or_id);
            goto out;
        }
    }
    if (src >= 0 && copy_new(src, fd, &offset, buf, lo, name_or_id, err) < 0)
        goto out;
    while (follow) {
        /* The VM's end is looked for before the last read, so output written up to its
         * end is all copied. */
        bool ended = !instance_running(&in);
        if (src < 0)
            src = open(path, O_RDONLY | O_CLOEXEC);
        if (src >= 0 && copy_new(src, fd, &offset, buf, lo, name_or_id, err) < 0)
            goto out;
        if (ended)
            break;
        /* Woken by a write; the VM's end writes nothing here, so look again every 250 ms
         * (cheap: one lock probe). */
        struct pollfd p = {.fd = watch, .events = POLLIN};
        if (poll(&p, 1, 250) > 0) {
            char events[4096];
            while (read(watch, events, sizeof(events)) > 0)
                ;
        }
    }
    r = 0;
out:
    if (src >= 0)
        close(src);
    if (watch >= 0)
        close(watch);
    free(lines.rec);
    instance_release(&in);
    return r;
}

int sm_vm_logs(const char *name_or_id, int fd, sm_error_t *err)
{
    return sm_vm_logs_with(name_or_id, fd, NULL, err);
}
