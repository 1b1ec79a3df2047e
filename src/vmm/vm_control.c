/* The VM's control socket (vm_config.control_path): one request per connection, one
 * line each way, served on vm_run's thread between two console turns:
 *   "reset" -> "ok" | "error MESSAGE"     start over from the snapshot (vm_reset_to_snapshot)
 *   "pause" -> "ok" | "error MESSAGE"     park the vCPUs until "resume" (docker pause)
 *   "resume" -> "ok"                      let them go on
 * The request waits for the answer, so a client knows the guest is the snapshot's again
 * when it reads "ok". Whoever can reach the socket (the VM's instance directory) can
 * already run anything in the guest through vsock: the socket asks for nothing more. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "vmm/hv/hv_x86.h"
#include "vmm/vm_internal.h"

#define CONTROL_LINE_MAX 64
/* A client gets this long to send its line: the loop that carries the console waits. */
#define CONTROL_READ_MS 1000

int vm_control_listen(struct vm *vm, sm_error_t *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *path = vm->cfg.control_path;
    if (strlen(path) >= sizeof(sa.sun_path))
        return sm_error_set(err, ENAMETOOLONG, "control socket %s", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    unlink(path); /* a dead VMM's: the instance directory's lock is this process's */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return sm_error_set(err, e, "control socket %s", path);
    }
    vm->control_fd = fd;
    return 0;
}

/* The request line (without its newline) into line; false if none came in time. */
static bool read_line(int fd, char *line, size_t size)
{
    size_t len = 0;
    uint64_t deadline = sm_now_ns() + (uint64_t)CONTROL_READ_MS * 1000000;
    for (;;) {
        uint64_t now = sm_now_ns();
        if (now >= deadline)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)((deadline - now) / 1000000) + 1);
        if (r < 0 && errno != EINTR)
            return false;
        if (r <= 0)
            continue;
        ssize_t n = recv(fd, line + len, size - 1 - len, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return false;
        len += (size_t)n;
        line[len] = '\0';
        char *nl = memchr(line, '\n', len);
        if (nl) {
            *nl = '\0';
            if (nl > line && nl[-1] == '\r')
                nl[-1] = '\0';
            return true;
        }
        if (len == size - 1)
            return false; /* no request is this long */
    }
}

/* The devices go on while the vCPUs are parked: host connections queue for the guest
 * (published ports accept and wait, as a paused container's do). */
static int user_pause(struct vm *vm, sm_error_t *err)
{
    if (vm_pause(vm, err) < 0)
        return -1;
    pthread_mutex_lock(&vm->lock);
    vm->user_paused = true;
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

static void user_resume(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    bool was = vm->user_paused;
    vm->user_paused = false;
    pthread_mutex_unlock(&vm->lock);
    if (!was)
        return;
    /* kvmclock follows the host's clock, so the guest's time is right at once; told that
     * its vCPUs were stopped, its watchdog does not take the gap for a soft lockup. */
    for (unsigned i = 0; i < vm->ncpus; i++) {
        sm_error_t ignored = NULL;
        hv_x86_kvmclock_ctrl(vm->vcpus[i].hv, &ignored);
        sm_error_release(&ignored);
    }
    vm_resume(vm);
}

void vm_control_serve(struct vm *vm)
{
    int fd = accept4(vm->control_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    char line[CONTROL_LINE_MAX];
    if (!read_line(fd, line, sizeof(line))) {
        sm_send_line(fd, "error no request line");
    } else if (strcmp(line, "pause") == 0 || strcmp(line, "reset") == 0) {
        bool reset = line[0] == 'r';
        if (reset) /* the snapshot's guest runs: a pause does not outlive it */
            user_resume(vm);
        sm_error_t err = NULL;
        if ((reset ? vm_reset_to_snapshot(vm, &err) : user_pause(vm, &err)) == 0) {
            sm_send_line(fd, "ok");
        } else {
            sm_send_line(fd, "error %s", sm_error_message(err));
        }
        sm_error_release(&err);
    } else if (strcmp(line, "resume") == 0) {
        user_resume(vm);
        sm_send_line(fd, "ok");
    } else {
        sm_send_line(fd, "error unknown request (want: reset, pause, resume)");
    }
    close(fd);
}
