/* test_acme.c - the ACME server (api/acme*.c, api/ari.c) driven through
 * hilt_acme_handle() on a temporary store and CA, with challenge servers
 * (http-01 over evhttp, tls-alpn-01 over an OpenSSL bufferevent) on the same
 * event base: directory and nonces, accounts (ES256, RS256), every JWS check
 * of RFC 8555 §6 with its problem document field by field and nothing
 * stored, orders through validation, finalize and download, validation
 * failures (wrong answer, hang, refused), revocation both ways, key
 * rollover, ARI windows, pull-forward and replaces. SQLite always;
 * PostgreSQL (and two nodes sharing it) when HILT_TEST_PG_URL is set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/api.h"
#include "api/ari.h"
#include "api/jws.h"
#include "ca/ca.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "store/store.h"
#include "store/store_acme.h"
#include "x509/key.h"
#include "x509/verify.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <libpq-fe.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BASE "https://acme.test:14000"

/* ---- harness ------------------------------------------------------------------------------ */

enum http_mode { H_GOOD, H_WRONG, H_404, H_HANG };

struct t {
    const char *kind;
    char home[256];
    char url[1024];
    struct hilt_store *st, *st2;
    struct hilt_ca *ca;
    struct event_base *base;
    struct hilt_api api, api2; /* api2: a second node on the same store (PostgreSQL) */
    struct hilt_scope scope;
    const char *resolve[2];
    char nonce[64];
    /* challenge servers */
    struct evhttp *http;
    int http_port, hang_port, tls_port, dead_port;
    enum http_mode mode;
    char tokens[8][64], kas[8][256];
    int ntokens;
    struct evconnlistener *tls_lst, *hang_lst;
    SSL_CTX *tls_ctx;
    int tls_bad; /* serve a wrong acmeIdentifier */
    /* the last reply */
    int status;
    char location[1024], retry_after[32], link[1200], content_type[96];
    char *body;
    struct hilt_buf raw;
};

static struct t sq = {.kind = "sqlite"};
static struct t pg = {.kind = "postgres"};

static void quiet(void *arg, const char *msg)
{
    (void)arg, (void)msg;
}

static void http_cb(struct evhttp_request *r, void *arg)
{
    struct t *t = arg;
    const char *uri = evhttp_request_get_uri(r);
    const char *pfx = "/.well-known/acme-challenge/";
    struct evbuffer *b = evbuffer_new();
    if (t->mode == H_404 || strncmp(uri, pfx, strlen(pfx))) {
        evhttp_send_reply(r, 404, "Not Found", b);
        evbuffer_free(b);
        return;
    }
    const char *tok = uri + strlen(pfx);
    for (int i = 0; i < t->ntokens; i++)
        if (!strcmp(t->tokens[i], tok)) {
            evbuffer_add_printf(b, "%s\n",
                                t->mode == H_WRONG ? "not-the-key-authorization" : t->kas[i]);
            evhttp_send_reply(r, 200, "OK", b);
            evbuffer_free(b);
            return;
        }
    evhttp_send_reply(r, 404, "Not Found", b);
    evbuffer_free(b);
}

static int sock_port(evutil_socket_t fd)
{
    struct sockaddr_in sa;
    socklen_t l = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &l);
    return ntohs(sa.sin_port);
}

/* A listener that accepts and never answers: the validator must give up. */
static void hang_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int n,
                        void *arg)
{
    (void)l, (void)sa, (void)n, (void)arg;
    /* keep it open (closed at exit): the peer hears nothing */
    (void)fd;
}

/* tls-alpn-01 responder: a certificate for the token that was registered
 * last, made per connection. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl, (void)arg;
    for (unsigned i = 0; i + 1 <= inlen;) {
        unsigned l = in[i];
        if (l == 10 && i + 1 + l <= inlen && !memcmp(in + i + 1, "acme-tls/1", 10)) {
            *out = in + i + 1;
            *outlen = 10;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + l;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static EVP_PKEY *gen(const char *spec)
{
    struct hilt_keyspec ks;
    assert_int_equal(hilt_keyspec_parse(spec, &ks, NULL), 0);
    EVP_PKEY *k = hilt_key_generate(&ks, NULL);
    assert_non_null(k);
    return k;
}

static X509 *alpn_cert(EVP_PKEY *k, const char *name, const char *keyauth, int bad)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    char san[300];
    snprintf(san, sizeof(san), "DNS:%s", name);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
    X509_add_ext(x, ex, -1);
    X509_EXTENSION_free(ex);
    unsigned char v[34] = {0x04, 0x20};
    SHA256((const unsigned char *)keyauth, strlen(keyauth), v + 2);
    if (bad) v[5] ^= 1;
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(os, v, sizeof(v));
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    ex = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, os);
    X509_add_ext(x, ex, -1);
    X509_EXTENSION_free(ex);
    ASN1_OBJECT_free(oid);
    ASN1_OCTET_STRING_free(os);
    X509_sign(x, k, EVP_sha256());
    return x;
}

static void tls_event(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) bufferevent_free(bev);
}

static void tls_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int n,
                       void *arg)
{
    (void)l, (void)sa, (void)n;
    struct t *t = arg;
    SSL *ssl = SSL_new(t->tls_ctx);
    if (t->ntokens) {
        EVP_PKEY *k = gen("ec-p256");
        X509 *x = alpn_cert(k, "alpn.example.test", t->kas[t->ntokens - 1], t->tls_bad);
        SSL_use_certificate(ssl, x);
        SSL_use_PrivateKey(ssl, k);
        X509_free(x);
        EVP_PKEY_free(k);
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        t->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, NULL, NULL, tls_event, t);
    bufferevent_enable(bev, EV_READ);
}

static struct hilt_store *open_store(struct t *t)
{
    struct hilt_err e = {0};
    struct hilt_store *s = hilt_store_open(t->url, &e);
    if (!s) fprintf(stderr, "store: %s\n", e.msg);
    return s;
}

static int setup(void **state)
{
    struct t *t = *state;
    struct hilt_err e = {0};
    snprintf(t->home, sizeof(t->home), "/tmp/hilt-acme-test.XXXXXX");
    if (!mkdtemp(t->home)) return -1;
    if (!strcmp(t->kind, "sqlite")) {
        snprintf(t->url, sizeof(t->url), "%s/hilt.db", t->home);
    } else {
        const char *u = getenv("HILT_TEST_PG_URL");
        if (!u || !*u) {
            t->url[0] = '\0';
            return 0;
        }
        snprintf(t->url, sizeof(t->url), "%s", u);
        PGconn *c = PQconnectdb(u);
        if (PQstatus(c) != CONNECTION_OK) return -1;
        PQsetNoticeProcessor(c, quiet, NULL);
        PQclear(PQexec(c, "DROP SCHEMA public CASCADE; CREATE SCHEMA public"));
        PQfinish(c);
    }
    if (!(t->st = open_store(t))) return -1;
    struct hilt_ca_init_opts o = {
        .name = "hilt", .ocsp_url = "http://127.0.0.1:1/ocsp", .crl_url = "http://127.0.0.1:1/crl"};
    if (hilt_ca_init(t->st, t->home, &o, &e) < 0) {
        fprintf(stderr, "ca init: %s\n", e.msg);
        return -1;
    }
    if (!(t->ca = hilt_ca_open(t->st, t->home, "hilt", &e))) return -1;
    t->base = event_base_new();
    /* challenge servers on loopback */
    t->http = evhttp_new(t->base);
    evhttp_set_gencb(t->http, http_cb, t);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(t->http, "127.0.0.1", 0);
    t->http_port = sock_port(evhttp_bound_socket_get_fd(bs));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    t->hang_lst = evconnlistener_new_bind(t->base, hang_accept, t, LEV_OPT_CLOSE_ON_FREE, 16,
                                          (struct sockaddr *)&sa, sizeof(sa));
    t->hang_port = sock_port(evconnlistener_get_fd(t->hang_lst));
    t->tls_ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_alpn_select_cb(t->tls_ctx, alpn_select, t);
    t->tls_lst = evconnlistener_new_bind(t->base, tls_accept, t, LEV_OPT_CLOSE_ON_FREE, 16,
                                         (struct sockaddr *)&sa, sizeof(sa));
    t->tls_port = sock_port(evconnlistener_get_fd(t->tls_lst));
    /* a port nobody listens on */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    t->dead_port = sock_port(fd);
    close(fd);
    hilt_scope_parse("*.example.test", &t->scope, NULL);
    t->resolve[0] = "*.example.test=127.0.0.1";
    memset(&t->api, 0, sizeof(t->api));
    t->api.base = t->base;
    t->api.st = t->st;
    t->api.ca = t->ca;
    t->api.home = t->home;
    t->api.node_id = "node1";
    t->api.scopes = &t->scope;
    t->api.nscopes = 1;
    t->api.http01_port = t->http_port;
    t->api.tlsalpn01_port = t->tls_port;
    t->api.resolve = t->resolve;
    t->api.nresolve = 1;
    t->api.issue_on_approve = 1;
    setenv("HILT_ACME_VALIDATION_TIMEOUT_MS", "400", 1);
    memset(&t->api2, 0, sizeof(t->api2));
    if (hilt_acme_init(&t->api, &e) < 0) {
        fprintf(stderr, "init: %s\n", e.msg);
        return -1;
    }
    hilt_buf_init(&t->raw, 1u << 20);
    t->nonce[0] = '\0'; /* a nonce of the previous test's server is no good here */
    t->ntokens = 0;
    t->mode = H_GOOD;
    t->tls_bad = 0;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;
    if (!t->st) return 0;
    if (t->api2.acme) hilt_acme_free(&t->api2);
    hilt_store_close(t->st2);
    t->st2 = NULL;
    hilt_acme_free(&t->api);
    evconnlistener_free(t->tls_lst);
    evconnlistener_free(t->hang_lst);
    SSL_CTX_free(t->tls_ctx);
    evhttp_free(t->http);
    event_base_free(t->base);
    hilt_ca_close(t->ca);
    hilt_store_close(t->st);
    t->st = NULL;
    free(t->body);
    t->body = NULL;
    hilt_buf_free(&t->raw);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->home);
    return system(cmd) == 0 ? 0 : -1;
}

static struct t *env(void **state)
{
    struct t *t = *state;
    if (!t->st) {
        print_message("SKIP: HILT_TEST_PG_URL is not set; run tests/integration/acme_pg.sh\n");
        skip();
    }
    return t;
}

static const char *hdr(const struct hilt_reply *r, const char *name)
{
    for (int i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->headers[i].name, name)) return r->headers[i].value;
    return NULL;
}

/* One request through the handler; the reply is kept in t. */
static json_t *call_api(struct t *t, struct hilt_api *api, const char *method, const char *path,
                        const char *ctype, const void *body, size_t len)
{
    struct hilt_header hs[2];
    int nh = 0;
    if (ctype) hs[nh++] = (struct hilt_header){"Content-Type", ctype};
    struct hilt_req rq = {.method = method,
                          .path = path,
                          .query = "",
                          .headers = hs,
                          .nheaders = nh,
                          .body = body,
                          .body_len = len,
                          .remote = "127.0.0.1:1",
                          .base_url = BASE};
    struct hilt_reply r;
    hilt_reply_init(&r);
    hilt_acme_handle(api, &rq, &r);
    t->status = r.status;
    const char *v;
    snprintf(t->nonce, sizeof(t->nonce), "%s", (v = hdr(&r, "Replay-Nonce")) ? v : "");
    snprintf(t->location, sizeof(t->location), "%s", (v = hdr(&r, "Location")) ? v : "");
    snprintf(t->retry_after, sizeof(t->retry_after), "%s", (v = hdr(&r, "Retry-After")) ? v : "");
    snprintf(t->link, sizeof(t->link), "%s", "");
    for (int i = 0; i < r.nheaders; i++)
        if (!strcasecmp(r.headers[i].name, "Link") && strstr(r.headers[i].value, "rel=\"up\""))
            snprintf(t->link, sizeof(t->link), "%s", r.headers[i].value);
    snprintf(t->content_type, sizeof(t->content_type), "%s", r.content_type);
    hilt_buf_reset(&t->raw);
    if (r.body.len) hilt_buf_add(&t->raw, r.body.data, r.body.len);
    json_t *j = r.body.len ? json_loadb((const char *)r.body.data, r.body.len, 0, NULL) : NULL;
    hilt_reply_free(&r);
    return j;
}

static json_t *call(struct t *t, const char *method, const char *path, const char *ctype,
                    const void *body, size_t len)
{
    return call_api(t, &t->api, method, path, ctype, body, len);
}

static void fresh_nonce(struct t *t)
{
    json_decref(call(t, "HEAD", "/acme/new-nonce", NULL, NULL, 0));
    assert_int_equal(t->status, 200);
    assert_int_equal(strlen(t->nonce), 34);
}

/* POST a signed request; kid NULL = jwk. payload NULL = POST-as-GET. */
static json_t *post_api(struct t *t, struct hilt_api *api, EVP_PKEY *k, const char *kid,
                        const char *path, const char *payload)
{
    if (!t->nonce[0]) fresh_nonce(t);
    char url[1200];
    snprintf(url, sizeof(url), "%s%s", BASE, path);
    char *jws = hilt_jws_sign(k, kid, t->nonce, url, payload, NULL);
    assert_non_null(jws);
    json_t *j = call_api(t, api, "POST", path, "application/jose+json", jws, strlen(jws));
    free(jws);
    return j;
}

static json_t *post(struct t *t, EVP_PKEY *k, const char *kid, const char *path,
                    const char *payload)
{
    return post_api(t, &t->api, k, kid, path, payload);
}

static const char *path_of(const char *url)
{
    assert_true(!strncmp(url, BASE, strlen(BASE)));
    return url + strlen(BASE);
}

static void expect_problem(struct t *t, json_t *j, int status, const char *type)
{
    if (t->status != status || !j ||
        strcmp(json_string_value(json_object_get(j, "type")) ?: "", type))
        fprintf(stderr, "got %d %.*s\n", t->status, (int)t->raw.len, (const char *)t->raw.data);
    assert_int_equal(t->status, status);
    assert_string_equal(t->content_type, "application/problem+json");
    assert_string_equal(json_string_value(json_object_get(j, "type")), type);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), status);
    assert_non_null(json_string_value(json_object_get(j, "detail")));
    /* §6.5: every answer carries a fresh nonce, errors included */
    assert_int_equal(strlen(t->nonce), 34);
}

static char *new_account(struct t *t, EVP_PKEY *k)
{
    json_t *j = post(t, k, NULL, "/acme/new-account",
                     "{\"termsOfServiceAgreed\":true,\"contact\":[\"mailto:ops@example.test\"]}");
    if (t->status != 201) fprintf(stderr, "%.*s\n", (int)t->raw.len, (const char *)t->raw.data);
    assert_int_equal(t->status, 201);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "valid");
    json_decref(j);
    return strdup(t->location);
}

/* Run the event loop until `done` or 5 s. */
static void pump(struct t *t, int ms)
{
    uint64_t end = hilt_mono_us() + (uint64_t)ms * 1000;
    while (hilt_mono_us() < end) {
        event_base_loop(t->base, EVLOOP_NONBLOCK);
        usleep(2000);
    }
}

static int64_t count_rows(struct t *t, const char *table)
{
    if (strcmp(t->kind, "sqlite")) {
        PGconn *c = PQconnectdb(t->url);
        char q[128];
        snprintf(q, sizeof(q), "SELECT COUNT(*) FROM %s", table);
        PGresult *r = PQexec(c, q);
        int64_t n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
        return n;
    }
    sqlite3 *db;
    char p[600], q[128];
    snprintf(p, sizeof(p), "%s", t->url);
    assert_int_equal(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    snprintf(q, sizeof(q), "SELECT COUNT(*) FROM %s", table);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static X509_REQ *make_csr(EVP_PKEY *k, const char *cn, const char *san)
{
    X509_REQ *r = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    if (cn)
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_set_subject_name(r, n);
    X509_NAME_free(n);
    X509_REQ_set_pubkey(r, k);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
    assert_non_null(ex);
    sk_X509_EXTENSION_push(exts, ex);
    X509_REQ_add_extensions(r, exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
    return r;
}

static char *csr_payload(X509_REQ *r)
{
    unsigned char *der = NULL;
    int n = i2d_X509_REQ(r, &der);
    char *b = hilt_b64url_encode(der, (size_t)n);
    OPENSSL_free(der);
    char *out = NULL;
    assert_true(asprintf(&out, "{\"csr\":\"%s\"}", b) > 0);
    free(b);
    return out;
}

/* An order for names through validation to "ready". Returns the order URL. */
struct order {
    char url[1200], finalize[1200], authz[4][1200], chall[4][1200];
    int n;
};

static void new_order(struct t *t, EVP_PKEY *k, const char *kid, const char *payload,
                      struct order *o)
{
    memset(o, 0, sizeof(*o));
    json_t *j = post(t, k, kid, "/acme/new-order", payload);
    if (t->status != 201) fprintf(stderr, "%.*s\n", (int)t->raw.len, (const char *)t->raw.data);
    assert_int_equal(t->status, 201);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "pending");
    snprintf(o->url, sizeof(o->url), "%s", t->location);
    snprintf(o->finalize, sizeof(o->finalize), "%s",
             json_string_value(json_object_get(j, "finalize")));
    json_t *az = json_object_get(j, "authorizations");
    o->n = (int)json_array_size(az);
    for (int i = 0; i < o->n && i < 4; i++)
        snprintf(o->authz[i], sizeof(o->authz[i]), "%s", json_string_value(json_array_get(az, i)));
    json_decref(j);
}

/* Read an authorization; register its challenge's token with the
 * responders; return the challenge URL of `type`. */
static void prepare_chall(struct t *t, EVP_PKEY *k, const char *kid, const char *authz,
                          const char *type, char *chall, size_t cap)
{
    json_t *j = post(t, k, kid, path_of(authz), NULL);
    assert_int_equal(t->status, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "pending");
    json_t *cs = json_object_get(j, "challenges");
    size_t i;
    json_t *c;
    int found = 0;
    json_array_foreach(cs, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "type")), type)) continue;
        found = 1;
        snprintf(chall, cap, "%s", json_string_value(json_object_get(c, "url")));
        const char *tok = json_string_value(json_object_get(c, "token"));
        assert_int_equal(strlen(tok), 43);
        /* key authorization: token "." thumbprint(account key) */
        json_t *jwk = hilt_pkey_to_jwk(k);
        char tp[64];
        assert_int_equal(hilt_jwk_thumbprint(jwk, tp, NULL), 0);
        json_decref(jwk);
        snprintf(t->tokens[t->ntokens % 8], 64, "%s", tok);
        snprintf(t->kas[t->ntokens % 8], 256, "%s.%s", tok, tp);
        t->ntokens++;
    }
    assert_true(found);
    json_decref(j);
}

static const char *wait_authz(struct t *t, EVP_PKEY *k, const char *kid, const char *authz,
                              json_t **out)
{
    static char st[32];
    for (int i = 0; i < 300; i++) {
        pump(t, 10);
        json_t *j = post(t, k, kid, path_of(authz), NULL);
        assert_int_equal(t->status, 200);
        snprintf(st, sizeof(st), "%s", json_string_value(json_object_get(j, "status")));
        if (strcmp(st, "pending")) {
            if (out)
                *out = j;
            else
                json_decref(j);
            return st;
        }
        json_decref(j);
    }
    return "timeout";
}

static void validate_order(struct t *t, EVP_PKEY *k, const char *kid, struct order *o,
                           const char *type)
{
    for (int i = 0; i < o->n; i++) {
        prepare_chall(t, k, kid, o->authz[i], type, o->chall[i], sizeof(o->chall[i]));
        json_t *j = post(t, k, kid, path_of(o->chall[i]), "{}");
        assert_int_equal(t->status, 200);
        assert_string_equal(json_string_value(json_object_get(j, "status")), "processing");
        assert_string_equal(t->retry_after, "1");
        assert_non_null(strstr(t->link, "rel=\"up\""));
        json_decref(j);
        assert_string_equal(wait_authz(t, k, kid, o->authz[i], NULL), "valid");
    }
    json_t *j = post(t, k, kid, path_of(o->url), NULL);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ready");
    json_decref(j);
}

/* Finalize with a fresh key; returns the certificate URL. */
static char *finalize(struct t *t, EVP_PKEY *k, const char *kid, struct order *o, const char *cn,
                      const char *san)
{
    EVP_PKEY *ck = gen("ec-p256");
    X509_REQ *csr = make_csr(ck, cn, san);
    char *p = csr_payload(csr);
    json_t *j = post(t, k, kid, path_of(o->finalize), p);
    if (t->status != 200) fprintf(stderr, "%.*s\n", (int)t->raw.len, (const char *)t->raw.data);
    assert_int_equal(t->status, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "valid");
    char *cert = strdup(json_string_value(json_object_get(j, "certificate")));
    json_decref(j);
    free(p);
    X509_REQ_free(csr);
    EVP_PKEY_free(ck);
    return cert;
}

static X509 *download(struct t *t, EVP_PKEY *k, const char *kid, const char *cert_url, int *nchain)
{
    json_decref(post(t, k, kid, path_of(cert_url), NULL));
    assert_int_equal(t->status, 200);
    assert_string_equal(t->content_type, "application/pem-certificate-chain");
    BIO *b = BIO_new_mem_buf(t->raw.data, (int)t->raw.len);
    X509 *leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
        sk_X509_push(chain, x);
    ERR_clear_error();
    BIO_free(b);
    assert_non_null(leaf);
    *nchain = sk_X509_num(chain);
    /* it verifies to the CA's roots with the chain it came with */
    X509_STORE *store = X509_STORE_new();
    hilt_store_add(store, t->ca->roots);
    STACK_OF(X509) *peer = sk_X509_new_null();
    sk_X509_push(peer, leaf);
    for (int i = 0; i < sk_X509_num(chain); i++)
        sk_X509_push(peer, sk_X509_value(chain, i));
    struct hilt_verify res;
    assert_int_equal(hilt_verify_chain(store, peer, NULL, hilt_now(), 2, 0, &res, NULL), 0);
    assert_true(res.ok);
    hilt_verify_free(&res);
    sk_X509_free(peer);
    X509_STORE_free(store);
    sk_X509_pop_free(chain, X509_free);
    return leaf;
}

/* ---- tests ------------------------------------------------------------------------------------
 */

static void directory_and_nonces(void **state)
{
    struct t *t = env(state);
    json_t *d = call(t, "GET", "/acme/directory", NULL, NULL, 0);
    assert_int_equal(t->status, 200);
    static const char *const keys[][2] = {
        {"newNonce", "new-nonce"},   {"newAccount", "new-account"},
        {"newOrder", "new-order"},   {"revokeCert", "revoke-cert"},
        {"keyChange", "key-change"}, {"renewalInfo", "renewal-info"}};
    for (size_t i = 0; i < 6; i++) {
        char want[200];
        snprintf(want, sizeof(want), BASE "/acme/%s", keys[i][1]);
        assert_string_equal(json_string_value(json_object_get(d, keys[i][0])), want);
    }
    assert_true(
        json_is_false(json_object_get(json_object_get(d, "meta"), "externalAccountRequired")));
    json_decref(d);
    json_decref(call(t, "HEAD", "/acme/new-nonce", NULL, NULL, 0));
    assert_int_equal(t->status, 200);
    char n1[64];
    snprintf(n1, sizeof(n1), "%s", t->nonce);
    json_decref(call(t, "GET", "/acme/new-nonce", NULL, NULL, 0));
    assert_int_equal(t->status, 204);
    assert_string_not_equal(n1, t->nonce);
    json_t *j = call(t, "PUT", "/acme/new-nonce", NULL, NULL, 0);
    expect_problem(t, j, 405, "urn:ietf:params:acme:error:malformed");
    json_decref(j);
    j = call(t, "GET", "/acme/nowhere", NULL, NULL, 0);
    expect_problem(t, j, 404, "urn:ietf:params:acme:error:malformed");
    json_decref(j);
    j = call(t, "GET", "/acme/order/abc", NULL, NULL, 0);
    expect_problem(t, j, 405, "urn:ietf:params:acme:error:malformed");
    json_decref(j);
}

static void accounts(void **state)
{
    struct t *t = env(state);
    EVP_PKEY *ec = gen("ec-p256"), *rsa = gen("rsa-2048"), *other = gen("ec-p256"),
             *p384 = gen("ec-p384");
    char *u1 = new_account(t, ec);
    assert_non_null(strstr(u1, BASE "/acme/acct/"));
    /* same key: the same account, 200 */
    json_t *j = post(t, ec, NULL, "/acme/new-account", "{}");
    assert_int_equal(t->status, 200);
    assert_string_equal(t->location, u1);
    json_decref(j);
    char *u2 = new_account(t, rsa);
    assert_string_not_equal(u1, u2);
    char *u3 = new_account(t, p384);
    /* onlyReturnExisting with an unknown key */
    j = post(t, other, NULL, "/acme/new-account", "{\"onlyReturnExisting\":true}");
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:accountDoesNotExist");
    json_decref(j);
    j = post(t, ec, NULL, "/acme/new-account", "{\"onlyReturnExisting\":true}");
    assert_int_equal(t->status, 200);
    json_decref(j);
    /* contacts */
    j = post(t, other, NULL, "/acme/new-account", "{\"contact\":[\"tel:+1555\"]}");
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:unsupportedContact");
    json_decref(j);
    j = post(t, other, NULL, "/acme/new-account", "{\"contact\":[\"mailto:a@b,c@d\"]}");
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:invalidContact");
    json_decref(j);
    j = post(t, other, NULL, "/acme/new-account", "{\"contact\":\"mailto:x@y\"}");
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:malformed");
    json_decref(j);
    assert_int_equal(count_rows(t, "acme_accounts"), 3);
    /* read, update, then deactivate */
    j = post(t, rsa, u2, path_of(u2), NULL);
    assert_int_equal(t->status, 200);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "contact"), 0)),
                        "mailto:ops@example.test");
    json_decref(j);
    j = post(t, rsa, u2, path_of(u2), "{\"contact\":[\"mailto:new@example.test\"]}");
    assert_int_equal(t->status, 200);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "contact"), 0)),
                        "mailto:new@example.test");
    json_decref(j);
    /* another account's URL */
    j = post(t, ec, u1, path_of(u2), NULL);
    expect_problem(t, j, 403, "urn:ietf:params:acme:error:unauthorized");
    json_decref(j);
    j = post(t, rsa, u2, path_of(u2), "{\"status\":\"deactivated\"}");
    assert_int_equal(t->status, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "deactivated");
    json_decref(j);
    j = post(t, rsa, u2, "/acme/new-order",
             "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.example.test\"}]}");
    expect_problem(t, j, 403, "urn:ietf:params:acme:error:unauthorized");
    json_decref(j);
    j = post(t, rsa, NULL, "/acme/new-account", "{}");
    expect_problem(t, j, 403, "urn:ietf:params:acme:error:unauthorized");
    json_decref(j);
    /* the account's orders list (ES384 account) */
    j = post(t, p384, u3, "/acme/new-order",
             "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"l.example.test\"}]}");
    assert_int_equal(t->status, 201);
    json_decref(j);
    char path[300];
    snprintf(path, sizeof(path), "%s/orders", path_of(u3));
    j = post(t, p384, u3, path, NULL);
    assert_int_equal(t->status, 200);
    assert_int_equal(json_array_size(json_object_get(j, "orders")), 1);
    json_decref(j);
    free(u1);
    free(u2);
    free(u3);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(other);
    EVP_PKEY_free(p384);
}

/* A JWS body built by hand (header JSON given), signed with k. */
static char *raw_jws(EVP_PKEY *k, const char *header, const char *payload)
{
    char *h64 = hilt_b64url_encode((const unsigned char *)header, strlen(header));
    char *p64 = hilt_b64url_encode((const unsigned char *)payload, strlen(payload));
    char *input = NULL;
    assert_true(asprintf(&input, "%s.%s", h64, p64) > 0);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t sl = 0;
    unsigned char sig[512];
    EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, k);
    sl = sizeof(sig);
    EVP_DigestSign(c, sig, &sl, (unsigned char *)input, strlen(input));
    EVP_MD_CTX_free(c);
    char *s64 = hilt_b64url_encode(sig, sl);
    char *out = NULL;
    assert_true(asprintf(&out, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}",
                         h64, p64, s64) > 0);
    free(h64);
    free(p64);
    free(s64);
    free(input);
    return out;
}

static void jws_checks(void **state)
{
    struct t *t = env(state);
    EVP_PKEY *k = gen("ec-p256"), *other = gen("ec-p256"), *rsa = gen("rsa-2048");
    char *acct = new_account(t, k);
    int64_t accts = count_rows(t, "acme_accounts"), orders = count_rows(t, "acme_orders"),
            authzs = count_rows(t, "acme_authzs");
    const char *order = "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"x.example.test\"}]}";
    char url[300];
    snprintf(url, sizeof(url), BASE "/acme/new-order");
    /* Content-Type */
    fresh_nonce(t);
    char *jws = hilt_jws_sign(k, acct, t->nonce, url, order, NULL);
    json_t *j = call(t, "POST", "/acme/new-order", "application/json", jws, strlen(jws));
    expect_problem(t, j, 415, "urn:ietf:params:acme:error:malformed");
    json_decref(j);
    /* a replayed nonce: the first use works, the second is badNonce */
    fresh_nonce(t);
    char used[64];
    snprintf(used, sizeof(used), "%s", t->nonce);
    free(jws);
    jws = hilt_jws_sign(k, acct, used, BASE "/acme/new-order", order, NULL);
    j = call(t, "POST", "/acme/new-order", "application/jose+json", jws, strlen(jws));
    assert_int_equal(t->status, 201);
    json_decref(j);
    orders++, authzs++;
    j = call(t, "POST", "/acme/new-order", "application/jose+json", jws, strlen(jws));
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:badNonce");
    assert_string_not_equal(t->nonce, used); /* a fresh one to retry with */
    json_decref(j);
    free(jws);
    /* a nonce we never issued */
    jws = hilt_jws_sign(k, acct, "AbCdEfGhIjKlMnOpQrStUvWxYz0123456_", url, order, NULL);
    j = call(t, "POST", "/acme/new-order", "application/jose+json", jws, strlen(jws));
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:badNonce");
    json_decref(j);
    free(jws);
    /* an expired one */
    fresh_nonce(t);
    snprintf(used, sizeof(used), "%s", t->nonce);
    hilt_clock_set_fixed(time(NULL) + 3600);
    jws = hilt_jws_sign(k, acct, used, url, order, NULL);
    j = call(t, "POST", "/acme/new-order", "application/jose+json", jws, strlen(jws));
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:badNonce");
    json_decref(j);
    free(jws);
    hilt_clock_set(NULL, NULL);
    /* url is not the request's */
    fresh_nonce(t);
    jws = hilt_jws_sign(k, acct, t->nonce, BASE "/acme/new-account", order, NULL);
    j = call(t, "POST", "/acme/new-order", "application/jose+json", jws, strlen(jws));
    expect_problem(t, j, 403, "urn:ietf:params:acme:error:unauthorized");
    json_decref(j);
    free(jws);
    /* unknown kid */
    j = post(t, k, BASE "/acme/acct/nosuchaccount", "/acme/new-order", order);
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:accountDoesNotExist");
    json_decref(j);
    j = post(t, k, "not a url", "/acme/new-order", order);
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:accountDoesNotExist");
    json_decref(j);
    /* jwk where a kid is needed, kid where a jwk is needed */
    j = post(t, k, NULL, "/acme/new-order", order);
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:malformed");
    json_decref(j);
    j = post(t, k, acct, "/acme/new-account", "{}");
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:malformed");
    json_decref(j);
    /* signed by another key than the account's */
    j = post(t, other, acct, "/acme/new-order", order);
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:malformed");
    json_decref(j);
    /* a signature made with one key, claimed by a jwk of another */
    fresh_nonce(t);
    json_t *ojwk = hilt_pkey_to_jwk(other);
    char *ojs = json_dumps(ojwk, JSON_COMPACT);
    json_decref(ojwk);
    char hdr[2000];
    snprintf(hdr, sizeof(hdr),
             "{\"alg\":\"RS256\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"" BASE
             "/acme/new-account\"}",
             ojs, t->nonce);
    free(ojs);
    jws = raw_jws(rsa, hdr, "{}");
    j = call(t, "POST", "/acme/new-account", "application/jose+json", jws, strlen(jws));
    /* RS256 over an EC key: the algorithm does not fit the key */
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:badSignatureAlgorithm");
    json_decref(j);
    free(jws);
    /* an algorithm we refuse: the problem lists the accepted ones */
    fresh_nonce(t);
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\"}",
             acct, t->nonce, url);
    jws = raw_jws(k, hdr, order);
    j = call(t, "POST", "/acme/new-order", "application/jose+json", jws, strlen(jws));
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:badSignatureAlgorithm");
    json_t *algs = json_object_get(j, "algorithms");
    assert_int_equal(json_array_size(algs), 4);
    assert_string_equal(json_string_value(json_array_get(algs, 0)), "ES256");
    assert_string_equal(json_string_value(json_array_get(algs, 2)), "RS256");
    json_decref(j);
    free(jws);
    /* malformed bodies */
    static const char *const junk[] = {
        "", "{", "[]", "{\"protected\":1}",
        "{\"protected\":\"e30\",\"payload\":\"\",\"signature\":\"AA\"}"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        j = call(t, "POST", "/acme/new-order", "application/jose+json", junk[i], strlen(junk[i]));
        assert_int_equal(t->status, 400);
        assert_string_equal(t->content_type, "application/problem+json");
        json_decref(j);
    }
    /* a payload that is not JSON, correctly signed */
    j = post(t, k, acct, "/acme/new-order", "not json");
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:malformed");
    json_decref(j);
    /* oversized */
    size_t big = HILT_JWS_MAX + 10;
    char *huge = malloc(big);
    memset(huge, 'a', big);
    j = call(t, "POST", "/acme/new-order", "application/jose+json", huge, big);
    expect_problem(t, j, 413, "urn:ietf:params:acme:error:malformed");
    json_decref(j);
    free(huge);
    /* bad orders */
    static const char *const bad_orders[][2] = {
        {"{}", "urn:ietf:params:acme:error:malformed"},
        {"{\"identifiers\":[]}", "urn:ietf:params:acme:error:malformed"},
        {"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"bad..name\"}]}",
         "urn:ietf:params:acme:error:rejectedIdentifier"},
        {"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"*.example.test\"}]}",
         "urn:ietf:params:acme:error:rejectedIdentifier"},
        {"{\"identifiers\":[{\"type\":\"email\",\"value\":\"a@b\"}]}",
         "urn:ietf:params:acme:error:unsupportedIdentifier"},
        {"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"127.0.0.1\"}]}",
         "urn:ietf:params:acme:error:malformed"},
        {"{\"identifiers\":[{\"type\":\"ip\",\"value\":\"example.test\"}]}",
         "urn:ietf:params:acme:error:malformed"},
        {"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.example.test\"}],\"notBefore\":\"x\"}",
         "urn:ietf:params:acme:error:malformed"},
        {"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.example.test\"}],\"replaces\":\"x\"}",
         "urn:ietf:params:acme:error:malformed"},
    };
    for (size_t i = 0; i < sizeof(bad_orders) / sizeof(bad_orders[0]); i++) {
        j = post(t, k, acct, "/acme/new-order", bad_orders[i][0]);
        expect_problem(t, j, 400, bad_orders[i][1]);
        json_decref(j);
    }
    /* nothing of the refused requests was stored */
    assert_int_equal(count_rows(t, "acme_accounts"), accts);
    assert_int_equal(count_rows(t, "acme_orders"), orders);
    assert_int_equal(count_rows(t, "acme_authzs"), authzs);
    free(acct);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
    EVP_PKEY_free(rsa);
}

static void issue_http01(void **state)
{
    struct t *t = env(state);
    EVP_PKEY *k = gen("ec-p256");
    char *acct = new_account(t, k);
    struct order o;
    new_order(t, k, acct,
              "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"www.example.test\"},"
              "{\"type\":\"dns\",\"value\":\"API.example.test\"}]}",
              &o);
    assert_int_equal(o.n, 2);
    /* finalize too early */
    EVP_PKEY *ck = gen("ec-p256");
    X509_REQ *csr = make_csr(ck, NULL, "DNS:www.example.test,DNS:api.example.test");
    char *p = csr_payload(csr);
    json_t *j = post(t, k, acct, path_of(o.finalize), p);
    expect_problem(t, j, 403, "urn:ietf:params:acme:error:orderNotReady");
    json_decref(j);
    validate_order(t, k, acct, &o, "http-01");
    /* the challenge reads valid, with its validation time */
    j = post(t, k, acct, path_of(o.chall[0]), NULL);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "valid");
    assert_non_null(json_object_get(j, "validated"));
    json_decref(j);
    /* CSR names that are not the order's */
    X509_REQ *bad = make_csr(ck, NULL, "DNS:www.example.test,DNS:other.example.test");
    char *bp = csr_payload(bad);
    j = post(t, k, acct, path_of(o.finalize), bp);
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:badCSR");
    json_decref(j);
    free(bp);
    X509_REQ_free(bad);
    bad = make_csr(ck, NULL, "DNS:www.example.test");
    bp = csr_payload(bad);
    j = post(t, k, acct, path_of(o.finalize), bp);
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:badCSR");
    json_decref(j);
    free(bp);
    X509_REQ_free(bad);
    /* the account key in the CSR */
    bad = make_csr(k, NULL, "DNS:www.example.test,DNS:api.example.test");
    bp = csr_payload(bad);
    j = post(t, k, acct, path_of(o.finalize), bp);
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:badCSR");
    json_decref(j);
    free(bp);
    X509_REQ_free(bad);
    j = post(t, k, acct, path_of(o.finalize), "{\"csr\":\"!!\"}");
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:badCSR");
    json_decref(j);
    /* still ready after the refusals; now the right CSR */
    j = post(t, k, acct, path_of(o.finalize), p);
    assert_int_equal(t->status, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "valid");
    const char *cert_url = json_string_value(json_object_get(j, "certificate"));
    assert_non_null(cert_url);
    char cu[1200];
    snprintf(cu, sizeof(cu), "%s", cert_url);
    json_decref(j);
    /* finalizing again: not ready */
    j = post(t, k, acct, path_of(o.finalize), p);
    expect_problem(t, j, 403, "urn:ietf:params:acme:error:orderNotReady");
    json_decref(j);
    int nchain = 0;
    X509 *leaf = download(t, k, acct, cu, &nchain);
    assert_int_equal(nchain, 1);
    /* another account cannot read it */
    EVP_PKEY *k2 = gen("ec-p256");
    char *acct2 = new_account(t, k2);
    json_decref(post(t, k2, acct2, path_of(cu), NULL));
    assert_int_equal(t->status, 404);
    json_decref(post(t, k2, acct2, path_of(o.url), NULL));
    assert_int_equal(t->status, 404);
    /* revocation: not by another account; by ours; once */
    unsigned char *der = NULL;
    int dl = i2d_X509(leaf, &der);
    char *c64 = hilt_b64url_encode(der, (size_t)dl);
    OPENSSL_free(der);
    char rv[4096];
    snprintf(rv, sizeof(rv), "{\"certificate\":\"%s\",\"reason\":4}", c64);
    j = post(t, k2, acct2, "/acme/revoke-cert", rv);
    expect_problem(t, j, 403, "urn:ietf:params:acme:error:unauthorized");
    json_decref(j);
    snprintf(rv, sizeof(rv), "{\"certificate\":\"%s\",\"reason\":6}", c64);
    j = post(t, k, acct, "/acme/revoke-cert", rv);
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:badRevocationReason");
    json_decref(j);
    snprintf(rv, sizeof(rv), "{\"certificate\":\"%s\",\"reason\":4}", c64);
    json_decref(post(t, k, acct, "/acme/revoke-cert", rv));
    assert_int_equal(t->status, 200);
    j = post(t, k, acct, "/acme/revoke-cert", rv);
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:alreadyRevoked");
    json_decref(j);
    struct hilt_cert_rec rec;
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
    char *hex = BN_bn2hex(bn);
    char serial[80];
    hilt_hex_normalise(hex, serial, sizeof(serial));
    OPENSSL_free(hex);
    BN_free(bn);
    assert_int_equal(hilt_store_cert_get(t->st, serial, &rec, NULL, NULL), 1);
    assert_int_equal(rec.revoke_reason, 4);
    assert_true(rec.revoked_at > 0);
    hilt_cert_rec_free(&rec);
    free(c64);
    X509_free(leaf);
    free(p);
    X509_REQ_free(csr);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(k2);
    free(acct2);
    free(acct);
    EVP_PKEY_free(k);
}

static void issue_tls_alpn01_and_ip(void **state)
{
    struct t *t = env(state);
    EVP_PKEY *k = gen("rsa-2048");
    char *acct = new_account(t, k);
    struct order o;
    new_order(t, k, acct, "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"alpn.example.test\"}]}",
              &o);
    validate_order(t, k, acct, &o, "tls-alpn-01");
    char *cu = finalize(t, k, acct, &o, "alpn.example.test", "DNS:alpn.example.test");
    int n = 0;
    X509_free(download(t, k, acct, cu, &n));
    free(cu);
    /* an IP identifier: http-01 only */
    new_order(t, k, acct, "{\"identifiers\":[{\"type\":\"ip\",\"value\":\"127.0.0.1\"}]}", &o);
    json_t *j = post(t, k, acct, path_of(o.authz[0]), NULL);
    assert_int_equal(json_array_size(json_object_get(j, "challenges")), 1);
    json_decref(j);
    /* not pre-approved: an IP is outside *.example.test, so it waits for an approver */
    validate_order(t, k, acct, &o, "http-01");
    EVP_PKEY *ck = gen("ec-p256");
    X509_REQ *csr = make_csr(ck, NULL, "IP:127.0.0.1");
    char *p = csr_payload(csr);
    j = post(t, k, acct, path_of(o.finalize), p);
    assert_int_equal(t->status, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "processing");
    assert_string_equal(t->retry_after, "5");
    json_decref(j);
    j = post(t, k, acct, path_of(o.url), NULL);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "processing");
    json_decref(j);
    free(p);
    X509_REQ_free(csr);
    EVP_PKEY_free(ck);
    free(acct);
    EVP_PKEY_free(k);
}

static void validation_failures(void **state)
{
    struct t *t = env(state);
    EVP_PKEY *k = gen("ec-p256");
    char *acct = new_account(t, k);
    struct {
        enum http_mode mode;
        int port_kind; /* 0 responder, 1 hanging, 2 nobody */
        const char *type, *problem;
    } cases[] = {
        {H_WRONG, 0, "http-01", "urn:ietf:params:acme:error:incorrectResponse"},
        {H_404, 0, "http-01", "urn:ietf:params:acme:error:incorrectResponse"},
        {H_GOOD, 1, "http-01", "urn:ietf:params:acme:error:connection"},
        {H_GOOD, 2, "http-01", "urn:ietf:params:acme:error:connection"},
        {H_GOOD, 0, "tls-alpn-01", "urn:ietf:params:acme:error:incorrectResponse"},
        {H_GOOD, 1, "tls-alpn-01", "urn:ietf:params:acme:error:connection"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t->mode = cases[i].mode;
        int tls = !strcmp(cases[i].type, "tls-alpn-01");
        t->tls_bad = tls && cases[i].port_kind == 0;
        int port = cases[i].port_kind == 1   ? t->hang_port
                   : cases[i].port_kind == 2 ? t->dead_port
                   : tls                     ? t->tls_port
                                             : t->http_port;
        if (tls)
            t->api.tlsalpn01_port = port;
        else
            t->api.http01_port = port;
        struct order o;
        const char *name = tls ? "alpn.example.test" : "fail.example.test";
        char pl[200];
        snprintf(pl, sizeof(pl), "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"%s\"}]}", name);
        new_order(t, k, acct, pl, &o);
        prepare_chall(t, k, acct, o.authz[0], cases[i].type, o.chall[0], sizeof(o.chall[0]));
        json_decref(post(t, k, acct, path_of(o.chall[0]), "{}"));
        assert_int_equal(t->status, 200);
        uint64_t t0 = hilt_mono_us();
        json_t *az = NULL;
        assert_string_equal(wait_authz(t, k, acct, o.authz[0], &az), "invalid");
        /* bounded: the hanging server is given up on after the timeout (400 ms here) */
        assert_true(hilt_mono_us() - t0 < 3000000);
        json_t *ch = json_array_get(json_object_get(az, "challenges"), tls ? 1 : 0);
        assert_string_equal(json_string_value(json_object_get(ch, "status")), "invalid");
        json_t *err = json_object_get(ch, "error");
        if (strcmp(json_string_value(json_object_get(err, "type")), cases[i].problem))
            fprintf(stderr, "case %zu: %s\n", i, json_dumps(err, 0));
        assert_string_equal(json_string_value(json_object_get(err, "type")), cases[i].problem);
        json_decref(az);
        json_t *j = post(t, k, acct, path_of(o.url), NULL);
        assert_string_equal(json_string_value(json_object_get(j, "status")), "invalid");
        assert_non_null(json_object_get(j, "error"));
        json_decref(j);
        /* a second challenge of an invalid authorization does not start */
        char other[1200];
        snprintf(other, sizeof(other), "%s", o.chall[0]);
        json_decref(post(t, k, acct, path_of(other), "{}"));
        assert_int_equal(t->status, 200);
        /* finalize: not ready */
        j = post(t, k, acct, path_of(o.finalize), "{\"csr\":\"AA\"}");
        expect_problem(t, j, 403, "urn:ietf:params:acme:error:orderNotReady");
        json_decref(j);
    }
    t->api.http01_port = t->http_port;
    t->api.tlsalpn01_port = t->tls_port;
    t->mode = H_GOOD;
    t->tls_bad = 0;
    /* deactivating an authorization invalidates its order */
    struct order o;
    new_order(t, k, acct, "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"d.example.test\"}]}",
              &o);
    json_t *j = post(t, k, acct, path_of(o.authz[0]), "{\"status\":\"deactivated\"}");
    assert_string_equal(json_string_value(json_object_get(j, "status")), "deactivated");
    json_decref(j);
    j = post(t, k, acct, path_of(o.url), NULL);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "invalid");
    json_decref(j);
    free(acct);
    EVP_PKEY_free(k);
}

static void revoke_by_key_and_key_change(void **state)
{
    struct t *t = env(state);
    EVP_PKEY *k = gen("ec-p256"), *nk = gen("ec-p256"), *k2 = gen("ec-p256");
    char *acct = new_account(t, k), *acct2 = new_account(t, k2);
    struct order o;
    new_order(t, k, acct, "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"r.example.test\"}]}",
              &o);
    validate_order(t, k, acct, &o, "http-01");
    /* finalize with a key we keep, to revoke with it */
    EVP_PKEY *ck = gen("ec-p256");
    X509_REQ *csr = make_csr(ck, NULL, "DNS:r.example.test");
    char *p = csr_payload(csr);
    json_t *j = post(t, k, acct, path_of(o.finalize), p);
    char cu[1200];
    snprintf(cu, sizeof(cu), "%s", json_string_value(json_object_get(j, "certificate")));
    json_decref(j);
    int n;
    X509 *leaf = download(t, k, acct, cu, &n);
    unsigned char *der = NULL;
    int dl = i2d_X509(leaf, &der);
    char *c64 = hilt_b64url_encode(der, (size_t)dl);
    OPENSSL_free(der);
    char rv[4096];
    snprintf(rv, sizeof(rv), "{\"certificate\":\"%s\"}", c64);
    /* jwk of a key that is not the certificate's */
    j = post(t, k2, NULL, "/acme/revoke-cert", rv);
    expect_problem(t, j, 403, "urn:ietf:params:acme:error:unauthorized");
    json_decref(j);
    json_decref(post(t, ck, NULL, "/acme/revoke-cert", rv));
    assert_int_equal(t->status, 200);
    /* key rollover: inner JWS signed by the new key over {account, oldKey} */
    json_t *oldjwk = hilt_pkey_to_jwk(k);
    char *oldjs = json_dumps(oldjwk, JSON_COMPACT);
    json_decref(oldjwk);
    char inner_payload[2000];
    snprintf(inner_payload, sizeof(inner_payload), "{\"account\":\"%s\",\"oldKey\":%s}", acct,
             oldjs);
    char *inner = hilt_jws_sign(nk, NULL, NULL, BASE "/acme/key-change", inner_payload, NULL);
    /* wrong: the inner JWS for another URL */
    char *bad_inner = hilt_jws_sign(nk, NULL, NULL, BASE "/acme/new-order", inner_payload, NULL);
    j = post(t, k, acct, "/acme/key-change", bad_inner);
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:malformed");
    json_decref(j);
    free(bad_inner);
    /* wrong: the new key is another account's */
    char taken_payload[2000];
    snprintf(taken_payload, sizeof(taken_payload), "{\"account\":\"%s\",\"oldKey\":%s}", acct,
             oldjs);
    char *taken = hilt_jws_sign(k2, NULL, NULL, BASE "/acme/key-change", taken_payload, NULL);
    j = post(t, k, acct, "/acme/key-change", taken);
    assert_int_equal(t->status, 409);
    assert_string_equal(t->location, acct2);
    json_decref(j);
    free(taken);
    j = post(t, k, acct, "/acme/key-change", inner);
    if (t->status != 200) fprintf(stderr, "%.*s\n", (int)t->raw.len, (const char *)t->raw.data);
    assert_int_equal(t->status, 200);
    json_decref(j);
    /* the old key no longer speaks for the account; the new one does */
    j = post(t, k, acct, path_of(acct), NULL);
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:malformed");
    json_decref(j);
    j = post(t, nk, acct, path_of(acct), NULL);
    assert_int_equal(t->status, 200);
    json_decref(j);
    j = post(t, nk, NULL, "/acme/new-account", "{\"onlyReturnExisting\":true}");
    assert_int_equal(t->status, 200);
    assert_string_equal(t->location, acct);
    json_decref(j);
    free(inner);
    free(oldjs);
    free(c64);
    X509_free(leaf);
    free(p);
    X509_REQ_free(csr);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(k);
    EVP_PKEY_free(nk);
    EVP_PKEY_free(k2);
    free(acct);
    free(acct2);
}

static void renewal_info(struct t *t, const char *certid, int64_t *start, int64_t *end)
{
    char path[400];
    snprintf(path, sizeof(path), "/acme/renewal-info/%s", certid);
    json_t *j = call(t, "GET", path, NULL, NULL, 0);
    if (t->status != 200) fprintf(stderr, "%.*s\n", (int)t->raw.len, (const char *)t->raw.data);
    assert_int_equal(t->status, 200);
    assert_true(atoi(t->retry_after) > 0);
    json_t *w = json_object_get(j, "suggestedWindow");
    time_t s, e;
    assert_int_equal(hilt_time_parse_rfc3339(json_string_value(json_object_get(w, "start")), &s),
                     0);
    assert_int_equal(hilt_time_parse_rfc3339(json_string_value(json_object_get(w, "end")), &e), 0);
    assert_true(e > s);
    *start = s;
    *end = e;
    json_decref(j);
}

static void ari(void **state)
{
    struct t *t = env(state);
    EVP_PKEY *k = gen("ec-p256");
    char *acct = new_account(t, k);
    struct order o;
    new_order(t, k, acct, "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"ari.example.test\"}]}",
              &o);
    validate_order(t, k, acct, &o, "http-01");
    char *cu = finalize(t, k, acct, &o, NULL, "DNS:ari.example.test");
    int n;
    X509 *leaf = download(t, k, acct, cu, &n);
    char certid[300];
    assert_int_equal(hilt_ari_certid_of(leaf, certid, sizeof(certid), NULL), 0);
    int64_t nb = 0, na = 0;
    {
        const ASN1_TIME *a = X509_get0_notBefore(leaf), *b = X509_get0_notAfter(leaf);
        struct tm tm;
        ASN1_TIME_to_tm(a, &tm);
        nb = timegm(&tm);
        ASN1_TIME_to_tm(b, &tm);
        na = timegm(&tm);
    }
    int64_t s, e, l = na - nb;
    renewal_info(t, certid, &s, &e);
    assert_int_equal(s, nb + l * 2 / 3);
    assert_int_equal(e, nb + l * 5 / 6);
    /* bad certIDs */
    static const char *const bad[] = {"nodot", "a.b.c", ".AA", "AA.", "AA==.AA", "AAAA.gA"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[200];
        snprintf(path, sizeof(path), "/acme/renewal-info/%s", bad[i]);
        json_t *j = call(t, "GET", path, NULL, NULL, 0);
        expect_problem(t, j, 400, "urn:ietf:params:acme:error:malformed");
        json_decref(j);
    }
    /* another CA's key identifier, and an unknown serial */
    char other[300];
    snprintf(other, sizeof(other), "AAAA%s", strchr(certid, '.'));
    char path[400];
    snprintf(path, sizeof(path), "/acme/renewal-info/%s", other);
    json_t *j = call(t, "GET", path, NULL, NULL, 0);
    expect_problem(t, j, 404, "urn:ietf:params:acme:error:malformed");
    json_decref(j);
    *strchr(certid, '.') = '\0';
    snprintf(path, sizeof(path), "/acme/renewal-info/%s.SAAAAAAAAAAAAAAAAAAAAAAA", certid);
    certid[strlen(certid)] = '.';
    j = call(t, "GET", path, NULL, NULL, 0);
    expect_problem(t, j, 404, "urn:ietf:params:acme:error:malformed");
    json_decref(j);
    /* the operator pulls windows forward: by 30 days for names under example.test */
    struct hilt_acme_ari_override ov = {.kind = "names",
                                        .match = "*.example.test",
                                        .shift = 30 * 86400,
                                        .reason = "incident 42",
                                        .explanation_url = "https://status.example.test/42",
                                        .actor = "ops",
                                        .created = hilt_now() + 1};
    assert_int_equal(hilt_ari_pull_forward(t->st, &ov, NULL), 0);
    assert_true(ov.id > 0);
    renewal_info(t, certid, &s, &e);
    assert_int_equal(s, nb + l * 2 / 3 - 30 * 86400);
    assert_int_equal(e, nb + l * 5 / 6 - 30 * 86400);
    /* --to now + 1h for this serial: the earliest window wins */
    char sn[80];
    {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
        char *hex = BN_bn2hex(bn);
        hilt_hex_normalise(hex, sn, sizeof(sn));
        OPENSSL_free(hex);
        BN_free(bn);
    }
    int64_t now = hilt_now();
    struct hilt_acme_ari_override ov2 = {.kind = "serial",
                                         .match = sn,
                                         .until = now + 3600,
                                         .reason = "key compromise drill",
                                         .actor = "ops",
                                         .created = now + 1};
    assert_int_equal(hilt_ari_pull_forward(t->st, &ov2, NULL), 0);
    renewal_info(t, certid, &s, &e);
    assert_int_equal(e, now + 3600);
    assert_true(s <= now + 1);
    /* the audit chain has both */
    /* replaces: an order naming this certificate; a second one is refused */
    char pl[600];
    snprintf(
        pl, sizeof(pl),
        "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"ari.example.test\"}],\"replaces\":\"%s\"}",
        certid);
    struct order o2;
    new_order(t, k, acct, pl, &o2);
    j = post(t, k, acct, path_of(o2.url), NULL);
    assert_string_equal(json_string_value(json_object_get(j, "replaces")), certid);
    json_decref(j);
    j = post(t, k, acct, "/acme/new-order", pl);
    expect_problem(t, j, 409, "urn:ietf:params:acme:error:alreadyReplaced");
    json_decref(j);
    /* another account cannot replace it */
    EVP_PKEY *k2 = gen("ec-p256");
    char *acct2 = new_account(t, k2);
    j = post(t, k2, acct2, "/acme/new-order", pl);
    expect_problem(t, j, 403, "urn:ietf:params:acme:error:unauthorized");
    json_decref(j);
    validate_order(t, k, acct, &o2, "http-01");
    char *cu2 = finalize(t, k, acct, &o2, NULL, "DNS:ari.example.test");
    /* the replaced certificate is marked superseded, with its history (once
     * the order's new status is committed: a few milliseconds later on SQLite) */
    pump(t, 20);
    struct hilt_cert_rec rec;
    assert_int_equal(hilt_store_cert_get(t->st, sn, &rec, NULL, NULL), 1);
    assert_string_equal(rec.status, "superseded");
    hilt_cert_rec_free(&rec);
    /* the replacement is not pulled forward: issued after the overrides */
    X509 *leaf2 = download(t, k, acct, cu2, &n);
    char certid2[300];
    assert_int_equal(hilt_ari_certid_of(leaf2, certid2, sizeof(certid2), NULL), 0);
    int64_t s2, e2;
    renewal_info(t, certid2, &s2, &e2);
    assert_true(e2 > now + 30 * 86400);
    X509_free(leaf2);
    free(cu2);
    free(acct2);
    EVP_PKEY_free(k2);
    X509_free(leaf);
    free(cu);
    free(acct);
    EVP_PKEY_free(k);
}

static void ari_windows(void **state)
{
    (void)state;
    int64_t s, e;
    hilt_ari_default_window(0, 90 * 86400, &s, &e);
    assert_int_equal(s, 60 * 86400);
    assert_int_equal(e, 75 * 86400);
    struct hilt_acme_ari_override o = {
        .kind = "names", .match = "*.example.com", .cert_id_max = 100};
    assert_true(hilt_ari_override_selects(&o, "48aa", "a.example.com", 50));
    assert_true(hilt_ari_override_selects(&o, "48aa", "x.com,a.b.example.com", 50));
    assert_false(hilt_ari_override_selects(&o, "48aa", "example.com", 50));
    assert_true(hilt_ari_override_selects(&o, "48aa", "a.example.com", 100));
    assert_false(hilt_ari_override_selects(&o, "48aa", "a.example.com", 101)); /* issued after */
    struct hilt_acme_ari_override a = {.kind = "all", .match = "", .cert_id_max = 100};
    assert_true(hilt_ari_override_selects(&a, "48aa", "", 99));
    a.cancelled = 1;
    assert_false(hilt_ari_override_selects(&a, "48aa", "", 99));
    struct hilt_acme_ari_override sr = {.kind = "serial", .match = "48aa", .cert_id_max = 100};
    assert_true(hilt_ari_override_selects(&sr, "48aa", "", 99));
    assert_false(hilt_ari_override_selects(&sr, "48ab", "", 99));
    unsigned char kid[64];
    size_t kl;
    char serial[80];
    assert_int_equal(
        hilt_ari_certid_parse("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", kid, &kl, serial, NULL), 0);
    assert_int_equal(kl, 20);
    assert_string_equal(serial, "87654321"); /* RFC 9773 §4.1 example, sign octet dropped */
}

/* Two nodes on one PostgreSQL store: a nonce of node 1 is good once on
 * node 2; an order begun on node 1 is finished on node 2. */
static void two_nodes(void **state)
{
    struct t *t = env(state);
    if (strcmp(t->kind, "postgres")) {
        print_message("SKIP: two nodes need a shared (PostgreSQL) store\n");
        skip();
    }
    struct hilt_err e = {0};
    t->st2 = open_store(t);
    assert_non_null(t->st2);
    t->api2 = t->api;
    t->api2.st = t->st2;
    t->api2.acme = t->api2.rest = t->api2.priv = NULL;
    t->api2.node_id = "node2";
    assert_int_equal(hilt_acme_init(&t->api2, &e), 0);
    EVP_PKEY *k = gen("ec-p256");
    char *acct = new_account(t, k);
    fresh_nonce(t); /* from node 1 */
    char n1[64];
    snprintf(n1, sizeof(n1), "%s", t->nonce);
    json_t *j = post_api(t, &t->api2, k, acct, path_of(acct), NULL);
    assert_int_equal(t->status, 200);
    json_decref(j);
    snprintf(t->nonce, sizeof(t->nonce), "%s", n1); /* again, on node 1 now */
    j = post(t, k, acct, path_of(acct), NULL);
    expect_problem(t, j, 400, "urn:ietf:params:acme:error:badNonce");
    json_decref(j);
    struct order o;
    new_order(t, k, acct, "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"n.example.test\"}]}",
              &o);
    validate_order(t, k, acct, &o, "http-01");
    EVP_PKEY *ck = gen("ec-p256");
    X509_REQ *csr = make_csr(ck, NULL, "DNS:n.example.test");
    char *p = csr_payload(csr);
    j = post_api(t, &t->api2, k, acct, path_of(o.finalize), p);
    assert_int_equal(t->status, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "valid");
    json_decref(j);
    free(p);
    X509_REQ_free(csr);
    EVP_PKEY_free(ck);
    free(acct);
    EVP_PKEY_free(k);
}

#define T(f, s) cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, s)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ari_windows),
        T(directory_and_nonces, &sq),
        T(accounts, &sq),
        T(jws_checks, &sq),
        T(issue_http01, &sq),
        T(issue_tls_alpn01_and_ip, &sq),
        T(validation_failures, &sq),
        T(revoke_by_key_and_key_change, &sq),
        T(ari, &sq),
        T(directory_and_nonces, &pg),
        T(accounts, &pg),
        T(jws_checks, &pg),
        T(issue_http01, &pg),
        T(issue_tls_alpn01_and_ip, &pg),
        T(validation_failures, &pg),
        T(revoke_by_key_and_key_change, &pg),
        T(ari, &pg),
        T(two_nodes, &pg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
