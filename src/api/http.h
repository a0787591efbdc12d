/* http.h - the request/response shape every `hilt serve` handler speaks.
 *
 * The server (api/server.c) owns the sockets, TLS, HTTP/1.1 framing, limits
 * and timeouts. It hands each complete, bounded request to a handler as a
 * struct hilt_http_req and sends back what the handler put in a struct
 * hilt_http_resp. Handlers never touch a socket, so each one can be unit
 * tested and fuzzed as a plain function (tests/fuzz/fuzz_api_*.c).
 *
 * Handlers are synchronous and must not block: work that waits on the
 * network (ACME challenge validation, webhooks) is scheduled on the server's
 * event base (struct hilt_api, api/api.h) and reported through the store.
 *
 * Ownership: everything a request points to belongs to the server and lives
 * until the handler returns. The response owns its body and headers; the
 * server frees them with hilt_http_resp_free().
 */
#ifndef HILT_API_HTTP_H
#define HILT_API_HTTP_H

#include "core/buf.h"

#include <jansson.h>
#include <openssl/x509.h>
#include <stddef.h>

#define HILT_HTTP_MAX_HEADERS 64
#define HILT_HTTP_MAX_RESP_HEADERS 16

struct hilt_api;

struct hilt_http_header {
    const char *name; /* as sent; compare case-insensitively */
    const char *value;
};

struct hilt_http_req {
    const char *method; /* "GET", "POST", "HEAD", … */
    const char *path;   /* decoded of nothing: the request target up to '?' */
    const char *query;  /* after '?', or "" */
    const struct hilt_http_header *headers;
    int nheaders;
    const unsigned char *body; /* NUL-terminated copy; body_len excludes the NUL */
    size_t body_len;
    const char *remote;   /* "ip:port" of the peer */
    X509 *client_cert;    /* verified mTLS client certificate, or NULL */
    const char *base_url; /* "https://host:port" the client used, for absolute URLs */
};

/* The first header of that name (case-insensitive), or NULL. */
const char *hilt_http_req_header(const struct hilt_http_req *r, const char *name);

struct hilt_http_resp {
    int status;                /* 0 until set: the server answers 500 */
    char content_type[96];     /* "" = no body */
    struct {
        char name[64];
        char value[1024];
    } headers[HILT_HTTP_MAX_RESP_HEADERS];
    int nheaders;
    struct hilt_buf body;
};

void hilt_http_resp_init(struct hilt_http_resp *r);
void hilt_http_resp_free(struct hilt_http_resp *r);
/* Add a header (fails quietly past HILT_HTTP_MAX_RESP_HEADERS or the
 * value's size, returning -1; the caller decides whether that matters). */
int hilt_http_resp_header(struct hilt_http_resp *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* status + application/json (or the given type) body; `body` is stolen. */
void hilt_http_resp_json(struct hilt_http_resp *r, int status, json_t *body);
void hilt_http_resp_json_type(struct hilt_http_resp *r, int status, const char *type,
                              json_t *body);
void hilt_http_resp_bytes(struct hilt_http_resp *r, int status, const char *type,
                          const void *p, size_t n);
/* An RFC 7807 problem document (application/problem+json): type is a full
 * URI ("urn:ietf:params:acme:error:badNonce", or hilt's
 * "urn:hilt:error:forbidden" for /v1). */
void hilt_http_resp_problem(struct hilt_http_resp *r, int status, const char *type,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A handler for every request under its mount point. */
typedef void (*hilt_http_handler)(struct hilt_api *api, const struct hilt_http_req *req,
                                  struct hilt_http_resp *resp);

#endif
