/* verify.h - trust stores and chain verification that reports every problem.
 *
 * OpenSSL stops at the first verification error; a diagnosis needs all of
 * them (an expired certificate can also be self-signed). hilt_verify_chain()
 * runs X509_verify_cert with a callback that records each error with its
 * depth and lets verification continue, at a chosen time and security level.
 *
 * Ownership: X509_STORE from hilt_store_new() is the caller's
 * (X509_STORE_free). struct hilt_verify owns `chain`; free it with
 * hilt_verify_free().
 */
#ifndef HILT_X509_VERIFY_H
#define HILT_X509_VERIFY_H

#include <openssl/x509.h>
#include <time.h>

struct hilt_err;

/* ca_file NULL: the system store (OpenSSL default paths). Otherwise exactly
 * the certificates in ca_file (PEM bundle or one DER). */
X509_STORE *hilt_store_new(const char *ca_file, struct hilt_err *e);
/* Add certificates to a store as trust anchors. */
int hilt_store_add(X509_STORE *st, STACK_OF(X509) *certs);

#define HILT_VERIFY_MAX_ISSUES 16

struct hilt_verify_issue {
    int error; /* X509_V_ERR_* */
    int depth;
    char subject[256];
};

struct hilt_verify {
    int ok; /* verification passed with no recorded issue */
    int n;
    struct hilt_verify_issue issues[HILT_VERIFY_MAX_ISSUES];
    STACK_OF(X509) *chain; /* the chain OpenSSL built (leaf first), or NULL */
};

/* Verify peer_chain[0] with peer_chain[1..] plus `extra` as untrusted
 * intermediates, at time `at`, for TLS server use (purpose sslserver) unless
 * client is set, with the given auth security level (0..5). */
int hilt_verify_chain(X509_STORE *store, STACK_OF(X509) *peer_chain, STACK_OF(X509) *extra,
                      time_t at, int sec_level, int client, struct hilt_verify *out,
                      struct hilt_err *e);
void hilt_verify_free(struct hilt_verify *v);
/* Does the result contain this X509_V_ERR code? Returns the issue or NULL. */
const struct hilt_verify_issue *hilt_verify_has(const struct hilt_verify *v, int error);

#endif
