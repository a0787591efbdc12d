/* handler.h - the request/response shape every `hilt serve` handler speaks.
 *
 * The server (api/httpd.c) owns the sockets, TLS, HTTP/1.1 framing, limits
 * and timeouts. It hands each complete, bounded request to a handler as a
 * struct hilt_req and sends back what the handler put in a struct
 * hilt_reply. Handlers never touch a socket, so each one can be unit
 * tested and fuzzed as a plain function (tests/fuzz/fuzz_api_*.c).
 *
 * Handlers are synchronous and must not block: work that waits on the
 * network (ACME challenge validation, webhooks) is scheduled on the server's
 * event base (struct hilt_api, api/api.h) and reported through the store.
 *
 * Ownership: everything a request points to belongs to the server and lives
 * until the handler returns. The response owns its body and headers; the
 * server frees them with hilt_reply_free().
 */
#ifndef HILT_API_HANDLER_H
#define HILT_API_HANDLER_H

#include "core/buf.h"

#include <jansson.h>
#include <openssl/x509.h>
#include <stddef.h>

#define HILT_REQ_MAX_HEADERS 64
#define HILT_REPLY_MAX_HEADERS 16

struct hilt_api;

struct hilt_header {
    const char *name; /* as sent; compare case-insensitively */
    const char *value;
};

struct hilt_req {
    const char *method; /* "GET", "POST", "HEAD", … */
    const char *path;   /* decoded of nothing: the request target up to '?' */
    const char *query;  /* after '?', or "" */
    const struct hilt_header *headers;
    int nheaders;
    const unsigned char *body; /* NUL-terminated copy; body_len excludes the NUL */
    size_t body_len;
    const char *remote;            /* "ip:port" of the peer */
    X509 *client_cert;             /* verified mTLS client certificate, or NULL */
    const char *client_cert_error; /* a certificate was presented but did not verify
                                    * against the CA: why (client_cert is NULL then) */
    const char *base_url;          /* "https://host:port" the client used, for absolute URLs */
};

/* The first header of that name (case-insensitive), or NULL. */
const char *hilt_req_header(const struct hilt_req *r, const char *name);

struct hilt_deferred;

struct hilt_reply {
    int status;            /* 0 until set: the server answers 500 */
    char content_type[96]; /* "" = no body */
    struct {
        char name[64];
        char value[1024];
    } headers[HILT_REPLY_MAX_HEADERS];
    int nheaders;
    struct hilt_buf body;
    /* set by the server before the handler runs; NULL where replies cannot
     * wait (unit tests, fuzzing): see hilt_reply_defer() */
    struct hilt_deferred *(*defer)(struct hilt_reply *self);
    void *server;
    struct hilt_deferred *deferred; /* set by hilt_reply_defer() */
};

/* A reply the handler gives later. A handler whose answer waits on the
 * event base (an ACME challenge validated before it is answered) calls
 * hilt_reply_defer(resp) and, when it returns non-NULL, returns without
 * filling `resp` (what it put there is dropped). The connection reads
 * nothing more until hilt_deferred_send() is called exactly once: with a
 * reply (sent as if the handler had returned it; `r` stays the caller's
 * to free; also allowed from inside the handler, if the answer came at
 * once after all) or with NULL (the connection is closed with no answer;
 * never from inside the handler). If the client went away meanwhile the reply is
 * dropped; either way `d` is freed. NULL from hilt_reply_defer(): answer
 * now, as usual. */
struct hilt_deferred {
    void (*send)(struct hilt_deferred *d, const struct hilt_reply *r);
    void (*cancel)(struct hilt_deferred *d);
};
struct hilt_deferred *hilt_reply_defer(struct hilt_reply *resp);
/* Take a deferral back before anything was handed the hilt_deferred: the
 * handler answers in `resp` now after all. */
void hilt_reply_undefer(struct hilt_reply *resp);
void hilt_deferred_send(struct hilt_deferred *d, const struct hilt_reply *r);

void hilt_reply_init(struct hilt_reply *r);
void hilt_reply_free(struct hilt_reply *r);
/* Add a header (fails quietly past HILT_REPLY_MAX_HEADERS or the
 * value's size, returning -1; the caller decides whether that matters). */
int hilt_reply_header(struct hilt_reply *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* status + application/json (or the given type) body; `body` is stolen. */
void hilt_reply_json(struct hilt_reply *r, int status, json_t *body);
void hilt_reply_json_type(struct hilt_reply *r, int status, const char *type, json_t *body);
void hilt_reply_bytes(struct hilt_reply *r, int status, const char *type, const void *p, size_t n);
/* An RFC 7807 problem document (application/problem+json): type is a full
 * URI ("urn:ietf:params:acme:error:badNonce", or hilt's
 * "urn:hilt:error:forbidden" for /v1). */
void hilt_reply_problem(struct hilt_reply *r, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A handler for every request under its mount point. */
typedef void (*hilt_handler)(struct hilt_api *api, const struct hilt_req *req,
                             struct hilt_reply *resp);

#endif
