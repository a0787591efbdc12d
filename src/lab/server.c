/* server.c - the lab's servers: one libevent loop, non-blocking, on 127.0.0.1.
 *
 * Each scenario gets a listener whose accept handler is picked from a table
 * by the row's kind; TLS scenarios get an SSL_CTX built from the row's
 * fields (versions, ciphers, groups, security level, chain, callbacks for
 * SNI, ALPN and client certificates). One evhttp instance serves what the
 * certificates point at: /NAME/issuer.der (AIA caIssuers, DER) and
 * /NAME/ocsp (RFC 6960 responder, POST and GET).
 *
 * Every open connection is on lab->conns, bounded by LAB_CONNS_MAX and
 * timed out, so the lab can free all of it when it stops.
 */
#include "lab/lab_int.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/net.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define LAB_CONNS_MAX 1024
#define LAB_REQ_HEAD_MAX 8192 /* an HTTP request head over TLS */
#define LAB_DISCARD_MAX 65536 /* what not-tls swallows before giving up */
#define LAB_IO_TIMEOUT_S 10   /* TLS and reset connections */
#define LAB_IDLE_TIMEOUT_S 60 /* not-tls and stall hold the line this long at most */
#define LAB_HELLO_MAX (5 + 16384)
#define LAB_URI_MAX 8192 /* evhttp caps the request head at this size too */

static const char ssh_banner[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";

struct lab_conn {
    struct lab_conn *prev, *next;
    struct lab_srv *srv;
    struct bufferevent *bev; /* TLS, not-tls, reset */
    struct event *ev;        /* stall */
    int fd;                  /* stall: the socket held open */
    int closing;             /* TLS: the response is queued; close once it is sent */
    size_t discarded;        /* not-tls: bytes swallowed so far */
};

/* ---- connection bookkeeping ---------------------------------------------- */

static struct lab_conn *conn_new(struct lab_srv *s, int fd)
{
    struct hilt_lab *lab = s->lab;
    if (lab->nconns >= LAB_CONNS_MAX) {
        hilt_warn("lab: %s: %d connections open, dropping a new one", s->row->pub.name,
                  LAB_CONNS_MAX);
        close(fd);
        return NULL;
    }
    struct lab_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return NULL;
    }
    c->srv = s;
    c->fd = -1;
    c->next = lab->conns;
    if (lab->conns) lab->conns->prev = c;
    lab->conns = c;
    lab->nconns++;
    return c;
}

static void conn_free(struct lab_conn *c, int graceful)
{
    struct hilt_lab *lab = c->srv->lab;
    if (c->prev)
        c->prev->next = c->next;
    else
        lab->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    lab->nconns--;
    if (c->bev) {
        SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
        if (ssl && graceful) SSL_shutdown(ssl); /* close_notify; the socket is non-blocking */
        bufferevent_free(c->bev);
    }
    if (c->ev) event_free(c->ev);
    if (c->fd >= 0) close(c->fd);
    ERR_clear_error();
    free(c);
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct lab_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) return; /* TLS handshake done */
    if (what & BEV_EVENT_TIMEOUT)
        hilt_debug("lab: %s: connection timed out", c->srv->row->pub.name);
    conn_free(c, 0);
}

static void set_timeouts(struct bufferevent *bev, int secs)
{
    struct timeval tv = {secs, 0};
    bufferevent_set_timeouts(bev, &tv, &tv);
}

/* ---- TLS scenarios: answer one HTTP request with the scenario's clock ----- */

static void tls_written(struct bufferevent *bev, void *arg)
{
    struct lab_conn *c = arg;
    if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0) conn_free(c, 1);
}

static void tls_respond(struct lab_conn *c, int head, int status)
{
    const struct lab_row *r = c->srv->row;
    char date[40], body[160];
    hilt_time_fmt_http(hilt_now() + r->date_skew, date);
    int blen = snprintf(body, sizeof(body), "hilt lab: %s\n%s\n", r->pub.name, r->pub.description);
    if (blen < 0 || (size_t)blen >= sizeof(body)) blen = (int)strlen(body);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out,
                        "HTTP/1.1 %s\r\nDate: %s\r\nServer: hilt-lab\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
                        "Connection: close\r\n\r\n",
                        status == 200 ? "200 OK" : "431 Request Header Fields Too Large", date,
                        blen);
    if (!head) evbuffer_add(out, body, (size_t)blen);
    c->closing = 1;
}

static void tls_read(struct bufferevent *bev, void *arg)
{
    struct lab_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    if (c->closing) {
        evbuffer_drain(in, len);
        return;
    }
    struct evbuffer_ptr crlf = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    struct evbuffer_ptr lf = evbuffer_search(in, "\n\n", 2, NULL);
    ev_ssize_t end = crlf.pos >= 0 && (lf.pos < 0 || crlf.pos < lf.pos) ? crlf.pos + 4
                     : lf.pos >= 0                                      ? lf.pos + 2
                                                                        : -1;
    /* One TLS record can carry more than the limit, terminator included:
     * judge where the head ends, not how much arrived. */
    if (end > LAB_REQ_HEAD_MAX || (end < 0 && len > LAB_REQ_HEAD_MAX)) {
        evbuffer_drain(in, len);
        tls_respond(c, 0, 431);
        return;
    }
    if (end < 0) return; /* more to come */
    char method[5] = {0};
    evbuffer_copyout(in, method, sizeof(method));
    evbuffer_drain(in, len);
    tls_respond(c, !memcmp(method, "HEAD ", 5), 200);
}

static void accept_tls(struct lab_srv *s, int fd)
{
    struct lab_conn *c = conn_new(s, fd);
    if (!c) return;
    SSL *ssl = SSL_new(s->ctx);
    if (!ssl) {
        close(fd);
        conn_free(c, 0);
        return;
    }
    c->bev = bufferevent_openssl_socket_new(s->lab->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) { /* libevent frees neither on failure */
        SSL_free(ssl);
        close(fd);
        conn_free(c, 0);
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    set_timeouts(c->bev, LAB_IO_TIMEOUT_S);
    /* Stop reading once a request head is over the limit; tls_read answers 431. */
    bufferevent_setwatermark(c->bev, EV_READ, 0, LAB_REQ_HEAD_MAX + 1);
    bufferevent_setcb(c->bev, tls_read, tls_written, conn_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ---- not-tls: an SSH server's greeting ------------------------------------ */

static void discard_read(struct bufferevent *bev, void *arg)
{
    struct lab_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    c->discarded += evbuffer_get_length(in);
    evbuffer_drain(in, evbuffer_get_length(in));
    if (c->discarded > LAB_DISCARD_MAX) conn_free(c, 0); /* a flood, not a confused client */
}

static struct bufferevent *plain_bev(struct lab_conn *c, int fd)
{
    c->bev = bufferevent_socket_new(c->srv->lab->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        close(fd);
        conn_free(c, 0);
    }
    return c->bev;
}

static void accept_not_tls(struct lab_srv *s, int fd)
{
    struct lab_conn *c = conn_new(s, fd);
    if (!c || !plain_bev(c, fd)) return;
    set_timeouts(c->bev, LAB_IDLE_TIMEOUT_S);
    bufferevent_setcb(c->bev, discard_read, NULL, conn_event, c);
    bufferevent_write(c->bev, ssh_banner, sizeof(ssh_banner) - 1);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ---- reset-after-hello ---------------------------------------------------- */

static void reset_now(struct lab_conn *c)
{
    /* SO_LINGER {on, 0}: close() sends RST instead of FIN. */
    struct linger lg = {1, 0};
    setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    conn_free(c, 0);
}

static void reset_read(struct bufferevent *bev, void *arg)
{
    struct lab_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    uint8_t hdr[5];
    if (len < sizeof(hdr)) return;
    evbuffer_copyout(in, hdr, sizeof(hdr));
    size_t want = hdr[0] == 0x16 ? 5 + ((size_t)hdr[3] << 8 | hdr[4]) : 5;
    if (len >= want || len >= LAB_HELLO_MAX) reset_now(c); /* the whole ClientHello record */
}

static void reset_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct lab_conn *c = arg;
    if (what & BEV_EVENT_TIMEOUT)
        reset_now(c);
    else
        conn_free(c, 0);
}

static void accept_reset(struct lab_srv *s, int fd)
{
    struct lab_conn *c = conn_new(s, fd);
    if (!c || !plain_bev(c, fd)) return;
    set_timeouts(c->bev, LAB_IO_TIMEOUT_S);
    bufferevent_setcb(c->bev, reset_read, NULL, reset_event, c);
    bufferevent_enable(c->bev, EV_READ);
}

/* ---- stall: hold the socket, never touch its data ------------------------- */

static void stall_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what; /* EV_CLOSED (the peer gave up) or EV_TIMEOUT */
    conn_free(arg, 0);
}

static void accept_stall(struct lab_srv *s, int fd)
{
    struct lab_conn *c = conn_new(s, fd);
    if (!c) return;
    c->fd = fd;
    /* EV_CLOSED (EPOLLRDHUP) notices the peer leaving without reading a byte. */
    c->ev = event_new(s->lab->base, fd, EV_CLOSED, stall_done, c);
    struct timeval tv = {LAB_IDLE_TIMEOUT_S, 0};
    if (!c->ev || event_add(c->ev, &tv) < 0) conn_free(c, 0);
}

typedef void (*lab_accept_fn)(struct lab_srv *s, int fd);

static const lab_accept_fn accept_by_kind[] = {
    [LAB_TLS] = accept_tls,     [LAB_NOT_TLS] = accept_not_tls, [LAB_STALL] = accept_stall,
    [LAB_RESET] = accept_reset, [LAB_REFUSED] = NULL,
};

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    struct lab_srv *s = arg;
    accept_by_kind[s->row->kind](s, fd);
}

/* ---- TLS contexts from rows ----------------------------------------------- */

static int sni_cb(SSL *ssl, int *al, void *arg)
{
    struct lab_srv *s = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    /* OpenSSL calls this even when the client sent no SNI (name NULL). */
    for (size_t i = 0; name && i < sizeof(s->sni_names) / sizeof(s->sni_names[0]); i++)
        if (!strcasecmp(name, s->sni_names[i])) return SSL_TLSEXT_ERR_OK;
    *al = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char h2[] = {2, 'h', '2'};
    unsigned char *sel = NULL, sellen = 0;
    if (SSL_select_next_proto(&sel, &sellen, h2, sizeof(h2), in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* OpenSSL sends no_application_protocol (120) */
    *out = sel;
    *outlen = sellen;
    return SSL_TLSEXT_ERR_OK;
}

/* The 1024-bit group of RFC 5114 §2.1, by name: no prime generation at start-up. */
static EVP_PKEY *dh_1024(void)
{
    char group[] = "dh_1024_160";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
                           OSSL_PARAM_construct_end()};
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
    EVP_PKEY *pk = NULL;
    if (pc && EVP_PKEY_fromdata_init(pc) == 1)
        EVP_PKEY_fromdata(pc, &pk, EVP_PKEY_KEY_PARAMETERS, params);
    EVP_PKEY_CTX_free(pc);
    return pk;
}

static int ctx_build(struct lab_srv *s, struct hilt_err *e)
{
    const struct lab_row *r = s->row;
    struct lab_pki *p = &s->pki;
    SSL_CTX *ctx = s->ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) goto ossl;
    /* Send exactly the chain the row asks for, never one OpenSSL builds. */
    SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
    if (!SSL_CTX_set_min_proto_version(ctx, r->min_version ? r->min_version : TLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, r->max_version ? r->max_version : TLS1_3_VERSION))
        goto ossl;
    if (r->ciphers && !SSL_CTX_set_cipher_list(ctx, r->ciphers)) goto ossl;
    if (r->groups && !SSL_CTX_set1_groups_list(ctx, r->groups)) goto ossl;
    /* Weak keys, SHA-1, TLS 1.0 and small DH load and negotiate only at level 0. */
    if (r->level0) SSL_CTX_set_security_level(ctx, 0);
    if (SSL_CTX_use_certificate(ctx, p->leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, p->leaf_key) != 1)
        goto ossl;
    if (p->inter && !(r->pki & LAB_P_LEAF_ONLY) && SSL_CTX_add1_chain_cert(ctx, p->inter) != 1)
        goto ossl;
    if ((r->pki & LAB_P_ROGUE_ROOT) && SSL_CTX_add1_chain_cert(ctx, p->root) != 1) goto ossl;
    if (r->srv & LAB_S_SNI_REQUIRED) {
        snprintf(s->sni_names[0], sizeof(s->sni_names[0]), "%s.lab.hilt.test", r->pub.name);
        snprintf(s->sni_names[1], sizeof(s->sni_names[1]), "localhost");
        SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
        SSL_CTX_set_tlsext_servername_arg(ctx, s);
    }
    if (r->srv & LAB_S_ALPN_H2) SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, s);
    if (r->srv & LAB_S_DH1024) {
        EVP_PKEY *dh = dh_1024();
        if (!dh) goto ossl;
        if (SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
            EVP_PKEY_free(dh);
            goto ossl;
        }
    }
    if (r->pki & LAB_P_CLIENT_AUTH) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        if (X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), p->client_ca) != 1 ||
            SSL_CTX_add_client_CA(ctx, p->client_ca) != 1)
            goto ossl;
    }
    return 0;
ossl:
    return hilt_err_ossl(e, HILT_E_RUNTIME, "lab scenario %s: cannot set up its TLS server",
                         r->pub.name);
}

/* ---- the HTTP side: AIA caIssuers and OCSP -------------------------------- */

static struct lab_srv *srv_by_name(struct hilt_lab *lab, const char *name, size_t len)
{
    for (size_t i = 0; i < lab->nsrv; i++) {
        const char *n = lab->srv[i].row->pub.name;
        if (strlen(n) == len && !memcmp(n, name, len)) return &lab->srv[i];
    }
    return NULL;
}

static void http_send(struct evhttp_request *req, int code, const char *reason, const char *type,
                      const void *data, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evbuffer_add(b, data, len);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

/* RFC 6960: answer each CertID of one request for scenario s. */
static void ocsp_answer(struct lab_srv *s, struct evhttp_request *req, const char *get_enc,
                        size_t get_len)
{
    struct hilt_ocsp_req oreq = {0};
    struct hilt_buf out;
    struct hilt_err e = {0};
    hilt_buf_init(&out, HILT_OCSP_RESP_MAX);
    int rc;
    if (get_enc) {
        rc = hilt_ocsp_req_parse_get(get_enc, get_len, &oreq, &e);
    } else {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(in);
        const uint8_t *body = n ? evbuffer_pullup(in, (ev_ssize_t)n) : NULL;
        rc = hilt_ocsp_req_parse(body, n, &oreq, &e);
    }
    if (rc < 0) {
        hilt_debug("lab: %s: OCSP: %s", s->row->pub.name, e.msg);
        hilt_ocsp_resp_error(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, &out, NULL);
        goto send;
    }
    struct hilt_ocsp_single singles[HILT_OCSP_IDS_MAX];
    time_t now = hilt_now();
    for (size_t i = 0; i < oreq.n; i++) {
        OCSP_CERTID *id = hilt_ocsp_req_id(&oreq, i);
        if (!hilt_ocsp_id_issued_by(id, s->pki.inter)) {
            /* §2.3: not a CA this responder serves. */
            hilt_ocsp_resp_error(OCSP_RESPONSE_STATUS_UNAUTHORIZED, &out, NULL);
            goto send;
        }
        singles[i] = (struct hilt_ocsp_single){
            .id = id,
            .status = hilt_ocsp_id_serial_is(id, s->pki.leaf) ? s->row->ocsp : HILT_OCSP_UNKNOWN,
            .revoked_at = s->lab->start - 86400,
            .reason = OCSP_REVOKED_STATUS_KEYCOMPROMISE,
            .this_update = now - 300,
            .next_update = now + 86400,
        };
    }
    struct hilt_ocsp_signer sg = {s->pki.inter, NULL, s->pki.int_key, NULL};
    if (hilt_ocsp_resp_build(singles, oreq.n, &sg, &oreq, now, &out, &e) < 0) {
        hilt_warn("lab: %s: OCSP: %s", s->row->pub.name, e.msg);
        hilt_buf_reset(&out);
        hilt_ocsp_resp_error(OCSP_RESPONSE_STATUS_INTERNALERROR, &out, NULL);
    }
send:
    /* OCSP errors travel as 200 with an OCSPResponse body (RFC 6960 A.1). */
    http_send(req, HTTP_OK, "OK", "application/ocsp-response", out.data, out.len);
    hilt_buf_free(&out);
    hilt_ocsp_req_free(&oreq);
}

static void http_index(struct hilt_lab *lab, struct evhttp_request *req)
{
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 16);
    hilt_buf_addf(&b, "hilt lab: AIA caIssuers and OCSP for %zu scenarios\n", lab->nsrv);
    for (size_t i = 0; i < lab->nsrv; i++) {
        const struct lab_srv *s = &lab->srv[i];
        if (s->pki.inter) hilt_buf_addf(&b, "/%s/issuer.der\n", s->row->pub.name);
        if (s->row->pki & LAB_P_OCSP) hilt_buf_addf(&b, "/%s/ocsp\n", s->row->pub.name);
    }
    http_send(req, HTTP_OK, "OK", "text/plain; charset=utf-8", b.data, b.len);
    hilt_buf_free(&b);
}

/* Split a request target "/NAME/WHAT..." into its first segment and the
 * rest, ignoring any query or fragment. The target comes from the network:
 * everything is indexed within its measured, capped length. */
static int split_target(const char *uri, const char **name, size_t *nlen, const char **what,
                        size_t *wlen)
{
    size_t n = strnlen(uri, LAB_URI_MAX + 1), path = 0, slash = 0;
    if (n > LAB_URI_MAX || n < 2 || uri[0] != '/') return -1;
    while (path < n && uri[path] != '?' && uri[path] != '#')
        path++;
    for (slash = 1; slash < path && uri[slash] != '/'; slash++) {
    }
    if (slash >= path) return -1;
    *name = uri + 1;
    *nlen = slash - 1;
    *what = uri + slash + 1;
    *wlen = path - slash - 1;
    return 0;
}

static void http_cb(struct evhttp_request *req, void *arg)
{
    struct hilt_lab *lab = arg;
    const char *uri = evhttp_request_get_uri(req), *name, *what;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    size_t nlen, wlen;
    if (!strcmp(uri, "/")) {
        http_index(lab, req);
        return;
    }
    if (split_target(uri, &name, &nlen, &what, &wlen) < 0) goto not_found;
    struct lab_srv *s = srv_by_name(lab, name, nlen);
    if (!s) goto not_found;
    if (wlen == 10 && !memcmp(what, "issuer.der", 10) && s->pki.inter &&
        (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)) {
        unsigned char *der = NULL;
        int len = i2d_X509(s->pki.inter, &der);
        if (len <= 0) {
            evhttp_send_error(req, HTTP_INTERNAL, NULL);
            return;
        }
        http_send(req, HTTP_OK, "OK", "application/pkix-cert", der, (size_t)len);
        OPENSSL_free(der);
        return;
    }
    if (!(s->row->pki & LAB_P_OCSP)) goto not_found;
    if (wlen == 4 && !memcmp(what, "ocsp", 4) && cmd == EVHTTP_REQ_POST) {
        ocsp_answer(s, req, NULL, 0);
        return;
    }
    if (wlen > 5 && !memcmp(what, "ocsp/", 5) && cmd == EVHTTP_REQ_GET) {
        ocsp_answer(s, req, what + 5, wlen - 5);
        return;
    }
not_found:
    evhttp_send_error(req, HTTP_NOTFOUND, NULL);
}

/* ---- opening and closing -------------------------------------------------- */

static int in_use(struct hilt_lab *lab, uint16_t port, const char *what, struct hilt_err *e)
{
    return hilt_err_set(e, HILT_E_INPUT, EADDRINUSE,
                        "--base-port %ld: 127.0.0.1:%u (%s) is in use; the lab needs ports "
                        "%ld-%ld free",
                        lab->opts.base_port, port, what, lab->opts.base_port,
                        lab->opts.base_port + HILT_LAB_SPAN - 1);
}

/* Bound but never listening: the kernel answers SYNs with RST, and nobody
 * else can take the port while the lab runs. */
static int bind_only(struct hilt_lab *lab, uint16_t port, int *fdp, struct hilt_err *e)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return hilt_err_set(e, HILT_E_RUNTIME, errno, "socket: %s", strerror(errno));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        int err = errno;
        close(fd);
        if (err == EADDRINUSE) return in_use(lab, port, "refused", e);
        return hilt_err_set(e, HILT_E_INPUT, err, "--base-port %ld: cannot bind 127.0.0.1:%u: %s",
                            lab->opts.base_port, port, strerror(err));
    }
    *fdp = fd;
    return 0;
}

static int listen_on(struct hilt_lab *lab, uint16_t port, const char *what, int *fdp,
                     struct hilt_err *e)
{
    if (hilt_tcp_listen("127.0.0.1", port, 128, 0, fdp, e) == 0) return 0;
    if (e && e->code == EADDRINUSE) return in_use(lab, port, what, e);
    if (e) {
        e->kind = HILT_E_INPUT; /* e.g. EACCES below 1024: fixed by another --base-port */
        hilt_err_prefix(e, "--base-port %ld", lab->opts.base_port);
    }
    return -1;
}

int lab_servers_open(struct hilt_lab *lab, struct hilt_err *e)
{
    for (size_t i = 0; i < lab->nsrv; i++) {
        struct lab_srv *s = &lab->srv[i];
        int rc = s->row->kind == LAB_REFUSED ? bind_only(lab, s->port, &s->fd, e)
                                             : listen_on(lab, s->port, s->row->pub.name, &s->fd, e);
        if (rc < 0) return -1;
    }
    return listen_on(lab, lab->http_port, "AIA and OCSP", &lab->http_fd, e);
}

static struct evconnlistener *listener(struct hilt_lab *lab, evconnlistener_cb cb, void *arg,
                                       int fd)
{
    /* Backlog 0: the socket already listens. Accepted sockets are
     * non-blocking and close-on-exec (--check spawns probes). */
    return evconnlistener_new(lab->base, cb, arg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0,
                              fd);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct hilt_lab *lab = arg;
    event_base_loopbreak(lab->base);
}

int lab_servers_start(struct hilt_lab *lab, struct hilt_err *e)
{
    /* The loop may run in a thread (--check) and be stopped from another. */
    if (evthread_use_pthreads() < 0 || !(lab->base = event_base_new()) ||
        !(lab->stop_ev = event_new(lab->base, -1, 0, on_stop, lab)))
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot create the event loop");
    for (size_t i = 0; i < lab->nsrv; i++) {
        struct lab_srv *s = &lab->srv[i];
        if (s->row->kind == LAB_TLS && ctx_build(s, e) < 0) return -1;
        if (s->row->kind == LAB_REFUSED) continue;
        if (!(s->listener = listener(lab, on_accept, s, s->fd)))
            return hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot watch 127.0.0.1:%u", s->port);
        s->fd = -1; /* the listener owns it now */
    }
    if (!(lab->http = evhttp_new(lab->base)))
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot create the HTTP service");
    evhttp_set_allowed_methods(lab->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
    evhttp_set_max_body_size(lab->http, HILT_OCSP_REQ_MAX);
    evhttp_set_max_headers_size(lab->http, 8192);
    evhttp_set_timeout(lab->http, LAB_IO_TIMEOUT_S);
    evhttp_set_gencb(lab->http, http_cb, lab);
    struct evconnlistener *hl = listener(lab, NULL, NULL, lab->http_fd);
    if (!hl || !evhttp_bind_listener(lab->http, hl)) {
        if (hl) evconnlistener_free(hl);
        lab->http_fd = -1;
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot serve HTTP on 127.0.0.1:%u",
                            lab->http_port);
    }
    lab->http_fd = -1; /* owned by evhttp through its listener */
    return 0;
}

void lab_servers_close(struct hilt_lab *lab)
{
    while (lab->conns)
        conn_free(lab->conns, 0);
    if (lab->http) evhttp_free(lab->http); /* frees its listener and connections */
    lab->http = NULL;
    if (lab->http_fd >= 0) close(lab->http_fd);
    lab->http_fd = -1;
    for (size_t i = 0; i < lab->nsrv; i++) {
        struct lab_srv *s = &lab->srv[i];
        if (s->listener) evconnlistener_free(s->listener);
        s->listener = NULL;
        if (s->fd >= 0) close(s->fd);
        s->fd = -1;
        SSL_CTX_free(s->ctx);
        s->ctx = NULL;
    }
    if (lab->stop_ev) event_free(lab->stop_ev);
    lab->stop_ev = NULL;
    if (lab->sigint) event_free(lab->sigint);
    if (lab->sigterm) event_free(lab->sigterm);
    lab->sigint = lab->sigterm = NULL;
    if (lab->base) event_base_free(lab->base);
    lab->base = NULL;
}
