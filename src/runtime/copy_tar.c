/* Tar streams of local trees for `cp` (copy_tar.h), with libarchive: written from the
 * disk going into a VM, extracted with every check libarchive has (and our own on names)
 * coming out of one, since the guest wrote those bytes. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/copy_tar.h"

#define COPY_BUF (256 * 1024)

static int archive_failed(struct archive *a, const char *what, const char *name, sm_error_t *err)
{
    const char *msg = archive_error_string(a);
    return sm_error_set(err, archive_errno(a) > 0 ? archive_errno(a) : 0, "%s %s%s%s", what, name,
                        msg ? ": " : "", msg ? msg : "");
}

static bool copyable(mode_t type)
{
    return type == AE_IFREG || type == AE_IFDIR || type == AE_IFLNK;
}

int copy_tar_create(const char *path, const char *top, int fd, sm_error_t *err)
{
    struct archive *disk = archive_read_disk_new();
    struct archive *out = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    cleanup_free char *buf = xmalloc(COPY_BUF);
    cleanup_free char *name = NULL;
    int r = -1;
    /* Links as links; no extended attributes, ACLs or file flags: a guest's root gets
     * what docker cp gives a container, names, modes, times and contents. */
    archive_read_disk_set_symlink_physical(disk);
    archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
                                             ARCHIVE_READDISK_NO_FFLAGS);
    archive_write_set_format_pax_restricted(out);
    if (archive_write_open_fd(out, fd) != ARCHIVE_OK) {
        archive_failed(out, "write a tar of", path, err);
        goto out;
    }
    if (archive_read_disk_open(disk, path) != ARCHIVE_OK) {
        archive_failed(disk, "read", path, err);
        goto out;
    }
    size_t path_len = strlen(path);
    for (;;) {
        archive_entry_clear(e);
        int got = archive_read_next_header2(disk, e);
        if (got == ARCHIVE_EOF)
            break;
        if (got < ARCHIVE_WARN) {
            archive_failed(disk, "read", path, err);
            goto out;
        }
        const char *found = archive_entry_pathname(e);
        if (found == NULL || strncmp(found, path, path_len) != 0) {
            sm_error_set(err, 0, "read %s: an entry outside it", path);
            goto out;
        }
        const char *rel = found + path_len;
        while (*rel == '/')
            rel++;
        archive_read_disk_descend(disk); /* a directory's entries come next */
        if (!copyable(archive_entry_filetype(e)) || (*top == '\0' && *rel == '\0'))
            continue;
        free(name);
        name = *top == '\0' ? xstrdup(rel) : *rel ? xasprintf("%s/%s", top, rel) : xstrdup(top);
        archive_entry_set_pathname(e, name);
        archive_entry_set_uname(e, NULL); /* numeric ids only: no name lookups */
        archive_entry_set_gname(e, NULL);
        if (archive_write_header(out, e) < ARCHIVE_WARN) {
            archive_failed(out, "write", name, err);
            goto out;
        }
        if (archive_entry_filetype(e) != AE_IFREG)
            continue;
        for (;;) {
            la_ssize_t n = archive_read_data(disk, buf, COPY_BUF);
            if (n < 0) {
                archive_failed(disk, "read", found, err);
                goto out;
            }
            if (n == 0)
                break;
            if (archive_write_data(out, buf, (size_t)n) != n) {
                archive_failed(out, "write", name, err);
                goto out;
            }
        }
    }
    if (archive_write_close(out) != ARCHIVE_OK) {
        archive_failed(out, "write a tar of", path, err);
        goto out;
    }
    r = 0;
out:
    archive_entry_free(e);
    archive_write_free(out);
    archive_read_free(disk);
    return r;
}

/* The entry's name in the stream is checked here before libarchive sees it: relative,
 * no ".." component, under `top`. Returns the part after top ("" for top itself, else
 * starting with '/'), or NULL. */
static const char *entry_rest(const char *name, const char *top)
{
    if (name == NULL || name[0] == '/' || name[0] == '\0')
        return NULL;
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    for (const char *c = name; *c;) {
        size_t len = strcspn(c, "/");
        if (len == 2 && c[0] == '.' && c[1] == '.')
            return NULL;
        c += len;
        while (*c == '/')
            c++;
    }
    size_t top_len = strlen(top);
    if (top_len == 0)
        return NULL; /* every stream we ask for has a top */
    if (strncmp(name, top, top_len) != 0 || (name[top_len] != '\0' && name[top_len] != '/'))
        return NULL;
    return name + top_len;
}

int copy_tar_extract(int fd, const char *dir, const char *top, const char *as, sm_error_t *err)
{
    char real[PATH_MAX];
    if (realpath(dir, real) == NULL) {
        int e = errno;
        sm_drain(fd);
        return sm_error_set(err, e, "%s", dir);
    }
    struct archive *in = archive_read_new();
    struct archive *disk = archive_write_disk_new();
    struct archive_entry *e;
    cleanup_free char *target = NULL;
    int r = -1;
    archive_read_support_format_tar(in);
    /* Secure: no writing through a symlink (one the stream made a moment before
     * included), no "..", no absolute names; times and modes kept, owners not. */
    archive_write_disk_set_options(disk, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                             ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                             ARCHIVE_EXTRACT_SECURE_NODOTDOT);
    if (archive_read_open_fd(in, fd, 65536) != ARCHIVE_OK) {
        archive_failed(in, "read the tar of", top, err);
        goto out;
    }
    for (;;) {
        int got = archive_read_next_header(in, &e);
        if (got == ARCHIVE_EOF)
            break;
        if (got < ARCHIVE_WARN) {
            archive_failed(in, "read the tar of", top, err);
            goto out;
        }
        const char *name = archive_entry_pathname(e);
        const char *rest = entry_rest(name, top);
        if (rest == NULL) {
            sm_error_set(err, 0, "the tar's entry '%.200s': not under %s", name ? name : "", top);
            goto out;
        }
        if (!copyable(archive_entry_filetype(e)) || archive_entry_hardlink(e)) {
            sm_error_set(err, 0, "the tar's entry '%.200s': not a file, directory or symlink",
                         name);
            goto out;
        }
        free(target);
        target = xasprintf("%s/%s%s", real, as, rest);
        archive_entry_set_pathname(e, target);
        archive_entry_set_perm(e, archive_entry_perm(e) & 0777);
        if (archive_write_header(disk, e) < ARCHIVE_WARN) {
            archive_failed(disk, "write", target, err);
            goto out;
        }
        const void *block;
        size_t size;
        la_int64_t offset;
        int d;
        while ((d = archive_read_data_block(in, &block, &size, &offset)) == ARCHIVE_OK) {
            if (archive_write_data_block(disk, block, size, offset) < ARCHIVE_WARN) {
                archive_failed(disk, "write", target, err);
                goto out;
            }
        }
        if (d != ARCHIVE_EOF) {
            archive_failed(in, "read the tar of", top, err);
            goto out;
        }
        if (archive_write_finish_entry(disk) < ARCHIVE_WARN) {
            archive_failed(disk, "write", target, err);
            goto out;
        }
    }
    if (archive_write_close(disk) != ARCHIVE_OK) {
        archive_failed(disk, "write", real, err);
        goto out;
    }
    r = 0;
out:
    archive_read_free(in);
    archive_write_free(disk);
    sm_drain(fd); /* the writer of fd is never left blocked */
    return r;
}
