/* The agent protocol (src/agent/agent_proto.c), both ends: the guest's sm-init and the
 * host library decode the same frames with the same code, and each distrusts the other.
 * The input is a byte stream fed to the decoder in pieces of varying size; every frame
 * is then read the way its receiver reads it: the guest's control frames (EXEC, HELLO
 * with its /etc/hosts entries, SIGNAL, RESIZE, WRITE_FILE, READ_FILE) and the host's
 * answers (STARTED, EXIT, ERROR, PORTS). */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../guest/guest.h"
#include "agent/agent_client.h"
#include "agent/agent_proto.h"

static void guest_side(uint8_t type, json_object *o)
{
    int64_t v;
    switch (type) {
    case AGENT_EXEC: { /* guest/session.c start_process */
        char **argv = agent_json_strv(o, "argv", 4096);
        char **env = agent_json_strv(o, "env", 4096);
        agent_json_str(o, "cwd");
        agent_json_str(o, "user");
        json_object *b;
        if (json_object_object_get_ex(o, "tty", &b))
            json_object_get_boolean(b);
        agent_json_int(o, "timeout_ms", 0, INT64_MAX / 1000000, &v);
        agent_json_int(o, "rows", 1, 65535, &v);
        agent_json_int(o, "cols", 1, 65535, &v);
        agent_strv_free(argv);
        agent_strv_free(env);
        break;
    }
    case AGENT_HELLO: { /* guest/session.c apply_hello, guest/hosts.c */
        agent_json_int(o, "time_ns", 0, INT64_MAX, &v);
        agent_json_str(o, "hostname");
        agent_json_str(o, "seed");
        json_object *hosts;
        if (!json_object_object_get_ex(o, "hosts", &hosts))
            break;
        static struct agent_host_entry e[AGENT_HOSTS_MAX];
        size_t n = guest_hosts_parse(hosts, e, AGENT_HOSTS_MAX);
        for (size_t i = 0; i < n; i++)
            if (strpbrk(e[i].name, " \t\n#") || strpbrk(e[i].ip, " \t\n#") ||
                !agent_host_name_valid(e[i].name))
                abort(); /* a line of /etc/hosts that is not one entry */
        static const char text[] = "127.0.0.1\tlocalhost\n# supermachine: --add-host\nx\n";
        size_t len;
        free(guest_hosts_render(text, sizeof(text) - 1, e, n, &len));
        break;
    }
    case AGENT_SIGNAL:
        agent_json_int(o, "signal", 1, NSIG - 1, &v);
        agent_json_int(o, "pid", 2, INT32_MAX, &v);
        break;
    case AGENT_RESIZE:
        agent_json_int(o, "rows", 1, 65535, &v);
        agent_json_int(o, "cols", 1, 65535, &v);
        break;
    case AGENT_WRITE_FILE:
    case AGENT_READ_FILE:
        agent_json_str(o, "path");
        agent_json_int(o, "mode", 0, 07777, &v);
        agent_json_int(o, "uid", 0, UINT32_MAX - 1, &v);
        agent_json_int(o, "gid", 0, UINT32_MAX - 1, &v);
        break;
    }
}

static void host_side(uint8_t type, json_object *o)
{
    int64_t v;
    switch (type) {
    case AGENT_HELLO:
        agent_json_int(o, "version", 0, 1000000, &v);
        break;
    case AGENT_STARTED:
        agent_json_int(o, "pid", 2, INT32_MAX, &v);
        break;
    case AGENT_EXIT:
        agent_json_int(o, "status", 0, 255, &v);
        agent_json_int(o, "size", 0, INT64_MAX, &v);
        agent_json_int(o, "peak_rss_kib", 0, INT64_MAX, &v);
        agent_json_int(o, "duration_ms", 0, INT64_MAX, &v);
        break;
    case AGENT_ERROR:
        agent_json_str(o, "message");
        break;
    case AGENT_PROCESSES: {
        struct sm_process p;
        if (agent_process_parse(o, &p)) {
            if (strlen(p.tty) >= sizeof(p.tty) || strpbrk(p.args, "\t\n\r\033") ||
                strpbrk(p.user, "\t\n\r\033") || strpbrk(p.comm, "\t\n\r\033"))
                abort(); /* a control character the CLI would print */
            free(p.user), free(p.comm), free(p.args);
        }
        struct sm_vm_usage u;
        agent_usage_parse(o, &u);
        break;
    }
    case AGENT_PORTS: {
        struct agent_port *ports = NULL;
        size_t n = 0;
        sm_error_t err = NULL;
        if (agent_ports_parse(o, &ports, &n, &err) == 0) {
            for (size_t i = 0; i < n; i++)
                if (memchr(ports[i].address, '\0', sizeof(ports[i].address)) == NULL)
                    abort(); /* an address the CLI would print past its end */
            free(ports);
        }
        sm_error_release(&err);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned piece = data[0] ? data[0] : 1; /* how the stream arrives: in pieces this big */
    data++, size--;
    struct agent_decoder d;
    agent_decoder_init(&d);
    size_t off = 0;
    for (;;) {
        uint8_t type;
        const uint8_t *payload;
        size_t len;
        int r = agent_decoder_next(&d, &type, &payload, &len);
        if (r < 0)
            break;
        if (r == 1) {
            if (len > AGENT_FRAME_MAX || type < 1 || type > AGENT_TYPE_MAX)
                abort(); /* the decoder's promises */
            agent_frame_type_name(type);
            json_object *o = agent_parse_json(payload, len);
            if (o) {
                guest_side(type, o);
                host_side(type, o);
                json_object_put(o);
            }
            continue;
        }
        if (off == size)
            break;
        size_t n = size - off < piece ? size - off : piece;
        memcpy(agent_decoder_space(&d, n), data + off, n);
        agent_decoder_commit(&d, n);
        off += n;
    }
    agent_decoder_free(&d);
    return 0;
}
