/* httpparse.h - the bounded HTTP/1.1 request-head parser of `hilt serve`
 * (RFC 9112). Pure: bytes in, a parsed head or a status to answer with out;
 * no sockets, so it is unit tested and fuzzed (tests/fuzz/fuzz_http_request.c).
 *
 * Limits (struct hilt_http_limits) are enforced while parsing: request line
 * (414), header block size and count (431), Content-Length against the body
 * maximum (413, decided before any body byte is read). Refused outright:
 * Transfer-Encoding (411: bodies must carry a Content-Length; no chunked
 * bodies), Content-Length and Transfer-Encoding together, differing repeated
 * Content-Lengths, whitespace before a header's colon, obsolete line
 * folding, control characters and NUL, bare LF line ends, a missing or
 * repeated Host in HTTP/1.1, versions other than 1.0/1.1 (505), targets not
 * in origin form. These are the request-smuggling vectors of RFC 9112 §11.
 *
 * Ownership: struct hilt_http_head holds a private copy of the head; its
 * pointers stay valid until the struct is reused or goes away.
 */
#ifndef HILT_API_HTTPPARSE_H
#define HILT_API_HTTPPARSE_H

#include "api/handler.h"

#include <stddef.h>
#include <stdint.h>

#define HILT_HTTP_MAX_HEAD 65536 /* hard ceiling for max_head */

struct hilt_http_limits {
    size_t max_line; /* request line; default 8192 */
    size_t max_head; /* request line + headers + CRLFs; default 16384 */
    int max_headers; /* default 64, at most HILT_REQ_MAX_HEADERS */
    size_t max_body; /* Content-Length maximum; default 1 MiB */
};
void hilt_http_limits_default(struct hilt_http_limits *l);

struct hilt_http_head {
    char buf[HILT_HTTP_MAX_HEAD + 1]; /* the head, NUL-separated */
    const char *method, *target, *path, *query;
    int minor; /* HTTP/1.minor */
    struct hilt_header headers[HILT_REQ_MAX_HEADERS];
    int nheaders;
    const char *host; /* Host header, or NULL (HTTP/1.0 without one) */
    size_t content_length;
    int keep_alive;      /* after this request */
    int expect_continue; /* "Expect: 100-continue" */
    size_t head_len;     /* bytes of input the head took */
};

/* Parse a request head at the start of p[0..n).
 * Returns 1 complete (out filled, out->head_len consumed), 0 need more
 * bytes, -1 refused: *status is the code to answer with (400, 411, 413,
 * 414, 417, 431, 501, 505) and *why says what was wrong. */
int hilt_http_parse_head(const uint8_t *p, size_t n, const struct hilt_http_limits *lim,
                         struct hilt_http_head *out, int *status, const char **why);

/* Is this a valid Host header value (reg-name or IP literal, optional port)? */
int hilt_http_host_ok(const char *host);

/* Reason phrase of a status code. */
const char *hilt_http_reason(int status);

#endif
