/* pem.h - PEM scanning, certificate and key loading with precise errors.
 *
 * hilt reads PEM itself rather than through PEM_read_bio_*, so a malformed
 * file gets an error with its line ("ca.pem:14: bad base64") and every input
 * stays bounded. DER input (one certificate) is accepted where PEM is.
 *
 * Ownership: returned STACK_OF(X509) and EVP_PKEY belong to the caller
 * (sk_X509_pop_free(sk, X509_free), EVP_PKEY_free).
 */
#ifndef HILT_X509_PEM_H
#define HILT_X509_PEM_H

#include "core/buf.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

struct hilt_err;

#define HILT_PEM_FILE_MAX (4u << 20) /* 4 MiB: a big trust bundle is ~250 KiB */
#define HILT_CERTS_MAX 1024          /* certificates in one file */

struct hilt_pem_scan {
    struct hilt_rd rd;
    int line; /* 1-based line of the cursor */
    const char *source;
};

void hilt_pem_scan_init(struct hilt_pem_scan *s, const void *data, size_t len, const char *source);
/* Next PEM block: label (e.g. "CERTIFICATE") and decoded DER into der (reset
 * first). *line gets the BEGIN line. Returns 1 found, 0 no more, -1 malformed. */
int hilt_pem_next(struct hilt_pem_scan *s, char *label, size_t label_cap, struct hilt_buf *der,
                  int *line, struct hilt_err *e);
/* Does the buffer look like PEM (has a BEGIN line)? */
int hilt_pem_looks_like(const void *data, size_t len);

/* All CERTIFICATE blocks of a PEM bundle, or the single DER certificate.
 * Zero certificates is an error. */
STACK_OF(X509) *hilt_certs_parse(const void *data, size_t len, const char *source,
                                 struct hilt_err *e);
STACK_OF(X509) *hilt_certs_load(const char *path, struct hilt_err *e);
/* A private key (PKCS#8, SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY"). */
EVP_PKEY *hilt_key_parse(const void *data, size_t len, const char *source, struct hilt_err *e);
EVP_PKEY *hilt_key_load(const char *path, struct hilt_err *e);

/* Append certificates as PEM to out. */
int hilt_certs_to_pem(struct hilt_buf *out, X509 *const *certs, size_t n);
/* Private key as PKCS#8 PEM, into a buffer the caller frees (and may cleanse). */
int hilt_key_to_pem(EVP_PKEY *k, struct hilt_buf *out, struct hilt_err *e);

#endif
