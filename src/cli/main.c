/* main.c - `hilt`: dispatch to git-style subcommands. */
#include "cli/cli.h"

#include "core/clock.h"
#include "core/err.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef HILT_VERSION
#define HILT_VERSION "0.1.0"
#endif

/* The linker collects every HILT_COMMAND into this section. */
extern const struct hilt_cmd __start_hilt_cmds[];
extern const struct hilt_cmd __stop_hilt_cmds[];

static const struct hilt_cmd *find_command(const char *name)
{
    for (const struct hilt_cmd *c = __start_hilt_cmds; c < __stop_hilt_cmds; c++)
        if (!strcmp(c->name, name)) return c;
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: hilt [--version] [--help] COMMAND [ARGS]\n\n"
               "hilt makes TLS handshake failures stop happening.\n\ncommands:\n");
    /* Print in `order`; the section itself is in link order. */
    int last = -1;
    for (;;) {
        const struct hilt_cmd *next = NULL;
        for (const struct hilt_cmd *c = __start_hilt_cmds; c < __stop_hilt_cmds; c++)
            if (c->order > last && (!next || c->order < next->order)) next = c;
        if (!next) break;
        for (const struct hilt_cmd *c = __start_hilt_cmds; c < __stop_hilt_cmds; c++)
            if (c->order == next->order) fprintf(f, "  %-12s %s\n", c->name, c->summary);
        last = next->order;
    }
    fprintf(f, "\n'hilt COMMAND --help' describes a command.\n"
               "Exit codes: 0 healthy/done, 1 problems found, 2 bad usage or input, 3 internal fault.\n"
               "Environment: HILT_HOME (state, default ~/.local/share/hilt), HILT_LOG=debug|info,\n"
               "  HILT_FAKE_NOW=RFC3339 (run as if the clock said so; for tests and rehearsals).\n");
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "hilt %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'hilt %s --help'.\n", cmd);
    return 2;
}

int cli_fail(const char *cmd, const struct hilt_err *e)
{
    fprintf(stderr, "hilt %s: %s\n", cmd, e->msg[0] ? e->msg : "failed");
    int rc = hilt_err_exit_code(e);
    return rc == 0 ? 3 : rc;
}

int cli_int(const char *cmd, const char *opt, const char *val, long min, long max, long *out)
{
    char *end;
    long v = strtol(val, &end, 10);
    if (!*val || *end || v < min || v > max) {
        cli_usage(cmd, "%s '%s' must be a number from %ld to %ld", opt, val, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_color(void)
{
    const char *nc = getenv("NO_COLOR");
    return isatty(STDOUT_FILENO) && !(nc && *nc);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            char *sub[] = {argv[2], "--help", NULL};
            const struct hilt_cmd *c = find_command(argv[2]);
            if (c) return c->fn(2, sub);
        }
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("hilt %s (%s)\n", HILT_VERSION, OpenSSL_version(OPENSSL_VERSION));
        return 0;
    }
    struct hilt_err e = {0};
    if (hilt_clock_init_env(&e) < 0) return cli_fail(name, &e);
    const struct hilt_cmd *c = find_command(name);
    if (c) return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "hilt: '%s' is not a hilt command. See 'hilt --help'.\n", name);
    return 2;
}
