/* mint.c - build and sign X.509 v3 certificates (RFC 5280 §4). */
#include "x509/mint.h"

#include "core/clock.h"
#include "core/err.h"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <string.h>

void hilt_cert_spec_init(struct hilt_cert_spec *s, const char *subject, int days)
{
    memset(s, 0, sizeof(*s));
    time_t now = hilt_now();
    s->subject = subject;
    s->not_before = now - 3600;
    s->not_after = now + (time_t)days * 86400;
    s->path_len = -1;
    s->digest = "sha256";
}

X509_NAME *hilt_name_parse(const char *subject, struct hilt_err *e)
{
    X509_NAME *n = X509_NAME_new();
    if (!n) return NULL;
    if (!strchr(subject, '=')) {
        if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)subject,
                                        -1, -1, 0))
            goto bad;
        return n;
    }
    /* "CN=a,O=b\, Inc" is RFC 4514 order (most specific first), so each entry
     * is prepended; OpenSSL's "/C=US/O=b/CN=a" form is in ASN.1 order. */
    int slash_form = subject[0] == '/';
    char sep = slash_form ? '/' : ',';
    char key[32], val[256];
    const char *p = subject + slash_form;
    while (*p) {
        while (*p == ' ') p++;
        size_t kl = 0;
        while (*p && *p != '=' && kl + 1 < sizeof(key)) key[kl++] = *p++;
        key[kl] = '\0';
        if (*p != '=') goto bad;
        p++;
        size_t vl = 0;
        while (*p && *p != sep) {
            if (*p == '\\' && p[1]) p++;
            if (vl + 1 >= sizeof(val)) goto bad;
            val[vl++] = *p++;
        }
        val[vl] = '\0';
        if (*p) p++;
        if (!kl || !X509_NAME_add_entry_by_txt(n, key, MBSTRING_UTF8, (const unsigned char *)val,
                                               -1, slash_form ? -1 : 0, 0))
            goto bad;
    }
    return n;
bad:
    ERR_clear_error();
    X509_NAME_free(n);
    hilt_err_set(e, HILT_E_USAGE, 0, "subject '%s' is not of the form CN=name,O=org", subject);
    return NULL;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (!ex) return -1;
    int ok = X509_add_ext(x, ex, -1);
    X509_EXTENSION_free(ex);
    return ok ? 0 : -1;
}

static int add_sans(X509 *x, const struct hilt_cert_spec *s, struct hilt_err *e)
{
    if (!s->nsans) return 0;
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    if (!gens) return -1;
    int rc = -1;
    for (size_t i = 0; i < s->nsans; i++) {
        const char *v = s->sans[i];
        int type = GEN_DNS;
        if (!strncmp(v, "DNS:", 4)) {
            v += 4;
        } else if (!strncmp(v, "IP:", 3)) {
            v += 3;
            type = GEN_IPADD;
        } else if (!strncmp(v, "URI:", 4)) {
            v += 4;
            type = GEN_URI;
        } else if (!strncmp(v, "email:", 6)) {
            v += 6;
            type = GEN_EMAIL;
        } else {
            ASN1_OCTET_STRING *ip = a2i_IPADDRESS(v);
            if (ip) {
                ASN1_OCTET_STRING_free(ip);
                type = GEN_IPADD;
            }
            ERR_clear_error();
        }
        GENERAL_NAME *g = NULL;
        if (type == GEN_IPADD) {
            ASN1_OCTET_STRING *ip = a2i_IPADDRESS(v);
            if (!ip) {
                hilt_err_set(e, HILT_E_USAGE, 0, "'%s' is not an IP address", v);
                goto out;
            }
            g = GENERAL_NAME_new();
            if (g) GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
            else ASN1_OCTET_STRING_free(ip);
        } else {
            ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
            if (!ia5 || !ASN1_STRING_set(ia5, v, (int)strlen(v))) {
                ASN1_IA5STRING_free(ia5);
                goto out;
            }
            g = GENERAL_NAME_new();
            if (g) GENERAL_NAME_set0_value(g, type, ia5);
            else ASN1_IA5STRING_free(ia5);
        }
        if (!g || !sk_GENERAL_NAME_push(gens, g)) {
            GENERAL_NAME_free(g);
            goto out;
        }
    }
    /* SAN is critical when the subject is empty (RFC 5280 §4.2.1.6). */
    int crit = X509_NAME_entry_count(X509_get_subject_name(x)) == 0;
    rc = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, crit, X509V3_ADD_DEFAULT) == 1 ? 0 : -1;
out:
    sk_GENERAL_NAME_pop_free(gens, GENERAL_NAME_free);
    return rc;
}

static int add_key_usage(X509 *x, X509V3_CTX *ctx, const struct hilt_cert_spec *s, EVP_PKEY *k)
{
    unsigned ku = s->key_usage;
    if (ku & HILT_KU_NONE) return 0;
    if (!ku) {
        if (s->is_ca)
            ku = HILT_KU_KEY_CERT_SIGN | HILT_KU_CRL_SIGN | HILT_KU_DIGITAL_SIGNATURE;
        else if (EVP_PKEY_is_a(k, "RSA"))
            ku = HILT_KU_DIGITAL_SIGNATURE | HILT_KU_KEY_ENCIPHERMENT;
        else
            ku = HILT_KU_DIGITAL_SIGNATURE;
    }
    char v[160] = "critical";
    static const struct {
        unsigned bit;
        const char *name;
    } map[] = {{HILT_KU_DIGITAL_SIGNATURE, "digitalSignature"},
               {HILT_KU_KEY_ENCIPHERMENT, "keyEncipherment"},
               {HILT_KU_KEY_AGREEMENT, "keyAgreement"},
               {HILT_KU_KEY_CERT_SIGN, "keyCertSign"},
               {HILT_KU_CRL_SIGN, "cRLSign"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (ku & map[i].bit) {
            strcat(v, ",");
            strcat(v, map[i].name);
        }
    return add_ext(x, ctx, NID_key_usage, v);
}

static int add_eku(X509 *x, X509V3_CTX *ctx, const struct hilt_cert_spec *s)
{
    unsigned eku = s->ext_key_usage;
    if (eku & HILT_EKU_NONE) return 0;
    if (!eku) {
        if (s->is_ca) return 0;
        eku = HILT_EKU_SERVER | HILT_EKU_CLIENT;
    }
    char v[128] = "";
    static const struct {
        unsigned bit;
        const char *name;
    } map[] = {{HILT_EKU_SERVER, "serverAuth"},
               {HILT_EKU_CLIENT, "clientAuth"},
               {HILT_EKU_OCSP_SIGNING, "OCSPSigning"},
               {HILT_EKU_CODE_SIGNING, "codeSigning"},
               {HILT_EKU_EMAIL, "emailProtection"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (eku & map[i].bit) {
            if (v[0]) strcat(v, ",");
            strcat(v, map[i].name);
        }
    return add_ext(x, ctx, NID_ext_key_usage, v);
}

static int set_serial(X509 *x, const struct hilt_cert_spec *s)
{
    unsigned char buf[HILT_SERIAL_MAX];
    size_t n = s->serial_len;
    if (n == 0 || n > HILT_SERIAL_MAX) {
        n = 16;
        if (RAND_bytes(buf, (int)n) != 1) return -1;
        buf[0] &= 0x7f; /* positive */
        buf[0] |= 0x01; /* and exactly 16 bytes long */
    } else {
        memcpy(buf, s->serial, n);
    }
    BIGNUM *bn = BN_bin2bn(buf, (int)n, NULL);
    ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int rc = ai && X509_set_serialNumber(x, ai) ? 0 : -1;
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return rc;
}

X509 *hilt_mint(const struct hilt_cert_spec *s, EVP_PKEY *subject_key,
                const struct hilt_signer *issuer, struct hilt_err *e)
{
    X509 *x = X509_new();
    X509_NAME *subj = NULL;
    EVP_PKEY *signing_key = issuer ? issuer->key : subject_key;
    X509 *issuer_cert = issuer ? issuer->cert : NULL;
    if (!x) goto ossl_fail;
    if (!signing_key) {
        hilt_err_set(e, HILT_E_USAGE, 0, "no signing key");
        goto fail;
    }
    if (!(subj = hilt_name_parse(s->subject ? s->subject : "", e))) goto fail;
    if (!X509_set_version(x, X509_VERSION_3) || set_serial(x, s) < 0 ||
        !X509_set_subject_name(x, subj) ||
        !X509_set_issuer_name(x, issuer_cert ? X509_get_subject_name(issuer_cert) : subj) ||
        !X509_set_pubkey(x, subject_key))
        goto ossl_fail;
    if (!ASN1_TIME_set(X509_getm_notBefore(x), s->not_before) ||
        !ASN1_TIME_set(X509_getm_notAfter(x), s->not_after))
        goto ossl_fail;

    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer_cert ? issuer_cert : x, x, NULL, NULL, 0);
    char bc[48];
    if (s->is_ca && s->path_len >= 0)
        snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d", s->path_len);
    else
        snprintf(bc, sizeof(bc), s->is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    if (add_ext(x, &ctx, NID_basic_constraints, bc) < 0 ||
        add_key_usage(x, &ctx, s, subject_key) < 0 || add_eku(x, &ctx, s) < 0 ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0)
        goto ossl_fail;
    /* AKI only when there is a distinct issuer (self-signed roots omit it). */
    if (issuer_cert && add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") < 0)
        goto ossl_fail;
    if (add_sans(x, s, e) < 0) {
        if (e && e->kind == HILT_E_NONE) goto ossl_fail;
        goto fail;
    }
    if (s->ocsp_url || s->ca_issuers_url) {
        char aia[1200];
        int n = 0;
        if (s->ocsp_url) n = snprintf(aia, sizeof(aia), "OCSP;URI:%s", s->ocsp_url);
        if (s->ca_issuers_url)
            snprintf(aia + n, sizeof(aia) - (size_t)n, "%scaIssuers;URI:%s", n ? "," : "",
                     s->ca_issuers_url);
        if (add_ext(x, &ctx, NID_info_access, aia) < 0) goto ossl_fail;
    }
    if (s->crl_url) {
        char dp[1100];
        snprintf(dp, sizeof(dp), "URI:%s", s->crl_url);
        if (add_ext(x, &ctx, NID_crl_distribution_points, dp) < 0) goto ossl_fail;
    }
    if (s->must_staple && add_ext(x, &ctx, NID_tlsfeature, "status_request") < 0) goto ossl_fail;

    const EVP_MD *md = NULL;
    if (!EVP_PKEY_is_a(signing_key, "ED25519") && !EVP_PKEY_is_a(signing_key, "ED448")) {
        md = EVP_get_digestbyname(s->digest ? s->digest : "sha256");
        if (!md) {
            hilt_err_set(e, HILT_E_USAGE, 0, "unknown digest '%s'", s->digest);
            goto fail;
        }
    }
    if (X509_sign(x, signing_key, md) <= 0) goto ossl_fail;
    X509_NAME_free(subj);
    return x;
ossl_fail:
    hilt_err_ossl(e, HILT_E_RUNTIME, "cannot mint certificate '%s'", s->subject ? s->subject : "");
fail:
    X509_NAME_free(subj);
    X509_free(x);
    return NULL;
}
