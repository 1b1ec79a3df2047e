/* A minimal tar for directory copies (read-tar, write-tar in docs/protocol.md): sm-init is
 * a small static program without libarchive, and all the host's libarchive needs is POSIX
 * tar. The writer stores regular files, directories and symlinks (ustar headers, pax
 * records for what does not fit); the extractor takes ustar, v7, pax and GNU long names.
 * Neither knows frames or sockets, so the unit tests run them against GNU tar. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest.h"

#define BLOCK     512
#define OUT_CHUNK (64u << 10) /* what emit gets at most: one data frame */
#define EXT_MAX   (64u << 10) /* a pax or GNU long-name header's data, at most */

struct ustar {
    char name[100], mode[8], uid[8], gid[8], size[12], mtime[12], chksum[8], typeflag,
        linkname[100], magic[6], version[2], uname[32], gname[32], devmajor[8], devminor[8],
        prefix[155], pad[12];
};
_Static_assert(sizeof(struct ustar) == BLOCK, "a tar header is one block");

/* Octal, width - 1 digits and a NUL; false when v needs more digits. */
static bool put_octal(char *field, size_t width, uint64_t v)
{
    if (v >> (3 * (width - 1)) != 0)
        return false;
    field[width - 1] = '\0';
    for (size_t i = width - 1; i-- > 0; v >>= 3)
        field[i] = (char)('0' + (v & 7));
    return true;
}

/* The header's checksum: its bytes summed with the checksum field as spaces. */
static void header_sum(const unsigned char *b, uint64_t *sum, int64_t *signed_sum)
{
    uint64_t s = 0;
    int64_t ss = 0;
    for (size_t i = 0; i < BLOCK; i++) {
        unsigned char c = i >= 148 && i < 156 ? ' ' : b[i];
        s += c;
        ss += (signed char)c;
    }
    *sum = s;
    *signed_sum = ss;
}

static void seal_header(struct ustar *h)
{
    memcpy(h->magic, "ustar", 6);
    memcpy(h->version, "00", 2);
    uint64_t sum;
    int64_t unused;
    header_sum((const unsigned char *)h, &sum, &unused);
    snprintf(h->chksum, sizeof(h->chksum), "%06o", (unsigned)sum);
    h->chksum[7] = ' ';
}

/* ---- writer ------------------------------------------------------------------------ */

struct tar_writer {
    int (*emit)(void *arg, const void *buf, size_t len);
    void *arg;
    unsigned char *buf; /* OUT_CHUNK bytes, handed to emit when full */
    size_t len;
    char *why;
    size_t whylen;
    char name[PATH_MAX];          /* the entry's name in the stream */
    char path[PATH_MAX];          /* and where it is, for messages */
    char pax[3 * PATH_MAX + 256]; /* the entry's pax records */
};

static int fail(struct tar_writer *w, int e)
{
    snprintf(w->why, w->whylen, "read-tar %s: %s", w->path, strerror(e));
    return -1;
}

static int flush(struct tar_writer *w)
{
    if (w->len && w->emit(w->arg, w->buf, w->len) < 0) {
        snprintf(w->why, w->whylen, "read-tar %s: the stream could not be sent", w->path);
        return -1;
    }
    w->len = 0;
    return 0;
}

/* Appends n bytes (zeros when p is NULL). */
static int put(struct tar_writer *w, const void *p, size_t n)
{
    while (n) {
        if (w->len == OUT_CHUNK && flush(w) < 0)
            return -1;
        size_t k = n < OUT_CHUNK - w->len ? n : OUT_CHUNK - w->len;
        if (p) {
            memcpy(w->buf + w->len, p, k);
            p = (const char *)p + k;
        } else {
            memset(w->buf + w->len, 0, k);
        }
        w->len += k;
        n -= k;
    }
    return 0;
}

static int put_padding(struct tar_writer *w, uint64_t size)
{
    return put(w, NULL, (BLOCK - size % BLOCK) % BLOCK);
}

static size_t decimal_digits(size_t n)
{
    size_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* "LEN key=value\n", where LEN counts the whole record, its own digits included. */
static void pax_record(char *buf, size_t *len, size_t cap, const char *key, const char *val)
{
    size_t n = strlen(key) + strlen(val) + 3, total = n;
    while (total != n + decimal_digits(total))
        total = n + decimal_digits(total);
    int w = snprintf(buf + *len, cap - *len, "%zu %s=%s\n", total, key, val);
    if (w > 0 && (size_t)w < cap - *len)
        *len += (size_t)w;
}

/* The header of the entry w->name (with a pax header first when needed). */
static int put_header(struct tar_writer *w, char type, const struct stat *st, uint64_t size,
                      const char *link)
{
    struct ustar h;
    memset(&h, 0, sizeof(h));
    size_t plen = 0, cap = sizeof(w->pax);
    char num[32];
    size_t n = strlen(w->name);
    if (n > sizeof(h.name))
        pax_record(w->pax, &plen, cap, "path", w->name);
    memcpy(h.name, w->name, n < sizeof(h.name) ? n : sizeof(h.name));
    if (link) {
        n = strlen(link);
        if (n > sizeof(h.linkname))
            pax_record(w->pax, &plen, cap, "linkpath", link);
        memcpy(h.linkname, link, n < sizeof(h.linkname) ? n : sizeof(h.linkname));
    }
    if (!put_octal(h.size, sizeof(h.size), size)) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)size);
        pax_record(w->pax, &plen, cap, "size", num);
        /* and base-256 in the field, for readers that skip pax records */
        h.size[0] = (char)0x80;
        for (size_t i = sizeof(h.size) - 1; i > 0; i--, size >>= 8)
            h.size[i] = (char)(size & 0xff);
    }
    if (!put_octal(h.uid, sizeof(h.uid), st->st_uid)) {
        snprintf(num, sizeof(num), "%u", (unsigned)st->st_uid);
        pax_record(w->pax, &plen, cap, "uid", num);
        put_octal(h.uid, sizeof(h.uid), 0);
    }
    if (!put_octal(h.gid, sizeof(h.gid), st->st_gid)) {
        snprintf(num, sizeof(num), "%u", (unsigned)st->st_gid);
        pax_record(w->pax, &plen, cap, "gid", num);
        put_octal(h.gid, sizeof(h.gid), 0);
    }
    put_octal(h.mode, sizeof(h.mode), st->st_mode & 07777);
    /* mtimes before 1970 or past 2242 are not worth a record of their own */
    uint64_t mtime = st->st_mtime < 0 ? 0 : (uint64_t)st->st_mtime;
    if (!put_octal(h.mtime, sizeof(h.mtime), mtime))
        put_octal(h.mtime, sizeof(h.mtime), 0);
    h.typeflag = type;
    if (plen) {
        struct ustar x;
        memset(&x, 0, sizeof(x));
        memcpy(x.name, "././@PaxHeader", sizeof("././@PaxHeader"));
        put_octal(x.mode, sizeof(x.mode), 0644);
        put_octal(x.uid, sizeof(x.uid), 0);
        put_octal(x.gid, sizeof(x.gid), 0);
        put_octal(x.size, sizeof(x.size), plen);
        memcpy(x.mtime, h.mtime, sizeof(x.mtime));
        x.typeflag = 'x';
        seal_header(&x);
        if (put(w, &x, sizeof(x)) < 0 || put(w, w->pax, plen) < 0 || put_padding(w, plen) < 0)
            return -1;
    }
    seal_header(&h);
    return put(w, &h, sizeof(h));
}

/* A regular file: exactly the header's size, whatever happens to the file meanwhile. */
static int put_file(struct tar_writer *w, int at, const char *entry)
{
    int fd = openat(at, entry, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return fail(w, e);
    }
    if (!S_ISREG(st.st_mode)) { /* replaced since its lstat: what is there is not a file */
        close(fd);
        return 0;
    }
    uint64_t size = (uint64_t)st.st_size, left = size;
    if (put_header(w, '0', &st, size, NULL) < 0)
        goto fail;
    while (left) {
        if (w->len == OUT_CHUNK && flush(w) < 0)
            goto fail;
        size_t want = OUT_CHUNK - w->len;
        if (want > left)
            want = (size_t)left;
        ssize_t n = read(fd, w->buf + w->len, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return fail(w, e);
        }
        if (n == 0) { /* it shrank: zeros stand for the rest */
            if (put(w, NULL, left) < 0)
                goto fail;
            break;
        }
        w->len += (size_t)n;
        left -= (uint64_t)n;
    }
    close(fd);
    return put_padding(w, size);
fail:
    close(fd);
    return -1;
}

static int put_entry(struct tar_writer *w, int at, const char *entry, bool named);

/* Appends "/" (unless s is empty or ends with one) and part to s, within PATH_MAX. */
static bool append(char *s, const char *part)
{
    size_t n = strlen(s);
    const char *sep = n && s[n - 1] != '/' ? "/" : "";
    return snprintf(s + n, PATH_MAX - n, "%s%s", sep, part) < (int)(PATH_MAX - n);
}

/* A directory's entry (when named), then what it holds, depth first. */
static int put_dir(struct tar_writer *w, int at, const char *entry, const struct stat *st,
                   bool named)
{
    int fd = openat(at, entry, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fail(w, errno);
    size_t name_len = strlen(w->name), path_len = strlen(w->path);
    if (named) {
        if (name_len + 2 > PATH_MAX) {
            close(fd);
            return fail(w, ENAMETOOLONG);
        }
        memcpy(w->name + name_len, "/", 2); /* a directory's name ends with a slash */
        int r = put_header(w, '5', st, 0, NULL);
        w->name[name_len] = '\0';
        if (r < 0) {
            close(fd);
            return -1;
        }
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        close(fd);
        return fail(w, e);
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL)
            break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int r;
        if (!append(w->name, de->d_name) || !append(w->path, de->d_name)) {
            w->path[path_len] = '\0';
            r = fail(w, ENAMETOOLONG);
        } else {
            r = put_entry(w, dirfd(d), de->d_name, true);
        }
        w->name[name_len] = '\0';
        w->path[path_len] = '\0';
        if (r < 0) {
            closedir(d);
            return -1;
        }
    }
    int e = errno;
    closedir(d);
    return e ? fail(w, e) : 0;
}

/* One entry, w->name and w->path naming it; never followed if a symlink. */
static int put_entry(struct tar_writer *w, int at, const char *entry, bool named)
{
    struct stat st;
    if (fstatat(at, entry, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(w, errno);
    if (S_ISDIR(st.st_mode))
        return put_dir(w, at, entry, &st, named);
    if (S_ISREG(st.st_mode))
        return put_file(w, at, entry);
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(at, entry, target, sizeof(target));
        if (n < 0 || (size_t)n == sizeof(target))
            return fail(w, n < 0 ? errno : ENAMETOOLONG);
        target[n] = '\0';
        return put_header(w, '2', &st, 0, target);
    }
    return 0; /* devices, fifos and sockets are not copied */
}

int guest_tar_write(const char *path, const char *name,
                    int (*emit)(void *arg, const void *buf, size_t len), void *arg, char *why,
                    size_t whylen)
{
    struct tar_writer *w = calloc(1, sizeof(*w));
    unsigned char *buf = malloc(OUT_CHUNK);
    if (w == NULL || buf == NULL) {
        free(w);
        free(buf);
        snprintf(why, whylen, "read-tar %s: %s", path, strerror(ENOMEM));
        return -1;
    }
    *w = (struct tar_writer){.emit = emit, .arg = arg, .buf = buf, .why = why, .whylen = whylen};
    int r = -1;
    snprintf(w->path, sizeof(w->path), "%s", path);
    if (strlen(path) >= sizeof(w->path)) {
        fail(w, ENAMETOOLONG);
        goto out;
    }
    /* "/a/b/" would have lstat follow a symlink b */
    for (size_t n = strlen(w->path); n > 1 && w->path[n - 1] == '/'; n--)
        w->path[n - 1] = '\0';
    snprintf(w->name, sizeof(w->name), "%s", name);
    for (size_t n = strlen(w->name); n > 0 && w->name[n - 1] == '/'; n--)
        w->name[n - 1] = '\0';
    struct stat st;
    if (lstat(w->path, &st) < 0) {
        fail(w, errno);
        goto out;
    }
    /* Only a directory can go without an entry of its own: a file keeps its own name. */
    if (w->name[0] == '\0' && !S_ISDIR(st.st_mode)) {
        const char *slash = strrchr(w->path, '/');
        snprintf(w->name, sizeof(w->name), "%s", slash && slash[1] ? slash + 1 : w->path);
    }
    char top[PATH_MAX];
    memcpy(top, w->path, sizeof(top));
    r = put_entry(w, AT_FDCWD, top, w->name[0] != '\0');
    if (r == 0)
        r = put(w, NULL, 2 * BLOCK); /* the end of the archive */
    if (r == 0)
        r = flush(w);
out:
    free(buf);
    free(w);
    return r;
}

/* ---- extractor --------------------------------------------------------------------- */

enum { UT_HEADER, UT_DATA, UT_END };
enum { SINK_SKIP, SINK_FILE, SINK_EXT };

static int untar_error(struct guest_untar *u, const char *name, const char *what)
{
    if (name)
        snprintf(u->why, u->whylen, "write-tar: entry %s: %s", name, what);
    else
        snprintf(u->why, u->whylen, "write-tar: %s", what);
    return -1;
}

int guest_untar_init(struct guest_untar *u, const char *dir, uid_t uid, gid_t gid, char *why,
                     size_t whylen)
{
    memset(u, 0, sizeof(*u));
    u->file_fd = -1;
    u->file_dir = -1;
    u->uid = uid;
    u->gid = gid;
    u->dir = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (u->dir < 0) {
        snprintf(why, whylen, "write-tar %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static void clear_pending(struct guest_untar *u)
{
    free(u->pax_path);
    free(u->pax_link);
    free(u->long_name);
    free(u->long_link);
    u->pax_path = u->pax_link = u->long_name = u->long_link = NULL;
    u->pax_size_set = false;
}

void guest_untar_free(struct guest_untar *u)
{
    if (u->file_fd >= 0) { /* a half-written file leaves nothing behind */
        close(u->file_fd);
        unlinkat(u->file_dir, u->file_tmp, 0);
        u->file_fd = -1;
    }
    if (u->file_dir >= 0 && u->file_dir != u->dir)
        close(u->file_dir);
    u->file_dir = -1;
    if (u->dir >= 0)
        close(u->dir);
    u->dir = -1;
    clear_pending(u);
    free(u->ext);
    free(u->name);
    u->ext = u->name = NULL;
}

/* A field's number: octal (space or NUL padded), or GNU base-256 for big ones. */
static bool get_number(const char *f, size_t width, uint64_t *out)
{
    uint64_t v = 0;
    if ((unsigned char)f[0] & 0x80) {
        if ((unsigned char)f[0] != 0x80) /* negative, or beyond 64 bits */
            return false;
        for (size_t i = 1; i < width; i++) {
            if (v >> 55)
                return false;
            v = v << 8 | (unsigned char)f[i];
        }
        *out = v;
        return true;
    }
    size_t i = 0;
    while (i < width && f[i] == ' ')
        i++;
    for (; i < width && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 59)
            return false;
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    for (; i < width; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return false;
    *out = v;
    return true;
}

/* The entry's name relative to the destination: leading "/", empty and "." components
 * dropped ("" for the destination itself); -1 when a component is "..". */
static int clean_name(const char *raw, char **out)
{
    size_t len = 0;
    char *o = malloc(strlen(raw) + 1);
    if (o == NULL)
        return -1;
    for (const char *p = raw; *p;) {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            free(o);
            return -1;
        }
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (len)
                o[len++] = '/';
            memcpy(o + len, p, n);
            len += n;
        }
        p = end;
    }
    o[len] = '\0';
    *out = o;
    return 0;
}

/* The directory that holds name (a clean name), created with its parents if missing;
 * *base is name's last component. u->dir itself or a descriptor to close; -1: errno. */
static int open_parent(struct guest_untar *u, char *name, const char **base)
{
    char *slash = strrchr(name, '/');
    if (slash == NULL) {
        *base = name;
        return u->dir;
    }
    *base = slash + 1;
    *slash = '\0';
    int fd = openat(u->dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        /* each ancestor in turn, outermost first, made if missing */
        int e = 0;
        for (char *p = name;;) {
            p = strchr(p, '/');
            if (p)
                *p = '\0';
            if (mkdirat(u->dir, name, 0755) == 0) {
                if (fchownat(u->dir, name, u->uid, u->gid, 0) < 0)
                    e = errno;
            } else if (errno != EEXIST) {
                e = errno;
            }
            if (p)
                *p++ = '/';
            if (e || p == NULL)
                break;
        }
        fd = e ? -1 : openat(u->dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (e)
            errno = e;
    }
    *slash = '/';
    return fd;
}

static void close_parent(struct guest_untar *u, int fd)
{
    if (fd >= 0 && fd != u->dir)
        close(fd);
}

static void make_tmp_name(struct guest_untar *u)
{
    snprintf(u->file_tmp, sizeof(u->file_tmp), ".sm-tar-%d-%u", (int)getpid(), u->seq++);
}

static int entry_errno(struct guest_untar *u, int e)
{
    return untar_error(u, u->name, strerror(e));
}

/* A regular file goes to a temporary name beside its place until it is complete. */
static int begin_file(struct guest_untar *u)
{
    const char *base;
    int dir = open_parent(u, u->name, &base);
    if (dir < 0)
        return entry_errno(u, errno);
    make_tmp_name(u);
    u->file_fd = openat(dir, u->file_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (u->file_fd < 0) {
        int e = errno;
        close_parent(u, dir);
        return entry_errno(u, e);
    }
    u->file_dir = dir;
    u->file_base = base;
    return 0;
}

static int end_file(struct guest_untar *u)
{
    struct timespec ts[2] = {{.tv_nsec = UTIME_NOW}, {.tv_sec = (time_t)u->mtime}};
    int e = 0;
    if (fchown(u->file_fd, u->uid, u->gid) < 0 || fchmod(u->file_fd, u->mode & 07777) < 0 ||
        futimens(u->file_fd, ts) < 0)
        e = errno;
    if (close(u->file_fd) < 0 && e == 0)
        e = errno;
    u->file_fd = -1;
    if (e == 0 && renameat(u->file_dir, u->file_tmp, u->file_dir, u->file_base) < 0)
        e = errno;
    if (e)
        unlinkat(u->file_dir, u->file_tmp, 0);
    close_parent(u, u->file_dir);
    u->file_dir = -1;
    return e ? entry_errno(u, e) : 0;
}

static int make_dir(struct guest_untar *u)
{
    const char *base;
    int dir = open_parent(u, u->name, &base);
    if (dir < 0)
        return entry_errno(u, errno);
    int e = 0;
    if (mkdirat(dir, base, 0755) < 0) {
        struct stat st;
        if (errno != EEXIST)
            e = errno;
        /* a directory (or a symlink to one) is kept, anything else replaced */
        else if ((fstatat(dir, base, &st, 0) < 0 || !S_ISDIR(st.st_mode)) &&
                 (unlinkat(dir, base, 0) < 0 || mkdirat(dir, base, 0755) < 0))
            e = errno;
    }
    if (e == 0 &&
        (fchownat(dir, base, u->uid, u->gid, 0) < 0 || fchmodat(dir, base, u->mode & 07777, 0) < 0))
        e = errno;
    close_parent(u, dir);
    return e ? entry_errno(u, e) : 0;
}

/* A symlink or a hardlink, made at a temporary name and renamed over what was there (a
 * directory stays: the rename fails). */
static int make_link(struct guest_untar *u, const char *target, bool hard)
{
    const char *base;
    int dir = open_parent(u, u->name, &base);
    if (dir < 0)
        return entry_errno(u, errno);
    make_tmp_name(u);
    int e = 0;
    if (hard ? linkat(u->dir, target, dir, u->file_tmp, 0) < 0
             : symlinkat(target, dir, u->file_tmp) < 0) {
        e = errno;
    } else {
        if (!hard) {
            struct timespec ts[2] = {{.tv_nsec = UTIME_NOW}, {.tv_sec = (time_t)u->mtime}};
            if (fchownat(dir, u->file_tmp, u->uid, u->gid, AT_SYMLINK_NOFOLLOW) < 0)
                e = errno;
            utimensat(dir, u->file_tmp, ts, AT_SYMLINK_NOFOLLOW); /* not every fs can */
        }
        if (e == 0 && renameat(dir, u->file_tmp, dir, base) < 0)
            e = errno;
        /* renaming a hardlink over the same file does nothing: the name is left over */
        unlinkat(dir, u->file_tmp, 0);
    }
    close_parent(u, dir);
    return e ? entry_errno(u, e) : 0;
}

/* Pax extended records "LEN key=value\n": path, linkpath and size are used. */
static int parse_pax(struct guest_untar *u, char *p, size_t len)
{
    while (len) {
        size_t i = 0, n = 0;
        while (i < len && p[i] >= '0' && p[i] <= '9' && n <= len)
            n = n * 10 + (size_t)(p[i++] - '0');
        if (i == 0 || i >= len || p[i] != ' ' || n > len || n < i + 3 || p[n - 1] != '\n')
            return untar_error(u, NULL, "a malformed pax extended header");
        char *key = p + i + 1, *end = p + n - 1;
        char *eq = memchr(key, '=', (size_t)(end - key));
        if (eq == NULL)
            return untar_error(u, NULL, "a malformed pax extended header");
        *eq = '\0';
        *end = '\0';
        const char *val = eq + 1;
        if (strcmp(key, "path") == 0 || strcmp(key, "linkpath") == 0) {
            char **slot = key[0] == 'p' ? &u->pax_path : &u->pax_link;
            free(*slot);
            *slot = val[0] ? strdup(val) : NULL; /* empty: the header's own */
        } else if (strcmp(key, "size") == 0) {
            uint64_t v = 0;
            for (const char *c = val; *c; c++) {
                if (*c < '0' || *c > '9' || v >> 59)
                    return untar_error(u, NULL, "a malformed size in a pax extended header");
                v = v * 10 + (uint64_t)(*c - '0');
            }
            if (val[0] == '\0' || v > INT64_MAX)
                return untar_error(u, NULL, "a malformed size in a pax extended header");
            u->pax_size = v;
            u->pax_size_set = true;
        }
        p += n;
        len -= n;
    }
    return 0;
}

/* An extended header's data is complete. */
static int end_ext(struct guest_untar *u)
{
    u->ext[u->ext_len] = '\0';
    if (u->ext_type == 'x')
        return parse_pax(u, u->ext, u->ext_len);
    char **slot = u->ext_type == 'L' ? &u->long_name : &u->long_link;
    free(*slot);
    *slot = strdup(u->ext); /* up to its NUL */
    return 0;
}

static bool all_zero(const unsigned char *b)
{
    for (size_t i = 0; i < BLOCK; i++)
        if (b[i])
            return false;
    return true;
}

/* What follows the header: size bytes of data to the sink, then padding. */
static void expect_data(struct guest_untar *u, int sink, uint64_t size)
{
    u->sink = sink;
    u->data_left = size;
    u->pad_left = (BLOCK - size % BLOCK) % BLOCK;
    u->state = UT_DATA;
}

static int header(struct guest_untar *u)
{
    const struct ustar *h = (const struct ustar *)u->block;
    if (all_zero(u->block)) {
        if (++u->zero_blocks == 2)
            u->state = UT_END;
        return 0;
    }
    u->zero_blocks = 0;
    uint64_t sum, want;
    int64_t signed_sum;
    header_sum(u->block, &sum, &signed_sum);
    if (!get_number(h->chksum, sizeof(h->chksum), &want) ||
        (want != sum && (int64_t)want != signed_sum))
        return untar_error(u, NULL, "a header's checksum is wrong (not a tar stream?)");
    uint64_t size, mode, mtime;
    if (!get_number(h->size, sizeof(h->size), &size) || size > INT64_MAX)
        return untar_error(u, NULL, "a header with a malformed size field");
    char type = h->typeflag;
    if (type == 'x' || type == 'L' || type == 'K') {
        if (size > EXT_MAX)
            return untar_error(u, NULL, "an extended header larger than 64 KiB");
        free(u->ext);
        u->ext = malloc(size + 1);
        if (u->ext == NULL)
            return untar_error(u, NULL, strerror(ENOMEM));
        u->ext_len = 0;
        u->ext_type = type;
        expect_data(u, SINK_EXT, size);
        return 0;
    }
    if (type == 'g') { /* global pax records: nothing this extractor uses */
        expect_data(u, SINK_SKIP, size);
        return 0;
    }

    /* An entry: its name, in order of precedence pax, GNU, ustar prefix/name. */
    char raw[sizeof(h->prefix) + 1 + sizeof(h->name) + 1];
    const char *rawname = u->pax_path ? u->pax_path : u->long_name;
    if (rawname == NULL) {
        size_t plen = strnlen(h->prefix, sizeof(h->prefix));
        bool posix = memcmp(h->magic, "ustar", 6) == 0; /* GNU's has other fields there */
        snprintf(raw, sizeof(raw), "%.*s%s%.*s", posix ? (int)plen : 0, h->prefix,
                 posix && plen ? "/" : "", (int)strnlen(h->name, sizeof(h->name)), h->name);
        rawname = raw;
    }
    char linkraw[sizeof(h->linkname) + 1];
    snprintf(linkraw, sizeof(linkraw), "%.*s", (int)strnlen(h->linkname, sizeof(h->linkname)),
             h->linkname);
    const char *link = u->pax_link ? u->pax_link : u->long_link ? u->long_link : linkraw;
    if (u->pax_size_set)
        size = u->pax_size;
    free(u->name);
    u->name = NULL;
    int r = 0;
    if (clean_name(rawname, &u->name) < 0) {
        r = untar_error(u, rawname, "a '..' in its path");
        goto out;
    }
    if (!get_number(h->mode, sizeof(h->mode), &mode) ||
        !get_number(h->mtime, sizeof(h->mtime), &mtime) || mtime > INT64_MAX) {
        r = untar_error(u, rawname, "a malformed mode or mtime field");
        goto out;
    }
    u->mode = (mode_t)(mode & 07777);
    u->mtime = (int64_t)mtime;
    /* v7 marked directories with a slash only */
    size_t rlen = strlen(rawname);
    if ((type == '0' || type == '\0') && rlen && rawname[rlen - 1] == '/')
        type = '5';
    /* These carry no data, whatever their size field says. */
    if (type == '1' || type == '2' || type == '3' || type == '4' || type == '6')
        size = 0;
    int sink = SINK_SKIP;
    if (u->name[0] == '\0') {
        /* the destination itself, as "." or "/": left as it is */
    } else if (type == '0' || type == '\0' || type == '7') {
        r = begin_file(u);
        sink = SINK_FILE;
    } else if (type == '5') {
        r = make_dir(u);
    } else if (type == '2') {
        r = make_link(u, link, false);
    } else if (type == '1') {
        char *target;
        if (clean_name(link, &target) < 0) {
            r = untar_error(u, rawname, "a '..' in its link target");
        } else {
            r = make_link(u, target, true);
            free(target);
        }
    }
    if (r == 0) {
        expect_data(u, sink, size);
        if (size == 0 && sink == SINK_FILE)
            r = end_file(u);
    }
out:
    clear_pending(u);
    return r;
}

static int data(struct guest_untar *u, const unsigned char *p, size_t n)
{
    if (u->sink == SINK_EXT) {
        memcpy(u->ext + u->ext_len, p, n);
        u->ext_len += n;
    } else if (u->sink == SINK_FILE) {
        while (n) {
            ssize_t w = write(u->file_fd, p, n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return entry_errno(u, w < 0 ? errno : ENOSPC);
            p += w;
            n -= (size_t)w;
        }
    }
    return 0;
}

int guest_untar_feed(struct guest_untar *u, const void *buf, size_t len, char *why, size_t whylen)
{
    const unsigned char *p = buf;
    u->why = why;
    u->whylen = whylen;
    while (len && u->state != UT_END) {
        size_t n;
        if (u->state == UT_HEADER) {
            n = BLOCK - u->block_len < len ? BLOCK - u->block_len : len;
            memcpy(u->block + u->block_len, p, n);
            u->block_len += n;
            if (u->block_len == BLOCK) {
                u->block_len = 0;
                if (header(u) < 0)
                    return -1;
            }
        } else if (u->data_left) {
            n = u->data_left < len ? (size_t)u->data_left : len;
            if (data(u, p, n) < 0)
                return -1;
            u->data_left -= n;
            if (u->data_left == 0 && u->sink == SINK_FILE && end_file(u) < 0)
                return -1;
            if (u->data_left == 0 && u->sink == SINK_EXT && end_ext(u) < 0)
                return -1;
        } else {
            n = u->pad_left < len ? (size_t)u->pad_left : len;
            u->pad_left -= n;
        }
        if (u->state == UT_DATA && u->data_left == 0 && u->pad_left == 0)
            u->state = UT_HEADER;
        p += n;
        len -= n;
    }
    return 0; /* anything after the end of the archive is ignored */
}

int guest_untar_finish(struct guest_untar *u, char *why, size_t whylen)
{
    bool whole = u->state != UT_DATA && u->block_len == 0 && !u->pax_path && !u->pax_link &&
                 !u->long_name && !u->long_link && !u->pax_size_set;
    guest_untar_free(u);
    if (!whole) {
        snprintf(why, whylen, "write-tar: the stream ended inside an entry (truncated)");
        return -1;
    }
    return 0;
}
