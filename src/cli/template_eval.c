/* docker's --format templates, the evaluator: values (counted references to json-c
 * values, or Go's "<no value>"), their printing as Go's fmt prints them (%v: strings as
 * they are, [a b c], map[k:v], <nil>, floats in their shortest form), and the walk of a
 * parsed tree over the data with Go's semantics (a JSON object behaves as a Go
 * map[string]interface{}): fields, variables, pipelines, calls of template_funcs.c's
 * functions, if/with/range. An execution's state lives in its frame, struct exec. */
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/template.h"
#include "cli/template_internal.h"

/* ---- values ------------------------------------------------------------------------- */

enum { W_BREAK = 1, W_CONTINUE = 2 };

int tpl_fail(struct exec *e, struct span at, const char *fmt, ...)
{
    if (e->failed)
        return -1;
    e->failed = true;
    va_list ap;
    va_start(ap, fmt);
    tpl_say(e->err, e->errlen, "executing at <", at, ">", fmt, ap);
    va_end(ap);
    return -1;
}

static void val_put(struct val *v)
{
    json_object_put(v->j);
    *v = (struct val){0};
}

bool tpl_truth(struct val v)
{
    if (v.missing || v.j == NULL)
        return false;
    switch (json_object_get_type(v.j)) {
    case json_type_boolean:
        return json_object_get_boolean(v.j);
    case json_type_int:
        return json_object_get_int64(v.j) != 0;
    case json_type_double:
        return json_object_get_double(v.j) != 0;
    case json_type_string:
        return json_object_get_string_len(v.j) > 0;
    case json_type_array:
        return json_object_array_length(v.j) > 0;
    case json_type_object:
        return json_object_object_length(v.j) > 0;
    default:
        return false;
    }
}

const char *tpl_go_type(json_object *j)
{
    static const char *const names[] = {
        [json_type_null] = "<nil>",
        [json_type_boolean] = "bool",
        [json_type_double] = "float64",
        [json_type_int] = "int",
        [json_type_object] = "map[string]interface {}",
        [json_type_array] = "[]interface {}",
        [json_type_string] = "string",
    };
    return names[json_object_get_type(j)];
}

/* The same said in words, for "can't evaluate field X in a string". */
static const char *json_kind(json_object *j)
{
    static const char *const names[] = {
        [json_type_null] = "null",        [json_type_boolean] = "a boolean",
        [json_type_double] = "a number",  [json_type_int] = "an integer",
        [json_type_object] = "an object", [json_type_array] = "an array",
        [json_type_string] = "a string",
    };
    return names[json_object_get_type(j)];
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* An object's keys in Go's order for maps: sorted. */
static const char **sorted_keys(json_object *o, size_t *n)
{
    *n = (size_t)json_object_object_length(o);
    const char **keys = calloc(*n ? *n : 1, sizeof(*keys));
    if (keys == NULL)
        abort();
    size_t i = 0;
    json_object_object_foreach(o, k, v)
    {
        (void)v;
        keys[i++] = k;
    }
    qsort(keys, *n, sizeof(*keys), key_cmp);
    return keys;
}

void tpl_go_float(double d, char *out, size_t n)
{
    if (isnan(d) || isinf(d)) {
        snprintf(out, n, "%s", isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf");
        return;
    }
    char tmp[40];
    int digits;
    for (digits = 1; digits < 17; digits++) {
        snprintf(tmp, sizeof(tmp), "%.*e", digits - 1, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    snprintf(tmp, sizeof(tmp), "%.*e", digits - 1, d);
    int exp = atoi(strchr(tmp, 'e') + 1);
    if (exp < -4 || exp >= 6)
        snprintf(out, n, "%s", tmp);
    else
        snprintf(out, n, "%.*f", digits - 1 - exp > 0 ? digits - 1 - exp : 0, d);
}

void tpl_go_int(json_object *j, char *out, size_t n)
{
    int64_t v = json_object_get_int64(j);
    if (v == INT64_MAX)
        snprintf(out, n, "%llu", (unsigned long long)json_object_get_uint64(j));
    else
        snprintf(out, n, "%lld", (long long)v);
}

bool tpl_format_value(struct cli_template_buf *b, json_object *j, int depth)
{
    char num[48];
    if (depth > CLI_TEMPLATE_MAX_DEPTH)
        return false;
    switch (json_object_get_type(j)) {
    case json_type_null:
        return tpl_buf_str(b, "<nil>");
    case json_type_boolean:
        return tpl_buf_str(b, json_object_get_boolean(j) ? "true" : "false");
    case json_type_int:
        tpl_go_int(j, num, sizeof(num));
        return tpl_buf_str(b, num);
    case json_type_double:
        tpl_go_float(json_object_get_double(j), num, sizeof(num));
        return tpl_buf_str(b, num);
    case json_type_string:
        return tpl_buf_add(b, json_object_get_string(j), (size_t)json_object_get_string_len(j));
    case json_type_array: {
        bool ok = tpl_buf_str(b, "[");
        size_t n = json_object_array_length(j);
        for (size_t i = 0; i < n && ok; i++)
            ok = (i == 0 || tpl_buf_str(b, " ")) &&
                 tpl_format_value(b, json_object_array_get_idx(j, i), depth + 1);
        return ok && tpl_buf_str(b, "]");
    }
    case json_type_object: {
        size_t n;
        const char **keys = sorted_keys(j, &n);
        bool ok = tpl_buf_str(b, "map[");
        for (size_t i = 0; i < n && ok; i++)
            ok = (i == 0 || tpl_buf_str(b, " ")) && tpl_buf_str(b, keys[i]) &&
                 tpl_buf_str(b, ":") &&
                 tpl_format_value(b, json_object_object_get(j, keys[i]), depth + 1);
        free(keys);
        return ok && tpl_buf_str(b, "]");
    }
    }
    return false;
}

static int print_val(struct exec *e, struct cli_template_buf *b, struct val v)
{
    if (v.missing ? tpl_buf_str(b, "<no value>") : tpl_format_value(b, v.j, 0))
        return 0;
    if (b->full)
        return tpl_fail(e, e->at, "output larger than %d bytes", CLI_TEMPLATE_MAX_OUTPUT);
    return tpl_fail(e, e->at, "value nested deeper than %d", CLI_TEMPLATE_MAX_DEPTH);
}

/* ---- the evaluator ------------------------------------------------------------------ */

static int eval_pipe(struct exec *e, struct val dot, const struct pipe *pipe, bool declare,
                     struct val *out);

static int fields(struct exec *e, const struct node *n, struct val *v)
{
    for (size_t i = 0; i < n->nfields; i++) {
        struct span f = n->fields[i];
        if (v->missing)
            return 0; /* Go: a field of no value is no value */
        if (!is_type(v->j, json_type_object)) {
            const char *kind = v->j ? json_kind(v->j) : "null";
            val_put(v);
            return tpl_fail(e, n->src, "can't evaluate field %.*s in %s", (int)f.n, f.s, kind);
        }
        char name[256];
        json_object *item;
        snprintf(name, sizeof(name), "%.*s", (int)f.n, f.s);
        bool found = f.n < sizeof(name) && json_object_object_get_ex(v->j, name, &item);
        val_put(v);
        if (!found && (e->flags & CLI_TEMPLATE_STRICT))
            return tpl_fail(e, n->src, "can't evaluate field %.*s", (int)f.n, f.s);
        *v = found ? val_of(json_object_get(item)) : (struct val){.missing = true};
    }
    return 0;
}

static struct var *var_find(struct exec *e, struct span name)
{
    for (size_t i = e->nvars; i-- > 0;)
        if (e->vars[i].name.n == name.n && memcmp(e->vars[i].name.s, name.s, name.n) == 0)
            return &e->vars[i];
    return NULL;
}

static void var_push(struct exec *e, struct span name, struct val v)
{
    /* the parser keeps variables in scope below MAX_VARS; $ is one more */
    if (e->nvars == MAX_VARS + 1)
        abort();
    e->vars[e->nvars++] = (struct var){name, {json_object_get(v.j), v.missing}};
}

static void var_set(struct exec *e, struct span name, struct val v)
{
    struct var *x = var_find(e, name);
    val_put(&x->v);
    x->v = (struct val){json_object_get(v.j), v.missing};
}

static void vars_pop(struct exec *e, size_t mark)
{
    while (e->nvars > mark)
        val_put(&e->vars[--e->nvars].v);
}

static int call(struct exec *e, struct val dot, const struct cmd *c, struct val *final,
                struct val *out);

static int eval_arg(struct exec *e, struct val dot, const struct node *n, struct val *out)
{
    *out = (struct val){0};
    switch (n->kind) {
    case N_DOT:
    case N_FIELD:
        *out = (struct val){json_object_get(dot.j), dot.missing};
        break;
    case N_VAR: {
        struct var *x = var_find(e, n->str);
        *out = (struct val){json_object_get(x->v.j), x->v.missing};
        break;
    }
    case N_STRING:
        *out = val_of(json_object_new_string_len(n->str.s, (int)n->str.n));
        return 0;
    case N_INT:
        *out = val_of(json_object_new_int64(n->i));
        return 0;
    case N_FLOAT:
        *out = val_of(json_object_new_double(n->f));
        return 0;
    case N_BOOL:
        *out = val_of(json_object_new_boolean((int)n->i));
        return 0;
    case N_NIL:
        return 0;
    case N_FUNC: {
        /* a function as an argument is called without arguments */
        struct cmd c = {.args = (struct node *)n, .nargs = 1, .src = n->src};
        return call(e, dot, &c, NULL, out);
    }
    case N_PIPE:
        if (eval_pipe(e, dot, n->pipe, false, out) < 0)
            return -1;
        break;
    default:
        return tpl_fail(e, n->src, "not an operand");
    }
    return fields(e, n, out);
}

/* A function's call: its arguments, then the value piped into it. An argument of no
 * value is passed as nil, as Go passes it to an interface{} parameter. */
static int call(struct exec *e, struct val dot, const struct cmd *c, struct val *final,
                struct val *out)
{
    const struct func *fn = c->args->fn;
    size_t n = c->nargs - 1 + (final != NULL);
    struct span at = e->at;
    e->at = c->src;
    if (++e->steps > CLI_TEMPLATE_MAX_STEPS) {
        if (final)
            val_put(final);
        return tpl_fail(e, c->src, "more than %d steps", CLI_TEMPLATE_MAX_STEPS);
    }
    int r = 0;
    if (fn->call == NULL) { /* and, or: the first deciding value, or the last one */
        bool and = strcmp(fn->name, "and") == 0;
        const struct node *a = c->args->next;
        for (size_t i = 0; i < n; i++) {
            if (a) {
                r = eval_arg(e, dot, a, out);
                a = a->next;
                if (r < 0)
                    break;
            } else {
                *out = *final;
                final = NULL;
            }
            out->missing = false;
            if (tpl_truth(*out) != and || i + 1 == n)
                break;
            val_put(out);
        }
    } else {
        struct val *v = calloc(n ? n : 1, sizeof(*v));
        if (v == NULL)
            abort();
        size_t got = 0;
        for (const struct node *a = c->args->next; a && r == 0; a = a->next)
            r = eval_arg(e, dot, a, &v[got++]);
        if (final)
            v[got++] = *final, final = NULL;
        for (size_t i = 0; i < got; i++)
            v[i].missing = false;
        if (r == 0 && fn->header && (e->flags & CLI_TEMPLATE_HEADER))
            *out = val_of(json_object_get(v[0].j));
        else if (r == 0)
            r = fn->call(e, v, n, out);
        for (size_t i = 0; i < got; i++)
            val_put(&v[i]);
        free(v);
    }
    if (final)
        val_put(final);
    e->at = at;
    return r;
}

static int eval_pipe(struct exec *e, struct val dot, const struct pipe *pipe, bool declare,
                     struct val *out)
{
    struct val v = {0};
    bool piped = false;
    for (const struct cmd *c = pipe->cmds; c; c = c->next, piped = true) {
        struct val next = {0};
        int r = c->args->kind == N_FUNC ? call(e, dot, c, piped ? &v : NULL, &next)
                                        : eval_arg(e, dot, c->args, &next);
        if (r < 0) {
            val_put(&v);
            return -1;
        }
        v = next;
    }
    for (int i = 0; declare && i < pipe->ndecl; i++) {
        if (pipe->assign)
            var_set(e, pipe->decl[i], v);
        else
            var_push(e, pipe->decl[i], v);
    }
    *out = v;
    return 0;
}

static int walk(struct exec *e, struct val dot, const struct node *n);

/* One iteration of a range: its variables ($i, $v or $v alone), then its body. */
static int iterate(struct exec *e, const struct node *n, struct val key, struct val elem)
{
    if (++e->steps > CLI_TEMPLATE_MAX_STEPS)
        return tpl_fail(e, n->src, "more than %d steps", CLI_TEMPLATE_MAX_STEPS);
    size_t mark = e->nvars;
    const struct pipe *p = n->pipe;
    struct val decl[2] = {p->ndecl == 2 ? key : elem, elem};
    for (int i = 0; i < p->ndecl; i++) {
        if (p->assign)
            var_set(e, p->decl[i], decl[i]);
        else
            var_push(e, p->decl[i], decl[i]);
    }
    int r = walk(e, elem, n->list);
    vars_pop(e, mark);
    return r;
}

static int walk_range(struct exec *e, struct val dot, const struct node *n)
{
    struct val v;
    if (eval_pipe(e, dot, n->pipe, false, &v) < 0)
        return -1;
    int r = 0;
    size_t count = 0;
    enum json_type type = v.missing || v.j == NULL ? json_type_null : json_object_get_type(v.j);
    if (type == json_type_array) {
        count = json_object_array_length(v.j);
        for (size_t i = 0; i < count && r >= 0 && r != W_BREAK; i++) {
            struct val key = val_of(json_object_new_int64((int64_t)i));
            r = iterate(e, n, key, val_of(json_object_array_get_idx(v.j, i)));
            val_put(&key);
        }
    } else if (type == json_type_object) {
        const char **keys = sorted_keys(v.j, &count);
        for (size_t i = 0; i < count && r >= 0 && r != W_BREAK; i++) {
            struct val key = val_of(json_object_new_string(keys[i]));
            r = iterate(e, n, key, val_of(json_object_object_get(v.j, keys[i])));
            val_put(&key);
        }
        free(keys);
    } else if (type == json_type_int) { /* Go 1.22: range over an integer */
        int64_t to = json_object_get_int64(v.j);
        for (int64_t i = 0; i < to && r >= 0 && r != W_BREAK; i++, count++) {
            struct val key = val_of(json_object_new_int64(i));
            r = iterate(e, n, key, key);
            val_put(&key);
        }
    } else if (type != json_type_null) {
        struct cli_template_buf b = {0};
        tpl_format_value(&b, v.j, 0);
        r = tpl_fail(e, n->src, "range can't iterate over %.40s", b.data ? b.data : "");
        cli_template_buf_free(&b);
    }
    val_put(&v);
    if (r >= 0 && count == 0 && n->alt)
        r = walk(e, dot, n->alt);
    return r < 0 ? -1 : 0;
}

/* A list of items; the variables it declares end with it. 1 or 2: a {{break}} or a
 * {{continue}} on its way to its range. */
static int walk(struct exec *e, struct val dot, const struct node *n)
{
    size_t mark = e->nvars;
    int r = 0;
    for (; n && r == 0; n = n->next) {
        e->at = n->src;
        if (++e->steps > CLI_TEMPLATE_MAX_STEPS) {
            r = tpl_fail(e, n->src, "more than %d steps", CLI_TEMPLATE_MAX_STEPS);
            break;
        }
        struct val v;
        size_t inner = e->nvars;
        switch (n->kind) {
        case N_TEXT:
            if (!tpl_buf_add(e->out, n->str.s, n->str.n))
                r = tpl_fail(e, n->src, "output larger than %d bytes", CLI_TEMPLATE_MAX_OUTPUT);
            break;
        case N_ACTION:
            r = eval_pipe(e, dot, n->pipe, true, &v);
            if (r < 0)
                break;
            if (n->pipe->ndecl == 0)
                r = print_val(e, e->out, v);
            val_put(&v);
            break;
        case N_IF:
        case N_WITH:
            r = eval_pipe(e, dot, n->pipe, true, &v);
            if (r < 0)
                break;
            if (tpl_truth(v))
                r = walk(e, n->kind == N_WITH ? v : dot, n->list);
            else if (n->alt)
                r = walk(e, dot, n->alt);
            val_put(&v);
            vars_pop(e, inner);
            break;
        case N_RANGE:
            r = walk_range(e, dot, n);
            break;
        case N_BREAK:
            r = W_BREAK;
            break;
        case N_CONTINUE:
            r = W_CONTINUE;
            break;
        default:
            r = tpl_fail(e, n->src, "not an item");
        }
    }
    vars_pop(e, mark);
    return r;
}

int tpl_exec(const struct node *tree, json_object *data, unsigned flags,
             struct cli_template_buf *out, char *err, size_t errlen)
{
    struct exec *e = calloc(1, sizeof(*e));
    if (e == NULL)
        abort();
    e->flags = flags;
    e->out = out;
    e->err = err;
    e->errlen = errlen;
    struct val root = val_of(data);
    var_push(e, (struct span){"$", 1}, root);
    int r = walk(e, root, tree);
    vars_pop(e, 0);
    free(e);
    return r < 0 ? -1 : 0;
}
