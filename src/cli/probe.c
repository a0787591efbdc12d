#include "cli/cli.h"

static int cmd_probe(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 3;
}
HILT_COMMAND(probe, cmd_probe, "(in progress)", 10);
