/* sm-agent-client SOCKET [-t] [-i] [-u USER] [-w DIR] [-e K=V]... -- ARGV...: runs one
 * process through an agent serving a Unix socket (sm-init --listen unix:SOCKET) with the
 * library's client, attached to this process's stdio; exits with its status. With
 * --poweroff instead of ARGV, asks the agent to power off. For tests/e2e/agent-host.sh. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent_client.h"

static int sigpipe_fds[2];

static void on_sig(int sig)
{
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(sigpipe_fds[1], &b, 1);
    (void)w;
}

int main(int argc, char **argv)
{
    struct agent_exec_request req = {.cwd = "/", .user = "0"};
    const char **env = calloc((size_t)argc + 2, sizeof(char *));
    size_t nenv = 0;
    bool poweroff = false;
    int c;
    env[nenv++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    static const struct option lo[] = {{"poweroff", no_argument, NULL, 'P'}, {NULL, 0, NULL, 0}};
    while ((c = getopt_long(argc, argv, "+tiu:w:e:", lo, NULL)) != -1) {
        switch (c) {
        case 't':
            req.tty = true;
            break;
        case 'i':
            req.stdin_open = true;
            break;
        case 'u':
            req.user = optarg;
            break;
        case 'w':
            req.cwd = optarg;
            break;
        case 'e':
            env[nenv++] = optarg;
            break;
        case 'P':
            poweroff = true;
            break;
        default:
            return 125;
        }
    }
    if (optind >= argc || (!poweroff && optind + 1 >= argc)) {
        fprintf(stderr, "usage: sm-agent-client SOCKET [-t] [-i] [-u U] [-w D] [-e K=V] ARGV...\n");
        return 125;
    }
    req.argv = (const char *const *)&argv[optind + 1];
    req.env = env;
    req.rows = 33;
    req.cols = 101;
    sm_error_t err = NULL;
    struct agent_conn conn;
    int status = 125;
    if (agent_connect_unix(argv[optind], &conn, &err) < 0 || agent_hello(&conn, 5000, &err) < 0)
        goto fail;
    if (poweroff) {
        if (agent_poweroff(&conn, &err) < 0)
            goto fail;
        agent_close(&conn);
        free(env);
        return 0;
    }
    if (pipe(sigpipe_fds) < 0)
        return 125;
    signal(SIGTERM, on_sig);
    signal(SIGINT, on_sig);
    if (agent_exec(&conn, &req, req.stdin_open ? 0 : -1, 1, 2, sigpipe_fds[0], &status, &err) < 0)
        goto fail;
    agent_close(&conn);
    free(env);
    return status;
fail:
    free(env);
    fprintf(stderr, "sm-agent-client: %s\n", sm_error_message(err));
    sm_error_release(&err);
    return 125;
}
