/* The guest's tar (guest/tar.c) against the real GNU tar: trees it writes are extracted by
 * tar the same, trees tar writes (pax and GNU formats) are extracted by it the same when
 * fed in pieces of odd sizes, and hostile streams are refused with nothing written
 * outside the destination. */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../guest/guest.h"
#include "check.h"

static char tmp[] = "/tmp/sm-test-guest-tar-XXXXXX";
#define BIG_SIZE (3u * 1024 * 1024 + 123)

__attribute__((format(printf, 1, 2))) static int sh(const char *f, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, f);
    vsnprintf(cmd, sizeof(cmd), f, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128; /* diff and tar say what differs */
}

/* snprintf, where truncation is the test's own concern (paths under a short tmp). */
__attribute__((format(printf, 3, 4))) static char *fmt(char *buf, size_t size, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, size, f, ap);
    va_end(ap);
    return buf;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, data, len) == (ssize_t)len);
    CHECK(fchmod(fd, mode) == 0);
    close(fd);
}

static unsigned char *random_bytes(size_t n)
{
    unsigned char *b = malloc(n);
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (unsigned char)x;
    }
    return b;
}

/* The tree: nested directories, names past ustar's 100 and 255 bytes, symlinks (one
 * with a long target, dangling), an empty file and directory, 3 MB of random bytes,
 * modes 0750 and 0700/0600, a hardlink, and a fifo that must be left out. */
static void make_tree(const char *top)
{
    char p[1024], q[1024];
    CHECK(sh("mkdir -p %s/a/b/c %s/emptydir %s/private", top, top, top) == 0);
    fmt(p, sizeof(p), "%s/a/b/c/deep.txt", top);
    write_file(p, "deep\n", 5, 0644);
    char name[145];
    memset(name, 'n', 140);
    memcpy(name + 140, ".txt", 5); /* "top/a/" + 144 bytes: 150 */
    fmt(p, sizeof(p), "%s/a/%s", top, name);
    write_file(p, "long name\n", 10, 0644);
    /* a directory chain well past what ustar's prefix and name fields hold */
    char seg[71];
    memset(seg, 'd', 70);
    seg[70] = '\0';
    fmt(p, sizeof(p), "%s/%s/%s/%s/%s", top, seg, seg, seg, seg);
    CHECK(sh("mkdir -p %s", p) == 0);
    fmt(q, sizeof(q), "%s/bottom", p);
    write_file(q, "bottom\n", 7, 0640);
    fmt(p, sizeof(p), "%s/link", top);
    CHECK(symlink("a/b/c/deep.txt", p) == 0);
    char target[121];
    memset(target, 't', 120);
    target[120] = '\0';
    fmt(p, sizeof(p), "%s/a/longlink", top);
    CHECK(symlink(target, p) == 0);
    fmt(p, sizeof(p), "%s/empty", top);
    write_file(p, "", 0, 0644);
    unsigned char *big = random_bytes(BIG_SIZE);
    fmt(p, sizeof(p), "%s/big.bin", top);
    write_file(p, big, BIG_SIZE, 0644);
    free(big);
    fmt(p, sizeof(p), "%s/exec.sh", top);
    write_file(p, "#!/bin/sh\n", 10, 0750);
    fmt(p, sizeof(p), "%s/private/secret", top);
    write_file(p, "s\n", 2, 0600);
    CHECK(sh("chmod 0700 %s/private", top) == 0);
    fmt(p, sizeof(p), "%s/a/b/c/deep.txt", top);
    fmt(q, sizeof(q), "%s/hard", top);
    CHECK(link(p, q) == 0);
    fmt(p, sizeof(p), "%s/fifo", top);
    CHECK(mkfifo(p, 0644) == 0);
    /* whole seconds: tar's mtime has no fraction */
    CHECK(sh("find %s -exec touch -h -d @1700000000 {} +", top) == 0);
}

/* Sorted: path, mode, type, and a file's mtime. */
static int list_tree(const char *dir, const char *skip, const char *out)
{
    return sh("cd %s && find . ! -name fifo ! -name %s \\( -type f -printf '%%p %%m f %%T@\\n' "
              "-o -printf '%%p %%m %%y\\n' \\) | LC_ALL=C sort >%s",
              dir, skip, out);
}

/* Same contents, symlink targets, types and modes, and files' mtimes (the fifo and
 * anything named `skip` left out of the comparison). */
static bool same_tree(const char *a, const char *b, const char *skip)
{
    char la[300], lb[300];
    fmt(la, sizeof(la), "%s/list-a", tmp);
    fmt(lb, sizeof(lb), "%s/list-b", tmp);
    return sh("diff -r --no-dereference -x fifo -x %s %s %s", skip, a, b) == 0 &&
           list_tree(a, skip, la) == 0 && list_tree(b, skip, lb) == 0 &&
           sh("diff %s %s", la, lb) == 0;
}

/* The writer's output, to a file; it may change the file it reads on the way. */
struct sink {
    int fd;
    size_t max_chunk;
    uint64_t total;
    const char *mutate; /* a file to shrink or grow at the first chunk */
    off_t mutate_to;
};

static int to_file(void *arg, const void *buf, size_t len)
{
    struct sink *s = arg;
    if (len > s->max_chunk)
        s->max_chunk = len;
    s->total += len;
    if (s->mutate) {
        CHECK(truncate(s->mutate, s->mutate_to) == 0);
        s->mutate = NULL;
    }
    return write(s->fd, buf, len) == (ssize_t)len ? 0 : -1;
}

static int write_tar(const char *path, const char *name, const char *out, struct sink *s, char *why,
                     size_t whylen)
{
    struct sink local = {0};
    if (s == NULL)
        s = &local;
    s->fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(s->fd >= 0);
    int r = guest_tar_write(path, name, to_file, s, why, whylen);
    close(s->fd);
    CHECK(s->max_chunk <= 65536);
    if (r == 0) {
        /* whole blocks, the last two zero */
        struct stat st;
        CHECK(stat(out, &st) == 0 && (uint64_t)st.st_size == s->total);
        CHECK(s->total % 512 == 0 && s->total >= 1024);
        unsigned char end[1024], zero[1024] = {0};
        int fd = open(out, O_RDONLY);
        CHECK(pread(fd, end, sizeof(end), (off_t)s->total - 1024) == 1024);
        CHECK(memcmp(end, zero, sizeof(end)) == 0);
        close(fd);
    }
    return r;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    CHECK(fd >= 0 && fstat(fd, &st) == 0);
    unsigned char *b = malloc((size_t)st.st_size + 1);
    *len = (size_t)st.st_size;
    CHECK(read(fd, b, *len) == (ssize_t)*len);
    close(fd);
    return b;
}

enum { UNTAR_OK, UNTAR_FEED, UNTAR_FINISH };

/* Feeds buf to the extractor in pieces whose sizes cycle through sizes[]. */
static int untar_mem(const unsigned char *buf, size_t len, const char *dest, const size_t *sizes,
                     size_t nsizes, uid_t uid, gid_t gid, char *why, size_t whylen)
{
    struct guest_untar u;
    why[0] = '\0';
    if (guest_untar_init(&u, dest, uid, gid, why, whylen) < 0)
        return UNTAR_FEED;
    for (size_t off = 0, i = 0; off < len; i++) {
        size_t n = sizes[i % nsizes] < len - off ? sizes[i % nsizes] : len - off;
        if (guest_untar_feed(&u, buf + off, n, why, whylen) < 0) {
            guest_untar_free(&u);
            return UNTAR_FEED;
        }
        off += n;
    }
    return guest_untar_finish(&u, why, whylen) < 0 ? UNTAR_FINISH : UNTAR_OK;
}

static int untar_file(const char *tarpath, const char *dest, const size_t *sizes, size_t nsizes)
{
    size_t len;
    unsigned char *b = slurp(tarpath, &len);
    char why[256];
    int r = untar_mem(b, len, dest, sizes, nsizes, getuid(), getgid(), why, sizeof(why));
    if (r != UNTAR_OK)
        fprintf(stderr, "untar %s: %s\n", tarpath, why);
    free(b);
    return r;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? st.st_mode : 0;
}

static const size_t odd[] = {1, 7, 513, 4096};
static const size_t one[] = {1};

/* (a) guest writer -> GNU tar. */
static void writer_to_gnu_tar(const char *src)
{
    char why[512], p[512], q[512];
    fmt(p, sizeof(p), "%s/named.tar", tmp);
    CHECK(write_tar(src, "top", p, NULL, why, sizeof(why)) == 0);
    CHECK(sh("mkdir %s/outA && tar -xpf %s -C %s/outA 2>%s/tar-err", tmp, p, tmp, tmp) == 0);
    CHECK(sh("test ! -s %s/tar-err", tmp) == 0); /* not a warning */
    fmt(q, sizeof(q), "%s/outA/top", tmp);
    CHECK(same_tree(src, q, "fifo"));
    fmt(q, sizeof(q), "%s/outA/top/fifo", tmp);
    CHECK(access(q, F_OK) != 0);
    fmt(q, sizeof(q), "%s/outA/top/exec.sh", tmp);
    CHECK((mode_of(q) & 07777) == 0750);
    fmt(q, sizeof(q), "%s/outA/top/private", tmp);
    CHECK((mode_of(q) & 07777) == 0700);
    /* hardlinks are separate files here */
    CHECK(sh("tar -tvf %s | grep -q ' link to '", p) != 0);
    CHECK(sh("tar -tf %s | grep -qv '^top/'", p) != 0);

    /* name "": the directory's contents, named relative to it */
    fmt(p, sizeof(p), "%s/contents.tar", tmp);
    CHECK(write_tar(src, "", p, NULL, why, sizeof(why)) == 0);
    CHECK(sh("tar -tf %s | grep -q '^top'", p) != 0);
    CHECK(sh("tar -tf %s | grep -qx 'a/'", p) == 0);
    CHECK(sh("mkdir %s/outB && tar -xpf %s -C %s/outB", tmp, p, tmp) == 0);
    fmt(q, sizeof(q), "%s/outB", tmp);
    CHECK(same_tree(src, q, "fifo"));

    /* a file at the top, renamed; a symlink at the top, stored as one; a file with "" */
    fmt(p, sizeof(p), "%s/exec.sh", src);
    fmt(q, sizeof(q), "%s/file.tar", tmp);
    CHECK(write_tar(p, "renamed.sh", q, NULL, why, sizeof(why)) == 0);
    CHECK(sh("mkdir %s/outC && tar -xpf %s -C %s/outC && cmp %s %s/outC/renamed.sh", tmp, q, tmp, p,
             tmp) == 0);
    fmt(q, sizeof(q), "%s/outC/renamed.sh", tmp);
    CHECK((mode_of(q) & 07777) == 0750);
    fmt(p, sizeof(p), "%s/link", src);
    fmt(q, sizeof(q), "%s/link.tar", tmp);
    CHECK(write_tar(p, "l", q, NULL, why, sizeof(why)) == 0);
    CHECK(sh("tar -xpf %s -C %s/outC && test \"$(readlink %s/outC/l)\" = a/b/c/deep.txt", q, tmp,
             tmp) == 0);
    fmt(p, sizeof(p), "%s/empty", src);
    CHECK(write_tar(p, "", q, NULL, why, sizeof(why)) == 0);
    CHECK(sh("test \"$(tar -tf %s)\" = empty", q) == 0);

    /* a file that shrinks or grows while read: exactly the header's size either way */
    fmt(p, sizeof(p), "%s/changing.bin", tmp);
    unsigned char *data = random_bytes(1 << 20);
    write_file(p, data, 1 << 20, 0644);
    struct sink s = {.mutate = p, .mutate_to = 100000};
    fmt(q, sizeof(q), "%s/shrink.tar", tmp);
    CHECK(write_tar(p, "c", q, &s, why, sizeof(why)) == 0);
    CHECK(sh("mkdir %s/outD && tar -xf %s -C %s/outD", tmp, q, tmp) == 0);
    fmt(q, sizeof(q), "%s/outD/c", tmp);
    size_t len;
    unsigned char *got = slurp(q, &len);
    CHECK(len == 1 << 20 && memcmp(got, data, 65536 - 1024) == 0 && got[len - 1] == 0);
    free(got);
    write_file(p, data, 1 << 20, 0644);
    s = (struct sink){.mutate = p, .mutate_to = 3 << 20};
    fmt(q, sizeof(q), "%s/grow.tar", tmp);
    CHECK(write_tar(p, "c", q, &s, why, sizeof(why)) == 0);
    CHECK(sh("tar -xf %s -C %s/outD", q, tmp) == 0);
    fmt(q, sizeof(q), "%s/outD/c", tmp);
    got = slurp(q, &len);
    CHECK(len == 1 << 20 && memcmp(got, data, len) == 0);
    free(got);
    free(data);

    /* what is missing is an error naming it */
    fmt(p, sizeof(p), "%s/nope", tmp);
    CHECK(write_tar(p, "x", "/dev/null", NULL, why, sizeof(why)) < 0);
    char want[600];
    fmt(want, sizeof(want), "read-tar %s: No such file or directory", p);
    CHECK_STR(why, want);
}

/* (b) GNU tar -> guest extractor, fed in odd pieces. */
static void gnu_tar_to_extractor(const char *src)
{
    char p[512], q[512], d[512];
    fmt(d, sizeof(d), "%s/outP", tmp);
    CHECK(mkdir(d, 0755) == 0);
    fmt(p, sizeof(p), "%s/pax.tar", tmp);
    CHECK(sh("tar --format=pax -cf %s -C %s/src top 2>/dev/null", p, tmp) == 0);
    CHECK(untar_file(p, d, odd, 4) == UNTAR_OK);
    fmt(q, sizeof(q), "%s/top", d);
    CHECK(same_tree(src, q, "fifo"));
    /* GNU tar stores the second name as a hardlink: one is made */
    struct stat a, b;
    fmt(p, sizeof(p), "%s/top/hard", d);
    fmt(q, sizeof(q), "%s/top/a/b/c/deep.txt", d);
    CHECK(stat(p, &a) == 0 && stat(q, &b) == 0 && a.st_ino == b.st_ino);
    /* again over what is there: files and links replaced, directories kept */
    fmt(p, sizeof(p), "%s/pax.tar", tmp);
    CHECK(untar_file(p, d, odd + 2, 2) == UNTAR_OK);
    fmt(q, sizeof(q), "%s/top", d);
    CHECK(same_tree(src, q, "fifo"));
    CHECK(sh("find %s -name '.sm-tar-*' | grep -q .", d) != 0); /* no temporaries left */

    /* GNU format: 'L' and 'K' long names; one byte at a time for all but the big file */
    fmt(d, sizeof(d), "%s/outG", tmp);
    CHECK(mkdir(d, 0755) == 0);
    fmt(p, sizeof(p), "%s/gnu.tar", tmp);
    CHECK(sh("tar --format=gnu --exclude=big.bin -cf %s -C %s/src top 2>/dev/null", p, tmp) == 0);
    CHECK(untar_file(p, d, one, 1) == UNTAR_OK);
    fmt(q, sizeof(q), "%s/top", d);
    CHECK(same_tree(src, q, "big.bin"));
    fmt(d, sizeof(d), "%s/outG2", tmp);
    CHECK(mkdir(d, 0755) == 0);
    CHECK(sh("tar --format=gnu -cf %s -C %s/src top 2>/dev/null", p, tmp) == 0);
    CHECK(untar_file(p, d, odd + 1, 3) == UNTAR_OK);
    fmt(q, sizeof(q), "%s/top", d);
    CHECK(same_tree(src, q, "fifo"));

    /* the guest's own writer, read back by its extractor, with junk past the end */
    fmt(p, sizeof(p), "%s/named.tar", tmp);
    CHECK(sh("head -c 777 /dev/urandom >>%s", p) == 0);
    fmt(d, sizeof(d), "%s/outR", tmp);
    CHECK(mkdir(d, 0755) == 0);
    CHECK(untar_file(p, d, odd, 4) == UNTAR_OK);
    fmt(q, sizeof(q), "%s/top", d);
    CHECK(same_tree(src, q, "fifo"));

    /* files belong to the request's uid:gid, whatever the archive says */
    if (geteuid() == 0) {
        size_t len;
        fmt(p, sizeof(p), "%s/pax.tar", tmp);
        unsigned char *buf = slurp(p, &len);
        char why[256];
        fmt(d, sizeof(d), "%s/outU", tmp);
        CHECK(mkdir(d, 0755) == 0);
        CHECK(untar_mem(buf, len, d, odd, 4, 1234, 5678, why, sizeof(why)) == UNTAR_OK);
        free(buf);
        fmt(q, sizeof(q), "%s/top/a/b/c/deep.txt", d);
        CHECK(lstat(q, &a) == 0 && a.st_uid == 1234 && a.st_gid == 5678);
        fmt(q, sizeof(q), "%s/top/link", d);
        CHECK(lstat(q, &a) == 0 && a.st_uid == 1234 && a.st_gid == 5678);
        fmt(q, sizeof(q), "%s/top/private", d);
        CHECK(lstat(q, &a) == 0 && a.st_uid == 1234 && (a.st_mode & 07777) == 0700);
    }
}

/* A ustar header, made here independently of tar.c. */
static void header(unsigned char *b, const char *name, char type, uint64_t size, const char *link)
{
    memset(b, 0, 512);
    fmt((char *)b, 100, "%s", name);
    fmt((char *)b + 100, 8, "%07o", 0644);
    fmt((char *)b + 108, 8, "%07o", 0);
    fmt((char *)b + 116, 8, "%07o", 0);
    fmt((char *)b + 124, 12, "%011llo", (unsigned long long)size);
    fmt((char *)b + 136, 12, "%011o", 1700000000);
    b[156] = (unsigned char)type;
    if (link)
        fmt((char *)b + 157, 100, "%s", link);
    memcpy(b + 257, "ustar", 6);
    memcpy(b + 263, "00", 2);
    memset(b + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += b[i];
    fmt((char *)b + 148, 8, "%06o", sum);
}

/* A stream: header (+ data padded) ... then the end, in buf; its length. */
static size_t entry(unsigned char *buf, size_t off, const char *name, char type, const char *data,
                    const char *link)
{
    size_t n = data ? strlen(data) : 0;
    header(buf + off, name, type, n, link);
    off += 512;
    if (n) {
        memset(buf + off, 0, (n + 511) / 512 * 512);
        memcpy(buf + off, data, n);
        off += (n + 511) / 512 * 512;
    }
    return off;
}

static size_t end(unsigned char *buf, size_t off)
{
    memset(buf + off, 0, 1024);
    return off + 1024;
}

static bool exists(const char *dir, const char *name)
{
    char p[512];
    fmt(p, sizeof(p), "%s/%s", dir, name);
    struct stat st;
    return lstat(p, &st) == 0;
}

/* (c) hostile or broken streams. */
static void hostile(void)
{
    static unsigned char buf[1 << 18];
    char why[512], d[512];
    size_t n;
    const size_t whole[] = {sizeof(buf)};
    fmt(d, sizeof(d), "%s/dest/in", tmp);
    CHECK(sh("mkdir -p %s", d) == 0);

    /* ".." anywhere in a name, pax path, GNU long name or hardlink target */
    n = end(buf, entry(buf, 0, "../x", '0', "evil", NULL));
    CHECK(untar_mem(buf, n, d, whole, 1, 0, 0, why, sizeof(why)) == UNTAR_FEED);
    CHECK_STR(why, "write-tar: entry ../x: a '..' in its path");
    n = end(buf, entry(buf, 0, "ok/../../y", '5', NULL, NULL));
    CHECK(untar_mem(buf, n, d, odd, 4, 0, 0, why, sizeof(why)) == UNTAR_FEED);
    CHECK(strstr(why, "'..'") != NULL);
    n = entry(buf, 0, "PaxHeader", 'x', "16 path=../paxy\n", NULL);
    n = end(buf, entry(buf, n, "harmless", '0', "evil", NULL));
    CHECK(untar_mem(buf, n, d, odd, 4, 0, 0, why, sizeof(why)) == UNTAR_FEED);
    CHECK_STR(why, "write-tar: entry ../paxy: a '..' in its path");
    n = entry(buf, 0, "././@LongLink", 'L', "a/../../gnuy", NULL);
    n = end(buf, entry(buf, n, "harmless", '0', "evil", NULL));
    CHECK(untar_mem(buf, n, d, one, 1, 0, 0, why, sizeof(why)) == UNTAR_FEED);
    CHECK(strstr(why, "'..'") != NULL);
    n = end(buf, entry(buf, 0, "h", '1', NULL, "../../etc/passwd"));
    CHECK(untar_mem(buf, n, d, whole, 1, 0, 0, why, sizeof(why)) == UNTAR_FEED);
    CHECK_STR(why, "write-tar: entry h: a '..' in its link target");
    CHECK(!exists(tmp, "dest/x") && !exists(tmp, "y") && !exists(tmp, "dest/y") &&
          !exists(tmp, "dest/paxy") && !exists(tmp, "dest/gnuy") && !exists(d, "harmless") &&
          !exists(d, "h") && !exists(d, "ok"));

    /* a wrong checksum; a malformed octal size (with a right checksum) */
    n = end(buf, entry(buf, 0, "f", '0', "data", NULL));
    buf[0] = 'g';
    CHECK(untar_mem(buf, n, d, whole, 1, 0, 0, why, sizeof(why)) == UNTAR_FEED);
    CHECK(strstr(why, "checksum") != NULL);
    header(buf, "f", '0', 0, NULL);
    memcpy(buf + 124, "0000000x012", 11);
    memset(buf + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += buf[i];
    fmt((char *)buf + 148, 8, "%06o", sum);
    n = end(buf, 512);
    CHECK(untar_mem(buf, n, d, whole, 1, 0, 0, why, sizeof(why)) == UNTAR_FEED);
    CHECK(strstr(why, "size") != NULL);
    CHECK(!exists(d, "f") && !exists(d, "g"));
    /* random bytes are not a tar */
    unsigned char *junk = random_bytes(4096);
    CHECK(untar_mem(junk, 4096, d, odd, 4, 0, 0, why, sizeof(why)) == UNTAR_FEED);
    free(junk);

    /* an extended header past 64 KiB; a malformed pax record */
    header(buf, "PaxHeader", 'x', 1 << 17, NULL);
    CHECK(untar_mem(buf, 512, d, whole, 1, 0, 0, why, sizeof(why)) == UNTAR_FEED);
    CHECK(strstr(why, "64 KiB") != NULL);
    n = entry(buf, 0, "PaxHeader", 'x', "99 path=x\n", NULL);
    n = end(buf, entry(buf, n, "harmless", '0', "data", NULL));
    CHECK(untar_mem(buf, n, d, whole, 1, 0, 0, why, sizeof(why)) == UNTAR_FEED);
    CHECK(strstr(why, "pax") != NULL && !exists(d, "harmless"));

    /* truncated in data, in a header, after a pax header: finish says so, nothing stays */
    header(buf, "trunc", '0', 1000, NULL);
    memset(buf + 512, 'z', 600);
    CHECK(untar_mem(buf, 1112, d, odd, 4, 0, 0, why, sizeof(why)) == UNTAR_FINISH);
    CHECK(strstr(why, "truncated") != NULL);
    CHECK(!exists(d, "trunc") && sh("ls -A %s | grep -q .", d) != 0);
    n = entry(buf, 0, "whole", '0', "data", NULL);
    CHECK(untar_mem(buf, n + 300, d, odd, 4, 0, 0, why, sizeof(why)) == UNTAR_FINISH);
    n = entry(buf, 0, "PaxHeader", 'x', "12 path=abc\n", NULL);
    CHECK(untar_mem(buf, n, d, whole, 1, 0, 0, why, sizeof(why)) == UNTAR_FINISH);
    /* an empty stream, and one without the end blocks, are whole */
    CHECK(untar_mem(buf, 0, d, whole, 1, 0, 0, why, sizeof(why)) == UNTAR_OK);
    n = entry(buf, 0, "noend", '0', "data", NULL);
    CHECK(untar_mem(buf, n, d, whole, 1, 0, 0, why, sizeof(why)) == UNTAR_OK);
    CHECK(exists(d, "noend"));

    /* absolute and "./" names land inside, parents made; "." itself is left alone */
    n = entry(buf, 0, "./", '5', NULL, NULL);
    n = entry(buf, n, "/abs/deeper/file", '0', "abs", NULL);
    n = entry(buf, n, "./dot/./file", '0', "dot", NULL);
    n = entry(buf, n, "sym", '2', NULL, "/etc/passwd");
    n = entry(buf, n, "hl", '1', NULL, "/abs/deeper/file");
    n = entry(buf, n, "fifo", '6', NULL, NULL);
    n = end(buf, n);
    mode_t before = mode_of(d);
    CHECK(untar_mem(buf, n, d, odd, 4, 0, 0, why, sizeof(why)) == UNTAR_OK);
    CHECK(exists(d, "abs/deeper/file") && exists(d, "dot/file") && !exists(d, "fifo"));
    CHECK(sh("test \"$(cat %s/hl)\" = abs && test \"$(readlink %s/sym)\" = /etc/passwd", d, d) ==
          0);
    CHECK(mode_of(d) == before);
    char p[600];
    fmt(p, sizeof(p), "%s/abs/deeper", d);
    CHECK((mode_of(p) & 07777) == 0755);
    /* a directory in the way of a file is an error, not replaced */
    n = end(buf, entry(buf, 0, "abs", '0', "file", NULL));
    CHECK(untar_mem(buf, n, d, whole, 1, 0, 0, why, sizeof(why)) == UNTAR_FEED);
    CHECK(S_ISDIR(mode_of(p)));

    /* the destination must be a directory */
    fmt(p, sizeof(p), "%s/noend", d);
    CHECK(untar_mem(buf, 0, p, whole, 1, 0, 0, why, sizeof(why)) == UNTAR_FEED);
    char want[700];
    fmt(want, sizeof(want), "write-tar %s: Not a directory", p);
    CHECK_STR(why, want);
}

int main(void)
{
    umask(022);
    if (mkdtemp(tmp) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    if (sh("tar --version | grep -q 'GNU tar'") != 0) {
        fprintf(stderr, "GNU tar is needed\n");
        return 77; /* meson: skipped */
    }
    char src[256];
    fmt(src, sizeof(src), "%s/src/top", tmp);
    CHECK(sh("mkdir -p %s", src) == 0);
    make_tree(src);
    writer_to_gnu_tar(src);
    gnu_tar_to_extractor(src);
    hostile();
    sh("rm -rf %s", tmp);
    return check_summary("guest_tar");
}
