/* Loading a Linux kernel for the x86_64 64-bit boot protocol: bzImage payload, boot_params
 * ("zero page") with e820 map, command line and initrd, identity page tables and a GDT, and
 * the boot vCPU's initial registers. */
#ifndef SM_X86_BOOT_H
#define SM_X86_BOOT_H

#include <stdint.h>

#include "common/error.h"
#include "vmm/memory.h"

struct hv_vcpu;

struct x86_boot_config {
    const char *kernel_path;
    const char *initrd_path; /* NULL: none */
    const char *cmdline;
    uint64_t rsdp_gpa; /* 0: none (the kernel scans for it) */
};

struct x86_boot_info {
    uint64_t entry;      /* 64-bit entry point */
    uint64_t zero_page;  /* boot_params address, passed in RSI */
    uint64_t kernel_end; /* first byte after the kernel's working area */
    uint64_t initrd_gpa;
    uint64_t initrd_size;
    uint16_t protocol; /* boot protocol version from the header */
};

/* Validates and loads the kernel (and initrd) into guest memory, and writes boot_params,
 * the e820 map, page tables and GDT. Bad files give an error naming the file and why. */
int x86_boot_load(struct vm_memory *mem, const struct x86_boot_config *cfg,
                  struct x86_boot_info *info, sm_error_t *err);

/* The e820 map the guest sees (exposed for tests): fills up to max entries, returns count. */
struct boot_e820_entry;
unsigned x86_boot_e820(const struct vm_memory *mem, struct boot_e820_entry *out, unsigned max);

/* Puts the boot vCPU in 64-bit mode at the kernel's entry point. */
int x86_boot_setup_bsp(struct hv_vcpu *vcpu, const struct x86_boot_info *info, sm_error_t *err);

#endif
