/* VM instance directories: creation with unique names, lookup, listing, state. */
#include "runtime/instance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/magic.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "confine/confine.h"
#include "net/net_backend.h"

#define STATE_MAX (64 * 1024)

static char *vms_root(sm_error_t *err)
{
    cleanup_free char *store = sm_store_root(err);
    if (store == NULL)
        return NULL;
    char *root = xasprintf("%s/vms", store);
    if (sm_mkdir_p(root, 0700, err) < 0) {
        free(root);
        return NULL;
    }
    return root;
}

char *instance_path(const struct instance *in, const char *file)
{
    return xasprintf("%s/%s", in->dir, file);
}

void instance_release(struct instance *in)
{
    free(in->dir);
    free(in->name);
    free(in->image);
    free(in->digest);
    free(in->command);
    free(in->hostname);
    free(in->stop_signal);
    free(in->restart);
    sm_strv_free(in->extra_hosts);
    sm_strv_free(in->tmpfs);
    sm_strv_free(in->dns);
    sm_strv_free(in->dns_search);
    sm_strv_free(in->dns_options);
    sm_strv_free(in->labels);
    sm_strv_free(in->ulimits);
    sm_strv_free(in->env);
    free(in->user);
    free(in->workdir);
    free(in->status);
    memset(in, 0, sizeof(*in));
}

static json_object *read_json(const char *path, sm_error_t *err)
{
    char *text = NULL;
    size_t len;
    if (sm_read_file(path, STATE_MAX, &text, &len, err) < 0)
        return NULL;
    json_object *o = json_tokener_parse(text);
    free(text);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        sm_error_set(err, 0, "%s: not a JSON object", path);
        return NULL;
    }
    return o;
}

static int write_json(const char *path, json_object *o, sm_error_t *err)
{
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    return sm_write_file_replace(path, text, strlen(text), 0600, err);
}

int instance_restart_count(const struct instance *in)
{
    cleanup_free char *path = instance_path(in, INSTANCE_RESTARTS_FILE);
    char *text = NULL;
    size_t len;
    sm_error_t ignored = NULL;
    if (sm_read_file(path, 32, &text, &len, &ignored) < 0) {
        sm_error_release(&ignored);
        return 0;
    }
    long v = strtol(text, NULL, 10);
    free(text);
    return v > 0 && v < INT32_MAX ? (int)v : 0;
}

bool instance_has_file(const struct instance *in, const char *file)
{
    cleanup_free char *path = instance_path(in, file);
    return access(path, F_OK) == 0;
}

/* The file pause writes (a user's pause), for callers that know the VMM runs. */
static bool paused_marker(const struct instance *in)
{
    return instance_has_file(in, INSTANCE_PAUSED_FILE);
}

/* Loads <dir>/config.json and state.json into *in (dir is taken over). */
static int instance_load(char *dir, const char *id, struct instance *in, sm_error_t *err)
{
    memset(in, 0, sizeof(*in));
    in->dir = dir;
    snprintf(in->id, sizeof(in->id), "%s", id);
    cleanup_free char *cfg_path = instance_path(in, "config.json");
    json_object *cfg = read_json(cfg_path, err);
    if (cfg == NULL) {
        instance_release(in);
        return -1;
    }
    in->name = xstrdup(sm_json_str(cfg, "name") ? sm_json_str(cfg, "name") : id);
    in->image = xstrdup(sm_json_str(cfg, "image") ? sm_json_str(cfg, "image") : "");
    in->digest = xstrdup(sm_json_str(cfg, "digest") ? sm_json_str(cfg, "digest") : "");
    in->command = xstrdup(sm_json_str(cfg, "command") ? sm_json_str(cfg, "command") : "");
    in->hostname = sm_json_str(cfg, "hostname") ? xstrdup(sm_json_str(cfg, "hostname")) : NULL;
    in->created = sm_json_int(cfg, "created");
    const char *stop_signal = sm_json_str(cfg, "stop_signal");
    in->stop_signal = stop_signal ? xstrdup(stop_signal) : NULL;
    const char *restart = sm_json_str(cfg, "restart");
    in->restart = restart ? xstrdup(restart) : NULL;
    json_object *v;
    int64_t t =
        json_object_object_get_ex(cfg, "stop_timeout", &v) && json_object_is_type(v, json_type_int)
            ? json_object_get_int64(v)
            : -1;
    in->stop_timeout = t >= 0 && t <= SM_STOP_TIMEOUT_MAX ? (int)t : -1;
    in->extra_hosts = json_object_object_get_ex(cfg, "extra_hosts", &v) ? sm_json_strv(v) : NULL;
    in->tmpfs = json_object_object_get_ex(cfg, "tmpfs", &v) ? sm_json_strv(v) : NULL;
    in->dns = json_object_object_get_ex(cfg, "dns", &v) ? sm_json_strv(v) : NULL;
    in->dns_search = json_object_object_get_ex(cfg, "dns_search", &v) ? sm_json_strv(v) : NULL;
    in->dns_options = json_object_object_get_ex(cfg, "dns_options", &v) ? sm_json_strv(v) : NULL;
    in->labels = json_object_object_get_ex(cfg, "labels", &v) ? sm_json_strv(v) : NULL;
    in->ulimits = json_object_object_get_ex(cfg, "ulimits", &v) ? sm_json_strv(v) : NULL;
    int64_t shm = sm_json_int(cfg, "shm_size");
    in->shm_size = shm > 0 ? (uint64_t)shm : 0;
    in->env = json_object_object_get_ex(cfg, "env", &v) ? sm_json_strv(v) : NULL;
    in->user = sm_json_str(cfg, "user") ? xstrdup(sm_json_str(cfg, "user")) : NULL;
    in->workdir = sm_json_str(cfg, "workdir") ? xstrdup(sm_json_str(cfg, "workdir")) : NULL;
    in->read_only = json_object_object_get_ex(cfg, "read_only", &v) && json_object_get_boolean(v);
    json_object *ar;
    in->auto_remove =
        json_object_object_get_ex(cfg, "auto_remove", &ar) && json_object_get_boolean(ar);
    json_object_put(cfg);

    cleanup_free char *state_path = instance_path(in, "state.json");
    sm_error_t ignored = NULL;
    json_object *st = read_json(state_path, &ignored);
    sm_error_release(&ignored);
    if (st) {
        in->status = xstrdup(sm_json_str(st, "status") ? sm_json_str(st, "status") : "created");
        in->exit_code = (int)sm_json_int(st, "exit_code");
        in->finished = sm_json_int(st, "finished");
        in->started = sm_json_int(st, "started");
        in->vmm_pid = (pid_t)sm_json_int(st, "vmm_pid");
        json_object_put(st);
    } else {
        in->status = xstrdup("created");
    }
    /* A VMM that died without recording its end (killed, host crash) left "running"
     * behind: the lock tells the truth. */
    bool up = strcmp(in->status, "running") == 0 || strcmp(in->status, "restarting") == 0;
    if (up && !instance_running(in)) {
        free(in->status);
        in->status = xstrdup("exited");
        in->exit_code = 137;
    } else if (strcmp(in->status, "running") == 0 && paused_marker(in)) {
        free(in->status);
        in->status = xstrdup("paused"); /* docker's State.Status for it */
    }
    return 0;
}

bool instance_paused(const struct instance *in)
{
    return paused_marker(in) && instance_running(in);
}

void instance_hostname(const struct instance *in, char out[64])
{
    snprintf(out, 64, "%.*s", in->hostname ? 63 : 12, in->hostname ? in->hostname : in->id);
}

char *instance_stop_signal(const struct instance *in)
{
    if (in->stop_signal)
        return xstrdup(in->stop_signal);
    struct sm_image_config *image = NULL;
    sm_error_t ignored = NULL; /* an image gone since: no signal of its own */
    char *name = NULL;
    if (sm_image_config(in->digest, &image, &ignored) == 0 && image->stop_signal &&
        *image->stop_signal)
        name = xstrdup(image->stop_signal);
    if (image)
        sm_image_config_free(image);
    sm_error_release(&ignored);
    return name;
}

bool instance_running(const struct instance *in)
{
    cleanup_free char *path = instance_path(in, "lock");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

bool instance_wait_stopped(const struct instance *in, int timeout_ms)
{
    int fd = in->vmm_pid > 0 ? (int)syscall(SYS_pidfd_open, in->vmm_pid, 0) : -1;
    uint64_t deadline = sm_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000;
    bool stopped;
    while (!(stopped = !instance_running(in))) {
        int64_t left = timeout_ms < 0 ? 100 : (int64_t)(deadline - sm_now_ns()) / 1000000;
        if (left <= 0)
            break;
        int step = left < 100 ? (int)left : 100;
        if (fd >= 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            poll(&p, 1, step);
        } else {
            usleep((useconds_t)step * 1000);
        }
    }
    if (fd >= 0)
        close(fd);
    return stopped;
}

bool instance_idle(const struct instance *in)
{
    return instance_has_file(in, "idle");
}

int64_t instance_parse_pss_kib(const char *text)
{
    /* "Pss:   1234 kB" on a line of its own; Pss_Anon, Pss_File... are other lines. */
    const char *line = text;
    while (line && strncmp(line, "Pss:", 4) != 0) {
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    if (line == NULL)
        return -1;
    const char *p = line + 4;
    while (*p == ' ' || *p == '\t')
        p++;
    int64_t v = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits == 15) /* 1 EiB in KiB has 16 digits: no real figure is that long */
            return -1;
        v = v * 10 + (*p - '0');
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (digits == 0 || strncmp(p, "kB", 2) != 0 || (p[2] != '\n' && p[2] != '\0'))
        return -1;
    return v;
}

/* /proc/PID/NAME into buf, NUL-terminated (its first size - 1 bytes); its length, or -1. */
static ssize_t read_proc(pid_t pid, const char *name, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = sm_read_full(fd, buf, size - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

static int64_t process_pss_kib(pid_t pid)
{
    char buf[8192];
    return read_proc(pid, "smaps_rollup", buf, sizeof(buf)) > 0 ? instance_parse_pss_kib(buf) : -1;
}

/* The VMM's parent when that is the monitor of this VM (a detached run's: its title is
 * "supermachine-vmm monitor run <first 12 of the id>", run_monitor.c); else 0. */
static pid_t monitor_of(const struct instance *in)
{
    char buf[512];
    if (read_proc(in->vmm_pid, "stat", buf, sizeof(buf)) <= 0)
        return 0;
    const char *after = strrchr(buf, ')'); /* the name in between may hold anything */
    int ppid = 0;
    if (after == NULL || sscanf(after, ") %*c %d", &ppid) != 1 || ppid <= 1)
        return 0;
    char want[64];
    int len =
        snprintf(want, sizeof(want), "supermachine-vmm%cmonitor%crun%c%.12s", 0, 0, 0, in->id);
    ssize_t n = read_proc(ppid, "cmdline", buf, sizeof(buf));
    return n > len && memcmp(buf, want, (size_t)len) == 0 && buf[len] == '\0' ? ppid : 0;
}

/* A process's user and system time (all its threads'), in nanoseconds; -1 if unknown. */
static int64_t process_cpu_ns(pid_t pid)
{
    char buf[1024];
    if (read_proc(pid, "stat", buf, sizeof(buf)) <= 0)
        return -1;
    const char *after = strrchr(buf, ')'); /* the name in between may hold anything */
    unsigned long long utime, stime;
    long hz = sysconf(_SC_CLK_TCK);
    if (after == NULL || hz <= 0 ||
        sscanf(after, ") %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
            2)
        return -1;
    return (int64_t)((utime + stime) * (1000000000ull / (unsigned long long)hz));
}

pid_t instance_monitor(const struct instance *in)
{
    return in->vmm_pid > 1 && instance_running(in) ? monitor_of(in) : 0;
}

/* A figure of the VMM's process plus its monitor's (a detached run's); -1 when the VM
 * does not run or the VMM's cannot be read. */
static int64_t vmm_and_monitor(const struct instance *in, int64_t (*figure)(pid_t))
{
    /* The VMM wrote its pid into state.json and holds the lock for as long as it lives:
     * while the lock is held, the pid is that VMM's. */
    if (in->vmm_pid <= 1 || !instance_running(in))
        return -1;
    int64_t v = figure(in->vmm_pid);
    pid_t monitor = v >= 0 ? monitor_of(in) : 0;
    int64_t more = monitor > 0 ? figure(monitor) : -1;
    return more > 0 ? v + more : v;
}

int64_t instance_pss_kib(const struct instance *in)
{
    return vmm_and_monitor(in, process_pss_kib);
}

int64_t instance_cpu_ns(const struct instance *in)
{
    return vmm_and_monitor(in, process_cpu_ns);
}

static bool valid_name(const char *name)
{
    /* docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
    if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') ||
          (name[0] >= '0' && name[0] <= '9')))
        return false;
    size_t n = strlen(name);
    if (n < 2 || n > 128)
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static void generate_name(char *out, size_t size)
{
    static const char *const adjectives[] = {"brave", "calm",   "eager", "fond",  "keen", "lucid",
                                             "merry", "nimble", "quiet", "swift", "tidy", "vivid"};
    static const char *const nouns[] = {"otter", "falcon", "lynx",   "heron", "badger", "marten",
                                        "ibex",  "wren",   "puffin", "gecko", "orca",   "tapir"};
    uint32_t r[3] = {0};
    if (getrandom(r, sizeof(r), 0) != sizeof(r))
        r[0] = (uint32_t)time(NULL), r[1] = (uint32_t)getpid(), r[2] = 0;
    snprintf(out, size, "%s_%s_%u", adjectives[r[0] % SM_ARRAY_SIZE(adjectives)],
             nouns[r[1] % SM_ARRAY_SIZE(nouns)], r[2] % 1000);
}

int instance_list(struct instance **out, size_t *n, sm_error_t *err)
{
    cleanup_free char *root = vms_root(err);
    if (root == NULL)
        return -1;
    DIR *d = opendir(root);
    if (d == NULL)
        return sm_error_set(err, errno, "%s", root);
    struct instance *list = NULL;
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strlen(e->d_name) != INSTANCE_ID_LEN ||
            strspn(e->d_name, "0123456789abcdef") != INSTANCE_ID_LEN)
            continue;
        struct instance in;
        sm_error_t ignored = NULL;
        /* A directory still being created (no config yet) or damaged: skip it. */
        if (instance_load(xasprintf("%s/%s", root, e->d_name), e->d_name, &in, &ignored) < 0) {
            sm_error_release(&ignored);
            continue;
        }
        list = xrealloc(list, (count + 1) * sizeof(*list));
        list[count++] = in;
    }
    closedir(d);
    /* Newest first, as docker ps. */
    for (size_t i = 1; i < count; i++)
        for (size_t j = i; j > 0 && list[j].created > list[j - 1].created; j--) {
            struct instance t = list[j];
            list[j] = list[j - 1];
            list[j - 1] = t;
        }
    *out = list;
    *n = count;
    return 0;
}

void instance_list_free(struct instance *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        instance_release(&list[i]);
    free(list);
}

int instance_find(const char *name_or_id, struct instance *out, sm_error_t *err)
{
    struct instance *list;
    size_t n;
    if (instance_list(&list, &n, err) < 0)
        return -1;
    ssize_t found = -1;
    size_t len = strlen(name_or_id);
    bool ambiguous = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].name, name_or_id) == 0 || strcmp(list[i].id, name_or_id) == 0) {
            found = (ssize_t)i;
            ambiguous = false;
            break;
        }
        if (len >= 1 && strncmp(list[i].id, name_or_id, len) == 0) {
            ambiguous = found >= 0;
            found = (ssize_t)i;
        }
    }
    if (found < 0 || ambiguous) {
        instance_list_free(list, n);
        return sm_error_set(err, 0, "%s: %s", name_or_id,
                            ambiguous ? "more than one VM has an id starting so" : "no such VM");
    }
    *out = list[found];
    memset(&list[found], 0, sizeof(list[found]));
    instance_list_free(list, n);
    return 0;
}

int instance_find_running(const char *name_or_id, const char *what, struct instance *out,
                          sm_error_t *err)
{
    if (instance_find(name_or_id, out, err) < 0)
        return sm_error_wrap(err, "%s", what);
    if (!instance_running(out)) {
        instance_release(out);
        return sm_error_set(err, 0, "%s %s: the VM is not running", what, name_or_id);
    }
    return 0;
}

/* For a new name (NULL: one to be generated): checks it, and takes the lock under which
 * names are chosen (<store>/vms/.lock), returning its descriptor to close and the
 * directory of the records in *root_out (malloc'd). */
static int names_lock(const char *name, char **root_out, sm_error_t *err)
{
    if (name && !valid_name(name))
        return sm_error_set(err, 0, "name %s: want [a-zA-Z0-9][a-zA-Z0-9_.-]+", name);
    char *root = vms_root(err);
    if (root == NULL)
        return -1;
    cleanup_free char *lock_path = xasprintf("%s/.lock", root);
    int lock = sm_lock_file(lock_path, true, err);
    if (lock < 0) {
        free(root);
        return -1;
    }
    *root_out = root;
    return lock;
}

int instance_rename(const char *name_or_id, const char *new_name, sm_error_t *err)
{
    cleanup_free char *root = NULL;
    int lock = names_lock(new_name, &root, err);
    if (lock < 0)
        return -1;
    struct instance in, *list = NULL;
    size_t n = 0;
    int r = -1;
    if (instance_find(name_or_id, &in, err) < 0) {
        close(lock);
        return -1;
    }
    bool taken = false;
    if (strcmp(in.name, new_name) == 0) {
        sm_error_set(err, 0, "%s: the VM is named %s already", name_or_id, new_name);
    } else if (instance_list(&list, &n, err) == 0) {
        for (size_t i = 0; i < n && !taken; i++)
            taken = strcmp(list[i].name, new_name) == 0;
        instance_list_free(list, n);
        if (taken) {
            sm_error_set(err, EEXIST, "name %s: already in use by a VM", new_name);
        } else {
            /* config.json as it is, but for its name: replaced whole (temp file + rename). */
            cleanup_free char *cfg_path = instance_path(&in, "config.json");
            json_object *cfg = read_json(cfg_path, err);
            if (cfg) {
                json_object_object_add(cfg, "name", json_object_new_string(new_name));
                r = write_json(cfg_path, cfg, err);
                json_object_put(cfg);
            }
        }
    }
    close(lock);
    instance_release(&in);
    return r;
}

int instance_find_unpaused(const char *name_or_id, const char *what, struct instance *out,
                           sm_error_t *err)
{
    if (instance_find_running(name_or_id, what, out, err) < 0)
        return -1;
    if (paused_marker(out)) { /* it runs: instance_find_running said so */
        instance_release(out);
        return sm_error_set(err, 0, "%s %s: the VM is paused (unpause it first)", what, name_or_id);
    }
    return 0;
}

/* The record's labels: "K=V" for each key of a then b ("K" alone: an empty value), a
 * later key's value replacing an earlier one's in its place. NULL when there are none. */
static char **merge_labels(const char *const *a, const char *const *b)
{
    size_t total = 0, n = 0;
    for (const char *const *v = a; v && *v; v++)
        total++;
    for (const char *const *v = b; v && *v; v++)
        total++;
    if (total == 0)
        return NULL;
    char **out = xcalloc(total + 1, sizeof(char *));
    for (int list = 0; list < 2; list++) {
        for (const char *const *v = list ? b : a; v && *v; v++) {
            size_t klen = strcspn(*v, "=");
            char *label = (*v)[klen] ? xstrdup(*v) : xasprintf("%s=", *v);
            size_t i = 0;
            while (i < n && !(strncmp(out[i], label, klen + 1) == 0))
                i++;
            if (i < n)
                free(out[i]);
            else
                n++;
            out[i] = label;
        }
    }
    return out;
}

int instance_create(const struct instance_spec *spec, struct instance *out, sm_error_t *err)
{
    const char *name = spec->name;
    cleanup_free char *root = NULL;
    int lock = names_lock(name, &root, err);
    if (lock < 0)
        return -1;
    char generated[64];
    struct instance *list;
    size_t n;
    if (instance_list(&list, &n, err) < 0) {
        close(lock);
        return -1;
    }
    for (int attempt = 0;; attempt++) {
        if (name == NULL)
            generate_name(generated, sizeof(generated));
        const char *want = name ? name : generated;
        bool taken = false;
        for (size_t i = 0; i < n && !taken; i++)
            taken = strcmp(list[i].name, want) == 0;
        if (!taken) {
            if (name == NULL)
                name = generated;
            break;
        }
        if (name != NULL && name != generated) {
            instance_list_free(list, n);
            close(lock);
            return sm_error_set(err, EEXIST, "name %s: already in use by a VM", name);
        }
        if (attempt > 100) {
            instance_list_free(list, n);
            close(lock);
            return sm_error_set(err, 0, "no free VM name");
        }
    }
    instance_list_free(list, n);

    uint8_t raw[INSTANCE_ID_LEN / 2];
    if (getrandom(raw, sizeof(raw), 0) != sizeof(raw)) {
        close(lock);
        return sm_error_set(err, errno, "getrandom");
    }
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out->id + 2 * i, 3, "%02x", raw[i]);
    out->dir = xasprintf("%s/%s", root, out->id);
    if (mkdir(out->dir, 0700) < 0) {
        int e = errno;
        close(lock);
        instance_release(out);
        return sm_error_set(err, e, "create VM directory");
    }
    out->name = xstrdup(name);
    out->image = xstrdup(spec->image);
    out->digest = xstrdup(spec->digest);
    out->command = xstrdup(spec->command ? spec->command : "");
    out->hostname = spec->hostname ? xstrdup(spec->hostname) : NULL;
    out->created = time(NULL);
    out->auto_remove = spec->auto_remove;
    out->stop_signal = spec->stop_signal ? xstrdup(spec->stop_signal) : NULL;
    out->restart = spec->restart ? xstrdup(spec->restart) : NULL;
    out->stop_timeout = spec->has_stop_timeout ? spec->stop_timeout : -1;
    json_object *extra = sm_json_array(spec->extra_hosts); /* NULL when there are none */
    out->extra_hosts = sm_json_strv(extra);
    json_object *tmpfs = sm_json_array(spec->tmpfs);
    out->tmpfs = sm_json_strv(tmpfs);
    json_object *dns = sm_json_array(spec->dns);
    json_object *dns_search = sm_json_array(spec->dns_search);
    json_object *dns_options = sm_json_array(spec->dns_options);
    out->dns = sm_json_strv(dns);
    out->dns_search = sm_json_strv(dns_search);
    out->dns_options = sm_json_strv(dns_options);
    out->read_only = spec->read_only;
    out->labels = merge_labels(spec->image_labels, spec->labels);
    json_object *labels = sm_json_array((const char *const *)out->labels);
    json_object *ulimits = sm_json_array(spec->ulimits);
    out->ulimits = sm_json_strv(ulimits);
    out->shm_size = spec->shm_size;
    json_object *env = sm_json_array(spec->env);
    out->env = sm_json_strv(env);
    out->user = spec->user ? xstrdup(spec->user) : NULL;
    out->workdir = spec->workdir ? xstrdup(spec->workdir) : NULL;
    out->status = xstrdup("created");

    json_object *cfg = json_object_new_object();
    json_object_object_add(cfg, "id", json_object_new_string(out->id));
    json_object_object_add(cfg, "name", json_object_new_string(out->name));
    json_object_object_add(cfg, "image", json_object_new_string(out->image));
    json_object_object_add(cfg, "digest", json_object_new_string(out->digest));
    json_object_object_add(cfg, "command", json_object_new_string(out->command));
    json_object_object_add(cfg, "created", json_object_new_int64(out->created));
    json_object_object_add(cfg, "auto_remove", json_object_new_boolean(out->auto_remove));
    if (out->hostname)
        json_object_object_add(cfg, "hostname", json_object_new_string(out->hostname));
    if (out->stop_signal)
        json_object_object_add(cfg, "stop_signal", json_object_new_string(out->stop_signal));
    if (out->restart)
        json_object_object_add(cfg, "restart", json_object_new_string(out->restart));
    if (out->stop_timeout >= 0)
        json_object_object_add(cfg, "stop_timeout", json_object_new_int(out->stop_timeout));
    if (extra)
        json_object_object_add(cfg, "extra_hosts", extra);
    if (tmpfs)
        json_object_object_add(cfg, "tmpfs", tmpfs);
    if (dns)
        json_object_object_add(cfg, "dns", dns);
    if (dns_search)
        json_object_object_add(cfg, "dns_search", dns_search);
    if (dns_options)
        json_object_object_add(cfg, "dns_options", dns_options);
    if (out->read_only)
        json_object_object_add(cfg, "read_only", json_object_new_boolean(1));
    if (labels)
        json_object_object_add(cfg, "labels", labels);
    if (ulimits)
        json_object_object_add(cfg, "ulimits", ulimits);
    if (out->shm_size)
        json_object_object_add(cfg, "shm_size", json_object_new_int64((int64_t)out->shm_size));
    if (env)
        json_object_object_add(cfg, "env", env);
    if (out->user)
        json_object_object_add(cfg, "user", json_object_new_string(out->user));
    if (out->workdir)
        json_object_object_add(cfg, "workdir", json_object_new_string(out->workdir));
    cleanup_free char *cfg_path = instance_path(out, "config.json");
    int r = write_json(cfg_path, cfg, err);
    json_object_put(cfg);
    /* The name is taken once config.json exists: only then let others look. */
    close(lock);
    if (r < 0) {
        sm_error_t ignored = NULL;
        instance_remove_dir(out, &ignored);
        sm_error_release(&ignored);
        instance_release(out);
        return -1;
    }
    return 0;
}

int instance_set_state(struct instance *in, const char *status, int exit_code, pid_t vmm_pid,
                       sm_error_t *err)
{
    json_object *st = json_object_new_object();
    json_object_object_add(st, "status", json_object_new_string(status));
    json_object_object_add(st, "exit_code", json_object_new_int(exit_code));
    json_object_object_add(st, "vmm_pid", json_object_new_int(vmm_pid));
    /* a restarting process's end too: ps shows "Restarting (1) 2 seconds ago" */
    int64_t finished =
        strcmp(status, "exited") == 0 || strcmp(status, "restarting") == 0 ? time(NULL) : 0;
    json_object_object_add(st, "finished", json_object_new_int64(finished));
    cleanup_free char *path = instance_path(in, "state.json");
    /* When the main process last started (docker's StartedAt, ps's "Up"): now for
     * "running" (the VMM's start, a restart), else what the file says (another process,
     * a restart's monitor, may have written it since this one loaded the record). */
    int64_t started = time(NULL);
    if (strcmp(status, "running") != 0) {
        json_object *old = json_object_from_file(path);
        started = old ? sm_json_int(old, "started") : 0;
        json_object_put(old);
    }
    json_object_object_add(st, "started", json_object_new_int64(started));
    int r = write_json(path, st, err);
    json_object_put(st);
    if (r == 0) {
        free(in->status);
        in->status = xstrdup(status);
        in->exit_code = exit_code;
        in->vmm_pid = vmm_pid;
        in->finished = finished;
        in->started = started;
    }
    return r;
}

/* The cgroup its VMM made (src/confine/confine_cgroup.c records the path in `cgroup`),
 * empty once the VMM has exited: removed with the VM. Only a directory of the cgroup2
 * filesystem named as the VMM names them. */
static void remove_cgroup(struct instance *in)
{
    cleanup_free char *record = instance_path(in, "cgroup");
    char *text = NULL;
    size_t len;
    sm_error_t ignored = NULL;
    if (sm_read_file(record, 4096, &text, &len, &ignored) == 0) {
        text[strcspn(text, "\n")] = '\0';
        const char *base = strrchr(text, '/');
        struct statfs fs;
        if (base && strncmp(base + 1, CONFINE_CGROUP_PREFIX, strlen(CONFINE_CGROUP_PREFIX)) == 0 &&
            statfs(text, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
            rmdir(text);
        free(text);
    }
    sm_error_release(&ignored);
}

int instance_remove_dir(struct instance *in, sm_error_t *err)
{
    remove_cgroup(in);
    /* Rename first, so a half-removed directory is never listed as a VM. */
    cleanup_free char *doomed = xasprintf("%s.removing", in->dir);
    if (rename(in->dir, doomed) < 0)
        return sm_error_set(err, errno, "remove %s", in->name ? in->name : in->id);
    return sm_remove_tree(doomed, err);
}

int instance_connect(const struct instance *in, const char *file, sm_error_t *err)
{
    int dirfd = open(in->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return sm_error_set(err, errno, "%s", in->dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd, file);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int r = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    close(dirfd);
    if (r < 0) {
        if (fd >= 0)
            close(fd);
        if (e == ENOENT && strcmp(file, NET_CONTROL_SOCKET) == 0)
            return sm_error_set(err, 0, "the VM has no network (--network none)");
        return sm_error_set(err, e, "connect to %s", file);
    }
    return fd;
}

int instance_request(const struct instance *in, const char *file, const char *request,
                     int timeout_ms, char *reply, size_t size, sm_error_t *err)
{
    int fd = instance_connect(in, file, err);
    if (fd < 0)
        return -1;
    char line[NET_CONTROL_LINE];
    int n = snprintf(line, sizeof(line), "%s\n", request);
    if (n < 0 || (size_t)n >= sizeof(line) || sm_send_all(fd, line, (size_t)n) < 0) {
        close(fd);
        return sm_error_set(err, errno, "%s did not take the request", file);
    }
    size_t got = 0;
    uint64_t deadline = sm_now_ns() + (uint64_t)timeout_ms * 1000000;
    while (got < sizeof(line) - 1) {
        uint64_t now = sm_now_ns();
        if (now >= deadline)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)((deadline - now) / 1000000) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        ssize_t r = read(fd, line + got, sizeof(line) - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (memchr(line, '\n', got))
            break;
    }
    close(fd);
    line[got] = '\0';
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "ok", 2) == 0 && (line[2] == '\0' || line[2] == ' ')) {
        snprintf(reply, size, "%s", line[2] ? line + 3 : "");
        return 0;
    }
    if (strncmp(line, "error ", 6) == 0)
        return sm_error_set(err, 0, "%s", line + 6);
    return sm_error_set(err, 0, "%s gave no answer", file);
}
