/* The host side of the agent protocol (docs/protocol.md): reach a guest's agent through
 * its VMM's hybrid vsock socket, run a process attached to local descriptors, power the
 * guest off. The agent is part of the guest, so nothing it sends is trusted: frames are
 * bounded and checked by agent_proto, statuses range-checked. */
#ifndef SM_AGENT_CLIENT_H
#define SM_AGENT_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/agent_proto.h"
#include "common/error.h"

struct agent_conn {
    int fd;
    struct agent_decoder dec;
};

/* How long callers wait for the agent of a VM that is already running (exec, cp, kill,
 * port). It answers in milliseconds; a loaded host (20 VMs on 2 cores, or the emulated
 * test host) was seen to need more than 5 s. A VM that stops ends the wait at once
 * (agent_connect_while), so only a hung guest waits this long. */
#define AGENT_RUNNING_TIMEOUT_MS 30000

/* Connects to port `port` of the guest behind the hybrid vsock socket at uds_path
 * (Firecracker's CONNECT/OK handshake), retrying until the guest listens or timeout_ms
 * pass (the VM may still be booting). */
int agent_connect(const char *uds_path, uint32_t port, int timeout_ms, struct agent_conn *c,
                  sm_error_t *err);
/* The same, giving up early once alive(arg) says the VM is gone. */
int agent_connect_while(const char *uds_path, uint32_t port, int timeout_ms, bool (*alive)(void *),
                        void *arg, struct agent_conn *c, sm_error_t *err);
/* Connects straight to an agent serving a Unix socket (`sm-init --listen unix:PATH`, for
 * tests on the host): no CONNECT handshake. */
int agent_connect_unix(const char *path, struct agent_conn *c, sm_error_t *err);
void agent_close(struct agent_conn *c);

/* What a hello sets up in the guest besides its clock and entropy. */
struct agent_hello_setup {
    const char *hostname; /* NULL: leave it */
    /* docker's --add-host: the nhosts of hosts, none when nhosts is 0; hosts NULL: leave
     * them */
    const struct agent_host_entry *hosts;
    size_t nhosts;
    bool read_only;           /* docker's --read-only */
    uint64_t shm_size;        /* docker's --shm-size, bytes; 0: leave /dev/shm as it is */
    const char *const *tmpfs; /* docker's --tmpfs specs (agent_tmpfs.h); NULL: none */
    /* docker's --dns (the whole list of servers), --dns-search, --dns-option
     * (agent_dns.h), each NULL-terminated; dns_set false: leave /etc/resolv.conf */
    bool dns_set;
    const char *const *dns, *const *dns_search, *const *dns_options;
};
/* Sets the guest's wall clock to ours and feeds its entropy pool (after a restore both
 * are the snapshot's), applies setup (NULL: nothing), and checks the agent's protocol
 * version. -1 when the exchange failed; -2 when the guest answered that it could not
 * apply setup (a mount that failed), with its reason. */
int agent_hello(struct agent_conn *c, const struct agent_hello_setup *setup, int timeout_ms,
                sm_error_t *err);

/* What the guest reported about a process that ran. */
struct agent_exit_stats {
    int64_t peak_rss_kib; /* -1: not reported */
    int64_t duration_ms;  /* -1: not reported */
    bool timed_out;       /* killed at the request's timeout */
};

struct agent_exec_request {
    const char *const *argv;
    const char *const *env;
    const char *cwd;
    const char *user;
    bool tty;
    bool stdin_open;
    unsigned rows, cols;
    uint64_t timeout_ms;   /* 0: none; else the guest kills the process (status 137) */
    uint64_t output_limit; /* out/err files (O_APPEND) kept under this (sm_capped_log) */
    /* Optional, with output_limit: a file that gets the times of out's lines
     * (sm_capped_log_times); docker logs -t and --since read it. */
    const char *output_times;
    /* Optional: a log file (O_APPEND) that gets a copy of the output, kept under
     * copy_limit, the times of its lines in copy_times (optional too): an attached run's
     * output.log, which `logs` reads afterwards, as docker keeps an attached container's.
     * Failing to write it does not fail the process's session. */
    const char *copy_to, *copy_times;
    uint64_t copy_limit;
    /* docker's --ulimit specs (agent_ulimit.h) set on the process; NULL: none */
    const char *const *ulimits;
    /* Optional: called with the guest pid once the process runs. */
    void (*on_started)(void *arg, int pid);
    void *arg;
    struct agent_exit_stats *stats; /* optional: filled at the exit */
    /* A kept process outlives this connection (docs/protocol.md); with snapshot_on (a
     * trigger, "listen:80") and marker (the console line the VMM snapshots on) the guest
     * freezes it when the trigger fires and agent_exec returns 1 on its HELD frame. */
    bool keep;
    const char *snapshot_on;
    const char *marker;
};

/* Runs a process and pumps: in_fd (-1: none) to its stdin, its stdout/stderr to out_fd
 * and err_fd; signal_fd (-1: none) carries one byte per signal to pass on (SIGWINCH
 * means "resize to out_fd's window size"). Returns once the process ended and its output
 * was written; *status is docker's (128+N for signal N). */
int agent_exec(struct agent_conn *c, const struct agent_exec_request *req, int in_fd, int out_fd,
               int err_fd, int signal_fd, int *status, sm_error_t *err);
/* Continues the session of the VM's kept process on this connection (after a restore, or
 * after agent_exec returned 1): thaws it, then as agent_exec from STARTED on (req gives
 * the callbacks, the output limit and tty; argv and the rest are not used). */
int agent_attach(struct agent_conn *c, const struct agent_exec_request *req, int in_fd, int out_fd,
                 int err_fd, int signal_fd, int *status, sm_error_t *err);

/* Signals a guest process by pid (pid > 1). */
int agent_signal(struct agent_conn *c, int pid, int sig, int timeout_ms, sm_error_t *err);
/* Streams in_fd to a new file at the guest's absolute path (written beside it and renamed
 * into place), owned by uid:gid with mode. */
int agent_write_file(struct agent_conn *c, const char *path, unsigned mode, unsigned uid,
                     unsigned gid, int in_fd, sm_error_t *err);
/* Streams a tar read from in_fd into the guest, which extracts it into its existing
 * directory dir, every file and directory owned by uid:gid. */
int agent_write_tar(struct agent_conn *c, const char *dir, unsigned uid, unsigned gid, int in_fd,
                    sm_error_t *err);
/* Copies a tar of the guest's path (a file, a directory with everything under it, or a
 * symlink) to out_fd, its top entry named top ("": a directory's contents). The bytes
 * are the guest's: whoever reads them must not trust them. */
int agent_read_tar(struct agent_conn *c, const char *path, const char *top, int out_fd,
                   sm_error_t *err);
/* What is at the guest's path, symlinks followed. */
enum agent_path_type { AGENT_PATH_NONE, AGENT_PATH_FILE, AGENT_PATH_DIR, AGENT_PATH_OTHER };
int agent_stat(struct agent_conn *c, const char *path, enum agent_path_type *type, int timeout_ms,
               sm_error_t *err);
/* Copies the guest's regular file at path to out_fd; more than max_bytes is an error. */
int agent_read_file(struct agent_conn *c, const char *path, int out_fd, uint64_t max_bytes,
                    uint64_t *size, sm_error_t *err);
struct agent_port {
    uint16_t port;
    char address[46]; /* as the guest printed it: "0.0.0.0", "::", "127.0.0.1" */
};
/* The guest's listening TCP sockets, as its kernel lists them. */
int agent_ports(struct agent_conn *c, struct agent_port **ports, size_t *n, int timeout_ms,
                sm_error_t *err);
/* The guest's PORTS answer (hostile JSON) into a malloc'd list: entries that are not a port
 * and a plain address are dropped. Pure: what agent_ports and the fuzz target run. */
int agent_ports_parse(json_object *j, struct agent_port **ports, size_t *n, sm_error_t *err);

/* docker top and stats: the guest's processes (PROCESSES frames) into a malloc'd list
 * (procs NULL: none asked for, only counted), free it with sm_process_list_free; and its
 * totals into usage's guest fields (optional; the host's fields are left alone). More
 * than AGENT_PROCESSES_MAX processes is an error. */
#define AGENT_PROCESSES_MAX 65536
int agent_processes(struct agent_conn *c, struct sm_process **procs, size_t *n,
                    struct sm_vm_usage *usage, int timeout_ms, sm_error_t *err);
/* Pure parts, what agent_processes and the fuzz target run over the guest's JSON: one
 * process (false: not one; p is then empty), and the totals of the EXIT that ends the
 * list (a field missing or out of range: -1). */
bool agent_process_parse(json_object *j, struct sm_process *p);
void agent_usage_parse(json_object *j, struct sm_vm_usage *u);

/* Low level: the next frame, waiting until the deadline (agent_now_ms() based). */
int64_t agent_now_ms(void);
int agent_read_frame(struct agent_conn *c, int64_t deadline, uint8_t *type, const uint8_t **payload,
                     size_t *len, sm_error_t *err);
/* The next frame's JSON if it is a `want` frame (ERROR: an error with its message;
 * anything else: an error). */
json_object *agent_read_answer(struct agent_conn *c, uint8_t want, int timeout_ms, sm_error_t *err);

/* Asks the guest to power off (no answer comes: the VM ends). */
int agent_poweroff(struct agent_conn *c, sm_error_t *err);

#endif
