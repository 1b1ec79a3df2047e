/* supermachine top: the processes of a running VM, as docker top lists a container's.
 * docker runs the host's ps over the container's pids; a VM's processes are in another
 * kernel, so its agent reads the guest's /proc and this prints the columns ps would,
 * for the ps options docker users pass (-ef, aux, -o LIST). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"

void cmd_top_usage(FILE *out)
{
    fprintf(out,
            "Usage: supermachine top VM [ps OPTIONS]\n\n"
            "Lists the processes of a running VM, as docker top does: the command's and\n"
            "those of its execs, not supermachine's own (the guest's init and agent) nor\n"
            "kernel threads, as the guest's kernel reports them, sorted by process id.\n"
            "Process ids, users and times are the guest's.\n\n"
            "ps OPTIONS (default -ef):\n"
            "  -e, -A, -f, -ef      UID PID PPID C STIME TTY TIME CMD (without -f:\n"
            "                       PID TTY TIME CMD)\n"
            "  aux                  USER PID %%CPU %%MEM VSZ RSS TTY STAT START TIME COMMAND\n"
            "                       (ax: PID TTY STAT TIME COMMAND)\n"
            "  -o LIST              the columns LIST names, comma-separated: pid ppid uid\n"
            "                       user gid comm args cmd command rss vsz stat s tty time\n"
            "                       etime pcpu %%cpu pmem %%mem stime start nlwp; FIELD=TITLE\n"
            "                       gives a column its title (-eo LIST too)\n");
}

enum field {
    F_PID,
    F_PPID,
    F_UID,
    F_USER,
    F_GID,
    F_COMM,
    F_ARGS,
    F_RSS,
    F_VSZ,
    F_STAT,
    F_TTY,
    F_TIME,    /* [DD-]HH:MM:SS */
    F_BSDTIME, /* M:SS */
    F_ETIME,
    F_PCPU,
    F_C,
    F_PMEM,
    F_STIME,
    F_NLWP,
};

static const struct field_name {
    const char *name, *title;
    enum field field;
} field_names[] = {
    {"pid", "PID", F_PID},          {"ppid", "PPID", F_PPID},    {"uid", "UID", F_UID},
    {"euid", "EUID", F_UID},        {"user", "USER", F_USER},    {"euser", "EUSER", F_USER},
    {"gid", "GID", F_GID},          {"egid", "EGID", F_GID},     {"comm", "COMMAND", F_COMM},
    {"ucomm", "COMMAND", F_COMM},   {"args", "COMMAND", F_ARGS}, {"cmd", "CMD", F_ARGS},
    {"command", "COMMAND", F_ARGS}, {"rss", "RSS", F_RSS},       {"rssize", "RSS", F_RSS},
    {"vsz", "VSZ", F_VSZ},          {"stat", "STAT", F_STAT},    {"s", "S", F_STAT},
    {"state", "S", F_STAT},         {"tty", "TT", F_TTY},        {"tt", "TT", F_TTY},
    {"time", "TIME", F_TIME},       {"cputime", "TIME", F_TIME}, {"etime", "ELAPSED", F_ETIME},
    {"pcpu", "%CPU", F_PCPU},       {"%cpu", "%CPU", F_PCPU},    {"c", "C", F_C},
    {"pmem", "%MEM", F_PMEM},       {"%mem", "%MEM", F_PMEM},    {"stime", "STIME", F_STIME},
    {"start", "STARTED", F_STIME},  {"nlwp", "NLWP", F_NLWP},    {"thcount", "THCNT", F_NLWP},
};

struct column {
    enum field field;
    const char *title;
};

struct columns {
    struct column *v;
    size_t n;
};

static void add(struct columns *c, enum field f, const char *title)
{
    c->v = realloc(c->v, (c->n + 1) * sizeof(*c->v));
    if (c->v == NULL)
        abort();
    c->v[c->n++] = (struct column){f, title};
}

/* ps -o's LIST: "pid,user,args", "pid=ID"; a title runs to the end of its item. */
static int add_list(struct columns *c, char *list)
{
    for (char *item = strtok(list, ", "); item; item = strtok(NULL, ", ")) {
        char *eq = strchr(item, '=');
        if (eq)
            *eq = '\0';
        const struct field_name *f = NULL;
        for (size_t i = 0; i < sizeof(field_names) / sizeof(field_names[0]) && f == NULL; i++)
            if (strcmp(item, field_names[i].name) == 0)
                f = &field_names[i];
        if (f == NULL)
            return cli_usage_error("top: ps -o: unknown field %s (see supermachine top --help)",
                                   item);
        add(c, f->field, eq ? eq + 1 : f->title);
    }
    return 0;
}

static void add_all(struct columns *c, const enum field *fields, const char *const *titles)
{
    for (size_t i = 0; titles[i]; i++)
        add(c, fields[i], titles[i]);
}

/* The ps options docker passes on (`docker top web aux`) into columns. */
static int parse_ps_options(int argc, char **argv, struct columns *c)
{
    bool full = argc == 0, bsd = false, bsd_user = false, plain = false;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        bool dash = a[0] == '-';
        const char *letters = a + dash;
        size_t n = strcspn(letters, "o");
        if (n < strlen(letters)) { /* -o LIST, -eo LIST, -oLIST, o LIST */
            if (strspn(letters, dash ? "eAfa" : "aux") < n)
                return cli_usage_error("top: ps option %s is not supported (-ef, aux, -o LIST)", a);
            char *list = letters[n + 1] ? a + dash + n + 1 : i + 1 < argc ? argv[++i] : NULL;
            if (list == NULL)
                return cli_usage_error("top: ps option %s needs a list of fields", a);
            if (add_list(c, list) != 0)
                return 125;
            continue;
        }
        if (*letters == '\0' || strspn(letters, dash ? "eAfaw" : "auxw") != strlen(letters))
            return cli_usage_error("top: ps option %s is not supported (-ef, aux, -o LIST)", a);
        if (dash) {
            plain = true;
            full |= strchr(letters, 'f') != NULL;
        } else {
            bsd = true;
            bsd_user |= strchr(letters, 'u') != NULL;
        }
    }
    if (c->n > 0)
        return 0;
    if (bsd && bsd_user)
        add_all(c,
                (const enum field[]){F_USER, F_PID, F_PCPU, F_PMEM, F_VSZ, F_RSS, F_TTY, F_STAT,
                                     F_STIME, F_BSDTIME, F_ARGS},
                (const char *const[]){"USER", "PID", "%CPU", "%MEM", "VSZ", "RSS", "TTY", "STAT",
                                      "START", "TIME", "COMMAND", NULL});
    else if (bsd)
        add_all(c, (const enum field[]){F_PID, F_TTY, F_STAT, F_BSDTIME, F_ARGS},
                (const char *const[]){"PID", "TTY", "STAT", "TIME", "COMMAND", NULL});
    else if (full)
        add_all(
            c, (const enum field[]){F_USER, F_PID, F_PPID, F_C, F_STIME, F_TTY, F_TIME, F_ARGS},
            (const char *const[]){"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD", NULL});
    else if (plain)
        add_all(c, (const enum field[]){F_PID, F_TTY, F_TIME, F_COMM},
                (const char *const[]){"PID", "TTY", "TIME", "CMD", NULL});
    return 0;
}

/* ps's "[DD-]HH:MM:SS", and etime's "[[DD-]HH:]MM:SS". */
static void clock_text(int64_t s, bool short_form, char *out, size_t n)
{
    int64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
    if (d > 0)
        snprintf(out, n, "%lld-%02lld:%02lld:%02lld", (long long)d, (long long)h, (long long)m,
                 (long long)sec);
    else if (!short_form || h > 0)
        snprintf(out, n, "%02lld:%02lld:%02lld", (long long)h, (long long)m, (long long)sec);
    else
        snprintf(out, n, "%02lld:%02lld", (long long)m, (long long)sec);
}

/* ps's STIME: HH:MM for today, else MonDD (the year for another year). */
static void start_text(int64_t unix_ms, time_t now, char *out, size_t n)
{
    time_t t = (time_t)(unix_ms / 1000);
    struct tm then, today;
    localtime_r(&t, &then);
    localtime_r(&now, &today);
    if (then.tm_year != today.tm_year)
        strftime(out, n, "%Y", &then);
    else if (then.tm_yday != today.tm_yday)
        strftime(out, n, "%b%d", &then);
    else
        strftime(out, n, "%H:%M", &then);
}

static void cell(struct cli_template_buf *b, const struct sm_process *p, enum field f,
                 int64_t mem_total_kib, time_t now)
{
    char text[64];
    const char *s = text;
    int64_t elapsed_ms = (int64_t)now * 1000 - p->start_unix_ms;
    elapsed_ms = elapsed_ms > 0 ? elapsed_ms : 0;
    double pcpu = elapsed_ms > 0 ? (double)p->cpu_ms * 100 / (double)elapsed_ms : 0;
    switch (f) {
    case F_PID:
        snprintf(text, sizeof(text), "%d", p->pid);
        break;
    case F_PPID:
        snprintf(text, sizeof(text), "%d", p->ppid);
        break;
    case F_UID:
        snprintf(text, sizeof(text), "%lld", (long long)p->uid);
        break;
    case F_GID:
        snprintf(text, sizeof(text), "%lld", (long long)p->gid);
        break;
    case F_USER:
        s = p->user;
        break;
    case F_COMM:
        s = p->comm;
        break;
    case F_ARGS:
        if (*p->args && p->state != 'Z')
            s = p->args;
        else
            snprintf(text, sizeof(text), "[%s]%s", p->comm, p->state == 'Z' ? " <defunct>" : "");
        break;
    case F_RSS:
        snprintf(text, sizeof(text), "%lld", (long long)p->rss_kib);
        break;
    case F_VSZ:
        snprintf(text, sizeof(text), "%lld", (long long)p->vsz_kib);
        break;
    case F_STAT:
        snprintf(text, sizeof(text), "%c", p->state);
        break;
    case F_TTY:
        s = p->tty;
        break;
    case F_TIME:
        clock_text(p->cpu_ms / 1000, false, text, sizeof(text));
        break;
    case F_BSDTIME:
        snprintf(text, sizeof(text), "%lld:%02lld", (long long)(p->cpu_ms / 60000),
                 (long long)(p->cpu_ms / 1000 % 60));
        break;
    case F_ETIME:
        clock_text(elapsed_ms / 1000, true, text, sizeof(text));
        break;
    case F_PCPU:
        snprintf(text, sizeof(text), "%.1f", pcpu);
        break;
    case F_C:
        snprintf(text, sizeof(text), "%d", (int)pcpu);
        break;
    case F_PMEM:
        snprintf(text, sizeof(text), "%.1f",
                 mem_total_kib > 0 ? (double)p->rss_kib * 100 / (double)mem_total_kib : 0.0);
        break;
    case F_STIME:
        start_text(p->start_unix_ms, now, text, sizeof(text));
        break;
    case F_NLWP:
        snprintf(text, sizeof(text), "%lld", (long long)p->threads);
        break;
    }
    cli_template_buf_add(b, s, strlen(s));
}

static int by_pid(const void *a, const void *b)
{
    const struct sm_process *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

int cmd_top(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        cmd_top_usage(stdout);
        return 0;
    }
    if (argc < 2)
        return cli_usage_error("top: no VM given; see 'supermachine top --help'");
    struct columns cols = {0};
    int r = parse_ps_options(argc - 2, argv + 2, &cols);
    if (r != 0) {
        free(cols.v);
        return r;
    }
    struct sm_process *procs = NULL;
    size_t n = 0;
    struct sm_vm_usage usage;
    sm_error_t err = NULL;
    if (sm_vm_processes(argv[1], &procs, &n, &usage, &err) < 0) {
        free(cols.v);
        return cli_fail(&err);
    }
    qsort(procs, n, sizeof(*procs), by_pid);
    time_t now = time(NULL);
    struct cli_template_buf b = {0};
    for (size_t i = 0; i < cols.n; i++) {
        cli_template_buf_add(&b, cols.v[i].title, strlen(cols.v[i].title));
        cli_template_buf_add(&b, i + 1 < cols.n ? "\t" : "\n", 1);
    }
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < cols.n; i++) {
            cell(&b, &procs[k], cols.v[i].field, usage.mem_total_kib, now);
            cli_template_buf_add(&b, i + 1 < cols.n ? "\t" : "\n", 1);
        }
    }
    cli_tabwrite_min(stdout, b.data ? b.data : "", b.len, 20);
    cli_template_buf_free(&b);
    sm_process_list_free(procs, n);
    free(cols.v);
    return 0;
}
