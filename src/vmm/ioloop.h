/* The VM's device thread: one epoll loop that runs device work when an eventfd fires
 * (virtqueue notifications through ioeventfd, host sockets), off the vCPU threads. */
#ifndef SM_VMM_IOLOOP_H
#define SM_VMM_IOLOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

typedef void (*ioloop_fn)(void *opaque, uint32_t events);

#define IOLOOP_MAX_HANDLERS 64

struct ioloop_handler {
    int fd;
    ioloop_fn fn;
    void *opaque;
};

struct ioloop {
    int epoll_fd;
    int stop_fd;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    struct ioloop_handler handlers[IOLOOP_MAX_HANDLERS];
    unsigned n;
    /* NULL, or run first thing on the loop's thread (the VMM confines it there). */
    void (*on_thread_start)(void);
    /* ioloop_pause parks the thread between two handlers (see there). */
    int pause_fd;
    pthread_cond_t cond;
    bool pause_requested, parked;
    /* Handlers run so far (atomic, relaxed): how the VM sees that its devices are busy. */
    uint64_t dispatched;
};

int ioloop_init(struct ioloop *l, sm_error_t *err);
/* Watches fd for `events` (EPOLLIN, ...); fn runs on the loop's thread. */
int ioloop_add(struct ioloop *l, int fd, uint32_t events, ioloop_fn fn, void *opaque,
               sm_error_t *err);
int ioloop_start(struct ioloop *l, sm_error_t *err);
void ioloop_stop(struct ioloop *l);
/* Parks the loop's thread between two handlers and returns once it is parked, so that
 * no device touches guest memory or its own state until ioloop_resume: a snapshot is
 * taken with the vCPUs paused and this loop parked, never in the middle of a request.
 * Work that arrives meanwhile waits in its eventfd. Not from the loop's own thread. */
void ioloop_pause(struct ioloop *l);
void ioloop_resume(struct ioloop *l);
void ioloop_release(struct ioloop *l);

#endif
