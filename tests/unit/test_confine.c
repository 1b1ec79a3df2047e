/* The VMM's confinement (src/confine) against the real kernel: in a child process per
 * case, the process-wide filter and then a role's, a call the role makes (it lives on)
 * and one it may not (the child ends with 128+SIGSYS and one line naming the call). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "confine/confine.h"
#include "confine/confine_internal.h"

enum action {
    DO_NOTHING,
    DO_FORK,          /* a new process: no role may */
    DO_EXEC,          /* no role may */
    DO_SOCKET_INET,   /* the network's only */
    DO_SOCKET_NETLNK, /* nobody's */
    DO_OPEN,          /* not a vCPU's */
    DO_IOCTL_TTY,     /* a vCPU's ioctls are KVM's only */
    DO_PRCTL_CAPS,    /* prctl beyond thread names */
    DO_THREADS,       /* as vm_run: threads start and narrow to their roles, then main */
};

/* A device loop's thread: narrows itself, then does what only its role does. */
static void *devices_thread(void *arg)
{
    (void)arg;
    confine_thread(CONFINE_DEVICES);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int one;
    if (fd >= 0)
        ioctl(fd, FIONREAD, &one);
    return NULL;
}

/* Runs action in a child confined to role (role < 0: the process-wide filter only);
 * returns its wait status and the first bytes of what it wrote on stderr. */
static int run_confined(int role, enum action action, char *log, size_t size)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], STDERR_FILENO);
        close(p[0]);
        sm_error_t err = NULL;
        if (confine_process(NULL, &err) < 0) {
            fprintf(stderr, "confine_process: %s\n", sm_error_message(err));
            _exit(100);
        }
        if (role >= 0)
            confine_thread((enum confine_role)role);
        long r = 0;
        switch (action) {
        case DO_NOTHING:
            r = getpid() > 0 ? 0 : -1;
            break;
        case DO_FORK:
            r = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); /* fork() */
            if (r == 0)
                _exit(0);
            break;
        case DO_EXEC: {
            char *argv[] = {"/bin/true", NULL};
            r = execve("/bin/true", argv, NULL);
            break;
        }
        case DO_SOCKET_INET:
            r = socket(AF_INET, SOCK_STREAM, 0);
            break;
        case DO_SOCKET_NETLNK:
            r = socket(AF_NETLINK, SOCK_RAW, 0);
            break;
        case DO_OPEN:
            r = open("/dev/null", O_RDONLY);
            break;
        case DO_IOCTL_TTY: {
            int n;
            r = ioctl(STDERR_FILENO, FIONREAD, &n);
            break;
        }
        case DO_PRCTL_CAPS:
            r = prctl(PR_CAPBSET_READ, 0, 0, 0, 0);
            break;
        case DO_THREADS: {
            pthread_t t;
            r = pthread_create(&t, NULL, devices_thread, NULL) == 0 ? pthread_join(t, NULL) : -1;
            confine_thread(CONFINE_MAIN);
            r = open("/dev/null", O_RDONLY);
            break;
        }
        }
        (void)r;
        _exit(0); /* lived on (the call may have failed: the filter let it through) */
    }
    close(p[1]);
    int status = -1;
    waitpid(pid, &status, 0);
    ssize_t n = read(p[0], log, size - 1);
    log[n > 0 ? n : 0] = '\0';
    close(p[0]);
    return status;
}

static bool lives(int role, enum action a)
{
    char log[512];
    int st = run_confined(role, a, log, sizeof(log));
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        fprintf(stderr, "  role %d action %d: status 0x%x: %s\n", role, a, st, log);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static bool killed(int role, enum action a)
{
    char log[512];
    int st = run_confined(role, a, log, sizeof(log));
    bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGSYS &&
              strstr(log, "supermachine-vmm: seccomp: the thread '") &&
              strstr(log, "made system call");
    if (!ok)
        fprintf(stderr, "  role %d action %d: status 0x%x, log '%s'\n", role, a, st, log);
    return ok;
}

/* Ended by the filter even where the handler cannot run: pthread_create blocks every
 * signal around clone, and the kernel then delivers SIGSYS with its default action. */
static bool stopped(int role, enum action a)
{
    char log[512];
    int st = run_confined(role, a, log, sizeof(log));
    return (WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGSYS) ||
           (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
}

/* Landlock (when this kernel has it): in a child confined to one directory it reads and
 * one it writes, what the VMM does there works and the rest of the filesystem is closed. */
enum {
    LL_READ = 1 << 0,       /* reads a file it may read */
    LL_NO_WRITE = 1 << 1,   /* cannot write it */
    LL_NO_CREATE = 1 << 2,  /* nor create a file beside it */
    LL_NO_OUTSIDE = 1 << 3, /* nor read a file elsewhere */
    LL_SNAPSHOT = 1 << 4,   /* saves as a snapshot does: DIR.tmp, files, renamed to DIR */
    LL_SOCKET = 1 << 5,     /* binds a Unix socket in the directory it writes */
    LL_PROC_FD = 1 << 6,    /* lists /proc/self/fd (published ports) */
    LL_DEVNULL = 1 << 7,    /* opens /dev/null */
    LL_NO_SIGNAL = 1 << 8,  /* cannot signal its parent (ABI 6 and later) */
    LL_NOFILE = 1 << 9,     /* descriptors bounded */
    LL_ALL = (1 << 10) - 1,
};

/* a and b joined (never freed: the child exits). */
static char *cat(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", a, b);
    return s ? s : "";
}

static int landlock_child(const char *ro, const char *rw, const char *outside)
{
    const char *file = cat(ro, "/kernel");
    struct confine_config cfg = {.read = {file}, .write = {rw}};
    sm_error_t err = NULL;
    int abi = confine_landlock_abi(); /* before the filter, which refuses landlock's calls */
    if (confine_process(&cfg, &err) < 0) {
        fprintf(stderr, "confine_process: %s\n", sm_error_message(err));
        return 0;
    }
    int got = 0, fd;
    if ((fd = open(file, O_RDONLY)) >= 0 && close(fd) == 0)
        got |= LL_READ;
    if (open(file, O_WRONLY) < 0 && errno == EACCES)
        got |= LL_NO_WRITE;
    if (open(cat(ro, "/new"), O_WRONLY | O_CREAT, 0600) < 0 && errno == EACCES)
        got |= LL_NO_CREATE;
    if (open(outside, O_RDONLY) < 0 && errno == EACCES)
        got |= LL_NO_OUTSIDE;
    const char *tmp = cat(rw, "/snap.tmp-1");
    if (mkdir(tmp, 0755) == 0 &&
        (fd = open(cat(tmp, "/memory"), O_WRONLY | O_CREAT | O_EXCL, 0444)) >= 0 &&
        ftruncate(fd, 4096) == 0 && close(fd) == 0 && rename(tmp, cat(rw, "/snap")) == 0)
        got |= LL_SNAPSHOT;
    /* Bound by a name relative to the directory, as the VMM binds vsock's. */
    struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "s"};
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (chdir(rw) == 0 && s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        unlink(sa.sun_path) == 0)
        got |= LL_SOCKET;
    DIR *d = opendir("/proc/self/fd");
    if (d && readdir(d))
        got |= LL_PROC_FD;
    if ((fd = open("/dev/null", O_RDWR)) >= 0)
        got |= LL_DEVNULL;
    if (abi < 6 || (kill(getppid(), 0) < 0 && errno == EPERM))
        got |= LL_NO_SIGNAL;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max <= CONFINE_MAX_FILES)
        got |= LL_NOFILE;
    return got;
}

static void landlock_checks(void)
{
    int abi = confine_landlock_abi();
    printf("landlock ABI here: %d%s\n", abi, abi > 0 ? "" : " (not available: checks skipped)");
    if (abi <= 0)
        return;
    char base[] = "/tmp/test_confine.XXXXXX";
    CHECK(mkdtemp(base) != NULL);
    char ro[PATH_MAX], rw[PATH_MAX], kernel[PATH_MAX + 8], outside[PATH_MAX];
    snprintf(ro, sizeof(ro), "%s/ro", base);
    snprintf(rw, sizeof(rw), "%s/rw", base);
    snprintf(kernel, sizeof(kernel), "%s/kernel", ro);
    snprintf(outside, sizeof(outside), "%s/outside", base);
    CHECK(mkdir(ro, 0700) == 0 && mkdir(rw, 0700) == 0);
    int fd = open(kernel, O_WRONLY | O_CREAT, 0600);
    CHECK(fd >= 0 && close(fd) == 0);
    fd = open(outside, O_WRONLY | O_CREAT, 0600);
    CHECK(fd >= 0 && close(fd) == 0);
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        int got = landlock_child(ro, rw, outside);
        ssize_t w = write(p[1], &got, sizeof(got));
        (void)w;
        _exit(0);
    }
    close(p[1]);
    int got = 0;
    CHECK(read(p[0], &got, sizeof(got)) == sizeof(got));
    close(p[0]);
    waitpid(pid, NULL, 0);
    if (got != LL_ALL)
        fprintf(stderr, "  landlock: missing checks 0x%x\n", LL_ALL & ~got);
    CHECK_EQ_U64(got, LL_ALL);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    const int ANY = -1, MAIN = CONFINE_MAIN, VCPU = CONFINE_VCPU, DEV = CONFINE_DEVICES,
              NET = CONFINE_NET;
    /* The process-wide filter: setting up works; new processes, execve and netlink never. */
    CHECK(lives(ANY, DO_NOTHING));
    CHECK(lives(ANY, DO_OPEN));
    CHECK(lives(ANY, DO_SOCKET_INET));
    CHECK(killed(ANY, DO_FORK));
    CHECK(killed(ANY, DO_EXEC));
    CHECK(killed(ANY, DO_SOCKET_NETLNK));
    CHECK(killed(ANY, DO_PRCTL_CAPS));
    /* Each role: what it does, and not what it does not. */
    CHECK(lives(MAIN, DO_OPEN));
    CHECK(killed(MAIN, DO_SOCKET_INET));
    CHECK(killed(MAIN, DO_FORK));
    CHECK(lives(ANY, DO_THREADS));    /* as vm_run starts its threads */
    CHECK(stopped(MAIN, DO_THREADS)); /* a confined main thread starts none */
    CHECK(lives(VCPU, DO_NOTHING));
    CHECK(killed(VCPU, DO_OPEN));
    CHECK(killed(VCPU, DO_IOCTL_TTY));
    CHECK(killed(VCPU, DO_SOCKET_INET));
    CHECK(lives(DEV, DO_IOCTL_TTY));
    CHECK(killed(DEV, DO_SOCKET_INET));
    CHECK(killed(DEV, DO_EXEC));
    CHECK(lives(NET, DO_SOCKET_INET));
    CHECK(lives(NET, DO_OPEN));
    CHECK(killed(NET, DO_SOCKET_NETLNK));
    CHECK(killed(NET, DO_FORK));
    CHECK(killed(NET, DO_EXEC));

    /* What confine_process leaves: no_new_privs, no capabilities, no core dumps. */
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        sm_error_t err = NULL;
        char ok = 0;
        if (confine_process(NULL, &err) == 0) {
            struct rlimit core;
            getrlimit(RLIMIT_CORE, &core);
            FILE *f = fopen("/proc/self/status", "r");
            char line[256];
            bool nnp = false, caps = true;
            while (f && fgets(line, sizeof(line), f)) {
                nnp |= strcmp(line, "NoNewPrivs:\t1\n") == 0;
                if (strncmp(line, "CapEff:", 7) == 0 || strncmp(line, "CapPrm:", 7) == 0)
                    caps &= strcmp(line + 7, "\t0000000000000000\n") == 0;
            }
            ok = nnp && caps && core.rlim_cur == 0 && core.rlim_max == 0;
        }
        ssize_t w = write(p[1], &ok, 1);
        (void)w;
        _exit(0);
    }
    char ok = 0;
    CHECK(read(p[0], &ok, 1) == 1 && ok == 1);
    waitpid(pid, NULL, 0);

    landlock_checks();

    printf("%d checks, %d failed\n", check_count, check_failures);
    return check_failures;
}
