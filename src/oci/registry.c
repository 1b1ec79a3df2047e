/* Distribution spec v2 client. Each request is one curl easy handle; the authorization
 * header is shared by the threads of a pull and refreshed under a mutex when the registry
 * answers 401 with a challenge (docker's token flow: GET realm?service=&scope=, with basic
 * credentials if we have some, or an OAuth2 refresh-token POST for identity tokens). */
#include "oci/registry.h"

#include <ctype.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <nettle/base64.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "oci/auth.h"
#include "oci/manifest.h"

#define ACCEPT_MANIFESTS                                                                           \
    "Accept: " OCI_MT_MANIFEST ", " OCI_MT_INDEX ", " DOCKER_MT_MANIFEST ", " DOCKER_MT_LIST
#define TOKEN_MAX   (1u << 20)
#define ERRBODY_MAX 4096

struct oci_registry {
    char *domain;
    char *base; /* scheme://host/v2/<path> */
    char *path;
    pthread_mutex_t lock;
    char *auth;   /* "Authorization: ..." header or NULL */
    unsigned gen; /* bumps each time auth changes */
    bool cred_loaded;
    struct oci_cred cred;
};

struct req {
    const char *url;
    const char *accept;
    uint64_t range_from;
    /* memory sink */
    char *buf;
    size_t len, cap, max;
    bool too_big;
    /* store sink */
    struct store_ingest *in;
    sm_error_t sink_err;
    bool sink_failed; /* the content was wrong (not the transport) */
    bool first_write_done;
    oci_progress_fn progress;
    void *opaque;
    /* response */
    CURL *curl;
    long status;
    char content_type[160];
    char challenge[2048];
    char content_range[128];
    char errbody[ERRBODY_MAX];
    size_t errlen;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int oci_registry_open(const struct oci_ref *ref, struct oci_registry **out, sm_error_t *err)
{
    pthread_once(&curl_once, curl_init_once);
    struct oci_registry *r = xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    r->domain = xstrdup(ref->domain);
    r->path = xstrdup(ref->path);
    bool insecure = oci_host_is_insecure(ref->domain, getenv("SUPERMACHINE_INSECURE_REGISTRIES"));
    r->base =
        xasprintf("%s://%s/v2/%s", insecure ? "http" : "https", oci_ref_api_host(ref), ref->path);
    *out = r;
    return 0;
}

void oci_registry_close(struct oci_registry *r)
{
    if (r == NULL)
        return;
    oci_cred_clear(&r->cred);
    free(r->auth);
    free(r->domain);
    free(r->base);
    free(r->path);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* ---- curl callbacks ---- */

static void copy_header_value(char *dst, size_t n, const char *v, size_t len)
{
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
        len--;
    while (len && (*v == ' ' || *v == '\t'))
        v++, len--;
    if (len >= n)
        len = n - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *opaque)
{
    struct req *q = opaque;
    size_t len = size * nmemb;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response (after a redirect): forget the previous one's headers. */
        q->content_type[0] = q->challenge[0] = q->content_range[0] = '\0';
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (colon == NULL)
        return len;
    size_t klen = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vlen = len - klen - 1;
    if (klen == 12 && strncasecmp(data, "Content-Type", 12) == 0)
        copy_header_value(q->content_type, sizeof(q->content_type), v, vlen);
    else if (klen == 16 && strncasecmp(data, "WWW-Authenticate", 16) == 0 && !q->challenge[0])
        copy_header_value(q->challenge, sizeof(q->challenge), v, vlen);
    else if (klen == 13 && strncasecmp(data, "Content-Range", 13) == 0)
        copy_header_value(q->content_range, sizeof(q->content_range), v, vlen);
    return len;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *opaque)
{
    struct req *q = opaque;
    size_t len = size * nmemb;
    long status = 0;
    curl_easy_getinfo(q->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        size_t room = sizeof(q->errbody) - 1 - q->errlen;
        size_t n = len < room ? len : room;
        memcpy(q->errbody + q->errlen, data, n);
        q->errlen += n;
        q->errbody[q->errlen] = '\0';
        return len;
    }
    if (q->in) {
        if (!q->first_write_done) {
            q->first_write_done = true;
            if (status == 206) {
                unsigned long long from = 0;
                if (sscanf(q->content_range, "bytes %llu-", &from) != 1 || from != q->range_from) {
                    sm_error_set(&q->sink_err, 0, "bad Content-Range in a resumed download");
                    q->sink_failed = true;
                    return 0;
                }
            } else if (q->in->offset > 0 && store_ingest_restart(q->in, &q->sink_err) < 0) {
                q->sink_failed = true;
                return 0; /* the server sent the whole blob: start over */
            }
        }
        if (store_ingest_write(q->in, data, len, &q->sink_err) < 0) {
            q->sink_failed = true;
            return 0;
        }
        if (q->progress)
            q->progress(q->opaque, q->in->offset, (uint64_t)q->in->size);
        return len;
    }
    if (q->len + len > q->max) {
        q->too_big = true;
        return 0;
    }
    if (q->len + len + 1 > q->cap) {
        q->cap = (q->len + len + 1) * 2;
        if (q->cap > q->max + 1)
            q->cap = q->max + 1;
        q->buf = xrealloc(q->buf, q->cap);
    }
    memcpy(q->buf + q->len, data, len);
    q->len += len;
    q->buf[q->len] = '\0';
    return len;
}

/* A one-line, printable rendering of the registry's error body:
 * {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}. */
void oci_registry_error_message(const char *body, long status, char *out, size_t n)
{
    out[0] = '\0';
    json_object *o = json_tokener_parse(body);
    json_object *errs, *e0, *v;
    if (o && json_object_object_get_ex(o, "errors", &errs) &&
        json_object_is_type(errs, json_type_array) && json_object_array_length(errs) > 0 &&
        (e0 = json_object_array_get_idx(errs, 0)) != NULL &&
        json_object_is_type(e0, json_type_object)) {
        if (json_object_object_get_ex(e0, "message", &v) &&
            json_object_is_type(v, json_type_string) && *json_object_get_string(v))
            snprintf(out, n, "%s", json_object_get_string(v));
        else if (json_object_object_get_ex(e0, "code", &v) &&
                 json_object_is_type(v, json_type_string))
            snprintf(out, n, "%s", json_object_get_string(v));
    }
    json_object_put(o);
    if (out[0] == '\0') {
        switch (status) {
        case 401:
            snprintf(out, n, "unauthorized: authentication required");
            break;
        case 403:
            snprintf(out, n, "denied: access forbidden");
            break;
        case 404:
            snprintf(out, n, "not found");
            break;
        case 429:
            snprintf(out, n, "too many requests");
            break;
        default:
            snprintf(out, n, "HTTP status %ld", status);
        }
    }
    if ((status == 401 || status == 403) && strncasecmp(out, "unauthorized", 12) != 0 &&
        strncasecmp(out, "denied", 6) != 0) {
        char tmp[512];
        snprintf(tmp, sizeof(tmp), "%s: %s", status == 401 ? "unauthorized" : "denied", out);
        snprintf(out, n, "%s", tmp);
    }
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            *p = ' ';
}

/* ---- authentication ---- */

/* Parses `Bearer realm="...",service="...",scope="..."` into its parameters. */
void oci_registry_challenge_param(const char *c, const char *key, char *out, size_t n)
{
    out[0] = '\0';
    size_t klen = strlen(key);
    const char *p = c;
    while ((p = strcasestr(p, key)) != NULL) {
        bool start = p == c || p[-1] == ' ' || p[-1] == ',';
        if (start && p[klen] == '=') {
            const char *v = p + klen + 1;
            size_t len;
            if (*v == '"') {
                v++;
                const char *end = strchr(v, '"');
                len = end ? (size_t)(end - v) : strlen(v);
            } else {
                len = strcspn(v, ", ");
            }
            if (len >= n)
                len = n - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return;
        }
        p += klen;
    }
}

static void load_creds(struct oci_registry *r, sm_error_t *err)
{
    if (r->cred_loaded)
        return;
    r->cred_loaded = true;
    oci_auth_lookup(r->domain, &r->cred, err);
}

static char *basic_header(const struct oci_cred *c)
{
    cleanup_free char *pair = xasprintf("%s:%s", c->username, c->password ? c->password : "");
    size_t n = strlen(pair);
    char *b64 = xmalloc(BASE64_ENCODE_RAW_LENGTH(n) + 1);
    base64_encode_raw(b64, n, (const uint8_t *)pair);
    b64[BASE64_ENCODE_RAW_LENGTH(n)] = '\0';
    explicit_bzero(pair, n);
    char *h = xasprintf("Authorization: Basic %s", b64);
    free(b64);
    return h;
}

static CURL *new_handle(struct req *q, struct curl_slist *headers, char *errbuf)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        abort();
    curl_easy_setopt(c, CURLOPT_URL, q->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "supermachine/" SM_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, q);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, q);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    errbuf[0] = '\0';
    return c;
}

static int curl_failure(struct req *q, CURLcode rc, const char *errbuf, sm_error_t *err)
{
    if (q->sink_err) {
        sm_error_release(err);
        if (err)
            *err = q->sink_err;
        else
            sm_error_release(&q->sink_err);
        q->sink_err = NULL;
        return -1;
    }
    if (q->too_big)
        return sm_error_set(err, 0, "too large (more than %zu bytes)", q->max);
    return sm_error_set(err, 0, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

int oci_registry_parse_token(const char *body, size_t len, char **token_out, sm_error_t *err)
{
    json_object *o = oci_json_parse(body, len, "token response", err);
    if (o == NULL)
        return -1;
    json_object *v;
    const char *token = NULL;
    if ((json_object_object_get_ex(o, "token", &v) ||
         json_object_object_get_ex(o, "access_token", &v)) &&
        json_object_is_type(v, json_type_string))
        token = json_object_get_string(v);
    /* It goes into a header line: printable, no spaces, bounded. */
    bool ok = token && *token && strlen(token) < 64 * 1024;
    for (const char *p = token; ok && *p; p++)
        if (!isgraph((unsigned char)*p))
            ok = false;
    if (ok)
        *token_out = xstrdup(token);
    json_object_put(o);
    return ok ? 0 : sm_error_set(err, 0, "token response: no usable token");
}

/* Fetches a bearer token for the challenge. Called with r->lock held. */
static int fetch_token(struct oci_registry *r, const char *challenge, sm_error_t *err)
{
    char realm[1024], service[256], scope[512];
    oci_registry_challenge_param(challenge, "realm", realm, sizeof(realm));
    oci_registry_challenge_param(challenge, "service", service, sizeof(service));
    oci_registry_challenge_param(challenge, "scope", scope, sizeof(scope));
    if (strncmp(realm, "https://", 8) != 0 && strncmp(realm, "http://", 7) != 0)
        return sm_error_set(err, 0, "unsupported authentication challenge (no http(s) realm)");
    if (scope[0] == '\0')
        snprintf(scope, sizeof(scope), "repository:%s:pull", r->path);
    CURL *esc = curl_easy_init();
    if (esc == NULL)
        abort();
    char *e_service = curl_easy_escape(esc, service, 0);
    char *e_scope = curl_easy_escape(esc, scope, 0);
    cleanup_free char *url = NULL;
    cleanup_free char *form = NULL;
    if (r->cred.identity_token) {
        char *e_tok = curl_easy_escape(esc, r->cred.identity_token, 0);
        url = xstrdup(realm);
        form = xasprintf("grant_type=refresh_token&client_id=supermachine&service=%s&scope=%s"
                         "&refresh_token=%s",
                         e_service, e_scope, e_tok);
        curl_free(e_tok);
    } else {
        url = xasprintf("%s%cservice=%s&scope=%s", realm, strchr(realm, '?') ? '&' : '?', e_service,
                        e_scope);
    }
    curl_free(e_service);
    curl_free(e_scope);
    curl_easy_cleanup(esc);

    struct req q = {.url = url, .max = TOKEN_MAX};
    struct curl_slist *headers = NULL;
    cleanup_free char *basic = NULL;
    if (!r->cred.identity_token && r->cred.username) {
        basic = basic_header(&r->cred);
        headers = curl_slist_append(headers, basic);
    }
    char errbuf[CURL_ERROR_SIZE];
    q.curl = new_handle(&q, headers, errbuf);
    if (form)
        curl_easy_setopt(q.curl, CURLOPT_POSTFIELDS, form);
    CURLcode rc = curl_easy_perform(q.curl);
    curl_easy_getinfo(q.curl, CURLINFO_RESPONSE_CODE, &q.status);
    curl_easy_cleanup(q.curl);
    curl_slist_free_all(headers);
    int ret = -1;
    cleanup_free char *token = NULL;
    if (rc != CURLE_OK) {
        curl_failure(&q, rc, errbuf, err);
        sm_error_wrap(err, "token from %s", realm);
        goto out;
    }
    if (q.status < 200 || q.status > 299) {
        char why[512];
        oci_registry_error_message(q.errbody, q.status, why, sizeof(why));
        if (q.status == 401 || q.status == 403)
            sm_error_set(err, 0, "unauthorized: %s (token server %s)",
                         r->cred.username || r->cred.identity_token ? "bad credentials"
                                                                    : "credentials required",
                         realm);
        else
            sm_error_set(err, 0, "token from %s: %s", realm, why);
        goto out;
    }
    if (oci_registry_parse_token(q.buf ? q.buf : "", q.len, &token, err) < 0)
        goto out;
    free(r->auth);
    r->auth = xasprintf("Authorization: Bearer %s", token);
    r->gen++;
    ret = 0;
out:
    free(q.buf);
    return ret;
}

/* Answers a 401. `gen` is the auth generation the failed request used: if another thread
 * has refreshed since, just retry with its header. */
static int authenticate(struct oci_registry *r, const char *challenge, unsigned gen,
                        sm_error_t *err)
{
    pthread_mutex_lock(&r->lock);
    int ret = 0;
    if (r->gen != gen)
        goto out;
    load_creds(r, err);
    if (err && *err) {
        ret = -1;
        goto out;
    }
    if (strncasecmp(challenge, "Bearer", 6) == 0) {
        ret = fetch_token(r, challenge, err);
    } else if (strncasecmp(challenge, "Basic", 5) == 0) {
        if (r->cred.username == NULL) {
            ret = sm_error_set(err, 0,
                               "unauthorized: authentication required (no credentials "
                               "for %s in the docker config)",
                               r->domain);
        } else if (r->auth && strncmp(r->auth, "Authorization: Basic", 20) == 0) {
            ret = sm_error_set(err, 0, "unauthorized: bad credentials for %s", r->domain);
        } else {
            free(r->auth);
            r->auth = basic_header(&r->cred);
            r->gen++;
        }
    } else {
        ret = sm_error_set(err, 0, "unsupported authentication scheme");
    }
out:
    pthread_mutex_unlock(&r->lock);
    return ret;
}

/* Performs q (retrying once after authenticating on a 401). On success the status is
 * 2xx; otherwise the error describes the failure. */
static int request(struct oci_registry *r, struct req *q, sm_error_t *err)
{
    for (int attempt = 0;; attempt++) {
        struct curl_slist *headers = NULL;
        pthread_mutex_lock(&r->lock);
        unsigned gen = r->gen;
        if (r->auth)
            headers = curl_slist_append(headers, r->auth);
        pthread_mutex_unlock(&r->lock);
        if (q->accept)
            headers = curl_slist_append(headers, q->accept);
        char errbuf[CURL_ERROR_SIZE];
        q->len = 0;
        q->too_big = false;
        q->errlen = 0;
        q->errbody[0] = '\0';
        q->first_write_done = false;
        q->curl = new_handle(q, headers, errbuf);
        char range[48];
        if (q->range_from) {
            snprintf(range, sizeof(range), "%llu-", (unsigned long long)q->range_from);
            curl_easy_setopt(q->curl, CURLOPT_RANGE, range);
        }
        CURLcode rc = curl_easy_perform(q->curl);
        q->status = 0;
        curl_easy_getinfo(q->curl, CURLINFO_RESPONSE_CODE, &q->status);
        curl_easy_cleanup(q->curl);
        q->curl = NULL;
        curl_slist_free_all(headers);
        if (rc != CURLE_OK)
            return curl_failure(q, rc, errbuf, err);
        if (q->status == 401 && attempt == 0 && q->challenge[0]) {
            if (authenticate(r, q->challenge, gen, err) < 0)
                return -1;
            continue;
        }
        if (q->status >= 200 && q->status <= 299)
            return 0;
        char why[512];
        oci_registry_error_message(q->errbody, q->status, why, sizeof(why));
        return sm_error_set(err, 0, "%s", why);
    }
}

int oci_registry_get_manifest(struct oci_registry *r, const char *reference, size_t max,
                              char **body, size_t *len, char **content_type,
                              char digest[OCI_DIGEST_MAX], sm_error_t *err)
{
    cleanup_free char *url = xasprintf("%s/manifests/%s", r->base, reference);
    struct req q = {.url = url, .accept = ACCEPT_MANIFESTS, .max = max};
    if (request(r, &q, err) < 0) {
        free(q.buf);
        if (q.too_big)
            return sm_error_set(err, 0, "manifest %s: too large (more than %zu bytes)", reference,
                                max);
        return -1;
    }
    char hex[65];
    sm_sha256_hex(q.buf ? q.buf : "", q.len, hex);
    snprintf(digest, OCI_DIGEST_MAX, "sha256:%s", hex);
    if (strncmp(reference, "sha256:", 7) == 0 && strcmp(reference, digest) != 0) {
        free(q.buf);
        return sm_error_set(err, 0, "manifest %s: digest mismatch (content is %s)", reference,
                            digest);
    }
    *body = q.buf ? q.buf : xstrdup("");
    *len = q.len;
    *content_type = xstrdup(q.content_type);
    return 0;
}

int oci_registry_get_blob(struct oci_registry *r, const char *digest, int64_t size, size_t max,
                          char **body, size_t *len, sm_error_t *err)
{
    if ((uint64_t)size > max)
        return sm_error_set(err, 0, "blob %s: too large (%lld bytes, at most %zu)", digest,
                            (long long)size, max);
    cleanup_free char *url = xasprintf("%s/blobs/%s", r->base, digest);
    struct req q = {.url = url, .max = (size_t)size};
    if (request(r, &q, err) < 0) {
        free(q.buf);
        if (q.too_big)
            return sm_error_set(err, 0, "blob %s: larger than its declared size %lld", digest,
                                (long long)size);
        return sm_error_wrap(err, "blob %s", digest);
    }
    if (q.len != (size_t)size) {
        free(q.buf);
        return sm_error_set(err, 0, "blob %s: truncated (%zu of %lld bytes)", digest, q.len,
                            (long long)size);
    }
    char hex[65];
    sm_sha256_hex(q.buf ? q.buf : "", q.len, hex);
    if (strcmp(hex, digest + 7) != 0) {
        free(q.buf);
        return sm_error_set(err, 0, "blob %s: digest mismatch (content is sha256:%s)", digest, hex);
    }
    *body = q.buf ? q.buf : xstrdup("");
    *len = q.len;
    return 0;
}

int oci_registry_fetch_blob(struct oci_registry *r, struct oci_store *s, const char *digest,
                            int64_t size, oci_progress_fn progress, void *opaque, sm_error_t *err)
{
    cleanup_free char *url = xasprintf("%s/blobs/%s", r->base, digest);
    for (int attempt = 0;; attempt++) {
        struct store_ingest in;
        int o = store_ingest_open(s, digest, size, &in, err);
        if (o < 0)
            return -1;
        if (o == 1) {
            if (progress)
                progress(opaque, (uint64_t)size, (uint64_t)size);
            return 0;
        }
        bool resumed = in.offset > 0;
        int rc = 0;
        if (in.offset < (uint64_t)size || size == 0) {
            struct req q = {.url = url,
                            .in = &in,
                            .range_from = in.offset,
                            .progress = progress,
                            .opaque = opaque};
            rc = request(r, &q, err);
            if (rc < 0) {
                /* A transport failure keeps the partial to resume from; wrong content
                 * (or a failed resume) does not. */
                bool transport = !q.sink_failed && q.status >= 200 && q.status <= 299;
                store_ingest_close(&in, transport && !resumed);
                if (resumed && attempt == 0) {
                    sm_error_release(err);
                    continue;
                }
                return sm_error_wrap(err, "blob %s", digest);
            }
        }
        rc = store_ingest_commit(&in, err);
        store_ingest_close(&in, true); /* commit renamed or removed the partial itself */
        if (rc < 0 && resumed && attempt == 0) {
            /* What an earlier process left did not verify: start from nothing. */
            sm_error_release(err);
            continue;
        }
        if (rc == 0 && progress)
            progress(opaque, (uint64_t)size, (uint64_t)size);
        return rc;
    }
}
