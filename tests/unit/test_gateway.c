/* test_gateway.c - the config loader (every error names file:line:col and the
 * field), name matching, PROXY v2 round trips, and a whole gateway in-process
 * under ASan: handshakes through it to an echo backend, events with causes,
 * a bad reload rejected while the old generation serves, a good reload, and
 * a clean shutdown (LeakSanitizer checks everything is freed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/net.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/proxyv2.h"
#include "x509/key.h"
#include "x509/mint.h"
#include "x509/pem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- config loader ---------------------------------------------------------- */

static const char *good = "listeners:\n"
                          "  - name: web\n"
                          "    listen: 127.0.0.1:9447\n"
                          "    profile: modern\n"
                          "    certificates:\n"
                          "      - {cert: chain.pem, key: key.pem}\n"
                          "    routes:\n"
                          "      - {sni: \"*\", backend: app}\n"
                          "backends:\n"
                          "  - name: app\n"
                          "    servers: [\"127.0.0.1:8080\"]\n"
                          "    tls: {enabled: false}\n"
                          "admin:\n"
                          "  listen: 127.0.0.1:9901\n"
                          "events: {file: handshakes.jsonl}\n";

static void config_issue_shape(void **st)
{
    (void)st;
    struct gw_config *c = NULL;
    struct hilt_err e;
    hilt_err_clear(&e);
    int rc = gw_config_load_mem(good, strlen(good), "/etc/hilt/gw.yaml", &c, &e);
    if (rc) fail_msg("%s", e.msg);
    assert_int_equal(c->nlisteners, 1);
    assert_string_equal(c->listeners[0].name, "web");
    assert_int_equal(c->listeners[0].addr.port, 9447);
    assert_string_equal(c->listeners[0].profile->name, "modern");
    assert_string_equal(c->listeners[0].certs[0].cert, "/etc/hilt/chain.pem");
    assert_string_equal(c->listeners[0].certs[0].key, "/etc/hilt/key.pem");
    assert_int_equal(c->listeners[0].routes[0].backend_idx, 0);
    assert_int_equal(c->backends[0].tls.enabled, 0);
    assert_int_equal(c->admin.port, 9901);
    assert_string_equal(c->events_file, "/etc/hilt/handshakes.jsonl");
    assert_int_equal(c->listeners[0].hs_timeout_ms, 10000);
    /* config + two certificate files are watched */
    assert_int_equal(c->nfiles, 3);
    gw_config_free(&c);
    assert_null(c);
}

static void expect_err(const char *yaml, const char *want)
{
    struct gw_config *c = NULL;
    struct hilt_err e;
    hilt_err_clear(&e);
    int rc = gw_config_load_mem(yaml, strlen(yaml), "gw.yaml", &c, &e);
    if (rc == 0) {
        gw_config_free(&c);
        fail_msg("accepted: %s", yaml);
    }
    assert_int_equal(e.kind, HILT_E_INPUT);
    if (!strstr(e.msg, want)) fail_msg("got '%s', want '%s'", e.msg, want);
}

static char *edit(const char *from, const char *to)
{
    static char out[4096];
    const char *p = strstr(good, from);
    assert_non_null(p);
    snprintf(out, sizeof(out), "%.*s%s%s", (int)(p - good), good, to, p + strlen(from));
    return out;
}

static void config_errors(void **st)
{
    (void)st;
    expect_err(edit("profile: modern", "profile: modrn"),
               "gw.yaml:4:14: listeners[0].profile: unknown profile 'modrn'");
    expect_err(edit("listen: 127.0.0.1:9447", "listen: 127.0.0.1"),
               "gw.yaml:3:13: listeners[0].listen: expected HOST:PORT");
    expect_err(edit("listen: 127.0.0.1:9447", "listen: localhost:9447"),
               "gw.yaml:3:13: listeners[0].listen: 'localhost:9447': listen on an IP address");
    expect_err(edit("backend: app}", "backend: ap}"),
               "gw.yaml:8:29: listeners[0].routes[0].backend: unknown backend 'ap' (known: app)");
    expect_err(edit("    routes:", "    rotes:"),
               "gw.yaml:7:5: listeners[0]: unknown key 'rotes' (did you mean 'routes'?)");
    expect_err(edit("tls: {enabled: false}", "tls: {enabled: maybe}"),
               "gw.yaml:12:20: backends[0].tls.enabled: expected true or false");
    expect_err(edit("events:", "evnts:"),
               "gw.yaml:15:1: unknown key 'evnts' (did you mean 'events'?)");
    expect_err(edit("listen: 127.0.0.1:9901", "listen: 127.0.0.1:9447"),
               "listeners[0].listen: address 127.0.0.1:9447 is the admin listener's");
    expect_err(edit("    certificates:\n      - {cert: chain.pem, key: key.pem}\n", ""),
               "gw.yaml:2:5: listeners[0]: missing required key 'certificates'");
    expect_err(edit("- {cert: chain.pem, key: key.pem}", "- {cert: chain.pem}"),
               "gw.yaml:6:9: listeners[0].certificates[0].key: missing required key 'key'");
    expect_err(edit("events: {file: handshakes.jsonl}", "events: {file: x}\nworkers: lots"),
               "gw.yaml:16:10: workers: expected a whole number");
    expect_err("listeners: [\n", "gw.yaml:");
    expect_err("", "empty configuration");
    expect_err(edit("tls: {enabled: false}", "tls: {enabled: false}\n    health: {interval: soon}"),
               "gw.yaml:13:24: backends[0].health.interval: expected a duration");
    expect_err(edit("    routes:", "    client_auth: {mode: required}\n    routes:"),
               "listeners[0].client_auth: mode required needs 'ca'");
    expect_err(edit("tls: {enabled: false}", "tls: {enabled: true, profile: nope}"),
               "gw.yaml:12:35: backends[0].tls.profile: unknown profile 'nope'");
}

static void names_and_durations(void **st)
{
    (void)st;
    assert_true(gw_name_match("*", NULL));
    assert_true(gw_name_match("*.example.com", "a.EXAMPLE.com"));
    assert_false(gw_name_match("*.example.com", "a.b.example.com"));
    assert_false(gw_name_match("*.example.com", "example.com"));
    assert_true(gw_name_match("api.example.com", "API.example.com"));
    assert_false(gw_name_match("api.example.com", NULL));
    assert_int_equal(gw_duration_ms("10s"), 10000);
    assert_int_equal(gw_duration_ms("500ms"), 500);
    assert_int_equal(gw_duration_ms("2m"), 120000);
    assert_int_equal(gw_duration_ms("1h"), 3600000);
    assert_int_equal(gw_duration_ms("3"), 3000);
    assert_int_equal(gw_duration_ms("-1s"), -1);
    assert_int_equal(gw_duration_ms("10 s"), -1);
    assert_int_equal(gw_duration_ms("10d"), -1);
}

static void proxyv2_roundtrip(void **st)
{
    (void)st;
    struct pp2_info in = {0};
    struct sockaddr_in *s = (void *)&in.src, *d = (void *)&in.dst;
    s->sin_family = d->sin_family = AF_INET;
    inet_pton(AF_INET, "10.1.2.3", &s->sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &d->sin_addr);
    s->sin_port = htons(40000);
    d->sin_port = htons(443);
    in.alpn = "h2";
    in.sni = "api.example";
    in.ssl = 1;
    in.client_cert = 1;
    in.verify = 0;
    in.version = "TLSv1.3";
    in.cn = "client-1";
    in.cipher = "TLS_AES_128_GCM_SHA256";
    in.subject = "CN=client-1,O=Partner";
    in.ja4 = "t13d1516h2_8daaf6152771_d8a2da3f94cd";
    struct hilt_buf b;
    hilt_buf_init(&b, PP2_MAX_HEADER);
    assert_int_equal(pp2_encode(&in, &b), 0);
    struct pp2_parsed p;
    assert_int_equal(pp2_parse(b.data, 10, &p), 0); /* partial */
    assert_int_equal(pp2_parse(b.data, b.len - 1, &p), 0);
    assert_int_equal(pp2_parse(b.data, b.len, &p), 1);
    assert_int_equal(p.header_len, b.len);
    assert_string_equal(p.src, "10.1.2.3:40000");
    assert_string_equal(p.dst, "127.0.0.1:443");
    assert_string_equal(p.alpn, "h2");
    assert_string_equal(p.sni, "api.example");
    assert_true(p.has_ssl);
    assert_int_equal(p.client, PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN);
    assert_int_equal(p.verify, 0);
    assert_string_equal(p.version, "TLSv1.3");
    assert_string_equal(p.cn, "client-1");
    assert_string_equal(p.subject, "CN=client-1,O=Partner");
    assert_string_equal(p.ja4, in.ja4);
    b.data[12] = 0x31; /* version 3 */
    assert_int_equal(pp2_parse(b.data, b.len, &p), -1);
    assert_int_equal(pp2_parse((const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, &p), -1);
    /* IPv6 */
    hilt_buf_reset(&b);
    struct pp2_info in6 = {0};
    struct sockaddr_in6 *s6 = (void *)&in6.src, *d6 = (void *)&in6.dst;
    s6->sin6_family = d6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::1", &s6->sin6_addr);
    inet_pton(AF_INET6, "::1", &d6->sin6_addr);
    s6->sin6_port = htons(1);
    d6->sin6_port = htons(2);
    assert_int_equal(pp2_encode(&in6, &b), 0);
    assert_int_equal(pp2_parse(b.data, b.len, &p), 1);
    assert_string_equal(p.src, "[::1]:1");
    assert_false(p.has_ssl);
    hilt_buf_free(&b);
}

/* ---- a whole gateway in-process ------------------------------------------- */

static char dir[64];

static void write_pki(const char *name, int days)
{
    struct hilt_keyspec ks = {HILT_KEY_EC, 256};
    EVP_PKEY *k = hilt_key_generate(&ks, NULL);
    assert_non_null(k);
    struct hilt_cert_spec s;
    hilt_cert_spec_init(&s, "localhost", days);
    const char *sans[] = {"DNS:localhost", "IP:127.0.0.1"};
    s.sans = sans;
    s.nsans = 2;
    X509 *x = hilt_mint(&s, k, NULL, NULL);
    assert_non_null(x);
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 16);
    char path[128];
    assert_int_equal(hilt_certs_to_pem(&b, &x, 1), 0);
    snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
    assert_int_equal(hilt_file_write_atomic(path, b.data, b.len, 0644, NULL), 0);
    hilt_buf_reset(&b);
    assert_int_equal(hilt_key_to_pem(k, &b, NULL), 0);
    snprintf(path, sizeof(path), "%s/%s.key", dir, name);
    assert_int_equal(hilt_file_write_atomic(path, b.data, b.len, 0600, NULL), 0);
    hilt_buf_free(&b);
    X509_free(x);
    EVP_PKEY_free(k);
}

struct echo {
    int fd;
    pthread_t th;
};

static void *echo_main(void *arg)
{
    struct echo *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) return NULL;
        char buf[4096];
        ssize_t n;
        while ((n = read(c, buf, sizeof(buf))) > 0)
            if (write(c, buf, (size_t)n) != n) break;
        close(c);
    }
}

static struct gateway *gw;
static pthread_t gw_th;

static void *serve_main(void *arg)
{
    (void)arg;
    struct hilt_err e;
    gw_serve(gw, &e);
    return NULL;
}

static void write_config(int backend_port, const char *profile, const char *extra)
{
    char path[128], yaml[2048];
    snprintf(path, sizeof(path), "%s/gw.yaml", dir);
    snprintf(yaml, sizeof(yaml),
             "workers: 1\n"
             "listeners:\n"
             "  - name: web\n"
             "    listen: 127.0.0.1:0\n"
             "    profile: %s\n"
             "    alpn: [h2, http/1.1]\n"
             "    certificates:\n"
             "      - {cert: leaf.pem, key: leaf.key}\n"
             "    routes:\n"
             "      - {sni: \"*\", backend: app}\n"
             "    timeouts: {handshake: 300ms}\n"
             "backends:\n"
             "  - name: app\n"
             "    servers: [\"127.0.0.1:%d\"]\n"
             "admin: {listen: 127.0.0.1:0}\n"
             "events: {file: events.jsonl}\n"
             "%s",
             profile, backend_port, extra);
    assert_int_equal(hilt_file_write_atomic(path, yaml, strlen(yaml), 0644, NULL), 0);
}

/* One client handshake; returns 1 completed (and echoed "ping"), 0 refused. */
static int client(int port, int max_version, const char *alpn)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(ctx, max_version);
    SSL_CTX_set_security_level(ctx, 0);
    if (alpn) SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)alpn, (unsigned)strlen(alpn));
    int fd = -1, ok = 0;
    struct hilt_err e;
    assert_int_equal(hilt_tcp_connect("127.0.0.1", (uint16_t)port, 2000, &fd, NULL, 0, &e), 0);
    hilt_set_nonblock(fd, 0);
    SSL *s = SSL_new(ctx);
    SSL_set_fd(s, fd);
    SSL_set_tlsext_host_name(s, "localhost");
    if (SSL_connect(s) == 1) {
        char buf[8] = {0};
        ok = SSL_write(s, "ping", 4) == 4 && SSL_read(s, buf, 4) == 4 && !memcmp(buf, "ping", 4);
        SSL_shutdown(s);
    }
    SSL_free(s);
    close(fd);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

static json_t *admin_get(const char *path, const char *method)
{
    int fd;
    struct hilt_err e;
    assert_int_equal(
        hilt_tcp_connect("127.0.0.1", (uint16_t)gw_admin_port(gw), 2000, &fd, NULL, 0, &e), 0);
    hilt_set_nonblock(fd, 0);
    char req[256];
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\n\r\n", method, path);
    assert_true(write(fd, req, strlen(req)) > 0);
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 20);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        hilt_buf_add(&b, buf, (size_t)n);
    close(fd);
    const char *body = strstr(hilt_buf_cstr(&b), "\r\n\r\n");
    assert_non_null(body);
    json_t *j = json_loads(body + 4, 0, NULL);
    hilt_buf_free(&b);
    return j;
}

static int count_code(const char *code)
{
    char path[128], line[4096];
    snprintf(path, sizeof(path), "%s/events.jsonl", dir);
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strstr(line, code)) n++;
    if (f) fclose(f);
    return n;
}

static void gateway_end_to_end(void **st)
{
    (void)st;
    snprintf(dir, sizeof(dir), "/tmp/hilt-gw-unit.XXXXXX");
    assert_non_null(mkdtemp(dir));
    write_pki("leaf", 30);
    struct echo be;
    struct hilt_err e;
    assert_int_equal(hilt_tcp_listen("127.0.0.1", 0, 16, 0, &be.fd, &e), 0);
    hilt_set_nonblock(be.fd, 0);
    pthread_create(&be.th, NULL, echo_main, &be);
    write_config(hilt_sock_port(be.fd), "intermediate", "");
    char path[128];
    snprintf(path, sizeof(path), "%s/gw.yaml", dir);
    struct gw_opts o = {.config = path, .workers = 0, .use_signals = 0};
    hilt_err_clear(&e);
    gw = gw_new(&o, &e);
    if (!gw) fail_msg("%s", e.msg);
    pthread_create(&gw_th, NULL, serve_main, NULL);
    int port = gw_listener_port(gw, 0);
    assert_true(port > 0);
    assert_int_equal(client(port, TLS1_3_VERSION, "\x02h2"), 1);
    assert_int_equal(client(port, TLS1_2_VERSION, NULL), 1);
    assert_int_equal(client(port, TLS1_1_VERSION, NULL), 0);
    assert_int_equal(client(port, TLS1_3_VERSION, "\x04spdy"), 0);
    /* a client that connects and says nothing: cut off by the 300 ms handshake timeout */
    int idle;
    assert_int_equal(hilt_tcp_connect("127.0.0.1", (uint16_t)port, 2000, &idle, NULL, 0, &e), 0);
    usleep(700 * 1000);
    close(idle);
    json_t *s = admin_get("/status", "GET");
    assert_non_null(s);
    unsigned long gen1 = (unsigned long)json_integer_value(json_object_get(s, "generation"));
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(s, "listeners"), 0), "handshakes")),
                     5);
    json_decref(s);
    json_t *obs = admin_get("/observed", "GET");
    assert_true(json_array_size(json_object_get(obs, "clients")) >= 3);
    json_decref(obs);
    /* a bad config is rejected and the old one keeps serving */
    write_config(hilt_sock_port(be.fd), "modrn", "");
    json_t *r = admin_get("/reload", "POST");
    assert_true(json_is_false(json_object_get(r, "ok")));
    assert_non_null(
        strstr(json_string_value(json_object_get(r, "error")), "unknown profile 'modrn'"));
    json_decref(r);
    assert_int_equal(client(port, TLS1_3_VERSION, NULL), 1);
    /* a good one is taken; the same port keeps serving */
    write_config(hilt_sock_port(be.fd), "modern", "");
    r = admin_get("/reload", "POST");
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_true((unsigned long)json_integer_value(json_object_get(r, "generation")) > gen1);
    json_decref(r);
    assert_int_equal(client(port, TLS1_3_VERSION, NULL), 1);
    assert_int_equal(client(port, TLS1_2_VERSION, NULL), 0); /* modern is TLS 1.3 only */
    gw_stop(gw);
    pthread_join(gw_th, NULL);
    gw_free(&gw);
    assert_int_equal(count_code("\"code\":\"protocol_version_mismatch\""), 2);
    assert_int_equal(count_code("\"code\":\"alpn_mismatch\""), 1);
    assert_int_equal(count_code("\"code\":\"handshake_timeout\""), 1);
    assert_int_equal(count_code("\"result\":\"ok\""), 4);
    shutdown(be.fd, SHUT_RDWR);
    close(be.fd);
    pthread_join(be.th, NULL);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_issue_shape),  cmocka_unit_test(config_errors),
        cmocka_unit_test(names_and_durations), cmocka_unit_test(proxyv2_roundtrip),
        cmocka_unit_test(gateway_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
