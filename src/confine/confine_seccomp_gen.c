/* Build-time generator: compiles the VMM's seccomp rules (confine_seccomp_rules.c) with
 * libseccomp for the build's architecture and writes them as C arrays of BPF instructions
 * (confine_filters.h, included by confine.c), which the VMM installs with seccomp(2).
 * Usage: confine_seccomp_gen OUTPUT */
#include <errno.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "confine/confine_seccomp_rules.h"

static const struct {
    const char *name;
    bool process_wide;
    enum confine_role role;
} filters[] = {
    {"process", true, CONFINE_MAIN}, {"main", false, CONFINE_MAIN},
    {"vcpu", false, CONFINE_VCPU},   {"devices", false, CONFINE_DEVICES},
    {"net", false, CONFINE_NET},
};

static int emit(FILE *out, const char *name, bool process_wide, enum confine_role role)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    if (ctx == NULL)
        return -ENOMEM;
    int r = confine_seccomp_rules(ctx, process_wide, role);
    int fd = r == 0 ? memfd_create("filter", MFD_CLOEXEC) : -1;
    if (r == 0 && fd < 0)
        r = -errno;
    if (r == 0)
        r = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    if (r < 0) {
        if (fd >= 0)
            close(fd);
        return r;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
        size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
        close(fd);
        return -EINVAL;
    }
    struct sock_filter *insns = malloc((size_t)size);
    if (insns == NULL || pread(fd, insns, (size_t)size, 0) != size) {
        free(insns);
        close(fd);
        return -EIO;
    }
    close(fd);
    size_t n = (size_t)size / sizeof(*insns);
    fprintf(out, "static const struct sock_filter confine_filter_%s[%zu] = {\n", name, n);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "    {0x%04x, %u, %u, 0x%08x},\n", insns[i].code, insns[i].jt, insns[i].jf,
                insns[i].k);
    fprintf(out, "};\n\n");
    free(insns);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: confine_seccomp_gen OUTPUT\n");
        return 2;
    }
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp", argv[1]) < 0)
        return 1;
    FILE *out = fopen(tmp, "w");
    if (out == NULL) {
        fprintf(stderr, "confine_seccomp_gen: %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    fprintf(out,
            "/* Generated at build time by confine_seccomp_gen from "
            "confine_seccomp_rules.c (libseccomp %u.%u.%u): do not edit. */\n\n",
            seccomp_version()->major, seccomp_version()->minor, seccomp_version()->micro);
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        int r = emit(out, filters[i].name, filters[i].process_wide, filters[i].role);
        if (r < 0) {
            fprintf(stderr, "confine_seccomp_gen: filter %s: %s\n", filters[i].name, strerror(-r));
            fclose(out);
            unlink(tmp);
            return 1;
        }
    }
    if (fclose(out) != 0 || rename(tmp, argv[1]) != 0) {
        fprintf(stderr, "confine_seccomp_gen: %s: %s\n", argv[1], strerror(errno));
        unlink(tmp);
        return 1;
    }
    free(tmp);
    return 0;
}
