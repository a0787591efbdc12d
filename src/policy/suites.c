/* suites.c - static tables of versions, cipher suites, groups and signature
 * schemes, and their lookups. The cipher rows live in cipher_table.inc. */
#include "policy/suites.h"

#include "policy/yamltree.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- versions ---------------------------------------------------------- */
static const struct {
    const char *name;
    uint16_t wire;
} versions[HILT_TLS_VERSION_COUNT] = {
    [HILT_SSL3] = {"SSLv3", 0x0300},    [HILT_TLS10] = {"TLSv1.0", 0x0301},
    [HILT_TLS11] = {"TLSv1.1", 0x0302}, [HILT_TLS12] = {"TLSv1.2", 0x0303},
    [HILT_TLS13] = {"TLSv1.3", 0x0304},
};

const char *hilt_tls_version_name(enum hilt_tls_version v)
{
    return (unsigned)v < HILT_TLS_VERSION_COUNT ? versions[v].name : "unknown";
}

uint16_t hilt_tls_version_wire(enum hilt_tls_version v)
{
    return (unsigned)v < HILT_TLS_VERSION_COUNT ? versions[v].wire : 0;
}

int hilt_tls_version_parse(const char *s, enum hilt_tls_version *out)
{
    static const struct {
        const char *alias;
        enum hilt_tls_version v;
    } aliases[] = {{"TLSv1", HILT_TLS10}, {"SSLv3.0", HILT_SSL3}};
    for (int i = 0; i < HILT_TLS_VERSION_COUNT; i++)
        if (!strcasecmp(s, versions[i].name)) {
            *out = (enum hilt_tls_version)i;
            return 0;
        }
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (!strcasecmp(s, aliases[i].alias)) {
            *out = aliases[i].v;
            return 0;
        }
    return -1;
}

int hilt_tls_version_from_wire(uint16_t wire, enum hilt_tls_version *out)
{
    for (int i = 0; i < HILT_TLS_VERSION_COUNT; i++)
        if (versions[i].wire == wire) {
            *out = (enum hilt_tls_version)i;
            return 0;
        }
    return -1;
}

/* ---- ciphers ----------------------------------------------------------- */
static const struct hilt_cipher ciphers[] = {
#define HILT_CIPHER(code, iana, ossl, ver, kx, au, enc, bits, mac, flags)                          \
    {code, iana, ossl, ver, kx, au, enc, bits, mac, flags},
#include "policy/cipher_table.inc"
#undef HILT_CIPHER
};
#define NCIPHERS (sizeof(ciphers) / sizeof(ciphers[0]))

const struct hilt_cipher *hilt_cipher_table(size_t *n)
{
    if (n) *n = NCIPHERS;
    return ciphers;
}

const struct hilt_cipher *hilt_cipher_by_code(uint16_t code)
{
    size_t lo = 0, hi = NCIPHERS;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ciphers[mid].code == code) return &ciphers[mid];
        if (ciphers[mid].code < code)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const struct hilt_cipher *hilt_cipher_by_name(const char *name)
{
    /* IANA names first: a few OpenSSL names equal another suite's IANA name
     * only for TLS 1.3, where both are the same suite. */
    for (size_t i = 0; i < NCIPHERS; i++)
        if (ciphers[i].iana && !strcasecmp(name, ciphers[i].iana)) return &ciphers[i];
    for (size_t i = 0; i < NCIPHERS; i++)
        if (ciphers[i].openssl && !strcasecmp(name, ciphers[i].openssl)) return &ciphers[i];
    return NULL;
}

const char *hilt_cipher_name(const struct hilt_cipher *c)
{
    return c->iana ? c->iana : c->openssl;
}

const char *hilt_cipher_suggest(const char *name, int tls13)
{
    const char *best = NULL;
    size_t bestd = (size_t)-1;
    for (size_t i = 0; i < NCIPHERS; i++) {
        if (!!(ciphers[i].flags & HILT_CF_TLS13) != !!tls13) continue;
        const char *cand[2] = {ciphers[i].iana, ciphers[i].openssl};
        for (int k = 0; k < 2; k++) {
            if (!cand[k]) continue;
            size_t d = yt_edit_distance(name, cand[k]);
            if (d < bestd) {
                bestd = d;
                best = cand[k];
            }
        }
    }
    /* Only suggest when the name is plausibly a typo. */
    return bestd <= 3 ? best : NULL;
}

/* ---- groups ------------------------------------------------------------ */
#define EC HILT_GF_EC
#define FF HILT_GF_FFDHE
#define OS HILT_GF_OSSL3
#define LG HILT_GF_LEGACY
static const struct hilt_group groups[] = {
    {1, "sect163k1", "sect163k1", "K-163", 163, EC | OS | LG},
    {2, "sect163r1", "sect163r1", NULL, 163, EC | OS | LG},
    {3, "sect163r2", "sect163r2", "B-163", 163, EC | OS | LG},
    {4, "sect193r1", "sect193r1", NULL, 193, EC | OS | LG},
    {5, "sect193r2", "sect193r2", NULL, 193, EC | OS | LG},
    {6, "sect233k1", "sect233k1", "K-233", 233, EC | OS | LG},
    {7, "sect233r1", "sect233r1", "B-233", 233, EC | OS | LG},
    {8, "sect239k1", "sect239k1", NULL, 239, EC | OS | LG},
    {9, "sect283k1", "sect283k1", "K-283", 283, EC | OS | LG},
    {10, "sect283r1", "sect283r1", "B-283", 283, EC | OS | LG},
    {11, "sect409k1", "sect409k1", "K-409", 409, EC | OS | LG},
    {12, "sect409r1", "sect409r1", "B-409", 409, EC | OS | LG},
    {13, "sect571k1", "sect571k1", "K-571", 571, EC | OS | LG},
    {14, "sect571r1", "sect571r1", "B-571", 571, EC | OS | LG},
    {15, "secp160k1", "secp160k1", NULL, 160, EC | OS | LG},
    {16, "secp160r1", "secp160r1", NULL, 160, EC | OS | LG},
    {17, "secp160r2", "secp160r2", NULL, 160, EC | OS | LG},
    {18, "secp192k1", "secp192k1", NULL, 192, EC | OS | LG},
    {19, "secp192r1", "prime192v1", "P-192", 192, EC | OS | LG},
    {20, "secp224k1", "secp224k1", NULL, 224, EC | OS | LG},
    {21, "secp224r1", "secp224r1", "P-224", 224, EC | OS | LG},
    {22, "secp256k1", "secp256k1", NULL, 256, EC | OS | LG},
    {23, "secp256r1", "prime256v1", "P-256", 256, EC | OS},
    {24, "secp384r1", "secp384r1", "P-384", 384, EC | OS},
    {25, "secp521r1", "secp521r1", "P-521", 521, EC | OS},
    {26, "brainpoolP256r1", "brainpoolP256r1", NULL, 256, EC | OS | LG},
    {27, "brainpoolP384r1", "brainpoolP384r1", NULL, 384, EC | OS | LG},
    {28, "brainpoolP512r1", "brainpoolP512r1", NULL, 512, EC | OS | LG},
    {29, "x25519", "X25519", NULL, 256, EC | OS},
    {30, "x448", "X448", NULL, 448, EC | OS},
    {31, "brainpoolP256r1tls13", "brainpoolP256r1tls13", NULL, 256, EC},
    {32, "brainpoolP384r1tls13", "brainpoolP384r1tls13", NULL, 384, EC},
    {33, "brainpoolP512r1tls13", "brainpoolP512r1tls13", NULL, 512, EC},
    {256, "ffdhe2048", "ffdhe2048", NULL, 2048, FF | OS},
    {257, "ffdhe3072", "ffdhe3072", NULL, 3072, FF | OS},
    {258, "ffdhe4096", "ffdhe4096", NULL, 4096, FF | OS},
    {259, "ffdhe6144", "ffdhe6144", NULL, 6144, FF | OS},
    {260, "ffdhe8192", "ffdhe8192", NULL, 8192, FF | OS},
    {0x11EB, "SecP256r1MLKEM768", "SecP256r1MLKEM768", NULL, 256, HILT_GF_HYBRID},
    {0x11EC, "X25519MLKEM768", "X25519MLKEM768", NULL, 256, HILT_GF_HYBRID},
    {0x11ED, "SecP384r1MLKEM1024", "SecP384r1MLKEM1024", NULL, 384, HILT_GF_HYBRID},
    {0x6399, "X25519Kyber768Draft00", "X25519Kyber768Draft00", NULL, 256, HILT_GF_HYBRID},
};
#undef EC
#undef FF
#undef OS
#undef LG
#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

const struct hilt_group *hilt_group_table(size_t *n)
{
    if (n) *n = NGROUPS;
    return groups;
}

const struct hilt_group *hilt_group_by_code(uint16_t code)
{
    for (size_t i = 0; i < NGROUPS; i++)
        if (groups[i].code == code) return &groups[i];
    return NULL;
}

const struct hilt_group *hilt_group_by_name(const char *name)
{
    for (size_t i = 0; i < NGROUPS; i++)
        if (!strcasecmp(name, groups[i].iana) || !strcasecmp(name, groups[i].openssl) ||
            (groups[i].nist && !strcasecmp(name, groups[i].nist)))
            return &groups[i];
    return NULL;
}

/* ---- signature schemes ------------------------------------------------- */
static const struct hilt_sigalg sigalgs[] = {
    {0x0201, "rsa_pkcs1_sha1", 1},
    {0x0202, "dsa_sha1", 1},
    {0x0203, "ecdsa_sha1", 1},
    {0x0301, "rsa_pkcs1_sha224", 1},
    {0x0302, "dsa_sha224", 1},
    {0x0303, "ecdsa_sha224", 1},
    {0x0401, "rsa_pkcs1_sha256", 0},
    {0x0402, "dsa_sha256", 1},
    {0x0403, "ecdsa_secp256r1_sha256", 0},
    {0x0501, "rsa_pkcs1_sha384", 0},
    {0x0502, "dsa_sha384", 1},
    {0x0503, "ecdsa_secp384r1_sha384", 0},
    {0x0601, "rsa_pkcs1_sha512", 0},
    {0x0602, "dsa_sha512", 1},
    {0x0603, "ecdsa_secp521r1_sha512", 0},
    {0x0804, "rsa_pss_rsae_sha256", 0},
    {0x0805, "rsa_pss_rsae_sha384", 0},
    {0x0806, "rsa_pss_rsae_sha512", 0},
    {0x0807, "ed25519", 0},
    {0x0808, "ed448", 0},
    {0x0809, "rsa_pss_pss_sha256", 0},
    {0x080A, "rsa_pss_pss_sha384", 0},
    {0x080B, "rsa_pss_pss_sha512", 0},
    {0x081A, "ecdsa_brainpoolP256r1tls13_sha256", 0},
    {0x081B, "ecdsa_brainpoolP384r1tls13_sha384", 0},
    {0x081C, "ecdsa_brainpoolP512r1tls13_sha512", 0},
};
#define NSIGALGS (sizeof(sigalgs) / sizeof(sigalgs[0]))

const struct hilt_sigalg *hilt_sigalg_table(size_t *n)
{
    if (n) *n = NSIGALGS;
    return sigalgs;
}

const struct hilt_sigalg *hilt_sigalg_by_code(uint16_t code)
{
    for (size_t i = 0; i < NSIGALGS; i++)
        if (sigalgs[i].code == code) return &sigalgs[i];
    return NULL;
}

const struct hilt_sigalg *hilt_sigalg_by_name(const char *name)
{
    for (size_t i = 0; i < NSIGALGS; i++)
        if (!strcasecmp(name, sigalgs[i].iana)) return &sigalgs[i];
    return NULL;
}

/* ---- certificate vocabulary -------------------------------------------- */
static const struct {
    const char *name;
    unsigned bit;
} key_types[] = {
    {"rsa", HILT_KEYTYPE_RSA},     {"ecdsa", HILT_KEYTYPE_ECDSA}, {"ed25519", HILT_KEYTYPE_ED25519},
    {"ed448", HILT_KEYTYPE_ED448}, {"dsa", HILT_KEYTYPE_DSA},
};

unsigned hilt_key_type_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
        if (!strcasecmp(s, key_types[i].name)) return key_types[i].bit;
    return 0;
}

const char *hilt_key_type_name(unsigned bit)
{
    for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
        if (key_types[i].bit == bit) return key_types[i].name;
    return "unknown";
}

static const char *const cert_sigalgs[] = {
    "sha256WithRSAEncryption",
    "sha384WithRSAEncryption",
    "sha512WithRSAEncryption",
    "sha1WithRSAEncryption",
    "md5WithRSAEncryption",
    "sha224WithRSAEncryption",
    "rsassaPss",
    "ecdsa-with-SHA1",
    "ecdsa-with-SHA224",
    "ecdsa-with-SHA256",
    "ecdsa-with-SHA384",
    "ecdsa-with-SHA512",
    "ED25519",
    "ED448",
    "dsa_with_SHA256",
    "dsaWithSHA1",
};

const char *hilt_cert_sigalg_canonical(const char *s)
{
    for (size_t i = 0; i < sizeof(cert_sigalgs) / sizeof(cert_sigalgs[0]); i++)
        if (!strcasecmp(s, cert_sigalgs[i])) return cert_sigalgs[i];
    return NULL;
}

static const char *const ekus[] = {
    "serverAuth", "clientAuth", "codeSigning", "emailProtection", "timeStamping", "OCSPSigning",
};

const char *hilt_eku_canonical(const char *s)
{
    for (size_t i = 0; i < sizeof(ekus) / sizeof(ekus[0]); i++)
        if (!strcasecmp(s, ekus[i])) return ekus[i];
    /* A dotted OID: digits separated by single dots, at least two arcs. */
    int arcs = 0, digits = 0;
    for (const char *p = s; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            digits++;
        } else if (*p == '.' && digits) {
            arcs++;
            digits = 0;
        } else {
            return NULL;
        }
    }
    return (arcs >= 1 && digits) ? s : NULL;
}
