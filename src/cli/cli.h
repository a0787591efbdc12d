/* cli.h - what every subcommand file shares: its entry point signature and
 * the usage-error convention (message naming the argument, exit 2). Command
 * files only parse arguments, call libhilt, and print. */
#ifndef HILT_CLI_CLI_H
#define HILT_CLI_CLI_H

#include <stdio.h>

struct hilt_err;

typedef int (*hilt_cmd_fn)(int argc, char **argv);

struct hilt_cmd {
    const char *name;
    hilt_cmd_fn fn;
    const char *summary; /* one line for `hilt --help` */
    int order;           /* position in `hilt --help` (lower first) */
};

/* Each subcommand file registers itself; main.c walks the linker section,
 * so adding a command touches no shared file:
 *   HILT_COMMAND(probe, cmd_probe, "diagnose one endpoint", 10);          */
#define HILT_COMMAND(id, fn, summary, order)                                                       \
    static const struct hilt_cmd hilt_cmd_##id                                                     \
        __attribute__((used, section("hilt_cmds"), aligned(sizeof(void *)))) = {#id, fn, summary, \
                                                                                 order}

/* Print "hilt CMD: message" and a pointer to --help on stderr; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print an error from libhilt and return its exit code (2 input, 3 runtime). */
int cli_fail(const char *cmd, const struct hilt_err *e);
/* Parse a positive integer option value; on error prints usage and returns -1. */
int cli_int(const char *cmd, const char *opt, const char *val, long min, long max, long *out);
/* Is stdout a terminal (for colour and progress)? Respects NO_COLOR. */
int cli_color(void);

#endif
