/* virtio-vsock packets from the guest (src/vmm/devices/virtio_vsock.c): a guest memory
 * whose rx, tx and event queues come from the input, served by the real device against
 * real Unix sockets: guest connections to port 1025 reach a listener here, which answers
 * with a few bytes, so that REQUEST, RW, SHUTDOWN, credit and RST packets meet connections
 * in every state. The device is reset between inputs, as a driver reset does. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz_input.h"
#include "vmm/devices/virtio_devices.h"
#include "vmm/ioloop.h"

static char dir[64], uds[96];
static struct virtio_vsock *v;
static struct virtio_mmio t;
static struct ioloop io;
static struct vm_memory mem;
static int listener = -1;

static void cleanup(void)
{
    virtio_vsock_destroy(v); /* removes uds */
    char p[128];
    snprintf(p, sizeof(p), "%s_1025", uds);
    unlink(p);
    rmdir(dir);
}

static void init(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sm-fuzz-vsock-XXXXXX");
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(uds, sizeof(uds), "%s/v.sock", dir);
    fuzz_guest_init(&mem);
    if (ioloop_init(&io, NULL) < 0 || virtio_vsock_create(&v, uds, 0, NULL) < 0 ||
        virtio_mmio_init(&t, &virtio_vsock_ops, v, &mem, 0, 0, NULL) < 0 ||
        virtio_vsock_attach(v, &t, &io, NULL) < 0)
        abort();
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_1025", uds);
    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (bind(listener, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(listener, 64) < 0)
        abort();
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (v == NULL)
        init();
    struct fuzz_input in = {data, size};
    pthread_mutex_lock(&t.lock);
    virtio_vsock_ops.reset(v, &t); /* every connection of the last input goes */
    pthread_mutex_unlock(&t.lock);
    memset(&t.s, 0, sizeof(t.s));
    fuzz_guest_init(&mem);
    for (unsigned q = 0; q < 3; q++)
        fuzz_queue_setup(&t, q, &in);
    uint8_t mode = fuzz_u8(&in);
    fuzz_driver_ok(&t, mode & 1 ? VIRTIO_RING_F_EVENT_IDX : 0);
    if (mode & 2) { /* a restored VM owes the guest a TRANSPORT_RESET event */
        struct virtio_vsock_state st = {.guest_cid = VIRTIO_VSOCK_DEFAULT_CID};
        virtio_vsock_restore(v, &st, NULL);
    }
    fuzz_guest_fill(&mem, &in);

    virtio_mmio_notified(&t, 0); /* the guest's packets */
    /* The host side of the guest's connections answers and hangs up, in turn. */
    int fds[8], nfds = 0;
    while (nfds < 8 && (fds[nfds] = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) >= 0)
        nfds++;
    for (int i = 0; i < nfds; i++)
        if (send(fds[i], "pong", 4, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            continue;
    virtio_vsock_handle_io(v, 0);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    virtio_vsock_handle_io(v, 0);
    virtio_mmio_notified(&t, 0);
    return 0;
}
