/* Where a run's time goes. With SUPERMACHINE_TRACE=FILE in the environment, each sm_trace
 * appends one line, "<CLOCK_MONOTONIC in µs> <pid> <what>", to FILE. The CLI and the VMM
 * it starts inherit the variable and share the clock, so one file holds the run's whole
 * timeline (docs/run.md; each process's lines in order, the file sorted by time). Unset, a call
 * costs a pthread_once and one check. */
#ifndef SM_COMMON_TRACE_H
#define SM_COMMON_TRACE_H

/* Opens FILE if the variable names one; call it before anything confines the process
 * (the VMM's landlock forbids opening it later). Calling sm_trace first does the same. */
void sm_trace_init(void);
void sm_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The trace file's descriptor, -1 when none is open (for a process that closes the
 * descriptors it inherited: see sm_close_inherited_fds). */
int sm_trace_fd(void);

#endif
