#include "cli/cli.h"

static int cmd_lab(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 3;
}
HILT_COMMAND(lab, cmd_lab, "(in progress)", 20);
