/* ca.c - CA creation and import, issuance, revocation and CRLs (RFC 5280
 * §4 and §5) on top of hilt_mint(), the store and the signer interface. */
#include "ca/ca.h"

#include "ca/csr.h"
#include "ca/signer.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "x509/key.h"
#include "x509/mint.h"
#include "x509/mintfast.h"
#include "x509/pem.h"
#include "x509/revocation.h"
#include "x509/summary.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROOT_DAYS 3650
#define INTERMEDIATE_DAYS 1825
#define DEFAULT_LIFETIME (90 * 86400LL)
#define BACKDATE 300 /* tolerate client clocks a few minutes slow */

/* The digest that matches the signing key's strength. */
static const char *digest_for(EVP_PKEY *k)
{
    char d[64];
    hilt_key_describe(k, d, sizeof(d));
    if (!strcmp(d, "ec-p384")) return "sha384";
    if (!strcmp(d, "ec-p521")) return "sha512";
    return "sha256";
}

static int name_ok(const char *n)
{
    size_t l = strlen(n);
    if (l == 0 || l > 64) return 0;
    for (size_t i = 0; i < l; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return n[0] != '.';
}

static char *pem_of(X509 *const *certs, size_t n)
{
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 20);
    if (hilt_certs_to_pem(&b, certs, n) < 0) {
        hilt_buf_free(&b);
        return NULL;
    }
    char *s = strdup(hilt_buf_cstr(&b));
    hilt_buf_free(&b);
    return s;
}

static int write_new_key(const char *path, EVP_PKEY *k, struct hilt_err *e)
{
    if (access(path, F_OK) == 0)
        return hilt_err_set(e, HILT_E_INPUT, EEXIST,
                            "%s already exists; refusing to overwrite a CA key", path);
    return hilt_key_save(path, k, e);
}

static int write_cert_file(const char *path, X509 *x, struct hilt_err *e)
{
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 20);
    int rc = hilt_certs_to_pem(&b, &x, 1) < 0
                 ? hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot encode %s", path)
                 : hilt_file_write_atomic(path, b.data, b.len, 0644, e);
    hilt_buf_free(&b);
    return rc;
}

static void audit_best_effort(struct hilt_store *st, const char *action, const char *object,
                              const char *result)
{
    struct hilt_audit_ev ev = {NULL, action, object, result};
    hilt_store_audit_append(st, &ev, NULL);
}

static void audit_as(struct hilt_store *st, const char *actor, const char *action,
                     const char *object, const char *result)
{
    struct hilt_audit_ev ev = {actor, action, object, result};
    hilt_store_audit_append(st, &ev, NULL);
}

int hilt_ca_init(struct hilt_store *st, const char *home, const struct hilt_ca_init_opts *o,
                 struct hilt_err *e)
{
    const char *name = o->name && *o->name ? o->name : HILT_CA_DEFAULT_NAME;
    if (!name_ok(name))
        return hilt_err_set(e, HILT_E_USAGE, 0,
                            "CA name '%s': use 1-64 letters, digits, '-', '_' or '.'", name);
    struct hilt_ca_rec rec = {0}, existing;
    int rc = hilt_store_ca_get(st, name, &existing, e);
    if (rc < 0) return -1;
    if (rc == 1) {
        hilt_ca_rec_free(&existing);
        return hilt_err_set(e, HILT_E_INPUT, EEXIST, "a CA named '%s' already exists", name);
    }
    rc = -1;
    EVP_PKEY *root_key = NULL, *int_key = NULL;
    struct hilt_ca_signer *p11 = NULL;
    X509 *root = NULL, *inter = NULL;
    STACK_OF(X509) *imported = NULL;
    char dir[4200], root_key_path[4300] = "", int_key_path[4300] = "", path[4300];
    char key_ref[1024], key_type[64];
    int wrote_root = 0, wrote_int = 0;
    snprintf(dir, sizeof(dir), "%s/ca/%s", home, name);

    if (o->import_cert) {
        if (!(imported = hilt_certs_load(o->import_cert, e))) goto out;
        inter = sk_X509_value(imported, 0);
        if (X509_check_ca(inter) <= 0) {
            hilt_err_set(e, HILT_E_INPUT, 0, "%s: the first certificate is not a CA certificate",
                         o->import_cert);
            goto out;
        }
        root = sk_X509_value(imported, sk_X509_num(imported) - 1);
        if (!hilt_cert_self_issued(root)) {
            hilt_err_set(e, HILT_E_INPUT, 0,
                         "%s: the chain does not end at a self-signed root; put the issuing "
                         "certificate first and every certificate up to the root after it",
                         o->import_cert);
            goto out;
        }
    } else {
        struct hilt_keyspec ks;
        if (hilt_keyspec_parse(o->key_type && *o->key_type ? o->key_type : "ec-p256", &ks, e) < 0)
            goto out;
        if (!(ks.alg == HILT_KEY_EC && (ks.bits == 256 || ks.bits == 384)) &&
            !(ks.alg == HILT_KEY_RSA && (ks.bits == 2048 || ks.bits == 3072 || ks.bits == 4096))) {
            hilt_err_set(e, HILT_E_USAGE, 0,
                         "--key-type %s: a CA key must be ec-p256, ec-p384, rsa-2048, rsa-3072 "
                         "or rsa-4096",
                         o->key_type);
            goto out;
        }
        if (!(root_key = hilt_key_generate(&ks, e))) goto out;
        if (!o->pkcs11_uri && !(int_key = hilt_key_generate(&ks, e))) goto out;
    }
    /* The issuing key: from the token, the import, or just generated. */
    if (o->pkcs11_uri) {
        if (hilt_signer_open(o->pkcs11_uri, home, &p11, e) < 0) goto out;
        int_key = hilt_signer_key(p11);
        if (!EVP_PKEY_up_ref(int_key)) goto out;
        hilt_pkcs11_uri_strip_pin(o->pkcs11_uri, key_ref, sizeof(key_ref));
    } else if (o->import_cert) {
        if (!o->import_key) {
            hilt_err_set(e, HILT_E_USAGE, 0, "--import needs CERT and KEY (or --pkcs11 URI)");
            goto out;
        }
        if (!(int_key = hilt_key_load(o->import_key, e))) goto out;
    }
    if (o->import_cert && X509_check_private_key(inter, int_key) != 1) {
        ERR_clear_error();
        hilt_err_set(e, HILT_E_INPUT, 0,
                     "%s does not hold the private key of %s's first certificate",
                     o->import_key ? o->import_key : "the PKCS#11 key", o->import_cert);
        goto out;
    }
    if (!o->pkcs11_uri) snprintf(key_ref, sizeof(key_ref), "file:ca/%s/intermediate.key", name);
    hilt_key_describe(int_key, key_type, sizeof(key_type));

    if (!o->import_cert) {
        struct hilt_cert_spec s;
        char subj[200];
        snprintf(subj, sizeof(subj), "CN=%s Root CA,O=hilt", name);
        hilt_cert_spec_init(&s, subj, ROOT_DAYS);
        s.is_ca = 1;
        s.path_len = 1;
        s.digest = digest_for(root_key);
        if (!(root = hilt_mint(&s, root_key, NULL, e))) goto out;
        snprintf(subj, sizeof(subj), "CN=%s Intermediate CA,O=hilt", name);
        hilt_cert_spec_init(&s, subj, INTERMEDIATE_DAYS);
        s.is_ca = 1;
        s.path_len = 0;
        s.digest = digest_for(root_key);
        struct hilt_signer rs = {root, root_key};
        if (!(inter = hilt_mint(&s, int_key, &rs, e))) goto out;
    }

    /* Files: keys refuse to overwrite anything; certificates are public. */
    if (hilt_mkdir_p(dir, 0700, e) < 0) goto out;
    chmod(dir, 0700);
    snprintf(root_key_path, sizeof(root_key_path), "%s/root.key", dir);
    snprintf(int_key_path, sizeof(int_key_path), "%s/intermediate.key", dir);
    if (root_key) {
        if (write_new_key(root_key_path, root_key, e) < 0) goto out;
        wrote_root = 1;
    }
    if (!o->pkcs11_uri) {
        if (write_new_key(int_key_path, int_key, e) < 0) goto out;
        wrote_int = 1;
    }
    snprintf(path, sizeof(path), "%s/root.crt", dir);
    if (write_cert_file(path, root, e) < 0) goto out;
    snprintf(path, sizeof(path), "%s/intermediate.crt", dir);
    if (write_cert_file(path, inter, e) < 0) goto out;

    rec.name = (char *)name;
    rec.key_type = key_type;
    rec.key_ref = key_ref;
    rec.root_pem = pem_of(&root, 1);
    if (imported) {
        int n = sk_X509_num(imported);
        /* the chain without the root, unless the root issues directly */
        X509 *certs[64];
        int m = 0;
        for (int i = 0; i < n && m < 64; i++)
            if (i < n - 1 || n == 1) certs[m++] = sk_X509_value(imported, i);
        rec.cert_pem = pem_of(certs, (size_t)m);
    } else {
        rec.cert_pem = pem_of(&inter, 1);
    }
    rec.ocsp_url = (char *)(o->ocsp_url ? o->ocsp_url : "");
    rec.crl_url = (char *)(o->crl_url ? o->crl_url : "");
    rec.aia_url = (char *)(o->aia_url ? o->aia_url : "");
    rec.allow_domains = (char *)(o->allow_domains ? o->allow_domains : "");
    rec.max_lifetime = o->max_lifetime > 0 ? o->max_lifetime : HILT_DEFAULT_MAX_LIFETIME;
    rec.crl_shard_size = o->crl_shard_size > 0 ? o->crl_shard_size : HILT_CRL_SHARD_SIZE;
    rec.next_seq = 1;
    rec.crl_number = 0;
    rec.created = hilt_now();
    if (!rec.root_pem || !rec.cert_pem) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        goto out;
    }
    char obj[300];
    snprintf(obj, sizeof(obj), "ca=%s key=%s signer=%s", name, key_type,
             o->pkcs11_uri ? "pkcs11" : "file");
    struct hilt_audit_ev ev = {NULL, o->import_cert ? "ca.import" : "ca.init", obj, "ok"};
    if (hilt_store_ca_add(st, &rec, &ev, e) < 0) goto out;
    rc = 0;
out:
    if (rc < 0) {
        /* Leave nothing behind that a retry would trip over. */
        if (wrote_root) unlink(root_key_path);
        if (wrote_int) unlink(int_key_path);
    }
    free(rec.root_pem);
    free(rec.cert_pem);
    if (imported)
        sk_X509_pop_free(imported, X509_free);
    else {
        X509_free(root);
        X509_free(inter);
    }
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(int_key);
    hilt_signer_close(p11);
    return rc;
}

/* ---- open ---------------------------------------------------------------- */

void hilt_ca_close(struct hilt_ca *ca)
{
    if (!ca) return;
    hilt_mint_issuer_free(ca->fast);
    free(ca->fast);
    hilt_ca_rec_free(&ca->rec);
    sk_X509_pop_free(ca->chain, X509_free);
    sk_X509_pop_free(ca->roots, X509_free);
    hilt_signer_close(ca->signer);
    free(ca);
}

struct hilt_ca *hilt_ca_open(struct hilt_store *st, const char *home, const char *name,
                             struct hilt_err *e)
{
    if (!name || !*name) name = HILT_CA_DEFAULT_NAME;
    struct hilt_ca *ca = calloc(1, sizeof(*ca));
    if (!ca) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        return NULL;
    }
    ca->st = st;
    snprintf(ca->home, sizeof(ca->home), "%s", home);
    int rc = hilt_store_ca_get(st, name, &ca->rec, e);
    if (rc <= 0) {
        if (rc == 0)
            hilt_err_set(e, HILT_E_INPUT, 0,
                         "no CA named '%s' in this store; run 'hilt ca init%s%s'", name,
                         strcmp(name, HILT_CA_DEFAULT_NAME) ? " --name " : "",
                         strcmp(name, HILT_CA_DEFAULT_NAME) ? name : "");
        goto fail;
    }
    ca->chain =
        hilt_certs_parse(ca->rec.cert_pem, strlen(ca->rec.cert_pem), "store:ca.cert_pem", e);
    ca->roots =
        hilt_certs_parse(ca->rec.root_pem, strlen(ca->rec.root_pem), "store:ca.root_pem", e);
    if (!ca->chain || !ca->roots) goto fail;
    ca->issuer = sk_X509_value(ca->chain, 0);
    return ca;
fail:
    hilt_ca_close(ca);
    return NULL;
}

static int ensure_signer(struct hilt_ca *ca, struct hilt_err *e)
{
    if (ca->signer) return 0;
    if (hilt_signer_open(ca->rec.key_ref, ca->home, &ca->signer, e) < 0) {
        hilt_err_prefix(e, "CA '%s'", ca->rec.name);
        return -1;
    }
    if (X509_check_private_key(ca->issuer, hilt_signer_key(ca->signer)) != 1) {
        ERR_clear_error();
        hilt_signer_close(ca->signer);
        ca->signer = NULL;
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "CA '%s': the key at %s does not match the issuing certificate",
                            ca->rec.name, ca->rec.key_ref);
    }
    return 0;
}

int hilt_ca_use_signer_process(struct hilt_ca *ca, const struct hilt_signer_proc_opts *o,
                               struct hilt_err *e)
{
    struct hilt_ca_signer *s = NULL;
    if (hilt_signer_open_process(ca->rec.key_ref, ca->home, o, &s, e) < 0) {
        hilt_err_prefix(e, "CA '%s'", ca->rec.name);
        return -1;
    }
    if (X509_check_private_key(ca->issuer, hilt_signer_key(s)) != 1) {
        ERR_clear_error();
        hilt_signer_close(s);
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "CA '%s': the signer process's key (%s) does not match the issuing "
                            "certificate",
                            ca->rec.name, ca->rec.key_ref);
    }
    hilt_signer_close(ca->signer);
    ca->signer = s;
    return 0;
}

/* ---- issuance ------------------------------------------------------------ */

void hilt_ca_shard_url(const struct hilt_ca *ca, int64_t shard, char *out, size_t cap)
{
    const char *base = ca->rec.crl_url ? ca->rec.crl_url : "";
    if (!*base) {
        out[0] = '\0';
        return;
    }
    size_t bl = strlen(base);
    snprintf(out, cap, "%s%sshard-%lld.crl", base, base[bl - 1] == '/' ? "" : "/",
             (long long)shard);
}

static void join_names(const struct hilt_names *n, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n->n && o + 1 < cap; i++) {
        int w = snprintf(out + o, cap - o, "%s%s", i ? "," : "", n->v[i]);
        if (w < 0 || (size_t)w >= cap - o) break;
        o += (size_t)w;
    }
}

/* ---- issuance: check, allocate, mint in a batch, record ------------------------ */

/* A checked request. Requests of one batch that carry the same CSR share
 * its check and its encoded public key. */
struct prep {
    struct hilt_names names;
    int64_t lifetime;
    EVP_PKEY *key; /* subject key (a reference; generated ones go to out->key) */
    int generated;
    int subj; /* index into the batch's subject cache, or -1 (slow path) */
    char cn[80];
    char key_desc[64];
    struct hilt_cert_spec spec;
    const char **sans; /* "DNS:x" / "IP:x", pointing into sanblk (one allocation) */
    char *sanblk;
    char crl_url[1100];
    size_t tbs_off, tbs_len;
};

static void prep_free(struct prep *p)
{
    hilt_names_free(&p->names);
    EVP_PKEY_free(p->key);
    p->key = NULL;
    free(p->sans);
    free(p->sanblk);
    p->sans = NULL;
    p->sanblk = NULL;
}

/* The SAN strings of a request, compactly (a batch holds a thousand). */
static int prep_sans(struct prep *p)
{
    size_t total = 0;
    for (size_t k = 0; k < p->names.n; k++)
        total += strlen(p->names.v[k]) + 5;
    p->sans = calloc(p->names.n ? p->names.n : 1, sizeof(*p->sans));
    p->sanblk = malloc(total ? total : 1);
    if (!p->sans || !p->sanblk) return -1;
    char *w = p->sanblk;
    for (size_t k = 0; k < p->names.n; k++) {
        unsigned char ipb[16];
        const char *v = p->names.v[k];
        int ip = inet_pton(AF_INET, v, ipb) == 1 || inet_pton(AF_INET6, v, ipb) == 1;
        size_t l = strlen(v);
        memcpy(w, ip ? "IP:" : "DNS:", ip ? 3 : 4);
        memcpy(w + (ip ? 3 : 4), v, l + 1);
        p->sans[k] = w;
        w += l + (ip ? 3 : 4) + 1;
    }
    return 0;
}

/* Subject keys of a batch, encoded once each. */
struct subj_cache {
    X509_REQ *csr; /* the CSR the key came from, or NULL for a generated key */
    EVP_PKEY *key;
    int encoded; /* ms holds the encoded key (else: minted by hilt_mint()) */
    struct hilt_mint_subject ms;
    int checked; /* csr_names holds the CSR's checked names */
    struct hilt_names csr_names;
};

static void audit_rejected(struct hilt_ca *ca, const char *actor, const struct hilt_names *names,
                           const struct hilt_err *e)
{
    char joined[2048], obj[2200], res[1100];
    join_names(names, joined, sizeof(joined));
    snprintf(obj, sizeof(obj), "names=%s", joined[0] ? joined : "-");
    snprintf(res, sizeof(res), "rejected: %s", e ? e->msg : "");
    audit_as(ca->st, actor, "cert.issue", obj, res);
}

/* The checks of one request (names, CSR, key, lifetime). A CSR is
 * checked once per batch: c->checked says whether c->csr_names already
 * holds its checked names. */
static int prepare(struct hilt_ca *ca, const struct hilt_issue_req *r,
                   const struct hilt_issue_rules *rules, struct subj_cache *c, struct prep *p,
                   struct hilt_err *e)
{
    for (size_t i = 0; i < r->nnames; i++)
        if (hilt_names_add(&p->names, r->names[i], rules, e) < 0) {
            hilt_err_prefix(e, "--name");
            return -1;
        }
    if (r->csr) {
        const char *src = r->csr_source ? r->csr_source : "CSR";
        if (!c->checked) {
            struct hilt_issue_rules rr = *rules;
            rr.csr_signature_checked = r->csr_checked;
            if (hilt_csr_check(r->csr, &rr, src, &c->csr_names, e) < 0) return -1;
            c->checked = 1;
        }
        for (size_t i = 0; i < c->csr_names.n; i++) {
            const char *nm = c->csr_names.v[i];
            if (r->nnames && !hilt_names_has(&p->names, nm))
                return hilt_err_set(e, HILT_E_INPUT, 0,
                                    "%s asks for '%s', which was not requested with --name", src,
                                    nm);
            if (!r->nnames && hilt_names_add(&p->names, nm, rules, e) < 0) return -1;
        }
    }
    if (p->names.n == 0)
        return hilt_err_set(e, HILT_E_USAGE, 0,
                            "no names: give --name DNS (or a CSR that names hosts)");
    int short_name = 0;
    for (size_t i = 0; i < p->names.n; i++)
        short_name |= strlen(p->names.v[i]) <= 64;
    if (!short_name)
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "every name is longer than the 64 characters a subject CN holds");
    p->lifetime = r->lifetime ? r->lifetime : DEFAULT_LIFETIME;
    if (hilt_issue_lifetime_check(p->lifetime, rules, e) < 0) return -1;
    time_t until = hilt_now() + (time_t)p->lifetime;
    if (until > hilt_cert_not_after(ca->issuer)) {
        char t[32];
        hilt_time_fmt_rfc3339(hilt_cert_not_after(ca->issuer), t);
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "lifetime would outlive the issuing CA certificate (valid until %s)",
                            t);
    }
    return 0;
}

/* The template for this CA's fast path, made once; -1 when this CA's
 * issuer or key is not covered (then hilt_mint() mints everything). */
static int fast_template(struct hilt_ca *ca)
{
    if (ca->fast_state == 0) {
        struct hilt_mint_issuer *mi = calloc(1, sizeof(*mi));
        EVP_PKEY *sk = hilt_signer_key(ca->signer);
        if (mi && hilt_mint_issuer_init(mi, ca->issuer, sk, digest_for(sk), NULL) == 0) {
            ca->fast = mi;
            ca->fast_state = 1;
            /* issuer columns of every record: its name, and the hash that
             * makes serials unique per issuer */
            hilt_name_fmt(X509_get_subject_name(ca->issuer), ca->issuer_dn, sizeof(ca->issuer_dn));
            hilt_issuer_key(mi->name, mi->name_len, ca->issuer_key);
        } else {
            free(mi);
            ERR_clear_error();
            ca->fast_state = -1;
        }
    }
    return ca->fast_state == 1 ? 0 : -1;
}

/* SHA-256, fetched once (the inventory key of every certificate). */
static EVP_MD *sha256_fetched;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static void sha256_fetch(void)
{
    sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
}
static const EVP_MD *sha256_md(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_fetched ? sha256_fetched : EVP_sha256();
}

static void hexs(const uint8_t *p, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[p[i] >> 4];
        out[2 * i + 1] = hx[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The fast path's subject key from a CSR: its SubjectPublicKeyInfo as the
 * CSR carries it (no encoder round trip through the decoded key), or, for
 * what that does not cover, from the key. */
static int subject_from_csr(struct hilt_mint_subject *ms, X509_REQ *csr, EVP_PKEY *key)
{
    unsigned char *d = NULL;
    X509_PUBKEY *xp = X509_REQ_get_X509_PUBKEY(csr);
    int n = xp ? i2d_X509_PUBKEY(xp, &d) : -1;
    int rc = n > 0 ? hilt_mint_subject_init_der(ms, d, (size_t)n, NULL) : -1;
    OPENSSL_free(d);
    return rc == 0 ? 0 : hilt_mint_subject_init(ms, key, NULL);
}

/* The issuance itself: n requests with sequence numbers first..first+n-1
 * (first < 0: allocate them). Rejections are audited; on any failure
 * nothing is recorded and outs[] are empty. */
static int issue_many(struct hilt_ca *ca, const struct hilt_issue_req *reqs, size_t n,
                      int64_t first, const char *pipeline, int want_x509, struct hilt_issued *outs,
                      struct hilt_err *e)
{
    memset(outs, 0, n * sizeof(*outs));
    struct hilt_issue_rules rules;
    hilt_issue_rules_init(&rules);
    rules.allow_domains = ca->rec.allow_domains;
    if (ca->rec.max_lifetime > 0) rules.max_lifetime = ca->rec.max_lifetime;
    struct prep *pp = calloc(n, sizeof(*pp));
    struct subj_cache *sc = calloc(n, sizeof(*sc));
    size_t nsc = 0, i = 0;
    int rc = -1;
    uint8_t *dg = NULL, *sigs = NULL;
    size_t *sl = NULL;
    struct hilt_cert_rec *recs = NULL;
    struct hilt_audit_ev *evs = NULL;
    char(*objs)[2200] = NULL;
    char(*shas)[65] = NULL;
    const uint8_t **ders = NULL;
    size_t *dlens = NULL;
    struct hilt_buf tbs_all, one;
    hilt_buf_init(&tbs_all, n * (size_t)HILT_MINT_TBS_MAX);
    hilt_buf_init(&one, HILT_MINT_TBS_MAX);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    if (!pp || !sc || !mc) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        goto out;
    }
    if (ensure_signer(ca, e) < 0) goto out;
    int fast = fast_template(ca) == 0;

    /* 1. check every request; a CSR is checked once per batch */
    for (i = 0; i < n; i++) {
        const struct hilt_issue_req *r = &reqs[i];
        struct prep *p = &pp[i];
        p->subj = -1;
        struct subj_cache scratch = {0}, *c = &scratch;
        if (r->csr) {
            size_t k = 0;
            while (k < nsc && sc[k].csr != r->csr)
                k++;
            if (k == nsc) sc[nsc++].csr = r->csr;
            c = &sc[k];
        }
        if (prepare(ca, r, &rules, c, p, e) < 0) goto refused;
        if (r->csr) {
            if (!c->key) {
                c->key = X509_REQ_get0_pubkey(r->csr);
                if (!c->key || !EVP_PKEY_up_ref(c->key)) {
                    c->key = NULL;
                    hilt_err_ossl(e, HILT_E_INPUT, "CSR public key");
                    goto refused;
                }
                c->encoded = fast && subject_from_csr(&c->ms, r->csr, c->key) == 0;
                ERR_clear_error();
            }
            p->key = c->key;
            EVP_PKEY_up_ref(p->key);
            if (c->encoded) p->subj = (int)(c - sc);
        } else {
            struct hilt_keyspec ks;
            if (hilt_keyspec_parse(r->key_type && *r->key_type ? r->key_type : "ec-p256", &ks, e) <
                0)
                goto refused;
            if (!(p->key = hilt_key_generate(&ks, e))) goto out;
            if (hilt_issue_key_check(p->key, &rules, e) < 0) goto refused;
            p->generated = 1;
            if (fast) {
                c = &sc[nsc++];
                c->key = p->key;
                EVP_PKEY_up_ref(p->key);
                c->encoded = hilt_mint_subject_init(&c->ms, p->key, NULL) == 0;
                ERR_clear_error();
                if (c->encoded) p->subj = (int)(c - sc);
            }
        }
        hilt_key_describe(p->key, p->key_desc, sizeof(p->key_desc));
        hilt_names_free(&scratch.csr_names);
    }

    /* 2. serials: the store's sequence numbers, one range for the batch */
    if (first < 0 && hilt_store_serial_alloc(ca->st, ca->rec.name, (int64_t)n, &first, e) < 0)
        goto out;
    if (!(dg = malloc(n * HILT_DIGEST_MAX)) || !(sigs = malloc(n * HILT_SIG_MAX)) ||
        !(sl = calloc(n, sizeof(*sl))) || !(recs = calloc(n, sizeof(*recs))) ||
        !(evs = calloc(n, sizeof(*evs))) || !(objs = calloc(n, sizeof(*objs))) ||
        !(shas = calloc(n, sizeof(*shas))) || !(ders = calloc(n, sizeof(*ders))) ||
        !(dlens = calloc(n, sizeof(*dlens)))) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        goto out;
    }
    uint8_t rnd[8 * HILT_ISSUE_BATCH_MAX];
    if (n > HILT_ISSUE_BATCH_MAX || RAND_bytes(rnd, (int)(8 * n)) != 1) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "no randomness for the serials");
        goto out;
    }
    time_t now = hilt_now();
    EVP_PKEY *sk = hilt_signer_key(ca->signer);

    /* 3. specs and TBS; one digest each */
    size_t dlen = 0;
    for (i = 0; i < n; i++) {
        struct prep *p = &pp[i];
        int64_t seq = first + (int64_t)i;
        outs[i].seq = seq;
        outs[i].shard = seq / ca->rec.crl_shard_size;
        struct hilt_cert_spec *s = &p->spec;
        hilt_cert_spec_init(s, NULL, 0);
        for (size_t k = 0; k < p->names.n && !p->cn[0]; k++) /* ub-common-name is 64 */
            if (strlen(p->names.v[k]) <= 64) snprintf(p->cn, sizeof(p->cn), "CN=%s", p->names.v[k]);
        s->subject = p->cn;
        if (prep_sans(p) < 0) {
            hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
            goto out;
        }
        s->sans = p->sans;
        s->nsans = p->names.n;
        s->not_before = now - BACKDATE;
        s->not_after = now + (time_t)p->lifetime;
        /* Serial: tag, 8-byte sequence, 8 random bytes (docs/trust-plane.md). */
        s->serial[0] = HILT_SERIAL_TAG;
        for (int b = 0; b < 8; b++)
            s->serial[1 + b] = (unsigned char)((uint64_t)seq >> (56 - 8 * b));
        memcpy(s->serial + 9, rnd + 8 * i, 8);
        s->serial_len = 17;
        s->ocsp_url = ca->rec.ocsp_url[0] ? ca->rec.ocsp_url : NULL;
        s->ca_issuers_url = ca->rec.aia_url[0] ? ca->rec.aia_url : NULL;
        hilt_ca_shard_url(ca, outs[i].shard, p->crl_url, sizeof(p->crl_url));
        s->crl_url = p->crl_url[0] ? p->crl_url : NULL;
        s->digest = digest_for(sk);
        if (p->subj < 0) continue;
        if (hilt_mint_tbs(ca->fast, &sc[p->subj].ms, s, &one, NULL) < 0) {
            p->subj = -1; /* not covered: minted by hilt_mint() below */
            continue;
        }
        p->tbs_off = tbs_all.len;
        p->tbs_len = one.len;
        unsigned l = 0;
        if (hilt_buf_add(&tbs_all, one.data, one.len) < 0 ||
            hilt_mint_digest(mc, ca->fast->md, one.data, one.len, dg + i * HILT_DIGEST_MAX, &l) <
                0) {
            hilt_err_ossl(e, HILT_E_RUNTIME, "cannot hash the certificate");
            goto out;
        }
        dlen = l;
    }

    /* 4. one signing exchange for every fast-path certificate */
    {
        size_t m = 0, start = 0;
        /* digests are stored sparsely (slot i); pack runs of fast ones */
        while (start < n) {
            while (start < n && pp[start].subj < 0)
                start++;
            m = start;
            while (m < n && pp[m].subj >= 0)
                m++;
            if (m > start) {
                /* pack [start, m) contiguously for the signer */
                uint8_t *packed = dg + start * HILT_DIGEST_MAX;
                for (size_t j = start; j < m; j++)
                    memmove(packed + (j - start) * dlen, dg + j * HILT_DIGEST_MAX, dlen);
                if (hilt_signer_sign_digests(ca->signer, ca->fast->md_nid, packed, dlen, m - start,
                                             sigs + start * HILT_SIG_MAX, sl + start, e) < 0)
                    goto out;
            }
            start = m;
        }
    }

    /* 5. certificates, records, audit records */
    for (i = 0; i < n; i++) {
        struct prep *p = &pp[i];
        struct hilt_issued *o = &outs[i];
        hilt_buf_reset(&one);
        if (p->subj >= 0) {
            if (hilt_mint_assemble(ca->fast, tbs_all.data + p->tbs_off, p->tbs_len,
                                   sigs + i * HILT_SIG_MAX, sl[i], &one) < 0) {
                hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot assemble the certificate");
                goto out;
            }
        } else {
            struct hilt_signer is = {ca->issuer, sk};
            X509 *x = hilt_mint(&p->spec, p->key, &is, e);
            unsigned char *d = NULL;
            int dl = x ? i2d_X509(x, &d) : -1;
            X509_free(x);
            if (dl <= 0 || hilt_buf_add(&one, d, (size_t)dl) < 0) {
                OPENSSL_free(d);
                if (e && e->kind == HILT_E_NONE)
                    hilt_err_ossl(e, HILT_E_RUNTIME, "cannot encode the certificate");
                goto out;
            }
            OPENSSL_free(d);
        }
        if (!(o->der = malloc(one.len))) {
            hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
            goto out;
        }
        memcpy(o->der, one.data, one.len);
        o->der_len = one.len;
        uint8_t h[32];
        unsigned hl = 0;
        if (hilt_mint_digest(mc, sha256_md(), o->der, o->der_len, h, &hl) < 0 || hl != 32) {
            hilt_err_ossl(e, HILT_E_RUNTIME, "cannot hash the certificate");
            goto out;
        }
        hexs(h, 32, o->sha256);
        memcpy(shas[i], o->sha256, 65);
        hexs(p->spec.serial, p->spec.serial_len, o->serial);
        o->not_before = p->spec.not_before;
        o->not_after = p->spec.not_after;
        char joined[2048];
        join_names(&p->names, joined, sizeof(joined));
        snprintf(objs[i], sizeof(objs[i]), "serial=%s names=%s", o->serial, joined);
        recs[i] = (struct hilt_cert_rec){
            .serial = o->serial,
            .sha256 = shas[i],
            .ca = ca->rec.name,
            .seq = o->seq,
            .shard = o->shard,
            .subject = p->cn,
            .names = strdup(joined),
            .not_before = p->spec.not_before,
            .not_after = p->spec.not_after,
            .key_type = p->key_desc,
            .owner = (char *)reqs[i].owner,
            .service = (char *)reqs[i].service,
            .env = (char *)reqs[i].env,
            .status = "active",
            .source = "issued",
            .issuer = ca->fast ? ca->issuer_dn : NULL,
            .issuer_key = ca->fast ? ca->issuer_key : NULL,
            .pipeline = (char *)(pipeline ? pipeline : reqs[i].pipeline),
        };
        if (!recs[i].names) {
            hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
            goto out;
        }
        evs[i] = (struct hilt_audit_ev){reqs[i].actor, "cert.issue", objs[i], "ok"};
        ders[i] = o->der;
        dlens[i] = o->der_len;
    }
    if (hilt_store_cert_add_many(ca->st, recs, ders, dlens, evs, n, e) < 0) goto out;
    for (i = 0; i < n; i++) {
        if (want_x509) {
            const unsigned char *q = outs[i].der;
            if (!(outs[i].cert = d2i_X509(NULL, &q, (long)outs[i].der_len))) {
                hilt_err_ossl(e, HILT_E_RUNTIME, "issued %s but cannot decode it", outs[i].serial);
                goto out_recorded;
            }
        }
        if (pp[i].generated) {
            outs[i].key = pp[i].key;
            pp[i].key = NULL;
        }
    }
    rc = 0;
    goto out;
refused:
    /* refused before anything was recorded: audited as such */
    audit_rejected(ca, reqs[i].actor, &pp[i].names, e);
    if (n > 1) hilt_err_prefix(e, "batch request %zu of %zu", i + 1, n);
    goto out;
out_recorded:
    /* recorded, but the caller cannot get the certificate object: the
     * records stay (the serials are spent); report the fault */
out:
    if (rc < 0)
        for (size_t j = 0; j < n; j++)
            hilt_issued_free(&outs[j]);
    for (size_t j = 0; pp && j < n; j++)
        prep_free(&pp[j]);
    for (size_t j = 0; sc && j < nsc; j++) {
        EVP_PKEY_free(sc[j].key);
        hilt_names_free(&sc[j].csr_names);
    }
    for (size_t j = 0; recs && j < n; j++)
        free(recs[j].names);
    free(pp);
    free(sc);
    free(dg);
    free(sigs);
    free(sl);
    free(recs);
    free(evs);
    free(objs);
    free(shas);
    free(ders);
    free(dlens);
    EVP_MD_CTX_free(mc);
    hilt_buf_free(&tbs_all);
    hilt_buf_free(&one);
    return rc;
}

void hilt_issued_free(struct hilt_issued *o)
{
    if (!o) return;
    X509_free(o->cert);
    EVP_PKEY_free(o->key);
    free(o->der);
    o->cert = NULL;
    o->key = NULL;
    o->der = NULL;
    o->der_len = 0;
}

int hilt_ca_issue(struct hilt_ca *ca, const struct hilt_issue_req *r, struct hilt_issued *out,
                  struct hilt_err *e)
{
    return issue_many(ca, r, 1, -1, NULL, 1, out, e);
}

static int batch(struct hilt_ca *ca, const struct hilt_issue_req *reqs, size_t n, int want_x509,
                 struct hilt_issued *outs, struct hilt_err *e)
{
    memset(outs, 0, n * sizeof(*outs));
    if (n == 0 || n > HILT_ISSUE_BATCH_MAX)
        return hilt_err_set(e, HILT_E_USAGE, 0, "a batch holds 1 to %d requests",
                            HILT_ISSUE_BATCH_MAX);
    if (ensure_signer(ca, e) < 0) return -1;
    int64_t first;
    if (hilt_store_serial_alloc(ca->st, ca->rec.name, (int64_t)n, &first, e) < 0) return -1;
    int own = !hilt_store_in_tx(ca->st);
    if (own && hilt_store_begin(ca->st, e) < 0) return -1;
    int rc = issue_many(ca, reqs, n, first, NULL, want_x509, outs, e);
    if (rc == 0 && (!own || hilt_store_commit(ca->st, e) == 0)) return 0;
    /* All or nothing: the records roll back, the certificates are dropped,
     * the reserved sequence numbers stay burned (never reused). */
    if (own) hilt_store_rollback(ca->st);
    for (size_t j = 0; j < n; j++)
        hilt_issued_free(&outs[j]);
    char obj[120], res[1100];
    snprintf(obj, sizeof(obj), "batch=%zu first_seq=%lld", n, (long long)first);
    snprintf(res, sizeof(res), "rejected: %s", e ? e->msg : "");
    audit_best_effort(ca->st, "cert.issue", obj, res);
    return -1;
}

int hilt_ca_issue_batch(struct hilt_ca *ca, const struct hilt_issue_req *reqs, size_t n,
                        struct hilt_issued *outs, struct hilt_err *e)
{
    return batch(ca, reqs, n, 1, outs, e);
}

int hilt_ca_issue_batch_der(struct hilt_ca *ca, const struct hilt_issue_req *reqs, size_t n,
                            struct hilt_issued *outs, struct hilt_err *e)
{
    return batch(ca, reqs, n, 0, outs, e);
}

int hilt_ca_chain_pem(struct hilt_ca *ca, X509 *leaf, struct hilt_buf *out)
{
    if (leaf && hilt_certs_to_pem(out, &leaf, 1) < 0) return -1;
    for (int i = 0; i < sk_X509_num(ca->chain); i++) {
        X509 *x = sk_X509_value(ca->chain, i);
        if (hilt_certs_to_pem(out, &x, 1) < 0) return -1;
    }
    return 0;
}

int hilt_ca_roots_pem(struct hilt_ca *ca, struct hilt_buf *out)
{
    for (int i = 0; i < sk_X509_num(ca->roots); i++) {
        X509 *x = sk_X509_value(ca->roots, i);
        if (hilt_certs_to_pem(out, &x, 1) < 0) return -1;
    }
    return 0;
}

/* ---- revocation ---------------------------------------------------------- */

static const struct {
    int code;
    const char *name, *alt;
} reasons[] = {
    {0, "unspecified", "unspecified"},
    {1, "keyCompromise", "key-compromise"},
    {2, "cACompromise", "ca-compromise"},
    {3, "affiliationChanged", "affiliation-changed"},
    {4, "superseded", "superseded"},
    {5, "cessationOfOperation", "cessation-of-operation"},
    {6, "certificateHold", "certificate-hold"},
    {9, "privilegeWithdrawn", "privilege-withdrawn"},
};
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))

int hilt_crl_reason_parse(const char *s)
{
    for (size_t i = 0; i < NREASONS; i++)
        if (!strcasecmp(s, reasons[i].name) || !strcasecmp(s, reasons[i].alt))
            return reasons[i].code;
    return -1;
}

int hilt_ca_revoke(struct hilt_store *st, const char *serial, int reason, struct hilt_err *e)
{
    char obj[200], res[80], norm[80];
    if (hilt_hex_normalise(serial, norm, sizeof(norm)) < 0)
        return hilt_err_set(e, HILT_E_USAGE, 0, "'%s' is not a serial (hex digits expected)",
                            serial);
    serial = norm;
    snprintf(obj, sizeof(obj), "serial=%s", serial);
    snprintf(res, sizeof(res), "ok reason=%s", hilt_crl_reason_name(reason));
    struct hilt_audit_ev ev = {NULL, "cert.revoke", obj, res};
    int rc = hilt_store_cert_revoke(st, serial, reason, hilt_now(), &ev, e);
    if (rc < 0 && e && e->kind == HILT_E_INPUT) {
        char r2[1100];
        snprintf(r2, sizeof(r2), "rejected: %s", e->msg);
        audit_best_effort(st, "cert.revoke", obj, r2);
    }
    return rc;
}

/* ---- CRLs ---------------------------------------------------------------- */

struct rev {
    char serial[64];
    int64_t at, shard;
    int reason;
};

struct revs {
    struct rev *v;
    size_t n, cap;
    int oom;
};

static int collect_cb(const struct hilt_cert_rec *r, const uint8_t *der, size_t dl, void *arg)
{
    (void)der;
    (void)dl;
    struct revs *rv = arg;
    if (rv->n == rv->cap) {
        size_t nc = rv->cap ? rv->cap * 2 : 1024;
        struct rev *nv = realloc(rv->v, nc * sizeof(*nv));
        if (!nv) return rv->oom = 1;
        rv->v = nv;
        rv->cap = nc;
    }
    struct rev *x = &rv->v[rv->n++];
    snprintf(x->serial, sizeof(x->serial), "%s", r->serial);
    x->at = r->revoked_at;
    x->shard = r->shard;
    x->reason = r->revoke_reason;
    return 0;
}

static int add_idp(X509_CRL *crl, const char *url)
{
    ISSUING_DIST_POINT *idp = ISSUING_DIST_POINT_new();
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    int rc = -1;
    if (!idp || !g || !s || !ASN1_STRING_set(s, url, (int)strlen(url))) goto out;
    GENERAL_NAME_set0_value(g, GEN_URI, s);
    s = NULL;
    if (!(idp->distpoint = DIST_POINT_NAME_new())) goto out;
    idp->distpoint->type = 0; /* fullName */
    if (!(idp->distpoint->name.fullname = sk_GENERAL_NAME_new_null())) goto out;
    if (!sk_GENERAL_NAME_push(idp->distpoint->name.fullname, g)) goto out;
    g = NULL;
    /* critical: RFC 5280 §5.2.5 */
    rc = X509_CRL_add1_ext_i2d(crl, NID_issuing_distribution_point, idp, 1, 0) == 1 ? 0 : -1;
out:
    ASN1_IA5STRING_free(s);
    GENERAL_NAME_free(g);
    ISSUING_DIST_POINT_free(idp);
    return rc;
}

static X509_CRL *build_crl(struct hilt_ca *ca, const struct rev *v, size_t n, const char *idp_url,
                           int64_t number, time_t now, int64_t next_update, struct hilt_err *e)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t = NULL;
    ASN1_INTEGER *num = NULL;
    if (!crl || !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
        !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->issuer)))
        goto fail;
    if (!(t = ASN1_TIME_set(NULL, now)) || !X509_CRL_set1_lastUpdate(crl, t)) goto fail;
    ASN1_TIME_free(t);
    if (!(t = ASN1_TIME_set(NULL, now + (time_t)next_update)) || !X509_CRL_set1_nextUpdate(crl, t))
        goto fail;
    ASN1_TIME_free(t);
    t = NULL;
    for (size_t i = 0; i < n; i++) {
        X509_REVOKED *rv = X509_REVOKED_new();
        BIGNUM *bn = NULL;
        ASN1_INTEGER *ai = NULL;
        ASN1_TIME *rt = NULL;
        int ok = rv && BN_hex2bn(&bn, v[i].serial) && (ai = BN_to_ASN1_INTEGER(bn, NULL)) &&
                 X509_REVOKED_set_serialNumber(rv, ai) && (rt = ASN1_TIME_set(NULL, v[i].at)) &&
                 X509_REVOKED_set_revocationDate(rv, rt);
        if (ok && v[i].reason > 0) { /* unspecified is omitted (RFC 5280 §5.3.1) */
            ASN1_ENUMERATED *re = ASN1_ENUMERATED_new();
            ok = re && ASN1_ENUMERATED_set(re, v[i].reason) &&
                 X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, re, 0, 0) == 1;
            ASN1_ENUMERATED_free(re);
        }
        BN_free(bn);
        ASN1_INTEGER_free(ai);
        ASN1_TIME_free(rt);
        if (!ok || !X509_CRL_add0_revoked(crl, rv)) {
            X509_REVOKED_free(rv);
            goto fail;
        }
    }
    if (!X509_CRL_sort(crl)) goto fail;
    if (!(num = ASN1_INTEGER_new()) || !ASN1_INTEGER_set_int64(num, number) ||
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1)
        goto fail;
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, ca->issuer, NULL, NULL, crl, 0);
    X509_EXTENSION *aki =
        X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    if (!aki || !X509_CRL_add_ext(crl, aki, -1)) {
        X509_EXTENSION_free(aki);
        goto fail;
    }
    X509_EXTENSION_free(aki);
    if (idp_url && *idp_url && add_idp(crl, idp_url) < 0) goto fail;
    EVP_PKEY *k = hilt_signer_key(ca->signer);
    const EVP_MD *md = EVP_get_digestbyname(digest_for(k));
    if (X509_CRL_sign(crl, k, md) <= 0) goto fail;
    ASN1_INTEGER_free(num);
    return crl;
fail:
    hilt_err_ossl(e, HILT_E_RUNTIME, "cannot build the CRL of CA '%s'", ca->rec.name);
    ASN1_TIME_free(t);
    ASN1_INTEGER_free(num);
    X509_CRL_free(crl);
    return NULL;
}

static int write_crl(X509_CRL *crl, const char *path, int pem, struct hilt_err *e)
{
    BIO *b = BIO_new(BIO_s_mem());
    int rc = -1;
    if (!b || !(pem ? PEM_write_bio_X509_CRL(b, crl) : i2d_X509_CRL_bio(b, crl))) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "cannot encode the CRL");
        goto out;
    }
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    rc = hilt_file_write_atomic(path, data, (size_t)len, 0644, e);
out:
    BIO_free(b);
    return rc;
}

int hilt_ca_publish_crls(struct hilt_ca *ca, const char *full_path, const char *shard_dir,
                         int64_t next_update, struct hilt_crl_stats *stats, struct hilt_err *e)
{
    memset(stats, 0, sizeof(*stats));
    struct revs rv = {0};
    X509_CRL *crl = NULL;
    int rc = -1;
    time_t now = hilt_now();
    char dirbuf[4096], path[4400], url[1100];
    if (next_update <= 0) next_update = 7 * 86400;
    if (ensure_signer(ca, e) < 0) return -1;
    /* Directories first, so a path problem costs no CRL number. */
    snprintf(dirbuf, sizeof(dirbuf), "%s", full_path);
    if (hilt_mkdir_p(dirname(dirbuf), 0755, e) < 0) return -1;
    if (shard_dir && hilt_mkdir_p(shard_dir, 0755, e) < 0) return -1;
    struct hilt_cert_filter f = {.q = HILT_Q_REVOKED, .ca = ca->rec.name, .from = now};
    if (hilt_store_cert_list(ca->st, &f, collect_cb, &rv, e) < 0) goto out;
    if (rv.oom) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory collecting revoked serials");
        goto out;
    }
    int64_t number;
    if (hilt_store_crl_number_next(ca->st, ca->rec.name, &number, e) < 0) goto out;
    stats->number = number;
    stats->revoked = (int64_t)rv.n;

    if (!(crl = build_crl(ca, rv.v, rv.n, NULL, number, now, next_update, e))) goto out;
    if (write_crl(crl, full_path, 1, e) < 0) goto out;
    X509_CRL_free(crl);
    crl = NULL;

    if (!shard_dir) {
        snprintf(dirbuf, sizeof(dirbuf), "%s", full_path);
        shard_dir = dirname(dirbuf);
    }
    /* Every shard that can hold a certificate gets a CRL, empty or not, so
     * every URL printed into a certificate resolves. Entries arrive ordered
     * by shard. */
    struct hilt_ca_rec cur;
    int64_t max_seq = ca->rec.next_seq - 1;
    if (hilt_store_ca_get(ca->st, ca->rec.name, &cur, e) == 1) {
        max_seq = cur.next_seq - 1;
        hilt_ca_rec_free(&cur);
    }
    int64_t nshards = max_seq / ca->rec.crl_shard_size + 1;
    size_t i = 0;
    for (int64_t sh = 0; sh < nshards; sh++) {
        size_t j = i;
        while (j < rv.n && rv.v[j].shard == sh)
            j++;
        hilt_ca_shard_url(ca, sh, url, sizeof(url));
        if (!(crl = build_crl(ca, rv.v + i, j - i, url, number, now, next_update, e))) goto out;
        snprintf(path, sizeof(path), "%s/shard-%lld.crl", shard_dir, (long long)sh);
        if (write_crl(crl, path, 0, e) < 0) goto out;
        X509_CRL_free(crl);
        crl = NULL;
        i = j;
    }
    stats->shards = nshards;
    rc = 0;
out:
    X509_CRL_free(crl);
    free(rv.v);
    char obj[300], res[1100];
    snprintf(obj, sizeof(obj), "ca=%s number=%lld revoked=%zu shards=%lld", ca->rec.name,
             (long long)stats->number, rv.n, (long long)stats->shards);
    if (rc == 0)
        snprintf(res, sizeof(res), "ok");
    else
        snprintf(res, sizeof(res), "error: %s", e ? e->msg : "");
    audit_best_effort(ca->st, "crl.generate", obj, res);
    return rc;
}
