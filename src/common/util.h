/* Small helpers shared by every module: memory, files written atomically, hashing. */
#ifndef SM_COMMON_UTIL_H
#define SM_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/error.h"

/* Scope-bound cleanup, as crun does: the variable is released when it goes out of scope. */
void sm_freep(void *p);
void sm_closep(int *fd);
void sm_fclosep(FILE **f);
#define cleanup_free  __attribute__((cleanup(sm_freep)))
#define cleanup_close __attribute__((cleanup(sm_closep)))
#define cleanup_file  __attribute__((cleanup(sm_fclosep)))

#define SM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation that cannot fail: out of memory aborts (the VMM cannot do anything useful). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* A growing buffer of *cap bytes holding len: reallocated (its capacity doubled from
 * first_cap) to have room for want bytes more; returns the buffer. */
void *sm_reserve(void *data, size_t *cap, size_t len, size_t want, size_t first_cap);
/* Zeroed memory for a large structure that stays mostly unused (a VM, a device, the
 * network backend's tables): fresh anonymous pages, each backed only once written.
 * calloc zeroes what it takes from the heap, so every page of it would be private memory
 * in each VMM of a hundred clones. Freed with xfree_pages and the same size. (The ASan
 * build takes them from the heap, for its redzones.) */
void *xcalloc_pages(size_t size);
void xfree_pages(void *p, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Makes a bool that came from a file (a struct read whole) 0 or 1 through its byte: any
 * other byte there makes every later load of it undefined. */
void sm_bool_sanitize(bool *b);

/* Reads a whole file; fails if it is larger than max_size. The buffer gets a trailing NUL
 * (not counted in *len) so text can be used directly. */
int sm_read_file(const char *path, size_t max_size, char **out, size_t *len, sm_error_t *err);

/* Writes data to path through a temporary file in the same directory, fsync and rename,
 * so readers see the old file or the new one, never a half-written one. */
int sm_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         sm_error_t *err);

/* The same without the fsync: readers still see the old file or the new one, but after a
 * crash of the host the file may be empty. For records that do not outlive the host's
 * uptime anyway (a VM's state files, caches): an fsync costs milliseconds on a real disk
 * and a `run` writes several. */
int sm_write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
                          sm_error_t *err);

/* The same with a temporary path chosen by the caller (on the same filesystem). */
int sm_write_file_via(const char *tmp, const char *path, const void *data, size_t len, mode_t mode,
                      sm_error_t *err);

/* rm -rf without a child process (nftw, depth first, never following symlinks). */
int sm_remove_tree(const char *path, sm_error_t *err);

/* mkdir -p. */
int sm_mkdir_p(const char *path, mode_t mode, sm_error_t *err);

/* write(2)/read(2) loops that retry on EINTR and short counts. read_full returns the
 * number of bytes read (less than len only at end of file) or -1 with errno set. */
int sm_write_all(int fd, const void *buf, size_t len);
/* The same on a socket, with MSG_NOSIGNAL: a peer that went away (a VMM that is ending)
 * is -1 with EPIPE, never a SIGPIPE that kills the library's caller. */
int sm_send_all(int fd, const void *buf, size_t len);
/* fd moved to 3 or above (close-on-exec; the original closed), for a caller that closed
 * some of 0-2: a spawn's moves into 0, 1 and 2 must not overwrite a descriptor still to
 * be moved. fd < 0 passes through; -1 (errno set) when it cannot be moved. */
int sm_fd_above_stdio(int fd);

/* Closes every descriptor above 2 but keep[0..n) (negative ones ignored): for a process
 * started by a caller whose descriptors may lack close-on-exec (a program's listening
 * socket), which must not live on as long as a VM. */
void sm_close_inherited_fds(const int *keep, size_t n);

/* Reads fd to its end, keeping nothing: a writer on its other end is never left blocked. */
void sm_drain(int fd);

/* One formatted line (a newline is added) sent to a control-socket client without
 * blocking and without SIGPIPE: an answer longer than 1 KiB is cut there, and a client
 * that is gone or not reading loses it, which is its own business, never the server's. */
void sm_send_line(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Members of a JSON object (json-c) from files and registries: the string value of key
 * (NULL if o is NULL, lacks it, or it is not a string), and its integer value (0 if
 * absent; json-c's conversion otherwise). */
struct json_object;
const char *sm_json_str(struct json_object *o, const char *key);
int64_t sm_json_int(struct json_object *o, const char *key);
/* The strings of a JSON array as a NULL-terminated array (malloc'd, sm_strv_free), other
 * members left out; NULL if arr is NULL or not an array. */
char **sm_json_strv(struct json_object *arr);
/* Members set: key to value (nothing when value is NULL), key to an array of v's strings
 * (empty when v is NULL or empty). */
void sm_json_set_str(struct json_object *o, const char *key, const char *value);
void sm_json_set_strv(struct json_object *o, const char *key, const char *const *v);
/* The other way: a new JSON array of v's strings; NULL when v is NULL or empty. */
struct json_object *sm_json_array(const char *const *v);

/* A log file that never grows past `limit` bytes (0: unbounded): when a write would pass
 * it, the file is emptied, a line says so, and the newest output goes on from there. The
 * descriptor must be a regular file opened with O_APPEND; others are written unbounded. */
struct sm_capped_log {
    int fd;
    uint64_t limit;
    uint64_t written;
    /* The times of its lines (sm_capped_log_times): */
    int times_fd;
    uint64_t times_written;
    int64_t last_time_ns;
    bool line_start; /* the next byte starts a line */
};
void sm_capped_log_init(struct sm_capped_log *l, int fd, uint64_t limit);
/* One record of a log's times file: the lines that start at `offset` or after (up to the
 * next record's offset) arrived at unix_ns (CLOCK_REALTIME). A record is written when a
 * write starts a line, unless the last one is less than 1 ms old; the file is emptied
 * with the log and kept under its limit too. */
struct sm_log_time {
    uint64_t offset;
    int64_t unix_ns;
};
/* Keeps the times of l's lines in fd (a regular file opened with O_APPEND, emptied if it
 * is longer than the log's records can be); only for a capped log. */
void sm_capped_log_times(struct sm_capped_log *l, int fd);
int sm_capped_log_write(struct sm_capped_log *l, const void *buf, size_t len);
ssize_t sm_read_full(int fd, void *buf, size_t len);

/* Lowercase hex sha256 of a buffer or of a file's contents (out: 65 bytes). SHA-256 is
 * nettle's: OpenSSL's libcrypto cost every process that loaded it about 300 ms of start in
 * the emulated host (its size and its initialisation), on the restore path too. */
void sm_sha256_hex(const void *data, size_t len, char out[65]);
/* The same, the 32 bytes themselves. */
void sm_sha256(const void *data, size_t len, uint8_t out[32]);
/* Finishes a streaming nettle hash into lowercase hex. */
struct sha256_ctx;
void sm_sha256_hex_final(struct sha256_ctx *ctx, char out[65]);
int sm_sha256_file(const char *path, char out[65], sm_error_t *err);

/* Exclusive advisory lock on a lock file (created if missing); returns the fd to close. */
int sm_lock_file(const char *path, bool exclusive, sm_error_t *err);

/* Monotonic time in nanoseconds. */
uint64_t sm_now_ns(void);
/* Waits up to timeout_ms for child pid to end and reaps it: 1 (its status in *status), 0
 * if it still runs, -1 if it is not our child. Wakes the moment it ends (a pidfd), where
 * a poll every few milliseconds would add their latency to every run. */
int sm_wait_child(pid_t pid, int timeout_ms, int *status);
/* Raises this process's soft limit on open descriptors to at least `want` (as far as the
 * hard limit allows): a VMM process holds a descriptor per connection of its guest. */
void sm_raise_fd_limit(uint64_t want);

/* sm_parse_size is public (supermachine.h). */

#endif
