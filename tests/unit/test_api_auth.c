/* test_api_auth.c - client-certificate authentication of hilt serve: the
 * principal a certificate maps to (CN, else the first DNS SAN; printable ASCII
 * only), a certificate that did not verify (401 with OpenSSL's reason), one
 * revoked in the store (401), one without grants (401), one with grants; and
 * scope checks of pre-approved scopes (one label for '*', env, lifetime). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/api.h"
#include "api/auth.h"
#include "ca/ca.h"
#include "core/err.h"
#include "store/store.h"
#include "store/store_api.h"
#include "x509/key.h"
#include "x509/mint.h"

#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char home[64];
static struct hilt_store *st;
static struct hilt_ca *ca;

static int setup(void **state)
{
    (void)state;
    snprintf(home, sizeof(home), "/tmp/hilt-auth-test.XXXXXX");
    if (!mkdtemp(home)) return -1;
    char url[128];
    snprintf(url, sizeof(url), "%s/hilt.db", home);
    struct hilt_err e = {0};
    struct hilt_ca_init_opts o = {.name = "hilt"};
    if (!(st = hilt_store_open(url, &e)) || hilt_ca_init(st, home, &o, &e) < 0 ||
        !(ca = hilt_ca_open(st, home, "hilt", &e))) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hilt_ca_close(ca);
    hilt_store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
    return system(cmd) == 0 ? 0 : -1;
}

static X509 *issue(const char *name, char serial[64])
{
    const char *names[] = {name};
    struct hilt_issue_req r = {.names = names, .nnames = 1, .lifetime = 86400};
    struct hilt_issued out = {0};
    struct hilt_err e = {0};
    int rc = hilt_ca_issue(ca, &r, &out, &e);
    if (rc) fprintf(stderr, "issue: %s\n", e.msg);
    assert_int_equal(rc, 0);
    X509 *x = out.cert;
    X509_up_ref(x);
    snprintf(serial, 64, "%s", out.serial);
    hilt_issued_free(&out);
    return x;
}

static void principal_mapping(void **state)
{
    (void)state;
    char serial[64], p[HILT_PRINCIPAL_MAX];
    X509 *x = issue("dana.people.internal", serial);
    assert_int_equal(hilt_cert_principal(x, p, sizeof(p)), 0);
    assert_string_equal(p, "cert:dana.people.internal");
    X509_free(x);
    /* no CN: the first DNS SAN */
    x = X509_new();
    X509_EXTENSION *ex =
        X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "IP:10.0.0.1,DNS:svc.example.com");
    X509_add_ext(x, ex, -1);
    X509_EXTENSION_free(ex);
    assert_int_equal(hilt_cert_principal(x, p, sizeof(p)), 0);
    assert_string_equal(p, "cert:svc.example.com");
    X509_free(x);
    /* a CN with a space or a non-ASCII byte maps to nothing */
    x = X509_new();
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                               (const unsigned char *)"Dana Doe", -1, -1, 0);
    assert_int_equal(hilt_cert_principal(x, p, sizeof(p)), -1);
    X509_free(x);
    x = X509_new();
    assert_int_equal(hilt_cert_principal(x, p, sizeof(p)), -1);
    X509_free(x);
}

static void cert_auth(void **state)
{
    (void)state;
    char serial[64];
    X509 *x = issue("erin.people.internal", serial);
    struct hilt_auth a;
    struct hilt_err e = {0};
    /* verified, but no grant yet */
    assert_int_equal(hilt_auth_cert(st, x, X509_V_OK, &a, &e), -1);
    assert_int_equal(e.code, 401);
    assert_non_null(strstr(e.msg, "holds no grant"));
    struct hilt_api_grant_rec g = {
        .principal = "cert:erin.people.internal", .role = "approver", .env = "prod", .names = ""};
    assert_int_equal(hilt_store_grant_add(st, &g, NULL, NULL, &e), 0);
    assert_int_equal(hilt_auth_cert(st, x, X509_V_OK, &a, &e), 0);
    assert_string_equal(a.p.id, "cert:erin.people.internal");
    assert_string_equal(a.method, "cert");
    assert_true(a.p.roles & HILT_ROLE_APPROVER);
    /* a chain that did not verify: refused with the reason */
    assert_int_equal(hilt_auth_cert(st, x, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, &a, &e),
                     -1);
    assert_int_equal(e.code, 401);
    assert_non_null(strstr(e.msg, "unable to get local issuer certificate"));
    /* revoked in the store: refused although the chain verifies */
    assert_int_equal(hilt_ca_revoke(st, serial, 1, &e), 0);
    assert_int_equal(hilt_auth_cert(st, x, X509_V_OK, &a, &e), -1);
    assert_non_null(strstr(e.msg, "revoked"));
    X509_free(x);
}

static void scopes(void **state)
{
    (void)state;
    struct hilt_scope sc[2];
    struct hilt_err e = {0};
    assert_int_equal(hilt_scope_parse("*.svc.internal,7d", &sc[0], &e), 0);
    assert_int_equal(hilt_scope_parse("api.example.com", &sc[1], &e), 0);
    snprintf(sc[1].env, sizeof(sc[1].env), "prod");
    const char *a[] = {"x.svc.internal"}, *b[] = {"x.y.svc.internal"}, *c[] = {"api.example.com"},
               *d[] = {"x.svc.internal", "api.example.com"};
    assert_true(hilt_scope_covers(sc, 2, a, 1, "", 3600));
    assert_false(hilt_scope_covers(sc, 2, a, 1, "", 8 * 86400));
    assert_false(hilt_scope_covers(sc, 2, a, 1, "", 0)); /* no lifetime: not within 7d */
    assert_false(hilt_scope_covers(sc, 2, b, 1, "", 3600));
    assert_true(hilt_scope_covers(sc, 2, c, 1, "prod", 3600));
    assert_false(hilt_scope_covers(sc, 2, c, 1, "dev", 3600));
    assert_false(hilt_scope_covers(sc, 2, d, 2, "prod", 3600)); /* no one scope covers both */
    assert_false(hilt_scope_covers(sc, 2, a, 0, "", 3600));
    assert_int_equal(hilt_scope_parse("*.x,forever", &sc[0], &e), -1);
    assert_int_equal(hilt_scope_parse(",7d", &sc[0], &e), -1);
    assert_int_equal(hilt_scope_parse("a b", &sc[0], &e), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(principal_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(cert_auth, setup, teardown),
        cmocka_unit_test(scopes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
