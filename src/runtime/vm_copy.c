/* `cp` with docker cp's rules (docs/run.md): files, symlinks and whole directories
 * between this host and a running VM, as tar streams the guest's agent extracts and
 * writes (copy_tar.h for this side's tar). One thread makes or takes the tar while the
 * calling thread moves it through the agent connection, over a pipe.
 *
 * Coming out of a VM, the tree is extracted into a fresh directory beside the
 * destination and moved into place once whole: a failed copy leaves nothing, and the
 * guest's bytes are checked by copy_tar_extract before any of them lands on disk. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_client.h"
#include "common/util.h"
#include "runtime/copy_tar.h"
#include "runtime/instance.h"
#include "runtime/run.h"

#define STAT_TIMEOUT_MS 30000
#define TOP             "t" /* the top entry's name in streams from the guest */

/* "DIR/." (a directory's contents, docker's syntax) and trailing slashes taken off:
 * the clean path, whether it named the contents, whether it ended with a slash. */
struct cp_path {
    char *path;
    bool contents;
    bool slash;
};

static void cp_path_parse(const char *given, struct cp_path *p)
{
    size_t len = strlen(given);
    if (len == 0) {
        given = ".";
        len = 1;
    }
    p->slash = len > 0 && given[len - 1] == '/';
    p->contents = (len >= 2 && strcmp(given + len - 2, "/.") == 0) || strcmp(given, ".") == 0;
    p->path = xstrdup(given);
    if (p->contents)
        p->path[len - 1] = '\0'; /* "a/." -> "a/", "." -> "" */
    len = strlen(p->path);
    while (len > 1 && p->path[len - 1] == '/')
        p->path[--len] = '\0';
    if (len == 0) { /* "." alone: this directory */
        free(p->path);
        p->path = xstrdup(".");
    }
}

/* A path in the VM as docker takes it: relative to the root. */
static char *guest_abs(const char *path)
{
    return path[0] == '/' ? xstrdup(path) : xasprintf("/%s", path);
}

/* The last component and what is before it ("/a/b" -> "/a", "b"; "b" -> ".", "b"). */
static char *path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xasprintf("%.*s", (int)(slash - path), path);
}

static const char *path_base(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

struct tar_job {
    const char *path, *top, *as;
    int fd;
    bool extract;
    int result;
    sm_error_t err;
};

static void *tar_job_run(void *arg)
{
    struct tar_job *j = arg;
    if (j->extract)
        j->result = copy_tar_extract(j->fd, j->path, j->top, j->as, &j->err);
    else
        j->result = copy_tar_create(j->path, j->top, j->fd, &j->err);
    close(j->fd); /* the other end sees the stream's end */
    return NULL;
}

/* Runs the job on one end of a pipe in a thread, and talk() on the other end here. Which
 * error is the cause: a tar that could not be made breaks the agent's transfer too, so
 * the maker's error goes first; a transfer that broke (no VM, the guest's refusal) cuts
 * the extractor's stream short, so the transfer's goes first. */
static int with_tar_job(struct tar_job *j, int (*talk)(void *arg, int fd, sm_error_t *err),
                        void *arg, sm_error_t *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return sm_error_set(err, errno, "pipe");
    j->fd = j->extract ? p[0] : p[1];
    int mine = j->extract ? p[1] : p[0];
    pthread_t t;
    int e = pthread_create(&t, NULL, tar_job_run, j);
    if (e != 0) {
        close(p[0]);
        close(p[1]);
        return sm_error_set(err, e, "pthread_create");
    }
    int r = talk(arg, mine, err);
    if (!j->extract) {
        sm_drain(mine); /* the maker may still be writing: it ends, never blocked */
    }
    close(mine); /* an extractor reads to the end of the stream */
    pthread_join(t, NULL);
    if (j->result < 0 && (r == 0 || !j->extract)) {
        sm_error_release(err);
        *err = j->err;
        return -1;
    }
    sm_error_release(&j->err);
    return j->result < 0 ? -1 : r;
}

struct write_tar_arg {
    struct agent_conn *c;
    const char *dir;
};

static int talk_write_tar(void *arg, int fd, sm_error_t *err)
{
    struct write_tar_arg *a = arg;
    return agent_write_tar(a->c, a->dir, 0, 0, fd, err);
}

/* A tar from in_fd (or made by the job) into the guest's directory. */
static int tar_into_guest(const char *vm, const char *guest_dir, struct tar_job *job, int in_fd,
                          sm_error_t *err)
{
    struct instance in;
    struct agent_conn c;
    if (run_open_running(vm, "copy", &in, &c, err) < 0)
        return -1;
    struct write_tar_arg a = {&c, guest_dir};
    int r = job ? with_tar_job(job, talk_write_tar, &a, err)
                : agent_write_tar(&c, guest_dir, 0, 0, in_fd, err);
    agent_close(&c);
    instance_release(&in);
    return r;
}

static int guest_stat(const char *vm, const char *path, enum agent_path_type *type, sm_error_t *err)
{
    struct instance in;
    struct agent_conn c;
    if (run_open_running(vm, "copy", &in, &c, err) < 0)
        return -1;
    int r = agent_stat(&c, path, type, STAT_TIMEOUT_MS, err);
    agent_close(&c);
    instance_release(&in);
    return r;
}

int sm_vm_tar_in(const char *name_or_id, int in_fd, const char *guest_dir, sm_error_t *err)
{
    cleanup_free char *dir = guest_abs(guest_dir);
    if (tar_into_guest(name_or_id, dir, NULL, in_fd, err) < 0)
        return sm_error_wrap(err, "copy to %s:%s", name_or_id, guest_dir);
    return 0;
}

/* Where docker cp puts SRC in the guest: the directory to extract into, and the name the
 * source's top entry takes there ("" for a directory's contents). */
static int plan_copy_in(const char *vm, const struct cp_path *src, bool src_dir,
                        const struct cp_path *dst, char **dir, char **top, sm_error_t *err)
{
    enum agent_path_type type;
    if (guest_stat(vm, dst->path, &type, err) < 0)
        return -1;
    if (type == AGENT_PATH_OTHER)
        return sm_error_set(err, 0, "%s: not a file or directory", dst->path);
    if (type == AGENT_PATH_DIR) {
        *dir = xstrdup(dst->path);
        *top = xstrdup(src_dir && src->contents ? "" : path_base(src->path));
        return 0;
    }
    if (type == AGENT_PATH_FILE && src_dir)
        return sm_error_set(err, ENOTDIR, "cannot copy a directory onto the file %s", dst->path);
    if (type == AGENT_PATH_NONE && dst->slash && !src_dir)
        return sm_error_set(err, ENOENT, "%s: no such directory", dst->path);
    if (strcmp(dst->path, "/") == 0)
        return sm_error_set(err, EINVAL, "/: not a directory");
    *dir = path_dir(dst->path);
    *top = xstrdup(path_base(dst->path));
    return 0;
}

int sm_vm_cp_in(const char *name_or_id, const char *local_path, const char *guest_path,
                sm_error_t *err)
{
    struct cp_path src, dst;
    cleanup_free char *guest = guest_abs(guest_path);
    cp_path_parse(local_path, &src);
    cp_path_parse(guest, &dst);
    cleanup_free char *dir = NULL, *top = NULL;
    struct stat st;
    int r = -1;
    if (lstat(src.path, &st) < 0) {
        sm_error_set(err, errno, "%s", local_path);
    } else if (src.contents && !S_ISDIR(st.st_mode)) {
        sm_error_set(err, ENOTDIR, "%s", local_path);
    } else if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
        sm_error_set(err, 0, "%s: not a file, directory or symlink", local_path);
    } else if (plan_copy_in(name_or_id, &src, S_ISDIR(st.st_mode), &dst, &dir, &top, err) == 0) {
        struct tar_job job = {.path = src.path, .top = top, .extract = false};
        r = tar_into_guest(name_or_id, dir, &job, -1, err);
    }
    free(src.path);
    free(dst.path);
    return r < 0 ? sm_error_wrap(err, "copy %s to %s:%s", local_path, name_or_id, guest_path) : 0;
}

struct read_tar_arg {
    const char *vm, *path, *top;
};

static int talk_read_tar(void *arg, int fd, sm_error_t *err)
{
    struct read_tar_arg *a = arg;
    struct instance in;
    struct agent_conn c;
    if (run_open_running(a->vm, "copy", &in, &c, err) < 0)
        return -1;
    int r = agent_read_tar(&c, a->path, a->top, fd, err);
    agent_close(&c);
    instance_release(&in);
    return r;
}

/* The guest's root holds /proc and /sys: a copy of all of it would never end. */
static int check_copy_out_path(const char *vm, const char *guest_path, sm_error_t *err)
{
    if (guest_path[strspn(guest_path, "/.")] == '\0')
        return sm_error_set(err, 0, "copy from %s:%s: not the whole root (copy its directories)",
                            vm, guest_path);
    return 0;
}

int sm_vm_tar_out(const char *name_or_id, const char *guest_path, int out_fd, sm_error_t *err)
{
    if (check_copy_out_path(name_or_id, guest_path, err) < 0)
        return -1;
    struct cp_path src;
    cleanup_free char *guest = guest_abs(guest_path);
    cp_path_parse(guest, &src);
    struct read_tar_arg a = {name_or_id, src.path, src.contents ? "" : path_base(src.path)};
    int r = talk_read_tar(&a, out_fd, err);
    free(src.path);
    return r < 0 ? sm_error_wrap(err, "copy from %s:%s", name_or_id, guest_path) : 0;
}

/* Moves the tree src into the existing directory dst, entry by entry: what dst lacks is
 * renamed in, directories present on both sides are merged, other entries replaced (a
 * directory never by a non-directory nor the reverse, as docker cp refuses). Nothing is
 * followed: src came from the guest and may hold any symlink. */
static int merge_into(const char *src, const char *dst, sm_error_t *err)
{
    DIR *d = opendir(src);
    if (d == NULL)
        return sm_error_set(err, errno, "%s", src);
    int r = 0;
    struct dirent *e;
    while (r == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        cleanup_free char *from = xasprintf("%s/%s", src, e->d_name);
        cleanup_free char *to = xasprintf("%s/%s", dst, e->d_name);
        struct stat fs, ts;
        if (lstat(from, &fs) < 0) {
            r = sm_error_set(err, errno, "%s", from);
        } else if (lstat(to, &ts) < 0) {
            if (rename(from, to) < 0)
                r = sm_error_set(err, errno, "%s", to);
        } else if (S_ISDIR(fs.st_mode) && S_ISDIR(ts.st_mode)) {
            r = merge_into(from, to, err);
        } else if (S_ISDIR(fs.st_mode) != S_ISDIR(ts.st_mode)) {
            r = sm_error_set(err, 0, "cannot overwrite %s %s with a %s",
                             S_ISDIR(ts.st_mode) ? "directory" : "non-directory", to,
                             S_ISDIR(fs.st_mode) ? "directory" : "non-directory");
        } else if (rename(from, to) < 0) {
            r = sm_error_set(err, errno, "%s", to);
        }
    }
    closedir(d);
    return r;
}

/* The copy, extracted whole as `got` (a file, symlink or directory), put where docker cp
 * puts it. */
static int place(const char *got, const struct cp_path *src, const struct cp_path *dst,
                 sm_error_t *err)
{
    struct stat gs, ds;
    if (lstat(got, &gs) < 0)
        return sm_error_set(err, errno, "%s", got);
    bool src_dir = S_ISDIR(gs.st_mode);
    bool dst_exists = stat(dst->path, &ds) == 0;
    bool dst_dir = dst_exists && S_ISDIR(ds.st_mode);
    if (src->contents && !src_dir)
        return sm_error_set(err, ENOTDIR, "%s", src->path);
    cleanup_free char *target = NULL;
    if (dst_dir)
        target = src_dir && src->contents ? xstrdup(dst->path)
                                          : xasprintf("%s/%s", dst->path, path_base(src->path));
    else if (dst_exists && src_dir)
        return sm_error_set(err, ENOTDIR, "cannot copy a directory onto the file %s", dst->path);
    else if (!dst_exists && dst->slash && !src_dir)
        return sm_error_set(err, ENOENT, "%s: no such directory", dst->path);
    else
        target = xstrdup(dst->path);
    struct stat ts;
    if (lstat(target, &ts) < 0)
        return rename(got, target) < 0 ? sm_error_set(err, errno, "%s", target) : 0;
    if (src_dir && S_ISDIR(ts.st_mode))
        return merge_into(got, target, err);
    if (S_ISDIR(ts.st_mode) || src_dir)
        return sm_error_set(err, 0, "cannot overwrite %s %s with a %s",
                            S_ISDIR(ts.st_mode) ? "directory" : "non-directory", target,
                            src_dir ? "directory" : "non-directory");
    return rename(got, target) < 0 ? sm_error_set(err, errno, "%s", target) : 0;
}

int sm_vm_cp_out(const char *name_or_id, const char *guest_path, const char *local_path,
                 sm_error_t *err)
{
    if (check_copy_out_path(name_or_id, guest_path, err) < 0)
        return -1;
    struct cp_path src, dst;
    cleanup_free char *guest = guest_abs(guest_path);
    cp_path_parse(guest, &src);
    cp_path_parse(local_path, &dst);
    /* The scratch directory sits where the copy goes, so that moving it in is a rename. */
    struct stat st;
    bool dst_dir = stat(dst.path, &st) == 0 && S_ISDIR(st.st_mode);
    cleanup_free char *parent = dst_dir ? xstrdup(dst.path) : path_dir(dst.path);
    cleanup_free char *scratch = xasprintf("%s/.sm-cp-XXXXXX", parent);
    cleanup_free char *got = NULL;
    int r = -1;
    if (mkdtemp(scratch) == NULL) {
        sm_error_set(err, errno, "%s", parent);
        scratch[0] = '\0';
    } else {
        struct read_tar_arg a = {name_or_id, src.path, TOP};
        struct tar_job job = {.path = scratch, .top = TOP, .as = TOP, .extract = true};
        got = xasprintf("%s/%s", scratch, TOP);
        if (with_tar_job(&job, talk_read_tar, &a, err) == 0)
            r = place(got, &src, &dst, err);
    }
    if (scratch[0]) {
        sm_error_t ignored = NULL;
        sm_remove_tree(scratch, &ignored);
        sm_error_release(&ignored);
    }
    free(src.path);
    free(dst.path);
    return r < 0 ? sm_error_wrap(err, "copy %s:%s to %s", name_or_id, guest_path, local_path) : 0;
}
