/* key.h - key types by name, generation, description, and safe storage.
 *
 * Key type names are the ones hilt uses everywhere (flags, JSON, policies):
 * ec-p256, ec-p384, ec-p521, rsa-1024 … rsa-8192, ed25519.
 * Saved keys are PKCS#8 PEM, mode 0600, written atomically; the PEM bytes are
 * wiped from memory after the write. Returned EVP_PKEYs belong to the caller.
 */
#ifndef HILT_X509_KEY_H
#define HILT_X509_KEY_H

#include <openssl/evp.h>
#include <stddef.h>

struct hilt_err;

enum hilt_key_alg { HILT_KEY_EC, HILT_KEY_RSA, HILT_KEY_ED25519 };

struct hilt_keyspec {
    enum hilt_key_alg alg;
    int bits; /* RSA modulus bits, or EC curve size (256, 384, 521) */
};

int hilt_keyspec_parse(const char *s, struct hilt_keyspec *ks, struct hilt_err *e);
void hilt_keyspec_fmt(const struct hilt_keyspec *ks, char *out, size_t cap);
EVP_PKEY *hilt_key_generate(const struct hilt_keyspec *ks, struct hilt_err *e);
/* "ec-p256", "rsa-2048", "ed25519", "dsa-1024", "ec-brainpoolP256r1", … */
void hilt_key_describe(const EVP_PKEY *k, char *out, size_t cap);
/* Strength in bits of security (NIST SP 800-57), as OpenSSL computes it. */
int hilt_key_security_bits(const EVP_PKEY *k);
int hilt_key_save(const char *path, EVP_PKEY *k, struct hilt_err *e);

#endif
