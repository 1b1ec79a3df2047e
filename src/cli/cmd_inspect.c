/* supermachine inspect: VMs' records and images' configs as a JSON array, as docker
 * inspect: a name is looked up among VMs first, then images (--type picks one). */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

void cmd_inspect_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine inspect [--type vm|image] NAME [NAME...]\n\n"
                 "Prints a JSON array with one object per VM or image. A VM (by name, id or\n"
                 "id prefix): Id, Name, Created, Image, Command, State (Status, Running,\n"
                 "ExitCode, Pid, FinishedAt), Config (Hostname), HostConfig (Cpus,\n"
                 "MemoryMiB, NetworkMode), NetworkSettings (Ports), MemoryPssKiB. An image:\n"
                 "Id, RepoTags, RepoDigests, Created, Architecture, Os, Config (Entrypoint,\n"
                 "Cmd, Env, ...), RootFS, Size. Names are looked up among VMs first.\n\n"
                 "  --type vm|image   only that kind\n");
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"type", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *type = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
        if (c != 't')
            return cli_option_error("inspect", c, argv);
        if (strcmp(optarg, "vm") != 0 && strcmp(optarg, "image") != 0)
            return cli_usage_error("inspect: --type %s: want vm or image", optarg);
        type = optarg;
    }
    if (optind >= argc)
        return cli_usage_error("inspect: requires at least one VM or image");
    char **docs = calloc((size_t)argc, sizeof(char *));
    if (docs == NULL)
        abort();
    int status = 0, n = 0;
    bool vm_only = type && strcmp(type, "vm") == 0;
    bool image_only = type && strcmp(type, "image") == 0;
    for (int i = optind; i < argc; i++) {
        sm_error_t err = NULL;
        if (!image_only && sm_vm_inspect(argv[i], &docs[n], &err) == 0) {
            n++;
            continue;
        }
        if (!vm_only) {
            sm_error_release(&err);
            if (sm_image_inspect(argv[i], &docs[n], &err) == 0) {
                n++;
                continue;
            }
        }
        status = cli_fail(&err);
    }
    printf("[");
    for (int i = 0; i < n; i++) {
        printf("%s\n%s", i ? "," : "", docs[i]);
        free(docs[i]);
    }
    printf("%s]\n", n ? "\n" : "");
    free(docs);
    return status;
}
