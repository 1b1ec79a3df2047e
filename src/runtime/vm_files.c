/* Public calls that talk to a running VM's agent without running a process: signal the
 * main process, wait for the end, files in and out, listening ports. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/instance.h"
#include "runtime/run.h"

#define AGENT_OPEN_TIMEOUT_MS AGENT_RUNNING_TIMEOUT_MS

int sm_parse_signal(const char *text, int *sig, sm_error_t *err)
{
    const char *name = strncasecmp(text, "SIG", 3) == 0 ? text + 3 : text;
    char *end;
    long n = strtol(name, &end, 10);
    if (name[0] >= '0' && name[0] <= '9' && *end == '\0' && n > 0 && n < NSIG) {
        *sig = (int)n;
        return 0;
    }
    if (strncasecmp(name, "RTMIN", 5) == 0 || strncasecmp(name, "RTMAX", 5) == 0) {
        bool min = strncasecmp(name, "RTMIN", 5) == 0;
        long off = 0;
        if (name[5] != '\0') {
            off = strtol(name + 6, &end, 10);
            if ((name[5] != '+' && name[5] != '-') || *end != '\0' || name[6] == '\0')
                off = -1000;
            else if (name[5] == '-')
                off = -off;
        }
        long v = (min ? SIGRTMIN : SIGRTMAX) + off;
        if (v >= SIGRTMIN && v <= SIGRTMAX) {
            *sig = (int)v;
            return 0;
        }
    }
    for (int s = 1; s < SIGRTMIN; s++) {
        const char *abbrev = sigabbrev_np(s);
        if (abbrev && strcasecmp(abbrev, name) == 0) {
            *sig = s;
            return 0;
        }
    }
    return sm_error_set(err, 0, "%s: not a signal", text);
}

/* A running instance and a hello'd agent connection to it. A paused VM is refused, or
 * with unpause let go on first. */
static int open_running_within(const char *name_or_id, const char *what, int timeout_ms,
                               bool unpause, struct instance *in, struct agent_conn *c,
                               sm_error_t *err)
{
    if (!unpause && instance_find_unpaused(name_or_id, what, in, err) < 0)
        return -1;
    if (unpause && instance_find_running(name_or_id, what, in, err) < 0)
        return -1;
    if (unpause && run_unpause_if_paused(in, err) < 0) {
        instance_release(in);
        return sm_error_wrap(err, "%s %s", what, name_or_id);
    }
    if (run_agent_open(in, timeout_ms, c, err) < 0) {
        instance_release(in);
        return sm_error_wrap(err, "%s", what);
    }
    return 0;
}

int run_open_running(const char *name_or_id, const char *what, struct instance *in,
                     struct agent_conn *c, sm_error_t *err)
{
    return open_running_within(name_or_id, what, AGENT_OPEN_TIMEOUT_MS, false, in, c, err);
}

int run_main_pid(struct instance *in)
{
    cleanup_free char *path = instance_path(in, "main.pid");
    char *text = NULL;
    size_t len;
    sm_error_t ignored = NULL;
    if (sm_read_file(path, 64, &text, &len, &ignored) < 0) {
        sm_error_release(&ignored);
        return -1;
    }
    char *end;
    long pid = strtol(text, &end, 10);
    bool ok = end != text && (*end == '\n' || *end == '\0') && pid > 1 && pid <= INT32_MAX;
    free(text);
    return ok ? (int)pid : -1;
}

int sm_vm_kill(const char *name_or_id, int sig, sm_error_t *err)
{
    return run_kill_main(name_or_id, sig, AGENT_OPEN_TIMEOUT_MS, err);
}

int run_kill_main(const char *name_or_id, int sig, int timeout_ms, sm_error_t *err)
{
    if (sig <= 0 || sig >= NSIG)
        return sm_error_set(err, 0, "kill %s: %d is not a signal", name_or_id, sig);
    uint64_t deadline = sm_now_ns() + (uint64_t)timeout_ms * 1000000;
    struct instance in;
    struct agent_conn c;
    /* A paused VM goes on first: its agent delivers the signal (docker's kill and stop
     * unpause too). */
    if (open_running_within(name_or_id, "kill", timeout_ms, true, &in, &c, err) < 0)
        return -1;
    int pid = run_main_pid(&in);
    int left = (int)((int64_t)(deadline - sm_now_ns()) / 1000000);
    int r;
    if (pid < 0)
        r = sm_error_set(err, 0, "kill %s: its main process has not started", name_or_id);
    else if (agent_signal(&c, pid, sig, left > 0 ? left : 1, err) < 0)
        r = sm_error_wrap(err, "kill %s", name_or_id);
    else
        r = 0;
    agent_close(&c);
    instance_release(&in);
    return r;
}

int sm_vm_wait(const char *name_or_id, int timeout_ms, int *exit_code, sm_error_t *err)
{
    struct instance in;
    if (instance_find(name_or_id, &in, err) < 0)
        return sm_error_wrap(err, "wait");
    if (!instance_wait_stopped(&in, timeout_ms)) {
        instance_release(&in);
        return sm_error_set(err, ETIMEDOUT, "wait %s", name_or_id);
    }
    instance_release(&in);
    /* The record's status is written by the owner as the VM ends: read it afresh. */
    if (instance_find(name_or_id, &in, err) < 0)
        return sm_error_wrap(err, "wait");
    if (exit_code)
        *exit_code = in.exit_code;
    instance_release(&in);
    return 0;
}

int sm_vm_copy_in(const char *name_or_id, const char *guest_path, int in_fd, unsigned mode,
                  sm_error_t *err)
{
    struct instance in;
    struct agent_conn c;
    if (run_open_running(name_or_id, "copy", &in, &c, err) < 0)
        return -1;
    int r = agent_write_file(&c, guest_path, mode, 0, 0, in_fd, err);
    agent_close(&c);
    instance_release(&in);
    return r < 0 ? sm_error_wrap(err, "copy to %s:%s", name_or_id, guest_path) : 0;
}

int sm_vm_write_file(const char *name_or_id, const char *guest_path, const void *data, size_t len,
                     unsigned mode, sm_error_t *err)
{
    /* The agent streams from a descriptor: a memory file holds the bytes. */
    int fd = memfd_create("sm-write-file", MFD_CLOEXEC);
    if (fd < 0)
        return sm_error_set(err, errno, "memfd_create");
    if (sm_write_all(fd, data, len) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        int e = errno;
        close(fd);
        return sm_error_set(err, e, "write %s", guest_path);
    }
    int r = sm_vm_copy_in(name_or_id, guest_path, fd, mode, err);
    close(fd);
    return r;
}

static int copy_out(const char *name_or_id, const char *guest_path, int out_fd, uint64_t max,
                    uint64_t *size, sm_error_t *err)
{
    struct instance in;
    struct agent_conn c;
    if (run_open_running(name_or_id, "copy", &in, &c, err) < 0)
        return -1;
    int r = agent_read_file(&c, guest_path, out_fd, max, size, err);
    agent_close(&c);
    instance_release(&in);
    return r < 0 ? sm_error_wrap(err, "copy from %s:%s", name_or_id, guest_path) : 0;
}

int sm_vm_copy_out(const char *name_or_id, const char *guest_path, int out_fd, sm_error_t *err)
{
    return copy_out(name_or_id, guest_path, out_fd, UINT64_MAX, NULL, err);
}

int sm_vm_read_file(const char *name_or_id, const char *guest_path, size_t max_bytes, void **data,
                    size_t *len, sm_error_t *err)
{
    int fd = memfd_create("sm-read-file", MFD_CLOEXEC);
    if (fd < 0)
        return sm_error_set(err, errno, "memfd_create");
    uint64_t size = 0;
    if (copy_out(name_or_id, guest_path, fd, max_bytes, &size, err) < 0) {
        close(fd);
        return -1;
    }
    char *buf = xmalloc((size_t)size + 1);
    ssize_t got = pread(fd, buf, (size_t)size, 0);
    close(fd);
    if (got != (ssize_t)size) {
        free(buf);
        return sm_error_set(err, errno, "read %s", guest_path);
    }
    buf[size] = '\0';
    *data = buf;
    *len = (size_t)size;
    return 0;
}

int sm_vm_ports(const char *name_or_id, struct sm_port **ports, size_t *n, sm_error_t *err)
{
    struct instance in;
    struct agent_conn c;
    if (run_open_running(name_or_id, "ports", &in, &c, err) < 0)
        return -1;
    struct agent_port *list = NULL;
    size_t count = 0;
    int r = agent_ports(&c, &list, &count, AGENT_OPEN_TIMEOUT_MS, err);
    agent_close(&c);
    instance_release(&in);
    if (r < 0)
        return sm_error_wrap(err, "ports %s", name_or_id);
    struct sm_port *out = xcalloc(count ? count : 1, sizeof(*out));
    for (size_t i = 0; i < count; i++) {
        out[i].port = list[i].port;
        memcpy(out[i].address, list[i].address, sizeof(out[i].address));
    }
    free(list);
    *ports = out;
    *n = count;
    return 0;
}
