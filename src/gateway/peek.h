/* peek.h - is a whole ClientHello at the front of a byte stream? (SNI
 * passthrough: the gateway looks at the client's first flight with
 * MSG_PEEK, routes on its SNI, and either splices the untouched bytes to a
 * backend or hands the socket to OpenSSL, which reads them again.)
 *
 * The stream must start with TLS records of type handshake (22, RFC 8446
 * §5.1) whose fragments, joined, begin with a ClientHello (type 1) of a
 * 24-bit length; the hello may span several records. Records are bounded to
 * 2^14 bytes of fragment and may not be empty; the hello to GW_PEEK_MAX
 * bytes of records in all. Pure function of its input; fuzzed
 * (tests/fuzz/fuzz_gateway_peek.c).
 */
#ifndef HILT_GATEWAY_PEEK_H
#define HILT_GATEWAY_PEEK_H

#include <stddef.h>
#include <stdint.h>

#define GW_PEEK_MAX (16384 + 1024) /* the largest first flight the gateway looks at */

enum { GW_PEEK_MORE = 0, GW_PEEK_HELLO = 1, GW_PEEK_NOT_HELLO = -1 };

/* GW_PEEK_HELLO: p[0..*used) are the records that carry the whole hello;
 * GW_PEEK_MORE: a prefix of such records (read more, up to GW_PEEK_MAX);
 * GW_PEEK_NOT_HELLO: not a TLS ClientHello, malformed, or too large. */
int gw_peek_hello(const uint8_t *p, size_t n, size_t *used);

#endif
