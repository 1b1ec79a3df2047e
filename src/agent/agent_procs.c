/* The host side of PROCESSES (docs/protocol.md): the guest's processes for `top` and its
 * totals for `stats`. What the guest sends is printed on the user's terminal, so every
 * number is range-checked and every string bounded and rid of control characters. */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_client.h"
#include "common/util.h"

#define STRING_MAX 4096 /* a command line's bytes, as the guest caps it */

/* A copy of the guest's string s, at most max bytes, control characters as '?'; NULL if
 * s is NULL. */
static char *clean_string(const char *s, size_t max)
{
    if (s == NULL)
        return NULL;
    size_t n = strnlen(s, max);
    char *out = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    out[n] = '\0';
    return out;
}

static int64_t int_or(json_object *j, const char *key, int64_t min, int64_t max, int64_t dflt)
{
    int64_t v;
    return agent_json_int(j, key, min, max, &v) ? v : dflt;
}

bool agent_process_parse(json_object *j, struct sm_process *p)
{
    *p = (struct sm_process){0};
    int64_t pid, ppid;
    const char *state = agent_json_str(j, "state"), *tty = agent_json_str(j, "tty");
    if (!json_object_is_type(j, json_type_object) ||
        !agent_json_int(j, "pid", 1, INT32_MAX, &pid) ||
        !agent_json_int(j, "ppid", 0, INT32_MAX, &ppid) || state == NULL || strlen(state) != 1 ||
        state[0] < 'A' || state[0] > 'z')
        return false;
    p->pid = (int)pid;
    p->ppid = (int)ppid;
    p->uid = int_or(j, "uid", 0, UINT32_MAX, -1);
    p->gid = int_or(j, "gid", 0, UINT32_MAX, -1);
    p->state = state[0];
    char *t = clean_string(tty ? tty : "?", sizeof(p->tty) - 1);
    memcpy(p->tty, t, strlen(t) + 1);
    free(t);
    p->start_unix_ms = int_or(j, "start_ms", 0, INT64_MAX / 2, 0);
    p->cpu_ms = int_or(j, "cpu_ms", 0, INT64_MAX / 2, 0);
    p->rss_kib = int_or(j, "rss_kib", 0, INT64_MAX / 2, 0);
    p->vsz_kib = int_or(j, "vsz_kib", 0, INT64_MAX / 2, 0);
    p->threads = int_or(j, "threads", 0, INT32_MAX, 0);
    p->user = clean_string(agent_json_str(j, "user"), 64);
    if (p->user == NULL)
        p->user = xasprintf("%lld", (long long)p->uid);
    p->comm = clean_string(agent_json_str(j, "comm"), 64);
    if (p->comm == NULL)
        p->comm = xstrdup("?");
    p->args = clean_string(agent_json_str(j, "args"), STRING_MAX);
    if (p->args == NULL)
        p->args = xstrdup("");
    return true;
}

void agent_usage_parse(json_object *j, struct sm_vm_usage *u)
{
    const int64_t big = INT64_MAX / 2;
    u->processes = int_or(j, "processes", 0, AGENT_PROCESSES_MAX, -1);
    u->cpus = int_or(j, "cpus", 1, 4096, -1);
    u->uptime_ms = int_or(j, "uptime_ms", 0, big, -1);
    u->mem_total_kib = int_or(j, "mem_total_kib", 0, big, -1);
    u->mem_available_kib = int_or(j, "mem_available_kib", 0, big, -1);
    if (u->mem_total_kib >= 0 && u->mem_available_kib > u->mem_total_kib)
        u->mem_available_kib = u->mem_total_kib;
    u->net_rx_bytes = int_or(j, "net_rx_bytes", 0, big, -1);
    u->net_tx_bytes = int_or(j, "net_tx_bytes", 0, big, -1);
    u->block_read_bytes = int_or(j, "block_read_bytes", 0, big, -1);
    u->block_write_bytes = int_or(j, "block_write_bytes", 0, big, -1);
}

void sm_process_list_free(struct sm_process *procs, size_t n)
{
    for (size_t i = 0; procs && i < n; i++) {
        free(procs[i].user);
        free(procs[i].comm);
        free(procs[i].args);
    }
    free(procs);
}

int agent_processes(struct agent_conn *c, struct sm_process **procs, size_t *n,
                    struct sm_vm_usage *usage, int timeout_ms, sm_error_t *err)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "list", json_object_new_boolean(procs != NULL));
    int w = agent_write_json(c->fd, AGENT_PROCESSES, o);
    json_object_put(o);
    if (w < 0)
        return sm_error_set(err, errno, "agent: send processes");
    struct sm_process *list = NULL;
    size_t count = 0, cap = 0;
    int64_t deadline = agent_now_ms() + timeout_ms;
    for (;;) {
        uint8_t type;
        const uint8_t *payload;
        size_t len;
        if (agent_read_frame(c, deadline, &type, &payload, &len, err) < 0)
            break;
        json_object *j = agent_parse_json(payload, len);
        if (type == AGENT_ERROR) {
            const char *m = j ? agent_json_str(j, "message") : NULL;
            sm_error_set(err, 0, "%s", m ? m : "the agent reported an error");
        } else if (j == NULL || (type != AGENT_PROCESSES && type != AGENT_EXIT)) {
            sm_error_set(err, 0, "agent: unexpected %s frame", agent_frame_type_name(type));
        } else if (type == AGENT_PROCESSES && (procs == NULL || count == AGENT_PROCESSES_MAX)) {
            sm_error_set(err, 0, "agent: more processes than asked for");
        } else if (type == AGENT_PROCESSES) {
            if (count == cap) {
                cap = cap ? cap * 2 : 64;
                list = xrealloc(list, cap * sizeof(*list));
            }
            if (agent_process_parse(j, &list[count]))
                count++; /* not a process: dropped, never printed */
            json_object_put(j);
            continue;
        } else {
            int64_t status;
            if (!agent_json_int(j, "status", 0, 255, &status) || status != 0) {
                sm_error_set(err, 0, "agent: a malformed exit frame");
            } else {
                if (usage)
                    agent_usage_parse(j, usage);
                json_object_put(j);
                if (procs) {
                    *procs = list ? list : xcalloc(1, sizeof(*list));
                    *n = count;
                }
                return 0;
            }
        }
        json_object_put(j);
        break;
    }
    sm_process_list_free(list, count);
    return -1;
}
