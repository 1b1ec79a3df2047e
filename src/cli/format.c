/* Human-readable sizes and ages, and docker's formatter for lists (ps, images): a
 * template per row, and in a table a header and docker's tabwriter's columns. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"

bool cli_vm_is_up(const struct sm_vm_info *v)
{
    return strcmp(v->status, "running") == 0 || strcmp(v->status, "paused") == 0 ||
           strcmp(v->status, "restarting") == 0;
}

void cli_human_size(uint64_t v, char *out, size_t n)
{
    if (v >= 1000000000ull)
        snprintf(out, n, "%.3gGB", (double)v / 1e9);
    else if (v >= 1000000)
        snprintf(out, n, "%.3gMB", (double)v / 1e6);
    else if (v >= 1000)
        snprintf(out, n, "%.3gkB", (double)v / 1e3);
    else
        snprintf(out, n, "%lluB", (unsigned long long)v);
}

void cli_human_binary_size(uint64_t v, char *out, size_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double d = (double)v;
    size_t u = 0;
    while (d >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        d /= 1024;
        u++;
    }
    snprintf(out, n, "%.4g%s", d, units[u]);
}

void cli_human_duration(int64_t s, char *out, size_t n)
{
    /* go-units' HumanDuration: hours rounded to the nearest, the rest truncated */
    int64_t hours = (s + 1800) / 3600;
    if (s < 1)
        snprintf(out, n, "Less than a second");
    else if (s == 1)
        snprintf(out, n, "1 second");
    else if (s < 60)
        snprintf(out, n, "%lld seconds", (long long)s);
    else if (s / 60 == 1)
        snprintf(out, n, "About a minute");
    else if (s / 60 < 60)
        snprintf(out, n, "%lld minutes", (long long)(s / 60));
    else if (hours == 1)
        snprintf(out, n, "About an hour");
    else if (hours < 48)
        snprintf(out, n, "%lld hours", (long long)hours);
    else if (hours < 24 * 7 * 2)
        snprintf(out, n, "%lld days", (long long)(hours / 24));
    else if (hours < 24 * 30 * 2)
        snprintf(out, n, "%lld weeks", (long long)(hours / 24 / 7));
    else if (hours < 24 * 365 * 2)
        snprintf(out, n, "%lld months", (long long)(hours / 24 / 30));
    else
        snprintf(out, n, "%lld years", (long long)(s / 3600 / 24 / 365));
}

void cli_human_age(int64_t created, char *out, size_t n)
{
    if (created <= 0) {
        snprintf(out, n, "N/A");
        return;
    }
    int64_t d = (int64_t)time(NULL) - created;
    char dur[48];
    cli_human_duration(d < 0 ? 0 : d, dur, sizeof(dur));
    snprintf(out, n, "%s ago", dur);
}

void cli_local_time(int64_t unix_time, char *out, size_t n)
{
    time_t t = (time_t)unix_time;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M:%S %z %Z", &tm);
}

/* Go's text/tabwriter as docker sets it up (minwidth 10, or 20 for top; padding 3, spaces): text is
 * lines of cells, each ended by a tab but the last of its line, which is in no column.
 * A column's cells on adjacent lines form a block, padded to its widest cell (in runes)
 * plus 3, 10 at the least; a line with fewer cells ends the blocks of those it lacks. */
void cli_tabwrite(FILE *out, const char *text, size_t len)
{
    cli_tabwrite_min(out, text, len, 10);
}

void cli_tabwrite_min(FILE *out, const char *text, size_t len, size_t min_width)
{
    enum { PADDING = 3 };
    struct cell {
        const char *s;
        size_t n, width, block;
        bool last; /* the last of its line */
    };
    size_t ncells = 1;
    for (size_t i = 0; i < len; i++)
        ncells += text[i] == '\t' || text[i] == '\n';
    struct cell *cells = calloc(ncells, sizeof(*cells));
    size_t *widths = calloc(ncells, sizeof(*widths)), *open = calloc(ncells, sizeof(*open));
    if (cells == NULL || widths == NULL || open == NULL)
        abort();
    for (size_t i = 0, start = 0, k = 0; i <= len; i++) {
        if (i < len && text[i] != '\t' && text[i] != '\n')
            continue;
        struct cell *c = &cells[k++];
        *c = (struct cell){.s = text + start, .n = i - start, .last = i == len || text[i] == '\n'};
        for (size_t j = 0; j < c->n; j++)
            c->width += ((unsigned char)c->s[j] & 0xc0) != 0x80;
        start = i + 1;
    }
    size_t nblocks = 0, nopen = 0;
    for (size_t line = 0; line < ncells;) {
        size_t columns = 0;
        while (!cells[line + columns].last)
            columns++;
        nopen = columns < nopen ? columns : nopen;
        for (size_t col = 0; col < columns; col++) {
            struct cell *c = &cells[line + col];
            if (col == nopen) {
                widths[nblocks] = min_width;
                open[nopen++] = nblocks++;
            }
            c->block = open[col];
            if (c->width + PADDING > widths[c->block])
                widths[c->block] = c->width + PADDING;
        }
        line += columns + 1;
    }
    for (size_t i = 0; i < ncells; i++) {
        const struct cell *c = &cells[i];
        fwrite(c->s, 1, c->n, out);
        if (!c->last)
            fprintf(out, "%*s", (int)(widths[c->block] - c->width), "");
        else if (i + 1 < ncells)
            fputc('\n', out);
    }
    free(cells);
    free(widths);
    free(open);
}

int cli_list_begin(struct cli_list *l, const char *cmd, const char *format, const char *def,
                   json_object *header)
{
    *l = (struct cli_list){.cmd = cmd};
    if (format == NULL || *format == '\0' || strcmp(format, "table") == 0)
        format = def;
    else if (strcmp(format, "json") == 0)
        format = "{{json .}}";
    l->table = strncmp(format, "table", 5) == 0;
    /* docker's formatter.Context: "table" off, spaces around trimmed, and \t and \n
     * made a tab and a newline (for ps, images and the other list commands; inspect's
     * templates are Go's as given) */
    const char *text = format + (l->table ? 5 : 0);
    text += strspn(text, " ");
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == ' ')
        n--;
    char *t = malloc(n + 1), err[512];
    if (t == NULL)
        abort();
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        bool esc = text[i] == '\\' && i + 1 < n && (text[i + 1] == 't' || text[i + 1] == 'n');
        t[j++] = !esc ? text[i] : text[++i] == 't' ? '\t' : '\n';
    }
    t[j] = '\0';
    l->tmpl = cli_template_parse(t, err, sizeof(err));
    free(t);
    if (l->tmpl == NULL)
        return cli_usage_error("%s: --format: %s", cmd, err);
    /* the header: the template over each field's title, a map in docker (a field it
     * lacks is "<no value>"; the rows say it is wrong), and what it printed before an
     * error, as docker */
    if (l->table) {
        cli_template_exec(l->tmpl, header, CLI_TEMPLATE_HEADER, &l->out, err, sizeof(err));
        cli_template_buf_add(&l->out, "\n", 1);
    }
    return 0;
}

int cli_list_row(struct cli_list *l, json_object *row)
{
    char err[512];
    if (cli_template_exec(l->tmpl, row, CLI_TEMPLATE_STRICT, &l->out, err, sizeof(err)) < 0)
        return cli_usage_error("%s: --format: %s", l->cmd, err);
    if (!cli_template_buf_add(&l->out, "\n", 1))
        return cli_usage_error("%s: --format: more than %d bytes of output", l->cmd,
                               CLI_TEMPLATE_MAX_OUTPUT);
    return 0;
}

void cli_list_end(struct cli_list *l, FILE *out)
{
    if (out && l->table)
        cli_tabwrite(out, l->out.data ? l->out.data : "", l->out.len);
    else if (out && l->out.len)
        fwrite(l->out.data, 1, l->out.len, out);
    cli_template_buf_free(&l->out);
    cli_template_free(l->tmpl);
    l->tmpl = NULL;
}
