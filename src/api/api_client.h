/* api_client.h - the client side of `hilt serve`'s REST API, for the CLI
 * (hilt request, approve, reject, requests, revoke) and pipelines: one HTTPS
 * request with a bearer token or a client certificate, the server verified
 * against --ca-file (or the system's trust store) and its name checked,
 * the response parsed (core/http.h) and its JSON returned.
 *
 * Ownership: *out is the caller's (json_decref).
 */
#ifndef HILT_API_API_CLIENT_H
#define HILT_API_API_CLIENT_H

#include <jansson.h>

struct hilt_err;

struct hilt_client_opts {
    const char *server;     /* https://HOST:PORT */
    const char *token;      /* bearer token, or NULL */
    const char *cert, *key; /* client certificate (PEM, chain allowed) and key, or NULL */
    const char *ca_file;    /* trust for the server's certificate; NULL: system default */
    int timeout_ms;         /* whole exchange; 0 = 30000 */
};

/* METHOD PATH (with query) with an optional JSON body. *status gets the
 * HTTP status; *out the JSON body (a problem document for errors), or NULL
 * when the body is not JSON. -1 (HILT_E_NET / HILT_E_INPUT) when no HTTP
 * answer could be had. */
int hilt_client_call(const struct hilt_client_opts *o, const char *method, const char *path,
                     const json_t *body, int *status, json_t **out, struct hilt_err *e);

#endif
