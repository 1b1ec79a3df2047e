/* One function per subcommand, each in its own cmd_<name>.c, as kvmtool's builtin-*.c. */
#ifndef SM_CLI_COMMANDS_H
#define SM_CLI_COMMANDS_H

#include <stdint.h>
#include <stdio.h>

#include "supermachine.h"

struct sm_command {
    const char *name;
    const char *summary;
    int (*fn)(int argc, char **argv);
    void (*usage)(FILE *out);
};

/* Prints "supermachine: <msg>" on stderr and returns the error's exit status (125 by
 * default), releasing the error. */
int cli_fail(sm_error_t *err);
/* Prints "supermachine: <fmt...>" and returns 125: for bad command-line input. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "12.3MB", as docker; "5 minutes ago" (format.c). */
void cli_human_size(uint64_t v, char *out, size_t n);
/* Powers of 1024, as docker stats prints memory: "23.44MiB", "1.5GiB". */
void cli_human_binary_size(uint64_t v, char *out, size_t n);
void cli_human_age(int64_t unix_time, char *out, size_t n);

/* Each command (keep alphabetical). */
#define SM_CMD(n)                                                                                  \
    int cmd_##n(int argc, char **argv);                                                            \
    void cmd_##n##_usage(FILE *out);
SM_CMD(boot)
SM_CMD(cp)
SM_CMD(exec)
SM_CMD(export)
SM_CMD(images)
SM_CMD(inspect)
SM_CMD(kernel)
SM_CMD(kill)
SM_CMD(load)
SM_CMD(logs)
SM_CMD(port)
SM_CMD(ps)
SM_CMD(pull)
SM_CMD(rm)
SM_CMD(rmi)
SM_CMD(run)
SM_CMD(stop)
SM_CMD(wait)
#undef SM_CMD

#endif
