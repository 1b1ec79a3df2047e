/* The agent's accept loop: one session process per host connection, so sessions run
 * side by side and one that fails ends alone. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guest.h"

void agent_serve(int listen_fd, int ready_fd)
{
    /* Sessions are reaped by PID 1 (our parent's job for orphans); ours are ignored so
     * they never linger as zombies. */
    signal(SIGCHLD, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    if (ready_fd >= 0)
        close(ready_fd);
    for (;;) {
        int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
                continue;
            guest_log("agent: accept: %m");
            sleep(1);
            continue;
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(listen_fd);
            signal(SIGCHLD, SIG_DFL); /* the session waits for its own process */
            agent_session(conn);
        }
        close(conn);
    }
}
