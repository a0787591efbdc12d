/* test_lab.c - the lab's scenario table, its option checks, the list it
 * publishes, the verdicts of --check, and a live lab: real TLS handshakes,
 * the AIA and OCSP endpoints, the refused port, files and their modes, and
 * a clean end (ASan/LSan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/http.h"
#include "core/json.h"
#include "core/net.h"
#include "diag/catalogue.h"
#include "lab/lab.h"
#include "x509/ocsp.h"
#include "x509/pem.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The scenarios the issue asks for, by name. */
static const char *const required[] = {
    "healthy",
    "expired",
    "not-yet-valid",
    "clock-skew",
    "self-signed",
    "untrusted-root",
    "incomplete-chain",
    "wrong-host",
    "revoked",
    "rsa-1024",
    "sha1-signature",
    "tls10-only",
    "no-shared-cipher",
    "dh-1024",
    "client-cert-required",
    "client-cert-rejected",
    "sni-required",
    "alpn-mismatch",
    "no-shared-group",
    "must-staple-without-staple",
    "bad-key-usage",
    "not-tls",
    "stall",
    "reset-after-hello",
    "refused",
    "expiring-soon",
};

static void table_is_complete_and_consistent(void **st)
{
    (void)st;
    size_t n = hilt_lab_count();
    assert_true(n >= sizeof(required) / sizeof(required[0]));
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (!hilt_lab_find(required[i])) fail_msg("no scenario named %s", required[i]);
    }
    int seen[HILT_LAB_SPAN] = {0};
    for (size_t i = 0; i < n; i++) {
        const struct hilt_lab_scenario *sc = hilt_lab_at(i);
        assert_non_null(sc);
        assert_non_null(sc->name);
        assert_true(strlen(sc->name) > 0 && strlen(sc->name) < 63); /* one DNS label */
        for (const char *p = sc->name; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
                fail_msg("scenario name '%s' is not a lowercase DNS label", sc->name);
        assert_true(sc->description && strlen(sc->description) > 10);
        /* a unique port offset that does not collide with the HTTP service */
        assert_true(sc->offset >= 0 && sc->offset < HILT_LAB_SPAN);
        assert_int_not_equal(sc->offset, HILT_LAB_HTTP_OFFSET);
        if (seen[sc->offset]++) fail_msg("%s reuses port offset %d", sc->name, sc->offset);
        assert_ptr_equal(hilt_lab_find(sc->name), sc);
        /* the expectation names real catalogue codes */
        enum hilt_code c;
        if (sc->expect.ok) {
            assert_null(sc->expect.code);
        } else {
            assert_non_null(sc->expect.code);
            if (hilt_code_from_name(sc->expect.code, &c) < 0)
                fail_msg("%s expects unknown code %s", sc->name, sc->expect.code);
            assert_int_equal(hilt_code_info(c)->severity, HILT_SEV_ERROR);
        }
        if (sc->expect.finding) {
            if (hilt_code_from_name(sc->expect.finding, &c) < 0)
                fail_msg("%s expects unknown finding %s", sc->name, sc->expect.finding);
            assert_int_not_equal(hilt_code_info(c)->severity, HILT_SEV_ERROR);
        }
        /* extra probe arguments come in flag/value pairs of known flags */
        for (size_t k = 0; sc->args && sc->args[k]; k += 2) {
            assert_true(sc->args[k][0] == '-' && sc->args[k][1] == '-');
            assert_non_null(sc->args[k + 1]);
        }
    }
    assert_null(hilt_lab_at(n));
    assert_null(hilt_lab_find("no-such-scenario"));
    /* the error scenarios together cover every error code the probe reports
     * locally, bar the ones a loopback lab cannot produce */
    static const char *const not_in_lab[] = {
        "dns_failed", "connect_timeout", "handshake_failed", "revocation_unknown",
        /* found by `hilt scan`'s enumeration, never a probe diagnosis (and Debian's
         * OpenSSL cannot serve SSLv3, RC4, DES, EXPORT or compression anyway) */
        "ssl3_enabled", "export_cipher", "null_cipher", "anon_cipher", "rc4_cipher", "des_cipher",
        "tls_compression", "insecure_renegotiation"};
    for (int c = 0; c < HILT_C_COUNT; c++) {
        const struct hilt_code_info *ci = hilt_code_info((enum hilt_code)c);
        if (ci->severity != HILT_SEV_ERROR) continue;
        int skip = 0, found = 0;
        for (size_t k = 0; k < sizeof(not_in_lab) / sizeof(not_in_lab[0]); k++)
            skip |= !strcmp(ci->code, not_in_lab[k]);
        for (size_t i = 0; i < n; i++)
            found |= hilt_lab_at(i)->expect.code && !strcmp(hilt_lab_at(i)->expect.code, ci->code);
        if (!skip && !found) fail_msg("no lab scenario produces %s", ci->code);
    }
}

static void options_are_checked(void **st)
{
    (void)st;
    struct hilt_err e = {0};
    struct hilt_lab_opts o = {.base_port = 0};
    assert_int_equal(hilt_lab_opts_check(&o, &e), -1);
    assert_int_equal(hilt_err_exit_code(&e), 2);
    assert_non_null(strstr(e.msg, "--base-port"));
    o.base_port = 70000;
    assert_int_equal(hilt_lab_opts_check(&o, &e), -1);
    o.base_port = HILT_LAB_BASE_MAX + 1;
    assert_int_equal(hilt_lab_opts_check(&o, &e), -1);
    o.base_port = HILT_LAB_BASE_MAX;
    assert_int_equal(hilt_lab_opts_check(&o, &e), 0);
    const char *only[] = {"expired", "no-such-scenario"};
    o.only = only;
    o.nonly = 2;
    assert_int_equal(hilt_lab_opts_check(&o, &e), -1);
    assert_non_null(strstr(e.msg, "no-such-scenario"));
    assert_int_equal(hilt_err_exit_code(&e), 2);
    o.nonly = 1;
    assert_int_equal(hilt_lab_opts_check(&o, &e), 0);
    assert_int_equal(hilt_lab_selected(&o, 1), 1); /* expired */
    assert_int_equal(hilt_lab_selected(&o, 0), 0);
    /* nothing is created or bound when the options are bad */
    o.base_port = 0;
    assert_null(hilt_lab_new(&o, &e));
    assert_int_equal(hilt_err_exit_code(&e), 2);
}

static void list_json_is_what_probe_needs(void **st)
{
    (void)st;
    struct hilt_lab_opts o = {.base_port = 9400};
    json_t *j = hilt_lab_list_json(&o, "/abs/dir");
    assert_int_equal(json_array_size(j), hilt_lab_count());
    for (size_t i = 0; i < json_array_size(j); i++) {
        json_t *s = json_array_get(j, i);
        const char *name = json_string_value(json_object_get(s, "name"));
        const struct hilt_lab_scenario *sc = hilt_lab_find(name);
        assert_non_null(sc);
        assert_int_equal(json_integer_value(json_object_get(s, "port")), 9400 + sc->offset);
        json_t *ex = json_object_get(s, "expect");
        assert_int_equal(json_is_true(json_object_get(ex, "ok")), sc->expect.ok);
        assert_true(sc->expect.code ? json_is_string(json_object_get(ex, "code"))
                                    : json_is_null(json_object_get(ex, "code")));
        json_t *a = json_object_get(s, "args");
        size_t na = json_array_size(a);
        assert_true(na >= 3);
        assert_string_equal(json_string_value(json_array_get(a, 0)), "--ca-file");
        char want[256];
        snprintf(want, sizeof(want), "/abs/dir/%s/ca.pem", name);
        assert_string_equal(json_string_value(json_array_get(a, 1)), want);
        snprintf(want, sizeof(want), "127.0.0.1:%d", 9400 + sc->offset);
        assert_string_equal(json_string_value(json_array_get(a, na - 1)), want);
        for (size_t k = 0; k < na; k++) /* "@file" placeholders are all expanded */
            assert_int_not_equal(json_string_value(json_array_get(a, k))[0], '@');
    }
    json_decref(j);

    const struct hilt_lab_scenario *rej = hilt_lab_find("client-cert-rejected");
    char line[2048];
    hilt_lab_args_line(rej, 9400, "/d d", line, sizeof(line));
    assert_string_equal(line, "--ca-file '/d d/client-cert-rejected/ca.pem' --client-cert "
                              "'/d d/client-cert-rejected/client.pem' --client-key "
                              "'/d d/client-cert-rejected/client.key' 127.0.0.1:9415");
    /* not started: paths start with the placeholder DIR */
    hilt_lab_args_line(hilt_lab_find("healthy"), 9400, NULL, line, sizeof(line));
    assert_string_equal(line, "--ca-file DIR/healthy/ca.pem 127.0.0.1:9400");
}

static void judge(const char *name, const char *js, int pass, const char *got)
{
    struct hilt_lab_result r;
    memset(&r, 0, sizeof(r));
    json_t *j = js ? json_loads(js, 0, NULL) : NULL;
    hilt_lab_judge(hilt_lab_find(name), j, &r);
    json_decref(j);
    if (r.pass != pass)
        fail_msg("%s: %s -> pass %d (%s)", name, js ? js : "null", r.pass, r.detail);
    assert_string_equal(r.got, got);
}

static void verdicts(void **st)
{
    (void)st;
    judge("expired", "{\"ok\":false,\"diagnosis\":{\"code\":\"cert_expired\"},\"findings\":[]}", 1,
          "cert_expired");
    judge("expired", "{\"ok\":false,\"diagnosis\":{\"code\":\"untrusted_root\"}}", 0,
          "untrusted_root");
    judge("expired", "{\"ok\":true,\"diagnosis\":null}", 0, "ok");
    judge("healthy", "{\"ok\":true,\"diagnosis\":null,\"findings\":[]}", 1, "ok");
    judge("healthy", "{\"ok\":false,\"diagnosis\":null}", 0, "(no diagnosis)");
    judge("healthy", "{\"ok\":true,\"diagnosis\":{\"code\":\"cert_expired\"}}", 0,
          "ok? (cert_expired)");
    judge("expiring-soon",
          "{\"ok\":true,\"diagnosis\":null,\"findings\":[{\"code\":\"expiring_soon\"}]}", 1,
          "ok + expiring_soon");
    judge("expiring-soon", "{\"ok\":true,\"diagnosis\":null,\"findings\":[]}", 0, "ok");
    judge("expiring-soon", NULL, 0, "-");
    judge("stall", "[1,2]", 0, "-");

    struct hilt_lab_result r;
    memset(&r, 0, sizeof(r));
    hilt_lab_judge(hilt_lab_find("expiring-soon"), NULL, &r);
    assert_string_equal(r.expected, "ok + expiring_soon");
    assert_string_equal(r.detail, "the probe printed no JSON");
}

/* ---- a live lab ---------------------------------------------------------- */

static struct hilt_lab *start_lab(const char *const *only, size_t n, const char *dir, long *base)
{
    struct hilt_err e = {0};
    srand((unsigned)(getpid() ^ time(NULL)));
    for (int tries = 0; tries < 20; tries++) {
        *base = 20000 + rand() % 12000 - 64; /* below the kernel's ephemeral range */
        struct hilt_lab_opts o = {.base_port = *base, .dir = dir, .only = only, .nonly = n};
        struct hilt_lab *lab = hilt_lab_new(&o, &e);
        if (lab) return lab;
        if (e.code != 98 /* EADDRINUSE */) fail_msg("lab: %s", e.msg);
    }
    fail_msg("no free port range");
    return NULL;
}

/* A TLS client that completes the handshake whatever the verdict, which
 * SSL_get_verify_result() then reports. */
static SSL *tls_connect(SSL_CTX **ctxp, long port, const char *ca_file, int *fdp)
{
    SSL_CTX *ctx = *ctxp = SSL_CTX_new(TLS_client_method());
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca_file, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* verified, recorded, not fatal */
    X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx), "127.0.0.1");
    struct hilt_err e = {0};
    int fd = -1;
    assert_int_equal(hilt_tcp_connect("127.0.0.1", (uint16_t)port, 3000, &fd, NULL, 0, &e), 0);
    hilt_set_nonblock(fd, 0);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    *fdp = fd;
    if (SSL_connect(ssl) != 1) ERR_clear_error(); /* the caller inspects the outcome */
    return ssl;
}

static void tls_close(SSL *ssl, SSL_CTX *ctx, int fd)
{
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    ERR_clear_error();
}

static void live_lab(void **st)
{
    (void)st;
    static const char *const only[] = {"healthy", "clock-skew",           "incomplete-chain",
                                       "revoked", "client-cert-rejected", "refused"};
    long base = 0;
    struct hilt_lab *lab = start_lab(only, sizeof(only) / sizeof(only[0]), NULL, &base);
    char dir[4096], path[4200];
    snprintf(dir, sizeof(dir), "%s", hilt_lab_dir(lab));
    struct hilt_err e = {0};
    assert_int_equal(hilt_lab_start(lab, &e), 0);

    /* healthy: verifies against its own ca.pem; answers HEAD with a Date */
    SSL_CTX *ctx;
    int fd;
    snprintf(path, sizeof(path), "%s/healthy/ca.pem", dir);
    SSL *ssl = tls_connect(&ctx, base + hilt_lab_find("healthy")->offset, path, &fd);
    assert_int_equal(SSL_get_verify_result(ssl), X509_V_OK);
    assert_true(SSL_is_init_finished(ssl));
    STACK_OF(X509) *sent = SSL_get_peer_cert_chain(ssl);
    assert_int_equal(sk_X509_num(sent), 2); /* leaf + intermediate */
    const char req[] = "HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(SSL_write(ssl, req, sizeof(req) - 1), (int)sizeof(req) - 1);
    char resp[2048];
    size_t got = 0;
    for (int k; got < sizeof(resp) - 1 &&
                (k = SSL_read(ssl, resp + got, (int)(sizeof(resp) - 1 - got))) > 0;)
        got += (size_t)k;
    resp[got] = '\0';
    assert_non_null(strstr(resp, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(resp, "Connection: close\r\n"));
    char *date = strstr(resp, "Date: ");
    assert_non_null(date);
    date[6 + strcspn(date + 6, "\r")] = '\0';
    time_t t = 0;
    assert_int_equal(hilt_time_parse_http(date + 6, &t), 0);
    assert_true(labs((long)(t - hilt_now())) < 60);
    tls_close(ssl, ctx, fd);

    /* clock-skew: the Date header runs three hours ahead */
    snprintf(path, sizeof(path), "%s/clock-skew/ca.pem", dir);
    ssl = tls_connect(&ctx, base + hilt_lab_find("clock-skew")->offset, path, &fd);
    assert_int_equal(SSL_get_verify_result(ssl), X509_V_ERR_CERT_NOT_YET_VALID);
    tls_close(ssl, ctx, fd);

    /* incomplete-chain: one certificate sent; the AIA URL gives the issuer */
    snprintf(path, sizeof(path), "%s/incomplete-chain/ca.pem", dir);
    ssl = tls_connect(&ctx, base + hilt_lab_find("incomplete-chain")->offset, path, &fd);
    assert_int_equal(SSL_get_verify_result(ssl), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    X509 *leaf = SSL_get1_peer_certificate(ssl);
    assert_int_equal(sk_X509_num(SSL_get_peer_cert_chain(ssl)), 1);
    tls_close(ssl, ctx, fd);
    AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(leaf, NID_info_access, NULL, NULL);
    assert_non_null(aia);
    ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, 0);
    assert_int_equal(OBJ_obj2nid(ad->method), NID_ad_ca_issuers);
    char url[512];
    snprintf(url, sizeof(url), "%s",
             (const char *)ASN1_STRING_get0_data(ad->location->d.uniformResourceIdentifier));
    AUTHORITY_INFO_ACCESS_free(aia);
    snprintf(path, sizeof(path), "http://127.0.0.1:%ld/incomplete-chain/issuer.der",
             base + HILT_LAB_HTTP_OFFSET);
    assert_string_equal(url, path);
    struct hilt_http_resp hr;
    hilt_http_resp_init(&hr, 1 << 16);
    assert_int_equal(hilt_http_fetch("GET", url, NULL, NULL, 0, 3000, &hr, &e), 0);
    assert_int_equal(hr.status, 200);
    STACK_OF(X509) *issuer = hilt_certs_parse(hr.body.data, hr.body.len, "issuer.der", &e);
    assert_non_null(issuer);
    assert_int_equal(X509_check_issued(sk_X509_value(issuer, 0), leaf), X509_V_OK);
    hilt_http_resp_free(&hr);
    sk_X509_pop_free(issuer, X509_free);
    X509_free(leaf);

    /* revoked: the lab's OCSP responder says revoked; a foreign issuer is unauthorized */
    snprintf(path, sizeof(path), "%s/revoked/ca.pem", dir);
    ssl = tls_connect(&ctx, base + hilt_lab_find("revoked")->offset, path, &fd);
    assert_int_equal(SSL_get_verify_result(ssl), X509_V_OK); /* broken only through OCSP */
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    X509 *rleaf = sk_X509_value(chain, 0), *rint = sk_X509_value(chain, 1);
    OCSP_REQUEST *oreq = OCSP_REQUEST_new();
    OCSP_request_add0_id(oreq, OCSP_cert_to_id(NULL, rleaf, rint));
    unsigned char *der = NULL;
    int dlen = i2d_OCSP_REQUEST(oreq, &der);
    snprintf(url, sizeof(url), "http://127.0.0.1:%ld/revoked/ocsp", base + HILT_LAB_HTTP_OFFSET);
    hilt_http_resp_init(&hr, 1 << 16);
    assert_int_equal(
        hilt_http_fetch("POST", url, "application/ocsp-request", der, (size_t)dlen, 3000, &hr, &e),
        0);
    const unsigned char *q = hr.body.data;
    OCSP_RESPONSE *ors = d2i_OCSP_RESPONSE(NULL, &q, (long)hr.body.len);
    assert_non_null(ors);
    assert_int_equal(OCSP_response_status(ors), OCSP_RESPONSE_STATUS_SUCCESSFUL);
    OCSP_BASICRESP *bs = OCSP_response_get1_basic(ors);
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *anchors = hilt_certs_load(path, &e);
    X509_STORE_add_cert(store, sk_X509_value(anchors, 0));
    assert_int_equal(OCSP_basic_verify(bs, chain, store, 0), 1);
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, rleaf, rint);
    int status = -1, reason = -1;
    assert_int_equal(OCSP_resp_find_status(bs, id, &status, &reason, NULL, NULL, NULL), 1);
    assert_int_equal(status, V_OCSP_CERTSTATUS_REVOKED);
    assert_int_equal(reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(ors);
    hilt_http_resp_free(&hr);
    OPENSSL_free(der);
    OCSP_REQUEST_free(oreq);

    /* the same responder refuses CertIDs of a CA it does not serve ... */
    oreq = OCSP_REQUEST_new();
    OCSP_request_add0_id(oreq, OCSP_cert_to_id(NULL, rleaf, rleaf));
    der = NULL;
    dlen = i2d_OCSP_REQUEST(oreq, &der);
    hilt_http_resp_init(&hr, 1 << 16);
    assert_int_equal(
        hilt_http_fetch("POST", url, "application/ocsp-request", der, (size_t)dlen, 3000, &hr, &e),
        0);
    q = hr.body.data;
    ors = d2i_OCSP_RESPONSE(NULL, &q, (long)hr.body.len);
    assert_int_equal(OCSP_response_status(ors), OCSP_RESPONSE_STATUS_UNAUTHORIZED);
    OCSP_RESPONSE_free(ors);
    hilt_http_resp_free(&hr);
    OPENSSL_free(der);
    OCSP_REQUEST_free(oreq);
    sk_X509_pop_free(anchors, X509_free);
    X509_STORE_free(store);
    tls_close(ssl, ctx, fd);

    /* ... and answers garbage with malformedRequest */
    hilt_http_resp_init(&hr, 1 << 16);
    assert_int_equal(
        hilt_http_fetch("POST", url, "application/ocsp-request", "junk", 4, 3000, &hr, &e), 0);
    q = hr.body.data;
    ors = d2i_OCSP_RESPONSE(NULL, &q, (long)hr.body.len);
    assert_int_equal(OCSP_response_status(ors), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
    OCSP_RESPONSE_free(ors);
    hilt_http_resp_free(&hr);

    /* client-cert-rejected: the key file is private, the cert is not from the server's CA */
    struct stat sb;
    snprintf(path, sizeof(path), "%s/client-cert-rejected/client.key", dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/client-cert-rejected/client.pem", dir);
    assert_int_equal(stat(path, &sb), 0);

    /* refused: a port of the lab's range where connects are refused */
    int rfd = -1;
    assert_int_equal(hilt_tcp_connect("127.0.0.1",
                                      (uint16_t)(base + hilt_lab_find("refused")->offset), 2000,
                                      &rfd, NULL, 0, &e),
                     -1);
    assert_int_equal(e.code, HILT_NET_REFUSED);

    /* a second lab on the same ports fails cleanly, naming --base-port */
    struct hilt_lab_opts o2 = {.base_port = base, .only = only, .nonly = 1};
    assert_null(hilt_lab_new(&o2, &e));
    assert_int_equal(hilt_err_exit_code(&e), 2);
    assert_non_null(strstr(e.msg, "--base-port"));

    hilt_lab_free(lab);
    /* the directory the lab made is gone, and so are its servers */
    assert_int_equal(stat(dir, &sb), -1);
    assert_int_equal(hilt_tcp_connect("127.0.0.1", (uint16_t)base, 2000, &rfd, NULL, 0, &e), -1);
    assert_int_equal(e.code, HILT_NET_REFUSED);
}

static void dir_option(void **st)
{
    (void)st;
    char tmpl[] = "/tmp/hilt-test-lab-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char dir[512], path[700];
    snprintf(dir, sizeof(dir), "%s/nested/lab", tmpl);
    static const char *const only[] = {"expired"};
    long base;
    struct hilt_lab *lab = start_lab(only, 1, dir, &base);
    assert_string_equal(hilt_lab_dir(lab), dir);
    /* stop before the loop ever ran: must not hang */
    struct hilt_err e = {0};
    assert_int_equal(hilt_lab_start(lab, &e), 0);
    hilt_lab_free(lab);
    /* a --dir is left in place, with the trust anchor and the list */
    snprintf(path, sizeof(path), "%s/expired/ca.pem", dir);
    STACK_OF(X509) *ca = hilt_certs_load(path, &e);
    assert_non_null(ca);
    sk_X509_pop_free(ca, X509_free);
    snprintf(path, sizeof(path), "%s/lab.json", dir);
    assert_int_equal(access(path, R_OK), 0);
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
    assert_int_equal(system(cmd), 0);

    /* an unwritable --dir: a path under a regular file */
    struct hilt_lab_opts o = {.base_port = 9400, .dir = "/proc/version/lab"};
    assert_null(hilt_lab_new(&o, &e));
    assert_int_equal(hilt_err_exit_code(&e), 2);
    assert_non_null(strstr(e.msg, "--dir"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_is_complete_and_consistent),
        cmocka_unit_test(options_are_checked),
        cmocka_unit_test(list_json_is_what_probe_needs),
        cmocka_unit_test(verdicts),
        cmocka_unit_test(live_lab),
        cmocka_unit_test(dir_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
