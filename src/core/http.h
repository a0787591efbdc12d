/* http.h - a small, bounded HTTP/1.1 client and response parser.
 *
 * Used for what a TLS tool fetches over plain HTTP (AIA caIssuers, OCSP, CRL)
 * and, through hilt_http_parse(), for responses read over TLS by the probe.
 * Everything is bounded: the head, the body and the whole exchange have
 * limits and a deadline. Chunked and close-delimited bodies are decoded.
 */
#ifndef HILT_CORE_HTTP_H
#define HILT_CORE_HTTP_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

struct hilt_err;

struct hilt_url {
    char scheme[8]; /* "http" or "https" */
    char host[256];
    uint16_t port;
    char path[2048]; /* path and query, at least "/" */
};

int hilt_url_parse(const char *s, struct hilt_url *u, struct hilt_err *e);

#define HILT_HTTP_HEAD_MAX 16384

struct hilt_http_resp {
    int status;
    struct hilt_buf head; /* status line and headers, NUL-terminated */
    struct hilt_buf body; /* decoded body */
};

void hilt_http_resp_init(struct hilt_http_resp *r, size_t body_max);
void hilt_http_resp_free(struct hilt_http_resp *r);

/* Parse a complete or partial response held in p[0..n).
 * Returns 1 when the response is complete (r filled), 0 when more bytes are
 * needed (or, with at_eof, -1), -1 when malformed or over a limit.
 * `no_body` is set for replies to HEAD. */
int hilt_http_parse(const uint8_t *p, size_t n, int at_eof, int no_body, struct hilt_http_resp *r,
                    struct hilt_err *e);

/* Copy the first value of header `name` (case-insensitive) into out.
 * Returns 0 when found, -1 when absent. */
int hilt_http_header(const struct hilt_http_resp *r, const char *name, char *out, size_t cap);

/* Perform one request over plain TCP (http:// only). */
int hilt_http_fetch(const char *method, const char *url, const char *content_type,
                    const void *body, size_t body_len, int timeout_ms, struct hilt_http_resp *r,
                    struct hilt_err *e);

#endif
