/* sm-guest-pages: what the guest pages a restored VM no longer shares with its snapshot
 * are used for (bench/snapshot, docs/memory.md).
 *
 *   sm-guest-pages list VMM_PID > pages        guest page numbers the VM has its own copy of
 *   sm-guest-pages sort pages KPAGEFLAGS       those pages by use, per the guest's flags
 *   sm-guest-pages same VMM_PID                how many of them hold what the file holds
 *   sm-guest-pages differ VMM_PID > pages      those of them that do not (as `list`)
 *
 * `list` reads the VMM's pagemap: in the mapping of the snapshot's memory file (guest RAM,
 * MAP_PRIVATE), a present page that is no longer the file's is one the guest wrote since
 * its restore. `sort` takes the guest's /proc/kpageflags, copied out of it (for example
 * `supermachine exec VM cat /proc/kpageflags`), and counts the listed pages by what the
 * guest kernel uses them for. The file offset is taken as the guest-physical address,
 * which holds for guest RAM below 3 GiB (the e820 hole): pages beyond it are counted as
 * such. `same` compares each such page with the file: a page written back to what the
 * snapshot holds (a page freed and zeroed again, say) need not stay the VM's own. Needs
 * root (pagemap, /proc/PID/mem, the guest's kpageflags). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/memory_trim.h"

#define PAGE          4096u
#define LOW_RAM_LIMIT (3ull << 30)

/* /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h). */
enum {
    KPF_LRU = 5,
    KPF_SLAB = 7,
    KPF_BUDDY = 10,
    KPF_ANON = 12,
    KPF_SWAPBACKED = 14,
    KPF_PGTABLE = 26,
    KPF_RESERVED = 32,
};

static int die(const char *what)
{
    fprintf(stderr, "sm-guest-pages: %s: %s\n", what, errno ? strerror(errno) : "bad input");
    return 1;
}

/* The largest mapping of a file named "memory": guest RAM restored from a snapshot
 * (its path in file, PATH_MAX bytes, if not NULL). */
static int find_ram(pid_t pid, uint64_t *start, uint64_t *end, uint64_t *offset, char *file_out)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    char line[4352];
    *start = *end = 0;
    while (fgets(line, sizeof(line), f)) {
        uint64_t s, e, off;
        char file[4096] = "";
        if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %*s %" SCNx64 " %*s %*s %4095s", &s, &e, &off,
                   file) < 3)
            continue;
        size_t n = strlen(file);
        bool named = n >= 7 && strcmp(file + n - 7, "/memory") == 0;
        if (named && e - s > *end - *start) {
            *start = s, *end = e, *offset = off;
            if (file_out)
                snprintf(file_out, 4096, "%s", file);
        }
    }
    fclose(f);
    errno = 0;
    return *end > *start ? 0 : -1;
}

/* Calls each(addr, file_page, ctx) for every page of the RAM mapping that is the
 * process's own (present, not the file's). */
static int for_each_own_page(pid_t pid, void (*each)(uint64_t addr, uint64_t page, void *ctx),
                             void *ctx, char *file)
{
    uint64_t start, end, offset = 0;
    if (find_ram(pid, &start, &end, &offset, file) < 0)
        return die("no mapping of a snapshot's memory file in that process");
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return die(path);
    uint64_t entries[512];
    for (uint64_t addr = start; addr < end;) {
        size_t want = (size_t)((end - addr) / PAGE);
        if (want > 512)
            want = 512;
        ssize_t got = pread(fd, entries, want * 8, (off_t)(addr / PAGE * 8));
        if (got <= 0 || got % 8)
            return die(path);
        for (size_t i = 0; i < (size_t)got / 8; i++) {
            uint64_t e = entries[i];
            if ((e & MEMORY_PAGEMAP_PRESENT) && !(e & MEMORY_PAGEMAP_FILE_OR_SHARED))
                each(addr + i * PAGE, (offset + addr - start) / PAGE + i, ctx);
        }
        addr += (uint64_t)got / 8 * PAGE;
    }
    close(fd);
    return 0;
}

static void print_page(uint64_t addr, uint64_t page, void *ctx)
{
    (void)addr, (void)ctx;
    printf("%" PRIu64 "\n", page);
}

struct same_count {
    int mem_fd, file_fd;
    uint64_t total, same, zero, unreadable;
    bool print_differing; /* `differ`: list the pages that do not hold the file's bytes */
};

static void compare_page(uint64_t addr, uint64_t page, void *ctx)
{
    struct same_count *c = ctx;
    static const uint8_t zeros[PAGE];
    uint8_t mine[PAGE], theirs[PAGE] = {0};
    c->total++;
    if (pread(c->mem_fd, mine, PAGE, (off_t)addr) != PAGE ||
        pread(c->file_fd, theirs, PAGE, (off_t)(page * PAGE)) < 0) {
        c->unreadable++;
        return;
    }
    /* A hole or the file's end reads short: zeros. */
    if (memcmp(mine, theirs, PAGE) == 0)
        c->same++;
    else if (c->print_differing)
        printf("%" PRIu64 "\n", page);
    else if (memcmp(mine, zeros, PAGE) == 0)
        c->zero++;
}

static int same_pages(pid_t pid, bool print_differing)
{
    char path[64], file[4096] = "";
    snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
    struct same_count c = {.mem_fd = open(path, O_RDONLY | O_CLOEXEC),
                           .print_differing = print_differing};
    if (c.mem_fd < 0)
        return die(path);
    uint64_t start, end, offset;
    if (find_ram(pid, &start, &end, &offset, file) < 0)
        return die("no mapping of a snapshot's memory file in that process");
    c.file_fd = open(file, O_RDONLY | O_CLOEXEC);
    if (c.file_fd < 0)
        return die(file);
    if (for_each_own_page(pid, compare_page, &c, NULL) != 0)
        return 1;
    if (print_differing)
        return 0;
    printf("%" PRIu64 " KiB the VM's own: %" PRIu64 " KiB the same as the snapshot's, %" PRIu64
           " KiB zero where the snapshot is not, %" PRIu64 " KiB unreadable\n",
           c.total * PAGE / 1024, c.same * PAGE / 1024, c.zero * PAGE / 1024,
           c.unreadable * PAGE / 1024);
    return 0;
}

static int sort_pages(const char *list, const char *flags_path)
{
    int fd = open(flags_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return die(flags_path);
    FILE *f = fopen(list, "re");
    if (f == NULL)
        return die(list);
    enum { RESERVED, SLAB, PGTABLE, USER, FREE, OTHER, BEYOND, NCAT };
    static const char *const names[NCAT] = {"kernel image and boot-time data",
                                            "slab",
                                            "page tables",
                                            "processes and tmpfs",
                                            "free again",
                                            "other kernel allocations",
                                            "not in the flags"};
    uint64_t count[NCAT] = {0}, total = 0, pfn;
    while (fscanf(f, "%" SCNu64, &pfn) == 1) {
        total++;
        uint64_t v;
        if (pfn >= LOW_RAM_LIMIT / PAGE || pfn >= (uint64_t)st.st_size / 8 ||
            pread(fd, &v, 8, (off_t)(pfn * 8)) != 8) {
            count[BEYOND]++;
            continue;
        }
        int c = (v >> KPF_RESERVED) & 1                                    ? RESERVED
                : (v >> KPF_SLAB) & 1                                      ? SLAB
                : (v >> KPF_PGTABLE) & 1                                   ? PGTABLE
                : (v >> KPF_LRU | v >> KPF_ANON | v >> KPF_SWAPBACKED) & 1 ? USER
                : (v >> KPF_BUDDY) & 1                                     ? FREE
                                                                           : OTHER;
        count[c]++;
    }
    fclose(f);
    close(fd);
    printf("%" PRIu64 " KiB:", total * PAGE / 1024);
    const char *sep = " ";
    for (int c = 0; c < NCAT; c++) {
        if (count[c] == 0)
            continue;
        printf("%s%s %" PRIu64 " KiB", sep, names[c], count[c] * PAGE / 1024);
        sep = ", ";
    }
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "list") == 0)
        return for_each_own_page((pid_t)atoi(argv[2]), print_page, NULL, NULL);
    if (argc == 3 && strcmp(argv[1], "same") == 0)
        return same_pages((pid_t)atoi(argv[2]), false);
    if (argc == 3 && strcmp(argv[1], "differ") == 0)
        return same_pages((pid_t)atoi(argv[2]), true);
    if (argc == 4 && strcmp(argv[1], "sort") == 0)
        return sort_pages(argv[2], argv[3]);
    fprintf(stderr,
            "usage: sm-guest-pages list VMM_PID | sort PAGES KPAGEFLAGS | same|differ VMM_PID\n");
    return 2;
}
