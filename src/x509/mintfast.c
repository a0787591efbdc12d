/* mintfast.c - TBSCertificate DER from a template (RFC 5280 §4.1), for the
 * batch issuance fast path. See mintfast.h for what it covers; anything
 * else is refused so the caller uses hilt_mint(). */
#include "x509/mintfast.h"

#include "core/buf.h"
#include "core/err.h"
#include "x509/der.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <time.h>

/* ---- constants -------------------------------------------------------------------- */

static const uint8_t OID_CN[] = {0x55, 0x04, 0x03};
static const uint8_t OID_BC[] = {0x55, 0x1d, 0x13};
static const uint8_t OID_KU[] = {0x55, 0x1d, 0x0f};
static const uint8_t OID_EKU[] = {0x55, 0x1d, 0x25};
static const uint8_t OID_SKI[] = {0x55, 0x1d, 0x0e};
static const uint8_t OID_AKI[] = {0x55, 0x1d, 0x23};
static const uint8_t OID_SAN[] = {0x55, 0x1d, 0x11};
static const uint8_t OID_CRLDP[] = {0x55, 0x1d, 0x1f};
static const uint8_t OID_AIA[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01};
static const uint8_t OID_TLSFEAT[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x18};
static const uint8_t OID_AD_OCSP[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01};
static const uint8_t OID_AD_CAISSUERS[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02};

/* id-kp-*: 1.3.6.1.5.5.7.3.N, in hilt_mint()'s order */
static const struct {
    unsigned bit;
    uint8_t last;
} eku_map[] = {{HILT_EKU_SERVER, 1},
               {HILT_EKU_CLIENT, 2},
               {HILT_EKU_OCSP_SIGNING, 9},
               {HILT_EKU_CODE_SIGNING, 3},
               {HILT_EKU_EMAIL, 4}};

/* KeyUsage named bits (RFC 5280 §4.2.1.3) as the first content byte. */
static const struct {
    unsigned bit;
    uint8_t mask;
} ku_map[] = {{HILT_KU_DIGITAL_SIGNATURE, 0x80},
              {HILT_KU_KEY_ENCIPHERMENT, 0x20},
              {HILT_KU_KEY_AGREEMENT, 0x08},
              {HILT_KU_KEY_CERT_SIGN, 0x04},
              {HILT_KU_CRL_SIGN, 0x02}};

/* ---- the issuer template ----------------------------------------------------------- */

void hilt_mint_issuer_free(struct hilt_mint_issuer *mi)
{
    if (!mi) return;
    EVP_MD_free(mi->md_owned);
    mi->md_owned = NULL;
    mi->md = NULL;
}

int hilt_mint_issuer_init(struct hilt_mint_issuer *mi, X509 *issuer, EVP_PKEY *signing_key,
                          const char *digest, struct hilt_err *e)
{
    memset(mi, 0, sizeof(*mi));
    const char *dg = digest ? digest : "sha256";
    static const struct {
        const char *name;
        int nid;
        uint8_t ec_last, rsa_last;
    } algs[] = {{"sha256", NID_sha256, 0x02, 0x0b},
                {"sha384", NID_sha384, 0x03, 0x0c},
                {"sha512", NID_sha512, 0x04, 0x0d}};
    size_t a = 0;
    while (a < 3 && strcmp(algs[a].name, dg))
        a++;
    if (a == 3) return hilt_err_set(e, HILT_E_USAGE, 0, "fast path: digest %s not covered", dg);
    if (EVP_PKEY_is_a(signing_key, "EC")) {
        /* ecdsa-with-SHA2 (RFC 5758 §3.2): no parameters */
        const uint8_t alg[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                               0x48, 0xce, 0x3d, 0x04, 0x03, algs[a].ec_last};
        memcpy(mi->sigalg, alg, sizeof(alg));
        mi->sigalg_len = sizeof(alg);
    } else if (EVP_PKEY_is_a(signing_key, "RSA")) {
        /* shaNNNWithRSAEncryption (RFC 4055 §5): NULL parameters */
        const uint8_t alg[] = {0x30,
                               0x0d,
                               0x06,
                               0x09,
                               0x2a,
                               0x86,
                               0x48,
                               0x86,
                               0xf7,
                               0x0d,
                               0x01,
                               0x01,
                               algs[a].rsa_last,
                               0x05,
                               0x00};
        memcpy(mi->sigalg, alg, sizeof(alg));
        mi->sigalg_len = sizeof(alg);
    } else {
        return hilt_err_set(e, HILT_E_USAGE, 0, "fast path: EC and RSA issuers only");
    }
    mi->md_nid = algs[a].nid;
    if (!(mi->md_owned = EVP_MD_fetch(NULL, OBJ_nid2sn(algs[a].nid), NULL)))
        return hilt_err_ossl(e, HILT_E_RUNTIME, "cannot fetch %s", dg);
    mi->md = mi->md_owned;

    unsigned char *p = NULL;
    int n = i2d_X509_NAME(X509_get_subject_name(issuer), &p);
    if (n <= 0 || (size_t)n > sizeof(mi->name)) {
        OPENSSL_free(p);
        hilt_mint_issuer_free(mi);
        return hilt_err_set(e, HILT_E_USAGE, 0, "fast path: issuer name too long");
    }
    memcpy(mi->name, p, (size_t)n);
    mi->name_len = (size_t)n;
    OPENSSL_free(p);

    /* authorityKeyIdentifier = keyid of the issuer's subjectKeyIdentifier,
     * what "keyid:always" gives hilt_mint(). */
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(issuer);
    if (!ski || ASN1_STRING_length(ski) <= 0 || ASN1_STRING_length(ski) > 32) {
        ERR_clear_error();
        hilt_mint_issuer_free(mi);
        return hilt_err_set(e, HILT_E_USAGE, 0, "fast path: issuer has no subjectKeyIdentifier");
    }
    struct hilt_buf ab;
    hilt_buf_init(&ab, sizeof(mi->aki));
    struct hilt_der d;
    hilt_der_init(&d, &ab);
    hilt_der_open(&d, 0x30);
    hilt_der_tlv(&d, 0x06, OID_AKI, sizeof(OID_AKI));
    hilt_der_open(&d, 0x04);
    hilt_der_open(&d, 0x30);
    hilt_der_tlv(&d, 0x80, ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski));
    hilt_der_close(&d);
    hilt_der_close(&d);
    hilt_der_close(&d);
    if (!d.bad) {
        memcpy(mi->aki, ab.data, ab.len);
        mi->aki_len = ab.len;
    }
    hilt_buf_free(&ab);
    if (d.bad) {
        hilt_mint_issuer_free(mi);
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "fast path: cannot encode the AKI");
    }
    return 0;
}

/* ---- the subject key ----------------------------------------------------------------- */

/* One DER element (definite length, at most 4 length bytes) at the cursor:
 * its tag and contents. */
static int der_next(struct hilt_rd *r, uint8_t *tag, struct hilt_rd *content)
{
    uint8_t l0;
    if (hilt_rd_u8(r, tag) < 0 || hilt_rd_u8(r, &l0) < 0) return -1;
    size_t len = l0;
    if (l0 & 0x80) {
        int nb = l0 & 0x7f;
        if (nb < 1 || nb > 4) return -1;
        len = 0;
        for (int i = 0; i < nb; i++) {
            uint8_t b;
            if (hilt_rd_u8(r, &b) < 0) return -1;
            len = len << 8 | b;
        }
    }
    const uint8_t *p;
    if (hilt_rd_bytes(r, len, &p) < 0) return -1;
    hilt_rd_init(content, p, len);
    return 0;
}

/* The SubjectPublicKeyInfo in ms->spki: check its shape and compute the SKI
 * (SHA-1 over the subjectPublicKey BIT STRING's bits, RFC 5280 §4.2.1.2 (1))
 * by walking the DER, without decoding the key through OpenSSL's decoders.
 * EC keys must name their curve (explicit parameters are left to the slow
 * path), RSA keys carry NULL parameters. */
static const uint8_t OID_EC_PUBKEY[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const uint8_t OID_RSA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};

static int spki_finish(struct hilt_mint_subject *ms, struct hilt_err *e)
{
    struct hilt_rd all, spki, alg, oid, params, bits;
    uint8_t tag;
    const uint8_t *p;
    hilt_rd_init(&all, ms->spki, ms->spki_len);
    if (der_next(&all, &tag, &spki) < 0 || tag != 0x30 || hilt_rd_left(&all) ||
        der_next(&spki, &tag, &alg) < 0 || tag != 0x30 || der_next(&alg, &tag, &oid) < 0 ||
        tag != 0x06)
        return hilt_err_set(e, HILT_E_INPUT, 0, "fast path: malformed SubjectPublicKeyInfo");
    int is_ec = oid.len == sizeof(OID_EC_PUBKEY) && !memcmp(oid.p, OID_EC_PUBKEY, oid.len);
    int is_rsa = oid.len == sizeof(OID_RSA) && !memcmp(oid.p, OID_RSA, oid.len);
    if (is_ec || is_rsa) {
        if (der_next(&alg, &tag, &params) < 0 || tag != (is_ec ? 0x06 : 0x05) ||
            (is_rsa && params.len))
            return hilt_err_set(e, HILT_E_USAGE, 0, "fast path: key parameters not covered");
    }
    if (hilt_rd_left(&alg) || der_next(&spki, &tag, &bits) < 0 || tag != 0x03 ||
        hilt_rd_left(&spki) || bits.len < 2 || bits.p[0] != 0)
        return hilt_err_set(e, HILT_E_INPUT, 0, "fast path: malformed subjectPublicKey");
    unsigned dl = 0;
    if (hilt_rd_skip(&bits, 1) < 0 || hilt_rd_bytes(&bits, bits.len - 1, &p) < 0 ||
        !EVP_Digest(p, bits.len - 1, ms->ski, &dl, EVP_sha1(), NULL) || dl != 20)
        return hilt_err_ossl(e, HILT_E_RUNTIME, "fast path: cannot hash the public key");
    ms->is_rsa = is_rsa;
    return 0;
}

int hilt_mint_subject_init_der(struct hilt_mint_subject *ms, const uint8_t *spki, size_t n,
                               struct hilt_err *e)
{
    memset(ms, 0, sizeof(*ms));
    if (n == 0 || n > sizeof(ms->spki))
        return hilt_err_set(e, HILT_E_USAGE, 0, "fast path: public key too large");
    memcpy(ms->spki, spki, n);
    ms->spki_len = n;
    return spki_finish(ms, e);
}

int hilt_mint_subject_init(struct hilt_mint_subject *ms, EVP_PKEY *key, struct hilt_err *e)
{
    unsigned char *p = NULL;
    int n = i2d_PUBKEY(key, &p);
    if (n <= 0) {
        OPENSSL_free(p);
        return hilt_err_ossl(e, HILT_E_USAGE, "fast path: cannot encode the public key");
    }
    int rc = hilt_mint_subject_init_der(ms, p, (size_t)n, e);
    OPENSSL_free(p);
    return rc;
}

/* ---- the TBSCertificate ----------------------------------------------------------------- */

/* The single CN the fast path covers: "CN=value" or a bare value (as
 * hilt_name_parse() reads it), printable ASCII, 1..64 bytes. */
static int subject_cn(const char *subject, const char **v, size_t *n)
{
    if (!subject || !*subject) return -1;
    const char *s = subject;
    if (strchr(s, '=')) {
        if (strncmp(s, "CN=", 3)) return -1;
        s += 3;
        if (strpbrk(s, ",\\+=/")) return -1;
    } else if (s[0] == '/') {
        return -1;
    }
    size_t l = strlen(s);
    if (l == 0 || l > 64) return -1;
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) return -1;
    if (s[0] == ' ') return -1; /* hilt_name_parse() skips leading blanks */
    *v = s;
    *n = l;
    return 0;
}

static void ext_open(struct hilt_der *d, const uint8_t *oid, size_t oid_len, int critical)
{
    hilt_der_open(d, 0x30);
    hilt_der_tlv(d, 0x06, oid, oid_len);
    if (critical) hilt_der_put(d, "\x01\x01\xff", 3);
    hilt_der_open(d, 0x04);
}

static void ext_close(struct hilt_der *d)
{
    hilt_der_close(d);
    hilt_der_close(d);
}

int hilt_mint_tbs(const struct hilt_mint_issuer *mi, const struct hilt_mint_subject *ms,
                  const struct hilt_cert_spec *s, struct hilt_buf *tbs, struct hilt_err *e)
{
    const char *cn;
    size_t cn_len;
    if (s->is_ca || !s->serial_len || s->serial_len > HILT_SERIAL_MAX ||
        subject_cn(s->subject, &cn, &cn_len) < 0)
        return hilt_err_set(e, HILT_E_USAGE, 0, "fast path: spec not covered");
    /* names: "DNS:" and "IP:" only */
    for (size_t i = 0; i < s->nsans; i++) {
        const char *v = s->sans[i];
        if (!strncmp(v, "DNS:", 4)) {
            size_t l = strlen(v + 4);
            if (l == 0 || l > 253) return hilt_err_set(e, HILT_E_USAGE, 0, "fast path: name");
            for (size_t k = 4; v[k]; k++)
                if ((unsigned char)v[k] <= 0x20 || (unsigned char)v[k] >= 0x7f)
                    return hilt_err_set(e, HILT_E_USAGE, 0, "fast path: name");
        } else if (strncmp(v, "IP:", 3)) {
            return hilt_err_set(e, HILT_E_USAGE, 0, "fast path: SAN type not covered");
        }
    }
    hilt_buf_reset(tbs);
    struct hilt_der d;
    hilt_der_init(&d, tbs);
    hilt_der_open(&d, 0x30);
    hilt_der_put(&d, "\xa0\x03\x02\x01\x02", 5); /* [0] version v3 */
    hilt_der_uint(&d, s->serial, s->serial_len);
    hilt_der_put(&d, mi->sigalg, mi->sigalg_len);
    hilt_der_put(&d, mi->name, mi->name_len);
    hilt_der_open(&d, 0x30); /* validity */
    hilt_der_time(&d, s->not_before);
    hilt_der_time(&d, s->not_after);
    hilt_der_close(&d);
    hilt_der_open(&d, 0x30); /* subject: one RDN, one CN, UTF8String */
    hilt_der_open(&d, 0x31);
    hilt_der_open(&d, 0x30);
    hilt_der_tlv(&d, 0x06, OID_CN, sizeof(OID_CN));
    hilt_der_tlv(&d, 0x0c, cn, cn_len);
    hilt_der_close(&d);
    hilt_der_close(&d);
    hilt_der_close(&d);
    hilt_der_put(&d, ms->spki, ms->spki_len);

    hilt_der_open(&d, 0xa3); /* [3] extensions, in hilt_mint()'s order */
    hilt_der_open(&d, 0x30);
    ext_open(&d, OID_BC, sizeof(OID_BC), 1);
    hilt_der_put(&d, "\x30\x00", 2); /* cA FALSE is the default: an empty SEQUENCE */
    ext_close(&d);
    unsigned ku = s->key_usage;
    if (!(ku & HILT_KU_NONE)) {
        if (!ku)
            ku = ms->is_rsa ? HILT_KU_DIGITAL_SIGNATURE | HILT_KU_KEY_ENCIPHERMENT
                            : HILT_KU_DIGITAL_SIGNATURE;
        uint8_t bits = 0;
        for (size_t i = 0; i < sizeof(ku_map) / sizeof(ku_map[0]); i++)
            if (ku & ku_map[i].bit) bits |= ku_map[i].mask;
        uint8_t unused = 0;
        while (bits && !(bits & (1u << unused)))
            unused++;
        ext_open(&d, OID_KU, sizeof(OID_KU), 1);
        if (bits) {
            uint8_t v[4] = {0x03, 0x02, unused, bits};
            hilt_der_put(&d, v, 4);
        } else {
            hilt_der_put(&d, "\x03\x01\x00", 3);
        }
        ext_close(&d);
    }
    unsigned eku = s->ext_key_usage;
    if (!(eku & HILT_EKU_NONE)) {
        if (!eku) eku = HILT_EKU_SERVER | HILT_EKU_CLIENT;
        ext_open(&d, OID_EKU, sizeof(OID_EKU), 0);
        hilt_der_open(&d, 0x30);
        for (size_t i = 0; i < sizeof(eku_map) / sizeof(eku_map[0]); i++)
            if (eku & eku_map[i].bit) {
                uint8_t oid[] = {0x06, 0x08, 0x2b, 0x06, 0x01,
                                 0x05, 0x05, 0x07, 0x03, eku_map[i].last};
                hilt_der_put(&d, oid, sizeof(oid));
            }
        hilt_der_close(&d);
        ext_close(&d);
    }
    ext_open(&d, OID_SKI, sizeof(OID_SKI), 0);
    hilt_der_tlv(&d, 0x04, ms->ski, sizeof(ms->ski));
    ext_close(&d);
    hilt_der_put(&d, mi->aki, mi->aki_len);
    if (s->nsans) {
        ext_open(&d, OID_SAN, sizeof(OID_SAN), 0);
        hilt_der_open(&d, 0x30);
        for (size_t i = 0; i < s->nsans && !d.bad; i++) {
            const char *v = s->sans[i];
            if (!strncmp(v, "DNS:", 4)) {
                hilt_der_tlv(&d, 0x82, v + 4, strlen(v + 4));
            } else {
                unsigned char ip[16];
                if (inet_pton(AF_INET, v + 3, ip) == 1)
                    hilt_der_tlv(&d, 0x87, ip, 4);
                else if (inet_pton(AF_INET6, v + 3, ip) == 1)
                    hilt_der_tlv(&d, 0x87, ip, 16);
                else
                    return hilt_err_set(e, HILT_E_USAGE, 0, "fast path: '%s' is not an IP", v);
            }
        }
        hilt_der_close(&d);
        ext_close(&d);
    }
    if (s->ocsp_url || s->ca_issuers_url) {
        ext_open(&d, OID_AIA, sizeof(OID_AIA), 0);
        hilt_der_open(&d, 0x30);
        if (s->ocsp_url) {
            hilt_der_open(&d, 0x30);
            hilt_der_tlv(&d, 0x06, OID_AD_OCSP, sizeof(OID_AD_OCSP));
            hilt_der_tlv(&d, 0x86, s->ocsp_url, strlen(s->ocsp_url));
            hilt_der_close(&d);
        }
        if (s->ca_issuers_url) {
            hilt_der_open(&d, 0x30);
            hilt_der_tlv(&d, 0x06, OID_AD_CAISSUERS, sizeof(OID_AD_CAISSUERS));
            hilt_der_tlv(&d, 0x86, s->ca_issuers_url, strlen(s->ca_issuers_url));
            hilt_der_close(&d);
        }
        hilt_der_close(&d);
        ext_close(&d);
    }
    if (s->crl_url) {
        ext_open(&d, OID_CRLDP, sizeof(OID_CRLDP), 0);
        hilt_der_open(&d, 0x30); /* CRLDistributionPoints */
        hilt_der_open(&d, 0x30); /* DistributionPoint */
        hilt_der_open(&d, 0xa0); /* distributionPoint [0] */
        hilt_der_open(&d, 0xa0); /* fullName [0] */
        hilt_der_tlv(&d, 0x86, s->crl_url, strlen(s->crl_url));
        hilt_der_close(&d);
        hilt_der_close(&d);
        hilt_der_close(&d);
        hilt_der_close(&d);
        ext_close(&d);
    }
    if (s->must_staple) {
        ext_open(&d, OID_TLSFEAT, sizeof(OID_TLSFEAT), 0);
        hilt_der_put(&d, "\x30\x03\x02\x01\x05", 5); /* status_request (RFC 7633) */
        ext_close(&d);
    }
    hilt_der_close(&d);
    hilt_der_close(&d);
    hilt_der_close(&d);
    if (hilt_der_done(&d) < 0)
        return hilt_err_set(e, HILT_E_USAGE, 0, "fast path: certificate over %zu bytes", tbs->max);
    return 0;
}

int hilt_mint_assemble(const struct hilt_mint_issuer *mi, const uint8_t *tbs, size_t tbs_len,
                       const uint8_t *sig, size_t sig_len, struct hilt_buf *out)
{
    struct hilt_der d;
    hilt_der_init(&d, out);
    hilt_der_open(&d, 0x30);
    hilt_der_put(&d, tbs, tbs_len);
    hilt_der_put(&d, mi->sigalg, mi->sigalg_len);
    hilt_der_open(&d, 0x03);
    hilt_der_put1(&d, 0); /* no unused bits */
    hilt_der_put(&d, sig, sig_len);
    hilt_der_close(&d);
    hilt_der_close(&d);
    return hilt_der_done(&d);
}

int hilt_mint_digest(EVP_MD_CTX *ctx, const EVP_MD *md, const uint8_t *p, size_t n, uint8_t *out,
                     unsigned *out_len)
{
    return EVP_DigestInit_ex2(ctx, md, NULL) && EVP_DigestUpdate(ctx, p, n) &&
                   EVP_DigestFinal_ex(ctx, out, out_len)
               ? 0
               : -1;
}
