/* The VMM's seccomp rules as libseccomp calls: what each thread role may call
 * (confine.h), and the process-wide union of them all with what setting up needs. Only
 * the build-time generator (confine_seccomp_gen.c) reads them: it compiles them into the
 * BPF programs the VMM installs, so that no VMM loads libseccomp or builds a filter at
 * start (building them took 1-7 ms per VMM natively, CPU work that emulation multiplies). */
#ifndef SM_CONFINE_SECCOMP_RULES_H
#define SM_CONFINE_SECCOMP_RULES_H

#include <seccomp.h>
#include <stdbool.h>

#include "confine/confine.h"

/* Adds the rules of role (process_wide false) or of the process-wide filter to ctx, made
 * with seccomp_init(SCMP_ACT_TRAP). Returns 0 or libseccomp's -errno. */
int confine_seccomp_rules(scmp_filter_ctx ctx, bool process_wide, enum confine_role role);

#endif
