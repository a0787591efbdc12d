/* suites.h - the vocabulary of a TLS policy: protocol versions, cipher suites,
 * named groups and signature schemes, each with its wire code point and the
 * names people and stacks use for it.
 *
 * The tables are static data (cipher_table.inc is generated from facts, see
 * gen_cipher_table.py) shared by the policy loader, the renderers and the
 * scanner, which maps what a peer sent on the wire back to names. They cover
 * every suite OpenSSL 3 knows plus the legacy ones it dropped (RC4, 3DES,
 * EXPORT, NULL, anon, ...), because a scan must name what a server accepts
 * even when no local library can speak it.
 *
 * Ownership: every pointer returned here is static; never free it.
 * Name lookups are case-insensitive and accept every alias listed.
 */
#ifndef HILT_POLICY_SUITES_H
#define HILT_POLICY_SUITES_H

#include <stddef.h>
#include <stdint.h>

/* ---- protocol versions ------------------------------------------------- */
enum hilt_tls_version {
    HILT_SSL3 = 0,
    HILT_TLS10,
    HILT_TLS11,
    HILT_TLS12,
    HILT_TLS13,
    HILT_TLS_VERSION_COUNT
};
#define HILT_VERSION_BIT(v) (1u << (v))

/* "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3". */
const char *hilt_tls_version_name(enum hilt_tls_version v);
/* Wire value: 0x0300 ... 0x0304. */
uint16_t hilt_tls_version_wire(enum hilt_tls_version v);
/* Accepts the names above plus "TLSv1" and "SSLv3.0"; -1 when unknown. */
int hilt_tls_version_parse(const char *s, enum hilt_tls_version *out);
int hilt_tls_version_from_wire(uint16_t wire, enum hilt_tls_version *out);

/* ---- cipher suites ----------------------------------------------------- */
enum {
    HILT_CF_OSSL3 = 1u << 0,  /* the default OpenSSL 3 build implements it */
    HILT_CF_NONSTD = 1u << 1, /* not registered with IANA (vendor or draft) */
    HILT_CF_EXPORT = 1u << 2, /* export-grade (40/56-bit) */
    HILT_CF_NULL = 1u << 3,   /* no encryption */
    HILT_CF_ANON = 1u << 4,   /* no server authentication */
    HILT_CF_RC4 = 1u << 5,
    HILT_CF_DES = 1u << 6, /* single DES */
    HILT_CF_3DES = 1u << 7,
    HILT_CF_RC2 = 1u << 8,
    HILT_CF_IDEA = 1u << 9,
    HILT_CF_SEED = 1u << 10,
    HILT_CF_GOST = 1u << 11,
    HILT_CF_CAMELLIA = 1u << 12,
    HILT_CF_ARIA = 1u << 13,
    HILT_CF_CHACHA20 = 1u << 14,
    HILT_CF_GCM = 1u << 15,
    HILT_CF_CCM = 1u << 16,  /* AES-CCM with a 16-byte tag */
    HILT_CF_CCM8 = 1u << 17, /* AES-CCM with an 8-byte tag */
    HILT_CF_AEAD = 1u << 18,
    HILT_CF_CBC = 1u << 19, /* block cipher in CBC mode (MAC-then-encrypt) */
    HILT_CF_FS = 1u << 20,  /* forward secret (ephemeral key exchange) */
    HILT_CF_PSK = 1u << 21,
    HILT_CF_SRP = 1u << 22,
    HILT_CF_KRB5 = 1u << 23,
    HILT_CF_MD5 = 1u << 24,   /* HMAC-MD5 record MAC */
    HILT_CF_SHA1 = 1u << 25,  /* HMAC-SHA1 record MAC */
    HILT_CF_TLS13 = 1u << 26, /* a TLS 1.3 suite (RFC 8446 B.4) */
};

struct hilt_cipher {
    uint16_t code;
    const char *iana;                  /* IANA name; NULL for a few unregistered vendor suites */
    const char *openssl;               /* OpenSSL name; NULL when OpenSSL never named it */
    enum hilt_tls_version min_version; /* first version that defines it */
    const char *kx;  /* RSA DHE ECDHE DH ECDH PSK DHE_PSK RSA_PSK ECDHE_PSK SRP KRB5 GOST any ... */
    const char *au;  /* RSA DSS ECDSA DH ECDH PSK SRP KRB5 GOST01 anon any ... */
    const char *enc; /* AESGCM AES AESCCM AESCCM8 ChaCha20 3DES RC4 Camellia ARIA None ... */
    int enc_bits;
    const char *mac; /* AEAD SHA1 SHA256 SHA384 MD5 ... */
    uint32_t flags;  /* HILT_CF_* */
};

/* The whole table, sorted by code point. */
const struct hilt_cipher *hilt_cipher_table(size_t *n);
const struct hilt_cipher *hilt_cipher_by_code(uint16_t code);
/* IANA or OpenSSL name (case-insensitive), or NULL. */
const struct hilt_cipher *hilt_cipher_by_name(const char *name);
/* The name to show: IANA when registered, else the OpenSSL name. */
const char *hilt_cipher_name(const struct hilt_cipher *c);
/* The table name closest to `name` (for "did you mean"), or NULL. */
const char *hilt_cipher_suggest(const char *name, int tls13);

/* ---- named groups (RFC 8446 4.2.7, RFC 8422, RFC 7919) ----------------- */
enum {
    HILT_GF_EC = 1u << 0,     /* elliptic curve (incl. X25519/X448) */
    HILT_GF_FFDHE = 1u << 1,  /* finite-field DH (RFC 7919) */
    HILT_GF_HYBRID = 1u << 2, /* post-quantum hybrid KEM */
    HILT_GF_OSSL3 = 1u << 3,  /* OpenSSL 3.0 can negotiate it */
    HILT_GF_LEGACY = 1u << 4, /* deprecated by RFC 8422 / RFC 8446 */
};

struct hilt_group {
    uint16_t code;
    const char *iana;    /* "x25519", "secp256r1", "ffdhe2048", ... */
    const char *openssl; /* name OpenSSL-based stacks accept: "X25519", "prime256v1" */
    const char *nist;    /* "P-256" style alias (BoringSSL/Envoy, HAProxy docs) or NULL */
    int bits;            /* security-relevant size: 256 for P-256, 2048 for ffdhe2048 */
    uint32_t flags;      /* HILT_GF_* */
};

const struct hilt_group *hilt_group_table(size_t *n);
const struct hilt_group *hilt_group_by_code(uint16_t code);
const struct hilt_group *hilt_group_by_name(const char *name);

/* ---- signature schemes (RFC 8446 4.2.3) -------------------------------- */
struct hilt_sigalg {
    uint16_t code;
    const char *iana; /* "ecdsa_secp256r1_sha256"; OpenSSL, Java and Envoy accept it */
    int legacy;       /* SHA-1/SHA-224/DSA: not for TLS 1.3 */
};

const struct hilt_sigalg *hilt_sigalg_table(size_t *n);
const struct hilt_sigalg *hilt_sigalg_by_code(uint16_t code);
const struct hilt_sigalg *hilt_sigalg_by_name(const char *name);

/* ---- certificate vocabulary -------------------------------------------- */
enum {
    HILT_KEYTYPE_RSA = 1u << 0,
    HILT_KEYTYPE_ECDSA = 1u << 1,
    HILT_KEYTYPE_ED25519 = 1u << 2,
    HILT_KEYTYPE_ED448 = 1u << 3,
    HILT_KEYTYPE_DSA = 1u << 4,
};
/* "rsa", "ecdsa", "ed25519", "ed448", "dsa"; 0 when unknown. */
unsigned hilt_key_type_parse(const char *s);
const char *hilt_key_type_name(unsigned bit);

/* X.509 signature algorithm names as OpenSSL spells them
 * ("sha256WithRSAEncryption", "ecdsa-with-SHA256", ...). Returns the
 * canonical static spelling or NULL. */
const char *hilt_cert_sigalg_canonical(const char *s);
/* Extended key usage: "serverAuth", "clientAuth", ... or a dotted OID.
 * Returns the canonical static name, or `s` itself for a valid OID, or NULL. */
const char *hilt_eku_canonical(const char *s);

#endif
