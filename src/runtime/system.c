/* docker system df and system prune for the store (docs/store-layout.md): what its
 * images, VM records, snapshots and caches take on disk, and removing what no running VM
 * needs. Snapshots and caches are made again on demand, so removing them costs the next
 * run a boot (and a rootfs build), never a wrong result.
 *
 * What a running VM needs is what its vmm.json names: the snapshot it restored (or is
 * baking), its root filesystem image and its initramfs. A run holds gc.lock shared from
 * its preparation until its VMM has opened them (run_prepare, run_vmm_start); a prune
 * holds it exclusively, so it never removes a file between a run's choice and its use. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "oci/store.h"
#include "runtime/instance.h"

/* Names (base names) of the files and directories the running VMs use. */
struct names {
    char **v;
    size_t n;
};

static void names_add(struct names *s, const char *path)
{
    const char *slash = strrchr(path, '/');
    s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
    s->v[s->n++] = xstrdup(slash ? slash + 1 : path);
}

static void names_free(struct names *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

/* name is used, or is a save in progress or a removal of one that is ("NAME.tmp-PID"). */
static bool names_cover(const struct names *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++) {
        size_t len = strlen(s->v[i]);
        if (strncmp(name, s->v[i], len) == 0 && (name[len] == '\0' || name[len] == '.'))
            return true;
    }
    return false;
}

static bool names_has(const struct names *s, const char *name)
{
    for (size_t i = 0; name && i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return true;
    return false;
}

/* The manifests every record names; and (used not NULL) what the running VMs use, from
 * their vmm.json. */
static void in_use(struct instance *list, size_t n, struct names *used, struct names *manifests)
{
    static const char *const keys[] = {"restore", "snapshot", "workload_snapshot", "disk",
                                       "initrd"};
    for (size_t i = 0; i < n; i++) {
        if (list[i].digest && *list[i].digest)
            names_add(manifests, list[i].digest); /* "sha256:<hex>": no slash to cut at */
        if (used == NULL || !instance_running(&list[i]))
            continue;
        cleanup_free char *path = instance_path(&list[i], "vmm.json");
        json_object *o = json_object_from_file(path);
        for (size_t k = 0; o && k < SM_ARRAY_SIZE(keys); k++)
            if (sm_json_str(o, keys[k]))
                names_add(used, sm_json_str(o, keys[k]));
        json_object_put(o);
    }
}

/* Disk space at path (allocated blocks), everything under it if it is a directory,
 * symlinks not followed. */
static int64_t tree_bytes_at(int dir, const char *name, int depth)
{
    struct stat st;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    int64_t total = (int64_t)st.st_blocks * 512;
    if (!S_ISDIR(st.st_mode) || depth > 32)
        return total;
    int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return total;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            total += tree_bytes_at(dirfd(d), de->d_name, depth + 1);
    closedir(d);
    return total;
}

static int64_t tree_bytes(const char *path)
{
    return tree_bytes_at(AT_FDCWD, path, 0);
}

/* The pid in "NAME.tmp-PID" or "NAME.stale.PID" (a save, or a removal, in progress or
 * left over by a process that died); 0 for another name. */
static long in_progress_pid(const char *name)
{
    const char *p = strstr(name, ".tmp-");
    p = p ? p + 5 : strstr(name, ".stale.") ? strstr(name, ".stale.") + 7 : NULL;
    if (p == NULL)
        return 0;
    char *end;
    long pid = strtol(p, &end, 10);
    return end != p && pid > 0 ? pid : 0;
}

static bool in_progress_name(const char *name)
{
    return in_progress_pid(name) > 0;
}

/* Such a name of a process still alive: someone's work. */
static bool in_progress(const char *name)
{
    long pid = in_progress_pid(name);
    return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

enum area { AREA_SNAPSHOTS, AREA_ROOTFS, AREA_INITRAMFS, AREA_TMP };
static const char *const area_dirs[] = {"snapshots", "rootfs", "initramfs", "tmp"};

/* Walks one directory of the store: counts (and with report, removes) what the running
 * VMs do not use. */
static void sweep(const char *root, enum area a, const struct names *used,
                  struct sm_disk_usage_kind *k, char ***removed, size_t *nremoved,
                  int64_t *reclaimed)
{
    cleanup_free char *dir = xasprintf("%s/%s", root, area_dirs[a]);
    /* The names first: the renames below add names to the directory, which a readdir
     * still going might or might not return. */
    struct names entries = {0};
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            names_add(&entries, de->d_name);
    if (d)
        closedir(d);
    for (size_t i = 0; i < entries.n; i++) {
        const char *name = entries.v[i];
        size_t len = strlen(name);
        if (a == AREA_ROOTFS && (len < 6 || strcmp(name + len - 6, ".erofs") != 0))
            continue; /* its build locks: empty, and someone may hold one */
        cleanup_free char *path = xasprintf("%s/%s", dir, name);
        int64_t bytes = tree_bytes(path);
        bool busy = a != AREA_TMP && names_cover(used, name);
        k->total++;
        k->bytes += bytes;
        if (busy || in_progress(name)) {
            k->active += busy;
            continue;
        }
        k->reclaimable += bytes;
        if (removed == NULL)
            continue;
        /* Renamed out of the way first: a half-removed snapshot is never seen by name
         * (and one a crash left half removed goes with the next prune). */
        cleanup_free char *doomed =
            in_progress_name(name) ? xstrdup(path) : xasprintf("%s.stale.%d", path, (int)getpid());
        if (rename(path, doomed) < 0)
            continue;
        sm_error_t ignored = NULL;
        sm_remove_tree(doomed, &ignored);
        sm_error_release(&ignored);
        *reclaimed += bytes;
        *removed = xrealloc(*removed, (*nremoved + 2) * sizeof(char *));
        (*removed)[(*nremoved)++] = xstrdup(name);
        (*removed)[*nremoved] = NULL;
    }
    names_free(&entries);
}

/* The whole accounting; with report (under the exclusive gc.lock), removal too. */
static int account(struct sm_disk_usage *u, struct sm_prune_report *report, sm_error_t *err)
{
    memset(u, 0, sizeof(*u));
    struct instance *list;
    size_t n;
    if (instance_list(&list, &n, err) < 0)
        return -1;
    struct names used = {0}, manifests = {0};
    in_use(list, n, &used, &manifests);
    for (size_t i = 0; i < n; i++) {
        int64_t bytes = tree_bytes(list[i].dir);
        bool running = instance_running(&list[i]);
        u->vms.total++;
        u->vms.active += running;
        u->vms.bytes += bytes;
        if (!running)
            u->vms.reclaimable += bytes;
    }
    instance_list_free(list, n);
    struct oci_store s;
    int r = store_open(&s, false, err);
    if (r == 0) {
        size_t nsnap = 0, ncache = 0;
        char ***snaps = report ? &report->snapshots : NULL;
        char ***caches = report ? &report->caches : NULL;
        int64_t ignored = 0, *reclaimed = report ? &report->reclaimed : &ignored;
        sweep(s.root, AREA_SNAPSHOTS, &used, &u->snapshots, snaps, &nsnap, reclaimed);
        for (enum area a = AREA_ROOTFS; a <= AREA_TMP; a++)
            sweep(s.root, a, &used, &u->caches, caches, &ncache, reclaimed);
        r = store_blob_usage(&s, manifests.v, manifests.n, &u->images.bytes, &u->images.reclaimable,
                             err);
        store_close(&s);
    }
    struct sm_image_info *images;
    size_t nimages;
    if (r == 0 && sm_image_list(&images, &nimages, err) == 0) {
        for (size_t i = 0; i < nimages; i++) {
            u->images.total++;
            u->images.active += names_has(&manifests, images[i].manifest_digest);
        }
        sm_image_list_free(images, nimages);
    } else {
        r = -1;
    }
    names_free(&used);
    names_free(&manifests);
    return r;
}

int sm_system_df(struct sm_disk_usage *out, sm_error_t *err)
{
    return account(out, NULL, err) < 0 ? sm_error_wrap(err, "system df") : 0;
}

static char **empty_list(void)
{
    return xcalloc(1, sizeof(char *));
}

void sm_prune_report_free(struct sm_prune_report *r)
{
    sm_strv_free(r->vms);
    sm_strv_free(r->snapshots);
    sm_strv_free(r->caches);
    sm_strv_free(r->images);
    memset(r, 0, sizeof(*r));
}

/* The records of VMs that ended (not those being created: a run's record exists a
 * moment before its VMM does). */
static void prune_vms(struct sm_prune_report *r)
{
    struct instance *list;
    size_t n, k = 0;
    sm_error_t ignored = NULL;
    if (instance_list(&list, &n, &ignored) < 0) {
        sm_error_release(&ignored);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].status, "exited") != 0 || instance_running(&list[i]))
            continue;
        int64_t bytes = tree_bytes(list[i].dir);
        if (instance_remove_dir(&list[i], &ignored) < 0) {
            sm_error_release(&ignored);
            continue;
        }
        r->reclaimed += bytes;
        r->vms = xrealloc(r->vms, (k + 2) * sizeof(char *));
        r->vms[k++] = xstrdup(list[i].id);
        r->vms[k] = NULL;
    }
    instance_list_free(list, n);
}

/* With all: every reference to an image no record names (the records of ended VMs are
 * gone by now), then its blobs (sm_image_remove collects them). */
static int prune_images(struct sm_prune_report *r, sm_error_t *err)
{
    struct instance *list;
    size_t n;
    if (instance_list(&list, &n, err) < 0)
        return -1;
    struct names manifests = {0};
    in_use(list, n, NULL, &manifests);
    instance_list_free(list, n);
    struct sm_image_info *images;
    size_t nimages, k = 0;
    int rc = sm_image_list(&images, &nimages, err);
    for (size_t i = 0; rc == 0 && i < nimages; i++) {
        bool named = names_has(&manifests, images[i].manifest_digest);
        const char *ref = images[i].reference ? images[i].reference : images[i].id;
        if (named || ref == NULL)
            continue;
        char **removed = NULL;
        sm_error_t ignored = NULL;
        if (sm_image_remove(ref, &removed, &ignored) < 0) {
            sm_error_release(&ignored); /* removed meanwhile through another name */
            continue;
        }
        for (char **p = removed; p && *p; p++) {
            r->images = xrealloc(r->images, (k + 2) * sizeof(char *));
            r->images[k++] = *p;
            r->images[k] = NULL;
        }
        free(removed);
    }
    if (rc == 0)
        sm_image_list_free(images, nimages);
    names_free(&manifests);
    return rc;
}

/* What the store's blobs take now; -1 if it cannot be read. */
static int64_t blob_bytes(sm_error_t *err)
{
    struct oci_store s;
    int64_t bytes, unused;
    if (store_open(&s, false, err) < 0)
        return -1;
    int r = store_blob_usage(&s, NULL, 0, &bytes, &unused, err);
    store_close(&s);
    return r < 0 ? -1 : bytes;
}

int sm_system_prune(const struct sm_prune_options *opts, struct sm_prune_report *out,
                    sm_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->vms = empty_list();
    out->snapshots = empty_list();
    out->caches = empty_list();
    out->images = empty_list();
    prune_vms(out);
    cleanup_free char *root = sm_store_root(err);
    if (root == NULL)
        return sm_error_wrap(err, "system prune");
    cleanup_free char *lock_path = xasprintf("%s/gc.lock", root);
    int gc = sm_lock_file(lock_path, true, err);
    if (gc < 0)
        return sm_error_wrap(err, "system prune");
    struct sm_disk_usage before;
    int r = account(&before, out, err);
    close(gc);
    if (r == 0 && opts && opts->all) {
        r = prune_images(out, err);
        sm_error_t unmeasured = NULL; /* the images are gone either way */
        int64_t after = blob_bytes(&unmeasured);
        sm_error_release(&unmeasured);
        if (r == 0 && after >= 0 && before.images.bytes > after)
            out->reclaimed += before.images.bytes - after;
    }
    return r < 0 ? sm_error_wrap(err, "system prune") : 0;
}
