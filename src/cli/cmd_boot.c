/* supermachine boot: a bare kernel with its console on this terminal (or pipes). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/commands.h"

void cmd_boot_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine boot [--kernel FILE] [--initrd FILE] [--append ARGS]\n"
                 "                         [--disk FILE] [--cpus N] [--memory MIB]\n"
                 "                         [--vsock PATH]\n"
                 "                         [--snapshot DIR --snapshot-when console:TEXT]\n"
                 "       supermachine boot --restore DIR [--vsock PATH]\n\n"
                 "Boots a Linux kernel (bzImage) as a microVM with its serial console on\n"
                 "stdin/stdout. Without --kernel, the store's guest kernel (Debian's) is used,\n"
                 "fetched on first use.\n\n"
                 "  --kernel FILE   bzImage to boot\n"
                 "  --initrd FILE   initial ramdisk (cpio, optionally compressed)\n"
                 "  --append ARGS   extra kernel command line (after console=ttyS0 ...)\n"
                 "  --disk FILE     a disk image the guest sees read-only (virtio-blk)\n"
                 "  --vsock PATH    a virtio-vsock device (guest CID 3) behind the Unix\n"
                 "                  socket PATH: a client connecting to PATH writes\n"
                 "                  \"CONNECT <port>\\n\" and reads \"OK <n>\\n\" once the guest\n"
                 "                  accepted; the guest's connections to host port P go to\n"
                 "                  PATH_P. Removed on exit; a restore needs it again (open\n"
                 "                  connections do not survive a snapshot)\n"
                 "  --cpus N        vCPUs (1-64, default 1)\n"
                 "  --memory MIB    guest memory in MiB (32 or more, default 512)\n"
                 "  --snapshot DIR  when the trigger fires, pause the guest, save a snapshot\n"
                 "                  into DIR (which must not exist) and exit 0\n"
                 "  --snapshot-when console:TEXT\n"
                 "                  the trigger: TEXT appears in a console line\n"
                 "  --restore DIR   resume the guest saved in DIR (as often as wanted, and\n"
                 "                  several at once); --kernel, if given, must match it\n\n"
                 "On a terminal, Ctrl-A x quits. Exit status: 0 when the guest powers off or\n"
                 "reboots; 1 on a guest kernel panic or triple fault (named on stderr); 125\n"
                 "when supermachine itself fails or the input is bad.\n");
}

static struct termios saved_termios;
static bool termios_saved;

static void restore_terminal(void)
{
    if (termios_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
}

/* Raw mode: every key, Ctrl-C included, goes to the guest. */
static bool make_terminal_raw(void)
{
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_termios) < 0)
        return false;
    struct termios raw = saved_termios;
    cfmakeraw(&raw);
    raw.c_oflag |= OPOST | ONLCR; /* keep output readable: \n still starts a new line */
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0)
        return false;
    termios_saved = true;
    atexit(restore_terminal);
    return true;
}

/* SIGINT/SIGTERM/SIGHUP stop the guest cleanly (the terminal is restored) through a
 * pipe the VM's loop watches: writing to a pipe is safe in a signal handler. */
static int stop_pipe[2] = {-1, -1};

static void on_stop_signal(int sig)
{
    (void)sig;
    int saved = errno;
    ssize_t r = write(stop_pipe[1], "x", 1);
    (void)r;
    errno = saved;
}

static void watch_stop_signals(void)
{
    if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return;
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static int parse_uint(const char *flag, const char *s, unsigned long long max,
                      unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v > max) {
        cli_usage_error("boot: %s %s: not a number up to %llu", flag, s, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_boot(int argc, char **argv)
{
    static const struct option opts[] = {
        {"kernel", required_argument, NULL, 'k'},
        {"initrd", required_argument, NULL, 'i'},
        {"append", required_argument, NULL, 'a'},
        {"cpus", required_argument, NULL, 'c'},
        {"memory", required_argument, NULL, 'm'},
        {"snapshot", required_argument, NULL, 's'},
        {"snapshot-when", required_argument, NULL, 'w'},
        {"restore", required_argument, NULL, 'r'},
        {"disk", required_argument, NULL, 'd'},
        {"vsock", required_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct sm_boot_options o = {
        .console_in = STDIN_FILENO, .console_out = STDOUT_FILENO, .cpus = 1, .memory_mib = 512};
    unsigned long long v;
    int c;
    while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            o.kernel = optarg;
            break;
        case 'i':
            o.initrd = optarg;
            break;
        case 'a':
            o.append = optarg;
            break;
        case 's':
            o.snapshot_dir = optarg;
            break;
        case 'w':
            o.snapshot_when = optarg;
            break;
        case 'r':
            o.restore_dir = optarg;
            break;
        case 'd':
            o.disk = optarg;
            break;
        case 'V':
            o.vsock_path = optarg;
            break;
        case 'c':
            if (parse_uint("--cpus", optarg, 1u << 20, &v) < 0)
                return 125;
            if (v < 1)
                return cli_usage_error("boot: --cpus %s: must be at least 1", optarg);
            o.cpus = (unsigned)v;
            break;
        case 'm':
            if (parse_uint("--memory", optarg, 1ull << 40, &v) < 0)
                return 125;
            o.memory_mib = v;
            break;
        default:
            return cli_option_error("boot", c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("boot: unexpected argument '%s'", argv[optind]);

    o.console_raw = make_terminal_raw();
    watch_stop_signals();
    o.stop_fd = stop_pipe[0];
    struct sm_boot_result res;
    sm_error_t err = NULL;
    int r = sm_boot(&o, &res, &err);
    restore_terminal();
    if (r < 0)
        return cli_fail(&err);
    switch (res.exit) {
    case SM_GUEST_POWEROFF:
    case SM_GUEST_REBOOT:
    case SM_GUEST_STOPPED:
    case SM_GUEST_SNAPSHOT:
        return 0;
    case SM_GUEST_PANIC:
    case SM_GUEST_TRIPLE_FAULT:
        fprintf(stderr, "supermachine: boot: %s\n", res.message);
        return 1;
    }
    return 0;
}
