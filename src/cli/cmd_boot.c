#include "cli/commands.h"
void cmd_boot_usage(FILE *out) { fprintf(out, "Usage: supermachine boot --kernel F\n"); }
int cmd_boot(int argc, char **argv) { return cli_usage_error("boot: not built yet"); }
