/* test_api_http.c - hilt serve's pieces that need no server: the bounded
 * HTTP/1.1 request parser (every refusal and its status, the smuggling
 * vectors of RFC 9112 §11), Host validation, the metrics registry (series
 * checks, grouping, the series bound) and the config loader (defaults,
 * file:line:col errors, scopes, listeners). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/api_metrics.h"
#include "api/httpparse.h"
#include "api/serve.h"
#include "core/buf.h"
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct hilt_http_head head;

static int parse(const char *req, int *status, const char **why)
{
    struct hilt_http_limits l;
    hilt_http_limits_default(&l);
    *status = 0;
    *why = NULL;
    return hilt_http_parse_head((const uint8_t *)req, strlen(req), &l, &head, status, why);
}

static void refused(const char *req, int want)
{
    int st;
    const char *why;
    int rc = parse(req, &st, &why);
    if (rc != -1 || st != want)
        fprintf(stderr, "request %.60s: rc %d status %d (%s), wanted %d\n", req, rc, st,
                why ? why : "", want);
    assert_int_equal(rc, -1);
    assert_int_equal(st, want);
    assert_non_null(why);
}

static void good_requests(void **state)
{
    (void)state;
    int st;
    const char *why;
    const char *r = "GET /v1/requests?state=pending&limit=5 HTTP/1.1\r\nHost: localhost:8443\r\n"
                    "Authorization: Bearer x\r\nX-Empty:\r\n\r\nGET / HTTP/1.1\r\n";
    assert_int_equal(parse(r, &st, &why), 1);
    assert_string_equal(head.method, "GET");
    assert_string_equal(head.path, "/v1/requests");
    assert_string_equal(head.query, "state=pending&limit=5");
    assert_string_equal(head.host, "localhost:8443");
    assert_int_equal(head.nheaders, 3);
    assert_string_equal(head.headers[1].name, "Authorization");
    assert_string_equal(head.headers[1].value, "Bearer x");
    assert_string_equal(head.headers[2].value, "");
    assert_int_equal(head.keep_alive, 1);
    /* head_len stops at the end of the first request (pipelining) */
    assert_int_equal(head.head_len, strstr(r, "GET / ") - r);

    r = "POST /v1/requests HTTP/1.1\r\nHost: [::1]:443\r\nContent-Length: 12\r\n"
        "Content-Type: application/json\r\nConnection: close\r\nExpect: 100-continue\r\n\r\n";
    assert_int_equal(parse(r, &st, &why), 1);
    assert_int_equal(head.content_length, 12);
    assert_int_equal(head.keep_alive, 0);
    assert_int_equal(head.expect_continue, 1);
    assert_string_equal(head.query, "");

    /* HTTP/1.0: no Host needed, close unless keep-alive */
    assert_int_equal(parse("GET /healthz HTTP/1.0\r\n\r\n", &st, &why), 1);
    assert_int_equal(head.keep_alive, 0);
    assert_null(head.host);
    assert_int_equal(parse("GET /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &st, &why),
                     1);
    assert_int_equal(head.keep_alive, 1);
    /* an empty line before the request line is ignored (RFC 9112 §2.2) */
    assert_int_equal(parse("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &st, &why), 1);
    /* repeated identical Content-Length is one */
    assert_int_equal(
        parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", &st,
              &why),
        1);
    assert_int_equal(head.content_length, 3);
}

static void incomplete(void **state)
{
    (void)state;
    int st;
    const char *why;
    assert_int_equal(parse("", &st, &why), 0);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n", &st, &why), 0);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n\r", &st, &why), 0);
}

static void smuggling_and_limits(void **state)
{
    (void)state;
    refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 411);
    refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            400);
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413);
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", 413);
    refused("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400); /* obs-fold */
    refused("GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400);      /* space before : */
    refused("GET / HTTP/1.1\nHost: a\r\n\r\n", 400);                   /* bare LF */
    refused("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400);              /* bare CR */
    refused("GET / HTTP/1.1\r\nX-A: b\x01\r\nHost: a\r\n\r\n", 400);   /* control */
    refused("GET / HTTP/1.1\r\n\r\n", 400);                            /* no Host */
    refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);      /* two Hosts */
    refused("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);               /* bad Host */
    refused("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    refused("GET / HTTQ/1.1\r\nHost: a\r\n\r\n", 400);
    refused("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400); /* absolute form */
    refused("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    refused("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417);
    /* request line over 8 KiB: 414, even before the head ends */
    char *big = malloc(20000);
    memset(big, 'a', 19999);
    big[19999] = 0;
    memcpy(big, "GET /", 5);
    refused(big, 414);
    /* header block over 16 KiB: 431 */
    snprintf(big, 20000, "GET / HTTP/1.1\r\nHost: a\r\n");
    size_t o = strlen(big);
    while (o < 17000) {
        memcpy(big + o, "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 39);
        o += 39;
    }
    big[o] = 0;
    refused(big, 431);
    /* more than 64 headers: 431 */
    snprintf(big, 20000, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 70; i++)
        strcat(big, "X: y\r\n");
    strcat(big, "\r\n");
    refused(big, 431);
    free(big);
    /* a NUL inside the head */
    const char nul[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
    struct hilt_http_limits l;
    hilt_http_limits_default(&l);
    int st;
    const char *why;
    assert_int_equal(
        hilt_http_parse_head((const uint8_t *)nul, sizeof(nul) - 1, &l, &head, &st, &why), -1);
    assert_int_equal(st, 400);
}

static void hosts(void **state)
{
    (void)state;
    assert_true(hilt_http_host_ok("localhost"));
    assert_true(hilt_http_host_ok("127.0.0.1:8443"));
    assert_true(hilt_http_host_ok("[::1]:443"));
    assert_true(hilt_http_host_ok("a-b.example.com"));
    assert_false(hilt_http_host_ok(""));
    assert_false(hilt_http_host_ok("a b"));
    assert_false(hilt_http_host_ok("a:"));
    assert_false(hilt_http_host_ok("a:123456"));
    assert_false(hilt_http_host_ok("[::1"));
    assert_false(hilt_http_host_ok("a@b"));
    assert_false(hilt_http_host_ok(":80"));
}

static void metrics(void **state)
{
    (void)state;
    struct hilt_metrics *m = hilt_metrics_new();
    assert_non_null(m);
    hilt_metrics_add(m, "hilt_x_total{a=\"1\"}", 2);
    hilt_metrics_add(m, "hilt_x_total{a=\"1\"}", 3);
    hilt_metrics_add(m, "hilt_a_total", 1);
    hilt_metrics_add(m, "hilt_x_total{a=\"2\",b=\"q\\\"x\"}", 1);
    hilt_metrics_add(m, "bad series", 1);
    hilt_metrics_add(m, "x{a=1}", 1);
    hilt_metrics_add(m, "x{a=\"1\"", 1);
    assert_int_equal(hilt_metrics_get(m, "hilt_x_total{a=\"1\"}"), 5);
    assert_int_equal(hilt_metrics_get(m, "bad series"), 0);
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 20);
    assert_int_equal(hilt_metrics_render(m, &b), 0);
    const char *t = hilt_buf_cstr(&b);
    assert_non_null(strstr(t, "# TYPE hilt_a_total counter\nhilt_a_total 1\n"));
    assert_non_null(strstr(t, "# TYPE hilt_x_total counter\nhilt_x_total{a=\"1\"} 5\n"
                              "hilt_x_total{a=\"2\",b=\"q\\\"x\"} 1\n"));
    assert_non_null(strstr(t, "hilt_metrics_dropped_series_total 3\n"));
    /* bounded: new series past the limit are dropped, existing ones still count */
    char s[64];
    for (int i = 0; i < HILT_METRICS_MAX_SERIES + 10; i++) {
        snprintf(s, sizeof(s), "hilt_many_total{i=\"%d\"}", i);
        hilt_metrics_add(m, s, 1);
    }
    hilt_metrics_add(m, "hilt_a_total", 1);
    assert_int_equal(hilt_metrics_get(m, "hilt_a_total"), 2);
    hilt_buf_reset(&b);
    assert_int_equal(hilt_metrics_render(m, &b), 0);
    assert_null(strstr(hilt_buf_cstr(&b), "i=\"4200\""));
    hilt_buf_free(&b);
    hilt_metrics_free(m);
}

static const char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/hilt-serve-cfg.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void config(void **state)
{
    (void)state;
    struct hilt_serve_config c;
    struct hilt_err e = {0};
    const char *p = write_tmp("node: node-a\n"
                              "listeners:\n"
                              "  - listen: 127.0.0.1:8443\n"
                              "    profile: modern\n"
                              "  - listen: 127.0.0.1:8080\n"
                              "    tls: false\n"
                              "certificate:\n"
                              "  names: [localhost, 127.0.0.1]\n"
                              "  lifetime: 10m\n"
                              "  renew_before: 5m\n"
                              "scopes:\n"
                              "  - names: '*.svc.internal'\n"
                              "    environment: internal-api\n"
                              "    max_lifetime: 7d\n"
                              "approvals: {issue_on_approve: false}\n"
                              "limits: {max_connections: 10, header_timeout: 2s, max_body: 64KiB}\n"
                              "renewal: {interval: 5s, lease_ttl: 6s}\n");
    hilt_serve_config_defaults(&c);
    int rc = hilt_serve_config_load(p, &c, &e);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(hilt_serve_config_check(&c, &e), 0);
    unlink(p);
    assert_string_equal(c.node, "node-a");
    assert_int_equal(c.nlisteners, 2);
    assert_string_equal(c.listeners[0].profile, "modern");
    assert_int_equal(c.listeners[1].tls, 0);
    assert_int_equal(c.ncert_names, 2);
    assert_int_equal(c.cert_lifetime, 600);
    assert_int_equal(c.nscopes, 1);
    assert_string_equal(c.scopes[0].pattern, "*.svc.internal");
    assert_string_equal(c.scopes[0].env, "internal-api");
    assert_int_equal(c.scopes[0].max_lifetime, 7 * 86400);
    assert_int_equal(c.issue_on_approve, 0);
    assert_int_equal(c.limits.max_connections, 10);
    assert_int_equal(c.limits.header_timeout, 2);
    assert_int_equal(c.limits.max_body, 65536);
    assert_int_equal(c.renewal.lease_ttl, 6);

    static const struct {
        const char *text, *want;
    } bad[] = {
        {"listners: []\n", ":1:1: unknown key 'listners' (did you mean 'listeners'?)"},
        {"listeners:\n  - listen: localhost:80\n",
         ":2:13: listeners[0].listen: 'localhost:80' is not IP:PORT"},
        {"listeners:\n  - {listen: 127.0.0.1:1, tls: yes}\n",
         "listeners[0].tls: expected true or false"},
        {"limits:\n  header_timeout: soon\n", ":2:19: limits.header_timeout: expected a duration"},
        {"limits: {max_body: 1GiB}\n", "limits.max_body: expected a size"},
        {"scopes:\n  - names: 'a..b'\n", ":2:12: scopes[0].names:"},
        {"scopes:\n  - environment: x\n", "a scope needs 'names: PATTERN'"},
        {"certificate: {lifetime: 1h, renew_before: 2h}\n", "renew_before must be shorter"},
        {"renewal: {lease_ttl: 1s}\n", "renewal.lease_ttl: must be at least 3s"},
        {"acme: {resolve: [nothing]}\n", "expected NAME=IP"},
        {"node: [a]\n", "node: expected a string"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p = write_tmp(bad[i].text);
        hilt_serve_config_defaults(&c);
        memset(&e, 0, sizeof(e));
        rc = hilt_serve_config_load(p, &c, &e);
        unlink(p);
        if (rc != -1 || !strstr(e.msg, bad[i].want))
            fprintf(stderr, "config %zu: rc %d '%s', wanted '%s'\n", i, rc, e.msg, bad[i].want);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(e.msg, bad[i].want));
    }
    /* no listener at all */
    hilt_serve_config_defaults(&c);
    assert_int_equal(hilt_serve_config_check(&c, &e), -1);
    assert_non_null(strstr(e.msg, "no listener"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_requests),
        cmocka_unit_test(incomplete),
        cmocka_unit_test(smuggling_and_limits),
        cmocka_unit_test(hosts),
        cmocka_unit_test(metrics),
        cmocka_unit_test(config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
