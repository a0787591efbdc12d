/* clock.c - injectable wall clock, monotonic time, time and duration formats. */
#include "core/clock.h"

#include "core/err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static hilt_clock_fn clock_fn;
static void *clock_arg;
static time_t fixed_time;

time_t hilt_now(void)
{
    if (clock_fn) return clock_fn(clock_arg);
    return time(NULL);
}

void hilt_clock_set(hilt_clock_fn fn, void *arg)
{
    clock_fn = fn;
    clock_arg = arg;
}

static time_t fixed_clock(void *arg)
{
    (void)arg;
    return fixed_time;
}

void hilt_clock_set_fixed(time_t t)
{
    fixed_time = t;
    hilt_clock_set(fixed_clock, NULL);
}

/* HILT_FAKE_NOW keeps advancing from the given instant, like faketime does, so
 * timeouts and "since" arithmetic inside one run stay sane. */
static time_t fake_origin;
static uint64_t fake_mono_origin;

static time_t offset_clock(void *arg)
{
    (void)arg;
    return fake_origin + (time_t)((hilt_mono_us() - fake_mono_origin) / 1000000);
}

int hilt_clock_init_env(struct hilt_err *e)
{
    const char *s = getenv("HILT_FAKE_NOW");
    if (!s || !*s) return 0;
    time_t t;
    if (hilt_time_parse_rfc3339(s, &t) < 0)
        return hilt_err_set(e, HILT_E_USAGE, 0,
                            "HILT_FAKE_NOW: '%s' is not an RFC 3339 time such as "
                            "2026-01-02T03:04:05Z",
                            s);
    fake_origin = t;
    fake_mono_origin = hilt_mono_us();
    hilt_clock_set(offset_clock, NULL);
    return 0;
}

uint64_t hilt_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Read exactly n digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int hilt_time_parse_rfc3339(const char *s, time_t *out)
{
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, sec = 0;
    const char *p = s;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return -1;
    long offset = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi)) return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &sec)) return -1;
            if (*p == '.') {
                p++;
                if (!isdigit((unsigned char)*p)) return -1;
                while (isdigit((unsigned char)*p)) p++;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om;
            p++;
            if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om)) return -1;
            offset = sign * (oh * 3600L + om * 60L);
        } else {
            return -1;
        }
    }
    if (*p != '\0') return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 && !(y == 1969)) return -1;
    *out = t - offset;
    return 0;
}

void hilt_time_fmt_rfc3339(time_t t, char out[32])
{
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 32, "invalid");
        return;
    }
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

static int month_index(const char *m)
{
    for (int i = 0; i < 12; i++)
        if (strncasecmp(m, months[i], 3) == 0) return i;
    return -1;
}

int hilt_time_parse_http(const char *s, time_t *out)
{
    /* Copy to a bounded local so sscanf never runs past the header value. */
    char b[64];
    size_t n = strnlen(s, sizeof(b));
    if (n >= sizeof(b)) return -1;
    memcpy(b, s, n + 1);
    char wd[16], mon[4];
    int d, y, h, mi, sec;
    struct tm tm = {0};
    if (sscanf(b, "%15[A-Za-z], %d %3s %d %d:%d:%d GMT", wd, &d, mon, &y, &h, &mi, &sec) == 7) {
        /* IMF-fixdate */
    } else if (sscanf(b, "%15[A-Za-z], %d-%3s-%d %d:%d:%d GMT", wd, &d, mon, &y, &h, &mi, &sec) ==
               7) {
        y += y < 70 ? 2000 : (y < 100 ? 1900 : 0); /* RFC 850 */
    } else if (sscanf(b, "%15s %3s %d %d:%d:%d %d", wd, mon, &d, &h, &mi, &sec, &y) == 7) {
        /* asctime */
    } else {
        return -1;
    }
    int m = month_index(mon);
    if (m < 0 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970 || y > 9999)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = m;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = timegm(&tm);
    return 0;
}

void hilt_time_fmt_http(time_t t, char out[40])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int hilt_duration_parse(const char *s, int64_t *secs)
{
    if (!s || !*s) return -1;
    int64_t total = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p)) return -1;
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            if (v > (INT64_MAX - 9) / 10) return -1;
            v = v * 10 + (*p++ - '0');
        }
        int64_t mult;
        switch (*p) {
        case '\0': mult = 1; break;
        case 's': mult = 1; p++; break;
        case 'm': mult = 60; p++; break;
        case 'h': mult = 3600; p++; break;
        case 'd': mult = 86400; p++; break;
        case 'w': mult = 7 * 86400; p++; break;
        case 'y': mult = 365 * 86400; p++; break;
        default: return -1;
        }
        if (v > INT64_MAX / mult || total > INT64_MAX - v * mult) return -1;
        total += v * mult;
    }
    *secs = total;
    return 0;
}

void hilt_duration_fmt(int64_t secs, char out[32])
{
    const char *sign = secs < 0 ? "-" : "";
    uint64_t a = secs < 0 ? (uint64_t)(-(secs + 1)) + 1 : (uint64_t)secs;
    uint64_t d = a / 86400, h = a % 86400 / 3600, m = a % 3600 / 60, s = a % 60;
    if (d)
        snprintf(out, 32, "%s%llud %lluh", sign, (unsigned long long)d, (unsigned long long)h);
    else if (h)
        snprintf(out, 32, "%s%lluh %llum", sign, (unsigned long long)h, (unsigned long long)m);
    else if (m)
        snprintf(out, 32, "%s%llum %llus", sign, (unsigned long long)m, (unsigned long long)s);
    else
        snprintf(out, 32, "%s%llus", sign, (unsigned long long)s);
}
