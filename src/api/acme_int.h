/* acme_int.h - what the ACME server's files share (api/acme.c: routing,
 * nonces and the JWS checks; acme_account.c; acme_order.c: orders,
 * authorizations, challenges, finalize, certificates, revocation;
 * acme_validate.c: http-01 and tls-alpn-01 validation on the event base;
 * ari.c: renewal information). Only src/api/acme*.c and ari.c include it.
 * See docs/acme.md.
 */
#ifndef HILT_API_ACME_INT_H
#define HILT_API_ACME_INT_H

#include "api/api.h"
#include "api/jws.h"
#include "core/buf.h"
#include "store/store_acme.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>

struct event;
struct evdns_base;
struct acme_validation;
struct acme_defer;

#define ACME_NONCE_LIFETIME 900         /* seconds a nonce stays usable */
#define ACME_ORDER_LIFETIME (7 * 86400) /* a pending/ready order expires */
#define ACME_AUTHZ_LIFETIME (7 * 86400) /* an authorization expires */
#define ACME_VALID_AUTHZ_LIFETIME (30 * 86400)
#define ACME_MAX_IDENTIFIERS 100
#define ACME_MAX_CONTACTS 10
#define ACME_VALIDATIONS_ACTIVE 256  /* validations in flight at once */
#define ACME_VALIDATIONS_QUEUED 8192 /* and waiting; beyond: rateLimited */
#define ACME_DEFAULT_VALIDATION_MS 10000
#define ACME_INLINE_WAIT_MS 2000 /* a challenge POST waits this long for its validation */
#define ACME_RETRY_AFTER 1       /* seconds, on processing challenges */

/* In-memory replay set of a store that only one node uses (SQLite): keys
 * are a nonce's 64 random bits, kept until the nonce would expire. */
struct acme_replay {
    uint64_t *keys;   /* 0 = empty slot */
    uint32_t *issued; /* the nonce's issue time, for expiry */
    size_t cap, n;
    uint32_t floor; /* nonces issued before this are refused (after a reset) */
};

/* Account keys by RFC 7638 thumbprint: a thumbprint names one key for
 * good, so a cached EVP_PKEY is never stale (turning a JWK into a key costs
 * more than verifying a signature with it). Direct-mapped. */
#define ACME_KEY_CACHE 1024
struct acme_key_slot {
    char thumbprint[64];
    EVP_PKEY *key;
};

struct acme {
    struct hilt_api *api;
    struct acme_key_slot keys[ACME_KEY_CACHE];
    struct hilt_buf chain_pem; /* the CA chain below a leaf, for downloads */
    unsigned char nonce_key[32];
    int shared; /* the store is shared by nodes (PostgreSQL): replay set in the store */
    struct acme_replay replay;
    struct event *purge_ev;
    int64_t last_purge;
    /* validation */
    int validation_ms;
    struct evdns_base *dns;
    void *alpn_ctx; /* SSL_CTX for tls-alpn-01 */
    struct acme_validation *active, *queue_head, *queue_tail;
    size_t nactive, nqueued;
    /* ARI: the issuing CA's subject key identifier, base64url */
    char issuer_kid[96];
    int64_t ari_retry_after;
    struct acme_defer *defer; /* group commit (acme_defer.c); NULL: write at once */
};

/* One request on its way through the checks of RFC 8555 §6. */
struct acme_rq {
    struct acme *a;
    struct hilt_api *api;
    const struct hilt_req *req;
    struct hilt_reply *resp;
    char url[1400]; /* the URL the request was sent to */
    struct hilt_jws jws;
    json_t *payload;               /* the parsed payload; NULL for POST-as-GET */
    struct hilt_acme_account acct; /* with kid: the account */
    int have_acct;
    EVP_PKEY *key; /* the key that signed */
};

/* Problem types beyond jws.h's (RFC 8555 §6.7, RFC 9773 §7.4). */
#define ACME_ERR(x) "urn:ietf:params:acme:error:" x

/* Answer with a problem document (RFC 7807 + RFC 8555 §6.7); extra members
 * from `extra` (stolen, may be NULL). */
void acme_problem(struct acme_rq *rq, int status, const char *type, json_t *extra, const char *fmt,
                  ...) __attribute__((format(printf, 5, 6)));
/* The problem of a failed step (e->code is an enum hilt_acme_problem). */
void acme_problem_err(struct acme_rq *rq, const struct hilt_err *e);
/* JSON problem text for storing with an order or a challenge (malloc'd). */
char *acme_problem_json(const char *type, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void acme_reply_json(struct acme_rq *rq, int status, json_t *body);
void acme_count(struct acme *a, const char *fmt, const char *label);

/* Absolute URLs of resources. */
void acme_url(const struct acme_rq *rq, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void acme_account_url(const struct acme_rq *rq, const char *id, char *out, size_t cap);
/* A new random object id (22 base64url characters) or token (43). */
int acme_random_id(char *out, size_t cap, size_t bytes);
json_t *acme_time(int64_t t);
/* path component after prefix, checked to be an id (base64url, 1..47). */
const char *acme_path_id(const char *path, const char *prefix, char *out, size_t cap);
const char *acme_actor(const struct acme_rq *rq, char *buf, size_t cap);

/* resources (acme_account.c) */
void acme_new_account(struct acme_rq *rq);
void acme_account(struct acme_rq *rq, const char *id);
void acme_account_orders(struct acme_rq *rq, const char *id);
void acme_key_change(struct acme_rq *rq);
/* resources (acme_order.c) */
void acme_new_order(struct acme_rq *rq);
void acme_order(struct acme_rq *rq, const char *id);
void acme_finalize(struct acme_rq *rq, const char *id);
void acme_authz(struct acme_rq *rq, const char *id);
void acme_challenge(struct acme_rq *rq, const char *authz_id, const char *type);
void acme_certificate(struct acme_rq *rq, const char *serial);
void acme_revoke(struct acme_rq *rq);

/* The headers of every ACME response: a fresh Replay-Nonce, and (unless
 * no_index) the directory Link. */
void acme_common_headers(struct acme *a, const char *base_url, int no_index,
                         struct hilt_reply *resp);
/* The answer to a challenge POST whose reply was deferred until its
 * validation ended (or the wait ran out: status "processing"). */
void acme_challenge_reply(struct acme *a, const char *base_url, const struct hilt_acme_authz *authz,
                          const char *type, const char *token, const char *status,
                          int64_t validated, const char *error_json, struct hilt_reply *resp);

/* validation (acme_validate.c) */
int acme_validate_init(struct acme *a, struct hilt_err *e);
void acme_validate_free(struct acme *a);
/* Room for one more validation? */
int acme_validate_has_room(const struct acme *a);
/* Is this challenge being validated by this process? */
int acme_validate_busy(const struct acme *a, const char *authz_id, const char *type);
/* Start (or queue) a validation; the result goes to the store. With a
 * `waiter` (a deferred challenge reply), the result is also answered
 * there, or "processing" after ACME_INLINE_WAIT_MS; URLs in it start with
 * base_url. -1: nothing started (the waiter is untouched). */
int acme_validate_start(struct acme *a, const struct hilt_acme_authz *authz, const char *type,
                        const char *token, const char *keyauth, int64_t started,
                        struct hilt_deferred *waiter, const char *base_url);

/* group commit of small writes on a one-node store (acme_defer.c) */
int acme_defer_init(struct acme *a, struct hilt_err *e);
void acme_defer_free(struct acme *a);
/* Commit what is queued (joining an open transaction). */
int acme_defer_flush(struct acme *a, struct hilt_err *e);
/* Commit the queue first if it holds a change of this order / authorization
 * (both NULL: if it holds anything). */
int acme_defer_sync(struct acme *a, const char *order_id, const char *authz_id, struct hilt_err *e);
/* A validation's result (hilt_store_acme_chall_finish, later). */
int acme_defer_result(struct acme *a, const struct hilt_acme_authz *authz, const char *type,
                      int valid, const char *error, int64_t when, struct hilt_err *e);
/* A finalized order's status (hilt_store_acme_order_finish, later; marks
 * what it replaces). Returns what the update would: 1 changed. */
int acme_defer_finish(struct acme *a, const struct hilt_acme_order *o, const char *from,
                      const char *to, const char *serial, const char *request_id,
                      struct hilt_err *e);

/* ARI (ari.c) */
void acme_renewal_info(struct acme_rq *rq, const char *certid);
/* Check a newOrder's "replaces" (RFC 9773 §5) and return the serial it names. */
int acme_ari_replaces(struct acme_rq *rq, const char *certid, const json_t *identifiers,
                      char serial[64]);
/* Mark what a valid order replaced (status superseded, history). */
void acme_ari_mark_replaced(struct acme *a, const struct hilt_acme_order *o,
                            const char *new_serial);

#endif
