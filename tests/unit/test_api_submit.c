/* test_api_submit.c - the request/approval workflow of hilt serve on SQLite and
 * PostgreSQL (same bodies): pre-approved scopes issue at once, everything else
 * waits; separation of duties (the requester never approves, not even as
 * admin), approvers outside their scope refused, decisions that race, the
 * separate issuer step, revocation rights, bearer tokens (unknown, wrong
 * secret, revoked, expired, disabled), leases with takeover, paging, and the
 * audit chain over all of it. PostgreSQL runs when HILT_TEST_PG_URL is set
 * (tests/integration/serve_pg.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/api.h"
#include "api/auth.h"
#include "api/submit.h"
#include "ca/ca.h"
#include "core/clock.h"
#include "core/err.h"
#include "store/store.h"
#include "store/store_api.h"
#include "x509/key.h"

#include <libpq-fe.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct env {
    const char *kind;
    char home[256];
    char url[1024];
    struct hilt_store *st;
    struct hilt_ca *ca;
    struct hilt_scope scopes[2];
    struct hilt_api api;
};

static struct env sq = {.kind = "sqlite"};
static struct env pg = {.kind = "postgres"};

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static int setup(void **state)
{
    struct env *v = *state;
    snprintf(v->home, sizeof(v->home), "/tmp/hilt-api-test.XXXXXX");
    if (!mkdtemp(v->home)) return -1;
    if (!strcmp(v->kind, "sqlite")) {
        snprintf(v->url, sizeof(v->url), "%s/hilt.db", v->home);
    } else {
        const char *u = getenv("HILT_TEST_PG_URL");
        if (!u || !*u) {
            v->url[0] = '\0';
            return 0;
        }
        snprintf(v->url, sizeof(v->url), "%s", u);
        PGconn *c = PQconnectdb(u);
        if (PQstatus(c) != CONNECTION_OK) return -1;
        PQsetNoticeProcessor(c, quiet, NULL);
        PQclear(PQexec(c, "DROP SCHEMA public CASCADE; CREATE SCHEMA public"));
        PQfinish(c);
    }
    struct hilt_err e = {0};
    if (!(v->st = hilt_store_open(v->url, &e))) {
        fprintf(stderr, "store: %s\n", e.msg);
        return -1;
    }
    struct hilt_ca_init_opts o = {.name = "hilt", .allow_domains = "internal,example.com"};
    if (hilt_ca_init(v->st, v->home, &o, &e) < 0 ||
        !(v->ca = hilt_ca_open(v->st, v->home, "hilt", &e))) {
        fprintf(stderr, "ca: %s\n", e.msg);
        return -1;
    }
    memset(v->scopes, 0, sizeof(v->scopes));
    if (hilt_scope_parse("*.svc.internal,7d", &v->scopes[0], &e) < 0) return -1;
    snprintf(v->scopes[0].env, sizeof(v->scopes[0].env), "internal-api");
    memset(&v->api, 0, sizeof(v->api));
    v->api.st = v->st;
    v->api.ca = v->ca;
    v->api.home = v->home;
    v->api.scopes = v->scopes;
    v->api.nscopes = 1;
    v->api.issue_on_approve = 1;
    return 0;
}

static int teardown(void **state)
{
    struct env *v = *state;
    hilt_ca_close(v->ca);
    hilt_store_close(v->st);
    v->ca = NULL;
    v->st = NULL;
    hilt_clock_set(NULL, NULL);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", v->home);
    return system(cmd) == 0 ? 0 : -1;
}

static struct env *env(void **state)
{
    struct env *v = *state;
    if (!v->st) {
        print_message("SKIP: HILT_TEST_PG_URL is not set; run tests/integration/serve_pg.sh "
                      "(it starts a private PostgreSQL)\n");
        skip();
    }
    return v;
}

static X509_REQ *make_csr(const char *cn, const char *san)
{
    struct hilt_keyspec ks;
    assert_int_equal(hilt_keyspec_parse("ec-p256", &ks, NULL), 0);
    EVP_PKEY *k = hilt_key_generate(&ks, NULL);
    X509_REQ *r = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_set_subject_name(r, n);
    X509_NAME_free(n);
    X509_REQ_set_pubkey(r, k);
    if (san) {
        STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
        X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
        sk_X509_EXTENSION_push(exts, ex);
        X509_REQ_add_extensions(r, exts);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }
    assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
    EVP_PKEY_free(k);
    return r;
}

static void grant(struct env *v, const char *principal, const char *role, const char *scope)
{
    char envs[64], names[1024];
    struct hilt_err e = {0};
    assert_int_equal(hilt_grant_scope_parse(scope, envs, names, &e), 0);
    struct hilt_api_grant_rec g = {
        .principal = principal, .role = role, .env = envs, .names = names, .created_by = "test"};
    int64_t id = 0;
    assert_int_equal(hilt_store_grant_add(v->st, &g, &id, NULL, &e), 0);
    assert_true(id > 0);
}

static void load(struct env *v, const char *principal, struct hilt_auth *a)
{
    struct hilt_err e = {0};
    int rc = hilt_auth_load(v->st, principal, "token", a, &e);
    if (rc) fprintf(stderr, "load %s: %s\n", principal, e.msg);
    assert_int_equal(rc, 0);
}

/* submit as `who` (the REST layer has checked requester rights) */
static int submit(struct env *v, const char *who, const char *names, const char *envname,
                  int64_t lifetime, enum hilt_submit_state *st, char rid[64],
                  struct hilt_issued *iss, struct hilt_err *e)
{
    char cn[256];
    snprintf(cn, sizeof(cn), "%s", names);
    char *comma = strchr(cn, ',');
    if (comma) *comma = '\0';
    static char san[32768];
    san[0] = 0;
    size_t o = 0;
    for (const char *p = names; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        o += (size_t)snprintf(san + o, sizeof(san) - o, "%sDNS:%.*s", o ? "," : "", (int)l, p);
        p = c ? c + 1 : p + l;
    }
    X509_REQ *csr = make_csr(cn, san);
    struct hilt_principal p = {.roles = HILT_ROLE_REQUESTER};
    snprintf(p.id, sizeof(p.id), "%s", who);
    struct hilt_cert_meta m = {
        .owner = "team-a", .service = "svc", .env = envname, .lifetime = lifetime};
    int rc = hilt_api_submit(&v->api, &p, csr, &m, st, rid, iss, e);
    X509_REQ_free(csr);
    return rc;
}

struct audit_find {
    const char *action, *result_prefix, *actor;
    int n;
};

static int audit_cb(const struct hilt_audit_rec *r, void *arg)
{
    struct audit_find *f = arg;
    if (!strcmp(r->action, f->action) &&
        !strncmp(r->result, f->result_prefix, strlen(f->result_prefix)) &&
        (!f->actor || !strcmp(r->actor, f->actor)))
        f->n++;
    return 0;
}

static int audit_count(struct env *v, const char *action, const char *prefix, const char *actor)
{
    struct audit_find f = {action, prefix, actor, 0};
    assert_true(hilt_store_audit_walk(v->st, audit_cb, &f, NULL) >= 0);
    return f.n;
}

static void chain_ok(struct env *v)
{
    struct hilt_audit_check c;
    assert_int_equal(hilt_store_audit_verify(v->st, &c, NULL), 0);
    if (!c.ok) fprintf(stderr, "audit: %s\n", c.reason);
    assert_true(c.ok);
}

static int sum_cb(const char *state, int64_t k, void *arg)
{
    (void)state;
    *(int64_t *)arg += k;
    return 0;
}

static int count_requests(struct env *v)
{
    int64_t n = 0;
    struct hilt_err e = {0};
    assert_int_equal(hilt_store_request_counts(v->st, sum_cb, &n, &e), 0);
    return (int)n;
}

/* ---- tests --------------------------------------------------------------------------- */

static void schema_is_3(void **state)
{
    struct env *v = env(state);
    int ver = 0;
    assert_int_equal(hilt_store_schema_version(v->st, &ver, NULL), 0);
    assert_true(ver >= 3);
}

static void preapproved_issues(void **state)
{
    struct env *v = env(state);
    enum hilt_submit_state s = 0;
    char rid[64];
    struct hilt_issued iss = {0};
    struct hilt_err e = {0};
    int rc = submit(v, "token:ci", "web.svc.internal", "internal-api", 0, &s, rid, &iss, &e);
    if (rc) fprintf(stderr, "submit: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(s, HILT_SUBMIT_ISSUED);
    assert_non_null(iss.der);
    /* no lifetime asked: the scope's maximum (7 days) */
    int64_t left = iss.not_after - hilt_now();
    assert_true(left > 7 * 86400 - 60 && left <= 7 * 86400);
    struct hilt_api_request_rec r;
    assert_int_equal(hilt_store_request_get(v->st, rid, &r, &e), 1);
    assert_string_equal(r.state, "issued");
    assert_string_equal(r.serial, iss.serial);
    assert_string_equal(r.approver, "scope:*.svc.internal@internal-api");
    hilt_api_request_rec_free(&r);
    int st = -1;
    char serial[64];
    assert_int_equal(hilt_api_request_state(&v->api, rid, &st, serial, &e), 0);
    assert_int_equal(st, 1);
    assert_string_equal(serial, iss.serial);
    hilt_issued_free(&iss);
    /* the certificate's issuance is audited under the principal */
    assert_int_equal(audit_count(v, "cert.issue", "ok", "token:ci"), 1);
    assert_int_equal(audit_count(v, "request.submit", "issued", "token:ci"), 1);

    /* outside the scope: another env, a longer lifetime, a name two labels down */
    assert_int_equal(submit(v, "token:ci", "web.svc.internal", "prod", 0, &s, rid, &iss, &e), 0);
    assert_int_equal(s, HILT_SUBMIT_PENDING);
    assert_int_equal(
        submit(v, "token:ci", "web.svc.internal", "internal-api", 8 * 86400, &s, rid, &iss, &e), 0);
    assert_int_equal(s, HILT_SUBMIT_PENDING);
    assert_int_equal(
        submit(v, "token:ci", "a.b.svc.internal", "internal-api", 3600, &s, rid, &iss, &e), 0);
    assert_int_equal(s, HILT_SUBMIT_PENDING);
    assert_int_equal(submit(v, "token:ci", "web.svc.internal,x.example.com", "internal-api", 3600,
                            &s, rid, &iss, &e),
                     0);
    assert_int_equal(s, HILT_SUBMIT_PENDING);
    chain_ok(v);
}

static void bad_csr_stores_nothing(void **state)
{
    struct env *v = env(state);
    enum hilt_submit_state s = 0;
    char rid[64];
    struct hilt_issued iss = {0};
    struct hilt_err e = {0};
    /* outside the CA's allowed domains */
    assert_int_equal(submit(v, "token:ci", "www.evil.test", "prod", 0, &s, rid, &iss, &e), -1);
    assert_int_equal(e.code, 400);
    assert_string_equal(rid, "");
    /* below the 5-minute minimum */
    assert_int_equal(submit(v, "token:ci", "a.svc.internal", "prod", 60, &s, rid, &iss, &e), -1);
    assert_int_equal(e.code, 400);
    assert_int_equal(count_requests(v), 0);
    assert_int_equal(audit_count(v, "request.submit", "rejected", "token:ci"), 2);
    chain_ok(v);
}

static void separation_of_duties(void **state)
{
    struct env *v = env(state);
    grant(v, "token:alice", "requester", "env=prod,names=.example.com");
    grant(v, "token:alice", "admin", ""); /* even an admin cannot approve its own */
    grant(v, "token:bob", "approver", "env=prod,names=*.example.com");
    grant(v, "token:carol", "approver", "env=staging");
    grant(v, "token:dave", "approver", "env=prod,names=api.example.com");
    grant(v, "token:erin", "requester", "env=prod");
    enum hilt_submit_state s = 0;
    char rid[64];
    struct hilt_issued iss = {0};
    struct hilt_err e = {0};
    assert_int_equal(submit(v, "token:alice", "www.example.com,api.example.com", "prod", 86400, &s,
                            rid, &iss, &e),
                     0);
    assert_int_equal(s, HILT_SUBMIT_PENDING);
    struct hilt_auth a;
    struct hilt_api_request_rec r;
    /* the requester itself, although admin */
    load(v, "token:alice", &a);
    assert_int_equal(hilt_api_decide(&v->api, &a, rid, 1, NULL, &r, &iss, &e), -1);
    assert_int_equal(e.code, 403);
    assert_non_null(strstr(e.msg, "separation of duties"));
    hilt_api_request_rec_free(&r);
    /* an approver of another environment */
    load(v, "token:carol", &a);
    assert_int_equal(hilt_api_decide(&v->api, &a, rid, 1, NULL, &r, &iss, &e), -1);
    assert_int_equal(e.code, 403);
    hilt_api_request_rec_free(&r);
    /* an approver for only one of the names */
    load(v, "token:dave", &a);
    assert_int_equal(hilt_api_decide(&v->api, &a, rid, 1, NULL, &r, &iss, &e), -1);
    assert_int_equal(e.code, 403);
    hilt_api_request_rec_free(&r);
    /* a requester is no approver */
    load(v, "token:erin", &a);
    assert_int_equal(hilt_api_decide(&v->api, &a, rid, 1, NULL, &r, &iss, &e), -1);
    assert_int_equal(e.code, 403);
    hilt_api_request_rec_free(&r);
    /* still pending */
    int st = -1;
    assert_int_equal(hilt_api_request_state(&v->api, rid, &st, NULL, &e), 0);
    assert_int_equal(st, 0);
    /* the right approver: approved and issued at once */
    load(v, "token:bob", &a);
    int rc = hilt_api_decide(&v->api, &a, rid, 1, "ticket 42", &r, &iss, &e);
    if (rc) fprintf(stderr, "decide: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_string_equal(r.state, "issued");
    assert_string_equal(r.approver, "token:bob");
    assert_non_null(iss.der);
    hilt_issued_free(&iss);
    hilt_api_request_rec_free(&r);
    /* decided once only */
    assert_int_equal(hilt_api_decide(&v->api, &a, rid, 0, NULL, &r, &iss, &e), -1);
    assert_int_equal(e.code, 409);
    hilt_api_request_rec_free(&r);
    assert_int_equal(audit_count(v, "request.approve", "refused", NULL), 4);
    assert_int_equal(audit_count(v, "request.approve", "approved", "token:bob"), 1);
    assert_int_equal(audit_count(v, "request.issue", "issued", "token:bob"), 1);
    chain_ok(v);
}

static void reject_and_unknown(void **state)
{
    struct env *v = env(state);
    grant(v, "token:bob", "approver", "");
    enum hilt_submit_state s = 0;
    char rid[64];
    struct hilt_issued iss = {0};
    struct hilt_err e = {0};
    assert_int_equal(submit(v, "token:alice", "x.example.com", "prod", 3600, &s, rid, &iss, &e), 0);
    struct hilt_auth a;
    struct hilt_api_request_rec r;
    load(v, "token:bob", &a);
    assert_int_equal(hilt_api_decide(&v->api, &a, rid, 0, "not ours", &r, &iss, &e), 0);
    assert_string_equal(r.state, "rejected");
    assert_null(iss.der);
    hilt_api_request_rec_free(&r);
    int st = -1;
    assert_int_equal(hilt_api_request_state(&v->api, rid, &st, NULL, &e), 0);
    assert_int_equal(st, 2);
    assert_int_equal(hilt_api_decide(&v->api, &a, "req_nope", 1, NULL, &r, &iss, &e), -1);
    assert_int_equal(e.code, 404);
    assert_int_equal(hilt_api_request_state(&v->api, "req_nope", &st, NULL, &e), -1);
}

static void separate_issuer(void **state)
{
    struct env *v = env(state);
    v->api.issue_on_approve = 0;
    grant(v, "token:bob", "approver", "");
    grant(v, "token:bot", "issuer", "env=prod");
    grant(v, "token:alice", "issuer", "");
    enum hilt_submit_state s = 0;
    char rid[64];
    struct hilt_issued iss = {0};
    struct hilt_err e = {0};
    assert_int_equal(submit(v, "token:alice", "y.example.com", "prod", 3600, &s, rid, &iss, &e), 0);
    struct hilt_auth a;
    struct hilt_api_request_rec r;
    /* issuing before approval */
    load(v, "token:bot", &a);
    assert_int_equal(hilt_api_issue(&v->api, &a, rid, &r, &iss, &e), -1);
    assert_int_equal(e.code, 409);
    hilt_api_request_rec_free(&r);
    load(v, "token:bob", &a);
    assert_int_equal(hilt_api_decide(&v->api, &a, rid, 1, NULL, &r, &iss, &e), 0);
    assert_string_equal(r.state, "approved");
    assert_null(iss.der);
    hilt_api_request_rec_free(&r);
    /* the requester cannot issue its own */
    load(v, "token:alice", &a);
    assert_int_equal(hilt_api_issue(&v->api, &a, rid, &r, &iss, &e), -1);
    assert_int_equal(e.code, 403);
    hilt_api_request_rec_free(&r);
    /* an approver is no issuer */
    load(v, "token:bob", &a);
    assert_int_equal(hilt_api_issue(&v->api, &a, rid, &r, &iss, &e), -1);
    assert_int_equal(e.code, 403);
    hilt_api_request_rec_free(&r);
    load(v, "token:bot", &a);
    int rc = hilt_api_issue(&v->api, &a, rid, &r, &iss, &e);
    if (rc) fprintf(stderr, "issue: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_string_equal(r.state, "issued");
    assert_string_equal(r.issuer, "token:bot");
    assert_non_null(iss.der);
    hilt_issued_free(&iss);
    hilt_api_request_rec_free(&r);
    chain_ok(v);
}

static void revocation_rights(void **state)
{
    struct env *v = env(state);
    grant(v, "token:bob", "approver", "env=prod");
    grant(v, "token:mallory", "requester", "");
    enum hilt_submit_state s = 0;
    char rid[64];
    struct hilt_issued iss = {0};
    struct hilt_err e = {0};
    assert_int_equal(
        submit(v, "token:ci", "r.svc.internal", "internal-api", 3600, &s, rid, &iss, &e), 0);
    assert_int_equal(s, HILT_SUBMIT_ISSUED);
    char serial[64];
    snprintf(serial, sizeof(serial), "%s", iss.serial);
    hilt_issued_free(&iss);
    struct hilt_auth a;
    load(v, "token:mallory", &a);
    assert_int_equal(hilt_api_revoke(&v->api, &a, serial, 1, &e), -1);
    assert_int_equal(e.code, 403);
    load(v, "token:bob", &a); /* approver, but for prod only */
    assert_int_equal(hilt_api_revoke(&v->api, &a, serial, 1, &e), -1);
    assert_int_equal(e.code, 403);
    grant(v, "token:ci", "requester", "");
    load(v, "token:ci", &a); /* the requester gives its certificate up */
    assert_int_equal(hilt_api_revoke(&v->api, &a, serial, 1, &e), 0);
    assert_int_equal(hilt_api_revoke(&v->api, &a, serial, 1, &e), 1);
    assert_int_equal(hilt_api_revoke(&v->api, &a, "48ffff", 1, &e), -1);
    assert_int_equal(e.code, 404);
    assert_int_equal(hilt_api_revoke(&v->api, &a, "zz", 1, &e), -1);
    assert_int_equal(e.code, 400);
    chain_ok(v);
}

static void tokens(void **state)
{
    struct env *v = env(state);
    char tok[HILT_TOKEN_LEN + 1], id[HILT_TOKEN_ID_HEX + 1], hash[65];
    struct hilt_err e = {0};
    assert_int_equal(hilt_token_new(tok, id, hash, &e), 0);
    assert_int_equal(strlen(tok), HILT_TOKEN_LEN);
    int64_t now = hilt_now();
    struct hilt_api_token_rec t = {.id = id,
                                   .name = "ci",
                                   .principal = "token:ci",
                                   .hash = hash,
                                   .expires_at = now + 3600,
                                   .created_by = "test"};
    assert_int_equal(hilt_store_token_add(v->st, &t, "requester", "prod", "", NULL, &e), 0);
    /* the name is taken */
    assert_int_equal(hilt_store_token_add(v->st, &t, "requester", "prod", "", NULL, &e), -1);
    struct hilt_auth a;
    int rc = hilt_auth_bearer(v->st, tok, now, &a, &e);
    if (rc) fprintf(stderr, "bearer: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_string_equal(a.p.id, "token:ci");
    assert_true(a.p.roles & HILT_ROLE_REQUESTER);
    assert_false(a.p.roles & HILT_ROLE_APPROVER);
    /* the secret is checked, not just the id */
    char bad[HILT_TOKEN_LEN + 1];
    snprintf(bad, sizeof(bad), "%s", tok);
    bad[HILT_TOKEN_LEN - 1] = bad[HILT_TOKEN_LEN - 1] == '0' ? '1' : '0';
    assert_int_equal(hilt_auth_bearer(v->st, bad, now, &a, &e), -1);
    assert_int_equal(e.code, 401);
    assert_int_equal(hilt_auth_bearer(v->st, "hilt_nothex", now, &a, &e), -1);
    assert_int_equal(e.code, 401);
    /* expired */
    assert_int_equal(hilt_auth_bearer(v->st, tok, now + 3600, &a, &e), -1);
    assert_int_equal(e.code, 401);
    assert_non_null(strstr(e.msg, "expired"));
    /* disabled principal */
    assert_int_equal(hilt_store_principal_disable(v->st, "token:ci", now, NULL, &e), 1);
    assert_int_equal(hilt_auth_bearer(v->st, tok, now, &a, &e), -1);
    assert_non_null(strstr(e.msg, "disabled"));
    assert_int_equal(hilt_store_principal_disable(v->st, "token:ci", 0, NULL, &e), 1);
    assert_int_equal(hilt_auth_bearer(v->st, tok, now, &a, &e), 0);
    /* revoked */
    assert_int_equal(hilt_store_token_revoke(v->st, "ci", now, NULL, &e), 1);
    assert_int_equal(hilt_store_token_revoke(v->st, "ci", now, NULL, &e), 0);
    assert_int_equal(hilt_auth_bearer(v->st, tok, now, &a, &e), -1);
    assert_non_null(strstr(e.msg, "revoked"));
    /* the store holds the hash, never the token */
    assert_null(strstr(hash, tok + 6 + HILT_TOKEN_ID_HEX));
}

static void leases(void **state)
{
    struct env *v = env(state);
    struct hilt_err e = {0};
    int64_t ep = 0, ep2 = 0;
    assert_int_equal(hilt_store_lease_acquire(v->st, "renewal", "node-a", 1000, 10, &ep, &e), 1);
    assert_int_equal(ep, 1);
    assert_int_equal(hilt_store_lease_acquire(v->st, "renewal", "node-b", 1005, 10, &ep2, &e), 0);
    /* the holder renews (heartbeat), the epoch stays */
    assert_int_equal(hilt_store_lease_acquire(v->st, "renewal", "node-a", 1008, 10, &ep, &e), 1);
    assert_int_equal(ep, 1);
    assert_int_equal(hilt_store_lease_acquire(v->st, "renewal", "node-b", 1017, 10, &ep2, &e), 0);
    /* the holder stops heartbeating: taken over after expiry, new epoch */
    assert_int_equal(hilt_store_lease_acquire(v->st, "renewal", "node-b", 1018, 10, &ep2, &e), 1);
    assert_int_equal(ep2, 2);
    assert_int_equal(hilt_store_lease_acquire(v->st, "renewal", "node-a", 1019, 10, &ep, &e), 0);
    /* released by its holder only */
    assert_int_equal(hilt_store_lease_release(v->st, "renewal", "node-a", &e), 0);
    assert_int_equal(hilt_store_lease_acquire(v->st, "renewal", "node-a", 1020, 10, &ep, &e), 0);
    assert_int_equal(hilt_store_lease_release(v->st, "renewal", "node-b", &e), 0);
    assert_int_equal(hilt_store_lease_acquire(v->st, "renewal", "node-a", 1020, 10, &ep, &e), 1);
    assert_int_equal(ep, 3);
}

/* 100 long names (20 KB joined): stored whole, approved against every one */
static void many_names(void **state)
{
    struct env *v = env(state);
    grant(v, "token:bob", "approver", "env=prod,names=.example.com");
    char *names = malloc(100 * 200), *p = names;
    char lab[61];
    memset(lab, 'a', 60);
    lab[60] = 0;
    p += sprintf(p, "short.example.com"); /* the CN (at most 64 characters) */
    for (int i = 1; i < 100; i++)
        p += sprintf(p, ",%02d%s.%s.example.com", i, lab, lab);
    enum hilt_submit_state s = 0;
    char rid[64];
    struct hilt_issued iss = {0};
    struct hilt_err e = {0};
    int rc = submit(v, "token:alice", names, "prod", 3600, &s, rid, &iss, &e);
    if (rc) fprintf(stderr, "submit: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(s, HILT_SUBMIT_PENDING);
    struct hilt_api_request_rec r;
    assert_int_equal(hilt_store_request_get(v->st, rid, &r, &e), 1);
    assert_int_equal(strlen(r.names), strlen(names));
    hilt_api_request_rec_free(&r);
    struct hilt_auth a;
    load(v, "token:bob", &a);
    rc = hilt_api_decide(&v->api, &a, rid, 1, NULL, &r, &iss, &e);
    if (rc) fprintf(stderr, "decide: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_string_equal(r.state, "issued");
    hilt_api_request_rec_free(&r);
    hilt_issued_free(&iss);
    free(names);
}

static int page_cb(const struct hilt_api_request_rec *r, void *arg)
{
    int64_t *last = arg;
    assert_true(r->seq > *last);
    *last = r->seq;
    return 0;
}

static void paging(void **state)
{
    struct env *v = env(state);
    enum hilt_submit_state s = 0;
    char rid[64];
    struct hilt_issued iss = {0};
    struct hilt_err e = {0};
    for (int i = 0; i < 7; i++)
        assert_int_equal(submit(v, "token:p", "p.example.com", "prod", 3600, &s, rid, &iss, &e), 0);
    int64_t cursor = 0, pages = 0;
    for (;;) {
        int64_t last = cursor;
        assert_true(hilt_store_request_list(v->st, cursor, "pending", "", 3, page_cb, &last, &e) >=
                    0);
        if (last == cursor) break;
        cursor = last;
        pages++;
    }
    assert_int_equal(pages, 3);
}

static void patterns(void **state)
{
    (void)state;
    assert_true(hilt_name_pattern_match("*.example.com", "a.example.com"));
    assert_false(hilt_name_pattern_match("*.example.com", "a.b.example.com"));
    assert_false(hilt_name_pattern_match("*.example.com", "example.com"));
    assert_true(hilt_name_pattern_match(".example.com", "a.b.example.com"));
    assert_false(hilt_name_pattern_match(".example.com", "example.com"));
    assert_false(hilt_name_pattern_match(".example.com", "badexample.com"));
    assert_true(hilt_name_pattern_match("API.example.com", "api.example.com"));
    assert_true(hilt_name_pattern_match("*", "anything"));
    char env[64], names[1024];
    struct hilt_err e = {0};
    assert_int_equal(hilt_grant_scope_parse("env=prod,names=*.a.com|b.a.com", env, names, &e), 0);
    assert_string_equal(env, "prod");
    assert_string_equal(names, "*.a.com|b.a.com");
    assert_int_equal(hilt_grant_scope_parse("env=*", env, names, &e), 0);
    assert_string_equal(env, "");
    assert_int_equal(hilt_grant_scope_parse("", env, names, &e), 0);
    assert_int_equal(hilt_grant_scope_parse("env=pr od", env, names, &e), -1);
    assert_int_equal(hilt_grant_scope_parse("names=a..b", env, names, &e), -1);
    assert_int_equal(hilt_grant_scope_parse("names=", env, names, &e), -1);
    assert_int_equal(hilt_grant_scope_parse("owner=x", env, names, &e), -1);
    assert_int_equal(hilt_role_parse("approver"), HILT_ROLE_APPROVER);
    assert_int_equal(hilt_role_parse("root"), -1);
    struct hilt_auth a = {.ng = 2};
    a.g[0] = (struct hilt_grant){.role = HILT_ROLE_APPROVER, .env = "prod", .names = "*.a.com"};
    a.g[1] = (struct hilt_grant){.role = HILT_ROLE_AUDITOR};
    const char *n1[] = {"x.a.com", "y.a.com"}, *n2[] = {"x.a.com", "b.com"};
    assert_true(hilt_auth_allows(&a, HILT_ROLE_APPROVER, "prod", n1, 2));
    assert_false(hilt_auth_allows(&a, HILT_ROLE_APPROVER, "prod", n2, 2));
    assert_false(hilt_auth_allows(&a, HILT_ROLE_APPROVER, "dev", n1, 2));
    assert_false(hilt_auth_allows(&a, HILT_ROLE_REQUESTER, "prod", n1, 2));
    assert_true(hilt_auth_allows(&a, HILT_ROLE_AUDITOR, "dev", n2, 2));
    assert_true(hilt_auth_allows_csv(&a, HILT_ROLE_APPROVER, "prod", "x.a.com,y.a.com"));
    /* tokens */
    char id[HILT_TOKEN_ID_HEX + 1], hash[65];
    assert_int_equal(hilt_token_parse("", id, hash), -1);
    assert_int_equal(hilt_token_parse("hilt_0123456789abcdef_"
                                      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
                                      "cdeX",
                                      id, hash),
                     -1);
    assert_int_equal(hilt_token_parse("hilt_0123456789abcdef_"
                                      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
                                      "cdef",
                                      id, hash),
                     0);
    assert_string_equal(id, "0123456789abcdef");
}

#define ONE(name, fn, v) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, v)
#define BOTH(fn) ONE("sqlite", fn, &sq), ONE("postgres", fn, &pg)

int main(void)
{
    const char *u = getenv("HILT_TEST_PG_URL");
    if (!u || !*u)
        fprintf(stderr, "test_api_submit: HILT_TEST_PG_URL is not set, so the PostgreSQL half is "
                        "skipped; tests/integration/serve_pg.sh runs it against a private "
                        "server\n");
    const struct CMUnitTest tests[] = {
        BOTH(schema_is_3),
        BOTH(preapproved_issues),
        BOTH(bad_csr_stores_nothing),
        BOTH(separation_of_duties),
        BOTH(reject_and_unknown),
        BOTH(separate_issuer),
        BOTH(revocation_rights),
        BOTH(tokens),
        BOTH(leases),
        BOTH(paging),
        BOTH(many_names),
        cmocka_unit_test(patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
