#include "vmm/memory.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/arch/x86_64/layout.h"

/* RAM below the MMIO hole and, for the rest, from 4 GiB, all in the one mapping `p`. */
static void layout(struct vm_memory *mem, void *p, uint64_t size)
{
    memset(mem, 0, sizeof(*mem));
    /* Guest memory must never end up in a core dump of the VMM: it is the tenant's data. */
    madvise(p, size, MADV_DONTDUMP);
    mem->host = p;
    mem->size = size;
    uint64_t low = size < X86_MMIO_HOLE_START ? size : X86_MMIO_HOLE_START;
    mem->regions[0] = (struct vm_mem_region){.gpa = 0, .size = low, .host_offset = 0};
    mem->nregions = 1;
    if (size > low) {
        mem->regions[1] = (struct vm_mem_region){
            .gpa = X86_MMIO_HOLE_END, .size = size - low, .host_offset = low};
        mem->nregions = 2;
    }
}

/* Both mappings are MAP_NORESERVE: guest RAM is overcommitted like any process's memory,
 * so a 1 GiB guest does not charge 1 GiB to the commit limit up front (with
 * vm.overcommit_memory=2 the kernel ignores the flag and charges it all; docs/memory.md).
 * Pages exist only once the guest touches them. */
int vm_memory_init(struct vm_memory *mem, uint64_t size, sm_error_t *err)
{
    memset(mem, 0, sizeof(*mem));
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return sm_error_set(err, errno, "map %llu MiB of guest memory",
                            (unsigned long long)(size >> 20));
    layout(mem, p, size);
    return 0;
}

int vm_memory_map_file(struct vm_memory *mem, int fd, uint64_t size, sm_error_t *err)
{
    memset(mem, 0, sizeof(*mem));
    /* Private and lazy: the guest reads pages from the page cache on first touch and its
     * writes go to private copies. Never MAP_POPULATE, which would copy all of it. */
    int own_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (own_fd < 0)
        return sm_error_set(err, errno, "duplicate the memory file's descriptor");
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        close(own_fd);
        return sm_error_set(err, e, "map %llu MiB of guest memory from its file",
                            (unsigned long long)(size >> 20));
    }
    layout(mem, p, size);
    mem->from_file = true;
    mem->file_fd = own_fd;
    return 0;
}

void vm_memory_release(struct vm_memory *mem)
{
    if (mem->host)
        munmap(mem->host, mem->size);
    mem->host = NULL;
    if (mem->from_file && mem->file_fd >= 0)
        close(mem->file_fd);
    mem->from_file = false;
}

void *vm_mem_ptr(const struct vm_memory *mem, uint64_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < mem->nregions; i++) {
        const struct vm_mem_region *r = &mem->regions[i];
        /* Written so that no sum can overflow with hostile gpa/len values. */
        if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
            return mem->host + r->host_offset + (gpa - r->gpa);
    }
    return NULL;
}

int vm_mem_write(const struct vm_memory *mem, uint64_t gpa, const void *src, uint64_t len)
{
    void *p = vm_mem_ptr(mem, gpa, len);
    if (p == NULL)
        return -1;
    memcpy(p, src, len);
    return 0;
}

int vm_mem_read(const struct vm_memory *mem, uint64_t gpa, void *dst, uint64_t len)
{
    void *p = vm_mem_ptr(mem, gpa, len);
    if (p == NULL)
        return -1;
    memcpy(dst, p, len);
    return 0;
}

uint64_t vm_mem_low_end(const struct vm_memory *mem)
{
    return mem->regions[0].gpa + mem->regions[0].size;
}
