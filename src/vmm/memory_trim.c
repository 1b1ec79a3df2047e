#include "vmm/memory_trim.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"

#define TRIM_PAGE 4096u
/* Entries read at once: 4 KiB of stack for 2 MiB of guest RAM (a static or heap buffer
 * would itself be memory every clone keeps). */
#define PAGEMAP_BATCH 512u
/* 128 MiB of comparisons per scan at most: tens of milliseconds on hardware. */
#define TRIM_COMPARE_MAX 32768u

void memory_trim_init(struct memory_trim *t, int pagemap_fd)
{
    memset(t, 0, sizeof(*t));
    t->pagemap_fd = pagemap_fd;
}

void memory_trim_release(struct memory_trim *t)
{
    if (t->pagemap_fd >= 0)
        close(t->pagemap_fd);
    free(t->candidates);
    memset(t, 0, sizeof(*t));
    t->pagemap_fd = -1;
}

/* Whether the page at offset off of guest RAM holds what the file holds there. The file
 * is as long as the mapping; a short read (it cannot be, but the file is not ours to
 * trust further than that) counts as a mismatch. */
static bool same_as_file(const struct vm_memory *mem, uint64_t off, uint8_t *buf)
{
    ssize_t got = pread(mem->file_fd, buf, TRIM_PAGE, (off_t)off);
    return got == TRIM_PAGE && memcmp(mem->host + off, buf, TRIM_PAGE) == 0;
}

static void add_candidate(struct memory_trim *t, uint64_t off)
{
    if (t->ncandidates == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->candidates = xrealloc(t->candidates, t->cap * sizeof(*t->candidates));
    }
    t->candidates[t->ncandidates++] = off;
}

/* Reads pagemap for pages [from, to) of mem, counts the VMM's own copies and compares
 * them with the file while *budget lasts; t->next_page is where comparing stopped. */
static int scan_range(struct memory_trim *t, const struct vm_memory *mem, uint64_t from,
                      uint64_t to, uint64_t *budget, sm_error_t *err)
{
    uint64_t entries[PAGEMAP_BATCH];
    uint8_t file_page[TRIM_PAGE];
    uint64_t first = (uint64_t)(uintptr_t)mem->host / TRIM_PAGE;
    for (uint64_t page = from; page < to;) {
        uint64_t want = to - page < PAGEMAP_BATCH ? to - page : PAGEMAP_BATCH;
        ssize_t got = pread(t->pagemap_fd, entries, want * sizeof(uint64_t),
                            (off_t)((first + page) * sizeof(uint64_t)));
        if (got <= 0 || got % sizeof(uint64_t))
            return sm_error_set(err, got < 0 ? errno : EIO, "read /proc/self/pagemap");
        uint64_t n = (uint64_t)got / sizeof(uint64_t);
        for (uint64_t i = 0; i < n; i++) {
            /* Present and not the file's page: a copy of our own. A swapped-out copy is
             * left alone (comparing it would read it back in). */
            if ((entries[i] & (MEMORY_PAGEMAP_PRESENT | MEMORY_PAGEMAP_FILE_OR_SHARED)) !=
                MEMORY_PAGEMAP_PRESENT)
                continue;
            t->own_pages++;
            if (*budget == 0)
                continue;
            if (--*budget == 0)
                t->next_page = page + i + 1;
            uint64_t off = (page + i) * TRIM_PAGE;
            if (same_as_file(mem, off, file_page))
                add_candidate(t, off);
        }
        page += n;
    }
    return 0;
}

int memory_trim_scan(struct memory_trim *t, const struct vm_memory *mem, sm_error_t *err)
{
    t->ncandidates = 0;
    t->own_pages = 0;
    if (t->pagemap_fd < 0 || !mem->from_file)
        return 0;
    /* Each comparison reads a page of the file: a guest with gigabytes of its own pages
     * has at most TRIM_COMPARE_MAX of them compared per scan, the next scan going on
     * from where this one stopped. */
    uint64_t npages = mem->size / TRIM_PAGE;
    uint64_t start = t->next_page < npages ? t->next_page : 0;
    uint64_t budget = TRIM_COMPARE_MAX;
    t->next_page = 0;
    if (scan_range(t, mem, start, npages, &budget, err) < 0 ||
        scan_range(t, mem, 0, start, &budget, err) < 0)
        return -1;
    return 0;
}

size_t memory_trim_drop(struct memory_trim *t, const struct vm_memory *mem)
{
    uint8_t file_page[TRIM_PAGE];
    size_t dropped = 0;
    /* Runs of adjacent pages go back in one call. */
    uint64_t run_start = 0, run_len = 0;
    for (size_t i = 0; i <= t->ncandidates; i++) {
        bool take = i < t->ncandidates && same_as_file(mem, t->candidates[i], file_page);
        if (take && run_len && t->candidates[i] == run_start + run_len) {
            run_len += TRIM_PAGE;
            continue;
        }
        if (run_len && madvise(mem->host + run_start, run_len, MADV_DONTNEED) == 0)
            dropped += run_len / TRIM_PAGE;
        run_len = 0;
        if (take) {
            run_start = t->candidates[i];
            run_len = TRIM_PAGE;
        }
    }
    t->ncandidates = 0;
    return dropped;
}
