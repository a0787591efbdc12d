/* observed.h - a bounded rolling record of distinct client offers.
 *
 * Keyed by the offer itself (versions, cipher suites, groups, signature
 * schemes, ALPN, each in the client's order), not by JA4 alone. When the
 * table is full the least recently seen entry is replaced. One mutex guards
 * the table; a record costs a hash and a short scan of 64-bit keys.
 * GET /observed serves obs_json(); `hilt policy impact --observed` reads that
 * exact shape (docs/telemetry.md).
 *
 * Ownership: obs_new() returns a table freed with obs_free(). The hello and
 * strings passed to obs_record() are copied.
 */
#ifndef HILT_TELEMETRY_OBSERVED_H
#define HILT_TELEMETRY_OBSERVED_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

struct hilt_client_hello;
struct obs_table;

struct obs_table *obs_new(size_t max);
void obs_free(struct obs_table **t);
/* Count one handshake of this offer. code: NULL on success, else the
 * catalogue code of the failure. */
void obs_record(struct obs_table *t, const struct hilt_client_hello *h, const char *ja4,
                const char *code, time_t now);
size_t obs_count(struct obs_table *t);
/* {"clients": [...]} most recently seen first; the caller owns the reference. */
json_t *obs_json(struct obs_table *t);

#endif
