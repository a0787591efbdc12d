/* conn.c - one proxied connection, from accept to close.
 *
 * States: ST_HS (client handshake) → ST_CONNECT (backend TCP) → ST_PRE (PROXY
 * v2 header) → ST_BHS (backend TLS handshake) → ST_PROXY (copy both ways) →
 * ST_DEAD. conn_run() advances as far as the sockets allow and then sets the
 * epoll interest from what each side is waiting for; every handler ends there.
 * Copy buffers come from the worker's pool only while bytes are in flight.
 * Telemetry for the handshake (event, metrics, observed offer) is recorded
 * once, when it completes or fails; the cause of a failure comes from
 * telemetry/classify.c.
 */
#include "gateway/gw_int.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/net.h"
#include "gateway/peek.h"
#include "gateway/proxyv2.h"
#include "policy/suites.h"
#include "telemetry/classify.h"
#include "telemetry/event.h"
#include "telemetry/metrics.h"
#include "telemetry/observed.h"
#include "tls/client.h"
#include "tls/hello.h"
#include "x509/summary.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t gw_now_ms(void)
{
    return (int64_t)(hilt_mono_us() / 1000);
}

/* ---- buffers ---------------------------------------------------------------- */

static int buf_get(struct gw_worker *w, struct gw_buf *b)
{
    if (b->p) return 0;
    b->p = w->npool ? w->pool[--w->npool] : malloc(GW_BUFSZ);
    b->off = b->len = 0;
    return b->p ? 0 : -1;
}

static void buf_put(struct gw_worker *w, struct gw_buf *b)
{
    if (!b->p) return;
    if (w->npool < GW_POOL_MAX)
        w->pool[w->npool++] = b->p;
    else
        free(b->p);
    b->p = NULL;
    b->off = b->len = 0;
}

/* ---- list ----------------------------------------------------------------- */

static void list_del(struct gw_conn *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
    c->prev = c->next = c;
}

static void list_add(struct gw_conn *head, struct gw_conn *c)
{
    c->next = head->next;
    c->prev = head;
    head->next->prev = c;
    head->next = c;
}

/* ---- closing ---------------------------------------------------------------- */

static void conn_close(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    if (c->st == ST_DEAD) return;
    c->st = ST_DEAD;
    gw_io_forget(w->loop, &c->cio);
    if (c->bfd >= 0) gw_io_forget(w->loop, &c->bio);
    SSL_free(c->ssl);
    c->ssl = NULL;
    SSL_free(c->bssl);
    c->bssl = NULL;
    if (c->cfd >= 0) close(c->cfd);
    if (c->bfd >= 0) close(c->bfd);
    c->cfd = c->bfd = -1;
    if (c->srv) atomic_fetch_sub(&c->srv->active, 1);
    if (c->bytes_in || c->bytes_out) {
        tm_add(w->shard, TM_BYTES, c->l->name, "in", NULL, NULL, (int64_t)c->bytes_in);
        tm_add(w->shard, TM_BYTES, c->l->name, "out", NULL, NULL, (int64_t)c->bytes_out);
    }
    tm_add(w->shard, TM_ACTIVE, c->l->name, NULL, NULL, NULL, -1);
    buf_put(w, &c->up);
    buf_put(w, &c->down);
    free(c->hello);
    c->hello = NULL;
    if (c->pre) {
        hilt_buf_free(c->pre);
        free(c->pre);
        c->pre = NULL;
    }
    list_del(c);
    w->nconns--;
    c->next = w->dead; /* freed after this batch: events may still point here */
    w->dead = c;
}

void gw_conn_free_dead(struct gw_worker *w)
{
    while (w->dead) {
        struct gw_conn *c = w->dead;
        w->dead = c->next;
        gw_gen_unref(c->gen);
        free(c);
    }
}

void gw_conn_close_all(struct gw_worker *w)
{
    while (w->conns.next != &w->conns)
        conn_close(w->conns.next);
    gw_conn_free_dead(w);
    while (w->npool)
        free(w->pool[--w->npool]);
    free(w->ja4c);
    w->ja4c = NULL;
}

/* ---- OpenSSL callbacks --------------------------------------------------- */

static size_t ja4_key(const struct hilt_client_hello *h, uint8_t *k)
{
    size_t n = 0;
#define PUT(p, len)                                                                                \
    do {                                                                                           \
        memcpy(k + n, (p), (len));                                                                 \
        n += (len);                                                                                \
    } while (0)
    uint16_t hdr[6] = {h->legacy_version,     h->max_version,     (uint16_t)h->has_sni,
                       (uint16_t)h->nciphers, (uint16_t)h->nexts, (uint16_t)h->nsigalgs};
    PUT(hdr, sizeof(hdr));
    PUT(h->ciphers, h->nciphers * 2);
    PUT(h->exts, h->nexts * 2);
    PUT(h->sigalgs, h->nsigalgs * 2);
    uint16_t al = (uint16_t)h->alpn_first_len;
    PUT(&al, 2);
    PUT(h->alpn_first, h->alpn_first_len);
#undef PUT
    return n;
}

static void ja4_cached(struct gw_worker *w, const struct hilt_client_hello *h, char out[40])
{
    if (!w) {
        hilt_ja4(h, out);
        return;
    }
    if (!w->ja4c) w->ja4c = calloc(GW_JA4_CACHE, sizeof(*w->ja4c));
    if (!w->ja4c) {
        hilt_ja4(h, out);
        return;
    }
    uint8_t key[GW_JA4_KEY_MAX];
    size_t n = ja4_key(h, key);
    uint64_t x = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        x = (x ^ key[i]) * 0x100000001b3ull;
    for (int i = 0; i < GW_JA4_CACHE; i++) {
        struct gw_ja4_entry *e = &w->ja4c[i];
        if (e->h == x && e->len == n && !memcmp(e->key, key, n)) {
            memcpy(out, e->ja4, 40);
            return;
        }
    }
    hilt_ja4(h, out);
    struct gw_ja4_entry *e = &w->ja4c[w->ja4_next++ % GW_JA4_CACHE];
    e->h = x;
    e->len = (uint16_t)n;
    memcpy(e->key, key, n);
    memcpy(e->ja4, out, 40);
}

void gw_msg_cb(int write_p, int version, int ct, const void *buf, size_t len, SSL *ssl, void *arg)
{
    (void)version;
    (void)arg;
    struct gw_conn *c = SSL_get_app_data(ssl);
    const uint8_t *p = buf;
    if (!c || c->st != ST_HS) return;
    if (ct == SSL3_RT_HEADER) {
        if (!write_p && !c->nfirst && len) {
            c->nfirst = (uint8_t)(len < sizeof(c->first) ? len : sizeof(c->first));
            memcpy(c->first, p, c->nfirst);
        }
    } else if (ct == SSL3_RT_ALERT) {
        if (len >= 2 && p[1] != SSL_AD_CLOSE_NOTIFY) {
            if (write_p && c->alert_sent < 0) c->alert_sent = p[1];
            if (!write_p && c->alert_recv < 0) c->alert_recv = p[1];
        }
    } else if (ct == SSL3_RT_HANDSHAKE && !write_p && len >= 4 && p[0] == SSL3_MT_CLIENT_HELLO &&
               !c->hello && !c->ja4[0]) {
        c->hello = malloc(sizeof(*c->hello));
        if (c->hello && hilt_client_hello_parse(p, len, 0, c->hello) < 0) {
            free(c->hello);
            c->hello = NULL;
        }
        if (c->hello)
            ja4_cached(c->w, c->hello, c->ja4);
        else
            snprintf(c->ja4, sizeof(c->ja4), "-");
    }
}

int gw_client_hello_cb(SSL *s, int *al, void *arg)
{
    (void)arg;
    struct gw_conn *c = SSL_get_app_data(s);
    if (!c) return SSL_CLIENT_HELLO_SUCCESS;
    const char *sni = c->hello && c->hello->has_sni ? c->hello->sni : NULL;
    struct gw_certset *set = gw_variant_lookup(c->var, sni, c->l->cfg->strict_sni);
    if (!set || !gw_route_find(c->l, sni, NULL, 1)) {
        c->hsflags |= HS_F_SNI_REFUSED;
        *al = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (set->ctx != SSL_get_SSL_CTX(s)) SSL_set_SSL_CTX(s, set->ctx);
    return SSL_CLIENT_HELLO_SUCCESS;
}

int gw_alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
               unsigned int inlen, void *arg)
{
    struct gw_listener *L = arg;
    struct gw_conn *c = SSL_get_app_data(s);
    if (SSL_select_next_proto((unsigned char **)out, outlen, L->alpn_wire,
                              (unsigned)L->alpn_wire_len, in, inlen) == OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_OK;
    if (c) c->hsflags |= HS_F_ALPN_REFUSED;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

int gw_verify_cb(int ok, X509_STORE_CTX *xs)
{
    SSL *s = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct gw_conn *c = s ? SSL_get_app_data(s) : NULL;
    if (!c) return ok;
    c->hsflags |= HS_F_CERT_SENT;
    if (!ok) {
        c->hsflags |= HS_F_CERT_REJECTED;
        return 0;
    }
    if (X509_STORE_CTX_get_error_depth(xs) == 0 &&
        !gw_verify_subject_ok(c->l->cfg, X509_STORE_CTX_get_current_cert(xs))) {
        X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
        c->hsflags |= HS_F_CERT_REJECTED;
        return 0;
    }
    return 1;
}

/* ---- telemetry ------------------------------------------------------------ */

static const char *group_iana(int nid)
{
    switch (nid) {
    case NID_X25519:
        return "x25519";
    case NID_X448:
        return "x448";
    case NID_X9_62_prime256v1:
        return "secp256r1";
    case NID_secp384r1:
        return "secp384r1";
    case NID_secp521r1:
        return "secp521r1";
    case 0:
        return NULL;
    default:
        break;
    }
    const char *sn = OBJ_nid2sn(nid & ~TLSEXT_nid_unknown);
    const struct hilt_group *g = sn ? hilt_group_by_name(sn) : NULL;
    return g ? g->iana : sn;
}

static void addr_fmt(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char a[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const void *)ss;
        inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
        snprintf(out, cap, "%s:%u", a, ntohs(s->sin_port));
    } else {
        const struct sockaddr_in6 *s = (const void *)ss;
        inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
        snprintf(out, cap, "[%s]:%u", a, ntohs(s->sin6_port));
    }
}

static void record(struct gw_conn *c, int ok, enum hilt_code code, unsigned long reason,
                   const struct gw_route *route)
{
    struct gw_worker *w = c->w;
    uint64_t dur = hilt_mono_us() - c->t0_us;
    const char *version = NULL, *cipher = NULL, *group = NULL, *alpn_s = NULL, *sni = NULL;
    char alpn[256] = "", subject[512] = "", client[64];
    int resumed = 0;
    if (ok) {
        version = SSL_get_version(c->ssl);
        const SSL_CIPHER *ci = SSL_get_current_cipher(c->ssl);
        cipher = ci ? SSL_CIPHER_standard_name(ci) : NULL;
        group = group_iana(SSL_get_negotiated_group(c->ssl));
        const unsigned char *a;
        unsigned al;
        SSL_get0_alpn_selected(c->ssl, &a, &al);
        if (al) {
            snprintf(alpn, sizeof(alpn), "%.*s", (int)al, (const char *)a);
            alpn_s = alpn;
        }
        X509 *peer = SSL_get0_peer_certificate(c->ssl);
        if (peer) hilt_name_fmt(X509_get_subject_name(peer), subject, sizeof(subject));
        resumed = SSL_session_reused(c->ssl);
        sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
    } else if (c->hello && c->hello->has_sni) {
        sni = c->hello->sni;
    }
    const char *codename = ok ? NULL : hilt_code_name(code);
    const char *vlabel = version ? version : "unknown";
    tm_add(w->shard, TM_HANDSHAKES, c->l->name, ok ? "ok" : "failed", ok ? "none" : codename,
           vlabel, 1);
    tm_observe(w->shard, TM_HS_DURATION, c->l->name, ok ? "ok" : "failed", (double)dur / 1e6);
    tm_add(w->shard, TM_VARIANT_HS, c->l->name, c->var->label, ok ? "ok" : "failed", NULL, 1);
    if (resumed) tm_add(w->shard, TM_RESUMED, c->l->name, NULL, NULL, NULL, 1);
    if (c->hello) obs_record(w->gw->obs, c->hello, c->ja4, codename, hilt_now());
    if (!w->gen || w->gen->events_fd < 0) return;
    struct hs_event ev = {0};
    clock_gettime(CLOCK_REALTIME, &ev.when);
    addr_fmt(&c->peer, client, sizeof(client));
    ev.listener = c->l->name;
    ev.variant = c->var->id;
    ev.client = client;
    ev.sni = sni;
    ev.alpn = alpn_s;
    ev.version = version;
    ev.cipher = cipher;
    ev.group = group;
    ev.client_subject = subject[0] ? subject : NULL;
    ev.duration_us = dur;
    ev.ok = ok;
    ev.code = codename;
    ev.alert_sent = c->alert_sent >= 0 ? hilt_tls_alert_name(c->alert_sent) : NULL;
    ev.alert_received = c->alert_recv >= 0 ? hilt_tls_alert_name(c->alert_recv) : NULL;
    ev.error = reason ? ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, reason)) : NULL;
    if (!ok && !reason && (c->hsflags & HS_F_TIMEOUT)) ev.error = "handshake deadline passed";
    ev.resumed = resumed;
    ev.ja4 = c->ja4[0] && strcmp(c->ja4, "-") ? c->ja4 : NULL;
    ev.backend = route ? route->be->name : NULL;
    hs_event_append(&w->evbuf, &ev);
    if (w->evbuf.len > 60 * 1024) gw_worker_flush_events(w);
}

/* What we served, for alerts that do not say what the client disliked. */
static unsigned served_flags(struct gw_conn *c)
{
    if (!c->ssl ||
        (c->alert_recv != SSL_AD_BAD_CERTIFICATE && c->alert_recv != SSL_AD_CERTIFICATE_UNKNOWN))
        return 0;
    SSL_CTX *ctx = SSL_get_SSL_CTX(c->ssl);
    unsigned f = 0;
    time_t now = hilt_now();
    for (size_t s = 0; s < c->var->nsets; s++) {
        struct gw_certset *set = &c->var->sets[s];
        if (set->ctx != ctx) continue;
        for (int i = 0; i < set->ninfo; i++)
            if (set->info[i].not_after < now) f |= HS_F_OUR_CERT_EXPIRED;
        const char *sni = c->hello && c->hello->has_sni ? c->hello->sni : NULL;
        int match = !sni;
        for (size_t n = 0; sni && n < set->nnames && !match; n++)
            match = gw_name_match(set->names[n], sni);
        if (!match) f |= HS_F_SNI_NOT_IN_CERT;
    }
    return f;
}

static void hs_failed(struct gw_conn *c, unsigned flags, unsigned long err)
{
    flags |= served_flags(c);
    unsigned long reason = err ? ERR_GET_REASON(err) : 0;
    struct hs_facts f = {
        .flags = c->hsflags | flags,
        .reason = reason,
        .lib = err ? ERR_GET_LIB(err) : 0,
        .alert_sent = c->alert_sent,
        .alert_received = c->alert_recv,
        .first = c->nfirst ? c->first : NULL,
        .nfirst = c->nfirst,
        .hello = c->hello,
        .profile = c->l->cfg->profile,
    };
    c->hsflags |= flags;
    if (c->ssl && SSL_get_verify_mode(c->ssl) != SSL_VERIFY_NONE) f.flags |= HS_F_CERT_REQUESTED;
    enum hilt_code code = hs_classify(&f);
    record(c, 0, code, ERR_GET_LIB(err) == ERR_LIB_SSL ? reason : 0, NULL);
    ERR_clear_error();
    conn_close(c);
}

/* ---- backend selection and connect ------------------------------------------ */

static struct gw_server *pick_server(struct gw_conn *c)
{
    struct gw_backend *b = c->be;
    size_t n = b->nservers;
    if (b->cfg->balance == GW_BALANCE_LEASTCONN) {
        struct gw_server *best = NULL;
        int bestn = 0;
        for (int pass = 0; pass < 2 && !best; pass++)
            for (size_t i = 0; i < n; i++) {
                struct gw_server *s = &b->servers[(i + (size_t)c->tries) % n];
                if (!pass && !atomic_load(&s->up)) continue;
                int a = atomic_load(&s->active);
                if (!best || a < bestn) best = s, bestn = a;
            }
        return best;
    }
    unsigned start = atomic_fetch_add(&b->rr, 1);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            struct gw_server *s = &b->servers[(start + i) % n];
            if (pass || atomic_load(&s->up)) return s;
        }
    return &b->servers[start % n];
}

static void backend_io_cb(void *arg, unsigned ev);
static void conn_run(struct gw_conn *c);

static int start_connect(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    while (c->tries < (int)c->be->nservers) {
        c->tries++;
        struct gw_server *s = pick_server(c);
        int fd = socket(s->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return -1;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        int rc = connect(fd, (const struct sockaddr *)&s->sa, s->salen);
        if (rc < 0 && errno != EINPROGRESS) {
            close(fd);
            tm_add(w->shard, TM_BE_CONNECT_FAIL, c->be->name, s->label, NULL, NULL, 1);
            continue;
        }
        c->srv = s;
        atomic_fetch_add(&s->active, 1);
        c->bfd = fd;
        c->st = ST_CONNECT;
        c->deadline_ms = w->now_ms + c->l->cfg->connect_timeout_ms;
        c->b_rr = c->b_wr = 0;
        if (gw_io_add(w->loop, &c->bio, fd, GW_EV_READ | GW_EV_WRITE | GW_EV_ET, backend_io_cb, c) <
            0)
            return -1;
        return 0;
    }
    return -1;
}

static void connect_failed(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    tm_add(w->shard, TM_BE_CONNECT_FAIL, c->be->name, c->srv->label, NULL, NULL, 1);
    gw_io_forget(w->loop, &c->bio);
    close(c->bfd);
    c->bfd = -1;
    atomic_fetch_sub(&c->srv->active, 1);
    c->srv = NULL;
    if (start_connect(c) < 0) conn_close(c);
}

static int build_proxy_header(struct gw_conn *c)
{
    struct pp2_info in = {0};
    socklen_t sl = sizeof(in.dst);
    in.src = c->peer;
    getsockname(c->cfd, (struct sockaddr *)&in.dst, &sl);
    const unsigned char *a;
    unsigned al;
    char alpn[256] = "", cn[256] = "", subject[512] = "", keyalg[32] = "", sigalg[64] = "";
    SSL_get0_alpn_selected(c->ssl, &a, &al);
    if (al) {
        snprintf(alpn, sizeof(alpn), "%.*s", (int)al, (const char *)a);
        in.alpn = alpn;
    }
    in.sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
    in.ssl = 1;
    in.version = SSL_get_version(c->ssl);
    const SSL_CIPHER *ci = SSL_get_current_cipher(c->ssl);
    in.cipher = ci ? SSL_CIPHER_get_name(ci) : NULL;
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    in.verify = (uint32_t)SSL_get_verify_result(c->ssl);
    if (peer) {
        in.client_cert = 1;
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
        hilt_name_fmt(X509_get_subject_name(peer), subject, sizeof(subject));
        in.cn = cn[0] ? cn : NULL;
        in.subject = subject;
        EVP_PKEY *pk = X509_get0_pubkey(peer);
        if (pk) {
            snprintf(keyalg, sizeof(keyalg), "%s%d",
                     EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA  ? "RSA"
                     : EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC ? "EC"
                                                               : "KEY",
                     EVP_PKEY_get_bits(pk));
            in.key_alg = keyalg;
        }
        int nid = X509_get_signature_nid(peer);
        if (nid != NID_undef) {
            snprintf(sigalg, sizeof(sigalg), "%s", OBJ_nid2sn(nid));
            in.sig_alg = sigalg;
        }
    } else {
        in.verify = 0;
    }
    in.ja4 = c->ja4[0] && strcmp(c->ja4, "-") ? c->ja4 : NULL;
    c->pre = malloc(sizeof(*c->pre));
    if (!c->pre) return -1;
    hilt_buf_init(c->pre, PP2_MAX_HEADER);
    return pp2_encode(&in, c->pre);
}

static void hs_done(struct gw_conn *c)
{
    /* idle connections hold no record buffers: from now on they are released when empty,
     * and the handshake's are dropped now (a no-op when data is already buffered) */
    SSL_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
    SSL_free_buffers(c->ssl);
    const char *sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
    const unsigned char *a;
    unsigned al;
    char alpn[256] = "";
    SSL_get0_alpn_selected(c->ssl, &a, &al);
    if (al) snprintf(alpn, sizeof(alpn), "%.*s", (int)al, (const char *)a);
    struct gw_route *r = gw_route_find(c->l, sni, al ? alpn : NULL, 0);
    record(c, 1, HILT_C_HANDSHAKE_FAILED, 0, r);
    free(c->hello);
    c->hello = NULL;
    if (!r) {
        conn_close(c);
        return;
    }
    c->be = r->be;
    if (c->l->cfg->proxy_protocol == 2 && build_proxy_header(c) < 0) {
        conn_close(c);
        return;
    }
    if (c->l->cfg->connect_on_data) {
        /* hold only the client until it speaks: an idle client costs no backend socket */
        c->st = ST_WAITDATA;
        c->cr_want = GW_EV_READ;
        c->deadline_ms = c->w->now_ms + c->l->cfg->idle_timeout_ms;
        return;
    }
    if (start_connect(c) < 0) conn_close(c);
}

static int client_read(struct gw_conn *c, uint8_t *p, int n);
static int c_ready(const struct gw_conn *c, int want);

static int step_waitdata(struct gw_conn *c)
{
    if (!SSL_has_pending(c->ssl) && !c_ready(c, c->cr_want)) return 0;
    if (buf_get(c->w, &c->up) < 0) {
        conn_close(c);
        return -1;
    }
    int n = client_read(c, c->up.p, GW_BUFSZ);
    if (n == 0) return 0;
    if (n < 0) {
        conn_close(c);
        return -1;
    }
    c->up.off = 0;
    c->up.len = (uint32_t)n;
    c->bytes_in += (uint64_t)n;
    if (start_connect(c) < 0) {
        conn_close(c);
        return -1;
    }
    return 1;
}

/* ---- SNI passthrough ---------------------------------------------------------- */

/* Terminate after all (no passthrough route for this SNI, or not a hello the
 * peek understood): OpenSSL reads the bytes we only peeked at. */
static int begin_tls(struct gw_conn *c)
{
    struct gw_variant *v = c->var;
    if (!v->nsets) {
        /* a listener that only passes through has no certificate to answer with:
         * refuse as a TLS server would (a fatal unrecognized_name alert) */
        static const uint8_t alert[] = {21, 3, 3, 0, 2, 2, SSL_AD_UNRECOGNIZED_NAME};
        unsigned f = HS_F_SNI_REFUSED;
        if (!c->hello)
            f = c->nfirst ? 0 : HS_F_EOF;
        else if (send(c->cfd, alert, sizeof(alert), MSG_NOSIGNAL) == (ssize_t)sizeof(alert))
            c->alert_sent = SSL_AD_UNRECOGNIZED_NAME;
        hs_failed(c, f, 0);
        return -1;
    }
    SSL *ssl = SSL_new(v->sets[v->default_set].ctx);
    if (!ssl || SSL_set_fd(ssl, c->cfd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        conn_close(c);
        return -1;
    }
    c->ssl = ssl;
    SSL_set_app_data(ssl, c);
    SSL_set_accept_state(ssl);
    c->st = ST_HS;
    c->cr_want = GW_EV_READ;
    c->c_rr = 1; /* the hello is waiting in the socket */
    return 1;
}

static void record_passthrough(struct gw_conn *c, struct gw_route *r)
{
    struct gw_worker *w = c->w;
    tm_add(w->shard, TM_PASSTHROUGH, c->l->name, r->be->name, NULL, NULL, 1);
    if (c->hello) obs_record(w->gw->obs, c->hello, c->ja4, NULL, hilt_now());
    if (!w->gen || w->gen->events_fd < 0) return;
    char client[64];
    struct hs_event ev = {0};
    clock_gettime(CLOCK_REALTIME, &ev.when);
    addr_fmt(&c->peer, client, sizeof(client));
    ev.listener = c->l->name;
    ev.variant = c->var->id;
    ev.client = client;
    ev.sni = c->hello && c->hello->has_sni ? c->hello->sni : NULL;
    ev.duration_us = hilt_mono_us() - c->t0_us;
    ev.ok = 1;
    ev.passthrough = 1;
    ev.ja4 = c->ja4[0] && strcmp(c->ja4, "-") ? c->ja4 : NULL;
    ev.backend = r->be->name;
    hs_event_append(&w->evbuf, &ev);
    if (w->evbuf.len > 60 * 1024) gw_worker_flush_events(w);
}

static int start_passthrough(struct gw_conn *c, struct gw_route *r)
{
    c->passthrough = 1;
    c->be = r->be;
    record_passthrough(c, r);
    free(c->hello);
    c->hello = NULL;
    if (c->l->cfg->proxy_protocol == 2) {
        /* the client's address, the SNI it asked for and its JA4; no TLS TLVs: the
         * gateway terminated nothing */
        struct pp2_info in = {0};
        socklen_t sl = sizeof(in.dst);
        in.src = c->peer;
        getsockname(c->cfd, (struct sockaddr *)&in.dst, &sl);
        in.ja4 = c->ja4[0] && strcmp(c->ja4, "-") ? c->ja4 : NULL;
        c->pre = malloc(sizeof(*c->pre));
        if (!c->pre) {
            conn_close(c);
            return -1;
        }
        hilt_buf_init(c->pre, PP2_MAX_HEADER);
        if (pp2_encode(&in, c->pre) < 0) {
            conn_close(c);
            return -1;
        }
    }
    if (start_connect(c) < 0) {
        conn_close(c);
        return -1;
    }
    return 1;
}

/* 1 advanced, 0 waiting, -1 closed */
static int step_peek(struct gw_conn *c)
{
    if (!c->c_rr) return 0;
    uint8_t buf[GW_PEEK_MAX];
    ssize_t n = recv(c->cfd, buf, sizeof(buf), MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (errno == EAGAIN) c->c_rr = 0;
        return 0;
    }
    if (n <= 0) {
        hs_failed(c, n == 0 ? HS_F_EOF : HS_F_RESET, 0);
        return -1;
    }
    c->nfirst = (uint8_t)((size_t)n < sizeof(c->first) ? (size_t)n : sizeof(c->first));
    memcpy(c->first, buf, c->nfirst);
    size_t used = 0;
    int pr = gw_peek_hello(buf, (size_t)n, &used);
    if (pr == GW_PEEK_MORE && (size_t)n < sizeof(buf)) {
        c->c_rr = 0; /* the next segment's arrival is a new edge */
        return 0;
    }
    c->nfirst = 0; /* OpenSSL records the first bytes itself when it terminates */
    if (pr == GW_PEEK_HELLO) {
        c->hello = malloc(sizeof(*c->hello));
        if (c->hello && hilt_client_hello_parse(buf, used, 1, c->hello) < 0) {
            free(c->hello);
            c->hello = NULL;
        }
        if (c->hello) {
            ja4_cached(c->w, c->hello, c->ja4);
            struct gw_route *r = gw_route_peek(c->l, c->hello->has_sni ? c->hello->sni : NULL);
            if (r && r->passthrough) return start_passthrough(c, r);
        } else {
            snprintf(c->ja4, sizeof(c->ja4), "-");
        }
    } else if (!c->var->nsets) {
        c->nfirst = (uint8_t)((size_t)n < sizeof(c->first) ? (size_t)n : sizeof(c->first));
    }
    return begin_tls(c);
}

/* ---- the handshake -------------------------------------------------------- */

static int want_of(int err)
{
    return err == SSL_ERROR_WANT_WRITE ? GW_EV_WRITE : GW_EV_READ;
}

/* Edge-triggered readiness: an operation is tried only when its fd was reported
 * ready since it last returned EAGAIN / WANT_*, so no syscall is spent on a
 * socket known to be empty or full. */
static int c_ready(const struct gw_conn *c, int want)
{
    return want == GW_EV_WRITE ? c->c_wr : c->c_rr;
}

static int b_ready(const struct gw_conn *c, int want)
{
    return want == GW_EV_WRITE ? c->b_wr : c->b_rr;
}

static uint8_t c_block(struct gw_conn *c, int err)
{
    int w = want_of(err);
    if (w == GW_EV_WRITE)
        c->c_wr = 0;
    else
        c->c_rr = 0;
    return (uint8_t)w;
}

static uint8_t b_block(struct gw_conn *c, int err)
{
    int w = want_of(err);
    if (w == GW_EV_WRITE)
        c->b_wr = 0;
    else
        c->b_rr = 0;
    return (uint8_t)w;
}

/* 1 advanced, 0 waiting, -1 closed */
static int step_hs(struct gw_conn *c)
{
    if (!c_ready(c, c->cr_want)) return 0;
    ERR_clear_error();
    int rc = SSL_do_handshake(c->ssl);
    if (rc == 1) {
        hs_done(c);
        return c->st == ST_DEAD ? -1 : 1;
    }
    int err = SSL_get_error(c->ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        c->cr_want = c_block(c, err);
        return 0;
    }
    unsigned flags = 0;
    unsigned long e = ERR_peek_error();
    if (err == SSL_ERROR_SYSCALL || (err == SSL_ERROR_SSL && !e)) {
        flags |= errno == ECONNRESET || errno == EPIPE ? HS_F_RESET : HS_F_EOF;
    } else if (err == SSL_ERROR_ZERO_RETURN) {
        flags |= HS_F_EOF;
    }
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        flags |= HS_F_EOF;
    hs_failed(c, flags, e);
    return -1;
}

static int step_connect(struct gw_conn *c)
{
    if (!c->b_wr) return 0;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
        connect_failed(c);
        return c->st == ST_DEAD ? -1 : 0;
    }
    c->st = ST_PRE;
    return 1;
}

static int step_pre(struct gw_conn *c)
{
    while (c->pre && c->pre->len) {
        if (!c->b_wr) return 0;
        ssize_t n = send(c->bfd, c->pre->data, c->pre->len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) c->b_wr = 0;
            if (errno == EAGAIN || errno == EINTR) return 0;
            conn_close(c);
            return -1;
        }
        memmove(c->pre->data, c->pre->data + n, c->pre->len - (size_t)n);
        c->pre->len -= (size_t)n;
    }
    if (c->pre) {
        hilt_buf_free(c->pre);
        free(c->pre);
        c->pre = NULL;
    }
    if (c->be->tls) {
        c->bssl = SSL_new(c->be->tls);
        if (!c->bssl || SSL_set_fd(c->bssl, c->bfd) != 1) {
            conn_close(c);
            return -1;
        }
        const char *sni = c->be->cfg->tls.sni;
        if (sni) {
            SSL_set_tlsext_host_name(c->bssl, sni);
            if (c->be->cfg->tls.verify) SSL_set1_host(c->bssl, sni);
        }
        SSL_set_connect_state(c->bssl);
        c->bhs_want = GW_EV_WRITE;
        c->st = ST_BHS;
        c->deadline_ms = c->w->now_ms + c->l->cfg->hs_timeout_ms;
        return 1;
    }
    c->st = ST_PROXY;
    c->deadline_ms = c->w->now_ms + c->l->cfg->idle_timeout_ms;
    c->cr_want = c->br_want = GW_EV_READ;
    c->cw_want = c->bw_want = GW_EV_WRITE;
    return 1;
}

static int step_bhs(struct gw_conn *c)
{
    if (!b_ready(c, c->bhs_want)) return 0;
    ERR_clear_error();
    int rc = SSL_do_handshake(c->bssl);
    if (rc == 1) {
        c->st = ST_PROXY;
        c->deadline_ms = c->w->now_ms + c->l->cfg->idle_timeout_ms;
        c->cr_want = c->br_want = GW_EV_READ;
        c->cw_want = c->bw_want = GW_EV_WRITE;
        return 1;
    }
    int err = SSL_get_error(c->bssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        c->bhs_want = b_block(c, err);
        return 0;
    }
    unsigned long e = ERR_peek_error();
    char msg[256];
    ERR_error_string_n(e, msg, sizeof(msg));
    hilt_debug("gateway: backend %s %s: TLS handshake failed: %s", c->be->name, c->srv->label, msg);
    tm_add(c->w->shard, TM_BE_HS_FAIL, c->be->name, c->srv->label, NULL, NULL, 1);
    ERR_clear_error();
    conn_close(c);
    return -1;
}

/* ---- copying ----------------------------------------------------------------- */

/* Read from the client (TLS). >0 bytes, 0 would block, -1 EOF/error (flags set). */
static int client_read(struct gw_conn *c, uint8_t *p, int n)
{
    if (!c->ssl) { /* passthrough: the client's TLS bytes as they come */
        ssize_t r = recv(c->cfd, p, (size_t)n, 0);
        if (r > 0) return (int)r;
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (errno == EAGAIN) c->c_rr = 0;
            return 0;
        }
        c->c_eof = 1;
        if (r < 0) c->c_err = 1;
        return -1;
    }
    ERR_clear_error();
    int r = SSL_read(c->ssl, p, n);
    if (r > 0) return r;
    int err = SSL_get_error(c->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        c->cr_want = c_block(c, err);
        return 0;
    }
    c->c_eof = 1;
    if (err != SSL_ERROR_ZERO_RETURN) c->c_err = 1;
    ERR_clear_error();
    return -1;
}

static int client_write(struct gw_conn *c, const uint8_t *p, int n)
{
    if (!c->ssl) {
        ssize_t r = send(c->cfd, p, (size_t)n, MSG_NOSIGNAL);
        if (r > 0) return (int)r;
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (errno == EAGAIN) c->c_wr = 0;
            return 0;
        }
        c->c_err = 1;
        return -1;
    }
    ERR_clear_error();
    int r = SSL_write(c->ssl, p, n);
    if (r > 0) return r;
    int err = SSL_get_error(c->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        c->cw_want = c_block(c, err);
        return 0;
    }
    c->c_err = 1;
    ERR_clear_error();
    return -1;
}

static int backend_read(struct gw_conn *c, uint8_t *p, int n)
{
    if (c->bssl) {
        ERR_clear_error();
        int r = SSL_read(c->bssl, p, n);
        if (r > 0) return r;
        int err = SSL_get_error(c->bssl, r);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            c->br_want = b_block(c, err);
            return 0;
        }
        c->b_eof = 1;
        if (err != SSL_ERROR_ZERO_RETURN) c->b_err = 1;
        ERR_clear_error();
        return -1;
    }
    ssize_t r = recv(c->bfd, p, (size_t)n, 0);
    if (r > 0) return (int)r;
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (errno == EAGAIN) c->b_rr = 0;
        return 0;
    }
    c->b_eof = 1;
    if (r < 0) c->b_err = 1;
    return -1;
}

static int backend_write(struct gw_conn *c, const uint8_t *p, int n)
{
    if (c->bssl) {
        ERR_clear_error();
        int r = SSL_write(c->bssl, p, n);
        if (r > 0) return r;
        int err = SSL_get_error(c->bssl, r);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            c->bw_want = b_block(c, err);
            return 0;
        }
        c->b_err = 1;
        ERR_clear_error();
        return -1;
    }
    ssize_t r = send(c->bfd, p, (size_t)n, MSG_NOSIGNAL);
    if (r > 0) return (int)r;
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (errno == EAGAIN) c->b_wr = 0;
        return 0;
    }
    c->b_err = 1;
    return -1;
}

static void pump(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    int progress = 1, moved = 0;
    while (progress && !c->c_err && !c->b_err) {
        progress = 0;
        if (!c->c_eof && !c->up.len &&
            ((c->ssl && SSL_has_pending(c->ssl)) || c_ready(c, c->cr_want))) {
            if (buf_get(w, &c->up) < 0) break;
            int n = client_read(c, c->up.p, GW_BUFSZ);
            if (n > 0) {
                c->up.off = 0;
                c->up.len = (uint32_t)n;
                c->bytes_in += (uint64_t)n;
                progress = 1;
            } else if (n < 0) {
                progress = 1;
            }
        }
        if (c->up.len && b_ready(c, c->bw_want)) {
            int n = backend_write(c, c->up.p + c->up.off, (int)c->up.len);
            if (n > 0) {
                c->up.off += (uint32_t)n;
                c->up.len -= (uint32_t)n;
                progress = 1;
            }
        }
        if (!c->up.len) buf_put(w, &c->up);
        if (c->c_eof && !c->up.len && !c->b_shut) {
            c->b_shut = 1;
            if (c->bssl)
                SSL_shutdown(c->bssl);
            else
                shutdown(c->bfd, SHUT_WR);
        }
        if (!c->b_eof && !c->down.len &&
            ((c->bssl && SSL_has_pending(c->bssl)) || b_ready(c, c->br_want))) {
            if (buf_get(w, &c->down) < 0) break;
            int n = backend_read(c, c->down.p, GW_BUFSZ);
            if (n > 0) {
                c->down.off = 0;
                c->down.len = (uint32_t)n;
                c->bytes_out += (uint64_t)n;
                progress = 1;
            } else if (n < 0) {
                progress = 1;
            }
        }
        if (c->down.len && c_ready(c, c->cw_want)) {
            int n = client_write(c, c->down.p + c->down.off, (int)c->down.len);
            if (n > 0) {
                c->down.off += (uint32_t)n;
                c->down.len -= (uint32_t)n;
                progress = 1;
            }
        }
        if (!c->down.len) buf_put(w, &c->down);
        if (c->b_eof && !c->down.len && !c->c_shut) {
            c->c_shut = 1;
            if (c->ssl) {
                ERR_clear_error();
                SSL_shutdown(c->ssl); /* close_notify; we do not wait for the reply */
                ERR_clear_error();
            } else {
                shutdown(c->cfd, SHUT_WR);
            }
        }
        moved |= progress;
    }
    if (moved) c->deadline_ms = w->now_ms + c->l->cfg->idle_timeout_ms;
    if (c->c_err || c->b_err || (c->c_eof && c->b_eof && !c->up.len && !c->down.len)) conn_close(c);
}

/* ---- driving ----------------------------------------------------------------- */

static void conn_step(struct gw_conn *c)
{
    for (;;) {
        int r;
        switch (c->st) {
        case ST_PEEK:
            r = step_peek(c);
            break;
        case ST_HS:
            r = step_hs(c);
            break;
        case ST_WAITDATA:
            r = step_waitdata(c);
            break;
        case ST_CONNECT:
            r = step_connect(c);
            break;
        case ST_PRE:
            r = step_pre(c);
            break;
        case ST_BHS:
            r = step_bhs(c);
            break;
        case ST_PROXY:
            pump(c);
            r = 0;
            break;
        default:
            return;
        }
        if (r <= 0) break;
    }
}

static void conn_run(struct gw_conn *c)
{
    conn_step(c);
}

/* Both fds are registered once, edge-triggered, for reading and writing; an
 * event only records readiness and lets the connection step. */
static void backend_io_cb(void *arg, unsigned ev)
{
    struct gw_conn *c = arg;
    if (ev & GW_EV_READ) c->b_rr = 1;
    if (ev & GW_EV_WRITE) c->b_wr = 1;
    conn_step(c);
}

static void client_io_cb(void *arg, unsigned ev)
{
    struct gw_conn *c = arg;
    if (ev & GW_EV_READ) c->c_rr = 1;
    if (ev & GW_EV_WRITE) c->c_wr = 1;
    conn_step(c);
}

void gw_accept(struct gw_worker *w, struct gw_listener *L, int lfd)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE)
                hilt_warn("gateway: %s: out of file descriptors", L->name);
            return;
        }
        struct gw_conn *c = calloc(1, sizeof(*c));
        struct gw_variant *v = gw_pick_variant(L, w->rnd = w->rnd * 1103515245u + 12345u);
        /* with passthrough routes the hello is looked at before any SSL exists */
        int peek = L->cfg->npassthrough > 0;
        SSL *ssl = c && !peek ? SSL_new(v->sets[v->default_set].ctx) : NULL;
        if (!c || (!peek && (!ssl || SSL_set_fd(ssl, fd) != 1))) {
            SSL_free(ssl);
            free(c);
            close(fd);
            ERR_clear_error();
            continue;
        }
        c->w = w;
        c->gen = w->gen;
        gw_gen_ref(c->gen);
        c->l = L;
        c->var = v;
        c->ssl = ssl;
        c->cfd = fd;
        c->bfd = -1;
        c->peer = ss;
        c->alert_sent = c->alert_recv = -1;
        c->st = peek ? ST_PEEK : ST_HS;
        c->cr_want = GW_EV_READ;
        c->c_rr = c->c_wr = 1; /* try at once: the ClientHello is often already here */
        c->t0_us = hilt_mono_us();
        c->deadline_ms = w->now_ms + L->cfg->hs_timeout_ms;
        if (ssl) {
            SSL_set_app_data(ssl, c);
            SSL_set_accept_state(ssl);
        }
        list_add(&w->conns, c);
        w->nconns++;
        tm_add(w->shard, TM_CONNECTIONS, L->name, NULL, NULL, NULL, 1);
        tm_add(w->shard, TM_ACTIVE, L->name, NULL, NULL, NULL, 1);
        if (gw_io_add(w->loop, &c->cio, fd, GW_EV_READ | GW_EV_WRITE | GW_EV_ET, client_io_cb, c) <
            0) {
            conn_close(c);
            continue;
        }
        conn_run(c); /* the ClientHello is often already here */
    }
}

void gw_conn_sweep(struct gw_worker *w)
{
    struct gw_conn *c = w->conns.next;
    while (c != &w->conns) {
        struct gw_conn *next = c->next;
        if (c->deadline_ms <= w->now_ms) {
            switch (c->st) {
            case ST_PEEK:
            case ST_HS:
                hs_failed(c, HS_F_TIMEOUT, 0);
                break;
            case ST_CONNECT:
                connect_failed(c);
                break;
            case ST_BHS:
                tm_add(w->shard, TM_BE_HS_FAIL, c->be->name, c->srv->label, NULL, NULL, 1);
                conn_close(c);
                break;
            default:
                conn_close(c);
                break;
            }
        }
        c = next;
    }
}
