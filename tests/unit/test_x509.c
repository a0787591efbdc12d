/* test_x509.c - minting, PEM loading with precise errors, summaries, verification. */
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
#include "x509/pem.h"
#include "x509/summary.h"
#include "x509/verify.h"

#include <openssl/x509_vfy.h>
#include <string.h>

struct pki {
    EVP_PKEY *root_key, *int_key, *leaf_key;
    X509 *root, *inter, *leaf;
};

static EVP_PKEY *gen(const char *type)
{
    struct hilt_keyspec ks;
    assert_int_equal(hilt_keyspec_parse(type, &ks, NULL), 0);
    EVP_PKEY *k = hilt_key_generate(&ks, NULL);
    assert_non_null(k);
    return k;
}

static void make_pki(struct pki *p, int leaf_days_from, int leaf_days_to)
{
    struct hilt_cert_spec s;
    p->root_key = gen("ec-p256");
    hilt_cert_spec_init(&s, "CN=Test Root,O=hilt", 3650);
    s.not_before -= 90 * 86400;
    s.is_ca = 1;
    p->root = hilt_mint(&s, p->root_key, NULL, NULL);
    assert_non_null(p->root);

    p->int_key = gen("ec-p256");
    hilt_cert_spec_init(&s, "CN=Test Intermediate,O=hilt", 1825);
    s.not_before -= 90 * 86400;
    s.is_ca = 1;
    s.path_len = 0;
    struct hilt_signer rs = {p->root, p->root_key};
    p->inter = hilt_mint(&s, p->int_key, &rs, NULL);
    assert_non_null(p->inter);

    p->leaf_key = gen("ec-p256");
    const char *sans[] = {"DNS:www.example.test", "IP:127.0.0.1", "example.test", "::1"};
    hilt_cert_spec_init(&s, "www.example.test", 0);
    s.sans = sans;
    s.nsans = 4;
    time_t now = hilt_now();
    s.not_before = now + (time_t)leaf_days_from * 86400;
    s.not_after = now + (time_t)leaf_days_to * 86400;
    s.ocsp_url = "http://127.0.0.1:1/ocsp";
    s.ca_issuers_url = "http://127.0.0.1:1/int.der";
    s.crl_url = "http://127.0.0.1:1/crl";
    s.must_staple = 1;
    struct hilt_signer is = {p->inter, p->int_key};
    p->leaf = hilt_mint(&s, p->leaf_key, &is, NULL);
    assert_non_null(p->leaf);
}

static void free_pki(struct pki *p)
{
    X509_free(p->root);
    X509_free(p->inter);
    X509_free(p->leaf);
    EVP_PKEY_free(p->root_key);
    EVP_PKEY_free(p->int_key);
    EVP_PKEY_free(p->leaf_key);
}

static void keyspecs(void **st)
{
    (void)st;
    struct hilt_keyspec ks;
    struct hilt_err e = {0};
    char buf[32];
    assert_int_equal(hilt_keyspec_parse("rsa-3072", &ks, &e), 0);
    assert_int_equal(ks.alg, HILT_KEY_RSA);
    assert_int_equal(ks.bits, 3072);
    hilt_keyspec_fmt(&ks, buf, sizeof(buf));
    assert_string_equal(buf, "rsa-3072");
    assert_int_equal(hilt_keyspec_parse("rsa-100", &ks, &e), -1);
    assert_int_equal(hilt_keyspec_parse("dsa", &ks, &e), -1);
    assert_int_equal(hilt_err_exit_code(&e), 2);
    EVP_PKEY *k = gen("ec-p384");
    hilt_key_describe(k, buf, sizeof(buf));
    assert_string_equal(buf, "ec-p384");
    EVP_PKEY_free(k);
    k = gen("rsa-1024");
    hilt_key_describe(k, buf, sizeof(buf));
    assert_string_equal(buf, "rsa-1024");
    assert_int_equal(hilt_key_security_bits(k), 80);
    EVP_PKEY_free(k);
    k = gen("ed25519");
    hilt_key_describe(k, buf, sizeof(buf));
    assert_string_equal(buf, "ed25519");
    EVP_PKEY_free(k);
}

static void mint_and_summarise(void **st)
{
    (void)st;
    struct pki p;
    make_pki(&p, -1, 30);
    json_t *j = hilt_cert_summary(p.leaf);
    assert_string_equal(json_string_value(json_object_get(j, "subject")), "CN=www.example.test");
    assert_string_equal(json_string_value(json_object_get(j, "issuer")),
                        "CN=Test Intermediate,O=hilt");
    assert_string_equal(json_string_value(json_object_get(j, "key")), "ec-p256");
    assert_string_equal(json_string_value(json_object_get(j, "signature")), "ecdsa-with-SHA256");
    assert_int_equal(strlen(json_string_value(json_object_get(j, "sha256"))), 64);
    assert_int_equal(strlen(json_string_value(json_object_get(j, "serial"))), 32);
    json_t *sans = json_object_get(j, "sans");
    assert_int_equal(json_array_size(sans), 4);
    assert_string_equal(json_string_value(json_array_get(sans, 0)), "DNS:www.example.test");
    assert_string_equal(json_string_value(json_array_get(sans, 1)), "IP:127.0.0.1");
    assert_string_equal(json_string_value(json_array_get(sans, 2)), "DNS:example.test");
    assert_string_equal(json_string_value(json_array_get(sans, 3)), "IP:0:0:0:0:0:0:0:1");
    assert_true(json_is_true(json_object_get(j, "must_staple")));
    assert_true(json_is_false(json_object_get(j, "is_ca")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "ocsp_urls"), 0)),
                        "http://127.0.0.1:1/ocsp");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "crl_urls"), 0)),
                        "http://127.0.0.1:1/crl");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "ext_key_usage"), 0)),
                        "serverAuth");
    json_decref(j);
    j = hilt_cert_summary(p.root);
    assert_true(json_is_true(json_object_get(j, "is_ca")));
    assert_true(json_is_true(json_object_get(j, "self_issued")));
    json_decref(j);
    char dg[16];
    hilt_cert_sig_digest(p.leaf, dg, sizeof(dg));
    assert_string_equal(dg, "sha256");
    free_pki(&p);
}

static void weak_digest_and_key_usage(void **st)
{
    (void)st;
    EVP_PKEY *k = gen("ec-p256");
    struct hilt_cert_spec s;
    hilt_cert_spec_init(&s, "CN=old", 10);
    s.digest = "sha1";
    s.ext_key_usage = HILT_EKU_CLIENT;
    X509 *x = hilt_mint(&s, k, NULL, NULL);
    assert_non_null(x);
    char dg[16];
    hilt_cert_sig_digest(x, dg, sizeof(dg));
    assert_string_equal(dg, "sha1");
    json_t *j = hilt_cert_summary(x);
    assert_int_equal(json_array_size(json_object_get(j, "ext_key_usage")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "ext_key_usage"), 0)),
                        "clientAuth");
    json_decref(j);
    X509_free(x);
    s.digest = "nope";
    struct hilt_err e = {0};
    assert_null(hilt_mint(&s, k, NULL, &e));
    assert_non_null(strstr(e.msg, "nope"));
    s.digest = "sha256";
    const char *bad_sans[] = {"IP:not-an-ip"};
    s.sans = bad_sans;
    s.nsans = 1;
    assert_null(hilt_mint(&s, k, NULL, &e));
    assert_non_null(strstr(e.msg, "not-an-ip"));
    EVP_PKEY_free(k);
}

static void pem_errors_name_the_line(void **st)
{
    (void)st;
    struct hilt_err e = {0};
    const char *bad =
        "# comment\n-----BEGIN CERTIFICATE-----\nMIIB!!!notbase64\n-----END CERTIFICATE-----\n";
    assert_null(hilt_certs_parse(bad, strlen(bad), "ca.pem", &e));
    assert_non_null(strstr(e.msg, "ca.pem:"));
    assert_int_equal(hilt_err_exit_code(&e), 2);
    const char *noend = "-----BEGIN CERTIFICATE-----\nAAAA\n";
    assert_null(hilt_certs_parse(noend, strlen(noend), "x.pem", &e));
    assert_non_null(strstr(e.msg, "x.pem:1: PEM block 'CERTIFICATE' has no END line"));
    const char *mismatch = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END KEY-----\n";
    assert_null(hilt_certs_parse(mismatch, strlen(mismatch), "x.pem", &e));
    assert_non_null(strstr(e.msg, "x.pem:3"));
    const char *notcert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert_null(hilt_certs_parse(notcert, strlen(notcert), "x.pem", &e));
    assert_non_null(strstr(e.msg, "x.pem:1"));
    assert_null(hilt_certs_parse("garbage", 7, "g.bin", &e));
    assert_non_null(strstr(e.msg, "neither PEM"));
    assert_null(hilt_certs_parse("", 0, "empty.pem", &e));
    const char *nocert = "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n";
    assert_null(hilt_certs_parse(nocert, strlen(nocert), "foo.pem", &e));
    assert_non_null(strstr(e.msg, "no CERTIFICATE"));
}

static void pem_round_trip(void **st)
{
    (void)st;
    struct pki p;
    make_pki(&p, -1, 30);
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 20);
    X509 *certs[] = {p.leaf, p.inter};
    assert_int_equal(hilt_certs_to_pem(&b, certs, 2), 0);
    STACK_OF(X509) *sk = hilt_certs_parse(b.data, b.len, "chain.pem", NULL);
    assert_non_null(sk);
    assert_int_equal(sk_X509_num(sk), 2);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 0), p.leaf), 0);
    sk_X509_pop_free(sk, X509_free);
    /* DER input */
    unsigned char *der = NULL;
    int n = i2d_X509(p.leaf, &der);
    sk = hilt_certs_parse(der, (size_t)n, "leaf.der", NULL);
    assert_non_null(sk);
    assert_int_equal(sk_X509_num(sk), 1);
    sk_X509_pop_free(sk, X509_free);
    OPENSSL_free(der);
    /* keys */
    hilt_buf_reset(&b);
    assert_int_equal(hilt_key_to_pem(p.leaf_key, &b, NULL), 0);
    EVP_PKEY *k = hilt_key_parse(b.data, b.len, "k.pem", NULL);
    assert_non_null(k);
    assert_int_equal(EVP_PKEY_eq(k, p.leaf_key), 1);
    EVP_PKEY_free(k);
    struct hilt_err e = {0};
    /* not a key: an encrypted-key PEM envelope around 3 bytes, made here so no key
     * block stands in the source */
    char enc[160];
    snprintf(enc, sizeof(enc), "-----BEGIN %s-----\nAAAA\n-----END %s-----\n",
             "ENCRYPTED PRIVATE KEY", "ENCRYPTED PRIVATE KEY");
    assert_null(hilt_key_parse(enc, strlen(enc), "enc.pem", &e));
    assert_non_null(strstr(e.msg, "encrypted"));
    hilt_buf_free(&b);
    free_pki(&p);
}

static void verify_reports_all_issues(void **st)
{
    (void)st;
    struct pki p;
    make_pki(&p, -30, -1); /* expired yesterday */
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, p.root);
    STACK_OF(X509) *chain = sk_X509_new_null();
    sk_X509_push(chain, p.leaf);
    sk_X509_push(chain, p.inter);
    struct hilt_verify v;
    assert_int_equal(hilt_verify_chain(store, chain, NULL, hilt_now(), 2, 0, &v, NULL), 0);
    assert_false(v.ok);
    assert_non_null(hilt_verify_has(&v, X509_V_ERR_CERT_HAS_EXPIRED));
    hilt_verify_free(&v);
    /* As of 10 days ago the same chain is fine. */
    assert_int_equal(hilt_verify_chain(store, chain, NULL, hilt_now() - 10 * 86400, 2, 0, &v, NULL),
                     0);
    assert_true(v.ok);
    assert_int_equal(sk_X509_num(v.chain), 3);
    hilt_verify_free(&v);
    /* Without the intermediate the issuer cannot be found... */
    sk_X509_pop(chain);
    assert_int_equal(hilt_verify_chain(store, chain, NULL, hilt_now() - 10 * 86400, 2, 0, &v, NULL),
                     0);
    assert_false(v.ok);
    assert_non_null(hilt_verify_has(&v, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY));
    hilt_verify_free(&v);
    /* ...and supplying it as an extra intermediate completes the chain. */
    STACK_OF(X509) *extra = sk_X509_new_null();
    sk_X509_push(extra, p.inter);
    assert_int_equal(
        hilt_verify_chain(store, chain, extra, hilt_now() - 10 * 86400, 2, 0, &v, NULL), 0);
    assert_true(v.ok);
    hilt_verify_free(&v);
    sk_X509_free(extra);
    sk_X509_free(chain);
    X509_STORE_free(store);
    free_pki(&p);
}

static void store_from_file_errors(void **st)
{
    (void)st;
    struct hilt_err e = {0};
    assert_null(hilt_store_new("/nonexistent/ca.pem", &e));
    assert_int_equal(hilt_err_exit_code(&e), 2);
    assert_non_null(strstr(e.msg, "/nonexistent/ca.pem"));
    X509_STORE *s = hilt_store_new(NULL, &e);
    assert_non_null(s);
    X509_STORE_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keyspecs),
        cmocka_unit_test(mint_and_summarise),
        cmocka_unit_test(weak_digest_and_key_usage),
        cmocka_unit_test(pem_errors_name_the_line),
        cmocka_unit_test(pem_round_trip),
        cmocka_unit_test(verify_reports_all_issues),
        cmocka_unit_test(store_from_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
