/* summary.c - certificate summaries and extension accessors (RFC 5280 §4.2). */
#include "x509/summary.h"

#include "core/json.h"
#include "x509/key.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <string.h>

void hilt_name_fmt(const X509_NAME *n, char *out, size_t cap)
{
    out[0] = '\0';
    if (!n || cap == 0) return;
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) return;
    /* RFC 2253 escaping, UTF-8 kept, no spaces around separators. */
    unsigned long flags = (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) | ASN1_STRFLGS_UTF8_CONVERT;
    if (X509_NAME_print_ex(b, n, 0, flags) >= 0) {
        char *p;
        long len = BIO_get_mem_data(b, &p);
        if (len < 0) len = 0;
        size_t l = (size_t)len < cap - 1 ? (size_t)len : cap - 1;
        memcpy(out, p, l);
        out[l] = '\0';
    }
    BIO_free(b);
}

void hilt_cert_label(X509 *x, char *out, size_t cap)
{
    X509_NAME *n = X509_get_subject_name(x);
    int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
    if (i >= 0) {
        ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
        unsigned char *u = NULL;
        int len = ASN1_STRING_to_UTF8(&u, s);
        if (len >= 0) {
            snprintf(out, cap, "%.*s", len, u);
            OPENSSL_free(u);
            return;
        }
    }
    hilt_name_fmt(n, out, cap);
}

void hilt_serial_hex(X509 *x, char *out, size_t cap)
{
    out[0] = '\0';
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex) {
        size_t i = 0;
        for (; hex[i] && i + 1 < cap; i++)
            out[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] + 32 : hex[i]);
        out[i] = '\0';
    }
    OPENSSL_free(hex);
    BN_free(bn);
}

void hilt_sha256_hex(X509 *x, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    out[0] = '\0';
    if (!X509_digest(x, EVP_sha256(), md, &n)) return;
    static const char hx[] = "0123456789abcdef";
    for (unsigned i = 0; i < n && i < 32; i++) {
        out[2 * i] = hx[md[i] >> 4];
        out[2 * i + 1] = hx[md[i] & 15];
    }
    out[64] = '\0';
}

time_t hilt_asn1_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm)) return 0;
    return timegm(&tm);
}

time_t hilt_cert_not_before(X509 *x)
{
    return hilt_asn1_time(X509_get0_notBefore(x));
}

time_t hilt_cert_not_after(X509 *x)
{
    return hilt_asn1_time(X509_get0_notAfter(x));
}

int hilt_cert_self_issued(X509 *x)
{
    /* X509_check_issued also honours AKI/SKI; then check the signature. */
    if (X509_check_issued(x, x) != X509_V_OK) return 0;
    EVP_PKEY *k = X509_get0_pubkey(x);
    int ok = k && X509_verify(x, k) == 1;
    ERR_clear_error();
    return ok;
}

int hilt_cert_must_staple(X509 *x)
{
    /* TLS Feature (RFC 7633): SEQUENCE OF INTEGER; 5 is status_request. */
    TLS_FEATURE *f = X509_get_ext_d2i(x, NID_tlsfeature, NULL, NULL);
    int found = 0;
    for (int i = 0; f && i < sk_ASN1_INTEGER_num(f); i++)
        if (ASN1_INTEGER_get(sk_ASN1_INTEGER_value(f, i)) == 5) found = 1;
    TLS_FEATURE_free(f);
    return found;
}

int hilt_cert_aia_urls(X509 *x, int method_nid, char out[][512], int max)
{
    AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
    int n = 0;
    for (int i = 0; aia && i < sk_ACCESS_DESCRIPTION_num(aia) && n < max; i++) {
        ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
        if (OBJ_obj2nid(ad->method) != method_nid || ad->location->type != GEN_URI) continue;
        ASN1_IA5STRING *u = ad->location->d.uniformResourceIdentifier;
        snprintf(out[n++], 512, "%.*s", ASN1_STRING_length(u), (const char *)ASN1_STRING_get0_data(u));
    }
    AUTHORITY_INFO_ACCESS_free(aia);
    return n;
}

int hilt_cert_crl_urls(X509 *x, char out[][512], int max)
{
    STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
    int n = 0;
    for (int i = 0; dps && i < sk_DIST_POINT_num(dps) && n < max; i++) {
        DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
        if (!dp->distpoint || dp->distpoint->type != 0) continue;
        GENERAL_NAMES *names = dp->distpoint->name.fullname;
        for (int j = 0; j < sk_GENERAL_NAME_num(names) && n < max; j++) {
            GENERAL_NAME *g = sk_GENERAL_NAME_value(names, j);
            if (g->type != GEN_URI) continue;
            ASN1_IA5STRING *u = g->d.uniformResourceIdentifier;
            snprintf(out[n++], 512, "%.*s", ASN1_STRING_length(u), (const char *)ASN1_STRING_get0_data(u));
        }
    }
    sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
    return n;
}

void hilt_cert_sig_digest(X509 *x, char *out, size_t cap)
{
    int md_nid = NID_undef, pk_nid = NID_undef;
    out[0] = '\0';
    if (!OBJ_find_sigid_algs(X509_get_signature_nid(x), &md_nid, &pk_nid) || md_nid == NID_undef)
        return;
    snprintf(out, cap, "%s", OBJ_nid2sn(md_nid));
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
}

static json_t *sans_json(X509 *x)
{
    json_t *arr = json_array();
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char buf[600];
        buf[0] = '\0';
        if (g->type == GEN_DNS || g->type == GEN_URI || g->type == GEN_EMAIL) {
            ASN1_IA5STRING *s = g->d.ia5;
            const char *pre = g->type == GEN_DNS ? "DNS:" : g->type == GEN_URI ? "URI:" : "email:";
            snprintf(buf, sizeof(buf), "%s%.*s", pre, ASN1_STRING_length(s) > 512 ? 512 : ASN1_STRING_length(s),
                     (const char *)ASN1_STRING_get0_data(s));
        } else if (g->type == GEN_IPADD) {
            const ASN1_OCTET_STRING *o = g->d.iPAddress;
            int len = ASN1_STRING_length(o);
            const unsigned char *d = ASN1_STRING_get0_data(o);
            if (len == 4) {
                snprintf(buf, sizeof(buf), "IP:%u.%u.%u.%u", d[0], d[1], d[2], d[3]);
            } else if (len == 16) {
                int n = snprintf(buf, sizeof(buf), "IP:");
                for (int k = 0; k < 16; k += 2)
                    n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s%x", k ? ":" : "", d[k] << 8 | d[k + 1]);
            }
        }
        if (buf[0]) json_array_append_new(arr, hilt_json_str(buf));
    }
    GENERAL_NAMES_free(gens);
    return arr;
}

static json_t *key_usage_json(X509 *x)
{
    json_t *arr = json_array();
    uint32_t ku = X509_get_key_usage(x);
    if (ku == UINT32_MAX) return arr; /* extension absent */
    static const struct {
        uint32_t bit;
        const char *name;
    } map[] = {{KU_DIGITAL_SIGNATURE, "digitalSignature"}, {KU_NON_REPUDIATION, "nonRepudiation"},
               {KU_KEY_ENCIPHERMENT, "keyEncipherment"},  {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
               {KU_KEY_AGREEMENT, "keyAgreement"},        {KU_KEY_CERT_SIGN, "keyCertSign"},
               {KU_CRL_SIGN, "cRLSign"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (ku & map[i].bit) json_array_append_new(arr, json_string(map[i].name));
    return arr;
}

static json_t *eku_json(X509 *x)
{
    json_t *arr = json_array();
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
    for (int i = 0; eku && i < sk_ASN1_OBJECT_num(eku); i++) {
        ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);
        int nid = OBJ_obj2nid(o);
        char buf[80];
        if (nid != NID_undef)
            snprintf(buf, sizeof(buf), "%s", OBJ_nid2sn(nid));
        else
            OBJ_obj2txt(buf, sizeof(buf), o, 1);
        json_array_append_new(arr, json_string(buf));
    }
    EXTENDED_KEY_USAGE_free(eku);
    return arr;
}

static json_t *urls_json(char urls[][512], int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, hilt_json_str(urls[i]));
    return arr;
}

json_t *hilt_cert_summary(X509 *x)
{
    char buf[1024], hex[65];
    json_t *o = json_object();
    hilt_name_fmt(X509_get_subject_name(x), buf, sizeof(buf));
    json_object_set_new(o, "subject", hilt_json_str(buf));
    hilt_name_fmt(X509_get_issuer_name(x), buf, sizeof(buf));
    json_object_set_new(o, "issuer", hilt_json_str(buf));
    hilt_serial_hex(x, buf, sizeof(buf));
    json_object_set_new(o, "serial", json_string(buf));
    json_object_set_new(o, "not_before", hilt_json_time(hilt_cert_not_before(x)));
    json_object_set_new(o, "not_after", hilt_json_time(hilt_cert_not_after(x)));
    json_object_set_new(o, "sans", sans_json(x));
    EVP_PKEY *k = X509_get0_pubkey(x);
    if (k)
        hilt_key_describe(k, buf, sizeof(buf));
    else
        snprintf(buf, sizeof(buf), "unknown");
    json_object_set_new(o, "key", json_string(buf));
    int sig_nid = X509_get_signature_nid(x);
    json_object_set_new(o, "signature", json_string(sig_nid != NID_undef ? OBJ_nid2ln(sig_nid) : "unknown"));
    hilt_sha256_hex(x, hex);
    json_object_set_new(o, "sha256", json_string(hex));
    json_object_set_new(o, "is_ca", json_boolean(X509_check_ca(x) > 0));
    json_object_set_new(o, "self_issued", json_boolean(hilt_cert_self_issued(x)));
    json_object_set_new(o, "key_usage", key_usage_json(x));
    json_object_set_new(o, "ext_key_usage", eku_json(x));
    char urls[8][512];
    int n = hilt_cert_aia_urls(x, NID_ad_OCSP, urls, 8);
    json_object_set_new(o, "ocsp_urls", urls_json(urls, n));
    n = hilt_cert_aia_urls(x, NID_ad_ca_issuers, urls, 8);
    json_object_set_new(o, "ca_issuers_urls", urls_json(urls, n));
    n = hilt_cert_crl_urls(x, urls, 8);
    json_object_set_new(o, "crl_urls", urls_json(urls, n));
    json_object_set_new(o, "must_staple", json_boolean(hilt_cert_must_staple(x)));
    ERR_clear_error();
    return o;
}
