/* supermachine-vmm: the per-VM process (src/runtime/vmm_process.c). */
#include "runtime/vmm_process.h"

int main(int argc, char **argv)
{
    return vmm_process_main(argc, argv);
}
