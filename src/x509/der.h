/* der.h - a small bounded DER writer for the fast paths that build
 * structures directly (x509/mintfast.c certificates, ca/ocsp_responder.c
 * OCSP responses): elements are opened, filled and closed; lengths are
 * written in short form and widened when an element closes. Output goes to
 * a caller-owned struct hilt_buf, whose max bounds it; any failure sets
 * `bad` and every later call is a no-op, so callers check once at the end.
 */
#ifndef HILT_X509_DER_H
#define HILT_X509_DER_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define HILT_DER_DEPTH 12

struct hilt_der {
    struct hilt_buf *b;
    size_t open[HILT_DER_DEPTH]; /* offsets of the length bytes of open elements */
    int depth;
    int bad;
};

void hilt_der_init(struct hilt_der *d, struct hilt_buf *b);
void hilt_der_put(struct hilt_der *d, const void *p, size_t n);
void hilt_der_put1(struct hilt_der *d, uint8_t v);
void hilt_der_open(struct hilt_der *d, uint8_t tag);
void hilt_der_close(struct hilt_der *d);
void hilt_der_tlv(struct hilt_der *d, uint8_t tag, const void *p, size_t n);
/* INTEGER from big-endian magnitude bytes (leading zeros dropped, a zero
 * byte added when the top bit is set: always positive). */
void hilt_der_uint(struct hilt_der *d, const uint8_t *p, size_t n);
/* UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
void hilt_der_time(struct hilt_der *d, time_t t);
/* Always GeneralizedTime (RFC 6960 uses it for every time). */
void hilt_der_gentime(struct hilt_der *d, time_t t);
/* 0 when every element was closed and nothing failed. */
int hilt_der_done(const struct hilt_der *d);

#endif
