/* The guest console's host side: output buffered towards a file descriptor, watched for
 * text (a kernel panic's first line, a snapshot trigger), and input from a file
 * descriptor held on the host until the guest's UART listens. */
#ifndef SM_VMM_CONSOLE_H
#define SM_VMM_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define CONSOLE_OUT_BUF     4096
#define CONSOLE_IN_BUF      65536
#define CONSOLE_LINE_MAX    512
#define CONSOLE_MAX_WATCHES 4

/* Called (with the console lock held; do not call back into the console) when a watched
 * text appears; `line` is the whole line it appeared in, once that line is complete. */
typedef void (*console_watch_fn)(void *opaque, const char *line);

struct console_watch {
    const char *text;
    console_watch_fn fn;
    void *opaque;
    bool fired;
};

struct console {
    pthread_mutex_t lock;
    struct sm_capped_log log; /* the output descriptor (-1: none), kept under a limit */
    uint8_t out[CONSOLE_OUT_BUF];
    size_t out_len;
    uint8_t last_written; /* last byte written to out_fd */
    char line[CONSOLE_LINE_MAX];
    size_t line_len;
    struct console_watch watches[CONSOLE_MAX_WATCHES];
    unsigned nwatches;
    /* host -> guest */
    uint8_t in[CONSOLE_IN_BUF];
    size_t in_len;
    /* Told when output stays buffered (a line not ended yet), so that the owner's loop
     * flushes it soon instead of polling for it; once, until console_flush: a chatty
     * guest wakes the loop at most once per flush, not once per line. */
    void (*on_pending)(void *opaque);
    void *pending_opaque;
    bool pending_told;
};

/* limit: the most bytes the output file holds (0: no limit; see sm_capped_log). */
void console_init(struct console *c, int out_fd, uint64_t limit);
/* Watches for text; fires once. Returns -1 when all watch slots are used. */
int console_add_watch(struct console *c, const char *text, console_watch_fn fn, void *opaque);
/* Guest output: buffered, flushed at a newline or when full. */
void console_output(struct console *c, const uint8_t *buf, size_t len);
void console_flush(struct console *c);
/* Whether output waits for a flush (or the owner was told it might), or input for the
 * guest's UART. console_flush is the owner's answer to on_pending. */
bool console_pending(struct console *c);
/* Flushes and ends the output with a newline if the guest stopped mid-line, so that what
 * the host prints next starts on a line of its own. */
void console_finish(struct console *c);

#endif
