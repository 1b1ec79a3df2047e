/* supermachine inspect: VMs' records and images' configs as a JSON array, as docker
 * inspect: a name is looked up among VMs first, then images (--type picks one); with
 * -f, a Go template run over each instead. */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

void cmd_inspect_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine inspect [--type vm|image] [-f TEMPLATE] NAME [NAME...]\n\n"
                 "Prints a JSON array with one object per VM or image. A VM (by name, id or\n"
                 "id prefix): Id, Name, Created, Image, Command, State (Status, Running,\n"
                 "Paused, ExitCode, Pid, FinishedAt), Config (Hostname, Env, User,\n"
                 "WorkingDir, Labels, ...), HostConfig (Cpus, MemoryMiB, NetworkMode, ...),\n"
                 "NetworkSettings (Ports), MemoryPssKiB. An image: Id, RepoTags,\n"
                 "RepoDigests, Created, Architecture, Os, Config (Entrypoint, Cmd, Env,\n"
                 "...), RootFS, Size. Names are looked up among VMs first.\n\n"
                 "  --type vm|image         only that kind\n"
                 "  -f, --format TEMPLATE   a line per object from a Go template, as docker's\n"
                 "                          (docs/cli-format.md): '{{.State.Status}}',\n"
                 "                          '{{json .Config}}', '{{range $p, $b :=\n"
                 "                          .NetworkSettings.Ports}}{{$p}} {{end}}'; 'json':\n"
                 "                          the array on one line\n");
}

/* One object by the template, then a newline, as docker; nothing of it if it fails. */
static int print_one(const struct cli_template *t, const char *name, const char *doc)
{
    char err[512];
    json_object *o = json_tokener_parse(doc);
    if (o == NULL)
        return cli_usage_error("inspect %s: its record is not JSON", name);
    struct cli_template_buf b = {0};
    int r = cli_template_exec(t, o, 0, &b, err, sizeof(err));
    json_object_put(o);
    if (r == 0 && !cli_template_buf_add(&b, "\n", 1)) {
        snprintf(err, sizeof(err), "more than %d bytes of output", CLI_TEMPLATE_MAX_OUTPUT);
        r = -1;
    }
    if (r == 0)
        fwrite(b.data, 1, b.len, stdout);
    cli_template_buf_free(&b);
    return r == 0 ? 0 : cli_usage_error("inspect: --format: %s", err);
}

/* docker's -f json: the array, compact. */
static void print_compact(const char *doc, bool first)
{
    json_object *o = json_tokener_parse(doc);
    printf("%s%s", first ? "" : ",",
           o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE)
             : "null");
    json_object_put(o);
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"type", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    const char *type = NULL, *format = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:f:", longopts, NULL)) != -1) {
        if (c == 'f') {
            format = optarg;
            continue;
        }
        if (c != 't')
            return cli_option_error("inspect", c, argv);
        if (strcmp(optarg, "vm") != 0 && strcmp(optarg, "image") != 0)
            return cli_usage_error("inspect: --type %s: want vm or image", optarg);
        type = optarg;
    }
    if (optind >= argc)
        return cli_usage_error("inspect: requires at least one VM or image");
    /* the template is checked before anything is looked up or printed */
    bool compact = format && strcmp(format, "json") == 0;
    struct cli_template *tmpl = NULL;
    if (format && *format && !compact) {
        char err[512];
        if ((tmpl = cli_template_parse(format, err, sizeof(err))) == NULL)
            return cli_usage_error("inspect: --format: %s", err);
    }
    char **docs = calloc((size_t)argc, sizeof(char *));
    const char **names = calloc((size_t)argc, sizeof(char *));
    if (docs == NULL || names == NULL)
        abort();
    int status = 0, n = 0;
    bool vm_only = type && strcmp(type, "vm") == 0;
    bool image_only = type && strcmp(type, "image") == 0;
    for (int i = optind; i < argc; i++) {
        sm_error_t err = NULL;
        names[n] = argv[i];
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
    if (!tmpl)
        printf("[");
    for (int i = 0; i < n; i++) {
        if (tmpl && print_one(tmpl, names[i], docs[i]) != 0)
            status = 125;
        else if (compact)
            print_compact(docs[i], i == 0);
        else if (!tmpl)
            printf("%s\n%s", i ? "," : "", docs[i]);
        free(docs[i]);
    }
    if (!tmpl)
        printf("%s]\n", n && !compact ? "\n" : "");
    cli_template_free(tmpl);
    free(docs);
    free(names);
    return status;
}
