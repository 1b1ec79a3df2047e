/* The warm pool's logic (src/runtime/pool.c) with fake VMs: how many are kept ready,
 * never more than max, acquire's waits and errors, release, idle trimming, VMs that end
 * from outside, failed starts, destroy. No KVM: tests/e2e/pool-basic.sh runs real ones. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/util.h"
#include "runtime/pool.h"

struct fake {
    pthread_mutex_t lock;
    int started, stopped, alive_now, max_alive;
    bool fail;
    int resets;
    bool reset_fails;
    bool first_boots;                   /* VM 1 booted (baked the snapshot): it cannot be reset */
    char dead[16][INSTANCE_ID_LEN + 1]; /* ids that ended from outside */
    int ndead;
};

static int fake_start(void *arg, struct pool_vm_ref *ref, sm_error_t *err)
{
    struct fake *f = arg;
    usleep(5000);
    pthread_mutex_lock(&f->lock);
    int r = 0;
    if (f->fail) {
        r = sm_error_set(err, 0, "boom");
    } else {
        int n = ++f->started;
        snprintf(ref->id, sizeof(ref->id), "%064d", n);
        ref->name = xasprintf("vm-%d", n);
        ref->resettable = !(f->first_boots && n == 1);
        if (++f->alive_now > f->max_alive)
            f->max_alive = f->alive_now;
    }
    pthread_mutex_unlock(&f->lock);
    return r;
}

static bool fake_alive(void *arg, const struct pool_vm_ref *ref)
{
    struct fake *f = arg;
    pthread_mutex_lock(&f->lock);
    bool alive = true;
    for (int i = 0; i < f->ndead; i++)
        alive &= strcmp(f->dead[i], ref->id) != 0;
    pthread_mutex_unlock(&f->lock);
    return alive;
}

static void fake_stop(void *arg, const struct pool_vm_ref *ref)
{
    struct fake *f = arg;
    pthread_mutex_lock(&f->lock);
    f->stopped++;
    f->alive_now--;
    pthread_mutex_unlock(&f->lock);
}

static int fake_reset(void *arg, const struct pool_vm_ref *ref, sm_error_t *err)
{
    struct fake *f = arg;
    (void)ref;
    usleep(2000);
    pthread_mutex_lock(&f->lock);
    f->resets++;
    int r = f->reset_fails ? sm_error_set(err, 0, "reset refused") : 0;
    pthread_mutex_unlock(&f->lock);
    return r;
}

static void fake_kill(struct fake *f, const char *name)
{
    pthread_mutex_lock(&f->lock);
    snprintf(f->dead[f->ndead++], INSTANCE_ID_LEN + 1, "%064d", atoi(name + 3));
    pthread_mutex_unlock(&f->lock);
}

static int fake_get(struct fake *f, int *field)
{
    pthread_mutex_lock(&f->lock);
    int v = *field;
    pthread_mutex_unlock(&f->lock);
    return v;
}

static struct sm_pool *make_ops(struct fake *f, unsigned min, unsigned max, unsigned idle_s,
                                bool resets, bool first_boots)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    f->first_boots = first_boots;
    struct pool_vm_ops ops = {.start = fake_start,
                              .alive = fake_alive,
                              .stop = fake_stop,
                              .reset = resets ? fake_reset : NULL,
                              .ctx = f};
    struct sm_pool_options o = {.name = "t", .min = min, .max = max, .idle_timeout_s = idle_s};
    struct sm_pool *p = NULL;
    sm_error_t err = NULL;
    CHECK(pool_create_with_ops(&o, &ops, &p, &err) == 0);
    sm_error_release(&err);
    return p;
}

static struct sm_pool *make(struct fake *f, unsigned min, unsigned max, unsigned idle_s)
{
    return make_ops(f, min, max, idle_s, false, false);
}

/* Waits (up to 5 s) until the pool has `ready` ready and `stopping` stopping VMs. */
static bool settle(struct sm_pool *p, unsigned ready, unsigned in_use)
{
    struct sm_pool_stats s;
    for (int i = 0; i < 500; i++) {
        sm_pool_stats(p, &s);
        if (s.ready == ready && s.in_use == in_use && s.starting == 0 && s.stopping == 0)
            return true;
        usleep(10000);
    }
    fprintf(stderr, "settle: ready %u in_use %u starting %u stopping %u, want %u %u\n", s.ready,
            s.in_use, s.starting, s.stopping, ready, in_use);
    return false;
}

static char *acquire(struct sm_pool *p, int timeout_ms, sm_error_t *err)
{
    char *name = NULL;
    return sm_pool_acquire(p, timeout_ms, &name, err) == 0 ? name : NULL;
}

static void test_fill_acquire_max(void)
{
    struct fake f;
    struct sm_pool *p = make(&f, 2, 3, 0);
    CHECK(settle(p, 2, 0));
    sm_error_t err = NULL;
    char *a = acquire(p, 1000, &err), *b = NULL, *c = NULL;
    CHECK(a != NULL);
    CHECK(settle(p, 2, 1)); /* refilled to min: 3 alive */
    b = acquire(p, 1000, &err);
    c = acquire(p, 1000, &err);
    CHECK(b && c && strcmp(a, b) && strcmp(b, c) && strcmp(a, c));
    CHECK(settle(p, 0, 3)); /* at max: nothing more starts */
    char *d = acquire(p, 100, &err);
    CHECK(d == NULL && err && err->errno_value == ETIMEDOUT);
    CHECK(err && strstr(sm_error_message(err), "pool t: all 3 VMs are in use") != NULL);
    sm_error_release(&err);
    CHECK(acquire(p, 0, &err) == NULL); /* no wait at all */
    sm_error_release(&err);

    /* Unknown names are refused; a released VM is never handed out again. */
    CHECK(sm_pool_release(p, "nope", 0, &err) < 0 && err && err->errno_value == ENOENT);
    sm_error_release(&err);
    CHECK(sm_pool_release(p, a, 0, &err) == 0);
    CHECK(sm_pool_release(p, a, 0, &err) < 0); /* twice */
    sm_error_release(&err);
    char *e = acquire(p, 2000, &err); /* a fresh VM in a's place */
    CHECK(e && strcmp(e, a) && strcmp(e, b) && strcmp(e, c));
    CHECK(fake_get(&f, &f.max_alive) <= 3);

    /* A waiter is served by a release (discard: only refills to min). */
    CHECK(sm_pool_release(p, b, 1, &err) == 0);
    char *g = acquire(p, 2000, &err);
    CHECK(g != NULL);
    CHECK(fake_get(&f, &f.max_alive) <= 3);
    sm_pool_destroy(p);
    CHECK(f.stopped == f.started); /* handed out or not, every VM stopped */
    CHECK(f.alive_now == 0);
    free(a), free(b), free(c), free(e), free(g);
}

static void test_idle_timeout(void)
{
    struct fake f;
    struct sm_pool *p = make(&f, 1, 3, 1);
    CHECK(settle(p, 1, 0));
    sm_error_t err = NULL;
    char *a = acquire(p, 1000, &err), *b = acquire(p, 1000, &err);
    CHECK(a && b);
    CHECK(settle(p, 1, 2));
    CHECK(sm_pool_release(p, a, 0, &err) == 0 && sm_pool_release(p, b, 0, &err) == 0);
    /* Replacements of released VMs: ready beyond min, up to max... */
    CHECK(settle(p, 3, 0));
    /* ...then stopped once idle for 1 s, down to min. */
    usleep(1200 * 1000);
    CHECK(settle(p, 1, 0));
    sm_pool_destroy(p);
    CHECK(f.alive_now == 0);
    free(a), free(b);
}

static void test_outside_end(void)
{
    struct fake f;
    struct sm_pool *p = make(&f, 1, 2, 0);
    CHECK(settle(p, 1, 0));
    sm_error_t err = NULL;
    char *a = acquire(p, 1000, &err);
    CHECK(a != NULL);
    CHECK(settle(p, 1, 1));
    /* The ready one ends (`supermachine stop`): never handed out, replaced. */
    struct sm_pool_stats s;
    char *ready_name = xasprintf("vm-%d", fake_get(&f, &f.started));
    fake_kill(&f, ready_name);
    char *b = acquire(p, 3000, &err);
    CHECK(b && strcmp(b, ready_name) != 0);
    /* A handed-out one ends: its slot frees, and its release still succeeds. */
    fake_kill(&f, a);
    CHECK(settle(p, 1, 2)); /* a is kept (gone) until released */
    sm_pool_stats(p, &s);
    CHECK(s.in_use == 2);
    CHECK(sm_pool_release(p, a, 1, &err) == 0);
    CHECK(settle(p, 1, 1));
    sm_pool_destroy(p);
    free(a), free(b), free(ready_name);
}

static void test_failures(void)
{
    CHECK(pool_retry_delay_ms(1) == 1000);
    CHECK(pool_retry_delay_ms(2) == 2000);
    CHECK(pool_retry_delay_ms(6) == 30000);
    CHECK(pool_retry_delay_ms(100) == 30000);
    struct fake f;
    memset(&f, 0, sizeof(f));
    pthread_mutex_init(&f.lock, NULL);
    f.fail = true;
    struct pool_vm_ops ops = {
        .start = fake_start, .alive = fake_alive, .stop = fake_stop, .ctx = &f};
    struct sm_pool_options o = {.name = "t", .min = 1, .max = 1};
    struct sm_pool *p = NULL;
    sm_error_t err = NULL;
    CHECK(pool_create_with_ops(&o, &ops, &p, &err) == 0);
    char *a = acquire(p, 300, &err);
    CHECK(a == NULL && err && strstr(sm_error_message(err), "the last start failed: boom"));
    sm_error_release(&err);
    pthread_mutex_lock(&f.lock);
    f.fail = false;
    pthread_mutex_unlock(&f.lock);
    a = acquire(p, 3000, &err); /* retried after 1 s */
    CHECK(a != NULL);
    sm_pool_destroy(p);
    free(a);

    o.min = 3, o.max = 2;
    CHECK(pool_create_with_ops(&o, &ops, &p, &err) < 0 && strstr(sm_error_message(err), "max"));
    sm_error_release(&err);
}

struct waiter {
    struct sm_pool *p;
    int r;
    char *name;
};

static void *wait_forever(void *arg)
{
    struct waiter *w = arg;
    sm_error_t err = NULL;
    w->r = sm_pool_acquire(w->p, -1, &w->name, &err);
    sm_error_release(&err);
    return NULL;
}

static void test_on_demand_and_destroy(void)
{
    /* min 0: nothing ready until asked. */
    struct fake f;
    struct sm_pool *p = make(&f, 0, 1, 0);
    usleep(50000);
    CHECK(fake_get(&f, &f.started) == 0);
    sm_error_t err = NULL;
    char *a = acquire(p, 2000, &err);
    CHECK(a != NULL);
    /* A thread waiting for ever returns (an error) when the pool is destroyed. */
    struct waiter w = {.p = p};
    pthread_t t;
    pthread_create(&t, NULL, wait_forever, &w);
    usleep(50000);
    sm_pool_destroy(p);
    pthread_join(t, NULL);
    CHECK(w.r < 0 && w.name == NULL);
    CHECK(f.stopped == f.started && f.started == 1);
    free(a);
}

/* With a reset operation a released VM comes back ready, the same VM, without a start;
 * discarded or failing to reset, it is stopped and a new one replaces it. */
static void test_reset_in_place(void)
{
    struct fake f;
    struct sm_pool *p = make_ops(&f, 1, 2, 0, true, false);
    CHECK(settle(p, 1, 0));
    sm_error_t err = NULL;
    char *a = acquire(p, 1000, &err);
    CHECK(a != NULL);
    CHECK(settle(p, 1, 1)); /* refilled to min */
    int started = fake_get(&f, &f.started);
    CHECK(sm_pool_release(p, a, 0, &err) == 0);
    CHECK(sm_pool_release(p, a, 0, &err) < 0); /* twice: not held any more */
    sm_error_release(&err);
    CHECK(settle(p, 2, 0)); /* a is ready again, beside the refill */
    CHECK(fake_get(&f, &f.resets) == 1);
    CHECK(fake_get(&f, &f.started) == started);
    CHECK(fake_get(&f, &f.stopped) == 0);
    char *b = acquire(p, 1000, &err); /* the newest ready VM: a, just reset */
    CHECK(b && strcmp(a, b) == 0);

    /* A reset that fails: the VM is stopped and a new one takes its place. */
    pthread_mutex_lock(&f.lock);
    f.reset_fails = true;
    pthread_mutex_unlock(&f.lock);
    CHECK(sm_pool_release(p, b, 0, &err) == 0);
    CHECK(settle(p, 2, 0));
    CHECK(fake_get(&f, &f.resets) == 2);
    CHECK(fake_get(&f, &f.stopped) == 1);
    CHECK(fake_get(&f, &f.started) == started + 1);

    /* Discarded: never reset, only stopped. */
    char *c = acquire(p, 1000, &err);
    CHECK(c != NULL);
    CHECK(sm_pool_release(p, c, 1, &err) == 0);
    CHECK(settle(p, 1, 0));
    CHECK(fake_get(&f, &f.resets) == 2);
    CHECK(fake_get(&f, &f.stopped) == 2);
    CHECK(fake_get(&f, &f.max_alive) <= 2);
    sm_pool_destroy(p);
    CHECK(f.stopped == f.started);
    free(a), free(b), free(c);
}

/* A VM that booted rather than restored is never reset: given back, it is stopped
 * without an attempt and a new one (restored) takes its place. */
static void test_booted_vm_replaced(void)
{
    struct fake f;
    struct sm_pool *p = make_ops(&f, 1, 2, 0, true, true);
    CHECK(settle(p, 1, 0));
    sm_error_t err = NULL;
    char *a = acquire(p, 1000, &err); /* vm-1, the booted one */
    CHECK(a && strcmp(a, "vm-1") == 0);
    CHECK(settle(p, 1, 1));
    CHECK(sm_pool_release(p, a, 0, &err) == 0);
    CHECK(settle(p, 2, 0));
    CHECK(fake_get(&f, &f.resets) == 0);
    CHECK(fake_get(&f, &f.stopped) == 1);
    char *b = acquire(p, 1000, &err); /* a restored one, which is reset */
    CHECK(b && strcmp(b, "vm-1") != 0);
    CHECK(sm_pool_release(p, b, 0, &err) == 0);
    CHECK(settle(p, 2, 0));
    CHECK(fake_get(&f, &f.resets) == 1);
    CHECK(fake_get(&f, &f.stopped) == 1);
    sm_pool_destroy(p);
    CHECK(f.stopped == f.started);
    sm_error_release(&err);
    free(a), free(b);
}

int main(void)
{
    test_fill_acquire_max();
    test_idle_timeout();
    test_outside_end();
    test_failures();
    test_on_demand_and_destroy();
    test_reset_in_place();
    test_booted_vm_replaced();
    return check_summary("pool");
}
