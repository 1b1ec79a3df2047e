/* supermachine stats: what running VMs use, as docker stats shows containers'. CPU is
 * the host's measure (the VMM's CPU time over the interval between two samples, 100%
 * a host CPU); memory, network, disk and processes are the guest's own figures, read by
 * its agent (docs/run.md). */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"

void cmd_stats_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine stats [OPTIONS] [VM...]\n\n"
                 "Shows what running VMs use (the named ones, else every running VM), a new\n"
                 "table every second until interrupted, as docker stats does:\n"
                 "  CPU %%              the VM's CPU time on this host over the last interval\n"
                 "                     (its vCPUs and devices; 100%% is one host CPU)\n"
                 "  MEM USAGE / LIMIT  the guest's memory in use (MemTotal - MemAvailable) and\n"
                 "                     its RAM; MEM %% their ratio\n"
                 "  NET I/O            bytes the guest received and sent (loopback left out)\n"
                 "  BLOCK I/O          bytes the guest read from and wrote to its disks\n"
                 "  PIDS               its processes, as 'supermachine top' lists them\n"
                 "A figure the VM cannot give (it is paused or has stopped) is --.\n\n"
                 "  -a, --all          every VM, ended ones too (their figures --)\n"
                 "      --no-stream    one table, then exit\n"
                 "      --no-trunc     full ids\n"
                 "      --format T     a Go template per VM (docs/cli-format.md) over docker's\n"
                 "                     fields {{.Container}} (the VM as named here), {{.ID}},\n"
                 "                     {{.Name}}, {{.CPUPerc}}, {{.MemUsage}}, {{.MemPerc}},\n"
                 "                     {{.NetIO}}, {{.BlockIO}}, {{.PIDs}}, and {{.PSS}} (the\n"
                 "                     host memory the VM takes, as ps's MEMORY); 'table T'\n"
                 "                     adds a header; 'json': each VM's fields as JSON\n");
}

static const char *const fields[][2] = {
    {"Container", "CONTAINER"},
    {"ID", "CONTAINER ID"},
    {"Name", "NAME"},
    {"CPUPerc", "CPU %"},
    {"MemUsage", "MEM USAGE / LIMIT"},
    {"MemPerc", "MEM %"},
    {"NetIO", "NET I/O"},
    {"BlockIO", "BLOCK I/O"},
    {"PIDs", "PIDS"},
    {"PSS", "PSS"},
};
static const char default_format[] = "table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t"
                                     "{{.MemPerc}}\\t{{.NetIO}}\\t{{.BlockIO}}\\t{{.PIDs}}";

/* The last sample of a VM, for the next one's CPU figure. */
struct sample {
    char id[65];
    int64_t cpu_ns;
    uint64_t at_ns;
};

struct stats {
    bool all, notrunc, stream;
    const char *format;
    char **names; /* the VMs asked for; NULL: every running one */
    int nnames;
    struct sample *prev, *next;
    size_t nprev, nnext;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The VM a name given on the command line means: by name, else by a unique id prefix. */
static const struct sm_vm_info *find(const struct sm_vm_info *vms, size_t n, const char *arg)
{
    const struct sm_vm_info *hit = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(vms[i].name, arg) == 0 || strcmp(vms[i].id, arg) == 0)
            return &vms[i];
    for (size_t i = 0; i < n; i++) {
        if (strncmp(vms[i].id, arg, strlen(arg)) != 0)
            continue;
        if (hit)
            return NULL;
        hit = &vms[i];
    }
    return hit;
}

static void pair(char *out, size_t n, int64_t a, int64_t b, bool binary)
{
    char x[24], y[24];
    (binary ? cli_human_binary_size : cli_human_size)((uint64_t)a, x, sizeof(x));
    (binary ? cli_human_binary_size : cli_human_size)((uint64_t)b, y, sizeof(y));
    snprintf(out, n, "%s / %s", x, y);
}

static void add(json_object *o, const char *key, const char *value)
{
    json_object_object_add(o, key, json_object_new_string(value));
}

/* One VM's row: sampled now if it runs, its CPU figure against its previous sample. */
static json_object *row(struct stats *s, const struct sm_vm_info *v, const char *as_named)
{
    struct sm_vm_usage u;
    bool ok = false;
    if (strcmp(v->status, "running") == 0) {
        sm_error_t err = NULL;
        ok = sm_vm_processes(v->id, NULL, NULL, &u, &err) == 0;
        sm_error_release(&err); /* stopped or paused meanwhile: its figures are -- */
    }
    uint64_t now = now_ns();
    char cpu[32] = "--", mem[64] = "-- / --", memp[32] = "--", net[64] = "-- / --",
         blk[64] = "-- / --", pids[32] = "--", pss[32] = "--";
    if (ok && u.cpu_ns >= 0) {
        struct sample *p = NULL;
        for (size_t i = 0; i < s->nprev && p == NULL; i++)
            if (strcmp(s->prev[i].id, v->id) == 0)
                p = &s->prev[i];
        if (p && now > p->at_ns && u.cpu_ns >= p->cpu_ns)
            snprintf(cpu, sizeof(cpu), "%.2f%%",
                     (double)(u.cpu_ns - p->cpu_ns) * 100 / (double)(now - p->at_ns));
        struct sample *q = &s->next[s->nnext++];
        snprintf(q->id, sizeof(q->id), "%s", v->id);
        q->cpu_ns = u.cpu_ns;
        q->at_ns = now;
    }
    if (ok && u.mem_total_kib > 0 && u.mem_available_kib >= 0) {
        int64_t used = u.mem_total_kib - u.mem_available_kib;
        pair(mem, sizeof(mem), used * 1024, u.mem_total_kib * 1024, true);
        snprintf(memp, sizeof(memp), "%.2f%%", (double)used * 100 / (double)u.mem_total_kib);
    }
    if (ok && u.net_rx_bytes >= 0 && u.net_tx_bytes >= 0)
        pair(net, sizeof(net), u.net_rx_bytes, u.net_tx_bytes, false);
    if (ok && u.block_read_bytes >= 0 && u.block_write_bytes >= 0)
        pair(blk, sizeof(blk), u.block_read_bytes, u.block_write_bytes, false);
    if (ok && u.processes >= 0)
        snprintf(pids, sizeof(pids), "%lld", (long long)u.processes);
    if (ok && u.pss_kib >= 0)
        cli_human_binary_size((uint64_t)u.pss_kib * 1024, pss, sizeof(pss));
    char id[65];
    snprintf(id, sizeof(id), "%.*s", s->notrunc ? 64 : 12, v->id);
    json_object *o = json_object_new_object();
    add(o, "Container", as_named ? as_named : id);
    add(o, "ID", id);
    add(o, "Name", v->name);
    add(o, "CPUPerc", cpu);
    add(o, "MemUsage", mem);
    add(o, "MemPerc", memp);
    add(o, "NetIO", net);
    add(o, "BlockIO", blk);
    add(o, "PIDs", pids);
    add(o, "PSS", pss);
    return o;
}

/* Samples every VM asked for; prints the table when out is not NULL. 0, or 125 when a
 * named VM does not exist (or a template fails). */
static int sample(struct stats *s, FILE *out)
{
    struct sm_vm_info *vms;
    size_t n;
    sm_error_t err = NULL;
    if (sm_vm_list(&vms, &n, &err) < 0)
        return cli_fail(&err);
    size_t most = s->names ? (size_t)s->nnames : n;
    s->next = calloc(most ? most : 1, sizeof(*s->next));
    if (s->next == NULL)
        abort();
    s->nnext = 0;
    struct cli_list list = {0};
    json_object *header = json_object_new_object();
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        json_object_object_add(header, fields[i][0], json_object_new_string(fields[i][1]));
    int r = cli_list_begin(&list, "stats", s->format, default_format, header);
    json_object_put(header);
    for (size_t i = 0; r == 0 && i < most; i++) {
        const struct sm_vm_info *v = s->names ? find(vms, n, s->names[i]) : &vms[i];
        if (v == NULL) {
            r = cli_usage_error("stats %s: no such VM", s->names[i]);
            break;
        }
        if (!s->names && !s->all && !cli_vm_is_up(v))
            continue;
        json_object *o = row(s, v, s->names ? s->names[i] : NULL);
        r = cli_list_row(&list, o);
        json_object_put(o);
    }
    if (r == 0 && out && s->stream && isatty(fileno(out)))
        fputs("\033[2J\033[H", out); /* docker's: the new table in place of the last */
    cli_list_end(&list, r == 0 ? out : NULL);
    if (out)
        fflush(out);
    sm_vm_list_free(vms, n);
    free(s->prev);
    s->prev = s->next;
    s->nprev = s->nnext;
    s->next = NULL;
    return r;
}

int cmd_stats(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"all", no_argument, NULL, 'a'},      {"no-stream", no_argument, NULL, 'S'},
        {"no-trunc", no_argument, NULL, 'N'}, {"format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},     {NULL, 0, NULL, 0},
    };
    struct stats s = {.stream = true};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:ah", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            s.all = true;
            break;
        case 'S':
            s.stream = false;
            break;
        case 'N':
            s.notrunc = true;
            break;
        case 'F':
            s.format = optarg;
            break;
        case 'h':
            cmd_stats_usage(stdout);
            return 0;
        default:
            return cli_option_error("stats", c, argv);
        }
    }
    if (optind < argc) {
        s.names = argv + optind;
        s.nnames = argc - optind;
    }
    /* CPU time is a difference: a first sample, then a table a second later (docker's
     * --no-stream waits for two samples too). */
    int r = sample(&s, NULL);
    while (r == 0) {
        struct timespec second = {1, 0};
        nanosleep(&second, NULL);
        r = sample(&s, stdout);
        if (!s.stream)
            break;
    }
    free(s.prev);
    return r;
}
