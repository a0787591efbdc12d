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

#define HILT_STORE_SCHEMA_VERSION 5

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
int hilt_store_in_tx(const struct hilt_store *s); /* inside hilt_store_begin()? */
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
    char *issuer;       /* issuer DN, one line */
    char *issuer_key;   /* hilt_issuer_key() of the issuer Name: serials are unique per issuer */
    char *pipeline;     /* how it is renewed: "manifest:NAME", "manual", "scan", … (or NULL) */
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
/* Insert n certificates (DER may be NULL per entry) and, when evs is given,
 * one audit record each, in one transaction (or the caller's): the chain's
 * head is read and written once. All or nothing. */
int hilt_store_cert_add_many(struct hilt_store *s, const struct hilt_cert_rec *recs,
                             const uint8_t *const *ders, const size_t *lens,
                             const struct hilt_audit_ev *evs, size_t n, struct hilt_err *e);
/* Is (serial, issuer_key) taken? 1 yes (sha256 = that certificate's), 0 no. */
int hilt_store_cert_serial_taken(struct hilt_store *s, const char *serial, const char *issuer_key,
                                 char sha256[65], struct hilt_err *e);
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

/* Certificates of one CA valid at `from` or later, by sequence number (the
 * OCSP responder's initial load). */
int hilt_store_cert_list_ca(struct hilt_store *s, const char *ca, int64_t from, hilt_cert_cb cb,
                            void *arg, struct hilt_err *e);
/* What a poller needs: certificates of the CA added after *after_id (a
 * cursor the call advances; start with -1, which only finds where the
 * table ends), then those revoked at or after revoked_since. */
int hilt_store_cert_changed_ca(struct hilt_store *s, const char *ca, int64_t *after_id,
                               int64_t revoked_since, hilt_cert_cb cb, void *arg,
                               struct hilt_err *e);

/* ---- inventory details (store_clm.c) --------------------------------- */
/* Set owner/service/env/pipeline of a certificate (NULL = keep). Returns 1
 * when it exists, 0 when not, -1 on error. */
int hilt_store_cert_set_meta(struct hilt_store *s, const char *sha256, const char *owner,
                             const char *service, const char *env, const char *pipeline,
                             const struct hilt_audit_ev *ev, struct hilt_err *e);
/* "active" | "superseded" (never changes a revoked certificate). */
int hilt_store_cert_set_status(struct hilt_store *s, const char *sha256, const char *status,
                               struct hilt_err *e);

/* History of a certificate: issued, imported, seen, deployed, renewed, … */
int hilt_store_cert_event(struct hilt_store *s, const char *sha256, const char *event,
                          const char *detail, struct hilt_err *e);
struct hilt_cert_event {
    int64_t time;
    const char *event, *detail;
};
typedef int (*hilt_event_cb)(const struct hilt_cert_event *ev, void *arg);
int hilt_store_cert_events(struct hilt_store *s, const char *sha256, hilt_event_cb cb, void *arg,
                           struct hilt_err *e);

/* Where a certificate is deployed: kind "file" (a path), "endpoint"
 * (host:port), "target" (a manifest target). Seen again: last_seen moves. */
int hilt_store_location_seen(struct hilt_store *s, const char *sha256, const char *kind,
                             const char *location, int64_t when, struct hilt_err *e);
struct hilt_location {
    const char *kind, *location;
    int64_t first_seen, last_seen;
};
typedef int (*hilt_location_cb)(const struct hilt_location *l, void *arg);
int hilt_store_locations(struct hilt_store *s, const char *sha256, hilt_location_cb cb, void *arg,
                         struct hilt_err *e);

/* What a scan saw on an endpoint replaces what was seen there before. */
struct hilt_endpoint_cert {
    const char *sha256, *subject;
    int64_t not_after;
};
int hilt_store_endpoint_replace(struct hilt_store *s, const char *endpoint,
                                const struct hilt_endpoint_cert *certs, size_t n, int64_t when,
                                struct hilt_err *e);
struct hilt_endpoint_rec {
    const char *endpoint, *sha256, *subject;
    int64_t not_after, seen_at;
    int known; /* counts as covered (docs/clm.md) */
};
typedef int (*hilt_endpoint_cb)(const struct hilt_endpoint_rec *r, void *arg);
int hilt_store_endpoints(struct hilt_store *s, hilt_endpoint_cb cb, void *arg, struct hilt_err *e);
/* Distinct certificates seen on endpoints, and how many of them the
 * inventory knows. */
int hilt_store_coverage(struct hilt_store *s, int64_t *seen, int64_t *known, struct hilt_err *e);

/* ---- certificate-as-code: manifests and revisions --------------------- */
struct hilt_manifest_rec {
    char *name, *spec_hash, *spec_json, *source, *data_dir;
    int64_t current_rev, created, updated;
};
void hilt_manifest_rec_free(struct hilt_manifest_rec *r);
int hilt_store_manifest_get(struct hilt_store *s, const char *name, struct hilt_manifest_rec *out,
                            struct hilt_err *e);
/* Insert or update (current_rev is only set on insert). */
int hilt_store_manifest_put(struct hilt_store *s, const struct hilt_manifest_rec *r,
                            struct hilt_err *e);
typedef int (*hilt_manifest_cb)(const struct hilt_manifest_rec *r, void *arg);
int hilt_store_manifest_list(struct hilt_store *s, hilt_manifest_cb cb, void *arg,
                             struct hilt_err *e);

/* A numbered, immutable deployment of a manifest. state: "staged" (files
 * being written), "applied" (the current one), "superseded", "abandoned"
 * (an interrupted apply that never went live), "pruned" (files removed). */
struct hilt_revision_rec {
    char *name;
    int64_t rev;
    char *state, *sha256, *serial, *spec_hash, *dir, *files_json, *note;
    int64_t not_after, created, applied_at;
};
void hilt_revision_rec_free(struct hilt_revision_rec *r);
int hilt_store_revision_add(struct hilt_store *s, const struct hilt_revision_rec *r,
                            const struct hilt_audit_ev *ev, struct hilt_err *e);
int hilt_store_revision_get(struct hilt_store *s, const char *name, int64_t rev,
                            struct hilt_revision_rec *out, struct hilt_err *e);
typedef int (*hilt_revision_cb)(const struct hilt_revision_rec *r, void *arg);
/* name: that manifest's revisions by number; NULL: every staged revision. */
int hilt_store_revision_list(struct hilt_store *s, const char *name, hilt_revision_cb cb, void *arg,
                             struct hilt_err *e);
int hilt_store_revision_max(struct hilt_store *s, const char *name, int64_t *out,
                            struct hilt_err *e);
/* Make rev the applied, current revision of name (the previous one becomes
 * superseded), with an audit record, in one transaction. */
int hilt_store_revision_commit(struct hilt_store *s, const char *name, int64_t rev, int64_t when,
                               const struct hilt_audit_ev *ev, struct hilt_err *e);
int hilt_store_revision_set_state(struct hilt_store *s, const char *name, int64_t rev,
                                  const char *state, const char *note,
                                  const struct hilt_audit_ev *ev, struct hilt_err *e);

/* ---- renewal state ------------------------------------------------------- */
struct hilt_renewal_rec {
    char *name; /* manifest */
    int64_t attempts, next_attempt_at, last_attempt_at;
    char *last_error;
};
void hilt_renewal_rec_free(struct hilt_renewal_rec *r);
int hilt_store_renewal_get(struct hilt_store *s, const char *name, struct hilt_renewal_rec *out,
                           struct hilt_err *e);
int hilt_store_renewal_put(struct hilt_store *s, const struct hilt_renewal_rec *r,
                           struct hilt_err *e);
int hilt_store_renewal_clear(struct hilt_store *s, const char *name, struct hilt_err *e);

/* ---- expiry notifications -------------------------------------------------- */
/* 1 when (sha256, threshold) was notified already, else 0. */
int hilt_store_notify_sent(struct hilt_store *s, const char *sha256, int64_t threshold,
                           struct hilt_err *e);
/* Remember a notification that went out; 1 recorded now, 0 already there. */
int hilt_store_notify_mark(struct hilt_store *s, const char *sha256, int64_t threshold,
                           const char *channel, int64_t when, struct hilt_err *e);

/* The issuer key of a certificate: the first 8 bytes of SHA-256 over its
 * issuer Name DER, in hex (17 bytes with the NUL). It only scopes serial
 * uniqueness, so 64 bits are plenty, and every row and index entry is
 * 48 bytes shorter than with the whole hash. */
void hilt_issuer_key(const unsigned char *name_der, size_t len, char out[17]);

/* Normalise a serial or hash typed by a person: strips colons and spaces,
 * lowercases, drops leading zeros of a serial. -1 if not hex. */
int hilt_hex_normalise(const char *in, char *out, size_t cap);

#endif
