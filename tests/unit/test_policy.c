/* test_policy.c - the policy vocabulary tables, the YAML loader and its errors,
 * extends: resolution, the built-in profiles' exact contents, endpoint
 * matching and the renderers' output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "policy/policy.h"
#include "policy/yamltree.h"
#include "x509/key.h" /* must coexist with policy/suites.h (one name, one meaning) */

#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------- */

static struct hilt_policy *load_ok(const char *yaml)
{
    struct hilt_err e = {0};
    struct hilt_policy *p = NULL;
    int rc = hilt_policy_load_mem(yaml, strlen(yaml), "t.yaml", &p, &e);
    if (rc != 0) fprintf(stderr, "unexpected error: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_non_null(p);
    return p;
}

/* Load must fail with an input error whose message contains every fragment. */
static void load_fails(const char *yaml, size_t len, const char *frag1, const char *frag2)
{
    struct hilt_err e = {0};
    struct hilt_policy *p = NULL;
    assert_int_equal(hilt_policy_load_mem(yaml, len, "t.yaml", &p, &e), -1);
    assert_null(p);
    assert_int_equal(e.kind, HILT_E_INPUT);
    assert_int_equal(hilt_err_exit_code(&e), 2);
    if (!strstr(e.msg, frag1) || (frag2 && !strstr(e.msg, frag2)))
        fail_msg("message '%s' lacks '%s' / '%s'", e.msg, frag1, frag2 ? frag2 : "");
}

#define FAILS(yaml, f1, f2) load_fails(yaml, strlen(yaml), f1, f2)

static const char *ciph(uint16_t code)
{
    const struct hilt_cipher *c = hilt_cipher_by_code(code);
    return c ? hilt_cipher_name(c) : "?";
}

static const struct hilt_profile *builtin(const char *name)
{
    struct hilt_err e = {0};
    const struct hilt_policy *b = hilt_policy_builtin(&e);
    if (!b) fail_msg("built-ins: %s", e.msg);
    const struct hilt_profile *p = hilt_policy_profile(b, name);
    assert_non_null(p);
    return p;
}

static void assert_ciphers(const struct hilt_u16list *l, const char *const *names, size_t n)
{
    assert_int_equal(l->n, n);
    for (size_t i = 0; i < n; i++) {
        const struct hilt_cipher *c = hilt_cipher_by_name(names[i]);
        assert_non_null(c);
        if (l->v[i] != c->code) fail_msg("position %zu: %s, wanted %s", i, ciph(l->v[i]), names[i]);
    }
}

static char *render(const struct hilt_profile *p, const char *target)
{
    struct hilt_buf b;
    struct hilt_err e = {0};
    hilt_buf_init(&b, 1 << 20);
    assert_int_equal(hilt_policy_render(p, target, &b, &e), 0);
    char *s = strdup(hilt_buf_cstr(&b));
    hilt_buf_free(&b);
    return s;
}

#define CONTAINS(hay, needle)                                                                      \
    do {                                                                                           \
        if (!strstr((hay), (needle))) fail_msg("output lacks '%s':\n%s", (needle), (hay));         \
    } while (0)
#define LACKS(hay, needle)                                                                         \
    do {                                                                                           \
        if (strstr((hay), (needle))) fail_msg("output has '%s':\n%s", (needle), (hay));            \
    } while (0)

/* ---- vocabulary ------------------------------------------------------------ */

static void cipher_names_map_both_ways(void **st)
{
    (void)st;
    const struct hilt_cipher *c = hilt_cipher_by_name("ECDHE-RSA-AES128-GCM-SHA256");
    assert_non_null(c);
    assert_int_equal(c->code, 0xC02F);
    assert_string_equal(c->iana, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    c = hilt_cipher_by_name("tls_ecdhe_rsa_with_aes_128_gcm_sha256"); /* case-insensitive */
    assert_non_null(c);
    assert_string_equal(c->openssl, "ECDHE-RSA-AES128-GCM-SHA256");
    assert_ptr_equal(hilt_cipher_by_code(0xC02F), c);
    assert_string_equal(hilt_cipher_by_name("DES-CBC3-SHA")->iana, "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
    assert_int_equal(hilt_cipher_by_name("TLS_AES_256_GCM_SHA384")->code, 0x1302);
    assert_null(hilt_cipher_by_name("ECDHE-RSA-AES128-GCM-SHA255"));
    assert_string_equal(hilt_cipher_suggest("ECDHE-RSA-AES128-GCM-SHA255", 0),
                        "ECDHE-RSA-AES128-GCM-SHA256");
    assert_null(hilt_cipher_suggest("completely-unrelated-name", 0));
    assert_null(hilt_cipher_by_code(0x0000 + 0xFFFF));
}

/* Every suite the linked OpenSSL 3 knows is in the table with the same names. */
static void table_covers_openssl(void **st)
{
    (void)st;
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_set_cipher_list(ctx, "ALL:COMPLEMENTOFALL:@SECLEVEL=0"), 1);
    SSL *ssl = SSL_new(ctx);
    STACK_OF(SSL_CIPHER) *sk = SSL_get_ciphers(ssl);
    int n = sk_SSL_CIPHER_num(sk);
    assert_true(n > 100);
    for (int i = 0; i < n; i++) {
        const SSL_CIPHER *sc = sk_SSL_CIPHER_value(sk, i);
        uint16_t code = (uint16_t)(SSL_CIPHER_get_id(sc) & 0xFFFF);
        const struct hilt_cipher *c = hilt_cipher_by_code(code);
        if (!c) fail_msg("OpenSSL suite %s (0x%04X) missing", SSL_CIPHER_get_name(sc), code);
        assert_string_equal(c->openssl, SSL_CIPHER_get_name(sc));
        assert_string_equal(c->iana, SSL_CIPHER_standard_name(sc));
        assert_true(c->flags & HILT_CF_OSSL3);
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
}

static void table_has_legacy_suites(void **st)
{
    (void)st;
    size_t n;
    const struct hilt_cipher *t = hilt_cipher_table(&n);
    assert_true(n >= 350);
    for (size_t i = 1; i < n; i++)
        assert_true(t[i - 1].code < t[i].code); /* bsearch needs it */
    static const struct {
        const char *name;
        uint32_t flag;
    } want[] = {
        {"RC4-SHA", HILT_CF_RC4},
        {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", HILT_CF_3DES},
        {"EXP-RC4-MD5", HILT_CF_EXPORT},
        {"TLS_RSA_EXPORT_WITH_DES40_CBC_SHA", HILT_CF_EXPORT},
        {"NULL-SHA", HILT_CF_NULL},
        {"ADH-AES128-SHA", HILT_CF_ANON},
        {"TLS_ECDH_anon_WITH_AES_128_CBC_SHA", HILT_CF_ANON},
        {"AES128-SHA", HILT_CF_CBC},
        {"ECDHE-ECDSA-AES128-CCM", HILT_CF_CCM},
        {"ECDHE-ECDSA-AES128-CCM8", HILT_CF_CCM8},
        {"TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256", HILT_CF_ARIA},
        {"CAMELLIA256-SHA", HILT_CF_CAMELLIA},
        {"TLS_AES_128_CCM_8_SHA256", HILT_CF_TLS13},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct hilt_cipher *c = hilt_cipher_by_name(want[i].name);
        if (!c) fail_msg("%s missing", want[i].name);
        if (!(c->flags & want[i].flag)) fail_msg("%s lacks its flag", want[i].name);
    }
    assert_false(hilt_cipher_by_name("RC4-SHA")->flags & HILT_CF_OSSL3);
    assert_true(hilt_cipher_by_name("ECDHE-RSA-AES128-GCM-SHA256")->flags & HILT_CF_FS);
    assert_false(hilt_cipher_by_name("AES128-GCM-SHA256")->flags & HILT_CF_FS);
    for (size_t i = 0; i < n; i++)
        if (t[i].flags & HILT_CF_TLS13) assert_int_equal(t[i].min_version, HILT_TLS13);
}

static void versions_groups_sigalgs(void **st)
{
    (void)st;
    enum hilt_tls_version v;
    assert_int_equal(hilt_tls_version_parse("TLSv1", &v), 0);
    assert_int_equal(v, HILT_TLS10);
    assert_int_equal(hilt_tls_version_parse("tlsv1.3", &v), 0);
    assert_int_equal(v, HILT_TLS13);
    assert_int_equal(hilt_tls_version_parse("TLSv1.4", &v), -1);
    assert_string_equal(hilt_tls_version_name(HILT_TLS10), "TLSv1.0");
    assert_int_equal(hilt_tls_version_wire(HILT_SSL3), 0x0300);
    assert_int_equal(hilt_tls_version_from_wire(0x0304, &v), 0);
    assert_int_equal(v, HILT_TLS13);
    assert_int_equal(hilt_group_by_name("prime256v1")->code, 23);
    assert_int_equal(hilt_group_by_name("P-256")->code, 23);
    assert_int_equal(hilt_group_by_name("secp256r1")->code, 23);
    assert_int_equal(hilt_group_by_name("X25519")->code, 29);
    assert_int_equal(hilt_group_by_name("ffdhe2048")->code, 256);
    assert_int_equal(hilt_group_by_name("X25519MLKEM768")->code, 0x11EC);
    assert_null(hilt_group_by_name("P-255"));
    assert_int_equal(hilt_sigalg_by_name("ecdsa_secp256r1_sha256")->code, 0x0403);
    assert_int_equal(hilt_sigalg_by_name("rsa_pss_rsae_sha256")->code, 0x0804);
    assert_null(hilt_sigalg_by_name("ECDSA+SHA256"));
    assert_string_equal(hilt_eku_canonical("serverauth"), "serverAuth");
    assert_non_null(hilt_eku_canonical("1.3.6.1.5.5.7.3.1"));
    assert_null(hilt_eku_canonical("1..3"));
    assert_null(hilt_eku_canonical("server"));
}

/* ---- built-in profiles ------------------------------------------------------ */

static const char *const tls13_three[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                          "TLS_CHACHA20_POLY1305_SHA256"};

static void builtin_modern(void **st)
{
    (void)st;
    const struct hilt_profile *p = builtin("modern");
    assert_int_equal(p->versions, HILT_VERSION_BIT(HILT_TLS13));
    assert_int_equal(p->ciphers.n, 0);
    assert_ciphers(&p->tls13_ciphersuites, tls13_three, 3);
    assert_int_equal(p->groups.n, 3);
    assert_int_equal(p->groups.v[0], 29);
    assert_int_equal(p->groups.v[1], 23);
    assert_int_equal(p->groups.v[2], 24);
    assert_int_equal(p->certificate.key_types, HILT_KEYTYPE_ECDSA);
    assert_int_equal(p->certificate.ecdsa_curves.n, 2);
    assert_int_equal(p->certificate.max_lifetime_days, 90);
    assert_true(p->certificate.ocsp_stapling);
    assert_false(p->server_preference);
    assert_int_equal(p->client_certificate.mode, HILT_CLIENT_CERT_NONE);
}

static void builtin_intermediate(void **st)
{
    (void)st;
    const struct hilt_profile *p = builtin("intermediate");
    assert_int_equal(p->versions, HILT_VERSION_BIT(HILT_TLS12) | HILT_VERSION_BIT(HILT_TLS13));
    static const char *const want[] = {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    };
    assert_ciphers(&p->ciphers, want, 6);
    assert_ciphers(&p->tls13_ciphersuites, tls13_three, 3);
    assert_int_equal(p->groups.n, 3);
    assert_int_equal(p->certificate.key_types, HILT_KEYTYPE_RSA | HILT_KEYTYPE_ECDSA);
    assert_int_equal(p->certificate.rsa_min_bits, 2048);
    assert_int_equal(p->certificate.max_lifetime_days, 366);
    assert_int_equal(p->dh_min_bits, 2048);
    assert_false(p->server_preference);
}

static void builtin_old(void **st)
{
    (void)st;
    const struct hilt_profile *p = builtin("old");
    assert_int_equal(p->versions, HILT_VERSION_BIT(HILT_TLS10) | HILT_VERSION_BIT(HILT_TLS11) |
                                      HILT_VERSION_BIT(HILT_TLS12) | HILT_VERSION_BIT(HILT_TLS13));
    assert_int_equal(p->ciphers.n, 26);
    assert_string_equal(ciph(p->ciphers.v[0]), "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
    assert_string_equal(ciph(p->ciphers.v[6]), "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256");
    assert_string_equal(ciph(p->ciphers.v[24]), "TLS_RSA_WITH_AES_256_CBC_SHA");
    assert_string_equal(ciph(p->ciphers.v[25]), "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
    assert_true(p->server_preference);
    assert_int_equal(p->certificate.key_types, HILT_KEYTYPE_RSA);
    assert_int_equal(p->dh_min_bits, 1024);
}

static void builtin_hilt_defaults(void **st)
{
    (void)st;
    const struct hilt_profile *pw = builtin("public-web"), *im = builtin("intermediate");
    assert_string_equal(pw->extends, "intermediate");
    assert_int_equal(pw->versions, im->versions);
    assert_int_equal(pw->ciphers.n, im->ciphers.n);
    assert_memory_equal(pw->ciphers.v, im->ciphers.v, im->ciphers.n * sizeof(uint16_t));
    assert_int_equal(pw->certificate.max_lifetime_days, 200);
    assert_int_equal(pw->certificate.rsa_min_bits, 2048); /* inherited inside certificate: */
    assert_false(pw->certificate.ocsp_stapling);
    assert_int_equal(pw->certificate.required_eku.n, 1);

    const struct hilt_profile *iot = builtin("iot");
    assert_int_equal(iot->versions, HILT_VERSION_BIT(HILT_TLS12));
    assert_int_equal(iot->tls13_ciphersuites.n, 0);
    assert_int_equal(iot->certificate.key_types, HILT_KEYTYPE_ECDSA);
    int ccm = 0, ccm8 = 0, gcm = 0;
    for (size_t i = 0; i < iot->ciphers.n; i++) {
        const struct hilt_cipher *c = hilt_cipher_by_code(iot->ciphers.v[i]);
        assert_string_equal(c->au, "ECDSA");
        ccm += !!(c->flags & HILT_CF_CCM);
        ccm8 += !!(c->flags & HILT_CF_CCM8);
        gcm += !!(c->flags & HILT_CF_GCM);
    }
    assert_true(ccm && ccm8 && gcm);
    assert_int_equal(iot->signature_algorithms.n, 1);

    const struct hilt_profile *pa = builtin("partner");
    assert_int_equal(pa->client_certificate.mode, HILT_CLIENT_CERT_REQUIRED);
    assert_int_equal(pa->ciphers.n, 10);
    assert_true(pa->server_preference);
    const struct hilt_profile *ia = builtin("internal-api");
    assert_int_equal(ia->certificate.max_lifetime_days, 30);

    struct hilt_err e = {0};
    const struct hilt_policy *b = hilt_policy_builtin(&e);
    assert_int_equal(b->nprofiles, 7);
    assert_int_equal(b->nenvironments, 4);
    assert_string_equal(hilt_policy_environment(b, "iot")->profile, "iot");
}

/* ---- loader ---------------------------------------------------------------- */

static void extends_resolution(void **st)
{
    (void)st;
    struct hilt_policy *p = load_ok("version: 1\n"
                                    "profiles:\n"
                                    "  base:\n"
                                    "    description: base\n"
                                    "    versions: [TLSv1.2, TLSv1.3]\n"
                                    "    ciphers: [ECDHE-RSA-AES128-GCM-SHA256, "
                                    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\n"
                                    "    tls13_ciphersuites: [TLS_AES_128_GCM_SHA256]\n"
                                    "    certificate:\n"
                                    "      key_types: [rsa]\n"
                                    "      rsa_min_bits: 2048\n"
                                    "      max_lifetime_days: 90\n"
                                    "  child:\n"
                                    "    extends: base\n"
                                    "    certificate:\n"
                                    "      rsa_min_bits: 4096\n"
                                    "  only13:\n"
                                    "    extends: child\n"
                                    "    versions: [TLSv1.3]\n"
                                    "  fromcore:\n"
                                    "    extends: modern\n"
                                    "    certificate: {max_lifetime_days: 30}\n");
    const struct hilt_profile *child = hilt_policy_profile(p, "child");
    assert_non_null(child);
    assert_null(child->description); /* descriptions are not inherited */
    assert_int_equal(child->ciphers.n, 2);
    assert_int_equal(child->ciphers.v[1], 0xC030);
    assert_int_equal(child->certificate.rsa_min_bits, 4096);
    assert_int_equal(child->certificate.max_lifetime_days, 90); /* sibling field kept */
    assert_int_equal(child->certificate.key_types, HILT_KEYTYPE_RSA);
    const struct hilt_profile *o13 = hilt_policy_profile(p, "only13");
    assert_int_equal(o13->versions, HILT_VERSION_BIT(HILT_TLS13));
    assert_int_equal(o13->ciphers.n, 0); /* inherited TLS 1.2 list no longer applies */
    assert_int_equal(o13->certificate.rsa_min_bits, 4096);
    const struct hilt_profile *fc = hilt_policy_profile(p, "fromcore");
    assert_int_equal(fc->certificate.max_lifetime_days, 30);
    assert_int_equal(fc->certificate.key_types, HILT_KEYTYPE_ECDSA);
    assert_string_equal(fc->extends, "modern");
    assert_true(strstr(fc->origin, "t.yaml:19:3") != NULL);
    /* Lookup falls back to the built-ins; the file's own names come first. */
    struct hilt_err e = {0};
    assert_ptr_equal(hilt_profile_find(p, "child", &e), child);
    assert_non_null(hilt_profile_find(p, "intermediate", &e));
    assert_null(hilt_profile_find(p, "nope", &e));
    assert_int_equal(e.kind, HILT_E_USAGE);
    assert_non_null(strstr(e.msg, "unknown profile 'nope'"));
    hilt_policy_free(&p);
    assert_null(p);

    /* A profile named like a built-in shadows it within the file. */
    p = load_ok(
        "profiles:\n  modern:\n    versions: [TLSv1.2]\n    ciphers: [AES128-GCM-SHA256]\n");
    assert_int_equal(hilt_profile_find(p, "modern", &e)->versions, HILT_VERSION_BIT(HILT_TLS12));
    hilt_policy_free(&p);
}

static void extends_errors(void **st)
{
    (void)st;
    FAILS("profiles:\n  a:\n    extends: a\n", "t.yaml:3:14: profiles.a.extends: cycle: a -> a",
          NULL);
    FAILS("profiles:\n  a:\n    extends: b\n  b:\n    extends: c\n  c:\n    extends: a\n",
          "t.yaml:7:14: profiles.c.extends: cycle: a -> b -> c -> a", NULL);
    FAILS("profiles:\n  a:\n    extends: missing\n",
          "t.yaml:3:14: profiles.a.extends: unknown profile 'missing'", "intermediate");
    FAILS("profiles:\n  a:\n    extends: [x]\n", "t.yaml:3:14: profiles.a.extends",
          "expected a string");
    /* A long but acyclic chain is bounded. */
    char y[4096] = "profiles:\n  p0:\n    extends: modern\n";
    for (int i = 1; i <= 20; i++) {
        size_t l = strlen(y);
        snprintf(y + l, sizeof(y) - l, "  p%d:\n    extends: p%d\n", i, i - 1);
    }
    FAILS(y, "chain is longer than 16 profiles", NULL);
    /* The same chain written children-first. */
    strcpy(y, "profiles:\n");
    for (int i = 20; i >= 1; i--) {
        size_t l = strlen(y);
        snprintf(y + l, sizeof(y) - l, "  p%d:\n    extends: p%d\n", i, i - 1);
    }
    strcat(y, "  p0:\n    extends: modern\n");
    FAILS(y, "chain is longer than 16 profiles", NULL);
}

static void field_errors(void **st)
{
    (void)st;
    FAILS("version: 1\nprofiles:\n  web:\n    extends: intermediate\n    ciphers:\n"
          "      - ECDHE-ECDSA-AES128-GCM-SHA256\n      - ECDHE-RSA-AES128-GCM-SHA256\n"
          "      - ECDHE-ECDSA-AES256-GCM-SHA384\n      - ECDHE-RSA-AES128-GCM-SHA255\n",
          "t.yaml:9:9: profiles.web.ciphers[3]: unknown cipher 'ECDHE-RSA-AES128-GCM-SHA255'",
          "did you mean 'ECDHE-RSA-AES128-GCM-SHA256'");
    FAILS("profiles:\n  a:\n    extends: modern\n    cipher: []\n",
          "t.yaml:4:5: profiles.a: unknown key 'cipher' (did you mean 'ciphers'?)", NULL);
    FAILS("profiles:\n  a:\n    extends: modern\n    certificate:\n      lifetime: 3\n",
          "t.yaml:5:7: profiles.a.certificate: unknown key 'lifetime'", "max_lifetime_days");
    FAILS("profiles:\n  a:\n    extends: modern\n    server_preference: maybe\n",
          "t.yaml:4:24: profiles.a.server_preference: expected true or false, got 'maybe'", NULL);
    FAILS("profiles:\n  a:\n    extends: modern\n    server_preference: \"true\"\n",
          "profiles.a.server_preference: expected true or false", NULL);
    FAILS("profiles:\n  a:\n    extends: modern\n    versions: TLSv1.3\n",
          "t.yaml:4:15: profiles.a.versions: expected a list of protocol versions, got a scalar",
          NULL);
    FAILS("profiles:\n  a:\n    versions: [TLSv1.2, TLSv1.5]\n",
          "t.yaml:3:25: profiles.a.versions[1]: unknown protocol version 'TLSv1.5'", NULL);
    FAILS("profiles:\n  a:\n    extends: modern\n    certificate:\n      max_lifetime_days: "
          "99999999\n",
          "profiles.a.certificate.max_lifetime_days", "out of range");
    FAILS("profiles:\n  a:\n    extends: modern\n    certificate:\n      rsa_min_bits: -1\n",
          "profiles.a.certificate.rsa_min_bits: expected a whole number", NULL);
    FAILS("profiles:\n  a:\n    extends: modern\n    groups: [X25519, P-999]\n",
          "t.yaml:4:22: profiles.a.groups[1]: unknown group 'P-999'", NULL);
    FAILS("profiles:\n  a:\n    extends: modern\n    signature_algorithms: [ECDSA+SHA256]\n",
          "profiles.a.signature_algorithms[0]: unknown signature algorithm", NULL);
    FAILS("profiles:\n  a:\n    extends: intermediate\n    ciphers: [TLS_AES_128_GCM_SHA256]\n",
          "profiles.a.ciphers[0]: 'TLS_AES_128_GCM_SHA256' is a TLS 1.3 suite", NULL);
    FAILS("profiles:\n  a:\n    extends: modern\n    tls13_ciphersuites: [AES128-SHA]\n",
          "profiles.a.tls13_ciphersuites[0]: 'AES128-SHA' is not a TLS 1.3 suite", NULL);
    FAILS("profiles:\n  a:\n    extends: intermediate\n    ciphers: "
          "\"ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA\"\n",
          "expected a list, got the string", "one cipher per list item");
    FAILS("profiles:\n  a:\n    extends: intermediate\n    ciphers: [AES128-SHA, AES128-SHA]\n",
          "profiles.a.ciphers[1]: 'AES128-SHA' is listed twice", NULL);
    FAILS("profiles:\n  a:\n    versions: [TLSv1.2]\n",
          "t.yaml:2:3: profiles.a: TLSv1.2 or older is enabled but ciphers is empty", NULL);
    FAILS("profiles:\n  a:\n    versions: [TLSv1.3]\n    ciphers: [AES128-SHA]\n",
          "t.yaml:4:5: profiles.a: ciphers are listed but no TLSv1.2 or older version", NULL);
    FAILS("profiles:\n  a:\n    extends: modern\n    client_certificate:\n      mode: sometimes\n",
          "profiles.a.client_certificate.mode: expected none, optional or required", NULL);
    FAILS("profiles:\n  a:\n    extends: modern\n    client_certificate:\n      ca_file: x.pem\n",
          "mode is none", NULL);
    FAILS("profiles:\n  a:\n    extends: modern\n    certificate:\n      required_eku: [bogus]\n",
          "unknown extended key usage 'bogus'", NULL);
    FAILS(
        "profiles:\n  a:\n    extends: modern\n    certificate:\n      key_types: [rsa, elgamal]\n",
        "profiles.a.certificate.key_types[1]: unknown key type 'elgamal'", NULL);
    FAILS("profiles:\n  a:\n    extends: modern\n  a:\n    extends: modern\n",
          "t.yaml:4:3: profiles: duplicate key 'a' (first at line 2)", NULL);
    FAILS("profiles:\n  'bad name':\n    extends: modern\n", "not a valid profile name", NULL);
    FAILS("profile:\n  a: {}\n", "t.yaml:1:1: unknown key 'profile' (did you mean 'profiles'?)",
          NULL);
    FAILS("version: 2\nprofiles: {}\n", "t.yaml:1:10: version: 2 is out of range", NULL);
    FAILS("profiles:\n  a: [1, 2]\n", "t.yaml:2:6: profiles.a: expected a mapping", NULL);
}

static void environments(void **st)
{
    (void)st;
    struct hilt_policy *p = load_ok("profiles:\n"
                                    "  web:\n    extends: intermediate\n"
                                    "environments:\n"
                                    "  shop:\n"
                                    "    profile: web\n"
                                    "    description: the shop\n"
                                    "    endpoints: ['*.shop.example.com', 'pay.example.com:8443', "
                                    "'[::1]:*']\n"
                                    "  devices: iot\n");
    assert_int_equal(p->nenvironments, 2);
    assert_string_equal(p->environments[1].profile, "iot");
    assert_ptr_equal(hilt_policy_match_endpoint(p, "WWW.shop.example.com", 443),
                     &p->environments[0]);
    assert_ptr_equal(hilt_policy_match_endpoint(p, "pay.example.com", 8443), &p->environments[0]);
    assert_null(hilt_policy_match_endpoint(p, "pay.example.com", 443));
    assert_ptr_equal(hilt_policy_match_endpoint(p, "::1", 9), &p->environments[0]);
    assert_null(hilt_policy_match_endpoint(p, "example.org", 443));
    json_t *j = hilt_policy_json(p);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "environments"), 0), "profile")),
                        "web");
    json_decref(j);
    hilt_policy_free(&p);
    assert_true(hilt_endpoint_match("10.1.*.*:*", "10.1.2.3", 1));
    assert_false(hilt_endpoint_match("api.example.com", "api.example.com.evil", 443));

    FAILS("environments:\n  prod: nosuch\n",
          "t.yaml:2:9: environments.prod.profile: unknown profile 'nosuch'", NULL);
    FAILS("environments:\n  prod:\n    profile: modern\n    endpoints: ['a b']\n",
          "environments.prod.endpoints[0]: 'a b' is not an endpoint pattern", NULL);
    FAILS("environments:\n  prod:\n    profile: modern\n    endpoints: ['x:99999']\n",
          "is not an endpoint pattern", NULL);
    FAILS("environments:\n  prod:\n    endpoints: ['x']\n", "environment 'prod' names no profile",
          NULL);
    FAILS("environments:\n  prod:\n    profile: modern\n    owner: me\n",
          "t.yaml:4:5: environments.prod: unknown key 'owner'", NULL);
}

static void yaml_errors_and_bounds(void **st)
{
    (void)st;
    FAILS("profiles:\n  a: [\n", "t.yaml:3:1: YAML syntax error", NULL);
    FAILS("profiles:\n  a:\n    versions: [TLSv1.2\n    ciphers: x\n",
          "t.yaml:", "YAML syntax error");
    FAILS("profiles:\n\ta: {}\n", "t.yaml:2:1: YAML syntax error", NULL);
    FAILS("", "t.yaml:1:1: empty policy", NULL);
    FAILS("# only a comment\n", "empty policy", NULL);
    FAILS("- a\n- b\n", "t.yaml:1:1: expected a mapping", NULL);
    FAILS("profiles: {}\n---\nprofiles: {}\n", "only one YAML document", NULL);
    FAILS("x: &a [1]\nprofiles:\n  a:\n    versions: *a\n", "YAML aliases", NULL);
    FAILS("profiles:\n  a:\n    description: \"nul\\0here\"\n", "NUL byte", NULL);
    load_fails("profiles:\0\n", 11, "t.yaml:", NULL); /* a raw NUL is not YAML */
    /* Nesting and node-count bounds. */
    char deep[256] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    FAILS(deep, "nested deeper than 16 levels", NULL);
    size_t n = HILT_POLICY_MAX_NODES + 10, len = 0;
    char *many = malloc(n * 3 + 16);
    len += (size_t)sprintf(many, "x: [");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(many + len, "1,");
    len += (size_t)sprintf(many + len, "1]\n");
    load_fails(many, len, "more than 50000 YAML nodes", NULL);
    free(many);
    /* Size bound, before any parsing. */
    size_t big = HILT_POLICY_MAX_BYTES + 1;
    char *b = malloc(big);
    memset(b, '#', big);
    load_fails(b, big, "over the limit", NULL);
    free(b);
}

static void load_file_errors(void **st)
{
    (void)st;
    struct hilt_err e = {0};
    struct hilt_policy *p = NULL;
    assert_int_equal(hilt_policy_load_file("/nonexistent/policy.yaml", &p, &e), -1);
    assert_int_equal(hilt_err_exit_code(&e), 2);
    assert_non_null(strstr(e.msg, "/nonexistent/policy.yaml"));
    char path[] = "/tmp/hilt-test-policy-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *y = "profiles:\n  x:\n    extends: iot\n";
    assert_int_equal(write(fd, y, strlen(y)), (ssize_t)strlen(y));
    close(fd);
    assert_int_equal(hilt_policy_load_file(path, &p, &e), 0);
    assert_string_equal(p->source, path);
    assert_non_null(strstr(p->profiles[0].origin, path));
    hilt_policy_free(&p);
    unlink(path);
}

static void profile_json(void **st)
{
    (void)st;
    json_t *j = hilt_profile_json(builtin("intermediate"));
    assert_string_equal(json_string_value(json_object_get(j, "name")), "intermediate");
    json_t *c0 = json_array_get(json_object_get(j, "ciphers"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "name")),
                        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
    assert_string_equal(json_string_value(json_object_get(c0, "code")), "0xC02B");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "versions"), 0)),
                        "TLSv1.2");
    json_t *g0 = json_array_get(json_object_get(j, "groups"), 0);
    assert_string_equal(json_string_value(json_object_get(g0, "name")), "x25519");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "certificate"), "max_lifetime_days")),
        366);
    json_decref(j);
}

static void profile_queries(void **st)
{
    (void)st;
    const struct hilt_profile *m = builtin("modern"), *i = builtin("intermediate");
    assert_true(hilt_profile_allows_version(m, HILT_TLS13));
    assert_false(hilt_profile_allows_version(m, HILT_TLS12));
    assert_true(hilt_profile_allows_cipher(m, HILT_TLS13, 0x1301));
    assert_false(hilt_profile_allows_cipher(m, HILT_TLS12, 0xC02F));
    assert_true(hilt_profile_allows_cipher(i, HILT_TLS12, 0xC02F));
    assert_false(hilt_profile_allows_cipher(i, HILT_TLS12, 0x002F));
    assert_true(hilt_profile_allows_group(i, 29));
    assert_false(hilt_profile_allows_group(i, 25));
    assert_true(hilt_profile_allows_sigalg(i, 0x0201)); /* unconstrained */
    assert_false(hilt_profile_allows_sigalg(builtin("iot"), 0x0804));
    assert_int_equal(hilt_profile_min_version(i), HILT_TLS12);
    assert_int_equal(hilt_profile_max_version(i), HILT_TLS13);
    assert_true(hilt_profile_versions_contiguous(builtin("old")));
}

/* ---- renderers ---------------------------------------------------------------- */

static void render_nginx_haproxy(void **st)
{
    (void)st;
    char *s = render(builtin("intermediate"), "nginx");
    CONTAINS(s, "ssl_protocols TLSv1.2 TLSv1.3;\n");
    CONTAINS(s, "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;\n");
    CONTAINS(s, "ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                "TLS_CHACHA20_POLY1305_SHA256;\n");
    CONTAINS(s, "ssl_ecdh_curve X25519:prime256v1:secp384r1;\n");
    CONTAINS(s, "ssl_prefer_server_ciphers off;\n");
    CONTAINS(s, "ssl_stapling on;\n");
    CONTAINS(s, "# - certificate rules (key types rsa ecdsa; RSA >= 2048 bits");
    LACKS(s, "SECLEVEL");
    free(s);
    s = render(builtin("modern"), "nginx");
    CONTAINS(s, "ssl_protocols TLSv1.3;\n");
    LACKS(s, "ssl_ciphers");
    free(s);
    s = render(builtin("old"), "nginx");
    CONTAINS(s, "ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;\n");
    CONTAINS(s, ":DES-CBC3-SHA:@SECLEVEL=0;\n");
    CONTAINS(s, "does not implement DES-CBC3-SHA");
    CONTAINS(s, "ssl_dhparam");
    CONTAINS(s, "ssl_prefer_server_ciphers on;\n");
    free(s);
    s = render(builtin("partner"), "nginx");
    CONTAINS(s, "# ssl_verify_client on;\n"); /* no CA file: commented out, and said why */
    CONTAINS(s, "names no client_certificate.ca_file");
    free(s);

    s = render(builtin("intermediate"), "haproxy");
    CONTAINS(s, "global\n    ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:");
    CONTAINS(s, "    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                "TLS_CHACHA20_POLY1305_SHA256\n");
    CONTAINS(s, "    ssl-default-bind-options ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 "
                "prefer-client-ciphers\n");
    CONTAINS(s, "    ssl-default-bind-curves X25519:prime256v1:secp384r1\n");
    CONTAINS(s, "#   bind :443 ssl crt /etc/haproxy/certs/site.pem ssl-min-ver TLSv1.2 ssl-max-ver "
                "TLSv1.3 prefer-client-ciphers ciphers ");
    CONTAINS(s, ".ocsp");
    free(s);
    s = render(builtin("iot"), "haproxy");
    CONTAINS(s, "ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.2\n");
    CONTAINS(s, "no sigalgs keyword");
    LACKS(s, "ciphersuites");
    free(s);
}

static void render_other_targets(void **st)
{
    (void)st;
    char *s = render(builtin("intermediate"), "apache");
    CONTAINS(s, "SSLProtocol -all +TLSv1.2 +TLSv1.3\n");
    CONTAINS(s, "SSLCipherSuite ECDHE-ECDSA-AES128-GCM-SHA256:");
    CONTAINS(s, "SSLCipherSuite TLSv1.3 TLS_AES_128_GCM_SHA256:");
    CONTAINS(s, "SSLOpenSSLConfCmd Groups X25519:prime256v1:secp384r1\n");
    CONTAINS(s, "SSLHonorCipherOrder off\n");
    CONTAINS(s, "SSLUseStapling On\n");
    free(s);

    s = render(builtin("modern"), "openssl");
    CONTAINS(s, "[system_default_sect]\nMinProtocol = TLSv1.3\nMaxProtocol = TLSv1.3\n");
    CONTAINS(s, "Ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                "TLS_CHACHA20_POLY1305_SHA256\n");
    CONTAINS(s, "Groups = X25519:prime256v1:secp384r1\n");
    LACKS(s, "CipherString");
    CONTAINS(s, "OCSP stapling is set by each server program");
    free(s);

    s = render(builtin("iot"), "java");
    CONTAINS(s, "jdk.tls.disabledAlgorithms=SSLv3, TLSv1, TLSv1.1, TLSv1.3, DTLSv1.0, RC4, DES, "
                "3DES_EDE_CBC, NULL, anon, ECDH, MD5withRSA");
    CONTAINS(s, "# -Djdk.tls.server.protocols=TLSv1.2\n");
    CONTAINS(s, "# -Djdk.tls.client.protocols=TLSv1.2\n# -Dhttps.protocols=TLSv1.2\n");
    CONTAINS(s, "# -Djdk.tls.server.cipherSuites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,"
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n");
    CONTAINS(s, "Java (SunJSSE) cannot name these ciphers, so they are left out: "
                "TLS_ECDHE_ECDSA_WITH_AES_128_CCM");
    CONTAINS(s, "# -Djdk.tls.namedGroups=secp256r1,x25519\n");
    CONTAINS(s, "# -Djdk.tls.server.SignatureSchemes=ecdsa_secp256r1_sha256\n");
    free(s);
    s = render(builtin("old"), "java");
    LACKS(s, ", 3DES_EDE_CBC,"); /* old allows 3DES, so Java must not disable it */
    CONTAINS(s, "-Djdk.tls.ephemeralDHKeySize=2048");
    free(s);

    s = render(builtin("iot"), "stunnel");
    CONTAINS(s, "; Generated by hilt");
    CONTAINS(s, "sslVersionMin = TLSv1.2\nsslVersionMax = TLSv1.2\n");
    CONTAINS(s, "ciphers = ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                "ECDHE-ECDSA-AES128-CCM:ECDHE-ECDSA-AES256-CCM:ECDHE-ECDSA-AES128-CCM8\n");
    CONTAINS(s, "curves = prime256v1:X25519\n");
    CONTAINS(s, "config = SignatureAlgorithms:ecdsa_secp256r1_sha256\n");
    CONTAINS(s, "options = CIPHER_SERVER_PREFERENCE\n");
    free(s);
}

static void render_envoy_is_yaml(void **st)
{
    (void)st;
    const char *names[] = {"modern", "intermediate", "old", "partner", "iot"};
    for (size_t i = 0; i < 5; i++) {
        char *s = render(builtin(names[i]), "envoy");
        struct yt_node *root = NULL;
        struct hilt_err e = {0};
        struct yt_limits lim = {1 << 20, 16, 10000, 4096};
        if (yt_parse(s, strlen(s), "envoy", &lim, &root, &e) < 0)
            fail_msg("%s: %s\n%s", names[i], e.msg, s);
        assert_non_null(root);
        assert_int_equal(root->type, YT_MAP);
        assert_string_equal(root->kids[0]->str, "common_tls_context");
        yt_free(&root);
        free(s);
    }
    char *s = render(builtin("old"), "envoy");
    CONTAINS(
        s,
        "    tls_minimum_protocol_version: TLSv1_0\n    tls_maximum_protocol_version: TLSv1_3\n");
    CONTAINS(s, "BoringSSL (Envoy) cannot name these ciphers, so they are left out: "
                "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256");
    CONTAINS(s, "    - \"ECDHE-ECDSA-AES128-GCM-SHA256\"\n");
    CONTAINS(s, "    ecdh_curves:\n    - \"X25519\"\n    - \"P-256\"\n    - \"P-384\"\n");
    CONTAINS(s, "ocsp_staple_policy: MUST_STAPLE");
    free(s);
}

static void render_gaps_and_errors(void **st)
{
    (void)st;
    struct hilt_policy *p =
        load_ok("profiles:\n"
                "  gap:\n"
                "    versions: [TLSv1.0, TLSv1.2]\n"
                "    ciphers: [ECDHE-RSA-AES128-SHA, TLS_RSA_WITH_RC4_128_SHA, "
                "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256, TLS_DH_DSS_WITH_ARIA_128_CBC_SHA256]\n"
                "    client_certificate:\n"
                "      mode: optional\n"
                "      ca_file: /etc/ca.pem\n"
                "      subjects: ['CN=*.partner.example']\n");
    const struct hilt_profile *g = hilt_policy_profile(p, "gap");
    assert_false(hilt_profile_versions_contiguous(g));
    char *s = render(g, "haproxy");
    CONTAINS(s, "ssl-min-ver TLSv1.0 ssl-max-ver TLSv1.2 no-tlsv11");
    CONTAINS(s, "verify optional ca-file /etc/ca.pem");
    CONTAINS(s, "client certificate issuer/subject rules");
    CONTAINS(s, "does not implement RC4-SHA");
    free(s);
    s = render(g, "nginx");
    CONTAINS(s, "ssl_protocols TLSv1 TLSv1.2;\n");
    CONTAINS(s, "ssl_verify_client optional;\nssl_client_certificate /etc/ca.pem;\n");
    CONTAINS(s, "OpenSSL cannot name these ciphers, so they are left out: "
                "TLS_DH_DSS_WITH_ARIA_128_CBC_SHA256");
    free(s);
    s = render(g, "envoy");
    CONTAINS(s, "the versions missing inside TLSv1_0..TLSv1_2 stay enabled");
    free(s);
    s = render(g, "stunnel");
    CONTAINS(s, "options = NO_TLSv1_1\n");
    free(s);
    s = render(g, "openssl");
    CONTAINS(s, "VerifyMode = Request\nVerifyCAFile = /etc/ca.pem\n");
    free(s);

    struct hilt_buf b;
    struct hilt_err e = {0};
    hilt_buf_init(&b, 1024);
    assert_int_equal(hilt_policy_render(g, "iis", &b, &e), -1);
    assert_int_equal(e.kind, HILT_E_USAGE);
    assert_non_null(strstr(e.msg, "unknown target 'iis'"));
    hilt_buf_free(&b);
    size_t n;
    const struct hilt_render_target *t = hilt_render_targets(&n);
    assert_int_equal(n, 7);
    /* Every target renders every built-in profile. */
    const struct hilt_policy *bi = hilt_policy_builtin(&e);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < bi->nprofiles; j++)
            free(render(&bi->profiles[j], t[i].name));
    hilt_policy_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cipher_names_map_both_ways),
        cmocka_unit_test(table_covers_openssl),
        cmocka_unit_test(table_has_legacy_suites),
        cmocka_unit_test(versions_groups_sigalgs),
        cmocka_unit_test(builtin_modern),
        cmocka_unit_test(builtin_intermediate),
        cmocka_unit_test(builtin_old),
        cmocka_unit_test(builtin_hilt_defaults),
        cmocka_unit_test(extends_resolution),
        cmocka_unit_test(extends_errors),
        cmocka_unit_test(field_errors),
        cmocka_unit_test(environments),
        cmocka_unit_test(yaml_errors_and_bounds),
        cmocka_unit_test(load_file_errors),
        cmocka_unit_test(profile_json),
        cmocka_unit_test(profile_queries),
        cmocka_unit_test(render_nginx_haproxy),
        cmocka_unit_test(render_other_targets),
        cmocka_unit_test(render_envoy_is_yaml),
        cmocka_unit_test(render_gaps_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
