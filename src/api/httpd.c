/* httpd.c - the `hilt serve` daemon (api/serve.h, docs/serve.md).
 *
 * One libevent loop, one thread. Connections are bufferevents (OpenSSL
 * bufferevents for HTTPS listeners); HTTP/1.1 framing is our own bounded
 * parser (api/httpparse.h), not evhttp, so every limit is ours and fuzzed:
 * request line, head size, header count, Content-Length before any body
 * byte, no chunked bodies. Timeouts: header (from the first byte or the
 * accept, handshake included), body, keep-alive idle, write. Connections
 * beyond max_connections are closed at accept.
 *
 * Mount points: /v1 (api/rest.c), /acme/ (api/acme.c), /ocsp (the CA's
 * OCSP responder, ca/ocsp_responder.h), /crl/ (CRLs published by this
 * node), /ca/chain.pem, /metrics, /healthz. /v1 and /acme only over TLS.
 *
 * The CA key lives in a signer process started before any socket exists.
 * The server's own certificate is issued by its CA (through that signer),
 * kept under HOME/serve/NODE/, and renewed by this loop; new SSL_CTXs are
 * swapped in for new connections while existing ones keep theirs.
 * The renewal loop (`hilt renew --due` in a child process, which holds the
 * CA key itself, like cron would) runs only on the node holding the
 * "renewal" lease in the store.
 */
#include "api/api.h"
#include "api/api_metrics.h"
#include "api/httpparse.h"
#include "api/serve.h"
#include "ca/ca.h"
#include "ca/ocsp_responder.h"
#include "ca/signer.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/net.h"
#include "gateway/gen.h"
#include "policy/policy.h"
#include "store/store.h"
#include "store/store_api.h"
#include "x509/key.h"
#include "x509/pem.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RENEW_OUT_MAX (256u << 10)
#define STOP_GRACE_S 10

struct srv;

struct lst {
    struct srv *s;
    struct hilt_serve_listener cfg;
    struct evconnlistener *el;
    SSL_CTX *ctx; /* current context (NULL: plain HTTP); connections hold their own ref */
    int port;
    char hostport[320]; /* what the listener answers as when a request has no Host */
    char url[340];
};

enum cstate { C_HEAD, C_BODY, C_WAIT, C_WRITE }; /* C_WAIT: a deferred reply */
enum tkind { T_NONE, T_HEADER, T_BODY, T_IDLE };

struct conn {
    struct srv *s;
    struct lst *l;
    struct bufferevent *bev;
    SSL *ssl; /* owned by bev */
    struct event *timer;
    enum cstate st;
    enum tkind tk;
    size_t scanned;  /* C_HEAD: bytes searched for the end of the head */
    size_t head_len; /* C_BODY */
    size_t need;     /* C_BODY: head + body */
    int close_after;
    int handshake_done;
    int nreq;
    char remote[64];
    struct pending *pending; /* C_WAIT: the handler's deferred reply */
    struct {                 /* the request being handled, for a deferred reply */
        char method[16], rt[96];
        int keep;
        uint64_t t0;
    } cur;
    struct conn *prev, *next;
};

/* A reply a handler deferred (hilt_reply_defer): what sending it needs. */
struct pending {
    struct hilt_deferred base;
    struct conn *c; /* NULL once the connection is gone */
};

struct srv {
    struct hilt_serve_config cfg;
    const struct hilt_serve_run_opts *o;
    struct event_base *base;
    struct hilt_api api;
    struct hilt_store *st;
    struct hilt_ca *ca;
    struct hilt_policy *policy;
    struct hilt_ocsp_responder *ocsp;
    struct hilt_metrics *metrics;
    struct hilt_signer_proc_opts so;
    char home[4096], dir[4400], crldir[4500];
    struct hilt_http_limits lim;
    struct hilt_http_head *head; /* parse scratch (handling is synchronous) */
    struct lst lst[HILT_SERVE_MAX_LISTENERS];
    size_t nlst;
    struct conn *conns;
    int nconns;
    struct event *tick, *sigint, *sigterm, *sighup, *stop_timer;
    int stopping;
    /* own certificate */
    X509 *leaf;
    STACK_OF(X509) * chain; /* intermediates, not the leaf */
    EVP_PKEY *key;
    int64_t cert_not_after, cert_renew_at, next_cert_check;
    /* lease and the renewal loop */
    int lease_held;
    int64_t lease_epoch, next_lease_at, next_renew_at;
    pid_t renew_pid;
    int renew_fd;
    struct event *renew_ev;
    struct hilt_buf renew_out;
    uint64_t renew_runs;
    /* CRLs and OCSP */
    int64_t next_crl_at, last_revoked_count, next_ocsp_poll;
    int store_ok;                                /* the last store probe (each tick) answered */
    const char *resolve[HILT_SERVE_MAX_RESOLVE]; /* api.resolve: into cfg.resolve */
    int64_t ocsp_sign_failures_seen, last_signer_restart;
};

static void conn_close(struct conn *c);
static void conn_process(struct conn *c);

/* ---- small helpers -------------------------------------------------------------------- */

static void logf_(struct srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct srv *s, const char *fmt, ...)
{
    char t[32];
    hilt_time_fmt_rfc3339(hilt_now(), t);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s hilt serve[%s]: ", t, s->cfg.node);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void countf(struct srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void countf(struct srv *s, const char *fmt, ...)
{
    char series[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(series, sizeof(series), fmt, ap);
    va_end(ap);
    hilt_metrics_add(s->metrics, series, 1);
}

/* a label value with only safe characters */
static void label(char *out, size_t cap, const char *in)
{
    size_t o = 0;
    for (const char *p = in ? in : ""; *p && o + 1 < cap; p++) {
        char ch = *p;
        out[o++] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                           (ch >= '0' && ch <= '9') || strchr("-_./:{}", ch)
                       ? ch
                       : '_';
    }
    out[o] = '\0';
}

/* ---- the server's own certificate ------------------------------------------------------ */

static int names_covered(struct srv *s, X509 *leaf)
{
    for (size_t i = 0; i < s->cfg.ncert_names; i++) {
        const char *n = s->cfg.cert_names[i];
        int ok = hilt_is_ip_literal(n)
                     ? X509_check_ip_asc(leaf, n, 0) == 1
                     : X509_check_host(leaf, n, 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL) == 1;
        if (!ok) return 0;
    }
    return 1;
}

static int64_t asn1_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
    return (int64_t)timegm(&tm);
}

static int chains_to_ca(struct srv *s, X509 *leaf, STACK_OF(X509) * chain)
{
    X509_STORE *xs = X509_STORE_new();
    X509_STORE_CTX *xc = X509_STORE_CTX_new();
    int ok = 0;
    if (!xs || !xc) goto out;
    for (int i = 0; i < sk_X509_num(s->ca->roots); i++)
        X509_STORE_add_cert(xs, sk_X509_value(s->ca->roots, i));
    if (X509_STORE_CTX_init(xc, xs, leaf, chain) != 1) goto out;
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(xc), hilt_now());
    ok = X509_verify_cert(xc) == 1;
out:
    X509_STORE_CTX_free(xc);
    X509_STORE_free(xs);
    ERR_clear_error();
    return ok;
}

static void own_free(struct srv *s)
{
    X509_free(s->leaf);
    sk_X509_pop_free(s->chain, X509_free);
    EVP_PKEY_free(s->key);
    s->leaf = NULL;
    s->chain = NULL;
    s->key = NULL;
}

static void set_own(struct srv *s, X509 *leaf, STACK_OF(X509) * chain, EVP_PKEY *key)
{
    own_free(s);
    s->leaf = leaf;
    s->chain = chain;
    s->key = key;
    s->cert_not_after = asn1_time(X509_get0_notAfter(leaf));
    int64_t nb = asn1_time(X509_get0_notBefore(leaf));
    int64_t renew_before = s->cfg.cert_renew_before;
    if (renew_before >= s->cert_not_after - nb) renew_before = (s->cert_not_after - nb) / 3;
    s->cert_renew_at = s->cert_not_after - renew_before;
}

/* The certificate on disk, when it still fits: ours, chains to the CA,
 * covers the names, not yet due. 1 loaded, 0 not usable, -1 error. */
static int own_load(struct srv *s)
{
    char cp[4600], kp[4600];
    snprintf(cp, sizeof(cp), "%s/server.pem", s->dir);
    snprintf(kp, sizeof(kp), "%s/server.key", s->dir);
    if (access(cp, R_OK) || access(kp, R_OK)) return 0;
    struct hilt_err e = {0};
    STACK_OF(X509) *all = hilt_certs_load(cp, &e);
    EVP_PKEY *k = all ? hilt_key_load(kp, &e) : NULL;
    if (!all || !k || sk_X509_num(all) < 1) {
        logf_(s, "ignoring %s: %s", cp, e.msg);
        sk_X509_pop_free(all, X509_free);
        EVP_PKEY_free(k);
        return 0;
    }
    X509 *leaf = sk_X509_shift(all);
    int64_t na = asn1_time(X509_get0_notAfter(leaf));
    int usable = X509_check_private_key(leaf, k) == 1 && chains_to_ca(s, leaf, all) &&
                 names_covered(s, leaf) && na - hilt_now() > s->cfg.cert_renew_before;
    ERR_clear_error();
    if (!usable) {
        X509_free(leaf);
        sk_X509_pop_free(all, X509_free);
        EVP_PKEY_free(k);
        return 0;
    }
    set_own(s, leaf, all, k);
    return 1;
}

static int own_issue(struct srv *s, struct hilt_err *e)
{
    const char *names[HILT_SERVE_MAX_NAMES];
    for (size_t i = 0; i < s->cfg.ncert_names; i++)
        names[i] = s->cfg.cert_names[i];
    char pipeline[100], actor[100];
    snprintf(pipeline, sizeof(pipeline), "serve:%s", s->cfg.node);
    snprintf(actor, sizeof(actor), "serve:%s", s->cfg.node);
    struct hilt_issue_req r = {.names = names,
                               .nnames = s->cfg.ncert_names,
                               .key_type = "ec-p256",
                               .lifetime = s->cfg.cert_lifetime,
                               .owner = "hilt",
                               .service = "serve",
                               .env = "",
                               .pipeline = pipeline,
                               .actor = actor};
    struct hilt_issued out = {0};
    struct hilt_buf pem;
    hilt_buf_init(&pem, 1 << 20);
    int rc = -1;
    char cp[4600], kp[4600];
    snprintf(cp, sizeof(cp), "%s/server.pem", s->dir);
    snprintf(kp, sizeof(kp), "%s/server.key", s->dir);
    if (hilt_ca_issue(s->ca, &r, &out, e) < 0) {
        hilt_err_prefix(e, "issuing the server certificate");
        goto out;
    }
    if (hilt_ca_chain_pem(s->ca, out.cert, &pem) < 0) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot encode the server certificate");
        goto out;
    }
    /* key first: a crash in between leaves a new key with the old
     * certificate, which own_load() refuses, so the next start issues again */
    if (hilt_key_save(kp, out.key, e) < 0 ||
        hilt_file_write_atomic(cp, pem.data, pem.len, 0644, e) < 0)
        goto out;
    STACK_OF(X509) *chain = sk_X509_new_null();
    for (int i = 0; chain && i < sk_X509_num(s->ca->chain); i++) {
        X509 *x = sk_X509_value(s->ca->chain, i);
        X509_up_ref(x);
        sk_X509_push(chain, x);
    }
    set_own(s, out.cert, chain, out.key);
    out.cert = NULL;
    out.key = NULL;
    logf_(s, "server certificate %s issued (valid until %lld, renewed from %lld)", out.serial,
          (long long)s->cert_not_after, (long long)s->cert_renew_at);
    countf(s, "hilt_serve_certificate_issued_total{node=\"%s\"}", s->cfg.node);
    rc = 0;
out:
    hilt_issued_free(&out);
    hilt_buf_free(&pem);
    return rc;
}

/* ---- TLS contexts ---------------------------------------------------------------------- */

static int accept_any_cert(int ok, X509_STORE_CTX *x)
{
    (void)ok;
    (void)x;
    return 1; /* decided per request from SSL_get_verify_result(): 401 with the reason */
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    for (unsigned i = 0; i + 1 <= inlen;) {
        unsigned l = in[i];
        if (i + 1 + l > inlen) break;
        if (l == 8 && !memcmp(in + i + 1, "http/1.1", 8)) {
            *out = in + i + 1;
            *outlen = (unsigned char)l;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + l;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *build_ctx(struct srv *s, const struct hilt_serve_listener *l, struct hilt_err *e)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "cannot create a TLS context");
        return NULL;
    }
    const struct hilt_profile *p = hilt_profile_find(s->policy, l->profile, e);
    if (!p || gw_ctx_apply_profile(ctx, p, e) < 0) goto fail;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    if (SSL_CTX_use_certificate(ctx, s->leaf) != 1 || SSL_CTX_set1_chain(ctx, s->chain) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, s->key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "server certificate and key");
        goto fail;
    }
    static const unsigned char sid[] = "hilt-serve";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    if (l->client_certs) {
        X509_STORE *xs = SSL_CTX_get_cert_store(ctx);
        STACK_OF(X509_NAME) *cas = sk_X509_NAME_new_null();
        for (int i = 0; i < sk_X509_num(s->ca->roots); i++) {
            X509 *r = sk_X509_value(s->ca->roots, i);
            X509_STORE_add_cert(xs, r);
            if (cas) sk_X509_NAME_push(cas, X509_NAME_dup(X509_get_subject_name(r)));
        }
        for (int i = 0; i < sk_X509_num(s->ca->chain); i++)
            X509_STORE_add_cert(xs, sk_X509_value(s->ca->chain, i));
        if (cas) SSL_CTX_set_client_CA_list(ctx, cas);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_cert);
        SSL_CTX_set_verify_depth(ctx, 4);
    }
    ERR_clear_error();
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* New contexts for every TLS listener, all or nothing. */
static int rebuild_ctxs(struct srv *s, struct hilt_err *e)
{
    SSL_CTX *fresh[HILT_SERVE_MAX_LISTENERS] = {0};
    for (size_t i = 0; i < s->nlst; i++) {
        if (!s->lst[i].cfg.tls) continue;
        if (!(fresh[i] = build_ctx(s, &s->lst[i].cfg, e))) {
            hilt_err_prefix(e, "listener %s", s->lst[i].cfg.listen);
            for (size_t j = 0; j < i; j++)
                SSL_CTX_free(fresh[j]);
            return -1;
        }
    }
    for (size_t i = 0; i < s->nlst; i++) {
        if (!s->lst[i].cfg.tls) continue;
        SSL_CTX_free(s->lst[i].ctx); /* live SSLs keep their own reference */
        s->lst[i].ctx = fresh[i];
    }
    return 0;
}

/* ---- responses ------------------------------------------------------------------------- */

static void timer_arm(struct conn *c, enum tkind k)
{
    int64_t secs = k == T_HEADER ? c->s->cfg.limits.header_timeout
                   : k == T_BODY ? c->s->cfg.limits.body_timeout
                                 : c->s->cfg.limits.idle_timeout;
    struct timeval tv = {(time_t)secs, 0};
    c->tk = k;
    evtimer_add(c->timer, &tv);
}

static void send_reply(struct conn *c, const char *method, const struct hilt_reply *r, int keep)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int status = r->status ? r->status : 500;
    int no_body = status == 204 || status == 304 || (method && !strcmp(method, "HEAD"));
    char date[40];
    hilt_time_fmt_http(hilt_now(), date);
    if (c->nreq >= c->s->cfg.limits.requests_per_connection || c->s->stopping) keep = 0;
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: hilt\r\n", status,
                        hilt_http_reason(status), date);
    if (r->content_type[0]) evbuffer_add_printf(out, "Content-Type: %s\r\n", r->content_type);
    evbuffer_add_printf(out, "Content-Length: %zu\r\n", r->status ? r->body.len : 0);
    int has_cc = 0;
    for (int i = 0; i < r->nheaders; i++) {
        if (!strcasecmp(r->headers[i].name, "Cache-Control")) has_cc = 1;
        evbuffer_add_printf(out, "%s: %s\r\n", r->headers[i].name, r->headers[i].value);
    }
    if (!has_cc) evbuffer_add_printf(out, "Cache-Control: no-store\r\n");
    evbuffer_add_printf(out, "X-Content-Type-Options: nosniff\r\n");
    if (c->ssl) evbuffer_add_printf(out, "Strict-Transport-Security: max-age=31536000\r\n");
    evbuffer_add_printf(out, "Connection: %s\r\n\r\n", keep ? "keep-alive" : "close");
    if (!no_body && r->status && r->body.len) evbuffer_add(out, r->body.data, r->body.len);
    c->close_after = !keep;
    c->st = C_WRITE;
    evtimer_del(c->timer);
    c->tk = T_NONE;
    bufferevent_disable(c->bev, EV_READ);
}

/* A refusal from the framing layer: problem document, then close. */
static void refuse(struct conn *c, int status, const char *why)
{
    struct hilt_reply r;
    hilt_reply_init(&r);
    hilt_reply_problem(&r, status, "urn:hilt:error:badRequest", "%s", why);
    if (status == 413) hilt_reply_problem(&r, 413, "urn:hilt:error:tooLarge", "%s", why);
    if (status == 431 || status == 414)
        hilt_reply_problem(&r, status, "urn:hilt:error:tooLarge", "%s", why);
    if (status == 408) hilt_reply_problem(&r, 408, "urn:hilt:error:timeout", "%s", why);
    send_reply(c, NULL, &r, 0);
    hilt_reply_free(&r);
    countf(c->s, "hilt_http_refused_total{status=\"%d\"}", status);
}

/* ---- mount points ---------------------------------------------------------------------- */

/* the route label for metrics: ids and serials folded */
static void route_of(const char *path, char *out, size_t cap)
{
    static const char *const fixed[] = {
        "/healthz",  "/metrics",   "/v1/requests", "/v1/certificates", "/v1/expiring",
        "/v1/audit", "/v1/whoami", "/v1/leases",   "/ca/chain.pem",    NULL};
    for (const char *const *f = fixed; *f; f++)
        if (!strcmp(path, *f)) {
            snprintf(out, cap, "%s", *f);
            return;
        }
    if (!strncmp(path, "/v1/requests/", 13)) {
        const char *tail = strchr(path + 13, '/');
        snprintf(out, cap, "/v1/requests/{id}%s", tail && strlen(tail) < 12 ? tail : "");
        label(out, cap, out);
        return;
    }
    if (!strncmp(path, "/v1/certificates/", 17)) {
        const char *tail = strchr(path + 17, '/');
        snprintf(out, cap, "/v1/certificates/{serial}%s", tail && strlen(tail) < 12 ? tail : "");
        label(out, cap, out);
        return;
    }
    if (!strncmp(path, "/v1/", 4) || !strcmp(path, "/v1"))
        snprintf(out, cap, "/v1/other");
    else if (!strncmp(path, "/acme/", 6))
        snprintf(out, cap, "/acme");
    else if (!strcmp(path, "/ocsp") || !strncmp(path, "/ocsp/", 6))
        snprintf(out, cap, "/ocsp");
    else if (!strncmp(path, "/crl/", 5))
        snprintf(out, cap, "/crl");
    else
        snprintf(out, cap, "other");
}

static int gauge_cb(const char *state, int64_t n, void *arg)
{
    char st[32];
    label(st, sizeof(st), state);
    hilt_buf_addf(arg, "hilt_serve_requests{state=\"%s\"} %lld\n", st, (long long)n);
    return 0;
}

static void serve_metrics(struct srv *s, struct hilt_reply *r)
{
    struct hilt_buf *b = &r->body;
    hilt_buf_reset(b);
    hilt_metrics_render(s->metrics, b);
    hilt_buf_addf(b, "# TYPE hilt_serve_info gauge\nhilt_serve_info{node=\"%s\",store=\"%s\"} 1\n",
                  s->cfg.node, hilt_store_kind(s->st));
    hilt_buf_addf(b, "# TYPE hilt_serve_connections_open gauge\nhilt_serve_connections_open %d\n",
                  s->nconns);
    hilt_buf_addf(b,
                  "# TYPE hilt_serve_lease_held gauge\n"
                  "hilt_serve_lease_held{lease=\"renewal\",node=\"%s\"} %d\n"
                  "# TYPE hilt_serve_lease_epoch gauge\n"
                  "hilt_serve_lease_epoch{lease=\"renewal\",node=\"%s\"} %lld\n",
                  s->cfg.node, s->lease_held, s->cfg.node, (long long)s->lease_epoch);
    hilt_buf_addf(b,
                  "# TYPE hilt_serve_renewal_runs_total counter\n"
                  "hilt_serve_renewal_runs_total{node=\"%s\"} %llu\n",
                  s->cfg.node, (unsigned long long)s->renew_runs);
    hilt_buf_addf(b,
                  "# TYPE hilt_certificate_expiry_timestamp_seconds gauge\n"
                  "hilt_certificate_expiry_timestamp_seconds{certificate=\"serve\",node=\"%s\"} "
                  "%lld\n",
                  s->cfg.node, (long long)s->cert_not_after);
    hilt_buf_addf(b, "# TYPE hilt_serve_requests gauge\n");
    hilt_store_request_counts(s->st, gauge_cb, b, NULL);
    if (s->ocsp) {
        struct hilt_ocsp_stats os;
        hilt_ocsp_responder_stats(s->ocsp, &os);
        hilt_buf_addf(b,
                      "# TYPE hilt_ocsp_certificates gauge\nhilt_ocsp_certificates %lld\n"
                      "# TYPE hilt_ocsp_answers_total counter\n"
                      "hilt_ocsp_answers_total{kind=\"presigned\"} %lld\n"
                      "hilt_ocsp_answers_total{kind=\"signed\"} %lld\n"
                      "hilt_ocsp_answers_total{kind=\"error\"} %lld\n",
                      (long long)os.certs, (long long)os.presigned_answers,
                      (long long)os.signed_answers, (long long)os.errors);
    }
    r->status = 200;
    snprintf(r->content_type, sizeof(r->content_type), "text/plain; version=0.0.4");
}

/* The store is probed once per second by the tick (store_ok), so a
 * health check costs no query and a load balancer polling it cannot load
 * the store. */
static void serve_healthz(struct srv *s, struct hilt_reply *r)
{
    int ok = s->store_ok;
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:I}", "status", ok && !s->stopping ? "ok" : "unavailable", "node",
        s->cfg.node, "store", ok ? "ok" : "unreachable", "renewal_lease",
        s->lease_held ? "held" : "standby", "certificate_not_after", (json_int_t)s->cert_not_after);
    hilt_reply_json(r, ok && !s->stopping ? 200 : 503, o);
}

static void serve_ocsp(struct srv *s, const struct hilt_req *rq, struct hilt_reply *r)
{
    struct hilt_ocsp_answer a;
    struct hilt_buf out;
    hilt_buf_init(&out, 1 << 20);
    int is_get = !strcmp(rq->method, "GET");
    int rc;
    if (!strcmp(rq->method, "POST")) {
        rc = hilt_ocsp_responder_answer(s->ocsp, rq->body, rq->body_len, NULL, 0, hilt_now(), &out,
                                        &a);
    } else if (is_get) {
        /* the last path segment, as `hilt ocsp serve` reads it */
        const char *seg = strncmp(rq->path, "/ocsp/", 6) ? "" : strrchr(rq->path, '/') + 1;
        if (!*seg) {
            hilt_reply_problem(r, 404, "urn:hilt:error:notFound",
                               "send an OCSP request (RFC 6960 A.1): POST, or GET /ocsp/BASE64");
            hilt_buf_free(&out);
            return;
        }
        rc = hilt_ocsp_responder_answer(s->ocsp, NULL, 0, seg, strlen(seg), hilt_now(), &out, &a);
    } else {
        hilt_reply_problem(r, 405, "urn:hilt:error:methodNotAllowed", "OCSP takes GET or POST");
        hilt_reply_header(r, "Allow", "GET, POST");
        hilt_buf_free(&out);
        return;
    }
    if (rc < 0) {
        hilt_reply_problem(r, 500, "urn:hilt:error:internal", "OCSP responder failed");
    } else {
        hilt_reply_bytes(r, 200, "application/ocsp-response", out.data, out.len);
        if (is_get && a.ocsp_status == 0 && a.next_update > a.this_update) {
            char t[40];
            int64_t left = a.next_update - hilt_now();
            hilt_reply_header(r, "Cache-Control",
                              "max-age=%lld, public, no-transform, must-revalidate",
                              (long long)(left > 0 ? left : 0));
            hilt_time_fmt_http(a.this_update, t);
            hilt_reply_header(r, "Last-Modified", "%s", t);
            hilt_time_fmt_http(a.next_update, t);
            hilt_reply_header(r, "Expires", "%s", t);
        }
    }
    hilt_buf_free(&out);
}

static void serve_crl(struct srv *s, const struct hilt_req *rq, struct hilt_reply *r)
{
    const char *name = rq->path + 5;
    size_t n = strlen(name);
    int ok = n > 4 && n < 64 && !strcmp(name + n - 4, ".crl");
    for (size_t i = 0; ok && i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '-' || name[i] == '.' || name[i] == '_'))
            ok = 0;
    if (ok && name[0] == '.') ok = 0;
    char path[4700];
    struct hilt_buf b;
    hilt_buf_init(&b, 64u << 20);
    snprintf(path, sizeof(path), "%s/%s", s->crldir, name);
    if (!ok || hilt_file_read(path, &b, NULL) < 0) {
        hilt_reply_problem(r, 404, "urn:hilt:error:notFound",
                           "no CRL here; the full CRL is /crl/%s.crl, shards /crl/shard-N.crl",
                           s->ca->rec.name);
    } else {
        /* served as DER (RFC 5280 §4.2.1.13); the full CRL is kept as PEM */
        uint8_t *der = NULL;
        int dl = 0;
        if (b.len > 10 && !memcmp(b.data, "-----BEGIN", 10)) {
            BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
            X509_CRL *crl = bio ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;
            if (crl) dl = i2d_X509_CRL(crl, &der);
            X509_CRL_free(crl);
            BIO_free(bio);
        }
        if (der && dl > 0)
            hilt_reply_bytes(r, 200, "application/pkix-crl", der, (size_t)dl);
        else
            hilt_reply_bytes(r, 200, "application/pkix-crl", b.data, b.len);
        OPENSSL_free(der);
        hilt_reply_header(r, "Cache-Control", "max-age=300, public");
    }
    hilt_buf_free(&b);
}

static void route(struct conn *c, const struct hilt_req *rq, struct hilt_reply *r)
{
    struct srv *s = c->s;
    const char *p = rq->path;
    int get = !strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD");
    if (!strcmp(p, "/healthz")) {
        if (get)
            serve_healthz(s, r);
        else
            hilt_reply_problem(r, 405, "urn:hilt:error:methodNotAllowed", "GET %s", p);
        return;
    }
    if (!strcmp(p, "/metrics")) {
        if (get)
            serve_metrics(s, r);
        else
            hilt_reply_problem(r, 405, "urn:hilt:error:methodNotAllowed", "GET %s", p);
        return;
    }
    if (!strcmp(p, "/ocsp") || !strncmp(p, "/ocsp/", 6)) {
        serve_ocsp(s, rq, r);
        return;
    }
    if (!strncmp(p, "/crl/", 5)) {
        if (get)
            serve_crl(s, rq, r);
        else
            hilt_reply_problem(r, 405, "urn:hilt:error:methodNotAllowed", "GET %s", p);
        return;
    }
    if (!strcmp(p, "/ca/chain.pem")) {
        struct hilt_buf b;
        hilt_buf_init(&b, 1 << 20);
        hilt_ca_chain_pem(s->ca, NULL, &b);
        for (int i = 0; i < sk_X509_num(s->ca->roots); i++) {
            X509 *x = sk_X509_value(s->ca->roots, i);
            hilt_certs_to_pem(&b, &x, 1);
        }
        hilt_reply_bytes(r, 200, "application/pem-certificate-chain", b.data, b.len);
        hilt_buf_free(&b);
        return;
    }
    int is_v1 = !strcmp(p, "/v1") || !strncmp(p, "/v1/", 4);
    int is_acme = !strcmp(p, "/acme") || !strncmp(p, "/acme/", 6);
    if ((is_v1 || is_acme) && !c->ssl) {
        hilt_reply_problem(r, 403, "urn:hilt:error:tlsRequired",
                           "%s is served over HTTPS only (this listener is plain HTTP)",
                           is_v1 ? "the REST API" : "ACME");
        return;
    }
    if (is_v1) {
        hilt_rest_handle(&s->api, rq, r);
        return;
    }
    if (is_acme) {
        hilt_acme_handle(&s->api, rq, r);
        return;
    }
    hilt_reply_problem(
        r, 404, "urn:hilt:error:notFound",
        "no resource %s (mounted: /v1, /acme/directory, /ocsp, /crl/, /ca/chain.pem, "
        "/metrics, /healthz)",
        p);
}

/* The method label for metrics. */
static void method_label(const char *method, char *out, size_t cap)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", NULL};
    snprintf(out, cap, "other");
    for (const char *const *m = known; *m; m++)
        if (!strcmp(*m, method)) snprintf(out, cap, "%s", *m);
}

/* Count, log and send one answer (now, or when a deferred one arrives). */
static void answer(struct conn *c, const char *method, const char *rt, uint64_t t0,
                   const struct hilt_reply *r, int keep)
{
    struct srv *s = c->s;
    char meth[16];
    method_label(method, meth, sizeof(meth));
    countf(s, "hilt_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"}", rt, meth,
           r->status ? r->status : 500);
    if (s->cfg.access_log)
        logf_(s, "%s %s %s %d %zu %.1fms", c->remote, method, rt, r->status, r->body.len,
              (double)(hilt_mono_us() - t0) / 1000.0);
    send_reply(c, method, r, keep);
}

static void pending_send(struct hilt_deferred *d, const struct hilt_reply *r)
{
    struct pending *p = (struct pending *)d;
    struct conn *c = p->c;
    if (c) {
        c->pending = NULL;
        if (r) {
            /* on_write goes on from there; inside the handler (answered at
             * once after all) dispatch() sees c->pending gone */
            answer(c, c->cur.method, c->cur.rt, c->cur.t0, r, c->cur.keep);
        } else {
            countf(c->s, "hilt_http_deferred_dropped_total");
            free(p);
            conn_close(c);
            return;
        }
    }
    free(p);
}

static void pending_cancel(struct hilt_deferred *d)
{
    struct pending *p = (struct pending *)d;
    if (p->c) p->c->pending = NULL;
    free(p);
}

static struct hilt_deferred *conn_defer(struct hilt_reply *r)
{
    struct conn *c = r->server;
    if (c->pending || c->s->stopping) return NULL;
    struct pending *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->base.send = pending_send;
    p->base.cancel = pending_cancel;
    p->c = c;
    c->pending = p;
    return &p->base;
}

static void dispatch(struct conn *c, const struct hilt_http_head *h, const uint8_t *body,
                     size_t blen)
{
    uint64_t t0 = hilt_mono_us();
    char base[400];
    snprintf(base, sizeof(base), "%s://%s", c->ssl ? "https" : "http",
             h->host ? h->host : c->l->hostport);
    struct hilt_req rq = {.method = h->method,
                          .path = h->path,
                          .query = h->query,
                          .headers = h->headers,
                          .nheaders = h->nheaders,
                          .body = body,
                          .body_len = blen,
                          .remote = c->remote,
                          .base_url = base};
    if (c->ssl) {
        X509 *peer = SSL_get0_peer_certificate(c->ssl);
        if (peer) {
            long vr = SSL_get_verify_result(c->ssl);
            if (vr == X509_V_OK)
                rq.client_cert = peer;
            else
                rq.client_cert_error = X509_verify_cert_error_string(vr);
        }
    }
    struct hilt_reply r;
    hilt_reply_init(&r);
    r.defer = conn_defer;
    r.server = c;
    c->nreq++;
    snprintf(c->cur.method, sizeof(c->cur.method), "%s", h->method);
    route_of(h->path, c->cur.rt, sizeof(c->cur.rt));
    c->cur.keep = h->keep_alive;
    c->cur.t0 = t0;
    route(c, &rq, &r);
    if (r.deferred) {
        /* the handler answers later (unless it did already, from inside):
         * read nothing more until it does */
        if (c->pending) {
            c->st = C_WAIT;
            evtimer_del(c->timer);
            c->tk = T_NONE;
            bufferevent_disable(c->bev, EV_READ);
        }
        hilt_reply_free(&r);
        return;
    }
    if (!r.status) hilt_reply_problem(&r, 500, "urn:hilt:error:internal", "no answer");
    answer(c, h->method, c->cur.rt, t0, &r, h->keep_alive);
    hilt_reply_free(&r);
}

/* ---- connections ----------------------------------------------------------------------- */

static void conn_close(struct conn *c)
{
    struct srv *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    if (c->pending) c->pending->c = NULL; /* its handler sends into the void */
    if (c->timer) event_free(c->timer);
    if (c->bev) bufferevent_free(c->bev); /* frees the SSL and closes the socket */
    free(c);
    if (s->stopping && s->nconns == 0) event_base_loopbreak(s->base);
}

static void conn_process(struct conn *c)
{
    struct srv *s = c->s;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    int status;
    const char *why;
    while (c->st == C_HEAD || c->st == C_BODY) {
        size_t len = evbuffer_get_length(in);
        if (c->st == C_HEAD) {
            if (!len) return;
            if (c->tk == T_IDLE || c->tk == T_NONE) timer_arm(c, T_HEADER);
            struct evbuffer_ptr start;
            evbuffer_ptr_set(in, &start, c->scanned > 3 ? c->scanned - 3 : 0, EVBUFFER_PTR_SET);
            struct evbuffer_ptr f = evbuffer_search(in, "\r\n\r\n", 4, &start);
            size_t n;
            if (f.pos < 0) {
                c->scanned = len;
                if (len <= s->lim.max_line && len < s->lim.max_head) return;
                n = len < s->lim.max_head ? len : s->lim.max_head;
            } else {
                n = (size_t)f.pos + 4;
                if (n > s->lim.max_head) n = s->lim.max_head;
            }
            const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)n);
            int rc = hilt_http_parse_head(p, n, &s->lim, s->head, &status, &why);
            if (rc == 0) {
                c->scanned = len;
                return;
            }
            if (rc < 0) {
                refuse(c, status, why);
                return;
            }
            c->head_len = s->head->head_len;
            c->need = c->head_len + s->head->content_length;
            if (s->head->expect_continue && len < c->need)
                evbuffer_add_printf(bufferevent_get_output(c->bev),
                                    "HTTP/1.1 100 Continue\r\n\r\n");
            c->st = C_BODY;
            timer_arm(c, T_BODY);
            continue;
        }
        /* C_BODY */
        if (len < c->need) return;
        const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)c->need);
        /* the head again: s->head is shared scratch */
        if (hilt_http_parse_head(p, c->head_len, &s->lim, s->head, &status, &why) != 1) {
            refuse(c, 400, "request head changed");
            return;
        }
        size_t blen = c->need - c->head_len;
        uint8_t *body = malloc(blen + 1);
        if (!body) {
            refuse(c, 503, "out of memory");
            return;
        }
        memcpy(body, p + c->head_len, blen);
        body[blen] = '\0';
        evbuffer_drain(in, c->need);
        c->scanned = 0;
        dispatch(c, s->head, body, blen);
        free(body);
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_process(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (c->st != C_WRITE || evbuffer_get_length(bufferevent_get_output(bev))) return;
    if (c->close_after) {
        conn_close(c);
        return;
    }
    c->st = C_HEAD;
    timer_arm(c, T_IDLE);
    bufferevent_enable(bev, EV_READ);
    conn_process(c); /* pipelined requests already read */
}

static void hs_failure(struct conn *c)
{
    unsigned long err = bufferevent_get_openssl_error(c->bev);
    const char *reason = err ? ERR_reason_error_string(err) : NULL;
    char lb[80], lst[80];
    label(lb, sizeof(lb), reason ? reason : "closed during handshake");
    label(lst, sizeof(lst), c->l->cfg.listen);
    countf(c->s, "hilt_serve_tls_handshake_failures_total{listener=\"%s\",reason=\"%s\"}", lst, lb);
    while (bufferevent_get_openssl_error(c->bev))
        ;
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        c->handshake_done = 1;
        countf(c->s, "hilt_serve_tls_handshakes_total{version=\"%s\"}", SSL_get_version(c->ssl));
        return;
    }
    if (c->ssl && !c->handshake_done && (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))) hs_failure(c);
    if (what & BEV_EVENT_TIMEOUT) countf(c->s, "hilt_serve_timeouts_total{phase=\"write\"}");
    conn_close(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    enum tkind k = c->tk;
    c->tk = T_NONE;
    if (k == T_IDLE) {
        countf(c->s, "hilt_serve_timeouts_total{phase=\"idle\"}");
        conn_close(c);
        return;
    }
    countf(c->s, "hilt_serve_timeouts_total{phase=\"%s\"}", k == T_BODY ? "body" : "header");
    if (c->ssl && !c->handshake_done) {
        countf(c->s, "hilt_serve_tls_handshake_failures_total{listener=\"%s\",reason=\"timeout\"}",
               "any");
        conn_close(c);
        return;
    }
    refuse(c, 408,
           k == T_BODY ? "request body not received in time" : "request head not received in time");
}

static void on_accept(struct evconnlistener *el, evutil_socket_t fd, struct sockaddr *sa, int sl,
                      void *arg)
{
    (void)el;
    (void)sl;
    struct lst *l = arg;
    struct srv *s = l->s;
    if (s->stopping || s->nconns >= s->cfg.limits.max_connections) {
        countf(s, "hilt_serve_connections_refused_total{reason=\"%s\"}",
               s->stopping ? "stopping" : "max_connections");
        evutil_closesocket(fd);
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->s = s;
    c->l = l;
    hilt_sockaddr_fmt(sa, c->remote, sizeof(c->remote));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (l->ctx) {
        c->ssl = SSL_new(l->ctx);
        if (c->ssl)
            c->bev = bufferevent_openssl_socket_new(s->base, fd, c->ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                    BEV_OPT_CLOSE_ON_FREE);
        if (c->bev) bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    } else {
        c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    c->timer = evtimer_new(s->base, on_timer, c);
    if (!c->bev || !c->timer) {
        if (c->bev)
            bufferevent_free(c->bev);
        else {
            SSL_free(c->ssl);
            evutil_closesocket(fd);
        }
        if (c->timer) event_free(c->timer);
        free(c);
        return;
    }
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    countf(s, "hilt_serve_connections_total{tls=\"%s\"}", c->ssl ? "yes" : "no");
    struct timeval wt = {(time_t)s->cfg.limits.write_timeout, 0};
    bufferevent_set_timeouts(c->bev, NULL, &wt);
    bufferevent_setwatermark(c->bev, EV_READ, 0, s->lim.max_head + s->lim.max_body + 4096);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    timer_arm(c, T_HEADER);
}

/* ---- the renewal lease and loop -------------------------------------------------------- */

static void renew_done(struct srv *s)
{
    int status = 0;
    if (s->renew_pid > 0 && waitpid(s->renew_pid, &status, 0) < 0) status = -1;
    s->renew_pid = 0;
    if (s->renew_ev) event_free(s->renew_ev);
    s->renew_ev = NULL;
    if (s->renew_fd >= 0) close(s->renew_fd);
    s->renew_fd = -1;
    s->renew_runs++;
    int code = WIFEXITED(status) ? WEXITSTATUS(status)
                                 : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    const char *res = code == 0 ? "ok" : code == 1 ? "renewal_failed" : "error";
    countf(s, "hilt_serve_renewal_run_results_total{result=\"%s\"}", res);
    /* one line of the child's JSON per renewed/failed manifest, summarised */
    int renewed = 0;
    const char *o = hilt_buf_cstr(&s->renew_out);
    for (const char *q = o; (q = strstr(q, "\"action\":")); q++)
        if (!strncmp(q, "\"action\":\"renew", 15) || !strncmp(q, "\"action\": \"renew", 16))
            renewed++;
    logf_(s, "renewal run %llu (lease epoch %lld): exit %d, %d renewed",
          (unsigned long long)s->renew_runs, (long long)s->lease_epoch, code, renewed);
    if (code > 1) logf_(s, "renew output: %.500s", o);
    hilt_buf_reset(&s->renew_out);
}

static void on_renew_out(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct srv *s = arg;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
        hilt_buf_add(&s->renew_out, buf, (size_t)n); /* bounded; the rest is dropped */
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    renew_done(s);
}

static void renew_spawn(struct srv *s)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) return;
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return;
    }
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        char actor[120];
        snprintf(actor, sizeof(actor), "serve:%s", s->cfg.node);
        setenv("HILT_ACTOR", actor, 1);
        if (s->cfg.store[0])
            execl(s->o->self_exe, "hilt", "renew", "--due", "--json", "--store", s->cfg.store,
                  (char *)NULL);
        else
            execl(s->o->self_exe, "hilt", "renew", "--due", "--json", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    hilt_set_nonblock(pfd[0], 1);
    s->renew_pid = pid;
    s->renew_fd = pfd[0];
    s->renew_ev = event_new(s->base, pfd[0], EV_READ | EV_PERSIST, on_renew_out, s);
    event_add(s->renew_ev, NULL);
}

static void lease_tick(struct srv *s, int64_t now)
{
    if (!s->cfg.renewal.enabled || now < s->next_lease_at) goto run;
    struct hilt_err e = {0};
    int64_t epoch = 0;
    int held = hilt_store_lease_acquire(s->st, "renewal", s->cfg.node, now,
                                        s->cfg.renewal.lease_ttl, &epoch, &e);
    int64_t step = s->cfg.renewal.lease_ttl / 3;
    s->next_lease_at = now + (step > 0 ? step : 1);
    if (held < 0) {
        logf_(s, "renewal lease: %s", e.msg);
        held = 0; /* cannot tell: act as if lost */
    }
    if (held && !s->lease_held) {
        s->lease_epoch = epoch;
        s->next_renew_at = now; /* a new holder runs at once */
        char obj[200], res[100];
        snprintf(obj, sizeof(obj), "lease=renewal holder=%s", s->cfg.node);
        snprintf(res, sizeof(res), "acquired epoch=%lld", (long long)epoch);
        char actor[100];
        snprintf(actor, sizeof(actor), "serve:%s", s->cfg.node);
        struct hilt_audit_ev ev = {actor, "lease.acquire", obj, res};
        hilt_store_audit_append(s->st, &ev, NULL);
        logf_(s, "renewal lease acquired (epoch %lld): this node runs the renewal loop",
              (long long)epoch);
        countf(s, "hilt_serve_lease_changes_total{change=\"acquired\"}");
    } else if (!held && s->lease_held) {
        logf_(s, "renewal lease lost: another node runs the renewal loop");
        countf(s, "hilt_serve_lease_changes_total{change=\"lost\"}");
        if (s->renew_pid > 0) kill(s->renew_pid, SIGTERM);
    }
    s->lease_held = held;
run:
    if (s->lease_held && s->cfg.renewal.manifests && !s->renew_pid && now >= s->next_renew_at &&
        !s->stopping) {
        s->next_renew_at = now + s->cfg.renewal.interval;
        renew_spawn(s);
    }
}

/* ---- CRLs, OCSP, the signer, our certificate ------------------------------------------------ */

static void crl_publish(struct srv *s, int64_t now, int64_t revoked)
{
    char full[4600];
    snprintf(full, sizeof(full), "%s/%s.crl", s->crldir, s->ca->rec.name);
    struct hilt_crl_stats st;
    struct hilt_err e = {0};
    if (hilt_ca_publish_crls(s->ca, full, s->crldir, s->cfg.crl.next_update, &st, &e) < 0) {
        logf_(s, "publishing CRLs: %s", e.msg);
        s->next_crl_at = now + 60;
        return;
    }
    s->last_revoked_count = revoked;
    s->next_crl_at = now + s->cfg.crl.interval;
    countf(s, "hilt_serve_crl_publications_total{node=\"%s\"}", s->cfg.node);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct srv *s = arg;
    int64_t now = hilt_now();
    struct hilt_err e = {0};
    if (s->stopping) return;
    int ver = 0;
    s->store_ok = hilt_store_schema_version(s->st, &ver, NULL) == 0;
    /* the signer child died: start another (it loads the key itself) */
    if (!hilt_signer_alive(s->ca->signer) && now - s->last_signer_restart >= 10) {
        s->last_signer_restart = now;
        if (hilt_ca_use_signer_process(s->ca, &s->so, &e) < 0) {
            logf_(s, "the signer process died and cannot be restarted: %s", e.msg);
        } else {
            logf_(s, "the signer process died; started a new one (%d)",
                  (int)hilt_signer_pid(s->ca->signer));
            countf(s, "hilt_serve_signer_restarts_total");
        }
    }
    if (now >= s->next_ocsp_poll) {
        s->next_ocsp_poll = now + s->cfg.ocsp.poll;
        if (hilt_ocsp_responder_poll(s->ocsp, now, &e) < 0) logf_(s, "OCSP poll: %s", e.msg);
        int64_t revoked = 0;
        struct hilt_cert_filter f = {.q = HILT_Q_REVOKED, .ca = s->ca->rec.name, .from = now};
        if (hilt_store_cert_count(s->st, &f, &revoked, &e) == 0 && revoked != s->last_revoked_count)
            s->next_crl_at = now; /* a revocation: publish now */
    }
    if (hilt_ocsp_responder_refresh(s->ocsp, now, 2048, &e) < 0)
        logf_(s, "OCSP signing: %s", e.msg);
    if (now >= s->next_crl_at) {
        int64_t revoked = 0;
        struct hilt_cert_filter f = {.q = HILT_Q_REVOKED, .ca = s->ca->rec.name, .from = now};
        hilt_store_cert_count(s->st, &f, &revoked, NULL);
        crl_publish(s, now, revoked);
    }
    if (now >= s->cert_renew_at && now >= s->next_cert_check) {
        s->next_cert_check = now + 30; /* retry pace when the CA refuses */
        if (own_issue(s, &e) < 0) {
            logf_(s, "renewing the server certificate: %s", e.msg);
            countf(s, "hilt_serve_certificate_renewal_failures_total");
        } else if (rebuild_ctxs(s, &e) < 0) {
            logf_(s, "new server certificate, but no TLS context: %s (old one kept)", e.msg);
        } else {
            countf(s, "hilt_serve_certificate_renewals_total");
        }
    }
    lease_tick(s, now);
}

/* What the handlers read from the configuration (again after a reload). */
static void api_knobs(struct srv *s)
{
    s->api.scopes = s->cfg.scopes;
    s->api.nscopes = s->cfg.nscopes;
    s->api.issue_on_approve = s->cfg.issue_on_approve;
    s->api.http01_port = s->cfg.http01_port ? s->cfg.http01_port : 80;
    s->api.tlsalpn01_port = s->cfg.tlsalpn01_port ? s->cfg.tlsalpn01_port : 443;
    for (size_t i = 0; i < s->cfg.nresolve; i++)
        s->resolve[i] = s->cfg.resolve[i];
    s->api.resolve = s->resolve;
    s->api.nresolve = s->cfg.nresolve;
}

/* ---- signals: stop, reload ------------------------------------------------------------------ */

static void on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(((struct srv *)arg)->base);
}

static void stop(struct srv *s)
{
    if (s->stopping) return;
    s->stopping = 1;
    logf_(s, "stopping: no new connections, %d open ones finish", s->nconns);
    for (size_t i = 0; i < s->nlst; i++)
        if (s->lst[i].el) {
            evconnlistener_free(s->lst[i].el);
            s->lst[i].el = NULL;
        }
    /* idle keep-alive connections go now; the others after their reply */
    for (struct conn *c = s->conns, *nx; c; c = nx) {
        nx = c->next;
        if (c->st == C_HEAD && !evbuffer_get_length(bufferevent_get_input(c->bev))) conn_close(c);
    }
    struct timeval tv = {STOP_GRACE_S, 0};
    s->stop_timer = evtimer_new(s->base, on_stop_timer, s);
    if (s->stop_timer) evtimer_add(s->stop_timer, &tv);
    if (s->nconns == 0) event_base_loopbreak(s->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct srv *s = arg;
    if (sig != SIGHUP) {
        stop(s);
        return;
    }
    struct hilt_err e = {0};
    if (!s->o->reload) {
        logf_(s, "SIGHUP: nothing to reload");
        return;
    }
    struct hilt_serve_config *nc = calloc(1, sizeof(*nc));
    struct hilt_policy *np = NULL;
    if (!nc) return;
    if (s->o->reload(nc, s->o->reload_arg, &e) < 0 || hilt_serve_config_check(nc, &e) < 0 ||
        (nc->policy[0] && hilt_policy_load_file(nc->policy, &np, &e) < 0)) {
        logf_(s, "SIGHUP: configuration refused, the running one stays: %s", e.msg);
        countf(s, "hilt_serve_reloads_total{result=\"refused\"}");
        free(nc);
        return;
    }
    /* Listeners keep their sockets: a changed address needs a restart. */
    int moved = nc->nlisteners != s->nlst;
    for (size_t i = 0; !moved && i < s->nlst; i++)
        moved = strcmp(nc->listeners[i].listen, s->lst[i].cfg.listen) ||
                nc->listeners[i].tls != s->lst[i].cfg.tls;
    if (moved || strcmp(nc->store, s->cfg.store) || strcmp(nc->ca, s->cfg.ca) ||
        strcmp(nc->node, s->cfg.node)) {
        logf_(s, "SIGHUP: listeners, store, CA and node name change only with a restart; "
                 "configuration refused, the running one stays");
        countf(s, "hilt_serve_reloads_total{result=\"refused\"}");
        hilt_policy_free(&np);
        free(nc);
        return;
    }
    struct hilt_serve_config old = s->cfg;
    struct hilt_policy *oldp = s->policy;
    s->cfg = *nc;
    s->policy = np;
    for (size_t i = 0; i < s->nlst; i++)
        snprintf(s->lst[i].cfg.profile, sizeof(s->lst[i].cfg.profile), "%s",
                 nc->listeners[i].profile),
            s->lst[i].cfg.client_certs = nc->listeners[i].client_certs;
    if (rebuild_ctxs(s, &e) < 0) {
        logf_(s, "SIGHUP: %s; configuration refused, the running one stays", e.msg);
        s->cfg = old;
        s->policy = oldp;
        for (size_t i = 0; i < s->nlst; i++)
            s->lst[i].cfg = old.listeners[i];
        hilt_policy_free(&np);
        free(nc);
        countf(s, "hilt_serve_reloads_total{result=\"refused\"}");
        return;
    }
    hilt_policy_free(&oldp);
    api_knobs(s);
    hilt_http_limits_default(&s->lim);
    s->lim.max_body = s->cfg.limits.max_body;
    s->lim.max_head = s->cfg.limits.max_head;
    s->lim.max_line = s->cfg.limits.max_line;
    s->lim.max_headers = s->cfg.limits.max_headers;
    /* a changed certificate definition takes effect now */
    if (!s->leaf || !names_covered(s, s->leaf)) s->cert_renew_at = 0;
    logf_(s, "SIGHUP: configuration reloaded (%zu scopes)", s->cfg.nscopes);
    countf(s, "hilt_serve_reloads_total{result=\"ok\"}");
    free(nc);
}

/* ---- start and stop ------------------------------------------------------------------------- */

static int open_listener(struct srv *s, struct lst *l, struct hilt_err *e)
{
    struct hilt_hostport hp;
    if (hilt_hostport_parse(l->cfg.listen, 0, &hp, e) < 0 || !hp.is_ip) {
        if (!e || !e->msg[0]) hilt_err_set(e, HILT_E_USAGE, 0, "bad listen address");
        hilt_err_prefix(e, "listener %s: give IP:PORT", l->cfg.listen);
        return -1;
    }
    int fd = -1;
    if (hilt_tcp_listen(hp.host, hp.port, 1024, 0, &fd, e) < 0) {
        hilt_err_prefix(e, "listener %s", l->cfg.listen);
        return -1;
    }
    l->port = hilt_sock_port(fd);
    l->s = s;
    hp.port = (uint16_t)l->port;
    hilt_hostport_fmt(&hp, l->hostport, sizeof(l->hostport));
    snprintf(l->url, sizeof(l->url), "%s://%s", l->cfg.tls ? "https" : "http", l->hostport);
    l->el = evconnlistener_new(s->base, on_accept, l, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                               -1, fd);
    if (!l->el) {
        close(fd);
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "listener %s: cannot add it to the event loop",
                            l->cfg.listen);
    }
    return 0;
}

int hilt_serve_run(const struct hilt_serve_config *cfg, const struct hilt_serve_run_opts *o,
                   struct hilt_err *e)
{
    struct srv *s = calloc(1, sizeof(*s));
    if (!s) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    int rc = -1;
    s->cfg = *cfg;
    s->o = o;
    s->renew_fd = -1;
    hilt_buf_init(&s->renew_out, RENEW_OUT_MAX);
    hilt_http_limits_default(&s->lim);
    s->lim.max_body = cfg->limits.max_body;
    s->lim.max_head = cfg->limits.max_head;
    s->lim.max_line = cfg->limits.max_line;
    s->lim.max_headers = cfg->limits.max_headers;
    if (!(s->head = malloc(sizeof(*s->head))) || !(s->metrics = hilt_metrics_new())) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        goto out;
    }
    if (hilt_home(s->home, sizeof(s->home), e) < 0) goto out;
    snprintf(s->dir, sizeof(s->dir), "%s/serve/%s", s->home, cfg->node);
    snprintf(s->crldir, sizeof(s->crldir), "%s/crl", s->dir);
    if (hilt_mkdir_p(s->dir, 0700, e) < 0 || hilt_mkdir_p(s->crldir, 0755, e) < 0) goto out;
    if (cfg->policy[0] && hilt_policy_load_file(cfg->policy, &s->policy, e) < 0) goto out;
    if (!(s->st = hilt_store_open(cfg->store[0] ? cfg->store : NULL, e)) ||
        !(s->ca = hilt_ca_open(s->st, s->home, cfg->ca, e)))
        goto out;
    /* the key holder first: a re-exec'd signer, before any socket exists */
    s->so.exec_path = o->self_exe;
    if (hilt_ca_use_signer_process(s->ca, &s->so, e) < 0) goto out;
    logf_(s, "CA '%s' signs through signer process %d; store %s", s->ca->rec.name,
          (int)hilt_signer_pid(s->ca->signer), hilt_store_kind(s->st));
    int tls = 0;
    for (size_t i = 0; i < cfg->nlisteners; i++)
        tls |= cfg->listeners[i].tls;
    if (tls && !own_load(s) && own_issue(s, e) < 0) goto out;
    if (s->leaf)
        logf_(s, "server certificate valid until %lld, renewed from %lld",
              (long long)s->cert_not_after, (long long)s->cert_renew_at);
    struct hilt_ocsp_responder_opts ro = {.validity = cfg->ocsp.validity,
                                          .poll_interval = cfg->ocsp.poll};
    if (!(s->ocsp = hilt_ocsp_responder_new(s->ca, &ro, e)) ||
        hilt_ocsp_responder_load(s->ocsp, hilt_now(), e) < 0)
        goto out;
    if (!(s->base = event_base_new())) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot create the event loop");
        goto out;
    }
    /* the API context the handlers share */
    s->api.base = s->base;
    s->api.st = s->st;
    s->api.ca = s->ca;
    s->api.home = s->home;
    s->api.node_id = s->cfg.node;
    api_knobs(s);
    s->api.metrics = s->metrics;
    s->api.priv = s;
    if (hilt_rest_init(&s->api, e) < 0 || hilt_acme_init(&s->api, e) < 0) goto out;
    s->nlst = cfg->nlisteners;
    for (size_t i = 0; i < s->nlst; i++) {
        s->lst[i].cfg = cfg->listeners[i];
        if (open_listener(s, &s->lst[i], e) < 0) goto out;
    }
    if (rebuild_ctxs(s, e) < 0) goto out;
    /* CRLs before the first request can ask for one */
    crl_publish(s, hilt_now(), 0);
    s->next_crl_at = 0; /* count revocations on the first tick */
    struct timeval one = {1, 0};
    if (!(s->tick = event_new(s->base, -1, EV_PERSIST, on_tick, s)) ||
        !(s->sigint = evsignal_new(s->base, SIGINT, on_signal, s)) ||
        !(s->sigterm = evsignal_new(s->base, SIGTERM, on_signal, s)) ||
        !(s->sighup = evsignal_new(s->base, SIGHUP, on_signal, s))) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot create the event loop's events");
        goto out;
    }
    event_add(s->tick, &one);
    event_add(s->sigint, NULL);
    event_add(s->sigterm, NULL);
    event_add(s->sighup, NULL);
    signal(SIGPIPE, SIG_IGN);
    lease_tick(s, hilt_now());
    s->store_ok = 1; /* opened and migrated just now */
    const char *urls[HILT_SERVE_MAX_LISTENERS];
    for (size_t i = 0; i < s->nlst; i++)
        urls[i] = s->lst[i].url;
    if (o->ready) o->ready(urls, s->nlst, o->ready_arg);
    if (event_base_dispatch(s->base) < 0) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "the event loop failed");
        goto out;
    }
    rc = 0;
    logf_(s, "stopped");
out:
    if (s->renew_pid > 0) {
        kill(s->renew_pid, SIGTERM);
        waitpid(s->renew_pid, NULL, 0);
    }
    if (s->st && s->lease_held) hilt_store_lease_release(s->st, "renewal", s->cfg.node, NULL);
    while (s->conns)
        conn_close(s->conns);
    if (s->renew_ev) event_free(s->renew_ev);
    if (s->renew_fd >= 0) close(s->renew_fd);
    for (size_t i = 0; i < s->nlst; i++) {
        if (s->lst[i].el) evconnlistener_free(s->lst[i].el);
        SSL_CTX_free(s->lst[i].ctx);
    }
    if (s->base) {
        hilt_acme_free(&s->api);
        hilt_rest_free(&s->api);
    }
    if (s->tick) event_free(s->tick);
    if (s->sigint) event_free(s->sigint);
    if (s->sigterm) event_free(s->sigterm);
    if (s->sighup) event_free(s->sighup);
    if (s->stop_timer) event_free(s->stop_timer);
    if (s->base) event_base_free(s->base);
    hilt_ocsp_responder_free(s->ocsp);
    own_free(s);
    hilt_ca_close(s->ca);
    hilt_store_close(s->st);
    hilt_policy_free(&s->policy);
    hilt_metrics_free(s->metrics);
    hilt_buf_free(&s->renew_out);
    free(s->head);
    free(s);
    return rc;
}
