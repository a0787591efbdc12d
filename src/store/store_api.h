/* store_api.h - the state of `hilt serve` (schema 3): principals, bearer
 * tokens (hashed), role grants with scopes, certificate requests and their
 * decisions, node leases; plus bounded, cursor-paged reads of the inventory
 * and the audit chain for the REST API. See docs/serve.md.
 *
 * The store never sees a token: only SHA-256 of its secret part. Request
 * decisions are conditional updates (WHERE state = 'pending'), so two
 * approvers or two nodes racing on one request cannot both win. Leases are
 * one upsert that succeeds only for the holder or after expiry.
 *
 * Ownership: records filled by the …_get() functions own their allocated
 * strings (hilt_api_request_rec_free); records handed to callbacks borrow
 * theirs for the callback's duration only.
 */
#ifndef HILT_STORE_STORE_API_H
#define HILT_STORE_STORE_API_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* Migration 3 (store.c's migrations[] runs them). */
extern const char *const hilt_store_m3_sqlite[];
extern const char *const hilt_store_m3_pg[];

#define HILT_PRINCIPAL_MAX 160 /* "token:NAME", "cert:CN" */

/* ---- principals ------------------------------------------------------------------ */
struct hilt_api_principal_rec {
    const char *id, *kind; /* kind "token" | "cert" */
    int64_t created, disabled_at;
};
typedef int (*hilt_api_principal_cb)(const struct hilt_api_principal_rec *r, void *arg);
/* Record a principal (no-op when it exists). */
int hilt_store_principal_add(struct hilt_store *s, const char *id, const char *kind,
                             struct hilt_err *e);
/* 1 found (disabled_at filled), 0 not, -1 error. */
int hilt_store_principal_get(struct hilt_store *s, const char *id, int64_t *disabled_at,
                             struct hilt_err *e);
int hilt_store_principal_list(struct hilt_store *s, hilt_api_principal_cb cb, void *arg,
                              struct hilt_err *e);
/* Disable (when > 0) or enable (0) a principal; audited. 1 changed, 0 unknown. */
int hilt_store_principal_disable(struct hilt_store *s, const char *id, int64_t when,
                                 const struct hilt_audit_ev *ev, struct hilt_err *e);

/* ---- tokens ---------------------------------------------------------------------- */
struct hilt_api_token_rec {
    const char *id;                          /* public part of the token (hex) */
    const char *name;                        /* unique */
    const char *principal;                   /* "token:NAME" */
    const char *hash;                        /* hex SHA-256 of the secret part ("" in listings) */
    int64_t created, expires_at, revoked_at; /* 0 = never / not revoked */
    const char *created_by;
    int64_t principal_disabled_at;
};
typedef int (*hilt_api_token_cb)(const struct hilt_api_token_rec *r, void *arg);
/* A token with its principal (and optionally one grant), audited, in one
 * transaction. A name in use is an input error. */
int hilt_store_token_add(struct hilt_store *s, const struct hilt_api_token_rec *t, const char *role,
                         const char *env, const char *names, const struct hilt_audit_ev *ev,
                         struct hilt_err *e);
/* By id: 1 found (cb called once), 0 not, -1 error. */
int hilt_store_token_get(struct hilt_store *s, const char *id, hilt_api_token_cb cb, void *arg,
                         struct hilt_err *e);
int hilt_store_token_list(struct hilt_store *s, hilt_api_token_cb cb, void *arg,
                          struct hilt_err *e);
/* 1 revoked now, 0 unknown or already revoked. */
int hilt_store_token_revoke(struct hilt_store *s, const char *name, int64_t when,
                            const struct hilt_audit_ev *ev, struct hilt_err *e);

/* ---- grants ---------------------------------------------------------------------- */
struct hilt_api_grant_rec {
    int64_t id;
    const char *principal;
    const char *role;  /* requester | approver | issuer | auditor | admin */
    const char *env;   /* "" = any environment */
    const char *names; /* '|'-separated patterns ("*.example.com|api.example.com"), "" = any */
    int64_t created;
    const char *created_by;
};
typedef int (*hilt_api_grant_cb)(const struct hilt_api_grant_rec *r, void *arg);
/* Adds the principal when missing; audited; *id gets the grant's id. */
int hilt_store_grant_add(struct hilt_store *s, const struct hilt_api_grant_rec *g, int64_t *id,
                         const struct hilt_audit_ev *ev, struct hilt_err *e);
/* principal NULL: every grant. */
int hilt_store_grant_list(struct hilt_store *s, const char *principal, hilt_api_grant_cb cb,
                          void *arg, struct hilt_err *e);
/* 1 removed, 0 unknown. */
int hilt_store_grant_remove(struct hilt_store *s, int64_t id, const struct hilt_audit_ev *ev,
                            struct hilt_err *e);

/* ---- requests -------------------------------------------------------------------- */
/* state: pending -> approved -> issued, pending -> issued (pre-approved or
 * approved and issued at once), pending -> rejected. */
struct hilt_api_request_rec {
    int64_t seq; /* row id: the listing cursor */
    char rid[64];
    int64_t created, updated;
    char requester[HILT_PRINCIPAL_MAX];
    char via[16]; /* "rest" | "acme" */
    char owner[128], service[128], env[64];
    char *names; /* comma-separated, normalised (owned) */
    int64_t lifetime;
    char *csr; /* PEM (owned) */
    char state[16];
    char approver[HILT_PRINCIPAL_MAX];
    int64_t decided_at;
    char reason[512];
    char serial[64];
    char issuer[HILT_PRINCIPAL_MAX];
};
void hilt_api_request_rec_free(struct hilt_api_request_rec *r);
typedef int (*hilt_api_request_cb)(const struct hilt_api_request_rec *r, void *arg);
/* Insert (with its audit record) in one transaction, or the caller's. */
int hilt_store_request_add(struct hilt_store *s, const struct hilt_api_request_rec *r,
                           const struct hilt_audit_ev *ev, struct hilt_err *e);
/* 1 found, 0 not, -1 error; out is the caller's to free. */
int hilt_store_request_get(struct hilt_store *s, const char *rid, struct hilt_api_request_rec *out,
                           struct hilt_err *e);
/* Requests with seq > after, optionally of one state / requester ("" =
 * any), at most limit, by seq. */
int hilt_store_request_list(struct hilt_store *s, int64_t after, const char *state,
                            const char *requester, int64_t limit, hilt_api_request_cb cb, void *arg,
                            struct hilt_err *e);
/* pending -> state ("approved" | "rejected"), audited in the same
 * transaction. 1 decided now, 0 it was not pending (someone else decided). */
int hilt_store_request_decide(struct hilt_store *s, const char *rid, const char *state,
                              const char *approver, const char *reason, int64_t when,
                              const struct hilt_audit_ev *ev, struct hilt_err *e);
/* pending|approved -> issued with its serial. 1 done, 0 not in such a state. */
int hilt_store_request_issued(struct hilt_store *s, const char *rid, const char *serial,
                              const char *issuer, int64_t when, const struct hilt_audit_ev *ev,
                              struct hilt_err *e);
/* The request that produced a certificate: 1 found, 0 not. */
int hilt_store_request_by_serial(struct hilt_store *s, const char *serial,
                                 struct hilt_api_request_rec *out, struct hilt_err *e);
/* How many requests are in each state (for /metrics). */
typedef int (*hilt_api_count_cb)(const char *state, int64_t n, void *arg);
int hilt_store_request_counts(struct hilt_store *s, hilt_api_count_cb cb, void *arg,
                              struct hilt_err *e);

/* ---- leases ---------------------------------------------------------------------- */
struct hilt_api_lease_rec {
    const char *name, *holder;
    int64_t epoch, acquired_at, heartbeat_at, expires_at;
};
typedef int (*hilt_api_lease_cb)(const struct hilt_api_lease_rec *r, void *arg);
/* Take or renew lease `name` for `holder` until now + ttl: succeeds when
 * free, expired or already ours. 1 held (epoch filled: it grows at every
 * change of holder), 0 someone else holds it, -1 error. */
int hilt_store_lease_acquire(struct hilt_store *s, const char *name, const char *holder,
                             int64_t now, int64_t ttl, int64_t *epoch, struct hilt_err *e);
/* Give it up (only when ours). */
int hilt_store_lease_release(struct hilt_store *s, const char *name, const char *holder,
                             struct hilt_err *e);
int hilt_store_lease_list(struct hilt_store *s, hilt_api_lease_cb cb, void *arg,
                          struct hilt_err *e);

/* ---- bounded reads for the REST API ------------------------------------------------- */
struct hilt_api_cert_row {
    int64_t id;
    const char *serial, *sha256, *ca, *subject, *names, *key_type;
    const char *owner, *service, *env, *status, *source, *pipeline;
    int64_t not_before, not_after, revoked_at, created;
    int revoke_reason;
};
typedef int (*hilt_api_cert_cb)(const struct hilt_api_cert_row *r, void *arg);
struct hilt_api_cert_query {
    int64_t after;                                     /* id cursor */
    const char *owner, *service, *env, *status, *name; /* NULL/"" = any */
    int64_t limit;
};
int hilt_store_cert_page(struct hilt_store *s, const struct hilt_api_cert_query *q,
                         hilt_api_cert_cb cb, void *arg, struct hilt_err *e);
/* Active certificates with not_after in [from, until), after the cursor
 * (not_after, id), by not_after. */
int hilt_store_cert_expiring_page(struct hilt_store *s, int64_t from, int64_t until,
                                  int64_t after_not_after, int64_t after_id, int64_t limit,
                                  hilt_api_cert_cb cb, void *arg, struct hilt_err *e);
/* hilt's own certificate of that serial first; 1 found, 0 not. */
int hilt_store_cert_row_by_serial(struct hilt_store *s, const char *serial, hilt_api_cert_cb cb,
                                  void *arg, struct hilt_err *e);
/* Audit records with seq > after, at most limit. */
int hilt_store_audit_page(struct hilt_store *s, int64_t after, int64_t limit, hilt_audit_cb cb,
                          void *arg, struct hilt_err *e);

#endif
