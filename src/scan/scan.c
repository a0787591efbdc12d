/* scan.c - the per-target phase machine and the fleet scheduler (docs/scan.md). */
#include "scan/scan.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/net.h"
#include "diag/chain.h"
#include "scan/job.h"
#include "scan/simulate.h"
#include "tls/profile.h"
#include "x509/key.h"
#include "x509/summary.h"
#include "x509/verify.h"

#include <event2/dns.h>
#include <pthread.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 3000
#define DEFAULT_CONCURRENCY 32
#define PER_TARGET_JOBS 4
#define MAX_ROUNDS 64

struct scan;
struct target;
struct tjob;
typedef void (*tjob_fn)(struct target *t, struct tjob *tj);

/* A job issued by a target: the connection plus what to do with its answer. */
struct tjob {
    struct hilt_scan_job j;
    struct target *t;
    tjob_fn on_done;
    int version;                         /* enum hilt_tls_version the job is about */
    uint16_t list[HILT_SCAN_MAX_SUITES]; /* what was offered (suites, groups, sigalgs) */
    int nlist;
    
    struct tjob *next; /* queue */
};

typedef void (*phase_fn)(struct target *t);

struct target {
    struct scan *s;
    struct target *prev_live, *next_live;
    struct hilt_scan_result r;
    int index;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int pending; /* issued and not yet finished (queued or in flight) */
    int inflight;
    struct tjob *qhead, *qtail;
    phase_fn next; /* runs when pending drops to zero */
    struct evdns_getaddrinfo_request *dns;
    uint64_t t0;
    /* what the version probes saw when nothing was accepted */
    int saw_not_tls, saw_sslv2, saw_alert, saw_closed, saw_timeout, saw_starttls_fail;
    char not_tls_bytes[80];
    int alert_desc;
    STACK_OF(X509) * staple_chain; /* chain whose staple we hold */
    unsigned char *staple;
    size_t staple_len;
    SSL_SESSION *sess_ticket, *sess_id;
    struct hilt_sim_target sim;
    json_t **sim_json; /* one result per client, in the clients' order */
    size_t nsim;
};

/* What every worker shares: read-only inputs, and under `lock` the next
 * target to start, the counts and the report callback. */
struct scan_shared {
    const struct hilt_scan_target *targets;
    size_t ntargets;
    pthread_mutex_t lock;
    size_t next;     /* next target to start */
    size_t finished;
    int failed;
    hilt_scan_report_fn cb;
    void *cb_arg;
};

/* One worker: an event loop on its own thread, with its own resolver and contexts. */
struct scan {
    struct scan_shared *sh;
    const struct hilt_scan_opts *o;
    const struct hilt_policy *policy;
    struct event_base *base;
    struct evdns_base *dns;
    struct hilt_scan_env env;
    SSL_CTX *ctx_all;      /* every version and cipher OpenSSL has, tickets on */
    SSL_CTX *ctx_noticket; /* TLS <= 1.2, session IDs only */
    X509_STORE *store;
    int active;
    int limit;               /* targets in flight on this worker */
    struct target *live;     /* targets started and not finished (for cleanup) */
    struct hilt_err err;     /* this worker's error slot (hello building) */
    struct hilt_err *e;
    const struct hilt_clients *clients; /* for --clients */
    /* TLS 1.3 contexts offering a subset of signature schemes, by bitmask of
     * sigalg table positions: built once per scan, not per target. */
    struct {
        uint64_t mask;
        SSL_CTX *ctx;
    } sig13[48];
    int nsig13;
};

/* ---------- tables ---------- */

static int suite_list(int version, uint16_t *out, int cap)
{
    size_t n;
    const struct hilt_cipher *t = hilt_cipher_table(&n);
    int k = 0;
    for (size_t i = 0; i < n && k < cap; i++) {
        const struct hilt_cipher *c = &t[i];
        if (c->code == 0x0000) continue; /* TLS_NULL_WITH_NULL_NULL is never negotiable */
        int is13 = (c->flags & HILT_CF_TLS13) != 0;
        if (version == HILT_TLS13 ? !is13 : (is13 || (int)c->min_version > version)) continue;
        out[k++] = c->code;
    }
    return k;
}

static int group_list(uint32_t want, uint16_t *out, int cap)
{
    size_t n;
    const struct hilt_group *g = hilt_group_table(&n);
    int k = 0;
    for (size_t i = 0; i < n && k < cap; i++)
        if ((g[i].flags & want) && !(g[i].flags & HILT_GF_HYBRID)) out[k++] = g[i].code;
    return k;
}

static int sigalg_list(int tls13, uint16_t *out, int cap)
{
    size_t n;
    const struct hilt_sigalg *s = hilt_sigalg_table(&n);
    int k = 0;
    for (size_t i = 0; i < n && k < cap; i++) {
        if (tls13 && s[i].legacy) continue;
        out[k++] = s[i].code;
    }
    return k;
}

static int list_has(const uint16_t *v, int n, uint16_t x)
{
    for (int i = 0; i < n; i++)
        if (v[i] == x) return 1;
    return 0;
}

static int list_remove(uint16_t *v, int n, uint16_t x)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (v[i] != x) v[k++] = v[i];
    return k;
}

static const char *const ALPN_OFFER =
    "h2,http/1.1,http/1.0,spdy/3.1,grpc-exp,xmpp-client,imap,pop3,"
    "managesieve,ftp,postgresql,mqtt,dot,stun.turn";

/* ---------- hellos ---------- */

struct hello_args {
    int version;
    const uint16_t *suites;
    int nsuites;
    const uint16_t *groups; /* NULL: every group */
    int ngroups;
    const uint16_t *sigalgs; /* NULL: every scheme */
    int nsigalgs;
    const char *alpn;
    unsigned flags;
};

static int build_hello(struct target *t, const struct hello_args *a, struct hilt_buf *out)
{
    uint16_t groups[HILT_SCAN_MAX_LIST], sigs[HILT_SCAN_MAX_LIST];
    int ng =
        a->groups ? a->ngroups : group_list(HILT_GF_EC | HILT_GF_FFDHE, groups, HILT_SCAN_MAX_LIST);
    int ns =
        a->sigalgs ? a->nsigalgs : sigalg_list(a->version == HILT_TLS13, sigs, HILT_SCAN_MAX_LIST);
    struct hilt_ch_spec s = {0};
    s.ciphers = a->suites;
    s.nciphers = (size_t)a->nsuites;
    s.flags = a->flags;
    uint16_t v13[] = {0x0304};
    uint16_t share[1] = {0};
    if (a->version == HILT_SSL3) {
        /* SSLv3 stacks predate extensions; send none. */
        s.record_version = 0x0300;
        s.client_version = 0x0300;
        s.flags |= HILT_CH_SCSV_RENEG;
    } else {
        s.client_version = a->version == HILT_TLS13
                               ? 0x0303
                               : hilt_tls_version_wire((enum hilt_tls_version)a->version);
        s.sni = t->r.sni[0] ? t->r.sni : NULL;
        s.groups = a->groups ? a->groups : groups;
        s.ngroups = (size_t)ng;
        s.alpn = a->alpn;
        if (a->version >= HILT_TLS12) {
            s.sigalgs = a->sigalgs ? a->sigalgs : sigs;
            s.nsigalgs = (size_t)ns;
        }
        if (a->version == HILT_TLS13) {
            s.versions = v13;
            s.nversions = 1;
            s.flags |= HILT_CH_PSK_MODES | HILT_CH_SESSION_ID;
            /* An empty key_share list (RFC 8446 §4.2.8): the server answers with a
             * HelloRetryRequest naming its version, suite and group, without doing any
             * key exchange or signature. Enumeration stays cheap for the server. */
            s.key_shares = share;
            s.nkey_shares = 0;
        } else {
            s.flags |= HILT_CH_EC_POINT_FORMATS | HILT_CH_SCSV_RENEG | HILT_CH_STATUS_REQUEST |
                       HILT_CH_EMS;
        }
    }
    hilt_buf_reset(out);
    return hilt_client_hello_build(&s, out, t->s->e);
}

/* ---------- job plumbing ---------- */

static void target_done(struct target *t);
static void pump(struct target *t);
static void run_phase(struct target *t, phase_fn p);

static void tjob_finished(struct hilt_scan_job *j, void *arg)
{
    struct tjob *tj = arg;
    struct target *t = tj->t;
    (void)j;
    t->inflight--;
    t->r.connections++;
    if (hilt_log_get_level() >= HILT_LOG_DEBUG) {
        const struct hilt_scan_job *jj = &tj->j;
        if (jj->kind == HILT_JOB_RAW)
            hilt_debug("scan %s: raw %s (%d offered): %s, flight %d version 0x%04x cipher 0x%04x "
                       "alert %d %s",
                       t->r.target, hilt_tls_version_name((enum hilt_tls_version)tj->version),
                       tj->nlist, hilt_job_status_name(jj->status), jj->flight.kind,
                       jj->flight.version, jj->flight.cipher, jj->flight.alert_desc, jj->detail);
        else
            hilt_debug("scan %s: ssl: %s, completed %d %s %s sigalg %s alert %d resumed %d session "
                       "%p; %s %s",
                       t->r.target, hilt_job_status_name(jj->status), jj->tlsr.completed,
                       hilt_tls_version_str(jj->tlsr.version), jj->tlsr.cipher, jj->tlsr.sigalg,
                       jj->tlsr.alert_received, jj->tlsr.resumed, (void *)jj->session,
                       jj->tlsr.ssl_error, jj->detail);
    }
    tj->on_done(t, tj);
    hilt_scan_job_clear(&tj->j);
    free(tj);
    t->pending--;
    pump(t);
    if (t->pending == 0) run_phase(t, t->next);
}

static void pump(struct target *t)
{
    while (t->qhead && t->inflight < PER_TARGET_JOBS) {
        struct tjob *tj = t->qhead;
        t->qhead = tj->next;
        if (!t->qhead) t->qtail = NULL;
        t->inflight++;
        hilt_scan_job_start(&t->s->env, &tj->j);
    }
}

static struct tjob *new_tjob(struct target *t, enum hilt_job_kind kind, tjob_fn fn, int version)
{
    struct tjob *tj = calloc(1, sizeof(*tj));
    if (!tj) return NULL;
    hilt_scan_job_init(&tj->j);
    tj->j.kind = kind;
    memcpy(&tj->j.addr, &t->addr, sizeof(t->addr));
    tj->j.addrlen = t->addrlen;
    tj->j.done = tjob_finished;
    tj->j.arg = tj;
    tj->t = t;
    tj->on_done = fn;
    tj->version = version;
    return tj;
}

static void submit(struct target *t, struct tjob *tj)
{
    t->pending++;
    if (t->qtail)
        t->qtail->next = tj;
    else
        t->qhead = tj;
    t->qtail = tj;
    pump(t);
}

/* A raw job offering `list` (suites) at `version` with other hello arguments. */
static void raw_job(struct target *t, tjob_fn fn, int version, const uint16_t *list, int n,
                    struct hello_args *extra, int want_rest)
{
    struct tjob *tj = new_tjob(t, HILT_JOB_RAW, fn, version);
    if (!tj) return;
    struct hello_args a = extra ? *extra : (struct hello_args){0};
    a.version = version;
    if (!a.suites) {
        a.suites = list;
        a.nsuites = n;
    }
    if (n > HILT_SCAN_MAX_SUITES) n = HILT_SCAN_MAX_SUITES;
    memcpy(tj->list, list, (size_t)n * sizeof(uint16_t));
    tj->nlist = n;
    tj->j.want_rest = want_rest;
    if (build_hello(t, &a, &tj->j.hello) < 0) {
        hilt_scan_job_clear(&tj->j);
        free(tj);
        return;
    }
    submit(t, tj);
}

/* An OpenSSL job (not yet submitted: the caller may set more, then submit()). */
static struct tjob *ssl_job(struct target *t, tjob_fn fn, SSL_CTX *ctx, int version)
{
    struct tjob *tj = new_tjob(t, HILT_JOB_SSL, fn, version);
    if (!tj) return NULL;
    tj->j.ctx = ctx;
    tj->j.tls.sni = t->r.sni[0] ? t->r.sni : NULL;
    tj->j.tls.request_ocsp = 1;
    return tj;
}

static int flight_is(const struct tjob *tj, int version)
{
    const struct hilt_server_flight *f = &tj->j.flight;
    if (tj->j.status != HILT_JOB_OK || f->kind != HILT_FLIGHT_HELLO) return 0;
    enum hilt_tls_version v;
    if (hilt_tls_version_from_wire(f->version, &v) < 0) return 0;
    return (int)v == version;
}

/* Keep a chain a TLS <= 1.2 flight carried, decoding it only when no chain
 * was kept yet for this way of asking (one per authentication type). */
static void keep_chain(struct target *t, X509 *const *certs, int n, const char *via);

static void keep_flight_chain(struct target *t, const struct hilt_server_flight *f, const char *via)
{
    if (f->ncerts <= 0 || t->r.ncerts >= HILT_SCAN_MAX_CERTS) return;
    for (int i = 0; i < t->r.ncerts; i++)
        if (!strcmp(t->r.certs[i].via, via)) return;
    X509 *certs[HILT_FLIGHT_MAX_CERTS];
    int n = 0;
    for (int i = 0; i < f->ncerts; i++) {
        X509 *x = hilt_server_flight_cert(f, i);
        if (x) certs[n++] = x;
    }
    keep_chain(t, certs, n, via);
    for (int i = 0; i < n; i++) X509_free(certs[i]);
}

/* Keep a chain the server sent, once per leaf. */
static void keep_chain(struct target *t, X509 *const *certs, int n, const char *via)
{
    if (n <= 0 || t->r.ncerts >= HILT_SCAN_MAX_CERTS) return;
    for (int i = 0; i < t->r.ncerts; i++)
        if (X509_cmp(sk_X509_value(t->r.certs[i].chain, 0), certs[0]) == 0) return;
    STACK_OF(X509) *sk = sk_X509_new_null();
    for (int i = 0; sk && i < n; i++)
        if (sk_X509_push(sk, certs[i])) X509_up_ref(certs[i]);
    if (!sk) return;
    struct hilt_scan_cert *c = &t->r.certs[t->r.ncerts++];
    c->chain = sk;
    snprintf(c->via, sizeof(c->via), "%s", via);
}

/* ---------- phases ---------- */

static void phase_ciphers(struct target *t);
static void phase_order(struct target *t);
static void record_choice(struct target *t, struct tjob *tj);
static void phase_groups(struct target *t);
static void phase_tls13_certs(struct target *t);
static void phase_extras(struct target *t);
static void phase_clients(struct target *t);

static void on_version(struct target *t, struct tjob *tj)
{
    struct hilt_scan_version *v = &t->r.v[tj->version];
    v->probed = 1;
    const struct hilt_server_flight *f = &tj->j.flight;
    switch (tj->j.status) {
    case HILT_JOB_CONNECT_FAILED:
        t->r.net = tj->j.net;
        snprintf(t->r.error, sizeof(t->r.error), "%s", tj->j.detail);
        return;
    case HILT_JOB_STARTTLS_FAILED:
        t->saw_starttls_fail = 1;
        t->r.reachable = 1;
        snprintf(t->r.error, sizeof(t->r.error), "%s", tj->j.detail);
        return;
    case HILT_JOB_TIMEOUT:
        t->saw_timeout = 1;
        t->r.reachable = 1;
        return;
    case HILT_JOB_CLOSED:
        t->saw_closed = 1;
        t->r.reachable = 1;
        return;
    case HILT_JOB_LOCAL_ERROR:
        snprintf(t->r.error, sizeof(t->r.error), "%s", tj->j.detail);
        return;
    case HILT_JOB_OK:
        break;
    }
    t->r.reachable = 1;
    if (f->kind == HILT_FLIGHT_NOT_TLS) {
        t->saw_not_tls = 1;
        size_t k = tj->j.in.len < 60 ? tj->j.in.len : 60;
        hilt_bytes_excerpt(tj->j.in.data, k, t->not_tls_bytes, sizeof(t->not_tls_bytes));
    }
    if (f->kind == HILT_FLIGHT_SSLV2) t->saw_sslv2 = 1;
    if (f->kind == HILT_FLIGHT_ALERT) {
        t->saw_alert = 1;
        t->alert_desc = f->alert_desc;
    }
    if (!flight_is(tj, tj->version)) return;
    v->accepted = 1;
    /* The probe offered every suite of its version: its choice is the first
     * round of cipher enumeration. */
    if (list_has(tj->list, tj->nlist, f->cipher)) record_choice(t, tj);
    if (tj->version <= HILT_TLS12) {
        /* The best version <= 1.2 speaks for renegotiation and compression. */
        if (t->r.secure_reneg < 0 || tj->version == HILT_TLS12) t->r.secure_reneg = f->reneg_info;
        if (f->compression == 1)
            t->r.compression = 1;
        else if (t->r.compression < 0)
            t->r.compression = 0;
    }
}

/* Every suite per version, built once (workers share it read-only). */
static uint16_t lists[HILT_TLS_VERSION_COUNT][HILT_SCAN_MAX_SUITES];
static int counts[HILT_TLS_VERSION_COUNT];
static pthread_once_t suite_lists_once = PTHREAD_ONCE_INIT;

static void build_suite_lists(void)
{
    for (int v = 0; v < HILT_TLS_VERSION_COUNT; v++) counts[v] = suite_list(v, lists[v], HILT_SCAN_MAX_SUITES);
}

static void phase_versions(struct target *t)
{
    pthread_once(&suite_lists_once, build_suite_lists);
    t->next = phase_ciphers;
    for (int v = HILT_TLS13; v >= HILT_SSL3; v--) {
        struct hello_args a = {0};
        if (v <= HILT_TLS12) a.flags = HILT_CH_COMPRESSION;
        raw_job(t, on_version, v, lists[v], counts[v], &a, v <= HILT_TLS12);
    }
}

/* Cipher enumeration: one version, remove what the server picks, repeat. */
static void on_cipher(struct target *t, struct tjob *tj);

static void next_cipher(struct target *t, int version, const uint16_t *rest, int n)
{
    if (n <= 0 || t->r.v[version].nsuites >= HILT_SCAN_MAX_SUITES) {
        if (n <= 0) t->r.v[version].complete = 1;
        return;
    }
    raw_job(t, on_cipher, version, rest, n, NULL, version <= HILT_TLS12);
}

/* What a ServerHello (and, for TLS <= 1.2, the rest of its flight) tells about
 * the suite the server just chose. */
static void record_choice(struct target *t, struct tjob *tj)
{
    struct hilt_scan_version *v = &t->r.v[tj->version];
    const struct hilt_server_flight *f = &tj->j.flight;
    v->suites[v->nsuites++] = f->cipher;
    if (tj->version > HILT_TLS12) return;
    const struct hilt_cipher *c = hilt_cipher_by_code(f->cipher);
    char via[64];
    snprintf(via, sizeof(via), "%s %s suites", hilt_tls_version_name((enum hilt_tls_version)tj->version),
             c && c->au ? c->au : "?");
    keep_flight_chain(t, f, via);
    if (f->ske_dh_bits && (t->r.dh_bits == 0 || f->ske_dh_bits < t->r.dh_bits)) t->r.dh_bits = f->ske_dh_bits;
    if (f->cert_status) t->r.ocsp_stapled = 1;
    else if (f->ncerts && t->r.ocsp_stapled < 0) t->r.ocsp_stapled = 0;
}

static void on_cipher(struct target *t, struct tjob *tj)
{
    struct hilt_scan_version *v = &t->r.v[tj->version];
    const struct hilt_server_flight *f = &tj->j.flight;
    if (!flight_is(tj, tj->version) || !list_has(tj->list, tj->nlist, f->cipher) ||
        list_has(v->suites, v->nsuites, f->cipher)) {
        /* A refusal ends the list; a timeout or a strange answer leaves it incomplete. */
        v->complete = tj->j.status == HILT_JOB_OK && f->kind == HILT_FLIGHT_ALERT;
        if (tj->j.status == HILT_JOB_CLOSED) v->complete = 1;
        return;
    }
    record_choice(t, tj);
    uint16_t rest[HILT_SCAN_MAX_SUITES];
    memcpy(rest, tj->list, (size_t)tj->nlist * sizeof(uint16_t));
    int n = list_remove(rest, tj->nlist, f->cipher);
    next_cipher(t, tj->version, rest, n);
}

static void phase_ciphers(struct target *t)
{
    int any = 0;
    for (int v = 0; v < HILT_TLS_VERSION_COUNT; v++)
        any |= t->r.v[v].accepted;
    if (!any) {
        t->next = NULL;
        return;
    }
    t->next = phase_order;
    for (int v = HILT_TLS13; v >= HILT_SSL3; v--) {
        if (!t->r.v[v].accepted) continue;
        uint16_t list[HILT_SCAN_MAX_SUITES];
        int n = suite_list(v, list, HILT_SCAN_MAX_SUITES);
        for (int i = 0; i < t->r.v[v].nsuites; i++) n = list_remove(list, n, t->r.v[v].suites[i]);
        next_cipher(t, v, list, n);
    }
}

/* Order: the accepted suites reversed. The same first pick means the server's order. */
static void on_order(struct target *t, struct tjob *tj)
{
    struct hilt_scan_version *v = &t->r.v[tj->version];
    if (!flight_is(tj, tj->version)) return;
    uint16_t c = tj->j.flight.cipher;
    if (c == v->suites[0])
        v->server_order = 1;
    else if (c == tj->list[0])
        v->server_order = 0;
    else
        v->server_order = 1;
}

static void phase_order(struct target *t)
{
    t->next = phase_groups;
    for (int v = HILT_TLS13; v >= HILT_SSL3; v--) {
        struct hilt_scan_version *sv = &t->r.v[v];
        if (sv->nsuites < 2) continue;
        /* We offer suites in table (code point) order, and a server that follows
         * the client takes the first it supports: any other order proves the
         * server's own, with no extra probe. */
        int ascending = 1;
        for (int i = 1; i < sv->nsuites; i++)
            if (sv->suites[i] < sv->suites[i - 1]) ascending = 0;
        if (!ascending) {
            sv->server_order = 1;
            continue;
        }
        uint16_t rev[HILT_SCAN_MAX_SUITES];
        for (int i = 0; i < sv->nsuites; i++)
            rev[i] = sv->suites[sv->nsuites - 1 - i];
        raw_job(t, on_order, v, rev, sv->nsuites, NULL, 0);
    }
}

/* Groups. TLS 1.3: the key_share (or HelloRetryRequest) names the group. */
static void on_group13(struct target *t, struct tjob *tj)
{
    const struct hilt_server_flight *f = &tj->j.flight;
    if (!flight_is(tj, HILT_TLS13) || !f->key_share_group ||
        !list_has(tj->list, tj->nlist, f->key_share_group) ||
        list_has(t->r.groups13, t->r.ngroups13, f->key_share_group) ||
        t->r.ngroups13 >= HILT_SCAN_MAX_LIST)
        return;
    t->r.groups13[t->r.ngroups13++] = f->key_share_group;
    uint16_t rest[HILT_SCAN_MAX_LIST];
    memcpy(rest, tj->list, (size_t)tj->nlist * sizeof(uint16_t));
    int n = list_remove(rest, tj->nlist, f->key_share_group);
    if (n <= 0) return;
    const struct hilt_scan_version *v = &t->r.v[HILT_TLS13];
    struct hello_args a = {
        .suites = v->suites, .nsuites = v->nsuites, .groups = rest, .ngroups = n};
    raw_job(t, on_group13, HILT_TLS13, rest, n, &a, 0);
}

/* TLS 1.2 curves and signature schemes, each read from the ServerKeyExchange
 * in a removal loop of its own (GS_GROUPS, GS_SIGS).
 * Curves: RFC 8422 lets the client's supported_groups also constrain an ECDSA
 * certificate's curve, so removing that curve would take the certificate away.
 * Prefer ECDHE-RSA suites (no such link); with ECDSA only, always offer the
 * certificate's curve, last, so that a server following the client picks the
 * others first. */
enum { GS_GROUPS = 1, GS_SIGS_RSA, GS_SIGS_ECDSA, GS_SIGS_DSS };

/* Schemes are enumerated per certificate type: OpenSSL servers pick the suite
 * first and then fail to find a scheme, rather than fall back to another
 * certificate, so mixing types would stop early. */
static const char *gs12_auth(int mode)
{
    return mode == GS_SIGS_RSA ? "RSA" : mode == GS_SIGS_ECDSA ? "ECDSA" : mode == GS_SIGS_DSS ? "DSS" : NULL;
}

static int gs12_suites(struct target *t, int mode, uint16_t *out)
{
    const struct hilt_scan_version *v = &t->r.v[HILT_TLS12];
    int n = 0, nrsa = 0;
    for (int i = 0; i < v->nsuites; i++) {
        const struct hilt_cipher *c = hilt_cipher_by_code(v->suites[i]);
        if (!c || !c->kx || !c->au || !strcmp(c->au, "anon")) continue;
        if (mode == GS_GROUPS && !strcmp(c->kx, "ECDHE") && !strcmp(c->au, "RSA")) nrsa++;
    }
    for (int i = 0; i < v->nsuites; i++) {
        const struct hilt_cipher *c = hilt_cipher_by_code(v->suites[i]);
        if (!c || !c->kx || !c->au || !strcmp(c->au, "anon")) continue;
        if (mode == GS_GROUPS) {
            if (strcmp(c->kx, "ECDHE") || (nrsa && strcmp(c->au, "RSA"))) continue;
        } else if ((strcmp(c->kx, "ECDHE") && strcmp(c->kx, "DHE")) || strcmp(c->au, gs12_auth(mode))) {
            continue;
        }
        out[n++] = v->suites[i];
    }
    return n;
}

/* The curves of ECDSA certificates seen over TLS <= 1.2. */
static int cert_curves12(struct target *t, uint16_t *out)
{
    int n = 0;
    for (int i = 0; i < t->r.ncerts && n < 4; i++) {
        if (!strncmp(t->r.certs[i].via, "TLSv1.3", 7)) continue;
        EVP_PKEY *k = X509_get0_pubkey(sk_X509_value(t->r.certs[i].chain, 0));
        char kd[32] = "";
        if (k) hilt_key_describe(k, kd, sizeof(kd));
        uint16_t c = !strcmp(kd, "ec-p256") ? 0x0017 : !strcmp(kd, "ec-p384") ? 0x0018 : !strcmp(kd, "ec-p521") ? 0x0019 : 0;
        if (c && !list_has(out, n, c)) out[n++] = c;
    }
    return n;
}

static void on_gs12(struct target *t, struct tjob *tj);

static void gs12_next(struct target *t, int mode, const uint16_t *rest, int nrest)
{
    uint16_t suites[HILT_SCAN_MAX_SUITES], offer[HILT_SCAN_MAX_LIST + 4], other[HILT_SCAN_MAX_LIST];
    int nsu = gs12_suites(t, mode, suites), no = 0, nother;
    if (!nsu || nrest <= 0) return;
    memcpy(offer, rest, (size_t)nrest * sizeof(uint16_t));
    no = nrest;
    struct hello_args a = {.version = HILT_TLS12, .suites = suites, .nsuites = nsu};
    if (mode == GS_GROUPS) {
        const struct hilt_cipher *c0 = hilt_cipher_by_code(suites[0]);
        if (c0 && c0->au && !strcmp(c0->au, "ECDSA")) {
            uint16_t cc[4];
            int ncc = cert_curves12(t, cc);
            for (int i = 0; i < ncc; i++) no = list_remove(offer, no, cc[i]);
            for (int i = 0; i < ncc; i++) offer[no++] = cc[i];
        }
        a.groups = offer;
        a.ngroups = no;
    } else {
        nother = group_list(HILT_GF_EC | HILT_GF_FFDHE, other, HILT_SCAN_MAX_LIST);
        a.groups = other;
        a.ngroups = nother;
        a.sigalgs = offer;
        a.nsigalgs = no;
    }
    struct tjob *tj = new_tjob(t, HILT_JOB_RAW, on_gs12, HILT_TLS12);
    if (!tj) return;
    tj->j.tag = mode;
    tj->j.want_rest = 1;
    memcpy(tj->list, rest, (size_t)nrest * sizeof(uint16_t));
    tj->nlist = nrest;
    if (build_hello(t, &a, &tj->j.hello) < 0) {
        hilt_scan_job_clear(&tj->j);
        free(tj);
        return;
    }
    submit(t, tj);
}

static void on_gs12(struct target *t, struct tjob *tj)
{
    const struct hilt_server_flight *f = &tj->j.flight;
    int groups = tj->j.tag == GS_GROUPS;
    uint16_t chosen = groups ? f->ske_curve : f->ske_sigalg;
    uint16_t *arr = groups ? t->r.groups12 : t->r.sigalgs12;
    int *narr = groups ? &t->r.ngroups12 : &t->r.nsigalgs12;
    /* A certificate curve chosen again means nothing new can be learned this way. */
    if (!flight_is(tj, HILT_TLS12) || !chosen || list_has(arr, *narr, chosen) || *narr >= HILT_SCAN_MAX_LIST)
        return;
    arr[(*narr)++] = chosen;
    uint16_t rest[HILT_SCAN_MAX_LIST];
    memcpy(rest, tj->list, (size_t)tj->nlist * sizeof(uint16_t));
    int n = list_remove(rest, tj->nlist, chosen);
    gs12_next(t, tj->j.tag, rest, n);
}


static void phase_groups(struct target *t)
{
    t->next = phase_tls13_certs;
    if (t->r.v[HILT_TLS13].accepted) {
        uint16_t g[HILT_SCAN_MAX_LIST];
        int n = group_list(HILT_GF_EC | HILT_GF_FFDHE, g, HILT_SCAN_MAX_LIST);
        const struct hilt_scan_version *v = &t->r.v[HILT_TLS13];
        struct hello_args a = {
            .suites = v->suites, .nsuites = v->nsuites, .groups = g, .ngroups = n};
        raw_job(t, on_group13, HILT_TLS13, g, n, &a, 0);
    }
    if (t->r.v[HILT_TLS12].accepted) {
        uint16_t g[HILT_SCAN_MAX_LIST], s[HILT_SCAN_MAX_LIST];
        int ng = group_list(HILT_GF_EC, g, HILT_SCAN_MAX_LIST);
        int ns = sigalg_list(0, s, HILT_SCAN_MAX_LIST);
        gs12_next(t, GS_GROUPS, g, ng);
        gs12_next(t, GS_SIGS_RSA, s, ns); /* each starts only if such suites were accepted */
        gs12_next(t, GS_SIGS_ECDSA, s, ns);
        gs12_next(t, GS_SIGS_DSS, s, ns);
    }
}

/* TLS 1.3 certificates and signature schemes: OpenSSL handshakes, each one
 * offering the schemes not yet seen; the scheme the server signs with is
 * recorded with its certificate, then removed. */
static SSL_CTX *sig13_ctx(struct scan *sc, const uint16_t *schemes, int n)
{
    size_t ns;
    const struct hilt_sigalg *tab = hilt_sigalg_table(&ns);
    uint64_t mask = 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < ns && k < 64; k++)
            if (tab[k].code == schemes[i]) mask |= 1ull << k;
    for (int i = 0; i < sc->nsig13; i++)
        if (sc->sig13[i].mask == mask) return sc->sig13[i].ctx;
    if (sc->nsig13 >= (int)(sizeof(sc->sig13) / sizeof(sc->sig13[0]))) return NULL;
    const struct hilt_client_profile *all = hilt_client_profile_find("all");
    struct hilt_tls_opts o = {.profile = all, .min_version = TLS1_3_VERSION, .max_version = TLS1_3_VERSION};
    SSL_CTX *ctx = hilt_tls_client_ctx(&o, NULL);
    if (!ctx) return NULL;
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    /* Only the schemes this OpenSSL can name (3.0 lacks the brainpool TLS 1.3 ones). */
    char list[1024] = "";
    for (int i = 0; i < n; i++) {
        const struct hilt_sigalg *s = hilt_sigalg_by_code(schemes[i]);
        if (!s || !SSL_CTX_set1_sigalgs_list(ctx, s->iana)) continue;
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "%s%s", l ? ":" : "", s->iana);
    }
    ERR_clear_error();
    if (!list[0] || !SSL_CTX_set1_sigalgs_list(ctx, list)) {
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
    }
    sc->sig13[sc->nsig13].mask = mask;
    sc->sig13[sc->nsig13++].ctx = ctx;
    return ctx;
}

static void on_resume2(struct target *t, struct tjob *tj);
enum { RES_TICKET = 1, RES_ID = 2 };

static void on_sig13(struct target *t, struct tjob *tj)
{
    const struct hilt_tls_result *r = &tj->j.tlsr;
    /* The first handshake also keeps its session: resuming it tests tickets. */
    if (tj->j.tag == RES_TICKET && r->completed) {
        if (tj->j.session && SSL_SESSION_has_ticket(tj->j.session)) {
            t->sess_ticket = tj->j.session;
            tj->j.session = NULL;
            struct tjob *rj = ssl_job(t, on_resume2, t->s->ctx_all, HILT_TLS13);
            if (rj) {
                rj->j.tag = RES_TICKET;
                rj->j.resume = t->sess_ticket;
                submit(t, rj);
            }
        } else {
            t->r.resume_tickets = 0;
        }
    }
    if (!r->completed || !r->sigalg[0]) return;
    const struct hilt_sigalg *s = hilt_sigalg_by_name(r->sigalg);
    if (!s || !list_has(tj->list, tj->nlist, s->code) ||
        list_has(t->r.sigalgs13, t->r.nsigalgs13, s->code))
        return;
    t->r.sigalgs13[t->r.nsigalgs13++] = s->code;
    if (r->chain && sk_X509_num(r->chain)) {
        X509 *certs[10];
        int n = sk_X509_num(r->chain) < 10 ? sk_X509_num(r->chain) : 10;
        for (int i = 0; i < n; i++)
            certs[i] = sk_X509_value(r->chain, i);
        char via[64];
        snprintf(via, sizeof(via), "TLSv1.3 %s", r->sigalg);
        keep_chain(t, certs, n, via);
    }
    if (r->ocsp_len && !t->staple) {
        t->staple = malloc(r->ocsp_len);
        if (t->staple) {
            memcpy(t->staple, r->ocsp, r->ocsp_len);
            t->staple_len = r->ocsp_len;
        }
    }
    t->r.ocsp_stapled = r->ocsp_len ? 1 : (t->r.ocsp_stapled == 1 ? 1 : 0);
    uint16_t rest[HILT_SCAN_MAX_LIST];
    memcpy(rest, tj->list, (size_t)tj->nlist * sizeof(uint16_t));
    int n = list_remove(rest, tj->nlist, s->code);
    if (n <= 0 || t->r.nsigalgs13 >= 12) return;
    SSL_CTX *ctx = sig13_ctx(t->s, rest, n);
    if (!ctx) return;
    struct tjob *nj = ssl_job(t, on_sig13, ctx, HILT_TLS13);
    if (!nj) return;
    memcpy(nj->list, rest, (size_t)n * sizeof(uint16_t));
    nj->nlist = n;
    submit(t, nj);
}

static void phase_tls13_certs(struct target *t)
{
    t->next = phase_extras;
    if (!t->r.v[HILT_TLS13].accepted) return;
    uint16_t s[HILT_SCAN_MAX_LIST];
    int n = sigalg_list(1, s, HILT_SCAN_MAX_LIST);
    SSL_CTX *ctx = sig13_ctx(t->s, s, n);
    if (!ctx) return;
    struct tjob *tj = ssl_job(t, on_sig13, ctx, HILT_TLS13);
    if (!tj) return;
    tj->j.tag = RES_TICKET;
    tj->j.want_session = 1;
    memcpy(tj->list, s, (size_t)n * sizeof(uint16_t));
    tj->nlist = n;
    submit(t, tj);
}

/* Extras: fallback SCSV, ALPN, resumption. */
static void on_fallback(struct target *t, struct tjob *tj)
{
    const struct hilt_server_flight *f = &tj->j.flight;
    if (tj->j.status != HILT_JOB_OK) return;
    if (f->kind == HILT_FLIGHT_ALERT)
        t->r.fallback_scsv = f->alert_desc == 86 ? 1 : 0;
    else if (f->kind == HILT_FLIGHT_HELLO)
        t->r.fallback_scsv = 0;
}

static void alpn_record(struct target *t, const char *chosen)
{
    if (!chosen[0] || t->r.nalpn >= 8) return;
    for (int i = 0; i < t->r.nalpn; i++)
        if (!strcmp(t->r.alpn[i], chosen)) return;
    snprintf(t->r.alpn[t->r.nalpn++], sizeof(t->r.alpn[0]), "%s", chosen);
}

/* The ALPN list minus what was chosen so far. */
static void alpn_rest(struct target *t, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = ALPN_OFFER;
    while (*p) {
        size_t n = strcspn(p, ",");
        char one[40];
        snprintf(one, sizeof(one), "%.*s", (int)n, p);
        int seen = 0;
        for (int i = 0; i < t->r.nalpn; i++)
            seen |= !strcmp(t->r.alpn[i], one);
        if (!seen) {
            size_t l = strlen(out);
            snprintf(out + l, cap - l, "%s%s", l ? "," : "", one);
        }
        p += n + (p[n] ? 1 : 0);
    }
}

static void alpn_next(struct target *t);

static void on_alpn_raw(struct target *t, struct tjob *tj)
{
    t->r.alpn_checked = 1;
    if (!flight_is(tj, tj->version) || !tj->j.flight.alpn[0]) return;
    int before = t->r.nalpn;
    alpn_record(t, tj->j.flight.alpn);
    if (t->r.nalpn > before) alpn_next(t);
}

static void on_alpn_ssl(struct target *t, struct tjob *tj)
{
    t->r.alpn_checked = 1;
    if (!tj->j.tlsr.completed || !tj->j.tlsr.alpn[0]) return;
    int before = t->r.nalpn;
    alpn_record(t, tj->j.tlsr.alpn);
    if (t->r.nalpn > before) alpn_next(t);
}

static void alpn_next(struct target *t)
{
    char rest[400];
    alpn_rest(t, rest, sizeof(rest));
    if (!rest[0] || t->r.nalpn >= 8) return;
    const struct hilt_scan_version *v12 = &t->r.v[HILT_TLS12];
    if (v12->accepted && v12->nsuites) {
        struct hello_args a = {.suites = v12->suites, .nsuites = v12->nsuites, .alpn = rest};
        raw_job(t, on_alpn_raw, HILT_TLS12, v12->suites, v12->nsuites, &a, 0);
    } else if (t->r.v[HILT_TLS13].accepted) {
        /* ALPN is encrypted in TLS 1.3: ask OpenSSL. */
        struct tjob *tj = ssl_job(t, on_alpn_ssl, t->s->ctx_all, HILT_TLS13);
        if (!tj) return;
        hilt_buf_reset(&tj->j.hello);
        hilt_buf_add_str(&tj->j.hello, rest); /* the job owns the list text */
        tj->j.tls.alpn = hilt_buf_cstr(&tj->j.hello);
        submit(t, tj);
    }
}

/* Resumption: a full handshake keeps the session, a second offers it back. */

static void on_resume2(struct target *t, struct tjob *tj)
{
    int reused = tj->j.tlsr.completed && tj->j.tlsr.resumed;
    if (tj->j.tag == RES_TICKET) {
        t->r.resume_tickets = reused;
        SSL_SESSION_free(t->sess_ticket);
        t->sess_ticket = NULL;
    } else {
        t->r.resume_ids = reused;
        SSL_SESSION_free(t->sess_id);
        t->sess_id = NULL;
    }
}

static void on_resume1(struct target *t, struct tjob *tj)
{
    SSL_SESSION *sess = tj->j.session;
    if (!tj->j.tlsr.completed || !sess) return;
    int ticket = tj->j.tag == RES_TICKET;
    if (ticket && !SSL_SESSION_has_ticket(sess)) {
        t->r.resume_tickets = 0; /* no ticket was issued */
        return;
    }
    tj->j.session = NULL; /* the target keeps it until the resumption is done */
    if (ticket)
        t->sess_ticket = sess;
    else
        t->sess_id = sess;
    struct tjob *nj =
        ssl_job(t, on_resume2, ticket ? t->s->ctx_all : t->s->ctx_noticket, tj->version);
    if (!nj) return;
    nj->j.tag = tj->j.tag;
    nj->j.resume = sess;
    submit(t, nj);
}

static void phase_extras(struct target *t)
{
    t->next = phase_clients;
    /* TLS_FALLBACK_SCSV: a hello below the best version must be refused. */
    int best = -1, second = -1;
    for (int v = HILT_TLS13; v >= HILT_TLS10; v--) {
        if (!t->r.v[v].accepted) continue;
        if (best < 0)
            best = v;
        else if (second < 0)
            second = v;
    }
    if (second >= 0) {
        const struct hilt_scan_version *sv = &t->r.v[second];
        struct hello_args a = {
            .suites = sv->suites, .nsuites = sv->nsuites, .flags = HILT_CH_FALLBACK_SCSV};
        raw_job(t, on_fallback, second, sv->suites, sv->nsuites, &a, 0);
    }
    if (t->r.v[HILT_TLS12].accepted || t->r.v[HILT_TLS13].accepted) alpn_next(t);
    int legacy =
        t->r.v[HILT_TLS10].accepted || t->r.v[HILT_TLS11].accepted || t->r.v[HILT_TLS12].accepted;
    /* With TLS 1.3 the first certificate job already tested tickets. */
    if (legacy && !t->r.v[HILT_TLS13].accepted) {
        struct tjob *tj = ssl_job(t, on_resume1, t->s->ctx_all, best);
        if (tj) {
            tj->j.tag = RES_TICKET;
            tj->j.want_session = 1;
            submit(t, tj);
        }
    }
    if (legacy) {
        struct tjob *tj = ssl_job(t, on_resume1, t->s->ctx_noticket, HILT_TLS12);
        if (tj) {
            tj->j.tag = RES_ID;
            tj->j.want_session = 1;
            submit(t, tj);
        }
    }
}

/* Client simulation: each client's own hello, judged as that client would. */
struct sim_judge {
    const struct hilt_client *c;
    const struct hilt_sim_target *st;
    struct hilt_sim_result r;
};

static int sim_judge_cb(void *ctx, const uint8_t *p, size_t n, int eof)
{
    struct sim_judge *sj = ctx;
    return hilt_sim_judge(sj->c, sj->st, p, n, eof, &sj->r);
}

static void on_client(struct target *t, struct tjob *tj)
{
    struct sim_judge *sj = tj->j.judge_ctx;
    if (tj->j.status == HILT_JOB_OK) {
        if (!hilt_sim_judge(sj->c, sj->st, tj->j.in.data, tj->j.in.len, 1, &sj->r))
            hilt_sim_fail(sj->c, HILT_C_HANDSHAKE_FAILED, "the answer was cut short", &sj->r);
    } else if (tj->j.status == HILT_JOB_TIMEOUT) {
        hilt_sim_fail(sj->c, HILT_C_HANDSHAKE_TIMEOUT, "no answer in time", &sj->r);
    } else if (tj->j.status == HILT_JOB_CLOSED) {
        hilt_sim_fail(sj->c, HILT_C_CONNECTION_RESET, tj->j.detail, &sj->r);
    } else {
        hilt_sim_fail(sj->c, tj->j.net == HILT_NET_REFUSED ? HILT_C_CONNECT_REFUSED : HILT_C_HANDSHAKE_FAILED,
                      tj->j.detail[0] ? tj->j.detail : hilt_job_status_name(tj->j.status), &sj->r);
    }
    /* Some servers answer a version they do not speak with internal_error or a
     * bare close; the versions this scan found say what the client lacks. */
    int cmax = hilt_client_max_version(sj->c), smin = -1;
    for (int v = 0; v < HILT_TLS_VERSION_COUNT && smin < 0; v++)
        if (t->r.v[v].accepted) smin = v;
    if (!sj->r.connects && cmax >= 0 && smin > cmax &&
        (sj->r.code == HILT_C_HANDSHAKE_FAILED || sj->r.code == HILT_C_CONNECTION_RESET)) {
        char reason[sizeof(sj->r.reason)];
        snprintf(reason, sizeof(reason), "the client offers at most %s; the server's lowest version is %s (%s)",
                 hilt_tls_version_name((enum hilt_tls_version)cmax), hilt_tls_version_name((enum hilt_tls_version)smin),
                 sj->r.reason);
        snprintf(sj->r.reason, sizeof(sj->r.reason), "%s", reason);
        sj->r.code = HILT_C_PROTOCOL_VERSION_MISMATCH;
    }
    t->sim_json[tj->j.tag] = hilt_sim_result_json(&sj->r);
    free(sj);
}

static void phase_clients(struct target *t)
{
    t->next = NULL;
    struct scan *s = t->s;
    if (!s->o->clients || !s->clients) return;
    size_t n = s->clients->n;
    t->sim_json = calloc(n, sizeof(json_t *));
    if (!t->sim_json) return;
    t->nsim = n;
    /* The chain a TLS 1.3 client would see (encrypted in its own handshake). */
    STACK_OF(X509) *chain = NULL;
    for (int i = 0; i < t->r.ncerts && !chain; i++)
        if (!strncmp(t->r.certs[i].via, "TLSv1.3", 7)) chain = t->r.certs[i].chain;
    if (!chain && t->r.ncerts) chain = t->r.certs[0].chain;
    t->sim.host = t->r.sni[0] ? t->r.sni : (t->r.hp.is_ip ? NULL : t->r.hp.host);
    t->sim.store = s->store;
    t->sim.private_anchors = s->o->ca_file != NULL;
    t->sim.chain = chain;
    if (chain) {
        t->sim.aia = hilt_sim_fetch_aia(chain, s->store, s->env.timeout_ms);
        t->sim.aia_fetched = 1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct hilt_client *c = &s->clients->v[i];
        struct sim_judge *sj = calloc(1, sizeof(*sj));
        struct tjob *tj = sj ? new_tjob(t, HILT_JOB_RAW, on_client, -1) : NULL;
        if (!tj) {
            free(sj);
            continue;
        }
        sj->c = c;
        sj->st = &t->sim;
        tj->j.tag = (int)i;
        tj->j.judge = sim_judge_cb;
        tj->j.judge_ctx = sj;
        if (hilt_sim_hello(c, &t->sim, &tj->j.hello, NULL) < 0) {
            hilt_sim_fail(c, HILT_C_HANDSHAKE_FAILED, "hilt cannot build this client's hello", &sj->r);
            t->sim_json[i] = hilt_sim_result_json(&sj->r);
            hilt_scan_job_clear(&tj->j);
            free(tj);
            free(sj);
            continue;
        }
        submit(t, tj);
    }
}

static void run_phase(struct target *t, phase_fn p)
{
    while (p) {
        t->next = NULL;
        p(t);
        if (t->pending > 0) return;
        p = t->next;
    }
    target_done(t);
}

/* ---------- analysis: findings and conformance ---------- */

static void suites_with(const struct hilt_scan_result *r, uint32_t flag, char *out, size_t cap,
                        int *count)
{
    out[0] = '\0';
    *count = 0;
    for (int v = 0; v < HILT_TLS_VERSION_COUNT; v++)
        for (int i = 0; i < r->v[v].nsuites; i++) {
            const struct hilt_cipher *c = hilt_cipher_by_code(r->v[v].suites[i]);
            if (!c || !(c->flags & flag)) continue;
            const char *name = hilt_cipher_name(c);
            if (strstr(out, name)) continue;
            size_t l = strlen(out);
            if (*count < 6)
                snprintf(out + l, cap - l, "%s%s", l ? ", " : "", name);
            else if (*count == 6)
                snprintf(out + l, cap - l, ", …");
            (*count)++;
        }
}

static void cipher_findings(struct hilt_scan_result *r)
{
    static const struct {
        uint32_t flag;
        enum hilt_code code;
    } map[] = {{HILT_CF_EXPORT, HILT_C_EXPORT_CIPHER}, {HILT_CF_NULL, HILT_C_NULL_CIPHER},
               {HILT_CF_ANON, HILT_C_ANON_CIPHER},     {HILT_CF_RC4, HILT_C_RC4_CIPHER},
               {HILT_CF_DES, HILT_C_DES_CIPHER},       {HILT_CF_RC2, HILT_C_DES_CIPHER},
               {HILT_CF_IDEA, HILT_C_DES_CIPHER},      {HILT_CF_3DES, HILT_C_TRIPLE_DES_CIPHER}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        char list[900];
        int n;
        suites_with(r, map[i].flag, list, sizeof(list), &n);
        if (!n) continue;
        if (hilt_findings_get(&r->findings, map[i].code)) continue;
        struct hilt_finding *f = hilt_findings_add(&r->findings, map[i].code, "suites", list, NULL);
        hilt_finding_evidence(f, "%d accepted suite%s: %s", n, n == 1 ? "" : "s", list);
    }
}

static void protocol_findings(struct target *t)
{
    struct hilt_scan_result *r = &t->r;
    if (r->v[HILT_SSL3].accepted) {
        struct hilt_finding *f = hilt_findings_add(&r->findings, HILT_C_SSL3_ENABLED, NULL);
        hilt_finding_evidence(f, "an SSLv3 ClientHello got an SSLv3 ServerHello");
    }
    char old[40] = "";
    for (int v = HILT_TLS10; v <= HILT_TLS11; v++)
        if (r->v[v].accepted) {
            size_t l = strlen(old);
            snprintf(old + l, sizeof(old) - l, "%s%s", l ? " and " : "",
                     hilt_tls_version_name((enum hilt_tls_version)v));
        }
    if (old[0]) {
        struct hilt_finding *f =
            hilt_findings_add(&r->findings, HILT_C_DEPRECATED_PROTOCOL, "version", old, NULL);
        hilt_finding_evidence(f, "the server accepts %s", old);
    }
    cipher_findings(r);
    if (r->dh_bits && r->dh_bits < 2048) {
        char bits[16];
        snprintf(bits, sizeof(bits), "%d", r->dh_bits);
        struct hilt_finding *f =
            hilt_findings_add(&r->findings, HILT_C_WEAK_DH, "bits", bits, NULL);
        hilt_finding_evidence(f, "a DHE suite's ServerKeyExchange carries a %d-bit prime",
                              r->dh_bits);
    }
    if (r->compression == 1) {
        struct hilt_finding *f = hilt_findings_add(&r->findings, HILT_C_TLS_COMPRESSION, NULL);
        hilt_finding_evidence(f, "the server chose DEFLATE (compression method 1) when offered");
    }
    if (r->secure_reneg == 0) {
        struct hilt_finding *f =
            hilt_findings_add(&r->findings, HILT_C_INSECURE_RENEGOTIATION, NULL);
        hilt_finding_evidence(f, "the ServerHello has no renegotiation_info extension although the "
                                 "client sent the SCSV");
    }
    if (r->fallback_scsv == 0) {
        struct hilt_finding *f = hilt_findings_add(&r->findings, HILT_C_NO_FALLBACK_SCSV, NULL);
        hilt_finding_evidence(f, "a hello below the best version with TLS_FALLBACK_SCSV was "
                                 "answered, not refused with inappropriate_fallback");
    }
}

static void cert_findings(struct target *t)
{
    struct scan *s = t->s;
    const char *name = t->r.sni[0] ? t->r.sni : t->r.hp.host;
    for (int i = 0; i < t->r.ncerts; i++) {
        struct hilt_chain_check cc = {.chain = t->r.certs[i].chain,
                                      .store = s->store,
                                      .store_is_custom = s->o->ca_file != NULL,
                                      .at = hilt_now(),
                                      .sec_level = 2,
                                      .name = name,
                                      .timeout_ms = s->env.timeout_ms,
                                      .fetch_aia = 1,
                                      .check_revocation = !s->o->no_revocation,
                                      .staple = i == 0 ? t->staple : NULL,
                                      .staple_len = i == 0 ? t->staple_len : 0,
                                      .staple_requested = 0,
                                      .peer_clock_unread = 1};
        struct hilt_chain_result cr;
        struct hilt_err e = {0};
        hilt_chain_analyse(&cc, &t->r.findings, &cr, &e);
    }
}

static void add_violation(json_t *arr, const char *rule, const char *expected, const char *actual)
{
    json_t *v = json_object();
    json_object_set_new(v, "rule", json_string(rule));
    json_object_set_new(v, "expected", hilt_json_str(expected));
    json_object_set_new(v, "actual", hilt_json_str(actual));
    json_array_append_new(arr, v);
}

static void join_codes(const uint16_t *v, size_t n, int kind, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL;
        char hex[8];
        if (kind == 0) {
            const struct hilt_cipher *c = hilt_cipher_by_code(v[i]);
            name = c ? hilt_cipher_name(c) : NULL;
        } else if (kind == 1) {
            const struct hilt_group *g = hilt_group_by_code(v[i]);
            name = g ? g->iana : NULL;
        } else {
            const struct hilt_sigalg *sg = hilt_sigalg_by_code(v[i]);
            name = sg ? sg->iana : NULL;
        }
        if (!name) {
            snprintf(hex, sizeof(hex), "0x%04x", v[i]);
            name = hex;
        }
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", l ? ", " : "", name);
    }
}

static void conformance(struct target *t)
{
    const struct hilt_profile *p = t->r.profile;
    const struct hilt_scan_result *r = &t->r;
    if (!p) return;
    json_t *c = json_object(), *viol = json_array();
    char exp[2048], act[2048];
    /* versions */
    exp[0] = '\0';
    for (int v = 0; v < HILT_TLS_VERSION_COUNT; v++)
        if (hilt_profile_allows_version(p, (enum hilt_tls_version)v)) {
            size_t l = strlen(exp);
            snprintf(exp + l, sizeof(exp) - l, "%s%s", l ? ", " : "",
                     hilt_tls_version_name((enum hilt_tls_version)v));
        }
    int any_allowed = 0;
    for (int v = 0; v < HILT_TLS_VERSION_COUNT; v++) {
        if (!r->v[v].accepted) continue;
        if (hilt_profile_allows_version(p, (enum hilt_tls_version)v)) {
            any_allowed = 1;
            continue;
        }
        snprintf(act, sizeof(act), "%s accepted", hilt_tls_version_name((enum hilt_tls_version)v));
        add_violation(viol, "versions", exp, act);
    }
    if (!any_allowed && r->reachable) add_violation(viol, "versions", exp, "none of them accepted");
    /* ciphers per version */
    for (int v = 0; v < HILT_TLS_VERSION_COUNT; v++) {
        const struct hilt_scan_version *sv = &r->v[v];
        if (!sv->accepted || !hilt_profile_allows_version(p, (enum hilt_tls_version)v)) continue;
        uint16_t bad[HILT_SCAN_MAX_SUITES];
        size_t nb = 0;
        for (int i = 0; i < sv->nsuites; i++)
            if (!hilt_profile_allows_cipher(p, (enum hilt_tls_version)v, sv->suites[i]))
                bad[nb++] = sv->suites[i];
        if (!nb) continue;
        const struct hilt_u16list *allowed = v == HILT_TLS13 ? &p->tls13_ciphersuites : &p->ciphers;
        join_codes(allowed->v, allowed->n, 0, exp, sizeof(exp));
        join_codes(bad, nb, 0, act, sizeof(act));
        char rule[32];
        snprintf(rule, sizeof(rule), "ciphers.%s", hilt_tls_version_name((enum hilt_tls_version)v));
        char actual[2100];
        snprintf(actual, sizeof(actual), "also accepts %s", act);
        add_violation(viol, rule, exp[0] ? exp : "(none)", actual);
    }
    /* server order */
    if (p->server_preference)
        for (int v = 0; v < HILT_TLS_VERSION_COUNT; v++)
            if (r->v[v].accepted && r->v[v].server_order == 0 && v != HILT_TLS13) {
                char rule[48];
                snprintf(rule, sizeof(rule), "server_preference.%s",
                         hilt_tls_version_name((enum hilt_tls_version)v));
                add_violation(viol, rule, "the server enforces its cipher order",
                              "the server follows the client's order");
            }
    /* groups */
    if (p->groups.n) {
        uint16_t bad[HILT_SCAN_MAX_LIST * 2];
        size_t nb = 0;
        for (int i = 0; i < r->ngroups13; i++)
            if (!hilt_profile_allows_group(p, r->groups13[i])) bad[nb++] = r->groups13[i];
        for (int i = 0; i < r->ngroups12; i++)
            if (!hilt_profile_allows_group(p, r->groups12[i]) &&
                !list_has(bad, (int)nb, r->groups12[i]))
                bad[nb++] = r->groups12[i];
        if (nb) {
            join_codes(p->groups.v, p->groups.n, 1, exp, sizeof(exp));
            join_codes(bad, nb, 1, act, sizeof(act));
            char actual[2100];
            snprintf(actual, sizeof(actual), "also accepts %s", act);
            add_violation(viol, "groups", exp, actual);
        }
    }
    if (p->dh_min_bits && r->dh_bits && r->dh_bits < p->dh_min_bits) {
        snprintf(exp, sizeof(exp), "DHE groups of at least %d bits", p->dh_min_bits);
        snprintf(act, sizeof(act), "a %d-bit DHE group", r->dh_bits);
        add_violation(viol, "dh_min_bits", exp, act);
    }
    /* signature algorithms */
    if (p->signature_algorithms.n) {
        uint16_t bad[HILT_SCAN_MAX_LIST * 2];
        size_t nb = 0;
        for (int i = 0; i < r->nsigalgs13; i++)
            if (!hilt_profile_allows_sigalg(p, r->sigalgs13[i])) bad[nb++] = r->sigalgs13[i];
        for (int i = 0; i < r->nsigalgs12; i++)
            if (!hilt_profile_allows_sigalg(p, r->sigalgs12[i]) &&
                !list_has(bad, (int)nb, r->sigalgs12[i]))
                bad[nb++] = r->sigalgs12[i];
        if (nb) {
            join_codes(p->signature_algorithms.v, p->signature_algorithms.n, 2, exp, sizeof(exp));
            join_codes(bad, nb, 2, act, sizeof(act));
            char actual[2100];
            snprintf(actual, sizeof(actual), "also signs with %s", act);
            add_violation(viol, "signature_algorithms", exp, actual);
        }
    }
    /* certificates */
    const struct hilt_cert_rules *cr = &p->certificate;
    for (int i = 0; i < r->ncerts; i++) {
        X509 *leaf = sk_X509_value(r->certs[i].chain, 0);
        EVP_PKEY *k = X509_get0_pubkey(leaf);
        char kd[32] = "unknown";
        if (k) hilt_key_describe(k, kd, sizeof(kd));
        unsigned kt = !k                            ? 0
                      : EVP_PKEY_is_a(k, "RSA")     ? HILT_KEYTYPE_RSA
                      : EVP_PKEY_is_a(k, "EC")      ? HILT_KEYTYPE_ECDSA
                      : EVP_PKEY_is_a(k, "ED25519") ? HILT_KEYTYPE_ED25519
                      : EVP_PKEY_is_a(k, "ED448")   ? HILT_KEYTYPE_ED448
                      : EVP_PKEY_is_a(k, "DSA")     ? HILT_KEYTYPE_DSA
                                                    : 0;
        if (cr->key_types && !(cr->key_types & kt)) {
            exp[0] = '\0';
            for (unsigned b = 1; b <= HILT_KEYTYPE_DSA; b <<= 1)
                if (cr->key_types & b) {
                    size_t l = strlen(exp);
                    snprintf(exp + l, sizeof(exp) - l, "%s%s", l ? ", " : "",
                             hilt_key_type_name(b));
                }
            snprintf(act, sizeof(act), "a %s key (%s)", kd, r->certs[i].via);
            add_violation(viol, "certificate.key", exp, act);
        } else if (kt == HILT_KEYTYPE_RSA && cr->rsa_min_bits &&
                   EVP_PKEY_get_bits(k) < cr->rsa_min_bits) {
            snprintf(exp, sizeof(exp), "RSA of at least %d bits", cr->rsa_min_bits);
            snprintf(act, sizeof(act), "%s", kd);
            add_violation(viol, "certificate.key", exp, act);
        }
        if (cr->max_lifetime_days) {
            long days = (long)((hilt_cert_not_after(leaf) - hilt_cert_not_before(leaf)) / 86400);
            if (days > cr->max_lifetime_days) {
                snprintf(exp, sizeof(exp), "at most %d days", cr->max_lifetime_days);
                snprintf(act, sizeof(act), "%ld days", days);
                add_violation(viol, "certificate.lifetime", exp, act);
            }
        }
    }
    if (cr->ocsp_stapling && r->ncerts && r->ocsp_stapled != 1)
        add_violation(viol, "certificate.ocsp_stapling", "a stapled OCSP response", "no staple");
    json_object_set_new(c, "profile", json_string(p->name));
    json_object_set_new(c, "pass", json_boolean(json_array_size(viol) == 0));
    json_object_set_new(c, "violations", viol);
    t->r.conformance = c;
}

static void analyse(struct target *t)
{
    struct hilt_scan_result *r = &t->r;
    if (!r->reachable) {
        if (r->net == HILT_NET_DNS) {
            struct hilt_finding *f =
                hilt_findings_add(&r->findings, HILT_C_DNS_FAILED, "host", r->hp.host, NULL);
            hilt_finding_evidence(f, "%s", r->error);
        } else {
            char tmo[16];
            snprintf(tmo, sizeof(tmo), "%d", t->s->env.timeout_ms);
            struct hilt_finding *f = hilt_findings_add(
                &r->findings,
                r->net == HILT_NET_REFUSED ? HILT_C_CONNECT_REFUSED : HILT_C_CONNECT_TIMEOUT,
                "addr", r->addr, "timeout_ms", tmo, NULL);
            hilt_finding_evidence(f, "%s", r->error[0] ? r->error : "no connection");
        }
    } else {
        int any = 0;
        for (int v = 0; v < HILT_TLS_VERSION_COUNT; v++)
            any |= r->v[v].accepted;
        if (!any) {
            if (t->saw_not_tls) {
                char d[120];
                snprintf(d, sizeof(d), "\"%s\"", t->not_tls_bytes);
                struct hilt_finding *f = hilt_findings_add(&r->findings, HILT_C_NOT_TLS, "addr",
                                                           r->addr, "detail", d, NULL);
                hilt_finding_evidence(f, "first bytes from the peer: %s", d);
            } else if (t->saw_starttls_fail) {
                struct hilt_finding *f = hilt_findings_add(&r->findings, HILT_C_HANDSHAKE_FAILED,
                                                           "detail", r->error, NULL);
                hilt_finding_evidence(f, "%s", r->error);
            } else {
                char d[200];
                snprintf(d, sizeof(d), "no protocol version from SSLv3 to TLSv1.3 was accepted%s%s",
                         t->saw_alert ? " (alert " : "", t->saw_alert ? "" : "");
                if (t->saw_alert)
                    snprintf(d, sizeof(d),
                             "no protocol version from SSLv3 to TLSv1.3 was accepted (the server "
                             "answered with alert %s)",
                             hilt_tls_alert_name(t->alert_desc));
                else if (t->saw_timeout)
                    snprintf(d, sizeof(d),
                             "no protocol version from SSLv3 to TLSv1.3 was accepted (no answer in "
                             "time)");
                else if (t->saw_closed)
                    snprintf(d, sizeof(d),
                             "no protocol version from SSLv3 to TLSv1.3 was accepted (the server "
                             "closed the connection)");
                hilt_findings_add(&r->findings,
                                  t->saw_timeout && !t->saw_alert ? HILT_C_HANDSHAKE_TIMEOUT
                                                                  : HILT_C_HANDSHAKE_FAILED,
                                  "detail", d, "addr", r->addr, "timeout_ms", "", NULL);
            }
        }
        protocol_findings(t);
        cert_findings(t);
    }
    hilt_findings_sort(&r->findings);
    conformance(t);
    if (t->sim_json) {
        r->clients = json_array();
        for (size_t i = 0; i < t->nsim; i++)
            if (t->sim_json[i]) json_array_append(r->clients, t->sim_json[i]);
    }
}

/* ---------- targets and the fleet ---------- */

static void start_next_targets(struct scan *s);

static void free_target(struct target *t)
{
    for (int i = 0; i < t->r.ncerts; i++)
        sk_X509_pop_free(t->r.certs[i].chain, X509_free);
    hilt_findings_free(&t->r.findings);
    json_decref(t->r.conformance);
    json_decref(t->r.clients);
    free(t->staple);
    SSL_SESSION_free(t->sess_ticket);
    SSL_SESSION_free(t->sess_id);
    sk_X509_pop_free(t->sim.aia, X509_free);
    for (size_t i = 0; t->sim_json && i < t->nsim; i++) json_decref(t->sim_json[i]);
    free(t->sim_json);
    free(t);
}

static void target_done(struct target *t)
{
    struct scan *s = t->s;
    struct scan_shared *sh = s->sh;
    t->r.duration_us = hilt_mono_us() - t->t0;
    analyse(t);
    pthread_mutex_lock(&sh->lock);
    if (hilt_scan_result_failed(&t->r)) sh->failed = 1;
    sh->cb(sh->cb_arg, &t->r);
    sh->finished++;
    pthread_mutex_unlock(&sh->lock);
    if (t->prev_live) t->prev_live->next_live = t->next_live;
    else s->live = t->next_live;
    if (t->next_live) t->next_live->prev_live = t->prev_live;
    free_target(t);
    s->active--;
    start_next_targets(s);
    if (s->active == 0) event_base_loopexit(s->base, NULL);
}

static void dns_done(int err, struct evutil_addrinfo *res, void *arg)
{
    struct target *t = arg;
    t->dns = NULL;
    if (err) {
        t->r.net = HILT_NET_DNS;
        snprintf(t->r.error, sizeof(t->r.error), "cannot resolve '%s': %s", t->r.hp.host,
                 evutil_gai_strerror(err));
        if (res) evutil_freeaddrinfo(res);
        target_done(t);
        return;
    }
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addrlen = (socklen_t)res->ai_addrlen;
    hilt_sockaddr_fmt(res->ai_addr, t->r.addr, sizeof(t->r.addr));
    evutil_freeaddrinfo(res);
    run_phase(t, phase_versions);
}

static void start_target(struct scan *s, size_t i)
{
    const struct hilt_scan_target *spec = &s->sh->targets[i];
    struct target *t = calloc(1, sizeof(*t));
    if (!t) return;
    t->s = s;
    t->index = (int)i;
    t->t0 = hilt_mono_us();
    t->next_live = s->live;
    if (s->live) s->live->prev_live = t;
    s->live = t;
    s->active++;
    struct hilt_scan_result *r = &t->r;
    snprintf(r->target, sizeof(r->target), "%s", spec->target);
    hilt_findings_init(&r->findings);
    r->ocsp_stapled = r->secure_reneg = r->compression = r->fallback_scsv = -1;
    r->resume_ids = r->resume_tickets = -1;
    for (int v = 0; v < HILT_TLS_VERSION_COUNT; v++)
        r->v[v].server_order = -1;
    uint16_t defport = s->o->starttls ? hilt_starttls_find(s->o->starttls)->default_port : 443;
    hilt_hostport_parse(spec->target, defport, &r->hp, NULL); /* validated before the run */
    if (s->o->sni)
        snprintf(r->sni, sizeof(r->sni), "%s", s->o->sni);
    else if (!r->hp.is_ip)
        snprintf(r->sni, sizeof(r->sni), "%s", r->hp.host);
    const char *pname = spec->profile ? spec->profile : s->o->profile;
    if (pname)
        r->profile = hilt_profile_find(s->policy, pname, NULL);
    else if (s->o->policy) {
        const struct hilt_environment *env =
            hilt_policy_match_endpoint(s->o->policy, r->hp.host, r->hp.port);
        if (env) r->profile = hilt_profile_find(s->policy, env->profile, NULL);
    }
    char port[8];
    snprintf(port, sizeof(port), "%u", r->hp.port);
    struct evutil_addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = r->hp.is_ip ? EVUTIL_AI_NUMERICHOST : 0;
    t->dns = evdns_getaddrinfo(s->dns, r->hp.host, port, &hints, dns_done, t);
}

static void start_next_targets(struct scan *s)
{
    while (s->active < s->limit) {
        pthread_mutex_lock(&s->sh->lock);
        size_t i = s->sh->next < s->sh->ntargets ? s->sh->next++ : s->sh->ntargets;
        pthread_mutex_unlock(&s->sh->lock);
        if (i >= s->sh->ntargets) return;
        start_target(s, i);
    }
}

static SSL_CTX *make_ctx(int max_version, int no_ticket, struct hilt_err *e)
{
    const struct hilt_client_profile *all = hilt_client_profile_find("all");
    struct hilt_tls_opts o = {.profile = all, .max_version = max_version};
    SSL_CTX *ctx = hilt_tls_client_ctx(&o, e);
    if (!ctx) return NULL;
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    if (no_ticket) SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    return ctx;
}

/* Set up a worker's loop, resolver and contexts. */
static int worker_init(struct scan *w, struct hilt_err *e)
{
    w->e = &w->err;
    w->base = event_base_new();
    if (!w->base) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    w->dns = evdns_base_new(w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (!w->dns) w->dns = evdns_base_new(w->base, 0); /* no resolv.conf: numeric hosts and /etc/hosts still work */
    if (!w->dns) return hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot set up name resolution");
    evdns_base_load_hosts(w->dns, NULL);
    w->env.base = w->base;
    w->env.timeout_ms = w->o->timeout_ms > 0 ? w->o->timeout_ms : DEFAULT_TIMEOUT_MS;
    w->env.starttls = w->o->starttls ? hilt_starttls_find(w->o->starttls) : NULL;
    w->env.host = w->o->sni; /* xmpp's to='' (localhost when absent) */
    if (!(w->ctx_all = make_ctx(0, 0, e)) || !(w->ctx_noticket = make_ctx(TLS1_2_VERSION, 1, e))) return -1;
    return 0;
}

static void worker_free(struct scan *w)
{
    while (w->live) {
        struct target *t = w->live;
        w->live = t->next_live;
        free_target(t);
    }
    SSL_CTX_free(w->ctx_all);
    SSL_CTX_free(w->ctx_noticket);
    for (int i = 0; i < w->nsig13; i++) SSL_CTX_free(w->sig13[i].ctx);
    if (w->dns) evdns_base_free(w->dns, 0);
    if (w->base) event_base_free(w->base);
}

static void *worker_run(void *arg)
{
    struct scan *w = arg;
    start_next_targets(w);
    if (w->active) event_base_dispatch(w->base);
    return NULL;
}

int hilt_scan_run(const struct hilt_scan_opts *o, const struct hilt_scan_target *targets, size_t n,
                  hilt_scan_report_fn cb, void *arg, struct hilt_err *e)
{
    if (hilt_catalogue_load(e) < 0) return -1;
    const struct hilt_policy *policy = o->policy ? o->policy : hilt_policy_builtin(e);
    if (!policy) return -1;
    if (o->starttls && !hilt_starttls_find(o->starttls))
        return hilt_err_set(e, HILT_E_USAGE, 0, "--starttls '%s' is not one of %s", o->starttls,
                            hilt_starttls_names());
    /* Validate every target and profile before scanning anything. */
    for (size_t i = 0; i < n; i++) {
        struct hilt_hostport hp;
        if (hilt_hostport_parse(targets[i].target, 443, &hp, e) < 0) return -1;
        const char *pn = targets[i].profile ? targets[i].profile : o->profile;
        if (pn && !hilt_profile_find(policy, pn, e)) return -1;
    }
    const struct hilt_clients *clients = NULL;
    if (o->clients && !(clients = hilt_clients_builtin(e))) return -1;
    X509_STORE *store = hilt_store_new(o->ca_file, e);
    if (!store) {
        if (o->ca_file) hilt_err_prefix(e, "--ca-file");
        return -1;
    }
    pthread_once(&suite_lists_once, build_suite_lists);
    struct scan_shared sh = {.targets = targets, .ntargets = n, .cb = cb, .cb_arg = arg};
    pthread_mutex_init(&sh.lock, NULL);
    /* One event loop per core, each with its share of the concurrency. */
    int concurrency = o->concurrency > 0 ? o->concurrency : DEFAULT_CONCURRENCY;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int nw = (int)(cpus > 0 ? cpus : 1);
    if (nw > 8) nw = 8;
    if ((size_t)nw > n) nw = (int)(n ? n : 1);
    if (nw > concurrency) nw = concurrency;
    struct scan *w = calloc((size_t)nw, sizeof(*w));
    pthread_t *th = calloc((size_t)nw, sizeof(*th));
    int rc = -1, started = 0;
    if (!w || !th) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        goto out;
    }
    for (int i = 0; i < nw; i++) {
        w[i] = (struct scan){.sh = &sh, .o = o, .policy = policy, .store = store, .clients = clients};
        w[i].limit = concurrency / nw + (i < concurrency % nw);
        if (worker_init(&w[i], e) < 0) goto out;
    }
    for (int i = 1; i < nw; i++) {
        if (pthread_create(&th[i], NULL, worker_run, &w[i]) != 0) break;
        started = i;
    }
    worker_run(&w[0]);
    for (int i = 1; i <= started; i++) pthread_join(th[i], NULL);
    /* A worker whose thread could not start leaves its targets to the others. */
    if (sh.finished < n) worker_run(&w[0]);
    rc = 0;
out:
    for (int i = 0; w && i < nw; i++) worker_free(&w[i]);
    free(w);
    free(th);
    pthread_mutex_destroy(&sh.lock);
    X509_STORE_free(store);
    return rc;
}
