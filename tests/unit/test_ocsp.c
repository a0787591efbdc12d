/* test_ocsp.c - the OCSP responder primitive (x509/ocsp.h): requests parsed
 * from DER and from the GET form, responses that OpenSSL's own client side
 * (OCSP_basic_verify, OCSP_resp_find_status, OCSP_check_nonce) accepts, for
 * good / revoked / unknown, signed by the CA or a delegated responder, and
 * rejection of malformed input. */
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
#include "x509/ocsp.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

struct pki {
    EVP_PKEY *root_key, *ca_key, *leaf_key, *resp_key;
    X509 *root, *ca, *leaf, *resp;
};

static EVP_PKEY *gen(void)
{
    struct hilt_keyspec ks = {HILT_KEY_EC, 256};
    EVP_PKEY *k = hilt_key_generate(&ks, NULL);
    assert_non_null(k);
    return k;
}

static int setup(void **st)
{
    struct pki *p = calloc(1, sizeof(*p));
    struct hilt_cert_spec s;
    hilt_clock_set_fixed(time(NULL)); /* so hilt_now() cannot tick between two calls */
    p->root_key = gen();
    hilt_cert_spec_init(&s, "CN=OCSP Test Root", 3650);
    s.is_ca = 1;
    p->root = hilt_mint(&s, p->root_key, NULL, NULL);
    p->ca_key = gen();
    hilt_cert_spec_init(&s, "CN=OCSP Test CA", 1825);
    s.is_ca = 1;
    s.path_len = 0;
    struct hilt_signer rs = {p->root, p->root_key};
    p->ca = hilt_mint(&s, p->ca_key, &rs, NULL);
    struct hilt_signer cs = {p->ca, p->ca_key};
    p->leaf_key = gen();
    hilt_cert_spec_init(&s, "leaf.test", 30);
    p->leaf = hilt_mint(&s, p->leaf_key, &cs, NULL);
    p->resp_key = gen();
    hilt_cert_spec_init(&s, "CN=OCSP Responder", 30);
    s.ext_key_usage = HILT_EKU_OCSP_SIGNING;
    p->resp = hilt_mint(&s, p->resp_key, &cs, NULL);
    assert_non_null(p->root);
    assert_non_null(p->ca);
    assert_non_null(p->leaf);
    assert_non_null(p->resp);
    *st = p;
    return 0;
}

static int teardown(void **st)
{
    struct pki *p = *st;
    X509_free(p->root);
    X509_free(p->ca);
    X509_free(p->leaf);
    X509_free(p->resp);
    EVP_PKEY_free(p->root_key);
    EVP_PKEY_free(p->ca_key);
    EVP_PKEY_free(p->leaf_key);
    EVP_PKEY_free(p->resp_key);
    free(p);
    hilt_clock_set(NULL, NULL);
    return 0;
}

/* A client's request for `cert`, DER-encoded into out, as `openssl ocsp` builds it. */
static void make_request(X509 *cert, X509 *issuer, int nonce, const EVP_MD *md,
                         struct hilt_buf *out)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    OCSP_CERTID *id = OCSP_cert_to_id(md, cert, issuer);
    assert_non_null(id);
    assert_non_null(OCSP_request_add0_id(req, id));
    if (nonce) assert_int_equal(OCSP_request_add1_nonce(req, NULL, -1), 1);
    unsigned char *der = NULL;
    int len = i2d_OCSP_REQUEST(req, &der);
    assert_true(len > 0);
    hilt_buf_init(out, 1 << 16);
    assert_int_equal(hilt_buf_add(out, der, (size_t)len), 0);
    OPENSSL_free(der);
    OCSP_REQUEST_free(req);
}

/* Decode and verify a response as a client would; returns the cert status.
 * `md` is the CertID hash the request used (NULL: SHA-1, OpenSSL's default). */
static int client_check_md(struct pki *p, const struct hilt_buf *der, const struct hilt_buf *reqder,
                           X509 *cert, const EVP_MD *md, int *reason, time_t *revtime,
                           time_t *produced)
{
    const unsigned char *q = der->data;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &q, (long)der->len);
    assert_non_null(resp);
    assert_int_equal(OCSP_response_status(resp), OCSP_RESPONSE_STATUS_SUCCESSFUL);
    OCSP_BASICRESP *bs = OCSP_response_get1_basic(resp);
    assert_non_null(bs);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, p->root);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    sk_X509_push(untrusted, p->ca);
    assert_int_equal(OCSP_basic_verify(bs, untrusted, store, 0), 1);

    q = reqder->data;
    OCSP_REQUEST *req = d2i_OCSP_REQUEST(NULL, &q, (long)reqder->len);
    assert_non_null(req);
    int nonce = OCSP_check_nonce(req, bs);
    /* 1: both carry the same nonce; 2: neither has one. Never 0 (mismatch),
     * -1 (the request's nonce was not echoed) or 3 (a nonce nobody asked for). */
    assert_true(nonce == 1 || nonce == 2);

    OCSP_CERTID *id = OCSP_cert_to_id(md, cert, p->ca);
    int status = -1, rsn = -1;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
    assert_int_equal(OCSP_resp_find_status(bs, id, &status, &rsn, &rev, &thisupd, &nextupd), 1);
    assert_int_equal(OCSP_check_validity(thisupd, nextupd, 300, -1), 1);
    if (reason) *reason = rsn;
    if (revtime) {
        struct tm tm;
        *revtime = rev && ASN1_TIME_to_tm(rev, &tm) ? timegm(&tm) : 0;
    }
    if (produced) {
        struct tm tm;
        assert_int_equal(ASN1_TIME_to_tm(OCSP_resp_get0_produced_at(bs), &tm), 1);
        *produced = timegm(&tm);
    }
    OCSP_CERTID_free(id);
    OCSP_REQUEST_free(req);
    sk_X509_free(untrusted);
    X509_STORE_free(store);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    return status;
}

static int client_check(struct pki *p, const struct hilt_buf *der, const struct hilt_buf *reqder,
                        X509 *cert, int *reason, time_t *revtime, time_t *produced)
{
    return client_check_md(p, der, reqder, cert, NULL, reason, revtime, produced);
}

static int respond(struct pki *p, const struct hilt_buf *reqder, enum hilt_ocsp_status st,
                   int delegated, struct hilt_buf *out)
{
    struct hilt_ocsp_req r;
    struct hilt_err e = {0};
    assert_int_equal(hilt_ocsp_req_parse(reqder->data, reqder->len, &r, &e), 0);
    assert_int_equal(r.n, 1);
    time_t now = hilt_now();
    struct hilt_ocsp_single s = {
        .id = hilt_ocsp_req_id(&r, 0),
        .status = st,
        .revoked_at = now - 86400,
        .reason = OCSP_REVOKED_STATUS_KEYCOMPROMISE,
        .this_update = now - 60,
        .next_update = now + 3600,
    };
    struct hilt_ocsp_signer sg = {p->ca, delegated ? p->resp : NULL,
                                  delegated ? p->resp_key : p->ca_key, NULL};
    hilt_buf_init(out, HILT_OCSP_RESP_MAX);
    int rc = hilt_ocsp_resp_build(&s, 1, &sg, &r, now - 30, out, &e);
    hilt_ocsp_req_free(&r);
    return rc;
}

static void good_revoked_unknown_round_trip(void **st)
{
    struct pki *p = *st;
    struct hilt_buf req, resp;
    make_request(p->leaf, p->ca, 1, NULL, &req);

    assert_int_equal(respond(p, &req, HILT_OCSP_GOOD, 0, &resp), 0);
    time_t produced = 0;
    assert_int_equal(client_check(p, &resp, &req, p->leaf, NULL, NULL, &produced),
                     V_OCSP_CERTSTATUS_GOOD);
    assert_int_equal(produced, hilt_now() - 30); /* producedAt follows hilt_now(), not time() */
    hilt_buf_free(&resp);

    assert_int_equal(respond(p, &req, HILT_OCSP_REVOKED, 0, &resp), 0);
    int reason = -1;
    time_t revtime = 0;
    assert_int_equal(client_check(p, &resp, &req, p->leaf, &reason, &revtime, NULL),
                     V_OCSP_CERTSTATUS_REVOKED);
    assert_int_equal(reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
    assert_int_equal(revtime, hilt_now() - 86400);
    hilt_buf_free(&resp);

    assert_int_equal(respond(p, &req, HILT_OCSP_UNKNOWN, 0, &resp), 0);
    assert_int_equal(client_check(p, &resp, &req, p->leaf, NULL, NULL, NULL),
                     V_OCSP_CERTSTATUS_UNKNOWN);
    hilt_buf_free(&resp);
    hilt_buf_free(&req);
}

static void delegated_responder_and_sha256_ids(void **st)
{
    struct pki *p = *st;
    struct hilt_buf req, resp;
    make_request(p->leaf, p->ca, 0, EVP_sha256(), &req);
    assert_int_equal(respond(p, &req, HILT_OCSP_REVOKED, 1, &resp), 0);
    assert_int_equal(client_check_md(p, &resp, &req, p->leaf, EVP_sha256(), NULL, NULL, NULL),
                     V_OCSP_CERTSTATUS_REVOKED);
    hilt_buf_free(&resp);
    hilt_buf_free(&req);

    /* A responder certificate without id-kp-OCSPSigning must not sign. */
    make_request(p->leaf, p->ca, 0, NULL, &req);
    struct hilt_ocsp_req r;
    assert_int_equal(hilt_ocsp_req_parse(req.data, req.len, &r, NULL), 0);
    struct hilt_ocsp_single s = {hilt_ocsp_req_id(&r, 0), HILT_OCSP_GOOD, 0, -1, hilt_now(), 0};
    struct hilt_ocsp_signer bad = {p->ca, p->leaf, p->leaf_key, NULL};
    struct hilt_err e = {0};
    hilt_buf_init(&resp, HILT_OCSP_RESP_MAX);
    assert_int_equal(hilt_ocsp_resp_build(&s, 1, &bad, &r, hilt_now(), &resp, &e), -1);
    assert_non_null(strstr(e.msg, "OCSPSigning"));
    /* Nor may a key that does not belong to the signing certificate. */
    struct hilt_ocsp_signer wrongkey = {p->ca, NULL, p->root_key, NULL};
    assert_int_equal(hilt_ocsp_resp_build(&s, 1, &wrongkey, &r, hilt_now(), &resp, &e), -1);
    /* Nor may a CA answer for another CA's certificates. */
    struct hilt_ocsp_signer other = {p->root, NULL, p->root_key, NULL};
    assert_int_equal(hilt_ocsp_resp_build(&s, 1, &other, &r, hilt_now(), &resp, &e), -1);
    assert_int_equal(resp.len, 0);
    hilt_buf_free(&resp);
    hilt_ocsp_req_free(&r);
    hilt_buf_free(&req);
}

static void id_matching(void **st)
{
    struct pki *p = *st;
    struct hilt_buf req;
    make_request(p->leaf, p->ca, 0, NULL, &req);
    struct hilt_ocsp_req r;
    assert_int_equal(hilt_ocsp_req_parse(req.data, req.len, &r, NULL), 0);
    OCSP_CERTID *id = hilt_ocsp_req_id(&r, 0);
    assert_non_null(id);
    assert_null(hilt_ocsp_req_id(&r, 1));
    assert_int_equal(hilt_ocsp_id_issued_by(id, p->ca), 1);
    assert_int_equal(hilt_ocsp_id_issued_by(id, p->root), 0);
    assert_int_equal(hilt_ocsp_id_serial_is(id, p->leaf), 1);
    assert_int_equal(hilt_ocsp_id_serial_is(id, p->resp), 0);
    char hex[64], want[64];
    hilt_ocsp_id_serial_hex(id, hex, sizeof(hex));
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(p->leaf), NULL);
    char *h = BN_bn2hex(bn);
    for (size_t i = 0; i <= strlen(h); i++)
        want[i] = (char)((h[i] >= 'A' && h[i] <= 'F') ? h[i] - 'A' + 'a' : h[i]);
    assert_string_equal(hex, want);
    OPENSSL_free(h);
    BN_free(bn);
    hilt_ocsp_req_free(&r);
    hilt_buf_free(&req);
}

static void get_form(void **st)
{
    struct pki *p = *st;
    struct hilt_buf req;
    make_request(p->leaf, p->ca, 1, NULL, &req);
    /* base64, then percent-encode '+', '/' and '=' as RFC 6960 A.1 asks. */
    int b64len = 4 * (((int)req.len + 2) / 3);
    unsigned char *b64 = malloc((size_t)b64len + 1);
    assert_int_equal(EVP_EncodeBlock(b64, req.data, (int)req.len), b64len);
    struct hilt_buf enc, url;
    hilt_buf_init(&enc, 1 << 16);
    hilt_buf_init(&url, 1 << 16);
    for (int i = 0; i < b64len; i++) {
        unsigned char c = b64[i];
        if (c == '+' || c == '/' || c == '=')
            hilt_buf_addf(&enc, "%%%02X", c);
        else
            hilt_buf_add_u8(&enc, c);
        /* and the URL-safe alphabet without padding */
        if (c == '+')
            hilt_buf_add_u8(&url, '-');
        else if (c == '/')
            hilt_buf_add_u8(&url, '_');
        else if (c != '=')
            hilt_buf_add_u8(&url, c);
    }
    struct hilt_ocsp_req r;
    struct hilt_err e = {0};
    assert_int_equal(hilt_ocsp_req_parse_get((char *)enc.data, enc.len, &r, &e), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.has_nonce, 1);
    assert_int_equal(hilt_ocsp_id_serial_is(hilt_ocsp_req_id(&r, 0), p->leaf), 1);
    hilt_ocsp_req_free(&r);
    assert_int_equal(hilt_ocsp_req_parse_get((char *)url.data, url.len, &r, &e), 0);
    assert_int_equal(hilt_ocsp_id_serial_is(hilt_ocsp_req_id(&r, 0), p->leaf), 1);
    hilt_ocsp_req_free(&r);
    /* Plain base64 with its padding, unescaped, works too. */
    assert_int_equal(hilt_ocsp_req_parse_get((char *)b64, (size_t)b64len, &r, &e), 0);
    hilt_ocsp_req_free(&r);

    static const char *const bad[] = {"%", "%4", "%zz", "AAA*", "A", "A===", "", "QUJD"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hilt_err_clear(&e);
        assert_int_equal(hilt_ocsp_req_parse_get(bad[i], strlen(bad[i]), &r, &e), -1);
        assert_int_equal(hilt_err_exit_code(&e), 2);
        assert_null(r.req);
    }
    free(b64);
    hilt_buf_free(&enc);
    hilt_buf_free(&url);
    hilt_buf_free(&req);
}

static void malformed_requests(void **st)
{
    struct pki *p = *st;
    struct hilt_ocsp_req r;
    struct hilt_err e = {0};
    assert_int_equal(hilt_ocsp_req_parse("", 0, &r, &e), -1);
    assert_int_equal(hilt_err_exit_code(&e), 2);
    assert_int_equal(hilt_ocsp_req_parse("\x30\x03\x02\x01\x01", 5, &r, &e), -1);
    assert_non_null(strstr(e.msg, "not a DER"));

    struct hilt_buf req;
    make_request(p->leaf, p->ca, 0, NULL, &req);
    /* truncated */
    assert_int_equal(hilt_ocsp_req_parse(req.data, req.len - 1, &r, &e), -1);
    /* trailing garbage */
    hilt_buf_add_u8(&req, 0);
    assert_int_equal(hilt_ocsp_req_parse(req.data, req.len, &r, &e), -1);
    assert_non_null(strstr(e.msg, "trailing"));
    hilt_buf_free(&req);

    /* over the size limit, even if it would parse */
    static uint8_t big[HILT_OCSP_REQ_MAX + 1];
    assert_int_equal(hilt_ocsp_req_parse(big, sizeof(big), &r, &e), -1);
    assert_non_null(strstr(e.msg, "limit"));

    /* zero CertIDs */
    OCSP_REQUEST *empty = OCSP_REQUEST_new();
    unsigned char *der = NULL;
    int len = i2d_OCSP_REQUEST(empty, &der);
    assert_true(len > 0);
    assert_int_equal(hilt_ocsp_req_parse(der, (size_t)len, &r, &e), -1);
    assert_non_null(strstr(e.msg, "lists 0"));
    OPENSSL_free(der);
    OCSP_REQUEST_free(empty);
    hilt_ocsp_req_free(&r); /* safe on a failed parse */
}

static void error_responses(void **st)
{
    (void)st;
    static const int codes[] = {OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
                                OCSP_RESPONSE_STATUS_INTERNALERROR, OCSP_RESPONSE_STATUS_TRYLATER,
                                OCSP_RESPONSE_STATUS_SIGREQUIRED,
                                OCSP_RESPONSE_STATUS_UNAUTHORIZED};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        struct hilt_buf b;
        hilt_buf_init(&b, 64);
        assert_int_equal(hilt_ocsp_resp_error(codes[i], &b, NULL), 0);
        const unsigned char *q = b.data;
        OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &q, (long)b.len);
        assert_non_null(resp);
        assert_int_equal(OCSP_response_status(resp), codes[i]);
        assert_null(OCSP_response_get1_basic(resp));
        ERR_clear_error();
        OCSP_RESPONSE_free(resp);
        hilt_buf_free(&b);
    }
    assert_string_equal(hilt_ocsp_resp_status_name(OCSP_RESPONSE_STATUS_UNAUTHORIZED),
                        "unauthorized");
    struct hilt_buf b;
    hilt_buf_init(&b, 64);
    assert_int_equal(hilt_ocsp_resp_error(OCSP_RESPONSE_STATUS_SUCCESSFUL, &b, NULL), -1);
    assert_int_equal(hilt_ocsp_resp_error(4, &b, NULL), -1);
    assert_int_equal(b.len, 0);
    hilt_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_revoked_unknown_round_trip),
        cmocka_unit_test(delegated_responder_and_sha256_ids),
        cmocka_unit_test(id_matching),
        cmocka_unit_test(get_form),
        cmocka_unit_test(malformed_requests),
        cmocka_unit_test(error_responses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
