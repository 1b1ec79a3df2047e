/* supermachine CLI: a thin layer over libsupermachine. Dispatches to one function per
 * subcommand; each command parses its own flags (docker's syntax) and calls the library. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/trace.h"

static const struct sm_command commands[] = {
    {"bake", "Bake the workload-ready snapshot of a run", cmd_bake, cmd_bake_usage},
    {"boot", "Boot a bare kernel with its console on stdio", cmd_boot, cmd_boot_usage},
    {"cp", "Copy a file into or out of a running VM", cmd_cp, cmd_cp_usage},
    {"exec", "Run a command in a running VM", cmd_exec, cmd_exec_usage},
    {"export", "Write an image's flattened filesystem as a tar", cmd_export, cmd_export_usage},
    {"images", "List images", cmd_images, cmd_images_usage},
    {"inspect", "Show VMs' records and images' configurations as JSON", cmd_inspect,
     cmd_inspect_usage},
    {"kernel", "Show (and fetch) the default guest kernel", cmd_kernel, cmd_kernel_usage},
    {"kill", "Send a signal to VMs' main processes", cmd_kill, cmd_kill_usage},
    {"load", "Load images from a docker save or OCI layout archive", cmd_load, cmd_load_usage},
    {"logs", "Show a VM's output", cmd_logs, cmd_logs_usage},
    {"pause", "Park VMs' virtual CPUs (docker pause)", cmd_pause, cmd_pause_usage},
    {"pool", "Keep VMs of an image ready; hand them out and take them back", cmd_pool,
     cmd_pool_usage},
    {"port", "List, add or remove a VM's published ports", cmd_port, cmd_port_usage},
    {"ps", "List VMs", cmd_ps, cmd_ps_usage},
    {"pull", "Download an image from a registry", cmd_pull, cmd_pull_usage},
    {"rename", "Give a VM another name", cmd_rename, cmd_rename_usage},
    {"restart", "Stop VMs' main processes and start them again", cmd_restart, cmd_restart_usage},
    {"rm", "Remove VMs", cmd_rm, cmd_rm_usage},
    {"rmi", "Remove images", cmd_rmi, cmd_rmi_usage},
    {"run", "Run an image as a microVM", cmd_run, cmd_run_usage},
    {"stats", "Show what running VMs use: CPU, memory, network, disk", cmd_stats, cmd_stats_usage},
    {"stop", "Stop running VMs", cmd_stop, cmd_stop_usage},
    {"system", "Show the store's disk use (df); remove what no VM needs (prune)", cmd_system,
     cmd_system_usage},
    {"tag", "Give an image another name", cmd_tag, cmd_tag_usage},
    {"top", "List the processes of a running VM", cmd_top, cmd_top_usage},
    {"unpause", "Let paused VMs go on", cmd_unpause, cmd_unpause_usage},
    {"wait", "Wait for VMs to stop; print their exit codes", cmd_wait, cmd_wait_usage},
};

int cli_fail(sm_error_t *err)
{
    int status = (err && *err) ? (*err)->exit_status : 125;
    fprintf(stderr, "supermachine: %s\n", sm_error_message(err ? *err : NULL));
    sm_error_release(err);
    return status ? status : 125;
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("supermachine: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 125;
}

/* Options docker takes that a VM has no use for, and why. */
static const struct {
    const char *option;
    const char *why;
} docker_only[] = {
    {"-v", "host directories are not shared with a VM: copy them in with 'supermachine cp'"},
    {"--volume", "host directories are not shared with a VM: copy them in with 'supermachine cp'"},
    {"--mount", "host directories are not shared with a VM: copy them in with 'supermachine cp'"},
    {"--privileged", "the guest's root already holds every capability, inside its own kernel"},
    {"--cap-add", "the guest's root already holds every capability, inside its own kernel"},
    {"--device", "host devices are not passed to a VM"},
};

int cli_option_error(const char *cmd, int c, char **argv)
{
    /* getopt_long left optopt at 0 for an unknown long option and moved past it; a
     * short one is optopt, wherever it sat in a cluster of them. */
    const char *last = optind > 0 ? argv[optind - 1] : "";
    char opt[64];
    if (optopt == 0 || (c == ':' && strncmp(last, "--", 2) == 0))
        snprintf(opt, sizeof(opt), "%.*s", (int)strcspn(last, "="), last);
    else
        snprintf(opt, sizeof(opt), "-%c", optopt);
    if (c == ':')
        return cli_usage_error("%s: option '%s' needs a value; see 'supermachine %s --help'", cmd,
                               opt, cmd);
    for (size_t i = 0; i < sizeof(docker_only) / sizeof(docker_only[0]); i++)
        if (strcmp(opt, docker_only[i].option) == 0)
            return cli_usage_error("%s: %s: %s", cmd, opt, docker_only[i].why);
    return cli_usage_error("%s: unknown option '%s'; see 'supermachine %s --help'", cmd, opt, cmd);
}

int cli_for_vms(const char *cmd, int argc, char **argv, int first,
                int (*fn)(const char *name_or_id, const void *arg, sm_error_t *err),
                const void *arg)
{
    if (first >= argc)
        return cli_usage_error("%s: no VM given; see 'supermachine %s --help'", cmd, cmd);
    int status = 0;
    for (int i = first; i < argc; i++) {
        sm_error_t err = NULL;
        if (fn(argv[i], arg, &err) < 0)
            status = cli_fail(&err);
        else
            printf("%s\n", argv[i]);
    }
    return status;
}

/* cli_each_vm's fn, behind cli_for_vms's argument. */
static int call_plain(const char *name_or_id, const void *arg, sm_error_t *err)
{
    int (*const *fn)(const char *, sm_error_t *) = arg;
    return (*fn)(name_or_id, err);
}

int cli_each_vm(const char *cmd, int argc, char **argv,
                int (*fn)(const char *name_or_id, sm_error_t *err))
{
    static const struct option longopts[] = {{NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:", longopts, NULL)) != -1)
        return cli_option_error(cmd, c, argv);
    return cli_for_vms(cmd, argc, argv, optind, call_plain, &fn);
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: supermachine COMMAND [OPTIONS] [ARGS...]\n\n"
                 "Run OCI/Docker images as hardware-isolated KVM microVMs.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'supermachine COMMAND --help' for more on a command.\n"
                 "Exit status: the workload's own; 125 for supermachine's own errors.\n");
}

int main(int argc, char **argv)
{
    sm_trace("cli: %s", argc > 1 ? argv[1] : "");
    if (argc < 2) {
        usage(stderr);
        return 125;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("supermachine version %s\n", SM_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, name) != 0)
            continue;
        for (int a = 2; a < argc; a++) {
            if (strcmp(argv[a], "--") == 0)
                break;
            if (strcmp(argv[a], "--help") == 0) {
                commands[i].usage(stdout);
                return 0;
            }
        }
        opterr = 0; /* each command says what is wrong in one line: cli_option_error */
        return commands[i].fn(argc - 1, argv + 1);
    }
    return cli_usage_error("'%s' is not a supermachine command; see 'supermachine --help'", name);
}
