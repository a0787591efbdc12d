/* api.h - what `hilt serve`'s parts share: the server context, the
 * authenticated principal, scopes, and the one issuance path every way in
 * (REST /v1 and ACME) goes through.
 *
 * Owners: api/httpd.c (the daemon), api/rest.c, api/auth.c, api/submit.c and src/cli/serve.c build
 * and run the server (REST, auth, approvals, metrics, renewal loop);
 * api/acme.c and api/ari.c mount under /acme/. See docs/serve.md and
 * docs/acme.md.
 *
 * Mount points (fixed, dispatched by api/httpd.c):
 *   /v1/…          hilt_rest_handle()      REST API (api/rest.c)
 *   /acme/…        hilt_acme_handle()      ACME directory and resources (api/acme.c)
 *   /ocsp, /ocsp/… the OCSP responder (ca/ocsp_responder.h)
 *   /crl/…         CRLs
 *   /metrics       Prometheus text
 *   /healthz       liveness/readiness
 *
 * Ownership: struct hilt_api is created and freed by the server; handlers
 * borrow it. Modules keep their own state behind the opaque pointers.
 */
#ifndef HILT_API_API_H
#define HILT_API_API_H

#include "api/handler.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct hilt_store;
struct hilt_ca;
struct hilt_err;

/* A pre-approved scope: names matching `pattern` ("*.svc.internal": one
 * label for the '*'; an exact name otherwise), in `env` ("" = any), with a
 * lifetime up to max_lifetime seconds, issue with no human step. From
 * --preapprove 'PATTERN[,max-lifetime]' or the config file's scopes. */
struct hilt_scope {
    char pattern[256];
    char env[64];
    int64_t max_lifetime; /* seconds; 0 = the CA's maximum */
};

/* Roles (a principal may hold several, each for its own scopes). */
enum hilt_role {
    HILT_ROLE_REQUESTER = 1 << 0,
    HILT_ROLE_APPROVER = 1 << 1,
    HILT_ROLE_ISSUER = 1 << 2,  /* automation */
    HILT_ROLE_AUDITOR = 1 << 3, /* read-only */
    HILT_ROLE_ADMIN = 1 << 4,
};

/* Who made a request, once authenticated (mTLS certificate, bearer token,
 * or an ACME account). */
struct hilt_principal {
    char id[128];   /* "token:NAME", "cert:SUBJECT", "acme:ACCOUNT-ID" */
    unsigned roles; /* enum hilt_role bits */
};

/* Metadata that travels with a CSR through requests and approvals. */
struct hilt_cert_meta {
    const char *owner, *service, *env;
    int64_t lifetime; /* seconds; 0 = default */
    int csr_checked;  /* the caller verified the CSR's signature (hilt_csr_check) */
};

/* Outcome of hilt_api_submit(). */
enum hilt_submit_state {
    HILT_SUBMIT_ISSUED = 1,  /* pre-approved: the certificate is in `issued` */
    HILT_SUBMIT_PENDING = 2, /* waits for an approver; `request_id` names it */
};

struct hilt_api {
    struct event_base *base;
    struct hilt_store *st; /* shared by all handlers of this process */
    struct hilt_ca *ca;    /* signs through the signer process */
    const char *home;
    const char *node_id; /* this node's name in leases and metrics */
    const struct hilt_scope *scopes;
    size_t nscopes;
    /* test knobs, as pebble has (docs/serve.md): where the ACME validator
     * connects for http-01 / tls-alpn-01 and name overrides */
    int http01_port;            /* default 80 */
    int tlsalpn01_port;         /* default 443 */
    const char *const *resolve; /* "NAME=IP" */
    size_t nresolve;
    void *rest; /* api/rest.c */
    void *acme; /* api/acme.c */
    void *priv; /* api/httpd.c (the daemon) */
    /* added by the REST/approvals side: */
    int issue_on_approve; /* 1 (default): an approval issues at once; 0: an
                           * issuer's POST /v1/requests/ID/issue does */
    void *metrics;        /* api/api_metrics.c: what hilt_api_count() adds to
                           * (NULL: counts are dropped, as in unit tests) */
};

/* Does a pre-approved scope cover every name of the request, its env and
 * its lifetime? 1 yes, 0 no. */
int hilt_scope_covers(const struct hilt_scope *scopes, size_t n, const char *const *names,
                      size_t nnames, const char *env, int64_t lifetime);
/* Parse 'PATTERN[,max-lifetime]' (lifetime as 7d, 12h, 3600s). */
int hilt_scope_parse(const char *s, struct hilt_scope *out, struct hilt_err *e);

/* The one way a CSR becomes a certificate: check it against the CA's
 * policy, then issue at once when a pre-approved scope covers it, or record
 * a pending request for an approver. Audited in both cases under
 * who->id. ACME finalize calls this too; a pending ACME order stays
 * "processing" until an approver decides through /v1. */
struct hilt_issued;
int hilt_api_submit(struct hilt_api *api, const struct hilt_principal *who, X509_REQ *csr,
                    const struct hilt_cert_meta *meta, enum hilt_submit_state *state,
                    char request_id[64], struct hilt_issued *issued, struct hilt_err *e);

/* The state of a request hilt_api_submit() left pending: 0 pending, 1
 * issued (serial filled in), 2 rejected. -1 with e set on error. */
int hilt_api_request_state(struct hilt_api *api, const char *request_id, int *state,
                           char serial[64], struct hilt_err *e);

/* Add to a Prometheus counter served on /metrics; `series` is the full
 * series name with labels, e.g. "hilt_acme_orders_total{status=\"valid\"}".
 * Counters are per process (each node serves its own). */
void hilt_api_count(struct hilt_api *api, const char *series, uint64_t n);

/* Mount-point handlers. */
void hilt_rest_handle(struct hilt_api *api, const struct hilt_req *req, struct hilt_reply *resp);
void hilt_acme_handle(struct hilt_api *api, const struct hilt_req *req, struct hilt_reply *resp);
/* Module set-up after the store and CA are open, before listening. */
int hilt_rest_init(struct hilt_api *api, struct hilt_err *e);
void hilt_rest_free(struct hilt_api *api);
int hilt_acme_init(struct hilt_api *api, struct hilt_err *e);
void hilt_acme_free(struct hilt_api *api);

#endif
