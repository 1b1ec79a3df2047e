/* docker's --format: the part of Go's text/template that scripts use, over JSON values.
 * A template is parsed once (syntax errors come before any output), then executed once
 * per object. What is and is not supported: docs/cli-format.md. */
#ifndef SM_CLI_TEMPLATE_H
#define SM_CLI_TEMPLATE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Bounds, so that a hostile template cannot exhaust the stack, memory or time. */
#define CLI_TEMPLATE_MAX_TEXT   (64 * 1024) /* bytes of template */
#define CLI_TEMPLATE_MAX_DEPTH  64          /* controls and parentheses within each other */
#define CLI_TEMPLATE_MAX_OUTPUT (16 << 20)  /* bytes one execution writes */
#define CLI_TEMPLATE_MAX_STEPS  1000000     /* actions, iterations and calls of one execution */

/* cli_template_exec's flags. */
enum {
    /* docker's table header: json, split, join, title, lower, upper and truncate give
     * back their first argument, so that `table {{upper .Names}}` heads its column
     * "NAMES". */
    CLI_TEMPLATE_HEADER = 1 << 0,
    /* A field an object lacks is an error (docker's rows of ps and images are Go
     * structs), not Go's "<no value>" of a map. */
    CLI_TEMPLATE_STRICT = 1 << 1,
};

struct cli_template;

/* A growing output buffer: data is NUL-terminated (NULL while empty); full once it
 * refused bytes past CLI_TEMPLATE_MAX_OUTPUT. */
struct cli_template_buf {
    char *data;
    size_t len, cap;
    bool full;
};

/* NULL on a syntax error, said in err as one line naming the offending text. */
struct cli_template *cli_template_parse(const char *text, char *err, size_t errlen);
void cli_template_free(struct cli_template *t);

/* Appends the template's output for data (the dot, and $) to out. -1 on an error, said
 * in err ("executing at <.A.B>: ..."); out then holds what was written before it. */
int cli_template_exec(const struct cli_template *t, json_object *data, unsigned flags,
                      struct cli_template_buf *out, char *err, size_t errlen);
/* The same into f, all or nothing: no output for data when it fails. */
int cli_template_fprint(const struct cli_template *t, json_object *data, unsigned flags, FILE *f,
                        char *err, size_t errlen);
/* Appends n bytes to b; false past CLI_TEMPLATE_MAX_OUTPUT. */
bool cli_template_buf_add(struct cli_template_buf *b, const char *s, size_t n);
void cli_template_buf_free(struct cli_template_buf *b);

/* s quoted as Go's strconv.Quote (docker's ps COMMAND, printf's %q); malloc'd. */
char *cli_template_quote(const char *s);

#endif
