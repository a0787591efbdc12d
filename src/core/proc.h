/* proc.h - running an operator's shell command (a reload after deployment,
 * an expiry notification) with a deadline.
 *
 * One mechanism for every hook hilt runs: `/bin/sh -c CMD`, its stdin fed
 * from a string (or /dev/null), extra environment variables, its output
 * either passed through or captured (the tail goes into the error), and a
 * deadline after which it is killed. Messages name the hook ("reload
 * command", "notify command") so the operator knows which one failed.
 */
#ifndef HILT_CORE_PROC_H
#define HILT_CORE_PROC_H

#include <stddef.h>

struct hilt_shell_run {
    const char *what;       /* "reload command": the start of every message */
    const char *cmd;        /* run by /bin/sh -c */
    const char *input;      /* written to its stdin; NULL: stdin is /dev/null */
    const char *const *env; /* "NAME=value" added to its environment; NULL-terminated or NULL */
    int capture;            /* 1: stdout+stderr captured, their tail in the error; 0: inherited */
    int timeout_ms;         /* then SIGKILL */
};

/* 0 when the command exited 0. Else -1 and `err` says why: "WHAT exited N:
 * TAIL", "WHAT killed by signal N", "WHAT did not finish within T", or a
 * pipe/fork failure. A command that does not read all its input is not an
 * error by itself. */
int hilt_shell_run(const struct hilt_shell_run *r, char *err, size_t cap);

#endif
