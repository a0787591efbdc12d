/* test_ca.c - the CA core on SQLite and PostgreSQL (same bodies): init and
 * import, issuance from generated keys and CSRs, the CSR and name rules,
 * serial layout, revocation, full and sharded CRLs, and audit records.
 * PostgreSQL runs when HILT_TEST_PG_URL is set (tests/integration/store_pg.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ca/ca.h"
#include "ca/csr.h"
#include "ca/signer.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "store/store.h"
#include "x509/key.h"
#include "x509/mint.h"
#include "x509/pem.h"
#include "x509/summary.h"
#include "x509/verify.h"

#include <libpq-fe.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct env {
    const char *kind;
    char home[256];
    char url[1024];
    struct hilt_store *st;
};

static struct env sq = {"sqlite", "", "", NULL};
static struct env pg = {"postgres", "", "", NULL};

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static int setup(void **state)
{
    struct env *v = *state;
    snprintf(v->home, sizeof(v->home), "/tmp/hilt-ca-test.XXXXXX");
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
    v->st = hilt_store_open(v->url, &e);
    if (!v->st) fprintf(stderr, "store: %s\n", e.msg);
    return v->st ? 0 : -1;
}

static int teardown(void **state)
{
    struct env *v = *state;
    hilt_store_close(v->st);
    v->st = NULL;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", v->home);
    return system(cmd) == 0 ? 0 : -1;
}

static struct env *env(void **state)
{
    struct env *v = *state;
    if (!v->st) {
        print_message("SKIP: HILT_TEST_PG_URL is not set; run tests/integration/store_pg.sh "
                      "(it starts a private PostgreSQL)\n");
        skip();
    }
    return v;
}

static void init_ca(struct env *v, const char *allow, int64_t shard_size)
{
    struct hilt_ca_init_opts o = {.name = "hilt",
                                  .ocsp_url = "http://127.0.0.1:8080/ocsp",
                                  .crl_url = "http://127.0.0.1:8080/crl",
                                  .aia_url = "http://127.0.0.1:8080/ca.der",
                                  .allow_domains = allow,
                                  .crl_shard_size = shard_size};
    struct hilt_err e = {0};
    int rc = hilt_ca_init(v->st, v->home, &o, &e);
    if (rc) fprintf(stderr, "init: %s\n", e.msg);
    assert_int_equal(rc, 0);
}

static struct hilt_ca *open_ca(struct env *v)
{
    struct hilt_err e = {0};
    struct hilt_ca *ca = hilt_ca_open(v->st, v->home, "hilt", &e);
    if (!ca) fprintf(stderr, "open: %s\n", e.msg);
    assert_non_null(ca);
    return ca;
}

static EVP_PKEY *gen(const char *t)
{
    struct hilt_keyspec ks;
    assert_int_equal(hilt_keyspec_parse(t, &ks, NULL), 0);
    EVP_PKEY *k = hilt_key_generate(&ks, NULL);
    assert_non_null(k);
    return k;
}

/* A CSR as `openssl req` makes it: CN plus a SAN extension. */
static X509_REQ *make_csr(EVP_PKEY *k, const char *cn, const char *san)
{
    X509_REQ *r = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_set_subject_name(r, n);
    X509_NAME_free(n);
    X509_REQ_set_pubkey(r, k);
    if (san) {
        STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
        X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
        assert_non_null(ex);
        sk_X509_EXTENSION_push(exts, ex);
        X509_REQ_add_extensions(r, exts);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }
    assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
    return r;
}

static void verify_leaf(struct hilt_ca *ca, X509 *leaf)
{
    X509_STORE *store = X509_STORE_new();
    assert_int_equal(hilt_store_add(store, ca->roots), 0);
    STACK_OF(X509) *peer = sk_X509_new_null();
    sk_X509_push(peer, leaf);
    for (int i = 0; i < sk_X509_num(ca->chain); i++)
        sk_X509_push(peer, sk_X509_value(ca->chain, i));
    struct hilt_verify res;
    assert_int_equal(hilt_verify_chain(store, peer, NULL, hilt_now(), 2, 0, &res, NULL), 0);
    if (!res.ok)
        for (int i = 0; i < res.n; i++)
            fprintf(stderr, "verify: %s at %d\n",
                    X509_verify_cert_error_string(res.issues[i].error), res.issues[i].depth);
    assert_true(res.ok);
    hilt_verify_free(&res);
    sk_X509_free(peer);
    X509_STORE_free(store);
}

struct audit_find {
    const char *action, *result_prefix;
    int n;
};

static int audit_cb(const struct hilt_audit_rec *r, void *arg)
{
    struct audit_find *f = arg;
    if (!strcmp(r->action, f->action) &&
        !strncmp(r->result, f->result_prefix, strlen(f->result_prefix)))
        f->n++;
    return 0;
}

static int audit_count(struct env *v, const char *action, const char *result_prefix)
{
    struct audit_find f = {action, result_prefix, 0};
    assert_true(hilt_store_audit_walk(v->st, audit_cb, &f, NULL) >= 0);
    return f.n;
}

/* ---- tests ------------------------------------------------------------------ */

static void init_and_issue(void **state)
{
    struct env *v = env(state);
    init_ca(v, "", 0);
    char p[600];
    struct stat st;
    snprintf(p, sizeof(p), "%s/ca/hilt/intermediate.key", v->home);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(p, sizeof(p), "%s/ca/hilt/root.key", v->home);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(p, sizeof(p), "%s/ca/hilt", v->home);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    struct hilt_ca *ca = open_ca(v);
    const char *names[] = {"www.example.test", "API.example.test", "127.0.0.1"};
    struct hilt_issue_req r = {.names = names,
                               .nnames = 3,
                               .lifetime = 12 * 3600,
                               .owner = "payments",
                               .service = "api",
                               .env = "prod"};
    struct hilt_issued out;
    struct hilt_err e = {0};
    assert_int_equal(hilt_ca_issue(ca, &r, &out, &e), 0);
    assert_non_null(out.key);
    verify_leaf(ca, out.cert);
    /* serial: tag, sequence 1, 8 random bytes */
    assert_int_equal(strlen(out.serial), 34);
    assert_memory_equal(out.serial, "480000000000000001", 18);
    assert_int_equal(out.seq, 1);
    assert_int_equal(out.shard, 0);
    assert_int_equal(hilt_cert_not_after(out.cert) - hilt_cert_not_before(out.cert),
                     12 * 3600 + 300);
    char urls[4][512];
    assert_int_equal(hilt_cert_aia_urls(out.cert, NID_ad_OCSP, urls, 4), 1);
    assert_string_equal(urls[0], "http://127.0.0.1:8080/ocsp");
    assert_int_equal(hilt_cert_aia_urls(out.cert, NID_ad_ca_issuers, urls, 4), 1);
    assert_int_equal(hilt_cert_crl_urls(out.cert, urls, 4), 1);
    assert_string_equal(urls[0], "http://127.0.0.1:8080/crl/shard-0.crl");
    char label[200];
    hilt_cert_label(out.cert, label, sizeof(label));
    assert_string_equal(label, "www.example.test");

    struct hilt_cert_rec rec;
    assert_int_equal(hilt_store_cert_get(v->st, out.serial, &rec, NULL, &e), 1);
    assert_string_equal(rec.owner, "payments");
    assert_string_equal(rec.service, "api");
    assert_string_equal(rec.env, "prod");
    assert_string_equal(rec.names, "www.example.test,api.example.test,127.0.0.1");
    assert_string_equal(rec.ca, "hilt");
    assert_string_equal(rec.key_type, "ec-p256");
    hilt_cert_rec_free(&rec);
    assert_int_equal(audit_count(v, "ca.init", "ok"), 1);
    assert_int_equal(audit_count(v, "cert.issue", "ok"), 1);

    /* RSA leaf, too */
    struct hilt_issued o2;
    r.key_type = "rsa-2048";
    assert_int_equal(hilt_ca_issue(ca, &r, &o2, &e), 0);
    verify_leaf(ca, o2.cert);
    assert_memory_equal(o2.serial, "480000000000000002", 18);
    hilt_issued_free(&o2);
    /* an RSA-1024 key is refused even when hilt generates it */
    r.key_type = "rsa-1024";
    assert_int_equal(hilt_ca_issue(ca, &r, &o2, &e), -1);
    assert_int_equal(e.kind, HILT_E_INPUT);

    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 20);
    assert_int_equal(hilt_ca_chain_pem(ca, out.cert, &b), 0);
    STACK_OF(X509) *chain = hilt_certs_parse(b.data, b.len, "chain", NULL);
    assert_int_equal(sk_X509_num(chain), 2);
    sk_X509_pop_free(chain, X509_free);
    hilt_buf_free(&b);
    hilt_issued_free(&out);
    hilt_ca_close(ca);
}

static void init_twice_refused(void **state)
{
    struct env *v = env(state);
    init_ca(v, "", 0);
    char p[600];
    snprintf(p, sizeof(p), "%s/ca/hilt/intermediate.key", v->home);
    struct hilt_buf before, after;
    hilt_buf_init(&before, 65536);
    hilt_buf_init(&after, 65536);
    assert_int_equal(hilt_file_read(p, &before, NULL), 0);
    struct hilt_ca_init_opts o = {.name = "hilt"};
    struct hilt_err e = {0};
    assert_int_equal(hilt_ca_init(v->st, v->home, &o, &e), -1);
    assert_int_equal(e.kind, HILT_E_INPUT);
    assert_non_null(strstr(e.msg, "already exists"));
    assert_int_equal(hilt_file_read(p, &after, NULL), 0);
    assert_int_equal(before.len, after.len);
    assert_memory_equal(before.data, after.data, before.len);
    /* key files left by someone else are never overwritten either */
    o.name = "second";
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/ca/second", v->home);
    assert_int_equal(hilt_mkdir_p(dir, 0700, NULL), 0);
    snprintf(p, sizeof(p), "%s/root.key", dir);
    assert_int_equal(hilt_file_write_atomic(p, "keep", 4, 0600, NULL), 0);
    assert_int_equal(hilt_ca_init(v->st, v->home, &o, &e), -1);
    assert_non_null(strstr(e.msg, "refusing to overwrite"));
    struct hilt_ca_rec rec;
    assert_int_equal(hilt_store_ca_get(v->st, "second", &rec, NULL), 0);
    /* bad names and key types */
    o.name = "../evil";
    assert_int_equal(hilt_ca_init(v->st, v->home, &o, &e), -1);
    assert_int_equal(e.kind, HILT_E_USAGE);
    o.name = "third";
    o.key_type = "rsa-1024";
    assert_int_equal(hilt_ca_init(v->st, v->home, &o, &e), -1);
    assert_int_equal(e.kind, HILT_E_USAGE);
    hilt_buf_free(&before);
    hilt_buf_free(&after);
}

static void csr_issue(void **state)
{
    struct env *v = env(state);
    init_ca(v, "example.test", 0);
    struct hilt_ca *ca = open_ca(v);
    EVP_PKEY *k = gen("ec-p384");
    X509_REQ *csr = make_csr(k, "app.example.test", "DNS:app.example.test,DNS:*.app.example.test");
    struct hilt_issue_req r = {.csr = csr, .csr_source = "app.csr"};
    struct hilt_issued out;
    struct hilt_err e = {0};
    /* names from the CSR */
    assert_int_equal(hilt_ca_issue(ca, &r, &out, &e), 0);
    assert_null(out.key);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(out.cert), k), 1);
    verify_leaf(ca, out.cert);
    hilt_issued_free(&out);
    /* --name a superset of the CSR's names: fine */
    const char *names[] = {"app.example.test", "*.app.example.test", "extra.example.test"};
    r.names = names;
    r.nnames = 3;
    assert_int_equal(hilt_ca_issue(ca, &r, &out, &e), 0);
    hilt_issued_free(&out);
    /* the CSR asks for a name that --name did not */
    r.nnames = 1;
    assert_int_equal(hilt_ca_issue(ca, &r, &out, &e), -1);
    assert_int_equal(e.kind, HILT_E_INPUT);
    assert_non_null(strstr(e.msg, "app.csr asks for '*.app.example.test'"));
    assert_int_equal(audit_count(v, "cert.issue", "rejected"), 1);
    X509_REQ_free(csr);
    EVP_PKEY_free(k);
    hilt_ca_close(ca);
}

struct refusal {
    const char *name;    /* --name, or NULL */
    const char *csr_san; /* CSR with this SAN (CN ok.example.test), or NULL */
    const char *key;     /* CSR key type */
    int64_t lifetime;
    int tamper;         /* break the CSR's signature */
    const char *expect; /* in the message */
};

static const struct refusal refusals[] = {
    {"evil.com", NULL, NULL, 0, 0, "name 'evil.com' is not allowed by the CA's name rules"},
    {"notexample.test", NULL, NULL, 0, 0, "not allowed"},
    {"a..example.test", NULL, NULL, 0, 0, "empty label"},
    {"-a.example.test", NULL, NULL, 0, 0, "hyphen"},
    {"a_b.example.test", NULL, NULL, 0, 0, "not a letter, digit or hyphen"},
    {"*.*.example.test", NULL, NULL, 0, 0, "wildcard"},
    {"x*.example.test", NULL, NULL, 0, 0, "wildcard"},
    {"ok.example.test", NULL, NULL, 400 * 86400LL, 0, "longer than the CA allows"},
    {"ok.example.test", NULL, NULL, 60, 0, "shorter than the minimum"},
    {"ok.example.test", NULL, NULL, 20 * 365 * 86400LL, 0, "longer than the CA allows"},
    {NULL, "DNS:ok.example.test,DNS:evil.com", "ec-p256", 0, 0, "evil.com"},
    {NULL, "DNS:ok.example.test,URI:http://x", "ec-p256", 0, 0, "not a DNS name or IP"},
    {NULL, "DNS:ok.example.test", "rsa-1024", 0, 0, "key rsa-1024 is not allowed"},
    {NULL, "DNS:ok.example.test", "ec-p256", 0, 1, "signature does not verify"},
};

static void rules_refused(void **state)
{
    struct env *v = env(state);
    init_ca(v, "example.test,127.0.0.1", 0);
    struct hilt_ca *ca = open_ca(v);
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        const struct refusal *f = &refusals[i];
        EVP_PKEY *k = NULL;
        X509_REQ *csr = NULL;
        if (f->csr_san) {
            k = gen(f->key);
            csr = make_csr(k, "ok.example.test", f->csr_san);
            if (f->tamper) {
                X509_NAME *n = X509_REQ_get_subject_name(csr);
                X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"x", -1,
                                           -1, 0);
                X509_REQ_set_subject_name(csr, n); /* marks the cached encoding dirty */
            }
        }
        const char *names[] = {f->name};
        struct hilt_issue_req r = {.names = names,
                                   .nnames = f->name ? 1 : 0,
                                   .csr = csr,
                                   .csr_source = "req.csr",
                                   .lifetime = f->lifetime};
        struct hilt_issued out;
        struct hilt_err e = {0};
        int rc = hilt_ca_issue(ca, &r, &out, &e);
        if (rc != -1 || !strstr(e.msg, f->expect))
            fail_msg("refusal %zu: rc=%d msg='%s', wanted '%s'", i, rc, e.msg, f->expect);
        assert_int_equal(e.kind, HILT_E_INPUT);
        X509_REQ_free(csr);
        EVP_PKEY_free(k);
    }
    /* nothing issued, every refusal audited */
    struct hilt_cert_filter fl = {.q = HILT_Q_ALL};
    int64_t n = -1;
    assert_int_equal(hilt_store_cert_count(v->st, &fl, &n, NULL), 0);
    assert_int_equal(n, 0);
    assert_int_equal(audit_count(v, "cert.issue", "rejected"),
                     (int)(sizeof(refusals) / sizeof(refusals[0])));
    /* what is allowed: sub-domains, the domain itself, the listed IP */
    const char *ok[] = {"example.test", "a.b.example.test", "*.example.test", "127.0.0.1"};
    struct hilt_issue_req r = {.names = ok, .nnames = 4};
    struct hilt_issued out;
    struct hilt_err e = {0};
    assert_int_equal(hilt_ca_issue(ca, &r, &out, &e), 0);
    hilt_issued_free(&out);
    hilt_ca_close(ca);
}

static X509_CRL *load_crl(const char *path, int pem)
{
    BIO *b = BIO_new_file(path, "rb");
    assert_non_null(b);
    X509_CRL *c = pem ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : d2i_X509_CRL_bio(b, NULL);
    BIO_free(b);
    assert_non_null(c);
    return c;
}

static void revoke_and_crl(void **state)
{
    struct env *v = env(state);
    init_ca(v, "", 2); /* shards of 2: seq 1 -> 0, seq 2,3 -> 1, seq 4,5 -> 2 */
    struct hilt_ca *ca = open_ca(v);
    const char *names[] = {"r.example.test"};
    struct hilt_issue_req r = {.names = names, .nnames = 1};
    char serials[5][64];
    struct hilt_err e = {0};
    for (int i = 0; i < 5; i++) {
        struct hilt_issued out;
        assert_int_equal(hilt_ca_issue(ca, &r, &out, &e), 0);
        snprintf(serials[i], sizeof(serials[i]), "%s", out.serial);
        assert_int_equal(out.shard, (i + 1) / 2);
        hilt_issued_free(&out);
    }
    assert_int_equal(hilt_ca_revoke(v->st, serials[1], 1, &e), 0); /* shard 1 */
    assert_int_equal(hilt_ca_revoke(v->st, serials[4], 4, &e), 0); /* shard 2 */
    assert_int_equal(hilt_ca_revoke(v->st, serials[4], 1, &e), 1);
    assert_int_equal(hilt_ca_revoke(v->st, "4800ff", 1, &e), -1);
    assert_int_equal(e.kind, HILT_E_INPUT);
    assert_int_equal(hilt_ca_revoke(v->st, "zz", 1, &e), -1);
    assert_int_equal(e.kind, HILT_E_USAGE);
    assert_int_equal(hilt_crl_reason_parse("key-compromise"), 1);
    assert_int_equal(hilt_crl_reason_parse("superseded"), 4);
    assert_int_equal(hilt_crl_reason_parse("bogus"), -1);

    char full[600], dir[600], path[700];
    snprintf(full, sizeof(full), "%s/pub/full.crl", v->home);
    snprintf(dir, sizeof(dir), "%s/pub/shards", v->home);
    struct hilt_crl_stats s;
    assert_int_equal(hilt_ca_publish_crls(ca, full, dir, 3600, &s, &e), 0);
    assert_int_equal(s.revoked, 2);
    assert_int_equal(s.shards, 3);
    assert_int_equal(s.number, 1);
    EVP_PKEY *ik = X509_get0_pubkey(ca->issuer);
    X509_CRL *c = load_crl(full, 1);
    assert_int_equal(X509_CRL_verify(c, ik), 1);
    assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(c)), 2);
    ASN1_INTEGER *num = X509_CRL_get_ext_d2i(c, NID_crl_number, NULL, NULL);
    assert_int_equal(ASN1_INTEGER_get(num), 1);
    ASN1_INTEGER_free(num);
    assert_int_equal(X509_CRL_get_ext_by_NID(c, NID_issuing_distribution_point, -1), -1);
    X509_CRL_free(c);
    int want[3] = {0, 1, 1};
    for (int sh = 0; sh < 3; sh++) {
        snprintf(path, sizeof(path), "%s/shard-%d.crl", dir, sh);
        c = load_crl(path, 0);
        assert_int_equal(X509_CRL_verify(c, ik), 1);
        STACK_OF(X509_REVOKED) *rv = X509_CRL_get_REVOKED(c); /* NULL when empty */
        assert_int_equal(rv ? sk_X509_REVOKED_num(rv) : 0, want[sh]);
        int crit = 0;
        ISSUING_DIST_POINT *idp =
            X509_CRL_get_ext_d2i(c, NID_issuing_distribution_point, &crit, NULL);
        assert_non_null(idp);
        assert_int_equal(crit, 1);
        GENERAL_NAME *g = sk_GENERAL_NAME_value(idp->distpoint->name.fullname, 0);
        char url[200];
        snprintf(url, sizeof(url), "http://127.0.0.1:8080/crl/shard-%d.crl", sh);
        assert_string_equal((const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier),
                            url);
        ISSUING_DIST_POINT_free(idp);
        X509_CRL_free(c);
    }
    /* the next run gets the next number */
    assert_int_equal(hilt_ca_publish_crls(ca, full, dir, 3600, &s, &e), 0);
    assert_int_equal(s.number, 2);
    assert_int_equal(audit_count(v, "cert.revoke", "ok"), 2);
    assert_int_equal(audit_count(v, "cert.revoke", "rejected"), 1);
    assert_int_equal(audit_count(v, "crl.generate", "ok"), 2);
    struct hilt_audit_check chk;
    assert_int_equal(hilt_store_audit_verify(v->st, &chk, NULL), 0);
    assert_true(chk.ok);
    hilt_ca_close(ca);
}

static void write_pem_file(const char *path, X509 **certs, size_t n, EVP_PKEY *key)
{
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 20);
    if (certs) assert_int_equal(hilt_certs_to_pem(&b, certs, n), 0);
    if (key) assert_int_equal(hilt_key_to_pem(key, &b, NULL), 0);
    assert_int_equal(hilt_file_write_atomic(path, b.data, b.len, 0600, NULL), 0);
    hilt_buf_free(&b);
}

static void import_ca(void **state)
{
    struct env *v = env(state);
    EVP_PKEY *rk = gen("ec-p256"), *ik = gen("ec-p256"), *other = gen("ec-p256");
    struct hilt_cert_spec s;
    hilt_cert_spec_init(&s, "CN=Corp Root", 3650);
    s.is_ca = 1;
    X509 *root = hilt_mint(&s, rk, NULL, NULL);
    hilt_cert_spec_init(&s, "CN=Corp Issuing", 1000);
    s.is_ca = 1;
    s.path_len = 0;
    struct hilt_signer rs = {root, rk};
    X509 *inter = hilt_mint(&s, ik, &rs, NULL);
    assert_non_null(inter);
    char certp[600], keyp[600], otherp[600], onlyint[600];
    snprintf(certp, sizeof(certp), "%s/corp.pem", v->home);
    snprintf(keyp, sizeof(keyp), "%s/corp.key", v->home);
    snprintf(otherp, sizeof(otherp), "%s/other.key", v->home);
    snprintf(onlyint, sizeof(onlyint), "%s/int.pem", v->home);
    X509 *both[] = {inter, root};
    write_pem_file(certp, both, 2, NULL);
    write_pem_file(onlyint, both, 1, NULL);
    write_pem_file(keyp, NULL, 0, ik);
    write_pem_file(otherp, NULL, 0, other);
    struct hilt_err e = {0};
    /* the wrong key, and a chain without its root, are refused */
    struct hilt_ca_init_opts o = {.name = "corp", .import_cert = certp, .import_key = otherp};
    assert_int_equal(hilt_ca_init(v->st, v->home, &o, &e), -1);
    assert_non_null(strstr(e.msg, "does not hold the private key"));
    o.import_cert = onlyint;
    o.import_key = keyp;
    assert_int_equal(hilt_ca_init(v->st, v->home, &o, &e), -1);
    assert_non_null(strstr(e.msg, "self-signed root"));
    o.import_cert = certp;
    assert_int_equal(hilt_ca_init(v->st, v->home, &o, &e), 0);
    struct hilt_ca *ca = hilt_ca_open(v->st, v->home, "corp", &e);
    assert_non_null(ca);
    assert_int_equal(X509_cmp(sk_X509_value(ca->roots, 0), root), 0);
    const char *names[] = {"svc.corp.test"};
    struct hilt_issue_req r = {.names = names, .nnames = 1};
    struct hilt_issued out;
    assert_int_equal(hilt_ca_issue(ca, &r, &out, &e), 0);
    verify_leaf(ca, out.cert);
    hilt_issued_free(&out);
    hilt_ca_close(ca);
    assert_int_equal(audit_count(v, "ca.import", "ok"), 1);
    /* a CA that does not exist says how to make one */
    assert_null(hilt_ca_open(v->st, v->home, "nope", &e));
    assert_non_null(strstr(e.msg, "hilt ca init --name nope"));
    X509_free(root);
    X509_free(inter);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(other);
}

static void serials_unique(void **state)
{
    struct env *v = env(state);
    init_ca(v, "", 0);
    struct hilt_ca *ca = open_ca(v);
    const char *names[] = {"u.example.test"};
    struct hilt_issue_req r = {.names = names, .nnames = 1};
    enum { N = 60 };
    char seen[N][64];
    struct hilt_err e = {0};
    uint64_t t0 = hilt_mono_us();
    for (int i = 0; i < N; i++) {
        struct hilt_issued out;
        assert_int_equal(hilt_ca_issue(ca, &r, &out, &e), 0);
        assert_int_equal(out.seq, i + 1);
        snprintf(seen[i], sizeof(seen[i]), "%s", out.serial);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(seen[i], seen[j]);
        hilt_issued_free(&out);
    }
    double secs = (double)(hilt_mono_us() - t0) / 1e6;
    print_message("%s: %d issuances (key generation + signing + store) in %.2fs: %.0f/s "
                  "(sanitized build)\n",
                  v->kind, N, secs, N / secs);
    hilt_ca_close(ca);
}

static void batch_issue(void **state)
{
    struct env *v = env(state);
    init_ca(v, "example.test", 0);
    struct hilt_ca *ca = open_ca(v);
    EVP_PKEY *k = gen("ec-p256");
    X509_REQ *csr = make_csr(k, "b.example.test", NULL);
    enum { N = 200 };
    struct hilt_issue_req reqs[N];
    for (int i = 0; i < N; i++)
        reqs[i] = (struct hilt_issue_req){.csr = csr, .csr_source = "b.csr", .owner = "o"};
    struct hilt_issued *outs = calloc(N, sizeof(*outs));
    struct hilt_err e = {0};
    uint64_t t0 = hilt_mono_us();
    assert_int_equal(hilt_ca_issue_batch(ca, reqs, N / 2, outs, &e), 0);
    assert_int_equal(hilt_ca_issue_batch(ca, reqs + N / 2, N / 2, outs + N / 2, &e), 0);
    double secs = (double)(hilt_mono_us() - t0) / 1e6;
    print_message("%s: %d issuances from one CSR in 2 batches in %.3fs: %.0f/s\n", v->kind, N, secs,
                  N / secs);
    for (int i = 0; i < N; i++) {
        assert_int_equal(outs[i].seq, i + 1);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(outs[i].serial, outs[j].serial);
    }
    verify_leaf(ca, outs[N - 1].cert);
    for (int i = 0; i < N; i++)
        hilt_issued_free(&outs[i]);
    struct hilt_cert_filter fl = {.q = HILT_Q_ALL};
    int64_t cnt = 0;
    assert_int_equal(hilt_store_cert_count(v->st, &fl, &cnt, NULL), 0);
    assert_int_equal(cnt, N);
    /* one refused request refuses the whole batch, and nothing is recorded */
    const char *bad[] = {"evil.com"};
    reqs[5] = (struct hilt_issue_req){.names = bad, .nnames = 1};
    assert_int_equal(hilt_ca_issue_batch(ca, reqs, 10, outs, &e), -1);
    assert_non_null(strstr(e.msg, "batch request 6 of 10"));
    assert_int_equal(hilt_store_cert_count(v->st, &fl, &cnt, NULL), 0);
    assert_int_equal(cnt, N);
    for (int i = 0; i < 10; i++)
        assert_null(outs[i].cert);
    assert_int_equal(audit_count(v, "cert.issue", "ok"), N);
    assert_int_equal(audit_count(v, "cert.issue", "rejected"), 1);
    struct hilt_audit_check chk;
    assert_int_equal(hilt_store_audit_verify(v->st, &chk, NULL), 0);
    assert_true(chk.ok);
    free(outs);
    X509_REQ_free(csr);
    EVP_PKEY_free(k);
    hilt_ca_close(ca);
}

static void csr_parse_errors(void **state)
{
    (void)state;
    struct hilt_err e = {0};
    const char bad_b64[] = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB$$$$\n"
                           "-----END CERTIFICATE REQUEST-----\n";
    assert_null(hilt_csr_parse(bad_b64, sizeof(bad_b64) - 1, "req.pem", &e));
    assert_int_equal(e.kind, HILT_E_INPUT);
    assert_non_null(strstr(e.msg, "req.pem:"));
    const char not_req[] = "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n";
    assert_null(hilt_csr_parse(not_req, sizeof(not_req) - 1, "cert.pem", &e));
    assert_non_null(strstr(e.msg, "no CERTIFICATE REQUEST block"));
    const char junk_der[] = "\x30\x03\x02\x01\x00";
    assert_null(hilt_csr_parse(junk_der, 5, "req.der", &e));
    assert_non_null(strstr(e.msg, "req.der:1: not a valid PKCS#10"));
    const char wrapped[] = "-----BEGIN CERTIFICATE REQUEST-----\nMAMCAQA=\n"
                           "-----END CERTIFICATE REQUEST-----\n";
    assert_null(hilt_csr_parse(wrapped, sizeof(wrapped) - 1, "x.csr", &e));
    assert_non_null(strstr(e.msg, "x.csr:1:"));
    /* a real one round-trips through PEM */
    EVP_PKEY *k = gen("ec-p256");
    X509_REQ *r = make_csr(k, "pem.example.test", NULL);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_REQ(b, r);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    X509_REQ *back = hilt_csr_parse(data, (size_t)n, "ok.pem", &e);
    assert_non_null(back);
    struct hilt_names names = {0};
    struct hilt_issue_rules rules;
    hilt_issue_rules_init(&rules);
    assert_int_equal(hilt_csr_check(back, &rules, "ok.pem", &names, &e), 0);
    assert_int_equal(names.n, 1);
    assert_string_equal(names.v[0], "pem.example.test");
    hilt_names_free(&names);
    X509_REQ_free(back);
    BIO_free(b);
    X509_REQ_free(r);
    EVP_PKEY_free(k);
}

static void pkcs11_uri_pin_stripped(void **state)
{
    (void)state;
    char out[200];
    hilt_pkcs11_uri_strip_pin("pkcs11:token=a;object=k;type=private?pin-value=1234", out,
                              sizeof(out));
    assert_string_equal(out, "pkcs11:token=a;object=k;type=private");
    hilt_pkcs11_uri_strip_pin("pkcs11:token=a;pin-value=1;object=k", out, sizeof(out));
    assert_string_equal(out, "pkcs11:token=a;object=k");
    hilt_pkcs11_uri_strip_pin("pkcs11:token=a?pin-value=1&module-path=/x.so", out, sizeof(out));
    assert_string_equal(out, "pkcs11:token=a?module-path=/x.so");
}

#define ONE(kind, fn, v)                                                                           \
    {                                                                                              \
        kind ": " #fn, fn, setup, teardown, v                                                      \
    }
#define BOTH(fn) ONE("sqlite", fn, &sq), ONE("postgres", fn, &pg)

int main(void)
{
    const char *u = getenv("HILT_TEST_PG_URL");
    if (!u || !*u)
        fprintf(stderr, "test_ca: HILT_TEST_PG_URL is not set, so the PostgreSQL half is "
                        "skipped; tests/integration/store_pg.sh runs it against a private "
                        "server\n");
    const struct CMUnitTest tests[] = {
        BOTH(init_and_issue),
        BOTH(init_twice_refused),
        BOTH(csr_issue),
        BOTH(rules_refused),
        BOTH(revoke_and_crl),
        BOTH(import_ca),
        BOTH(serials_unique),
        BOTH(batch_issue),
        cmocka_unit_test(csr_parse_errors),
        cmocka_unit_test(pkcs11_uri_pin_stripped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
