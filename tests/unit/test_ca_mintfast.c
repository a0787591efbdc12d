/* test_ca_mintfast.c - the minting fast path (x509/mintfast.h) against
 * hilt_mint(): for every combination of issuer key (EC P-256, P-384, RSA),
 * subject key (EC, RSA, Ed25519) and spec shape (URLs, must-staple, IPv4 and
 * IPv6 names, long name lists that need long-form lengths, validity past
 * 2049, explicit and omitted key usages), the TBSCertificate is the same
 * bytes as hilt_mint()'s; the assembled certificate parses, its signature
 * verifies, and `openssl verify` accepts every one of them against the
 * root. Specs it does not cover are refused (so callers fall back). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "x509/key.h"
#include "x509/mint.h"
#include "x509/mintfast.h"
#include "x509/pem.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static EVP_PKEY *gen(const char *t)
{
    struct hilt_keyspec ks;
    assert_int_equal(hilt_keyspec_parse(t, &ks, NULL), 0);
    EVP_PKEY *k = hilt_key_generate(&ks, NULL);
    assert_non_null(k);
    return k;
}

struct pki {
    EVP_PKEY *root_key, *int_key;
    X509 *root, *inter;
    const char *digest;
};

static void make_pki(struct pki *p, const char *kt, const char *digest)
{
    p->root_key = gen(kt);
    p->int_key = gen(kt);
    p->digest = digest;
    struct hilt_cert_spec s;
    hilt_cert_spec_init(&s, "CN=fast Root,O=hilt tests", 3650);
    s.is_ca = 1;
    s.digest = digest;
    p->root = hilt_mint(&s, p->root_key, NULL, NULL);
    hilt_cert_spec_init(&s, "CN=fast Intermediate,O=hilt tests", 3000);
    s.is_ca = 1;
    s.path_len = 0;
    s.digest = digest;
    struct hilt_signer rs = {p->root, p->root_key};
    p->inter = hilt_mint(&s, p->int_key, &rs, NULL);
    assert_non_null(p->root);
    assert_non_null(p->inter);
}

static void free_pki(struct pki *p)
{
    X509_free(p->root);
    X509_free(p->inter);
    EVP_PKEY_free(p->root_key);
    EVP_PKEY_free(p->int_key);
}

/* One spec shape: the fields the fast path covers. */
static void fill_spec(struct hilt_cert_spec *s, int shape, const char **sans, char (*buf)[80])
{
    hilt_cert_spec_init(s, "CN=www.example.test", 90);
    s->serial_len = 17;
    s->serial[0] = 0x48;
    for (int i = 1; i < 17; i++)
        s->serial[i] = (unsigned char)(shape * 31 + i * 7);
    s->not_before = hilt_now() - 3600 + shape;
    s->not_after = s->not_before + 90 * 86400;
    sans[0] = "DNS:www.example.test";
    sans[1] = "IP:127.0.0.1";
    s->sans = sans;
    s->nsans = 2;
    switch (shape) {
    case 0: /* the CA's usual leaf */
        s->ocsp_url = "http://127.0.0.1:8080/ocsp";
        s->ca_issuers_url = "http://127.0.0.1:8080/ca.der";
        s->crl_url = "http://127.0.0.1:8080/crl/shard-0.crl";
        break;
    case 1: /* bare minimum, one name */
        s->nsans = 1;
        break;
    case 2: /* IPv6, must-staple, only an OCSP URL */
        sans[1] = "IP:2001:db8::1";
        s->must_staple = 1;
        s->ocsp_url = "http://ocsp.example.test/";
        break;
    case 3: /* 40 long names: long-form lengths everywhere */
        for (int i = 0; i < 40; i++) {
            snprintf(buf[i], 80, "DNS:host-%02d.a-rather-long-subdomain.example.test", i);
            sans[i] = buf[i];
        }
        s->nsans = 40;
        s->crl_url = "http://127.0.0.1:8080/crl/shard-12345.crl";
        break;
    case 4:                        /* past 2049: GeneralizedTime; explicit usages */
        s->not_after = 2600000000; /* 2052 */
        s->key_usage = HILT_KU_DIGITAL_SIGNATURE | HILT_KU_KEY_AGREEMENT;
        s->ext_key_usage = HILT_EKU_SERVER;
        break;
    case 5: /* usages left out; only caIssuers */
        s->key_usage = HILT_KU_NONE;
        s->ext_key_usage = HILT_EKU_NONE;
        s->ca_issuers_url = "http://127.0.0.1:8080/ca.der";
        s->subject = "bare.example.test"; /* a bare subject is a CN */
        break;
    case 6: /* a serial with the high bit set, wildcard, several EKUs */
        s->serial[0] = 0x98;
        sans[0] = "DNS:*.example.test";
        s->ext_key_usage = HILT_EKU_CLIENT | HILT_EKU_OCSP_SIGNING | HILT_EKU_CODE_SIGNING;
        break;
    }
}

#define NSHAPES 7

static int compare_one(struct pki *p, EVP_PKEY *subj, int shape, FILE *pem, int *count)
{
    struct hilt_cert_spec s;
    const char *sans[64];
    char buf[64][80];
    fill_spec(&s, shape, sans, buf);
    s.digest = p->digest;
    struct hilt_signer is = {p->inter, p->int_key};
    struct hilt_err e = {0};
    X509 *ref = hilt_mint(&s, subj, &is, &e);
    if (!ref) fprintf(stderr, "hilt_mint: %s\n", e.msg);
    assert_non_null(ref);
    unsigned char *ref_tbs = NULL;
    int ref_len = i2d_re_X509_tbs(ref, &ref_tbs);
    assert_true(ref_len > 0);

    struct hilt_mint_issuer mi;
    struct hilt_mint_subject ms;
    assert_int_equal(hilt_mint_issuer_init(&mi, p->inter, p->int_key, p->digest, &e), 0);
    assert_int_equal(hilt_mint_subject_init(&ms, subj, &e), 0);
    struct hilt_buf tbs, cert;
    hilt_buf_init(&tbs, HILT_MINT_TBS_MAX);
    hilt_buf_init(&cert, HILT_MINT_TBS_MAX + 1024);
    int rc = hilt_mint_tbs(&mi, &ms, &s, &tbs, &e);
    if (rc) fprintf(stderr, "shape %d: %s\n", shape, e.msg);
    assert_int_equal(rc, 0);
    if ((size_t)ref_len != tbs.len || memcmp(ref_tbs, tbs.data, tbs.len)) {
        fprintf(stderr, "shape %d: TBS differs (hilt_mint %d bytes, fast %zu)\n", shape, ref_len,
                tbs.len);
        for (size_t i = 0; i < tbs.len && i < (size_t)ref_len; i++)
            if (ref_tbs[i] != tbs.data[i]) {
                fprintf(stderr, "  first difference at byte %zu: %02x vs %02x\n", i, ref_tbs[i],
                        tbs.data[i]);
                break;
            }
        fail();
    }
    /* sign as the batch path does: digest, EVP_PKEY_sign, assemble */
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    uint8_t dg[64], sig[1024];
    unsigned dl = 0;
    assert_int_equal(hilt_mint_digest(mc, mi.md, tbs.data, tbs.len, dg, &dl), 0);
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(p->int_key, NULL);
    size_t sl = sizeof(sig);
    assert_true(EVP_PKEY_sign_init(pc) > 0);
    assert_true(EVP_PKEY_CTX_set_signature_md(pc, mi.md) > 0);
    assert_true(EVP_PKEY_sign(pc, sig, &sl, dg, dl) > 0);
    assert_int_equal(hilt_mint_assemble(&mi, tbs.data, tbs.len, sig, sl, &cert), 0);
    const unsigned char *q = cert.data;
    X509 *x = d2i_X509(NULL, &q, (long)cert.len);
    assert_non_null(x);
    assert_true(q == cert.data + cert.len);
    assert_int_equal(X509_verify(x, X509_get0_pubkey(p->inter)), 1);
    /* the whole certificate has hilt_mint()'s shape: re-encoding it is a no-op */
    unsigned char *re = NULL;
    int rl = i2d_X509(x, &re);
    assert_int_equal(rl, (int)cert.len);
    assert_memory_equal(re, cert.data, cert.len);
    PEM_write_X509(pem, x);
    (*count)++;
    OPENSSL_free(re);
    X509_free(x);
    EVP_PKEY_CTX_free(pc);
    EVP_MD_CTX_free(mc);
    hilt_buf_free(&tbs);
    hilt_buf_free(&cert);
    hilt_mint_issuer_free(&mi);
    OPENSSL_free(ref_tbs);
    X509_free(ref);
    return 0;
}

static void same_as_hilt_mint(void **state)
{
    (void)state;
    static const struct {
        const char *kt, *digest;
    } issuers[] = {{"ec-p256", "sha256"}, {"ec-p384", "sha384"}, {"rsa-2048", "sha256"}};
    static const char *subjects[] = {"ec-p256", "ec-p384", "rsa-2048", "ed25519"};
    char dir[] = "/tmp/hilt-mintfast.XXXXXX";
    assert_non_null(mkdtemp(dir));
    for (size_t i = 0; i < 3; i++) {
        struct pki p;
        make_pki(&p, issuers[i].kt, issuers[i].digest);
        char path[300], root[300], inter[300];
        snprintf(path, sizeof(path), "%s/leaves-%zu.pem", dir, i);
        snprintf(root, sizeof(root), "%s/root-%zu.pem", dir, i);
        snprintf(inter, sizeof(inter), "%s/int-%zu.pem", dir, i);
        FILE *f = fopen(root, "w");
        PEM_write_X509(f, p.root);
        fclose(f);
        f = fopen(inter, "w");
        PEM_write_X509(f, p.inter);
        fclose(f);
        FILE *pem = fopen(path, "w");
        assert_non_null(pem);
        int count = 0;
        for (size_t k = 0; k < 4; k++) {
            EVP_PKEY *subj = gen(subjects[k]);
            for (int shape = 0; shape < NSHAPES; shape++)
                compare_one(&p, subj, shape, pem, &count);
            EVP_PKEY_free(subj);
        }
        fclose(pem);
        /* openssl verify, every certificate: split the bundle, one run */
        char cmd[2000];
        snprintf(cmd, sizeof(cmd),
                 "cd %s && awk '/BEGIN/{n++} {print > (\"leaf-%zu-\" n \".pem\")}' %s && "
                 "openssl verify -CAfile %s -untrusted %s leaf-%zu-*.pem "
                 "> verify-%zu.out 2>&1; test $(grep -c ': OK$' verify-%zu.out) -eq %d",
                 dir, i, path, root, inter, i, i, i, count);
        int rc = system(cmd);
        if (rc != 0) {
            snprintf(cmd, sizeof(cmd), "grep -v ': OK$' %s/verify-%zu.out | head -5 >&2", dir, i);
            (void)system(cmd);
        }
        assert_int_equal(rc, 0);
        print_message("%s issuer: %d fast-path certificates identical to hilt_mint() and "
                      "accepted by openssl verify\n",
                      issuers[i].kt, count);
        free_pki(&p);
    }
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A CSR's SubjectPublicKeyInfo, as the CSR carries it, gives the same
 * subject as the decoded key; EC keys with explicit parameters and broken
 * DER are refused (callers fall back to the key or to hilt_mint()). */
static void subject_from_spki_der(void **state)
{
    (void)state;
    const char *types[] = {"ec-p256", "ec-p384", "rsa-2048", "ed25519"};
    struct hilt_err e = {0};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        EVP_PKEY *k = gen(types[i]);
        X509_REQ *rq = X509_REQ_new();
        assert_non_null(rq);
        assert_int_equal(X509_REQ_set_pubkey(rq, k), 1);
        unsigned char *d = NULL;
        int n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(rq), &d);
        assert_true(n > 0);
        struct hilt_mint_subject a, b;
        assert_int_equal(hilt_mint_subject_init_der(&a, d, (size_t)n, &e), 0);
        assert_int_equal(hilt_mint_subject_init(&b, k, &e), 0);
        assert_int_equal(a.spki_len, b.spki_len);
        assert_memory_equal(a.spki, b.spki, a.spki_len);
        assert_memory_equal(a.ski, b.ski, 20);
        assert_int_equal(a.is_rsa, !strcmp(types[i], "rsa-2048"));
        /* every truncation is refused, never read past */
        for (int cut = 0; cut < n; cut++)
            assert_int_equal(hilt_mint_subject_init_der(&a, d, (size_t)cut, &e), -1);
        /* a stray byte after the SEQUENCE */
        unsigned char *longer = malloc((size_t)n + 1);
        memcpy(longer, d, (size_t)n);
        longer[n] = 0;
        assert_int_equal(hilt_mint_subject_init_der(&a, longer, (size_t)n + 1, &e), -1);
        free(longer);
        OPENSSL_free(d);
        X509_REQ_free(rq);
        EVP_PKEY_free(k);
    }
    /* explicit curve parameters: not covered */
    EVP_PKEY *k = gen("ec-p256");
    assert_int_equal(EVP_PKEY_set_utf8_string_param(k, "encoding", "explicit"), 1);
    unsigned char *d = NULL;
    int n = i2d_PUBKEY(k, &d);
    assert_true(n > 0);
    struct hilt_mint_subject a;
    assert_int_equal(hilt_mint_subject_init_der(&a, d, (size_t)n, &e), -1);
    assert_int_equal(e.kind, HILT_E_USAGE);
    OPENSSL_free(d);
    EVP_PKEY_free(k);
}

static void refuses_what_it_does_not_cover(void **state)
{
    (void)state;
    struct pki p;
    make_pki(&p, "ec-p256", "sha256");
    EVP_PKEY *k = gen("ec-p256");
    struct hilt_mint_issuer mi;
    struct hilt_mint_subject ms;
    struct hilt_err e = {0};
    assert_int_equal(hilt_mint_issuer_init(&mi, p.inter, p.int_key, "sha256", &e), 0);
    assert_int_equal(hilt_mint_subject_init(&ms, k, &e), 0);
    struct hilt_buf tbs;
    hilt_buf_init(&tbs, HILT_MINT_TBS_MAX);
    struct hilt_cert_spec s;
    const char *sans[2] = {"DNS:a.example.test", "URI:https://x"};
    const char *subjects[] = {"CN=a,O=b",
                              "O=x",
                              "",
                              "CN=a\\,b",
                              "/CN=a",
                              "CN="
                              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
        hilt_cert_spec_init(&s, subjects[i], 1);
        s.serial_len = 1;
        s.serial[0] = 1;
        assert_int_equal(hilt_mint_tbs(&mi, &ms, &s, &tbs, &e), -1);
        assert_int_equal(e.kind, HILT_E_USAGE);
    }
    hilt_cert_spec_init(&s, "CN=a", 1);
    assert_int_equal(hilt_mint_tbs(&mi, &ms, &s, &tbs, &e), -1); /* no serial */
    s.serial_len = 1;
    s.serial[0] = 1;
    s.sans = sans;
    s.nsans = 2;
    assert_int_equal(hilt_mint_tbs(&mi, &ms, &s, &tbs, &e), -1); /* URI name */
    s.nsans = 1;
    s.is_ca = 1;
    assert_int_equal(hilt_mint_tbs(&mi, &ms, &s, &tbs, &e), -1); /* a CA */
    s.is_ca = 0;
    assert_int_equal(hilt_mint_tbs(&mi, &ms, &s, &tbs, &e), 0);
    hilt_mint_issuer_free(&mi);
    /* an issuer without a subjectKeyIdentifier */
    X509 *bare = X509_new();
    X509_set_version(bare, X509_VERSION_3);
    X509_set_pubkey(bare, p.int_key);
    assert_int_equal(hilt_mint_issuer_init(&mi, bare, p.int_key, "sha256", &e), -1);
    assert_int_equal(hilt_mint_issuer_init(&mi, p.inter, p.int_key, "md5", &e), -1);
    X509_free(bare);
    hilt_buf_free(&tbs);
    EVP_PKEY_free(k);
    free_pki(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_as_hilt_mint),
        cmocka_unit_test(refuses_what_it_does_not_cover),
        cmocka_unit_test(subject_from_spki_der),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
