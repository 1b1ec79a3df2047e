/* sm-vm-connect VM PORT: sm_vm_connect's connection to the guest's TCP PORT, with this
 * program's stdin sent into it (then its write side shut) and what comes back on stdout:
 * how the e2e tests reach a guest port through the C API, nothing published. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "supermachine.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sm-vm-connect VM PORT\n");
        return 2;
    }
    sm_error_t err = NULL;
    int fd = sm_vm_connect(argv[1], (uint16_t)atoi(argv[2]), &err);
    if (fd < 0) {
        fprintf(stderr, "sm-vm-connect: %s\n", sm_error_message(err));
        sm_error_release(&err);
        return 1;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(0, buf, sizeof(buf))) > 0)
        if (write(fd, buf, (size_t)n) != n)
            return 1;
    shutdown(fd, SHUT_WR);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (write(1, buf, (size_t)n) != n)
            return 1;
    close(fd);
    return n < 0;
}
