/* Store layout:
 *   kernel/current            -> <version> (symlink, replaced atomically)
 *   kernel/<version>/vmlinuz
 *   kernel/<version>/vmlinuz.sha256
 *   kernel/<version>/config
 *   kernel/<version>/modules/  (the package's lib/modules/<version>, modules.dep made here)
 * Each version is unpacked in a temporary directory and renamed into place, under an
 * exclusive lock, so concurrent first runs fetch once and nobody sees half a kernel. */
#include "vmm/kernel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/digest_cache.h"
#include "common/util.h"

#define KERNEL_META_PACKAGE "linux-image-amd64"

/* Runs argv in dir with stdout to out_fd (-1: /dev/null), stderr to /dev/null unless
 * verbose. Returns the exit status or -1. */
static int run_in(const char *dir, char *const argv[], int out_fd)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, STDIN_FILENO);
        dup2(out_fd >= 0 ? out_fd : null, STDOUT_FILENO);
        if (!getenv("SUPERMACHINE_DEBUG"))
            dup2(null, STDERR_FILENO);
        if (dir && chdir(dir) < 0)
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int rm_rf(const char *path)
{
    char *argv[] = {"rm", "-rf", (char *)path, NULL};
    return run_in(NULL, argv, -1);
}

/* The versioned package the meta package depends on, from apt's cache. */
static int resolve_package(char *out, size_t len, sm_error_t *err)
{
    const char *forced = getenv("SUPERMACHINE_KERNEL_PACKAGE");
    if (forced && *forced) {
        snprintf(out, len, "%s", forced);
        return 0;
    }
    char tmpl[] = "/tmp/sm-apt-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return sm_error_set(err, errno, "mkstemp");
    unlink(tmpl);
    char *argv[] = {"apt-cache", "depends", KERNEL_META_PACKAGE, NULL};
    int rc = run_in(NULL, argv, fd);
    if (rc != 0) {
        close(fd);
        return sm_error_set(err, 0, "apt-cache depends %s failed (is this Debian or Ubuntu "
                                    "with apt lists? run 'apt-get update')",
                            KERNEL_META_PACKAGE);
    }
    char buf[8192];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    /* "  Depends: linux-image-6.1.0-56-amd64" */
    for (char *p = strstr(buf, "Depends: "); p; p = strstr(p + 1, "Depends: ")) {
        char name[256];
        if (sscanf(p + 9, "%255s", name) == 1 && strncmp(name, "linux-image-", 12) == 0 &&
            strcmp(name, KERNEL_META_PACKAGE) != 0) {
            snprintf(out, len, "%s", name);
            return 0;
        }
    }
    return sm_error_set(err, 0, "%s depends on no linux-image package", KERNEL_META_PACKAGE);
}

static char *find_one(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    struct dirent *e;
    char *found = NULL;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && found == NULL)
            found = xstrdup(e->d_name);
    }
    closedir(d);
    return found;
}

int sm_kernel_install_deb(const char *root, const char *deb, sm_error_t *err)
{
    cleanup_free char *kdir = xasprintf("%s/kernel", root);
    if (sm_mkdir_p(kdir, 0755, err) < 0)
        return -1;
    cleanup_free char *tmp = xasprintf("%s/.unpack-%d", kdir, (int)getpid());
    cleanup_free char *x = xasprintf("%s/x", tmp);
    rm_rf(tmp);
    if (sm_mkdir_p(x, 0755, err) < 0)
        return -1;
    char *argv[] = {"dpkg-deb", "-x", (char *)deb, x, NULL};
    if (run_in(NULL, argv, -1) != 0) {
        rm_rf(tmp);
        return sm_error_set(err, 0, "dpkg-deb -x %s failed", deb);
    }
    cleanup_free char *boot = xasprintf("%s/boot", x);
    cleanup_free char *vmlinuz_name = find_one(boot, "vmlinuz-");
    if (vmlinuz_name == NULL) {
        rm_rf(tmp);
        return sm_error_set(err, 0, "%s: no boot/vmlinuz-* inside", deb);
    }
    const char *version = vmlinuz_name + strlen("vmlinuz-");
    cleanup_free char *ver_dir = xasprintf("%s/%s", tmp, version);
    cleanup_free char *mods_src = xasprintf("%s/lib/modules/%s", x, version);
    cleanup_free char *vm_src = xasprintf("%s/%s", boot, vmlinuz_name);
    cleanup_free char *cfg_src = xasprintf("%s/config-%s", boot, version);
    cleanup_free char *mods_dst = xasprintf("%s/modules", ver_dir);
    cleanup_free char *vm_dst = xasprintf("%s/vmlinuz", ver_dir);
    cleanup_free char *cfg_dst = xasprintf("%s/config", ver_dir);
    if (sm_mkdir_p(ver_dir, 0755, err) < 0 || rename(vm_src, vm_dst) < 0 ||
        rename(mods_src, mods_dst) < 0) {
        if (err && *err == NULL)
            sm_error_set(err, errno, "%s: unpack", deb);
        rm_rf(tmp);
        return -1;
    }
    rename(cfg_src, cfg_dst);
    /* modules.dep lets the guest init load modules in dependency order. depmod wants
     * lib/modules/<version> under a base directory: give it a view of that layout. */
    cleanup_free char *dep_base = xasprintf("%s/depmod", tmp);
    cleanup_free char *dep_lib = xasprintf("%s/lib/modules", dep_base);
    cleanup_free char *dep_link = xasprintf("%s/%s", dep_lib, version);
    if (sm_mkdir_p(dep_lib, 0755, NULL) == 0 && symlink(mods_dst, dep_link) == 0) {
        char *dargv[] = {"depmod", "-b", dep_base, (char *)version, NULL};
        char *sargv[] = {"/sbin/depmod", "-b", dep_base, (char *)version, NULL};
        if (run_in(NULL, dargv, -1) != 0)
            run_in(NULL, sargv, -1);
    }
    char sha[65];
    if (sm_sha256_file(vm_dst, sha, err) < 0) {
        rm_rf(tmp);
        return -1;
    }
    cleanup_free char *sha_path = xasprintf("%s/vmlinuz.sha256", ver_dir);
    cleanup_free char *sha_line = xasprintf("%s\n", sha);
    if (sm_write_file_atomic(sha_path, sha_line, strlen(sha_line), 0644, err) < 0) {
        rm_rf(tmp);
        return -1;
    }
    cleanup_free char *final = xasprintf("%s/%s", kdir, version);
    rm_rf(final);
    if (rename(ver_dir, final) < 0) {
        int e = errno;
        rm_rf(tmp);
        return sm_error_set(err, e, "install kernel %s", final);
    }
    rm_rf(tmp);
    /* Point "current" at it: a new symlink renamed over the old one. */
    cleanup_free char *cur_tmp = xasprintf("%s/.current-%d", kdir, (int)getpid());
    cleanup_free char *cur = xasprintf("%s/current", kdir);
    unlink(cur_tmp);
    if (symlink(version, cur_tmp) < 0 || rename(cur_tmp, cur) < 0)
        return sm_error_set(err, errno, "link %s", cur);
    return 0;
}

static int fetch(const char *root, sm_error_t *err)
{
    char pkg[256];
    if (resolve_package(pkg, sizeof(pkg), err) < 0)
        return -1;
    cleanup_free char *dl = xasprintf("%s/kernel/.download-%d", root, (int)getpid());
    rm_rf(dl);
    if (sm_mkdir_p(dl, 0755, err) < 0)
        return -1;
    fprintf(stderr, "supermachine: fetching the guest kernel (%s) with apt-get download\n", pkg);
    char *argv[] = {"apt-get", "download", "-q", pkg, NULL};
    int rc = run_in(dl, argv, -1);
    cleanup_free char *deb_name = rc == 0 ? find_one(dl, "linux-image-") : NULL;
    if (deb_name == NULL) {
        rm_rf(dl);
        return sm_error_set(err, 0, "apt-get download %s failed (no network to the Debian "
                                    "mirror, or stale apt lists: run 'apt-get update')",
                            pkg);
    }
    cleanup_free char *deb = xasprintf("%s/%s", dl, deb_name);
    int r = sm_kernel_install_deb(root, deb, err);
    rm_rf(dl);
    return r;
}

static int locate_installed(const char *root, char **vmlinuz, char **modules, sm_error_t *err)
{
    cleanup_free char *cur = xasprintf("%s/kernel/current", root);
    char target[PATH_MAX];
    ssize_t n = readlink(cur, target, sizeof(target) - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    if (strchr(target, '/'))
        return sm_error_set(err, 0, "%s: unexpected link target '%s'", cur, target);
    cleanup_free char *dir = xasprintf("%s/kernel/%s", root, target);
    cleanup_free char *vm = xasprintf("%s/vmlinuz", dir);
    cleanup_free char *sha_path = xasprintf("%s/vmlinuz.sha256", dir);
    cleanup_free char *want = NULL;
    if (sm_read_file(sha_path, 1024, &want, NULL, err) < 0)
        return sm_error_wrap(err, "kernel in the store");
    char have[65];
    if (sm_sha256_file_cached(vm, have, err) < 0)
        return sm_error_wrap(err, "kernel in the store");
    if (strncmp(want, have, 64) != 0)
        return sm_error_set(err, 0,
                            "kernel %s: SHA-256 %.12s does not match the recorded %.12s "
                            "(corrupt; remove %s to fetch it again)",
                            vm, have, want, dir);
    *vmlinuz = xstrdup(vm);
    *modules = xasprintf("%s/modules", dir);
    return 1;
}

int sm_kernel_locate(char **vmlinuz, char **modules, sm_error_t *err)
{
    cleanup_free char *root = sm_store_root(err);
    if (root == NULL)
        return -1;
    int r = locate_installed(root, vmlinuz, modules, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    cleanup_free char *kdir = xasprintf("%s/kernel", root);
    if (sm_mkdir_p(kdir, 0755, err) < 0)
        return -1;
    cleanup_free char *lock_path = xasprintf("%s/.lock", kdir);
    int lock = sm_lock_file(lock_path, true, err);
    if (lock < 0)
        return -1;
    /* Someone else may have fetched it while we waited for the lock. */
    r = locate_installed(root, vmlinuz, modules, err);
    if (r == 0)
        r = fetch(root, err) < 0 ? -1 : locate_installed(root, vmlinuz, modules, err);
    close(lock);
    if (r == 0)
        return sm_error_set(err, 0, "kernel: installed but not found");
    return r < 0 ? -1 : 0;
}
