/* Remembered file digests (digest_cache.h). */
#include "common/digest_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"

#define DIGEST_CACHE_FORMAT "sm-digest-v1"

/* What identifies the file's content without reading it. */
static char *identity(const struct stat *st)
{
    return xasprintf("%s %llu %llu %lld %lld.%09ld %lld.%09ld", DIGEST_CACHE_FORMAT,
                     (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
                     (long long)st->st_size, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
                     (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

static bool is_hex64(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

int sm_sha256_file_cached(const char *path, char out[65], sm_error_t *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return sm_error_set(err, errno, "%s", path);
    sm_error_t ignored = NULL;
    cleanup_free char *root = sm_store_root(&ignored);
    sm_error_release(&ignored);
    if (root == NULL)
        return sm_sha256_file(path, out, err);
    char path_hash[65];
    sm_sha256_hex(path, strlen(path), path_hash);
    cleanup_free char *dir = xasprintf("%s/cache/digests", root);
    cleanup_free char *record = xasprintf("%s/%.32s", dir, path_hash);
    cleanup_free char *id = identity(&st);
    char *text = NULL;
    size_t len = 0;
    /* "<identity> <sha256>\n" */
    if (sm_read_file(record, 512, &text, &len, &ignored) == 0) {
        size_t n = strlen(id);
        bool hit = len == n + 1 + 64 + 1 && strncmp(text, id, n) == 0 && text[n] == ' ' &&
                   is_hex64(text + n + 1) && text[n + 65] == '\n';
        if (hit) {
            memcpy(out, text + n + 1, 64);
            out[64] = '\0';
        }
        free(text);
        if (hit)
            return 0;
    }
    sm_error_release(&ignored);
    if (sm_sha256_file(path, out, err) < 0)
        return -1;
    /* The file may have changed while it was read: remember the digest only if not. */
    struct stat after;
    cleanup_free char *id_after = stat(path, &after) == 0 ? identity(&after) : NULL;
    if (id_after && strcmp(id, id_after) == 0 && sm_mkdir_p(dir, 0700, &ignored) == 0) {
        cleanup_free char *line = xasprintf("%s %s\n", id, out);
        sm_write_file_replace(record, line, strlen(line), 0600, &ignored);
    }
    sm_error_release(&ignored);
    return 0;
}
