/* clm.c - plan, apply, rollback and renewal of certificate manifests
 * (docs/clm.md). The order of every apply is what makes it crash-safe:
 * issue, write the revision directory, record it as staged, switch the
 * `current` link (the commit point), record it as applied. Recovery makes
 * the store agree with whatever the link says. */
#include "clm/clm.h"

#include "ca/ca.h"
#include "ca/csr.h"
#include "clm/deploy.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/proc.h"
#include "policy/policy.h"
#include "policy/suites.h"
#include "store/store.h"
#include "x509/key.h"
#include "x509/pem.h"
#include "x509/summary.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RELOAD_TIMEOUT_S 120
#define ROLLBACK_MIN_LEFT 300 /* a revision must stay valid this long to be redeployed */

const char *hilt_clm_action_name(enum hilt_clm_action a)
{
    static const char *const n[] = {"unchanged", "create", "reissue",  "renew",    "redeploy",
                                    "repair",    "update", "rollback", "unmanaged"};
    return (unsigned)a < sizeof(n) / sizeof(n[0]) ? n[a] : "?";
}

/* Fault injection for the crash tests: HILT_CLM_CRASH_AT=POINT makes the
 * process SIGKILL itself at that step of an apply (issued, written, staged,
 * linked, switched, finalized), so every window between the steps is
 * tested, not only the ones a random kill happens to hit. */
static void crash_point(const char *point)
{
    const char *at = getenv("HILT_CLM_CRASH_AT");
    if (at && !strcmp(at, point)) raise(SIGKILL);
}

/* ---- renewal timing --------------------------------------------------------------- */

static uint64_t sha_u64(const char *hex)
{
    uint64_t v = 0;
    for (int i = 0; i < 16 && hex && hex[i]; i++) {
        char c = hex[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
        v = v << 4 | (uint64_t)d;
    }
    return v;
}

int64_t hilt_clm_renew_at(const struct hilt_manifest *m, int64_t not_before, int64_t not_after,
                          const char *sha256)
{
    int64_t life = not_after - not_before, base, span;
    if (life <= 0) return not_after;
    if (m && m->renew_before > 0 && m->renew_before < life) {
        base = not_after - m->renew_before;
        span = m->renew_before / 10;
    } else {
        base = not_before + life * 2 / 3;
        span = life / 12;
    }
    return base - (span > 0 ? (int64_t)(sha_u64(sha256) % (uint64_t)(span + 1)) : 0);
}

int64_t hilt_clm_backoff(int64_t attempts, const char *name)
{
    int64_t b = 60;
    for (int64_t i = 1; i < attempts && b < 6 * 3600; i++)
        b *= 2;
    if (b > 6 * 3600) b = 6 * 3600;
    /* ±10 %, from the name and the attempt, so retries of a fleet spread */
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ (uint64_t)attempts) * 1099511628211ull;
    int64_t j = b / 10;
    return b - j + (j > 0 ? (int64_t)(h % (uint64_t)(2 * j + 1)) : 0);
}

/* ---- context ----------------------------------------------------------------------- */

struct ca_slot {
    char name[128];
    struct hilt_ca *ca;
};

struct run {
    const struct hilt_clm_opts *o;
    struct ca_slot cas[16];
    size_t ncas;
    struct hilt_err *e;
};

static void run_free(struct run *r)
{
    for (size_t i = 0; i < r->ncas; i++)
        hilt_ca_close(r->cas[i].ca);
    r->ncas = 0;
}

static struct hilt_ca *ca_for(struct run *r, const char *name, struct hilt_err *e)
{
    for (size_t i = 0; i < r->ncas; i++)
        if (!strcmp(r->cas[i].name, name)) return r->cas[i].ca;
    if (r->ncas == sizeof(r->cas) / sizeof(r->cas[0])) {
        hilt_err_set(e, HILT_E_INPUT, 0, "more than 16 CAs in one run");
        return NULL;
    }
    struct hilt_ca *ca = hilt_ca_open(r->o->st, r->o->home, name, e);
    if (!ca) return NULL;
    snprintf(r->cas[r->ncas].name, sizeof(r->cas[0].name), "%s", name);
    r->cas[r->ncas++].ca = ca;
    return ca;
}

static void rev_hash(const struct hilt_manifest *m, char *out, size_t cap)
{
    snprintf(out, cap, "c=%s;d=%s", m->cert_hash, m->deploy_hash);
}

static int rev_cert_hash_is(const struct hilt_revision_rec *r, const struct hilt_manifest *m)
{
    return !strncmp(r->spec_hash, "c=", 2) && !strncmp(r->spec_hash + 2, m->cert_hash, 64);
}

static int rev_deploy_hash_is(const struct hilt_revision_rec *r, const struct hilt_manifest *m)
{
    const char *d = strstr(r->spec_hash, ";d=");
    return d && !strncmp(d + 3, m->deploy_hash, 64);
}

/* ---- policy checks ------------------------------------------------------------------ */

static const struct hilt_profile *profile_for(struct run *r, const struct hilt_manifest *m,
                                              struct hilt_err *e)
{
    const char *name = m->policy;
    if (!name && m->env) {
        /* an environment of the policy with the manifest's name */
        const struct hilt_environment *env =
            r->o->policy ? hilt_policy_environment(r->o->policy, m->env) : NULL;
        if (!env) {
            const struct hilt_policy *b = hilt_policy_builtin(NULL);
            env = b ? hilt_policy_environment(b, m->env) : NULL;
        }
        if (!env) return NULL;
        name = env->profile;
    }
    if (!name) return NULL;
    return hilt_profile_find(r->o->policy, name, e);
}

static int check_manifest(struct run *r, const struct hilt_manifest *m, struct hilt_err *e)
{
    struct hilt_ca *ca = ca_for(r, m->issuer, e);
    if (!ca) goto fail;
    struct hilt_issue_rules rules;
    hilt_issue_rules_init(&rules);
    rules.allow_domains = ca->rec.allow_domains;
    if (ca->rec.max_lifetime > 0) rules.max_lifetime = ca->rec.max_lifetime;
    struct hilt_names names = {0};
    for (size_t i = 0; i < m->nnames; i++)
        if (hilt_names_add(&names, m->names[i], &rules, e) < 0) {
            hilt_names_free(&names);
            goto fail;
        }
    hilt_names_free(&names);
    if (hilt_issue_lifetime_check(m->duration, &rules, e) < 0) goto fail;
    if (hilt_now() + m->duration > hilt_cert_not_after(ca->issuer)) {
        char t[32];
        hilt_time_fmt_rfc3339(hilt_cert_not_after(ca->issuer), t);
        hilt_err_set(e, HILT_E_INPUT, 0,
                     "duration would outlive the issuing CA certificate (valid until %s)", t);
        goto fail;
    }
    struct hilt_keyspec ks;
    if (hilt_keyspec_parse(m->key_type, &ks, e) < 0) goto fail;
    const struct hilt_profile *pf = profile_for(r, m, e);
    if (!pf && m->policy) goto fail;
    if (pf) {
        const struct hilt_cert_rules *cr = &pf->certificate;
        unsigned bit = ks.alg == HILT_KEY_RSA  ? HILT_KEYTYPE_RSA
                       : ks.alg == HILT_KEY_EC ? HILT_KEYTYPE_ECDSA
                                               : HILT_KEYTYPE_ED25519;
        if (cr->key_types && !(cr->key_types & bit)) {
            hilt_err_set(e, HILT_E_INPUT, 0, "policy profile '%s' does not allow %s keys", pf->name,
                         m->key_type);
            goto fail;
        }
        if (ks.alg == HILT_KEY_RSA && cr->rsa_min_bits && ks.bits < cr->rsa_min_bits) {
            hilt_err_set(e, HILT_E_INPUT, 0,
                         "policy profile '%s' needs RSA keys of %d bits or more", pf->name,
                         cr->rsa_min_bits);
            goto fail;
        }
        if (cr->max_lifetime_days && m->duration > (int64_t)cr->max_lifetime_days * 86400) {
            hilt_err_set(e, HILT_E_INPUT, 0,
                         "duration %lldd is longer than policy profile '%s' allows (%dd)",
                         (long long)(m->duration / 86400), pf->name, cr->max_lifetime_days);
            goto fail;
        }
    }
    return 0;
fail:
    hilt_err_prefix(e, "%s:%d: manifest '%s'", m->source ? m->source : "?", m->line, m->name);
    return -1;
}

/* ---- store bookkeeping ------------------------------------------------------------------ */

static int put_manifest(struct run *r, const struct hilt_manifest *m, const char *data_dir,
                        struct hilt_err *e)
{
    char *js = hilt_manifest_to_json(m);
    if (!js) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    struct hilt_manifest_rec rec = {.name = m->name,
                                    .spec_hash = (char *)m->spec_hash,
                                    .spec_json = js,
                                    .source = m->source ? m->source : "store",
                                    .data_dir = (char *)data_dir};
    int rc = hilt_store_manifest_put(r->o->st, &rec, e);
    free(js);
    return rc;
}

static char *files_json(const struct hilt_manifest *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->ntargets; i++) {
        const struct hilt_target *t = &m->targets[i];
        json_t *o = json_object();
        if (t->cert) json_object_set_new(o, "cert", json_string(t->cert));
        if (t->key) json_object_set_new(o, "key", json_string(t->key));
        if (t->chain) json_object_set_new(o, "chain", json_string(t->chain));
        json_array_append_new(a, o);
    }
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* Step 5: the revision becomes current; the certificates and the
 * inventory follow. One transaction. */
static int finalize(struct run *r, const struct hilt_manifest *m, const char *name, int64_t rev,
                    const char *what, struct hilt_err *e)
{
    struct hilt_store *st = r->o->st;
    struct hilt_revision_rec nr, pr = {0};
    struct hilt_manifest_rec mr = {0};
    int have_prev = 0, rc = -1;
    if (hilt_store_revision_get(st, name, rev, &nr, e) != 1) {
        if (e && e->kind == HILT_E_NONE)
            hilt_err_set(e, HILT_E_RUNTIME, 0, "revision %lld of %s is gone", (long long)rev, name);
        return -1;
    }
    if (hilt_store_manifest_get(st, name, &mr, e) == 1 && mr.current_rev > 0)
        have_prev = hilt_store_revision_get(st, name, mr.current_rev, &pr, e) == 1;
    char obj[400], res[200];
    snprintf(obj, sizeof(obj), "manifest=%s rev=%lld serial=%s", name, (long long)rev, nr.serial);
    snprintf(res, sizeof(res), "ok %s", what);
    struct hilt_audit_ev ev = {NULL, "manifest.apply", obj, res};
    int64_t now = hilt_now();
    if (hilt_store_begin(st, e) < 0) goto out;
    if (hilt_store_revision_commit(st, name, rev, now, &ev, e) < 0) goto rollback;
    if (have_prev && strcmp(pr.sha256, nr.sha256)) {
        if (hilt_store_cert_set_status(st, pr.sha256, "superseded", e) < 0) goto rollback;
        char d[200];
        snprintf(d, sizeof(d), "manifest %s revision %lld replaced it", name, (long long)rev);
        if (hilt_store_cert_event(st, pr.sha256, "superseded", d, e) < 0) goto rollback;
    }
    if (hilt_store_cert_set_status(st, nr.sha256, "active", e) < 0) goto rollback;
    if (m) {
        for (size_t i = 0; i < m->ntargets; i++) {
            const char *p[3] = {m->targets[i].cert, m->targets[i].key, m->targets[i].chain};
            for (int w = 0; w < 3; w++)
                if (p[w] && hilt_store_location_seen(st, nr.sha256, "file", p[w], now, e) < 0)
                    goto rollback;
        }
        char pipe[100];
        snprintf(pipe, sizeof(pipe), "manifest:%s", name);
        if (hilt_store_cert_set_meta(st, nr.sha256, m->owner, m->service, m->env, pipe, NULL, e) <
            0)
            goto rollback;
    }
    char d[300];
    snprintf(d, sizeof(d), "manifest %s revision %lld (%s)", name, (long long)rev, what);
    if (hilt_store_cert_event(st, nr.sha256, "deployed", d, e) < 0) goto rollback;
    rc = hilt_store_commit(st, e);
    goto out;
rollback:
    hilt_store_rollback(st);
out:
    hilt_revision_rec_free(&nr);
    hilt_revision_rec_free(&pr);
    hilt_manifest_rec_free(&mr);
    return rc;
}

/* ---- recovery ------------------------------------------------------------------------------ */

struct staged {
    char name[64];
    int64_t rev;
    char dir[64];
};

struct staged_list {
    struct staged *v;
    size_t n, cap;
    const char *only; /* one manifest, or NULL */
};

static int staged_cb(const struct hilt_revision_rec *r, void *arg)
{
    struct staged_list *l = arg;
    if (strcmp(r->state, "staged") || (l->only && strcmp(l->only, r->name))) return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        struct staged *nv = realloc(l->v, nc * sizeof(*nv));
        if (!nv) return 1;
        l->v = nv;
        l->cap = nc;
    }
    struct staged *s = &l->v[l->n++];
    snprintf(s->name, sizeof(s->name), "%s", r->name);
    s->rev = r->rev;
    snprintf(s->dir, sizeof(s->dir), "%s", r->dir);
    return 0;
}

/* Under the manifest's lock: roll staged revisions forward (current points
 * at them) or mark them abandoned. */
static int recover_locked(struct run *r, const char *name, const char *data_dir, struct hilt_err *e)
{
    struct staged_list l = {.only = name};
    if (hilt_store_revision_list(r->o->st, name, staged_cb, &l, e) < 0) return -1;
    int rc = 0;
    char cur[256] = "";
    int have = hilt_deploy_current(data_dir, cur, sizeof(cur));
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        struct staged *s = &l.v[i];
        if (have == 1 && !strcmp(cur, s->dir)) {
            /* past the commit point: the files are this revision */
            struct hilt_manifest_rec mr;
            struct hilt_manifest m = {0}, *mp = NULL;
            if (hilt_store_manifest_get(r->o->st, name, &mr, e) == 1) {
                if (hilt_manifest_from_json(mr.spec_json, &m, NULL) == 0) mp = &m;
                hilt_manifest_rec_free(&mr);
            }
            rc = finalize(r, mp, name, s->rev, "recovered after an interrupted apply", e);
            hilt_manifest_free(&m);
        } else {
            char obj[200];
            snprintf(obj, sizeof(obj), "manifest=%s rev=%lld", name, (long long)s->rev);
            struct hilt_audit_ev ev = {NULL, "manifest.apply", obj,
                                       "abandoned: interrupted before its files went live"};
            struct hilt_revision_rec rv;
            if (hilt_store_revision_get(r->o->st, name, s->rev, &rv, e) == 1) {
                hilt_store_cert_set_status(r->o->st, rv.sha256, "superseded", NULL);
                hilt_store_cert_event(r->o->st, rv.sha256, "abandoned",
                                      "issued for an apply that was interrupted", NULL);
                hilt_revision_rec_free(&rv);
            }
            rc = hilt_store_revision_set_state(r->o->st, name, s->rev, "abandoned",
                                               "interrupted before the commit point", &ev, e);
            char own[64];
            snprintf(own, sizeof(own), "rev-%lld", (long long)s->rev);
            if (rc == 0 && !strcmp(own, s->dir)) hilt_deploy_remove_rev(data_dir, s->dir);
        }
    }
    free(l.v);
    return rc;
}

static int recover_all(struct run *r, struct hilt_err *e)
{
    struct staged_list l = {0};
    if (hilt_store_revision_list(r->o->st, NULL, staged_cb, &l, e) < 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        if (i && !strcmp(l.v[i].name, l.v[i - 1].name)) continue;
        struct hilt_manifest_rec mr;
        int f = hilt_store_manifest_get(r->o->st, l.v[i].name, &mr, e);
        if (f < 0) {
            rc = -1;
            break;
        }
        if (f == 0) continue;
        int fd;
        int lk = hilt_deploy_lock(mr.data_dir, 0, &fd, e);
        if (lk == 0) {
            rc = recover_locked(r, mr.name, mr.data_dir, e);
            hilt_deploy_unlock(fd);
        } else if (lk < 0) {
            rc = -1;
        } /* lk == 1: an apply is running right now; it owns its revision */
        hilt_manifest_rec_free(&mr);
    }
    free(l.v);
    return rc;
}

int hilt_clm_recover(struct hilt_store *st, struct hilt_err *e)
{
    struct hilt_clm_opts o = {.st = st};
    struct run r = {.o = &o, .e = e};
    int rc = recover_all(&r, e);
    run_free(&r);
    return rc;
}

/* ---- one manifest ---------------------------------------------------------------------------- */

/* Run the reload command: /bin/sh -c, bounded in time; its output's tail
 * goes into the error. */
static int run_reload(const char *cmd, char *err, size_t cap)
{
    struct hilt_shell_run r = {
        .what = "reload command", .cmd = cmd, .capture = 1, .timeout_ms = RELOAD_TIMEOUT_S * 1000};
    return hilt_shell_run(&r, err, cap);
}

/* The certificate, key and chain of a new issuance for m. */
static int issue_bundle(struct run *r, const struct hilt_manifest *m, const char *data_dir,
                        const char *cur_dir, struct hilt_issued *out, char **cert, char **key,
                        char **chain, struct hilt_err *e)
{
    struct hilt_ca *ca = ca_for(r, m->issuer, e);
    if (!ca) return -1;
    const char *names[HILT_MANIFEST_NAMES_MAX];
    for (size_t i = 0; i < m->nnames; i++)
        names[i] = m->names[i];
    char pipe[100];
    snprintf(pipe, sizeof(pipe), "manifest:%s", m->name);
    struct hilt_issue_req req = {.names = names,
                                 .nnames = m->nnames,
                                 .key_type = m->key_type,
                                 .lifetime = m->duration,
                                 .owner = m->owner,
                                 .service = m->service,
                                 .env = m->env,
                                 .pipeline = pipe};
    EVP_PKEY *kept = NULL;
    X509_REQ *csr = NULL;
    int rc = -1;
    if (m->rotate_never && cur_dir) {
        /* keep the key: a CSR signed by it, for the same names */
        char *pem = NULL;
        for (size_t i = 0; i < m->ntargets && !pem; i++)
            if (m->targets[i].key) hilt_deploy_read_rev(data_dir, cur_dir, i, 1, &pem, NULL);
        if (pem) {
            kept = hilt_key_parse(pem, strlen(pem), "current key", NULL);
            OPENSSL_cleanse(pem, strlen(pem));
            free(pem);
        }
        char kd[64] = "";
        if (kept) hilt_key_describe(kept, kd, sizeof(kd));
        if (kept && !strcmp(kd, m->key_type)) {
            csr = X509_REQ_new();
            if (!csr || !X509_REQ_set_pubkey(csr, kept) ||
                !X509_REQ_sign(csr, kept, EVP_PKEY_is_a(kept, "ED25519") ? NULL : EVP_sha256())) {
                hilt_err_ossl(e, HILT_E_RUNTIME, "cannot make a request with the kept key");
                goto out;
            }
            req.csr = csr;
            req.csr_source = "the kept key";
            req.key_type = NULL;
        } else {
            EVP_PKEY_free(kept); /* none, or of another type: a new key */
            kept = NULL;
            ERR_clear_error();
        }
    }
    if (hilt_ca_issue(ca, &req, out, e) < 0) goto out;
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 20);
    EVP_PKEY *k = out->key ? out->key : kept;
    int ok = hilt_certs_to_pem(&b, &out->cert, 1) == 0 && (*cert = strdup(hilt_buf_cstr(&b)));
    hilt_buf_reset(&b);
    ok = ok && hilt_ca_chain_pem(ca, out->cert, &b) == 0 && (*chain = strdup(hilt_buf_cstr(&b)));
    hilt_buf_reset(&b);
    ok = ok && k && hilt_key_to_pem(k, &b, e) == 0 && (*key = strdup(hilt_buf_cstr(&b)));
    if (b.data) OPENSSL_cleanse(b.data, b.len);
    hilt_buf_free(&b);
    if (!ok) {
        if (e && e->kind == HILT_E_NONE) hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot encode");
        goto out;
    }
    rc = 0;
out:
    X509_REQ_free(csr);
    EVP_PKEY_free(kept);
    return rc;
}

static void free_secret(char **s)
{
    if (*s) OPENSSL_cleanse(*s, strlen(*s));
    free(*s);
    *s = NULL;
}

/* Revisions that may still be rolled back to, newest first, up to the
 * limit; their directories stay. */
struct prune_state {
    const struct hilt_manifest *m;
    char keep[1024][32];
    size_t nkeep;
    struct hilt_revision_rec *revs;
    size_t n, cap;
};

static int collect_rev(const struct hilt_revision_rec *rv, void *arg)
{
    struct prune_state *p = arg;
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 16;
        struct hilt_revision_rec *nv = realloc(p->revs, nc * sizeof(*nv));
        if (!nv) return 1;
        p->revs = nv;
        p->cap = nc;
    }
    struct hilt_revision_rec *c = &p->revs[p->n++];
    memset(c, 0, sizeof(*c));
    c->rev = rv->rev;
    c->state = strdup(rv->state);
    c->dir = strdup(rv->dir);
    c->name = strdup(rv->name);
    return 0;
}

static void prune(struct run *r, const struct hilt_manifest *m, const char *data_dir,
                  int64_t current)
{
    struct prune_state p = {.m = m};
    if (hilt_store_revision_list(r->o->st, m->name, collect_rev, &p, NULL) < 0) goto out;
    /* keep: the current one and the newest history_limit applied/superseded */
    int kept = 0;
    for (size_t i = p.n; i-- > 0;) {
        struct hilt_revision_rec *rv = &p.revs[i];
        int live = !strcmp(rv->state, "applied") || !strcmp(rv->state, "superseded");
        if (rv->rev == current || (live && kept < m->history_limit)) {
            if (live) kept++;
            if (p.nkeep < 1024) snprintf(p.keep[p.nkeep++], 32, "%s", rv->dir);
        }
    }
    for (size_t i = 0; i < p.n; i++) {
        struct hilt_revision_rec *rv = &p.revs[i];
        int is_kept = 0;
        for (size_t k = 0; k < p.nkeep; k++)
            is_kept |= !strcmp(p.keep[k], rv->dir);
        if (is_kept || !strcmp(rv->state, "pruned") || !strcmp(rv->state, "abandoned")) continue;
        if (!strcmp(rv->state, "superseded")) {
            hilt_deploy_remove_rev(data_dir, rv->dir);
            hilt_store_revision_set_state(r->o->st, m->name, rv->rev, "pruned",
                                          "beyond revisionHistoryLimit", NULL, NULL);
        }
    }
    /* an adopted rev-0 that is no longer current */
    int is_kept0 = 0;
    for (size_t k = 0; k < p.nkeep; k++)
        is_kept0 |= !strcmp(p.keep[k], "rev-0");
    if (!is_kept0) hilt_deploy_remove_rev(data_dir, "rev-0");
out:
    for (size_t i = 0; i < p.n; i++)
        hilt_revision_rec_free(&p.revs[i]);
    free(p.revs);
}

static void record_renewal(struct run *r, const struct hilt_manifest *m, int ok, const char *err,
                           struct hilt_clm_result *res)
{
    struct hilt_renewal_rec old;
    int have = hilt_store_renewal_get(r->o->st, m->name, &old, NULL) == 1;
    char obj[200], result[900];
    snprintf(obj, sizeof(obj), "manifest=%s", m->name);
    if (ok) {
        if (have) hilt_store_renewal_clear(r->o->st, m->name, NULL);
        snprintf(result, sizeof(result), "ok serial=%s", res->serial);
    } else {
        int64_t now = hilt_now();
        struct hilt_renewal_rec nr = {.name = m->name,
                                      .attempts = (have ? old.attempts : 0) + 1,
                                      .last_attempt_at = now,
                                      .last_error = (char *)err};
        nr.next_attempt_at = now + hilt_clm_backoff(nr.attempts, m->name);
        hilt_store_renewal_put(r->o->st, &nr, NULL);
        res->attempts = nr.attempts;
        res->next_attempt_at = nr.next_attempt_at;
        snprintf(res->last_error, sizeof(res->last_error), "%s", err);
        snprintf(result, sizeof(result), "error (attempt %lld): %s", (long long)nr.attempts, err);
    }
    if (have) hilt_renewal_rec_free(&old);
    struct hilt_audit_ev ev = {NULL, "cert.renew", obj, result};
    hilt_store_audit_append(r->o->st, &ev, NULL);
}

/* Decide (and, unless dry_run, do) what manifest m needs. force: renew
 * regardless ("renew" reason text). Runtime failures land in res. */
static int apply_one(struct run *r, const struct hilt_manifest *m, const char *force,
                     struct hilt_clm_result *res, struct hilt_err *e)
{
    struct hilt_store *st = r->o->st;
    memset(res, 0, sizeof(*res));
    snprintf(res->name, sizeof(res->name), "%s", m->name);
    snprintf(res->file, sizeof(res->file), "%s", m->source ? m->source : "store");
    res->reloaded = -1;
    char data_dir[HILT_DEPLOY_PATH_MAX], why[600] = "";
    if (hilt_deploy_data_dir(m, data_dir, sizeof(data_dir), e) < 0) return -1;
    int lockfd = -1;
    struct hilt_manifest_rec mr = {0};
    struct hilt_revision_rec cur = {0};
    struct hilt_cert_rec cert = {0};
    int have_mr = 0, have_cur = 0, have_cert = 0, rc = -1;
    /* plan only reads; apply takes the lock (and recovers under it) */
    if (!r->o->dry_run) {
        if (hilt_deploy_lock(data_dir, 1, &lockfd, e) < 0) return -1;
        if (recover_locked(r, m->name, data_dir, e) < 0) goto out;
    }
    if ((have_mr = hilt_store_manifest_get(st, m->name, &mr, e)) < 0) goto out;
    if (have_mr && mr.current_rev > 0) {
        if ((have_cur = hilt_store_revision_get(st, m->name, mr.current_rev, &cur, e)) < 0)
            goto out;
        res->current_rev = res->rev = mr.current_rev;
    }
    if (have_cur) {
        if ((have_cert = hilt_store_cert_get(st, cur.sha256, &cert, NULL, e)) < 0) goto out;
        snprintf(res->serial, sizeof(res->serial), "%s", cur.serial);
        snprintf(res->sha256, sizeof(res->sha256), "%s", cur.sha256);
        res->not_after = cur.not_after;
        if (have_cert)
            res->renew_at = hilt_clm_renew_at(m, cert.not_before, cert.not_after, cert.sha256);
    }
    struct hilt_renewal_rec ren;
    if (hilt_store_renewal_get(st, m->name, &ren, NULL) == 1) {
        res->attempts = ren.attempts;
        res->next_attempt_at = ren.next_attempt_at;
        snprintf(res->last_error, sizeof(res->last_error), "%s", ren.last_error);
        hilt_renewal_rec_free(&ren);
    }

    /* ---- decide ---- */
    time_t now = hilt_now();
    enum hilt_clm_action act = HILT_CLM_UNCHANGED;
    if (!have_cur) {
        act = HILT_CLM_CREATE;
        snprintf(res->reason, sizeof(res->reason), "no certificate deployed yet");
    } else if (!rev_cert_hash_is(&cur, m)) {
        act = HILT_CLM_REISSUE;
        snprintf(res->reason, sizeof(res->reason),
                 "names, duration, key or issuer changed since revision %lld", (long long)cur.rev);
    } else if (force) {
        act = HILT_CLM_RENEW;
        snprintf(res->reason, sizeof(res->reason), "%s", force);
    } else if (!have_cert || cert.revoked_at) {
        act = HILT_CLM_RENEW;
        snprintf(res->reason, sizeof(res->reason), "the deployed certificate %s",
                 have_cert ? "was revoked" : "is not in the inventory");
    } else if (cert.not_after <= now) {
        act = HILT_CLM_RENEW;
        snprintf(res->reason, sizeof(res->reason), "the deployed certificate has expired");
    } else if (now >= res->renew_at) {
        act = HILT_CLM_RENEW;
        char t[32];
        hilt_time_fmt_rfc3339(res->renew_at, t);
        snprintf(res->reason, sizeof(res->reason), "past its renewal point (%s)", t);
    } else if (!rev_deploy_hash_is(&cur, m)) {
        act = HILT_CLM_REDEPLOY;
        snprintf(res->reason, sizeof(res->reason), "targets changed");
    } else {
        int ck = hilt_deploy_check(data_dir, cur.dir, m, cur.sha256, why, sizeof(why));
        if (ck < 0) {
            hilt_err_set(e, HILT_E_RUNTIME, errno, "cannot check %s: %s", data_dir,
                         strerror(errno));
            goto out;
        }
        if (ck == 0) {
            act = HILT_CLM_REPAIR;
            snprintf(res->reason, sizeof(res->reason), "%s", why);
        } else if (strcmp(mr.spec_hash, m->spec_hash)) {
            act = HILT_CLM_UPDATE;
            snprintf(res->reason, sizeof(res->reason),
                     "owner, service, environment, renewBefore or reload changed");
        }
    }
    res->action = act;
    if (r->o->dry_run || act == HILT_CLM_UNCHANGED) {
        rc = 0;
        goto out;
    }

    /* ---- do ---- */
    if (act == HILT_CLM_UPDATE) {
        char obj[200];
        snprintf(obj, sizeof(obj), "manifest=%s", m->name);
        struct hilt_audit_ev ev = {NULL, "manifest.update", obj, "ok"};
        if (put_manifest(r, m, data_dir, e) < 0 ||
            hilt_store_cert_set_meta(st, cur.sha256, m->owner, m->service, m->env, NULL, NULL, e) <
                0 ||
            hilt_store_audit_append(st, &ev, e) < 0)
            goto out;
        rc = 0;
        goto out;
    }
    if (act == HILT_CLM_REPAIR) {
        /* the recorded revision's files are intact: link them again */
        char d2[300];
        int intact = 1;
        for (size_t i = 0; i < m->ntargets && intact; i++)
            for (int w = 0; w < 3; w++) {
                const char *p = w == 0   ? m->targets[i].cert
                                : w == 1 ? m->targets[i].key
                                         : m->targets[i].chain;
                char name[64], f[HILT_DEPLOY_PATH_MAX + 100];
                hilt_deploy_file(i, w, name, sizeof(name));
                snprintf(f, sizeof(f), "%s/%s/%s", data_dir, cur.dir, name);
                if (p && access(f, R_OK) != 0) intact = 0;
            }
        if (intact) {
            if (hilt_deploy_link_targets(data_dir, m, e) < 0 ||
                hilt_deploy_switch(data_dir, cur.dir, e) < 0)
                goto fail_runtime;
            if (hilt_deploy_check(data_dir, cur.dir, m, cur.sha256, d2, sizeof(d2)) == 1) {
                char obj[200];
                snprintf(obj, sizeof(obj), "manifest=%s rev=%lld", m->name, (long long)cur.rev);
                struct hilt_audit_ev ev = {NULL, "manifest.repair", obj, "ok"};
                hilt_store_audit_append(st, &ev, NULL);
                goto reload;
            }
        }
        /* the revision's own files are damaged: deploy it again below */
        act = HILT_CLM_REDEPLOY;
    }

    {
        /* a new revision: issue (or reuse the current certificate), write,
         * stage, switch, finalize */
        struct hilt_issued iss = {0};
        char *pc = NULL, *pk = NULL, *pch = NULL;
        int64_t maxrev = 0;
        char revdir[32], sha[65] = "", serial[64] = "";
        int64_t not_after = 0;
        if (act == HILT_CLM_REDEPLOY) {
            /* the current certificate and key, from the current revision */
            int got = 0;
            for (size_t i = 0; i < HILT_MANIFEST_TARGETS_MAX && !got; i++) {
                char *c1 = NULL, *k1 = NULL, *h1 = NULL;
                if (hilt_deploy_read_rev(data_dir, cur.dir, i, 0, &c1, NULL) == 0 &&
                    hilt_deploy_read_rev(data_dir, cur.dir, i, 1, &k1, NULL) == 0 &&
                    hilt_deploy_read_rev(data_dir, cur.dir, i, 2, &h1, NULL) == 0) {
                    pc = c1;
                    pk = k1;
                    pch = h1;
                    got = 1;
                } else {
                    free(c1);
                    free_secret(&k1);
                    free(h1);
                }
            }
            if (!got) {
                act = HILT_CLM_REISSUE;
                snprintf(res->reason + strlen(res->reason),
                         sizeof(res->reason) - strlen(res->reason),
                         "; the current revision has no complete cert/key/chain set to reuse");
            } else {
                snprintf(sha, sizeof(sha), "%s", cur.sha256);
                snprintf(serial, sizeof(serial), "%s", cur.serial);
                not_after = cur.not_after;
            }
        }
        res->action = act;
        if (act != HILT_CLM_REDEPLOY) {
            struct hilt_err ie = {0};
            if (issue_bundle(r, m, data_dir, have_cur ? cur.dir : NULL, &iss, &pc, &pk, &pch, &ie) <
                0) {
                hilt_issued_free(&iss);
                free(pc);
                free_secret(&pk);
                free(pch);
                /* the manifest passed the CA's rules before anything ran, so
                 * this is the CA being unavailable (key, token, signer):
                 * this manifest's failure, retried by renewal */
                snprintf(res->error, sizeof(res->error), "issuance failed: %s", ie.msg);
                res->failed = 1;
                rc = 0;
                goto out;
            }
            snprintf(sha, sizeof(sha), "%s", iss.sha256);
            snprintf(serial, sizeof(serial), "%s", iss.serial);
            not_after = iss.not_after;
        }
        hilt_issued_free(&iss);
        crash_point("issued");
        int step_rc = -1;
        char *fj = files_json(m);
        if (hilt_store_revision_max(st, m->name, &maxrev, e) < 0 || !fj) goto step_out;
        snprintf(revdir, sizeof(revdir), "rev-%lld", (long long)(maxrev + 1));
        struct hilt_bundle b = {pc, pk, pch};
        char rh[200];
        rev_hash(m, rh, sizeof(rh));
        struct hilt_revision_rec nr = {.name = m->name,
                                       .rev = maxrev + 1,
                                       .state = "staged",
                                       .sha256 = sha,
                                       .serial = serial,
                                       .spec_hash = rh,
                                       .dir = revdir,
                                       .not_after = not_after,
                                       .files_json = fj,
                                       .note = (char *)hilt_clm_action_name(act)};
        char obj[300];
        snprintf(obj, sizeof(obj), "manifest=%s rev=%lld serial=%s", m->name, (long long)nr.rev,
                 serial);
        struct hilt_audit_ev ev = {NULL, "manifest.stage", obj, "ok"};
        if (put_manifest(r, m, data_dir, e) < 0) goto step_out;
        if (hilt_deploy_write_rev(data_dir, revdir, m, &b, e) < 0) goto step_fail;
        crash_point("written");
        if (hilt_store_revision_add(st, &nr, &ev, e) < 0) goto step_out;
        crash_point("staged");
        if (hilt_deploy_link_targets(data_dir, m, e) < 0) goto step_fail;
        crash_point("linked");
        if (hilt_deploy_switch(data_dir, revdir, e) < 0) goto step_fail; /* the commit point */
        crash_point("switched");
        if (finalize(r, m, m->name, nr.rev, hilt_clm_action_name(act), e) < 0) goto step_out;
        crash_point("finalized");
        res->rev = nr.rev;
        snprintf(res->serial, sizeof(res->serial), "%s", serial);
        snprintf(res->sha256, sizeof(res->sha256), "%s", sha);
        res->not_after = not_after;
        step_rc = 0;
        goto step_out;
    step_fail:
        /* a file-system fault before or at the commit point: recovery makes
         * the store agree; report it as this manifest's failure */
        snprintf(res->error, sizeof(res->error), "deploying failed: %s", e ? e->msg : "");
        res->failed = 1;
        hilt_err_clear(e);
        recover_locked(r, m->name, data_dir, NULL);
        step_rc = 1;
    step_out:
        free(fj);
        free(pc);
        free_secret(&pk);
        free(pch);
        if (step_rc < 0) goto out;
        if (step_rc > 0) {
            rc = 0;
            goto out;
        }
        prune(r, m, data_dir, res->rev);
    }
reload:
    if (m->reload) {
        char err[600];
        if (run_reload(m->reload, err, sizeof(err)) == 0) {
            res->reloaded = 1;
        } else {
            res->reloaded = 0;
            res->failed = 1;
            snprintf(res->error, sizeof(res->error), "%s", err);
            char obj[200];
            snprintf(obj, sizeof(obj), "manifest=%s rev=%lld", m->name, (long long)res->rev);
            char rr[700];
            snprintf(rr, sizeof(rr), "error: %s", err);
            struct hilt_audit_ev ev = {NULL, "manifest.reload", obj, rr};
            hilt_store_audit_append(st, &ev, NULL);
        }
    }
    rc = 0;
    goto out;
fail_runtime:
    snprintf(res->error, sizeof(res->error), "%s", e ? e->msg : "failed");
    res->failed = 1;
    hilt_err_clear(e);
    rc = 0;
out:
    if (rc == 0 && !r->o->dry_run && res->action == HILT_CLM_RENEW)
        record_renewal(r, m, !res->failed, res->error, res);
    if (have_cert) hilt_cert_rec_free(&cert);
    if (have_cur) hilt_revision_rec_free(&cur);
    if (have_mr) hilt_manifest_rec_free(&mr);
    hilt_deploy_unlock(lockfd);
    return rc;
}

/* ---- entry points ------------------------------------------------------------------------------
 */

struct names_seen {
    const struct hilt_manifest_set *ms;
    struct hilt_clm_result *res;
    size_t n, cap;
    int oom;
};

static int unmanaged_cb(const struct hilt_manifest_rec *mr, void *arg)
{
    struct names_seen *s = arg;
    for (size_t i = 0; i < s->ms->n; i++)
        if (!strcmp(s->ms->v[i].name, mr->name)) return 0;
    if (s->n == s->cap) {
        size_t nc = s->cap * 2 + 4;
        struct hilt_clm_result *nv = realloc(s->res, nc * sizeof(*nv));
        if (!nv) return s->oom = 1;
        s->res = nv;
        s->cap = nc;
    }
    struct hilt_clm_result *r = &s->res[s->n++];
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", mr->name);
    snprintf(r->file, sizeof(r->file), "%s", mr->source);
    r->action = HILT_CLM_UNMANAGED;
    r->current_rev = r->rev = mr->current_rev;
    r->reloaded = -1;
    snprintf(r->reason, sizeof(r->reason),
             "in the store but not in the manifests given; left as is");
    return 0;
}

int hilt_clm_apply(const struct hilt_clm_opts *o, const struct hilt_manifest_set *ms,
                   struct hilt_clm_result **res, size_t *nres, struct hilt_err *e)
{
    *res = NULL;
    *nres = 0;
    struct run r = {.o = o, .e = e};
    int rc = -1;
    struct names_seen seen = {.ms = ms};
    if (recover_all(&r, e) < 0) goto out;
    /* every manifest is checked before anything is issued or written */
    for (size_t i = 0; i < ms->n; i++)
        if (check_manifest(&r, &ms->v[i], e) < 0) goto out;
    seen.cap = ms->n + 4;
    if (!(seen.res = calloc(seen.cap, sizeof(*seen.res)))) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        goto out;
    }
    int failed = 0;
    for (size_t i = 0; i < ms->n; i++) {
        if (apply_one(&r, &ms->v[i], NULL, &seen.res[seen.n], e) < 0) {
            hilt_err_prefix(e, "manifest '%s'", ms->v[i].name);
            goto out;
        }
        failed |= seen.res[seen.n].failed;
        seen.n++;
    }
    if (hilt_store_manifest_list(o->st, unmanaged_cb, &seen, e) < 0 || seen.oom) goto out;
    rc = failed ? 1 : 0;
out:
    if (rc < 0) {
        free(seen.res);
        seen.res = NULL;
        seen.n = 0;
    }
    *res = seen.res;
    *nres = seen.n;
    run_free(&r);
    return rc;
}

int hilt_clm_rollback(const struct hilt_clm_opts *o, const char *name, int64_t to,
                      struct hilt_clm_result *res, struct hilt_err *e)
{
    memset(res, 0, sizeof(*res));
    snprintf(res->name, sizeof(res->name), "%s", name);
    res->action = HILT_CLM_ROLLBACK;
    res->reloaded = -1;
    struct run r = {.o = o, .e = e};
    struct hilt_manifest_rec mr = {0};
    struct hilt_manifest m = {0};
    struct hilt_revision_rec target = {0};
    struct hilt_cert_rec cert = {0};
    int have_mr = 0, have_t = 0, have_c = 0, lockfd = -1, rc = -1;
    if (recover_all(&r, e) < 0) goto out;
    if ((have_mr = hilt_store_manifest_get(o->st, name, &mr, e)) <= 0) {
        if (have_mr == 0)
            hilt_err_set(e, HILT_E_INPUT, 0, "no manifest named '%s' was applied", name);
        goto out;
    }
    if (hilt_manifest_from_json(mr.spec_json, &m, e) < 0) goto out;
    snprintf(res->file, sizeof(res->file), "%s", mr.source);
    if (hilt_deploy_lock(mr.data_dir, 1, &lockfd, e) < 0) goto out;
    if (recover_locked(&r, name, mr.data_dir, e) < 0) goto out;
    hilt_manifest_rec_free(&mr);
    if (hilt_store_manifest_get(o->st, name, &mr, e) != 1) goto out;
    res->current_rev = mr.current_rev;
    if ((have_t = hilt_store_revision_get(o->st, name, to, &target, e)) <= 0) {
        if (have_t == 0)
            hilt_err_set(e, HILT_E_INPUT, 0, "manifest '%s' has no revision %lld (it is at %lld)",
                         name, (long long)to, (long long)mr.current_rev);
        goto out;
    }
    if (to == mr.current_rev) {
        hilt_err_set(e, HILT_E_INPUT, 0, "revision %lld of '%s' is already the current one",
                     (long long)to, name);
        goto out;
    }
    if (strcmp(target.state, "applied") && strcmp(target.state, "superseded")) {
        hilt_err_set(e, HILT_E_INPUT, 0, "revision %lld of '%s' was %s; it cannot be deployed",
                     (long long)to, name, target.state);
        goto out;
    }
    if ((have_c = hilt_store_cert_get(o->st, target.sha256, &cert, NULL, e)) <= 0) {
        if (have_c == 0)
            hilt_err_set(e, HILT_E_INPUT, 0, "revision %lld's certificate is not in the inventory",
                         (long long)to);
        goto out;
    }
    if (cert.revoked_at) {
        hilt_err_set(e, HILT_E_INPUT, 0, "revision %lld's certificate %s was revoked",
                     (long long)to, cert.serial);
        goto out;
    }
    if (cert.not_after <= hilt_now() + ROLLBACK_MIN_LEFT) {
        char t[32];
        hilt_time_fmt_rfc3339(cert.not_after, t);
        hilt_err_set(e, HILT_E_INPUT, 0, "revision %lld's certificate %s expire%s at %s",
                     (long long)to, cert.serial, cert.not_after <= hilt_now() ? "d" : "s", t);
        goto out;
    }
    /* the revision's files must still be there, for the targets it had */
    struct hilt_manifest tm = {0};
    int ok_files = 1;
    json_error_t je;
    json_t *fj = json_loads(target.files_json, 0, &je);
    for (size_t i = 0; fj && i < json_array_size(fj) && i < HILT_MANIFEST_TARGETS_MAX; i++) {
        json_t *t = json_array_get(fj, i);
        struct hilt_target *tg = &tm.targets[tm.ntargets++];
        const char *c = json_string_value(json_object_get(t, "cert"));
        const char *k = json_string_value(json_object_get(t, "key"));
        const char *h = json_string_value(json_object_get(t, "chain"));
        tg->cert = c ? strdup(c) : NULL;
        tg->key = k ? strdup(k) : NULL;
        tg->chain = h ? strdup(h) : NULL;
        const char *p[3] = {c, k, h};
        for (int w = 0; w < 3; w++) {
            char fname[64], f[HILT_DEPLOY_PATH_MAX + 100];
            hilt_deploy_file(i, w, fname, sizeof(fname));
            snprintf(f, sizeof(f), "%s/%s/%s", mr.data_dir, target.dir, fname);
            if (p[w] && access(f, R_OK) != 0) ok_files = 0;
        }
    }
    json_decref(fj);
    if (!ok_files || tm.ntargets == 0) {
        hilt_manifest_free(&tm);
        hilt_err_set(e, HILT_E_INPUT, 0,
                     "revision %lld's files are no longer on disk (%s/%s); it was pruned",
                     (long long)to, mr.data_dir, target.dir);
        goto out;
    }
    /* deploy to the targets that revision had */
    tm.name = m.name;
    tm.history_limit = m.history_limit;
    for (size_t i = 0; i < tm.ntargets; i++) {
        tm.targets[i].cert_mode = 0644;
        tm.targets[i].key_mode = 0600;
    }
    int64_t maxrev = 0;
    if (hilt_store_revision_max(o->st, name, &maxrev, e) < 0) {
        tm.name = NULL;
        hilt_manifest_free(&tm);
        goto out;
    }
    char obj[300], note[64];
    snprintf(note, sizeof(note), "rollback to %lld", (long long)to);
    struct hilt_revision_rec nr = {.name = (char *)name,
                                   .rev = maxrev + 1,
                                   .state = "staged",
                                   .sha256 = target.sha256,
                                   .serial = target.serial,
                                   .spec_hash = target.spec_hash,
                                   .dir = target.dir,
                                   .not_after = target.not_after,
                                   .files_json = target.files_json,
                                   .note = note};
    snprintf(obj, sizeof(obj), "manifest=%s rev=%lld serial=%s to=%lld", name, (long long)nr.rev,
             target.serial, (long long)to);
    struct hilt_audit_ev ev = {NULL, "manifest.rollback", obj, "staged"};
    int step = hilt_store_revision_add(o->st, &nr, &ev, e) == 0 &&
               hilt_deploy_link_targets(mr.data_dir, &tm, e) == 0 &&
               hilt_deploy_switch(mr.data_dir, target.dir, e) == 0;
    if (step) step = finalize(&r, &tm, name, nr.rev, note, e) == 0;
    tm.name = NULL;
    hilt_manifest_free(&tm);
    if (!step) {
        recover_locked(&r, name, mr.data_dir, NULL);
        goto out;
    }
    res->rev = nr.rev;
    snprintf(res->serial, sizeof(res->serial), "%s", target.serial);
    snprintf(res->sha256, sizeof(res->sha256), "%s", target.sha256);
    res->not_after = target.not_after;
    snprintf(res->reason, sizeof(res->reason), "revision %lld deployed again", (long long)to);
    if (m.reload) {
        char err[600];
        if (run_reload(m.reload, err, sizeof(err)) == 0) {
            res->reloaded = 1;
        } else {
            res->reloaded = 0;
            res->failed = 1;
            snprintf(res->error, sizeof(res->error), "%s", err);
        }
    }
    rc = res->failed ? 1 : 0;
out:
    hilt_deploy_unlock(lockfd);
    if (have_c > 0) hilt_cert_rec_free(&cert);
    if (have_t > 0) hilt_revision_rec_free(&target);
    if (have_mr > 0) hilt_manifest_rec_free(&mr);
    hilt_manifest_free(&m);
    run_free(&r);
    return rc;
}

/* ---- renewal ------------------------------------------------------------------------------------
 */

struct due_list {
    char (*names)[64];
    size_t n, cap;
};

static int due_cb(const struct hilt_manifest_rec *mr, void *arg)
{
    struct due_list *d = arg;
    if (mr->current_rev <= 0) return 0;
    if (d->n == d->cap) {
        size_t nc = d->cap * 2 + 8;
        char(*nv)[64] = realloc(d->names, nc * sizeof(*nv));
        if (!nv) return 1;
        d->names = nv;
        d->cap = nc;
    }
    snprintf(d->names[d->n++], 64, "%s", mr->name);
    return 0;
}

int hilt_clm_renew(const struct hilt_clm_opts *o, const char *const *names, size_t nnames,
                   struct hilt_clm_result **res, size_t *nres, struct hilt_err *e)
{
    *res = NULL;
    *nres = 0;
    struct run r = {.o = o, .e = e};
    struct due_list dl = {0};
    int rc = -1, failing = 0;
    struct hilt_clm_result *out = NULL;
    size_t nout = 0;
    if (recover_all(&r, e) < 0) goto done;
    if (names) {
        for (size_t i = 0; i < nnames; i++)
            if (due_cb(&(struct hilt_manifest_rec){.name = (char *)names[i], .current_rev = 1},
                       &dl))
                goto oom;
    } else if (hilt_store_manifest_list(o->st, due_cb, &dl, e) < 0) {
        goto done;
    }
    if (!(out = calloc(dl.n + 1, sizeof(*out)))) goto oom;
    for (size_t i = 0; i < dl.n; i++) {
        const char *name = dl.names[i];
        struct hilt_manifest_rec mr;
        int f = hilt_store_manifest_get(o->st, name, &mr, e);
        if (f < 0) goto done;
        if (f == 0) {
            hilt_err_set(e, HILT_E_INPUT, 0, "no manifest named '%s' was applied", name);
            goto done;
        }
        struct hilt_manifest m;
        int pm = hilt_manifest_from_json(mr.spec_json, &m, e);
        if (pm == 0) {
            free(m.source);
            if (!(m.source = strdup(mr.source))) pm = -1;
        }
        hilt_manifest_rec_free(&mr);
        if (pm < 0) {
            hilt_manifest_free(&m);
            if (e && e->kind == HILT_E_NONE) hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
            goto done;
        }
        struct hilt_clm_result *x = &out[nout];
        /* plan first: is it due, and is it waiting for its next attempt? */
        struct hilt_clm_opts po = *o;
        po.dry_run = 1;
        struct run pr = {.o = &po, .e = e};
        int prc = apply_one(&pr, &m, names ? "renewal asked for" : NULL, x, e);
        run_free(&pr);
        if (prc < 0) {
            hilt_manifest_free(&m);
            goto done;
        }
        int due = x->action == HILT_CLM_RENEW || x->action == HILT_CLM_CREATE ||
                  x->action == HILT_CLM_REISSUE;
        if (!due) {
            hilt_manifest_free(&m);
            if (names) nout++; /* asked for by name: report it */
            continue;
        }
        if (!names && x->attempts > 0 && hilt_now() < x->next_attempt_at) {
            char t[32];
            hilt_time_fmt_rfc3339(x->next_attempt_at, t);
            x->failed = 1;
            snprintf(x->error, sizeof(x->error),
                     "waiting to retry at %s (attempt %lld failed: %.400s)", t,
                     (long long)x->attempts, x->last_error);
            failing = 1;
            nout++;
            hilt_manifest_free(&m);
            continue;
        }
        if (check_manifest(&r, &m, e) < 0) {
            /* the CA is gone, or its rules changed: a renewal failure too */
            snprintf(x->error, sizeof(x->error), "%s", e ? e->msg : "refused");
            x->failed = 1;
            x->action = HILT_CLM_RENEW;
            struct hilt_clm_result tmp = *x;
            record_renewal(&r, &m, 0, tmp.error, x);
            hilt_err_clear(e);
            failing = 1;
            nout++;
            hilt_manifest_free(&m);
            continue;
        }
        char reason[400];
        snprintf(reason, sizeof(reason), "%s", x->reason);
        int arc = apply_one(&r, &m, reason, x, e);
        hilt_manifest_free(&m);
        if (arc < 0) {
            /* refused by the CA at issuance: recorded, reported, next one */
            snprintf(x->error, sizeof(x->error), "%s", e ? e->msg : "refused");
            x->failed = 1;
            hilt_err_clear(e);
        }
        failing |= x->failed;
        nout++;
    }
    rc = failing ? 1 : 0;
    goto done;
oom:
    hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
done:
    free(dl.names);
    run_free(&r);
    if (rc < 0) {
        free(out);
        out = NULL;
        nout = 0;
    }
    *res = out;
    *nres = nout;
    return rc;
}
