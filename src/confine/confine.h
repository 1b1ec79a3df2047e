/* Confinement of a VMM process (docs/security.md): the process it runs in is the security
 * boundary between a hostile guest and the host, so once it has opened what it needs it
 * gives up what it does not: no new privileges, no capabilities, no core dumps, and a
 * seccomp filter per thread role that allows only the system calls that role makes.
 * Anything else ends the process with a line in its log naming the call.
 *
 * Filters stack: confine_process() installs the union of every role's calls for the whole
 * process (inherited by every thread made later), and each thread narrows it to its own
 * role with confine_thread() as it starts.
 *
 * Linked into supermachine-vmm only (libseccomp and libcap-ng load there, not in the
 * library's other users). $SUPERMACHINE_SECCOMP=log logs refused calls without killing
 * (for finding what a new code path needs); =off skips the filters (debugging only). */
#ifndef SM_CONFINE_H
#define SM_CONFINE_H

#include "common/error.h"

enum confine_role {
    CONFINE_MAIN,    /* the VMM's main thread: console loop, snapshots, state files */
    CONFINE_VCPU,    /* a vCPU: KVM_RUN and the exits it handles */
    CONFINE_DEVICES, /* the device loop: block I/O, vsock's Unix sockets, entropy */
    CONFINE_NET,     /* the user-mode network: host sockets, published ports */
};

/* No new privileges, every capability dropped, no core dumps, and the process-wide
 * filter. Call once, before any thread is created. */
int confine_process(sm_error_t *err);
/* Narrows the calling thread to role. On failure the process ends (a thread that could
 * not be confined must not run guest-facing code). */
void confine_thread(enum confine_role role);

#endif
