/* signer.h - the CA's only door to a private key.
 *
 * A signer hands out an EVP_PKEY whose private-key operations run in the
 * signer's backend; the CA passes it to hilt_mint(), X509_CRL_sign() and
 * (later) OCSP signing and never sees key material itself:
 *   file    the PKCS#8 file, loaded in this process (CLI use only)
 *   pkcs11  a key in a PKCS#11 token through OpenSSL's pkcs11 engine; the
 *           private key never leaves the token
 *   process a signer child (forked, and re-exec'd when exec_path is given)
 *           that loads the key and signs digests over a socketpair
 *           (ca/sigproto.h); the network-facing parent never opens the key
 *           and holds a public-key shell whose sign method forwards the
 *           digest (docs/trust-plane.md)
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

#include "ca/sigproto.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hilt_err;

struct hilt_signer_ops {
    const char *kind;             /* "file", "pkcs11", "process" */
    EVP_PKEY *(*key)(void *impl); /* borrowed signing handle */
    void (*close)(void *impl);
    /* Optional: sign n digests of dlen bytes made with digest md_nid, in
     * one exchange; signature i goes to sigs + i * HILT_SIG_MAX, its length
     * to lens[i]. NULL: hilt_signer_sign_digests() signs through key(). */
    int (*sign_digests)(void *impl, int md_nid, const uint8_t *dgst, size_t dlen, size_t n,
                        uint8_t *sigs, size_t *lens, struct hilt_err *e);
};

struct hilt_ca_signer {
    const struct hilt_signer_ops *ops;
    void *impl;
    EVP_PKEY_CTX *pctx; /* kept for hilt_signer_sign_digests (one per signer) */
    int pctx_md;
};

int hilt_signer_open(const char *ref, const char *home, struct hilt_ca_signer **out,
                     struct hilt_err *e);
EVP_PKEY *hilt_signer_key(struct hilt_ca_signer *s);
const char *hilt_signer_kind(const struct hilt_ca_signer *s);
void hilt_signer_close(struct hilt_ca_signer *s);

/* Sign n digests (the batch fast path of issuance and OCSP pre-signing):
 * one exchange with a process signer, EVP_PKEY_sign with a kept context
 * otherwise. Signatures as for hilt_signer_ops.sign_digests. */
int hilt_signer_sign_digests(struct hilt_ca_signer *s, int md_nid, const uint8_t *dgst, size_t dlen,
                             size_t n, uint8_t *sigs, size_t *lens, struct hilt_err *e);

/* ---- the signer process (signer_proc.c) ------------------------------- */
struct hilt_signer_proc_opts {
    /* Re-exec this binary as `hilt ca signer-child` (a fresh address space
     * that shares nothing with the parent); NULL: fork only (tests, and
     * single-threaded callers). */
    const char *exec_path;
    int timeout_ms;     /* per exchange; 0 = 10000. A signer that misses it is killed. */
    const char *run_as; /* when root and the key is a file: drop to this user after
                         * loading it; NULL = "nobody", "" = keep root */
};
/* Start a signer child for the key reference. The child loads the key,
 * answers HELLO with the public key, and signs; this process never opens
 * the key. hilt_signer_key() is a public-key shell whose private operations
 * (ECDSA, RSA PKCS#1 v1.5) are forwarded to the child. */
int hilt_signer_open_process(const char *ref, const char *home,
                             const struct hilt_signer_proc_opts *o, struct hilt_ca_signer **out,
                             struct hilt_err *e);
/* The child's pid for a process signer, else -1. */
pid_t hilt_signer_pid(const struct hilt_ca_signer *s);
/* 0 when s is a process signer whose child has died (or is a zombie): the
 * owner starts another with hilt_ca_use_signer_process(); 1 otherwise. */
int hilt_signer_alive(const struct hilt_ca_signer *s);
/* The child's side: load the key, serve requests on fd until EOF. Returns
 * the process exit status. Used after fork, and by `hilt ca signer-child`. */
int hilt_signer_child_main(int fd, const char *ref, const char *home, const char *run_as);

/* The PKCS#11 backend (signer_pkcs11.c). */
extern const struct hilt_signer_ops hilt_signer_pkcs11_ops;
void *hilt_signer_pkcs11_open(const char *uri, struct hilt_err *e);

/* Copy a PKCS#11 URI without its pin-value attribute (for storing). */
void hilt_pkcs11_uri_strip_pin(const char *uri, char *out, size_t cap);

#endif
