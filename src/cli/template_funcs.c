/* docker's --format templates, the functions: the table the parser looks names up in,
 * and each function as Go's text/template and docker define it (and, or, not, len,
 * index, eq, ne, lt, le, gt, ge, print, println, printf, json, join, split, upper, lower,
 * title, pad, truncate), with the UTF-8 and Go's quoting (strconv.Quote, the escapes of
 * Go's string literals) they and the parser use. */
#include <ctype.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/template.h"
#include "cli/template_internal.h"

#define MAX_WIDTH 1000000 /* printf's width and precision, as Go's fmt */

/* ---- UTF-8 and Go's quoting --------------------------------------------------------- */

size_t tpl_utf8_rune(const unsigned char *s, size_t n, uint32_t *r)
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

size_t tpl_utf8_put(uint32_t r, char *out)
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

char tpl_go_unescape(char letter)
{
    for (size_t i = 0; go_escapes[i]; i += 2)
        if (go_escapes[i + 1] == letter)
            return go_escapes[i];
    return 0;
}

/* strconv.Quote: printable runes as they are, the rest escaped. */
static bool go_quote(struct cli_template_buf *b, const char *s, size_t n)
{
    bool ok = tpl_buf_add(b, "\"", 1);
    for (size_t i = 0; i < n && ok;) {
        uint32_t r;
        size_t len = tpl_utf8_rune((const unsigned char *)s + i, n - i, &r);
        char esc = len == 1 ? go_escape((char)r) : 0;
        if (esc)
            ok = tpl_buf_add(b, "\\", 1) && tpl_buf_add(b, &esc, 1);
        else if (len == 0)
            ok = tpl_buf_fmt(b, "\\x%02x", (unsigned char)s[i]);
        else if (r < 0x20 || r == 0x7f)
            ok = tpl_buf_fmt(b, "\\x%02x", (unsigned)r);
        else if (r >= 0x80 && r < 0xa0)
            ok = tpl_buf_fmt(b, "\\u%04x", (unsigned)r);
        else
            ok = tpl_buf_add(b, s + i, len);
        i += len ? len : 1;
    }
    return ok && tpl_buf_add(b, "\"", 1);
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

/* ---- functions ---------------------------------------------------------------------- */

/* A function's result: the string b holds (b freed), or the output's limit passed. */
static int ret_string(struct exec *e, struct cli_template_buf *b, bool ok, struct val *out)
{
    if (!ok) {
        cli_template_buf_free(b);
        return tpl_fail(e, e->at, "output larger than %d bytes", CLI_TEMPLATE_MAX_OUTPUT);
    }
    *out = val_of(json_object_new_string_len(b->data ? b->data : "", (int)b->len));
    cli_template_buf_free(b);
    return 0;
}

/* A string argument: else Go's "wrong type for value; expected string; got int". */
static int arg_str(struct exec *e, const char *fn, struct val *a, struct span *s)
{
    if (!is_type(a->j, json_type_string))
        return tpl_fail(e, e->at, "%s: wrong type for value; expected string; got %s", fn,
                        tpl_go_type(a->j));
    *s = (struct span){json_object_get_string(a->j), (size_t)json_object_get_string_len(a->j)};
    return 0;
}

static int arg_int(struct exec *e, const char *fn, struct val *a, int64_t *v)
{
    if (!is_type(a->j, json_type_int))
        return tpl_fail(e, e->at, "%s: wrong type for value; expected int; got %s", fn,
                        tpl_go_type(a->j));
    *v = json_object_get_int64(a->j);
    return 0;
}

static int fn_not(struct exec *e, struct val *a, size_t n, struct val *out)
{
    *out = val_of(json_object_new_boolean(!tpl_truth(a[0])));
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
        return tpl_fail(e, e->at, "error calling len: len of nil pointer");
    else
        return tpl_fail(e, e->at, "error calling len: len of type %s", tpl_go_type(a[0].j));
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
            return tpl_fail(e, e->at, "error calling index: index of untyped nil");
        if (is_type(cur, json_type_object)) {
            if (!is_type(key, json_type_string)) {
                json_object_put(cur);
                return tpl_fail(e, e->at,
                                "error calling index: value has type %s; should be string",
                                tpl_go_type(key));
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
                    return tpl_fail(e, e->at,
                                    "error calling index: cannot index slice/array with "
                                    "type %s",
                                    tpl_go_type(key));
                return tpl_fail(e, e->at, "error calling index: index out of range: %lld",
                                (long long)k);
            }
            item = is_type(cur, json_type_array)
                       ? json_object_get(json_object_array_get_idx(cur, (size_t)k))
                       : json_object_new_int((unsigned char)json_object_get_string(cur)[k]);
        } else {
            const char *type = tpl_go_type(cur);
            json_object_put(cur);
            return tpl_fail(e, e->at, "error calling index: can't index item of type %s", type);
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
        return tpl_fail(e, e->at, "error calling %s: %s", fn,
                        kx == K_OTHER || ky == K_OTHER ? "non-comparable type"
                                                       : "invalid type for comparison");
    if (kx != ky && !(numx && numy))
        return tpl_fail(e, e->at, "error calling %s: incompatible types for comparison", fn);
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
            ok = tpl_buf_str(&b, " ");
        ok = ok && tpl_format_value(&b, a[i].j, 0);
    }
    return ret_string(e, &b, ok && (!ln || tpl_buf_str(&b, "\n")), out);
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
        return tpl_buf_add(b, s, n) && tpl_buf_spaces(b, fill);
    if (v->zero && number) {
        size_t sign = n && (*s == '-' || *s == '+' || *s == ' ');
        bool ok = tpl_buf_add(b, s, sign);
        for (; ok && fill > 0; fill--)
            ok = tpl_buf_add(b, "0", 1);
        return ok && tpl_buf_add(b, s + sign, n - sign);
    }
    return tpl_buf_spaces(b, fill) && tpl_buf_add(b, s, n);
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
        ok = tpl_buf_add(&tmp, json_object_get_string(j), n);
    } else if (k == K_STRING && v->c == 'q') {
        ok = go_quote(&tmp, json_object_get_string(j), (size_t)json_object_get_string_len(j));
    } else if (k == K_STRING && (v->c == 'x' || v->c == 'X')) {
        const unsigned char *s = (const unsigned char *)json_object_get_string(j);
        for (int i = 0; ok && i < json_object_get_string_len(j); i++)
            ok = tpl_buf_fmt(&tmp, v->c == 'x' ? "%02x" : "%02X", s[i]);
    } else if (k == K_INT && strchr("vdxXobc", v->c)) {
        long long x = json_object_get_int64(j);
        unsigned long long u = x < 0 ? 0 - (unsigned long long)x : (unsigned long long)x;
        const char *neg = x < 0 ? "-" : sign;
        number = v->c != 'c';
        if (v->c == 'c') {
            char r[4];
            ok = tpl_buf_add(&tmp, r, tpl_utf8_put(go_rune(x), r));
        } else if (v->c == 'x' || v->c == 'X') {
            ok = tpl_buf_fmt(&tmp, v->c == 'x' ? "%s%llx" : "%s%llX", neg, u);
        } else if (v->c == 'o') {
            ok = tpl_buf_fmt(&tmp, "%s%llo", neg, u);
        } else if (v->c == 'b') {
            int top = 63;
            while (top > 0 && !(u >> top & 1))
                top--;
            ok = tpl_buf_str(&tmp, neg);
            for (; ok && top >= 0; top--)
                ok = tpl_buf_add(&tmp, u >> top & 1 ? "1" : "0", 1);
        } else {
            tpl_go_int(j, num, sizeof(num));
            ok = tpl_buf_str(&tmp, x >= 0 ? sign : "") && tpl_buf_str(&tmp, num);
        }
    } else if (k == K_INT && v->c == 'q') {
        char r[4];
        size_t n = tpl_utf8_put(go_rune(json_object_get_int64(j)), r);
        ok = tpl_buf_str(&tmp, "'") && tpl_buf_add(&tmp, r, n) && tpl_buf_str(&tmp, "'");
    } else if (k == K_FLOAT && strchr("veEfFgG", v->c)) {
        double d = json_object_get_double(j);
        int prec = v->prec >= 0 ? v->prec : 6;
        number = true;
        if (v->c == 'v' || ((v->c == 'g' || v->c == 'G') && v->prec < 0))
            tpl_go_float(d, num, sizeof(num));
        else if (v->c == 'e' || v->c == 'E')
            snprintf(num, sizeof(num), v->c == 'e' ? "%.*e" : "%.*E", prec, d);
        else if (v->c == 'f' || v->c == 'F')
            snprintf(num, sizeof(num), "%.*f", prec > 300 ? 300 : prec, d);
        else
            snprintf(num, sizeof(num), v->c == 'g' ? "%.*g" : "%.*G", prec, d);
        ok = tpl_buf_str(&tmp, d >= 0 ? sign : "") && tpl_buf_str(&tmp, num);
    } else if (k == K_BOOL && (v->c == 't' || v->c == 'v')) {
        ok = tpl_buf_str(&tmp, json_object_get_boolean(j) ? "true" : "false");
    } else if (k == K_OTHER || (k == K_NIL && v->c == 'v')) {
        ok = tpl_format_value(&tmp, j, 0);
    } else {
        /* %!d(string=abc), %!s(int=5), %!d(<nil>) */
        ok = tpl_buf_fmt(b, "%%!%c(%s", v->c, tpl_go_type(j)) &&
             (k == K_NIL || (tpl_buf_str(b, "=") && tpl_format_value(b, j, 0))) &&
             tpl_buf_str(b, ")");
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
            ok = tpl_buf_add(&b, f.s + i, run);
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
            ok = tpl_buf_str(&b, "%!(NOVERB)");
            break;
        }
        v.c = f.s[i++];
        if (v.width > MAX_WIDTH || v.prec > MAX_WIDTH) /* Go's fmt refuses them too */
            ok = tpl_buf_str(&b, v.width > MAX_WIDTH ? "%!(BADWIDTH)" : "%!(BADPREC)"),
            argi += v.c != '%' && argi < n;
        else if (v.c == '%')
            ok = tpl_buf_str(&b, "%");
        else if (argi >= n)
            ok = tpl_buf_fmt(&b, "%%!%c(MISSING)", v.c);
        else
            ok = format_arg(&b, &v, a[argi++].j);
    }
    if (ok && argi < n) {
        ok = tpl_buf_str(&b, "%!(EXTRA ");
        for (size_t i = argi; i < n && ok; i++)
            ok = (i == argi || tpl_buf_str(&b, ", ")) && tpl_buf_str(&b, tpl_go_type(a[i].j)) &&
                 (a[i].j == NULL || (tpl_buf_str(&b, "=") && tpl_format_value(&b, a[i].j, 0)));
        ok = ok && tpl_buf_str(&b, ")");
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
        return tpl_fail(e, e->at, "join: wrong type for value; expected []string; got %s",
                        tpl_go_type(a[0].j));
    struct cli_template_buf b = {0};
    bool ok = true;
    size_t len = a[0].j ? json_object_array_length(a[0].j) : 0;
    for (size_t i = 0; i < len && ok; i++) {
        json_object *s = json_object_array_get_idx(a[0].j, i);
        if (!is_type(s, json_type_string)) {
            cli_template_buf_free(&b);
            return tpl_fail(e, e->at, "join: element %zu is %s, not a string", i, tpl_go_type(s));
        }
        ok = (i == 0 || tpl_buf_add(&b, sep.s, sep.n)) &&
             tpl_buf_add(&b, json_object_get_string(s), (size_t)json_object_get_string_len(s));
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
                           tpl_buf_spaces(&b, (size_t)before) && tpl_buf_add(&b, s.s, s.n) &&
                           tpl_buf_spaces(&b, (size_t)after));
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

const struct func *tpl_func_find(struct span name)
{
    for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
        if (span_is(name, funcs[i].name))
            return &funcs[i];
    return NULL;
}
