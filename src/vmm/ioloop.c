#include "vmm/ioloop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int ioloop_init(struct ioloop *l, sm_error_t *err)
{
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cond, NULL);
    l->stop_fd = l->pause_fd = -1;
    l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epoll_fd < 0)
        return sm_error_set(err, errno, "epoll_create1");
    l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->stop_fd < 0)
        return sm_error_set(err, errno, "eventfd");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, l->stop_fd, &ev) < 0)
        return sm_error_set(err, errno, "epoll_ctl");
    l->pause_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->pause_fd < 0)
        return sm_error_set(err, errno, "eventfd");
    ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &l->pause_fd};
    if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, l->pause_fd, &ev) < 0)
        return sm_error_set(err, errno, "epoll_ctl");
    return 0;
}

int ioloop_add(struct ioloop *l, int fd, uint32_t events, ioloop_fn fn, void *opaque,
               sm_error_t *err)
{
    pthread_mutex_lock(&l->lock);
    if (l->n == IOLOOP_MAX_HANDLERS) {
        pthread_mutex_unlock(&l->lock);
        return sm_error_set(err, 0, "device loop: too many handlers");
    }
    struct ioloop_handler *h = &l->handlers[l->n++];
    *h = (struct ioloop_handler){fd, fn, opaque};
    pthread_mutex_unlock(&l->lock);
    struct epoll_event ev = {.events = events, .data.ptr = h};
    if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return sm_error_set(err, errno, "epoll_ctl add %d", fd);
    return 0;
}

static void park(struct ioloop *l)
{
    uint64_t v;
    ssize_t r = read(l->pause_fd, &v, sizeof(v));
    (void)r;
    pthread_mutex_lock(&l->lock);
    while (l->pause_requested) {
        l->parked = true;
        pthread_cond_broadcast(&l->cond);
        pthread_cond_wait(&l->cond, &l->lock);
    }
    l->parked = false;
    pthread_mutex_unlock(&l->lock);
}

static void *ioloop_thread(void *arg)
{
    struct ioloop *l = arg;
    pthread_setname_np(pthread_self(), "devices");
    if (l->on_thread_start)
        l->on_thread_start();
    for (;;) {
        struct epoll_event evs[16];
        int n = epoll_wait(l->epoll_fd, evs, 16, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < n; i++) {
            struct ioloop_handler *h = evs[i].data.ptr;
            if (h == NULL)
                return NULL; /* stop */
            if ((void *)h == &l->pause_fd) {
                park(l);
                continue;
            }
            /* A pause asked while this batch runs parks before the next handler. */
            if (__atomic_load_n(&l->pause_requested, __ATOMIC_ACQUIRE))
                park(l);
            __atomic_add_fetch(&l->dispatched, 1, __ATOMIC_RELAXED);
            h->fn(h->opaque, evs[i].events);
        }
    }
    return NULL;
}

int ioloop_start(struct ioloop *l, sm_error_t *err)
{
    int r = pthread_create(&l->thread, NULL, ioloop_thread, l);
    if (r != 0)
        return sm_error_set(err, r, "start the device thread");
    l->running = true;
    return 0;
}

void ioloop_stop(struct ioloop *l)
{
    if (!l->running)
        return;
    uint64_t one = 1;
    ssize_t w = write(l->stop_fd, &one, sizeof(one));
    (void)w;
    pthread_join(l->thread, NULL);
    l->running = false;
}

void ioloop_pause(struct ioloop *l)
{
    if (!l->running)
        return;
    pthread_mutex_lock(&l->lock);
    __atomic_store_n(&l->pause_requested, true, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&l->lock);
    uint64_t one = 1;
    ssize_t w = write(l->pause_fd, &one, sizeof(one));
    (void)w;
    pthread_mutex_lock(&l->lock);
    while (!l->parked)
        pthread_cond_wait(&l->cond, &l->lock);
    pthread_mutex_unlock(&l->lock);
}

void ioloop_resume(struct ioloop *l)
{
    pthread_mutex_lock(&l->lock);
    __atomic_store_n(&l->pause_requested, false, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

void ioloop_release(struct ioloop *l)
{
    ioloop_stop(l);
    if (l->epoll_fd >= 0)
        close(l->epoll_fd);
    if (l->stop_fd >= 0)
        close(l->stop_fd);
    if (l->pause_fd >= 0)
        close(l->pause_fd);
    l->epoll_fd = l->stop_fd = l->pause_fd = -1;
}
