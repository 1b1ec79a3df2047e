/* docker's --format templates: a parser of the subset of Go's text/template that
 * scripts use into a small tree, and an evaluator of that tree over json-c values with
 * Go's semantics (a JSON object behaves as a Go map[string]interface{}). No global
 * state: a template is immutable once parsed, an execution's state lives in its frame.
 * What is supported and what is not: docs/cli-format.md. */
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

#define MAX_VARS  256     /* variables in scope at once */
#define MAX_CHAIN 32      /* fields in one chain (.A.B.C) */
#define MAX_WIDTH 1000000 /* printf's width and precision, as Go's fmt */

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

static bool buf_add(struct cli_template_buf *b, const char *s, size_t n)
{
    if (n > CLI_TEMPLATE_MAX_OUTPUT - b->len)
        return !(b->full = true);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL)
            abort();
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

static bool buf_str(struct cli_template_buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

static bool buf_fmt(struct cli_template_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool buf_fmt(struct cli_template_buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < sizeof(tmp) && buf_add(b, tmp, (size_t)n);
}

static bool buf_spaces(struct cli_template_buf *b, size_t n)
{
    for (; n > 0; n--)
        if (!buf_add(b, " ", 1))
            return false;
    return true;
}

bool cli_template_buf_add(struct cli_template_buf *b, const char *s, size_t n)
{
    return buf_add(b, s, n);
}

void cli_template_buf_free(struct cli_template_buf *b)
{
    free(b->data);
    *b = (struct cli_template_buf){0};
}

/* ---- UTF-8 and Go's quoting --------------------------------------------------------- */

/* The rune at s: its length, or 0 for a byte that starts no valid sequence. */
static size_t utf8_rune(const unsigned char *s, size_t n, uint32_t *r)
{
    if (n == 0)
        return 0;
    if (s[0] < 0x80) {
        *r = s[0];
        return 1;
    }
    size_t len = s[0] >= 0xf0 && s[0] < 0xf5 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (len == 0 || len > n || (s[0] >= 0xf0 && len != 4))
        return 0;
    uint32_t v = s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < least[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *r = v;
    return len;
}

static size_t utf8_put(uint32_t r, char *out)
{
    if (r < 0x80)
        return out[0] = (char)r, 1;
    if (r < 0x800)
        return out[0] = (char)(0xc0 | r >> 6), out[1] = (char)(0x80 | (r & 0x3f)), 2;
    if (r < 0x10000) {
        out[0] = (char)(0xe0 | r >> 12);
        out[1] = (char)(0x80 | ((r >> 6) & 0x3f));
        out[2] = (char)(0x80 | (r & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | r >> 18);
    out[1] = (char)(0x80 | ((r >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((r >> 6) & 0x3f));
    out[3] = (char)(0x80 | (r & 0x3f));
    return 4;
}

/* An integer as a rune, U+FFFD if it is none (Go's %c and %q). */
static uint32_t go_rune(long long x)
{
    return x >= 0 && x <= 0x10ffff && !(x >= 0xd800 && x <= 0xdfff) ? (uint32_t)x : 0xfffd;
}

/* Runes in s, as Go counts them for widths (a stray byte counts as one). */
static size_t utf8_count(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += ((unsigned char)s[i] & 0xc0) != 0x80;
    return count;
}

/* The byte length of the first `runes` runes of s. */
static size_t utf8_prefix(const char *s, size_t n, size_t runes)
{
    size_t i = 0;
    while (i < n && runes > 0) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xc0) == 0x80)
            i++;
        runes--;
    }
    return i;
}

/* Go's one-letter escapes: each byte, then the letter after its backslash. */
static const char go_escapes[] = "\aa\bb\ff\nn\rr\tt\vv\\\\\"\"";

static char go_escape(char byte)
{
    for (size_t i = 0; go_escapes[i]; i += 2)
        if (go_escapes[i] == byte)
            return go_escapes[i + 1];
    return 0;
}

static char go_unescape(char letter)
{
    for (size_t i = 0; go_escapes[i]; i += 2)
        if (go_escapes[i + 1] == letter)
            return go_escapes[i];
    return 0;
}

/* strconv.Quote: printable runes as they are, the rest escaped. */
static bool go_quote(struct cli_template_buf *b, const char *s, size_t n)
{
    bool ok = buf_add(b, "\"", 1);
    for (size_t i = 0; i < n && ok;) {
        uint32_t r;
        size_t len = utf8_rune((const unsigned char *)s + i, n - i, &r);
        char esc = len == 1 ? go_escape((char)r) : 0;
        if (esc)
            ok = buf_add(b, "\\", 1) && buf_add(b, &esc, 1);
        else if (len == 0)
            ok = buf_fmt(b, "\\x%02x", (unsigned char)s[i]);
        else if (r < 0x20 || r == 0x7f)
            ok = buf_fmt(b, "\\x%02x", (unsigned)r);
        else if (r >= 0x80 && r < 0xa0)
            ok = buf_fmt(b, "\\u%04x", (unsigned)r);
        else
            ok = buf_add(b, s + i, len);
        i += len ? len : 1;
    }
    return ok && buf_add(b, "\"", 1);
}

char *cli_template_quote(const char *s)
{
    struct cli_template_buf b = {0};
    if (!go_quote(&b, s, strlen(s))) {
        cli_template_buf_free(&b);
        return strdup("\"\"");
    }
    return b.data;
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

static bool is_word(char c)
{
    return c == '_' || isalnum((unsigned char)c) || (unsigned char)c >= 0x80;
}

static bool span_is(struct span s, const char *w)
{
    return s.n == strlen(w) && memcmp(s.s, w, s.n) == 0;
}

/* An error: where (at most 48 bytes of the template) between open and close, then what;
 * one line, the template's and the data's newlines and tabs made blanks. */
static void say(char *err, size_t errlen, const char *open, struct span where, const char *close,
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
    say(p->err, p->errlen, "at '", (struct span){a, (size_t)((close ? close + 2 : end) - a)}, "'",
        fmt, ap);
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
        char simple = c == '\'' ? c : go_unescape(c);
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
            j += utf8_put(v, d + j);
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

static const struct func *func_find(struct span name);
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
        if (c.n == 0 || utf8_rune((const unsigned char *)c.s, c.n, &r) != c.n)
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
        if ((n->fn = func_find(t.s)) != NULL)
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

/* ---- values ------------------------------------------------------------------------- */

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

enum { W_BREAK = 1, W_CONTINUE = 2 };

static int fail(struct exec *e, struct span at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct exec *e, struct span at, const char *fmt, ...)
{
    if (e->failed)
        return -1;
    e->failed = true;
    va_list ap;
    va_start(ap, fmt);
    say(e->err, e->errlen, "executing at <", at, ">", fmt, ap);
    va_end(ap);
    return -1;
}

static struct val val_of(json_object *j)
{
    return (struct val){.j = j};
}

static void val_put(struct val *v)
{
    json_object_put(v->j);
    *v = (struct val){0};
}

static bool truth(struct val v)
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

/* Go's name of the type, in printf's %!verb(type=value) and argument errors. */
static const char *go_type(json_object *j)
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

/* %v of a float64: the shortest digits that read back the same, in %e form when the
 * exponent is below -4 or 6 and above, as Go's strconv 'g' with precision -1. */
static void go_float(double d, char *out, size_t n)
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

static void go_int(json_object *j, char *out, size_t n)
{
    int64_t v = json_object_get_int64(j);
    if (v == INT64_MAX)
        snprintf(out, n, "%llu", (unsigned long long)json_object_get_uint64(j));
    else
        snprintf(out, n, "%lld", (long long)v);
}

/* Go's %v: strings as they are, [a b c], map[k:v k2:v2] (sorted keys), <nil>. */
static bool format_value(struct cli_template_buf *b, json_object *j, int depth)
{
    char num[48];
    if (depth > CLI_TEMPLATE_MAX_DEPTH)
        return false;
    switch (json_object_get_type(j)) {
    case json_type_null:
        return buf_str(b, "<nil>");
    case json_type_boolean:
        return buf_str(b, json_object_get_boolean(j) ? "true" : "false");
    case json_type_int:
        go_int(j, num, sizeof(num));
        return buf_str(b, num);
    case json_type_double:
        go_float(json_object_get_double(j), num, sizeof(num));
        return buf_str(b, num);
    case json_type_string:
        return buf_add(b, json_object_get_string(j), (size_t)json_object_get_string_len(j));
    case json_type_array: {
        bool ok = buf_str(b, "[");
        size_t n = json_object_array_length(j);
        for (size_t i = 0; i < n && ok; i++)
            ok = (i == 0 || buf_str(b, " ")) &&
                 format_value(b, json_object_array_get_idx(j, i), depth + 1);
        return ok && buf_str(b, "]");
    }
    case json_type_object: {
        size_t n;
        const char **keys = sorted_keys(j, &n);
        bool ok = buf_str(b, "map[");
        for (size_t i = 0; i < n && ok; i++)
            ok = (i == 0 || buf_str(b, " ")) && buf_str(b, keys[i]) && buf_str(b, ":") &&
                 format_value(b, json_object_object_get(j, keys[i]), depth + 1);
        free(keys);
        return ok && buf_str(b, "]");
    }
    }
    return false;
}

static int print_val(struct exec *e, struct cli_template_buf *b, struct val v)
{
    if (v.missing ? buf_str(b, "<no value>") : format_value(b, v.j, 0))
        return 0;
    if (b->full)
        return fail(e, e->at, "output larger than %d bytes", CLI_TEMPLATE_MAX_OUTPUT);
    return fail(e, e->at, "value nested deeper than %d", CLI_TEMPLATE_MAX_DEPTH);
}

static int ret_string(struct exec *e, struct cli_template_buf *b, bool ok, struct val *out)
{
    if (!ok) {
        cli_template_buf_free(b);
        return fail(e, e->at, "output larger than %d bytes", CLI_TEMPLATE_MAX_OUTPUT);
    }
    *out = val_of(json_object_new_string_len(b->data ? b->data : "", (int)b->len));
    cli_template_buf_free(b);
    return 0;
}

/* ---- functions ---------------------------------------------------------------------- */

static bool is_type(json_object *j, enum json_type t)
{
    return j != NULL && json_object_get_type(j) == t;
}

/* A string argument: else Go's "wrong type for value; expected string; got int". */
static int arg_str(struct exec *e, const char *fn, struct val *a, struct span *s)
{
    if (!is_type(a->j, json_type_string))
        return fail(e, e->at, "%s: wrong type for value; expected string; got %s", fn,
                    go_type(a->j));
    *s = (struct span){json_object_get_string(a->j), (size_t)json_object_get_string_len(a->j)};
    return 0;
}

static int arg_int(struct exec *e, const char *fn, struct val *a, int64_t *v)
{
    if (!is_type(a->j, json_type_int))
        return fail(e, e->at, "%s: wrong type for value; expected int; got %s", fn, go_type(a->j));
    *v = json_object_get_int64(a->j);
    return 0;
}

static int fn_not(struct exec *e, struct val *a, size_t n, struct val *out)
{
    *out = val_of(json_object_new_boolean(!truth(a[0])));
    return 0;
}

static int fn_len(struct exec *e, struct val *a, size_t n, struct val *out)
{
    int64_t len;
    if (is_type(a[0].j, json_type_string))
        len = json_object_get_string_len(a[0].j);
    else if (is_type(a[0].j, json_type_array))
        len = (int64_t)json_object_array_length(a[0].j);
    else if (is_type(a[0].j, json_type_object))
        len = json_object_object_length(a[0].j);
    else if (a[0].j == NULL)
        return fail(e, e->at, "error calling len: len of nil pointer");
    else
        return fail(e, e->at, "error calling len: len of type %s", go_type(a[0].j));
    *out = val_of(json_object_new_int64(len));
    return 0;
}

/* Go's zero value of a map's element type, for index of a key it lacks: guessed from
 * its values, "" for none (docker's labels, a map[string]string). */
static json_object *zero_like(json_object *o)
{
    json_object_object_foreach(o, k, v)
    {
        (void)k;
        switch (json_object_get_type(v)) {
        case json_type_int:
            return json_object_new_int(0);
        case json_type_double:
            return json_object_new_double(0);
        case json_type_boolean:
            return json_object_new_boolean(0);
        case json_type_array:
            return json_object_new_array();
        case json_type_object:
            return json_object_new_object();
        case json_type_null:
            return NULL;
        case json_type_string:
            break;
        }
        break;
    }
    return json_object_new_string("");
}

static int fn_index(struct exec *e, struct val *a, size_t n, struct val *out)
{
    json_object *cur = json_object_get(a[0].j);
    for (size_t i = 1; i < n; i++) {
        json_object *key = a[i].j, *item = NULL;
        if (cur == NULL)
            return fail(e, e->at, "error calling index: index of untyped nil");
        if (is_type(cur, json_type_object)) {
            if (!is_type(key, json_type_string)) {
                json_object_put(cur);
                return fail(e, e->at, "error calling index: value has type %s; should be string",
                            go_type(key));
            }
            if (json_object_object_get_ex(cur, json_object_get_string(key), &item))
                item = json_object_get(item);
            else
                item = zero_like(cur);
        } else if (is_type(cur, json_type_array) || is_type(cur, json_type_string)) {
            int64_t len = is_type(cur, json_type_array) ? (int64_t)json_object_array_length(cur)
                                                        : json_object_get_string_len(cur);
            int64_t k = is_type(key, json_type_int) ? json_object_get_int64(key) : -1;
            if (!is_type(key, json_type_int) || k < 0 || k >= len) {
                json_object_put(cur);
                if (!is_type(key, json_type_int))
                    return fail(e, e->at,
                                "error calling index: cannot index slice/array with "
                                "type %s",
                                go_type(key));
                return fail(e, e->at, "error calling index: index out of range: %lld",
                            (long long)k);
            }
            item = is_type(cur, json_type_array)
                       ? json_object_get(json_object_array_get_idx(cur, (size_t)k))
                       : json_object_new_int((unsigned char)json_object_get_string(cur)[k]);
        } else {
            const char *type = go_type(cur);
            json_object_put(cur);
            return fail(e, e->at, "error calling index: can't index item of type %s", type);
        }
        json_object_put(cur);
        cur = item;
    }
    *out = val_of(cur);
    return 0;
}

enum kind { K_NIL, K_BOOL, K_INT, K_FLOAT, K_STRING, K_OTHER };

static enum kind kind_of(json_object *j)
{
    switch (j ? json_object_get_type(j) : json_type_null) {
    case json_type_null:
        return K_NIL;
    case json_type_boolean:
        return K_BOOL;
    case json_type_int:
        return K_INT;
    case json_type_double:
        return K_FLOAT;
    case json_type_string:
        return K_STRING;
    default:
        return K_OTHER;
    }
}

/* Go's comparison of basic values: *c < 0, 0, > 0. Numbers compare whatever their JSON
 * form (Go would refuse an int against a float64; JSON does not tell them apart). */
static int compare(struct exec *e, const char *fn, json_object *x, json_object *y, bool ordered,
                   int *c)
{
    enum kind kx = kind_of(x), ky = kind_of(y);
    bool numx = kx == K_INT || kx == K_FLOAT, numy = ky == K_INT || ky == K_FLOAT;
    if (!ordered && (kx == K_NIL || ky == K_NIL)) {
        *c = kx != ky;
        return 0;
    }
    if (kx == K_NIL || ky == K_NIL || kx == K_OTHER || ky == K_OTHER ||
        (ordered && (kx == K_BOOL || ky == K_BOOL)))
        return fail(e, e->at, "error calling %s: %s", fn,
                    kx == K_OTHER || ky == K_OTHER ? "non-comparable type"
                                                   : "invalid type for comparison");
    if (kx != ky && !(numx && numy))
        return fail(e, e->at, "error calling %s: incompatible types for comparison", fn);
    if (kx == K_INT && ky == K_INT) {
        int64_t a = json_object_get_int64(x), b = json_object_get_int64(y);
        *c = (a > b) - (a < b);
    } else if (numx) {
        double a = json_object_get_double(x), b = json_object_get_double(y);
        *c = (a > b) - (a < b);
    } else if (kx == K_BOOL) {
        *c = json_object_get_boolean(x) != json_object_get_boolean(y);
    } else {
        size_t la = (size_t)json_object_get_string_len(x),
               lb = (size_t)json_object_get_string_len(y);
        int m = memcmp(json_object_get_string(x), json_object_get_string(y), la < lb ? la : lb);
        *c = m ? m : (la > lb) - (la < lb);
    }
    return 0;
}

/* eq: whether the first equals any of the others. */
static int fn_eq(struct exec *e, struct val *a, size_t n, struct val *out)
{
    bool eq = false;
    for (size_t i = 1; i < n && !eq; i++) {
        int c;
        if (compare(e, "eq", a[0].j, a[i].j, false, &c) < 0)
            return -1;
        eq = c == 0;
    }
    *out = val_of(json_object_new_boolean(eq));
    return 0;
}

#define COMPARISON(name, ordered, test)                                                            \
    static int fn_##name(struct exec *e, struct val *a, size_t n, struct val *out)                 \
    {                                                                                              \
        int c;                                                                                     \
        if (compare(e, #name, a[0].j, a[1].j, ordered, &c) < 0)                                    \
            return -1;                                                                             \
        *out = val_of(json_object_new_boolean(test));                                              \
        return 0;                                                                                  \
    }
COMPARISON(ne, false, c != 0)
COMPARISON(lt, true, c < 0)
COMPARISON(le, true, c <= 0)
COMPARISON(gt, true, c > 0)
COMPARISON(ge, true, c >= 0)

/* print and println: fmt.Sprint adds spaces between operands when neither is a string,
 * Sprintln always, and a newline. */
static int sprint(struct exec *e, struct val *a, size_t n, struct val *out, bool ln)
{
    struct cli_template_buf b = {0};
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        if (i > 0 &&
            (ln || !(is_type(a[i - 1].j, json_type_string) || is_type(a[i].j, json_type_string))))
            ok = buf_str(&b, " ");
        ok = ok && format_value(&b, a[i].j, 0);
    }
    return ret_string(e, &b, ok && (!ln || buf_str(&b, "\n")), out);
}

static int fn_print(struct exec *e, struct val *a, size_t n, struct val *out)
{
    return sprint(e, a, n, out, false);
}

static int fn_println(struct exec *e, struct val *a, size_t n, struct val *out)
{
    return sprint(e, a, n, out, true);
}

struct verb {
    bool minus, plus, space, zero;
    int width, prec; /* -1: not given */
    char c;
};

/* text padded to the verb's width (in runes), zeros after the sign for numbers. */
static bool pad(struct cli_template_buf *b, const struct verb *v, const char *s, size_t n,
                bool number)
{
    size_t runes = utf8_count(s, n),
           fill = v->width > 0 && (size_t)v->width > runes ? (size_t)v->width - runes : 0;
    if (v->minus)
        return buf_add(b, s, n) && buf_spaces(b, fill);
    if (v->zero && number) {
        size_t sign = n && (*s == '-' || *s == '+' || *s == ' ');
        bool ok = buf_add(b, s, sign);
        for (; ok && fill > 0; fill--)
            ok = buf_add(b, "0", 1);
        return ok && buf_add(b, s + sign, n - sign);
    }
    return buf_spaces(b, fill) && buf_add(b, s, n);
}

/* One argument by one verb of printf, or Go's %!verb(type=value) when they do not fit. */
static bool format_arg(struct cli_template_buf *b, const struct verb *v, json_object *j)
{
    char num[400]; /* %f of the largest double */
    enum kind k = kind_of(j);
    const char *sign = v->plus ? "+" : v->space ? " " : "";
    struct cli_template_buf tmp = {0};
    bool ok = true, number = false;
    if (k == K_STRING && (v->c == 's' || v->c == 'v')) {
        size_t n = (size_t)json_object_get_string_len(j);
        if (v->prec >= 0)
            n = utf8_prefix(json_object_get_string(j), n, (size_t)v->prec);
        ok = buf_add(&tmp, json_object_get_string(j), n);
    } else if (k == K_STRING && v->c == 'q') {
        ok = go_quote(&tmp, json_object_get_string(j), (size_t)json_object_get_string_len(j));
    } else if (k == K_STRING && (v->c == 'x' || v->c == 'X')) {
        const unsigned char *s = (const unsigned char *)json_object_get_string(j);
        for (int i = 0; ok && i < json_object_get_string_len(j); i++)
            ok = buf_fmt(&tmp, v->c == 'x' ? "%02x" : "%02X", s[i]);
    } else if (k == K_INT && strchr("vdxXobc", v->c)) {
        long long x = json_object_get_int64(j);
        unsigned long long u = x < 0 ? 0 - (unsigned long long)x : (unsigned long long)x;
        const char *neg = x < 0 ? "-" : sign;
        number = v->c != 'c';
        if (v->c == 'c') {
            char r[4];
            ok = buf_add(&tmp, r, utf8_put(go_rune(x), r));
        } else if (v->c == 'x' || v->c == 'X') {
            ok = buf_fmt(&tmp, v->c == 'x' ? "%s%llx" : "%s%llX", neg, u);
        } else if (v->c == 'o') {
            ok = buf_fmt(&tmp, "%s%llo", neg, u);
        } else if (v->c == 'b') {
            int top = 63;
            while (top > 0 && !(u >> top & 1))
                top--;
            ok = buf_str(&tmp, neg);
            for (; ok && top >= 0; top--)
                ok = buf_add(&tmp, u >> top & 1 ? "1" : "0", 1);
        } else {
            go_int(j, num, sizeof(num));
            ok = buf_str(&tmp, x >= 0 ? sign : "") && buf_str(&tmp, num);
        }
    } else if (k == K_INT && v->c == 'q') {
        char r[4];
        size_t n = utf8_put(go_rune(json_object_get_int64(j)), r);
        ok = buf_str(&tmp, "'") && buf_add(&tmp, r, n) && buf_str(&tmp, "'");
    } else if (k == K_FLOAT && strchr("veEfFgG", v->c)) {
        double d = json_object_get_double(j);
        int prec = v->prec >= 0 ? v->prec : 6;
        number = true;
        if (v->c == 'v' || ((v->c == 'g' || v->c == 'G') && v->prec < 0))
            go_float(d, num, sizeof(num));
        else if (v->c == 'e' || v->c == 'E')
            snprintf(num, sizeof(num), v->c == 'e' ? "%.*e" : "%.*E", prec, d);
        else if (v->c == 'f' || v->c == 'F')
            snprintf(num, sizeof(num), "%.*f", prec > 300 ? 300 : prec, d);
        else
            snprintf(num, sizeof(num), v->c == 'g' ? "%.*g" : "%.*G", prec, d);
        ok = buf_str(&tmp, d >= 0 ? sign : "") && buf_str(&tmp, num);
    } else if (k == K_BOOL && (v->c == 't' || v->c == 'v')) {
        ok = buf_str(&tmp, json_object_get_boolean(j) ? "true" : "false");
    } else if (k == K_OTHER || (k == K_NIL && v->c == 'v')) {
        ok = format_value(&tmp, j, 0);
    } else {
        /* %!d(string=abc), %!s(int=5), %!d(<nil>) */
        ok = buf_fmt(b, "%%!%c(%s", v->c, go_type(j)) &&
             (k == K_NIL || (buf_str(b, "=") && format_value(b, j, 0))) && buf_str(b, ")");
        cli_template_buf_free(&tmp);
        return ok;
    }
    ok = ok && pad(b, v, tmp.data ? tmp.data : "", tmp.len, number);
    cli_template_buf_free(&tmp);
    return ok;
}

/* A width or precision: -1 if none, MAX_WIDTH + 1 if too large. */
static int printf_number(struct span f, size_t *i)
{
    int v = -1;
    for (; *i < f.n && isdigit((unsigned char)f.s[*i]); (*i)++)
        v = v > MAX_WIDTH ? v : (v < 0 ? 0 : v) * 10 + (f.s[*i] - '0');
    return v;
}

/* printf: Go's verbs v s d q t x X o b c e E f F g G and %%, with flags - + space 0,
 * a width and a precision (numbers, not *). */
static int fn_printf(struct exec *e, struct val *a, size_t n, struct val *out)
{
    struct span f;
    if (arg_str(e, "printf", &a[0], &f) < 0)
        return -1;
    struct cli_template_buf b = {0};
    size_t argi = 1;
    bool ok = true;
    for (size_t i = 0; i < f.n && ok;) {
        if (f.s[i] != '%') {
            size_t run = strcspn(f.s + i, "%");
            run = run < f.n - i ? run : f.n - i;
            ok = buf_add(&b, f.s + i, run);
            i += run;
            continue;
        }
        struct verb v = {.width = -1, .prec = -1};
        for (i++; i < f.n && strchr("-+ 0#", f.s[i]); i++) {
            v.minus |= f.s[i] == '-';
            v.plus |= f.s[i] == '+';
            v.space |= f.s[i] == ' ';
            v.zero |= f.s[i] == '0';
        }
        v.width = printf_number(f, &i);
        if (i < f.n && f.s[i] == '.') {
            i++;
            v.prec = printf_number(f, &i);
            v.prec = v.prec < 0 ? 0 : v.prec;
        }
        if (i >= f.n) {
            ok = buf_str(&b, "%!(NOVERB)");
            break;
        }
        v.c = f.s[i++];
        if (v.width > MAX_WIDTH || v.prec > MAX_WIDTH) /* Go's fmt refuses them too */
            ok = buf_str(&b, v.width > MAX_WIDTH ? "%!(BADWIDTH)" : "%!(BADPREC)"),
            argi += v.c != '%' && argi < n;
        else if (v.c == '%')
            ok = buf_str(&b, "%");
        else if (argi >= n)
            ok = buf_fmt(&b, "%%!%c(MISSING)", v.c);
        else
            ok = format_arg(&b, &v, a[argi++].j);
    }
    if (ok && argi < n) {
        ok = buf_str(&b, "%!(EXTRA ");
        for (size_t i = argi; i < n && ok; i++)
            ok = (i == argi || buf_str(&b, ", ")) && buf_str(&b, go_type(a[i].j)) &&
                 (a[i].j == NULL || (buf_str(&b, "=") && format_value(&b, a[i].j, 0)));
        ok = ok && buf_str(&b, ")");
    }
    return ret_string(e, &b, ok, out);
}

/* json: compact JSON, as docker's (its objects' keys in their order here, which is
 * docker's order for its structs). */
static int fn_json(struct exec *e, struct val *a, size_t n, struct val *out)
{
    const char *s = a[0].j ? json_object_to_json_string_ext(
                                 a[0].j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                           : "null";
    *out = val_of(json_object_new_string(s));
    return 0;
}

static int fn_join(struct exec *e, struct val *a, size_t n, struct val *out)
{
    struct span sep;
    if (arg_str(e, "join", &a[1], &sep) < 0)
        return -1;
    if (a[0].j != NULL && !is_type(a[0].j, json_type_array))
        return fail(e, e->at, "join: wrong type for value; expected []string; got %s",
                    go_type(a[0].j));
    struct cli_template_buf b = {0};
    bool ok = true;
    size_t len = a[0].j ? json_object_array_length(a[0].j) : 0;
    for (size_t i = 0; i < len && ok; i++) {
        json_object *s = json_object_array_get_idx(a[0].j, i);
        if (!is_type(s, json_type_string)) {
            cli_template_buf_free(&b);
            return fail(e, e->at, "join: element %zu is %s, not a string", i, go_type(s));
        }
        ok = (i == 0 || buf_add(&b, sep.s, sep.n)) &&
             buf_add(&b, json_object_get_string(s), (size_t)json_object_get_string_len(s));
    }
    return ret_string(e, &b, ok, out);
}

/* split: strings.Split; an empty separator splits after each UTF-8 sequence. */
static int fn_split(struct exec *e, struct val *a, size_t n, struct val *out)
{
    struct span s, sep;
    if (arg_str(e, "split", &a[0], &s) < 0 || arg_str(e, "split", &a[1], &sep) < 0)
        return -1;
    json_object *list = json_object_new_array();
    for (size_t i = 0;;) {
        size_t end = i;
        if (sep.n == 0) {
            if (i == s.n)
                break;
            end = i + utf8_prefix(s.s + i, s.n - i, 1);
        } else {
            while (end < s.n && !(s.n - end >= sep.n && memcmp(s.s + end, sep.s, sep.n) == 0))
                end++;
        }
        json_object_array_add(list, json_object_new_string_len(s.s + i, (int)(end - i)));
        if (end >= s.n)
            break;
        i = end + sep.n;
        if (sep.n && i == s.n) {
            json_object_array_add(list, json_object_new_string(""));
            break;
        }
    }
    *out = val_of(list);
    return 0;
}

/* upper, lower, title: ASCII letters (others are left as they are). title is
 * strings.Title: a letter after anything but a letter, digit or _ is capitalised. */
static int recase(struct exec *e, struct val *a, struct val *out, const char *fn, int how)
{
    struct span s;
    if (arg_str(e, fn, &a[0], &s) < 0)
        return -1;
    char *d = malloc(s.n + 1);
    if (d == NULL)
        abort();
    bool after_word = false;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.s[i];
        d[i] = (char)(how > 0 || (how == 0 && !after_word) ? toupper(c) : how < 0 ? tolower(c) : c);
        after_word = is_word((char)c);
    }
    *out = val_of(json_object_new_string_len(d, (int)s.n));
    free(d);
    return 0;
}

static int fn_upper(struct exec *e, struct val *a, size_t n, struct val *out)
{
    return recase(e, a, out, "upper", 1);
}

static int fn_lower(struct exec *e, struct val *a, size_t n, struct val *out)
{
    return recase(e, a, out, "lower", -1);
}

static int fn_title(struct exec *e, struct val *a, size_t n, struct val *out)
{
    return recase(e, a, out, "title", 0);
}

/* docker's pad: spaces before and after a string that is not empty. */
static int fn_pad(struct exec *e, struct val *a, size_t n, struct val *out)
{
    struct span s;
    int64_t before, after;
    if (arg_str(e, "pad", &a[0], &s) < 0 || arg_int(e, "pad", &a[1], &before) < 0 ||
        arg_int(e, "pad", &a[2], &after) < 0)
        return -1;
    struct cli_template_buf b = {0};
    bool ok = s.n == 0 || (before >= 0 && after >= 0 && before <= MAX_WIDTH && after <= MAX_WIDTH &&
                           buf_spaces(&b, (size_t)before) && buf_add(&b, s.s, s.n) &&
                           buf_spaces(&b, (size_t)after));
    return ret_string(e, &b, ok, out);
}

/* docker's truncate: the first N characters (runes here, bytes in docker). */
static int fn_truncate(struct exec *e, struct val *a, size_t n, struct val *out)
{
    struct span s;
    int64_t len;
    if (arg_str(e, "truncate", &a[0], &s) < 0 || arg_int(e, "truncate", &a[1], &len) < 0)
        return -1;
    size_t keep = len < 0 ? 0 : utf8_prefix(s.s, s.n, (size_t)len);
    *out = val_of(json_object_new_string_len(s.s, (int)keep));
    return 0;
}

/* and, or: evaluated one argument at a time (the command evaluator does it). */
static const struct func funcs[] = {
    {"and", 1, -1, NULL, false},
    {"or", 1, -1, NULL, false},
    {"not", 1, 1, fn_not, false},
    {"len", 1, 1, fn_len, false},
    {"index", 1, -1, fn_index, false},
    {"eq", 2, -1, fn_eq, false},
    {"ne", 2, 2, fn_ne, false},
    {"lt", 2, 2, fn_lt, false},
    {"le", 2, 2, fn_le, false},
    {"gt", 2, 2, fn_gt, false},
    {"ge", 2, 2, fn_ge, false},
    {"print", 0, -1, fn_print, false},
    {"println", 0, -1, fn_println, false},
    {"printf", 1, -1, fn_printf, false},
    {"json", 1, 1, fn_json, true},
    {"join", 2, 2, fn_join, true},
    {"split", 2, 2, fn_split, true},
    {"upper", 1, 1, fn_upper, true},
    {"lower", 1, 1, fn_lower, true},
    {"title", 1, 1, fn_title, true},
    {"pad", 3, 3, fn_pad, false},
    {"truncate", 2, 2, fn_truncate, true},
};

static const struct func *func_find(struct span name)
{
    for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
        if (span_is(name, funcs[i].name))
            return &funcs[i];
    return NULL;
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
            return fail(e, n->src, "can't evaluate field %.*s in %s", (int)f.n, f.s, kind);
        }
        char name[256];
        json_object *item;
        snprintf(name, sizeof(name), "%.*s", (int)f.n, f.s);
        bool found = f.n < sizeof(name) && json_object_object_get_ex(v->j, name, &item);
        val_put(v);
        if (!found && (e->flags & CLI_TEMPLATE_STRICT))
            return fail(e, n->src, "can't evaluate field %.*s", (int)f.n, f.s);
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
        return fail(e, n->src, "not an operand");
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
        return fail(e, c->src, "more than %d steps", CLI_TEMPLATE_MAX_STEPS);
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
            if (truth(*out) != and || i + 1 == n)
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
        return fail(e, n->src, "more than %d steps", CLI_TEMPLATE_MAX_STEPS);
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
        format_value(&b, v.j, 0);
        r = fail(e, n->src, "range can't iterate over %.40s", b.data ? b.data : "");
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
            r = fail(e, n->src, "more than %d steps", CLI_TEMPLATE_MAX_STEPS);
            break;
        }
        struct val v;
        size_t inner = e->nvars;
        switch (n->kind) {
        case N_TEXT:
            if (!buf_add(e->out, n->str.s, n->str.n))
                r = fail(e, n->src, "output larger than %d bytes", CLI_TEMPLATE_MAX_OUTPUT);
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
            if (truth(v))
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
            r = fail(e, n->src, "not an item");
        }
    }
    vars_pop(e, mark);
    return r;
}

int cli_template_exec(const struct cli_template *t, json_object *data, unsigned flags,
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
    int r = walk(e, root, t->root);
    vars_pop(e, 0);
    free(e);
    return r < 0 ? -1 : 0;
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
