/* notify.h - expiry notifications (docs/clm.md): one per certificate and
 * threshold, to a command (JSON on stdin) or an HTTP POST of JSON, and
 * remembered in the store once delivered.
 *
 * Ownership: plain memory; the store is borrowed.
 */
#ifndef HILT_CLM_NOTIFY_H
#define HILT_CLM_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

struct hilt_err;
struct hilt_store;

#define HILT_NOTIFY_THRESHOLDS_MAX 8

struct hilt_notify_opts {
    const char *command;                            /* run by /bin/sh -c, JSON on stdin; or */
    const char *url;                                /* http:// URL for a POST of the JSON */
    int64_t thresholds[HILT_NOTIFY_THRESHOLDS_MAX]; /* seconds, any order */
    size_t nthresholds;
    int64_t within; /* certificates expiring within this window are considered */
    int timeout_ms; /* per delivery; 0 = 10000 */
};

struct hilt_notify_stats {
    int64_t due;     /* certificates below a threshold */
    int64_t sent;    /* delivered now */
    int64_t already; /* delivered by an earlier run */
    int64_t failed;  /* delivery failed (tried again next run) */
    char first_error[400];
};

/* Notify about every active certificate of the inventory expiring before
 * now + within and below a threshold it was not notified for. */
int hilt_notify_expiring(struct hilt_store *st, const struct hilt_notify_opts *o, int64_t now,
                         struct hilt_notify_stats *s, struct hilt_err *e);

#endif
