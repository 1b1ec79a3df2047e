#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common/digest_cache.h"
#include "common/util.h"

static void test_error_chain(void)
{
    sm_error_t err = NULL;
    CHECK(sm_error_set(&err, 2, "open %s", "/x") == -1);
    CHECK_STR(sm_error_message(err), "open /x: No such file or directory");
    sm_error_wrap(&err, "pull %s", "img");
    CHECK_STR(sm_error_message(err), "pull img: open /x: No such file or directory");
    CHECK(err->exit_status == 125);
    sm_error_release(&err);
    CHECK(err == NULL);
}

static void test_parse_size(void)
{
    uint64_t v = 0;
    CHECK(sm_parse_size("512m", &v) == 0 && v == 512ull << 20);
    CHECK(sm_parse_size("1g", &v) == 0 && v == 1ull << 30);
    CHECK(sm_parse_size("1GB", &v) == 0 && v == 1ull << 30);
    CHECK(sm_parse_size("4096", &v) == 0 && v == 4096);
    CHECK(sm_parse_size("12x", &v) < 0);
    CHECK(sm_parse_size("", &v) < 0);
    CHECK(sm_parse_size("99999999999999999999g", &v) < 0);
}

static void test_files(void)
{
    char dir[] = "/tmp/sm-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    cleanup_free char *sub = xasprintf("%s/a/b/c", dir);
    sm_error_t err = NULL;
    CHECK(sm_mkdir_p(sub, 0755, &err) == 0);
    cleanup_free char *f = xasprintf("%s/file", sub);
    CHECK(sm_write_file_atomic(f, "hello", 5, 0644, &err) == 0);
    char *buf = NULL;
    size_t len = 0;
    CHECK(sm_read_file(f, 100, &buf, &len, &err) == 0 && len == 5 && strcmp(buf, "hello") == 0);
    free(buf);
    CHECK(sm_read_file(f, 3, &buf, &len, &err) < 0);
    CHECK(strstr(sm_error_message(err), "too large") != NULL);
    sm_error_release(&err);
    char hex[65];
    CHECK(sm_sha256_file(f, hex, &err) == 0);
    CHECK_STR(hex, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    unlink(f);
    cleanup_free char *cmd = xasprintf("rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* A capped log: never past its limit, the newest bytes kept, a note where it was cut;
 * pipes and files without O_APPEND are written as they are. */
static void test_capped_log(void)
{
    char path[] = "/tmp/sm-test-log-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    fd = open(path, O_WRONLY | O_APPEND);
    struct sm_capped_log log;
    sm_capped_log_init(&log, fd, 1000);
    char line[101];
    memset(line, 'a', 100);
    line[100] = '\n';
    for (int i = 0; i < 25; i++) {
        line[0] = (char)('A' + i);
        CHECK(sm_capped_log_write(&log, line, sizeof(line)) == 0);
        struct stat st;
        CHECK(fstat(fd, &st) == 0 && st.st_size <= 1000);
    }
    char buf[2048];
    int rfd = open(path, O_RDONLY);
    ssize_t n = read(rfd, buf, sizeof(buf) - 1);
    close(rfd);
    CHECK(n > 0);
    buf[n > 0 ? n : 0] = '\0';
    CHECK(strstr(buf, "earlier output dropped") != NULL);
    CHECK(n >= 101 && buf[n - 101] == 'Y'); /* the last line written is whole, at the end */
    char huge[5000];
    memset(huge, 'z', sizeof(huge));
    huge[sizeof(huge) - 1] = '!';
    CHECK(sm_capped_log_write(&log, huge, sizeof(huge)) == 0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size <= 1000);
    rfd = open(path, O_RDONLY);
    n = read(rfd, buf, sizeof(buf));
    close(rfd);
    CHECK(n > 0 && buf[n - 1] == '!');
    close(fd);
    /* Without O_APPEND there is no safe truncation: no cap. */
    fd = open(path, O_WRONLY | O_TRUNC);
    sm_capped_log_init(&log, fd, 10);
    CHECK(sm_capped_log_write(&log, huge, 100) == 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size == 100);
    close(fd);
    unlink(path);
}

/* Reads a times file whole: how many records, into rec[max]. */
static size_t read_times(const char *path, struct sm_log_time *rec, size_t max)
{
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, rec, max * sizeof(*rec)) : -1;
    if (fd >= 0)
        close(fd);
    return n > 0 ? (size_t)n / sizeof(*rec) : 0;
}

static int64_t now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A capped log's times (docker logs -t): a record where a write starts a line (not where
 * it goes on with one), none for a line under 1 ms after the last record, in order,
 * dated now; emptied with the log at its cap; a stale times file is emptied. */
static void test_capped_log_times(void)
{
    char path[] = "/tmp/sm-test-log-XXXXXX", tpath[] = "/tmp/sm-test-times-XXXXXX";
    int fd = mkstemp(path), tfd = mkstemp(tpath);
    CHECK(fd >= 0 && tfd >= 0);
    CHECK(write(tfd, "junk", 4) == 4); /* not whole records: emptied */
    close(fd);
    close(tfd);
    fd = open(path, O_WRONLY | O_APPEND);
    tfd = open(tpath, O_WRONLY | O_APPEND);
    struct sm_capped_log log;
    sm_capped_log_init(&log, fd, 4096);
    sm_capped_log_times(&log, tfd);
    int64_t t0 = now_unix_ns();
    CHECK(sm_capped_log_write(&log, "a\nb", 3) == 0); /* starts "a" at 0 (and "b") */
    CHECK(sm_capped_log_write(&log, "c\n", 2) == 0);  /* goes on with "bc": no record */
    CHECK(sm_capped_log_write(&log, "d\n", 2) == 0);  /* a line at 5: none if under 1 ms */
    usleep(3000);
    CHECK(sm_capped_log_write(&log, "x", 1) == 0); /* starts "x" at 7 */
    usleep(3000);
    CHECK(sm_capped_log_write(&log, "y\nz\n", 4) == 0); /* first line start at 10 */
    int64_t t1 = now_unix_ns();
    struct sm_log_time rec[64];
    size_t n = read_times(tpath, rec, 64);
    /* "d" has a record of its own only if it came 1 ms or more after "a"'s. */
    size_t d = n == 4 ? 1 : 0;
    CHECK(n == 3 || (n == 4 && rec[1].offset == 5 && rec[1].unix_ns - rec[0].unix_ns >= 1000000));
    CHECK(n >= 3 && rec[0].offset == 0 && rec[1 + d].offset == 7 && rec[2 + d].offset == 10);
    CHECK(n >= 3 && rec[0].unix_ns >= t0 && rec[0].unix_ns < rec[1 + d].unix_ns &&
          rec[1 + d].unix_ns < rec[2 + d].unix_ns && rec[2 + d].unix_ns <= t1);
    /* At the cap both are emptied; the note's line is dated. */
    char big[3000];
    memset(big, 'q', sizeof(big));
    big[sizeof(big) - 1] = '\n';
    usleep(3000);
    CHECK(sm_capped_log_write(&log, big, sizeof(big)) == 0);
    usleep(3000);
    CHECK(sm_capped_log_write(&log, big, sizeof(big)) == 0); /* past 4096: cut */
    n = read_times(tpath, rec, 64);
    CHECK(n == 1 && rec[0].offset == 0 && rec[0].unix_ns > t1);
    close(fd);
    close(tfd);
    /* A log that is not capped keeps no times. */
    fd = open(path, O_WRONLY | O_APPEND);
    tfd = open(tpath, O_WRONLY | O_APPEND | O_TRUNC);
    sm_capped_log_init(&log, fd, 0);
    sm_capped_log_times(&log, tfd);
    CHECK(sm_capped_log_write(&log, "w\n", 2) == 0);
    CHECK(read_times(tpath, rec, 64) == 0);
    close(fd);
    close(tfd);
    unlink(path);
    unlink(tpath);
}

/* A remembered digest: reused while the file is unchanged, recomputed once it is written
 * (even to the same size). */
static void test_digest_cache(void)
{
    char dir[] = "/tmp/sm-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    setenv("SUPERMACHINE_HOME", dir, 1);
    cleanup_free char *f = xasprintf("%s/kernel", dir);
    sm_error_t err = NULL;
    CHECK(sm_write_file_atomic(f, "hello", 5, 0644, &err) == 0);
    char hex[65], again[65];
    CHECK(sm_sha256_file_cached(f, hex, &err) == 0);
    CHECK_STR(hex, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    cleanup_free char *records = xasprintf("%s/cache/digests", dir);
    struct stat st;
    CHECK(stat(records, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(sm_sha256_file_cached(f, again, &err) == 0);
    CHECK_STR(again, hex);
    /* Rewritten in place, same size: mtime and ctime move, the digest is recomputed. */
    usleep(20 * 1000);
    int fd = open(f, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, "HELLO", 5, 0) == 5);
    close(fd);
    CHECK(sm_sha256_file_cached(f, again, &err) == 0);
    CHECK_STR(again, "3733cd977ff8eb18b987357e22ced99f46097f31ecb239e878ae63760e83e4d5");
    /* A missing file is an error naming it. */
    cleanup_free char *missing = xasprintf("%s/nothing", dir);
    CHECK(sm_sha256_file_cached(missing, again, &err) < 0);
    CHECK(err && strstr(sm_error_message(err), "nothing") != NULL);
    sm_error_release(&err);
    unsetenv("SUPERMACHINE_HOME");
    cleanup_free char *cmd = xasprintf("rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* Waiting for a child: woken as it ends (its status returned), a timeout when it does not
 * end in time, and -1 for a process that is not our child. */
static void test_wait_child(void)
{
    pid_t quick = fork();
    if (quick == 0) {
        usleep(50 * 1000);
        _exit(7);
    }
    int status = 0;
    uint64_t t0 = sm_now_ns();
    CHECK(sm_wait_child(quick, 5000, &status) == 1);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
    CHECK(sm_now_ns() - t0 < 2000ull * 1000000);
    pid_t slow = fork();
    if (slow == 0) {
        sleep(30);
        _exit(0);
    }
    t0 = sm_now_ns();
    CHECK(sm_wait_child(slow, 100, &status) == 0);
    CHECK(sm_now_ns() - t0 >= 90ull * 1000000);
    kill(slow, SIGKILL);
    CHECK(sm_wait_child(slow, 5000, &status) == 1 && WIFSIGNALED(status));
    CHECK(sm_wait_child(1, 10, &status) == -1);
}

/* Control-socket answers: one line each, cut at 1 KiB with its newline kept, and a
 * client that went away costs the server nothing (no SIGPIPE, no blocking). */
static void test_send_line(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    sm_send_line(sv[0], "ok %s %d", "port", 8080);
    char buf[4096];
    ssize_t n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
    CHECK(n == 13 && memcmp(buf, "ok port 8080\n", 13) == 0);

    char long_text[3000];
    memset(long_text, 'x', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = 0;
    sm_send_line(sv[0], "error %s", long_text);
    n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
    CHECK(n == 1023 && memcmp(buf, "error xx", 8) == 0 && buf[n - 1] == '\n');
    CHECK(memchr(buf, '\n', (size_t)n - 1) == NULL);

    close(sv[1]);
    sm_send_line(sv[0], "ok"); /* the peer is gone: EPIPE, which must not kill us */
    close(sv[0]);
}

/* In a child (descriptors are per process): every descriptor above 2 is closed but the
 * kept ones, wherever they lie (below, between and above the others; duplicates and
 * negative ones in the list are harmless), and 0-2 stay. */
static void test_close_inherited(void)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        bool std_open[3];
        for (int fd = 0; fd < 3; fd++)
            std_open[fd] = fcntl(fd, F_GETFD) >= 0;
        int fds[12];
        for (int i = 0; i < 12; i++)
            fds[i] = open("/dev/null", O_RDONLY); /* no close-on-exec, as a caller's */
        int keep[] = {fds[0], fds[5], -1, fds[5], fds[11], 1};
        sm_close_inherited_fds(keep, 6);
        int bad = 0;
        for (int i = 0; i < 12; i++) {
            bool kept = i == 0 || i == 5 || i == 11;
            if ((fcntl(fds[i], F_GETFD) >= 0) != kept)
                bad++;
        }
        for (int fd = 0; fd < 3; fd++)
            if ((fcntl(fd, F_GETFD) >= 0) != std_open[fd])
                bad++;
        int none[] = {-1};
        sm_close_inherited_fds(none, 1);
        for (int i = 0; i < 12; i++)
            if (fcntl(fds[i], F_GETFD) >= 0)
                bad++;
        _exit(bad == 0 ? 0 : 1);
    }
    int status = -1;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
    test_error_chain();
    test_parse_size();
    test_files();
    test_capped_log();
    test_capped_log_times();
    test_digest_cache();
    test_wait_child();
    test_send_line();
    test_close_inherited();
    return check_summary("util");
}
