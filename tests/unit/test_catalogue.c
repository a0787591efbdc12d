/* test_catalogue.c - the embedded catalogue matches the code list; findings and priority. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "diag/catalogue.h"

#include <stdlib.h>
#include <string.h>

static void catalogue_loads_and_covers_every_code(void **st)
{
    (void)st;
    struct hilt_err e = {0};
    assert_int_equal(hilt_catalogue_load(&e), 0);
    for (int c = 0; c < HILT_C_COUNT; c++) {
        const struct hilt_code_info *ci = hilt_code_info((enum hilt_code)c);
        assert_non_null(ci);
        assert_string_equal(ci->code, hilt_code_name((enum hilt_code)c));
        assert_true(strlen(ci->summary) > 10);
        assert_true(strlen(ci->remediation) > 10);
        assert_true(!strcmp(ci->rung, "visibility") || !strcmp(ci->rung, "standardization") ||
                    !strcmp(ci->rung, "automation") || !strcmp(ci->rung, "resilience"));
        enum hilt_code back;
        assert_int_equal(hilt_code_from_name(ci->code, &back), 0);
        assert_int_equal(back, c);
    }
    enum hilt_code x;
    assert_int_equal(hilt_code_from_name("no_such_code", &x), -1);
    /* The required codes are all present. */
    const char *required[] = {"dns_failed", "connect_refused", "connect_timeout", "handshake_timeout",
                              "connection_reset", "not_tls", "protocol_version_mismatch",
                              "no_shared_cipher", "no_shared_group", "weak_dh", "alpn_mismatch",
                              "sni_required", "client_cert_required", "client_cert_rejected",
                              "cert_expired", "cert_not_yet_valid", "clock_skew", "chain_incomplete",
                              "untrusted_root", "self_signed", "hostname_mismatch", "cert_revoked",
                              "weak_key", "weak_signature", "bad_key_usage", "ocsp_staple_missing",
                              "expiring_soon", "lifetime_too_long", "deprecated_protocol"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        assert_int_equal(hilt_code_from_name(required[i], &x), 0);
    assert_int_equal(hilt_code_info(HILT_C_EXPIRING_SOON)->severity, HILT_SEV_WARNING);
    assert_int_equal(hilt_code_info(HILT_C_CERT_EXPIRED)->severity, HILT_SEV_ERROR);
}

static void template_fill(void **st)
{
    (void)st;
    const char *kv[] = {"a", "one", "bb", "two", NULL};
    char *s = hilt_template_fill("{a}-{bb}-{c}-{", kv);
    assert_string_equal(s, "one-two-{c}-{");
    free(s);
    s = hilt_template_fill("plain", NULL);
    assert_string_equal(s, "plain");
    free(s);
}

static void root_cause_follows_catalogue_order(void **st)
{
    (void)st;
    struct hilt_findings f;
    hilt_findings_init(&f);
    hilt_findings_add(&f, HILT_C_EXPIRING_SOON, "subject", "x", NULL);
    assert_null(hilt_findings_root(&f)); /* warnings are not a diagnosis */
    hilt_findings_add(&f, HILT_C_HOSTNAME_MISMATCH, "name", "a.test", "covered", "b.test", NULL);
    struct hilt_finding *fd = hilt_findings_add(&f, HILT_C_CERT_EXPIRED, "subject", "CN=x", NULL);
    hilt_finding_evidence(fd, "notAfter %s", "2020-01-01T00:00:00Z");
    /* adding again returns the same entry */
    assert_ptr_equal(hilt_findings_add(&f, HILT_C_CERT_EXPIRED, NULL), fd);
    assert_int_equal(f.n, 3);
    const struct hilt_finding *root = hilt_findings_root(&f);
    assert_int_equal(root->code, HILT_C_CERT_EXPIRED);
    assert_non_null(strstr(root->summary, "CN=x"));
    hilt_findings_sort(&f);
    assert_int_equal(f.items[0].code, HILT_C_CERT_EXPIRED);
    assert_int_equal(f.items[2].code, HILT_C_EXPIRING_SOON);
    json_t *j = hilt_findings_json(&f);
    json_t *first = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(first, "code")), "cert_expired");
    assert_string_equal(json_string_value(json_object_get(first, "severity")), "error");
    assert_string_equal(json_string_value(json_object_get(first, "rung")), "automation");
    assert_string_equal(json_string_value(json_array_get(json_object_get(first, "evidence"), 0)),
                        "notAfter 2020-01-01T00:00:00Z");
    json_decref(j);
    hilt_findings_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(catalogue_loads_and_covers_every_code),
        cmocka_unit_test(template_fill),
        cmocka_unit_test(root_cause_follows_catalogue_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
