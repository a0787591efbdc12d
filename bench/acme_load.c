/* acme_load.c - a small ACME client (RFC 8555, RFC 9773) over libhilt's JWS
 * code (src/api/jws.h): the load generator of bench/acme.sh, and the client
 * the integration tests use for what Debian's certbot 2.1 and lego 4.9 cannot
 * do (ARI, replaces, orders split across two nodes, hand-made bad requests).
 *
 *   acme_load --dir URL --ca FILE [--key FILE] COMMAND ...
 *   load [-n TOTAL] [-c CONC] [-a ACCOUNTS] [--http-port P] [--domain D] [--poll-ms MS]
 *        TOTAL full orders (newOrder, authz, http-01 answered by our own
 *        responder on 127.0.0.1:P, validation, finalize, polling, download),
 *        CONC at a time over keep-alive connections, ACCOUNTS accounts made
 *        before the clock starts; prints one JSON line with the rate.
 *   order [--http-port P] [--replaces CERTID] [--out PREFIX] [--finalize-dir URL]
 *         [--wait-approval SECS] [--challenge TYPE] [--no-responder] NAME...
 *        one order; writes PREFIX.crt (chain) and PREFIX.key. --finalize-dir:
 *        validate through --dir, finalize and download through another node.
 *        --challenge tls-alpn-01 / --no-responder: ask for a validation nobody
 *        here answers (the tests point the server at a wrong or silent peer).
 *   certid CERT          print the RFC 9773 certID of a certificate
 *   ari CERT             GET renewalInfo; print {"status","start","end","explanationURL","retry_after"}
 *   revoke [--cert-key FILE] [--reason N] CERT   (account key, or the certificate's key)
 *   key-change NEWKEY    roll the account over to NEWKEY (a PEM key file, made if absent)
 *   probe CASE           one bad request; prints the answer as JSON with "http_status".
 *                        CASE: replay-nonce bad-nonce url-mismatch unknown-kid wrong-signature
 *                        bad-alg jwk-not-allowed bad-json content-type not-ready bad-csr
 *   nonce-cross URL2     a nonce from --dir used on URL2 (must work), then again on --dir
 *
 * Every request goes to 127.0.0.1 or the host of --dir (the tests' loopback). */
#include "api/ari.h"
#include "api/jws.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *g_ca;
static int g_verbose;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "acme_load: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(3);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- HTTPS client (keep-alive) ------------------------------------------------------------- */

struct url {
    char host[300];
    int port;
    char path[2048];
    char base[310]; /* scheme://host:port */
};

static int url_parse(const char *s, struct url *u)
{
    memset(u, 0, sizeof(*u));
    if (strncmp(s, "https://", 8)) return -1;
    const char *h = s + 8, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    char hp[300];
    if (hl >= sizeof(hp)) return -1;
    memcpy(hp, h, hl);
    hp[hl] = '\0';
    char *colon = strrchr(hp, ':');
    u->port = 443;
    if (colon && !strchr(colon, ']')) {
        *colon = '\0';
        u->port = atoi(colon + 1);
    }
    snprintf(u->host, sizeof(u->host), "%s", hp);
    snprintf(u->path, sizeof(u->path), "%s", slash ? slash : "/");
    snprintf(u->base, sizeof(u->base), "https://%.*s", (int)hl, h);
    return 0;
}

struct conn {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    char host[300];
    int port;
};

struct resp {
    int status;
    char nonce[128], location[1200], retry_after[32], ctype[96], link_up[1200];
    struct hilt_buf body;
};

static void conn_close(struct conn *c)
{
    if (c->ssl) SSL_free(c->ssl);
    if (c->fd >= 0) close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
}

static SSL_CTX *client_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) die("SSL_CTX_new");
    if (g_ca) {
        if (SSL_CTX_load_verify_locations(ctx, g_ca, NULL) != 1) die("cannot load CA file %s", g_ca);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    return ctx;
}

static int conn_open(struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    if (inet_pton(AF_INET, c->host, &sa.sin_addr) != 1) inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        conn_close(c);
        return -1;
    }
    c->ssl = SSL_new(c->ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, c->host);
    if (g_ca) SSL_set1_host(c->ssl, c->host);
    if (SSL_connect(c->ssl) != 1) {
        ERR_print_errors_fp(stderr);
        conn_close(c);
        return -1;
    }
    return 0;
}

static void hdr_copy(const struct hilt_http_resp *r, const char *name, char *out, size_t cap)
{
    if (hilt_http_header(r, name, out, cap) < 0) out[0] = '\0';
}

/* One request; reconnects once when a kept-alive connection was closed. */
static int request(struct conn *c, const char *method, const char *path, const char *ctype,
                   const char *body, struct resp *out)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!c->ssl && conn_open(c) < 0) return -1;
        char head[4096];
        size_t bl = body ? strlen(body) : 0;
        int n = snprintf(head, sizeof(head),
                         "%s %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: hilt-acme-load\r\n"
                         "Accept: */*\r\n%s%s%sContent-Length: %zu\r\n\r\n",
                         method, path, c->host, c->port, ctype ? "Content-Type: " : "",
                         ctype ? ctype : "", ctype ? "\r\n" : "", bl);
        if (SSL_write(c->ssl, head, n) != n || (bl && SSL_write(c->ssl, body, (int)bl) != (int)bl)) {
            conn_close(c);
            continue;
        }
        struct hilt_buf in;
        hilt_buf_init(&in, 8u << 20);
        struct hilt_http_resp r;
        int rc = 0, got_any = 0;
        for (;;) {
            uint8_t *p = hilt_buf_reserve(&in, 16384);
            if (!p) break;
            int k = SSL_read(c->ssl, p, 16384);
            if (k <= 0) {
                hilt_http_resp_init(&r, 8u << 20);
                rc = hilt_http_parse(in.data, in.len, 1, !strcmp(method, "HEAD"), &r, NULL);
                if (rc != 1) hilt_http_resp_free(&r);
                break;
            }
            got_any = 1;
            hilt_buf_commit(&in, (size_t)k);
            hilt_http_resp_init(&r, 8u << 20);
            rc = hilt_http_parse(in.data, in.len, 0, !strcmp(method, "HEAD"), &r, NULL);
            if (rc == 1) break;
            hilt_http_resp_free(&r);
            if (rc < 0) break;
        }
        hilt_buf_free(&in);
        if (rc != 1) {
            conn_close(c);
            if (!got_any) continue; /* the server closed a kept-alive connection */
            return -1;
        }
        out->status = r.status;
        hdr_copy(&r, "Replay-Nonce", out->nonce, sizeof(out->nonce));
        hdr_copy(&r, "Location", out->location, sizeof(out->location));
        hdr_copy(&r, "Retry-After", out->retry_after, sizeof(out->retry_after));
        hdr_copy(&r, "Content-Type", out->ctype, sizeof(out->ctype));
        out->link_up[0] = '\0';
        hilt_buf_free(&out->body);
        out->body = r.body;
        r.body.data = NULL;
        char conn_hdr[64];
        if (hilt_http_header(&r, "Connection", conn_hdr, sizeof(conn_hdr)) == 0 &&
            !strcasecmp(conn_hdr, "close"))
            conn_close(c);
        hilt_http_resp_free(&r);
        return 0;
    }
    return -1;
}

/* ---- ACME client --------------------------------------------------------------------------- */

struct client {
    struct conn c;
    struct url dir;
    char new_nonce[1200], new_account[1200], new_order[1200], revoke[1200], key_change[1200],
        renewal_info[1200];
    char nonce[128];
    EVP_PKEY *key;
    char kid[1200];
    char thumbprint[64];
    struct resp r;
    json_t *j; /* the last JSON answer */
};

static const char *path_of(const struct client *cl, const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    (void)cl;
    return p ? p : "/";
}

static void client_init(struct client *cl, SSL_CTX *ctx, const char *dir_url)
{
    memset(cl, 0, sizeof(*cl));
    if (url_parse(dir_url, &cl->dir) < 0) die("--dir '%s' is not an https:// URL", dir_url);
    cl->c.ctx = ctx;
    cl->c.fd = -1;
    snprintf(cl->c.host, sizeof(cl->c.host), "%s", cl->dir.host);
    cl->c.port = cl->dir.port;
    hilt_buf_init(&cl->r.body, 8u << 20);
}

static void client_free(struct client *cl)
{
    conn_close(&cl->c);
    hilt_buf_free(&cl->r.body);
    json_decref(cl->j);
    cl->j = NULL;
}

static json_t *parse_body(struct client *cl)
{
    json_decref(cl->j);
    cl->j = cl->r.body.len ? json_loadb((const char *)cl->r.body.data, cl->r.body.len, 0, NULL) : NULL;
    return cl->j;
}

static int get(struct client *cl, const char *url)
{
    if (request(&cl->c, "GET", path_of(cl, url), NULL, NULL, &cl->r) < 0) return -1;
    if (cl->r.nonce[0]) snprintf(cl->nonce, sizeof(cl->nonce), "%s", cl->r.nonce);
    parse_body(cl);
    return cl->r.status;
}

static int directory(struct client *cl)
{
    char u[2400];
    snprintf(u, sizeof(u), "%s%s", cl->dir.base, cl->dir.path);
    if (get(cl, u) != 200 || !cl->j) return -1;
    static const struct {
        const char *k;
        size_t off;
    } f[] = {{"newNonce", offsetof(struct client, new_nonce)},
             {"newAccount", offsetof(struct client, new_account)},
             {"newOrder", offsetof(struct client, new_order)},
             {"revokeCert", offsetof(struct client, revoke)},
             {"keyChange", offsetof(struct client, key_change)},
             {"renewalInfo", offsetof(struct client, renewal_info)}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        const char *v = json_string_value(json_object_get(cl->j, f[i].k));
        snprintf((char *)cl + f[i].off, 1200, "%s", v ? v : "");
    }
    return 0;
}

static int fetch_nonce(struct client *cl)
{
    if (request(&cl->c, "HEAD", path_of(cl, cl->new_nonce), NULL, NULL, &cl->r) < 0) return -1;
    snprintf(cl->nonce, sizeof(cl->nonce), "%s", cl->r.nonce);
    return cl->nonce[0] ? 0 : -1;
}

/* A signed POST; retried on badNonce with the nonce of the error (§6.5). */
static int post_as(struct client *cl, EVP_PKEY *key, const char *kid, const char *url,
                   const char *payload)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        if (!cl->nonce[0] && fetch_nonce(cl) < 0) return -1;
        char *jws = hilt_jws_sign(key, kid, cl->nonce, url, payload, NULL);
        cl->nonce[0] = '\0';
        if (!jws) return -1;
        int rc = request(&cl->c, "POST", path_of(cl, url), "application/jose+json", jws, &cl->r);
        free(jws);
        if (rc < 0) return -1;
        snprintf(cl->nonce, sizeof(cl->nonce), "%s", cl->r.nonce);
        parse_body(cl);
        const char *type = json_string_value(json_object_get(cl->j, "type"));
        if (cl->r.status == 400 && type && !strcmp(type, "urn:ietf:params:acme:error:badNonce"))
            continue;
        if (g_verbose)
            fprintf(stderr, "POST %s -> %d %.*s\n", url, cl->r.status, (int)cl->r.body.len,
                    (const char *)cl->r.body.data);
        return cl->r.status;
    }
    return cl->r.status;
}

static int post(struct client *cl, const char *url, const char *payload)
{
    return post_as(cl, cl->key, cl->kid[0] ? cl->kid : NULL, url, payload);
}

static void set_key(struct client *cl, EVP_PKEY *k)
{
    cl->key = k;
    json_t *jwk = hilt_pkey_to_jwk(k);
    if (hilt_jwk_thumbprint(jwk, cl->thumbprint, NULL) < 0) die("thumbprint");
    json_decref(jwk);
}

static int account(struct client *cl)
{
    cl->kid[0] = '\0';
    int st = post(cl, cl->new_account, "{\"termsOfServiceAgreed\":true}");
    if (st != 200 && st != 201) return -1;
    snprintf(cl->kid, sizeof(cl->kid), "%s", cl->r.location);
    return 0;
}

static EVP_PKEY *gen_ec(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (!k) die("EVP_EC_gen");
    return k;
}

static EVP_PKEY *load_or_make_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f) {
        EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        if (!k) die("%s: not a PEM private key", path);
        return k;
    }
    EVP_PKEY *k = gen_ec();
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w"))) die("cannot create %s: %s", path, strerror(errno));
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    return k;
}

static char *csr_b64(EVP_PKEY *k, char **names, int n)
{
    X509_REQ *r = X509_REQ_new();
    X509_REQ_set_pubkey(r, k);
    char san[8192] = "";
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        int ip = strspn(names[i], "0123456789.:abcdef") == strlen(names[i]) && strchr(names[i], '.') &&
                 inet_addr(names[i]) != INADDR_NONE;
        o += (size_t)snprintf(san + o, sizeof(san) - o, "%s%s:%s", i ? "," : "", ip ? "IP" : "DNS",
                              names[i]);
    }
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san));
    X509_REQ_add_extensions(r, exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_sign(r, k, EVP_sha256());
    unsigned char *der = NULL;
    int dl = i2d_X509_REQ(r, &der);
    X509_REQ_free(r);
    char *b = hilt_b64url_encode(der, (size_t)dl);
    OPENSSL_free(der);
    return b;
}

/* ---- the http-01 responder ------------------------------------------------------------------- */

#define TOKENS 65536
struct tok {
    char token[64];
    char ka[200];
};
static struct tok g_tokens[TOKENS];
static pthread_mutex_t g_tok_mu = PTHREAD_MUTEX_INITIALIZER;

static unsigned tok_slot(const char *t)
{
    unsigned h = 2166136261u;
    for (; *t; t++)
        h = (h ^ (unsigned char)*t) * 16777619u;
    return h & (TOKENS - 1);
}

static void tok_put(const char *token, const char *ka)
{
    pthread_mutex_lock(&g_tok_mu);
    unsigned s = tok_slot(token);
    for (unsigned i = 0; i < TOKENS; i++, s = (s + 1) & (TOKENS - 1))
        if (!g_tokens[s].token[0] || !strcmp(g_tokens[s].token, token)) {
            snprintf(g_tokens[s].token, sizeof(g_tokens[s].token), "%s", token);
            snprintf(g_tokens[s].ka, sizeof(g_tokens[s].ka), "%s", ka);
            break;
        }
    pthread_mutex_unlock(&g_tok_mu);
}

static int tok_get(const char *token, size_t n, char *ka, size_t cap)
{
    char t[64];
    if (n >= sizeof(t)) return -1;
    memcpy(t, token, n);
    t[n] = '\0';
    int found = -1;
    pthread_mutex_lock(&g_tok_mu);
    unsigned s = tok_slot(t);
    for (unsigned i = 0; i < TOKENS && g_tokens[s].token[0]; i++, s = (s + 1) & (TOKENS - 1))
        if (!strcmp(g_tokens[s].token, t)) {
            snprintf(ka, cap, "%s", g_tokens[s].ka);
            found = 0;
            break;
        }
    pthread_mutex_unlock(&g_tok_mu);
    return found;
}

struct hconn {
    int fd;
    char buf[4096];
    size_t n;
};

static void *responder(void *arg)
{
    int lfd = *(int *)arg;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            if (!evs[i].data.ptr) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    struct hconn *h = calloc(1, sizeof(*h));
                    h->fd = fd;
                    struct epoll_event e2 = {.events = EPOLLIN, .data.ptr = h};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e2);
                }
                continue;
            }
            struct hconn *h = evs[i].data.ptr;
            ssize_t k = read(h->fd, h->buf + h->n, sizeof(h->buf) - 1 - h->n);
            if (k > 0) h->n += (size_t)k;
            h->buf[h->n] = '\0';
            int done = k <= 0 || strstr(h->buf, "\r\n\r\n") || h->n >= sizeof(h->buf) - 1;
            if (!done) continue;
            const char *pfx = "GET /.well-known/acme-challenge/";
            char ka[200], out[512];
            int len;
            if (!strncmp(h->buf, pfx, strlen(pfx))) {
                const char *t = h->buf + strlen(pfx);
                size_t tl = strcspn(t, " ?\r\n");
                if (tok_get(t, tl, ka, sizeof(ka)) == 0)
                    len = snprintf(out, sizeof(out),
                                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                                   "%zu\r\nConnection: close\r\n\r\n%s",
                                   strlen(ka), ka);
                else
                    len = snprintf(out, sizeof(out), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                                                     "Connection: close\r\n\r\n");
            } else {
                len = snprintf(out, sizeof(out),
                               "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
            if (write(h->fd, out, (size_t)len) < 0) { /* the validator gave up */
            }
            epoll_ctl(ep, EPOLL_CTL_DEL, h->fd, NULL);
            close(h->fd);
            free(h);
        }
    }
    return NULL;
}

static void start_responder(int port)
{
    static int lfd;
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1024) < 0)
        die("http-01 responder: cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
    pthread_t th;
    pthread_create(&th, NULL, responder, &lfd);
    pthread_detach(th);
}

/* ---- one order ---------------------------------------------------------------------------------- */

struct order_opts {
    const char *challenge; /* "http-01" (default) or "tls-alpn-01" (not answered by us) */
    const char *replaces;
    int poll_ms;
    int wait_approval; /* seconds */
    const char *finalize_base; /* another node for finalize and download */
    EVP_PKEY *cert_key;        /* NULL: a fresh one */
    char *pem_out;             /* malloc'd chain */
    double t_valid;            /* when the authorizations were valid (load stats) */
    int trace;                 /* `order`: say on stderr how the challenge POST was answered */
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* rewrite an URL of one node onto another's base */
static void rebase(const char *url, const char *base, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    snprintf(out, cap, "%s%s", base, p ? p : "/");
}

static int do_order(struct client *cl, char **names, int n, struct order_opts *oo)
{
    char payload[16384];
    size_t o = (size_t)snprintf(payload, sizeof(payload), "{\"identifiers\":[");
    for (int i = 0; i < n; i++) {
        int ip = inet_addr(names[i]) != INADDR_NONE && strchr(names[i], '.');
        o += (size_t)snprintf(payload + o, sizeof(payload) - o, "%s{\"type\":\"%s\",\"value\":\"%s\"}",
                              i ? "," : "", ip ? "ip" : "dns", names[i]);
    }
    if (oo->replaces) o += (size_t)snprintf(payload + o, sizeof(payload) - o, "],\"replaces\":\"%s\"}", oo->replaces);
    else o += (size_t)snprintf(payload + o, sizeof(payload) - o, "]}");
    if (post(cl, cl->new_order, payload) != 201) {
        fprintf(stderr, "newOrder: %d %.*s\n", cl->r.status, (int)cl->r.body.len,
                (const char *)cl->r.body.data);
        return -1;
    }
    char order_url[1200], finalize[1200];
    snprintf(order_url, sizeof(order_url), "%s", cl->r.location);
    snprintf(finalize, sizeof(finalize), "%s", json_string_value(json_object_get(cl->j, "finalize")));
    json_t *az = json_deep_copy(json_object_get(cl->j, "authorizations"));
    size_t i;
    json_t *a;
    int rc = -1;
    json_array_foreach(az, i, a)
    {
        const char *au = json_string_value(a);
        if (post(cl, au, NULL) != 200) goto out;
        const char *st = json_string_value(json_object_get(cl->j, "status"));
        if (st && !strcmp(st, "valid")) continue;
        json_t *cs = json_object_get(cl->j, "challenges"), *c;
        size_t k;
        char curl[1200] = "";
        json_array_foreach(cs, k, c)
        {
            if (strcmp(json_string_value(json_object_get(c, "type")) ?: "",
                       oo->challenge ? oo->challenge : "http-01"))
                continue;
            char ka[200];
            snprintf(ka, sizeof(ka), "%s.%s", json_string_value(json_object_get(c, "token")),
                     cl->thumbprint);
            tok_put(json_string_value(json_object_get(c, "token")), ka);
            snprintf(curl, sizeof(curl), "%s", json_string_value(json_object_get(c, "url")));
        }
        if (!curl[0] || post(cl, curl, "{}") != 200) goto out;
        /* as lego does: a challenge the server answers "valid" needs no poll */
        st = json_string_value(json_object_get(cl->j, "status"));
        if (oo->trace) fprintf(stderr, "challenge answered: %s\n", st ? st : "(none)");
        if (st && !strcmp(st, "valid")) continue;
        for (int polls = 0;; polls++) {
            if (polls > 100000 / (oo->poll_ms ? oo->poll_ms : 1)) goto out;
            sleep_ms(oo->poll_ms);
            if (post(cl, au, NULL) != 200) goto out;
            st = json_string_value(json_object_get(cl->j, "status"));
            if (st && !strcmp(st, "valid")) break;
            if (st && strcmp(st, "pending")) {
                fprintf(stderr, "authorization %s: %.*s\n", st, (int)cl->r.body.len,
                        (const char *)cl->r.body.data);
                goto out;
            }
        }
    }
    oo->t_valid = now_s();
    /* the order is ready (servers may lag a moment behind the authorization) */
    char fin[1200], ord[1200];
    snprintf(fin, sizeof(fin), "%s", finalize);
    snprintf(ord, sizeof(ord), "%s", order_url);
    struct client other;
    struct client *fc = cl;
    if (oo->finalize_base) {
        client_init(&other, cl->c.ctx, cl->dir.base);
        struct url u;
        url_parse(oo->finalize_base, &u);
        snprintf(other.c.host, sizeof(other.c.host), "%s", u.host);
        other.c.port = u.port;
        snprintf(other.new_nonce, sizeof(other.new_nonce), "%s/acme/new-nonce", u.base);
        other.key = cl->key;
        snprintf(other.kid, sizeof(other.kid), "%s", cl->kid);
        snprintf(other.thumbprint, sizeof(other.thumbprint), "%s", cl->thumbprint);
        rebase(finalize, u.base, fin, sizeof(fin));
        rebase(order_url, u.base, ord, sizeof(ord));
        fc = &other;
    }
    EVP_PKEY *ck = oo->cert_key ? oo->cert_key : gen_ec();
    char *csr = csr_b64(ck, names, n);
    if (!oo->cert_key) EVP_PKEY_free(ck);
    char body[16384];
    snprintf(body, sizeof(body), "{\"csr\":\"%s\"}", csr);
    free(csr);
    int st_code = post(fc, fin, body);
    if (st_code != 200) {
        fprintf(stderr, "finalize: %d %.*s\n", fc->r.status, (int)fc->r.body.len,
                (const char *)fc->r.body.data);
        goto out2;
    }
    double deadline = now_s() + (oo->wait_approval ? oo->wait_approval : 100);
    for (;;) {
        const char *st = json_string_value(json_object_get(fc->j, "status"));
        if (st && !strcmp(st, "valid")) break;
        if (!st || strcmp(st, "processing") || now_s() > deadline) {
            fprintf(stderr, "order: %.*s\n", (int)fc->r.body.len, (const char *)fc->r.body.data);
            goto out2;
        }
        sleep_ms(oo->wait_approval ? 500 : oo->poll_ms);
        if (post(fc, ord, NULL) != 200) goto out2;
    }
    char cert[1200];
    const char *cu = json_string_value(json_object_get(fc->j, "certificate"));
    if (!cu) goto out2;
    if (oo->finalize_base) rebase(cu, oo->finalize_base, cert, sizeof(cert));
    else snprintf(cert, sizeof(cert), "%s", cu);
    if (post(fc, cert, NULL) != 200) goto out2;
    if (oo->pem_out != (char *)1) {
        free(oo->pem_out);
        oo->pem_out = strndup((const char *)fc->r.body.data, fc->r.body.len);
    }
    rc = 0;
out2:
    if (fc != cl) client_free(fc);
out:
    json_decref(az);
    return rc;
}

/* ---- load ------------------------------------------------------------------------------------------ */

struct load {
    const char *dir;
    SSL_CTX *ctx;
    int total, conc, accounts, poll_ms;
    const char *domain;
    atomic_int next, done, failed;
    struct client *accts; /* account keys and kids, made before the clock starts */
    double *lat;
};

static void *worker(void *arg)
{
    struct load *L = ((void **)arg)[0];
    int w = (int)(intptr_t)((void **)arg)[1];
    struct client cl;
    client_init(&cl, L->ctx, L->dir);
    if (directory(&cl) < 0) die("worker %d: directory", w);
    const struct client *acct = &L->accts[w % L->accounts];
    cl.key = acct->key;
    snprintf(cl.kid, sizeof(cl.kid), "%s", acct->kid);
    snprintf(cl.thumbprint, sizeof(cl.thumbprint), "%s", acct->thumbprint);
    EVP_PKEY *ck = gen_ec();
    for (;;) {
        int k = atomic_fetch_add(&L->next, 1);
        if (k >= L->total) break;
        char name[300], *names[1] = {name};
        snprintf(name, sizeof(name), "o%d-%d.%s", k, (int)getpid() % 1000, L->domain);
        struct order_opts oo = {.poll_ms = L->poll_ms, .cert_key = ck, .pem_out = (char *)1};
        double t0 = now_s();
        if (do_order(&cl, names, 1, &oo) == 0) {
            L->lat[k] = now_s() - t0;
            atomic_fetch_add(&L->done, 1);
        } else {
            L->lat[k] = -1;
            atomic_fetch_add(&L->failed, 1);
        }
    }
    EVP_PKEY_free(ck);
    client_free(&cl);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmd_load(const char *dir, SSL_CTX *ctx, int total, int conc, int accounts, int port,
                    const char *domain, int poll_ms)
{
    struct load L = {.dir = dir, .ctx = ctx, .total = total, .conc = conc,
                     .accounts = accounts < 1 ? 1 : accounts, .poll_ms = poll_ms, .domain = domain};
    start_responder(port);
    L.accts = calloc((size_t)L.accounts, sizeof(*L.accts));
    L.lat = calloc((size_t)total, sizeof(double));
    struct client cl;
    client_init(&cl, ctx, dir);
    if (directory(&cl) < 0) die("directory %s", dir);
    for (int i = 0; i < L.accounts; i++) {
        set_key(&cl, gen_ec());
        if (account(&cl) < 0) die("newAccount: %d", cl.r.status);
        L.accts[i].key = cl.key;
        snprintf(L.accts[i].kid, sizeof(L.accts[i].kid), "%s", cl.kid);
        snprintf(L.accts[i].thumbprint, sizeof(L.accts[i].thumbprint), "%s", cl.thumbprint);
    }
    client_free(&cl);
    pthread_t *th = calloc((size_t)conc, sizeof(*th));
    void *(*args)[2] = calloc((size_t)conc, sizeof(*args));
    double t0 = now_s();
    for (int i = 0; i < conc; i++) {
        args[i][0] = &L;
        args[i][1] = (void *)(intptr_t)i;
        pthread_create(&th[i], NULL, worker, args[i]);
    }
    for (int i = 0; i < conc; i++)
        pthread_join(th[i], NULL);
    double secs = now_s() - t0;
    int ok = atomic_load(&L.done), bad = atomic_load(&L.failed);
    double *v = calloc((size_t)(ok ? ok : 1), sizeof(double));
    int m = 0;
    for (int i = 0; i < total; i++)
        if (L.lat[i] >= 0) v[m++] = L.lat[i];
    qsort(v, (size_t)m, sizeof(double), cmp_d);
    printf("{\"orders\":%d,\"failed\":%d,\"seconds\":%.3f,\"orders_per_second\":%.1f,"
           "\"latency_p50_ms\":%.1f,\"latency_p99_ms\":%.1f,\"concurrency\":%d,\"accounts\":%d}\n",
           ok, bad, secs, ok / secs, m ? v[m / 2] * 1000 : 0, m ? v[m * 99 / 100] * 1000 : 0, conc,
           L.accounts);
    for (int i = 0; i < L.accounts; i++)
        EVP_PKEY_free(L.accts[i].key);
    free(v);
    free(L.accts);
    free(L.lat);
    free(th);
    free(args);
    return bad ? 1 : 0;
}

/* ---- single commands ----------------------------------------------------------------------------------- */

static X509 *load_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) die("cannot open %s", path);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!x) die("%s: no PEM certificate", path);
    return x;
}

static void print_answer(struct client *cl)
{
    json_t *o = cl->j && json_is_object(cl->j) ? json_deep_copy(cl->j) : json_object();
    json_object_set_new(o, "http_status", json_integer(cl->r.status));
    json_object_set_new(o, "has_replay_nonce", json_boolean(cl->r.nonce[0] != 0));
    if (cl->r.location[0]) json_object_set_new(o, "location", json_string(cl->r.location));
    if (cl->r.retry_after[0]) json_object_set_new(o, "retry_after", json_string(cl->r.retry_after));
    json_object_set_new(o, "content_type", json_string(cl->r.ctype));
    char *s = json_dumps(o, JSON_COMPACT);
    printf("%s\n", s);
    free(s);
    json_decref(o);
}

static char *raw_jws(EVP_PKEY *k, const char *header, const char *payload)
{
    char *h = hilt_b64url_encode((const unsigned char *)header, strlen(header));
    char *p = hilt_b64url_encode((const unsigned char *)payload, strlen(payload));
    char *in = NULL, *out = NULL;
    if (asprintf(&in, "%s.%s", h, p) < 0) die("oom");
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char sig[1024], raw[64];
    size_t sl = sizeof(sig);
    EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, k);
    EVP_DigestSign(c, sig, &sl, (unsigned char *)in, strlen(in));
    EVP_MD_CTX_free(c);
    /* ES256 wants r||s */
    const unsigned char *q = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)sl);
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(es, &r, &s);
    BN_bn2binpad(r, raw, 32);
    BN_bn2binpad(s, raw + 32, 32);
    ECDSA_SIG_free(es);
    char *s64 = hilt_b64url_encode(raw, 64);
    if (asprintf(&out, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", h, p, s64) < 0)
        die("oom");
    free(h);
    free(p);
    free(in);
    free(s64);
    return out;
}

static int send_raw(struct client *cl, const char *path, const char *ctype, const char *body)
{
    if (request(&cl->c, "POST", path, ctype, body, &cl->r) < 0) return -1;
    parse_body(cl);
    return cl->r.status;
}

static int cmd_probe(struct client *cl, const char *what)
{
    char url[1300], hdr[4096];
    snprintf(url, sizeof(url), "%s", cl->new_order);
    const char *order = "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"probe.example.test\"}]}";
    if (!strcmp(what, "replay-nonce")) {
        fetch_nonce(cl);
        char n[128];
        snprintf(n, sizeof(n), "%s", cl->nonce);
        char *jws = hilt_jws_sign(cl->key, cl->kid, n, cl->kid, NULL, NULL);
        send_raw(cl, path_of(cl, cl->kid), "application/jose+json", jws);
        if (cl->r.status != 200) die("first use of the nonce: %d", cl->r.status);
        send_raw(cl, path_of(cl, cl->kid), "application/jose+json", jws);
        free(jws);
    } else if (!strcmp(what, "bad-nonce")) {
        char *jws = hilt_jws_sign(cl->key, cl->kid, "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", cl->kid, NULL, NULL);
        send_raw(cl, path_of(cl, cl->kid), "application/jose+json", jws);
        free(jws);
    } else if (!strcmp(what, "url-mismatch")) {
        fetch_nonce(cl);
        char *jws = hilt_jws_sign(cl->key, cl->kid, cl->nonce, cl->new_account, order, NULL);
        send_raw(cl, path_of(cl, url), "application/jose+json", jws);
        free(jws);
    } else if (!strcmp(what, "unknown-kid")) {
        fetch_nonce(cl);
        char kid[1300];
        snprintf(kid, sizeof(kid), "%s/acme/acct/AAAAAAAAAAAAAAAAAAAAAA", cl->dir.base);
        char *jws = hilt_jws_sign(cl->key, kid, cl->nonce, url, order, NULL);
        send_raw(cl, path_of(cl, url), "application/jose+json", jws);
        free(jws);
    } else if (!strcmp(what, "wrong-signature")) {
        fetch_nonce(cl);
        EVP_PKEY *other = gen_ec();
        char *jws = hilt_jws_sign(other, cl->kid, cl->nonce, url, order, NULL);
        send_raw(cl, path_of(cl, url), "application/jose+json", jws);
        free(jws);
        EVP_PKEY_free(other);
    } else if (!strcmp(what, "bad-alg")) {
        fetch_nonce(cl);
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\"}",
                 cl->kid, cl->nonce, url);
        char *jws = raw_jws(cl->key, hdr, order);
        send_raw(cl, path_of(cl, url), "application/jose+json", jws);
        free(jws);
    } else if (!strcmp(what, "jwk-not-allowed")) {
        fetch_nonce(cl);
        char *jws = hilt_jws_sign(cl->key, NULL, cl->nonce, url, order, NULL);
        send_raw(cl, path_of(cl, url), "application/jose+json", jws);
        free(jws);
    } else if (!strcmp(what, "bad-json")) {
        send_raw(cl, path_of(cl, url), "application/jose+json", "{\"protected\": tru");
    } else if (!strcmp(what, "content-type")) {
        fetch_nonce(cl);
        char *jws = hilt_jws_sign(cl->key, cl->kid, cl->nonce, url, order, NULL);
        send_raw(cl, path_of(cl, url), "application/json", jws);
        free(jws);
    } else if (!strcmp(what, "not-ready") || !strcmp(what, "bad-csr")) {
        if (post(cl, cl->new_order, order) != 201) die("newOrder %d", cl->r.status);
        char fin[1200];
        snprintf(fin, sizeof(fin), "%s", json_string_value(json_object_get(cl->j, "finalize")));
        EVP_PKEY *k = gen_ec();
        char *names[1] = {"other.example.test"};
        char *csr = csr_b64(k, names, 1);
        char body[8192];
        snprintf(body, sizeof(body), "{\"csr\":\"%s\"}", csr);
        post(cl, fin, body);
        free(csr);
        EVP_PKEY_free(k);
    } else {
        die("unknown probe '%s'", what);
    }
    print_answer(cl);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"dir", 1, 0, 'd'},         {"ca", 1, 0, 'C'},
                                       {"key", 1, 0, 'k'},         {"http-port", 1, 0, 'p'},
                                       {"domain", 1, 0, 'D'},      {"poll-ms", 1, 0, 'P'},
                                       {"replaces", 1, 0, 'r'},    {"out", 1, 0, 'o'},
                                       {"finalize-dir", 1, 0, 'f'}, {"wait-approval", 1, 0, 'w'},
                                       {"cert-key", 1, 0, 'K'},    {"reason", 1, 0, 'R'},
                                       {"verbose", 0, 0, 'v'},     {"challenge", 1, 0, 'T'},
                                       {"no-responder", 0, 0, 'N'}, {0, 0, 0, 0}};
    const char *dir = NULL, *keyf = NULL, *domain = "bench.test", *replaces = NULL, *out = NULL,
               *fin_dir = NULL, *cert_key = NULL, *challenge = NULL;
    int no_responder = 0;
    int total = 100, conc = 8, accounts = 4, port = 5002, poll_ms = 20, wait_approval = 0,
        reason = -1, opt;
    const char *cmd = NULL;
    /* options before and after the command */
    for (int pass = 0; pass < 2; pass++) {
        while ((opt = getopt_long(argc, argv, "+n:c:a:", lo, NULL)) != -1) {
            switch (opt) {
            case 'd': dir = optarg; break;
            case 'C': g_ca = optarg; break;
            case 'k': keyf = optarg; break;
            case 'p': port = atoi(optarg); break;
            case 'D': domain = optarg; break;
            case 'P': poll_ms = atoi(optarg); break;
            case 'r': replaces = optarg; break;
            case 'o': out = optarg; break;
            case 'f': fin_dir = optarg; break;
            case 'w': wait_approval = atoi(optarg); break;
            case 'K': cert_key = optarg; break;
            case 'R': reason = atoi(optarg); break;
            case 'v': g_verbose = 1; break;
            case 'T': challenge = optarg; break;
            case 'N': no_responder = 1; break;
            case 'n': total = atoi(optarg); break;
            case 'c': conc = atoi(optarg); break;
            case 'a': accounts = atoi(optarg); break;
            default: fprintf(stderr, "usage: see the header of bench/acme_load.c\n"); return 2;
            }
        }
        if (pass == 0) {
            if (optind >= argc) break;
            cmd = argv[optind++];
        }
    }
    if (!dir || !cmd) {
        fprintf(stderr, "usage: acme_load --dir URL [--ca FILE] COMMAND ... (see bench/acme_load.c)\n");
        return 2;
    }
    SSL_CTX *ctx = client_ctx();
    if (!strcmp(cmd, "load"))
        return cmd_load(dir, ctx, total, conc, accounts, port, domain, poll_ms);
    struct client cl;
    client_init(&cl, ctx, dir);
    if (directory(&cl) < 0) die("cannot read the directory %s (%d)", dir, cl.r.status);
    if (!strcmp(cmd, "certid") || !strcmp(cmd, "ari")) {
        if (optind >= argc) die("%s CERT", cmd);
        X509 *x = load_cert(argv[optind]);
        char id[400];
        struct hilt_err e = {0};
        if (hilt_ari_certid_of(x, id, sizeof(id), &e) < 0) die("%s", e.msg);
        X509_free(x);
        if (!strcmp(cmd, "certid")) {
            printf("%s\n", id);
            return 0;
        }
        if (!cl.renewal_info[0]) die("the directory has no renewalInfo");
        char u[1700];
        snprintf(u, sizeof(u), "%s/%s", cl.renewal_info, id);
        get(&cl, u);
        json_t *w = json_object_get(cl.j, "suggestedWindow");
        json_t *o = json_pack("{s:i, s:s, s:s}", "status", cl.r.status, "start",
                              json_string_value(json_object_get(w, "start")) ?: "", "end",
                              json_string_value(json_object_get(w, "end")) ?: "");
        const char *ex = json_string_value(json_object_get(cl.j, "explanationURL"));
        if (ex) json_object_set_new(o, "explanationURL", json_string(ex));
        json_object_set_new(o, "retry_after", json_string(cl.r.retry_after));
        json_object_set_new(o, "cert_id", json_string(id));
        char *s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(o);
        client_free(&cl);
        return cl.r.status == 200 ? 0 : 1;
    }
    if (!keyf) die("%s needs --key FILE (the account key; made when absent)", cmd);
    set_key(&cl, load_or_make_key(keyf));
    if (strcmp(cmd, "revoke") || !cert_key) {
        if (account(&cl) < 0) die("newAccount: %d %.*s", cl.r.status, (int)cl.r.body.len, cl.r.body.data);
    }
    int rc = 0;
    if (!strcmp(cmd, "order")) {
        if (optind >= argc) die("order NAME...");
        if (!no_responder && (!challenge || !strcmp(challenge, "http-01"))) start_responder(port);
        struct order_opts oo = {.challenge = challenge, .replaces = replaces, .poll_ms = poll_ms,
                                .wait_approval = wait_approval, .finalize_base = fin_dir,
                                .trace = 1};
        EVP_PKEY *ck = gen_ec();
        oo.cert_key = ck;
        if (do_order(&cl, argv + optind, argc - optind, &oo) < 0) {
            rc = 1;
        } else if (out) {
            char p[1024];
            snprintf(p, sizeof(p), "%s.crt", out);
            FILE *f = fopen(p, "w");
            fputs(oo.pem_out, f);
            fclose(f);
            snprintf(p, sizeof(p), "%s.key", out);
            int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            f = fdopen(fd, "w");
            PEM_write_PrivateKey(f, ck, NULL, NULL, 0, NULL, NULL);
            fclose(f);
            printf("%s\n", cl.kid);
        }
        free(oo.pem_out);
        EVP_PKEY_free(ck);
    } else if (!strcmp(cmd, "revoke")) {
        if (optind >= argc) die("revoke CERT");
        X509 *x = load_cert(argv[optind]);
        unsigned char *der = NULL;
        int dl = i2d_X509(x, &der);
        char *c64 = hilt_b64url_encode(der, (size_t)dl);
        OPENSSL_free(der);
        X509_free(x);
        char body[8192];
        if (reason >= 0) snprintf(body, sizeof(body), "{\"certificate\":\"%s\",\"reason\":%d}", c64, reason);
        else snprintf(body, sizeof(body), "{\"certificate\":\"%s\"}", c64);
        free(c64);
        if (cert_key) {
            EVP_PKEY *k = load_or_make_key(cert_key);
            post_as(&cl, k, NULL, cl.revoke, body);
            EVP_PKEY_free(k);
        } else {
            post(&cl, cl.revoke, body);
        }
        print_answer(&cl);
        rc = cl.r.status == 200 ? 0 : 1;
    } else if (!strcmp(cmd, "key-change")) {
        if (optind >= argc) die("key-change NEWKEY");
        EVP_PKEY *nk = load_or_make_key(argv[optind]);
        json_t *old = hilt_pkey_to_jwk(cl.key);
        char *oldjs = json_dumps(old, JSON_COMPACT);
        json_decref(old);
        char inner_payload[4096];
        snprintf(inner_payload, sizeof(inner_payload), "{\"account\":\"%s\",\"oldKey\":%s}", cl.kid, oldjs);
        free(oldjs);
        char *inner = hilt_jws_sign(nk, NULL, NULL, cl.key_change, inner_payload, NULL);
        post(&cl, cl.key_change, inner);
        free(inner);
        print_answer(&cl);
        rc = cl.r.status == 200 ? 0 : 1;
        EVP_PKEY_free(nk);
    } else if (!strcmp(cmd, "probe")) {
        if (optind >= argc) die("probe CASE");
        rc = cmd_probe(&cl, argv[optind]);
    } else if (!strcmp(cmd, "nonce-cross")) {
        if (optind >= argc) die("nonce-cross URL2");
        struct client c2;
        client_init(&c2, ctx, argv[optind]);
        if (directory(&c2) < 0) die("directory %s", argv[optind]);
        fetch_nonce(&cl);
        char n1[128];
        snprintf(n1, sizeof(n1), "%s", cl.nonce);
        /* POST-as-GET of the account on node 2 with node 1's nonce */
        char acct2[1300];
        rebase(cl.kid, c2.dir.base, acct2, sizeof(acct2));
        char *jws = hilt_jws_sign(cl.key, cl.kid, n1, acct2, NULL, NULL);
        send_raw(&c2, path_of(&c2, acct2), "application/jose+json", jws);
        free(jws);
        int first = c2.r.status;
        jws = hilt_jws_sign(cl.key, cl.kid, n1, cl.kid, NULL, NULL);
        send_raw(&cl, path_of(&cl, cl.kid), "application/jose+json", jws);
        free(jws);
        const char *type = json_string_value(json_object_get(cl.j, "type"));
        printf("{\"node2_first_use\":%d,\"node1_second_use\":%d,\"second_type\":\"%s\"}\n", first,
               cl.r.status, type ? type : "");
        client_free(&c2);
    } else if (!strcmp(cmd, "account")) {
        printf("%s\n", cl.kid);
    } else {
        die("unknown command '%s'", cmd);
    }
    client_free(&cl);
    EVP_PKEY_free(cl.key);
    SSL_CTX_free(ctx);
    return rc;
}
