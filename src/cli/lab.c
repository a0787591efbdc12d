#include "cli/cli.h"
int cmd_lab(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 3;
}
