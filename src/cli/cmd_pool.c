/* supermachine pool: warm pools of idle VMs (docs/pool.md). `pool serve` owns one (the
 * library's sm_pool, which needs a process that lives) and serves it on the Unix socket
 * <store>/pools/NAME.sock; `pool acquire`, `release` and `ls` are its clients.
 * Wire: the client sends one request line, the server answers one line:
 *   acquire TIMEOUT_MS        -> ok VM
 *   release 0|1 VM            -> ok            (1: discard)
 *   status                    -> ok ready=N in_use=N starting=N stopping=N min=N max=N
 *                                   idle_timeout=S image=REF
 * or "err MESSAGE" (one line, "pool NAME: why"). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"

#define POOL_LINE_MAX    1024
#define POOL_MAX_CLIENTS 128
/* A server handler looks this often whether its client left or the server stops. */
#define POOL_SLICE_MS 200

void cmd_pool_usage(FILE *out)
{
    fprintf(out,
            "Usage: supermachine pool serve [OPTIONS] NAME IMAGE\n"
            "       supermachine pool acquire [--timeout SECS] NAME\n"
            "       supermachine pool release [--discard] NAME VM\n"
            "       supermachine pool ls\n\n"
            "A warm pool keeps VMs of one image ready (idle: restored from the image's\n"
            "snapshot, no main process), so that `acquire` hands one out in milliseconds.\n"
            "Use it with exec, cp and port; give it back with `release`: it is reset to\n"
            "the snapshot in place (files, processes, connections and ports published\n"
            "since are gone) and is ready again under the same name.\n\n"
            "pool serve: runs the pool in the foreground until SIGINT or SIGTERM (then stops\n"
            "every VM of the pool, handed out or not; killed, its VMs end with it).\n"
            "  --min N                VMs kept ready (default 1)\n"
            "  --max N                VMs alive at most, handed out or not (default: the\n"
            "                         larger of min and 4)\n"
            "  --idle-timeout SECS    ready VMs beyond min are stopped after this long unused\n"
            "                         (default 60; 0: never)\n"
            "  -m, --memory SIZE      each VM's memory, e.g. 512m (default 512m)\n"
            "      --cpus N           each VM's virtual CPUs (default 1)\n"
            "      --network MODE     user (the default) or none\n"
            "      --allow-host-loopback, --egress-allow RULE, --egress-deny RULE\n"
            "                         as for run (see 'supermachine run --help')\n"
            "      --no-snapshot      boot every VM from scratch (slow)\n\n"
            "pool acquire: prints the name of a ready VM, now handed out to you; waits up to\n"
            "  --timeout SECS (default 60; fractions allowed) when none is ready.\n"
            "pool release: gives VM back (--discard: it is stopped and removed instead, and\n"
            "the pool only refills to min).\n"
            "pool ls: the served pools with their VM counts.\n\n"
            "Errors: one line, \"supermachine: pool NAME: why\", exit status 125.\n");
}

static bool valid_pool_name(const char *name)
{
    size_t n = strlen(name);
    return n >= 1 && n <= 64 && name[0] != '.' && name[0] != '-' &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* <store>/pools, created if need be, as an O_PATH descriptor: socket paths go through
 * /proc/self/fd/N/NAME.sock, as Unix socket paths are short (108 bytes). */
static int open_pools_dir(sm_error_t *err)
{
    char *store = sm_store_root(err);
    if (store == NULL)
        return -1;
    char path[4096];
    snprintf(path, sizeof(path), "%s/pools", store);
    free(store);
    /* The store itself may not exist yet: each missing directory on the way. */
    for (char *slash = strchr(path + 1, '/');; slash = strchr(slash + 1, '/')) {
        if (slash)
            *slash = '\0';
        int r = mkdir(path, 0700);
        if (slash)
            *slash = '/';
        if (r < 0 && errno != EEXIST)
            return sm_error_set(err, errno, "%s", path);
        if (slash == NULL)
            break;
    }
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return sm_error_set(err, errno, "%s", path);
    return fd;
}

static void socket_address(int dirfd, const char *name, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s.sock", dirfd, name);
}

/* Reads one line (without its newline) of at most size-1 bytes. */
static int read_line(int fd, char *buf, size_t size)
{
    size_t got = 0;
    while (got < size - 1) {
        ssize_t r = read(fd, buf + got, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        if (buf[got] == '\n') {
            buf[got] = '\0';
            return 0;
        }
        got++;
    }
    return -1;
}

/* ---- pool serve ---------------------------------------------------------------- */

struct server {
    struct sm_pool *pool;
    const char *name, *image;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    unsigned clients; /* handler threads alive */
    bool closing;
};

struct client {
    struct server *srv;
    int fd;
};

static bool closing(struct server *s)
{
    pthread_mutex_lock(&s->lock);
    bool c = s->closing;
    pthread_mutex_unlock(&s->lock);
    return c;
}

static bool client_left(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Waits in slices, so that a client that left or a server that stops ends the wait. */
static void serve_acquire(struct server *s, int fd, long timeout_ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sm_error_t err = NULL;
    char *vm = NULL;
    for (;;) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long waited = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        long left = timeout_ms < 0 ? POOL_SLICE_MS : timeout_ms - waited;
        if (left < 0)
            left = 0;
        sm_error_release(&err);
        if (sm_pool_acquire(s->pool, (int)(left < POOL_SLICE_MS ? left : POOL_SLICE_MS), &vm,
                            &err) == 0)
            break;
        if (err->errno_value != ETIMEDOUT || (timeout_ms >= 0 && left <= POOL_SLICE_MS))
            break;
        if (closing(s) || client_left(fd)) {
            sm_error_release(&err);
            sm_error_set(&err, 0, "pool %s: the pool is closing", s->name);
            break;
        }
    }
    if (vm == NULL) {
        dprintf(fd, "err %s\n", sm_error_message(err));
        sm_error_release(&err);
        return;
    }
    if (dprintf(fd, "ok %s\n", vm) < 0) /* the client left (EPIPE): not handed out */
        sm_pool_release(s->pool, vm, 1, &err);
    sm_error_release(&err);
    free(vm);
}

static void serve_request(struct server *s, int fd, char *req)
{
    sm_error_t err = NULL;
    char vm[256];
    int discard;
    long ms;
    char extra;
    if (sscanf(req, "acquire %ld %c", &ms, &extra) == 1) {
        serve_acquire(s, fd, ms);
    } else if (sscanf(req, "release %d %255s %c", &discard, vm, &extra) == 2) {
        if (sm_pool_release(s->pool, vm, discard, &err) < 0)
            dprintf(fd, "err %s\n", sm_error_message(err));
        else
            dprintf(fd, "ok\n");
    } else if (strcmp(req, "status") == 0) {
        struct sm_pool_stats st;
        sm_pool_stats(s->pool, &st);
        dprintf(fd,
                "ok ready=%u in_use=%u starting=%u stopping=%u min=%u max=%u "
                "idle_timeout=%u image=%s\n",
                st.ready, st.in_use, st.starting, st.stopping, st.min, st.max, st.idle_timeout_s,
                s->image);
    } else {
        dprintf(fd, "err pool %s: unknown request\n", s->name);
    }
    sm_error_release(&err);
}

static void *serve_client(void *arg)
{
    struct client *c = arg;
    struct server *s = c->srv;
    char req[POOL_LINE_MAX];
    if (read_line(c->fd, req, sizeof(req)) == 0) {
        if (closing(s))
            dprintf(c->fd, "err pool %s: the pool is closing\n", s->name);
        else
            serve_request(s, c->fd, req);
    }
    close(c->fd);
    free(c);
    pthread_mutex_lock(&s->lock);
    s->clients--;
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void accept_client(struct server *s, int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    /* A client that sends nothing does not hold a thread for long. */
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    pthread_mutex_lock(&s->lock);
    bool full = s->clients >= POOL_MAX_CLIENTS;
    if (!full)
        s->clients++;
    pthread_mutex_unlock(&s->lock);
    if (full) {
        dprintf(fd, "err pool %s: too many clients at once\n", s->name);
        close(fd);
        return;
    }
    struct client *c = malloc(sizeof(*c));
    pthread_t t;
    if (c == NULL) {
        abort();
    }
    *c = (struct client){s, fd};
    if (pthread_create(&t, NULL, serve_client, c) != 0) {
        close(fd);
        free(c);
        pthread_mutex_lock(&s->lock);
        s->clients--;
        pthread_mutex_unlock(&s->lock);
        return;
    }
    pthread_detach(t);
}

static int parse_count(const char *opt, const char *arg, unsigned max, unsigned *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*arg == '\0' || *end || v < 0 || v > (long)max) {
        cli_usage_error("pool serve: %s %s: want a number from 0 to %u", opt, arg, max);
        return -1;
    }
    *out = (unsigned)v;
    return 1;
}

enum {
    OPT_MIN = 256,
    OPT_MAX,
    OPT_IDLE,
};

/* Parses serve's options into o, po; returns -1 if they are fine, else the exit status. */
static int serve_options(int argc, char **argv, struct sm_run_options *o,
                         struct sm_pool_options *po, struct cli_vm_lists *lists)
{
    static const struct option longopts[] = {
        {"min", required_argument, NULL, OPT_MIN},
        {"max", required_argument, NULL, OPT_MAX},
        {"idle-timeout", required_argument, NULL, OPT_IDLE},
        CLI_VM_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    bool max_given = false;
    int c, r;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":m:", longopts, NULL)) != -1) {
        if (c == OPT_MIN)
            r = parse_count("--min", optarg, 1024, &po->min);
        else if (c == OPT_MAX)
            r = parse_count("--max", optarg, 1024, &po->max), max_given = true;
        else if (c == OPT_IDLE)
            r = parse_count("--idle-timeout", optarg, 86400 * 365, &po->idle_timeout_s);
        else if ((r = cli_vm_option("pool serve", c, optarg, o, lists)) == 0)
            return cli_option_error("pool serve", c, argv);
        if (r < 0)
            return 125;
    }
    if (argc - optind != 2)
        return cli_usage_error("pool serve: want NAME and IMAGE; see 'supermachine pool --help'");
    po->name = argv[optind];
    o->image = argv[optind + 1];
    if (!valid_pool_name(po->name))
        return cli_usage_error("pool %s: want a name of [a-zA-Z0-9_.-], 64 at most", po->name);
    if (!max_given)
        po->max = po->min > 4 ? po->min : 4;
    if (po->max < po->min || po->max == 0)
        return cli_usage_error("pool %s: --max %u: want at least 1 and at least --min (%u)",
                               po->name, po->max, po->min);
    return -1;
}

/* The lock says whether a server lives (a stale socket after a crash does not). */
static int take_pool_lock(int dirfd, const char *name, sm_error_t *err)
{
    char file[128];
    snprintf(file, sizeof(file), "%s.lock", name);
    int fd = openat(dirfd, file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return sm_error_set(err, errno, "pool %s: lock", name);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        return e == EWOULDBLOCK ? sm_error_set(err, 0, "pool %s: already served", name)
                                : sm_error_set(err, e, "pool %s: lock", name);
    }
    return fd;
}

static int listen_pool(int dirfd, const char *name, sm_error_t *err)
{
    char file[128];
    snprintf(file, sizeof(file), "%s.sock", name);
    unlinkat(dirfd, file, 0); /* stale: we hold the lock, so no server uses it */
    struct sockaddr_un sa;
    socket_address(dirfd, name, &sa);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return sm_error_set(err, e, "pool %s: socket", name);
    }
    return fd;
}

static int pool_serve(int argc, char **argv)
{
    struct sm_run_options o = {.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
    struct sm_pool_options po = {.run = &o, .min = 1, .idle_timeout_s = 60};
    struct cli_vm_lists lists = {0};
    int status = serve_options(argc, argv, &o, &po, &lists);
    if (status >= 0)
        goto out;
    status = 125;
    /* Signals become readable on a signalfd; every thread (the pool's, the handlers')
     * inherits the mask. The VMMs get an empty one (vmm_spawn). */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &stop, SFD_CLOEXEC);
    sm_error_t err = NULL;
    int dirfd = open_pools_dir(&err), lock = -1, lfd = -1;
    struct server s = {.name = po.name, .image = o.image};
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.idle, NULL);
    if (dirfd < 0 || (lock = take_pool_lock(dirfd, po.name, &err)) < 0 ||
        sm_pool_create(&po, &s.pool, &err) < 0 || (lfd = listen_pool(dirfd, po.name, &err)) < 0) {
        status = cli_fail(&err);
        goto done;
    }
    printf("pool %s: serving %s (min %u, max %u, idle timeout %u s)\n", po.name, o.image, po.min,
           po.max, po.idle_timeout_s);
    fflush(stdout);
    bool announced = false;
    for (;;) {
        struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        int n = poll(p, 2, 1000);
        if (n < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (p[0].revents & POLLIN)
            accept_client(&s, lfd);
        struct sm_pool_stats st;
        sm_pool_stats(s.pool, &st);
        if (!announced && st.ready >= po.min) {
            printf("pool %s: %u ready\n", po.name, st.ready);
            fflush(stdout);
            announced = true;
        }
    }
    status = 0;
    /* No new client; the handlers end (acquirers within a slice), then the VMs. */
    close(lfd);
    char file[128];
    snprintf(file, sizeof(file), "%s.sock", po.name);
    unlinkat(dirfd, file, 0);
    pthread_mutex_lock(&s.lock);
    s.closing = true;
    while (s.clients > 0)
        pthread_cond_wait(&s.idle, &s.lock);
    pthread_mutex_unlock(&s.lock);
    printf("pool %s: stopping its VMs\n", po.name);
    fflush(stdout);
done:
    sm_pool_destroy(s.pool);
    if (lock >= 0)
        close(lock);
    if (dirfd >= 0)
        close(dirfd);
    if (sfd >= 0)
        close(sfd);
out:
    free(lists.allow);
    free(lists.deny);
    return status;
}

/* ---- the clients ------------------------------------------------------------------- */

/* Sends one request to the pool's server and returns its answer after "ok" (malloc'd). */
static int pool_request(const char *name, const char *request, int timeout_s, char **answer,
                        sm_error_t *err)
{
    if (!valid_pool_name(name))
        return sm_error_set(err, 0, "pool %s: no such pool (names are [a-zA-Z0-9_.-])", name);
    int dirfd = open_pools_dir(err);
    if (dirfd < 0)
        return sm_error_wrap(err, "pool %s", name);
    struct sockaddr_un sa;
    socket_address(dirfd, name, &sa);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        close(dirfd);
        if (e == ENOENT || e == ECONNREFUSED)
            return sm_error_set(err, 0,
                                "pool %s: not served (start it with 'supermachine pool serve "
                                "%s IMAGE')",
                                name, name);
        return sm_error_set(err, e, "pool %s: connect", name);
    }
    close(dirfd);
    struct timeval tv = {.tv_sec = timeout_s};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char line[POOL_LINE_MAX];
    snprintf(line, sizeof(line), "%s\n", request);
    int r;
    if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0 || read_line(fd, line, sizeof(line)) < 0)
        r = sm_error_set(err, 0, "pool %s: the server did not answer", name);
    else if (strncmp(line, "err ", 4) == 0)
        r = sm_error_set(err, 0, "%s", line + 4);
    else if (strcmp(line, "ok") == 0 || strncmp(line, "ok ", 3) == 0)
        r = 0, *answer = strdup(line[2] ? line + 3 : "");
    else
        r = sm_error_set(err, 0, "pool %s: a bad answer from its server", name);
    close(fd);
    return r;
}

static int pool_acquire(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    double secs = 60;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:t:", longopts, NULL)) != -1) {
        char *end;
        if (c != 't')
            return cli_option_error("pool acquire", c, argv);
        if ((secs = strtod(optarg, &end), *end) || !(secs >= 0) || secs > 86400)
            return cli_usage_error("pool acquire: --timeout SECS (0 to 86400); see "
                                   "'supermachine pool --help'");
    }
    if (argc - optind != 1)
        return cli_usage_error("pool acquire: want NAME; see 'supermachine pool --help'");
    char request[64], *vm = NULL;
    snprintf(request, sizeof(request), "acquire %ld", (long)(secs * 1000 + 0.5));
    sm_error_t err = NULL;
    if (pool_request(argv[optind], request, (int)secs + 30, &vm, &err) < 0)
        return cli_fail(&err);
    printf("%s\n", vm);
    free(vm);
    return 0;
}

static int pool_release(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"discard", no_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    int discard = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:d", longopts, NULL)) != -1) {
        if (c != 'd')
            return cli_option_error("pool release", c, argv);
        discard = 1;
    }
    if (argc - optind != 2)
        return cli_usage_error("pool release: want NAME and VM; see 'supermachine pool --help'");
    char request[POOL_LINE_MAX], *answer = NULL;
    snprintf(request, sizeof(request), "release %d %.256s", discard, argv[optind + 1]);
    sm_error_t err = NULL;
    if (pool_request(argv[optind], request, 30, &answer, &err) < 0)
        return cli_fail(&err);
    free(answer);
    return 0;
}

static int pool_ls(int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error("pool ls: unexpected argument '%s'", argv[1]);
    sm_error_t err = NULL;
    int dirfd = open_pools_dir(&err);
    if (dirfd < 0)
        return cli_fail(&err);
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    close(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL)
        return cli_usage_error("pool ls: %s", strerror(errno));
    printf("%-20s %-32s %6s %7s %9s %4s %4s\n", "POOL", "IMAGE", "READY", "IN USE", "STARTING",
           "MIN", "MAX");
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".sock") != 0)
            continue;
        char name[128], *answer = NULL, image[512];
        snprintf(name, sizeof(name), "%.*s", (int)(n - 5), e->d_name);
        unsigned ready, in_use, starting, stopping, min, max, idle;
        /* A socket no server answers on is what a killed one left: not listed. */
        if (pool_request(name, "status", 5, &answer, &err) < 0) {
            sm_error_release(&err);
            continue;
        }
        if (sscanf(answer,
                   "ready=%u in_use=%u starting=%u stopping=%u min=%u max=%u "
                   "idle_timeout=%u image=%511s",
                   &ready, &in_use, &starting, &stopping, &min, &max, &idle, image) == 8)
            printf("%-20s %-32s %6u %7u %9u %4u %4u\n", name, image, ready, in_use, starting, min,
                   max);
        free(answer);
    }
    closedir(d);
    return 0;
}

int cmd_pool(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("pool: want serve, acquire, release or ls; see "
                               "'supermachine pool --help'");
    const char *sub = argv[1];
    if (strcmp(sub, "serve") == 0)
        return pool_serve(argc - 1, argv + 1);
    if (strcmp(sub, "acquire") == 0)
        return pool_acquire(argc - 1, argv + 1);
    if (strcmp(sub, "release") == 0)
        return pool_release(argc - 1, argv + 1);
    if (strcmp(sub, "ls") == 0)
        return pool_ls(argc - 1, argv + 1);
    return cli_usage_error("pool: '%s' is not a pool command; see 'supermachine pool --help'", sub);
}
