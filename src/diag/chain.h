/* chain.h - judge a certificate chain as a TLS client with a given trust store would.
 *
 * One mechanism for every part of hilt that meets a chain (the probe, the
 * scanner): verification recording every error, completion of a missing
 * issuer (extra intermediates, then the AIA caIssuers URL), clock skew
 * against the peer's clock, revocation (staple, OCSP, CRL), hostname, weak
 * keys and signatures, key usage, must-staple, and the expiry and lifetime
 * warnings. Results are findings from the catalogue, added to the caller's
 * list. Inputs are borrowed; nothing here keeps a reference after return.
 */
#ifndef HILT_DIAG_CHAIN_H
#define HILT_DIAG_CHAIN_H

#include "diag/catalogue.h"
#include "x509/revocation.h"

#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>

struct hilt_err;

struct hilt_chain_check {
    STACK_OF(X509) *chain;         /* as the peer sent it, leaf first */
    X509_STORE *store;             /* the client's trust anchors */
    int store_is_custom;           /* a --ca-file (for wording) */
    STACK_OF(X509) *intermediates; /* extra issuers to complete with, or NULL */
    time_t at;                     /* validity is judged at this time */
    int at_given;                  /* the user chose `at`: no clock-skew logic */
    int sec_level;                 /* the client's security level */
    const char *name;              /* host name or IP to match, or "" */
    int timeout_ms;                /* for AIA, OCSP and CRL fetches */
    int fetch_aia;
    int check_revocation;
    const unsigned char *staple;   /* stapled OCSP response, or NULL */
    size_t staple_len;
    int staple_requested;          /* the client asked for a staple (must-staple check) */
    /* The peer's clock (HTTP Date), for clock skew. */
    int have_peer_clock;
    time_t peer_date;
    long long peer_offset; /* peer minus ours, seconds */
    int peer_clock_unread;  /* why it is missing, for the evidence: 1 = not asked (--no-http) */
};

struct hilt_chain_result {
    int verified; /* the chain verified to a trust anchor */
    int rev_checked;
    struct hilt_revocation rev;
};

int hilt_chain_analyse(const struct hilt_chain_check *c, struct hilt_findings *fs,
                       struct hilt_chain_result *out, struct hilt_err *e);

/* The leaf's subjectAltName as "a.example, 10.0.0.1", or a note when absent. */
void hilt_chain_sans(X509 *x, char *out, size_t cap);
/* Does any certificate in the chain fall outside its validity at `at`? */
int hilt_chain_time_problem(STACK_OF(X509) *chain, time_t at);

#endif
