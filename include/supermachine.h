/* supermachine: run OCI images as KVM microVMs.
 *
 * This is the library's only public header. Every function that can fail takes a
 * `sm_error_t *err` as its last argument, returns a negative value (or NULL) on
 * failure and stores a message there that chains its causes, outermost first:
 *   "pull 127.0.0.1:5000/x: fetch manifest: manifest unknown"
 * Release it with sm_error_release(). Functions are thread-safe unless noted.
 */
#ifndef SUPERMACHINE_H
#define SUPERMACHINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SM_VERSION "0.1.0"

/* ---- errors ------------------------------------------------------------ */

struct sm_error {
    int errno_value; /* the errno behind the failure, or 0 */
    int exit_status; /* what a CLI should exit with: 125 unless a more specific one applies */
    char *msg;       /* the whole chained message, without the "supermachine: " prefix */
};
typedef struct sm_error *sm_error_t;

/* Records a failure: message formatted from fmt, with ": strerror(errno_value)" appended
 * when errno_value is non-zero. Returns -1 so callers can `return sm_error_set(...)`.
 * If *err already holds an error it is replaced. */
int sm_error_set(sm_error_t *err, int errno_value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes an existing error with more context: "context: previous". Returns -1. */
int sm_error_wrap(sm_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sm_error_message(sm_error_t err);
void sm_error_release(sm_error_t *err);

/* ---- store ------------------------------------------------------------- */

/* The store's root: $SUPERMACHINE_HOME, else $XDG_DATA_HOME/supermachine, else
 * ~/.local/share/supermachine. Returns a malloc'd string. */
char *sm_store_root(sm_error_t *err);

/* ---- bare kernel boot ------------------------------------------------------ */

/* Boots a kernel with its console on the given descriptors, in the calling process, and
 * returns when the guest stops. The process becomes the VMM (it creates threads). */
struct sm_boot_options {
    const char *kernel;  /* bzImage; NULL: the store's default guest kernel */
    const char *initrd;  /* NULL: none */
    const char *append;  /* extra kernel command line */
    unsigned cpus;       /* 0: 1 */
    uint64_t memory_mib; /* 0: 512 */
    int console_in;      /* -1: none */
    int console_out;     /* -1: discard */
    int console_raw;     /* console_in is a raw-mode terminal: Ctrl-A x quits */
    int stop_fd;         /* -1 or a descriptor that, once readable, stops the guest
                          * (e.g. a pipe written from a signal handler) */
    /* Snapshot: when snapshot_when ("console:TEXT") fires, save into snapshot_dir and
     * stop the guest (SM_GUEST_SNAPSHOT). */
    const char *snapshot_dir;
    const char *snapshot_when;
    /* Restore: resume the guest saved in this snapshot directory instead of booting
     * (kernel, when given, must be the one the snapshot was made from). */
    const char *restore_dir;
};

enum sm_guest_exit {
    SM_GUEST_POWEROFF,
    SM_GUEST_REBOOT,
    SM_GUEST_PANIC,
    SM_GUEST_TRIPLE_FAULT,
    SM_GUEST_STOPPED,  /* stopped from the host side */
    SM_GUEST_SNAPSHOT, /* saved into a snapshot as asked */
};

struct sm_boot_result {
    enum sm_guest_exit exit;
    char message[512]; /* what happened, e.g. the panic line */
};

int sm_boot(const struct sm_boot_options *opts, struct sm_boot_result *result, sm_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
