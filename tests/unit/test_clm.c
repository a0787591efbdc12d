/* test_clm.c - certificate-as-code pieces in-process (docs/clm.md): the
 * manifest loader (defaults, normalised paths, every error with its
 * line:column), the canonical JSON round trip and what each hash covers,
 * renewal timing (renewBefore, 2/3 of the lifetime, jitter that spreads a
 * fleet and is stable per certificate) and backoff, and the deployment
 * directory: atomic switch, adoption of existing files, the drift check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clm/clm.h"
#include "clm/deploy.h"
#include "clm/manifest.h"
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char good[] = "apiVersion: hilt.dev/v1\n"
                           "kind: Certificate\n"
                           "metadata:\n"
                           "  name: web\n"
                           "spec:\n"
                           "  commonName: www.example.test\n"
                           "  dnsNames: [api.example.test, www.example.test]\n"
                           "  ipAddresses: [127.0.0.1]\n"
                           "  duration: 30d\n"
                           "  renewBefore: 10d\n"
                           "  privateKey: {algorithm: RSA, size: 3072, rotationPolicy: Never}\n"
                           "  owner: payments\n"
                           "  targets:\n"
                           "    - cert: tls/web.crt\n"
                           "      key: ../etc/./tls/web.key\n"
                           "      keyMode: \"0640\"\n"
                           "  reload: nginx -s reload\n";

static int parse(const char *y, struct hilt_manifest *m, struct hilt_err *e)
{
    return hilt_manifest_parse(y, strlen(y), "m.yaml", "/srv/app", m, e);
}

static void loads_with_defaults(void **state)
{
    (void)state;
    struct hilt_manifest m;
    struct hilt_err e = {0};
    assert_int_equal(parse(good, &m, &e), 0);
    assert_string_equal(m.name, "web");
    assert_int_equal(m.nnames, 3);
    assert_string_equal(m.names[0], "www.example.test"); /* the CN first */
    assert_int_equal(m.duration, 30 * 86400);
    assert_int_equal(m.renew_before, 10 * 86400);
    assert_string_equal(m.key_type, "rsa-3072");
    assert_true(m.rotate_never);
    assert_string_equal(m.issuer, "hilt");
    assert_string_equal(m.targets[0].cert, "/srv/app/tls/web.crt");
    assert_string_equal(m.targets[0].key, "/srv/etc/tls/web.key"); /* lexically normal */
    assert_int_equal(m.targets[0].cert_mode, 0644);
    assert_int_equal(m.targets[0].key_mode, 0640);
    assert_int_equal(m.history_limit, 10);
    /* the canonical JSON gives the same manifest and the same hashes */
    char *js = hilt_manifest_to_json(&m);
    struct hilt_manifest b;
    assert_int_equal(hilt_manifest_from_json(js, &b, &e), 0);
    assert_string_equal(b.spec_hash, m.spec_hash);
    assert_string_equal(b.cert_hash, m.cert_hash);
    assert_string_equal(b.deploy_hash, m.deploy_hash);
    free(js);
    hilt_manifest_free(&b);
    /* what each hash covers */
    char y[2048];
    struct hilt_manifest c;
    snprintf(y, sizeof(y), "%s", good);
    char *p = strstr(y, "payments");
    memcpy(p, "platform", 8); /* metadata only */
    assert_int_equal(parse(y, &c, &e), 0);
    assert_string_equal(c.cert_hash, m.cert_hash);
    assert_string_equal(c.deploy_hash, m.deploy_hash);
    assert_string_not_equal(c.spec_hash, m.spec_hash);
    hilt_manifest_free(&c);
    snprintf(y, sizeof(y), "%s", good);
    memcpy(strstr(y, "30d"), "31d", 3); /* a new certificate */
    assert_int_equal(parse(y, &c, &e), 0);
    assert_string_not_equal(c.cert_hash, m.cert_hash);
    assert_string_equal(c.deploy_hash, m.deploy_hash);
    hilt_manifest_free(&c);
    snprintf(y, sizeof(y), "%s", good);
    memcpy(strstr(y, "0640"), "0600", 4); /* the same certificate, redeployed */
    assert_int_equal(parse(y, &c, &e), 0);
    assert_string_equal(c.cert_hash, m.cert_hash);
    assert_string_not_equal(c.deploy_hash, m.deploy_hash);
    hilt_manifest_free(&c);
    hilt_manifest_free(&m);
}

static void errors_have_positions(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a]\n  target: []\n",
         "m.yaml:5:3: spec: unknown key 'target'"},
        {"kind: Certificate\nmetadata: {name: X}\nspec: {}\n", "m.yaml:2:18: metadata.name"},
        {"kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a, a]\n  targets: [{cert: "
         "c}]\n",
         "m.yaml:4:17: spec.dnsNames[1]: 'a' is listed twice"},
        {"kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a]\n  duration: 5x\n  "
         "targets: [{cert: c}]\n",
         "m.yaml:5:13: spec.duration: '5x' is not a duration"},
        {"kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a]\n  duration: 1d\n  "
         "renewBefore: 2d\n  targets: [{cert: c}]\n",
         "m.yaml:6:16: spec.renewBefore: must be shorter than the duration"},
        {"kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a]\n  privateKey: "
         "{algorithm: DSA}\n  targets: [{cert: c}]\n",
         "spec.privateKey.algorithm: 'DSA' is not ECDSA, RSA or Ed25519"},
        {"kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a]\n  targets: [{cert: c, "
         "certMode: \"0999\"}]\n",
         "spec.targets[0].certMode: '0999' is not a file mode"},
        {"kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a]\n  targets: [{cert: c, "
         "key: c}]\n",
         "is written twice"},
        {"kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a]\n  targets: [{cert: "
         ".hilt/x}]\n",
         ".hilt directories belong to hilt"},
        {"kind: Certificate\nmetadata: {name: x}\nspec:\n  commonName: b\n  dnsNames: [a]\n  "
         "targets: [{cert: c}]\n",
         "spec.commonName: 'b' must also be one of dnsNames"},
        {"kind: Certificate\nmetadata: {name: x}\nspec:\n  ipAddresses: [a.example]\n  targets: "
         "[{cert: c}]\n",
         "'a.example' is not an IP address"},
        {"kind: Certificate\nmetadata: {name: x}\nspec: {dnsNames: [a], targets: [{cert: c}]}\n"
         "extra: 1\n",
         "m.yaml:4:1: unknown key 'extra'"},
        {"", "empty manifest"},
        {"kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a]\n  targets:\n  - cert: c\n"
         " bad: [\n",
         "m.yaml:7:"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hilt_manifest m;
        struct hilt_err e = {0};
        assert_int_equal(parse(cases[i].yaml, &m, &e), -1);
        assert_int_equal(e.kind, HILT_E_INPUT);
        if (!strstr(e.msg, cases[i].want)) {
            fprintf(stderr, "case %zu: '%s' does not contain '%s'\n", i, e.msg, cases[i].want);
            fail();
        }
    }
}

static void renewal_timing(void **state)
{
    (void)state;
    struct hilt_manifest m = {.renew_before = 10 * 86400};
    int64_t nb = 1000000, na = nb + 30 * 86400;
    const char *sha = "00000000000000000000000000000000000000000000000000000000000000ff";
    int64_t t = hilt_clm_renew_at(&m, nb, na, sha);
    assert_true(t <= na - 10 * 86400 && t >= na - 11 * 86400);
    assert_int_equal(hilt_clm_renew_at(&m, nb, na, sha), t); /* stable */
    m.renew_before = 0;
    int64_t seen[16];
    int distinct = 0;
    for (int i = 0; i < 16; i++) {
        char h[65];
        snprintf(h, sizeof(h), "%016x%048d", (unsigned)(i * 2654435761u), 0);
        seen[i] = hilt_clm_renew_at(&m, nb, na, h);
        assert_true(seen[i] <= nb + 20 * 86400 && seen[i] >= nb + 20 * 86400 - 30 * 86400 / 12);
        int dup = 0;
        for (int j = 0; j < i; j++)
            dup |= seen[j] == seen[i];
        distinct += !dup;
    }
    assert_true(distinct >= 14); /* a fleet spreads */
    /* backoff: 1 min, doubling, capped at 6 h, within ±10 % */
    int64_t want[] = {60, 120, 240, 480};
    for (int i = 0; i < 4; i++) {
        int64_t b = hilt_clm_backoff(i + 1, "web");
        assert_true(b >= want[i] * 9 / 10 && b <= want[i] * 11 / 10);
    }
    assert_true(hilt_clm_backoff(40, "web") <= 6 * 3600 * 11 / 10);
    assert_true(hilt_clm_backoff(40, "web") >= 6 * 3600 * 9 / 10);
}

static void read_file(const char *p, char *out, size_t cap)
{
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

static void deployment_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/hilt-clm-test.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char y[1024];
    snprintf(y, sizeof(y),
             "kind: Certificate\nmetadata: {name: web}\nspec:\n  dnsNames: [a]\n  targets:\n"
             "    - {cert: %s/a/web.crt, key: %s/a/web.key}\n    - {cert: %s/b/site.pem}\n",
             dir, dir, dir);
    struct hilt_manifest m;
    struct hilt_err e = {0};
    assert_int_equal(hilt_manifest_parse(y, strlen(y), "m.yaml", dir, &m, &e), 0);
    char data[HILT_DEPLOY_PATH_MAX], p[600], buf[256], why[300];
    assert_int_equal(hilt_deploy_data_dir(&m, data, sizeof(data), &e), 0);
    snprintf(p, sizeof(p), "%s/a/.hilt/web", dir);
    assert_string_equal(data, p);
    /* an existing certificate at a target is adopted, never lost */
    snprintf(p, sizeof(p), "mkdir -p %s/a && echo OLDCERT > %s/a/web.crt", dir, dir);
    assert_int_equal(system(p), 0);
    int fd;
    assert_int_equal(hilt_deploy_lock(data, 0, &fd, &e), 0);
    int fd2;
    assert_int_equal(hilt_deploy_lock(data, 0, &fd2, &e), 1); /* held */
    assert_int_equal(hilt_deploy_link_targets(data, &m, &e), 0);
    snprintf(p, sizeof(p), "%s/a/web.crt", dir);
    read_file(p, buf, sizeof(buf));
    assert_string_equal(buf, "OLDCERT\n");
    assert_int_equal(hilt_deploy_current(data, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "rev-0");
    /* a revision goes live for every target at once */
    struct hilt_bundle b = {"CERT1\n", "KEY1\n", "CHAIN1\n"};
    assert_int_equal(hilt_deploy_write_rev(data, "rev-1", &m, &b, &e), 0);
    assert_int_equal(hilt_deploy_switch(data, "rev-1", &e), 0);
    read_file(p, buf, sizeof(buf));
    assert_string_equal(buf, "CERT1\n");
    snprintf(p, sizeof(p), "%s/b/site.pem", dir);
    read_file(p, buf, sizeof(buf));
    assert_string_equal(buf, "CERT1\n");
    snprintf(p, sizeof(p), "%s/a/web.key", dir);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* the drift check: right revision (no certificate hash asked), then a
     * target removed */
    assert_int_equal(hilt_deploy_check(data, "rev-1", &m, NULL, why, sizeof(why)), 1);
    assert_int_equal(hilt_deploy_check(data, "rev-2", &m, NULL, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "current is rev-1"));
    unlink(p);
    assert_int_equal(hilt_deploy_check(data, "rev-1", &m, NULL, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "web.key is missing"));
    /* the current revision cannot be removed; another can */
    assert_int_equal(hilt_deploy_remove_rev(data, "rev-1"), -1);
    assert_int_equal(hilt_deploy_remove_rev(data, "rev-0"), 0);
    hilt_deploy_unlock(fd);
    hilt_manifest_free(&m);
    snprintf(p, sizeof(p), "rm -rf %s", dir);
    assert_int_equal(system(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_with_defaults),
        cmocka_unit_test(errors_have_positions),
        cmocka_unit_test(renewal_timing),
        cmocka_unit_test(deployment_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
