/* mint.h - certificate minting: the seed of hilt's CA.
 *
 * One function, hilt_mint(), turns a hilt_cert_spec (names, validity, role,
 * extensions, signature digest) plus a subject public key into a signed
 * X509, signed by a given issuer (certificate + private key) or self-signed.
 * The same code path serves the lab (any validity, weak digests, odd key
 * usages on purpose), tests, and the CA (which adds policy checks, serial
 * allocation and storage around it). The issuer key may be a file key or a
 * PKCS#11/provider key: only EVP_PKEY signing is used.
 *
 * Ownership: the returned X509 belongs to the caller. The spec's strings are
 * borrowed for the duration of the call.
 */
#ifndef HILT_X509_MINT_H
#define HILT_X509_MINT_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>

struct hilt_err;

enum {
    HILT_KU_DIGITAL_SIGNATURE = 1 << 0,
    HILT_KU_KEY_ENCIPHERMENT = 1 << 1,
    HILT_KU_KEY_AGREEMENT = 1 << 2,
    HILT_KU_KEY_CERT_SIGN = 1 << 3,
    HILT_KU_CRL_SIGN = 1 << 4,
    HILT_KU_NONE = 1 << 15, /* explicitly omit the extension */
};

enum {
    HILT_EKU_SERVER = 1 << 0,
    HILT_EKU_CLIENT = 1 << 1,
    HILT_EKU_OCSP_SIGNING = 1 << 2,
    HILT_EKU_CODE_SIGNING = 1 << 3,
    HILT_EKU_EMAIL = 1 << 4,
    HILT_EKU_NONE = 1 << 15, /* explicitly omit the extension */
};

#define HILT_SERIAL_MAX 20

struct hilt_cert_spec {
    /* Subject as "CN=name,O=org,OU=unit,C=XX" (RFC 4514 order, commas may
     * be escaped with '\'), or a bare string taken as the CN. */
    const char *subject;
    /* Subject alternative names: "DNS:x", "IP:1.2.3.4", "URI:…", "email:…",
     * or a bare value (an IP literal becomes IP:, anything else DNS:). */
    const char *const *sans;
    size_t nsans;
    time_t not_before;
    time_t not_after;
    /* Big-endian serial; serial_len 0 picks 16 random bytes (positive). */
    unsigned char serial[HILT_SERIAL_MAX];
    size_t serial_len;
    int is_ca;
    int path_len;           /* for CAs; -1 = unconstrained */
    unsigned key_usage;     /* HILT_KU_*; 0 = the usual for the role and key */
    unsigned ext_key_usage; /* HILT_EKU_*; 0 = server+client for leaves, none for CAs */
    const char *digest;     /* "sha256" (default), "sha384", "sha512", "sha1"; Ed25519 ignores */
    const char *ocsp_url;   /* AIA OCSP */
    const char *ca_issuers_url; /* AIA caIssuers */
    const char *crl_url;        /* CRL distribution point */
    int must_staple;            /* TLS Feature status_request (RFC 7633) */
};

/* A spec with defaults: validity [now-1h, now+days], path_len -1, sha256. */
void hilt_cert_spec_init(struct hilt_cert_spec *s, const char *subject, int days);

struct hilt_signer {
    X509 *cert;    /* NULL: self-signed with `key` */
    EVP_PKEY *key; /* issuer private key (file or PKCS#11 provider key) */
};

X509 *hilt_mint(const struct hilt_cert_spec *spec, EVP_PKEY *subject_key,
                const struct hilt_signer *issuer, struct hilt_err *e);

/* Parse a subject string into an X509_NAME (caller frees). */
X509_NAME *hilt_name_parse(const char *subject, struct hilt_err *e);

#endif
