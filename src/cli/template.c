/* docker's --format templates, the front: the tree a template is parsed into, the output
 * buffers, the parser of the subset of Go's text/template that scripts use (syntax errors
 * and argument counts found before any output), and the public entry points of
 * cli/template.h. The evaluator is in template_eval.c, the functions in template_funcs.c,
 * what they share in template_internal.h. No global state: a template is immutable once
 * parsed. What is supported and what is not: docs/cli-format.md. */
#include <ctype.h>
#include <errno.h>
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
#include "common/util.h"

#define MAX_CHAIN 32 /* fields in one chain (.A.B.C) */

/* ---- the tree (its nodes: template_internal.h) ------------------------------------- */

/* Every node and string of a template is one allocation in a list, freed together. */
struct block {
    struct block *next;
    max_align_t data[];
};

struct cli_template {
    char *text; /* a copy, which the spans point into */
    struct node *root;
    struct block *blocks;
};

static void *talloc(struct cli_template *t, size_t n)
{
    struct block *b = calloc(1, sizeof(*b) + n);
    if (b == NULL)
        abort();
    b->next = t->blocks;
    t->blocks = b;
    return b->data;
}

void cli_template_free(struct cli_template *t)
{
    if (t == NULL)
        return;
    while (t->blocks) {
        struct block *b = t->blocks;
        t->blocks = b->next;
        free(b);
    }
    free(t->text);
    free(t);
}

/* ---- output buffers ----------------------------------------------------------------- */

bool tpl_buf_add(struct cli_template_buf *b, const char *s, size_t n)
{
    if (n > CLI_TEMPLATE_MAX_OUTPUT - b->len)
        return !(b->full = true);
    b->data = sm_reserve(b->data, &b->cap, b->len, n + 1, 64);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

bool tpl_buf_str(struct cli_template_buf *b, const char *s)
{
    return tpl_buf_add(b, s, strlen(s));
}

bool tpl_buf_fmt(struct cli_template_buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < sizeof(tmp) && tpl_buf_add(b, tmp, (size_t)n);
}

bool tpl_buf_spaces(struct cli_template_buf *b, size_t n)
{
    for (; n > 0; n--)
        if (!tpl_buf_add(b, " ", 1))
            return false;
    return true;
}

bool cli_template_buf_add(struct cli_template_buf *b, const char *s, size_t n)
{
    return tpl_buf_add(b, s, n);
}

void cli_template_buf_free(struct cli_template_buf *b)
{
    free(b->data);
    *b = (struct cli_template_buf){0};
}

/* ---- the parser --------------------------------------------------------------------- */

enum tok_kind {
    T_EOF,
    T_CLOSE,
    T_DOT,
    T_FIELD,
    T_VAR,
    T_IDENT,
    T_STRING,
    T_RAW,
    T_CHAR,
    T_NUMBER,
    T_LPAREN,
    T_RPAREN,
    T_PIPE,
    T_DECLARE,
    T_ASSIGN,
    T_COMMA,
    T_BAD,
};

struct token {
    enum tok_kind kind;
    struct span s;
    bool space;      /* blanks came before it */
    bool trim;       /* T_CLOSE: " -}}" */
    const char *bad; /* T_BAD: what is wrong */
};

struct parser {
    struct cli_template *t;
    const char *text;
    size_t len, pos;
    size_t action; /* where the action being parsed starts, for errors */
    size_t last;   /* where the last token taken ends */
    struct token tok;
    bool peeked;
    bool trim_next; /* the last action ended with " -}}" */
    int depth;      /* controls and parentheses open */
    int ranges;     /* {{range}}s open, for {{break}} and {{continue}} */
    struct span vars[MAX_VARS];
    size_t nvars;
    char *err;
    size_t errlen;
    bool failed;
};

enum term { TERM_ITEM, TERM_EOF, TERM_END, TERM_ELSE, TERM_ERROR };

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void tpl_say(char *err, size_t errlen, const char *open, struct span where, const char *close,
             const char *fmt, va_list ap)
{
    char what[256];
    vsnprintf(what, sizeof(what), fmt, ap);
    snprintf(err, errlen, "%s%.*s%s%s: %s", open, (int)(where.n > 48 ? 45 : where.n), where.s,
             where.n > 48 ? "..." : "", close, what);
    for (; *err; err++)
        if ((unsigned char)*err < 0x20)
            *err = ' ';
}

static void *perr(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void *perr(struct parser *p, const char *fmt, ...)
{
    if (p->failed)
        return NULL;
    p->failed = true;
    /* the action, up to its end if it has one */
    const char *a = p->text + p->action, *end = p->text + p->len;
    const char *close = strstr(a, "}}");
    va_list ap;
    va_start(ap, fmt);
    tpl_say(p->err, p->errlen, "at '", (struct span){a, (size_t)((close ? close + 2 : end) - a)},
            "'", fmt, ap);
    va_end(ap);
    return NULL;
}

static void lex(struct parser *p, struct token *t)
{
    const char *s = p->text;
    size_t i = p->pos, n = p->len;
    *t = (struct token){.kind = T_BAD};
    while (i < n && is_blank(s[i]))
        i++, t->space = true;
    size_t start = i;
    char c = i < n ? s[i] : '\0', c1 = i + 1 < n ? s[i + 1] : '\0';
    if (i >= n) {
        t->kind = T_EOF;
    } else if (t->space && c == '-' && n - i >= 3 && memcmp(s + i, "-}}", 3) == 0) {
        t->kind = T_CLOSE, t->trim = true, i += 3;
    } else if (c == '}' && c1 == '}') {
        t->kind = T_CLOSE, i += 2;
    } else if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)c1)) ||
               ((c == '-' || c == '+') && (isdigit((unsigned char)c1) || c1 == '.'))) {
        for (i++; i < n && (is_word(s[i]) || s[i] == '.' ||
                            ((s[i] == '+' || s[i] == '-') && strchr("eEpP", s[i - 1])));
             i++)
            ;
        t->kind = T_NUMBER;
    } else if (c == '.') {
        for (i++; i < n && is_word(s[i]); i++)
            ;
        t->kind = i - start > 1 ? T_FIELD : T_DOT;
    } else if (c == '$') {
        for (i++; i < n && is_word(s[i]); i++)
            ;
        t->kind = T_VAR;
    } else if (c == '"' || c == '\'') {
        for (i++; i < n && s[i] != c && s[i] != '\n'; i++)
            if (s[i] == '\\' && i + 1 < n && s[i + 1] != '\n')
                i++;
        if (i < n && s[i] == c)
            t->kind = c == '"' ? T_STRING : T_CHAR, i++;
        else
            t->bad = c == '"' ? "unterminated quoted string" : "unterminated character constant";
    } else if (c == '`') {
        for (i++; i < n && s[i] != '`'; i++)
            ;
        if (i < n)
            t->kind = T_RAW, i++;
        else
            t->bad = "unterminated raw quoted string";
    } else if (is_word(c)) {
        for (; i < n && is_word(s[i]); i++)
            ;
        t->kind = T_IDENT;
    } else {
        static const struct {
            char c, c1;
            enum tok_kind kind;
        } punct[] = {{'(', 0, T_LPAREN}, {')', 0, T_RPAREN},    {'|', 0, T_PIPE},
                     {',', 0, T_COMMA},  {':', '=', T_DECLARE}, {'=', 0, T_ASSIGN}};
        for (size_t k = 0; k < sizeof(punct) / sizeof(punct[0]) && t->kind == T_BAD; k++)
            if (c == punct[k].c && (!punct[k].c1 || c1 == punct[k].c1))
                t->kind = punct[k].kind, i += punct[k].c1 ? 2 : 1;
        if (t->kind == T_BAD)
            t->bad = "unexpected character in action", i++;
    }
    t->s = (struct span){s + start, i - start};
    p->pos = i;
}

static struct token *peek(struct parser *p)
{
    if (!p->peeked) {
        lex(p, &p->tok);
        p->peeked = true;
    }
    return &p->tok;
}

static struct token next(struct parser *p)
{
    peek(p);
    p->peeked = false;
    p->last = (size_t)(p->tok.s.s + p->tok.s.n - p->text);
    return p->tok;
}

static struct span from(struct parser *p, const char *start)
{
    const char *end = p->text + p->last;
    return (struct span){start, end > start ? (size_t)(end - start) : 0};
}

static bool expect_close(struct parser *p, const char *what)
{
    struct token t = next(p);
    if (t.kind == T_CLOSE) {
        p->trim_next = t.trim;
        return true;
    }
    if (t.kind == T_EOF)
        perr(p, "unclosed action");
    else if (t.kind == T_BAD)
        perr(p, "%s", t.bad);
    else
        perr(p, "unexpected '%.*s' in %s", (int)t.s.n, t.s.s, what);
    return false;
}

static struct node *new_node(struct parser *p, enum node_kind kind, struct span src)
{
    struct node *n = talloc(p->t, sizeof(*n));
    n->kind = kind;
    n->src = src;
    return n;
}

static bool var_defined(struct parser *p, struct span name)
{
    if (span_is(name, "$"))
        return true;
    for (size_t i = 0; i < p->nvars; i++)
        if (p->vars[i].n == name.n && memcmp(p->vars[i].s, name.s, name.n) == 0)
            return true;
    return false;
}

static bool var_declare(struct parser *p, struct span name)
{
    if (p->nvars == MAX_VARS)
        return perr(p, "more than %d variables", MAX_VARS), false;
    p->vars[p->nvars++] = name;
    return true;
}

/* Go's escapes in "..." and '...'; the bytes in *out. */
static bool unquote(struct parser *p, struct span s, struct span *out)
{
    char *d = talloc(p->t, s.n + 1);
    size_t j = 0;
    for (size_t i = 1; i + 1 < s.n; i++) {
        if (s.s[i] != '\\') {
            d[j++] = s.s[i];
            continue;
        }
        char c = s.s[++i];
        char simple = c == '\'' ? c : tpl_go_unescape(c);
        if (simple) {
            d[j++] = simple;
            continue;
        }
        int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : c >= '0' && c <= '7' ? 3 : 0;
        int base = c >= '0' && c <= '7' ? 8 : 16;
        size_t at = base == 8 ? i : i + 1;
        uint32_t v = 0;
        if (digits == 0 || at + (size_t)digits > s.n - 1)
            return perr(p, "invalid escape in %.*s", (int)s.n, s.s), false;
        for (int k = 0; k < digits; k++) {
            char h = s.s[at + (size_t)k];
            int dv = isdigit((unsigned char)h)    ? h - '0'
                     : isxdigit((unsigned char)h) ? (tolower(h) - 'a' + 10)
                                                  : 99;
            if (dv >= base)
                return perr(p, "invalid escape in %.*s", (int)s.n, s.s), false;
            v = v * (uint32_t)base + (uint32_t)dv;
        }
        i = at + (size_t)digits - 1;
        if (c == 'u' || c == 'U') {
            if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
                return perr(p, "invalid escape in %.*s", (int)s.n, s.s), false;
            j += tpl_utf8_put(v, d + j);
        } else {
            if (v > 0xff)
                return perr(p, "invalid escape in %.*s", (int)s.n, s.s), false;
            d[j++] = (char)v;
        }
    }
    *out = (struct span){d, j};
    return true;
}

static struct node *parse_number(struct parser *p, struct token t)
{
    char buf[64];
    if (t.s.n >= sizeof(buf))
        return perr(p, "bad number syntax: %.20s...", t.s.s);
    memcpy(buf, t.s.s, t.s.n);
    buf[t.s.n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 0);
    if (*end == '\0' && errno == 0) {
        struct node *n = new_node(p, N_INT, t.s);
        n->i = v;
        return n;
    }
    errno = 0;
    double d = strtod(buf, &end);
    if (*end != '\0' || errno != 0 || !isfinite(d))
        return perr(p, "bad number syntax: %s", buf);
    struct node *n = new_node(p, N_FLOAT, t.s);
    n->f = d;
    return n;
}

static struct pipe *parse_pipeline(struct parser *p, const char *ctx, int max_decl,
                                   enum tok_kind closer);

static struct node *parse_term(struct parser *p)
{
    struct token t = next(p);
    struct node *n;
    switch (t.kind) {
    case T_DOT:
        return new_node(p, N_DOT, t.s);
    case T_FIELD:
        n = new_node(p, N_FIELD, t.s);
        n->fields = talloc(p->t, sizeof(*n->fields));
        n->fields[0] = (struct span){t.s.s + 1, t.s.n - 1};
        n->nfields = 1;
        return n;
    case T_VAR:
        if (!var_defined(p, t.s))
            return perr(p, "undefined variable \"%.*s\"", (int)t.s.n, t.s.s);
        n = new_node(p, N_VAR, t.s);
        n->str = t.s;
        return n;
    case T_STRING:
        n = new_node(p, N_STRING, t.s);
        return unquote(p, t.s, &n->str) ? n : NULL;
    case T_RAW:
        n = new_node(p, N_STRING, t.s);
        n->str = (struct span){t.s.s + 1, t.s.n - 2};
        return n;
    case T_CHAR: {
        struct span c;
        uint32_t r = 0;
        if (!unquote(p, t.s, &c))
            return NULL;
        if (c.n == 0 || tpl_utf8_rune((const unsigned char *)c.s, c.n, &r) != c.n)
            return perr(p, "malformed character constant: %.*s", (int)t.s.n, t.s.s);
        n = new_node(p, N_INT, t.s);
        n->i = r;
        return n;
    }
    case T_NUMBER:
        return parse_number(p, t);
    case T_IDENT:
        if (span_is(t.s, "true") || span_is(t.s, "false")) {
            n = new_node(p, N_BOOL, t.s);
            n->i = span_is(t.s, "true");
            return n;
        }
        if (span_is(t.s, "nil"))
            return new_node(p, N_NIL, t.s);
        n = new_node(p, N_FUNC, t.s);
        if ((n->fn = tpl_func_find(t.s)) != NULL)
            return n;
        static const char *const go_only[] = {"call", "html", "js", "slice", "urlquery"};
        for (size_t i = 0; i < sizeof(go_only) / sizeof(go_only[0]); i++)
            if (span_is(t.s, go_only[i]))
                return perr(p, "function \"%s\" is not supported", go_only[i]);
        return perr(p, "function \"%.*s\" not defined", (int)t.s.n, t.s.s);
    case T_LPAREN: {
        if (++p->depth > CLI_TEMPLATE_MAX_DEPTH)
            return perr(p, "nested deeper than %d", CLI_TEMPLATE_MAX_DEPTH);
        n = new_node(p, N_PIPE, t.s);
        n->pipe = parse_pipeline(p, "parenthesized pipeline", 0, T_RPAREN);
        if (n->pipe == NULL)
            return NULL;
        struct token close = next(p);
        if (close.kind != T_RPAREN)
            return perr(p, "%s", close.kind == T_BAD ? close.bad : "unclosed left paren");
        p->depth--;
        n->src = from(p, t.s.s);
        return n;
    }
    case T_EOF:
        return perr(p, "unclosed action");
    case T_BAD:
        return perr(p, "%s", t.bad);
    default:
        return perr(p, "unexpected '%.*s' in operand", (int)t.s.n, t.s.s);
    }
}

/* A term and the fields chained to it: .A.B, $x.A, (index $b 0).HostPort. */
static struct node *parse_operand(struct parser *p)
{
    const char *start = peek(p)->s.s;
    struct node *n = parse_term(p);
    if (n == NULL)
        return NULL;
    if (peek(p)->kind != T_FIELD || peek(p)->space)
        return n;
    if (n->kind != N_FIELD && n->kind != N_VAR && n->kind != N_PIPE)
        return perr(p, "unexpected '%.*s' after '%.*s'", (int)peek(p)->s.n, peek(p)->s.s,
                    (int)n->src.n, n->src.s);
    struct span chain[MAX_CHAIN];
    size_t k = n->nfields;
    if (k)
        chain[0] = n->fields[0];
    while (peek(p)->kind == T_FIELD && !peek(p)->space) {
        if (k == MAX_CHAIN)
            return perr(p, "more than %d fields in a chain", MAX_CHAIN);
        struct token f = next(p);
        chain[k++] = (struct span){f.s.s + 1, f.s.n - 1};
    }
    n->fields = talloc(p->t, k * sizeof(*chain));
    memcpy(n->fields, chain, k * sizeof(*chain));
    n->nfields = k;
    n->src = from(p, start);
    return n;
}

static struct cmd *parse_command(struct parser *p, const char *ctx)
{
    struct cmd *c = talloc(p->t, sizeof(*c));
    struct node **tail = &c->args;
    const char *start = peek(p)->s.s;
    for (;;) {
        struct token *t = peek(p);
        if (t->kind == T_PIPE || t->kind == T_CLOSE || t->kind == T_RPAREN || t->kind == T_EOF)
            break;
        if (c->nargs && !t->space)
            return perr(p, "missing space before '%.*s'", (int)t->s.n, t->s.s);
        struct node *a = parse_operand(p);
        if (a == NULL)
            return NULL;
        *tail = a;
        tail = &a->next;
        c->nargs++;
    }
    if (c->nargs == 0) {
        if (peek(p)->kind == T_EOF)
            return perr(p, "unclosed action");
        return perr(p, "missing value for %s", ctx);
    }
    c->src = from(p, start);
    return c;
}

/* What Go checks when it runs a command, checked here so that it fails before any
 * output: argument counts, and arguments only to functions. */
static bool check_command(struct parser *p, const struct cmd *c, bool piped)
{
    const struct node *f = c->args;
    size_t n = c->nargs - 1 + piped;
    if (f->kind == N_FUNC) {
        if ((int)n < f->fn->min || (f->fn->max >= 0 && (int)n > f->fn->max))
            return perr(p, "wrong number of args for %s: want %s%d got %zu", f->fn->name,
                        f->fn->max < 0 ? "at least " : "", f->fn->min, n),
                   false;
    } else if (n > 0) {
        return perr(p, "can't give argument to non-function %.*s", (int)f->src.n, f->src.s), false;
    } else if (f->kind == N_NIL) {
        return perr(p, "nil is not a command"), false;
    }
    for (const struct node *a = f->next; a; a = a->next)
        if (a->kind == N_FUNC && a->fn->min > 0)
            return perr(p, "wrong number of args for %s: want %d got 0", a->fn->name, a->fn->min),
                   false;
    return true;
}

/* [$x :=] command [| command]...; max_decl: how many variables it may declare. */
static struct pipe *parse_pipeline(struct parser *p, const char *ctx, int max_decl,
                                   enum tok_kind closer)
{
    struct pipe *pipe = talloc(p->t, sizeof(*pipe));
    const char *start = peek(p)->s.s;
    if (max_decl && peek(p)->kind == T_VAR) {
        size_t pos = p->pos, last = p->last;
        struct token saved = p->tok;
        struct token v[2], op;
        v[0] = next(p);
        op = next(p);
        int k = 1;
        if (op.kind == T_COMMA && max_decl == 2) {
            v[1] = next(p);
            op = next(p);
            k = v[1].kind == T_VAR ? 2 : 0;
        }
        if (k && (op.kind == T_DECLARE || op.kind == T_ASSIGN)) {
            pipe->ndecl = k;
            pipe->assign = op.kind == T_ASSIGN;
            for (int i = 0; i < k; i++)
                pipe->decl[i] = v[i].s;
        } else {
            p->pos = pos, p->last = last, p->tok = saved, p->peeked = true;
        }
    }
    struct cmd **tail = &pipe->cmds;
    for (bool piped = false;; piped = true) {
        struct cmd *c = parse_command(p, ctx);
        if (c == NULL || !check_command(p, c, piped))
            return NULL;
        *tail = c;
        tail = &c->next;
        if (peek(p)->kind != T_PIPE)
            break;
        next(p);
    }
    if (closer == T_RPAREN && peek(p)->kind != T_RPAREN)
        return perr(p, "unclosed left paren");
    if (peek(p)->kind != closer && peek(p)->kind != T_EOF && peek(p)->kind != T_BAD)
        return perr(p, "unexpected '%.*s' in %s", (int)peek(p)->s.n, peek(p)->s.s, ctx);
    for (int i = 0; i < pipe->ndecl; i++) {
        if (pipe->assign ? !var_defined(p, pipe->decl[i]) : !var_declare(p, pipe->decl[i]))
            return perr(p, "undefined variable \"%.*s\"", (int)pipe->decl[i].n, pipe->decl[i].s);
    }
    pipe->src = from(p, start);
    return pipe;
}

static enum term parse_list(struct parser *p, struct node **list);

/* {{if}}, {{with}} and {{range}}, up to their {{end}}; {{else if}} and {{else with}}
 * are a control of the same kind inside the {{else}}, ending at the same {{end}}. */
static bool parse_control(struct parser *p, enum node_kind kind, struct node **out)
{
    static const char *const names[] = {[N_IF] = "if", [N_WITH] = "with", [N_RANGE] = "range"};
    size_t opened = p->action, mark = p->nvars;
    if (++p->depth > CLI_TEMPLATE_MAX_DEPTH)
        return perr(p, "nested deeper than %d", CLI_TEMPLATE_MAX_DEPTH), false;
    struct node *n = new_node(p, kind, (struct span){p->text + p->action, 0});
    n->pipe = parse_pipeline(p, names[kind], kind == N_RANGE ? 2 : 1, T_CLOSE);
    if (n->pipe == NULL || !expect_close(p, names[kind]))
        return false;
    n->src = n->pipe->src;
    size_t body = p->nvars;
    p->ranges += kind == N_RANGE;
    enum term t = parse_list(p, &n->list);
    p->ranges -= kind == N_RANGE;
    p->nvars = body;
    if (t == TERM_ELSE) {
        struct token *k = peek(p);
        if (kind != N_RANGE && k->kind == T_IDENT && span_is(k->s, names[kind])) {
            next(p);
            if (!parse_control(p, kind, &n->alt))
                return false;
            t = TERM_END;
        } else {
            if (!expect_close(p, "else"))
                return false;
            t = parse_list(p, &n->alt);
            p->nvars = body;
            if (t == TERM_ELSE)
                return perr(p, "{{else}} after {{else}}"), false;
        }
    }
    if (t == TERM_EOF) {
        p->action = opened;
        return perr(p, "unexpected EOF: {{%s}} without {{end}}", names[kind]), false;
    }
    if (t == TERM_ERROR)
        return false;
    p->nvars = mark;
    p->depth--;
    *out = n;
    return true;
}

static enum term parse_action(struct parser *p, struct node **out)
{
    struct token *t = peek(p);
    const char *start = t->s.s;
    if (t->kind == T_IDENT) {
        struct span w = t->s;
        if (span_is(w, "end") || span_is(w, "else")) {
            next(p);
            if (span_is(w, "else"))
                return TERM_ELSE;
            return expect_close(p, "end") ? TERM_END : TERM_ERROR;
        }
        enum node_kind kind = span_is(w, "if")         ? N_IF
                              : span_is(w, "with")     ? N_WITH
                              : span_is(w, "range")    ? N_RANGE
                              : span_is(w, "break")    ? N_BREAK
                              : span_is(w, "continue") ? N_CONTINUE
                                                       : N_TEXT;
        if (kind == N_IF || kind == N_WITH || kind == N_RANGE) {
            next(p);
            return parse_control(p, kind, out) ? TERM_ITEM : TERM_ERROR;
        }
        if (kind == N_BREAK || kind == N_CONTINUE) {
            next(p);
            if (p->ranges == 0)
                return perr(p, "{{%.*s}} outside {{range}}", (int)w.n, w.s), TERM_ERROR;
            *out = new_node(p, kind, w);
            return expect_close(p, kind == N_BREAK ? "break" : "continue") ? TERM_ITEM : TERM_ERROR;
        }
        if (span_is(w, "define") || span_is(w, "template") || span_is(w, "block"))
            return perr(p, "{{%.*s}} is not supported", (int)w.n, w.s), TERM_ERROR;
    }
    struct node *n = new_node(p, N_ACTION, (struct span){start, 0});
    n->pipe = parse_pipeline(p, "command", 1, T_CLOSE);
    if (n->pipe == NULL || !expect_close(p, "command"))
        return TERM_ERROR;
    n->src = n->pipe->src;
    *out = n;
    return TERM_ITEM;
}

/* Text and actions up to an {{end}}, an {{else}} (left after its keyword) or the end. */
static enum term parse_list(struct parser *p, struct node **list)
{
    struct node **tail = list;
    for (;;) {
        const char *text = p->text + p->pos;
        const char *open = strstr(text, "{{");
        size_t n = open ? (size_t)(open - text) : p->len - p->pos, skip = 0;
        bool trim_right = open && open[2] == '-' && is_blank(open[3]);
        if (p->trim_next)
            while (skip < n && is_blank(text[skip]))
                skip++;
        p->trim_next = false;
        size_t keep = n;
        if (trim_right)
            while (keep > skip && is_blank(text[keep - 1]))
                keep--;
        if (keep > skip) {
            struct node *t = new_node(p, N_TEXT, (struct span){text + skip, keep - skip});
            t->str = t->src;
            *tail = t;
            tail = &t->next;
        }
        if (open == NULL)
            return TERM_EOF;
        p->action = (size_t)(open - p->text);
        p->pos = p->action + 2 + trim_right;
        p->peeked = false;
        /* a comment: slash-star after {{ or {{- , star-slash before }} or -}} */
        const char *comment = p->text + p->pos + trim_right;
        if (strncmp(comment, "/*", 2) == 0) {
            const char *end = strstr(comment + 2, "*/");
            if (end == NULL)
                return perr(p, "unclosed comment"), TERM_ERROR;
            p->pos = (size_t)(end + 2 - p->text);
            if (!expect_close(p, "comment"))
                return TERM_ERROR;
            continue;
        }
        struct node *item = NULL;
        enum term t = parse_action(p, &item);
        if (t != TERM_ITEM)
            return t;
        *tail = item;
        tail = &item->next;
    }
}

struct cli_template *cli_template_parse(const char *text, char *err, size_t errlen)
{
    size_t len = strlen(text);
    if (len > CLI_TEMPLATE_MAX_TEXT) {
        snprintf(err, errlen, "longer than %d bytes", CLI_TEMPLATE_MAX_TEXT);
        return NULL;
    }
    struct cli_template *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->text = strdup(text)) == NULL)
        abort();
    struct parser *p = calloc(1, sizeof(*p));
    if (p == NULL)
        abort();
    *p = (struct parser){.t = t, .text = t->text, .len = len, .err = err, .errlen = errlen};
    enum term end = parse_list(p, &t->root);
    if (end == TERM_END || end == TERM_ELSE)
        perr(p, "unexpected {{%s}}", end == TERM_END ? "end" : "else");
    bool failed = p->failed || end == TERM_ERROR;
    free(p);
    if (failed) {
        cli_template_free(t);
        return NULL;
    }
    return t;
}

/* ---- executing (template_eval.c) --------------------------------------------------- */

int cli_template_exec(const struct cli_template *t, json_object *data, unsigned flags,
                      struct cli_template_buf *out, char *err, size_t errlen)
{
    return tpl_exec(t->root, data, flags, out, err, errlen);
}

int cli_template_fprint(const struct cli_template *t, json_object *data, unsigned flags, FILE *f,
                        char *err, size_t errlen)
{
    struct cli_template_buf b = {0};
    int r = cli_template_exec(t, data, flags, &b, err, errlen);
    if (r == 0 && b.len)
        fwrite(b.data, 1, b.len, f);
    cli_template_buf_free(&b);
    return r;
}
