/* Guest RAM: one host mapping split into guest-physical regions around the MMIO hole.
 * Every access on behalf of the guest goes through vm_mem_ptr(), which refuses ranges that
 * are not wholly inside one RAM region (guest-supplied addresses are hostile). */
#ifndef SM_VMM_MEMORY_H
#define SM_VMM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define VM_MEM_MAX_REGIONS 2

struct vm_mem_region {
    uint64_t gpa;
    uint64_t size;
    uint64_t host_offset; /* into vm_memory.host */
};

struct vm_memory {
    uint8_t *host;
    uint64_t size;  /* total RAM bytes */
    bool from_file; /* mapped from a snapshot's memory file (else anonymous) */
    int file_fd;    /* that file, kept open for memory_trim (valid iff from_file) */
    unsigned nregions;
    struct vm_mem_region regions[VM_MEM_MAX_REGIONS];
};

/* Maps `size` bytes of anonymous, lazily allocated memory (MAP_NORESERVE) and lays it out
 * below the MMIO hole and, for the rest, from 4 GiB. */
int vm_memory_init(struct vm_memory *mem, uint64_t size, sm_error_t *err);
/* The same layout over the first `size` bytes of the file `fd` (a snapshot's memory),
 * mapped MAP_PRIVATE | MAP_NORESERVE: pages load from the page cache on first touch, the
 * guest's writes go to private copies, the file never changes. The mapping keeps its own
 * descriptor of the file (for memory_trim); fd may be closed after. */
int vm_memory_map_file(struct vm_memory *mem, int fd, uint64_t size, sm_error_t *err);
void vm_memory_release(struct vm_memory *mem);

/* Host pointer for [gpa, gpa+len) or NULL if the range is not entirely RAM. */
void *vm_mem_ptr(const struct vm_memory *mem, uint64_t gpa, uint64_t len);
/* Copies to/from guest memory; -1 if the range is not RAM. */
int vm_mem_write(const struct vm_memory *mem, uint64_t gpa, const void *src, uint64_t len);
int vm_mem_read(const struct vm_memory *mem, uint64_t gpa, void *dst, uint64_t len);
/* Highest RAM address below 4 GiB, plus one. */
uint64_t vm_mem_low_end(const struct vm_memory *mem);

#endif
