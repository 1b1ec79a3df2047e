/* supermachine ps: list VMs, as docker ps. */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"

void cmd_ps_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine ps [-a] [-q] [--no-trunc] [-f KEY=VALUE]... [-n N] [-l]\n"
                 "                       [--format TEMPLATE]\n\n"
                 "Lists running VMs (with -a, also those that ended), newest first.\n\n"
                 "  -a, --all           every VM, not only running ones\n"
                 "  -q, --quiet         only VM ids\n"
                 "  --no-trunc          full ids and commands\n"
                 "  -f, --filter K=V    only VMs that match: status=created|running|exited,\n"
                 "                      name=TEXT (part of the name), id=PREFIX,\n"
                 "                      ancestor=IMAGE (as run was given it), exited=CODE,\n"
                 "                      label=KEY or label=KEY=VALUE; a key given twice\n"
                 "                      matches either value, but each label= must match\n"
                 "                      (implies -a for status and exited)\n"
                 "  -n, --last N        the N newest VMs, ended ones included\n"
                 "  -l, --latest        the newest VM\n"
                 "  --format TEMPLATE   one line per VM from docker's fields: {{.ID}},\n"
                 "                      {{.Names}}, {{.Image}}, {{.Command}}, {{.CreatedAt}},\n"
                 "                      {{.RunningFor}}, {{.Status}}, {{.State}},\n"
                 "                      {{.Memory}}; \\t is a tab; 'table TEMPLATE' adds a\n"
                 "                      header\n\n"
                 "MEMORY is the VM's proportional set size (PSS): its VMM process with the\n"
                 "guest's RAM, pages it shares with other VMs (clones of one snapshot) split\n"
                 "evenly among them, so the column adds up to the memory the VMs take together;\n"
                 "'-' when the VM is not running (docs/memory.md).\n");
}

static void status_text(const struct sm_vm_info *v, char *out, size_t n)
{
    char age[64];
    if (strcmp(v->status, "running") == 0) {
        cli_human_age(v->created, age, sizeof(age));
        /* "5 minutes ago" -> "Up 5 minutes", as docker words it. */
        char *ago = strstr(age, " ago");
        if (ago)
            *ago = '\0';
        snprintf(out, n, "Up %s",
                 strcmp(age, "Less than a minute") == 0 ? "less than a minute" : age);
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

/* --format's fields and their headers in a table, as docker names them. */
static const char *const field_headers[][2] = {
    {"ID", "VM ID"},        {"Names", "NAMES"},          {"Image", "IMAGE"},
    {"Command", "COMMAND"}, {"CreatedAt", "CREATED AT"}, {"RunningFor", "CREATED"},
    {"Status", "STATUS"},   {"State", "STATE"},          {"Memory", "MEMORY"},
};

/* One of docker's fields for --format, or NULL if there is no such field. */
static const char *field(const struct sm_vm_info *v, const char *name, bool notrunc, char *buf,
                         size_t n)
{
    if (strcmp(name, "ID") == 0)
        snprintf(buf, n, "%.*s", notrunc ? 64 : 12, v->id);
    else if (strcmp(name, "Names") == 0)
        snprintf(buf, n, "%s", v->name);
    else if (strcmp(name, "Image") == 0)
        snprintf(buf, n, "%s", v->image);
    else if (strcmp(name, "Command") == 0)
        snprintf(buf, n, "\"%s\"", v->command);
    else if (strcmp(name, "CreatedAt") == 0) {
        time_t t = (time_t)v->created;
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(buf, n, "%Y-%m-%d %H:%M:%S %z %Z", &tm);
    } else if (strcmp(name, "RunningFor") == 0)
        cli_human_age(v->created, buf, n);
    else if (strcmp(name, "Status") == 0)
        status_text(v, buf, n);
    else if (strcmp(name, "State") == 0)
        snprintf(buf, n, "%s", v->status);
    else if (strcmp(name, "Memory") == 0) {
        if (v->pss_kib < 0)
            snprintf(buf, n, "-");
        else
            cli_human_binary_size((uint64_t)v->pss_kib << 10, buf, n);
    } else
        return NULL;
    return buf;
}

/* Prints the template for v (NULL: its header, the field names in capitals), or with
 * emit false only checks it; -1 for a field it names that does not exist (said on
 * stderr). Only {{.Field}} and \t: docker's templates are Go's, of which scripts use
 * these. */
static int format_line(const char *tmpl, const struct sm_vm_info *v, bool notrunc, bool emit)
{
    for (const char *p = tmpl; *p;) {
        if (p[0] == '\\' && p[1] == 't') {
            if (emit)
                putchar('\t');
            p += 2;
            continue;
        }
        if (strncmp(p, "{{", 2) != 0) {
            if (emit)
                putchar(*p);
            p++;
            continue;
        }
        const char *close = strstr(p, "}}");
        const char *name = p + 2;
        while (*name == ' ')
            name++;
        if (close == NULL || *name != '.')
            return cli_usage_error("ps: --format: want {{.Field}} at '%.20s'", p), -1;
        name++;
        size_t len = strcspn(name, " }");
        char key[32], buf[512];
        snprintf(key, sizeof(key), "%.*s", (int)(len < 31 ? len : 31), name);
        struct sm_vm_info none = {.id = "", .name = "", .image = "", .command = "", .status = ""};
        if (field(v ? v : &none, key, notrunc, buf, sizeof(buf)) == NULL)
            return cli_usage_error("ps: --format: no field '%s'", key), -1;
        if (!emit)
            ;
        else if (v)
            fputs(buf, stdout);
        else
            for (size_t i = 0; i < sizeof(field_headers) / sizeof(field_headers[0]); i++)
                if (strcmp(field_headers[i][0], key) == 0)
                    fputs(field_headers[i][1], stdout);
        p = close + 2;
    }
    if (emit)
        putchar('\n');
    return 0;
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
    bool table = format && strncmp(format, "table ", 6) == 0;
    if (table)
        format += 6;
    if (r == 0 && format && format_line(format, NULL, notrunc, false) < 0) /* checked first */
        r = 125;
    if (r != 0) {
        free(filters.kv);
        return r;
    }
    struct sm_vm_info *list;
    size_t n;
    sm_error_t err = NULL;
    if (sm_vm_list(&list, &n, &err) < 0) {
        free(filters.kv);
        return cli_fail(&err);
    }
    if (format == NULL && !quiet)
        printf("%-12s   %-24s %-22s %-17s %-26s %-10s %s\n", "VM ID", "IMAGE", "COMMAND", "CREATED",
               "STATUS", "MEMORY", "NAMES");
    else if (table && !quiet)
        format_line(format, NULL, notrunc, true);
    long shown = 0;
    for (size_t i = 0; i < n && (last < 0 || shown < last); i++) {
        const struct sm_vm_info *v = &list[i];
        if (!all && strcmp(v->status, "running") != 0)
            continue;
        if (!filters_match(&filters, v))
            continue;
        shown++;
        if (quiet) {
            printf("%.*s\n", notrunc ? 64 : 12, v->id);
            continue;
        }
        if (format) {
            format_line(format, v, notrunc, true);
            continue;
        }
        char created[64], status[96], command[64], memory[32];
        cli_human_age(v->created, created, sizeof(created));
        status_text(v, status, sizeof(status));
        field(v, "Memory", notrunc, memory, sizeof(memory));
        if (!notrunc && strlen(v->command) > 20)
            snprintf(command, sizeof(command), "\"%.19s…\"", v->command);
        else
            snprintf(command, sizeof(command), "\"%.60s\"", v->command);
        printf("%-12.*s   %-24s %-22s %-17s %-26s %-10s %s\n", notrunc ? 64 : 12, v->id, v->image,
               command, created, status, memory, v->name);
    }
    sm_vm_list_free(list, n);
    free(filters.kv);
    return 0;
}
