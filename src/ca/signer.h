/* signer.h - the CA's only door to a private key.
 *
 * A signer hands out an EVP_PKEY whose private-key operations run in the
 * signer's backend; the CA passes it to hilt_mint(), X509_CRL_sign() and
 * (later) OCSP signing and never sees key material itself:
 *   file    the PKCS#8 file, loaded in this process (CLI use only)
 *   pkcs11  a key in a PKCS#11 token through OpenSSL's pkcs11 engine; the
 *           private key never leaves the token
 *   process (next round) a forked signer child holding the key; the
 *           network-facing parent gets a public-key shell whose sign method
 *           forwards digests over a socketpair (docs/trust-plane.md)
 *
 * Key references, as stored in the store (never key material):
 *   "file:RELPATH"  relative to HILT_HOME (or an absolute path)
 *   "pkcs11:…"      an RFC 7512 URI; pin-value is stripped before storing;
 *                   the PIN comes from HILT_PKCS11_PIN, the module from
 *                   module-path= or HILT_PKCS11_MODULE (default: p11-kit)
 *
 * Ownership: hilt_signer_open() returns a signer the caller closes with
 * hilt_signer_close(); the EVP_PKEY from hilt_signer_key() is borrowed and
 * valid until then.
 */
#ifndef HILT_CA_SIGNER_H
#define HILT_CA_SIGNER_H

#include <openssl/evp.h>
#include <stddef.h>

struct hilt_err;

struct hilt_signer_ops {
    const char *kind;             /* "file", "pkcs11", "process" */
    EVP_PKEY *(*key)(void *impl); /* borrowed signing handle */
    void (*close)(void *impl);
};

struct hilt_ca_signer {
    const struct hilt_signer_ops *ops;
    void *impl;
};

int hilt_signer_open(const char *ref, const char *home, struct hilt_ca_signer **out,
                     struct hilt_err *e);
EVP_PKEY *hilt_signer_key(struct hilt_ca_signer *s);
const char *hilt_signer_kind(const struct hilt_ca_signer *s);
void hilt_signer_close(struct hilt_ca_signer *s);

/* The PKCS#11 backend (signer_pkcs11.c). */
extern const struct hilt_signer_ops hilt_signer_pkcs11_ops;
void *hilt_signer_pkcs11_open(const char *uri, struct hilt_err *e);

/* Copy a PKCS#11 URI without its pin-value attribute (for storing). */
void hilt_pkcs11_uri_strip_pin(const char *uri, char *out, size_t cap);

#endif
