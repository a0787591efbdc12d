/* test_ocsp_serve.c - the OCSP responder core (ca/ocsp_responder.h): every
 * certificate's response is signed at load and then served without a
 * signature; the pre-signed DER parses and verifies like one OpenSSL builds,
 * for good and revoked (with reason) certificates; unknown serials, SHA-256
 * CertIDs and nonces are signed on demand, within the rate limit (tryLater
 * beyond it); another CA's CertID is unauthorized, junk is malformed;
 * polling picks up new certificates and revocations; refresh re-signs
 * responses past half their validity. Runs with a file signer and with the
 * signer process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ca/ca.h"
#include "ca/ocsp_responder.h"
#include "ca/signer.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "store/store.h"
#include "x509/key.h"
#include "x509/mint.h"
#include "x509/ocsp.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct env {
    char home[256], url[512];
    struct hilt_store *st;
    struct hilt_ca *ca;
    X509 *good, *bad;
    int process;
};

static int setup_common(void **state, int process)
{
    struct env *v = calloc(1, sizeof(*v));
    v->process = process;
    snprintf(v->home, sizeof(v->home), "/tmp/hilt-ocsp-test.XXXXXX");
    if (!mkdtemp(v->home)) return -1;
    snprintf(v->url, sizeof(v->url), "%s/hilt.db", v->home);
    struct hilt_err e = {0};
    v->st = hilt_store_open(v->url, &e);
    struct hilt_ca_init_opts o = {.allow_domains = "example.test",
                                  .ocsp_url = "http://127.0.0.1:1/ocsp"};
    if (!v->st || hilt_ca_init(v->st, v->home, &o, &e) < 0) return -1;
    v->ca = hilt_ca_open(v->st, v->home, NULL, &e);
    if (!v->ca) return -1;
    if (process) {
        struct hilt_signer_proc_opts so = {.timeout_ms = 5000};
        if (hilt_ca_use_signer_process(v->ca, &so, &e) < 0) {
            fprintf(stderr, "%s\n", e.msg);
            return -1;
        }
    } else if (hilt_signer_open(v->ca->rec.key_ref, v->home, &v->ca->signer, &e) < 0) {
        return -1;
    }
    const char *n1[] = {"good.example.test"}, *n2[] = {"bad.example.test"};
    struct hilt_issue_req r1 = {.names = n1, .nnames = 1}, r2 = {.names = n2, .nnames = 1};
    struct hilt_issued a = {0}, b = {0};
    if (hilt_ca_issue(v->ca, &r1, &a, &e) < 0 || hilt_ca_issue(v->ca, &r2, &b, &e) < 0) return -1;
    v->good = a.cert;
    v->bad = b.cert;
    a.cert = b.cert = NULL;
    hilt_issued_free(&a);
    hilt_issued_free(&b);
    if (hilt_ca_revoke(v->st, b.serial, 1, &e) < 0) return -1;
    *state = v;
    return 0;
}

static int setup_file(void **state)
{
    return setup_common(state, 0);
}

static int setup_proc(void **state)
{
    return setup_common(state, 1);
}

static int teardown(void **state)
{
    struct env *v = *state;
    X509_free(v->good);
    X509_free(v->bad);
    hilt_ca_close(v->ca);
    hilt_store_close(v->st);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", v->home);
    int rc = system(cmd);
    free(v);
    return rc;
}

static void request(X509 *leaf, X509 *issuer, const EVP_MD *md, int nonce, struct hilt_buf *out)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    OCSP_CERTID *id = OCSP_cert_to_id(md, leaf, issuer);
    assert_non_null(OCSP_request_add0_id(req, id));
    if (nonce) assert_int_equal(OCSP_request_add1_nonce(req, NULL, 16), 1);
    unsigned char *der = NULL;
    int n = i2d_OCSP_REQUEST(req, &der);
    assert_true(n > 0);
    hilt_buf_reset(out);
    assert_int_equal(hilt_buf_add(out, der, (size_t)n), 0);
    OPENSSL_free(der);
    OCSP_REQUEST_free(req);
}

/* Parse, verify against the CA chain, and return the status of `leaf`. */
static int status_of(struct env *v, const struct hilt_buf *resp, X509 *leaf, int *reason,
                     int want_nonce_of_req)
{
    (void)want_nonce_of_req;
    const unsigned char *p = resp->data;
    OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)resp->len);
    assert_non_null(r);
    assert_true(p == resp->data + resp->len);
    assert_int_equal(OCSP_response_status(r), OCSP_RESPONSE_STATUS_SUCCESSFUL);
    OCSP_BASICRESP *bs = OCSP_response_get1_basic(r);
    assert_non_null(bs);
    X509_STORE *store = X509_STORE_new();
    for (int i = 0; i < sk_X509_num(v->ca->roots); i++)
        X509_STORE_add_cert(store, sk_X509_value(v->ca->roots, i));
    int vr = OCSP_basic_verify(bs, v->ca->chain, store, 0);
    if (vr != 1) ERR_print_errors_fp(stderr);
    assert_int_equal(vr, 1);
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, leaf, v->ca->issuer);
    int st = -1, rs = -1;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisu = NULL, *nextu = NULL;
    int found = OCSP_resp_find_status(bs, id, &st, &rs, &rev, &thisu, &nextu);
    if (!found) { /* a SHA-256 CertID */
        OCSP_CERTID_free(id);
        id = OCSP_cert_to_id(EVP_sha256(), leaf, v->ca->issuer);
        found = OCSP_resp_find_status(bs, id, &st, &rs, &rev, &thisu, &nextu);
    }
    assert_true(found);
    assert_int_equal(OCSP_check_validity(thisu, nextu, 4000, -1), 1); /* clock moved by the test */
    if (reason) *reason = rs;
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(r);
    X509_STORE_free(store);
    return st;
}

static void presigned_answers(void **state)
{
    struct env *v = *state;
    struct hilt_err e = {0};
    struct hilt_ocsp_responder_opts o = {.validity = 3600, .on_demand_rate = 5};
    struct hilt_ocsp_responder *r = hilt_ocsp_responder_new(v->ca, &o, &e);
    assert_non_null(r);
    int64_t now = hilt_now();
    assert_int_equal(hilt_ocsp_responder_load(r, now, &e), 0);
    struct hilt_ocsp_stats s;
    hilt_ocsp_responder_stats(r, &s);
    assert_int_equal(s.certs, 2);
    assert_int_equal(s.signatures, 2);
    struct hilt_buf req, resp;
    hilt_buf_init(&req, 65536);
    hilt_buf_init(&resp, HILT_OCSP_RESP_MAX);
    struct hilt_ocsp_answer a;
    int reason;
    /* good, revoked: from the table, no signature */
    request(v->good, v->ca->issuer, NULL, 0, &req);
    assert_int_equal(hilt_ocsp_responder_answer(r, req.data, req.len, NULL, 0, now, &resp, &a), 0);
    assert_true(a.presigned);
    assert_int_equal(status_of(v, &resp, v->good, NULL, 0), V_OCSP_CERTSTATUS_GOOD);
    request(v->bad, v->ca->issuer, NULL, 0, &req);
    assert_int_equal(hilt_ocsp_responder_answer(r, req.data, req.len, NULL, 0, now, &resp, &a), 0);
    assert_true(a.presigned);
    assert_int_equal(status_of(v, &resp, v->bad, &reason, 0), V_OCSP_CERTSTATUS_REVOKED);
    assert_int_equal(reason, 1); /* keyCompromise */
    /* a thousand answers cost no signature */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(hilt_ocsp_responder_answer(r, req.data, req.len, NULL, 0, now, &resp, &a),
                         0);
    hilt_ocsp_responder_stats(r, &s);
    assert_int_equal(s.signatures, 2);
    assert_int_equal(s.presigned_answers, 1002);
    /* the GET form (RFC 6960 A.1): percent-encoded base64 */
    request(v->good, v->ca->issuer, NULL, 0, &req);
    unsigned char b64[4096];
    int bl = EVP_EncodeBlock(b64, req.data, (int)req.len);
    char enc[8192];
    size_t el = 0;
    for (int i = 0; i < bl; i++)
        el += (size_t)(b64[i] == '+' || b64[i] == '/' || b64[i] == '='
                           ? snprintf(enc + el, sizeof(enc) - el, "%%%02X", b64[i])
                           : snprintf(enc + el, sizeof(enc) - el, "%c", b64[i]));
    assert_int_equal(hilt_ocsp_responder_answer(r, NULL, 0, enc, el, now, &resp, &a), 0);
    assert_true(a.presigned);
    assert_int_equal(status_of(v, &resp, v->good, NULL, 0), V_OCSP_CERTSTATUS_GOOD);
    /* a SHA-256 CertID, a nonce: signed now */
    request(v->good, v->ca->issuer, EVP_sha256(), 0, &req);
    assert_int_equal(hilt_ocsp_responder_answer(r, req.data, req.len, NULL, 0, now, &resp, &a), 0);
    assert_false(a.presigned);
    assert_int_equal(status_of(v, &resp, v->good, NULL, 0), V_OCSP_CERTSTATUS_GOOD);
    /* an unknown serial of this CA */
    X509 *stranger = X509_dup(v->good);
    ASN1_INTEGER *sn = ASN1_INTEGER_new();
    ASN1_INTEGER_set_int64(sn, 0x480000000099LL);
    X509_set_serialNumber(stranger, sn);
    ASN1_INTEGER_free(sn);
    request(stranger, v->ca->issuer, NULL, 0, &req);
    assert_int_equal(hilt_ocsp_responder_answer(r, req.data, req.len, NULL, 0, now, &resp, &a), 0);
    assert_int_equal(status_of(v, &resp, stranger, NULL, 0), V_OCSP_CERTSTATUS_UNKNOWN);
    X509_free(stranger);
    /* beyond the on-demand rate: tryLater, unsigned */
    int later = 0;
    for (int i = 0; i < 20; i++) {
        request(v->good, v->ca->issuer, EVP_sha256(), 1, &req);
        assert_int_equal(hilt_ocsp_responder_answer(r, req.data, req.len, NULL, 0, now, &resp, &a),
                         0);
        later += a.ocsp_status == OCSP_RESPONSE_STATUS_TRYLATER;
    }
    assert_true(later >= 15);
    /* junk, and another CA's certificate */
    const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    assert_int_equal(hilt_ocsp_responder_answer(r, junk, sizeof(junk), NULL, 0, now, &resp, &a), 0);
    assert_int_equal(a.ocsp_status, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
    struct hilt_keyspec ks = {HILT_KEY_EC, 256};
    EVP_PKEY *ok = hilt_key_generate(&ks, NULL);
    struct hilt_cert_spec sp;
    hilt_cert_spec_init(&sp, "CN=other", 10);
    sp.is_ca = 1;
    X509 *other = hilt_mint(&sp, ok, NULL, NULL);
    request(v->good, other, NULL, 0, &req);
    assert_int_equal(hilt_ocsp_responder_answer(r, req.data, req.len, NULL, 0, now, &resp, &a), 0);
    assert_int_equal(a.ocsp_status, OCSP_RESPONSE_STATUS_UNAUTHORIZED);
    X509_free(other);
    EVP_PKEY_free(ok);
    hilt_buf_free(&req);
    hilt_buf_free(&resp);
    hilt_ocsp_responder_free(r);
}

static void poll_and_refresh(void **state)
{
    struct env *v = *state;
    struct hilt_err e = {0};
    struct hilt_ocsp_responder_opts o = {.validity = 3600, .poll_interval = 1};
    struct hilt_ocsp_responder *r = hilt_ocsp_responder_new(v->ca, &o, &e);
    int64_t now = hilt_now();
    assert_int_equal(hilt_ocsp_responder_load(r, now, &e), 0);
    /* a new certificate and a revocation, by "another process" */
    const char *n3[] = {"new.example.test"};
    struct hilt_issue_req r3 = {.names = n3, .nnames = 1};
    struct hilt_issued c = {0};
    assert_int_equal(hilt_ca_issue(v->ca, &r3, &c, &e), 0);
    char gs[64];
    ASN1_INTEGER *gi = X509_get_serialNumber(v->good);
    BIGNUM *bn = ASN1_INTEGER_to_BN(gi, NULL);
    char *hx = BN_bn2hex(bn);
    snprintf(gs, sizeof(gs), "%s", hx);
    OPENSSL_free(hx);
    BN_free(bn);
    assert_int_equal(hilt_ca_revoke(v->st, gs, 4, &e), 0);
    assert_int_equal(hilt_ocsp_responder_poll(r, now + 2, &e), 0);
    assert_int_equal(hilt_ocsp_responder_refresh(r, now + 2, SIZE_MAX, &e), 2);
    struct hilt_buf req, resp;
    hilt_buf_init(&req, 65536);
    hilt_buf_init(&resp, HILT_OCSP_RESP_MAX);
    struct hilt_ocsp_answer a;
    int reason;
    request(v->good, v->ca->issuer, NULL, 0, &req);
    assert_int_equal(hilt_ocsp_responder_answer(r, req.data, req.len, NULL, 0, now + 2, &resp, &a),
                     0);
    assert_true(a.presigned);
    assert_int_equal(status_of(v, &resp, v->good, &reason, 0), V_OCSP_CERTSTATUS_REVOKED);
    assert_int_equal(reason, 4); /* superseded */
    request(c.cert, v->ca->issuer, NULL, 0, &req);
    assert_int_equal(hilt_ocsp_responder_answer(r, req.data, req.len, NULL, 0, now + 2, &resp, &a),
                     0);
    assert_true(a.presigned);
    assert_int_equal(status_of(v, &resp, c.cert, NULL, 0), V_OCSP_CERTSTATUS_GOOD);
    /* nothing due until half the validity has passed; then all of them */
    assert_int_equal(hilt_ocsp_responder_refresh(r, now + 1000, SIZE_MAX, &e), 0);
    assert_int_equal(hilt_ocsp_responder_refresh(r, now + 1900, SIZE_MAX, &e), 3);
    /* a certificate issued after the last poll is found in the store on demand */
    const char *n4[] = {"later.example.test"};
    struct hilt_issue_req r4 = {.names = n4, .nnames = 1};
    struct hilt_issued d = {0};
    assert_int_equal(hilt_ca_issue(v->ca, &r4, &d, &e), 0);
    request(d.cert, v->ca->issuer, NULL, 0, &req);
    assert_int_equal(
        hilt_ocsp_responder_answer(r, req.data, req.len, NULL, 0, now + 1900, &resp, &a), 0);
    assert_int_equal(status_of(v, &resp, d.cert, NULL, 0), V_OCSP_CERTSTATUS_GOOD);
    hilt_issued_free(&c);
    hilt_issued_free(&d);
    hilt_buf_free(&req);
    hilt_buf_free(&resp);
    hilt_ocsp_responder_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(presigned_answers, setup_file, teardown),
        cmocka_unit_test_setup_teardown(poll_and_refresh, setup_file, teardown),
        cmocka_unit_test_setup_teardown(presigned_answers, setup_proc, teardown),
        cmocka_unit_test_setup_teardown(poll_and_refresh, setup_proc, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
