/* x86 platform pieces that need no KVM: e820, kernel loading, CPUID filtering, guest
 * memory bounds. */
#include <asm/bootparam.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "common/util.h"
#include "vmm/arch/x86_64/boot.h"
#include "vmm/arch/x86_64/cpu.h"
#include "vmm/arch/x86_64/layout.h"
#include "vmm/memory.h"

static void test_memory_bounds(void)
{
    struct vm_memory mem;
    sm_error_t err = NULL;
    CHECK(vm_memory_init(&mem, 64ull << 20, &err) == 0);
    CHECK(vm_mem_ptr(&mem, 0, 64ull << 20) == mem.host);
    CHECK(vm_mem_ptr(&mem, (64ull << 20) - 8, 8) != NULL);
    CHECK(vm_mem_ptr(&mem, (64ull << 20) - 8, 9) == NULL);
    CHECK(vm_mem_ptr(&mem, 64ull << 20, 1) == NULL);
    CHECK(vm_mem_ptr(&mem, UINT64_MAX, 2) == NULL);
    CHECK(vm_mem_ptr(&mem, 16, UINT64_MAX) == NULL);
    CHECK(vm_mem_ptr(&mem, UINT64_MAX - 4, 8) == NULL);
    vm_memory_release(&mem);
    /* 4 GiB: RAM below the MMIO hole, the rest from 4 GiB. */
    CHECK(vm_memory_init(&mem, 4ull << 30, &err) == 0);
    CHECK(mem.nregions == 2);
    CHECK_EQ_U64(mem.regions[0].size, X86_MMIO_HOLE_START);
    CHECK_EQ_U64(mem.regions[1].gpa, 1ull << 32);
    CHECK_EQ_U64(mem.regions[1].size, (4ull << 30) - X86_MMIO_HOLE_START);
    CHECK(vm_mem_ptr(&mem, X86_MMIO_HOLE_START, 1) == NULL);
    CHECK(vm_mem_ptr(&mem, X86_MMIO_HOLE_START - 4, 8) == NULL); /* spans into the hole */
    CHECK(vm_mem_ptr(&mem, 1ull << 32, 4096) == mem.host + X86_MMIO_HOLE_START);
    struct boot_e820_entry e[8];
    unsigned n = x86_boot_e820(&mem, e, 8);
    CHECK(n == 5);
    CHECK(e[0].addr == 0 && e[0].size == X86_VMGENID_ADDR && e[0].type == 1);
    CHECK(e[1].type == 2 && e[2].addr == X86_ACPI_START && e[2].type == 2);
    CHECK(e[3].addr == X86_HIMEM_START && e[3].addr + e[3].size == X86_MMIO_HOLE_START);
    CHECK(e[4].addr == 1ull << 32 && e[4].type == 1);
    vm_memory_release(&mem);
}

/* A minimal well-formed bzImage: header plus a small payload. */
static void write_fake_kernel(const char *path, uint16_t version, uint32_t syssize,
                              size_t file_size)
{
    uint8_t *b = xcalloc(1, file_size);
    b[0x1f1] = 4;
    b[0x201] = 0x6a;
    memcpy(b + 0x202, "HdrS", 4);
    memcpy(b + 0x206, &version, 2);
    b[0x211] = LOADED_HIGH;
    memcpy(b + 0x1f4, &syssize, 4);
    uint16_t xl = XLF_KERNEL_64;
    memcpy(b + 0x236, &xl, 2);
    uint32_t cmdline_size = 2047;
    memcpy(b + 0x238, &cmdline_size, 4);
    uint32_t initrd_max = 0x7fffffff;
    memcpy(b + 0x22c, &initrd_max, 4);
    for (size_t i = 5 * 512; i < file_size; i++)
        b[i] = (uint8_t)i;
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, file_size, f);
    fclose(f);
    free(b);
}

/* The VmFlags of the mapping that starts at addr, from /proc/self/smaps ("" if none). */
static void vma_flags(const void *addr, char *out, size_t n)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    bool ours = false;
    out[0] = '\0';
    while (f && fgets(line, sizeof(line), f)) {
        unsigned long start;
        char dash;
        if (sscanf(line, "%lx%c", &start, &dash) == 2 && dash == '-')
            ours = start == (unsigned long)addr;
        else if (ours && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(out, n, "%s", line + 8);
            break;
        }
    }
    if (f)
        fclose(f);
}

static bool has_flag(const char *flags, const char *flag)
{
    char want[8];
    snprintf(want, sizeof(want), " %s ", flag);
    char padded[512];
    snprintf(padded, sizeof(padded), " %s", flags);
    padded[strcspn(padded, "\n")] = ' ';
    return strstr(padded, want) != NULL;
}

/* Guest RAM, booted or restored, is mapped without a commit charge (VmFlags "nr": no swap
 * reserved), lazily, and out of core dumps ("dd"); a restored VM's writes stay private. */
static void test_memory_noreserve(void)
{
    char mode[8] = "";
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    if (f) {
        if (fgets(mode, sizeof(mode), f) == NULL)
            mode[0] = '\0';
        fclose(f);
    }
    if (mode[0] == '2') {
        /* Strict accounting: the kernel ignores MAP_NORESERVE (docs/memory.md). */
        printf("x86: vm.overcommit_memory=2, MAP_NORESERVE checks skipped\n");
        return;
    }
    struct vm_memory mem;
    sm_error_t err = NULL;
    char flags[512];
    CHECK(vm_memory_init(&mem, 1ull << 30, &err) == 0);
    vma_flags(mem.host, flags, sizeof(flags));
    CHECK(has_flag(flags, "nr"));
    CHECK(has_flag(flags, "dd"));
    vm_memory_release(&mem);

    char path[] = "/tmp/sm-test-memory-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    CHECK(ftruncate(fd, 1ll << 30) == 0);
    CHECK(pwrite(fd, "snapshot", 8, 4096) == 8);
    CHECK(vm_memory_map_file(&mem, fd, 1ull << 30, &err) == 0);
    vma_flags(mem.host, flags, sizeof(flags));
    CHECK(has_flag(flags, "nr"));
    CHECK(has_flag(flags, "dd"));
    CHECK(!has_flag(flags, "sh")); /* private: the guest's writes never reach the file */
    CHECK(mem.nregions == 1 && mem.size == 1ull << 30);
    CHECK(memcmp(vm_mem_ptr(&mem, 4096, 8), "snapshot", 8) == 0);
    CHECK(vm_mem_write(&mem, 4096, "guest!!!", 8) == 0);
    char back[8] = "";
    CHECK(pread(fd, back, 8, 4096) == 8 && memcmp(back, "snapshot", 8) == 0);
    vm_memory_release(&mem);
    close(fd);
}

static void test_boot_load(void)
{
    char dir[] = "/tmp/sm-x86-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    cleanup_free char *kernel = xasprintf("%s/k", dir);
    cleanup_free char *initrd = xasprintf("%s/i", dir);
    write_fake_kernel(kernel, 0x020f, 16, 8192);
    FILE *f = fopen(initrd, "wb");
    for (int i = 0; i < 10000; i++)
        fputc(i & 0xff, f);
    fclose(f);

    struct vm_memory mem;
    sm_error_t err = NULL;
    CHECK(vm_memory_init(&mem, 64ull << 20, &err) == 0);
    struct x86_boot_config cfg = {kernel, initrd, "console=ttyS0 hello", 0xe0000};
    struct x86_boot_info info;
    CHECK(x86_boot_load(&mem, &cfg, &info, &err) == 0);
    CHECK_EQ_U64(info.entry, X86_HIMEM_START + 0x200);
    struct boot_params *bp = vm_mem_ptr(&mem, X86_ZERO_PAGE_ADDR, sizeof(*bp));
    CHECK_STR((char *)vm_mem_ptr(&mem, X86_CMDLINE_ADDR, 1), "console=ttyS0 hello");
    CHECK_EQ_U64(bp->hdr.cmd_line_ptr, X86_CMDLINE_ADDR);
    CHECK_EQ_U64(bp->hdr.ramdisk_size, 10000);
    CHECK(bp->hdr.ramdisk_image % 4096 == 0);
    CHECK(bp->hdr.ramdisk_image + 10000 <= 64ull << 20);
    CHECK(bp->hdr.type_of_loader == 0xff);
    CHECK_EQ_U64(bp->acpi_rsdp_addr, 0xe0000);
    CHECK(bp->e820_entries == 4);
    uint8_t *payload = vm_mem_ptr(&mem, X86_HIMEM_START, 16);
    CHECK(payload[0] == (uint8_t)(5 * 512) && payload[1] == (uint8_t)(5 * 512 + 1));
    /* The identity map: PML4 -> PDPT -> 2 MiB pages. */
    uint64_t *pd = vm_mem_ptr(&mem, X86_PD_ADDR, 8 * 2048);
    CHECK_EQ_U64(pd[1], (1ull << 21) | 0x83);
    CHECK_EQ_U64(pd[2047], (2047ull << 21) | 0x83);

    /* Command line longer than the kernel takes. */
    char *long_cmd = xmalloc(3000);
    memset(long_cmd, 'a', 2999);
    long_cmd[2999] = '\0';
    struct x86_boot_config c2 = {kernel, NULL, long_cmd, 0};
    CHECK(x86_boot_load(&mem, &c2, &info, &err) < 0);
    CHECK(strstr(sm_error_message(err), "command line too long") != NULL);
    sm_error_release(&err);
    free(long_cmd);

    /* Too old a boot protocol; truncated payload. */
    write_fake_kernel(kernel, 0x0206, 16, 8192);
    struct x86_boot_config c3 = {kernel, NULL, "", 0};
    CHECK(x86_boot_load(&mem, &c3, &info, &err) < 0);
    CHECK(strstr(sm_error_message(err), "no 64-bit entry point") != NULL);
    sm_error_release(&err);
    write_fake_kernel(kernel, 0x020f, 100000, 8192);
    CHECK(x86_boot_load(&mem, &c3, &info, &err) < 0);
    CHECK(strstr(sm_error_message(err), "truncated") != NULL);
    sm_error_release(&err);
    vm_memory_release(&mem);
    cleanup_free char *cmd = xasprintf("rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static struct kvm_cpuid2 *table(unsigned n)
{
    struct kvm_cpuid2 *c = xcalloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
    c->nent = n;
    return c;
}

static void test_cpuid(void)
{
    struct kvm_cpuid2 *host = table(7);
    host->entries[0] = (struct kvm_cpuid_entry2){.function = 1, .ebx = 0x07000800u | (5u << 24)};
    host->entries[1] = (struct kvm_cpuid_entry2){
        .function = 0xb, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .edx = 9};
    host->entries[2] = (struct kvm_cpuid_entry2){
        .function = 0xb, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .edx = 9};
    host->entries[3] = (struct kvm_cpuid_entry2){.function = 0x80000007, .edx = 0x100};
    host->entries[4] = (struct kvm_cpuid_entry2){.function = 0x8000001e, .eax = 5};
    host->entries[5] = (struct kvm_cpuid_entry2){.function = 0x80000001, .ecx = (1u << 22) | 2 | 1};
    host->entries[6] = (struct kvm_cpuid_entry2){.function = 0xa, .eax = 0x07300805};

    struct kvm_cpuid2 *g = x86_cpuid_for_vcpu(host, 2, 4);
    CHECK(g->nent == 6); /* 0x8000001e dropped */
    struct kvm_cpuid_entry2 *e = x86_cpuid_find(g, 1, 0);
    CHECK(e && (e->ebx >> 24) == 2 && ((e->ebx >> 16) & 0xff) == 4);
    CHECK(e && (e->ebx & 0xffff) == 0x0800);
    CHECK(e && (e->ecx & (1u << 31)) && (e->edx & (1u << 28)));
    e = x86_cpuid_find(g, 0xb, 0);
    CHECK(e && e->edx == 2 && e->ebx == 1 && e->ecx == 0x100);
    e = x86_cpuid_find(g, 0xb, 1);
    CHECK(e && e->edx == 2 && e->eax == 2 && e->ebx == 4 && e->ecx == 0x201);
    e = x86_cpuid_find(g, 0x80000007, 0);
    CHECK(e && e->edx == 0);
    e = x86_cpuid_find(g, 0x80000001, 0);
    CHECK(e && e->ecx == 1);
    e = x86_cpuid_find(g, 0xa, 0);
    CHECK(e && e->eax == 0);
    CHECK(x86_cpuid_find(g, 0x8000001e, 0) == NULL);
    free(g);
    /* One vCPU: no HTT. */
    g = x86_cpuid_for_vcpu(host, 0, 1);
    e = x86_cpuid_find(g, 1, 0);
    CHECK(e && !(e->edx & (1u << 28)) && (e->ebx >> 24) == 0);
    free(g);
    free(host);
}

int main(void)
{
    test_memory_bounds();
    test_memory_noreserve();
    test_boot_load();
    test_cpuid();
    return check_summary("x86");
}
