/* submit.c - the one path by which a CSR becomes a certificate in `hilt
 * serve` (hilt_api_submit, api/api.h), and the steps after it: approve,
 * reject, issue an approved request, revoke (api/submit.h).
 *
 * Every step is audited under the principal that took it, in the same
 * store transaction as the change it records. Pre-approved requests issue
 * inside the transaction that records the request, so a request row never
 * says "issued" without its certificate, nor the other way round.
 * Decisions are conditional updates (state = 'pending'): of two approvers,
 * or two nodes, racing on one request exactly one wins. */
#include "api/submit.h"

#include "api/auth.h"
#include "ca/ca.h"
#include "ca/csr.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "store/store.h"
#include "store/store_api.h"
#include "x509/revocation.h"

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "acme:…" principals come through ACME, everything else through /v1. */
static const char *via_of(const struct hilt_principal *who)
{
    return !strncmp(who->id, "acme:", 5) ? "acme" : "rest";
}

static void rules_of(const struct hilt_ca *ca, struct hilt_issue_rules *r)
{
    hilt_issue_rules_init(r);
    r->allow_domains = ca->rec.allow_domains;
    if (ca->rec.max_lifetime > 0) r->max_lifetime = ca->rec.max_lifetime;
}

/* Names as one comma-separated string; -1 when they do not fit (never
 * truncated: approvers are checked against exactly these names). */
static int join(const struct hilt_names *n, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n->n; i++) {
        int w = snprintf(out + o, cap - o, "%s%s", i ? "," : "", n->v[i]);
        if (w < 0 || (size_t)w >= cap - o) return -1;
        o += (size_t)w;
    }
    return 0;
}

/* HILT_NAMES_MAX names of at most 253 characters, with their commas */
#define JOINED_MAX (HILT_NAMES_MAX * 254 + 1)

static int new_rid(char rid[64], struct hilt_err *e)
{
    unsigned char r[16];
    static const char hx[] = "0123456789abcdef";
    if (RAND_bytes(r, sizeof(r)) != 1) return hilt_err_ossl(e, HILT_E_RUNTIME, "no random bytes");
    memcpy(rid, "req_", 4);
    for (size_t i = 0; i < sizeof(r); i++) {
        rid[4 + 2 * i] = hx[r[i] >> 4];
        rid[5 + 2 * i] = hx[r[i] & 15];
    }
    rid[4 + 2 * sizeof(r)] = '\0';
    return 0;
}

static char *csr_pem(X509_REQ *csr)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL, *p = NULL;
    if (b && PEM_write_bio_X509_REQ(b, csr) == 1) {
        long n = BIO_get_mem_data(b, &p);
        if (n > 0 && (out = malloc((size_t)n + 1))) {
            memcpy(out, p, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(b);
    return out;
}

/* The first pre-approved scope that covers the request, or NULL. With
 * *lifetime 0, a covering scope's max-lifetime becomes the lifetime. */
static const struct hilt_scope *covering_scope(const struct hilt_api *api,
                                               const struct hilt_names *n, const char *env,
                                               int64_t *lifetime)
{
    for (size_t i = 0; i < api->nscopes; i++) {
        const struct hilt_scope *sc = &api->scopes[i];
        int64_t lt = *lifetime;
        if (!lt) lt = sc->max_lifetime ? sc->max_lifetime : HILT_API_DEFAULT_LIFETIME;
        if (hilt_scope_covers(sc, 1, (const char *const *)n->v, n->n, env, lt)) {
            *lifetime = lt;
            return sc;
        }
    }
    return NULL;
}

static int valid_meta_str(const char *s, size_t max)
{
    if (!s) return 1;
    size_t n = strlen(s);
    if (n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
    return 1;
}

static void count(struct hilt_api *api, const char *fmt, const char *a, const char *b)
{
    char series[256];
    snprintf(series, sizeof(series), fmt, a, b);
    hilt_api_count(api, series, 1);
}

/* Issue the request's CSR now, in the caller's transaction. */
static int issue_now(struct hilt_api *api, X509_REQ *csr, const struct hilt_names *names,
                     const char *actor, const char *via, const struct hilt_cert_meta *meta,
                     int64_t lifetime, struct hilt_issued *issued, struct hilt_err *e)
{
    struct hilt_issue_req r = {.names = (const char *const *)names->v,
                               .nnames = names->n,
                               .csr = csr,
                               .csr_source = "CSR",
                               .lifetime = lifetime,
                               .owner = meta->owner,
                               .service = meta->service,
                               .env = meta->env,
                               .pipeline = !strcmp(via, "acme") ? "acme" : "api",
                               .actor = actor,
                               .csr_checked = 1}; /* by hilt_api_submit() */
    /* DER only: no X509 decoded for a certificate the caller sends as bytes
     * (OpenSSL 3's key decoders cost more than the signature) */
    return hilt_ca_issue_batch_der(api->ca, &r, 1, issued, e);
}

int hilt_api_submit(struct hilt_api *api, const struct hilt_principal *who, X509_REQ *csr,
                    const struct hilt_cert_meta *meta, enum hilt_submit_state *state,
                    char request_id[64], struct hilt_issued *issued, struct hilt_err *e)
{
    struct hilt_err tmp_err;
    if (!e) e = &tmp_err;
    struct hilt_names names = {0};
    struct hilt_issue_rules rules;
    char *pem = NULL, res[1200];
    char *joined = malloc(JOINED_MAX), *obj = malloc(JOINED_MAX + 400);
    int rc = -1;
    const char *via = via_of(who);
    request_id[0] = '\0';
    const char *env = meta->env ? meta->env : "";
    if (!joined || !obj) {
        hilt_err_set(e, HILT_E_RUNTIME, 500, "out of memory");
        goto out;
    }
    if (!valid_meta_str(meta->owner, 127) || !valid_meta_str(meta->service, 127) ||
        !valid_meta_str(env, 63)) {
        hilt_err_set(e, HILT_E_INPUT, 400,
                     "owner and service must be at most 127, environment at most 63 printable "
                     "characters");
        goto out;
    }
    if (meta->lifetime < 0) {
        hilt_err_set(e, HILT_E_INPUT, 400, "lifetime must be positive");
        goto out;
    }
    rules_of(api->ca, &rules);
    /* The CA's own rules first: bad input stores nothing but its audit record. */
    rules.csr_signature_checked = meta->csr_checked;
    if (hilt_csr_check(csr, &rules, "CSR", &names, e) < 0) {
        e->code = 400;
        goto refused;
    }
    if (!names.n) {
        hilt_err_set(e, HILT_E_INPUT, 400, "CSR: no name (CN or subjectAltName) to certify");
        goto refused;
    }
    int64_t lifetime = meta->lifetime;
    const struct hilt_scope *sc = covering_scope(api, &names, env, &lifetime);
    if (!lifetime) lifetime = HILT_API_DEFAULT_LIFETIME;
    if (hilt_issue_lifetime_check(lifetime, &rules, e) < 0) {
        e->code = 400;
        goto refused;
    }
    if (join(&names, joined, JOINED_MAX) < 0) {
        hilt_err_set(e, HILT_E_INPUT, 400, "CSR: too many names");
        goto refused;
    }
    if (!(pem = csr_pem(csr))) {
        hilt_err_set(e, HILT_E_RUNTIME, 500, "cannot encode the CSR");
        goto out;
    }
    if (new_rid(request_id, e) < 0) goto out;
    struct hilt_api_request_rec rec = {.lifetime = lifetime, .names = joined, .csr = pem};
    snprintf(rec.rid, sizeof(rec.rid), "%s", request_id);
    snprintf(rec.requester, sizeof(rec.requester), "%s", who->id);
    snprintf(rec.via, sizeof(rec.via), "%s", via);
    snprintf(rec.owner, sizeof(rec.owner), "%s", meta->owner ? meta->owner : "");
    snprintf(rec.service, sizeof(rec.service), "%s", meta->service ? meta->service : "");
    snprintf(rec.env, sizeof(rec.env), "%s", env);
    snprintf(obj, JOINED_MAX + 400, "request=%s names=%s env=%s lifetime=%lld via=%s", request_id,
             joined, env[0] ? env : "-", (long long)lifetime, via);
    if (!sc) {
        snprintf(rec.state, sizeof(rec.state), "pending");
        struct hilt_audit_ev ev = {who->id, "request.submit", obj, "pending"};
        if (hilt_store_request_add(api->st, &rec, &ev, e) < 0) goto out;
        *state = HILT_SUBMIT_PENDING;
        count(api, "hilt_requests_total{via=\"%s\",result=\"%s\"}", via, "pending");
        rc = 0;
        goto out;
    }
    /* pre-approved: request, certificate and both audit records in one
     * transaction */
    if (hilt_store_begin(api->st, e) < 0) goto out;
    struct hilt_cert_meta m = *meta;
    m.env = env;
    if (issue_now(api, csr, &names, who->id, via, &m, lifetime, issued, e) < 0) {
        hilt_store_rollback(api->st);
        if (e->kind == HILT_E_INPUT) e->code = 400;
        goto refused;
    }
    snprintf(rec.state, sizeof(rec.state), "issued");
    snprintf(rec.approver, sizeof(rec.approver), "scope:%s%s%s", sc->pattern, sc->env[0] ? "@" : "",
             sc->env);
    rec.decided_at = hilt_now();
    snprintf(rec.serial, sizeof(rec.serial), "%s", issued->serial);
    snprintf(rec.issuer, sizeof(rec.issuer), "%s", who->id);
    snprintf(res, sizeof(res), "issued serial=%s (pre-approved: %s)", issued->serial, rec.approver);
    struct hilt_audit_ev ev = {who->id, "request.submit", obj, res};
    if (hilt_store_request_add(api->st, &rec, &ev, e) < 0 || hilt_store_commit(api->st, e) < 0) {
        hilt_store_rollback(api->st);
        hilt_issued_free(issued);
        goto out;
    }
    *state = HILT_SUBMIT_ISSUED;
    count(api, "hilt_requests_total{via=\"%s\",result=\"%s\"}", via, "issued");
    count(api, "hilt_certificates_issued_total{via=\"%s\",path=\"%s\"}", via, "preapproved");
    rc = 0;
    goto out;
refused:
    /* what the CA refused is audited (the request itself is not stored) */
    if (e->code == 400) {
        char names_s[2048];
        if (join(&names, names_s, sizeof(names_s)) < 0)
            snprintf(names_s, sizeof(names_s), "(many)");
        snprintf(obj, JOINED_MAX + 400, "names=%s env=%s via=%s", names_s[0] ? names_s : "-",
                 env[0] ? env : "-", via);
        snprintf(res, sizeof(res), "rejected: %s", e->msg);
        struct hilt_audit_ev iev = {who->id, "request.submit", obj, res};
        hilt_store_audit_append(api->st, &iev, NULL);
        count(api, "hilt_requests_total{via=\"%s\",result=\"%s\"}", via, "refused");
    }
    request_id[0] = '\0';
out:
    free(pem);
    free(joined);
    free(obj);
    hilt_names_free(&names);
    return rc;
}

int hilt_api_request_state(struct hilt_api *api, const char *request_id, int *state,
                           char serial[64], struct hilt_err *e)
{
    struct hilt_api_request_rec r;
    int found = hilt_store_request_get(api->st, request_id, &r, e);
    if (found < 0) return -1;
    if (!found) return hilt_err_set(e, HILT_E_INPUT, 404, "no request %s", request_id);
    *state = !strcmp(r.state, "issued") ? 1 : !strcmp(r.state, "rejected") ? 2 : 0;
    if (serial) snprintf(serial, 64, "%s", r.serial);
    hilt_api_request_rec_free(&r);
    return 0;
}

/* ---- decisions ---------------------------------------------------------------------- */

static int load_request(struct hilt_api *api, const char *rid, struct hilt_api_request_rec *out,
                        struct hilt_err *e)
{
    int found = hilt_store_request_get(api->st, rid, out, e);
    if (found < 0) return -1;
    if (!found) return hilt_err_set(e, HILT_E_INPUT, 404, "no request %s", rid);
    return 0;
}

/* Parse the stored CSR and issue it for request r, recording the serial. */
static int issue_request(struct hilt_api *api, const char *actor, struct hilt_api_request_rec *r,
                         struct hilt_issued *issued, struct hilt_err *e)
{
    struct hilt_names names = {0};
    struct hilt_issue_rules rules;
    int rc = -1;
    X509_REQ *csr = hilt_csr_parse(r->csr, strlen(r->csr), r->rid, e);
    if (!csr) goto out;
    rules_of(api->ca, &rules);
    if (hilt_csr_check(csr, &rules, r->rid, &names, e) < 0) goto out;
    {
        /* exactly the names the approver was shown and checked against */
        char *j = malloc(JOINED_MAX);
        int same = j && join(&names, j, JOINED_MAX) == 0 && !strcmp(j, r->names);
        free(j);
        if (!same) {
            hilt_err_set(e, HILT_E_INPUT, 409,
                         "request %s: the CSR's names differ from the recorded ones", r->rid);
            goto out;
        }
    }
    struct hilt_cert_meta m = {
        .owner = r->owner, .service = r->service, .env = r->env, .lifetime = r->lifetime};
    char obj[200], res[200];
    snprintf(obj, sizeof(obj), "request=%s", r->rid);
    if (hilt_store_begin(api->st, e) < 0) goto out;
    if (issue_now(api, csr, &names, actor, r->via, &m, r->lifetime, issued, e) < 0) {
        hilt_store_rollback(api->st);
        goto out;
    }
    snprintf(res, sizeof(res), "issued serial=%s", issued->serial);
    struct hilt_audit_ev ev = {actor, "request.issue", obj, res};
    int done =
        hilt_store_request_issued(api->st, r->rid, issued->serial, actor, hilt_now(), &ev, e);
    if (done <= 0 || hilt_store_commit(api->st, e) < 0) {
        hilt_store_rollback(api->st);
        hilt_issued_free(issued);
        if (done == 0)
            hilt_err_set(e, HILT_E_INPUT, 409, "request %s was decided meanwhile", r->rid);
        goto out;
    }
    snprintf(r->state, sizeof(r->state), "issued");
    snprintf(r->serial, sizeof(r->serial), "%s", issued->serial);
    snprintf(r->issuer, sizeof(r->issuer), "%s", actor);
    count(api, "hilt_certificates_issued_total{via=\"%s\",path=\"%s\"}", r->via, "approved");
    rc = 0;
out:
    X509_REQ_free(csr);
    hilt_names_free(&names);
    return rc;
}

int hilt_api_decide(struct hilt_api *api, const struct hilt_auth *who, const char *rid, int approve,
                    const char *reason, struct hilt_api_request_rec *out,
                    struct hilt_issued *issued, struct hilt_err *e)
{
    struct hilt_err tmp_err;
    if (!e) e = &tmp_err;
    const char *verb = approve ? "approve" : "reject";
    if (load_request(api, rid, out, e) < 0) return -1;
    char obj[200], res[700];
    snprintf(obj, sizeof(obj), "request=%s", rid);
    /* Separation of duties: never the requester, whatever its roles. */
    if (!strcmp(who->p.id, out->requester)) {
        hilt_err_set(e, HILT_E_INPUT, 403,
                     "separation of duties: %s requested %s and cannot %s it; another principal "
                     "holding approver for its scope must",
                     who->p.id, rid, verb);
        goto refused;
    }
    if (!hilt_auth_allows_csv(who, HILT_ROLE_APPROVER, out->env, out->names)) {
        hilt_err_set(e, HILT_E_INPUT, 403,
                     "%s does not hold approver for environment '%s' and names %s", who->p.id,
                     out->env[0] ? out->env : "-", out->names);
        goto refused;
    }
    if (strcmp(out->state, "pending")) {
        hilt_err_set(e, HILT_E_INPUT, 409, "request %s is %s, not pending", rid, out->state);
        goto refused;
    }
    const char *to = approve ? "approved" : "rejected";
    snprintf(res, sizeof(res), "%s%s%s", to, reason && *reason ? ": " : "", reason ? reason : "");
    struct hilt_audit_ev ev = {who->p.id, approve ? "request.approve" : "request.reject", obj, res};
    int64_t now = hilt_now();
    int won = hilt_store_request_decide(api->st, rid, to, who->p.id, reason, now, &ev, e);
    if (won < 0) return -1;
    if (!won) {
        hilt_err_set(e, HILT_E_INPUT, 409, "request %s was decided by someone else meanwhile", rid);
        goto refused;
    }
    snprintf(out->state, sizeof(out->state), "%s", to);
    snprintf(out->approver, sizeof(out->approver), "%s", who->p.id);
    snprintf(out->reason, sizeof(out->reason), "%s", reason ? reason : "");
    out->decided_at = now;
    count(api, "hilt_approvals_total{decision=\"%s\"%s}", to, "");
    if (!approve || !api->issue_on_approve) return 0;
    if (issue_request(api, who->p.id, out, issued, e) < 0) {
        if (e->code < 400 || e->code > 599) e->code = 500;
        return 1;
    }
    return 0;
refused:
    snprintf(res, sizeof(res), "refused: %s", e->msg);
    struct hilt_audit_ev rev = {who->p.id, approve ? "request.approve" : "request.reject", obj,
                                res};
    hilt_store_audit_append(api->st, &rev, NULL);
    count(api, "hilt_approvals_total{decision=\"%s\"%s}", "refused", "");
    return -1;
}

int hilt_api_issue(struct hilt_api *api, const struct hilt_auth *who, const char *rid,
                   struct hilt_api_request_rec *out, struct hilt_issued *issued, struct hilt_err *e)
{
    struct hilt_err tmp_err;
    if (!e) e = &tmp_err;
    if (load_request(api, rid, out, e) < 0) return -1;
    char obj[200], res[700];
    snprintf(obj, sizeof(obj), "request=%s", rid);
    if (!strcmp(who->p.id, out->requester)) {
        hilt_err_set(e, HILT_E_INPUT, 403,
                     "separation of duties: %s requested %s and cannot issue it", who->p.id, rid);
        goto refused;
    }
    if (!hilt_auth_allows_csv(who, HILT_ROLE_ISSUER, out->env, out->names)) {
        hilt_err_set(e, HILT_E_INPUT, 403,
                     "%s does not hold issuer for environment '%s' and names %s", who->p.id,
                     out->env[0] ? out->env : "-", out->names);
        goto refused;
    }
    if (strcmp(out->state, "approved")) {
        hilt_err_set(e, HILT_E_INPUT, 409, "request %s is %s, not approved", rid, out->state);
        goto refused;
    }
    if (issue_request(api, who->p.id, out, issued, e) < 0) {
        if (e->kind == HILT_E_INPUT && (e->code < 400 || e->code > 499))
            e->code = 400;
        else if (e->kind != HILT_E_INPUT)
            e->code = 500;
        goto refused;
    }
    return 0;
refused:
    snprintf(res, sizeof(res), "refused: %s", e->msg);
    struct hilt_audit_ev rev = {who->p.id, "request.issue", obj, res};
    hilt_store_audit_append(api->st, &rev, NULL);
    return -1;
}

/* ---- revocation ------------------------------------------------------------------------ */

struct cert_found {
    int found;
    char serial[64], env[64], source[32], names[4096];
};
static int cert_found_cb(const struct hilt_api_cert_row *r, void *arg)
{
    struct cert_found *f = arg;
    f->found = 1;
    snprintf(f->serial, sizeof(f->serial), "%s", r->serial);
    snprintf(f->env, sizeof(f->env), "%s", r->env);
    snprintf(f->source, sizeof(f->source), "%s", r->source);
    snprintf(f->names, sizeof(f->names), "%s", r->names);
    return 1;
}

int hilt_api_revoke(struct hilt_api *api, const struct hilt_auth *who, const char *serial,
                    int reason, struct hilt_err *e)
{
    struct hilt_err tmp_err;
    if (!e) e = &tmp_err;
    char norm[80], obj[200], res[800];
    if (hilt_hex_normalise(serial, norm, sizeof(norm)) < 0 || strlen(norm) > 64)
        return hilt_err_set(e, HILT_E_INPUT, 400, "'%s' is not a serial (hex digits)", serial);
    struct cert_found f = {0};
    if (hilt_store_cert_row_by_serial(api->st, norm, cert_found_cb, &f, e) < 0) return -1;
    if (!f.found || strcmp(f.source, "issued"))
        return hilt_err_set(e, HILT_E_INPUT, 404, "no certificate %s issued by this CA", norm);
    snprintf(obj, sizeof(obj), "serial=%s", norm);
    int allowed = hilt_auth_allows_csv(who, HILT_ROLE_APPROVER, f.env, f.names);
    if (!allowed) {
        /* the principal that requested it may give it up */
        struct hilt_api_request_rec r;
        int found = hilt_store_request_by_serial(api->st, norm, &r, e);
        if (found < 0) return -1;
        if (found) {
            allowed = !strcmp(r.requester, who->p.id);
            hilt_api_request_rec_free(&r);
        }
    }
    if (!allowed) {
        hilt_err_set(e, HILT_E_INPUT, 403,
                     "%s may not revoke %s (needs approver or admin over environment '%s' and "
                     "names %s, or to have requested it)",
                     who->p.id, norm, f.env[0] ? f.env : "-", f.names);
        snprintf(res, sizeof(res), "refused: %s", e->msg);
        struct hilt_audit_ev rev = {who->p.id, "cert.revoke", obj, res};
        hilt_store_audit_append(api->st, &rev, NULL);
        return -1;
    }
    snprintf(res, sizeof(res), "ok reason=%s", hilt_crl_reason_name(reason));
    struct hilt_audit_ev ev = {who->p.id, "cert.revoke", obj, res};
    int rc = hilt_store_cert_revoke(api->st, norm, reason, hilt_now(), &ev, e);
    if (rc == 0) count(api, "hilt_revocations_total{via=\"%s\"%s}", "rest", "");
    if (rc < 0 && e->kind == HILT_E_INPUT) e->code = 404;
    return rc;
}
