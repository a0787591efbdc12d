/* discover.c - `hilt inventory import`: certificates from files (PEM, DER,
 * PKCS#12) and directories, and from `hilt scan --json` results (with the
 * endpoints they were seen on, for coverage). */
#include "clm/discover.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "store/store.h"
#include "x509/key.h"
#include "x509/pem.h"
#include "x509/summary.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void note(struct hilt_import_stats *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(struct hilt_import_stats *s, const char *fmt, ...)
{
    if (s->nerrors == HILT_IMPORT_ERRORS_MAX) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errors[s->nerrors++], sizeof(s->errors[0]), fmt, ap);
    va_end(ap);
}

/* DNS and IP names of a SAN, comma-separated; the subject's CN when there
 * is none (or the whole subject). */
static void names_of(const GENERAL_NAMES *gens, const X509_NAME *subj, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char v[300] = "";
        if (g->type == GEN_DNS) {
            const ASN1_IA5STRING *s = g->d.dNSName;
            snprintf(v, sizeof(v), "%.*s",
                     ASN1_STRING_length(s) < 253 ? ASN1_STRING_length(s) : 253,
                     (const char *)ASN1_STRING_get0_data(s));
        } else if (g->type == GEN_IPADD) {
            const unsigned char *d = ASN1_STRING_get0_data(g->d.iPAddress);
            int l = ASN1_STRING_length(g->d.iPAddress);
            if (l == 4 || l == 16) inet_ntop(l == 4 ? AF_INET : AF_INET6, d, v, sizeof(v));
        }
        for (char *p = v; *p; p++)
            if (*p == ',' || (unsigned char)*p < 0x20) *p = '?';
        if (v[0] && o + strlen(v) + 2 < cap)
            o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "," : "", v);
    }
    if (out[0] || !subj) return;
    int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
    if (i >= 0) {
        unsigned char *u = NULL;
        int len = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)));
        if (len >= 0) {
            snprintf(out, cap, "%.*s", len, u);
            OPENSSL_free(u);
            return;
        }
    }
    hilt_name_fmt(subj, out, cap);
}

static void cert_names(X509 *x, char *out, size_t cap)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    names_of(gens, X509_get_subject_name(x), out, cap);
    GENERAL_NAMES_free(gens);
    ERR_clear_error();
}

/* The fields of one certificate the inventory records. */
struct facts {
    char sha[65], serial[80], subject[512], issuer[512], names[2048], key[64], ikey[17];
    int64_t not_before, not_after;
    const uint8_t *der;
    size_t der_len;
};

/* Record one certificate (or a new location of a known one). */
static int record(struct hilt_store *st, const struct facts *f, const char *source,
                  const char *location_kind, const char *location, const struct hilt_import_opts *o,
                  struct hilt_import_stats *s, struct hilt_err *e)
{
    s->certificates++;
    int64_t now = hilt_now();
    struct hilt_cert_rec have;
    int found = hilt_store_cert_get(st, f->sha, &have, NULL, e);
    if (found < 0) return -1;
    if (found == 1) {
        s->known++;
        hilt_cert_rec_free(&have);
    } else {
        /* another certificate with this issuer's serial (a CA reusing
         * serials, RFC 5280 §4.1.2.2 notwithstanding): noted, skipped, the
         * import goes on */
        char other[65];
        int taken = hilt_store_cert_serial_taken(st, f->serial, f->ikey, other, e);
        if (taken < 0) return -1;
        if (taken) {
            note(s,
                 "%s: serial %s of %s is already in the inventory as another certificate (%.16s…); "
                 "skipped",
                 location, f->serial, f->issuer, other);
            return 0;
        }
        struct hilt_cert_rec r = {.serial = (char *)f->serial,
                                  .sha256 = (char *)f->sha,
                                  .seq = -1,
                                  .shard = -1,
                                  .subject = (char *)f->subject,
                                  .names = (char *)f->names,
                                  .not_before = f->not_before,
                                  .not_after = f->not_after,
                                  .key_type = (char *)f->key,
                                  .owner = (char *)o->owner,
                                  .service = (char *)o->service,
                                  .env = (char *)o->env,
                                  .status = "active",
                                  .source = (char *)source,
                                  .issuer = (char *)f->issuer,
                                  .issuer_key = (char *)f->ikey,
                                  .created = now};
        if (hilt_store_cert_add(st, &r, f->der, f->der_len, NULL, e) < 0) return -1;
        s->added++;
        char d[600];
        snprintf(d, sizeof(d), "%s from %s", source, location);
        if (hilt_store_cert_event(st, f->sha, "imported", d, e) < 0) return -1;
    }
    if (o->owner || o->service || o->env) {
        if (hilt_store_cert_set_meta(st, f->sha, o->owner, o->service, o->env, NULL, NULL, e) < 0)
            return -1;
    }
    return hilt_store_location_seen(st, f->sha, location_kind, location, now, e);
}

int hilt_import_cert(struct hilt_store *st, X509 *x, const char *source, const char *location_kind,
                     const char *location, const struct hilt_import_opts *o,
                     struct hilt_import_stats *s, struct hilt_err *e)
{
    struct facts f;
    hilt_sha256_hex(x, f.sha);
    hilt_serial_hex(x, f.serial, sizeof(f.serial));
    hilt_name_fmt(X509_get_subject_name(x), f.subject, sizeof(f.subject));
    hilt_name_fmt(X509_get_issuer_name(x), f.issuer, sizeof(f.issuer));
    cert_names(x, f.names, sizeof(f.names));
    EVP_PKEY *pk = X509_get0_pubkey(x);
    if (pk)
        hilt_key_describe(pk, f.key, sizeof(f.key));
    else
        snprintf(f.key, sizeof(f.key), "unknown");
    unsigned char *nd = NULL;
    int nl = i2d_X509_NAME(X509_get_issuer_name(x), &nd);
    hilt_issuer_key(nd, nl > 0 ? (size_t)nl : 0, f.ikey);
    OPENSSL_free(nd);
    f.not_before = hilt_cert_not_before(x);
    f.not_after = hilt_cert_not_after(x);
    unsigned char *der = NULL;
    int dl = i2d_X509(x, &der);
    ERR_clear_error();
    if (dl <= 0) return hilt_err_set(e, HILT_E_INPUT, 0, "cannot encode the certificate");
    f.der = der;
    f.der_len = (size_t)dl;
    int rc = record(st, &f, source, location_kind, location, o, s, e);
    OPENSSL_free(der);
    return rc;
}

/* ---- the DER fast path ------------------------------------------------------------- */

/* One TLV: tag (low-tag-number form only), the value. */
static int tlv(struct hilt_rd *r, uint8_t *tag, const uint8_t **v, size_t *vl,
               const uint8_t **whole, size_t *wl)
{
    size_t start = r->off;
    uint8_t t, l0;
    if (hilt_rd_u8(r, &t) < 0 || (t & 0x1f) == 0x1f || hilt_rd_u8(r, &l0) < 0) return -1;
    size_t len = l0;
    if (l0 & 0x80) {
        int n = l0 & 0x7f;
        if (n == 0 || n > 3) return -1;
        len = 0;
        for (int i = 0; i < n; i++) {
            uint8_t b;
            if (hilt_rd_u8(r, &b) < 0) return -1;
            len = len << 8 | b;
        }
        if (len < 0x80) return -1; /* not DER */
    }
    if (hilt_rd_bytes(r, len, v) < 0) return -1;
    *tag = t;
    *vl = len;
    if (whole) {
        *whole = r->p + start;
        *wl = r->off - start;
    }
    return 0;
}

static const uint8_t OID_EC[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const uint8_t OID_RSA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const uint8_t OID_ED25519[] = {0x2b, 0x65, 0x70};
static const uint8_t OID_P256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t OID_P384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t OID_P521[] = {0x2b, 0x81, 0x04, 0x00, 0x23};
static const uint8_t OID_SAN[] = {0x55, 0x1d, 0x11};

#define OIDEQ(p, n, oid) ((n) == sizeof(oid) && !memcmp((p), (oid), sizeof(oid)))

/* hilt_key_describe()'s name, from the SubjectPublicKeyInfo alone (no key
 * decoding: OpenSSL 3 decodes every key through its decoder framework,
 * two thirds of an import). -1 for anything else. */
static int key_name(const uint8_t *spki, size_t n, char *out, size_t cap)
{
    struct hilt_rd r, alg, bits;
    uint8_t t;
    const uint8_t *v, *oid, *par = NULL;
    size_t vl, ol, pl = 0;
    hilt_rd_init(&r, spki, n);
    if (tlv(&r, &t, &v, &vl, NULL, NULL) < 0 || t != 0x30) return -1;
    hilt_rd_init(&r, v, vl);
    if (tlv(&r, &t, &v, &vl, NULL, NULL) < 0 || t != 0x30) return -1;
    hilt_rd_init(&alg, v, vl);
    if (tlv(&alg, &t, &oid, &ol, NULL, NULL) < 0 || t != 0x06) return -1;
    if (hilt_rd_left(&alg) && (tlv(&alg, &t, &par, &pl, NULL, NULL) < 0)) return -1;
    if (tlv(&r, &t, &v, &vl, NULL, NULL) < 0 || t != 0x03 || vl < 1 || v[0] != 0) return -1;
    if (OIDEQ(oid, ol, OID_EC)) {
        if (!par || t == 0) return -1;
        const char *c = OIDEQ(par, pl, OID_P256)   ? "ec-p256"
                        : OIDEQ(par, pl, OID_P384) ? "ec-p384"
                        : OIDEQ(par, pl, OID_P521) ? "ec-p521"
                                                   : NULL;
        if (!c) return -1;
        snprintf(out, cap, "%s", c);
        return 0;
    }
    if (OIDEQ(oid, ol, OID_ED25519)) {
        snprintf(out, cap, "ed25519");
        return 0;
    }
    if (!OIDEQ(oid, ol, OID_RSA)) return -1;
    /* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } */
    hilt_rd_init(&bits, v + 1, vl - 1);
    const uint8_t *m;
    size_t ml;
    if (tlv(&bits, &t, &v, &vl, NULL, NULL) < 0 || t != 0x30) return -1;
    hilt_rd_init(&bits, v, vl);
    if (tlv(&bits, &t, &m, &ml, NULL, NULL) < 0 || t != 0x02 || ml == 0) return -1;
    while (ml > 1 && m[0] == 0) {
        m++;
        ml--;
    }
    int nbits = (int)(ml - 1) * 8;
    for (uint8_t top = m[0]; top; top >>= 1)
        nbits++;
    snprintf(out, cap, "rsa-%d", nbits);
    return 0;
}

static int64_t der_time(const uint8_t *whole, size_t wl, int *ok)
{
    const unsigned char *q = whole;
    ASN1_TIME *t = d2i_ASN1_TIME(NULL, &q, (long)wl);
    if (!t || q != whole + wl) {
        ASN1_TIME_free(t);
        *ok = 0;
        return 0;
    }
    int64_t v = hilt_asn1_time(t);
    ASN1_TIME_free(t);
    return v;
}

/* The inventory's facts straight from the DER; -1 when the certificate is
 * not one this parser covers (then OpenSSL parses it). */
static int facts_from_der(const uint8_t *der, size_t n, struct facts *f)
{
    struct hilt_rd r, tbs;
    uint8_t t;
    const uint8_t *v, *w, *serial, *iss = NULL, *subj = NULL, *spki = NULL, *exts = NULL;
    size_t vl, wl, sl, il = 0, jl = 0, kl = 0, el = 0;
    int ok = 1;
    hilt_rd_init(&r, der, n);
    if (tlv(&r, &t, &v, &vl, NULL, NULL) < 0 || t != 0x30 || hilt_rd_left(&r)) return -1;
    hilt_rd_init(&r, v, vl);
    if (tlv(&r, &t, &v, &vl, NULL, NULL) < 0 || t != 0x30) return -1;
    hilt_rd_init(&tbs, v, vl);
    if (tlv(&tbs, &t, &v, &vl, NULL, NULL) < 0) return -1;
    if (t == 0xa0 && tlv(&tbs, &t, &v, &vl, NULL, NULL) < 0) return -1; /* version */
    if (t != 0x02 || vl == 0 || vl > 21 || (v[0] & 0x80)) return -1;    /* positive serial */
    serial = v;
    sl = vl;
    if (tlv(&tbs, &t, &v, &vl, NULL, NULL) < 0 || t != 0x30) return -1; /* signature alg */
    if (tlv(&tbs, &t, &v, &vl, &iss, &il) < 0 || t != 0x30) return -1;
    if (tlv(&tbs, &t, &v, &vl, NULL, NULL) < 0 || t != 0x30) return -1; /* validity */
    struct hilt_rd val;
    hilt_rd_init(&val, v, vl);
    if (tlv(&val, &t, &v, &vl, &w, &wl) < 0) return -1;
    f->not_before = der_time(w, wl, &ok);
    if (tlv(&val, &t, &v, &vl, &w, &wl) < 0) return -1;
    f->not_after = der_time(w, wl, &ok);
    if (!ok) return -1;
    if (tlv(&tbs, &t, &v, &vl, &subj, &jl) < 0 || t != 0x30) return -1;
    if (tlv(&tbs, &t, &v, &vl, &spki, &kl) < 0 || t != 0x30) return -1;
    while (hilt_rd_left(&tbs)) {
        if (tlv(&tbs, &t, &v, &vl, NULL, NULL) < 0) return -1;
        if (t == 0xa3) {
            exts = v;
            el = vl;
        }
    }
    if (key_name(spki, kl, f->key, sizeof(f->key)) < 0) return -1;
    /* serial as hilt_serial_hex() prints it: lowercase, no leading zero bytes */
    while (sl > 1 && serial[0] == 0) {
        serial++;
        sl--;
    }
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < sl; i++) {
        f->serial[2 * i] = hx[serial[i] >> 4];
        f->serial[2 * i + 1] = hx[serial[i] & 15];
    }
    f->serial[2 * sl] = '\0';
    const unsigned char *q = iss;
    X509_NAME *in = d2i_X509_NAME(NULL, &q, (long)il);
    q = subj;
    X509_NAME *sn = d2i_X509_NAME(NULL, &q, (long)jl);
    GENERAL_NAMES *gens = NULL;
    if (exts) {
        struct hilt_rd er, one;
        hilt_rd_init(&er, exts, el);
        if (tlv(&er, &t, &v, &vl, NULL, NULL) == 0 && t == 0x30) {
            hilt_rd_init(&er, v, vl);
            while (hilt_rd_left(&er) && !gens) {
                const uint8_t *oid, *x;
                size_t ol, xl;
                if (tlv(&er, &t, &v, &vl, NULL, NULL) < 0 || t != 0x30) break;
                hilt_rd_init(&one, v, vl);
                if (tlv(&one, &t, &oid, &ol, NULL, NULL) < 0 || t != 0x06) break;
                if (!OIDEQ(oid, ol, OID_SAN)) continue;
                if (tlv(&one, &t, &x, &xl, NULL, NULL) < 0) break;
                if (t == 0x01 && tlv(&one, &t, &x, &xl, NULL, NULL) < 0) break; /* critical */
                q = x;
                if (t == 0x04) gens = d2i_GENERAL_NAMES(NULL, &q, (long)xl);
            }
        }
    }
    int rc = in && sn ? 0 : -1;
    if (rc == 0) {
        hilt_name_fmt(sn, f->subject, sizeof(f->subject));
        hilt_name_fmt(in, f->issuer, sizeof(f->issuer));
        names_of(gens, sn, f->names, sizeof(f->names));
        hilt_issuer_key(iss, il, f->ikey);
        unsigned char h[32];
        unsigned hlen = 0;
        EVP_Digest(der, n, h, &hlen, EVP_sha256(), NULL);
        for (unsigned i = 0; i < 32; i++) {
            f->sha[2 * i] = hx[h[i] >> 4];
            f->sha[2 * i + 1] = hx[h[i] & 15];
        }
        f->sha[64] = '\0';
        f->der = der;
        f->der_len = n;
    }
    GENERAL_NAMES_free(gens);
    X509_NAME_free(in);
    X509_NAME_free(sn);
    ERR_clear_error();
    return rc;
}

/* ---- files ------------------------------------------------------------------------- */

/* One certificate's DER: the fast path, or OpenSSL's parser for what it
 * does not cover. */
static int import_der(struct hilt_store *st, const uint8_t *der, size_t n, const char *path,
                      int line, const struct hilt_import_opts *o, struct hilt_import_stats *s,
                      struct hilt_err *e)
{
    struct facts f;
    if (facts_from_der(der, n, &f) == 0) return record(st, &f, "imported", "file", path, o, s, e);
    const unsigned char *q = der;
    X509 *x = d2i_X509(NULL, &q, (long)n);
    if (!x || q != der + n) {
        X509_free(x);
        ERR_clear_error();
        note(s, "%s:%d: a certificate that does not parse", path, line);
        return 0;
    }
    int rc = hilt_import_cert(st, x, "imported", "file", path, o, s, e);
    X509_free(x);
    return rc;
}

/* PKCS#12: the leaf and its CA certificates; NULL (noted) when it does not
 * open, an empty stack when it is not PKCS#12. */
static STACK_OF(X509) * read_p12(const uint8_t *p, size_t n, const char *path,
                                 const struct hilt_import_opts *o, struct hilt_import_stats *s)
{
    const unsigned char *q = p;
    PKCS12 *p12 = d2i_PKCS12(NULL, &q, (long)n);
    if (!p12) {
        ERR_clear_error();
        return sk_X509_new_null(); /* not a certificate file */
    }
    EVP_PKEY *key = NULL;
    X509 *leaf = NULL;
    STACK_OF(X509) *ca = NULL;
    const char *pw = o->password ? o->password : "";
    int ok = PKCS12_parse(p12, pw, &key, &leaf, &ca);
    if (!ok && !o->password) ok = PKCS12_parse(p12, NULL, &key, &leaf, &ca);
    PKCS12_free(p12);
    EVP_PKEY_free(key); /* the inventory never keeps private keys */
    ERR_clear_error();
    if (!ok) {
        note(s, "%s: PKCS#12 that does not open with %s (give --password)", path,
             o->password ? "the --password given" : "an empty password");
        return NULL;
    }
    STACK_OF(X509) *sk = ca ? ca : sk_X509_new_null();
    if (leaf && (!sk || !sk_X509_insert(sk, leaf, 0))) X509_free(leaf);
    return sk;
}

static int import_file(struct hilt_store *st, const char *path, const struct hilt_import_opts *o,
                       struct hilt_import_stats *s, int explicit_file, struct hilt_err *e)
{
    struct hilt_buf b;
    hilt_buf_init(&b, HILT_IMPORT_FILE_MAX);
    struct hilt_err fe = {0};
    if (hilt_file_read(path, &b, &fe) < 0) {
        hilt_buf_free(&b);
        if (explicit_file) {
            *e = fe;
            return -1;
        }
        note(s, "%s", fe.msg);
        return 0;
    }
    int rc = 0;
    int64_t before = s->certificates;
    size_t nerr = s->nerrors;
    if (hilt_pem_looks_like(b.data, b.len)) {
        /* CERTIFICATE blocks; other blocks (keys, CSRs) are skipped */
        struct hilt_pem_scan sc;
        struct hilt_buf der;
        char label[64];
        int line, r;
        hilt_buf_init(&der, HILT_IMPORT_FILE_MAX);
        hilt_pem_scan_init(&sc, b.data, b.len, path);
        while (rc == 0 && (r = hilt_pem_next(&sc, label, sizeof(label), &der, &line, NULL)) == 1) {
            if (!strcmp(label, "CERTIFICATE")) {
                rc = import_der(st, der.data, der.len, path, line, o, s, e);
            } else if (!strcmp(label, "TRUSTED CERTIFICATE")) {
                const unsigned char *q = der.data;
                X509 *x = d2i_X509_AUX(NULL, &q, (long)der.len);
                if (x)
                    rc = hilt_import_cert(st, x, "imported", "file", path, o, s, e);
                else
                    note(s, "%s:%d: a TRUSTED CERTIFICATE block that does not parse", path, line);
                X509_free(x);
                ERR_clear_error();
            }
        }
        hilt_buf_free(&der);
    } else {
        struct facts f;
        int is_der = facts_from_der(b.data, b.len, &f) == 0;
        if (!is_der) {
            const unsigned char *q = b.data;
            X509 *x = d2i_X509(NULL, &q, (long)b.len);
            is_der = x && q == b.data + b.len;
            X509_free(x);
            ERR_clear_error();
        }
        if (is_der) {
            rc = import_der(st, b.data, b.len, path, 1, o, s, e);
        } else {
            STACK_OF(X509) *sk = read_p12(b.data, b.len, path, o, s);
            if (!sk) {
                hilt_buf_free(&b);
                return explicit_file
                           ? hilt_err_set(e, HILT_E_INPUT, 0, "%s", s->errors[s->nerrors - 1])
                           : 0;
            }
            for (int i = 0; rc == 0 && i < sk_X509_num(sk); i++)
                rc = hilt_import_cert(st, sk_X509_value(sk, i), "imported", "file", path, o, s, e);
            sk_X509_pop_free(sk, X509_free);
        }
    }
    hilt_buf_free(&b);
    if (rc < 0) return -1;
    if (s->certificates > before) {
        s->files++;
    } else if (explicit_file) {
        return hilt_err_set(e, HILT_E_INPUT, 0, "%s holds no certificate (PEM, DER or PKCS#12)%s%s",
                            path, s->nerrors > nerr ? ": " : "",
                            s->nerrors > nerr ? s->errors[nerr] : "");
    }
    return 0;
}

static int walk(struct hilt_store *st, const char *dir, int depth, const struct hilt_import_opts *o,
                struct hilt_import_stats *s, struct hilt_err *e)
{
    if (depth > HILT_IMPORT_DEPTH_MAX) {
        note(s, "%s: nested deeper than %d directories; not read", dir, HILT_IMPORT_DEPTH_MAX);
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d) {
        note(s, "cannot read %s: %s", dir, strerror(errno));
        return 0;
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        char p[4096];
        if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p)) continue;
        struct stat sb;
        if (lstat(p, &sb) < 0 || S_ISLNK(sb.st_mode)) continue; /* links are not followed */
        if (S_ISDIR(sb.st_mode))
            rc = walk(st, p, depth + 1, o, s, e);
        else if (S_ISREG(sb.st_mode) && sb.st_size > 0 && sb.st_size <= HILT_IMPORT_FILE_MAX)
            rc = import_file(st, p, o, s, 0, e);
    }
    closedir(d);
    return rc;
}

int hilt_import_path(struct hilt_store *st, const char *path, const struct hilt_import_opts *o,
                     struct hilt_import_stats *s, struct hilt_err *e)
{
    struct stat sb;
    if (stat(path, &sb) < 0)
        return hilt_err_set(e, HILT_E_INPUT, errno, "cannot read %s: %s", path, strerror(errno));
    if (hilt_store_begin(st, e) < 0) return -1;
    int rc = S_ISDIR(sb.st_mode) ? walk(st, path, 0, o, s, e) : import_file(st, path, o, s, 1, e);
    char obj[600], res[200];
    snprintf(obj, sizeof(obj), "path=%s", path);
    snprintf(res, sizeof(res), "ok added=%lld known=%lld", (long long)s->added,
             (long long)s->known);
    struct hilt_audit_ev ev = {NULL, "inventory.import", obj, res};
    if (rc == 0) rc = hilt_store_audit_append(st, &ev, e);
    if (rc == 0) return hilt_store_commit(st, e);
    hilt_store_rollback(st);
    return -1;
}

/* ---- scan results ---------------------------------------------------------------------- */

static int is_sha256(const char *s)
{
    if (!s || strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

struct scan_ctx {
    struct hilt_store *st;
    const struct hilt_import_opts *o;
    struct hilt_import_stats *s;
    struct hilt_endpoint_cert seen[64];
    char seen_sha[64][65];
    char seen_subj[64][256];
    size_t nseen;
    const char *endpoint;
    struct hilt_err *e;
};

static time_t jtime(json_t *v)
{
    time_t t = 0;
    const char *s = json_string_value(v);
    if (s) hilt_time_parse_rfc3339(s, &t);
    return t;
}

/* A certificate summary found in a scan result: record it. */
static int scan_cert(struct scan_ctx *c, json_t *o)
{
    const char *sha = json_string_value(json_object_get(o, "sha256"));
    const char *pem = json_string_value(json_object_get(o, "pem"));
    int is_ca = json_is_true(json_object_get(o, "is_ca"));
    struct hilt_cert_rec have;
    int f = hilt_store_cert_get(c->st, sha, &have, NULL, c->e);
    if (f < 0) return -1;
    if (f == 1) {
        hilt_cert_rec_free(&have);
        c->s->known++;
        c->s->certificates++;
        if (hilt_store_location_seen(c->st, sha, "endpoint", c->endpoint, hilt_now(), c->e) < 0)
            return -1;
    } else if (pem) {
        STACK_OF(X509) *sk = hilt_certs_parse(pem, strlen(pem), "scan result", NULL);
        int rc = 0;
        if (sk && sk_X509_num(sk) > 0)
            rc = hilt_import_cert(c->st, sk_X509_value(sk, 0), "scan", "endpoint", c->endpoint,
                                  c->o, c->s, c->e);
        sk_X509_pop_free(sk, X509_free);
        if (rc < 0) return -1;
    } else {
        /* only the summary: a row without DER */
        char names[2048] = "";
        json_t *sans = json_object_get(o, "sans");
        size_t k = 0;
        for (size_t i = 0; i < json_array_size(sans); i++) {
            const char *v = json_string_value(json_array_get(sans, i));
            if (!v) continue;
            const char *colon = strchr(v, ':');
            v = colon ? colon + 1 : v;
            if (k + strlen(v) + 2 < sizeof(names))
                k += (size_t)snprintf(names + k, sizeof(names) - k, "%s%s", k ? "," : "", v);
        }
        const char *subj = json_string_value(json_object_get(o, "subject"));
        const char *iss = json_string_value(json_object_get(o, "issuer"));
        const char *ser = json_string_value(json_object_get(o, "serial"));
        const char *key = json_string_value(json_object_get(o, "key"));
        char ikey[17] = "";
        if (iss) hilt_issuer_key((const unsigned char *)iss, strlen(iss), ikey);
        char sn[80];
        if (!ser || hilt_hex_normalise(ser, sn, sizeof(sn)) < 0)
            snprintf(sn, sizeof(sn), "%.16s", sha);
        struct hilt_cert_rec r = {.serial = sn,
                                  .sha256 = (char *)sha,
                                  .seq = -1,
                                  .shard = -1,
                                  .subject = (char *)(subj ? subj : ""),
                                  .names = names[0] ? names : (char *)(subj ? subj : ""),
                                  .not_before = jtime(json_object_get(o, "not_before")),
                                  .not_after = jtime(json_object_get(o, "not_after")),
                                  .key_type = (char *)(key ? key : "unknown"),
                                  .owner = (char *)c->o->owner,
                                  .service = (char *)c->o->service,
                                  .env = (char *)c->o->env,
                                  .status = "active",
                                  .source = "scan",
                                  .issuer = (char *)(iss ? iss : ""),
                                  .issuer_key = ikey};
        if (hilt_store_cert_add(c->st, &r, NULL, 0, NULL, c->e) < 0) return -1;
        c->s->added++;
        c->s->certificates++;
        char d[600];
        snprintf(d, sizeof(d), "seen by a scan on %s", c->endpoint);
        if (hilt_store_cert_event(c->st, sha, "discovered", d, c->e) < 0 ||
            hilt_store_location_seen(c->st, sha, "endpoint", c->endpoint, hilt_now(), c->e) < 0)
            return -1;
    }
    /* coverage counts end-entity certificates on endpoints */
    if (!is_ca && c->nseen < 64) {
        for (size_t i = 0; i < c->nseen; i++)
            if (!strcmp(c->seen_sha[i], sha)) return 0;
        snprintf(c->seen_sha[c->nseen], 65, "%s", sha);
        const char *subj = json_string_value(json_object_get(o, "subject"));
        snprintf(c->seen_subj[c->nseen], 256, "%s", subj ? subj : "");
        c->seen[c->nseen] = (struct hilt_endpoint_cert){
            c->seen_sha[c->nseen], c->seen_subj[c->nseen], jtime(json_object_get(o, "not_after"))};
        c->nseen++;
    }
    return 0;
}

static int scan_walk(struct scan_ctx *c, json_t *j, int depth)
{
    if (depth > 32) return 0;
    if (json_is_object(j)) {
        const char *sha = json_string_value(json_object_get(j, "sha256"));
        if (is_sha256(sha) && json_object_get(j, "subject") && json_object_get(j, "not_after"))
            return scan_cert(c, j);
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) if (scan_walk(c, v, depth + 1) < 0) return -1;
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) if (scan_walk(c, v, depth + 1) < 0) return -1;
    }
    return 0;
}

/* The endpoint a target result names: `hilt scan --json` has "target":
 * {"target", "host", "port", …} (host:port wins, so one endpoint has one
 * name however it was written); a plain "target" or "endpoint" string, or
 * top-level host and port, are accepted too. */
static int endpoint_of(json_t *t, char *out, size_t cap)
{
    json_t *tv = json_object_get(t, "target");
    if (json_is_object(tv)) {
        const char *h = json_string_value(json_object_get(tv, "host"));
        json_int_t port = json_integer_value(json_object_get(tv, "port"));
        if (h && port > 0 && port < 65536) {
            if (strchr(h, ':'))
                snprintf(out, cap, "[%s]:%lld", h, (long long)port);
            else
                snprintf(out, cap, "%s:%lld", h, (long long)port);
            return 0;
        }
        const char *ts = json_string_value(json_object_get(tv, "target"));
        if (!ts) return -1;
        snprintf(out, cap, "%s", ts);
        return 0;
    }
    const char *s = json_string_value(tv);
    if (!s) s = json_string_value(json_object_get(t, "endpoint"));
    if (s) {
        snprintf(out, cap, "%s", s);
        return 0;
    }
    const char *h = json_string_value(json_object_get(t, "host"));
    json_int_t port = json_integer_value(json_object_get(t, "port"));
    if (!h) return -1;
    snprintf(out, cap, "%s:%lld", h, (long long)(port ? port : 443));
    return 0;
}

static int scan_target(struct scan_ctx *c, json_t *t, struct hilt_err *e)
{
    char ep[300];
    if (!json_is_object(t) || endpoint_of(t, ep, sizeof(ep)) < 0)
        return 0; /* e.g. a summary line */
    c->endpoint = ep;
    c->nseen = 0;
    if (scan_walk(c, t, 0) < 0) return -1;
    c->s->endpoints++;
    return hilt_store_endpoint_replace(c->st, ep, c->seen, c->nseen, hilt_now(), e);
}

int hilt_import_scan_results(struct hilt_store *st, const char *file,
                             const struct hilt_import_opts *o, struct hilt_import_stats *s,
                             struct hilt_err *e)
{
    struct hilt_buf b;
    hilt_buf_init(&b, HILT_SCAN_RESULTS_MAX);
    if (hilt_file_read(file, &b, e) < 0) {
        hilt_buf_free(&b);
        return -1;
    }
    struct scan_ctx c = {.st = st, .o = o, .s = s, .e = e};
    int rc = -1;
    if (hilt_store_begin(st, e) < 0) goto out;
    /* one JSON document (an object or an array of targets), or JSON lines */
    json_error_t je;
    json_t *doc = json_loadb((const char *)b.data, b.len, JSON_DISABLE_EOF_CHECK, &je);
    size_t used = doc ? je.position : 0;
    int lines = doc && used < b.len;
    if (lines) {
        for (size_t i = used; i < b.len; i++)
            if (b.data[i] != ' ' && b.data[i] != '\n' && b.data[i] != '\r' && b.data[i] != '\t') {
                lines = 2;
                break;
            }
        if (lines != 2) lines = 0;
    }
    if (!doc) {
        hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d:%d: not JSON: %s", file, je.line, je.column,
                     je.text);
        goto fail;
    }
    if (!lines) {
        if (json_is_array(doc)) {
            size_t i;
            json_t *v;
            json_array_foreach(doc, i, v) if (scan_target(&c, v, e) < 0) goto fail_doc;
        } else if (scan_target(&c, doc, e) < 0) {
            goto fail_doc;
        }
        json_decref(doc);
    } else {
        json_decref(doc);
        doc = NULL;
        size_t off = 0;
        int line = 1;
        while (off < b.len) {
            const uint8_t *nl = memchr(b.data + off, '\n', b.len - off);
            size_t len = nl ? (size_t)(nl - (b.data + off)) : b.len - off;
            size_t k = 0;
            while (k < len && (b.data[off + k] == ' ' || b.data[off + k] == '\r'))
                k++;
            if (k < len) {
                json_t *t = json_loadb((const char *)b.data + off, len, 0, &je);
                if (!t) {
                    hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d:%d: not JSON: %s", file, line,
                                 je.column, je.text);
                    goto fail;
                }
                int r2 = scan_target(&c, t, e);
                json_decref(t);
                if (r2 < 0) goto fail;
            }
            off += len + 1;
            line++;
        }
    }
    if (s->endpoints == 0) {
        hilt_err_set(e, HILT_E_INPUT, 0,
                     "%s names no endpoint (expected `hilt scan --json` output: objects with "
                     "\"target\")",
                     file);
        goto fail;
    }
    char obj[600], res[200];
    snprintf(obj, sizeof(obj), "scan-results=%s", file);
    snprintf(res, sizeof(res), "ok endpoints=%lld added=%lld known=%lld", (long long)s->endpoints,
             (long long)s->added, (long long)s->known);
    struct hilt_audit_ev ev = {NULL, "inventory.import", obj, res};
    if (hilt_store_audit_append(st, &ev, e) < 0) goto fail;
    rc = hilt_store_commit(st, e);
    goto out;
fail_doc:
    json_decref(doc);
fail:
    hilt_store_rollback(st);
out:
    hilt_buf_free(&b);
    return rc;
}
