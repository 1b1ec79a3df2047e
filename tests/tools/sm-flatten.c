/* Test-only tool: flattens an OCI image layout directory (as `umoci` or
 * `skopeo copy ... oci:DIR:TAG` write it), or raw layer blobs, into an EROFS image or a
 * tar, through the library's flattening code. Timing and sizes go to stderr with -v.
 *
 *   sm-flatten [-t TAG] [--max-bytes N] [--max-entries N] [-v] (--erofs OUT | --tar OUT|-)
 *              (LAYOUT_DIR | --layer BLOB...)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "oci/flatten.h"

static json_object *read_json(const char *dir, const char *rel, sm_error_t *err)
{
    cleanup_free char *path = xasprintf("%s/%s", dir, rel);
    cleanup_free char *data = NULL;
    size_t len;
    if (sm_read_file(path, 64 << 20, &data, &len, err) < 0)
        return NULL;
    json_object *j = json_tokener_parse(data);
    if (!j)
        sm_error_set(err, 0, "%s: bad JSON", path);
    return j;
}

static const char *jstr(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static char *blob_rel(const char *digest)
{
    const char *colon = digest ? strchr(digest, ':') : NULL;
    if (!colon || strchr(colon + 1, '/') || strstr(digest, ".."))
        return NULL;
    return xasprintf("blobs/%.*s/%s", (int)(colon - digest), digest, colon + 1);
}

/* Fills layers/paths from the layout's manifest for `tag` (NULL: the only one). */
static int read_layout(const char *dir, const char *tag, struct oci_layer_desc **layers_out,
                       size_t *n_out, json_object **keep, sm_error_t *err)
{
    json_object *index = read_json(dir, "index.json", err);
    if (!index)
        return -1;
    json_object *mans, *chosen = NULL;
    if (!json_object_object_get_ex(index, "manifests", &mans) ||
        !json_object_is_type(mans, json_type_array))
        return sm_error_set(err, 0, "%s/index.json: no manifests", dir);
    size_t nm = json_object_array_length(mans);
    for (size_t i = 0; i < nm; i++) {
        json_object *m = json_object_array_get_idx(mans, i), *ann;
        const char *name = NULL;
        if (json_object_object_get_ex(m, "annotations", &ann))
            name = jstr(ann, "org.opencontainers.image.ref.name");
        if (!tag ? nm == 1 : (name && !strcmp(name, tag)))
            chosen = m;
    }
    if (!chosen)
        return sm_error_set(err, 0, "%s: no manifest for tag %s", dir, tag ? tag : "(only one)");
    cleanup_free char *mrel = blob_rel(jstr(chosen, "digest"));
    if (!mrel)
        return sm_error_set(err, 0, "%s: bad manifest digest", dir);
    json_object *manifest = read_json(dir, mrel, err);
    if (!manifest)
        return -1;
    json_object *cfgd, *layers;
    if (!json_object_object_get_ex(manifest, "config", &cfgd) ||
        !json_object_object_get_ex(manifest, "layers", &layers) ||
        !json_object_is_type(layers, json_type_array))
        return sm_error_set(err, 0, "%s: manifest without config or layers", dir);
    cleanup_free char *crel = blob_rel(jstr(cfgd, "digest"));
    json_object *config = crel ? read_json(dir, crel, err) : NULL;
    if (!config)
        return crel ? -1 : sm_error_set(err, 0, "%s: bad config digest", dir);
    json_object *rootfs, *diff_ids;
    if (!json_object_object_get_ex(config, "rootfs", &rootfs) ||
        !json_object_object_get_ex(rootfs, "diff_ids", &diff_ids) ||
        json_object_array_length(diff_ids) != json_object_array_length(layers))
        return sm_error_set(err, 0, "%s: config diff_ids do not match the layers", dir);
    size_t n = json_object_array_length(layers);
    struct oci_layer_desc *l = xcalloc(n ? n : 1, sizeof(*l));
    for (size_t i = 0; i < n; i++) {
        json_object *d = json_object_array_get_idx(layers, i);
        char *rel = blob_rel(jstr(d, "digest"));
        if (!rel)
            return sm_error_set(err, 0, "%s: bad layer digest", dir);
        l[i].blob_path = xasprintf("%s/%s", dir, rel);
        free(rel);
        l[i].media_type = jstr(d, "mediaType");
        l[i].diff_id = json_object_get_string(json_object_array_get_idx(diff_ids, i));
    }
    keep[0] = index;
    keep[1] = manifest;
    keep[2] = config;
    *layers_out = l;
    *n_out = n;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: sm-flatten [-t TAG] [--max-bytes N] [--max-entries N] [-v] "
                    "(--erofs OUT | --tar OUT|-) (LAYOUT_DIR | --layer BLOB...)\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tag", required_argument, 0, 't'},       {"erofs", required_argument, 0, 'e'},
        {"tar", required_argument, 0, 'o'},       {"layer", no_argument, 0, 'l'},
        {"max-bytes", required_argument, 0, 'B'}, {"max-entries", required_argument, 0, 'N'},
        {"verbose", no_argument, 0, 'v'},         {0, 0, 0, 0},
    };
    const char *tag = NULL, *erofs = NULL, *tar = NULL;
    bool raw = false, verbose = false;
    struct oci_flatten_limits limits = {0};
    int c;
    while ((c = getopt_long(argc, argv, "t:e:o:lB:N:v", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            tag = optarg;
            break;
        case 'e':
            erofs = optarg;
            break;
        case 'o':
            tar = optarg;
            break;
        case 'l':
            raw = true;
            break;
        case 'B':
            limits.max_total_bytes = strtoull(optarg, NULL, 0);
            break;
        case 'N':
            limits.max_entries = strtoull(optarg, NULL, 0);
            break;
        case 'v':
            verbose = true;
            break;
        default:
            usage();
            return 2;
        }
    }
    if ((!erofs && !tar) || optind >= argc || (!raw && argc - optind != 1)) {
        usage();
        return 2;
    }
    sm_error_t err = NULL;
    struct oci_layer_desc *layers = NULL;
    size_t n = 0;
    json_object *keep[3] = {0};
    if (raw) {
        n = (size_t)(argc - optind);
        layers = xcalloc(n, sizeof(*layers));
        for (size_t i = 0; i < n; i++)
            layers[i].blob_path = argv[optind + (int)i];
    } else if (read_layout(argv[optind], tag, &layers, &n, keep, &err) < 0) {
        goto fail;
    }
    uint64_t t0 = sm_now_ns();
    struct fs_tree *t;
    if (oci_flatten_layers_ex(layers, n, &limits, &t, &err) < 0)
        goto fail;
    uint64_t t1 = sm_now_ns();
    if (erofs && erofs_write_image(t, erofs, &err) < 0)
        goto fail;
    uint64_t t2 = sm_now_ns();
    if (tar) {
        int fd = strcmp(tar, "-") ? open(tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : 1;
        if (fd < 0) {
            sm_error_set(&err, errno, "open %s", tar);
            goto fail;
        }
        if (fs_tree_export_tar(t, fd, &err) < 0)
            goto fail;
        if (fd != 1)
            close(fd);
    }
    uint64_t t3 = sm_now_ns();
    if (verbose) {
        struct fs_tree_stats st;
        fs_tree_get_stats(t, &st);
        struct stat sb;
        long long img = erofs && stat(erofs, &sb) == 0 ? (long long)sb.st_size : -1;
        fprintf(stderr,
                "layers=%zu inodes=%llu entries=%llu data_bytes=%llu tar_bytes=%llu "
                "flatten_ms=%.1f erofs_ms=%.1f tar_ms=%.1f erofs_bytes=%lld\n",
                n, (unsigned long long)st.inodes, (unsigned long long)st.entries,
                (unsigned long long)st.data_bytes, (unsigned long long)st.tar_bytes,
                (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, (double)(t3 - t2) / 1e6, img);
    }
    fs_tree_free(t);
    return 0;
fail:
    fprintf(stderr, "sm-flatten: %s\n", sm_error_message(err));
    sm_error_release(&err);
    return 1;
}
