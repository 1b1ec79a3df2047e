#include "oci/progress.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

void oci_progress_init(struct oci_progress *p, int enabled, size_t n)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    p->enabled = enabled < 0 ? isatty(STDERR_FILENO) : enabled > 0;
    p->out = stderr;
    p->n = n;
    p->rows = xcalloc(n, sizeof(*p->rows));
    for (size_t i = 0; i < n; i++)
        p->rows[i].state = "Waiting";
}

static void human(uint64_t v, char *out, size_t n)
{
    if (v >= 1000000)
        snprintf(out, n, "%.1fMB", (double)v / 1e6);
    else if (v >= 1000)
        snprintf(out, n, "%.1fkB", (double)v / 1e3);
    else
        snprintf(out, n, "%lluB", (unsigned long long)v);
}

static void draw(struct oci_progress *p)
{
    if (p->drawn)
        fprintf(p->out, "\033[%zuA", p->n);
    for (size_t i = 0; i < p->n; i++) {
        struct oci_progress_row *r = &p->rows[i];
        fprintf(p->out, "\r\033[K%s: %s", r->id[0] ? r->id : "layer", r->state);
        if (r->total && strcmp(r->state, "Downloading") == 0) {
            char a[32], b[32];
            human(r->done, a, sizeof(a));
            human(r->total, b, sizeof(b));
            int width = 30, filled = (int)(width * (double)r->done / (double)r->total);
            fprintf(p->out, " [%.*s>%*s] %s/%s", filled,
                    "==============================", width - filled, "", a, b);
        }
        fputc('\n', p->out);
    }
    fflush(p->out);
    p->drawn = true;
}

void oci_progress_set(struct oci_progress *p, size_t i, const char *digest, const char *state,
                      uint64_t done, uint64_t total)
{
    if (!p->enabled || i >= p->n)
        return;
    pthread_mutex_lock(&p->lock);
    struct oci_progress_row *r = &p->rows[i];
    if (digest && strlen(digest) >= 7 + 12)
        snprintf(r->id, sizeof(r->id), "%.12s", digest + 7);
    bool changed = r->state != state;
    r->state = state;
    r->done = done;
    r->total = total;
    uint64_t now = sm_now_ns();
    if (changed || now - p->last_ns > 100000000ull) {
        draw(p);
        p->last_ns = now;
    }
    pthread_mutex_unlock(&p->lock);
}

void oci_progress_done(struct oci_progress *p)
{
    if (p->enabled && p->n) {
        pthread_mutex_lock(&p->lock);
        draw(p);
        pthread_mutex_unlock(&p->lock);
    }
    free(p->rows);
    p->rows = NULL;
    pthread_mutex_destroy(&p->lock);
}
