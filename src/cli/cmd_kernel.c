/* supermachine kernel: where the default guest kernel is (fetching it if needed). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

void cmd_kernel_usage(FILE *out)
{
    fprintf(out, "Usage: supermachine kernel [--path | --modules]\n\n"
                 "Shows the default guest kernel (Debian's standard amd64 kernel, kept in the\n"
                 "store), fetching it first if it is not there yet.\n\n"
                 "  --path      print only the kernel image's path\n"
                 "  --modules   print only the kernel modules directory\n");
}

int cmd_kernel(int argc, char **argv)
{
    bool only_path = false, only_modules = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--path") == 0)
            only_path = true;
        else if (strcmp(argv[i], "--modules") == 0)
            only_modules = true;
        else
            return cli_usage_error("kernel: unknown argument '%s'", argv[i]);
    }
    char *vmlinuz = NULL, *modules = NULL;
    sm_error_t err = NULL;
    if (sm_kernel_default(&vmlinuz, &modules, &err) < 0)
        return cli_fail(&err);
    if (only_path)
        printf("%s\n", vmlinuz);
    else if (only_modules)
        printf("%s\n", modules);
    else
        printf("kernel:  %s\nmodules: %s\n", vmlinuz, modules);
    free(vmlinuz);
    free(modules);
    return 0;
}
