/* Giving back the guest pages a restored VM wrote back to what its snapshot holds.
 *
 * A restored VM's RAM is the snapshot's memory file mapped copy-on-write: the first write
 * to a page makes it the VM's own. Many writes leave the page as it was (a lock taken and
 * released, a count raised and lowered, an object allocated and freed again): about 45%
 * of an idle clone's own pages were byte for byte the file's when measured
 * (docs/memory.md). Such a page can go back to the file (MADV_DONTNEED on the private
 * mapping), where it is shared with every other clone again.
 *
 * Two steps, so that the guest is paused only for the pages worth it: a scan while the
 * guest runs lists the candidates (the VMM's own copies, per /proc/self/pagemap, that hold
 * the file's bytes), then, with the vCPUs paused and the devices off guest memory, each
 * is compared again and dropped if it still matches. Nothing else may write guest memory
 * during the second step: a write between the comparison and the drop would be lost. */
#ifndef SM_VMM_MEMORY_TRIM_H
#define SM_VMM_MEMORY_TRIM_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "vmm/memory.h"

/* Bits of a /proc/PID/pagemap entry (the kernel's Documentation/admin-guide/mm/pagemap.rst),
 * shared with tests/tools/sm-guest-pages. A page present and not the file's (or shared
 * memory's) is the process's own copy. */
#define MEMORY_PAGEMAP_PRESENT        (1ull << 63)
#define MEMORY_PAGEMAP_FILE_OR_SHARED (1ull << 61)

struct memory_trim {
    int pagemap_fd;       /* /proc/self/pagemap (opened before the process is confined) */
    uint64_t *candidates; /* offsets into vm_memory.host, in the order found */
    size_t ncandidates, cap;
    uint64_t own_pages; /* the VMM's own copies of guest pages at the last scan */
    uint64_t next_page; /* where the next scan starts comparing (memory_trim.c) */
};

/* pagemap_fd: /proc/self/pagemap, owned from here on; -1 leaves trimming off. */
void memory_trim_init(struct memory_trim *t, int pagemap_fd);
/* While the guest runs: lists the pages of mem that are private copies holding the
 * file's bytes, comparing a bounded number of them per call (the next call goes on from
 * there). mem must be mapped from its file (vm_memory.from_file). */
int memory_trim_scan(struct memory_trim *t, const struct vm_memory *mem, sm_error_t *err);
/* With nothing writing guest memory: compares each listed page again and gives back
 * those that still match. Returns how many pages went back to the file. */
size_t memory_trim_drop(struct memory_trim *t, const struct vm_memory *mem);
void memory_trim_release(struct memory_trim *t);

#endif
