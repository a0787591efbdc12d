/* rest.c - the REST API under /v1 (docs/api.md): authentication (bearer
 * token or client certificate, api/auth.h), routing, bounded query and JSON
 * body parsing, and the JSON shapes of requests, certificates, audit records
 * and leases. The workflow itself is api/submit.c.
 *
 * Problems are RFC 7807 documents with hilt types urn:hilt:error:NAME.
 * Bad input (malformed JSON, unknown fields, wrong content type, bad query
 * parameters) is refused before anything is stored or audited; refusals of
 * authorised principals by the workflow (scope, separation of duties, CA
 * rules) are audited there. Failed authentication is counted on /metrics,
 * not audited, so an anonymous client cannot grow the audit chain. */
#include "api/api.h"
#include "api/auth.h"
#include "api/submit.h"
#include "ca/ca.h"
#include "ca/csr.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "store/store.h"
#include "store/store_api.h"
#include "x509/pem.h"
#include "x509/revocation.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PAGE_DEFAULT 50
#define PAGE_MAX 500
#define QMAX 16

#define P_MALFORMED "urn:hilt:error:malformed"
#define P_UNAUTH "urn:hilt:error:unauthorized"
#define P_FORBIDDEN "urn:hilt:error:forbidden"
#define P_NOTFOUND "urn:hilt:error:notFound"
#define P_CONFLICT "urn:hilt:error:conflict"
#define P_METHOD "urn:hilt:error:methodNotAllowed"
#define P_MEDIA "urn:hilt:error:unsupportedMediaType"
#define P_BADCSR "urn:hilt:error:badCSR"
#define P_INTERNAL "urn:hilt:error:internal"

int hilt_rest_init(struct hilt_api *api, struct hilt_err *e)
{
    (void)api;
    (void)e;
    return 0;
}

void hilt_rest_free(struct hilt_api *api)
{
    (void)api;
}

/* ---- small parsers ---------------------------------------------------------------------- */

struct qparam {
    char key[32];
    char val[512];
};
struct query {
    struct qparam p[QMAX];
    int n;
};

static int hexv(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* percent-decode into out (cap), refusing NULs and control bytes */
static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '+')
            c = ' ';
        else if (c == '%') {
            if (i + 2 >= n) return -1;
            int h = hexv(s[i + 1]), l = hexv(s[i + 2]);
            if (h < 0 || l < 0) return -1;
            c = h * 16 + l;
            i += 2;
        }
        if (c < 0x20 || c == 0x7f) return -1;
        if (o + 1 >= cap) return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

static int parse_query(const char *q, struct query *out, const char *const *allowed, char *why,
                       size_t wcap)
{
    out->n = 0;
    const char *p = q ? q : "";
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t kl = eq ? (size_t)(eq - p) : len;
            if (out->n == QMAX) return snprintf(why, wcap, "too many query parameters"), -1;
            struct qparam *qp = &out->p[out->n];
            if (pct_decode(p, kl, qp->key, sizeof(qp->key)) < 0 ||
                pct_decode(eq ? eq + 1 : p + len, eq ? len - kl - 1 : 0, qp->val, sizeof(qp->val)) <
                    0)
                return snprintf(why, wcap, "malformed query parameter"), -1;
            int ok = 0;
            for (const char *const *a = allowed; *a; a++)
                if (!strcmp(*a, qp->key)) ok = 1;
            if (!ok) {
                char list[300] = "";
                for (const char *const *a = allowed; *a; a++)
                    snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                             a == allowed ? "" : ", ", *a);
                snprintf(why, wcap, "unknown query parameter '%.40s' (known: %s)", qp->key,
                         list[0] ? list : "none");
                return -1;
            }
            for (int i = 0; i < out->n; i++)
                if (!strcmp(out->p[i].key, qp->key))
                    return snprintf(why, wcap, "query parameter '%s' given twice", qp->key), -1;
            out->n++;
        }
        p += len + (amp ? 1 : 0);
    }
    return 0;
}

static const char *qget(const struct query *q, const char *k)
{
    for (int i = 0; i < q->n; i++)
        if (!strcmp(q->p[i].key, k)) return q->p[i].val;
    return NULL;
}

static int qint(const struct query *q, const char *k, int64_t def, int64_t min, int64_t max,
                int64_t *out)
{
    const char *v = qget(q, k);
    *out = def;
    if (!v) return 0;
    if (!*v) return -1;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (*end || n < min || n > max) return -1;
    *out = n;
    return 0;
}

/* ---- replies ------------------------------------------------------------------------------ */

static void problem_from(struct hilt_reply *r, const struct hilt_err *e)
{
    int st = e->code >= 400 && e->code <= 599 ? e->code : e->kind == HILT_E_INPUT ? 400 : 500;
    const char *type = st == 400   ? P_MALFORMED
                       : st == 401 ? P_UNAUTH
                       : st == 403 ? P_FORBIDDEN
                       : st == 404 ? P_NOTFOUND
                       : st == 409 ? P_CONFLICT
                                   : P_INTERNAL;
    hilt_reply_problem(r, st, type, "%s", st >= 500 && e->kind != HILT_E_INPUT ? e->msg : e->msg);
}

static json_t *tstamp(int64_t t)
{
    return hilt_json_time((time_t)t);
}

static json_t *names_json(const char *csv)
{
    json_t *a = json_array();
    const char *p = csv ? csv : "";
    while (*p) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        char nb[300];
        if (l && l < sizeof(nb)) {
            memcpy(nb, p, l);
            nb[l] = '\0';
            json_array_append_new(a, hilt_json_str(nb));
        }
        p += l + (c ? 1 : 0);
    }
    return a;
}

static json_t *request_json(const struct hilt_api_request_rec *r, int full)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", hilt_json_str(r->rid));
    json_object_set_new(o, "state", hilt_json_str(r->state));
    json_object_set_new(o, "requester", hilt_json_str(r->requester));
    json_object_set_new(o, "via", hilt_json_str(r->via));
    json_object_set_new(o, "names", names_json(r->names));
    json_object_set_new(o, "owner", hilt_json_str(r->owner));
    json_object_set_new(o, "service", hilt_json_str(r->service));
    json_object_set_new(o, "environment", hilt_json_str(r->env));
    json_object_set_new(o, "lifetime", json_integer(r->lifetime));
    json_object_set_new(o, "created", tstamp(r->created));
    json_object_set_new(o, "updated", tstamp(r->updated));
    json_object_set_new(o, "approver", r->approver[0] ? hilt_json_str(r->approver) : json_null());
    json_object_set_new(o, "decided", tstamp(r->decided_at));
    json_object_set_new(o, "reason", r->reason[0] ? hilt_json_str(r->reason) : json_null());
    json_object_set_new(o, "serial", r->serial[0] ? hilt_json_str(r->serial) : json_null());
    json_object_set_new(o, "issuer", r->issuer[0] ? hilt_json_str(r->issuer) : json_null());
    if (full) json_object_set_new(o, "csr", hilt_json_str(r->csr));
    return o;
}

static json_t *cert_json(const struct hilt_api_cert_row *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "serial", hilt_json_str(c->serial));
    json_object_set_new(o, "sha256", hilt_json_str(c->sha256));
    json_object_set_new(o, "subject", hilt_json_str(c->subject));
    json_object_set_new(o, "names", names_json(c->names));
    json_object_set_new(o, "not_before", tstamp(c->not_before));
    json_object_set_new(o, "not_after", tstamp(c->not_after));
    json_object_set_new(o, "key_type", hilt_json_str(c->key_type));
    json_object_set_new(o, "owner", hilt_json_str(c->owner));
    json_object_set_new(o, "service", hilt_json_str(c->service));
    json_object_set_new(o, "environment", hilt_json_str(c->env));
    json_object_set_new(o, "status", hilt_json_str(c->status));
    json_object_set_new(o, "source", hilt_json_str(c->source));
    json_object_set_new(o, "ca", hilt_json_str(c->ca));
    json_object_set_new(o, "pipeline", hilt_json_str(c->pipeline));
    json_object_set_new(o, "revoked", tstamp(c->revoked_at));
    if (c->revoked_at)
        json_object_set_new(o, "revoke_reason",
                            hilt_json_str(hilt_crl_reason_name(c->revoke_reason)));
    return o;
}

/* leaf and chain as PEM strings into o, straight from the DER (no X509
 * decoded: OpenSSL 3's public-key decoders cost more than a signature) */
static void add_pem(struct hilt_api *api, json_t *o, const uint8_t *der, size_t len)
{
    if (!der || !len || len > (1u << 20)) return;
    struct hilt_buf b;
    hilt_buf_init(&b, 4u << 20);
    size_t b64 = 4 * ((len + 2) / 3);
    char *enc = malloc(b64 + 1);
    if (!enc) goto out;
    EVP_EncodeBlock((unsigned char *)enc, der, (int)len);
    hilt_buf_add_str(&b, "-----BEGIN CERTIFICATE-----\n");
    for (size_t i = 0; i < b64; i += 64) {
        hilt_buf_add(&b, enc + i, b64 - i < 64 ? b64 - i : 64);
        hilt_buf_add(&b, "\n", 1);
    }
    hilt_buf_add_str(&b, "-----END CERTIFICATE-----\n");
    free(enc);
    json_object_set_new(o, "certificate", hilt_json_str(hilt_buf_cstr(&b)));
    if (hilt_ca_chain_pem(api->ca, NULL, &b) == 0)
        json_object_set_new(o, "chain", hilt_json_str(hilt_buf_cstr(&b)));
out:
    hilt_buf_free(&b);
}

/* ---- authentication ------------------------------------------------------------------------ */

static int authenticate(struct hilt_api *api, const struct hilt_req *rq, struct hilt_auth *a,
                        struct hilt_reply *r)
{
    struct hilt_err e = {0};
    const char *h = hilt_req_header(rq, "Authorization");
    int rc;
    const char *reason = "credentials";
    if (h) {
        if (strncasecmp(h, "Bearer ", 7)) {
            hilt_err_set(&e, HILT_E_INPUT, 401,
                         "Authorization must be 'Bearer TOKEN' (tokens: hilt token create)");
            rc = -1;
            reason = "scheme";
        } else {
            const char *t = h + 7;
            while (*t == ' ')
                t++;
            rc = hilt_auth_bearer(api->st, t, hilt_now(), a, &e);
            reason = "token";
        }
    } else if (rq->client_cert) {
        rc = hilt_auth_cert(api->st, rq->client_cert, 0, a, &e);
        reason = "certificate";
    } else if (rq->client_cert_error) {
        rc = hilt_err_set(&e, HILT_E_INPUT, 401,
                          "client certificate refused: %s (it must be issued by this hilt CA)",
                          rq->client_cert_error);
        reason = "certificate";
    } else {
        rc = hilt_err_set(&e, HILT_E_INPUT, 401,
                          "authenticate with 'Authorization: Bearer TOKEN' or a client "
                          "certificate issued by this CA");
        reason = "none";
    }
    if (rc == 0) return 0;
    if (e.code != 401) {
        problem_from(r, &e);
        return -1;
    }
    char series[120];
    snprintf(series, sizeof(series), "hilt_api_auth_failures_total{kind=\"%s\"}", reason);
    hilt_api_count(api, series, 1);
    hilt_reply_problem(r, 401, P_UNAUTH, "%s", e.msg);
    hilt_reply_header(r, "WWW-Authenticate", "Bearer realm=\"hilt\"");
    return -1;
}

/* an auditor or admin grant without environment or name limits */
static int see_all(const struct hilt_auth *a)
{
    for (size_t i = 0; i < a->ng; i++)
        if ((a->g[i].role & (HILT_ROLE_AUDITOR | HILT_ROLE_ADMIN)) && !a->g[i].env[0] &&
            !a->g[i].names[0])
            return 1;
    return 0;
}

static int may_see_request(const struct hilt_auth *a, const struct hilt_api_request_rec *r)
{
    if (!strcmp(a->p.id, r->requester)) return 1;
    return hilt_auth_allows_csv(
        a, HILT_ROLE_APPROVER | HILT_ROLE_ISSUER | HILT_ROLE_AUDITOR | HILT_ROLE_ADMIN, r->env,
        r->names);
}

static int may_see_cert(const struct hilt_auth *a, const struct hilt_api_cert_row *c)
{
    unsigned any = HILT_ROLE_REQUESTER | HILT_ROLE_APPROVER | HILT_ROLE_ISSUER | HILT_ROLE_AUDITOR |
                   HILT_ROLE_ADMIN;
    return hilt_auth_allows_csv(a, any, c->env, c->names);
}

/* ---- JSON bodies ------------------------------------------------------------------------------
 */

/* The body as a JSON object. empty_ok: no body is {}. */
static json_t *body_json(const struct hilt_req *rq, int empty_ok, struct hilt_reply *r)
{
    if (rq->body_len == 0 && empty_ok) return json_object();
    const char *ct = hilt_req_header(rq, "Content-Type");
    size_t tl = ct ? strcspn(ct, "; \t") : 0;
    if (!ct || tl != 16 || strncasecmp(ct, "application/json", 16)) {
        hilt_reply_problem(r, 415, P_MEDIA, "send the body as Content-Type: application/json");
        return NULL;
    }
    struct hilt_err e = {0};
    json_t *j = hilt_json_parse(rq->body, rq->body_len, "request body", &e);
    if (!j) {
        hilt_reply_problem(r, 400, P_MALFORMED, "%s", e.msg);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        hilt_reply_problem(r, 400, P_MALFORMED, "request body: expected a JSON object");
        return NULL;
    }
    return j;
}

/* Refuse fields not in `known`. */
static int known_fields(json_t *j, const char *const *known, struct hilt_reply *r)
{
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        int ok = 0;
        for (const char *const *p = known; *p; p++)
            if (!strcmp(*p, k)) ok = 1;
        if (!ok) {
            char kb[64];
            snprintf(kb, sizeof(kb), "%.40s", k);
            for (char *c = kb; *c; c++)
                if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) *c = '?';
            hilt_reply_problem(r, 400, P_MALFORMED, "request body: unknown field '%s'", kb);
            return -1;
        }
    }
    return 0;
}

/* an optional string field */
static int str_field(json_t *j, const char *k, size_t max, const char **out, struct hilt_reply *r)
{
    json_t *v = json_object_get(j, k);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        hilt_reply_problem(r, 400, P_MALFORMED,
                           "request body: '%s' must be a string of at most %zu "
                           "characters",
                           k, max);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* ---- handlers ----------------------------------------------------------------------------------
 */

/* The names a CSR asks for (CN, then SAN DNS and IP), lowercased, for the
 * authorisation check. No signature check here: hilt_api_submit() makes the
 * CA's full check (and audits a refusal) before anything is stored. */
static int csr_names(X509_REQ *csr, struct hilt_names *out, struct hilt_err *e)
{
    X509_NAME *subj = X509_REQ_get_subject_name(csr);
    int i = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
    char nb[300];
    struct hilt_issue_rules rules;
    hilt_issue_rules_init(&rules);
    if (i >= 0) {
        ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
        int l = ASN1_STRING_length(s);
        if (l > 0 && l < (int)sizeof(nb)) {
            memcpy(nb, ASN1_STRING_get0_data(s), (size_t)l);
            nb[l] = '\0';
            if (hilt_names_add(out, nb, &rules, e) < 0) return -1;
        }
    }
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    GENERAL_NAMES *gens = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
    int rc = 0;
    for (int k = 0; rc == 0 && gens && k < sk_GENERAL_NAME_num(gens); k++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, k);
        if (g->type == GEN_DNS) {
            int l = ASN1_STRING_length(g->d.dNSName);
            if (l <= 0 || l >= (int)sizeof(nb)) continue;
            memcpy(nb, ASN1_STRING_get0_data(g->d.dNSName), (size_t)l);
            nb[l] = '\0';
            rc = hilt_names_add(out, nb, &rules, e);
        } else if (g->type == GEN_IPADD) {
            const unsigned char *ip = ASN1_STRING_get0_data(g->d.iPAddress);
            int l = ASN1_STRING_length(g->d.iPAddress);
            if ((l == 4 && inet_ntop(AF_INET, ip, nb, sizeof(nb))) ||
                (l == 16 && inet_ntop(AF_INET6, ip, nb, sizeof(nb))))
                rc = hilt_names_add(out, nb, &rules, e);
        }
    }
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (rc == 0 && !out->n) rc = hilt_err_set(e, HILT_E_INPUT, 0, "CSR: no name to certify");
    return rc;
}

static void h_create(struct hilt_api *api, const struct hilt_auth *a, const struct hilt_req *rq,
                     struct hilt_reply *r)
{
    static const char *const known[] = {"csr", "owner", "service", "environment", "lifetime", NULL};
    json_t *j = body_json(rq, 0, r);
    if (!j) return;
    const char *csr_s, *owner, *service, *env;
    X509_REQ *csr = NULL;
    struct hilt_names names = {0};
    struct hilt_issued iss = {0};
    if (known_fields(j, known, r) || str_field(j, "csr", HILT_CSR_MAX, &csr_s, r) ||
        str_field(j, "owner", 127, &owner, r) || str_field(j, "service", 127, &service, r) ||
        str_field(j, "environment", 63, &env, r))
        goto out;
    if (!csr_s) {
        hilt_reply_problem(r, 400, P_MALFORMED, "request body: 'csr' (PEM) is required");
        goto out;
    }
    int64_t lifetime = 0;
    json_t *lt = json_object_get(j, "lifetime");
    if (lt && !json_is_null(lt)) {
        if (json_is_integer(lt))
            lifetime = json_integer_value(lt);
        else if (!json_is_string(lt) || hilt_duration_parse(json_string_value(lt), &lifetime) < 0)
            lifetime = -1;
        if (lifetime <= 0 || lifetime > 100LL * 365 * 86400) {
            hilt_reply_problem(r, 400, P_MALFORMED,
                               "request body: 'lifetime' must be seconds or a duration (7d, 12h)");
            goto out;
        }
    }
    struct hilt_err e = {0};
    if (!(csr = hilt_csr_parse(csr_s, strlen(csr_s), "csr", &e)) ||
        csr_names(csr, &names, &e) < 0) {
        hilt_reply_problem(r, 400, P_BADCSR, "%s", e.msg);
        goto out;
    }
    if (!hilt_auth_allows(a, HILT_ROLE_REQUESTER | HILT_ROLE_ISSUER, env ? env : "",
                          (const char *const *)names.v, names.n)) {
        char obj[300], res[300];
        snprintf(obj, sizeof(obj), "names=%.200s%s env=%s", names.n ? names.v[0] : "-",
                 names.n > 1 ? ",…" : "", env && *env ? env : "-");
        snprintf(res, sizeof(res), "refused: no requester grant covers it");
        struct hilt_audit_ev ev = {a->p.id, "request.submit", obj, res};
        hilt_store_audit_append(api->st, &ev, NULL);
        hilt_reply_problem(r, 403, P_FORBIDDEN,
                           "%s does not hold requester for environment '%s' and every name of the "
                           "CSR",
                           a->p.id, env && *env ? env : "-");
        goto out;
    }
    struct hilt_cert_meta m = {
        .owner = owner, .service = service, .env = env ? env : "", .lifetime = lifetime};
    enum hilt_submit_state state = 0;
    char rid[64];
    if (hilt_api_submit(api, &a->p, csr, &m, &state, rid, &iss, &e) < 0) {
        if (e.code == 400)
            hilt_reply_problem(r, 400, P_BADCSR, "%s", e.msg);
        else
            problem_from(r, &e);
        goto out;
    }
    struct hilt_api_request_rec rec;
    if (hilt_store_request_get(api->st, rid, &rec, &e) != 1) {
        hilt_reply_problem(r, 500, P_INTERNAL, "request %s was stored but cannot be read", rid);
        goto out;
    }
    json_t *o = json_object();
    json_object_set_new(o, "request", request_json(&rec, 0));
    if (state == HILT_SUBMIT_ISSUED) add_pem(api, o, iss.der, iss.der_len);
    hilt_reply_header(r, "Location", "/v1/requests/%s", rid);
    hilt_reply_json(r, state == HILT_SUBMIT_ISSUED ? 201 : 202, o);
    hilt_api_request_rec_free(&rec);
out:
    hilt_issued_free(&iss);
    hilt_names_free(&names);
    X509_REQ_free(csr);
    json_decref(j);
}

struct rlist {
    const struct hilt_auth *a;
    json_t *items;
    int64_t last;
    int64_t scanned;
};

static int rlist_cb(const struct hilt_api_request_rec *rec, void *arg)
{
    struct rlist *l = arg;
    l->last = rec->seq;
    l->scanned++;
    if (may_see_request(l->a, rec)) json_array_append_new(l->items, request_json(rec, 0));
    return 0;
}

/* The query of a paged list: only `allowed` keys, `after` (a row id) and
 * `limit` (1-500). -1 when it is refused (r holds the 400). */
static int page_query(const struct hilt_req *rq, const char *const *allowed, struct query *q,
                      int64_t *after, int64_t *limit, struct hilt_reply *r)
{
    char why[400] = "";
    if (parse_query(rq->query, q, allowed, why, sizeof(why)) < 0 ||
        qint(q, "after", 0, 0, INT64_MAX, after) < 0 ||
        qint(q, "limit", PAGE_DEFAULT, 1, PAGE_MAX, limit) < 0) {
        hilt_reply_problem(r, 400, P_MALFORMED, "%s",
                           why[0] ? why : "after and limit (1-500) are numbers");
        return -1;
    }
    return 0;
}

static void h_list(struct hilt_api *api, const struct hilt_auth *a, const struct hilt_req *rq,
                   struct hilt_reply *r)
{
    static const char *const allowed[] = {"state", "requester", "after", "limit", NULL};
    struct query q;
    int64_t after, limit;
    if (page_query(rq, allowed, &q, &after, &limit, r) < 0) return;
    const char *state = qget(&q, "state");
    if (state && strcmp(state, "pending") && strcmp(state, "approved") && strcmp(state, "issued") &&
        strcmp(state, "rejected")) {
        hilt_reply_problem(r, 400, P_MALFORMED,
                           "state must be pending, approved, issued or rejected");
        return;
    }
    struct rlist l = {a, json_array(), after, 0};
    struct hilt_err e = {0};
    if (hilt_store_request_list(api->st, after, state, qget(&q, "requester"), limit, rlist_cb, &l,
                                &e) < 0) {
        json_decref(l.items);
        problem_from(r, &e);
        return;
    }
    json_t *o = json_pack("{s:o}", "items", l.items);
    json_object_set_new(o, "next", l.scanned == limit ? json_integer(l.last) : json_null());
    hilt_reply_json(r, 200, o);
}

/* the certificate of an issued request */
static void add_request_cert(struct hilt_api *api, json_t *o, const char *serial)
{
    struct hilt_cert_rec c;
    struct hilt_buf der;
    hilt_buf_init(&der, 1 << 20);
    if (serial[0] && hilt_store_cert_get(api->st, serial, &c, &der, NULL) == 1) {
        add_pem(api, o, der.data, der.len);
        hilt_cert_rec_free(&c);
    }
    hilt_buf_free(&der);
}

static int rid_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 5 || n > 63) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-') return 0;
    return 1;
}

static void h_get(struct hilt_api *api, const struct hilt_auth *a, const char *rid,
                  struct hilt_reply *r)
{
    struct hilt_api_request_rec rec;
    struct hilt_err e = {0};
    int found = rid_ok(rid) ? hilt_store_request_get(api->st, rid, &rec, &e) : 0;
    if (found < 0) {
        problem_from(r, &e);
        return;
    }
    if (!found) {
        hilt_reply_problem(r, 404, P_NOTFOUND, "no request %s",
                           rid_ok(rid) ? rid : "(malformed id)");
        return;
    }
    if (!may_see_request(a, &rec)) {
        hilt_reply_problem(r, 403, P_FORBIDDEN, "%s may not read request %s", a->p.id, rid);
    } else {
        json_t *o = json_object();
        json_object_set_new(o, "request", request_json(&rec, 1));
        if (!strcmp(rec.state, "issued")) add_request_cert(api, o, rec.serial);
        hilt_reply_json(r, 200, o);
    }
    hilt_api_request_rec_free(&rec);
}

static void h_decide(struct hilt_api *api, const struct hilt_auth *a, const char *rid,
                     const char *verb, const struct hilt_req *rq, struct hilt_reply *r)
{
    static const char *const known[] = {"reason", NULL};
    json_t *j = body_json(rq, 1, r);
    if (!j) return;
    const char *reason = NULL;
    struct hilt_api_request_rec rec = {0};
    struct hilt_issued iss = {0};
    struct hilt_err e = {0};
    if (known_fields(j, known, r) || str_field(j, "reason", 400, &reason, r)) goto out;
    if (!rid_ok(rid)) {
        hilt_reply_problem(r, 404, P_NOTFOUND, "no request (malformed id)");
        goto out;
    }
    int rc = !strcmp(verb, "issue")
                 ? hilt_api_issue(api, a, rid, &rec, &iss, &e)
                 : hilt_api_decide(api, a, rid, !strcmp(verb, "approve"), reason, &rec, &iss, &e);
    if (rc < 0) {
        problem_from(r, &e);
        goto out;
    }
    json_t *o = json_object();
    json_object_set_new(o, "request", request_json(&rec, 0));
    if (iss.der) add_pem(api, o, iss.der, iss.der_len);
    if (rc == 1) json_object_set_new(o, "issue_error", hilt_json_str(e.msg));
    hilt_reply_json(r, 200, o);
out:
    hilt_api_request_rec_free(&rec);
    hilt_issued_free(&iss);
    json_decref(j);
}

struct clist {
    const struct hilt_auth *a;
    json_t *items;
    int all;
    int64_t last_id, last_na, scanned;
};

static int clist_cb(const struct hilt_api_cert_row *c, void *arg)
{
    struct clist *l = arg;
    l->last_id = c->id;
    l->last_na = c->not_after;
    l->scanned++;
    if (l->all || may_see_cert(l->a, c)) json_array_append_new(l->items, cert_json(c));
    return 0;
}

static void h_certs(struct hilt_api *api, const struct hilt_auth *a, const struct hilt_req *rq,
                    struct hilt_reply *r)
{
    static const char *const allowed[] = {"owner", "service", "environment", "status",
                                          "name",  "after",   "limit",       NULL};
    struct query q;
    int64_t after, limit;
    if (page_query(rq, allowed, &q, &after, &limit, r) < 0) return;
    struct hilt_api_cert_query cq = {after,
                                     qget(&q, "owner"),
                                     qget(&q, "service"),
                                     qget(&q, "environment"),
                                     qget(&q, "status"),
                                     qget(&q, "name"),
                                     limit};
    struct clist l = {a, json_array(), see_all(a), after, 0, 0};
    struct hilt_err e = {0};
    if (hilt_store_cert_page(api->st, &cq, clist_cb, &l, &e) < 0) {
        json_decref(l.items);
        problem_from(r, &e);
        return;
    }
    json_t *o = json_pack("{s:o}", "items", l.items);
    json_object_set_new(o, "next", l.scanned == limit ? json_integer(l.last_id) : json_null());
    hilt_reply_json(r, 200, o);
}

static void h_expiring(struct hilt_api *api, const struct hilt_auth *a, const struct hilt_req *rq,
                       struct hilt_reply *r)
{
    static const char *const allowed[] = {"within", "after", "limit", NULL};
    struct query q;
    char why[400] = "";
    int64_t limit, within = 30 * 86400, ana = 0, aid = 0;
    if (parse_query(rq->query, &q, allowed, why, sizeof(why)) < 0 ||
        qint(&q, "limit", PAGE_DEFAULT, 1, PAGE_MAX, &limit) < 0) {
        hilt_reply_problem(r, 400, P_MALFORMED, "%s", why[0] ? why : "limit is 1-500");
        return;
    }
    const char *w = qget(&q, "within"), *af = qget(&q, "after");
    if (w && (hilt_duration_parse(w, &within) < 0 || within <= 0 || within > 3650LL * 86400)) {
        hilt_reply_problem(r, 400, P_MALFORMED,
                           "within must be a duration (30d, 12h) up to 10 years");
        return;
    }
    if (af) {
        char *end = NULL;
        ana = strtoll(af, &end, 10);
        if (*end != ':' || !end[1]) {
            hilt_reply_problem(r, 400, P_MALFORMED, "after must be the 'next' cursor of a page");
            return;
        }
        aid = strtoll(end + 1, &end, 10);
        if (*end) {
            hilt_reply_problem(r, 400, P_MALFORMED, "after must be the 'next' cursor of a page");
            return;
        }
    }
    int64_t now = hilt_now();
    if (!af) ana = now - 1, aid = 0;
    struct clist l = {a, json_array(), see_all(a), 0, 0, 0};
    struct hilt_err e = {0};
    if (hilt_store_cert_expiring_page(api->st, now, now + within, ana, aid, limit, clist_cb, &l,
                                      &e) < 0) {
        json_decref(l.items);
        problem_from(r, &e);
        return;
    }
    json_t *o = json_pack("{s:o}", "items", l.items);
    char cur[64];
    snprintf(cur, sizeof(cur), "%lld:%lld", (long long)l.last_na, (long long)l.last_id);
    json_object_set_new(o, "next", l.scanned == limit ? json_string(cur) : json_null());
    hilt_reply_json(r, 200, o);
}

struct cone {
    json_t *o;
    int visible;
    const struct hilt_auth *a;
    int all;
};
static int cone_cb(const struct hilt_api_cert_row *c, void *arg)
{
    struct cone *x = arg;
    x->visible = x->all || may_see_cert(x->a, c);
    x->o = cert_json(c);
    return 1;
}

static void h_cert(struct hilt_api *api, const struct hilt_auth *a, const char *serial,
                   struct hilt_reply *r)
{
    char norm[80];
    if (hilt_hex_normalise(serial, norm, sizeof(norm)) < 0 || strlen(norm) > 64) {
        hilt_reply_problem(r, 400, P_MALFORMED, "'%.80s' is not a serial (hex digits)", serial);
        return;
    }
    struct cone x = {NULL, 0, a, see_all(a)};
    struct hilt_err e = {0};
    int found = hilt_store_cert_row_by_serial(api->st, norm, cone_cb, &x, &e);
    if (found < 0) {
        problem_from(r, &e);
        return;
    }
    if (!found) {
        hilt_reply_problem(r, 404, P_NOTFOUND, "no certificate %s", norm);
        return;
    }
    if (!x.visible) {
        json_decref(x.o);
        hilt_reply_problem(r, 403, P_FORBIDDEN, "%s may not read certificate %s", a->p.id, norm);
        return;
    }
    add_request_cert(api, x.o, norm);
    hilt_reply_json(r, 200, x.o);
}

static void h_revoke(struct hilt_api *api, const struct hilt_auth *a, const char *serial,
                     const struct hilt_req *rq, struct hilt_reply *r)
{
    static const char *const known[] = {"reason", NULL};
    json_t *j = body_json(rq, 1, r);
    if (!j) return;
    const char *reason_s = NULL;
    if (known_fields(j, known, r) || str_field(j, "reason", 64, &reason_s, r)) goto out;
    int reason = reason_s ? hilt_crl_reason_parse(reason_s) : 0;
    if (reason < 0) {
        hilt_reply_problem(r, 400, P_MALFORMED,
                           "reason must be an RFC 5280 reason (keyCompromise, superseded, "
                           "cessationOfOperation, affiliationChanged, …)");
        goto out;
    }
    struct hilt_err e = {0};
    int rc = hilt_api_revoke(api, a, serial, reason, &e);
    if (rc < 0) {
        problem_from(r, &e);
        goto out;
    }
    char norm[80];
    hilt_hex_normalise(serial, norm, sizeof(norm));
    hilt_reply_json(r, 200,
                    json_pack("{s:s, s:b, s:b, s:s}", "serial", norm, "revoked", 1,
                              "already_revoked", rc == 1, "reason", hilt_crl_reason_name(reason)));
out:
    json_decref(j);
}

struct alist {
    json_t *items;
    int64_t last, n;
};
static int alist_cb(const struct hilt_audit_rec *a, void *arg)
{
    struct alist *l = arg;
    l->last = a->seq;
    l->n++;
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer(a->seq));
    json_object_set_new(o, "time", tstamp(a->time));
    json_object_set_new(o, "actor", hilt_json_str(a->actor));
    json_object_set_new(o, "action", hilt_json_str(a->action));
    json_object_set_new(o, "object", hilt_json_str(a->object));
    json_object_set_new(o, "result", hilt_json_str(a->result));
    json_object_set_new(o, "prev", hilt_json_str(a->prev));
    json_object_set_new(o, "hash", hilt_json_str(a->hash));
    json_array_append_new(l->items, o);
    return 0;
}

static void h_audit(struct hilt_api *api, const struct hilt_auth *a, const struct hilt_req *rq,
                    struct hilt_reply *r)
{
    if (!see_all(a)) {
        hilt_reply_problem(r, 403, P_FORBIDDEN,
                           "the audit export needs the auditor or admin role (unscoped)");
        return;
    }
    static const char *const allowed[] = {"after", "limit", NULL};
    struct query q;
    char why[400] = "";
    int64_t after, limit;
    if (parse_query(rq->query, &q, allowed, why, sizeof(why)) < 0 ||
        qint(&q, "after", 0, 0, INT64_MAX, &after) < 0 ||
        qint(&q, "limit", 100, 1, 1000, &limit) < 0) {
        hilt_reply_problem(r, 400, P_MALFORMED, "%s",
                           why[0] ? why : "after and limit (1-1000) are numbers");
        return;
    }
    struct alist l = {json_array(), after, 0};
    struct hilt_err e = {0};
    if (hilt_store_audit_page(api->st, after, limit, alist_cb, &l, &e) < 0) {
        json_decref(l.items);
        problem_from(r, &e);
        return;
    }
    json_t *o = json_pack("{s:o}", "items", l.items);
    json_object_set_new(o, "next", l.n == limit ? json_integer(l.last) : json_null());
    hilt_reply_json(r, 200, o);
}

static void h_whoami(const struct hilt_auth *a, struct hilt_reply *r)
{
    json_t *roles = json_array(), *grants = json_array();
    for (unsigned b = 1; b <= HILT_ROLE_ADMIN; b <<= 1)
        if (a->p.roles & b) json_array_append_new(roles, json_string(hilt_role_name(b)));
    for (size_t i = 0; i < a->ng; i++)
        json_array_append_new(grants,
                              json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)a->g[i].id,
                                        "role", hilt_role_name(a->g[i].role), "environment",
                                        a->g[i].env[0] ? a->g[i].env : "*", "names",
                                        a->g[i].names[0] ? a->g[i].names : "*"));
    hilt_reply_json(r, 200,
                    json_pack("{s:o, s:s, s:o, s:o}", "principal", hilt_json_str(a->p.id), "method",
                              a->method ? a->method : "", "roles", roles, "grants", grants));
}

static int lease_cb(const struct hilt_api_lease_rec *l, void *arg)
{
    int64_t now = hilt_now();
    json_array_append_new(
        arg, json_pack("{s:o, s:o, s:I, s:o, s:o, s:o, s:b}", "name", hilt_json_str(l->name),
                       "holder", hilt_json_str(l->holder), "epoch", (json_int_t)l->epoch,
                       "acquired", tstamp(l->acquired_at), "heartbeat", tstamp(l->heartbeat_at),
                       "expires", tstamp(l->expires_at), "valid", l->expires_at > now));
    return 0;
}

static void h_leases(struct hilt_api *api, const struct hilt_auth *a, struct hilt_reply *r)
{
    if (!see_all(a)) {
        hilt_reply_problem(r, 403, P_FORBIDDEN, "leases need the auditor or admin role (unscoped)");
        return;
    }
    json_t *items = json_array();
    struct hilt_err e = {0};
    if (hilt_store_lease_list(api->st, lease_cb, items, &e) < 0) {
        json_decref(items);
        problem_from(r, &e);
        return;
    }
    hilt_reply_json(
        r, 200, json_pack("{s:o, s:s}", "items", items, "node", api->node_id ? api->node_id : ""));
}

/* ---- routing ------------------------------------------------------------------------------- */

static void method_not_allowed(struct hilt_reply *r, const char *allow, const char *path)
{
    hilt_reply_problem(r, 405, P_METHOD, "%s takes %s", path, allow);
    hilt_reply_header(r, "Allow", "%s", allow);
}

void hilt_rest_handle(struct hilt_api *api, const struct hilt_req *rq, struct hilt_reply *r)
{
    /* /v1/a/b/c: at most three segments after /v1, each bounded */
    char seg[3][128];
    int nseg = 0;
    const char *p = rq->path;
    if (strncmp(p, "/v1", 3) || (p[3] && p[3] != '/')) {
        hilt_reply_problem(r, 404, P_NOTFOUND, "not under /v1");
        return;
    }
    p += 3;
    while (*p == '/') {
        p++;
        if (!*p) break;
        const char *s = strchr(p, '/');
        size_t l = s ? (size_t)(s - p) : strlen(p);
        if (nseg == 3 || l >= sizeof(seg[0]) || l == 0) {
            hilt_reply_problem(r, 404, P_NOTFOUND, "no such resource under /v1");
            return;
        }
        memcpy(seg[nseg], p, l);
        seg[nseg][l] = '\0';
        nseg++;
        p += l;
    }
    int get = !strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD");
    int post = !strcmp(rq->method, "POST");
    struct hilt_auth *a = malloc(sizeof(*a));
    if (!a) {
        hilt_reply_problem(r, 503, P_INTERNAL, "out of memory");
        return;
    }
    if (authenticate(api, rq, a, r) < 0) goto out;
    if (nseg == 0) {
        if (get)
            hilt_reply_json(r, 200,
                            json_pack("{s:[s,s,s,s,s,s]}", "resources", "/v1/requests",
                                      "/v1/certificates", "/v1/expiring", "/v1/audit", "/v1/whoami",
                                      "/v1/leases"));
        else
            method_not_allowed(r, "GET", "/v1");
        goto out;
    }
    const char *s0 = seg[0];
    if (!strcmp(s0, "requests")) {
        if (nseg == 1) {
            if (post)
                h_create(api, a, rq, r);
            else if (get)
                h_list(api, a, rq, r);
            else
                method_not_allowed(r, "GET, POST", rq->path);
        } else if (nseg == 2) {
            if (get)
                h_get(api, a, seg[1], r);
            else
                method_not_allowed(r, "GET", rq->path);
        } else if (!strcmp(seg[2], "approve") || !strcmp(seg[2], "reject") ||
                   !strcmp(seg[2], "issue")) {
            if (post)
                h_decide(api, a, seg[1], seg[2], rq, r);
            else
                method_not_allowed(r, "POST", rq->path);
        } else {
            hilt_reply_problem(r, 404, P_NOTFOUND, "requests/ID takes approve, reject or issue");
        }
    } else if (!strcmp(s0, "certificates")) {
        if (nseg == 1) {
            if (get)
                h_certs(api, a, rq, r);
            else
                method_not_allowed(r, "GET", rq->path);
        } else if (nseg == 2) {
            if (get)
                h_cert(api, a, seg[1], r);
            else
                method_not_allowed(r, "GET", rq->path);
        } else if (!strcmp(seg[2], "revoke")) {
            if (post)
                h_revoke(api, a, seg[1], rq, r);
            else
                method_not_allowed(r, "POST", rq->path);
        } else {
            hilt_reply_problem(r, 404, P_NOTFOUND, "certificates/SERIAL takes revoke");
        }
    } else if (nseg == 1 && !strcmp(s0, "expiring")) {
        if (get)
            h_expiring(api, a, rq, r);
        else
            method_not_allowed(r, "GET", rq->path);
    } else if (nseg == 1 && !strcmp(s0, "audit")) {
        if (get)
            h_audit(api, a, rq, r);
        else
            method_not_allowed(r, "GET", rq->path);
    } else if (nseg == 1 && !strcmp(s0, "whoami")) {
        if (get)
            h_whoami(a, r);
        else
            method_not_allowed(r, "GET", rq->path);
    } else if (nseg == 1 && !strcmp(s0, "leases")) {
        if (get)
            h_leases(api, a, r);
        else
            method_not_allowed(r, "GET", rq->path);
    } else {
        hilt_reply_problem(r, 404, P_NOTFOUND,
                           "no such resource under /v1 (requests, certificates, expiring, audit, "
                           "whoami, leases)");
    }
out:
    free(a);
}
