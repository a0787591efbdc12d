/* clock.h - wall and monotonic time, with an injectable wall clock.
 *
 * Everything in hilt that asks "what time is it" for validity, expiry or
 * renewal calls hilt_now(). Tests replace the source with hilt_clock_set();
 * whole-binary tests set HILT_FAKE_NOW=RFC3339 (read by hilt_clock_init_env)
 * to move the process clock without faketime. Durations use hilt_mono_us(),
 * which is never faked.
 */
#ifndef HILT_CORE_CLOCK_H
#define HILT_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

struct hilt_err;

typedef time_t (*hilt_clock_fn)(void *arg);

time_t hilt_now(void);
void hilt_clock_set(hilt_clock_fn fn, void *arg); /* NULL restores the system clock */
void hilt_clock_set_fixed(time_t t);              /* convenience for tests */
/* Reads HILT_FAKE_NOW; returns -1 with a message if it is set but malformed. */
int hilt_clock_init_env(struct hilt_err *e);

uint64_t hilt_mono_us(void);

/* RFC 3339 / ISO 8601 UTC: "2026-11-21T10:00:00Z"; offsets like +02:00 accepted. */
int hilt_time_parse_rfc3339(const char *s, time_t *out);
void hilt_time_fmt_rfc3339(time_t t, char out[32]);
/* HTTP dates (RFC 9110 IMF-fixdate, plus the obsolete RFC 850 and asctime forms). */
int hilt_time_parse_http(const char *s, time_t *out);
void hilt_time_fmt_http(time_t t, char out[40]);
/* Durations such as "90d", "12h", "30m", "45s", "2w", or a plain number of
 * seconds. Returns -1 on malformed input. */
int hilt_duration_parse(const char *s, int64_t *secs);
/* Human form of a signed number of seconds: "3d 4h", "-2h 5m", "12s". */
void hilt_duration_fmt(int64_t secs, char out[32]);

#endif
