/* ca.h - hilt's certificate authority: creation (or import), issuance,
 * revocation and CRLs, grown out of hilt_mint() and kept in the store.
 *
 * A CA is a row in the store (settings, the issuing certificate and its
 * chain, the root, a key reference) plus a signer (ca/signer.h). Issuance
 * checks the request (ca/csr.h), allocates the serial's sequence number
 * through the store, mints with the issuing key, and records the
 * certificate and an audit record in one transaction. See
 * docs/trust-plane.md for serials, CRL shards and the signing boundary.
 *
 * Ownership: struct hilt_ca from hilt_ca_open() is the caller's
 * (hilt_ca_close); it borrows the store, which must outlive it. struct
 * hilt_issued owns its certificate and key (hilt_issued_free).
 */
#ifndef HILT_CA_CA_H
#define HILT_CA_CA_H

#include "store/store.h"

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

struct hilt_err;
struct hilt_buf;
struct hilt_ca_signer;

#define HILT_CA_DEFAULT_NAME "hilt"
#define HILT_CRL_SHARD_SIZE 10000
#define HILT_SERIAL_TAG 0x48 /* first byte of every serial hilt allocates */

struct hilt_ca_init_opts {
    const char *name;       /* default "hilt" */
    const char *key_type;   /* default ec-p256 */
    const char *pkcs11_uri; /* issuing key in a token (the root stays a file key) */
    const char *ocsp_url, *crl_url, *aia_url;
    const char *allow_domains; /* comma-separated */
    int64_t max_lifetime;      /* 0: 397 days */
    int64_t crl_shard_size;    /* 0: HILT_CRL_SHARD_SIZE */
    const char *import_cert;   /* --import: issuing cert (+ chain up to the root) */
    const char *import_key;    /*           and its key (NULL with pkcs11_uri) */
};

/* Create the CA: keys under HOME/ca/NAME/ (0700 dir, 0600 keys, refusing to
 * overwrite), certificates and settings in the store, an audit record. */
int hilt_ca_init(struct hilt_store *st, const char *home, const struct hilt_ca_init_opts *o,
                 struct hilt_err *e);

struct hilt_mint_issuer;

struct hilt_ca {
    struct hilt_store *st;
    struct hilt_ca_rec rec;
    X509 *issuer;           /* the issuing certificate */
    STACK_OF(X509) * chain; /* issuing cert first, up to (not including) the root */
    STACK_OF(X509) * roots;
    struct hilt_ca_signer *signer; /* opened on first use */
    char home[4096];
    /* the minting fast path's template (x509/mintfast.h), made on first use */
    struct hilt_mint_issuer *fast;
    int fast_state; /* 0 not tried, 1 ready, -1 not covered: hilt_mint() */
    char issuer_dn[512], issuer_key[65];
};

/* Load the CA's settings and certificates (no key is touched yet). name
 * NULL = "hilt". A missing CA is an input error that says to run ca init. */
struct hilt_ca *hilt_ca_open(struct hilt_store *st, const char *home, const char *name,
                             struct hilt_err *e);
void hilt_ca_close(struct hilt_ca *ca);

struct hilt_signer_proc_opts;
/* Sign through a signer child instead of loading the key in this process
 * (ca/signer.h): what a network-facing process (hilt ocsp serve, hilt
 * serve) calls before it opens any listener. The child's public key must
 * match the issuing certificate. */
int hilt_ca_use_signer_process(struct hilt_ca *ca, const struct hilt_signer_proc_opts *o,
                               struct hilt_err *e);

struct hilt_issue_req {
    const char *const *names; /* from --name; may be empty with a CSR */
    size_t nnames;
    X509_REQ *csr;          /* or NULL: generate a key of key_type */
    const char *csr_source; /* file name, for messages */
    const char *key_type;   /* default ec-p256 */
    int64_t lifetime;       /* seconds; 0 = 90 days */
    const char *owner, *service, *env;
    const char *pipeline; /* how it is renewed ("manifest:NAME", …); NULL = none */
    const char *actor;    /* who asked, for the audit record (hilt serve: the principal);
                           * NULL = hilt_audit_actor() */
    int csr_checked;      /* csr's signature was verified by the caller (hilt_csr_check) */
};

struct hilt_issued {
    X509 *cert;    /* NULL from hilt_ca_issue_batch_der() */
    EVP_PKEY *key; /* generated key, or NULL for a CSR */
    uint8_t *der;  /* the certificate, DER (owned) */
    size_t der_len;
    char serial[64];
    char sha256[65];
    int64_t seq, shard;
    int64_t not_before, not_after;
};
void hilt_issued_free(struct hilt_issued *o);

/* Check, allocate, mint, record. A refused request is an input error and
 * is audited as rejected. Minting takes the fast path (x509/mintfast.h:
 * the TBS written from a template, hashed, signed in one exchange with the
 * signer) for everything it covers, hilt_mint() otherwise; both give the
 * same certificate. */
int hilt_ca_issue(struct hilt_ca *ca, const struct hilt_issue_req *r, struct hilt_issued *out,
                  struct hilt_err *e);
/* Issue up to HILT_ISSUE_BATCH_MAX requests with one serial allocation and
 * one store transaction (each certificate still gets its own audit record).
 * All or nothing: on any refusal nothing is recorded and outs[] are empty. */
#define HILT_ISSUE_BATCH_MAX 1000
int hilt_ca_issue_batch(struct hilt_ca *ca, const struct hilt_issue_req *reqs, size_t n,
                        struct hilt_issued *outs, struct hilt_err *e);
/* The same, without decoding X509 objects: outs[i].der only (throughput).
 * Requests of a batch that share one CSR share its check and its encoded
 * public key. Joins the caller's store transaction when one is open. */
int hilt_ca_issue_batch_der(struct hilt_ca *ca, const struct hilt_issue_req *reqs, size_t n,
                            struct hilt_issued *outs, struct hilt_err *e);
/* leaf (if any) + the CA chain as PEM; roots as PEM. */
int hilt_ca_chain_pem(struct hilt_ca *ca, X509 *leaf, struct hilt_buf *out);
int hilt_ca_roots_pem(struct hilt_ca *ca, struct hilt_buf *out);

/* RFC 5280 §5.3.1 reason by name ("keyCompromise", "key-compromise",
 * "superseded", …). Returns the code or -1. Names back:
 * hilt_crl_reason_name() in x509/revocation.h. */
int hilt_crl_reason_parse(const char *s);
/* Revoke by serial (store only: no key needed). 0 revoked, 1 already was. */
int hilt_ca_revoke(struct hilt_store *st, const char *serial, int reason, struct hilt_err *e);

/* The CRL of one shard (shard >= 0) or the full CRL (shard < 0), at `now`,
 * valid for next_update seconds. Entries of expired certificates are left
 * out (RFC 5280 §3.3). */
struct hilt_crl_stats {
    int64_t number;
    int64_t revoked;
    int64_t shards;
};
/* Write the full CRL to full_path and every shard's CRL into shard_dir
 * (NULL = full_path's directory) as shard-N.crl, atomically; audited. */
int hilt_ca_publish_crls(struct hilt_ca *ca, const char *full_path, const char *shard_dir,
                         int64_t next_update, struct hilt_crl_stats *stats, struct hilt_err *e);
/* The URL of a shard's CRL ("" without a CRL URL setting). */
void hilt_ca_shard_url(const struct hilt_ca *ca, int64_t shard, char *out, size_t cap);

#endif
