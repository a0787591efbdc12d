#include "cli/cli.h"
int cmd_probe(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 3;
}
