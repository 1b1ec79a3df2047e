/* Idle VMs: a run without a main process (pool.h). The guest sits at init-ready serving
 * the agent, so exec, cp and ports work, until it is stopped or its owner ends. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent_client.h"
#include "common/util.h"
#include "runtime/pool.h"
#include "runtime/vmm_process.h"

/* Ends a VMM that is our child and reaps it: SIGTERM (the VMM stops the guest), SIGKILL
 * after 5 s. A pid that is no longer our child (reaped elsewhere) is left alone. */
void run_vmm_end(pid_t vmm)
{
    int status;
    if (vmm <= 0 || waitpid(vmm, &status, WNOHANG) != 0)
        return; /* ended and now reaped, or not ours */
    kill(vmm, SIGTERM);
    if (sm_wait_child(vmm, 5000, &status) != 0)
        return;
    kill(vmm, SIGKILL);
    while (waitpid(vmm, &status, 0) < 0 && errno == EINTR)
        ;
}

int run_idle_start(struct run_plan *p, const char *image_ref, const char *label, pid_t owner,
                   struct instance *out, pid_t *vmm_out, sm_error_t *err)
{
    /* A first VM booted and baked the snapshot meanwhile: restore it from now on. */
    if (p->snapshot && !p->restore) {
        cleanup_free char *meta = xasprintf("%s/snapshot.meta", p->snapshot);
        p->restore = access(meta, R_OK) == 0;
    }
    struct instance_spec spec = {
        .image = image_ref, .digest = p->image->manifest_digest, .command = label};
    if (instance_create(&spec, out, err) < 0)
        return -1;
    cleanup_free char *marker = instance_path(out, "idle");
    cleanup_free char *text = xasprintf("%s\n", label);
    pid_t vmm = 0;
    if (sm_write_file_replace(marker, text, strlen(text), 0600, err) < 0 ||
        run_vmm_start(out, p, owner, &vmm, err) < 0)
        goto fail;
    /* Ready means the agent answered (and set the clock, the RNG and the hostname). */
    struct agent_conn c;
    if (run_agent_open(out, run_agent_timeout_ms(), &c, err) < 0)
        goto fail;
    agent_close(&c);
    *vmm_out = vmm;
    return 0;
fail:
    run_vmm_end(vmm);
    sm_error_t ignored = NULL;
    instance_remove_dir(out, &ignored);
    sm_error_release(&ignored);
    instance_release(out);
    return -1;
}

int run_idle_reset(const char *dir, const char *id, sm_error_t *err)
{
    struct instance in = {.dir = (char *)dir};
    snprintf(in.id, sizeof(in.id), "%s", id);
    char reply[64];
    if (instance_request(&in, VMM_CONTROL_SOCKET, "reset", run_agent_timeout_ms(), reply,
                         sizeof(reply), err) < 0)
        return sm_error_wrap(err, "reset to the snapshot");
    /* The guest is the snapshot's again: its clock, RNG and hostname as at a start. */
    struct agent_conn c;
    if (run_agent_open(&in, run_agent_timeout_ms(), &c, err) < 0)
        return -1;
    agent_close(&c);
    return 0;
}
