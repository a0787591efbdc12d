/* api_metrics.h - the counters `hilt serve` exposes on /metrics (Prometheus
 * text format 0.0.4): whatever hilt_api_count() received (api/api.h) from
 * the REST, ACME and workflow code, one counter per full series string.
 *
 * Bounded: at most HILT_METRICS_MAX_SERIES series (further new series are
 * dropped and counted in hilt_metrics_dropped_series_total), series names
 * are checked ([a-zA-Z_:][a-zA-Z0-9_:]* with an optional {label="value",…}),
 * so label values callers build from requests cannot grow memory without
 * bound. Single-threaded, like the server loop.
 *
 * Ownership: hilt_metrics_new() returns a registry the caller frees with
 * hilt_metrics_free(); hang it on struct hilt_api's `metrics`.
 */
#ifndef HILT_API_API_METRICS_H
#define HILT_API_API_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct hilt_buf;
struct hilt_metrics;

#define HILT_METRICS_MAX_SERIES 4096

struct hilt_metrics *hilt_metrics_new(void);
void hilt_metrics_free(struct hilt_metrics *m);
/* Add n to a counter series (created at 0 on first use). */
void hilt_metrics_add(struct hilt_metrics *m, const char *series, uint64_t n);
/* Current value (0 when absent). */
uint64_t hilt_metrics_get(const struct hilt_metrics *m, const char *series);
/* Append every counter, grouped by metric name with one "# TYPE … counter" line each. */
int hilt_metrics_render(const struct hilt_metrics *m, struct hilt_buf *out);
/* Is this a valid series string? */
int hilt_metrics_series_ok(const char *series);

#endif
