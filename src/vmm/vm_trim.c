/* When a restored VM gives back the pages it wrote back to its snapshot's bytes
 * (memory_trim.h). Checked on each turn of vm_run's loop, which wakes for it when it
 * asks (vm_trim_tick's answer), and at least every TRIM_WATCH_MS to see activity:
 *
 *   - only after device activity (virtqueue notifications, vsock and network traffic) since
 *     the last trim: a guest that did nothing wrote (almost) nothing;
 *   - only once the devices have been quiet for TRIM_QUIET_NS, so that a burst of work (a
 *     restore's hello, an exec) is trimmed after it ends, never in the middle. A guest that
 *     is never quiet is never trimmed: it is not idle, the pages it rewrites would be
 *     copied again at once, and each trim that finds pages pauses it;
 *   - never more often than TRIM_MIN_INTERVAL_NS;
 *   - and again, without new activity, while a trim still finds TRIM_AGAIN_PAGES or more
 *     (the guest's own timers rewrite pages the same way), at intervals doubling up to
 *     TRIM_MAX_INTERVAL_NS.
 *
 * The scan runs with the guest going on; only when it found pages to give back are the
 * vCPUs paused and the devices kept off guest memory, for the comparisons again and the
 * madvise calls (well under a millisecond for an idle clone's few hundred pages on
 * hardware). */
#include <stdio.h>

#include "common/util.h"
#include "vmm/vm_internal.h"

#define TRIM_QUIET_NS        (500ull * 1000000)
#define TRIM_MIN_INTERVAL_NS (1000ull * 1000000)
#define TRIM_MAX_INTERVAL_NS (60ull * 1000000000)
#define TRIM_AGAIN_PAGES     16
#define TRIM_WATCH_MS        1000

void vm_trim_start(struct vm *vm)
{
    vm->trim_last_ns = vm->trim_active_ns = sm_now_ns();
    vm->trim_interval_ns = TRIM_MIN_INTERVAL_NS;
    vm->trim_pending = true;
}

/* Returns the number of pages given back. */
static size_t trim_now(struct vm *vm)
{
    sm_error_t err = NULL;
    if (memory_trim_scan(&vm->trim, &vm->mem, &err) < 0) {
        /* Not worth ending the VM over: it keeps its pages, as without trimming. */
        fprintf(stderr, "supermachine-vmm: memory trim: %s; trimming stops\n",
                sm_error_message(err));
        sm_error_release(&err);
        memory_trim_release(&vm->trim);
        return 0;
    }
    if (vm->trim.ncandidates == 0)
        return 0;
    if (vm_quiesce(vm, &err) < 0) {
        sm_error_release(&err);
        return 0;
    }
    size_t dropped = memory_trim_drop(&vm->trim, &vm->mem);
    vm_quiesce_end(vm);
    vm_resume(vm);
    return dropped;
}

/* Milliseconds until a trim is due, at least 1 (now: the next turn). */
static int due_in_ms(const struct vm *vm, uint64_t now)
{
    uint64_t at = vm->trim_last_ns + vm->trim_interval_ns;
    if (vm->trim_active_ns + TRIM_QUIET_NS > at)
        at = vm->trim_active_ns + TRIM_QUIET_NS;
    uint64_t ms = at > now ? (at - now + 999999) / 1000000 : 1;
    return ms < TRIM_WATCH_MS ? (int)(ms ? ms : 1) : TRIM_WATCH_MS;
}

int vm_trim_tick(struct vm *vm)
{
    if (vm->trim.pagemap_fd < 0 || !vm->mem.from_file)
        return -1;
    uint64_t now = sm_now_ns();
    uint64_t seen = __atomic_load_n(&vm->io.dispatched, __ATOMIC_RELAXED);
    if (seen != vm->trim_seen) {
        vm->trim_seen = seen;
        vm->trim_active_ns = now;
        vm->trim_interval_ns = TRIM_MIN_INTERVAL_NS;
        vm->trim_pending = true;
    }
    if (!vm->trim_pending)
        return TRIM_WATCH_MS; /* only activity starts the next round */
    if (now - vm->trim_last_ns < vm->trim_interval_ns || now - vm->trim_active_ns < TRIM_QUIET_NS)
        return due_in_ms(vm, now);
    size_t dropped = trim_now(vm);
    vm->trim_last_ns = sm_now_ns();
    vm->trim_pending = dropped >= TRIM_AGAIN_PAGES;
    if (vm->trim_pending)
        vm->trim_interval_ns = vm->trim_interval_ns * 2 < TRIM_MAX_INTERVAL_NS
                                   ? vm->trim_interval_ns * 2
                                   : TRIM_MAX_INTERVAL_NS;
    /* The pause itself may have run queued device work: not the guest's activity. */
    vm->trim_seen = __atomic_load_n(&vm->io.dispatched, __ATOMIC_RELAXED);
    return vm->trim_pending ? due_in_ms(vm, sm_now_ns()) : TRIM_WATCH_MS;
}
