/* supermachine run: docker's `run`, each container a microVM. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"

void cmd_run_usage(FILE *out)
{
    fprintf(out,
            "Usage: supermachine run [OPTIONS] IMAGE [COMMAND [ARG...]]\n\n"
            "Runs an image's Entrypoint + Cmd (or COMMAND) in a new microVM with its own\n"
            "kernel. The first run of an image bakes a snapshot of the booted guest; later\n"
            "runs restore it. The exit status is the command's own (125: supermachine's\n"
            "error, 126: not executable, 127: not found).\n\n"
            "  -d, --detach           run in the background and print the VM's id\n"
            "      --rm               remove the VM when it ends\n"
            "      --name NAME        name the VM (default: generated)\n"
            "  -e, --env K=V          set an environment variable (K alone: take it from here)\n"
            "      --env-file FILE    set the variables FILE lists, one K=V (or K) a line\n"
            "  -h, --hostname NAME    the guest's hostname (default: the VM's short id)\n"
            "  -w, --workdir DIR      working directory of the command\n"
            "  -u, --user USER[:GROUP]  user to run as (name or uid)\n"
            "      --entrypoint CMD   replace the image's entrypoint (\"\" clears it)\n"
            "  -m, --memory SIZE      guest memory, e.g. 512m or 1g (default 512m)\n"
            "      --cpus N           virtual CPUs (a fraction rounds up; default 1)\n"
            "  -i, --interactive      keep stdin open\n"
            "  -t, --tty              give the command a terminal\n"
            "      --ulimit NAME=SOFT[:HARD]  a resource limit of every process of the VM\n"
            "                         (nofile, nproc, core, stack, ...; -1: unlimited)\n"
            "      --shm-size SIZE    the size of the guest's /dev/shm (64m, 1g; default half\n"
            "                         its RAM)\n"
            "      --pull POLICY      missing (the default: pull if the store lacks it),\n"
            "                         always (pull first), never (the store's or fail)\n"
            "      --cidfile FILE     write the VM's id to FILE, which must not exist\n"
            "      --platform P       this host's own (linux/amd64 on x86_64); others refused\n"
            "      --init             accepted, as docker's: sm-init is always PID 1 and\n"
            "                         reaps orphans, the command never is PID 1\n"
            "  -l, --label K=V        a label of the VM (K alone: empty; repeatable; ps -f\n"
            "                         label=K[=V] finds it; inspect shows it)\n"
            "      --label-file FILE  the labels FILE lists, one K=V (or K) a line\n"
            "      --read-only        the image's root is read-only (/dev, /run, /proc and\n"
            "                         tmpfs mounts stay writable)\n"
            "      --tmpfs PATH[:OPTIONS]  mount a tmpfs on PATH (default options: nosuid,\n"
            "                         nodev,noexec,mode=1777; also ro, exec, size=64m, mode=,\n"
            "                         uid=, gid=, ...; repeatable; docs/run.md)\n"
            "      --stop-signal SIGNAL  what 'stop' sends the command (default: the\n"
            "                         image's StopSignal, else SIGTERM)\n"
            "      --stop-timeout SECONDS  how long 'stop' waits for it to end before it\n"
            "                         stops the VM outright (default 10)\n"
            "      --restart POLICY   with -d: start the command again in the same VM when\n"
            "                         it ends: no (the default), on-failure[:MAX] (status\n"
            "                         not 0; MAX times at most), always, unless-stopped;\n"
            "                         after 100 ms, doubled each time up to 1 min ('stop'\n"
            "                         ends it for good; docs/run.md)\n"
            "      --no-snapshot      boot from scratch: neither use nor bake a snapshot\n"
            "      --snapshot-on WHEN bake a workload-ready snapshot once the command is\n"
            "                         ready, restore it in later runs with the same settings\n"
            "                         (docs/snapshot-workload.md); WHEN: listen:PORT,\n"
            "                         console:TEXT (in its output), idle[:MS], after:MS\n\n"
            "Network (docs/networking.md): by default the VM has a user-mode network of its\n"
            "own: it is 10.0.2.15, its gateway 10.0.2.2, its DNS 10.0.2.3 (this host's\n"
            "resolvers); it reaches the outside but not this host's loopback nor\n"
            "link-local addresses (cloud metadata).\n"
            "  -p, --publish [IP:][HOSTPORT:]GUESTPORT[/tcp|/udp]\n"
            "                         publish a guest port on the host (IP: 0.0.0.0 unless\n"
            "                         given; HOSTPORT: any free one unless given)\n"
            "  -P, --publish-all      publish every port the image exposes, each on a free\n"
            "                         host port ('supermachine port VM' lists them)\n"
            "      --network MODE     user (the default) or none (loopback only)\n"
            "      --add-host HOST:IP  a line of the guest's /etc/hosts (HOST=IP too; IP\n"
            "                         host-gateway: this host, 10.0.2.2; repeatable)\n"
            "      --dns IP           a DNS server for the guest's /etc/resolv.conf, in place\n"
            "                         of 10.0.2.3 (IPv4 or IPv6; repeatable, at most 8)\n"
            "      --dns-search DOMAIN  a search domain there (repeatable; . for none)\n"
            "      --dns-option OPT   a resolver option there: ndots:2, rotate, timeout:1\n"
            "                         (repeatable)\n"
            "      --allow-host-loopback\n"
            "                         let the guest reach this host's loopback at 10.0.2.2\n"
            "                         (and fd00::2), and link-local addresses\n"
            "      --egress-allow RULE  if given, only these destinations: CIDR[:PORT[-PORT]]\n"
            "                         [/tcp|/udp], e.g. 10.0.0.0/8, 0.0.0.0/0:443/tcp,\n"
            "                         [2001:db8::/32]:53 (repeatable)\n"
            "      --egress-deny RULE   refuse these destinations (repeatable; wins over allow)\n");
}

int cmd_run(int argc, char **argv)
{
    struct cli_run_args a;
    if (cli_run_args_parse("run", argc, argv, &a) < 0)
        return 125;
    struct sm_run_options o = a.o;
    int status = 125;
    if (o.tty && !isatty(0) && o.interactive)
        return cli_usage_error("run: -t: the input device is not a TTY");
    if (o.detach && (o.interactive || o.tty)) {
        /* Nothing would be attached to them: refuse rather than silently ignore. */
        return cli_usage_error("run: -d cannot be combined with -i or -t");
    }
    if (!o.interactive)
        o.stdin_fd = -1;
    sm_error_t err = NULL;
    char *id = NULL;
    if (sm_run(&o, &id, &status, &err) < 0)
        status = cli_fail(&err);
    else if (o.detach)
        printf("%s\n", id);
    free(id);
    cli_run_args_free(&a);
    return status;
}
