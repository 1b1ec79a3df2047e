/* Initramfs assembly with libarchive (newc cpio + gzip). */
#include "agent/initramfs.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/util.h"

#define MODULES_DEP_MAX (16u << 20)
#define MODULE_MAX      (64u << 20)

struct modlist {
    char **paths; /* relative to modules_dir, in load order */
    size_t n;
};

/* "virtio-blk" and "virtio_blk" name the same module, as modprobe has it. */
static bool same_module(const char *path, const char *name)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t i = 0;
    for (; name[i] && base[i]; i++) {
        char a = base[i] == '-' ? '_' : base[i], b = name[i] == '-' ? '_' : name[i];
        if (a != b)
            return false;
    }
    return name[i] == '\0' && strncmp(base + i, ".ko", 3) == 0;
}

/* The modules.dep line of a module (path: deps...), or NULL. */
static char *find_line(char *dep, const char *name, bool by_path)
{
    for (char *line = dep; line && *line;) {
        char *end = strchr(line, '\n');
        char *colon = memchr(line, ':', end ? (size_t)(end - line) : strlen(line));
        if (colon) {
            *colon = '\0';
            bool hit = by_path ? strcmp(line, name) == 0 : same_module(line, name);
            *colon = ':';
            if (hit)
                return line;
        }
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

static bool listed(const struct modlist *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->paths[i], path) == 0)
            return true;
    return false;
}

/* Adds a module after its dependencies (depth first; modules.dep lists each module's
 * dependencies transitively, deepest last). */
static int add_module(char *dep, const char *key, bool by_path, struct modlist *l, int depth,
                      sm_error_t *err)
{
    if (depth > 64)
        return sm_error_set(err, 0, "modules.dep: dependency loop at %s", key);
    char *line = find_line(dep, key, by_path);
    if (line == NULL)
        return 0; /* the caller decides whether absent matters */
    char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    cleanup_free char *copy = xasprintf("%.*s", (int)len, line);
    char *colon = strchr(copy, ':');
    *colon = '\0';
    if (listed(l, copy))
        return 1;
    char *save = NULL;
    char **deps = NULL;
    size_t nd = 0;
    for (char *d = strtok_r(colon + 1, " \t", &save); d; d = strtok_r(NULL, " \t", &save)) {
        deps = xrealloc(deps, (nd + 1) * sizeof(char *));
        deps[nd++] = d;
    }
    for (size_t i = nd; i-- > 0;) {
        if (add_module(dep, deps[i], true, l, depth + 1, err) < 0) {
            free(deps);
            return -1;
        }
    }
    free(deps);
    if (!listed(l, copy)) {
        l->paths = xrealloc(l->paths, (l->n + 1) * sizeof(char *));
        l->paths[l->n++] = xstrdup(copy);
    }
    return 1;
}

static bool builtin(const char *modules_dir, const char *name)
{
    cleanup_free char *path = xasprintf("%s/modules.builtin", modules_dir);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        found = same_module(line, name);
    }
    fclose(f);
    return found;
}

static int add_entry(struct archive *a, const char *path, mode_t type, mode_t perm,
                     const void *data, size_t len, dev_t rdev, sm_error_t *err)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_size(e, (la_int64_t)len);
    if (rdev)
        archive_entry_set_rdev(e, rdev);
    int r = archive_write_header(a, e);
    if (r == ARCHIVE_OK && len > 0 && archive_write_data(a, data, len) != (la_ssize_t)len)
        r = ARCHIVE_FATAL;
    archive_entry_free(e);
    if (r != ARCHIVE_OK)
        return sm_error_set(err, 0, "%s: %s", path, archive_error_string(a));
    return 0;
}

static int add_file(struct archive *a, const char *path, const char *src, mode_t perm,
                    sm_error_t *err)
{
    char *data = NULL;
    size_t len = 0;
    if (sm_read_file(src, MODULE_MAX, &data, &len, err) < 0)
        return -1;
    int r = add_entry(a, path, AE_IFREG, perm, data, len, 0, err);
    free(data);
    return r;
}

int initramfs_build(const char *out_path, const char *init_binary, const char *modules_dir,
                    const char *const *module_names, sm_error_t *err)
{
    cleanup_free char *dep_path = xasprintf("%s/modules.dep", modules_dir);
    cleanup_free char *dep = NULL;
    size_t dep_len;
    if (sm_read_file(dep_path, MODULES_DEP_MAX, &dep, &dep_len, err) < 0)
        return -1;
    struct modlist l = {0};
    int ret = -1;
    cleanup_free char *tmp = NULL, *list = NULL; /* before the first goto */
    for (size_t i = 0; module_names[i]; i++) {
        int r = add_module(dep, module_names[i], false, &l, 0, err);
        if (r < 0)
            goto out;
        if (r == 0 && !builtin(modules_dir, module_names[i])) {
            sm_error_set(err, 0, "kernel module %s: not in %s", module_names[i], dep_path);
            goto out;
        }
    }
    tmp = xasprintf("%s.tmp.%d", out_path, (int)getpid());
    struct archive *a = archive_write_new();
    if (archive_write_set_format_cpio_newc(a) != ARCHIVE_OK ||
        archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
        archive_write_open_filename(a, tmp) != ARCHIVE_OK) {
        sm_error_set(err, 0, "%s: %s", tmp, archive_error_string(a));
        archive_write_free(a);
        goto out;
    }
    static const char *const dirs[] = {"dev", "proc", "sys", "lower",
                                       "rw",  "root", "lib", "lib/modules"};
    int r = 0;
    for (size_t i = 0; r == 0 && i < SM_ARRAY_SIZE(dirs); i++)
        r = add_entry(a, dirs[i], AE_IFDIR, 0755, NULL, 0, 0, err);
    if (r == 0)
        r = add_entry(a, "dev/console", AE_IFCHR, 0600, NULL, 0, makedev(5, 1), err);
    if (r == 0)
        r = add_file(a, "init", init_binary, 0755, err);
    list = xstrdup("");
    for (size_t i = 0; r == 0 && i < l.n; i++) {
        const char *base = strrchr(l.paths[i], '/');
        base = base ? base + 1 : l.paths[i];
        cleanup_free char *src = xasprintf("%s/%s", modules_dir, l.paths[i]);
        cleanup_free char *dst = xasprintf("lib/modules/%s", base);
        r = add_file(a, dst, src, 0644, err);
        char *n = xasprintf("%s/%s\n", list, dst);
        free(list);
        list = n;
    }
    if (r == 0)
        r = add_entry(a, "modules", AE_IFREG, 0644, list, strlen(list), 0, err);
    if (archive_write_close(a) != ARCHIVE_OK && r == 0)
        r = sm_error_set(err, 0, "%s: %s", tmp, archive_error_string(a));
    archive_write_free(a);
    if (r == 0 && rename(tmp, out_path) < 0)
        r = sm_error_set(err, errno, "rename %s", tmp);
    if (r < 0)
        unlink(tmp);
    ret = r;
out:
    for (size_t i = 0; i < l.n; i++)
        free(l.paths[i]);
    free(l.paths);
    return ret;
}
