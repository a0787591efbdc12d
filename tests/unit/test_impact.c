/* test_impact.c - client offers against policy profiles (hilt policy impact),
 * and the observed-clients document a gateway publishes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "policy/clients.h"
#include "policy/impact.h"
#include "policy/policy.h"

#include <stdio.h>
#include <string.h>

static const struct hilt_profile *builtin_profile(const char *name)
{
    struct hilt_err e = {0};
    const struct hilt_profile *p = hilt_profile_find(NULL, name, &e);
    assert_non_null(p);
    return p;
}

static void eval_client(const char *id, const struct hilt_profile *p, struct hilt_impact *r)
{
    const struct hilt_client *c = hilt_clients_find(hilt_clients_builtin(NULL), id);
    assert_non_null(c);
    struct hilt_offer o;
    hilt_offer_from_client(c, &o);
    hilt_impact_eval(&o, p, r);
}

static void builtin_profiles_against_real_clients(void **st)
{
    (void)st;
    struct hilt_impact r;
    const struct hilt_profile *modern = builtin_profile("modern"),
                              *inter = builtin_profile("intermediate");
    /* TLS 1.3 only locks out everything that stops at TLS 1.2. */
    const char *old[] = {"android-4.4", "ie-11-win7",   "java-7u25",
                         "java-8u161",  "mbedtls-2.28", "safari-10-osx1012"};
    for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
        eval_client(old[i], modern, &r);
        assert_false(r.connects);
        assert_int_equal(r.code, HILT_C_PROTOCOL_VERSION_MISMATCH);
        assert_non_null(strstr(r.reason, "profile modern accepts TLSv1.3"));
    }
    eval_client("chrome-101-win10", modern, &r);
    assert_true(r.connects);
    assert_int_equal(r.version, HILT_TLS13);
    assert_int_equal(r.cipher, 0x1301);
    assert_int_equal(r.group, 0x001d);
    assert_string_equal(r.cert, "ecdsa");
    /* Java 11 sends a P-256 share only: accepted, no HRR. */
    eval_client("java-11", modern, &r);
    assert_true(r.connects);
    assert_int_equal(r.group, 0x0017);
    assert_false(r.hrr);
    /* Intermediate: Android 4.4 speaks TLS 1.2 with ECDHE-GCM. */
    eval_client("android-4.4", inter, &r);
    assert_true(r.connects);
    assert_int_equal(r.version, HILT_TLS12);
    assert_int_equal(
        r.cipher,
        0xc030); /* its first suite the profile allows (client order: no server preference) */
    eval_client("safari-6-ios6", inter, &r);
    assert_false(r.connects);
    assert_int_equal(r.code, HILT_C_NO_SHARED_CIPHER);
    eval_client("ie-8-10-win7", inter, &r);
    assert_int_equal(r.code, HILT_C_PROTOCOL_VERSION_MISMATCH);
    /* IoT: mbedTLS speaks the CCM suites. */
    eval_client("mbedtls-2.28", builtin_profile("iot"), &r);
    assert_true(r.connects);
    /* Every built-in client against every built-in profile: no crash, a code when locked out. */
    const struct hilt_clients *cs = hilt_clients_builtin(NULL);
    const char *profiles[] = {"modern",       "intermediate", "old", "public-web",
                              "internal-api", "partner",      "iot"};
    for (size_t k = 0; k < sizeof(profiles) / sizeof(profiles[0]); k++)
        for (size_t i = 0; i < cs->n; i++) {
            struct hilt_offer o;
            hilt_offer_from_client(&cs->v[i], &o);
            hilt_impact_eval(&o, builtin_profile(profiles[k]), &r);
            if (!r.connects)
                assert_true(r.reason[0]);
            else
                assert_true(r.cipher != 0);
        }
}

/* A profile written for the test, so each rule can be hit on its own. */
static struct hilt_policy *policy(const char *yaml)
{
    struct hilt_policy *p = NULL;
    struct hilt_err e = {0};
    if (hilt_policy_load_mem(yaml, strlen(yaml), "t.yaml", &p, &e) < 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_non_null(p);
    return p;
}

static const uint16_t gcm[] = {0xc02f, 0xc02b, 0x009c};
static const uint16_t p256[] = {0x0017};
static const uint16_t sigs[] = {0x0403, 0x0804, 0x0401};

static void offer_init(struct hilt_offer *o)
{
    memset(o, 0, sizeof(*o));
    o->label = "test";
    o->versions = HILT_VERSION_BIT(HILT_TLS12);
    o->ciphers = gcm;
    o->nciphers = 3;
    o->groups = p256;
    o->ngroups = 1;
    o->sigalgs = sigs;
    o->nsigalgs = 3;
    o->legacy_kx_signatures = 1;
}

static void each_rule_on_its_own(void **st)
{
    (void)st;
    struct hilt_policy *pol = policy(
        "profiles:\n"
        "  p:\n"
        "    versions: [TLSv1.2]\n"
        "    ciphers: [ECDHE-RSA-AES128-GCM-SHA256, DHE-RSA-AES128-GCM-SHA256, AES128-GCM-SHA256]\n"
        "    groups: [X25519]\n"
        "    certificate: {key_types: [rsa], rsa_min_bits: 1024}\n"
        "  dhe:\n"
        "    versions: [TLSv1.2]\n"
        "    ciphers: [DHE-RSA-AES128-GCM-SHA256]\n"
        "    dh_min_bits: 3072\n"
        "    certificate: {key_types: [rsa]}\n"
        "  order:\n"
        "    versions: [TLSv1.2]\n"
        "    ciphers: [AES128-GCM-SHA256, ECDHE-RSA-AES128-GCM-SHA256]\n"
        "    server_preference: true\n"
        "  old:\n"
        "    versions: [TLSv1.0]\n"
        "    ciphers: [ECDHE-RSA-AES128-SHA, AES128-SHA]\n"
        "    server_preference: true\n"
        "  sig:\n"
        "    versions: [TLSv1.2]\n"
        "    ciphers: [ECDHE-ECDSA-AES128-GCM-SHA256]\n"
        "    signature_algorithms: [ed25519]\n"
        "    certificate: {key_types: [ecdsa]}\n");
    struct hilt_offer o;
    struct hilt_impact r;
    const struct hilt_profile *p = hilt_policy_profile(pol, "p");
    /* P-256 only against an X25519-only profile: ECDHE is out, plain RSA key exchange remains. */
    offer_init(&o);
    hilt_impact_eval(&o, p, &r);
    assert_true(r.connects);
    assert_int_equal(r.cipher, 0x009c);
    assert_int_equal(r.group, 0);
    /* Without RSA key exchange: no shared group. */
    static const uint16_t ecdhe_only[] = {0xc02f};
    o.ciphers = ecdhe_only;
    o.nciphers = 1;
    hilt_impact_eval(&o, p, &r);
    assert_false(r.connects);
    assert_int_equal(r.code, HILT_C_NO_SHARED_GROUP);
    assert_non_null(strstr(r.reason, "x25519"));
    /* A key floor above what the profile permits. */
    offer_init(&o);
    o.rsa_min_bits = 2048;
    hilt_impact_eval(&o, p, &r);
    assert_false(r.connects);
    assert_int_equal(r.code, HILT_C_WEAK_KEY);
    assert_non_null(strstr(r.reason, "RSA keys of 1024 bits"));
    /* DH: too small for the client, and too large for Java 7. */
    static const uint16_t dhe[] = {0x009e};
    offer_init(&o);
    o.ciphers = dhe;
    o.nciphers = 1;
    o.dh_min_bits = 4096;
    hilt_impact_eval(&o, hilt_policy_profile(pol, "dhe"), &r);
    assert_int_equal(r.code, HILT_C_WEAK_DH);
    o.dh_min_bits = 0;
    o.dh_max_bits = 1024;
    hilt_impact_eval(&o, hilt_policy_profile(pol, "dhe"), &r);
    assert_false(r.connects);
    assert_int_equal(r.code, HILT_C_HANDSHAKE_FAILED);
    assert_non_null(strstr(r.reason, "above 1024 bits"));
    /* Server preference decides the suite. */
    offer_init(&o);
    hilt_impact_eval(&o, hilt_policy_profile(pol, "order"), &r);
    assert_true(r.connects);
    assert_int_equal(r.cipher, 0x009c);
    /* TLS 1.0 ECDHE is signed with MD5+SHA-1: refused by OpenSSL 3 clients. */
    static const uint16_t cbc[] = {0xc013, 0x002f};
    offer_init(&o);
    o.versions = HILT_VERSION_BIT(HILT_TLS10);
    o.ciphers = cbc;
    o.nciphers = 2;
    o.sigalgs = NULL;
    o.nsigalgs = 0;
    o.legacy_kx_signatures = 0;
    hilt_impact_eval(&o, hilt_policy_profile(pol, "old"), &r);
    assert_false(r.connects);
    assert_int_equal(r.code, HILT_C_HANDSHAKE_FAILED);
    assert_non_null(strstr(r.reason, "MD5+SHA-1"));
    o.legacy_kx_signatures = 1;
    hilt_impact_eval(&o, hilt_policy_profile(pol, "old"), &r);
    assert_true(r.connects);
    assert_int_equal(r.version, HILT_TLS10);
    assert_int_equal(r.cipher, 0xc013);
    /* No signature scheme in common. */
    static const uint16_t ecdsa_gcm[] = {0xc02b};
    offer_init(&o);
    o.ciphers = ecdsa_gcm;
    o.nciphers = 1;
    hilt_impact_eval(&o, hilt_policy_profile(pol, "sig"), &r);
    assert_false(r.connects);
    assert_int_equal(r.code, HILT_C_HANDSHAKE_FAILED);
    assert_non_null(strstr(r.reason, "signature scheme"));
    /* TLS 1.3 without a usable share: the server asks (HRR) and it still works. */
    static const uint16_t t13[] = {0x1301};
    static const uint16_t groups[] = {0x001e, 0x001d,
                                      0x0017}; /* x448 first: modern does not speak it */
    static const uint16_t share[] = {0x001e};
    offer_init(&o);
    o.versions = HILT_VERSION_BIT(HILT_TLS13);
    o.ciphers = t13;
    o.nciphers = 1;
    o.groups = groups;
    o.ngroups = 3;
    o.key_shares = share;
    o.nkey_shares = 1;
    hilt_impact_eval(&o, builtin_profile("modern"), &r);
    assert_true(r.connects);
    assert_true(r.hrr);
    assert_int_equal(r.group, 0x001d);
    json_t *j = hilt_impact_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "cipher")), "TLS_AES_128_GCM_SHA256");
    assert_string_equal(json_string_value(json_object_get(j, "group")), "x25519");
    assert_true(json_is_null(json_object_get(j, "code")));
    json_decref(j);
    hilt_policy_free(&pol);
}

static const char *observed_doc =
    "{\"clients\": ["
    "{\"ja4\": \"t13d1516h2_8daaf6152771_d8a2da3f94cd\", \"versions\": [\"TLSv1.3\", \"TLSv1.2\"],"
    " \"ciphers\": [\"TLS_AES_128_GCM_SHA256\", \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\", "
    "\"TLS_FUTURE_SUITE\"],"
    " \"groups\": [\"x25519\", \"secp256r1\"], \"sigalgs\": [\"ecdsa_secp256r1_sha256\", "
    "\"rsa_pss_rsae_sha256\"],"
    " \"alpn\": [\"h2\"], \"sni\": \"shop.example\", \"count\": 900,"
    " \"first_seen\": \"2026-05-01T12:00:00Z\", \"last_seen\": \"2026-05-02T12:00:00.5+02:00\"},"
    "{\"ja4\": \"t12d090900_aaaaaaaaaaaa_bbbbbbbbbbbb\", \"versions\": [\"TLSv1.0\"],"
    " \"ciphers\": [\"TLS_RSA_WITH_AES_128_CBC_SHA\"], \"sni\": null, \"count\": 100}"
    "]}";

static void observed_clients_weighted(void **st)
{
    (void)st;
    struct hilt_observed *ob = NULL;
    struct hilt_err e = {0};
    assert_int_equal(
        hilt_observed_load_mem(observed_doc, strlen(observed_doc), "obs.json", &ob, &e), 0);
    assert_int_equal(ob->n, 2);
    assert_int_equal(ob->v[0].count, 900);
    assert_int_equal(ob->v[0].ciphers.n, 2);
    assert_int_equal(ob->v[0].unknown.n, 1);
    assert_string_equal(ob->v[0].unknown.v[0], "cipher TLS_FUTURE_SUITE");
    assert_string_equal(ob->v[0].sni, "shop.example");
    assert_int_equal(ob->v[0].first_seen, 1777636800);
    assert_int_equal(ob->v[0].last_seen, 1777636800 + 86400 - 7200);
    assert_null(ob->v[1].sni);
    struct hilt_offer o;
    struct hilt_impact r;
    const struct hilt_profile *inter = builtin_profile("intermediate");
    hilt_offer_from_observed(&ob->v[0], &o);
    hilt_impact_eval(&o, inter, &r);
    assert_true(r.connects);
    assert_int_equal(r.version, HILT_TLS13);
    hilt_offer_from_observed(&ob->v[1], &o);
    hilt_impact_eval(&o, inter, &r);
    assert_false(r.connects);
    assert_int_equal(r.code, HILT_C_PROTOCOL_VERSION_MISMATCH);
    hilt_observed_free(&ob);
    assert_null(ob);
}

static void observed_errors_name_the_field(void **st)
{
    (void)st;
    static const struct {
        const char *doc, *needle;
    } cases[] = {
        {"{\"clients\": [", "obs.json:1:"},
        {"[]", "clients: expected {\"clients\": [...]}"},
        {"{\"clients\": [1]}", "clients[0]: expected an object"},
        {"{\"clients\": [{\"versions\": [\"TLSv1.3\"], \"ciphers\": []}]}", "clients[0].ja4"},
        {"{\"clients\": [{\"ja4\": \"x\", \"ciphers\": []}]}", "clients[0].versions"},
        {"{\"clients\": [{\"ja4\": \"x\", \"versions\": [\"TLSv9\"], \"ciphers\": []}]}",
         "clients[0].versions[0]"},
        {"{\"clients\": [{\"ja4\": \"x\", \"versions\": [\"TLSv1.2\"]}]}",
         "clients[0].ciphers: missing"},
        {"{\"clients\": [{\"ja4\": \"x\", \"versions\": [\"TLSv1.2\"], \"ciphers\": [7]}]}",
         "clients[0].ciphers[0]"},
        {"{\"clients\": [{\"ja4\": \"x\", \"versions\": [\"TLSv1.2\"], \"ciphers\": [], "
         "\"groups\": \"x25519\"}]}",
         "clients[0].groups: expected a list"},
        {"{\"clients\": [{\"ja4\": \"x\", \"versions\": [\"TLSv1.2\"], \"ciphers\": [], \"count\": "
         "-1}]}",
         "clients[0].count"},
        {"{\"clients\": [{\"ja4\": \"x\", \"versions\": [\"TLSv1.2\"], \"ciphers\": [], \"sni\": "
         "5}]}",
         "clients[0].sni"},
        {"{\"clients\": [{\"ja4\": \"x\", \"versions\": [\"TLSv1.2\"], \"ciphers\": [], "
         "\"first_seen\": \"yesterday\"}]}",
         "clients[0].first_seen: expected an RFC 3339 time"},
        {"{\"clients\": [{\"ja4\": \"x\", \"versions\": [\"TLSv1.2\"], \"ciphers\": [], \"alpn\": "
         "[\"\"]}]}",
         "clients[0].alpn[0]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hilt_observed *ob = NULL;
        struct hilt_err e = {0};
        int rc = hilt_observed_load_mem(cases[i].doc, strlen(cases[i].doc), "obs.json", &ob, &e);
        if (rc == 0 || !strstr(e.msg, cases[i].needle))
            fprintf(stderr, "case %zu: wanted '%s', got '%s'\n", i, cases[i].needle, e.msg);
        assert_int_equal(rc, -1);
        assert_int_equal(e.kind, HILT_E_INPUT);
        assert_non_null(strstr(e.msg, cases[i].needle));
        assert_null(ob);
    }
    struct hilt_observed *ob = NULL;
    struct hilt_err e = {0};
    assert_int_equal(hilt_observed_load("/nonexistent/observed.json", 1000, &ob, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/observed.json"));
    assert_int_equal(hilt_observed_load("https://127.0.0.1:1/observed", 1000, &ob, &e), -1);
    assert_non_null(strstr(e.msg, "only http://"));
    /* Nothing listens on port 1: the URL and the reason, as bad input. */
    assert_int_equal(hilt_observed_load("http://127.0.0.1:1/observed", 1000, &ob, &e), -1);
    assert_int_equal(e.kind, HILT_E_INPUT);
    assert_non_null(strstr(e.msg, "http://127.0.0.1:1/observed: cannot fetch"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builtin_profiles_against_real_clients),
        cmocka_unit_test(each_rule_on_its_own),
        cmocka_unit_test(observed_clients_weighted),
        cmocka_unit_test(observed_errors_name_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
