/* err.h - the one error idiom of hilt.
 *
 * A fallible function returns int: 0 on success, -1 on error. When it fails it
 * fills the caller's optional struct hilt_err with a kind (which decides the
 * process exit code), a module-specific code, and a readable message that
 * carries the context: the file and line, the peer, the OpenSSL error queue.
 * Callers add context on the way up with hilt_err_prefix().
 *
 * OpenSSL's "1 == success" is mapped at the call site with HILT_OSSL_OK().
 * The struct is plain memory owned by the caller; nothing here allocates.
 */
#ifndef HILT_CORE_ERR_H
#define HILT_CORE_ERR_H

#include <stddef.h>

enum hilt_err_kind {
    HILT_E_NONE = 0,
    HILT_E_USAGE,   /* bad flags or arguments: exit 2 */
    HILT_E_INPUT,   /* malformed file, PEM, YAML, JSON, or peer data: exit 2 */
    HILT_E_NET,     /* network failure talking to a peer: a finding, not a fault */
    HILT_E_RUNTIME, /* a fault of hilt itself or its environment: exit 3 */
};

#define HILT_ERR_MSG_MAX 1024

struct hilt_err {
    enum hilt_err_kind kind;
    int code; /* module-specific detail (errno, a net status, a finding code) */
    char msg[HILT_ERR_MSG_MAX];
};

/* Reset to "no error". Safe with NULL. */
void hilt_err_clear(struct hilt_err *e);

/* Set kind, code and message. Always returns -1 so callers can
 * `return hilt_err_set(...)`. Safe with e == NULL. */
int hilt_err_set(struct hilt_err *e, enum hilt_err_kind kind, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Like hilt_err_set, then appends the OpenSSL error queue (and clears it). */
int hilt_err_ossl(struct hilt_err *e, enum hilt_err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with more context: "ctx: old message". */
void hilt_err_prefix(struct hilt_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Process exit code for an error: 2 for usage/input, 3 for runtime, 1 for net. */
int hilt_err_exit_code(const struct hilt_err *e);

/* Map OpenSSL's 1-is-success convention to 0/-1. */
#define HILT_OSSL_OK(call) ((call) == 1 ? 0 : -1)

#endif
