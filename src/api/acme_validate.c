/* acme_validate.c - challenge validation on the server's event base:
 * http-01 (RFC 8555 §8.3) and tls-alpn-01 (RFC 8737), never blocking a
 * handler. At most ACME_VALIDATIONS_ACTIVE run at once, ACME_VALIDATIONS_QUEUED
 * more wait; each has one deadline for resolution, connection, TLS and the
 * answer (10 s, HILT_ACME_VALIDATION_TIMEOUT_MS). The result goes to the
 * store in one transaction (challenge, authorization, order).
 *
 * Where it connects: the identifier's address (an "ip" identifier), or the
 * first --resolve NAME=IP entry for the name ("*.SUFFIX=IP" covers every
 * name under SUFFIX), or the system's resolver through evdns; on port
 * api->http01_port / api->tlsalpn01_port (80 / 443 unless set: test knobs,
 * as pebble has). Redirects are not followed (a 3xx is an incorrect
 * response). */
#include "api/acme_int.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/http.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RX_MAX (HILT_HTTP_HEAD_MAX + 4096)
#define BODY_MAX 4096 /* a key authorization is ~90 bytes */

struct acme_validation {
    struct acme *a;
    struct acme_validation *next, *prev;
    struct hilt_acme_authz authz;
    char type[16], token[HILT_ACME_TOKEN_MAX], keyauth[256];
    int64_t started;
    int tls;
    int port;
    struct sockaddr_storage ss;
    socklen_t sslen;
    char where[300]; /* "name (ip:port)" for messages */
    struct evdns_getaddrinfo_request *dnsreq;
    struct bufferevent *bev;
    SSL *ssl; /* owned by bev once attached */
    struct event *timer, *reap;
    struct hilt_buf rx;
    int connected, done;
    struct hilt_deferred *waiter; /* the challenge POST waiting for the result */
    struct event *wait_timer;
    char base_url[400];
};

/* Answer the waiting challenge POST, once. */
static void answer_waiter(struct acme_validation *v, const char *status, int64_t validated,
                          const char *error_json)
{
    if (!v->waiter) return;
    struct hilt_deferred *d = v->waiter;
    v->waiter = NULL;
    if (v->wait_timer) event_del(v->wait_timer);
    struct hilt_reply r;
    hilt_reply_init(&r);
    acme_challenge_reply(v->a, v->base_url, &v->authz, v->type, v->token, status, validated,
                         error_json, &r);
    hilt_deferred_send(d, &r);
    hilt_reply_free(&r);
}

static void wait_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    answer_waiter(arg, "processing", 0, NULL);
}

static void v_free(struct acme_validation *v)
{
    if (v->dnsreq) {
        struct evdns_getaddrinfo_request *r = v->dnsreq;
        v->dnsreq = NULL;
        evdns_getaddrinfo_cancel(r); /* its callback sees EVUTIL_EAI_CANCEL and returns */
    }
    if (v->bev)
        bufferevent_free(v->bev);
    else if (v->ssl)
        SSL_free(v->ssl);
    if (v->timer) event_free(v->timer);
    if (v->reap) event_free(v->reap);
    if (v->wait_timer) event_free(v->wait_timer);
    if (v->waiter) hilt_deferred_send(v->waiter, NULL); /* shutting down: no answer */
    hilt_buf_free(&v->rx);
    free(v);
}

static void run(struct acme_validation *v);

static void unlink_active(struct acme *a, struct acme_validation *v)
{
    if (v->prev)
        v->prev->next = v->next;
    else
        a->active = v->next;
    if (v->next) v->next->prev = v->prev;
    a->nactive--;
}

/* Freed from its own zero-delay event, never from inside a libevent
 * callback of the objects it owns. */
static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct acme_validation *v = arg;
    struct acme *a = v->a;
    unlink_active(a, v);
    v_free(v);
    while (a->queue_head && a->nactive < ACME_VALIDATIONS_ACTIVE) {
        struct acme_validation *n = a->queue_head;
        a->queue_head = n->next;
        if (!a->queue_head) a->queue_tail = NULL;
        a->nqueued--;
        run(n);
    }
}

static void finish(struct acme_validation *v, int valid, const char *ptype, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void finish(struct acme_validation *v, int valid, const char *ptype, const char *fmt, ...)
{
    if (v->done) return;
    v->done = 1;
    struct acme *a = v->a;
    char detail[900] = "";
    if (!valid) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    int status = !strcmp(ptype, ACME_ERR("incorrectResponse")) ? 403 : 400;
    char *err = valid ? NULL : acme_problem_json(ptype, status, "%s: %s", v->type, detail);
    struct hilt_err e = {0};
    int64_t now = hilt_now();
    int rc = acme_defer_result(a, &v->authz, v->type, valid, err, now, &e);
    if (rc < 0)
        answer_waiter(v, "processing", 0, NULL); /* the client polls, and retries */
    else
        answer_waiter(v, valid ? "valid" : "invalid", now, err);
    if (rc < 0)
        hilt_warn("acme: %s of %s: the result (%s) could not be stored: %s", v->type,
                  v->authz.id_value, valid ? "valid" : "invalid", e.msg);
    else if (!valid)
        hilt_info("acme: %s of %s failed: %s", v->type, v->authz.id_value, detail);
    free(err);
    char series[160];
    snprintf(series, sizeof(series), "hilt_acme_validations_total{type=\"%s\",result=\"%s\"}",
             v->type, valid ? "valid" : "invalid");
    hilt_api_count(a->api, series, 1);
    if (v->bev) bufferevent_disable(v->bev, EV_READ | EV_WRITE);
    if (v->timer) event_del(v->timer);
    struct timeval zero = {0, 0};
    if (!v->reap || event_add(v->reap, &zero) < 0) {
        /* cannot defer: nothing of v's is on the stack here but the
         * caller's pointer, and every caller returns right after */
        hilt_warn("acme: cannot schedule the end of a validation");
    }
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct acme_validation *v = arg;
    finish(v, 0, ACME_ERR("connection"), "%s: no answer within %d ms", v->where,
           v->a->validation_ms);
}

/* ---- http-01 ------------------------------------------------------------------------------------
 */

static void check_http(struct acme_validation *v, int at_eof)
{
    struct hilt_http_resp r;
    struct hilt_err e = {0};
    hilt_http_resp_init(&r, BODY_MAX);
    int rc = hilt_http_parse(v->rx.data, v->rx.len, at_eof, 0, &r, &e);
    if (rc == 0 && !at_eof) goto out;
    if (rc <= 0) {
        finish(v, 0, ACME_ERR("incorrectResponse"), "%s: not an HTTP response: %s", v->where,
               e.msg[0] ? e.msg : "the connection closed early");
        goto out;
    }
    if (r.status != 200) {
        finish(v, 0, ACME_ERR("incorrectResponse"),
               "GET /.well-known/acme-challenge/%s from %s answered %d, not 200", v->token,
               v->where, r.status);
        goto out;
    }
    /* §8.3: trailing whitespace of the body is ignored */
    size_t n = r.body.len;
    const char *b = (const char *)r.body.data;
    while (n && (b[n - 1] == ' ' || b[n - 1] == '\t' || b[n - 1] == '\r' || b[n - 1] == '\n'))
        n--;
    if (n != strlen(v->keyauth) || memcmp(b, v->keyauth, n)) {
        finish(v, 0, ACME_ERR("incorrectResponse"),
               "%s answered '%.*s', not the key authorization '%s'", v->where,
               (int)(n > 120 ? 120 : n), n ? b : "", v->keyauth);
        goto out;
    }
    finish(v, 1, "", "ok");
out:
    hilt_http_resp_free(&r);
}

static void http_read_cb(struct bufferevent *bev, void *arg)
{
    struct acme_validation *v = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    if (v->done) {
        evbuffer_drain(in, n);
        return;
    }
    uint8_t *p = n ? hilt_buf_reserve(&v->rx, n) : NULL;
    if (n && !p) {
        finish(v, 0, ACME_ERR("incorrectResponse"), "%s: the answer is larger than %d bytes",
               v->where, RX_MAX);
        return;
    }
    evbuffer_remove(in, p, n);
    hilt_buf_commit(&v->rx, n);
    check_http(v, 0);
}

/* ---- tls-alpn-01 (RFC 8737 §3)
 * ----------------------------------------------------------------------- */

static void check_tls(struct acme_validation *v)
{
    SSL *ssl = bufferevent_openssl_get_ssl(v->bev);
    const unsigned char *alpn = NULL;
    unsigned alen = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alen);
    if (alen != 10 || memcmp(alpn, "acme-tls/1", 10)) {
        finish(v, 0, ACME_ERR("incorrectResponse"),
               "%s did not negotiate the ALPN protocol acme-tls/1", v->where);
        return;
    }
    X509 *peer = SSL_get1_peer_certificate(ssl);
    if (!peer) {
        finish(v, 0, ACME_ERR("incorrectResponse"), "%s sent no certificate", v->where);
        return;
    }
    int crit = -1;
    GENERAL_NAMES *gens = X509_get_ext_d2i(peer, NID_subject_alt_name, &crit, NULL);
    const GENERAL_NAME *g =
        gens && sk_GENERAL_NAME_num(gens) == 1 ? sk_GENERAL_NAME_value(gens, 0) : NULL;
    int san_ok = g && g->type == GEN_DNS &&
                 (size_t)ASN1_STRING_length(g->d.dNSName) == strlen(v->authz.id_value) &&
                 !strncasecmp((const char *)ASN1_STRING_get0_data(g->d.dNSName), v->authz.id_value,
                              strlen(v->authz.id_value));
    GENERAL_NAMES_free(gens);
    if (!san_ok) {
        X509_free(peer);
        finish(v, 0, ACME_ERR("incorrectResponse"),
               "%s: the certificate's subjectAltName must be exactly the DNS name %s", v->where,
               v->authz.id_value);
        return;
    }
    /* id-pe-acmeIdentifier, critical, extnValue = DER OCTET STRING of
     * SHA-256(key authorization) */
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    int idx = oid ? X509_get_ext_by_OBJ(peer, oid, -1) : -1;
    int again = idx >= 0 ? X509_get_ext_by_OBJ(peer, oid, idx) : -1;
    ASN1_OBJECT_free(oid);
    X509_EXTENSION *ext = idx >= 0 ? X509_get_ext(peer, idx) : NULL;
    unsigned char want[34];
    want[0] = 0x04;
    want[1] = 0x20;
    SHA256((const unsigned char *)v->keyauth, strlen(v->keyauth), want + 2);
    const ASN1_OCTET_STRING *val = ext ? X509_EXTENSION_get_data(ext) : NULL;
    const char *why =
        !ext                                ? "has no acmeIdentifier extension"
        : again >= 0                        ? "has two acmeIdentifier extensions"
        : !X509_EXTENSION_get_critical(ext) ? "has an acmeIdentifier that is not critical"
        : ASN1_STRING_length(val) != 34 || memcmp(ASN1_STRING_get0_data(val), want, 34)
            ? "has an acmeIdentifier that is not SHA-256 of the key authorization"
            : NULL;
    X509_free(peer);
    if (why) {
        finish(v, 0, ACME_ERR("incorrectResponse"), "%s: the certificate %s", v->where, why);
        return;
    }
    finish(v, 1, "", "ok");
}

/* ---- connection
 * -------------------------------------------------------------------------------------- */

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct acme_validation *v = arg;
    if (v->done) return;
    if (what & BEV_EVENT_CONNECTED) {
        v->connected = 1;
        if (v->tls) return check_tls(v);
        char req[1024], host[300];
        int dflt = v->port == 80;
        if (!strcmp(v->authz.id_type, "ip") && strchr(v->authz.id_value, ':'))
            snprintf(host, sizeof(host), "[%s]", v->authz.id_value);
        else
            snprintf(host, sizeof(host), "%s", v->authz.id_value);
        int n = snprintf(req, sizeof(req),
                         "GET /.well-known/acme-challenge/%s HTTP/1.1\r\nHost: %s%s%.0d\r\n"
                         "User-Agent: hilt-acme-validator/1\r\nAccept: */*\r\n"
                         "Connection: close\r\n\r\n",
                         v->token, host, dflt ? "" : ":", dflt ? 0 : v->port);
        bufferevent_write(bev, req, (size_t)n);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        if (!v->tls) return check_http(v, 1);
        return finish(v, 0, ACME_ERR("tls"), "%s closed the connection during the handshake",
                      v->where);
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        int err = EVUTIL_SOCKET_ERROR();
        unsigned long ossl = v->tls ? bufferevent_get_openssl_error(bev) : 0;
        if (ossl) {
            char buf[256];
            ERR_error_string_n(ossl, buf, sizeof(buf));
            return finish(v, 0, ACME_ERR("tls"), "%s: TLS handshake failed: %s", v->where, buf);
        }
        if (v->tls && v->connected)
            return finish(v, 0, ACME_ERR("tls"), "%s: TLS handshake failed", v->where);
        return finish(v, 0, ACME_ERR("connection"), "%s: %s", v->where,
                      err ? strerror(err) : "connection failed");
    }
}

static void do_connect(struct acme_validation *v)
{
    struct acme *a = v->a;
    struct sockaddr *sa = (struct sockaddr *)&v->ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)v->port);
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
        snprintf(v->where, sizeof(v->where), "%s (%s:%d)", v->authz.id_value, ip, v->port);
    } else {
        ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)v->port);
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
        snprintf(v->where, sizeof(v->where), "%s ([%s]:%d)", v->authz.id_value, ip, v->port);
    }
    if (v->tls) {
        v->ssl = SSL_new(a->alpn_ctx);
        if (!v->ssl)
            return finish(v, 0, ACME_ERR("serverInternal"), "%s: cannot make a TLS session",
                          v->where);
        if (!strcmp(v->authz.id_type, "dns")) SSL_set_tlsext_host_name(v->ssl, v->authz.id_value);
        v->bev = bufferevent_openssl_socket_new(a->api->base, -1, v->ssl,
                                                BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
        if (v->bev) v->ssl = NULL; /* the bufferevent owns it now */
    } else {
        v->bev = bufferevent_socket_new(a->api->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!v->bev)
        return finish(v, 0, ACME_ERR("serverInternal"), "%s: cannot make a connection", v->where);
    bufferevent_setcb(v->bev, v->tls ? NULL : http_read_cb, NULL, event_cb, v);
    bufferevent_enable(v->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(v->bev, sa, (int)v->sslen) < 0 && !v->done)
        finish(v, 0, ACME_ERR("connection"), "%s: %s", v->where, strerror(errno));
}

static void dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    if (result == EVUTIL_EAI_CANCEL) {
        if (res) evutil_freeaddrinfo(res);
        return; /* v is gone */
    }
    struct acme_validation *v = arg;
    v->dnsreq = NULL;
    if (result || !res) {
        if (res) evutil_freeaddrinfo(res);
        return finish(v, 0, ACME_ERR("dns"), "%s does not resolve: %s", v->authz.id_value,
                      evutil_gai_strerror(result));
    }
    memcpy(&v->ss, res->ai_addr, res->ai_addrlen);
    v->sslen = (socklen_t)res->ai_addrlen;
    evutil_freeaddrinfo(res);
    do_connect(v);
}

/* An address for the identifier from --resolve, or from the identifier
 * itself. 1 found, 0 not. */
static int static_address(struct acme_validation *v)
{
    const struct hilt_api *api = v->a->api;
    const char *name = v->authz.id_value, *ip = NULL;
    char buf[INET6_ADDRSTRLEN + 1];
    if (!strcmp(v->authz.id_type, "ip")) {
        ip = name;
    } else {
        for (size_t i = 0; i < api->nresolve && !ip; i++) {
            const char *r = api->resolve[i], *eq = r ? strchr(r, '=') : NULL;
            if (!eq) continue;
            size_t nl = (size_t)(eq - r), len = strlen(name);
            int match = nl == len && !strncasecmp(r, name, nl);
            if (!match && nl > 2 && r[0] == '*' && r[1] == '.')
                match = len > nl - 1 && !strncasecmp(name + len - (nl - 1), r + 1, nl - 1);
            if (match) ip = eq + 1;
        }
    }
    if (!ip) return 0;
    snprintf(buf, sizeof(buf), "%s", ip);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&v->ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&v->ss;
    memset(&v->ss, 0, sizeof(v->ss));
    if (inet_pton(AF_INET, buf, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        v->sslen = sizeof(*s4);
        return 1;
    }
    if (inet_pton(AF_INET6, buf, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        v->sslen = sizeof(*s6);
        return 1;
    }
    return 0;
}

static void run(struct acme_validation *v)
{
    struct acme *a = v->a;
    v->next = a->active;
    v->prev = NULL;
    if (a->active) a->active->prev = v;
    a->active = v;
    a->nactive++;
    struct timeval tv = {a->validation_ms / 1000, (a->validation_ms % 1000) * 1000};
    v->timer = evtimer_new(a->api->base, timeout_cb, v);
    v->reap = evtimer_new(a->api->base, reap_cb, v);
    if (!v->timer || !v->reap) {
        /* no event for the reaper either: give the slot back now */
        hilt_warn("acme: out of memory starting a validation");
        unlink_active(a, v);
        v_free(v);
        return;
    }
    event_add(v->timer, &tv);
    snprintf(v->where, sizeof(v->where), "%s", v->authz.id_value);
    if (static_address(v)) return do_connect(v);
    if (!a->dns)
        a->dns = evdns_base_new(a->api->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                                  EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!a->dns)
        return finish(v, 0, ACME_ERR("dns"), "%s: no resolver configured", v->authz.id_value);
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    /* The callback may run before this returns (a name from /etc/hosts):
     * it never frees v (the reaper does), so v is still ours here. */
    struct evdns_getaddrinfo_request *r =
        evdns_getaddrinfo(a->dns, v->authz.id_value, NULL, &hints, dns_cb, v);
    if (r && !v->done && !v->bev) v->dnsreq = r;
}

int acme_validate_has_room(const struct acme *a)
{
    return a->api->base && a->nqueued < ACME_VALIDATIONS_QUEUED;
}

static int same(const struct acme_validation *v, const char *authz_id, const char *type)
{
    return !strcmp(v->authz.id, authz_id) && !strcmp(v->type, type);
}

int acme_validate_busy(const struct acme *a, const char *authz_id, const char *type)
{
    for (const struct acme_validation *v = a->active; v; v = v->next)
        if (same(v, authz_id, type)) return 1;
    for (const struct acme_validation *v = a->queue_head; v; v = v->next)
        if (same(v, authz_id, type)) return 1;
    return 0;
}

int acme_validate_start(struct acme *a, const struct hilt_acme_authz *authz, const char *type,
                        const char *token, const char *keyauth, int64_t started,
                        struct hilt_deferred *waiter, const char *base_url)
{
    if (!acme_validate_has_room(a)) return -1;
    struct acme_validation *v = calloc(1, sizeof(*v));
    if (!v) return -1;
    if (waiter) {
        struct timeval tv = {ACME_INLINE_WAIT_MS / 1000, (ACME_INLINE_WAIT_MS % 1000) * 1000};
        v->wait_timer = evtimer_new(a->api->base, wait_cb, v);
        if (!v->wait_timer || evtimer_add(v->wait_timer, &tv) < 0) {
            if (v->wait_timer) event_free(v->wait_timer);
            free(v);
            return -1;
        }
        v->waiter = waiter;
        snprintf(v->base_url, sizeof(v->base_url), "%s", base_url ? base_url : "");
    }
    v->a = a;
    v->authz = *authz;
    snprintf(v->type, sizeof(v->type), "%s", type);
    snprintf(v->token, sizeof(v->token), "%s", token);
    snprintf(v->keyauth, sizeof(v->keyauth), "%s", keyauth);
    v->started = started;
    v->tls = !strcmp(type, "tls-alpn-01");
    v->port = v->tls ? (a->api->tlsalpn01_port > 0 ? a->api->tlsalpn01_port : 443)
                     : (a->api->http01_port > 0 ? a->api->http01_port : 80);
    hilt_buf_init(&v->rx, RX_MAX);
    if (a->nactive < ACME_VALIDATIONS_ACTIVE) {
        run(v);
    } else {
        if (a->queue_tail)
            a->queue_tail->next = v;
        else
            a->queue_head = v;
        a->queue_tail = v;
        a->nqueued++;
    }
    return 0;
}

int acme_validate_init(struct acme *a, struct hilt_err *e)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return hilt_err_ossl(e, HILT_E_RUNTIME, "acme: cannot make the tls-alpn-01 client");
    /* RFC 8737 §3: TLS 1.2 or later, the acme-tls/1 protocol only; the
     * certificate is self-signed by design, so it is checked by its
     * contents, not its chain. */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    static const unsigned char alpn[] = "\x0a"
                                        "acme-tls/1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    a->alpn_ctx = ctx;
    return 0;
}

void acme_validate_free(struct acme *a)
{
    while (a->active) {
        struct acme_validation *v = a->active;
        unlink_active(a, v);
        v_free(v);
    }
    while (a->queue_head) {
        struct acme_validation *v = a->queue_head;
        a->queue_head = v->next;
        v_free(v);
    }
    a->queue_tail = NULL;
    a->nqueued = 0;
    if (a->dns) evdns_base_free(a->dns, 1);
    a->dns = NULL;
    SSL_CTX_free(a->alpn_ctx);
    a->alpn_ctx = NULL;
}
