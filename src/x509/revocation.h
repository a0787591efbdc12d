/* revocation.h - is a certificate revoked? The client side of OCSP (RFC 6960) and CRLs (RFC 5280 §5).
 *
 * Order of evidence: a stapled OCSP response, then the OCSP responder named
 * in the certificate's AIA, then its CRL distribution points. Responses are
 * verified (signature chaining to the trust store, CertID match, validity
 * window). Network fetches are plain HTTP, bounded in size and time.
 * Nothing here allocates anything the caller must free.
 */
#ifndef HILT_X509_REVOCATION_H
#define HILT_X509_REVOCATION_H

#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>

enum hilt_rev_status {
    HILT_REV_UNCHECKED = 0, /* the certificate names no OCSP or CRL source */
    HILT_REV_GOOD,
    HILT_REV_REVOKED,
    HILT_REV_UNKNOWN, /* the responder does not know the certificate */
    HILT_REV_ERROR,   /* a source exists but could not be used: see detail */
};

struct hilt_revocation {
    enum hilt_rev_status status;
    char source[16]; /* "staple", "ocsp", "crl" */
    char url[512];
    int reason; /* CRL reason code (RFC 5280 §5.3.1), or -1 */
    time_t revoked_at;
    time_t this_update;
    time_t next_update;
    char detail[400];
};

int hilt_revocation_check(X509 *leaf, X509 *issuer, STACK_OF(X509) *untrusted, X509_STORE *store,
                          const unsigned char *staple, size_t staple_len, int timeout_ms,
                          struct hilt_revocation *out);
const char *hilt_rev_status_name(enum hilt_rev_status s);
const char *hilt_crl_reason_name(int reason);

#endif
