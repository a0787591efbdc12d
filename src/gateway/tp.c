/* tp.c - certificates from hilt's CA and ticket keys from the store, for the
 * gateway (tp.h). Everything here blocks (store round trips, the signer
 * exchange, fsync), so it runs off the serving path: on the main thread
 * while a configuration is being built, and on the tp thread for renewals
 * and ticket polls. Workers never wait on it.
 */
#include "gateway/tp.h"

#include "ca/ca.h"
#include "ca/signer.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/log.h"
#include "gateway/tickets.h"
#include "store/store.h"
#include "telemetry/metrics.h"
#include "x509/key.h"
#include "x509/pem.h"
#include "x509/summary.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define TP_MAX_CAS 16
#define TP_TICK_MS 250

struct slot {
    char listener[128];
    char id[16];
    char **names;
    size_t nnames;
    char key_type[32];
    int64_t lifetime, renew_before;
    char ca[128];
    char *owner, *service, *env;
    char dir[4200];
    /* the certificate now */
    X509 *leaf;
    STACK_OF(X509) * chain; /* leaf first, then the CA chain */
    EVP_PKEY *pkey;
    int64_t not_before, not_after, renew_at;
    char serial[64], sha256[65];
    /* renewal state */
    int attempts;
    int64_t next_attempt, last_attempt;
    char last_error[512];
    unsigned long issued, failed;
    int dead; /* not in the running config any more: freed by the tp thread */
};

struct ca_ent {
    char name[128];
    struct hilt_ca *ca;
};

/* Two locks. `mu` serialises the work (every store and CA operation, and
 * growing or shrinking the slots array): the tp thread holds it through a
 * tick, the main thread only when it must issue. `lk` is held briefly around
 * what readers look at (the slots array, each slot's certificate and renewal
 * state, the ticket counters and settings), so /status, /metrics and a
 * generation build never wait for a slow store. Order: mu, then lk. */
struct gw_tp {
    pthread_mutex_t mu, lk;
    struct slot **slots;
    size_t nslots;
    /* certificates */
    char *store_url; /* as configured (NULL: $HILT_HOME/hilt.db) */
    int store_open, store_reopen;
    struct hilt_store *st;
    struct ca_ent cas[TP_MAX_CAS];
    size_t ncas;
    char home[4096];
    char *self_exe;
    char host[256], actor[300];
    /* tickets */
    struct gw_tickets *t;
    char *tstore_url, *tstore_key, *ring;
    struct hilt_store *tst;
    int tst_reopen;
    struct gw_wrap wrap;
    struct gw_tsync ts;
    int rotate_s, keep, poll_ms;
    int64_t next_poll_ms;
    unsigned long syncs_ok, syncs_failed, keys_made;
    int64_t last_sync_ok;
    char tlast_error[512];
    int fallback; /* the store was unreachable past every key's window: a local key */
    int64_t fallback_rotated_ms;
    /* the thread */
    pthread_t th;
    int started, stop;
    pthread_cond_t cv;
    int notify_fd;
    atomic_int pending;
};

static int64_t mono_ms(void)
{
    return (int64_t)(hilt_mono_us() / 1000);
}

/* ---- timing ---------------------------------------------------------------------------------- */

static uint64_t hex_u64(const char *hex)
{
    uint64_t v = 0;
    for (int i = 0; i < 16 && hex && hex[i]; i++) {
        char c = hex[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
        v = v << 4 | (uint64_t)d;
    }
    return v;
}

int64_t gw_tp_renew_at(int64_t not_after, int64_t lifetime, int64_t renew_before,
                       const char *sha256)
{
    int64_t rb = renew_before > 0 && renew_before < lifetime ? renew_before : lifetime / 3;
    /* the jitter spreads a fleet's renewals, but never pulls one to before half
     * of the time the certificate is meant to serve unrenewed */
    int64_t span = rb / 10;
    if (span > (lifetime - rb) / 2) span = (lifetime - rb) / 2;
    return not_after - rb - (span > 0 ? (int64_t)(hex_u64(sha256) % (uint64_t)(span + 1)) : 0);
}

int64_t gw_tp_backoff(int attempts, int64_t lifetime, const char *id)
{
    int64_t base = lifetime / 20, cap = lifetime / 4;
    if (base > 60) base = 60;
    if (base < 1) base = 1;
    if (cap > 6 * 3600) cap = 6 * 3600;
    if (cap < base) cap = base;
    int64_t b = base;
    for (int i = 1; i < attempts && b < cap; i++)
        b *= 2;
    if (b > cap) b = cap;
    /* ±10 %, from the id and the attempt, so a fleet's retries spread */
    uint64_t h = 1469598103934665603ull;
    for (const char *p = id; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ (uint64_t)attempts) * 1099511628211ull;
    int64_t j = b / 10;
    return b - j + (j > 0 ? (int64_t)(h % (uint64_t)(2 * j + 1)) : 0);
}

/* ---- slots ------------------------------------------------------------------------------------
 */

static void cert_clear(struct slot *s)
{
    X509_free(s->leaf);
    sk_X509_pop_free(s->chain, X509_free);
    EVP_PKEY_free(s->pkey);
    s->leaf = NULL;
    s->chain = NULL;
    s->pkey = NULL;
}

static void slot_free(struct slot *s)
{
    if (!s) return;
    cert_clear(s);
    for (size_t i = 0; i < s->nnames; i++)
        free(s->names[i]);
    free(s->names);
    free(s->owner);
    free(s->service);
    free(s->env);
    free(s);
}

static struct slot *slot_find(struct gw_tp *tp, const char *listener, const char *id)
{
    for (size_t i = 0; i < tp->nslots; i++)
        if (!strcmp(tp->slots[i]->id, id) && !strcmp(tp->slots[i]->listener, listener))
            return tp->slots[i];
    return NULL;
}

static char *dupz(const char *s)
{
    return s ? strdup(s) : NULL;
}

static struct slot *slot_new(struct gw_tp *tp, const char *listener, const struct gw_issuecfg *is)
{
    struct slot *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    snprintf(s->listener, sizeof(s->listener), "%s", listener);
    snprintf(s->id, sizeof(s->id), "%s", is->id);
    s->names = calloc(is->nnames, sizeof(char *));
    if (!s->names) goto oom;
    for (size_t i = 0; i < is->nnames; i++)
        if (!(s->names[s->nnames++] = strdup(is->names[i]))) goto oom;
    snprintf(s->key_type, sizeof(s->key_type), "%s", is->key);
    snprintf(s->ca, sizeof(s->ca), "%s", is->ca);
    s->lifetime = is->lifetime;
    s->renew_before = is->renew_before;
    if ((is->owner && !(s->owner = dupz(is->owner))) ||
        (is->service && !(s->service = dupz(is->service))) ||
        (is->env && !(s->env = dupz(is->env))))
        goto oom;
    /* the cache directory: a name safe in a path, and the id */
    char safe[64];
    size_t k = 0;
    for (const char *p = listener; *p && k + 1 < sizeof(safe); p++)
        safe[k++] = isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_' ? *p : '_';
    safe[k] = 0;
    snprintf(s->dir, sizeof(s->dir), "%s/gateway/%s-%s", tp->home, safe, s->id);
    return s;
oom:
    slot_free(s);
    return NULL;
}

/* ---- certificates on disk -----------------------------------------------------------------------
 */

static int64_t asn1_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
    return (int64_t)timegm(&tm);
}

static int names_covered(const struct slot *s, X509 *leaf)
{
    for (size_t i = 0; i < s->nnames; i++) {
        const char *n = s->names[i];
        int ok = hilt_is_ip_literal(n)
                     ? X509_check_ip_asc(leaf, n, 0) == 1
                     : X509_check_host(leaf, n, 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL) == 1;
        if (!ok) return 0;
    }
    return 1;
}

static int chains_to(struct hilt_ca *ca, X509 *leaf, STACK_OF(X509) * chain)
{
    X509_STORE *xs = X509_STORE_new();
    X509_STORE_CTX *xc = X509_STORE_CTX_new();
    int ok = 0;
    if (!xs || !xc) goto out;
    for (int i = 0; i < sk_X509_num(ca->roots); i++)
        X509_STORE_add_cert(xs, sk_X509_value(ca->roots, i));
    if (X509_STORE_CTX_init(xc, xs, leaf, chain) != 1) goto out;
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(xc), hilt_now());
    ok = X509_verify_cert(xc) == 1;
out:
    X509_STORE_CTX_free(xc);
    X509_STORE_free(xs);
    ERR_clear_error();
    return ok;
}

/* Put a certificate into a slot (taking the references), under lk when given. */
static void install(pthread_mutex_t *lk, struct slot *s, X509 *leaf, STACK_OF(X509) * chain,
                    EVP_PKEY *k)
{
    char serial[64], sha[65];
    int64_t nb = asn1_time(X509_get0_notBefore(leaf)), na = asn1_time(X509_get0_notAfter(leaf));
    hilt_serial_hex(leaf, serial, sizeof(serial));
    unsigned char d[32];
    unsigned dl = 0;
    X509_digest(leaf, EVP_sha256(), d, &dl);
    for (unsigned i = 0; i < dl && i < 32; i++)
        snprintf(sha + 2 * i, 3, "%02x", d[i]);
    sha[64] = 0;
    struct slot old = {0};
    if (lk) pthread_mutex_lock(lk);
    old.leaf = s->leaf;
    old.chain = s->chain;
    old.pkey = s->pkey;
    s->leaf = leaf;
    s->chain = chain;
    s->pkey = k;
    s->not_before = nb;
    s->not_after = na;
    memcpy(s->serial, serial, sizeof(serial));
    memcpy(s->sha256, sha, sizeof(sha));
    s->renew_at = gw_tp_renew_at(na, s->lifetime, s->renew_before, sha);
    if (lk) pthread_mutex_unlock(lk);
    cert_clear(&old);
}

/* The cached certificate, when it is still fit to serve: our CA's, the key
 * matches, the names and key type are the config's, and it has not expired.
 * 1 loaded (installed), 0 not usable. */
static int cache_load(pthread_mutex_t *lk, struct slot *s, struct hilt_ca *ca)
{
    char cp[4300], kp[4300];
    snprintf(cp, sizeof(cp), "%s/cert.pem", s->dir);
    snprintf(kp, sizeof(kp), "%s/key.pem", s->dir);
    if (access(cp, R_OK) || access(kp, R_OK)) return 0;
    struct hilt_err e;
    hilt_err_clear(&e);
    STACK_OF(X509) *all = hilt_certs_load(cp, &e);
    EVP_PKEY *k = all ? hilt_key_load(kp, &e) : NULL;
    if (!all || !k || sk_X509_num(all) < 1) {
        hilt_warn("gateway: ignoring the cached certificate in %s: %s", s->dir, e.msg);
        sk_X509_pop_free(all, X509_free);
        EVP_PKEY_free(k);
        return 0;
    }
    X509 *leaf = sk_X509_value(all, 0);
    char kd[32];
    hilt_key_describe(k, kd, sizeof(kd));
    int64_t na = asn1_time(X509_get0_notAfter(leaf));
    int usable = X509_check_private_key(leaf, k) == 1 && !strcmp(kd, s->key_type) &&
                 names_covered(s, leaf) && na > hilt_now() + 60 && chains_to(ca, leaf, all);
    ERR_clear_error();
    if (!usable) {
        sk_X509_pop_free(all, X509_free);
        EVP_PKEY_free(k);
        return 0;
    }
    X509_up_ref(leaf);
    install(lk, s, leaf, all, k);
    return 1;
}

/* ---- the store and CAs ----------------------------------------------------------------------- */

static int open_store(struct gw_tp *tp, struct hilt_err *e)
{
    if (tp->st && !tp->store_reopen) return 0;
    struct hilt_store *st = hilt_store_open(tp->store_url, e);
    if (!st) {
        hilt_err_prefix(e, "store");
        return -1;
    }
    if (tp->st) {
        /* a reconnect: the CAs borrow the store (ca.h), so point them at the new one */
        for (size_t i = 0; i < tp->ncas; i++)
            tp->cas[i].ca->st = st;
        hilt_store_close(tp->st);
    }
    tp->st = st;
    tp->store_reopen = 0;
    tp->store_open = 1;
    return 0;
}

static struct hilt_ca *get_ca(struct gw_tp *tp, const char *name, struct hilt_err *e)
{
    if (open_store(tp, e) < 0) return NULL;
    for (size_t i = 0; i < tp->ncas; i++)
        if (!strcmp(tp->cas[i].name, name)) {
            struct hilt_ca *ca = tp->cas[i].ca;
            pid_t sp = hilt_signer_pid(ca->signer);
            if (!hilt_signer_alive(ca->signer)) {
                /* the signer child died: start another (it loads the key itself) */
                struct hilt_signer_proc_opts so = {.exec_path = tp->self_exe};
                hilt_warn("gateway: CA '%s': the signer process %d is gone; starting another", name,
                          (int)sp);
                if (hilt_ca_use_signer_process(ca, &so, e) < 0) return NULL;
            }
            return ca;
        }
    if (tp->ncas == TP_MAX_CAS) {
        hilt_err_set(e, HILT_E_INPUT, 0, "at most %d CAs", TP_MAX_CAS);
        return NULL;
    }
    if (tp->started && !tp->self_exe) {
        /* forking a key holder from a threaded process needs a re-exec */
        hilt_err_set(e, HILT_E_RUNTIME, 0,
                     "CA '%s' was not in use at start; restart the gateway to use it", name);
        return NULL;
    }
    struct hilt_ca *ca = hilt_ca_open(tp->st, tp->home, name, e);
    if (!ca) return NULL;
    /* a network-facing process never holds the CA key: sign through a child */
    struct hilt_signer_proc_opts so = {.exec_path = tp->self_exe};
    if (hilt_ca_use_signer_process(ca, &so, e) < 0) {
        hilt_ca_close(ca);
        return NULL;
    }
    hilt_info("gateway: CA '%s' signs through signer process %d (store %s)", name,
              (int)hilt_signer_pid(ca->signer), hilt_store_kind(tp->st));
    snprintf(tp->cas[tp->ncas].name, sizeof(tp->cas[0].name), "%s", name);
    tp->cas[tp->ncas++].ca = ca;
    return ca;
}

/* Issue a new certificate for s through its CA, write it to the cache, record
 * it in the inventory and install it. Holds the cache directory's lock, and
 * first adopts a newer certificate another gateway process on this host put
 * there. tp->mu is held. */
static int slot_issue(struct gw_tp *tp, struct slot *s, struct hilt_err *e)
{
    struct hilt_ca *ca = get_ca(tp, s->ca, e);
    if (!ca) return -1;
    if (hilt_mkdir_p(s->dir, 0700, e) < 0) return -1;
    char lp[4300], cp[4300], kp[4300], pipeline[200], loc[400];
    snprintf(lp, sizeof(lp), "%s/.lock", s->dir);
    snprintf(cp, sizeof(cp), "%s/cert.pem", s->dir);
    snprintf(kp, sizeof(kp), "%s/key.pem", s->dir);
    snprintf(pipeline, sizeof(pipeline), "gateway:%s", s->listener);
    snprintf(loc, sizeof(loc), "%s/%s", tp->host, s->listener);
    int lfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0 || flock(lfd, LOCK_EX) < 0) {
        hilt_err_set(e, HILT_E_RUNTIME, errno, "%s: cannot lock: %s", lp, strerror(errno));
        if (lfd >= 0) close(lfd);
        return -1;
    }
    int rc = -1;
    struct hilt_issued out = {0};
    struct hilt_buf pem;
    hilt_buf_init(&pem, 1 << 20);
    char prev[65];
    snprintf(prev, sizeof(prev), "%s", s->sha256);
    int64_t prev_na = s->not_after;
    /* another process on this host may have renewed it meanwhile */
    struct slot probe = *s;
    probe.leaf = NULL;
    probe.chain = NULL;
    probe.pkey = NULL;
    if (cache_load(NULL, &probe, ca) && probe.not_after > prev_na && hilt_now() < probe.renew_at) {
        install(&tp->lk, s, probe.leaf, probe.chain, probe.pkey);
        hilt_info("gateway: %s: took certificate %s from %s (renewed by another process)",
                  s->listener, s->serial, s->dir);
        rc = 0;
        goto out;
    }
    cert_clear(&probe);
    const char *names[100];
    for (size_t i = 0; i < s->nnames && i < 100; i++)
        names[i] = s->names[i];
    struct hilt_issue_req r = {.names = names,
                               .nnames = s->nnames,
                               .key_type = s->key_type,
                               .lifetime = s->lifetime,
                               .owner = s->owner,
                               .service = s->service,
                               .env = s->env,
                               .pipeline = pipeline,
                               .actor = tp->actor};
    if (hilt_ca_issue(ca, &r, &out, e) < 0) {
        hilt_err_prefix(e, "CA '%s'", s->ca);
        /* a store that went away is reopened before the next attempt */
        if (e && e->kind == HILT_E_RUNTIME) tp->store_reopen = 1;
        goto out;
    }
    if (hilt_ca_chain_pem(ca, out.cert, &pem) < 0) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot encode certificate %s", out.serial);
        goto out;
    }
    /* key first: a crash in between leaves a new key beside the old certificate,
     * which cache_load refuses, so the next start issues again */
    if (hilt_key_save(kp, out.key, e) < 0 ||
        hilt_file_write_atomic(cp, pem.data, pem.len, 0644, e) < 0)
        goto out;
    STACK_OF(X509) *chain = sk_X509_new_null();
    if (!chain || !sk_X509_push(chain, out.cert)) {
        sk_X509_free(chain);
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        goto out;
    }
    X509_up_ref(out.cert);
    for (int i = 0; i < sk_X509_num(ca->chain); i++) {
        X509 *x = sk_X509_value(ca->chain, i);
        X509_up_ref(x);
        sk_X509_push(chain, x);
    }
    install(&tp->lk, s, out.cert, chain, out.key);
    out.cert = NULL;
    out.key = NULL;
    /* the inventory: where it is deployed, and the one it replaces */
    struct hilt_err e2;
    hilt_err_clear(&e2);
    if (hilt_store_location_seen(tp->st, s->sha256, "gateway", loc, hilt_now(), &e2) < 0 ||
        (prev[0] && (hilt_store_cert_set_status(tp->st, prev, "superseded", &e2) < 0 ||
                     hilt_store_cert_event(tp->st, prev, "renewed", s->serial, &e2) < 0)))
        hilt_warn("gateway: %s: certificate %s issued, but the inventory was not updated: %s",
                  s->listener, s->serial, e2.msg);
    pthread_mutex_lock(&tp->lk);
    s->issued++;
    pthread_mutex_unlock(&tp->lk);
    char na[32], ra[32];
    hilt_time_fmt_rfc3339(s->not_after, na);
    hilt_time_fmt_rfc3339(s->renew_at, ra);
    hilt_info("gateway: %s: certificate %s issued by CA '%s' for %s%s (valid until %s, renewal "
              "from %s)",
              s->listener, s->serial, s->ca, s->names[0], s->nnames > 1 ? ", …" : "", na, ra);
    rc = 0;
out:
    flock(lfd, LOCK_UN);
    close(lfd);
    hilt_issued_free(&out);
    hilt_buf_free(&pem);
    return rc;
}

/* ---- tickets -------------------------------------------------------------------------------- */

static int ticket_sync(struct gw_tp *tp, struct hilt_err *e)
{
    if (!tp->tst || tp->tst_reopen) {
        struct hilt_store *st = hilt_store_open(tp->tstore_url, e);
        if (!st) {
            hilt_err_prefix(e, "tickets.store");
            return -1;
        }
        hilt_store_close(tp->tst);
        tp->tst = st;
        tp->tst_reopen = 0;
    }
    tp->ts.st = tp->tst;
    pthread_mutex_lock(&tp->lk);
    tp->ts.rotate_s = tp->rotate_s;
    tp->ts.keep = tp->keep;
    pthread_mutex_unlock(&tp->lk);
    if (gw_tickets_sync(tp->t, &tp->ts, hilt_now(), e) < 0) {
        if (e && e->kind == HILT_E_RUNTIME) tp->tst_reopen = 1;
        return -1;
    }
    if (tp->fallback) hilt_info("gateway: tickets: the store is back; shared keys again");
    pthread_mutex_lock(&tp->lk);
    tp->keys_made += (unsigned long)tp->ts.made;
    tp->last_sync_ok = hilt_now();
    tp->fallback = 0;
    pthread_mutex_unlock(&tp->lk);
    return 0;
}

static void ticket_tick(struct gw_tp *tp)
{
    int64_t now = hilt_now();
    gw_tickets_expire(tp->t, now);
    pthread_mutex_lock(&tp->lk);
    int poll_ms = tp->poll_ms, rotate_s = tp->rotate_s, keep = tp->keep;
    pthread_mutex_unlock(&tp->lk);
    if (mono_ms() < tp->next_poll_ms) return;
    tp->next_poll_ms = mono_ms() + poll_ms;
    struct hilt_err e;
    hilt_err_clear(&e);
    if (ticket_sync(tp, &e) == 0) {
        pthread_mutex_lock(&tp->lk);
        tp->syncs_ok++;
        tp->tlast_error[0] = 0;
        pthread_mutex_unlock(&tp->lk);
        return;
    }
    pthread_mutex_lock(&tp->lk);
    tp->syncs_failed++;
    int repeat = !strcmp(tp->tlast_error, e.msg);
    snprintf(tp->tlast_error, sizeof(tp->tlast_error), "%s", e.msg);
    pthread_mutex_unlock(&tp->lk);
    if (!repeat) hilt_warn("gateway: tickets: cannot sync keys with the store: %s", e.msg);
    /* keep serving: the keys already held stay until their windows close; with
     * none left to encrypt, a key of this node's own so resumption still works
     * here (not across nodes) until the store answers again */
    struct gw_tickets_info ti;
    gw_tickets_info(tp->t, &ti);
    if (!ti.current[0] ||
        (tp->fallback && mono_ms() - tp->fallback_rotated_ms >= (int64_t)rotate_s * 1000)) {
        if (!tp->fallback)
            hilt_warn("gateway: tickets: no shared key may encrypt any more; a local key until "
                      "the store answers (resumption works on this node only meanwhile)");
        pthread_mutex_lock(&tp->lk);
        tp->fallback = 1;
        pthread_mutex_unlock(&tp->lk);
        tp->fallback_rotated_ms = mono_ms();
        gw_tickets_rotate(tp->t, keep);
    }
}

/* ---- public --------------------------------------------------------------------------------- */

struct gw_tp *gw_tp_new(const struct gw_config *cfg, const struct gw_tp_opts *o,
                        struct gw_tickets *t, struct hilt_err *e)
{
    struct gw_tp *tp = calloc(1, sizeof(*tp));
    if (!tp) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&tp->mu, NULL);
    pthread_mutex_init(&tp->lk, NULL);
    pthread_cond_init(&tp->cv, NULL);
    atomic_init(&tp->pending, 0);
    tp->notify_fd = -1;
    tp->t = t;
    if (o && o->self_exe && !(tp->self_exe = strdup(o->self_exe))) goto oom;
    if (gethostname(tp->host, sizeof(tp->host)) < 0) snprintf(tp->host, sizeof(tp->host), "?");
    tp->host[sizeof(tp->host) - 1] = 0;
    snprintf(tp->actor, sizeof(tp->actor), "gateway:%s", tp->host);
    if (hilt_home(tp->home, sizeof(tp->home), e) < 0) goto fail;
    if (cfg->store && !(tp->store_url = strdup(cfg->store))) goto oom;
    tp->rotate_s = cfg->ticket_rotate_s;
    tp->keep = cfg->ticket_keep;
    tp->poll_ms = cfg->ticket_poll_ms;
    if (cfg->ticket_store) {
        if (!(tp->tstore_url = strdup(cfg->ticket_store)) ||
            !(tp->tstore_key = strdup(cfg->ticket_store_key)) ||
            !(tp->ring = strdup(cfg->ticket_ring)))
            goto oom;
        if (gw_wrap_load(cfg->ticket_store_key, &tp->wrap, e) < 0) {
            hilt_err_prefix(e, "%s:%d:%d: tickets.store_key", cfg->path, cfg->tickets_at.line,
                            cfg->tickets_at.col);
            goto fail;
        }
        tp->ts.ring = tp->ring;
        tp->ts.wrap = &tp->wrap;
        tp->ts.actor = tp->actor;
        if (ticket_sync(tp, e) < 0) {
            hilt_err_prefix(e, "%s:%d:%d: tickets", cfg->path, cfg->tickets_at.line,
                            cfg->tickets_at.col);
            goto fail;
        }
        tp->syncs_ok++;
        tp->next_poll_ms = mono_ms() + tp->poll_ms;
        struct gw_tickets_info ti;
        gw_tickets_info(t, &ti);
        hilt_info("gateway: tickets: %d key(s) of ring '%s' from the store (%s), current %s; "
                  "%d made here",
                  ti.nkeys, tp->ring, hilt_store_kind(tp->tst), ti.current, tp->ts.made);
    }
    return tp;
oom:
    hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
fail:
    gw_tp_free(&tp);
    return NULL;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

int gw_tp_prepare(struct gw_tp *tp, const struct gw_config *cfg, struct hilt_err *e)
{
    if (!same(cfg->ticket_store, tp->tstore_url) || !same(cfg->ticket_store_key, tp->tstore_key) ||
        (tp->tstore_url && !same(cfg->ticket_ring, tp->ring)))
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "%s:%d:%d: tickets: changing store, store_key or ring needs a restart "
                            "(the running gateway keeps its ticket store)",
                            cfg->path, cfg->tickets_at.line, cfg->tickets_at.col);
    if (tp->store_open && !same(cfg->store, tp->store_url))
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "%s:%d:%d: store: changing the trust plane's store needs a restart",
                            cfg->path, cfg->store_at.line, cfg->store_at.col);
    if (!tp->store_open) {
        pthread_mutex_lock(&tp->mu);
        free(tp->store_url);
        tp->store_url = cfg->store ? strdup(cfg->store) : NULL;
        pthread_mutex_unlock(&tp->mu);
        if (cfg->store && !tp->store_url)
            return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    }
    int rc = 0, work = 0; /* work: holding mu (only to issue) */
    pthread_mutex_lock(&tp->lk);
    tp->rotate_s = cfg->ticket_rotate_s;
    tp->keep = cfg->ticket_keep;
    tp->poll_ms = cfg->ticket_poll_ms;
    pthread_mutex_unlock(&tp->lk);
    for (size_t i = 0; rc == 0 && i < cfg->nlisteners; i++) {
        const struct gw_listenercfg *l = &cfg->listeners[i];
        for (size_t j = 0; rc == 0 && j < l->ncerts; j++) {
            const struct gw_issuecfg *is = l->certs[j].issue;
            if (!is) continue;
            pthread_mutex_lock(&tp->lk);
            struct slot *s = slot_find(tp, l->name, is->id);
            if (s) {
                /* settings that do not make it another certificate */
                s->dead = 0;
                s->lifetime = is->lifetime;
                s->renew_before = is->renew_before;
                if (s->leaf)
                    s->renew_at =
                        gw_tp_renew_at(s->not_after, s->lifetime, s->renew_before, s->sha256);
            }
            pthread_mutex_unlock(&tp->lk);
            if (s) continue;
            if (!work) {
                pthread_mutex_lock(&tp->mu);
                work = 1;
            }
            pthread_mutex_lock(&tp->lk);
            struct slot **v = realloc(tp->slots, (tp->nslots + 1) * sizeof(*v));
            if (v) tp->slots = v;
            if (v && (s = slot_new(tp, l->name, is))) tp->slots[tp->nslots++] = s;
            pthread_mutex_unlock(&tp->lk);
            if (!s) {
                rc = hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
                break;
            }
            struct hilt_ca *ca = get_ca(tp, s->ca, e);
            if (!ca || (!cache_load(&tp->lk, s, ca) && slot_issue(tp, s, e) < 0)) {
                if (!ca && e && e->kind == HILT_E_RUNTIME) tp->store_reopen = 1;
                pthread_mutex_lock(&tp->lk);
                s->failed++;
                s->attempts++;
                snprintf(s->last_error, sizeof(s->last_error), "%s", e ? e->msg : "");
                pthread_mutex_unlock(&tp->lk);
                hilt_err_prefix(e, "%s:%d:%d: listeners.%s.certificates[%zu].issue", cfg->path,
                                is->at.line, is->at.col, l->name, j);
                rc = -1;
                break;
            }
            if (!s->issued) {
                char na[32];
                hilt_time_fmt_rfc3339(s->not_after, na);
                hilt_info("gateway: %s: serving cached certificate %s (valid until %s)", l->name,
                          s->serial, na);
            }
        }
    }
    if (work) pthread_mutex_unlock(&tp->mu);
    return rc;
}

int gw_tp_cert(struct gw_tp *tp, const char *listener, const struct gw_issuecfg *is,
               STACK_OF(X509) * *chain, EVP_PKEY **key, struct hilt_err *e)
{
    *chain = NULL;
    *key = NULL;
    pthread_mutex_lock(&tp->lk);
    struct slot *s = slot_find(tp, listener, is->id);
    int rc = -1;
    if (!s || !s->leaf) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "no certificate from CA '%s' yet%s%s", is->ca,
                     s && s->last_error[0] ? ": " : "", s ? s->last_error : "");
    } else if ((*chain = sk_X509_new_null())) {
        for (int i = 0; i < sk_X509_num(s->chain); i++) {
            X509 *x = sk_X509_value(s->chain, i);
            X509_up_ref(x);
            sk_X509_push(*chain, x);
        }
        EVP_PKEY_up_ref(s->pkey);
        *key = s->pkey;
        rc = 0;
    } else {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    }
    pthread_mutex_unlock(&tp->lk);
    return rc;
}

void gw_tp_retain(struct gw_tp *tp, const struct gw_config *cfg)
{
    /* only marks: the tp thread frees them between its ticks (it may be using one now) */
    pthread_mutex_lock(&tp->lk);
    for (size_t i = 0; i < tp->nslots; i++)
        tp->slots[i]->dead = 1;
    for (size_t i = 0; i < cfg->nlisteners; i++)
        for (size_t j = 0; j < cfg->listeners[i].ncerts; j++) {
            const struct gw_issuecfg *is = cfg->listeners[i].certs[j].issue;
            struct slot *s = is ? slot_find(tp, cfg->listeners[i].name, is->id) : NULL;
            if (s) s->dead = 0;
        }
    pthread_mutex_unlock(&tp->lk);
}

/* Free the slots retain() marked (tp->mu held). */
static void compact(struct gw_tp *tp)
{
    pthread_mutex_lock(&tp->lk);
    size_t k = 0;
    for (size_t i = 0; i < tp->nslots; i++) {
        if (!tp->slots[i]->dead)
            tp->slots[k++] = tp->slots[i];
        else
            slot_free(tp->slots[i]);
    }
    tp->nslots = k;
    pthread_mutex_unlock(&tp->lk);
}

static void renew_tick(struct gw_tp *tp)
{
    int64_t now = hilt_now();
    int renewed = 0;
    for (size_t i = 0; i < tp->nslots; i++) {
        struct slot *s = tp->slots[i];
        if (tp->stop) break;
        if (s->dead || (s->leaf && now < s->renew_at)) continue;
        if (now < s->next_attempt) continue;
        struct hilt_err e;
        hilt_err_clear(&e);
        s->last_attempt = now;
        int ok = slot_issue(tp, s, &e) == 0;
        pthread_mutex_lock(&tp->lk);
        if (ok) {
            s->attempts = 0;
            s->next_attempt = 0;
            s->last_error[0] = 0;
        } else {
            s->failed++;
            s->attempts++;
            s->next_attempt = now + gw_tp_backoff(s->attempts, s->lifetime, s->id);
            snprintf(s->last_error, sizeof(s->last_error), "%s", e.msg);
        }
        pthread_mutex_unlock(&tp->lk);
        if (ok) {
            renewed = 1;
            continue;
        }
        char na[32];
        hilt_time_fmt_rfc3339(s->next_attempt, na);
        hilt_log(HILT_LOG_ERROR,
                 "gateway: %s: renewing the certificate failed (attempt %d, next at %s): %s",
                 s->listener, s->attempts, na, e.msg);
    }
    if (renewed) {
        atomic_store(&tp->pending, 1);
        uint64_t one = 1;
        if (tp->notify_fd >= 0 && write(tp->notify_fd, &one, sizeof(one)) < 0)
            hilt_warn("gateway: cannot wake the main thread for a certificate swap");
    }
}

static void *tp_main(void *arg)
{
    struct gw_tp *tp = arg;
    pthread_mutex_lock(&tp->mu);
    while (!tp->stop) {
        compact(tp);
        if (tp->tstore_url) ticket_tick(tp);
        renew_tick(tp);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TP_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!tp->stop) pthread_cond_timedwait(&tp->cv, &tp->mu, &ts);
    }
    pthread_mutex_unlock(&tp->mu);
    OPENSSL_thread_stop();
    return NULL;
}

int gw_tp_start(struct gw_tp *tp, int notify_fd, struct hilt_err *e)
{
    tp->notify_fd = notify_fd;
    if (!tp->tstore_url && !tp->store_open) return 0; /* nothing to renew or poll yet */
    if (tp->started) return 0;
    if (pthread_create(&tp->th, NULL, tp_main, tp))
        return hilt_err_set(e, HILT_E_RUNTIME, errno, "cannot start the trust-plane thread");
    tp->started = 1;
    return 0;
}

int gw_tp_pending(struct gw_tp *tp)
{
    return tp && atomic_load(&tp->pending);
}

int gw_tp_take(struct gw_tp *tp)
{
    return tp ? atomic_exchange(&tp->pending, 0) : 0;
}

void gw_tp_owe(struct gw_tp *tp)
{
    if (tp) atomic_store(&tp->pending, 1);
}

void gw_tp_free(struct gw_tp **tpp)
{
    if (!tpp || !*tpp) return;
    struct gw_tp *tp = *tpp;
    if (tp->started) {
        pthread_mutex_lock(&tp->mu);
        tp->stop = 1;
        pthread_cond_signal(&tp->cv);
        pthread_mutex_unlock(&tp->mu);
        pthread_join(tp->th, NULL);
    }
    for (size_t i = 0; i < tp->nslots; i++)
        slot_free(tp->slots[i]);
    free(tp->slots);
    for (size_t i = 0; i < tp->ncas; i++)
        hilt_ca_close(tp->cas[i].ca);
    hilt_store_close(tp->st);
    hilt_store_close(tp->tst);
    gw_wrap_clear(&tp->wrap);
    free(tp->store_url);
    free(tp->tstore_url);
    free(tp->tstore_key);
    free(tp->ring);
    free(tp->self_exe);
    pthread_cond_destroy(&tp->cv);
    pthread_mutex_destroy(&tp->lk);
    pthread_mutex_destroy(&tp->mu);
    free(tp);
    *tpp = NULL;
}

/* ---- status and metrics ------------------------------------------------------------------------
 */

json_t *gw_tp_status(struct gw_tp *tp)
{
    json_t *o = json_object(), *cs = json_array();
    pthread_mutex_lock(&tp->lk);
    json_object_set_new(o, "store", tp->st ? json_string(hilt_store_kind(tp->st)) : json_null());
    for (size_t i = 0; i < tp->nslots; i++) {
        struct slot *s = tp->slots[i];
        if (s->dead) continue;
        json_t *c = json_object(), *names = json_array();
        for (size_t n = 0; n < s->nnames; n++)
            json_array_append_new(names, json_string(s->names[n]));
        json_object_set_new(c, "listener", json_string(s->listener));
        json_object_set_new(c, "id", json_string(s->id));
        json_object_set_new(c, "ca", json_string(s->ca));
        json_object_set_new(c, "names", names);
        json_object_set_new(c, "key", json_string(s->key_type));
        json_object_set_new(c, "serial", s->leaf ? json_string(s->serial) : json_null());
        json_object_set_new(c, "sha256", s->leaf ? json_string(s->sha256) : json_null());
        json_object_set_new(c, "not_after", s->leaf ? hilt_json_time(s->not_after) : json_null());
        json_object_set_new(c, "renew_at", s->leaf ? hilt_json_time(s->renew_at) : json_null());
        json_object_set_new(c, "issued", json_integer((json_int_t)s->issued));
        json_object_set_new(c, "failures", json_integer((json_int_t)s->failed));
        json_object_set_new(c, "attempts", json_integer(s->attempts));
        json_object_set_new(c, "next_attempt_at",
                            s->next_attempt ? hilt_json_time(s->next_attempt) : json_null());
        json_object_set_new(c, "last_error",
                            s->last_error[0] ? json_string(s->last_error) : json_null());
        json_array_append_new(cs, c);
    }
    json_object_set_new(o, "certificates", cs);
    struct gw_tickets_info ti;
    gw_tickets_info(tp->t, &ti);
    json_t *t = json_object();
    json_object_set_new(t, "source", json_string(gw_tsource_name(ti.source)));
    json_object_set_new(t, "keys", json_integer(ti.nkeys));
    json_object_set_new(t, "current", ti.current[0] ? json_string(ti.current) : json_null());
    json_object_set_new(t, "rotated", hilt_json_time(ti.rotated));
    if (tp->tstore_url) {
        json_object_set_new(t, "ring", json_string(tp->ring));
        json_object_set_new(t, "store",
                            tp->tst ? json_string(hilt_store_kind(tp->tst)) : json_null());
        json_object_set_new(t, "wrap_id", json_string(tp->wrap.id));
        json_object_set_new(t, "current_period",
                            ti.current_period ? hilt_json_time(ti.current_period) : json_null());
        json_object_set_new(t, "current_not_after",
                            ti.current_not_after ? hilt_json_time(ti.current_not_after)
                                                 : json_null());
        json_object_set_new(t, "syncs", json_integer((json_int_t)tp->syncs_ok));
        json_object_set_new(t, "sync_failures", json_integer((json_int_t)tp->syncs_failed));
        json_object_set_new(t, "keys_made", json_integer((json_int_t)tp->keys_made));
        json_object_set_new(t, "last_sync",
                            tp->last_sync_ok ? hilt_json_time(tp->last_sync_ok) : json_null());
        json_object_set_new(t, "last_error",
                            tp->tlast_error[0] ? json_string(tp->tlast_error) : json_null());
        json_object_set_new(t, "fallback", json_boolean(tp->fallback));
    }
    pthread_mutex_unlock(&tp->lk);
    json_object_set_new(o, "tickets", t);
    return o;
}

int gw_tp_metrics(struct gw_tp *tp, struct hilt_buf *out)
{
    pthread_mutex_lock(&tp->lk);
    size_t live = 0;
    for (size_t i = 0; i < tp->nslots; i++)
        live += !tp->slots[i]->dead;
    if (live) {
        tm_write_header(out, "hilt_gateway_certificate_issued_total", "counter",
                        "Certificates the gateway had its CA issue (start and renewals)");
        for (size_t i = 0; i < tp->nslots; i++)
            if (!tp->slots[i]->dead)
                tm_write_sample(out, "hilt_gateway_certificate_issued_total",
                                (double)tp->slots[i]->issued, "listener", tp->slots[i]->listener,
                                "id", tp->slots[i]->id, NULL);
        tm_write_header(out, "hilt_gateway_certificate_issue_failures_total", "counter",
                        "Failed issuance attempts (each is retried with backoff)");
        for (size_t i = 0; i < tp->nslots; i++)
            if (!tp->slots[i]->dead)
                tm_write_sample(out, "hilt_gateway_certificate_issue_failures_total",
                                (double)tp->slots[i]->failed, "listener", tp->slots[i]->listener,
                                "id", tp->slots[i]->id, NULL);
        tm_write_header(out, "hilt_gateway_certificate_renew_timestamp_seconds", "gauge",
                        "When the gateway renews each issued certificate, as a Unix time");
        for (size_t i = 0; i < tp->nslots; i++) {
            struct slot *s = tp->slots[i];
            if (s->dead) continue;
            int64_t at = s->next_attempt > s->renew_at ? s->next_attempt : s->renew_at;
            tm_write_sample(out, "hilt_gateway_certificate_renew_timestamp_seconds", (double)at,
                            "listener", s->listener, "id", s->id, NULL);
        }
    }
    struct gw_tickets_info ti;
    gw_tickets_info(tp->t, &ti);
    tm_write_header(out, "hilt_ticket_keys", "gauge", "Session-ticket keys held, by source");
    tm_write_sample(out, "hilt_ticket_keys", (double)ti.nkeys, "source", gw_tsource_name(ti.source),
                    NULL);
    if (tp->tstore_url) {
        tm_write_header(out, "hilt_ticket_key_syncs_total", "counter",
                        "Polls of the store for shared ticket keys, by result");
        tm_write_sample(out, "hilt_ticket_key_syncs_total", (double)tp->syncs_ok, "result", "ok",
                        NULL);
        tm_write_sample(out, "hilt_ticket_key_syncs_total", (double)tp->syncs_failed, "result",
                        "failure", NULL);
        tm_write_header(out, "hilt_ticket_keys_made_total", "counter",
                        "Shared ticket keys this node made (first to a rotation period)");
        tm_write_sample(out, "hilt_ticket_keys_made_total", (double)tp->keys_made, NULL);
    }
    pthread_mutex_unlock(&tp->lk);
    return 0;
}
