/* -e and --env-file (commands.h): the environment a command line gives `run`, `bake`
 * and `exec`, with docker's rules, in the order given (a later K wins in the guest); and
 * --label-file, whose lines docker reads the same way. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

static void keep(struct cli_env *e, char *made)
{
    e->owned = realloc(e->owned, (e->nowned + 1) * sizeof(char *));
    if (e->owned == NULL)
        abort();
    e->owned[e->nowned++] = made;
}

void cli_env_add(struct cli_env *e, const char *arg)
{
    char *made;
    const char *kv = cli_env_arg(arg, &made);
    if (made)
        keep(e, made);
    if (kv)
        cli_push(&e->list, &e->n, kv);
}

int cli_kv_add_file(struct cli_env *e, const char *cmd, const char *option, const char *path,
                    bool env)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return cli_usage_error("%s: %s %s: %s", cmd, option, path, strerror(errno)), -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    for (unsigned lineno = 1; (len = getline(&line, &cap, f)) >= 0; lineno++) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (memchr(line, '\0', (size_t)len)) {
            rc = cli_usage_error("%s: %s %s: line %u: a NUL byte", cmd, option, path, lineno);
            break;
        }
        char *p = line;
        if (lineno == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0) /* a UTF-8 byte order mark */
            p += 3;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        size_t name_len = strcspn(p, "=");
        if (name_len == 0) {
            rc = cli_usage_error("%s: %s %s: line %u: no %s name", cmd, option, path, lineno,
                                 env ? "variable" : "label");
            break;
        }
        for (size_t i = 0; i < name_len; i++) {
            if (isspace((unsigned char)p[i])) {
                rc = cli_usage_error("%s: %s %s: line %u: %s '%.*s' contains whitespace", cmd,
                                     option, path, lineno, env ? "variable" : "label",
                                     (int)name_len, p);
                break;
            }
        }
        if (rc)
            break;
        /* The value is the rest of the line as it is: no quotes, no escapes, trailing
         * blanks kept, as docker reads it. */
        char *copy = strdup(p);
        if (copy == NULL)
            abort();
        keep(e, copy);
        if (env)
            cli_env_add(e, copy);
        else
            cli_push(&e->list, &e->n, copy);
    }
    if (rc == 0 && ferror(f))
        rc = cli_usage_error("%s: %s %s: %s", cmd, option, path, strerror(errno));
    free(line);
    fclose(f);
    return rc ? -1 : 0;
}

int cli_env_add_file(struct cli_env *e, const char *cmd, const char *path)
{
    return cli_kv_add_file(e, cmd, "--env-file", path, true);
}

void cli_env_free(struct cli_env *e)
{
    for (size_t i = 0; i < e->nowned; i++)
        free(e->owned[i]);
    free(e->owned);
    free(e->list);
    memset(e, 0, sizeof(*e));
}
