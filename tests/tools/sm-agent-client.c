/* sm-agent-client SOCKET [-t] [-i] [-u USER] [-w DIR] [-e K=V]... -- ARGV...: runs one
 * process through an agent serving a Unix socket (sm-init --listen unix:SOCKET) with the
 * library's client, attached to this process's stdio; exits with its status.
 * --timeout MS kills it after MS; --stats prints "rss_kib=N duration_ms=N timed_out=B"
 * on stderr at the end. Instead of ARGV: --poweroff; --write PATH (stdin to a new file,
 * mode 0640); --read PATH (to stdout); --ports ("ADDRESS PORT" lines); --signal SIG:PID.
 * --processes ("PID PPID USER STATE ARGS" lines, then "totals K=V..."), as `top` gets them.
 * --keep starts a kept process (it outlives this connection); --attach (no ARGV)
 * continues the kept process's session. SOCKET "vsock:CID" reaches a guest's agent
 * through AF_VSOCK (a QEMU guest with vhost-vsock, for bench/snapshot's anchor).
 * For tests/e2e/agent-host.sh. */
#include <errno.h>
#include <getopt.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent_client.h"

static int sigpipe_fds[2];

/* The agent's port at a vsock CID: the guest's listener, no hybrid handshake. */
static int connect_vsock(unsigned cid, struct agent_conn *c, sm_error_t *err)
{
    memset(c, 0, sizeof(*c));
    struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = AGENT_PORT};
    c->fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        int e = errno;
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        return sm_error_set(err, e, "connect vsock:%u", cid);
    }
    agent_decoder_init(&c->dec);
    return 0;
}

static void on_sig(int sig)
{
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(sigpipe_fds[1], &b, 1);
    (void)w;
}

int main(int argc, char **argv)
{
    struct agent_exec_request req = {.cwd = "/", .user = "0"};
    const char **env = calloc((size_t)argc + 2, sizeof(char *));
    size_t nenv = 0;
    bool poweroff = false;
    int c;
    env[nenv++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    static const struct option lo[] = {{"poweroff", no_argument, NULL, 'P'},
                                       {"write", required_argument, NULL, 'W'},
                                       {"read", required_argument, NULL, 'R'},
                                       {"ports", no_argument, NULL, 'O'},
                                       {"signal", required_argument, NULL, 'S'},
                                       {"timeout", required_argument, NULL, 'T'},
                                       {"stats", no_argument, NULL, 'X'},
                                       {"keep", no_argument, NULL, 'K'},
                                       {"attach", no_argument, NULL, 'A'},
                                       {"processes", no_argument, NULL, 'L'},
                                       {NULL, 0, NULL, 0}};
    const char *write_path = NULL, *read_path = NULL, *signal_spec = NULL;
    bool ports = false, print_stats = false, attach = false, processes = false;
    struct agent_exit_stats stats;
    while ((c = getopt_long(argc, argv, "+tiu:w:e:", lo, NULL)) != -1) {
        switch (c) {
        case 't':
            req.tty = true;
            break;
        case 'i':
            req.stdin_open = true;
            break;
        case 'u':
            req.user = optarg;
            break;
        case 'w':
            req.cwd = optarg;
            break;
        case 'e':
            env[nenv++] = optarg;
            break;
        case 'P':
            poweroff = true;
            break;
        case 'W':
            write_path = optarg;
            break;
        case 'R':
            read_path = optarg;
            break;
        case 'O':
            ports = true;
            break;
        case 'S':
            signal_spec = optarg;
            break;
        case 'T':
            req.timeout_ms = strtoull(optarg, NULL, 10);
            break;
        case 'K':
            req.keep = true;
            break;
        case 'A':
            attach = true;
            break;
        case 'L':
            processes = true;
            break;
        case 'X':
            print_stats = true;
            req.stats = &stats;
            break;
        default:
            return 125;
        }
    }
    bool no_argv =
        poweroff || write_path || read_path || ports || signal_spec || attach || processes;
    if (optind >= argc || (!no_argv && optind + 1 >= argc)) {
        fprintf(stderr, "usage: sm-agent-client SOCKET [-t] [-i] [-u U] [-w D] [-e K=V] ARGV...\n");
        return 125;
    }
    req.argv = (const char *const *)&argv[optind + 1];
    req.env = env;
    req.rows = 33;
    req.cols = 101;
    sm_error_t err = NULL;
    struct agent_conn conn;
    int status = 125;
    int connected = strncmp(argv[optind], "vsock:", 6) == 0
                        ? connect_vsock((unsigned)strtoul(argv[optind] + 6, NULL, 10), &conn, &err)
                        : agent_connect_unix(argv[optind], &conn, &err);
    if (connected < 0 || agent_hello(&conn, NULL, 5000, &err) < 0)
        goto fail;
    if (poweroff) {
        if (agent_poweroff(&conn, &err) < 0)
            goto fail;
        agent_close(&conn);
        free(env);
        return 0;
    }
    if (write_path || read_path || ports || signal_spec || processes) {
        int r;
        if (write_path) {
            r = agent_write_file(&conn, write_path, 0640, (unsigned)getuid(), (unsigned)getgid(), 0,
                                 &err);
        } else if (read_path) {
            r = agent_read_file(&conn, read_path, 1, UINT64_MAX, NULL, &err);
        } else if (ports) {
            struct agent_port *list;
            size_t n;
            r = agent_ports(&conn, &list, &n, 5000, &err);
            for (size_t i = 0; r == 0 && i < n; i++)
                printf("%s %u\n", list[i].address, list[i].port);
            if (r == 0)
                free(list);
        } else if (processes) {
            struct sm_process *list;
            struct sm_vm_usage u;
            size_t n;
            r = agent_processes(&conn, &list, &n, &u, 5000, &err);
            for (size_t i = 0; r == 0 && i < n; i++)
                printf("%d %d %s %c %s\n", list[i].pid, list[i].ppid, list[i].user, list[i].state,
                       list[i].args);
            if (r == 0) {
                printf("totals processes=%lld cpus=%lld mem_total_kib=%lld net_rx_bytes=%lld\n",
                       (long long)u.processes, (long long)u.cpus, (long long)u.mem_total_kib,
                       (long long)u.net_rx_bytes);
                sm_process_list_free(list, n);
            }
        } else {
            int sig = 0, pid = 0;
            sscanf(signal_spec, "%d:%d", &sig, &pid);
            r = agent_signal(&conn, pid, sig, 5000, &err);
        }
        if (r < 0)
            goto fail;
        agent_close(&conn);
        free(env);
        return 0;
    }
    if (pipe(sigpipe_fds) < 0)
        return 125;
    signal(SIGTERM, on_sig);
    signal(SIGINT, on_sig);
    if ((attach ? agent_attach(&conn, &req, -1, 1, 2, sigpipe_fds[0], &status, &err)
                : agent_exec(&conn, &req, req.stdin_open ? 0 : -1, 1, 2, sigpipe_fds[0], &status,
                             &err)) < 0)
        goto fail;
    if (print_stats)
        fprintf(stderr, "rss_kib=%lld duration_ms=%lld timed_out=%s\n",
                (long long)stats.peak_rss_kib, (long long)stats.duration_ms,
                stats.timed_out ? "true" : "false");
    agent_close(&conn);
    free(env);
    return status;
fail:
    free(env);
    fprintf(stderr, "sm-agent-client: %s\n", sm_error_message(err));
    sm_error_release(&err);
    return 125;
}
