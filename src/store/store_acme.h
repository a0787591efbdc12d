/* store_acme.h - the ACME server's state (schema 4): accounts, orders with
 * their authorizations and challenges, the replay set of used nonces, the
 * nonce MAC key shared by the nodes of one store, and the operator's ARI
 * overrides. See docs/acme.md.
 *
 * Status changes are conditional updates on the status they leave
 * (RFC 8555 §7.1.6), so two nodes racing on one object cannot both move it.
 * Operations have their own transaction unless the caller holds one
 * (hilt_store_begin), which they join.
 *
 * Ownership: records filled by the …_get() functions and handed to
 * callbacks are plain structs with fixed-size fields plus a few malloc'd
 * strings (jwk, contact, identifiers, error, match, reason…); the …_get()
 * records are the caller's to release with the matching …_free(); records
 * handed to callbacks are freed after the callback returns.
 */
#ifndef HILT_STORE_STORE_ACME_H
#define HILT_STORE_STORE_ACME_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* Migration 4 (store.c's migrations[] runs it). */
extern const char *const hilt_store_m4_sqlite[];
extern const char *const hilt_store_m4_pg[];

#define HILT_ACME_ID_MAX 48    /* object ids: 22 base64url characters */
#define HILT_ACME_TOKEN_MAX 64 /* challenge tokens: 43 */

/* ---- accounts ------------------------------------------------------------------- */
struct hilt_acme_account {
    char id[HILT_ACME_ID_MAX];
    char thumbprint[64]; /* RFC 7638, base64url */
    char status[16];     /* valid | deactivated | revoked */
    char *jwk;           /* JSON text of the public key */
    char *contact;       /* JSON array text, "[]" when none */
    int tos_agreed;
    int64_t created, updated;
};
void hilt_acme_account_free(struct hilt_acme_account *a);
/* Insert; 0 created, 1 a different account already holds this key (nothing
 * written: the caller reads that one), -1 error. Audited with ev. */
int hilt_store_acme_account_add(struct hilt_store *s, const struct hilt_acme_account *a,
                                const struct hilt_audit_ev *ev, struct hilt_err *e);
/* 1 found, 0 not, -1 error. */
int hilt_store_acme_account_get(struct hilt_store *s, const char *id, struct hilt_acme_account *out,
                                struct hilt_err *e);
int hilt_store_acme_account_by_key(struct hilt_store *s, const char *thumbprint,
                                   struct hilt_acme_account *out, struct hilt_err *e);
/* contact and/or status (NULL = keep) of a valid account. 1 changed, 0 not
 * (unknown or no longer valid). Audited with ev when changed. */
int hilt_store_acme_account_update(struct hilt_store *s, const char *id, const char *contact,
                                   const char *status, const struct hilt_audit_ev *ev,
                                   struct hilt_err *e);
/* Key rollover (§7.3.5): 1 changed, 0 the account no longer has old_tp,
 * 2 the new key belongs to another account (nothing changed), -1 error.
 * Audited. */
int hilt_store_acme_account_rekey(struct hilt_store *s, const char *id, const char *old_tp,
                                  const char *new_tp, const char *new_jwk,
                                  const struct hilt_audit_ev *ev, struct hilt_err *e);
typedef int (*hilt_acme_account_cb)(const struct hilt_acme_account *a, void *arg);
int hilt_store_acme_account_list(struct hilt_store *s, hilt_acme_account_cb cb, void *arg,
                                 struct hilt_err *e);

/* ---- orders, authorizations, challenges ------------------------------------------- */
struct hilt_acme_order {
    char id[HILT_ACME_ID_MAX];
    char account[HILT_ACME_ID_MAX];
    char status[16];   /* pending | ready | processing | valid | invalid */
    char *identifiers; /* JSON array text [{"type","value"}] */
    int64_t expires;
    int64_t not_before, not_after; /* as requested (0 = not given) */
    int64_t lifetime;              /* seconds the certificate will live */
    char *error;                   /* JSON problem text, or NULL */
    char request_id[64];           /* hilt_api_submit's pending request, or "" */
    char serial[64];               /* the certificate, once valid */
    char *replaces;                /* RFC 9773 certID as given, or NULL */
    char replaces_serial[64];
    int64_t created, updated;
};
void hilt_acme_order_free(struct hilt_acme_order *o);

struct hilt_acme_authz {
    char id[HILT_ACME_ID_MAX];
    char order_id[HILT_ACME_ID_MAX];
    int pos;
    char account[HILT_ACME_ID_MAX];
    char id_type[8];    /* dns | ip */
    char id_value[256]; /* normalised */
    char status[16];    /* pending | valid | invalid | deactivated | expired | revoked */
    int64_t expires;
};

struct hilt_acme_chall {
    char authz_id[HILT_ACME_ID_MAX];
    char type[16]; /* http-01 | tls-alpn-01 */
    char token[HILT_ACME_TOKEN_MAX];
    char status[16]; /* pending | processing | valid | invalid */
    int64_t started, validated;
    char *error; /* JSON problem text, or NULL */
};
void hilt_acme_chall_free(struct hilt_acme_chall *c);

/* An order with its authorizations and their challenges, in one
 * transaction (with the caller's, if open). */
int hilt_store_acme_order_create(struct hilt_store *s, const struct hilt_acme_order *o,
                                 const struct hilt_acme_authz *authzs, size_t nauthz,
                                 const struct hilt_acme_chall *challs, size_t nchall,
                                 struct hilt_err *e);
int hilt_store_acme_order_get(struct hilt_store *s, const char *id, struct hilt_acme_order *out,
                              struct hilt_err *e);
/* The newest order whose certificate has this serial. 1/0/-1. */
int hilt_store_acme_order_by_serial(struct hilt_store *s, const char *serial,
                                    struct hilt_acme_order *out, struct hilt_err *e);
typedef int (*hilt_acme_order_cb)(const struct hilt_acme_order *o, void *arg);
/* account NULL: every account's. Newest first, at most limit. */
int hilt_store_acme_order_list(struct hilt_store *s, const char *account, int64_t limit,
                               hilt_acme_order_cb cb, void *arg, struct hilt_err *e);
/* from -> to (plain status change). 1 changed, 0 not in `from`. */
int hilt_store_acme_order_set_status(struct hilt_store *s, const char *id, const char *from,
                                     const char *to, struct hilt_err *e);
/* from -> to with the serial / pending request / error (NULL = none). */
int hilt_store_acme_order_finish(struct hilt_store *s, const char *id, const char *from,
                                 const char *to, const char *serial, const char *request_id,
                                 const char *error, struct hilt_err *e);
/* pending|ready -> invalid with an error. */
int hilt_store_acme_order_invalidate(struct hilt_store *s, const char *id, const char *error,
                                     struct hilt_err *e);
/* Is a certificate already replaced by an order that is not invalid? 1 yes
 * (by_order filled), 0 no. */
int hilt_store_acme_replaced_by(struct hilt_store *s, const char *serial,
                                char by_order[HILT_ACME_ID_MAX], struct hilt_err *e);

int hilt_store_acme_authz_get(struct hilt_store *s, const char *id, struct hilt_acme_authz *out,
                              struct hilt_err *e);
typedef int (*hilt_acme_authz_cb)(const struct hilt_acme_authz *a, void *arg);
int hilt_store_acme_authz_list(struct hilt_store *s, const char *order_id, hilt_acme_authz_cb cb,
                               void *arg, struct hilt_err *e);
/* Deactivate (client, §7.5.2): the authorization, and its order becomes
 * invalid; one transaction. 1 changed, 0 not (was not pending/valid). */
int hilt_store_acme_authz_deactivate(struct hilt_store *s, const struct hilt_acme_authz *a,
                                     struct hilt_err *e);
typedef int (*hilt_acme_chall_cb)(const struct hilt_acme_chall *c, void *arg);
int hilt_store_acme_chall_list(struct hilt_store *s, const char *authz_id, hilt_acme_chall_cb cb,
                               void *arg, struct hilt_err *e);
/* pending -> processing (started = when). 1 changed, 0 not pending. */
int hilt_store_acme_chall_start(struct hilt_store *s, const char *authz_id, const char *type,
                                int64_t when, struct hilt_err *e);
/* A stale processing challenge taken over: 1 when still started at
 * `was` (now `when`), 0 when someone else moved it. */
int hilt_store_acme_chall_restart(struct hilt_store *s, const char *authz_id, const char *type,
                                  int64_t was, int64_t when, struct hilt_err *e);
/* A validation's result, in one transaction: the challenge (pending or
 * processing -> valid|invalid), its authorization (pending ->
 * valid|invalid) and the order (pending -> ready when every authorization
 * is valid; -> invalid when this one failed). 1 recorded, 0 the challenge
 * had a result already (nothing changed). */
int hilt_store_acme_chall_finish(struct hilt_store *s, const struct hilt_acme_authz *a,
                                 const char *type, int valid, const char *error, int64_t when,
                                 struct hilt_err *e);

/* ---- nonces -------------------------------------------------------------------------- */
/* Record a nonce as used until `expires`: 0 first use, 1 used before. */
int hilt_store_acme_nonce_use(struct hilt_store *s, const char *nonce, int64_t expires,
                              struct hilt_err *e);
int hilt_store_acme_nonce_purge(struct hilt_store *s, int64_t now, struct hilt_err *e);
/* A named secret, created from `fresh` on first use; the value every node
 * reads is copied to out (NUL-terminated, at most cap-1 bytes). */
int hilt_store_acme_secret(struct hilt_store *s, const char *name, const char *fresh, char *out,
                           size_t cap, struct hilt_err *e);

/* ---- ARI overrides ---------------------------------------------------------------------- */
struct hilt_acme_ari_override {
    int64_t id;
    char kind[16]; /* all | serial | names */
    char *match;   /* serial (hex) or name pattern; "" for all */
    int64_t shift; /* seconds the default window moves earlier (0 = none) */
    int64_t until; /* the window ends by this time (0 = no such bound) */
    char *reason, *explanation_url, *actor;
    int64_t created;     /* when it was made */
    int64_t cancelled;   /* 0, or when it was cancelled */
    int64_t cert_id_max; /* it covers the certificates recorded before it: row ids up to this */
};
void hilt_acme_ari_override_free(struct hilt_acme_ari_override *o);
/* Insert (id filled in) with an audit record, one transaction. */
int hilt_store_acme_ari_add(struct hilt_store *s, struct hilt_acme_ari_override *o,
                            const struct hilt_audit_ev *ev, struct hilt_err *e);
typedef int (*hilt_acme_ari_cb)(const struct hilt_acme_ari_override *o, void *arg);
/* active_only: those not cancelled. In id order. */
int hilt_store_acme_ari_list(struct hilt_store *s, int active_only, hilt_acme_ari_cb cb, void *arg,
                             struct hilt_err *e);
/* The inventory row id of a certificate hilt issued: 1 found, 0 not. */
int hilt_store_acme_cert_id(struct hilt_store *s, const char *serial, int64_t *id,
                            struct hilt_err *e);
/* 1 cancelled now, 0 unknown or already cancelled. Audited. */
int hilt_store_acme_ari_cancel(struct hilt_store *s, int64_t id, int64_t when,
                               const struct hilt_audit_ev *ev, struct hilt_err *e);

#endif
