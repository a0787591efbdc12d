/* test_telemetry.c - failure classification table, event JSON lines (escaping,
 * field order), metrics exposition, observed offers (shape hilt policy impact reads). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/json.h"
#include "policy/policy.h"
#include "telemetry/classify.h"
#include "telemetry/event.h"
#include "telemetry/metrics.h"
#include "telemetry/observed.h"
#include "tls/hello.h"

#include <openssl/ssl.h>
#include <string.h>

static const struct hilt_profile *profile(const char *name)
{
    const struct hilt_profile *p = hilt_profile_find(NULL, name, NULL);
    assert_non_null(p);
    return p;
}

static struct hilt_client_hello hello13(void)
{
    struct hilt_client_hello h;
    memset(&h, 0, sizeof(h));
    h.legacy_version = 0x0303;
    h.ciphers[h.nciphers++] = 0x1301;
    h.ciphers[h.nciphers++] = 0xc02f;
    h.versions[h.nversions++] = 0x0304;
    h.versions[h.nversions++] = 0x0303;
    h.groups[h.ngroups++] = 0x001d;
    h.sigalgs[h.nsigalgs++] = 0x0403;
    return h;
}

static void classify_table(void **st)
{
    (void)st;
    struct hilt_client_hello h = hello13();
    const struct hilt_profile *modern = profile("modern"), *inter = profile("intermediate");
    struct hs_facts f = {.alert_sent = -1, .alert_received = -1, .profile = modern, .hello = &h};
    struct {
        unsigned flags;
        unsigned long reason;
        int sent, recv;
        enum hilt_code want;
    } rows[] = {
        {HS_F_TIMEOUT, 0, -1, -1, HILT_C_HANDSHAKE_TIMEOUT},
        {HS_F_SNI_REFUSED, 0, SSL_AD_UNRECOGNIZED_NAME, -1, HILT_C_SNI_REQUIRED},
        {0, SSL_R_TLSV1_ALERT_UNKNOWN_CA, -1, SSL_AD_UNKNOWN_CA, HILT_C_UNTRUSTED_ROOT},
        {0, 0, -1, SSL_AD_CERTIFICATE_EXPIRED, HILT_C_CERT_EXPIRED},
        {0, 0, -1, SSL_AD_BAD_CERTIFICATE, HILT_C_UNTRUSTED_ROOT},
        {HS_F_SNI_NOT_IN_CERT, 0, -1, SSL_AD_BAD_CERTIFICATE, HILT_C_HOSTNAME_MISMATCH},
        {HS_F_OUR_CERT_EXPIRED, 0, -1, SSL_AD_CERTIFICATE_UNKNOWN, HILT_C_CERT_EXPIRED},
        {0, SSL_R_NO_SHARED_CIPHER, SSL_AD_HANDSHAKE_FAILURE, -1, HILT_C_NO_SHARED_CIPHER},
        {0, SSL_R_NO_SUITABLE_KEY_SHARE, SSL_AD_HANDSHAKE_FAILURE, -1, HILT_C_NO_SHARED_GROUP},
        {HS_F_ALPN_REFUSED, SSL_R_NO_APPLICATION_PROTOCOL, SSL_AD_NO_APPLICATION_PROTOCOL, -1,
         HILT_C_ALPN_MISMATCH},
        {HS_F_CERT_REQUESTED, SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE, SSL_AD_CERTIFICATE_REQUIRED,
         -1, HILT_C_CLIENT_CERT_REQUIRED},
        {HS_F_CERT_REQUESTED | HS_F_CERT_SENT | HS_F_CERT_REJECTED, SSL_R_CERTIFICATE_VERIFY_FAILED,
         SSL_AD_UNKNOWN_CA, -1, HILT_C_CLIENT_CERT_REJECTED},
        {HS_F_RESET, 0, -1, -1, HILT_C_CONNECTION_RESET},
        {HS_F_EOF, SSL_R_UNEXPECTED_EOF_WHILE_READING, -1, -1, HILT_C_CONNECTION_RESET},
        {0, 0, -1, -1, HILT_C_HANDSHAKE_FAILED},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        f.flags = rows[i].flags;
        f.reason = rows[i].reason;
        f.alert_sent = rows[i].sent;
        f.alert_received = rows[i].recv;
        enum hilt_code got = hs_classify(&f);
        if (got != rows[i].want)
            fail_msg("row %zu: got %s, want %s", i, hilt_code_name(got),
                     hilt_code_name(rows[i].want));
    }
    /* a TLS 1.2-only client against TLS 1.3-only modern */
    struct hilt_client_hello h12 = hello13();
    h12.nversions = 0;
    f = (struct hs_facts){.alert_sent = SSL_AD_PROTOCOL_VERSION,
                          .alert_received = -1,
                          .reason = SSL_R_UNSUPPORTED_PROTOCOL,
                          .profile = modern,
                          .hello = &h12};
    assert_int_equal(hs_classify(&f), HILT_C_PROTOCOL_VERSION_MISMATCH);
    /* "no shared cipher" with a suite in common but no common group → no_shared_group */
    h.groups[0] = 0x0019; /* secp521r1: not in intermediate's list */
    h.nversions = 1;
    h.versions[0] = 0x0303;
    f = (struct hs_facts){.alert_sent = SSL_AD_HANDSHAKE_FAILURE,
                          .alert_received = -1,
                          .reason = SSL_R_NO_SHARED_CIPHER,
                          .profile = inter,
                          .hello = &h};
    assert_int_equal(hs_classify(&f), HILT_C_NO_SHARED_GROUP);
    /* bytes that are not TLS, and no ClientHello */
    const uint8_t http[] = "GET / HTTP/1.1\r\n";
    f = (struct hs_facts){.alert_sent = -1,
                          .alert_received = -1,
                          .reason = SSL_R_HTTP_REQUEST,
                          .first = http,
                          .nfirst = 8};
    assert_int_equal(hs_classify(&f), HILT_C_NOT_TLS);
    f.first = NULL;
    f.nfirst = 0;
    assert_int_equal(hs_classify(&f), HILT_C_NOT_TLS);
    const uint8_t tls[] = {0x16, 0x03, 0x01};
    assert_true(hs_bytes_look_tls(tls, 3));
    assert_false(hs_bytes_look_tls(http, 4));
}

static void event_json(void **st)
{
    (void)st;
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 16);
    struct hs_event ev = {.when = {1700000000, 123456000},
                          .listener = "web",
                          .variant = "abc",
                          .client = "127.0.0.1:1",
                          .sni = "evil\"\\\n\x01name\xff",
                          .duration_us = 42,
                          .ok = 0,
                          .code = "untrusted_root",
                          .alert_received = "unknown_ca",
                          .ja4 = "t13d0000_x_y"};
    assert_int_equal(hs_event_append(&b, &ev), 0);
    assert_int_equal(b.data[b.len - 1], '\n');
    json_t *j = json_loadb((const char *)b.data, b.len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "time")),
                        "2023-11-14T22:13:20.123456Z");
    assert_string_equal(json_string_value(json_object_get(j, "sni")), "evil\"\\\n\x01name\xc3\xbf");
    assert_string_equal(json_string_value(json_object_get(j, "code")), "untrusted_root");
    assert_string_equal(json_string_value(json_object_get(j, "result")), "failed");
    assert_true(json_is_null(json_object_get(j, "version")));
    assert_int_equal(json_integer_value(json_object_get(j, "duration_us")), 42);
    const char *order[] = {"time",        "listener", "variant", "client",     "sni",
                           "alpn",        "version",  "cipher",  "group",      "client_subject",
                           "duration_us", "result",   "code",    "alert_sent", "alert_received",
                           "error",       "resumed",  "ja4",     "backend"};
    const char *key;
    json_t *v;
    size_t i = 0;
    json_object_foreach(j, key, v)
    {
        assert_true(i < sizeof(order) / sizeof(order[0]));
        assert_string_equal(key, order[i++]);
    }
    json_decref(j);
    /* an ok event has code null even if one is passed */
    hilt_buf_reset(&b);
    ev.ok = 1;
    hs_event_append(&b, &ev);
    j = json_loadb((const char *)b.data, b.len, 0, NULL);
    assert_true(json_is_null(json_object_get(j, "code")));
    json_decref(j);
    hilt_buf_free(&b);
}

static void metrics_text(void **st)
{
    (void)st;
    struct tm_registry *r = tm_registry_new(3);
    const char *web = tm_intern(r, "web");
    assert_ptr_equal(web, tm_intern(r, "web"));
    tm_add(tm_shard(r, 0), TM_HANDSHAKES, web, "ok", "none", "TLSv1.3", 2);
    tm_add(tm_shard(r, 1), TM_HANDSHAKES, web, "ok", "none", "TLSv1.3", 3);
    tm_add(tm_shard(r, 1), TM_HANDSHAKES, web, "failed", "untrusted_root", "unknown", 1);
    tm_observe(tm_shard(r, 0), TM_HS_DURATION, web, "ok", 0.0007);
    tm_observe(tm_shard(r, 2), TM_HS_DURATION, web, "ok", 20);
    tm_add(tm_shard(r, 0), TM_ACTIVE, web, NULL, NULL, NULL, 5);
    tm_add(tm_shard(r, 1), TM_ACTIVE, web, NULL, NULL, NULL, -2);
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 20);
    assert_int_equal(tm_expose(r, &b), 0);
    const char *t = hilt_buf_cstr(&b);
    assert_non_null(strstr(t, "# TYPE hilt_handshakes_total counter\n"));
    assert_non_null(strstr(t, "hilt_handshakes_total{listener=\"web\",result=\"ok\",reason="
                              "\"none\",version=\"TLSv1.3\"} 5\n"));
    assert_non_null(strstr(t, "hilt_handshakes_total{listener=\"web\",result=\"failed\",reason="
                              "\"untrusted_root\",version=\"unknown\"} 1\n"));
    assert_non_null(strstr(t, "hilt_handshake_duration_seconds_bucket{listener=\"web\",result="
                              "\"ok\",le=\"0.0005\"} 0\n"));
    assert_non_null(strstr(
        t,
        "hilt_handshake_duration_seconds_bucket{listener=\"web\",result=\"ok\",le=\"0.001\"} 1\n"));
    assert_non_null(strstr(
        t, "hilt_handshake_duration_seconds_bucket{listener=\"web\",result=\"ok\",le=\"10\"} 1\n"));
    assert_non_null(strstr(
        t,
        "hilt_handshake_duration_seconds_bucket{listener=\"web\",result=\"ok\",le=\"+Inf\"} 2\n"));
    assert_non_null(
        strstr(t, "hilt_handshake_duration_seconds_count{listener=\"web\",result=\"ok\"} 2\n"));
    assert_non_null(strstr(t, "hilt_active_connections{listener=\"web\"} 3\n"));
    assert_int_equal(tm_sum(r, TM_HANDSHAKES, web), 6);
    hilt_buf_reset(&b);
    tm_write_sample(&b, "x", 1.5, "subject", "CN=a\"b\\c\nd", NULL);
    assert_string_equal(hilt_buf_cstr(&b), "x{subject=\"CN=a\\\"b\\\\c\\nd\"} 1.5\n");
    hilt_buf_free(&b);
    tm_registry_free(&r);
    assert_null(r);
}

static void observed_shape(void **st)
{
    (void)st;
    struct obs_table *t = obs_new(2);
    struct hilt_client_hello a = hello13(), b = hello13(), c = hello13();
    a.ciphers[a.nciphers++] = 0x00ff; /* SCSV: not a suite, left out */
    a.ciphers[a.nciphers++] = 0xfafa; /* unknown code point: hex */
    snprintf(a.alpn, sizeof(a.alpn), "h2,http/1.1");
    a.has_sni = 1;
    snprintf(a.sni, sizeof(a.sni), "example.test");
    b.ciphers[0] = 0x1302; /* another offer */
    c.groups[0] = 0x0017;
    obs_record(t, &a, "ja4a", NULL, 1000);
    obs_record(t, &a, "ja4a", "untrusted_root", 1005);
    obs_record(t, &b, "ja4b", NULL, 1001);
    assert_int_equal(obs_count(t), 2);
    obs_record(t, &c, "ja4c", NULL, 1010); /* evicts b, the least recently seen */
    assert_int_equal(obs_count(t), 2);
    json_t *j = obs_json(t);
    json_t *cl = json_object_get(j, "clients");
    assert_int_equal(json_array_size(cl), 2);
    json_t *e0 = json_array_get(cl, 0), *e1 = json_array_get(cl, 1);
    assert_string_equal(json_string_value(json_object_get(e0, "ja4")), "ja4c");
    assert_string_equal(json_string_value(json_object_get(e1, "ja4")), "ja4a");
    assert_int_equal(json_integer_value(json_object_get(e1, "count")), 2);
    assert_int_equal(json_integer_value(json_object_get(e1, "failed")), 1);
    assert_string_equal(json_string_value(json_object_get(e1, "last_code")), "untrusted_root");
    assert_string_equal(json_string_value(json_object_get(e1, "sni")), "example.test");
    assert_true(json_is_null(json_object_get(e0, "sni")));
    json_t *cs = json_object_get(e1, "ciphers");
    assert_int_equal(json_array_size(cs), 3);
    assert_string_equal(json_string_value(json_array_get(cs, 0)), "TLS_AES_128_GCM_SHA256");
    assert_string_equal(json_string_value(json_array_get(cs, 1)),
                        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    assert_string_equal(json_string_value(json_array_get(cs, 2)), "0xfafa");
    json_t *vs = json_object_get(e1, "versions");
    assert_string_equal(json_string_value(json_array_get(vs, 0)), "TLSv1.3");
    assert_string_equal(json_string_value(json_array_get(vs, 1)), "TLSv1.2");
    assert_string_equal(json_string_value(json_array_get(json_object_get(e1, "groups"), 0)),
                        "x25519");
    assert_string_equal(json_string_value(json_array_get(json_object_get(e1, "sigalgs"), 0)),
                        "ecdsa_secp256r1_sha256");
    json_t *al = json_object_get(e1, "alpn");
    assert_int_equal(json_array_size(al), 2);
    assert_string_equal(json_string_value(json_array_get(al, 1)), "http/1.1");
    assert_string_equal(json_string_value(json_object_get(e1, "first_seen")),
                        "1970-01-01T00:16:40Z");
    assert_string_equal(json_string_value(json_object_get(e1, "last_seen")),
                        "1970-01-01T00:16:45Z");
    json_decref(j);
    obs_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classify_table),
        cmocka_unit_test(event_json),
        cmocka_unit_test(metrics_text),
        cmocka_unit_test(observed_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
