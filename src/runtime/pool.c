/* Warm pools (docs/pool.md): idle VMs of one image kept ready, handed out by
 * sm_pool_acquire; once given back, reset to their snapshot in place and ready again
 * (or, discarded or when that fails, stopped and replaced).
 *
 * One mutex guards the pool; one thread of its own starts VMs (one at a time: a first
 * boot bakes the snapshot every later start restores), resets the ones given back, stops
 * the discarded ones and those idle too long, and notices VMs that ended from outside.
 * Acquirers wait on `changed`; the thread on `wake`. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/pool.h"

#define POOL_MAX_VMS 1024
/* How often the thread looks whether ready and handed-out VMs still run. */
#define POOL_PROBE_MS 1000

enum pool_vm_state {
    VM_READY,    /* started, agent answered, not handed out */
    VM_IN_USE,   /* handed out */
    VM_DOOMED,   /* to be stopped by the thread */
    VM_STOPPING, /* being stopped by the thread */
    VM_GONE,     /* handed out, then ended from outside: kept until released */
    VM_RETURNED, /* given back: to be reset by the thread */
    VM_RESETTING,
};

struct pool_vm {
    struct pool_vm_ref ref;
    enum pool_vm_state state;
    bool keep;         /* DOOMED/STOPPING: becomes GONE once stopped (it was handed out) */
    uint64_t since_ns; /* READY: since when */
};

struct sm_pool {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a VM became ready or left, the pool closes */
    pthread_cond_t wake;    /* work for the thread */
    struct pool_vm *vms;
    size_t nvms;
    char *name;
    unsigned min, max, idle_timeout_s;
    /* Ready VMs wanted beyond min: one more per release without discard, one less per
     * acquire and per VM stopped for idling. */
    unsigned surplus;
    unsigned starting;
    unsigned failures; /* starts failed in a row */
    uint64_t retry_at_ns;
    char *last_error;
    unsigned callers; /* threads in sm_pool_acquire */
    unsigned waiting; /* of which waiting for a VM: each wants one more started */
    bool closing;
    bool thread_started;
    pthread_t thread;
    struct pool_vm_ops ops;
};

unsigned pool_retry_delay_ms(unsigned failures)
{
    if (failures == 0)
        return 0;
    unsigned shift = failures - 1 > 5 ? 5 : failures - 1;
    unsigned ms = 1000u << shift;
    return ms > 30000 ? 30000 : ms;
}

static unsigned count(const struct sm_pool *p, enum pool_vm_state s)
{
    unsigned n = 0;
    for (size_t i = 0; i < p->nvms; i++)
        n += p->vms[i].state == s;
    return n;
}

/* VMs that hold resources: everything but GONE, plus those being started. */
static unsigned alive_count(const struct sm_pool *p)
{
    return (unsigned)p->nvms - count(p, VM_GONE) + p->starting;
}

static struct pool_vm *find_ref(struct sm_pool *p, const char *id)
{
    for (size_t i = 0; i < p->nvms; i++)
        if (strcmp(p->vms[i].ref.id, id) == 0)
            return &p->vms[i];
    return NULL;
}

static void drop(struct sm_pool *p, struct pool_vm *v)
{
    free(v->ref.name);
    size_t i = (size_t)(v - p->vms);
    memmove(&p->vms[i], &p->vms[i + 1], (p->nvms - i - 1) * sizeof(*v));
    p->nvms--;
}

static void doom(struct sm_pool *p, struct pool_vm *v, bool keep)
{
    v->state = VM_DOOMED;
    v->keep = keep;
    pthread_cond_signal(&p->wake);
}

/* VMs stopped or removed from outside (`supermachine stop`, a crashed VMM) are noticed
 * here: their VMMs are reaped and their records removed by the thread. */
static void probe(struct sm_pool *p)
{
    for (size_t i = 0; i < p->nvms; i++) {
        struct pool_vm *v = &p->vms[i];
        if ((v->state == VM_READY || v->state == VM_IN_USE) && !p->ops.alive(p->ops.ctx, &v->ref))
            doom(p, v, v->state == VM_IN_USE);
    }
}

static bool want_start(const struct sm_pool *p, uint64_t now)
{
    unsigned target = p->min + p->surplus + p->waiting;
    unsigned coming = count(p, VM_READY) + count(p, VM_RETURNED) + count(p, VM_RESETTING);
    return coming + p->starting < target && alive_count(p) < p->max && now >= p->retry_at_ns;
}

static void start_one(struct sm_pool *p)
{
    p->starting++;
    pthread_mutex_unlock(&p->lock);
    struct pool_vm_ref ref = {0};
    sm_error_t err = NULL;
    int r = p->ops.start(p->ops.ctx, &ref, &err);
    pthread_mutex_lock(&p->lock);
    p->starting--;
    if (r == 0) {
        p->vms = xrealloc(p->vms, (p->nvms + 1) * sizeof(*p->vms));
        p->vms[p->nvms++] =
            (struct pool_vm){.ref = ref, .state = VM_READY, .since_ns = sm_now_ns()};
        p->failures = 0;
        p->retry_at_ns = 0;
        free(p->last_error);
        p->last_error = NULL;
    } else {
        p->failures++;
        p->retry_at_ns = sm_now_ns() + (uint64_t)pool_retry_delay_ms(p->failures) * 1000000;
        free(p->last_error);
        p->last_error = xstrdup(sm_error_message(err));
        fprintf(stderr, "supermachine: pool %s: start a VM: %s\n", p->name, p->last_error);
    }
    sm_error_release(&err);
    pthread_cond_broadcast(&p->changed);
}

static void stop_one(struct sm_pool *p, struct pool_vm *v)
{
    v->state = VM_STOPPING;
    struct pool_vm_ref ref = v->ref; /* v may move while unlocked; the name stays ours */
    pthread_mutex_unlock(&p->lock);
    p->ops.stop(p->ops.ctx, &ref);
    pthread_mutex_lock(&p->lock);
    v = find_ref(p, ref.id);
    if (v && v->keep)
        v->state = VM_GONE;
    else if (v)
        drop(p, v);
    pthread_cond_broadcast(&p->changed);
}

/* A VM given back, put back as it was when ready: ready again, the newest. If that
 * fails it is stopped and a fresh one takes its place. */
static void reset_one(struct sm_pool *p, struct pool_vm *v)
{
    v->state = VM_RESETTING;
    struct pool_vm_ref ref = v->ref; /* v may move while unlocked; the name stays ours */
    pthread_mutex_unlock(&p->lock);
    sm_error_t err = NULL;
    int r = p->ops.reset(p->ops.ctx, &ref, &err);
    pthread_mutex_lock(&p->lock);
    v = find_ref(p, ref.id);
    if (v && r == 0) {
        v->state = VM_READY;
        v->since_ns = sm_now_ns();
    } else if (v) {
        fprintf(stderr, "supermachine: pool %s: reset %s: %s (a new VM replaces it)\n", p->name,
                ref.name, sm_error_message(err));
        if (p->min + p->surplus < p->max)
            p->surplus++;
        doom(p, v, false);
    }
    sm_error_release(&err);
    pthread_cond_broadcast(&p->changed);
}

/* The ready VM unused the longest, if beyond min and idle for idle_timeout_s; else
 * *next_ns gets when one will be. */
static struct pool_vm *idle_victim(struct sm_pool *p, uint64_t now, uint64_t *next_ns)
{
    if (p->idle_timeout_s == 0 || count(p, VM_READY) <= p->min)
        return NULL;
    struct pool_vm *oldest = NULL;
    for (size_t i = 0; i < p->nvms; i++)
        if (p->vms[i].state == VM_READY && (!oldest || p->vms[i].since_ns < oldest->since_ns))
            oldest = &p->vms[i];
    uint64_t due = oldest->since_ns + (uint64_t)p->idle_timeout_s * 1000000000;
    if (now >= due)
        return oldest;
    if (due < *next_ns)
        *next_ns = due;
    return NULL;
}

static void wait_until(pthread_cond_t *c, pthread_mutex_t *m, uint64_t mono_ns)
{
    /* Condition variables use CLOCK_MONOTONIC here (pool_create_with_ops), as sm_now_ns. */
    struct timespec ts = {.tv_sec = (time_t)(mono_ns / 1000000000),
                          .tv_nsec = (long)(mono_ns % 1000000000)};
    pthread_cond_timedwait(c, m, &ts);
}

static void *pool_thread(void *arg)
{
    struct sm_pool *p = arg;
    /* Signals are the program's business, not this thread's. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&p->lock);
    while (!p->closing) {
        probe(p);
        struct pool_vm *v = NULL;
        for (size_t i = 0; i < p->nvms && !v; i++)
            if (p->vms[i].state == VM_DOOMED)
                v = &p->vms[i];
        if (v) { /* first: a stopped VM makes room under max */
            stop_one(p, v);
            continue;
        }
        for (size_t i = 0; i < p->nvms && !v; i++)
            if (p->vms[i].state == VM_RETURNED)
                v = &p->vms[i];
        if (v) { /* next: a VM given back is ready sooner than a new one */
            reset_one(p, v);
            continue;
        }
        uint64_t now = sm_now_ns();
        if (want_start(p, now)) {
            start_one(p);
            continue;
        }
        uint64_t next = now + (uint64_t)POOL_PROBE_MS * 1000000;
        if ((v = idle_victim(p, now, &next)) != NULL) {
            if (p->surplus > 0)
                p->surplus--;
            doom(p, v, false);
            continue;
        }
        if (p->retry_at_ns > now && p->retry_at_ns < next)
            next = p->retry_at_ns;
        wait_until(&p->wake, &p->lock, next);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int pool_create_with_ops(const struct sm_pool_options *o, const struct pool_vm_ops *ops,
                         struct sm_pool **out, sm_error_t *err)
{
    const char *name = o->name && *o->name ? o->name : "pool";
    unsigned max = o->max ? o->max : (o->min ? o->min : 1);
    if (max < o->min || max > POOL_MAX_VMS)
        return sm_error_set(err, EINVAL, "pool %s: min %u, max %u: want min <= max <= %d", name,
                            o->min, max, POOL_MAX_VMS);
    struct sm_pool *p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->changed, &ca);
    pthread_cond_init(&p->wake, &ca);
    pthread_condattr_destroy(&ca);
    p->name = xstrdup(name);
    p->min = o->min;
    p->max = max;
    p->idle_timeout_s = o->idle_timeout_s;
    p->ops = *ops;
    int e = pthread_create(&p->thread, NULL, pool_thread, p);
    if (e != 0) {
        sm_error_set(err, e, "pool %s: start its thread", name);
        p->ops.release = NULL; /* the caller still owns ctx */
        sm_pool_destroy(p);
        return -1;
    }
    p->thread_started = true;
    *out = p;
    return 0;
}

/* Why no VM came (the caller knows how long it waited: a server waits in slices). */
static void set_timeout_error(struct sm_pool *p, sm_error_t *err)
{
    if (count(p, VM_IN_USE) >= p->max)
        sm_error_set(err, 0, "pool %s: all %u VMs are in use", p->name, p->max);
    else if (p->last_error)
        sm_error_set(err, 0, "pool %s: no VM ready yet; the last start failed: %s", p->name,
                     p->last_error);
    else
        sm_error_set(err, 0, "pool %s: no VM ready yet (%u starting)", p->name, p->starting);
    if (*err)
        (*err)->errno_value = ETIMEDOUT;
}

int sm_pool_acquire(struct sm_pool *p, int timeout_ms, char **name_out, sm_error_t *err)
{
    uint64_t deadline = sm_now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
    int r = -1;
    pthread_mutex_lock(&p->lock);
    p->callers++;
    for (;;) {
        if (p->closing) {
            sm_error_set(err, 0, "pool %s: the pool is closing", p->name);
            break;
        }
        /* The newest ready VM: the oldest are the ones idling out. */
        struct pool_vm *v = NULL;
        for (size_t i = 0; i < p->nvms; i++) {
            struct pool_vm *c = &p->vms[i];
            if (c->state != VM_READY || (v && v->since_ns >= c->since_ns))
                continue;
            if (p->ops.alive(p->ops.ctx, &c->ref))
                v = c;
            else
                doom(p, c, false);
        }
        if (v) {
            v->state = VM_IN_USE;
            if (p->surplus > 0)
                p->surplus--;
            *name_out = xstrdup(v->ref.name);
            pthread_cond_signal(&p->wake); /* refill */
            r = 0;
            break;
        }
        if (timeout_ms >= 0 && sm_now_ns() >= deadline) {
            set_timeout_error(p, err);
            break;
        }
        p->waiting++;
        pthread_cond_signal(&p->wake); /* min 0, or all taken: start one for us */
        if (timeout_ms < 0)
            pthread_cond_wait(&p->changed, &p->lock);
        else
            wait_until(&p->changed, &p->lock, deadline);
        p->waiting--;
    }
    p->callers--;
    if (p->closing)
        pthread_cond_broadcast(&p->changed); /* sm_pool_destroy waits for callers */
    pthread_mutex_unlock(&p->lock);
    return r;
}

int sm_pool_release(struct sm_pool *p, const char *name_or_id, int discard, sm_error_t *err)
{
    pthread_mutex_lock(&p->lock);
    struct pool_vm *v = NULL;
    for (size_t i = 0; i < p->nvms && !v; i++) {
        struct pool_vm *c = &p->vms[i];
        bool held = c->state == VM_IN_USE || c->state == VM_GONE || c->keep;
        if (held && (strcmp(c->ref.id, name_or_id) == 0 || strcmp(c->ref.name, name_or_id) == 0))
            v = c;
    }
    int r = 0;
    if (v == NULL) {
        r = sm_error_set(err, 0, "pool %s: %s: no VM of this pool is handed out by that name",
                         p->name, name_or_id);
        if (*err)
            (*err)->errno_value = ENOENT;
    } else if (v->state == VM_GONE) {
        drop(p, v); /* ended from outside: nothing left to stop */
    } else if (v->state == VM_IN_USE && !discard && p->ops.reset && v->ref.resettable) {
        v->state = VM_RETURNED; /* the thread resets it: ready again, in place */
        v = NULL;
    } else if (v->state == VM_IN_USE) {
        doom(p, v, false);
    } else {
        v->keep = false; /* ending already (from outside): forget it once stopped */
    }
    /* A fresh VM in place of one not reset, unless discarded. */
    if (v && !discard && p->min + p->surplus < p->max)
        p->surplus++;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    return r;
}

void sm_pool_stats(struct sm_pool *p, struct sm_pool_stats *out)
{
    pthread_mutex_lock(&p->lock);
    *out = (struct sm_pool_stats){
        .ready = count(p, VM_READY),
        .in_use = count(p, VM_IN_USE) + count(p, VM_GONE),
        .starting = p->starting + count(p, VM_RETURNED) + count(p, VM_RESETTING),
        .stopping = count(p, VM_DOOMED) + count(p, VM_STOPPING),
        .min = p->min,
        .max = p->max,
        .idle_timeout_s = p->idle_timeout_s,
    };
    pthread_mutex_unlock(&p->lock);
}

void sm_pool_destroy(struct sm_pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->closing = true;
    pthread_cond_broadcast(&p->changed);
    pthread_cond_signal(&p->wake);
    while (p->callers > 0)
        pthread_cond_wait(&p->changed, &p->lock);
    pthread_mutex_unlock(&p->lock);
    if (p->thread_started)
        pthread_join(p->thread, NULL); /* after a start in progress, if any */
    for (size_t i = 0; i < p->nvms; i++) {
        if (p->vms[i].state != VM_GONE)
            p->ops.stop(p->ops.ctx, &p->vms[i].ref);
        free(p->vms[i].ref.name);
    }
    if (p->ops.release)
        p->ops.release(p->ops.ctx);
    free(p->vms);
    free(p->name);
    free(p->last_error);
    pthread_cond_destroy(&p->changed);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* ---- the real operations: idle VMs in VMM processes of ours ------------------ */

struct idle_ctx {
    struct run_plan plan;
    char *image;
    char *label; /* "(pool NAME)": the VMs' command */
    char *vms_dir;
    pid_t owner;
};

static int idle_start(void *arg, struct pool_vm_ref *ref, sm_error_t *err)
{
    struct idle_ctx *c = arg;
    struct instance in;
    if (run_idle_start(&c->plan, c->image, c->label, c->owner, &in, &ref->vmm, err) < 0)
        return -1;
    ref->resettable = c->plan.restore; /* run_idle_start looked for the snapshot */
    memcpy(ref->id, in.id, sizeof(ref->id));
    ref->name = xstrdup(in.name);
    instance_release(&in);
    return 0;
}

static bool idle_alive(void *arg, const struct pool_vm_ref *ref)
{
    struct idle_ctx *c = arg;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/%s", c->vms_dir, ref->id);
    struct instance in = {.dir = dir};
    return instance_running(&in);
}

static void idle_stop(void *arg, const struct pool_vm_ref *ref)
{
    struct idle_ctx *c = arg;
    sm_error_t ignored = NULL;
    run_vmm_end(ref->vmm);
    /* Not our child any more (the program reaped it): stopped the way `stop` does. */
    if (idle_alive(arg, ref))
        sm_vm_stop(ref->id, 0, &ignored);
    sm_error_release(&ignored);
    struct instance in = {.dir = xasprintf("%s/%s", c->vms_dir, ref->id),
                          .name = xstrdup(ref->name)};
    instance_remove_dir(&in, &ignored); /* gone already if the user removed it */
    sm_error_release(&ignored);
    instance_release(&in);
}

static int idle_reset(void *arg, const struct pool_vm_ref *ref, sm_error_t *err)
{
    struct idle_ctx *c = arg;
    cleanup_free char *dir = xasprintf("%s/%s", c->vms_dir, ref->id);
    return run_idle_reset(dir, ref->id, err);
}

static void idle_release(void *arg)
{
    struct idle_ctx *c = arg;
    run_plan_release(&c->plan);
    free(c->image);
    free(c->label);
    free(c->vms_dir);
    free(c);
}

/* Records of this pool's VMs that ended unseen (an owner killed with SIGKILL leaves
 * them "exited"): removed before it starts again. Only ended ones: a VM another pool of
 * that name is starting (a record, no VMM yet) is "created". */
static void remove_leftovers(const char *label)
{
    struct instance *list;
    size_t n;
    sm_error_t ignored = NULL;
    if (instance_list(&list, &n, &ignored) == 0) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(list[i].command, label) == 0 && strcmp(list[i].status, "exited") == 0 &&
                instance_idle(&list[i]))
                instance_remove_dir(&list[i], &ignored);
        instance_list_free(list, n);
    }
    sm_error_release(&ignored);
}

/* The run options a pool takes (sm_pool_options.run): every VM's, none of one VM's. */
static int check_run_options(const struct sm_run_options *r, sm_error_t *err)
{
    if (r == NULL || r->image == NULL || *r->image == '\0')
        return sm_error_set(err, EINVAL, "no image given");
    const char *bad = r->name || r->hostname                      ? "a VM name or hostname"
                      : r->cmd || r->entrypoint                   ? "a command"
                      : r->env || r->workdir || r->user           ? "environment, workdir or user"
                      : r->tty || r->interactive                  ? "a terminal or stdin"
                      : r->detach || r->auto_remove               ? "detach or auto-remove"
                      : r->stop_signal || r->stop_timeout_set     ? "a stop signal or timeout"
                      : r->restart                                ? "a restart policy"
                      : r->extra_hosts && r->extra_hosts[0]       ? "hosts to add"
                      : r->read_only || (r->tmpfs && r->tmpfs[0]) ? "--read-only or --tmpfs"
                      : r->labels && r->labels[0]                 ? "labels"
                      : r->dns || r->dns_search || r->dns_options ? "DNS settings"
                      : r->ulimits && r->ulimits[0]               ? "ulimits"
                      : r->shm_size                               ? "--shm-size"
                      : (r->publish && r->publish[0]) || r->publish_all ? "ports to publish"
                                                                        : NULL;
    if (bad)
        return sm_error_set(err, EINVAL,
                            "%s: a pool's VMs have no main process and are alike "
                            "(give these to exec, publish with sm_vm_publish)",
                            bad);
    return 0;
}

int sm_pool_create(const struct sm_pool_options *o, struct sm_pool **out, sm_error_t *err)
{
    const char *name = o->name && *o->name ? o->name : "pool";
    if (check_run_options(o->run, err) < 0)
        return sm_error_wrap(err, "pool %s", name);
    /* run_prepare composes a main process nobody runs: any command will do. */
    static const char *const no_command[] = {"(idle)", NULL};
    static const char *const no_entrypoint[] = {NULL};
    struct sm_run_options ro = *o->run;
    ro.cmd = no_command;
    ro.entrypoint = no_entrypoint;
    struct idle_ctx *c = xcalloc(1, sizeof(*c));
    cleanup_free char *store = sm_store_root(err);
    if (store == NULL || run_prepare(&ro, &c->plan, err) < 0) {
        free(c);
        return sm_error_wrap(err, "pool %s", name);
    }
    /* A pool lives long: it cannot keep `system prune` waiting. Its VMs keep what they
     * use from being pruned while they run. */
    run_plan_unhold(&c->plan);
    c->image = xstrdup(o->run->image);
    c->label = xasprintf("(pool %s)", name);
    c->vms_dir = xasprintf("%s/vms", store);
    c->owner = getpid();
    remove_leftovers(c->label);
    struct pool_vm_ops ops = {.start = idle_start,
                              .alive = idle_alive,
                              .stop = idle_stop,
                              .reset = idle_reset,
                              .release = idle_release,
                              .ctx = c};
    if (pool_create_with_ops(o, &ops, out, err) < 0) {
        idle_release(c);
        return -1;
    }
    return 0;
}
