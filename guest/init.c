/* sm-init, PID 1 of a supermachine guest (docs/guest.md):
 *   1. /dev, /proc, /sys in the initramfs; the console as stdio
 *   2. the kernel modules listed in /modules, in order
 *   3. the image: EROFS on sm.root (default /dev/vda) read-only, under an overlay whose
 *      upper layer is a tmpfs (guest memory: in snapshots, nothing on the host's disk)
 *   4. into it: /proc /sys /dev /dev/pts /dev/shm /run, /etc/hosts, /etc/resolv.conf
 *   5. lo, and eth0 from sm.ip/sm.gw/sm.ip6/sm.gw6 when the VM has a network (net.c)
 *   6. the agent's vsock listener and the agent in a child, asleep in accept; then
 *      "supermachine: init ready" on the console: the host may snapshot here, so nothing
 *      after may rely on time or entropy from before
 *   7. PID 1 reaps orphans and powers off if the agent dies. */
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_proto.h"
#include "guest.h"

#define INIT_READY_LINE "supermachine: init ready"

static char cmdline[4096];

uint64_t guest_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void guest_log(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    dprintf(2, "sm-init: %s\n", buf);
}

/* Set by --listen: on a host, "power off" must never reach reboot(2). */
static bool host_test_mode;

bool guest_on_host(void)
{
    return host_test_mode;
}

void guest_poweroff(void)
{
    if (host_test_mode) {
        kill(0, SIGTERM); /* the test agent's own process group (setsid in listen_unix) */
        _exit(0);
    }
    sync();
    reboot(RB_POWER_OFF);
    _exit(0);
}

static void fatal(const char *what)
{
    guest_log("%s: %s; powering off", what, strerror(errno));
    guest_poweroff();
}

/* Value of a `key=value` word of the kernel command line, or def. */
static const char *param(const char *key, const char *def)
{
    static char value[256];
    size_t n = strlen(key);
    for (char *p = cmdline; (p = strstr(p, key)) != NULL; p += n) {
        if ((p == cmdline || p[-1] == ' ') && p[n] == '=') {
            size_t i = 0;
            for (const char *v = p + n + 1; *v && *v != ' ' && *v != '\n' && i < sizeof(value) - 1;)
                value[i++] = *v++;
            value[i] = '\0';
            return value;
        }
    }
    return def;
}

static void mount_or_die(const char *src, const char *dst, const char *type, unsigned long flags,
                         const char *data)
{
    mkdir(dst, 0755);
    if (mount(src, dst, type, flags, data) < 0) {
        char what[256];
        snprintf(what, sizeof(what), "mount %s on %s", type, dst);
        fatal(what);
    }
}

static void load_modules(void)
{
    FILE *f = fopen("/modules", "re");
    if (f == NULL)
        return;
    char path[512];
    while (fgets(path, sizeof(path), f)) {
        path[strcspn(path, "\n")] = '\0';
        if (path[0] == '\0')
            continue;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) < 0) {
            if (errno != EEXIST)
                guest_log("module %s: %s", path, strerror(errno));
        }
        if (fd >= 0)
            close(fd);
    }
    fclose(f);
}

/* Drivers probe asynchronously: the disk shows up shortly after its module loads. */
static void wait_for(const char *dev)
{
    struct stat st;
    for (int i = 0; i < 500 && stat(dev, &st) != 0; i++)
        usleep(10000);
}

static void write_if_absent(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    ssize_t w = write(fd, text, strlen(text));
    (void)w;
    close(fd);
}

static void setup_root(void)
{
    const char *root_dev = param("sm.root", "/dev/vda");
    char dev[256];
    snprintf(dev, sizeof(dev), "%s", root_dev);
    wait_for(dev);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    mount_or_die(dev, "/lower", "erofs", MS_RDONLY, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* On the console log only: docs/rootfs.md quotes it. */
    guest_log("root image %s mounted (erofs) in %ld us", dev,
              (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
    mount_or_die("tmpfs", "/rw", "tmpfs", 0, "mode=0755");
    mkdir("/rw/upper", 0755);
    mkdir("/rw/work", 0755);
    mount_or_die("overlay", "/root", "overlay", 0,
                 "lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work");
    /* switch_root: the overlay becomes / (the initramfs stays underneath, unreachable). */
    if (chdir("/root") < 0 || mount("/root", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
        chdir("/") < 0)
        fatal("switch to the image's root");
    mount_or_die("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_or_die("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    /* cgroup2, as a container has it: kept processes are frozen through it (keep.c). */
    if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        guest_log("mount cgroup2 on /sys/fs/cgroup: %s", strerror(errno));
    mount_or_die("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    mount_or_die("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                 "newinstance,ptmxmode=0666,mode=0620");
    mount_or_die("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_or_die("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    /* /dev/ptmx must be the devpts instance's, as in a container. */
    unlink("/dev/ptmx");
    if (symlink("pts/ptmx", "/dev/ptmx") < 0)
        guest_log("/dev/ptmx: %s", strerror(errno));
    /* The links a container's /dev has (runc, docker) and devtmpfs lacks: images rely on
     * them, e.g. docker's nginx, whose access.log is a symlink to /dev/stdout (without
     * the link nginx would create a file named /dev/stdout and log into it). */
    static const char *const fd_links[][2] = {{"/proc/self/fd", "/dev/fd"},
                                              {"/proc/self/fd/0", "/dev/stdin"},
                                              {"/proc/self/fd/1", "/dev/stdout"},
                                              {"/proc/self/fd/2", "/dev/stderr"}};
    for (size_t i = 0; i < sizeof(fd_links) / sizeof(fd_links[0]); i++)
        if (symlink(fd_links[i][0], fd_links[i][1]) < 0 && errno != EEXIST)
            guest_log("%s: %s", fd_links[i][1], strerror(errno));
    mkdir("/tmp", 01777);
    mkdir("/etc", 0755);
    const char *hostname = param("sm.hostname", "supermachine");
    sethostname(hostname, strlen(hostname));
    char hosts[512];
    snprintf(hosts, sizeof(hosts),
             "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\t%s\n", hostname);
    /* As docker's bind mounts: the VM's own files, whatever the image brought (an image
     * built on a host keeps that host's name in /etc/hostname, mmdebstrap's for one). */
    unlink("/etc/hosts");
    write_if_absent("/etc/hosts", hosts);
    char hostname_line[80];
    snprintf(hostname_line, sizeof(hostname_line), "%.64s\n", hostname); /* a line, as docker's */
    unlink("/etc/hostname");
    write_if_absent("/etc/hostname", hostname_line);
    const char *dns = param("sm.dns", NULL);
    if (dns) {
        /* As docker: with a network the VM's own resolver replaces the image's file. */
        char text[128];
        snprintf(text, sizeof(text), "nameserver %s\n", dns);
        unlink("/etc/resolv.conf");
        write_if_absent("/etc/resolv.conf", text);
    } else {
        write_if_absent("/etc/resolv.conf", "");
    }
}

/* param() returns a static buffer: a copy per value, or NULL. */
static char *param_dup(const char *key)
{
    const char *v = param(key, NULL);
    return v ? strdup(v) : NULL;
}

static void setup_network(bool snapshotted)
{
    char *ip = param_dup("sm.ip"), *gw = param_dup("sm.gw"), *ip6 = param_dup("sm.ip6"),
         *gw6 = param_dup("sm.gw6");
    guest_net_setup(ip, gw, ip6, gw6, snapshotted);
    free(ip);
    free(gw);
    free(ip6);
    free(gw6);
}

static int agent_listen(void)
{
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fatal("agent: vsock socket");
    struct sockaddr_vm addr = {
        .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = AGENT_PORT};
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 64) < 0)
        fatal("agent: vsock listen");
    return fd;
}

/* Whether process pid is asleep (state S in /proc/PID/stat: "pid (comm) S ..."). */
static bool asleep(pid_t pid)
{
    char path[32], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] == 'S';
}

/* Forks the agent and returns once it waits in accept: the host snapshots a boot on the
 * ready line that follows, so every clone starts with the agent there, and none forks it
 * again (the copied page tables, the task and its first writes would be pages of each
 * clone's own, and time on the way to its first command). The VMM lets no host
 * connection in before that snapshot, so none is in it. */
static pid_t start_agent(int listen_fd)
{
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0)
        fatal("pipe");
    pid_t agent = fork();
    if (agent == 0) {
        close(ready[0]);
        agent_serve(listen_fd, ready[1]);
    }
    if (agent < 0)
        fatal("fork the agent");
    close(listen_fd);
    close(ready[1]);
    char byte;
    while (read(ready[0], &byte, 1) < 0 && errno == EINTR)
        ;
    close(ready[0]);
    /* The pipe closed right before its accept: give it the moment to get there (a
     * bounded wait; at worst a clone finishes the way in). */
    for (int i = 0; i < 200 && !asleep(agent); i++)
        usleep(500);
    return agent;
}

/* `sm-init --listen unix:PATH`: the agent alone on a Unix socket, in the current root,
 * without mounting anything: how the host's tests exercise it without a VM. */
static int listen_unix(const char *spec)
{
    if (strncmp(spec, "unix:", 5) != 0) {
        fprintf(stderr, "sm-init: --listen unix:PATH\n");
        return 2;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(spec + 5) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "sm-init: %s: path too long\n", spec + 5);
        return 2;
    }
    strcpy(addr.sun_path, spec + 5);
    host_test_mode = true;
    setsid();
    unlink(addr.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 64) < 0) {
        perror("sm-init: listen");
        return 1;
    }
    agent_serve(fd, -1);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--listen") == 0)
        return listen_unix(argv[2]);
    if (getpid() != 1) {
        fprintf(stderr,
                "sm-init: PID 1 of a supermachine guest (or: sm-init --listen unix:PATH)\n");
        return 2;
    }
    mkdir("/dev", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    int console = open("/dev/console", O_RDWR | O_CLOEXEC);
    if (console >= 0) {
        dup2(console, 0);
        dup2(console, 1);
        dup2(console, 2);
    }
    mount_or_die("proc", "/proc", "proc", 0, NULL);
    mount_or_die("sysfs", "/sys", "sysfs", 0, NULL);
    int cfd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (cfd >= 0) {
        ssize_t r = read(cfd, cmdline, sizeof(cmdline) - 1);
        cmdline[r > 0 ? r : 0] = '\0';
        close(cfd);
    }
    load_modules();
    /* Leave the initramfs's own mounts behind before switching. */
    umount2("/proc", MNT_DETACH);
    umount2("/sys", MNT_DETACH);
    setup_root();
    /* The VMM adds sm.snapshot=1 when it will save this boot (src/vmm/vm.c). */
    bool snapshotted = param("sm.snapshot", NULL) != NULL;
    setup_network(snapshotted);
    if (snapshotted)
        guest_warm_lookups();
    pid_t agent = start_agent(agent_listen());
    dprintf(1, "%s\n", INIT_READY_LINE);
    for (;;) {
        int st;
        pid_t pid = wait(&st);
        if (pid == agent) {
            guest_log("the agent ended (status %d)", st);
            guest_poweroff();
        }
        if (pid < 0 && errno == ECHILD)
            pause();
    }
}
