/* der.c - the bounded DER writer (der.h). */
#include "x509/der.h"

#include <stdio.h>
#include <string.h>

void hilt_der_init(struct hilt_der *d, struct hilt_buf *b)
{
    memset(d, 0, sizeof(*d));
    d->b = b;
}

void hilt_der_put(struct hilt_der *d, const void *p, size_t n)
{
    if (!d->bad && n && hilt_buf_add(d->b, p, n) < 0) d->bad = 1;
}

void hilt_der_put1(struct hilt_der *d, uint8_t v)
{
    hilt_der_put(d, &v, 1);
}

void hilt_der_open(struct hilt_der *d, uint8_t tag)
{
    if (d->bad || d->depth == HILT_DER_DEPTH) {
        d->bad = 1;
        return;
    }
    hilt_der_put1(d, tag);
    d->open[d->depth++] = d->b->len;
    hilt_der_put1(d, 0); /* short form; widened in hilt_der_close when needed */
}

void hilt_der_close(struct hilt_der *d)
{
    if (d->bad || d->depth == 0) {
        d->bad = 1;
        return;
    }
    size_t at = d->open[--d->depth];
    size_t clen = d->b->len - at - 1;
    if (clen < 0x80) {
        d->b->data[at] = (uint8_t)clen;
        return;
    }
    size_t extra = clen < 0x100 ? 1 : clen < 0x10000 ? 2 : 3;
    if (clen >= 0x1000000 || !hilt_buf_reserve(d->b, extra)) {
        d->bad = 1;
        return;
    }
    hilt_buf_commit(d->b, extra);
    uint8_t *p = d->b->data + at;
    memmove(p + 1 + extra, p + 1, clen);
    p[0] = (uint8_t)(0x80 | extra);
    for (size_t i = 0; i < extra; i++)
        p[1 + i] = (uint8_t)(clen >> (8 * (extra - 1 - i)));
}

void hilt_der_tlv(struct hilt_der *d, uint8_t tag, const void *p, size_t n)
{
    hilt_der_open(d, tag);
    hilt_der_put(d, p, n);
    hilt_der_close(d);
}

void hilt_der_uint(struct hilt_der *d, const uint8_t *p, size_t n)
{
    while (n > 1 && p[0] == 0) {
        p++;
        n--;
    }
    hilt_der_open(d, 0x02);
    if (n == 0 || (p[0] & 0x80)) hilt_der_put1(d, 0);
    hilt_der_put(d, p, n);
    hilt_der_close(d);
}

static void put_time(struct hilt_der *d, time_t t, int general)
{
    struct tm tm;
    char s[24];
    if (!gmtime_r(&t, &tm)) {
        d->bad = 1;
        return;
    }
    int y = tm.tm_year + 1900, n;
    if (!general && y >= 1950 && y < 2050) {
        n = snprintf(s, sizeof(s), "%02d%02d%02d%02d%02d%02dZ", y % 100, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
        hilt_der_tlv(d, 0x17, s, (size_t)n);
    } else if (y >= 0 && y <= 9999) {
        n = snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02dZ", y, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
        hilt_der_tlv(d, 0x18, s, (size_t)n);
    } else {
        d->bad = 1;
    }
}

void hilt_der_time(struct hilt_der *d, time_t t)
{
    put_time(d, t, 0);
}

void hilt_der_gentime(struct hilt_der *d, time_t t)
{
    put_time(d, t, 1);
}

int hilt_der_done(const struct hilt_der *d)
{
    return d->bad || d->depth ? -1 : 0;
}
