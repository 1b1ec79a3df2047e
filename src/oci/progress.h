/* Per-layer download progress, drawn on stderr only when it is a terminal (docker's
 * style: one line per layer, redrawn in place); silent otherwise. Thread-safe. */
#ifndef SM_OCI_PROGRESS_H
#define SM_OCI_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct oci_progress_row {
    char id[16];
    const char *state;
    uint64_t done, total;
};

struct oci_progress {
    pthread_mutex_t lock;
    bool enabled;
    FILE *out;
    struct oci_progress_row *rows;
    size_t n;
    bool drawn;
    uint64_t last_ns;
};

/* enabled < 0: decide by isatty(stderr). */
void oci_progress_init(struct oci_progress *p, int enabled, size_t n);
void oci_progress_set(struct oci_progress *p, size_t i, const char *digest, const char *state,
                      uint64_t done, uint64_t total);
void oci_progress_done(struct oci_progress *p);

#endif
