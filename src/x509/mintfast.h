/* mintfast.h - the batch minting fast path: a leaf certificate's
 * TBSCertificate DER is written directly from parts known in advance
 * (issuer Name DER, AKI, the signature AlgorithmIdentifier per issuer; the
 * SubjectPublicKeyInfo and SKI per subject key), with bounded buffers and
 * no X509 object, encoder or algorithm look-up per certificate. The caller
 * hashes the TBS, has it signed (in a batch: ca/signer.h), and assembles the
 * Certificate.
 *
 * It produces exactly what hilt_mint() produces for the same spec: the same
 * extensions in the same order with the same criticality and encoding
 * (tests/unit/test_ca_mintfast.c compares the TBS byte for byte). Specs it
 * does not cover - CA certificates, subjects other than one CN, URI/email
 * SANs, self-signed - are refused with HILT_E_USAGE so callers fall back to
 * hilt_mint().
 *
 * Ownership: the structs are plain memory owned by the caller; nothing here
 * allocates except into caller-initialised struct hilt_buf.
 */
#ifndef HILT_X509_MINTFAST_H
#define HILT_X509_MINTFAST_H

#include "core/buf.h"
#include "x509/mint.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

struct hilt_err;

#define HILT_MINT_NAME_MAX 1024 /* issuer Name DER */
#define HILT_MINT_SPKI_MAX 1100 /* an RSA-8192 SubjectPublicKeyInfo is ~1,060 bytes */
#define HILT_MINT_TBS_MAX 16384 /* 100 names of 253 bytes, URLs, an RSA-8192 key */

/* Per issuer (and signing key), computed once. */
struct hilt_mint_issuer {
    uint8_t name[HILT_MINT_NAME_MAX]; /* the issuer certificate's subject, DER */
    size_t name_len;
    uint8_t aki[64]; /* the authorityKeyIdentifier Extension, DER */
    size_t aki_len;
    uint8_t sigalg[32]; /* the signature AlgorithmIdentifier, DER */
    size_t sigalg_len;
    int md_nid;       /* the digest the TBS is hashed with */
    const EVP_MD *md; /* fetched once (owned: hilt_mint_issuer_free) */
    EVP_MD *md_owned;
};
/* digest: "sha256" (default), "sha384", "sha512". Refuses issuers without a
 * subjectKeyIdentifier and keys other than EC and RSA. */
int hilt_mint_issuer_init(struct hilt_mint_issuer *mi, X509 *issuer, EVP_PKEY *signing_key,
                          const char *digest, struct hilt_err *e);
void hilt_mint_issuer_free(struct hilt_mint_issuer *mi);

/* Per subject public key, computed once (a batch from one CSR shares it). */
struct hilt_mint_subject {
    uint8_t spki[HILT_MINT_SPKI_MAX];
    size_t spki_len;
    uint8_t ski[20]; /* SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 (1)) */
    int is_rsa;      /* for the default keyUsage */
};
int hilt_mint_subject_init(struct hilt_mint_subject *ms, EVP_PKEY *key, struct hilt_err *e);
/* The same from an encoded SubjectPublicKeyInfo (a CSR's, as the CSR
 * carries it: no encoder round trip). Refuses what the fast path does not
 * cover (EC keys with explicit parameters), so the caller falls back. */
int hilt_mint_subject_init_der(struct hilt_mint_subject *ms, const uint8_t *spki, size_t n,
                               struct hilt_err *e);

/* Write the TBSCertificate of a leaf into tbs (reset first). The spec must
 * carry an explicit serial (serial_len > 0). */
int hilt_mint_tbs(const struct hilt_mint_issuer *mi, const struct hilt_mint_subject *ms,
                  const struct hilt_cert_spec *spec, struct hilt_buf *tbs, struct hilt_err *e);

/* Certificate ::= SEQUENCE { tbs, signatureAlgorithm, signatureValue },
 * appended to out. */
int hilt_mint_assemble(const struct hilt_mint_issuer *mi, const uint8_t *tbs, size_t tbs_len,
                       const uint8_t *sig, size_t sig_len, struct hilt_buf *out);

/* A digest context kept across a batch: hash without per-call fetches. */
int hilt_mint_digest(EVP_MD_CTX *ctx, const EVP_MD *md, const uint8_t *p, size_t n, uint8_t *out,
                     unsigned *out_len);

#endif
