/* One function per subcommand, each in its own cmd_<name>.c, as kvmtool's builtin-*.c. */
#ifndef SM_CLI_COMMANDS_H
#define SM_CLI_COMMANDS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/template.h"
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

/* After getopt_long returned '?' (an unknown option) or ':' (one without its value; the
 * optstring starts with "+:"): one line naming the option and what is wrong, 125. */
int cli_option_error(const char *cmd, int c, char **argv);

/* fn(VM, arg) for each VM argv[first...] names (none: a usage error), printing the name of
 * each it succeeded for, as docker's stop and pause do; 125 if any failed. */
int cli_for_vms(const char *cmd, int argc, char **argv, int first,
                int (*fn)(const char *name_or_id, const void *arg, sm_error_t *err),
                const void *arg);
/* A command that takes VMs and no options (pause, unpause): fn on each VM named, whose
 * name is printed when it succeeded; 0, or the last failure's status. */
int cli_each_vm(const char *cmd, int argc, char **argv,
                int (*fn)(const char *name_or_id, sm_error_t *err));

/* "12.3MB", as docker (format.c). */
void cli_human_size(uint64_t v, char *out, size_t n);
/* A VM whose VMM runs: running, paused or restarting its main process (ps, stats). */
bool cli_vm_is_up(const struct sm_vm_info *v);
/* Powers of 1024, as docker stats prints memory: "23.44MiB", "1.5GiB". */
void cli_human_binary_size(uint64_t v, char *out, size_t n);
/* docker's (go-units' HumanDuration): "Less than a second", "1 second", "5 seconds",
 * "About a minute", "5 minutes", "About an hour", "5 hours", "5 days", "5 weeks", "5
 * months", "5 years". */
void cli_human_duration(int64_t seconds, char *out, size_t n);
/* cli_human_duration of the time since unix_time, then " ago"; "N/A" for none (0). */
void cli_human_age(int64_t unix_time, char *out, size_t n);
/* As Go's time.Time.String() in this zone: "2024-05-01 12:00:00 +0200 CEST". */
void cli_local_time(int64_t unix_time, char *out, size_t n);

/* docker's tabwriter for its tables (format.c): cells ended by tabs, each column as
 * wide as its widest cell plus 3 spaces. */
void cli_tabwrite(FILE *out, const char *text, size_t len);
/* The same with columns min_width wide at the least (docker top's are 20). */
void cli_tabwrite_min(FILE *out, const char *text, size_t len, size_t min_width);

/* docker's --format for a list command (ps, images): begin parses it (NULL, "" or
 * "table": def; "json": {{json .}}; "table T": T with a header row, header being each
 * field's title; \t and \n as a tab and a newline), row runs it over one row (a field
 * the row lacks is an error), end writes the whole to out (NULL: nowhere; a table in
 * aligned columns) and frees it. begin and row return 125 after saying why. */
struct cli_list {
    const char *cmd;
    struct cli_template *tmpl;
    bool table;
    struct cli_template_buf out;
};
int cli_list_begin(struct cli_list *l, const char *cmd, const char *format, const char *def,
                   json_object *header);
int cli_list_row(struct cli_list *l, json_object *row);
void cli_list_end(struct cli_list *l, FILE *out);

/* Flags every VM takes, shared by `run` and `pool serve` (vm_options.c): its size, its
 * network, its snapshot. CLI_VM_LONGOPTS go in a getopt_long table ("m:" in the short
 * ones); cli_vm_option applies one to o: 1 if c was one of them, 0 if not, -1 for a bad
 * value (said on stderr). Egress rules are collected in *l (free l->allow, l->deny). */
enum {
    CLI_OPT_CPUS = 0x1000,
    CLI_OPT_NETWORK,
    CLI_OPT_NO_SNAPSHOT,
    CLI_OPT_ALLOW_HOST_LOOPBACK,
    CLI_OPT_EGRESS_ALLOW,
    CLI_OPT_EGRESS_DENY,
};
/* clang-format off */
#define CLI_VM_LONGOPTS                                                                            \
    {"memory", required_argument, NULL, 'm'},                                                      \
    {"cpus", required_argument, NULL, CLI_OPT_CPUS},                                               \
    {"network", required_argument, NULL, CLI_OPT_NETWORK},                                         \
    {"no-snapshot", no_argument, NULL, CLI_OPT_NO_SNAPSHOT},                                       \
    {"allow-host-loopback", no_argument, NULL, CLI_OPT_ALLOW_HOST_LOOPBACK},                       \
    {"egress-allow", required_argument, NULL, CLI_OPT_EGRESS_ALLOW},                               \
    {"egress-deny", required_argument, NULL, CLI_OPT_EGRESS_DENY}
/* clang-format on */
struct cli_vm_lists {
    const char **allow, **deny;
    size_t nallow, ndeny;
};
int cli_vm_option(const char *cmd, int c, const char *arg, struct sm_run_options *o,
                  struct cli_vm_lists *l);
/* A grace period of `stop` (its -t, run's --stop-timeout): whole seconds from 0 to
 * 86400. -1: the error, naming cmd and opt, was printed (exit 125). */
int cli_stop_timeout(const char *cmd, const char *opt, const char *arg, int *seconds);
/* stop's command line (-s, -t, VMs) for stop and restart (cmd_stop.c): fn on each VM,
 * whose name is printed when it succeeds. */
int cli_stop_like(const char *cmd, int argc, char **argv,
                  int (*fn)(const char *name_or_id, const struct sm_stop_options *opts,
                            sm_error_t *err));
/* Appends s to the NULL-terminated array *v of *n strings. */
void cli_push(const char ***v, size_t *n, const char *s);
/* An -e argument as docker takes it: "K=V" as is; a bare name K passes this environment's
 * value through as a new "K=V" (also in *made, for the caller to free); NULL when K is
 * not set here (left out). */
const char *cli_env_arg(const char *arg, char **made);

/* The environment a command line gives (env_options.c): -e arguments and --env-file
 * lines, in their order, as docker takes them. list is NULL-terminated (NULL when
 * empty); cli_env_free releases it and the strings made for it. */
struct cli_env {
    const char **list;
    size_t n;
    char **owned;
    size_t nowned;
};
/* One -e argument (cli_env_arg's rules). */
void cli_env_add(struct cli_env *e, const char *arg);
/* An --env-file: each line "K=V" (the value is the rest of the line as it is: no quotes,
 * no escapes) or "K" (this environment's value, left out if unset); leading blanks are
 * dropped, blank lines and lines starting with # skipped. -1: the error was printed
 * (exit 125). */
int cli_env_add_file(struct cli_env *e, const char *cmd, const char *path);
/* The same reading for another option (option names it in errors): with env false a
 * line is kept as it is ("K" alone too), which --label-file wants. */
int cli_kv_add_file(struct cli_env *e, const char *cmd, const char *option, const char *path,
                    bool env);
void cli_env_free(struct cli_env *e);

/* The options run and bake share (run_options.c): IMAGE and COMMAND end up in a.o. -1:
 * the error was printed (exit 125). cli_run_args_free releases the arrays. */
struct cli_run_args {
    struct sm_run_options o;
    struct cli_env env;
    const char **publish;
    const char **extra_hosts;
    const char **tmpfs;
    const char **ulimits;
    const char **dns, **dns_search, **dns_options;
    struct cli_env labels; /* -l and --label-file lines, as given */
    struct cli_vm_lists lists;
    const char *entry[2];
};
int cli_run_args_parse(const char *cmd, int argc, char **argv, struct cli_run_args *a);
void cli_run_args_free(struct cli_run_args *a);

/* Each command (keep alphabetical). */
#define SM_CMD(n)                                                                                  \
    int cmd_##n(int argc, char **argv);                                                            \
    void cmd_##n##_usage(FILE *out);
SM_CMD(bake)
SM_CMD(boot)
SM_CMD(cp)
SM_CMD(exec)
SM_CMD(export)
SM_CMD(images)
SM_CMD(inspect)
SM_CMD(kernel)
SM_CMD(kill)
SM_CMD(pause)
SM_CMD(unpause)
SM_CMD(rename)
SM_CMD(restart)
SM_CMD(stats)
SM_CMD(system)
SM_CMD(top)
SM_CMD(load)
SM_CMD(logs)
SM_CMD(pool)
SM_CMD(port)
SM_CMD(ps)
SM_CMD(pull)
SM_CMD(rm)
SM_CMD(rmi)
SM_CMD(run)
SM_CMD(stop)
SM_CMD(tag)
SM_CMD(wait)
#undef SM_CMD

#endif
