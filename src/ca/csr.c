/* csr.c - PKCS#10 parsing (RFC 2986) and the CA's issuance checks: names
 * (RFC 1035 §2.3.1 labels, RFC 6125 §6.4.3 left-most wildcards), keys and
 * lifetimes. */
#include "ca/csr.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "x509/key.h"
#include "x509/pem.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hilt_issue_rules_init(struct hilt_issue_rules *r)
{
    memset(r, 0, sizeof(*r));
    r->allow_domains = "";
    r->max_lifetime = HILT_DEFAULT_MAX_LIFETIME;
    r->min_lifetime = HILT_MIN_LIFETIME;
    r->min_rsa_bits = 2048;
}

void hilt_names_free(struct hilt_names *n)
{
    for (size_t i = 0; i < n->n; i++) {
        free(n->v[i]);
        n->v[i] = NULL;
    }
    n->n = 0;
}

int hilt_names_has(const struct hilt_names *n, const char *name)
{
    for (size_t i = 0; i < n->n; i++)
        if (!strcmp(n->v[i], name)) return 1;
    return 0;
}

/* Is `name` (lowercase) a host name we issue for? Wildcards only as the
 * whole left-most label, with at least two labels after it. */
static int dns_ok(const char *name, const char **why)
{
    size_t len = strlen(name);
    if (len == 0) return *why = "is empty", 0;
    if (len > 253) return *why = "is longer than 253 characters", 0;
    const char *p = name;
    int labels = 0, wildcard = 0;
    if (!strncmp(p, "*.", 2)) {
        wildcard = 1;
        p += 2;
    }
    while (*p) {
        size_t l = 0;
        const char *start = p;
        while (*p && *p != '.') {
            char c = *p;
            if (c == '*') return *why = "has a wildcard that is not the whole left-most label", 0;
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                return *why = "has a character that is not a letter, digit or hyphen", 0;
            p++;
            l++;
        }
        if (l == 0) return *why = "has an empty label", 0;
        if (l > 63) return *why = "has a label longer than 63 characters", 0;
        if (start[0] == '-' || start[l - 1] == '-')
            return *why = "has a label that starts or ends with a hyphen", 0;
        labels++;
        if (*p == '.') {
            p++;
            if (!*p) return *why = "ends with a dot", 0;
        }
    }
    if (wildcard && labels < 2) return *why = "is a wildcard over a top-level domain", 0;
    return 1;
}

static int allowed(const char *name, int is_ip, const char *allow)
{
    if (!allow || !*allow) return 1;
    const char *base = !strncmp(name, "*.", 2) ? name + 2 : name;
    size_t bl = strlen(base);
    const char *p = allow;
    while (*p) {
        size_t l = strcspn(p, ",");
        const char *s = p;
        size_t sl = l;
        while (sl && *s == ' ')
            s++, sl--;
        if (sl && s[0] == '.') s++, sl--; /* ".example.com" = "example.com" */
        if (sl) {
            if (bl == sl && !strncmp(base, s, sl)) return 1;
            if (!is_ip && bl > sl && base[bl - sl - 1] == '.' && !strncmp(base + bl - sl, s, sl))
                return 1;
        }
        p += l;
        if (*p == ',') p++;
    }
    return 0;
}

int hilt_names_add(struct hilt_names *n, const char *name, const struct hilt_issue_rules *r,
                   struct hilt_err *e)
{
    char norm[256];
    size_t len = strlen(name);
    if (len >= sizeof(norm))
        return hilt_err_set(e, HILT_E_INPUT, 0, "name '%.60s…' is longer than 253 characters",
                            name);
    if (!strncmp(name, "DNS:", 4)) name += 4, len -= 4;
    int is_ip = 0;
    unsigned char ip[16];
    if (!strncmp(name, "IP:", 3)) {
        name += 3;
        is_ip = 1;
    }
    if (inet_pton(AF_INET, name, ip) == 1) {
        inet_ntop(AF_INET, ip, norm, sizeof(norm));
        is_ip = 1;
    } else if (inet_pton(AF_INET6, name, ip) == 1) {
        inet_ntop(AF_INET6, ip, norm, sizeof(norm));
        is_ip = 1;
    } else if (is_ip) {
        return hilt_err_set(e, HILT_E_INPUT, 0, "name 'IP:%s' is not an IP address", name);
    } else {
        for (size_t i = 0; i <= strlen(name); i++)
            norm[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
        const char *why = NULL;
        if (!dns_ok(norm, &why)) return hilt_err_set(e, HILT_E_INPUT, 0, "name '%s' %s", name, why);
    }
    if (!allowed(norm, is_ip, r ? r->allow_domains : NULL))
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "name '%s' is not allowed by the CA's name rules (allowed: %s)", norm,
                            r->allow_domains);
    if (hilt_names_has(n, norm)) return 0;
    if (n->n >= HILT_NAMES_MAX)
        return hilt_err_set(e, HILT_E_INPUT, 0, "more than %d names", HILT_NAMES_MAX);
    if (!(n->v[n->n] = strdup(norm))) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    n->n++;
    return 0;
}

X509_REQ *hilt_csr_parse(const void *data, size_t len, const char *source, struct hilt_err *e)
{
    X509_REQ *req = NULL;
    struct hilt_buf der;
    hilt_buf_init(&der, HILT_CSR_MAX);
    int line = 1;
    if (len > HILT_CSR_MAX) {
        hilt_err_set(e, HILT_E_INPUT, 0, "%s is larger than %u bytes: not a CSR", source,
                     HILT_CSR_MAX);
        goto out;
    }
    if (hilt_pem_looks_like(data, len)) {
        struct hilt_pem_scan sc;
        hilt_pem_scan_init(&sc, data, len, source);
        char label[64];
        for (;;) {
            int rc = hilt_pem_next(&sc, label, sizeof(label), &der, &line, e);
            if (rc < 0) goto out;
            if (rc == 0) {
                hilt_err_set(e, HILT_E_INPUT, 0,
                             "%s: no CERTIFICATE REQUEST block (is this a certificate or a key?)",
                             source);
                goto out;
            }
            if (!strcmp(label, "CERTIFICATE REQUEST") || !strcmp(label, "NEW CERTIFICATE REQUEST"))
                break;
        }
    } else {
        if (hilt_buf_add(&der, data, len) < 0) {
            hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
            goto out;
        }
    }
    const unsigned char *p = der.data;
    req = d2i_X509_REQ(NULL, &p, (long)der.len);
    if (!req || p != der.data + der.len) {
        X509_REQ_free(req);
        req = NULL;
        ERR_clear_error();
        hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d: not a valid PKCS#10 certificate request (%s)",
                     source, line, der.len ? "the DER does not parse" : "empty");
    }
out:
    hilt_buf_free(&der);
    return req;
}

X509_REQ *hilt_csr_load(const char *path, struct hilt_err *e)
{
    struct hilt_buf b;
    hilt_buf_init(&b, HILT_CSR_MAX);
    X509_REQ *r = NULL;
    if (hilt_file_read(path, &b, e) == 0) r = hilt_csr_parse(b.data, b.len, path, e);
    hilt_buf_free(&b);
    return r;
}

int hilt_issue_key_check(EVP_PKEY *k, const struct hilt_issue_rules *r, struct hilt_err *e)
{
    char desc[64];
    hilt_key_describe(k, desc, sizeof(desc));
    int min_rsa = r && r->min_rsa_bits ? r->min_rsa_bits : 2048;
    if (EVP_PKEY_is_a(k, "RSA")) {
        int bits = EVP_PKEY_get_bits(k);
        if (bits < min_rsa || bits > 8192)
            return hilt_err_set(e, HILT_E_INPUT, 0,
                                "key %s is not allowed: RSA keys must be %d to 8192 bits", desc,
                                min_rsa);
        return 0;
    }
    if (!strcmp(desc, "ec-p256") || !strcmp(desc, "ec-p384") || !strcmp(desc, "ec-p521") ||
        !strcmp(desc, "ed25519"))
        return 0;
    return hilt_err_set(e, HILT_E_INPUT, 0,
                        "key %s is not allowed (use ec-p256, ec-p384, ec-p521, ed25519 or RSA of "
                        "at least %d bits)",
                        desc, min_rsa);
}

int hilt_issue_lifetime_check(int64_t secs, const struct hilt_issue_rules *r, struct hilt_err *e)
{
    char a[32], b[32];
    int64_t min = r && r->min_lifetime ? r->min_lifetime : HILT_MIN_LIFETIME;
    int64_t max = r && r->max_lifetime ? r->max_lifetime : HILT_DEFAULT_MAX_LIFETIME;
    hilt_duration_fmt(secs, a);
    if (secs < min) {
        hilt_duration_fmt(min, b);
        return hilt_err_set(e, HILT_E_INPUT, 0, "lifetime %s is shorter than the minimum %s", a, b);
    }
    if (secs > max) {
        hilt_duration_fmt(max, b);
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "lifetime %s is longer than the CA allows (maximum %s)", a, b);
    }
    return 0;
}

static int asn1_str(const ASN1_STRING *s, char *out, size_t cap)
{
    int n = ASN1_STRING_length(s);
    const unsigned char *d = ASN1_STRING_get0_data(s);
    if (n < 0 || (size_t)n >= cap) return -1;
    for (int i = 0; i < n; i++)
        if (d[i] == 0) return -1; /* embedded NUL: refuse, never truncate */
    memcpy(out, d, (size_t)n);
    out[n] = '\0';
    return 0;
}

int hilt_csr_check(X509_REQ *req, const struct hilt_issue_rules *r, const char *source,
                   struct hilt_names *names, struct hilt_err *e)
{
    int rc = -1;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    GENERAL_NAMES *gens = NULL;
    EVP_PKEY *k = X509_REQ_get0_pubkey(req);
    if (!k) {
        ERR_clear_error();
        return hilt_err_set(e, HILT_E_INPUT, 0, "%s: the CSR's public key does not parse", source);
    }
    if (!r->csr_signature_checked && X509_REQ_verify(req, k) != 1) {
        ERR_clear_error();
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "%s: the CSR's signature does not verify (altered, or signed with "
                            "another key)",
                            source);
    }
    if (hilt_issue_key_check(k, r, e) < 0) goto fail;

    /* Subject CN, when it is a name at all. */
    X509_NAME *subj = X509_REQ_get_subject_name(req);
    int idx = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
    if (idx >= 0) {
        char cn[256];
        X509_NAME_ENTRY *ne = X509_NAME_get_entry(subj, idx);
        if (asn1_str(X509_NAME_ENTRY_get_data(ne), cn, sizeof(cn)) < 0) {
            hilt_err_set(e, HILT_E_INPUT, 0, "%s: subject CN is too long or has a NUL byte",
                         source);
            goto fail;
        }
        if (hilt_names_add(names, cn, r, e) < 0) {
            hilt_err_prefix(e, "%s: subject CN", source);
            goto fail;
        }
    }
    exts = X509_REQ_get_extensions(req);
    ERR_clear_error();
    int crit = 0;
    gens = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL) : NULL;
    if (!gens && crit == -2) {
        hilt_err_set(e, HILT_E_INPUT, 0, "%s: more than one subjectAltName extension", source);
        goto fail;
    }
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char v[256];
        if (g->type == GEN_DNS) {
            if (asn1_str(g->d.dNSName, v, sizeof(v)) < 0) {
                hilt_err_set(e, HILT_E_INPUT, 0, "%s: subjectAltName %d is too long or has a NUL",
                             source, i + 1);
                goto fail;
            }
        } else if (g->type == GEN_IPADD) {
            int n = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *d = ASN1_STRING_get0_data(g->d.iPAddress);
            if (!((n == 4 && inet_ntop(AF_INET, d, v, sizeof(v))) ||
                  (n == 16 && inet_ntop(AF_INET6, d, v, sizeof(v))))) {
                hilt_err_set(e, HILT_E_INPUT, 0, "%s: subjectAltName %d: bad IP address", source,
                             i + 1);
                goto fail;
            }
        } else {
            hilt_err_set(e, HILT_E_INPUT, 0,
                         "%s: subjectAltName %d is not a DNS name or IP address (only those are "
                         "issued)",
                         source, i + 1);
            goto fail;
        }
        if (hilt_names_add(names, v, r, e) < 0) {
            hilt_err_prefix(e, "%s: subjectAltName", source);
            goto fail;
        }
    }
    if (names->n == 0) {
        hilt_err_set(e, HILT_E_INPUT, 0, "%s: the CSR names no host (no CN, no subjectAltName)",
                     source);
        goto fail;
    }
    rc = 0;
fail:
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    return rc;
}
