/* supermachine bake: the workload-ready snapshot of a run, made ahead of time. */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

void cmd_bake_usage(FILE *out)
{
    fprintf(out,
            "Usage: supermachine bake [OPTIONS] IMAGE [COMMAND [ARG...]]\n\n"
            "Runs the image's command (as `run` would) until it is ready, freezes it, saves\n"
            "the VM as a workload-ready snapshot and stops. Later `run --snapshot-on WHEN`\n"
            "of the same image, command and settings restores it: the workload is already\n"
            "serving (docs/snapshot-workload.md). Nothing to do if that snapshot exists.\n"
            "The command's output during the bake goes to stderr; the snapshot's directory\n"
            "is printed on stdout.\n\n"
            "  --snapshot-on WHEN     when the workload is ready:\n"
            "                           listen:PORT   a TCP socket in the guest listens on PORT\n"
            "                           console:TEXT  TEXT appears in the command's output\n"
            "                           idle[:MS]     under 2%% of a CPU for MS ms (1000)\n"
            "                           after:MS      MS ms after the command started\n"
            "                         default: listen on the image's first exposed TCP port,\n"
            "                         else idle\n\n"
            "Takes run's options that shape the VM and the command (-e -w -u --entrypoint\n"
            "-m --cpus --network -p ...; see 'supermachine run --help'); not -d, -i, -t,\n"
            "--rm or --no-snapshot.\n");
}

/* No --snapshot-on: a service's image says where it listens. */
static char *default_trigger(const char *image)
{
    struct sm_image_config *c = NULL;
    sm_error_t err = NULL;
    char *t = NULL;
    if (sm_image_config(image, &c, &err) == 0) {
        for (size_t i = 0; c->exposed_ports && c->exposed_ports[i] && !t; i++) {
            unsigned port;
            char proto[8] = "tcp";
            if (sscanf(c->exposed_ports[i], "%u/%7s", &port, proto) >= 1 && port > 0 &&
                port < 65536 && strcmp(proto, "tcp") == 0 && asprintf(&t, "listen:%u", port) < 0)
                abort();
        }
        sm_image_config_free(c);
    }
    sm_error_release(&err); /* not pulled yet: sm_bake pulls it; then idle */
    return t ? t : strdup("idle");
}

int cmd_bake(int argc, char **argv)
{
    struct cli_run_args a;
    if (cli_run_args_parse("bake", argc, argv, &a) < 0)
        return 125;
    struct sm_run_options o = a.o;
    int status = 0;
    if (o.detach || o.interactive || o.tty || o.auto_remove || o.no_snapshot) {
        cli_run_args_free(&a);
        return cli_usage_error("bake: -d, -i, -t, --rm and --no-snapshot do not apply");
    }
    char *trigger = o.snapshot_on ? NULL : default_trigger(o.image);
    if (trigger)
        o.snapshot_on = trigger;
    o.stdout_fd = 2; /* the workload's output; stdout is for the directory */
    o.stderr_fd = 2;
    sm_error_t err = NULL;
    char *dir = NULL;
    int baked = 0;
    if (sm_bake(&o, &baked, &dir, &err) < 0) {
        status = cli_fail(&err);
    } else {
        if (!baked)
            fprintf(stderr, "supermachine: bake %s: already baked (--snapshot-on %s)\n", o.image,
                    o.snapshot_on);
        printf("%s\n", dir);
    }
    free(dir);
    free(trigger);
    cli_run_args_free(&a);
    return status;
}
