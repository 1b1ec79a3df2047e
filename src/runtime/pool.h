/* Idle VMs and the warm pools made of them (sm_pool_*, docs/pool.md).
 *
 * An idle VM is a run without a main process: a VM record, a VMM process restored from
 * (or booting into) the image's init-ready snapshot, and a guest whose agent answered
 * the hello. It runs until stopped or until its owner process ends. */
#ifndef SM_RUNTIME_POOL_H
#define SM_RUNTIME_POOL_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"
#include "runtime/instance.h"
#include "runtime/run.h"
#include "supermachine.h"

/* Starts an idle VM of the plan's image (image_ref as the user gave it): its command, as
 * ps shows it, is `label`; `owner` is the process whose end stops it. Returns once its
 * agent answered; *out is its record, *vmm_out its VMM (our child: reap it). The plan's
 * restore flag follows the snapshot (set once a first boot baked it). */
int run_idle_start(struct run_plan *p, const char *image_ref, const char *label, pid_t owner,
                   struct instance *out, pid_t *vmm_out, sm_error_t *err);

/* Puts the idle VM (its instance directory and id) back as its snapshot left it, in
 * place (its VMM's control socket), then greets its agent again as run_idle_start does
 * (clock, RNG, hostname). A VM that booted rather than restored cannot be: an error. */
int run_idle_reset(const char *dir, const char *id, sm_error_t *err);

/* Ends a VMM process that is our child and reaps it (SIGTERM, SIGKILL after 5 s); a pid
 * that is not, or no longer, our child is left alone. */
void run_vmm_end(pid_t vmm);

/* One VM of a pool, as the pool's operations know it. */
struct pool_vm_ref {
    char id[INSTANCE_ID_LEN + 1];
    char *name;
    pid_t vmm; /* our child, or 0 */
    /* It can be reset in place (a restored VM; a booted one, which baked the snapshot,
     * has nothing to go back to): a given-back VM that cannot is replaced. */
    bool resettable;
};

/* How a pool starts, probes and stops its VMs: idle VMs by default (pool.c), fakes in the
 * unit test. Called from the pool's thread (start, stop) and under its lock (alive: keep
 * it cheap). */
struct pool_vm_ops {
    /* Starts one ready VM: fills ref (name malloc'd). */
    int (*start)(void *ctx, struct pool_vm_ref *ref, sm_error_t *err);
    bool (*alive)(void *ctx, const struct pool_vm_ref *ref);
    /* Ends it (if it still runs), reaps its VMM and removes its record. */
    void (*stop)(void *ctx, const struct pool_vm_ref *ref);
    /* Puts a given-back VM as it was when ready, in place (may be NULL: released VMs
     * are then always replaced by new ones). On failure the pool stops it and starts
     * another. */
    int (*reset)(void *ctx, const struct pool_vm_ref *ref, sm_error_t *err);
    /* Called by sm_pool_destroy at the end (may be NULL). */
    void (*release)(void *ctx);
    void *ctx;
};

/* sm_pool_create with other operations (options checked the same way, except run, which
 * these operations do not use and may be NULL). */
int pool_create_with_ops(const struct sm_pool_options *o, const struct pool_vm_ops *ops,
                         struct sm_pool **out, sm_error_t *err);

/* How long a pool waits before it tries to start a VM again after `failures` failures in
 * a row: 1 s, doubling, at most 30 s. */
unsigned pool_retry_delay_ms(unsigned failures);

#endif
