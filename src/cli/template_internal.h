/* The insides of docker's --format templates (cli/template.h), shared by template.c (the
 * tree, output buffers, the parser, the entry points), template_eval.c (values, Go's
 * printing of them, the evaluator) and template_funcs.c (the functions, UTF-8 and Go's
 * quoting): the tree's and the evaluator's types, and the few functions one of them
 * calls in another, named tpl_ (the one-line ones inline). No global state: a template
 * is immutable once parsed, an execution's state lives in its frame (struct exec). */
#ifndef SM_CLI_TEMPLATE_INTERNAL_H
#define SM_CLI_TEMPLATE_INTERNAL_H

#include <ctype.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cli/template.h"

#define MAX_VARS 256 /* variables in scope at once */

struct span {
    const char *s;
    size_t n;
};

/* ---- the tree ---------------------------------------------------------------------- */

enum node_kind {
    /* items of a list */
    N_TEXT,
    N_ACTION,
    N_IF,
    N_WITH,
    N_RANGE,
    N_BREAK,
    N_CONTINUE,
    /* operands of a command */
    N_DOT,
    N_FIELD,
    N_VAR,
    N_STRING,
    N_INT,
    N_FLOAT,
    N_BOOL,
    N_NIL,
    N_FUNC,
    N_PIPE,
};

struct exec;
struct val;
struct func {
    const char *name;
    int min, max; /* arguments, the piped one included; max -1: any number */
    int (*call)(struct exec *e, struct val *a, size_t n, struct val *out);
    bool header; /* CLI_TEMPLATE_HEADER: gives back its first argument */
};

struct pipe;
struct node {
    enum node_kind kind;
    struct node *next;   /* the next item of a list, or argument of a command */
    struct span src;     /* its text in the template, for errors */
    struct span str;     /* N_TEXT, N_STRING: its bytes; N_VAR: its name, "$x" */
    struct span *fields; /* the chain after the operand (N_FIELD: all of it) */
    size_t nfields;
    int64_t i; /* N_INT, N_BOOL */
    double f;  /* N_FLOAT */
    const struct func *fn;
    struct pipe *pipe;       /* N_ACTION, N_IF, N_WITH, N_RANGE, N_PIPE */
    struct node *list, *alt; /* N_IF, N_WITH, N_RANGE: the body and its {{else}} */
};

struct cmd {
    struct cmd *next;
    struct node *args; /* a function and its arguments, or one operand */
    size_t nargs;
    struct span src;
};

struct pipe {
    struct cmd *cmds;
    struct span decl[2]; /* {{$x := ...}}, {{range $i, $v := ...}} */
    int ndecl;
    bool assign; /* = rather than := */
    struct span src;
};

/* ---- values (template_eval.c) ------------------------------------------------------ */

/* A value: a counted reference to a JSON value (NULL: JSON's null, Go's nil), or
 * missing, Go's "<no value>" for a field a map lacks. */
struct val {
    json_object *j;
    bool missing;
};

struct var {
    struct span name;
    struct val v;
};

struct exec {
    unsigned flags;
    struct cli_template_buf *out;
    struct var vars[MAX_VARS + 1]; /* those in scope, and $ */
    size_t nvars;
    unsigned long steps;
    struct span at; /* the action being run, for errors */
    char *err;
    size_t errlen;
    bool failed;
};

static inline struct val val_of(json_object *j)
{
    return (struct val){.j = j};
}

static inline bool is_type(json_object *j, enum json_type t)
{
    return j != NULL && json_object_get_type(j) == t;
}

/* Runs a parsed tree over data, with $ and the dot data (cli_template_exec). */
int tpl_exec(const struct node *tree, json_object *data, unsigned flags,
             struct cli_template_buf *out, char *err, size_t errlen);
/* An execution's error at `at`, said in e->err ("executing at <at>: ..."): -1. */
int tpl_fail(struct exec *e, struct span at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool tpl_truth(struct val v);
/* Go's name of the type, in printf's %!verb(type=value) and argument errors. */
const char *tpl_go_type(json_object *j);
/* %v of a float64: the shortest digits that read back the same, in %e form when the
 * exponent is below -4 or 6 and above, as Go's strconv 'g' with precision -1. */
void tpl_go_float(double d, char *out, size_t n);
void tpl_go_int(json_object *j, char *out, size_t n);
/* Go's %v: strings as they are, [a b c], map[k:v k2:v2] (sorted keys), <nil>. */
bool tpl_format_value(struct cli_template_buf *b, json_object *j, int depth);

/* ---- output buffers, the parser's helpers (template.c) ----------------------------- */

bool tpl_buf_add(struct cli_template_buf *b, const char *s, size_t n);
bool tpl_buf_str(struct cli_template_buf *b, const char *s);
bool tpl_buf_fmt(struct cli_template_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool tpl_buf_spaces(struct cli_template_buf *b, size_t n);
/* An error: where (at most 48 bytes of the template) between open and close, then what;
 * one line, the template's and the data's newlines and tabs made blanks. */
void tpl_say(char *err, size_t errlen, const char *open, struct span where, const char *close,
             const char *fmt, va_list ap);

static inline bool span_is(struct span s, const char *w)
{
    return s.n == strlen(w) && memcmp(s.s, w, s.n) == 0;
}

static inline bool is_word(char c)
{
    return c == '_' || isalnum((unsigned char)c) || (unsigned char)c >= 0x80;
}

/* ---- functions, UTF-8 and Go's quoting (template_funcs.c) -------------------------- */

const struct func *tpl_func_find(struct span name);
/* The rune at s: its length, or 0 for a byte that starts no valid sequence. */
size_t tpl_utf8_rune(const unsigned char *s, size_t n, uint32_t *r);
size_t tpl_utf8_put(uint32_t r, char *out);
char tpl_go_unescape(char letter);

#endif
