/* acme_order.c - ACME orders, authorizations and challenges (RFC 8555
 * §7.1.3-7.1.6, §7.4, §7.5), finalization through hilt_api_submit() (the
 * same policy, pre-approved scopes and audit as /v1), certificate download
 * (§7.4.2) and revocation (§7.6).
 *
 * Status (§7.1.6) is kept in the store and every change is conditional on
 * the status it leaves; expiry is applied when an object is read (a pending
 * or ready order past "expires" reads as invalid, an authorization as
 * expired), so reading never writes. */
#include "api/acme_int.h"

#include "ca/ca.h"
#include "ca/csr.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *order_status(const struct hilt_acme_order *o, int64_t now)
{
    if ((!strcmp(o->status, "pending") || !strcmp(o->status, "ready")) && o->expires <= now)
        return "invalid";
    return o->status;
}

static const char *authz_status(const struct hilt_acme_authz *a, int64_t now)
{
    if ((!strcmp(a->status, "pending") || !strcmp(a->status, "valid")) && a->expires <= now)
        return "expired";
    return a->status;
}

static void fault(struct acme_rq *rq, const struct hilt_err *e)
{
    acme_problem(rq, 500, ACME_ERR("serverInternal"), NULL, "%s", e->msg);
}

/* Objects of another account read as absent: their existence is not
 * revealed. */
static void not_found(struct acme_rq *rq, const char *what, const char *id)
{
    acme_problem(rq, 404, ACME_ERR("malformed"), NULL, "no %s %s for this account", what, id);
}

static int load_order(struct acme_rq *rq, const char *id, struct hilt_acme_order *o)
{
    struct hilt_err e = {0};
    if (acme_defer_sync(rq->a, id, NULL, &e) < 0) return fault(rq, &e), -1;
    int found = hilt_store_acme_order_get(rq->api->st, id, o, &e);
    if (found < 0) return fault(rq, &e), -1;
    if (!found || strcmp(o->account, rq->acct.id)) {
        if (found) hilt_acme_order_free(o);
        return not_found(rq, "order", id), -1;
    }
    return 0;
}

/* ---- objects ------------------------------------------------------------------------------ */

struct authz_urls {
    const struct acme_rq *rq;
    json_t *arr;
};

static int authz_url_cb(const struct hilt_acme_authz *a, void *arg)
{
    struct authz_urls *u = arg;
    char url[1200];
    acme_url(u->rq, url, sizeof(url), "authz/%s", a->id);
    json_array_append_new(u->arr, json_string(url));
    return 0;
}

static json_t *order_obj(struct acme_rq *rq, const struct hilt_acme_order *o)
{
    int64_t now = hilt_now();
    char fin[1200];
    acme_url(rq, fin, sizeof(fin), "order/%s/finalize", o->id);
    json_t *ids = json_loads(o->identifiers ? o->identifiers : "[]", 0, NULL);
    struct authz_urls u = {rq, json_array()};
    hilt_store_acme_authz_list(rq->api->st, o->id, authz_url_cb, &u, NULL);
    json_t *obj = json_pack("{s:s, s:o, s:o, s:o, s:s}", "status", order_status(o, now), "expires",
                            acme_time(o->expires), "identifiers", ids ? ids : json_array(),
                            "authorizations", u.arr, "finalize", fin);
    if (o->not_before) json_object_set_new(obj, "notBefore", acme_time(o->not_before));
    if (o->not_after) json_object_set_new(obj, "notAfter", acme_time(o->not_after));
    if (o->replaces) json_object_set_new(obj, "replaces", json_string(o->replaces));
    if (!strcmp(o->status, "valid") && o->serial[0]) {
        char cert[1200];
        acme_url(rq, cert, sizeof(cert), "cert/%s", o->serial);
        json_object_set_new(obj, "certificate", json_string(cert));
    }
    if (o->error) {
        json_t *err = json_loads(o->error, 0, NULL);
        if (err) json_object_set_new(obj, "error", err);
    } else if (!strcmp(order_status(o, now), "invalid") && strcmp(o->status, "invalid")) {
        json_object_set_new(obj, "error",
                            json_pack("{s:s, s:s, s:i}", "type", ACME_ERR("malformed"), "detail",
                                      "the order expired", "status", 400));
    }
    return obj;
}

static void reply_order(struct acme_rq *rq, int status, const struct hilt_acme_order *o)
{
    char loc[1200];
    acme_url(rq, loc, sizeof(loc), "order/%s", o->id);
    hilt_reply_header(rq->resp, "Location", "%s", loc);
    if (!strcmp(o->status, "processing"))
        hilt_reply_header(rq->resp, "Retry-After", "%d", o->request_id[0] ? 5 : ACME_RETRY_AFTER);
    acme_reply_json(rq, status, order_obj(rq, o));
}

static json_t *chall_obj(struct acme_rq *rq, const struct hilt_acme_chall *c)
{
    char url[1200];
    acme_url(rq, url, sizeof(url), "chall/%s/%s", c->authz_id, c->type);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "type", c->type, "url", url, "status", c->status,
                          "token", c->token);
    if (c->validated) json_object_set_new(o, "validated", acme_time(c->validated));
    if (c->error) {
        json_t *err = json_loads(c->error, 0, NULL);
        if (err) json_object_set_new(o, "error", err);
    }
    return o;
}

struct chall_collect {
    struct acme_rq *rq;
    const struct hilt_acme_authz *authz;
    json_t *arr;
    const char *type; /* collect only this one into `one` */
    struct hilt_acme_chall one;
    int found;
    int busy; /* some challenge is processing */
};

/* A challenge left "processing" by a node that died (no result long after
 * the timeout): this node takes it over (§8.2 allows retrying). */
static void maybe_restart(struct acme_rq *rq, const struct hilt_acme_authz *authz,
                          const struct hilt_acme_chall *c)
{
    struct acme *a = rq->a;
    int64_t now = hilt_now();
    if (strcmp(c->status, "processing") || now - c->started < a->validation_ms / 1000 + 30) return;
    if (acme_validate_busy(a, c->authz_id, c->type) || !acme_validate_has_room(a)) return;
    if (hilt_store_acme_chall_restart(rq->api->st, c->authz_id, c->type, c->started, now, NULL) !=
        1)
        return;
    char ka[256];
    if (strcmp(authz->account, rq->acct.id)) return;
    snprintf(ka, sizeof(ka), "%s.%s", c->token, rq->acct.thumbprint);
    acme_validate_start(a, authz, c->type, c->token, ka, now, NULL, NULL);
}

static int chall_collect_cb(const struct hilt_acme_chall *stored, void *arg)
{
    struct chall_collect *cc = arg;
    struct hilt_acme_chall c = *stored;
    if (cc->rq->a->shared) maybe_restart(cc->rq, cc->authz, stored);
    /* A one-node store does not record "processing" (a write saved): this
     * process knows what it is validating. */
    else if (!strcmp(c.status, "pending") && acme_validate_busy(cc->rq->a, c.authz_id, c.type))
        snprintf(c.status, sizeof(c.status), "processing");
    if (!strcmp(c.status, "processing")) cc->busy = 1;
    if (cc->arr) json_array_append_new(cc->arr, chall_obj(cc->rq, &c));
    if (cc->type && !strcmp(c.type, cc->type)) {
        cc->one = c;
        cc->one.error = c.error ? strdup(c.error) : NULL;
        cc->found = 1;
    }
    return 0;
}

static void reply_authz(struct acme_rq *rq, const struct hilt_acme_authz *a)
{
    struct hilt_err e = {0};
    struct chall_collect cc = {.rq = rq, .authz = a, .arr = json_array()};
    if (hilt_store_acme_chall_list(rq->api->st, a->id, chall_collect_cb, &cc, &e) < 0) {
        json_decref(cc.arr);
        return fault(rq, &e);
    }
    json_t *o = json_pack("{s:{s:s, s:s}, s:s, s:o, s:o}", "identifier", "type", a->id_type,
                          "value", a->id_value, "status", authz_status(a, hilt_now()), "expires",
                          acme_time(a->expires), "challenges", cc.arr);
    if (cc.busy) hilt_reply_header(rq->resp, "Retry-After", "%d", ACME_RETRY_AFTER);
    acme_reply_json(rq, 200, o);
}

/* ---- newOrder (§7.4) ----------------------------------------------------------------------------
 */

static void rules_of(struct acme_rq *rq, struct hilt_issue_rules *r)
{
    hilt_issue_rules_init(r);
    if (rq->api->ca) {
        r->allow_domains = rq->api->ca->rec.allow_domains;
        if (rq->api->ca->rec.max_lifetime > 0) r->max_lifetime = rq->api->ca->rec.max_lifetime;
    }
}

/* One identifier, checked and normalised into names (and out as JSON). */
static int add_identifier(struct acme_rq *rq, size_t i, const json_t *id, struct hilt_names *names,
                          char types[][8], const struct hilt_issue_rules *rules)
{
    struct hilt_err e = {0};
    const char *type = json_string_value(json_object_get(id, "type"));
    const char *value = json_string_value(json_object_get(id, "value"));
    if (!json_is_object(id) || !type || !value) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL,
                     "identifier %zu must be {\"type\": …, \"value\": …}", i);
        return -1;
    }
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, value, ip) == 1 || inet_pton(AF_INET6, value, ip) == 1;
    if (!strcmp(type, "dns")) {
        if (is_ip || strchr(value, ':')) {
            acme_problem(
                rq, 400, ACME_ERR("malformed"), NULL,
                "identifier %zu: '%.100s' is not a DNS name (IP addresses are type \"ip\", "
                "RFC 8738)",
                i, value);
            return -1;
        }
        if (!strncmp(value, "*.", 2)) {
            acme_problem(rq, 400, ACME_ERR("rejectedIdentifier"), NULL,
                         "identifier %zu: '%.100s': wildcards need dns-01, which this server "
                         "does not offer (http-01, tls-alpn-01)",
                         i, value);
            return -1;
        }
    } else if (!strcmp(type, "ip")) {
        if (!is_ip) {
            acme_problem(rq, 400, ACME_ERR("malformed"), NULL,
                         "identifier %zu: '%.100s' is not an IP address", i, value);
            return -1;
        }
    } else {
        acme_problem(rq, 400, ACME_ERR("unsupportedIdentifier"), NULL,
                     "identifier %zu: type '%.40s' is not supported (dns, ip)", i, type);
        return -1;
    }
    size_t before = names->n;
    if (hilt_names_add(names, value, rules, &e) < 0) {
        acme_problem(rq, 400, ACME_ERR("rejectedIdentifier"), NULL, "identifier %zu: %s", i, e.msg);
        return -1;
    }
    if (names->n > before) snprintf(types[before], 8, "%s", type);
    return 0;
}

static int parse_time_field(struct acme_rq *rq, const char *name, int64_t *out)
{
    json_t *v = json_object_get(rq->payload, name);
    *out = 0;
    if (!v) return 0;
    time_t t;
    if (!json_is_string(v) || hilt_time_parse_rfc3339(json_string_value(v), &t) < 0) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL, "%s is not an RFC 3339 time", name);
        return -1;
    }
    *out = (int64_t)t;
    return 0;
}

void acme_new_order(struct acme_rq *rq)
{
    struct hilt_err e = {0};
    struct hilt_names names = {0};
    struct hilt_issue_rules rules;
    char types[HILT_NAMES_MAX][8];
    struct hilt_acme_order o;
    struct hilt_acme_authz *authzs = NULL;
    struct hilt_acme_chall *challs = NULL;
    memset(&o, 0, sizeof(o));
    if (!rq->payload) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL, "newOrder needs a JSON payload");
        return;
    }
    json_t *ids = json_object_get(rq->payload, "identifiers");
    if (!json_is_array(ids) || !json_array_size(ids)) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL, "identifiers must be a non-empty array");
        return;
    }
    if (json_array_size(ids) > ACME_MAX_IDENTIFIERS) {
        acme_problem(rq, 400, ACME_ERR("rejectedIdentifier"), NULL,
                     "at most %d identifiers in one order", ACME_MAX_IDENTIFIERS);
        return;
    }
    rules_of(rq, &rules);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        if (add_identifier(rq, i, id, &names, types, &rules) < 0) goto out;
    }
    int64_t now = hilt_now();
    if (parse_time_field(rq, "notBefore", &o.not_before) < 0 ||
        parse_time_field(rq, "notAfter", &o.not_after) < 0)
        goto out;
    if (o.not_before && o.not_before > now + 60) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL,
                     "notBefore in the future is not supported: certificates start at issuance");
        goto out;
    }
    if (o.not_after) {
        o.lifetime = o.not_after - now;
        if (hilt_issue_lifetime_check(o.lifetime, &rules, &e) < 0) {
            acme_problem(rq, 400, ACME_ERR("malformed"), NULL, "notAfter: %s", e.msg);
            goto out;
        }
    }
    json_t *rep = json_object_get(rq->payload, "replaces");
    if (rep) {
        if (!json_is_string(rep)) {
            acme_problem(rq, 400, ACME_ERR("malformed"), NULL, "replaces must be a certID string");
            goto out;
        }
        json_t *norm_ids = json_array();
        for (size_t k = 0; k < names.n; k++)
            json_array_append_new(norm_ids,
                                  json_pack("{s:s, s:s}", "type", types[k], "value", names.v[k]));
        int rc = acme_ari_replaces(rq, json_string_value(rep), norm_ids, o.replaces_serial);
        json_decref(norm_ids);
        if (rc < 0) goto out;
        o.replaces = strdup(json_string_value(rep));
    }
    /* the order, an authorization per identifier, the challenges each offers */
    json_t *norm = json_array();
    for (size_t k = 0; k < names.n; k++)
        json_array_append_new(norm, json_pack("{s:s, s:s}", "type", types[k], "value", names.v[k]));
    o.identifiers = json_dumps(norm, JSON_COMPACT);
    json_decref(norm);
    authzs = calloc(names.n, sizeof(*authzs));
    challs = calloc(names.n * 2, sizeof(*challs));
    if (!o.identifiers || !authzs || !challs || acme_random_id(o.id, sizeof(o.id), 16) < 0) {
        hilt_err_set(&e, HILT_E_RUNTIME, 0, "out of memory or randomness");
        fault(rq, &e);
        goto out;
    }
    snprintf(o.account, sizeof(o.account), "%s", rq->acct.id);
    snprintf(o.status, sizeof(o.status), "pending");
    o.expires = now + ACME_ORDER_LIFETIME;
    o.created = o.updated = now;
    size_t nch = 0;
    for (size_t k = 0; k < names.n; k++) {
        struct hilt_acme_authz *a = &authzs[k];
        if (acme_random_id(a->id, sizeof(a->id), 16) < 0) goto rnd;
        snprintf(a->order_id, sizeof(a->order_id), "%s", o.id);
        a->pos = (int)k;
        snprintf(a->account, sizeof(a->account), "%s", rq->acct.id);
        snprintf(a->id_type, sizeof(a->id_type), "%s", types[k]);
        snprintf(a->id_value, sizeof(a->id_value), "%s", names.v[k]);
        snprintf(a->status, sizeof(a->status), "pending");
        a->expires = now + ACME_AUTHZ_LIFETIME;
        /* http-01 for names and addresses; tls-alpn-01 for names (for an
         * address it needs the reverse-DNS SNI of RFC 8738 §6, not offered) */
        static const char *const kinds[] = {"http-01", "tls-alpn-01"};
        for (int t = 0; t < (strcmp(types[k], "dns") ? 1 : 2); t++) {
            struct hilt_acme_chall *c = &challs[nch++];
            snprintf(c->authz_id, sizeof(c->authz_id), "%s", a->id);
            snprintf(c->type, sizeof(c->type), "%s", kinds[t]);
            if (acme_random_id(c->token, sizeof(c->token), 32) < 0) goto rnd;
            snprintf(c->status, sizeof(c->status), "pending");
        }
    }
    /* the queued small writes ride along in this commit (acme_defer.c) */
    struct hilt_store *st = rq->api->st;
    int own = rq->a->defer && !hilt_store_in_tx(st);
    if (own && hilt_store_begin(st, &e) < 0) {
        fault(rq, &e);
        goto out;
    }
    int rc = acme_defer_flush(rq->a, &e);
    if (rc == 0) rc = hilt_store_acme_order_create(st, &o, authzs, names.n, challs, nch, &e);
    if (own && rc == 0) rc = hilt_store_commit(st, &e);
    if (own && rc < 0) hilt_store_rollback(st);
    if (rc < 0) {
        fault(rq, &e);
        goto out;
    }
    acme_count(rq->a, "hilt_acme_orders_total{status=\"%s\"}", "created");
    reply_order(rq, 201, &o);
    goto out;
rnd:
    hilt_err_set(&e, HILT_E_RUNTIME, 0, "no random bytes");
    fault(rq, &e);
out:
    free(authzs);
    free(challs);
    hilt_acme_order_free(&o);
    hilt_names_free(&names);
}

/* ---- an order, and the approval it may wait for
 * ---------------------------------------------------- */

/* A processing order whose request waits for an approver: has it been
 * decided through /v1? */
static void poll_pending(struct acme_rq *rq, struct hilt_acme_order *o)
{
    if (strcmp(o->status, "processing") || !o->request_id[0]) return;
    int state = 0;
    char serial[64] = "";
    struct hilt_err e = {0};
    if (hilt_api_request_state(rq->api, o->request_id, &state, serial, &e) < 0) return;
    if (state == 1 && serial[0]) {
        if (hilt_store_acme_order_finish(rq->api->st, o->id, "processing", "valid", serial,
                                         o->request_id, NULL, NULL) == 1) {
            snprintf(o->status, sizeof(o->status), "valid");
            snprintf(o->serial, sizeof(o->serial), "%s", serial);
            acme_count(rq->a, "hilt_acme_orders_total{status=\"%s\"}", "valid");
            acme_ari_mark_replaced(rq->a, o, serial);
        }
    } else if (state == 2) {
        char *err = acme_problem_json(ACME_ERR("unauthorized"), 403,
                                      "request %s was rejected by an approver", o->request_id);
        if (hilt_store_acme_order_finish(rq->api->st, o->id, "processing", "invalid", NULL,
                                         o->request_id, err, NULL) == 1) {
            snprintf(o->status, sizeof(o->status), "invalid");
            free(o->error);
            o->error = err;
            err = NULL;
            acme_count(rq->a, "hilt_acme_orders_total{status=\"%s\"}", "invalid");
        }
        free(err);
    }
}

void acme_order(struct acme_rq *rq, const char *id)
{
    struct hilt_acme_order o;
    if (load_order(rq, id, &o) < 0) return;
    poll_pending(rq, &o);
    reply_order(rq, 200, &o);
    hilt_acme_order_free(&o);
}

/* ---- finalize (§7.4)
 * ------------------------------------------------------------------------------- */

/* The CSR's names must be exactly the order's identifiers (§7.4). */
static int csr_matches(struct acme_rq *rq, const struct hilt_names *csr_names,
                       const struct hilt_acme_order *o)
{
    json_t *ids = json_loads(o->identifiers, 0, NULL);
    size_t i, n = json_array_size(ids);
    json_t *v;
    int ok = 1;
    json_array_foreach(ids, i, v)
    {
        const char *val = json_string_value(json_object_get(v, "value"));
        if (!val || !hilt_names_has(csr_names, val)) {
            acme_problem(rq, 400, ACME_ERR("badCSR"), NULL,
                         "the CSR lacks identifier '%.200s' of the order", val ? val : "?");
            ok = 0;
            break;
        }
    }
    for (size_t k = 0; ok && k < csr_names->n; k++) {
        int in = 0;
        json_array_foreach(ids, i, v)
        {
            const char *val = json_string_value(json_object_get(v, "value"));
            if (val && !strcmp(val, csr_names->v[k])) in = 1;
        }
        if (!in) {
            acme_problem(rq, 400, ACME_ERR("badCSR"), NULL,
                         "the CSR names '%.200s', which is not an identifier of the order (%zu "
                         "identifiers)",
                         csr_names->v[k], n);
            ok = 0;
        }
    }
    json_decref(ids);
    return ok ? 0 : -1;
}

/* Only DNS names and IP addresses may be asked for (§7.4: the CSR's names
 * are the order's identifiers). */
static int csr_san_kinds_ok(struct acme_rq *rq, X509_REQ *csr)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    GENERAL_NAMES *gens = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
    int ok = 1;
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        int t = sk_GENERAL_NAME_value(gens, i)->type;
        if (t != GEN_DNS && t != GEN_IPADD) ok = 0;
    }
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (!ok)
        acme_problem(rq, 400, ACME_ERR("badCSR"), NULL,
                     "the CSR asks for a subjectAltName other than a DNS name or an IP address");
    return ok ? 0 : -1;
}

void acme_finalize(struct acme_rq *rq, const char *id)
{
    struct hilt_err e = {0};
    struct hilt_acme_order o;
    struct hilt_names names = {0};
    unsigned char *der = NULL;
    size_t der_len = 0;
    X509_REQ *csr = NULL;
    struct hilt_issued issued;
    memset(&issued, 0, sizeof(issued));
    if (load_order(rq, id, &o) < 0) return;
    int64_t now = hilt_now();
    const char *st = order_status(&o, now);
    if (strcmp(st, "ready")) {
        acme_problem(
            rq, 403, ACME_ERR("orderNotReady"), NULL, "order %s is %s, not ready: %s", o.id, st,
            !strcmp(st, "pending") ? "complete its authorizations first"
            : !strcmp(st, "processing") || !strcmp(st, "valid") ? "it was finalized already"
                                                                : "it can no longer be finalized");
        goto out;
    }
    const char *csr64 = json_string_value(json_object_get(rq->payload, "csr"));
    if (!csr64) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL,
                     "finalize needs {\"csr\": base64url(DER)}");
        goto out;
    }
    const unsigned char *p;
    if (strlen(csr64) > HILT_CSR_MAX * 4 / 3 + 4 ||
        hilt_b64url_decode(csr64, strlen(csr64), &der, &der_len) < 0 || !(p = der) ||
        !(csr = d2i_X509_REQ(NULL, &p, (long)der_len)) || p != der + der_len) {
        acme_problem(rq, 400, ACME_ERR("badCSR"), NULL,
                     "csr is not base64url of a DER PKCS#10 request");
        goto out;
    }
    struct hilt_issue_rules rules;
    rules_of(rq, &rules);
    if (hilt_csr_check(csr, &rules, "CSR", &names, &e) < 0) {
        acme_problem(rq, 400, ACME_ERR("badCSR"), NULL, "%s", e.msg);
        goto out;
    }
    if (csr_san_kinds_ok(rq, csr) < 0 || csr_matches(rq, &names, &o) < 0) goto out;
    EVP_PKEY *ck = X509_REQ_get0_pubkey(csr);
    if (ck && rq->key && EVP_PKEY_eq(ck, rq->key) == 1) {
        acme_problem(rq, 400, ACME_ERR("badCSR"), NULL,
                     "the CSR's key is the account key; use a separate key (RFC 8555 §11.1)");
        goto out;
    }
    /* A store shared by nodes: claim the order (ready -> processing), so
     * two finalize requests cannot both issue. On SQLite this process is
     * the only writer and handlers run one at a time. */
    struct hilt_store *s = rq->api->st;
    int shared = rq->a->shared;
    const char *from = "ready";
    if (shared) {
        int rc = hilt_store_acme_order_set_status(s, o.id, "ready", "processing", &e);
        if (rc < 0) {
            fault(rq, &e);
            goto out;
        }
        if (rc == 0) {
            acme_problem(rq, 403, ACME_ERR("orderNotReady"), NULL,
                         "order %s is being finalized already", o.id);
            goto out;
        }
        from = "processing";
    }
    struct hilt_principal who = {.roles = HILT_ROLE_REQUESTER};
    char owner[80];
    snprintf(who.id, sizeof(who.id), "acme:%s", rq->acct.id);
    snprintf(owner, sizeof(owner), "acme:%s", rq->acct.id);
    struct hilt_cert_meta meta = {.owner = owner, .lifetime = o.lifetime, .csr_checked = 1};
    enum hilt_submit_state state = 0;
    char request_id[64] = "";
    if (hilt_api_submit(rq->api, &who, csr, &meta, &state, request_id, &issued, &e) < 0) {
        /* refused (the order stays ready: the client may send another CSR)
         * or a fault */
        if (shared) hilt_store_acme_order_set_status(s, o.id, "processing", "ready", NULL);
        if (e.kind == HILT_E_INPUT || e.kind == HILT_E_USAGE)
            acme_problem(rq, e.code == 403 ? 403 : 400,
                         e.code == 403 ? ACME_ERR("unauthorized") : ACME_ERR("badCSR"), NULL, "%s",
                         e.msg);
        else
            fault(rq, &e);
        goto out;
    }
    int rc;
    if (state == HILT_SUBMIT_ISSUED) {
        /* the certificate is recorded (by submit, under the account as its
         * owner); the order's new status may ride in a later commit */
        rc = acme_defer_finish(rq->a, &o, from, "valid", issued.serial, request_id, &e);
        if (rc == 1) {
            snprintf(o.status, sizeof(o.status), "valid");
            snprintf(o.serial, sizeof(o.serial), "%s", issued.serial);
            acme_count(rq->a, "hilt_acme_orders_total{status=\"%s\"}", "valid");
        }
    } else {
        rc = hilt_store_acme_order_finish(s, o.id, from, "processing", NULL, request_id, NULL, &e);
        if (rc == 1) {
            snprintf(o.status, sizeof(o.status), "processing");
            snprintf(o.request_id, sizeof(o.request_id), "%s", request_id);
            acme_count(rq->a, "hilt_acme_orders_total{status=\"%s\"}", "pending_approval");
        }
    }
    if (rc < 0) {
        fault(rq, &e);
        goto out;
    }
    if (rc == 0) {
        acme_problem(rq, 403, ACME_ERR("orderNotReady"), NULL,
                     "order %s changed while it was finalized", o.id);
        goto out;
    }
    reply_order(rq, 200, &o);
out:
    hilt_issued_free(&issued);
    X509_REQ_free(csr);
    free(der);
    hilt_names_free(&names);
    hilt_acme_order_free(&o);
}

/* ---- authorizations and challenges (§7.5)
 * --------------------------------------------------------------- */

static int load_authz(struct acme_rq *rq, const char *id, struct hilt_acme_authz *a)
{
    struct hilt_err e = {0};
    if (acme_defer_sync(rq->a, NULL, id, &e) < 0) return fault(rq, &e), -1;
    int found = hilt_store_acme_authz_get(rq->api->st, id, a, &e);
    if (found < 0) return fault(rq, &e), -1;
    if (!found || strcmp(a->account, rq->acct.id)) return not_found(rq, "authorization", id), -1;
    return 0;
}

void acme_authz(struct acme_rq *rq, const char *id)
{
    struct hilt_err e = {0};
    struct hilt_acme_authz a;
    if (load_authz(rq, id, &a) < 0) return;
    json_t *st = rq->payload ? json_object_get(rq->payload, "status") : NULL;
    if (st) {
        /* §7.5.2: the client gives an authorization up */
        if (!json_is_string(st) || strcmp(json_string_value(st), "deactivated")) {
            acme_problem(rq, 400, ACME_ERR("malformed"), NULL,
                         "an authorization's status can only become \"deactivated\"");
            return;
        }
        const char *cur = authz_status(&a, hilt_now());
        if (strcmp(cur, "pending") && strcmp(cur, "valid")) {
            acme_problem(rq, 403, ACME_ERR("unauthorized"), NULL,
                         "authorization %s is %s and cannot be deactivated", a.id, cur);
            return;
        }
        int rc = hilt_store_acme_authz_deactivate(rq->api->st, &a, &e);
        if (rc < 0) return fault(rq, &e);
        if (rc == 1)
            snprintf(a.status, sizeof(a.status), "deactivated");
        else if (hilt_store_acme_authz_get(rq->api->st, id, &a, &e) < 0)
            return fault(rq, &e);
    }
    reply_authz(rq, &a);
}

void acme_challenge(struct acme_rq *rq, const char *authz_id, const char *type)
{
    struct hilt_err e = {0};
    struct hilt_acme_authz a;
    if (load_authz(rq, authz_id, &a) < 0) return;
    struct chall_collect cc = {.rq = rq, .authz = &a, .type = type};
    if (hilt_store_acme_chall_list(rq->api->st, a.id, chall_collect_cb, &cc, &e) < 0)
        return fault(rq, &e);
    if (!cc.found) return not_found(rq, "challenge", type);
    /* §7.5.1: "{}" asks for validation; POST-as-GET only reads */
    if (rq->payload && !strcmp(cc.one.status, "pending") &&
        !strcmp(authz_status(&a, hilt_now()), "pending")) {
        if (!acme_validate_has_room(rq->a)) {
            hilt_acme_chall_free(&cc.one);
            hilt_reply_header(rq->resp, "Retry-After", "%d", 1);
            acme_problem(rq, 429, ACME_ERR("rateLimited"), NULL,
                         "too many validations in progress; retry shortly");
            return;
        }
        int64_t now = hilt_now();
        /* shared store: claim it (pending -> processing), so one node
         * validates; one node's store: this process's list says so */
        int rc = rq->a->shared ? hilt_store_acme_chall_start(rq->api->st, a.id, type, now, &e) : 1;
        if (rc < 0) {
            hilt_acme_chall_free(&cc.one);
            return fault(rq, &e);
        }
        if (rc == 1) {
            char ka[256];
            snprintf(ka, sizeof(ka), "%s.%s", cc.one.token, rq->acct.thumbprint);
            snprintf(cc.one.status, sizeof(cc.one.status), "processing");
            cc.one.started = now;
            /* answer when the validation ends (most take a millisecond), so
             * the client need not poll; after ACME_INLINE_WAIT_MS as
             * "processing" (acme_validate.c) */
            struct hilt_deferred *d = hilt_reply_defer(rq->resp);
            if (acme_validate_start(rq->a, &a, type, cc.one.token, ka, now, d, rq->req->base_url) ==
                    0 &&
                d) {
                acme_count(rq->a, "hilt_acme_validations_total{result=\"%s\"}", "started");
                hilt_acme_chall_free(&cc.one);
                return;
            }
            hilt_reply_undefer(rq->resp); /* not started after all: answer now */
            acme_count(rq->a, "hilt_acme_validations_total{result=\"%s\"}", "started");
        }
    }
    char up[1200];
    acme_url(rq, up, sizeof(up), "authz/%s", a.id);
    hilt_reply_header(rq->resp, "Link", "<%s>;rel=\"up\"", up);
    if (!strcmp(cc.one.status, "processing"))
        hilt_reply_header(rq->resp, "Retry-After", "%d", ACME_RETRY_AFTER);
    acme_reply_json(rq, 200, chall_obj(rq, &cc.one));
    hilt_acme_chall_free(&cc.one);
}

void acme_challenge_reply(struct acme *a, const char *base_url, const struct hilt_acme_authz *authz,
                          const char *type, const char *token, const char *status,
                          int64_t validated, const char *error_json, struct hilt_reply *resp)
{
    struct hilt_req req = {.base_url = base_url};
    struct acme_rq rq = {.a = a, .api = a->api, .req = &req, .resp = resp};
    struct hilt_acme_chall c = {.validated = validated, .error = (char *)error_json};
    snprintf(c.authz_id, sizeof(c.authz_id), "%s", authz->id);
    snprintf(c.type, sizeof(c.type), "%s", type);
    snprintf(c.token, sizeof(c.token), "%s", token);
    snprintf(c.status, sizeof(c.status), "%s", status);
    char up[1200];
    acme_url(&rq, up, sizeof(up), "authz/%s", authz->id);
    hilt_reply_header(resp, "Link", "<%s>;rel=\"up\"", up);
    if (!strcmp(status, "processing"))
        hilt_reply_header(resp, "Retry-After", "%d", ACME_RETRY_AFTER);
    acme_reply_json(&rq, 200, chall_obj(&rq, &c));
    acme_common_headers(a, base_url, 0, resp);
}

/* ---- certificates (§7.4.2) and revocation (§7.6)
 * ---------------------------------------------------------- */

/* PEM of one DER certificate (RFC 7468 §2: 64-character lines). */
static int der_to_pem(struct hilt_buf *out, const uint8_t *der, size_t len)
{
    if (hilt_buf_add_str(out, "-----BEGIN CERTIFICATE-----\n") < 0) return -1;
    unsigned char line[65];
    for (size_t off = 0; off < len; off += 48) {
        size_t n = len - off < 48 ? len - off : 48;
        int w = EVP_EncodeBlock(line, der + off, (int)n);
        if (hilt_buf_add(out, line, (size_t)w) < 0 || hilt_buf_add_str(out, "\n") < 0) return -1;
    }
    return hilt_buf_add_str(out, "-----END CERTIFICATE-----\n");
}

/* Certificates ACME issued belong to the account in their owner field
 * ("acme:ACCOUNT-ID", set at finalize and kept through approvals). */
static int owned_by(const struct hilt_cert_rec *rec, const char *acct)
{
    return rec->owner && !strncmp(rec->owner, "acme:", 5) && !strcmp(rec->owner + 5, acct);
}

void acme_certificate(struct acme_rq *rq, const char *serial)
{
    struct hilt_err e = {0};
    struct hilt_cert_rec rec;
    struct hilt_buf der, pem;
    hilt_buf_init(&der, 1u << 20);
    hilt_buf_init(&pem, 2u << 20);
    int found = hilt_store_cert_get(rq->api->st, serial, &rec, &der, &e);
    if (found < 0) {
        fault(rq, &e);
    } else if (!found || !owned_by(&rec, rq->acct.id) || strcmp(rec.source, "issued")) {
        not_found(rq, "certificate", serial);
    } else if (!der.len || der_to_pem(&pem, der.data, der.len) < 0 ||
               hilt_buf_add(&pem, rq->a->chain_pem.data, rq->a->chain_pem.len) < 0) {
        hilt_err_set(&e, HILT_E_RUNTIME, 0, "certificate %s is not readable", serial);
        fault(rq, &e);
    } else {
        /* §7.4.2: the certificate and its chain, no decoding on the way */
        hilt_reply_bytes(rq->resp, 200, "application/pem-certificate-chain", pem.data, pem.len);
    }
    if (found > 0) hilt_cert_rec_free(&rec);
    hilt_buf_free(&der);
    hilt_buf_free(&pem);
}

/* Reasons an ACME client may give (RFC 5280 §5.3.1): the others are the
 * CA's to state (cACompromise, certificateHold, removeFromCRL,
 * privilegeWithdrawn, aACompromise). */
static int reason_ok(int r)
{
    return r == 0 || r == 1 || r == 3 || r == 4 || r == 5;
}

void acme_revoke(struct acme_rq *rq)
{
    struct hilt_err e = {0};
    unsigned char *der = NULL;
    size_t der_len = 0;
    X509 *cert = NULL;
    struct hilt_cert_rec rec;
    memset(&rec, 0, sizeof(rec));
    int have_rec = 0;
    const char *c64 = json_string_value(json_object_get(rq->payload, "certificate"));
    const unsigned char *p;
    if (!c64 || strlen(c64) > (64u << 10) ||
        hilt_b64url_decode(c64, strlen(c64), &der, &der_len) < 0 || !(p = der) ||
        !(cert = d2i_X509(NULL, &p, (long)der_len)) || p != der + der_len) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL,
                     "revokeCert needs {\"certificate\": base64url(DER)}");
        goto out;
    }
    int reason = 0;
    json_t *r = json_object_get(rq->payload, "reason");
    if (r) {
        if (!json_is_integer(r) || !reason_ok((int)json_integer_value(r)) ||
            json_integer_value(r) != (int)json_integer_value(r)) {
            acme_problem(rq, 400, ACME_ERR("badRevocationReason"), NULL,
                         "reason must be 0, 1, 3, 4 or 5 (unspecified, keyCompromise, "
                         "affiliationChanged, superseded, cessationOfOperation)");
            goto out;
        }
        reason = (int)json_integer_value(r);
    }
    /* is it ours, byte for byte? */
    char serial[80] = "", sha[65];
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    BN_free(bn);
    if (hex) hilt_hex_normalise(hex, serial, sizeof(serial));
    OPENSSL_free(hex);
    unsigned char md[32];
    unsigned int mdl = 0;
    EVP_Digest(der, der_len, md, &mdl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(sha + 2 * i, 3, "%02x", md[i]);
    int found = serial[0] ? hilt_store_cert_get(rq->api->st, serial, &rec, NULL, &e) : 0;
    if (found < 0) {
        fault(rq, &e);
        goto out;
    }
    have_rec = found;
    if (!found || strcmp(rec.sha256, sha) || strcmp(rec.source, "issued")) {
        acme_problem(rq, 404, ACME_ERR("malformed"), NULL,
                     "this server did not issue that certificate");
        goto out;
    }
    /* §7.6: the account that ordered it, or the certificate's own key */
    if (rq->have_acct) {
        if (!owned_by(&rec, rq->acct.id)) {
            acme_problem(rq, 403, ACME_ERR("unauthorized"), NULL,
                         "account %s did not order certificate %s; sign with the certificate's "
                         "key instead",
                         rq->acct.id, serial);
            goto out;
        }
    } else {
        EVP_PKEY *ck = X509_get0_pubkey(cert);
        if (!ck || EVP_PKEY_eq(ck, rq->key) != 1) {
            acme_problem(rq, 403, ACME_ERR("unauthorized"), NULL,
                         "the jwk is not the key of certificate %s", serial);
            goto out;
        }
    }
    char actor[80], obj[120], res[64];
    if (rq->have_acct)
        snprintf(actor, sizeof(actor), "acme:%s", rq->acct.id);
    else
        snprintf(actor, sizeof(actor), "acme:certificate-key");
    snprintf(obj, sizeof(obj), "serial=%s", serial);
    snprintf(res, sizeof(res), "ok reason=%d", reason);
    struct hilt_audit_ev ev = {actor, "cert.revoke", obj, res};
    int rc = hilt_store_cert_revoke(rq->api->st, serial, reason, hilt_now(), &ev, &e);
    if (rc < 0) {
        fault(rq, &e);
        goto out;
    }
    if (rc == 1) {
        acme_problem(rq, 400, ACME_ERR("alreadyRevoked"), NULL,
                     "certificate %s was revoked already", serial);
        goto out;
    }
    acme_count(rq->a, "hilt_acme_revocations_total{by=\"%s\"}", rq->have_acct ? "account" : "key");
    hilt_reply_bytes(rq->resp, 200, NULL, NULL, 0);
out:
    if (have_rec) hilt_cert_rec_free(&rec);
    X509_free(cert);
    free(der);
}
