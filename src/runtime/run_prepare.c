/* What a VM is made of, resolved once per run and cached in the store:
 *   <store>/initramfs/<key>.cpio.gz   sm-init + the kernel modules it loads
 *   <store>/snapshots/<key>/          init-ready snapshot of one image on one kernel
 * Keys hash everything the cached thing depends on, so a new kernel, a new sm-init, other
 * memory or CPUs give a new key instead of a stale snapshot. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_dns.h"
#include "agent/agent_tmpfs.h"
#include "agent/agent_ulimit.h"
#include "agent/initramfs.h"
#include "common/digest_cache.h"
#include "common/trace.h"
#include "common/util.h"
#include "net/net_policy.h"
#include "runtime/run.h"
#include "runtime/run_restart.h"
#include "runtime/vmm_process.h"
#include "vmm/vm.h"

/* Bump when what goes into a cached initramfs or snapshot changes meaning. */
#define RUN_CACHE_FORMAT "supermachine-run-1"

/* The modules sm-init loads, in this order (initramfs_build adds their dependencies):
 * the virtio-mmio bus our devices sit on, the root disk and its filesystems, the vsock
 * transport the agent listens on, the entropy source and the network device. */
static const char *const guest_modules[] = {
    /* libcrc32c (erofs needs it) asks the crypto API for "crc32c", which a kernel
     * without modprobe in reach cannot load on demand: the generic one goes first. */
    "virtio_mmio",
    "virtio_blk",
    "crc32c_generic",
    "erofs",
    "overlay",
    "vsock",
    "vmw_vsock_virtio_transport_common",
    "vmw_vsock_virtio_transport",
    "virtio_rng",
    "failover",
    "net_failover",
    "virtio_net",
    NULL,
};

void run_plan_release(struct run_plan *p)
{
    run_plan_unhold(p);
    if (p->image)
        sm_image_config_free(p->image);
    free(p->rootfs);
    free(p->kernel);
    free(p->modules_dir);
    free(p->kernel_sha256);
    free(p->initramfs);
    free(p->snapshot);
    free(p->snapshot_on);
    free(p->workload_snapshot);
    sm_strv_free(p->argv);
    sm_strv_free(p->env);
    free(p->workdir);
    free(p->user);
    free(p->restart);
    sm_strv_free(p->publish);
    sm_strv_free(p->egress_allow);
    sm_strv_free(p->egress_deny);
    memset(p, 0, sizeof(*p));
}

/* Appends to a snapshot key's material, a malloc'd string. */
__attribute__((format(printf, 2, 3))) static void key_append(char **material, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *more = NULL;
    if (vasprintf(&more, fmt, ap) < 0)
        abort(); /* out of memory, as xasprintf */
    va_end(ap);
    char *joined = xasprintf("%s%s", *material, more);
    free(more);
    free(*material);
    *material = joined;
}

static size_t strv_len(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static void strv_append(char ***v, size_t *n, const char *s)
{
    *v = xrealloc(*v, (*n + 2) * sizeof(char *));
    (*v)[(*n)++] = xstrdup(s);
    (*v)[*n] = NULL;
}

/* argv = Entrypoint + Cmd, docker's way: --entrypoint replaces the image's entrypoint and
 * drops its Cmd; a command given on the command line replaces Cmd. */
static int compose_argv(const struct sm_run_options *o, const struct sm_image_config *c,
                        char ***out, sm_error_t *err)
{
    char **argv = NULL;
    size_t n = 0;
    const char *const *entry = o->entrypoint ? o->entrypoint : (const char *const *)c->entrypoint;
    const char *const *cmd = o->cmd ? o->cmd : (o->entrypoint ? NULL : (const char *const *)c->cmd);
    for (size_t i = 0; i < strv_len(entry); i++)
        strv_append(&argv, &n, entry[i]);
    for (size_t i = 0; i < strv_len(cmd); i++)
        strv_append(&argv, &n, cmd[i]);
    if (n == 0)
        return sm_error_set(err, 0, "no command: the image has no Entrypoint or Cmd; give one");
    *out = argv;
    return 0;
}

/* What the guest's agent takes (docs/protocol.md, hello): an RFC 1123 host name. */
static int check_hostname(const char *name, sm_error_t *err)
{
    if (name == NULL)
        return 0;
    size_t len = strlen(name);
    bool ok = len >= 1 && len <= 63 && name[0] != '-' && name[0] != '.';
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)name[i]) || name[i] == '-' || name[i] == '.';
    if (!ok)
        return sm_error_set(err, 0,
                            "--hostname %s: want 1 to 63 letters, digits, '-' and '.', not "
                            "starting with '-' or '.'",
                            name);
    return 0;
}

/* docker's --add-host, checked as the guest's agent checks the entries (it drops a bad
 * one): a mistake is the user's to hear of now. host-gateway needs a network. */
static int check_extra_hosts(const struct sm_run_options *o, const struct run_plan *p,
                             sm_error_t *err)
{
    size_t n = strv_len(o->extra_hosts);
    if (n > AGENT_HOSTS_MAX)
        return sm_error_set(err, 0, "--add-host: at most %d entries", AGENT_HOSTS_MAX);
    for (size_t i = 0; i < n; i++) {
        struct agent_host_entry e;
        char why[512];
        if (agent_host_entry_parse(o->extra_hosts[i], p->network ? NET_HOST_IP4 : NULL, &e, why,
                                   sizeof(why)) < 0)
            return sm_error_set(err, 0, "--add-host %s: %s", o->extra_hosts[i], why);
    }
    return 0;
}

/* docker's --ulimit: each as the guest checks it, one per resource. */
static int check_ulimits(const struct sm_run_options *o, sm_error_t *err)
{
    size_t n = strv_len(o->ulimits);
    if (n > AGENT_ULIMITS_MAX)
        return sm_error_set(err, 0, "--ulimit: at most %d", AGENT_ULIMITS_MAX);
    struct agent_ulimit u[AGENT_ULIMITS_MAX];
    for (size_t i = 0; i < n; i++) {
        char why[256];
        if (agent_ulimit_parse(o->ulimits[i], &u[i], why, sizeof(why)) < 0)
            return sm_error_set(err, 0, "--ulimit %s: %s", o->ulimits[i], why);
        for (size_t j = 0; j < i; j++)
            if (u[j].resource == u[i].resource)
                return sm_error_set(err, 0, "--ulimit %s: that limit is given twice",
                                    o->ulimits[i]);
    }
    return 0;
}

/* docker's --pull and --cidfile, checked before anything is fetched or made. */
static int check_pull_cidfile(const struct sm_run_options *o, sm_error_t *err)
{
    if (o->pull && strcmp(o->pull, "always") != 0 && strcmp(o->pull, "missing") != 0 &&
        strcmp(o->pull, "never") != 0)
        return sm_error_set(err, 0, "--pull %s: want always, missing or never", o->pull);
    struct stat st;
    if (o->cidfile && (*o->cidfile == '\0' || lstat(o->cidfile, &st) == 0))
        return sm_error_set(
            err, 0, "--cidfile %s: the file exists (another VM's?): remove it first", o->cidfile);
    return 0;
}

/* docker's --label: a key of 1 to 256 characters, no control character in either part. */
static int check_labels(const struct sm_run_options *o, sm_error_t *err)
{
    size_t n = strv_len(o->labels);
    if (n > RUN_LABELS_MAX)
        return sm_error_set(err, 0, "--label: at most %d labels", RUN_LABELS_MAX);
    for (size_t i = 0; i < n; i++) {
        const char *l = o->labels[i];
        size_t klen = strcspn(l, "=");
        if (klen == 0 || klen > 256)
            return sm_error_set(err, 0,
                                "--label %s: want KEY=VALUE or KEY, KEY 1 to 256 characters", l);
        if (strlen(l) > 65536)
            return sm_error_set(err, 0, "--label %.40s...: longer than 64 KiB", l);
        for (const char *c = l; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) /* not printed: the line is one */
                return sm_error_set(err, 0, "--label %.*s: a control character", (int)(c - l), l);
    }
    return 0;
}

/* docker's --dns, --dns-search and --dns-option, checked as the guest's agent checks
 * them (it leaves the file alone when one is bad). */
static int check_dns(const struct sm_run_options *o, sm_error_t *err)
{
    static const struct {
        const char *flag;
        size_t max;
        int (*check)(const char *, char *, size_t);
    } kinds[] = {
        {"--dns", AGENT_DNS_SERVERS_MAX, agent_dns_check_server},
        {"--dns-search", AGENT_DNS_SEARCH_MAX, agent_dns_check_search},
        {"--dns-option", AGENT_DNS_OPTIONS_MAX, agent_dns_check_option},
    };
    const char *const *lists[] = {o->dns, o->dns_search, o->dns_options};
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        size_t n = strv_len(lists[k]);
        if (n > kinds[k].max)
            return sm_error_set(err, 0, "%s: at most %zu entries", kinds[k].flag, kinds[k].max);
        for (size_t i = 0; i < n; i++) {
            char why[128];
            if (kinds[k].check(lists[k][i], why, sizeof(why)) < 0)
                return sm_error_set(err, 0, "%s %s: %s", kinds[k].flag, lists[k][i], why);
        }
    }
    return 0;
}

/* docker's --tmpfs, checked as the guest's agent checks it: one path once, the options
 * it knows. */
static int check_tmpfs(const struct sm_run_options *o, sm_error_t *err)
{
    size_t n = strv_len(o->tmpfs);
    if (n > AGENT_TMPFS_MAX)
        return sm_error_set(err, 0, "--tmpfs: at most %d mounts", AGENT_TMPFS_MAX);
    cleanup_free struct agent_tmpfs *t = n ? xcalloc(n, sizeof(*t)) : NULL;
    for (size_t i = 0; i < n; i++) {
        char why[256];
        if (agent_tmpfs_parse(o->tmpfs[i], &t[i], why, sizeof(why)) < 0)
            return sm_error_set(err, 0, "--tmpfs %s: %s", o->tmpfs[i], why);
        for (size_t j = 0; j < i; j++)
            if (strcmp(t[i].path, t[j].path) == 0)
                return sm_error_set(err, 0, "--tmpfs %s: %s is given twice", o->tmpfs[i],
                                    t[i].path);
    }
    return 0;
}

/* What `stop` will use (docker's --stop-signal, --stop-timeout), refused now rather than
 * when the VM is to be stopped. */
static int check_stop(const struct sm_run_options *o, sm_error_t *err)
{
    int sig;
    if (o->stop_signal && sm_parse_signal(o->stop_signal, &sig, err) < 0) {
        sm_error_release(err);
        return sm_error_set(err, 0,
                            "--stop-signal %s: not a signal (a name such as TERM or USR1, "
                            "or a number)",
                            o->stop_signal);
    }
    if (o->stop_timeout_set && (o->stop_timeout < 0 || o->stop_timeout > SM_STOP_TIMEOUT_MAX))
        return sm_error_set(err, 0, "--stop-timeout %d: want seconds from 0 to %d", o->stop_timeout,
                            SM_STOP_TIMEOUT_MAX);
    struct run_restart restart;
    if (run_restart_parse(o->restart, &restart, err) < 0)
        return -1;
    if (restart.kind != RUN_RESTART_NO && o->auto_remove)
        return sm_error_set(err, 0, "--restart %s: conflicts with --rm", o->restart);
    if (restart.kind != RUN_RESTART_NO && !o->detach)
        return sm_error_set(err, 0,
                            "--restart %s: needs -d (a detached run's monitor starts the "
                            "process again)",
                            o->restart);
    return 0;
}

void run_env_set(char ***env, size_t *n, const char *kv)
{
    size_t klen = strcspn(kv, "=");
    for (size_t j = 0; j < *n; j++) {
        if (strncmp((*env)[j], kv, klen) == 0 && (*env)[j][klen] == '=') {
            free((*env)[j]);
            (*env)[j] = xstrdup(kv);
            return;
        }
    }
    strv_append(env, n, kv);
}

/* Env: the image's, then the user's (same key replaces), then what docker always sets. */
static char **compose_env(const struct sm_run_options *o, const struct sm_image_config *c)
{
    char **env = NULL;
    size_t n = 0;
    const char *const *layers[2] = {(const char *const *)c->env, o->env};
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < strv_len(layers[l]); i++)
            run_env_set(&env, &n, layers[l][i]);
    bool has_path = false, has_term = false;
    for (size_t j = 0; j < n; j++) {
        has_path |= strncmp(env[j], "PATH=", 5) == 0;
        has_term |= strncmp(env[j], "TERM=", 5) == 0;
    }
    if (!has_path)
        strv_append(&env, &n, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    if (o->tty && !has_term)
        strv_append(&env, &n, "TERM=xterm");
    if (env == NULL)
        env = xcalloc(1, sizeof(char *));
    return env;
}

static char *store_dir(const char *sub, sm_error_t *err)
{
    cleanup_free char *root = sm_store_root(err);
    if (root == NULL)
        return NULL;
    char *dir = xasprintf("%s/%s", root, sub);
    if (sm_mkdir_p(dir, 0700, err) < 0) {
        free(dir);
        return NULL;
    }
    return dir;
}

static int ensure_initramfs(struct run_plan *p, sm_error_t *err)
{
    cleanup_free char *init = runtime_find_helper("sm-init", err);
    if (init == NULL)
        return -1;
    char init_sha[65];
    if (sm_sha256_file_cached(init, init_sha, err) < 0)
        return -1;
    cleanup_free char *material =
        xasprintf("%s\n%s\n%s\n", RUN_CACHE_FORMAT, init_sha, p->kernel_sha256);
    for (size_t i = 0; guest_modules[i]; i++) {
        char *m = xasprintf("%s%s\n", material, guest_modules[i]);
        free(material);
        material = m;
    }
    char key[65];
    sm_sha256_hex(material, strlen(material), key);
    cleanup_free char *dir = store_dir("initramfs", err);
    if (dir == NULL)
        return -1;
    p->initramfs = xasprintf("%s/%.32s.cpio.gz", dir, key);
    if (access(p->initramfs, R_OK) == 0)
        return 0;
    cleanup_free char *lock_path = xasprintf("%s/.lock", dir);
    int lock = sm_lock_file(lock_path, true, err);
    if (lock < 0)
        return -1;
    int r = 0;
    if (access(p->initramfs, R_OK) != 0) /* built by another run while we waited? */
        r = initramfs_build(p->initramfs, init, p->modules_dir, guest_modules, err);
    close(lock);
    return r < 0 ? sm_error_wrap(err, "initramfs") : 0;
}

static int choose_snapshot(const struct sm_run_options *o, struct run_plan *p, sm_error_t *err)
{
    if (o->no_snapshot)
        return 0;
    char initramfs_sha[65];
    /* The initramfs file name is its key: hashing the name is enough. The name alone, not
     * its directory: a store moved or copied elsewhere keeps its snapshots. */
    const char *initramfs_name = strrchr(p->initramfs, '/');
    initramfs_name = initramfs_name ? initramfs_name + 1 : p->initramfs;
    sm_sha256_hex(initramfs_name, strlen(initramfs_name), initramfs_sha);
    /* With a network the guest has one more device and its addresses (every VM of the
     * network has the same: each has a network of its own). */
    cleanup_free char *material =
        xasprintf("%s\n%s\n%s\n%s\n%u\n%llu\n%s\n", RUN_CACHE_FORMAT, p->image->manifest_digest,
                  p->kernel_sha256, initramfs_sha, p->cpus, (unsigned long long)p->memory_mib,
                  p->network ? "net=user" : "net=none");
    char key[65];
    sm_sha256_hex(material, strlen(material), key);
    cleanup_free char *dir = store_dir("snapshots", err);
    if (dir == NULL)
        return -1;
    /* Named after the image's manifest first: rmi's collection drops the snapshots of
     * images the store no longer has (store_gc). */
    const char *manifest_hex = strchr(p->image->manifest_digest, ':');
    manifest_hex = manifest_hex ? manifest_hex + 1 : p->image->manifest_digest;
    p->snapshot = xasprintf("%s/%.64s-%.32s", dir, manifest_hex, key);
    cleanup_free char *meta = xasprintf("%s/snapshot.meta", p->snapshot);
    p->restore = access(meta, R_OK) == 0;
    if (p->snapshot_on == NULL)
        return 0;
    /* The workload-ready snapshot: everything that makes the init-ready one, and what the
     * main process is (docs/snapshot-workload.md, "Keys"). Ports and egress rules are the
     * host side's, never in the guest: not part of it. */
    char *wm = xasprintf("%sworkload\n%s\n%s\n%s\n", material, p->snapshot_on, p->workdir, p->user);
    /* --read-only, --tmpfs, --shm-size, --ulimit and --dns* shape what the workload starts
     * with (only when given: the keys of snapshots baked without them stay what they
     * were). The DNS settings are the hello's, but a workload may have read the file
     * before its snapshot, and a read-only root keeps the baked one. */
    if (o->read_only)
        key_append(&wm, "read-only\n");
    if (o->shm_size)
        key_append(&wm, "shm %llu\n", (unsigned long long)o->shm_size);
    const char *const *lists[] = {(const char *const *)p->argv,
                                  (const char *const *)p->env,
                                  o->tmpfs,
                                  o->ulimits,
                                  o->dns,
                                  o->dns_search,
                                  o->dns_options};
    for (size_t list = 0; list < sizeof(lists) / sizeof(lists[0]); list++)
        for (size_t i = 0; lists[list] && lists[list][i]; i++)
            /* Length-prefixed: ["a b"] and ["a", "b"] must differ. */
            key_append(&wm, "%c%zu:%s\n", "aetudso"[list], strlen(lists[list][i]), lists[list][i]);
    char wkey[65];
    sm_sha256_hex(wm, strlen(wm), wkey);
    free(wm);
    p->workload_snapshot = xasprintf("%s/%.64s-%.32s-w", dir, manifest_hex, wkey);
    cleanup_free char *wmeta = xasprintf("%s/snapshot.meta", p->workload_snapshot);
    p->workload_restore = access(wmeta, R_OK) == 0;
    uint8_t nonce[16];
    if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
        return sm_error_set(err, errno, "getrandom");
    int n = snprintf(p->marker, sizeof(p->marker), "%s ", RUN_WORKLOAD_READY_LINE);
    for (size_t i = 0; i < sizeof(nonce); i++)
        n += snprintf(p->marker + n, sizeof(p->marker) - (size_t)n, "%02x", nonce[i]);
    return 0;
}

/* --snapshot-on, checked before anything starts. */
static int check_snapshot_on(const struct sm_run_options *o, struct run_plan *p, sm_error_t *err)
{
    if (o->snapshot_on == NULL)
        return 0;
    struct agent_trigger t;
    char why[160];
    if (agent_trigger_parse(o->snapshot_on, &t, why, sizeof(why)) < 0)
        return sm_error_set(err, 0, "--snapshot-on %s: %s", o->snapshot_on, why);
    if (o->no_snapshot)
        return sm_error_set(err, 0, "--snapshot-on and --no-snapshot exclude each other");
    if (o->tty || o->interactive)
        return sm_error_set(err, 0,
                            "--snapshot-on: a baked workload has no terminal or input "
                            "(no -t, no -i)");
    p->snapshot_on = xstrdup(o->snapshot_on);
    return 0;
}

static int resolve_image(const struct sm_run_options *o, struct run_plan *p, sm_error_t *err)
{
    bool always = o->pull && strcmp(o->pull, "always") == 0;
    if (always) {
        struct sm_pull_options po = {.progress = -1};
        if (sm_image_pull(o->image, &po, NULL, err) < 0)
            return -1;
    }
    if (sm_image_config(o->image, &p->image, err) == 0)
        return 0;
    if (*err == NULL || (*err)->errno_value != ENOENT || always)
        return -1;
    if (o->pull && strcmp(o->pull, "never") == 0) {
        sm_error_release(err);
        return sm_error_set(err, 0, "not in the store, and --pull never");
    }
    sm_error_release(err);
    /* As docker: not in the store, so pull it (its progress shows on a terminal). */
    fprintf(stderr, "Unable to find image '%s' locally\n", o->image);
    struct sm_pull_options po = {.progress = -1};
    if (sm_image_pull(o->image, &po, NULL, err) < 0)
        return -1;
    return sm_image_config(o->image, &p->image, err);
}

static char **strv_copy(const char *const *v)
{
    char **out = xcalloc(strv_len(v) + 1, sizeof(char *));
    for (size_t i = 0; v && v[i]; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

/* The network options, checked before anything starts: bad input is the user's error. */
static int check_network(const struct sm_run_options *o, struct run_plan *p, sm_error_t *err)
{
    const char *mode = o->network ? o->network : "user";
    if (strcmp(mode, "user") != 0 && strcmp(mode, "none") != 0)
        return sm_error_set(err, 0, "--network %s: want user (the default) or none", mode);
    p->network = strcmp(mode, "user") == 0;
    p->allow_host_loopback = o->allow_host_loopback != 0;
    if (!p->network && (strv_len(o->publish) || strv_len(o->egress_allow) ||
                        strv_len(o->egress_deny) || o->allow_host_loopback || o->publish_all))
        return sm_error_set(err, 0,
                            "--network none: no ports to publish, no egress rules, "
                            "no host loopback");
    for (size_t i = 0; i < strv_len(o->publish); i++) {
        struct net_publish pub;
        if (net_publish_parse(o->publish[i], &pub, err) < 0)
            return -1;
    }
    cleanup_free struct net_policy *policy = xcalloc(1, sizeof(*policy)); /* for its parser */
    if (net_policy_add_rules(policy, o->egress_allow, o->egress_deny, err) < 0)
        return -1;
    p->publish = strv_copy(o->publish);
    p->egress_allow = strv_copy(o->egress_allow);
    p->egress_deny = strv_copy(o->egress_deny);
    return 0;
}

void run_plan_unhold(struct run_plan *p)
{
    if (p->store_held)
        close(p->store_hold_fd);
    p->store_held = false;
}

/* Takes gc.lock shared for the plan (struct run_plan's store_hold_fd). */
static int hold_store(struct run_plan *p, sm_error_t *err)
{
    cleanup_free char *root = sm_store_root(err);
    if (root == NULL)
        return -1;
    if (sm_mkdir_p(root, 0700, err) < 0)
        return -1;
    cleanup_free char *path = xasprintf("%s/gc.lock", root);
    int fd = sm_lock_file(path, false, err);
    if (fd < 0)
        return -1;
    p->store_hold_fd = fd;
    p->store_held = true;
    return 0;
}

int run_prepare(const struct sm_run_options *o, struct run_plan *p, sm_error_t *err)
{
    memset(p, 0, sizeof(*p));
    cleanup_free char *sha_path = NULL; /* before the first goto */
    if (o->image == NULL || *o->image == '\0')
        return sm_error_set(err, 0, "no image given");
    p->cpus = o->cpus ? o->cpus : 1;
    p->memory_mib = o->memory_mib ? o->memory_mib : 512;
    if (p->cpus > VM_MAX_CPUS)
        return sm_error_set(err, 0, "--cpus %u: at most %d", p->cpus, VM_MAX_CPUS);
    if (p->memory_mib < 64 || p->memory_mib > VM_MAX_MEMORY_MIB)
        return sm_error_set(err, 0, "--memory %llu MiB: want 64 MiB to %d MiB",
                            (unsigned long long)p->memory_mib, VM_MAX_MEMORY_MIB);
    if (check_network(o, p, err) < 0 || check_snapshot_on(o, p, err) < 0 ||
        check_hostname(o->hostname, err) < 0 || check_stop(o, err) < 0 ||
        check_extra_hosts(o, p, err) < 0 || check_tmpfs(o, err) < 0 || check_dns(o, err) < 0 ||
        check_labels(o, err) < 0 || check_pull_cidfile(o, err) < 0 || check_ulimits(o, err) < 0)
        goto fail;
    if (o->workdir && *o->workdir && o->workdir[0] != '/') { /* as docker refuses it */
        sm_error_set(err, 0, "--workdir %s: want an absolute path", o->workdir);
        goto fail;
    }
    if (o->shm_size && (o->shm_size < 4096 || o->shm_size > (uint64_t)INT64_MAX)) {
        sm_error_set(err, 0, "--shm-size %llu bytes: want 4k or more",
                     (unsigned long long)o->shm_size);
        goto fail;
    }
    if (hold_store(p, err) < 0 || resolve_image(o, p, err) < 0 ||
        compose_argv(o, p->image, &p->argv, err) < 0)
        goto fail;
    sm_trace("run: image resolved");
    if (o->publish_all) {
        /* docker's -P: every port the image exposes, each on a free host port. A range
         * ("8000-8010/tcp") is not one port: left out. */
        size_t n = strv_len((const char *const *)p->publish);
        for (size_t i = 0; p->image->exposed_ports && p->image->exposed_ports[i]; i++) {
            struct net_publish pub;
            sm_error_t ignored = NULL;
            if (net_publish_parse(p->image->exposed_ports[i], &pub, &ignored) == 0)
                strv_append(&p->publish, &n, p->image->exposed_ports[i]);
            sm_error_release(&ignored);
        }
    }
    p->env = compose_env(o, p->image);
    const char *wd = o->workdir ? o->workdir : p->image->working_dir;
    p->workdir = xstrdup(wd && *wd ? wd : "/");
    const char *user = o->user ? o->user : p->image->user;
    p->user = xstrdup(user && *user ? user : "0");
    p->restart = o->restart && strcmp(o->restart, "no") != 0 ? xstrdup(o->restart) : NULL;
    if (sm_image_rootfs(o->image, &p->rootfs, err) < 0)
        goto fail;
    sm_trace("run: root image found");
    if (sm_kernel_default(&p->kernel, &p->modules_dir, err) < 0)
        goto fail;
    sha_path = xasprintf("%s.sha256", p->kernel);
    size_t len;
    if (sm_read_file(sha_path, 1024, &p->kernel_sha256, &len, err) < 0)
        goto fail;
    p->kernel_sha256[strcspn(p->kernel_sha256, " \n")] = '\0';
    sm_trace("run: kernel found");
    if (ensure_initramfs(p, err) < 0)
        goto fail;
    sm_trace("run: initramfs found");
    if (choose_snapshot(o, p, err) < 0)
        goto fail;
    return 0;
fail:
    run_plan_release(p);
    return -1;
}
