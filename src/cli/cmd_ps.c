/* supermachine ps: list VMs, as docker ps. */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"

void cmd_ps_usage(FILE *out)
{
    fprintf(out,
            "Usage: supermachine ps [-a] [-q] [--no-trunc] [-f KEY=VALUE]... [-n N] [-l]\n"
            "                       [--format TEMPLATE]\n\n"
            "Lists running VMs (with -a, also those that ended), newest first.\n\n"
            "  -a, --all           every VM, not only running ones\n"
            "  -q, --quiet         only VM ids\n"
            "  --no-trunc          full ids and commands\n"
            "  -f, --filter K=V    only VMs that match: status=created|running|paused|\n"
            "                      restarting|exited, name=TEXT (part of the name), id=PREFIX,\n"
            "                      ancestor=IMAGE (as run was given it), exited=CODE,\n"
            "                      label=KEY or label=KEY=VALUE; a key given twice\n"
            "                      matches either value, but each label= must match\n"
            "                      (implies -a for status and exited)\n"
            "  -n, --last N        the N newest VMs, ended ones included\n"
            "  -l, --latest        the newest VM\n"
            "  --format TEMPLATE   a Go template per VM, as docker's (docs/cli-format.md),\n"
            "                      over docker's fields {{.ID}}, {{.Names}}, {{.Image}},\n"
            "                      {{.Command}}, {{.CreatedAt}}, {{.RunningFor}},\n"
            "                      {{.Status}}, {{.State}}, {{.Labels}}, {{.Ports}} and\n"
            "                      {{.Memory}}; \\t is a tab; 'table TEMPLATE' adds a\n"
            "                      header and aligns the columns; 'json': each VM's\n"
            "                      fields as a JSON object\n\n"
            "MEMORY is the VM's proportional set size (PSS): its VMM process with the\n"
            "guest's RAM, pages it shares with other VMs (clones of one snapshot) split\n"
            "evenly among them, so the column adds up to the memory the VMs take together;\n"
            "'-' when the VM is not running (docs/memory.md).\n");
}

/* STATUS as docker words it: "Up 5 minutes", "Up 2 hours (Paused)", "Exited (0) 2 hours
 * ago", "Created". */
static void status_text(const struct sm_vm_info *v, char *out, size_t n)
{
    char age[64];
    if (strcmp(v->status, "restarting") == 0) {
        cli_human_age(v->finished, age, sizeof(age));
        snprintf(out, n, "Restarting (%d) %s", v->exit_code, age);
    } else if (cli_vm_is_up(v)) {
        int64_t up = (int64_t)time(NULL) - (v->started > 0 ? v->started : v->created);
        cli_human_duration(up < 0 ? 0 : up, age, sizeof(age));
        snprintf(out, n, "Up %s%s", age, strcmp(v->status, "paused") == 0 ? " (Paused)" : "");
    } else if (strcmp(v->status, "exited") == 0) {
        cli_human_age(v->finished, age, sizeof(age));
        snprintf(out, n, "Exited (%d) %s", v->exit_code, age);
    } else {
        snprintf(out, n, "Created");
    }
}

/* docker's filters: keys AND'd, the values of one key OR'd, but for label=, each of
 * which must match. */
struct ps_filters {
    const char **kv;
    size_t n;
};

static const char *const filter_keys[] = {"status", "name", "id", "ancestor", "exited", "label"};

static int filter_add(struct ps_filters *f, const char *kv)
{
    const char *eq = strchr(kv, '=');
    bool known = false;
    for (size_t i = 0; eq && i < sizeof(filter_keys) / sizeof(filter_keys[0]); i++)
        known |= strlen(filter_keys[i]) == (size_t)(eq - kv) &&
                 strncmp(kv, filter_keys[i], (size_t)(eq - kv)) == 0;
    if (!known)
        return cli_usage_error(
            "ps: --filter %s: want status=, name=, id=, ancestor=, exited= or label=", kv);
    cli_push(&f->kv, &f->n, kv);
    return 0;
}

static bool filter_value_matches(const struct sm_vm_info *v, const char *key, const char *value)
{
    if (strcmp(key, "status") == 0)
        return strcmp(v->status, value) == 0;
    if (strcmp(key, "name") == 0)
        return strstr(v->name, value) != NULL;
    if (strcmp(key, "id") == 0)
        return strncmp(v->id, value, strlen(value)) == 0;
    if (strcmp(key, "ancestor") == 0)
        return strcmp(v->image, value) == 0;
    if (strcmp(key, "label") == 0) {
        /* "K": the VM has label K; "K=V": with that value. */
        bool with_value = strchr(value, '=') != NULL;
        size_t klen = strcspn(value, "=");
        for (size_t i = 0; v->labels && v->labels[i]; i++) {
            const char *l = v->labels[i];
            if (with_value ? strcmp(l, value) == 0 : strncmp(l, value, klen) == 0 && l[klen] == '=')
                return true;
        }
        return false;
    }
    char *end;
    long code = strtol(value, &end, 10);
    return strcmp(v->status, "exited") == 0 && *value && *end == '\0' && code == v->exit_code;
}

static bool filters_match(const struct ps_filters *f, const struct sm_vm_info *v)
{
    for (size_t k = 0; k < sizeof(filter_keys) / sizeof(filter_keys[0]); k++) {
        bool given = false, any = false;
        size_t klen = strlen(filter_keys[k]);
        for (size_t i = 0; i < f->n; i++) {
            if (strncmp(f->kv[i], filter_keys[k], klen) != 0 || f->kv[i][klen] != '=')
                continue;
            given = true;
            bool match = filter_value_matches(v, filter_keys[k], f->kv[i] + klen + 1);
            if (!match && strcmp(filter_keys[k], "label") == 0)
                return false;
            any |= match;
        }
        if (given && !any)
            return false;
    }
    return true;
}

/* docker's fields of a row, in the sorted order docker's {{json .}} gives them, with
 * their titles in a table. */
static const char *const fields[][2] = {
    {"Command", "COMMAND"}, {"CreatedAt", "CREATED AT"}, {"ID", "VM ID"},
    {"Image", "IMAGE"},     {"Labels", "LABELS"},        {"Memory", "MEMORY"},
    {"Names", "NAMES"},     {"Ports", "PORTS"},          {"RunningFor", "CREATED"},
    {"State", "STATE"},     {"Status", "STATUS"},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const char default_format[] =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Memory}}"
    "\t{{.Names}}";

/* docker's COMMAND: 20 characters at most (the 20th an ellipsis) unless --no-trunc,
 * quoted as Go quotes. */
static char *command_text(const char *command, bool notrunc)
{
    size_t runes = 0, cut = 0, len = strlen(command);
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)command[i] & 0xc0) != 0x80 && ++runes == 20)
            cut = i;
    char *text = NULL;
    if (!notrunc && runes > 20 && asprintf(&text, "%.*s…", (int)cut, command) < 0)
        abort();
    char *quoted = cli_template_quote(text ? text : command);
    free(text);
    return quoted;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* docker's LABELS: "k=v" sorted, comma-separated; of labels of one key, the last. */
static char *labels_text(char **labels)
{
    size_t n = 0, k = 0;
    while (labels && labels[n])
        n++;
    const char **kept = calloc(n + 1, sizeof(*kept));
    if (kept == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        size_t klen = strcspn(labels[i], "=");
        bool later = false;
        for (size_t j = i + 1; j < n && !later; j++)
            later = strncmp(labels[j], labels[i], klen) == 0 &&
                    (labels[j][klen] == '=' || labels[j][klen] == '\0');
        if (!later)
            kept[k++] = labels[i];
    }
    qsort(kept, k, sizeof(*kept), by_string);
    struct cli_template_buf b = {0};
    for (size_t i = 0; i < k; i++) {
        cli_template_buf_add(&b, ",", i > 0);
        cli_template_buf_add(&b, kept[i], strlen(kept[i]));
    }
    free(kept);
    return b.data ? b.data : strdup("");
}

static int by_mapping(const void *a, const void *b)
{
    const struct sm_published_port *x = a, *y = b;
    int c = (int)x->guest_port - (int)y->guest_port;
    c = c ? c : strcmp(x->host_address, y->host_address);
    c = c ? c : (int)x->host_port - (int)y->host_port;
    return c ? c : strcmp(x->proto, y->proto);
}

/* docker's PORTS of a running VM: "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp". */
static char *ports_text(const struct sm_vm_info *v)
{
    struct sm_published_port *ports = NULL;
    size_t n = 0;
    sm_error_t err = NULL;
    struct cli_template_buf b = {0};
    if (cli_vm_is_up(v) && sm_vm_published_ports(v->id, &ports, &n, &err) == 0)
        qsort(ports, n, sizeof(*ports), by_mapping);
    sm_error_release(&err);
    for (size_t i = 0; i < n; i++) {
        char one[96];
        bool v6 = strchr(ports[i].host_address, ':') != NULL;
        int len = snprintf(one, sizeof(one), "%s%s%s%s:%u->%u/%s", i ? ", " : "", v6 ? "[" : "",
                           ports[i].host_address, v6 ? "]" : "", ports[i].host_port,
                           ports[i].guest_port, ports[i].proto);
        cli_template_buf_add(&b, one, (size_t)len);
    }
    free(ports);
    return b.data ? b.data : strdup("");
}

/* One VM as a row of docker's fields (all strings, as docker's); ports only when the
 * format may show them (they cost a look at the VM's network). */
static json_object *row(const struct sm_vm_info *v, bool notrunc, bool ports)
{
    char created_at[64], running_for[64], status[96], memory[32], id[65];
    cli_local_time(v->created, created_at, sizeof(created_at));
    cli_human_age(v->created, running_for, sizeof(running_for));
    status_text(v, status, sizeof(status));
    if (v->pss_kib < 0)
        snprintf(memory, sizeof(memory), "-");
    else
        cli_human_binary_size((uint64_t)v->pss_kib << 10, memory, sizeof(memory));
    snprintf(id, sizeof(id), "%.*s", notrunc ? 64 : 12, v->id);
    char *command = command_text(v->command, notrunc), *labels = labels_text(v->labels);
    char *published = ports ? ports_text(v) : strdup("");
    const char *values[NFIELDS] = {command, created_at, id,          v->image,  labels, memory,
                                   v->name, published,  running_for, v->status, status};
    json_object *o = json_object_new_object();
    for (size_t i = 0; i < NFIELDS; i++)
        json_object_object_add(o, fields[i][0], json_object_new_string(values[i]));
    free(command);
    free(labels);
    free(published);
    return o;
}

int cmd_ps(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"all", no_argument, NULL, 'a'},          {"quiet", no_argument, NULL, 'q'},
        {"no-trunc", no_argument, NULL, 'N'},     {"filter", required_argument, NULL, 'f'},
        {"last", required_argument, NULL, 'n'},   {"latest", no_argument, NULL, 'l'},
        {"format", required_argument, NULL, 'F'}, {NULL, 0, NULL, 0},
    };
    bool all = false, quiet = false, notrunc = false;
    long last = -1;
    const char *format = NULL;
    struct ps_filters filters = {0};
    int c, r = 0;
    optind = 1;
    while (r == 0 && (c = getopt_long(argc, argv, "+:aqf:n:l", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'a':
            all = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'N':
            notrunc = true;
            break;
        case 'f':
            r = filter_add(&filters, optarg);
            all |= strncmp(optarg, "status=", 7) == 0 || strncmp(optarg, "exited=", 7) == 0;
            break;
        case 'n':
            last = strtol(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end || last > 1000000)
                r = cli_usage_error("ps: --last %s: want a number of VMs", optarg);
            all = true;
            break;
        case 'l':
            last = 1, all = true;
            break;
        case 'F':
            format = optarg;
            break;
        default:
            r = cli_option_error("ps", c, argv);
        }
    }
    if (r == 0 && optind < argc)
        r = cli_usage_error("ps: unexpected argument '%s'", argv[optind]);
    struct cli_list list = {0};
    json_object *header = json_object_new_object();
    for (size_t i = 0; i < NFIELDS; i++)
        json_object_object_add(header, fields[i][0], json_object_new_string(fields[i][1]));
    if (r == 0 && !quiet)
        r = cli_list_begin(&list, "ps", format, default_format, header);
    json_object_put(header);
    if (r != 0) {
        free(filters.kv);
        return r;
    }
    struct sm_vm_info *vms;
    size_t n;
    sm_error_t err = NULL;
    if (sm_vm_list(&vms, &n, &err) < 0) {
        cli_list_end(&list, NULL);
        free(filters.kv);
        return cli_fail(&err);
    }
    long shown = 0;
    for (size_t i = 0; i < n && r == 0 && (last < 0 || shown < last); i++) {
        const struct sm_vm_info *v = &vms[i];
        if (!all && !cli_vm_is_up(v))
            continue;
        if (!filters_match(&filters, v))
            continue;
        shown++;
        if (quiet) {
            printf("%.*s\n", notrunc ? 64 : 12, v->id);
            continue;
        }
        json_object *o = row(v, notrunc, format != NULL);
        r = cli_list_row(&list, o);
        json_object_put(o);
    }
    /* nothing of a list whose template failed, as docker */
    cli_list_end(&list, quiet || r != 0 ? NULL : stdout);
    sm_vm_list_free(vms, n);
    free(filters.kv);
    return r;
}
