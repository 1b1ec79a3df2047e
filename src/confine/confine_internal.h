/* Between the parts of src/confine: landlock (confine_landlock.c) and the VM's cgroup
 * (confine_cgroup.c), called by confine_process (confine.c). */
#ifndef SM_CONFINE_INTERNAL_H
#define SM_CONFINE_INTERNAL_H

#include "confine/confine.h"

/* memory.max is the guest's RAM and this (docs/security.md: what the VMM holds beyond
 * the guest's memory, measured, with room for floods the VMM bounds). The sanitizer
 * build's shadow memory and quarantine need far more. */
#if defined(__SANITIZE_ADDRESS__)
#define CONFINE_MEMORY_OVERHEAD_MIB 1024
#else
#define CONFINE_MEMORY_OVERHEAD_MIB 256
#endif
/* pids.max is the vCPUs and this: the main, device, network and owner-watching threads,
 * with room (the VMM never makes a process: seccomp). */
#define CONFINE_THREADS_BEYOND_VCPUS 16
/* cpu.max: the vCPUs' worth of CPU time per period. */
#define CONFINE_CPU_PERIOD_US 100000u

/* Landlock's ABI version, or -errno when the kernel has none (-ENOSYS) or has it
 * disabled (-EOPNOTSUPP). */
int confine_landlock_abi(void);
/* Restricts the process's file access to cfg's paths (and the devices, resolv.conf and
 * /proc/self/fd the VMM needs). Returns the ABI used, 0 when landlock is unavailable
 * (one line logged), -1 on error. */
int confine_landlock(const struct confine_config *cfg, sm_error_t *err);
/* Makes the VM's cgroup and moves the process in, where delegated (else one line
 * logged). Limits are set by confine_vm_size. */
void confine_cgroup(const struct confine_config *cfg);

#endif
