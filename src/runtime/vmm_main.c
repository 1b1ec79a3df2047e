/* supermachine-vmm: the per-VM process (src/runtime/vmm_process.c). */
#include "net/net_backend.h"
#include "runtime/vmm_process.h"

int main(int argc, char **argv)
{
    /* The network backend lives in this executable only: libslirp and GLib load in VMM
     * processes, never in the library's other users. */
    return vmm_process_main(argc, argv, &net_slirp_ops);
}
