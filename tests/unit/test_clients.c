/* test_clients.c - the client profiles (data/clients.json): the data itself
 * (coverage, sources, every name resolving, every field equal to the captured
 * ClientHello it was read from), the loader's errors, and the hello each
 * profile builds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "policy/clients.h"
#include "tls/hello.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct hilt_clients *builtin(void)
{
    struct hilt_err e = {0};
    const struct hilt_clients *c = hilt_clients_builtin(&e);
    if (!c) fprintf(stderr, "builtin clients: %s\n", e.msg);
    assert_non_null(c);
    return c;
}

static void builtin_has_forty_sourced_profiles(void **st)
{
    (void)st;
    const struct hilt_clients *cs = builtin();
    assert_true(cs->n >= 40);
    for (size_t i = 0; i < cs->n; i++) {
        const struct hilt_client *c = &cs->v[i];
        assert_true(c->sources.n >= 1);
        for (size_t k = 0; k < c->sources.n; k++)
            assert_true(strlen(c->sources.v[k]) > 20);
        assert_true(c->ciphers.n > 0);
        assert_true(c->versions != 0);
        assert_non_null(c->trust_store);
        /* Every code point resolves in policy/suites.h (the loader guarantees it; state it anyway).
         */
        for (size_t k = 0; k < c->ciphers.n; k++)
            assert_non_null(hilt_cipher_by_code(c->ciphers.v[k]));
        for (size_t k = 0; k < c->groups.n; k++)
            assert_non_null(hilt_group_by_code(c->groups.v[k]));
        for (size_t k = 0; k < c->key_shares.n; k++)
            assert_non_null(hilt_group_by_code(c->key_shares.v[k]));
        for (size_t k = 0; k < c->sigalgs.n; k++)
            assert_non_null(hilt_sigalg_by_code(c->sigalgs.v[k]));
    }
}

/* The coverage list, by id. */
static void builtin_covers_the_required_clients(void **st)
{
    (void)st;
    const struct hilt_clients *cs = builtin();
    static const char *const ids[] = {"chrome-101-win10",
                                      "chromium-137-win11",
                                      "firefox-100-win10",
                                      "safari-15.4-macos12",
                                      "safari-12.1-ios12",
                                      "edge-101-win10",
                                      "ie-11-win7",
                                      "ie-11-win10",
                                      "android-4.4",
                                      "android-5.0",
                                      "android-6.0",
                                      "android-7.0",
                                      "android-8.1",
                                      "android-9",
                                      "android-10",
                                      "android-11",
                                      "android-12",
                                      "android-13-14",
                                      "java-7u25",
                                      "java-8u161",
                                      "java-11",
                                      "java-17",
                                      "java-21",
                                      "openssl-1.0.2",
                                      "openssl-1.1.1-debian",
                                      "openssl-3.0",
                                      "curl-debian12",
                                      "python-3.11-debian12",
                                      "go-1.17",
                                      "dotnet-fw-4.5-win7",
                                      "dotnet-fw-4.8-win10",
                                      "mbedtls-2.28",
                                      "wolfssl-5.5"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        const struct hilt_client *c = hilt_clients_find(cs, ids[i]);
        if (!c) fprintf(stderr, "missing client profile %s\n", ids[i]);
        assert_non_null(c);
    }
    /* Facts the simulation relies on. */
    const struct hilt_client *a44 = hilt_clients_find(cs, "android-4.4");
    assert_int_equal(hilt_client_max_version(a44), HILT_TLS12);
    assert_false(a44->aia_fetch);
    const struct hilt_client *ch = hilt_clients_find(cs, "chrome-101-win10");
    assert_true(ch->aia_fetch);
    assert_true(ch->grease);
    assert_int_equal(hilt_client_max_version(ch), HILT_TLS13);
    assert_int_equal(ch->key_shares.n, 1);
    assert_int_equal(ch->key_shares.v[0], 0x001d);
    const struct hilt_client *curl = hilt_clients_find(cs, "curl-debian12");
    assert_int_equal(curl->rsa_min_bits, 2048);
    assert_int_equal(curl->sha1, HILT_SHA1_REJECT);
    assert_false(curl->legacy_kx_signatures);
    const struct hilt_client *j7 = hilt_clients_find(cs, "java-7u25");
    assert_int_equal(j7->dh_max_bits, 1024);
    assert_int_equal(hilt_client_max_version(j7), HILT_TLS10);
    const struct hilt_client *ie6 = hilt_clients_find(cs, "ie-6-xp");
    assert_int_equal(ie6->record_version, 0x0002);
    assert_false(ie6->sni);
}

static int listed_unresolved(const struct hilt_client *c, const char *what, uint16_t code)
{
    char pfx[32];
    snprintf(pfx, sizeof(pfx), "%s 0x%04x", what, code);
    for (size_t i = 0; i < c->unresolved.n; i++)
        if (!strncasecmp(c->unresolved.v[i], pfx, strlen(pfx))) return 1;
    return 0;
}

/* Each list, compared with the stored hello: same entries, same order; what
 * hilt's tables cannot name is listed under `unresolved`, repeats dropped. */
static void same_list(const struct hilt_client *c, const char *what, const uint16_t *wire,
                      size_t nw, const struct hilt_u16list *l, int skip_scsv)
{
    size_t j = 0;
    for (size_t i = 0; i < nw; i++) {
        uint16_t v = wire[i];
        if (skip_scsv && (v == 0x00ff || v == 0x5600)) continue;
        int seen = 0;
        for (size_t k = 0; k < j; k++)
            seen |= l->v[k] == v;
        if (seen) continue;
        if (j < l->n && l->v[j] == v) {
            j++;
            continue;
        }
        if (!listed_unresolved(c, what, v)) {
            fprintf(stderr, "%s: %s 0x%04x of the hello is not in the profile (position %zu)\n",
                    c->id, what, v, i);
            fail();
        }
    }
    if (j != l->n)
        fprintf(stderr, "%s: %s: the profile lists %zu, the hello %zu\n", c->id, what, l->n, j);
    assert_int_equal(j, l->n);
}

static void fields_equal_the_captured_hellos(void **st)
{
    (void)st;
    const struct hilt_clients *cs = builtin();
    size_t checked = 0;
    for (size_t i = 0; i < cs->n; i++) {
        const struct hilt_client *c = &cs->v[i];
        if (!c->hello_hex || c->record_version == 0x0002)
            continue; /* SSLv2-format: not a TLS record */
        size_t n = strlen(c->hello_hex) / 2;
        uint8_t *raw = malloc(n);
        assert_non_null(raw);
        for (size_t k = 0; k < n; k++) {
            unsigned b;
            assert_int_equal(sscanf(c->hello_hex + 2 * k, "%2x", &b), 1);
            raw[k] = (uint8_t)b;
        }
        struct hilt_client_hello ch;
        if (hilt_client_hello_parse(raw, n, 1, &ch) < 0) {
            fprintf(stderr, "%s: the stored hello does not parse\n", c->id);
            fail();
        }
        same_list(c, "cipher", ch.ciphers, ch.nciphers, &c->ciphers, 1);
        same_list(c, "group", ch.groups, ch.ngroups, &c->groups, 0);
        same_list(c, "sigalg", ch.sigalgs, ch.nsigalgs, &c->sigalgs, 0);
        assert_int_equal(ch.grease, c->grease);
        assert_int_equal(ch.has_sni, c->sni);
        assert_int_equal(ch.legacy_version, c->client_version);
        assert_int_equal(raw[1] << 8 | raw[2], c->record_version);
        int scsv = 0, fb = 0;
        for (size_t k = 0; k < ch.nciphers; k++) {
            scsv |= ch.ciphers[k] == 0x00ff;
            fb |= ch.ciphers[k] == 0x5600;
        }
        assert_int_equal(scsv, c->scsv_renegotiation);
        assert_int_equal(fb, c->scsv_fallback);
        /* supported_versions, when sent, is the version set. */
        if (ch.nversions) {
            unsigned set = 0;
            for (size_t k = 0; k < ch.nversions; k++) {
                enum hilt_tls_version v;
                if (hilt_tls_version_from_wire(ch.versions[k], &v) == 0) set |= HILT_VERSION_BIT(v);
            }
            assert_int_equal(set, c->versions);
        } else {
            assert_int_equal(hilt_client_max_version(c) == HILT_TLS13, 0);
        }
        /* ALPN, in order. */
        char alpn[512] = "";
        for (size_t k = 0; k < c->alpn.n; k++) {
            if (k) strcat(alpn, ",");
            strcat(alpn, c->alpn.v[k]);
        }
        assert_string_equal(ch.alpn, alpn);
        free(raw);
        checked++;
    }
    assert_true(checked >= 45);
}

/* The hello a profile builds says what the profile says. */
static void built_hello_round_trips(void **st)
{
    (void)st;
    const struct hilt_clients *cs = builtin();
    for (size_t i = 0; i < cs->n; i++) {
        const struct hilt_client *c = &cs->v[i];
        struct hilt_ch_spec s;
        struct hilt_client_spec_buf sb;
        hilt_client_ch_spec(c, "www.example.test", &s, &sb);
        struct hilt_buf b;
        hilt_buf_init(&b, 1 << 16);
        struct hilt_err e = {0};
        if (hilt_client_hello_build(&s, &b, &e) < 0) fprintf(stderr, "%s: %s\n", c->id, e.msg);
        assert_int_equal(e.kind, HILT_E_NONE);
        struct hilt_client_hello ch;
        assert_int_equal(hilt_client_hello_parse(b.data, b.len, 1, &ch), 0);
        size_t nc = 0;
        for (size_t k = 0; k < ch.nciphers; k++)
            if (ch.ciphers[k] != 0x00ff && ch.ciphers[k] != 0x5600)
                assert_int_equal(ch.ciphers[k], c->ciphers.v[nc++]);
        assert_int_equal(nc, c->ciphers.n);
        assert_int_equal(ch.ngroups, c->groups.n);
        assert_int_equal(ch.nsigalgs, c->sigalgs.n);
        assert_int_equal(ch.has_sni, c->sni);
        if (c->sni) assert_string_equal(ch.sni, "www.example.test");
        assert_int_equal(ch.grease, c->grease);
        assert_int_equal(ch.legacy_version, c->client_version);
        assert_int_equal(ch.max_version == 0x0304, hilt_client_max_version(c) == HILT_TLS13);
        hilt_buf_free(&b);
        /* An address is never sent as SNI (RFC 6066 section 3). */
        hilt_client_ch_spec(c, "127.0.0.1", &s, &sb);
        assert_null(s.sni);
    }
}

static void json_of_a_profile(void **st)
{
    (void)st;
    const struct hilt_client *c = hilt_clients_find(builtin(), "chrome-101-win10");
    json_t *j = hilt_client_json(c, 0);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "chrome-101-win10");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "ciphers"), 0)),
                        "TLS_AES_128_GCM_SHA256");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "groups"), 0)),
                        "x25519");
    assert_true(json_is_true(json_object_get(j, "aia_fetch")));
    assert_null(json_object_get(j, "hello"));
    json_decref(j);
}

/* ---- the loader's errors ---- */

#define ONE(body)                                                                                  \
    "{\"version\": 1, \"clients\": [{\"id\": \"x-1\", \"name\": \"X\", \"version\": \"1\", "       \
    "\"versions\": "                                                                               \
    "[\"TLSv1.2\"], \"ciphers\": [\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"], \"sni\": true, "     \
    "\"aia_fetch\": false, \"sha1_certificates\": \"accept\", \"sources\": [\"a test, not a real " \
    "client\"]" body "}]}"

static void expect_error(const char *doc, const char *needle)
{
    struct hilt_clients *c = NULL;
    struct hilt_err e = {0};
    int rc = hilt_clients_load_mem(doc, strlen(doc), "t.json", &c, &e);
    if (rc == 0 || !strstr(e.msg, needle))
        fprintf(stderr, "doc: %s\nwanted '%s', got rc %d '%s'\n", doc, needle, rc, e.msg);
    assert_int_equal(rc, -1);
    assert_null(c);
    assert_int_equal(e.kind, HILT_E_INPUT);
    assert_non_null(strstr(e.msg, needle));
}

static void loader_accepts_minimal_and_rejects_bad(void **st)
{
    (void)st;
    struct hilt_clients *c = NULL;
    struct hilt_err e = {0};
    const char *ok =
        ONE(", \"groups\": [\"x25519\", \"P-256\"], \"key_shares\": [\"x25519\"], \"sigalgs\": "
            "[\"0x0403\"], \"alpn\": [\"h2\"], \"rsa_min_bits\": 2048, \"dh_min_bits\": null");
    assert_int_equal(hilt_clients_load_mem(ok, strlen(ok), "t.json", &c, &e), 0);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->v[0].groups.v[1], 0x0017);
    assert_int_equal(c->v[0].sigalgs.v[0], 0x0403);
    assert_int_equal(c->v[0].rsa_min_bits, 2048);
    assert_int_equal(c->v[0].client_version, 0x0303);
    assert_string_equal(c->v[0].platform, "any");
    hilt_clients_free(&c);
    assert_null(c);

    expect_error("{\"clients\": [", "t.json:1:");
    expect_error("[]", "expected an object");
    expect_error("{\"clients\": {}}", "clients: missing or not a list");
    expect_error("{\"clients\": [], \"extra\": 1}", "unknown key 'extra'");
    expect_error("{\"version\": 2, \"clients\": []}", "the only version is 1");
    expect_error("{\"clients\": [7]}", "clients[0]: expected an object");
    expect_error(ONE(", \"ciphers\": [\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA255\"]"), "duplicate");
    expect_error("{\"clients\": [{\"id\": \"x\", \"name\": \"X\", \"version\": \"1\", "
                 "\"versions\": [\"TLSv1.2\"], "
                 "\"ciphers\": [\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA255\"], \"sni\": true, "
                 "\"aia_fetch\": false, "
                 "\"sha1_certificates\": \"accept\", \"sources\": [\"somewhere, in a book\"]}]}",
                 "clients[0] (x).ciphers[0]: unknown cipher suite "
                 "'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA255' (did you mean "
                 "'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'?)");
    expect_error(ONE(", \"groups\": [\"secp256r2\"]"), "groups[0]: unknown group 'secp256r2'");
    expect_error(ONE(", \"sigalgs\": [\"rsa_pkcs1_md5\"]"), "sigalgs[0]: unknown signature scheme");
    expect_error(ONE(", \"groups\": [\"x25519\", \"x25519\"]"),
                 "groups[1]: 'x25519' is listed twice");
    expect_error(ONE(", \"groups\": [\"x25519\"], \"key_shares\": [\"secp256r1\"]"),
                 "not in the client's groups");
    expect_error(ONE(", \"cipher\": []"), "unknown key 'cipher'");
    expect_error(ONE(", \"rsa_min_bits\": \"2048\""), "rsa_min_bits: expected a whole number");
    expect_error(ONE(", \"rsa_min_bits\": 99999"), "outside");
    expect_error(ONE(", \"alpn\": [\"h2,http/1.1\"]"), "alpn[0]");
    expect_error(ONE(", \"extensions\": [\"server_nam\"]"), "extensions[0]: unknown extension");
    expect_error(ONE(", \"hello\": \"16030\""), "hello: expected an even number of hex digits");
    expect_error(ONE(", \"record_version\": \"TLSv1.4\""), "record_version: unknown version");
    expect_error(ONE(", \"dh_min_bits\": 2048, \"dh_max_bits\": 1024"), "smaller than dh_min_bits");
    expect_error("{\"clients\": [{\"id\": \"x\", \"name\": \"X\", \"version\": \"1\", "
                 "\"versions\": [\"TLSv1.2\"], "
                 "\"ciphers\": [\"TLS_AES_128_GCM_SHA256\"], \"sni\": true, \"aia_fetch\": false, "
                 "\"sha1_certificates\": \"accept\", \"sources\": [\"somewhere, in a book\"]}]}",
                 "cannot be used with any version the client offers");
    expect_error("{\"clients\": [{\"id\": \"x\", \"name\": \"X\", \"version\": \"1\", "
                 "\"versions\": [\"TLSv1.2\"], "
                 "\"ciphers\": [\"AES128-SHA\"], \"sni\": true, \"aia_fetch\": false, "
                 "\"sha1_certificates\": \"accept\", "
                 "\"sources\": []}]}",
                 "sources: the list is empty");
    expect_error(
        "{\"clients\": [{\"id\": \"x\", \"name\": \"X\", \"version\": \"1\", \"versions\": "
        "[\"TLSv1.2\"], "
        "\"ciphers\": [\"AES128-SHA\"], \"aia_fetch\": false, \"sha1_certificates\": \"accept\", "
        "\"sources\": [\"somewhere, in a book\"]}]}",
        "sni: missing");
    expect_error("{\"clients\": [{\"id\": \"Bad Id\", \"name\": \"X\"}]}", "id: 'Bad Id' is not");
    expect_error(ONE(", \"sha1_certificates\": \"maybe\""), "duplicate");
    const char *twice =
        "{\"clients\": ["
        "{\"id\": \"a\", \"name\": \"X\", \"version\": \"1\", \"versions\": [\"TLSv1.2\"], "
        "\"ciphers\": [\"AES128-SHA\"], \"sni\": true, \"aia_fetch\": false, "
        "\"sha1_certificates\": "
        "\"reject\", \"sources\": [\"somewhere, in a book\"]}, {\"id\": \"a\", \"name\": \"X\", "
        "\"version\": \"1\", \"versions\": [\"TLSv1.2\"], \"ciphers\": [\"AES128-SHA\"], \"sni\": "
        "true, "
        "\"aia_fetch\": false, \"sha1_certificates\": \"reject\", \"sources\": [\"somewhere, in a "
        "book\"]}]}";
    expect_error(twice, "clients[1] (a).id: 'a' is already used by clients[0]");
    /* Files: missing, and the size bound. */
    assert_int_equal(hilt_clients_load_file("/nonexistent/clients.json", &c, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/clients.json"));
    char *big = malloc(HILT_CLIENTS_MAX_BYTES + 2);
    assert_non_null(big);
    memset(big, ' ', HILT_CLIENTS_MAX_BYTES + 1);
    big[HILT_CLIENTS_MAX_BYTES + 1] = '\0';
    assert_int_equal(hilt_clients_load_mem(big, HILT_CLIENTS_MAX_BYTES + 1, "big.json", &c, &e),
                     -1);
    assert_non_null(strstr(e.msg, "larger than"));
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builtin_has_forty_sourced_profiles),
        cmocka_unit_test(builtin_covers_the_required_clients),
        cmocka_unit_test(fields_equal_the_captured_hellos),
        cmocka_unit_test(built_hello_round_trips),
        cmocka_unit_test(json_of_a_profile),
        cmocka_unit_test(loader_accepts_minimal_and_rejects_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
