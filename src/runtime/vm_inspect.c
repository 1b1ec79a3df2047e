/* sm_vm_inspect: a VM's record as docker inspect shows a container's, with the keys
 * docker uses where they mean the same thing (docs/run.md). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "runtime/instance.h"
#include "runtime/run_restart.h"

/* RFC 3339 in UTC, as docker prints times; docker's zero time for "never". */
static json_object *json_time(int64_t unix_seconds)
{
    if (unix_seconds <= 0)
        return json_object_new_string("0001-01-01T00:00:00Z");
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    char text[32];
    gmtime_r(&t, &tm);
    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_object_new_string(text);
}

/* What `stop` uses, as docker shows it: the run's --stop-signal, else the image's
 * StopSignal (absent if neither names one); --stop-timeout only when the run gave it. */
static void add_stop_config(json_object *config, const struct instance *in)
{
    cleanup_free char *sig = instance_stop_signal(in);
    if (sig && *sig)
        json_object_object_add(config, "StopSignal", json_object_new_string(sig));
    if (in->stop_timeout >= 0)
        json_object_object_add(config, "StopTimeout", json_object_new_int(in->stop_timeout));
}

/* The VM's size and network as its VMM was configured (vmm.json), when it was. */
static void add_host_config(json_object *o, const struct instance *in)
{
    cleanup_free char *path = instance_path(in, "vmm.json");
    char *text = NULL;
    size_t len;
    sm_error_t ignored = NULL;
    json_object *cfg = NULL;
    if (sm_read_file(path, 1 << 20, &text, &len, &ignored) == 0)
        cfg = json_tokener_parse(text);
    free(text);
    sm_error_release(&ignored);
    json_object *host = json_object_new_object();
    json_object_object_add(host, "AutoRemove", json_object_new_boolean(in->auto_remove));
    /* docker's {"Name": "no", "MaximumRetryCount": 0} */
    struct run_restart restart;
    sm_error_t bad = NULL;
    if (run_restart_parse(in->restart, &restart, &bad) < 0) {
        sm_error_release(&bad);
        restart = (struct run_restart){RUN_RESTART_NO, 0};
    }
    json_object *policy = json_object_new_object();
    json_object_object_add(policy, "Name", json_object_new_string(run_restart_name(&restart)));
    json_object_object_add(policy, "MaximumRetryCount",
                           json_object_new_int((int)restart.max_retries));
    json_object_object_add(host, "RestartPolicy", policy);
    /* docker's null when there are none */
    json_object_object_add(host, "ExtraHosts", sm_json_array((const char *const *)in->extra_hosts));
    json_object_object_add(host, "ReadonlyRootfs", json_object_new_boolean(in->read_only));
    json_object_object_add(host, "ShmSize", json_object_new_int64((int64_t)in->shm_size));
    /* docker's map of path to options ("" when none), null when there are none */
    json_object *tmpfs = NULL;
    for (size_t i = 0; in->tmpfs && in->tmpfs[i]; i++) {
        if (tmpfs == NULL)
            tmpfs = json_object_new_object();
        const char *colon = strchr(in->tmpfs[i], ':');
        cleanup_free char *where =
            colon ? xasprintf("%.*s", (int)(colon - in->tmpfs[i]), in->tmpfs[i])
                  : xstrdup(in->tmpfs[i]);
        json_object_object_add(tmpfs, where, json_object_new_string(colon ? colon + 1 : ""));
    }
    json_object_object_add(host, "Tmpfs", tmpfs);
    /* docker's [] when none were given */
    const char *keys[] = {"Dns", "DnsSearch", "DnsOptions"};
    char **lists[] = {in->dns, in->dns_search, in->dns_options};
    for (size_t i = 0; i < 3; i++) {
        json_object *a = sm_json_array((const char *const *)lists[i]);
        json_object_object_add(host, keys[i], a ? a : json_object_new_array());
    }
    if (cfg) {
        const char *network = sm_json_str(cfg, "network");
        json_object_object_add(host, "Cpus", json_object_new_int64(sm_json_int(cfg, "cpus")));
        json_object_object_add(host, "MemoryMiB",
                               json_object_new_int64(sm_json_int(cfg, "memory_mib")));
        json_object_object_add(host, "NetworkMode",
                               json_object_new_string(network ? network : "none"));
        json_object_put(cfg);
    }
    json_object_object_add(o, "HostConfig", host);
}

/* Ports published now, docker's shape: {"80/tcp": [{"HostIp", "HostPort"}]}. */
static void add_network(json_object *o, const char *id)
{
    json_object *net = json_object_new_object();
    json_object *ports = json_object_new_object();
    struct sm_published_port *list = NULL;
    size_t n = 0;
    sm_error_t ignored = NULL;
    if (sm_vm_published_ports(id, &list, &n, &ignored) == 0) {
        for (size_t i = 0; i < n; i++) {
            char key[16], port[8];
            snprintf(key, sizeof(key), "%u/%s", list[i].guest_port, list[i].proto);
            snprintf(port, sizeof(port), "%u", list[i].host_port);
            json_object *bindings;
            if (!json_object_object_get_ex(ports, key, &bindings)) {
                bindings = json_object_new_array();
                json_object_object_add(ports, key, bindings);
            }
            json_object *b = json_object_new_object();
            json_object_object_add(b, "HostIp", json_object_new_string(list[i].host_address));
            json_object_object_add(b, "HostPort", json_object_new_string(port));
            json_object_array_add(bindings, b);
        }
    }
    free(list);
    sm_error_release(&ignored);
    json_object_object_add(net, "Ports", ports);
    json_object_object_add(o, "NetworkSettings", net);
}

int sm_vm_inspect(const char *name_or_id, char **json_out, sm_error_t *err)
{
    struct instance in;
    if (instance_find(name_or_id, &in, err) < 0)
        return sm_error_wrap(err, "inspect");
    bool running = instance_running(&in);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "Id", json_object_new_string(in.id));
    json_object_object_add(o, "Name", json_object_new_string(in.name));
    json_object_object_add(o, "Created", json_time(in.created));
    json_object_object_add(o, "Image", json_object_new_string(in.image));
    json_object_object_add(o, "ImageDigest", json_object_new_string(in.digest));
    json_object_object_add(o, "Command", json_object_new_string(in.command));
    json_object *state = json_object_new_object();
    json_object_object_add(state, "Status", json_object_new_string(in.status));
    json_object_object_add(state, "Running", json_object_new_boolean(running));
    json_object_object_add(state, "Paused",
                           json_object_new_boolean(running && strcmp(in.status, "paused") == 0));
    json_object_object_add(
        state, "Restarting",
        json_object_new_boolean(running && strcmp(in.status, "restarting") == 0));
    json_object_object_add(state, "ExitCode", json_object_new_int(running ? 0 : in.exit_code));
    json_object_object_add(state, "Pid", json_object_new_int(running ? (int)in.vmm_pid : 0));
    json_object_object_add(state, "StartedAt", json_time(in.started));
    json_object_object_add(state, "FinishedAt", json_time(running ? 0 : in.finished));
    json_object_object_add(o, "State", state);
    json_object_object_add(o, "RestartCount", json_object_new_int(instance_restart_count(&in)));
    json_object *config = json_object_new_object();
    char hostname[64];
    instance_hostname(&in, hostname);
    json_object_object_add(config, "Hostname", json_object_new_string(hostname));
    json_object_object_add(config, "Image", json_object_new_string(in.image));
    /* The main process's, as the run composed them: what an exec starts with. Left out
     * for a record that lacks them (an idle VM's). */
    if (in.env)
        json_object_object_add(config, "Env", sm_json_array((const char *const *)in.env));
    if (in.user)
        json_object_object_add(config, "User", json_object_new_string(in.user));
    if (in.workdir)
        json_object_object_add(config, "WorkingDir", json_object_new_string(in.workdir));
    add_stop_config(config, &in);
    /* docker's map, {} when there are none */
    json_object *labels = json_object_new_object();
    for (size_t i = 0; in.labels && in.labels[i]; i++) {
        const char *eq = strchr(in.labels[i], '=');
        cleanup_free char *key =
            eq ? xasprintf("%.*s", (int)(eq - in.labels[i]), in.labels[i]) : xstrdup(in.labels[i]);
        json_object_object_add(labels, key, json_object_new_string(eq ? eq + 1 : ""));
    }
    json_object_object_add(config, "Labels", labels);
    json_object_object_add(o, "Config", config);
    add_host_config(o, &in);
    add_network(o, in.id);
    json_object_object_add(o, "MemoryPssKiB", json_object_new_int64(instance_pss_kib(&in)));
    *json_out = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    instance_release(&in);
    return 0;
}
