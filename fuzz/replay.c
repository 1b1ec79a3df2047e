/* Replays a fuzz target's committed inputs (fuzz/corpus/<name>/: the seeds and every crash
 * found, kept as regress-*) as a unit test, in every build: built with the target's file
 * and no libFuzzer, so the sanitizer build runs them under ASan and UBSan as well. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    struct dirent **names;
    int n = scandir(argv[1], &names, NULL, alphasort);
    if (n < 0) {
        perror(argv[1]);
        return 1;
    }
    int replayed = 0;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char *path = xasprintf("%s/%s", argv[1], names[i]->d_name);
            char *data = NULL;
            size_t len = 0;
            if (sm_read_file(path, 64u << 20, &data, &len, NULL) < 0) {
                fprintf(stderr, "%s: cannot read\n", path);
                return 1;
            }
            /* An exact-size copy: reads past the input's end are caught. */
            uint8_t *copy = xmalloc(len ? len : 1);
            memcpy(copy, data, len);
            LLVMFuzzerTestOneInput(copy, len);
            free(copy);
            free(data);
            free(path);
            replayed++;
        }
        free(names[i]);
    }
    free(names);
    printf("%d inputs replayed from %s\n", replayed, argv[1]);
    return replayed > 0 ? 0 : 1;
}
