/* auth.h - who is calling `hilt serve`, and what they may do.
 *
 * Authentication: a bearer token (`Authorization: Bearer hilt_ID_SECRET`)
 * looked up by its public ID, its secret compared as SHA-256 in constant
 * time (the store keeps only the hash), with an optional expiry; or a TLS
 * client certificate that verified against the hilt CA's roots, is not
 * revoked in the store, and maps to the principal "cert:CN". Anything that
 * fails is a 401 with the reason (expired, revoked, unknown, disabled,
 * certificate not from this CA).
 *
 * Authorization: a principal holds grants (role + scope). A scope is an
 * environment ("" or "*" = any) and '|'-separated name patterns ("" = any):
 *   "*.example.com"  one label in place of '*' (as a TLS wildcard)
 *   ".example.com"   any name below example.com, at any depth
 *   "*"              any name;  anything else: that exact name (or IP)
 * admin holds every role within its scope. Separation of duties (the
 * requester never approves its own request) is enforced by the workflow
 * (api/submit.c), not here, so that it holds for admins too.
 *
 * See docs/serve.md ("Authentication and roles").
 */
#ifndef HILT_API_AUTH_H
#define HILT_API_AUTH_H

#include "api/api.h"

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

struct hilt_store;
struct hilt_err;

#define HILT_AUTH_MAX_GRANTS 64
#define HILT_TOKEN_ID_HEX 16     /* 8 random bytes, public (the lookup key) */
#define HILT_TOKEN_SECRET_HEX 64 /* 32 random bytes */
#define HILT_TOKEN_LEN (5 + HILT_TOKEN_ID_HEX + 1 + HILT_TOKEN_SECRET_HEX) /* "hilt_ID_SECRET" */

struct hilt_grant {
    int64_t id;
    unsigned role;    /* one enum hilt_role bit */
    char env[64];     /* "" = any */
    char names[1024]; /* '|'-separated patterns, "" = any */
};

struct hilt_auth {
    struct hilt_principal p; /* id, union of the roles */
    const char *method;      /* "token" | "cert" | "local" */
    struct hilt_grant g[HILT_AUTH_MAX_GRANTS];
    size_t ng;
};

/* Role names: requester, approver, issuer, auditor, admin. */
int hilt_role_parse(const char *s);     /* the bit, or -1 */
const char *hilt_role_name(unsigned r); /* one bit */
/* "env=prod,names=*.a.com|b.a.com" ("" = everything); either part optional. */
int hilt_grant_scope_parse(const char *s, char env[64], char names[1024], struct hilt_err *e);
/* One name against one pattern (syntax above). */
int hilt_name_pattern_match(const char *pattern, const char *name);

/* Does `a` hold any role of `roles` (admin counts for all) over env and all
 * names (nnames 0: over env only)? 1 yes, 0 no. */
int hilt_auth_allows(const struct hilt_auth *a, unsigned roles, const char *env,
                     const char *const *names, size_t nnames);
/* Does `a` hold any role of `roles` at all (any scope)? */
int hilt_auth_has_role(const struct hilt_auth *a, unsigned roles);
/* Same as hilt_auth_allows for a comma-separated name list. */
int hilt_auth_allows_csv(const struct hilt_auth *a, unsigned roles, const char *env,
                         const char *names_csv);

/* Load the grants of a principal. A disabled principal, or one with no grant, is refused
 * (e->code 401). */
int hilt_auth_load(struct hilt_store *st, const char *principal, const char *method,
                   struct hilt_auth *out, struct hilt_err *e);
/* Authenticate a bearer token at `now`. -1 with e->code 401 and the reason. */
int hilt_auth_bearer(struct hilt_store *st, const char *token, int64_t now, struct hilt_auth *out,
                     struct hilt_err *e);
/* Authenticate a client certificate. verify_result is SSL_get_verify_result()
 * of the connection (X509_V_OK when it chained to the CA's roots). */
int hilt_auth_cert(struct hilt_store *st, X509 *cert, long verify_result, struct hilt_auth *out,
                   struct hilt_err *e);
/* The principal id of a client certificate: "cert:" + its subject CN (or, without
 * one, its first DNS SAN). -1 when it has neither. */
int hilt_cert_principal(X509 *cert, char *out, size_t cap);

/* A new token: the string shown once (NUL-terminated, HILT_TOKEN_LEN), its id
 * and the hex SHA-256 of its secret (what the store keeps). */
int hilt_token_new(char token[HILT_TOKEN_LEN + 1], char id[HILT_TOKEN_ID_HEX + 1], char hash[65],
                   struct hilt_err *e);
/* Split a presented token into id and the hash of its secret; -1 if malformed. */
int hilt_token_parse(const char *token, char id[HILT_TOKEN_ID_HEX + 1], char hash[65]);

#endif
