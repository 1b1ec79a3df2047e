/* docker pause and unpause: a running VM's vCPUs parked, and let go on, through its VMM's
 * control socket ("pause", "resume"; vmm/vm_control.c). The file INSTANCE_PAUSED_FILE in
 * its directory tells everyone else: ps and inspect say "paused", exec and cp are refused
 * (the guest cannot answer), stop and kill let it go on first, as docker's do. */
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/instance.h"
#include "runtime/run.h"
#include "runtime/vmm_process.h"

/* The VMM answers between two turns of its loop: at once, unless it is saving a
 * snapshot. */
#define PAUSE_REQUEST_TIMEOUT_MS 10000

/* One pause or unpause at a time per VM, so that the file says what the VMM did last. */
static int pause_lock(const struct instance *in, sm_error_t *err)
{
    cleanup_free char *path = instance_path(in, "pause.lock");
    return sm_lock_file(path, true, err);
}

/* The request, and the file: written before a pause (a caller dying meanwhile leaves the
 * VM said to be paused, not a paused VM said to run), removed after a resume. */
static int request(const struct instance *in, bool pause, sm_error_t *err)
{
    cleanup_free char *marker = instance_path(in, INSTANCE_PAUSED_FILE);
    if (pause && sm_write_file_replace(marker, "", 0, 0600, err) < 0)
        return -1;
    char reply[64];
    int r = instance_request(in, VMM_CONTROL_SOCKET, pause ? "pause" : "resume",
                             PAUSE_REQUEST_TIMEOUT_MS, reply, sizeof(reply), err);
    if (r == 0 ? !pause : pause)
        unlink(marker);
    return r;
}

static int set_paused(const char *name_or_id, bool pause, sm_error_t *err)
{
    const char *what = pause ? "pause" : "unpause";
    struct instance in;
    if (instance_find_running(name_or_id, what, &in, err) < 0)
        return -1;
    int lock = pause_lock(&in, err);
    int r = -1;
    if (lock < 0) {
        sm_error_wrap(err, "%s %s", what, name_or_id);
    } else if (instance_paused(&in) == pause) {
        /* docker's errors for these */
        sm_error_set(err, 0, "%s %s: the VM is %s", what, name_or_id,
                     pause ? "already paused" : "not paused");
    } else if (request(&in, pause, err) < 0) {
        sm_error_wrap(err, "%s %s", what, name_or_id);
    } else {
        r = 0;
    }
    if (lock >= 0)
        close(lock);
    instance_release(&in);
    return r;
}

int sm_vm_pause(const char *name_or_id, sm_error_t *err)
{
    return set_paused(name_or_id, true, err);
}

int sm_vm_unpause(const char *name_or_id, sm_error_t *err)
{
    return set_paused(name_or_id, false, err);
}

int run_unpause_if_paused(const struct instance *in, sm_error_t *err)
{
    if (!instance_paused(in))
        return 0;
    int lock = pause_lock(in, err);
    if (lock < 0)
        return -1;
    int r = instance_paused(in) ? request(in, false, err) : 0;
    close(lock);
    return r;
}
