/* sm-pool-bench IMAGE N: the warm pool's timings through the C API (bench/pool), each
 * N times, one line per figure ("NAME ms ms ms ..."), timed in this process so that no
 * CLI start is counted:
 *   restore   acquire from an empty pool (min 0): a VM restored from the snapshot and its
 *             agent greeted, then released with discard (stopped): the anchor
 *   reset     release of a used VM (reset to the snapshot in place) until it is ready
 *             again, with its agent greeted
 *   acquire   acquire of a ready VM
 *   exec      `true` run in the VM just acquired, until its exit status is back
 * The init-ready snapshot must exist (the caller bakes it). Network: the default (user). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "supermachine.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, sm_error_t *err)
{
    fprintf(stderr, "sm-pool-bench: %s: %s\n", what, err ? sm_error_message(*err) : "failed");
    exit(1);
}

static void run_true(const char *vm)
{
    static const char *const argv[] = {"true", NULL};
    struct sm_exec_options eo = {.argv = argv, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
    int status = -1;
    sm_error_t err = NULL;
    if (sm_vm_exec(vm, &eo, &status, &err) < 0 || status != 0)
        die("exec true", &err);
}

/* Until the pool has `ready` ready VMs and nothing starting. */
static void wait_ready(struct sm_pool *pool, unsigned ready)
{
    double deadline = now_ms() + 600e3;
    for (;;) {
        struct sm_pool_stats s;
        sm_pool_stats(pool, &s);
        if (s.ready >= ready && s.starting == 0)
            return;
        if (now_ms() > deadline)
            die("a VM never became ready", NULL);
        usleep(1000);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sm-pool-bench IMAGE N\n");
        return 2;
    }
    int n = atoi(argv[2]);
    if (n < 1)
        n = 1;
    struct sm_run_options ro = {.image = argv[1], .memory_mib = 256};
    struct sm_pool_options po = {.run = &ro, .name = "bench", .min = 0, .max = 1};
    struct sm_pool *pool;
    sm_error_t err = NULL;
    if (sm_pool_create(&po, &pool, &err) < 0)
        die("pool", &err);
    double *restore = calloc((size_t)n, sizeof(double)), *reset = calloc((size_t)n, sizeof(double));
    double *acquire = calloc((size_t)n, sizeof(double)), *exec = calloc((size_t)n, sizeof(double));
    char *vm;
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        if (sm_pool_acquire(pool, 600000, &vm, &err) < 0)
            die("acquire (restore)", &err);
        restore[i] = now_ms() - t0;
        run_true(vm);
        if (sm_pool_release(pool, vm, 1, &err) < 0)
            die("release --discard", &err);
        free(vm);
        struct sm_pool_stats s;
        do {
            usleep(1000);
            sm_pool_stats(pool, &s);
        } while (s.stopping > 0);
    }
    if (sm_pool_acquire(pool, 600000, &vm, &err) < 0)
        die("acquire", &err);
    for (int i = 0; i < n; i++) {
        run_true(vm); /* used: the reset has pages and a session to undo */
        double t0 = now_ms();
        if (sm_pool_release(pool, vm, 0, &err) < 0)
            die("release", &err);
        free(vm);
        wait_ready(pool, 1);
        reset[i] = now_ms() - t0;
        t0 = now_ms();
        if (sm_pool_acquire(pool, 0, &vm, &err) < 0)
            die("acquire (ready)", &err);
        acquire[i] = now_ms() - t0;
        t0 = now_ms();
        run_true(vm);
        exec[i] = now_ms() - t0;
    }
    free(vm);
    sm_pool_destroy(pool);
    const char *names[] = {"restore", "reset", "acquire", "exec"};
    double *figs[] = {restore, reset, acquire, exec};
    for (int f = 0; f < 4; f++) {
        printf("%s", names[f]);
        for (int i = 0; i < n; i++)
            printf(" %.1f", figs[f][i]);
        printf("\n");
        free(figs[f]);
    }
    return 0;
}
