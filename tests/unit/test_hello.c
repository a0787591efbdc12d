/* test_hello.c - raw ClientHello building, server flight parsing against a real
 * OpenSSL server (memory BIOs), ClientHello parsing and JA4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "tls/hello.h"
#include "x509/key.h"
#include "x509/mint.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>

/* The published example (Chrome): JA4 t13d1516h2_8daaf6152771_d8a2da3f94cd with raw form
 * t13d1516h2_002f,0035,…_0005,000a,…_0403,0804,… */
static void ja4_matches_published_vector(void **st)
{
    (void)st;
    struct hilt_client_hello ch;
    memset(&ch, 0, sizeof(ch));
    const uint16_t ciphers[] = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
                                0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
    const uint16_t exts[] = {0x002d, 0x0033, 0x0010, 0xfe0d, 0x0017, 0x44cd, 0x0000, 0x000b,
                             0x000a, 0x002b, 0xff01, 0x0023, 0x0012, 0x0005, 0x000d, 0x001b};
    const uint16_t sig[] = {0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601};
    memcpy(ch.ciphers, ciphers, sizeof(ciphers));
    ch.nciphers = 15;
    memcpy(ch.exts, exts, sizeof(exts));
    ch.nexts = 16;
    memcpy(ch.sigalgs, sig, sizeof(sig));
    ch.nsigalgs = 8;
    ch.legacy_version = 0x0303;
    ch.max_version = 0x0304;
    ch.has_sni = 1;
    memcpy(ch.alpn_first, "h2", 2);
    ch.alpn_first_len = 2;
    char ja4[40], raw[2000];
    hilt_ja4(&ch, ja4);
    assert_string_equal(ja4, "t13d1516h2_8daaf6152771_d8a2da3f94cd");
    hilt_ja4_raw(&ch, raw, sizeof(raw));
    assert_string_equal(raw, "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_"
                             "0005,000a,000b,000d,0012,0017,001b,0023,002b,002d,0033,44cd,fe0d,ff01_"
                             "0403,0804,0401,0503,0805,0501,0806,0601");
    /* No SNI, no ALPN, TLS 1.2, a non-alphanumeric ALPN uses hex digits. */
    ch.has_sni = 0;
    ch.max_version = 0x0303;
    ch.alpn_first[0] = 0x01;
    ch.alpn_first[1] = 0xff;
    hilt_ja4(&ch, ja4);
    assert_memory_equal(ja4, "t12i15160f_", 11);
    ch.nciphers = 0;
    ch.nexts = 0;
    ch.alpn_first_len = 0;
    hilt_ja4(&ch, ja4);
    assert_string_equal(ja4, "t12i000000_000000000000_000000000000");
}

static void builder_round_trips_through_parser(void **st)
{
    (void)st;
    const uint16_t ciphers[] = {0x1301, 0xc02b, 0x0005 /* RC4-SHA */, 0x0003 /* EXP-RC4-MD5 */};
    const uint16_t versions[] = {0x0304, 0x0303};
    const uint16_t groups[] = {0x001d, 0x0017, 0x0100};
    const uint16_t sigs[] = {0x0403, 0x0804};
    struct hilt_ch_spec s = {.client_version = 0x0303, .ciphers = ciphers, .nciphers = 4,
                             .versions = versions, .nversions = 2, .groups = groups, .ngroups = 3,
                             .key_shares = groups, .nkey_shares = 3, .sigalgs = sigs, .nsigalgs = 2,
                             .sni = "scan.example", .alpn = "h2,http/1.1",
                             .flags = HILT_CH_GREASE | HILT_CH_SCSV_RENEG | HILT_CH_FALLBACK_SCSV |
                                      HILT_CH_STATUS_REQUEST | HILT_CH_EMS | HILT_CH_SESSION_ID};
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 16);
    assert_int_equal(hilt_client_hello_build(&s, &b, NULL), 0);
    assert_int_equal(b.data[0], 0x16);
    assert_true(b.len >= 512); /* padded past the 256-511 byte range, or larger with ffdhe */
    struct hilt_client_hello ch;
    assert_int_equal(hilt_client_hello_parse(b.data, b.len, 1, &ch), 0);
    assert_true(ch.grease);
    assert_int_equal(ch.max_version, 0x0304);
    assert_int_equal(ch.nciphers, 6); /* 4 + two SCSVs, GREASE removed */
    assert_int_equal(ch.ciphers[2], 0x0005);
    assert_int_equal(ch.ciphers[5], 0x5600);
    assert_string_equal(ch.sni, "scan.example");
    assert_string_equal(ch.alpn, "h2,http/1.1");
    assert_int_equal(ch.ngroups, 3);
    assert_int_equal(ch.nsigalgs, 2);
    char ja4[40];
    hilt_ja4(&ch, ja4);
    assert_memory_equal(ja4, "t13d06", 6);
    assert_memory_equal(ja4 + 8, "h2_", 3);
    /* As a handshake message (no record header). */
    struct hilt_client_hello ch2;
    assert_int_equal(hilt_client_hello_parse(b.data + 5, b.len - 5, 0, &ch2), 0);
    assert_int_equal(ch2.nciphers, 6);
    hilt_buf_free(&b);

    struct hilt_ch_spec bad = {.nciphers = 0};
    hilt_buf_init(&b, 1 << 16);
    assert_int_equal(hilt_client_hello_build(&bad, &b, NULL), -1);
    hilt_buf_free(&b);
}

/* A real OpenSSL server behind memory BIOs. */
struct server {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in, *out;
    EVP_PKEY *key;
    X509 *cert;
};

static void server_start(struct server *sv, int min, int max, const char *ciphers)
{
    struct hilt_keyspec ks = {HILT_KEY_EC, 256};
    sv->key = hilt_key_generate(&ks, NULL);
    struct hilt_cert_spec cs;
    hilt_cert_spec_init(&cs, "CN=hello.test", 30);
    sv->cert = hilt_mint(&cs, sv->key, NULL, NULL);
    sv->ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_security_level(sv->ctx, 0);
    SSL_CTX_set_min_proto_version(sv->ctx, min);
    SSL_CTX_set_max_proto_version(sv->ctx, max);
    if (ciphers) SSL_CTX_set_cipher_list(sv->ctx, ciphers);
    SSL_CTX_use_certificate(sv->ctx, sv->cert);
    SSL_CTX_use_PrivateKey(sv->ctx, sv->key);
    sv->ssl = SSL_new(sv->ctx);
    sv->in = BIO_new(BIO_s_mem());
    sv->out = BIO_new(BIO_s_mem());
    SSL_set_bio(sv->ssl, sv->in, sv->out);
    SSL_set_accept_state(sv->ssl);
}

static size_t server_answer(struct server *sv, const struct hilt_buf *hello, uint8_t *buf, size_t cap)
{
    BIO_write(sv->in, hello->data, (int)hello->len);
    SSL_do_handshake(sv->ssl);
    ERR_clear_error();
    int n = BIO_read(sv->out, buf, (int)cap);
    return n > 0 ? (size_t)n : 0;
}

static void server_stop(struct server *sv)
{
    SSL_free(sv->ssl);
    SSL_CTX_free(sv->ctx);
    X509_free(sv->cert);
    EVP_PKEY_free(sv->key);
}

static void flight_from_real_server(void **st)
{
    (void)st;
    const uint16_t groups[] = {0x001d, 0x0017};
    const uint16_t sigs[] = {0x0403, 0x0804, 0x0401};
    const uint16_t tls12[] = {0xc02b, 0xc02c, 0x009c};
    struct hilt_ch_spec s = {.client_version = 0x0303, .ciphers = tls12, .nciphers = 3, .groups = groups,
                             .ngroups = 2, .sigalgs = sigs, .nsigalgs = 3,
                             .flags = HILT_CH_EC_POINT_FORMATS | HILT_CH_RENEG_INFO | HILT_CH_EMS};
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 16);
    assert_int_equal(hilt_client_hello_build(&s, &b, NULL), 0);
    struct server sv;
    server_start(&sv, TLS1_2_VERSION, TLS1_2_VERSION, NULL);
    uint8_t buf[16384];
    size_t n = server_answer(&sv, &b, buf, sizeof(buf));
    assert_true(n > 100);
    struct hilt_server_flight f = {0};
    /* Byte by byte it is never decisive early, and never crashes. */
    for (size_t k = 1; k < 40; k++) assert_int_equal(hilt_server_flight_parse(buf, k, 1, &f), 0);
    assert_int_equal(hilt_server_flight_parse(buf, n, 1, &f), 1);
    assert_int_equal(f.kind, HILT_FLIGHT_HELLO);
    assert_int_equal(f.version, 0x0303);
    assert_int_equal(f.cipher, 0xc02b); /* OpenSSL servers follow the client order by default */
    assert_true(f.reneg_info);
    assert_true(f.ems);
    assert_int_equal(f.ncerts, 1);
    X509 *got = hilt_server_flight_cert(&f, 0);
    assert_non_null(got);
    assert_int_equal(X509_cmp(got, sv.cert), 0);
    X509_free(got);
    assert_null(hilt_server_flight_cert(&f, 1));
    assert_true(f.have_ske);
    assert_int_equal(f.ske_curve, 0x001d);
    assert_int_equal(f.ske_sigalg, 0x0403); /* ecdsa_secp256r1_sha256, the client's first */
    assert_true(f.done);
    hilt_server_flight_free(&f);
    server_stop(&sv);

    /* TLS 1.3: ServerHello with supported_versions and key_share. */
    const uint16_t tls13[] = {0x1302, 0x1301};
    const uint16_t vers[] = {0x0304};
    struct hilt_ch_spec s13 = {.client_version = 0x0303, .ciphers = tls13, .nciphers = 2, .versions = vers,
                               .nversions = 1, .groups = groups, .ngroups = 2, .key_shares = groups + 1,
                               .nkey_shares = 1, .sigalgs = sigs, .nsigalgs = 3, .alpn = "http/1.1",
                               .flags = HILT_CH_PSK_MODES | HILT_CH_SESSION_ID};
    hilt_buf_reset(&b);
    assert_int_equal(hilt_client_hello_build(&s13, &b, NULL), 0);
    server_start(&sv, TLS1_3_VERSION, TLS1_3_VERSION, NULL);
    n = server_answer(&sv, &b, buf, sizeof(buf));
    assert_int_equal(hilt_server_flight_parse(buf, n, 1, &f), 1);
    assert_int_equal(f.kind, HILT_FLIGHT_HELLO);
    assert_int_equal(f.version, 0x0304);
    assert_int_equal(f.legacy_version, 0x0303);
    assert_false(f.hrr);
    assert_int_equal(f.key_share_group, 0x0017);
    server_stop(&sv);

    /* Offering only x25519 in supported_groups but a P-256 share... then only a group
     * the server must ask for: HelloRetryRequest. */
    s13.groups = groups;
    s13.ngroups = 2;
    s13.key_shares = NULL;
    s13.nkey_shares = 0;
    const uint16_t no_share[] = {0x0017};
    s13.key_shares = no_share;
    s13.nkey_shares = 0; /* an empty key_share list forces HRR */
    hilt_buf_reset(&b);
    assert_int_equal(hilt_client_hello_build(&s13, &b, NULL), 0);
    server_start(&sv, TLS1_3_VERSION, TLS1_3_VERSION, NULL);
    n = server_answer(&sv, &b, buf, sizeof(buf));
    assert_int_equal(hilt_server_flight_parse(buf, n, 1, &f), 1);
    assert_true(f.hrr);
    assert_int_equal(f.key_share_group, 0x001d);
    server_stop(&sv);

    /* No shared cipher: an alert, and its description. */
    const uint16_t rc4[] = {0x0005};
    struct hilt_ch_spec sx = {.client_version = 0x0303, .ciphers = rc4, .nciphers = 1};
    hilt_buf_reset(&b);
    assert_int_equal(hilt_client_hello_build(&sx, &b, NULL), 0);
    server_start(&sv, TLS1_2_VERSION, TLS1_2_VERSION, NULL);
    n = server_answer(&sv, &b, buf, sizeof(buf));
    assert_int_equal(hilt_server_flight_parse(buf, n, 0, &f), 1);
    assert_int_equal(f.kind, HILT_FLIGHT_ALERT);
    assert_int_equal(f.alert_desc, 40);
    server_stop(&sv);
    hilt_buf_free(&b);
}

static void flight_rejects_garbage(void **st)
{
    (void)st;
    struct hilt_server_flight f = {0};
    const char *http = "HTTP/1.1 400 Bad Request\r\n\r\n";
    assert_int_equal(hilt_server_flight_parse((const uint8_t *)http, strlen(http), 0, &f), 1);
    assert_int_equal(f.kind, HILT_FLIGHT_NOT_TLS);
    const uint8_t v2[] = {0x80, 0x2e, 0x04, 0x00, 0x01, 0x00, 0x02};
    assert_int_equal(hilt_server_flight_parse(v2, sizeof(v2), 0, &f), 1);
    assert_int_equal(f.kind, HILT_FLIGHT_SSLV2);
    const uint8_t bad_len[] = {0x16, 0x03, 0x03, 0xff, 0xff};
    assert_int_equal(hilt_server_flight_parse(bad_len, sizeof(bad_len), 0, &f), 1);
    assert_int_equal(f.kind, HILT_FLIGHT_MALFORMED);
    /* A handshake record whose first message is not a ServerHello. */
    const uint8_t notsh[] = {0x16, 0x03, 0x03, 0x00, 0x04, 0x0b, 0x00, 0x00, 0x00};
    assert_int_equal(hilt_server_flight_parse(notsh, sizeof(notsh), 0, &f), 1);
    assert_int_equal(f.kind, HILT_FLIGHT_MALFORMED);
    /* A ServerHello whose session_id claims 200 bytes. */
    uint8_t sh[5 + 4 + 2 + 32 + 1 + 3];
    memset(sh, 0, sizeof(sh));
    sh[0] = 0x16; sh[1] = 3; sh[2] = 3; sh[4] = 4 + 2 + 32 + 1 + 3;
    sh[5] = 2; sh[8] = 2 + 32 + 1 + 3;
    sh[9] = 3; sh[10] = 3; sh[43] = 200;
    assert_int_equal(hilt_server_flight_parse(sh, sizeof(sh), 0, &f), 1);
    assert_int_equal(f.kind, HILT_FLIGHT_MALFORMED);
    struct hilt_client_hello ch;
    assert_int_equal(hilt_client_hello_parse((const uint8_t *)http, strlen(http), 1, &ch), -1);
    assert_int_equal(hilt_client_hello_parse(notsh, sizeof(notsh), 1, &ch), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ja4_matches_published_vector),
        cmocka_unit_test(builder_round_trips_through_parser),
        cmocka_unit_test(flight_from_real_server),
        cmocka_unit_test(flight_rejects_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
