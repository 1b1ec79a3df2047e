#include "vmm/console.h"

#include <string.h>

#include "common/util.h"

void console_init(struct console *c, int out_fd, uint64_t limit)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    sm_capped_log_init(&c->log, out_fd, limit);
}

int console_add_watch(struct console *c, const char *text, console_watch_fn fn, void *opaque)
{
    pthread_mutex_lock(&c->lock);
    int r = -1;
    if (c->nwatches < CONSOLE_MAX_WATCHES) {
        c->watches[c->nwatches++] = (struct console_watch){text, fn, opaque, false};
        r = 0;
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

static void flush_locked(struct console *c)
{
    if (c->out_len && c->log.fd >= 0) {
        (void)sm_capped_log_write(&c->log, c->out, c->out_len);
        c->last_written = c->out[c->out_len - 1];
    }
    c->out_len = 0;
}

static void line_done_locked(struct console *c)
{
    c->line[c->line_len] = '\0';
    for (unsigned i = 0; i < c->nwatches; i++) {
        struct console_watch *w = &c->watches[i];
        if (!w->fired && strstr(c->line, w->text)) {
            w->fired = true;
            w->fn(w->opaque, c->line);
        }
    }
    c->line_len = 0;
}

void console_output(struct console *c, const uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < len; i++) {
        uint8_t b = buf[i];
        c->out[c->out_len++] = b;
        if (c->out_len == sizeof(c->out))
            flush_locked(c);
        if (b == '\n' || b == '\r') {
            if (c->line_len)
                line_done_locked(c);
        } else if (c->line_len < CONSOLE_LINE_MAX - 1) {
            c->line[c->line_len++] = (char)b;
        }
    }
    /* Flush at line ends so an interactive user and a watching test see whole lines at
     * once, without a system call per byte. */
    if (len && (buf[len - 1] == '\n' || c->out_len > sizeof(c->out) / 2))
        flush_locked(c);
    bool tell = !c->pending_told && c->out_len > 0 && c->on_pending;
    if (tell)
        c->pending_told = true;
    pthread_mutex_unlock(&c->lock);
    if (tell)
        c->on_pending(c->pending_opaque);
}

void console_flush(struct console *c)
{
    pthread_mutex_lock(&c->lock);
    flush_locked(c);
    c->pending_told = false;
    pthread_mutex_unlock(&c->lock);
}

bool console_pending(struct console *c)
{
    pthread_mutex_lock(&c->lock);
    bool pending = c->out_len > 0 || c->in_len > 0 || c->pending_told;
    pthread_mutex_unlock(&c->lock);
    return pending;
}

void console_finish(struct console *c)
{
    pthread_mutex_lock(&c->lock);
    flush_locked(c);
    if (c->last_written && c->last_written != '\n' && c->log.fd >= 0) {
        (void)sm_capped_log_write(&c->log, "\n", 1);
        c->last_written = '\n';
    }
    pthread_mutex_unlock(&c->lock);
}
