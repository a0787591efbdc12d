/* csr.h - certificate requests and the CA's issuance rules.
 *
 * hilt_csr_parse() reads a PKCS#10 request (PEM "CERTIFICATE REQUEST" or
 * DER) with errors that name the file and line. The checks refuse, with a
 * message naming the field: a bad self-signature, names that are not valid
 * DNS names or IP literals (or fall outside the allowed domains), keys that
 * are not ec-p256/p384/p521, ed25519 or RSA >= min_rsa_bits, and lifetimes
 * outside [min, max]. The policy module's certificate rules map onto
 * struct hilt_issue_rules.
 *
 * Ownership: the X509_REQ is the caller's (X509_REQ_free); struct
 * hilt_names owns its strings (hilt_names_free).
 */
#ifndef HILT_CA_CSR_H
#define HILT_CA_CSR_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

struct hilt_err;

#define HILT_CSR_MAX (64u << 10) /* a CSR with 100 names is ~4 KiB */
#define HILT_NAMES_MAX 100
#define HILT_DEFAULT_MAX_LIFETIME (397 * 86400LL)
#define HILT_MIN_LIFETIME 300

struct hilt_issue_rules {
    const char *allow_domains; /* comma-separated suffixes (and IPs); NULL/"" = any */
    int64_t max_lifetime;
    int64_t min_lifetime;
    int min_rsa_bits;
    /* the caller verified this very X509_REQ's signature with
     * hilt_csr_check() already: the later checks skip repeating it (an
     * ECDSA verify and OpenSSL's key set-up, ~0.9M instructions) */
    int csr_signature_checked;
};
void hilt_issue_rules_init(struct hilt_issue_rules *r);

struct hilt_names {
    char *v[HILT_NAMES_MAX]; /* normalised: lowercase DNS names, canonical IPs */
    size_t n;
};
void hilt_names_free(struct hilt_names *n);
/* Validate, normalise and append one name (duplicates are dropped). */
int hilt_names_add(struct hilt_names *n, const char *name, const struct hilt_issue_rules *r,
                   struct hilt_err *e);
int hilt_names_has(const struct hilt_names *n, const char *name);

X509_REQ *hilt_csr_parse(const void *data, size_t len, const char *source, struct hilt_err *e);
X509_REQ *hilt_csr_load(const char *path, struct hilt_err *e);
/* Signature and key checks; the CSR's names (CN, then SAN DNS/IP) are
 * validated against the rules and appended to `names`. */
int hilt_csr_check(X509_REQ *req, const struct hilt_issue_rules *r, const char *source,
                   struct hilt_names *names, struct hilt_err *e);
int hilt_issue_key_check(EVP_PKEY *k, const struct hilt_issue_rules *r, struct hilt_err *e);
int hilt_issue_lifetime_check(int64_t secs, const struct hilt_issue_rules *r, struct hilt_err *e);

#endif
