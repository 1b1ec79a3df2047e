/* supermachine: run OCI images as KVM microVMs.
 *
 * This is the library's only public header. Every function that can fail takes a
 * `sm_error_t *err` as its last argument, returns a negative value (or NULL) on
 * failure and stores a message there that chains its causes, outermost first:
 *   "pull 127.0.0.1:5000/x: fetch manifest: manifest unknown"
 * Release it with sm_error_release(). Functions are thread-safe unless noted.
 */
#ifndef SUPERMACHINE_H
#define SUPERMACHINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SM_VERSION "0.1.0"

/* ---- errors ------------------------------------------------------------ */

struct sm_error {
    int errno_value; /* the errno behind the failure, or 0 */
    int exit_status; /* what a CLI should exit with: 125 unless a more specific one applies */
    char *msg;       /* the whole chained message, without the "supermachine: " prefix */
};
typedef struct sm_error *sm_error_t;

/* Records a failure: message formatted from fmt, with ": strerror(errno_value)" appended
 * when errno_value is non-zero. Returns -1 so callers can `return sm_error_set(...)`.
 * If *err already holds an error it is replaced. */
int sm_error_set(sm_error_t *err, int errno_value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes an existing error with more context: "context: previous". Returns -1. */
int sm_error_wrap(sm_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sm_error_message(sm_error_t err);
void sm_error_release(sm_error_t *err);

/* ---- store ------------------------------------------------------------- */

/* The store's root: $SUPERMACHINE_HOME, else $XDG_DATA_HOME/supermachine, else
 * ~/.local/share/supermachine. Returns a malloc'd string. */
char *sm_store_root(sm_error_t *err);

/* ---- images ------------------------------------------------------------ */

/* Images live in the store (docs/store-layout.md). A reference is what docker accepts:
 * "busybox", "busybox:1.36", "host:port/ns/name:tag", "name@sha256:<hex>"; local
 * operations also take an image ID (the config digest, or a unique hex prefix). */

struct sm_pull_options {
    const char *platform; /* "os/arch[/variant]"; NULL: the host's */
    int progress;         /* per-layer progress on stderr: -1 if stderr is a TTY, 0 never,
                           * 1 always */
};

/* Pulls an image from its registry into the store (credentials from
 * ~/.docker/config.json). On success *digest_out, if given, gets the platform manifest's
 * digest (malloc'd). Safe to run concurrently with other pulls of the same image. */
int sm_image_pull(const char *ref, const struct sm_pull_options *opts, char **digest_out,
                  sm_error_t *err);

/* Imports a `docker save` tarball or an OCI layout archive (tar, optionally compressed).
 * *names_out (if not NULL) gets a NULL-terminated array of the references loaded, as
 * docker prints them ("busybox:latest", "example.com/x:1"; "sha256:<id>" for an untagged
 * image); free with sm_strv_free. */
int sm_image_load(const char *path, char ***names_out, sm_error_t *err);

struct sm_image_info {
    char *reference;  /* canonical, e.g. "docker.io/library/busybox:latest"; NULL: untagged */
    char *repository; /* as docker shows it: "busybox", "127.0.0.1:5000/x"; "<none>" */
    char *tag;        /* "latest", "<none>" */
    char *id;         /* image ID: the config digest "sha256:<hex>" */
    char *manifest_digest;
    int64_t created; /* from the config, unix time; 0 if absent */
    uint64_t size;   /* sum of the layer blobs */
};
int sm_image_list(struct sm_image_info **out, size_t *n, sm_error_t *err);
void sm_image_list_free(struct sm_image_info *list, size_t n);

/* Removes a reference (or, given an image ID, every reference to that image), then
 * collects the blobs and root filesystem images nothing needs any more. *removed_out, if
 * given, gets the references removed (NULL-terminated; sm_strv_free). */
int sm_image_remove(const char *ref, char ***removed_out, sm_error_t *err);

/* docker tag: names the image that ref names (a reference, an image ID or a manifest
 * digest) also target, a reference with no digest in it; an image target named before is
 * left with its other names, if any. */
int sm_image_tag(const char *ref, const char *target, sm_error_t *err);

/* Docker-style inspect object (Id, RepoTags, RepoDigests, Created, Architecture, Os,
 * Config, RootFS, Size, ...) as a JSON string; malloc'd. */
int sm_image_inspect(const char *ref, char **json_out, sm_error_t *err);

/* Writes the image's flattened filesystem to fd as a tar stream. */
int sm_image_export(const char *ref, int fd, sm_error_t *err);

/* Path of the image's read-only root filesystem (EROFS), built and cached on first use.
 * The image must be in the store (pull it first). *path_out is malloc'd. */
int sm_image_rootfs(const char *ref, char **path_out, sm_error_t *err);

/* The image config fields a VM needs. String arrays are NULL-terminated; absent scalar
 * fields are NULL. */
struct sm_image_config {
    char *id; /* config digest */
    char *manifest_digest;
    char **entrypoint;
    char **cmd;
    char **env; /* "K=V" */
    char *working_dir;
    char *user;
    char *stop_signal;
    char **exposed_ports; /* "80/tcp" */
    char **labels;        /* "K=V", the config's Labels (string values only) */
};
int sm_image_config(const char *ref, struct sm_image_config **out, sm_error_t *err);
void sm_image_config_free(struct sm_image_config *c);

void sm_strv_free(char **v);

/* ---- the store's disk use (docker system df, docker system prune) ---------- */

/* One kind of thing the store keeps: how many, how many in use, the disk space they
 * take (allocated blocks: a snapshot's sparse memory file counts what it holds), and how
 * much of it sm_system_prune would free. */
struct sm_disk_usage_kind {
    int64_t total, active;
    int64_t bytes, reclaimable;
};
struct sm_disk_usage {
    /* images: index entries (active: named by a VM's record), their blobs; vms:
     * records (active: running), their logs; snapshots: init-ready and workload
     * snapshots (active: a running VM's); caches: root filesystem images, initramfs
     * files and downloads in progress (active: a running VM's). */
    struct sm_disk_usage_kind images, vms, snapshots, caches;
};
int sm_system_df(struct sm_disk_usage *out, sm_error_t *err);

struct sm_prune_options {
    int all; /* docker's -a: also images no VM's record names */
};
/* What a prune removed, each list NULL-terminated (never NULL). */
struct sm_prune_report {
    char **vms;        /* ids of ended VMs */
    char **snapshots;  /* snapshot directories' names */
    char **caches;     /* cache files' names */
    char **images;     /* references removed (with all) */
    int64_t reclaimed; /* bytes */
};
/* Removes what nothing running needs, all of which the store makes again on demand:
 * the records of VMs that ended; every snapshot and cache no running VM uses (the next
 * run of an image boots and bakes its snapshot again); with opts->all, images no VM's
 * record names (and then their blobs). Runs, pulls and loads wait meanwhile. */
int sm_system_prune(const struct sm_prune_options *opts, struct sm_prune_report *out,
                    sm_error_t *err);
void sm_prune_report_free(struct sm_prune_report *r);

/* ---- bare kernel boot ------------------------------------------------------ */

/* Boots a kernel with its console on the given descriptors, in the calling process, and
 * returns when the guest stops. The process becomes the VMM (it creates threads). */
struct sm_boot_options {
    const char *kernel;  /* bzImage; NULL: the store's default guest kernel */
    const char *initrd;  /* NULL: none */
    const char *append;  /* extra kernel command line */
    const char *disk;    /* NULL, or a disk image shown read-only as /dev/vda (virtio-blk) */
    unsigned cpus;       /* 0: 1 */
    uint64_t memory_mib; /* 0: 512 */
    int console_in;      /* -1: none */
    int console_out;     /* -1: discard */
    int console_raw;     /* console_in is a raw-mode terminal: Ctrl-A x quits */
    int stop_fd;         /* -1 or a descriptor that, once readable, stops the guest
                          * (e.g. a pipe written from a signal handler) */
    /* Snapshot: when snapshot_when ("console:TEXT") fires, save into snapshot_dir and
     * stop the guest (SM_GUEST_SNAPSHOT). */
    const char *snapshot_dir;
    const char *snapshot_when;
    int snapshot_continue; /* after saving, let the guest run on instead of stopping */
    /* Restore: resume the guest saved in this snapshot directory instead of booting
     * (kernel, when given, must be the one the snapshot was made from). */
    const char *restore_dir;
    /* NULL, or a Unix socket path for a virtio-vsock device (guest CID 3): host clients
     * connect to it and write "CONNECT <port>\n"; the guest's connections to host port P
     * go to "<vsock_path>_<P>" (docs/vsock.md). A restore makes its socket here. */
    const char *vsock_path;
};

enum sm_guest_exit {
    SM_GUEST_POWEROFF,
    SM_GUEST_REBOOT,
    SM_GUEST_PANIC,
    SM_GUEST_TRIPLE_FAULT,
    SM_GUEST_STOPPED,  /* stopped from the host side */
    SM_GUEST_SNAPSHOT, /* saved into a snapshot as asked */
};

struct sm_boot_result {
    enum sm_guest_exit exit;
    char message[512]; /* what happened, e.g. the panic line */
};

int sm_boot(const struct sm_boot_options *opts, struct sm_boot_result *result, sm_error_t *err);

/* The default guest kernel (Debian's, in the store; fetched on first use without root):
 * malloc'd paths of its bzImage and of its modules tree. */
int sm_kernel_default(char **vmlinuz, char **modules_dir, sm_error_t *err);

/* Parses a size with an optional b/k/m/g suffix (docker's "-m 512m") into bytes. */
int sm_parse_size(const char *s, uint64_t *bytes);

/* ---- running images as microVMs ------------------------------------------ */

/* What `supermachine run` does: pulls the image if the store lacks it, flattens it into a
 * read-only root, boots it (or restores its init-ready snapshot, baking one on the first
 * run) in a VMM process of its own and runs the image's Entrypoint + Cmd (overridable)
 * through the guest agent. */
struct sm_run_options {
    const char *image;             /* reference */
    const char *name;              /* NULL: generated ("brave_otter_12") */
    const char *const *cmd;        /* NULL: the image's Cmd; replaces it */
    const char *const *entrypoint; /* NULL: the image's; an empty array clears it */
    const char *const *env;        /* "K=V" on top of the image's Env */
    const char *workdir;           /* NULL: the image's WorkingDir, else / */
    const char *user;              /* NULL: the image's User, else root */
    unsigned cpus;                 /* 0: 1 */
    uint64_t memory_mib;           /* 0: 512 */
    int tty;                       /* give the process a terminal (docker -t) */
    int interactive;               /* keep stdin open (docker -i) */
    /* Return once the process runs; its output goes to the VM's log. A monitor process
     * holds it meanwhile: supermachine-vmm started afresh (posix_spawn), never a fork of
     * this program, so it holds none of this program's descriptors (docs/run.md). */
    int detach;
    int auto_remove;                    /* remove the VM's record when it ends (docker --rm) */
    int no_snapshot;                    /* boot from scratch, neither using nor baking a snapshot */
    int stdin_fd, stdout_fd, stderr_fd; /* attached runs */
    /* Attached runs: pass SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2 and SIGWINCH
     * received by this process to the main process while it runs (docker's sig-proxy).
     * This installs process-wide signal handlers for the duration: leave it 0 in a
     * program that runs VMs from several threads. */
    int forward_signals;
    /* Network (docs/networking.md). NULL or "user": a user-mode network (libslirp in the
     * VM's own process): the guest is 10.0.2.15/24 (and fd00::15/64), its gateway
     * 10.0.2.2, its DNS 10.0.2.3 forwarding to this host's resolvers. "none": loopback
     * only. */
    const char *network;
    /* Ports to publish, docker's -p: "[IP:][HOSTPORT:]GUESTPORT[/tcp|/udp]" (HOSTPORT
     * absent or 0: any free port; IP absent: every interface, 0.0.0.0). A host port in
     * use fails the run (125). */
    const char *const *publish;
    /* Let the guest reach this host's loopback (at the gateway, 10.0.2.2 and fd00::2)
     * and link-local addresses (cloud metadata services); closed by default. */
    int allow_host_loopback;
    /* Egress rules, "CIDR[:PORT[-PORT]][/tcp|/udp]" (an IPv6 CIDR in brackets when a port
     * follows). A new outbound connection, datagram or ping is refused if a deny rule
     * matches, or if allow rules exist and none matches. DNS to 10.0.2.3 is always
     * allowed; the host (10.0.2.2) needs allow_host_loopback first, then the rules. */
    const char *const *egress_allow;
    const char *const *egress_deny;
    /* Workload-ready snapshot (docs/snapshot-workload.md): NULL, or when the main process
     * is ready: "listen:PORT" (a TCP socket in the guest listens on PORT, as its kernel
     * says), "console:TEXT" (TEXT in the process's output), "idle[:MS]" (under 2% of a
     * CPU for MS ms, default 1000), "after:MS". The first run with these settings waits
     * for it, freezes the process, saves the VM and goes on; later runs restore that
     * snapshot with the process already running (its output from then on). Not with
     * tty, interactive or no_snapshot. */
    const char *snapshot_on;
    /* docker's -P: publish every port the image exposes (its ExposedPorts), each on a
     * free host port (sm_vm_published_ports says which). */
    int publish_all;
    /* The guest's hostname (docker's -h), also in its /etc/hostname and /etc/hosts: 1 to
     * 63 letters, digits, '-' and '.'. NULL: the first 12 characters of the VM's id. */
    const char *hostname;
    /* docker's --stop-signal, kept in the VM's record: what sm_vm_stop sends the main
     * process unless told otherwise, a name or number as sm_parse_signal takes it. NULL:
     * the image's StopSignal, else SIGTERM. */
    const char *stop_signal;
    /* docker's --stop-timeout, kept in the VM's record: with stop_timeout_set, the
     * seconds (0 to 86400) sm_vm_stop waits after the signal before it stops the VM
     * outright, unless told otherwise; without it, 10. */
    int stop_timeout_set;
    int stop_timeout;
    /* docker's --add-host, kept in the VM's record: "HOST:IP" or "HOST=IP" lines for the
     * guest's /etc/hosts (HOST a host name, IP an IPv4 or IPv6 address, the latter also
     * in brackets; "host-gateway": this host as the guest reaches it, 10.0.2.2, which
     * needs a network). NULL-terminated, at most 256; NULL: none. */
    const char *const *extra_hosts;
    /* docker's --read-only, kept in the VM's record: the image's root is read-only for
     * every process of the VM; /dev, /dev/shm, /run, /proc and the tmpfs mounts stay
     * writable. */
    int read_only;
    /* docker's --tmpfs, kept in the VM's record: "PATH[:OPTIONS]", a tmpfs mounted on
     * PATH before the main process runs (docs/run.md: the options, and the defaults
     * nosuid,nodev,noexec,mode=1777). NULL-terminated, at most 16; NULL: none. */
    const char *const *tmpfs;
    /* docker's --dns, --dns-search and --dns-option, kept in the VM's record: the guest's
     * /etc/resolv.conf names these servers (IPv4 or IPv6 addresses, at most 8; none given:
     * the VM's own resolver, 10.0.2.3, when it has a network), search domains (at most 6,
     * "." for none) and resolver options ("ndots:2", "rotate"; at most 16). Each
     * NULL-terminated; NULL: none. With none of them the guest's file is the default. */
    const char *const *dns;
    const char *const *dns_search;
    const char *const *dns_options;
    /* docker's --label, kept in the VM's record with its image's labels (a run's label
     * replaces the image's of the same key): "K=V", or "K" for an empty value. K is 1 to
     * 256 characters, neither holds a control character. NULL-terminated, at most 1024;
     * NULL: none. sm_vm_info.labels and inspect's Config.Labels show them. */
    const char *const *labels;
    /* docker's --pull: "missing" (NULL: the same) pulls the image only when the store
     * lacks it, "always" pulls it first whatever the store holds, "never" uses the
     * store's or fails. */
    const char *pull;
    /* docker's --cidfile: a file, which must not exist yet, that gets the VM's id (64 hex
     * digits, no newline) once its record exists; NULL: none. */
    const char *cidfile;
    /* docker's --ulimit, kept in the VM's record: "NAME=SOFT[:HARD]" (NAME: core, cpu,
     * data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime,
     * sigpending, stack; -1: unlimited), set on every process of the VM, the main one and
     * each exec's. NULL-terminated, at most 16, one per NAME; NULL: none. */
    const char *const *ulimits;
    /* docker's --shm-size, kept in the VM's record: the size of the guest's /dev/shm in
     * bytes (a tmpfs; rounded up to pages); 0: the tmpfs default, half the guest's RAM. */
    uint64_t shm_size;
    /* docker's --restart, kept in the VM's record, for detached runs: "no" (NULL: the
     * same), "on-failure[:MAX]" (its main process is started again in the same VM when
     * it exits with a status other than 0, MAX times at most; 0 or none: no limit),
     * "always" or "unless-stopped" (whatever its status). Each restart waits 100 ms,
     * doubled after each one up to 1 minute, back to 100 ms once the process ran 10 s;
     * the VM, its files and its ports stay. sm_vm_stop ends it for good, as does the VM
     * ending (a guest panic). Refused with auto_remove, and for attached runs. */
    const char *restart;
};
/* Runs a VM. Attached: returns when the main process ends, *exit_status its status
 * (docker's: 128+N for a signal). Detached: returns once it runs. *id_out (optional):
 * the VM's id, malloc'd. */
int sm_run(const struct sm_run_options *opts, char **id_out, int *exit_status, sm_error_t *err);

/* Bakes the workload-ready snapshot of a run (opts as for sm_run, snapshot_on required;
 * tty, interactive, detach and the descriptors' stdin ignored): runs the main process
 * until snapshot_on fires, saves the VM and stops it. The process's output meanwhile goes
 * to opts->stdout_fd/stderr_fd (-1: discarded). Nothing to do when the snapshot exists
 * (*baked_out 0; 1 when this call made it). *dir_out (optional, malloc'd): its
 * directory. */
int sm_bake(const struct sm_run_options *opts, int *baked_out, char **dir_out, sm_error_t *err);

struct sm_vm_info {
    char id[65];
    char *name;
    char *image;
    char *command;
    char *status;     /* "created", "running", "paused", "exited" */
    int exit_code;    /* when exited */
    int64_t created;  /* unix seconds */
    int64_t finished; /* unix seconds, 0 while running */
    int64_t started;  /* unix seconds its main process last (re)started; 0 if unknown */
    int64_t pss_kib;  /* the VM's proportional set size (its VMM process, guest RAM
                       * included; shared snapshot pages split among the clones
                       * mapping them); -1 when not running */
    char **labels;    /* "K=V": its image's labels, then its run's (the latter win) */
};
int sm_vm_list(struct sm_vm_info **out, size_t *n, sm_error_t *err);
/* A VM's record as a JSON object (malloc'd), with docker inspect's keys where they mean
 * the same: Id, Name, Created, Image, ImageDigest, Command, State (Status, Running,
 * Paused, Restarting, ExitCode, Pid: its VMM's, StartedAt: its main process's last
 * start, FinishedAt), RestartCount, Config (Hostname, Image, StopSignal: the run's,
 * else the image's, absent if neither; StopTimeout: the run's, absent if not given;
 * Labels: the image's and the run's, {} if none), HostConfig (Cpus, MemoryMiB,
 * NetworkMode, AutoRemove, RestartPolicy {Name, MaximumRetryCount}, ExtraHosts:
 * --add-host's as given, null if none; ReadonlyRootfs; Tmpfs: path to options, null if
 * none; Dns, DnsSearch, DnsOptions: the run's, [] if none), NetworkSettings (Ports as
 * docker's), MemoryPssKiB (-1 when it is not running). */
int sm_vm_inspect(const char *name_or_id, char **json_out, sm_error_t *err);
void sm_vm_list_free(struct sm_vm_info *list, size_t n);
/* docker stop's options. */
#define SM_STOP_TIMEOUT_VM  (-1)  /* timeout_s: the VM's own (its run's stop_timeout), else 10 */
#define SM_STOP_TIMEOUT_MAX 86400 /* seconds of grace at most (run's stop_timeout too) */
struct sm_stop_options {
    const char *signal; /* a name or number (sm_parse_signal); NULL: the VM's own (its run's
                         * stop_signal), else its image's StopSignal, else SIGTERM */
    int timeout_s;      /* the grace period, 0 to 86400 seconds, or SM_STOP_TIMEOUT_VM */
};
/* Stops a VM as docker stop does: the signal to its main process (a VM without one, a
 * pool's, is asked to power off), then, if it still runs after the grace period, the VM
 * is stopped outright (its exit code 137). opts NULL: every default. A VM that does not
 * run is left as it is. */
int sm_vm_stop_with(const char *name_or_id, const struct sm_stop_options *opts, sm_error_t *err);
/* docker restart for a running detached run: its main process is stopped as
 * sm_vm_stop_with stops it (the signal, the grace period, then SIGKILL), and its monitor
 * starts it again in the same VM (its files, ports and other processes stay); returns once
 * the new process runs. The VM's restart policy (sm_run_options.restart) does not count
 * it. An attached run's VM is refused (its CLI holds the main process), as is one that
 * does not run (a VM's state ends with it: run it again). */
int sm_vm_restart(const char *name_or_id, const struct sm_stop_options *opts, sm_error_t *err);
/* sm_vm_stop_with with the VM's own signal and a grace period of timeout_s seconds
 * (more than 86400 counts as 86400). */
int sm_vm_stop(const char *name_or_id, unsigned timeout_s, sm_error_t *err);
/* Removes a stopped VM's record (force: stop it first). */
int sm_vm_remove(const char *name_or_id, int force, sm_error_t *err);
/* Copies the VM's main process output (stdout and stderr as they came) to fd. */
int sm_vm_logs(const char *name_or_id, int fd, sm_error_t *err);
/* The same with docker logs' options. */
struct sm_logs_options {
    int follow;          /* then go on copying new output until the VM stops (-f) */
    int tail;            /* nonzero: begin with only the last tail_lines lines (--tail) */
    uint64_t tail_lines; /* 0 with tail set: none of what was written so far */
    /* docker's -t: each line begins with the time it arrived, RFC 3339 in UTC with
     * nanoseconds ("2026-12-06T16:56:57.123456789Z ") */
    int timestamps;
    /* docker's --since and --until: only lines that arrived at or after since_ns, at or
     * before until_ns (unix nanoseconds; 0: no bound). --tail counts lines before these
     * apply, as docker's. */
    int64_t since_ns, until_ns;
};
int sm_vm_logs_with(const char *name_or_id, int fd, const struct sm_logs_options *opts,
                    sm_error_t *err);

/* What a process cost, as the guest measured it. */
struct sm_process_stats {
    int64_t peak_rss_kib; /* the process's peak resident set (its largest child's
                           * counts only once waited for); -1: not reported */
    int64_t duration_ms;  /* from start to exit; -1: not reported */
    int timed_out;        /* killed at the timeout (exit status 137) */
};

struct sm_exec_options {
    const char *const *argv;
    const char *const *env; /* "K=V" on top of the image's Env */
    const char *workdir;
    const char *user;
    int tty, interactive;
    int stdin_fd, stdout_fd, stderr_fd;
    uint64_t timeout_ms;            /* 0: none; else the process is killed (137) */
    struct sm_process_stats *stats; /* optional: filled when the process ends */
    int forward_signals;            /* as in sm_run_options */
    /* docker exec -d: return once the process runs (exit status 0), its output
     * discarded and stdin, tty and forward_signals ignored; a process that could not
     * start (126, 127) gives its status at once. The process goes on after this
     * program exits, until it ends or the VM stops. */
    int detach;
};
/* Runs another process in a running VM; *exit_status as for sm_run. */
int sm_vm_exec(const char *name_or_id, const struct sm_exec_options *opts, int *exit_status,
               sm_error_t *err);

/* Sends a signal to the VM's main process (docker kill). */
int sm_vm_kill(const char *name_or_id, int sig, sm_error_t *err);
/* docker pause and unpause: parks a running VM's vCPUs (its guest stops, its host-side
 * devices go on: connections to its published ports wait), and lets them go on. While
 * paused, its status is "paused", exec and file calls are refused, and stop and kill let
 * it go on first. Its clock is right at once when it goes on (kvmclock follows the
 * host's). Pausing a paused VM, or unpausing one that is not, is an error. */
int sm_vm_pause(const char *name_or_id, sm_error_t *err);
/* docker rename: gives a VM, running or not, another name (valid as run's --name, and
 * unused); its hostname stays. */
int sm_vm_rename(const char *name_or_id, const char *new_name, sm_error_t *err);
int sm_vm_unpause(const char *name_or_id, sm_error_t *err);
/* Waits until the VM stops (timeout_ms < 0: for ever); *exit_code: its main process's
 * status. ETIMEDOUT in the error if it did not. */
int sm_vm_wait(const char *name_or_id, int timeout_ms, int *exit_code, sm_error_t *err);

/* Files in a running VM, at absolute guest paths. A written file appears whole (written
 * beside its destination, then renamed), owned by root with the given mode; the parent
 * directory must exist. */
int sm_vm_write_file(const char *name_or_id, const char *guest_path, const void *data, size_t len,
                     unsigned mode, sm_error_t *err);
int sm_vm_copy_in(const char *name_or_id, const char *guest_path, int in_fd, unsigned mode,
                  sm_error_t *err);
/* Reads a regular file of at most max_bytes into *data (malloc'd, NUL-terminated beyond
 * *len for convenience). */
int sm_vm_read_file(const char *name_or_id, const char *guest_path, size_t max_bytes, void **data,
                    size_t *len, sm_error_t *err);
int sm_vm_copy_out(const char *name_or_id, const char *guest_path, int out_fd, sm_error_t *err);
/* docker cp: a file, symlink or whole directory between this host and a running VM, with
 * docker's rules (docs/run.md): into an existing directory under its own name, else as
 * the destination; "DIR/." for a directory's contents; a directory never onto a file.
 * Into the VM, files and directories belong to root and keep their modes and times; out
 * of it, to the caller, without set-id bits, and the copy appears whole or not at all
 * (extracted beside the destination, then moved in). */
int sm_vm_cp_in(const char *name_or_id, const char *local_path, const char *guest_path,
                sm_error_t *err);
int sm_vm_cp_out(const char *name_or_id, const char *guest_path, const char *local_path,
                 sm_error_t *err);
/* The same as tar streams (docker cp - VM:DIR, docker cp VM:PATH -): a tar read from in_fd
 * extracted into the VM's existing directory; a tar of the VM's path (its top entry named
 * as the path's last component) written to out_fd. The bytes out_fd receives are the
 * guest's, unchecked. */
int sm_vm_tar_in(const char *name_or_id, int in_fd, const char *guest_dir, sm_error_t *err);
int sm_vm_tar_out(const char *name_or_id, const char *guest_path, int out_fd, sm_error_t *err);

/* TCP ports listening inside the guest, as its kernel lists them. */
struct sm_port {
    uint16_t port;
    char address[46]; /* "0.0.0.0", "::", "127.0.0.1", ... */
};
int sm_vm_ports(const char *name_or_id, struct sm_port **ports, size_t *n, sm_error_t *err);

/* docker top: a process of a running VM's guest, as its kernel reports it: the
 * workload's and its execs', not supermachine's own part of the guest (sm-init, its
 * agent) nor kernel threads. All of it is the guest's word: numbers range-checked,
 * strings bounded, control characters in them replaced by '?'. */
struct sm_process {
    int pid, ppid;         /* the guest's */
    int64_t uid, gid;      /* effective; -1 if unknown */
    char *user;            /* the uid's name in the guest's /etc/passwd, else the number */
    char state;            /* proc(5)'s: R, S, D, Z, T, I, ... */
    char tty[16];          /* "pts/0", "ttyS0", "?" */
    int64_t start_unix_ms; /* when it started, by the guest's clock */
    int64_t cpu_ms;        /* its user and system time */
    int64_t rss_kib, vsz_kib;
    int64_t threads;
    char *comm; /* its name (the kernel keeps 15 bytes of it) */
    char *args; /* its command line, arguments joined by spaces; "" if none
                 * (a zombie) */
};
/* docker stats: what a running VM uses. The host's figures, then the guest's (-1 where
 * it reported none). */
struct sm_vm_usage {
    int64_t cpu_ns;  /* CPU time of its VMM process (vCPUs, devices) and of a detached
                      * run's monitor, on this host, since they started */
    int64_t pss_kib; /* as sm_vm_info's */
    int64_t mem_total_kib, mem_available_kib;    /* the guest's MemTotal and MemAvailable */
    int64_t net_rx_bytes, net_tx_bytes;          /* by its interfaces but loopback */
    int64_t block_read_bytes, block_write_bytes; /* by its disks */
    int64_t processes;                           /* as many as sm_vm_processes lists */
    int64_t cpus;                                /* online in the guest */
    int64_t uptime_ms; /* the guest's (a restored VM's counts from its snapshot's boot) */
};
/* The processes of a running VM's guest into a malloc'd list (procs NULL: none listed),
 * and (usage not NULL) what the VM uses. A paused VM is refused. */
int sm_vm_processes(const char *name_or_id, struct sm_process **procs, size_t *n,
                    struct sm_vm_usage *usage, sm_error_t *err);
void sm_process_list_free(struct sm_process *procs, size_t n);

/* Ports published on the host for a running VM (by its run's publish, or sm_vm_publish). */
struct sm_published_port {
    char proto[4];         /* "tcp" or "udp" */
    char host_address[46]; /* "0.0.0.0", "127.0.0.1", "::" */
    uint16_t host_port;
    uint16_t guest_port;
};
int sm_vm_published_ports(const char *name_or_id, struct sm_published_port **ports, size_t *n,
                          sm_error_t *err);
/* Publishes a port of a running VM (spec as in sm_run_options.publish); *bound_out
 * (optional, malloc'd): the mapping as bound, "0.0.0.0:8080:80/tcp". */
int sm_vm_publish(const char *name_or_id, const char *spec, char **bound_out, sm_error_t *err);
/* Stops publishing: spec names the mapping as published (its host port may be left out
 * or 0 when only one mapping has that address, guest port and protocol). */
int sm_vm_unpublish(const char *name_or_id, const char *spec, sm_error_t *err);
/* A TCP connection from this program to a port the guest listens on, without publishing
 * anything on the host (it goes through a Unix socket private to the VM). Returns the
 * connected socket (the caller closes it), or -1. If nothing listens there, the
 * connection is accepted and then closed by the guest's reset: a read returns 0. */
int sm_vm_connect(const char *name_or_id, uint16_t guest_port, sm_error_t *err);

/* ---- warm pools (docs/pool.md) ---------------------------------------------- */

/* A pool keeps VMs of one image ready so that sm_pool_acquire hands one out at once.
 * Its VMs are idle: restored from the image's init-ready snapshot (baked by the first one
 * when there is none), with no main process; the agent answers (sm_vm_exec, sm_vm_copy_in,
 * sm_vm_publish, ... work on them) and they run until stopped. Each is a VM record like
 * any other (sm_vm_list shows it, its command "(pool NAME)"), in a VMM process that is a
 * child of this process and ends when this process does. */
struct sm_pool_options {
    /* Every VM's: image (required), memory_mib, cpus, network, allow_host_loopback,
     * egress_allow, egress_deny, no_snapshot. What belongs to a main process or to one VM
     * (name, hostname, cmd, entrypoint, env, workdir, user, tty, interactive, detach,
     * auto_remove, publish, stop_signal, stop_timeout, extra_hosts) is refused: publish
     * ports on an acquired VM with sm_vm_publish. */
    const struct sm_run_options *run;
    const char *name;        /* NULL: "pool"; names the pool in errors and its VMs' command */
    unsigned min;            /* VMs kept ready (not handed out) */
    unsigned max;            /* VMs alive at most, whatever their state; 0: min (at least 1) */
    unsigned idle_timeout_s; /* ready VMs beyond min (replacements of released ones) are
                              * stopped after this long unused; 0: never */
};
struct sm_pool;

/* Checks the options, resolves the image (pulling it if the store lacks it) and starts
 * the pool's thread, which starts VMs in the background until min are ready; returns
 * without waiting for them. */
int sm_pool_create(const struct sm_pool_options *opts, struct sm_pool **out, sm_error_t *err);
/* Hands out a ready VM (its agent answered): *name_out, malloc'd, is its name, which every
 * sm_vm_* call takes. The pool starts another in the background. When none is ready it
 * waits up to timeout_ms (< 0: for ever, 0: not at all) for one to become ready or, at
 * max, to be released; ETIMEDOUT in the error if none did. */
int sm_pool_acquire(struct sm_pool *pool, int timeout_ms, char **name_out, sm_error_t *err);
/* Gives back a VM acquired from this pool (by name or id); returns at once, the rest
 * happens in the background. Without discard the VM is reset to its snapshot in place
 * (its VMM reverts guest memory and device state, ends its vsock connections and network
 * flows, withdraws ports published since, and its agent sets clock, RNG and hostname
 * again) and is ready again, under the same name; if that fails, it is stopped and a
 * fresh VM takes its place. With discard it is stopped and its record removed, and the
 * pool only refills to min. docs/pool.md. */
int sm_pool_release(struct sm_pool *pool, const char *name_or_id, int discard, sm_error_t *err);
struct sm_pool_stats {
    unsigned ready, in_use, starting, stopping;
    unsigned min, max, idle_timeout_s;
};
void sm_pool_stats(struct sm_pool *pool, struct sm_pool_stats *out);
/* Stops every VM of the pool, handed out or not, and removes their records. Threads
 * waiting in sm_pool_acquire return an error; no call on the pool may start once this
 * one has. */
void sm_pool_destroy(struct sm_pool *pool);

/* "TERM", "SIGTERM", "15", "RTMIN+3" -> the signal number. */
int sm_parse_signal(const char *text, int *sig, sm_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
