#include "vmm/arch/x86_64/boot.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "vmm/arch/x86_64/layout.h"
#include "vmm/hv/hv.h"

#define BZ_HEADER_OFFSET 0x1f1
#define BZ_MAGIC_OFFSET  0x202
#define BZ_MAGIC         0x53726448u /* "HdrS" */
#define BZ_MIN_PROTOCOL  0x020c      /* 64-bit entry point (XLF_KERNEL_64) */
#define BOOT_STACK       0x8ff0ull

/* GDT: the boot protocol's __BOOT_CS (0x10) and __BOOT_DS (0x18), and a TSS KVM needs. */
#define GDT_CODE_SEL 0x10
#define GDT_DATA_SEL 0x18
#define GDT_TSS_SEL  0x20
#define GDT_ENTRIES  5

static struct kvm_segment segment_from_gdt(uint64_t entry, uint16_t selector)
{
    uint32_t limit = (uint32_t)(((entry >> 32) & 0x000f0000u) | (entry & 0xffffu));
    uint8_t g = (entry >> 55) & 1;
    return (struct kvm_segment){
        .base = (uint32_t)(((entry >> 32) & 0xff000000u) | ((entry >> 16) & 0x00ffffffu)),
        .limit = g ? (limit << 12) | 0xfff : limit,
        .selector = selector,
        .type = (entry >> 40) & 0xf,
        .present = (entry >> 47) & 1,
        .dpl = (entry >> 45) & 3,
        .db = (entry >> 54) & 1,
        .s = (entry >> 44) & 1,
        .l = (entry >> 53) & 1,
        .g = g,
        .avl = (entry >> 52) & 1,
        .unusable = !((entry >> 47) & 1),
    };
}

static const uint64_t boot_gdt[GDT_ENTRIES] = {
    0,
    0,
    /* 0x10 */ 0x00af9b000000ffffull, /* 64-bit code, present, execute/read */
    /* 0x18 */ 0x00cf93000000ffffull, /* data, present, read/write, 4 GiB */
    /* 0x20 */ 0x00808b000000ffffull, /* 32-bit busy TSS */
};

unsigned x86_boot_e820(const struct vm_memory *mem, struct boot_e820_entry *out, unsigned max)
{
    unsigned n = 0;
#define ADD(a, s, t)                                                                               \
    do {                                                                                           \
        if (n < max)                                                                               \
            out[n++] = (struct boot_e820_entry){.addr = (a), .size = (s), .type = (t)};            \
    } while (0)
    /* Low RAM stops where the VM generation ID page and the EBDA begin. */
    ADD(0, X86_VMGENID_ADDR, 1 /* E820_RAM */);
    ADD(X86_VMGENID_ADDR, X86_LOW_RAM_END - X86_VMGENID_ADDR, 2 /* E820_RESERVED */);
    ADD(X86_ACPI_START, X86_ACPI_END - X86_ACPI_START, 2);
    uint64_t low_end = vm_mem_low_end(mem);
    if (low_end > X86_HIMEM_START)
        ADD(X86_HIMEM_START, low_end - X86_HIMEM_START, 1);
    if (mem->nregions > 1)
        ADD(mem->regions[1].gpa, mem->regions[1].size, 1);
#undef ADD
    return n;
}

static void write_page_tables(struct vm_memory *mem)
{
    /* Identity-map the first 4 GiB with 2 MiB pages: the 64-bit boot protocol needs the
     * kernel, boot_params, command line and initrd mapped 1:1. */
    uint64_t *pml4 = vm_mem_ptr(mem, X86_PML4_ADDR, 4096);
    uint64_t *pdpt = vm_mem_ptr(mem, X86_PDPT_ADDR, 4096);
    uint64_t *pd = vm_mem_ptr(mem, X86_PD_ADDR, 4 * 4096);
    memset(pml4, 0, 4096);
    memset(pdpt, 0, 4096);
    pml4[0] = X86_PDPT_ADDR | 0x3; /* present, writable */
    for (uint64_t i = 0; i < 4; i++)
        pdpt[i] = (X86_PD_ADDR + i * 4096) | 0x3;
    for (uint64_t i = 0; i < 4 * 512; i++)
        pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB page */
}

static int load_initrd(struct vm_memory *mem, const struct x86_boot_config *cfg,
                       const struct setup_header *hdr, struct x86_boot_info *info, sm_error_t *err)
{
    cleanup_close int fd = open(cfg->initrd_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sm_error_set(err, errno, "initrd %s", cfg->initrd_path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return sm_error_set(err, errno, "initrd %s", cfg->initrd_path);
    if (!S_ISREG(st.st_mode))
        return sm_error_set(err, 0, "initrd %s: not a regular file", cfg->initrd_path);
    uint64_t size = (uint64_t)st.st_size;
    uint64_t top = vm_mem_low_end(mem);
    if (hdr->initrd_addr_max && top > (uint64_t)hdr->initrd_addr_max + 1)
        top = (uint64_t)hdr->initrd_addr_max + 1;
    if (size == 0 || size > top || ((top - size) & ~0xfffull) < info->kernel_end)
        return sm_error_set(err, 0,
                            "initrd %s: %llu bytes do not fit in guest memory (%llu MiB) "
                            "beside the kernel",
                            cfg->initrd_path, (unsigned long long)size,
                            (unsigned long long)(mem->size >> 20));
    uint64_t gpa = (top - size) & ~0xfffull;
    void *dst = vm_mem_ptr(mem, gpa, size);
    if (dst == NULL || sm_read_full(fd, dst, size) != (ssize_t)size)
        return sm_error_set(err, errno, "initrd %s: read", cfg->initrd_path);
    info->initrd_gpa = gpa;
    info->initrd_size = size;
    return 0;
}

int x86_boot_load(struct vm_memory *mem, const struct x86_boot_config *cfg,
                  struct x86_boot_info *info, sm_error_t *err)
{
    memset(info, 0, sizeof(*info));
    const char *path = cfg->kernel_path;
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sm_error_set(err, errno, "kernel %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return sm_error_set(err, errno, "kernel %s", path);
    if (!S_ISREG(st.st_mode))
        return sm_error_set(err, 0, "kernel %s: not a regular file", path);
    uint64_t file_size = (uint64_t)st.st_size;

    uint8_t head[1024];
    ssize_t got = pread(fd, head, sizeof(head), 0);
    if (got < 0)
        return sm_error_set(err, errno, "kernel %s: read", path);
    if (got >= 4 && memcmp(head, "\177ELF", 4) == 0)
        return sm_error_set(err, 0, "kernel %s: ELF vmlinux is not supported, use a bzImage", path);
    uint32_t magic;
    if (got < 0x264 || (memcpy(&magic, head + BZ_MAGIC_OFFSET, 4), magic != BZ_MAGIC))
        return sm_error_set(err, 0, "kernel %s: not a Linux bzImage (no boot header)", path);

    struct boot_params *bp = vm_mem_ptr(mem, X86_ZERO_PAGE_ADDR, sizeof(*bp));
    memset(bp, 0, sizeof(*bp));
    /* The setup header ends at 0x202 + the byte at 0x201; copy no more than we know. */
    size_t hdr_len = 0x202 + head[0x201] - BZ_HEADER_OFFSET;
    if (hdr_len > sizeof(bp->hdr))
        hdr_len = sizeof(bp->hdr);
    memcpy(&bp->hdr, head + BZ_HEADER_OFFSET, hdr_len);
    struct setup_header *hdr = &bp->hdr;
    info->protocol = hdr->version;
    if (hdr->version < BZ_MIN_PROTOCOL || !(hdr->xloadflags & XLF_KERNEL_64))
        return sm_error_set(err, 0,
                            "kernel %s: boot protocol %u.%02u has no 64-bit entry point "
                            "(need 2.12)",
                            path, hdr->version >> 8, hdr->version & 0xff);
    if (!(hdr->loadflags & LOADED_HIGH))
        return sm_error_set(err, 0, "kernel %s: not a bzImage (zImage loaded low)", path);

    unsigned setup_sects = hdr->setup_sects ? hdr->setup_sects : 4;
    uint64_t payload_off = (uint64_t)(setup_sects + 1) * 512;
    uint64_t payload_len = (uint64_t)hdr->syssize * 16;
    if (payload_off >= file_size || payload_len == 0 || payload_len > file_size - payload_off)
        return sm_error_set(err, 0, "kernel %s: truncated (%llu bytes, header says %llu)", path,
                            (unsigned long long)file_size,
                            (unsigned long long)(payload_off + payload_len));
    /* Load the whole rest of the file: syssize is rounded, and the payload may carry data
     * past it that the decompressor expects. */
    payload_len = file_size - payload_off;
    uint64_t need = hdr->init_size > payload_len ? hdr->init_size : payload_len;
    info->kernel_end = X86_HIMEM_START + ((need + 0xfff) & ~0xfffull);
    void *dst = vm_mem_ptr(mem, X86_HIMEM_START, need);
    if (dst == NULL)
        return sm_error_set(err, 0, "kernel %s: needs %llu MiB, more than guest memory", path,
                            (unsigned long long)(info->kernel_end >> 20) + 1);
    if (pread(fd, dst, payload_len, (off_t)payload_off) != (ssize_t)payload_len)
        return sm_error_set(err, errno, "kernel %s: read", path);
    info->entry = X86_HIMEM_START + 0x200; /* startup_64 */
    info->zero_page = X86_ZERO_PAGE_ADDR;

    size_t cmdlen = strlen(cfg->cmdline);
    uint64_t cmd_max = hdr->cmdline_size ? hdr->cmdline_size : 255;
    if (cmd_max > X86_CMDLINE_MAX - 1)
        cmd_max = X86_CMDLINE_MAX - 1;
    if (cmdlen > cmd_max)
        return sm_error_set(err, 0, "kernel command line too long (%zu bytes, at most %llu)",
                            cmdlen, (unsigned long long)cmd_max);
    vm_mem_write(mem, X86_CMDLINE_ADDR, cfg->cmdline, cmdlen + 1);

    if (cfg->initrd_path && load_initrd(mem, cfg, hdr, info, err) < 0)
        return -1;

    hdr->type_of_loader = 0xff;
    hdr->loadflags |= CAN_USE_HEAP;
    hdr->heap_end_ptr = 0xfe00;
    hdr->cmd_line_ptr = (uint32_t)X86_CMDLINE_ADDR;
    hdr->vid_mode = 0xffff; /* "normal" */
    hdr->ramdisk_image = (uint32_t)info->initrd_gpa;
    hdr->ramdisk_size = (uint32_t)info->initrd_size;
    bp->ext_ramdisk_image = (uint32_t)(info->initrd_gpa >> 32);
    bp->ext_ramdisk_size = (uint32_t)(info->initrd_size >> 32);
    if (hdr->version >= 0x020e)
        bp->acpi_rsdp_addr = cfg->rsdp_gpa;
    bp->e820_entries = (uint8_t)x86_boot_e820(mem, bp->e820_table, E820_MAX_ENTRIES_ZEROPAGE);

    write_page_tables(mem);
    vm_mem_write(mem, X86_GDT_ADDR, boot_gdt, sizeof(boot_gdt));
    return 0;
}

int x86_boot_setup_bsp(struct hv_vcpu *vcpu, const struct x86_boot_info *info, sm_error_t *err)
{
    struct kvm_sregs sregs;
    if (hv_x86_get_sregs(vcpu, &sregs, err) < 0)
        return -1;
    struct kvm_segment code = segment_from_gdt(boot_gdt[2], GDT_CODE_SEL);
    struct kvm_segment data = segment_from_gdt(boot_gdt[3], GDT_DATA_SEL);
    sregs.cs = code;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.tr = segment_from_gdt(boot_gdt[4], GDT_TSS_SEL);
    sregs.gdt.base = X86_GDT_ADDR;
    sregs.gdt.limit = sizeof(boot_gdt) - 1;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cr3 = X86_PML4_ADDR;
    sregs.cr4 |= 0x20;              /* PAE */
    sregs.cr0 |= 0x1 | 0x80000000u; /* PE, PG */
    sregs.efer |= 0x100 | 0x400;    /* LME, LMA */
    if (hv_x86_set_sregs(vcpu, &sregs, err) < 0)
        return -1;

    struct kvm_regs regs = {
        .rip = info->entry,
        .rsi = info->zero_page,
        .rsp = BOOT_STACK,
        .rbp = BOOT_STACK,
        .rflags = 0x2,
    };
    if (hv_x86_set_regs(vcpu, &regs, err) < 0)
        return -1;
    struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};
    return hv_x86_set_fpu(vcpu, &fpu, err);
}
