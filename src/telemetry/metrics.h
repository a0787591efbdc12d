/* metrics.h - the gateway's metrics registry and its Prometheus text form.
 *
 * Families are a fixed table (names exactly as docs/telemetry.md lists them).
 * Samples live in shards, one per worker thread plus one for the main thread;
 * a worker updates only its own shard under that shard's mutex, which only the
 * scraper ever contends, so updates cost a hash lookup and an uncontended lock.
 * Label values are compared by pointer: dynamic ones (listener, backend,
 * server names) must come from tm_intern(), static ones (catalogue codes,
 * version names, "ok") from static storage.
 *
 * Ownership: tm_registry_new() returns a registry the caller frees with
 * tm_registry_free(), which also frees every interned string.
 */
#ifndef HILT_TELEMETRY_METRICS_H
#define HILT_TELEMETRY_METRICS_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

enum tm_family {
    TM_HANDSHAKES,      /* listener, result, reason, version */
    TM_HS_DURATION,     /* listener, result (histogram, seconds) */
    TM_VARIANT_HS,      /* listener, variant, result */
    TM_RESUMED,         /* listener */
    TM_ACTIVE,          /* listener (gauge) */
    TM_CONNECTIONS,     /* listener */
    TM_BYTES,           /* listener, direction */
    TM_BE_CONNECT_FAIL, /* backend, server */
    TM_BE_HS_FAIL,      /* backend, server */
    TM_RELOADS,         /* result */
    TM_PASSTHROUGH,     /* listener, backend */
    TM_FAMILY_COUNT
};

#define TM_MAX_LABELS 4
#define TM_NBUCKETS 15

struct tm_registry;
struct tm_shard;

struct tm_registry *tm_registry_new(int nshards);
void tm_registry_free(struct tm_registry **r);
struct tm_shard *tm_shard(struct tm_registry *r, int i);

/* The registry's copy of s (same pointer for equal strings); NULL on OOM. */
const char *tm_intern(struct tm_registry *r, const char *s);

/* Add delta (may be negative for gauges) to a counter or gauge. Labels are
 * given in the family's order; unused trailing ones are NULL. */
void tm_add(struct tm_shard *s, enum tm_family f, const char *l0, const char *l1, const char *l2,
            const char *l3, int64_t delta);
/* Record one observation (seconds) in a histogram family. */
void tm_observe(struct tm_shard *s, enum tm_family f, const char *l0, const char *l1,
                double seconds);

/* Append every family as Prometheus text format 0.0.4. */
int tm_expose(struct tm_registry *r, struct hilt_buf *out);
/* Sum of a family's samples whose first label is l0 (NULL: all), for /status and tests. */
int64_t tm_sum(struct tm_registry *r, enum tm_family f, const char *l0);

/* Helpers for callers appending their own gauges in the same format. */
int tm_write_header(struct hilt_buf *out, const char *name, const char *type, const char *help);
/* labels: NULL-terminated name, value pairs. */
int tm_write_sample(struct hilt_buf *out, const char *name, double value, ...)
    __attribute__((sentinel));

#endif
