/* Credentials from docker's config file. The helper protocol is docker's: run
 * `docker-credential-<name> get`, write the server URL on its stdin, read
 * {"Username": ..., "Secret": ...} from its stdout; a Username of "<token>" means the
 * Secret is an identity token. */
#include "oci/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <nettle/base64.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "oci/ref.h"

#define AUTH_CONFIG_MAX   (4u << 20)
#define HELPER_OUTPUT_MAX (1u << 20)

void oci_cred_clear(struct oci_cred *c)
{
    if (c->password)
        explicit_bzero(c->password, strlen(c->password));
    if (c->identity_token)
        explicit_bzero(c->identity_token, strlen(c->identity_token));
    free(c->username);
    free(c->password);
    free(c->identity_token);
    c->username = c->password = c->identity_token = NULL;
}

/* The host part of a config key: "https://index.docker.io/v1/" -> "index.docker.io". */
static void key_host(const char *key, char *out, size_t n)
{
    const char *p = strstr(key, "://");
    p = p ? p + 3 : key;
    size_t len = strcspn(p, "/");
    snprintf(out, n, "%.*s", (int)len, p);
}

static bool key_matches(const char *key, const char *domain)
{
    const char *want = oci_ref_auth_key(domain);
    if (strcmp(key, want) == 0)
        return true;
    char host[512];
    key_host(key, host, sizeof(host));
    if (strcmp(want, "https://index.docker.io/v1/") == 0)
        return strcmp(host, "index.docker.io") == 0 || strcmp(host, "docker.io") == 0 ||
               strcmp(host, "registry-1.docker.io") == 0;
    return strcmp(host, domain) == 0;
}

static int decode_basic(const char *b64, const char *domain, struct oci_cred *out, sm_error_t *err)
{
    size_t n = strlen(b64);
    if (n == 0 || n > 65536 || n % 4 != 0)
        return sm_error_set(err, 0, "docker config: auth for %s: invalid base64", domain);
    cleanup_free unsigned char *buf = xmalloc(BASE64_DECODE_LENGTH(n) + 1);
    struct base64_decode_ctx ctx;
    size_t r = 0;
    base64_decode_init(&ctx);
    if (!base64_decode_update(&ctx, &r, buf, n, b64) || !base64_decode_final(&ctx))
        return sm_error_set(err, 0, "docker config: auth for %s: invalid base64", domain);
    buf[r] = '\0';
    if (memchr(buf, '\0', r))
        return sm_error_set(err, 0, "docker config: auth for %s: invalid credentials", domain);
    char *colon = strchr((char *)buf, ':');
    if (colon == NULL)
        return sm_error_set(err, 0, "docker config: auth for %s: expected user:password", domain);
    *colon = '\0';
    out->username = xstrdup((char *)buf);
    out->password = xstrdup(colon + 1);
    explicit_bzero(buf, (size_t)r);
    return 0;
}

static int from_auths(json_object *root, const char *domain, struct oci_cred *out, sm_error_t *err)
{
    json_object *auths;
    if (!json_object_object_get_ex(root, "auths", &auths) ||
        !json_object_is_type(auths, json_type_object))
        return 0;
    json_object_object_foreach(auths, key, entry)
    {
        if (!key_matches(key, domain) || !json_object_is_type(entry, json_type_object))
            continue;
        const char *token = sm_json_str(entry, "identitytoken");
        const char *auth = sm_json_str(entry, "auth");
        const char *user = sm_json_str(entry, "username");
        const char *pass = sm_json_str(entry, "password");
        if (auth && *auth) {
            if (decode_basic(auth, domain, out, err) < 0)
                return -1;
        } else if (user && pass) {
            out->username = xstrdup(user);
            out->password = xstrdup(pass);
        }
        if (token && *token)
            out->identity_token = xstrdup(token);
        return 0;
    }
    return 0;
}

/* Runs docker-credential-<helper> get. Returns 1 if it had credentials, 0 if not. */
static int run_helper(const char *helper, const char *domain, struct oci_cred *out, sm_error_t *err)
{
    for (const char *p = helper; *p; p++)
        if (*p == '/' || *p == '\0')
            return sm_error_set(err, 0, "docker config: invalid credential helper name %s", helper);
    cleanup_free char *prog = xasprintf("docker-credential-%s", helper);
    int in[2], outp[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return sm_error_set(err, errno, "pipe");
    if (pipe2(outp, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        return sm_error_set(err, errno, "pipe");
    }
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(in[0]), close(in[1]), close(outp[0]), close(outp[1]);
        return sm_error_set(err, saved, "fork");
    }
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(outp[1], 1);
        execlp(prog, prog, "get", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(outp[1]);
    const char *key = oci_ref_auth_key(domain);
    /* A helper that exits without reading its input must not kill us with SIGPIPE. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGPIPE, &ign, &old);
    sm_write_all(in[1], key, strlen(key));
    sigaction(SIGPIPE, &old, NULL);
    close(in[1]);
    size_t cap = 4096, len = 0;
    cleanup_free char *buf = xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= HELPER_OUTPUT_MAX)
                break;
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t r = read(outp[0], buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    close(outp[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (strstr(buf, "credentials not found"))
            return 0;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            return sm_error_set(err, 0, "credential helper %s: not found or not runnable", prog);
        buf[strcspn(buf, "\n")] = '\0';
        return sm_error_set(err, 0, "credential helper %s: failed%s%s", prog, *buf ? ": " : "",
                            buf);
    }
    json_object *o = json_tokener_parse(buf);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return sm_error_set(err, 0, "credential helper %s: invalid JSON output", prog);
    }
    const char *user = sm_json_str(o, "Username");
    const char *secret = sm_json_str(o, "Secret");
    if (secret == NULL || *secret == '\0') {
        json_object_put(o);
        return 0;
    }
    if (user && strcmp(user, "<token>") == 0) {
        out->identity_token = xstrdup(secret);
    } else {
        out->username = xstrdup(user ? user : "");
        out->password = xstrdup(secret);
    }
    json_object_put(o);
    return 1;
}

int oci_auth_lookup_json(const char *json, size_t len, const char *domain, struct oci_cred *out,
                         sm_error_t *err)
{
    memset(out, 0, sizeof(*out));
    json_tokener *tok = json_tokener_new();
    json_object *root = json_tokener_parse_ex(tok, json, (int)len);
    bool complete = json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    if (root == NULL || !complete || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return sm_error_set(err, 0, "docker config: invalid JSON");
    }
    int r = 0;
    const char *helper = NULL;
    json_object *helpers;
    if (json_object_object_get_ex(root, "credHelpers", &helpers) &&
        json_object_is_type(helpers, json_type_object)) {
        json_object_object_foreach(helpers, key, val)
        {
            if (key_matches(key, domain) && json_object_is_type(val, json_type_string)) {
                helper = json_object_get_string(val);
                break;
            }
        }
    }
    if (helper == NULL)
        helper = sm_json_str(root, "credsStore");
    if (helper && *helper) {
        r = run_helper(helper, domain, out, err);
        if (r != 0) {
            json_object_put(root);
            return r < 0 ? -1 : 0;
        }
    }
    r = from_auths(root, domain, out, err);
    json_object_put(root);
    if (r < 0)
        oci_cred_clear(out);
    return r;
}

int oci_auth_lookup(const char *domain, struct oci_cred *out, sm_error_t *err)
{
    memset(out, 0, sizeof(*out));
    cleanup_free char *path = NULL;
    const char *dir = getenv("DOCKER_CONFIG");
    if (dir && *dir)
        path = xasprintf("%s/config.json", dir);
    else if (getenv("HOME"))
        path = xasprintf("%s/.docker/config.json", getenv("HOME"));
    else
        return 0;
    if (access(path, F_OK) < 0)
        return 0;
    cleanup_free char *json = NULL;
    size_t len = 0;
    if (sm_read_file(path, AUTH_CONFIG_MAX, &json, &len, err) < 0)
        return -1;
    if (oci_auth_lookup_json(json, len, domain, out, err) < 0)
        return sm_error_wrap(err, "%s", path);
    return 0;
}
