/* store.h - hilt's state: CAs, the certificate inventory, revocations, CRL
 * numbers and the audit chain, behind one interface with SQLite (default,
 * $HILT_HOME/hilt.db, WAL) and PostgreSQL (postgres://…) implementations.
 * See docs/store.md for the schema, migrations and locking.
 *
 * Ownership: the store handle is the caller's (hilt_store_close). Records
 * handed to callbacks borrow their strings for the callback's duration only.
 * hilt_store_cert_get() and hilt_store_ca_get() fill records the caller
 * frees with hilt_cert_rec_free() / hilt_ca_rec_free(); `der` buffers are
 * caller-initialised struct hilt_buf.
 */
#ifndef HILT_STORE_STORE_H
#define HILT_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct hilt_err;
struct hilt_buf;
struct hilt_store;

#define HILT_STORE_SCHEMA_VERSION 1

/* $HILT_HOME, or ~/.local/share/hilt. Returns -1 if it does not fit. */
int hilt_home(char *out, size_t cap, struct hilt_err *e);

/* url: NULL/"" = $HILT_HOME/hilt.db; "postgres://…", "postgresql://…";
 * "sqlite:PATH" or a plain PATH. Creates and migrates the schema. */
struct hilt_store *hilt_store_open(const char *url, struct hilt_err *e);
void hilt_store_close(struct hilt_store *s);
const char *hilt_store_kind(const struct hilt_store *s); /* "sqlite" | "postgres" */
int hilt_store_schema_version(struct hilt_store *s, int *out, struct hilt_err *e);

/* Group writes (bulk imports, batches). Operations that have their own
 * transaction join the open one instead. */
int hilt_store_begin(struct hilt_store *s, struct hilt_err *e);
int hilt_store_commit(struct hilt_store *s, struct hilt_err *e);
void hilt_store_rollback(struct hilt_store *s);

/* ---- audit ---------------------------------------------------------- */
struct hilt_audit_ev {
    const char *actor;  /* NULL: hilt_audit_actor() */
    const char *action; /* "ca.init", "cert.issue", "cert.revoke", "crl.generate", … */
    const char *object; /* serial, CA name, file */
    const char *result; /* "ok" or "error: …" */
};

struct hilt_audit_rec {
    int64_t seq;
    int64_t time;
    const char *actor, *action, *object, *result;
    const char *prev; /* hex SHA-256 of the previous record ("" for the first) */
    const char *hash; /* hex SHA-256 of this record */
};

/* HILT_ACTOR, or user@host. */
const char *hilt_audit_actor(void);
/* The record hash: SHA-256 over prev and the length-prefixed fields. */
void hilt_audit_hash(const struct hilt_audit_rec *r, char out[65]);
int hilt_store_audit_append(struct hilt_store *s, const struct hilt_audit_ev *ev,
                            struct hilt_err *e);
typedef int (*hilt_audit_cb)(const struct hilt_audit_rec *r, void *arg);
/* In seq order. A callback returning non-zero stops the walk (returned). */
int hilt_store_audit_walk(struct hilt_store *s, hilt_audit_cb cb, void *arg, struct hilt_err *e);
int hilt_store_audit_head(struct hilt_store *s, int64_t *seq, char hash[65], struct hilt_err *e);

struct hilt_audit_check {
    int ok;
    int64_t records;
    int64_t first_bad; /* seq of the first bad record (0 when ok) */
    char reason[256];
};
/* Walk and check the whole chain. Returns 0 when the check ran (see out->ok). */
int hilt_store_audit_verify(struct hilt_store *s, struct hilt_audit_check *out, struct hilt_err *e);

/* ---- CAs ------------------------------------------------------------ */
struct hilt_ca_rec {
    char *name, *key_type, *key_ref, *root_pem, *cert_pem;
    char *ocsp_url, *crl_url, *aia_url;
    char *allow_domains; /* comma-separated suffixes, "" = any */
    int64_t max_lifetime;
    int64_t crl_shard_size;
    int64_t next_seq, crl_number, created;
};
void hilt_ca_rec_free(struct hilt_ca_rec *r);
/* Insert a new CA (fails with an input error if the name exists), with an
 * audit record in the same transaction. */
int hilt_store_ca_add(struct hilt_store *s, const struct hilt_ca_rec *r,
                      const struct hilt_audit_ev *ev, struct hilt_err *e);
/* Returns 1 found, 0 not found, -1 error. */
int hilt_store_ca_get(struct hilt_store *s, const char *name, struct hilt_ca_rec *out,
                      struct hilt_err *e);
/* Reserve n sequence numbers for the CA: [*first, *first + n). */
int hilt_store_serial_alloc(struct hilt_store *s, const char *ca, int64_t n, int64_t *first,
                            struct hilt_err *e);
int hilt_store_crl_number_next(struct hilt_store *s, const char *ca, int64_t *out,
                               struct hilt_err *e);

/* ---- certificates (the inventory) ---------------------------------- */
struct hilt_cert_rec {
    char *serial, *sha256, *ca, *subject, *names, *key_type;
    char *owner, *service, *env, *status, *source;
    int64_t seq, shard; /* -1 for certificates hilt did not issue */
    int64_t not_before, not_after, created;
    int64_t revoked_at; /* 0 = not revoked */
    int revoke_reason;  /* RFC 5280 §5.3.1 CRLReason */
};
void hilt_cert_rec_free(struct hilt_cert_rec *r);

/* Insert (with an audit record in the same transaction when ev != NULL). A
 * duplicate serial or SHA-256 is an input error naming it. */
int hilt_store_cert_add(struct hilt_store *s, const struct hilt_cert_rec *r, const uint8_t *der,
                        size_t der_len, const struct hilt_audit_ev *ev, struct hilt_err *e);
/* key: a serial or a SHA-256, lowercase hex (colons and case are normalised).
 * der may be NULL. Returns 1 found, 0 not found, -1 error. */
int hilt_store_cert_get(struct hilt_store *s, const char *key, struct hilt_cert_rec *out,
                        struct hilt_buf *der, struct hilt_err *e);

enum hilt_cert_query {
    HILT_Q_ALL,          /* every certificate, by id */
    HILT_Q_EXPIRING,     /* status active, not_after in [from, until), by not_after */
    HILT_Q_REVOKED,      /* revoked, of ca, not_after >= from (unexpired), by seq */
    HILT_Q_REVOKED_SHARD /* the same, within one shard */
};
struct hilt_cert_filter {
    enum hilt_cert_query q;
    const char *ca;
    int64_t from, until;
    int64_t shard;
    int with_der; /* HILT_Q_REVOKED*: ignored; HILT_Q_ALL/EXPIRING: pass DER */
};
typedef int (*hilt_cert_cb)(const struct hilt_cert_rec *r, const uint8_t *der, size_t der_len,
                            void *arg);
int hilt_store_cert_list(struct hilt_store *s, const struct hilt_cert_filter *f, hilt_cert_cb cb,
                         void *arg, struct hilt_err *e);
int hilt_store_cert_count(struct hilt_store *s, const struct hilt_cert_filter *f, int64_t *out,
                          struct hilt_err *e);

/* Revoke. Returns 0 when revoked now, 1 when it already was (nothing
 * changes), -1 error (unknown serial: input error). */
int hilt_store_cert_revoke(struct hilt_store *s, const char *serial, int reason, int64_t when,
                           const struct hilt_audit_ev *ev, struct hilt_err *e);

/* Normalise a serial or hash typed by a person: strips colons and spaces,
 * lowercases, drops leading zeros of a serial. -1 if not hex. */
int hilt_hex_normalise(const char *in, char *out, size_t cap);

#endif
