/* supermachine images: list the images in the store, as docker does. */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"

void cmd_images_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine images [-q] [--digests] [--no-trunc] [--format TEMPLATE]\n\n"
                 "Lists the images in the store.\n\n"
                 "  -q, --quiet         only image IDs\n"
                 "  --digests           show manifest digests\n"
                 "  --no-trunc          full image IDs\n"
                 "  --format TEMPLATE   a Go template per image, as docker's\n"
                 "                      (docs/cli-format.md), over docker's fields {{.ID}},\n"
                 "                      {{.Repository}}, {{.Tag}}, {{.Digest}},\n"
                 "                      {{.CreatedSince}}, {{.CreatedAt}} and {{.Size}}; \\t is\n"
                 "                      a tab; 'table TEMPLATE' adds a header and aligns the\n"
                 "                      columns; 'json': each image's fields as a JSON object\n");
}

/* docker's fields of a row, in the sorted order docker's {{json .}} gives them, with
 * their titles in a table. */
static const char *const fields[][2] = {
    {"CreatedAt", "CREATED AT"},
    {"CreatedSince", "CREATED"},
    {"Digest", "DIGEST"},
    {"ID", "IMAGE ID"},
    {"Repository", "REPOSITORY"},
    {"Size", "SIZE"},
    {"Tag", "TAG"},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static json_object *row(const struct sm_image_info *i, bool notrunc)
{
    char created_at[64], since[64], size[32], id[80];
    cli_local_time(i->created, created_at, sizeof(created_at));
    cli_human_age(i->created, since, sizeof(since));
    cli_human_size(i->size, size, sizeof(size));
    /* docker's: "sha256:" and all with --no-trunc, else 12 digits */
    snprintf(id, sizeof(id), "%.*s", notrunc ? 79 : 12,
             notrunc || strncmp(i->id, "sha256:", 7) != 0 ? i->id : i->id + 7);
    const char *digest = i->manifest_digest ? i->manifest_digest : "<none>";
    const char *values[NFIELDS] = {created_at, since, digest, id, i->repository, size, i->tag};
    json_object *o = json_object_new_object();
    for (size_t k = 0; k < NFIELDS; k++)
        json_object_object_add(o, fields[k][0], json_object_new_string(values[k]));
    return o;
}

int cmd_images(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"digests", no_argument, NULL, 'd'},
        {"no-trunc", no_argument, NULL, 'n'},
        {"format", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    bool quiet = false, digests = false, notrunc = false;
    const char *format = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'q':
            quiet = true;
            break;
        case 'd':
            digests = true;
            break;
        case 'n':
            notrunc = true;
            break;
        case 'F':
            format = optarg;
            break;
        default:
            return cli_option_error("images", c, argv);
        }
    }
    if (optind != argc)
        return cli_usage_error("images: filtering by name is not supported");
    /* docker's: -q prints IDs but for a format of one's own; --digests adds a DIGEST
     * column to a table that has none */
    bool custom = format && *format && strcmp(format, "table") != 0;
    quiet &= !custom;
    char *with_digest = NULL;
    if (custom && digests && strncmp(format, "table", 5) == 0 && !strstr(format, "{{.Digest}}") &&
        asprintf(&with_digest, "%s\\t{{.Digest}}", format) < 0)
        abort();
    const char *def = digests ? "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}"
                                "\t{{.CreatedSince}}\t{{.Size}}"
                              : "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}"
                                "\t{{.Size}}";
    struct cli_list list = {0};
    json_object *header = json_object_new_object();
    for (size_t k = 0; k < NFIELDS; k++)
        json_object_object_add(header, fields[k][0], json_object_new_string(fields[k][1]));
    int r = quiet
                ? 0
                : cli_list_begin(&list, "images", with_digest ? with_digest : format, def, header);
    json_object_put(header);
    free(with_digest);
    if (r != 0)
        return r;
    sm_error_t err = NULL;
    struct sm_image_info *l = NULL;
    size_t n = 0;
    if (sm_image_list(&l, &n, &err) < 0) {
        cli_list_end(&list, NULL);
        return cli_fail(&err);
    }
    for (size_t i = 0; i < n && r == 0; i++) {
        if (quiet) {
            printf("%.*s\n", notrunc ? 79 : 12, notrunc ? l[i].id : l[i].id + 7);
            continue;
        }
        json_object *o = row(&l[i], notrunc);
        r = cli_list_row(&list, o);
        json_object_put(o);
    }
    /* nothing of a list whose template failed, as docker */
    cli_list_end(&list, quiet || r != 0 ? NULL : stdout);
    sm_image_list_free(l, n);
    return r;
}
