/* test_jws.c - JWS/JWK for ACME: RFC 7638's thumbprint vector, sign/parse/verify round
 * trips for every accepted algorithm, and each way a request can be malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/jws.h"
#include "core/err.h"
#include "x509/key.h"

#include <stdlib.h>
#include <string.h>

static void b64url(void **st)
{
    (void)st;
    const unsigned char in[] = {0xfb, 0xff, 0x00, 'a'};
    for (size_t n = 0; n <= 4; n++) {
        char *s = hilt_b64url_encode(in, n);
        assert_null(strchr(s, '='));
        unsigned char *out;
        size_t ol;
        assert_int_equal(hilt_b64url_decode(s, strlen(s), &out, &ol), 0);
        assert_int_equal(ol, n);
        assert_memory_equal(out, in, n);
        free(out);
        free(s);
    }
    unsigned char *out;
    size_t ol;
    assert_int_equal(hilt_b64url_decode("+/==", 4, &out, &ol), -1); /* base64, not base64url */
    assert_int_equal(hilt_b64url_decode("AAA=", 4, &out, &ol), -1); /* padding */
    assert_int_equal(hilt_b64url_decode("A", 1, &out, &ol), -1);    /* impossible length */
    assert_int_equal(hilt_b64url_decode("AB", 2, &out, &ol), -1);   /* non-canonical tail bits */
}

static void rfc7638_thumbprint(void **st)
{
    (void)st;
    json_t *jwk = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "e", "AQAB", "alg", "RS256", "kid", "2011-04-29",
                            "n", "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw");
    char tp[64];
    assert_int_equal(hilt_jwk_thumbprint(jwk, tp, NULL), 0);
    assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    EVP_PKEY *k = hilt_jwk_to_pkey(jwk, NULL);
    assert_non_null(k);
    assert_int_equal(EVP_PKEY_get_bits(k), 2048);
    EVP_PKEY_free(k);
    json_decref(jwk);
}

static EVP_PKEY *gen(const char *t)
{
    struct hilt_keyspec ks;
    assert_int_equal(hilt_keyspec_parse(t, &ks, NULL), 0);
    return hilt_key_generate(&ks, NULL);
}

static void round_trips(void **st)
{
    (void)st;
    const char *types[] = {"ec-p256", "ec-p384", "rsa-2048", "ed25519"};
    const char *algs[] = {"ES256", "ES384", "RS256", "EdDSA"};
    for (size_t i = 0; i < 4; i++) {
        EVP_PKEY *k = gen(types[i]), *other = gen(types[i]);
        struct hilt_err e = {0};
        /* jwk form (newAccount) */
        char *body = hilt_jws_sign(k, NULL, "nonce-1", "https://127.0.0.1/acme/new-account", "{\"termsOfServiceAgreed\":true}", &e);
        assert_non_null(body);
        struct hilt_jws j;
        assert_int_equal(hilt_jws_parse(body, strlen(body), &j, &e), 0);
        assert_string_equal(j.alg, algs[i]);
        assert_string_equal(j.nonce, "nonce-1");
        assert_string_equal(j.url, "https://127.0.0.1/acme/new-account");
        assert_non_null(j.jwk);
        assert_false(j.post_as_get);
        assert_string_equal((char *)j.payload, "{\"termsOfServiceAgreed\":true}");
        EVP_PKEY *hk = hilt_jwk_to_pkey(j.jwk, &e);
        assert_non_null(hk);
        assert_int_equal(EVP_PKEY_eq(hk, k), 1);
        assert_int_equal(hilt_jws_verify(&j, hk, &e), 0);
        assert_int_equal(hilt_jws_verify(&j, other, &e), -1); /* someone else's key */
        char tp1[64], tp2[64];
        json_t *own = hilt_pkey_to_jwk(k);
        assert_int_equal(hilt_jwk_thumbprint(j.jwk, tp1, NULL), 0);
        assert_int_equal(hilt_jwk_thumbprint(own, tp2, NULL), 0);
        assert_string_equal(tp1, tp2);
        json_decref(own);
        EVP_PKEY_free(hk);
        hilt_jws_free(&j);
        free(body);
        /* kid form, POST-as-GET */
        body = hilt_jws_sign(k, "https://127.0.0.1/acme/acct/7", "n2", "https://127.0.0.1/acme/order/1", NULL, &e);
        assert_int_equal(hilt_jws_parse(body, strlen(body), &j, &e), 0);
        assert_true(j.post_as_get);
        assert_null(j.jwk);
        assert_string_equal(j.kid, "https://127.0.0.1/acme/acct/7");
        assert_int_equal(hilt_jws_verify(&j, k, &e), 0);
        /* a tampered signing input fails */
        j.signing_input[strlen(j.signing_input) - 1] ^= 1;
        assert_int_equal(hilt_jws_verify(&j, k, &e), -1);
        hilt_jws_free(&j);
        free(body);
        EVP_PKEY_free(k);
        EVP_PKEY_free(other);
    }
}

static char *make(const char *hdr_json, const char *payload)
{
    char *h = hilt_b64url_encode((const unsigned char *)hdr_json, strlen(hdr_json));
    char *p = hilt_b64url_encode((const unsigned char *)payload, strlen(payload));
    char *out = NULL;
    assert_true(asprintf(&out, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"AAAA\"}", h, p) > 0);
    free(h);
    free(p);
    return out;
}

static void bad_requests(void **st)
{
    (void)st;
    struct {
        const char *hdr;
        enum hilt_acme_problem want;
    } cases[] = {
        {"{\"alg\":\"none\",\"nonce\":\"n\",\"url\":\"u\",\"kid\":\"k\"}", HILT_ACME_BAD_SIGNATURE_ALGORITHM},
        {"{\"alg\":\"HS256\",\"nonce\":\"n\",\"url\":\"u\",\"kid\":\"k\"}", HILT_ACME_BAD_SIGNATURE_ALGORITHM},
        {"{\"alg\":\"ES256\",\"url\":\"u\",\"kid\":\"k\"}", HILT_ACME_BAD_NONCE},
        {"{\"alg\":\"ES256\",\"nonce\":\"n\",\"kid\":\"k\"}", HILT_ACME_MALFORMED},
        {"{\"alg\":\"ES256\",\"nonce\":\"n\",\"url\":\"u\"}", HILT_ACME_MALFORMED},
        {"{\"alg\":\"ES256\",\"nonce\":\"n\",\"url\":\"u\",\"kid\":\"k\",\"jwk\":{}}", HILT_ACME_MALFORMED},
        {"{\"alg\":\"ES256\",\"nonce\":\"n\",\"url\":\"u\",\"kid\":\"k\",\"crit\":[\"b64\"]}", HILT_ACME_MALFORMED},
        {"{\"alg\":\"ES256\",\"alg\":\"ES256\",\"nonce\":\"n\",\"url\":\"u\",\"kid\":\"k\"}", HILT_ACME_MALFORMED},
        {"[1,2]", HILT_ACME_MALFORMED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *b = make(cases[i].hdr, "{}");
        struct hilt_jws j;
        struct hilt_err e = {0};
        assert_int_equal(hilt_jws_parse(b, strlen(b), &j, &e), -1);
        if (e.code != (int)cases[i].want) fail_msg("case %zu: got problem %d (%s), want %d", i, e.code, e.msg, cases[i].want);
        assert_int_equal(hilt_err_exit_code(&e), 2);
        free(b);
    }
    const char *bodies[] = {"not json", "{}", "{\"protected\":1,\"payload\":\"\",\"signature\":\"AA\"}",
                            "{\"protected\":\"e30\",\"payload\":\"\",\"signature\":\"AA\",\"header\":{}}",
                            "{\"protected\":\"!!!\",\"payload\":\"\",\"signature\":\"AA\"}"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct hilt_jws j;
        struct hilt_err e = {0};
        assert_int_equal(hilt_jws_parse(bodies[i], strlen(bodies[i]), &j, &e), -1);
        assert_int_equal(e.code, HILT_ACME_MALFORMED);
    }
    char *big = malloc(HILT_JWS_MAX + 2);
    memset(big, ' ', HILT_JWS_MAX + 1);
    big[HILT_JWS_MAX + 1] = '\0';
    struct hilt_jws j;
    struct hilt_err e = {0};
    assert_int_equal(hilt_jws_parse(big, HILT_JWS_MAX + 1, &j, &e), -1);
    free(big);
    /* the key must fit the algorithm */
    EVP_PKEY *ec = gen("ec-p256");
    char *b = hilt_jws_sign(ec, "k", "n", "u", "{}", NULL);
    assert_int_equal(hilt_jws_parse(b, strlen(b), &j, &e), 0);
    EVP_PKEY *rsa = gen("rsa-2048");
    assert_int_equal(hilt_jws_verify(&j, rsa, &e), -1);
    assert_int_equal(e.code, HILT_ACME_BAD_SIGNATURE_ALGORITHM);
    hilt_jws_free(&j);
    free(b);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
    assert_string_equal(hilt_acme_problem_type(HILT_ACME_BAD_NONCE), "urn:ietf:params:acme:error:badNonce");
    assert_int_equal(hilt_acme_problem_status(HILT_ACME_UNAUTHORIZED), 403);
}

static void bad_jwks(void **st)
{
    (void)st;
    struct hilt_err e = {0};
    const char *bad[] = {
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}",
        "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
        "{\"kty\":\"oct\",\"k\":\"AQAB\"}",
        "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"}",
        "{\"crv\":\"P-256\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = json_loads(bad[i], 0, NULL);
        assert_non_null(j);
        assert_null(hilt_jwk_to_pkey(j, &e));
        assert_int_equal(e.code, HILT_ACME_BAD_PUBLIC_KEY);
        json_decref(j);
    }
    EVP_PKEY *k = gen("ec-p256");
    json_t *jwk = hilt_pkey_to_jwk(k);
    json_object_set_new(jwk, "d", json_string("AAAA"));
    assert_null(hilt_jwk_to_pkey(jwk, &e));
    assert_non_null(strstr(e.msg, "private"));
    json_decref(jwk);
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(b64url),     cmocka_unit_test(rfc7638_thumbprint), cmocka_unit_test(round_trips),
        cmocka_unit_test(bad_requests), cmocka_unit_test(bad_jwks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
