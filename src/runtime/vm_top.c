/* docker top and stats: a running VM's processes and usage, the guest's figures from its
 * agent (PROCESSES, docs/protocol.md), the host's from its VMM process. */
#include "agent/agent_client.h"
#include "runtime/instance.h"
#include "runtime/run.h"

int sm_vm_processes(const char *name_or_id, struct sm_process **procs, size_t *n,
                    struct sm_vm_usage *usage, sm_error_t *err)
{
    struct instance in;
    struct agent_conn c;
    if (run_open_running(name_or_id, "top", &in, &c, err) < 0)
        return -1;
    if (usage)
        *usage = (struct sm_vm_usage){.cpu_ns = -1, .pss_kib = -1};
    int r = agent_processes(&c, procs, n, usage, AGENT_RUNNING_TIMEOUT_MS, err);
    agent_close(&c);
    if (r == 0 && usage) {
        usage->cpu_ns = instance_cpu_ns(&in);
        usage->pss_kib = instance_pss_kib(&in);
    }
    instance_release(&in);
    return r < 0 ? sm_error_wrap(err, "top %s", name_or_id) : 0;
}
