/* The public calls on a VM's output log (docker logs): the whole of it, its last lines,
 * and following it while the VM runs. The detached run's monitor appends to output.log,
 * which it empties when it passes its cap (sm_capped_log_write): a follower that finds
 * the file shorter than what it read starts again from its beginning. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
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

/* Copies from *offset to the end of the file; a file now shorter than *offset was
 * emptied by its writer's cap, and is copied from its start. */
static int copy_new(int src, int fd, off_t *offset, char *buf, const char *name, sm_error_t *err)
{
    struct stat st;
    if (fstat(src, &st) < 0)
        return sm_error_set(err, errno, "logs %s", name);
    if (st.st_size < *offset)
        *offset = 0;
    for (;;) {
        ssize_t n = pread(src, buf, LOGS_CHUNK, *offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sm_error_set(err, errno, "logs %s: read", name);
        if (n == 0)
            return 0;
        if (sm_write_all(fd, buf, (size_t)n) < 0)
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
    cleanup_free char *buf = xmalloc(LOGS_CHUNK);
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
    if (src >= 0 && copy_new(src, fd, &offset, buf, name_or_id, err) < 0)
        goto out;
    while (follow) {
        /* The VM's end is looked for before the last read, so output written up to its
         * end is all copied. */
        bool ended = !instance_running(&in);
        if (src < 0)
            src = open(path, O_RDONLY | O_CLOEXEC);
        if (src >= 0 && copy_new(src, fd, &offset, buf, name_or_id, err) < 0)
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
    instance_release(&in);
    return r;
}

int sm_vm_logs(const char *name_or_id, int fd, sm_error_t *err)
{
    return sm_vm_logs_with(name_or_id, fd, NULL, err);
}
